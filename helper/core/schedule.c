/*
 * The scheduler thread: sleeps until the next task is due or it is told
 * to stop, whichever comes first.
 */
#include "schedule.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "thread.h"

#define SCHEDULE_MAX 16

typedef struct {
    const char *name;
    int         every;
    schedule_pt run;
    time_t      due;
} schedule_task_t;

struct schedule_s {
    ferryd_t       *ferry;
    schedule_task_t tasks[SCHEDULE_MAX];
    int             n;

    pthread_t       thread;
    int             started;
    int             stop;
    pthread_mutex_t lock;
    pthread_cond_t  cond;
};

schedule_t *
schedule_create(ferryd_t *ferry)
{
    schedule_t        *s;
    pthread_condattr_t attr;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }

    s->ferry = ferry;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);

    return s;
}

int
schedule_add(schedule_t *s, const char *name, int every, schedule_pt run)
{
    if (s == NULL || s->n == SCHEDULE_MAX || every < 1) {
        return -1;
    }

    s->tasks[s->n].name = name;
    s->tasks[s->n].every = every;
    s->tasks[s->n].run = run;
    s->tasks[s->n].due = 0;
    s->n++;

    return 0;
}

static time_t
schedule_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec;
}

static void *
schedule_main(void *data)
{
    schedule_t      *s = data;
    schedule_task_t *t;
    struct timespec  until;
    time_t           now, next;
    int              i;

    pthread_mutex_lock(&s->lock);

    while (!s->stop) {
        now = schedule_now();
        next = now + 3600;

        for (i = 0; i < s->n && !s->stop; i++) {
            t = &s->tasks[i];

            if (t->due <= now) {
                pthread_mutex_unlock(&s->lock);
                log_debug("schedule", "running %s", t->name);
                t->run(s->ferry);
                pthread_mutex_lock(&s->lock);
                now = schedule_now();
                t->due = now + t->every;
            }

            if (t->due < next) {
                next = t->due;
            }
        }

        until.tv_sec = next;
        until.tv_nsec = 0;

        while (!s->stop && schedule_now() < next) {
            if (pthread_cond_timedwait(&s->cond, &s->lock, &until) != 0) {
                break;
            }
        }
    }

    pthread_mutex_unlock(&s->lock);

    return NULL;
}

int
schedule_start(schedule_t *s)
{
    int rc;

    if (s == NULL) {
        return -1;
    }

    rc = thread_start(&s->thread, schedule_main, s);

    s->started = rc == 0;

    return rc == 0 ? 0 : -1;
}

void
schedule_stop(schedule_t *s)
{
    if (s == NULL) {
        return;
    }

    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);

    if (s->started) {
        pthread_join(s->thread, NULL);
    }

    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

/*
 * Workers take the next item under a mutex, so items start in their order
 * (a phase that needs an order within a group, such as a channel's
 * messages, makes the group one item). The heartbeat stays on the job's
 * own connection and thread: a job's connection is not shared.
 */
#include "mm_phase.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/db.h"
#include "core/log.h"
#include "core/thread.h"

typedef struct {
    const mm_export_t *proto;
    const PGresult    *ids;
    mm_item_pt         item;
    void              *arg;
    volatile int      *stop;

    pthread_mutex_t lock;
    pthread_cond_t  cond;
    int             next;
    int             running;
    int             failed;    /* a worker hit an error: the others stop */
    int             connected; /* workers that got a connection */
    atomic_int      lost;      /* the job is not this runner's any more */
    int             halted;    /* an item stopped early */
    long            done;
} mm_phase_t;

static void *
mm_phase_worker(void *arg)
{
    mm_phase_t *p = arg;
    mm_export_t x = *p->proto;
    int         i, rc = 0;

    x.stop = p->stop;
    x.lost = &p->lost;

    /* a worker the pool cannot serve leaves the items to the others */
    x.conn = db_acquire(x.ferry->db);
    if (x.conn == NULL) {
        log_warn(x.worker,
            "export %s: a worker got no database connection (raise "
            "DB_POOL_SIZE or DB_MAX_OVERFLOW, or lower the export's workers)",
            x.job_id);
        rc = 1;
    } else {
        pthread_mutex_lock(&p->lock);
        p->connected++;
        pthread_mutex_unlock(&p->lock);
    }

    while (rc == 0) {
        pthread_mutex_lock(&p->lock);
        if (p->failed || p->lost || *p->stop || p->next >= PQntuples(p->ids)) {
            pthread_mutex_unlock(&p->lock);
            break;
        }
        i = p->next++;
        pthread_mutex_unlock(&p->lock);

        rc = p->item(&x, PQgetvalue(p->ids, i, 0), p->arg);

        pthread_mutex_lock(&p->lock);
        p->done += rc == 0;
        pthread_mutex_unlock(&p->lock);
    }

    if (x.conn) {
        db_release(x.ferry->db, x.conn);
    }

    pthread_mutex_lock(&p->lock);
    if (rc < 0) {
        p->failed = 1;
    } else if (rc > 0 && x.conn != NULL) {
        p->halted = 1;
    }
    p->running--;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);

    return NULL;
}

int
mm_phase_run(const mm_export_t *proto, job_t *job, const PGresult *ids,
    int workers, mm_item_pt item, void *arg, long *done)
{
    mm_phase_t      p;
    pthread_t      *t;
    struct timespec at;
    int             i, started = 0, rc;

    if (PQntuples(ids) == 0) {
        return 0;
    }

    if (workers > PQntuples(ids)) {
        workers = PQntuples(ids);
    }

    t = calloc((size_t) workers, sizeof(*t));
    if (t == NULL) {
        return -1;
    }

    memset(&p, 0, sizeof(p));
    p.proto = proto;
    p.ids = ids;
    p.item = item;
    p.arg = arg;
    p.stop = job->stop;
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cond, NULL);

    pthread_mutex_lock(&p.lock);
    for (i = 0; i < workers; i++) {
        if (thread_start(&t[i], mm_phase_worker, &p) != 0) {
            log_error(job->worker, "export %s: cannot start a worker", job->id);
            break;
        }
        started++;
        p.running++;
    }
    if (started == 0) {
        p.failed = 1;
    }

    /* the heartbeat, every 5 s while the workers run */
    while (p.running) {
        clock_gettime(CLOCK_REALTIME, &at);
        at.tv_sec += 5;
        if (pthread_cond_timedwait(&p.cond, &p.lock, &at) == ETIMEDOUT
            && !p.lost) {
            pthread_mutex_unlock(&p.lock);
            rc = job_progress(job, NULL);
            pthread_mutex_lock(&p.lock);
            if (rc != 1) {
                p.lost = 1;
            }
        }
    }
    pthread_mutex_unlock(&p.lock);

    for (i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
    }
    free(t);

    *done += p.done;
    rc = p.failed || p.lost || p.connected == 0 ? -1
        : p.next < PQntuples(ids) || p.halted   ? 1
                                                : 0;

    pthread_mutex_destroy(&p.lock);
    pthread_cond_destroy(&p.cond);

    return rc;
}

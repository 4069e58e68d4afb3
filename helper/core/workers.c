/*
 * A fixed pool of threads over a mutex-protected FIFO.
 */
#include "workers.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "thread.h"

struct workers_s {
    pthread_t  *threads;
    int         n;
    work_run_pt run;
    void       *data;
    int         notify_fd;

    pthread_mutex_t lock;
    pthread_cond_t  cond;
    work_t         *todo, **todo_tail;
    work_t         *done, **done_tail;
    int             stop;
};

static void *
workers_main(void *arg)
{
    workers_t *ws = arg;
    work_t    *w;
    uint64_t   one = 1;

    for (;;) {
        pthread_mutex_lock(&ws->lock);

        while (ws->todo == NULL && !ws->stop) {
            pthread_cond_wait(&ws->cond, &ws->lock);
        }

        if (ws->todo == NULL) {
            pthread_mutex_unlock(&ws->lock);
            return NULL;
        }

        w = ws->todo;
        ws->todo = w->next;
        if (ws->todo == NULL) {
            ws->todo_tail = &ws->todo;
        }

        pthread_mutex_unlock(&ws->lock);

        w->next = NULL;
        ws->run(w, ws->data);

        pthread_mutex_lock(&ws->lock);
        *ws->done_tail = w;
        ws->done_tail = &w->next;
        pthread_mutex_unlock(&ws->lock);

        if (write(ws->notify_fd, &one, sizeof(one)) < 0) {
            /* the counter cannot overflow in practice; nothing to do */
        }
    }
}

workers_t *
workers_start(int n, work_run_pt run, void *data, int notify_fd)
{
    workers_t *ws;
    int        i;

    ws = calloc(1, sizeof(*ws));
    if (ws == NULL) {
        return NULL;
    }

    ws->threads = calloc((size_t) n, sizeof(pthread_t));
    if (ws->threads == NULL) {
        free(ws);
        return NULL;
    }

    ws->run = run;
    ws->data = data;
    ws->notify_fd = notify_fd;
    ws->todo_tail = &ws->todo;
    ws->done_tail = &ws->done;
    pthread_mutex_init(&ws->lock, NULL);
    pthread_cond_init(&ws->cond, NULL);

    for (i = 0; i < n; i++) {
        if (thread_start(&ws->threads[i], workers_main, ws) != 0) {
            break;
        }
        ws->n++;
    }

    if (ws->n != n) {
        (void) workers_stop(ws);
        return NULL;
    }

    return ws;
}

void
workers_push(workers_t *ws, work_t *w)
{
    w->next = NULL;

    pthread_mutex_lock(&ws->lock);
    *ws->todo_tail = w;
    ws->todo_tail = &w->next;
    pthread_cond_signal(&ws->cond);
    pthread_mutex_unlock(&ws->lock);
}

work_t *
workers_done(workers_t *ws)
{
    work_t *w;

    pthread_mutex_lock(&ws->lock);
    w = ws->done;
    ws->done = NULL;
    ws->done_tail = &ws->done;
    pthread_mutex_unlock(&ws->lock);

    return w;
}

work_t *
workers_stop(workers_t *ws)
{
    int     i;
    work_t *done;

    pthread_mutex_lock(&ws->lock);
    ws->stop = 1;
    pthread_cond_broadcast(&ws->cond);
    pthread_mutex_unlock(&ws->lock);

    for (i = 0; i < ws->n; i++) {
        pthread_join(ws->threads[i], NULL);
    }

    done = ws->done;

    pthread_mutex_destroy(&ws->lock);
    pthread_cond_destroy(&ws->cond);
    free(ws->threads);
    free(ws);

    return done;
}

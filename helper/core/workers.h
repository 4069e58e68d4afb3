/*
 * The handler threads: requests (work) go in through a queue, run on one of
 * WORKERS threads, and come back through a done list; an eventfd wakes the
 * event loop when something is done.
 */
#ifndef FERRY_WORKERS_H
#define FERRY_WORKERS_H

typedef struct work_s {
    struct work_s *next;
} work_t;

typedef void (*work_run_pt)(work_t *w, void *data);

typedef struct workers_s workers_t;

/* Starts n threads calling run(w, data) for each piece of work; after each the
 * eventfd notify_fd is bumped. NULL on failure. */
workers_t *workers_start(int n, work_run_pt run, void *data, int notify_fd);

void workers_push(workers_t *ws, work_t *w);

/* Takes every finished piece of work, oldest first; NULL when none. */
work_t *workers_done(workers_t *ws);

/* Lets the queued work finish, joins the threads, frees ws and returns the work
 * finished since the last workers_done(). */
work_t *workers_stop(workers_t *ws);

#endif

/*
 * The job runners: JOB_WORKERS threads, each with its own PostgreSQL
 * connection, claiming jobs with FOR UPDATE SKIP LOCKED (several ferryd may
 * share one database), and taking over jobs whose runner stopped
 * heartbeating for JOB_STALE_SECONDS (a crashed ferryd).
 */
#ifndef FERRY_JOBS_H
#define FERRY_JOBS_H

#include <libpq-fe.h>

#include "ferryd.h"

typedef struct jobs_s jobs_t;

/* What a job kind's runner gets: its row, and how to keep its claim. */
typedef struct {
    ferryd_t      *ferry;
    PGconn        *conn;
    const char    *id;
    const char    *worker;     /* this runner's name, kept in jobs.worker */
    const char    *owner;
    const char    *params;     /* JSON text */
    const char    *progress;   /* JSON text */
    volatile int  *stop;       /* ferryd is stopping: leave at a batch end */
} job_t;

jobs_t *jobs_start(ferryd_t *ferry);

/* A job was just created: an idle runner looks at once, not at its next poll. */
void jobs_notify(jobs_t *jobs);

/* Asks the runners to stop at their next batch end, and waits for them. */
void jobs_stop(jobs_t *jobs);

#endif

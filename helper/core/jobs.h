/*
 * Jobs of every kind: the runners (JOB_WORKERS threads, each with its own
 * PostgreSQL connection) claim rows of the jobs table with FOR UPDATE SKIP
 * LOCKED, so several ferryd may share one database; a job whose runner
 * stopped heartbeating for JOB_STALE_SECONDS (a crashed ferryd) is claimed
 * again. Features create jobs, report progress and finish them through the
 * functions below; the runners know nothing about any feature.
 */
#ifndef FERRY_JOBS_H
#define FERRY_JOBS_H

#include <libpq-fe.h>

#include "ferryd.h"

#define JOB_ID_LEN        37 /* a uuid and its NUL */
#define JOB_SWEEP_SECONDS 60

typedef struct jobs_s jobs_t;

/* A claimed job, as its kind's run function gets it. */
typedef struct {
    ferryd_t     *ferry;
    PGconn       *conn; /* the runner's own connection */
    const char   *id;
    const char   *kind;
    const char   *worker; /* this runner's name, kept in jobs.worker */
    const char   *owner;
    const char   *params;   /* JSON text */
    const char   *progress; /* JSON text, as last committed */
    volatile int *stop;     /* ferryd is stopping: leave at a batch end */
} job_t;

/*
 * One kind of job; every kind is listed once, in helper/job_kinds.c.
 * run() returns once the job reached a final state (job_finish), was handed
 * back (job_hand_back), or lost (a job_progress or job_finish that returned
 * 0), or after a database failure, when the job is left to be claimed again.
 */
typedef struct {
    const char *name; /* jobs.kind */
    void (*run)(job_t *job);
    /* optional: the job ended without its runner (cancelled while pending,
     * or given up after JOB_MAX_ATTEMPTS): release what its params hold */
    void (*cancel)(ferryd_t *ferry, const char *id, const char *params);
    /* optional housekeeping, run by the scheduler when ferryd starts and
     * every JOB_SWEEP_SECONDS */
    void (*sweep)(ferryd_t *ferry);
} job_kind_t;

extern const job_kind_t job_kinds[];
extern const int        job_nkinds;

const job_kind_t *job_kind(const char *name);

/* A new job id from PostgreSQL; 0, or -1 on a database error. */
int job_new_id(PGconn *conn, char id[JOB_ID_LEN]);

/* Inserts a pending job (inside the caller's transaction, if any); id from
 * job_new_id(), params a JSON object as text. 0, or -1. */
int job_create(PGconn *conn, const char *id, const char *kind,
    const char *owner, const char *params);

/* Commits progress (a JSON object as text; NULL keeps it) and a heartbeat.
 * Inside the caller's transaction when one is open, so progress commits
 * with the data it describes. 1 while the job is still this runner's, 0
 * when it is not any more (cancelled, or taken over), -1 on an error. */
int job_progress(job_t *job, const char *progress);

/* job_progress as one SQL statement, for a query of several that commits
 * the data the progress describes: the statement fails with SQLSTATE
 * JOB_LOST_STATE when the job is no longer this runner's, so that nothing
 * commits. Quoted for conn, the connection that runs it (the job's own or
 * another of the job's threads). NULL when out of memory; free() it. */
char *job_progress_stmt(job_t *job, PGconn *conn, const char *progress);

#define JOB_LOST_STATE "22012"

/* The final state: "done", "failed" or "cancelled", with the last progress
 * (NULL keeps it) and an error text (NULL for none). Returns as
 * job_progress(). */
int job_finish(
    job_t *job, const char *status, const char *progress, const char *error);

/* ferryd is stopping: the job goes back to pending and resumes at once
 * in whichever ferryd claims it next. */
void job_hand_back(job_t *job);

/* 1 when the job was cancelled by its owner, 0 when not, -1 on an error. */
int job_is_cancelled(job_t *job);

/*
 * Cancels an owner's job of a kind (DELETE routes): a pending job is
 * cancelled and its kind's cancel() releases what it held; a processing
 * job is cancelled and its runner notices at its next job_progress().
 * Fills before with the status it had. 1 cancelled, 0 no such job, 2 it
 * had already ended, -1 on an error.
 */
int job_cancel(ferryd_t *ferry, PGconn *conn, const char *kind, const char *id,
    const char *owner, char before[16]);

jobs_t *jobs_start(ferryd_t *ferry);

/* A job was just created: an idle runner looks at once, not at its next
 * poll. */
void jobs_notify(jobs_t *jobs);

/* Asks the runners to stop at their next batch end, and waits for them. */
void jobs_stop(jobs_t *jobs);

#endif

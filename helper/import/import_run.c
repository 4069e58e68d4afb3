/*
 * The import job. Every batch is one transaction holding its rows, its bad
 * rows and the job's progress (byte offset, line, counters), so a killed
 * ferryd resumes exactly after the last committed batch: nothing is lost,
 * nothing is loaded twice. Batches commit in the file's order, even when
 * several load at once.
 */
#include "import_run.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "import_copy.h"
#include "import_csv.h"
#include "import_report.h"
#include "import_rows.h"
#include "core/db.h"
#include "core/jobs.h"
#include "core/log.h"
#include "core/thread.h"
#include "ferry_json.h"

#define IMPORT_CHUNK (1024 * 1024)

#define IMPORT_STAGED_RUN 16

/* How long a loaded batch holds its rows waiting for the batches before it
 * to commit before it lets them go (see import_flush). */
#define IMPORT_TURN_WAIT_MS 5000

/* A batch sized by time holds at most this many rows and bytes of text:
 * some 12 MB a part with its rows and hash, so that with the default two
 * loaders (three parts) ferryd stays under 64 MB; each more loader adds a
 * part. */
#define IMPORT_BATCH_MAX_ROWS  50000
#define IMPORT_BATCH_MAX_BYTES (8 * 1024 * 1024)

/* One batch for the reader to fill, one for each loader. */
#define IMPORT_MAX_PARTS (IMPORT_MAX_LOADERS + 1)

enum { IMPORT_FREE, IMPORT_READING, IMPORT_READY, IMPORT_LOADING };

/* A batch sealed by the reader, with where the file stood at its end. */
typedef struct {
    import_batch_t     batch;
    int                state;     /* IMPORT_FREE ... */
    unsigned long      seq;       /* its place in the file: 1, 2 ... */
    unsigned long long end;       /* offset just past its last record */
    long               line;      /* line of the record after it */
    long               processed; /* rows read up to its end */
    long   parse_errors;          /* rows refused by validation up to its end */
    double load_secs;             /* how long loading it took */
} import_part_t;

typedef struct import_s import_t;

/* A loader thread and its connection: the job's own, or one of the pool's
 * for the others. */
typedef struct {
    import_t *im;
    PGconn   *conn;
    int       n; /* 1, 2 ... for the log */
    pthread_t thread;
    int       up;
} import_loader_t;

/*
 * The reader (the runner thread) parses and validates the file into one
 * batch while up to IMPORT_LOADERS loaders (threads of this import, each
 * on a connection of its own) load the batches sealed before, so that
 * ferryd's work on the file overlaps PostgreSQL's and PostgreSQL loads on
 * as many cores. A loader takes the oldest sealed batch as soon as it is
 * free: the database never waits for the reader to wake up. Batches load
 * at once but commit one after the other in the file's order (a batch's
 * progress says that every batch before it is in); a batch that shares an
 * email with one still loading waits for it to commit before it starts, so
 * that two loading batches never wait on each other's rows. Only the
 * loaders use the job's connection until the reader has waited for them
 * to be idle.
 */
struct import_s {
    job_t        *job;
    int           upsert;
    import_rows_t rows;
    csv_t         csv;
    int           header; /* the next record is the header */

    /* the reader's side */
    import_part_t      parts[IMPORT_MAX_PARTS];
    int                nparts;
    int                cur;
    unsigned long      sealed; /* batches sealed */
    long               processed;
    long               parse_errors;
    unsigned long long batch_end;
    long               batch_line;
    size_t             batch_rows; /* when to seal the batch being read */

    /* the loaders' side: what is committed, changed by the batch whose
     * turn it is to commit */
    unsigned long      committed; /* the last batch committed */
    unsigned long long offset;
    long               line;
    long               done_processed;
    long               done_parse_errors;
    long               inserted;
    long               updated;
    long               db_errors; /* rows refused by the database */
    int                lost;      /* cancelled, or claimed by another runner */

    /* batches left to stage without trying the straight COPY first: after
     * a conflict the next batches likely conflict too (an upsert into a
     * full table), and a failed COPY is work thrown away */
    int staged_run;

    /* the last batch loaded: how many rows in how long (the loader's
     * figures under the lock, then the reader's copy) */
    size_t loaded_rows;
    double loaded_secs;
    size_t pace_rows;
    double pace_secs;

    const char *report; /* where errors.csv went: "local" or "s3" */

    import_loader_t loaders[IMPORT_MAX_LOADERS];
    int             nloaders;

    /* the hand-over */
    pthread_mutex_t lock;
    pthread_cond_t  cond;
    int             quit;
    int             loader_rc; /* IMPORT_GO_ON, or why loading stopped */
};

enum { IMPORT_GO_ON = 0, IMPORT_STOP = 1, IMPORT_FAIL = 2 };


static char *
import_progress_json(import_t *im, unsigned long long offset, long line,
    long processed, long errors, int total)
{
    char buf[512];
    int  n;

    n = snprintf(buf, sizeof(buf),
        "{\"offset\":%llu,\"line\":%ld,\"processed_rows\":%ld,\"inserted\":%ld,"
        "\"updated\":%ld,\"error_rows\":%ld",
        offset, line, processed, im->inserted, im->updated, errors);

    if (total) {
        n += snprintf(buf + n, sizeof(buf) - (size_t) n, ",\"total_rows\":%ld",
            processed);
    }

    if (im->report) {
        n += snprintf(buf + n, sizeof(buf) - (size_t) n, ",\"report\":\"%s\"",
            im->report);
    }

    snprintf(buf + n, sizeof(buf) - (size_t) n, "}");

    return strdup(buf);
}

/* The progress as it will be once the batch commits, as the statement
 * that commits it on conn. */
static char *
import_flush_sql(import_t *im, PGconn *conn, import_part_t *part)
{
    char *progress, *sql;

    progress = import_progress_json(im, part->end, part->line, part->processed,
        part->parse_errors + im->db_errors, 0);
    if (progress == NULL) {
        return NULL;
    }

    sql = job_progress_stmt(im->job, conn, progress);
    free(progress);

    return sql;
}

/* Whether a live row of b has its email among a's rows. */
static int
import_batches_share(import_batch_t *a, import_batch_t *b)
{
    import_slot_t slot;
    size_t        i;

    for (i = 0; i < b->nrows; i++) {
        const import_row_t *r = &b->rows[i];

        if (!r->dead
            && import_batch_find(a, b->arena + r->email, r->email_len, &slot)) {
            return 1;
        }
    }

    return 0;
}

/* What import_wait_for came to. */
enum { IMPORT_WAITED = 0, IMPORT_WAIT_STOP = 1, IMPORT_WAIT_LATE = 2 };

/* Under the lock: until the batches still loading before this one are
 * committed when it shares an email with any of them; and until it is the
 * batch's turn to commit, with turn set; for at most limit_ms when not 0
 * (IMPORT_WAIT_LATE after that). IMPORT_WAIT_STOP when loading stopped. */
static int
import_wait_for(import_t *im, import_part_t *part, int turn, int limit_ms)
{
    unsigned long   before = 0;
    struct timespec until;
    int             i;

    if (turn) {
        before = part->seq - 1;
    } else {
        for (i = 0; i < im->nparts; i++) {
            import_part_t *p = &im->parts[i];

            if (p->state == IMPORT_LOADING && p->seq < part->seq
                && p->seq > im->committed
                && import_batches_share(&p->batch, &part->batch))
            {
                before = p->seq > before ? p->seq : before;
            }
        }
    }

    if (!turn && im->committed < before) {
        log_debug(im->job->worker,
            "job %s: batch %lu waits for batch %lu to commit: they share an "
            "email",
            im->job->id, part->seq, before);
    }

    if (limit_ms) {
        thread_deadline(&until, CLOCK_MONOTONIC, limit_ms);
    }

    while (im->committed < before && im->loader_rc == IMPORT_GO_ON) {
        if (limit_ms == 0) {
            pthread_cond_wait(&im->cond, &im->lock);
        } else if (pthread_cond_timedwait(&im->cond, &im->lock, &until)
            == ETIMEDOUT) {
            break;
        }
    }

    if (im->loader_rc != IMPORT_GO_ON) {
        return IMPORT_WAIT_STOP;
    }

    return im->committed < before ? IMPORT_WAIT_LATE : IMPORT_WAITED;
}

/* The batch's rows, in a transaction left open: straight in when nothing
 * conflicts, staged otherwise; counts what it did. */
static int
import_load(import_t *im, PGconn *conn, import_part_t *part, int direct,
    import_counts_t *counts, int *staged)
{
    import_batch_t *b = &part->batch;
    int             rc = IMPORT_LOAD_CONFLICT;

    memset(counts, 0, sizeof(*counts));
    *staged = 0;

    if (direct) {
        rc = import_copy_begin(conn, b);
        if (rc == IMPORT_LOAD_DONE) {
            /* every live row inserted */
            counts->inserted = (long) (b->nrows - b->superseded);
            return rc;
        }
        if (rc != IMPORT_LOAD_CONFLICT) {
            /* the error stays in PQerrorMessage() for the caller */
            return rc;
        }
        (void) db_exec(conn, "ROLLBACK");
    }

    *staged = 1;
    rc = import_copy_stage(conn, b, im->upsert, im->job->id, counts);

    return rc == IMPORT_LOAD_CONFLICT ? IMPORT_LOAD_FAILED : rc;
}

/* Its turn come, the batch's bad rows and the job's progress, and COMMIT. */
static int
import_commit(import_t *im, PGconn *conn, import_part_t *part,
    const import_counts_t *counts)
{
    long inserted = im->inserted, updated = im->updated,
         db_errors = im->db_errors;
    char *sql;
    int   rc;

    im->inserted += counts->inserted;
    im->updated += counts->updated + (long) part->batch.superseded;
    im->db_errors += counts->errors;

    sql = import_flush_sql(im, conn, part);
    rc = sql ? import_copy_commit(conn, &part->batch, sql) : IMPORT_LOAD_FAILED;
    free(sql);

    if (rc != IMPORT_LOAD_DONE) {
        im->inserted = inserted;
        im->updated = updated;
        im->db_errors = db_errors;
    }

    return rc;
}

static double
import_secs_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);

    return (double) (t1.tv_sec - t0->tv_sec)
        + (double) (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The batch's rows loaded (import_load) by the loader, after
 * IMPORT_SLOW_MS, timed into part->load_secs; the error, if any, kept in
 * err. */
static int
import_load_timed(import_loader_t *ld, import_part_t *part, int direct,
    import_counts_t *counts, int *staged, char *err, size_t errlen)
{
    struct timespec t0;
    int             rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (ld->im->job->ferry->cfg.import_slow_ms) {
        /* a test aid: a slow database */
        usleep((useconds_t) ld->im->job->ferry->cfg.import_slow_ms * 1000);
    }
    rc = import_load(ld->im, ld->conn, part, direct, counts, staged);
    part->load_secs = import_secs_since(&t0);
    if (rc != IMPORT_LOAD_DONE) {
        snprintf(err, errlen, "%s", PQerrorMessage(ld->conn));
    }

    return rc;
}

/* One batch, one transaction: its rows, its bad rows, the job's progress;
 * a batch never commits when the job is no longer this runner's, nor
 * before the batches before it. Runs on a loader thread. */
static int
import_flush(import_loader_t *ld, import_part_t *part)
{
    import_t       *im = ld->im;
    job_t          *job = im->job;
    import_counts_t counts;
    struct timespec t0;
    char            err[512] = "";
    long            inserted, updated, bad;
    int             rc, direct, staged, w;

    pthread_mutex_lock(&im->lock);
    w = import_wait_for(im, part, 0, 0);
    direct = im->staged_run == 0;
    pthread_mutex_unlock(&im->lock);
    if (w != IMPORT_WAITED) {
        return IMPORT_STOP;
    }

    rc =
        import_load_timed(ld, part, direct, &counts, &staged, err, sizeof(err));

    pthread_mutex_lock(&im->lock);
    w = import_wait_for(im, part, 1, IMPORT_TURN_WAIT_MS);
    pthread_mutex_unlock(&im->lock);

    if (w == IMPORT_WAIT_LATE) {
        /*
         * The batch holds its rows while the batches before it do not
         * commit: another import (of this ferryd or another) may be waiting
         * on these rows while holding rows that a batch before waits on, a
         * deadlock PostgreSQL cannot see (one of its waits is in ferryd).
         * The batch lets them go, waits for its turn without them, and
         * loads again.
         */
        log_warn(job->worker,
            "job %s: batch %lu let its rows go after %d ms waiting for the "
            "batches before it to commit; it loads again in its turn",
            job->id, part->seq, IMPORT_TURN_WAIT_MS);
        (void) db_exec(ld->conn, "ROLLBACK");

        pthread_mutex_lock(&im->lock);
        w = import_wait_for(im, part, 1, 0);
        direct = im->staged_run == 0;
        pthread_mutex_unlock(&im->lock);

        if (w == IMPORT_WAITED) {
            rc = import_load_timed(
                ld, part, direct, &counts, &staged, err, sizeof(err));
        }
    }

    if (w != IMPORT_WAITED) {
        /* a batch before failed or stopped: this one is not to commit */
        (void) db_exec(ld->conn, "ROLLBACK");
        return IMPORT_STOP;
    }

    /* the batch's turn: the batches before are committed, and none after
     * commits before it, so the counters are this thread's */
    if (rc == IMPORT_LOAD_DONE) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = import_commit(im, ld->conn, part, &counts);
        part->load_secs += import_secs_since(&t0);
        if (rc != IMPORT_LOAD_DONE) {
            snprintf(err, sizeof(err), "%s", PQerrorMessage(ld->conn));
        }
    }

    if (rc != IMPORT_LOAD_DONE) {
        (void) db_exec(ld->conn, "ROLLBACK");

        if (rc == IMPORT_LOAD_LOST) {
            /* cancelled, or taken over after we looked stale: not ours */
            im->lost = 1;
            return IMPORT_STOP;
        }

        log_error(job->worker, "job %s: loading a batch: %s", job->id, err);

        return IMPORT_FAIL;
    }

    /* the figures for the log, before the next batch's turn */
    inserted = im->inserted;
    updated = im->updated;
    bad = part->parse_errors + im->db_errors;

    pthread_mutex_lock(&im->lock);

    if (im->staged_run > 0) {
        im->staged_run--;
    } else if (staged) {
        im->staged_run = IMPORT_STAGED_RUN;
    }

    im->committed = part->seq;
    im->offset = part->end;
    im->line = part->line;
    im->done_processed = part->processed;
    im->done_parse_errors = part->parse_errors;
    pthread_cond_broadcast(&im->cond);

    pthread_mutex_unlock(&im->lock);

    log_debug(job->worker,
        "job %s: %ld rows (%ld inserted, %ld updated, %ld bad), batch %lu of "
        "%zu rows loaded by loader %d in %.3f s",
        job->id, part->processed, inserted, updated, bad, part->seq,
        part->batch.nrows + (size_t) part->batch.nerrs, ld->n, part->load_secs);

    return *job->stop ? IMPORT_STOP : IMPORT_GO_ON;
}

/* Under the lock: the oldest batch sealed and not yet taken, or NULL. */
static import_part_t *
import_next_ready(import_t *im)
{
    import_part_t *next = NULL;
    int            i;

    for (i = 0; i < im->nparts; i++) {
        import_part_t *p = &im->parts[i];

        if (p->state == IMPORT_READY && (next == NULL || p->seq < next->seq)) {
            next = p;
        }
    }

    return next;
}

static void *
import_loader(void *data)
{
    import_loader_t *ld = data;
    import_t        *im = ld->im;
    import_part_t   *part;
    int              rc;

    pthread_mutex_lock(&im->lock);

    for (;;) {
        while ((part = import_next_ready(im)) == NULL && !im->quit) {
            pthread_cond_wait(&im->cond, &im->lock);
        }

        if (part == NULL) {
            break;
        }

        part->state = IMPORT_LOADING;

        /* after a failure or a stop nothing more is loaded */
        if (im->loader_rc == IMPORT_GO_ON) {
            pthread_mutex_unlock(&im->lock);
            rc = import_flush(ld, part);
            pthread_mutex_lock(&im->lock);

            if (im->loader_rc == IMPORT_GO_ON) {
                im->loader_rc = rc;
            }
            im->loaded_rows = part->batch.nrows + (size_t) part->batch.nerrs;
            im->loaded_secs = part->load_secs;
        }

        part->state = IMPORT_FREE;
        pthread_cond_broadcast(&im->cond);
    }

    pthread_mutex_unlock(&im->lock);

    return NULL;
}

/* Under the lock: whether a batch waits for a loader or is loading. */
static int
import_loading(import_t *im)
{
    int i;

    for (i = 0; i < im->nparts; i++) {
        if (im->parts[i].state == IMPORT_READY
            || im->parts[i].state == IMPORT_LOADING) {
            return 1;
        }
    }

    return 0;
}

/* Waits until the loaders are idle; what they last said. */
static int
import_wait(import_t *im)
{
    int rc;

    pthread_mutex_lock(&im->lock);
    while (import_loading(im)) {
        pthread_cond_wait(&im->cond, &im->lock);
    }
    rc = im->loader_rc;
    pthread_mutex_unlock(&im->lock);

    return rc;
}

/*
 * The next batch holds what the database loads in IMPORT_BATCH_MS at the
 * pace of the last one: few round trips on a fast machine, progress (and
 * what a crash can lose) still every fraction of a second on a slow one.
 * Never fewer than BATCH_SIZE rows; 0 ms keeps BATCH_SIZE.
 */
static void
import_next_size(import_t *im)
{
    const config_t *cfg = &im->job->ferry->cfg;
    double          want;

    if (cfg->import_batch_ms == 0 || im->pace_secs <= 0) {
        return;
    }

    want = (double) im->pace_rows / im->pace_secs * cfg->import_batch_ms / 1000;

    if (want > (double) im->parts[0].batch.rows_cap - 1) {
        want = (double) im->parts[0].batch.rows_cap - 1;
    }

    im->batch_rows =
        want > cfg->batch_size ? (size_t) want : (size_t) cfg->batch_size;
}

/* Under the lock: a part no batch holds, or -1. */
static int
import_free_part(import_t *im)
{
    int i;

    for (i = 0; i < im->nparts; i++) {
        if (im->parts[i].state == IMPORT_FREE) {
            return i;
        }
    }

    return -1;
}

/* Hands the current batch to the loaders and starts filling a free one. */
static int
import_seal(import_t *im)
{
    import_part_t *part = &im->parts[im->cur];
    int            rc, next = -1;

    /* nothing read since the last batch: nothing to commit */
    if (part->batch.nrows == 0 && part->batch.nerrs == 0
        && im->batch_end == part->end)
    {
        return import_wait(im);
    }

    part->end = im->batch_end;
    part->line = im->batch_line;
    part->processed = im->processed;
    part->parse_errors = im->parse_errors;

    pthread_mutex_lock(&im->lock);

    if (im->loader_rc == IMPORT_GO_ON) {
        part->seq = ++im->sealed;
        part->state = IMPORT_READY;
        pthread_cond_broadcast(&im->cond);

        /* a part is free once a loader is done with it */
        while ((next = import_free_part(im)) == -1
            && im->loader_rc == IMPORT_GO_ON) {
            pthread_cond_wait(&im->cond, &im->lock);
        }
    }

    rc = im->loader_rc;
    im->pace_rows = im->loaded_rows;
    im->pace_secs = im->loaded_secs;
    if (rc == IMPORT_GO_ON) {
        im->parts[next].state = IMPORT_READING;
    }
    pthread_mutex_unlock(&im->lock);

    if (rc != IMPORT_GO_ON) {
        return rc;
    }

    im->cur = next;
    import_next_size(im);
    import_batch_reset(&im->parts[im->cur].batch, im->batch_rows);
    im->parts[im->cur].end = part->end;

    return IMPORT_GO_ON;
}

static int
import_on_record(void *data, const csv_record_t *rec)
{
    import_t       *im = data;
    import_batch_t *b = &im->parts[im->cur].batch;

    if (im->header) {
        im->header = 0;
    } else {
        im->processed++;

        switch (import_rows_add(&im->rows, b, rec)) {
        case 0:
            break;
        case 1:
            im->parse_errors++;
            break;
        default:
            return IMPORT_FAIL;
        }
    }

    im->batch_end = rec->end;
    im->batch_line = im->csv.line;

    if (b->nrows + (size_t) b->nerrs >= im->batch_rows
        || b->nrows == b->rows_cap
        || b->text_len + b->arena_len >= IMPORT_BATCH_MAX_BYTES)
    {
        return import_seal(im);
    }

    return IMPORT_GO_ON;
}

/* The job's last word: done / failed / cancelled, with its counters. */
static void
import_end(
    import_t *im, const char *status, const char *error, const char *path)
{
    job_t *job = im->job;
    char  *progress;
    int    rc;

    progress =
        import_progress_json(im, im->offset, im->line, im->done_processed,
            im->done_parse_errors + im->db_errors, strcmp(status, "done") == 0);

    rc = job_finish(job, status, progress, error);
    free(progress);

    if (rc == 1 && path && unlink(path) != 0 && errno != ENOENT) {
        log_warn(job->worker, "job %s: cannot remove %s: %s", job->id, path,
            strerror(errno));
    }

    if (rc == 1) {
        log_info(job->worker,
            "import %s %s: %ld rows, %ld inserted, %ld updated, %ld bad%s%s",
            job->id, status, im->done_processed, im->inserted, im->updated,
            im->done_parse_errors + im->db_errors, error ? ": " : "",
            error ? error : "");
    }
}

/* After the reader stopped early: hand the job back, or see it cancelled. */
static void
import_stopped(import_t *im, const char *spool)
{
    job_t *job = im->job;

    if (!im->lost) {
        /* ferryd is stopping: hand the job back, it resumes at once */
        job_hand_back(job);
        log_info(
            job->worker, "job %s: handed back at line %ld", job->id, im->line);
        return;
    }

    if (job_is_cancelled(job) == 1) {
        log_info(job->worker, "job %s cancelled after %ld rows", job->id,
            im->done_processed);
        unlink(spool);
    }
}

/* The batches (one per loader and one more, of rows rows each) and the
 * loaders: the first on the job's connection, each other on one of its
 * own (fewer when PostgreSQL takes no more). 0, or -1 when out of memory. */
static int
import_start(import_t *im, size_t rows)
{
    job_t  *job = im->job;
    PGconn *conn;
    char    err[256];
    int     i;

    im->nloaders = 1;
    im->loaders[0].conn = job->conn;
    while (im->nloaders < job->ferry->cfg.import_loaders) {
        conn = db_connect(job->ferry->cfg.database_url,
            job->ferry->cfg.db_connect_timeout, err, sizeof(err));
        if (conn == NULL) {
            log_warn(job->worker, "job %s: %d loader(s) of %d: %s", job->id,
                im->nloaders, job->ferry->cfg.import_loaders, err);
            break;
        }
        im->loaders[im->nloaders++].conn = conn;
    }

    im->nparts = im->nloaders + 1;
    for (i = 0; i < im->nparts; i++) {
        im->parts[i].end = im->offset;
        if (import_batch_init(&im->parts[i].batch, rows) != 0) {
            return -1;
        }
    }
    im->parts[0].state = IMPORT_READING;

    for (i = 0; i < im->nloaders; i++) {
        im->loaders[i].im = im;
        im->loaders[i].n = i + 1;
        if (thread_start(&im->loaders[i].thread, import_loader, &im->loaders[i])
            != 0) {
            return -1;
        }
        im->loaders[i].up = 1;
    }

    return 0;
}

/* The loaders told to quit and joined; their own connections closed. */
static void
import_stop(import_t *im)
{
    int i;

    pthread_mutex_lock(&im->lock);
    im->quit = 1;
    pthread_cond_broadcast(&im->cond);
    pthread_mutex_unlock(&im->lock);

    for (i = 0; i < im->nloaders; i++) {
        if (im->loaders[i].up) {
            pthread_join(im->loaders[i].thread, NULL);
        }
        if (i > 0) {
            PQfinish(im->loaders[i].conn);
        }
    }

    for (i = 0; i < im->nparts; i++) {
        import_batch_free(&im->parts[i].batch);
    }
}

void
import_run(job_t *job)
{
    import_t           im;
    cJSON             *params, *progress, *file, *path, *mode;
    char              *buf = NULL, msg[256];
    const char        *spool = NULL;
    ssize_t            n = 0;
    size_t             cap;
    int                fd = -1, rc = IMPORT_GO_ON;
    pthread_condattr_t attr;

    memset(&im, 0, sizeof(im));
    im.job = job;
    pthread_mutex_init(&im.lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&im.cond, &attr);
    pthread_condattr_destroy(&attr);

    params = cJSON_Parse(job->params);
    progress = cJSON_Parse(job->progress);
    file = cJSON_GetObjectItemCaseSensitive(params, "file");
    path = cJSON_GetObjectItemCaseSensitive(file, "path");
    mode = cJSON_GetObjectItemCaseSensitive(params, "mode");

    if (!cJSON_IsString(path) || !cJSON_IsString(mode)) {
        import_end(&im, "failed", "the job has no file or mode", NULL);
        goto done;
    }

    spool = path->valuestring;
    im.upsert = strcmp(mode->valuestring, "upsert") == 0;
    im.rows.job_id = job->id;
    im.rows.upsert = im.upsert;
    im.rows.max_field = (size_t) job->ferry->cfg.import_max_field_bytes;
    im.offset = (unsigned long long) ferry_json_long(progress, "offset");
    im.line = ferry_json_long(progress, "line");
    im.inserted = ferry_json_long(progress, "inserted");
    im.updated = ferry_json_long(progress, "updated");
    im.done_processed = ferry_json_long(progress, "processed_rows");
    /* on resume every committed bad row counts on the reader's side */
    im.done_parse_errors = ferry_json_long(progress, "error_rows");
    im.processed = im.done_processed;
    im.parse_errors = im.done_parse_errors;
    im.header = im.offset == 0;
    if (im.line == 0) {
        im.line = 1;
    }
    im.batch_end = im.offset;
    im.batch_line = im.line;

    if (im.offset) {
        log_info(job->worker,
            "job %s: resuming at line %ld (byte %llu, %ld rows done)", job->id,
            im.line, im.offset, im.done_processed);
    }

    fd = open(spool, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(
            msg, sizeof(msg), "the uploaded file is gone: %s", strerror(errno));
        import_end(&im, "failed", msg, NULL);
        goto done;
    }

    im.batch_rows = (size_t) job->ferry->cfg.batch_size;
    cap =
        job->ferry->cfg.import_batch_ms && im.batch_rows < IMPORT_BATCH_MAX_ROWS
        ? IMPORT_BATCH_MAX_ROWS
        : im.batch_rows;

    if (lseek(fd, (off_t) im.offset, SEEK_SET) == (off_t) -1
        || (buf = malloc(IMPORT_CHUNK)) == NULL
        || import_start(&im, cap + 1) != 0)
    {
        import_end(&im, "failed", "out of memory", spool);
        goto done;
    }

    csv_init(&im.csv, (size_t) job->ferry->cfg.import_max_field_bytes,
        im.offset, im.line);

    while ((n = read(fd, buf, IMPORT_CHUNK)) > 0) {
        rc = csv_feed(&im.csv, buf, (size_t) n, import_on_record, &im);

        if (im.csv.nul || rc != IMPORT_GO_ON) {
            break;
        }
    }

    if (rc == IMPORT_GO_ON && !im.csv.nul && n == 0) {
        rc = csv_finish(&im.csv, import_on_record, &im);
        if (rc == IMPORT_GO_ON) {
            im.batch_end = im.csv.offset;
            im.batch_line = im.csv.line;
        }
    }

    /* what was read before the end (or a NUL byte, or a read error) is kept */
    if (rc == IMPORT_GO_ON) {
        rc = import_seal(&im);
    }

    if (rc == IMPORT_GO_ON) {
        rc = import_wait(&im);
    } else {
        (void) import_wait(&im);
    }

    /* from here on the reader has the connection to itself */

    if (rc == IMPORT_FAIL) {
        /* a database failure: leave the job to be taken up again */
        log_warn(job->worker, "job %s: stopped at line %ld, to be resumed",
            job->id, im.line);
        goto done_csv;
    }

    if (rc == IMPORT_STOP) {
        import_stopped(&im, spool);
        goto done_csv;
    }

    if (im.csv.nul) {
        snprintf(msg, sizeof(msg),
            "not a CSV text file (a NUL byte at offset %llu)",
            (unsigned long long) im.csv.nul_offset);
        import_end(&im, "failed", msg, spool);
        goto done_csv;
    }

    if (n < 0) {
        snprintf(
            msg, sizeof(msg), "reading the uploaded file: %s", strerror(errno));
        import_end(&im, "failed", msg, spool);
        goto done_csv;
    }

    if (im.done_parse_errors + im.db_errors
        && import_report_write(job, &im.report) != 0)
    {
        import_end(&im, "failed", "cannot write errors.csv", spool);
        goto done_csv;
    }

    import_end(&im, "done", NULL, spool);

done_csv:

    csv_free(&im.csv);

done:

    import_stop(&im);

    if (fd != -1) {
        close(fd);
    }
    free(buf);
    pthread_mutex_destroy(&im.lock);
    pthread_cond_destroy(&im.cond);
    cJSON_Delete(params);
    cJSON_Delete(progress);
}

/*
 * The import job. Every batch is one transaction holding its rows, its bad
 * rows and the job's progress (byte offset, line, counters), so a killed
 * ferryd resumes exactly after the last committed batch: nothing is lost,
 * nothing is loaded twice.
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
#include "core/jobs.h"
#include "core/log.h"
#include "ferry_json.h"

#define IMPORT_CHUNK (1024 * 1024)

#define IMPORT_STAGED_RUN 16

/* A batch sized by time holds at most this many rows and bytes of text:
 * with both parts full ferryd stays well under 64 MB. */
#define IMPORT_BATCH_MAX_ROWS  50000
#define IMPORT_BATCH_MAX_BYTES (8 * 1024 * 1024)

/* A batch sealed by the reader, with where the file stood at its end. */
typedef struct {
    import_batch_t     batch;
    unsigned long long end;       /* offset just past its last record */
    long               line;      /* line of the record after it */
    long               processed; /* rows read up to its end */
    long   parse_errors;          /* rows refused by validation up to its end */
    double load_secs;             /* how long loading it took */
} import_part_t;

/*
 * Two threads share an import: the reader (the runner thread) parses and
 * validates the file into one batch while the loader (a thread of this
 * import) loads and commits the other, so that ferryd's work on the file
 * overlaps PostgreSQL's. A sealed batch waits in "ready" for the loader,
 * which takes it as soon as it is done with the one before: the database
 * never waits for the reader to wake up. Only the loader uses the
 * connection until the reader has waited for it to be idle.
 */
typedef struct {
    job_t        *job;
    int           upsert;
    import_rows_t rows;
    csv_t         csv;
    int           header; /* the next record is the header */

    /* the reader's side */
    import_part_t      parts[2];
    int                cur;
    long               processed;
    long               parse_errors;
    unsigned long long batch_end;
    long               batch_line;
    size_t             batch_rows; /* when to seal the batch being read */

    /* the loader's side: what is committed */
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

    /* the hand-over */
    pthread_t       loader;
    int             loader_up;
    pthread_mutex_t lock;
    pthread_cond_t  cond;
    int             ready; /* the part sealed for the loader, or -1 */
    int             busy;  /* the part the loader is loading, or -1 */
    int             quit;
    int             loader_rc; /* IMPORT_GO_ON, or why the loader stopped */
} import_t;

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
 * that commits it. */
static char *
import_flush_sql(import_t *im, import_part_t *part)
{
    char *progress, *sql;

    progress = import_progress_json(im, part->end, part->line, part->processed,
        part->parse_errors + im->db_errors, 0);
    if (progress == NULL) {
        return NULL;
    }

    sql = job_progress_stmt(im->job, progress);
    free(progress);

    return sql;
}

/* The batch that conflicted (or follows batches that did), staged. */
static int
import_flush_staged(import_t *im, import_part_t *part)
{
    job_t          *job = im->job;
    import_counts_t counts;
    char           *sql;
    int             rc;

    rc = import_copy_stage(
        job->conn, &part->batch, im->upsert, job->id, &counts);

    if (rc == IMPORT_LOAD_DONE) {
        im->inserted += counts.inserted;
        im->updated += counts.updated + (long) part->batch.superseded;
        im->db_errors += counts.errors;

        sql = import_flush_sql(im, part);
        rc = sql ? import_copy_commit(job->conn, &part->batch, sql)
                 : IMPORT_LOAD_FAILED;
        free(sql);
    }

    if (rc != IMPORT_LOAD_DONE) {
        (void) db_exec(job->conn, "ROLLBACK");
    }

    return rc == IMPORT_LOAD_CONFLICT ? IMPORT_LOAD_FAILED : rc;
}

/* One batch, one transaction: its rows, its bad rows, the job's progress;
 * a batch never commits when the job is no longer this runner's. Runs on
 * the loader thread. */
static int
import_flush(import_t *im, import_part_t *part)
{
    job_t          *job = im->job;
    import_batch_t *b = &part->batch;
    struct timespec t0, t1;
    long            inserted, updated, db_errors;
    char           *sql;
    int             rc = IMPORT_LOAD_CONFLICT, staged = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);

    if (job->ferry->cfg.import_slow_ms) {
        usleep((useconds_t) job->ferry->cfg.import_slow_ms * 1000);
    }

    inserted = im->inserted;
    updated = im->updated;
    db_errors = im->db_errors;

    if (im->staged_run == 0) {
        /* straight in, every live row inserted, if nothing conflicts */
        im->inserted += (long) (b->nrows - b->superseded);
        im->updated += (long) b->superseded;

        sql = import_flush_sql(im, part);
        rc = sql ? import_copy_direct(job->conn, b, sql) : IMPORT_LOAD_FAILED;
        free(sql);
    }

    if (rc == IMPORT_LOAD_CONFLICT) {
        im->inserted = inserted;
        im->updated = updated;
        staged = 1;
        rc = import_flush_staged(im, part);
    }

    if (rc != IMPORT_LOAD_DONE) {
        im->inserted = inserted;
        im->updated = updated;
        im->db_errors = db_errors;

        if (rc == IMPORT_LOAD_LOST) {
            /* cancelled, or taken over after we looked stale: not ours */
            im->lost = 1;
            return IMPORT_STOP;
        }

        log_error(job->worker, "job %s: loading a batch: %s", job->id,
            PQerrorMessage(job->conn));

        return IMPORT_FAIL;
    }

    if (im->staged_run > 0) {
        im->staged_run--;
    } else if (staged) {
        im->staged_run = IMPORT_STAGED_RUN;
    }

    im->offset = part->end;
    im->line = part->line;
    im->done_processed = part->processed;
    im->done_parse_errors = part->parse_errors;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    part->load_secs = (double) (t1.tv_sec - t0.tv_sec)
        + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;

    log_debug(job->worker,
        "job %s: %ld rows (%ld inserted, %ld updated, %ld bad), a batch of "
        "%zu in %.3f s",
        job->id, im->done_processed, im->inserted, im->updated,
        im->done_parse_errors + im->db_errors, b->nrows + (size_t) b->nerrs,
        part->load_secs);

    return *job->stop ? IMPORT_STOP : IMPORT_GO_ON;
}

static void *
import_loader(void *data)
{
    import_t      *im = data;
    import_part_t *part;
    int            rc;

    pthread_mutex_lock(&im->lock);

    for (;;) {
        while (im->ready == -1 && !im->quit) {
            pthread_cond_wait(&im->cond, &im->lock);
        }

        if (im->ready == -1) {
            break;
        }

        part = &im->parts[im->ready];
        im->busy = im->ready;
        im->ready = -1;

        /* after a failure or a stop nothing more is loaded */
        if (im->loader_rc == IMPORT_GO_ON) {
            pthread_mutex_unlock(&im->lock);
            rc = import_flush(im, part);
            pthread_mutex_lock(&im->lock);

            im->loader_rc = rc;
            im->loaded_rows = part->batch.nrows + (size_t) part->batch.nerrs;
            im->loaded_secs = part->load_secs;
        }

        im->busy = -1;
        pthread_cond_broadcast(&im->cond);
    }

    pthread_mutex_unlock(&im->lock);

    return NULL;
}

/* Waits until the loader is idle; what it last said. */
static int
import_wait(import_t *im)
{
    int rc;

    pthread_mutex_lock(&im->lock);
    while (im->ready != -1 || im->busy != -1) {
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

/* Hands the current batch to the loader and starts filling the other. */
static int
import_seal(import_t *im)
{
    import_part_t *part = &im->parts[im->cur];
    int            rc;

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

    /* the batch before may still wait for the loader */
    while (im->ready != -1 && im->loader_rc == IMPORT_GO_ON) {
        pthread_cond_wait(&im->cond, &im->lock);
    }

    if (im->loader_rc == IMPORT_GO_ON) {
        im->ready = im->cur;
        pthread_cond_broadcast(&im->cond);

        /* the other part is free once the loader is done with it */
        while (im->busy == (im->cur ^ 1) && im->loader_rc == IMPORT_GO_ON) {
            pthread_cond_wait(&im->cond, &im->lock);
        }
    }

    rc = im->loader_rc;
    im->pace_rows = im->loaded_rows;
    im->pace_secs = im->loaded_secs;
    pthread_mutex_unlock(&im->lock);

    if (rc != IMPORT_GO_ON) {
        return rc;
    }

    im->cur ^= 1;
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

void
import_run(job_t *job)
{
    import_t    im;
    cJSON      *params, *progress, *file, *path, *mode;
    char       *buf = NULL, msg[256];
    const char *spool = NULL;
    ssize_t     n = 0;
    size_t      cap;
    int         fd = -1, rc = IMPORT_GO_ON, i;

    memset(&im, 0, sizeof(im));
    im.job = job;
    im.ready = -1;
    im.busy = -1;
    pthread_mutex_init(&im.lock, NULL);
    pthread_cond_init(&im.cond, NULL);

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
        || import_batch_init(&im.parts[0].batch, cap + 1) != 0
        || import_batch_init(&im.parts[1].batch, cap + 1) != 0
        || (buf = malloc(IMPORT_CHUNK)) == NULL
        || pthread_create(&im.loader, NULL, import_loader, &im) != 0)
    {
        import_end(&im, "failed", "out of memory", spool);
        goto done;
    }

    im.loader_up = 1;
    im.parts[0].end = im.parts[1].end = im.offset;

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

    if (im.loader_up) {
        pthread_mutex_lock(&im.lock);
        im.quit = 1;
        pthread_cond_broadcast(&im.cond);
        pthread_mutex_unlock(&im.lock);
        pthread_join(im.loader, NULL);
    }

    if (fd != -1) {
        close(fd);
    }
    free(buf);
    for (i = 0; i < 2; i++) {
        import_batch_free(&im.parts[i].batch);
    }
    pthread_mutex_destroy(&im.lock);
    pthread_cond_destroy(&im.cond);
    cJSON_Delete(params);
    cJSON_Delete(progress);
}

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

#include "ferry_email.h"
#include "ferry_utf8.h"
#include "import_copy.h"
#include "import_csv.h"
#include "core/log.h"
#include "storage/s3_store.h"

#define IMPORT_CHUNK    (1024 * 1024)
#define IMPORT_COLUMNS  5

#define IMPORT_STAGED_RUN  16

/* A batch sealed by the reader, with where the file stood at its end. */
typedef struct {
    import_batch_t      batch;
    unsigned long long  end;           /* offset just past its last record */
    long                line;          /* line of the record after it */
    long                processed;     /* rows read up to its end */
    long                parse_errors;  /* rows refused by validation up to its end */
} import_part_t;

/*
 * Two threads share an import: the reader (the runner thread) parses and
 * validates the file into one batch while the loader (a thread of this
 * import) loads and commits the other, so that ferryd's work on the file
 * overlaps PostgreSQL's. Only the loader uses the connection until the
 * reader has waited for it to be idle.
 */
typedef struct {
    job_t              *job;
    int                 upsert;
    csv_t               csv;
    int                 header;     /* the next record is the header */

    /* the reader's side */
    import_part_t       parts[2];
    int                 cur;
    long                processed;
    long                parse_errors;
    unsigned long long  batch_end;
    long                batch_line;

    /* the loader's side: what is committed */
    unsigned long long  offset;
    long                line;
    long                done_processed;
    long                done_parse_errors;
    long                inserted;
    long                updated;
    long                db_errors;      /* rows refused by the database */
    int                 lost;           /* cancelled, or claimed by another runner */

    /* batches left to stage without trying the straight COPY first: after
     * a conflict the next batches likely conflict too (an upsert into a
     * full table), and a failed COPY is work thrown away */
    int                 staged_run;

    const char         *report;         /* where errors.csv went: "local" or "s3" */

    /* the hand-over */
    pthread_t           loader;
    int                 loader_up;
    pthread_mutex_t     lock;
    pthread_cond_t      cond;
    int                 pending;        /* the part handed over, or -1 */
    int                 quit;
    int                 loader_rc;      /* IMPORT_GO_ON, or why the loader stopped */
} import_t;

enum { IMPORT_GO_ON = 0, IMPORT_STOP = 1, IMPORT_FAIL = 2 };

static long
import_progress_num(cJSON *p, const char *name)
{
    cJSON  *v = cJSON_GetObjectItemCaseSensitive(p, name);

    return cJSON_IsNumber(v) ? (long) v->valuedouble : 0;
}

static size_t
import_hash(const char *s, size_t n)
{
    size_t  h = 1469598103934665603ULL;

    while (n--) {
        h = (h ^ (unsigned char) *s++) * 1099511628211ULL;
    }

    return h;
}

/* The row index + 1 of an email seen earlier in the batch, or 0 (it is
 * then recorded for row). */
static size_t
import_seen(import_batch_t *b, const char *email, size_t len, size_t row)
{
    size_t  i, k;

    i = import_hash(email, len) % b->hash_size;

    while ((k = b->hash[i]) != 0) {
        import_row_t  *r = &b->rows[k - 1];

        if (r->email_len == len && memcmp(b->arena + r->email, email, len) == 0) {
            b->hash[i] = row + 1;
            return k;
        }
        i = (i + 1) % b->hash_size;
    }

    b->hash[i] = row + 1;

    return 0;
}

/* The raw text goes into a text column: bytes that are not UTF-8 become
 * U+FFFD, so the report shows where they were. */
static char *
import_raw_text(const csv_record_t *rec, size_t *len)
{
    const unsigned char  *s = (const unsigned char *) rec->raw;
    char                 *out, *p;
    size_t                i = 0, k;

    out = malloc(rec->raw_len * 3 + 1);
    if (out == NULL) {
        return NULL;
    }

    p = out;

    while (i < rec->raw_len) {
        k = ferry_utf8_char_len(s + i, rec->raw_len - i);

        if (k > 0) {
            memcpy(p, s + i, k);
            p += k;
            i += k;
        } else {
            memcpy(p, "\xef\xbf\xbd", 3);
            p += 3;
            i++;
        }
    }

    *len = (size_t) (p - out);

    return out;
}

static int
import_error(import_t *im, const csv_record_t *rec, const char *email, size_t elen,
    const char *msg)
{
    char    *raw;
    size_t   len;
    int      rc;

    im->parse_errors++;

    if (ferry_utf8_valid((const unsigned char *) rec->raw, rec->raw_len)) {
        return import_batch_error(&im->parts[im->cur].batch, im->job->id, rec->line, email, elen, msg,
                                  rec->raw, rec->raw_len);
    }

    raw = import_raw_text(rec, &len);
    if (raw == NULL) {
        return -1;
    }

    rc = import_batch_error(&im->parts[im->cur].batch, im->job->id, rec->line, email, elen,
                            msg, raw, len);
    free(raw);

    return rc;
}

static int
import_arena(import_batch_t *b, const char *s, size_t n, size_t *off)
{
    char   *a;
    size_t  cap;

    if (b->arena_len + n > b->arena_cap) {
        for (cap = b->arena_cap ? b->arena_cap : 65536; cap < b->arena_len + n; cap *= 2) {
            /* void */
        }
        a = realloc(b->arena, cap);
        if (a == NULL) {
            return -1;
        }
        b->arena = a;
        b->arena_cap = cap;
    }

    memcpy(b->arena + b->arena_len, s, n);
    *off = b->arena_len;
    b->arena_len += n;

    return 0;
}

/* Validates one record and adds it to the batch (as a row or an error). */
static int
import_record(import_t *im, const csv_record_t *rec)
{
    char           email[256], err[128];
    size_t         i, elen, prev;
    import_row_t  *row;
    import_batch_t *b = &im->parts[im->cur].batch;
    size_t         tlen, off;

    im->processed++;

    if (rec->nfields != IMPORT_COLUMNS) {
        snprintf(err, sizeof(err), "expected %d fields, found %d", IMPORT_COLUMNS, rec->nfields);
        return import_error(im, rec, rec->field[0], ferry_utf8_valid((const unsigned char *)
                            rec->field[0], rec->len[0]) ? rec->len[0] : 0, err);
    }

    for (i = 0; i < IMPORT_COLUMNS; i++) {
        if (!ferry_utf8_valid((const unsigned char *) rec->field[i], rec->len[i])) {
            return import_error(im, rec, "", 0, "invalid UTF-8");
        }
    }

    if (rec->too_long) {
        snprintf(err, sizeof(err), "a field is longer than %d bytes (IMPORT_MAX_FIELD_BYTES)",
                 im->job->fd->cfg.import_max_field_bytes);
        return import_error(im, rec, rec->field[0], rec->len[0], err);
    }

    if (rec->bad_quote) {
        return import_error(im, rec, rec->field[0], rec->len[0], "malformed quoting");
    }

    if (rec->len[0] == 0) {
        return import_error(im, rec, "", 0, "email is required");
    }

    if (rec->len[0] >= sizeof(email)) {
        return import_error(im, rec, rec->field[0], rec->len[0], "invalid email");
    }

    memcpy(email, rec->field[0], rec->len[0]);
    email[rec->len[0]] = '\0';

    if (ferry_email_normalize(email, email) != 0) {
        return import_error(im, rec, rec->field[0], rec->len[0], "invalid email");
    }

    elen = strlen(email);

    prev = import_seen(b, email, elen, b->nrows);

    if (prev && !im->upsert) {
        snprintf(err, sizeof(err), "duplicate email (first on line %ld)", b->rows[prev - 1].line);
        /* the first occurrence stays the one recorded */
        import_seen(b, email, elen, prev - 1);
        return import_error(im, rec, email, elen, err);
    }

    if (prev) {
        /* upsert: the file's last occurrence wins; the earlier one counts
         * as updated when the batch commits */
        b->rows[prev - 1].dead = 1;
        b->superseded++;
    }

    if (b->nrows == b->rows_cap) {
        return -1;
    }

    /* the row's COPY text straight into the arena */

    row = &b->rows[b->nrows];
    memset(row, 0, sizeof(*row));
    row->line = rec->line;
    row->text = b->arena_len;

    if (import_copy_value(&b->arena, &b->arena_len, &b->arena_cap, email, elen, 0) != 0) {
        return -1;
    }

    for (i = 1; i < IMPORT_COLUMNS; i++) {
        if (import_arena(b, "\t", 1, &off) != 0
            || import_copy_value(&b->arena, &b->arena_len, &b->arena_cap, rec->field[i],
                              rec->len[i], 1) != 0)
        {
            return -1;
        }
    }

    tlen = b->arena_len - row->text;

    if (import_arena(b, email, elen, &row->email) != 0
        || import_arena(b, rec->raw, rec->raw_len, &row->raw) != 0)
    {
        return -1;
    }

    row->text_len = tlen;
    row->email_len = elen;
    row->raw_len = rec->raw_len;
    b->nrows++;

    return 0;
}

static int
import_exec_params(PGconn *conn, const char *sql, int n, const char *const *params,
    int want_rows)
{
    PGresult  *res;
    int        rc;

    res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        rc = PQntuples(res);
    } else if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        rc = want_rows ? atoi(PQcmdTuples(res)) : 0;
    } else {
        rc = -1;
    }

    PQclear(res);

    return rc;
}

static char *
import_progress_json(import_t *im, unsigned long long offset, long line, long processed,
    long errors, int total)
{
    char  buf[512];
    int   n;

    n = snprintf(buf, sizeof(buf),
                 "{\"offset\":%llu,\"line\":%ld,\"processed_rows\":%ld,\"inserted\":%ld,"
                 "\"updated\":%ld,\"error_rows\":%ld",
                 offset, line, processed, im->inserted, im->updated, errors);

    if (total) {
        n += snprintf(buf + n, sizeof(buf) - (size_t) n, ",\"total_rows\":%ld", processed);
    }

    if (im->report) {
        n += snprintf(buf + n, sizeof(buf) - (size_t) n, ",\"report\":\"%s\"", im->report);
    }

    snprintf(buf + n, sizeof(buf) - (size_t) n, "}");

    return strdup(buf);
}

/* One batch, one transaction: its rows, its bad rows, the job's progress.
 * Runs on the loader thread. */
static int
import_flush(import_t *im, import_part_t *part)
{
    job_t           *job = im->job;
    PGconn          *conn = job->conn;
    import_counts_t  counts;
    char            *progress;
    const char      *params[3];
    long             inserted, updated, db_errors;
    int              rc;

    if (db_exec(conn, "BEGIN") != 0) {
        goto failed;
    }

    if (job->fd->cfg.import_slow_ms) {
        usleep((useconds_t) job->fd->cfg.import_slow_ms * 1000);
    }

    if (import_copy_load(conn, &part->batch, im->upsert, im->staged_run == 0, job->id,
                         &counts) != 0
        || import_copy_errors(conn, &part->batch) != 0)
    {
        goto failed;
    }

    /* the counters as they will be once this commits */
    inserted = im->inserted;
    updated = im->updated;
    db_errors = im->db_errors;
    im->inserted += counts.inserted;
    im->updated += counts.updated + (long) part->batch.superseded;
    im->db_errors += counts.errors;

    progress = import_progress_json(im, part->end, part->line, part->processed,
                                    part->parse_errors + im->db_errors, 0);
    params[0] = job->id;
    params[1] = progress;
    params[2] = job->worker;

    rc = import_exec_params(conn,
                            "UPDATE jobs SET progress = $2::jsonb, heartbeat_at = now() "
                            "WHERE id = $1 AND worker = $3 AND status = 'processing'",
                            3, params, 1);
    free(progress);

    if (rc != 1 || db_exec(conn, "COMMIT") != 0) {
        im->inserted = inserted;
        im->updated = updated;
        im->db_errors = db_errors;

        if (rc == 0) {
            /* cancelled, or taken over after we looked stale: not ours */
            (void) db_exec(conn, "ROLLBACK");
            im->lost = 1;
            return IMPORT_STOP;
        }

        goto failed;
    }

    if (im->staged_run > 0) {
        im->staged_run--;
    } else if (counts.staged) {
        im->staged_run = IMPORT_STAGED_RUN;
    }

    im->offset = part->end;
    im->line = part->line;
    im->done_processed = part->processed;
    im->done_parse_errors = part->parse_errors;

    log_debug(job->worker, "job %s: %ld rows (%ld inserted, %ld updated, %ld bad)",
              job->id, im->done_processed, im->inserted, im->updated,
              im->done_parse_errors + im->db_errors);

    return *job->stop ? IMPORT_STOP : IMPORT_GO_ON;

failed:

    log_error(job->worker, "job %s: loading a batch: %s", job->id, PQerrorMessage(conn));
    (void) db_exec(conn, "ROLLBACK");

    return IMPORT_FAIL;
}

static void *
import_loader(void *data)
{
    import_t  *im = data;
    int        i, rc;

    pthread_mutex_lock(&im->lock);

    for ( ;; ) {
        while (im->pending == -1 && !im->quit) {
            pthread_cond_wait(&im->cond, &im->lock);
        }

        if (im->pending == -1) {
            break;
        }

        i = im->pending;
        pthread_mutex_unlock(&im->lock);

        rc = import_flush(im, &im->parts[i]);

        pthread_mutex_lock(&im->lock);
        im->loader_rc = rc;
        im->pending = -1;
        pthread_cond_broadcast(&im->cond);
    }

    pthread_mutex_unlock(&im->lock);

    return NULL;
}

/* Waits until the loader is idle; what it last said. */
static int
import_wait(import_t *im)
{
    int  rc;

    pthread_mutex_lock(&im->lock);
    while (im->pending != -1) {
        pthread_cond_wait(&im->cond, &im->lock);
    }
    rc = im->loader_rc;
    pthread_mutex_unlock(&im->lock);

    return rc;
}

/* Hands the current batch to the loader and starts filling the other. */
static int
import_seal(import_t *im)
{
    import_part_t  *part = &im->parts[im->cur];
    int             rc;

    /* nothing read since the last batch: nothing to commit */
    if (part->batch.nrows == 0 && part->batch.nerrs == 0 && im->batch_end == part->end) {
        return import_wait(im);
    }

    part->end = im->batch_end;
    part->line = im->batch_line;
    part->processed = im->processed;
    part->parse_errors = im->parse_errors;

    rc = import_wait(im);
    if (rc != IMPORT_GO_ON) {
        return rc;
    }

    pthread_mutex_lock(&im->lock);
    im->pending = im->cur;
    pthread_cond_broadcast(&im->cond);
    pthread_mutex_unlock(&im->lock);

    /* the other part was loaded before this one was handed over */
    im->cur ^= 1;
    import_batch_reset(&im->parts[im->cur].batch);
    im->parts[im->cur].end = part->end;

    return IMPORT_GO_ON;
}

static int
import_on_record(void *data, const csv_record_t *rec)
{
    import_t        *im = data;
    import_batch_t  *b = &im->parts[im->cur].batch;

    if (im->header) {
        im->header = 0;
    } else if (import_record(im, rec) != 0) {
        return IMPORT_FAIL;
    }

    im->batch_end = rec->end;
    im->batch_line = im->csv.line;

    if (b->nrows + b->nerrs >= (size_t) im->job->fd->cfg.batch_size || b->nrows == b->rows_cap) {
        return import_seal(im);
    }

    return IMPORT_GO_ON;
}

void
import_report_path(const ferryd_t *fd, const char *job_id, char *path, size_t len)
{
    snprintf(path, len, "%s/%s-errors.csv", fd->cfg.reports_dir, job_id);
}

/* errors.csv from import_errors, streamed with COPY TO. */
static int
import_write_report(import_t *im)
{
    job_t     *job = im->job;
    char       path[4096], tmp[4200], sql[512], *buf;
    FILE      *f;
    PGresult  *res;
    int        n, ok = 1;

    import_report_path(job->fd, job->id, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);

    f = fopen(tmp, "w");
    if (f == NULL) {
        log_error(job->worker, "job %s: cannot write %s: %s", job->id, tmp, strerror(errno));
        return -1;
    }

    /* job ids are uuids from PostgreSQL: safe to inline */
    snprintf(sql, sizeof(sql),
             "COPY (SELECT line, email, error, raw FROM import_errors WHERE job_id = '%s' "
             "ORDER BY line) TO STDOUT WITH (FORMAT csv, HEADER)", job->id);

    res = PQexec(job->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        PQclear(res);
        fclose(f);
        unlink(tmp);
        return -1;
    }
    PQclear(res);

    while ((n = PQgetCopyData(job->conn, &buf, 0)) > 0) {
        if (fwrite(buf, 1, (size_t) n, f) != (size_t) n) {
            ok = 0;
        }
        PQfreemem(buf);
    }

    while ((res = PQgetResult(job->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            ok = 0;
        }
        PQclear(res);
    }

    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
        log_error(job->worker, "job %s: cannot write %s", job->id, path);
        unlink(tmp);
        return -1;
    }

    im->report = "local";

    if (s3_store_enabled(&job->fd->cfg)) {
        char  key[128], err[512];

        snprintf(key, sizeof(key), "reports/%s-errors.csv", job->id);

        if (s3_store_put(job->fd->http, &job->fd->cfg, path, key, err, sizeof(err)) != 0) {
            /* the report is still served from REPORTS_DIR */
            log_error(job->worker, "job %s: errors.csv to S3: %s", job->id, err);
        } else {
            im->report = "s3";
            unlink(path);
            log_debug(job->worker, "job %s: errors.csv put to S3 as %s", job->id, key);
        }
    }

    return 0;
}

/* The job's last word: done / failed / cancelled, with its counters. */
static void
import_end(import_t *im, const char *status, const char *error, const char *path)
{
    job_t       *job = im->job;
    char        *progress;
    const char  *params[5];
    int          rc;

    progress = import_progress_json(im, im->offset, im->line, im->done_processed,
                                    im->done_parse_errors + im->db_errors,
                                    strcmp(status, "done") == 0);

    params[0] = job->id;
    params[1] = status;
    params[2] = progress;
    params[3] = error;
    params[4] = job->worker;

    rc = import_exec_params(job->conn,
        "UPDATE jobs SET status = $2, progress = $3::jsonb, error = $4, "
        "finished_at = now(), heartbeat_at = now() "
        "WHERE id = $1 AND worker = $5 AND status = 'processing'",
        5, params, 1);
    free(progress);

    if (rc == 1 && path && unlink(path) != 0 && errno != ENOENT) {
        log_warn(job->worker, "job %s: cannot remove %s: %s", job->id, path, strerror(errno));
    }

    if (rc == 1) {
        log_info(job->worker, "import %s %s: %ld rows, %ld inserted, %ld updated, %ld bad%s%s",
                 job->id, status, im->done_processed, im->inserted, im->updated,
                 im->done_parse_errors + im->db_errors, error ? ": " : "", error ? error : "");
    }
}

/* After the reader stopped early: hand the job back, or see it cancelled. */
static void
import_stopped(import_t *im, const char *spool)
{
    job_t       *job = im->job;
    const char  *p[2] = { job->id, job->worker };
    PGresult    *res;

    if (!im->lost) {
        /* ferryd is stopping: hand the job back, it resumes at once */
        (void) import_exec_params(job->conn,
            "UPDATE jobs SET status = 'pending', worker = NULL "
            "WHERE id = $1 AND worker = $2 AND status = 'processing'", 2, p, 0);
        log_info(job->worker, "job %s: handed back at line %ld", job->id, im->line);
        return;
    }

    res = PQexecParams(job->conn, "SELECT status FROM jobs WHERE id = $1", 1, NULL, p, NULL,
                       NULL, 0);

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
        && strcmp(PQgetvalue(res, 0, 0), "cancelled") == 0)
    {
        log_info(job->worker, "job %s cancelled after %ld rows", job->id, im->done_processed);
        unlink(spool);
    }

    PQclear(res);
}

void
import_run(job_t *job)
{
    import_t     im;
    cJSON       *params, *progress, *file, *path, *mode;
    char        *buf = NULL, msg[256];
    const char  *spool = NULL;
    ssize_t      n = 0;
    int          fd = -1, rc = IMPORT_GO_ON, i;

    memset(&im, 0, sizeof(im));
    im.job = job;
    im.pending = -1;
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
    im.offset = (unsigned long long) import_progress_num(progress, "offset");
    im.line = import_progress_num(progress, "line");
    im.inserted = import_progress_num(progress, "inserted");
    im.updated = import_progress_num(progress, "updated");
    im.done_processed = import_progress_num(progress, "processed_rows");
    /* on resume every committed bad row counts on the reader's side */
    im.done_parse_errors = import_progress_num(progress, "error_rows");
    im.processed = im.done_processed;
    im.parse_errors = im.done_parse_errors;
    im.header = im.offset == 0;
    if (im.line == 0) {
        im.line = 1;
    }
    im.batch_end = im.offset;
    im.batch_line = im.line;

    if (im.offset) {
        log_info(job->worker, "job %s: resuming at line %ld (byte %llu, %ld rows done)",
                 job->id, im.line, im.offset, im.done_processed);
    }

    fd = open(spool, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(msg, sizeof(msg), "the uploaded file is gone: %s", strerror(errno));
        import_end(&im, "failed", msg, NULL);
        goto done;
    }

    if (lseek(fd, (off_t) im.offset, SEEK_SET) == (off_t) -1
        || import_batch_init(&im.parts[0].batch, (size_t) job->fd->cfg.batch_size + 1) != 0
        || import_batch_init(&im.parts[1].batch, (size_t) job->fd->cfg.batch_size + 1) != 0
        || (buf = malloc(IMPORT_CHUNK)) == NULL
        || pthread_create(&im.loader, NULL, import_loader, &im) != 0)
    {
        import_end(&im, "failed", "out of memory", spool);
        goto done;
    }

    im.loader_up = 1;
    im.parts[0].end = im.parts[1].end = im.offset;

    csv_init(&im.csv, (size_t) job->fd->cfg.import_max_field_bytes, im.offset, im.line);

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
        log_warn(job->worker, "job %s: stopped at line %ld, to be resumed", job->id, im.line);
        goto done_csv;
    }

    if (rc == IMPORT_STOP) {
        import_stopped(&im, spool);
        goto done_csv;
    }

    if (im.csv.nul) {
        snprintf(msg, sizeof(msg), "not a CSV text file (a NUL byte at offset %llu)",
                 (unsigned long long) im.csv.nul_offset);
        import_end(&im, "failed", msg, spool);
        goto done_csv;
    }

    if (n < 0) {
        snprintf(msg, sizeof(msg), "reading the uploaded file: %s", strerror(errno));
        import_end(&im, "failed", msg, spool);
        goto done_csv;
    }

    if (im.done_parse_errors + im.db_errors && import_write_report(&im) != 0) {
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

/*
 * The import job. Every batch is one transaction holding its rows, its bad
 * rows and the job's progress (byte offset, line, counters), so a killed
 * ferryd resumes exactly after the last committed batch: nothing is lost,
 * nothing is loaded twice.
 */
#include "import_run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "accounts.h"
#include "import_copy.h"
#include "import_csv.h"
#include "log.h"
#include "storage/s3_store.h"

#define IMPORT_CHUNK    (1024 * 1024)
#define IMPORT_COLUMNS  5

#define IMPORT_STAGED_RUN  16

typedef struct {
    job_t            *job;
    int               upsert;
    import_batch_t    batch;
    csv_t             csv;
    int               header;     /* the next record is the header */

    /* progress, as committed */
    unsigned long long offset;
    long              line;
    long              processed;
    long              inserted;
    long              updated;
    long              errors;

    /* the batch in the making */
    unsigned long long batch_end;
    long              batch_line;
    long              batch_rows;

    int               lost;       /* cancelled, or claimed by another runner */

    /* batches left to stage without trying the straight COPY first: after
     * a conflict the next batches likely conflict too (an upsert into a
     * full table), and a failed COPY is work thrown away */
    int               staged_run;

    const char       *report;     /* where errors.csv went: "local" or "s3" */
} import_t;

enum { IMPORT_GO_ON = 0, IMPORT_STOP = 1, IMPORT_FAIL = 2 };

static long
import_progress_num(cJSON *p, const char *name)
{
    cJSON  *v = cJSON_GetObjectItemCaseSensitive(p, name);

    return cJSON_IsNumber(v) ? (long) v->valuedouble : 0;
}

static int
import_utf8_valid(const unsigned char *s, size_t n)
{
    size_t  i = 0, k, need;
    unsigned c;

    while (i < n) {
        c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
        } else {
            return 0;
        }
        if (i + need >= n) {
            return 0;
        }
        for (k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
        }
        /* overlongs and surrogates */
        if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] > 0x9f)
            || (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] > 0x8f))
        {
            return 0;
        }
        i += need + 1;
    }

    return 1;
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
        for (k = 1; k <= 4 && i + k <= rec->raw_len; k++) {
            if (import_utf8_valid(s + i, k)) {
                break;
            }
        }

        if (k <= 4 && i + k <= rec->raw_len) {
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

    im->errors++;

    if (import_utf8_valid((const unsigned char *) rec->raw, rec->raw_len)) {
        return import_batch_error(&im->batch, im->job->id, rec->line, email, elen, msg,
                                  rec->raw, rec->raw_len);
    }

    raw = import_raw_text(rec, &len);
    if (raw == NULL) {
        return -1;
    }

    rc = import_batch_error(&im->batch, im->job->id, rec->line, email, elen, msg, raw, len);
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
    import_batch_t *b = &im->batch;
    size_t         tlen, off;

    im->processed++;

    if (rec->nfields != IMPORT_COLUMNS) {
        snprintf(err, sizeof(err), "expected %d fields, found %d", IMPORT_COLUMNS, rec->nfields);
        return import_error(im, rec, rec->field[0], import_utf8_valid((const unsigned char *)
                            rec->field[0], rec->len[0]) ? rec->len[0] : 0, err);
    }

    for (i = 0; i < IMPORT_COLUMNS; i++) {
        if (!import_utf8_valid((const unsigned char *) rec->field[i], rec->len[i])) {
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

    if (accounts_email(email, email) != 0) {
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
        /* upsert: the file's last occurrence wins */
        b->rows[prev - 1].dead = 1;
        im->updated++;
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
import_progress_json(import_t *im, unsigned long long offset, long line, int total)
{
    char  buf[512];

    snprintf(buf, sizeof(buf),
             "{\"offset\":%llu,\"line\":%ld,\"processed_rows\":%ld,\"inserted\":%ld,"
             "\"updated\":%ld,\"error_rows\":%ld%s%ld%s%s%s}",
             offset, line, im->processed, im->inserted, im->updated, im->errors,
             total ? ",\"total_rows\":" : ",\"_\":", total ? im->processed : 0L,
             im->report ? ",\"report\":\"" : "", im->report ? im->report : "",
             im->report ? "\"" : "");

    return strdup(buf);
}

/* One batch, one transaction. */
static int
import_flush(import_t *im)
{
    job_t           *job = im->job;
    PGconn          *conn = job->conn;
    import_counts_t  counts;
    char            *progress;
    const char      *params[3];
    int              rc;
    long             save[5];

    if (im->batch.nrows == 0 && im->batch.nerrs == 0 && im->batch_end == im->offset) {
        return IMPORT_GO_ON;
    }

    save[0] = im->processed;
    save[1] = im->inserted;
    save[2] = im->updated;
    save[3] = im->errors;

    if (db_exec(conn, "BEGIN") != 0) {
        goto failed;
    }

    if (job->fd->cfg.import_slow_ms) {
        usleep((useconds_t) job->fd->cfg.import_slow_ms * 1000);
    }

    if (import_copy_load(conn, &im->batch, im->upsert, im->staged_run == 0, job->id,
                         &counts) != 0
        || import_copy_errors(conn, &im->batch) != 0)
    {
        goto failed;
    }

    im->inserted += counts.inserted;
    im->updated += counts.updated;
    im->errors += counts.errors;

    if (im->staged_run > 0) {
        im->staged_run--;
    } else if (counts.staged) {
        im->staged_run = IMPORT_STAGED_RUN;
    }

    progress = import_progress_json(im, im->batch_end, im->batch_line, 0);
    params[0] = job->id;
    params[1] = progress;
    params[2] = job->worker;

    rc = import_exec_params(conn,
                            "UPDATE jobs SET progress = $2::jsonb, heartbeat_at = now() "
                            "WHERE id = $1 AND worker = $3 AND status = 'processing'",
                            3, params, 1);
    free(progress);

    if (rc < 0) {
        goto failed;
    }

    if (rc == 0) {
        /* cancelled, or taken over after we looked stale: this batch is not ours */
        (void) db_exec(conn, "ROLLBACK");
        im->lost = 1;
        im->processed = save[0];
        im->inserted = save[1];
        im->updated = save[2];
        im->errors = save[3];
        return IMPORT_STOP;
    }

    if (db_exec(conn, "COMMIT") != 0) {
        goto failed;
    }

    im->offset = im->batch_end;
    im->line = im->batch_line;
    import_batch_reset(&im->batch);
    im->batch_rows = 0;

    log_debug(job->worker, "job %s: %ld rows (%ld inserted, %ld updated, %ld bad)",
              job->id, im->processed, im->inserted, im->updated, im->errors);

    return *job->stop ? IMPORT_STOP : IMPORT_GO_ON;

failed:

    log_error(job->worker, "job %s: loading a batch: %s", job->id, PQerrorMessage(conn));
    (void) db_exec(conn, "ROLLBACK");
    im->processed = save[0];
    im->inserted = save[1];
    im->updated = save[2];
    im->errors = save[3];

    return IMPORT_FAIL;
}

static int
import_on_record(void *data, const csv_record_t *rec)
{
    import_t  *im = data;

    if (im->header) {
        im->header = 0;
    } else if (import_record(im, rec) != 0) {
        return IMPORT_FAIL;
    }

    im->batch_end = rec->end;
    im->batch_line = im->csv.line;
    im->batch_rows++;

    if (im->batch.nrows + im->batch.nerrs >= (size_t) im->job->fd->cfg.batch_size
        || im->batch.nrows == im->batch.rows_cap)
    {
        return import_flush(im);
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

        if (s3_store_put(&job->fd->cfg, path, key, err, sizeof(err)) != 0) {
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

    progress = import_progress_json(im, im->offset, im->line, strcmp(status, "done") == 0);

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
                 job->id, status, im->processed, im->inserted, im->updated, im->errors,
                 error ? ": " : "", error ? error : "");
    }
}

void
import_run(job_t *job)
{
    import_t     im;
    cJSON       *params, *progress, *file, *path, *mode;
    char        *buf = NULL, msg[256];
    const char  *spool;
    ssize_t      n;
    int          fd = -1, rc = IMPORT_GO_ON;

    memset(&im, 0, sizeof(im));
    im.job = job;

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
    im.processed = import_progress_num(progress, "processed_rows");
    im.inserted = import_progress_num(progress, "inserted");
    im.updated = import_progress_num(progress, "updated");
    im.errors = import_progress_num(progress, "error_rows");
    im.header = im.offset == 0;
    if (im.line == 0) {
        im.line = 1;
    }
    im.batch_end = im.offset;
    im.batch_line = im.line;

    if (im.offset) {
        log_info(job->worker, "job %s: resuming at line %ld (byte %llu, %ld rows done)",
                 job->id, im.line, im.offset, im.processed);
    }

    fd = open(spool, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(msg, sizeof(msg), "the uploaded file is gone: %s", strerror(errno));
        import_end(&im, "failed", msg, NULL);
        goto done;
    }

    if (lseek(fd, (off_t) im.offset, SEEK_SET) == (off_t) -1
        || import_batch_init(&im.batch, (size_t) job->fd->cfg.batch_size + 1) != 0
        || (buf = malloc(IMPORT_CHUNK)) == NULL)
    {
        import_end(&im, "failed", "out of memory", spool);
        goto done;
    }

    csv_init(&im.csv, (size_t) job->fd->cfg.import_max_field_bytes, im.offset, im.line);

    while ((n = read(fd, buf, IMPORT_CHUNK)) > 0) {
        rc = csv_feed(&im.csv, buf, (size_t) n, import_on_record, &im);

        if (im.csv.nul) {
            snprintf(msg, sizeof(msg),
                     "not a CSV text file (a NUL byte at offset %llu)",
                     (unsigned long long) im.csv.nul_offset);
            /* what came before is kept; the job says why it stopped */
            rc = import_flush(&im);
            if (rc != IMPORT_STOP) {
                import_end(&im, "failed", msg, spool);
            }
            goto done_csv;
        }

        if (rc != IMPORT_GO_ON) {
            break;
        }
    }

    if (n < 0) {
        snprintf(msg, sizeof(msg), "reading the uploaded file: %s", strerror(errno));
        import_end(&im, "failed", msg, spool);
        goto done_csv;
    }

    if (rc == IMPORT_GO_ON) {
        rc = csv_finish(&im.csv, import_on_record, &im);
        im.batch_end = im.csv.offset;
        im.batch_line = im.csv.line;
    }

    if (rc == IMPORT_GO_ON) {
        rc = import_flush(&im);
    }

    if (rc == IMPORT_FAIL) {
        /* a database failure: leave the job to be taken up again */
        log_warn(job->worker, "job %s: stopped at line %ld, to be resumed", job->id, im.line);
        goto done_csv;
    }

    if (rc == IMPORT_STOP) {
        if (!im.lost) {
            /* ferryd is stopping: hand the job back, it resumes at once */
            const char *p[2] = { job->id, job->worker };
            (void) import_exec_params(job->conn,
                "UPDATE jobs SET status = 'pending', worker = NULL "
                "WHERE id = $1 AND worker = $2 AND status = 'processing'", 2, p, 0);
            log_info(job->worker, "job %s: handed back at line %ld", job->id, im.line);
        } else {
            const char *p[1] = { job->id };
            PGresult *res = PQexecParams(job->conn, "SELECT status FROM jobs WHERE id = $1",
                                         1, NULL, p, NULL, NULL, 0);
            if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
                && strcmp(PQgetvalue(res, 0, 0), "cancelled") == 0)
            {
                log_info(job->worker, "job %s cancelled after %ld rows", job->id, im.processed);
                unlink(spool);
            }
            PQclear(res);
        }
        goto done_csv;
    }

    if (im.errors && import_write_report(&im) != 0) {
        import_end(&im, "failed", "cannot write errors.csv", spool);
        goto done_csv;
    }

    import_end(&im, "done", NULL, spool);

done_csv:

    csv_free(&im.csv);

done:

    if (fd != -1) {
        close(fd);
    }
    free(buf);
    import_batch_free(&im.batch);
    cJSON_Delete(params);
    cJSON_Delete(progress);
}

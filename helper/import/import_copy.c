/*
 * Batch loading. A batch's transaction holds only that batch, so a unique
 * violation in the direct COPY rolls back the whole attempt (no savepoint)
 * and the batch goes the staging way. Statements travel together as one
 * simple query: a round trip per COPY plus one, not one per statement.
 */
#include "import_copy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/db_copy.h"
#include "core/jobs.h"

int
import_batch_init(import_batch_t *b, size_t rows)
{
    memset(b, 0, sizeof(*b));

    /* calloc'd pages cost memory only once a batch that large uses them */
    b->rows_cap = rows;
    b->rows = calloc(rows, sizeof(import_row_t));
    b->hash = calloc(rows * 2 + 1, sizeof(uint64_t));

    if (b->rows == NULL || b->hash == NULL) {
        return -1;
    }

    import_batch_reset(b, rows);

    return 0;
}

void
import_batch_reset(import_batch_t *b, size_t rows)
{
    b->text_len = 0;
    b->arena_len = 0;
    b->nrows = 0;
    b->errs_len = 0;
    b->nerrs = 0;
    b->superseded = 0;
    b->hash_size = (rows < b->rows_cap ? rows : b->rows_cap) * 2 + 1;
    memset(b->hash, 0, b->hash_size * sizeof(uint64_t));
}

void
import_batch_free(import_batch_t *b)
{
    free(b->text);
    free(b->arena);
    free(b->rows);
    free(b->errs);
    free(b->hash);
    memset(b, 0, sizeof(*b));
}

static uint64_t
import_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    while (n--) {
        h = (h ^ (unsigned char) *s++) * 1099511628211ULL;
    }

    return h;
}

size_t
import_batch_find(
    import_batch_t *b, const char *email, size_t len, import_slot_t *slot)
{
    uint64_t            h, e;
    size_t              i;
    const import_row_t *r;

    h = import_hash(email, len);
    slot->tag = h & 0xffffffff00000000ULL;
    i = (size_t) (h % b->hash_size);

    /* rows and emails are only looked at when the hash bits match: most
     * probes stay in the table */
    while ((e = b->hash[i]) != 0) {
        if ((e & 0xffffffff00000000ULL) == slot->tag) {
            r = &b->rows[(e & 0xffffffff) - 1];

            if (r->email_len == len
                && memcmp(b->arena + r->email, email, len) == 0) {
                slot->at = &b->hash[i];
                return (size_t) (e & 0xffffffff);
            }
        }
        i = i + 1 == b->hash_size ? 0 : i + 1;
    }

    slot->at = &b->hash[i];

    return 0;
}

void
import_batch_keep(const import_slot_t *slot, size_t row)
{
    *slot->at = slot->tag | (uint64_t) (row + 1);
}

int
import_batch_error(import_batch_t *b, const char *job_id, long line,
    const char *email, size_t email_len, const char *error, const char *raw,
    size_t raw_len)
{
    char num[32];
    int  n;

    n = snprintf(num, sizeof(num), "%ld", line);

    if (db_copy_value(
            &b->errs, &b->errs_len, &b->errs_cap, job_id, strlen(job_id), 0)
        || db_copy_grow(&b->errs, &b->errs_cap, b->errs_len + (size_t) n + 2))
    {
        return -1;
    }

    b->errs[b->errs_len++] = '\t';
    memcpy(b->errs + b->errs_len, num, (size_t) n);
    b->errs_len += (size_t) n;
    b->errs[b->errs_len++] = '\t';

    if (db_copy_value(&b->errs, &b->errs_len, &b->errs_cap, email, email_len, 1)
        || db_copy_grow(&b->errs, &b->errs_cap, b->errs_len + 1))
    {
        return -1;
    }
    b->errs[b->errs_len++] = '\t';

    if (db_copy_value(
            &b->errs, &b->errs_len, &b->errs_cap, error, strlen(error), 0)
        || db_copy_grow(&b->errs, &b->errs_cap, b->errs_len + 1))
    {
        return -1;
    }
    b->errs[b->errs_len++] = '\t';

    if (db_copy_value(&b->errs, &b->errs_len, &b->errs_cap, raw, raw_len, 0)
        || db_copy_grow(&b->errs, &b->errs_cap, b->errs_len + 1))
    {
        return -1;
    }
    b->errs[b->errs_len++] = '\n';
    b->nerrs++;

    return 0;
}

/* The live rows as COPY text, without the rows superseded in the batch. */
static char *
import_rows_text(import_batch_t *b, size_t *len)
{
    size_t i, cap = 0, n = 0;
    char  *buf = NULL;

    for (i = 0; i < b->nrows; i++) {
        import_row_t *r = &b->rows[i];

        if (r->dead) {
            continue;
        }

        if (db_copy_grow(&buf, &cap, n + r->text_len + 1) != 0) {
            free(buf);
            return NULL;
        }

        memcpy(buf + n, b->text + r->text, r->text_len + 1);
        n += r->text_len + 1;
    }

    *len = n;

    return buf ? buf : calloc(1, 1);
}

/* The live rows' COPY text into rows: the batch's own text, or, when rows
 * were superseded inside the batch, a copy without them, in *own (free()
 * it; NULL when none was made). 0, or -1 when out of memory. */
static int
import_live_rows(import_batch_t *b, db_copy_data_t *rows, char **own)
{
    *own = NULL;
    rows->data = b->text;
    rows->len = b->text_len;

    if (b->superseded) {
        *own = import_rows_text(b, &rows->len);
        if (*own == NULL) {
            return -1;
        }
        rows->data = *own;
    }

    return 0;
}

/* clang-format off */
#define IMPORT_STAGE_SQL                                                      \
    "BEGIN;"                                                                  \
    "CREATE TEMP TABLE IF NOT EXISTS import_stage (email text, "              \
    "first_name text, last_name text, phone text, city text) "                \
    "ON COMMIT DELETE ROWS;"                                                  \
    "COPY import_stage FROM STDIN;"
#define IMPORT_COPY_ROWS                                                      \
    "COPY customers (email, first_name, last_name, phone, city) FROM STDIN;"
#define IMPORT_COPY_ERRORS                                                    \
    "COPY import_errors (job_id, line, email, error, raw) FROM STDIN;"
/* clang-format on */

/* Runs the COPYs of sql with the batch's rows (when rows) and bad rows
 * (when b has any; b may be NULL), in that order. */
static int
import_copy_run(PGconn *conn, import_batch_t *b, const char *sql,
    const char *rows, size_t rows_len)
{
    db_copy_data_t data[2];
    char           state[6];
    int            n = 0;

    if (rows) {
        data[n].data = rows;
        data[n++].len = rows_len;
    }
    if (b && b->nerrs) {
        data[n].data = b->errs;
        data[n++].len = b->errs_len;
    }

    if (db_copy_script(conn, sql, data, n, NULL, state) == 0) {
        return IMPORT_LOAD_DONE;
    }

    if (strcmp(state, "23505") == 0) {
        return IMPORT_LOAD_CONFLICT;
    }

    return strcmp(state, JOB_LOST_STATE) == 0 ? IMPORT_LOAD_LOST
                                              : IMPORT_LOAD_FAILED;
}

int
import_copy_begin(PGconn *conn, import_batch_t *b)
{
    db_copy_data_t rows;
    char          *own;
    int            rc;

    if (import_live_rows(b, &rows, &own) != 0) {
        return IMPORT_LOAD_FAILED;
    }

    rc = import_copy_run(conn, NULL,
        b->nrows ? "BEGIN;" IMPORT_COPY_ROWS : "BEGIN",
        b->nrows ? rows.data : NULL, rows.len);

    free(own);

    return rc;
}

int
import_copy_stage(PGconn *conn, import_batch_t *b, int upsert,
    const char *job_id, import_counts_t *counts)
{
    char                state[6], *text;
    size_t              live = 0, i, k;
    import_slot_t       slot;
    int                 rc;
    PGresult           *res;
    const import_row_t *r;
    db_copy_data_t      data;

    memset(counts, 0, sizeof(*counts));

    for (i = 0; i < b->nrows; i++) {
        live += !b->rows[i].dead;
    }

    if (live == 0) {
        return db_exec(conn, "BEGIN") == 0 ? IMPORT_LOAD_DONE
                                           : IMPORT_LOAD_FAILED;
    }

    if (import_live_rows(b, &data, &text) != 0) {
        return IMPORT_LOAD_FAILED;
    }

    /*
     * One query: the rows into the staging table (emptied by every commit
     * or rollback), then the merge, whose rows come back.
     *
     * Upsert: a row whose values are already those of the file is left
     * alone (no new row version, no index entries, updated_at kept): it is
     * counted as updated all the same, the file's values being in place.
     * xmax = 0 marks a new row; counting here rather than with an
     * aggregate over a CTE saves ~15 % of the merge.
     */
    /* clang-format off */
    rc = db_copy_script(conn, upsert
        ? IMPORT_STAGE_SQL
          "INSERT INTO customers (email, first_name, last_name, phone, "
          "city) "
          "SELECT email, first_name, last_name, phone, city "
          "FROM import_stage "
          "ON CONFLICT (email) DO UPDATE SET "
          "first_name = EXCLUDED.first_name, "
          "last_name = EXCLUDED.last_name, phone = EXCLUDED.phone, "
          "city = EXCLUDED.city, updated_at = now() "
          "WHERE (customers.first_name, customers.last_name, "
          "customers.phone, customers.city) "
          "IS DISTINCT FROM (EXCLUDED.first_name, EXCLUDED.last_name, "
          "EXCLUDED.phone, EXCLUDED.city) "
          "RETURNING xmax = 0"
        : IMPORT_STAGE_SQL
          "WITH ins AS (INSERT INTO customers (email, first_name, "
          "last_name, phone, city) "
          "SELECT email, first_name, last_name, phone, city "
          "FROM import_stage "
          "ON CONFLICT (email) DO NOTHING RETURNING email) "
          "SELECT s.email FROM import_stage s LEFT JOIN ins USING (email) "
          "WHERE ins.email IS NULL",
        &data, 1, &res, state);
    /* clang-format on */
    free(text);

    if (rc != 0 || res == NULL) {
        PQclear(res);
        return IMPORT_LOAD_FAILED;
    }

    for (i = 0; i < (size_t) PQntuples(res); i++) {
        if (upsert) {
            counts->inserted += PQgetvalue(res, (int) i, 0)[0] == 't';
            continue;
        }

        /* the batch's emails are unique: a refused one names its row */
        k = import_batch_find(b, PQgetvalue(res, (int) i, 0),
            (size_t) PQgetlength(res, (int) i, 0), &slot);
        if (k == 0) {
            continue;
        }
        r = &b->rows[k - 1];

        if (import_batch_error(b, job_id, r->line, b->arena + r->email,
                r->email_len, "email already exists", b->arena + r->raw,
                r->raw_len)
            != 0)
        {
            PQclear(res);
            return IMPORT_LOAD_FAILED;
        }
        counts->errors++;
    }

    PQclear(res);

    if (upsert) {
        counts->updated = (long) live - counts->inserted;
    } else {
        counts->inserted = (long) live - counts->errors;
    }

    return IMPORT_LOAD_DONE;
}

int
import_copy_commit(PGconn *conn, import_batch_t *b, const char *commit_sql)
{
    char *sql;
    int   rc;

    if (asprintf(
            &sql, "%s%s;COMMIT", b->nerrs ? IMPORT_COPY_ERRORS : "", commit_sql)
        < 0)
    {
        return IMPORT_LOAD_FAILED;
    }

    rc = import_copy_run(conn, b, sql, NULL, 0);
    free(sql);

    return rc;
}

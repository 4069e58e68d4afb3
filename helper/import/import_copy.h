/*
 * Loading one batch of an import into PostgreSQL with COPY: straight into
 * customers when the batch does not conflict (near \copy speed), through a
 * staging table and one set-based INSERT ... ON CONFLICT when it does; the
 * batch's bad rows go to import_errors the same way.
 */
#ifndef FERRY_IMPORT_COPY_H
#define FERRY_IMPORT_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

typedef struct {
    long   line;
    size_t text; /* the row as COPY text (5 columns), in the batch's text */
    size_t text_len;
    size_t email; /* the email (no escapes needed), in the arena */
    size_t email_len;
    size_t raw; /* the CSV text of the row, in the arena */
    size_t raw_len;
    int    dead; /* replaced by a later row (upsert) */
} import_row_t;

typedef struct {
    /* the live rows' COPY text, a newline after each: what the direct
     * COPY sends as it is */
    char  *text;
    size_t text_len;
    size_t text_cap;

    char         *arena;
    size_t        arena_len;
    size_t        arena_cap;
    import_row_t *rows;
    size_t        nrows;
    size_t        rows_cap;

    /* COPY text of the bad rows for import_errors */
    char  *errs;
    size_t errs_len;
    size_t errs_cap;
    long   nerrs;

    /* upsert rows replaced by a later row of the same batch */
    size_t superseded;

    /* email -> row index + 1 (low 32 bits) and hash bits (high 32 bits,
     * compared before any email is), for duplicates inside the batch;
     * sized for the rows the batch is meant to hold, within rows_cap */
    uint64_t *hash;
    size_t    hash_size;
} import_batch_t;

typedef struct {
    long inserted;
    long updated;
    long errors; /* rows refused by the database (insert_only duplicates) */
} import_counts_t;

/* What loading a batch came to. */
enum {
    IMPORT_LOAD_FAILED = -1, /* the error is in PQerrorMessage() */
    IMPORT_LOAD_DONE = 0,
    IMPORT_LOAD_CONFLICT = 1, /* an email was in the table: nothing kept */
    IMPORT_LOAD_LOST = 2      /* commit_sql said the job is not ours */
};

/* rows: the most rows a batch will ever hold. */
int import_batch_init(import_batch_t *b, size_t rows);

/* Empties the batch for up to rows rows (at most its rows_cap). */
void import_batch_reset(import_batch_t *b, size_t rows);
void import_batch_free(import_batch_t *b);

/* Where an email is, or would go, in the batch's hash. */
typedef struct {
    uint64_t *at;
    uint64_t  tag; /* the email's hash bits kept beside its row */
} import_slot_t;

/* The row index + 1 of the batch's row of this email, or 0; the slot
 * either way. */
size_t import_batch_find(
    import_batch_t *b, const char *email, size_t len, import_slot_t *slot);

/* Makes a slot from import_batch_find name row. */
void import_batch_keep(const import_slot_t *slot, size_t row);

/* Adds a bad row; job_id goes into its COPY line. */
int import_batch_error(import_batch_t *b, const char *job_id, long line,
    const char *email, size_t email_len, const char *error, const char *raw,
    size_t raw_len);

/* The fast way: a transaction begun, the live rows straight into
 * customers, and the transaction left open for import_copy_commit; on a
 * conflict (IMPORT_LOAD_CONFLICT) or a failure it is to be rolled back. */
int import_copy_begin(PGconn *conn, import_batch_t *b);

/* The way for a batch that conflicts: staged, then one set-based INSERT ...
 * ON CONFLICT, in a transaction left open for import_copy_commit. Counts
 * what happened; an insert_only duplicate becomes a bad row of the batch. */
int import_copy_stage(PGconn *conn, import_batch_t *b, int upsert,
    const char *job_id, import_counts_t *counts);

/* The batch's bad rows, commit_sql (the job's progress, see
 * job_progress_stmt), and COMMIT: nothing commits when the job is lost
 * (IMPORT_LOAD_LOST). */
int import_copy_commit(PGconn *conn, import_batch_t *b, const char *commit_sql);

#endif

/*
 * Loading one batch of an import into PostgreSQL with COPY: straight into
 * customers when the batch does not conflict (near \copy speed), through a
 * staging table and one set-based INSERT ... ON CONFLICT when it does; the
 * batch's bad rows go to import_errors the same way.
 */
#ifndef FERRY_IMPORT_COPY_H
#define FERRY_IMPORT_COPY_H

#include <stddef.h>
#include <libpq-fe.h>

typedef struct {
    long   line;
    size_t text; /* the row as COPY text (5 columns), in the arena */
    size_t text_len;
    size_t email; /* the email (no escapes needed), in the arena */
    size_t email_len;
    size_t raw; /* the CSV text of the row, in the arena */
    size_t raw_len;
    int    dead; /* replaced by a later row (upsert) */
} import_row_t;

typedef struct {
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

    /* email -> row index + 1, for duplicates inside the batch */
    size_t *hash;
    size_t  hash_size;
} import_batch_t;

typedef struct {
    long inserted;
    long updated;
    long errors; /* rows refused by the database (insert_only duplicates) */
    int  staged; /* the batch conflicted and went through staging */
} import_counts_t;

int  import_batch_init(import_batch_t *b, size_t rows);
void import_batch_reset(import_batch_t *b);
void import_batch_free(import_batch_t *b);

/* Adds a bad row; job_id goes into its COPY line. */
int import_batch_error(import_batch_t *b, const char *job_id, long line,
    const char *email, size_t email_len, const char *error, const char *raw,
    size_t raw_len);

/* Loads the live rows; counts what happened. -1 with the error in conn.
 * direct = 0 skips the straight COPY (the batches before conflicted). */
int import_copy_load(PGconn *conn, import_batch_t *b, int upsert, int direct,
    const char *job_id, import_counts_t *counts);

/* Writes the batch's bad rows to import_errors. */
int import_copy_errors(PGconn *conn, import_batch_t *b);

#endif

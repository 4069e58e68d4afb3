/*
 * Validating CSV records into an import batch: five fields, UTF-8, an
 * address in the email column, duplicates inside the batch. A good row's
 * COPY text goes into the batch's text, a bad row into its errors.
 */
#ifndef FERRY_IMPORT_ROWS_H
#define FERRY_IMPORT_ROWS_H

#include <stddef.h>

#include "import_copy.h"
#include "import_csv.h"

#define IMPORT_COLUMNS 5

typedef struct {
    const char *job_id;
    int         upsert;    /* a later row of the same email wins */
    size_t      max_field; /* IMPORT_MAX_FIELD_BYTES, for the message */
} import_rows_t;

/* 0 the row was added, 1 it was refused and recorded as a bad row, -1 out
 * of memory or the batch has no room for another row. */
int import_rows_add(
    const import_rows_t *ir, import_batch_t *b, const csv_record_t *rec);

#endif

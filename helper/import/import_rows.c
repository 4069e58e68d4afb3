/*
 * Row validation for imports. Bad rows keep their raw text for errors.csv;
 * bytes that are not UTF-8 there become U+FFFD.
 */
#include "import_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry_email.h"
#include "ferry_utf8.h"

#include "core/db_copy.h"

/* The raw text goes into a text column: bytes that are not UTF-8 become
 * U+FFFD, so the report shows where they were. */
static char *
import_raw_text(const csv_record_t *rec, size_t *len)
{
    const unsigned char *s = (const unsigned char *) rec->raw;
    char                *out, *p;
    size_t               i = 0, k;

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

/* Records a bad row: 1, or -1 out of memory. */
static int
import_rows_bad(const import_rows_t *ir, import_batch_t *b,
    const csv_record_t *rec, const char *email, size_t elen, const char *msg)
{
    char  *raw;
    size_t len;
    int    rc;

    if (ferry_utf8_valid((const unsigned char *) rec->raw, rec->raw_len)) {
        return import_batch_error(b, ir->job_id, rec->line, email, elen, msg,
                   rec->raw, rec->raw_len)
                == 0
            ? 1
            : -1;
    }

    raw = import_raw_text(rec, &len);
    if (raw == NULL) {
        return -1;
    }

    rc = import_batch_error(
        b, ir->job_id, rec->line, email, elen, msg, raw, len);
    free(raw);

    return rc == 0 ? 1 : -1;
}

static int
import_arena(import_batch_t *b, const char *s, size_t n, size_t *off)
{
    char  *a;
    size_t cap;

    if (b->arena_len + n > b->arena_cap) {
        for (cap = b->arena_cap ? b->arena_cap : 65536; cap < b->arena_len + n;
             cap *= 2)
        {
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

int
import_rows_add(
    const import_rows_t *ir, import_batch_t *b, const csv_record_t *rec)
{
    char          email[256], err[128];
    size_t        i, elen, prev;
    import_slot_t slot;
    import_row_t *row;
    size_t        tlen;

    if (rec->nfields != IMPORT_COLUMNS) {
        snprintf(err, sizeof(err), "expected %d fields, found %d",
            IMPORT_COLUMNS, rec->nfields);
        return import_rows_bad(ir, b, rec, rec->field[0],
            ferry_utf8_valid((const unsigned char *) rec->field[0], rec->len[0])
                ? rec->len[0]
                : 0,
            err);
    }

    for (i = 0; i < IMPORT_COLUMNS; i++) {
        if (!ferry_utf8_valid(
                (const unsigned char *) rec->field[i], rec->len[i])) {
            return import_rows_bad(ir, b, rec, "", 0, "invalid UTF-8");
        }
    }

    if (rec->too_long) {
        snprintf(err, sizeof(err),
            "a field is longer than %zu bytes (IMPORT_MAX_FIELD_BYTES)",
            ir->max_field);
        return import_rows_bad(ir, b, rec, rec->field[0], rec->len[0], err);
    }

    if (rec->bad_quote) {
        return import_rows_bad(
            ir, b, rec, rec->field[0], rec->len[0], "malformed quoting");
    }

    if (rec->len[0] == 0) {
        return import_rows_bad(ir, b, rec, "", 0, "email is required");
    }

    if (rec->len[0] >= sizeof(email)) {
        return import_rows_bad(
            ir, b, rec, rec->field[0], rec->len[0], "invalid email");
    }

    memcpy(email, rec->field[0], rec->len[0]);
    email[rec->len[0]] = '\0';

    if (ferry_email_normalize(email, email) != 0) {
        return import_rows_bad(
            ir, b, rec, rec->field[0], rec->len[0], "invalid email");
    }

    elen = strlen(email);

    prev = import_batch_find(b, email, elen, &slot);

    if (prev && !ir->upsert) {
        /* the first occurrence stays the one recorded */
        snprintf(err, sizeof(err), "duplicate email (first on line %ld)",
            b->rows[prev - 1].line);
        return import_rows_bad(ir, b, rec, email, elen, err);
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

    /* the row's COPY text straight into the batch's text */

    row = &b->rows[b->nrows];
    memset(row, 0, sizeof(*row));
    row->line = rec->line;
    row->text = b->text_len;

    if (db_copy_value(&b->text, &b->text_len, &b->text_cap, email, elen, 0)
        != 0) {
        return -1;
    }

    for (i = 1; i < IMPORT_COLUMNS; i++) {
        /* db_copy_value leaves room for the separator after the value */
        b->text[b->text_len++] = '\t';
        if (db_copy_value(&b->text, &b->text_len, &b->text_cap, rec->field[i],
                rec->len[i], 1)
            != 0)
        {
            return -1;
        }
    }

    tlen = b->text_len - row->text;
    b->text[b->text_len++] = '\n';

    if (import_arena(b, email, elen, &row->email) != 0
        || import_arena(b, rec->raw, rec->raw_len, &row->raw) != 0)
    {
        return -1;
    }

    import_batch_keep(&slot, b->nrows);
    row->text_len = tlen;
    row->email_len = elen;
    row->raw_len = rec->raw_len;
    b->nrows++;

    return 0;
}

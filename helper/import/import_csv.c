/*
 * CSV reading. Field values are unescaped into one buffer and the raw text
 * kept beside it; both are reused from record to record.
 */
#include "import_csv.h"

#include <stdlib.h>
#include <string.h>

enum {
    CSV_FIELD_START = 0,
    CSV_UNQUOTED,
    CSV_QUOTED,
    CSV_QUOTE_IN_QUOTED, /* a quote inside quotes: the end, or "" */
    CSV_CR               /* a CR outside quotes: CRLF or a lone CR */
};

void
csv_init(csv_t *csv, size_t max_field, uint64_t offset, long line)
{
    memset(csv, 0, sizeof(*csv));
    csv->max_field = max_field;
    csv->offset = offset;
    csv->line = line;
    csv->rec_line = line;
    csv->bom = offset == 0;
}

void
csv_free(csv_t *csv)
{
    free(csv->vals);
    free(csv->raw);
    memset(csv, 0, sizeof(*csv));
}

static int
csv_grow(char **buf, size_t *cap, size_t need)
{
    size_t n;
    char  *b;

    if (need <= *cap) {
        return 0;
    }

    n = *cap ? *cap : 256;
    while (n < need) {
        n *= 2;
    }

    b = realloc(*buf, n);
    if (b == NULL) {
        return -1;
    }

    *buf = b;
    *cap = n;

    return 0;
}

static int
csv_put(csv_t *csv, char c)
{
    if (csv->cur_len >= csv->max_field) {
        csv->too_long = 1;
        return 0;
    }

    if (csv_grow(&csv->vals, &csv->vals_cap, csv->vals_len + 1) != 0) {
        return -1;
    }

    csv->vals[csv->vals_len++] = c;
    csv->cur_len++;

    return 0;
}

static int
csv_raw(csv_t *csv, char c)
{
    /* the raw text only serves errors.csv: cut it at four field lengths */
    if (csv->raw_len >= 4 * csv->max_field + 64) {
        return 0;
    }

    if (csv_grow(&csv->raw, &csv->raw_cap, csv->raw_len + 1) != 0) {
        return -1;
    }

    csv->raw[csv->raw_len++] = c;

    return 0;
}

/* Runs of plain bytes, copied whole: n bytes of the current field, and of
 * the raw text. */
static int
csv_put_run(csv_t *csv, const char *s, size_t n)
{
    size_t k, room;

    room = csv->max_field - csv->cur_len;
    k = n < room ? n : room;
    if (k < n) {
        csv->too_long = 1;
    }

    if (csv_grow(&csv->vals, &csv->vals_cap, csv->vals_len + k) != 0) {
        return -1;
    }

    memcpy(csv->vals + csv->vals_len, s, k);
    csv->vals_len += k;
    csv->cur_len += k;

    room = 4 * csv->max_field + 64 - csv->raw_len;
    k = n < room ? n : room;

    if (csv_grow(&csv->raw, &csv->raw_cap, csv->raw_len + k) != 0) {
        return -1;
    }

    memcpy(csv->raw + csv->raw_len, s, k);
    csv->raw_len += k;

    return 0;
}

/* The bytes that end a run: in an unquoted field, and in a quoted one. */
#define CSV_STOP_UNQUOTED 1
#define CSV_STOP_QUOTED   2

static const unsigned char csv_stop[256] = {
    ['\0'] = CSV_STOP_UNQUOTED | CSV_STOP_QUOTED,
    [','] = CSV_STOP_UNQUOTED,
    ['\r'] = CSV_STOP_UNQUOTED,
    ['\n'] = CSV_STOP_UNQUOTED | CSV_STOP_QUOTED,
    ['"'] = CSV_STOP_QUOTED,
};

/* The length of the run of bytes from p that no byte of stop ends. */
static size_t
csv_run(const char *p, size_t n, unsigned char stop)
{
    const unsigned char *u = (const unsigned char *) p;
    size_t               i = 0;

    while (i + 4 <= n
        && !((csv_stop[u[i]] | csv_stop[u[i + 1]] | csv_stop[u[i + 2]]
                 | csv_stop[u[i + 3]])
            & stop))
    {
        i += 4;
    }

    while (i < n && !(csv_stop[u[i]] & stop)) {
        i++;
    }

    return i;
}

static void
csv_end_field(csv_t *csv)
{
    if (csv->nfields < CSV_MAX_FIELDS) {
        csv->flen[csv->nfields] = csv->cur_len;
        csv->fstart[csv->nfields] = csv->vals_len - csv->cur_len;
    }

    csv->nfields++;
    csv->cur_len = 0;
}

static int
csv_end_record(csv_t *csv, csv_record_pt cb, void *data, uint64_t end)
{
    csv_record_t rec;
    int          i, rc;

    csv_end_field(csv);

    rec.nfields = csv->nfields;
    for (i = 0; i < csv->nfields && i < CSV_MAX_FIELDS; i++) {
        /* no byte of any field yet: nothing allocated, and NULL + 0 is
         * not a pointer C allows */
        rec.field[i] = csv->vals ? csv->vals + csv->fstart[i] : "";
        rec.len[i] = csv->flen[i];
    }
    rec.line = csv->rec_line;
    rec.raw = csv->raw ? csv->raw : "";
    rec.raw_len = csv->raw_len;
    rec.too_long = csv->too_long;
    rec.bad_quote = csv->bad_quote;
    rec.end = end;

    rc = cb(data, &rec);

    csv->vals_len = 0;
    csv->raw_len = 0;
    csv->nfields = 0;
    csv->cur_len = 0;
    csv->too_long = 0;
    csv->bad_quote = 0;
    csv->any = 0;
    csv->rec_line = csv->line;

    return rc;
}

int
csv_feed(csv_t *csv, const char *p, size_t n, csv_record_pt cb, void *data)
{
    size_t i, run;
    char   c;
    int    rc;

    for (i = 0; i < n; i++) {
        c = p[i];

        if (csv->bom) {
            /* EF BB BF at the very start is not data */
            static const char bom[3] = { '\xef', '\xbb', '\xbf' };
            uint64_t          k = csv->offset;

            if (k < 3 && c == bom[k]) {
                csv->offset++;
                if (k == 2) {
                    csv->bom = 0;
                }
                continue;
            }

            csv->bom = 0;

            if (k > 0) {
                /* a partial BOM was data after all */
                size_t j;
                for (j = 0; j < k; j++) {
                    if (csv_put(csv, bom[j]) != 0 || csv_raw(csv, bom[j]) != 0)
                    {
                        return -1;
                    }
                }
                csv->state = CSV_UNQUOTED;
                csv->any = 1;
            }
        }

        if (c == '\0') {
            csv->nul = 1;
            csv->nul_offset = csv->offset;
            return 0;
        }

        csv->offset++;

        if (csv->state == CSV_CR) {
            /* the record ended at a CR: it runs to the LF when one follows */
            csv->state = CSV_FIELD_START;

            if (csv->any) {
                rc = csv_end_record(
                    csv, cb, data, c == '\n' ? csv->offset : csv->offset - 1);
                if (rc != 0) {
                    return rc;
                }
            }

            csv->rec_line = csv->line;

            if (c == '\n') {
                continue;
            }
        }

        switch (csv->state) {

        case CSV_FIELD_START:
            if (c == '"') {
                csv->state = CSV_QUOTED;
                csv->any = 1;
                if (csv_raw(csv, c) != 0) {
                    return -1;
                }
                continue;
            }
            csv->state = CSV_UNQUOTED;
            /* fall through */

        case CSV_UNQUOTED:
            if (c == ',') {
                csv_end_field(csv);
                csv->state = CSV_FIELD_START;
                csv->any = 1;
                if (csv_raw(csv, c) != 0) {
                    return -1;
                }
                continue;
            }

            if (c == '\r') {
                csv->line++;
                csv->state = CSV_CR;
                continue;
            }

            if (c == '\n') {
                csv->line++;
                csv->state = CSV_FIELD_START;

                if (!csv->any) {
                    /* a blank line is no record */
                    csv->rec_line = csv->line;
                    continue;
                }

                rc = csv_end_record(csv, cb, data, csv->offset);
                if (rc != 0) {
                    return rc;
                }
                continue;
            }

            /* the field's bytes up to the next comma or line end at once */
            run = 1 + csv_run(p + i + 1, n - i - 1, CSV_STOP_UNQUOTED);
            csv->any = 1;
            if (csv_put_run(csv, p + i, run) != 0) {
                return -1;
            }
            csv->offset += run - 1;
            i += run - 1;
            continue;

        case CSV_QUOTED:
            if (c == '"') {
                if (csv_raw(csv, c) != 0) {
                    return -1;
                }
                csv->state = CSV_QUOTE_IN_QUOTED;
                continue;
            }
            if (c == '\n') {
                csv->line++;
            }
            run = 1 + csv_run(p + i + 1, n - i - 1, CSV_STOP_QUOTED);
            if (csv_put_run(csv, p + i, run) != 0) {
                return -1;
            }
            csv->offset += run - 1;
            i += run - 1;
            continue;

        case CSV_QUOTE_IN_QUOTED:
            if (c == '"') {
                csv->state = CSV_QUOTED;
                if (csv_put(csv, c) != 0 || csv_raw(csv, c) != 0) {
                    return -1;
                }
                continue;
            }

            if (c == ',' || c == '\n' || c == '\r') {
                csv->state = CSV_UNQUOTED;
                i--;
                csv->offset--;
                continue;
            }

            /* "ab"c: keep the text, remember the row is malformed */
            csv->bad_quote = 1;
            csv->state = CSV_UNQUOTED;
            if (csv_put(csv, c) != 0 || csv_raw(csv, c) != 0) {
                return -1;
            }
            continue;
        }
    }

    return 0;
}

int
csv_finish(csv_t *csv, csv_record_pt cb, void *data)
{
    if (csv->nul) {
        return 0;
    }

    if (csv->state == CSV_QUOTED) {
        /* an unterminated quote runs to the end of the file */
        csv->bad_quote = 1;
    }

    if (csv->any) {
        csv->state = CSV_FIELD_START;
        return csv_end_record(csv, cb, data, csv->offset);
    }

    return 0;
}

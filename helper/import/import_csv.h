/*
 * A streaming RFC 4180 CSV reader for imports: fed the file in chunks of
 * any size, it hands over one record at a time with its line number, its
 * raw text (for errors.csv) and the byte offset just past it (where a
 * resumed import starts again). Memory is bounded by the longest record.
 */
#ifndef FERRY_IMPORT_CSV_H
#define FERRY_IMPORT_CSV_H

#include <stddef.h>
#include <stdint.h>

#define CSV_MAX_FIELDS 64

typedef struct {
    const char *field[CSV_MAX_FIELDS];
    size_t      len[CSV_MAX_FIELDS];
    int         nfields; /* fields seen, even past CSV_MAX_FIELDS */
    long        line;    /* line number where the record starts */
    const char *raw;     /* the record as written, without its newline */
    size_t      raw_len;
    int         too_long;  /* a field was over the limit (and cut) */
    int         bad_quote; /* text after a closing quote */
    uint64_t    end;       /* offset just past the record */
} csv_record_t;

/* returns 0 to go on, anything else stops csv_feed with that value */
typedef int (*csv_record_pt)(void *data, const csv_record_t *rec);

typedef struct {
    size_t   max_field;
    int      state;
    int      bom;    /* still looking for a UTF-8 BOM */
    uint64_t offset; /* bytes seen */
    long     line;   /* current physical line */
    long     rec_line;

    /* the current record: unescaped field values, and the raw text */
    char    *vals;
    size_t   vals_len;
    size_t   vals_cap;
    char    *raw;
    size_t   raw_len;
    size_t   raw_cap;
    size_t   fstart[CSV_MAX_FIELDS];
    size_t   flen[CSV_MAX_FIELDS];
    int      nfields;
    size_t   cur_len; /* bytes of the field being read */
    int      too_long;
    int      bad_quote;
    int      any; /* the record has at least one byte */
    int      nul; /* a NUL byte was seen: not a text file */
    uint64_t nul_offset;
} csv_t;

/* offset/line: where reading starts (0/1 for a whole file; a resumed
 * import passes what it committed). A BOM is skipped at offset 0 only. */
void csv_init(csv_t *csv, size_t max_field, uint64_t offset, long line);
void csv_free(csv_t *csv);

/* -1 out of memory; the callback's non-zero return; 0 otherwise. A NUL
 * byte stops reading (csv->nul is set): binary files are not imported. */
int csv_feed(csv_t *csv, const char *p, size_t n, csv_record_pt cb, void *data);

/* The end of the file: a last record without a newline is handed over. */
int csv_finish(csv_t *csv, csv_record_pt cb, void *data);

#endif

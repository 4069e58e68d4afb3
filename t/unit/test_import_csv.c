/*
 * The import CSV reader: RFC 4180 quoting, CRLF and LF, BOM, blank lines,
 * line numbers across quoted newlines, over-long fields, resume offsets, a
 * NUL byte; the same records whatever the chunking.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "import/import_csv.h"

typedef struct {
    char   out[8192]; /* "line|end|f1|f2|...|raw=...\n" per record */
    size_t len;
    int    stop_after;
    int    count;
} sink_t;

static int
collect(void *data, const csv_record_t *r)
{
    sink_t *s = data;
    int     i;

    s->len += (size_t) snprintf(s->out + s->len, sizeof(s->out) - s->len,
        "%ld|%llu|%d", r->line, (unsigned long long) r->end, r->nfields);
    for (i = 0; i < r->nfields && i < CSV_MAX_FIELDS; i++) {
        s->len += (size_t) snprintf(s->out + s->len, sizeof(s->out) - s->len,
            "|%.*s", (int) r->len[i], r->field[i]);
    }
    s->len += (size_t) snprintf(s->out + s->len, sizeof(s->out) - s->len,
        "|raw=%.*s%s%s\n", (int) r->raw_len, r->raw, r->too_long ? "|LONG" : "",
        r->bad_quote ? "|BADQ" : "");
    s->count++;
    return s->stop_after && s->count == s->stop_after ? 7 : 0;
}

static void
run(const char *text, size_t len, size_t chunk, size_t split, size_t max_field,
    sink_t *s)
{
    csv_t  csv;
    size_t i, n;

    memset(s, 0, sizeof(*s));
    csv_init(&csv, max_field, 0, 1);

    if (split) {
        assert_int_equal(csv_feed(&csv, text, split, collect, s), 0);
        assert_int_equal(
            csv_feed(&csv, text + split, len - split, collect, s), 0);
    } else {
        for (i = 0; i < len; i += n) {
            n = len - i < chunk ? len - i : chunk;
            assert_int_equal(csv_feed(&csv, text + i, n, collect, s), 0);
        }
    }

    assert_int_equal(csv_finish(&csv, collect, s), 0);
    csv_free(&csv);
}

static void
check_all_splits(const char *text, size_t max_field, const char *expect)
{
    sink_t s;
    size_t len = strlen(text), k;

    run(text, len, len, 0, max_field, &s);
    assert_string_equal(s.out, expect);

    for (k = 1; k < len; k++) {
        run(text, len, 0, k, max_field, &s);
        assert_string_equal(s.out, expect);
    }

    run(text, len, 1, 0, max_field, &s);
    assert_string_equal(s.out, expect);
}

static void
test_csv_quoted_fields_commas_quotes_newlines(void **state)
{
    (void) state;
    check_all_splits("email,city\n"
                     "a@b.c,\"Paris, France\"\n"
                     "\"q\"\"uote@b.c\",\"two\nlines\"\n"
                     "last@b.c,end\n",
        100,
        "1|11|2|email|city|raw=email,city\n"
        "2|33|2|a@b.c|Paris, France|raw=a@b.c,\"Paris, France\"\n"
        "3|59|2|q\"uote@b.c|two\nlines|raw=\"q\"\"uote@b.c\",\"two\nlines\"\n"
        "5|72|2|last@b.c|end|raw=last@b.c,end\n");
}

static void
test_csv_crlf_bom_blank_lines_and_no_final_newline(void **state)
{
    (void) state;
    check_all_splits("\xef\xbb\xbf"
                     "email,x\r\n"
                     "\r\n"
                     "a@b.c,1\r\n"
                     "\n"
                     "b@b.c,\"2\r\n3\"\r\n"
                     "c@b.c,",
        100,
        "1|12|2|email|x|raw=email,x\n"
        "3|23|2|a@b.c|1|raw=a@b.c,1\n"
        "5|38|2|b@b.c|2\r\n3|raw=b@b.c,\"2\r\n3\"\n"
        "7|44|2|c@b.c||raw=c@b.c,\n");
}

static void
test_csv_short_long_rows_and_lone_cr(void **state)
{
    (void) state;
    check_all_splits("a\rb,c,d\n,\n", 100,
        "1|2|1|a|raw=a\n"
        "2|8|3|b|c|d|raw=b,c,d\n"
        "3|10|2|||raw=,\n");
}

static void
test_csv_field_too_long_and_bad_quote(void **state)
{
    (void) state;
    check_all_splits("abcdefgh,ok\n\"ab\"cd,x\n\"open,", 4,
        "1|12|2|abcd|ok|raw=abcdefgh,ok|LONG\n"
        "2|21|2|abcd|x|raw=\"ab\"cd,x|BADQ\n"
        "3|27|1|open|raw=\"open,|LONG|BADQ\n");
}

static void
test_csv_quote_inside_unquoted_field_and_long_quoted_field(void **state)
{
    (void) state;
    check_all_splits("x\"y,\"abcdefgh\"\n", 4,
        "1|15|2|x\"y|abcd|raw=x\"y,\"abcdefgh\"|LONG\n");
}

/* The raw text of a record stops at four field lengths and 64 bytes,
 * wherever the chunks end. */
static void
test_csv_raw_text_cut_at_its_limit(void **state)
{
    char text[128], expect[256];

    (void) state;
    memset(text, 'a', 100);
    strcpy(text + 100, "\n");
    snprintf(expect, sizeof(expect), "1|101|1|aaaa|raw=%.80s|LONG\n", text);
    check_all_splits(text, 4, expect);
}

/* Reading again from a record's end offset gives the records after it. */
static void
test_csv_resume_from_offset(void **state)
{
    const char *text = "h1,h2\r\na,1\r\n\"b\nc\",2\r\nd,3\r\n";
    sink_t      s;
    csv_t       csv;

    (void) state;
    memset(&s, 0, sizeof(s));
    csv_init(&csv, 100, 12, 3);
    assert_int_equal(
        csv_feed(&csv, text + 12, strlen(text) - 12, collect, &s), 0);
    assert_int_equal(csv_finish(&csv, collect, &s), 0);
    csv_free(&csv);
    assert_string_equal(s.out,
        "3|21|2|b\nc|2|raw=\"b\nc\",2\n"
        "5|26|2|d|3|raw=d,3\n");

    /* the BOM is only looked for at offset 0 */
    memset(&s, 0, sizeof(s));
    csv_init(&csv, 100, 5, 2);
    assert_int_equal(csv_feed(&csv, "\xef\xbb\xbfx\n", 5, collect, &s), 0);
    csv_free(&csv);
    assert_int_equal(s.count, 1);
}

static void
test_csv_nul_byte_stops(void **state)
{
    sink_t s;
    csv_t  csv;

    (void) state;
    memset(&s, 0, sizeof(s));
    csv_init(&csv, 100, 0, 1);
    assert_int_equal(
        csv_feed(&csv, "a,b\nPK\x03\x04\0\0junk\n", 15, collect, &s), 0);
    assert_int_equal(csv_finish(&csv, collect, &s), 0);
    assert_true(csv.nul);
    assert_int_equal(csv.nul_offset, 8);
    assert_int_equal(s.count, 1);
    csv_free(&csv);
}

static void
test_csv_callback_stops(void **state)
{
    sink_t s;
    csv_t  csv;

    (void) state;
    memset(&s, 0, sizeof(s));
    s.stop_after = 2;
    csv_init(&csv, 100, 0, 1);
    assert_int_equal(csv_feed(&csv, "a\nb\nc\n", 6, collect, &s), 7);
    assert_int_equal(s.count, 2);
    csv_free(&csv);
}

static void
test_csv_many_fields(void **state)
{
    char   line[512];
    sink_t s;
    int    i, n = 0;

    (void) state;
    for (i = 0; i < 70; i++) {
        n += sprintf(line + n, "%s%d", i ? "," : "", i);
    }
    line[n++] = '\n';
    line[n] = '\0';
    run(line, (size_t) n, (size_t) n, 0, 100, &s);
    assert_non_null(strstr(s.out, "1|"));
    assert_non_null(strstr(s.out, "|70|0|1|"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_quoted_fields_commas_quotes_newlines),
        cmocka_unit_test(test_csv_crlf_bom_blank_lines_and_no_final_newline),
        cmocka_unit_test(test_csv_short_long_rows_and_lone_cr),
        cmocka_unit_test(test_csv_field_too_long_and_bad_quote),
        cmocka_unit_test(
            test_csv_quote_inside_unquoted_field_and_long_quoted_field),
        cmocka_unit_test(test_csv_raw_text_cut_at_its_limit),
        cmocka_unit_test(test_csv_resume_from_offset),
        cmocka_unit_test(test_csv_nul_byte_stops),
        cmocka_unit_test(test_csv_callback_stops),
        cmocka_unit_test(test_csv_many_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

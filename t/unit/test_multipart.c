/*
 * The streaming multipart parser: the same bodies fed in every possible
 * split (two chunks at every position, three chunks, one byte at a time)
 * must give the same parts and bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ferry_multipart.h"

typedef struct {
    char        names[512]; /* "name|filename|type;" for each part seen */
    char        out[8192];  /* bytes of the wanted part(s) */
    size_t      outlen;
    int         ends;
    int         calls;
    const char *want;
} sink_t;

static int
on_part(void *data, const ferry_mp_part_t *part)
{
    sink_t *s = data;
    size_t  n = strlen(s->names);

    snprintf(s->names + n, sizeof(s->names) - n, "%s|%s|%s;", part->name,
        part->has_filename ? part->filename : "-", part->content_type);
    return strcmp(part->name, s->want) == 0;
}

static int
on_data(void *data, const unsigned char *p, size_t n)
{
    sink_t *s = data;

    assert_true(n > 0);
    assert_true(s->outlen + n <= sizeof(s->out));
    memcpy(s->out + s->outlen, p, n);
    s->outlen += n;
    s->calls++;
    return 0;
}

static int
on_end(void *data)
{
    ((sink_t *) data)->ends++;
    return 0;
}

static const ferry_mp_callbacks_t CB = { on_part, on_data, on_end };

/* Feeds body split at the given cut points; returns finish()'s result. */
static ferry_mp_rc_t
run(const char *boundary, const char *body, size_t len, const size_t *cuts,
    size_t ncuts, const char *want, sink_t *s)
{
    ferry_mp_t    mp;
    size_t        prev = 0, i;
    ferry_mp_rc_t rc;

    memset(s, 0, sizeof(*s));
    s->want = want;
    ferry_mp_init(&mp, boundary, strlen(boundary), &CB, s);

    for (i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        rc =
            ferry_mp_feed(&mp, (const unsigned char *) body + prev, end - prev);
        if (rc != FERRY_MP_OK) {
            return rc;
        }
        prev = end;
    }

    return ferry_mp_finish(&mp);
}

/* Every split into two and three chunks, and byte by byte, agree with the
 * whole body fed at once. */
static void
check_all_splits(const char *boundary, const char *body, const char *want,
    const char *expect_names, const char *expect, size_t expect_len)
{
    sink_t s;
    size_t len = strlen(body), a, b, cuts[8192];

    assert_int_equal(run(boundary, body, len, NULL, 0, want, &s), FERRY_MP_OK);
    assert_string_equal(s.names, expect_names);
    assert_int_equal(s.outlen, expect_len);
    assert_memory_equal(s.out, expect, expect_len);
    assert_int_equal(s.ends, 1);

    for (a = 1; a < len; a++) {
        cuts[0] = a;
        assert_int_equal(
            run(boundary, body, len, cuts, 1, want, &s), FERRY_MP_OK);
        assert_string_equal(s.names, expect_names);
        assert_int_equal(s.outlen, expect_len);
        assert_memory_equal(s.out, expect, expect_len);
        assert_int_equal(s.ends, 1);
    }

    for (a = 1; a < len; a += 3) {
        for (b = a + 1; b < len; b += 2) {
            cuts[0] = a;
            cuts[1] = b;
            assert_int_equal(
                run(boundary, body, len, cuts, 2, want, &s), FERRY_MP_OK);
            assert_int_equal(s.outlen, expect_len);
            assert_memory_equal(s.out, expect, expect_len);
        }
    }

    for (a = 1; a < len; a++) {
        cuts[a - 1] = a;
    }
    assert_int_equal(
        run(boundary, body, len, cuts, len - 1, want, &s), FERRY_MP_OK);
    assert_string_equal(s.names, expect_names);
    assert_int_equal(s.outlen, expect_len);
    assert_memory_equal(s.out, expect, expect_len);
}

static void
test_multipart_file_among_fields_in_every_split(void **state)
{
    const char *body =
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"mode\"\r\n"
        "\r\n"
        "upsert\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"file\"; "
        "filename=\"people.csv\"\r\n"
        "Content-Type: text/csv\r\n"
        "\r\n"
        "email,city\r\na@b.c,\"X\r\n--XyY\"\r\n\r\n-\r\r\n--Xy\r\n"
        "\r\n"
        "--XyZ\r\n"
        "content-disposition: form-data; name=\"note\"\r\n"
        "\r\n"
        "hi\r\n"
        "--XyZ--\r\n"
        "epilogue is ignored";
    const char *file =
        "email,city\r\na@b.c,\"X\r\n--XyY\"\r\n\r\n-\r\r\n--Xy\r\n";

    (void) state;
    check_all_splits("XyZ", body, "file",
        "mode|-|;file|people.csv|text/csv;note|-|;", file, strlen(file));
}

static void
test_multipart_lf_only_and_preamble(void **state)
{
    const char *body =
        "this is a preamble\n"
        "--b0\n"
        "Content-Disposition: form-data; name=file; filename=x.bin\n"
        "\n"
        "line1\nline2\r\n"
        "--b0--\n";

    (void) state;
    check_all_splits("b0", body, "file", "file|x.bin|;", "line1\nline2", 11);
}

static void
test_multipart_empty_file_and_padding(void **state)
{
    const char *body =
        "--B \t\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"e.csv\"\r\n"
        "\r\n"
        "\r\n"
        "--B--";

    (void) state;
    check_all_splits("B", body, "file", "file|e.csv|;", "", 0);
}

static void
test_multipart_quoted_params(void **state)
{
    const char *body =
        "--q\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"a "
        "\\\"b\\\"; c=d.csv\"\r\n"
        "\r\n"
        "x\r\n"
        "--q\r\n"
        "Content-Disposition: form-data; name=\"f2\"; filename=\"plain.csv\"; "
        "filename*=UTF-8''%D1%84.csv\r\n"
        "\r\n"
        "y\r\n"
        "--q--\r\n";
    sink_t s;

    (void) state;
    assert_int_equal(
        run("q", body, strlen(body), NULL, 0, "file", &s), FERRY_MP_OK);
    assert_string_equal(s.names, "file|a \"b\"; c=d.csv|;f2|\xd1\x84.csv|;");
    assert_int_equal(s.outlen, 1);
}

/* Large data with many newlines comes out in few callbacks, not one per line.
 */
static void
test_multipart_bulk_data_few_callbacks(void **state)
{
    char        *body;
    size_t       n = 0, i;
    sink_t       s;
    const size_t lines = 300;

    (void) state;
    body = malloc(16384);
    n += (size_t) sprintf(body + n,
        "--zz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n");
    for (i = 0; i < lines; i++) {
        n += (size_t) sprintf(body + n, "a@b.c,%zu\r\n", i);
    }
    n += (size_t) sprintf(body + n, "\r\n--zz--\r\n");
    assert_int_equal(run("zz", body, n, NULL, 0, "file", &s), FERRY_MP_OK);
    assert_int_equal(s.calls, 1);
    free(body);
}

/* A chunk ending in all of a delimiter but its last byte, a CR before it:
 * the next feed hands over those held bytes too, FERRY_MP_HELD_MAX at most
 * (ferry_upload sizes its buffers by it). */
static void
test_multipart_feed_hands_over_at_most_held_max_more(void **state)
{
    char          b[FERRY_MP_BOUNDARY_MAX + 1], body[512];
    size_t        n = 0, head, before;
    sink_t        s;
    ferry_mp_t    mp;
    unsigned char x = 'x';

    (void) state;
    memset(b, 'b', FERRY_MP_BOUNDARY_MAX);
    b[FERRY_MP_BOUNDARY_MAX] = '\0';
    n += (size_t) sprintf(body + n,
        "--%s\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n", b);
    head = n;
    n += (size_t) sprintf(body + n, "\r\n--%.*s", FERRY_MP_BOUNDARY_MAX - 1, b);

    memset(&s, 0, sizeof(s));
    s.want = "file";
    ferry_mp_init(&mp, b, strlen(b), &CB, &s);
    assert_int_equal(
        ferry_mp_feed(&mp, (const unsigned char *) body, n), FERRY_MP_OK);
    assert_int_equal(s.outlen, 0);
    assert_int_equal(n - head, FERRY_MP_HELD_MAX);

    before = s.outlen;
    assert_int_equal(ferry_mp_feed(&mp, &x, 1), FERRY_MP_OK);
    assert_int_equal(s.outlen - before, 1 + FERRY_MP_HELD_MAX);
    assert_memory_equal(s.out, body + head, FERRY_MP_HELD_MAX);
}

static void
test_multipart_truncated_body_is_an_error(void **state)
{
    const char *body = "--B\r\nContent-Disposition: form-data; "
                       "name=\"file\"\r\n\r\nabc\r\n--B";
    sink_t      s;

    (void) state;
    assert_int_equal(
        run("B", body, strlen(body), NULL, 0, "file", &s), FERRY_MP_ERROR);
    assert_int_equal(run("B", "", 0, NULL, 0, "file", &s), FERRY_MP_ERROR);
    assert_int_equal(run("B", "no boundary at all", 18, NULL, 0, "file", &s),
        FERRY_MP_ERROR);
}

static void
test_multipart_malformed_headers(void **state)
{
    sink_t      s;
    char        big[FERRY_MP_LINE_MAX + 64];
    const char *nocolon =
        "--B\r\nContent-Disposition form-data\r\n\r\nx\r\n--B--";
    const char *badline = "--Bx\r\n\r\n--B--";

    (void) state;
    assert_int_equal(run("B", nocolon, strlen(nocolon), NULL, 0, "file", &s),
        FERRY_MP_ERROR);
    assert_int_equal(run("B", badline, strlen(badline), NULL, 0, "file", &s),
        FERRY_MP_ERROR);

    strcpy(big, "--B\r\nX-Long: ");
    memset(big + strlen(big), 'a', FERRY_MP_LINE_MAX);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(
        run("B", big, strlen(big), NULL, 0, "file", &s), FERRY_MP_ERROR);
}

static void
test_multipart_long_filename_is_shortened(void **state)
{
    char   body[2048], name[600], expect[512];
    sink_t s;
    size_t i;

    (void) state;

    /* 300 bytes of ASCII: the first 255 are kept */
    memset(name, 'n', 296);
    memcpy(name + 296, ".csv", 5);
    snprintf(body, sizeof(body),
        "--B\r\nContent-Disposition: form-data; name=\"file\"; "
        "filename=\"%s\"\r\n\r\nabc\r\n--B--\r\n",
        name);
    snprintf(expect, sizeof(expect), "file|%.255s|;", name);
    check_all_splits("B", body, "file", expect, "abc", 3);

    /* 200 two-byte characters (400 bytes): cut at 254 bytes, where the
     * 128th character would have been split */
    for (i = 0; i < 200; i++) {
        memcpy(name + 2 * i, "\xc3\xa9", 2);
    }
    name[400] = '\0';
    snprintf(body, sizeof(body),
        "--B\r\nContent-Disposition: form-data; name=\"file\"; "
        "filename=\"%s\"\r\n\r\nabc\r\n--B--\r\n",
        name);
    snprintf(expect, sizeof(expect), "file|%.254s|;", name);
    assert_int_equal(
        run("B", body, strlen(body), NULL, 0, "file", &s), FERRY_MP_OK);
    assert_string_equal(s.names, expect);
}

static void
test_multipart_long_field_name_is_an_error(void **state)
{
    char   body[2048], name[300];
    sink_t s;

    (void) state;
    memset(name, 'f', 299);
    name[299] = '\0';
    snprintf(body, sizeof(body),
        "--B\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n"
        "abc\r\n--B--\r\n",
        name);
    assert_int_equal(
        run("B", body, strlen(body), NULL, 0, "file", &s), FERRY_MP_ERROR);
}

static int
stop_on_data(void *data, const unsigned char *p, size_t n)
{
    (void) data;
    (void) p;
    (void) n;
    return -1;
}

static void
test_multipart_callback_can_stop(void **state)
{
    const ferry_mp_callbacks_t cb = { on_part, stop_on_data, on_end };
    const char                *body = "--B\r\nContent-Disposition: form-data; "
                                      "name=\"file\"\r\n\r\nabc\r\n--B--";
    ferry_mp_t                 mp;
    sink_t                     s;

    (void) state;
    memset(&s, 0, sizeof(s));
    s.want = "file";
    ferry_mp_init(&mp, "B", 1, &cb, &s);
    assert_int_equal(
        ferry_mp_feed(&mp, (const unsigned char *) body, strlen(body)),
        FERRY_MP_STOPPED);
}

#define BND(ct) ferry_mp_boundary(ct, strlen(ct), b)

static void
test_multipart_boundary_from_content_type(void **state)
{
    char b[FERRY_MP_BOUNDARY_MAX + 1];
    char long_ct[200];

    (void) state;
    assert_int_equal(BND("multipart/form-data; boundary=abc"), 3);
    assert_string_equal(b, "abc");
    assert_int_equal(
        BND("Multipart/Form-Data;charset=utf-8; boundary=\"a b:c\""), 5);
    assert_string_equal(b, "a b:c");
    assert_int_equal(
        BND("multipart/form-data; x=\"boundary=no\"; boundary=yes"), 3);
    assert_string_equal(b, "yes");
    assert_int_equal(BND("multipart/form-data"), -1);
    assert_int_equal(BND("multipart/form-data; boundary="), -1);
    assert_int_equal(BND("application/json; boundary=x"), -1);
    assert_int_equal(BND("multipart/form-data; boundary=a\"b"), -1);
    snprintf(
        long_ct, sizeof(long_ct), "multipart/form-data; boundary=%071d", 0);
    assert_int_equal(ferry_mp_boundary(long_ct, strlen(long_ct), b), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart_file_among_fields_in_every_split),
        cmocka_unit_test(test_multipart_lf_only_and_preamble),
        cmocka_unit_test(test_multipart_empty_file_and_padding),
        cmocka_unit_test(test_multipart_quoted_params),
        cmocka_unit_test(test_multipart_bulk_data_few_callbacks),
        cmocka_unit_test(test_multipart_feed_hands_over_at_most_held_max_more),
        cmocka_unit_test(test_multipart_truncated_body_is_an_error),
        cmocka_unit_test(test_multipart_malformed_headers),
        cmocka_unit_test(test_multipart_long_filename_is_shortened),
        cmocka_unit_test(test_multipart_long_field_name_is_an_error),
        cmocka_unit_test(test_multipart_callback_can_stop),
        cmocka_unit_test(test_multipart_boundary_from_content_type),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

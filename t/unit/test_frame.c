/* Framing and response-head parsing shared by the module and ferryd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ferry_frame.h"

static void
test_frame_len_round_trips_big_endian(void **state)
{
    unsigned char p[4];

    (void) state;
    ferry_frame_put_len(p, 0x01020304);
    assert_int_equal(p[0], 1);
    assert_int_equal(p[3], 4);
    assert_int_equal(ferry_frame_get_len(p), 0x01020304);
    ferry_frame_put_len(p, 0xffffffff);
    assert_true(ferry_frame_get_len(p) == 0xffffffffu);
}

static void
test_frame_check_waits_for_every_split(void **state)
{
    unsigned char buf[4 + 5];
    size_t        i, len;

    (void) state;
    ferry_frame_put_len(buf, 5);
    memcpy(buf + 4, "hello", 5);

    for (i = 0; i < sizeof(buf); i++) {
        assert_int_equal(
            ferry_frame_check(buf, i, 1024, &len), FERRY_FRAME_AGAIN);
    }

    assert_int_equal(
        ferry_frame_check(buf, sizeof(buf), 1024, &len), FERRY_FRAME_OK);
    assert_int_equal(len, 5);
}

static void
test_frame_check_finds_first_of_two_frames(void **state)
{
    unsigned char buf[2 * 4 + 3 + 2];
    size_t        len;

    (void) state;
    ferry_frame_put_len(buf, 3);
    memcpy(buf + 4, "abc", 3);
    ferry_frame_put_len(buf + 7, 2);
    memcpy(buf + 11, "de", 2);

    assert_int_equal(
        ferry_frame_check(buf, sizeof(buf), 1024, &len), FERRY_FRAME_OK);
    assert_int_equal(len, 3);
    assert_int_equal(ferry_frame_check(buf + 7, sizeof(buf) - 7, 1024, &len),
        FERRY_FRAME_OK);
    assert_int_equal(len, 2);
}

static void
test_frame_check_rejects_oversized_before_payload(void **state)
{
    unsigned char buf[4];
    size_t        len;

    (void) state;
    ferry_frame_put_len(buf, 1025);
    assert_int_equal(
        ferry_frame_check(buf, 4, 1024, &len), FERRY_FRAME_TOO_BIG);
    assert_int_equal(len, 1025);
}

static void
test_frame_empty_payload_is_a_frame(void **state)
{
    unsigned char buf[4];
    size_t        len;

    (void) state;
    ferry_frame_put_len(buf, 0);
    assert_int_equal(ferry_frame_check(buf, 4, 1024, &len), FERRY_FRAME_OK);
    assert_int_equal(len, 0);
}

static int
parse(const char *json, ferry_resp_head_t *h)
{
    char err[128];

    return ferry_resp_head_parse(json, strlen(json), h, err, sizeof(err));
}

static void
test_resp_head_parses_status_length_headers(void **state)
{
    ferry_resp_head_t h;

    (void) state;
    assert_int_equal(parse("{\"v\":1,\"status\":201,\"length\":12,"
                           "\"headers\":{\"Content-Type\":\"application/json\","
                           "\"Location\":\"/imports/7\"}}",
                         &h),
        0);
    assert_int_equal(h.status, 201);
    assert_int_equal(h.length, 12);
    assert_int_equal(h.nheaders, 2);
    assert_string_equal(h.headers[0].name, "Content-Type");
    assert_string_equal(h.headers[1].value, "/imports/7");
    ferry_resp_head_free(&h);
}

static void
test_resp_head_without_headers_is_valid(void **state)
{
    ferry_resp_head_t h;

    (void) state;
    assert_int_equal(parse("{\"v\":1,\"status\":204,\"length\":0}", &h), 0);
    assert_int_equal(h.nheaders, 0);
    ferry_resp_head_free(&h);
}

static void
test_resp_head_rejects_garbage_and_bad_fields(void **state)
{
    ferry_resp_head_t  h;
    const char       **p;
    static const char *bad[] = { "HTTP/1.1 200 OK\r\n", "", "[1,2]",
        "{\"status\":200,\"length\":0}",         /* no v */
        "{\"v\":2,\"status\":200,\"length\":0}", /* version */
        "{\"v\":1,\"status\":99,\"length\":0}",
        "{\"v\":1,\"status\":600,\"length\":0}",
        "{\"v\":1,\"status\":200.5,\"length\":0}",
        "{\"v\":1,\"status\":\"200\",\"length\":0}",
        "{\"v\":1,\"status\":200}", /* no length */
        "{\"v\":1,\"status\":200,\"length\":-1}",
        "{\"v\":1,\"status\":200,\"length\":1.5}",
        "{\"v\":1,\"status\":200,\"length\":0,\"headers\":[]}",
        "{\"v\":1,\"status\":200,\"length\":0,\"headers\":{\"X\":1}}",
        "{\"v\":1,\"status\":200,\"length\":0,\"headers\":{\"X\\r\\nY\":\"1\""
        "}}",
        "{\"v\":1,\"status\":200,\"length\":0,\"headers\":{\"X\":\"a\\r\\nSet"
        "-Cookie: x\"}}",
        "{\"v\":1,\"status\":200,\"length\":0,\"headers\":{\"\":\"a\"}}",
        NULL };

    (void) state;
    for (p = bad; *p; p++) {
        if (parse(*p, &h) == 0) {
            fail_msg("accepted: %s", *p);
        }
        assert_int_equal(h.nheaders, 0);
        assert_null(h.headers);
    }
}

static void
test_resp_head_error_names_the_problem(void **state)
{
    ferry_resp_head_t h;
    char              err[128];
    const char       *json = "{\"v\":7,\"status\":200,\"length\":0}";

    (void) state;
    assert_int_equal(
        ferry_resp_head_parse(json, strlen(json), &h, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "version"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_len_round_trips_big_endian),
        cmocka_unit_test(test_frame_check_waits_for_every_split),
        cmocka_unit_test(test_frame_check_finds_first_of_two_frames),
        cmocka_unit_test(test_frame_check_rejects_oversized_before_payload),
        cmocka_unit_test(test_frame_empty_payload_is_a_frame),
        cmocka_unit_test(test_resp_head_parses_status_length_headers),
        cmocka_unit_test(test_resp_head_without_headers_is_valid),
        cmocka_unit_test(test_resp_head_rejects_garbage_and_bad_fields),
        cmocka_unit_test(test_resp_head_error_names_the_problem),
    };

    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}

/*
 * The SigV4 presigner against AWS's own published example: "Authenticating
 * Requests: Using Query Parameters (AWS Signature Version 4)" in the Amazon
 * S3 API Reference (GET examplebucket/test.txt, 2013-05-24, 86400 s).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "storage/s3_sign.h"

static const s3_creds_t AWS = { "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1" };

static void
test_s3_presign_reproduces_aws_example(void **state)
{
    char out[1024];

    (void) state;
    assert_int_equal(
        s3_presign(&AWS, "GET", "https", "examplebucket.s3.amazonaws.com",
            "/test.txt", 86400, 1369353600, out, sizeof(out)),
        0);
    assert_string_equal(out,
        "https://examplebucket.s3.amazonaws.com/test.txt"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2"
        "Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders"
        "=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d1"
        "57751f604d404");
}

static void
test_s3_presign_depends_on_every_input(void **state)
{
    char a[1024], b[1024];

    (void) state;
    s3_presign(&AWS, "GET", "https", "examplebucket.s3.amazonaws.com",
        "/test.txt", 86400, 1369353600, a, sizeof(a));
    s3_presign(&AWS, "PUT", "https", "examplebucket.s3.amazonaws.com",
        "/test.txt", 86400, 1369353600, b, sizeof(b));
    assert_string_not_equal(strstr(a, "Signature="), strstr(b, "Signature="));
    s3_presign(&AWS, "GET", "https", "examplebucket.s3.amazonaws.com",
        "/test.txt", 3600, 1369353600, b, sizeof(b));
    assert_string_not_equal(strstr(a, "Signature="), strstr(b, "Signature="));
    assert_int_equal(
        s3_presign(&AWS, "GET", "https", "h", "/k", 1, 0, b, 40), -1);
}

static void
test_s3_uri_encode(void **state)
{
    char out[64];

    (void) state;
    s3_uri_encode("reports/a b+c~d.csv", 1, out, sizeof(out));
    assert_string_equal(out, "reports/a%20b%2Bc~d.csv");
    s3_uri_encode("a/b", 0, out, sizeof(out));
    assert_string_equal(out, "a%2Fb");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_presign_reproduces_aws_example),
        cmocka_unit_test(test_s3_presign_depends_on_every_input),
        cmocka_unit_test(test_s3_uri_encode),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

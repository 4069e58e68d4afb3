/*
 * The SigV4 presigner against AWS's own published example: "Authenticating
 * Requests: Using Query Parameters (AWS Signature Version 4)" in the Amazon
 * S3 API Reference (GET examplebucket/test.txt, 2013-05-24, 86400 s), and
 * against botocore (t/lib/botocore_presign.py) on endpoints and keys where
 * a signer can go wrong.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "ferry_uri.h"
#include "storage/s3_sign.h"

static const s3_creds_t AWS = { "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1" };

#define AWS_DAY 1369353600

/*
 * botocore is run as Debian installs it (python3-botocore, in build.sh's
 * packages), not by whatever python3 comes first on PATH. The script is
 * found from the repository root, where ./build.sh test and make check
 * run, or where FERRY_BOTOCORE_PRESIGN says.
 */
#define BOTOCORE_PY     "/usr/bin/python3"
#define BOTOCORE_SCRIPT "t/lib/botocore_presign.py"
#define BUCKET          "ferry-reports"
#define EXPIRES         3600

static const char *const ENDPOINTS[] = { "https://s3.example.com",
    "https://s3.example.com:443", "http://s3.example.com:80",
    "http://localhost:9000", "https://S3.Example.COM",
    "https://host.example/storage", "https://host.example:8443/a/b",
    "https://s3.example.com/", "http://[::1]:9000", "http://[::1]:80" };

#define N_ENDPOINTS (sizeof(ENDPOINTS) / sizeof(ENDPOINTS[0]))
#define N_KEYS      7

static const char *const METHODS[] = { "GET", "PUT" };

static void
test_s3_presign_reproduces_aws_example(void **state)
{
    char *url;

    (void) state;
    url = s3_presign(&AWS, "GET", "https://examplebucket.s3.amazonaws.com",
        NULL, "test.txt", 86400, AWS_DAY);
    assert_non_null(url);
    assert_string_equal(url,
        "https://examplebucket.s3.amazonaws.com/test.txt"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2"
        "Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders"
        "=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d1"
        "57751f604d404");
    free(url);
}

static char *
sig_of(const char *method, long expires)
{
    char *url, *sig;

    url = s3_presign(&AWS, method, "https://examplebucket.s3.amazonaws.com",
        NULL, "test.txt", expires, AWS_DAY);
    assert_non_null(url);
    sig = strdup(strstr(url, "Signature="));
    free(url);

    return sig;
}

static void
test_s3_presign_depends_on_every_input(void **state)
{
    char *a, *b, *c;

    (void) state;
    a = sig_of("GET", 86400);
    b = sig_of("PUT", 86400);
    c = sig_of("GET", 3600);
    assert_string_not_equal(a, b);
    assert_string_not_equal(a, c);
    free(a);
    free(b);
    free(c);
}

static void
test_s3_presign_refuses_what_is_not_an_endpoint(void **state)
{
    const char *bad[] = { "s3.example.com", "https://", "https:///bucket",
        "://host", "https://user@host", "https://host/p?x=1",
        "https://host/p#f", "https://[::1", "https://host:", "https://:80",
        "https://host:8o", "https://host:65536" };
    size_t      i;

    (void) state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errno = 0;
        if (s3_presign(&AWS, "GET", bad[i], "b", "k", 60, AWS_DAY) != NULL) {
            fail_msg("%s was taken for an endpoint", bad[i]);
        }
        assert_int_equal(errno, EINVAL);
    }
}

static void
test_uri_encode_keeps_unreserved_only(void **state)
{
    char out[64];

    (void) state;
    ferry_uri_encode("reports/a b+c~d.csv", 1, out);
    assert_string_equal(out, "reports/a%20b%2Bc~d.csv");
    ferry_uri_encode("a/b", 0, out);
    assert_string_equal(out, "a%2Fb");
    ferry_uri_encode("\xc3\xa9", 1, out);
    assert_string_equal(out, "%C3%A9");
}

/* n bytes of valid UTF-8: unit repeated (n a multiple of its length) */
static char *
repeat(const char *unit, size_t n)
{
    char  *s = malloc(n + 1);
    size_t u = strlen(unit), i;

    assert_non_null(s);
    assert_int_equal(n % u, 0);
    for (i = 0; i < n; i += u) {
        memcpy(s + i, unit, u);
    }
    s[n] = '\0';

    return s;
}

/* keys that S3 allows and a signer can get wrong; free them with free() */
static void
keys_make(char *keys[N_KEYS])
{
    keys[0] = strdup("reports/0b5e7c1e-errors.csv");
    keys[1] = strdup("reports/a b+c~d.csv");
    keys[2] = strdup("rapports/\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac "
                     "\xf0\x9f\x9a\x80.csv");
    keys[3] = strdup("a/b?c#d%e&f=g;h:i@j!k'l(m)n*o,p$q[r]s{t}u|v\\w^x`y\"z<>");
    keys[4] = strdup("dir//x/./../y/");
    /* 608 bytes that encode to 1,824: overflowed a 1,536-byte buffer */
    keys[5] = repeat("\xc3\xa9 +%?#&", 608);
    /* S3's longest key, every byte encoded: 3,072 bytes in the path */
    keys[6] = repeat("\xc3\xa9", 1024);
}

/* the command that prints botocore's URL for every case, in loop order */
static char *
botocore_command(const char *script, char *keys[N_KEYS])
{
    char       *cmd;
    size_t      len, e, k, m;
    const char *p;
    FILE       *f;

    f = open_memstream(&cmd, &len);
    assert_non_null(f);
    fprintf(f, "%s %s %d %d %s", BOTOCORE_PY, script, AWS_DAY, EXPIRES, BUCKET);

    for (e = 0; e < N_ENDPOINTS; e++) {
        for (k = 0; k < N_KEYS; k++) {
            for (m = 0; m < 2; m++) {
                /* the key in hex: no byte of it can reach the shell */
                fprintf(f, " %s '%s' ", METHODS[m], ENDPOINTS[e]);
                for (p = keys[k]; *p; p++) {
                    fprintf(f, "%02x", (unsigned char) *p);
                }
            }
        }
    }

    fclose(f);

    return cmd;
}

static void
test_s3_presign_matches_botocore(void **state)
{
    char       *keys[N_KEYS], *cmd, *line = NULL, *url;
    const char *script = getenv("FERRY_BOTOCORE_PRESIGN");
    size_t      cap = 0, e, k, m, bad = 0, n = 0;
    FILE       *f;
    int         status;

    (void) state;
    script = script ? script : BOTOCORE_SCRIPT;
    if (access(BOTOCORE_PY, X_OK) != 0 || access(script, R_OK) != 0) {
        fail_msg("need " BOTOCORE_PY " with python3-botocore (./build.sh "
                 "installs it) and %s (run from the repository root, or "
                 "set FERRY_BOTOCORE_PRESIGN)",
            script);
    }

    keys_make(keys);
    cmd = botocore_command(script, keys);

    /* one botocore run for all cases: it takes a good second to start */
    f = popen(cmd, "r");
    assert_non_null(f);

    for (e = 0; e < N_ENDPOINTS; e++) {
        for (k = 0; k < N_KEYS; k++) {
            for (m = 0; m < 2; m++) {
                if (getline(&line, &cap, f) <= 0) {
                    break;
                }
                n++;
                line[strcspn(line, "\n")] = '\0';
                url = s3_presign(&AWS, METHODS[m], ENDPOINTS[e], BUCKET,
                    keys[k], EXPIRES, AWS_DAY);
                if (url == NULL || strcmp(url, line) != 0) {
                    /* not print_message: it cuts at 1,024 bytes */
                    printf("%s %s key %zu\n  ferry:    %s\n"
                           "  botocore: %s\n",
                        METHODS[m], ENDPOINTS[e], k, url ? url : "(NULL)",
                        line);
                    bad++;
                }
                free(url);
            }
        }
    }

    status = pclose(f);
    free(line);
    free(cmd);
    for (k = 0; k < N_KEYS; k++) {
        free(keys[k]);
    }

    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail_msg("%s failed (wait status %d)", script, status);
    }
    assert_int_equal(n, N_ENDPOINTS * N_KEYS * 2);
    assert_int_equal(bad, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_presign_reproduces_aws_example),
        cmocka_unit_test(test_s3_presign_depends_on_every_input),
        cmocka_unit_test(test_s3_presign_refuses_what_is_not_an_endpoint),
        cmocka_unit_test(test_uri_encode_keeps_unreserved_only),
        cmocka_unit_test(test_s3_presign_matches_botocore),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * base64url and HS256 JWT: published vectors, and every way a token must be
 * refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ferry_base64url.h"
#include "ferry_jwt.h"

static const unsigned char KEY[] = "test-secret-0123456789abcdef";
#define KEYLEN (sizeof(KEY) - 1)
#define NOW    1700000000

static ferry_jwt_check_t
check(void)
{
    ferry_jwt_check_t c = { NOW, 30, NULL, NULL };
    return c;
}

/* Any header, any payload, signed with HMAC-SHA256 under key. */
static void
make_token(char *out, const char *header, const char *payload,
    const unsigned char *key, size_t keylen)
{
    unsigned char md[32];
    unsigned int  mdlen;
    size_t        n;

    n = ferry_b64url_encode(
        out, (const unsigned char *) header, strlen(header));
    out[n++] = '.';
    n += ferry_b64url_encode(
        out + n, (const unsigned char *) payload, strlen(payload));
    HMAC(EVP_sha256(), key, (int) keylen, (unsigned char *) out, n, md, &mdlen);
    out[n++] = '.';
    n += ferry_b64url_encode(out + n, md, mdlen);
    out[n] = '\0';
}

static ferry_jwt_rc_t
verify(const char *token, ferry_jwt_check_t c, ferry_jwt_claims_t *claims)
{
    return ferry_jwt_verify(token, strlen(token), KEY, KEYLEN, &c, claims);
}

static void
test_b64url_rfc4648_vectors(void **state)
{
    const char   *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    const char   *out[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE",
          "Zm9vYmFy" };
    char          buf[32];
    unsigned char dec[32];
    size_t        i, n;
    long          m;

    (void) state;
    for (i = 0; i < 7; i++) {
        n = ferry_b64url_encode(
            buf, (const unsigned char *) in[i], strlen(in[i]));
        assert_int_equal(n, strlen(out[i]));
        assert_memory_equal(buf, out[i], n);
        m = ferry_b64url_decode(dec, out[i], strlen(out[i]));
        assert_int_equal(m, (long) strlen(in[i]));
        assert_memory_equal(dec, in[i], (size_t) m);
    }
}

static void
test_b64url_uses_url_alphabet(void **state)
{
    const unsigned char in[] = { 0xfb, 0xff, 0xbf };
    char                buf[8];
    unsigned char       dec[8];

    (void) state;
    assert_int_equal(ferry_b64url_encode(buf, in, 3), 4);
    assert_memory_equal(buf, "-_-_", 4);
    assert_int_equal(ferry_b64url_decode(dec, "-_-_", 4), 3);
    assert_memory_equal(dec, in, 3);
}

static void
test_b64url_rejects_bad_input(void **state)
{
    unsigned char dec[16];

    (void) state;
    assert_int_equal(
        ferry_b64url_decode(dec, "Zm9v+g", 6), -1); /* '+' is base64, not url */
    assert_int_equal(ferry_b64url_decode(dec, "Zm9v/g", 6), -1);
    assert_int_equal(ferry_b64url_decode(dec, "Zg==", 4), -1); /* no padding */
    assert_int_equal(
        ferry_b64url_decode(dec, "Zm9vY", 5), -1); /* impossible length */
    assert_int_equal(
        ferry_b64url_decode(dec, "Zh", 2), -1); /* non-zero spare bits */
    assert_int_equal(ferry_b64url_decode(dec, "Zm8", 3), 2);
    assert_int_equal(
        ferry_b64url_decode(dec, "Zm9", 3), -1); /* spare bits again */
}

/* The example token of jwt.io (RFC 7519's HS256 with "your-256-bit-secret"). */
static void
test_jwt_sign_reproduces_jwt_io_example(void **state)
{
    const char *claims =
        "{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":1516239022}";
    const char *key = "your-256-bit-secret";
    char        out[512];
    long        n;

    (void) state;
    n = ferry_jwt_sign(out, sizeof(out), claims, strlen(claims),
        (const unsigned char *) key, strlen(key));
    assert_true(n > 0);
    assert_string_equal(out,
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5"
        "MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c");
}

static void
test_jwt_sign_then_verify(void **state)
{
    char               claims[128], tok[512];
    ferry_jwt_claims_t cl;

    (void) state;
    snprintf(claims, sizeof(claims), "{\"sub\":\"42\",\"exp\":%d}", NOW + 60);
    assert_true(
        ferry_jwt_sign(tok, sizeof(tok), claims, strlen(claims), KEY, KEYLEN)
        > 0);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_OK);
    assert_string_equal(cl.sub, "42");
    assert_int_equal(cl.exp, NOW + 60);
}

static void
test_jwt_sign_refuses_small_buffer(void **state)
{
    char tok[40];

    (void) state;
    assert_int_equal(
        ferry_jwt_sign(tok, sizeof(tok), "{\"sub\":\"1\"}", 11, KEY, KEYLEN),
        -1);
}

static void
test_jwt_rejects_alg_none(void **state)
{
    char               tok[512];
    size_t             n;
    ferry_jwt_claims_t cl;
    const char        *h = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    const char        *p = "{\"sub\":\"42\",\"exp\":1800000000}";

    (void) state;
    n = ferry_b64url_encode(tok, (const unsigned char *) h, strlen(h));
    tok[n++] = '.';
    n += ferry_b64url_encode(tok + n, (const unsigned char *) p, strlen(p));
    tok[n++] = '.';
    tok[n] = '\0';
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_BAD_ALG);

    make_token(tok, "{\"alg\":\"None\"}", p, KEY, KEYLEN);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_BAD_ALG);
}

/* The key-confusion attack: RS256 announced, HMAC'ed with the "public key". */
static void
test_jwt_rejects_rs256_signed_with_hmac(void **state)
{
    char               tok[512];
    ferry_jwt_claims_t cl;

    (void) state;
    make_token(tok, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
        "{\"sub\":\"42\",\"exp\":1800000000}", KEY, KEYLEN);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_BAD_ALG);

    make_token(tok, "{\"alg\":\"HS512\"}",
        "{\"sub\":\"42\",\"exp\":1800000000}", KEY, KEYLEN);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_BAD_ALG);

    make_token(tok, "{\"typ\":\"JWT\"}", "{\"sub\":\"42\",\"exp\":1800000000}",
        KEY, KEYLEN);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_BAD_ALG);
}

static void
test_jwt_rejects_tampered_payload_and_wrong_key(void **state)
{
    char                tok[512], *dot;
    ferry_jwt_claims_t  cl;
    const unsigned char other[] = "another-secret";

    (void) state;
    make_token(tok, "{\"alg\":\"HS256\"}",
        "{\"sub\":\"42\",\"exp\":1800000000}", KEY, KEYLEN);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_OK);

    dot = strchr(tok, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_BAD_SIGNATURE);

    make_token(tok, "{\"alg\":\"HS256\"}",
        "{\"sub\":\"42\",\"exp\":1800000000}", other, sizeof(other) - 1);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_BAD_SIGNATURE);

    /* a truncated signature */
    make_token(tok, "{\"alg\":\"HS256\"}",
        "{\"sub\":\"42\",\"exp\":1800000000}", KEY, KEYLEN);
    tok[strlen(tok) - 3] = '\0';
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_BAD_SIGNATURE);
}

static void
test_jwt_rejects_malformed(void **state)
{
    char               tok[512];
    ferry_jwt_claims_t cl;

    (void) state;
    assert_int_equal(verify("", check(), &cl), FERRY_JWT_MALFORMED);
    assert_int_equal(verify("abc", check(), &cl), FERRY_JWT_MALFORMED);
    assert_int_equal(verify("a.b", check(), &cl), FERRY_JWT_MALFORMED);
    assert_int_equal(verify("a.b.c.d", check(), &cl), FERRY_JWT_MALFORMED);
    assert_int_equal(verify("e*J.e30.AAAA", check(), &cl), FERRY_JWT_MALFORMED);

    make_token(tok, "{\"alg\":\"HS256\"}",
        "{\"sub\":\"42\",\"exp\":1800000000}", KEY, KEYLEN);
    tok[strlen(tok) - 1] = '=';
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_MALFORMED);

    make_token(tok, "[\"alg\",\"HS256\"]",
        "{\"sub\":\"42\",\"exp\":1800000000}", KEY, KEYLEN);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_MALFORMED);

    make_token(tok, "{\"alg\":\"HS256\"}", "not json", KEY, KEYLEN);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_MALFORMED);

    make_token(tok, "{\"alg\":\"HS256\"}", "{\"sub\":\"42\"}", KEY, KEYLEN);
    assert_int_equal(
        verify(tok, check(), &cl), FERRY_JWT_MALFORMED); /* no exp */

    make_token(tok, "{\"alg\":\"HS256\"}", "{\"exp\":1800000000}", KEY, KEYLEN);
    assert_int_equal(
        verify(tok, check(), &cl), FERRY_JWT_MALFORMED); /* no sub */

    make_token(tok, "{\"alg\":\"HS256\"}", "{\"sub\":42,\"exp\":1800000000}",
        KEY, KEYLEN);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_MALFORMED);

    make_token(tok, "{\"alg\":\"HS256\"}", "{\"sub\":\"42\",\"exp\":\"soon\"}",
        KEY, KEYLEN);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_MALFORMED);
}

static void
test_jwt_rejects_oversize_token(void **state)
{
    static char        tok[FERRY_JWT_MAX_LEN + 2];
    ferry_jwt_claims_t cl;

    (void) state;
    memset(tok, 'A', sizeof(tok) - 1);
    tok[sizeof(tok) - 1] = '\0';
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_TOO_LONG);
}

static void
test_jwt_exp_with_leeway(void **state)
{
    char               tok[512], p[128];
    ferry_jwt_claims_t cl;

    (void) state;
    snprintf(p, sizeof(p), "{\"sub\":\"42\",\"exp\":%d}", NOW - 10);
    make_token(tok, "{\"alg\":\"HS256\"}", p, KEY, KEYLEN);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_OK); /* inside 30 s */

    snprintf(p, sizeof(p), "{\"sub\":\"42\",\"exp\":%d}", NOW - 31);
    make_token(tok, "{\"alg\":\"HS256\"}", p, KEY, KEYLEN);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_EXPIRED);
}

static void
test_jwt_nbf(void **state)
{
    char               tok[512], p[128];
    ferry_jwt_claims_t cl;

    (void) state;
    snprintf(p, sizeof(p), "{\"sub\":\"42\",\"exp\":%d,\"nbf\":%d}", NOW + 600,
        NOW + 120);
    make_token(tok, "{\"alg\":\"HS256\"}", p, KEY, KEYLEN);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_NOT_YET_VALID);

    snprintf(p, sizeof(p), "{\"sub\":\"42\",\"exp\":%d,\"nbf\":%d}", NOW + 600,
        NOW + 20);
    make_token(tok, "{\"alg\":\"HS256\"}", p, KEY, KEYLEN);
    assert_int_equal(verify(tok, check(), &cl), FERRY_JWT_OK);
}

static void
test_jwt_iss_and_aud(void **state)
{
    char               tok[512];
    ferry_jwt_claims_t cl;
    ferry_jwt_check_t  c = check();

    (void) state;
    c.iss = "ferry";
    c.aud = "api";

    make_token(tok, "{\"alg\":\"HS256\"}",
        "{\"sub\":\"1\",\"exp\":1800000000,\"iss\":\"ferry\",\"aud\":[\"x\","
        "\"api\"]}",
        KEY, KEYLEN);
    assert_int_equal(verify(tok, c, &cl), FERRY_JWT_OK);

    make_token(tok, "{\"alg\":\"HS256\"}",
        "{\"sub\":\"1\",\"exp\":1800000000,\"iss\":\"evil\",\"aud\":\"api\"}",
        KEY, KEYLEN);
    assert_int_equal(verify(tok, c, &cl), FERRY_JWT_BAD_ISSUER);

    make_token(tok, "{\"alg\":\"HS256\"}",
        "{\"sub\":\"1\",\"exp\":1800000000,\"iss\":\"ferry\",\"aud\":\"web\"}",
        KEY, KEYLEN);
    assert_int_equal(verify(tok, c, &cl), FERRY_JWT_BAD_AUDIENCE);

    make_token(tok, "{\"alg\":\"HS256\"}",
        "{\"sub\":\"1\",\"exp\":1800000000,\"iss\":\"ferry\"}", KEY, KEYLEN);
    assert_int_equal(verify(tok, c, &cl), FERRY_JWT_BAD_AUDIENCE);
}

static void
test_jwt_rejects_repeated_members(void **state)
{
    static const char *const cases[][2] = {
        /* the first "alg" would pass, a parser keeping the last sees none */
        { "{\"alg\":\"HS256\",\"alg\":\"none\"}",
            "{\"sub\":\"u1\",\"exp\":1800000000}" },
        { "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
            "{\"sub\":\"u1\",\"sub\":\"admin\",\"exp\":1800000000}" },
        { "{\"alg\":\"HS256\"}",
            "{\"sub\":\"u1\",\"exp\":1800000000,\"x\":{\"a\":1,\"a\":2}}" },
    };
    char               token[1024];
    ferry_jwt_claims_t claims;
    size_t             i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        make_token(token, cases[i][0], cases[i][1], KEY, KEYLEN);
        assert_int_equal(verify(token, check(), &claims), FERRY_JWT_MALFORMED);
    }

    /* the same members once each are fine */
    make_token(token, "{\"alg\":\"HS256\"}",
        "{\"sub\":\"u1\",\"exp\":1800000000,\"x\":{\"a\":1,\"b\":2}}", KEY,
        KEYLEN);
    assert_int_equal(verify(token, check(), &claims), FERRY_JWT_OK);
}

static void
test_jwt_rejects_dates_that_are_not_whole_seconds(void **state)
{
    static const char *const payloads[] = {
        "{\"sub\":\"u1\",\"exp\":1800000000,\"nbf\":1e300}",
        "{\"sub\":\"u1\",\"exp\":1e300}",
        "{\"sub\":\"u1\",\"exp\":1800000000.5}",
        "{\"sub\":\"u1\",\"exp\":-1}",
        "{\"sub\":\"u1\",\"exp\":1800000000,\"nbf\":-1e300}",
        "{\"sub\":\"u1\",\"exp\":\"1800000000\"}",
    };
    char               token[1024];
    ferry_jwt_claims_t claims;
    size_t             i;

    (void) state;
    for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        make_token(token, "{\"alg\":\"HS256\"}", payloads[i], KEY, KEYLEN);
        assert_int_equal(verify(token, check(), &claims), FERRY_JWT_MALFORMED);
    }

    make_token(token, "{\"alg\":\"HS256\"}",
        "{\"sub\":\"u1\",\"exp\":1.8e9,\"nbf\":0}", KEY, KEYLEN);
    assert_int_equal(verify(token, check(), &claims), FERRY_JWT_OK);
    assert_true(claims.exp == 1800000000LL);
}

static void
test_jwt_rejects_nul_and_bad_utf8_in_strings(void **state)
{
    static const char *const payloads[] = {
        "{\"sub\":\"admin\\u0000x\",\"exp\":1800000000}",
        "{\"sub\":\"u\xff\",\"exp\":1800000000}",
        "{\"sub\":\"u\\ud800\",\"exp\":1800000000}",
    };
    char               token[1024];
    ferry_jwt_claims_t claims;
    size_t             i;

    (void) state;
    for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        make_token(token, "{\"alg\":\"HS256\"}", payloads[i], KEY, KEYLEN);
        assert_int_equal(verify(token, check(), &claims), FERRY_JWT_MALFORMED);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_rfc4648_vectors),
        cmocka_unit_test(test_b64url_uses_url_alphabet),
        cmocka_unit_test(test_b64url_rejects_bad_input),
        cmocka_unit_test(test_jwt_sign_reproduces_jwt_io_example),
        cmocka_unit_test(test_jwt_sign_then_verify),
        cmocka_unit_test(test_jwt_sign_refuses_small_buffer),
        cmocka_unit_test(test_jwt_rejects_alg_none),
        cmocka_unit_test(test_jwt_rejects_rs256_signed_with_hmac),
        cmocka_unit_test(test_jwt_rejects_tampered_payload_and_wrong_key),
        cmocka_unit_test(test_jwt_rejects_malformed),
        cmocka_unit_test(test_jwt_rejects_oversize_token),
        cmocka_unit_test(test_jwt_exp_with_leeway),
        cmocka_unit_test(test_jwt_nbf),
        cmocka_unit_test(test_jwt_iss_and_aud),
        cmocka_unit_test(test_jwt_rejects_repeated_members),
        cmocka_unit_test(test_jwt_rejects_dates_that_are_not_whole_seconds),
        cmocka_unit_test(test_jwt_rejects_nul_and_bad_utf8_in_strings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Slack request signatures (v0): the worked example of Slack's
 * "Verifying requests from Slack", and every way a request must be
 * refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ferry_hmac.h"
#include "ferry_slack_sig.h"

/*
 * api.slack.com/authentication/verifying-requests-from-slack: a slash
 * command's form body, signed with this (example) secret at this time.
 */
static const unsigned char DOC_SECRET[] = "8f742231b10e8888abcd99yyyzzz85a5";
#define DOC_SECRET_LEN (sizeof(DOC_SECRET) - 1)
#define DOC_TS         "1531420618"
#define DOC_NOW        1531420618LL
#define DOC_SIG                                                                \
    "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

static const char DOC_BODY[] =
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA"
    "&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F"
    "397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

#define S(s) s, sizeof(s) - 1

static ferry_slack_rc_t
verify(const char *secret, const char *ts, const char *sig, const char *body,
    long long now)
{
    return ferry_slack_verify((const unsigned char *) secret, strlen(secret),
        ts, ts ? strlen(ts) : 0, sig, sig ? strlen(sig) : 0, body, strlen(body),
        now);
}

static void
test_slack_sig_reproduces_slack_docs_example(void **state)
{
    char sig[FERRY_SLACK_SIG_LEN + 1];

    (void) state;

    assert_int_equal(ferry_slack_sign(DOC_SECRET, DOC_SECRET_LEN, S(DOC_TS),
                         S(DOC_BODY), sig),
        0);
    assert_string_equal(sig, DOC_SIG);

    assert_int_equal(verify((const char *) DOC_SECRET, DOC_TS, DOC_SIG,
                         DOC_BODY, DOC_NOW + 60),
        FERRY_SLACK_OK);
}

static void
test_slack_sig_rejects_wrong_secret(void **state)
{
    (void) state;

    assert_int_equal(verify("8f742231b10e8888abcd99yyyzzz85a6", DOC_TS, DOC_SIG,
                         DOC_BODY, DOC_NOW),
        FERRY_SLACK_MISMATCH);
    assert_int_equal(verify("8f742231b10e8888abcd99yyyzzz85a", DOC_TS, DOC_SIG,
                         DOC_BODY, DOC_NOW),
        FERRY_SLACK_MISMATCH);
}

static void
test_slack_sig_rejects_altered_body(void **state)
{
    char body[sizeof(DOC_BODY)];

    (void) state;

    memcpy(body, DOC_BODY, sizeof(DOC_BODY));
    body[6] = 'X';
    assert_int_equal(
        verify((const char *) DOC_SECRET, DOC_TS, DOC_SIG, body, DOC_NOW),
        FERRY_SLACK_MISMATCH);

    /* one byte less, one more, none at all */
    body[6] = DOC_BODY[6];
    body[sizeof(DOC_BODY) - 2] = '\0';
    assert_int_equal(
        verify((const char *) DOC_SECRET, DOC_TS, DOC_SIG, body, DOC_NOW),
        FERRY_SLACK_MISMATCH);
    assert_int_equal(ferry_slack_verify(DOC_SECRET, DOC_SECRET_LEN, S(DOC_TS),
                         S(DOC_SIG), DOC_BODY, sizeof(DOC_BODY), DOC_NOW),
        FERRY_SLACK_MISMATCH);
    assert_int_equal(
        verify((const char *) DOC_SECRET, DOC_TS, DOC_SIG, "", DOC_NOW),
        FERRY_SLACK_MISMATCH);
}

static void
test_slack_sig_rejects_altered_timestamp(void **state)
{
    (void) state;

    /* the signature binds the timestamp: a replay cannot move it */
    assert_int_equal(verify((const char *) DOC_SECRET, "1531420619", DOC_SIG,
                         DOC_BODY, DOC_NOW),
        FERRY_SLACK_MISMATCH);

    /* the same time written differently is other bytes, signed otherwise */
    assert_int_equal(verify((const char *) DOC_SECRET, "01531420618", DOC_SIG,
                         DOC_BODY, DOC_NOW),
        FERRY_SLACK_MISMATCH);
}

static void
test_slack_sig_rejects_malformed_signature_header(void **state)
{
    size_t      i;
    const char *bad[] = {
        "",
        "v0=",
        "v0",
        "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "V0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "v0:a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b50",
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b5030",
        "v0=g2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "v0= 2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b50\n",
        "v0=a2114d57b48eac39b9ad189dd8316235,7b4a8d21a10bd27519666489c69b503",
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(verify((const char *) DOC_SECRET, DOC_TS, bad[i],
                             DOC_BODY, DOC_NOW),
            FERRY_SLACK_BAD_SIGNATURE);
    }

    assert_int_equal(
        verify((const char *) DOC_SECRET, DOC_TS, NULL, DOC_BODY, DOC_NOW),
        FERRY_SLACK_NO_SIGNATURE);

    /* a NUL inside the header is no hex digit */
    assert_int_equal(ferry_slack_check_headers(S(DOC_TS),
                         "v0=a2114d57b48eac39b9ad189dd8316235\0"
                         "7b4a8d21a10bd27519666489c69b503",
                         FERRY_SLACK_SIG_LEN, DOC_NOW),
        FERRY_SLACK_BAD_SIGNATURE);
}

static void
test_slack_sig_accepts_upper_case_hex(void **state)
{
    (void) state;

    assert_int_equal(verify((const char *) DOC_SECRET, DOC_TS,
                         "v0=A2114D57B48EAC39B9AD189DD8316235"
                         "A7B4A8D21A10BD27519666489C69B503",
                         DOC_BODY, DOC_NOW),
        FERRY_SLACK_OK);
    assert_int_equal(verify((const char *) DOC_SECRET, DOC_TS,
                         "v0=a2114D57b48eac39b9ad189dd8316235"
                         "a7b4a8d21a10bd27519666489c69B503",
                         DOC_BODY, DOC_NOW),
        FERRY_SLACK_OK);

    /* and a wrong digit in upper case is still wrong */
    assert_int_equal(verify((const char *) DOC_SECRET, DOC_TS,
                         "v0=B2114D57B48EAC39B9AD189DD8316235"
                         "A7B4A8D21A10BD27519666489C69B503",
                         DOC_BODY, DOC_NOW),
        FERRY_SLACK_MISMATCH);
}

static void
test_slack_sig_refuses_timestamps_over_five_minutes_off(void **state)
{
    const char *s = (const char *) DOC_SECRET;

    (void) state;

    assert_int_equal(
        verify(s, DOC_TS, DOC_SIG, DOC_BODY, DOC_NOW + 300), FERRY_SLACK_OK);
    assert_int_equal(
        verify(s, DOC_TS, DOC_SIG, DOC_BODY, DOC_NOW - 300), FERRY_SLACK_OK);
    assert_int_equal(
        verify(s, DOC_TS, DOC_SIG, DOC_BODY, DOC_NOW + 301), FERRY_SLACK_STALE);
    assert_int_equal(
        verify(s, DOC_TS, DOC_SIG, DOC_BODY, DOC_NOW - 301), FERRY_SLACK_STALE);
    assert_int_equal(
        verify(s, DOC_TS, DOC_SIG, DOC_BODY, DOC_NOW + 360), FERRY_SLACK_STALE);
    assert_int_equal(
        verify(s, DOC_TS, DOC_SIG, DOC_BODY, 0), FERRY_SLACK_STALE);

    /* a stale request is refused before its signature is looked at */
    assert_int_equal(
        verify(s, DOC_TS, "junk", DOC_BODY, DOC_NOW + 3600), FERRY_SLACK_STALE);
}

static void
test_slack_sig_rejects_malformed_timestamp(void **state)
{
    size_t      i;
    const char *bad[] = { "", "-1531420618", "+1531420618", "1531420618.5",
        " 1531420618", "1531420618 ", "0x5b478dca", "1.5e9", "abc",
        "99999999999999999999999" };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(verify((const char *) DOC_SECRET, bad[i], DOC_SIG,
                             DOC_BODY, DOC_NOW),
            FERRY_SLACK_BAD_TIMESTAMP);
    }

    assert_int_equal(
        verify((const char *) DOC_SECRET, NULL, DOC_SIG, DOC_BODY, DOC_NOW),
        FERRY_SLACK_NO_TIMESTAMP);

    /* the header check alone, as the module makes it before the body */
    assert_int_equal(ferry_slack_check_headers(S(DOC_TS), S(DOC_SIG), DOC_NOW),
        FERRY_SLACK_OK);
    assert_int_equal(ferry_slack_check_headers(NULL, 0, NULL, 0, DOC_NOW),
        FERRY_SLACK_NO_TIMESTAMP);
    assert_int_equal(ferry_slack_check_headers(S(DOC_TS), NULL, 0, DOC_NOW),
        FERRY_SLACK_NO_SIGNATURE);
}

static void
test_slack_sig_signs_an_event_and_an_empty_body(void **state)
{
    char        sig[FERRY_SLACK_SIG_LEN + 1];
    const char *event = "{\"type\":\"event_callback\",\"event_id\":\"Ev1\"}";

    (void) state;

    assert_int_equal(ferry_slack_sign((const unsigned char *) "s3cret", 6,
                         S("1700000000"), event, strlen(event), sig),
        0);
    assert_int_equal(strlen(sig), FERRY_SLACK_SIG_LEN);
    assert_int_equal(
        verify("s3cret", "1700000000", sig, event, 1700000000), FERRY_SLACK_OK);

    assert_int_equal(ferry_slack_sign((const unsigned char *) "s3cret", 6,
                         S("1700000000"), "", 0, sig),
        0);
    assert_int_equal(
        verify("s3cret", "1700000000", sig, "", 1700000000), FERRY_SLACK_OK);
}

static void
test_hmac_parts_equal_the_whole(void **state)
{
    unsigned char     a[FERRY_HMAC_LEN], b[FERRY_HMAC_LEN];
    ferry_hmac_part_t parts[] = { { "v0:", 3 }, { "", 0 }, { DOC_TS, 10 },
        { ":", 1 }, { DOC_BODY, sizeof(DOC_BODY) - 1 } };
    char              whole[sizeof(DOC_BODY) + 32];

    (void) state;

    strcpy(whole, "v0:" DOC_TS ":");
    strcat(whole, DOC_BODY);

    assert_int_equal(
        ferry_hmac_sha256(DOC_SECRET, DOC_SECRET_LEN, whole, strlen(whole), a),
        0);
    assert_int_equal(
        ferry_hmac_sha256_parts(DOC_SECRET, DOC_SECRET_LEN, parts, 5, b), 0);
    assert_memory_equal(a, b, FERRY_HMAC_LEN);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slack_sig_reproduces_slack_docs_example),
        cmocka_unit_test(test_slack_sig_rejects_wrong_secret),
        cmocka_unit_test(test_slack_sig_rejects_altered_body),
        cmocka_unit_test(test_slack_sig_rejects_altered_timestamp),
        cmocka_unit_test(test_slack_sig_rejects_malformed_signature_header),
        cmocka_unit_test(test_slack_sig_accepts_upper_case_hex),
        cmocka_unit_test(
            test_slack_sig_refuses_timestamps_over_five_minutes_off),
        cmocka_unit_test(test_slack_sig_rejects_malformed_timestamp),
        cmocka_unit_test(test_slack_sig_signs_an_event_and_an_empty_body),
        cmocka_unit_test(test_hmac_parts_equal_the_whole),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

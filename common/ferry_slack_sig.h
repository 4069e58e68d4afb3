/*
 * Slack's request signatures (v0), checked by the module's ferry_webhook
 * slack before a request from Slack is believed. Pure C over ferry_hmac.
 *
 * "Verifying requests from Slack" (api.slack.com/authentication/
 * verifying-requests-from-slack): X-Slack-Signature is "v0=" and the hex
 * HMAC-SHA256, keyed with the app's signing secret, of
 * "v0:<X-Slack-Request-Timestamp>:<the raw body>"; a request whose
 * timestamp is more than five minutes from the local clock is ignored (a
 * replay), and signatures are compared in constant time.
 */
#ifndef FERRY_SLACK_SIG_H
#define FERRY_SLACK_SIG_H

#include <stddef.h>

#include "ferry_hmac.h"

/* "v0=" and 64 hex digits */
#define FERRY_SLACK_SIG_LEN (sizeof("v0=") - 1 + 2 * FERRY_HMAC_LEN)

/* seconds a request's timestamp may be off the local clock, either way */
#define FERRY_SLACK_MAX_SKEW (5 * 60)

typedef enum {
    FERRY_SLACK_OK = 0,
    FERRY_SLACK_NO_TIMESTAMP,
    FERRY_SLACK_BAD_TIMESTAMP, /* not a Unix time in decimal digits */
    FERRY_SLACK_STALE,         /* more than FERRY_SLACK_MAX_SKEW off */
    FERRY_SLACK_NO_SIGNATURE,
    FERRY_SLACK_BAD_SIGNATURE, /* not "v0=" and 64 hex digits */
    FERRY_SLACK_MISMATCH,
    FERRY_SLACK_ERROR /* OpenSSL failed */
} ferry_slack_rc_t;

/*
 * Writes the signature of a request ("v0=" and lower-case hex) and a NUL
 * into out. 0, or -1 when OpenSSL fails.
 */
int ferry_slack_sign(const unsigned char *secret, size_t secretlen,
    const char *ts, size_t tslen, const void *body, size_t bodylen,
    char out[FERRY_SLACK_SIG_LEN + 1]);

/*
 * What can be checked before the body is read: the timestamp (NULL when
 * the header is missing) is a Unix time within FERRY_SLACK_MAX_SKEW
 * seconds of now, and the signature (NULL when missing) has the v0 shape.
 * The hex digits may be in either case.
 */
ferry_slack_rc_t ferry_slack_check_headers(const char *ts, size_t tslen,
    const char *sig, size_t siglen, long long now);

/*
 * All of it: the headers as above, then the signature over the raw body,
 * compared in constant time.
 */
ferry_slack_rc_t ferry_slack_verify(const unsigned char *secret,
    size_t secretlen, const char *ts, size_t tslen, const char *sig,
    size_t siglen, const void *body, size_t bodylen, long long now);

const char *ferry_slack_strerror(ferry_slack_rc_t rc);

#endif

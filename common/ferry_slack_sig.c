/*
 * Slack request signatures.
 */
#include "ferry_slack_sig.h"

#include <ctype.h>

#include <openssl/crypto.h>

#define FERRY_SLACK_VERSION "v0"

/* a Unix time of more digits is no time Slack sends */
#define FERRY_SLACK_TS_MAX_DIGITS 12

static int ferry_slack_parse_ts(const char *ts, size_t tslen, long long *t);

int
ferry_slack_sign(const unsigned char *secret, size_t secretlen, const char *ts,
    size_t tslen, const void *body, size_t bodylen,
    char out[FERRY_SLACK_SIG_LEN + 1])
{
    unsigned char     md[FERRY_HMAC_LEN];
    ferry_hmac_part_t parts[] = {
        { FERRY_SLACK_VERSION ":", sizeof(FERRY_SLACK_VERSION ":") - 1 },
        { ts, tslen },
        { ":", 1 },
        { body, bodylen },
    };

    if (ferry_hmac_sha256_parts(
            secret, secretlen, parts, sizeof(parts) / sizeof(parts[0]), md)
        != 0)
    {
        return -1;
    }

    out[0] = 'v';
    out[1] = '0';
    out[2] = '=';
    ferry_hex(md, sizeof(md), out + 3);

    return 0;
}

ferry_slack_rc_t
ferry_slack_check_headers(
    const char *ts, size_t tslen, const char *sig, size_t siglen, long long now)
{
    size_t    i;
    long long t;

    if (ts == NULL) {
        return FERRY_SLACK_NO_TIMESTAMP;
    }

    if (ferry_slack_parse_ts(ts, tslen, &t) != 0) {
        return FERRY_SLACK_BAD_TIMESTAMP;
    }

    if (t < now - FERRY_SLACK_MAX_SKEW || t > now + FERRY_SLACK_MAX_SKEW) {
        return FERRY_SLACK_STALE;
    }

    if (sig == NULL) {
        return FERRY_SLACK_NO_SIGNATURE;
    }

    if (siglen != FERRY_SLACK_SIG_LEN || sig[0] != 'v' || sig[1] != '0'
        || sig[2] != '=')
    {
        return FERRY_SLACK_BAD_SIGNATURE;
    }

    for (i = 3; i < siglen; i++) {
        if (!isxdigit((unsigned char) sig[i])) {
            return FERRY_SLACK_BAD_SIGNATURE;
        }
    }

    return FERRY_SLACK_OK;
}

ferry_slack_rc_t
ferry_slack_verify(const unsigned char *secret, size_t secretlen,
    const char *ts, size_t tslen, const char *sig, size_t siglen,
    const void *body, size_t bodylen, long long now)
{
    char             want[FERRY_SLACK_SIG_LEN + 1], got[FERRY_SLACK_SIG_LEN];
    size_t           i;
    ferry_slack_rc_t rc;

    rc = ferry_slack_check_headers(ts, tslen, sig, siglen, now);

    if (rc != FERRY_SLACK_OK) {
        return rc;
    }

    if (ferry_slack_sign(secret, secretlen, ts, tslen, body, bodylen, want)
        != 0) {
        return FERRY_SLACK_ERROR;
    }

    /* hex is hex in either case: the digits are compared, not their case */
    for (i = 0; i < FERRY_SLACK_SIG_LEN; i++) {
        got[i] =
            (sig[i] >= 'A' && sig[i] <= 'F') ? sig[i] + ('a' - 'A') : sig[i];
    }

    if (CRYPTO_memcmp(got, want, FERRY_SLACK_SIG_LEN) != 0) {
        return FERRY_SLACK_MISMATCH;
    }

    return FERRY_SLACK_OK;
}

const char *
ferry_slack_strerror(ferry_slack_rc_t rc)
{
    switch (rc) {

    case FERRY_SLACK_OK:
        return "ok";

    case FERRY_SLACK_NO_TIMESTAMP:
        return "missing X-Slack-Request-Timestamp";

    case FERRY_SLACK_BAD_TIMESTAMP:
        return "invalid X-Slack-Request-Timestamp";

    case FERRY_SLACK_STALE:
        return "X-Slack-Request-Timestamp is more than 5 minutes off";

    case FERRY_SLACK_NO_SIGNATURE:
        return "missing X-Slack-Signature";

    case FERRY_SLACK_BAD_SIGNATURE:
        return "malformed X-Slack-Signature";

    case FERRY_SLACK_MISMATCH:
        return "X-Slack-Signature does not match";

    default:
        return "the signature could not be computed";
    }
}

/* Decimal digits only: no sign, no spaces, no fraction. */

static int
ferry_slack_parse_ts(const char *ts, size_t tslen, long long *t)
{
    size_t i;

    if (tslen == 0 || tslen > FERRY_SLACK_TS_MAX_DIGITS) {
        return -1;
    }

    *t = 0;

    for (i = 0; i < tslen; i++) {
        if (ts[i] < '0' || ts[i] > '9') {
            return -1;
        }

        *t = *t * 10 + (ts[i] - '0');
    }

    return 0;
}

/*
 * HS256 JSON Web Tokens: signing and verification.
 */
#include "ferry_jwt.h"

#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "ferry_base64url.h"
#include "ferry_hmac.h"
#include "ferry_json.h"

#define FERRY_JWT_HEADER  "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define FERRY_JWT_SIG_LEN FERRY_HMAC_LEN

/* NumericDate (RFC 7519): seconds since the epoch; up to 9999-12-31 */
#define FERRY_JWT_DATE_MAX 253402300799.0

/* Decodes one base64url segment and parses it as a JSON object. */
static cJSON *
ferry_jwt_segment(const char *s, size_t n)
{
    unsigned char buf[FERRY_B64URL_DECODED_MAX(FERRY_JWT_MAX_LEN)];
    char          path[FERRY_JSON_PATH_MAX];
    long          len;
    cJSON        *json;
    const char   *end, *why;

    len = ferry_b64url_decode(buf, s, n);
    if (len <= 0) {
        return NULL;
    }

    json = cJSON_ParseWithLengthOpts((const char *) buf, (size_t) len, &end, 0);
    if (json == NULL) {
        return NULL;
    }

    /* a repeated member ("alg" twice) or a string cut at a NUL would be
     * read one way here and another way by the token's maker */
    if (!cJSON_IsObject(json) || end != (const char *) buf + len
        || !ferry_json_unique(json)
        || ferry_json_check_strings(
               (const char *) buf, (size_t) len, path, sizeof(path), &why)
            != 0)
    {
        cJSON_Delete(json);
        return NULL;
    }

    return json;
}

/* A NumericDate claim: 0, or -1 when it is not a whole number of seconds
 * between the epoch and FERRY_JWT_DATE_MAX. */
static int
ferry_jwt_date(const cJSON *item, long long *out)
{
    double v;

    if (!cJSON_IsNumber(item)) {
        return -1;
    }

    v = item->valuedouble;

    if (!(v >= 0 && v <= FERRY_JWT_DATE_MAX) || (double) (long long) v != v) {
        return -1;
    }

    *out = (long long) v;

    return 0;
}

static int
ferry_jwt_aud_matches(const cJSON *aud, const char *want)
{
    const cJSON *a;

    if (cJSON_IsString(aud)) {
        return strcmp(aud->valuestring, want) == 0;
    }

    if (cJSON_IsArray(aud)) {
        cJSON_ArrayForEach(a, aud)
        {
            if (cJSON_IsString(a) && strcmp(a->valuestring, want) == 0) {
                return 1;
            }
        }
    }

    return 0;
}

ferry_jwt_rc_t
ferry_jwt_verify(const char *token, size_t len, const unsigned char *key,
    size_t keylen, const ferry_jwt_check_t *chk, ferry_jwt_claims_t *claims)
{
    const char    *dot1, *dot2;
    unsigned char  sig[FERRY_B64URL_DECODED_MAX(FERRY_JWT_MAX_LEN)];
    unsigned char  md[FERRY_JWT_SIG_LEN];
    long           siglen;
    cJSON         *json, *item;
    ferry_jwt_rc_t rc;

    if (len > FERRY_JWT_MAX_LEN) {
        return FERRY_JWT_TOO_LONG;
    }

    dot1 = memchr(token, '.', len);
    if (dot1 == NULL) {
        return FERRY_JWT_MALFORMED;
    }

    dot2 = memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token));
    if (dot2 == NULL
        || memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - token)) != NULL)
    {
        return FERRY_JWT_MALFORMED;
    }

    /* the header first: alg is pinned, whatever the token claims */

    json = ferry_jwt_segment(token, (size_t) (dot1 - token));
    if (json == NULL) {
        return FERRY_JWT_MALFORMED;
    }

    item = cJSON_GetObjectItemCaseSensitive(json, "alg");
    rc = (cJSON_IsString(item) && strcmp(item->valuestring, "HS256") == 0)
        ? FERRY_JWT_OK
        : FERRY_JWT_BAD_ALG;

    if (rc == FERRY_JWT_OK && cJSON_GetObjectItemCaseSensitive(json, "crit")) {
        rc = FERRY_JWT_BAD_ALG;
    }

    cJSON_Delete(json);

    if (rc != FERRY_JWT_OK) {
        return rc;
    }

    siglen =
        ferry_b64url_decode(sig, dot2 + 1, len - (size_t) (dot2 + 1 - token));
    if (siglen < 0) {
        return FERRY_JWT_MALFORMED;
    }

    if (ferry_hmac_sha256(key, keylen, token, (size_t) (dot2 - token), md) != 0)
    {
        return FERRY_JWT_BAD_SIGNATURE;
    }

    if (siglen != FERRY_JWT_SIG_LEN
        || CRYPTO_memcmp(sig, md, FERRY_JWT_SIG_LEN) != 0)
    {
        return FERRY_JWT_BAD_SIGNATURE;
    }

    /* the payload is read only once the signature is known to be ours */

    json = ferry_jwt_segment(dot1 + 1, (size_t) (dot2 - dot1 - 1));
    if (json == NULL) {
        return FERRY_JWT_MALFORMED;
    }

    rc = FERRY_JWT_OK;

    item = cJSON_GetObjectItemCaseSensitive(json, "exp");
    if (ferry_jwt_date(item, &claims->exp) != 0) {
        rc = FERRY_JWT_MALFORMED;
        goto done;
    }

    if ((long long) chk->now >= claims->exp + chk->leeway) {
        rc = FERRY_JWT_EXPIRED;
        goto done;
    }

    claims->nbf = 0;

    item = cJSON_GetObjectItemCaseSensitive(json, "nbf");
    if (item != NULL) {
        if (ferry_jwt_date(item, &claims->nbf) != 0) {
            rc = FERRY_JWT_MALFORMED;
            goto done;
        }

        if ((long long) chk->now + chk->leeway < claims->nbf) {
            rc = FERRY_JWT_NOT_YET_VALID;
            goto done;
        }
    }

    if (chk->iss) {
        item = cJSON_GetObjectItemCaseSensitive(json, "iss");
        if (!cJSON_IsString(item) || strcmp(item->valuestring, chk->iss) != 0) {
            rc = FERRY_JWT_BAD_ISSUER;
            goto done;
        }
    }

    if (chk->aud) {
        item = cJSON_GetObjectItemCaseSensitive(json, "aud");
        if (!ferry_jwt_aud_matches(item, chk->aud)) {
            rc = FERRY_JWT_BAD_AUDIENCE;
            goto done;
        }
    }

    item = cJSON_GetObjectItemCaseSensitive(json, "sub");
    if (!cJSON_IsString(item) || item->valuestring[0] == '\0'
        || strlen(item->valuestring) > FERRY_JWT_SUB_MAX)
    {
        rc = FERRY_JWT_MALFORMED;
        goto done;
    }

    strcpy(claims->sub, item->valuestring);

done:

    cJSON_Delete(json);

    return rc;
}

const char *
ferry_jwt_strerror(ferry_jwt_rc_t rc)
{
    switch (rc) {
    case FERRY_JWT_OK:
        return "valid";
    case FERRY_JWT_TOO_LONG:
        return "token too long";
    case FERRY_JWT_MALFORMED:
        return "malformed token";
    case FERRY_JWT_BAD_ALG:
        return "unsupported algorithm";
    case FERRY_JWT_BAD_SIGNATURE:
        return "bad signature";
    case FERRY_JWT_EXPIRED:
        return "token expired";
    case FERRY_JWT_NOT_YET_VALID:
        return "token not yet valid";
    case FERRY_JWT_BAD_ISSUER:
        return "wrong issuer";
    case FERRY_JWT_BAD_AUDIENCE:
        return "wrong audience";
    }

    return "invalid token";
}

size_t
ferry_jwt_key_len(const unsigned char *file, size_t len)
{
    while (len
        && (file[len - 1] == '\n' || file[len - 1] == '\r'
            || file[len - 1] == ' ' || file[len - 1] == '\t'))
    {
        len--;
    }

    return len;
}

long
ferry_jwt_sign(char *out, size_t outlen, const char *claims, size_t claims_len,
    const unsigned char *key, size_t keylen)
{
    size_t        n, need;
    unsigned char md[FERRY_JWT_SIG_LEN];

    need = FERRY_B64URL_ENCODED_LEN(sizeof(FERRY_JWT_HEADER) - 1) + 1
        + FERRY_B64URL_ENCODED_LEN(claims_len) + 1
        + FERRY_B64URL_ENCODED_LEN(FERRY_JWT_SIG_LEN) + 1;

    if (need > outlen) {
        return -1;
    }

    n = ferry_b64url_encode(out, (const unsigned char *) FERRY_JWT_HEADER,
        sizeof(FERRY_JWT_HEADER) - 1);
    out[n++] = '.';
    n += ferry_b64url_encode(
        out + n, (const unsigned char *) claims, claims_len);

    if (ferry_hmac_sha256(key, keylen, out, n, md) != 0) {
        return -1;
    }

    out[n++] = '.';
    n += ferry_b64url_encode(out + n, md, FERRY_JWT_SIG_LEN);
    out[n] = '\0';

    return (long) n;
}

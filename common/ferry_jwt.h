/*
 * HS256 JSON Web Tokens (RFC 7519): ferryd signs them at login, the nginx
 * module verifies them on every request. Pure C over OpenSSL's HMAC and cJSON.
 */
#ifndef FERRY_JWT_H
#define FERRY_JWT_H

#include <stddef.h>
#include <time.h>

#define FERRY_JWT_MAX_LEN 4096 /* longer tokens are refused unread */
#define FERRY_JWT_SUB_MAX 128
#define FERRY_JWT_KEY_MIN 32 /* bytes of secret, at least */

typedef enum {
    FERRY_JWT_OK = 0,
    FERRY_JWT_TOO_LONG,
    FERRY_JWT_MALFORMED,
    FERRY_JWT_BAD_ALG,
    FERRY_JWT_BAD_SIGNATURE,
    FERRY_JWT_EXPIRED,
    FERRY_JWT_NOT_YET_VALID,
    FERRY_JWT_BAD_ISSUER,
    FERRY_JWT_BAD_AUDIENCE
} ferry_jwt_rc_t;

typedef struct {
    time_t      now;
    long        leeway; /* seconds of clock skew allowed on exp and nbf */
    const char *iss;    /* required issuer, or NULL */
    const char *aud;    /* required audience, or NULL */
} ferry_jwt_check_t;

typedef struct {
    char      sub[FERRY_JWT_SUB_MAX + 1];
    long long exp;
    long long nbf; /* 0 when the token has none */
} ferry_jwt_claims_t;

/*
 * Verifies a compact HS256 token: alg pinned to HS256, the signature
 * compared in constant time before the payload is read, "exp" required,
 * "nbf", "iss", "aud" checked when present or required, "sub" a non-empty
 * string. Fills claims on FERRY_JWT_OK.
 */
ferry_jwt_rc_t ferry_jwt_verify(const char *token, size_t len,
    const unsigned char *key, size_t keylen, const ferry_jwt_check_t *chk,
    ferry_jwt_claims_t *claims);

const char *ferry_jwt_strerror(ferry_jwt_rc_t rc);

/*
 * The key is the secret file's content less trailing whitespace (so that
 * `echo secret > file` works). Returns the key length to use.
 */
size_t ferry_jwt_key_len(const unsigned char *file, size_t len);

/*
 * Signs claims (the text of a JSON object) with HS256 into out as a
 * NUL-terminated compact token. Returns its length, or -1 when out is too
 * small or signing fails.
 */
long ferry_jwt_sign(char *out, size_t outlen, const char *claims,
    size_t claims_len, const unsigned char *key, size_t keylen);

#endif

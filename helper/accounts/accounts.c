/*
 * Accounts. Passwords are stored only as yescrypt hashes (libxcrypt's
 * crypt_r); an unknown email is checked against a dummy hash so that it
 * takes as long as a wrong password.
 */
#include "accounts.h"

#include <crypt.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "ferry_email.h"
#include "ferry_hmac.h"
#include "ferry_jwt.h"
#include "core/caller.h"
#include "core/log.h"

/* the policy, in characters (UTF-8 code points), at registration only */
#define ACCOUNTS_PASSWORD_MIN 8
#define ACCOUNTS_PASSWORD_MAX 1024

/* libxcrypt refuses phrases of CRYPT_MAX_PASSPHRASE_SIZE (512) bytes or
 * more: such a password is hashed as "sha256:" and the hex SHA-256 of it */
#define ACCOUNTS_PREHASH "sha256:"
#define ACCOUNTS_PHRASE_MAX                                                    \
    (sizeof(ACCOUNTS_PREHASH) + 2 * SHA256_DIGEST_LENGTH)

static char           accounts_dummy[CRYPT_OUTPUT_SIZE];
static pthread_once_t accounts_dummy_once = PTHREAD_ONCE_INIT;

/* What crypt_r() is given for a password: itself, or its pre-hash. */
static const char *
accounts_phrase(const char *password, char out[ACCOUNTS_PHRASE_MAX])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    size_t        n = strlen(password);

    if (n < CRYPT_MAX_PASSPHRASE_SIZE) {
        return password;
    }

    SHA256((const unsigned char *) password, n, md);
    memcpy(out, ACCOUNTS_PREHASH, sizeof(ACCOUNTS_PREHASH) - 1);
    ferry_hex(md, sizeof(md), out + sizeof(ACCOUNTS_PREHASH) - 1);

    return out;
}

/* yescrypt at libxcrypt's default cost, salted from OpenSSL's RNG */
static int
accounts_hash(const char *password, char *out)
{
    char               phrase[ACCOUNTS_PHRASE_MAX];
    char               salt[CRYPT_GENSALT_OUTPUT_SIZE];
    unsigned char      rnd[32];
    struct crypt_data *cd;
    const char        *h;
    int                rc = -1;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1
        || crypt_gensalt_rn(
               "$y$", 0, (const char *) rnd, sizeof(rnd), salt, sizeof(salt))
            == NULL)
    {
        return -1;
    }

    cd = calloc(1, sizeof(*cd));
    if (cd == NULL) {
        return -1;
    }

    h = crypt_r(accounts_phrase(password, phrase), salt, cd);
    if (h && h[0] != '*') {
        snprintf(out, CRYPT_OUTPUT_SIZE, "%s", h);
        rc = 0;
    }

    free(cd);

    return rc;
}

static int
accounts_verify(const char *password, const char *hash)
{
    char               phrase[ACCOUNTS_PHRASE_MAX];
    struct crypt_data *cd;
    const char        *h;
    int                ok = 0;

    cd = calloc(1, sizeof(*cd));
    if (cd == NULL) {
        return 0;
    }

    h = crypt_r(accounts_phrase(password, phrase), hash, cd);
    if (h && h[0] != '*' && strlen(h) == strlen(hash)) {
        ok = CRYPTO_memcmp(h, hash, strlen(hash)) == 0;
    }

    free(cd);

    return ok;
}

static void
accounts_make_dummy(void)
{
    if (accounts_hash("ferry-dummy-password", accounts_dummy) != 0) {
        accounts_dummy[0] = '\0';
    }
}

/* Characters, not bytes: the request's strings are known to be UTF-8. */
static size_t
accounts_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++) {
        n += ((unsigned char) *s & 0xc0) != 0x80;
    }

    return n;
}

/* Reads {"email","password"}: 0, or 422 naming the field in resp. The
 * password policy is checked when registering only: at login any wrong
 * password is just wrong (401). */
static int
accounts_credentials(req_t *req, resp_t *resp, char *email,
    const char **password, int registering)
{
    cJSON *e, *p;
    size_t n;

    if (!cJSON_IsObject(req->body)) {
        resp_error(resp, 422,
            "request body must be a JSON object with email and password");
        return -1;
    }

    e = cJSON_GetObjectItemCaseSensitive(req->body, "email");
    p = cJSON_GetObjectItemCaseSensitive(req->body, "password");

    if (!cJSON_IsString(e)) {
        resp_field_error(resp, 422, "email", "email is required");
        return -1;
    }

    if (ferry_email_normalize(e->valuestring, email) != 0) {
        resp_field_error(resp, 422, "email", "email is not a valid address");
        return -1;
    }

    if (!cJSON_IsString(p)) {
        resp_field_error(resp, 422, "password", "password is required");
        return -1;
    }

    n = accounts_chars(p->valuestring);

    if (registering && (n < ACCOUNTS_PASSWORD_MIN || n > ACCOUNTS_PASSWORD_MAX))
    {
        resp_field_error(resp, 422, "password",
            "password must be 8 to 1024 characters long");
        return -1;
    }

    *password = p->valuestring;

    return 0;
}

static void
accounts_user_json(resp_t *resp, int status, const char *id, const char *email)
{
    cJSON *json = cJSON_CreateObject();

    cJSON_AddStringToObject(json, "id", id);
    cJSON_AddStringToObject(json, "email", email);
    resp_json(resp, status, json);
}

void
accounts_register(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    char        email[FERRY_EMAIL_MAX + 1], hash[CRYPT_OUTPUT_SIZE];
    const char *password, *params[2];
    PGconn     *conn;
    PGresult   *res;

    if (accounts_credentials(req, resp, email, &password, 1) != 0) {
        return;
    }

    if (accounts_hash(password, hash) != 0) {
        resp_internal_error(resp, req->rid, "register: cannot hash a password");
        return;
    }

    conn = caller_db(ferry, resp);
    if (conn == NULL) {
        return;
    }

    params[0] = email;
    params[1] = hash;
    res = db_query(conn,
        "INSERT INTO users (email, password_hash) VALUES ($1, $2) "
        "ON CONFLICT (email) DO NOTHING RETURNING id",
        2, params);

    if (res == NULL) {
        resp_internal_error(
            resp, req->rid, "register: %s", PQerrorMessage(conn));

    } else if (PQntuples(res) == 0) {
        log_debug(req->rid, "register: %s is already registered", email);
        resp_field_error(resp, 409, "email", "email is already registered");

    } else {
        log_info(req->rid, "registered user %s", PQgetvalue(res, 0, 0));
        accounts_user_json(resp, 201, PQgetvalue(res, 0, 0), email);
    }

    db_release(ferry->db, conn);
    PQclear(res);
}

void
accounts_token(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    char        email[FERRY_EMAIL_MAX + 1], claims[512], token[2048];
    const char *password, *params[1], *id = NULL;
    int         ok = 0;
    long        n;
    time_t      now;
    cJSON      *json, *c;
    char       *text;
    PGconn     *conn;
    PGresult   *res;

    if (accounts_credentials(req, resp, email, &password, 0) != 0) {
        return;
    }

    if (ferry->jwt_key_len == 0) {
        resp_error(
            resp, 503, "token signing is not configured (JWT_SECRET_FILE)");
        return;
    }

    conn = caller_db(ferry, resp);
    if (conn == NULL) {
        return;
    }

    params[0] = email;
    res = db_query(conn, "SELECT id, password_hash FROM users WHERE email = $1",
        1, params);
    if (res == NULL) {
        resp_internal_error(resp, req->rid, "token: %s", PQerrorMessage(conn));
        db_release(ferry->db, conn);
        return;
    }

    db_release(ferry->db, conn);

    if (PQntuples(res) == 1) {
        id = PQgetvalue(res, 0, 0);
        ok = accounts_verify(password, PQgetvalue(res, 0, 1));

    } else {
        /* as slow as a wrong password, so timing tells nothing */
        pthread_once(&accounts_dummy_once, accounts_make_dummy);
        (void) accounts_verify(password, accounts_dummy);
    }

    if (!ok) {
        log_warn(req->rid, "token: wrong email or password");
        PQclear(res);
        resp_error(resp, 401, "invalid email or password");
        resp_header(resp, "WWW-Authenticate", "Bearer");
        return;
    }

    now = time(NULL);

    c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "sub", id);
    cJSON_AddNumberToObject(c, "iat", (double) now);
    cJSON_AddNumberToObject(
        c, "exp", (double) (now + ferry->cfg.jwt_access_ttl_seconds));
    if (ferry->cfg.jwt_issuer[0]) {
        cJSON_AddStringToObject(c, "iss", ferry->cfg.jwt_issuer);
    }
    if (ferry->cfg.jwt_audience[0]) {
        cJSON_AddStringToObject(c, "aud", ferry->cfg.jwt_audience);
    }

    text = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    snprintf(claims, sizeof(claims), "%s", text ? text : "");
    cJSON_free(text);

    n = ferry_jwt_sign(token, sizeof(token), claims, strlen(claims),
        ferry->jwt_key, ferry->jwt_key_len);
    if (n < 0) {
        PQclear(res);
        resp_internal_error(resp, req->rid, "token: cannot sign a JWT");
        return;
    }

    log_info(req->rid, "issued a token for user %s", id);
    PQclear(res);

    json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "access_token", token);
    cJSON_AddStringToObject(json, "token_type", "bearer");
    cJSON_AddNumberToObject(
        json, "expires_in", ferry->cfg.jwt_access_ttl_seconds);
    resp_json(resp, 200, json);
    resp_header(resp, "Cache-Control", "no-store");
}

void
accounts_me(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    const char *params[1];
    PGconn     *conn;
    PGresult   *res;

    conn = caller_conn(ferry, req, resp);
    if (conn == NULL) {
        return;
    }

    params[0] = req->user;
    res = db_query(
        conn, "SELECT id, email FROM users WHERE id::text = $1", 1, params);

    if (res && PQntuples(res) == 1) {
        accounts_user_json(
            resp, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    } else {
        resp_error(resp, 401, "unknown user");
    }

    db_release(ferry->db, conn);
    PQclear(res);
}

/*
 * Idempotency records. The INSERT ... ON CONFLICT DO NOTHING of a duplicate
 * blocks on the primary key until the first request's transaction ends:
 * then the record is there to replay, or gone (rolled back) and the
 * duplicate becomes the first.
 */
#include "idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef struct {
    const char *user;
    const char *key;
    const char *fp;
    char        ttl[24];
} idem_args_t;

static int
idem_args(req_t *req, idem_args_t *a)
{
    cJSON *key, *fp, *ttl;

    if (!cJSON_IsObject(req->idem)) {
        return -1;
    }

    key = cJSON_GetObjectItemCaseSensitive(req->idem, "key");
    fp = cJSON_GetObjectItemCaseSensitive(req->idem, "fp");
    ttl = cJSON_GetObjectItemCaseSensitive(req->idem, "ttl");

    if (!cJSON_IsString(key) || !cJSON_IsString(fp)) {
        return -1;
    }

    a->user = req->user ? req->user : "";
    a->key = key->valuestring;
    a->fp = fp->valuestring;
    snprintf(a->ttl, sizeof(a->ttl), "%ld",
        cJSON_IsNumber(ttl) && ttl->valuedouble > 0 ? (long) ttl->valuedouble
                                                    : 86400L);

    return 0;
}

static idem_rc_t
idem_fail(PGconn *conn, req_t *req, resp_t *resp, PGresult *res)
{
    resp_internal_error(
        resp, req->rid, "idempotency: %s", PQerrorMessage(conn));
    PQclear(res);
    return IDEM_ERROR;
}

idem_rc_t
idem_claim(PGconn *conn, req_t *req, resp_t *resp)
{
    idem_args_t a;
    const char *params[4];
    PGresult   *res;
    char       *body;

    if (idem_args(req, &a) != 0) {
        return IDEM_NONE;
    }

    params[0] = a.user;
    params[1] = a.key;
    params[2] = a.fp;
    params[3] = a.ttl;

    if (db_run(conn,
            "DELETE FROM idempotency_keys "
            "WHERE user_id = $1 AND key = $2 AND expires_at < now()",
            2, params)
        < 0)
    {
        return idem_fail(conn, req, resp, NULL);
    }

    res = db_query(conn,
        "INSERT INTO idempotency_keys (user_id, key, fingerprint, "
        "response_status, response_body, expires_at) "
        "VALUES ($1, $2, $3, 0, '', now() + $4::int * interval '1 second') "
        "ON CONFLICT (user_id, key) DO NOTHING RETURNING 1",
        4, params);
    if (res == NULL) {
        return idem_fail(conn, req, resp, res);
    }

    if (PQntuples(res) == 1) {
        PQclear(res);
        return IDEM_NEW;
    }

    PQclear(res);

    res = db_query(conn,
        "SELECT fingerprint, response_status, response_body "
        "FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        2, params);
    if (res == NULL || PQntuples(res) != 1) {
        return idem_fail(conn, req, resp, res);
    }

    if (strcmp(PQgetvalue(res, 0, 0), a.fp) != 0) {
        log_info(
            req->rid, "Idempotency-Key %s reused for another request", a.key);
        PQclear(res);
        resp_error(resp, 422,
            "Idempotency-Key was already used for a different request");
        return IDEM_MISMATCH;
    }

    /* a 201 is replayed as 200, as the services Ferry replaces did */
    resp->status = atoi(PQgetvalue(res, 0, 1));
    if (resp->status == 201) {
        resp->status = 200;
    }

    body = strdup(PQgetvalue(res, 0, 2));
    PQclear(res);

    if (body == NULL) {
        resp_error(resp, 500, "out of memory");
        return IDEM_ERROR;
    }

    free(resp->body);
    resp->body = body;
    resp->body_len = strlen(body);
    resp_header(resp, "Idempotent-Replayed", "true");

    log_info(req->rid, "Idempotency-Key %s replayed", a.key);

    return IDEM_REPLAY;
}

int
idem_store(PGconn *conn, req_t *req, const resp_t *resp)
{
    idem_args_t a;
    char        status[16];
    const char *params[4];

    if (idem_args(req, &a) != 0) {
        return 0;
    }

    snprintf(status, sizeof(status), "%d", resp->status);

    params[0] = a.user;
    params[1] = a.key;
    params[2] = status;
    params[3] = resp->body ? resp->body : "";

    if (db_run(conn,
            "UPDATE idempotency_keys SET response_status = $3, "
            "response_body = $4 WHERE user_id = $1 AND key = $2",
            4, params)
        < 0)
    {
        log_error(req->rid, "idempotency: %s", PQerrorMessage(conn));
        return -1;
    }

    return 0;
}

void
idem_purge(ferryd_t *ferry)
{
    PGconn *conn;
    int     n;

    conn = db_acquire(ferry->db);
    if (conn == NULL) {
        return;
    }

    n = db_run(
        conn, "DELETE FROM idempotency_keys WHERE expires_at < now()", 0, NULL);

    if (n < 0) {
        log_warn(
            "idempotency", "purging expired keys: %s", PQerrorMessage(conn));

    } else if (n > 0) {
        log_info(
            "idempotency", "purged %d expired Idempotency-Key record(s)", n);
    }

    db_release(ferry->db, conn);
}

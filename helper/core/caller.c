/*
 * The caller of a request, as handlers that act for a user need it: the
 * user checked against the users table (a token outlives a deleted
 * account), and the uploaded file checked to be one of the spool's.
 */
#include "caller.h"

#include <string.h>

#include "log.h"

static int
caller_check_user(PGconn *conn, req_t *req, resp_t *resp)
{
    const char *params[1];
    int         found;

    if (req->user == NULL) {
        resp_error(resp, 401, "authentication required");
        return -1;
    }

    params[0] = req->user;
    found = db_run(conn, "SELECT 1 FROM users WHERE id::text = $1", 1, params);
    if (found < 0) {
        resp_internal_error(
            resp, req->rid, "user check: %s", PQerrorMessage(conn));
        return -1;
    }

    if (!found) {
        log_info(req->rid, "token for an unknown user %s", req->user);
        resp_error(resp, 401, "unknown user");
        resp_header(resp, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        return -1;
    }

    return 0;
}

PGconn *
caller_db(ferryd_t *ferry, resp_t *resp)
{
    PGconn *conn = db_acquire(ferry->db);

    if (conn == NULL) {
        resp_error(resp, 503, "database unavailable");
    }

    return conn;
}

PGconn *
caller_conn(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    PGconn *conn;

    conn = caller_db(ferry, resp);
    if (conn == NULL) {
        return NULL;
    }

    if (caller_check_user(conn, req, resp) != 0) {
        db_release(ferry->db, conn);
        return NULL;
    }

    return conn;
}

const char *
caller_upload(ferryd_t *ferry, req_t *req)
{
    cJSON      *path;
    size_t      n;
    const char *p;

    path = cJSON_GetObjectItemCaseSensitive(req->file, "path");
    if (!cJSON_IsString(path)) {
        return NULL;
    }

    p = path->valuestring;
    n = strlen(ferry->cfg.spool_dir);

    if (n == 0 || strncmp(p, ferry->cfg.spool_dir, n) != 0 || p[n] != '/'
        || strchr(p + n + 1, '/') != NULL || strstr(p, "..") != NULL)
    {
        return NULL;
    }

    return p;
}

/*
 * Health: a SELECT 1 on a pooled connection says whether the database is up.
 */
#include "health.h"

#include <string.h>

#include "log.h"

void
health_ping(ferryd_t *fd, req_t *req, resp_t *resp)
{
    (void) fd;
    (void) req;

    resp->status = 200;
    resp->body = strdup("{\"pong\":true}");
    resp->body_len = resp->body ? strlen(resp->body) : 0;
}

void
health_check(ferryd_t *fd, req_t *req, resp_t *resp)
{
    int        up = 0;
    PGconn    *conn;
    PGresult  *res;
    cJSON     *json;

    conn = db_acquire(fd->db);

    if (conn) {
        res = PQexec(conn, "SELECT 1");
        up = PQresultStatus(res) == PGRES_TUPLES_OK;

        if (!up) {
            log_warn(req->rid, "health: SELECT 1 failed: %s", PQerrorMessage(conn));
        }

        PQclear(res);
        db_release(fd->db, conn, up);
    }

    json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "status", up ? "ok" : "error");
    cJSON_AddStringToObject(json, "helper", "up");
    cJSON_AddStringToObject(json, "database", up ? "up" : "down");

    resp_json(resp, up ? 200 : 503, json);

    log_debug(req->rid, "health: database %s", up ? "up" : "down");
}

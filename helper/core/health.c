/*
 * Health: a SELECT 1 on a pooled connection says whether the database is up.
 */
#include "health.h"

#include <string.h>

#include "log.h"

void
health_ping(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    (void) ferry;
    (void) req;

    resp->status = 200;
    resp->body = strdup("{\"pong\":true}");
    resp->body_len = resp->body ? strlen(resp->body) : 0;
}

void
health_check(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    int         up = 0, attempt, lost;
    const char *msg;
    PGconn     *conn;
    PGresult   *res;
    cJSON      *json;

    /*
     * A pooled connection the server dropped (PostgreSQL restarted) says
     * nothing about the server now; releasing it empties the pool, so the
     * second attempt asks on a fresh connection.
     */
    for (attempt = 0; attempt < 2 && !up; attempt++) {
        conn = db_acquire(ferry->db);
        if (conn == NULL) {
            break;
        }

        res = PQexec(conn, "SELECT 1");
        up = PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);

        lost = PQstatus(conn) != CONNECTION_OK;

        if (!up && !lost) {
            msg = PQerrorMessage(conn);
            log_warn(req->rid, "health: SELECT 1 failed: %.*s",
                (int) strcspn(msg, "\n"), msg);
        }

        db_release(ferry->db, conn);

        if (!lost) {
            break;
        }
    }

    json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "status", up ? "ok" : "error");
    cJSON_AddStringToObject(json, "helper", "up");
    cJSON_AddStringToObject(json, "database", up ? "up" : "down");

    resp_json(resp, up ? 200 : 503, json);

    log_debug(req->rid, "health: database %s", up ? "up" : "down");
}

/*
 * Paging is by the last id seen, not by offset: a page does not shift when
 * jobs are added meanwhile. A cursor that names no job of the caller's is
 * refused, or an empty page would look like the end.
 */
#include "job_api.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caller.h"
#include "log.h"
#include "page.h"

/* 8-4-4-4-12 hex digits, as PostgreSQL writes a uuid */
static int
job_api_is_uuid(const char *s)
{
    size_t i;

    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return 0;
            }
        } else if (!isxdigit((unsigned char) s[i])) {
            return 0;
        }
    }

    return s[36] == '\0';
}

PGresult *
job_api_find(const job_api_t *api, PGconn *conn, req_t *req, resp_t *resp,
    const char *id, const char *columns)
{
    const char *params[3] = { id, req->user, api->kind };
    char       *sql;
    PGresult   *res;

    /* an id that is no uuid names no job (and must not reach a cast) */
    if (!job_api_is_uuid(id)) {
        resp_error(resp, 404, "%s not found", api->what);
        return NULL;
    }

    if (asprintf(&sql,
            "SELECT %s FROM jobs WHERE id = $1::uuid AND owner = $2 "
            "AND kind = $3",
            columns ? columns : api->columns)
        < 0)
    {
        resp_internal_error(resp, req->rid, "%s: out of memory", api->kind);
        return NULL;
    }

    res = db_query(conn, sql, 3, params);
    free(sql);

    if (res == NULL) {
        resp_internal_error(
            resp, req->rid, "%s: %s", api->kind, PQerrorMessage(conn));

    } else if (PQntuples(res) == 0) {
        resp_error(resp, 404, "%s not found", api->what);
        PQclear(res);
        res = NULL;
    }

    return res;
}

int
job_api_answer(const job_api_t *api, PGconn *conn, req_t *req, resp_t *resp,
    int status, const char *id)
{
    PGresult *res = job_api_find(api, conn, req, resp, id, NULL);

    if (res == NULL) {
        return -1;
    }

    resp_json(resp, status, api->row_json(res, 0));
    PQclear(res);

    return 0;
}

void
job_api_show(const job_api_t *api, ferryd_t *ferry, req_t *req, resp_t *resp)
{
    PGconn *conn;

    conn = caller_conn(ferry, req, resp);
    if (conn == NULL) {
        return;
    }

    (void) job_api_answer(api, conn, req, resp, 200, req->params[0]);
    db_release(ferry->db, conn);
}

void
job_api_list(const job_api_t *api, ferryd_t *ferry, req_t *req, resp_t *resp)
{
    const char *params[4], *cursor;
    char        limit[16], *sql;
    long        n;
    int         i;
    cJSON      *json, *items;
    PGconn     *conn;
    PGresult   *res;

    if (page_limit(req, resp, &n) != 0) {
        return;
    }
    snprintf(limit, sizeof(limit), "%ld", n);

    cursor = req_query(req, "cursor");
    if (cursor && !job_api_is_uuid(cursor)) {
        resp_field_error(resp, 422, "cursor",
            "cursor must be the next_cursor of an earlier page");
        return;
    }

    conn = caller_conn(ferry, req, resp);
    if (conn == NULL) {
        return;
    }

    params[0] = req->user;
    params[1] = limit;
    params[2] = cursor ? cursor : "";
    params[3] = api->kind;

    if (cursor
        && (i = db_run(conn,
                "SELECT 1 FROM jobs WHERE id = $2::uuid AND owner = $1 "
                "AND kind = $3",
                3, (const char *const[]){ req->user, cursor, api->kind }))
            != 1)
    {
        if (i == 0) {
            resp_field_error(resp, 422, "cursor",
                "cursor does not name one "
                "of your jobs of this kind");
        } else {
            resp_internal_error(
                resp, req->rid, "%s: %s", api->kind, PQerrorMessage(conn));
        }
        db_release(ferry->db, conn);
        return;
    }

    /* newest first; the cursor is the id of the last item seen */
    if (asprintf(&sql,
            "SELECT %s FROM jobs WHERE owner = $1 AND kind = $4 "
            "AND ($3 = '' OR (created_at, id) < (SELECT created_at, id "
            "FROM jobs WHERE id = nullif($3, '')::uuid AND owner = $1)) "
            "ORDER BY created_at DESC, id DESC LIMIT $2::int + 1",
            api->columns)
        < 0)
    {
        sql = NULL;
    }

    res = sql ? db_query(conn, sql, 4, params) : NULL;
    free(sql);

    if (res == NULL) {
        resp_internal_error(
            resp, req->rid, "%s: %s", api->kind, PQerrorMessage(conn));
        db_release(ferry->db, conn);
        return;
    }

    json = cJSON_CreateObject();
    items = cJSON_AddArrayToObject(json, "items");

    for (i = 0; i < PQntuples(res) && i < n; i++) {
        cJSON_AddItemToArray(items, api->row_json(res, i));
    }

    if (PQntuples(res) > n) {
        cJSON_AddStringToObject(
            json, "next_cursor", PQgetvalue(res, (int) n - 1, 0));
    } else {
        cJSON_AddNullToObject(json, "next_cursor");
    }

    resp_json(resp, 200, json);
    db_release(ferry->db, conn);
    PQclear(res);
}

void
job_api_text(
    cJSON *json, const char *name, const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col)) {
        cJSON_AddNullToObject(json, name);
    } else {
        cJSON_AddStringToObject(json, name, PQgetvalue(res, row, col));
    }
}

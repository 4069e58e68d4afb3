/*
 * The original answered an unknown query parameter by ignoring it; here it
 * is a 422, so that a misspelt filter never looks like an empty result.
 */
#include "grist_api_list.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/caller.h"
#include "core/db.h"

static const char *const grist_list_common[] = { "page", "page_size", "limit",
    "offset", "include_deleted", NULL };

static int
grist_list_known(const char *name, const char *const *names)
{
    int i;

    for (i = 0; names[i]; i++) {
        if (strcmp(names[i], name) == 0) {
            return 1;
        }
    }

    return 0;
}

/* A count parameter: digits only, between min and max; *v untouched when
 * absent. 1 present, 0 absent, -1 with a 422. */
static int
grist_list_number(
    const req_t *req, resp_t *resp, const char *name, long min, long *v)
{
    const char *s = req_query(req, name);
    char        msg[128];
    long        n;

    if (s == NULL) {
        return 0;
    }

    n = -1;
    if (*s && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 9) {
        n = strtol(s, NULL, 10);
    }

    if (n < min || (strcmp(name, "page_size") == 0 && n > GRIST_PAGE_SIZE_MAX)
        || (strcmp(name, "limit") == 0 && n > GRIST_PAGE_SIZE_MAX))
    {
        if (strcmp(name, "page_size") == 0 || strcmp(name, "limit") == 0) {
            snprintf(msg, sizeof(msg), "%s must be between 1 and %d", name,
                GRIST_PAGE_SIZE_MAX);
        } else {
            snprintf(msg, sizeof(msg),
                "%s must be a whole number of at least %ld", name, min);
        }
        resp_field_error(resp, 422, name, msg);
        return -1;
    }

    *v = n;

    return 1;
}

int
grist_list_bool(const req_t *req, resp_t *resp, const char *name, int *v)
{
    const char *s = req_query(req, name);
    char        msg[128];

    if (s == NULL) {
        return 0;
    }

    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
        *v = 1;
    } else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
        *v = 0;
    } else {
        snprintf(msg, sizeof(msg), "%s must be true or false", name);
        resp_field_error(resp, 422, name, msg);
        return -1;
    }

    return 0;
}

int
grist_list_only(
    const req_t *req, resp_t *resp, const char *const *names, int paging)
{
    const cJSON *q;
    char         msg[160];

    cJSON_ArrayForEach(q, req->query)
    {
        if (!(paging && grist_list_known(q->string, grist_list_common))
            && !grist_list_known(q->string, names))
        {
            snprintf(
                msg, sizeof(msg), "unknown query parameter %.100s", q->string);
            resp_field_error(resp, 422, q->string, msg);
            return -1;
        }
    }

    return 0;
}

int
grist_list_query(const req_t *req, resp_t *resp, const char *const *names,
    long default_size, grist_list_t *list)
{
    long page = 1, size = -1, limit = -1, offset = 0;
    int  paged, sliced, deleted = 0, rc[4];

    if (grist_list_only(req, resp, names, 1) != 0) {
        return -1;
    }

    rc[0] = grist_list_number(req, resp, "page", 1, &page);
    if (rc[0] < 0
        || (rc[1] = grist_list_number(req, resp, "page_size", 1, &size)) < 0
        || (rc[2] = grist_list_number(req, resp, "limit", 1, &limit)) < 0
        || (rc[3] = grist_list_number(req, resp, "offset", 0, &offset)) < 0
        || grist_list_bool(req, resp, "include_deleted", &deleted) < 0)
    {
        return -1;
    }

    paged = rc[0] || rc[1];
    sliced = rc[2] || rc[3];
    if (paged && sliced) {
        resp_field_error(resp, 422, "limit",
            "page/page_size and limit/offset cannot be mixed");
        return -1;
    }

    if (paged) {
        limit = size > 0 ? size : GRIST_PAGE_SIZE_DEFAULT;
        offset = (page - 1) * limit;
    } else if (limit < 0 && default_size > 0) {
        limit = default_size;
    }

    list->params[0] = NULL;
    if (limit > 0) {
        snprintf(list->buf[0], sizeof(list->buf[0]), "%ld", limit);
        list->params[0] = list->buf[0];
    }
    snprintf(list->buf[1], sizeof(list->buf[1]), "%ld", offset);
    list->params[1] = list->buf[1];
    list->params[2] = deleted ? "true" : "false";

    return 0;
}

void
grist_list_answer(PGconn *conn, const req_t *req, resp_t *resp, const char *sql,
    int n, const char *const *params)
{
    PGresult *res;

    res = db_query(conn, sql, n, params);
    if (res == NULL || PQntuples(res) != 1) {
        resp_internal_error(
            resp, req->rid, "grist api: %s", PQerrorMessage(conn));
        PQclear(res);
        return;
    }

    free(resp->body);
    resp->body = strdup(PQgetvalue(res, 0, 0));
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    resp->status = resp->body ? 200 : 500;
    PQclear(res);
}

void
grist_api_plain_list(ferryd_t *ferry, req_t *req, resp_t *resp, const char *sql,
    long default_size)
{
    static const char *const names[] = { NULL };

    grist_list_t list;
    PGconn      *conn;

    if (grist_list_query(req, resp, names, default_size, &list) != 0) {
        return;
    }

    conn = caller_db(ferry, resp);
    if (conn == NULL) {
        return;
    }

    grist_list_answer(conn, req, resp, sql, GRIST_LIST_NPARAMS, list.params);

    db_release(ferry->db, conn);
}

int
grist_list_uuid(const char *s, char out[37])
{
    static const char hex[] = "0123456789abcdefABCDEF";
    size_t            len = strlen(s), i, j;

    if (len != 32 && len != 36) {
        return -1;
    }

    for (i = 0, j = 0; i < len; i++) {
        if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-') {
                return -1;
            }
            continue;
        }
        if (strchr(hex, s[i]) == NULL || s[i] == '\0') {
            return -1;
        }
        if (j == 8 || j == 12 || j == 16 || j == 20) {
            *out++ = '-';
        }
        *out++ = (char) tolower((unsigned char) s[i]);
        j++;
    }
    *out = '\0';

    return 0;
}

int
grist_list_code(PGconn *conn, const req_t *req, resp_t *resp, const char *name,
    const char *sql, char *out, size_t outlen)
{
    const char *value = req_query(req, name);
    char        msg[256];
    PGresult   *res;

    if (value == NULL) {
        return 0;
    }

    res = db_query(conn, sql, 1, &value);
    if (res == NULL) {
        resp_internal_error(
            resp, req->rid, "grist api: %s", PQerrorMessage(conn));
        return -1;
    }

    if (PQntuples(res) == 0) {
        snprintf(msg, sizeof(msg), "unknown %s \"%.160s\"", name, value);
        resp_field_error(resp, 422, name, msg);
        PQclear(res);
        return -1;
    }

    snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    return 1;
}

/*
 * Parsing of request frames.
 */
#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry_frame.h"
#include "ferry_json.h"

static const char *
req_string(cJSON *root, const char *name)
{
    cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);

    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* The client's name for a place in the frame: a query parameter or body
 * member without the frame's "query." or "body." in front. */
static void
req_field(req_t *req, const char *path)
{
    const char *f = path;

    if (strncmp(f, "query.", 6) == 0) {
        f += 6;
    } else if (strncmp(f, "body.", 5) == 0) {
        f += 5;
    }

    snprintf(req->field, sizeof(req->field), "%.*s",
        (int) sizeof(req->field) - 1, f);
}

req_rc_t
req_parse(req_t *req, const char *buf, size_t len, char *err, size_t errlen)
{
    char        path[FERRY_JSON_PATH_MAX];
    const char *why;
    cJSON      *v;

    memset(req, 0, sizeof(*req));

    req->root = cJSON_ParseWithLength(buf, len);
    if (req->root == NULL || !cJSON_IsObject(req->root)) {
        snprintf(err, errlen, "request frame is not valid JSON");
        return REQ_BAD_JSON;
    }

    v = cJSON_GetObjectItemCaseSensitive(req->root, "v");
    if (!cJSON_IsNumber(v) || v->valuedouble != FERRY_PROTO_VERSION) {
        if (cJSON_IsNumber(v)) {
            snprintf(
                err, errlen, "unsupported protocol version %g", v->valuedouble);
        } else {
            snprintf(err, errlen, "request frame has no protocol version");
        }
        return REQ_BAD_VERSION;
    }

    req->rid = req_string(req->root, "rid");
    req->method = req_string(req->root, "method");
    req->path = req_string(req->root, "path");
    req->user = req_string(req->root, "user");

    if (req->method == NULL || req->path == NULL || req->path[0] != '/') {
        snprintf(err, errlen, "frame has no method or path");
        return REQ_BAD_FIELDS;
    }

    if (req->rid == NULL) {
        req->rid = "-";
    }

    req->query = cJSON_GetObjectItemCaseSensitive(req->root, "query");
    if (req->query != NULL && !cJSON_IsObject(req->query)) {
        snprintf(err, errlen, "frame has a query that is not an object");
        return REQ_BAD_FIELDS;
    }

    req->body = cJSON_GetObjectItemCaseSensitive(req->root, "body");
    if (cJSON_IsNull(req->body)) {
        req->body = NULL;
    }

    req->idem = cJSON_GetObjectItemCaseSensitive(req->root, "idem");
    req->file = cJSON_GetObjectItemCaseSensitive(req->root, "file");

    /* cJSON keeps bytes that are not UTF-8 and cuts a string at \u0000:
     * neither may reach a handler, nor PostgreSQL */
    if (ferry_json_check_strings(buf, len, path, sizeof(path), &why) != 0) {
        req_field(req, path);
        snprintf(err, errlen, "%s holds %s", req->field, why);
        return REQ_BAD_STRING;
    }

    return REQ_OK;
}

void
req_free(req_t *req)
{
    int i;

    for (i = 0; i < req->nparams; i++) {
        free(req->params[i]);
    }

    cJSON_Delete(req->root);
    memset(req, 0, sizeof(*req));
}

const char *
req_query(const req_t *req, const char *name)
{
    return req->query ? req_string(req->query, name) : NULL;
}

/*
 * A 429 from Mattermost has a plain-text body ("limit exceeded") and its
 * reset headers, which the HTTP client honours; only JSON answers are
 * parsed here, Mattermost's errors and a plugin's alike.
 */
#include "mm_client.h"

#include <stdio.h>
#include <string.h>

#include "http/http_client.h"

int
mm_send(ferryd_t *ferry, const mm_req_t *mr, mm_resp_t *resp)
{
    char         url[4096], auth[1024], type[256], err[512];
    const char  *headers[3] = { auth, type, NULL };
    http_req_t   req;
    http_resp_t  hr;
    const cJSON *v;
    int          rc;

    memset(resp, 0, sizeof(*resp));

    snprintf(url, sizeof(url), "%s%s", ferry->cfg.mm_url, mr->path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
        mr->token ? mr->token : ferry->cfg.mm_token);
    snprintf(type, sizeof(type), "Content-Type: %s",
        mr->content_type ? mr->content_type : "application/json");

    memset(&req, 0, sizeof(req));
    req.method = mr->method;
    req.url = url;
    req.headers = headers;
    req.tag = "mattermost";
    req.repeatable = mr->repeatable;
    req.body = mr->body;
    req.body_len = mr->body_len;
    req.body_path = mr->body_path;

    rc = http_client_request(ferry->http, &req, &hr, err, sizeof(err));

    resp->status = hr.status;
    if (hr.body) {
        resp->json = cJSON_Parse(hr.body);
    }

    if (rc != HTTP_CLIENT_OK) {
        v = cJSON_GetObjectItemCaseSensitive(resp->json, "id");
        snprintf(resp->id, sizeof(resp->id), "%s",
            cJSON_IsString(v) ? v->valuestring : "");
        /* a plugin's error JSON is its own: {"error": "..."} */
        v = cJSON_GetObjectItemCaseSensitive(resp->json, "message");
        v = cJSON_IsString(v)
            ? v
            : cJSON_GetObjectItemCaseSensitive(resp->json, "error");
        snprintf(resp->message, sizeof(resp->message), "%s",
            cJSON_IsString(v) ? v->valuestring : err);
    }

    http_client_resp_free(&hr);

    return rc == HTTP_CLIENT_OK ? 0 : -1;
}

int
mm_call(ferryd_t *ferry, const char *token, const char *method,
    const char *path, const cJSON *body, int repeatable, mm_resp_t *resp)
{
    mm_req_t req;
    char    *text = NULL;
    int      rc;

    memset(&req, 0, sizeof(req));
    req.token = token;
    req.method = method;
    req.path = path;
    req.repeatable = repeatable;

    if (body) {
        text = cJSON_PrintUnformatted(body);
        if (text == NULL) {
            memset(resp, 0, sizeof(*resp));
            snprintf(resp->message, sizeof(resp->message), "out of memory");
            return -1;
        }
        req.body = text;
        req.body_len = strlen(text);
    }

    rc = mm_send(ferry, &req, resp);
    cJSON_free(text);

    return rc;
}

void
mm_resp_free(mm_resp_t *resp)
{
    cJSON_Delete(resp->json);
    resp->json = NULL;
}

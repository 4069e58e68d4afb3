/*
 * A 429 from Mattermost has a plain-text body ("limit exceeded") and its
 * reset headers, which the HTTP client honours; only JSON answers are
 * parsed here.
 */
#include "mm_client.h"

#include <stdio.h>
#include <string.h>

#include "http/http_client.h"

int
mm_call(ferryd_t *ferry, const char *token, const char *method,
    const char *path, const cJSON *body, int repeatable, mm_resp_t *resp)
{
    char         url[4096], auth[1024], err[512];
    const char  *headers[3] = { auth, "Content-Type: application/json", NULL };
    char        *text = NULL;
    http_req_t   req;
    http_resp_t  hr;
    const cJSON *v;
    int          rc;

    memset(resp, 0, sizeof(*resp));

    snprintf(url, sizeof(url), "%s%s", ferry->cfg.mm_url, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
        token ? token : ferry->cfg.mm_token);

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.headers = headers;
    req.tag = "mattermost";
    req.repeatable = repeatable;

    if (body) {
        text = cJSON_PrintUnformatted(body);
        if (text == NULL) {
            snprintf(resp->message, sizeof(resp->message), "out of memory");
            return -1;
        }
        req.body = text;
        req.body_len = strlen(text);
    }

    rc = http_client_request(ferry->http, &req, &hr, err, sizeof(err));

    resp->status = hr.status;
    if (hr.body) {
        resp->json = cJSON_Parse(hr.body);
    }

    if (rc != HTTP_CLIENT_OK) {
        v = cJSON_GetObjectItemCaseSensitive(resp->json, "id");
        snprintf(resp->id, sizeof(resp->id), "%s",
            cJSON_IsString(v) ? v->valuestring : "");
        v = cJSON_GetObjectItemCaseSensitive(resp->json, "message");
        snprintf(resp->message, sizeof(resp->message), "%s",
            cJSON_IsString(v) ? v->valuestring : err);
    }

    cJSON_free(text);
    http_client_resp_free(&hr);

    return rc == HTTP_CLIENT_OK ? 0 : -1;
}

void
mm_resp_free(mm_resp_t *resp)
{
    cJSON_Delete(resp->json);
    resp->json = NULL;
}

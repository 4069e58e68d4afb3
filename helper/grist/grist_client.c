/*
 * Retries, backoff and 429 waits are the HTTP client's; a /sql call is
 * read-only, so it is sent again after a lost answer like a GET.
 */
#include "grist_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http_client.h"

int
grist_configured(const config_t *cfg)
{
    return cfg->grist_server && cfg->grist_server[0] && cfg->grist_doc_id
        && cfg->grist_doc_id[0] && cfg->grist_api_key && cfg->grist_api_key[0];
}

int
grist_call(ferryd_t *ferry, const char *method, const char *path,
    const cJSON *body, int repeatable, grist_resp_t *resp)
{
    char         url[4096], auth[1024], err[512];
    const char  *headers[3] = { auth, "Content-Type: application/json", NULL };
    const char  *server = ferry->cfg.grist_server;
    size_t       n = strlen(server);
    char        *text = NULL;
    http_req_t   req;
    http_resp_t  hr;
    const cJSON *v;
    int          rc;

    memset(resp, 0, sizeof(*resp));

    /* GRIST__SERVER with or without its trailing slash */
    while (n > 0 && server[n - 1] == '/') {
        n--;
    }
    snprintf(url, sizeof(url), "%.*s/api/docs/%s%s", (int) n, server,
        ferry->cfg.grist_doc_id, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
        ferry->cfg.grist_api_key);

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.headers = headers;
    req.tag = "grist";
    req.repeatable = repeatable;
    req.max_body = 64 * 1024 * 1024;

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
    cJSON_free(text);

    resp->status = hr.status;
    if (hr.body) {
        resp->json = cJSON_Parse(hr.body);
    }

    if (rc != HTTP_CLIENT_OK) {
        v = cJSON_GetObjectItemCaseSensitive(resp->json, "error");
        if (cJSON_IsString(v)) {
            snprintf(resp->message, sizeof(resp->message), "%ld %s", hr.status,
                v->valuestring);
        } else {
            snprintf(resp->message, sizeof(resp->message), "%s", err);
        }
    }

    http_client_resp_free(&hr);

    return rc == HTTP_CLIENT_OK ? 0 : -1;
}

int
grist_sql(ferryd_t *ferry, const char *sql, const cJSON *args,
    grist_resp_t *resp, const cJSON **records)
{
    cJSON *body;
    int    rc;

    *records = NULL;

    body = cJSON_CreateObject();
    if (body == NULL || cJSON_AddStringToObject(body, "sql", sql) == NULL
        || (args
            && !cJSON_AddItemToObject(body, "args", cJSON_Duplicate(args, 1))))
    {
        cJSON_Delete(body);
        memset(resp, 0, sizeof(*resp));
        snprintf(resp->message, sizeof(resp->message), "out of memory");
        return -1;
    }

    rc = grist_call(ferry, "POST", "/sql", body, 1, resp);
    cJSON_Delete(body);

    if (rc != 0) {
        return -1;
    }

    *records = cJSON_GetObjectItemCaseSensitive(resp->json, "records");
    if (!cJSON_IsArray(*records)) {
        *records = NULL;
        snprintf(resp->message, sizeof(resp->message),
            "the /sql answer has no records");
        return -1;
    }

    return 0;
}

int
grist_unavailable(const grist_resp_t *resp)
{
    return resp->status == 0 || resp->status == 429 || resp->status >= 500;
}

void
grist_resp_free(grist_resp_t *resp)
{
    cJSON_Delete(resp->json);
    resp->json = NULL;
}

long
grist_backoff_ms(int n, long base_ms, long cap_ms)
{
    long ms = base_ms;

    while (--n > 0 && ms < cap_ms) {
        ms *= 2;
    }
    if (ms > cap_ms) {
        ms = cap_ms;
    }

    return ms + random() % (ms / 4 + 1);
}

int
grist_pause(ferryd_t *ferry, long ms)
{
    struct timespec ts;
    long            step;

    while (ms > 0 && !ferry->stopping) {
        step = ms < 100 ? ms : 100;
        ts.tv_sec = 0;
        ts.tv_nsec = step * 1000000L;
        nanosleep(&ts, NULL);
        ms -= step;
    }

    return ferry->stopping ? -1 : 0;
}

/*
 * Response building and encoding.
 */
#include "response.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry_frame.h"
#include "log.h"

void
resp_init(resp_t *r)
{
    memset(r, 0, sizeof(*r));
    r->status = 500;
}

void
resp_free(resp_t *r)
{
    int i;

    for (i = 0; i < r->nheaders; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }

    free(r->body);
    memset(r, 0, sizeof(*r));
}

int
resp_header(resp_t *r, const char *name, const char *value)
{
    int   i;
    char *v;

    for (i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->names[i], name) == 0) {
            v = strdup(value);
            if (v == NULL) {
                return -1;
            }
            free(r->values[i]);
            r->values[i] = v;
            return 0;
        }
    }

    if (r->nheaders == RESP_MAX_HEADERS) {
        return -1;
    }

    r->names[i] = strdup(name);
    r->values[i] = strdup(value);

    if (r->names[i] == NULL || r->values[i] == NULL) {
        free(r->names[i]);
        free(r->values[i]);
        return -1;
    }

    r->nheaders++;

    return 0;
}

static void
resp_set_body(resp_t *r, char *body)
{
    free(r->body);
    r->body = body;
    r->body_len = body ? strlen(body) : 0;
}

void
resp_json(resp_t *r, int status, cJSON *json)
{
    r->status = status;
    resp_set_body(r, json ? cJSON_PrintUnformatted(json) : NULL);
    cJSON_Delete(json);

    if (r->body == NULL) {
        r->status = 500;
        resp_set_body(r, strdup("{\"error\":\"out of memory\"}"));
    }
}

void
resp_error(resp_t *r, int status, const char *fmt, ...)
{
    char    msg[512];
    cJSON  *json;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "error", msg);
    resp_json(r, status, json);
}

void
resp_internal_error(resp_t *r, const char *tag, const char *fmt, ...)
{
    char    msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    log_error(tag, "%s", msg);
    resp_error(r, 500, "internal error");
}

void
resp_field_error(resp_t *r, int status, const char *field, const char *msg)
{
    cJSON *json = cJSON_CreateObject();

    cJSON_AddStringToObject(json, "error", msg);
    cJSON_AddStringToObject(json, "field", field);
    resp_json(r, status, json);
}

int
resp_frame(const resp_t *r, unsigned char **out, size_t *outlen)
{
    cJSON         *head, *headers;
    char          *text;
    size_t         hlen;
    unsigned char *frame;
    int            i, ok, has_type = 0;

    /* a head missing a part would be a protocol error: every add is checked */
    head = cJSON_CreateObject();
    ok = cJSON_AddNumberToObject(head, "v", FERRY_PROTO_VERSION) != NULL
        && cJSON_AddNumberToObject(head, "status", r->status) != NULL;
    headers = ok ? cJSON_AddObjectToObject(head, "headers") : NULL;
    ok = headers != NULL;

    for (i = 0; ok && i < r->nheaders; i++) {
        ok =
            cJSON_AddStringToObject(headers, r->names[i], r->values[i]) != NULL;
        if (strcasecmp(r->names[i], "Content-Type") == 0) {
            has_type = 1;
        }
    }

    ok = ok
        && (has_type
            || cJSON_AddStringToObject(
                   headers, "Content-Type", "application/json")
                != NULL)
        && cJSON_AddNumberToObject(head, "length", (double) r->body_len)
            != NULL;

    text = ok ? cJSON_PrintUnformatted(head) : NULL;
    cJSON_Delete(head);

    if (text == NULL) {
        return -1;
    }

    hlen = strlen(text);

    frame = malloc(FERRY_FRAME_HEADER_LEN + hlen + r->body_len);
    if (frame == NULL) {
        cJSON_free(text);
        return -1;
    }

    ferry_frame_put_len(frame, (uint32_t) hlen);
    memcpy(frame + FERRY_FRAME_HEADER_LEN, text, hlen);
    if (r->body_len) {
        memcpy(frame + FERRY_FRAME_HEADER_LEN + hlen, r->body, r->body_len);
    }
    cJSON_free(text);

    *out = frame;
    *outlen = FERRY_FRAME_HEADER_LEN + hlen + r->body_len;

    return 0;
}

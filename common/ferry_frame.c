/*
 * Ferry protocol framing, shared by the nginx module and ferryd.
 */
#include "ferry_frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

void
ferry_frame_put_len(unsigned char *p, uint32_t len)
{
    p[0] = (unsigned char) (len >> 24);
    p[1] = (unsigned char) (len >> 16);
    p[2] = (unsigned char) (len >> 8);
    p[3] = (unsigned char) len;
}

uint32_t
ferry_frame_get_len(const unsigned char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
        | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

ferry_frame_rc_t
ferry_frame_check(
    const unsigned char *buf, size_t n, size_t max, size_t *payload_len)
{
    size_t len;

    if (n < FERRY_FRAME_HEADER_LEN) {
        return FERRY_FRAME_AGAIN;
    }

    len = ferry_frame_get_len(buf);
    *payload_len = len;

    if (len > max) {
        return FERRY_FRAME_TOO_BIG;
    }

    if (n - FERRY_FRAME_HEADER_LEN < len) {
        return FERRY_FRAME_AGAIN;
    }

    return FERRY_FRAME_OK;
}

static int
ferry_resp_head_error(char *err, size_t errlen, const char *msg)
{
    if (errlen) {
        snprintf(err, errlen, "%s", msg);
    }
    return -1;
}

int
ferry_resp_head_parse(const char *json, size_t len, ferry_resp_head_t *h,
    char *err, size_t errlen)
{
    size_t i, n;
    cJSON *root, *v, *status, *length, *headers, *hdr;

    memset(h, 0, sizeof(*h));

    root = cJSON_ParseWithLength(json, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ferry_resp_head_error(
            err, errlen, "response head is not a JSON object");
    }

    v = cJSON_GetObjectItemCaseSensitive(root, "v");
    if (!cJSON_IsNumber(v) || v->valuedouble != FERRY_PROTO_VERSION) {
        cJSON_Delete(root);
        return ferry_resp_head_error(
            err, errlen, "unsupported protocol version");
    }

    status = cJSON_GetObjectItemCaseSensitive(root, "status");
    if (!cJSON_IsNumber(status) || status->valuedouble < 100
        || status->valuedouble > 599
        || status->valuedouble != (int) status->valuedouble)
    {
        cJSON_Delete(root);
        return ferry_resp_head_error(err, errlen, "invalid \"status\"");
    }

    length = cJSON_GetObjectItemCaseSensitive(root, "length");
    if (!cJSON_IsNumber(length) || length->valuedouble < 0
        || length->valuedouble > 1e15
        || length->valuedouble != (double) (size_t) length->valuedouble)
    {
        cJSON_Delete(root);
        return ferry_resp_head_error(err, errlen, "invalid \"length\"");
    }

    headers = cJSON_GetObjectItemCaseSensitive(root, "headers");
    if (headers != NULL && !cJSON_IsNull(headers) && !cJSON_IsObject(headers)) {
        cJSON_Delete(root);
        return ferry_resp_head_error(err, errlen, "invalid \"headers\"");
    }

    h->status = (int) status->valuedouble;
    h->length = (size_t) length->valuedouble;

    n = cJSON_IsObject(headers) ? (size_t) cJSON_GetArraySize(headers) : 0;

    if (n) {
        h->headers = calloc(n, sizeof(h->headers[0]));
        if (h->headers == NULL) {
            cJSON_Delete(root);
            return ferry_resp_head_error(err, errlen, "out of memory");
        }

        i = 0;
        cJSON_ArrayForEach(hdr, headers)
        {
            if (!cJSON_IsString(hdr) || hdr->string == NULL
                || hdr->string[0] == '\0'
                || strpbrk(hdr->string, "\r\n: ") != NULL
                || strpbrk(hdr->valuestring, "\r\n") != NULL)
            {
                cJSON_Delete(root);
                ferry_resp_head_free(h);
                return ferry_resp_head_error(
                    err, errlen, "invalid header in \"headers\"");
            }

            h->headers[i].name = strdup(hdr->string);
            h->headers[i].value = strdup(hdr->valuestring);
            h->nheaders = ++i;

            if (h->headers[i - 1].name == NULL
                || h->headers[i - 1].value == NULL) {
                cJSON_Delete(root);
                ferry_resp_head_free(h);
                return ferry_resp_head_error(err, errlen, "out of memory");
            }
        }
    }

    cJSON_Delete(root);
    return 0;
}

void
ferry_resp_head_free(ferry_resp_head_t *h)
{
    size_t i;

    for (i = 0; i < h->nheaders; i++) {
        free(h->headers[i].name);
        free(h->headers[i].value);
    }

    free(h->headers);
    memset(h, 0, sizeof(*h));
}

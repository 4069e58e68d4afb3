/*
 * Mattermost's REST API v4 over ferryd's HTTP client: JSON in and out,
 * Mattermost's error JSON ({"id","message","status_code"}) read into the
 * answer, retries and 429 waits left to helper/http/.
 */
#ifndef FERRY_MM_CLIENT_H
#define FERRY_MM_CLIENT_H

#include <cjson/cJSON.h>

#include "core/ferryd.h"

typedef struct {
    long   status;       /* 0: no answer came */
    cJSON *json;         /* the answer's JSON, or NULL */
    char   id[128];      /* an error's id, e.g. app.user.save.email_exists… */
    char   message[512]; /* an error's message, or what went wrong */
} mm_resp_t;

/* One call to MM_URL + path with token (NULL: MM_TOKEN) and an optional
 * JSON body. repeatable: a POST that may be sent again after a lost answer
 * (the server refuses a duplicate, or ignores it). 0 for a 2xx answer, -1
 * otherwise (resp says why). */
int mm_call(ferryd_t *ferry, const char *token, const char *method,
    const char *path, const cJSON *body, int repeatable, mm_resp_t *resp);

/* A call whose body is not JSON: content_type with body_len bytes at body,
 * or the file body_path (a file upload, a multipart form). As mm_call. */
typedef struct {
    const char *token; /* NULL: MM_TOKEN */
    const char *method;
    const char *path;
    const char *content_type;
    const void *body;
    size_t      body_len;
    const char *body_path;
    int         repeatable;
} mm_req_t;

int mm_send(ferryd_t *ferry, const mm_req_t *req, mm_resp_t *resp);

void mm_resp_free(mm_resp_t *resp);

#endif

/*
 * Grist's REST API over ferryd's HTTP client: calls under
 * GRIST__SERVER/api/docs/GRIST__DOC_ID with the API key, JSON in and out,
 * Grist's error JSON ({"error": ...}) read into the answer.
 */
#ifndef FERRY_GRIST_CLIENT_H
#define FERRY_GRIST_CLIENT_H

#include <cjson/cJSON.h>

#include "core/ferryd.h"

typedef struct {
    long   status;       /* 0: no answer came */
    cJSON *json;         /* the answer's JSON, or NULL */
    char   message[512]; /* an error's text, or what went wrong */
} grist_resp_t;

/* 1 when GRIST__SERVER, GRIST__DOC_ID and GRIST__API_KEY are all set. */
int grist_configured(const config_t *cfg);

/* One call to the document's path (e.g. "/tables/Teams/records") with an
 * optional JSON body. repeatable: a POST or PATCH that does no harm when
 * sent again after a lost answer. 0 for a 2xx answer, -1 otherwise. */
int grist_call(ferryd_t *ferry, const char *method, const char *path,
    const cJSON *body, int repeatable, grist_resp_t *resp);

/* POST /sql {"sql", "args"}: on 0, records is the answer's array of
 * {"fields": {...}} (owned by resp). */
int grist_sql(ferryd_t *ferry, const char *sql, const cJSON *args,
    grist_resp_t *resp, const cJSON **records);

/* An answer that says Grist could not serve the call now (none came, 429,
 * 5xx): worth the same call later, unlike a refusal (4xx). */
int grist_unavailable(const grist_resp_t *resp);

void grist_resp_free(grist_resp_t *resp);

/* The wait before attempt n+1 (n >= 1): base * 2^(n-1), at most cap,
 * plus up to a quarter of it at random. */
long grist_backoff_ms(int n, long base_ms, long cap_ms);

/* Sleeps ms, in short steps so that a stopping ferryd is not held up;
 * 0, or -1 when ferryd is stopping. */
int grist_pause(ferryd_t *ferry, long ms);

#endif

/*
 * The routes every job kind answers alike: a caller's job by id (404 for
 * another user's), and the caller's jobs of a kind, newest first, a page
 * at a time. Each kind says which columns it shows and how a row becomes
 * JSON.
 */
#ifndef FERRY_JOB_API_H
#define FERRY_JOB_API_H

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "ferryd.h"
#include "request.h"
#include "response.h"

typedef struct {
    const char *kind;    /* jobs.kind */
    const char *what;    /* for messages: "import", "slack upload" */
    const char *columns; /* the SELECT list over jobs, id first */
    cJSON *(*row_json)(PGresult *res, int row); /* NULL: no job_api_answer */
} job_api_t;

/* The caller's job id of api's kind, with columns (NULL: api->columns):
 * the row, or NULL with resp holding 404 (no such job of the caller's, or
 * an id that is no uuid) or 500. */
PGresult *job_api_find(const job_api_t *api, PGconn *conn, req_t *req,
    resp_t *resp, const char *id, const char *columns);

/* Answers status with the caller's job id as JSON: 0; or -1 with resp
 * holding 404 (no such job of the caller's) or 500. */
int job_api_answer(const job_api_t *api, PGconn *conn, req_t *req, resp_t *resp,
    int status, const char *id);

/* GET .../{id} */
void job_api_show(
    const job_api_t *api, ferryd_t *ferry, req_t *req, resp_t *resp);

/* GET ...?limit=20&cursor=<id>: {"items":[..],"next_cursor":<id>|null} */
void job_api_list(
    const job_api_t *api, ferryd_t *ferry, req_t *req, resp_t *resp);

/* Column col of a row as the member name: its text, or null for NULL. */
void job_api_text(
    cJSON *json, const char *name, const PGresult *res, int row, int col);

/* The ISO 8601 UTC text of a timestamptz column, for columns lists. */
#define JOB_API_ISO(col)                                                       \
    "to_char(" col " AT TIME ZONE 'UTC', "                                     \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#endif

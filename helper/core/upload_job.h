/*
 * A job made from an uploaded file, the way every upload route makes one:
 * in one transaction with its Idempotency-Key, the spooled file renamed to
 * the job's name before the job's row commits (a lost answer cannot lose
 * the file), the answer stored for replays, the file left to ferryd.
 */
#ifndef FERRY_UPLOAD_JOB_H
#define FERRY_UPLOAD_JOB_H

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "ferryd.h"
#include "request.h"
#include "response.h"

/* Fills resp with the new job's answer (inside the transaction). 0, or -1
 * on a database error. */
typedef int (*upload_job_answer_pt)(
    PGconn *conn, req_t *req, resp_t *resp, const char *id);

/*
 * Makes a job of kind from the request's upload: the file becomes
 * SPOOL_DIR/<kind>-<id><suffix>; params (taken over, may be NULL) gets
 * "file": the upload as the module described it, with that path. The
 * answer gets a Location of <location><id>. Everything that goes wrong is
 * answered in resp.
 */
void upload_job_create(ferryd_t *ferry, req_t *req, resp_t *resp,
    const char *kind, const char *suffix, cJSON *params,
    upload_job_answer_pt answer, const char *location);

/* A kind's cancel hook for jobs made here: the job ended without its
 * runner (cancelled while pending, or given up), so its upload goes. */
void upload_job_cancel(ferryd_t *ferry, const char *id, const char *params);

#endif

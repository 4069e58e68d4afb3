/*
 * Slack uploads: POST /slack/upload (a workspace export zip, streamed to
 * the spool by the module) makes a slack_ingest job; GET /slack/uploads
 * and /slack/uploads/{id} show the caller's uploads with their counts and
 * errors as they grow.
 */
#ifndef FERRY_SLACK_API_H
#define FERRY_SLACK_API_H

#include "core/router.h"

void slack_upload_create(ferryd_t *ferry, req_t *req, resp_t *resp);
void slack_upload_show(ferryd_t *ferry, req_t *req, resp_t *resp);
void slack_upload_list(ferryd_t *ferry, req_t *req, resp_t *resp);

#endif

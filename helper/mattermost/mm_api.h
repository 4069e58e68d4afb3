/*
 * POST /export starts an export job into Mattermost (one at a time: a
 * second while one runs is 409); GET /export/{id} shows its phase and the
 * rows' statuses per entity type.
 */
#ifndef FERRY_MM_API_H
#define FERRY_MM_API_H

#include "core/router.h"

void mm_export_create(ferryd_t *ferry, req_t *req, resp_t *resp);
void mm_export_show(ferryd_t *ferry, req_t *req, resp_t *resp);

/* GET /export?limit=&cursor=: the caller's exports, newest first */
void mm_export_list(ferryd_t *ferry, req_t *req, resp_t *resp);

/* GET /export/{id}/failures: the failed rows of the export's types with
 * their error_message, paged by limit and cursor. */
void mm_export_failures(ferryd_t *ferry, req_t *req, resp_t *resp);

#endif

/*
 * CSV imports (SPEC B): POST /imports creates a job for an uploaded file,
 * GET /imports/{id} shows it to its owner.
 */
#ifndef FERRY_IMPORT_API_H
#define FERRY_IMPORT_API_H

#include "core/router.h"

void imports_create(ferryd_t *ferry, req_t *req, resp_t *resp);
void imports_show(ferryd_t *ferry, req_t *req, resp_t *resp);
void imports_list(ferryd_t *ferry, req_t *req, resp_t *resp);
void imports_cancel(ferryd_t *ferry, req_t *req, resp_t *resp);
void imports_errors(ferryd_t *ferry, req_t *req, resp_t *resp);

#endif

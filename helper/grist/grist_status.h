/*
 * GET /sync/status (JWT): how the Grist sync is doing, from its state in
 * PostgreSQL: the last cycle, the lag, each table's counts and last error,
 * the delete/restore queue and its parked messages.
 */
#ifndef FERRY_GRIST_STATUS_H
#define FERRY_GRIST_STATUS_H

#include "core/ferryd.h"
#include "core/request.h"
#include "core/response.h"

void grist_status(ferryd_t *ferry, req_t *req, resp_t *resp);

#endif

/*
 * POST /feeder/back-sync: the feeder's changes to badges and arrivals,
 * written into Grist (the source of truth); PostgreSQL has them after the
 * next sync cycle.
 */
#ifndef FERRY_GRIST_BACK_SYNC_H
#define FERRY_GRIST_BACK_SYNC_H

#include "core/ferryd.h"
#include "core/request.h"
#include "core/response.h"

void grist_back_sync(ferryd_t *ferry, req_t *req, resp_t *resp);

#endif

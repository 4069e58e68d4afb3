/*
 * GET /feeder/sync: what changed in PostgreSQL since a moment, for the
 * feeder (the festival's canteen app), in the original service's shapes.
 */
#ifndef FERRY_GRIST_FEEDER_H
#define FERRY_GRIST_FEEDER_H

#include "core/ferryd.h"
#include "core/request.h"
#include "core/response.h"

void grist_feeder_sync(ferryd_t *ferry, req_t *req, resp_t *resp);

#endif

/*
 * GET /ping (the protocol round trip alone) and GET /health (ferryd and its
 * database), which nginx's ferry_health locations ask.
 */
#ifndef FERRY_HEALTH_H
#define FERRY_HEALTH_H

#include "router.h"

void health_ping(ferryd_t *ferry, req_t *req, resp_t *resp);
void health_check(ferryd_t *ferry, req_t *req, resp_t *resp);

#endif

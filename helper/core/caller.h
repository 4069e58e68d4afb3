/*
 * What a handler that acts for a user needs of its request: a pooled
 * connection once the user is known to exist, and the path of the file the
 * module spooled for it.
 */
#ifndef FERRY_CALLER_H
#define FERRY_CALLER_H

#include <libpq-fe.h>

#include "ferryd.h"
#include "request.h"
#include "response.h"

/* A pooled connection for a request that needs no user (registration,
 * tokens, webhooks); NULL with a 503 in resp when the pool has none. */
PGconn *caller_db(ferryd_t *ferry, resp_t *resp);

/* A pooled connection for a request that acts for its user, once the user
 * is known to exist; NULL with resp filled (503, 401) otherwise. */
PGconn *caller_conn(ferryd_t *ferry, req_t *req, resp_t *resp);

/* The uploaded file's spool path, when it is a file of SPOOL_DIR named by
 * the module; NULL when the request has none or names another path. */
const char *caller_upload(ferryd_t *ferry, req_t *req);

#endif

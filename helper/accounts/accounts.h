/*
 * Accounts: POST /auth/register, POST /auth/token (an HS256 JWT the nginx
 * module verifies), GET /auth/me; and the check that a request's user
 * still exists, for every handler that acts for a user.
 */
#ifndef FERRY_ACCOUNTS_H
#define FERRY_ACCOUNTS_H

#include "core/router.h"

void accounts_register(ferryd_t *ferry, req_t *req, resp_t *resp);
void accounts_token(ferryd_t *ferry, req_t *req, resp_t *resp);
void accounts_me(ferryd_t *ferry, req_t *req, resp_t *resp);

/*
 * 0 when req->user names an existing account; otherwise fills resp with
 * 401 (no user, or a token for a deleted account) and returns -1.
 */
int accounts_require_user(PGconn *conn, req_t *req, resp_t *resp);

/*
 * A pooled connection for a request that acts for its user, once the user
 * is known to exist; NULL with resp filled (503, 401) otherwise.
 */
PGconn *accounts_user_conn(ferryd_t *ferry, req_t *req, resp_t *resp);

#endif

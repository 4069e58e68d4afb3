/*
 * Accounts: POST /auth/register, POST /auth/token (an HS256 JWT the nginx
 * module verifies), GET /auth/me.
 */
#ifndef FERRY_ACCOUNTS_H
#define FERRY_ACCOUNTS_H

#include "core/router.h"

void accounts_register(ferryd_t *ferry, req_t *req, resp_t *resp);
void accounts_token(ferryd_t *ferry, req_t *req, resp_t *resp);
void accounts_me(ferryd_t *ferry, req_t *req, resp_t *resp);

#endif

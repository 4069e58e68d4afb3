/*
 * Paging of lists: the limit query parameter every list takes, checked
 * the same way everywhere.
 */
#ifndef FERRY_PAGE_H
#define FERRY_PAGE_H

#include "request.h"
#include "response.h"

#define PAGE_LIMIT_DEFAULT 20
#define PAGE_LIMIT_MAX     100

/* The request's limit (PAGE_LIMIT_DEFAULT when absent) into *n: 0, or -1
 * with a 422 naming limit in resp. */
int page_limit(const req_t *req, resp_t *resp, long *n);

#endif

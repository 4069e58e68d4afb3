/*
 * The request router: method + path pattern -> handler. Patterns are
 * literal segments and {name} segments that capture one segment each.
 */
#ifndef FERRY_ROUTER_H
#define FERRY_ROUTER_H

#include <stddef.h>

#include "ferryd.h"
#include "request.h"
#include "response.h"

typedef void (*handler_pt)(ferryd_t *ferry, req_t *req, resp_t *resp);

typedef struct {
    const char *method;
    const char *pattern;
    handler_pt  handler;
    int         inline_; /* quick and never blocks: run on the event loop */
} route_t;

typedef enum {
    ROUTE_FOUND = 0,
    ROUTE_NOT_FOUND,
    ROUTE_BAD_METHOD,
    ROUTE_NO_MEMORY
} route_rc_t;

/*
 * Finds the route for req's method and path. On ROUTE_FOUND the captured
 * segments are in req->params; on ROUTE_BAD_METHOD allow holds the methods
 * the path does accept ("GET, POST"); ROUTE_NO_MEMORY when a segment could
 * not be copied.
 */
route_rc_t router_match(const route_t *routes, size_t n, req_t *req,
    const route_t **found, char *allow, size_t allowlen);

/* The routes ferryd serves (routes.c). */
extern const route_t ferryd_routes[];
extern const size_t  ferryd_nroutes;

#endif

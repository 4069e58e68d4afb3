/*
 * A request frame from the module, parsed: method, path, query, user, body
 * and (later) the idempotency key and the uploaded file.
 */
#ifndef FERRY_REQUEST_H
#define FERRY_REQUEST_H

#include <stddef.h>
#include <cjson/cJSON.h>

#define REQ_MAX_PARAMS 4

typedef struct {
    cJSON      *root;
    const char *rid;
    const char *method;
    const char *path;
    const char *user;  /* NULL when the location has no ferry_auth */
    cJSON      *query; /* object, may be empty */
    cJSON      *body;  /* NULL or a JSON value (cJSON null included) */
    cJSON      *idem;
    cJSON      *file;

    /* REQ_BAD_STRING: the query parameter or body member at fault */
    char field[128];

    /* the {name} segments of the matched route, in order */
    char *params[REQ_MAX_PARAMS];
    int   nparams;
} req_t;

typedef enum {
    REQ_OK = 0,
    REQ_BAD_JSON,
    REQ_BAD_VERSION,
    REQ_BAD_FIELDS,
    REQ_BAD_STRING /* a string the client sent is not text: 422 */
} req_rc_t;

/* Parses len bytes; on error fills err with a message for the client. */
req_rc_t req_parse(
    req_t *req, const char *buf, size_t len, char *err, size_t errlen);
void req_free(req_t *req);

/* A query parameter as a string, or NULL. */
const char *req_query(const req_t *req, const char *name);

#endif

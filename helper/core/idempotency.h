/*
 * Idempotency-Key records in PostgreSQL: claimed in the transaction that
 * does a request's work, so a duplicate waits for that transaction and then
 * replays its answer, on any nginx node and after any restart.
 */
#ifndef FERRY_IDEMPOTENCY_H
#define FERRY_IDEMPOTENCY_H

#include <libpq-fe.h>

#include "ferryd.h"
#include "request.h"
#include "response.h"

typedef enum {
    IDEM_NONE = 0, /* the request carries no key */
    IDEM_NEW,      /* first use: do the work, then idem_store() */
    IDEM_REPLAY,   /* resp holds the stored answer (200) */
    IDEM_MISMATCH, /* resp holds 422: the key was used for another request */
    IDEM_ERROR     /* resp holds 500 */
} idem_rc_t;

/* Must run inside an open transaction. */
idem_rc_t idem_claim(PGconn *conn, req_t *req, resp_t *resp);

/* Records the answer of a first request, in the same transaction. 0 or -1. */
int idem_store(PGconn *conn, req_t *req, const resp_t *resp);

/* How often the scheduler removes expired records. */
#define IDEM_PURGE_SECONDS 3600

/* Removes the records whose expires_at has passed. */
void idem_purge(ferryd_t *ferry);

#endif

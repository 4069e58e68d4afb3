/*
 * The delete/restore queue (the original's RabbitMQ delete_records and
 * restore_records, here the grist_queue table): the sync adds messages,
 * a consumer takes one at a time with FOR UPDATE SKIP LOCKED and carries
 * it out in Grist and PostgreSQL, keeping a failed one for a later try.
 */
#ifndef FERRY_GRIST_QUEUE_H
#define FERRY_GRIST_QUEUE_H

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "core/ferryd.h"

/*
 * Adds a synced page's messages, inside the caller's transaction, after
 * its valid rows were upserted into pg_table. page: a JSON array of
 * {"row_id", "to_delete": bool, "valid": bool, "reason"} for every row
 * fetched. A row with to_delete set that PostgreSQL has live gets a delete
 * (no reason: Grist keeps its own); a live invalid row a delete with its
 * reason; a valid row PostgreSQL has deleted, a restore. A message equal
 * to the row's pending or parked one is not added again. The number
 * added, or -1 on a database error.
 */
int grist_queue_page(
    PGconn *conn, const char *table_id, const char *pg_table, const char *page);

/* The consumer (a scheduler task of its own thread): carries out the due
 * messages one at a time, 50 ms apart, until none is due. */
void grist_queue_consume(ferryd_t *ferry);

#endif

/*
 * A message is carried out by reading the row first: a call changes in
 * Grist only what differs (no PATCH when nothing does), so a message sent
 * twice, or one for a row the sync saw before our own PATCH, does no harm.
 * Unlike the original, which acknowledged a message whose Grist call
 * failed, a failed message stays, is tried again after a capped backoff,
 * and is parked with its error after QUEUE_MAX_ATTEMPTS.
 */
#include "grist_queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/db.h"
#include "core/log.h"
#include "ferry_json.h"
#include "grist_client.h"
#include "grist_map.h"

#define QUEUE_MAX_ATTEMPTS 8
#define QUEUE_BASE_MS      1000
#define QUEUE_CAP_MS       30000
#define QUEUE_GAP_MS       50

/* clang-format off */
#define SQL_QUEUE_PAGE                                                         \
    "WITH x AS (SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(row_id int, " \
    "  to_delete boolean, valid boolean, reason text)), "                      \
    "m AS (SELECT x.row_id, CASE WHEN NOT x.to_delete AND x.valid "            \
    "  THEN 'restore' ELSE 'delete' END AS kind, x.reason "                    \
    "  FROM x LEFT JOIN %s t ON t.nocode_int_id = x.row_id "                   \
    "  WHERE (x.to_delete AND t.nocode_int_id IS NOT NULL AND NOT t.deleted) " \
    "  OR (NOT x.to_delete AND NOT x.valid) "                                  \
    "  OR (NOT x.to_delete AND x.valid AND t.deleted)) "                       \
    "INSERT INTO grist_queue (kind, table_id, row_id, reason) "                \
    "SELECT kind, $1, row_id, reason FROM m WHERE NOT EXISTS (SELECT 1 "       \
    "  FROM grist_queue q WHERE q.table_id = $1 AND q.row_id = m.row_id "      \
    "  AND q.parked AND q.kind = m.kind "                                      \
    "  AND q.reason IS NOT DISTINCT FROM m.reason) "                           \
    "ON CONFLICT (table_id, row_id) WHERE NOT parked DO UPDATE SET "           \
    "kind = EXCLUDED.kind, reason = EXCLUDED.reason, attempts = 0, "           \
    "next_try_at = now(), last_error = NULL "                                  \
    "WHERE grist_queue.kind IS DISTINCT FROM EXCLUDED.kind "                   \
    "OR grist_queue.reason IS DISTINCT FROM EXCLUDED.reason"

#define SQL_QUEUE_TAKE                                                         \
    "SELECT id, kind, table_id, row_id, reason, attempts FROM grist_queue "    \
    "WHERE NOT parked AND next_try_at <= now() ORDER BY next_try_at, id "      \
    "LIMIT 1 FOR UPDATE SKIP LOCKED"

#define SQL_QUEUE_DONE "DELETE FROM grist_queue WHERE id = $1"

#define SQL_QUEUE_FAILED                                                       \
    "UPDATE grist_queue SET attempts = attempts + 1, last_error = $2, "        \
    "next_try_at = now() + $3::bigint * interval '1 millisecond', "            \
    "parked = attempts + 1 >= $4::int WHERE id = $1"
/* clang-format on */

int
grist_queue_page(
    PGconn *conn, const char *table_id, const char *pg_table, const char *page)
{
    char        sql[sizeof(SQL_QUEUE_PAGE) + 64];
    const char *params[2] = { table_id, page };

    snprintf(sql, sizeof(sql), SQL_QUEUE_PAGE, pg_table);

    return db_run(conn, sql, 2, params);
}

/* The synced entity a Grist table id is, with GRIST_YEAR. */
static const grist_entity_t *
entity_of(ferryd_t *ferry, const char *table_id)
{
    char id[64];
    int  i;

    for (i = 0; i < grist_nentities; i++) {
        snprintf(id, sizeof(id), grist_entities[i].id, ferry->cfg.grist_year);
        if (strcmp(id, table_id) == 0) {
            return &grist_entities[i];
        }
    }
    return NULL;
}

/* What the message changes in Grist, given the row as it is now. */
static cJSON *
changes(
    const grist_entity_t *e, const cJSON *fields, int del, const char *reason)
{
    cJSON         *ch = cJSON_CreateObject();
    const cJSON   *td = cJSON_GetObjectItemCaseSensitive(fields, "to_delete");
    const char    *have = ferry_json_str(fields, "delete_reason");
    struct timeval tv;

    if (del) {
        if (!grist_truthy(td)) {
            gettimeofday(&tv, NULL);
            cJSON_AddNumberToObject(
                ch, "to_delete", tv.tv_sec + tv.tv_usec / 1e6);
        }
        if (e->has_delete_reason && reason
            && (have == NULL || strcmp(have, reason) != 0))
        {
            cJSON_AddStringToObject(ch, "delete_reason", reason);
        }
    } else {
        if (grist_truthy(td)) {
            cJSON_AddNullToObject(ch, "to_delete");
        }
        if (e->has_delete_reason && have) {
            cJSON_AddNullToObject(ch, "delete_reason");
        }
    }

    return ch;
}

/* Carries one message out in Grist; 0, or -1 with err. */
static int
carry_out(ferryd_t *ferry, const grist_entity_t *e, const char *table_id,
    long row_id, int del, const char *reason, int *patched, char *err,
    size_t errlen)
{
    char         path[256];
    grist_resp_t resp;
    const cJSON *recs, *fields;
    cJSON       *ch, *body, *rec, *arr;
    int          rc;

    *patched = 0;
    snprintf(path, sizeof(path),
        "/tables/%s/records?filter=%%7B%%22id%%22%%3A%%5B%ld%%5D%%7D", table_id,
        row_id);
    if (grist_call(ferry, "GET", path, NULL, 0, &resp) != 0) {
        snprintf(err, errlen, "%s", resp.message);
        grist_resp_free(&resp);
        return -1;
    }
    recs = cJSON_GetObjectItemCaseSensitive(resp.json, "records");
    if (cJSON_GetArraySize(recs) == 0) {
        /* the row is gone from Grist: nothing to change there */
        grist_resp_free(&resp);
        return 0;
    }
    fields =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(recs, 0), "fields");
    ch = changes(e, fields, del, reason);
    grist_resp_free(&resp);

    if (cJSON_GetArraySize(ch) == 0) {
        cJSON_Delete(ch);
        return 0;
    }

    body = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(body, "records");
    rec = cJSON_CreateObject();
    cJSON_AddNumberToObject(rec, "id", (double) row_id);
    cJSON_AddItemToObject(rec, "fields", ch);
    cJSON_AddItemToArray(arr, rec);

    snprintf(path, sizeof(path), "/tables/%s/records", table_id);
    /* setting the same values twice does no harm: repeatable */
    rc = grist_call(ferry, "PATCH", path, body, 1, &resp);
    cJSON_Delete(body);
    if (rc != 0) {
        snprintf(err, errlen, "%s", resp.message);
    }
    *patched = rc == 0;
    grist_resp_free(&resp);

    return rc;
}

/* Takes the oldest due message and carries it out. 1 when one was taken,
 * 0 when none is due, -1 on a database error. */
static int
consume_one(ferryd_t *ferry, PGconn *conn)
{
    PGresult             *r;
    const grist_entity_t *e;
    char                  id[24], table_id[64], reason[512], err[512];
    char                  sql[256], row[24], wait[24], max[8];
    const char           *params[4];
    int                   del, has_reason, attempts, patched = 0, rc;
    long                  row_id;

    if (db_exec(conn, "BEGIN") != 0) {
        return -1;
    }
    r = db_query(conn, SQL_QUEUE_TAKE, 0, NULL);
    if (r == NULL || PQntuples(r) == 0) {
        PQclear(r);
        db_exec(conn, "COMMIT");
        return r ? 0 : -1;
    }
    snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
    del = strcmp(PQgetvalue(r, 0, 1), "delete") == 0;
    snprintf(table_id, sizeof(table_id), "%s", PQgetvalue(r, 0, 2));
    row_id = atol(PQgetvalue(r, 0, 3));
    has_reason = !PQgetisnull(r, 0, 4);
    snprintf(reason, sizeof(reason), "%s", PQgetvalue(r, 0, 4));
    attempts = atoi(PQgetvalue(r, 0, 5));
    PQclear(r);

    e = entity_of(ferry, table_id);

    /*
     * The row itself is locked before Grist is called, without waiting: a
     * sync cycle updates table rows, then queue rows, in one transaction;
     * waiting here for its table row while holding its queue row would be a
     * deadlock. A row the sync holds is left for the next round.
     */
    if (e) {
        snprintf(sql, sizeof(sql),
            "SELECT 1 FROM %s WHERE nocode_int_id = $1 FOR UPDATE NOWAIT",
            e->pg_table);
        snprintf(row, sizeof(row), "%ld", row_id);
        params[0] = row;
        r = db_query(conn, sql, 1, params);
        if (r == NULL) {
            if (PQstatus(conn) != CONNECTION_OK) {
                return -1;
            }
            log_debug("grist", "%s row %ld is busy (a sync cycle): later",
                table_id, row_id);
            db_exec(conn, "ROLLBACK");
            return 0;
        }
        PQclear(r);
    }

    if (e == NULL) {
        snprintf(err, sizeof(err), "not a synced table (GRIST_YEAR %d)",
            ferry->cfg.grist_year);
        rc = -1;
    } else {
        rc = carry_out(ferry, e, table_id, row_id, del,
            has_reason ? reason : NULL, &patched, err, sizeof(err));
    }

    params[0] = id;
    if (rc == 0) {
        snprintf(sql, sizeof(sql),
            "UPDATE %s SET deleted = %s WHERE nocode_int_id = $1 AND "
            "deleted IS DISTINCT FROM %s",
            e->pg_table, del ? "true" : "false", del ? "true" : "false");
        snprintf(row, sizeof(row), "%ld", row_id);
        params[1] = row;
        if (db_run(conn, sql, 1, &params[1]) < 0
            || db_run(conn, SQL_QUEUE_DONE, 1, params) < 0)
        {
            db_exec(conn, "ROLLBACK");
            return -1;
        }
        log_info("grist", "%s %s row %ld%s%s%s", del ? "deleted" : "restored",
            table_id, row_id, has_reason ? " (" : "", has_reason ? reason : "",
            has_reason ? ")" : "");
        if (!patched) {
            log_debug(
                "grist", "%s row %ld: Grist had it already", table_id, row_id);
        }
    } else {
        snprintf(wait, sizeof(wait), "%ld",
            grist_backoff_ms(attempts + 1, QUEUE_BASE_MS, QUEUE_CAP_MS));
        snprintf(max, sizeof(max), "%d", QUEUE_MAX_ATTEMPTS);
        params[1] = err;
        params[2] = wait;
        params[3] = max;
        if (db_run(conn, SQL_QUEUE_FAILED, 4, params) < 0) {
            db_exec(conn, "ROLLBACK");
            return -1;
        }
        if (attempts + 1 >= QUEUE_MAX_ATTEMPTS) {
            log_error("grist", "%s %s row %ld parked after %d attempts: %s",
                del ? "delete" : "restore", table_id, row_id, attempts + 1,
                err);
        } else {
            log_warn("grist",
                "%s %s row %ld failed (attempt %d), again in "
                "%s ms: %s",
                del ? "delete" : "restore", table_id, row_id, attempts + 1,
                wait, err);
        }
    }

    return db_exec(conn, "COMMIT") == 0 ? 1 : -1;
}

void
grist_queue_consume(ferryd_t *ferry)
{
    PGconn *conn;
    int     rc;

    if (!grist_configured(&ferry->cfg)) {
        return;
    }

    conn = db_acquire(ferry->db);
    if (conn == NULL) {
        return;
    }

    while (!ferry->stopping) {
        rc = consume_one(ferry, conn);
        if (rc <= 0) {
            if (rc < 0) {
                log_warn(
                    "grist", "delete/restore queue: %s", PQerrorMessage(conn));
            }
            break;
        }
        grist_pause(ferry, QUEUE_GAP_MS);
    }

    db_release(ferry->db, conn);
}

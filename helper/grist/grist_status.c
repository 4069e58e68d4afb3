/*
 * The lag is the age of the oldest table's last success: how far behind
 * Grist PostgreSQL may be. Parked messages are listed (the oldest 100) with
 * their errors, since each needs a person to look at it.
 */
#include "grist_status.h"

#include <stdio.h>

#include "core/caller.h"
#include "core/job_api.h"
#include "grist_api_list.h"

#define GRIST_STATUS_PARKED_MAX "100"

/* clang-format off */
#define GRIST_STATUS_TABLE                                                     \
    "json_build_object('table', table_id, "                                    \
    "'last_updated_at', " JOB_API_ISO("to_timestamp(last_updated_at)") ", "    \
    "'rows_seen', rows_seen, 'rows_written', rows_written, "                   \
    "'rows_rejected', rows_rejected, 'rows_deleted', rows_deleted, "           \
    "'rows_total', rows_total, 'last_error', last_error, "                     \
    "'last_error_at', " JOB_API_ISO("last_error_at") ", "                      \
    "'last_success_at', " JOB_API_ISO("last_success_at") ", "                  \
    "'last_cycle_at', " JOB_API_ISO("last_cycle_at") ", "                      \
    "'cycles_since_idset', cycles_since_idset)"

#define GRIST_STATUS_PARKED                                                    \
    "json_build_object('id', id, 'kind', kind, 'table', table_id, "            \
    "'row_id', row_id, 'reason', reason, 'attempts', attempts, "               \
    "'last_error', last_error, "                                               \
    "'created_at', " JOB_API_ISO("created_at") ")"

#define GRIST_STATUS_SQL                                                       \
    "SELECT json_build_object("                                                \
    "'configured', $1::boolean, 'interval_seconds', $2::int, "                 \
    "'year', $3::int, 'hard_delete_every', $4::int, "                          \
    "'last_cycle_at', (SELECT " JOB_API_ISO("max(last_cycle_at)")              \
    " FROM grist_sync_state), "                                                \
    "'lag_seconds', (SELECT floor(extract(epoch FROM "                         \
    "now() - min(last_success_at)))::bigint FROM grist_sync_state), "          \
    "'tables', (SELECT coalesce(json_agg(" GRIST_STATUS_TABLE                  \
    " ORDER BY table_id), '[]') FROM grist_sync_state), "                      \
    "'queue', (SELECT json_build_object("                                      \
    "'delete', count(*) FILTER (WHERE kind = 'delete' AND NOT parked), "       \
    "'restore', count(*) FILTER (WHERE kind = 'restore' AND NOT parked), "     \
    "'parked', count(*) FILTER (WHERE parked), "                               \
    "'oldest_pending_at', "                                                    \
    JOB_API_ISO("min(created_at) FILTER (WHERE NOT parked)") ") "              \
    "FROM grist_queue), "                                                      \
    "'parked', (SELECT coalesce(json_agg(" GRIST_STATUS_PARKED                 \
    " ORDER BY id), '[]') FROM (SELECT * FROM grist_queue WHERE parked "       \
    "ORDER BY id LIMIT " GRIST_STATUS_PARKED_MAX ") q))::text"
/* clang-format on */

void
grist_status(ferryd_t *ferry, req_t *req, resp_t *resp)
{
    static const char *const names[] = { NULL };

    const config_t *cfg = &ferry->cfg;
    const char     *params[4];
    char            nums[3][16];
    PGconn         *conn;

    if (grist_list_only(req, resp, names, 0) != 0) {
        return;
    }

    conn = caller_conn(ferry, req, resp);
    if (conn == NULL) {
        return;
    }

    snprintf(nums[0], sizeof(nums[0]), "%d", cfg->grist_sync_interval);
    snprintf(nums[1], sizeof(nums[1]), "%d", cfg->grist_year);
    snprintf(nums[2], sizeof(nums[2]), "%d", cfg->grist_hard_delete_every);
    params[0] = cfg->grist_server[0] && cfg->grist_doc_id[0] ? "true" : "false";
    params[1] = nums[0];
    params[2] = nums[1];
    params[3] = nums[2];

    grist_list_answer(conn, req, resp, GRIST_STATUS_SQL, 4, params);

    db_release(ferry->db, conn);
}

/*
 * Both steps are repeated by every run that exports messages: a channel
 * archived already is left as it is (looked at first, so that a re-run
 * writes nothing), deactivating an inactive user changes nothing, and a
 * run may have posted into a channel that an earlier run archived only if
 * the channel had been archived by hand.
 */
#include "mm_export_finish.h"

#include <stdio.h>

#include "core/db.h"
#include "core/log.h"
#include "ferry_json.h"
#include "mm_client.h"
#include "mm_plugin.h"

/* A channel archived unless it is already (a re-run archives nothing):
 * with the plugin's /channel/archive in the plugin mode, DELETE
 * /channels/{id} otherwise. 1 when archived now, else 0. */
static int
mm_channel_archive(mm_export_t *x, const char *id)
{
    char      path[256];
    cJSON    *body;
    mm_resp_t r;
    int       rc;

    snprintf(path, sizeof(path), "/api/v4/channels/%s", id);
    if (mm_call(x->ferry, NULL, "GET", path, NULL, 0, &r) != 0) {
        log_warn(x->worker, "export %s: cannot see channel %s: %s", x->job_id,
            id, r.message);
        mm_resp_free(&r);
        return 0;
    }
    rc = ferry_json_long(r.json, "delete_at") == 0;
    mm_resp_free(&r);
    if (!rc) {
        return 0;
    }

    if (x->mode == MM_MODE_PLUGIN) {
        body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "channel_id", id);
        rc = mm_call(x->ferry, NULL, "POST", MM_PLUGIN_API "/channel/archive",
            body, 1, &r);
        cJSON_Delete(body);
    } else {
        rc = mm_call(x->ferry, NULL, "DELETE", path, NULL, 0, &r);
    }
    if (rc != 0) {
        log_warn(x->worker, "export %s: cannot archive channel %s: %s",
            x->job_id, id, r.message);
    }
    mm_resp_free(&r);

    return rc == 0;
}

int
mm_export_finish(mm_export_t *x)
{
    char      path[256];
    PGresult *res;
    cJSON    *body;
    mm_resp_t r;
    int       i, n = 0;

    res = db_query(x->conn,
        "SELECT mattermost_id FROM entities WHERE entity_type = 'channel' "
        "AND status = 'success' AND mattermost_id IS NOT NULL "
        "AND raw_data->>'is_archived' = 'true' ORDER BY id",
        0, NULL);
    if (res == NULL) {
        return -1;
    }
    for (i = 0; i < PQntuples(res); i++) {
        n += mm_channel_archive(x, PQgetvalue(res, i, 0));
    }
    PQclear(res);

    res = db_query(x->conn,
        "SELECT mattermost_id FROM entities WHERE entity_type = 'user' "
        "AND status = 'success' AND mattermost_id IS NOT NULL "
        "AND raw_data->>'deleted' = 'true' AND mattermost_id <> $1 "
        "ORDER BY id",
        1, &x->owner_id);
    if (res == NULL) {
        return -1;
    }
    body = cJSON_CreateObject();
    cJSON_AddFalseToObject(body, "active");
    for (i = 0; i < PQntuples(res); i++) {
        snprintf(path, sizeof(path), "/api/v4/users/%s/active",
            PQgetvalue(res, i, 0));
        if (mm_call(x->ferry, NULL, "PUT", path, body, 0, &r) == 0) {
            n++;
        } else {
            log_warn(x->worker, "export %s: cannot deactivate user %s: %s",
                x->job_id, PQgetvalue(res, i, 0), r.message);
        }
        mm_resp_free(&r);
    }
    cJSON_Delete(body);
    PQclear(res);

    if (n) {
        log_info(x->worker,
            "export %s: %d channel(s) archived and user(s) "
            "deactivated",
            x->job_id, n);
    }

    return 0;
}

/*
 * Both steps are repeated by every run that exports messages: archiving an
 * archived channel and deactivating an inactive user change nothing, and a
 * run may have posted into a channel that an earlier run archived only if
 * the channel had been archived by hand.
 */
#include "mm_export_finish.h"

#include <stdio.h>
#include <string.h>

#include "core/db.h"
#include "core/log.h"
#include "mm_client.h"

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
        snprintf(
            path, sizeof(path), "/api/v4/channels/%s", PQgetvalue(res, i, 0));
        if (mm_call(x->ferry, NULL, "DELETE", path, NULL, 0, &r) == 0) {
            n++;
        } else if (strcmp(r.id, "api.channel.delete_channel.deleted.app_error")
            != 0) {
            log_warn(x->worker, "export %s: cannot archive channel %s: %s",
                x->job_id, PQgetvalue(res, i, 0), r.message);
        }
        mm_resp_free(&r);
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

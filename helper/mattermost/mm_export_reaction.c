/*
 * Saving a reaction twice is no error in Mattermost (it keeps the first),
 * so a re-run or a retry after a lost answer makes nothing twice. An emoji
 * Mattermost does not know is skipped with its name, not failed: a re-run
 * would not change that. The plugin mode adds it through the plugin's
 * /reaction, dated as its message.
 */
#include "mm_export_reaction.h"

#include <stdio.h>
#include <string.h>

#include "core/db.h"
#include "ferry_json.h"
#include "mm_client.h"
#include "mm_emoji.h"
#include "mm_export_channel.h"
#include "mm_plugin.h"
#include "mm_user_token.h"

/* clang-format off */
/* the user, the post, the post's channel, the custom emoji's outcome
 * (NULL: not a custom emoji of the export) */
static const char mm_reaction_sql[] =
    "SELECT (SELECT " MM_EXPORTED("u") " FROM entity_relations r "
    "JOIN entities u ON u.id = r.from_entity_id WHERE r.to_entity_id = e.id "
    "AND r.relation_type = 'reacted_by' LIMIT 1), "
    "(SELECT " MM_EXPORTED("m") " FROM entity_relations r "
    "JOIN entities m ON m.id = r.to_entity_id WHERE r.from_entity_id = e.id "
    "AND r.relation_type = 'reacted_to' LIMIT 1), "
    "(SELECT c.mattermost_id FROM entity_relations r "
    "JOIN entity_relations mc ON mc.from_entity_id = r.to_entity_id "
    "AND mc.relation_type = 'posted_in' "
    "JOIN entities c ON c.id = mc.to_entity_id WHERE r.from_entity_id = e.id "
    "AND r.relation_type = 'reacted_to' LIMIT 1), "
    "(SELECT CASE WHEN (" MM_EXPORTED("k") ") IS NOT NULL "
    "THEN 'success' ELSE k.status END FROM entity_relations r "
    "JOIN entities k ON k.id = r.to_entity_id WHERE r.from_entity_id = e.id "
    "AND r.relation_type = 'custom_emoji_used' LIMIT 1) "
    "FROM entities e WHERE e.id = $1::bigint";
/* clang-format on */

int
mm_export_reaction(mm_export_t *x, const char *entity_id, cJSON *raw)
{
    const char *p[2] = { entity_id, MM_DRY_JOB(x) }, *why = NULL, *slack;
    char        user[64], post[64], channel[64], emoji[65], why2[160],
        token[MM_TOKEN_LEN], err[600];
    cJSON    *body;
    mm_resp_t r;
    PGresult *res;
    int       known, rc;

    slack = ferry_json_str(raw, "name");
    known = slack ? mm_emoji_name(slack, emoji, sizeof(emoji)) : -1;

    res = db_query(x->conn, mm_reaction_sql, 2, p);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }

    if (known < 0) {
        snprintf(why2, sizeof(why2),
            "not an emoji name Mattermost takes: %.64s",
            slack ? slack : "(none)");
        why = why2;
    } else if (known == 0
        && (PQgetisnull(res, 0, 3)
            || strcmp(PQgetvalue(res, 0, 3), "success") != 0))
    {
        snprintf(why2, sizeof(why2), "%s :%.64s:",
            PQgetisnull(res, 0, 3) ? "an emoji Mattermost does not know"
                                   : "its custom emoji was not exported",
            emoji);
        why = why2;
    }
    if (why) {
        PQclear(res);
        return mm_export_status(x, entity_id, "skipped", NULL, why);
    }

    why = PQgetisnull(res, 0, 0) ? "its user was not exported"
        : PQgetisnull(res, 0, 1) ? "its message was not exported"
                                 : NULL;
    if (why) {
        PQclear(res);
        return mm_export_status(x, entity_id, "failed", NULL, why);
    }

    snprintf(user, sizeof(user), "%s", PQgetvalue(res, 0, 0));
    snprintf(post, sizeof(post), "%s", PQgetvalue(res, 0, 1));
    snprintf(channel, sizeof(channel), "%s", PQgetvalue(res, 0, 2));
    PQclear(res);

    if (x->dry_run) {
        return 0;
    }

    if (mm_user_token(x, user, token, err, sizeof(err)) != 0) {
        return mm_export_status(x, entity_id, "failed", NULL, err);
    }

    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "user_id", user);
    cJSON_AddStringToObject(body, "post_id", post);
    cJSON_AddStringToObject(body, "emoji_name", emoji);

    if (x->mode == MM_MODE_PLUGIN) {
        /* Slack keeps no reaction's time: its message's */
        cJSON_AddNumberToObject(body, "create_at",
            (double) mm_ts_ms(ferry_json_str(raw, "message_ts")));
        rc = mm_plugin_post(x, MM_PLUGIN_API "/reaction", body, 1, NULL, NULL,
            err, sizeof(err));
    } else {
        rc = mm_call_in_channel(
            x, token, "POST", "/api/v4/reactions", body, 1, channel, user, &r);
        snprintf(err, sizeof(err), "%s", r.message);
        mm_resp_free(&r);
    }
    cJSON_Delete(body);

    return rc == 0 ? mm_export_status(x, entity_id, "success", NULL, NULL)
                   : mm_export_status(x, entity_id, "failed", NULL, err);
}

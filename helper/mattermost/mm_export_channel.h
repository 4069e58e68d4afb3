/*
 * One Slack conversation into Mattermost: a public or private channel
 * (POST /channels, its name made to Mattermost's rules, its Slack name kept
 * as display name, purpose and topic as purpose and header) with its
 * members, a DM (POST /channels/direct) or a group DM (/channels/group, 3
 * to 8 people; a larger one becomes a private channel); in the plugin mode
 * through its /channel, /channel/members, /dm and /gdm.
 */
#ifndef FERRY_MM_EXPORT_CHANNEL_H
#define FERRY_MM_EXPORT_CHANNEL_H

#include <cjson/cJSON.h>

#include "mm_client.h"
#include "mm_export.h"

/* Mattermost's channel name rules (lower case, [a-z0-9_-], alphanumeric
 * at both ends, 1-64): name made to follow them, from the Slack id when
 * nothing of it is left (a Cyrillic name), into out (65 bytes). */
void mm_channel_name(const char *name, const char *slack_id, char *out);

/* Adds a user to a channel (joining twice is no error); 0, or -1 with the
 * reason in err. */
int mm_channel_join(mm_export_t *x, const char *channel_id, const char *user_id,
    char *err, size_t errlen);

/* mm_call for a post, an edit or a reaction by user_id in channel_id:
 * when Mattermost refuses it because the user is not in the channel (403,
 * they left it in Slack) the user joins, and when the channel is archived
 * (an earlier export archived it) it is unarchived until the export's end;
 * then the call is sent again. As mm_call; r holds the last answer. */
int mm_call_in_channel(mm_export_t *x, const char *token, const char *method,
    const char *path, const cJSON *body, int repeatable, const char *channel_id,
    const char *user_id, mm_resp_t *r);

/* 0 when the outcome is recorded, -1 on a database error. */
int mm_export_channel(mm_export_t *x, const char *entity_id, cJSON *raw);

#endif

/*
 * One Slack conversation into Mattermost: a public or private channel
 * (POST /channels, its name made to Mattermost's rules, its Slack name kept
 * as display name, purpose and topic as purpose and header) with its
 * members, a DM (POST /channels/direct) or a group DM (/channels/group, 3
 * to 8 people; a larger one becomes a private channel).
 */
#ifndef FERRY_MM_EXPORT_CHANNEL_H
#define FERRY_MM_EXPORT_CHANNEL_H

#include <cjson/cJSON.h>

#include "mm_export.h"

/* Mattermost's channel name rules (lower case, [a-z0-9_-], alphanumeric
 * at both ends, 1-64): name made to follow them, from the Slack id when
 * nothing of it is left (a Cyrillic name), into out (65 bytes). */
void mm_channel_name(const char *name, const char *slack_id, char *out);

/* 0 when the outcome is recorded, -1 on a database error. */
int mm_export_channel(mm_export_t *x, const char *entity_id, cJSON *raw);

#endif

/*
 * One Slack reaction into Mattermost: by its user (api mode: with the
 * user's own token, as Mattermost takes a reaction only from its user) on
 * its message's post, the emoji under Mattermost's name for it.
 */
#ifndef FERRY_MM_EXPORT_REACTION_H
#define FERRY_MM_EXPORT_REACTION_H

#include <cjson/cJSON.h>

#include "mm_export.h"

/* 0 when the outcome is recorded, -1 on a database error. */
int mm_export_reaction(mm_export_t *x, const char *entity_id, cJSON *raw);

#endif

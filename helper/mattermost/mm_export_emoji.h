/*
 * One Slack custom emoji into Mattermost: its image (PNG, JPEG or GIF by
 * its first bytes) under a name Mattermost takes, created by MM_TOKEN's
 * user; one that exists already is kept with its id.
 */
#ifndef FERRY_MM_EXPORT_EMOJI_H
#define FERRY_MM_EXPORT_EMOJI_H

#include <cjson/cJSON.h>

#include "mm_export.h"

/* 0 when the outcome is recorded, -1 on a database error. */
int mm_export_emoji(mm_export_t *x, const char *entity_id, cJSON *raw);

#endif

/*
 * One Slack file into Mattermost: its bytes (from the upload's zip, else
 * from Slack) uploaded to its message's channel, by the message's author
 * in the api mode (Mattermost leaves a file off a post by anyone else),
 * and its file id kept for the message.
 */
#ifndef FERRY_MM_EXPORT_ATTACHMENT_H
#define FERRY_MM_EXPORT_ATTACHMENT_H

#include <cjson/cJSON.h>

#include "mm_export.h"

/* 0 when the outcome is recorded, -1 on a database error. */
int mm_export_attachment(mm_export_t *x, const char *entity_id, cJSON *raw);

#endif

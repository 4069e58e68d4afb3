/*
 * One Slack message into Mattermost: a post in its channel by its author
 * (api mode: with the author's own token), its markup converted, under its
 * thread's root, with its files (5 a post, the rest in replies).
 */
#ifndef FERRY_MM_EXPORT_MESSAGE_H
#define FERRY_MM_EXPORT_MESSAGE_H

#include <cjson/cJSON.h>

#include "mm_export.h"

/* Mattermost's longest message, in characters (PostMessageMaxRunesV2) */
#define MM_POST_MAX_RUNES 16383

/* Mattermost's most files on one post */
#define MM_POST_MAX_FILES 5

/* The rows of the messages ids (an array literal) of channel (its row's
 * id), those still to export, in that order: id and raw_data, then
 * (outside a dry run) what mm_export_message reads from x->batch; outside
 * a dry run the channel's mark now names them. NULL on a database error. */
PGresult *mm_message_batch(
    mm_export_t *x, const char *channel, const char *ids);

/* Before the message phase: the channels' marks that name no message
 * still to export go (a run stopped between a channel's last outcomes and
 * its mark's removal). 0, or -1 on a database error. */
int mm_message_marks_tidy(mm_export_t *x);

/* Before the channel's messages: a batch's mark left by a run that
 * stopped becomes a mark on each of its messages still to export. 0, or
 * -1 on a database error. */
int mm_message_batch_start(mm_export_t *x, const char *channel);

/* The channel's messages are done: the outcomes held back recorded and its
 * mark gone. 0, or -1 on a database error. */
int mm_message_batch_end(mm_export_t *x, const char *channel);

/* 0 when the outcome is recorded, -1 on a database error. */
int mm_export_message(mm_export_t *x, const char *entity_id, cJSON *raw);

#endif

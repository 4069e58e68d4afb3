/*
 * Slack's message markup into Mattermost's Markdown: a message's blocks
 * (rich_text and the rest), its classic attachments, or its text with
 * Slack's <...> escapes. Pure: names come through the caller's lookup.
 */
#ifndef FERRY_MM_MARKUP_H
#define FERRY_MM_MARKUP_H

#include <cjson/cJSON.h>

/* The Mattermost name for a Slack id: kind '@' a user (its username, no
 * '@'), '#' a channel (its name, no '~'); NULL when unknown (the markup
 * then keeps the label Slack gave, or the id). */
typedef const char *(*mm_markup_name_pt)(
    void *ctx, char kind, const char *slack_id);

/* The Markdown of a Slack message object (raw_data of a message entity),
 * malloc'd, for the caller to free; NULL only when out of memory. An empty
 * result is "". */
char *mm_markup_message(const cJSON *msg, mm_markup_name_pt name, void *ctx);

#endif

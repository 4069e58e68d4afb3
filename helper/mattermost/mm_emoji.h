/*
 * Slack's emoji names into Mattermost's: skin tones stripped, Slack's
 * aliases mapped to the names Mattermost's system emoji list knows.
 */
#ifndef FERRY_MM_EMOJI_H
#define FERRY_MM_EMOJI_H

#include <stddef.h>

/* Mattermost's name for Slack's emoji name (no colons; "+1::skin-tone-2"
 * and "thumbsup" both give "+1"), into out: 1 a system emoji, 0 not one of
 * them (out then holds the cleaned name, which may be a custom emoji), -1
 * not a valid emoji name at all (or longer than out: 65 bytes always do). */
int mm_emoji_name(const char *slack, char *out, size_t len);

#endif

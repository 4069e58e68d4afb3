/*
 * One Slack user into Mattermost: POST /api/v4/users with what Mattermost
 * takes of the Slack profile (the username made to Mattermost's rules), an
 * existing user (same email or username) kept with its id, then team
 * membership.
 */
#ifndef FERRY_MM_EXPORT_USER_H
#define FERRY_MM_EXPORT_USER_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "mm_export.h"

/* Mattermost's username rules (lower case, [a-z0-9._-], 1-64, a letter
 * first): name made to follow them, into out (65 bytes). */
void mm_username(const char *name, const char *slack_id, char *out);

/* The e-mail Mattermost will store for a Slack profile's (NULL: none, then
 * "<username>@example.com", as the original did): trimmed and lower-cased
 * as model.NormalizeEmail does, into out. */
void mm_email(const char *email, const char *username, char *out, size_t len);

/* 1 when Mattermost's IsValidEmail takes the (normalised) address. */
int mm_email_valid(const char *email);

/* 0 when the outcome is recorded (success, failed or skipped), -1 on a
 * database error. */
int mm_export_user(mm_export_t *x, const char *entity_id, cJSON *raw);

#endif

/*
 * Slack objects as rows of entities: what each object becomes (its type,
 * its stable key, its raw_data), rows staged in COPY text and upserted on
 * (entity_type, slack_id) a batch at a time. The relations between them
 * are slack_relations.h's.
 */
#ifndef FERRY_SLACK_ENTITIES_H
#define FERRY_SLACK_ENTITIES_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "ferry_map.h"

typedef enum {
    SLACK_USER = 0,
    SLACK_CUSTOM_EMOJI,
    SLACK_ATTACHMENT,
    SLACK_CHANNEL,
    SLACK_MESSAGE,
    SLACK_REACTION,
    SLACK_NTYPES
} slack_type_t;

extern const char *const slack_type_names[SLACK_NTYPES];

/* Rows waiting for the next flush, and how many of each type were seen. */
typedef struct {
    char  *buf;
    size_t len;
    size_t cap;
    size_t rows;
    long   counts[SLACK_NTYPES];

    /* file ids seen: a file shared twice is one attachment */
    ferry_map_t files;
} slack_rows_t;

void slack_rows_free(slack_rows_t *r);

/* Marks a file as seen: one a resumed upload counted before it stopped.
 * 0, or -1 when out of memory. */
int slack_rows_file_seen(slack_rows_t *r, const char *id);

/* A user of users.json (raw_data also gets "username", Slack's "name"). */
int slack_rows_user(slack_rows_t *r, cJSON *user);

/* A conversation of channels.json (kind "public"), groups.json
 * ("private"), dms.json ("dm") or mpims.json ("mpim"). */
int slack_rows_channel(slack_rows_t *r, cJSON *channel, const char *kind);

/* A custom emoji of emoji.json: name and URL (or "alias:<name>"). */
int slack_rows_emoji(slack_rows_t *r, const char *name, const char *url);

/* The zip member holding a file's bytes, or NULL when the export has none
 * (the file is then fetched at export time). */
typedef const char *(*slack_file_member_pt)(void *data, const char *file_id);

/* A message of a day file in channel_id: the message, one reaction row per
 * (emoji, user), an attachment per file (with "zip_member" when its bytes
 * are in the zip), a placeholder user for a bot or USLACKBOT author. 0, 1
 * when the element is no message (no "ts"), -1. */
int slack_rows_message(slack_rows_t *r, cJSON *msg, const char *channel_id,
    slack_file_member_pt file_member, void *data);

/* The reaction rows of a message's "reactions" (ts and channel). */
int slack_rows_reactions(slack_rows_t *r, cJSON *msg, const char *channel_id);

/* A file known by its id only (an event): a row is made when none has it. */
int slack_rows_file_stub(slack_rows_t *r, cJSON *file);

/* The statements that upsert the staged rows for job_id, as one script for
 * db_copy_script whose one COPY takes r's text, between before (e.g.
 * "BEGIN;") and after (e.g. the job's progress and COMMIT). NULL when out
 * of memory; free() it. */
char *slack_rows_script(
    PGconn *conn, const char *job_id, const char *before, const char *after);

/* Empties r once its rows are in (the set of files seen is kept). */
void slack_rows_clear(slack_rows_t *r);

/* Upserts the staged rows for job_id and empties r (inside the caller's
 * transaction). 0, or -1 with the error in PQerrorMessage(conn). */
int slack_rows_flush(PGconn *conn, slack_rows_t *r, const char *job_id);

#endif

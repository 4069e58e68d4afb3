/*
 * The relations between entities the export needs (member_of, posted_in,
 * posted_by, thread_reply, reacted_by, reacted_to, attached_to,
 * custom_emoji_used), derived in SQL from the rows a job wrote.
 */
#ifndef FERRY_SLACK_RELATIONS_H
#define FERRY_SLACK_RELATIONS_H

#include <limits.h>
#include <stddef.h>
#include <libpq-fe.h>

/* The forward side: relations from the rows job_id wrote whose ids are in
 * (above, upto]. thread_reply whichever of a reply and its root came
 * first; attached_to for every message sharing a file. */
#define SLACK_RELATIONS_FORWARD 1
/* The reverse side: relations toward the rows job_id wrote from rows it
 * left unchanged (an upload's; a full pass each, not for every event). */
#define SLACK_RELATIONS_REVERSE 2

#define SLACK_RELATIONS_ALL_IDS 0, LLONG_MAX

/* Derives the relations which asks for. extra, when given, is a second
 * connection to derive two relation types at once (outside any
 * transaction of conn's). beat, when given, runs on conn between types
 * (the job's heartbeat); non-zero stops. 0, or -1 with the error in err
 * (when given; with one connection, also in PQerrorMessage(conn)). */
int slack_relations(PGconn *conn, PGconn *extra, const char *job_id, int which,
    long long above, long long upto, int (*beat)(void *data), void *data,
    char *err, size_t errlen);

#endif

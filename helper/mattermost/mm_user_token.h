/*
 * Acting as a migrated user in the api mode: Mattermost makes the caller
 * the author of a post, a file and a reaction, so each user's are sent
 * with a personal access token the export mints for that user (once) and
 * revokes at its end.
 */
#ifndef FERRY_MM_USER_TOKEN_H
#define FERRY_MM_USER_TOKEN_H

#include <stddef.h>

#include "mm_export.h"

#define MM_TOKEN_LEN 64

mm_tokens_t *mm_tokens_create(void);

void mm_tokens_free(mm_tokens_t *t);

/* The token to send a call that acts as the Mattermost user user_id, into
 * out (MM_TOKEN_LEN bytes): MM_TOKEN for its own user and outside the api
 * mode, else the user's minted token. 0, or -1 with the reason in err. */
int mm_user_token(
    mm_export_t *x, const char *user_id, char *out, char *err, size_t errlen);

/* Mints ahead, EXPORT_WORKERS at a time, the tokens of the users (their
 * Mattermost ids) that sql selects, so that no worker of the phase to come
 * waits for one (a channel's worker minting for each new author holds up
 * its channel); nothing outside the api mode or in a dry run. A token that
 * cannot be had is left for the entity that needs it to report. 0, 1 when
 * stopped early, -1 on an error. */
int mm_tokens_mint_ahead(mm_export_t *x, job_t *job, const char *sql);

/* Revokes every token the job minted, in this run or in an earlier one
 * that stopped before its end, EXPORT_WORKERS at a time (job keeps its
 * heartbeat meanwhile). 0, or -1 when some could not be revoked (they stay
 * listed, for the next run). */
int mm_tokens_revoke(mm_export_t *x, job_t *job);

/* The tokens of an export that ended without its runner (given up after
 * its attempts, its runner gone): revoked with a pooled connection, as
 * far as Mattermost answers. */
void mm_tokens_revoke_orphaned(ferryd_t *ferry, const char *job_id);

#endif

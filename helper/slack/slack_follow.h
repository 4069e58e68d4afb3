/*
 * An upload's relations derived while it reads on: a thread with a
 * connection of its own follows the batches that committed and derives
 * their rows' forward relations, so that PostgreSQL inserts relations on
 * one core while it upserts the next batches on the other.
 */
#ifndef FERRY_SLACK_FOLLOW_H
#define FERRY_SLACK_FOLLOW_H

#include <pthread.h>
#include <libpq-fe.h>

typedef struct {
    pthread_t       thread;
    pthread_mutex_t lock;
    pthread_cond_t  cond;
    PGconn         *conn;
    const char     *job_id;
    const char     *tag;       /* for the log */
    long long       done;      /* relations derived for ids up to this */
    long long       committed; /* ids up to this are in committed batches */
    int             finished;  /* no more batches are coming */
    int             abandon;   /* ...and what is left is not wanted */
    int             failed;
    char            err[512];
} slack_follow_t;

/* Follows job_id's rows with ids above start (those of its batches: the
 * ones it inserted) on conn. 0, or -1 when no thread could start. */
int slack_follow_start(slack_follow_t *f, PGconn *conn, const char *job_id,
    const char *tag, long long start);

/* The batches that committed so far hold no ids above upto (the ids'
 * sequence as the last of them committed). */
void slack_follow_advance(slack_follow_t *f, long long upto);

/* Stops the thread, with drain after deriving what is left (else after
 * the statement it runs: the job stopped, and its resumption derives
 * every relation). 0 when the relations of every batch up to the last
 * advance are in, -1 (f->err) when some failed. */
int slack_follow_finish(slack_follow_t *f, int drain);

#endif

/*
 * The thread derives whatever committed since its last pass, so the passes
 * grow with the pace of the batches: one statement per relation type for
 * several batches when PostgreSQL falls behind. A failure stops the
 * following; the upload then derives every relation in its final pass.
 */
#include "slack_follow.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/thread.h"
#include "slack_relations.h"

static void *
slack_follow_run(void *arg)
{
    slack_follow_t *f = arg;
    long long       above, upto;
    char            err[sizeof(f->err)];
    int             rc;

    pthread_mutex_lock(&f->lock);

    for (;;) {
        while (f->committed == f->done && !f->finished) {
            pthread_cond_wait(&f->cond, &f->lock);
        }

        if (f->committed == f->done || f->abandon) {
            break;
        }

        above = f->done;
        upto = f->committed;
        pthread_mutex_unlock(&f->lock);

        rc = slack_relations(f->conn, NULL, f->job_id, SLACK_RELATIONS_FORWARD,
            above, upto, NULL, NULL, err, sizeof(err));

        pthread_mutex_lock(&f->lock);

        if (rc != 0) {
            f->failed = 1;
            snprintf(f->err, sizeof(f->err), "%s", err);
            break;
        }

        log_debug(f->tag,
            "slack upload %s: relations of ids (%lld, %lld] derived while "
            "reading",
            f->job_id, above, upto);
        f->done = upto;
    }

    pthread_mutex_unlock(&f->lock);

    return NULL;
}

int
slack_follow_start(slack_follow_t *f, PGconn *conn, const char *job_id,
    const char *tag, long long start)
{
    memset(f, 0, sizeof(*f));
    f->conn = conn;
    f->job_id = job_id;
    f->tag = tag;
    f->done = start;
    f->committed = start;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);

    if (thread_start(&f->thread, slack_follow_run, f) != 0) {
        pthread_mutex_destroy(&f->lock);
        pthread_cond_destroy(&f->cond);
        return -1;
    }

    return 0;
}

void
slack_follow_advance(slack_follow_t *f, long long upto)
{
    pthread_mutex_lock(&f->lock);
    if (upto > f->committed) {
        f->committed = upto;
        pthread_cond_signal(&f->cond);
    }
    pthread_mutex_unlock(&f->lock);
}

int
slack_follow_finish(slack_follow_t *f, int drain)
{
    pthread_mutex_lock(&f->lock);
    f->finished = 1;
    f->abandon = !drain;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->lock);

    pthread_join(f->thread, NULL);

    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->cond);

    return f->failed ? -1 : 0;
}

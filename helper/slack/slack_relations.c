/*
 * Each relation type is derived by statements over the rows a job wrote,
 * so a reply read before its root, or a user read after the channel that
 * lists them, gets its relation all the same. The types are independent:
 * an upload derives two at once on two connections (the pass is
 * PostgreSQL's work, one core each), but one type's statements run in turn
 * on one connection, since two inserting the same relations at once could
 * each wait for the other's (ON CONFLICT).
 */
#include "slack_relations.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/db.h"
#include "core/thread.h"

/* who posted a message: its user, or a bot's placeholder for a bot message */
#define SLACK_MESSAGE_AUTHOR(m)                                                \
    "CASE WHEN " m ".raw_data->>'user' IS NULL OR " m ".raw_data->>'user' "    \
    "LIKE 'B%' THEN coalesce(" m ".raw_data->>'bot_id', " m                    \
    ".raw_data->>'user') ELSE " m ".raw_data->>'user' END"

/* the rows job_id wrote whose ids are in ($2, $3] */
#define SLACK_WROTE(a)                                                         \
    a ".job_id = $1::uuid AND " a ".id > $2::bigint AND " a ".id <= $3::bigint"

#define SLACK_RELATION_INSERT                                                  \
    "INSERT INTO entity_relations "                                            \
    "(from_entity_id, to_entity_id, relation_type) "

/*
 * Each relation from the side this job wrote (forward); the reverse side
 * (the other end written by this job, this end left unchanged by it) only
 * for an upload, where a full pass is worth it, not for each event.
 */
typedef struct {
    int         reverse; /* SLACK_RELATIONS_REVERSE, else _FORWARD */
    const char *sql;
} slack_relation_sql_t;

typedef struct {
    const char          *type;
    slack_relation_sql_t sql[2];
} slack_relation_t;

/* the costliest first, so that two connections end about together */
/* clang-format off */
static const slack_relation_t slack_relation_types[] = {
    { "posted_by", {
        /* posted_by: user -> message (a bot's placeholder for bot messages) */
        { 0, SLACK_RELATION_INSERT
        "SELECT u.id, m.id, 'posted_by' FROM entities m "
        "JOIN entities u ON u.entity_type = 'user' AND u.slack_id = "
        SLACK_MESSAGE_AUTHOR("m") " "
        "WHERE m.entity_type = 'message' AND " SLACK_WROTE("m") " "
        "ON CONFLICT DO NOTHING" },
        { 1, SLACK_RELATION_INSERT
        "SELECT u.id, m.id, 'posted_by' FROM entities u "
        "JOIN entities m ON m.entity_type = 'message' "
        "AND " SLACK_MESSAGE_AUTHOR("m") " = u.slack_id "
        "AND m.job_id IS DISTINCT FROM $1::uuid "
        "WHERE u.entity_type = 'user' AND u.job_id = $1::uuid "
        "ON CONFLICT DO NOTHING" },
    } },
    { "posted_in", {
        /* posted_in: message -> channel */
        { 0, SLACK_RELATION_INSERT
        "SELECT m.id, c.id, 'posted_in' FROM entities m "
        "JOIN entities c ON c.entity_type = 'channel' "
        "AND c.slack_id = m.raw_data->>'channel_id' "
        "WHERE m.entity_type = 'message' AND " SLACK_WROTE("m") " "
        "ON CONFLICT DO NOTHING" },
        { 1, SLACK_RELATION_INSERT
        "SELECT m.id, c.id, 'posted_in' FROM entities c "
        "JOIN entities m ON m.entity_type = 'message' "
        "AND m.raw_data->>'channel_id' = c.slack_id "
        "AND m.job_id IS DISTINCT FROM $1::uuid "
        "WHERE c.entity_type = 'channel' AND c.job_id = $1::uuid "
        "ON CONFLICT DO NOTHING" },
    } },
    { "reacted_by", {
        /* reacted_by: user -> reaction */
        { 0, SLACK_RELATION_INSERT
        "SELECT u.id, x.id, 'reacted_by' FROM entities x "
        "JOIN entities u ON u.entity_type = 'user' "
        "AND u.slack_id = x.raw_data->>'user' "
        "WHERE x.entity_type = 'reaction' AND " SLACK_WROTE("x") " "
        "ON CONFLICT DO NOTHING" },
        { 1, SLACK_RELATION_INSERT
        "SELECT u.id, x.id, 'reacted_by' FROM entities u "
        "JOIN entities x ON x.entity_type = 'reaction' "
        "AND x.raw_data->>'user' = u.slack_id "
        "AND x.job_id IS DISTINCT FROM $1::uuid "
        "WHERE u.entity_type = 'user' AND u.job_id = $1::uuid "
        "ON CONFLICT DO NOTHING" },
    } },
    { "reacted_to", {
        /* reacted_to: reaction -> message */
        { 0, SLACK_RELATION_INSERT
        "SELECT x.id, m.id, 'reacted_to' FROM entities x "
        "JOIN entities m ON m.entity_type = 'message' AND m.slack_id = "
        "(x.raw_data->>'channel_id') || ':' || (x.raw_data->>'message_ts') "
        "WHERE x.entity_type = 'reaction' AND " SLACK_WROTE("x") " "
        "ON CONFLICT DO NOTHING" },
        { 1, SLACK_RELATION_INSERT
        "SELECT x.id, m.id, 'reacted_to' FROM entities m "
        "JOIN entities x ON x.entity_type = 'reaction' "
        "AND (x.raw_data->>'channel_id') || ':' || (x.raw_data->>'message_ts') "
        "= m.slack_id AND x.job_id IS DISTINCT FROM $1::uuid "
        "WHERE m.entity_type = 'message' AND m.job_id = $1::uuid "
        "ON CONFLICT DO NOTHING" },
    } },
    { "member_of", {
        /* member_of: user -> channel, from the channel's members */
        { 0, SLACK_RELATION_INSERT
        "SELECT u.id, c.id, 'member_of' FROM entities c "
        "CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN "
        "jsonb_typeof(c.raw_data->'members') = 'array' "
        "THEN c.raw_data->'members' ELSE '[]' END) AS m(uid) "
        "JOIN entities u ON u.entity_type = 'user' AND u.slack_id = m.uid "
        "WHERE c.entity_type = 'channel' AND " SLACK_WROTE("c") " "
        "ON CONFLICT DO NOTHING" },
        /* ...and for this upload's users in channels it left as they were */
        { 1, SLACK_RELATION_INSERT
        "SELECT u.id, c.id, 'member_of' FROM entities u "
        "JOIN entities c ON c.entity_type = 'channel' "
        "AND c.raw_data->'members' ? u.slack_id "
        "WHERE u.entity_type = 'user' AND u.job_id = $1::uuid "
        "AND c.job_id IS DISTINCT FROM $1::uuid "
        "ON CONFLICT DO NOTHING" },
    } },
    { "thread_reply", {
        /* thread_reply: reply -> root, for the replies of this upload... */
        { 0, SLACK_RELATION_INSERT
        "SELECT r.id, t.id, 'thread_reply' FROM entities r "
        "JOIN entities t ON t.entity_type = 'message' AND t.slack_id = "
        "(r.raw_data->>'channel_id') || ':' || (r.raw_data->>'thread_ts') "
        "WHERE r.entity_type = 'message' AND " SLACK_WROTE("r") " "
        "AND r.raw_data->>'thread_ts' <> r.raw_data->>'ts' "
        "ON CONFLICT DO NOTHING" },
        /* ...and for the roots of this upload whose replies came earlier */
        { 0, SLACK_RELATION_INSERT
        "SELECT r.id, t.id, 'thread_reply' FROM entities t "
        "JOIN entities r ON r.entity_type = 'message' "
        "AND r.raw_data ? 'thread_ts' AND ((r.raw_data->>'channel_id') || ':' "
        "|| (r.raw_data->>'thread_ts')) = t.slack_id "
        "AND r.raw_data->>'thread_ts' <> r.raw_data->>'ts' "
        "WHERE t.entity_type = 'message' AND " SLACK_WROTE("t") " "
        "AND t.raw_data ? 'reply_count' "
        "ON CONFLICT DO NOTHING" },
    } },
    { "custom_emoji_used", {
        /* custom_emoji_used: reaction -> custom_emoji (skin tone left out) */
        { 0, SLACK_RELATION_INSERT
        "SELECT x.id, e.id, 'custom_emoji_used' FROM entities x "
        "JOIN entities e ON e.entity_type = 'custom_emoji' "
        "AND e.slack_id = split_part(x.raw_data->>'name', '::', 1) "
        "WHERE x.entity_type = 'reaction' AND " SLACK_WROTE("x") " "
        "ON CONFLICT DO NOTHING" },
        { 1, SLACK_RELATION_INSERT
        "SELECT x.id, e.id, 'custom_emoji_used' FROM entities e "
        "JOIN entities x ON x.entity_type = 'reaction' "
        "AND split_part(x.raw_data->>'name', '::', 1) = e.slack_id "
        "AND x.job_id IS DISTINCT FROM $1::uuid "
        "WHERE e.entity_type = 'custom_emoji' AND e.job_id = $1::uuid "
        "ON CONFLICT DO NOTHING" },
    } },
    { "attached_to", {
        /* attached_to: attachment -> message, from the attachment's row... */
        { 0, SLACK_RELATION_INSERT
        "SELECT a.id, m.id, 'attached_to' FROM entities a "
        "JOIN entities m ON m.entity_type = 'message' "
        "AND m.slack_id = a.raw_data->>'message' "
        "WHERE a.entity_type = 'attachment' AND " SLACK_WROTE("a") " "
        "ON CONFLICT DO NOTHING" },
        /* ...and for every message that shares a file, not only the last one
         * its row names */
        { 0, SLACK_RELATION_INSERT
        "SELECT a.id, m.id, 'attached_to' FROM entities m "
        "CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN "
        "jsonb_typeof(m.raw_data->'files') = 'array' THEN m.raw_data->'files' "
        "ELSE '[]' END) AS f(file) "
        "JOIN entities a ON a.entity_type = 'attachment' "
        "AND a.slack_id = f.file->>'id' "
        "WHERE m.entity_type = 'message' AND " SLACK_WROTE("m") " "
        "ON CONFLICT DO NOTHING" },
    } },
};
/* clang-format on */

#define SLACK_NRELATIONS                                                       \
    (sizeof(slack_relation_types) / sizeof(slack_relation_types[0]))

typedef struct {
    pthread_mutex_t lock;
    size_t          next; /* the next type to derive */
    int             failed;
    const char     *params[3]; /* job id, ids above, ids up to */
    int             which;
    char           *err;
    size_t          errlen;
} slack_relations_run_t;

typedef struct {
    slack_relations_run_t *run;
    PGconn                *conn;
} slack_relations_side_t;

/* The next type to derive into *i; 0 when none is left (or one failed). */
static int
slack_relations_next(slack_relations_run_t *run, size_t *i)
{
    int more;

    pthread_mutex_lock(&run->lock);
    more = !run->failed && run->next < SLACK_NRELATIONS;
    if (more) {
        *i = run->next++;
    }
    pthread_mutex_unlock(&run->lock);

    return more;
}

static void
slack_relations_fail(
    slack_relations_run_t *run, const char *type, const char *why)
{
    pthread_mutex_lock(&run->lock);
    if (!run->failed) {
        run->failed = 1;
        snprintf(run->err, run->errlen, "%s: %s", type, why);
    }
    pthread_mutex_unlock(&run->lock);
}

static int
slack_relations_derive(PGconn *conn, slack_relations_run_t *run, size_t i)
{
    const slack_relation_t *r = &slack_relation_types[i];
    size_t                  k;
    int                     reverse;

    for (k = 0; k < sizeof(r->sql) / sizeof(r->sql[0]); k++) {
        reverse = r->sql[k].reverse;
        if (!(run->which
                & (reverse ? SLACK_RELATIONS_REVERSE
                           : SLACK_RELATIONS_FORWARD)))
        {
            continue;
        }

        /* the reverse side has no range: $2 and $3 would have no type */
        if (db_run(conn, r->sql[k].sql, reverse ? 1 : 3, run->params) < 0) {
            slack_relations_fail(run, r->type, PQerrorMessage(conn));
            return -1;
        }
    }

    return 0;
}

static void *
slack_relations_thread(void *arg)
{
    slack_relations_side_t *side = arg;
    size_t                  i;

    while (slack_relations_next(side->run, &i)
        && slack_relations_derive(side->conn, side->run, i) == 0)
    {
        /* void */
    }

    return NULL;
}

int
slack_relations(PGconn *conn, PGconn *extra, const char *job_id, int which,
    long long above, long long upto, int (*beat)(void *data), void *data,
    char *err, size_t errlen)
{
    char                   lo[24], hi[24];
    slack_relations_run_t  run;
    slack_relations_side_t side = { &run, extra };
    pthread_t              t;
    int                    two;
    size_t                 i;

    memset(&run, 0, sizeof(run));
    pthread_mutex_init(&run.lock, NULL);
    snprintf(lo, sizeof(lo), "%lld", above);
    snprintf(hi, sizeof(hi), "%lld", upto);
    run.params[0] = job_id;
    run.params[1] = lo;
    run.params[2] = hi;
    run.which = which;
    run.err = err;
    run.errlen = errlen;

    two = extra && thread_start(&t, slack_relations_thread, &side) == 0;

    while (slack_relations_next(&run, &i)
        && slack_relations_derive(conn, &run, i) == 0)
    {
        /* a long pass must not look like a dead runner's */
        if (beat && beat(data) != 0) {
            slack_relations_fail(&run, slack_relation_types[i].type,
                "the job is no longer this runner's");
        }
    }

    if (two) {
        pthread_join(t, NULL);
    }

    pthread_mutex_destroy(&run.lock);

    return run.failed ? -1 : 0;
}

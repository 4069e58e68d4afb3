/*
 * ferryd: the Ferry helper daemon.
 *
 *   ferryd [-c FILE] [serve]           serve the Ferry protocol on FERRY_SOCKET
 *   ferryd [-c FILE] migrate [up|down] apply or revert database migrations
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>

#include "core/config.h"
#include "core/db.h"
#include "core/ferryd.h"
#include "core/idempotency.h"
#include "core/jobs.h"
#include "core/log.h"
#include "core/migrate.h"
#include "core/schedule.h"
#include "core/server.h"
#include "grist/grist_queue.h"
#include "grist/grist_sync.h"
#include "http/http_client.h"
#include "slack/slack_events.h"

#define EXIT_CONFIG 2

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: ferryd [-c FILE] [serve]\n"
        "       ferryd [-c FILE] migrate [up|down]\n"
        "Settings come from FILE (KEY=VALUE lines) and the environment, which "
        "wins.\n");
}

static int
serve(ferryd_t *ferry)
{
    char               err[512];
    server_t          *srv;
    jobs_t            *jobs;
    schedule_t        *sched, *sync, *queue;
    http_client_opts_t http_opts;
    int                rc, i;

    if (ferry->cfg.jwt_secret_file[0]
        && config_read_secret(ferry->cfg.jwt_secret_file, ferry->jwt_key,
               &ferry->jwt_key_len, err, sizeof(err))
            != 0)
    {
        fprintf(stderr, "ferryd: %s\n", err);
        return EXIT_CONFIG;
    }

    if (ferry->jwt_key_len == 0) {
        log_warn("server",
            "JWT_SECRET_FILE is not set: POST /auth/token will answer 503");
    }

    ferry->db = db_pool_create(ferry->cfg.database_url, ferry->cfg.db_pool_size,
        ferry->cfg.db_max_overflow, ferry->cfg.db_connect_timeout,
        ferry->cfg.db_pool_timeout);
    if (ferry->db == NULL) {
        fprintf(stderr, "ferryd: out of memory\n");
        return 1;
    }

    /* one client for every outbound call of every thread (each thread
     * keeps its own connections over HTTP/1.1); its limits are
     * Mattermost's settings, the busiest peer by far */
    memset(&http_opts, 0, sizeof(http_opts));
    http_opts.max_total_connections = ferry->cfg.mm_max_connections;
    http_opts.max_host_connections = ferry->cfg.mm_max_connections;
    http_opts.max_idle_connections = ferry->cfg.mm_max_keepalive;
    http_opts.http2 = ferry->cfg.mm_http2;
    ferry->http = http_client_create(&http_opts, err, sizeof(err));
    if (ferry->http == NULL) {
        fprintf(stderr, "ferryd: %s\n", err);
        db_pool_destroy(ferry->db);
        return 1;
    }

    srv = server_create(ferry, err, sizeof(err));
    if (srv == NULL) {
        fprintf(stderr, "ferryd: %s\n", err);
        log_error("server", "%s", err);
        http_client_destroy(ferry->http);
        db_pool_destroy(ferry->db);
        return 1;
    }

    jobs = jobs_start(ferry);
    ferry->jobs = jobs;

    sched = schedule_create(ferry);
    for (i = 0; i < job_nkinds; i++) {
        if (job_kinds[i].sweep) {
            schedule_add(sched, job_kinds[i].name, JOB_SWEEP_SECONDS,
                job_kinds[i].sweep);
        }
    }
    schedule_add(sched, "idempotency purge", IDEM_PURGE_SECONDS, idem_purge);
    schedule_add(sched, "slack event id purge", SLACK_EVENTS_PURGE_SECONDS,
        slack_events_purge);
    if (schedule_start(sched) != 0) {
        log_error("server", "cannot start the scheduler thread");
    }

    /* each on a thread of its own: a long cycle (a first full read, Grist
     * down and retried) holds up neither the sweeps nor the queue */
    sync = schedule_create(ferry);
    schedule_add(
        sync, "grist sync", ferry->cfg.grist_sync_interval, grist_sync_cycle);
    queue = schedule_create(ferry);
    schedule_add(queue, "grist queue", 1, grist_queue_consume);
    if (schedule_start(sync) != 0 || schedule_start(queue) != 0) {
        log_error("server", "cannot start the Grist sync threads");
    }

    rc = server_run(srv);

    ferry->stopping = 1;
    schedule_stop(sync);
    schedule_stop(queue);
    schedule_stop(sched);
    /* runners leave at their next batch end and hand their jobs back */
    jobs_stop(jobs);
    server_destroy(srv);
    http_client_destroy(ferry->http);
    db_pool_destroy(ferry->db);

    return rc == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
    char        err[512];
    const char *conf = NULL, *cmd = "serve";
    ferryd_t    ferry;
    int         opt, rc;

    /* Large buffers (an import's batches, a result) go back to the system
     * when freed: glibc would otherwise raise this threshold as they come
     * and go and keep them on its heap, where they add up across threads. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);

    while ((opt = getopt(argc, argv, "c:h")) != -1) {
        switch (opt) {
        case 'c':
            conf = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_CONFIG;
        }
    }

    if (optind < argc) {
        cmd = argv[optind++];
    }

    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "migrate") != 0) {
        usage(stderr);
        return EXIT_CONFIG;
    }

    memset(&ferry, 0, sizeof(ferry));

    if (config_load(&ferry.cfg, conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "ferryd: %s\n", err);
        config_free(&ferry.cfg);
        return EXIT_CONFIG;
    }

    log_level = ferry.cfg.log_level;

    /* before any thread: libcurl's global state is not thread-safe to set up */
    curl_global_init(CURL_GLOBAL_DEFAULT);

    if (log_open(ferry.cfg.log_file) != 0) {
        fprintf(stderr, "ferryd: cannot open LOG_FILE %s: %s\n",
            ferry.cfg.log_file, strerror(errno));
        config_free(&ferry.cfg);
        return EXIT_CONFIG;
    }

    config_log(&ferry.cfg);

    if (strcmp(cmd, "migrate") == 0) {
        rc = migrate_run(&ferry.cfg, optind < argc ? argv[optind] : "up");

    } else {
        rc = serve(&ferry);
    }

    curl_global_cleanup();
    log_close();
    config_free(&ferry.cfg);

    return rc;
}

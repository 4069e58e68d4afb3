/*
 * Every route ferryd serves, in one table.
 */
#include "core/router.h"

#include "accounts/accounts.h"
#include "core/health.h"
#include "grist/grist_api.h"
#include "grist/grist_back_sync.h"
#include "grist/grist_feeder.h"
#include "grist/grist_status.h"
#include "import/import_api.h"
#include "mattermost/mm_api.h"
#include "slack/slack_api.h"
#include "slack/slack_events.h"

const route_t ferryd_routes[] = {
    { "GET", "/ping", health_ping, 1 },
    { "GET", "/health", health_check, 0 },
    { "GET", "/healthcheck", health_check, 0 },

    { "POST", "/auth/register", accounts_register, 0 },
    { "POST", "/auth/token", accounts_token, 0 },
    { "GET", "/auth/me", accounts_me, 0 },

    { "POST", "/imports", imports_create, 0 },
    { "GET", "/imports", imports_list, 0 },
    { "GET", "/imports/{id}", imports_show, 0 },
    { "DELETE", "/imports/{id}", imports_cancel, 0 },
    { "GET", "/imports/{id}/errors", imports_errors, 0 },

    { "POST", "/slack/upload", slack_upload_create, 0 },
    { "GET", "/slack/uploads", slack_upload_list, 0 },
    { "GET", "/slack/uploads/{id}", slack_upload_show, 0 },
    { "POST", "/slack/events", slack_events_receive, 0 },

    { "POST", "/export", mm_export_create, 0 },
    { "GET", "/export", mm_export_list, 0 },
    { "GET", "/export/{id}", mm_export_show, 0 },
    { "GET", "/export/{id}/failures", mm_export_failures, 0 },

    { "GET", "/badges", grist_api_badges, 0 },
    { "GET", "/arrivals", grist_api_arrivals, 0 },
    { "GET", "/persons", grist_api_persons, 0 },
    { "GET", "/people", grist_api_persons, 0 },
    { "GET", "/participation", grist_api_participation, 0 },
    { "GET", "/directions", grist_api_directions, 0 },
    { "GET", "/places", grist_api_directions, 0 },
    { "GET", "/feeder/sync", grist_feeder_sync, 0 },
    { "POST", "/feeder/back-sync", grist_back_sync, 0 },
    { "GET", "/sync/status", grist_status, 0 },
};

const size_t ferryd_nroutes = sizeof(ferryd_routes) / sizeof(ferryd_routes[0]);

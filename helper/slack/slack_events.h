/*
 * POST /slack/events: an Events API callback that the module verified
 * (signature, timestamp) and handed over, applied to entities like an
 * upload's objects. Slack retries an event it thinks was lost: each
 * event_id is applied once, and ids are forgotten after SLACK_EVENT_TTL.
 */
#ifndef FERRY_SLACK_EVENTS_H
#define FERRY_SLACK_EVENTS_H

#include "core/router.h"

void slack_events_receive(ferryd_t *ferry, req_t *req, resp_t *resp);

/* The scheduler's: event ids older than SLACK_EVENT_TTL go. */
void slack_events_purge(ferryd_t *ferry);

#define SLACK_EVENTS_PURGE_SECONDS 3600

#endif

/*
 * The slack_ingest job: a Slack workspace export zip read member by member
 * into entities and entity_relations, resumable at the element where the
 * last committed batch ended.
 */
#ifndef FERRY_SLACK_INGEST_H
#define FERRY_SLACK_INGEST_H

#include "core/jobs.h"

void slack_ingest_run(job_t *job);

#endif

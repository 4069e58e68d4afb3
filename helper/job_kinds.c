/*
 * Every kind of job ferryd runs, one table: the runners claim only these
 * kinds, and each kind's sweep is scheduled from here.
 */
#include "core/jobs.h"
#include "core/upload_job.h"

#include "import/import_report.h"
#include "import/import_run.h"
#include "mattermost/mm_bulk_run.h"
#include "mattermost/mm_export.h"
#include "slack/slack_ingest.h"

const job_kind_t job_kinds[] = {
    { "import", import_run, upload_job_cancel, import_report_sweep },
    { "slack_ingest", slack_ingest_run, upload_job_cancel, NULL },
    { "export", mm_export_run, mm_export_cancel, mm_bulk_sweep },
};

const int job_nkinds = sizeof(job_kinds) / sizeof(job_kinds[0]);

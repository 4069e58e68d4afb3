/*
 * The bytes of a Slack file for the export (an attachment, a custom
 * emoji's image), into a temporary file of the spool: from the Slack
 * upload's zip when the export held them, else downloaded from Slack.
 */
#ifndef FERRY_MM_SLACK_FILE_H
#define FERRY_MM_SLACK_FILE_H

#include <stddef.h>

#include "mm_export.h"

#define MM_PATH_LEN 4096

/* zip_job: the slack_ingest job whose zip holds member (either may be
 * NULL); url: where Slack serves the file (SLACK_TOKEN sent when set).
 * The file's path into path (MM_PATH_LEN bytes; the caller unlinks it):
 * 0; 1 when Slack does not have it any more (4xx), -1 on any other error,
 * both with the reason in err. */
int mm_slack_file(mm_export_t *x, const char *zip_job, const char *member,
    const char *url, char *path, char *err, size_t errlen);

/* For a dry run: 0 when the file's bytes can be had (the member is in the
 * upload's zip, or Slack gives an address), else 1 with why in err. */
int mm_slack_file_check(mm_export_t *x, const char *zip_job, const char *member,
    const char *url, char *err, size_t errlen);

/* url's bytes into the file path. An export names its URLs, so a crafted
 * one must neither get the token sent elsewhere nor make ferryd fetch from
 * inside the network: only https on Slack's hosts (slack.com,
 * slack-edge.com, slack-files.com) and SLACK_API_URL's host are fetched,
 * SLACK_TOKEN sent to slack.com and SLACK_API_URL's only. 0; 1 when Slack
 * does not have the file (4xx) or the address is not Slack's; -1 on any
 * other error; both with the reason in err. */
int mm_slack_download(ferryd_t *ferry, const char *url, const char *path,
    char *err, size_t errlen);

#endif

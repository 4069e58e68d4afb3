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

/* url's bytes into the file path, SLACK_TOKEN sent only to Slack's own
 * hosts (https, *.slack.com) and to SLACK_API_URL's: an export names its
 * URLs, and a crafted one must not get the token sent elsewhere. 0; 1 when
 * Slack does not have the file (4xx); -1 on any other error; both with the
 * reason in err. */
int mm_slack_download(ferryd_t *ferry, const char *url, const char *path,
    char *err, size_t errlen);

#endif

/*
 * Expiring signed links to the files of REPORTS_DIR (errors.csv, export
 * archives), which nginx serves through ferry_signed_download, and the
 * {"url","expires_at"} object that shows one.
 */
#ifndef FERRY_REPORT_LINK_H
#define FERRY_REPORT_LINK_H

#include <stddef.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "ferryd.h"

/* The link to REPORTS_DIR/file (a bare name), good for
 * REPORT_LINK_TTL_SECONDS, into link; its end in *expires. 0, or -1 when
 * links cannot be signed (no JWT_SECRET_FILE). */
int report_link(const ferryd_t *ferry, const char *file, char *link, size_t len,
    time_t *expires);

/* {"url": link, "expires_at": ISO 8601 UTC} */
cJSON *report_link_json(const char *link, time_t expires);

/* Removes the files of REPORTS_DIR whose names end in suffix and that are
 * older than REPORT_TTL (one INFO line, tagged tag, when some went). */
void report_sweep(const ferryd_t *ferry, const char *suffix, const char *tag);

#endif

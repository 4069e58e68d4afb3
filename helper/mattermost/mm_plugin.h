/*
 * The mm-importer plugin (the original service's, installed and enabled in
 * Mattermost beforehand): its routes, which act as any user and keep a
 * post's or reaction's time, and the check that it is there at all.
 */
#ifndef FERRY_MM_PLUGIN_H
#define FERRY_MM_PLUGIN_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "mm_export.h"

#define MM_PLUGIN_API "/plugins/mm-importer/api/v1"

/* 0 when the plugin answers on MM_URL to MM_TOKEN, else -1 with the
 * reason in err. */
int mm_plugin_check(ferryd_t *ferry, char *err, size_t errlen);

/* POST of body to route (MM_PLUGIN_API "/dm") with MM_TOKEN; the answer's
 * string field want (NULL: none) into id (64 bytes). 0; with the reason in err
 * -1 when refused, -2 when no answer or a server error came (it may have been
 * done). */
int mm_plugin_post(mm_export_t *x, const char *route, const cJSON *body,
    int repeatable, const char *want, char *id, char *err, size_t errlen);

#endif

/*
 * Mattermost answers a plugin route with a plain-text "404 page not found"
 * when the plugin is not installed or not enabled; the plugin answers its
 * own errors as {"error": "..."} (mm_call reads them), every error of the
 * server's plugin API as a 500.
 */
#include "mm_plugin.h"

#include <stdio.h>
#include <string.h>

#include "ferry_json.h"
#include "mm_client.h"

int
mm_plugin_check(ferryd_t *ferry, char *err, size_t errlen)
{
    mm_resp_t r;
    int       rc;

    rc = mm_call(ferry, NULL, "GET", MM_PLUGIN_API "/hello", NULL, 0, &r);
    if (rc != 0 && r.status == 404) {
        snprintf(err, errlen,
            "the mm-importer plugin is not installed or not enabled on MM_URL");
    } else if (rc != 0) {
        /* e.g. "Admin required": MM_TOKEN is not a system admin's */
        snprintf(err, errlen, "the mm-importer plugin: %.400s", r.message);
    }
    mm_resp_free(&r);

    return rc;
}

int
mm_plugin_post(mm_export_t *x, const char *route, const cJSON *body,
    int repeatable, const char *want, char *id, char *err, size_t errlen)
{
    mm_resp_t   r;
    const char *found = NULL;
    int         rc;

    rc = mm_call(x->ferry, NULL, "POST", route, body, repeatable, &r);
    if (rc == 0 && want == NULL) {
        /* an answer without an id: {} */
    } else if (rc == 0 && (found = ferry_json_str(r.json, want))) {
        snprintf(id, 64, "%s", found);
    } else {
        snprintf(err, errlen, "%s",
            rc == 0 ? "the plugin's answer holds no id" : r.message);
        rc = r.status == 0 || r.status >= 500 ? -2 : -1;
    }
    mm_resp_free(&r);

    return rc;
}

/*
 * The signed path is the URL's path, not the whole URL: REPORTS_URL may
 * name a host, and the module checks the path it was asked for.
 */
#include "report_link.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry_link.h"
#include "log.h"

int
report_link(const ferryd_t *ferry, const char *file, char *link, size_t len,
    time_t *expires)
{
    const char *base = ferry->cfg.reports_url, *p;
    char        path[4096], sig[FERRY_LINK_SIG_LEN + 1];
    time_t      t;

    p = strstr(base, "://");
    p = p ? strchr(p + 3, '/') : base;
    p = p ? p : "";

    t = time(NULL) + ferry->cfg.report_link_ttl_seconds;

    snprintf(path, sizeof(path), "%s/%s", p, file);
    if (ferry->jwt_key_len == 0
        || ferry_link_sign(ferry->jwt_key, ferry->jwt_key_len, path,
               strlen(path), (long long) t, sig)
            != 0)
    {
        return -1;
    }

    snprintf(
        link, len, "%s/%s?expires=%lld&sig=%s", base, file, (long long) t, sig);
    *expires = t;

    return 0;
}

cJSON *
report_link_json(const char *link, time_t expires)
{
    char      when[32];
    struct tm tm;
    cJSON    *json;

    gmtime_r(&expires, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);

    json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "url", link);
    cJSON_AddStringToObject(json, "expires_at", when);

    return json;
}

void
report_sweep(const ferryd_t *ferry, const char *suffix, const char *tag)
{
    DIR           *d;
    struct dirent *e;
    struct stat    st;
    char           path[4096];
    time_t         now = time(NULL);
    size_t         n, k = strlen(suffix);
    int            removed = 0;

    if (ferry->cfg.reports_dir[0] == '\0') {
        return;
    }

    d = opendir(ferry->cfg.reports_dir);
    if (d == NULL) {
        return;
    }

    while ((e = readdir(d)) != NULL) {
        n = strlen(e->d_name);
        if (n <= k || strcmp(e->d_name + n - k, suffix) != 0) {
            continue;
        }

        snprintf(
            path, sizeof(path), "%s/%s", ferry->cfg.reports_dir, e->d_name);

        if (stat(path, &st) == 0 && now - st.st_mtime > ferry->cfg.report_ttl
            && unlink(path) == 0)
        {
            removed++;
        }
    }

    closedir(d);

    if (removed) {
        log_info(tag, "removed %d report(s) older than REPORT_TTL (%d s)",
            removed, ferry->cfg.report_ttl);
    }
}

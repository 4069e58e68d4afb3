/*
 * The ingest already checked the zip's members against its limits, so a
 * member is copied as it is; the copy is bounded by the size the zip
 * gives. Downloads go through the HTTP client straight to the file.
 */
#include "mm_slack_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "core/log.h"
#include "http/http_client.h"

static int mm_slack_fetchable(const ferryd_t *ferry, const char *url);

static int
mm_slack_file_tmp(mm_export_t *x, char *path)
{
    int fd;

    snprintf(
        path, MM_PATH_LEN, "%s/export-file-XXXXXX", x->ferry->cfg.spool_dir);
    fd = mkstemp(path);
    if (fd < 0) {
        path[0] = '\0';
    }

    return fd;
}

/* the member into fd; 0, 1 when the zip or the member is gone, -1 */
static int
mm_slack_file_unzip(mm_export_t *x, const char *zip_job, const char *member,
    int fd, char *err, size_t errlen)
{
    char        zpath[MM_PATH_LEN], buf[65536];
    zip_t      *z;
    zip_file_t *f;
    zip_int64_t n;
    int         zerr, rc = 0;

    snprintf(zpath, sizeof(zpath), "%s/slack_ingest-%s.zip",
        x->ferry->cfg.spool_dir, zip_job);

    z = zip_open(zpath, ZIP_RDONLY, &zerr);
    if (z == NULL) {
        snprintf(err, errlen, "the Slack upload's zip is gone");
        return 1;
    }

    f = zip_fopen(z, member, 0);
    if (f == NULL) {
        snprintf(err, errlen, "%s is not in the Slack upload's zip", member);
        zip_close(z);
        return 1;
    }

    while ((n = zip_fread(f, buf, sizeof(buf))) > 0) {
        if (write(fd, buf, (size_t) n) != n) {
            snprintf(err, errlen, "cannot write a file: %s", strerror(errno));
            rc = -1;
            break;
        }
    }
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", member, zip_file_strerror(f));
        rc = -1;
    }

    zip_fclose(f);
    zip_discard(z);

    return rc;
}

int
mm_slack_file_check(mm_export_t *x, const char *zip_job, const char *member,
    const char *url, char *err, size_t errlen)
{
    char   zpath[MM_PATH_LEN];
    zip_t *z;
    int    zerr, found = 0;

    if (zip_job && member) {
        snprintf(zpath, sizeof(zpath), "%s/slack_ingest-%s.zip",
            x->ferry->cfg.spool_dir, zip_job);
        z = zip_open(zpath, ZIP_RDONLY, &zerr);
        found = z && zip_name_locate(z, member, 0) >= 0;
        if (z) {
            zip_discard(z);
        }
    }

    if (found || (url && mm_slack_fetchable(x->ferry, url))) {
        return 0;
    }

    snprintf(err, errlen, "%s",
        member ? "not in the Slack upload's zip, and Slack gives no address "
                 "of its own"
               : "Slack gives no address of its own for the file");

    return 1;
}

/* 1 when url's scheme, host and port are SLACK_API_URL's */
static int
mm_slack_api_host(const ferryd_t *ferry, const char *url)
{
    const char *api = ferry->cfg.slack_api_url, *h, *end;
    size_t      n;

    h = strstr(api, "://");
    if (h == NULL) {
        return 0;
    }
    end = strchr(h + 3, '/');
    n = end ? (size_t) (end - api) : strlen(api);

    return strncmp(url, api, n) == 0 && (url[n] == '/' || url[n] == '\0');
}

/* 1 when url is https on a host that is domain or ends in "." domain */
static int
mm_https_in(const char *url, const char *domain)
{
    const char *h;
    size_t      n, d = strlen(domain);

    if (strncmp(url, "https://", 8) != 0) {
        return 0;
    }
    h = url + 8;
    n = strcspn(h, "/:?#@");

    return (n == d && strncmp(h, domain, d) == 0)
        || (n > d && h[n - d - 1] == '.' && strncmp(h + n - d, domain, d) == 0);
}

/* 1 when url may carry SLACK_TOKEN: Slack's own hosts, SLACK_API_URL's */
static int
mm_slack_host(const ferryd_t *ferry, const char *url)
{
    return mm_slack_api_host(ferry, url) || mm_https_in(url, "slack.com");
}

/* 1 when ferryd may fetch url at all: the export names its addresses, and
 * a crafted one must not make ferryd fetch from inside the network (the
 * cloud's metadata, a database) for the caller to read back; so only
 * where Slack serves files, avatars and emoji, and SLACK_API_URL's host */
static int
mm_slack_fetchable(const ferryd_t *ferry, const char *url)
{
    return mm_slack_host(ferry, url) || mm_https_in(url, "slack-edge.com")
        || mm_https_in(url, "slack-files.com");
}

int
mm_slack_download(ferryd_t *ferry, const char *url, const char *path, char *err,
    size_t errlen)
{
    char        auth[1024], why[512];
    const char *headers[2] = { NULL, NULL };
    http_req_t  req;
    http_resp_t resp;
    int         rc;

    if (url == NULL
        || (strncmp(url, "https://", 8) != 0
            && strncmp(url, "http://", 7) != 0))
    {
        snprintf(err, errlen, "Slack gives no address for the file");
        return 1;
    }

    if (!mm_slack_fetchable(ferry, url)) {
        snprintf(err, errlen,
            "not an address of Slack's (slack.com, slack-edge.com, "
            "slack-files.com or SLACK_API_URL's host): %.200s",
            url);
        return 1;
    }

    if (ferry->cfg.slack_token[0] && mm_slack_host(ferry, url)) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
            ferry->cfg.slack_token);
        headers[0] = auth;
    }

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.headers = headers;
    req.resp_path = path;
    req.tag = "slack";

    rc = http_client_request(ferry->http, &req, &resp, why, sizeof(why));
    if (rc == HTTP_CLIENT_ESTATUS && resp.status >= 400 && resp.status < 500) {
        snprintf(err, errlen, "Slack answered %ld for the file", resp.status);
        rc = 1;
    } else if (rc != HTTP_CLIENT_OK) {
        snprintf(err, errlen, "download from Slack: %s", why);
        rc = -1;
    }
    http_client_resp_free(&resp);

    return rc;
}

int
mm_slack_file(mm_export_t *x, const char *zip_job, const char *member,
    const char *url, char *path, char *err, size_t errlen)
{
    int fd, rc;

    fd = mm_slack_file_tmp(x, path);
    if (fd < 0) {
        snprintf(err, errlen, "cannot make a file in SPOOL_DIR: %s",
            strerror(errno));
        return -1;
    }

    if (zip_job && member) {
        rc = mm_slack_file_unzip(x, zip_job, member, fd, err, errlen);
        close(fd);
        if (rc == 0 || url == NULL) {
            goto done;
        }
        log_debug(x->worker, "%s; fetching it from Slack", err);
    } else {
        close(fd);
    }

    rc = mm_slack_download(x->ferry, url, path, err, errlen);

done:

    if (rc != 0) {
        unlink(path);
        path[0] = '\0';
    }

    return rc;
}

/*
 * Route matching.
 */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Matches path against pattern: 1 or 0, or -1 when a capture cannot be
 * copied. Captures go to params when not NULL. */
static int
router_path_matches(
    const char *pattern, const char *path, char **params, int *nparams)
{
    const char *p = pattern, *s = path, *pe, *se;
    int         n = 0, rc = 0;

    while (*p && *s) {
        if (*p != '/' || *s != '/') {
            goto fail;
        }
        p++;
        s++;

        pe = strchr(p, '/');
        pe = pe ? pe : p + strlen(p);
        se = strchr(s, '/');
        se = se ? se : s + strlen(s);

        if (*p == '{') {
            if (se == s || n == REQ_MAX_PARAMS) {
                goto fail;
            }
            if (params) {
                params[n] = strndup(s, (size_t) (se - s));
                if (params[n] == NULL) {
                    rc = -1;
                    goto fail;
                }
            }
            n++;

        } else if (pe - p != se - s || strncmp(p, s, (size_t) (pe - p)) != 0) {
            goto fail;
        }

        p = pe;
        s = se;
    }

    if (*p || *s) {
        goto fail;
    }

    if (nparams) {
        *nparams = n;
    }

    return 1;

fail:

    if (params) {
        while (n--) {
            free(params[n]);
            params[n] = NULL;
        }
    }

    return rc;
}

route_rc_t
router_match(const route_t *routes, size_t n, req_t *req, const route_t **found,
    char *allow, size_t allowlen)
{
    size_t i, used = 0;
    int    path_seen = 0;

    if (allowlen) {
        allow[0] = '\0';
    }

    for (i = 0; i < n; i++) {
        if (!router_path_matches(routes[i].pattern, req->path, NULL, NULL)) {
            continue;
        }

        if (strcmp(routes[i].method, req->method) == 0) {
            if (router_path_matches(
                    routes[i].pattern, req->path, req->params, &req->nparams)
                != 1)
            {
                return ROUTE_NO_MEMORY;
            }
            *found = &routes[i];
            return ROUTE_FOUND;
        }

        if (used < allowlen) {
            used += (size_t) snprintf(allow + used, allowlen - used, "%s%s",
                path_seen ? ", " : "", routes[i].method);
        }
        path_seen = 1;
    }

    return path_seen ? ROUTE_BAD_METHOD : ROUTE_NOT_FOUND;
}

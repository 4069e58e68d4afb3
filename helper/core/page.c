#include "page.h"

#include <stdlib.h>
#include <string.h>

int
page_limit(const req_t *req, resp_t *resp, long *n)
{
    const char *l = req_query(req, "limit");

    *n = PAGE_LIMIT_DEFAULT;
    if (l
        && (strspn(l, "0123456789") != strlen(l) || strlen(l) > 3
            || (*n = strtol(l, NULL, 10)) < 1 || *n > PAGE_LIMIT_MAX))
    {
        resp_field_error(resp, 422, "limit", "limit must be between 1 and 100");
        return -1;
    }

    return 0;
}

/* libFuzzer: ferryd's parsing of request frames and its router. */
#include <stddef.h>
#include <stdint.h>

#include "core/request.h"
#include "core/router.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    req_t          req;
    char           err[256], allow[64];
    const route_t *route;

    if (req_parse(&req, (const char *) data, size, err, sizeof(err)) == REQ_OK)
    {
        (void) router_match(
            ferryd_routes, ferryd_nroutes, &req, &route, allow, sizeof(allow));
    }
    req_free(&req);

    return 0;
}

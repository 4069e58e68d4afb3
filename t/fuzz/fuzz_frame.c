/* libFuzzer: the module's reading of ferryd's answers (frame length and
 * JSON head), with any bytes. */
#include <stddef.h>
#include <stdint.h>

#include "ferry_frame.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t            len;
    char              err[128];
    ferry_resp_head_t h;

    if (ferry_frame_check(data, size, 1 << 20, &len) == FERRY_FRAME_OK
        && ferry_resp_head_parse(
               (const char *) data + 4, len, &h, err, sizeof(err))
            == 0)
    {
        ferry_resp_head_free(&h);
    }

    if (ferry_resp_head_parse((const char *) data, size, &h, err, sizeof(err))
        == 0) {
        ferry_resp_head_free(&h);
    }

    return 0;
}

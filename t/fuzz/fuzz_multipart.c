/* libFuzzer: the streaming multipart parser, the body split where the
 * first byte says; the bytes handed over never exceed the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ferry_multipart.h"

static size_t total;

static int
on_part(void *d, const ferry_mp_part_t *p)
{
    (void) d;
    return p->name[0] == 'f';
}
static int
on_data(void *d, const unsigned char *p, size_t n)
{
    (void) d;
    (void) p;
    total += n;
    return 0;
}
static int
on_end(void *d)
{
    (void) d;
    return 0;
}

static const ferry_mp_callbacks_t cb = { on_part, on_data, on_end };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ferry_mp_t mp;
    size_t     cut;

    if (size < 2) {
        return 0;
    }

    total = 0;
    cut = data[0] % size;
    ferry_mp_init(&mp, "XyZ", 3, &cb, NULL);

    if (ferry_mp_feed(&mp, data + 1, cut ? cut - 1 : 0) == FERRY_MP_OK) {
        (void) ferry_mp_feed(
            &mp, data + (cut ? cut : 1), size - (cut ? cut : 1));
    }
    (void) ferry_mp_finish(&mp);

    if (total > size) {
        abort();
    }

    return 0;
}

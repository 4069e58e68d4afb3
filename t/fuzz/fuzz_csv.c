/* libFuzzer: the import CSV reader, the file split where the first byte
 * says; record ends never go past what was fed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "import/import_csv.h"

static uint64_t fed;

static int
on_record(void *d, const csv_record_t *r)
{
    (void) d;
    if (r->end > fed || r->nfields < 1) {
        abort();
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    csv_t  csv;
    size_t cut;

    if (size < 1) {
        return 0;
    }

    cut = data[0] % size;
    csv_init(&csv, 16, 0, 1);

    fed = cut;
    if (csv_feed(&csv, (const char *) data, cut, on_record, NULL) == 0) {
        fed = size;
        (void) csv_feed(
            &csv, (const char *) data + cut, size - cut, on_record, NULL);
    }
    fed = size;
    (void) csv_finish(&csv, on_record, NULL);
    csv_free(&csv);

    return 0;
}

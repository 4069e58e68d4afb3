/* libFuzzer: the Slack export's streaming array splitter, the text split
 * where the first byte says, every element then checked as ferryd checks it
 * (strings) and parsed with cJSON; an element never exceeds what was fed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cjson/cJSON.h>

#include "ferry_json.h"
#include "slack/slack_json.h"

static size_t fed;

static int
on_element(void *d, const char *s, size_t n)
{
    char        path[FERRY_JSON_PATH_MAX];
    const char *why;

    (void) d;
    if (n > fed) {
        abort();
    }
    if (ferry_json_check_strings(s, n, path, sizeof(path), &why) == 0) {
        cJSON_Delete(cJSON_ParseWithLength(s, n));
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    slack_json_t j;
    size_t       cut;

    if (size < 1) {
        return 0;
    }

    cut = data[0] % size;
    slack_json_init(&j, 4096, on_element, NULL);

    fed = cut;
    if (slack_json_feed(&j, (const char *) data, cut) == 0) {
        fed = size;
        (void) slack_json_feed(&j, (const char *) data + cut, size - cut);
    }
    (void) slack_json_finish(&j);
    slack_json_free(&j);

    return 0;
}

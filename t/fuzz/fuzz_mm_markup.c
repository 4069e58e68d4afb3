/* libFuzzer: the Slack markup converter on any JSON message, and on any
 * bytes as a message's text; what comes out of UTF-8 is UTF-8 (no
 * character cut), and emoji names come back within Mattermost's rule. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry_utf8.h"
#include "mattermost/mm_emoji.h"
#include "mattermost/mm_markup.h"

static const char *
name(void *ctx, char kind, const char *id)
{
    (void) ctx;
    return id[0] == '1' ? NULL
        : kind == '@'   ? "\xd0\xb8\xd0\xbc\xd1\x8f"
                        : "ch";
}

static void
check(const cJSON *msg, int utf8)
{
    char *md = mm_markup_message(msg, name, NULL);

    if (md == NULL) {
        abort();
    }
    if (utf8 && !ferry_utf8_valid((const unsigned char *) md, strlen(md))) {
        abort();
    }
    free(md);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *msg = cJSON_ParseWithLength((const char *) data, size);
    char  *text, out[80];
    int    utf8 = ferry_utf8_valid(data, size), rc;
    size_t i;

    if (msg) {
        check(msg, utf8);
        cJSON_Delete(msg);
    }

    text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';

    msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "text", text);
    check(msg, utf8 && strlen(text) == size);
    cJSON_Delete(msg);

    rc = mm_emoji_name(text, out, sizeof(out));
    if (rc >= 0) {
        for (i = 0; out[i]; i++) {
            if (!strchr("abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-",
                    out[i]))
            {
                abort();
            }
        }
        if (i == 0 || i > 64) {
            abort();
        }
    }
    free(text);

    return 0;
}

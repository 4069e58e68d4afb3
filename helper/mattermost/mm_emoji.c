/*
 * Slack's emoji names into Mattermost's.
 *
 * Sources: Slack writes a reaction with a skin tone as "name::skin-tone-N"
 * (N 2-6; two of them for two-person emoji) and names its emoji after
 * iamcal's emoji-data (npm emoji-datasource), https://api.slack.com/
 * reference/surfaces/formatting#emoji. Mattermost's system emoji are the
 * SystemEmojis map of server/public/model/emoji_data.go (mattermost/
 * mattermost 77cc356d46781a5634652093110ebc3263009c97), built by its
 * make_emojis.mjs from emoji-datasource as well, so Slack's names are
 * mostly Mattermost's; mm_emoji_data.h (t/tools/gen_mm_emoji.pl) holds
 * them. A custom emoji's or reaction's name must match
 * ^[a-zA-Z0-9+_-]+$ and hold at most 64 bytes (model/emoji.go
 * IsValidEmojiName, model/reaction.go IsValid).
 *
 * Skin tones are dropped rather than mapped to Mattermost's
 * "+1_light_skin_tone" names: the export keeps one reaction per person and
 * emoji, as Slack counts them.
 */
#include "mm_emoji.h"

#include <string.h>

#include "mm_emoji_data.h"

#define MM_EMOJI_NAME_MAX 64
#define MM_EMOJI_TONE     "::skin-tone-"

#define MM_EMOJI_NNAMES (sizeof(mm_emoji_names) / sizeof(mm_emoji_names[0]))

_Static_assert(
    MM_EMOJI_NNAMES == sizeof(mm_emoji_primary) / sizeof(mm_emoji_primary[0]),
    "one primary per name");

static int
mm_emoji_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '+';
}

/* The length of the name without its "::skin-tone-N" suffixes; 0 when
 * something else follows a "::". */
static size_t
mm_emoji_base_len(const char *s)
{
    const char *p = strstr(s, "::"), *t;
    size_t      k = sizeof(MM_EMOJI_TONE) - 1;

    if (p == NULL) {
        return strlen(s);
    }

    for (t = p; *t; t += k + 1) {
        if (strncmp(t, MM_EMOJI_TONE, k) != 0 || t[k] < '2' || t[k] > '6') {
            return 0;
        }
    }

    return (size_t) (p - s);
}

/* The index of the name (n bytes at s) in mm_emoji_names, or -1. */
static long
mm_emoji_find(const char *s, size_t n)
{
    size_t lo = 0, hi = MM_EMOJI_NNAMES, mid;
    int    c;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = strncmp(s, mm_emoji_names[mid], n);
        if (c == 0 && mm_emoji_names[mid][n] != '\0') {
            c = -1;
        }
        if (c == 0) {
            return (long) mid;
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }

    return -1;
}

int
mm_emoji_name(const char *slack, char *out, size_t len)
{
    const char *name;
    size_t      n, i;
    long        k;

    if (out == NULL || len == 0) {
        return -1;
    }
    out[0] = '\0';

    if (slack == NULL) {
        return -1;
    }

    n = mm_emoji_base_len(slack);
    if (n == 0 || n > MM_EMOJI_NAME_MAX) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (!mm_emoji_char_ok((unsigned char) slack[i])) {
            return -1;
        }
    }

    k = mm_emoji_find(slack, n);
    if (k >= 0) {
        name = mm_emoji_names[mm_emoji_primary[k]];
        n = strlen(name);
    } else {
        name = slack;
    }

    if (n >= len) {
        return -1;
    }

    memcpy(out, name, n);
    out[n] = '\0';

    return k >= 0;
}

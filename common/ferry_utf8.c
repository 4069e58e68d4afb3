/*
 * UTF-8 validation after RFC 3629's table of well-formed byte sequences.
 */
#include "ferry_utf8.h"

#include <stdint.h>
#include <string.h>

size_t
ferry_utf8_char_len(const unsigned char *s, size_t n)
{
    unsigned c, lo = 0x80, hi = 0xbf;
    size_t   need, k;

    if (n == 0) {
        return 0;
    }

    c = s[0];

    if (c < 0x80) {
        return 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
    } else {
        return 0;
    }

    /* the second byte's range rules out overlongs, surrogates and code
     * points above U+10FFFF */
    switch (c) {
    case 0xe0:
        lo = 0xa0;
        break;
    case 0xed:
        hi = 0x9f;
        break;
    case 0xf0:
        lo = 0x90;
        break;
    case 0xf4:
        hi = 0x8f;
        break;
    default:
        break;
    }

    if (need >= n) {
        return 0;
    }

    if (s[1] < lo || s[1] > hi) {
        return 0;
    }

    for (k = 2; k <= need; k++) {
        if ((s[k] & 0xc0) != 0x80) {
            return 0;
        }
    }

    return need + 1;
}

int
ferry_utf8_valid(const unsigned char *s, size_t n)
{
    size_t   i = 0, k;
    uint64_t w;

    while (i < n) {
        /* ASCII eight bytes at a time: most text is */
        if (i + 8 <= n) {
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ULL) == 0) {
                i += 8;
                continue;
            }
        }

        if (s[i] < 0x80) {
            i++;
            continue;
        }

        k = ferry_utf8_char_len(s + i, n - i);
        if (k == 0) {
            return 0;
        }

        i += k;
    }

    return 1;
}

size_t
ferry_utf8_prefix(const char *s, size_t max, size_t maxbytes)
{
    size_t n = 0, chars = 0, len;

    while (s && s[n] && chars < max) {
        len = 1;
        while (len < 4 && ((unsigned char) s[n + len] & 0xc0) == 0x80) {
            len++;
        }
        if (n + len > maxbytes) {
            break;
        }
        n += len;
        chars++;
    }

    return n;
}

char *
ferry_utf8_cut(const char *s, size_t max, char *out, size_t outlen)
{
    size_t n;

    if (outlen == 0) {
        return out;
    }

    n = ferry_utf8_prefix(s, max, outlen - 1);
    if (n) {
        memcpy(out, s, n);
    }
    out[n] = '\0';

    return out;
}

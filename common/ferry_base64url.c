/*
 * base64url without padding (RFC 4648 section 5).
 */
#include "ferry_base64url.h"

#include <stdint.h>

static const char ferry_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
ferry_b64url_encode(char *dst, const unsigned char *src, size_t n)
{
    char    *p = dst;
    uint32_t v;

    while (n >= 3) {
        v = (uint32_t) src[0] << 16 | (uint32_t) src[1] << 8 | src[2];
        *p++ = ferry_b64url_alphabet[v >> 18];
        *p++ = ferry_b64url_alphabet[(v >> 12) & 63];
        *p++ = ferry_b64url_alphabet[(v >> 6) & 63];
        *p++ = ferry_b64url_alphabet[v & 63];
        src += 3;
        n -= 3;
    }

    if (n == 1) {
        *p++ = ferry_b64url_alphabet[src[0] >> 2];
        *p++ = ferry_b64url_alphabet[(src[0] & 3) << 4];

    } else if (n == 2) {
        v = (uint32_t) src[0] << 8 | src[1];
        *p++ = ferry_b64url_alphabet[v >> 10];
        *p++ = ferry_b64url_alphabet[(v >> 4) & 63];
        *p++ = ferry_b64url_alphabet[(v & 15) << 2];
    }

    return (size_t) (p - dst);
}

static int
ferry_b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

long
ferry_b64url_decode(unsigned char *dst, const char *src, size_t n)
{
    unsigned char *p = dst;
    uint32_t       v = 0;
    size_t         i, k = 0;
    int            c;

    if (n % 4 == 1) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        c = ferry_b64url_value((unsigned char) src[i]);
        if (c < 0) {
            return -1;
        }

        v = v << 6 | (uint32_t) c;

        if (++k == 4) {
            *p++ = (unsigned char) (v >> 16);
            *p++ = (unsigned char) (v >> 8);
            *p++ = (unsigned char) v;
            v = 0;
            k = 0;
        }
    }

    if (k == 2) {
        if (v & 15) {
            return -1;
        }
        *p++ = (unsigned char) (v >> 4);

    } else if (k == 3) {
        if (v & 3) {
            return -1;
        }
        *p++ = (unsigned char) (v >> 10);
        *p++ = (unsigned char) (v >> 2);
    }

    return (long) (p - dst);
}

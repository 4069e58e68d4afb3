/*
 * RFC 3986 unreserved characters kept, every other byte %XX (upper case,
 * as SigV4 demands and every server takes).
 */
#include "ferry_uri.h"

size_t
ferry_uri_encode(const char *s, int keep_slash, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t            n = 0;
    unsigned char     c;

    for (; *s; s++) {
        c = (unsigned char) *s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'
            || c == '~' || (keep_slash && c == '/'))
        {
            out[n++] = (char) c;

        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 0xf];
        }
    }

    out[n] = '\0';

    return n;
}

/*
 * Percent-encoding for URL paths and query values (S3's SigV4 canonical
 * form, Mattermost's query parameters).
 */
#ifndef FERRY_URI_H
#define FERRY_URI_H

#include <stddef.h>

/* s percent-encoded into out (3 * strlen(s) + 1 bytes); '/' kept when
 * keep_slash. Returns the length written. */
size_t ferry_uri_encode(const char *s, int keep_slash, char *out);

#endif

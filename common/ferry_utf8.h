/*
 * UTF-8 validation, the one copy used by the module (paths, queries, file
 * names) and ferryd (JSON strings, CSV fields). Pure C.
 */
#ifndef FERRY_UTF8_H
#define FERRY_UTF8_H

#include <stddef.h>

/* 1 when the n bytes at s are well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF), else 0. */
int ferry_utf8_valid(const unsigned char *s, size_t n);

/* The length (1-4) of the well-formed character that starts at s, or 0 when
 * the bytes there (at most n) do not start one. */
size_t ferry_utf8_char_len(const unsigned char *s, size_t n);

/* The bytes of at most max characters of s (and at most maxbytes bytes),
 * cut at a character's start. s may be NULL (0). */
size_t ferry_utf8_prefix(const char *s, size_t max, size_t maxbytes);

/* At most max characters of the string s, cut at a character's start, into
 * out (outlen bytes, always NUL-terminated; fewer characters when out is
 * shorter). s may be NULL. Returns out. */
char *ferry_utf8_cut(const char *s, size_t max, char *out, size_t outlen);

#endif

/*
 * Streaming multipart/form-data parser. A part's bytes are handed over as
 * they arrive; only a possible delimiter (at most 73 bytes) is held back
 * between chunks, so memory stays flat whatever the part size.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif

#include "ferry_multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
    MP_DATA = 0,    /* a part's bytes, or the preamble */
    MP_AFTER_DELIM, /* the rest of a boundary line */
    MP_HEADERS,     /* a part's header lines */
    MP_END,         /* after the closing boundary */
    MP_FAILED
};

static ferry_mp_rc_t
mp_fail(ferry_mp_t *mp, const char *msg)
{
    snprintf(mp->err, sizeof(mp->err), "%s", msg);
    mp->state = MP_FAILED;
    return FERRY_MP_ERROR;
}

static int
mp_emit(ferry_mp_t *mp, const unsigned char *p, size_t n)
{
    if (n == 0 || !mp->wanted) {
        return 0;
    }

    return mp->cb->on_data(mp->data, p, n) < 0 ? -1 : 0;
}

int
ferry_mp_boundary(const char *ctype, size_t len, char *out)
{
    static const char type[] = "multipart/form-data";
    const char       *p, *end, *v;
    size_t            n, i;

    if (len < sizeof(type) - 1 || strncasecmp(ctype, type, sizeof(type) - 1)) {
        return -1;
    }

    p = ctype + sizeof(type) - 1;
    end = ctype + len;

    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t')) {
            p++;
        }

        if ((size_t) (end - p) > 9 && strncasecmp(p, "boundary=", 9) == 0) {
            v = p + 9;

            if (v < end && *v == '"') {
                v++;
                for (p = v; p < end && *p != '"'; p++) { /* void */
                }
                if (p == end) {
                    return -1;
                }
                n = (size_t) (p - v);

            } else {
                for (p = v; p < end && *p != ';' && *p != ' ' && *p != '\t';
                     p++) {
                    /* void */
                }
                n = (size_t) (p - v);
            }

            if (n == 0 || n > FERRY_MP_BOUNDARY_MAX || v[n - 1] == ' ') {
                return -1;
            }

            for (i = 0; i < n; i++) {
                if (!isalnum((unsigned char) v[i])
                    && strchr("'()+_,-./:=? ", v[i]) == NULL) {
                    return -1;
                }
            }

            memcpy(out, v, n);
            out[n] = '\0';

            return (int) n;
        }

        while (p < end && *p != ';') {
            if (*p == '"') {
                for (p++; p < end && *p != '"'; p++) { /* void */
                }
            }
            if (p < end) {
                p++;
            }
        }
    }

    return -1;
}

void
ferry_mp_init(ferry_mp_t *mp, const char *boundary, size_t blen,
    const ferry_mp_callbacks_t *cb, void *data)
{
    memset(mp, 0, sizeof(*mp));

    mp->cb = cb;
    mp->data = data;

    if (blen > FERRY_MP_BOUNDARY_MAX) {
        blen = FERRY_MP_BOUNDARY_MAX;
    }

    memcpy(mp->delim, "\n--", 3);
    memcpy(mp->delim + 3, boundary, blen);
    mp->dlen = 3 + blen;

    /* the body may open with the boundary: act as if a newline came first */
    mp->state = MP_DATA;
    mp->match = 1;
}

static ferry_mp_rc_t
mp_delimiter(ferry_mp_t *mp)
{
    if (mp->wanted && mp->cb->on_part_end(mp->data) < 0) {
        return FERRY_MP_STOPPED;
    }

    mp->wanted = 0;
    mp->match = 0;
    mp->cr = 0;
    mp->dashes = 0;
    mp->state = MP_AFTER_DELIM;

    return FERRY_MP_OK;
}

/* Part bytes up to the next delimiter; *used is what was consumed. */
static ferry_mp_rc_t
mp_data(ferry_mp_t *mp, const unsigned char *p, size_t n, size_t *used)
{
    size_t               i, k, cmp, end;
    int                  cr;
    const unsigned char *q;

    if (mp->match) {
        /* a delimiter began in an earlier chunk */
        cmp = mp->dlen - mp->match < n ? mp->dlen - mp->match : n;

        if (memcmp(p, mp->delim + mp->match, cmp) == 0) {
            if (mp->match + cmp < mp->dlen) {
                mp->match += cmp;
                *used = n;
                return FERRY_MP_OK;
            }

            *used = cmp;
            return mp_delimiter(mp);
        }

        /* it was not one: the bytes held back are data */

        if (mp->cr && mp_emit(mp, (const unsigned char *) "\r", 1) < 0) {
            return FERRY_MP_STOPPED;
        }

        if (mp_emit(mp, mp->delim, mp->match) < 0) {
            return FERRY_MP_STOPPED;
        }

        mp->cr = 0;
        mp->match = 0;
    }

    if (mp->cr) {
        cmp = mp->dlen < n ? mp->dlen : n;

        if (memcmp(p, mp->delim, cmp) != 0) {
            if (mp_emit(mp, (const unsigned char *) "\r", 1) < 0) {
                return FERRY_MP_STOPPED;
            }
            mp->cr = 0;
        }
    }

    /* the first whole delimiter, else one begun by the chunk's last bytes:
     * memmem skips ahead, where a memchr and a memcmp at every newline (a
     * CSV has one every few dozen bytes) cost as much as the kernel's copy
     * of the upload */
    q = memmem(p, n, mp->delim, mp->dlen);

    if (q == NULL) {
        i = n >= mp->dlen ? n - mp->dlen + 1 : 0;

        while ((q = memchr(p + i, '\n', n - i)) != NULL
            && memcmp(q, mp->delim, n - (size_t) (q - p)) != 0)
        {
            i = (size_t) (q - p) + 1;
        }
    }

    if (q == NULL) {
        end = n;

        if (end > 0 && p[end - 1] == '\r') {
            end--;
            mp->cr = 1;
        }

        *used = n;
        return mp_emit(mp, p, end) < 0 ? FERRY_MP_STOPPED : FERRY_MP_OK;
    }

    k = (size_t) (q - p);
    cmp = mp->dlen < n - k ? mp->dlen : n - k;

    if (k > 0 && p[k - 1] == '\r') {
        end = k - 1;
        cr = 1;

    } else {
        end = k;
        cr = mp->cr;
    }

    if (mp_emit(mp, p, end) < 0) {
        return FERRY_MP_STOPPED;
    }

    if (cmp < mp->dlen) {
        mp->match = cmp;
        mp->cr = cr;
        *used = n;
        return FERRY_MP_OK;
    }

    *used = k + mp->dlen;
    return mp_delimiter(mp);
}


/* A Content-Disposition parameter value: a token or a quoted string. 0, 1
 * when it was longer than FERRY_MP_VALUE_MAX and out holds its start, -1
 * when it is malformed. */
static int
mp_param(const char **pp, const char *end, char *out)
{
    const char *p = *pp;
    size_t      n = 0;
    int         cut = 0;

    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\')) {
                p++;
            }
            if (n == FERRY_MP_VALUE_MAX) {
                cut = 1;
                continue;
            }
            out[n++] = *p;
        }

        if (p == end) {
            return -1;
        }
        p++;

    } else {
        for (/* void */; p < end && *p != ';'; p++) {
            if (n == FERRY_MP_VALUE_MAX) {
                cut = 1;
                continue;
            }
            out[n++] = *p;
        }

        while (n && (out[n - 1] == ' ' || out[n - 1] == '\t')) {
            n--;
        }
    }

    out[n] = '\0';
    *pp = p;

    return cut;
}

/* A name cut at FERRY_MP_VALUE_MAX bytes may end inside a UTF-8 sequence:
 * that partial character goes. */
static void
mp_cut_utf8(char *s)
{
    size_t n = strlen(s), j = n, need;
    int    k = 0;

    while (j > 0 && k < 4 && ((unsigned char) s[j - 1] & 0xc0) == 0x80) {
        j--;
        k++;
    }

    if (j == 0) {
        return;
    }

    j--;
    need = ((unsigned char) s[j] & 0xe0) == 0xc0 ? 2
        : ((unsigned char) s[j] & 0xf0) == 0xe0  ? 3
        : ((unsigned char) s[j] & 0xf8) == 0xf0  ? 4
                                                 : 1;

    if (n - j < need) {
        s[j] = '\0';
    }
}

/* filename*=UTF-8''percent-encoded (RFC 5987), which wins over filename. */
static int
mp_ext_value(const char *v, char *out)
{
    const char *p;
    size_t      n = 0;
    unsigned    c;

    if (strncasecmp(v, "utf-8'", 6) != 0) {
        return -1;
    }

    p = strchr(v + 6, '\'');
    if (p == NULL) {
        return -1;
    }

    for (p++; *p; p++) {
        if (*p == '%' && isxdigit((unsigned char) p[1])
            && isxdigit((unsigned char) p[2]))
        {
            sscanf(p + 1, "%2x", &c);
            out[n++] = (char) c;
            p += 2;

        } else {
            out[n++] = *p;
        }
    }

    out[n] = '\0';

    return 0;
}

static ferry_mp_rc_t
mp_disposition(ferry_mp_t *mp, const char *p, const char *end)
{
    const char *k;
    size_t      klen;
    char        v[FERRY_MP_VALUE_MAX + 1];
    int         cut;

    while (p < end && *p != ';') {
        p++;
    }

    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t')) {
            p++;
        }

        k = p;
        while (p < end && *p != '=' && *p != ';' && *p != ' ') {
            p++;
        }
        klen = (size_t) (p - k);

        while (p < end && *p == ' ') {
            p++;
        }

        if (p == end || *p != '=') {
            continue;
        }

        for (p++; p < end && *p == ' '; p++) { /* void */
        }

        cut = mp_param(&p, end, v);
        if (cut < 0) {
            return mp_fail(mp, "malformed Content-Disposition of a part");
        }

        if (klen == 4 && strncasecmp(k, "name", 4) == 0) {
            if (cut) {
                return mp_fail(mp, "the name of a part is too long");
            }
            strcpy(mp->part.name, v);

        } else if (klen == 8 && strncasecmp(k, "filename", 8) == 0) {
            /* a long file name is kept shortened: it is only a label */
            if (!mp->part.has_filename) {
                strcpy(mp->part.filename, v);
                mp_cut_utf8(mp->part.filename);
                mp->part.filename_cut = cut;
            }
            mp->part.has_filename = 1;

        } else if (klen == 9 && strncasecmp(k, "filename*", 9) == 0) {
            if (mp_ext_value(v, mp->part.filename) == 0) {
                mp_cut_utf8(mp->part.filename);
                mp->part.has_filename = 1;
                mp->part.filename_cut = cut;
            }
        }

        while (p < end && *p != ';') {
            p++;
        }
    }

    return FERRY_MP_OK;
}

static ferry_mp_rc_t
mp_header_line(ferry_mp_t *mp)
{
    const char *p, *end, *colon, *name_end;
    size_t      n;

    p = mp->line;
    end = mp->line + mp->llen;

    colon = memchr(p, ':', mp->llen);
    if (colon == NULL) {
        return mp_fail(mp, "malformed header line in a part");
    }

    for (name_end = colon; name_end > p && name_end[-1] == ' '; name_end--) {
        /* void */
    }

    n = (size_t) (name_end - p);

    for (p = colon + 1; p < end && (*p == ' ' || *p == '\t'); p++) { /* void */
    }
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    if (n == 19 && strncasecmp(mp->line, "Content-Disposition", 19) == 0) {
        return mp_disposition(mp, p, end);
    }

    if (n == 12 && strncasecmp(mp->line, "Content-Type", 12) == 0) {
        if ((size_t) (end - p) > FERRY_MP_VALUE_MAX) {
            return mp_fail(mp, "Content-Type of a part too long");
        }
        memcpy(mp->part.content_type, p, (size_t) (end - p));
        mp->part.content_type[end - p] = '\0';
    }

    return FERRY_MP_OK;
}

ferry_mp_rc_t
ferry_mp_feed(ferry_mp_t *mp, const unsigned char *p, size_t n)
{
    size_t        i, used;
    int           want;
    unsigned char c;
    ferry_mp_rc_t rc;

    i = 0;

    while (i < n) {

        switch (mp->state) {

        case MP_DATA:
            rc = mp_data(mp, p + i, n - i, &used);
            if (rc != FERRY_MP_OK) {
                return rc;
            }
            i += used;
            break;

        case MP_AFTER_DELIM:
            c = p[i++];

            if (mp->dashes == 1) {
                if (c != '-') {
                    return mp_fail(mp, "malformed boundary line");
                }
                mp->state = MP_END;

            } else if (c == '-' && mp->dashes == 0) {
                mp->dashes = 1;

            } else if (c == ' ' || c == '\t' || c == '\r') {
                mp->dashes = 2;

            } else if (c == '\n') {
                memset(&mp->part, 0, sizeof(mp->part));
                mp->llen = 0;
                mp->hlen = 0;
                mp->state = MP_HEADERS;

            } else {
                return mp_fail(mp, "malformed boundary line");
            }

            break;

        case MP_HEADERS:
            c = p[i++];

            if (++mp->hlen > FERRY_MP_HEADERS_MAX) {
                return mp_fail(mp, "headers of a part too long");
            }

            if (c != '\n') {
                if (mp->llen == FERRY_MP_LINE_MAX) {
                    return mp_fail(mp, "header line of a part too long");
                }
                mp->line[mp->llen++] = (char) c;
                break;
            }

            if (mp->llen && mp->line[mp->llen - 1] == '\r') {
                mp->llen--;
            }

            if (mp->llen) {
                rc = mp_header_line(mp);
                if (rc != FERRY_MP_OK) {
                    return rc;
                }
                mp->llen = 0;
                break;
            }

            want = mp->cb->on_part(mp->data, &mp->part);
            if (want < 0) {
                return FERRY_MP_STOPPED;
            }

            mp->wanted = want > 0;
            mp->match = 0;
            mp->cr = 0;
            mp->state = MP_DATA;
            break;

        case MP_END:
            return FERRY_MP_OK;

        default:
            return FERRY_MP_ERROR;
        }
    }

    return FERRY_MP_OK;
}

ferry_mp_rc_t
ferry_mp_finish(ferry_mp_t *mp)
{
    if (mp->state == MP_END) {
        return FERRY_MP_OK;
    }

    if (mp->state != MP_FAILED) {
        return mp_fail(mp, "multipart body ends before its closing boundary");
    }

    return FERRY_MP_ERROR;
}

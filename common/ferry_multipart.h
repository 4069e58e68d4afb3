/*
 * A streaming multipart/form-data parser (RFC 7578, RFC 2046 section 5.1):
 * fed the body in chunks of any size as it arrives, it hands over each
 * part's bytes without buffering them. Used by the module's ferry_upload.
 */
#ifndef FERRY_MULTIPART_H
#define FERRY_MULTIPART_H

#include <stddef.h>

#define FERRY_MP_BOUNDARY_MAX 70    /* RFC 2046 */
#define FERRY_MP_LINE_MAX     4096  /* one header line of a part */
#define FERRY_MP_HEADERS_MAX  16384 /* all header lines of a part */
#define FERRY_MP_VALUE_MAX    255

/* what a feed may hand over beyond the bytes it is given: a delimiter's
 * start held back from the chunk before ("\n--" and the boundary, less its
 * last byte) and a CR before it */
#define FERRY_MP_HELD_MAX (3 + FERRY_MP_BOUNDARY_MAX)

typedef enum {
    FERRY_MP_OK = 0,
    FERRY_MP_ERROR = -1,  /* malformed body: see mp->err */
    FERRY_MP_STOPPED = -2 /* a callback returned < 0 */
} ferry_mp_rc_t;

typedef struct {
    char name[FERRY_MP_VALUE_MAX + 1];
    char filename[FERRY_MP_VALUE_MAX + 1];
    char content_type[FERRY_MP_VALUE_MAX + 1];
    int  has_filename;
    int  filename_cut; /* longer than FERRY_MP_VALUE_MAX: its start */
} ferry_mp_part_t;

typedef struct {
    /* a part's headers are read: return 1 to receive its bytes, 0 to skip
     * them, < 0 to stop */
    int (*on_part)(void *data, const ferry_mp_part_t *part);
    /* bytes of a wanted part, in order; < 0 stops */
    int (*on_data)(void *data, const unsigned char *p, size_t n);
    /* a wanted part ended; < 0 stops */
    int (*on_part_end)(void *data);
} ferry_mp_callbacks_t;

typedef struct {
    const ferry_mp_callbacks_t *cb;
    void                       *data;

    int state;
    int wanted;
    /* "\n--" boundary: the delimiter, less the CR that may precede it */
    unsigned char delim[3 + FERRY_MP_BOUNDARY_MAX];
    size_t        dlen;
    size_t        match; /* delimiter bytes held back */
    int           cr;    /* a CR held back before a possible delimiter */
    int           dashes;

    ferry_mp_part_t part;
    char            line[FERRY_MP_LINE_MAX];
    size_t          llen;
    size_t          hlen;

    char err[128];
} ferry_mp_t;

/*
 * Finds the boundary in a Content-Type value ("multipart/form-data;
 * boundary=..." with the boundary quoted or not). Returns its length and
 * copies it to out (FERRY_MP_BOUNDARY_MAX + 1 bytes), or -1 when the type
 * is not multipart/form-data or the boundary is missing or invalid.
 */
int ferry_mp_boundary(const char *ctype, size_t len, char *out);

void ferry_mp_init(ferry_mp_t *mp, const char *boundary, size_t blen,
    const ferry_mp_callbacks_t *cb, void *data);

ferry_mp_rc_t ferry_mp_feed(ferry_mp_t *mp, const unsigned char *p, size_t n);

/* The body ended: FERRY_MP_ERROR unless the closing boundary was seen. */
ferry_mp_rc_t ferry_mp_finish(ferry_mp_t *mp);

#endif

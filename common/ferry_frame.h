/*
 * The Ferry protocol (module <-> ferryd): length-prefixed frames and the JSON
 * head of a response. Pure C, compiled into both the nginx module and ferryd.
 */
#ifndef FERRY_FRAME_H
#define FERRY_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FERRY_PROTO_VERSION     1
#define FERRY_FRAME_HEADER_LEN  4
#define FERRY_FRAME_DEFAULT_MAX (1024 * 1024)

/*
 * A response header from ferryd that the module acts on and does not pass
 * on: FERRY_FILE_TAKEN says ferryd now owns the uploaded spool file, so the
 * module must not remove it.
 */
#define FERRY_HDR_FILE   "Ferry-File"
#define FERRY_FILE_TAKEN "taken"

typedef enum {
    FERRY_FRAME_AGAIN = 0, /* more bytes are needed */
    FERRY_FRAME_OK,        /* a whole frame is in the buffer */
    FERRY_FRAME_TOO_BIG    /* the announced length is over the limit */
} ferry_frame_rc_t;

void     ferry_frame_put_len(unsigned char *p, uint32_t len);
uint32_t ferry_frame_get_len(const unsigned char *p);

/*
 * Looks at the n bytes at buf. When a whole frame is there, returns
 * FERRY_FRAME_OK and sets *payload_len (the frame occupies
 * FERRY_FRAME_HEADER_LEN + *payload_len bytes). *payload_len is also set for
 * FERRY_FRAME_TOO_BIG, and for FERRY_FRAME_AGAIN once the header is complete.
 */
ferry_frame_rc_t ferry_frame_check(
    const unsigned char *buf, size_t n, size_t max, size_t *payload_len);

/* The JSON head of a response frame:
 * {"v":1,"status":200,"headers":{"Name":"value",...},"length":N}. */
typedef struct {
    int    status;
    size_t length;
    size_t nheaders;
    struct {
        char *name;
        char *value;
    } * headers;
} ferry_resp_head_t;

/* Returns 0 on success; -1 with a message in err otherwise. Strings in h are
 * malloc'ed; release them with ferry_resp_head_free(). */
int  ferry_resp_head_parse(const char *json, size_t len, ferry_resp_head_t *h,
     char *err, size_t errlen);
void ferry_resp_head_free(ferry_resp_head_t *h);

#endif

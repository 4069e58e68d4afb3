/*
 * libFuzzer: Slack request verification with any headers and body. The
 * input is "<timestamp>\n<signature>\n<body>"; without a newline the whole
 * input is the timestamp and the signature header is missing.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ferry_slack_sig.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char secret[] = "8f742231b10e8888abcd99yyyzzz85a5";
    const char                *ts, *sig, *body, *end, *nl;
    size_t                     tslen, siglen;

    ts = (const char *) data;
    end = ts + size;

    nl = memchr(ts, '\n', size);
    tslen = nl ? (size_t) (nl - ts) : size;

    sig = NULL;
    siglen = 0;
    body = end;

    if (nl) {
        sig = nl + 1;
        nl = memchr(sig, '\n', (size_t) (end - sig));
        siglen = nl ? (size_t) (nl - sig) : (size_t) (end - sig);
        body = nl ? nl + 1 : end;
    }

    /* the clock of Slack's worked example, so that its seed passes */
    (void) ferry_slack_verify(secret, sizeof(secret) - 1, ts, tslen, sig,
        siglen, body, (size_t) (end - body), 1531420618);

    return 0;
}

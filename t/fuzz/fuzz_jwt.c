/* libFuzzer: bearer token verification with any token text. */
#include <stddef.h>
#include <stdint.h>

#include "ferry_jwt.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char key[] = "fuzzing-key-0123456789-0123456789";
    ferry_jwt_check_t          chk = { 1700000000, 30, "ferry", "api" };
    ferry_jwt_claims_t         claims;

    (void) ferry_jwt_verify(
        (const char *) data, size, key, sizeof(key) - 1, &chk, &claims);

    return 0;
}

/* Fuzz target: the wire envelope decoder (untrusted bytes from any peer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    swarm__envelope env;
    swarm__err e;
    /* The header alone, as a stream reader sees it first. */
    if (swarm__envelope_decode_header(&env, data, size, &e) == 0) {
        if (env.body_len > SWARM_TRANSPORT_MAX_MESSAGE)
            abort();
    }
    if (swarm__envelope_decode(&env, data, size, &e) != 0)
        return 0;
    /* A frame that decodes must say exactly what it holds and re-encode to the same bytes. */
    if (size != SWARM__ENVELOPE_HEADER_SIZE + (size_t)env.body_len)
        abort();
    uint8_t *again = NULL;
    size_t len = 0;
    if (swarm__envelope_encode(&again, &len, env.kind, env.type, env.request_id, env.body, env.body_len, &e) != 0)
        abort();
    if (len != size || memcmp(again, data, size) != 0)
        abort();
    free(again);
    return 0;
}

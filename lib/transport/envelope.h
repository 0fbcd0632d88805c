/*
 * The wire envelope of node-to-node messages (version 1), shared by the
 * transports. Little-endian, 18-byte header, then the body:
 *
 *   off len field
 *   0   1   magic+version: SWARM__ENVELOPE_MAGIC (high nibble 0xB, version 1)
 *   1   1   kind: exactly one of SWARM__ENVELOPE_{ONEWAY,REQUEST,RESPONSE,HELLO}
 *   2   4   type (application message type; 0 for HELLO)
 *   6   8   request id: non-zero for REQUEST/RESPONSE, zero otherwise
 *   14  4   body length, at most SWARM_TRANSPORT_MAX_MESSAGE
 *   18  n   body
 *
 * HELLO is the transport's own first frame on every connection: a link is
 * reported up only after the peer's HELLO arrived (so after the TLS handshake
 * succeeded both ways). The decoder trusts nothing: it is fuzzed.
 */
#ifndef SWARM_TRANSPORT_ENVELOPE_H
#define SWARM_TRANSPORT_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "swarm/sys/transport.h"

#define SWARM__ENVELOPE_MAGIC 0xB1u
#define SWARM__ENVELOPE_HEADER_SIZE 18u

enum {
    SWARM__ENVELOPE_ONEWAY = 0x01,
    SWARM__ENVELOPE_REQUEST = 0x02,
    SWARM__ENVELOPE_RESPONSE = 0x04,
    SWARM__ENVELOPE_HELLO = 0x08
};

typedef struct swarm__envelope {
    uint8_t kind;
    uint32_t type;
    uint64_t request_id;
    uint32_t body_len;
    const uint8_t *body; /* set by swarm__envelope_decode; borrowed from its input */
} swarm__envelope;

/* Checks env and writes its header into out. 0 or SWARM_EINVALID (e may be NULL). */
int swarm__envelope_encode_header(uint8_t out[SWARM__ENVELOPE_HEADER_SIZE], const swarm__envelope *env,
                                  swarm__err *e);

/*
 * Encodes a whole frame (header + body) into a fresh buffer of *out_len bytes,
 * to be released with free(). SWARM_EINVALID (bad envelope, body too big) or
 * SWARM_ENOMEM.
 */
int swarm__envelope_encode(uint8_t **out, size_t *out_len, uint8_t kind, uint32_t type, uint64_t request_id,
                           const void *body, size_t body_len, swarm__err *e);

/* Parses and checks a header from the first SWARM__ENVELOPE_HEADER_SIZE bytes of buf (out->body = NULL). */
int swarm__envelope_decode_header(swarm__envelope *out, const void *buf, size_t len, swarm__err *e);

/* Parses a whole frame: a valid header followed by exactly body_len bytes. 0 or SWARM_EINVALID. */
int swarm__envelope_decode(swarm__envelope *out, const void *buf, size_t len, swarm__err *e);

#endif

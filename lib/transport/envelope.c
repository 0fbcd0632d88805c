/* Encoding and strict decoding of the wire envelope (see envelope.h). */
#include "transport/envelope.h"

#include <stdlib.h>
#include <string.h>

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int check(const swarm__envelope *env, swarm__err *e)
{
    switch (env->kind) {
    case SWARM__ENVELOPE_ONEWAY:
        if (env->request_id != 0)
            return swarm__err_set(e, SWARM_EINVALID, "envelope: one-way message with a request id");
        break;
    case SWARM__ENVELOPE_REQUEST:
    case SWARM__ENVELOPE_RESPONSE:
        if (env->request_id == 0)
            return swarm__err_set(e, SWARM_EINVALID, "envelope: request or response without a request id");
        break;
    case SWARM__ENVELOPE_HELLO:
        if (env->request_id != 0 || env->type != 0 || env->body_len != 0)
            return swarm__err_set(e, SWARM_EINVALID, "envelope: malformed hello");
        break;
    default:
        return swarm__err_set(e, SWARM_EINVALID, "envelope: unknown kind 0x%02x", env->kind);
    }
    if (env->body_len > SWARM_TRANSPORT_MAX_MESSAGE)
        return swarm__err_set(e, SWARM_EINVALID, "envelope: body of %u bytes exceeds the limit of %u",
                              (unsigned)env->body_len, (unsigned)SWARM_TRANSPORT_MAX_MESSAGE);
    return 0;
}

int swarm__envelope_encode_header(uint8_t out[SWARM__ENVELOPE_HEADER_SIZE], const swarm__envelope *env,
                                  swarm__err *e)
{
    int rc = check(env, e);
    if (rc != 0)
        return rc;
    out[0] = SWARM__ENVELOPE_MAGIC;
    out[1] = env->kind;
    put32(out + 2, env->type);
    put64(out + 6, env->request_id);
    put32(out + 14, env->body_len);
    return 0;
}

int swarm__envelope_encode(uint8_t **out, size_t *out_len, uint8_t kind, uint32_t type, uint64_t request_id,
                           const void *body, size_t body_len, swarm__err *e)
{
    *out = NULL;
    *out_len = 0;
    if (body_len > SWARM_TRANSPORT_MAX_MESSAGE)
        return swarm__err_set(e, SWARM_EINVALID, "message of %zu bytes exceeds the limit of %u bytes", body_len,
                              (unsigned)SWARM_TRANSPORT_MAX_MESSAGE);
    if (body_len > 0 && body == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "message body is NULL");
    swarm__envelope env = {kind, type, request_id, (uint32_t)body_len, NULL};
    uint8_t header[SWARM__ENVELOPE_HEADER_SIZE];
    int rc = swarm__envelope_encode_header(header, &env, e);
    if (rc != 0)
        return rc;
    uint8_t *buf = malloc(SWARM__ENVELOPE_HEADER_SIZE + body_len);
    if (buf == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    memcpy(buf, header, SWARM__ENVELOPE_HEADER_SIZE);
    if (body_len > 0)
        memcpy(buf + SWARM__ENVELOPE_HEADER_SIZE, body, body_len);
    *out = buf;
    *out_len = SWARM__ENVELOPE_HEADER_SIZE + body_len;
    return 0;
}

int swarm__envelope_decode_header(swarm__envelope *out, const void *buf, size_t len, swarm__err *e)
{
    const uint8_t *p = buf;
    memset(out, 0, sizeof *out);
    if (p == NULL || len < SWARM__ENVELOPE_HEADER_SIZE)
        return swarm__err_set(e, SWARM_EINVALID, "envelope: truncated header (%zu bytes)", p ? len : 0);
    if (p[0] != SWARM__ENVELOPE_MAGIC)
        return swarm__err_set(e, SWARM_EINVALID, "envelope: bad magic or unsupported version 0x%02x", p[0]);
    swarm__envelope env = {p[1], get32(p + 2), get64(p + 6), get32(p + 14), NULL};
    int rc = check(&env, e);
    if (rc != 0)
        return rc;
    *out = env;
    return 0;
}

int swarm__envelope_decode(swarm__envelope *out, const void *buf, size_t len, swarm__err *e)
{
    int rc = swarm__envelope_decode_header(out, buf, len, e);
    if (rc != 0)
        return rc;
    if (len - SWARM__ENVELOPE_HEADER_SIZE != out->body_len) {
        size_t got = len - SWARM__ENVELOPE_HEADER_SIZE;
        unsigned want = (unsigned)out->body_len;
        memset(out, 0, sizeof *out);
        return swarm__err_set(e, SWARM_EINVALID, "envelope: body is %zu bytes, header says %u", got, want);
    }
    out->body = out->body_len ? (const uint8_t *)buf + SWARM__ENVELOPE_HEADER_SIZE : NULL;
    return 0;
}

/* The batch entry format (batch.h): the proposer's writer and the FSM's reader. */
#include "raft/batch.h"

#include <string.h>

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t swarm__raft_batch_start(unsigned char *buf, uint32_t count)
{
    memcpy(buf, SWARM__RAFT_BATCH_MAGIC, 4);
    put_u32(buf + 4, count);
    return SWARM__RAFT_BATCH_HEADER;
}

size_t swarm__raft_batch_put(unsigned char *buf, size_t off, const void *bytes, uint32_t len)
{
    put_u32(buf + off, len);
    if (len > 0)
        memcpy(buf + off + SWARM__RAFT_BATCH_ITEM_HEADER, bytes, len);
    return off + SWARM__RAFT_BATCH_ITEM_HEADER + len;
}

/* How many proposals a batch holds, or 0 if its framing is malformed. */
static size_t batch_count(const unsigned char *p, size_t len)
{
    uint32_t count = get_u32(p + 4);
    if (count == 0 || count > SWARM__RAFT_BATCH_LIMIT)
        return 0;
    size_t off = SWARM__RAFT_BATCH_HEADER;
    for (uint32_t i = 0; i < count; i++) {
        if (len - off < SWARM__RAFT_BATCH_ITEM_HEADER)
            return 0;
        uint32_t l = get_u32(p + off);
        off += SWARM__RAFT_BATCH_ITEM_HEADER;
        if (len - off < l)
            return 0;
        off += l;
    }
    return off == len ? count : 0;
}

void swarm__raft_batch_iter_init(swarm__raft_batch_iter *it, const void *buf, size_t len)
{
    const unsigned char *p = len > 0 ? buf : (const void *)"";
    it->end = p + len;
    it->bare = len < SWARM__RAFT_BATCH_HEADER || memcmp(p, SWARM__RAFT_BATCH_MAGIC, 4) != 0;
    /* A bare action list (or garbage: one proposal that fails to decode). */
    it->count = it->bare ? 1 : batch_count(p, len);
    it->p = it->bare ? p : p + SWARM__RAFT_BATCH_HEADER;
    it->left = it->count;
}

int swarm__raft_batch_next(swarm__raft_batch_iter *it, const unsigned char **bytes, size_t *len)
{
    if (it->left == 0)
        return 0;
    it->left--;
    size_t l = (size_t)(it->end - it->p);
    if (!it->bare) {
        l = get_u32(it->p); /* init checked every length against the entry */
        it->p += SWARM__RAFT_BATCH_ITEM_HEADER;
    }
    *bytes = it->p;
    *len = l;
    it->p += l;
    return 1;
}

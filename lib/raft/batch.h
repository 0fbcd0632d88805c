/*
 * The format of a RAFT_COMMAND entry: a batch of proposals, each an action
 * list as swarm__actions_encode makes it. The proposer writes it
 * (swarm__raft_batch_start/put), the FSM reads it (swarm__raft_batch_iter).
 *
 * An entry holds either
 *  - a batch: the magic "SWB" + version byte 1, u32le count (1..SWARM__RAFT_BATCH_LIMIT),
 *    then count times { u32le length, that many bytes of an action list }; or
 *  - one bare action list (JSON text, starts with '{'): what entries written
 *    before batching hold; read as a batch of one.
 */
#ifndef SWARM_RAFT_BATCH_H
#define SWARM_RAFT_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define SWARM__RAFT_BATCH_MAGIC "SWB\x01"
#define SWARM__RAFT_BATCH_HEADER 8       /* magic + count */
#define SWARM__RAFT_BATCH_ITEM_HEADER 4  /* each proposal's length */
#define SWARM__RAFT_BATCH_LIMIT 65536    /* the most proposals a reader accepts (another build may batch more) */

/*
 * Writing: an entry of count proposals of lengths l1..ln takes
 * SWARM__RAFT_BATCH_HEADER + sum(SWARM__RAFT_BATCH_ITEM_HEADER + li) bytes.
 * start writes the header at buf and returns the offset of the first
 * proposal; put copies one proposal at buf + off and returns the next offset.
 */
size_t swarm__raft_batch_start(unsigned char *buf, uint32_t count);
size_t swarm__raft_batch_put(unsigned char *buf, size_t off, const void *bytes, uint32_t len);

/* Reading: the proposals of one entry, in order. */
typedef struct swarm__raft_batch_iter {
    size_t count; /* proposals in the entry: 1 for a bare action list, 0 for a malformed batch */
    const unsigned char *p, *end;
    size_t left;
    int bare;
} swarm__raft_batch_iter;

/* Checks the whole entry's framing and sets it->count. Garbage that is not a batch reads as one (bare) proposal. */
void swarm__raft_batch_iter_init(swarm__raft_batch_iter *it, const void *buf, size_t len);

/* The next proposal's bytes (borrowed from the entry): 1, or 0 once all count were read. */
int swarm__raft_batch_next(swarm__raft_batch_iter *it, const unsigned char **bytes, size_t *len);

#endif

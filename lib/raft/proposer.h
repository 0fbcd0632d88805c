/*
 * The proposer seam: the only way anything writes the store. A proposal is a
 * list of store actions; it is encoded at once (the caller keeps its actions),
 * ordered, given an index, applied by the store, and its outcome reported to
 * the callback on the loop thread, never inside propose().
 *
 * The local proposer applies on this node alone (a one-node cluster before
 * Raft plugs in); the Raft proposer will replicate the same bytes first.
 */
#ifndef SWARM_RAFT_PROPOSER_H
#define SWARM_RAFT_PROPOSER_H

#include "store/store.h"

#include <event2/event.h>

/* rc 0: applied at index. Else the store's rejection or SWARM_ECLOSED / SWARM_ENOTLEADER. */
typedef void (*swarm__propose_cb)(void *payload, int rc, const swarm__err *err, uint64_t index);

typedef struct swarm__proposer swarm__proposer;
struct swarm__proposer {
    int (*propose)(swarm__proposer *p, const swarm__action *a, size_t n, swarm__propose_cb cb, void *payload,
                   swarm__err *e);
    /* Fails every pending proposal with SWARM_ECLOSED (callbacks run inside close) and frees p. */
    void (*close)(swarm__proposer *p);
};

int swarm__proposer_local_new(swarm__proposer **out, struct event_base *base, swarm__store *store,
                              swarm__err *e);

#endif

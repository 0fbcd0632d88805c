/* raft_fsm on the store: apply = decode + swarm__store_apply; snapshots = whole-store dumps. */
#include "raft/raft.h"

#include <stdlib.h>
#include <string.h>

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    swarm__raft_fsm_state *st = fsm->data;
    swarm__raft_result *res = &st->result;
    /* libraft 0.15 sets last_applied after apply returns, so this is the entry's index. */
    uint64_t index = raft_last_applied(st->raft) + 1;
    swarm__action *acts = NULL;
    size_t n = 0;
    res->err.code = 0;
    res->err.message[0] = '\0';
    int rc = swarm__actions_decode(&acts, &n, buf->base, buf->len, &res->err);
    if (rc != 0) {
        /* Deterministic on every node: consume the index and report the rejection. */
        swarm__err ignored;
        int brc = swarm__store_apply(st->store, index, NULL, 0, &ignored);
        if (brc != 0)
            return RAFT_IOERR;
    } else {
        rc = swarm__store_apply(st->store, index, acts, n, &res->err);
        swarm__actions_free(acts, n);
        /* Backend failures consumed nothing: make libraft retry the entry later. */
        if (rc == SWARM_EIO || rc == SWARM_EBACKEND || rc == SWARM_ENOMEM || rc == SWARM_EBUSY)
            return RAFT_IOERR;
    }
    res->rc = rc;
    res->index = rc == 0 ? index : 0;
    *result = res;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    swarm__raft_fsm_state *st = fsm->data;
    char *dump;
    size_t len;
    swarm__err e;
    if (swarm__store_dump(st->store, &dump, &len, &e) != 0)
        return e.code == SWARM_EBUSY ? RAFT_BUSY : RAFT_IOERR;
    struct raft_buffer *b = raft_malloc(sizeof *b);
    void *base = raft_malloc(len ? len : 1);
    if (b == NULL || base == NULL) {
        raft_free(b);
        raft_free(base);
        free(dump);
        return RAFT_NOMEM;
    }
    memcpy(base, dump, len);
    free(dump);
    b->base = base;
    b->len = len;
    *bufs = b;
    *n_bufs = 1;
    return 0;
}

static uint64_t dump_index(const struct raft_buffer *buf)
{
    const unsigned char *p = buf->base;
    uint64_t v = 0;
    if (buf->len < 16)
        return 0;
    for (int i = 15; i >= 8; i--)
        v = v << 8 | p[i];
    return v;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    swarm__raft_fsm_state *st = fsm->data;
    swarm__err e;
    uint64_t index = dump_index(buf);
    /* A durable store that already applied this far holds the snapshot's effects (apply is deterministic). */
    if (index == 0 || index > swarm__store_index(st->store)) {
        if (swarm__store_restore(st->store, buf->base, buf->len, 0, &e) != 0)
            return e.code == SWARM_EINVALID ? RAFT_MALFORMED : RAFT_IOERR;
    }
    st->restores++;
    raft_free(buf->base); /* ours on success */
    return 0;
}

void swarm__raft_fsm_init(struct raft_fsm *fsm, swarm__raft_fsm_state *st, swarm__store *store, struct raft *r)
{
    memset(st, 0, sizeof *st);
    st->store = store;
    st->raft = r;
    memset(fsm, 0, sizeof *fsm);
    fsm->version = 1;
    fsm->data = st;
    fsm->apply = fsm_apply;
    fsm->snapshot = fsm_snapshot;
    fsm->restore = fsm_restore;
}

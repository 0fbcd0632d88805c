/* raft_fsm on the store: apply = read the batch, decode, swarm__store_apply_groups_take; snapshots = store dumps. */
#include "raft/raft.h"

#include <stdlib.h>
#include <string.h>

/* Makes room for n outcomes. */
static int reserve(swarm__raft_fsm_state *st, size_t n)
{
    if (n <= st->cap)
        return 0;
    size_t cap = st->cap ? st->cap : 16;
    while (cap < n)
        cap *= 2;
    swarm__store_group *grown = realloc(st->groups, cap * sizeof *grown);
    if (grown == NULL)
        return RAFT_NOMEM;
    st->groups = grown;
    st->cap = cap;
    return 0;
}

static void free_actions(swarm__store_group *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        swarm__actions_free((swarm__action *)g[i].a, g[i].n);
        g[i].a = NULL;
        g[i].n = 0;
    }
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    swarm__raft_fsm_state *st = fsm->data;
    /* libraft 0.15 sets last_applied after apply returns, so this is the entry's index. */
    uint64_t index = raft_last_applied(st->raft) + 1;
    swarm__raft_batch_iter it;
    swarm__raft_batch_iter_init(&it, buf->base, buf->len);
    if (reserve(st, it.count) != 0)
        return RAFT_NOMEM;
    swarm__store_group *g = st->groups;
    const unsigned char *bytes;
    size_t len;
    /*
     * A proposal that does not decode keeps its rejection in rc/err, which
     * the store leaves alone: it applies as nothing, on every replica alike.
     */
    for (size_t i = 0; swarm__raft_batch_next(&it, &bytes, &len); i++) {
        swarm__action *acts = NULL;
        size_t n = 0;
        g[i].rc = swarm__actions_decode(&acts, &n, bytes, len, &g[i].err);
        g[i].a = acts;
        g[i].n = g[i].rc == 0 ? n : 0;
        if (g[i].rc == SWARM_ENOMEM) {
            free_actions(g, i + 1);
            return RAFT_NOMEM;
        }
    }
    swarm__err e;
    /* count 0 (a malformed container) still consumes the index: one write of nothing. */
    int rc = swarm__store_apply_groups_take(st->store, index, g, it.count, &e);
    free_actions(g, it.count);
    /* Backend failures consumed nothing: make libraft retry the entry later. */
    if (rc != 0)
        return RAFT_IOERR;
    st->outcomes.index = index;
    st->outcomes.g = g;
    st->outcomes.n = it.count;
    *result = &st->outcomes;
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

void swarm__raft_fsm_close(swarm__raft_fsm_state *st)
{
    if (st == NULL)
        return;
    free(st->groups);
    st->groups = NULL;
    st->cap = 0;
    st->outcomes.g = NULL;
    st->outcomes.n = 0;
}

/* raft_fsm on the store: apply = split the batch, decode, swarm__store_apply_groups; snapshots = whole-store dumps. */
#include "raft/raft.h"

#include <stdlib.h>
#include <string.h>

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* How many proposals an entry holds (a bare action list is one), or 0 for a malformed batch. */
static size_t entry_count(const unsigned char *p, size_t len)
{
    if (len < SWARM__RAFT_BATCH_HEADER || memcmp(p, SWARM__RAFT_BATCH_MAGIC, 4) != 0)
        return 1; /* a bare action list (or garbage: one proposal that fails to decode) */
    uint32_t count = get_u32(p + 4);
    if (count == 0 || count > SWARM__RAFT_BATCH_LIMIT)
        return 0;
    size_t off = SWARM__RAFT_BATCH_HEADER;
    for (uint32_t i = 0; i < count; i++) {
        if (len - off < 4)
            return 0;
        uint32_t l = get_u32(p + off);
        off += 4;
        if (len - off < l)
            return 0;
        off += l;
    }
    return off == len ? count : 0;
}

/* Decodes proposal i's actions into g (a = NULL, n = 0 when it does not decode); returns the decode rc. */
static int decode_group(swarm__store_group *g, const unsigned char **cursor, int bare, size_t len, swarm__err *e)
{
    const unsigned char *p = *cursor;
    size_t l = len;
    if (!bare) {
        l = get_u32(p);
        p += 4;
    }
    *cursor = p + l;
    swarm__action *acts = NULL;
    size_t n = 0;
    int rc = swarm__actions_decode(&acts, &n, p, l, e);
    g->a = rc == 0 ? acts : NULL;
    g->n = rc == 0 ? n : 0;
    return rc;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    swarm__raft_fsm_state *st = fsm->data;
    swarm__raft_outcomes *out = &st->outcomes;
    /* libraft 0.15 sets last_applied after apply returns, so this is the entry's index. */
    uint64_t index = raft_last_applied(st->raft) + 1;
    const unsigned char *p = buf->base;
    size_t count = entry_count(p, buf->len);
    int bare = count == 1 && (buf->len < SWARM__RAFT_BATCH_HEADER || memcmp(p, SWARM__RAFT_BATCH_MAGIC, 4) != 0);
    swarm__store_group *g = st->groups;
    if (count > SWARM__RAFT_BATCH_MAX && (g = calloc(count, sizeof *g)) == NULL)
        return RAFT_NOMEM;
    /* Proposals that do not decode apply as empty writes, then get their rejection back (deterministic). */
    unsigned char bad[SWARM__RAFT_BATCH_MAX];
    const unsigned char *cursor = bare ? p : p + SWARM__RAFT_BATCH_HEADER;
    for (size_t i = 0; i < count; i++) {
        swarm__err ignored;
        int rc = decode_group(&g[i], &cursor, bare, buf->len, &ignored);
        if (i < SWARM__RAFT_BATCH_MAX)
            bad[i] = rc != 0;
        if (rc == SWARM_ENOMEM) {
            count = i;
            for (size_t k = 0; k < count; k++)
                swarm__actions_free((swarm__action *)g[k].a, g[k].n);
            if (g != st->groups)
                free(g);
            return RAFT_NOMEM;
        }
    }
    swarm__err e;
    /* count 0 (a malformed container) still consumes the index: one write of nothing. */
    int rc = swarm__store_apply_groups(st->store, index, g, count, &e);
    for (size_t i = 0; i < count; i++)
        swarm__actions_free((swarm__action *)g[i].a, g[i].n);
    if (g != st->groups)
        free(g);
    /* Backend failures consumed nothing: make libraft retry the entry later. */
    if (rc != 0)
        return RAFT_IOERR;
    out->index = index;
    out->g = st->groups;
    out->n = count <= SWARM__RAFT_BATCH_MAX ? count : 0;
    cursor = bare ? p : p + SWARM__RAFT_BATCH_HEADER;
    for (size_t i = 0; i < out->n; i++) {
        swarm__store_group *gi = &st->groups[i];
        if (bad[i]) {
            /* Decode again for the message (rare: only a broken proposer writes these). */
            gi->rc = decode_group(gi, &cursor, bare, buf->len, &gi->err);
            gi->a = NULL;
            gi->n = 0;
        } else {
            cursor += bare ? buf->len : 4 + get_u32(cursor);
        }
    }
    *result = out;
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
    st->outcomes.g = st->groups;
    st->store = store;
    st->raft = r;
    memset(fsm, 0, sizeof *fsm);
    fsm->version = 1;
    fsm->data = st;
    fsm->apply = fsm_apply;
    fsm->snapshot = fsm_snapshot;
    fsm->restore = fsm_restore;
}

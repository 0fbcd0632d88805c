/*
 * InstallSnapshot in chunks (lib/raft/io.c): Raft groups on the in-memory
 * transport and virtual timers, in one thread (test/lib/raftgroup.c), with
 * every node's transport wrapped so that a test can cut the network exactly
 * after the k-th chunk; hand-made chunks against the receiver's checks; and
 * large snapshots in LMDB. Set RAFT_SEED to replay a run.
 */
#include "test.h"

#include "proto/proto.h"
#include "raft/io.h"
#include "raftgroup.h"

#include <lmdb.h>

#define START_WALL_NS 1796061956000000000LL
#define NODES 3
#define CHUNK_TYPE 16 /* io.c's SNAPSHOT_CHUNK message type */

/* What to do to the network when the k-th chunk (counted over all nodes) has been sent. */
enum { FAULT_NONE, FAULT_DROP_ALL, FAULT_CUT_LINK };

typedef struct group {
    raftgroup *rg;
    /* Chunk accounting and the one-shot fault. */
    unsigned chunks;
    size_t largest_chunk;
    unsigned fault_after;
    int fault;
    int fault_victim;
    int cut_from;      /* FAULT_CUT_LINK: the sender (-1: none), which then sees its link refuse sends... */
    uint64_t cut_link; /* ...until its transport reports the link down */
} group;

/* ------------------------------------------------------------ a transport that counts chunks and injects faults */

typedef struct wrapper {
    struct swarm_transport_backend base;
    struct swarm_transport_backend *inner;
    group *g;
    int i;
} wrapper;

static struct swarm_transport_backend *inner_of(struct swarm_transport_backend *b)
{
    return ((wrapper *)b)->inner;
}

static int w_open(struct swarm_transport_backend *b, const swarm_transport_host *host)
{
    return inner_of(b)->open(inner_of(b), host);
}

static int w_set_tls(struct swarm_transport_backend *b, const swarm_transport_tls *tls)
{
    return inner_of(b)->set_tls(inner_of(b), tls);
}

static int w_listen(struct swarm_transport_backend *b, const char *addr)
{
    return inner_of(b)->listen(inner_of(b), addr);
}

static int w_dial(struct swarm_transport_backend *b, const char *addr, uint64_t *link)
{
    return inner_of(b)->dial(inner_of(b), addr, link);
}

static void w_close_link(struct swarm_transport_backend *b, uint64_t link)
{
    inner_of(b)->close_link(inner_of(b), link);
}

static int w_send(struct swarm_transport_backend *b, uint64_t link, const swarm_transport_msg *msg)
{
    wrapper *w = (wrapper *)b;
    group *g = w->g;
    if (g->cut_from == w->i && g->cut_link == link)
        return SWARM_EUNAVAILABLE; /* as a transport that already knows */
    int rc = inner_of(b)->send(inner_of(b), link, msg);
    const unsigned char *body = msg->body;
    if (rc != 0 || msg->type != SWARM__MSG_RAFT || msg->len < 2 || body[1] != CHUNK_TYPE)
        return rc;
    g->chunks++;
    if (msg->len > g->largest_chunk)
        g->largest_chunk = msg->len;
    if (g->fault != FAULT_NONE && g->chunks == g->fault_after) {
        /* The inner send has returned: the network may be changed under it now. */
        swarm__mem_network *net = raftgroup_net(g->rg);
        if (g->fault == FAULT_DROP_ALL) {
            swarm__mem_network_set_drop(net, 1.0);
        } else {
            const char *self = raftgroup_name(g->rg, w->i), *victim = raftgroup_name(g->rg, g->fault_victim);
            CHECK(swarm__mem_network_partition(net, self, victim) == 0);
            CHECK(swarm__mem_network_partition(net, victim, self) == 0);
            g->cut_from = w->i;
            g->cut_link = link;
        }
        g->fault = FAULT_NONE;
    }
    return rc;
}

static int w_request(struct swarm_transport_backend *b, uint64_t link, const swarm_transport_msg *msg,
                     int64_t timeout_ms, swarm_transport_response_cb cb, void *payload)
{
    return inner_of(b)->request(inner_of(b), link, msg, timeout_ms, cb, payload);
}

static int w_respond(struct swarm_transport_backend *b, uint64_t link, uint64_t request_id,
                     const swarm_transport_msg *msg)
{
    return inner_of(b)->respond(inner_of(b), link, request_id, msg);
}

static void w_close(struct swarm_transport_backend *b)
{
    inner_of(b)->close(inner_of(b));
}

static void w_free(struct swarm_transport_backend *b)
{
    inner_of(b)->free(inner_of(b));
    free(b);
}

static struct swarm_transport_backend *wrap(void *payload, int i, struct swarm_transport_backend *inner)
{
    wrapper *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    w->base.version = SWARM_TRANSPORT_BACKEND_VERSION;
    w->base.name = "chunk-faults";
    w->base.open = w_open;
    w->base.set_tls = w_set_tls;
    w->base.listen = w_listen;
    w->base.dial = w_dial;
    w->base.close_link = w_close_link;
    w->base.send = w_send;
    w->base.request = w_request;
    w->base.respond = w_respond;
    w->base.close = w_close;
    w->base.free = w_free;
    w->inner = inner;
    w->g = payload;
    w->i = i;
    return &w->base;
}

static void link_down(void *payload, int i, uint64_t link)
{
    group *g = payload;
    if (g->cut_from == i && g->cut_link == link)
        g->cut_from = -1;
}

/* ------------------------------------------------------------ nodes */

/* NODES nodes with every transport wrapped; o's threshold, trailing and chunk knobs; the unbatched proposer. */
static group *group_new(raftgroup_options o)
{
    group *g = calloc(1, sizeof *g);
    CHECK(g != NULL);
    g->cut_from = -1;
    o.nodes = NODES;
    o.unbatched = 1;
    o.wrap = wrap;
    o.link_down = link_down;
    o.hook_payload = g;
    g->rg = raftgroup_new(&o, 0);
    return g;
}

static void group_free(group *g)
{
    raftgroup_free(g->rg);
    free(g);
}

static struct raft_io *io_of(group *g, int i)
{
    return swarm__raft_raw(raftgroup_raft(g->rg, i))->io;
}

static int is_leader(raftgroup *rg, void *arg)
{
    int i = *(int *)arg;
    return raftgroup_alive(rg, i) && swarm__raft_state(raftgroup_raft(rg, i)) == RAFT_LEADER;
}

static swarm__raft_io_stats stats_of(group *g, int i)
{
    swarm__raft_io_stats st;
    swarm__raft_io_get_stats(&st, io_of(g, i));
    return st;
}

/* Node *arg has applied as far as the leader (n1) and restored a snapshot at least once. */
static int caught_up(raftgroup *rg, void *arg)
{
    int i = *(int *)arg;
    return swarm__raft_restores(raftgroup_raft(rg, i)) > 0 &&
           swarm__raft_last_applied(raftgroup_raft(rg, i)) == swarm__raft_last_applied(raftgroup_raft(rg, 0)) &&
           swarm__store_index(raftgroup_store(rg, i)) == swarm__store_index(raftgroup_store(rg, 0));
}

/* Node i's store holds exactly node 0's content (dumps compared byte for byte). */
static void check_same_store(group *g, int i)
{
    char *a, *b;
    size_t al, bl;
    swarm__err e;
    CHECK_INT(swarm__store_dump(raftgroup_store(g->rg, 0), &a, &al, &e), 0);
    CHECK_INT(swarm__store_dump(raftgroup_store(g->rg, i), &b, &bl, &e), 0);
    int same = al == bl && memcmp(a, b, al) == 0;
    free(a);
    free(b);
    if (!same)
        test__fail(__FILE__, __LINE__, "n%d's store (%zu bytes) differs from n1's (%zu bytes)", i + 1, bl, al);
}

/*
 * The common scenario: a 3-node group with small snapshots (threshold 16,
 * trailing 4) and 4 KiB chunks; n3 is cut off while n1 writes 60 configs of
 * 512 bytes (~50 KiB of store, so ~13 chunks) and compacts its log; then n3
 * comes back and must be sent a snapshot. `fault` strikes after chunk 3.
 */
static group *lagging_follower(int fault)
{
    group *g = group_new((raftgroup_options){.snapshot_threshold = 16,
                                             .snapshot_trailing = 4,
                                             .chunk_size = 4096,
                                             .install_timeout_ms = 3000,
                                             .reassembly_ms = 1500});
    raftgroup_form(g->rg, NODES, 0);
    raftgroup_write_range(g->rg, 0, 0, 5, 512);
    raftgroup_partition(g->rg, 2);
    raftgroup_write_range(g->rg, 0, 5, 65, 512);
    CHECK(raft_last_index(swarm__raft_raw(raftgroup_raft(g->rg, 0))) > 40);
    g->chunks = 0;
    g->fault = fault;
    g->fault_after = 3;
    g->fault_victim = 2;
    swarm__mem_network_heal(raftgroup_net(g->rg), NULL, NULL);
    return g;
}

static int fault_fired(raftgroup *rg, void *arg)
{
    (void)rg;
    return ((group *)arg)->fault == FAULT_NONE;
}

static void finish_catch_up(group *g, int64_t max_ms)
{
    int victim = 2;
    int64_t t = raftgroup_run_until(g->rg, caught_up, &victim, max_ms);
    if (t < 0) {
        swarm__raft_io_stats st = stats_of(g, 2);
        test__fail(__FILE__, __LINE__,
                   "n3 did not catch up: applied %" PRIu64 " of %" PRIu64 ", chunks %" PRIu64 " in, %" PRIu64
                   " refused, %" PRIu64 " partials dropped, %" PRIu64 " snapshots",
                   swarm__raft_last_applied(raftgroup_raft(g->rg, 2)),
                   swarm__raft_last_applied(raftgroup_raft(g->rg, 0)),
                   st.chunks_received, st.chunks_refused, st.partials_dropped, st.snapshots_received);
    }
    printf("# n3 caught up after %" PRId64 " virtual ms, %u chunks sent, largest message %zu bytes\n", t, g->chunks,
           g->largest_chunk);
    check_same_store(g, 2);
    /* And the group goes on: n3 follows plain appends again. */
    raftgroup_write_range(g->rg, 0, 65, 70, 512);
    CHECK(raftgroup_run_until(g->rg, caught_up, &victim, 5000) >= 0);
    check_same_store(g, 2);
    check_same_store(g, 1);
}

/* ------------------------------------------------------------ tests */

static void test_raft_snapshot__lagging_follower_gets_chunks(void)
{
    group *g = lagging_follower(FAULT_NONE);
    finish_catch_up(g, 15000);
    swarm__raft_io_stats in = stats_of(g, 2), out = stats_of(g, 0);
    CHECK(in.snapshots_received >= 1);
    CHECK(in.chunks_received >= 8); /* a snapshot of 30 KiB or more */
    CHECK_INT(in.chunks_refused, 0);
    CHECK_INT(in.partials_dropped, 0);
    CHECK(out.snapshots_sent >= 1);
    CHECK(out.chunks_sent >= in.chunks_received);
    /* 4 KiB of data plus the header; the first chunk also carries the (small) configuration. */
    CHECK(g->largest_chunk <= 4096 + 256);
    group_free(g);
}

static void test_raft_snapshot__chunk_loss_is_retried(void)
{
    group *g = lagging_follower(FAULT_DROP_ALL);
    /* Everything after chunk 3 is lost for a moment (less than an election timeout). */
    CHECK(raftgroup_run_until(g->rg, fault_fired, g, 10000) >= 0);
    raftgroup_run(g->rg, 300);
    swarm__mem_network_set_drop(raftgroup_net(g->rg), 0);
    /* n3 abandons the partial snapshot once chunks stop coming; the leader sends a new one after its timeout. */
    finish_catch_up(g, 30000);
    swarm__raft_io_stats in = stats_of(g, 2);
    CHECK(in.partials_dropped >= 1);
    CHECK(in.snapshots_received >= 1);
    CHECK(stats_of(g, 0).snapshots_sent >= 2);
    group_free(g);
}

static void test_raft_snapshot__link_drop_mid_snapshot(void)
{
    group *g = lagging_follower(FAULT_CUT_LINK);
    CHECK(raftgroup_run_until(g->rg, fault_fired, g, 10000) >= 0);
    raftgroup_run(g->rg, 500);
    CHECK_INT(g->chunks, 3); /* the leader's send failed at the next chunk */
    swarm__raft_io_stats in = stats_of(g, 2);
    CHECK_INT(in.partials_dropped, 1); /* at the link's loss */
    CHECK_INT(in.snapshots_received, 0);
    swarm__mem_network_heal(raftgroup_net(g->rg), NULL, NULL);
    finish_catch_up(g, 30000);
    CHECK(stats_of(g, 2).snapshots_received >= 1);
    group_free(g);
}

/* ---- hand-made chunks */

typedef struct wire {
    unsigned char buf[8192];
    size_t len;
} wire;

static void put(wire *w, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        w->buf[w->len++] = (unsigned char)v;
}

/* A chunk from node 9 ("ghost"): snapshot (term, index 100, last_term 1, conf_index 1). */
static void chunk(wire *w, uint64_t term, uint64_t total, uint64_t offset, unsigned flags, size_t n)
{
    w->len = 0;
    put(w, 1, 1);
    put(w, CHUNK_TYPE, 1);
    put(w, 9, 8);
    put(w, 5, 4);
    memcpy(w->buf + w->len, "ghost", 5);
    w->len += 5;
    put(w, term, 8);
    put(w, 100, 8);
    put(w, 1, 8);
    put(w, 1, 8);
    put(w, total, 8);
    put(w, offset, 8);
    put(w, flags, 1);
    if (offset == 0) { /* configuration: one voter, 9 "ghost" */
        put(w, 1, 4);
        put(w, 9, 8);
        put(w, 5, 4);
        memcpy(w->buf + w->len, "ghost", 5);
        w->len += 5;
        put(w, RAFT_VOTER, 1);
    }
    put(w, n, 4);
    memset(w->buf + w->len, 'x', n);
    w->len += n;
}

static void feed(group *g, const wire *w, size_t len)
{
    swarm_transport_msg m = {SWARM__MSG_RAFT, w->buf, len};
    swarm__raft_receive(raftgroup_raft(g->rg, 0), 4242, &m);
    raftgroup_run(g->rg, 0);
}

static void test_raft_snapshot__receiver_checks(void)
{
    group *g = group_new((raftgroup_options){.reassembly_ms = 2000});
    int zero = 0;
    raftgroup_start(g->rg, 0, RAFTGROUP_BOOTSTRAP, NULL);
    CHECK(raftgroup_run_until(g->rg, is_leader, &zero, 5000) >= 0);
    swarm__raft_io_set_snapshot_limit(io_of(g, 0), 1 << 20);
    swarm__raft_io_stats st;
    wire w;
    uint64_t refused = 0;
#define REFUSED()                                                                                                  \
    do {                                                                                                           \
        st = stats_of(g, 0);                                                                               \
        CHECK_INT(st.chunks_refused, ++refused);                                                                   \
    } while (0)

    /* Malformed: every truncation of a valid first chunk, and each bad field. */
    chunk(&w, 1, 1000, 0, 0, 100);
    for (size_t cut = 0; cut < w.len; cut++) {
        feed(g, &w, cut);
        st = stats_of(g, 0);
        CHECK_INT(st.chunks_received, 0);
    }
    refused = stats_of(g, 0).chunks_refused;
    CHECK(refused > 0);
    chunk(&w, 1, 1000, 0, 0, 100);
    w.buf[w.len++] = 0; /* trailing byte */
    feed(g, &w, w.len);
    REFUSED();
    chunk(&w, 1, 1000, 0, 2, 100); /* unknown flag */
    feed(g, &w, w.len);
    REFUSED();
    chunk(&w, 1, 1000, 0, 1, 100); /* "last" but 900 bytes short */
    feed(g, &w, w.len);
    REFUSED();
    chunk(&w, 1, 100, 0, 0, 100); /* complete but not "last" */
    feed(g, &w, w.len);
    REFUSED();
    chunk(&w, 1, 50, 0, 1, 100); /* more data than the total */
    feed(g, &w, w.len);
    REFUSED();
    chunk(&w, 1, 1000, 0, 0, 0); /* an empty non-final chunk */
    feed(g, &w, w.len);
    REFUSED();
    chunk(&w, 1, (1 << 20) + 1, 0, 0, 100); /* above the limit */
    feed(g, &w, w.len);
    REFUSED();
    chunk(&w, 1, UINT64_MAX, 0, 0, 100);
    feed(g, &w, w.len);
    REFUSED();
    chunk(&w, 1, 1000, 2000, 0, 100); /* offset past the total, nothing started */
    feed(g, &w, w.len);
    REFUSED();
    CHECK_INT(st.partials_dropped, 0);
    CHECK_INT(st.chunks_received, 0);

    /* A chunk out of order drops the partial snapshot. */
    chunk(&w, 1, 1000, 0, 0, 100);
    feed(g, &w, w.len);
    chunk(&w, 1, 1000, 200, 0, 100);
    feed(g, &w, w.len);
    REFUSED();
    CHECK_INT(st.chunks_received, 1);
    CHECK_INT(st.partials_dropped, 1);
    chunk(&w, 1, 1000, 100, 0, 100); /* too late: nothing to continue */
    feed(g, &w, w.len);
    REFUSED();

    /* A new snapshot replaces a partial one; an older term's does not. */
    chunk(&w, 2, 1000, 0, 0, 100);
    feed(g, &w, w.len);
    chunk(&w, 3, 1000, 0, 0, 100);
    feed(g, &w, w.len);
    st = stats_of(g, 0);
    CHECK_INT(st.chunks_received, 3);
    CHECK_INT(st.partials_dropped, 2);
    chunk(&w, 2, 1000, 0, 0, 100);
    feed(g, &w, w.len);
    REFUSED();
    chunk(&w, 3, 1000, 100, 0, 100); /* the term-3 one continues */
    feed(g, &w, w.len);
    st = stats_of(g, 0);
    CHECK_INT(st.chunks_received, 4);
    chunk(&w, 2, 1000, 200, 0, 100); /* a leftover of the term-2 one: refused, no harm done */
    feed(g, &w, w.len);
    REFUSED();
    CHECK_INT(st.partials_dropped, 2);
    chunk(&w, 3, 1000, 200, 0, 100);
    feed(g, &w, w.len);
    st = stats_of(g, 0);
    CHECK_INT(st.chunks_received, 5);

    /* Nothing more for the reassembly timeout: dropped. */
    raftgroup_run(g->rg, 1000);
    CHECK_INT(stats_of(g, 0).partials_dropped, 2);
    raftgroup_run(g->rg, 1500);
    st = stats_of(g, 0);
    CHECK_INT(st.partials_dropped, 3);
    CHECK_INT(st.snapshots_received, 0);
    CHECK_INT(st.chunks_refused, refused);
    /* The node never noticed. */
    CHECK(is_leader(g->rg, &zero));
    group_free(g);
#undef REFUSED
}

/* ---- a snapshot above the transport's 64 MiB message limit, default chunks, in LMDB */

static void test_raft_snapshot__above_message_limit(void)
{
    long long t0 = test_now_ms();
    group *g = group_new((raftgroup_options){.snapshot_threshold = 40, .snapshot_trailing = 2});
    char d1[512], d2[512];
    snprintf(d1, sizeof d1, "%s", test_tmpdir());
    snprintf(d2, sizeof d2, "%s", test_tmpdir());
    int zero = 0, one = 1;
    raftgroup_start(g->rg, 0, RAFTGROUP_BOOTSTRAP, d1);
    CHECK(raftgroup_run_until(g->rg, is_leader, &zero, 5000) >= 0);
    /* 42 configs of 2 MiB: the snapshot taken at 40 applied entries holds ~80 MiB. */
    raftgroup_write_range(g->rg, 0, 0, 42, 2u << 20);
    char *dump;
    size_t len;
    swarm__err e;
    CHECK_INT(swarm__store_dump(raftgroup_store(g->rg, 0), &dump, &len, &e), 0);
    free(dump);
    printf("# store of %zu MiB written in %lld ms\n", len >> 20, test_now_ms() - t0);
    /* A new voter can only be sent a snapshot: the log was compacted. */
    raftgroup_start(g->rg, 1, RAFTGROUP_JOIN, d2);
    raftgroup_add_voter(g->rg, 0, 1, 60000);
    CHECK(raftgroup_run_until(g->rg, caught_up, &one, 30000) >= 0);
    check_same_store(g, 1);
    swarm__raft_io_stats in = stats_of(g, 1);
    CHECK(in.snapshots_received >= 1);
    CHECK(g->chunks >= (SWARM_TRANSPORT_MAX_MESSAGE / SWARM__RAFT_CHUNK_SIZE_DEFAULT) + 1);
    CHECK(g->largest_chunk <= SWARM__RAFT_CHUNK_SIZE_DEFAULT + 256);
    printf("# %u chunks; n2 caught up at %lld ms\n", g->chunks, test_now_ms() - t0);
    /* n2 restarts from its LMDB: the big snapshot comes back from the map. */
    raftgroup_kill(g->rg, 1);
    raftgroup_start(g->rg, 1, RAFTGROUP_JOIN, d2);
    CHECK(raftgroup_run_until(g->rg, caught_up, &one, 30000) >= 0);
    check_same_store(g, 1);
    printf("# n2 restarted from disk at %lld ms\n", test_now_ms() - t0);
    group_free(g);
}

/* ---- snapshot_put / snapshot_get / load of large snapshots, on the io alone */

typedef struct io_done {
    int puts, gets, status;
    struct raft_snapshot *got;
} io_done;

static io_done done;

static void put_cb(struct raft_io_snapshot_put *req, int status)
{
    (void)req;
    done.puts++;
    done.status = status;
}

static void get_cb(struct raft_io_snapshot_get *req, struct raft_snapshot *snap, int status)
{
    (void)req;
    done.gets++;
    done.status = status;
    done.got = snap;
}

static void snapshot_free(struct raft_snapshot *s)
{
    raft_configuration_close(&s->configuration);
    raft_free(s->bufs[0].base);
    raft_free(s->bufs);
    raft_free(s);
}

static void fill(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(p + i, &x, 8);
    }
    for (size_t i = n & ~(size_t)7; i < n; i++)
        p[i] = (unsigned char)i;
}

static void put_snapshot(struct raft_io *io, swarm__timers *ts, raft_index index, unsigned char *data, size_t len,
                         unsigned trailing)
{
    struct raft_snapshot s;
    memset(&s, 0, sizeof s);
    s.index = index;
    s.term = 3;
    s.configuration_index = 1;
    raft_configuration_init(&s.configuration);
    CHECK_INT(raft_configuration_add(&s.configuration, 1, "n1", RAFT_VOTER), 0);
    /* Two buffers: the io writes them one after the other. */
    struct raft_buffer bufs[2] = {{data, len / 3}, {data + len / 3, len - len / 3}};
    s.bufs = bufs;
    s.n_bufs = 2;
    struct raft_io_snapshot_put req;
    int puts = done.puts;
    CHECK_INT(io->snapshot_put(io, trailing, &req, &s, put_cb), 0);
    CHECK_INT(done.puts, puts); /* deferred */
    swarm__timers_advance(ts, 0);
    CHECK_INT(done.puts, puts + 1);
    CHECK_INT(done.status, 0);
    raft_configuration_close(&s.configuration);
}

static void check_snapshot(const struct raft_snapshot *s, raft_index index, const unsigned char *data, size_t len)
{
    CHECK_INT(s->index, index);
    CHECK_INT(s->term, 3);
    CHECK_INT(s->n_bufs, 1);
    CHECK_INT(s->configuration.n, 1);
    CHECK_INT(s->bufs[0].len, len);
    CHECK(memcmp(s->bufs[0].base, data, len) == 0);
}

/* Keys in the "snap" database of <dir>/raft. */
static int snap_keys(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/raft", dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    CHECK_INT(mdb_env_create(&env), 0);
    CHECK_INT(mdb_env_set_maxdbs(env, 4), 0);
    CHECK_INT(mdb_env_open(env, path, MDB_RDONLY, 0600), 0);
    CHECK_INT(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    CHECK_INT(mdb_dbi_open(txn, "snap", 0, &dbi), 0);
    CHECK_INT(mdb_stat(txn, dbi, &st), 0);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return (int)st.ms_entries;
}

static void test_raft_snapshot__lmdb_large_snapshots(void)
{
    /*
     * 600 MiB, then 620 MiB over it: LMDB needs both at once inside the
     * replacing write, 1.2 GiB, more than the 1 GiB map this io used to have.
     */
    size_t a_len = (size_t)600 << 20, b_len = ((size_t)620 << 20) + 12345;
    long long t0 = test_now_ms();
    const char *dir = test_tmpdir();
    swarm__timers *ts = swarm__timers_virtual(START_WALL_NS, 1);
    swarm__mem_network *net;
    struct swarm_transport_backend *t;
    CHECK(swarm__mem_network_new(&net) == 0);
    CHECK(swarm__transport_mem_new(&t, net, "n1") == 0);
    swarm__err e = {0, ""};
    struct raft_io *io;
    CHECK_INT(swarm__raft_io_new(&io, ts, swarm__timers_clock(ts), t, dir, &e), 0);
    unsigned char *a = malloc(a_len), *b = malloc(b_len);
    CHECK(a != NULL && b != NULL);
    fill(a, a_len, 1);
    fill(b, b_len, 2);
    memset(&done, 0, sizeof done);
    put_snapshot(io, ts, 10, a, a_len, 2);
    put_snapshot(io, ts, 20, b, b_len, 2);
    struct raft_io_snapshot_get req;
    CHECK_INT(io->snapshot_get(io, &req, get_cb), 0);
    swarm__timers_advance(ts, 0);
    CHECK_INT(done.gets, 1);
    CHECK_INT(done.status, 0);
    check_snapshot(done.got, 20, b, b_len);
    snapshot_free(done.got);
    /* A smaller one over it (3 pieces of 64 MiB instead of 10): the stale pieces go. */
    size_t c_len = (size_t)130 << 20;
    put_snapshot(io, ts, 30, a, c_len, 2);
    free(a);
    a = NULL;
    swarm__raft_io_free(io);
    CHECK_INT(snap_keys(dir), 1 + 3);
    printf("# wrote 1.2 GiB of snapshots in %lld ms\n", test_now_ms() - t0);

    /* Back from disk. */
    CHECK_INT(swarm__raft_io_new(&io, ts, swarm__timers_clock(ts), t, dir, &e), 0);
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snap = NULL;
    raft_index start;
    struct raft_entry *entries;
    size_t n;
    CHECK_INT(io->load(io, &term, &vote, &snap, &start, &entries, &n), 0);
    CHECK(snap != NULL);
    a = malloc(c_len);
    CHECK(a != NULL);
    fill(a, a_len < c_len ? a_len : c_len, 1);
    check_snapshot(snap, 30, a, c_len);
    free(a);
    CHECK_INT(start, 31);
    CHECK_INT(n, 0);
    snapshot_free(snap);
    swarm__raft_io_free(io);
    free(b);
    t->free(t);
    swarm__mem_network_free(net);
    swarm__timers_free(ts);
    printf("# and read back in %lld ms in all\n", test_now_ms() - t0);
}

TEST_MAIN(TEST(test_raft_snapshot__receiver_checks), TEST(test_raft_snapshot__lagging_follower_gets_chunks),
          TEST(test_raft_snapshot__chunk_loss_is_retried), TEST(test_raft_snapshot__link_drop_mid_snapshot),
          TEST(test_raft_snapshot__lmdb_large_snapshots), TEST(test_raft_snapshot__above_message_limit))

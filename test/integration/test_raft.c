/*
 * Raft groups on libraft 0.15 through our raft_io (lib/raft/io.c), our FSM and
 * the Raft proposer: several nodes in one thread, on the in-memory transport
 * and virtual timers (as test/lib/fixture.c does). Set RAFT_SEED to replay a run.
 */
#include "test.h"

#include "core/timers.h"
#include "proto/proto.h"
#include "raft/raft.h"
#include "store/store.h"
#include "transport/transport.h"

#include <event2/event.h>
#include <time.h>

#define START_WALL_NS 1796061956000000000LL
#define MAX_NODES 5

typedef struct cluster cluster;

typedef struct rnode {
    cluster *c;
    int idx;
    char name[16];
    struct swarm_transport_backend *t;
    swarm__store *store;
    swarm__raft *raft;
    swarm__proposer *prop;
    char dir[512]; /* "" = volatile raft storage */
    int alive;
} rnode;

struct cluster {
    struct event_base *base;
    swarm__timers *timers;
    const swarm__clock *clock;
    swarm__mem_network *net;
    rnode nodes[MAX_NODES];
    unsigned threshold, trailing;
    unsigned max_batch; /* the proposers' cap (0: the default) */
    int unbatched;      /* swarm__proposer_raft_new instead of the batched one */
};

static uint64_t seed_value(void)
{
    static uint64_t seed;
    if (seed == 0) {
        const char *env = getenv("RAFT_SEED");
        seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
        if (seed == 0)
            seed = 1;
        printf("# RAFT_SEED=%" PRIu64 "\n", seed);
    }
    return seed;
}

/* ------------------------------------------------------------ transport host */

typedef struct posted {
    struct event *ev;
    void (*fn)(void *);
    void *arg;
} posted;

static void run_posted(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    posted *p = arg;
    void (*fn)(void *) = p->fn;
    void *a = p->arg;
    event_free(p->ev);
    free(p);
    fn(a);
}

static int host_post(void *ctx, void (*fn)(void *), void *arg)
{
    rnode *n = ctx;
    posted *p = calloc(1, sizeof *p);
    if (p == NULL)
        return SWARM_ENOMEM;
    p->fn = fn;
    p->arg = arg;
    p->ev = event_new(n->c->base, -1, 0, run_posted, p);
    event_active(p->ev, 0, 0);
    return 0;
}

static int host_timer(void *ctx, int64_t ms, void (*cb)(void *), void *payload, void **token)
{
    return swarm__oneshot(((rnode *)ctx)->c->timers, ms, cb, payload, token);
}

static void host_cancel(void *ctx, void *token)
{
    (void)ctx;
    swarm__oneshot_cancel(token);
}

static void host_log(void *ctx, int level, const char *message)
{
    (void)ctx;
    (void)level;
    (void)message;
}

static void on_link_up(void *ctx, uint64_t link, const char *addr, int accepted)
{
    (void)addr;
    (void)accepted;
    rnode *n = ctx;
    if (n->raft)
        swarm__raft_link_up(n->raft, link);
}

static void on_link_down(void *ctx, uint64_t link)
{
    rnode *n = ctx;
    if (n->raft)
        swarm__raft_link_down(n->raft, link);
}

static void on_receive(void *ctx, uint64_t link, uint64_t rid, const swarm_transport_msg *msg)
{
    (void)rid;
    rnode *n = ctx;
    if (n->raft && msg->type == SWARM__MSG_RAFT)
        swarm__raft_receive(n->raft, link, msg);
}

/* ------------------------------------------------------------ driving */

static void drain(cluster *c)
{
    for (int i = 0; i < 1000000; i++) {
        if (event_base_get_num_events(c->base, EVENT_BASE_COUNT_ACTIVE) == 0)
            return;
        event_base_loop(c->base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
    }
}

static int64_t now_ms(cluster *c)
{
    return c->clock->mono_ns(c->clock->data) / 1000000;
}

static void run(cluster *c, int64_t ms)
{
    int64_t left = ms;
    drain(c);
    while (left > 0) {
        int64_t next = swarm__timers_next_ms(c->timers);
        int64_t step = next < 0 || next > left ? left : next;
        swarm__timers_advance(c->timers, step);
        drain(c);
        left -= step;
    }
}

/* Runs until cond holds (checked at least every 10 virtual ms); elapsed ms or -1. */
static int64_t run_until(cluster *c, int (*cond)(cluster *, void *), void *arg, int64_t max_ms)
{
    int64_t start = now_ms(c);
    drain(c);
    while (!cond(c, arg)) {
        int64_t elapsed = now_ms(c) - start;
        if (elapsed >= max_ms)
            return -1;
        int64_t next = swarm__timers_next_ms(c->timers);
        int64_t step = next < 0 || next > 10 ? 10 : next;
        swarm__timers_advance(c->timers, step);
        drain(c);
    }
    return now_ms(c) - start;
}

/* ------------------------------------------------------------ nodes */

static cluster *cluster_new(unsigned threshold, unsigned trailing)
{
    cluster *c = calloc(1, sizeof *c);
    c->base = event_base_new();
    c->timers = swarm__timers_virtual(START_WALL_NS, seed_value());
    c->clock = swarm__timers_clock(c->timers);
    CHECK(swarm__mem_network_new(&c->net) == 0);
    swarm__mem_network_set_seed(c->net, seed_value());
    c->threshold = threshold;
    c->trailing = trailing;
    for (int i = 0; i < MAX_NODES; i++) {
        c->nodes[i].c = c;
        c->nodes[i].idx = i;
        snprintf(c->nodes[i].name, sizeof c->nodes[i].name, "n%d", i + 1);
    }
    return c;
}

static void node_start(cluster *c, int i, int bootstrap, const char *dir)
{
    rnode *n = &c->nodes[i];
    swarm__err e = {0, ""};
    if (dir != NULL)
        snprintf(n->dir, sizeof n->dir, "%s", dir);
    CHECK(swarm__transport_mem_new(&n->t, c->net, n->name) == 0);
    swarm_transport_host th = {1, n, on_link_up, on_link_down, on_receive, host_post, host_timer, host_cancel,
                               host_log};
    CHECK(n->t->open(n->t, &th) == 0);
    CHECK(n->t->listen(n->t, n->name) == 0);
    struct swarm_store_backend *b;
    CHECK(swarm_store_memory_new(&b) == 0);
    CHECK(swarm__store_open(&n->store, b, &e) == 0);
    swarm__raft_options o = {0};
    o.id = (uint64_t)i + 1;
    o.address = n->name;
    o.dir = n->dir[0] ? n->dir : NULL;
    o.timers = c->timers;
    o.clock = c->clock;
    o.transport = n->t;
    o.store = n->store;
    o.snapshot_threshold = c->threshold;
    o.snapshot_trailing = c->trailing;
    int rc = swarm__raft_new(&n->raft, &o, &e);
    if (rc != 0)
        test__fail(__FILE__, __LINE__, "raft_new: %s", e.message);
    if (bootstrap == 1)
        CHECK(swarm__raft_bootstrap(n->raft, &e) == 0);
    if (bootstrap == 2) /* a restart: state exists */
        CHECK_INT(swarm__raft_bootstrap(n->raft, &e), SWARM_EEXISTS);
    if (swarm__raft_start(n->raft, &e) != 0)
        test__fail(__FILE__, __LINE__, "raft_start: %s", e.message);
    swarm__raft_proposer_options po = {c->timers, c->max_batch, 0};
    if (c->unbatched)
        CHECK(swarm__proposer_raft_new(&n->prop, n->raft, &e) == 0);
    else
        CHECK(swarm__proposer_raft_batched_new(&n->prop, n->raft, &po, &e) == 0);
    n->alive = 1;
}

static void node_kill(cluster *c, int i)
{
    rnode *n = &c->nodes[i];
    if (!n->alive)
        return;
    n->alive = 0;
    n->prop->close(n->prop);
    n->prop = NULL;
    swarm__raft *r = n->raft;
    swarm__raft_free(r);
    n->raft = NULL;
    n->t->close(n->t);
    n->t->free(n->t);
    n->t = NULL;
    swarm__store_close(n->store);
    n->store = NULL;
    drain(c);
}

static void cluster_free(cluster *c)
{
    for (int i = 0; i < MAX_NODES; i++)
        node_kill(c, i);
    run(c, 10000); /* let pending deliveries and redial timers of the dead run out */
    swarm__mem_network_free(c->net);
    swarm__timers_free(c->timers);
    event_base_free(c->base);
    free(c);
}

static int leader_count(cluster *c, int *which)
{
    int count = 0;
    for (int i = 0; i < MAX_NODES; i++)
        if (c->nodes[i].alive && swarm__raft_state(c->nodes[i].raft) == RAFT_LEADER) {
            count++;
            if (which)
                *which = i;
        }
    return count;
}

static int has_leader(cluster *c, void *arg)
{
    (void)arg;
    return leader_count(c, NULL) == 1;
}

static int leader_of(cluster *c, int64_t max_ms)
{
    int which = -1;
    if (run_until(c, has_leader, NULL, max_ms) < 0)
        test__fail(__FILE__, __LINE__, "no single leader within %" PRId64 " ms", max_ms);
    leader_count(c, &which);
    return which;
}

/* ------------------------------------------------------------ writes */

typedef struct outcome {
    int done, rc;
    uint64_t index;
} outcome;

static void proposed(void *payload, int rc, const swarm__err *err, uint64_t index)
{
    (void)err;
    outcome *o = payload;
    o->done = 1;
    o->rc = rc;
    o->index = index;
}

static int outcome_done(cluster *c, void *arg)
{
    (void)c;
    return ((outcome *)arg)->done;
}

/* Proposes "create config <id>" on node i; returns propose's rc (outcome filled later). */
static int propose_config(cluster *c, int i, const char *id, outcome *o)
{
    swarm__action a = {SWARM__OP_CREATE, SWARM__KIND_CONFIG, json_pack("{s:s, s:{s:s}}", "ID", id, "Spec", "Name", id),
                       0};
    swarm__err e;
    memset(o, 0, sizeof *o);
    int rc = c->nodes[i].prop->propose(c->nodes[i].prop, &a, 1, proposed, o, &e);
    json_decref(a.object);
    return rc;
}

/* Writes "cfg-<k>" for k in [from, to) on node i, each acknowledged before the next. */
static void write_range(cluster *c, int i, int from, int to)
{
    for (int k = from; k < to; k++) {
        char id[32];
        outcome o;
        snprintf(id, sizeof id, "cfg-%03d", k);
        CHECK_INT(propose_config(c, i, id, &o), 0);
        if (run_until(c, outcome_done, &o, 5000) < 0)
            test__fail(__FILE__, __LINE__, "write %s not acknowledged", id);
        CHECK_INT(o.rc, 0);
        CHECK(o.index > 0);
        CHECK_INT(o.index, swarm__store_index(c->nodes[i].store));
    }
}

static int has_config(rnode *n, const char *id)
{
    swarm__snap *s;
    swarm__err e;
    if (swarm__snap_begin(n->store, &s, &e) != 0)
        return 0;
    json_t *obj = swarm__snap_get(s, SWARM__KIND_CONFIG, id);
    swarm__snap_end(s);
    json_decref(obj);
    return obj != NULL;
}

static int count_configs(rnode *n)
{
    swarm__snap *s;
    swarm__err e;
    json_t *list = NULL;
    CHECK(swarm__snap_begin(n->store, &s, &e) == 0);
    CHECK(swarm__snap_list(s, SWARM__KIND_CONFIG, NULL, NULL, &list, &e) == 0);
    swarm__snap_end(s);
    int k = (int)json_array_size(list);
    json_decref(list);
    return k;
}

/* Every live node's store is byte-identical to node `ref`'s. */
static int stores_equal(cluster *c, void *arg)
{
    (void)arg;
    char *ref = NULL;
    size_t ref_len = 0;
    int same = 1;
    for (int i = 0; i < MAX_NODES && same; i++) {
        rnode *n = &c->nodes[i];
        if (!n->alive)
            continue;
        char *d;
        size_t len;
        swarm__err e;
        if (swarm__store_dump(n->store, &d, &len, &e) != 0)
            return 0;
        if (ref == NULL) {
            ref = d;
            ref_len = len;
            continue;
        }
        same = len == ref_len && memcmp(d, ref, len) == 0;
        free(d);
    }
    free(ref);
    return same;
}

typedef struct change_outcome {
    int done, rc;
} change_outcome;

static void changed(void *payload, int rc)
{
    change_outcome *o = payload;
    o->done = 1;
    o->rc = rc;
}

static int change_done(cluster *c, void *arg)
{
    (void)c;
    return ((change_outcome *)arg)->done;
}

static void add_voter(cluster *c, int leader, int i)
{
    change_outcome o = {0, 0};
    swarm__err e;
    int rc = swarm__raft_add_voter(c->nodes[leader].raft, (uint64_t)i + 1, c->nodes[i].name, changed, &o, &e);
    if (rc != 0)
        test__fail(__FILE__, __LINE__, "add_voter: %s", e.message);
    if (run_until(c, change_done, &o, 20000) < 0)
        test__fail(__FILE__, __LINE__, "adding n%d did not finish", i + 1);
    CHECK_INT(o.rc, 0);
}

/* n1 bootstraps alone, then n2..nN join as voters. Returns the leader (n1). */
static int form_group(cluster *c, int n, int durable)
{
    char dir[512];
    for (int i = 0; i < n; i++) {
        if (durable) {
            snprintf(dir, sizeof dir, "%s", test_tmpdir());
        }
        node_start(c, i, i == 0, durable ? dir : NULL);
    }
    int leader = leader_of(c, 5000);
    CHECK_INT(leader, 0);
    for (int i = 1; i < n; i++)
        add_voter(c, leader, i);
    return leader;
}

/* ------------------------------------------------------------ tests */

static void test_raft__single_voter_applies(void)
{
    cluster *c = cluster_new(0, 0);
    node_start(c, 0, 1, NULL);
    int64_t t = run_until(c, has_leader, NULL, 5000);
    CHECK(t >= 0);
    write_range(c, 0, 0, 10);
    CHECK_INT(count_configs(&c->nodes[0]), 10);
    /* A deterministic rejection comes back through the callback; the index is consumed. */
    outcome o;
    CHECK_INT(propose_config(c, 0, "cfg-003", &o), 0);
    CHECK(run_until(c, outcome_done, &o, 5000) >= 0);
    CHECK_INT(o.rc, SWARM_EEXISTS);
    CHECK_INT(swarm__store_index(c->nodes[0].store), swarm__raft_last_applied(c->nodes[0].raft));
    write_range(c, 0, 10, 11);
    CHECK_INT(count_configs(&c->nodes[0]), 11);
    cluster_free(c);
}

static void test_raft__three_voters_replicate(void)
{
    cluster *c = cluster_new(0, 0);
    int leader = form_group(c, 3, 0);
    run(c, 3000);
    CHECK_INT(leader_count(c, &leader), 1);
    write_range(c, leader, 0, 50);
    CHECK(run_until(c, stores_equal, NULL, 5000) >= 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(count_configs(&c->nodes[i]), 50);
    /* Followers refuse proposals at once. */
    int follower = (leader + 1) % 3;
    outcome o;
    CHECK_INT(propose_config(c, follower, "nope", &o), SWARM_ENOTLEADER);
    CHECK_INT(o.done, 0);
    cluster_free(c);
}

static int new_leader_besides(cluster *c, void *arg)
{
    int old = *(int *)arg, which = -1;
    return leader_count(c, &which) == 1 && which != old;
}

static void test_raft__leader_killed_failover(void)
{
    cluster *c = cluster_new(0, 0);
    int leader = form_group(c, 3, 0);
    write_range(c, leader, 0, 20);
    node_kill(c, leader);
    int64_t t = run_until(c, new_leader_besides, &leader, 8000);
    CHECK(t >= 0);
    printf("# new leader after %" PRId64 " virtual ms\n", t);
    int nl = -1;
    leader_count(c, &nl);
    /*
     * A libraft 0.15 leader appends no entry of its own at election, so the
     * survivors apply the old leader's last entries once a new entry commits.
     */
    write_range(c, nl, 20, 30);
    CHECK(run_until(c, stores_equal, NULL, 5000) >= 0);
    for (int i = 0; i < 3; i++) {
        if (!c->nodes[i].alive)
            continue;
        for (int k = 0; k < 30; k++) {
            char id[32];
            snprintf(id, sizeof id, "cfg-%03d", k);
            CHECK(has_config(&c->nodes[i], id));
        }
    }
    cluster_free(c);
}

static void partition_node(cluster *c, int i, int n)
{
    for (int j = 0; j < n; j++)
        if (j != i) {
            CHECK(swarm__mem_network_partition(c->net, c->nodes[i].name, c->nodes[j].name) == 0);
            CHECK(swarm__mem_network_partition(c->net, c->nodes[j].name, c->nodes[i].name) == 0);
        }
}

static int majority_leader(cluster *c, void *arg)
{
    int old = *(int *)arg;
    for (int i = 0; i < MAX_NODES; i++)
        if (i != old && c->nodes[i].alive && swarm__raft_state(c->nodes[i].raft) == RAFT_LEADER)
            return 1;
    return 0;
}

static int single_leader_and_equal(cluster *c, void *arg)
{
    return leader_count(c, NULL) == 1 && stores_equal(c, arg);
}

static void test_raft__partitioned_leader(void)
{
    cluster *c = cluster_new(0, 0);
    int old = form_group(c, 3, 0);
    write_range(c, old, 0, 10);
    partition_node(c, old, 3);
    /* The isolated leader takes the proposal but can never commit it. */
    outcome stale;
    CHECK_INT(propose_config(c, old, "stale", &stale), 0);
    int64_t t = run_until(c, majority_leader, &old, 5000);
    CHECK(t >= 0);
    int nl = -1;
    for (int i = 0; i < 3; i++)
        if (i != old && swarm__raft_state(c->nodes[i].raft) == RAFT_LEADER)
            nl = i;
    write_range(c, nl, 10, 20);
    run(c, 3000);
    CHECK(!has_config(&c->nodes[old], "stale"));
    CHECK(!stale.done || stale.rc != 0);
    CHECK(!has_config(&c->nodes[old], "cfg-015"));
    swarm__mem_network_heal(c->net, NULL, NULL);
    CHECK(run_until(c, single_leader_and_equal, NULL, 15000) >= 0);
    /* The stale write was dropped: its outcome was "unknown", and it is indeed absent everywhere. */
    CHECK(stale.done);
    CHECK_INT(stale.rc, SWARM_EUNAVAILABLE);
    for (int i = 0; i < 3; i++) {
        CHECK(!has_config(&c->nodes[i], "stale"));
        CHECK_INT(count_configs(&c->nodes[i]), 20);
    }
    cluster_free(c);
}

static void test_raft__snapshot_catch_up(void)
{
    cluster *c = cluster_new(8, 4);
    node_start(c, 0, 1, NULL);
    CHECK_INT(leader_of(c, 5000), 0);
    write_range(c, 0, 0, 40);
    /* A fresh node joins long after the log was compacted: it gets an InstallSnapshot. */
    node_start(c, 1, 0, NULL);
    add_voter(c, 0, 1);
    CHECK(run_until(c, stores_equal, NULL, 5000) >= 0);
    CHECK(swarm__raft_restores(c->nodes[1].raft) >= 1);
    CHECK_INT(count_configs(&c->nodes[1]), 40);
    /* A lagging follower (down while the log moved on and was compacted) catches up too. */
    node_start(c, 2, 0, NULL);
    add_voter(c, 0, 2);
    node_kill(c, 2);
    write_range(c, 0, 40, 80);
    node_start(c, 2, 0, NULL);
    CHECK(run_until(c, stores_equal, NULL, 10000) >= 0);
    CHECK(swarm__raft_restores(c->nodes[2].raft) >= 1);
    CHECK_INT(count_configs(&c->nodes[2]), 80);
    write_range(c, 0, 80, 85);
    CHECK(run_until(c, stores_equal, NULL, 5000) >= 0);
    cluster_free(c);
}

static int applied_at_least(cluster *c, void *arg)
{
    rnode *n = arg;
    (void)c;
    return n->alive && swarm__store_index(n->store) >= 1 && count_configs(n) > 0 &&
           swarm__raft_state(n->raft) == RAFT_LEADER;
}

static void test_raft__restart_from_disk(void)
{
    /* One voter: after a restart the log comes back from LMDB alone and replays into a fresh store. */
    cluster *c = cluster_new(0, 0);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    node_start(c, 0, 1, dir);
    CHECK_INT(leader_of(c, 5000), 0);
    write_range(c, 0, 0, 7);
    node_kill(c, 0);
    node_start(c, 0, 2, dir);
    CHECK(run_until(c, applied_at_least, &c->nodes[0], 5000) >= 0);
    run(c, 500);
    CHECK_INT(count_configs(&c->nodes[0]), 7);
    write_range(c, 0, 7, 9);
    cluster_free(c);

    /* Three durable voters, with snapshots: a follower restarts from its directory and catches up. */
    c = cluster_new(16, 8);
    int leader = form_group(c, 3, 1);
    write_range(c, leader, 0, 30);
    int f = (leader + 1) % 3;
    char fdir[512];
    snprintf(fdir, sizeof fdir, "%s", c->nodes[f].dir);
    node_kill(c, f);
    write_range(c, leader, 30, 45);
    node_start(c, f, 0, fdir);
    if (run_until(c, stores_equal, NULL, 10000) < 0) {
        for (int i = 0; i < 3; i++)
            printf("# n%d state %d applied %llu store %llu configs %d last %llu restores %u\n", i + 1,
                   swarm__raft_state(c->nodes[i].raft), (unsigned long long)swarm__raft_last_applied(c->nodes[i].raft),
                   (unsigned long long)swarm__store_index(c->nodes[i].store), count_configs(&c->nodes[i]),
                   (unsigned long long)raft_last_index(swarm__raft_raw(c->nodes[i].raft)), swarm__raft_restores(c->nodes[i].raft));
        CHECK(0);
    }
    CHECK_INT(count_configs(&c->nodes[f]), 45);
    /* And the leader itself restarts: the group survives with its history. */
    node_kill(c, leader);
    char ldir[512];
    snprintf(ldir, sizeof ldir, "%s", c->nodes[leader].dir);
    int nl = leader_of(c, 5000);
    write_range(c, nl, 45, 50);
    node_start(c, leader, 0, ldir);
    CHECK(run_until(c, stores_equal, NULL, 10000) >= 0);
    CHECK_INT(count_configs(&c->nodes[leader]), 50);
    cluster_free(c);
}

static void test_raft__store_dump_restore(void)
{
    struct swarm_store_backend *b1, *b2;
    swarm__store *s1, *s2;
    swarm__err e;
    CHECK(swarm_store_memory_new(&b1) == 0 && swarm__store_open(&s1, b1, &e) == 0);
    CHECK(swarm_store_memory_new(&b2) == 0 && swarm__store_open(&s2, b2, &e) == 0);
    swarm__action a = {SWARM__OP_CREATE, SWARM__KIND_SERVICE,
                       json_pack("{s:s, s:{s:s}}", "ID", "svc1", "Spec", "Name", "web"), 0};
    CHECK_INT(swarm__store_apply(s1, 5, &a, 1, &e), 0);
    json_decref(a.object);
    swarm__action b = {SWARM__OP_CREATE, SWARM__KIND_CONFIG,
                       json_pack("{s:s, s:{s:s}}", "ID", "other", "Spec", "Name", "x"), 0};
    CHECK_INT(swarm__store_apply(s2, 9, &b, 1, &e), 0);
    json_decref(b.object);
    char *d;
    size_t len;
    CHECK_INT(swarm__store_dump(s1, &d, &len, &e), 0);
    CHECK_INT(swarm__store_restore(s2, d, len, 0, &e), 0);
    CHECK_INT(swarm__store_index(s2), 5);
    CHECK(!has_config(&(rnode){.store = s2}, "other"));
    swarm__snap *v;
    CHECK(swarm__snap_begin(s2, &v, &e) == 0);
    json_t *svc = swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "web");
    swarm__snap_end(v);
    CHECK(svc != NULL);
    json_decref(svc);
    CHECK_INT(swarm__store_restore(s2, d, len - 3, 0, &e), SWARM_EINVALID);
    CHECK_INT(swarm__store_restore(s2, "junk", 4, 0, &e), SWARM_EINVALID);
    free(d);
    swarm__store_close(s1);
    swarm__store_close(s2);
}

/* ------------------------------------------------------------ batching */

typedef struct bout {
    int done, rc, calls;
    uint64_t index;
    int seq; /* order in which callbacks ran */
    char msg[SWARM__ERRMSG_MAX];
} bout;

static int bseq;

static void bproposed(void *payload, int rc, const swarm__err *err, uint64_t index)
{
    bout *o = payload;
    o->done = 1;
    o->calls++;
    o->rc = rc;
    o->index = index;
    o->seq = bseq++;
    snprintf(o->msg, sizeof o->msg, "%s", rc && err ? err->message : "");
}

static swarm__action config_action(swarm__op op, const char *id, const char *name, uint64_t expect)
{
    swarm__action a = {op, SWARM__KIND_CONFIG,
                       json_pack("{s:s, s:{s:s}}", "ID", id, "Spec", "Name", name ? name : id), expect};
    return a;
}

/* Proposes a list of actions (consumed); returns propose's rc. */
static int propose_acts(cluster *c, int i, swarm__action *a, size_t n, bout *o)
{
    swarm__err e;
    memset(o, 0, sizeof *o);
    int rc = c->nodes[i].prop->propose(c->nodes[i].prop, a, n, bproposed, o, &e);
    for (size_t k = 0; k < n; k++)
        json_decref(a[k].object);
    return rc;
}

static int propose_one(cluster *c, int i, swarm__op op, const char *id, const char *name, uint64_t expect, bout *o)
{
    swarm__action a = config_action(op, id, name, expect);
    return propose_acts(c, i, &a, 1, o);
}

typedef struct bouts {
    bout *o;
    int n;
} bouts;

static int all_done(cluster *c, void *arg)
{
    (void)c;
    bouts *b = arg;
    for (int i = 0; i < b->n; i++)
        if (!b->o[i].done)
            return 0;
    return 1;
}

static void wait_all(cluster *c, bout *o, int n, int64_t max_ms)
{
    bouts b = {o, n};
    if (run_until(c, all_done, &b, max_ms) < 0)
        test__fail(__FILE__, __LINE__, "%d proposals not all answered", n);
}

static uint64_t last_index(cluster *c, int i)
{
    return raft_last_index(swarm__raft_raw(c->nodes[i].raft));
}

/* Writes "<prefix>-<k>" for k in [0, n), all proposed in one loop iteration; checks they all succeed. */
static void write_burst(cluster *c, int i, const char *prefix, int n)
{
    bout *o = calloc((size_t)n, sizeof *o);
    for (int k = 0; k < n; k++) {
        char id[64];
        snprintf(id, sizeof id, "%s-%04d", prefix, k);
        CHECK_INT(propose_one(c, i, SWARM__OP_CREATE, id, NULL, 0, &o[k]), 0);
    }
    wait_all(c, o, n, 10000);
    for (int k = 0; k < n; k++) {
        if (o[k].rc != 0)
            test__fail(__FILE__, __LINE__, "%s-%04d: rc %d %s", prefix, k, o[k].rc, o[k].msg);
        CHECK_INT(o[k].calls, 1);
        CHECK(o[k].index > 0);
        if (k > 0) {
            CHECK(o[k].index >= o[k - 1].index);
            CHECK_INT(o[k].seq, o[k - 1].seq + 1);
        }
    }
    free(o);
}

static void test_raft__unbatched_proposer(void)
{
    /* swarm__proposer_raft_new: one entry per proposal, handed to libraft inside propose. */
    cluster *c = cluster_new(0, 0);
    c->unbatched = 1;
    int leader = form_group(c, 3, 0);
    uint64_t before = last_index(c, leader);
    bout o[6];
    CHECK_INT(propose_one(c, leader, SWARM__OP_CREATE, "u1", NULL, 0, &o[0]), 0);
    CHECK_INT(propose_one(c, leader, SWARM__OP_CREATE, "u1", NULL, 0, &o[1]), 0);
    CHECK_INT(propose_one(c, leader, SWARM__OP_CREATE, "u2", NULL, 0, &o[2]), 0);
    CHECK_INT(last_index(c, leader), before + 3); /* submitted at once */
    CHECK_INT(o[0].done, 0);
    wait_all(c, o, 3, 5000);
    CHECK_INT(o[0].rc, 0);
    CHECK_INT(o[0].index, before + 1);
    CHECK_INT(o[1].rc, SWARM_EEXISTS);
    CHECK_INT(o[2].rc, 0);
    CHECK_INT(o[2].index, before + 3);
    CHECK_INT(o[2].seq, o[0].seq + 2);
    int follower = (leader + 1) % 3;
    CHECK_INT(propose_one(c, follower, SWARM__OP_CREATE, "u3", NULL, 0, &o[3]), SWARM_ENOTLEADER);
    CHECK(run_until(c, stores_equal, NULL, 5000) >= 0);
    CHECK_INT(count_configs(&c->nodes[follower]), 2);
    cluster_free(c);
}

static void test_raft__batch_one_entry(void)
{
    cluster *c = cluster_new(0, 0);
    node_start(c, 0, 1, NULL);
    CHECK_INT(leader_of(c, 5000), 0);
    write_range(c, 0, 0, 2);
    /* 100 proposals made in one loop iteration: one Raft entry, one index, callbacks in proposal order. */
    uint64_t before = last_index(c, 0);
    bout o[100];
    for (int k = 0; k < 100; k++) {
        char id[32];
        snprintf(id, sizeof id, "b-%03d", k);
        CHECK_INT(propose_one(c, 0, SWARM__OP_CREATE, id, NULL, 0, &o[k]), 0);
        CHECK_INT(o[k].done, 0); /* never inside propose */
    }
    wait_all(c, o, 100, 5000);
    CHECK_INT(last_index(c, 0), before + 1);
    for (int k = 0; k < 100; k++) {
        CHECK_INT(o[k].rc, 0);
        CHECK_INT(o[k].calls, 1);
        CHECK_INT(o[k].index, before + 1);
        CHECK_INT(o[k].seq, o[0].seq + k);
    }
    CHECK_INT(swarm__store_index(c->nodes[0].store), before + 1);
    CHECK_INT(count_configs(&c->nodes[0]), 102);
    /* Every object of the entry carries the entry's index as its version. */
    swarm__snap *v;
    swarm__err e;
    CHECK(swarm__snap_begin(c->nodes[0].store, &v, &e) == 0);
    json_t *obj = swarm__snap_get(v, SWARM__KIND_CONFIG, "b-057");
    swarm__snap_end(v);
    CHECK(obj != NULL);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(obj, "Version"), "Index")), before + 1);
    json_decref(obj);
    cluster_free(c);

    /* With a cap of 8 proposals per entry, 50 proposals make 7 entries, still in order. */
    c = cluster_new(0, 0);
    c->max_batch = 8;
    node_start(c, 0, 1, NULL);
    CHECK_INT(leader_of(c, 5000), 0);
    before = last_index(c, 0);
    bout p[50];
    for (int k = 0; k < 50; k++) {
        char id[32];
        snprintf(id, sizeof id, "c-%03d", k);
        CHECK_INT(propose_one(c, 0, SWARM__OP_CREATE, id, NULL, 0, &p[k]), 0);
    }
    wait_all(c, p, 50, 5000);
    CHECK_INT(last_index(c, 0), before + 7);
    for (int k = 0; k < 50; k++) {
        CHECK_INT(p[k].rc, 0);
        CHECK_INT(p[k].index, before + 1 + (uint64_t)k / 8);
        CHECK_INT(p[k].seq, p[0].seq + k);
    }
    cluster_free(c);
}

static void test_raft__batch_mixed_outcomes(void)
{
    cluster *c = cluster_new(0, 0);
    int leader = form_group(c, 3, 0);
    write_range(c, leader, 0, 1); /* cfg-000 */
    uint64_t v0 = swarm__store_index(c->nodes[leader].store);
    enum { N = 9 };
    bout o[N];
    /* All in one entry: each proposal succeeds or fails on its own, seeing the writes of those before it. */
    CHECK_INT(propose_one(c, leader, SWARM__OP_CREATE, "a", NULL, 0, &o[0]), 0);
    CHECK_INT(propose_one(c, leader, SWARM__OP_CREATE, "a", NULL, 0, &o[1]), 0);         /* exists */
    CHECK_INT(propose_one(c, leader, SWARM__OP_UPDATE, "cfg-000", NULL, v0 + 7, &o[2]), 0); /* stale */
    CHECK_INT(propose_one(c, leader, SWARM__OP_UPDATE, "cfg-000", "renamed", v0, &o[3]), 0);
    CHECK_INT(propose_one(c, leader, SWARM__OP_UPDATE, "cfg-000", NULL, v0, &o[4]), 0); /* now stale */
    {
        /* Two actions: the second fails, so the first (a new name for "a", and "b") must leave no trace. */
        swarm__action two[3] = {config_action(SWARM__OP_UPDATE, "a", "a-new", 0),
                                config_action(SWARM__OP_CREATE, "b", NULL, 0),
                                config_action(SWARM__OP_CREATE, "x", "renamed", 0)};
        CHECK_INT(propose_acts(c, leader, two, 3, &o[5]), 0);
    }
    CHECK_INT(propose_one(c, leader, SWARM__OP_CREATE, "c", "a-new", 0, &o[6]), 0); /* the name is free */
    CHECK_INT(propose_one(c, leader, SWARM__OP_DELETE, "nope", NULL, 0, &o[7]), 0); /* not found */
    CHECK_INT(propose_one(c, leader, SWARM__OP_DELETE, "a", NULL, 0, &o[8]), 0);
    uint64_t before = last_index(c, leader);
    wait_all(c, o, N, 5000);
    CHECK_INT(last_index(c, leader), before + 1);
    int want[N] = {0, SWARM_EEXISTS, SWARM_ECONFLICT, 0, SWARM_ECONFLICT, SWARM_EEXISTS, 0, SWARM_ENOTFOUND, 0};
    for (int k = 0; k < N; k++) {
        if (o[k].rc != want[k])
            test__fail(__FILE__, __LINE__, "proposal %d: rc %d (%s), expected %d", k, o[k].rc, o[k].msg, want[k]);
        CHECK_INT(o[k].calls, 1);
        CHECK_INT(o[k].index, want[k] ? 0 : before + 1);
        CHECK_INT(o[k].seq, o[0].seq + k);
    }
    CHECK_CONTAINS(o[2].msg, "update out of sequence");
    CHECK_CONTAINS(o[5].msg, "name conflicts");
    CHECK(run_until(c, stores_equal, NULL, 5000) >= 0);
    for (int i = 0; i < 3; i++) {
        rnode *n = &c->nodes[i];
        CHECK_INT(swarm__store_index(n->store), before + 1);
        CHECK(!has_config(n, "a"));
        CHECK(!has_config(n, "b"));
        CHECK(!has_config(n, "x"));
        CHECK(has_config(n, "c"));
        swarm__snap *v;
        swarm__err e;
        CHECK(swarm__snap_begin(n->store, &v, &e) == 0);
        json_t *r = swarm__snap_get_by_name(v, SWARM__KIND_CONFIG, "renamed");
        json_t *an = swarm__snap_get_by_name(v, SWARM__KIND_CONFIG, "a-new");
        swarm__snap_end(v);
        CHECK(r != NULL && an != NULL);
        CHECK_STR(json_string_value(json_object_get(r, "ID")), "cfg-000");
        CHECK_STR(json_string_value(json_object_get(an, "ID")), "c");
        json_decref(r);
        json_decref(an);
    }
    cluster_free(c);
}

/* A raw entry on the leader (for payloads our proposer never makes). */
typedef struct raw_apply {
    struct raft_apply req;
    int done, status;
    swarm__raft_outcomes out;
    int rcs[4];
} raw_apply;

static void raw_applied(struct raft_apply *req, int status, void *result)
{
    raw_apply *ra = req->data;
    ra->done = 1;
    ra->status = status;
    if (status == 0) {
        ra->out = *(const swarm__raft_outcomes *)result;
        for (size_t i = 0; i < ra->out.n && i < 4; i++)
            ra->rcs[i] = ra->out.g[i].rc;
    }
}

static int raw_done(cluster *c, void *arg)
{
    (void)c;
    return ((raw_apply *)arg)->done;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void raw_entry(cluster *c, int i, const void *bytes, size_t len, raw_apply *ra)
{
    memset(ra, 0, sizeof *ra);
    ra->req.data = ra;
    void *base = raft_malloc(len);
    memcpy(base, bytes, len);
    struct raft_buffer buf = {base, len};
    CHECK_INT(raft_apply(swarm__raft_raw(c->nodes[i].raft), &ra->req, &buf, 1, raw_applied), 0);
    CHECK(run_until(c, raw_done, ra, 5000) >= 0);
    CHECK_INT(ra->status, 0);
}

static void test_raft__batch_entry_format(void)
{
    cluster *c = cluster_new(0, 0);
    int leader = form_group(c, 3, 0);
    raw_apply ra;
    /* An entry written before batching: a bare action list applies as one proposal. */
    const char *bare = "{\"v\":1,\"a\":[{\"op\":1,\"k\":\"config\",\"o\":{\"ID\":\"bare\"},\"ev\":0}]}";
    raw_entry(c, leader, bare, strlen(bare), &ra);
    CHECK_INT(ra.out.n, 1);
    CHECK_INT(ra.rcs[0], 0);
    CHECK_INT(ra.out.index, swarm__store_index(c->nodes[leader].store));
    /* A batch whose middle proposal does not decode: its neighbours apply, it is rejected on every node. */
    const char *p0 = "{\"v\":1,\"a\":[{\"op\":1,\"k\":\"config\",\"o\":{\"ID\":\"left\"},\"ev\":0}]}";
    const char *p1 = "{\"v\":1,\"a\":[{\"op\":1,\"k\":\"config\"";
    const char *p2 = "{\"v\":1,\"a\":[{\"op\":1,\"k\":\"config\",\"o\":{\"ID\":\"right\"},\"ev\":0}]}";
    const char *parts[3] = {p0, p1, p2};
    unsigned char buf[512];
    memcpy(buf, SWARM__RAFT_BATCH_MAGIC, 4);
    put_le32(buf + 4, 3);
    size_t off = 8;
    for (int k = 0; k < 3; k++) {
        put_le32(buf + off, (uint32_t)strlen(parts[k]));
        memcpy(buf + off + 4, parts[k], strlen(parts[k]));
        off += 4 + strlen(parts[k]);
    }
    raw_entry(c, leader, buf, off, &ra);
    CHECK_INT(ra.out.n, 3);
    CHECK_INT(ra.rcs[0], 0);
    CHECK_INT(ra.rcs[1], SWARM_EINVALID);
    CHECK_INT(ra.rcs[2], 0);
    CHECK_CONTAINS(ra.out.g[1].err.message, "actions:");
    /* A malformed container (lengths past the end): consumes its index, writes nothing. */
    put_le32(buf + 8, 4000);
    uint64_t before = swarm__store_index(c->nodes[leader].store);
    raw_entry(c, leader, buf, off, &ra);
    CHECK_INT(ra.out.n, 0);
    CHECK_INT(swarm__store_index(c->nodes[leader].store), before + 1);
    write_range(c, leader, 0, 2);
    CHECK(run_until(c, stores_equal, NULL, 5000) >= 0);
    for (int i = 0; i < 3; i++) {
        CHECK(has_config(&c->nodes[i], "bare"));
        CHECK(has_config(&c->nodes[i], "left"));
        CHECK(has_config(&c->nodes[i], "right"));
        CHECK_INT(count_configs(&c->nodes[i]), 5);
    }
    cluster_free(c);
}

static void test_raft__batch_leader_lost(void)
{
    cluster *c = cluster_new(0, 0);
    int old = form_group(c, 3, 0);
    write_range(c, old, 0, 5);
    /* A batch in flight on a leader cut off from its group: every proposal's outcome is unknown. */
    partition_node(c, old, 3);
    enum { N = 40 };
    bout o[N];
    for (int k = 0; k < N; k++) {
        char id[32];
        snprintf(id, sizeof id, "lost-%02d", k);
        CHECK_INT(propose_one(c, old, SWARM__OP_CREATE, id, NULL, 0, &o[k]), 0);
    }
    CHECK(run_until(c, majority_leader, &old, 5000) >= 0);
    int nl = -1;
    for (int i = 0; i < 3; i++)
        if (i != old && swarm__raft_state(c->nodes[i].raft) == RAFT_LEADER)
            nl = i;
    write_range(c, nl, 5, 10);
    swarm__mem_network_heal(c->net, NULL, NULL);
    CHECK(run_until(c, single_leader_and_equal, NULL, 15000) >= 0);
    wait_all(c, o, N, 5000);
    for (int k = 0; k < N; k++) {
        CHECK_INT(o[k].rc, SWARM_EUNAVAILABLE);
        CHECK_INT(o[k].calls, 1);
        CHECK_INT(o[k].index, 0);
        CHECK_INT(o[k].seq, o[0].seq + k);
        CHECK_CONTAINS(o[k].msg, "unknown");
    }
    for (int i = 0; i < 3; i++) {
        CHECK(!has_config(&c->nodes[i], "lost-00"));
        CHECK_INT(count_configs(&c->nodes[i]), 10);
    }

    /* Leadership going before the flush: the proposals were never written, and say so. */
    leader_count(c, &nl);
    bout p[5];
    for (int k = 0; k < 5; k++) {
        char id[32];
        snprintf(id, sizeof id, "moved-%d", k);
        CHECK_INT(propose_one(c, nl, SWARM__OP_CREATE, id, NULL, 0, &p[k]), 0);
    }
    /*
     * libraft refuses raft_apply while a leadership transfer runs. (A real
     * raft_transfer would do, but io.c completes libraft's TimeoutNow send,
     * whose callback is NULL, by calling it.) Mark one as running just for
     * the flush.
     */
    struct raft *raw = swarm__raft_raw(c->nodes[nl].raft);
    struct raft_transfer tr;
    memset(&tr, 0, sizeof tr);
    tr.start = raw->io->time(raw->io); /* else libraft's next tick times it out */
    tr.id = 0x7fffffff;                   /* no such server: nothing completes it */
    raw->transfer = &tr;
    swarm__timers_advance(c->timers, 0);
    raw->transfer = NULL;
    wait_all(c, p, 5, 5000);
    for (int k = 0; k < 5; k++) {
        CHECK_INT(p[k].rc, SWARM_ENOTLEADER);
        CHECK_INT(p[k].seq, p[0].seq + k);
    }
    run(c, 3000);
    for (int i = 0; i < 3; i++)
        CHECK(!has_config(&c->nodes[i], "moved-0"));
    cluster_free(c);
}

/* Closes its proposer from inside the callback of proposal `at`. */
typedef struct closer {
    rnode *n;
    int at, calls[6], rcs[6], order[6], next;
} closer;

static closer *the_closer;

static void closing_cb(void *payload, int rc, const swarm__err *err, uint64_t index)
{
    (void)err;
    (void)index;
    int k = (int)(intptr_t)payload;
    closer *cl = the_closer;
    cl->calls[k]++;
    cl->rcs[k] = rc;
    cl->order[k] = cl->next++;
    if (k == cl->at) {
        cl->n->prop->close(cl->n->prop);
        cl->n->prop = NULL;
    }
}

static void test_raft__batch_close(void)
{
    cluster *c = cluster_new(0, 0);
    int leader = form_group(c, 3, 0);
    write_range(c, leader, 0, 3);
    /* Closing with proposals not flushed yet: ECLOSED for each, inside close, in order. */
    bout o[10];
    for (int k = 0; k < 10; k++) {
        char id[32];
        snprintf(id, sizeof id, "unflushed-%d", k);
        CHECK_INT(propose_one(c, leader, SWARM__OP_CREATE, id, NULL, 0, &o[k]), 0);
    }
    rnode *n = &c->nodes[leader];
    n->prop->close(n->prop);
    for (int k = 0; k < 10; k++) {
        CHECK_INT(o[k].calls, 1);
        CHECK_INT(o[k].rc, SWARM_ECLOSED);
        CHECK_INT(o[k].seq, o[0].seq + k);
    }
    swarm__err e;
    swarm__raft_proposer_options po = {c->timers, 0, 0};
    CHECK_INT(swarm__proposer_raft_batched_new(&n->prop, n->raft, &po, &e), 0);
    run(c, 1000);
    for (int k = 0; k < 10; k++)
        CHECK_INT(o[k].calls, 1);

    /* A callback that closes the proposer: the rest of its batch gets ECLOSED, once each. */
    closer cl = {n, 2, {0}, {0}, {0}, 0};
    the_closer = &cl;
    for (int k = 0; k < 6; k++) {
        char id[32];
        snprintf(id, sizeof id, "closer-%d", k);
        swarm__action a = config_action(SWARM__OP_CREATE, id, NULL, 0);
        CHECK_INT(n->prop->propose(n->prop, &a, 1, closing_cb, (void *)(intptr_t)k, &e), 0);
        json_decref(a.object);
    }
    run(c, 1000);
    CHECK(n->prop == NULL);
    for (int k = 0; k < 6; k++) {
        CHECK_INT(cl.calls[k], 1);
        CHECK_INT(cl.order[k], k);
        CHECK_INT(cl.rcs[k], k <= 2 ? 0 : SWARM_ECLOSED);
    }
    /* The entry itself committed: closing only stops the reports. */
    CHECK(has_config(n, "closer-5"));
    CHECK_INT(swarm__proposer_raft_batched_new(&n->prop, n->raft, &po, &e), 0);

    /* Closing while an entry is in flight: ECLOSED now, and nothing later. */
    bout f[4];
    for (int k = 0; k < 4; k++) {
        char id[32];
        snprintf(id, sizeof id, "inflight-%d", k);
        CHECK_INT(propose_one(c, leader, SWARM__OP_CREATE, id, NULL, 0, &f[k]), 0);
    }
    swarm__timers_advance(c->timers, 0); /* the flush: submitted, not committed yet */
    CHECK_INT(f[0].done, 0);
    n->prop->close(n->prop);
    for (int k = 0; k < 4; k++)
        CHECK_INT(f[k].rc, SWARM_ECLOSED);
    CHECK_INT(swarm__proposer_raft_batched_new(&n->prop, n->raft, &po, &e), 0);
    run(c, 1000);
    for (int k = 0; k < 4; k++)
        CHECK_INT(f[k].calls, 1);
    cluster_free(c);
}

static void test_raft__batch_replicate_restart(void)
{
    /* Three durable voters with snapshots; batches replicate, then everyone restarts from LMDB. */
    cluster *c = cluster_new(16, 8);
    int leader = form_group(c, 3, 1);
    for (int r = 0; r < 6; r++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "r%d", r);
        write_burst(c, leader, prefix, 100);
    }
    write_range(c, leader, 0, 20); /* single proposals too: more entries than the snapshot threshold */
    CHECK(run_until(c, stores_equal, NULL, 5000) >= 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(count_configs(&c->nodes[i]), 620);
    /* A follower restarts and catches up with batches it missed. */
    int f = (leader + 1) % 3;
    char dirs[3][512];
    for (int i = 0; i < 3; i++)
        snprintf(dirs[i], sizeof dirs[i], "%s", c->nodes[i].dir);
    node_kill(c, f);
    write_burst(c, leader, "gap", 150);
    node_start(c, f, 0, dirs[f]);
    CHECK(run_until(c, stores_equal, NULL, 10000) >= 0);
    CHECK_INT(count_configs(&c->nodes[f]), 770);
    /* Everyone stops; the group comes back from disk alone, each store rebuilt from snapshot + log. */
    for (int i = 0; i < 3; i++)
        node_kill(c, i);
    for (int i = 0; i < 3; i++)
        node_start(c, i, 0, dirs[i]);
    int nl = leader_of(c, 10000);
    write_burst(c, nl, "after", 30);
    CHECK(run_until(c, stores_equal, NULL, 10000) >= 0);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(count_configs(&c->nodes[i]), 800);
        CHECK_INT(swarm__store_index(c->nodes[i].store), swarm__raft_last_applied(c->nodes[i].raft));
    }
    cluster_free(c);
}

/* The store side of a batch: one transaction, outcomes per group, rejected groups rolled back (indexes too). */
static void check_apply_groups(swarm__store *s)
{
    swarm__err e;
    swarm__action svc = {SWARM__OP_CREATE, SWARM__KIND_SERVICE,
                         json_pack("{s:s, s:{s:s}}", "ID", "s1", "Spec", "Name", "web"), 0};
    swarm__action rename_ = {SWARM__OP_UPDATE, SWARM__KIND_SERVICE,
                             json_pack("{s:s, s:{s:s}}", "ID", "s1", "Spec", "Name", "api"), 0};
    swarm__action dup = {SWARM__OP_CREATE, SWARM__KIND_SERVICE,
                         json_pack("{s:s, s:{s:s}}", "ID", "s1", "Spec", "Name", "other"), 0};
    swarm__action api = {SWARM__OP_CREATE, SWARM__KIND_SERVICE,
                         json_pack("{s:s, s:{s:s}}", "ID", "s2", "Spec", "Name", "API"), 0};
    swarm__action task = {SWARM__OP_CREATE, SWARM__KIND_TASK,
                          json_pack("{s:s, s:s, s:s}", "ID", "t1", "ServiceID", "s1", "NodeID", "n1"), 0};
    swarm__action g1[1] = {svc}, g2[3] = {rename_, task, dup}, g3[1] = {api};
    swarm__store_group g[4] = {{g1, 1, 0, {0, ""}}, {g2, 3, 0, {0, ""}}, {g3, 1, 0, {0, ""}}, {NULL, 0, 0, {0, ""}}};
    CHECK_INT(swarm__store_apply_groups(s, 4, g, 4, &e), 0);
    CHECK_INT(g[0].rc, 0);
    CHECK_INT(g[1].rc, SWARM_EEXISTS);
    CHECK_INT(g[2].rc, 0); /* "api" was freed again by the rollback */
    CHECK_INT(g[3].rc, 0);
    CHECK_INT(swarm__store_index(s), 4);
    swarm__snap *v;
    CHECK(swarm__snap_begin(s, &v, &e) == 0);
    json_t *web = swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "web");
    json_t *t = swarm__snap_get(v, SWARM__KIND_TASK, "t1");
    json_t *tasks = NULL;
    CHECK(swarm__snap_list(v, SWARM__KIND_TASK, "service", "s1", &tasks, &e) == 0);
    json_t *s2 = swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "api");
    swarm__snap_end(v);
    CHECK(web != NULL && t == NULL && s2 != NULL);
    CHECK_INT(json_array_size(tasks), 0);
    CHECK_STR(json_string_value(json_object_get(s2, "ID")), "s2");
    json_decref(web);
    json_decref(s2);
    json_decref(tasks);
    /* A replay is a no-op. */
    CHECK_INT(swarm__store_apply_groups(s, 4, g, 1, &e), 0);
    CHECK_INT(swarm__store_index(s), 4);
    for (int i = 0; i < 3; i++)
        json_decref(g1[0].object), g1[0].object = NULL;
    json_decref(rename_.object);
    json_decref(dup.object);
    json_decref(api.object);
    json_decref(task.object);
}

static void test_raft__store_apply_groups(void)
{
    struct swarm_store_backend *b;
    swarm__store *s;
    swarm__err e;
    CHECK(swarm_store_memory_new(&b) == 0 && swarm__store_open(&s, b, &e) == 0);
    check_apply_groups(s);
    swarm__store_close(s);
    CHECK(swarm_store_lmdb_new(&b, test_tmpdir()) == 0 && swarm__store_open(&s, b, &e) == 0);
    check_apply_groups(s);
    swarm__store_close(s);
}

TEST_MAIN(TEST(test_raft__store_dump_restore), TEST(test_raft__single_voter_applies),
          TEST(test_raft__three_voters_replicate), TEST(test_raft__leader_killed_failover),
          TEST(test_raft__partitioned_leader), TEST(test_raft__snapshot_catch_up),
          TEST(test_raft__restart_from_disk), TEST(test_raft__store_apply_groups),
          TEST(test_raft__unbatched_proposer), TEST(test_raft__batch_one_entry), TEST(test_raft__batch_mixed_outcomes),
          TEST(test_raft__batch_entry_format), TEST(test_raft__batch_leader_lost), TEST(test_raft__batch_close),
          TEST(test_raft__batch_replicate_restart))

#include "raftgroup.h"

#include "transport/host.h"

#include "proto/proto.h"
#include "raft/io.h"
#include "test.h"

#include <event2/event.h>
#include <jansson.h>
#include <time.h>

#define START_WALL_NS 1796061956000000000LL

typedef struct rnode {
    swarm__host_loop loop; /* first: the transport's loop services (transport/host.h) */
    raftgroup *g;
    char name[16];
    struct swarm_transport_backend *t;
    swarm__store *store;
    swarm__raft *raft;
    swarm__proposer *prop;
    char dir[512]; /* "" = volatile raft storage */
    int alive;
} rnode;

struct raftgroup {
    raftgroup_options o;
    struct event_base *base;
    swarm__timers *timers;
    const swarm__clock *clock;
    swarm__mem_network *net;
    rnode *nodes;
};

static uint64_t process_seed(void)
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

static rnode *node_at(raftgroup *g, int i)
{
    if (i < 0 || i >= g->o.nodes)
        test__fail(__FILE__, __LINE__, "no node %d in a group of %d", i, g->o.nodes);
    return &g->nodes[i];
}

/* ------------------------------------------------------------ transport host */

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
    if (n->g->o.link_down != NULL)
        n->g->o.link_down(n->g->o.hook_payload, (int)(n - n->g->nodes), link);
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

/* ------------------------------------------------------------ virtual time */

static void drain(raftgroup *g)
{
    for (int i = 0; i < 1000000; i++) {
        if (event_base_get_num_events(g->base, EVENT_BASE_COUNT_ACTIVE) == 0)
            return;
        event_base_loop(g->base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
    }
}

int64_t raftgroup_now_ms(raftgroup *g)
{
    return g->clock->mono_ns(g->clock->data) / 1000000;
}

void raftgroup_run(raftgroup *g, int64_t ms)
{
    int64_t left = ms;
    drain(g);
    while (left > 0) {
        int64_t next = swarm__timers_next_ms(g->timers);
        int64_t step = next < 0 || next > left ? left : next;
        swarm__timers_advance(g->timers, step);
        drain(g);
        left -= step;
    }
}

int64_t raftgroup_run_until(raftgroup *g, int (*cond)(raftgroup *, void *), void *arg, int64_t max_ms)
{
    int64_t start = raftgroup_now_ms(g);
    drain(g);
    while (!cond(g, arg)) {
        if (raftgroup_now_ms(g) - start >= max_ms)
            return -1;
        int64_t next = swarm__timers_next_ms(g->timers);
        swarm__timers_advance(g->timers, next < 0 || next > 10 ? 10 : next);
        drain(g);
    }
    return raftgroup_now_ms(g) - start;
}

/* ------------------------------------------------------------ nodes */

raftgroup *raftgroup_new(const raftgroup_options *o, uint64_t seed)
{
    raftgroup *g = calloc(1, sizeof *g);
    CHECK(g != NULL);
    if (o != NULL)
        g->o = *o;
    if (g->o.nodes <= 0)
        g->o.nodes = 3;
    if (seed == 0)
        seed = process_seed();
    g->nodes = calloc((size_t)g->o.nodes, sizeof *g->nodes);
    CHECK(g->nodes != NULL);
    g->base = event_base_new();
    g->timers = swarm__timers_virtual(START_WALL_NS, seed);
    g->clock = swarm__timers_clock(g->timers);
    CHECK(swarm__mem_network_new(&g->net) == 0);
    swarm__mem_network_set_seed(g->net, seed);
    for (int i = 0; i < g->o.nodes; i++) {
        g->nodes[i].g = g;
        snprintf(g->nodes[i].name, sizeof g->nodes[i].name, "n%d", i + 1);
    }
    return g;
}

void raftgroup_start(raftgroup *g, int i, int mode, const char *dir)
{
    rnode *n = node_at(g, i);
    swarm__err e = {0, ""};
    if (dir != NULL)
        snprintf(n->dir, sizeof n->dir, "%s", dir);
    CHECK(swarm__transport_mem_new(&n->t, g->net, n->name) == 0);
    if (g->o.wrap != NULL)
        n->t = g->o.wrap(g->o.hook_payload, i, n->t);
    CHECK(swarm__host_loop_init(&n->loop, g->base, g->timers, NULL) == 0);
    swarm_transport_host th = swarm__host_loop_host(n, on_link_up, on_link_down, on_receive);
    CHECK(n->t->open(n->t, &th) == 0);
    CHECK(n->t->listen(n->t, n->name) == 0);
    struct swarm_store_backend *b;
    CHECK(swarm_store_memory_new(&b) == 0);
    CHECK(swarm__store_open(&n->store, b, &e) == 0);
    swarm__raft_options ro = {0};
    ro.id = (uint64_t)i + 1;
    ro.address = n->name;
    ro.dir = n->dir[0] ? n->dir : NULL;
    ro.timers = g->timers;
    ro.clock = g->clock;
    ro.transport = n->t;
    ro.store = n->store;
    ro.snapshot_threshold = g->o.snapshot_threshold;
    ro.snapshot_trailing = g->o.snapshot_trailing;
    if (swarm__raft_new(&n->raft, &ro, &e) != 0)
        test__fail(__FILE__, __LINE__, "raft_new: %s", e.message);
    struct raft *raw = swarm__raft_raw(n->raft);
    swarm__raft_io_set_chunk_size(raw->io, g->o.chunk_size);
    swarm__raft_io_set_reassembly_timeout(raw->io, g->o.reassembly_ms);
    if (g->o.install_timeout_ms)
        raft_set_install_snapshot_timeout(raw, g->o.install_timeout_ms);
    if (mode == RAFTGROUP_BOOTSTRAP)
        CHECK(swarm__raft_bootstrap(n->raft, &e) == 0);
    if (mode == RAFTGROUP_RESTART) /* state exists */
        CHECK_INT(swarm__raft_bootstrap(n->raft, &e), SWARM_EEXISTS);
    if (swarm__raft_start(n->raft, &e) != 0)
        test__fail(__FILE__, __LINE__, "raft_start: %s", e.message);
    swarm__raft_proposer_options po = {g->timers, g->o.max_batch, 0};
    if (g->o.unbatched)
        CHECK(swarm__proposer_raft_new(&n->prop, n->raft, &e) == 0);
    else
        CHECK(swarm__proposer_raft_batched_new(&n->prop, n->raft, &po, &e) == 0);
    n->alive = 1;
}

void raftgroup_kill(raftgroup *g, int i)
{
    rnode *n = node_at(g, i);
    if (!n->alive)
        return;
    n->alive = 0;
    if (n->prop != NULL)
        n->prop->close(n->prop);
    n->prop = NULL;
    swarm__raft_free(n->raft);
    n->raft = NULL;
    n->t->close(n->t);
    n->t->free(n->t);
    n->t = NULL;
    swarm__host_loop_close(&n->loop);
    swarm__store_close(n->store);
    n->store = NULL;
    drain(g);
}

void raftgroup_free(raftgroup *g)
{
    if (g == NULL)
        return;
    for (int i = 0; i < g->o.nodes; i++)
        raftgroup_kill(g, i);
    raftgroup_run(g, 10000); /* pending deliveries and redial timers of the dead run out */
    swarm__mem_network_free(g->net);
    swarm__timers_free(g->timers);
    event_base_free(g->base);
    free(g->nodes);
    free(g);
}

/* ------------------------------------------------------------ leaders and membership */

int raftgroup_leader_count(raftgroup *g, int *which)
{
    int count = 0;
    for (int i = 0; i < g->o.nodes; i++)
        if (g->nodes[i].alive && swarm__raft_state(g->nodes[i].raft) == RAFT_LEADER) {
            count++;
            if (which)
                *which = i;
        }
    return count;
}

int raftgroup_has_leader(raftgroup *g, void *arg)
{
    (void)arg;
    return raftgroup_leader_count(g, NULL) == 1;
}

int raftgroup_leader(raftgroup *g, int64_t max_ms)
{
    int which = -1;
    if (raftgroup_run_until(g, raftgroup_has_leader, NULL, max_ms) < 0)
        test__fail(__FILE__, __LINE__, "no single leader within %" PRId64 " ms", max_ms);
    raftgroup_leader_count(g, &which);
    return which;
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

static int change_done(raftgroup *g, void *arg)
{
    (void)g;
    return ((change_outcome *)arg)->done;
}

void raftgroup_add_voter(raftgroup *g, int leader, int i, int64_t max_ms)
{
    change_outcome o = {0, 0};
    swarm__err e;
    rnode *n = node_at(g, i);
    if (swarm__raft_add_voter(node_at(g, leader)->raft, (uint64_t)i + 1, n->name, changed, &o, &e) != 0)
        test__fail(__FILE__, __LINE__, "add_voter: %s", e.message);
    if (raftgroup_run_until(g, change_done, &o, max_ms) < 0)
        test__fail(__FILE__, __LINE__, "adding n%d did not finish", i + 1);
    CHECK_INT(o.rc, 0);
}

int raftgroup_form(raftgroup *g, int n, int durable)
{
    for (int i = 0; i < n; i++)
        raftgroup_start(g, i, i == 0 ? RAFTGROUP_BOOTSTRAP : RAFTGROUP_JOIN, durable ? test_tmpdir() : NULL);
    int leader = raftgroup_leader(g, 5000);
    CHECK_INT(leader, 0);
    for (int i = 1; i < n; i++)
        raftgroup_add_voter(g, leader, i, 20000);
    return leader;
}

void raftgroup_partition(raftgroup *g, int i)
{
    rnode *n = node_at(g, i);
    for (int j = 0; j < g->o.nodes; j++)
        if (j != i) {
            CHECK(swarm__mem_network_partition(g->net, n->name, g->nodes[j].name) == 0);
            CHECK(swarm__mem_network_partition(g->net, g->nodes[j].name, n->name) == 0);
        }
}

/* ------------------------------------------------------------ writes */

static void proposed(void *payload, int rc, const swarm__err *err, uint64_t index)
{
    (void)err;
    raftgroup_outcome *o = payload;
    o->done = 1;
    o->rc = rc;
    o->index = index;
}

int raftgroup_outcome_done(raftgroup *g, void *arg)
{
    (void)g;
    return ((raftgroup_outcome *)arg)->done;
}

int raftgroup_propose_config(raftgroup *g, int i, const char *id, const char *data, raftgroup_outcome *o)
{
    json_t *obj = data ? json_pack("{s:s, s:{s:s, s:s}}", "ID", id, "Spec", "Name", id, "Data", data)
                       : json_pack("{s:s, s:{s:s}}", "ID", id, "Spec", "Name", id);
    swarm__action a = {SWARM__OP_CREATE, SWARM__KIND_CONFIG, obj, 0};
    swarm__err e;
    rnode *n = node_at(g, i);
    memset(o, 0, sizeof *o);
    int rc = n->prop->propose(n->prop, &a, 1, proposed, o, &e);
    json_decref(a.object);
    return rc;
}

void raftgroup_write_range(raftgroup *g, int i, int from, int to, size_t pad)
{
    char *data = NULL;
    if (pad > 0) {
        data = malloc(pad + 1);
        CHECK(data != NULL);
    }
    for (int k = from; k < to; k++) {
        char id[32];
        raftgroup_outcome o;
        snprintf(id, sizeof id, "cfg-%03d", k);
        for (size_t j = 0; j < pad; j++)
            data[j] = (char)('a' + (j * 7 + (size_t)k) % 26);
        if (data != NULL)
            data[pad] = '\0';
        CHECK_INT(raftgroup_propose_config(g, i, id, data, &o), 0);
        if (raftgroup_run_until(g, raftgroup_outcome_done, &o, 5000) < 0)
            test__fail(__FILE__, __LINE__, "write %s not acknowledged", id);
        CHECK_INT(o.rc, 0);
        CHECK(o.index > 0);
        CHECK_INT(o.index, swarm__store_index(node_at(g, i)->store));
    }
    free(data);
}

int raftgroup_stores_equal(raftgroup *g, void *arg)
{
    (void)arg;
    char *ref = NULL;
    size_t ref_len = 0;
    int same = 1;
    for (int i = 0; i < g->o.nodes && same; i++) {
        rnode *n = &g->nodes[i];
        if (!n->alive)
            continue;
        char *d;
        size_t len;
        swarm__err e;
        if (swarm__store_dump(n->store, &d, &len, &e) != 0) {
            free(ref);
            return 0;
        }
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

/* ------------------------------------------------------------ parts */

swarm__raft *raftgroup_raft(raftgroup *g, int i)
{
    return node_at(g, i)->raft;
}

swarm__store *raftgroup_store(raftgroup *g, int i)
{
    return node_at(g, i)->store;
}

swarm__proposer **raftgroup_proposer(raftgroup *g, int i)
{
    return &node_at(g, i)->prop;
}

int raftgroup_alive(raftgroup *g, int i)
{
    return node_at(g, i)->alive;
}

const char *raftgroup_name(raftgroup *g, int i)
{
    return node_at(g, i)->name;
}

const char *raftgroup_dir(raftgroup *g, int i)
{
    return node_at(g, i)->dir;
}

swarm__timers *raftgroup_timers(raftgroup *g)
{
    return g->timers;
}

swarm__mem_network *raftgroup_net(raftgroup *g)
{
    return g->net;
}

/*
 * Raft groups on libraft 0.15 through our raft_io (lib/raft/io.c), our FSM and
 * the Raft proposer: several nodes in one thread, on the in-memory transport
 * and virtual timers (test/lib/raftgroup.c). Set RAFT_SEED to replay a run.
 */
#include "test.h"

#include "proto/proto.h"
#include "raftgroup.h"

static int has_config(swarm__store *s, const char *id)
{
    swarm__snap *v;
    swarm__err e;
    if (swarm__snap_begin(s, &v, &e) != 0)
        return 0;
    json_t *obj = swarm__snap_get(v, SWARM__KIND_CONFIG, id);
    swarm__snap_end(v);
    json_decref(obj);
    return obj != NULL;
}

static int count_configs(swarm__store *s)
{
    swarm__snap *v;
    swarm__err e;
    json_t *list = NULL;
    CHECK(swarm__snap_begin(s, &v, &e) == 0);
    CHECK(swarm__snap_list(v, SWARM__KIND_CONFIG, NULL, NULL, &list, &e) == 0);
    swarm__snap_end(v);
    int k = (int)json_array_size(list);
    json_decref(list);
    return k;
}

/* ------------------------------------------------------------ tests */

static void test_raft__single_voter_applies(void)
{
    raftgroup *g = raftgroup_new(NULL, 0);
    raftgroup_start(g, 0, RAFTGROUP_BOOTSTRAP, NULL);
    int64_t t = raftgroup_run_until(g, raftgroup_has_leader, NULL, 5000);
    CHECK(t >= 0);
    raftgroup_write_range(g, 0, 0, 10, 0);
    CHECK_INT(count_configs(raftgroup_store(g, 0)), 10);
    /* A deterministic rejection comes back through the callback; the index is consumed. */
    raftgroup_outcome o;
    CHECK_INT(raftgroup_propose_config(g, 0, "cfg-003", NULL, &o), 0);
    CHECK(raftgroup_run_until(g, raftgroup_outcome_done, &o, 5000) >= 0);
    CHECK_INT(o.rc, SWARM_EEXISTS);
    CHECK_INT(swarm__store_index(raftgroup_store(g, 0)), swarm__raft_last_applied(raftgroup_raft(g, 0)));
    raftgroup_write_range(g, 0, 10, 11, 0);
    CHECK_INT(count_configs(raftgroup_store(g, 0)), 11);
    raftgroup_free(g);
}

static void test_raft__three_voters_replicate(void)
{
    raftgroup *g = raftgroup_new(NULL, 0);
    int leader = raftgroup_form(g, 3, 0);
    raftgroup_run(g, 3000);
    CHECK_INT(raftgroup_leader_count(g, &leader), 1);
    raftgroup_write_range(g, leader, 0, 50, 0);
    CHECK(raftgroup_run_until(g, raftgroup_stores_equal, NULL, 5000) >= 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(count_configs(raftgroup_store(g, i)), 50);
    /* Followers refuse proposals at once. */
    int follower = (leader + 1) % 3;
    raftgroup_outcome o;
    CHECK_INT(raftgroup_propose_config(g, follower, "nope", NULL, &o), SWARM_ENOTLEADER);
    CHECK_INT(o.done, 0);
    raftgroup_free(g);
}

static int new_leader_besides(raftgroup *g, void *arg)
{
    int old = *(int *)arg, which = -1;
    return raftgroup_leader_count(g, &which) == 1 && which != old;
}

static void test_raft__leader_killed_failover(void)
{
    raftgroup *g = raftgroup_new(NULL, 0);
    int leader = raftgroup_form(g, 3, 0);
    raftgroup_write_range(g, leader, 0, 20, 0);
    raftgroup_kill(g, leader);
    int64_t t = raftgroup_run_until(g, new_leader_besides, &leader, 8000);
    CHECK(t >= 0);
    printf("# new leader after %" PRId64 " virtual ms\n", t);
    int nl = -1;
    raftgroup_leader_count(g, &nl);
    /*
     * A libraft 0.15 leader appends no entry of its own at election, so the
     * survivors apply the old leader's last entries once a new entry commits.
     */
    raftgroup_write_range(g, nl, 20, 30, 0);
    CHECK(raftgroup_run_until(g, raftgroup_stores_equal, NULL, 5000) >= 0);
    for (int i = 0; i < 3; i++) {
        if (!raftgroup_alive(g, i))
            continue;
        for (int k = 0; k < 30; k++) {
            char id[32];
            snprintf(id, sizeof id, "cfg-%03d", k);
            CHECK(has_config(raftgroup_store(g, i), id));
        }
    }
    raftgroup_free(g);
}

static int majority_leader(raftgroup *g, void *arg)
{
    int old = *(int *)arg;
    for (int i = 0; i < 3; i++)
        if (i != old && raftgroup_alive(g, i) && swarm__raft_state(raftgroup_raft(g, i)) == RAFT_LEADER)
            return 1;
    return 0;
}

static int single_leader_and_equal(raftgroup *g, void *arg)
{
    return raftgroup_leader_count(g, NULL) == 1 && raftgroup_stores_equal(g, arg);
}

static void test_raft__partitioned_leader(void)
{
    raftgroup *g = raftgroup_new(NULL, 0);
    int old = raftgroup_form(g, 3, 0);
    raftgroup_write_range(g, old, 0, 10, 0);
    raftgroup_partition(g, old);
    /* The isolated leader takes the proposal but can never commit it. */
    raftgroup_outcome stale;
    CHECK_INT(raftgroup_propose_config(g, old, "stale", NULL, &stale), 0);
    int64_t t = raftgroup_run_until(g, majority_leader, &old, 5000);
    CHECK(t >= 0);
    int nl = -1;
    for (int i = 0; i < 3; i++)
        if (i != old && swarm__raft_state(raftgroup_raft(g, i)) == RAFT_LEADER)
            nl = i;
    raftgroup_write_range(g, nl, 10, 20, 0);
    raftgroup_run(g, 3000);
    CHECK(!has_config(raftgroup_store(g, old), "stale"));
    CHECK(!stale.done || stale.rc != 0);
    CHECK(!has_config(raftgroup_store(g, old), "cfg-015"));
    swarm__mem_network_heal(raftgroup_net(g), NULL, NULL);
    CHECK(raftgroup_run_until(g, single_leader_and_equal, NULL, 15000) >= 0);
    /* The stale write was dropped: its outcome was "unknown", and it is indeed absent everywhere. */
    CHECK(stale.done);
    CHECK_INT(stale.rc, SWARM_EUNAVAILABLE);
    for (int i = 0; i < 3; i++) {
        CHECK(!has_config(raftgroup_store(g, i), "stale"));
        CHECK_INT(count_configs(raftgroup_store(g, i)), 20);
    }
    raftgroup_free(g);
}

static void test_raft__snapshot_catch_up(void)
{
    raftgroup *g = raftgroup_new(&(raftgroup_options){.snapshot_threshold = 8, .snapshot_trailing = 4}, 0);
    raftgroup_start(g, 0, RAFTGROUP_BOOTSTRAP, NULL);
    CHECK_INT(raftgroup_leader(g, 5000), 0);
    raftgroup_write_range(g, 0, 0, 40, 0);
    /* A fresh node joins long after the log was compacted: it gets an InstallSnapshot. */
    raftgroup_start(g, 1, RAFTGROUP_JOIN, NULL);
    raftgroup_add_voter(g, 0, 1, 20000);
    CHECK(raftgroup_run_until(g, raftgroup_stores_equal, NULL, 5000) >= 0);
    CHECK(swarm__raft_restores(raftgroup_raft(g, 1)) >= 1);
    CHECK_INT(count_configs(raftgroup_store(g, 1)), 40);
    /* A lagging follower (down while the log moved on and was compacted) catches up too. */
    raftgroup_start(g, 2, RAFTGROUP_JOIN, NULL);
    raftgroup_add_voter(g, 0, 2, 20000);
    raftgroup_kill(g, 2);
    raftgroup_write_range(g, 0, 40, 80, 0);
    raftgroup_start(g, 2, RAFTGROUP_JOIN, NULL);
    CHECK(raftgroup_run_until(g, raftgroup_stores_equal, NULL, 10000) >= 0);
    CHECK(swarm__raft_restores(raftgroup_raft(g, 2)) >= 1);
    CHECK_INT(count_configs(raftgroup_store(g, 2)), 80);
    raftgroup_write_range(g, 0, 80, 85, 0);
    CHECK(raftgroup_run_until(g, raftgroup_stores_equal, NULL, 5000) >= 0);
    raftgroup_free(g);
}

static int applied_at_least(raftgroup *g, void *arg)
{
    int i = *(int *)arg;
    return raftgroup_alive(g, i) && swarm__store_index(raftgroup_store(g, i)) >= 1 &&
           count_configs(raftgroup_store(g, i)) > 0 && swarm__raft_state(raftgroup_raft(g, i)) == RAFT_LEADER;
}

static void test_raft__restart_from_disk(void)
{
    /* One voter: after a restart the log comes back from LMDB alone and replays into a fresh store. */
    raftgroup *g = raftgroup_new(NULL, 0);
    int zero = 0;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    raftgroup_start(g, 0, RAFTGROUP_BOOTSTRAP, dir);
    CHECK_INT(raftgroup_leader(g, 5000), 0);
    raftgroup_write_range(g, 0, 0, 7, 0);
    raftgroup_kill(g, 0);
    raftgroup_start(g, 0, RAFTGROUP_RESTART, dir);
    CHECK(raftgroup_run_until(g, applied_at_least, &zero, 5000) >= 0);
    raftgroup_run(g, 500);
    CHECK_INT(count_configs(raftgroup_store(g, 0)), 7);
    raftgroup_write_range(g, 0, 7, 9, 0);
    raftgroup_free(g);

    /* Three durable voters, with snapshots: a follower restarts from its directory and catches up. */
    g = raftgroup_new(&(raftgroup_options){.snapshot_threshold = 16, .snapshot_trailing = 8}, 0);
    int leader = raftgroup_form(g, 3, 1);
    raftgroup_write_range(g, leader, 0, 30, 0);
    int f = (leader + 1) % 3;
    char fdir[512];
    snprintf(fdir, sizeof fdir, "%s", raftgroup_dir(g, f));
    raftgroup_kill(g, f);
    raftgroup_write_range(g, leader, 30, 45, 0);
    raftgroup_start(g, f, RAFTGROUP_JOIN, fdir);
    if (raftgroup_run_until(g, raftgroup_stores_equal, NULL, 10000) < 0) {
        for (int i = 0; i < 3; i++) {
            swarm__raft *r = raftgroup_raft(g, i);
            swarm__store *s = raftgroup_store(g, i);
            printf("# n%d state %d applied %llu store %llu configs %d last %llu restores %u\n", i + 1,
                   swarm__raft_state(r), (unsigned long long)swarm__raft_last_applied(r),
                   (unsigned long long)swarm__store_index(s), count_configs(s),
                   (unsigned long long)raft_last_index(swarm__raft_raw(r)), swarm__raft_restores(r));
        }
        CHECK(0);
    }
    CHECK_INT(count_configs(raftgroup_store(g, f)), 45);
    /* And the leader itself restarts: the group survives with its history. */
    raftgroup_kill(g, leader);
    char ldir[512];
    snprintf(ldir, sizeof ldir, "%s", raftgroup_dir(g, leader));
    int nl = raftgroup_leader(g, 5000);
    raftgroup_write_range(g, nl, 45, 50, 0);
    raftgroup_start(g, leader, RAFTGROUP_JOIN, ldir);
    CHECK(raftgroup_run_until(g, raftgroup_stores_equal, NULL, 10000) >= 0);
    CHECK_INT(count_configs(raftgroup_store(g, leader)), 50);
    raftgroup_free(g);
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
    CHECK(!has_config(s2, "other"));
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
static int propose_acts(raftgroup *g, int i, swarm__action *a, size_t n, bout *o)
{
    swarm__err e;
    memset(o, 0, sizeof *o);
    swarm__proposer *p = *raftgroup_proposer(g, i);
    int rc = p->propose(p, a, n, bproposed, o, &e);
    for (size_t k = 0; k < n; k++)
        json_decref(a[k].object);
    return rc;
}

static int propose_one(raftgroup *g, int i, swarm__op op, const char *id, const char *name, uint64_t expect, bout *o)
{
    swarm__action a = config_action(op, id, name, expect);
    return propose_acts(g, i, &a, 1, o);
}

typedef struct bouts {
    bout *o;
    int n;
} bouts;

static int all_done(raftgroup *g, void *arg)
{
    (void)g;
    bouts *b = arg;
    for (int i = 0; i < b->n; i++)
        if (!b->o[i].done)
            return 0;
    return 1;
}

static void wait_all(raftgroup *g, bout *o, int n, int64_t max_ms)
{
    bouts b = {o, n};
    if (raftgroup_run_until(g, all_done, &b, max_ms) < 0)
        test__fail(__FILE__, __LINE__, "%d proposals not all answered", n);
}

static uint64_t last_index(raftgroup *g, int i)
{
    return raft_last_index(swarm__raft_raw(raftgroup_raft(g, i)));
}

/* Writes "<prefix>-<k>" for k in [0, n), all proposed in one loop iteration; checks they all succeed. */
static void write_burst(raftgroup *g, int i, const char *prefix, int n)
{
    bout *o = calloc((size_t)n, sizeof *o);
    for (int k = 0; k < n; k++) {
        char id[64];
        snprintf(id, sizeof id, "%s-%04d", prefix, k);
        CHECK_INT(propose_one(g, i, SWARM__OP_CREATE, id, NULL, 0, &o[k]), 0);
    }
    wait_all(g, o, n, 10000);
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
    raftgroup *g = raftgroup_new(&(raftgroup_options){.unbatched = 1}, 0);
    int leader = raftgroup_form(g, 3, 0);
    uint64_t before = last_index(g, leader);
    bout o[6];
    CHECK_INT(propose_one(g, leader, SWARM__OP_CREATE, "u1", NULL, 0, &o[0]), 0);
    CHECK_INT(propose_one(g, leader, SWARM__OP_CREATE, "u1", NULL, 0, &o[1]), 0);
    CHECK_INT(propose_one(g, leader, SWARM__OP_CREATE, "u2", NULL, 0, &o[2]), 0);
    CHECK_INT(last_index(g, leader), before + 3); /* submitted at once */
    CHECK_INT(o[0].done, 0);
    wait_all(g, o, 3, 5000);
    CHECK_INT(o[0].rc, 0);
    CHECK_INT(o[0].index, before + 1);
    CHECK_INT(o[1].rc, SWARM_EEXISTS);
    CHECK_INT(o[2].rc, 0);
    CHECK_INT(o[2].index, before + 3);
    CHECK_INT(o[2].seq, o[0].seq + 2);
    int follower = (leader + 1) % 3;
    CHECK_INT(propose_one(g, follower, SWARM__OP_CREATE, "u3", NULL, 0, &o[3]), SWARM_ENOTLEADER);
    CHECK(raftgroup_run_until(g, raftgroup_stores_equal, NULL, 5000) >= 0);
    CHECK_INT(count_configs(raftgroup_store(g, follower)), 2);
    raftgroup_free(g);
}

static void test_raft__batch_one_entry(void)
{
    raftgroup *g = raftgroup_new(NULL, 0);
    raftgroup_start(g, 0, RAFTGROUP_BOOTSTRAP, NULL);
    CHECK_INT(raftgroup_leader(g, 5000), 0);
    raftgroup_write_range(g, 0, 0, 2, 0);
    /* 100 proposals made in one loop iteration: one Raft entry, one index, callbacks in proposal order. */
    uint64_t before = last_index(g, 0);
    bout o[100];
    for (int k = 0; k < 100; k++) {
        char id[32];
        snprintf(id, sizeof id, "b-%03d", k);
        CHECK_INT(propose_one(g, 0, SWARM__OP_CREATE, id, NULL, 0, &o[k]), 0);
        CHECK_INT(o[k].done, 0); /* never inside propose */
    }
    wait_all(g, o, 100, 5000);
    CHECK_INT(last_index(g, 0), before + 1);
    for (int k = 0; k < 100; k++) {
        CHECK_INT(o[k].rc, 0);
        CHECK_INT(o[k].calls, 1);
        CHECK_INT(o[k].index, before + 1);
        CHECK_INT(o[k].seq, o[0].seq + k);
    }
    CHECK_INT(swarm__store_index(raftgroup_store(g, 0)), before + 1);
    CHECK_INT(count_configs(raftgroup_store(g, 0)), 102);
    /* Every object of the entry carries the entry's index as its version. */
    swarm__snap *v;
    swarm__err e;
    CHECK(swarm__snap_begin(raftgroup_store(g, 0), &v, &e) == 0);
    json_t *obj = swarm__snap_get(v, SWARM__KIND_CONFIG, "b-057");
    swarm__snap_end(v);
    CHECK(obj != NULL);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(obj, "Version"), "Index")), before + 1);
    json_decref(obj);
    raftgroup_free(g);

    /* With a cap of 8 proposals per entry, 50 proposals make 7 entries, still in order. */
    g = raftgroup_new(&(raftgroup_options){.max_batch = 8}, 0);
    raftgroup_start(g, 0, RAFTGROUP_BOOTSTRAP, NULL);
    CHECK_INT(raftgroup_leader(g, 5000), 0);
    before = last_index(g, 0);
    bout p[50];
    for (int k = 0; k < 50; k++) {
        char id[32];
        snprintf(id, sizeof id, "c-%03d", k);
        CHECK_INT(propose_one(g, 0, SWARM__OP_CREATE, id, NULL, 0, &p[k]), 0);
    }
    wait_all(g, p, 50, 5000);
    CHECK_INT(last_index(g, 0), before + 7);
    for (int k = 0; k < 50; k++) {
        CHECK_INT(p[k].rc, 0);
        CHECK_INT(p[k].index, before + 1 + (uint64_t)k / 8);
        CHECK_INT(p[k].seq, p[0].seq + k);
    }
    raftgroup_free(g);
}

static void test_raft__batch_mixed_outcomes(void)
{
    raftgroup *g = raftgroup_new(NULL, 0);
    int leader = raftgroup_form(g, 3, 0);
    raftgroup_write_range(g, leader, 0, 1, 0); /* cfg-000 */
    uint64_t v0 = swarm__store_index(raftgroup_store(g, leader));
    enum { N = 9 };
    bout o[N];
    /* All in one entry: each proposal succeeds or fails on its own, seeing the writes of those before it. */
    CHECK_INT(propose_one(g, leader, SWARM__OP_CREATE, "a", NULL, 0, &o[0]), 0);
    CHECK_INT(propose_one(g, leader, SWARM__OP_CREATE, "a", NULL, 0, &o[1]), 0);         /* exists */
    CHECK_INT(propose_one(g, leader, SWARM__OP_UPDATE, "cfg-000", NULL, v0 + 7, &o[2]), 0); /* stale */
    CHECK_INT(propose_one(g, leader, SWARM__OP_UPDATE, "cfg-000", "renamed", v0, &o[3]), 0);
    CHECK_INT(propose_one(g, leader, SWARM__OP_UPDATE, "cfg-000", NULL, v0, &o[4]), 0); /* now stale */
    {
        /* Two actions: the second fails, so the first (a new name for "a", and "b") must leave no trace. */
        swarm__action two[3] = {config_action(SWARM__OP_UPDATE, "a", "a-new", 0),
                                config_action(SWARM__OP_CREATE, "b", NULL, 0),
                                config_action(SWARM__OP_CREATE, "x", "renamed", 0)};
        CHECK_INT(propose_acts(g, leader, two, 3, &o[5]), 0);
    }
    CHECK_INT(propose_one(g, leader, SWARM__OP_CREATE, "c", "a-new", 0, &o[6]), 0); /* the name is free */
    CHECK_INT(propose_one(g, leader, SWARM__OP_DELETE, "nope", NULL, 0, &o[7]), 0); /* not found */
    CHECK_INT(propose_one(g, leader, SWARM__OP_DELETE, "a", NULL, 0, &o[8]), 0);
    uint64_t before = last_index(g, leader);
    wait_all(g, o, N, 5000);
    CHECK_INT(last_index(g, leader), before + 1);
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
    CHECK(raftgroup_run_until(g, raftgroup_stores_equal, NULL, 5000) >= 0);
    for (int i = 0; i < 3; i++) {
        swarm__store *s = raftgroup_store(g, i);
        CHECK_INT(swarm__store_index(s), before + 1);
        CHECK(!has_config(s, "a"));
        CHECK(!has_config(s, "b"));
        CHECK(!has_config(s, "x"));
        CHECK(has_config(s, "c"));
        swarm__snap *v;
        swarm__err e;
        CHECK(swarm__snap_begin(s, &v, &e) == 0);
        json_t *r = swarm__snap_get_by_name(v, SWARM__KIND_CONFIG, "renamed");
        json_t *an = swarm__snap_get_by_name(v, SWARM__KIND_CONFIG, "a-new");
        swarm__snap_end(v);
        CHECK(r != NULL && an != NULL);
        CHECK_STR(json_string_value(json_object_get(r, "ID")), "cfg-000");
        CHECK_STR(json_string_value(json_object_get(an, "ID")), "c");
        json_decref(r);
        json_decref(an);
    }
    raftgroup_free(g);
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

static int raw_done(raftgroup *g, void *arg)
{
    (void)g;
    return ((raw_apply *)arg)->done;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void raw_entry(raftgroup *g, int i, const void *bytes, size_t len, raw_apply *ra)
{
    memset(ra, 0, sizeof *ra);
    ra->req.data = ra;
    void *base = raft_malloc(len);
    memcpy(base, bytes, len);
    struct raft_buffer buf = {base, len};
    CHECK_INT(raft_apply(swarm__raft_raw(raftgroup_raft(g, i)), &ra->req, &buf, 1, raw_applied), 0);
    CHECK(raftgroup_run_until(g, raw_done, ra, 5000) >= 0);
    CHECK_INT(ra->status, 0);
}

static void test_raft__batch_entry_format(void)
{
    raftgroup *g = raftgroup_new(NULL, 0);
    int leader = raftgroup_form(g, 3, 0);
    raw_apply ra;
    /* An entry written before batching: a bare action list applies as one proposal. */
    const char *bare = "{\"v\":1,\"a\":[{\"op\":1,\"k\":\"config\",\"o\":{\"ID\":\"bare\"},\"ev\":0}]}";
    raw_entry(g, leader, bare, strlen(bare), &ra);
    CHECK_INT(ra.out.n, 1);
    CHECK_INT(ra.rcs[0], 0);
    CHECK_INT(ra.out.index, swarm__store_index(raftgroup_store(g, leader)));
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
    raw_entry(g, leader, buf, off, &ra);
    CHECK_INT(ra.out.n, 3);
    CHECK_INT(ra.rcs[0], 0);
    CHECK_INT(ra.rcs[1], SWARM_EINVALID);
    CHECK_INT(ra.rcs[2], 0);
    CHECK_CONTAINS(ra.out.g[1].err.message, "actions:");
    /* A malformed container (lengths past the end): consumes its index, writes nothing. */
    put_le32(buf + 8, 4000);
    uint64_t before = swarm__store_index(raftgroup_store(g, leader));
    raw_entry(g, leader, buf, off, &ra);
    CHECK_INT(ra.out.n, 0);
    CHECK_INT(swarm__store_index(raftgroup_store(g, leader)), before + 1);
    raftgroup_write_range(g, leader, 0, 2, 0);
    CHECK(raftgroup_run_until(g, raftgroup_stores_equal, NULL, 5000) >= 0);
    for (int i = 0; i < 3; i++) {
        CHECK(has_config(raftgroup_store(g, i), "bare"));
        CHECK(has_config(raftgroup_store(g, i), "left"));
        CHECK(has_config(raftgroup_store(g, i), "right"));
        CHECK_INT(count_configs(raftgroup_store(g, i)), 5);
    }
    raftgroup_free(g);
}

static void test_raft__batch_leader_lost(void)
{
    raftgroup *g = raftgroup_new(NULL, 0);
    int old = raftgroup_form(g, 3, 0);
    raftgroup_write_range(g, old, 0, 5, 0);
    /* A batch in flight on a leader cut off from its group: every proposal's raftgroup_outcome is unknown. */
    raftgroup_partition(g, old);
    enum { N = 40 };
    bout o[N];
    for (int k = 0; k < N; k++) {
        char id[32];
        snprintf(id, sizeof id, "lost-%02d", k);
        CHECK_INT(propose_one(g, old, SWARM__OP_CREATE, id, NULL, 0, &o[k]), 0);
    }
    CHECK(raftgroup_run_until(g, majority_leader, &old, 5000) >= 0);
    int nl = -1;
    for (int i = 0; i < 3; i++)
        if (i != old && swarm__raft_state(raftgroup_raft(g, i)) == RAFT_LEADER)
            nl = i;
    raftgroup_write_range(g, nl, 5, 10, 0);
    swarm__mem_network_heal(raftgroup_net(g), NULL, NULL);
    CHECK(raftgroup_run_until(g, single_leader_and_equal, NULL, 15000) >= 0);
    wait_all(g, o, N, 5000);
    for (int k = 0; k < N; k++) {
        CHECK_INT(o[k].rc, SWARM_EUNAVAILABLE);
        CHECK_INT(o[k].calls, 1);
        CHECK_INT(o[k].index, 0);
        CHECK_INT(o[k].seq, o[0].seq + k);
        CHECK_CONTAINS(o[k].msg, "unknown");
    }
    for (int i = 0; i < 3; i++) {
        CHECK(!has_config(raftgroup_store(g, i), "lost-00"));
        CHECK_INT(count_configs(raftgroup_store(g, i)), 10);
    }

    /* Leadership going before the flush: the proposals were never written, and say so. */
    raftgroup_leader_count(g, &nl);
    bout p[5];
    for (int k = 0; k < 5; k++) {
        char id[32];
        snprintf(id, sizeof id, "moved-%d", k);
        CHECK_INT(propose_one(g, nl, SWARM__OP_CREATE, id, NULL, 0, &p[k]), 0);
    }
    /*
     * libraft refuses raft_apply while a leadership transfer runs. (A real
     * raft_transfer would do, but io.c completes libraft's TimeoutNow send,
     * whose callback is NULL, by calling it.) Mark one as running just for
     * the flush.
     */
    struct raft *raw = swarm__raft_raw(raftgroup_raft(g, nl));
    struct raft_transfer tr;
    memset(&tr, 0, sizeof tr);
    tr.start = raw->io->time(raw->io); /* else libraft's next tick times it out */
    tr.id = 0x7fffffff;                   /* no such server: nothing completes it */
    raw->transfer = &tr;
    swarm__timers_advance(raftgroup_timers(g), 0);
    raw->transfer = NULL;
    wait_all(g, p, 5, 5000);
    for (int k = 0; k < 5; k++) {
        CHECK_INT(p[k].rc, SWARM_ENOTLEADER);
        CHECK_INT(p[k].seq, p[0].seq + k);
    }
    raftgroup_run(g, 3000);
    for (int i = 0; i < 3; i++)
        CHECK(!has_config(raftgroup_store(g, i), "moved-0"));
    raftgroup_free(g);
}

/* Closes its proposer from inside the callback of proposal `at`. */
typedef struct closer {
    swarm__proposer **prop;
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
        (*cl->prop)->close(*cl->prop);
        *cl->prop = NULL;
    }
}

static void test_raft__batch_close(void)
{
    raftgroup *g = raftgroup_new(NULL, 0);
    int leader = raftgroup_form(g, 3, 0);
    raftgroup_write_range(g, leader, 0, 3, 0);
    /* Closing with proposals not flushed yet: ECLOSED for each, inside close, in order. */
    bout o[10];
    for (int k = 0; k < 10; k++) {
        char id[32];
        snprintf(id, sizeof id, "unflushed-%d", k);
        CHECK_INT(propose_one(g, leader, SWARM__OP_CREATE, id, NULL, 0, &o[k]), 0);
    }
    swarm__proposer **prop = raftgroup_proposer(g, leader);
    swarm__raft *raft = raftgroup_raft(g, leader);
    (*prop)->close(*prop);
    for (int k = 0; k < 10; k++) {
        CHECK_INT(o[k].calls, 1);
        CHECK_INT(o[k].rc, SWARM_ECLOSED);
        CHECK_INT(o[k].seq, o[0].seq + k);
    }
    swarm__err e;
    swarm__raft_proposer_options po = {raftgroup_timers(g), 0, 0};
    CHECK_INT(swarm__proposer_raft_batched_new(prop, raft, &po, &e), 0);
    raftgroup_run(g, 1000);
    for (int k = 0; k < 10; k++)
        CHECK_INT(o[k].calls, 1);

    /* A callback that closes the proposer: the rest of its batch gets ECLOSED, once each. */
    closer cl = {prop, 2, {0}, {0}, {0}, 0};
    the_closer = &cl;
    for (int k = 0; k < 6; k++) {
        char id[32];
        snprintf(id, sizeof id, "closer-%d", k);
        swarm__action a = config_action(SWARM__OP_CREATE, id, NULL, 0);
        CHECK_INT((*prop)->propose(*prop, &a, 1, closing_cb, (void *)(intptr_t)k, &e), 0);
        json_decref(a.object);
    }
    raftgroup_run(g, 1000);
    CHECK(*prop == NULL);
    for (int k = 0; k < 6; k++) {
        CHECK_INT(cl.calls[k], 1);
        CHECK_INT(cl.order[k], k);
        CHECK_INT(cl.rcs[k], k <= 2 ? 0 : SWARM_ECLOSED);
    }
    /* The entry itself committed: closing only stops the reports. */
    CHECK(has_config(raftgroup_store(g, leader), "closer-5"));
    CHECK_INT(swarm__proposer_raft_batched_new(prop, raft, &po, &e), 0);

    /* Closing while an entry is in flight: ECLOSED now, and nothing later. */
    bout f[4];
    for (int k = 0; k < 4; k++) {
        char id[32];
        snprintf(id, sizeof id, "inflight-%d", k);
        CHECK_INT(propose_one(g, leader, SWARM__OP_CREATE, id, NULL, 0, &f[k]), 0);
    }
    swarm__timers_advance(raftgroup_timers(g), 0); /* the flush: submitted, not committed yet */
    CHECK_INT(f[0].done, 0);
    (*prop)->close(*prop);
    for (int k = 0; k < 4; k++)
        CHECK_INT(f[k].rc, SWARM_ECLOSED);
    CHECK_INT(swarm__proposer_raft_batched_new(prop, raft, &po, &e), 0);
    raftgroup_run(g, 1000);
    for (int k = 0; k < 4; k++)
        CHECK_INT(f[k].calls, 1);
    raftgroup_free(g);
}

static void test_raft__batch_replicate_restart(void)
{
    /* Three durable voters with snapshots; batches replicate, then everyone restarts from LMDB. */
    raftgroup *g = raftgroup_new(&(raftgroup_options){.snapshot_threshold = 16, .snapshot_trailing = 8}, 0);
    int leader = raftgroup_form(g, 3, 1);
    for (int r = 0; r < 6; r++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "r%d", r);
        write_burst(g, leader, prefix, 100);
    }
    raftgroup_write_range(g, leader, 0, 20, 0); /* single proposals too: more entries than the snapshot threshold */
    CHECK(raftgroup_run_until(g, raftgroup_stores_equal, NULL, 5000) >= 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(count_configs(raftgroup_store(g, i)), 620);
    /* A follower restarts and catches up with batches it missed. */
    int f = (leader + 1) % 3;
    char dirs[3][512];
    for (int i = 0; i < 3; i++)
        snprintf(dirs[i], sizeof dirs[i], "%s", raftgroup_dir(g, i));
    raftgroup_kill(g, f);
    write_burst(g, leader, "gap", 150);
    raftgroup_start(g, f, RAFTGROUP_JOIN, dirs[f]);
    CHECK(raftgroup_run_until(g, raftgroup_stores_equal, NULL, 10000) >= 0);
    CHECK_INT(count_configs(raftgroup_store(g, f)), 770);
    /* Everyone stops; the group comes back from disk alone, each store rebuilt from snapshot + log. */
    for (int i = 0; i < 3; i++)
        raftgroup_kill(g, i);
    for (int i = 0; i < 3; i++)
        raftgroup_start(g, i, RAFTGROUP_JOIN, dirs[i]);
    int nl = raftgroup_leader(g, 10000);
    write_burst(g, nl, "after", 30);
    CHECK(raftgroup_run_until(g, raftgroup_stores_equal, NULL, 10000) >= 0);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(count_configs(raftgroup_store(g, i)), 800);
        CHECK_INT(swarm__store_index(raftgroup_store(g, i)), swarm__raft_last_applied(raftgroup_raft(g, i)));
    }
    raftgroup_free(g);
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

/*
 * Replicated write throughput and latency through the Raft proposer: 1 and 3
 * nodes, each on its own loop thread (swarm__loop), the real nng transport
 * over 127.0.0.1 (mutual TLS under a CA made here, unless --no-tls), the Raft
 * log (LMDB, fsync per append) and an LMDB store per node in a temp dir. The
 * leader keeps K proposals in flight; each proposal creates A services with
 * a ~300-byte spec (a ServiceCreate of `sleep`). Latency is propose ->
 * callback (committed by a majority and applied on the leader).
 *
 * Usage: bench_raft [--dir DIR] [--seconds S] [--nodes 1,3] [--inflight 1,64,512]
 *                   [--actions 1,100] [--no-tls] [--unbatched] [--heartbeat-ms MS] [--max-batch N] [--csv]
 *   --dir        parent of the temp dirs (default /tmp); each run's dir is removed
 *   --unbatched  swarm__proposer_raft_new (one entry per proposal) instead of batching
 *   --heartbeat-ms  Raft heartbeat (default 100 ms; the election timeout is 10 heartbeats)
 *   --max-batch  proposals per entry (default and most: SWARM__RAFT_BATCH_MAX)
 *   --csv        also print one machine-readable line per configuration ("csv,...")
 */
#include "ca/ca.h"
#include "core/clock.h"
#include "core/loop.h"
#include "core/timers.h"
#include "proto/proto.h"
#include "raft/raft.h"
#include "store/store.h"
#include "transport/host.h"
#include "transport/transport.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_NODES 3
#define MAX_LIST 8
#define WARMUP_S 0.5
#define CALL_MS 30000 /* + the measured time, for the call that drives the load */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_raft: %s: %s\n", what, msg);
    exit(1);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("free port", "cannot bind 127.0.0.1:0");
    close(fd);
    return ntohs(a.sin_port);
}

/* ------------------------------------------------------------ options */

typedef struct options {
    const char *dir;
    double seconds;
    int nodes[MAX_LIST], n_nodes;
    int inflight[MAX_LIST], n_inflight;
    int actions[MAX_LIST], n_actions;
    int tls, unbatched, csv;
    unsigned heartbeat_ms, max_batch;
} options;

static int parse_list(const char *s, int *out)
{
    int n = 0;
    while (*s && n < MAX_LIST) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0)
            die("bad list", s);
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

/* ------------------------------------------------------------ a node on its own loop */

typedef struct bnode {
    swarm__host_loop hl; /* first: the transport's loop services (transport/host.h) */
    int idx;
    swarm__loop *loop;
    swarm__timers *timers;
    struct swarm_transport_backend *t;
    swarm__store *store;
    swarm__raft *raft;
    swarm__proposer *prop;
    char addr[64], dir[600];
    const char *ca_pem, *cert_pem, *key_pem;
    int unbatched;
    unsigned heartbeat_ms, max_batch;
} bnode;

static void on_link_up(void *ctx, uint64_t link, const char *addr, int accepted)
{
    (void)addr;
    (void)accepted;
    bnode *n = ctx;
    if (n->raft)
        swarm__raft_link_up(n->raft, link);
}

static void on_link_down(void *ctx, uint64_t link)
{
    bnode *n = ctx;
    if (n->raft)
        swarm__raft_link_down(n->raft, link);
}

static void on_receive(void *ctx, uint64_t link, uint64_t rid, const swarm_transport_msg *msg)
{
    (void)rid;
    bnode *n = ctx;
    if (n->raft && msg->type == SWARM__MSG_RAFT)
        swarm__raft_receive(n->raft, link, msg);
}

/* Runs fn on n's loop and waits. fn returns 0/an error, or 1 to complete the call later itself. */
typedef struct loop_call {
    swarm__call base;
    bnode *n;
    int (*fn)(struct loop_call *c);
    void *arg;
    int64_t value;
} loop_call;

static void loop_call_run(swarm__call *call)
{
    loop_call *c = (loop_call *)call;
    swarm__err e = {0, ""};
    int rc = c->fn(c);
    if (rc == 1)
        return;
    if (rc != 0)
        swarm__err_set(&e, rc, "%s", swarm_error_last_message());
    swarm__call_done(call, rc, &e);
}

static void loop_call_destroy(swarm__call *call)
{
    free(call);
}

static int call_ms = CALL_MS;

static int64_t on_loop(bnode *n, int (*fn)(loop_call *c), void *arg)
{
    loop_call *c = calloc(1, sizeof *c);
    c->base.run = loop_call_run;
    c->base.destroy = loop_call_destroy;
    c->n = n;
    c->fn = fn;
    c->arg = arg;
    int rc = swarm__loop_call(n->loop, &c->base, call_ms);
    if (rc != 0)
        die("loop call", c->base.err.message[0] ? c->base.err.message : swarm_error_last_message());
    int64_t v = c->value;
    swarm__call_release(&c->base);
    return v;
}

static int node_open(loop_call *c)
{
    bnode *n = c->n;
    swarm__err e = {0, ""};
    n->timers = swarm__timers_libevent(swarm__loop_base(n->loop));
    if (n->timers == NULL || swarm__host_loop_init(&n->hl, swarm__loop_base(n->loop), n->timers, NULL) != 0)
        die("node", "out of memory");
    if (swarm__transport_nng_new(&n->t) != 0)
        die("nng", "cannot make the transport");
    swarm_transport_host th = swarm__host_loop_host(n, on_link_up, on_link_down, on_receive);
    if (n->t->open(n->t, &th) != 0)
        die("nng open", swarm_error_last_message());
    if (n->cert_pem != NULL) {
        swarm_transport_tls tls = {n->ca_pem, n->cert_pem, n->key_pem, SWARM_TLS_MUTUAL};
        if (n->t->set_tls(n->t, &tls) != 0)
            die("nng tls", swarm_error_last_message());
    }
    if (n->t->listen(n->t, n->addr) != 0)
        die("nng listen", swarm_error_last_message());
    struct swarm_store_backend *b;
    if (swarm_store_lmdb_new(&b, n->dir) != 0 || swarm__store_open(&n->store, b, &e) != 0)
        die("store", e.message[0] ? e.message : swarm_error_last_message());
    swarm__raft_options o = {0};
    o.id = (uint64_t)n->idx + 1;
    o.address = n->addr;
    o.dir = n->dir;
    o.timers = n->timers;
    o.clock = swarm__clock_system();
    o.transport = n->t;
    o.store = n->store;
    if (n->heartbeat_ms) {
        o.heartbeat_ms = n->heartbeat_ms;
        o.election_ms = 10 * n->heartbeat_ms;
    }
    if (swarm__raft_new(&n->raft, &o, &e) != 0)
        die("raft", e.message);
    if (n->idx == 0 && swarm__raft_bootstrap(n->raft, &e) != 0)
        die("raft bootstrap", e.message);
    if (swarm__raft_start(n->raft, &e) != 0)
        die("raft start", e.message);
    int rc;
    if (n->unbatched) {
        rc = swarm__proposer_raft_new(&n->prop, n->raft, &e);
    } else {
        swarm__raft_proposer_options po = {n->timers, n->max_batch, 0};
        rc = swarm__proposer_raft_batched_new(&n->prop, n->raft, &po, &e);
    }
    if (rc != 0)
        die("proposer", e.message);
    return 0;
}

static int node_state(loop_call *c)
{
    c->value = swarm__raft_state(c->n->raft);
    return 0;
}

static int node_last_index(loop_call *c)
{
    c->value = (int64_t)raft_last_index(swarm__raft_raw(c->n->raft));
    return 0;
}

static int node_store_index(loop_call *c)
{
    c->value = (int64_t)swarm__store_index(c->n->store);
    return 0;
}

static void voter_added(void *payload, int rc)
{
    loop_call *c = payload;
    swarm__err e = {0, ""};
    if (rc != 0)
        swarm__err_set(&e, rc, "adding a voter failed (%d)", rc);
    swarm__call_done(&c->base, rc, &e);
}

static int node_add_voter(loop_call *c)
{
    bnode *peer = c->arg;
    swarm__err e;
    int rc = swarm__raft_add_voter(c->n->raft, (uint64_t)peer->idx + 1, peer->addr, voter_added, c, &e);
    if (rc != 0)
        return rc;
    return 1;
}

static void node_teardown(void *payload)
{
    bnode *n = payload;
    if (n->prop)
        n->prop->close(n->prop);
    swarm__raft_free(n->raft);
    n->raft = NULL;
    n->t->close(n->t);
    n->t->free(n->t);
    swarm__host_loop_close(&n->hl);
    swarm__store_close(n->store);
    swarm__timers_free(n->timers);
}

/* ------------------------------------------------------------ the load */

typedef struct driver driver;

typedef struct slot {
    driver *d;
    int64_t start_ns;
} slot;

struct driver {
    bnode *n;
    int inflight, actions;
    uint64_t next_id;
    int64_t measure_from, stop_at;
    uint64_t proposals, failures, measured;
    int64_t *lat; /* ns, measured proposals only */
    size_t n_lat, cap_lat;
    int outstanding;
    loop_call *call;
    slot *slots;
    char created_at[SWARM__TIME_LEN];
};

static json_t *service_object(driver *d)
{
    char id[32], name[32];
    uint64_t k = d->next_id++;
    snprintf(id, sizeof id, "bsvc%021" PRIu64, k);
    snprintf(name, sizeof name, "bench-%012" PRIu64, k);
    return json_pack("{s:s, s:{s:i}, s:s, s:s, s:{s:s, s:{}, s:{s:{s:s, s:[s,s]}, s:{s:s, s:i}, s:i}, "
                     "s:{s:{s:i}}, s:{s:s}}}",
                     "ID", id, "Version", "Index", 0, "CreatedAt", d->created_at, "UpdatedAt", d->created_at,
                     "Spec", "Name", name, "Labels", "TaskTemplate", "ContainerSpec", "Image",
                     "busybox:latest", "Args", "sleep", "3600", "RestartPolicy", "Condition", "any", "MaxAttempts",
                     0, "ForceUpdate", 0, "Mode", "Replicated", "Replicas", 1, "EndpointSpec", "Mode", "vip");
}

static void propose_next(slot *s);

static void finish_one(driver *d)
{
    if (--d->outstanding == 0)
        swarm__call_done(&d->call->base, 0, NULL);
}

static void proposed(void *payload, int rc, const swarm__err *err, uint64_t index)
{
    (void)err;
    (void)index;
    slot *s = payload;
    driver *d = s->d;
    int64_t now = mono_ns();
    d->proposals++;
    if (rc != 0) {
        if (d->failures++ == 0)
            fprintf(stderr, "bench_raft: a proposal failed: %d %s\n", rc, err ? err->message : "");
    } else if (s->start_ns >= d->measure_from && now <= d->stop_at) {
        d->measured++;
        if (d->n_lat == d->cap_lat) {
            d->cap_lat = d->cap_lat ? 2 * d->cap_lat : 4096;
            d->lat = realloc(d->lat, d->cap_lat * sizeof *d->lat);
        }
        d->lat[d->n_lat++] = now - s->start_ns;
    }
    if (now >= d->stop_at) {
        finish_one(d);
        return;
    }
    propose_next(s);
}

static void propose_next(slot *s)
{
    driver *d = s->d;
    swarm__action a[128];
    int n = d->actions;
    for (int i = 0; i < n; i++) {
        a[i].op = SWARM__OP_CREATE;
        a[i].kind = SWARM__KIND_SERVICE;
        if ((a[i].object = service_object(d)) == NULL)
            die("json", "cannot build a service");
        a[i].expect_version = 0;
    }
    swarm__err e;
    s->start_ns = mono_ns();
    int rc = d->n->prop->propose(d->n->prop, a, (size_t)n, proposed, s, &e);
    for (int i = 0; i < n; i++)
        json_decref(a[i].object);
    if (rc != 0) {
        fprintf(stderr, "bench_raft: propose: %s\n", e.message);
        d->failures++;
        finish_one(d);
    }
}

static int drive(loop_call *c)
{
    driver *d = c->arg;
    d->call = c;
    d->outstanding = d->inflight;
    for (int i = 0; i < d->inflight; i++) {
        d->slots[i].d = d;
        propose_next(&d->slots[i]);
    }
    return 1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const int64_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)sorted[i] / 1e6;
}

/* ------------------------------------------------------------ one configuration */

typedef struct certs {
    swarm__ca *ca;
    char *key[MAX_NODES], *cert[MAX_NODES];
} certs;

static void make_certs(certs *cs)
{
    swarm__err e = {0, ""};
    const swarm__clock *clk = swarm__clock_system();
    if (swarm__ca_create(&cs->ca, clk, &e) != 0)
        die("ca", e.message);
    for (int i = 0; i < MAX_NODES; i++) {
        char *csr = NULL, id[32];
        snprintf(id, sizeof id, "benchnode%d", i + 1);
        if (swarm__key_new(&cs->key[i], clk, &e) != 0 || swarm__csr_new(&csr, cs->key[i], clk, &e) != 0 ||
            swarm__ca_issue(cs->ca, csr, id, SWARM__CA_OU_MANAGER, "benchcluster", SWARM__CERT_DEFAULT_LIFETIME_NS,
                            clk, &cs->cert[i], &e) != 0)
            die("certificate", e.message);
        free(csr);
    }
}

static void run_config(const options *o, const certs *cs, int nodes, int inflight, int actions)
{
    char root[512];
    snprintf(root, sizeof root, "%s/bench_raft.XXXXXX", o->dir);
    if (mkdtemp(root) == NULL)
        die("mkdtemp", root);
    bnode *ns = calloc((size_t)nodes, sizeof *ns);
    swarm__err e = {0, ""};
    for (int i = 0; i < nodes; i++) {
        bnode *n = &ns[i];
        n->idx = i;
        n->unbatched = o->unbatched;
        n->heartbeat_ms = o->heartbeat_ms;
        n->max_batch = o->max_batch;
        snprintf(n->addr, sizeof n->addr, "127.0.0.1:%d", free_port());
        snprintf(n->dir, sizeof n->dir, "%s/n%d", root, i + 1);
        if (mkdir(n->dir, 0700) != 0)
            die("mkdir", n->dir);
        if (o->tls) {
            n->ca_pem = swarm__ca_cert_pem(cs->ca);
            n->cert_pem = cs->cert[i];
            n->key_pem = cs->key[i];
        }
        if (swarm__loop_start(&n->loop, &e) != 0)
            die("loop", e.message);
        on_loop(n, node_open, NULL);
    }
    int64_t t0 = mono_ns();
    while (on_loop(&ns[0], node_state, NULL) != RAFT_LEADER) {
        if (mono_ns() - t0 > 10000000000LL)
            die("raft", "no leader after 10 s");
        usleep(10000);
    }
    for (int i = 1; i < nodes; i++)
        on_loop(&ns[0], node_add_voter, &ns[i]);

    driver d;
    memset(&d, 0, sizeof d);
    d.n = &ns[0];
    d.inflight = inflight;
    d.actions = actions;
    d.slots = calloc((size_t)inflight, sizeof *d.slots);
    swarm__time_format(d.created_at, swarm__clock_system()->wall_ns(swarm__clock_system()->data));
    int64_t entries0 = on_loop(&ns[0], node_last_index, NULL);
    int64_t start = mono_ns();
    d.measure_from = start + (int64_t)(WARMUP_S * 1e9);
    d.stop_at = d.measure_from + (int64_t)(o->seconds * 1e9);
    on_loop(&ns[0], drive, &d);
    int64_t entries = on_loop(&ns[0], node_last_index, NULL) - entries0;
    /* Followers' stores catch up (they learn the last commit index with the next heartbeat). */
    int64_t leader_index = on_loop(&ns[0], node_store_index, NULL);
    int64_t caught = mono_ns();
    for (int i = 1; i < nodes; i++)
        while (on_loop(&ns[i], node_store_index, NULL) < leader_index && mono_ns() - caught < 5000000000LL)
            usleep(2000);

    qsort(d.lat, d.n_lat, sizeof *d.lat, cmp_i64);
    double secs = o->seconds;
    double props = (double)d.measured / secs;
    double p50 = pct_ms(d.lat, d.n_lat, 0.50), p99 = pct_ms(d.lat, d.n_lat, 0.99), pmax = pct_ms(d.lat, d.n_lat, 1.0);
    double per_entry = entries > 0 ? (double)d.proposals / (double)entries : 0;
    printf("%5d %8d %7d %12.0f %12.0f %9.2f %9.2f %9.2f %10.1f %8" PRIu64 "\n", nodes, inflight, actions, props,
           props * actions, p50, p99, pmax, per_entry, d.failures);
    if (o->csv)
        printf("csv,%d,%d,%d,%.0f,%.0f,%.3f,%.3f,%s,%s\n", nodes, inflight, actions, props, props * actions, p50, p99,
               o->tls ? "tls" : "tcp", o->unbatched ? "unbatched" : "batched");
    fflush(stdout);

    for (int i = nodes - 1; i >= 0; i--)
        swarm__loop_stop(ns[i].loop, node_teardown, &ns[i]);
    free(ns);
    free(d.slots);
    free(d.lat);
    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
    options o = {"/tmp", 3.0, {1, 3}, 2, {1, 64, 512}, 3, {1, 100}, 2, 1, 0, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--dir") == 0 && v)
            o.dir = v, i++;
        else if (strcmp(a, "--seconds") == 0 && v)
            o.seconds = atof(v), i++;
        else if (strcmp(a, "--nodes") == 0 && v)
            o.n_nodes = parse_list(v, o.nodes), i++;
        else if (strcmp(a, "--inflight") == 0 && v)
            o.n_inflight = parse_list(v, o.inflight), i++;
        else if (strcmp(a, "--actions") == 0 && v)
            o.n_actions = parse_list(v, o.actions), i++;
        else if (strcmp(a, "--heartbeat-ms") == 0 && v)
            o.heartbeat_ms = (unsigned)atoi(v), i++;
        else if (strcmp(a, "--max-batch") == 0 && v)
            o.max_batch = (unsigned)atoi(v), i++;
        else if (strcmp(a, "--no-tls") == 0)
            o.tls = 0;
        else if (strcmp(a, "--unbatched") == 0)
            o.unbatched = 1;
        else if (strcmp(a, "--csv") == 0)
            o.csv = 1;
        else {
            fprintf(stderr,
                    "usage: bench_raft [--dir DIR] [--seconds S] [--nodes 1,3] [--inflight 1,64,512] "
                    "[--actions 1,100] [--no-tls] [--unbatched] [--heartbeat-ms MS] [--max-batch N] [--csv]\n");
            return 2;
        }
    }
    for (int i = 0; i < o.n_nodes; i++)
        if (o.nodes[i] > MAX_NODES)
            die("--nodes", "at most 3");
    for (int i = 0; i < o.n_actions; i++)
        if (o.actions[i] > 128)
            die("--actions", "at most 128");
    if (o.seconds <= 0)
        die("--seconds", "must be > 0");
    call_ms = CALL_MS + (int)(o.seconds * 1000) + (int)(WARMUP_S * 1000);
    certs cs;
    memset(&cs, 0, sizeof cs);
    if (o.tls)
        make_certs(&cs);
    printf("# bench_raft: %s, %s proposer, %.1f s per configuration (after %.1f s warm-up), dir %s\n",
           o.tls ? "nng tls+tcp (mutual TLS)" : "nng tcp", o.unbatched ? "unbatched" : "batching", o.seconds,
           WARMUP_S, o.dir);
    printf("%5s %8s %7s %12s %12s %9s %9s %9s %10s %8s\n", "nodes", "inflight", "actions", "proposals/s",
           "writes/s", "p50_ms", "p99_ms", "max_ms", "props/entry", "failed");
    for (int a = 0; a < o.n_actions; a++)
        for (int n = 0; n < o.n_nodes; n++)
            for (int k = 0; k < o.n_inflight; k++)
                run_config(&o, &cs, o.nodes[n], o.inflight[k], o.actions[a]);
    for (int i = 0; i < MAX_NODES; i++) {
        free(cs.key[i]);
        free(cs.cert[i]);
    }
    swarm__ca_free(cs.ca);
    return 0;
}

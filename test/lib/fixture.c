#include "fixture.h"

#include "transport/host.h"

#include "agent/agent.h"
#include "agent/session.h"
#include "ca/ca.h"
#include "core/id.h"
#include "core/json.h"
#include "core/timers.h"
#include "manager/controlapi/controlapi.h"
#include "manager/dispatcher/server.h"
#include "manager/manager.h"
#include "proto/proto.h"
#include "model/model.h"
#include "raft/proposer.h"
#include "store/store.h"
#include "transport/host.h"
#include "transport/transport.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define START_WALL_NS 1796061956000000000LL /* 2026-11-30T18:05:56Z */

typedef struct host_ctx {
    swarm__host_loop loop; /* first: the transport's loop services (transport/host.h) */
    fixture *f;
    int worker; /* -1: the manager */
} host_ctx;

typedef struct worker {
    char name[16];
    char node_id[SWARM__IDBUF];
    char *cert, *key;
    struct swarm_transport_backend *t;
    swarm__agent *agent;
    swarm__worker_session *session;
    host_ctx host;
    int alive;
} worker;

struct fixture {
    struct event_base *base;
    swarm__timers *timers;
    const swarm__clock *clock;
    swarm__mem_network *net;
    swarm__store *store;
    swarm__proposer *proposer;
    struct event *deliver_ev;
    swarm__manager *manager;
    swarm__nodeserver *server;
    swarm__controlapi api;
    struct swarm_transport_backend *t;
    host_ctx host;
    char manager_id[SWARM__IDBUF];
    char cluster_id[SWARM__IDBUF];
    swarm__ca *ca;
    worker *workers;
    unsigned n, cap;
};

/* ------------------------------------------------------------ transport host */

static worker *worker_of(host_ctx *h)
{
    return h->worker >= 0 ? &h->f->workers[h->worker] : NULL;
}

static void on_link_up(void *ctx, uint64_t link, const char *addr, int accepted)
{
    host_ctx *h = ctx;
    worker *w = worker_of(h);
    if (w == NULL && accepted)
        swarm__nodeserver_link_up(h->f->server, link, addr);
    else if (w && w->session)
        swarm__worker_session_link_up(w->session, link);
}

static void on_link_down(void *ctx, uint64_t link)
{
    host_ctx *h = ctx;
    worker *w = worker_of(h);
    if (w == NULL)
        swarm__nodeserver_link_down(h->f->server, link);
    else if (w->session)
        swarm__worker_session_link_down(w->session, link);
}

static void on_receive(void *ctx, uint64_t link, uint64_t rid, const swarm_transport_msg *msg)
{
    host_ctx *h = ctx;
    worker *w = worker_of(h);
    if (w == NULL)
        swarm__nodeserver_receive(h->f->server, link, rid, msg);
    else if (w->session)
        swarm__worker_session_receive(w->session, link, rid, msg);
}

static struct swarm_transport_backend *transport(fixture *f, const char *name, host_ctx *h)
{
    struct swarm_transport_backend *t = NULL;
    if (swarm__transport_mem_new(&t, f->net, name) != 0)
        return NULL;
    if (swarm__host_loop_init(&h->loop, f->base, f->timers, NULL) != 0)
        return NULL;
    swarm_transport_host th = swarm__host_loop_host(h, on_link_up, on_link_down, on_receive);
    if (t->open(t, &th) != 0) {
        t->free(t);
        return NULL;
    }
    return t;
}

/* ------------------------------------------------------------ driving */

static void drain(fixture *f)
{
    for (int i = 0; i < 1000000; i++) {
        if (event_base_get_num_events(f->base, EVENT_BASE_COUNT_ACTIVE) == 0)
            return;
        event_base_loop(f->base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
    }
}

void fixture_run(fixture *f, int64_t ms)
{
    int64_t left = ms;
    drain(f);
    while (left > 0) {
        int64_t next = swarm__timers_next_ms(f->timers);
        int64_t step = next < 0 || next > left ? left : (next == 0 ? 0 : next);
        swarm__timers_advance(f->timers, step);
        drain(f);
        left -= step;
    }
}

int64_t fixture_now_ms(fixture *f)
{
    return (f->clock->mono_ns(f->clock->data) - 1000000000LL) / 1000000;
}

int64_t fixture_run_until(fixture *f, int (*cond)(fixture *, void *), void *arg, int64_t max_ms)
{
    int64_t start = fixture_now_ms(f);
    drain(f);
    while (!cond(f, arg)) {
        int64_t elapsed = fixture_now_ms(f) - start;
        if (elapsed >= max_ms)
            return -1;
        int64_t next = swarm__timers_next_ms(f->timers);
        int64_t step = next < 0 ? max_ms - elapsed : next;
        if (step > 100)
            step = 100; /* look at cond at least every 100 ms */
        swarm__timers_advance(f->timers, step);
        drain(f);
    }
    return fixture_now_ms(f) - start;
}

/* ------------------------------------------------------------ calls */

typedef struct call_result {
    int done, rc;
    json_t *result;
} call_result;

static void replied(void *payload, int rc, const swarm__err *err, json_t *result)
{
    (void)err;
    call_result *c = payload;
    c->done = 1;
    c->rc = rc;
    c->result = result;
}

int fixture_call(fixture *f, const char *method, json_t *request, json_t **result)
{
    swarm__handler_fn fn = swarm__controlapi_handler(method);
    if (fn == NULL)
        return SWARM_ENOTSUPPORTED;
    call_result c = {0, 0, NULL};
    fn(&f->api, request, replied, &c);
    for (int i = 0; i < 1000 && !c.done; i++)
        fixture_run(f, 1);
    if (result)
        *result = c.result;
    else
        json_decref(c.result);
    return c.done ? c.rc : SWARM_ETIMEDOUT;
}

static json_t *list(fixture *f, swarm__kind kind, const char *index, const char *value)
{
    swarm__snap *snap;
    swarm__err e;
    json_t *out = NULL;
    if (swarm__snap_begin(f->store, &snap, &e) == 0) {
        swarm__snap_list(snap, kind, index, value, &out, &e);
        swarm__snap_end(snap);
    }
    return out ? out : json_array();
}

json_t *fixture_nodes(fixture *f)
{
    return list(f, SWARM__KIND_NODE, NULL, NULL);
}

json_t *fixture_tasks(fixture *f, const char *service)
{
    if (service == NULL)
        return list(f, SWARM__KIND_TASK, NULL, NULL);
    json_t *svc = NULL;
    swarm__snap *snap;
    swarm__err e;
    if (swarm__snap_begin(f->store, &snap, &e) == 0) {
        swarm__snap_lookup(snap, SWARM__KIND_SERVICE, service, &svc, &e);
        swarm__snap_end(snap);
    }
    json_t *out = list(f, SWARM__KIND_TASK, "service", svc ? swarm__json_str(svc, "ID") : service);
    json_decref(svc);
    return out;
}

const char *fixture_node_id(fixture *f, unsigned i)
{
    return i < f->n ? f->workers[i].node_id : NULL;
}

/* ------------------------------------------------------------ nodes */

static void applied(void *payload, int rc, const swarm__err *err, uint64_t index)
{
    (void)err;
    (void)index;
    int *out = payload;
    *out = rc == 0 ? 1 : -1;
}

static int propose_sync(fixture *f, swarm__action *a, size_t n)
{
    int done = 0;
    swarm__err e;
    if (f->proposer->propose(f->proposer, a, n, applied, &done, &e) != 0)
        return -1;
    for (int i = 0; i < 1000 && done == 0; i++)
        drain(f);
    return done == 1 ? 0 : -1;
}

static int start_worker(fixture *f, unsigned i)
{
    worker *w = &f->workers[i];
    swarm__err e;
    w->host.f = f;
    w->host.worker = (int)i;
    w->t = transport(f, w->name, &w->host);
    if (w->t == NULL)
        return -1;
    if (swarm__agent_start(&w->agent, f->base, f->timers, f->clock, "fake", NULL, w->node_id, &e) != 0 ||
        swarm__worker_session_start(&w->session, f->timers, f->clock, w->t, "manager", w->cert, w->key, w->agent,
                                    w->name, NULL, NULL, w, &e) != 0) {
        fprintf(stderr, "fixture: worker %s: %s\n", w->name, e.message);
        return -1;
    }
    w->alive = 1;
    return 0;
}

static void stop_worker(worker *w)
{
    if (!w->alive)
        return;
    /* A crash: links drop (the manager sees them go), everything of the node disappears. */
    w->t->close(w->t);
    swarm__worker_session_stop(w->session);
    swarm__agent_stop(w->agent, 0);
    w->t->free(w->t);
    swarm__host_loop_close(&w->host.loop);
    w->session = NULL;
    w->agent = NULL;
    w->t = NULL;
    w->alive = 0;
}

void fixture_kill(fixture *f, unsigned i)
{
    if (i < f->n)
        stop_worker(&f->workers[i]);
    drain(f);
}

void fixture_revive(fixture *f, unsigned i)
{
    if (i < f->n && !f->workers[i].alive)
        start_worker(f, i);
    drain(f);
}

void fixture_partition(fixture *f, unsigned i)
{
    swarm__mem_network_partition(f->net, f->workers[i].name, "manager");
    drain(f);
}

void fixture_heal(fixture *f, unsigned i)
{
    swarm__mem_network_heal(f->net, f->workers[i].name, "manager");
    drain(f);
}

static void deliver(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fixture *f = arg;
    swarm__store_deliver(f->store);
}

static void notify(void *payload)
{
    fixture *f = payload;
    event_active(f->deliver_ev, 0, 0);
}

/* Makes the manager: store, CA, cluster and its own node (drained: tasks go to workers). */
static int start_manager(fixture *f)
{
    swarm__err e;
    struct swarm_store_backend *b = NULL;
    if (swarm_store_memory_new(&b) != 0 || swarm__store_open(&f->store, b, &e) != 0 ||
        swarm__proposer_local_new(&f->proposer, f->base, f->store, &e) != 0)
        return -1;
    f->deliver_ev = event_new(f->base, -1, 0, deliver, f);
    swarm__store_set_notify(f->store, notify, f);
    swarm__id_new(f->clock, f->manager_id);
    swarm__id_new(f->clock, f->cluster_id);
    if (swarm__ca_create(&f->ca, f->clock, &e) != 0)
        return -1;
    char now[SWARM__TIME_LEN];
    swarm__time_format(now, f->clock->wall_ns(f->clock->data));
    json_t *spec = json_object();
    swarm__cluster_spec_validate(spec, &e);
    json_t *cluster = json_pack("{s:s, s:{s:i}, s:s, s:s, s:o, s:{s:s, s:s}}", "ID", f->cluster_id, "Version",
                                "Index", 0, "CreatedAt", now, "UpdatedAt", now, "Spec", spec, "RootCA", "CACert",
                                swarm__ca_cert_pem(f->ca), "CAKey", swarm__ca_key_pem(f->ca));
    json_t *node = json_pack("{s:s, s:{s:i}, s:s, s:s, s:{s:{}, s:s, s:s}, s:{s:s}, s:{s:s}, s:{s:b}}", "ID",
                             f->manager_id, "Version", "Index", 0, "CreatedAt", now, "UpdatedAt", now, "Spec",
                             "Labels", "Role", "manager", "Availability", "drain", "Description", "Hostname",
                             "manager", "Status", "State", "ready", "ManagerStatus", "Leader", 1);
    swarm__action acts[2] = {{SWARM__OP_CREATE, SWARM__KIND_CLUSTER, cluster, 0},
                             {SWARM__OP_CREATE, SWARM__KIND_NODE, node, 0}};
    int rc = propose_sync(f, acts, 2);
    json_decref(cluster);
    json_decref(node);
    if (rc != 0)
        return -1;
    if (swarm__manager_start(&f->manager, f->base, f->timers, f->store, f->proposer, f->clock, "spread", &e) != 0 ||
        swarm__nodeserver_new(&f->server, f->timers, f->store, f->proposer, swarm__manager_dispatcher(f->manager),
                              f->clock, f->manager_id, &e) != 0)
        return -1;
    f->host.f = f;
    f->host.worker = -1;
    f->t = transport(f, "manager", &f->host);
    if (f->t == NULL || f->t->listen(f->t, "manager") != 0)
        return -1;
    swarm__nodeserver_set_transport(f->server, f->t);
    f->api = (swarm__controlapi){f->store, f->proposer, f->clock, f->manager_id};
    return 0;
}

/* Registers a worker the way CERT_ISSUE does: a certificate and a node object. */
static int enroll(fixture *f, worker *w)
{
    swarm__err e;
    char *csr = NULL;
    swarm__id_new(f->clock, w->node_id);
    if (swarm__key_new(&w->key, f->clock, &e) != 0 || swarm__csr_new(&csr, w->key, f->clock, &e) != 0 ||
        swarm__ca_issue(f->ca, csr, w->node_id, SWARM__CA_OU_WORKER, f->cluster_id, 7776000000000000LL, f->clock,
                        &w->cert, &e) != 0) {
        free(csr);
        return -1;
    }
    free(csr);
    char now[SWARM__TIME_LEN];
    swarm__time_format(now, f->clock->wall_ns(f->clock->data));
    json_t *node = json_pack("{s:s, s:{s:i}, s:s, s:s, s:{s:{}, s:s, s:s}, s:{s:s}, s:{s:s}}", "ID", w->node_id,
                             "Version", "Index", 0, "CreatedAt", now, "UpdatedAt", now, "Spec", "Labels", "Role",
                             "worker", "Availability", "active", "Description", "Hostname", w->name, "Status", "State",
                             "unknown");
    swarm__action a = {SWARM__OP_CREATE, SWARM__KIND_NODE, node, 0};
    int rc = propose_sync(f, &a, 1);
    json_decref(node);
    return rc;
}

int fixture_connected(fixture *f, unsigned i)
{
    return i < f->n && f->workers[i].alive && swarm__worker_session_connected(f->workers[i].session);
}

int fixture_add_rogue(fixture *f, int kind)
{
    /* Workers never move (transports point at their host contexts): rogues use spare room. */
    if (f->n == f->cap)
        return -1;
    worker *w = &f->workers[f->n];
    memset(w, 0, sizeof *w);
    snprintf(w->name, sizeof w->name, "rogue%u", f->n);
    swarm__ca *other = NULL;
    swarm__err e;
    char *csr = NULL;
    if (swarm__ca_create(&other, f->clock, &e) != 0)
        return -1;
    if (kind == ROGUE_FORGED && f->n > 0)
        snprintf(w->node_id, sizeof w->node_id, "%s", f->workers[0].node_id);
    else
        swarm__id_new(f->clock, w->node_id);
    int rc = swarm__key_new(&w->key, f->clock, &e) || swarm__csr_new(&csr, w->key, f->clock, &e) ||
             swarm__ca_issue(other, csr, w->node_id, SWARM__CA_OU_WORKER, f->cluster_id, 7776000000000000LL, f->clock,
                             &w->cert, &e);
    free(csr);
    swarm__ca_free(other);
    if (rc != 0)
        return -1;
    unsigned index = f->n++;
    if (start_worker(f, index) != 0)
        return -1;
    return (int)index;
}

typedef struct request_result {
    int done, code;
    char message[256];
} request_result;

static void request_done(void *payload, int status, const swarm_transport_msg *msg)
{
    request_result *r = payload;
    r->done = 1;
    if (status != 0) {
        r->code = status;
        return;
    }
    json_t *body = swarm__proto_body(msg);
    const char *m = NULL;
    r->code = body ? swarm__proto_error_of(body, &m) : SWARM_EBACKEND;
    snprintf(r->message, sizeof r->message, "%s", m ? m : "");
    json_decref(body);
}

int fixture_worker_request(fixture *f, unsigned i, uint32_t type, json_t *body, char *message, size_t size)
{
    worker *w = &f->workers[i];
    request_result r = {0, 0, ""};
    if (swarm__proto_request(w->t, swarm__worker_session_link(w->session), type, body, 5000, request_done, &r) != 0)
        return SWARM_EUNAVAILABLE;
    for (int k = 0; k < 1000 && !r.done; k++)
        fixture_run(f, 10);
    if (message)
        snprintf(message, size, "%s", r.message);
    return r.done ? r.code : SWARM_ETIMEDOUT;
}

fixture *fixture_new(unsigned n, uint64_t seed)
{
    fixture *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    f->timers = swarm__timers_virtual(START_WALL_NS, seed);
    f->clock = swarm__timers_clock(f->timers);
    swarm__mem_network_new(&f->net);
    swarm__mem_network_set_seed(f->net, seed);
    if (start_manager(f) != 0) {
        fprintf(stderr, "fixture: cannot start the manager\n");
        fixture_free(f);
        return NULL;
    }
    f->cap = n + 8;
    f->workers = calloc(f->cap, sizeof *f->workers);
    f->n = n;
    for (unsigned i = 0; i < n; i++) {
        worker *w = &f->workers[i];
        snprintf(w->name, sizeof w->name, "w%u", i);
        if (enroll(f, w) != 0 || start_worker(f, i) != 0) {
            fprintf(stderr, "fixture: cannot start worker %u\n", i);
            fixture_free(f);
            return NULL;
        }
    }
    return f;
}

void fixture_free(fixture *f)
{
    if (f == NULL)
        return;
    for (unsigned i = 0; i < f->n; i++) {
        stop_worker(&f->workers[i]);
        free(f->workers[i].cert);
        free(f->workers[i].key);
    }
    free(f->workers);
    if (f->server)
        swarm__nodeserver_set_transport(f->server, NULL);
    if (f->t) {
        f->t->close(f->t);
    }
    if (f->proposer)
        f->proposer->close(f->proposer);
    swarm__nodeserver_free(f->server);
    swarm__manager_stop(f->manager);
    if (f->t)
        f->t->free(f->t);
    swarm__host_loop_close(&f->host.loop);
    drain(f);
    if (f->deliver_ev)
        event_free(f->deliver_ev);
    swarm__store_close(f->store);
    swarm__ca_free(f->ca);
    swarm__mem_network_free(f->net);
    swarm__timers_free(f->timers);
    event_base_free(f->base);
    free(f);
}

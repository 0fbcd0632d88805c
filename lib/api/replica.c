/*
 * A manager's Raft member and what follows from leadership (see replica.h):
 * the group's lifecycle on this node, the leader's components started on
 * gaining leadership and stopped on losing it, proofs of identity on the
 * links this manager dials to other managers, control calls forwarded to the
 * leader (with a bounded wait while there is none), joining the group, and
 * each manager's status as the leader sees it. Runs on the engine's loop.
 */
#include "api/replica.h"

#include "agent/prove.h"
#include "core/json.h"
#include "core/log.h"
#include "proto/proto.h"

#include <stdlib.h>
#include <string.h>

#define WATCH_MS 20            /* how often leadership is looked at */
#define AUTH_RETRY_MS 300      /* a peer that does not know us yet (catching up) */
#define REQUEST_TIMEOUT_MS 30000

const char swarm__no_leader[] = "The swarm does not have a leader. It's possible that too few managers are online. "
                                "Make sure more than half of the managers are online.";

uint64_t swarm__raft_id_of(const char *node_id)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a: stable across nodes and versions */
    for (const unsigned char *p = (const unsigned char *)node_id; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

/* ------------------------------------------------------------ links we dial */

enum { OUT_RAFT = 1, OUT_FORWARD = 2 };

typedef struct outlink {
    uint64_t link;
    char addr[128];
    int kind;
    int up;              /* identity proved */
    unsigned generation; /* bumps at each (re)proof */
    struct outlink *next;
} outlink;

typedef struct auth_req {
    swarm__engine *eng;
    uint64_t link;
    unsigned generation;
} auth_req;

static outlink *outlink_of(swarm__engine *eng, uint64_t link)
{
    for (outlink *o = eng->outlinks; o; o = o->next)
        if (o->link == link)
            return o;
    return NULL;
}

static void flush(swarm__engine *eng);
static void on_node_change(const swarm__event *ev, void *payload);
static void on_cluster_change(swarm__engine *eng, const json_t *cluster);
static void step_down_if_demoted(swarm__engine *eng);
static void leave_if_removed(swarm__engine *eng, uint64_t leader_id);
static void reconcile(swarm__engine *eng);
static int reachable(swarm__engine *eng, const json_t *node);
static void prove(swarm__engine *eng, outlink *o);
static void heard(swarm__engine *eng, const char *who);

/* The reply is still for this link's current proof. */
static outlink *still(auth_req *a)
{
    outlink *o = outlink_of(a->eng, a->link);
    return o && o->generation == a->generation ? o : NULL;
}

static void retry_proof(void *arg)
{
    auth_req *a = arg;
    outlink *o = still(a);
    if (o && !o->up)
        prove(a->eng, o);
    free(a);
}

static void proof_failed(auth_req *a, const char *why)
{
    swarm__engine *eng = a->eng;
    swarm__log_debug("replica", "identity proof on link %llu failed (%s); retrying", (unsigned long long)a->link, why);
    void *token;
    if (swarm__oneshot(eng->timers, AUTH_RETRY_MS, retry_proof, a, &token) != 0)
        free(a);
}

static void authed(void *payload, int status, int rc, const char *why)
{
    auth_req *a = payload;
    outlink *o = still(a);
    if (o == NULL || status != 0) {
        free(a); /* the link went away; a new one proves itself again */
    } else if (rc != 0) {
        proof_failed(a, why ? why : swarm_strerror(rc));
    } else {
        swarm__engine *eng = a->eng;
        o->up = 1;
        free(a);
        if (o->kind == OUT_RAFT && eng->raft)
            swarm__raft_link_up(eng->raft, o->link);
        else if (o->kind == OUT_FORWARD)
            flush(eng);
    }
}

/* Proves this manager's identity on a link it dialed (the far side's node server checks it). */
static void prove(swarm__engine *eng, outlink *o)
{
    auth_req *a = calloc(1, sizeof *a);
    if (a == NULL)
        return;
    a->eng = eng;
    a->link = o->link;
    a->generation = ++o->generation;
    if (swarm__prove(eng->transport, o->link, eng->cert_pem, eng->key_pem, eng->clock, REQUEST_TIMEOUT_MS, authed,
                     a) != 0)
        free(a);
}

int swarm__replica_link_up(swarm__engine *eng, uint64_t link, const char *remote_addr)
{
    if (eng->raft == NULL)
        return 0;
    outlink *o = outlink_of(eng, link);
    if (o == NULL) {
        if ((o = calloc(1, sizeof *o)) == NULL)
            return 1;
        o->link = link;
        o->next = eng->outlinks;
        eng->outlinks = o;
    }
    /* Every dialed link that is not the worker session's is Raft's, or ours to the leader. */
    o->kind = link == eng->fwd_link ? OUT_FORWARD : OUT_RAFT;
    snprintf(o->addr, sizeof o->addr, "%s", remote_addr ? remote_addr : "");
    o->up = 0;
    prove(eng, o);
    return 1;
}

/*
 * The link to the leader dropped: its process most likely died (a killed
 * process resets its connections at once). Rather than wait out the whole
 * election timeout, this follower forgets the leader (so that it grants its
 * vote to the first candidate) and stands itself after a few heartbeats; a
 * leader that is in fact alive re-establishes itself with its next heartbeat.
 * The normal timeout returns as soon as a leader is known again.
 */
static void leader_link_lost(swarm__engine *eng)
{
    struct raft *r = swarm__raft_raw(eng->raft);
    if (raft_state(r) != RAFT_FOLLOWER || eng->fast_election)
        return;
    unsigned hb = eng->raft_heartbeat_ms ? eng->raft_heartbeat_ms : SWARM__RAFT_HEARTBEAT_MS;
    unsigned el = eng->raft_election_ms ? eng->raft_election_ms : SWARM__RAFT_ELECTION_MS;
    unsigned fast = 3 * hb < el ? 3 * hb : el;
    swarm__log_info("replica", "lost the link to the leader at %s: standing for election after %u ms", eng->leader_addr,
                    fast);
    eng->fast_election = 1;
    r->follower_state.current_leader.id = 0; /* libraft refuses votes while it knows a leader */
    raft_set_election_timeout(r, fast);
    /* libraft keeps the running timer: make it expire fast..2*fast from now (randomised as libraft does). */
    unsigned char rnd[4];
    eng->clock->random(eng->clock->data, rnd, sizeof rnd);
    uint32_t jitter = ((uint32_t)rnd[0] << 24 | (uint32_t)rnd[1] << 16 | (uint32_t)rnd[2] << 8 | rnd[3]) % fast;
    raft_time now = r->io->time(r->io);
    raft_time elapsed = now > r->election_timer_start ? now - r->election_timer_start : 0;
    r->follower_state.randomized_election_timeout = (unsigned)(elapsed + fast + jitter);
}

void swarm__replica_link_down(swarm__engine *eng, uint64_t link)
{
    for (outlink **p = &eng->outlinks; *p; p = &(*p)->next) {
        if ((*p)->link == link) {
            outlink *o = *p;
            *p = o->next;
            if (o->kind == OUT_RAFT && eng->raft && eng->leader_addr && strcmp(o->addr, eng->leader_addr) == 0 &&
                eng->leader_id != eng->raft_id)
                leader_link_lost(eng);
            free(o);
            break;
        }
    }
    if (link != 0 && link == eng->fwd_link && eng->transport) {
        /* Calls in flight to a leader that went away fail now (unknown outcome), not at their deadline. */
        eng->fwd_link = 0;
        free(eng->fwd_addr);
        eng->fwd_addr = NULL;
        eng->transport->close_link(eng->transport, link);
    }
    for (outlink **p = &eng->outlinks; *p; p = &(*p)->next) {
        if ((*p)->link == link) {
            outlink *o = *p;
            *p = o->next;
            free(o);
            break;
        }
    }
    if (eng->raft)
        swarm__raft_link_down(eng->raft, link);
}

int swarm__replica_receive(swarm__engine *eng, uint64_t link, uint64_t rid, const swarm_transport_msg *msg)
{
    outlink *o = outlink_of(eng, link);
    if (o == NULL)
        return 0;
    if (msg->type == SWARM__MSG_RAFT && o->up && eng->raft) {
        heard(eng, o->addr);
        swarm__raft_receive(eng->raft, link, msg);
    }
    else if (rid)
        swarm__proto_respond_error(eng->transport, link, rid, msg->type, SWARM_ENOTSUPPORTED, "not served here");
    return 1;
}

/* ------------------------------------------------------------ forwarding to the leader */

/* A request for the leader: a forwarded control call or this node's own (joining the group). */
typedef struct forward {
    swarm__engine *eng;
    uint32_t type;
    json_t *body;
    int64_t deadline_ns;
    int sent;
    int retry_unknown; /* a lost answer may be asked again (reads, joining) */
    void (*done)(struct forward *f, int rc, const char *message, json_t *reply);
    rpc_call *call;
    struct forward *next;
} forward;

static int64_t mono(swarm__engine *eng)
{
    return eng->clock->mono_ns(eng->clock->data);
}

static void forward_unlink(swarm__engine *eng, forward *f)
{
    for (forward **p = &eng->forwards; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            return;
        }
}

static void forward_finish(forward *f, int rc, const char *message, json_t *reply)
{
    forward_unlink(f->eng, f);
    f->done(f, rc, message, reply);
    json_decref(f->body);
    free(f);
}

/* Where forwarded requests go: the leader Raft knows, else the one a join was sent to. */
static const char *target(swarm__engine *eng)
{
    if (eng->leader_addr && eng->leader_id != eng->raft_id)
        return eng->leader_addr;
    return eng->join_leader;
}

static void forwarded(void *payload, int status, const swarm_transport_msg *msg)
{
    forward *f = payload;
    swarm__engine *eng = f->eng;
    json_t *body = status == 0 ? swarm__proto_body(msg) : NULL;
    const char *why = NULL;
    int rc = body ? swarm__proto_error_of(body, &why) : status;
    f->sent = 0;
    if (status == SWARM_ECLOSED || eng->transport == NULL) {
        forward_finish(f, SWARM_ECLOSED, "the node is shutting down", NULL);
    } else if (rc == SWARM_ENOTLEADER || (status != 0 && f->retry_unknown)) {
        const char *leader = swarm__json_str(body, "Leader");
        if (leader && eng->join_leader && strcmp(leader, eng->join_leader) != 0) {
            free(eng->join_leader);
            eng->join_leader = strdup(leader);
        }
        flush(eng); /* leadership moved: wait for the next leader (bounded by the deadline) */
    } else if (status != 0) {
        forward_finish(f, SWARM_EUNAVAILABLE,
                       "the leader was lost before it answered: the request may or may not have been applied", NULL);
    } else if (rc != 0) {
        forward_finish(f, rc, why, NULL);
    } else {
        forward_finish(f, 0, NULL, json_incref(json_object_get(body, "Result")));
    }
    json_decref(body);
}

/* Dials the target if the forwarding link goes elsewhere (or nowhere). */
static int forward_link(swarm__engine *eng)
{
    const char *to = target(eng);
    if (to == NULL || eng->transport == NULL)
        return 0;
    if (eng->fwd_addr && strcmp(eng->fwd_addr, to) == 0) {
        outlink *o = outlink_of(eng, eng->fwd_link);
        return o && o->up;
    }
    if (eng->fwd_link) {
        eng->transport->close_link(eng->transport, eng->fwd_link);
        swarm__replica_link_down(eng, eng->fwd_link);
    }
    free(eng->fwd_addr);
    eng->fwd_addr = NULL;
    eng->fwd_link = 0;
    uint64_t link;
    if (eng->transport->dial(eng->transport, to, &link) == 0) {
        eng->fwd_link = link;
        eng->fwd_addr = strdup(to);
    }
    return 0;
}

static void flush(swarm__engine *eng)
{
    int64_t now = mono(eng);
    int ready = -1;
    forward *f = eng->forwards;
    while (f) {
        forward *next = f->next;
        if (!f->sent) {
            if (f->call && eng->leading) {
                /* This node leads now: run it here. */
                rpc_call *call = f->call;
                json_t *req = json_incref(json_object_get(f->body, "Params"));
                f->call = NULL;
                forward_unlink(eng, f);
                json_decref(f->body);
                free(f);
                swarm__engine_dispatch(eng, call, req);
                json_decref(req);
            } else if (now > f->deadline_ns) {
                forward_finish(f, SWARM_ENOTLEADER, swarm__no_leader, NULL);
            } else {
                if (ready < 0)
                    ready = forward_link(eng);
                if (ready && swarm__proto_request(eng->transport, eng->fwd_link, f->type, f->body, REQUEST_TIMEOUT_MS,
                                                  forwarded, f) == 0)
                    f->sent = 1;
            }
        }
        f = next;
    }
}

static forward *forward_new(swarm__engine *eng, uint32_t type, json_t *body, int retry_unknown)
{
    forward *f = calloc(1, sizeof *f);
    if (f == NULL) {
        json_decref(body);
        return NULL;
    }
    f->eng = eng;
    f->type = type;
    f->body = body;
    f->retry_unknown = retry_unknown;
    f->deadline_ns = mono(eng) + (int64_t)eng->leader_wait_ms * 1000000;
    f->next = eng->forwards;
    eng->forwards = f;
    return f;
}

static void control_done(forward *f, int rc, const char *message, json_t *reply)
{
    swarm__err e;
    f->call->forwarded = 1; /* the leader's view, decorated there */
    if (rc != 0)
        swarm__err_set(&e, rc, "%s", message ? message : swarm_strerror(rc));
    swarm__rpc_reply(f->call, rc, rc ? &e : NULL, reply);
}

static int is_read(const char *method)
{
    static const char *const reads[] = {"ServiceGet", "ServiceList", "NodeGet", "NodeList",
                                        "TaskGet",    "TaskList",    "SwarmInspect", NULL};
    for (const char *const *m = reads; *m; m++)
        if (strcmp(*m, method) == 0)
            return 1;
    return 0;
}

int swarm__replica_route(swarm__engine *eng, rpc_call *call, const json_t *req)
{
    if (eng->raft == NULL || eng->leading)
        return 0;
    int read = is_read(call->method);
    /* Without a leader (quorum lost, or an election), reads answer from this node's copy. */
    if (read && target(eng) == NULL && !eng->gaining && swarm__raft_state(eng->raft) != RAFT_LEADER)
        return 0;
    json_t *body = json_pack("{s:s, s:O}", "Method", call->method, "Params", req);
    forward *f = body ? forward_new(eng, SWARM__MSG_CONTROL, body, read) : NULL;
    if (f == NULL) {
        swarm__err e;
        swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
        swarm__rpc_reply(call, e.code, &e, NULL);
        return 1;
    }
    f->call = call;
    f->done = control_done;
    flush(eng);
    return 1;
}

/* The leader runs a forwarded call as its own and answers on the link. */
static void on_control(void *payload, uint64_t link, uint64_t rid, const json_t *body)
{
    swarm__engine *eng = payload;
    const char *method = swarm__json_str(body, "Method");
    json_t *params = json_object_get((json_t *)body, "Params");
    if (method == NULL || !json_is_object(params) || strlen(method) >= sizeof ((rpc_call *)0)->method) {
        swarm__proto_respond_error(eng->transport, link, rid, SWARM__MSG_CONTROL, SWARM_EINVALID, "malformed call");
        return;
    }
    if (!eng->leading) {
        swarm__proto_respond_error(eng->transport, link, rid, SWARM__MSG_CONTROL, SWARM_ENOTLEADER, swarm__no_leader);
        return;
    }
    rpc_call *r = calloc(1, sizeof *r);
    if (r == NULL) {
        swarm__proto_respond_error(eng->transport, link, rid, SWARM__MSG_CONTROL, SWARM_ENOMEM, NULL);
        return;
    }
    r->eng = eng;
    r->remote_link = link;
    r->remote_rid = rid;
    snprintf(r->method, sizeof r->method, "%s", method);
    swarm__engine_dispatch(eng, r, params);
}

void swarm__replica_remote_reply(rpc_call *r, int rc, const swarm__err *err, json_t *result)
{
    swarm__engine *eng = r->eng;
    if (eng->transport) {
        if (rc != 0) {
            swarm__proto_respond_error(eng->transport, r->remote_link, r->remote_rid, SWARM__MSG_CONTROL, rc,
                                       err ? err->message : NULL);
        } else {
            json_t *body = json_pack("{s:O, s:I}", "Result", result ? result : json_null(), "Index",
                                     (json_int_t)(eng->raft ? swarm__raft_last_applied(eng->raft) : 0));
            swarm__proto_respond(eng->transport, r->remote_link, r->remote_rid, SWARM__MSG_CONTROL, body);
            json_decref(body);
        }
    }
    json_decref(result);
    free(r->params);
    free(r->result);
    free(r);
}

/* ------------------------------------------------------------ joining the group */

typedef struct join_wait {
    swarm__replica_joined_fn cb;
    void *payload;
} join_wait;

static void join_done(forward *f, int rc, const char *message, json_t *reply)
{
    join_wait *w = (join_wait *)f->call; /* not a call: the join's own completion */
    json_decref(reply);
    if (f->eng->raft)
        f->eng->live_from = rc == 0 ? swarm__raft_last_applied(f->eng->raft) : 0;
    free(f->eng->join_leader);
    f->eng->join_leader = NULL;
    w->cb(w->payload, rc, message);
    free(w);
}

int swarm__replica_join(swarm__engine *eng, const char *leader_addr, swarm__replica_joined_fn cb, void *payload,
                        swarm__err *e)
{
    join_wait *w = calloc(1, sizeof *w);
    json_t *body = json_pack("{s:s}", "Addr", eng->advertise_addr);
    free(eng->join_leader);
    eng->join_leader = strdup(leader_addr);
    eng->live_from = UINT64_MAX; /* until caught up */
    forward *f = w && body && eng->join_leader ? forward_new(eng, SWARM__MSG_RAFT_JOIN, body, 1) : NULL;
    if (f == NULL) {
        if (f == NULL && body && !(w && eng->join_leader))
            json_decref(body);
        free(w);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    w->cb = cb;
    w->payload = payload;
    f->call = (rpc_call *)w;
    f->done = join_done;
    f->deadline_ns = mono(eng) + 60LL * 1000000000; /* catching up may take a while */
    flush(eng);
    return 0;
}

typedef struct voter_req {
    swarm__engine *eng;
    uint64_t link, rid;
    char node_id[SWARM__IDBUF];
    char addr[128];
} voter_req;

static void ignore_write(void *payload, int rc, const swarm__err *err, uint64_t index)
{
    (void)index;
    if (rc != 0 && rc != SWARM_ECLOSED)
        swarm__log_warn("replica", "%s: %s", (const char *)payload, err ? err->message : swarm_strerror(rc));
}

static void voter_added(void *payload, int rc)
{
    voter_req *v = payload;
    swarm__engine *eng = v->eng;
    if (rc == 0 && v->node_id[0] && eng->proposer) {
        /* node ls shows where the new manager listens. */
        swarm__err e;
        json_t *patch = json_pack("{s:s, s:{s:s, s:s}}", "ID", v->node_id, "ManagerStatus", "Reachability",
                                  "reachable", "Addr", v->addr);
        swarm__action a = {SWARM__OP_PATCH, SWARM__KIND_NODE, patch, 0};
        if (patch == NULL || eng->proposer->propose(eng->proposer, &a, 1, ignore_write, "recording a manager", &e) != 0)
            swarm__log_warn("replica", "cannot record the new manager's address");
        json_decref(patch);
    }
    if (eng->transport) {
        if (rc == 0) {
            json_t *ok = json_object();
            swarm__proto_respond(eng->transport, v->link, v->rid, SWARM__MSG_RAFT_JOIN, ok);
            json_decref(ok);
        } else {
            swarm__proto_respond_error(eng->transport, v->link, v->rid, SWARM__MSG_RAFT_JOIN, rc,
                                       rc == SWARM_ENOTLEADER ? swarm__no_leader
                                                              : "the new manager could not catch up with the swarm");
        }
    }
    free(v);
}

static int in_configuration(swarm__engine *eng, uint64_t id, int *voter)
{
    struct raft *r = swarm__raft_raw(eng->raft);
    for (unsigned i = 0; i < r->configuration.n; i++)
        if (r->configuration.servers[i].id == id) {
            if (voter)
                *voter = r->configuration.servers[i].role == RAFT_VOTER;
            return 1;
        }
    return 0;
}

static void on_raft_join(void *payload, uint64_t link, uint64_t rid, const char *node_id, const json_t *body)
{
    swarm__engine *eng = payload;
    const char *addr = swarm__json_str(body, "Addr");
    uint64_t id = swarm__raft_id_of(node_id);
    int voter = 0;
    swarm__err e;
    if (addr == NULL || addr[0] == '\0') {
        swarm__proto_respond_error(eng->transport, link, rid, SWARM__MSG_RAFT_JOIN, SWARM_EINVALID, "Addr: required");
        return;
    }
    voter_req *v = calloc(1, sizeof *v);
    if (v == NULL)
        return;
    v->eng = eng;
    v->link = link;
    v->rid = rid;
    snprintf(v->node_id, sizeof v->node_id, "%s", node_id);
    snprintf(v->addr, sizeof v->addr, "%s", addr);
    if (in_configuration(eng, id, &voter) && voter) {
        voter_added(v, 0); /* already a voter (a restarted join) */
        return;
    }
    swarm__log_info("replica", "adding manager %s (%s) to the Raft group", node_id, addr);
    if (swarm__raft_add_voter(eng->raft, id, addr, voter_added, v, &e) != 0) {
        swarm__proto_respond_error(eng->transport, link, rid, SWARM__MSG_RAFT_JOIN, e.code, e.message);
        free(v);
    }
}

/* ------------------------------------------------------------ leadership */

static void lead_stop(swarm__engine *eng)
{
    eng->gaining = 0;
    if (!eng->leading)
        return;
    eng->leading = 0;
    swarm__log_info("replica", "no longer the leader: stopping the orchestrators, scheduler and dispatcher");
    if (eng->nodeserver)
        swarm__nodeserver_lead(eng->nodeserver, NULL, NULL);
    swarm__agent_detach(eng->agent);
    if (eng->term_proposer) {
        eng->term_proposer->close(eng->term_proposer);
        eng->term_proposer = NULL;
    }
    swarm__manager_stop(eng->manager);
    eng->manager = NULL;
    eng->removing = 0;
    if (eng->reconcile_token)
        swarm__oneshot_cancel(eng->reconcile_token);
    eng->reconcile_token = NULL;
    step_down_if_demoted(eng); /* a leader demoted itself: it hands over, then steps down */
}

/* This manager's agent talks to the leader over the network while it does not lead. */
static void follow(swarm__engine *eng)
{
    if (eng->worker || eng->agent == NULL || eng->transport == NULL)
        return;
    const char *to = eng->leader_addr && eng->leader_id != eng->raft_id ? eng->leader_addr : eng->advertise_addr;
    swarm__err e;
    if (swarm__worker_session_start(&eng->worker, eng->timers, eng->clock, eng->transport, to, eng->cert_pem,
                                    eng->key_pem, eng->agent, eng->hostname, NULL, swarm__engine_renewed, eng, &e) != 0)
        swarm__log_warn("replica", "cannot open this manager's own worker session: %s", e.message);
}

static void lead_start(swarm__engine *eng)
{
    swarm__err e;
    swarm__raft_proposer_options po = {eng->timers, 0, 0};
    int rc = swarm__proposer_raft_batched_new(&eng->term_proposer, eng->raft, &po, &e);
    if (rc == 0)
        rc = swarm__manager_start(&eng->manager, swarm__loop_base(eng->loop), eng->timers, eng->store,
                                  eng->term_proposer, eng->clock, eng->scheduler_name, &e);
    if (rc == 0) {
        swarm__worker_session_stop(eng->worker);
        eng->worker = NULL;
        swarm__agent_set_uplink(eng->agent, NULL, NULL);
        rc = swarm__agent_attach(eng->agent, swarm__manager_dispatcher(eng->manager), &e);
    }
    if (rc != 0) {
        swarm__log_error("replica", "cannot start leading: %s", e.message);
        if (eng->term_proposer)
            eng->term_proposer->close(eng->term_proposer);
        eng->term_proposer = NULL;
        swarm__manager_stop(eng->manager);
        eng->manager = NULL;
        return;
    }
    if (eng->nodeserver)
        swarm__nodeserver_lead(eng->nodeserver, eng->term_proposer, swarm__manager_dispatcher(eng->manager));
    eng->leading = 1;
    swarm__log_info("replica", "this manager leads the swarm (term %llu)",
                    (unsigned long long)swarm__raft_raw(eng->raft)->current_term);
    flush(eng);
    reconcile(eng);
}

static void barrier_done(void *payload, int rc)
{
    swarm__engine *eng = payload;
    if (!eng->gaining)
        return;
    eng->gaining = 0;
    /* Everything earlier leaders committed is applied here now: decisions start from the whole state. */
    if (rc == 0 && eng->raft && swarm__raft_state(eng->raft) == RAFT_LEADER)
        lead_start(eng);
}

static void watch(void *arg)
{
    swarm__engine *eng = arg;
    swarm__timer_start(eng->raft_timer, WATCH_MS);
    const char *addr = NULL;
    uint64_t id = swarm__raft_leader(eng->raft, &addr);
    if (id == 0)
        addr = NULL;
    if (id != eng->leader_id || (addr && (!eng->leader_addr || strcmp(addr, eng->leader_addr) != 0))) {
        eng->leader_id = id;
        free(eng->leader_addr);
        eng->leader_addr = id && addr ? strdup(addr) : NULL;
        if (id)
            swarm__log_info("replica", "the leader is %s%s", eng->leader_addr ? eng->leader_addr : "?",
                            id == eng->raft_id ? " (this manager)" : "");
        else
            swarm__log_info("replica", "the swarm has no leader right now");
    }
    if (!eng->active || eng->agent == NULL)
        return; /* init or join is still setting this manager up */
    if (eng->fast_election && (id != 0 || swarm__raft_state(eng->raft) == RAFT_LEADER)) {
        eng->fast_election = 0;
        raft_set_election_timeout(swarm__raft_raw(eng->raft),
                                  eng->raft_election_ms ? eng->raft_election_ms : SWARM__RAFT_ELECTION_MS);
    }
    int state = swarm__raft_state(eng->raft);
    if (state == RAFT_LEADER && !eng->leading && !eng->gaining) {
        eng->gaining = 1;
        swarm__err e;
        if (swarm__raft_barrier(eng->raft, barrier_done, eng, &e) != 0) {
            eng->gaining = 0;
            swarm__log_warn("replica", "cannot confirm leadership: %s", e.message);
        }
    } else if (state != RAFT_LEADER && (eng->leading || eng->gaining)) {
        lead_stop(eng);
    }
    if (!eng->leading && !eng->gaining && eng->worker == NULL)
        follow(eng);
    if (eng->forwards)
        flush(eng);
    leave_if_removed(eng, id);
}

/* ------------------------------------------------------------ node server hooks */

static const char *hook_leader(void *payload)
{
    swarm__engine *eng = payload;
    return eng->leader_addr && eng->leader_id != eng->raft_id ? eng->leader_addr : NULL;
}

static json_t *hook_managers(void *payload)
{
    swarm__engine *eng = payload;
    json_t *out = json_array();
    struct raft *r = swarm__raft_raw(eng->raft);
    for (unsigned i = 0; out && i < r->configuration.n; i++)
        if (r->configuration.servers[i].role == RAFT_VOTER)
            json_array_append_new(out, json_string(r->configuration.servers[i].address));
    return out;
}

/* Raft traffic from a manager (by node ID on links it dialed, by address on links this node dialed). */
static void heard(swarm__engine *eng, const char *who)
{
    if (who[0] == '\0')
        return;
    if (eng->heard == NULL)
        eng->heard = json_object();
    json_object_set_new(eng->heard, who, json_integer(mono(eng)));
}

static void hook_raft(void *payload, uint64_t link, const char *node_id, const swarm_transport_msg *msg)
{
    swarm__engine *eng = payload;
    if (eng->raft == NULL)
        return;
    heard(eng, node_id);
    swarm__raft_receive(eng->raft, link, msg);
}

/* ------------------------------------------------------------ lifecycle */

/*
 * Swarm's Spec.Raft counts in ticks (heartbeat 1, election 10); a tick here
 * is the RaftTick option (100 ms). SnapshotInterval is how many entries go
 * between snapshots, LogEntriesForSlowFollowers how many stay in the log
 * behind one. A cluster without them (not yet replicated) takes the defaults.
 */
static void raft_spec(swarm__engine *eng, const json_t *cluster)
{
    int64_t hb_ticks = swarm__json_int(cluster, "Spec.Raft.HeartbeatTick", 1);
    int64_t el_ticks = swarm__json_int(cluster, "Spec.Raft.ElectionTick", 10);
    int64_t interval = swarm__json_int(cluster, "Spec.Raft.SnapshotInterval", 10000);
    int64_t trailing = swarm__json_int(cluster, "Spec.Raft.LogEntriesForSlowFollowers", 500);
    unsigned tick = eng->raft_tick_ms ? eng->raft_tick_ms : SWARM__RAFT_HEARTBEAT_MS;
    if (hb_ticks < 1 || el_ticks <= hb_ticks || el_ticks > 1000)
        hb_ticks = 1, el_ticks = 10;
    eng->raft_heartbeat_ms = (unsigned)hb_ticks * tick;
    eng->raft_election_ms = (unsigned)el_ticks * tick;
    eng->raft_snapshot_threshold = interval > 0 && interval < UINT32_MAX ? (unsigned)interval : 10000;
    eng->raft_snapshot_trailing = trailing > 0 && trailing < UINT32_MAX ? (unsigned)trailing : 500;
}

/* swarm update changed Spec.Raft: the running member follows. */
static void on_cluster_change(swarm__engine *eng, const json_t *cluster)
{
    unsigned hb = eng->raft_heartbeat_ms, el = eng->raft_election_ms;
    unsigned th = eng->raft_snapshot_threshold, tr = eng->raft_snapshot_trailing;
    raft_spec(eng, cluster);
    if (hb == eng->raft_heartbeat_ms && el == eng->raft_election_ms && th == eng->raft_snapshot_threshold &&
        tr == eng->raft_snapshot_trailing)
        return;
    swarm__err e;
    /* A follower that lost its leader keeps its short timeout until a leader is back (watch restores the new one). */
    unsigned el_now = eng->fast_election ? swarm__raft_raw(eng->raft)->election_timeout : eng->raft_election_ms;
    if (swarm__raft_set_timing(eng->raft, eng->raft_heartbeat_ms, el_now, eng->raft_snapshot_threshold,
                               eng->raft_snapshot_trailing, &e) != 0)
        swarm__log_warn("replica", "cannot apply Spec.Raft: %s", e.message);
    else
        swarm__log_info("replica", "Raft timing: heartbeat %u ms, election %u ms, snapshot every %u entries",
                        eng->raft_heartbeat_ms, eng->raft_election_ms, eng->raft_snapshot_threshold);
}

static void hooks_set(swarm__engine *eng)
{
    if (eng->nodeserver) {
        swarm__nodeserver_hooks h = {eng, hook_leader, hook_managers, hook_raft, on_control, on_raft_join};
        swarm__nodeserver_set_hooks(eng->nodeserver, &h);
        swarm__nodeserver_set_ca(eng->nodeserver, eng->ca_pem, eng->cluster_id);
    }
}

int swarm__replica_start(swarm__engine *eng, int mode, swarm__err *e)
{
    if (eng->raft) {
        hooks_set(eng);
        return 0;
    }
    eng->raft_id = swarm__raft_id_of(eng->node_id);
    eng->live_from = 0;
    eng->demoted = 0;
    eng->leaderless_since = 0;
    swarm__err ignored;
    json_t *cluster = eng->store ? swarm__engine_cluster(eng, &ignored) : NULL;
    raft_spec(eng, cluster);
    json_decref(cluster);
    swarm__raft_options o = {0};
    o.id = eng->raft_id;
    o.address = eng->advertise_addr;
    o.dir = eng->state_dir;
    o.timers = eng->timers;
    o.clock = eng->clock;
    o.transport = eng->transport;
    o.store = eng->store;
    o.heartbeat_ms = eng->raft_heartbeat_ms;
    o.election_ms = eng->raft_election_ms;
    o.snapshot_threshold = eng->raft_snapshot_threshold;
    o.snapshot_trailing = eng->raft_snapshot_trailing;
    int rc = swarm__raft_new(&eng->raft, &o, e);
    if (rc != 0)
        return rc;
    if (mode == SWARM__REPLICA_BOOTSTRAP && (rc = swarm__raft_bootstrap(eng->raft, e)) != 0)
        goto fail;
    if (mode == SWARM__REPLICA_RECOVER && (rc = swarm__raft_recover(eng->raft, e)) != 0)
        goto fail;
    if ((rc = swarm__raft_start(eng->raft, e)) != 0)
        goto fail;
    if (eng->proposer)
        eng->proposer->close(eng->proposer);
    eng->proposer = NULL;
    swarm__raft_proposer_options po = {eng->timers, 0, 0};
    if ((rc = swarm__proposer_raft_batched_new(&eng->proposer, eng->raft, &po, e)) != 0)
        goto fail;
    eng->api.proposer = eng->proposer;
    if ((eng->raft_timer = swarm__timer_new(eng->timers, watch, eng)) == NULL) {
        rc = swarm__err_set(e, SWARM_ENOMEM, "out of memory");
        goto fail;
    }
    if (swarm__store_watch(eng->store, 1u << SWARM__KIND_NODE | 1u << SWARM__KIND_CLUSTER, on_node_change, eng, &eng->node_watch) != 0) {
        rc = swarm__err_set(e, SWARM_ENOMEM, "out of memory");
        goto fail;
    }
    hooks_set(eng);
    watch(eng);
    return 0;
fail:
    swarm__replica_stop(eng);
    return rc;
}

void swarm__replica_stop(swarm__engine *eng)
{
    lead_stop(eng);
    while (eng->forwards)
        forward_finish(eng->forwards, SWARM_ECLOSED, "the node is shutting down", NULL);
    swarm__timer_free(eng->raft_timer);
    eng->raft_timer = NULL;
    if (eng->node_watch)
        swarm__store_unwatch(eng->store, eng->node_watch);
    eng->node_watch = NULL;
    if (eng->proposer && eng->raft) {
        eng->proposer->close(eng->proposer);
        eng->proposer = NULL;
        eng->api.proposer = NULL;
    }
    swarm__raft_free(eng->raft);
    eng->raft = NULL;
    while (eng->outlinks) {
        outlink *o = eng->outlinks;
        eng->outlinks = o->next;
        free(o);
    }
    free(eng->fwd_addr);
    eng->fwd_addr = NULL;
    eng->fwd_link = 0;
    free(eng->leader_addr);
    eng->leader_addr = NULL;
    eng->leader_id = 0;
    free(eng->join_leader);
    eng->join_leader = NULL;
    json_decref(eng->heard);
    eng->heard = NULL;
}

int swarm__replica_leading(const swarm__engine *eng)
{
    return eng->raft == NULL || eng->leading;
}

/* ------------------------------------------------------------ manager status */

static int recently(swarm__engine *eng, const char *who)
{
    json_t *t = who && eng->heard ? json_object_get(eng->heard, who) : NULL;
    int64_t window = (int64_t)(eng->raft_election_ms ? eng->raft_election_ms : SWARM__RAFT_ELECTION_MS) * 2000000;
    return t && mono(eng) - json_integer_value(t) < window;
}

static int reachable(swarm__engine *eng, const json_t *node)
{
    const char *id = swarm__json_str(node, "ID");
    return strcmp(id, eng->node_id) == 0 || recently(eng, id) ||
           recently(eng, swarm__json_str(node, "ManagerStatus.Addr"));
}

static void decorate_one(swarm__engine *eng, json_t *node)
{
    const char *id = swarm__json_str(node, "ID");
    const char *role = swarm__json_str(node, "Spec.Role");
    json_t *ms = json_object_get(node, "ManagerStatus");
    if (id == NULL || eng->raft == NULL || (!ms && !(role && strcmp(role, "manager") == 0)))
        return;
    if (role && strcmp(role, "worker") == 0) {
        json_object_del(node, "ManagerStatus"); /* left from before a demotion */
        return;
    }
    uint64_t rid = swarm__raft_id_of(id);
    if (ms)
        json_object_del(ms, "Leader"); /* only the current leader is */
    if (!in_configuration(eng, rid, NULL)) {
        /* A manager the group no longer counts (after --force-new-cluster): demote or remove it. */
        if (ms)
            json_object_set_new(ms, "Reachability",
                                json_string(strcmp(id, eng->node_id) ? "unreachable" : "reachable"));
        return;
    }
    if (ms == NULL)
        return; /* a promoted node until it joined the group */
    if (rid == eng->leader_id)
        json_object_set_new(ms, "Leader", json_true());
    else
        json_object_del(ms, "Leader");
    json_object_set_new(ms, "Reachability", json_string(reachable(eng, node) || rid == eng->leader_id
                                                            ? "reachable"
                                                            : "unreachable"));
}

void swarm__replica_decorate(swarm__engine *eng, const char *method, json_t *result)
{
    if (eng->raft == NULL || result == NULL)
        return;
    if (strcmp(method, "NodeGet") == 0) {
        decorate_one(eng, result);
    } else if (strcmp(method, "NodeList") == 0) {
        size_t i;
        json_t *n;
        json_array_foreach(result, i, n) decorate_one(eng, n);
    }
}

/* ------------------------------------------------------------ promotion and demotion */

/*
 * The leader keeps the group's voters in line with the store: a voter whose
 * node the store calls a worker (demoted) is removed, one change at a time.
 * A leader that is itself demoted hands leadership over; its successor
 * removes it. Runs at gaining leadership, on node changes, and again after a
 * change finished or failed.
 */
static void reconcile(swarm__engine *eng);

static void reconcile_later(void *arg)
{
    swarm__engine *eng = arg;
    eng->reconcile_token = NULL;
    reconcile(eng);
}

static void reconcile_soon(swarm__engine *eng, int64_t ms)
{
    if (eng->reconcile_token == NULL)
        swarm__oneshot(eng->timers, ms, reconcile_later, eng, &eng->reconcile_token);
}

static void voter_removed(void *payload, int rc)
{
    swarm__engine *eng = payload;
    eng->removing = 0;
    if (rc != 0 && rc != SWARM_ECLOSED)
        swarm__log_warn("replica", "removing a demoted manager from the group failed (%s); retrying",
                        swarm_strerror(rc));
    if (rc != SWARM_ECLOSED)
        reconcile_soon(eng, rc == 0 ? 0 : 500);
}

static void reconcile(swarm__engine *eng)
{
    if (!eng->leading || eng->removing)
        return;
    swarm__snap *snap;
    swarm__err e;
    json_t *nodes = NULL, *n;
    size_t i;
    if (swarm__snap_begin(eng->store, &snap, &e) != 0)
        return;
    swarm__snap_list(snap, SWARM__KIND_NODE, NULL, NULL, &nodes, &e);
    swarm__snap_end(snap);
    json_array_foreach(nodes, i, n) {
        const char *id = swarm__json_str(n, "ID"), *role = swarm__json_str(n, "Spec.Role");
        uint64_t rid = id ? swarm__raft_id_of(id) : 0;
        int voter = 0;
        if (!role || strcmp(role, "worker") != 0 || !in_configuration(eng, rid, &voter) || !voter)
            continue;
        if (rid == eng->raft_id) {
            swarm__log_info("replica", "this manager was demoted: handing leadership over");
            if (swarm__raft_transfer(eng->raft, 0, &e) != 0)
                swarm__log_warn("replica", "cannot hand leadership over: %s", e.message);
            break;
        }
        swarm__log_info("replica", "removing demoted manager %s from the Raft group", id);
        eng->removing = 1;
        if (swarm__raft_remove(eng->raft, rid, voter_removed, eng, &e) != 0) {
            eng->removing = 0;
            reconcile_soon(eng, 500);
        }
        break;
    }
    json_decref(nodes);
}

static int voters(swarm__engine *eng)
{
    struct raft *r = swarm__raft_raw(eng->raft);
    int n = 0;
    for (unsigned i = 0; i < r->configuration.n; i++)
        n += r->configuration.servers[i].role == RAFT_VOTER;
    return n;
}

/* Voters other than `except` that this leader hears from (itself included). */
static int reachable_voters(swarm__engine *eng, uint64_t except)
{
    swarm__snap *snap;
    swarm__err e;
    json_t *nodes = NULL, *n;
    size_t i;
    int count = 0, voter = 0;
    if (swarm__snap_begin(eng->store, &snap, &e) != 0)
        return 0;
    swarm__snap_list(snap, SWARM__KIND_NODE, NULL, NULL, &nodes, &e);
    swarm__snap_end(snap);
    json_array_foreach(nodes, i, n) {
        const char *id = swarm__json_str(n, "ID");
        uint64_t rid = id ? swarm__raft_id_of(id) : 0;
        if (rid && rid != except && in_configuration(eng, rid, &voter) && voter && reachable(eng, n))
            count++;
    }
    json_decref(nodes);
    return count;
}

int swarm__replica_node_update(swarm__engine *eng, rpc_call *call, const json_t *req)
{
    const char *role = swarm__json_str(req, "Spec.Role"), *ref = swarm__json_str(req, "Ref");
    if (eng->raft == NULL || !eng->leading || role == NULL || ref == NULL || strcmp(role, "worker") != 0)
        return 0; /* promotions are plain writes: the worker learns its role from its heartbeats */
    json_t *node = NULL;
    swarm__err e;
    if (swarm__controlapi_lookup(&eng->api, SWARM__KIND_NODE, ref, &node, &e) != 0)
        return 0;
    const char *id = swarm__json_str(node, "ID"), *old = swarm__json_str(node, "Spec.Role");
    uint64_t rid = id ? swarm__raft_id_of(id) : 0;
    int voter = 0, rc = 0, n = voters(eng);
    if (old && strcmp(old, "manager") == 0 && in_configuration(eng, rid, &voter) && voter) {
        if (n <= 1)
            rc = swarm__err_set(&e, SWARM_EINVALID,
                                "rpc error: code = FailedPrecondition desc = attempting to demote the last manager "
                                "of the swarm");
        else if (reachable_voters(eng, rid) < (n - 1) / 2 + 1)
            rc = swarm__err_set(&e, SWARM_EINVALID,
                                "rpc error: code = FailedPrecondition desc = can't remove member from the raft: this "
                                "would result in a loss of quorum");
    }
    json_decref(node);
    if (rc == 0)
        return 0; /* the write goes ahead; the group follows (reconcile) */
    swarm__rpc_reply(call, rc, &e, NULL);
    return 1;
}

/*
 * Node and cluster changes (Spec.Raft). A manager whose node the store now
 * calls a worker steps down; the leader does the Raft part (reconcile). A joining manager replays the swarm's
 * history, its own earlier roles included: only live changes count.
 */
static void on_node_change(const swarm__event *ev, void *payload)
{
    swarm__engine *eng = payload;
    if (ev->op == SWARM__OP_DELETE || ev->index <= eng->live_from)
        return;
    if (ev->kind == SWARM__KIND_CLUSTER) {
        on_cluster_change(eng, ev->object);
        return;
    }
    if (eng->leading) {
        reconcile_soon(eng, 0);
        return;
    }
    const char *id = swarm__json_str(ev->object, "ID");
    if (id && strcmp(id, eng->node_id) == 0 && !eng->gaining)
        step_down_if_demoted(eng);
}

/*
 * A demoted manager keeps its member running until the leader has removed
 * it from the group (a group of two could not commit the removal without
 * it); a removed member hears from no leader any more, and that is when it
 * steps down (watch).
 */
static void step_down_if_demoted(swarm__engine *eng)
{
    json_t *self = NULL;
    swarm__err e;
    if (eng->role != SWARM__NODE_MANAGER ||
        swarm__controlapi_lookup(&eng->api, SWARM__KIND_NODE, eng->node_id, &self, &e) != 0)
        return;
    const char *role = swarm__json_str(self, "Spec.Role");
    if (role && strcmp(role, "worker") == 0 && !eng->demoted) {
        swarm__log_info("replica", "this manager was demoted: it leaves once the group let it go");
        eng->demoted = 1;
    }
    json_decref(self);
}

/* Called by watch: a demoted member without a leader for two election timeouts was removed. */
static void leave_if_removed(swarm__engine *eng, uint64_t leader_id)
{
    int64_t now = mono(eng);
    if (!eng->demoted || eng->leading || eng->gaining || leader_id != 0) {
        eng->leaderless_since = 0;
        return;
    }
    if (eng->leaderless_since == 0)
        eng->leaderless_since = now;
    else if (now - eng->leaderless_since > 2000000LL * eng->raft_election_ms)
        swarm__engine_change_role(eng, SWARM__NODE_WORKER);
}

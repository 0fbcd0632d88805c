/*
 * A manager's Raft member and what follows from leadership (see replica.h):
 * the member's lifecycle on this node, Spec.Raft, the leader's components
 * started on gaining leadership and stopped on losing it, and proofs of
 * identity on the links this manager dials to other managers. Calls for the
 * leader are in forward.c, the group's voters and the managers' status in
 * members.c. Runs on the engine's loop.
 */
#include "api/replica_int.h"

#include "agent/prove.h"
#include "raft/io.h"
#include "core/json.h"
#include "core/log.h"
#include "proto/proto.h"

#include <stdlib.h>
#include <string.h>

#define WATCH_MS 20            /* how often leadership is looked at */
#define AUTH_RETRY_MS 300      /* a peer that does not know us yet (catching up) */

const char swarm__no_leader[] = "The swarm does not have a leader. It's possible that too few managers are online. "
                                "Make sure more than half of the managers are online.";

int64_t swarm__replica_now(const swarm__engine *eng)
{
    return eng->clock->mono_ns(eng->clock->data);
}

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

int swarm__replica_link_proved(swarm__engine *eng, uint64_t link)
{
    outlink *o = outlink_of(eng, link);
    return o && o->up;
}

static void prove(swarm__engine *eng, outlink *o);

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
            swarm__forward_flush(eng);
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
    if (swarm__prove(eng->transport, o->link, eng->cert_pem, eng->key_pem, eng->clock, SWARM__REPLICA_REQUEST_TIMEOUT_MS, authed,
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
        swarm__members_heard(eng, o->addr);
        swarm__raft_receive(eng->raft, link, msg);
    }
    else if (rid)
        swarm__proto_respond_error(eng->transport, link, rid, msg->type, SWARM_ENOTSUPPORTED, "not served here");
    return 1;
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
    swarm__members_lead_stopped(eng);
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
    swarm__forward_flush(eng);
    swarm__members_reconcile(eng);
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
        swarm__forward_flush(eng);
    swarm__members_watch(eng, id);
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


static void hook_raft(void *payload, uint64_t link, const char *node_id, const swarm_transport_msg *msg)
{
    swarm__engine *eng = payload;
    if (eng->raft == NULL)
        return;
    /* A proven manager speaks only for itself. */
    if (swarm__raft_io_sender(msg) != swarm__raft_id_of(node_id)) {
        swarm__log_warn("replica", "dropped a Raft message from node %s claiming another member's ID", node_id);
        return;
    }
    swarm__members_heard(eng, node_id);
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

/* Store changes: Spec.Raft (here) and nodes (members.c). A joining manager replays the swarm's history,
 * its own earlier roles included: only live changes count. */
static void on_store_change(const swarm__event *ev, void *payload)
{
    swarm__engine *eng = payload;
    if (ev->op == SWARM__OP_DELETE || ev->index <= eng->live_from)
        return;
    if (ev->kind == SWARM__KIND_CLUSTER)
        on_cluster_change(eng, ev->object);
    else
        swarm__members_node_changed(eng, ev);
}

static void hooks_set(swarm__engine *eng)
{
    if (eng->nodeserver) {
        swarm__nodeserver_hooks h = {eng, hook_leader, hook_managers, hook_raft, swarm__forward_on_control, swarm__members_on_raft_join};
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
    if (swarm__store_watch(eng->store, 1u << SWARM__KIND_NODE | 1u << SWARM__KIND_CLUSTER, on_store_change, eng, &eng->node_watch) != 0) {
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
    swarm__forward_fail_all(eng);
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



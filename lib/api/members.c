/*
 * The managers' group as the leader keeps it (see replica.h): voters added
 * when a manager asks (RAFT_JOIN), demoted managers removed (the group
 * follows the store's roles), and each manager's status as the leader sees
 * it. Runs on the engine's loop.
 */
#include "api/replica_int.h"

#include "core/json.h"
#include "core/log.h"
#include "proto/proto.h"

#include <stdlib.h>
#include <string.h>

static int reachable(swarm__engine *eng, const json_t *node);
static void step_down_if_demoted(swarm__engine *eng);

/* ------------------------------------------------------------ voters */

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

void swarm__members_on_raft_join(void *payload, uint64_t link, uint64_t rid, const char *node_id, const json_t *body)
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


/* ------------------------------------------------------------ manager status */

static int recently(swarm__engine *eng, const char *who)
{
    json_t *t = who && eng->heard ? json_object_get(eng->heard, who) : NULL;
    int64_t window = (int64_t)(eng->raft_election_ms ? eng->raft_election_ms : SWARM__RAFT_ELECTION_MS) * 2000000;
    return t && swarm__replica_now(eng) - json_integer_value(t) < window;
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


/* Raft traffic from a manager (by node ID on links it dialed, by address on links this node dialed). */
void swarm__members_heard(swarm__engine *eng, const char *who)
{
    if (who[0] == '\0')
        return;
    if (eng->heard == NULL)
        eng->heard = json_object();
    json_object_set_new(eng->heard, who, json_integer(swarm__replica_now(eng)));
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
 * A node changed (a live change: replica.c filters a joiner's replay). A
 * manager whose node the store now calls a worker steps down; the leader does
 * the Raft part (reconcile).
 */
void swarm__members_node_changed(swarm__engine *eng, const swarm__event *ev)
{
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
void swarm__members_watch(swarm__engine *eng, uint64_t leader_id)
{
    int64_t now = swarm__replica_now(eng);
    if (!eng->demoted || eng->leading || eng->gaining || leader_id != 0) {
        eng->leaderless_since = 0;
        return;
    }
    if (eng->leaderless_since == 0)
        eng->leaderless_since = now;
    else if (now - eng->leaderless_since > 2000000LL * eng->raft_election_ms)
        swarm__engine_change_role(eng, SWARM__NODE_WORKER);
}

void swarm__members_reconcile(swarm__engine *eng)
{
    reconcile(eng);
}

void swarm__members_lead_stopped(swarm__engine *eng)
{
    eng->removing = 0;
    if (eng->reconcile_token)
        swarm__oneshot_cancel(eng->reconcile_token);
    eng->reconcile_token = NULL;
    step_down_if_demoted(eng); /* a leader demoted itself: it hands over, then steps down */
}

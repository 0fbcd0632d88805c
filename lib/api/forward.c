/*
 * Calls for the leader (see replica.h): control calls a manager that does not
 * lead forwards (CONTROL), this manager's own request to join the group
 * (RAFT_JOIN), the bounded wait while no leader is known, and the leader's
 * side of a forwarded call. Runs on the engine's loop.
 */
#include "api/replica_int.h"

#include "core/json.h"
#include "proto/proto.h"

#include <stdlib.h>
#include <string.h>

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
    rpc_call *call;  /* a forwarded control call, or NULL */
    void *payload;   /* done's own (joining) */
    struct forward *next;
} forward;

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
        swarm__forward_flush(eng); /* leadership moved: wait for the next leader (bounded by the deadline) */
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
    if (eng->fwd_addr && strcmp(eng->fwd_addr, to) == 0)
        return swarm__replica_link_proved(eng, eng->fwd_link);
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

void swarm__forward_flush(swarm__engine *eng)
{
    int64_t now = swarm__replica_now(eng);
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
                if (ready && swarm__proto_request(eng->transport, eng->fwd_link, f->type, f->body, SWARM__REPLICA_REQUEST_TIMEOUT_MS,
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
    f->deadline_ns = swarm__replica_now(eng) + (int64_t)eng->leader_wait_ms * 1000000;
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
    swarm__forward_flush(eng);
    return 1;
}

/* The leader runs a forwarded call as its own and answers on the link. */
void swarm__forward_on_control(void *payload, uint64_t link, uint64_t rid, const json_t *body)
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
            json_t *body = json_pack("{s:O}", "Result", result ? result : json_null());
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
    join_wait *w = f->payload;
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
        if (body && !(w && eng->join_leader))
            json_decref(body); /* forward_new took it otherwise */
        free(w);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    w->cb = cb;
    w->payload = payload;
    f->payload = w;
    f->done = join_done;
    f->deadline_ns = swarm__replica_now(eng) + 60LL * 1000000000; /* catching up may take a while */
    swarm__forward_flush(eng);
    return 0;
}


void swarm__forward_fail_all(swarm__engine *eng)
{
    while (eng->forwards)
        forward_finish(eng->forwards, SWARM_ECLOSED, "the node is shutting down", NULL);
}

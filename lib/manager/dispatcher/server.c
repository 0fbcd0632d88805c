#include "manager/dispatcher/server.h"

#include "ca/ca.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "model/model.h"
#include "proto/proto.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_PERIOD_NS 5000000000LL

/* One link: who is on the other end, once proved. */
typedef struct link_state {
    uint64_t link;
    char addr[128];
    unsigned char nonce[32];
    int has_nonce;
    char node_id[SWARM__IDBUF]; /* "" until AUTH succeeded */
    char role[16];
    struct link_state *next;
} link_state;

/* One node with a dispatcher session. */
typedef struct member {
    swarm__nodeserver *server;
    char node_id[SWARM__IDBUF];
    uint64_t link;          /* 0 while the link is down */
    int64_t last_beat_ns;   /* monotonic */
    int64_t link_lost_ns;   /* monotonic, when link went down */
    int inherited;          /* known ready when this manager started leading: no session yet */
    swarm__session *session;
    struct member *next;
} member;

struct swarm__nodeserver {
    swarm__timers *timers;
    swarm__store *store;
    swarm__proposer *proposer;
    swarm__dispatcher *dispatcher;
    const swarm__clock *clock;
    struct swarm_transport_backend *transport;
    char self[SWARM__IDBUF];
    link_state *links;
    member *members;
    swarm__timer *tick;
    swarm__watch *watch;
    swarm__nodeserver_hooks hooks;
    char *ca_pem, *cluster_id; /* fallback while the store has no cluster */
};

/* Refuses a leader-only request, telling where the leader is. */
static void not_leader(swarm__nodeserver *s, uint64_t link, uint64_t rid, uint32_t type)
{
    if (rid == 0 || s->transport == NULL)
        return;
    const char *leader = s->hooks.leader ? s->hooks.leader(s->hooks.payload) : NULL;
    json_t *managers = s->hooks.managers ? s->hooks.managers(s->hooks.payload) : NULL;
    json_t *body = json_pack("{s:i, s:s, s:s?, s:o}", "Code", SWARM_ENOTLEADER, "Message",
                             leader ? "this manager is not the leader" : "The swarm does not have a leader right now",
                             "Leader", leader, "Managers", managers ? managers : json_array());
    swarm__proto_respond(s->transport, link, rid, type, body);
    json_decref(body);
}

/* ------------------------------------------------------------ helpers */

static link_state *link_of(swarm__nodeserver *s, uint64_t link)
{
    for (link_state *l = s->links; l; l = l->next)
        if (l->link == link)
            return l;
    return NULL;
}

static member *member_of(swarm__nodeserver *s, const char *node_id)
{
    for (member *m = s->members; m; m = m->next)
        if (strcmp(m->node_id, node_id) == 0)
            return m;
    return NULL;
}

static int64_t mono(const swarm__nodeserver *s)
{
    return s->clock->mono_ns(s->clock->data);
}

static json_t *cluster_object(swarm__nodeserver *s)
{
    swarm__snap *snap;
    swarm__err e;
    json_t *all = NULL;
    if (swarm__snap_begin(s->store, &snap, &e) != 0)
        return NULL;
    swarm__snap_list(snap, SWARM__KIND_CLUSTER, NULL, NULL, &all, &e);
    swarm__snap_end(snap);
    json_t *c = json_incref(json_array_get(all, 0));
    json_decref(all);
    return c;
}

static json_t *node_object(swarm__nodeserver *s, const char *id)
{
    swarm__snap *snap;
    swarm__err e;
    if (swarm__snap_begin(s->store, &snap, &e) != 0)
        return NULL;
    json_t *n = swarm__snap_get(snap, SWARM__KIND_NODE, id);
    swarm__snap_end(snap);
    return n;
}

static int64_t period_ns(swarm__nodeserver *s)
{
    json_t *c = cluster_object(s);
    int64_t p = swarm__json_int(c, "Spec.Dispatcher.HeartbeatPeriod", DEFAULT_PERIOD_NS);
    json_decref(c);
    return p > 0 ? p : DEFAULT_PERIOD_NS;
}

static void now_text(swarm__nodeserver *s, char ts[SWARM__TIME_LEN])
{
    swarm__time_format(ts, s->clock->wall_ns(s->clock->data));
}

static void ignore_result(void *payload, int rc, const swarm__err *err, uint64_t index)
{
    (void)index;
    if (rc != 0 && rc != SWARM_ECLOSED)
        swarm__log_warn("nodeserver", "%s: %s", (const char *)payload, err ? err->message : swarm_strerror(rc));
}

static void patch_node(swarm__nodeserver *s, json_t *patch)
{
    swarm__err e;
    swarm__action a = {SWARM__OP_PATCH, SWARM__KIND_NODE, patch, 0};
    if (s->proposer->propose(s->proposer, &a, 1, ignore_result, "updating a node", &e) != 0)
        swarm__log_warn("nodeserver", "cannot update node: %s", e.message);
    json_decref(patch);
}

static void set_node_state(swarm__nodeserver *s, const char *node_id, const char *state, const char *message,
                           const char *addr, const json_t *description)
{
    char ts[SWARM__TIME_LEN];
    now_text(s, ts);
    json_t *node = node_object(s, node_id);
    if (node == NULL)
        return;
    json_t *status = json_pack("{s:s, s:s}", "State", state, "Message", message ? message : "");
    const char *old_addr = swarm__json_str(node, "Status.Addr");
    if (addr || old_addr)
        json_object_set_new(status, "Addr", json_string(addr ? addr : old_addr));
    json_t *desc = NULL;
    if (description) {
        desc = json_deep_copy(description);
        /* The hostname given at join stays unless the node reports one. */
        if (!swarm__json_str(desc, "Hostname") && swarm__json_str(node, "Description.Hostname"))
            json_object_set_new(desc, "Hostname", json_string(swarm__json_str(node, "Description.Hostname")));
    }
    /* A node coming back as it was (a new session, a new leader) writes nothing: no needless version bump
     * under a user's read-modify-write of the node. */
    if (json_equal(status, json_object_get(node, "Status")) &&
        (desc == NULL || json_equal(desc, json_object_get(node, "Description")))) {
        json_decref(status);
        json_decref(desc);
        json_decref(node);
        return;
    }
    json_t *patch = json_pack("{s:s, s:s, s:o}", "ID", node_id, "UpdatedAt", ts, "Status", status);
    if (desc)
        json_object_set_new(patch, "Description", desc);
    json_decref(node);
    patch_node(s, patch);
}

/* ------------------------------------------------------------ joining */

typedef struct issue_ctx {
    swarm__nodeserver *s;
    uint64_t link, request_id;
    json_t *reply;
} issue_ctx;

static void issued(void *payload, int rc, const swarm__err *err, uint64_t index)
{
    (void)index;
    issue_ctx *c = payload;
    if (c->s->transport) {
        if (rc == 0)
            swarm__proto_respond(c->s->transport, c->link, c->request_id, SWARM__MSG_CERT_ISSUE, c->reply);
        else
            swarm__proto_respond_error(c->s->transport, c->link, c->request_id, SWARM__MSG_CERT_ISSUE, rc,
                                       err ? err->message : NULL);
    }
    json_decref(c->reply);
    free(c);
}

static void cert_issue(swarm__nodeserver *s, uint64_t link, uint64_t rid, const json_t *body)
{
    swarm__err e = {0, ""};
    json_t *cluster = cluster_object(s);
    const char *token_text = swarm__json_str(body, "Token"), *csr = swarm__json_str(body, "CSR");
    const char *ca_pem = swarm__json_str(cluster, "RootCA.CACert"), *ca_key = swarm__json_str(cluster, "RootCA.CAKey");
    const char *worker = swarm__json_str(cluster, "JoinTokens.Worker");
    const char *manager = swarm__json_str(cluster, "JoinTokens.Manager");
    swarm__token token;
    int rc = 0;
    if (!cluster || !ca_pem || !ca_key)
        rc = swarm__err_set(&e, SWARM_EUNAVAILABLE, "this manager has no certificate authority");
    else if (!token_text || !csr || swarm__token_parse(&token, token_text, &e) != 0 ||
             (!(worker && swarm__secret_equal(token_text, worker)) && !(manager && swarm__secret_equal(token_text, manager))))
        rc = swarm__err_set(&e, SWARM_EINVALID, "A valid join token is necessary to join this cluster");
    int as_manager = rc == 0 && manager && swarm__secret_equal(token_text, manager);
    const char *role = as_manager ? "manager" : "worker";
    const char *joiner_addr = swarm__json_str(body, "Addr");
    if (rc == 0 && as_manager && (joiner_addr == NULL || joiner_addr[0] == '\0'))
        rc = swarm__err_set(&e, SWARM_EINVALID, "Addr: a joining manager must give the address it listens on");
    const char *availability = swarm__json_str(body, "Availability");
    if (rc == 0 && availability && availability[0] && strcmp(availability, "active") &&
        strcmp(availability, "pause") && strcmp(availability, "drain"))
        rc = swarm__err_set(&e, SWARM_EINVALID, "Availability: must be one of active, pause, drain");
    char node_id[SWARM__ID_LEN + 1];
    char *cert = NULL;
    swarm__ca *ca = NULL;
    if (rc == 0 && swarm__id_new(s->clock, node_id) != 0)
        rc = swarm__err_set(&e, SWARM_EIO, "cannot read random bytes");
    if (rc == 0)
        rc = swarm__ca_load(&ca, ca_pem, ca_key, &e);
    if (rc == 0)
        rc = swarm__ca_issue(ca, csr, node_id, as_manager ? SWARM__CA_OU_MANAGER : SWARM__CA_OU_WORKER,
                             swarm__json_str(cluster, "ID"),
                             swarm__json_int(cluster, "Spec.CAConfig.NodeCertExpiry", 7776000000000000LL), s->clock,
                             &cert, &e);
    swarm__ca_free(ca);
    if (rc != 0) {
        json_decref(cluster);
        swarm__proto_respond_error(s->transport, link, rid, SWARM__MSG_CERT_ISSUE, rc, e.message);
        return;
    }
    char ts[SWARM__TIME_LEN];
    now_text(s, ts);
    link_state *l = link_of(s, link);
    const char *hostname = swarm__json_str(body, "Hostname");
    json_t *node = json_pack("{s:s, s:{s:i}, s:s, s:s, s:{s:{}, s:s, s:s}, s:{s:s}, s:{s:s, s:s, s:s}}", "ID",
                             node_id, "Version", "Index", 0, "CreatedAt", ts, "UpdatedAt", ts, "Spec", "Labels",
                             "Role", role, "Availability", availability && availability[0] ? availability : "active",
                             "Description", "Hostname", hostname ? hostname : "", "Status", "State", "unknown",
                             "Message", "joined", "Addr", l ? l->addr : "");
    if (as_manager)
        json_object_set_new(node, "ManagerStatus", json_pack("{s:s, s:s}", "Reachability", "unknown", "Addr", joiner_addr));
    issue_ctx *c = calloc(1, sizeof *c);
    c->s = s;
    c->link = link;
    c->request_id = rid;
    c->reply = json_pack("{s:s, s:s, s:s, s:s, s:s}", "NodeID", node_id, "ClusterID", swarm__json_str(cluster, "ID"),
                         "Role", role, "Cert", cert, "CACert", ca_pem);
    free(cert);
    json_decref(cluster);
    swarm__action a = {SWARM__OP_CREATE, SWARM__KIND_NODE, node, 0};
    if (s->proposer->propose(s->proposer, &a, 1, issued, c, &e) != 0) {
        swarm__proto_respond_error(s->transport, link, rid, SWARM__MSG_CERT_ISSUE, e.code, e.message);
        json_decref(c->reply);
        free(c);
    }
    json_decref(node);
    swarm__log_info("nodeserver", "node %s (%s) joined as a %s", node_id, hostname ? hostname : "?", role);
}

/* ------------------------------------------------------------ identity */

static int removed(const json_t *cluster, const char *node_id)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get((json_t *)cluster, "RemovedNodes"), i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), node_id) == 0)
            return 1;
    return 0;
}

static void auth(swarm__nodeserver *s, link_state *l, uint64_t rid, const json_t *body)
{
    swarm__err e = {0, ""};
    json_t *cluster = cluster_object(s);
    const char *cert = swarm__json_str(body, "Cert"), *sig_hex = swarm__json_str(body, "Signature");
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    swarm__ca *ca = NULL;
    swarm__cert_info info;
    json_t *node = NULL;
    int rc = 0;
    if (!l->has_nonce)
        rc = swarm__err_set(&e, SWARM_EINVALID, "ask for a nonce first");
    else if (!cert || !sig_hex || swarm__hex_decode(sig_hex, &sig, &sig_len) != 0)
        rc = swarm__err_set(&e, SWARM_EINVALID, "malformed identity proof");
    else if ((rc = swarm__ca_load(&ca, cluster ? swarm__json_str(cluster, "RootCA.CACert") : s->ca_pem, NULL, &e)) ==
                 0 &&
             (rc = swarm__ca_verify(ca, cert, s->clock->wall_ns(s->clock->data), &info, &e)) == 0 &&
             (rc = swarm__verify_signature(cert, l->nonce, sizeof l->nonce, sig, sig_len, &e)) == 0) {
        const char *cid = cluster ? swarm__json_str(cluster, "ID") : s->cluster_id;
        if (strcmp(info.cluster_id, cid ? cid : "") != 0)
            rc = swarm__err_set(&e, SWARM_EINVALID, "certificate belongs to another cluster");
        else if (cluster && (removed(cluster, info.node_id) || (node = node_object(s, info.node_id)) == NULL))
            rc = swarm__err_set(&e, SWARM_EINVALID, "node %s was removed from the swarm", info.node_id);
    }
    l->has_nonce = 0; /* a nonce is good for one proof */
    if (rc == 0) {
        snprintf(l->node_id, sizeof l->node_id, "%s", info.node_id);
        /* The store's role once this manager has the cluster; before that (a manager catching up) the certificate's. */
        const char *role = node ? swarm__json_str(node, "Spec.Role")
                           : strcmp(info.role, SWARM__CA_OU_MANAGER) == 0 ? "manager"
                                                                         : "worker";
        snprintf(l->role, sizeof l->role, "%s", role ? role : "worker");
        json_t *reply = json_pack("{s:s, s:s}", "NodeID", l->node_id, "Role", l->role);
        swarm__proto_respond(s->transport, l->link, rid, SWARM__MSG_AUTH, reply);
        json_decref(reply);
    } else {
        swarm__log_warn("nodeserver", "refused a node on link %llu: %s", (unsigned long long)l->link, e.message);
        swarm__proto_respond_error(s->transport, l->link, rid, SWARM__MSG_AUTH, rc, e.message);
    }
    free(sig);
    swarm__ca_free(ca);
    json_decref(node);
    json_decref(cluster);
}

/* A node renews its own certificate: same identity and role, a new key, a fresh lifetime. */
static void cert_renew(swarm__nodeserver *s, link_state *l, uint64_t rid, const json_t *body)
{
    swarm__err e = {0, ""};
    json_t *cluster = cluster_object(s);
    json_t *node = node_object(s, l->node_id);
    const char *csr = swarm__json_str(body, "CSR");
    swarm__ca *ca = NULL;
    char *cert = NULL;
    int rc = 0;
    if (node == NULL)
        rc = swarm__err_set(&e, SWARM_EINVALID, "node %s was removed from the swarm", l->node_id);
    else if (csr == NULL)
        rc = swarm__err_set(&e, SWARM_EINVALID, "CSR: required");
    if (rc == 0)
        rc = swarm__ca_load(&ca, swarm__json_str(cluster, "RootCA.CACert"), swarm__json_str(cluster, "RootCA.CAKey"), &e);
    if (rc == 0) {
        const char *role = swarm__json_str(node, "Spec.Role");
        rc = swarm__ca_issue(ca, csr, l->node_id,
                             role && strcmp(role, "manager") == 0 ? SWARM__CA_OU_MANAGER : SWARM__CA_OU_WORKER,
                             swarm__json_str(cluster, "ID"),
                             swarm__json_int(cluster, "Spec.CAConfig.NodeCertExpiry", 7776000000000000LL), s->clock,
                             &cert, &e);
    }
    if (rc == 0) {
        json_t *reply = json_pack("{s:s}", "Cert", cert);
        swarm__proto_respond(s->transport, l->link, rid, SWARM__MSG_CERT_RENEW, reply);
        json_decref(reply);
        swarm__log_info("nodeserver", "renewed the certificate of node %s", l->node_id);
    } else {
        swarm__proto_respond_error(s->transport, l->link, rid, SWARM__MSG_CERT_RENEW, rc, e.message);
    }
    free(cert);
    swarm__ca_free(ca);
    json_decref(node);
    json_decref(cluster);
}

/* ------------------------------------------------------------ sessions */

static void member_send(void *payload, const json_t *msg);

static member *member_open(swarm__nodeserver *s, const char *node_id, uint64_t link)
{
    member *m = member_of(s, node_id);
    if (m == NULL) {
        m = calloc(1, sizeof *m);
        if (m == NULL)
            return NULL;
        snprintf(m->node_id, sizeof m->node_id, "%s", node_id);
        m->server = s;
        m->next = s->members;
        s->members = m;
    }
    m->link = link;
    m->last_beat_ns = mono(s);
    m->link_lost_ns = 0;
    m->inherited = 0;
    return m;
}

static void member_drop(swarm__nodeserver *s, member *m)
{
    for (member **p = &s->members; *p; p = &(*p)->next) {
        if (*p == m) {
            *p = m->next;
            break;
        }
    }
    if (m->session)
        swarm__dispatcher_close(s->dispatcher, m->session);
    free(m);
}

static void session(swarm__nodeserver *s, link_state *l, uint64_t rid, const json_t *body)
{
    swarm__err e;
    member *m = member_open(s, l->node_id, l->link);
    if (m == NULL) {
        swarm__proto_respond_error(s->transport, l->link, rid, SWARM__MSG_SESSION, SWARM_ENOMEM, NULL);
        return;
    }
    if (m->session) {
        swarm__dispatcher_close(s->dispatcher, m->session);
        m->session = NULL;
    }
    /* The dispatcher's callback gets the member; it finds the link and the server through it. */
    if (swarm__dispatcher_open(s->dispatcher, l->node_id, member_send, m, &m->session, &e) != 0) {
        swarm__proto_respond_error(s->transport, l->link, rid, SWARM__MSG_SESSION, e.code, e.message);
        return;
    }
    char host[128];
    snprintf(host, sizeof host, "%s", l->addr);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    set_node_state(s, l->node_id, "ready", "", host, json_object_get((json_t *)body, "Description"));
    char sid[SWARM__ID_LEN + 1];
    swarm__id_new(s->clock, sid);
    json_t *reply = json_pack("{s:s, s:I}", "SessionID", sid, "HeartbeatPeriod", (json_int_t)period_ns(s));
    swarm__proto_respond(s->transport, l->link, rid, SWARM__MSG_SESSION, reply);
    json_decref(reply);
}

static void member_send(void *payload, const json_t *msg)
{
    member *m = payload;
    swarm__nodeserver *s = m->server;
    if (m->link == 0 || s->transport == NULL)
        return; /* the full set is sent again at the next session */
    swarm__proto_send(s->transport, m->link, SWARM__MSG_ASSIGN, msg);
}

/* ------------------------------------------------------------ liveness */

#define TICK_MS 250

static void tick(void *arg)
{
    swarm__nodeserver *s = arg;
    swarm__timer_start(s->tick, TICK_MS);
    if (s->dispatcher == NULL)
        return; /* liveness is the leader's job */
    int64_t now = mono(s), period = period_ns(s);
    member *m = s->members;
    while (m) {
        member *next = m->next;
        int silent = now - m->last_beat_ns > 3 * period;
        /* A lost link gets min(period, 2 s) to come back: a killed node resets its
         * connection at once, while a blip redials within a few hundred ms. */
        int64_t grace = m->inherited ? 3 * period : period < 2000000000LL ? period : 2000000000LL;
        int gone = m->link == 0 && m->link_lost_ns && now - m->link_lost_ns > grace;
        if (silent || gone) {
            swarm__log_info("nodeserver", "node %s is down (%s)", m->node_id, silent ? "no heartbeat" : "link lost");
            set_node_state(s, m->node_id, "down", "heartbeat failure", NULL, NULL);
            member_drop(s, m);
        }
        m = next;
    }
}

/* ------------------------------------------------------------ events */

void swarm__nodeserver_link_up(swarm__nodeserver *s, uint64_t link, const char *remote_addr)
{
    link_state *l = calloc(1, sizeof *l);
    if (l == NULL)
        return;
    l->link = link;
    snprintf(l->addr, sizeof l->addr, "%s", remote_addr ? remote_addr : "");
    l->next = s->links;
    s->links = l;
}

void swarm__nodeserver_link_down(swarm__nodeserver *s, uint64_t link)
{
    for (link_state **p = &s->links; *p; p = &(*p)->next) {
        if ((*p)->link == link) {
            link_state *l = *p;
            *p = l->next;
            free(l);
            break;
        }
    }
    for (member *m = s->members; m; m = m->next) {
        if (m->link == link) {
            m->link = 0;
            m->link_lost_ns = mono(s);
        }
    }
}

void swarm__nodeserver_receive(swarm__nodeserver *s, uint64_t link, uint64_t rid, const swarm_transport_msg *msg)
{
    link_state *l = link_of(s, link);
    if (l && msg->type == SWARM__MSG_RAFT) {
        if (l->node_id[0] && strcmp(l->role, "manager") == 0 && s->hooks.raft)
            s->hooks.raft(s->hooks.payload, link, l->node_id, msg);
        else
            swarm__log_debug("nodeserver", "dropped a Raft message from a link that is not a proven manager");
        return;
    }
    json_t *body = swarm__proto_body(msg);
    if (l == NULL || body == NULL) {
        if (rid)
            swarm__proto_respond_error(s->transport, link, rid, msg->type, SWARM_EINVALID, "malformed message");
        json_decref(body);
        return;
    }
    int authed = l->node_id[0] != '\0';
    switch (msg->type) {
    case SWARM__MSG_CA_GET: {
        json_t *cluster = cluster_object(s);
        json_t *reply = json_pack("{s:s?}", "CACert", swarm__json_str(cluster, "RootCA.CACert"));
        swarm__proto_respond(s->transport, link, rid, msg->type, reply);
        json_decref(reply);
        json_decref(cluster);
        break;
    }
    case SWARM__MSG_CERT_ISSUE:
        if (rid && s->dispatcher == NULL)
            not_leader(s, link, rid, msg->type);
        else if (rid)
            cert_issue(s, link, rid, body);
        break;
    case SWARM__MSG_NONCE: {
        s->clock->random(s->clock->data, l->nonce, sizeof l->nonce);
        l->has_nonce = 1;
        char *hex = swarm__hex_encode(l->nonce, sizeof l->nonce);
        json_t *reply = json_pack("{s:s}", "Nonce", hex ? hex : "");
        swarm__proto_respond(s->transport, link, rid, msg->type, reply);
        json_decref(reply);
        free(hex);
        break;
    }
    case SWARM__MSG_AUTH:
        if (rid)
            auth(s, l, rid, body);
        break;
    case SWARM__MSG_CERT_RENEW:
        if (rid && authed && s->dispatcher == NULL)
            not_leader(s, link, rid, msg->type);
        else if (rid && authed)
            cert_renew(s, l, rid, body);
        else if (rid)
            swarm__proto_respond_error(s->transport, link, rid, msg->type, SWARM_EINVALID,
                                       "prove this node's identity first");
        break;
    case SWARM__MSG_SESSION:
    case SWARM__MSG_HEARTBEAT:
    case SWARM__MSG_STATUS: {
        member *m = authed ? member_of(s, l->node_id) : NULL;
        if (!authed) {
            if (rid)
                swarm__proto_respond_error(s->transport, link, rid, msg->type, SWARM_EINVALID,
                                           "prove this node's identity first");
        } else if (s->dispatcher == NULL) {
            not_leader(s, link, rid, msg->type);
        } else if (msg->type == SWARM__MSG_SESSION) {
            session(s, l, rid, body);
        } else if (m == NULL || m->link != link) {
            if (rid)
                swarm__proto_respond_error(s->transport, link, rid, msg->type, SWARM_ENOTFOUND,
                                           "session not found");
        } else if (msg->type == SWARM__MSG_HEARTBEAT) {
            m->last_beat_ns = mono(s);
            json_t *node = node_object(s, l->node_id);
            const char *role = swarm__json_str(node, "Spec.Role");
            /* The node's role rides on heartbeats: a promoted worker learns it here. */
            json_t *reply = json_pack("{s:I, s:s}", "HeartbeatPeriod", (json_int_t)period_ns(s), "Role",
                                      role ? role : "worker");
            json_decref(node);
            swarm__proto_respond(s->transport, link, rid, msg->type, reply);
            json_decref(reply);
        } else {
            m->last_beat_ns = mono(s);
            json_t *updates = json_object_get(body, "Updates");
            if (json_is_array(updates) && m->session)
                swarm__dispatcher_status(s->dispatcher, m->session, updates);
        }
        break;
    }
    case SWARM__MSG_CONTROL:
    case SWARM__MSG_RAFT_JOIN:
        if (rid == 0)
            break;
        if (!authed || strcmp(l->role, "manager") != 0)
            swarm__proto_respond_error(
                s->transport, link, rid, msg->type, SWARM_EUNAVAILABLE,
                !authed ? "prove this node's identity first"
                        : "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
                          "state. Please run this command on a manager node or promote the current node to a manager.");
        else if (s->dispatcher == NULL)
            not_leader(s, link, rid, msg->type);
        else if (msg->type == SWARM__MSG_CONTROL && s->hooks.control)
            s->hooks.control(s->hooks.payload, link, rid, body);
        else if (msg->type == SWARM__MSG_RAFT_JOIN && s->hooks.raft_join)
            s->hooks.raft_join(s->hooks.payload, link, rid, l->node_id, body);
        else
            swarm__proto_respond_error(s->transport, link, rid, msg->type, SWARM_ENOTSUPPORTED, "not available");
        break;

    default:
        if (rid)
            swarm__proto_respond_error(s->transport, link, rid, msg->type, SWARM_ENOTSUPPORTED, "unknown message");
    }
    json_decref(body);
}

/* A removed node loses its session and its links at once. */
static void on_node_event(const swarm__event *ev, void *payload)
{
    swarm__nodeserver *s = payload;
    if (ev->kind != SWARM__KIND_NODE || ev->op != SWARM__OP_DELETE)
        return;
    const char *id = swarm__json_str(ev->object, "ID");
    member *m = id ? member_of(s, id) : NULL;
    if (m)
        member_drop(s, m);
    for (link_state *l = s->links; l; l = l->next)
        if (id && strcmp(l->node_id, id) == 0) {
            l->node_id[0] = '\0';
            if (s->transport)
                s->transport->close_link(s->transport, l->link);
        }
}

/* ------------------------------------------------------------ lifecycle */

int swarm__nodeserver_new(swarm__nodeserver **out, swarm__timers *timers, swarm__store *store,
                          swarm__proposer *proposer, swarm__dispatcher *dispatcher, const swarm__clock *clock,
                          const char *self_node_id, swarm__err *e)
{
    swarm__nodeserver *s = calloc(1, sizeof *s);
    if (s == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    s->timers = timers;
    s->store = store;
    s->proposer = proposer;
    s->dispatcher = dispatcher;
    s->clock = clock;
    snprintf(s->self, sizeof s->self, "%s", self_node_id);
    s->tick = swarm__timer_new(timers, tick, s);
    if (s->tick)
        swarm__timer_start(s->tick, TICK_MS);
    if (s->tick == NULL ||
        swarm__store_watch(store, 1u << SWARM__KIND_NODE, on_node_event, s, &s->watch) != 0) {
        swarm__nodeserver_free(s);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    *out = s;
    return 0;
}

void swarm__nodeserver_set_transport(swarm__nodeserver *s, struct swarm_transport_backend *t)
{
    s->transport = t;
}

void swarm__nodeserver_set_hooks(swarm__nodeserver *s, const swarm__nodeserver_hooks *hooks)
{
    s->hooks = *hooks;
}

void swarm__nodeserver_set_ca(swarm__nodeserver *s, const char *ca_pem, const char *cluster_id)
{
    free(s->ca_pem);
    free(s->cluster_id);
    s->ca_pem = ca_pem ? strdup(ca_pem) : NULL;
    s->cluster_id = cluster_id ? strdup(cluster_id) : NULL;
}

void swarm__nodeserver_lead(swarm__nodeserver *s, swarm__proposer *proposer, swarm__dispatcher *dispatcher)
{
    while (s->members)
        member_drop(s, s->members); /* sessions belong to the dispatcher that opened them */
    s->proposer = proposer;
    s->dispatcher = dispatcher;
    if (dispatcher == NULL)
        return;
    /* Nodes that were ready under the previous leader get time to come over before they count as down. */
    swarm__snap *snap;
    swarm__err e;
    json_t *nodes = NULL, *n;
    size_t i;
    if (swarm__snap_begin(s->store, &snap, &e) != 0)
        return;
    swarm__snap_list(snap, SWARM__KIND_NODE, NULL, NULL, &nodes, &e);
    swarm__snap_end(snap);
    int64_t now = mono(s);
    json_array_foreach(nodes, i, n) {
        const char *id = swarm__json_str(n, "ID"), *state = swarm__json_str(n, "Status.State");
        if (id == NULL || strcmp(id, s->self) == 0 || state == NULL || strcmp(state, "ready") != 0)
            continue;
        member *m = calloc(1, sizeof *m);
        if (m == NULL)
            break;
        snprintf(m->node_id, sizeof m->node_id, "%s", id);
        m->server = s;
        m->last_beat_ns = now;
        m->link_lost_ns = now;
        m->inherited = 1;
        m->next = s->members;
        s->members = m;
    }
    json_decref(nodes);
}

void swarm__nodeserver_free(swarm__nodeserver *s)
{
    if (s == NULL)
        return;
    while (s->members)
        member_drop(s, s->members);
    while (s->links) {
        link_state *l = s->links;
        s->links = l->next;
        free(l);
    }
    if (s->watch)
        swarm__store_unwatch(s->store, s->watch);
    swarm__timer_free(s->tick);
    free(s->ca_pem);
    free(s->cluster_id);
    free(s);
}

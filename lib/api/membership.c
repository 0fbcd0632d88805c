/*
 * Swarm membership of the embedded node: init (root CA, this manager's
 * certificate, join tokens), join (fetch and pin the CA, get a certificate
 * for a join token), leave, cluster updates and token rotation, this node's
 * identity on disk, its transport, and starting/stopping what its role runs.
 */
#include "api/engine_int.h"
#include "api/replica.h"

#include "ca/ca.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "model/model.h"
#include "proto/proto.h"
#include "transport/host.h"
#include "transport/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOIN_TIMEOUT_MS 20000

static const char already_member[] =
    "This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and join another one.";

/* ------------------------------------------------------------ files */

static int write_file(const char *dir, const char *name, const char *text, swarm__err *e)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    int rc = 0;
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
        rc = swarm__err_set(e, SWARM_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = swarm__err_set(e, SWARM_EIO, "cannot write %s: %s", path, strerror(errno));
    return rc;
}

static char *read_file(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *grown = realloc(buf, cap = (cap ? cap * 2 : 8192));
            if (grown == NULL)
                break;
            buf = grown;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

static void set_str(char **field, const char *value)
{
    free(*field);
    *field = value ? strdup(value) : NULL;
}

/* StateDir/node.json (who this node is) and StateDir/certificates/ (its TLS material). */
int swarm__identity_write(swarm__engine *eng, swarm__err *e)
{
    if (eng->state_dir == NULL)
        return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/certificates", eng->state_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return swarm__err_set(e, SWARM_EIO, "cannot create %s: %s", dir, strerror(errno));
    int rc = 0;
    if (eng->ca_pem && (rc = write_file(dir, "swarm-root-ca.crt", eng->ca_pem, e)) != 0)
        return rc;
    if (eng->cert_pem && (rc = write_file(dir, "swarm-node.crt", eng->cert_pem, e)) != 0)
        return rc;
    if (eng->key_pem && (rc = write_file(dir, "swarm-node.key", eng->key_pem, e)) != 0)
        return rc;
    json_t *id = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?}", "NodeID", eng->node_id, "ClusterID", eng->cluster_id,
                           "Role", eng->role == SWARM__NODE_WORKER ? "worker" : "manager", "ManagerAddr",
                           eng->manager_addr, "ListenAddr", eng->listen_addr, "AdvertiseAddr", eng->advertise_addr);
    char *text = id ? swarm__json_dump(id) : NULL;
    json_decref(id);
    if (text == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    rc = write_file(eng->state_dir, "node.json", text, e);
    free(text);
    return rc;
}

void swarm__identity_remove(swarm__engine *eng)
{
    if (eng->state_dir == NULL)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/node.json", eng->state_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/certificates", eng->state_dir);
    swarm__remove_tree(path);
}

void swarm__identity_load(swarm__engine *eng)
{
    if (eng->state_dir == NULL)
        return;
    char *text = read_file(eng->state_dir, "node.json");
    json_t *id = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (id == NULL)
        return;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/certificates", eng->state_dir);
    const char *node = swarm__json_str(id, "NodeID"), *cluster = swarm__json_str(id, "ClusterID");
    const char *role = swarm__json_str(id, "Role");
    int worker = role && strcmp(role, "worker") == 0;
    eng->ca_pem = read_file(dir, "swarm-root-ca.crt");
    eng->cert_pem = read_file(dir, "swarm-node.crt");
    eng->key_pem = read_file(dir, "swarm-node.key");
    int ok = node && cluster && swarm__id_valid(node) && swarm__id_valid(cluster) && eng->ca_pem && eng->cert_pem &&
             eng->key_pem;
    if (ok && !worker) {
        /* A manager's swarm lives in its store. */
        swarm__snap *snap;
        swarm__err e;
        ok = 0;
        if (swarm__snap_begin(eng->store, &snap, &e) == 0) {
            json_t *n = swarm__snap_get(snap, SWARM__KIND_NODE, node);
            json_t *c = swarm__snap_get(snap, SWARM__KIND_CLUSTER, cluster);
            ok = n && c;
            json_decref(n);
            json_decref(c);
            swarm__snap_end(snap);
        }
    }
    if (ok) {
        snprintf(eng->node_id, sizeof eng->node_id, "%s", node);
        snprintf(eng->cluster_id, sizeof eng->cluster_id, "%s", cluster);
        eng->role = worker ? SWARM__NODE_WORKER : SWARM__NODE_MANAGER;
        eng->active = 1;
        set_str(&eng->manager_addr, swarm__json_str(id, "ManagerAddr"));
        if (swarm__json_str(id, "ListenAddr"))
            set_str(&eng->listen_addr, swarm__json_str(id, "ListenAddr"));
        if (swarm__json_str(id, "AdvertiseAddr"))
            set_str(&eng->advertise_addr, swarm__json_str(id, "AdvertiseAddr"));
    } else {
        swarm__log_warn("engine", "ignoring the swarm identity in %s: it is incomplete or not in the store",
                        eng->state_dir);
        set_str(&eng->ca_pem, NULL);
        set_str(&eng->cert_pem, NULL);
        set_str(&eng->key_pem, NULL);
        swarm__identity_remove(eng);
    }
    json_decref(id);
}

void swarm__cluster_public(json_t *cluster)
{
    json_t *root = json_object_get(cluster, "RootCA");
    if (json_is_object(root))
        json_object_del(root, "CAKey");
    json_object_del(cluster, "RemovedNodes");
}

/* ------------------------------------------------------------ transport host */

/* The transport's ctx: the loop services (first, see transport/host.h), then the engine. */
typedef struct host_ctx {
    swarm__host_loop loop;
    swarm__engine *eng;
} host_ctx;

static void join_link_up(swarm__engine *eng, uint64_t link);
static void join_link_down(swarm__engine *eng, uint64_t link);
static void join_receive(swarm__engine *eng, uint64_t link, uint64_t rid, const swarm_transport_msg *msg);

/* Links: accepted ones belong to the node server; dialed ones to the worker session, else to Raft (replica.c). */
static void host_link_up(void *ctx, uint64_t link, const char *remote_addr, int accepted)
{
    swarm__engine *eng = ((host_ctx *)ctx)->eng;
    if (accepted) {
        if (eng->nodeserver)
            swarm__nodeserver_link_up(eng->nodeserver, link, remote_addr);
    } else if (eng->worker && link == swarm__worker_session_link(eng->worker)) {
        swarm__worker_session_link_up(eng->worker, link);
    } else {
        swarm__replica_link_up(eng, link, remote_addr);
    }
}

static void host_link_down(void *ctx, uint64_t link)
{
    swarm__engine *eng = ((host_ctx *)ctx)->eng;
    if (eng->nodeserver)
        swarm__nodeserver_link_down(eng->nodeserver, link);
    if (eng->worker)
        swarm__worker_session_link_down(eng->worker, link);
    swarm__replica_link_down(eng, link);
}

static void host_receive(void *ctx, uint64_t link, uint64_t rid, const swarm_transport_msg *msg)
{
    swarm__engine *eng = ((host_ctx *)ctx)->eng;
    if (eng->worker && link == swarm__worker_session_link(eng->worker))
        swarm__worker_session_receive(eng->worker, link, rid, msg);
    else if (swarm__replica_receive(eng, link, rid, msg))
        return;
    else if (eng->nodeserver)
        swarm__nodeserver_receive(eng->nodeserver, link, rid, msg);
    else if (rid)
        swarm__proto_respond_error(eng->transport, link, rid, msg->type, SWARM_EUNAVAILABLE, "not ready");
}

/* The join's own transport gets the same host services but its own link handlers. */
static void join_host_link_up(void *ctx, uint64_t link, const char *remote_addr, int accepted)
{
    (void)remote_addr;
    (void)accepted;
    join_link_up(((host_ctx *)ctx)->eng, link);
}
static void join_host_link_down(void *ctx, uint64_t link) { join_link_down(((host_ctx *)ctx)->eng, link); }
static void join_host_receive(void *ctx, uint64_t link, uint64_t rid, const swarm_transport_msg *msg)
{
    join_receive(((host_ctx *)ctx)->eng, link, rid, msg);
}

static host_ctx *host_new(swarm__engine *eng)
{
    host_ctx *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->eng = eng;
    if (swarm__host_loop_init(&h->loop, swarm__loop_base(eng->loop), eng->timers, "transport") != 0) {
        free(h);
        return NULL;
    }
    return h;
}

static void host_free(host_ctx *h)
{
    if (h == NULL)
        return;
    swarm__host_loop_close(&h->loop);
    free(h);
}

/* Makes a transport bound to this engine's loop (join = the handlers of a join in progress). */
static int transport_new(swarm__engine *eng, int join, struct swarm_transport_backend **out, host_ctx **host,
                         swarm__err *e)
{
    host_ctx *h = host_new(eng);
    if (h == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    swarm_transport_host th = swarm__host_loop_host(h, join ? join_host_link_up : host_link_up,
                                                    join ? join_host_link_down : host_link_down,
                                                    join ? join_host_receive : host_receive);
    struct swarm_transport_backend *t = NULL;
    int rc = swarm__transport_create(SWARM__TRANSPORT_DEFAULT, &t, e);
    if (rc == 0 && (rc = t->open(t, &th)) != 0)
        swarm__err_set(e, rc, "transport: %s", swarm_error_last()->message);
    if (rc != 0) {
        if (t)
            t->free(t);
        host_free(h);
        return rc;
    }
    *out = t;
    *host = h;
    return 0;
}

static void transport_free(struct swarm_transport_backend *t, host_ctx *h)
{
    if (t) {
        t->close(t);
        t->free(t);
    }
    host_free(h);
}

/* ------------------------------------------------------------ roles */

static host_ctx *main_host_of(swarm__engine *eng)
{
    return eng->transport_host.ctx;
}

/* This node's transport with its certificate; managers also listen. */
static int start_transport(swarm__engine *eng, swarm__err *e)
{
    if (eng->transport)
        return 0;
    host_ctx *h;
    int rc = transport_new(eng, 0, &eng->transport, &h, e);
    if (rc != 0)
        return rc;
    eng->transport_host.ctx = h;
    swarm_transport_tls tls = {eng->ca_pem, eng->cert_pem, eng->key_pem, SWARM_TLS_MUTUAL};
    if ((rc = eng->transport->set_tls(eng->transport, &tls)) != 0)
        swarm__err_set(e, rc, "transport: %s", swarm_error_last()->message);
    else if (eng->role == SWARM__NODE_MANAGER && (rc = eng->transport->listen(eng->transport, eng->listen_addr)) != 0)
        swarm__err_set(e, rc, "listen tcp %s: %s", eng->listen_addr, swarm_error_last()->message);
    if (rc != 0) {
        transport_free(eng->transport, h);
        eng->transport = NULL;
        eng->transport_host.ctx = NULL;
    }
    return rc;
}

static void refused(void *payload, const char *why)
{
    swarm__engine *eng = payload;
    set_str(&eng->refused, why);
}

/* The worker renewed its certificate: keep it, and use it for new links. */
void swarm__engine_renewed(void *payload, const char *cert_pem, const char *key_pem)
{
    swarm__engine *eng = payload;
    set_str(&eng->cert_pem, cert_pem);
    set_str(&eng->key_pem, key_pem);
    swarm__err e;
    if (swarm__identity_write(eng, &e) != 0)
        swarm__log_error("engine", "cannot save the renewed certificate: %s", e.message);
    swarm_transport_tls tls = {eng->ca_pem, eng->cert_pem, eng->key_pem, SWARM_TLS_MUTUAL};
    if (eng->transport && eng->transport->set_tls(eng->transport, &tls) != 0)
        swarm__log_error("engine", "cannot use the renewed certificate: %s", swarm_error_last()->message);
}

static const char *runtime_dir(swarm__engine *eng, swarm__err *e)
{
    if (eng->state_dir)
        return eng->state_dir;
    if (eng->tmp_dir == NULL) {
        char tmpl[] = "/tmp/libswarm-node-XXXXXX";
        if (mkdtemp(tmpl) == NULL || (eng->tmp_dir = strdup(tmpl)) == NULL) {
            swarm__err_set(e, SWARM_EIO, "cannot make a runtime directory: %s", strerror(errno));
            return NULL;
        }
    }
    return eng->tmp_dir;
}

static void promoted(void *payload);

int swarm__engine_start_roles(swarm__engine *eng, swarm__err *e)
{
    if (eng->agent)
        return 0;
    const char *dir = runtime_dir(eng, e);
    if (dir == NULL)
        return e->code;
    struct event_base *base = swarm__loop_base(eng->loop);
    int rc = start_transport(eng, e);
    if (rc == 0)
        rc = swarm__agent_start(&eng->agent, base, eng->timers, eng->clock, eng->runtime_name, dir, eng->node_id, e);
    if (rc == 0 && eng->role == SWARM__NODE_MANAGER) {
        /* The leader's components start when this manager leads (replica.c). */
        rc = swarm__nodeserver_new(&eng->nodeserver, eng->timers, eng->store, NULL, NULL, eng->clock, eng->node_id,
                                   e);
        if (rc == 0) {
            swarm__nodeserver_set_transport(eng->nodeserver, eng->transport);
            rc = swarm__replica_start(eng, eng->raft_mode, e);
        }
    } else if (rc == 0) {
        rc = swarm__worker_session_start(&eng->worker, eng->timers, eng->clock, eng->transport, eng->manager_addr,
                                         eng->cert_pem, eng->key_pem, eng->agent, eng->hostname, refused,
                                         swarm__engine_renewed, eng, e);
        if (rc == 0)
            swarm__worker_session_on_promotion(eng->worker, promoted);
    }
    if (rc != 0)
        swarm__engine_stop_roles(eng, 0);
    return rc;
}

void swarm__engine_stop_roles(swarm__engine *eng, int kill_tasks)
{
    /* Links first (their callbacks still find everything alive), then the
     * agent (tasks keep running unless told otherwise), then the proposals
     * in flight, then the components they were for. */
    if (eng->nodeserver)
        swarm__nodeserver_set_transport(eng->nodeserver, NULL);
    if (eng->transport)
        eng->transport->close(eng->transport);
    swarm__worker_session_stop(eng->worker);
    eng->worker = NULL;
    /* The leader's components (and their proposals) go before the agent they may talk to. */
    swarm__replica_stop(eng);
    swarm__agent_stop(eng->agent, kill_tasks);
    eng->agent = NULL;
    if (eng->proposer == NULL) {
        swarm__err e;
        if (swarm__proposer_local_new(&eng->proposer, swarm__loop_base(eng->loop), eng->store, &e) == 0)
            eng->api.proposer = eng->proposer;
        else
            swarm__log_error("engine", "cannot recreate the proposer: %s", e.message);
    }
    swarm__nodeserver_free(eng->nodeserver);
    eng->nodeserver = NULL;
    if (eng->transport) {
        eng->transport->free(eng->transport);
        eng->transport = NULL;
    }
    host_free(main_host_of(eng));
    eng->transport_host.ctx = NULL;
}

/* ------------------------------------------------------------ init */

static json_t *self_node(swarm__engine *eng, const json_t *req, const char *now)
{
    const char *availability = swarm__json_str(req, "Availability");
    if (availability == NULL || availability[0] == '\0')
        availability = "active";
    char addr[256];
    snprintf(addr, sizeof addr, "%s", eng->advertise_addr);
    char *colon = strrchr(addr, ':');
    if (colon)
        *colon = '\0';
    json_t *desc = swarm__agent_describe(eng->hostname);
    return json_pack("{s:s, s:{s:i}, s:s, s:s, s:{s:{}, s:s, s:s}, s:o, s:{s:s, s:s}, s:{s:b, s:s, s:s}}", "ID",
                     eng->node_id, "Version", "Index", 0, "CreatedAt", now, "UpdatedAt", now, "Spec", "Labels", "Role",
                     "manager", "Availability", availability, "Description", desc ? desc : json_object(), "Status",
                     "State", "ready", "Addr", addr, "ManagerStatus", "Leader", 1, "Reachability", "reachable", "Addr",
                     eng->advertise_addr);
}

typedef struct init_ctx {
    swarm__engine *eng;
    rpc_call *call;
    json_t *cluster, *node; /* what init writes once this manager leads its new group */
    int64_t deadline_ns;
} init_ctx;

/* Raft's own state of a manager that leaves or starts over. */
static void remove_raft_dir(swarm__engine *eng)
{
    if (eng->state_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/raft", eng->state_dir);
        swarm__remove_tree(path);
    }
}

static void forget_identity(swarm__engine *eng)
{
    eng->node_id[0] = eng->cluster_id[0] = '\0';
    eng->role = SWARM__NODE_NONE;
    set_str(&eng->ca_pem, NULL);
    set_str(&eng->cert_pem, NULL);
    set_str(&eng->key_pem, NULL);
    set_str(&eng->manager_addr, NULL);
    set_str(&eng->refused, NULL);
}

static void init_applied(void *payload, int rc, const swarm__err *err, uint64_t index)
{
    (void)index;
    init_ctx *ctx = payload;
    swarm__engine *eng = ctx->eng;
    json_decref(ctx->cluster);
    json_decref(ctx->node);
    if (rc != 0) {
        swarm__engine_stop_roles(eng, 0);
        swarm__identity_remove(eng);
        remove_raft_dir(eng);
        forget_identity(eng);
        swarm__rpc_reply(ctx->call, rc, err, NULL);
    } else {
        eng->active = 1;
        swarm__log_info("engine", "swarm initialized: node %s is the manager of cluster %s", eng->node_id,
                        eng->cluster_id);
        swarm__err e;
        if (swarm__engine_start_roles(eng, &e) != 0)
            swarm__log_error("engine", "cannot start the manager: %s", e.message);
        swarm__rpc_reply(ctx->call, 0, NULL, json_pack("{s:s}", "NodeID", eng->node_id));
    }
    free(ctx);
}

/* A one-voter group elects itself within a few loop turns; then the swarm's first objects are written. */
static void init_when_leading(void *arg)
{
    init_ctx *ctx = arg;
    swarm__engine *eng = ctx->eng;
    swarm__err e;
    int rc;
    if (eng->raft && swarm__raft_state(eng->raft) != RAFT_LEADER) {
        void *token;
        if (eng->clock->mono_ns(eng->clock->data) < ctx->deadline_ns &&
            swarm__oneshot(eng->timers, 5, init_when_leading, ctx, &token) == 0)
            return;
        rc = swarm__err_set(&e, SWARM_EUNAVAILABLE, "the new Raft group did not elect this manager");
    } else if (ctx->cluster == NULL) {
        swarm__rpc_reply(ctx->call, 0, NULL, json_pack("{s:s}", "NodeID", eng->node_id));
        free(ctx);
        return;
    } else {
        swarm__action acts[2] = {{SWARM__OP_CREATE, SWARM__KIND_CLUSTER, ctx->cluster, 0},
                                 {SWARM__OP_CREATE, SWARM__KIND_NODE, ctx->node, 0}};
        rc = eng->proposer->propose(eng->proposer, acts, 2, init_applied, ctx, &e);
        if (rc == 0)
            return;
    }
    init_applied(ctx, rc, &e, 0);
}

/* Root CA, this manager's key and certificate, both join tokens. */
static int make_pki(swarm__engine *eng, json_t *cluster, int64_t cert_lifetime, swarm__err *e)
{
    swarm__ca *ca = NULL;
    char *csr = NULL;
    char worker[128], manager[128];
    int rc = swarm__ca_create(&ca, eng->clock, e);
    if (rc == 0)
        rc = swarm__key_new(&eng->key_pem, eng->clock, e);
    if (rc == 0)
        rc = swarm__csr_new(&csr, eng->key_pem, eng->clock, e);
    if (rc == 0)
        rc = swarm__ca_issue(ca, csr, eng->node_id, SWARM__CA_OU_MANAGER, eng->cluster_id, cert_lifetime, eng->clock,
                             &eng->cert_pem, e);
    if (rc == 0)
        rc = swarm__token_new(ca, eng->clock, worker, e);
    if (rc == 0)
        rc = swarm__token_new(ca, eng->clock, manager, e);
    if (rc == 0) {
        set_str(&eng->ca_pem, swarm__ca_cert_pem(ca));
        json_object_set_new(cluster, "RootCA", json_pack("{s:s, s:s}", "CACert", swarm__ca_cert_pem(ca), "CAKey",
                                                         swarm__ca_key_pem(ca)));
        json_object_set_new(cluster, "JoinTokens", json_pack("{s:s, s:s}", "Worker", worker, "Manager", manager));
    }
    free(csr);
    swarm__ca_free(ca);
    return rc;
}

/* An advertised address without a port takes the listen port (as Docker does). */
static char *advertise_with_listen_port(const char *advertise, const char *listen)
{
    char *full = swarm__with_port(advertise);
    const char *port = listen ? strrchr(listen, ':') : NULL;
    int explicit_port = strchr(advertise, ':') && (advertise[0] != '[' || strstr(advertise, "]:"));
    if (full && port && !explicit_port) {
        char *colon = strrchr(full, ':');
        *colon = '\0';
        char *out = NULL;
        if (asprintf(&out, "%s%s", full, port) < 0)
            out = NULL;
        free(full);
        return out;
    }
    return full;
}

/* --force-new-cluster: this manager keeps the swarm's state and goes on as its only manager. */
static void force_new_cluster(swarm__engine *eng, rpc_call *call)
{
    swarm__err e;
    swarm__log_warn("engine", "forcing a new cluster: this manager becomes the only one, keeping the swarm's state");
    swarm__engine_stop_roles(eng, 0); /* tasks keep running and are re-adopted */
    eng->raft_mode = SWARM__REPLICA_RECOVER;
    int rc = swarm__engine_start_roles(eng, &e);
    eng->raft_mode = SWARM__REPLICA_NORMAL;
    if (rc != 0)
        return swarm__rpc_reply(call, rc, &e, NULL);
    init_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
        return swarm__rpc_reply(call, e.code, &e, NULL);
    }
    ctx->eng = eng;
    ctx->call = call;
    ctx->deadline_ns = eng->clock->mono_ns(eng->clock->data) + 10000000000LL;
    init_when_leading(ctx);
}

void swarm__swarm_init(swarm__engine *eng, const json_t *req, rpc_call *call)
{
    swarm__err e;
    if (eng->active && eng->role == SWARM__NODE_MANAGER && eng->raft &&
        json_is_true(json_object_get((json_t *)req, "ForceNewCluster")))
        return force_new_cluster(eng, call);
    if (eng->active || eng->joining) {
        swarm__err_set(&e, SWARM_EUNAVAILABLE, "%s", already_member);
        return swarm__rpc_reply(call, e.code, &e, NULL);
    }
    static const char *const known[] = {"ListenAddr",      "AdvertiseAddr", "DataPathAddr",    "DataPathPort",
                                        "ForceNewCluster", "Spec",          "AutoLockManagers", "Availability",
                                        "DefaultAddrPool", "SubnetSize",    NULL};
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)req, key, val) {
        int ok = 0;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, key) == 0;
        if (!ok) {
            swarm__err_set(&e, SWARM_EINVALID, "init request: unknown field \"%s\"", key);
            return swarm__rpc_reply(call, e.code, &e, NULL);
        }
    }
    const char *availability = swarm__json_str(req, "Availability");
    json_t *av = json_object_get(req, "Availability");
    if ((av && !json_is_string(av)) ||
        (availability && availability[0] && strcmp(availability, "active") && strcmp(availability, "pause") &&
         strcmp(availability, "drain"))) {
        swarm__err_set(&e, SWARM_EINVALID, "Availability: must be one of active, pause, drain");
        return swarm__rpc_reply(call, e.code, &e, NULL);
    }
    json_t *spec = json_object_get(req, "Spec");
    spec = spec && !json_is_null(spec) ? json_deep_copy(spec) : json_object();
    if (spec == NULL || swarm__cluster_spec_validate(spec, &e) != 0) {
        if (spec == NULL)
            swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
        json_decref(spec);
        return swarm__rpc_reply(call, e.code, &e, NULL);
    }
    /* Addresses given to init replace the node's options. */
    const char *listen = swarm__json_str(req, "ListenAddr");
    const char *advertise = swarm__json_str(req, "AdvertiseAddr");
    if (listen && listen[0]) {
        char *l = swarm__with_port(listen);
        if (l) {
            free(eng->listen_addr);
            eng->listen_addr = l;
        }
    }
    char *adv = advertise && advertise[0] ? advertise_with_listen_port(advertise, eng->listen_addr)
                : eng->advertise_addr         ? advertise_with_listen_port(eng->advertise_addr, eng->listen_addr)
                                              : swarm__default_advertise(eng->listen_addr);
    if (adv == NULL) {
        json_decref(spec);
        swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
        return swarm__rpc_reply(call, e.code, &e, NULL);
    }
    free(eng->advertise_addr);
    eng->advertise_addr = adv;

    char now[SWARM__TIME_LEN];
    swarm__time_format(now, eng->clock->wall_ns(eng->clock->data));
    if (swarm__id_new(eng->clock, eng->node_id) != 0 || swarm__id_new(eng->clock, eng->cluster_id) != 0) {
        json_decref(spec);
        swarm__err_set(&e, SWARM_EIO, "cannot read random bytes for an ID");
        return swarm__rpc_reply(call, e.code, &e, NULL);
    }
    eng->role = SWARM__NODE_MANAGER;
    int64_t lifetime = swarm__json_int(spec, "CAConfig.NodeCertExpiry", 7776000000000000LL);
    json_t *cluster = json_pack("{s:s, s:{s:i}, s:s, s:s, s:o, s:b, s:[s], s:i, s:i}", "ID", eng->cluster_id,
                                "Version", "Index", 0, "CreatedAt", now, "UpdatedAt", now, "Spec", spec,
                                "RootRotationInProgress", 0, "DefaultAddrPool", "10.0.0.0/8", "SubnetSize", 24,
                                "DataPathPort", 4789);
    json_t *node = self_node(eng, req, now);
    init_ctx *ctx = calloc(1, sizeof *ctx);
    int rc = cluster && node && ctx ? 0 : swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
    if (rc == 0)
        rc = make_pki(eng, cluster, lifetime, &e);
    /* Listening first: an address in use fails init before anything is written. */
    if (rc == 0)
        rc = start_transport(eng, &e);
    if (rc == 0)
        rc = swarm__identity_write(eng, &e);
    if (rc == 0) {
        ctx->eng = eng;
        ctx->call = call;
        ctx->cluster = cluster;
        ctx->node = node;
        ctx->deadline_ns = eng->clock->mono_ns(eng->clock->data) + 10000000000LL;
        remove_raft_dir(eng); /* a new swarm starts a new group */
        rc = swarm__replica_start(eng, 1, &e);
        if (rc == 0)
            return init_when_leading(ctx);
    }
    json_decref(cluster);
    json_decref(node);
    if (rc != 0) {
        free(ctx);
        swarm__engine_stop_roles(eng, 0);
        swarm__identity_remove(eng);
        remove_raft_dir(eng);
        forget_identity(eng);
        swarm__rpc_reply(call, rc, &e, NULL);
    }
}

/* ------------------------------------------------------------ join */

typedef struct join_op {
    swarm__engine *eng;
    rpc_call *call;
    struct swarm_transport_backend *t;
    host_ctx *host;
    uint64_t link;
    int phase; /* 1: fetching the CA, 2: asking for a certificate */
    swarm__token token;
    char *token_text;
    char *remote;
    char *availability;
    char *key, *csr;
    struct event *deadline;
    struct event *later; /* work that must not run inside a transport callback */
    int done;
    int rc;
    swarm__err err;
    json_t *result;
} join_op;

static void join_finish_later(join_op *j, int rc, const swarm__err *err, json_t *result)
{
    if (j->done) {
        json_decref(result);
        return;
    }
    j->done = 1;
    j->rc = rc;
    if (err)
        j->err = *err;
    j->result = result;
    event_active(j->later, 0, 0);
}

static void join_free(join_op *j)
{
    if (j->deadline)
        event_free(j->deadline);
    if (j->later)
        event_free(j->later);
    free(j->token_text);
    free(j->remote);
    free(j->availability);
    free(j->key);
    free(j->csr);
    json_decref(j->result);
    free(j);
}

static int reset_store(swarm__engine *eng, swarm__err *e);

static void join_undo(swarm__engine *eng)
{
    swarm__engine_stop_roles(eng, 0);
    eng->active = 0;
    swarm__identity_remove(eng);
    remove_raft_dir(eng);
    forget_identity(eng);
}

static void manager_joined(void *payload, int rc, const char *message)
{
    rpc_call *call = payload;
    swarm__engine *eng = call->eng;
    swarm__err e;
    if (rc != 0) {
        swarm__err_set(&e, rc, "could not join the managers: %s", message ? message : swarm_strerror(rc));
        if (rc != SWARM_ECLOSED) {
            join_undo(eng);
            reset_store(eng, NULL);
        }
        return swarm__rpc_reply(call, rc, &e, NULL);
    }
    swarm__log_info("engine", "joined the swarm as manager %s", eng->node_id);
    swarm__rpc_reply(call, 0, NULL, json_pack("{s:s}", "NodeID", eng->node_id));
}

/* Runs on the loop, outside any transport callback: the join transport can go. */
static void join_complete(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    join_op *j = arg;
    swarm__engine *eng = j->eng;
    transport_free(j->t, j->host);
    j->t = NULL;
    j->host = NULL;
    eng->joining = NULL;
    swarm__err e = j->err;
    int rc = j->rc;
    if (rc == 0) {
        const json_t *r = j->result;
        snprintf(eng->node_id, sizeof eng->node_id, "%s", swarm__json_str(r, "NodeID"));
        snprintf(eng->cluster_id, sizeof eng->cluster_id, "%s", swarm__json_str(r, "ClusterID"));
        set_str(&eng->ca_pem, swarm__json_str(r, "CACert"));
        set_str(&eng->cert_pem, swarm__json_str(r, "Cert"));
        set_str(&eng->key_pem, j->key);
        set_str(&eng->manager_addr, j->remote);
        set_str(&eng->refused, NULL);
        const char *role = swarm__json_str(r, "Role");
        eng->role = role && strcmp(role, "manager") == 0 ? SWARM__NODE_MANAGER : SWARM__NODE_WORKER;
        if (eng->role == SWARM__NODE_MANAGER) {
            reset_store(eng, &e); /* whatever was here: the group's state comes from the leader */
            remove_raft_dir(eng);
        }
        rc = swarm__identity_write(eng, &e);
        if (rc == 0) {
            eng->active = 1;
            rc = swarm__engine_start_roles(eng, &e);
        }
        if (rc == 0 && eng->role == SWARM__NODE_MANAGER) {
            /* A manager's join ends when the leader made it a voter (it has caught up by then). */
            rc = swarm__replica_join(eng, j->remote, manager_joined, j->call, &e);
            if (rc == 0) {
                swarm__log_info("engine", "joining the Raft group of %s as manager %s", j->remote, eng->node_id);
                join_free(j);
                return;
            }
        }
        if (rc != 0) {
            join_undo(eng);
        } else {
            swarm__log_info("engine", "joined the swarm of %s as worker %s", j->remote, eng->node_id);
        }
    }
    swarm__rpc_reply(j->call, rc, rc ? &e : NULL, rc ? NULL : json_pack("{s:s}", "NodeID", eng->node_id));
    join_free(j);
}

static void join_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    join_op *j = arg;
    swarm__err e;
    swarm__err_set(&e, SWARM_ETIMEDOUT, "Timeout was reached before node joined: could not reach a manager at %s",
                   j->remote);
    join_finish_later(j, e.code, &e, NULL);
}

static int join_dial(join_op *j, int mode, swarm__err *e)
{
    swarm_transport_tls tls = {mode == SWARM_TLS_UNVERIFIED ? NULL : j->eng->ca_pem ? j->eng->ca_pem : NULL, NULL,
                               NULL, mode};
    int rc = j->t->set_tls(j->t, &tls);
    if (rc == 0)
        rc = j->t->dial(j->t, j->remote, &j->link);
    if (rc != 0)
        swarm__err_set(e, rc, "cannot reach %s: %s", j->remote, swarm_error_last()->message);
    return rc;
}

static void join_send(join_op *j);

static void join_link_up(swarm__engine *eng, uint64_t link)
{
    join_op *j = eng->joining;
    if (j == NULL || j->done || link != j->link)
        return;
    join_send(j);
}

static void join_link_down(swarm__engine *eng, uint64_t link)
{
    (void)eng;
    (void)link; /* the transport redials; the deadline ends a join that never gets through */
}

static void join_receive(swarm__engine *eng, uint64_t link, uint64_t rid, const swarm_transport_msg *msg)
{
    (void)eng;
    (void)link;
    (void)rid;
    (void)msg; /* managers send a joining node nothing unasked */
}

static void join_response(void *payload, int status, const swarm_transport_msg *response);

/* Asks for what the current phase needs; called once the link is up (and again after a redial). */
static void join_send(join_op *j)
{
    json_t *body;
    uint32_t type;
    if (j->phase == 1) {
        body = json_object();
        type = SWARM__MSG_CA_GET;
    } else {
        body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "Token", j->token_text, "CSR", j->csr, "Hostname",
                         j->eng->hostname, "Availability", j->availability ? j->availability : "", "Addr",
                         j->eng->advertise_addr ? j->eng->advertise_addr : "");
        type = SWARM__MSG_CERT_ISSUE;
    }
    if (swarm__proto_request(j->t, j->link, type, body, 10000, join_response, j) != 0) {
        /* The link is not up yet: link_up sends it. */
    }
    json_decref(body);
}

static void join_response(void *payload, int status, const swarm_transport_msg *response)
{
    join_op *j = payload;
    if (j->done)
        return;
    if (status != 0)
        return; /* lost link or slow manager: the retry at link_up or the deadline decides */
    json_t *body = swarm__proto_body(response);
    const char *why = NULL;
    int rc = body ? swarm__proto_error_of(body, &why) : SWARM_EBACKEND;
    swarm__err e;
    if (rc == SWARM_ENOTLEADER && j->phase == 2) {
        /* Only the leader signs certificates: go there (or ask again while an election runs). */
        const char *leader = swarm__json_str(body, "Leader");
        if (leader && leader[0])
            set_str(&j->remote, leader);
        json_decref(body);
        j->t->close_link(j->t, j->link);
        if (join_dial(j, SWARM_TLS_SERVER_AUTH, &e) != 0)
            return join_finish_later(j, e.code, &e, NULL);
        return;
    }
    if (rc != 0) {
        swarm__err_set(&e, rc, "%s", why ? why : "the manager sent a malformed reply");
        json_decref(body);
        return join_finish_later(j, rc, &e, NULL);
    }
    if (j->phase == 1) {
        const char *ca = swarm__json_str(body, "CACert");
        if (ca == NULL || !swarm__token_pins(&j->token, ca)) {
            char digest[64] = "";
            if (ca)
                swarm__cert_digest(ca, digest, &e);
            swarm__err_set(&e, SWARM_EINVALID,
                           "remote CA does not match fingerprint. Expected: %s, got: %s (wrong join token, or a "
                           "token of another swarm)",
                           j->token.digest, digest[0] ? digest : "no CA");
            json_decref(body);
            return join_finish_later(j, e.code, &e, NULL);
        }
        /* The CA is pinned: from now on the manager is verified against it. */
        set_str(&j->eng->ca_pem, ca);
        json_decref(body);
        j->t->close_link(j->t, j->link);
        j->phase = 2;
        if (join_dial(j, SWARM_TLS_SERVER_AUTH, &e) != 0)
            return join_finish_later(j, e.code, &e, NULL);
        return; /* link_up of the new link asks for the certificate */
    }
    if (!swarm__json_str(body, "Cert") || !swarm__json_str(body, "NodeID") || !swarm__json_str(body, "ClusterID") ||
        !swarm__json_str(body, "CACert")) {
        swarm__err_set(&e, SWARM_EBACKEND, "the manager sent an incomplete certificate reply");
        json_decref(body);
        return join_finish_later(j, e.code, &e, NULL);
    }
    join_finish_later(j, 0, NULL, body);
}

void swarm__swarm_join(swarm__engine *eng, const json_t *req, rpc_call *call)
{
    swarm__err e;
    if (eng->active || eng->joining) {
        swarm__err_set(&e, SWARM_EUNAVAILABLE, "%s", already_member);
        return swarm__rpc_reply(call, e.code, &e, NULL);
    }
    static const char *const known[] = {"ListenAddr", "AdvertiseAddr", "DataPathAddr", "RemoteAddrs",
                                        "JoinToken",  "Availability",  NULL};
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)req, key, val) {
        int ok = 0;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, key) == 0;
        if (!ok) {
            swarm__err_set(&e, SWARM_EINVALID, "join request: unknown field \"%s\"", key);
            return swarm__rpc_reply(call, e.code, &e, NULL);
        }
    }
    json_t *remotes = json_object_get((json_t *)req, "RemoteAddrs");
    const char *remote = json_string_value(json_array_get(remotes, 0));
    const char *token = swarm__json_str(req, "JoinToken");
    const char *availability = swarm__json_str(req, "Availability");
    join_op *j = calloc(1, sizeof *j);
    int rc = j ? 0 : swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
    if (rc == 0 && (remote == NULL || remote[0] == '\0'))
        rc = swarm__err_set(&e, SWARM_EINVALID, "RemoteAddrs: the address of a manager is required");
    if (rc == 0 && token == NULL)
        rc = swarm__err_set(&e, SWARM_EINVALID, "JoinToken: a join token is required");
    if (rc == 0 && swarm__token_parse(&j->token, token, &e) != 0)
        rc = e.code;
    if (rc == 0 && availability && availability[0] && strcmp(availability, "active") &&
        strcmp(availability, "pause") && strcmp(availability, "drain"))
        rc = swarm__err_set(&e, SWARM_EINVALID, "Availability: must be one of active, pause, drain");
    if (rc != 0) {
        free(j);
        return swarm__rpc_reply(call, rc, &e, NULL);
    }
    j->eng = eng;
    j->call = call;
    j->remote = swarm__with_port(remote);
    j->token_text = strdup(token);
    j->availability = availability ? strdup(availability) : NULL;
    const char *listen = swarm__json_str(req, "ListenAddr"), *advertise = swarm__json_str(req, "AdvertiseAddr");
    if (listen && listen[0])
        set_str(&eng->listen_addr, listen);
    char *adv = advertise && advertise[0] ? advertise_with_listen_port(advertise, eng->listen_addr)
                : eng->advertise_addr         ? advertise_with_listen_port(eng->advertise_addr, eng->listen_addr)
                                              : swarm__default_advertise(eng->listen_addr);
    if (adv) {
        free(eng->advertise_addr);
        eng->advertise_addr = adv;
    }
    j->phase = 1;
    j->deadline = evtimer_new(swarm__loop_base(eng->loop), join_timeout, j);
    j->later = event_new(swarm__loop_base(eng->loop), -1, 0, join_complete, j);
    rc = j->remote && j->token_text && j->deadline && j->later ? 0 : swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
    if (rc == 0)
        rc = swarm__key_new(&j->key, eng->clock, &e);
    if (rc == 0)
        rc = swarm__csr_new(&j->csr, j->key, eng->clock, &e);
    if (rc == 0)
        rc = transport_new(eng, 1, &j->t, &j->host, &e);
    if (rc == 0) {
        eng->joining = j;
        set_str(&eng->ca_pem, NULL);
        rc = join_dial(j, SWARM_TLS_UNVERIFIED, &e);
        if (rc != 0)
            eng->joining = NULL;
    }
    if (rc != 0) {
        transport_free(j->t, j->host);
        j->t = NULL;
        j->host = NULL;
        join_free(j);
        return swarm__rpc_reply(call, rc, &e, NULL);
    }
    struct timeval tv = {JOIN_TIMEOUT_MS / 1000, 0};
    evtimer_add(j->deadline, &tv);
}

/* ------------------------------------------------------------ leave */

/* Replaces the store with an empty one (a manager that leaves erases the swarm's state). */
static int reset_store(swarm__engine *eng, swarm__err *e)
{
    if (eng->proposer) {
        eng->proposer->close(eng->proposer);
        eng->proposer = NULL;
    }
    swarm__store_close(eng->store);
    eng->store = NULL;
    if (eng->state_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/store", eng->state_dir);
        swarm__remove_tree(path);
    }
    struct swarm_store_backend *backend = NULL;
    int rc = swarm__store_backend_create(eng->store_name, eng->state_dir, &backend, e);
    if (rc == 0)
        rc = swarm__store_open(&eng->store, backend, e);
    if (rc == 0) {
        swarm__store_set_notify(eng->store, swarm__engine_notify_pending, eng);
        rc = swarm__proposer_local_new(&eng->proposer, swarm__loop_base(eng->loop), eng->store, e);
    }
    eng->api.store = eng->store;
    eng->api.proposer = eng->proposer;
    return rc;
}

void swarm__swarm_leave(swarm__engine *eng, const json_t *req, rpc_call *call)
{
    swarm__err e;
    int force = json_is_true(json_object_get((json_t *)req, "Force"));
    if (!eng->active) {
        swarm__err_set(&e, SWARM_EUNAVAILABLE, "This node is not part of a swarm");
        return swarm__rpc_reply(call, e.code, &e, NULL);
    }
    if (eng->role == SWARM__NODE_MANAGER && !force) {
        swarm__err_set(&e, SWARM_EUNAVAILABLE,
                       "You are attempting to leave the swarm on a node that is participating as a manager. "
                       "Removing the last manager erases all current state of the swarm. Use `--force` to ignore "
                       "this message.");
        return swarm__rpc_reply(call, e.code, &e, NULL);
    }
    int manager = eng->role == SWARM__NODE_MANAGER;
    /* Leaving stops this node's tasks, as Docker does. */
    swarm__engine_stop_roles(eng, 1);
    swarm__identity_remove(eng);
    forget_identity(eng);
    eng->active = 0;
    int rc = manager ? reset_store(eng, &e) : 0;
    remove_raft_dir(eng);
    swarm__log_info("engine", "left the swarm");
    swarm__rpc_reply(call, rc, rc ? &e : NULL, NULL);
}

/* ------------------------------------------------------------ update */

typedef struct update_ctx {
    rpc_call *call;
} update_ctx;

static void update_applied(void *payload, int rc, const swarm__err *err, uint64_t index)
{
    (void)index;
    update_ctx *u = payload;
    swarm__rpc_reply(u->call, rc, err, NULL);
    free(u);
}

void swarm__swarm_update(swarm__engine *eng, const json_t *req, rpc_call *call)
{
    swarm__err e;
    json_t *cluster = swarm__engine_cluster(eng, &e);
    if (cluster == NULL)
        return swarm__rpc_reply(call, e.code, &e, NULL);
    json_t *version = json_object_get((json_t *)req, "Version");
    json_t *spec = json_object_get((json_t *)req, "Spec");
    int rc = 0;
    if (!json_is_integer(version))
        rc = swarm__err_set(&e, SWARM_EINVALID, "invalid swarm version: the Version.Index read before the update is required");
    else if ((uint64_t)json_integer_value(version) != (uint64_t)swarm__json_int(cluster, "Version.Index", 0))
        rc = swarm__err_set(&e, SWARM_ECONFLICT, "update out of sequence");
    json_t *copy = NULL;
    if (rc == 0) {
        copy = spec && !json_is_null(spec) ? json_deep_copy(spec) : json_deep_copy(json_object_get(cluster, "Spec"));
        if (copy == NULL || swarm__cluster_spec_validate(copy, &e) != 0)
            rc = copy ? e.code : swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
    }
    json_t *patch = NULL;
    if (rc == 0) {
        char now[SWARM__TIME_LEN];
        swarm__time_format(now, eng->clock->wall_ns(eng->clock->data));
        patch = json_pack("{s:s, s:o, s:s}", "ID", swarm__json_str(cluster, "ID"), "Spec", copy, "UpdatedAt", now);
        copy = NULL;
        int worker = json_is_true(json_object_get((json_t *)req, "RotateWorkerToken"));
        int manager = json_is_true(json_object_get((json_t *)req, "RotateManagerToken"));
        if (worker || manager) {
            json_t *tokens = json_deep_copy(json_object_get(cluster, "JoinTokens"));
            swarm__ca *ca = NULL;
            char token[128];
            rc = swarm__ca_load(&ca, swarm__json_str(cluster, "RootCA.CACert"), NULL, &e);
            if (rc == 0 && worker && (rc = swarm__token_new(ca, eng->clock, token, &e)) == 0)
                json_object_set_new(tokens, "Worker", json_string(token));
            if (rc == 0 && manager && (rc = swarm__token_new(ca, eng->clock, token, &e)) == 0)
                json_object_set_new(tokens, "Manager", json_string(token));
            swarm__ca_free(ca);
            json_object_set_new(patch, "JoinTokens", tokens ? tokens : json_object());
        }
    }
    json_decref(copy);
    uint64_t expect = (uint64_t)swarm__json_int(cluster, "Version.Index", 0);
    json_decref(cluster);
    update_ctx *u = rc == 0 ? calloc(1, sizeof *u) : NULL;
    if (rc == 0 && u == NULL)
        rc = swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
    if (rc == 0) {
        u->call = call;
        swarm__action a = {SWARM__OP_PATCH, SWARM__KIND_CLUSTER, patch, expect};
        rc = eng->proposer->propose(eng->proposer, &a, 1, update_applied, u, &e);
        if (rc != 0)
            free(u);
    }
    json_decref(patch);
    if (rc != 0)
        swarm__rpc_reply(call, rc, &e, NULL);
}

/* ------------------------------------------------------------ promotion and demotion */

typedef struct role_change {
    swarm__engine *eng;
    int role;
} role_change;

static void promoted_joined(void *payload, int rc, const char *message)
{
    swarm__engine *eng = payload;
    if (rc == 0)
        swarm__log_info("engine", "promoted: this node is a manager now");
    else if (rc != SWARM_ECLOSED)
        swarm__log_error("engine", "promoted, but could not join the managers: %s", message ? message : "");
    (void)eng;
}

static void change_role_now(void *arg)
{
    role_change *c = arg;
    swarm__engine *eng = c->eng;
    int role = c->role;
    free(c);
    if (!eng->active || eng->role == role)
        return;
    char *leader = eng->leader_addr ? strdup(eng->leader_addr) : eng->manager_addr ? strdup(eng->manager_addr) : NULL;
    swarm__log_info("engine", "this node becomes a %s", role == SWARM__NODE_MANAGER ? "manager" : "worker");
    swarm__engine_stop_roles(eng, 0); /* tasks keep running and are re-adopted */
    swarm__err e;
    /* A manager's copy of the state comes from the group; a worker keeps none. */
    reset_store(eng, NULL);
    remove_raft_dir(eng);
    eng->role = role;
    if (leader)
        set_str(&eng->manager_addr, leader);
    int rc = swarm__identity_write(eng, &e);
    if (rc == 0)
        rc = swarm__engine_start_roles(eng, &e);
    if (rc == 0 && role == SWARM__NODE_MANAGER && leader)
        rc = swarm__replica_join(eng, leader, promoted_joined, eng, &e);
    if (rc != 0)
        swarm__log_error("engine", "cannot change this node's role: %s", e.message);
    free(leader);
}

void swarm__engine_change_role(swarm__engine *eng, int role)
{
    role_change *c = calloc(1, sizeof *c);
    void *token;
    if (c == NULL)
        return;
    c->eng = eng;
    c->role = role;
    /* Not inside the transport or timer callback that noticed it: the roles' parts go away. */
    if (swarm__oneshot(eng->timers, 0, change_role_now, c, &token) != 0)
        free(c);
}

static void promoted(void *payload)
{
    swarm__engine *eng = payload;
    if (eng->role == SWARM__NODE_WORKER)
        swarm__engine_change_role(eng, SWARM__NODE_MANAGER);
}

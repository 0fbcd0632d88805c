#include "api/engine_int.h"

#include "core/fs.h"

#include "core/clock.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "agent/agent.h"
#include "agent/runtime.h"
#include "manager/controlapi/controlapi.h"
#include "manager/manager.h"
#include "manager/scheduler/scheduler.h"
#include "model/model.h"
#include "api/replica.h"
#include "raft/raft.h"
#include "raft/proposer.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>


/* ------------------------------------------------------------ options */

static int opt_string(const json_t *opts, const char *key, char **out)
{
    json_t *v = json_object_get(opts, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return swarm__error_set(SWARM_EINVALID, "options: \"%s\" must be a non-empty string", key);
    *out = strdup(json_string_value(v));
    return *out ? 0 : swarm__error_nomem();
}

static int mkdir_p(const char *path)
{
    if (strlen(path) >= 4000)
        return swarm__error_set(SWARM_EINVALID, "options: \"StateDir\" is too long");
    if (swarm__mkdir_p(path, 0700) != 0)
        return swarm__error_set(SWARM_EIO, "cannot create state dir %s: %s", path, strerror(errno));
    return 0;
}

/* "host" or "host:port" -> "host:port" with 2377 as the default port ("[v6]:port" for IPv6). */
char *swarm__with_port(const char *addr)
{
    char *out = NULL;
    const char *first = strchr(addr, ':'), *last = strrchr(addr, ':');
    int rc;
    if (addr[0] == '[')
        rc = strstr(addr, "]:") ? asprintf(&out, "%s", addr) : asprintf(&out, "%s:2377", addr);
    else if (first == NULL)
        rc = asprintf(&out, "%s:2377", addr);
    else if (first == last)
        rc = asprintf(&out, "%s", addr);
    else
        rc = asprintf(&out, "[%s]:2377", addr);
    return rc < 0 ? NULL : out;
}

char *swarm__default_advertise(const char *listen)
{
    char host[256];
    snprintf(host, sizeof host, "%s", listen);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    if (host[0] && strcmp(host, "0.0.0.0") != 0 && strcmp(host, "::") != 0)
        return swarm__with_port(listen);
    /* Like dockerd: the first non-loopback IPv4 address of this host. */
    char ip[INET_ADDRSTRLEN] = "127.0.0.1";
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
            if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
                continue;
            struct in_addr a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
            if ((ntohl(a.s_addr) >> 24) == 127)
                continue;
            inet_ntop(AF_INET, &a, ip, sizeof ip);
            break;
        }
        freeifaddrs(ifs);
    }
    const char *port = colon ? colon + 1 : "2377";
    char *out = NULL;
    if (asprintf(&out, "%s:%s", ip, port) < 0)
        out = NULL;
    return out;
}

static int parse_options(swarm__engine *eng, const char *options_json)
{
    json_t *opts = options_json ? swarm__json_parse(options_json, "options") : json_object();
    if (opts == NULL)
        return swarm_error_last()->code;
    int rc = 0;
    if (!json_is_object(opts)) {
        rc = swarm__error_set(SWARM_EINVALID, "options: must be a JSON object");
        goto out;
    }
    static const char *const known[] = {"StateDir", "ListenAddr", "AdvertiseAddr", "Hostname",   "Store",
                                        "Runtime",  "Scheduler",  "LeaderWait",    "RaftTick", NULL};
    const char *key;
    json_t *val;
    json_object_foreach(opts, key, val) {
        int ok = 0;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, key) == 0;
        if (!ok) {
            rc = swarm__error_set(SWARM_EINVALID,
                                  "options: unknown key \"%s\" (known: StateDir, ListenAddr, AdvertiseAddr, "
                                  "Hostname, Store, Runtime, Scheduler, LeaderWait, RaftTick)",
                                  key);
            goto out;
        }
    }
    if ((rc = opt_string(opts, "StateDir", &eng->state_dir)) || (rc = opt_string(opts, "ListenAddr", &eng->listen_addr)) ||
        (rc = opt_string(opts, "AdvertiseAddr", &eng->advertise_addr)) ||
        (rc = opt_string(opts, "Hostname", &eng->hostname)) || (rc = opt_string(opts, "Store", &eng->store_name)) ||
        (rc = opt_string(opts, "Runtime", &eng->runtime_name)) ||
        (rc = opt_string(opts, "Scheduler", &eng->scheduler_name)))
        goto out;
    eng->leader_wait_ms = SWARM__LEADER_WAIT_MS;
    eng->raft_tick_ms = SWARM__RAFT_HEARTBEAT_MS;
    json_t *wait = json_object_get(opts, "LeaderWait"), *tick = json_object_get(opts, "RaftTick");
    if (wait && (!json_is_integer(wait) || json_integer_value(wait) < 0 || json_integer_value(wait) > 3600000)) {
        rc = swarm__error_set(SWARM_EINVALID, "options: \"LeaderWait\" must be milliseconds from 0 to 3600000");
        goto out;
    }
    if (tick && (!json_is_integer(tick) || json_integer_value(tick) < 10 || json_integer_value(tick) > 60000)) {
        rc = swarm__error_set(SWARM_EINVALID, "options: \"RaftTick\" must be milliseconds from 10 to 60000");
        goto out;
    }
    if (wait)
        eng->leader_wait_ms = (int)json_integer_value(wait);
    if (tick)
        eng->raft_tick_ms = (unsigned)json_integer_value(tick);
    if (eng->runtime_name && !swarm__runtime_known(eng->runtime_name)) {
        rc = swarm__error_set(SWARM_EINVALID, "options: unknown runtime \"%s\"", eng->runtime_name);
        goto out;
    }
    if (eng->scheduler_name) {
        swarm__scheduler *probe = NULL;
        swarm__err se;
        if (swarm__scheduler_new(&probe, eng->scheduler_name, &se) != 0) {
            rc = swarm__error_set(se.code, "options: %s", se.message);
            goto out;
        }
        swarm__scheduler_free(probe);
    }
    if (eng->store_name == NULL && (eng->store_name = strdup("lmdb")) == NULL) {
        rc = swarm__error_nomem();
        goto out;
    }
    if (!swarm__store_backend_known(eng->store_name)) {
        rc = swarm__error_set(SWARM_EINVALID, "options: unknown store backend \"%s\"", eng->store_name);
        goto out;
    }
    if (eng->state_dir == NULL && strcmp(eng->store_name, "memory") != 0) {
        rc = swarm__error_set(SWARM_EINVALID, "options: \"StateDir\" is required (unless \"Store\" is \"memory\")");
        goto out;
    }
    if (eng->listen_addr == NULL && (eng->listen_addr = strdup("0.0.0.0:2377")) == NULL) {
        rc = swarm__error_nomem();
        goto out;
    }
    if (eng->hostname == NULL) {
        char h[256] = "localhost";
        gethostname(h, sizeof h - 1);
        if ((eng->hostname = strdup(h)) == NULL) {
            rc = swarm__error_nomem();
            goto out;
        }
    }
    if (eng->state_dir)
        rc = mkdir_p(eng->state_dir);
out:
    json_decref(opts);
    return rc;
}

/* ------------------------------------------------------------ identity file */


/* ------------------------------------------------------------ calls */



static void rpc_destroy(swarm__call *c)
{
    rpc_call *r = (rpc_call *)c;
    free(r->params);
    free(r->result);
    free(r);
}

void swarm__rpc_reply(void *payload, int rc, const swarm__err *err, json_t *result)
{
    rpc_call *r = payload;
    if (rc == 0 && !r->forwarded)
        swarm__replica_decorate(r->eng, r->method, result);
    if (r->remote_rid)
        return swarm__replica_remote_reply(r, rc, err, result);
    if (rc == 0) {
        r->result = json_is_null(result) || result == NULL ? strdup("null") : swarm__json_dump(result);
        if (r->result == NULL) {
            swarm__err e;
            json_decref(result);
            swarm__call_done(&r->call, swarm__err_set(&e, SWARM_ENOMEM, "out of memory"), &e);
            return;
        }
    }
    json_decref(result);
    swarm__call_done(&r->call, rc, err);
}

json_t *swarm__engine_cluster(swarm__engine *eng, swarm__err *e)
{
    swarm__snap *snap;
    if (swarm__snap_begin(eng->store, &snap, e) != 0)
        return NULL;
    json_t *c = swarm__snap_get(snap, SWARM__KIND_CLUSTER, eng->cluster_id);
    swarm__snap_end(snap);
    if (c == NULL)
        swarm__err_set(e, SWARM_ENOTFOUND, "cluster %s not found", eng->cluster_id);
    return c;
}

static void swarm_inspect(swarm__engine *eng, const json_t *req, rpc_call *call)
{
    (void)req;
    swarm__err e;
    json_t *c = swarm__engine_cluster(eng, &e);
    if (c == NULL)
        return swarm__rpc_reply(call, e.code, &e, NULL);
    json_t *pub = json_deep_copy(c);
    json_decref(c);
    swarm__cluster_public(pub);
    swarm__rpc_reply(call, 0, NULL, pub);
}

static void swarm_info(swarm__engine *eng, const json_t *req, rpc_call *call)
{
    (void)req;
    swarm__err e;
    if (!eng->active || eng->role == SWARM__NODE_WORKER) {
        const char *state = eng->joining ? "pending" : eng->active ? "active" : "inactive";
        char addr[256] = "";
        if (eng->active && eng->advertise_addr) {
            snprintf(addr, sizeof addr, "%s", eng->advertise_addr);
            char *colon = strrchr(addr, ':');
            if (colon)
                *colon = '\0';
        }
        json_t *managers = json_array();
        if (eng->active && eng->manager_addr)
            json_array_append_new(managers, json_pack("{s:s, s:s}", "NodeID", "", "Addr", eng->manager_addr));
        json_t *info = json_pack("{s:s, s:s, s:s, s:b, s:s, s:o, s:n, s:n}", "NodeID", eng->active ? eng->node_id : "",
                                 "NodeAddr", addr, "LocalNodeState", eng->refused ? "error" : state,
                                 "ControlAvailable", 0, "Error", eng->refused ? eng->refused : "", "RemoteManagers",
                                 eng->active ? managers : (json_decref(managers), json_null()), "Nodes", "Managers");
        if (eng->active && eng->worker)
            json_object_set_new(info, "Connected", json_boolean(swarm__worker_session_connected(eng->worker)));
        return swarm__rpc_reply(call, 0, NULL, info);
    }
    swarm__snap *snap;
    if (swarm__snap_begin(eng->store, &snap, &e) != 0)
        return swarm__rpc_reply(call, e.code, &e, NULL);
    json_t *nodes = NULL;
    int rc = swarm__snap_list(snap, SWARM__KIND_NODE, NULL, NULL, &nodes, &e);
    json_t *cluster = swarm__snap_get(snap, SWARM__KIND_CLUSTER, eng->cluster_id);
    swarm__snap_end(snap);
    if (cluster) {
        json_t *pub = json_deep_copy(cluster);
        json_decref(cluster);
        swarm__cluster_public(pub);
        cluster = pub;
    }
    if (rc != 0) {
        json_decref(cluster);
        return swarm__rpc_reply(call, rc, &e, NULL);
    }
    json_t *managers = json_array();
    size_t i, n_managers = 0;
    json_t *n;
    json_array_foreach(nodes, i, n) {
        const char *role = swarm__json_str(n, "Spec.Role");
        if (role && strcmp(role, "manager") == 0) {
            n_managers++;
            json_array_append_new(managers, json_pack("{s:s?, s:s?}", "NodeID", swarm__json_str(n, "ID"), "Addr",
                                                      swarm__json_str(n, "ManagerStatus.Addr")));
        }
    }
    char addr[256];
    snprintf(addr, sizeof addr, "%s", eng->advertise_addr ? eng->advertise_addr : "");
    char *colon = strrchr(addr, ':');
    if (colon)
        *colon = '\0';
    json_t *info = json_pack("{s:s, s:s, s:s, s:b, s:s, s:o, s:I, s:I, s:o}", "NodeID", eng->node_id, "NodeAddr",
                             addr, "LocalNodeState", "active", "ControlAvailable", 1, "Error", "",
                             "RemoteManagers", managers, "Nodes", (json_int_t)json_array_size(nodes), "Managers",
                             (json_int_t)n_managers, "Cluster", cluster ? cluster : json_null());
    json_decref(nodes);
    swarm__rpc_reply(call, 0, NULL, info);
}


typedef void (*engine_handler)(swarm__engine *eng, const json_t *req, rpc_call *call);

static const struct {
    const char *method;
    engine_handler fn;
    int needs_manager;
} engine_handlers[] = {
    {"SwarmInit", swarm__swarm_init, 0},
    {"SwarmJoin", swarm__swarm_join, 0},
    {"SwarmLeave", swarm__swarm_leave, 0},
    {"SwarmUpdate", swarm__swarm_update, 1},
    {"SwarmInspect", swarm_inspect, 1},
    {"Info", swarm_info, 0},
};

static void rpc_run(swarm__call *c)
{
    rpc_call *r = (rpc_call *)c;
    swarm__err e;
    json_t *req = r->params ? json_loads(r->params, 0, NULL) : json_object();
    if (!json_is_object(req)) {
        json_decref(req);
        swarm__err_set(&e, SWARM_EINVALID, "%s: the request must be a JSON object", r->method);
        return swarm__rpc_reply(r, e.code, &e, NULL);
    }
    swarm__engine_dispatch(r->eng, r, req);
    json_decref(req);
}

/* Calls that concern this node itself, never forwarded to the leader. */
static int node_local(const char *method)
{
    return strcmp(method, "SwarmInit") == 0 || strcmp(method, "SwarmJoin") == 0 ||
           strcmp(method, "SwarmLeave") == 0 || strcmp(method, "Info") == 0;
}

void swarm__engine_dispatch(swarm__engine *eng, rpc_call *r, const json_t *req)
{
    swarm__err e;
    engine_handler fn = NULL;
    int needs_manager = 1;
    for (size_t i = 0; i < sizeof engine_handlers / sizeof engine_handlers[0]; i++) {
        if (strcmp(engine_handlers[i].method, r->method) == 0) {
            fn = engine_handlers[i].fn;
            needs_manager = engine_handlers[i].needs_manager;
        }
    }
    swarm__handler_fn api_fn = fn ? NULL : swarm__controlapi_handler(r->method);
    if (fn == NULL && api_fn == NULL) {
        swarm__err_set(&e, SWARM_ENOTSUPPORTED, "unknown method %s", r->method);
        swarm__rpc_reply(r, e.code, &e, NULL);
    } else if (needs_manager && !eng->active) {
        swarm__err_set(&e, SWARM_EUNAVAILABLE,
                       "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to "
                       "connect this node to swarm and try again.");
        swarm__rpc_reply(r, e.code, &e, NULL);
    } else if (needs_manager && eng->role != SWARM__NODE_MANAGER) {
        swarm__err_set(&e, SWARM_EUNAVAILABLE,
                       "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
                       "state. Please run this command on a manager node or promote the current node to a manager.");
        swarm__rpc_reply(r, e.code, &e, NULL);
    } else if (r->remote_rid && node_local(r->method)) {
        swarm__err_set(&e, SWARM_EINVALID, "%s concerns one node and cannot be forwarded", r->method);
        swarm__rpc_reply(r, e.code, &e, NULL);
    } else if (!node_local(r->method) && !r->remote_rid && swarm__replica_route(eng, r, req)) {
        return; /* on its way to the leader */
    } else if (strcmp(r->method, "NodeUpdate") == 0 && swarm__replica_node_update(eng, r, req)) {
        return; /* a demotion: Raft membership follows the store */
    } else if (fn) {
        fn(eng, req, r);
    } else {
        api_fn(&eng->api, req, swarm__rpc_reply, r);
    }
}

int swarm__engine_rpc(swarm__engine *eng, const char *method, const char *params, char **result, int timeout_ms)
{
    rpc_call *r = calloc(1, sizeof *r);
    if (r == NULL)
        return swarm__error_nomem();
    r->call.run = rpc_run;
    r->call.destroy = rpc_destroy;
    r->eng = eng;
    snprintf(r->method, sizeof r->method, "%s", method);
    if (params && (r->params = strdup(params)) == NULL) {
        free(r);
        return swarm__error_nomem();
    }
    int rc = swarm__loop_call(eng->loop, &r->call, timeout_ms);
    if (rc == 0 && result) {
        *result = r->result;
        r->result = NULL;
    }
    swarm__call_release(&r->call);
    return rc;
}

/* ------------------------------------------------------------ open / close */

static void deliver(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    swarm__engine *eng = arg;
    swarm__store_deliver(eng->store);
}

void swarm__engine_notify_pending(void *payload)
{
    swarm__engine *eng = payload;
    event_active(eng->deliver_ev, 0, 0);
}

typedef struct attach_call {
    swarm__call call;
    swarm__engine *eng;
} attach_call;

static void attach_run(swarm__call *c)
{
    swarm__engine *eng = ((attach_call *)c)->eng;
    swarm__err e = {0, ""};
    struct swarm_store_backend *backend = NULL;
    int rc = swarm__store_backend_create(eng->store_name, eng->state_dir, &backend, &e);
    if (rc == 0)
        rc = swarm__store_open(&eng->store, backend, &e);
    if (rc == 0)
        rc = swarm__proposer_local_new(&eng->proposer, swarm__loop_base(eng->loop), eng->store, &e);
    if (rc == 0 && (eng->timers = swarm__timers_libevent(swarm__loop_base(eng->loop))) == NULL)
        rc = swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
    if (rc == 0) {
        eng->deliver_ev = event_new(swarm__loop_base(eng->loop), -1, 0, deliver, eng);
        if (eng->deliver_ev == NULL)
            rc = swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        swarm__store_set_notify(eng->store, swarm__engine_notify_pending, eng);
        eng->api.store = eng->store;
        eng->api.proposer = eng->proposer;
        eng->api.clock = eng->clock;
        eng->api.self_node_id = eng->node_id;
        swarm__identity_load(eng);
        if (eng->active)
            rc = swarm__engine_start_roles(eng, &e);
    }
    swarm__call_done(c, rc, &e);
}

static void attach_destroy(swarm__call *c)
{
    free(c);
}

static void teardown(void *payload)
{
    swarm__engine *eng = payload;
    /* Agent first (its tasks keep running), then pending proposals fail,
     * then the components that were waiting on them go. */
    swarm__engine_stop_roles(eng, eng->state_dir == NULL);
    if (eng->proposer)
        eng->proposer->close(eng->proposer);
    eng->proposer = NULL;
    if (eng->deliver_ev)
        event_free(eng->deliver_ev);
    eng->deliver_ev = NULL;
    swarm__store_close(eng->store);
    eng->store = NULL;
    swarm__timers_free(eng->timers);
    eng->timers = NULL;
}

static void engine_free(swarm__engine *eng)
{
    free(eng->state_dir);
    free(eng->listen_addr);
    free(eng->advertise_addr);
    free(eng->hostname);
    free(eng->store_name);
    free(eng->runtime_name);
    free(eng->scheduler_name);
    free(eng->manager_addr);
    free(eng->ca_pem);
    free(eng->cert_pem);
    free(eng->key_pem);
    free(eng->refused);
    if (eng->tmp_dir) {
        swarm__remove_tree(eng->tmp_dir);
        free(eng->tmp_dir);
    }
    free(eng);
}

int swarm__engine_open(swarm__engine **out, const char *options_json)
{
    *out = NULL;
    swarm__engine *eng = calloc(1, sizeof *eng);
    if (eng == NULL)
        return swarm__error_nomem();
    eng->clock = swarm__clock_system();
    int rc = parse_options(eng, options_json);
    if (rc != 0) {
        engine_free(eng);
        return rc;
    }
    swarm__err e;
    if ((rc = swarm__loop_start(&eng->loop, &e)) != 0) {
        engine_free(eng);
        return swarm__err_raise(&e);
    }
    attach_call *a = calloc(1, sizeof *a);
    if (a == NULL) {
        swarm__loop_stop(eng->loop, teardown, eng);
        engine_free(eng);
        return swarm__error_nomem();
    }
    a->call.run = attach_run;
    a->call.destroy = attach_destroy;
    a->eng = eng;
    /* Opening a store can take a while on a slow disk; be generous. */
    rc = swarm__loop_call(eng->loop, &a->call, 120000);
    swarm__call_release(&a->call);
    if (rc != 0) {
        swarm__err saved;
        swarm__err_capture(&saved);
        swarm__loop_stop(eng->loop, teardown, eng);
        engine_free(eng);
        return swarm__err_raise(&saved);
    }
    *out = eng;
    return 0;
}

void swarm__engine_close(swarm__engine *eng)
{
    if (eng == NULL)
        return;
    swarm__loop_stop(eng->loop, teardown, eng);
    engine_free(eng);
}

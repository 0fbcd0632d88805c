#include "api/engine.h"

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
#include "raft/proposer.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

struct swarm__engine {
    swarm__loop *loop;
    const swarm__clock *clock;
    char *state_dir;   /* NULL for a memory-only node */
    char *listen_addr;
    char *advertise_addr;
    char *hostname;
    char *store_name;
    char *runtime_name;
    char *scheduler_name;
    char *tmp_dir;     /* runtime state of a node without a StateDir, removed at close */
    /* loop-thread state */
    swarm__manager *manager;
    swarm__agent *agent;
    swarm__store *store;
    swarm__proposer *proposer;
    struct event *deliver_ev;
    swarm__controlapi api;
    int active;
    char node_id[SWARM__IDBUF];
    char cluster_id[SWARM__IDBUF];
};

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
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return swarm__error_set(SWARM_EINVALID, "options: \"StateDir\" is too long");
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return swarm__error_set(SWARM_EIO, "cannot create state dir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return swarm__error_set(SWARM_EIO, "cannot create state dir %s: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return swarm__error_set(SWARM_EIO, "state dir %s is not a directory", buf);
    return 0;
}

/* "host" or "host:port" -> "host:port" with 2377 as the default port ("[v6]:port" for IPv6). */
static char *with_port(const char *addr)
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

static char *default_advertise(const char *listen)
{
    char host[256];
    snprintf(host, sizeof host, "%s", listen);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    if (host[0] && strcmp(host, "0.0.0.0") != 0 && strcmp(host, "::") != 0)
        return with_port(listen);
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
    static const char *const known[] = {"StateDir", "ListenAddr", "AdvertiseAddr", "Hostname",
                                        "Store",    "Runtime",    "Scheduler",     NULL};
    const char *key;
    json_t *val;
    json_object_foreach(opts, key, val) {
        int ok = 0;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, key) == 0;
        if (!ok) {
            rc = swarm__error_set(SWARM_EINVALID,
                                  "options: unknown key \"%s\" (known: StateDir, ListenAddr, AdvertiseAddr, "
                                  "Hostname, Store, Runtime, Scheduler)",
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

/* StateDir/node.json holds this node's identity; written atomically. */
static int identity_write(swarm__engine *eng, swarm__err *e)
{
    if (eng->state_dir == NULL)
        return 0;
    json_t *id = json_pack("{s:s, s:s}", "NodeID", eng->node_id, "ClusterID", eng->cluster_id);
    char *text = id ? swarm__json_dump(id) : NULL;
    json_decref(id);
    if (text == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/node.json", eng->state_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = 0;
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
        rc = swarm__err_set(e, SWARM_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = swarm__err_set(e, SWARM_EIO, "cannot write %s: %s", path, strerror(errno));
    free(text);
    return rc;
}

static void identity_remove(swarm__engine *eng)
{
    if (eng->state_dir == NULL)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/node.json", eng->state_dir);
    unlink(path);
}

/* Reads node.json; the node is active when the store knows it. */
static void identity_load(swarm__engine *eng)
{
    if (eng->state_dir == NULL)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/node.json", eng->state_dir);
    json_error_t jerr;
    json_t *id = json_load_file(path, 0, &jerr);
    if (id == NULL)
        return;
    const char *node = swarm__json_str(id, "NodeID"), *cluster = swarm__json_str(id, "ClusterID");
    if (node && cluster && swarm__id_valid(node) && swarm__id_valid(cluster)) {
        swarm__snap *snap;
        swarm__err e;
        if (swarm__snap_begin(eng->store, &snap, &e) == 0) {
            json_t *n = swarm__snap_get(snap, SWARM__KIND_NODE, node);
            json_t *c = swarm__snap_get(snap, SWARM__KIND_CLUSTER, cluster);
            if (n && c) {
                snprintf(eng->node_id, sizeof eng->node_id, "%s", node);
                snprintf(eng->cluster_id, sizeof eng->cluster_id, "%s", cluster);
                eng->active = 1;
            }
            json_decref(n);
            json_decref(c);
            swarm__snap_end(snap);
        }
    }
    json_decref(id);
    if (!eng->active) {
        swarm__log_warn("engine", "ignoring %s: the store does not hold that swarm", path);
        identity_remove(eng);
    }
}

/* Removes a directory tree (the runtime dir of a node without a StateDir). */
static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------ calls */

typedef struct rpc_call {
    swarm__call call;
    swarm__engine *eng;
    char method[48];
    char *params;
    char *result;
} rpc_call;

static void rpc_destroy(swarm__call *c)
{
    rpc_call *r = (rpc_call *)c;
    free(r->params);
    free(r->result);
    free(r);
}

static void rpc_reply(void *payload, int rc, const swarm__err *err, json_t *result)
{
    rpc_call *r = payload;
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

static json_t *self_node(swarm__engine *eng, const json_t *req, const char *now)
{
    struct utsname u;
    uname(&u);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    const char *availability = swarm__json_str(req, "Availability");
    if (availability == NULL || availability[0] == '\0')
        availability = "active";
    char addr[256];
    snprintf(addr, sizeof addr, "%s", eng->advertise_addr);
    char *colon = strrchr(addr, ':');
    if (colon)
        *colon = '\0';
    return json_pack("{s:s, s:{s:i}, s:s, s:s, s:{s:{}, s:s, s:s}, s:{s:s, s:{s:s, s:s}, s:{s:I, s:I}, s:{s:s}},"
                     " s:{s:s, s:s}, s:{s:b, s:s, s:s}}",
                     "ID", eng->node_id, "Version", "Index", 0, "CreatedAt", now, "UpdatedAt", now, "Spec", "Labels",
                     "Role", "manager", "Availability", availability, "Description", "Hostname", eng->hostname,
                     "Platform", "Architecture", u.machine, "OS", "linux", "Resources", "NanoCPUs",
                     (json_int_t)cpus * 1000000000, "MemoryBytes", (json_int_t)pages * page, "Engine",
                     "EngineVersion", swarm_version(), "Status", "State", "ready", "Addr", addr, "ManagerStatus",
                     "Leader", 1, "Reachability", "reachable", "Addr", eng->advertise_addr);
}

static void remove_tree(const char *path);

/* Starts what an active manager runs: orchestrators, scheduler, dispatcher, and this node's agent. */
static int start_roles(swarm__engine *eng, swarm__err *e)
{
    if (eng->manager)
        return 0;
    const char *dir = eng->state_dir;
    if (dir == NULL) {
        if (eng->tmp_dir == NULL) {
            char tmpl[] = "/tmp/libswarm-node-XXXXXX";
            if (mkdtemp(tmpl) == NULL || (eng->tmp_dir = strdup(tmpl)) == NULL)
                return swarm__err_set(e, SWARM_EIO, "cannot make a runtime directory: %s", strerror(errno));
        }
        dir = eng->tmp_dir;
    }
    int rc = swarm__manager_start(&eng->manager, swarm__loop_base(eng->loop), eng->store, eng->proposer, eng->clock,
                                  eng->scheduler_name, e);
    if (rc == 0)
        rc = swarm__agent_start(&eng->agent, swarm__loop_base(eng->loop), eng->clock, eng->runtime_name, dir,
                                eng->node_id, e);
    if (rc == 0)
        rc = swarm__agent_attach(eng->agent, swarm__manager_dispatcher(eng->manager), e);
    if (rc != 0) {
        swarm__agent_stop(eng->agent, 0);
        eng->agent = NULL;
        swarm__manager_stop(eng->manager);
        eng->manager = NULL;
    }
    return rc;
}

typedef struct init_ctx {
    swarm__engine *eng;
    rpc_call *call;
} init_ctx;

static void init_applied(void *payload, int rc, const swarm__err *err, uint64_t index)
{
    (void)index;
    init_ctx *ctx = payload;
    swarm__engine *eng = ctx->eng;
    if (rc != 0) {
        identity_remove(eng);
        eng->node_id[0] = eng->cluster_id[0] = '\0';
        rpc_reply(ctx->call, rc, err, NULL);
    } else {
        eng->active = 1;
        swarm__log_info("engine", "swarm initialized: node %s is the manager of cluster %s", eng->node_id,
                        eng->cluster_id);
        swarm__err e;
        if (start_roles(eng, &e) != 0)
            swarm__log_error("engine", "cannot start the manager: %s", e.message);
        rpc_reply(ctx->call, 0, NULL, json_pack("{s:s}", "NodeID", eng->node_id));
    }
    free(ctx);
}

static void swarm_init(swarm__engine *eng, const json_t *req, rpc_call *call)
{
    swarm__err e;
    if (eng->active) {
        swarm__err_set(&e, SWARM_EUNAVAILABLE,
                       "This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and "
                       "join another one.");
        return rpc_reply(call, e.code, &e, NULL);
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
            return rpc_reply(call, e.code, &e, NULL);
        }
    }
    const char *availability = swarm__json_str(req, "Availability");
    json_t *av = json_object_get(req, "Availability");
    if ((av && !json_is_string(av)) ||
        (availability && availability[0] && strcmp(availability, "active") && strcmp(availability, "pause") &&
         strcmp(availability, "drain"))) {
        swarm__err_set(&e, SWARM_EINVALID, "Availability: must be one of active, pause, drain");
        return rpc_reply(call, e.code, &e, NULL);
    }
    json_t *spec = json_object_get(req, "Spec");
    spec = spec && !json_is_null(spec) ? json_deep_copy(spec) : json_object();
    if (spec == NULL || swarm__cluster_spec_validate(spec, &e) != 0) {
        if (spec == NULL)
            swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
        json_decref(spec);
        return rpc_reply(call, e.code, &e, NULL);
    }
    /* Addresses given to init replace the node's options. */
    const char *listen = swarm__json_str(req, "ListenAddr");
    const char *advertise = swarm__json_str(req, "AdvertiseAddr");
    if (listen && listen[0]) {
        char *l = with_port(listen);
        if (l) {
            free(eng->listen_addr);
            eng->listen_addr = l;
        }
    }
    char *adv = advertise && advertise[0] ? with_port(advertise)
                : eng->advertise_addr         ? strdup(eng->advertise_addr)
                                              : default_advertise(eng->listen_addr);
    if (adv == NULL) {
        json_decref(spec);
        swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
        return rpc_reply(call, e.code, &e, NULL);
    }
    free(eng->advertise_addr);
    eng->advertise_addr = adv;

    char now[SWARM__TIME_LEN];
    swarm__time_format(now, eng->clock->wall_ns(eng->clock->data));
    if (swarm__id_new(eng->clock, eng->node_id) != 0 || swarm__id_new(eng->clock, eng->cluster_id) != 0) {
        json_decref(spec);
        swarm__err_set(&e, SWARM_EIO, "cannot read random bytes for an ID");
        return rpc_reply(call, e.code, &e, NULL);
    }
    json_t *cluster = json_pack("{s:s, s:{s:i}, s:s, s:s, s:o, s:b, s:[s], s:i, s:i}", "ID", eng->cluster_id,
                                "Version", "Index", 0, "CreatedAt", now, "UpdatedAt", now, "Spec", spec,
                                "RootRotationInProgress", 0, "DefaultAddrPool", "10.0.0.0/8", "SubnetSize", 24,
                                "DataPathPort", 4789);
    json_t *node = self_node(eng, req, now);
    init_ctx *ctx = calloc(1, sizeof *ctx);
    int rc = cluster && node && ctx ? 0 : swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
    if (rc == 0)
        rc = identity_write(eng, &e);
    if (rc == 0) {
        ctx->eng = eng;
        ctx->call = call;
        swarm__action acts[2] = {{SWARM__OP_CREATE, SWARM__KIND_CLUSTER, cluster, 0},
                                 {SWARM__OP_CREATE, SWARM__KIND_NODE, node, 0}};
        rc = eng->proposer->propose(eng->proposer, acts, 2, init_applied, ctx, &e);
        if (rc != 0)
            identity_remove(eng);
    }
    json_decref(cluster);
    json_decref(node);
    if (rc != 0) {
        free(ctx);
        eng->node_id[0] = eng->cluster_id[0] = '\0';
        rpc_reply(call, rc, &e, NULL);
    }
}

static json_t *cluster_object(swarm__engine *eng, swarm__err *e)
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
    json_t *c = cluster_object(eng, &e);
    if (c == NULL)
        return rpc_reply(call, e.code, &e, NULL);
    rpc_reply(call, 0, NULL, c);
}

static void swarm_info(swarm__engine *eng, const json_t *req, rpc_call *call)
{
    (void)req;
    swarm__err e;
    if (!eng->active) {
        json_t *info = json_pack("{s:s, s:s, s:s, s:b, s:s, s:n, s:i, s:i}", "NodeID", "", "NodeAddr", "",
                                 "LocalNodeState", "inactive", "ControlAvailable", 0, "Error", "", "RemoteManagers",
                                 "Nodes", 0, "Managers", 0);
        return rpc_reply(call, 0, NULL, info);
    }
    swarm__snap *snap;
    if (swarm__snap_begin(eng->store, &snap, &e) != 0)
        return rpc_reply(call, e.code, &e, NULL);
    json_t *nodes = NULL;
    int rc = swarm__snap_list(snap, SWARM__KIND_NODE, NULL, NULL, &nodes, &e);
    json_t *cluster = swarm__snap_get(snap, SWARM__KIND_CLUSTER, eng->cluster_id);
    swarm__snap_end(snap);
    if (rc != 0) {
        json_decref(cluster);
        return rpc_reply(call, rc, &e, NULL);
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
    rpc_reply(call, 0, NULL, info);
}

typedef void (*engine_handler)(swarm__engine *eng, const json_t *req, rpc_call *call);

static const struct {
    const char *method;
    engine_handler fn;
    int needs_manager;
} engine_handlers[] = {
    {"SwarmInit", swarm_init, 0},
    {"SwarmInspect", swarm_inspect, 1},
    {"Info", swarm_info, 0},
};

static void rpc_run(swarm__call *c)
{
    rpc_call *r = (rpc_call *)c;
    swarm__engine *eng = r->eng;
    swarm__err e;
    json_t *req = r->params ? json_loads(r->params, 0, NULL) : json_object();
    if (!json_is_object(req)) {
        json_decref(req);
        swarm__err_set(&e, SWARM_EINVALID, "%s: the request must be a JSON object", r->method);
        return rpc_reply(r, e.code, &e, NULL);
    }
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
        rpc_reply(r, e.code, &e, NULL);
    } else if (needs_manager && !eng->active) {
        swarm__err_set(&e, SWARM_EUNAVAILABLE,
                       "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to "
                       "connect this node to swarm and try again.");
        rpc_reply(r, e.code, &e, NULL);
    } else if (fn) {
        fn(eng, req, r);
    } else {
        api_fn(&eng->api, req, rpc_reply, r);
    }
    json_decref(req);
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

static void notify_pending(void *payload)
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
    if (rc == 0) {
        eng->deliver_ev = event_new(swarm__loop_base(eng->loop), -1, 0, deliver, eng);
        if (eng->deliver_ev == NULL)
            rc = swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        swarm__store_set_notify(eng->store, notify_pending, eng);
        eng->api.store = eng->store;
        eng->api.proposer = eng->proposer;
        eng->api.clock = eng->clock;
        eng->api.self_node_id = eng->node_id;
        identity_load(eng);
        if (eng->active)
            rc = start_roles(eng, &e);
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
    swarm__agent_stop(eng->agent, eng->state_dir == NULL);
    eng->agent = NULL;
    if (eng->proposer)
        eng->proposer->close(eng->proposer);
    eng->proposer = NULL;
    swarm__manager_stop(eng->manager);
    eng->manager = NULL;
    if (eng->deliver_ev)
        event_free(eng->deliver_ev);
    eng->deliver_ev = NULL;
    swarm__store_close(eng->store);
    eng->store = NULL;
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
    if (eng->tmp_dir) {
        remove_tree(eng->tmp_dir);
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

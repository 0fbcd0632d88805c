/* swarmctl — "swarm init", "swarm join", "swarm join-token", "swarm leave", "swarm update". */
#include "cli.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void group_help(void)
{
    printf("\nUsage:  swarmctl swarm COMMAND\n\nManage Swarm\n\nCommands:\n"
           "  init        Initialize a swarm\n"
           "  join        Join a swarm as a node and/or manager\n"
           "  join-token  Manage join tokens\n"
           "  leave       Leave the swarm\n"
           "  update      Update the swarm\n\n"
           "Run 'swarmctl swarm COMMAND --help' for more information on a command.\n");
}

/* Parses a flag's value and returns 0, 2 after --help, or 1 after an error; frees the flags unless 0. */
static int parse(const command_info *info, flag_def *defs, int argc, char **argv, strlist *args, int min, int max)
{
    int rc = flags_parse(info, defs, argc, argv, 1, args);
    if (rc == 0)
        rc = flags_check_args(info, args->count, min, max);
    if (rc != 0) {
        sl_free(args);
        flags_reset(defs);
    }
    return rc;
}

/* ------------------------------------------------------------ shared options */

#define LISTEN_ADDR_DEFAULT "0.0.0.0:2377"

/*
 * docker's NodeAddrOption (opts.ParseTCPAddr against "0.0.0.0:2377"): a
 * missing host or port is taken from the default. NULL and *err on error.
 */
static char *node_addr(const char *value, char **err)
{
    const char *v = value;
    if (strncmp(v, "tcp://", 6) == 0) {
        v += 6;
    } else if (strstr(v, "://")) {
        strbuf b = {0};
        sb_addf(&b, "unsupported proto '%.*s'", (int)(strstr(v, "://") - v), v);
        *err = sb_take(&b);
        return NULL;
    }
    const char *slash = strchr(v, '/');
    size_t len = slash ? (size_t)(slash - v) : strlen(v);
    if (slash && strcmp(slash, "/") != 0) {
        strbuf b = {0};
        sb_addf(&b, "invalid bind address (%s): should not contain a path element", value);
        *err = sb_take(&b);
        return NULL;
    }
    const char *host = v, *port = NULL;
    size_t host_len = len;
    if (v[0] == '[') {
        const char *close = memchr(v, ']', len);
        if (close == NULL) {
            strbuf b = {0};
            sb_addf(&b, "parse \"tcp://%s\": missing ']' in host", value);
            *err = sb_take(&b);
            return NULL;
        }
        host = v + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < v + len && close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = NULL;
        for (const char *p = v; p < v + len; p++)
            if (*p == ':')
                colon = p;
        if (colon) {
            host_len = (size_t)(colon - v);
            port = colon + 1;
        }
    }
    size_t port_len = port ? (size_t)(v + len - port) : 0;
    for (size_t i = 0; i < port_len; i++)
        if (!isdigit((unsigned char)port[i])) {
            strbuf b = {0};
            sb_addf(&b, "parse \"tcp://%s\": invalid port \":%.*s\" after host", value, (int)port_len, port);
            *err = sb_take(&b);
            return NULL;
        }
    strbuf b = {0};
    int v6 = memchr(host, ':', host_len) != NULL;
    if (host_len == 0)
        sb_add(&b, "0.0.0.0");
    else
        sb_addf(&b, "%s%.*s%s", v6 ? "[" : "", (int)host_len, host, v6 ? "]" : "");
    if (port_len == 0)
        sb_add(&b, ":2377");
    else
        sb_addf(&b, ":%.*s", (int)port_len, port);
    return sb_take(&b);
}

/* The --listen-addr value as docker sends it; 1 after printing a flag error. */
static int listen_addr(const command_info *info, flag_def *d, char **out)
{
    if (!d->changed) {
        *out = xstrdup(LISTEN_ADDR_DEFAULT);
        return 0;
    }
    char *err = NULL;
    *out = node_addr(d->s, &err);
    if (*out)
        return 0;
    strbuf b = {0};
    sb_addf(&b, "invalid argument \"%s\" for \"--%s\" flag: %s", d->s, d->name, err);
    free(err);
    flags_usage_error(info, b.s);
    sb_free(&b);
    return 1;
}

/* "active", "pause" or "drain" (any case) as docker accepts --availability; 1 after printing the error. */
static int availability(flag_def *d, char **out)
{
    *out = NULL;
    if (!d->changed)
        return 0;
    char *a = xstrdup(d->s);
    for (char *p = a; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strcmp(a, "active") && strcmp(a, "pause") && strcmp(a, "drain")) {
        fprintf(stderr, "invalid availability \"%s\", only active, pause and drain are supported\n", d->s);
        free(a);
        return 1;
    }
    *out = a;
    return 0;
}

#define SWARM_SPEC_FLAGS                                                                                          \
    {.name = "task-history-limit", .type = FLAG_INT, .usage = "Task history retention limit",                   \
     .default_text = "5"},                                                                                        \
    {.name = "dispatcher-heartbeat", .type = FLAG_DURATION,                                                       \
     .usage = "Dispatcher heartbeat period (ns|us|ms|s|m|h)", .default_text = "5s"},                              \
    {.name = "max-snapshots", .type = FLAG_UINT, .usage = "Number of additional Raft snapshots to retain"},       \
    {.name = "snapshot-interval", .type = FLAG_UINT, .usage = "Number of log entries between Raft snapshots",    \
     .default_text = "10000"},                                                                                    \
    {.name = "cert-expiry", .type = FLAG_DURATION, .usage = "Validity period for node certificates (ns|us|ms|s|m|h)", \
     .default_text = "2160h0m0s"}

/* docker's mergeSwarmSpec: only the flags given change the spec. */
static void merge_spec(json *spec, flag_def *defs)
{
    flag_def *d;
    if ((d = flag_find(defs, "task-history-limit")) && d->changed)
        json_set(json_object_at(spec, "Orchestration"), "TaskHistoryRetentionLimit", json_int(d->i));
    if ((d = flag_find(defs, "dispatcher-heartbeat")) && d->changed)
        json_set(json_object_at(spec, "Dispatcher"), "HeartbeatPeriod", json_int(d->i));
    if ((d = flag_find(defs, "max-snapshots")) && d->changed)
        json_set(json_object_at(spec, "Raft"), "KeepOldSnapshots", json_uint(d->u));
    if ((d = flag_find(defs, "snapshot-interval")) && d->changed)
        json_set(json_object_at(spec, "Raft"), "SnapshotInterval", json_uint(d->u));
    if ((d = flag_find(defs, "cert-expiry")) && d->changed)
        json_set(json_object_at(spec, "CAConfig"), "NodeCertExpiry", json_int(d->i));
}

/* docker's printJoinCommand: nothing when this node has no manager address. Returns 0 or 1 (error printed). */
static int print_join_command(swarm_cluster_t *c, const char *node_id, int worker, int manager)
{
    json *node = fetch_node(c, node_id);
    if (node == NULL)
        return report_daemon_error();
    json *sw = fetch_swarm(c);
    if (sw == NULL) {
        json_free(node);
        return report_daemon_error();
    }
    json *ms = json_get(node, "ManagerStatus");
    if (ms && ms->type == JSON_OBJECT) {
        const char *addr = json_path_str(ms, "Addr");
        if (worker)
            printf("To add a worker to this swarm, run the following command:\n\n"
                   "    swarmctl swarm join --token %s %s\n\n",
                   json_path_str(sw, "JoinTokens.Worker"), addr);
        if (manager)
            printf("To add a manager to this swarm, run the following command:\n\n"
                   "    swarmctl swarm join --token %s %s\n\n",
                   json_path_str(sw, "JoinTokens.Manager"), addr);
    }
    json_free(sw);
    json_free(node);
    return 0;
}

/* ------------------------------------------------------------ init */

static int swarm_init(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"swarm init", "swarmctl swarm init [OPTIONS]", "Initialize a swarm", NULL};
    flag_def defs[] = {
        {.name = "advertise-addr", .type = FLAG_STRING, .usage = "Advertised address (format: \"<ip|interface>[:port]\")"},
        {.name = "listen-addr", .type = FLAG_STRING, .type_text = "node-addr",
         .usage = "Listen address (format: \"<ip|interface>[:port]\")", .default_text = LISTEN_ADDR_DEFAULT},
        {.name = "force-new-cluster", .type = FLAG_BOOL, .usage = "Force create a new cluster from current state"},
        {.name = "availability", .type = FLAG_STRING, .usage = "Availability of the node (\"active\", \"pause\", \"drain\")",
         .default_text = "\"active\""},
        SWARM_SPEC_FLAGS,
        {0},
    };
    strlist args = {0};
    int rc = parse(&info, defs, argc, argv, &args, 0, 0);
    if (rc != 0)
        return rc == 2 ? 0 : 1;
    char *listen = NULL, *avail = NULL;
    if (listen_addr(&info, flag_find(defs, "listen-addr"), &listen) || availability(flag_find(defs, "availability"), &avail)) {
        free(listen);
        sl_free(&args);
        flags_reset(defs);
        return 1;
    }
    json *req = json_new(JSON_OBJECT);
    json_set(req, "ListenAddr", json_string(listen));
    if (defs[0].changed)
        json_set(req, "AdvertiseAddr", json_string(defs[0].s));
    if (defs[2].changed)
        json_set(req, "ForceNewCluster", json_bool(defs[2].b));
    json *spec = json_set(req, "Spec", json_new(JSON_OBJECT));
    merge_spec(spec, defs);
    if (avail)
        json_set(req, "Availability", json_string(avail));
    char *body = json_dump(req, 0);
    json_free(req);
    free(listen);
    free(avail);
    rc = swarm_cluster_init(c, body);
    free(body);
    sl_free(&args);
    flags_reset(defs);
    if (rc != 0) {
        const char *msg = swarm_error_last_message();
        if (strstr(msg, "could not choose an IP address to advertise") ||
            strstr(msg, "could not find the system's IP address")) {
            char *text = daemon_error_text();
            fprintf(stderr, "%s - specify one with --advertise-addr\n", text);
            free(text);
            return 1;
        }
        return report_daemon_error();
    }
    json *inf = fetch_info(c);
    if (inf == NULL)
        return report_daemon_error();
    const char *node_id = json_path_str(inf, "NodeID");
    printf("Swarm initialized: current node (%s) is now a manager.\n\n", node_id);
    rc = print_join_command(c, node_id, 1, 0);
    if (rc == 0)
        printf("To add a manager to this swarm, run 'swarmctl swarm join-token manager' and follow the instructions.\n");
    json_free(inf);
    return rc;
}

/* ------------------------------------------------------------ join */

static int swarm_join(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"swarm join", "swarmctl swarm join [OPTIONS] HOST:PORT",
                                      "Join a swarm as a node and/or manager", NULL};
    flag_def defs[] = {
        {.name = "advertise-addr", .type = FLAG_STRING, .usage = "Advertised address (format: \"<ip|interface>[:port]\")"},
        {.name = "availability", .type = FLAG_STRING, .usage = "Availability of the node (\"active\", \"pause\", \"drain\")",
         .default_text = "\"active\""},
        {.name = "data-path-addr", .type = FLAG_STRING,
         .usage = "Address or interface to use for data path traffic (format: \"<ip|interface>\")"},
        {.name = "listen-addr", .type = FLAG_STRING, .type_text = "node-addr",
         .usage = "Listen address (format: \"<ip|interface>[:port]\")", .default_text = LISTEN_ADDR_DEFAULT},
        {.name = "token", .type = FLAG_STRING, .usage = "Token for entry into the swarm"},
        {0},
    };
    strlist args = {0};
    int rc = parse(&info, defs, argc, argv, &args, 1, 1);
    if (rc != 0)
        return rc == 2 ? 0 : 1;
    char *listen = NULL, *avail = NULL;
    if (listen_addr(&info, &defs[3], &listen) || availability(&defs[1], &avail)) {
        free(listen);
        sl_free(&args);
        flags_reset(defs);
        return 1;
    }
    json *req = json_new(JSON_OBJECT);
    json_set(req, "ListenAddr", json_string(listen));
    json_set(req, "AdvertiseAddr", json_string(defs[0].changed ? defs[0].s : ""));
    json_set(req, "DataPathAddr", json_string(defs[2].changed ? defs[2].s : ""));
    json *remotes = json_set(req, "RemoteAddrs", json_new(JSON_ARRAY));
    json_append(remotes, json_string(args.items[0]));
    json_set(req, "JoinToken", json_string(defs[4].changed ? defs[4].s : ""));
    json_set(req, "Availability", json_string(avail ? avail : ""));
    char *body = json_dump(req, 0);
    json_free(req);
    free(listen);
    free(avail);
    rc = swarm_cluster_join(c, body);
    free(body);
    sl_free(&args);
    flags_reset(defs);
    if (rc != 0)
        return report_daemon_error();
    json *inf = fetch_info(c);
    if (inf == NULL)
        return report_daemon_error();
    printf("This node joined a swarm as a %s.\n", json_truthy(json_get(inf, "ControlAvailable")) ? "manager" : "worker");
    json_free(inf);
    return 0;
}

/* ------------------------------------------------------------ join-token */

static int swarm_join_token(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"swarm join-token", "swarmctl swarm join-token [OPTIONS] (worker|manager)",
                                      "Manage join tokens", NULL};
    flag_def defs[] = {
        {.name = "quiet", .shorthand = 'q', .type = FLAG_BOOL, .usage = "Only display token"},
        {.name = "rotate", .type = FLAG_BOOL, .usage = "Rotate join token"},
        {0},
    };
    strlist args = {0};
    int rc = parse(&info, defs, argc, argv, &args, 1, 1);
    if (rc != 0)
        return rc == 2 ? 0 : 1;
    const char *role = args.items[0];
    int worker = strcmp(role, "worker") == 0, manager = strcmp(role, "manager") == 0;
    int quiet = defs[0].b, rotate = defs[1].b;
    json *sw = NULL, *inf = NULL;
    if (!worker && !manager) {
        fprintf(stderr, "unknown role %s\n", role);
        rc = 1;
        goto out;
    }
    if (rotate) {
        sw = fetch_swarm(c);
        if (sw == NULL) {
            rc = report_daemon_error();
            goto out;
        }
        char *spec = json_dump(json_get(sw, "Spec"), 0);
        const char *flags = worker ? "{\"RotateWorkerToken\":true,\"RotateManagerToken\":false}"
                                   : "{\"RotateWorkerToken\":false,\"RotateManagerToken\":true}";
        rc = swarm_cluster_update(c, json_unum(json_path(sw, "Version.Index")), spec, flags);
        free(spec);
        json_free(sw);
        sw = NULL;
        if (rc != 0) {
            rc = report_daemon_error();
            goto out;
        }
        if (!quiet)
            printf("Successfully rotated %s join token.\n\n", role);
    }
    sw = fetch_swarm(c);
    if (sw == NULL) {
        rc = report_daemon_error();
        goto out;
    }
    if (quiet) {
        printf("%s\n", json_path_str(sw, worker ? "JoinTokens.Worker" : "JoinTokens.Manager"));
        goto out;
    }
    inf = fetch_info(c);
    if (inf == NULL) {
        rc = report_daemon_error();
        goto out;
    }
    rc = print_join_command(c, json_path_str(inf, "NodeID"), worker, manager);
out:
    json_free(sw);
    json_free(inf);
    sl_free(&args);
    flags_reset(defs);
    return rc;
}

/* ------------------------------------------------------------ leave */

static int swarm_leave(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"swarm leave", "swarmctl swarm leave [OPTIONS]", "Leave the swarm", NULL};
    flag_def defs[] = {
        {.name = "force", .shorthand = 'f', .type = FLAG_BOOL, .usage = "Force this node to leave the swarm, ignoring warnings"},
        {0},
    };
    strlist args = {0};
    int rc = parse(&info, defs, argc, argv, &args, 0, 0);
    if (rc != 0)
        return rc == 2 ? 0 : 1;
    rc = swarm_cluster_leave(c, defs[0].b);
    sl_free(&args);
    flags_reset(defs);
    if (rc != 0)
        return report_daemon_error();
    printf("Node left the swarm.\n");
    return 0;
}

/* ------------------------------------------------------------ update */

static int swarm_update(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"swarm update", "swarmctl swarm update [OPTIONS]", "Update the swarm", NULL};
    flag_def defs[] = {
        SWARM_SPEC_FLAGS,
        {0},
    };
    strlist args = {0};
    int rc = parse(&info, defs, argc, argv, &args, 0, 0);
    if (rc != 0)
        return rc == 2 ? 0 : 1;
    int any = 0;
    for (flag_def *d = defs; d->name; d++)
        any |= d->changed;
    if (!any) {
        /* Like docker: no flag at all prints the help. */
        flags_print_help(&info, defs);
        sl_free(&args);
        flags_reset(defs);
        return 0;
    }
    json *sw = fetch_swarm(c);
    if (sw == NULL) {
        rc = report_daemon_error();
    } else {
        json *spec = json_get(sw, "Spec");
        if (spec == NULL || spec->type != JSON_OBJECT)
            spec = json_set(sw, "Spec", json_new(JSON_OBJECT));
        merge_spec(spec, defs);
        char *text = json_dump(spec, 0);
        rc = swarm_cluster_update(c, json_unum(json_path(sw, "Version.Index")), text, NULL);
        free(text);
        if (rc != 0)
            rc = report_daemon_error();
        else
            printf("Swarm updated.\n");
    }
    json_free(sw);
    sl_free(&args);
    flags_reset(defs);
    return rc;
}

int cmd_swarm(swarm_cluster_t *c, int argc, char **argv)
{
    if (argc == 0 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        group_help();
        return 0;
    }
    const char *sub = argv[0];
    if (strcmp(sub, "init") == 0)
        return swarm_init(c, argc - 1, argv + 1);
    if (strcmp(sub, "join") == 0)
        return swarm_join(c, argc - 1, argv + 1);
    if (strcmp(sub, "join-token") == 0)
        return swarm_join_token(c, argc - 1, argv + 1);
    if (strcmp(sub, "leave") == 0)
        return swarm_leave(c, argc - 1, argv + 1);
    if (strcmp(sub, "update") == 0)
        return swarm_update(c, argc - 1, argv + 1);
    fprintf(stderr, "swarmctl: 'swarm %s' is not a swarmctl command.\nSee 'swarmctl swarm --help'\n", sub);
    return 1;
}

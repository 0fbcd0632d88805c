/* The scheduler: filter pipeline and reasons, constraints, placement preferences, spread, binpack, custom strategies. */
#include "core/json.h"
#include "manager/scheduler/scheduler.h"
#include "swarm/errors.h"
#include "swarm/sys/scheduler.h"
#include "test.h"

#define GB (1024LL * 1024 * 1024)
#define CPU 1000000000LL

/* ---------------------------------------------------------------- fixtures */

static int task_counter;

/* A ready, active linux/amd64 worker with 4 CPUs and 8 GiB. */
static json_t *node(const char *id, const char *hostname)
{
    json_t *n = json_pack("{s:s, s:{s:s, s:s, s:s, s:{}}, s:{s:s, s:{s:s, s:s}, s:{s:I, s:I}, s:{s:{}}},"
                          " s:{s:s, s:s}}",
                          "ID", id, "Spec", "Name", "", "Role", "worker", "Availability", "active", "Labels",
                          "Description", "Hostname", hostname, "Platform", "OS", "linux", "Architecture", "amd64",
                          "Resources", "NanoCPUs", (json_int_t)(4 * CPU), "MemoryBytes", (json_int_t)(8 * GB),
                          "Engine", "Labels", "Status", "State", "ready", "Addr", "10.0.0.1");
    if (n == NULL)
        abort();
    return n;
}

static void set(json_t *obj, const char *path, json_t *value)
{
    if (swarm__json_set(obj, path, value) != 0)
        abort();
}

static void set_str(json_t *obj, const char *path, const char *value)
{
    set(obj, path, json_string(value));
}

static json_t *task(const char *service)
{
    char id[32];
    snprintf(id, sizeof id, "task%d", ++task_counter);
    json_t *t = json_pack("{s:s, s:s, s:{}}", "ID", id, "ServiceID", service, "Spec");
    if (t == NULL)
        abort();
    return t;
}

static json_t *load(const char *service, const char *node_id)
{
    json_t *t = task(service);
    set_str(t, "NodeID", node_id);
    return t;
}

static void reserve(json_t *t, long long cpus, long long memory)
{
    set(t, "Spec.Resources.Reservations.NanoCPUs", json_integer(cpus));
    set(t, "Spec.Resources.Reservations.MemoryBytes", json_integer(memory));
}

static void constrain(json_t *t, const char *constraint)
{
    json_t *list = swarm__json_get(t, "Spec.Placement.Constraints");
    if (list == NULL) {
        list = json_array();
        set(t, "Spec.Placement.Constraints", list);
    }
    json_array_append_new(list, json_string(constraint));
}

static void host_port(json_t *t, const char *field, int port, const char *protocol, const char *mode)
{
    json_t *list = swarm__json_get(t, field);
    if (list == NULL) {
        list = json_array();
        set(t, field, list);
    }
    json_array_append_new(list, json_pack("{s:s, s:i, s:i, s:s}", "Protocol", protocol, "TargetPort", 80,
                                          "PublishedPort", port, "PublishMode", mode));
}

static void prefer(json_t *t, const char *descriptor)
{
    json_t *list = swarm__json_get(t, "Spec.Placement.Preferences");
    if (list == NULL) {
        list = json_array();
        set(t, "Spec.Placement.Preferences", list);
    }
    json_array_append_new(list, json_pack("{s:{s:s}}", "Spread", "SpreadDescriptor", descriptor));
}

/* n copies of a pending task of `service`, each with its own ID. */
static json_t *pending_n(int n, const char *service, void (*tweak)(json_t *))
{
    json_t *list = json_array();
    for (int i = 0; i < n; i++) {
        json_t *t = task(service);
        if (tweak != NULL)
            tweak(t);
        json_array_append_new(list, t);
    }
    return list;
}

static json_t *nodes_n(int n)
{
    json_t *list = json_array();
    for (int i = 0; i < n; i++) {
        char id[16], host[16];
        snprintf(id, sizeof id, "n%d", i + 1);
        snprintf(host, sizeof host, "host%d", i + 1);
        json_array_append_new(list, node(id, host));
    }
    return list;
}

/* Runs a placement (strategy NULL = default); steals nodes, tasks and pending. */
static json_t *place_with(const char *strategy, json_t *nodes, json_t *tasks, json_t *pending)
{
    swarm__scheduler *s = NULL;
    swarm__err e = {0};
    CHECK_INT(swarm__scheduler_new(&s, strategy, &e), 0);
    json_t *out = NULL;
    int rc = swarm__scheduler_place(s, nodes, tasks, pending, &out, &e);
    if (rc != 0)
        test__fail(__FILE__, __LINE__, "place failed: %d %s", rc, e.message);
    CHECK_INT(json_array_size(out), json_array_size(pending));
    swarm__scheduler_free(s);
    json_decref(nodes);
    json_decref(tasks);
    json_decref(pending);
    return out;
}

static json_t *place(json_t *nodes, json_t *tasks, json_t *pending)
{
    return place_with(NULL, nodes, tasks, pending);
}

static const char *placed_on(const json_t *out, size_t i)
{
    return swarm__json_str(json_array_get(out, i), "NodeID");
}

static const char *reason(const json_t *out, size_t i)
{
    return swarm__json_str(json_array_get(out, i), "Reason");
}

static int count_on(const json_t *out, const char *node_id)
{
    int n = 0;
    for (size_t i = 0; i < json_array_size(out); i++) {
        const char *id = placed_on(out, i);
        if (id != NULL && strcmp(id, node_id) == 0)
            n++;
    }
    return n;
}

/* ---------------------------------------------------------------- a strategy that records its candidates */

static char recorded[4096];
static char recorded_task[1024];
static swarm_sched_node recorded_first; /* its strings are only valid during the call */
static char recorded_first_hostname[64];
static int record_result; /* 0: pick the first; 1: decline all; 2: fail */

static int record_rank(struct swarm_scheduler_strategy *s, const char *task_json, const swarm_sched_node *nodes,
                       size_t n, size_t *order, size_t *n_out)
{
    (void)s;
    recorded[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strncat(recorded, ",", sizeof recorded - strlen(recorded) - 1);
        strncat(recorded, nodes[i].id, sizeof recorded - strlen(recorded) - 1);
    }
    snprintf(recorded_task, sizeof recorded_task, "%s", task_json);
    if (n > 0) {
        recorded_first = nodes[0];
        snprintf(recorded_first_hostname, sizeof recorded_first_hostname, "%s", nodes[0].hostname);
        if (strstr(nodes[0].node_json, nodes[0].id) == NULL)
            recorded_first_hostname[0] = '\0';
    }
    *n_out = 0;
    if (record_result == 2)
        return SWARM_EBACKEND;
    if (record_result == 0 && n > 0) {
        order[0] = 0;
        *n_out = 1;
    }
    return 0;
}

static void strategy_free(struct swarm_scheduler_strategy *s)
{
    free(s);
}

static int record_new(struct swarm_scheduler_strategy **out, void *payload)
{
    struct swarm_scheduler_strategy *s = calloc(1, sizeof *s);
    s->version = SWARM_SCHEDULER_STRATEGY_VERSION;
    s->name = payload;
    s->rank = record_rank;
    s->free = strategy_free;
    *out = s;
    return 0;
}

static void ensure_record(void)
{
    int rc = swarm_scheduler_register("test-record", record_new, "test-record");
    CHECK(rc == 0 || rc == SWARM_EEXISTS);
    recorded[0] = '\0';
    record_result = 0;
}

/* The candidates a task with these constraints gets among the standard three nodes, as "n1,n3". */
static json_t *three_nodes(void)
{
    json_t *nodes = json_array();
    json_t *a = node("n1", "alpha"), *b = node("n2", "Beta"), *c = node("n3", "gamma");
    set_str(a, "Spec.Role", "manager");
    set_str(a, "Spec.Labels.zone", "east");
    set_str(b, "Spec.Labels.zone", "WEST");
    set_str(b, "Spec.Labels.ssd", "true");
    set_str(a, "Description.Engine.Labels.gpu", "nvidia");
    set_str(b, "Description.Platform.Architecture", "arm64");
    set_str(c, "Description.Platform.OS", "windows");
    set_str(b, "Status.Addr", "192.168.1.20");
    set_str(c, "Status.Addr", "2001:db8::2");
    json_array_append_new(nodes, a);
    json_array_append_new(nodes, b);
    json_array_append_new(nodes, c);
    return nodes;
}

static const char *candidates(const char *c1, const char *c2)
{
    ensure_record();
    json_t *t = task("svc");
    if (c1 != NULL)
        constrain(t, c1);
    if (c2 != NULL)
        constrain(t, c2);
    json_t *pending = json_array();
    json_array_append_new(pending, t);
    json_t *out = place_with("test-record", three_nodes(), json_array(), pending);
    json_decref(out);
    return recorded;
}

/* ---------------------------------------------------------------- spread */

static void test_spread__even(void)
{
    json_t *out = place(nodes_n(3), json_array(), pending_n(7, "web", NULL));
    CHECK_INT(count_on(out, "n1"), 3);
    CHECK_INT(count_on(out, "n2"), 2);
    CHECK_INT(count_on(out, "n3"), 2);
    /* One after the other, in node ID order. */
    CHECK_STR(placed_on(out, 0), "n1");
    CHECK_STR(placed_on(out, 1), "n2");
    CHECK_STR(placed_on(out, 2), "n3");
    json_decref(out);
}

static void test_spread__existing_load(void)
{
    json_t *tasks = json_array();
    json_array_append_new(tasks, load("web", "n1"));
    json_array_append_new(tasks, load("web", "n1"));
    json_t *out = place(nodes_n(3), tasks, pending_n(4, "web", NULL));
    CHECK_INT(count_on(out, "n1"), 0);
    CHECK_INT(count_on(out, "n2"), 2);
    CHECK_INT(count_on(out, "n3"), 2);
    json_decref(out);
}

static void test_spread__service_tasks_then_total(void)
{
    /* n1: 3 tasks of other services, none of web; n2: 1 task of web; n3: 1 of web + 1 other. */
    json_t *tasks = json_array();
    for (int i = 0; i < 3; i++)
        json_array_append_new(tasks, load("db", "n1"));
    json_array_append_new(tasks, load("web", "n2"));
    json_array_append_new(tasks, load("web", "n3"));
    json_array_append_new(tasks, load("cache", "n3"));
    json_t *out = place(nodes_n(3), tasks, pending_n(3, "web", NULL));
    CHECK_STR(placed_on(out, 0), "n1"); /* fewest web tasks, despite the most tasks */
    CHECK_STR(placed_on(out, 1), "n2"); /* all at 1 web task: fewest tasks overall (n2 has 1) */
    CHECK_STR(placed_on(out, 2), "n3"); /* n1 and n2 have 2 web tasks now */
    json_decref(out);
}

static void test_spread__services_counted_separately(void)
{
    json_t *pending = pending_n(2, "web", NULL);
    json_t *more = pending_n(2, "api", NULL);
    json_array_extend(pending, more);
    json_decref(more);
    json_t *out = place(nodes_n(2), json_array(), pending);
    CHECK_STR(placed_on(out, 0), "n1");
    CHECK_STR(placed_on(out, 1), "n2");
    CHECK_STR(placed_on(out, 2), "n1");
    CHECK_STR(placed_on(out, 3), "n2");
    json_decref(out);
}

static void test_spread__many(void)
{
    long long start = test_now_ms();
    json_t *out = place(nodes_n(100), json_array(), pending_n(1000, "web", NULL));
    for (int i = 1; i <= 100; i++) {
        char id[16];
        snprintf(id, sizeof id, "n%d", i);
        CHECK_INT(count_on(out, id), 10);
    }
    json_decref(out);
    printf("  1000 tasks on 100 nodes in %lld ms\n", test_now_ms() - start);
}

/* ---------------------------------------------------------------- filters and reasons */

static void test_filter__not_available(void)
{
    json_t *nodes = nodes_n(4);
    set_str(json_array_get(nodes, 0), "Status.State", "down");
    set_str(json_array_get(nodes, 1), "Spec.Availability", "drain");
    set_str(json_array_get(nodes, 2), "Spec.Availability", "pause");
    json_t *out = place(nodes, json_array(), pending_n(3, "web", NULL));
    for (size_t i = 0; i < 3; i++)
        CHECK_STR(placed_on(out, i), "n4");
    json_decref(out);

    nodes = nodes_n(3);
    set_str(json_array_get(nodes, 0), "Status.State", "unknown");
    set_str(json_array_get(nodes, 1), "Spec.Availability", "drain");
    set_str(json_array_get(nodes, 2), "Status.State", "disconnected");
    out = place(nodes, json_array(), pending_n(1, "web", NULL));
    CHECK_STR(reason(out, 0), "no suitable node (3 nodes not available for new tasks)");
    json_decref(out);

    nodes = nodes_n(1);
    set_str(json_array_get(nodes, 0), "Status.State", "down");
    out = place(nodes, json_array(), pending_n(1, "web", NULL));
    CHECK_STR(reason(out, 0), "no suitable node (1 node not available for new tasks)");
    json_decref(out);
}

static void test_filter__no_nodes(void)
{
    json_t *out = place(json_array(), json_array(), pending_n(2, "web", NULL));
    CHECK_STR(reason(out, 0), "no suitable node");
    CHECK_STR(reason(out, 1), "no suitable node");
    json_decref(out);
}

static void two_cpus(json_t *t)
{
    reserve(t, 2 * CPU, 0);
}

static void test_filter__resources_accumulate(void)
{
    /* 4 CPUs per node, 2 per task: two nodes take 4 tasks, the fifth does not fit. */
    json_t *out = place(nodes_n(2), json_array(), pending_n(5, "web", two_cpus));
    CHECK_INT(count_on(out, "n1"), 2);
    CHECK_INT(count_on(out, "n2"), 2);
    CHECK_STR(reason(out, 4), "no suitable node (insufficient resources on 2 nodes)");
    json_decref(out);

    /* Existing reservations count, memory too. */
    json_t *tasks = json_array();
    json_t *big = load("db", "n1");
    reserve(big, 0, 7 * GB);
    json_array_append_new(tasks, big);
    json_t *pending = pending_n(2, "web", NULL);
    reserve(json_array_get(pending, 0), 0, 2 * GB);
    reserve(json_array_get(pending, 1), 0, 7 * GB);
    out = place(nodes_n(2), tasks, pending);
    CHECK_STR(placed_on(out, 0), "n2");
    CHECK_STR(reason(out, 1), "no suitable node (insufficient resources on 2 nodes)");
    json_decref(out);

    /* A task without reservations fits even on a full node. */
    tasks = json_array();
    big = load("db", "n1");
    reserve(big, 4 * CPU, 8 * GB);
    json_array_append_new(tasks, big);
    out = place(nodes_n(1), tasks, pending_n(1, "web", NULL));
    CHECK_STR(placed_on(out, 0), "n1");
    json_decref(out);
}

static void test_filter__mixed_reason(void)
{
    json_t *nodes = nodes_n(3);
    set_str(json_array_get(nodes, 2), "Spec.Labels.zone", "b");
    json_t *pending = pending_n(1, "web", NULL);
    json_t *t = json_array_get(pending, 0);
    reserve(t, 3 * CPU, 0);
    constrain(t, "node.labels.zone==a");
    json_t *tasks = json_array();
    json_t *l1 = load("db", "n1"), *l2 = load("db", "n2");
    reserve(l1, 2 * CPU, 0);
    reserve(l2, 2 * CPU, 0);
    json_array_append_new(tasks, l1);
    json_array_append_new(tasks, l2);
    json_t *out = place(nodes, tasks, pending);
    CHECK_STR(reason(out, 0),
              "no suitable node (insufficient resources on 2 nodes; scheduling constraints not satisfied on 1 node)");
    json_decref(out);

    /* Most frequent first, as Swarm orders them. */
    nodes = nodes_n(4);
    set_str(json_array_get(nodes, 0), "Spec.Availability", "drain");
    pending = pending_n(1, "web", NULL);
    constrain(json_array_get(pending, 0), "node.role==manager");
    out = place(nodes, json_array(), pending);
    CHECK_STR(reason(out, 0),
              "no suitable node (scheduling constraints not satisfied on 3 nodes; 1 node not available for new tasks)");
    json_decref(out);
}

static void test_filter__max_replicas(void)
{
    json_t *tasks = json_array();
    json_array_append_new(tasks, load("web", "n1"));
    json_array_append_new(tasks, load("db", "n2")); /* other services do not count */
    json_t *pending = pending_n(3, "web", NULL);
    for (size_t i = 0; i < 3; i++)
        set(json_array_get(pending, i), "Spec.Placement.MaxReplicas", json_integer(1));
    json_t *out = place(nodes_n(3), tasks, pending);
    CHECK_STR(placed_on(out, 0), "n3"); /* n2 and n3 have no web task; n3 has fewer tasks */
    CHECK_STR(placed_on(out, 1), "n2");
    CHECK_STR(reason(out, 2), "no suitable node (max replicas per node limit exceed)");
    json_decref(out);

    pending = pending_n(5, "web", NULL);
    for (size_t i = 0; i < 5; i++)
        set(json_array_get(pending, i), "Spec.Placement.MaxReplicas", json_integer(2));
    out = place(nodes_n(2), json_array(), pending);
    CHECK_INT(count_on(out, "n1"), 2);
    CHECK_INT(count_on(out, "n2"), 2);
    CHECK_STR(reason(out, 4), "no suitable node (max replicas per node limit exceed)");
    json_decref(out);
}

static void port_8080(json_t *t)
{
    host_port(t, "Endpoint.Ports", 8080, "tcp", "host");
}

static void test_filter__host_ports(void)
{
    /* A load task holds 8080/tcp on n1. */
    json_t *tasks = json_array();
    json_t *held = load("other", "n1");
    port_8080(held);
    json_array_append_new(tasks, held);
    json_t *out = place(nodes_n(3), tasks, pending_n(3, "web", port_8080));
    CHECK_STR(placed_on(out, 0), "n2");
    CHECK_STR(placed_on(out, 1), "n3");
    CHECK_STR(reason(out, 2), "no suitable node (host-mode port already in use on 3 nodes)");
    json_decref(out);

    /* Another protocol, another port or ingress mode do not conflict; Endpoint.Spec.Ports is read too. */
    tasks = json_array();
    held = load("other", "n1");
    host_port(held, "Endpoint.Spec.Ports", 8080, "tcp", "host");
    json_array_append_new(tasks, held);
    json_t *pending = pending_n(4, "web", NULL);
    host_port(json_array_get(pending, 0), "Endpoint.Ports", 8080, "udp", "host");
    host_port(json_array_get(pending, 1), "Endpoint.Ports", 8081, "tcp", "host");
    host_port(json_array_get(pending, 2), "Endpoint.Ports", 8080, "tcp", "ingress");
    host_port(json_array_get(pending, 3), "Endpoint.Spec.Ports", 8080, "tcp", "host");
    json_t *nodes = nodes_n(1);
    out = place(nodes, tasks, pending);
    CHECK_STR(placed_on(out, 0), "n1");
    CHECK_STR(placed_on(out, 1), "n1");
    CHECK_STR(placed_on(out, 2), "n1");
    CHECK_STR(reason(out, 3), "no suitable node (host-mode port already in use on 1 node)");
    json_decref(out);
}

static void test_filter__platforms(void)
{
    ensure_record();
    json_t *pending = pending_n(1, "web", NULL);
    json_t *platforms = json_pack("[{s:s, s:s}]", "OS", "linux", "Architecture", "x86_64");
    set(json_array_get(pending, 0), "Spec.Placement.Platforms", platforms);
    json_t *out = place_with("test-record", three_nodes(), json_array(), pending);
    CHECK_STR(recorded, "n1"); /* n2 is arm64, n3 windows */
    json_decref(out);

    pending = pending_n(1, "web", NULL);
    platforms = json_pack("[{s:s}]", "OS", "solaris");
    set(json_array_get(pending, 0), "Spec.Placement.Platforms", platforms);
    out = place(three_nodes(), json_array(), pending);
    CHECK_STR(reason(out, 0), "no suitable node (unsupported platform on 3 nodes)");
    json_decref(out);
}

static void test_filter__preassigned(void)
{
    json_t *pending = pending_n(2, "global", NULL);
    set_str(json_array_get(pending, 0), "NodeID", "n2");
    set_str(json_array_get(pending, 1), "NodeID", "n3");
    reserve(json_array_get(pending, 1), 8 * CPU, 0);
    json_t *out = place(nodes_n(3), json_array(), pending);
    CHECK_STR(placed_on(out, 0), "n2");
    CHECK_STR(reason(out, 1), "no suitable node (insufficient resources on 1 node)");
    json_decref(out);
}

/* ---------------------------------------------------------------- constraints */

static void test_constraint__keys(void)
{
    CHECK_STR(candidates(NULL, NULL), "n1,n2,n3");
    CHECK_STR(candidates("node.id==n2", NULL), "n2");
    CHECK_STR(candidates("node.id!=n2", NULL), "n1,n3");
    CHECK_STR(candidates("node.hostname==gamma", NULL), "n3");
    CHECK_STR(candidates("node.hostname!=gamma", NULL), "n1,n2");
    CHECK_STR(candidates("node.role==manager", NULL), "n1");
    CHECK_STR(candidates("node.role==worker", NULL), "n2,n3");
    CHECK_STR(candidates("node.role!=manager", NULL), "n2,n3");
    CHECK_STR(candidates("node.platform.os==windows", NULL), "n3");
    CHECK_STR(candidates("node.platform.os!=windows", NULL), "n1,n2");
    CHECK_STR(candidates("node.platform.arch==arm64", NULL), "n2");
    CHECK_STR(candidates("node.platform.arch!=arm64", NULL), "n1,n3");
    CHECK_STR(candidates("node.labels.zone==east", NULL), "n1");
    CHECK_STR(candidates("node.labels.zone!=east", NULL), "n2,n3");
    CHECK_STR(candidates("engine.labels.gpu==nvidia", NULL), "n1");
    CHECK_STR(candidates("engine.labels.gpu!=nvidia", NULL), "n2,n3");
    CHECK_STR(candidates("node.ip==192.168.1.20", NULL), "n2");
    CHECK_STR(candidates("node.ip==10.0.0.0/8", NULL), "n1");
    CHECK_STR(candidates("node.ip!=10.0.0.0/8", NULL), "n2,n3");
    CHECK_STR(candidates("node.ip==2001:db8::/32", NULL), "n3");
    CHECK_STR(candidates("node.ip==not-an-ip", NULL), "");
    CHECK_STR(candidates("node.ip!=not-an-ip", NULL), "");
}

static void test_constraint__syntax(void)
{
    /* Values compare without regard to case; label names keep theirs; whitespace around tokens is fine. */
    CHECK_STR(candidates("node.labels.zone==west", NULL), "n2");
    CHECK_STR(candidates("node.hostname==BETA", NULL), "n2");
    CHECK_STR(candidates("NODE.ROLE == Manager", NULL), "n1");
    CHECK_STR(candidates("  node.labels.zone   !=   EAST ", NULL), "n2,n3");
    CHECK_STR(candidates("node.labels.ZONE==east", NULL), "");
    /* Several constraints are all required. */
    CHECK_STR(candidates("node.role==worker", "node.labels.zone==west"), "n2");
    CHECK_STR(candidates("node.role==worker", "node.labels.ssd!=true"), "n3");
    /* A missing label never equals and always differs. */
    CHECK_STR(candidates("node.labels.ssd==true", NULL), "n2");
    CHECK_STR(candidates("node.labels.ssd!=false", NULL), "n1,n2,n3");
    CHECK_STR(candidates("node.labels.missing!=x", NULL), "n1,n2,n3");
    CHECK_STR(candidates("node.labels.missing==x", NULL), "");
    CHECK_STR(candidates("engine.labels.missing!=x", NULL), "n1,n2,n3");
    /* An unknown key is never satisfied. */
    CHECK_STR(candidates("node.colour==blue", NULL), "");
}

static void test_constraint__malformed(void)
{
    static const char *const bad[] = {"node.role", "node.role=manager", "node.role>manager", "==manager",
                                      "node.role==", "node.role==a=b", "9node==x", "node.role==a!b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STR(candidates(bad[i], NULL), "");
        json_t *pending = pending_n(1, "web", NULL);
        constrain(json_array_get(pending, 0), bad[i]);
        json_t *out = place(three_nodes(), json_array(), pending);
        CHECK_STR(reason(out, 0), "no suitable node (scheduling constraints not satisfied on 3 nodes)");
        json_decref(out);
    }
    /* Not a list of strings. */
    json_t *pending = pending_n(1, "web", NULL);
    set(json_array_get(pending, 0), "Spec.Placement.Constraints", json_pack("[i]", 3));
    json_t *out = place(three_nodes(), json_array(), pending);
    CHECK_STR(reason(out, 0), "no suitable node (scheduling constraints not satisfied on 3 nodes)");
    json_decref(out);
}

/* ---------------------------------------------------------------- placement preferences */

static json_t *zoned_nodes(void)
{
    /* zone a: n1; zone b: n2, n3, n4. */
    json_t *nodes = nodes_n(4);
    set_str(json_array_get(nodes, 0), "Spec.Labels.zone", "a");
    for (size_t i = 1; i < 4; i++)
        set_str(json_array_get(nodes, i), "Spec.Labels.zone", "b");
    return nodes;
}

static void by_zone(json_t *t)
{
    prefer(t, "node.labels.zone");
}

static void test_preference__zones(void)
{
    json_t *out = place(zoned_nodes(), json_array(), pending_n(4, "web", by_zone));
    CHECK_INT(count_on(out, "n1"), 2);
    CHECK_INT(count_on(out, "n2") + count_on(out, "n3") + count_on(out, "n4"), 2);
    CHECK_INT(count_on(out, "n2"), 1);
    CHECK_INT(count_on(out, "n3"), 1);
    json_decref(out);

    out = place(zoned_nodes(), json_array(), pending_n(6, "web", by_zone));
    CHECK_INT(count_on(out, "n1"), 3);
    CHECK_INT(count_on(out, "n2"), 1);
    CHECK_INT(count_on(out, "n3"), 1);
    CHECK_INT(count_on(out, "n4"), 1);
    json_decref(out);

    /* Without the preference, nodes are spread evenly instead. */
    out = place(zoned_nodes(), json_array(), pending_n(4, "web", NULL));
    CHECK_INT(count_on(out, "n1"), 1);
    json_decref(out);
}

static void test_preference__existing_and_unlabelled(void)
{
    /* Tasks already in a zone count, even on a drained node. */
    json_t *nodes = zoned_nodes();
    set_str(json_array_get(nodes, 3), "Spec.Availability", "drain");
    json_t *tasks = json_array();
    json_array_append_new(tasks, load("web", "n4"));
    json_array_append_new(tasks, load("web", "n4"));
    json_t *out = place(nodes, tasks, pending_n(2, "web", by_zone));
    CHECK_INT(count_on(out, "n1"), 2);
    json_decref(out);

    /* Nodes without the label form a group of their own. */
    nodes = nodes_n(4);
    set_str(json_array_get(nodes, 0), "Spec.Labels.zone", "a");
    set_str(json_array_get(nodes, 1), "Spec.Labels.zone", "a");
    set_str(json_array_get(nodes, 2), "Spec.Labels.zone", "b");
    out = place(nodes, json_array(), pending_n(3, "web", by_zone));
    CHECK_INT(count_on(out, "n1") + count_on(out, "n2"), 1);
    CHECK_INT(count_on(out, "n3"), 1);
    CHECK_INT(count_on(out, "n4"), 1);
    json_decref(out);
}

static void test_preference__full_branch(void)
{
    /* Zone a's only node has room for one task: the rest go to zone b. */
    json_t *nodes = zoned_nodes();
    set(json_array_get(nodes, 0), "Description.Resources.NanoCPUs", json_integer(2 * CPU));
    json_t *pending = pending_n(4, "web", by_zone);
    for (size_t i = 0; i < 4; i++)
        reserve(json_array_get(pending, i), 2 * CPU, 0);
    json_t *out = place(nodes, json_array(), pending);
    CHECK_INT(count_on(out, "n1"), 1);
    CHECK_INT(count_on(out, "n2"), 1);
    CHECK_INT(count_on(out, "n3"), 1);
    CHECK_INT(count_on(out, "n4"), 1);
    json_decref(out);
}

static void by_zone_then_rack(json_t *t)
{
    prefer(t, "node.labels.zone");
    prefer(t, "engine.labels.rack");
}

static void test_preference__nested(void)
{
    /* zone a: racks r1 (n1, n2) and r2 (n3); zone b: n4. */
    json_t *nodes = nodes_n(4);
    const char *zones[] = {"a", "a", "a", "b"}, *racks[] = {"r1", "r1", "r2", "r1"};
    for (size_t i = 0; i < 4; i++) {
        set_str(json_array_get(nodes, i), "Spec.Labels.zone", zones[i]);
        set_str(json_array_get(nodes, i), "Description.Engine.Labels.rack", racks[i]);
    }
    json_t *out = place(nodes, json_array(), pending_n(4, "web", by_zone_then_rack));
    CHECK_INT(count_on(out, "n4"), 2);
    CHECK_INT(count_on(out, "n1") + count_on(out, "n2"), 1);
    CHECK_INT(count_on(out, "n3"), 1);
    json_decref(out);
}

/* ---------------------------------------------------------------- binpack */

static void test_binpack__fills_one_node(void)
{
    json_t *out = place_with("binpack", nodes_n(3), json_array(), pending_n(5, "web", NULL));
    CHECK_INT(count_on(out, "n1"), 5);
    json_decref(out);

    /* With reservations: the fuller node after placement first, then the next. */
    json_t *nodes = nodes_n(2);
    set(json_array_get(nodes, 1), "Description.Resources.NanoCPUs", json_integer(2 * CPU));
    json_t *pending = pending_n(7, "web", NULL);
    for (size_t i = 0; i < 7; i++)
        reserve(json_array_get(pending, i), 1 * CPU, 0);
    out = place_with("binpack", nodes, json_array(), pending);
    CHECK_STR(placed_on(out, 0), "n2");
    CHECK_STR(placed_on(out, 1), "n2");
    CHECK_STR(placed_on(out, 2), "n1");
    CHECK_INT(count_on(out, "n1"), 4);
    CHECK_STR(reason(out, 6), "no suitable node (insufficient resources on 2 nodes)");
    json_decref(out);

    /* Existing load makes a node the fullest. */
    json_t *tasks = json_array();
    json_array_append_new(tasks, load("db", "n3"));
    out = place_with("binpack", nodes_n(3), tasks, pending_n(2, "web", NULL));
    CHECK_STR(placed_on(out, 0), "n3");
    CHECK_STR(placed_on(out, 1), "n3");
    json_decref(out);
}

/* ---------------------------------------------------------------- custom strategies and the registry */

static int highest_rank(struct swarm_scheduler_strategy *s, const char *task_json, const swarm_sched_node *nodes,
                        size_t n, size_t *order, size_t *n_out)
{
    (void)s;
    (void)task_json;
    *n_out = 0;
    for (size_t i = 0; i < n; i++) {
        if (*n_out == 0 || strcmp(nodes[i].hostname, nodes[order[0]].hostname) > 0)
            order[0] = i;
        *n_out = 1;
    }
    return 0;
}

static int highest_new(struct swarm_scheduler_strategy **out, void *payload)
{
    int *created = payload;
    (*created)++;
    struct swarm_scheduler_strategy *s = calloc(1, sizeof *s);
    s->version = SWARM_SCHEDULER_STRATEGY_VERSION;
    s->name = "highest-hostname";
    s->rank = highest_rank;
    s->free = strategy_free;
    *out = s;
    return 0;
}

static int created_highest;

static void test_custom__highest_hostname(void)
{
    int rc = swarm_scheduler_register("highest-hostname", highest_new, &created_highest);
    CHECK(rc == 0 || rc == SWARM_EEXISTS);
    int before = created_highest;
    json_t *nodes = nodes_n(3);
    set_str(json_array_get(nodes, 0), "Description.Hostname", "zulu"); /* highest, but drained */
    set_str(json_array_get(nodes, 0), "Spec.Availability", "drain");
    set_str(json_array_get(nodes, 1), "Description.Hostname", "mike");
    set_str(json_array_get(nodes, 2), "Description.Hostname", "alpha");
    json_t *out = place_with("highest-hostname", nodes, json_array(), pending_n(2, "web", NULL));
    CHECK_INT(created_highest, before + 1);
    CHECK_STR(placed_on(out, 0), "n2");
    CHECK_STR(placed_on(out, 1), "n2");
    json_decref(out);
}

static void test_custom__sees_filtered_nodes(void)
{
    ensure_record();
    json_t *nodes = nodes_n(3);
    set_str(json_array_get(nodes, 1), "Status.State", "down");
    json_t *tasks = json_array();
    json_t *l = load("web", "n3");
    reserve(l, 1 * CPU, 1 * GB);
    json_array_append_new(tasks, l);
    json_array_append_new(tasks, load("db", "n3"));
    json_t *pending = pending_n(1, "web", NULL);
    set_str(json_array_get(pending, 0), "ID", "the-task");
    json_t *out = place_with("test-record", nodes, tasks, pending);
    CHECK_STR(recorded, "n1,n3");
    CHECK_STR(placed_on(out, 0), "n1");
    CHECK_CONTAINS(recorded_task, "\"ID\":\"the-task\"");
    json_decref(out);

    /* The fields of a candidate, checked on n3 alone. */
    nodes = nodes_n(3);
    tasks = json_array();
    l = load("web", "n3");
    reserve(l, 1 * CPU, 1 * GB);
    json_array_append_new(tasks, l);
    json_array_append_new(tasks, load("db", "n3"));
    pending = pending_n(1, "web", NULL);
    constrain(json_array_get(pending, 0), "node.id==n3");
    out = place_with("test-record", nodes, tasks, pending);
    CHECK_STR(recorded, "n3");
    CHECK_STR(recorded_first_hostname, "host3");
    CHECK_INT(recorded_first.nano_cpus, 4 * CPU);
    CHECK_INT(recorded_first.memory_bytes, 8 * GB);
    CHECK_INT(recorded_first.reserved_nano_cpus, 1 * CPU);
    CHECK_INT(recorded_first.reserved_memory_bytes, 1 * GB);
    CHECK_INT(recorded_first.tasks, 2);
    CHECK_INT(recorded_first.service_tasks, 1);
    json_decref(out);
}

static void test_custom__declines_and_fails(void)
{
    ensure_record();
    record_result = 1;
    json_t *out = place_with("test-record", nodes_n(2), json_array(), pending_n(1, "web", NULL));
    CHECK_STR(reason(out, 0), "no suitable node (scheduler strategy \"test-record\" declined 2 nodes)");
    json_decref(out);
    record_result = 2;
    out = place_with("test-record", nodes_n(2), json_array(), pending_n(1, "web", NULL));
    CHECK_CONTAINS(reason(out, 0), "scheduler strategy \"test-record\" failed");
    json_decref(out);
    record_result = 0;
}

static int bad_version_new(struct swarm_scheduler_strategy **out, void *payload)
{
    (void)payload;
    struct swarm_scheduler_strategy *s = calloc(1, sizeof *s);
    s->version = 99;
    s->rank = highest_rank;
    s->free = strategy_free;
    *out = s;
    return 0;
}

static int failing_new(struct swarm_scheduler_strategy **out, void *payload)
{
    (void)out;
    (void)payload;
    return SWARM_EBACKEND;
}

static void test_registry__names(void)
{
    CHECK_INT(swarm_scheduler_register("spread", highest_new, &created_highest), SWARM_EEXISTS);
    CHECK_INT(swarm_scheduler_register("binpack", highest_new, &created_highest), SWARM_EEXISTS);
    int rc = swarm_scheduler_register("dup-test", highest_new, &created_highest);
    CHECK_INT(rc, 0);
    CHECK_INT(swarm_scheduler_register("dup-test", highest_new, &created_highest), SWARM_EEXISTS);
    CHECK_CONTAINS(swarm_error_last_message(), "dup-test");
    CHECK_INT(swarm_scheduler_register(NULL, highest_new, NULL), SWARM_EINVALID);
    CHECK_INT(swarm_scheduler_register("", highest_new, NULL), SWARM_EINVALID);
    CHECK_INT(swarm_scheduler_register("has space", highest_new, NULL), SWARM_EINVALID);
    CHECK_INT(swarm_scheduler_register("-leading", highest_new, NULL), SWARM_EINVALID);
    CHECK_INT(swarm_scheduler_register("quote\"", highest_new, NULL), SWARM_EINVALID);
    char longname[80];
    memset(longname, 'x', 65);
    longname[65] = '\0';
    CHECK_INT(swarm_scheduler_register(longname, highest_new, NULL), SWARM_EINVALID);
    longname[64] = '\0';
    rc = swarm_scheduler_register(longname, highest_new, &created_highest);
    CHECK(rc == 0 || rc == SWARM_EEXISTS);
    CHECK_INT(swarm_scheduler_register("no-factory", NULL, NULL), SWARM_EINVALID);
}

static void test_registry__new(void)
{
    swarm__scheduler *s = NULL;
    swarm__err e = {0};
    CHECK_INT(swarm__scheduler_new(&s, "nope", &e), SWARM_EINVALID);
    CHECK(s == NULL);
    CHECK_STR(e.message, "unknown scheduler strategy \"nope\"");
    CHECK_INT(swarm__scheduler_new(&s, NULL, &e), 0);
    CHECK_STR(swarm__scheduler_strategy_name(s), "spread");
    swarm__scheduler_free(s);
    CHECK_INT(swarm__scheduler_new(&s, "binpack", &e), 0);
    CHECK_STR(swarm__scheduler_strategy_name(s), "binpack");
    swarm__scheduler_free(s);
    swarm__scheduler_free(NULL);

    int rc = swarm_scheduler_register("bad-version", bad_version_new, NULL);
    CHECK(rc == 0 || rc == SWARM_EEXISTS);
    CHECK_INT(swarm__scheduler_new(&s, "bad-version", &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "version 99");
    rc = swarm_scheduler_register("failing", failing_new, NULL);
    CHECK(rc == 0 || rc == SWARM_EEXISTS);
    CHECK_INT(swarm__scheduler_new(&s, "failing", &e), SWARM_EBACKEND);
    CHECK(s == NULL);
}

static void test_registry__bad_input(void)
{
    swarm__scheduler *s = NULL;
    swarm__err e = {0};
    CHECK_INT(swarm__scheduler_new(&s, NULL, &e), 0);
    json_t *out = (json_t *)1, *arr = json_array(), *obj = json_object();
    CHECK_INT(swarm__scheduler_place(s, obj, arr, arr, &out, &e), SWARM_EINVALID);
    CHECK(out == NULL);
    CHECK_INT(swarm__scheduler_place(s, arr, NULL, arr, &out, &e), SWARM_EINVALID);
    /* Odd elements are tolerated: a node without an ID is ignored, a load task on an unknown node too. */
    json_t *nodes = nodes_n(1);
    json_array_append_new(nodes, json_pack("{s:s}", "Spec", "x"));
    json_array_append_new(nodes, json_integer(7));
    json_t *tasks = json_array();
    json_array_append_new(tasks, load("web", "ghost"));
    json_array_append_new(tasks, json_string("junk"));
    json_t *pending = pending_n(1, "web", NULL);
    CHECK_INT(swarm__scheduler_place(s, nodes, tasks, pending, &out, &e), 0);
    CHECK_STR(placed_on(out, 0), "n1");
    json_decref(out);
    json_decref(nodes);
    json_decref(tasks);
    json_decref(pending);
    json_decref(arr);
    json_decref(obj);
    swarm__scheduler_free(s);
}

/* ---------------------------------------------------------------- determinism */

static void test_determinism__same_input_same_output(void)
{
    json_t *nodes = zoned_nodes();
    json_t *reversed = json_array();
    for (size_t i = json_array_size(nodes); i-- > 0;)
        json_array_append(reversed, json_array_get(nodes, i));
    json_t *pending = pending_n(9, "web", by_zone);
    json_t *more = pending_n(5, "api", NULL);
    json_array_extend(pending, more);
    json_decref(more);
    json_t *tasks = json_array();
    json_array_append_new(tasks, load("api", "n2"));

    json_t *a = place(json_deep_copy(nodes), json_deep_copy(tasks), json_deep_copy(pending));
    json_t *b = place(json_deep_copy(nodes), json_deep_copy(tasks), json_deep_copy(pending));
    json_t *c = place(json_deep_copy(reversed), json_deep_copy(tasks), json_deep_copy(pending));
    CHECK(json_equal(a, b));
    CHECK(json_equal(a, c));
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(nodes);
    json_decref(reversed);
    json_decref(pending);
    json_decref(tasks);
}

TEST_MAIN(TEST(test_spread__even), TEST(test_spread__existing_load), TEST(test_spread__service_tasks_then_total),
          TEST(test_spread__services_counted_separately), TEST(test_spread__many),
          TEST(test_filter__not_available), TEST(test_filter__no_nodes), TEST(test_filter__resources_accumulate),
          TEST(test_filter__mixed_reason), TEST(test_filter__max_replicas), TEST(test_filter__host_ports),
          TEST(test_filter__platforms), TEST(test_filter__preassigned), TEST(test_constraint__keys),
          TEST(test_constraint__syntax), TEST(test_constraint__malformed), TEST(test_preference__zones),
          TEST(test_preference__existing_and_unlabelled), TEST(test_preference__full_branch),
          TEST(test_preference__nested), TEST(test_binpack__fills_one_node), TEST(test_custom__highest_hostname),
          TEST(test_custom__sees_filtered_nodes), TEST(test_custom__declines_and_fails),
          TEST(test_registry__names), TEST(test_registry__new), TEST(test_registry__bad_input),
          TEST(test_determinism__same_input_same_output))

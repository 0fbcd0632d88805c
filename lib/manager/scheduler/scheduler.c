/*
 * The placement pass: per call, a view of every node (availability,
 * resources left, tasks, host ports) is built once from the nodes and the
 * load, then the pending tasks are placed one after the other, each placement
 * updating the view. Per task the work is one sweep over the nodes: the
 * filters that depend only on the task's spec (constraints, platforms) are
 * cached while consecutive tasks share that spec, and the per-service task
 * counts live in a dense array for the service being placed.
 */
#include "manager/scheduler/scheduler.h"

#include "manager/scheduler/constraint.h"
#include "manager/scheduler/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NONE ((size_t)-1)

/* Filters in Swarm's pipeline order; a node is counted against the first one it fails. */
enum {
    F_READY,
    F_RESOURCES,
    F_CONSTRAINTS,
    F_PLATFORM,
    F_HOST_PORT,
    F_MAX_REPLICAS,
    F_COUNT
};

struct swarm__scheduler {
    struct swarm_scheduler_strategy *strategy;
    char *name;
};

typedef struct node_view {
    const json_t *json;
    size_t input_index;
    swarm__node_facts facts;
    int available; /* Status.State ready and Spec.Availability active */
    uint32_t *ports; /* host-mode published ports in use: port << 2 | protocol */
    size_t n_ports, cap_ports;
    char *dump; /* compact JSON for strategies, made on first need */
} node_view;

/*
 * Resources and counts of each node live in what strategies see
 * (swarm_sched_node, indexed like nodes[]), kept up to date as tasks are
 * placed: when every node is a candidate the array is handed over as is.
 */

typedef struct service_entry {
    uint32_t node;
    uint32_t count;
} service_entry;

/* Where a service's tasks are; exact counts only while the service is not the current one. */
typedef struct service {
    service_entry *entries;
    size_t n, cap;
} service;

/* Open addressing from borrowed strings to indexes; sized up front, never grows. */
typedef struct str_index {
    const char **keys;
    uint32_t *values;
    size_t mask;
} str_index;

typedef struct task_view {
    const json_t *json;
    const char *service_id;
    const char *node_id; /* preassigned */
    int64_t nano_cpus, memory_bytes;
    uint64_t max_replicas;
    const json_t *constraints, *platforms, *preferences;
    uint32_t *ports;
    size_t n_ports, cap_ports;
} task_view;

typedef struct run {
    swarm__scheduler *s;
    node_view *nodes;
    swarm_sched_node *sched; /* per node */
    size_t n_nodes;
    int all_dumped;
    str_index node_ids;

    service *services;
    size_t n_services, cap_services;
    str_index service_ids;
    uint32_t *service_count; /* per node: tasks of the current service */
    size_t current_service;

    /* Static filter cache: valid for tasks whose constraints and platforms equal these. */
    int static_valid;
    const json_t *static_constraints, *static_platforms;
    unsigned char *static_fail; /* per node: 0 or F_CONSTRAINTS / F_PLATFORM */

    /* Placement preference cache: value rank of each node at each level. */
    int prefs_valid;
    const json_t *prefs_json;
    size_t n_levels;
    uint32_t *level_values; /* n_levels x n_nodes */
    uint32_t *level_sizes;  /* distinct values per level */

    /* Scratch, n_nodes each. */
    uint32_t *candidates, *branch_nodes;
    uint64_t *branch_tasks;
    unsigned char *branch_usable;
    swarm_sched_node *sched_nodes;
    size_t *order;

    task_view task;
} run;

/* ---------------------------------------------------------------- string index */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int index_init(str_index *ix, size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2)
        cap *= 2;
    ix->keys = calloc(cap, sizeof *ix->keys);
    ix->values = calloc(cap, sizeof *ix->values);
    ix->mask = cap - 1;
    return ix->keys != NULL && ix->values != NULL ? 0 : SWARM_ENOMEM;
}

static void index_free(str_index *ix)
{
    free(ix->keys);
    free(ix->values);
}

/* Slot of key: either holding it or the empty one where it goes. */
static size_t index_slot(const str_index *ix, const char *key)
{
    size_t i = (size_t)hash_str(key) & ix->mask;
    while (ix->keys[i] != NULL && strcmp(ix->keys[i], key) != 0)
        i = (i + 1) & ix->mask;
    return i;
}

static size_t index_find(const str_index *ix, const char *key)
{
    size_t i = index_slot(ix, key);
    return ix->keys[i] != NULL ? ix->values[i] : NONE;
}

/* ---------------------------------------------------------------- helpers */

static int grow(void **items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t cap2 = *cap ? *cap * 2 : 8;
    while (cap2 < need)
        cap2 *= 2;
    void *p = realloc(*items, cap2 * size);
    if (p == NULL)
        return SWARM_ENOMEM;
    *items = p;
    *cap = cap2;
    return 0;
}

static uint32_t protocol_code(const char *protocol)
{
    if (protocol == NULL || strcasecmp(protocol, "tcp") == 0)
        return 0;
    if (strcasecmp(protocol, "udp") == 0)
        return 1;
    if (strcasecmp(protocol, "sctp") == 0)
        return 2;
    return 3;
}

/* The host-mode published ports of a task: Endpoint.Ports (allocated), else Endpoint.Spec.Ports. */
static int task_host_ports(uint32_t **ports, size_t *n, size_t *cap, const json_t *task)
{
    *n = 0;
    const json_t *list = swarm__json_get(task, "Endpoint.Ports");
    if (!json_is_array(list) || json_array_size(list) == 0)
        list = swarm__json_get(task, "Endpoint.Spec.Ports");
    if (!json_is_array(list))
        return 0;
    size_t i;
    const json_t *port;
    json_array_foreach(list, i, port) {
        const char *mode = swarm__json_str(port, "PublishMode");
        int64_t published = swarm__json_int(port, "PublishedPort", 0);
        if (mode == NULL || strcasecmp(mode, "host") != 0 || published <= 0 || published > 65535)
            continue;
        if (grow((void **)ports, cap, *n + 1, sizeof **ports) != 0)
            return SWARM_ENOMEM;
        (*ports)[(*n)++] = (uint32_t)published << 2 | protocol_code(swarm__json_str(port, "Protocol"));
    }
    return 0;
}

static int task_view_load(task_view *t, const json_t *task)
{
    t->json = task;
    t->service_id = swarm__json_str(task, "ServiceID");
    if (t->service_id == NULL)
        t->service_id = "";
    t->node_id = swarm__json_str(task, "NodeID");
    if (t->node_id != NULL && t->node_id[0] == '\0')
        t->node_id = NULL;
    t->nano_cpus = swarm__json_int(task, "Spec.Resources.Reservations.NanoCPUs", 0);
    t->memory_bytes = swarm__json_int(task, "Spec.Resources.Reservations.MemoryBytes", 0);
    int64_t max = swarm__json_int(task, "Spec.Placement.MaxReplicas", 0);
    t->max_replicas = max > 0 ? (uint64_t)max : 0;
    t->constraints = swarm__json_get(task, "Spec.Placement.Constraints");
    t->platforms = swarm__json_get(task, "Spec.Placement.Platforms");
    t->preferences = swarm__json_get(task, "Spec.Placement.Preferences");
    return task_host_ports(&t->ports, &t->n_ports, &t->cap_ports, task);
}

static int same_json(const json_t *a, const json_t *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return a == b || json_equal((json_t *)a, (json_t *)b);
}

/* ---------------------------------------------------------------- node view */

static int compare_nodes(const void *a, const void *b)
{
    const node_view *x = a, *y = b;
    int c = strcmp(x->facts.id, y->facts.id);
    if (c != 0)
        return c;
    return x->input_index < y->input_index ? -1 : x->input_index > y->input_index;
}

static int load_nodes(run *r, const json_t *nodes)
{
    size_t n = json_array_size(nodes);
    r->nodes = calloc(n ? n : 1, sizeof *r->nodes);
    if (r->nodes == NULL)
        return SWARM_ENOMEM;
    size_t i;
    const json_t *node;
    json_array_foreach(nodes, i, node) {
        if (swarm__json_str(node, "ID") == NULL)
            continue;
        node_view *v = &r->nodes[r->n_nodes++];
        v->json = node;
        v->input_index = i;
        swarm__node_facts_init(&v->facts, node);
        const char *state = swarm__json_str(node, "Status.State");
        const char *availability = swarm__json_str(node, "Spec.Availability");
        v->available = state != NULL && strcasecmp(state, "ready") == 0 &&
                       (availability == NULL || strcasecmp(availability, "active") == 0);
    }
    qsort(r->nodes, r->n_nodes, sizeof *r->nodes, compare_nodes);
    r->sched = calloc(r->n_nodes ? r->n_nodes : 1, sizeof *r->sched);
    if (r->sched == NULL)
        return SWARM_ENOMEM;
    for (size_t k = 0; k < r->n_nodes; k++) {
        const node_view *v = &r->nodes[k];
        r->sched[k] = (swarm_sched_node){
            .id = v->facts.id,
            .hostname = v->facts.hostname != NULL ? v->facts.hostname : "",
            .nano_cpus = swarm__json_int(v->json, "Description.Resources.NanoCPUs", 0),
            .memory_bytes = swarm__json_int(v->json, "Description.Resources.MemoryBytes", 0),
        };
    }
    if (index_init(&r->node_ids, r->n_nodes) != 0)
        return SWARM_ENOMEM;
    for (size_t k = 0; k < r->n_nodes; k++) {
        size_t slot = index_slot(&r->node_ids, r->nodes[k].facts.id);
        if (r->node_ids.keys[slot] == NULL) { /* a duplicate ID keeps its first node */
            r->node_ids.keys[slot] = r->nodes[k].facts.id;
            r->node_ids.values[slot] = (uint32_t)k;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- per-service counts */

static size_t service_find_or_add(run *r, const char *id)
{
    size_t slot = index_slot(&r->service_ids, id);
    if (r->service_ids.keys[slot] != NULL)
        return r->service_ids.values[slot];
    if (grow((void **)&r->services, &r->cap_services, r->n_services + 1, sizeof *r->services) != 0)
        return NONE;
    memset(&r->services[r->n_services], 0, sizeof r->services[0]);
    r->service_ids.keys[slot] = id;
    r->service_ids.values[slot] = (uint32_t)r->n_services;
    return r->n_services++;
}

static int service_note(service *svc, uint32_t node, uint32_t count)
{
    if (grow((void **)&svc->entries, &svc->cap, svc->n + 1, sizeof *svc->entries) != 0)
        return SWARM_ENOMEM;
    svc->entries[svc->n++] = (service_entry){node, count};
    return 0;
}

/* Makes service_count[] hold the counts of service `id`, folding the previous service's back. */
static int use_service(run *r, const char *id)
{
    size_t next = service_find_or_add(r, id);
    if (next == NONE)
        return SWARM_ENOMEM;
    if (next == r->current_service)
        return 0;
    if (r->current_service != NONE) {
        service *old = &r->services[r->current_service];
        size_t w = 0;
        for (size_t k = 0; k < old->n; k++) {
            uint32_t node = old->entries[k].node;
            if (r->service_count[node] != 0) {
                old->entries[w++] = (service_entry){node, r->service_count[node]};
                r->service_count[node] = 0;
                r->sched[node].service_tasks = 0;
            }
        }
        old->n = w;
    }
    service *svc = &r->services[next];
    for (size_t k = 0; k < svc->n; k++) {
        uint32_t node = svc->entries[k].node;
        r->service_count[node] += svc->entries[k].count;
        r->sched[node].service_tasks = r->service_count[node];
    }
    r->current_service = next;
    return 0;
}

/* ---------------------------------------------------------------- load */

static int node_add_ports(node_view *v, const uint32_t *ports, size_t n)
{
    if (n == 0)
        return 0;
    if (grow((void **)&v->ports, &v->cap_ports, v->n_ports + n, sizeof *v->ports) != 0)
        return SWARM_ENOMEM;
    memcpy(v->ports + v->n_ports, ports, n * sizeof *ports);
    v->n_ports += n;
    return 0;
}

static int load_tasks(run *r, const json_t *tasks)
{
    size_t i;
    const json_t *task;
    json_array_foreach(tasks, i, task) {
        const char *node_id = swarm__json_str(task, "NodeID");
        size_t node = node_id != NULL ? index_find(&r->node_ids, node_id) : NONE;
        if (node == NONE)
            continue;
        node_view *v = &r->nodes[node];
        swarm_sched_node *sn = &r->sched[node];
        const char *service_id = swarm__json_str(task, "ServiceID");
        size_t svc = service_find_or_add(r, service_id != NULL ? service_id : "");
        if (svc == NONE || service_note(&r->services[svc], (uint32_t)node, 1) != 0)
            return SWARM_ENOMEM;
        sn->tasks++;
        sn->reserved_nano_cpus += swarm__json_int(task, "Spec.Resources.Reservations.NanoCPUs", 0);
        sn->reserved_memory_bytes += swarm__json_int(task, "Spec.Resources.Reservations.MemoryBytes", 0);
        if (task_host_ports(&r->task.ports, &r->task.n_ports, &r->task.cap_ports, task) != 0 ||
            node_add_ports(v, r->task.ports, r->task.n_ports) != 0)
            return SWARM_ENOMEM;
    }
    return 0;
}

/* ---------------------------------------------------------------- filters */

static void refresh_static_filters(run *r)
{
    const task_view *t = &r->task;
    if (r->static_valid && same_json(t->constraints, r->static_constraints) &&
        same_json(t->platforms, r->static_platforms))
        return;
    swarm__constraints *constraints = NULL;
    char why[256];
    int parsed = swarm__constraints_parse(&constraints, t->constraints, why, sizeof why);
    /* Swarm rejects such constraints when the service is created; here they keep the task pending. */
    for (size_t k = 0; k < r->n_nodes; k++) {
        const swarm__node_facts *facts = &r->nodes[k].facts;
        if (parsed != 0 || !swarm__constraints_match(constraints, facts))
            r->static_fail[k] = F_CONSTRAINTS + 1;
        else if (!swarm__platforms_match(t->platforms, facts))
            r->static_fail[k] = F_PLATFORM + 1;
        else
            r->static_fail[k] = 0;
    }
    swarm__constraints_free(constraints);
    r->static_constraints = t->constraints;
    r->static_platforms = t->platforms;
    r->static_valid = 1;
}

static int ports_conflict(const node_view *v, const task_view *t)
{
    for (size_t i = 0; i < t->n_ports; i++)
        for (size_t k = 0; k < v->n_ports; k++)
            if (v->ports[k] == t->ports[i])
                return 1;
    return 0;
}

/* The first filter node k fails for the current task, or F_COUNT if it passes them all. */
static int first_failure(const run *r, size_t k)
{
    const node_view *v = &r->nodes[k];
    const swarm_sched_node *sn = &r->sched[k];
    const task_view *t = &r->task;
    if (!v->available)
        return F_READY;
    if ((t->nano_cpus != 0 || t->memory_bytes != 0) &&
        (t->nano_cpus > sn->nano_cpus - sn->reserved_nano_cpus ||
         t->memory_bytes > sn->memory_bytes - sn->reserved_memory_bytes))
        return F_RESOURCES;
    if (r->static_fail[k] != 0)
        return r->static_fail[k] - 1;
    if (t->n_ports != 0 && ports_conflict(v, t))
        return F_HOST_PORT;
    if (t->max_replicas != 0 && r->service_count[k] >= t->max_replicas)
        return F_MAX_REPLICAS;
    return F_COUNT;
}

static void explain(char *buf, size_t len, const size_t counts[F_COUNT])
{
    static const char *const what[F_COUNT] = {
        [F_READY] = "not available for new tasks",
        [F_RESOURCES] = "insufficient resources on",
        [F_CONSTRAINTS] = "scheduling constraints not satisfied on",
        [F_PLATFORM] = "unsupported platform on",
        [F_HOST_PORT] = "host-mode port already in use on",
        [F_MAX_REPLICAS] = "max replicas per node limit exceed", /* Swarm's wording, without a count */
    };
    /* Most failures first, as Swarm's Explain; equal counts keep the pipeline order. */
    int order[F_COUNT];
    int n = 0;
    for (int f = 0; f < F_COUNT; f++) {
        if (counts[f] == 0)
            continue;
        int at = n++;
        while (at > 0 && counts[order[at - 1]] < counts[f]) {
            order[at] = order[at - 1];
            at--;
        }
        order[at] = f;
    }
    size_t used = (size_t)snprintf(buf, len, "no suitable node");
    for (int i = 0; i < n && used < len; i++) {
        int f = order[i];
        const char *sep = i == 0 ? " (" : "; ";
        size_t c = counts[f];
        if (f == F_MAX_REPLICAS)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", sep, what[f]);
        else if (f == F_READY)
            used += (size_t)snprintf(buf + used, len - used, "%s%zu node%s %s", sep, c, c == 1 ? "" : "s", what[f]);
        else
            used += (size_t)snprintf(buf + used, len - used, "%s%s %zu node%s", sep, what[f], c, c == 1 ? "" : "s");
    }
    if (n > 0 && used < len)
        snprintf(buf + used, len - used, ")");
}

/* ---------------------------------------------------------------- placement preferences */

typedef struct valued_node {
    const char *value;
    uint32_t node;
} valued_node;

static int compare_by_value(const void *a, const void *b)
{
    const valued_node *x = a, *y = b;
    int c = strcmp(x->value, y->value);
    return c != 0 ? c : (x->node > y->node) - (x->node < y->node);
}

static int refresh_preferences(run *r)
{
    const json_t *prefs = r->task.preferences;
    if (r->prefs_valid && same_json(prefs, r->prefs_json))
        return 0;
    r->prefs_valid = 1;
    r->prefs_json = prefs;
    r->n_levels = 0;
    if (!json_is_array(prefs) || json_array_size(prefs) == 0 || r->n_nodes == 0)
        return 0;
    size_t n = r->n_nodes, levels = json_array_size(prefs);
    free(r->level_values);
    free(r->level_sizes);
    r->level_values = malloc(levels * n * sizeof *r->level_values);
    r->level_sizes = malloc(levels * sizeof *r->level_sizes);
    valued_node *sorted = malloc(n * sizeof *sorted);
    if (r->level_values == NULL || r->level_sizes == NULL || sorted == NULL) {
        free(sorted);
        r->prefs_valid = 0;
        return SWARM_ENOMEM;
    }
    size_t i;
    const json_t *pref;
    json_array_foreach(prefs, i, pref) {
        const char *descriptor = swarm__json_str(pref, "Spread.SpreadDescriptor");
        const char *probe;
        if (descriptor == NULL || swarm__spread_value(&probe, descriptor, &r->nodes[0].facts) != 0)
            continue; /* only spread over labels is known; Swarm skips anything else */
        for (size_t k = 0; k < n; k++) {
            swarm__spread_value(&sorted[k].value, descriptor, &r->nodes[k].facts);
            sorted[k].node = (uint32_t)k;
        }
        qsort(sorted, n, sizeof *sorted, compare_by_value);
        uint32_t *level = r->level_values + r->n_levels * n;
        uint32_t rank = 0;
        for (size_t k = 0; k < n; k++) {
            if (k > 0 && strcmp(sorted[k].value, sorted[k - 1].value) != 0)
                rank++;
            level[sorted[k].node] = rank;
        }
        r->level_sizes[r->n_levels++] = rank + 1;
    }
    free(sorted);
    return 0;
}

/*
 * Narrows the candidates to one leaf of Swarm's decision tree: at each level
 * the branch (label value) with the fewest tasks of the service, counted over
 * all its nodes, among the branches that still have a candidate. Ties go to
 * the smaller value ("" — nodes without the label — first).
 */
static size_t apply_preferences(run *r, size_t n_candidates)
{
    size_t n = r->n_nodes, n_branch = n;
    for (size_t k = 0; k < n; k++)
        r->branch_nodes[k] = (uint32_t)k;
    for (size_t l = 0; l < r->n_levels; l++) {
        const uint32_t *level = r->level_values + l * n;
        uint32_t size = r->level_sizes[l];
        memset(r->branch_tasks, 0, size * sizeof *r->branch_tasks);
        memset(r->branch_usable, 0, size);
        for (size_t i = 0; i < n_branch; i++)
            r->branch_tasks[level[r->branch_nodes[i]]] += r->service_count[r->branch_nodes[i]];
        for (size_t i = 0; i < n_candidates; i++)
            r->branch_usable[level[r->candidates[i]]] = 1;
        uint32_t best = UINT32_MAX;
        for (uint32_t v = 0; v < size; v++)
            if (r->branch_usable[v] && (best == UINT32_MAX || r->branch_tasks[v] < r->branch_tasks[best]))
                best = v;
        size_t w = 0;
        for (size_t i = 0; i < n_branch; i++)
            if (level[r->branch_nodes[i]] == best)
                r->branch_nodes[w++] = r->branch_nodes[i];
        n_branch = w;
        w = 0;
        for (size_t i = 0; i < n_candidates; i++)
            if (level[r->candidates[i]] == best)
                r->candidates[w++] = r->candidates[i];
        n_candidates = w;
    }
    return n_candidates;
}

/* ---------------------------------------------------------------- placing one task */

static int place_on(run *r, size_t k)
{
    if (r->service_count[k]++ == 0 && service_note(&r->services[r->current_service], (uint32_t)k, 0) != 0)
        return SWARM_ENOMEM;
    swarm_sched_node *sn = &r->sched[k];
    sn->service_tasks = r->service_count[k];
    sn->tasks++;
    sn->reserved_nano_cpus += r->task.nano_cpus;
    sn->reserved_memory_bytes += r->task.memory_bytes;
    return node_add_ports(&r->nodes[k], r->task.ports, r->task.n_ports);
}

static int set_result(json_t *array, const char *key, const char *value)
{
    json_t *o = json_pack("{s:s}", key, value);
    if (o == NULL || json_array_append_new(array, o) != 0)
        return SWARM_ENOMEM;
    return 0;
}

static int ask_strategy(run *r, size_t n_candidates, size_t *chosen, char *reason, size_t reason_len)
{
    struct swarm_scheduler_strategy *strategy = r->s->strategy;
    /* Candidates are in node ID order either way. */
    int all = n_candidates == r->n_nodes;
    const swarm_sched_node *given = all ? r->sched : r->sched_nodes;
    for (size_t i = 0; i < (all && r->all_dumped ? 0 : n_candidates); i++) {
        size_t k = r->candidates[i];
        node_view *v = &r->nodes[k];
        if (v->dump == NULL) {
            if ((v->dump = swarm__json_dump(v->json)) == NULL)
                return SWARM_ENOMEM;
            r->sched[k].node_json = v->dump;
        }
        if (!all)
            r->sched_nodes[i] = r->sched[k];
    }
    r->all_dumped |= all;
    char *task_json = swarm__json_dump(r->task.json);
    if (task_json == NULL)
        return SWARM_ENOMEM;
    size_t n_out = 0;
    int rc = strategy->rank(strategy, task_json, given, n_candidates, r->order, &n_out);
    free(task_json);
    *chosen = NONE;
    if (rc != 0)
        snprintf(reason, reason_len, "no suitable node (scheduler strategy \"%s\" failed with error %d)", r->s->name,
                 rc);
    else if (n_out > n_candidates || (n_out > 0 && r->order[0] >= n_candidates))
        snprintf(reason, reason_len, "no suitable node (scheduler strategy \"%s\" returned an invalid order)",
                 r->s->name);
    else if (n_out == 0)
        snprintf(reason, reason_len, "no suitable node (scheduler strategy \"%s\" declined %zu node%s)", r->s->name,
                 n_candidates, n_candidates == 1 ? "" : "s");
    else
        *chosen = r->candidates[r->order[0]]; /* one task per call: only the best node matters */
    return 0;
}

static int place_one(run *r, const json_t *task, json_t *out)
{
    if (task_view_load(&r->task, task) != 0 || use_service(r, r->task.service_id) != 0)
        return SWARM_ENOMEM;
    char reason[512];
    if (r->n_nodes == 0)
        return set_result(out, "Reason", "no suitable node");

    refresh_static_filters(r);
    size_t counts[F_COUNT] = {0};

    if (r->task.node_id != NULL) {
        /* Preassigned (global service): only confirm that the node can take it. */
        size_t k = index_find(&r->node_ids, r->task.node_id);
        if (k == NONE)
            return set_result(out, "Reason", "no suitable node (node not found)");
        int f = first_failure(r, k);
        if (f == F_COUNT) {
            if (place_on(r, k) != 0)
                return SWARM_ENOMEM;
            return set_result(out, "NodeID", r->nodes[k].facts.id);
        }
        counts[f]++;
        explain(reason, sizeof reason, counts);
        return set_result(out, "Reason", reason);
    }

    size_t n_candidates = 0;
    for (size_t k = 0; k < r->n_nodes; k++) {
        int f = first_failure(r, k);
        if (f == F_COUNT)
            r->candidates[n_candidates++] = (uint32_t)k;
        else
            counts[f]++;
    }
    if (n_candidates == 0) {
        explain(reason, sizeof reason, counts);
        return set_result(out, "Reason", reason);
    }
    if (json_is_array(r->task.preferences) && json_array_size(r->task.preferences) > 0) {
        if (refresh_preferences(r) != 0)
            return SWARM_ENOMEM;
        n_candidates = apply_preferences(r, n_candidates);
    }
    size_t chosen;
    if (ask_strategy(r, n_candidates, &chosen, reason, sizeof reason) != 0)
        return SWARM_ENOMEM;
    if (chosen == NONE)
        return set_result(out, "Reason", reason);
    if (place_on(r, chosen) != 0)
        return SWARM_ENOMEM;
    return set_result(out, "NodeID", r->nodes[chosen].facts.id);
}

/* ---------------------------------------------------------------- entry points */

static void run_free(run *r)
{
    for (size_t k = 0; k < r->n_nodes; k++) {
        free(r->nodes[k].ports);
        free(r->nodes[k].dump);
    }
    free(r->nodes);
    free(r->sched);
    index_free(&r->node_ids);
    for (size_t i = 0; i < r->n_services; i++)
        free(r->services[i].entries);
    free(r->services);
    index_free(&r->service_ids);
    free(r->service_count);
    free(r->static_fail);
    free(r->level_values);
    free(r->level_sizes);
    free(r->candidates);
    free(r->branch_nodes);
    free(r->branch_tasks);
    free(r->branch_usable);
    free(r->sched_nodes);
    free(r->order);
    free(r->task.ports);
}

static int run_alloc_scratch(run *r)
{
    size_t n = r->n_nodes ? r->n_nodes : 1;
    r->service_count = calloc(n, sizeof *r->service_count);
    r->static_fail = calloc(n, sizeof *r->static_fail);
    r->candidates = malloc(n * sizeof *r->candidates);
    r->branch_nodes = malloc(n * sizeof *r->branch_nodes);
    r->branch_tasks = malloc(n * sizeof *r->branch_tasks);
    r->branch_usable = malloc(n);
    r->sched_nodes = malloc(n * sizeof *r->sched_nodes);
    r->order = malloc(n * sizeof *r->order);
    if (r->service_count == NULL || r->static_fail == NULL || r->candidates == NULL || r->branch_nodes == NULL ||
        r->branch_tasks == NULL || r->branch_usable == NULL || r->sched_nodes == NULL || r->order == NULL)
        return SWARM_ENOMEM;
    return 0;
}

int swarm__scheduler_place(swarm__scheduler *s, const json_t *nodes, const json_t *tasks, const json_t *pending,
                           json_t **out, swarm__err *e)
{
    *out = NULL;
    if (!json_is_array(nodes) || !json_is_array(tasks) || !json_is_array(pending))
        return swarm__err_set(e, SWARM_EINVALID, "scheduler: nodes, tasks and pending must be JSON arrays");
    run r = {.s = s, .current_service = NONE};
    json_t *result = json_array();
    int rc = result == NULL ? SWARM_ENOMEM : 0;
    if (rc == 0)
        rc = load_nodes(&r, nodes);
    if (rc == 0)
        rc = index_init(&r.service_ids, json_array_size(tasks) + json_array_size(pending) + 1);
    if (rc == 0)
        rc = run_alloc_scratch(&r);
    if (rc == 0)
        rc = load_tasks(&r, tasks);
    size_t i;
    const json_t *task;
    json_array_foreach(pending, i, task) {
        if (rc != 0)
            break;
        rc = place_one(&r, task, result);
    }
    run_free(&r);
    if (rc != 0) {
        json_decref(result);
        return swarm__err_set(e, rc, "scheduler: out of memory");
    }
    *out = result;
    return 0;
}

int swarm__scheduler_new(swarm__scheduler **out, const char *strategy, swarm__err *e)
{
    *out = NULL;
    const char *name = strategy != NULL ? strategy : "spread";
    swarm__scheduler *s = calloc(1, sizeof *s);
    if (s == NULL || (s->name = strdup(name)) == NULL) {
        free(s);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    int rc = swarm__scheduler_strategy_create(&s->strategy, name, e);
    if (rc != 0) {
        free(s->name);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void swarm__scheduler_free(swarm__scheduler *s)
{
    if (s == NULL)
        return;
    s->strategy->free(s->strategy);
    free(s->name);
    free(s);
}

const char *swarm__scheduler_strategy_name(const swarm__scheduler *s)
{
    return s->name;
}

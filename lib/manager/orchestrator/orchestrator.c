#include "manager/orchestrator/orchestrator.h"

#include "core/id.h"
#include "core/json.h"
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ task facts */

static swarm__task_state state_of(const json_t *t, const char *path)
{
    swarm__task_state s = SWARM__TASK_NEW;
    const char *name = swarm__json_str(t, path);
    if (name == NULL || swarm__task_state_parse(&s, name) != 0)
        return SWARM__TASK_NEW;
    return s;
}

static swarm__task_state observed(const json_t *t) { return state_of(t, "Status.State"); }
static swarm__task_state desired(const json_t *t) { return state_of(t, "DesiredState"); }

/* Wanted alive by the managers (desired ready or running). */
static int is_current(const json_t *t) { return desired(t) <= SWARM__TASK_RUNNING; }

/* Stopped for good (complete, shutdown, failed, rejected, ...). */
static int is_terminal(const json_t *t) { return observed(t) > SWARM__TASK_RUNNING; }

static int64_t created_ns(const json_t *t)
{
    int64_t ns = 0;
    const char *s = swarm__json_str(t, "CreatedAt");
    if (s && swarm__time_parse(&ns, s) == 0)
        return ns;
    return 0;
}

static uint64_t slot_of(const json_t *t)
{
    int64_t s = swarm__json_int(t, "Slot", 0);
    return s > 0 ? (uint64_t)s : 0;
}

static const char *node_of(const json_t *t)
{
    const char *n = swarm__json_str(t, "NodeID");
    return n ? n : "";
}

static uint64_t version_of(const json_t *o) { return (uint64_t)swarm__json_int(o, "Version.Index", 0); }

/* ------------------------------------------------------------ plan */

static int push(swarm__orch_plan *p, swarm__op op, json_t *obj, uint64_t expect)
{
    if (obj == NULL)
        return SWARM_ENOMEM;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        swarm__action *a = realloc(p->actions, cap * sizeof *a);
        if (a == NULL) {
            json_decref(obj);
            return SWARM_ENOMEM;
        }
        p->actions = a;
        p->cap = cap;
    }
    p->actions[p->n++] = (swarm__action){op, SWARM__KIND_TASK, obj, expect};
    return 0;
}

static int patch_desired(swarm__orch_plan *p, const json_t *t, const char *state, int64_t now_ns)
{
    char ts[SWARM__TIME_LEN];
    swarm__time_format(ts, now_ns);
    return push(p, SWARM__OP_PATCH,
                json_pack("{s:s, s:s, s:s}", "ID", swarm__json_str(t, "ID"), "DesiredState", state, "UpdatedAt", ts),
                version_of(t));
}

static void wake(swarm__orch_plan *p, int64_t at)
{
    if (p->wake_at_ns == 0 || at < p->wake_at_ns)
        p->wake_at_ns = at;
}

void swarm__orch_plan_free(swarm__orch_plan *plan)
{
    swarm__actions_free(plan->actions, plan->n);
    plan->actions = NULL;
    plan->n = plan->cap = 0;
}

json_t *swarm__task_new(const json_t *service, uint64_t slot, const char *node_id, const char *desired_state,
                        int64_t now_ns, const swarm__clock *clock)
{
    char id[SWARM__ID_LEN + 1], ts[SWARM__TIME_LEN];
    if (swarm__id_new(clock, id) != 0)
        return NULL;
    swarm__time_format(ts, now_ns);
    const json_t *tmpl = swarm__json_get(service, "Spec.TaskTemplate");
    json_t *t = json_pack("{s:s, s:{s:i}, s:s, s:s, s:{}, s:O, s:s, s:I}", "ID", id, "Version", "Index", 0,
                          "CreatedAt", ts, "UpdatedAt", ts, "Labels", "Spec", tmpl ? tmpl : json_object(),
                          "ServiceID", swarm__json_str(service, "ID"), "Slot", (json_int_t)slot);
    if (t == NULL)
        return NULL;
    if (tmpl == NULL) /* json_pack took a reference to a fresh object: drop the extra one */
        json_decref(json_object_get(t, "Spec"));
    int rc = 0;
    if (node_id && node_id[0])
        rc |= json_object_set_new(t, "NodeID", json_string(node_id));
    rc |= json_object_set_new(t, "Status", json_pack("{s:s, s:s, s:s, s:{}}", "Timestamp", ts, "State", "pending",
                                                     "Message", "pending task scheduling", "PortStatus"));
    rc |= json_object_set_new(t, "DesiredState", json_string(desired_state));
    rc |= swarm__json_set(t, "ServiceAnnotations.Name", json_string(swarm__json_str(service, "Spec.Name")));
    rc |= swarm__json_set(t, "SpecVersion.Index", json_integer((json_int_t)version_of(service)));
    const json_t *endpoint = json_object_get(service, "Endpoint");
    if (endpoint)
        rc |= json_object_set(t, "Endpoint", (json_t *)endpoint);
    const json_t *mode = swarm__json_get(service, "Spec.Mode");
    if (json_object_get(mode, "ReplicatedJob") || json_object_get(mode, "GlobalJob"))
        rc |= swarm__json_set(t, "JobIteration.Index", json_integer((json_int_t)version_of(service)));
    if (rc != 0) {
        json_decref(t);
        return NULL;
    }
    return t;
}

/* ------------------------------------------------------------ restart policy */

typedef struct policy {
    swarm__restart_condition condition;
    int64_t delay_ns;
    uint64_t max_attempts;
    int64_t window_ns;
} policy;

static policy policy_of(const json_t *service, int job)
{
    policy p = {SWARM__RESTART_ANY, 5000000000LL, 0, 0};
    const json_t *rp = swarm__json_get(service, "Spec.TaskTemplate.RestartPolicy");
    const char *cond = swarm__json_str(rp, "Condition");
    if (cond && strcmp(cond, "on-failure") == 0)
        p.condition = SWARM__RESTART_ON_FAILURE;
    else if (cond && strcmp(cond, "none") == 0)
        p.condition = SWARM__RESTART_NONE;
    /* A job that completed is done: "any" means "on failure" for jobs. */
    if (job && p.condition == SWARM__RESTART_ANY)
        p.condition = SWARM__RESTART_ON_FAILURE;
    p.delay_ns = swarm__json_int(rp, "Delay", p.delay_ns);
    int64_t max = swarm__json_int(rp, "MaxAttempts", 0);
    p.max_attempts = max > 0 ? (uint64_t)max : 0;
    p.window_ns = swarm__json_int(rp, "Window", 0);
    return p;
}

/*
 * Whether a slot whose newest task ended should get a new one. history: all
 * tasks of the slot, newest first (history[0] is the one that ended).
 */
static int should_restart(const policy *p, json_t *const *history, size_t n, int64_t now_ns)
{
    swarm__task_state end = observed(history[0]);
    if (p->condition == SWARM__RESTART_NONE)
        return 0;
    if (p->condition == SWARM__RESTART_ON_FAILURE && end == SWARM__TASK_COMPLETE)
        return 0;
    if (p->max_attempts > 0) {
        /* Every task of the slot after its first one was a restart. */
        uint64_t restarts = 0;
        for (size_t i = 0; i + 1 < n; i++)
            if (p->window_ns <= 0 || created_ns(history[i]) >= now_ns - p->window_ns)
                restarts++;
        if (restarts >= p->max_attempts)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------ groups */

/* Tasks of one slot (replicated, replicated-job) or one node (global). */
typedef struct group {
    char key[SWARM__IDBUF];
    uint64_t slot;
    json_t **tasks; /* newest first */
    size_t n, cap;
} group;

typedef struct groups {
    group *g;
    size_t n, cap;
    json_t *index; /* "key/slot" -> position in g, so that grouping stays linear */
} groups;

static group *group_for(groups *gs, const char *key, uint64_t slot)
{
    char name[SWARM__IDBUF + 24];
    snprintf(name, sizeof name, "%s/%llu", key, (unsigned long long)slot);
    if (gs->index == NULL && (gs->index = json_object()) == NULL)
        return NULL;
    json_t *at = json_object_get(gs->index, name);
    if (at)
        return &gs->g[json_integer_value(at)];
    if (json_object_set_new(gs->index, name, json_integer((json_int_t)gs->n)) != 0)
        return NULL;
    if (gs->n == gs->cap) {
        size_t cap = gs->cap ? gs->cap * 2 : 16;
        group *g = realloc(gs->g, cap * sizeof *g);
        if (g == NULL)
            return NULL;
        gs->g = g;
        gs->cap = cap;
    }
    group *g = &gs->g[gs->n++];
    memset(g, 0, sizeof *g);
    snprintf(g->key, sizeof g->key, "%s", key);
    g->slot = slot;
    return g;
}

static int group_add(group *g, json_t *t)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4;
        json_t **ts = realloc(g->tasks, cap * sizeof *ts);
        if (ts == NULL)
            return SWARM_ENOMEM;
        g->tasks = ts;
        g->cap = cap;
    }
    /* Insert keeping newest first. */
    int64_t c = created_ns(t);
    size_t i = g->n;
    while (i > 0 && created_ns(g->tasks[i - 1]) < c) {
        g->tasks[i] = g->tasks[i - 1];
        i--;
    }
    g->tasks[i] = t;
    g->n++;
    return 0;
}

static void groups_free(groups *gs)
{
    json_decref(gs->index);
    for (size_t i = 0; i < gs->n; i++)
        free(gs->g[i].tasks);
    free(gs->g);
}

static int group_tasks(const json_t *tasks, int by_node, groups *out)
{
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t) {
        group *g = by_node ? group_for(out, node_of(t), 0) : group_for(out, "", slot_of(t));
        if (g == NULL || group_add(g, t) != 0)
            return SWARM_ENOMEM;
    }
    return 0;
}

/* ------------------------------------------------------------ reconcile helpers */

typedef struct run {
    const swarm__orch_input *in;
    swarm__orch_plan *plan;
    policy pol;
    int job;
    int is_global;
    int lost; /* the group being settled lost its task with its node */
    uint64_t iteration;
    int rc;
} run;

static int outdated(const run *r, const json_t *t)
{
    if ((uint64_t)swarm__json_int(t, "SpecVersion.Index", 0) == version_of(r->in->service))
        return 0;
    /* Only a change of what the task runs needs a new task. */
    return !json_equal(json_object_get((json_t *)t, "Spec"),
                       swarm__json_get(r->in->service, "Spec.TaskTemplate"));
}

static void create(run *r, uint64_t slot, const char *node, const char *desired_state)
{
    if (r->rc == 0)
        r->rc = push(r->plan, SWARM__OP_CREATE,
                     swarm__task_new(r->in->service, slot, node, desired_state, r->in->now_ns, r->in->clock), 0);
}

static void set_desired(run *r, const json_t *t, const char *state)
{
    if (r->rc == 0)
        r->rc = patch_desired(r->plan, t, state, r->in->now_ns);
}

/* The state of the node a task runs on: "" if unassigned, NULL if the node is gone. */
static const char *node_state_of(const run *r, const json_t *t)
{
    const char *id = node_of(t);
    if (id[0] == '\0')
        return "";
    size_t i;
    json_t *n;
    json_array_foreach(r->in->nodes, i, n) {
        const char *nid = swarm__json_str(n, "ID");
        if (nid && strcmp(nid, id) == 0) {
            const char *st = swarm__json_str(n, "Status.State");
            return st ? st : "unknown";
        }
    }
    return NULL;
}

/* A task whose node is down or gone will not report again: it is lost (replicated services replace it at once). */
static int on_lost_node(const run *r, const json_t *t)
{
    const char *st = node_state_of(r, t);
    return st == NULL || strcmp(st, "down") == 0;
}

/* A drained node keeps no tasks: they move elsewhere. */
static int on_drained_node(const run *r, const json_t *t)
{
    const char *id = node_of(t);
    size_t i;
    json_t *n;
    json_array_foreach(r->in->nodes, i, n) {
        const char *nid = swarm__json_str(n, "ID");
        if (nid && strcmp(nid, id) == 0) {
            const char *a = swarm__json_str(n, "Spec.Availability");
            return a && strcmp(a, "drain") == 0;
        }
    }
    return 0;
}

/*
 * Looks at one group's tasks: stops extra current tasks, notices tasks that
 * ended while wanted, releases due delayed restarts. Returns the current task
 * (still wanted and not ended), or NULL.
 */
static const json_t *settle_group(run *r, group *g)
{
    const json_t *current = NULL;
    r->lost = 0;
    for (size_t i = 0; i < g->n; i++) {
        const json_t *t = g->tasks[i];
        if (!is_current(t))
            continue;
        if (r->job && (uint64_t)swarm__json_int(t, "JobIteration.Index", 0) != r->iteration) {
            set_desired(r, t, "shutdown"); /* a run of an older version of the job */
            continue;
        }
        if (!r->is_global && (on_lost_node(r, t) || on_drained_node(r, t))) {
            /* Its node is down, removed or drained: replaced now, without the restart delay. */
            set_desired(r, t, "shutdown");
            r->lost = 1;
            continue;
        }
        if (is_terminal(t)) {
            /* Ended while wanted: keep it as history; a job's completion is final. */
            set_desired(r, t, observed(t) == SWARM__TASK_COMPLETE && r->job ? "complete" : "shutdown");
            continue;
        }
        if (current != NULL) {
            set_desired(r, t, "shutdown"); /* duplicates: keep the newest */
            continue;
        }
        current = t;
        if (desired(t) == SWARM__TASK_READY) {
            int64_t due = created_ns(t) + r->pol.delay_ns;
            if (r->in->now_ns >= due)
                set_desired(r, t, "running");
            else
                wake(r->plan, due);
        }
    }
    return current;
}

/* The group's newest task ended: decide whether it gets a replacement now (or later, delayed). */
static int wants_restart(run *r, const group *g)
{
    if (g->n == 0 || r->lost)
        return 1;
    const json_t *last = g->tasks[0];
    if (!is_terminal(last) && !(desired(last) > SWARM__TASK_RUNNING && observed(last) < SWARM__TASK_ASSIGNED))
        return 0; /* still stopping: wait for it to end */
    if (desired(last) == SWARM__TASK_REMOVE)
        return 1; /* removed by a scale-down: a new start, not a restart */
    if (r->job && observed(last) == SWARM__TASK_COMPLETE &&
        (uint64_t)swarm__json_int(last, "JobIteration.Index", 0) == r->iteration)
        return 0;
    if (r->job && (uint64_t)swarm__json_int(last, "JobIteration.Index", 0) != r->iteration)
        return 1; /* a new run of the job */
    return should_restart(&r->pol, g->tasks, g->n, r->in->now_ns);
}

static const char *restart_desired(const run *r, const group *g)
{
    /* A first start, a node loss, or a restart with no delay runs at once; others wait as "ready". */
    if (g->n == 0 || r->lost || r->pol.delay_ns <= 0 || desired(g->tasks[0]) == SWARM__TASK_REMOVE ||
        (desired(g->tasks[0]) == SWARM__TASK_SHUTDOWN && (on_lost_node(r, g->tasks[0]) || on_drained_node(r, g->tasks[0]))))
        return "running";
    return "ready";
}

/* ------------------------------------------------------------ modes */

static int node_ready(const json_t *n)
{
    const char *s = swarm__json_str(n, "Status.State");
    return s && strcmp(s, "ready") == 0;
}

static int default_eligible(void *payload, const json_t *task_spec, const json_t *node)
{
    (void)payload;
    (void)task_spec;
    const char *a = swarm__json_str(node, "Spec.Availability");
    return node_ready(node) && (a == NULL || strcmp(a, "active") == 0);
}

static void replicated(run *r, uint64_t replicas, uint64_t first_slot)
{
    groups gs = {0};
    if (group_tasks(r->in->tasks, 0, &gs) != 0) {
        r->rc = SWARM_ENOMEM;
        groups_free(&gs);
        return;
    }
    uint64_t last_slot = first_slot + replicas; /* exclusive */
    int64_t parallelism = swarm__json_int(r->in->service, "Spec.UpdateConfig.Parallelism", 1);
    size_t updating = 0;
    const json_t **stale = calloc(gs.n + 1, sizeof *stale);
    size_t n_stale = 0;
    /* Existing groups. */
    for (size_t i = 0; i < gs.n && r->rc == 0; i++) {
        group *g = &gs.g[i];
        const json_t *cur = settle_group(r, g);
        int in_range = g->slot >= first_slot && g->slot < last_slot;
        if (!in_range) {
            if (cur)
                set_desired(r, cur, "remove");
            continue;
        }
        if (cur) {
            if (!r->job && outdated(r, cur))
                stale[n_stale++] = cur;
            else if (!r->job && observed(cur) < SWARM__TASK_RUNNING && g->n > 1 &&
                     desired(g->tasks[1]) == SWARM__TASK_SHUTDOWN)
                updating++; /* a replacement on its way */
            continue;
        }
        if (wants_restart(r, g))
            create(r, g->slot, NULL, restart_desired(r, g));
    }
    /* Slots that never had a task. */
    for (uint64_t slot = first_slot; slot < last_slot && r->rc == 0; slot++) {
        int seen = 0;
        for (size_t i = 0; i < gs.n && !seen; i++)
            seen = gs.g[i].slot == slot;
        if (!seen)
            create(r, slot, NULL, "running");
    }
    /* Rolling replacement of outdated tasks, Parallelism at a time (0 = all). */
    for (size_t i = 0; i < n_stale && r->rc == 0; i++) {
        if (parallelism > 0 && (int64_t)updating >= parallelism)
            break;
        set_desired(r, stale[i], "shutdown");
        create(r, slot_of(stale[i]), NULL, "running");
        updating++;
    }
    if (n_stale > 0 || updating > 0)
        r->plan->updating = 1;
    free(stale);
    groups_free(&gs);
}

static void replicated_job(run *r)
{
    const json_t *job = swarm__json_get(r->in->service, "Spec.Mode.ReplicatedJob");
    int64_t total = swarm__json_int(job, "TotalCompletions", 1);
    int64_t max_concurrent = swarm__json_int(job, "MaxConcurrent", 1);
    if (total < 0)
        total = 0;
    if (max_concurrent <= 0)
        max_concurrent = 1;
    groups gs = {0};
    if (group_tasks(r->in->tasks, 0, &gs) != 0) {
        r->rc = SWARM_ENOMEM;
        groups_free(&gs);
        return;
    }
    int64_t running = 0;
    uint64_t *want = calloc((size_t)total + 1, sizeof *want);
    size_t n_want = 0;
    for (size_t i = 0; i < gs.n && r->rc == 0; i++) {
        group *g = &gs.g[i];
        const json_t *cur = settle_group(r, g);
        if (g->slot >= (uint64_t)total) {
            if (cur)
                set_desired(r, cur, "remove");
            continue;
        }
        if (cur)
            running++;
        else if (wants_restart(r, g))
            want[n_want++] = g->slot;
    }
    for (uint64_t slot = 0; slot < (uint64_t)total; slot++) {
        int seen = 0;
        for (size_t i = 0; i < gs.n && !seen; i++)
            seen = gs.g[i].slot == slot;
        if (!seen)
            want[n_want++] = slot;
    }
    /* Lowest slots first, MaxConcurrent at a time. */
    for (size_t i = 0; i < n_want; i++)
        for (size_t j = i + 1; j < n_want; j++)
            if (want[j] < want[i]) {
                uint64_t tmp = want[i];
                want[i] = want[j];
                want[j] = tmp;
            }
    for (size_t i = 0; i < n_want && running < max_concurrent && r->rc == 0; i++, running++)
        create(r, want[i], NULL, "running");
    free(want);
    groups_free(&gs);
}

static void global(run *r)
{
    groups gs = {0};
    if (group_tasks(r->in->tasks, 1, &gs) != 0) {
        r->rc = SWARM_ENOMEM;
        groups_free(&gs);
        return;
    }
    int (*eligible)(void *, const json_t *, const json_t *) = r->in->eligible ? r->in->eligible : default_eligible;
    const json_t *spec = swarm__json_get(r->in->service, "Spec.TaskTemplate");
    size_t i;
    json_t *node;
    json_array_foreach(r->in->nodes, i, node) {
        if (r->rc != 0)
            break;
        const char *id = swarm__json_str(node, "ID");
        group *g = group_for(&gs, id ? id : "", 0);
        if (g == NULL) {
            r->rc = SWARM_ENOMEM;
            break;
        }
        g->slot = 1; /* marks "node exists" */
        const json_t *cur = settle_group(r, g);
        const char *avail = swarm__json_str(node, "Spec.Availability");
        int drained = avail && strcmp(avail, "drain") == 0;
        int ok = eligible(r->in->eligible_payload, spec, node);
        if (cur) {
            if (drained || (!ok && node_ready(node) && !(avail && strcmp(avail, "pause") == 0)))
                set_desired(r, cur, "shutdown");
            else if (!r->job && outdated(r, cur)) {
                set_desired(r, cur, "shutdown");
                create(r, 0, id, "running");
            }
            continue;
        }
        if (ok && wants_restart(r, g))
            create(r, 0, id, restart_desired(r, g));
    }
    /* Tasks on nodes that no longer exist. */
    for (size_t k = 0; k < gs.n && r->rc == 0; k++) {
        if (gs.g[k].slot == 1)
            continue;
        for (size_t j = 0; j < gs.g[k].n; j++)
            if (is_current(gs.g[k].tasks[j]))
                set_desired(r, gs.g[k].tasks[j], "shutdown");
    }
    groups_free(&gs);
}

/* Deletes history beyond the limit and removed tasks once they stopped. */
static void reap(run *r, int by_node)
{
    groups gs = {0};
    if (group_tasks(r->in->tasks, by_node, &gs) != 0) {
        r->rc = SWARM_ENOMEM;
        groups_free(&gs);
        return;
    }
    int64_t limit = r->in->history_limit < 0 ? 0 : r->in->history_limit;
    for (size_t i = 0; i < gs.n && r->rc == 0; i++) {
        group *g = &gs.g[i];
        int64_t kept = 0;
        for (size_t j = 0; j < g->n && r->rc == 0; j++) {
            const json_t *t = g->tasks[j];
            if (is_current(t))
                continue;
            int stopped = is_terminal(t) || observed(t) < SWARM__TASK_ASSIGNED;
            if (!stopped)
                continue; /* still shutting down */
            int keep = desired(t) != SWARM__TASK_REMOVE && r->in->service != NULL && kept < limit;
            if (r->job && desired(t) == SWARM__TASK_COMPLETE &&
                (uint64_t)swarm__json_int(t, "JobIteration.Index", 0) == r->iteration)
                keep = 1; /* completions of the current run define the job's progress */
            if (keep) {
                kept++;
                continue;
            }
            r->rc = push(r->plan, SWARM__OP_DELETE, json_pack("{s:s}", "ID", swarm__json_str(t, "ID")),
                         version_of(t));
        }
    }
    groups_free(&gs);
}

int swarm__orchestrate(const swarm__orch_input *in, swarm__orch_plan *plan, swarm__err *e)
{
    run r = {.in = in, .plan = plan};
    if (in->service == NULL) {
        /* Deleted service: stop everything, delete what stopped. */
        size_t i;
        json_t *t;
        json_array_foreach(in->tasks, i, t) {
            if (desired(t) != SWARM__TASK_REMOVE && (is_current(t) || !is_terminal(t)))
                set_desired(&r, t, "remove");
        }
        if (r.rc == 0)
            reap(&r, 0);
    } else {
        const json_t *mode = swarm__json_get(in->service, "Spec.Mode");
        int is_global = json_object_get(mode, "Global") != NULL || json_object_get(mode, "GlobalJob") != NULL;
        r.is_global = is_global;
        r.job = json_object_get(mode, "ReplicatedJob") != NULL || json_object_get(mode, "GlobalJob") != NULL;
        r.iteration = version_of(in->service);
        r.pol = policy_of(in->service, r.job);
        if (json_object_get(mode, "ReplicatedJob"))
            replicated_job(&r);
        else if (is_global)
            global(&r);
        else
            replicated(&r, (uint64_t)swarm__json_int(in->service, "Spec.Mode.Replicated.Replicas", 1), 1);
        /* Reap from the input as it was; tasks changed above are looked at next time. */
        if (r.rc == 0)
            reap(&r, is_global);
    }
    if (r.rc != 0) {
        swarm__orch_plan_free(plan);
        return swarm__err_set(e, r.rc, "orchestrator: %s", swarm_strerror(r.rc));
    }
    return 0;
}

#include "manager/manager.h"

#include "core/json.h"
#include "core/log.h"
#include "manager/orchestrator/orchestrator.h"
#include "manager/scheduler/constraint.h"
#include "manager/scheduler/scheduler.h"
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

struct swarm__manager {
    struct event_base *base;
    swarm__store *store;
    swarm__proposer *proposer;
    const swarm__clock *clock;
    swarm__scheduler *scheduler;
    swarm__dispatcher *dispatcher;
    swarm__watch *watch;
    struct event *pass_ev;
    swarm__timer *wake;
    int64_t wake_at_ns;
    json_t *dirty;      /* service IDs to reconcile */
    json_t *updating;   /* service IDs in a rolling update: a task starting to run matters to them */
    int dirty_all;      /* nodes changed: every service */
    int need_schedule;  /* tasks may be waiting for a node */
    int in_flight;      /* proposals of the current pass not yet applied */
    int stopping;
};

static void kick(swarm__manager *m)
{
    if (!m->stopping)
        event_active(m->pass_ev, 0, 0);
}

static swarm__task_state state_at(const json_t *t, const char *path)
{
    swarm__task_state s = SWARM__TASK_NEW;
    const char *name = swarm__json_str(t, path);
    if (name)
        swarm__task_state_parse(&s, name);
    return s;
}

static void on_event(const swarm__event *ev, void *payload)
{
    swarm__manager *m = payload;
    switch (ev->kind) {
    case SWARM__KIND_SERVICE:
        json_object_set_new(m->dirty, swarm__json_str(ev->object, "ID"), json_true());
        break;
    case SWARM__KIND_TASK: {
        /* Progress between assigned and running interests nobody here; the
         * rest (new, gone, wanted differently, moved, started, ended) does. */
        const json_t *t = ev->object, *old = ev->old;
        swarm__task_state now = state_at(t, "Status.State"), before = old ? state_at(old, "Status.State") : now;
        int relevant = ev->op != SWARM__OP_UPDATE || old == NULL ||
                       !json_equal(json_object_get((json_t *)t, "DesiredState"),
                                   json_object_get((json_t *)old, "DesiredState")) ||
                       !json_equal(json_object_get((json_t *)t, "NodeID"), json_object_get((json_t *)old, "NodeID")) ||
                       (now > SWARM__TASK_RUNNING) != (before > SWARM__TASK_RUNNING);
        const char *svc = swarm__json_str(t, "ServiceID");
        if (!relevant && svc && now == SWARM__TASK_RUNNING && before != SWARM__TASK_RUNNING &&
            json_object_get(m->updating, svc))
            relevant = 1;
        if (!relevant)
            return;
        if (svc)
            json_object_set_new(m->dirty, svc, json_true());
        /* Placement changes only when tasks appear, go, move or free their resources. */
        if (ev->op != SWARM__OP_UPDATE || now <= SWARM__TASK_PENDING || now > SWARM__TASK_RUNNING ||
            !json_equal(json_object_get((json_t *)t, "NodeID"), json_object_get((json_t *)old, "NodeID")))
            m->need_schedule = 1;
        break;
    }
    case SWARM__KIND_NODE:
    case SWARM__KIND_CLUSTER:
        m->dirty_all = 1;
        m->need_schedule = 1;
        break;
    default:
        return;
    }
    kick(m);
}

static void applied(void *payload, int rc, const swarm__err *err, uint64_t index)
{
    (void)index;
    swarm__manager *m = payload;
    if (rc != 0 && rc != SWARM_ECLOSED) {
        /* Usually a race with an agent's report; the next pass decides again. */
        swarm__log_debug("manager", "proposal rejected: %s", err ? err->message : swarm_strerror(rc));
        m->dirty_all = 1;
        m->need_schedule = 1;
    }
    if (--m->in_flight == 0 && (json_object_size(m->dirty) > 0 || m->dirty_all || m->need_schedule))
        kick(m);
}

static void propose(swarm__manager *m, swarm__action *acts, size_t n)
{
    if (n == 0)
        return;
    swarm__err e;
    m->in_flight++;
    if (m->proposer->propose(m->proposer, acts, n, applied, m, &e) != 0) {
        m->in_flight--;
        swarm__log_warn("manager", "cannot propose: %s", e.message);
    }
}

/* ------------------------------------------------------------ eligibility */

static int eligible(void *payload, const json_t *task_spec, const json_t *node)
{
    (void)payload;
    const char *state = swarm__json_str(node, "Status.State");
    const char *avail = swarm__json_str(node, "Spec.Availability");
    if (!state || strcmp(state, "ready") != 0 || (avail && strcmp(avail, "active") != 0))
        return 0;
    swarm__node_facts facts;
    swarm__node_facts_init(&facts, node);
    swarm__constraints *c = NULL;
    char why[256];
    if (swarm__constraints_parse(&c, swarm__json_get(task_spec, "Placement.Constraints"), why, sizeof why) != 0)
        return 0;
    int ok = swarm__constraints_match(c, &facts) &&
             swarm__platforms_match(swarm__json_get(task_spec, "Placement.Platforms"), &facts);
    swarm__constraints_free(c);
    return ok;
}

/* ------------------------------------------------------------ passes */

static void wake_cb(void *arg)
{
    swarm__manager *m = arg;
    m->wake_at_ns = 0;
    m->dirty_all = 1;
    kick(m);
}

static void arm_wake(swarm__manager *m, int64_t at_ns)
{
    if (at_ns == 0 || (m->wake_at_ns != 0 && m->wake_at_ns <= at_ns))
        return;
    m->wake_at_ns = at_ns;
    int64_t delta = at_ns - m->clock->wall_ns(m->clock->data);
    if (delta < 0)
        delta = 0;
    swarm__timer_start(m->wake, delta / 1000000 + 1);
}

static void orchestrate(swarm__manager *m, swarm__snap *snap, const json_t *nodes, int64_t history)
{
    json_t *ids = json_object();
    if (m->dirty_all) {
        json_t *all = NULL;
        swarm__err e;
        if (swarm__snap_list(snap, SWARM__KIND_SERVICE, NULL, NULL, &all, &e) == 0) {
            size_t i;
            json_t *s;
            json_array_foreach(all, i, s) json_object_set_new(ids, swarm__json_str(s, "ID"), json_true());
            json_decref(all);
        }
    }
    json_object_update(ids, m->dirty);
    json_object_clear(m->dirty);
    m->dirty_all = 0;
    int64_t now = m->clock->wall_ns(m->clock->data);
    const char *id;
    json_t *unused;
    json_object_foreach(ids, id, unused) {
        json_t *svc = swarm__snap_get(snap, SWARM__KIND_SERVICE, id);
        json_t *tasks = NULL;
        swarm__err e;
        if (swarm__snap_list(snap, SWARM__KIND_TASK, "service", id, &tasks, &e) != 0) {
            json_decref(svc);
            continue;
        }
        if (svc != NULL || json_array_size(tasks) > 0) {
            swarm__orch_input in = {svc, tasks, nodes, now, history, m->clock, eligible, m};
            swarm__orch_plan plan = {0};
            if (swarm__orchestrate(&in, &plan, &e) == 0) {
                if (plan.updating)
                    json_object_set_new(m->updating, id, json_true());
                else
                    json_object_del(m->updating, id);
                propose(m, plan.actions, plan.n);
                arm_wake(m, plan.wake_at_ns);
                swarm__orch_plan_free(&plan);
            } else {
                swarm__log_warn("manager", "orchestrating service %s: %s", id, e.message);
            }
        }
        json_decref(svc);
        json_decref(tasks);
    }
    json_decref(ids);
}


static void schedule(swarm__manager *m, swarm__snap *snap, const json_t *nodes)
{
    m->need_schedule = 0;
    json_t *all = NULL;
    swarm__err e;
    if (swarm__snap_list(snap, SWARM__KIND_TASK, NULL, NULL, &all, &e) != 0)
        return;
    json_t *load = json_array(), *pending = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(all, i, t) {
        swarm__task_state want = state_at(t, "DesiredState"), have = state_at(t, "Status.State");
        const char *node = swarm__json_str(t, "NodeID");
        if (want > SWARM__TASK_RUNNING)
            continue;
        if (have <= SWARM__TASK_PENDING)
            json_array_append(pending, t);
        else if (node && node[0] && have <= SWARM__TASK_RUNNING)
            json_array_append(load, t);
    }
    json_t *decisions = NULL;
    if (json_array_size(pending) > 0 &&
        swarm__scheduler_place(m->scheduler, nodes, load, pending, &decisions, &e) == 0) {
        size_t n = 0;
        swarm__action *acts = calloc(json_array_size(pending), sizeof *acts);
        char ts[SWARM__TIME_LEN];
        swarm__time_format(ts, m->clock->wall_ns(m->clock->data));
        json_array_foreach(pending, i, t) {
            json_t *d = json_array_get(decisions, i);
            const char *node = swarm__json_str(d, "NodeID");
            const char *reason = swarm__json_str(d, "Reason");
            json_t *patch = NULL;
            if (node) {
                patch = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "ID", swarm__json_str(t, "ID"), "NodeID",
                                  node, "UpdatedAt", ts, "Status", "Timestamp", ts, "State", "assigned", "Message",
                                  "scheduler assigned task to node");
            } else if (reason) {
                const char *err = swarm__json_str(t, "Status.Err");
                if (err == NULL || strcmp(err, reason) != 0)
                    patch = json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}", "ID", swarm__json_str(t, "ID"), "Status",
                                      "Timestamp", ts, "State", "pending", "Message", "pending task scheduling",
                                      "Err", reason);
            }
            if (patch && acts)
                acts[n++] = (swarm__action){SWARM__OP_PATCH, SWARM__KIND_TASK, patch,
                                            (uint64_t)swarm__json_int(t, "Version.Index", 0)};
            else
                json_decref(patch);
        }
        propose(m, acts, n);
        swarm__actions_free(acts, n);
    }
    json_decref(decisions);
    json_decref(load);
    json_decref(pending);
    json_decref(all);
}

static void pass(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    swarm__manager *m = arg;
    if (m->in_flight > 0 || m->stopping)
        return;
    swarm__snap *snap;
    swarm__err e;
    if (swarm__snap_begin(m->store, &snap, &e) != 0) {
        swarm__log_warn("manager", "cannot read the store: %s", e.message);
        return;
    }
    json_t *nodes = NULL, *clusters = NULL;
    swarm__snap_list(snap, SWARM__KIND_NODE, NULL, NULL, &nodes, &e);
    swarm__snap_list(snap, SWARM__KIND_CLUSTER, NULL, NULL, &clusters, &e);
    int64_t history = swarm__json_int(json_array_get(clusters, 0), "Spec.Orchestration.TaskHistoryRetentionLimit", 5);
    if (nodes) {
        /* Decisions first; scheduling sees their results in the next pass. */
        if (json_object_size(m->dirty) > 0 || m->dirty_all)
            orchestrate(m, snap, nodes, history);
        if (m->in_flight == 0 && m->need_schedule)
            schedule(m, snap, nodes);
    }
    json_decref(nodes);
    json_decref(clusters);
    swarm__snap_end(snap);
    /* Writes can't happen while a snapshot is open: propose() only queues. */
}

int swarm__manager_start(swarm__manager **out, struct event_base *base, swarm__timers *timers, swarm__store *store,
                         swarm__proposer *proposer, const swarm__clock *clock, const char *scheduler,
                         swarm__err *e)
{
    swarm__manager *m = calloc(1, sizeof *m);
    if (m == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    m->base = base;
    m->store = store;
    m->proposer = proposer;
    m->clock = clock;
    m->dirty = json_object();
    m->updating = json_object();
    m->dirty_all = 1;
    m->need_schedule = 1;
    int rc = swarm__scheduler_new(&m->scheduler, scheduler, e);
    if (rc == 0)
        rc = swarm__dispatcher_new(&m->dispatcher, base, store, proposer, clock, e);
    if (rc == 0) {
        m->pass_ev = event_new(base, -1, 0, pass, m);
        m->wake = swarm__timer_new(timers, wake_cb, m);
        if (m->dirty == NULL || m->pass_ev == NULL || m->wake == NULL ||
            swarm__store_watch(store, (1u << SWARM__KIND_SERVICE) | (1u << SWARM__KIND_TASK) |
                                          (1u << SWARM__KIND_NODE) | (1u << SWARM__KIND_CLUSTER),
                               on_event, m, &m->watch) != 0)
            rc = swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    if (rc != 0) {
        swarm__manager_stop(m);
        return rc;
    }
    kick(m);
    *out = m;
    return 0;
}

void swarm__manager_stop(swarm__manager *m)
{
    if (m == NULL)
        return;
    m->stopping = 1;
    if (m->watch)
        swarm__store_unwatch(m->store, m->watch);
    swarm__dispatcher_free(m->dispatcher);
    swarm__scheduler_free(m->scheduler);
    if (m->pass_ev)
        event_free(m->pass_ev);
    swarm__timer_free(m->wake);
    json_decref(m->dirty);
    json_decref(m->updating);
    free(m);
}

void swarm__manager_kick(swarm__manager *m)
{
    m->dirty_all = 1;
    m->need_schedule = 1;
    kick(m);
}

swarm__dispatcher *swarm__manager_dispatcher(swarm__manager *m)
{
    return m->dispatcher;
}

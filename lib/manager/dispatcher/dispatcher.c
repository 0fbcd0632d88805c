#include "manager/dispatcher/dispatcher.h"

#include "core/json.h"
#include "core/log.h"
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

struct swarm__session {
    swarm__dispatcher *d;
    char node_id[SWARM__IDBUF];
    swarm__assign_fn fn;
    void *payload;
    json_t *changed; /* task ID -> task (or null when removed), not yet sent */
    int full;        /* next message is the full set */
    swarm__session *next;
};

struct swarm__dispatcher {
    struct event_base *base;
    swarm__store *store;
    swarm__proposer *proposer;
    const swarm__clock *clock;
    swarm__watch *watch;
    swarm__session *sessions;
    struct event *send_ev;   /* flushes assignments */
    struct event *write_ev;  /* flushes status updates */
    json_t *statuses;        /* task ID -> {"Node": id, "Status": {...}}, latest wins */
    int writing;             /* a status proposal is in flight */
};

static swarm__session *session_for(swarm__dispatcher *d, const char *node_id)
{
    for (swarm__session *s = d->sessions; s; s = s->next)
        if (node_id && strcmp(s->node_id, node_id) == 0)
            return s;
    return NULL;
}

/* ------------------------------------------------------------ assignments */

static json_t *full_set(swarm__dispatcher *d, const char *node_id)
{
    swarm__snap *snap;
    swarm__err e;
    json_t *tasks = NULL;
    if (swarm__snap_begin(d->store, &snap, &e) != 0)
        return json_array();
    swarm__snap_list(snap, SWARM__KIND_TASK, "node", node_id, &tasks, &e);
    swarm__snap_end(snap);
    return tasks ? tasks : json_array();
}

static void send_pending(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    swarm__dispatcher *d = arg;
    for (swarm__session *s = d->sessions; s; s = s->next) {
        json_t *msg = NULL;
        if (s->full) {
            msg = json_pack("{s:b, s:o, s:[]}", "Full", 1, "Tasks", full_set(d, s->node_id), "Removed");
            s->full = 0;
            json_object_clear(s->changed);
        } else if (json_object_size(s->changed) > 0) {
            json_t *tasks = json_array(), *removed = json_array();
            const char *id;
            json_t *t;
            json_object_foreach(s->changed, id, t) {
                if (json_is_null(t))
                    json_array_append_new(removed, json_string(id));
                else
                    json_array_append(tasks, t);
            }
            json_object_clear(s->changed);
            msg = json_pack("{s:b, s:o, s:o}", "Full", 0, "Tasks", tasks, "Removed", removed);
        }
        if (msg) {
            s->fn(s->payload, msg);
            json_decref(msg);
        }
    }
}

/* Only what an agent acts on: assignment, desired state, spec. Status echoes are not sent back. */
static int worth_sending(const swarm__event *ev)
{
    if (ev->op != SWARM__OP_UPDATE || ev->old == NULL)
        return 1;
    static const char *const fields[] = {"NodeID", "DesiredState", "Spec", NULL};
    for (const char *const *f = fields; *f; f++)
        if (!json_equal(json_object_get((json_t *)ev->object, *f), json_object_get((json_t *)ev->old, *f)))
            return 1;
    return 0;
}

static void on_event(const swarm__event *ev, void *payload)
{
    swarm__dispatcher *d = payload;
    if (ev->kind != SWARM__KIND_TASK || !worth_sending(ev))
        return;
    const char *id = swarm__json_str(ev->object, "ID");
    const char *node = swarm__json_str(ev->object, "NodeID");
    const char *old_node = ev->old ? swarm__json_str(ev->old, "NodeID") : NULL;
    swarm__session *s = session_for(d, node);
    if (s && ev->op != SWARM__OP_DELETE) {
        json_object_set(s->changed, id, (json_t *)ev->object);
        event_active(d->send_ev, 0, 0);
    }
    swarm__session *gone = ev->op == SWARM__OP_DELETE ? s : (old_node && (!node || strcmp(old_node, node))
                                                                 ? session_for(d, old_node)
                                                                 : NULL);
    if (gone) {
        json_object_set_new(gone->changed, id, json_null());
        event_active(d->send_ev, 0, 0);
    }
}

/* ------------------------------------------------------------ status */

static void write_statuses(evutil_socket_t fd, short what, void *arg);

static void written(void *payload, int rc, const swarm__err *err, uint64_t index)
{
    (void)index;
    swarm__dispatcher *d = payload;
    d->writing = 0;
    if (rc != 0 && rc != SWARM_ECLOSED)
        swarm__log_warn("dispatcher", "writing task states failed: %s", err ? err->message : swarm_strerror(rc));
    if (json_object_size(d->statuses) > 0)
        event_active(d->write_ev, 0, 0);
}

static void write_statuses(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    swarm__dispatcher *d = arg;
    if (d->writing || json_object_size(d->statuses) == 0)
        return;
    swarm__snap *snap;
    swarm__err e;
    if (swarm__snap_begin(d->store, &snap, &e) != 0)
        return;
    size_t n = 0, cap = json_object_size(d->statuses);
    swarm__action *acts = calloc(cap, sizeof *acts);
    char ts[SWARM__TIME_LEN];
    swarm__time_format(ts, d->clock->wall_ns(d->clock->data));
    const char *id;
    json_t *u;
    json_object_foreach(d->statuses, id, u) {
        json_t *task = swarm__snap_get(snap, SWARM__KIND_TASK, id);
        const char *node = swarm__json_str(u, "Node");
        const json_t *status = json_object_get(u, "Status");
        swarm__task_state cur = SWARM__TASK_NEW, next = SWARM__TASK_NEW;
        const char *cur_name = swarm__json_str(task, "Status.State");
        const char *next_name = swarm__json_str(status, "State");
        /* Only the node a task is assigned to may report on it, and states only move forward. */
        int ok = task && acts && node && swarm__json_str(task, "NodeID") &&
                 strcmp(swarm__json_str(task, "NodeID"), node) == 0 && next_name &&
                 swarm__task_state_parse(&next, next_name) == 0 &&
                 (cur_name == NULL || swarm__task_state_parse(&cur, cur_name) != 0 || next > cur);
        if (ok) {
            json_t *patch = json_pack("{s:s, s:O, s:s}", "ID", id, "Status", status, "UpdatedAt", ts);
            if (patch)
                acts[n++] = (swarm__action){SWARM__OP_PATCH, SWARM__KIND_TASK, patch, 0};
        }
        json_decref(task);
    }
    swarm__snap_end(snap);
    json_object_clear(d->statuses);
    if (n > 0) {
        d->writing = 1;
        if (d->proposer->propose(d->proposer, acts, n, written, d, &e) != 0) {
            d->writing = 0;
            swarm__log_warn("dispatcher", "cannot propose task states: %s", e.message);
        }
    }
    swarm__actions_free(acts, n);
}

void swarm__dispatcher_status(swarm__dispatcher *d, swarm__session *s, const json_t *updates)
{
    size_t i;
    json_t *u;
    json_array_foreach(updates, i, u) {
        const char *id = swarm__json_str(u, "TaskID");
        json_t *status = json_object_get(u, "Status");
        if (id == NULL || !json_is_object(status))
            continue;
        json_object_set_new(d->statuses, id, json_pack("{s:s, s:O}", "Node", s->node_id, "Status", status));
    }
    event_active(d->write_ev, 0, 0);
}

/* ------------------------------------------------------------ lifecycle */

int swarm__dispatcher_new(swarm__dispatcher **out, struct event_base *base, swarm__store *store,
                          swarm__proposer *proposer, const swarm__clock *clock, swarm__err *e)
{
    swarm__dispatcher *d = calloc(1, sizeof *d);
    if (d == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    d->base = base;
    d->store = store;
    d->proposer = proposer;
    d->clock = clock;
    d->statuses = json_object();
    d->send_ev = event_new(base, -1, 0, send_pending, d);
    d->write_ev = event_new(base, -1, 0, write_statuses, d);
    if (d->statuses == NULL || d->send_ev == NULL || d->write_ev == NULL ||
        swarm__store_watch(store, 1u << SWARM__KIND_TASK, on_event, d, &d->watch) != 0) {
        swarm__dispatcher_free(d);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    *out = d;
    return 0;
}

void swarm__dispatcher_close(swarm__dispatcher *d, swarm__session *s)
{
    for (swarm__session **p = &d->sessions; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    json_decref(s->changed);
    free(s);
}

void swarm__dispatcher_free(swarm__dispatcher *d)
{
    if (d == NULL)
        return;
    while (d->sessions)
        swarm__dispatcher_close(d, d->sessions);
    if (d->watch)
        swarm__store_unwatch(d->store, d->watch);
    if (d->send_ev)
        event_free(d->send_ev);
    if (d->write_ev)
        event_free(d->write_ev);
    json_decref(d->statuses);
    free(d);
}

int swarm__dispatcher_open(swarm__dispatcher *d, const char *node_id, swarm__assign_fn fn, void *payload,
                           swarm__session **out, swarm__err *e)
{
    swarm__session *s = calloc(1, sizeof *s);
    if (s == NULL || (s->changed = json_object()) == NULL) {
        free(s);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    s->d = d;
    snprintf(s->node_id, sizeof s->node_id, "%s", node_id);
    s->fn = fn;
    s->payload = payload;
    s->full = 1;
    s->next = d->sessions;
    d->sessions = s;
    event_active(d->send_ev, 0, 0);
    *out = s;
    return 0;
}

#include "agent/agent.h"

#include "agent/runtime.h"
#include "swarm/common.h"
#include "core/json.h"
#include "core/log.h"
#include "model/model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

/* What the agent knows of one task. */
typedef struct known {
    json_t *task;      /* latest assignment, or NULL (re-adopted before the assignments came) */
    char *rt_state;    /* last state the runtime reported, or NULL if the runtime does not know the task */
    json_t *rt_status; /* the runtime's last report, as given */
    int assigned;      /* in the dispatcher's set */
    int stop_sent;
} known;

struct swarm__agent {
    struct event_base *base;
    swarm__timers *timers;
    const swarm__clock *clock;
    char node_id[SWARM__IDBUF];
    char *runtime_dir;
    struct swarm_runtime_backend *rt;
    swarm_runtime_host host;
    swarm__dispatcher *dispatcher; /* local attach only */
    swarm__session *session;
    swarm__status_sink sink;
    void *sink_payload;
    json_t *tasks; /* ID -> integer pointer to a known (owned) */
    int closing;
};

/* ------------------------------------------------------------ host for the runtime */

typedef struct fd_watch {
    struct event *ev;
    void (*cb)(int fd, void *payload);
    void *payload;
} fd_watch;

static void fd_ready(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    fd_watch *w = arg;
    w->cb((int)fd, w->payload);
}

static int host_watch_fd(void *ctx, int fd, void (*cb)(int fd, void *payload), void *payload, void **token)
{
    swarm__agent *a = ctx;
    fd_watch *w = calloc(1, sizeof *w);
    if (w == NULL)
        return SWARM_ENOMEM;
    w->cb = cb;
    w->payload = payload;
    w->ev = event_new(a->base, fd, EV_READ | EV_PERSIST, fd_ready, w);
    if (w->ev == NULL || event_add(w->ev, NULL) != 0) {
        if (w->ev)
            event_free(w->ev);
        free(w);
        return SWARM_ENOMEM;
    }
    *token = w;
    return 0;
}

static void host_unwatch_fd(void *ctx, void *token)
{
    (void)ctx;
    fd_watch *w = token;
    if (w == NULL)
        return;
    event_free(w->ev);
    free(w);
}

static int host_timer(void *ctx, int64_t ms, void (*cb)(void *payload), void *payload, void **token)
{
    swarm__agent *a = ctx;
    return swarm__oneshot(a->timers, ms, cb, payload, token);
}

static void host_cancel_timer(void *ctx, void *token)
{
    (void)ctx;
    swarm__oneshot_cancel(token);
}

static int64_t host_now_ms(void *ctx)
{
    swarm__agent *a = ctx;
    return a->clock->mono_ns(a->clock->data) / 1000000;
}

static void host_log(void *ctx, int level, const char *message)
{
    (void)ctx;
    swarm__log(level, "runtime", "%s", message);
}

/* ------------------------------------------------------------ task table */

static known *find(swarm__agent *a, const char *id)
{
    json_t *v = json_object_get(a->tasks, id);
    return v ? (known *)(uintptr_t)json_integer_value(v) : NULL;
}

static known *find_or_add(swarm__agent *a, const char *id)
{
    known *k = find(a, id);
    if (k)
        return k;
    k = calloc(1, sizeof *k);
    if (k == NULL)
        return NULL;
    json_object_set_new(a->tasks, id, json_integer((json_int_t)(uintptr_t)k));
    return k;
}

static void drop(swarm__agent *a, const char *id)
{
    known *k = find(a, id);
    if (k == NULL)
        return;
    json_decref(k->task);
    json_decref(k->rt_status);
    free(k->rt_state);
    free(k);
    json_object_del(a->tasks, id);
}

static swarm__task_state parse_state(const char *name)
{
    swarm__task_state s = SWARM__TASK_NEW;
    if (name)
        swarm__task_state_parse(&s, name);
    return s;
}

static int rt_terminal(const known *k)
{
    return k->rt_state && parse_state(k->rt_state) > SWARM__TASK_RUNNING;
}

/* ------------------------------------------------------------ reporting */

static void report(swarm__agent *a, const char *id, const char *state, const char *message, const char *err,
                   const json_t *extra)
{
    if (a->sink == NULL)
        return;
    char ts[SWARM__TIME_LEN];
    swarm__time_format(ts, a->clock->wall_ns(a->clock->data));
    json_t *status = json_pack("{s:s, s:s, s:s, s:{}}", "Timestamp", ts, "State", state, "Message",
                               message ? message : state, "PortStatus");
    if (status == NULL)
        return;
    if (err && err[0])
        json_object_set_new(status, "Err", json_string(err));
    if (extra) {
        json_t *cs = json_object();
        json_t *v;
        if ((v = json_object_get((json_t *)extra, "ContainerID")))
            json_object_set(cs, "ContainerID", v);
        if ((v = json_object_get((json_t *)extra, "PID")))
            json_object_set(cs, "PID", v);
        if ((v = json_object_get((json_t *)extra, "ExitCode")))
            json_object_set(cs, "ExitCode", v);
        json_object_set_new(status, "ContainerStatus", cs);
    }
    json_t *updates = json_pack("[{s:s, s:o}]", "TaskID", id, "Status", status);
    if (updates)
        a->sink(a->sink_payload, updates);
    json_decref(updates);
}

/* ------------------------------------------------------------ task managers */

static int64_t grace_ms(const known *k)
{
    int64_t ns = swarm__json_int(k->task, "Spec.ContainerSpec.StopGracePeriod", 10000000000LL);
    return ns < 0 ? 0 : ns / 1000000;
}

static void forget_if_done(swarm__agent *a, const char *id, known *k)
{
    if (k->assigned)
        return;
    if (k->rt_state == NULL || rt_terminal(k)) {
        if (k->rt_state)
            a->rt->remove(a->rt, id);
        drop(a, id);
    } else if (!k->stop_sent) {
        k->stop_sent = 1;
        a->rt->stop(a->rt, id, k->task ? grace_ms(k) : 10000);
    }
}

/* Brings one task's runtime side in line with what the managers want. */
static void act(swarm__agent *a, const char *id, known *k)
{
    if (k->task == NULL)
        return;
    swarm__task_state want = parse_state(swarm__json_str(k->task, "DesiredState"));
    swarm__task_state have = parse_state(swarm__json_str(k->task, "Status.State"));
    if (want == SWARM__TASK_RUNNING) {
        if (k->rt_state != NULL)
            return; /* started (or re-adopted) already */
        if (have > SWARM__TASK_RUNNING)
            return; /* already over */
        if (have >= SWARM__TASK_STARTING) {
            /* The store says it ran here, but the runtime has no trace of it. */
            report(a, id, "failed", "task lost", "task lost: the runtime no longer knows this task", NULL);
            return;
        }
        char *text = swarm__json_dump(k->task);
        int rc = text ? a->rt->start(a->rt, text) : SWARM_ENOMEM;
        free(text);
        if (rc == 0 || rc == SWARM_EEXISTS) {
            if (k->rt_state == NULL)
                k->rt_state = strdup("preparing");
            if (rc == 0 && strcmp(k->rt_state ? k->rt_state : "", "preparing") == 0)
                report(a, id, "preparing", "preparing", NULL, NULL);
        } else {
            report(a, id, "rejected", "rejected", swarm_error_last()->message, NULL);
        }
    } else if (want > SWARM__TASK_RUNNING) {
        if (k->rt_state == NULL) {
            if (have >= SWARM__TASK_ASSIGNED && have < SWARM__TASK_COMPLETE)
                report(a, id, "shutdown", "shutdown", NULL, NULL); /* never started here */
        } else if (!rt_terminal(k) && !k->stop_sent) {
            k->stop_sent = 1;
            a->rt->stop(a->rt, id, grace_ms(k));
        }
    }
}

void swarm__agent_assignments(swarm__agent *a, const json_t *msg)
{
    if (a->closing)
        return;
    if (json_is_true(json_object_get((json_t *)msg, "Full"))) {
        const char *id;
        json_t *v;
        json_object_foreach(a->tasks, id, v) ((known *)(uintptr_t)json_integer_value(v))->assigned = 0;
    }
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get((json_t *)msg, "Tasks"), i, t) {
        const char *id = swarm__json_str(t, "ID");
        known *k = id ? find_or_add(a, id) : NULL;
        if (k == NULL)
            continue;
        json_decref(k->task);
        k->task = json_incref(t);
        k->assigned = 1;
    }
    json_array_foreach(json_object_get((json_t *)msg, "Removed"), i, t) {
        known *k = json_string_value(t) ? find(a, json_string_value(t)) : NULL;
        if (k)
            k->assigned = 0;
    }
    /* Iterate over a copy: acting can drop entries. */
    json_t *ids = json_object();
    json_object_update(ids, a->tasks);
    const char *id;
    json_t *v;
    json_object_foreach(ids, id, v) {
        known *k = find(a, id);
        if (k == NULL)
            continue;
        if (k->assigned)
            act(a, id, k);
        else
            forget_if_done(a, id, k);
    }
    json_decref(ids);
}

static void on_runtime_status(void *ctx, const char *task_id, const char *status_json)
{
    swarm__agent *a = ctx;
    json_t *st = json_loads(status_json, 0, NULL);
    const char *state = swarm__json_str(st, "State");
    known *k = state ? find_or_add(a, task_id) : NULL;
    if (k == NULL) {
        json_decref(st);
        return;
    }
    free(k->rt_state);
    k->rt_state = strdup(state);
    json_decref(k->rt_status);
    k->rt_status = json_incref(st);
    if (!a->closing) {
        report(a, task_id, state, swarm__json_str(st, "Message"), swarm__json_str(st, "Err"), st);
        if (k->task && k->assigned) {
            /* A stop may have been wanted while it was starting. */
            if (parse_state(swarm__json_str(k->task, "DesiredState")) > SWARM__TASK_RUNNING && !rt_terminal(k) &&
                !k->stop_sent) {
                k->stop_sent = 1;
                a->rt->stop(a->rt, task_id, grace_ms(k));
            }
        } else if (k->task) {
            forget_if_done(a, task_id, k);
        }
    }
    json_decref(st);
}

/* ------------------------------------------------------------ lifecycle */

int swarm__agent_start(swarm__agent **out, struct event_base *base, swarm__timers *timers, const swarm__clock *clock,
                       const char *runtime, const char *state_dir, const char *node_id, swarm__err *e)
{
    swarm__agent *a = calloc(1, sizeof *a);
    if (a == NULL || (a->tasks = json_object()) == NULL) {
        free(a);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    a->base = base;
    a->timers = timers;
    a->clock = clock;
    snprintf(a->node_id, sizeof a->node_id, "%s", node_id);
    if (state_dir) {
        if (asprintf(&a->runtime_dir, "%s/runtime", state_dir) < 0)
            a->runtime_dir = NULL;
        if (a->runtime_dir)
            mkdir(a->runtime_dir, 0700);
    }
    a->host = (swarm_runtime_host){1,          a,       on_runtime_status, host_watch_fd, host_unwatch_fd,
                                   host_timer, host_cancel_timer, host_now_ms, host_log};
    int rc = swarm__runtime_create(runtime ? runtime : SWARM__RUNTIME_DEFAULT, &a->rt, e);
    if (rc == 0 && (rc = a->rt->open(a->rt, &a->host, a->runtime_dir)) != 0) {
        swarm__err_set(e, rc, "runtime %s: %s", a->rt->name, swarm_error_last()->message);
        a->rt->free(a->rt);
        a->rt = NULL;
    }
    if (rc != 0) {
        json_decref(a->tasks);
        free(a->runtime_dir);
        free(a);
        return rc;
    }
    /* What the runtime already runs (re-adopted), before any assignment is looked at:
     * its own reports may come later than the first assignments. */
    char *list = NULL;
    if (a->rt->list && a->rt->list(a->rt, &list) == 0 && list) {
        json_t *arr = json_loads(list, 0, NULL);
        size_t i;
        json_t *t;
        json_array_foreach(arr, i, t) {
            const char *id = swarm__json_str(t, "ID"), *state = swarm__json_str(t, "State");
            known *k = id && state ? find_or_add(a, id) : NULL;
            if (k && k->rt_state == NULL) {
                k->rt_state = strdup(state);
                k->rt_status = json_incref(t);
            }
        }
        json_decref(arr);
    }
    free(list);
    *out = a;
    return 0;
}

void swarm__agent_set_uplink(swarm__agent *a, swarm__status_sink sink, void *payload)
{
    a->sink = sink;
    a->sink_payload = payload;
    if (sink == NULL)
        return;
    /* Tell the managers what happened while they were away (or what the runtime re-adopted). */
    const char *id;
    json_t *v;
    json_object_foreach(a->tasks, id, v) {
        known *k = (known *)(uintptr_t)json_integer_value(v);
        if (k->rt_status)
            report(a, id, k->rt_state, swarm__json_str(k->rt_status, "Message"),
                   swarm__json_str(k->rt_status, "Err"), k->rt_status);
    }
}

static void local_assignments(void *payload, const json_t *msg)
{
    swarm__agent_assignments(payload, msg);
}

static void local_status(void *payload, const json_t *updates)
{
    swarm__agent *a = payload;
    swarm__dispatcher_status(a->dispatcher, a->session, updates);
}

int swarm__agent_attach(swarm__agent *a, swarm__dispatcher *d, swarm__err *e)
{
    a->dispatcher = d;
    int rc = swarm__dispatcher_open(d, a->node_id, local_assignments, a, &a->session, e);
    if (rc != 0)
        return rc;
    swarm__agent_set_uplink(a, local_status, a);
    return 0;
}

void swarm__agent_detach(swarm__agent *a)
{
    swarm__agent_set_uplink(a, NULL, NULL);
    if (a->session)
        swarm__dispatcher_close(a->dispatcher, a->session);
    a->session = NULL;
    a->dispatcher = NULL;
}

json_t *swarm__agent_describe(const char *hostname)
{
    struct utsname u;
    uname(&u);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return json_pack("{s:s, s:{s:s, s:s}, s:{s:I, s:I}, s:{s:s}}", "Hostname", hostname, "Platform", "Architecture",
                     u.machine, "OS", "linux", "Resources", "NanoCPUs", (json_int_t)cpus * 1000000000,
                     "MemoryBytes", (json_int_t)pages * page, "Engine", "EngineVersion", swarm_version());
}

void swarm__agent_stop(swarm__agent *a, int kill_tasks)
{
    if (a == NULL)
        return;
    a->closing = 1;
    a->sink = NULL;
    if (kill_tasks && a->rt) {
        const char *id;
        json_t *v;
        json_object_foreach(a->tasks, id, v) {
            known *k = (known *)(uintptr_t)json_integer_value(v);
            if (k->rt_state && !rt_terminal(k))
                a->rt->stop(a->rt, id, 0); /* grace 0: SIGKILL now */
        }
    }
    if (a->session)
        swarm__dispatcher_close(a->dispatcher, a->session);
    a->session = NULL;
    if (a->rt) {
        a->rt->close(a->rt);
        a->rt->free(a->rt);
    }
    const char *id;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(a->tasks, tmp, id, v) drop(a, id);
    json_decref(a->tasks);
    free(a->runtime_dir);
    free(a);
}

const char *swarm__agent_log_path(swarm__agent *a, const char *task_id)
{
    return a->rt->log_path ? a->rt->log_path(a->rt, task_id) : NULL;
}

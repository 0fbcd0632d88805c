/*
 * The "fake" runtime: no processes. A task "runs" until stopped, unless its
 * ContainerSpec.Args script it: ["exit", "N", "MS"] ends it with exit code N
 * after MS milliseconds of the host's clock (default 0), ["reject"] has it
 * rejected. Deterministic and I/O-free, for tests and simulations.
 *
 * Like every runtime here it never calls host->status from inside a method:
 * each report comes from a host timer, so callers may hold their own state
 * consistent across start/stop without fearing re-entry.
 */
#include "agent/runtime.h"
#include "core/json.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum fake_state { F_STARTING, F_RUNNING, F_COMPLETE, F_FAILED, F_REJECTED, F_SHUTDOWN } fake_state;

static const char *const state_names[] = {"starting", "running", "complete", "failed", "rejected", "shutdown"};

typedef struct fake_backend fake_backend;

typedef struct fake_task {
    struct fake_task *next;
    fake_backend *b;
    char *id;
    fake_state state;
    int exit_code;
    char err[64]; /* empty if none */
    int reject;      /* scripted: ["reject"] */
    int scripted_exit, script_code;
    int64_t script_ms;
    void *start_timer; /* reports starting + running (or rejected) */
    void *exit_timer;  /* the scripted exit */
    void *stop_timer;  /* reports shutdown, or re-reports a final state */
} fake_task;

struct fake_backend {
    struct swarm_runtime_backend base;
    const swarm_runtime_host *host;
    fake_task *tasks;
};

static int is_final(fake_state s)
{
    return s >= F_COMPLETE;
}

static fake_task *find(fake_backend *b, const char *id)
{
    for (fake_task *t = b->tasks; t; t = t->next)
        if (strcmp(t->id, id) == 0)
            return t;
    return NULL;
}

static void report(fake_task *t, const char *message)
{
    const swarm_runtime_host *h = t->b->host;
    json_t *o = json_object();
    if (o == NULL)
        return;
    json_object_set_new(o, "State", json_string(state_names[t->state]));
    if (message)
        json_object_set_new(o, "Message", json_string(message));
    if (t->err[0])
        json_object_set_new(o, "Err", json_string(t->err));
    if (is_final(t->state) && t->state != F_REJECTED)
        json_object_set_new(o, "ExitCode", json_integer(t->exit_code));
    char *text = swarm__json_dump(o);
    json_decref(o);
    if (text && h && h->status)
        h->status(h->ctx, t->id, text);
    free(text);
}

static void cancel(fake_task *t, void **token)
{
    if (*token) {
        t->b->host->cancel_timer(t->b->host->ctx, *token);
        *token = NULL;
    }
}

static void on_exit_timer(void *payload)
{
    fake_task *t = payload;
    t->exit_timer = NULL;
    t->exit_code = t->script_code;
    if (t->script_code == 0) {
        t->state = F_COMPLETE;
        report(t, "finished");
    } else {
        t->state = F_FAILED;
        snprintf(t->err, sizeof t->err, "task: non-zero exit (%d)", t->script_code);
        report(t, "finished");
    }
}

static void on_start_timer(void *payload)
{
    fake_task *t = payload;
    t->start_timer = NULL;
    if (t->reject) {
        t->state = F_REJECTED;
        snprintf(t->err, sizeof t->err, "fake: rejected by the task's script");
        report(t, "rejected");
        return;
    }
    report(t, "starting");
    t->state = F_RUNNING;
    report(t, "started");
    if (t->scripted_exit) {
        const swarm_runtime_host *h = t->b->host;
        if (h->timer(h->ctx, t->script_ms, on_exit_timer, t, &t->exit_timer) != 0) {
            t->exit_timer = NULL;
            on_exit_timer(t);
        }
    }
}

static void on_stop_timer(void *payload)
{
    fake_task *t = payload;
    t->stop_timer = NULL;
    if (!is_final(t->state)) {
        cancel(t, &t->exit_timer);
        t->state = F_SHUTDOWN;
        t->exit_code = 0;
        report(t, "shutdown");
    } else {
        report(t, "finished");
    }
}

static int fake_open(struct swarm_runtime_backend *base, const swarm_runtime_host *host, const char *state_dir)
{
    fake_backend *b = (fake_backend *)base;
    (void)state_dir;
    if (host == NULL || host->status == NULL || host->timer == NULL || host->cancel_timer == NULL)
        return swarm__error_set(SWARM_EINVALID, "runtime \"fake\": host lacks status/timer functions");
    b->host = host;
    return 0;
}

/* Parses a decimal integer; -1 on junk. */
static int parse_int(const char *s, long long lo, long long hi, long long *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int fake_start(struct swarm_runtime_backend *base, const char *task_json)
{
    fake_backend *b = (fake_backend *)base;
    if (b->host == NULL)
        return swarm__error_set(SWARM_ECLOSED, "runtime \"fake\" is not open");
    if (task_json == NULL)
        return swarm__error_set(SWARM_EINVALID, "task JSON is NULL");
    json_t *task = swarm__json_parse(task_json, "task");
    if (task == NULL)
        return SWARM_EINVALID;
    const char *id = swarm__json_str(task, "ID");
    if (id == NULL || id[0] == '\0') {
        json_decref(task);
        return swarm__error_set(SWARM_EINVALID, "ID: required");
    }
    if (find(b, id)) {
        int rc = swarm__error_set(SWARM_EEXISTS, "task %s is already known to the runtime", id);
        json_decref(task);
        return rc;
    }
    fake_task *t = calloc(1, sizeof *t);
    if (t == NULL || (t->id = strdup(id)) == NULL) {
        free(t);
        json_decref(task);
        return swarm__error_nomem();
    }
    t->b = b;
    t->state = F_STARTING;
    json_t *args = swarm__json_get(task, "Spec.ContainerSpec.Args");
    const char *a0 = json_string_value(json_array_get(args, 0));
    if (a0 && strcmp(a0, "reject") == 0) {
        t->reject = 1;
    } else if (a0 && strcmp(a0, "exit") == 0) {
        long long code = 0, ms = 0;
        const char *a1 = json_string_value(json_array_get(args, 1));
        const char *a2 = json_string_value(json_array_get(args, 2));
        if (parse_int(a1, 0, 255, &code) != 0 || (a2 && parse_int(a2, 0, INT64_MAX, &ms) != 0)) {
            free(t->id);
            free(t);
            json_decref(task);
            return swarm__error_set(SWARM_EINVALID,
                                    "Spec.ContainerSpec.Args: fake script is [\"exit\", CODE 0-255, MS >= 0]");
        }
        t->scripted_exit = 1;
        t->script_code = (int)code;
        t->script_ms = ms;
    }
    json_decref(task);
    if (b->host->timer(b->host->ctx, 0, on_start_timer, t, &t->start_timer) != 0) {
        free(t->id);
        free(t);
        return swarm__error_nomem();
    }
    t->next = b->tasks;
    b->tasks = t;
    return 0;
}

static int fake_stop(struct swarm_runtime_backend *base, const char *task_id, int64_t grace_ms)
{
    fake_backend *b = (fake_backend *)base;
    (void)grace_ms;
    fake_task *t = task_id ? find(b, task_id) : NULL;
    if (t == NULL)
        return swarm__error_set(SWARM_ENOTFOUND, "no such task: %s", task_id ? task_id : "(null)");
    if (t->stop_timer)
        return 0;
    if (t->start_timer && !t->reject) {
        /* Stopped before it ran: it goes straight to shutdown. */
        cancel(t, &t->start_timer);
    }
    if (t->start_timer)
        return 0; /* a rejection is on its way; that is the final state */
    if (b->host->timer(b->host->ctx, 0, on_stop_timer, t, &t->stop_timer) != 0)
        return swarm__error_nomem();
    return 0;
}

static int fake_remove(struct swarm_runtime_backend *base, const char *task_id)
{
    fake_backend *b = (fake_backend *)base;
    fake_task **p = &b->tasks;
    while (*p && (task_id == NULL || strcmp((*p)->id, task_id) != 0))
        p = &(*p)->next;
    fake_task *t = *p;
    if (t == NULL)
        return swarm__error_set(SWARM_ENOTFOUND, "no such task: %s", task_id ? task_id : "(null)");
    if (!is_final(t->state) || t->start_timer || t->stop_timer)
        return swarm__error_set(SWARM_EBUSY, "task %s is still running", task_id);
    cancel(t, &t->exit_timer);
    *p = t->next;
    free(t->id);
    free(t);
    return 0;
}

static int fake_list(struct swarm_runtime_backend *base, char **out_json)
{
    fake_backend *b = (fake_backend *)base;
    if (out_json == NULL)
        return swarm__error_set(SWARM_EINVALID, "list: out_json is NULL");
    json_t *arr = json_array();
    for (fake_task *t = b->tasks; arr && t; t = t->next) {
        json_t *o = json_object();
        if (o == NULL)
            break;
        json_object_set_new(o, "ID", json_string(t->id));
        json_object_set_new(o, "State", json_string(state_names[t->state]));
        if (is_final(t->state) && t->state != F_REJECTED)
            json_object_set_new(o, "ExitCode", json_integer(t->exit_code));
        if (t->err[0])
            json_object_set_new(o, "Err", json_string(t->err));
        json_array_append_new(arr, o);
    }
    char *text = arr ? swarm__json_dump(arr) : NULL;
    json_decref(arr);
    if (text == NULL)
        return swarm__error_nomem();
    *out_json = text;
    return 0;
}

static const char *fake_log_path(struct swarm_runtime_backend *base, const char *task_id)
{
    (void)base;
    (void)task_id;
    return NULL;
}

/* Tasks of the fake runtime live in memory only: closing forgets them. */
static void fake_close(struct swarm_runtime_backend *base)
{
    fake_backend *b = (fake_backend *)base;
    while (b->tasks) {
        fake_task *t = b->tasks;
        b->tasks = t->next;
        if (b->host) {
            cancel(t, &t->start_timer);
            cancel(t, &t->exit_timer);
            cancel(t, &t->stop_timer);
        }
        free(t->id);
        free(t);
    }
    b->host = NULL;
}

static void fake_free(struct swarm_runtime_backend *base)
{
    if (base == NULL)
        return;
    fake_close(base);
    free(base);
}

int swarm__runtime_fake_new(struct swarm_runtime_backend **out)
{
    if (out == NULL)
        return swarm__error_set(SWARM_EINVALID, "runtime \"fake\": out is NULL");
    fake_backend *b = calloc(1, sizeof *b);
    if (b == NULL)
        return swarm__error_nomem();
    b->base.version = SWARM_RUNTIME_BACKEND_VERSION;
    b->base.name = "fake";
    b->base.open = fake_open;
    b->base.start = fake_start;
    b->base.stop = fake_stop;
    b->base.remove = fake_remove;
    b->base.list = fake_list;
    b->base.log_path = fake_log_path;
    b->base.close = fake_close;
    b->base.free = fake_free;
    *out = &b->base;
    return 0;
}

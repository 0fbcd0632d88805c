/*
 * swarmctl — waits for a service to converge and reports it the way docker's
 * service progress package does: poll every 200 ms, pick one task per slot
 * (per node for global services), count running ones, then keep watching for
 * the monitor period ("verify: Waiting N seconds...").
 */
#include "cli.h"
#include "format.h"
#include "humanize.h"
#include "progress_display.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_PROGRESS = 9, MAX_PROGRESS_BARS = 20, MAX_JOB_PROGRESS = 10, LONGEST_STATE = 9 };

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Task states in docker's order; 0 for unknown ones. */
static int state_rank(const char *s)
{
    static const char *const states[] = {"new",     "allocated", "pending",  "assigned", "accepted",
                                         "preparing", "ready",   "starting", "running",  "complete",
                                         "shutdown", "failed",   "rejected"};
    for (int i = 0; i < 13; i++)
        if (strcmp(s, states[i]) == 0)
            return i + 1;
    return 0;
}

static int terminal_state(const char *s)
{
    return state_rank(s) > state_rank("running");
}

static const char *task_state(json *t)
{
    return json_path_str(t, "Status.State");
}

static const char *desired(json *t)
{
    return json_path_str(t, "DesiredState");
}

static char *truncate_error(const char *msg)
{
    char *copy = xstrdup(msg);
    for (char *p = copy; *p; p++)
        if (*p == '\n')
            *p = ' ';
    if (strlen(copy) > 75) {
        copy[74] = '\0';
        strbuf b = {0};
        sb_add(&b, copy);
        sb_add(&b, "\xE2\x80\xA6");
        free(copy);
        return sb_take(&b);
    }
    return copy;
}

typedef struct {
    progress_display *d;
    int initialized, done;
    /* replicated: slot → display position */
    uint64_t slots[MAX_PROGRESS_BARS * 8];
    size_t nslots;
    /* jobs */
    uint64_t job_iteration;
    int has_iteration; /* the service reports JobStatus; otherwise every task counts */
    int total, concurrent, progress_digits, active_digits;
    strlist job_nodes;
} updater;

static void overall(updater *u, int numerator, int denominator, int rollback)
{
    char buf[128];
    if (rollback)
        snprintf(buf, sizeof buf, "rolling back update: %d out of %d tasks", numerator, denominator);
    else
        snprintf(buf, sizeof buf, "%d out of %d tasks", numerator, denominator);
    display_progress(u->d, "overall progress", buf, 0, 0);
}

static void task_progress(updater *u, const char *id, json *t, int64_t total)
{
    const char *err = json_path_str(t, "Status.Err");
    if (*err) {
        char *cut = truncate_error(err);
        display_progress(u->d, id, cut, 0, 0);
        free(cut);
        return;
    }
    char status[64];
    snprintf(status, sizeof status, "%-*s", LONGEST_STATE, task_state(t));
    display_progress(u->d, id, status, state_rank(task_state(t)), total);
}

/* Prefers the task with the lowest desired state, then the lowest observed state. */
static int better(json *candidate, json *existing)
{
    int cd = state_rank(desired(candidate)), ed = state_rank(desired(existing));
    if (ed < cd)
        return 0;
    if (ed == cd && state_rank(task_state(existing)) <= state_rank(task_state(candidate)))
        return 0;
    return 1;
}

static int node_in(const strlist *nodes, const char *id)
{
    return sl_contains(nodes, id);
}

static int update_replicated(updater *u, uint64_t replicas, json *tasks, const strlist *active, int rollback)
{
    char id[64];
    if (!u->initialized) {
        overall(u, 0, (int)replicas, rollback);
        if (replicas <= MAX_PROGRESS_BARS)
            for (uint64_t i = 1; i <= replicas; i++) {
                snprintf(id, sizeof id, "%" PRIu64 "/%" PRIu64, i, replicas);
                display_progress(u->d, id, " ", 0, 0);
            }
        u->initialized = 1;
    }
    /* One task per slot. */
    json *by_slot = json_new(JSON_OBJECT);
    for (json *t = tasks->child; t; t = t->next) {
        if (state_rank(desired(t)) == 0 || state_rank(task_state(t)) == 0)
            continue;
        char key[32];
        snprintf(key, sizeof key, "%" PRIu64, json_unum(json_get(t, "Slot")));
        json *existing = json_get(by_slot, key);
        json *chosen = existing ? (json *)(intptr_t)json_num(existing) : NULL;
        if (chosen && !better(t, chosen))
            continue;
        const char *node = json_path_str(t, "NodeID");
        if (*node && !node_in(active, node))
            continue;
        json_set(by_slot, key, json_int((int64_t)(intptr_t)t));
    }
    if (u->done)
        for (json *e = by_slot->child; e; e = e->next)
            if (strcmp(task_state((json *)(intptr_t)json_num(e)), "running") != 0) {
                u->done = 0;
                break;
            }
    uint64_t running = 0;
    for (json *e = by_slot->child; e; e = e->next) {
        json *t = (json *)(intptr_t)json_num(e);
        uint64_t slot = strtoull(e->key, NULL, 10);
        size_t mapped = 0;
        for (size_t i = 0; i < u->nslots; i++)
            if (u->slots[i] == slot)
                mapped = i + 1;
        if (mapped == 0 && u->nslots < sizeof u->slots / sizeof u->slots[0]) {
            u->slots[u->nslots++] = slot;
            mapped = u->nslots;
        }
        if (!terminal_state(desired(t)) && strcmp(task_state(t), "running") == 0)
            running++;
        if (!u->done && replicas <= MAX_PROGRESS_BARS && mapped && mapped <= replicas) {
            snprintf(id, sizeof id, "%zu/%" PRIu64, mapped, replicas);
            if (*json_path_str(t, "Status.Err") || (!terminal_state(desired(t)) && !terminal_state(task_state(t))))
                task_progress(u, id, t, MAX_PROGRESS);
        }
    }
    json_free(by_slot);
    if (!u->done) {
        overall(u, (int)running, (int)replicas, rollback);
        if (running == replicas)
            u->done = 1;
    }
    return running == replicas;
}

static int update_global(updater *u, json *tasks, const strlist *ready, int rollback)
{
    json *by_node = json_new(JSON_OBJECT);
    for (json *t = tasks->child; t; t = t->next) {
        if (state_rank(desired(t)) == 0 || state_rank(task_state(t)) == 0)
            continue;
        const char *node = json_path_str(t, "NodeID");
        json *existing = json_get(by_node, node);
        if (existing && !better(t, (json *)(intptr_t)json_num(existing)))
            continue;
        json_set(by_node, node, json_int((int64_t)(intptr_t)t));
    }
    /* Only nodes that are ready count (tasks on other nodes cannot run). */
    for (json *e = by_node->child; e;) {
        json *next = e->next;
        if (!node_in(ready, e->key))
            json_remove(by_node, e->key);
        e = next;
    }
    int node_count = (int)json_length(by_node);
    if (!u->initialized) {
        if (node_count == 0) {
            display_progress(u->d, "overall progress", "waiting for new tasks", 0, 0);
            json_free(by_node);
            return 0;
        }
        overall(u, 0, node_count, rollback);
        u->initialized = 1;
    }
    if (u->done)
        for (json *e = by_node->child; e; e = e->next)
            if (strcmp(task_state((json *)(intptr_t)json_num(e)), "running") != 0) {
                u->done = 0;
                break;
            }
    int running = 0;
    for (json *e = by_node->child; e; e = e->next) {
        json *t = (json *)(intptr_t)json_num(e);
        if (!terminal_state(desired(t)) && strcmp(task_state(t), "running") == 0)
            running++;
        if (!u->done && node_count <= MAX_PROGRESS_BARS &&
            (*json_path_str(t, "Status.Err") || (!terminal_state(desired(t)) && !terminal_state(task_state(t))))) {
            char id[64];
            truncate_id(id, sizeof id, e->key);
            task_progress(u, id, t, MAX_PROGRESS);
        }
    }
    json_free(by_node);
    if (!u->done) {
        overall(u, running, node_count, rollback);
        if (running == node_count)
            u->done = 1;
    }
    return running == node_count;
}

static int in_iteration(updater *u, json *t)
{
    if (!u->has_iteration)
        return 1;
    json *it = json_path(t, "JobIteration.Index");
    return it != NULL && json_unum(it) == u->job_iteration;
}

static void job_overall(updater *u, int active, int completed)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%*d out of %d complete", u->progress_digits, completed, u->total);
    display_progress(u->d, "job progress", buf, completed, u->total);
    int remaining = u->total - completed;
    int actual = remaining < u->concurrent ? remaining : u->concurrent;
    snprintf(buf, sizeof buf, "%*d out of %*d tasks", u->active_digits, active, u->active_digits, actual);
    display_progress(u->d, "active tasks", buf, 0, 0);
}

static int digits(int n)
{
    char tmp[32];
    return snprintf(tmp, sizeof tmp, "%d", n);
}

static int update_replicated_job(updater *u, json *svc, json *tasks)
{
    if (!u->initialized) {
        u->total = (int)json_unum(json_path(svc, "Spec.Mode.ReplicatedJob.TotalCompletions"));
        u->concurrent = (int)json_unum(json_path(svc, "Spec.Mode.ReplicatedJob.MaxConcurrent"));
        u->job_iteration = json_unum(json_path(svc, "JobStatus.JobIteration.Index"));
        u->has_iteration = json_path(svc, "JobStatus.JobIteration.Index") != NULL;
        u->progress_digits = digits(u->total);
        u->active_digits = digits(u->concurrent);
        job_overall(u, 0, 0);
        if (u->total <= MAX_PROGRESS_BARS)
            for (int i = 1; i <= u->total; i++) {
                char id[64];
                snprintf(id, sizeof id, "%d/%d", i, u->total);
                display_progress(u->d, id, " ", 0, 0);
            }
        u->initialized = 1;
    }
    json *by_slot = json_new(JSON_OBJECT);
    for (json *t = tasks->child; t; t = t->next) {
        if (!in_iteration(u, t) || state_rank(desired(t)) == 0 || state_rank(task_state(t)) == 0)
            continue;
        char key[32];
        snprintf(key, sizeof key, "%" PRIu64, json_unum(json_get(t, "Slot")));
        json *existing = json_get(by_slot, key);
        if (existing && state_rank(task_state((json *)(intptr_t)json_num(existing))) <= state_rank(task_state(t)))
            continue;
        json_set(by_slot, key, json_int((int64_t)(intptr_t)t));
    }
    int active = 0, complete = 0;
    size_t n = json_length(by_slot);
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", i);
        json *e = json_get(by_slot, key);
        if (e == NULL)
            continue;
        json *t = (json *)(intptr_t)json_num(e);
        if (u->total <= MAX_PROGRESS_BARS) {
            char id[64];
            snprintf(id, sizeof id, "%zu/%d", i + 1, u->total);
            task_progress(u, id, t, MAX_JOB_PROGRESS);
        }
        if (state_rank(task_state(t)) < state_rank("complete"))
            active++;
        if (strcmp(task_state(t), "complete") == 0)
            complete++;
    }
    json_free(by_slot);
    job_overall(u, active, complete);
    return complete == u->total;
}

static int update_global_job(updater *u, json *svc, json *tasks, const strlist *active)
{
    u->job_iteration = json_unum(json_path(svc, "JobStatus.JobIteration.Index"));
    u->has_iteration = json_path(svc, "JobStatus.JobIteration.Index") != NULL;
    char buf[128];
    if (!u->initialized) {
        if (tasks->child == NULL && active->count != 0) {
            display_progress(u->d, "job progress", "waiting for tasks", 0, 0);
            return 0;
        }
        for (json *t = tasks->child; t; t = t->next)
            if (in_iteration(u, t) && !sl_contains(&u->job_nodes, json_path_str(t, "NodeID")))
                sl_add(&u->job_nodes, json_path_str(t, "NodeID"));
        u->total = (int)u->job_nodes.count;
        u->progress_digits = digits(u->total);
        snprintf(buf, sizeof buf, "%*d out of %d complete", u->progress_digits, 0, u->total);
        display_progress(u->d, "job progress", buf, 0, u->total);
        u->initialized = 1;
    }
    json *by_node = json_new(JSON_OBJECT);
    for (json *t = tasks->child; t; t = t->next) {
        const char *node = json_path_str(t, "NodeID");
        if (!in_iteration(u, t) || !sl_contains(&u->job_nodes, node))
            continue;
        json *existing = json_get(by_node, node);
        if (existing && state_rank(task_state((json *)(intptr_t)json_num(existing))) <= state_rank(task_state(t)))
            continue;
        json_set(by_node, node, json_int((int64_t)(intptr_t)t));
    }
    int complete = 0;
    for (json *e = by_node->child; e; e = e->next) {
        json *t = (json *)(intptr_t)json_num(e);
        if (u->total <= MAX_PROGRESS_BARS)
            task_progress(u, e->key, t, MAX_JOB_PROGRESS);
        if (strcmp(task_state(t), "complete") == 0)
            complete++;
    }
    json_free(by_node);
    snprintf(buf, sizeof buf, "%*d out of %d complete", u->progress_digits, complete, u->total);
    display_progress(u->d, "job progress", buf, complete, u->total);
    return complete == u->total;
}

static int sleep_interruptible(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (!interrupted && nanosleep(&ts, &ts) != 0)
        ;
    return interrupted;
}

static int64_t verify_override(int *set)
{
    const char *env = getenv("SWARMCTL_VERIFY_SECONDS");
    *set = env != NULL && *env != '\0';
    return *set ? (int64_t)(strtod(env, NULL) * 1e9) : 0;
}

int wait_on_service(swarm_cluster_t *c, const char *ref, int quiet)
{
    progress_display d;
    display_init(&d, quiet ? NULL : stdout);
    updater u;
    memset(&u, 0, sizeof u);
    u.d = &d;
    int override = 0;
    int64_t forced = verify_override(&override);
    int64_t monitor = override ? forced : 5000000000LL;
    int converged = 0, rollback = 0, rc = 0, mode_known = 0;
    int64_t converged_at = 0;
    char *pending_message = NULL;
    char mode[32] = "";

    interrupted = 0;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);

    for (;;) {
        json *svc = fetch_service(c, ref);
        if (svc == NULL) {
            rc = report_daemon_error();
            break;
        }
        if (!override) {
            int64_t m = json_num(json_path(svc, "Spec.UpdateConfig.Monitor"));
            if (m != 0)
                monitor = m;
        }
        if (!mode_known) {
            json *m = json_path(svc, "Spec.Mode");
            if (json_get(m, "Replicated"))
                snprintf(mode, sizeof mode, "replicated");
            else if (json_get(m, "Global"))
                snprintf(mode, sizeof mode, "global");
            else if (json_get(m, "ReplicatedJob"))
                snprintf(mode, sizeof mode, "replicated-job");
            else if (json_get(m, "GlobalJob"))
                snprintf(mode, sizeof mode, "global-job");
            else {
                fprintf(stderr, "unrecognized service mode\n");
                json_free(svc);
                rc = 1;
                break;
            }
            mode_known = 1;
        }
        const char *ustate = json_path_str(svc, "UpdateStatus.State");
        const char *umsg = json_path_str(svc, "UpdateStatus.Message");
        int stop = 0;
        if (strcmp(ustate, "updating") == 0) {
            rollback = 0;
        } else if (strcmp(ustate, "completed") == 0) {
            if (!converged)
                stop = 1;
        } else if (strcmp(ustate, "paused") == 0) {
            fprintf(stderr, "service update paused: %s\n", umsg);
            rc = 1;
            stop = 1;
        } else if (strcmp(ustate, "rollback_started") == 0) {
            if (!rollback && *umsg)
                display_progress(&d, "rollback", umsg, 0, 0);
            rollback = 1;
        } else if (strcmp(ustate, "rollback_paused") == 0) {
            fprintf(stderr, "service rollback paused: %s\n", umsg);
            rc = 1;
            stop = 1;
        } else if (strcmp(ustate, "rollback_completed") == 0) {
            if (!converged) {
                free(pending_message);
                pending_message = xstrdup(umsg);
            }
            rollback = 1;
        }
        if (stop) {
            json_free(svc);
            break;
        }
        if (converged && now_nanoseconds() - converged_at >= monitor) {
            char buf[512];
            snprintf(buf, sizeof buf, "Service %s converged", ref);
            display_progress(&d, "verify", buf, 0, 0);
            if (pending_message)
                display_message(&d, "rollback", pending_message);
            json_free(svc);
            break;
        }
        int job = strstr(mode, "job") != NULL;
        json *filters = json_new(JSON_OBJECT);
        json *sv = json_set(filters, "service", json_new(JSON_ARRAY));
        json_append(sv, json_string(json_path_str(svc, "ID")));
        if (!job) {
            json *ds = json_set(filters, "desired-state", json_new(JSON_ARRAY));
            json_append(ds, json_string("running"));
        }
        char *ftext = json_dump(filters, 0);
        json_free(filters);
        json *tasks = fetch_tasks(c, ftext);
        free(ftext);
        json *nodes = tasks ? fetch_nodes(c, NULL) : NULL;
        if (tasks == NULL || nodes == NULL) {
            rc = report_daemon_error();
            json_free(tasks);
            json_free(svc);
            break;
        }
        strlist active = {0}, ready = {0};
        for (json *n = nodes->child; n; n = n->next) {
            const char *state = json_path_str(n, "Status.State");
            if (strcmp(state, "down") != 0)
                sl_add(&active, json_path_str(n, "ID"));
            if (strcmp(state, "ready") == 0)
                sl_add(&ready, json_path_str(n, "ID"));
        }
        if (strcmp(mode, "replicated") == 0)
            converged = update_replicated(&u, json_unum(json_path(svc, "Spec.Mode.Replicated.Replicas")), tasks,
                                          &active, rollback);
        else if (strcmp(mode, "global") == 0)
            converged = update_global(&u, tasks, &ready, rollback);
        else if (strcmp(mode, "replicated-job") == 0)
            converged = update_replicated_job(&u, svc, tasks);
        else
            converged = update_global_job(&u, svc, tasks, &active);
        sl_free(&active);
        sl_free(&ready);
        json_free(nodes);
        json_free(tasks);
        json_free(svc);
        if (converged) {
            if (job) {
                display_message(&d, "", "job complete");
                break;
            }
            if (converged_at == 0)
                converged_at = now_nanoseconds();
            int64_t wait = monitor - (now_nanoseconds() - converged_at);
            if (wait >= 0) {
                char buf[128];
                snprintf(buf, sizeof buf, "Waiting %lld seconds to verify that tasks are stable...",
                         (long long)(wait / 1000000000LL + 1));
                display_progress(&d, "verify", buf, 0, 0);
            }
        } else {
            if (converged_at != 0)
                display_progress(&d, "verify", "Detected task failure", 0, 0);
            converged_at = 0;
        }
        if (sleep_interruptible(200)) {
            if (!converged) {
                char buf[512];
                display_message(&d, "", "Operation continuing in background.");
                snprintf(buf, sizeof buf, "Use `swarmctl service ps %s` to check progress.", ref);
                display_message(&d, "", buf);
            }
            break;
        }
    }
    sigaction(SIGINT, &old, NULL);
    free(pending_message);
    sl_free(&u.job_nodes);
    display_free(&d);
    return rc;
}

/*
 * Task runtimes: the registry, a conformance battery run on "fake" and
 * "process", and the process runtime's own behaviour (environment, users,
 * signals, stop escalation, bounded logs, limits, re-adoption after the node
 * is closed or SIGKILLed, many starts with a responsive loop, the launcher's
 * death, no zombies left).
 *
 * The host is a small libevent loop owned by the test; waits drive it until a
 * condition holds or a deadline passes.
 */
#include "agent/runtime.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEADLINE_MS 20000
#define MAX_REPORTS 2048

/* ---- a libevent host that records what the runtime reports ---- */

typedef struct report {
    char id[64];
    char state[16];
    char err[256];
    char message[256];
    long long exit_code; /* -1000 when absent */
    long long pid;       /* 0 when absent */
} report;

typedef struct rt_host {
    swarm_runtime_host host;
    struct event_base *base;
    struct event *tick; /* wakes the loop so that deadlines are seen */
    report reports[MAX_REPORTS];
    int n_reports;
    int watches, timers; /* outstanding: must be 0 once the backend is closed */
    int bad_json;
} rt_host;

typedef struct watch {
    rt_host *h;
    struct event *ev;
    void (*cb)(int fd, void *payload);
    void *payload;
} watch;

typedef struct timer {
    rt_host *h;
    struct event *ev;
    void (*cb)(void *payload);
    void *payload;
} timer;

/* Every task process the tests saw, killed at exit if a failed check left it behind. */
static long long seen_pids[4096];
static int n_seen_pids;

static void kill_leftovers(void)
{
    for (int i = 0; i < n_seen_pids; i++)
        if (seen_pids[i] > 1) {
            kill(-(pid_t)seen_pids[i], SIGKILL);
            kill((pid_t)seen_pids[i], SIGKILL);
        }
}

static void host_status(void *ctx, const char *task_id, const char *status_json)
{
    rt_host *h = ctx;
    json_t *o = json_loads(status_json, 0, NULL);
    const char *state = json_string_value(json_object_get(o, "State"));
    if (o == NULL || state == NULL) {
        h->bad_json++;
        json_decref(o);
        return;
    }
    if (h->n_reports < MAX_REPORTS) {
        report *r = &h->reports[h->n_reports++];
        memset(r, 0, sizeof *r);
        snprintf(r->id, sizeof r->id, "%s", task_id);
        snprintf(r->state, sizeof r->state, "%s", state);
        const char *err = json_string_value(json_object_get(o, "Err"));
        const char *msg = json_string_value(json_object_get(o, "Message"));
        snprintf(r->err, sizeof r->err, "%s", err ? err : "");
        snprintf(r->message, sizeof r->message, "%s", msg ? msg : "");
        json_t *code = json_object_get(o, "ExitCode");
        r->exit_code = json_is_integer(code) ? json_integer_value(code) : -1000;
        r->pid = json_integer_value(json_object_get(o, "PID"));
        if (r->pid > 1 && n_seen_pids < (int)(sizeof seen_pids / sizeof seen_pids[0]))
            seen_pids[n_seen_pids++] = r->pid;
    }
    json_decref(o);
}

static void watch_fired(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    watch *w = arg;
    w->cb((int)fd, w->payload); /* may unwatch (free) w: not touched after */
}

static int host_watch_fd(void *ctx, int fd, void (*cb)(int fd, void *payload), void *payload, void **token)
{
    rt_host *h = ctx;
    watch *w = calloc(1, sizeof *w);
    if (w == NULL)
        return SWARM_ENOMEM;
    w->h = h;
    w->cb = cb;
    w->payload = payload;
    w->ev = event_new(h->base, fd, EV_READ | EV_PERSIST, watch_fired, w);
    if (w->ev == NULL || event_add(w->ev, NULL) != 0) {
        if (w->ev)
            event_free(w->ev);
        free(w);
        return SWARM_ENOMEM;
    }
    h->watches++;
    *token = w;
    return 0;
}

static void host_unwatch_fd(void *ctx, void *token)
{
    rt_host *h = ctx;
    watch *w = token;
    event_free(w->ev);
    free(w);
    h->watches--;
}

static void timer_fired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    timer *t = arg;
    void (*cb)(void *) = t->cb;
    void *payload = t->payload;
    t->h->timers--;
    event_free(t->ev);
    free(t);
    cb(payload);
}

static int host_timer(void *ctx, int64_t ms, void (*cb)(void *payload), void *payload, void **token)
{
    rt_host *h = ctx;
    timer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return SWARM_ENOMEM;
    t->h = h;
    t->cb = cb;
    t->payload = payload;
    t->ev = evtimer_new(h->base, timer_fired, t);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    if (t->ev == NULL || evtimer_add(t->ev, &tv) != 0) {
        if (t->ev)
            event_free(t->ev);
        free(t);
        return SWARM_ENOMEM;
    }
    h->timers++;
    *token = t;
    return 0;
}

static void host_cancel_timer(void *ctx, void *token)
{
    rt_host *h = ctx;
    timer *t = token;
    event_free(t->ev);
    free(t);
    h->timers--;
}

static int64_t host_now_ms(void *ctx)
{
    (void)ctx;
    return test_now_ms();
}

static void host_log(void *ctx, int level, const char *message)
{
    (void)ctx;
    if (getenv("SWARM_TEST_VERBOSE"))
        fprintf(stderr, "    [runtime %d] %s\n", level, message);
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void host_init(rt_host *h)
{
    memset(h, 0, sizeof *h);
    h->host.version = 1;
    h->host.ctx = h;
    h->host.status = host_status;
    h->host.watch_fd = host_watch_fd;
    h->host.unwatch_fd = host_unwatch_fd;
    h->host.timer = host_timer;
    h->host.cancel_timer = host_cancel_timer;
    h->host.now_ms = host_now_ms;
    h->host.log = host_log;
    h->base = event_base_new();
    h->tick = event_new(h->base, -1, EV_PERSIST, tick, NULL);
    struct timeval tv = {0, 20000};
    event_add(h->tick, &tv);
}

static void host_fini(rt_host *h)
{
    event_free(h->tick);
    event_base_free(h->base);
    h->base = NULL;
}

/* Runs the loop for about ms milliseconds. */
static void run_for(rt_host *h, long long ms)
{
    long long end = test_now_ms() + ms;
    while (test_now_ms() < end)
        event_base_loop(h->base, EVLOOP_ONCE);
}

/* The first report of (id, state) at index >= from, or NULL. */
static const report *find_report(rt_host *h, const char *id, const char *state, int from)
{
    for (int i = from; i < h->n_reports; i++)
        if (strcmp(h->reports[i].id, id) == 0 && strcmp(h->reports[i].state, state) == 0)
            return &h->reports[i];
    return NULL;
}

/* Drives the loop until (id, state) is reported (at index >= from) or the deadline passes. */
static const report *wait_report(rt_host *h, const char *id, const char *state, int from)
{
    long long end = test_now_ms() + DEADLINE_MS;
    const report *r;
    while ((r = find_report(h, id, state, from)) == NULL && test_now_ms() < end)
        event_base_loop(h->base, EVLOOP_ONCE);
    return r;
}

static int count_reports(rt_host *h, const char *id)
{
    int n = 0;
    for (int i = 0; i < h->n_reports; i++)
        if (strcmp(h->reports[i].id, id) == 0)
            n++;
    return n;
}

static const report *last_report(rt_host *h, const char *id)
{
    for (int i = h->n_reports - 1; i >= 0; i--)
        if (strcmp(h->reports[i].id, id) == 0)
            return &h->reports[i];
    return NULL;
}

/* ---- processes ---- */

/* Field `field` (1-based, >= 3) of /proc/PID/stat, or -1. */
static long long proc_stat_field(pid_t pid, int field, char *state_out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    p += 2;
    if (state_out)
        *state_out = *p;
    for (int i = 3; i < field; i++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return -1;
        p++;
    }
    return strtoll(p, NULL, 10);
}

static int proc_alive(pid_t pid)
{
    char st = 0;
    return pid > 0 && proc_stat_field(pid, 3, &st) != -1 && st != 'Z' && st != 'X';
}

/* Live (non-zombie) processes in process group pgid. */
static int count_pgrp(pid_t pgid)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        char st = 0;
        if (proc_stat_field(pid, 5, &st) == pgid && st != 'Z' && st != 'X')
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static int wait_pgrp_empty(rt_host *h, pid_t pgid)
{
    long long end = test_now_ms() + DEADLINE_MS;
    while (count_pgrp(pgid) > 0 && test_now_ms() < end) {
        if (h)
            run_for(h, 20);
        else
            usleep(20000);
    }
    return count_pgrp(pgid) == 0;
}

/*
 * Reaps every child of the test; 1 once none is left. The test process is a
 * child subreaper, so orphaned task processes come to it: a task left running
 * makes this fail instead of leaking.
 */
static int no_children_left(void)
{
    long long end = test_now_ms() + DEADLINE_MS;
    for (;;) {
        int status;
        pid_t r = waitpid(-1, &status, WNOHANG);
        if (r < 0 && errno == ECHILD)
            return 1;
        if (r > 0)
            continue;
        if (test_now_ms() >= end)
            return 0;
        usleep(10000);
    }
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

/* 1 if the directory has no entries (or does not exist). */
static int dir_empty(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    if (d)
        closedir(d);
    return n == 0;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* ---- task JSON ---- */

enum { RUN, EXIT, REJECT };

/* A task for either runtime: runs until stopped, exits with code, or cannot start. */
static char *task_for(const char *runtime, const char *id, int kind, int code)
{
    json_t *cs;
    char num[16];
    snprintf(num, sizeof num, "%d", code);
    if (strcmp(runtime, "fake") == 0) {
        if (kind == RUN)
            cs = json_pack("{s:[s]}", "Args", "run");
        else if (kind == EXIT)
            cs = json_pack("{s:[s,s,s]}", "Args", "exit", num, "30");
        else
            cs = json_pack("{s:[s]}", "Args", "reject");
    } else {
        char script[64];
        snprintf(script, sizeof script, "sleep 0.03; exit %d", code);
        if (kind == RUN)
            cs = json_pack("{s:[s,s]}", "Command", "sleep", "300");
        else if (kind == EXIT)
            cs = json_pack("{s:[s,s,s]}", "Command", "/bin/sh", "-c", script);
        else
            cs = json_pack("{s:[s]}", "Command", "nosuchbin-for-swarm-tests");
    }
    json_t *task = json_pack("{s:s, s:{s:o}}", "ID", id, "Spec", "ContainerSpec", cs);
    char *text = json_dumps(task, JSON_COMPACT);
    json_decref(task);
    return text;
}

/* A process task with a ContainerSpec built by the caller (stolen). */
static char *task_with(const char *id, json_t *container_spec)
{
    json_t *task = json_pack("{s:s, s:{s:o}}", "ID", id, "Spec", "ContainerSpec", container_spec);
    char *text = json_dumps(task, JSON_COMPACT);
    json_decref(task);
    return text;
}

static int start_json(struct swarm_runtime_backend *b, char *json)
{
    int rc = b->start(b, json);
    free(json);
    return rc;
}

typedef struct fixture {
    rt_host h;
    struct swarm_runtime_backend *b;
    const char *dir;
} fixture;

static void fixture_open(fixture *f, const char *runtime, const char *dir)
{
    swarm__err e;
    host_init(&f->h);
    f->dir = dir ? dir : test_tmpdir();
    CHECK_INT(swarm__runtime_create(runtime, &f->b, &e), 0);
    CHECK_STR(f->b->name, runtime);
    CHECK_INT(f->b->open(f->b, &f->h.host, f->dir), 0);
}

/* Closes and frees the backend, then checks it let go of every watch and timer. */
static void fixture_close(fixture *f)
{
    f->b->close(f->b);
    f->b->free(f->b);
    f->b = NULL;
    CHECK_INT(f->h.watches, 0);
    CHECK_INT(f->h.timers, 0);
    CHECK_INT(f->h.bad_json, 0);
    host_fini(&f->h);
}

static int list_has(struct swarm_runtime_backend *b, const char *id, const char *state)
{
    char *text = NULL;
    if (b->list(b, &text) != 0)
        return -1;
    json_t *arr = json_loads(text, 0, NULL);
    swarm_free(text);
    size_t i;
    json_t *o;
    int found = 0;
    json_array_foreach(arr, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "ID")), id) == 0 &&
            (state == NULL || strcmp(json_string_value(json_object_get(o, "State")), state) == 0))
            found = 1;
    }
    json_decref(arr);
    return found;
}

static int list_count(struct swarm_runtime_backend *b)
{
    char *text = NULL;
    if (b->list(b, &text) != 0)
        return -1;
    json_t *arr = json_loads(text, 0, NULL);
    swarm_free(text);
    int n = (int)json_array_size(arr);
    json_decref(arr);
    return n;
}

/* ---- registry ---- */

static int factory_calls;

static int bad_version_factory(struct swarm_runtime_backend **out, void *payload)
{
    (void)payload;
    factory_calls++;
    struct swarm_runtime_backend *b = NULL;
    int rc = swarm__runtime_fake_new(&b);
    if (rc == 0)
        b->version = 0;
    *out = b;
    return rc;
}

static int missing_method_factory(struct swarm_runtime_backend **out, void *payload)
{
    (void)payload;
    factory_calls++;
    struct swarm_runtime_backend *b = NULL;
    int rc = swarm__runtime_fake_new(&b);
    if (rc == 0)
        b->stop = NULL;
    *out = b;
    return rc;
}

static int good_factory(struct swarm_runtime_backend **out, void *payload)
{
    *(int *)payload += 1;
    return swarm__runtime_fake_new(out);
}

static int failing_factory(struct swarm_runtime_backend **out, void *payload)
{
    (void)out;
    (void)payload;
    return swarm__error_set(SWARM_EUNAVAILABLE, "no runtime here today");
}

static void test_runtime__registry(void)
{
    swarm__err e;
    struct swarm_runtime_backend *b = NULL;
    CHECK_INT(swarm__runtime_create(NULL, &b, &e), 0);
    CHECK_STR(b->name, "process");
    CHECK_INT(b->version, SWARM_RUNTIME_BACKEND_VERSION);
    b->free(b);
    CHECK_INT(swarm__runtime_create("fake", &b, &e), 0);
    CHECK_STR(b->name, "fake");
    b->free(b);
    CHECK_INT(swarm__runtime_create("nosuch", &b, &e), SWARM_EINVALID);
    CHECK_STR(e.message, "unknown runtime \"nosuch\"");
    CHECK(b == NULL);

    int calls = 0;
    CHECK_INT(swarm_runtime_register("custom-rt", good_factory, &calls), 0);
    CHECK_INT(swarm_runtime_register("custom-rt", good_factory, &calls), SWARM_EEXISTS);
    CHECK_INT(swarm_runtime_register("process", good_factory, &calls), SWARM_EEXISTS);
    CHECK_INT(swarm_runtime_register("bad name", good_factory, &calls), SWARM_EINVALID);
    CHECK_INT(swarm_runtime_register("", good_factory, &calls), SWARM_EINVALID);
    CHECK_INT(swarm_runtime_register("nofactory", NULL, NULL), SWARM_EINVALID);
    CHECK(swarm__runtime_known("custom-rt"));
    CHECK(swarm__runtime_known("fake"));
    CHECK(!swarm__runtime_known("nofactory"));
    CHECK_INT(swarm__runtime_create("custom-rt", &b, &e), 0);
    CHECK_INT(calls, 1);
    b->free(b);

    CHECK_INT(swarm_runtime_register("bad-version", bad_version_factory, NULL), 0);
    CHECK_INT(swarm__runtime_create("bad-version", &b, &e), SWARM_EBACKEND);
    CHECK_CONTAINS(e.message, "unsupported version");
    CHECK_INT(swarm_runtime_register("missing-method", missing_method_factory, NULL), 0);
    CHECK_INT(swarm__runtime_create("missing-method", &b, &e), SWARM_EBACKEND);
    CHECK_CONTAINS(e.message, "mandatory method");
    CHECK_INT(factory_calls, 2);
    CHECK_INT(swarm_runtime_register("failing", failing_factory, NULL), 0);
    CHECK_INT(swarm__runtime_create("failing", &b, &e), SWARM_EUNAVAILABLE);
    CHECK_STR(e.message, "no runtime here today");
}

/* ---- the conformance battery, on every runtime ---- */

static void battery_run_stop_remove(const char *runtime)
{
    fixture f;
    fixture_open(&f, runtime, NULL);
    CHECK_INT(start_json(f.b, task_for(runtime, "t1", RUN, 0)), 0);
    CHECK_INT(f.h.n_reports, 0); /* never reported from inside a method */
    const report *r = wait_report(&f.h, "t1", "running", 0);
    CHECK(r != NULL);
    CHECK(find_report(&f.h, "t1", "starting", 0) < r); /* starting comes first */
    CHECK(find_report(&f.h, "t1", "starting", 0) != NULL);
    CHECK_INT(list_has(f.b, "t1", "running"), 1);
    CHECK_INT(f.b->remove(f.b, "t1"), SWARM_EBUSY);
    long long start = test_now_ms();
    CHECK_INT(f.b->stop(f.b, "t1", 5000), 0);
    CHECK_INT(f.b->stop(f.b, "t1", 5000), 0); /* twice is fine */
    r = wait_report(&f.h, "t1", "shutdown", 0);
    CHECK(r != NULL);
    CHECK(test_now_ms() - start < 4000); /* the stop signal did it, not the SIGKILL */
    CHECK(r->exit_code != -1000);
    CHECK_INT(list_has(f.b, "t1", "shutdown"), 1);
    CHECK_INT(f.b->remove(f.b, "t1"), 0);
    CHECK_INT(list_count(f.b), 0);
    CHECK_INT(f.b->remove(f.b, "t1"), SWARM_ENOTFOUND);
    fixture_close(&f);
    CHECK(no_children_left());
}

static void battery_exit_codes(const char *runtime)
{
    fixture f;
    fixture_open(&f, runtime, NULL);
    CHECK_INT(start_json(f.b, task_for(runtime, "ok", EXIT, 0)), 0);
    CHECK_INT(start_json(f.b, task_for(runtime, "bad", EXIT, 3)), 0);
    const report *r = wait_report(&f.h, "ok", "complete", 0);
    CHECK(r != NULL);
    CHECK_INT(r->exit_code, 0);
    CHECK_STR(r->err, "");
    CHECK(find_report(&f.h, "ok", "running", 0) != NULL);
    r = wait_report(&f.h, "bad", "failed", 0);
    CHECK(r != NULL);
    CHECK_INT(r->exit_code, 3);
    CHECK_STR(r->err, "task: non-zero exit (3)");
    CHECK_INT(list_has(f.b, "bad", "failed"), 1);

    /* Stopping a task that already ended answers with how it ended. */
    int before = f.h.n_reports;
    CHECK_INT(f.b->stop(f.b, "ok", 1000), 0);
    r = wait_report(&f.h, "ok", "complete", before);
    CHECK(r != NULL);
    CHECK(find_report(&f.h, "ok", "shutdown", 0) == NULL);
    CHECK_INT(f.b->remove(f.b, "ok"), 0);
    CHECK_INT(f.b->remove(f.b, "bad"), 0);
    fixture_close(&f);
    CHECK(no_children_left());
}

static void battery_rejected(const char *runtime)
{
    fixture f;
    fixture_open(&f, runtime, NULL);
    CHECK_INT(start_json(f.b, task_for(runtime, "rej", REJECT, 0)), 0);
    const report *r = wait_report(&f.h, "rej", "rejected", 0);
    CHECK(r != NULL);
    CHECK(r->err[0] != '\0');
    CHECK(find_report(&f.h, "rej", "running", 0) == NULL);
    CHECK_INT(list_has(f.b, "rej", "rejected"), 1);
    CHECK_INT(f.b->remove(f.b, "rej"), 0);
    fixture_close(&f);
    CHECK(no_children_left());
}

static void battery_errors(const char *runtime)
{
    fixture f;
    fixture_open(&f, runtime, NULL);
    CHECK_INT(start_json(f.b, task_for(runtime, "dup", RUN, 0)), 0);
    CHECK_INT(start_json(f.b, task_for(runtime, "dup", RUN, 0)), SWARM_EEXISTS);
    CHECK_INT(f.b->stop(f.b, "nosuch", 1000), SWARM_ENOTFOUND);
    CHECK_INT(f.b->remove(f.b, "nosuch"), SWARM_ENOTFOUND);
    CHECK_INT(f.b->start(f.b, "{not json"), SWARM_EINVALID);
    CHECK_INT(f.b->start(f.b, "{\"Spec\":{}}"), SWARM_EINVALID);
    CHECK(wait_report(&f.h, "dup", "running", 0) != NULL);
    CHECK_INT(count_reports(&f.h, "dup"), 2); /* starting, running: one task only */
    CHECK_INT(list_count(f.b), 1);
    /* Stopped before the start was even reported: straight to a final state. */
    CHECK_INT(start_json(f.b, task_for(runtime, "early", RUN, 0)), 0);
    CHECK_INT(f.b->stop(f.b, "early", 5000), 0);
    CHECK(wait_report(&f.h, "early", "shutdown", 0) != NULL);
    CHECK_INT(f.b->stop(f.b, "dup", 5000), 0);
    CHECK(wait_report(&f.h, "dup", "shutdown", 0) != NULL);
    CHECK_INT(f.b->remove(f.b, "dup"), 0);
    CHECK_INT(f.b->remove(f.b, "early"), 0);
    fixture_close(&f);
    CHECK(no_children_left());
}

static void battery_close_with_tasks(const char *runtime)
{
    /* Closing with tasks in every phase lets go of all watches and timers (fixture_close checks). */
    fixture f;
    fixture_open(&f, runtime, NULL);
    CHECK_INT(start_json(f.b, task_for(runtime, "a", RUN, 0)), 0);
    CHECK_INT(start_json(f.b, task_for(runtime, "b", EXIT, 1)), 0);
    CHECK(wait_report(&f.h, "a", "running", 0) != NULL);
    CHECK_INT(start_json(f.b, task_for(runtime, "c", RUN, 0)), 0);
    CHECK_INT(f.b->stop(f.b, "a", 5000), 0);
    if (strcmp(runtime, "process") == 0) {
        /* The process runtime keeps them for the next open: stop them there. */
        f.b->close(f.b);
        CHECK_INT(f.h.watches, 0);
        CHECK_INT(f.h.timers, 0);
        CHECK_INT(f.b->open(f.b, &f.h.host, f.dir), 0);
        int from = f.h.n_reports;
        const char *ids[] = {"a", "b", "c"};
        for (int i = 0; i < 3; i++) {
            CHECK_INT(f.b->stop(f.b, ids[i], 5000), 0);
            long long end = test_now_ms() + DEADLINE_MS;
            while (test_now_ms() < end && !find_report(&f.h, ids[i], "shutdown", from) &&
                   !find_report(&f.h, ids[i], "failed", from))
                event_base_loop(f.h.base, EVLOOP_ONCE);
            CHECK(find_report(&f.h, ids[i], "shutdown", from) || find_report(&f.h, ids[i], "failed", from));
        }
    }
    fixture_close(&f);
    CHECK(no_children_left());
}

#define BATTERY(rt, suffix)                                                                              \
    static void test_runtime__##suffix##_run_stop_remove(void) { battery_run_stop_remove(rt); }         \
    static void test_runtime__##suffix##_exit_codes(void) { battery_exit_codes(rt); }                   \
    static void test_runtime__##suffix##_rejected(void) { battery_rejected(rt); }                       \
    static void test_runtime__##suffix##_errors(void) { battery_errors(rt); }                           \
    static void test_runtime__##suffix##_close_with_tasks(void) { battery_close_with_tasks(rt); }

BATTERY("fake", fake)
BATTERY("process", process)

#define BATTERY_CASES(suffix)                                                                            \
    TEST(test_runtime__##suffix##_run_stop_remove), TEST(test_runtime__##suffix##_exit_codes),          \
        TEST(test_runtime__##suffix##_rejected), TEST(test_runtime__##suffix##_errors),                 \
        TEST(test_runtime__##suffix##_close_with_tasks)

/* ---- fake only ---- */

static void test_runtime__fake_scripted_delay(void)
{
    fixture f;
    fixture_open(&f, "fake", NULL);
    json_t *cs = json_pack("{s:[s,s,s]}", "Args", "exit", "0", "300");
    long long start = test_now_ms();
    CHECK_INT(start_json(f.b, task_with("slow", cs)), 0);
    CHECK(wait_report(&f.h, "slow", "complete", 0) != NULL);
    CHECK(test_now_ms() - start >= 290);
    CHECK(f.b->log_path(f.b, "slow") == NULL);
    cs = json_pack("{s:[s,s]}", "Args", "exit", "many");
    CHECK_INT(start_json(f.b, task_with("junk", cs)), SWARM_EINVALID);
    CHECK_INT(f.b->remove(f.b, "slow"), 0);
    fixture_close(&f);
    CHECK(no_children_left());
}

/* ---- process only ---- */

/* Runs one task to its final state and returns its last report (state in *state). */
static const report *run_task(fixture *f, const char *id, json_t *container_spec)
{
    CHECK_INT(start_json(f->b, task_with(id, container_spec)), 0);
    long long end = test_now_ms() + DEADLINE_MS;
    const report *r = NULL;
    while (test_now_ms() < end) {
        r = last_report(&f->h, id);
        if (r && (strcmp(r->state, "complete") == 0 || strcmp(r->state, "failed") == 0 ||
                  strcmp(r->state, "rejected") == 0 || strcmp(r->state, "shutdown") == 0))
            return r;
        event_base_loop(f->h.base, EVLOOP_ONCE);
    }
    return NULL;
}

static char *task_log(fixture *f, const char *id)
{
    const char *path = f->b->log_path(f->b, id);
    return path ? read_file(path) : NULL;
}

static void test_runtime__process_env_dir_args(void)
{
    fixture f;
    fixture_open(&f, "process", NULL);
    const char *workdir = test_tmpdir();
    json_t *cs = json_pack("{s:[s,s], s:[s,s,s], s:[s,s,s], s:s, s:s}", "Command", "/bin/sh", "-c", "Args",
                           "echo \"A=$A B=$B PWD=$(pwd) HOST=$HOSTNAME 0=$0 1=$1\"; echo to-stderr >&2", "zero",
                           "one", "Env", "A=1", "B=two words", "PATH=/usr/bin:/bin", "Dir", workdir, "Hostname",
                           "myhost");
    const report *r = run_task(&f, "env", cs);
    CHECK(r != NULL);
    CHECK_STR(r->state, "complete");
    char *log = task_log(&f, "env");
    char want[600];
    snprintf(want, sizeof want, "A=1 B=two words PWD=%s HOST=myhost 0=zero 1=one\n", workdir);
    CHECK_CONTAINS(log, want);
    CHECK_CONTAINS(log, "to-stderr\n");
    free(log);

    /* Args alone when Command is empty; the program found through PATH. */
    cs = json_pack("{s:[s,s,s]}", "Args", "echo", "hello", "world");
    r = run_task(&f, "args", cs);
    CHECK(r != NULL);
    CHECK_STR(r->state, "complete");
    log = task_log(&f, "args");
    CHECK_STR(log, "hello world\n");
    free(log);

    /* The list knows the log path too. */
    char *text = NULL;
    CHECK_INT(f.b->list(f.b, &text), 0);
    CHECK_CONTAINS(text, "\"LogPath\"");
    swarm_free(text);
    CHECK_INT(f.b->remove(f.b, "env"), 0);
    CHECK_INT(f.b->remove(f.b, "args"), 0);
    CHECK(f.b->log_path(f.b, "env") == NULL);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/tasks/env", f.dir);
    /* remove deletes its files: through the launcher, off the loop, so shortly after. */
    long long end = test_now_ms() + DEADLINE_MS;
    while (access(dir, F_OK) == 0 && test_now_ms() < end)
        run_for(&f.h, 10);
    CHECK_INT(access(dir, F_OK), -1);
    char trash[4200];
    snprintf(trash, sizeof trash, "%s/trash", f.dir);
    while (test_now_ms() < end && !dir_empty(trash))
        run_for(&f.h, 10);
    CHECK(dir_empty(trash)); /* and the trash is emptied while the launcher is idle */
    fixture_close(&f);
    CHECK(no_children_left());
}

static void test_runtime__process_rejections(void)
{
    fixture f;
    fixture_open(&f, "process", NULL);
    const report *r = run_task(&f, "nocmd", json_pack("{s:[]}", "Args"));
    CHECK(r != NULL);
    CHECK_STR(r->state, "rejected");
    CHECK_STR(r->err, "no command given");
    r = run_task(&f, "nobin", json_pack("{s:[s,s]}", "Command", "nosuchbin", "x"));
    CHECK(r != NULL);
    CHECK_STR(r->state, "rejected");
    CHECK_STR(r->err, "exec: \"nosuchbin\": executable file not found in $PATH");
    r = run_task(&f, "nopath", json_pack("{s:[s]}", "Command", "/no/such/prog"));
    CHECK(r != NULL);
    CHECK_STR(r->state, "rejected");
    CHECK_CONTAINS(r->err, "no such file or directory");
    r = run_task(&f, "baddir", json_pack("{s:[s], s:s}", "Command", "true", "Dir", "/no/such/dir"));
    CHECK(r != NULL);
    CHECK_STR(r->state, "rejected");
    CHECK_STR(r->err, "chdir /no/such/dir: no such file or directory");
    r = run_task(&f, "baduser", json_pack("{s:[s], s:s}", "Command", "true", "User", "no-such-user-xyz"));
    CHECK(r != NULL);
    CHECK_STR(r->state, "rejected");
    CHECK_STR(r->err, "unable to find user no-such-user-xyz: no matching entries in passwd file");
    r = run_task(&f, "badsig", json_pack("{s:[s], s:s}", "Command", "true", "StopSignal", "SIGNOPE"));
    CHECK(r != NULL);
    CHECK_STR(r->state, "rejected");
    CHECK_CONTAINS(r->err, "StopSignal");

    /* Found and executable, but the kernel refuses it: only the exec in the child can tell. */
    const char *tmp = test_tmpdir();
    char prog[4200];
    snprintf(prog, sizeof prog, "%s/notabinary", tmp);
    FILE *fp = fopen(prog, "w");
    fputs("no shebang here\n", fp);
    fclose(fp);
    chmod(prog, 0755);
    r = run_task(&f, "noexec", json_pack("{s:[s]}", "Command", prog));
    CHECK(r != NULL);
    CHECK_STR(r->state, "rejected");
    CHECK_CONTAINS(r->err, "exec");
    CHECK(find_report(&f.h, "noexec", "starting", 0) != NULL);
    CHECK(find_report(&f.h, "noexec", "running", 0) == NULL);

    const char *ids[] = {"nocmd", "nobin", "nopath", "baddir", "baduser", "badsig", "noexec"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        CHECK_INT(f.b->remove(f.b, ids[i]), 0);
    fixture_close(&f);
    CHECK(no_children_left());
}

static void test_runtime__process_user(void)
{
    if (geteuid() != 0) {
        printf("     (skipped: not root)\n");
        return;
    }
    fixture f;
    fixture_open(&f, "process", NULL);
    const report *r = run_task(&f, "numeric", json_pack("{s:[s,s,s], s:s}", "Command", "/bin/sh", "-c",
                                                        "echo uid=$(id -u) gid=$(id -g)", "User", "1234:5678"));
    CHECK(r != NULL);
    CHECK_STR(r->state, "complete");
    char *log = task_log(&f, "numeric");
    CHECK_STR(log, "uid=1234 gid=5678\n");
    free(log);
    struct passwd *pw = getpwnam("nobody");
    if (pw != NULL) {
        r = run_task(&f, "named", json_pack("{s:[s,s,s], s:s}", "Command", "/bin/sh", "-c", "echo uid=$(id -u)",
                                            "User", "nobody"));
        CHECK(r != NULL);
        CHECK_STR(r->state, "complete");
        log = task_log(&f, "named");
        char want[64];
        snprintf(want, sizeof want, "uid=%d\n", (int)pw->pw_uid);
        CHECK_STR(log, want);
        free(log);
        CHECK_INT(f.b->remove(f.b, "named"), 0);
    }
    CHECK_INT(f.b->remove(f.b, "numeric"), 0);
    fixture_close(&f);
    CHECK(no_children_left());
}

static void test_runtime__process_signals(void)
{
    fixture f;
    fixture_open(&f, "process", NULL);
    const report *r = run_task(&f, "usr1", json_pack("{s:[s,s,s]}", "Command", "/bin/sh", "-c", "kill -USR1 $$"));
    CHECK(r != NULL);
    CHECK_STR(r->state, "failed");
    CHECK_INT(r->exit_code, 128 + SIGUSR1);
    CHECK_CONTAINS(r->err, "SIGUSR1");

    /* A custom stop signal, handled by the task. */
    json_t *cs = json_pack("{s:[s,s,s], s:s}", "Command", "/bin/sh", "-c",
                           "trap 'echo got INT; exit 7' INT; echo ready; while :; do sleep 0.05; done", "StopSignal",
                           "SIGINT");
    CHECK_INT(start_json(f.b, task_with("int", cs)), 0);
    CHECK(wait_report(&f.h, "int", "running", 0) != NULL);
    long long end = test_now_ms() + DEADLINE_MS;
    char *log = NULL;
    while (test_now_ms() < end && (log == NULL || strstr(log, "ready") == NULL)) {
        free(log);
        run_for(&f.h, 20);
        log = task_log(&f, "int");
    }
    free(log);
    CHECK_INT(f.b->stop(f.b, "int", 10000), 0);
    r = wait_report(&f.h, "int", "shutdown", 0);
    CHECK(r != NULL);
    CHECK_INT(r->exit_code, 7);
    log = task_log(&f, "int");
    CHECK_CONTAINS(log, "got INT");
    free(log);

    /* A task that ignores SIGTERM gets SIGKILL once the grace period is over. */
    cs = json_pack("{s:[s,s,s]}", "Command", "/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done");
    CHECK_INT(start_json(f.b, task_with("stubborn", cs)), 0);
    const report *running = wait_report(&f.h, "stubborn", "running", 0);
    CHECK(running != NULL);
    pid_t pid = (pid_t)running->pid;
    CHECK(pid > 0);
    run_for(&f.h, 100); /* let the trap be installed */
    long long start = test_now_ms();
    CHECK_INT(f.b->stop(f.b, "stubborn", 400), 0);
    r = wait_report(&f.h, "stubborn", "shutdown", 0);
    CHECK(r != NULL);
    CHECK(test_now_ms() - start >= 390);
    CHECK_INT(r->exit_code, 128 + SIGKILL);
    CHECK(wait_pgrp_empty(&f.h, pid)); /* its sleeps went with it */

    /* grace_ms < 0: the spec's StopGracePeriod (nanoseconds) decides. */
    cs = json_pack("{s:[s,s,s], s:I}", "Command", "/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done",
                   "StopGracePeriod", (json_int_t)300000000);
    CHECK_INT(start_json(f.b, task_with("spec-grace", cs)), 0);
    CHECK(wait_report(&f.h, "spec-grace", "running", 0) != NULL);
    run_for(&f.h, 100);
    start = test_now_ms();
    CHECK_INT(f.b->stop(f.b, "spec-grace", -1), 0);
    r = wait_report(&f.h, "spec-grace", "shutdown", 0);
    CHECK(r != NULL);
    CHECK(test_now_ms() - start >= 290);
    CHECK(test_now_ms() - start < 5000);
    CHECK_INT(r->exit_code, 128 + SIGKILL);

    CHECK_INT(f.b->remove(f.b, "usr1"), 0);
    CHECK_INT(f.b->remove(f.b, "int"), 0);
    CHECK_INT(f.b->remove(f.b, "stubborn"), 0);
    CHECK_INT(f.b->remove(f.b, "spec-grace"), 0);
    fixture_close(&f);
    CHECK(no_children_left());
}

static void test_runtime__process_group(void)
{
    fixture f;
    fixture_open(&f, "process", NULL);
    /* Stop reaches the whole process group. */
    json_t *cs = json_pack("{s:[s,s,s]}", "Command", "/bin/sh", "-c", "sleep 300 & sleep 300 & wait");
    CHECK_INT(start_json(f.b, task_with("tree", cs)), 0);
    const report *r = wait_report(&f.h, "tree", "running", 0);
    CHECK(r != NULL);
    pid_t pid = (pid_t)r->pid;
    CHECK_INT(proc_stat_field(pid, 5, NULL), pid); /* its own process group */
    CHECK(getsid(pid) != getsid(0));               /* and out of our session */
    long long end = test_now_ms() + DEADLINE_MS;
    while (count_pgrp(pid) < 3 && test_now_ms() < end)
        run_for(&f.h, 20);
    CHECK_INT(count_pgrp(pid), 3);
    CHECK_INT(f.b->stop(f.b, "tree", 5000), 0);
    CHECK(wait_report(&f.h, "tree", "shutdown", 0) != NULL);
    CHECK(wait_pgrp_empty(&f.h, pid));

    /* When the main process ends, what it left behind in its group goes too. */
    cs = json_pack("{s:[s,s,s]}", "Command", "/bin/sh", "-c", "sleep 300 & exit 0");
    r = run_task(&f, "leftover", cs);
    CHECK(r != NULL);
    CHECK_STR(r->state, "complete");
    CHECK(wait_pgrp_empty(&f.h, (pid_t)find_report(&f.h, "leftover", "running", 0)->pid));
    CHECK_INT(f.b->remove(f.b, "tree"), 0);
    CHECK_INT(f.b->remove(f.b, "leftover"), 0);
    fixture_close(&f);
    CHECK(no_children_left());
}

static void check_rotation(fixture *f, const char *id, const char *max_size, long long total, long long limit)
{
    char script[128];
    snprintf(script, sizeof script, "head -c %lld /dev/zero | tr '\\0' x", total);
    json_t *cs = json_pack("{s:[s,s,s]}", "Command", "/bin/sh", "-c", script);
    json_t *task = json_pack("{s:s, s:{s:o}}", "ID", id, "Spec", "ContainerSpec", cs);
    if (max_size)
        json_object_set_new(json_object_get(task, "Spec"), "LogDriver",
                            json_pack("{s:s, s:{s:s}}", "Name", "json-file", "Options", "max-size", max_size));
    CHECK_INT(start_json(f->b, json_dumps(task, JSON_COMPACT)), 0);
    json_decref(task);
    const report *r = wait_report(&f->h, id, "complete", 0);
    CHECK(r != NULL);
    const char *log = f->b->log_path(f->b, id);
    char old[4200];
    snprintf(old, sizeof old, "%s.1", log);
    long long cur = file_size(log), prev = file_size(old);
    CHECK(cur >= 0 && cur <= limit);
    CHECK_INT(prev, limit); /* full when rotated */
    CHECK_INT((cur + limit * ((total - cur) / limit)), total);
    CHECK_INT(f->b->remove(f->b, id), 0);
}

static void test_runtime__process_log_rotation(void)
{
    fixture f;
    fixture_open(&f, "process", NULL);
    check_rotation(&f, "small", "100k", 1000000, 100 * 1024);
    check_rotation(&f, "default", NULL, 12000000, 10 * 1024 * 1024);
    fixture_close(&f);
    CHECK(no_children_left());
}

static void test_runtime__process_limits(void)
{
    fixture f;
    fixture_open(&f, "process", NULL);
    json_t *cs = json_pack("{s:[s,s,s]}", "Command", "/bin/sh", "-c",
                           "grep 'Max address space' /proc/self/limits; cat /proc/self/cgroup");
    json_t *task = json_pack("{s:s, s:{s:o, s:{s:{s:I, s:I}}}}", "ID", "lim", "Spec", "ContainerSpec", cs,
                             "Resources", "Limits", "MemoryBytes", (json_int_t)(512ll << 20), "NanoCPUs",
                             (json_int_t)500000000);
    CHECK_INT(start_json(f.b, json_dumps(task, JSON_COMPACT)), 0);
    json_decref(task);
    CHECK(wait_report(&f.h, "lim", "complete", 0) != NULL);
    const report *running = find_report(&f.h, "lim", "running", 0);
    CHECK(running != NULL);
    char *log = task_log(&f, "lim");
    if (strstr(running->message, "cgroup v2")) {
        CHECK_CONTAINS(log, "libswarm.slice/lim");
    } else {
        CHECK_CONTAINS(running->message, "rlimits RLIMIT_AS=536870912");
        CHECK_CONTAINS(log, "536870912");
    }
    free(log);
    CHECK_INT(f.b->remove(f.b, "lim"), 0);
    fixture_close(&f);
    CHECK(no_children_left());
}

/* The node goes away (close + free) and comes back: running tasks are re-adopted, ended ones reported. */
static void test_runtime__process_readopt(void)
{
    fixture f;
    fixture_open(&f, "process", NULL);
    const char *tmp = test_tmpdir();
    char flag[4200], script[4400];
    snprintf(flag, sizeof flag, "%s/go", tmp);
    snprintf(script, sizeof script, "while [ ! -e %s ]; do sleep 0.02; done; echo bye; exit 4", flag);
    CHECK_INT(start_json(f.b, task_for("process", "long", RUN, 0)), 0);
    CHECK_INT(start_json(f.b, task_with("later", json_pack("{s:[s,s,s]}", "Command", "/bin/sh", "-c", script))), 0);
    CHECK_INT(start_json(f.b, task_for("process", "done", EXIT, 0)), 0);
    const report *r = wait_report(&f.h, "long", "running", 0);
    CHECK(r != NULL);
    pid_t long_pid = (pid_t)r->pid;
    r = wait_report(&f.h, "later", "running", 0);
    CHECK(r != NULL);
    pid_t later_pid = (pid_t)r->pid;
    CHECK(wait_report(&f.h, "done", "complete", 0) != NULL);

    fixture_close(&f); /* the node dies */
    CHECK(proc_alive(long_pid));
    CHECK(proc_alive(later_pid));
    FILE *fp = fopen(flag, "w"); /* "later" ends while nobody watches */
    fclose(fp);
    CHECK(wait_pgrp_empty(NULL, later_pid));

    fixture g;
    fixture_open(&g, "process", f.dir);
    r = wait_report(&g.h, "long", "running", 0);
    CHECK(r != NULL);
    CHECK_INT(r->pid, long_pid);
    CHECK_INT(count_pgrp(long_pid), 1); /* the same one process, no duplicate */
    r = wait_report(&g.h, "later", "failed", 0);
    CHECK(r != NULL);
    CHECK_INT(r->exit_code, 4);
    r = wait_report(&g.h, "done", "complete", 0);
    CHECK(r != NULL);
    CHECK_INT(list_count(g.b), 3);
    CHECK_INT(list_has(g.b, "long", "running"), 1);
    char *log = task_log(&g, "later");
    CHECK_STR(log, "bye\n");
    free(log);

    /* Opening again while it runs does not start anything twice either. */
    g.b->close(g.b);
    int from = g.h.n_reports;
    CHECK_INT(g.b->open(g.b, &g.h.host, g.dir), 0);
    r = wait_report(&g.h, "long", "running", from);
    CHECK(r != NULL);
    CHECK_INT(r->pid, long_pid);
    CHECK_INT(count_pgrp(long_pid), 1);

    CHECK_INT(g.b->stop(g.b, "long", 5000), 0);
    r = wait_report(&g.h, "long", "shutdown", from);
    CHECK(r != NULL);
    CHECK_INT(r->exit_code, 128 + SIGTERM);
    CHECK(wait_pgrp_empty(&g.h, long_pid));
    CHECK_INT(g.b->remove(g.b, "long"), 0);
    CHECK_INT(g.b->remove(g.b, "later"), 0);
    CHECK_INT(g.b->remove(g.b, "done"), 0);
    CHECK_INT(list_count(g.b), 0);
    fixture_close(&g);
    CHECK(no_children_left());
}

/* The node died between forking the shim and hearing from it: the pid file, once there, completes the picture. */
static void test_runtime__process_readopt_while_starting(void)
{
    fixture f;
    fixture_open(&f, "process", NULL);
    CHECK_INT(start_json(f.b, task_for("process", "young", RUN, 0)), 0);
    const report *r = wait_report(&f.h, "young", "running", 0);
    CHECK(r != NULL);
    pid_t pid = (pid_t)r->pid;
    fixture_close(&f);

    /* Make the directory look as if the node never learnt the task's pid. */
    char state_path[4200], pid_path[4200], saved[4200];
    snprintf(state_path, sizeof state_path, "%s/tasks/young/state.json", f.dir);
    snprintf(pid_path, sizeof pid_path, "%s/tasks/young/pid", f.dir);
    snprintf(saved, sizeof saved, "%s/tasks/young/pid.saved", f.dir);
    json_t *st = json_load_file(state_path, 0, NULL);
    CHECK(st != NULL);
    json_object_set_new(st, "PID", json_integer(0));
    json_object_set_new(st, "PIDStart", json_integer(0));
    CHECK_INT(json_dump_file(st, state_path, 0), 0);
    json_decref(st);
    CHECK_INT(rename(pid_path, saved), 0);

    fixture g;
    fixture_open(&g, "process", f.dir);
    CHECK(wait_report(&g.h, "young", "starting", 0) != NULL);
    run_for(&g.h, 150);
    CHECK(find_report(&g.h, "young", "running", 0) == NULL);
    CHECK_INT(rename(saved, pid_path), 0);
    r = wait_report(&g.h, "young", "running", 0);
    CHECK(r != NULL);
    CHECK_INT(r->pid, pid);
    CHECK_INT(g.b->stop(g.b, "young", 5000), 0);
    r = wait_report(&g.h, "young", "shutdown", 0);
    CHECK(r != NULL);
    CHECK_INT(r->exit_code, 128 + SIGTERM);
    CHECK_INT(g.b->remove(g.b, "young"), 0);
    fixture_close(&g);
    CHECK(no_children_left());
}

/* The whole node process is SIGKILLed; a new one on the same state dir re-adopts and stops the task. */
static void test_runtime__process_readopt_after_sigkill(void)
{
    const char *dir = test_tmpdir();
    int p[2];
    CHECK_INT(pipe(p), 0);
    pid_t node = fork();
    CHECK(node >= 0);
    if (node == 0) {
        close(p[0]);
        rt_host h;
        host_init(&h);
        struct swarm_runtime_backend *b = NULL;
        swarm__err e;
        if (swarm__runtime_create("process", &b, &e) != 0 || b->open(b, &h.host, dir) != 0)
            _exit(2);
        char *json = task_for("process", "sleeper", RUN, 0);
        if (b->start(b, json) != 0)
            _exit(3);
        const report *r = wait_report(&h, "sleeper", "running", 0);
        int pid = r ? (int)r->pid : -1;
        if (write(p[1], &pid, sizeof pid) != (ssize_t)sizeof pid)
            _exit(4);
        for (;;)
            pause(); /* until SIGKILL */
    }
    close(p[1]);
    int pid = -1;
    ssize_t n = read(p[0], &pid, sizeof pid);
    close(p[0]);
    kill(node, SIGKILL);
    int status;
    waitpid(node, &status, 0);
    CHECK_INT(n, (ssize_t)sizeof pid);
    CHECK(pid > 0);
    seen_pids[n_seen_pids++] = pid;
    CHECK(WIFSIGNALED(status));
    CHECK(proc_alive(pid)); /* the task survived its node */

    fixture f;
    fixture_open(&f, "process", dir);
    const report *r = wait_report(&f.h, "sleeper", "running", 0);
    CHECK(r != NULL);
    CHECK_INT(r->pid, pid);
    CHECK_INT(count_pgrp(pid), 1);
    CHECK_INT(f.b->stop(f.b, "sleeper", 5000), 0);
    r = wait_report(&f.h, "sleeper", "shutdown", 0);
    CHECK(r != NULL);
    CHECK_INT(r->exit_code, 128 + SIGTERM);
    CHECK(wait_pgrp_empty(&f.h, pid));
    CHECK_INT(f.b->remove(f.b, "sleeper"), 0);
    fixture_close(&f);
    CHECK(no_children_left()); /* the orphaned shim came to us (subreaper) and is reaped */
}

/* A shim killed from outside: the next open reports the task failed and kills what is left. */
static void test_runtime__process_shim_killed(void)
{
    fixture f;
    fixture_open(&f, "process", NULL);
    CHECK_INT(start_json(f.b, task_for("process", "orphan", RUN, 0)), 0);
    const report *r = wait_report(&f.h, "orphan", "running", 0);
    CHECK(r != NULL);
    pid_t pid = (pid_t)r->pid;
    pid_t shim = (pid_t)proc_stat_field(pid, 4, NULL); /* ppid */
    CHECK(shim > 1);
    fixture_close(&f);
    kill(shim, SIGKILL);
    int status;
    CHECK_INT(waitpid(shim, &status, 0), shim);

    fixture g;
    fixture_open(&g, "process", f.dir);
    r = wait_report(&g.h, "orphan", "failed", 0);
    CHECK(r != NULL);
    CHECK_CONTAINS(r->err, "shim");
    CHECK(wait_pgrp_empty(&g.h, pid));
    CHECK_INT(g.b->remove(g.b, "orphan"), 0);
    fixture_close(&g);
    CHECK(no_children_left());
}

static void test_runtime__process_no_state_dir(void)
{
    rt_host h;
    host_init(&h);
    struct swarm_runtime_backend *b = NULL;
    swarm__err e;
    CHECK_INT(swarm__runtime_create("process", &b, &e), 0);
    CHECK_INT(b->open(b, &h.host, NULL), 0);
    CHECK_INT(b->open(b, &h.host, NULL), SWARM_EBUSY);
    CHECK_INT(start_json(b, task_with("x", json_pack("{s:[s,s]}", "Command", "echo", "temp"))), 0);
    CHECK(wait_report(&h, "x", "complete", 0) != NULL);
    char *log = read_file(b->log_path(b, "x"));
    CHECK_STR(log, "temp\n");
    free(log);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", b->log_path(b, "x"));
    b->close(b);
    b->free(b);
    CHECK_INT(access(dir, F_OK), -1); /* the private state dir went with it */
    CHECK_INT(h.watches + h.timers, 0);
    host_fini(&h);
    CHECK(no_children_left());
}

/* ---- the launcher ---- */

/* The backend's launcher: our child named "swarm-launcher" (0 if none). Several: the newest. */
static pid_t find_launcher_now(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = 0;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        char st = 0;
        if (proc_stat_field(pid, 4, &st) != getpid() || st == 'Z')
            continue;
        char path[64], comm[64] = "";
        snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
        FILE *f = fopen(path, "r");
        if (f && fgets(comm, sizeof comm, f) && strncmp(comm, "swarm-launcher", 14) == 0 && pid > found)
            found = pid;
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return found;
}

/* The launcher, given the moment it takes to name itself after fork. */
static pid_t find_launcher(void)
{
    long long end = test_now_ms() + 2000;
    pid_t pid;
    while ((pid = find_launcher_now()) == 0 && test_now_ms() < end)
        usleep(5000);
    return pid;
}

/* A sleep argument no other test process uses: other tests (and other runs of this one) may run meanwhile. */
static void unique_arg(char *buf, size_t len, int i)
{
    snprintf(buf, len, "%d%03d", (int)getpid(), i);
}

/* Our children that are zombies (nobody reaped them), without reaping them. */
static int count_zombie_children(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char st = 0;
        if (proc_stat_field((pid_t)atoi(e->d_name), 4, &st) == getpid() && st == 'Z')
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* Live processes whose command line is exactly argv0 arg1. */
static int count_cmdline(const char *argv0, const char *arg1)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    char want[128];
    size_t len = (size_t)snprintf(want, sizeof want, "%s%c%s", argv0, '\0', arg1) + 1;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char path[300], buf[128];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t got = fread(buf, 1, sizeof buf, f);
        fclose(f);
        if (got == len && memcmp(buf, want, len) == 0 && proc_alive((pid_t)atoi(e->d_name)))
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

typedef struct ticker {
    struct event *ev;
    long long last, max_gap;
} ticker;

static void on_ticker(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ticker *k = arg;
    long long now = test_now_ms();
    if (now - k->last > k->max_gap)
        k->max_gap = now - k->last;
    k->last = now;
}

static int count_state(rt_host *h, const char *state)
{
    int n = 0;
    for (int i = 0; i < h->n_reports; i++)
        if (strcmp(h->reports[i].state, state) == 0)
            n++;
    return n;
}

#define MANY 200

/* 200 starts back to back: all run, and the loop (a 10 ms timer) keeps going meanwhile. */
static void test_runtime__process_many_starts(void)
{
    fixture f;
    fixture_open(&f, "process", NULL);
    ticker k = {NULL, test_now_ms(), 0};
    k.ev = event_new(f.h.base, -1, EV_PERSIST, on_ticker, &k);
    event_add(k.ev, &(struct timeval){0, 10000});
    char id[32];
    /* As an agent does: starts from the loop, one loop pass every 10 starts. */
    for (int i = 0; i < MANY; i++) {
        snprintf(id, sizeof id, "many%03d", i);
        CHECK_INT(start_json(f.b, task_for("process", id, RUN, 0)), 0);
        if (i % 10 == 9)
            event_base_loop(f.h.base, EVLOOP_NONBLOCK);
    }
    long long end = test_now_ms() + DEADLINE_MS;
    while (count_state(&f.h, "running") < MANY && test_now_ms() < end)
        event_base_loop(f.h.base, EVLOOP_ONCE);
    CHECK_INT(count_state(&f.h, "running"), MANY);
    CHECK_INT(count_state(&f.h, "starting"), MANY);
    for (int i = 0; i < MANY; i++) {
        snprintf(id, sizeof id, "many%03d", i);
        CHECK(find_report(&f.h, id, "starting", 0) < find_report(&f.h, id, "running", 0));
    }
    event_free(k.ev);
    if (k.max_gap > 500)
        printf("     loop stalled for %lld ms\n", k.max_gap);
    CHECK(k.max_gap <= 500);

    /* No grace: SIGKILL inside stop(), with no loop pass needed. */
    const report *r = find_report(&f.h, "many000", "running", 0);
    pid_t pid = (pid_t)r->pid;
    CHECK_INT(f.b->stop(f.b, "many000", 0), 0);
    end = test_now_ms() + 2000;
    while (proc_alive(pid) && test_now_ms() < end)
        usleep(2000);
    CHECK(!proc_alive(pid));
    for (int i = 1; i < MANY; i++) {
        snprintf(id, sizeof id, "many%03d", i);
        CHECK_INT(f.b->stop(f.b, id, 0), 0);
    }
    end = test_now_ms() + DEADLINE_MS;
    while (count_state(&f.h, "shutdown") < MANY && test_now_ms() < end)
        event_base_loop(f.h.base, EVLOOP_ONCE);
    CHECK_INT(count_state(&f.h, "shutdown"), MANY);
    r = find_report(&f.h, "many000", "shutdown", 0);
    CHECK_INT(r->exit_code, 128 + SIGKILL);
    for (int i = 0; i < MANY; i++) {
        snprintf(id, sizeof id, "many%03d", i);
        CHECK_INT(f.b->remove(f.b, id), 0);
    }
    fixture_close(&f);
    CHECK(no_children_left());
}

/* The launcher is SIGKILLed: tasks it launched stay tracked, requests it held are not lost or doubled, and the
 * next start works. */
static void test_runtime__process_launcher_killed(void)
{
    fixture f;
    fixture_open(&f, "process", NULL);
    pid_t launcher = find_launcher();
    CHECK(launcher > 0);
    CHECK_INT(start_json(f.b, task_for("process", "before", RUN, 0)), 0);
    const report *r = wait_report(&f.h, "before", "running", 0);
    CHECK(r != NULL);
    pid_t before_pid = (pid_t)r->pid;

    /* Killed with requests in its socket, some perhaps half done. */
    char args[5][32];
    char id[32];
    for (int i = 0; i < 5; i++) {
        unique_arg(args[i], sizeof args[i], 300 + i);
        snprintf(id, sizeof id, "inflight%d", i);
        CHECK_INT(start_json(f.b, task_with(id, json_pack("{s:[s,s]}", "Command", "sleep", args[i]))), 0);
    }
    CHECK_INT(kill(launcher, SIGKILL), 0);
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "inflight%d", i);
        r = wait_report(&f.h, id, "running", 0);
        CHECK(r != NULL);
    }
    run_for(&f.h, 200);
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "inflight%d", i);
        CHECK_INT(count_reports(&f.h, id), 2); /* starting, running */
        CHECK_INT(count_cmdline("sleep", args[i]), 1);
    }
    pid_t second = find_launcher();
    CHECK(second > 0 && second != launcher);

    /* A start after the death works. */
    CHECK_INT(start_json(f.b, task_for("process", "after", RUN, 0)), 0);
    CHECK(wait_report(&f.h, "after", "running", 0) != NULL);

    /* And all of them stop as usual, the orphans of the dead launcher too. */
    const char *ids[] = {"before", "after", "inflight0", "inflight1", "inflight2", "inflight3", "inflight4"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        CHECK_INT(f.b->stop(f.b, ids[i], 5000), 0);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        r = wait_report(&f.h, ids[i], "shutdown", 0);
        CHECK(r != NULL);
        CHECK_INT(r->exit_code, 128 + SIGTERM);
    }
    CHECK(wait_pgrp_empty(&f.h, before_pid));
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        CHECK_INT(f.b->remove(f.b, ids[i]), 0);
    fixture_close(&f);
    CHECK_INT(find_launcher_now(), 0);
    CHECK(no_children_left());
}

/*
 * The node is SIGKILLed right after a burst of starts, with the launcher still working through them: the next open
 * waits for those launches (launch.lock) and finds every task it took, each running exactly once.
 */
static void test_runtime__process_readopt_burst_after_sigkill(void)
{
    enum { BURST = 40 };
    const char *dir = test_tmpdir();
    char args[BURST][32];
    for (int i = 0; i < BURST; i++)
        unique_arg(args[i], sizeof args[i], 400 + i);
    int p[2];
    CHECK_INT(pipe(p), 0);
    pid_t node = fork();
    CHECK(node >= 0);
    if (node == 0) {
        close(p[0]);
        rt_host h;
        host_init(&h);
        struct swarm_runtime_backend *b = NULL;
        swarm__err e;
        if (swarm__runtime_create("process", &b, &e) != 0 || b->open(b, &h.host, dir) != 0)
            _exit(2);
        int started = 0;
        for (int i = 0; i < BURST; i++) {
            char id[32];
            snprintf(id, sizeof id, "burst%02d", i);
            started += start_json(b, task_with(id, json_pack("{s:[s,s]}", "Command", "sleep", args[i]))) == 0;
        }
        if (write(p[1], &started, sizeof started) != (ssize_t)sizeof started)
            _exit(4);
        for (;;)
            pause(); /* until SIGKILL: no loop pass, no reply read */
    }
    close(p[1]);
    int started = -1;
    ssize_t n = read(p[0], &started, sizeof started);
    close(p[0]);
    kill(node, SIGKILL);
    int status;
    waitpid(node, &status, 0);
    CHECK_INT(n, (ssize_t)sizeof started);
    CHECK_INT(started, BURST);

    fixture f;
    fixture_open(&f, "process", dir);
    char id[32];
    for (int i = 0; i < BURST; i++) {
        snprintf(id, sizeof id, "burst%02d", i);
        const report *r = wait_report(&f.h, id, "running", 0);
        CHECK(r != NULL);
        if (r && r->pid > 1 && n_seen_pids < (int)(sizeof seen_pids / sizeof seen_pids[0]))
            seen_pids[n_seen_pids++] = r->pid;
    }
    CHECK_INT(list_count(f.b), BURST);
    for (int i = 0; i < BURST; i++)
        CHECK_INT(count_cmdline("sleep", args[i]), 1);
    for (int i = 0; i < BURST; i++) {
        snprintf(id, sizeof id, "burst%02d", i);
        CHECK_INT(f.b->stop(f.b, id, 5000), 0);
    }
    for (int i = 0; i < BURST; i++) {
        snprintf(id, sizeof id, "burst%02d", i);
        CHECK(wait_report(&f.h, id, "shutdown", 0) != NULL);
        CHECK_INT(f.b->remove(f.b, id), 0);
    }
    fixture_close(&f);
    CHECK(no_children_left());
}

/* A task directory that is not ours is left alone, and the start is rejected with a clear reason. A removed ID can
 * be started again at once (the removal goes first). */
static void test_runtime__process_task_dir_taken(void)
{
    fixture f;
    fixture_open(&f, "process", NULL);
    char path[4200];
    snprintf(path, sizeof path, "%s/tasks/taken", f.dir);
    CHECK_INT(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/tasks/taken/mine", f.dir);
    FILE *fp = fopen(path, "w");
    fclose(fp);
    const report *r = run_task(&f, "taken", json_pack("{s:[s]}", "Command", "true"));
    CHECK(r != NULL);
    CHECK_STR(r->state, "rejected");
    CHECK_CONTAINS(r->err, "already exists");
    CHECK(f.b->log_path(f.b, "taken") == NULL);
    CHECK_INT(f.b->remove(f.b, "taken"), 0);
    run_for(&f.h, 100);
    CHECK_INT(access(path, F_OK), 0); /* not ours: untouched */

    for (int round = 0; round < 3; round++) {
        char text[32];
        snprintf(text, sizeof text, "round %d", round);
        int from = f.h.n_reports;
        CHECK_INT(start_json(f.b, task_with("again", json_pack("{s:[s,s]}", "Command", "echo", text))), 0);
        long long end = test_now_ms() + DEADLINE_MS;
        while (!find_report(&f.h, "again", "complete", from) && !find_report(&f.h, "again", "rejected", from) &&
               test_now_ms() < end)
            event_base_loop(f.h.base, EVLOOP_ONCE);
        CHECK(find_report(&f.h, "again", "complete", from) != NULL);
        char *log = task_log(&f, "again");
        char want[40];
        snprintf(want, sizeof want, "%s\n", text);
        CHECK_STR(log, want);
        free(log);
        CHECK_INT(f.b->remove(f.b, "again"), 0); /* and started again straight away */
    }
    fixture_close(&f);
    CHECK(no_children_left());
}

/* stop(0) then close at once (an ephemeral node exiting): nothing keeps running, however far each start got. */
static void test_runtime__process_kill_then_close(void)
{
    fixture f;
    fixture_open(&f, "process", NULL);
    char args[8][32];
    int n = 8;
    char id[32];
    for (int i = 0; i < n; i++) {
        unique_arg(args[i], sizeof args[i], 320 + i);
        snprintf(id, sizeof id, "eph%d", i);
        CHECK_INT(start_json(f.b, task_with(id, json_pack("{s:[s,s]}", "Command", "sleep", args[i]))), 0);
        if (i == n / 2)
            CHECK(wait_report(&f.h, id, "running", 0) != NULL); /* some running, some still on their way */
    }
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "eph%d", i);
        CHECK_INT(f.b->stop(f.b, id, 0), 0);
    }
    fixture_close(&f);
    long long end = test_now_ms() + 5000;
    int left;
    do {
        left = 0;
        for (int i = 0; i < n; i++)
            left += count_cmdline("sleep", args[i]);
        if (left)
            usleep(10000);
    } while (left && test_now_ms() < end);
    CHECK_INT(left, 0);
    CHECK(no_children_left());
}

/* After the backend is freed, no child of ours is left a zombie (shims and launcher all reaped). */
static void test_runtime__process_no_zombies(void)
{
    CHECK(no_children_left());
    fixture f;
    fixture_open(&f, "process", NULL);
    char id[32];
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "z%02d", i);
        CHECK_INT(start_json(f.b, task_for("process", id, i % 2 ? RUN : EXIT, i % 4 == 0 ? 0 : 3)), 0);
    }
    long long end = test_now_ms() + DEADLINE_MS;
    while (count_state(&f.h, "running") < 20 && test_now_ms() < end)
        event_base_loop(f.h.base, EVLOOP_ONCE);
    for (int i = 1; i < 20; i += 2) {
        snprintf(id, sizeof id, "z%02d", i);
        CHECK_INT(f.b->stop(f.b, id, i % 4 == 1 ? 0 : 5000), 0);
    }
    end = test_now_ms() + DEADLINE_MS;
    while (count_state(&f.h, "shutdown") + count_state(&f.h, "complete") + count_state(&f.h, "failed") < 20 &&
           test_now_ms() < end)
        event_base_loop(f.h.base, EVLOOP_ONCE);
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "z%02d", i);
        CHECK_INT(f.b->remove(f.b, id), 0);
    }
    fixture_close(&f);
    CHECK_INT(count_zombie_children(), 0);
    CHECK(no_children_left());
}

int main(int argc, char **argv)
{
    atexit(kill_leftovers);
    /* Orphans (a shim whose node was killed, a task whose shim was) come to us, to be reaped and counted. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    static const test_case cases[] = {
        TEST(test_runtime__registry),
        BATTERY_CASES(fake),
        TEST(test_runtime__fake_scripted_delay),
        BATTERY_CASES(process),
        TEST(test_runtime__process_env_dir_args),
        TEST(test_runtime__process_rejections),
        TEST(test_runtime__process_user),
        TEST(test_runtime__process_signals),
        TEST(test_runtime__process_group),
        TEST(test_runtime__process_log_rotation),
        TEST(test_runtime__process_limits),
        TEST(test_runtime__process_readopt),
        TEST(test_runtime__process_readopt_while_starting),
        TEST(test_runtime__process_readopt_after_sigkill),
        TEST(test_runtime__process_readopt_burst_after_sigkill),
        TEST(test_runtime__process_task_dir_taken),
        TEST(test_runtime__process_shim_killed),
        TEST(test_runtime__process_no_state_dir),
        TEST(test_runtime__process_many_starts),
        TEST(test_runtime__process_launcher_killed),
        TEST(test_runtime__process_kill_then_close),
        TEST(test_runtime__process_no_zombies),
    };
    return test__run(cases, sizeof cases / sizeof cases[0], argc, argv);
}

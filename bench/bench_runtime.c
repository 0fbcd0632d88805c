/*
 * Process runtime start throughput: N `sleep 600` tasks started on the
 * "process" runtime from a libevent host, the way the agent does it (starts
 * issued from loop callbacks, BATCH per callback). Prints the time from the
 * first start to the last "running" report, the longest gap seen by a 10 ms
 * loop timer meanwhile (how long the loop was blocked), the node's minor
 * faults and RSS; then stops every task and removes them all (BATCH removals
 * per loop callback, as after `service rm`), with the loop's longest gap
 * meanwhile and the time until their task directories are gone; and checks
 * that no task process is left behind.
 *
 * By default it runs twice, with the state dir on /tmp (ext4 on the machines
 * this was tuned on: slow metadata operations) and on /dev/shm (tmpfs), and
 * ends with a summary of both.
 *
 * The bench process plays a node of realistic size: BALLAST MB of heap that a
 * loop timer keeps writing to (a tenth per tick) and two idle threads.
 *
 * Usage: bench_runtime [N] [--batch K] [--ballast MB] [--ballast-after-open] [--dir STATE_DIR]
 *   defaults: N=1000, K=50, MB=64, fresh state dirs under /tmp and under
 *   /dev/shm (deleted afterwards); --dir: that state dir only (kept).
 *   --ballast-after-open allocates the ballast after the runtime is opened
 *   (the node grows after start-up). On ext4, inodes freed less than a minute
 *   ago make new ones slow to allocate, so back-to-back runs disturb each
 *   other; pause between runs.
 */
#include "agent/runtime.h"
#include "swarm/log.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- host ---- */

typedef struct bench {
    swarm_runtime_host host;
    struct event_base *base;
    struct swarm_runtime_backend *rt;
    int n, batch, started, running, final, rejected, removed;
    long *pids;
    char (*ids)[32];
    double t_first_start, t_all_running;
    double in_start_ms;  /* spent inside start() */
    double in_remove_ms; /* spent inside remove() */
    double last_tick, max_gap;
    int measuring;
    unsigned char *ballast;
    size_t ballast_len, touch_pos;
    int watches, timers;
} bench;

typedef struct watch {
    struct event *ev;
    void (*cb)(int, void *);
    void *payload;
    bench *b;
} watch;

typedef struct timer {
    struct event *ev;
    void (*cb)(void *);
    void *payload;
    bench *b;
} timer;

static int task_index(bench *b, const char *id)
{
    int i = atoi(id + 1); /* "t%06d" */
    return i >= 0 && i < b->n && strcmp(b->ids[i], id) == 0 ? i : -1;
}

static void host_status(void *ctx, const char *task_id, const char *status_json)
{
    bench *b = ctx;
    json_t *o = json_loads(status_json, 0, NULL);
    const char *state = json_string_value(json_object_get(o, "State"));
    int i = task_index(b, task_id);
    if (state && i >= 0) {
        if (strcmp(state, "running") == 0) {
            b->pids[i] = (long)json_integer_value(json_object_get(o, "PID"));
            if (++b->running == b->n)
                b->t_all_running = now_ms();
        } else if (strcmp(state, "rejected") == 0) {
            b->rejected++;
            b->final++;
            fprintf(stderr, "task %s rejected: %s\n", task_id, json_string_value(json_object_get(o, "Err")));
        } else if (strcmp(state, "starting") != 0) {
            b->final++;
        }
    }
    json_decref(o);
}

static void watch_fired(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    watch *w = arg;
    w->cb((int)fd, w->payload);
}

static int host_watch_fd(void *ctx, int fd, void (*cb)(int, void *), void *payload, void **token)
{
    bench *b = ctx;
    watch *w = calloc(1, sizeof *w);
    if (w == NULL)
        return SWARM_ENOMEM;
    w->cb = cb;
    w->payload = payload;
    w->b = b;
    w->ev = event_new(b->base, fd, EV_READ | EV_PERSIST, watch_fired, w);
    if (w->ev == NULL || event_add(w->ev, NULL) != 0) {
        if (w->ev)
            event_free(w->ev);
        free(w);
        return SWARM_ENOMEM;
    }
    b->watches++;
    *token = w;
    return 0;
}

static void host_unwatch_fd(void *ctx, void *token)
{
    bench *b = ctx;
    watch *w = token;
    event_free(w->ev);
    free(w);
    b->watches--;
}

static void timer_fired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    timer *t = arg;
    void (*cb)(void *) = t->cb;
    void *payload = t->payload;
    t->b->timers--;
    event_free(t->ev);
    free(t);
    cb(payload);
}

static int host_timer(void *ctx, int64_t ms, void (*cb)(void *), void *payload, void **token)
{
    bench *b = ctx;
    timer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return SWARM_ENOMEM;
    t->cb = cb;
    t->payload = payload;
    t->b = b;
    t->ev = evtimer_new(b->base, timer_fired, t);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    if (t->ev == NULL || evtimer_add(t->ev, &tv) != 0) {
        if (t->ev)
            event_free(t->ev);
        free(t);
        return SWARM_ENOMEM;
    }
    b->timers++;
    *token = t;
    return 0;
}

static void host_cancel_timer(void *ctx, void *token)
{
    bench *b = ctx;
    timer *t = token;
    event_free(t->ev);
    free(t);
    b->timers--;
}

static int64_t host_now_ms(void *ctx)
{
    (void)ctx;
    return (int64_t)now_ms();
}

static void host_log(void *ctx, int level, const char *message)
{
    (void)ctx;
    if (level <= SWARM_LOG_WARN || getenv("SWARM_BENCH_VERBOSE"))
        fprintf(stderr, "  [runtime %d] %s\n", level, message);
}

/* ---- the loop's own work ---- */

/* Every 10 ms: note the gap since the last tick and write to a tenth of the ballast (a live node). */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bench *b = arg;
    double t = now_ms();
    if (b->measuring && t - b->last_tick > b->max_gap)
        b->max_gap = t - b->last_tick;
    b->last_tick = t;
    if (b->ballast_len) {
        size_t chunk = b->ballast_len / 10;
        for (size_t i = 0; i < chunk; i += 4096)
            b->ballast[(b->touch_pos + i) % b->ballast_len]++;
        b->touch_pos = (b->touch_pos + chunk) % b->ballast_len;
    }
}

static void on_start_batch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bench *b = arg;
    for (int k = 0; k < b->batch && b->started < b->n; k++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"ID\":\"%s\",\"Spec\":{\"ContainerSpec\":{\"Command\":[\"sleep\",\"600\"]}}}", b->ids[b->started]);
        double t0 = now_ms();
        int rc = b->rt->start(b->rt, json);
        b->in_start_ms += now_ms() - t0;
        if (rc != 0) {
            fprintf(stderr, "start %s: %d %s\n", b->ids[b->started], rc, swarm_error_last()->message);
            exit(1);
        }
        b->started++;
    }
    /* Through the timer heap (a zero timeout would run at once, in the same loop pass). */
    if (b->started < b->n)
        event_base_once(b->base, -1, EV_TIMEOUT, on_start_batch, b, &(struct timeval){0, 1});
}

static void on_remove_batch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bench *b = arg;
    for (int k = 0; k < b->batch && b->removed < b->n; k++) {
        double t0 = now_ms();
        int rc = b->rt->remove(b->rt, b->ids[b->removed]);
        b->in_remove_ms += now_ms() - t0;
        if (rc != 0)
            fprintf(stderr, "remove %s: %d %s\n", b->ids[b->removed], rc, swarm_error_last()->message);
        b->removed++;
    }
    if (b->removed < b->n)
        event_base_once(b->base, -1, EV_TIMEOUT, on_remove_batch, b, &(struct timeval){0, 1});
}

/* Entries in a directory (-1 if it cannot be read). */
static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0)
            v = atol(line + n + 1);
    if (f)
        fclose(f);
    return v;
}

static long minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static pid_t ppid_of(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    int ppid = 0;
    char st;
    if (p == NULL || sscanf(p + 2, "%c %d", &st, &ppid) != 2)
        return 0;
    return ppid;
}

/* Proportional set size of a process, kB (its fair share of pages shared with others). */
static long pss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Pss:", 4) == 0)
            v = atol(line + 4);
    if (f)
        fclose(f);
    return v;
}

static int alive(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[2] != 'Z' && p[2] != 'X';
}

static void *idle_thread(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static void loop_until(bench *b, int (*done)(bench *), double deadline_ms)
{
    while (!done(b) && now_ms() < deadline_ms)
        event_base_loop(b->base, EVLOOP_ONCE);
}

static int all_running(bench *b)
{
    return b->running + b->rejected >= b->n;
}

static int all_final(bench *b)
{
    return b->final >= b->n;
}

static int all_removed(bench *b)
{
    return b->removed >= b->n;
}

static void make_ballast(bench *b, size_t mb)
{
    b->ballast_len = mb << 20;
    if (b->ballast_len == 0)
        return;
    b->ballast = malloc(b->ballast_len);
    if (b->ballast == NULL) {
        fprintf(stderr, "no memory for the ballast\n");
        exit(1);
    }
    memset(b->ballast, 1, b->ballast_len);
}

typedef struct result {
    const char *label;
    double all_running_ms, start_stall_ms, in_start_ms;
    double stopped_ms, remove_stall_ms, in_remove_ms, dirs_gone_ms, deleted_ms;
    int ok;
} result;

/* One run on state dir `dir`. */
static result run(bench *b, const char *label, const char *dir, size_t ballast_mb, int ballast_after)
{
    result res;
    memset(&res, 0, sizeof res);
    res.label = label;
    b->started = b->running = b->final = b->rejected = b->removed = 0;
    b->in_start_ms = b->in_remove_ms = b->max_gap = 0;
    b->t_all_running = 0;
    memset(b->pids, 0, (size_t)b->n * sizeof *b->pids);

    b->host = (swarm_runtime_host){1, b, host_status, host_watch_fd, host_unwatch_fd, host_timer, host_cancel_timer,
                                   host_now_ms, host_log};
    b->base = event_base_new();
    swarm__err e;
    if (swarm__runtime_create("process", &b->rt, &e) != 0 || b->rt->open(b->rt, &b->host, dir) != 0) {
        fprintf(stderr, "cannot open the process runtime: %s\n", swarm_error_last()->message);
        exit(1);
    }
    if (ballast_after && b->ballast == NULL)
        make_ballast(b, ballast_mb);
    struct event *tick = event_new(b->base, -1, EV_PERSIST, on_tick, b);
    event_add(tick, &(struct timeval){0, 10000});

    printf("state dir %s (%s)\n", dir, label);
    long rss0 = status_kb("VmRSS:");
    long flt0 = minflt();
    b->last_tick = now_ms();
    b->measuring = 1;
    b->t_first_start = now_ms();
    event_base_once(b->base, -1, EV_TIMEOUT, on_start_batch, b, &(struct timeval){0, 1});
    loop_until(b, all_running, b->t_first_start + 120000);
    b->measuring = 0;
    long flt1 = minflt();
    long rss1 = status_kb("VmRSS:");
    if (b->running < b->n) {
        fprintf(stderr, "only %d of %d running (%d rejected)\n", b->running, b->n, b->rejected);
        b->t_all_running = now_ms();
    }
    res.all_running_ms = b->t_all_running - b->t_first_start;
    res.start_stall_ms = b->max_gap;
    res.in_start_ms = b->in_start_ms;
    printf("  all running after  %8.0f ms  (%.2f ms per task)\n", res.all_running_ms, res.all_running_ms / b->n);
    printf("  max loop stall     %8.1f ms\n", b->max_gap);
    printf("  inside start()     %8.0f ms  (%.3f ms per call)\n", b->in_start_ms, b->in_start_ms / b->n);
    printf("  node minor faults  %8ld during the starts\n", flt1 - flt0);
    printf("  node RSS           %8ld kB -> %ld kB\n", rss0, rss1);

    /* Memory of the shims (parents of the tasks): their fair share of what they map. */
    long pss = 0;
    int counted = 0;
    for (int i = 0; i < b->n; i += b->n >= 100 ? b->n / 100 : 1) {
        pid_t shim = b->pids[i] > 0 ? ppid_of(b->pids[i]) : 0;
        long v = shim > 1 ? pss_kb(shim) : -1;
        if (v >= 0) {
            pss += v;
            counted++;
        }
    }
    if (counted)
        printf("  shim PSS           %8.0f kB each (mean of %d)\n", (double)pss / counted, counted);

    double t_stop = now_ms();
    for (int i = 0; i < b->n; i++)
        b->rt->stop(b->rt, b->ids[i], 5000);
    loop_until(b, all_final, t_stop + 120000);
    res.stopped_ms = now_ms() - t_stop;
    printf("  all stopped after  %8.0f ms\n", res.stopped_ms);

    /* Removal, as after `service rm`: BATCH per loop callback; then until the task directories are gone. */
    char tasks[4200], trash[4200];
    snprintf(tasks, sizeof tasks, "%s/tasks", dir);
    snprintf(trash, sizeof trash, "%s/trash", dir); /* where the runtime may delete them from, in the background */
    double t_rm = now_ms();
    b->max_gap = 0;
    b->last_tick = now_ms();
    b->measuring = 1;
    event_base_once(b->base, -1, EV_TIMEOUT, on_remove_batch, b, &(struct timeval){0, 1});
    loop_until(b, all_removed, t_rm + 120000);
    while (count_entries(tasks) > 0 && now_ms() < t_rm + 120000)
        event_base_loop(b->base, EVLOOP_ONCE);
    res.dirs_gone_ms = now_ms() - t_rm;
    while (count_entries(trash) > 0 && now_ms() < t_rm + 120000)
        event_base_loop(b->base, EVLOOP_ONCE);
    res.deleted_ms = now_ms() - t_rm;
    b->measuring = 0;
    res.remove_stall_ms = b->max_gap;
    res.in_remove_ms = b->in_remove_ms;
    printf("  removals: inside remove() %.0f ms (%.3f ms per call), max loop stall %.1f ms\n", b->in_remove_ms,
           b->in_remove_ms / b->n, b->max_gap);
    printf("  task dirs gone from tasks/ after %.0f ms, files all deleted after %.0f ms\n", res.dirs_gone_ms,
           res.deleted_ms);

    b->rt->close(b->rt);
    b->rt->free(b->rt);
    event_free(tick);
    int left = 0;
    for (int i = 0; i < b->n; i++)
        if (b->pids[i] > 0 && alive(b->pids[i])) {
            left++;
            kill(-(pid_t)b->pids[i], SIGKILL);
        }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    printf("  removed %d, task processes left behind: %d, watches %d, timers %d\n", b->removed, left, b->watches,
           b->timers);
    event_base_free(b->base);
    b->base = NULL;
    res.ok = left == 0 && b->rejected == 0 && b->running == b->n;
    return res;
}

int main(int argc, char **argv)
{
    bench b;
    memset(&b, 0, sizeof b);
    b.n = 1000;
    b.batch = 50;
    size_t ballast_mb = 64;
    int ballast_after = 0;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            b.batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--ballast") == 0 && i + 1 < argc)
            ballast_mb = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--ballast-after-open") == 0)
            ballast_after = 1;
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (argv[i][0] >= '0' && argv[i][0] <= '9')
            b.n = atoi(argv[i]);
        else {
            fprintf(stderr, "usage: %s [N] [--batch K] [--ballast MB] [--ballast-after-open] [--dir STATE_DIR]\n",
                    argv[0]);
            return 2;
        }
    }
    if (b.n < 1 || b.batch < 1)
        return 2;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)(4 * b.n + 256)) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)(4 * b.n + 256) ? rl.rlim_max : (rlim_t)(4 * b.n + 256);
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    b.pids = calloc((size_t)b.n, sizeof *b.pids);
    b.ids = calloc((size_t)b.n, sizeof *b.ids);
    for (int i = 0; i < b.n; i++)
        snprintf(b.ids[i], sizeof b.ids[i], "t%06d", i);

    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, idle_thread, NULL);
    if (!ballast_after)
        make_ballast(&b, ballast_mb);

    printf("process runtime: %d x `sleep 600`, %d starts (and removals) per loop callback, %zu MB ballast (%s open), "
           "2 idle threads\n",
           b.n, b.batch, ballast_mb, ballast_after ? "after" : "before");
    result res[2];
    int n_res = 0;
    if (dir) {
        res[n_res++] = run(&b, "given", dir, ballast_mb, ballast_after);
    } else {
        const char *bases[2][2] = {{"/tmp", "/tmp"}, {"/dev/shm", "/dev/shm (tmpfs)"}};
        for (int k = 0; k < 2; k++) {
            char tmpl[256];
            snprintf(tmpl, sizeof tmpl, "%s/bench-runtime-XXXXXX", bases[k][0]);
            if (mkdtemp(tmpl) == NULL) {
                fprintf(stderr, "mkdtemp %s: %s; skipped\n", tmpl, strerror(errno));
                continue;
            }
            res[n_res++] = run(&b, bases[k][1], tmpl, ballast_mb, ballast_after);
            nftw(tmpl, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
    }
    int ok = 1;
    printf("\nsummary, %d tasks:   all running  start stall  in start()  remove stall  in remove()  dirs gone  deleted\n",
           b.n);
    for (int k = 0; k < n_res; k++) {
        printf("  %-17s %8.0f ms  %8.1f ms  %7.0f ms  %9.1f ms  %8.0f ms  %6.0f ms  %4.0f ms\n", res[k].label,
               res[k].all_running_ms, res[k].start_stall_ms, res[k].in_start_ms, res[k].remove_stall_ms,
               res[k].in_remove_ms, res[k].dirs_gone_ms, res[k].deleted_ms);
        ok &= res[k].ok;
    }
    free(b.pids);
    free(b.ids);
    free(b.ballast);
    return ok && n_res > 0 ? 0 : 1;
}

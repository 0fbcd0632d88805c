/*
 * The "process" runtime: each task is a host process tree run by a shim (see
 * shim.c) that outlives the node. The node keeps a task table, learns that a
 * task runs from the shim's control pipe and that it ended from a pidfd on the
 * shim, and reads the outcome from the exit file the shim wrote. Everything a
 * restarted node needs to re-adopt its tasks is in the task directories (see
 * process.h).
 *
 * The shims are forked by the launcher (launcher.c), a small child forked at
 * open: a start prepares the launch here, queues the request and returns; the
 * launcher's reply (the shim's pid) arrives on the loop. Requests the socket
 * cannot take yet wait in a queue, flushed as replies come back. A launcher
 * that dies is replaced (or, failing that, the node forks shims itself).
 *
 * No per-task file is made or deleted on the loop: each shim makes its task
 * directory and state.json (they overlap across shims, where the loop would
 * do them one by one, milliseconds each on a busy ext4), and a removal is a
 * request to the launcher, which renames the directory into the trash and
 * deletes it while idle. The loop only reads small files (the exit file, at
 * a task's end) and writes "lost" when a shim vanished without one.
 *
 * Crash safety. A task's directory is made by its shim, which writes
 * state.json (with its own pid) before it forks the task; a shim that dies
 * before that leaves at most a directory without state.json and no task. The
 * shim holds the state dir's launch.lock (inherited from the node through the
 * launcher) until then, and open takes that lock before it scans: a node that
 * restarts while its predecessor's launcher is still draining requests, or
 * while shims are half-way, waits for them (bounded) and then sees every
 * task whose start was taken, each with its state.json and shim pid. A
 * directory without state.json found by such an open ran nothing and is
 * deleted. Starts still queued in this node when it dies were never taken:
 * nobody started them.
 *
 * Status reports never happen inside a method: methods queue them and a host
 * timer delivers them, so callers are never re-entered.
 */
#include "agent/runtime.h"
#include "backends/runtime/process/process.h"
#include "core/json.h"
#include "swarm/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define DEFAULT_GRACE_MS 10000
#define POLL_MS 100 /* liveness polling when pidfds are missing (Linux < 5.3) */
#define RETRY_MS 5  /* the launcher's socket was full and no reply is due to flush it */
#define CLOSE_WAIT_MS 3000   /* close: how long the launcher gets to take the last requests and exit */
#define ADOPT_LAUNCH_MS 10000 /* re-adopted before its shim was known: how long its pid file may take */
#define LOCK_WAIT_MS 10000    /* open: how long launches of a previous node may hold launch.lock */
#define LAUNCH_ATTEMPTS 3     /* requests lost with a dead launcher are sent again this often */
#define LAUNCHER_QUICK_MS 1000 /* a launcher dying this soon after its start counts as a quick death */
#define LAUNCHER_QUICK_MAX 3   /* after this many quick deaths in a row, the node forks shims itself */

typedef enum pstate { P_STARTING, P_RUNNING, P_COMPLETE, P_FAILED, P_REJECTED, P_SHUTDOWN } pstate;

static const char *const state_names[] = {"starting", "running", "complete", "failed", "rejected", "shutdown"};

enum { R_STARTING = 1, R_RUNNING = 2, R_FINAL = 4 };

/* Where a task's launch request is. */
enum {
    L_NONE,   /* not waiting on the launcher */
    L_QUEUED, /* in the backend's send queue */
    L_SENT,   /* sent; its reply is due */
    L_LIMBO   /* sent to a launcher that died unanswered: the control pipe tells whether a shim exists */
};

typedef struct process_backend process_backend;

typedef struct ptask {
    struct ptask *next;
    process_backend *b;
    char *id;
    char *dir, *log_path, *state_path, *exit_path, *pid_path;
    int on_disk;  /* has a task directory (not for tasks rejected before forking) */
    char *cgroup; /* its cgroup directory, or NULL */
    char *limits; /* how limits are enforced, for the running message, or NULL */
    pstate state;
    pid_t shim_pid;
    unsigned long long shim_start;
    pid_t pid; /* the task's main process (and process group), 0 until known */
    unsigned long long pid_start;
    int stop_signal;
    int64_t stop_grace_ms;
    int stop_requested;
    int exit_code;
    char err[512];
    int ctl_fd;
    void *ctl_token;
    int pidfd;
    void *pidfd_token;
    void *poll_timer, *kill_timer, *report_timer;
    void *pidfile_timer; /* re-adopted while starting: waits for the shim's pid file */
    int64_t adopt_deadline; /* re-adopted without a known shim: when to give up on its pid file */
    unsigned pending; /* R_* reports queued */
    int stop_kill;    /* stopped with no grace: SIGKILL as soon as the pid is known */
    /* The launch request, kept until the launcher answers (it is sent again if the launcher dies). */
    int launch;               /* L_* */
    struct ptask *launch_next; /* in the send queue or the in-flight queue */
    char *req;
    size_t req_len;
    int req_fd; /* the control pipe's write end, until sent */
    uint64_t seq;
    int launch_attempts;
    int removal;                /* not a task: a removal request for the launcher (t->dir) */
    int fail_stage, fail_err;   /* the shim's SWARM__SHIM_FAILED message */
} ptask;

struct process_backend {
    struct swarm_runtime_backend base;
    const swarm_runtime_host *host;
    char *state_dir;
    char *tasks_dir;
    char *trash_dir; /* removed task directories, deleted by the launcher */
    int lock_fd;     /* launch.lock, flock'ed (see the top of this file), or -1 */
    int lock_timed_out; /* open could not get it: launches of another node may be under way */
    int own_state_dir; /* made by us (no state_dir given): removed by free */
    int cgroups;       /* cgroups v2 usable */
    ptask *tasks;
    /* The launcher: its pid and socket (-1: none, the node forks shims itself). */
    pid_t launcher_pid;
    int launcher_fd;
    void *launcher_token, *launcher_timer;
    int64_t launcher_started_ms;
    int launcher_quick_deaths;
    ptask *sendq, *sendq_tail;     /* requests not yet taken by the socket, in start order */
    ptask *inflight, *inflight_tail; /* sent, awaiting their replies (which come in the same order) */
    uint64_t seq;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logf_(process_backend *b, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logf_(process_backend *b, int level, const char *fmt, ...)
{
    if (b->host == NULL || b->host->log == NULL)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    b->host->log(b->host->ctx, level, line);
}

static int is_final(pstate s)
{
    return s >= P_COMPLETE;
}

static int valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 128 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.'))
            return 0;
    }
    return 1;
}

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

static ptask *find(process_backend *b, const char *id)
{
    for (ptask *t = b->tasks; t; t = t->next)
        if (strcmp(t->id, id) == 0)
            return t;
    return NULL;
}

static void task_release(ptask *t)
{
    const swarm_runtime_host *h = t->b->host;
    if (h) {
        if (t->ctl_token)
            h->unwatch_fd(h->ctx, t->ctl_token);
        if (t->pidfd_token)
            h->unwatch_fd(h->ctx, t->pidfd_token);
        void **timers[] = {&t->poll_timer, &t->kill_timer, &t->report_timer, &t->pidfile_timer};
        for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++)
            if (*timers[i])
                h->cancel_timer(h->ctx, *timers[i]);
    }
    t->ctl_token = t->pidfd_token = t->poll_timer = t->kill_timer = t->report_timer = t->pidfile_timer = NULL;
    if (t->ctl_fd >= 0)
        close(t->ctl_fd);
    if (t->pidfd >= 0) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        waitid(P_PIDFD, (id_t)t->pidfd, &si, WEXITED | WNOHANG); /* reaps a shim that ended meanwhile */
        close(t->pidfd);
    }
    t->ctl_fd = t->pidfd = -1;
    if (t->req_fd >= 0)
        close(t->req_fd);
    t->req_fd = -1;
    free(t->req);
    t->req = NULL;
}

static void task_free(ptask *t)
{
    if (t == NULL)
        return;
    task_release(t);
    free(t->id);
    free(t->dir);
    free(t->log_path);
    free(t->state_path);
    free(t->exit_path);
    free(t->pid_path);
    free(t->cgroup);
    free(t->limits);
    free(t);
}

static ptask *task_new(process_backend *b, const char *id)
{
    ptask *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->b = b;
    t->ctl_fd = t->pidfd = t->req_fd = -1;
    t->stop_signal = SIGTERM;
    t->stop_grace_ms = -1;
    t->id = strdup(id);
    t->dir = path_join(b->tasks_dir, id);
    if (t->dir) {
        t->log_path = path_join(t->dir, "log");
        t->state_path = path_join(t->dir, "state.json");
        t->exit_path = path_join(t->dir, "exit");
        t->pid_path = path_join(t->dir, "pid");
    }
    if (!t->id || !t->dir || !t->log_path || !t->state_path || !t->exit_path || !t->pid_path) {
        task_free(t);
        return NULL;
    }
    return t;
}

static void unlink_task(ptask *t)
{
    for (ptask **p = &t->b->tasks; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            return;
        }
}

/* ---- reports ---- */

static void emit(ptask *t, pstate state)
{
    const swarm_runtime_host *h = t->b->host;
    json_t *o = json_object();
    if (o == NULL || h == NULL)
        goto out;
    json_object_set_new(o, "State", json_string(state_names[state]));
    const char *msg = state == P_STARTING ? "starting"
                    : state == P_RUNNING  ? "started"
                    : state == P_SHUTDOWN ? "shutdown"
                    : state == P_REJECTED ? "rejected"
                                          : "finished";
    if (state == P_RUNNING && t->limits) {
        char buf[600];
        snprintf(buf, sizeof buf, "started (limits: %s)", t->limits);
        json_object_set_new(o, "Message", json_string(buf));
    } else {
        json_object_set_new(o, "Message", json_string(msg));
    }
    if (is_final(state) && t->err[0])
        json_object_set_new(o, "Err", json_string(t->err));
    if (is_final(state) && state != P_REJECTED)
        json_object_set_new(o, "ExitCode", json_integer(t->exit_code));
    if (t->pid > 0 && state != P_STARTING)
        json_object_set_new(o, "PID", json_integer(t->pid));
    if (t->on_disk)
        json_object_set_new(o, "ContainerID", json_string(t->id));
    char *text = swarm__json_dump(o);
    if (text)
        h->status(h->ctx, t->id, text);
    free(text);
out:
    json_decref(o);
}

/* Delivers the queued reports in order. The final one comes last: the host may remove t from inside it. */
static void flush(ptask *t)
{
    const swarm_runtime_host *h = t->b->host;
    if (t->report_timer) {
        h->cancel_timer(h->ctx, t->report_timer);
        t->report_timer = NULL;
    }
    unsigned pending = t->pending;
    t->pending = 0;
    if (pending & R_STARTING)
        emit(t, P_STARTING);
    if ((pending & R_RUNNING) && (t->state == P_RUNNING || is_final(t->state)) && t->state != P_REJECTED)
        emit(t, P_RUNNING);
    if ((pending & R_FINAL) && is_final(t->state))
        emit(t, t->state);
}

static void on_report_timer(void *payload)
{
    ptask *t = payload;
    t->report_timer = NULL;
    flush(t);
}

/* From a method: reports later, from the loop. */
static void queue(ptask *t, unsigned what)
{
    const swarm_runtime_host *h = t->b->host;
    t->pending |= what;
    if (t->report_timer == NULL && h->timer(h->ctx, 0, on_report_timer, t, &t->report_timer) != 0)
        t->report_timer = NULL; /* out of memory: the next event flushes */
}

/* ---- state on disk ---- */

/* state.json as the node knows it; with_pids 0: without its closing brace (the shim adds its own pid). */
static char *state_text(ptask *t, int with_pids)
{
    json_t *o = json_pack("{s:s, s:i, s:I}", "ID", t->id, "StopSignal", t->stop_signal, "StopGraceMs",
                          (json_int_t)t->stop_grace_ms);
    if (o == NULL)
        return NULL;
    if (t->cgroup)
        json_object_set_new(o, "Cgroup", json_string(t->cgroup));
    if (t->limits)
        json_object_set_new(o, "Limits", json_string(t->limits));
    if (with_pids) {
        json_object_set_new(o, "ShimPID", json_integer(t->shim_pid));
        json_object_set_new(o, "ShimStart", json_integer((json_int_t)t->shim_start));
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    size_t n = text ? strlen(text) : 0;
    if (!with_pids && n > 0 && text[n - 1] == '}')
        text[n - 1] = '\0';
    return text;
}

/* Close only: a task whose request never left the node is recorded on disk as ended unstarted. */
static void write_unstarted(ptask *t, const char *exit_text)
{
    char *text = state_text(t, 1);
    if (text == NULL || (mkdir(t->dir, 0700) != 0 && errno != EEXIST) ||
        swarm__file_write_atomic(t->state_path, text) != 0 || swarm__file_write_atomic(t->exit_path, exit_text) != 0)
        logf_(t->b, SWARM_LOG_WARN, "runtime process: task %s: cannot record it in %s: %s", t->id, t->dir,
              strerror(errno));
    free(text);
}

static const char *stage_name(int stage)
{
    switch (stage) {
    case SWARM__STAGE_CGROUP:
        return "joining its cgroup";
    case SWARM__STAGE_RLIMIT:
        return "setrlimit";
    case SWARM__STAGE_CHDIR:
        return "chdir";
    case SWARM__STAGE_USER:
        return "switching user";
    case SWARM__STAGE_EXEC:
        return "exec";
    default:
        return "runtime shim";
    }
}

/* Sets the final state from the exit file's text (NULL: the shim died without writing it). */
static void apply_exit(ptask *t, const char *text)
{
    unsigned a = 0, c = 0;
    char sig[32];
    if (text && sscanf(text, "exited %u", &a) == 1) {
        t->exit_code = (int)a;
        t->err[0] = '\0';
        if (t->stop_requested)
            t->state = P_SHUTDOWN;
        else if (a == 0)
            t->state = P_COMPLETE;
        else {
            t->state = P_FAILED;
            snprintf(t->err, sizeof t->err, "task: non-zero exit (%u)", a);
        }
    } else if (text && sscanf(text, "signaled %u", &a) == 1) {
        t->exit_code = 128 + (int)a;
        t->err[0] = '\0';
        if (t->stop_requested) {
            t->state = P_SHUTDOWN;
        } else {
            t->state = P_FAILED;
            snprintf(t->err, sizeof t->err, "task: killed by signal %s (exit code %d)",
                     swarm__signal_name((int)a, sig, sizeof sig), t->exit_code);
        }
    } else if (text && strncmp(text, "cancelled", 9) == 0) {
        /* Stopped before its launch request left the node: it never ran. */
        t->state = P_SHUTDOWN;
        t->exit_code = 0;
        t->err[0] = '\0';
    } else if (text && sscanf(text, "error %u %u", &a, &c) == 2) {
        t->state = P_REJECTED;
        t->exit_code = 0;
        if ((int)a == SWARM__STAGE_TASKDIR && c == EEXIST)
            snprintf(t->err, sizeof t->err, "task directory %s already exists", t->dir);
        else if ((int)a == SWARM__STAGE_TASKDIR)
            snprintf(t->err, sizeof t->err, "creating the task directory %s: %s", t->dir, strerror((int)c));
        else if ((int)a == SWARM__STAGE_EXEC && (c == ENOENT || c == EACCES))
            snprintf(t->err, sizeof t->err, "exec: %s", c == ENOENT ? "no such file or directory" : "permission denied");
        else
            snprintf(t->err, sizeof t->err, "starting the task: %s: %s", stage_name((int)a), strerror((int)c));
    } else {
        t->state = P_FAILED;
        t->exit_code = -1;
        if (t->err[0] == '\0')
            snprintf(t->err, sizeof t->err, "runtime shim ended unexpectedly; the task's exit status is unknown");
    }
}

/* ---- signals ---- */

static void signal_task(ptask *t, int sig)
{
    if (t->pid <= 0)
        return;
    if (t->pidfd >= 0) {
        /* The shim reaps the task just before it exits: once it is gone, the pid is free for reuse. */
        struct pollfd p = {t->pidfd, POLLIN, 0};
        if (poll(&p, 1, 0) == 1)
            return;
    }
    if (kill(-t->pid, sig) != 0 && errno == ESRCH)
        kill(t->pid, sig);
}

/* Fills pid/shim pid from the shim's pid file when the node missed its message. */
static void read_pid_file(ptask *t)
{
    char *text = swarm__file_read(t->pid_path);
    if (text == NULL)
        return;
    long long sp = 0, pp = 0;
    unsigned long long ss = 0, ps = 0;
    if (sscanf(text, "%lld %llu %lld %llu", &sp, &ss, &pp, &ps) == 4) {
        if (t->shim_pid <= 0) {
            t->shim_pid = (pid_t)sp;
            t->shim_start = ss;
        }
        if (t->pid <= 0 && sp == t->shim_pid) {
            t->pid = (pid_t)pp;
            t->pid_start = ps;
        }
    }
    free(text);
}

static void on_kill_timer(void *payload)
{
    ptask *t = payload;
    t->kill_timer = NULL;
    if (t->pid <= 0)
        read_pid_file(t);
    if (t->pid > 0) {
        logf_(t->b, SWARM_LOG_INFO, "runtime process: task %s did not stop in time: SIGKILL", t->id);
        signal_task(t, SIGKILL);
        return;
    }
    /* Not running yet: try again shortly (the shim reports within milliseconds). */
    const swarm_runtime_host *h = t->b->host;
    if (h->timer(h->ctx, POLL_MS, on_kill_timer, t, &t->kill_timer) != 0)
        t->kill_timer = NULL;
}

/* ---- the shim's control pipe and exit ---- */

static int watch_shim(ptask *t);
static void relaunch(ptask *t);

static void close_ctl(ptask *t)
{
    if (t->ctl_token)
        t->b->host->unwatch_fd(t->b->host->ctx, t->ctl_token);
    t->ctl_token = NULL;
    if (t->ctl_fd >= 0)
        close(t->ctl_fd);
    t->ctl_fd = -1;
}

static void read_ctl(ptask *t)
{
    swarm__shim_msg msg;
    ssize_t r;
    do
        r = read(t->ctl_fd, &msg, sizeof msg);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno == EAGAIN)
        return;
    if (r == (ssize_t)sizeof msg && t->launch == L_LIMBO && msg.shim_pid > 0) {
        /* Its launcher died before answering, but had forked the shim: learn it from the shim itself. */
        t->launch = L_NONE;
        free(t->req);
        t->req = NULL;
        t->shim_pid = msg.shim_pid;
        t->shim_start = swarm__proc_start_time(t->shim_pid); /* its state.json has it too */
        logf_(t->b, SWARM_LOG_DEBUG, "runtime process: task %s: shim %d found after its launcher died", t->id,
              (int)t->shim_pid);
        if (watch_shim(t) != 0)
            logf_(t->b, SWARM_LOG_ERROR, "runtime process: task %s: cannot watch its shim", t->id);
    }
    if (r == (ssize_t)sizeof msg && msg.kind == SWARM__SHIM_STARTED && t->state == P_STARTING) {
        t->pid = msg.pid;
        t->pid_start = msg.pid_start;
        t->state = P_RUNNING;
        t->pending |= R_RUNNING;
        logf_(t->b, SWARM_LOG_DEBUG, "runtime process: task %s running as pid %d", t->id, (int)t->pid);
        if (t->stop_requested)
            signal_task(t, t->stop_kill ? SIGKILL : t->stop_signal);
    }
    if (r == (ssize_t)sizeof msg && msg.kind == SWARM__SHIM_FAILED) {
        /* Its outcome, without reading the exit file (there is none when the directory could not be made). */
        t->fail_stage = msg.stage > 0 ? msg.stage : SWARM__STAGE_SHIM;
        t->fail_err = msg.err;
        if (msg.stage == SWARM__STAGE_TASKDIR)
            t->on_disk = 0; /* not made, or not ours */
    }
    close_ctl(t); /* one message, or EOF */
    if (r == 0 && t->launch == L_LIMBO)
        relaunch(t); /* no shim ever held the pipe: the request died with the launcher */
}

static void on_ctl(int fd, void *payload)
{
    (void)fd;
    ptask *t = payload;
    read_ctl(t);
    flush(t);
}

/* The shim is gone: reap it if it is ours, read the outcome, report. */
static void finish(ptask *t)
{
    const swarm_runtime_host *h = t->b->host;
    if (t->ctl_fd >= 0)
        read_ctl(t);
    if (t->pidfd_token)
        h->unwatch_fd(h->ctx, t->pidfd_token);
    t->pidfd_token = NULL;
    if (t->pidfd >= 0) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        waitid(P_PIDFD, (id_t)t->pidfd, &si, WEXITED | WNOHANG);
        close(t->pidfd);
        t->pidfd = -1;
    } else if (t->shim_pid > 0) {
        int status;
        waitpid(t->shim_pid, &status, WNOHANG);
    }
    if (t->poll_timer)
        h->cancel_timer(h->ctx, t->poll_timer);
    if (t->kill_timer)
        h->cancel_timer(h->ctx, t->kill_timer);
    if (t->pidfile_timer)
        h->cancel_timer(h->ctx, t->pidfile_timer);
    t->poll_timer = t->kill_timer = t->pidfile_timer = NULL;
    if (t->fail_stage) {
        char text[64];
        snprintf(text, sizeof text, "error %d %d\n", t->fail_stage, t->fail_err);
        apply_exit(t, text);
    } else {
        char *text = t->on_disk ? swarm__file_read(t->exit_path) : NULL;
        apply_exit(t, text);
        if (text == NULL && t->on_disk)
            swarm__file_write_atomic(t->exit_path, "lost\n"); /* rare: the shim vanished without a word */
        free(text);
    }
    logf_(t->b, SWARM_LOG_DEBUG, "runtime process: task %s %s%s%s", t->id, state_names[t->state],
          t->err[0] ? ": " : "", t->err);
    t->pending |= R_FINAL;
    flush(t); /* last: t may be removed from the host's callback */
}

static void on_pidfd(int fd, void *payload)
{
    (void)fd;
    finish(payload);
}

static int shim_alive(ptask *t)
{
    if (t->shim_pid <= 0)
        return 0;
    int status;
    pid_t r = waitpid(t->shim_pid, &status, WNOHANG);
    if (r == t->shim_pid)
        return 0; /* our child, just reaped */
    if (r == 0)
        return 1; /* our child, running */
    unsigned long long start = swarm__proc_start_time(t->shim_pid);
    return start != 0 && start == t->shim_start;
}

static void on_poll_timer(void *payload)
{
    ptask *t = payload;
    t->poll_timer = NULL;
    if (t->ctl_fd >= 0) {
        read_ctl(t);
        flush(t);
    }
    if (!shim_alive(t)) {
        finish(t);
        return;
    }
    const swarm_runtime_host *h = t->b->host;
    if (h->timer(h->ctx, POLL_MS, on_poll_timer, t, &t->poll_timer) != 0)
        t->poll_timer = NULL;
}

/* Watches the shim for its exit: a pidfd when the kernel has them, else a poll tick. */
static int watch_shim(ptask *t)
{
    const swarm_runtime_host *h = t->b->host;
    int fd = (int)syscall(SYS_pidfd_open, t->shim_pid, 0);
    if (fd >= 0) {
        /* The pid could have been reused between the caller's check and pidfd_open. */
        unsigned long long start = swarm__proc_start_time(t->shim_pid);
        if (t->shim_start != 0 && start != t->shim_start) {
            close(fd);
            return h->timer(h->ctx, 0, on_poll_timer, t, &t->poll_timer);
        }
        if (h->watch_fd(h->ctx, fd, on_pidfd, t, &t->pidfd_token) != 0) {
            close(fd);
            t->pidfd_token = NULL;
            return h->timer(h->ctx, POLL_MS, on_poll_timer, t, &t->poll_timer);
        }
        t->pidfd = fd;
        return 0;
    }
    /* ESRCH: already gone (the poll tick finds that at once); ENOSYS: old kernel. */
    return h->timer(h->ctx, errno == ESRCH ? 0 : POLL_MS, on_poll_timer, t, &t->poll_timer);
}

/* ---- launching shims ---- */

static void fifo_push(ptask **head, ptask **tail, ptask *t)
{
    t->launch_next = NULL;
    if (*tail)
        (*tail)->launch_next = t;
    else
        *head = t;
    *tail = t;
}

static void fifo_remove(ptask **head, ptask **tail, ptask *t)
{
    ptask *prev = NULL;
    for (ptask *p = *head; p; prev = p, p = p->launch_next) {
        if (p != t)
            continue;
        if (prev)
            prev->launch_next = p->launch_next;
        else
            *head = p->launch_next;
        if (*tail == t)
            *tail = prev;
        t->launch_next = NULL;
        return;
    }
}

/* Takes t out of whichever launch queue holds it and drops its request. */
static void launch_forget(ptask *t)
{
    process_backend *b = t->b;
    if (t->launch == L_QUEUED)
        fifo_remove(&b->sendq, &b->sendq_tail, t);
    else if (t->launch == L_SENT)
        fifo_remove(&b->inflight, &b->inflight_tail, t);
    t->launch = L_NONE;
    free(t->req);
    t->req = NULL;
    if (t->req_fd >= 0)
        close(t->req_fd);
    t->req_fd = -1;
}

/* The shim exists: record it and watch its control pipe and its exit (what start did right after fork). */
static void launched(ptask *t, pid_t shim, unsigned long long shim_start)
{
    process_backend *b = t->b;
    launch_forget(t);
    t->shim_pid = shim;
    t->shim_start = shim_start ? shim_start : swarm__proc_start_time(shim);
    if (t->ctl_fd >= 0 && b->host->watch_fd(b->host->ctx, t->ctl_fd, on_ctl, t, &t->ctl_token) != 0)
        t->ctl_token = NULL; /* the poll tick or the shim's exit reads it */
    if (watch_shim(t) != 0 && t->ctl_token == NULL)
        logf_(b, SWARM_LOG_ERROR, "runtime process: task %s: cannot watch its shim", t->id);
    logf_(b, SWARM_LOG_DEBUG, "runtime process: task %s: shim %d started", t->id, (int)shim);
}

/* No shim could be started for a task already reported "starting": it ends "rejected". */
static void launch_failed(ptask *t, const char *why)
{
    launch_forget(t);
    close_ctl(t);
    snprintf(t->err, sizeof t->err, "%s", why);
    if (t->cgroup)
        swarm__cgroup_remove(t->cgroup);
    free(t->cgroup);
    t->cgroup = NULL;
    t->on_disk = 0; /* no shim ran: no directory (a partial one from a killed shim goes at the next open) */
    t->state = P_REJECTED;
    logf_(t->b, SWARM_LOG_INFO, "runtime process: task %s rejected: %s", t->id, t->err);
    queue(t, R_FINAL);
}

/* Forks the shim from the node itself: the fallback when there is no launcher. 0 or -1 (errno). */
static int fork_shim(const swarm__launch *l, int ctl_w, int lock_fd, pid_t *out)
{
    pid_t shim = fork();
    if (shim == 0)
        swarm__shim_run(l, ctl_w, lock_fd);
    if (shim < 0)
        return -1;
    *out = shim;
    return 0;
}

/* Launches a queued request without the launcher. */
static void launch_direct(ptask *t)
{
    size_t n_ptrs = t->req_len / 2 + 2, n_groups = t->req_len / sizeof(uint32_t) + 1;
    char **ptrs = malloc(n_ptrs * sizeof *ptrs);
    gid_t *groups = malloc(n_groups * sizeof *groups);
    swarm__launch l;
    uint64_t seq;
    char why[300];
    pid_t shim = 0;
    int rc = -1;
    if (ptrs == NULL || groups == NULL)
        snprintf(why, sizeof why, "out of memory");
    else if (swarm__launch_decode(&l, &seq, t->req, t->req_len, ptrs, n_ptrs, groups, n_groups) != 0)
        snprintf(why, sizeof why, "runtime process: malformed launch request");
    else if ((rc = fork_shim(&l, t->req_fd, t->b->lock_fd, &shim)) != 0)
        snprintf(why, sizeof why, "fork: %s", strerror(errno));
    free(ptrs);
    free(groups);
    if (rc == 0)
        launched(t, shim, 0);
    else
        launch_failed(t, why);
}

static void launcher_lost(process_backend *b, const char *why);
static void launcher_flush(process_backend *b);

/* Sends t's request with its control pipe's write end (a removal has none). sendmsg's result. */
static ssize_t send_request(int fd, const ptask *t)
{
    if (t->req_fd < 0)
        return send(fd, t->req, t->req_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {t->req, t->req_len};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control.bytes;
    mh.msg_controllen = sizeof control.bytes;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &t->req_fd, sizeof(int));
    return sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* A removal done here, without the launcher (the fallback, and close). */
static void removal_direct(ptask *t)
{
    swarm__remove_tree(t->dir);
    task_free(t);
}

static void on_launcher_retry(void *payload)
{
    process_backend *b = payload;
    b->launcher_timer = NULL;
    launcher_flush(b);
}

/* Sends what the socket takes, never blocking; the rest waits for the next reply (or a short retry timer). */
static void launcher_flush(process_backend *b)
{
    const swarm_runtime_host *h = b->host;
    while (b->sendq) {
        ptask *t = b->sendq;
        if (b->launcher_fd < 0) {
            fifo_remove(&b->sendq, &b->sendq_tail, t);
            t->launch = L_NONE;
            if (t->removal)
                removal_direct(t);
            else
                launch_direct(t);
            continue;
        }
        if (send_request(b->launcher_fd, t) >= 0) {
            fifo_remove(&b->sendq, &b->sendq_tail, t);
            if (t->req_fd >= 0)
                close(t->req_fd); /* the launcher has its own copy now */
            t->req_fd = -1;
            t->launch = L_SENT;
            fifo_push(&b->inflight, &b->inflight_tail, t);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
            if (b->launcher_timer == NULL && h->timer(h->ctx, RETRY_MS, on_launcher_retry, b, &b->launcher_timer) != 0)
                b->launcher_timer = NULL;
            return;
        }
        if (errno == EMSGSIZE) {
            fifo_remove(&b->sendq, &b->sendq_tail, t);
            t->launch = L_NONE;
            if (t->removal)
                removal_direct(t);
            else
                launch_direct(t);
            continue;
        }
        launcher_lost(b, strerror(errno));
    }
}

static void on_launcher(int fd, void *payload);

/* Forks a launcher; on failure the node forks shims itself. */
static void launcher_start(process_backend *b)
{
    const swarm_runtime_host *h = b->host;
    pid_t pid;
    int fd;
    if (swarm__launcher_spawn(b->trash_dir, b->lock_fd, &pid, &fd) != 0) {
        logf_(b, SWARM_LOG_WARN, "runtime process: cannot start the launcher (%s); the node forks shims itself",
              strerror(errno));
        return;
    }
    if (h->watch_fd(h->ctx, fd, on_launcher, b, &b->launcher_token) != 0) {
        b->launcher_token = NULL;
        close(fd); /* EOF: it exits */
        int status;
        waitpid(pid, &status, 0);
        logf_(b, SWARM_LOG_WARN, "runtime process: cannot watch the launcher; the node forks shims itself");
        return;
    }
    b->launcher_pid = pid;
    b->launcher_fd = fd;
    b->launcher_started_ms = mono_ms();
    logf_(b, SWARM_LOG_DEBUG, "runtime process: launcher %d started", (int)pid);
}

/* Lets go of the launcher's socket, timer and process. */
static void launcher_drop(process_backend *b)
{
    const swarm_runtime_host *h = b->host;
    if (b->launcher_token)
        h->unwatch_fd(h->ctx, b->launcher_token);
    if (b->launcher_timer)
        h->cancel_timer(h->ctx, b->launcher_timer);
    b->launcher_token = b->launcher_timer = NULL;
    if (b->launcher_fd >= 0)
        close(b->launcher_fd);
    b->launcher_fd = -1;
}

/* Waits for the launcher to exit (it does at EOF) until deadline, then kills it. */
static void launcher_reap(process_backend *b, int64_t deadline)
{
    pid_t pid = b->launcher_pid;
    b->launcher_pid = 0;
    if (pid <= 0)
        return;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return;
        if (r == 0 && mono_ms() >= deadline)
            break;
        if (r == 0)
            poll(NULL, 0, 1);
    }
    logf_(b, SWARM_LOG_WARN, "runtime process: the launcher %d did not exit; killing it", (int)pid);
    kill(pid, SIGKILL); /* its shims are in their own sessions: they do not notice */
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
}

/*
 * The launcher died (or its socket broke). Its shims live on. Requests it had
 * not answered are in limbo: a shim that was forked still holds the control
 * pipe and will speak; a pipe that reaches EOF unspoken means no shim, and the
 * request goes again. Then a new launcher, unless they keep dying.
 */
static void launcher_lost(process_backend *b, const char *why)
{
    const swarm_runtime_host *h = b->host;
    pid_t pid = b->launcher_pid;
    launcher_drop(b);
    launcher_reap(b, mono_ms() + 100); /* its socket closed as it exited: it is a zombie, or about to be */
    /* Removals it did not answer go again, first (the launcher guards against a newer task's directory). */
    ptask *again = NULL, *again_tail = NULL;
    while (b->inflight) {
        ptask *t = b->inflight;
        fifo_remove(&b->inflight, &b->inflight_tail, t);
        if (t->removal) {
            t->seq = ++b->seq;
            swarm__launch_set_seq(t->req, t->seq);
            t->launch = L_QUEUED;
            fifo_push(&again, &again_tail, t);
            continue;
        }
        t->launch = L_LIMBO;
        if (t->ctl_fd >= 0 && t->ctl_token == NULL && h->watch_fd(h->ctx, t->ctl_fd, on_ctl, t, &t->ctl_token) != 0) {
            t->ctl_token = NULL;
            logf_(b, SWARM_LOG_ERROR, "runtime process: task %s: cannot watch its control pipe", t->id);
        }
    }
    if (again) {
        again_tail->launch_next = b->sendq;
        if (b->sendq == NULL)
            b->sendq_tail = again_tail;
        b->sendq = again;
    }
    int quick = mono_ms() - b->launcher_started_ms < LAUNCHER_QUICK_MS;
    b->launcher_quick_deaths = quick ? b->launcher_quick_deaths + 1 : 0;
    if (b->launcher_quick_deaths >= LAUNCHER_QUICK_MAX) {
        logf_(b, SWARM_LOG_WARN, "runtime process: the launcher %d ended unexpectedly (%s), again; the node forks "
              "shims itself from now on", (int)pid, why);
        return;
    }
    logf_(b, SWARM_LOG_WARN, "runtime process: the launcher %d ended unexpectedly (%s); starting a new one", (int)pid,
          why);
    launcher_start(b);
}

/* A request that died with its launcher, sent again (with a new control pipe). */
static void relaunch(ptask *t)
{
    process_backend *b = t->b;
    t->launch = L_NONE;
    if (++t->launch_attempts >= LAUNCH_ATTEMPTS || t->req == NULL) {
        launch_failed(t, "runtime launcher ended unexpectedly");
        return;
    }
    int ctl[2];
    if (pipe2(ctl, O_CLOEXEC | O_NONBLOCK) != 0) {
        char why[300];
        snprintf(why, sizeof why, "pipe: %s", strerror(errno));
        launch_failed(t, why);
        return;
    }
    t->ctl_fd = ctl[0];
    t->req_fd = ctl[1];
    t->seq = ++b->seq;
    swarm__launch_set_seq(t->req, t->seq);
    swarm__launch_set_reuse_dir(t->req); /* a shim that died unheard may have made it */
    t->launch = L_QUEUED;
    logf_(b, SWARM_LOG_DEBUG, "runtime process: task %s: launch request sent again", t->id);
    fifo_push(&b->sendq, &b->sendq_tail, t);
    launcher_flush(b);
}

static void on_reply(process_backend *b, const swarm__launch_reply *rep)
{
    ptask *t = b->inflight;
    while (t && t->seq != rep->seq)
        t = t->launch_next;
    if (t == NULL) {
        logf_(b, SWARM_LOG_WARN, "runtime process: launcher reply for an unknown request %llu",
              (unsigned long long)rep->seq);
        return;
    }
    if (t->removal) {
        fifo_remove(&b->inflight, &b->inflight_tail, t);
        if (rep->err != 0)
            logf_(b, SWARM_LOG_WARN, "runtime process: removing %s: %s", t->dir,
                  rep->err == ESTALE ? "it belongs to a newer task now; left alone" : strerror(rep->err));
        task_free(t);
        return;
    }
    if (rep->err != 0 || rep->shim_pid <= 0) {
        char why[300];
        if (rep->err == EINVAL)
            snprintf(why, sizeof why, "runtime launcher refused the launch request");
        else
            snprintf(why, sizeof why, "fork: %s", strerror(rep->err ? rep->err : EAGAIN));
        launch_failed(t, why);
        return;
    }
    launched(t, (pid_t)rep->shim_pid, rep->shim_start);
}

/* Replies, or the launcher's end. Bounded per call so that a burst does not hold the loop. */
static void on_launcher(int fd, void *payload)
{
    process_backend *b = payload;
    for (int i = 0; i < 32; i++) {
        swarm__launch_reply rep;
        ssize_t r = recv(fd, &rep, sizeof rep, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r != (ssize_t)sizeof rep || swarm__launch_reply_check(&rep) != 0) {
            launcher_lost(b, r == 0 ? "end of file" : r < 0 ? strerror(errno) : "malformed reply");
            break; /* our watch is gone */
        }
        on_reply(b, &rep);
    }
    launcher_flush(b);
}

/*
 * Close: hands the queued requests to the launcher, waits (bounded) for its
 * replies and its exit, and records the shims in the task directories for the
 * next open. Requests that never reach it are marked as never started.
 */
static void launcher_shutdown(process_backend *b)
{
    int64_t deadline = mono_ms() + CLOSE_WAIT_MS;
    int fd = b->launcher_fd;
    if (b->launcher_token)
        b->host->unwatch_fd(b->host->ctx, b->launcher_token);
    if (b->launcher_timer)
        b->host->cancel_timer(b->host->ctx, b->launcher_timer);
    b->launcher_token = b->launcher_timer = NULL;
    b->launcher_fd = -1;
    int shut = 0;
    while (fd >= 0) {
        while (b->sendq) {
            ptask *t = b->sendq;
            if (send_request(fd, t) < 0) {
                if (errno == EINTR)
                    continue;
                break;
            }
            fifo_remove(&b->sendq, &b->sendq_tail, t);
            if (t->req_fd >= 0)
                close(t->req_fd);
            t->req_fd = -1;
            t->launch = L_SENT;
            fifo_push(&b->inflight, &b->inflight_tail, t);
        }
        if (b->sendq == NULL && !shut) {
            shutdown(fd, SHUT_WR); /* the launcher's EOF, after the last request */
            shut = 1;
        }
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            break;
        struct pollfd p = {fd, (short)(POLLIN | (b->sendq ? POLLOUT : 0)), 0};
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        int ended = 0;
        for (;;) {
            swarm__launch_reply rep;
            ssize_t r = recv(fd, &rep, sizeof rep, MSG_DONTWAIT);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (r != (ssize_t)sizeof rep || swarm__launch_reply_check(&rep) != 0) {
                ended = 1;
                break;
            }
            ptask *t = b->inflight;
            while (t && t->seq != rep.seq)
                t = t->launch_next;
            if (t == NULL)
                continue;
            fifo_remove(&b->inflight, &b->inflight_tail, t);
            t->launch = L_NONE;
            if (t->removal) {
                task_free(t);
            } else if (rep.err == 0 && rep.shim_pid > 0) {
                t->shim_pid = rep.shim_pid; /* its shim records itself in state.json */
                t->shim_start = rep.shim_start;
            } else {
                char text[64];
                snprintf(text, sizeof text, "error %d %d\n", SWARM__STAGE_SHIM, rep.err ? rep.err : EAGAIN);
                write_unstarted(t, text);
            }
        }
        if (ended)
            break;
    }
    if (fd >= 0)
        close(fd);
    launcher_reap(b, deadline);
    /* Never handed over: removals are done here; starts are recorded as ended without having run. */
    char text[64];
    snprintf(text, sizeof text, "error %d %d\n", SWARM__STAGE_SHIM, ECANCELED);
    while (b->sendq) {
        ptask *t = b->sendq;
        fifo_remove(&b->sendq, &b->sendq_tail, t);
        t->launch = L_NONE;
        if (t->removal)
            removal_direct(t);
        else
            write_unstarted(t, text);
    }
    while (b->inflight) {
        ptask *t = b->inflight;
        fifo_remove(&b->inflight, &b->inflight_tail, t);
        t->launch = L_NONE;
        if (t->removal) {
            logf_(b, SWARM_LOG_WARN, "runtime process: closing before the launcher removed %s", t->dir);
            task_free(t);
        } else {
            logf_(b, SWARM_LOG_WARN, "runtime process: closing before the launcher answered for task %s", t->id);
        }
    }
}

/* ---- methods ---- */

static int process_start(struct swarm_runtime_backend *base, const char *task_json)
{
    process_backend *b = (process_backend *)base;
    if (b->host == NULL)
        return swarm__error_set(SWARM_ECLOSED, "runtime \"process\" is not open");
    if (task_json == NULL)
        return swarm__error_set(SWARM_EINVALID, "task JSON is NULL");
    json_t *task = swarm__json_parse(task_json, "task");
    if (task == NULL)
        return SWARM_EINVALID;
    const char *id = swarm__json_str(task, "ID");
    if (!valid_id(id)) {
        json_decref(task);
        return swarm__error_set(SWARM_EINVALID, "ID: must be 1-128 characters of [A-Za-z0-9._-]");
    }
    if (find(b, id)) {
        int rc = swarm__error_set(SWARM_EEXISTS, "task %s is already known to the runtime", id);
        json_decref(task);
        return rc;
    }
    ptask *t = task_new(b, id);
    if (t == NULL) {
        json_decref(task);
        return swarm__error_nomem();
    }
    swarm__process_spec spec;
    int ctl[2] = {-1, -1};
    if (swarm__process_spec_build(&spec, task, t->err, sizeof t->err) != 0)
        goto reject;
    t->stop_signal = spec.stop_signal;
    t->stop_grace_ms = spec.stop_grace_ms;

    /* Limits: a cgroup when cgroups v2 is there to use, rlimits otherwise. */
    if (spec.memory_bytes > 0 || spec.nano_cpus > 0) {
        char why[512] = "";
        char text[700];
        if (b->cgroups &&
            swarm__cgroup_create(t->id, spec.memory_bytes, spec.nano_cpus, &t->cgroup, why, sizeof why) == 0) {
            spec.launch.cgroup_procs = path_join(t->cgroup, "cgroup.procs");
            if (spec.launch.cgroup_procs == NULL)
                goto nomem;
            snprintf(text, sizeof text, "cgroup v2 %s", t->cgroup);
        } else {
            if (why[0])
                logf_(b, SWARM_LOG_WARN, "runtime process: task %s: cgroup: %s; using rlimits", t->id, why);
            spec.launch.rlimit_as = spec.memory_bytes;
            int n = snprintf(text, sizeof text, "rlimits");
            if (spec.memory_bytes > 0)
                n += snprintf(text + n, sizeof text - (size_t)n, " RLIMIT_AS=%lld", (long long)spec.memory_bytes);
            if (spec.nano_cpus > 0)
                snprintf(text + n, sizeof text - (size_t)n, "%s NanoCPUs not enforced without cgroups v2",
                         spec.memory_bytes > 0 ? ";" : "");
        }
        if ((t->limits = strdup(text)) == NULL)
            goto nomem;
    }

    swarm__launch *l = &spec.launch;
    l->log_path = strdup(t->log_path);
    l->log_old_path = path_join(t->dir, "log.1");
    l->exit_path = strdup(t->exit_path);
    l->exit_tmp_path = path_join(t->dir, "exit.tmp");
    l->pid_path = strdup(t->pid_path);
    l->pid_tmp_path = path_join(t->dir, "pid.tmp");
    l->task_dir = strdup(t->dir);
    l->state_path = strdup(t->state_path);
    l->state_head = state_text(t, 0); /* the shim writes state.json, with its pid, before it forks the task */
    if (!l->log_path || !l->log_old_path || !l->exit_path || !l->exit_tmp_path || !l->pid_path || !l->pid_tmp_path ||
        !l->task_dir || !l->state_path || !l->state_head)
        goto nomem;

    if (pipe2(ctl, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(t->err, sizeof t->err, "pipe: %s", strerror(errno));
        goto reject_cleanup;
    }
    t->ctl_fd = ctl[0];
    t->on_disk = 1; /* its shim makes the directory (or says it could not) */
    t->state = P_STARTING;
    t->next = b->tasks;
    b->tasks = t;
    queue(t, R_STARTING);
    /* Through the launcher (behind whatever is queued), or forked here when there is none or it is too big. */
    if ((b->launcher_fd >= 0 || b->sendq) && swarm__launch_encode(&t->req, &t->req_len, l, b->seq + 1) == 0) {
        t->seq = ++b->seq;
        t->req_fd = ctl[1];
        t->launch = L_QUEUED;
        fifo_push(&b->sendq, &b->sendq_tail, t);
        launcher_flush(b);
    } else {
        pid_t shim;
        int rc_fork = fork_shim(l, ctl[1], b->lock_fd, &shim);
        int e = errno;
        close(ctl[1]);
        if (rc_fork == 0) {
            launched(t, shim, 0);
        } else {
            char why[300];
            snprintf(why, sizeof why, "fork: %s", strerror(e));
            launch_failed(t, why);
        }
    }
    swarm__process_spec_free(&spec);
    json_decref(task);
    return 0;

nomem:
    snprintf(t->err, sizeof t->err, "out of memory");
reject_cleanup:
    if (ctl[0] >= 0) {
        close(ctl[0]);
        close(ctl[1]);
    }
    if (t->cgroup)
        swarm__cgroup_remove(t->cgroup);
    free(t->cgroup);
    t->cgroup = NULL;
reject:
    /* Could not start at all: "rejected", reported from the loop like any other state. */
    swarm__process_spec_free(&spec);
    json_decref(task);
    t->state = P_REJECTED;
    t->next = b->tasks;
    b->tasks = t;
    logf_(b, SWARM_LOG_INFO, "runtime process: task %s rejected: %s", t->id, t->err);
    queue(t, R_FINAL);
    return 0;
}

static int process_stop(struct swarm_runtime_backend *base, const char *task_id, int64_t grace_ms)
{
    process_backend *b = (process_backend *)base;
    if (b->host == NULL)
        return swarm__error_set(SWARM_ECLOSED, "runtime \"process\" is not open");
    ptask *t = task_id ? find(b, task_id) : NULL;
    if (t == NULL)
        return swarm__error_set(SWARM_ENOTFOUND, "no such task: %s", task_id ? task_id : "(null)");
    if (is_final(t->state)) {
        queue(t, R_FINAL); /* it ended by itself first: that is its answer */
        return 0;
    }
    if (grace_ms < 0)
        grace_ms = t->stop_grace_ms >= 0 ? t->stop_grace_ms : DEFAULT_GRACE_MS;
    if (t->stop_requested && !(grace_ms == 0 && !t->stop_kill))
        return 0;
    t->stop_requested = 1;
    if (t->launch == L_QUEUED) {
        /* Its request has not left the node: it will never run. */
        launch_forget(t);
        close_ctl(t);
        t->on_disk = 0; /* no shim made its directory */
        apply_exit(t, "cancelled\n");
        logf_(b, SWARM_LOG_DEBUG, "runtime process: task %s stopped before it was launched", t->id);
        queue(t, R_FINAL);
        return 0;
    }
    if (grace_ms == 0) {
        /* No grace: killed now, inside this call (the caller may be about to exit). */
        t->stop_kill = 1;
        if (t->kill_timer) {
            b->host->cancel_timer(b->host->ctx, t->kill_timer);
            t->kill_timer = NULL;
        }
        if (t->pid <= 0)
            read_pid_file(t);
        logf_(b, SWARM_LOG_DEBUG, "runtime process: killing task %s", t->id);
        if (t->pid > 0) {
            signal_task(t, SIGKILL);
            return 0;
        }
        /* Not running yet: killed as soon as its pid is known (the control pipe, or this retry). */
        if (b->host->timer(b->host->ctx, POLL_MS, on_kill_timer, t, &t->kill_timer) != 0)
            t->kill_timer = NULL;
        return 0;
    }
    char sig[32];
    logf_(b, SWARM_LOG_DEBUG, "runtime process: stopping task %s (%s, then SIGKILL after %lld ms)", t->id,
          swarm__signal_name(t->stop_signal, sig, sizeof sig), (long long)grace_ms);
    if (t->pid > 0)
        signal_task(t, t->stop_signal);
    if (b->host->timer(b->host->ctx, grace_ms, on_kill_timer, t, &t->kill_timer) != 0) {
        t->kill_timer = NULL;
        signal_task(t, SIGKILL);
    }
    return 0;
}

static int process_remove(struct swarm_runtime_backend *base, const char *task_id)
{
    process_backend *b = (process_backend *)base;
    ptask *t = task_id ? find(b, task_id) : NULL;
    if (t == NULL)
        return swarm__error_set(SWARM_ENOTFOUND, "no such task: %s", task_id ? task_id : "(null)");
    if (!is_final(t->state))
        return swarm__error_set(SWARM_EBUSY, "task %s is still running", task_id);
    unlink_task(t);
    if (t->cgroup)
        swarm__cgroup_remove(t->cgroup);
    if (!t->on_disk) {
        task_free(t);
        return 0;
    }
    /* The directory goes through the launcher (behind the requests before it: a new start of this ID comes after). */
    task_release(t);
    t->removal = 1;
    if ((b->launcher_fd >= 0 || b->sendq) &&
        swarm__remove_encode(&t->req, &t->req_len, t->dir, t->id, t->shim_pid, b->seq + 1) == 0) {
        t->seq = ++b->seq;
        t->launch = L_QUEUED;
        fifo_push(&b->sendq, &b->sendq_tail, t);
        launcher_flush(b);
        return 0;
    }
    removal_direct(t);
    return 0;
}

static int process_list(struct swarm_runtime_backend *base, char **out_json)
{
    process_backend *b = (process_backend *)base;
    if (out_json == NULL)
        return swarm__error_set(SWARM_EINVALID, "list: out_json is NULL");
    json_t *arr = json_array();
    for (ptask *t = b->tasks; arr && t; t = t->next) {
        json_t *o = json_object();
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
            break;
        }
        json_object_set_new(o, "ID", json_string(t->id));
        json_object_set_new(o, "State", json_string(state_names[t->state]));
        if (t->pid > 0)
            json_object_set_new(o, "PID", json_integer(t->pid));
        if (is_final(t->state) && t->state != P_REJECTED)
            json_object_set_new(o, "ExitCode", json_integer(t->exit_code));
        if (is_final(t->state) && t->err[0])
            json_object_set_new(o, "Err", json_string(t->err));
        if (t->on_disk)
            json_object_set_new(o, "LogPath", json_string(t->log_path));
    }
    char *text = arr ? swarm__json_dump(arr) : NULL;
    json_decref(arr);
    if (text == NULL)
        return swarm__error_nomem();
    *out_json = text;
    return 0;
}

static const char *process_log_path(struct swarm_runtime_backend *base, const char *task_id)
{
    ptask *t = task_id ? find((process_backend *)base, task_id) : NULL;
    return t && t->on_disk ? t->log_path : NULL;
}

/* A task re-adopted while starting (the node died right after forking): its pid comes from the pid file. */
static void on_pidfile_timer(void *payload)
{
    ptask *t = payload;
    const swarm_runtime_host *h = t->b->host;
    t->pidfile_timer = NULL;
    int shim_known = t->shim_pid > 0;
    read_pid_file(t);
    if (!shim_known && t->shim_pid > 0 && watch_shim(t) != 0)
        logf_(t->b, SWARM_LOG_ERROR, "runtime process: task %s: cannot watch its shim", t->id);
    if (t->pid <= 0) {
        /* No shim known yet: it may have failed before running anything (exit file), or never have been forked. */
        if (t->shim_pid <= 0 && (access(t->exit_path, F_OK) == 0 || mono_ms() >= t->adopt_deadline)) {
            finish(t);
            return;
        }
        if (h->timer(h->ctx, POLL_MS, on_pidfile_timer, t, &t->pidfile_timer) != 0)
            t->pidfile_timer = NULL;
        return;
    }
    t->state = P_RUNNING;
    if (t->stop_requested)
        signal_task(t, t->stop_kill ? SIGKILL : t->stop_signal);
    t->pending |= R_RUNNING;
    flush(t);
}

/* Re-adopts the task in directory <tasks>/<id> after a restart of the node. */
static void adopt(process_backend *b, const char *id)
{
    ptask *t = task_new(b, id);
    if (t == NULL)
        return;
    t->on_disk = 1;
    char *text = swarm__file_read(t->state_path);
    json_t *st = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (st == NULL) {
        /* The shim writes state.json before it forks the task, holding launch.lock meanwhile: without it nothing
         * ever ran. Unless open could not get the lock: then a shim may be writing it right now. */
        if (b->lock_timed_out) {
            logf_(b, SWARM_LOG_WARN, "runtime process: %s has no readable state.json (yet?); left alone", t->dir);
        } else {
            logf_(b, SWARM_LOG_WARN, "runtime process: removing %s: no readable state.json", t->dir);
            swarm__remove_tree(t->dir);
        }
        task_free(t);
        return;
    }
    t->shim_pid = (pid_t)swarm__json_int(st, "ShimPID", 0);
    t->shim_start = (unsigned long long)swarm__json_int(st, "ShimStart", 0);
    t->pid = (pid_t)swarm__json_int(st, "PID", 0);
    t->pid_start = (unsigned long long)swarm__json_int(st, "PIDStart", 0);
    t->stop_signal = (int)swarm__json_int(st, "StopSignal", SIGTERM);
    t->stop_grace_ms = swarm__json_int(st, "StopGraceMs", -1);
    const char *cg = swarm__json_str(st, "Cgroup");
    const char *limits = swarm__json_str(st, "Limits");
    t->cgroup = cg ? strdup(cg) : NULL;
    t->limits = limits ? strdup(limits) : NULL;
    json_decref(st);
    if (t->pid <= 0 || t->shim_pid <= 0)
        read_pid_file(t);
    t->next = b->tasks;
    b->tasks = t;

    char *exit_text = swarm__file_read(t->exit_path);
    if (exit_text) {
        apply_exit(t, exit_text);
        free(exit_text);
        if (t->shim_pid > 0) {
            int status;
            waitpid(t->shim_pid, &status, WNOHANG); /* ours if this process started it */
        }
        queue(t, R_FINAL);
        return;
    }
    if (t->shim_pid > 0 && t->shim_start != 0 && swarm__proc_start_time(t->shim_pid) == t->shim_start) {
        t->state = t->pid > 0 ? P_RUNNING : P_STARTING;
        if (watch_shim(t) != 0)
            logf_(b, SWARM_LOG_ERROR, "runtime process: task %s: cannot watch its shim", t->id);
        logf_(b, SWARM_LOG_INFO, "runtime process: re-adopted task %s (pid %d)", t->id, (int)t->pid);
        queue(t, t->pid > 0 ? R_RUNNING : R_STARTING);
        if (t->pid <= 0 && b->host->timer(b->host->ctx, POLL_MS, on_pidfile_timer, t, &t->pidfile_timer) != 0)
            t->pidfile_timer = NULL;
        return;
    }
    if (t->shim_pid <= 0) {
        /* The node went away before its launcher named the shim: the shim's pid file (or exit file) will. */
        t->state = P_STARTING;
        t->adopt_deadline = mono_ms() + ADOPT_LAUNCH_MS;
        logf_(b, SWARM_LOG_INFO, "runtime process: re-adopted task %s while it was being launched", t->id);
        queue(t, R_STARTING);
        if (b->host->timer(b->host->ctx, POLL_MS, on_pidfile_timer, t, &t->pidfile_timer) != 0)
            t->pidfile_timer = NULL;
        return;
    }
    /* The shim died without a word (killed from outside): the task has no log relay or reaper left. */
    if (t->pid > 0 && t->pid_start != 0 && swarm__proc_start_time(t->pid) == t->pid_start) {
        kill(-t->pid, SIGKILL);
        kill(t->pid, SIGKILL);
        snprintf(t->err, sizeof t->err, "runtime shim ended unexpectedly; the task was killed");
    }
    apply_exit(t, NULL);
    swarm__file_write_atomic(t->exit_path, "lost\n");
    logf_(b, SWARM_LOG_WARN, "runtime process: task %s: %s", t->id, t->err);
    queue(t, R_FINAL);
}

/*
 * Close: tasks killed with no grace whose pid was not known yet (their shim,
 * perhaps only just forked by the draining launcher, had not spoken) are
 * waited for, bounded, and killed: a caller that closes right after stop(0)
 * means "nothing of mine keeps running".
 */
static void kill_unnamed(process_backend *b, int64_t deadline)
{
    for (ptask *t = b->tasks; t; t = t->next) {
        if (!t->stop_kill || t->pid > 0 || is_final(t->state))
            continue;
        while (t->pid <= 0 && t->ctl_fd >= 0) {
            int64_t left = deadline - mono_ms();
            struct pollfd p = {t->ctl_fd, POLLIN, 0};
            if (left <= 0 || poll(&p, 1, (int)left) <= 0)
                break;
            swarm__shim_msg msg;
            ssize_t r = read(t->ctl_fd, &msg, sizeof msg);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r == (ssize_t)sizeof msg && msg.kind == SWARM__SHIM_STARTED) {
                t->pid = msg.pid;
                t->pid_start = msg.pid_start;
            }
            break; /* its one message, or EOF: no task was started */
        }
        if (t->pid <= 0)
            read_pid_file(t);
        if (t->pid > 0) {
            logf_(b, SWARM_LOG_DEBUG, "runtime process: closing: killing task %s", t->id);
            signal_task(t, SIGKILL);
        }
    }
}

static void process_close(struct swarm_runtime_backend *base)
{
    process_backend *b = (process_backend *)base;
    if (b->host) {
        int64_t deadline = mono_ms() + CLOSE_WAIT_MS;
        launcher_shutdown(b);
        kill_unnamed(b, deadline);
    }
    b->sendq = b->sendq_tail = b->inflight = b->inflight_tail = NULL; /* emptied by launcher_shutdown */
    if (b->lock_fd >= 0)
        close(b->lock_fd); /* the lock stays held while a shim still writes its state.json */
    b->lock_fd = -1;
    while (b->tasks) {
        ptask *t = b->tasks;
        b->tasks = t->next;
        if (t->kill_timer && !t->stop_kill)
            logf_(b, SWARM_LOG_WARN, "runtime process: closing while task %s is being stopped", t->id);
        task_free(t);
    }
    b->host = NULL;
}

/*
 * Takes <state_dir>/launch.lock (exclusive flock on a description that the
 * launcher and each shim inherit until its state.json is written): waits,
 * bounded, while launches of a previous node are still under way.
 */
static void lock_launches(process_backend *b)
{
    b->lock_timed_out = 0;
    char *path = path_join(b->state_dir, "launch.lock");
    int fd = path ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;
    if (fd < 0) {
        logf_(b, SWARM_LOG_WARN, "runtime process: cannot open %s: %s", path ? path : "launch.lock", strerror(errno));
        free(path);
        b->lock_fd = -1;
        return;
    }
    int64_t start = mono_ms();
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK || mono_ms() - start >= LOCK_WAIT_MS) {
            logf_(b, SWARM_LOG_WARN, "runtime process: %s: %s; going on without it", path,
                  errno == EWOULDBLOCK ? "still held (another node on this state dir?)" : strerror(errno));
            b->lock_timed_out = 1;
            break;
        }
        poll(NULL, 0, 2);
    }
    if (mono_ms() - start > 50)
        logf_(b, SWARM_LOG_INFO, "runtime process: waited %lld ms for launches under way",
              (long long)(mono_ms() - start));
    free(path);
    b->lock_fd = fd;
}

static int process_open(struct swarm_runtime_backend *base, const swarm_runtime_host *host, const char *state_dir)
{
    process_backend *b = (process_backend *)base;
    if (host == NULL || !host->status || !host->watch_fd || !host->unwatch_fd || !host->timer ||
        !host->cancel_timer)
        return swarm__error_set(SWARM_EINVALID, "runtime \"process\": host lacks status/watch_fd/timer functions");
    if (b->host != NULL)
        return swarm__error_set(SWARM_EBUSY, "runtime \"process\" is already open");
    if (b->state_dir == NULL || (state_dir && strcmp(state_dir, b->state_dir) != 0)) {
        if (b->own_state_dir)
            swarm__remove_tree(b->state_dir);
        free(b->state_dir);
        free(b->tasks_dir);
        free(b->trash_dir);
        b->state_dir = b->tasks_dir = b->trash_dir = NULL;
        b->own_state_dir = 0;
        if (state_dir) {
            b->state_dir = strdup(state_dir);
        } else {
            /* No place to keep tasks across restarts: a private temp dir, gone with the backend. */
            char tmpl[] = "/tmp/libswarm-process-XXXXXX";
            if (mkdtemp(tmpl) == NULL)
                return swarm__error_set(SWARM_EIO, "runtime \"process\": mkdtemp: %s", strerror(errno));
            b->state_dir = strdup(tmpl);
            b->own_state_dir = 1;
        }
        if (b->state_dir) {
            b->tasks_dir = path_join(b->state_dir, "tasks");
            b->trash_dir = path_join(b->state_dir, "trash");
        }
        if (b->tasks_dir == NULL || b->trash_dir == NULL)
            return swarm__error_nomem();
    }
    if (swarm__mkdir_p(b->tasks_dir, 0700) != 0)
        return swarm__error_set(SWARM_EIO, "runtime \"process\": mkdir %s: %s", b->tasks_dir, strerror(errno));
    if (mkdir(b->trash_dir, 0700) != 0 && errno != EEXIST)
        return swarm__error_set(SWARM_EIO, "runtime \"process\": mkdir %s: %s", b->trash_dir, strerror(errno));
    lock_launches(b); /* before the scan: launches of a previous node finish first */
    DIR *d = opendir(b->tasks_dir);
    if (d == NULL) {
        int e = errno;
        close(b->lock_fd);
        b->lock_fd = -1;
        return swarm__error_set(SWARM_EIO, "runtime \"process\": opendir %s: %s", b->tasks_dir, strerror(e));
    }
    b->host = host;
    launcher_start(b); /* first: the node is as small now as it will ever be */
    b->cgroups = swarm__cgroup_usable();
    logf_(b, SWARM_LOG_DEBUG, "runtime process: state in %s; limits through %s", b->state_dir,
          b->cgroups ? "cgroups v2" : "rlimits");
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!valid_id(e->d_name) || e->d_name[0] == '.')
            continue;
        struct stat sb;
        char *path = path_join(b->tasks_dir, e->d_name);
        int is_dir = path && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
        free(path);
        if (!is_dir)
            continue;
        if (find(b, e->d_name) == NULL)
            adopt(b, e->d_name);
    }
    closedir(d);
    return 0;
}

static void process_free(struct swarm_runtime_backend *base)
{
    process_backend *b = (process_backend *)base;
    if (b == NULL)
        return;
    process_close(base);
    if (b->own_state_dir && b->state_dir)
        swarm__remove_tree(b->state_dir);
    free(b->state_dir);
    free(b->tasks_dir);
    free(b->trash_dir);
    free(b);
}

int swarm__runtime_process_new(struct swarm_runtime_backend **out)
{
    if (out == NULL)
        return swarm__error_set(SWARM_EINVALID, "runtime \"process\": out is NULL");
    process_backend *b = calloc(1, sizeof *b);
    if (b == NULL)
        return swarm__error_nomem();
    b->base.version = SWARM_RUNTIME_BACKEND_VERSION;
    b->base.name = "process";
    b->base.open = process_open;
    b->base.start = process_start;
    b->base.stop = process_stop;
    b->base.remove = process_remove;
    b->base.list = process_list;
    b->base.log_path = process_log_path;
    b->base.close = process_close;
    b->base.free = process_free;
    b->launcher_fd = -1;
    b->lock_fd = -1;
    *out = &b->base;
    return 0;
}

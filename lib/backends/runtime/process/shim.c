/*
 * The per-task shim and the task's exec. Both run in children forked from the
 * launcher (see launcher.c) or, as a fallback, from the multi-threaded node
 * itself, so they use async-signal-safe calls only: no malloc, no stdio, no
 * locks. Everything they need was prepared by the node (swarm__launch).
 *
 * The shim leaves the node's session, makes the task directory and writes
 * state.json (naming itself: a restarted node finds it from there), forks the
 * task into its own process group, relays the task's output into the bounded log, waits for it, kills
 * what is left of its process group, writes the exit file atomically and
 * exits. It outlives the node, which re-adopts it after a restart by pid.
 */
#include "backends/runtime/process/process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* The task's exec failure, sent back over a close-on-exec pipe. */
typedef struct exec_failure {
    int stage;
    int err;
} exec_failure;

static size_t put_u(char *buf, unsigned long long v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

static size_t put_s(char *buf, const char *s)
{
    size_t n = strlen(s);
    memcpy(buf, s, n);
    return n;
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* tmp + rename; fsync'ed first when sync (the exit file: the last word on the task). 0 or -1 (errno). */
static int write_file_atomic(const char *tmp, const char *path, const char *text, size_t n, int sync)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int ok = write_all(fd, text, n) == 0 && (!sync || fsync(fd) == 0);
    int e = errno;
    close(fd);
    if (ok && rename(tmp, path) == 0)
        return 0;
    if (ok)
        e = errno;
    unlink(tmp);
    errno = e;
    return -1;
}

unsigned long long swarm__proc_start_time(pid_t pid)
{
    char path[64];
    size_t n = put_s(path, "/proc/");
    n += put_u(path + n, (unsigned long long)pid);
    n += put_s(path + n, "/stat");
    path[n] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[1024];
    ssize_t r;
    do
        r = read(fd, buf, sizeof buf - 1);
    while (r < 0 && errno == EINTR);
    close(fd);
    if (r <= 0)
        return 0;
    buf[r] = '\0';
    /* The command name may hold spaces and parentheses: count from the last ')'. */
    char *p = NULL;
    for (ssize_t i = r - 1; i >= 0; i--)
        if (buf[i] == ')') {
            p = buf + i + 1;
            break;
        }
    if (p == NULL)
        return 0;
    /* Fields after ")" start at 3 (state); starttime is field 22. */
    int field = 2;
    while (*p && field < 22) {
        while (*p == ' ')
            p++;
        field++;
        if (field == 22)
            break;
        while (*p && *p != ' ')
            p++;
    }
    if (field != 22)
        return 0;
    unsigned long long v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (unsigned long long)(*p++ - '0');
    return v;
}

static void close_from(int lo, int max_fd)
{
    if (syscall(SYS_close_range, (unsigned)lo, ~0U, 0) == 0)
        return;
    for (int fd = lo; fd < max_fd; fd++)
        close(fd);
}

/* In the task's process (grandchild of the node): set up and exec, or report where it failed. */
static _Noreturn void task_exec(const swarm__launch *l, int out_fd, int err_fd)
{
    exec_failure f = {SWARM__STAGE_SHIM, 0};
    setpgid(0, 0);
    if (dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
        goto fail;
    /* Keep only stdio and the close-on-exec failure pipe (as fd 3). */
    if (err_fd != 3 && dup2(err_fd, 3) < 0)
        goto fail;
    fcntl(3, F_SETFD, FD_CLOEXEC);
    close_from(4, l->max_fd);
    err_fd = 3;

    /* The shim ignores some signals and the node's thread may block others: start clean. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if (l->cgroup_procs) {
        f.stage = SWARM__STAGE_CGROUP;
        int fd = open(l->cgroup_procs, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            goto fail;
        /* "0" moves the writing process. */
        if (write(fd, "0", 1) != 1) {
            int e = errno;
            close(fd);
            errno = e;
            goto fail;
        }
        close(fd);
    }
    if (l->rlimit_as > 0) {
        f.stage = SWARM__STAGE_RLIMIT;
        struct rlimit rl = {(rlim_t)l->rlimit_as, (rlim_t)l->rlimit_as};
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            goto fail;
    }
    if (l->dir) {
        f.stage = SWARM__STAGE_CHDIR;
        if (chdir(l->dir) != 0)
            goto fail;
    }
    if (l->set_user) {
        /* Raw syscalls: glibc's wrappers would try to synchronise with threads this child does not have. */
        f.stage = SWARM__STAGE_USER;
        if (l->n_groups >= 0 && syscall(SYS_setgroups, (size_t)l->n_groups, l->groups) != 0)
            goto fail;
        if (syscall(SYS_setresgid, l->gid, l->gid, l->gid) != 0)
            goto fail;
        if (syscall(SYS_setresuid, l->uid, l->uid, l->uid) != 0)
            goto fail;
    }
    f.stage = SWARM__STAGE_EXEC;
    execve(l->path, l->argv, l->envp);
fail:
    f.err = errno;
    write_all(err_fd, (const char *)&f, sizeof f);
    _exit(127);
}

/* The bounded log: at most log_max bytes in "log", the previous ones in "log.1". */
typedef struct log_sink {
    const swarm__launch *l;
    int fd;
    int64_t size;
} log_sink;

static void log_rotate(log_sink *s)
{
    if (s->fd >= 0)
        close(s->fd);
    rename(s->l->log_path, s->l->log_old_path);
    s->fd = open(s->l->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    s->size = 0;
}

/* The log file is made at the first output: silent tasks cost one file less to start. */
static void log_open(log_sink *s)
{
    s->fd = open(s->l->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    struct stat st;
    if (s->fd >= 0 && fstat(s->fd, &st) == 0)
        s->size = st.st_size;
}

static void log_write(log_sink *s, const char *buf, size_t n)
{
    if (s->fd == -2 && n > 0)
        log_open(s);
    while (n > 0 && s->fd >= 0) {
        if (s->size >= s->l->log_max)
            log_rotate(s);
        if (s->fd < 0)
            return;
        size_t room = (size_t)(s->l->log_max - s->size);
        size_t chunk = n < room ? n : room;
        if (write_all(s->fd, buf, chunk) != 0)
            return;
        s->size += (int64_t)chunk;
        buf += chunk;
        n -= chunk;
    }
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_exit(const swarm__launch *l, const char *word, unsigned long long a, int with_b,
                       unsigned long long b)
{
    char text[64];
    size_t n = put_s(text, word);
    text[n++] = ' ';
    n += put_u(text + n, a);
    if (with_b) {
        text[n++] = ' ';
        n += put_u(text + n, b);
    }
    text[n++] = '\n';
    write_file_atomic(l->exit_tmp_path, l->exit_path, text, n, 1);
}

/* Empties the SIGCHLD signalfd (it only says "look again"). */
static void drain_signalfd(int sfd)
{
    struct signalfd_siginfo info[8];
    while (read(sfd, info, sizeof info) > 0)
        ;
}

/* Reaps exited children other than the task; 1 once the task itself has exited (left a zombie). */
static int reap_strays(pid_t task)
{
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0)
            return 0;
        if (si.si_pid == task)
            return 1;
        int status;
        waitpid(si.si_pid, &status, WNOHANG);
    }
}

/* The task directory could not be made: nothing of this task is on disk (or what is there is not ours). */
static _Noreturn void taskdir_failed(int ctl_fd, swarm__shim_msg *msg, int err)
{
    msg->kind = SWARM__SHIM_FAILED;
    msg->stage = SWARM__STAGE_TASKDIR;
    msg->err = err;
    write_all(ctl_fd, (const char *)msg, sizeof *msg);
    _exit(0);
}

/* Makes the task directory and its state.json (head + our pid and start time); 0 or an errno. */
static int make_taskdir(const swarm__launch *l)
{
    int made = mkdir(l->task_dir, 0700) == 0;
    if (!made && !(errno == EEXIST && l->reuse_dir))
        return errno;
    char text[8192];
    size_t head = strlen(l->state_head);
    if (head + 128 > sizeof text) {
        if (made)
            rmdir(l->task_dir);
        return ENAMETOOLONG;
    }
    memcpy(text, l->state_head, head);
    size_t n = head;
    n += put_s(text + n, ",\"ShimPID\":");
    n += put_u(text + n, (unsigned long long)getpid());
    n += put_s(text + n, ",\"ShimStart\":");
    n += put_u(text + n, swarm__proc_start_time(getpid()));
    n += put_s(text + n, "}\n");
    /* In place, not tmp + rename: see process.h. */
    int fd = open(l->state_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int e = fd < 0 ? errno : write_all(fd, text, n) == 0 ? 0 : errno ? errno : EIO;
    if (fd >= 0)
        close(fd);
    if (e != 0) {
        if (fd >= 0)
            unlink(l->state_path);
        if (made)
            rmdir(l->task_dir);
    }
    return e;
}

_Noreturn void swarm__shim_run(const swarm__launch *l, int ctl_fd, int lock_fd)
{
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, NULL); /* the node may be gone when we report */
    sigaction(SIGHUP, &ign, NULL);
    setsid(); /* out of the node's session and process group: signals to those spare us */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

    /*
     * Keep only the control pipe (as fd 3) and the launch lock (as fd 4, until
     * state.json is written): the node's sockets and files must not outlive it here.
     */
    int c = fcntl(ctl_fd, F_DUPFD, 10);
    int k = lock_fd >= 0 ? fcntl(lock_fd, F_DUPFD, 10) : -1;
    if (c < 0 || dup2(c, 3) < 0)
        _exit(1);
    ctl_fd = 3;
    lock_fd = k >= 0 && dup2(k, 4) >= 0 ? 4 : -1;
    close_from(lock_fd >= 0 ? 5 : 4, l->max_fd);
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) {
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(nul, 2);
        if (nul > 3 && nul != lock_fd)
            close(nul);
    }

    swarm__shim_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.shim_pid = (int)getpid();
    int dir_err = make_taskdir(l);
    if (lock_fd >= 0)
        close(lock_fd); /* a node that opens now finds our state.json (or no directory at all) */
    if (dir_err != 0)
        taskdir_failed(ctl_fd, &msg, dir_err);
    log_sink sink = {l, -2, 0}; /* -2: not opened yet */

    int out[2], errp[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
        msg.kind = SWARM__SHIM_FAILED;
        msg.stage = SWARM__STAGE_SHIM;
        msg.err = errno;
        write_exit(l, "error", (unsigned)msg.stage, 1, (unsigned)msg.err);
        write_all(ctl_fd, (const char *)&msg, sizeof msg);
        _exit(0);
    }
    /* SIGCHLD through a signalfd, set up before the task exists so that no exit goes unnoticed. */
    int sfd = -1;
    {
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &chld, NULL) == 0)
            sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(out[0]);
        close(errp[0]);
        task_exec(l, out[1], errp[1]);
    }
    int fork_errno = errno;
    close(out[1]);
    close(errp[1]);
    if (pid < 0) {
        msg.kind = SWARM__SHIM_FAILED;
        msg.stage = SWARM__STAGE_SHIM;
        msg.err = fork_errno;
        write_exit(l, "error", (unsigned)msg.stage, 1, (unsigned)msg.err);
        write_all(ctl_fd, (const char *)&msg, sizeof msg);
        _exit(0);
    }
    setpgid(pid, pid); /* also done by the child: whoever runs first */

    exec_failure f;
    ssize_t r;
    do
        r = read(errp[0], &f, sizeof f);
    while (r < 0 && errno == EINTR);
    close(errp[0]);
    if (r == (ssize_t)sizeof f) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        msg.kind = SWARM__SHIM_FAILED;
        msg.pid = pid;
        msg.stage = f.stage;
        msg.err = f.err;
        write_exit(l, "error", (unsigned)f.stage, 1, (unsigned)f.err);
        write_all(ctl_fd, (const char *)&msg, sizeof msg);
        _exit(0);
    }

    /* Running: record the pids (re-adoption needs them even if the node never reads our message). */
    msg.kind = SWARM__SHIM_STARTED;
    msg.pid = pid;
    msg.pid_start = swarm__proc_start_time(pid);
    {
        char text[128];
        size_t n = put_u(text, (unsigned long long)getpid());
        text[n++] = ' ';
        n += put_u(text + n, swarm__proc_start_time(getpid()));
        text[n++] = ' ';
        n += put_u(text + n, (unsigned long long)pid);
        text[n++] = ' ';
        n += put_u(text + n, msg.pid_start);
        text[n++] = '\n';
        write_file_atomic(l->pid_tmp_path, l->pid_path, text, n, 0);
    }
    write_all(ctl_fd, (const char *)&msg, sizeof msg);
    close(ctl_fd);

    /*
     * Relay output until the task ends. We are a child subreaper: what the task
     * leaves behind is re-parented to us rather than to an init that may never
     * reap it, so SIGCHLD (through a signalfd; a poll tick if that is missing)
     * covers the task and its orphans alike.
     */
    int out_open = 1;
    siginfo_t si;
    char buf[65536];
    for (;;) {
        struct pollfd fds[2];
        nfds_t n = 0;
        int out_idx = -1;
        if (out_open) {
            fds[n].fd = out[0];
            fds[n].events = POLLIN;
            fds[n].revents = 0;
            out_idx = (int)n++;
        }
        if (sfd >= 0) {
            fds[n].fd = sfd;
            fds[n].events = POLLIN;
            fds[n].revents = 0;
            n++;
        }
        int rc = poll(fds, n, sfd >= 0 ? -1 : 100);
        if (rc < 0 && errno != EINTR)
            break; /* cannot happen with valid fds; fall through to waiting */
        if (out_idx >= 0 && rc > 0 && fds[out_idx].revents) {
            r = read(out[0], buf, sizeof buf);
            if (r > 0) {
                log_write(&sink, buf, (size_t)r);
            } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                out_open = 0;
            }
        }
        if (sfd >= 0)
            drain_signalfd(sfd);
        if (reap_strays(pid))
            break;
    }
    memset(&si, 0, sizeof si);
    /* WNOWAIT: the task stays a zombie, so its pid (and process group id) cannot be reused yet. */
    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
        ;

    /* As in a container: when the main process ends, the rest of its process group goes too. */
    kill(-pid, SIGKILL);
    int64_t deadline = mono_ms() + 1000;
    while (out_open) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            break;
        struct pollfd p = {out[0], POLLIN, 0};
        int rc = poll(&p, 1, (int)(left < 200 ? left : 200));
        if (rc == 0)
            break; /* quiet: whatever still holds the pipe escaped the process group */
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        r = read(out[0], buf, sizeof buf);
        if (r > 0)
            log_write(&sink, buf, (size_t)r);
        else if (r == 0 || errno != EINTR)
            break;
    }
    if (sink.fd >= 0)
        fsync(sink.fd);

    /* Reap the task and what died with it, so that no zombie outlives us. */
    deadline = mono_ms() + 1000;
    for (;;) {
        int status;
        pid_t w = waitpid(-1, &status, WNOHANG);
        if (w > 0)
            continue;
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 || (kill(-pid, 0) != 0 && errno == ESRCH) || mono_ms() >= deadline)
            break;
        struct pollfd p = {sfd, POLLIN, 0};
        poll(&p, sfd >= 0 ? 1 : 0, 10);
        if (sfd >= 0)
            drain_signalfd(sfd);
    }

    if (si.si_code == CLD_EXITED)
        write_exit(l, "exited", (unsigned)si.si_status, 0, 0);
    else
        write_exit(l, "signaled", (unsigned)si.si_status, 0, 0);
    _exit(0);
}

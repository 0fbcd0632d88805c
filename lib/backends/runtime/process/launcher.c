/*
 * The launcher: a small child forked once by the node (process_open) that
 * forks the per-task shims on the node's behalf, so that the node never forks
 * while it is big and busy: no page tables copied on its loop thread, and no
 * shim pinning a copy-on-write snapshot of its memory.
 *
 * Wire (SOCK_SEQPACKET socketpair, one message each way per request):
 *   node -> launcher: a launch request (header, groups, then NUL-terminated
 *                     strings) with the write end of the task's control pipe
 *                     as SCM_RIGHTS; or a removal request (a task directory
 *                     to delete);
 *   launcher -> node: a reply {seq, shim pid and start time, or errno}, in
 *                     the order of the requests.
 * EOF from the node ends the launcher, which leaves its shims running (they
 * are re-adopted by the next open). The launcher reaps the shims it forked.
 *
 * The launcher only forks: each shim makes its own task directory and
 * state.json (see shim.c), so that the slow metadata operations of many
 * starts overlap instead of queueing behind one another. Removals are a
 * rename into <state_dir>/trash, and the trash is deleted while no request is
 * waiting (a removal costs the node nothing and delays no start).
 *
 * The launcher never allocates: it works in buffers it maps at start, so it
 * does not depend on what the node's other threads held when it was forked.
 */
#include "backends/runtime/process/process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define LAUNCH_MAGIC 0x53574c31u /* "SWL1" */
#define REMOVE_MAGIC 0x53574431u /* "SWD1" */
#define REPLY_MAGIC 0x53575231u  /* "SWR1" */
#define N_FIXED 9               /* the task directory's paths and state.json's head */

enum { F_SET_USER = 1, F_DIR = 2, F_CGROUP = 4, F_REUSE_DIR = 8 };

/* The fixed part of a request; groups and strings follow. */
typedef struct launch_header {
    uint32_t magic;
    uint32_t flags;
    uint64_t seq;
    int64_t rlimit_as;
    int64_t log_max;
    uint32_t uid, gid;
    int32_t n_groups;
    int32_t max_fd;
    uint32_t argc, envc;
} launch_header;

/* A removal request; the directory and a name for it in the trash follow. */
typedef struct remove_header {
    uint32_t magic;
    int32_t shim_pid; /* > 0: only if dir/state.json names this shim */
    uint64_t seq;     /* at the same offset as in launch_header */
} remove_header;

/* ---- the wire format ---- */

static size_t strv_count(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* The task directory's paths, in wire order. */
static void fixed_strings(const swarm__launch *l, const char *out[N_FIXED])
{
    out[0] = l->log_path;
    out[1] = l->log_old_path;
    out[2] = l->exit_path;
    out[3] = l->exit_tmp_path;
    out[4] = l->pid_path;
    out[5] = l->pid_tmp_path;
    out[6] = l->task_dir;
    out[7] = l->state_path;
    out[8] = l->state_head;
}

int swarm__launch_encode(char **out, size_t *out_len, const swarm__launch *l, uint64_t seq)
{
    *out = NULL;
    *out_len = 0;
    const char *fixed[N_FIXED];
    fixed_strings(l, fixed);
    size_t argc = strv_count(l->argv), envc = strv_count(l->envp);
    size_t n_groups = l->n_groups > 0 ? (size_t)l->n_groups : 0;
    size_t len = sizeof(launch_header) + n_groups * sizeof(uint32_t) + strlen(l->path) + 1;
    if (l->dir)
        len += strlen(l->dir) + 1;
    if (l->cgroup_procs)
        len += strlen(l->cgroup_procs) + 1;
    for (int i = 0; i < N_FIXED; i++) {
        if (fixed[i] == NULL) {
            errno = EINVAL;
            return -1;
        }
        len += strlen(fixed[i]) + 1;
    }
    for (size_t i = 0; i < argc; i++)
        len += strlen(l->argv[i]) + 1;
    for (size_t i = 0; i < envc; i++)
        len += strlen(l->envp[i]) + 1;
    if (len > SWARM__LAUNCH_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    char *buf = malloc(len);
    if (buf == NULL) {
        errno = ENOMEM;
        return -1;
    }
    launch_header h;
    memset(&h, 0, sizeof h);
    h.magic = LAUNCH_MAGIC;
    h.flags = (l->set_user ? F_SET_USER : 0) | (l->dir ? F_DIR : 0) | (l->cgroup_procs ? F_CGROUP : 0) |
              (l->reuse_dir ? F_REUSE_DIR : 0);
    h.seq = seq;
    h.rlimit_as = l->rlimit_as;
    h.log_max = l->log_max;
    h.uid = (uint32_t)l->uid;
    h.gid = (uint32_t)l->gid;
    h.n_groups = l->n_groups;
    h.max_fd = l->max_fd;
    h.argc = (uint32_t)argc;
    h.envc = (uint32_t)envc;
    memcpy(buf, &h, sizeof h);
    size_t off = sizeof h;
    for (size_t i = 0; i < n_groups; i++) {
        uint32_t g = (uint32_t)l->groups[i];
        memcpy(buf + off, &g, sizeof g);
        off += sizeof g;
    }
#define PUT(s)                                                                                           \
    do {                                                                                                 \
        size_t n_ = strlen(s) + 1;                                                                       \
        memcpy(buf + off, (s), n_);                                                                      \
        off += n_;                                                                                       \
    } while (0)
    PUT(l->path);
    if (l->dir)
        PUT(l->dir);
    if (l->cgroup_procs)
        PUT(l->cgroup_procs);
    for (int i = 0; i < N_FIXED; i++)
        PUT(fixed[i]);
    for (size_t i = 0; i < argc; i++)
        PUT(l->argv[i]);
    for (size_t i = 0; i < envc; i++)
        PUT(l->envp[i]);
#undef PUT
    *out = buf;
    *out_len = off;
    return 0;
}

int swarm__remove_encode(char **out, size_t *out_len, const char *dir, const char *name, pid_t shim_pid,
                         uint64_t seq)
{
    size_t nd = strlen(dir) + 1, nn = strlen(name) + 1;
    char *buf = malloc(sizeof(remove_header) + nd + nn);
    if (buf == NULL) {
        errno = ENOMEM;
        return -1;
    }
    remove_header h;
    memset(&h, 0, sizeof h);
    h.magic = REMOVE_MAGIC;
    h.shim_pid = (int32_t)shim_pid;
    h.seq = seq;
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, dir, nd);
    memcpy(buf + sizeof h + nd, name, nn);
    *out = buf;
    *out_len = sizeof h + nd + nn;
    return 0;
}

void swarm__launch_set_seq(char *msg, uint64_t seq)
{
    _Static_assert(offsetof(launch_header, seq) == offsetof(remove_header, seq), "seq at one offset");
    memcpy(msg + offsetof(launch_header, seq), &seq, sizeof seq);
}

void swarm__launch_set_reuse_dir(char *msg)
{
    launch_header h;
    memcpy(&h, msg, sizeof h);
    if (h.magic != LAUNCH_MAGIC)
        return;
    h.flags |= F_REUSE_DIR;
    memcpy(msg, &h, sizeof h);
}

/* Takes the next NUL-terminated string at *off, or NULL when the message ends first. */
static char *take_string(char *buf, size_t len, size_t *off)
{
    if (*off >= len)
        return NULL;
    char *s = buf + *off;
    char *nul = memchr(s, '\0', len - *off);
    if (nul == NULL)
        return NULL;
    *off = (size_t)(nul - buf) + 1;
    return s;
}

int swarm__launch_decode(swarm__launch *l, uint64_t *seq, char *buf, size_t len, char **ptrs, size_t n_ptrs,
                         gid_t *groups, size_t n_groups_max)
{
    launch_header h;
    memset(l, 0, sizeof *l);
    if (len < sizeof h)
        return -1;
    memcpy(&h, buf, sizeof h);
    if (h.magic != LAUNCH_MAGIC || h.n_groups < -1 || (size_t)h.argc + h.envc + 2 > n_ptrs || h.argc == 0)
        return -1;
    size_t off = sizeof h;
    size_t ng = h.n_groups > 0 ? (size_t)h.n_groups : 0;
    if (ng > n_groups_max || ng * sizeof(uint32_t) > len - off)
        return -1;
    for (size_t i = 0; i < ng; i++) {
        uint32_t g;
        memcpy(&g, buf + off, sizeof g);
        groups[i] = (gid_t)g;
        off += sizeof g;
    }
    *seq = h.seq;
    l->set_user = (h.flags & F_SET_USER) != 0;
    l->reuse_dir = (h.flags & F_REUSE_DIR) != 0;
    l->uid = (uid_t)h.uid;
    l->gid = (gid_t)h.gid;
    l->groups = ng ? groups : NULL;
    l->n_groups = h.n_groups;
    l->rlimit_as = h.rlimit_as;
    l->log_max = h.log_max;
    l->max_fd = h.max_fd;
    if ((l->path = take_string(buf, len, &off)) == NULL)
        return -1;
    if ((h.flags & F_DIR) && (l->dir = take_string(buf, len, &off)) == NULL)
        return -1;
    if ((h.flags & F_CGROUP) && (l->cgroup_procs = take_string(buf, len, &off)) == NULL)
        return -1;
    if ((l->log_path = take_string(buf, len, &off)) == NULL || (l->log_old_path = take_string(buf, len, &off)) == NULL ||
        (l->exit_path = take_string(buf, len, &off)) == NULL ||
        (l->exit_tmp_path = take_string(buf, len, &off)) == NULL || (l->pid_path = take_string(buf, len, &off)) == NULL ||
        (l->pid_tmp_path = take_string(buf, len, &off)) == NULL ||
        (l->task_dir = take_string(buf, len, &off)) == NULL || (l->state_path = take_string(buf, len, &off)) == NULL ||
        (l->state_head = take_string(buf, len, &off)) == NULL)
        return -1;
    l->argv = ptrs;
    for (uint32_t i = 0; i < h.argc; i++)
        if ((ptrs[i] = take_string(buf, len, &off)) == NULL)
            return -1;
    ptrs[h.argc] = NULL;
    l->envp = ptrs + h.argc + 1;
    for (uint32_t i = 0; i < h.envc; i++)
        if ((l->envp[i] = take_string(buf, len, &off)) == NULL)
            return -1;
    l->envp[h.envc] = NULL;
    return off == len ? 0 : -1;
}

/* ---- the launcher process (single-threaded, no allocation) ---- */

static void close_from(int lo)
{
    if (syscall(SYS_close_range, (unsigned)lo, ~0U, 0) == 0)
        return;
    struct rlimit rl;
    int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 65536
                  ? (int)rl.rlim_cur
                  : 65536;
    for (int fd = lo; fd < max; fd++)
        close(fd);
}

static void reap_children(void)
{
    int status;
    pid_t r;
    while ((r = waitpid(-1, &status, WNOHANG)) > 0 || (r < 0 && errno == EINTR))
        ;
}

static void send_reply(int sock, uint64_t seq, pid_t pid, int err)
{
    swarm__launch_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.magic = REPLY_MAGIC;
    rep.seq = seq;
    rep.shim_pid = (int32_t)pid;
    rep.err = err;
    rep.shim_start = pid > 0 ? swarm__proc_start_time(pid) : 0;
    /* Blocking: the node reads replies from its loop. Fails only once the node is gone. */
    while (send(sock, &rep, sizeof rep, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

/* The launcher's fds: its socket, the state dir's launch.lock (passed on to each shim). */
#define SOCK_FD 3
#define LOCK_FD 4

static const char *trash_dir;  /* <state_dir>/trash (inherited from the node) */
static int has_lock;           /* LOCK_FD is open */
static int trash_pending = 1; /* the trash may hold something: delete it while idle */
static unsigned trash_counter;

/* Appends s to buf (size cap) at *n; 0, or -1 when it does not fit. */
static int append(char *buf, size_t cap, size_t *n, const char *s)
{
    size_t len = strlen(s);
    if (*n + len + 1 > cap)
        return -1;
    memcpy(buf + *n, s, len + 1);
    *n += len;
    return 0;
}

static int append_u(char *buf, size_t cap, size_t *n, unsigned long long v)
{
    char tmp[24];
    size_t k = sizeof tmp - 1;
    tmp[k] = '\0';
    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return append(buf, cap, n, tmp + k);
}

/* The "ShimPID" of dir/state.json, 0 if none can be read. */
static long long state_shim_pid(const char *dir)
{
    char path[4096], text[4096];
    size_t n = 0;
    if (append(path, sizeof path, &n, dir) != 0 || append(path, sizeof path, &n, "/state.json") != 0)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t r;
    do
        r = read(fd, text, sizeof text - 1);
    while (r < 0 && errno == EINTR);
    close(fd);
    if (r <= 0)
        return 0;
    text[r] = '\0';
    char *p = strstr(text, "\"ShimPID\"");
    if (p == NULL)
        return 0;
    p += 9;
    while (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n')
        p++;
    long long v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (*p++ - '0');
    return v;
}

/* A removal: the directory goes to the trash now (one rename), its files later. */
static int handle_remove(const char *buf, size_t len, uint64_t *seq)
{
    remove_header h;
    if (len < sizeof h)
        return EINVAL;
    memcpy(&h, buf, sizeof h);
    *seq = h.seq;
    const char *dir = buf + sizeof h;
    const char *end = memchr(dir, '\0', len - sizeof h);
    if (end == NULL || (size_t)(end + 1 - buf) >= len)
        return EINVAL;
    const char *name = end + 1;
    if (memchr(name, '\0', len - (size_t)(name - buf)) == NULL || strchr(name, '/') != NULL)
        return EINVAL;
    /* Sent again after a launcher died: the directory may belong to a newer task of the same ID by now. */
    if (h.shim_pid > 0 && state_shim_pid(dir) != h.shim_pid && access(dir, F_OK) == 0)
        return ESTALE;
    for (int attempt = 0; attempt < 100; attempt++) {
        char to[4096];
        size_t n = 0;
        if (append(to, sizeof to, &n, trash_dir) != 0 || append(to, sizeof to, &n, "/") != 0 ||
            append(to, sizeof to, &n, name) != 0 || append(to, sizeof to, &n, ".") != 0 ||
            append_u(to, sizeof to, &n, (unsigned long long)getpid()) != 0 || append(to, sizeof to, &n, ".") != 0 ||
            append_u(to, sizeof to, &n, trash_counter++) != 0)
            return ENAMETOOLONG;
        if (rename(dir, to) == 0) {
            trash_pending = 1;
            return 0;
        }
        if (errno == ENOENT)
            return 0; /* gone already (never made, or removed before) */
        if (errno != EEXIST && errno != ENOTEMPTY)
            return errno;
    }
    return EEXIST;
}

/* rm -rf of name in dirfd, with no allocation (getdents64 into a stack buffer). */
static void remove_at(int dirfd, const char *name, int depth)
{
    if (unlinkat(dirfd, name, 0) == 0 || (errno != EISDIR && errno != EPERM) || depth > 16)
        return;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        char buf[4096];
        for (;;) {
            long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
            if (n <= 0)
                break;
            for (long off = 0; off < n;) {
                struct dirent64 *e = (struct dirent64 *)(void *)(buf + off);
                off += e->d_reclen;
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                if (e->d_type == DT_DIR)
                    remove_at(fd, e->d_name, depth + 1);
                else if (unlinkat(fd, e->d_name, 0) != 0 && errno == EISDIR)
                    remove_at(fd, e->d_name, depth + 1);
            }
        }
        close(fd);
    }
    unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* Deletes one entry of the trash; trash_pending = 0 once it is empty. */
static void trash_step(void)
{
    int fd = open(trash_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        trash_pending = 0;
        return;
    }
    char buf[4096];
    int found = 0;
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    for (long off = 0; off < n && !found;) {
        struct dirent64 *e = (struct dirent64 *)(void *)(buf + off);
        off += e->d_reclen;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        remove_at(fd, e->d_name, 0);
        found = 1;
    }
    close(fd);
    if (!found)
        trash_pending = 0;
}

static void handle(int sock, char *buf, size_t len, int ctl_fd, char **ptrs, size_t n_ptrs, gid_t *groups,
                   size_t n_groups)
{
    swarm__launch l;
    uint64_t seq = 0;
    uint32_t magic = 0;
    if (len >= sizeof magic)
        memcpy(&magic, buf, sizeof magic);
    if (magic == REMOVE_MAGIC) {
        if (ctl_fd >= 0)
            close(ctl_fd);
        int err = handle_remove(buf, len, &seq);
        send_reply(sock, seq, 0, err);
        return;
    }
    if (ctl_fd < 0 || swarm__launch_decode(&l, &seq, buf, len, ptrs, n_ptrs, groups, n_groups) != 0) {
        if (len >= sizeof(launch_header)) {
            launch_header h;
            memcpy(&h, buf, sizeof h);
            seq = h.seq;
        }
        if (ctl_fd >= 0)
            close(ctl_fd);
        send_reply(sock, seq, 0, EINVAL);
        return;
    }
    pid_t pid = fork();
    if (pid == 0)
        swarm__shim_run(&l, ctl_fd, has_lock ? LOCK_FD : -1);
    int e = errno;
    close(ctl_fd);
    send_reply(sock, seq, pid > 0 ? pid : 0, pid > 0 ? 0 : e);
}

static _Noreturn void launcher_run(int sock)
{
    /* Out of the node's process group: a ^C meant for the node's terminal is not for us. */
    setpgid(0, 0);
    prctl(PR_SET_NAME, "swarm-launcher", 0, 0, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    for (int s = 1; s < NSIG; s++) {
        sa.sa_handler = (s == SIGPIPE || s == SIGINT || s == SIGQUIT || s == SIGHUP || s == SIGTSTP ||
                         s == SIGTTIN || s == SIGTTOU)
                            ? SIG_IGN
                            : SIG_DFL;
        sigaction(s, &sa, NULL); /* fails harmlessly for SIGKILL, SIGSTOP and glibc's own */
    }
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_SETMASK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

    size_t n_ptrs = SWARM__LAUNCH_MAX / 2 + 2, n_groups = SWARM__LAUNCH_MAX / sizeof(uint32_t);
    size_t bytes = SWARM__LAUNCH_MAX + n_ptrs * sizeof(char *) + n_groups * sizeof(gid_t);
    char *area = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        _exit(1);
    char *buf = area;
    char **ptrs = (char **)(void *)(area + SWARM__LAUNCH_MAX);
    gid_t *groups = (gid_t *)(void *)(area + SWARM__LAUNCH_MAX + n_ptrs * sizeof(char *));
    if (trash_dir == NULL)
        trash_pending = 0;

    for (;;) {
        struct pollfd p[2] = {{sock, POLLIN, 0}, {sfd, POLLIN, 0}};
        /* Without a signalfd, a poll tick reaps; with trash to delete, poll only looks. */
        int rc = poll(p, sfd >= 0 ? 2 : 1, trash_pending ? 0 : sfd >= 0 ? -1 : 200);
        if (rc < 0 && errno != EINTR)
            _exit(1);
        if (sfd >= 0 && (p[1].revents & POLLIN)) {
            struct signalfd_siginfo info[8];
            while (read(sfd, info, sizeof info) > 0)
                ;
        }
        reap_children();
        if (rc == 0 && trash_pending)
            trash_step(); /* idle: one directory of the trash */
        if (rc <= 0 || p[0].revents == 0)
            continue;
        for (;;) {
            union {
                struct cmsghdr align;
                char bytes[CMSG_SPACE(sizeof(int))];
            } control;
            struct iovec iov = {buf, SWARM__LAUNCH_MAX};
            struct msghdr mh;
            memset(&mh, 0, sizeof mh);
            mh.msg_iov = &iov;
            mh.msg_iovlen = 1;
            mh.msg_control = control.bytes;
            mh.msg_controllen = sizeof control.bytes;
            ssize_t r = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (r <= 0) {
                /* The node closed or died: our shims live on (re-parented); those that ended are reaped here.
                 * What is left in the trash is deleted by the next launcher. */
                reap_children();
                _exit(0);
            }
            int ctl_fd = -1;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int)))
                    memcpy(&ctl_fd, CMSG_DATA(c), sizeof ctl_fd);
            if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
                if (ctl_fd >= 0)
                    close(ctl_fd);
                ctl_fd = -1;
            }
            handle(sock, buf, (size_t)r, ctl_fd, ptrs, n_ptrs, groups, n_groups);
            reap_children();
        }
    }
}

int swarm__launcher_spawn(const char *trash, int lock_fd, pid_t *out_pid, int *out_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        /* Keep only our end of the socket (fd 3) and the lock (fd 4): nothing else of the node's may stay open. */
        int s = fcntl(sv[1], F_DUPFD, 10);
        int k = lock_fd >= 0 ? fcntl(lock_fd, F_DUPFD, 10) : -1;
        if (s < 0 || dup2(s, SOCK_FD) < 0)
            _exit(1);
        has_lock = k >= 0 && dup2(k, LOCK_FD) >= 0;
        close_from(has_lock ? LOCK_FD + 1 : LOCK_FD);
        int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (nul >= 0) {
            for (int fd = 0; fd < 3; fd++)
                if (fd != nul)
                    dup2(nul, fd);
            if (nul > 2 && nul != SOCK_FD && !(has_lock && nul == LOCK_FD))
                close(nul);
        }
        trash_dir = trash;
        launcher_run(SOCK_FD);
    }
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        errno = e;
        return -1;
    }
    close(sv[1]);
    int fl = fcntl(sv[0], F_GETFL);
    fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
    int sndbuf = 1 << 20; /* room for a burst of requests; the kernel caps it at wmem_max */
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    *out_pid = pid;
    *out_fd = sv[0];
    return 0;
}

int swarm__launch_reply_check(const swarm__launch_reply *rep)
{
    return rep->magic == REPLY_MAGIC ? 0 : -1;
}

/*
 * Internals of the "process" runtime, shared by its files:
 *   spec.c     task JSON -> everything a launch needs (resolved before forking)
 *   launcher.c the launcher child that forks the shims for the node, and its wire format
 *   shim.c     the per-task shim and the task's own exec (async-signal-safe only)
 *   cgroup.c   cgroups v2 limits
 *   taskdir.c  the files of a task directory (state.json, pid, exit, logs)
 *   process.c  the backend: task table, host callbacks, re-adoption
 *
 * Files of a task, under <state_dir>/tasks/<ID>/, all made by the task's shim
 * (the node's loop does no per-task file creation or deletion):
 *   (the dir)   made by the shim first thing (mkdir: an existing one is not taken over)
 *   state.json  written by the shim before it forks the task: ID, stop signal, grace,
 *               cgroup, limits (rendered by the node) + the shim's pid and start time.
 *               No task runs before it exists. Written in place, not tmp + rename (one
 *               inode less per start: on a busy ext4 each new inode costs milliseconds of
 *               CPU): launch.lock keeps open from reading it half-written, and one a killed
 *               shim left half-written does not parse, like a missing one.
 *   pid         written by the shim once the task runs: "SHIMPID SHIMSTART PID PIDSTART"
 *   exit        written by the shim (tmp + rename) when the task ended:
 *               "exited N" | "signaled N" | "error STAGE ERRNO"; by the node: "lost"
 *   log, log.1  stdout and stderr of the task, rotated at the size limit
 * Next to tasks/: launch.lock (flock'ed by the node's open description, which the
 * launcher and every shim inherit until its state.json is written: an open waits on
 * it, so it never scans while a launch it should see is half done) and trash/
 * (removed task directories, renamed there by the launcher and deleted by it when idle).
 */
#ifndef SWARM_RUNTIME_PROCESS_H
#define SWARM_RUNTIME_PROCESS_H

#include "core/fs.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SWARM__PROCESS_LOG_MAX_DEFAULT (10 * 1024 * 1024)

/* Where the task's own setup failed (in the exit file and the shim's message). */
enum {
    SWARM__STAGE_SHIM = 1, /* the shim could not make pipes or fork */
    SWARM__STAGE_CGROUP = 2,
    SWARM__STAGE_RLIMIT = 3,
    SWARM__STAGE_CHDIR = 4,
    SWARM__STAGE_USER = 5,
    SWARM__STAGE_EXEC = 6,
    SWARM__STAGE_TASKDIR = 7 /* the task directory or its state.json could not be made */
};

/* Everything the shim and the task need, prepared before fork (the children never allocate). */
typedef struct swarm__launch {
    char *path;   /* resolved executable */
    char **argv;  /* NULL-terminated */
    char **envp;  /* NULL-terminated */
    char *dir;    /* working directory or NULL */
    int set_user; /* switch to uid/gid/groups */
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    int n_groups; /* -1: leave the supplementary groups alone */
    char *cgroup_procs; /* cgroup.procs to join before exec, or NULL */
    int64_t rlimit_as;  /* > 0: RLIMIT_AS */
    char *log_path, *log_old_path, *exit_path, *exit_tmp_path, *pid_path, *pid_tmp_path;
    char *task_dir, *state_path;
    char *state_head; /* state.json without its closing brace: the shim adds its pid and start time */
    int reuse_dir;    /* an existing task_dir is fine (a launch sent again after its launcher died) */
    int64_t log_max;
    int max_fd; /* close fds below this when close_range is missing */
} swarm__launch;

/* A task spec, parsed. */
typedef struct swarm__process_spec {
    swarm__launch launch;
    int stop_signal;
    int64_t stop_grace_ms; /* -1 if the spec has none */
    int64_t memory_bytes, nano_cpus;
} swarm__process_spec;

/* What the shim tells the node over its control pipe (one write, well under PIPE_BUF). */
typedef struct swarm__shim_msg {
    int kind; /* SWARM__SHIM_STARTED or SWARM__SHIM_FAILED */
    int pid;
    int shim_pid; /* the shim itself: the node learns it here when the launcher died before answering */
    int stage;
    int err;
    unsigned long long pid_start;
} swarm__shim_msg;

enum { SWARM__SHIM_STARTED = 1, SWARM__SHIM_FAILED = 2 };

/* spec.c */
/* Fills s from the Task object; 0, or -1 with the rejection reason in err. s is freed by the caller either way. */
int swarm__process_spec_build(swarm__process_spec *s, const json_t *task, char *err, size_t errlen);
void swarm__process_spec_free(swarm__process_spec *s);
/* "SIGINT", "INT", "int", "2" -> 2; -1 if unknown. */
int swarm__signal_parse(const char *text);
/* "SIGTERM" for 15, "signal 42" style text for others (into buf). */
const char *swarm__signal_name(int sig, char *buf, size_t len);

/* shim.c (async-signal-safe) */
/*
 * Runs in the forked child: never returns. ctl_fd receives one swarm__shim_msg.
 * lock_fd (or -1): the state dir's launch.lock, held until state.json is written.
 */
_Noreturn void swarm__shim_run(const swarm__launch *l, int ctl_fd, int lock_fd);
/* Field 22 of /proc/PID/stat (start time in clock ticks since boot), or 0. */
unsigned long long swarm__proc_start_time(pid_t pid);

/* launcher.c */
/* Largest launch request (argv, environment and paths): bigger ones are forked by the node itself. */
#define SWARM__LAUNCH_MAX (256 * 1024)

/* The launcher's answer to one request, in request order. */
typedef struct swarm__launch_reply {
    uint32_t magic;
    int32_t err; /* 0, or the errno of a failed fork (EINVAL: a malformed request) */
    uint64_t seq;
    int32_t shim_pid;
    int32_t pad;
    uint64_t shim_start; /* swarm__proc_start_time of the shim */
} swarm__launch_reply;

/*
 * Forks the launcher; 0 with its pid and the node's end of the socket (non-blocking, close-on-exec), or -1 (errno).
 * trash_dir: where removed task directories go before it deletes them; lock_fd (or -1): passed on to the shims.
 */
int swarm__launcher_spawn(const char *trash_dir, int lock_fd, pid_t *out_pid, int *out_fd);
/* Serialises a launch request (malloc'd). 0, or -1 with errno EMSGSIZE (over SWARM__LAUNCH_MAX) or ENOMEM. */
int swarm__launch_encode(char **out, size_t *out_len, const swarm__launch *l, uint64_t seq);
/*
 * Serialises a removal request: the launcher moves dir to its trash (deleted when idle), unless
 * shim_pid > 0 and dir/state.json names another shim (a newer task of the same ID). 0 or -1 (ENOMEM).
 */
int swarm__remove_encode(char **out, size_t *out_len, const char *dir, const char *name, pid_t shim_pid,
                         uint64_t seq);
/* Renumbers an encoded request of either kind (when it is sent again). */
void swarm__launch_set_seq(char *msg, uint64_t seq);
/* Marks an encoded launch request as sent again: its task directory may exist already. */
void swarm__launch_set_reuse_dir(char *msg);
/*
 * Parses a request in place: l's strings point into buf, its argv and envp
 * into ptrs (room for argc + envc + 2), its groups into groups. 0 or -1.
 */
int swarm__launch_decode(swarm__launch *l, uint64_t *seq, char *buf, size_t len, char **ptrs, size_t n_ptrs,
                         gid_t *groups, size_t n_groups_max);
/* 0 if rep is a launcher reply. */
int swarm__launch_reply_check(const swarm__launch_reply *rep);

/* cgroup.c */
/* 1 if /sys/fs/cgroup is a writable cgroup v2 mount. */
int swarm__cgroup_usable(void);
/* Makes the task's cgroup with memory.max / cpu.max set; 0 with *out_dir (malloc'd), or -1 with err. */
int swarm__cgroup_create(const char *task_id, int64_t memory_bytes, int64_t nano_cpus, char **out_dir, char *err,
                         size_t errlen);
void swarm__cgroup_remove(const char *dir);

/* taskdir.c */
/* Writes path atomically (tmp + rename). 0 or -1 (errno). */
int swarm__file_write_atomic(const char *path, const char *text);
/* Reads a whole small file (malloc'd, NUL-terminated) or NULL. */
char *swarm__file_read(const char *path);

#endif

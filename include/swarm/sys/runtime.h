/*
 * libswarm — task runtimes (for backend authors).
 *
 * A runtime runs the tasks the dispatcher assigns to this node. libswarm
 * ships "process" (host processes: fork/exec in their own process group, logs
 * captured to bounded files, limits through cgroups v2 or rlimits, processes
 * survive a restart of the node and are re-adopted) and "fake" (no processes;
 * for tests and simulations). An embedding program may register its own.
 *
 * Threading: every method is called on the node's loop thread, and the
 * backend calls the swarm_runtime_host functions only from that thread (the
 * callbacks it registers through the host run there). Methods must not block:
 * slow work goes to a child process or thread whose completion the backend
 * watches with host->watch_fd.
 *
 * Task states reported (Docker's names): "starting", "running", "complete"
 * (exit code 0), "failed" (non-zero exit or signal; Err says why, ExitCode set),
 * "rejected" (could not be started at all; Err says why), "shutdown" (stopped
 * on request).
 */
#ifndef SWARM_SYS_RUNTIME_H
#define SWARM_SYS_RUNTIME_H

#include "../common.h"

SWARM_BEGIN_DECLS

#define SWARM_RUNTIME_BACKEND_VERSION 1

/* Services the node offers to its runtime. All on the loop thread. */
typedef struct swarm_runtime_host {
    unsigned version; /* 1 */
    void *ctx;

    /*
     * Reports an observed state of a task. status_json is a JSON object:
     * {"State": "running", "Message": "started", "Err": "...",
     *  "ExitCode": 0, "PID": 1234, "ContainerID": "..."}; only State is required.
     * Copied before return.
     */
    void (*status)(void *ctx, const char *task_id, const char *status_json);

    /* Calls cb on the loop each time fd is readable, until unwatched. 0 or SWARM_ENOMEM. */
    int (*watch_fd)(void *ctx, int fd, void (*cb)(int fd, void *payload), void *payload, void **token);
    void (*unwatch_fd)(void *ctx, void *token);

    /* Calls cb once on the loop after ms milliseconds, unless cancelled first. */
    int (*timer)(void *ctx, int64_t ms, void (*cb)(void *payload), void *payload, void **token);
    void (*cancel_timer)(void *ctx, void *token);

    /* Monotonic milliseconds (the node's clock: virtual in simulations). */
    int64_t (*now_ms)(void *ctx);

    /* Logs a line through the library's log callback. */
    void (*log)(void *ctx, int level, const char *message);
} swarm_runtime_host;

struct swarm_runtime_backend {
    unsigned version; /* SWARM_RUNTIME_BACKEND_VERSION */
    const char *name;

    /*
     * Binds the backend to its node. state_dir (may be NULL) is the backend's
     * own directory for task state and logs. A backend that keeps tasks across
     * restarts re-adopts them here and reports each one's current state.
     */
    int (*open)(struct swarm_runtime_backend *b, const swarm_runtime_host *host, const char *state_dir);

    /*
     * Starts a task. task_json is the Docker-shaped Task object (ID, Spec with
     * ContainerSpec, Resources...). Returns 0 once the start is under way (then
     * reports "starting"/"running", or "rejected" with the reason), or an
     * error: SWARM_EEXISTS if the task is already known, SWARM_EINVALID.
     */
    int (*start)(struct swarm_runtime_backend *b, const char *task_json);

    /*
     * Stops a task: its stop signal (ContainerSpec.StopSignal, default
     * SIGTERM), then SIGKILL after grace_ms. Reports "shutdown" once it is gone
     * (or its exit state if it ended by itself first). SWARM_ENOTFOUND if unknown.
     */
    int (*stop)(struct swarm_runtime_backend *b, const char *task_id, int64_t grace_ms);

    /* Forgets a task that is not running: frees its state and logs. SWARM_EBUSY if still running. */
    int (*remove)(struct swarm_runtime_backend *b, const char *task_id);

    /* JSON array of the known tasks: [{"ID", "State", "PID", "ExitCode"...}]. Free with swarm_free. */
    int (*list)(struct swarm_runtime_backend *b, char **out_json);

    /* Path of a task's captured output (stdout and stderr interleaved), or NULL. Borrowed. */
    const char *(*log_path)(struct swarm_runtime_backend *b, const char *task_id);

    /* Stops watching (tasks keep running, for re-adoption by the next open). */
    void (*close)(struct swarm_runtime_backend *b);

    /* Frees the backend (after close). */
    void (*free)(struct swarm_runtime_backend *b);
};

/** Makes a runtime instance; payload is the one given at registration. */
typedef int (*swarm_runtime_factory)(struct swarm_runtime_backend **out, void *payload);

/** Registers a runtime under `name` (the node option "Runtime"). SWARM_EEXISTS if taken. Thread-safe. */
SWARM_API int swarm_runtime_register(const char *name, swarm_runtime_factory factory, void *payload);

SWARM_END_DECLS

#endif

/* Internal: making task runtimes by name ("process", "fake" or one the embedder registered). */
#ifndef SWARM_AGENT_RUNTIME_H
#define SWARM_AGENT_RUNTIME_H

#include "core/error.h"
#include "swarm/sys/runtime.h"

/* Name used when the node option "Runtime" is not set. */
#define SWARM__RUNTIME_DEFAULT "process"

/*
 * Makes a runtime by its registered name (NULL means SWARM__RUNTIME_DEFAULT;
 * "process" and "fake" are built in). Checks the backend's version and that
 * its mandatory methods are set. SWARM_EINVALID "unknown runtime \"X\"",
 * SWARM_EBACKEND for a malformed backend, or the factory's error. Thread-safe.
 */
int swarm__runtime_create(const char *name, struct swarm_runtime_backend **out, swarm__err *e);

/* Checks a backend's version and methods: 0 or SWARM_EBACKEND. */
int swarm__runtime_backend_check(const struct swarm_runtime_backend *b, swarm__err *e);

/* 1 if a runtime of that name is registered (built-ins included). Thread-safe. */
int swarm__runtime_known(const char *name);

/* The built-in runtimes (lib/backends/runtime/{process,fake}). */
int swarm__runtime_process_new(struct swarm_runtime_backend **out);
int swarm__runtime_fake_new(struct swarm_runtime_backend **out);

#endif

/*
 * libswarm — logging.
 *
 * The library never writes to stderr. Messages go to one process-wide
 * callback (none by default, so nothing is printed).
 */
#ifndef SWARM_LOG_H
#define SWARM_LOG_H

#include "common.h"

SWARM_BEGIN_DECLS

enum {
    SWARM_LOG_ERROR = 1,
    SWARM_LOG_WARN = 2,
    SWARM_LOG_INFO = 3,
    SWARM_LOG_DEBUG = 4
};

/**
 * Receives one log line (no trailing newline). It may be called from any
 * libswarm thread, concurrently; it must not block for long and must not
 * call back into libswarm. `message` is valid only during the call.
 */
typedef void (*swarm_log_cb)(int level, const char *module, const char *message, void *payload);

/**
 * Installs the log callback and the most verbose level to deliver. NULL
 * removes it. Thread-safe; takes effect for messages logged after it returns.
 */
SWARM_API void swarm_log_set(swarm_log_cb cb, int max_level, void *payload);

SWARM_END_DECLS

#endif

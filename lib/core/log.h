/* Internal logging front end: formats and hands lines to the user's callback. */
#ifndef SWARM_CORE_LOG_H
#define SWARM_CORE_LOG_H

#include "swarm/log.h"

void swarm__log(int level, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define swarm__log_error(m, ...) swarm__log(SWARM_LOG_ERROR, m, __VA_ARGS__)
#define swarm__log_warn(m, ...) swarm__log(SWARM_LOG_WARN, m, __VA_ARGS__)
#define swarm__log_info(m, ...) swarm__log(SWARM_LOG_INFO, m, __VA_ARGS__)
#define swarm__log_debug(m, ...) swarm__log(SWARM_LOG_DEBUG, m, __VA_ARGS__)

#endif

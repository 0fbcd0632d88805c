/* The process-wide table of scheduling strategies, by name (built-ins included). */
#ifndef SWARM_MANAGER_SCHEDULER_REGISTRY_H
#define SWARM_MANAGER_SCHEDULER_REGISTRY_H

#include "core/error.h"
#include "swarm/sys/scheduler.h"

/*
 * Instantiates the strategy registered as `name` and checks its vtable.
 * SWARM_EINVALID "unknown scheduler strategy \"x\"", SWARM_EINVALID for a
 * vtable of another version or without rank/free, or the factory's error.
 */
int swarm__scheduler_strategy_create(struct swarm_scheduler_strategy **out, const char *name, swarm__err *e);

#endif

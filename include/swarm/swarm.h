/*
 * libswarm — Docker Swarm mode as an embeddable C library.
 *
 * Umbrella header: includes the whole public API. See README.md for a short
 * program, and each header for ownership, threading and errors.
 *
 * Conventions: functions return 0 or a negative SWARM_E* code and describe
 * failures through swarm_error_last(); out-parameters come first and belong
 * to the caller; objects are immutable snapshots; JSON crosses the API as
 * UTF-8 text in Docker Engine API shapes.
 */
#ifndef SWARM_SWARM_H
#define SWARM_SWARM_H

#include "common.h"
#include "errors.h"
#include "log.h"
#include "units.h"
#include "cluster.h"
#include "service.h"
#include "node.h"
#include "task.h"

#endif

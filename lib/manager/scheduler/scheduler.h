/*
 * scheduler: places pending tasks on nodes, as Swarm's scheduler does. For
 * each task a pipeline of filters removes the nodes that cannot take it (not
 * available for new tasks, insufficient resources, scheduling constraints,
 * unsupported platform, host-mode port in use, max replicas per node), the
 * task's placement preferences narrow the rest to one branch of the
 * spread-by-label tree, and the strategy chosen at creation ("spread",
 * "binpack" or one registered with swarm_scheduler_register) picks the node.
 *
 * A scheduler is used from one thread (the leader's loop). It keeps no state
 * between calls: each call gets the whole picture (nodes, load, pending).
 */
#ifndef SWARM_MANAGER_SCHEDULER_H
#define SWARM_MANAGER_SCHEDULER_H

#include "core/error.h"
#include "core/json.h"
#include "swarm/sys/scheduler.h"

typedef struct swarm__scheduler swarm__scheduler;

/*
 * strategy: a registered name, NULL = "spread".
 * Errors: SWARM_EINVALID "unknown scheduler strategy \"x\"" (or a strategy
 * whose factory returned a bad vtable), the factory's own code, SWARM_ENOMEM.
 */
int swarm__scheduler_new(swarm__scheduler **out, const char *strategy, swarm__err *e);

/* NULL-safe. */
void swarm__scheduler_free(swarm__scheduler *s);

/* Name of the strategy the scheduler uses (borrowed). */
const char *swarm__scheduler_strategy_name(const swarm__scheduler *s);

/*
 * Places pending tasks.
 *   nodes:   JSON array of Docker-shaped Node objects (nodes without an ID are ignored).
 *   tasks:   JSON array of the tasks that count as load (they have a NodeID; the
 *            caller passes tasks whose DesiredState is running and whose
 *            Status.State is not past running). Tasks on unknown nodes are ignored.
 *   pending: JSON array of Tasks to place. A task that already has a NodeID
 *            (global services) is only checked against that node.
 * *out (new reference): JSON array, one element per pending task in the same
 * order: {"NodeID": "<id>"} or {"Reason": "no suitable node (insufficient
 * resources on 2 nodes; scheduling constraints not satisfied on 1 node)"}.
 * The reasons are Swarm's, most frequent first (ties in filter order);
 * "no suitable node" alone when there are no nodes at all.
 *
 * Tasks placed earlier in the same call count as load for later ones
 * (reservations, task counts, host ports, max replicas). Nodes are considered
 * and handed to the strategy in node ID order (duplicates: input order), so
 * the result is deterministic for the same input. The strategy is asked once
 * per task and only its first choice is used.
 * Placement preferences (Spec.Placement.Preferences, Spread on node.labels.X
 * or engine.labels.X) apply whatever the strategy: the candidates handed to
 * the strategy are those of the branch with the fewest tasks of the service.
 *
 * Errors: SWARM_EINVALID when an argument is not a JSON array, SWARM_ENOMEM.
 * A failing strategy does not fail the call: the task gets a Reason.
 */
int swarm__scheduler_place(swarm__scheduler *s, const json_t *nodes, const json_t *tasks, const json_t *pending,
                           json_t **out, swarm__err *e);

/* Factories of the built-in strategies (lib/backends/scheduler/{spread,binpack}). payload is unused. */
int swarm__scheduler_spread_new(struct swarm_scheduler_strategy **out, void *payload);
int swarm__scheduler_binpack_new(struct swarm_scheduler_strategy **out, void *payload);

#endif

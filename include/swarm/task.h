/*
 * libswarm — tasks: one slot of a service on one node.
 *
 * A swarm_task_t is an immutable snapshot owned by the caller (free with
 * swarm_task_free). Calls need a manager and are thread-safe; getters return
 * strings borrowed for the handle's life.
 */
#ifndef SWARM_TASK_H
#define SWARM_TASK_H

#include "cluster.h"

SWARM_BEGIN_DECLS

typedef struct swarm_task swarm_task_t;

/** Finds a task by full ID or unique ID prefix. SWARM_ENOTFOUND ("task X not found"). */
SWARM_API int swarm_task_get(swarm_cluster_t *c, const char *id, swarm_task_t **out);

/**
 * Lists tasks, sorted by service, slot, node, then newest first. Filters (Docker's
 * forms, see swarm_service_list): "id", "service" (ID or name), "node" (ID or
 * hostname), "desired-state" ("running", "shutdown", "accepted"), "name".
 * Free with swarm_task_list_free.
 */
SWARM_API int swarm_task_list(swarm_cluster_t *c, const char *filters_json,
                              swarm_task_t ***out, size_t *count);

SWARM_API const char *swarm_task_id(const swarm_task_t *t);
SWARM_API uint64_t swarm_task_version(const swarm_task_t *t);
SWARM_API const char *swarm_task_service_id(const swarm_task_t *t);
/** Empty string while the task is not assigned to a node. */
SWARM_API const char *swarm_task_node_id(const swarm_task_t *t);
/** Replicated slots are 1..N, job slots 0..N-1; 0 for global tasks. */
SWARM_API uint64_t swarm_task_slot(const swarm_task_t *t);
/** Observed state ("new", "pending", ..., "running", "failed", ...). */
SWARM_API const char *swarm_task_state(const swarm_task_t *t);
/** State the managers want ("running", "shutdown", ...). */
SWARM_API const char *swarm_task_desired_state(const swarm_task_t *t);

/** The Docker-shaped Task object as JSON text; free with swarm_free. */
SWARM_API char *swarm_task_json(const swarm_task_t *t);

SWARM_API void swarm_task_free(swarm_task_t *t);
SWARM_API void swarm_task_list_free(swarm_task_t **list, size_t count);

SWARM_END_DECLS

#endif

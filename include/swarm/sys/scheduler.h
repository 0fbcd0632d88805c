/*
 * libswarm — scheduling strategies (for backend authors).
 *
 * The leader's scheduler places each pending task in two steps, as Swarm
 * does: a pipeline of filters removes the nodes that cannot take the task
 * (not ready, not active, not enough unreserved CPU or memory, placement
 * constraints, host-port conflicts, max replicas per node), then a strategy
 * orders the remaining candidates. Built-in strategies: "spread" (the
 * default: fewest tasks of the task's service, then fewest tasks overall,
 * honouring placement preferences) and "binpack" (fill the fullest node that
 * still fits). An embedding program may register its own.
 *
 * Threading: strategies run on the leader's loop thread, one call at a time.
 * They must be fast (they run once per task) and must not call libswarm.
 */
#ifndef SWARM_SYS_SCHEDULER_H
#define SWARM_SYS_SCHEDULER_H

#include "../common.h"

SWARM_BEGIN_DECLS

#define SWARM_SCHEDULER_STRATEGY_VERSION 1

/* What a strategy knows of a candidate node. Strings are borrowed for the call. */
typedef struct swarm_sched_node {
    const char *id;
    const char *hostname;
    const char *node_json;        /* the whole Docker-shaped Node object */
    int64_t nano_cpus;            /* Description.Resources.NanoCPUs */
    int64_t memory_bytes;         /* Description.Resources.MemoryBytes */
    int64_t reserved_nano_cpus;   /* sum of reservations of the node's active tasks */
    int64_t reserved_memory_bytes;
    uint64_t tasks;               /* active tasks on the node (all services) */
    uint64_t service_tasks;       /* active tasks of this task's service on the node */
} swarm_sched_node;

struct swarm_scheduler_strategy {
    unsigned version; /* SWARM_SCHEDULER_STRATEGY_VERSION */
    const char *name;

    /*
     * Orders the candidates for one task (task_json: the Docker-shaped Task).
     * Writes into order[] indexes into nodes[], best first, and their count
     * into *n_out (fewer than n removes candidates; 0 leaves the task
     * pending). Returns 0 or a SWARM_E* code (the task then stays pending).
     */
    int (*rank)(struct swarm_scheduler_strategy *s, const char *task_json, const swarm_sched_node *nodes,
                size_t n, size_t *order, size_t *n_out);

    /* Frees the strategy. */
    void (*free)(struct swarm_scheduler_strategy *s);
};

typedef int (*swarm_scheduler_factory)(struct swarm_scheduler_strategy **out, void *payload);

/**
 * Registers a strategy under `name`, selectable with the node option
 * "Scheduler". SWARM_EEXISTS if taken, SWARM_EINVALID for a bad name.
 * Thread-safe.
 */
SWARM_API int swarm_scheduler_register(const char *name, swarm_scheduler_factory factory, void *payload);

SWARM_END_DECLS

#endif

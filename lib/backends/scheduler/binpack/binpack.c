/*
 * "binpack": fill the fullest node that still fits. The score of a node is
 * the share of its CPU plus the share of its memory that would be reserved
 * once the task is placed (a resource the node does not report counts 0);
 * the highest score wins, then the node with the most tasks, then the earlier
 * candidate (the lower node ID: the scheduler passes them in ID order). With no reservations at all this fills one node after the other.
 * Only the best candidate is returned (see spread.c).
 */
#include "manager/scheduler/scheduler.h"

#include <jansson.h>
#include <stdlib.h>

static double share(int64_t reserved, int64_t extra, int64_t total)
{
    return total > 0 ? (double)(reserved + extra) / (double)total : 0.0;
}

static int binpack_rank(struct swarm_scheduler_strategy *s, const char *task_json, const swarm_sched_node *nodes,
                        size_t n, size_t *order, size_t *n_out)
{
    (void)s;
    *n_out = 0;
    if (n == 0)
        return 0;
    int64_t cpus = 0, memory = 0;
    json_t *task = json_loads(task_json, 0, NULL);
    if (task != NULL) {
        json_t *res = json_object_get(json_object_get(json_object_get(task, "Spec"), "Resources"), "Reservations");
        cpus = json_integer_value(json_object_get(res, "NanoCPUs"));
        memory = json_integer_value(json_object_get(res, "MemoryBytes"));
        json_decref(task);
    }
    size_t best = 0;
    double best_score = -1.0;
    for (size_t i = 0; i < n; i++) {
        const swarm_sched_node *node = &nodes[i];
        double score = share(node->reserved_nano_cpus, cpus, node->nano_cpus) +
                       share(node->reserved_memory_bytes, memory, node->memory_bytes);
        int wins;
        if (i == 0 || score != best_score)
            wins = i == 0 || score > best_score;
        else
            wins = node->tasks > nodes[best].tasks;
        if (wins) {
            best = i;
            best_score = score;
        }
    }
    order[0] = best;
    *n_out = 1;
    return 0;
}

static void binpack_free(struct swarm_scheduler_strategy *s)
{
    free(s);
}

int swarm__scheduler_binpack_new(struct swarm_scheduler_strategy **out, void *payload)
{
    (void)payload;
    struct swarm_scheduler_strategy *s = calloc(1, sizeof *s);
    if (s == NULL)
        return SWARM_ENOMEM;
    s->version = SWARM_SCHEDULER_STRATEGY_VERSION;
    s->name = "binpack";
    s->rank = binpack_rank;
    s->free = binpack_free;
    *out = s;
    return 0;
}

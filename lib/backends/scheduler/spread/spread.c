/*
 * "spread", Swarm's default strategy: the node with the fewest tasks of the
 * task's service, then the fewest tasks overall; between equal nodes the
 * earlier candidate, and as the scheduler hands candidates over in node ID
 * order, the same input always gives the same placement. Placement preferences
 * are applied by the scheduler before the strategy sees the candidates.
 *
 * Only the best candidate is returned (n_out 1): the scheduler places one task
 * per call and updates the counts before the next, which spreads a batch the
 * way Swarm's fill-then-round-robin loop does, in O(nodes) per task.
 */
#include "manager/scheduler/scheduler.h"

#include <stdlib.h>

static int better(const swarm_sched_node *a, const swarm_sched_node *b)
{
    if (a->service_tasks != b->service_tasks)
        return a->service_tasks < b->service_tasks;
    return a->tasks < b->tasks;
}

static int spread_rank(struct swarm_scheduler_strategy *s, const char *task_json, const swarm_sched_node *nodes,
                       size_t n, size_t *order, size_t *n_out)
{
    (void)s;
    (void)task_json;
    *n_out = 0;
    if (n == 0)
        return 0;
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (better(&nodes[i], &nodes[best]))
            best = i;
    order[0] = best;
    *n_out = 1;
    return 0;
}

static void spread_free(struct swarm_scheduler_strategy *s)
{
    free(s);
}

int swarm__scheduler_spread_new(struct swarm_scheduler_strategy **out, void *payload)
{
    (void)payload;
    struct swarm_scheduler_strategy *s = calloc(1, sizeof *s);
    if (s == NULL)
        return SWARM_ENOMEM;
    s->version = SWARM_SCHEDULER_STRATEGY_VERSION;
    s->name = "spread";
    s->rank = spread_rank;
    s->free = spread_free;
    *out = s;
    return 0;
}

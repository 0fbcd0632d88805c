/*
 * Orchestration decisions, as pure functions of the store's content: given a
 * service (or NULL once it is deleted), all of its tasks and the nodes, what
 * must change so that the service converges. The manager applies the plan
 * through the proposer and calls again after every relevant change, so each
 * call only has to make progress, not finish.
 *
 * Covers the replicated orchestrator (slots 1..N; scale down removes the
 * highest slots), the global orchestrator (one task per eligible node), jobs
 * (replicated-job slots 0..N-1 up to TotalCompletions, MaxConcurrent at a
 * time; global-job once per node), the restart supervisor (condition,
 * delay, max attempts within a window; a delayed replacement waits with
 * DesiredState "ready"), rolling replacement of outdated tasks
 * (UpdateConfig.Parallelism) and the task reaper (TaskHistoryRetentionLimit
 * dead tasks kept per slot; tasks marked "remove" deleted once stopped).
 */
#ifndef SWARM_ORCHESTRATOR_H
#define SWARM_ORCHESTRATOR_H

#include "core/clock.h"
#include "store/store.h"

typedef struct swarm__orch_input {
    const json_t *service;    /* Service object, or NULL when the service was deleted */
    const json_t *tasks;      /* array of this service's tasks */
    const json_t *nodes;      /* array of all nodes */
    int64_t now_ns;           /* wall clock (timestamps are wall clock, as Docker's) */
    int64_t history_limit;    /* TaskHistoryRetentionLimit */
    const swarm__clock *clock; /* IDs for new tasks */
    /* Node eligibility for global services: 1 if the task spec may run on the node. NULL = ready+active. */
    int (*eligible)(void *payload, const json_t *task_spec, const json_t *node);
    void *eligible_payload;
} swarm__orch_input;

typedef struct swarm__orch_plan {
    swarm__action *actions; /* task creates, patches and deletes */
    size_t n, cap;
    int64_t wake_at_ns;     /* 0, or when a delayed restart becomes due: call again then */
    int updating;           /* a rolling replacement is under way: call again when a task starts running */
} swarm__orch_plan;

/* Fills plan (zero it first). 0 or SWARM_ENOMEM / SWARM_EIO. */
int swarm__orchestrate(const swarm__orch_input *in, swarm__orch_plan *plan, swarm__err *e);
void swarm__orch_plan_free(swarm__orch_plan *plan);

/* A new task for a service (Docker's Task shape), state "pending". NULL on ENOMEM. */
json_t *swarm__task_new(const json_t *service, uint64_t slot, const char *node_id, const char *desired_state,
                        int64_t now_ns, const swarm__clock *clock);

#endif

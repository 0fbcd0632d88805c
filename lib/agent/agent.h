/*
 * The agent: a node's worker side. It keeps a session with the leader's
 * dispatcher, runs the tasks assigned to this node through a runtime backend
 * (a task manager per task: start when desired running, stop when desired
 * shutdown/remove, forget when unassigned) and reports every observed state
 * change back. Tasks keep running while the session is away; a restarted
 * agent re-adopts them through the runtime. Runs on the node's loop.
 */
#ifndef SWARM_AGENT_H
#define SWARM_AGENT_H

#include "core/clock.h"
#include "manager/dispatcher/dispatcher.h"

#include <event2/event.h>

typedef struct swarm__agent swarm__agent;

/* Opens the runtime (re-adopting its tasks) under state_dir/runtime. */
int swarm__agent_start(swarm__agent **out, struct event_base *base, const swarm__clock *clock, const char *runtime,
                       const char *state_dir, const char *node_id, swarm__err *e);

/* Opens a session with a dispatcher in this process. */
int swarm__agent_attach(swarm__agent *a, swarm__dispatcher *d, swarm__err *e);

/*
 * Closes the session and the runtime. Tasks keep running for the next start
 * to re-adopt, unless kill_tasks (a node whose state does not outlive it):
 * then they are killed first. NULL allowed.
 */
void swarm__agent_stop(swarm__agent *a, int kill_tasks);

/* Path of a task's captured output, or NULL (borrowed). */
const char *swarm__agent_log_path(swarm__agent *a, const char *task_id);

#endif

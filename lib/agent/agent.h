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
#include "core/timers.h"
#include "manager/dispatcher/dispatcher.h"

#include <event2/event.h>

typedef struct swarm__agent swarm__agent;

/* Opens the runtime (re-adopting its tasks) under state_dir/runtime. */
int swarm__agent_start(swarm__agent **out, struct event_base *base, swarm__timers *timers, const swarm__clock *clock,
                       const char *runtime, const char *state_dir, const char *node_id, swarm__err *e);

/* Receives task status updates (a JSON array, borrowed) on their way to the managers. */
typedef void (*swarm__status_sink)(void *payload, const json_t *updates);

/*
 * Connects the agent to its managers: status updates go to sink from now on,
 * starting with the current state of every task the agent knows (a manager
 * that just (re)connected learns what happened meanwhile). NULL disconnects:
 * reports are then dropped, and re-sent at the next connection.
 */
void swarm__agent_set_uplink(swarm__agent *a, swarm__status_sink sink, void *payload);

/* Handles an assignments message from the dispatcher (see dispatcher.h). */
void swarm__agent_assignments(swarm__agent *a, const json_t *msg);

/* Opens a session with a dispatcher in this process (a manager's own agent). */
int swarm__agent_attach(swarm__agent *a, swarm__dispatcher *d, swarm__err *e);

/* Closes the in-process session (before that dispatcher goes away). Safe when not attached. */
void swarm__agent_detach(swarm__agent *a);
/* This node's description for the dispatcher: Hostname, Platform, Resources, Engine. New reference. */
json_t *swarm__agent_describe(const char *hostname);

/*
 * Closes the session and the runtime. Tasks keep running for the next start
 * to re-adopt, unless kill_tasks (a node whose state does not outlive it):
 * then they are killed first. NULL allowed.
 */
void swarm__agent_stop(swarm__agent *a, int kill_tasks);

/* Path of a task's captured output, or NULL (borrowed). */
const char *swarm__agent_log_path(swarm__agent *a, const char *task_id);

#endif

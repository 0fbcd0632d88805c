/*
 * The dispatcher: the leader's end of every node's agent session. It sends a
 * node the tasks assigned to it (the full set when the session opens, then
 * changes) and writes the task states the node reports back into the store,
 * in batches. Runs on the leader's loop.
 *
 * Messages are JSON, as they will travel over the network:
 *   assignments {"Full": true|false, "Tasks": [Task...], "Removed": ["id"...]}
 *   status      [{"TaskID": "...", "Status": {Timestamp, State, Message, Err, ContainerStatus}}...]
 */
#ifndef SWARM_DISPATCHER_H
#define SWARM_DISPATCHER_H

#include "core/clock.h"
#include "raft/proposer.h"
#include "store/store.h"

#include <event2/event.h>

typedef struct swarm__dispatcher swarm__dispatcher;
typedef struct swarm__session swarm__session;

/* Delivers one assignments message (borrowed) to the agent; runs on the loop, never inside a dispatcher call. */
typedef void (*swarm__assign_fn)(void *payload, const json_t *assignments);

int swarm__dispatcher_new(swarm__dispatcher **out, struct event_base *base, swarm__store *store,
                          swarm__proposer *proposer, const swarm__clock *clock, swarm__err *e);
void swarm__dispatcher_free(swarm__dispatcher *d); /* closes every session */

int swarm__dispatcher_open(swarm__dispatcher *d, const char *node_id, swarm__assign_fn fn, void *payload,
                           swarm__session **out, swarm__err *e);
void swarm__dispatcher_close(swarm__dispatcher *d, swarm__session *s);

/* Queues status updates (borrowed array) from the session's node; written in a batch soon after. */
void swarm__dispatcher_status(swarm__dispatcher *d, swarm__session *s, const json_t *updates);

#endif

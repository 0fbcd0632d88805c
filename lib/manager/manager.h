/*
 * The leader's control loop: drives the orchestrators and the scheduler from
 * store changes and owns the dispatcher. Passes are serialised: a pass reads
 * a snapshot, decides, proposes, and the next pass starts only after those
 * proposals applied, so no decision is made twice on stale state.
 */
#ifndef SWARM_MANAGER_H
#define SWARM_MANAGER_H

#include "core/clock.h"
#include "core/timers.h"
#include "manager/dispatcher/dispatcher.h"
#include "raft/proposer.h"
#include "store/store.h"

#include <event2/event.h>

typedef struct swarm__manager swarm__manager;

int swarm__manager_start(swarm__manager **out, struct event_base *base, swarm__timers *timers, swarm__store *store,
                         swarm__proposer *proposer, const swarm__clock *clock, const char *scheduler,
                         swarm__err *e);

/* Runs a decision pass soon (the fixture uses it after moving virtual time). */
void swarm__manager_kick(swarm__manager *m);
void swarm__manager_stop(swarm__manager *m); /* NULL allowed */
swarm__dispatcher *swarm__manager_dispatcher(swarm__manager *m);

#endif

/*
 * The leader's network face for nodes: joining (CA certificate, node
 * certificates for join tokens), proof of identity on each link, dispatcher
 * sessions of remote agents with heartbeats, and node liveness (a node whose
 * heartbeats stop for three periods, or whose link stays down for one period,
 * is marked down). Workers may use only the dispatcher; control requests
 * from them are refused. Runs on the loop.
 */
#ifndef SWARM_NODESERVER_H
#define SWARM_NODESERVER_H

#include "core/clock.h"
#include "core/timers.h"
#include "manager/dispatcher/dispatcher.h"
#include "swarm/sys/transport.h"

typedef struct swarm__nodeserver swarm__nodeserver;

int swarm__nodeserver_new(swarm__nodeserver **out, swarm__timers *timers, swarm__store *store,
                          swarm__proposer *proposer, swarm__dispatcher *dispatcher, const swarm__clock *clock,
                          const char *self_node_id, swarm__err *e);
void swarm__nodeserver_free(swarm__nodeserver *s);

/* The transport to answer on (set before links come up). */
void swarm__nodeserver_set_transport(swarm__nodeserver *s, struct swarm_transport_backend *t);

/* Transport host events, forwarded by the node. */
void swarm__nodeserver_link_up(swarm__nodeserver *s, uint64_t link, const char *remote_addr);
void swarm__nodeserver_link_down(swarm__nodeserver *s, uint64_t link);
void swarm__nodeserver_receive(swarm__nodeserver *s, uint64_t link, uint64_t request_id, const swarm_transport_msg *msg);

#endif

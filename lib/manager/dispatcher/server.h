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

/*
 * What the node server asks of its manager (all optional; called on the loop):
 *   leader: the leader's address, NULL when unknown (or when this manager leads);
 *   managers: the managers' addresses, a new JSON array (for workers to fail over);
 *   raft: a Raft message from the authenticated manager node_id;
 *   control: a CONTROL request from a manager; answer it with swarm__proto_respond* on link/rid;
 *   raft_join: a manager (node_id) that holds a manager certificate asks to become a voter at "Addr".
 */
typedef struct swarm__nodeserver_hooks {
    void *payload;
    const char *(*leader)(void *payload);
    json_t *(*managers)(void *payload);
    void (*raft)(void *payload, uint64_t link, const char *node_id, const swarm_transport_msg *msg);
    void (*control)(void *payload, uint64_t link, uint64_t rid, const json_t *body);
    void (*raft_join)(void *payload, uint64_t link, uint64_t rid, const char *node_id, const json_t *body);
} swarm__nodeserver_hooks;

/*
 * A node server answers on every manager: CA_GET, proofs of identity and Raft
 * traffic everywhere; joining, certificate signing and dispatcher sessions only
 * while leading (see swarm__nodeserver_lead), else refused with
 * SWARM_ENOTLEADER and {"Leader","Managers"} in the error body so that the
 * node can go to the leader. dispatcher and proposer may be NULL (not leading).
 */
int swarm__nodeserver_new(swarm__nodeserver **out, swarm__timers *timers, swarm__store *store,
                          swarm__proposer *proposer, swarm__dispatcher *dispatcher, const swarm__clock *clock,
                          const char *self_node_id, swarm__err *e);
void swarm__nodeserver_set_hooks(swarm__nodeserver *s, const swarm__nodeserver_hooks *hooks);
/* The CA certificate and cluster ID to check proofs with while the store has no cluster yet (a joining manager). */
void swarm__nodeserver_set_ca(swarm__nodeserver *s, const char *ca_pem, const char *cluster_id);
/*
 * Starts (dispatcher != NULL) or stops leading. Starting gives every node the
 * store shows ready a grace of three heartbeat periods to open a session
 * before it is marked down; stopping closes every session (their agents come
 * back, are refused and go to the new leader).
 */
void swarm__nodeserver_lead(swarm__nodeserver *s, swarm__proposer *proposer, swarm__dispatcher *dispatcher);
void swarm__nodeserver_free(swarm__nodeserver *s);

/* The transport to answer on (set before links come up). */
void swarm__nodeserver_set_transport(swarm__nodeserver *s, struct swarm_transport_backend *t);

/* Transport host events, forwarded by the node. */
void swarm__nodeserver_link_up(swarm__nodeserver *s, uint64_t link, const char *remote_addr);
void swarm__nodeserver_link_down(swarm__nodeserver *s, uint64_t link);
void swarm__nodeserver_receive(swarm__nodeserver *s, uint64_t link, uint64_t request_id, const swarm_transport_msg *msg);

#endif

/*
 * A manager's Raft member (lib/raft) inside the engine, and what follows from
 * leadership. Runs on the engine's loop; part of lib/api (engine_int.h).
 *
 * - Every manager runs a member of the group; `swarm init` bootstraps a
 *   one-voter group, a joining manager starts empty and asks the leader to
 *   add it (RAFT_JOIN) once it holds its manager certificate.
 * - Only the leader runs the orchestrators, the scheduler and the dispatcher,
 *   and signs certificates: they start once a barrier of the new term applied
 *   (so they decide on the whole state) and stop when leadership is lost. A
 *   manager that does not lead runs its agent over a worker session with the
 *   leader.
 * - Control calls on a manager that does not lead go to the leader (CONTROL
 *   over a link on which this manager proved its identity). While no leader
 *   is known they wait up to leader_wait_ms, then fail with SWARM_ENOTLEADER
 *   and swarm__no_leader; reads then answer from this manager's own copy.
 * - Links this manager dials to other managers prove its identity (nonce +
 *   signature) before Raft uses them; Raft messages arriving on links it
 *   accepted are taken only from nodes the node server proved to be managers.
 */
#ifndef SWARM_API_REPLICA_H
#define SWARM_API_REPLICA_H

#include "api/engine_int.h"
#include "raft/raft.h"

extern const char swarm__no_leader[];

/* The Raft ID of a manager: a stable 64-bit hash of its node ID (never 0). */
uint64_t swarm__raft_id_of(const char *node_id);

/*
 * Starts this manager's member on eng->transport and eng->store: from its
 * stored state (NORMAL; a joining manager starts empty), as a new one-voter
 * group (BOOTSTRAP, swarm init), or keeping the state but with this manager
 * as the only voter (RECOVER, --force-new-cluster). Already started: only
 * connects it to a new node server.
 */
enum { SWARM__REPLICA_NORMAL = 0, SWARM__REPLICA_BOOTSTRAP = 1, SWARM__REPLICA_RECOVER = 2 };
int swarm__replica_start(swarm__engine *eng, int mode, swarm__err *e);
/* Stops leading, fails forwarded calls with SWARM_ECLOSED, frees the member. Safe when not started. */
void swarm__replica_stop(swarm__engine *eng);

/* Routes a control call: 0 = run it here; 1 = taken (forwarded or queued; it is answered later). */
int swarm__replica_route(swarm__engine *eng, rpc_call *call, const json_t *req);
/* Answers a call that came from another manager (rpc_call.remote_rid != 0). Frees the call. */
void swarm__replica_remote_reply(rpc_call *r, int rc, const swarm__err *err, json_t *result);

/* Joining: asks the leader at leader_addr to add this manager as a voter; cb runs once. */
typedef void (*swarm__replica_joined_fn)(void *payload, int rc, const char *message);
int swarm__replica_join(swarm__engine *eng, const char *leader_addr, swarm__replica_joined_fn cb, void *payload,
                        swarm__err *e);

/* Transport events on links this node dialed; return 1 when the link was the replica's. */
int swarm__replica_link_up(swarm__engine *eng, uint64_t link, const char *remote_addr);
void swarm__replica_link_down(swarm__engine *eng, uint64_t link);
int swarm__replica_receive(swarm__engine *eng, uint64_t link, uint64_t rid, const swarm_transport_msg *msg);

/*
 * NodeUpdate on the leader: a demotion of a voter is refused when it would
 * leave no manager or lose quorum; else the store's role changes first (the
 * node steps down when it sees it) and the voter is removed after. The leader
 * demoting itself hands leadership over first. 0 = not a demotion (run it as usual).
 */
int swarm__replica_node_update(swarm__engine *eng, rpc_call *call, const json_t *req);

/* Fills ManagerStatus (Leader, Reachability) of the nodes in a NodeGet / NodeList result. */
void swarm__replica_decorate(swarm__engine *eng, const char *method, json_t *result);

#endif

/*
 * A worker's session with the leader, over the transport: proves the node's
 * identity on each new link (signing the manager's nonce with the node key),
 * opens a dispatcher session with the node's description, heartbeats at the
 * period the manager asks for, forwards assignments to the agent and the
 * agent's status updates to the manager. The transport redials a lost link
 * with backoff; each new link repeats the handshake and the agent re-reports
 * its tasks, so nothing is lost while the managers were unreachable (tasks
 * keep running meanwhile). The node's certificate is renewed with the manager
 * at a random point between 50% and 80% of its lifetime (Swarm's rule; the
 * environment variable LIBSWARM_TEST_CERT_RENEW_MS shortens the wait for
 * tests). With several managers, a manager that does not lead sends the node
 * to the leader; a link that stays down for half a second makes the session
 * try the next manager it knows. Runs on the node's loop.
 */
#ifndef SWARM_AGENT_SESSION_H
#define SWARM_AGENT_SESSION_H

#include "agent/agent.h"
#include "swarm/sys/transport.h"

typedef struct swarm__worker_session swarm__worker_session;

/* Refusal callback: the managers refused this node for good (removed, wrong cluster). */
typedef void (*swarm__refused_fn)(void *payload, const char *why);

/* A renewed certificate and its new key (PEM, borrowed): persist them and use them for new links. */
typedef void (*swarm__renewed_fn)(void *payload, const char *cert_pem, const char *key_pem);

int swarm__worker_session_start(swarm__worker_session **out, swarm__timers *timers, const swarm__clock *clock,
                                struct swarm_transport_backend *transport, const char *manager_addr,
                                const char *cert_pem, const char *key_pem, swarm__agent *agent,
                                const char *hostname, swarm__refused_fn refused, swarm__renewed_fn renewed,
                                void *payload, swarm__err *e);
void swarm__worker_session_stop(swarm__worker_session *w);

void swarm__worker_session_link_up(swarm__worker_session *w, uint64_t link);
void swarm__worker_session_link_down(swarm__worker_session *w, uint64_t link);
void swarm__worker_session_receive(swarm__worker_session *w, uint64_t link, uint64_t request_id,
                                   const swarm_transport_msg *msg);

/* promoted(payload) runs (on the loop, once per heartbeat until acted on) when the managers made this node a manager. */
void swarm__worker_session_on_promotion(swarm__worker_session *w, void (*promoted)(void *payload));
/* Managers to fail over to (a JSON array of addresses, borrowed); the session also learns them from the managers. */
void swarm__worker_session_set_managers(swarm__worker_session *w, const json_t *managers);
/* The link to the manager (the same across reconnects; a new one when the session moves to another manager). */
uint64_t swarm__worker_session_link(const swarm__worker_session *w);

/* 1 while a dispatcher session is open. */
int swarm__worker_session_connected(const swarm__worker_session *w);

#endif

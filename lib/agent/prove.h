/*
 * A node proves who it is on a link it dialed: it asks the far side (a
 * manager's node server) for a nonce, signs it with its key, and sends the
 * signature with its certificate (AUTH). Used by a worker's session and by a
 * manager on the links it dials to other managers. Runs on the node's loop.
 */
#ifndef SWARM_AGENT_PROVE_H
#define SWARM_AGENT_PROVE_H

#include "core/clock.h"
#include "swarm/sys/transport.h"

/*
 * The outcome, once: status != 0 when the link failed or timed out (try again
 * on the next link); else rc 0 (proved) or the manager's refusal rc with its
 * message why (borrowed for the call). A failure to sign the nonce is
 * status 0, rc SWARM_EINVALID.
 */
typedef void (*swarm__prove_cb)(void *payload, int status, int rc, const char *why);

/* Starts the proof; cert and key (PEM) are copied. 0, or the transport's error (cb never runs then). */
int swarm__prove(struct swarm_transport_backend *t, uint64_t link, const char *cert, const char *key,
                 const swarm__clock *clock, int64_t timeout_ms, swarm__prove_cb cb, void *payload);

#endif

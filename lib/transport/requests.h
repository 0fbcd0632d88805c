/*
 * Request bookkeeping shared by the transports (loop thread only): the
 * requests this node sent (id assignment, deadline timers on the host,
 * matching responses, failing them on link loss) and the requests it received
 * and has not answered yet. Every response callback fires exactly once.
 */
#ifndef SWARM_TRANSPORT_REQUESTS_H
#define SWARM_TRANSPORT_REQUESTS_H

#include "swarm/sys/transport.h"

typedef struct swarm__requests swarm__requests;

/* host must outlive the table. 0 or SWARM_ENOMEM. */
int swarm__requests_new(swarm__requests **out, const swarm_transport_host *host);
/* Cancels the timers and frees the table; pending callbacks are NOT called (fail them first). */
void swarm__requests_free(swarm__requests *r);

/* Registers an outgoing request on link and arms its deadline. *id is its new request id. 0, SWARM_EINVALID (timeout <= 0), SWARM_ENOMEM. */
int swarm__requests_add(swarm__requests *r, uint64_t link, int64_t timeout_ms, swarm_transport_response_cb cb,
                        void *payload, uint64_t *id);
/* Forgets a request without calling its callback (its send failed synchronously). */
void swarm__requests_cancel(swarm__requests *r, uint64_t id);
/* A response arrived: fires the callback with status 0. SWARM_ENOTFOUND if unknown (late) or from another link. */
int swarm__requests_complete(swarm__requests *r, uint64_t link, uint64_t id, const swarm_transport_msg *response);
/* Fails every outgoing request on link (all links if link == 0) with status, oldest first. */
void swarm__requests_fail(swarm__requests *r, uint64_t link, int status);
/* Number of outgoing requests still pending. */
size_t swarm__requests_pending(const swarm__requests *r);

/* A request arrived on link: 0, SWARM_EEXISTS (duplicate id: a protocol error) or SWARM_ENOMEM. */
int swarm__requests_incoming_add(swarm__requests *r, uint64_t link, uint64_t id);
/* Takes the right to answer it: 0 or SWARM_ENOTFOUND. */
int swarm__requests_incoming_take(swarm__requests *r, uint64_t link, uint64_t id);
/* Forgets the unanswered requests received on link (all links if 0). */
void swarm__requests_incoming_drop(swarm__requests *r, uint64_t link);

#endif

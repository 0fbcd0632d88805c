/*
 * The node-to-node protocol: message types carried in the transport's
 * envelope, each with a JSON body. Requests expect exactly one response.
 *
 *   Joining (allowed before a node has proved who it is):
 *     CA_GET        req  {}                              -> {"CACert"}
 *     CERT_ISSUE    req  {"Token","CSR","Hostname","Availability","Addr"} -> {"NodeID","ClusterID","Role","Cert","CACert"}
 *   Proof of identity (binds the link to a node):
 *     NONCE         req  {}                              -> {"Nonce"} (hex)
 *     AUTH          req  {"Cert","Signature"} (hex, over the nonce) -> {"NodeID","Role"}
 *   Certificate renewal (authenticated nodes, for themselves):
 *     CERT_RENEW    req  {"CSR"}                         -> {"Cert"}
 *   Dispatcher session (any authenticated node):
 *     SESSION       req  {"Description"}                 -> {"SessionID","HeartbeatPeriod"}
 *     HEARTBEAT     req  {"SessionID"}                   -> {"HeartbeatPeriod"}
 *     STATUS        one  {"SessionID","Updates"}
 *     ASSIGN        one  manager -> node: dispatcher assignments message
 *   Control (managers only; workers are refused), a follower forwarding to the leader:
 *     CONTROL       req  {"Method","Params"}             -> {"Result"}
 *   Raft membership (a node holding a manager certificate, to the leader):
 *     RAFT_JOIN     req  {"Addr"}                        -> {} once it is a voter
 * Requests only the leader answers (CERT_ISSUE, CERT_RENEW, SESSION, HEARTBEAT,
 * CONTROL, RAFT_JOIN) are refused elsewhere with SWARM_ENOTLEADER and the error
 * body also carries "Leader" (address, absent when unknown) and "Managers".
 * Error responses to requests: {"Code": SWARM_E*, "Message": "..."}.
 */
#ifndef SWARM_PROTO_H
#define SWARM_PROTO_H

#include "swarm/sys/transport.h"

#include <jansson.h>

enum {
    SWARM__MSG_CA_GET = 1,
    SWARM__MSG_CERT_ISSUE = 2,
    SWARM__MSG_NONCE = 3,
    SWARM__MSG_AUTH = 4,
    SWARM__MSG_CERT_RENEW = 5,
    SWARM__MSG_SESSION = 10,
    SWARM__MSG_HEARTBEAT = 11,
    SWARM__MSG_STATUS = 12,
    SWARM__MSG_ASSIGN = 13,
    SWARM__MSG_CONTROL = 20,
    /* Raft (managers only): one-way, a compact little-endian binary body (lib/raft/io.c). */
    SWARM__MSG_RAFT = 30,
    SWARM__MSG_RAFT_JOIN = 31,
};

/* Sends a JSON body one way / as a response. 0 or the transport's error. */
int swarm__proto_send(struct swarm_transport_backend *t, uint64_t link, uint32_t type, const json_t *body);
int swarm__proto_respond(struct swarm_transport_backend *t, uint64_t link, uint64_t request_id, uint32_t type,
                         const json_t *body);
/* An error response {"Code","Message"}. */
int swarm__proto_respond_error(struct swarm_transport_backend *t, uint64_t link, uint64_t request_id, uint32_t type,
                               int code, const char *message);
int swarm__proto_request(struct swarm_transport_backend *t, uint64_t link, uint32_t type, const json_t *body,
                         int64_t timeout_ms, swarm_transport_response_cb cb, void *payload);

/* Parses a body; NULL if it is not a JSON object. New reference. */
json_t *swarm__proto_body(const swarm_transport_msg *msg);

/* For a response body: 0, or its "Code" (message in *message, borrowed from body). */
int swarm__proto_error_of(const json_t *body, const char **message);

/* Hex helpers for nonces and signatures. */
char *swarm__hex_encode(const unsigned char *data, size_t len);
int swarm__hex_decode(const char *hex, unsigned char **out, size_t *len);

#endif

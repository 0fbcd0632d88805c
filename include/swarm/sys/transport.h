/*
 * libswarm — node-to-node transports (for backend authors).
 *
 * A transport carries framed messages between nodes over "links". A node
 * listens on one address and dials the addresses of others; every live
 * connection, in either direction, is a link with a numeric id. On a link
 * either side may send one-way messages, send requests (answered by exactly
 * one response, or failed at their deadline) and answer requests.
 *
 * libswarm ships "nng" (nng tls+tcp, mutual TLS under the cluster CA; a plain
 * tcp mode for tests) and "mem" (in one process, for the cluster fixture:
 * several nodes over virtual links with fault knobs). Peer identity is not
 * the transport's business: the layer above proves it with a signed hello.
 *
 * Threading: every method is called on the node's loop thread; every host
 * callback is made on that thread too (a backend whose I/O completes on other
 * threads hands completions to the loop, e.g. with host->post). Callbacks are
 * never made from inside the method that caused them.
 */
#ifndef SWARM_SYS_TRANSPORT_H
#define SWARM_SYS_TRANSPORT_H

#include "../common.h"

SWARM_BEGIN_DECLS

#define SWARM_TRANSPORT_BACKEND_VERSION 1

/* Largest message a backend must carry (snapshots travel in pieces of at most this). */
#define SWARM_TRANSPORT_MAX_MESSAGE (64u * 1024u * 1024u)

typedef struct swarm_transport_msg {
    uint32_t type;      /* application message type (the envelope's "kind") */
    const void *body;   /* borrowed for the call */
    size_t len;
} swarm_transport_msg;

/* Services the node offers to its transport. */
typedef struct swarm_transport_host {
    unsigned version; /* 1 */
    void *ctx;

    /* A link came up (dialed or accepted) or went down. `remote_addr` is the dialed address or the peer's socket address. */
    void (*link_up)(void *ctx, uint64_t link, const char *remote_addr, int accepted);
    void (*link_down)(void *ctx, uint64_t link);

    /*
     * A message arrived. request_id is 0 for a one-way message, else the
     * receiver must answer exactly once with respond(link, request_id, ...)
     * (or let the requester's deadline pass).
     */
    void (*receive)(void *ctx, uint64_t link, uint64_t request_id, const swarm_transport_msg *msg);

    /* Runs fn(arg) on the loop thread soon; safe from any thread. 0 or SWARM_ENOMEM. */
    int (*post)(void *ctx, void (*fn)(void *arg), void *arg);

    /* One-shot timer on the loop, as in swarm_runtime_host. */
    int (*timer)(void *ctx, int64_t ms, void (*cb)(void *payload), void *payload, void **token);
    void (*cancel_timer)(void *ctx, void *token);

    void (*log)(void *ctx, int level, const char *message);
} swarm_transport_host;

/* Completion of a request: status 0 and the response, or SWARM_ETIMEDOUT / SWARM_EUNAVAILABLE (link lost). */
typedef void (*swarm_transport_response_cb)(void *payload, int status, const swarm_transport_msg *response);

/* How a node's TLS authenticates (swarm_transport_tls.mode). */
enum {
    /* Both ends present certificates signed by ca_pem. A listener also accepts clients
     * without a certificate (joining nodes); the layer above lets those do nothing but join. */
    SWARM_TLS_MUTUAL = 0,
    /* Dialing only: verify the listener against ca_pem, present no certificate (asking for one). */
    SWARM_TLS_SERVER_AUTH = 1,
    /* Dialing only: encrypt but verify nothing (fetching the CA certificate, which the
     * joining node then checks against the digest in its join token). */
    SWARM_TLS_UNVERIFIED = 2
};

/* TLS material, PEM text; all NULL with mode 0 means no TLS (tests only). */
typedef struct swarm_transport_tls {
    const char *ca_pem;   /* trusted root(s) */
    const char *cert_pem; /* this node's certificate chain */
    const char *key_pem;  /* this node's private key */
    int mode;             /* SWARM_TLS_*; appended in version 1 */
} swarm_transport_tls;

struct swarm_transport_backend {
    unsigned version; /* SWARM_TRANSPORT_BACKEND_VERSION */
    const char *name;

    int (*open)(struct swarm_transport_backend *b, const swarm_transport_host *host);

    /* Sets (or replaces, for new links) the TLS material. Peers must present a certificate signed by ca_pem. */
    int (*set_tls)(struct swarm_transport_backend *b, const swarm_transport_tls *tls);

    /* Starts accepting links on addr ("HOST:PORT"). SWARM_EBUSY if taken, SWARM_EINVALID. */
    int (*listen)(struct swarm_transport_backend *b, const char *addr);

    /*
     * Dials addr and keeps the link up: after a failure or a drop it redials
     * with backoff (from 100 ms to 5 s) until undialed. *link is assigned now;
     * link_up reports each time a connection is made (the id stays the same).
     */
    int (*dial)(struct swarm_transport_backend *b, const char *addr, uint64_t *link);

    /* Closes a link, dialed or accepted; a dialed one is not redialed. link_down and the failure of
     * its pending requests follow later, on the loop (only if the link was up). */
    void (*close_link)(struct swarm_transport_backend *b, uint64_t link);

    /* Sends a one-way message. SWARM_EUNAVAILABLE if the link is down; SWARM_EINVALID if too big. */
    int (*send)(struct swarm_transport_backend *b, uint64_t link, const swarm_transport_msg *msg);

    /* Sends a request; cb fires exactly once (response, deadline, or link loss). */
    int (*request)(struct swarm_transport_backend *b, uint64_t link, const swarm_transport_msg *msg,
                   int64_t timeout_ms, swarm_transport_response_cb cb, void *payload);

    /* Answers a received request. SWARM_ENOTFOUND if it is unknown or its link is gone. */
    int (*respond)(struct swarm_transport_backend *b, uint64_t link, uint64_t request_id,
                   const swarm_transport_msg *msg);

    /* Closes every link and the listener. Inside the call: pending requests fail (SWARM_EUNAVAILABLE)
     * and link_down fires for every link that was up; nothing is called after it returns. */
    void (*close)(struct swarm_transport_backend *b);
    void (*free)(struct swarm_transport_backend *b);
};

SWARM_END_DECLS

#endif

/*
 * Internal: making node-to-node transports by name ("nng", "mem") and the
 * in-memory network that "mem" transports share (with its fault knobs).
 */
#ifndef SWARM_TRANSPORT_TRANSPORT_H
#define SWARM_TRANSPORT_TRANSPORT_H

#include "core/error.h"
#include "swarm/sys/transport.h"

/* Name used when none is given. */
#define SWARM__TRANSPORT_DEFAULT "nng"

/* Redial backoff of dialed links (both backends): doubles from MIN to MAX, reset once a link is up. */
#define SWARM__TRANSPORT_REDIAL_MIN_MS 100
#define SWARM__TRANSPORT_REDIAL_MAX_MS 5000

typedef struct swarm__mem_network swarm__mem_network;

/*
 * Makes a transport by name (NULL means SWARM__TRANSPORT_DEFAULT): "nng", or
 * "mem" on the process-wide default network (swarm__mem_network_default) with
 * a generated node name ("mem-N"). Checks the backend's version and methods.
 * SWARM_EINVALID "unknown transport", SWARM_EBACKEND or SWARM_ENOMEM. Thread-safe.
 */
int swarm__transport_create(const char *name, struct swarm_transport_backend **out, swarm__err *e);

/* Checks a backend's version and mandatory methods: 0 or SWARM_EBACKEND. */
int swarm__transport_backend_check(const struct swarm_transport_backend *b, swarm__err *e);

/* The nng backend (lib/backends/transport/nng): tcp:// or, after set_tls, tls+tcp://. 0 or SWARM_ENOMEM. */
int swarm__transport_nng_new(struct swarm_transport_backend **out);

/*
 * An in-memory transport on net (lib/backends/transport/mem). node_name is
 * what its peers see as remote_addr and what the partition knobs match (they
 * also match the address it listens on). Its listen(addr) takes any
 * non-empty string unique among the network's listeners (SWARM_EBUSY if
 * taken); dial(addr) reaches the instance listening on addr. net must
 * outlive the transport. 0, SWARM_EINVALID or SWARM_ENOMEM.
 */
int swarm__transport_mem_new(struct swarm_transport_backend **out, swarm__mem_network *net, const char *node_name);

/*
 * The network: a thread-safe registry of mem transports plus fault knobs.
 * Deliveries go through the receiver's host->timer after the current delay,
 * in order per link. Knobs apply from the next message or connection attempt.
 */
int swarm__mem_network_new(swarm__mem_network **out);
/* Frees the network; every transport on it must be freed first. NULL is allowed. */
void swarm__mem_network_free(swarm__mem_network *net);
/* The process-wide network used by swarm__transport_create("mem"), made on first use (never freed). */
swarm__mem_network *swarm__mem_network_default(void);

/* Seed of the drop PRNG (default 1): the same seed and traffic drop the same messages. */
void swarm__mem_network_set_seed(swarm__mem_network *net, uint64_t seed);
/* Probability in [0, 1] that a message (one-way, request or response) is silently lost. */
void swarm__mem_network_set_drop(swarm__mem_network *net, double probability);
/* Fixed delivery delay in ms (default 0), on the receiver's host timers. */
void swarm__mem_network_set_delay(swarm__mem_network *net, int64_t ms);
/*
 * Blocks traffic from `from` to `to` (node names or listen addresses). Links
 * between the two go down on both sides at once, and no link between them
 * can be made while either direction is blocked; dialed links keep redialing
 * and come back after the heal. SWARM_ENOMEM, else 0.
 */
int swarm__mem_network_partition(swarm__mem_network *net, const char *from, const char *to);
/* Lifts the block from `from` to `to`; NULL for both lifts every block. */
void swarm__mem_network_heal(swarm__mem_network *net, const char *from, const char *to);

#endif

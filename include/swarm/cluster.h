/*
 * libswarm — a node of a swarm cluster, embedded in this process.
 *
 * A swarm_cluster_t is a long-lived handle on one node. It owns a private
 * event-loop thread on which all of the node's state lives; every public call
 * is marshalled to that thread and waited for (default limit 30 s, see
 * swarm_cluster_set_call_timeout). All functions are thread-safe: any thread
 * may use a handle concurrently, except that swarm_cluster_close must be the
 * last call on it.
 *
 * Like dockerd, a freshly opened node is not part of any swarm; it becomes a
 * manager with swarm_cluster_init. Its state (store, identity) lives under the
 * StateDir and survives close and reopen.
 */
#ifndef SWARM_CLUSTER_H
#define SWARM_CLUSTER_H

#include "common.h"

SWARM_BEGIN_DECLS

typedef struct swarm_cluster swarm_cluster_t;

/**
 * Opens a node. `options_json` is a JSON object (NULL or "{}" is allowed only
 * with "Store":"memory"):
 *   "StateDir"      directory for the node's state; created (0700) if missing.
 *                   Required unless "Store" is "memory".
 *   "ListenAddr"    address for node-to-node traffic, default "0.0.0.0:2377".
 *   "AdvertiseAddr" address other nodes use to reach this one.
 *   "Hostname"      hostname this node reports (default: the host's).
 *   "Store"         store backend name: "lmdb" (default) or "memory", or the
 *                   name of a backend registered with swarm_store_register.
 *   "Runtime"       task runtime: "process" (default: host processes) or "fake"
 *                   (no processes; for tests), or one registered with
 *                   swarm_runtime_register (swarm/sys/runtime.h).
 *   "Scheduler"     scheduling strategy: "spread" (default) or "binpack", or one
 *                   registered with swarm_scheduler_register.
 *   "LeaderWait"    milliseconds (0..3600000, default 5000) a call on a manager
 *                   waits for a leader while the managers elect one; then it
 *                   fails with SWARM_ENOTLEADER.
 *   "RaftTick"      milliseconds (10..60000, default 100): the length of the
 *                   ticks the cluster's Spec.Raft counts in (heartbeat 1 tick,
 *                   election timeout 10 ticks by default).
 * Unknown keys are rejected (SWARM_EINVALID naming the key).
 *
 * A node that was part of a swarm when it was closed comes back in it: its
 * identity and certificates are under StateDir, running tasks are re-adopted.
 *
 * On success *out is a new handle, closed with swarm_cluster_close.
 * Errors: SWARM_EINVALID (bad JSON, unknown or mistyped option),
 * SWARM_EBUSY (StateDir already open by a node of this process),
 * SWARM_EIO / SWARM_EBACKEND (cannot create or open the state),
 * SWARM_ENOMEM. On failure *out is NULL and nothing is left running.
 */
SWARM_API int swarm_cluster_open(swarm_cluster_t **out, const char *options_json);

/**
 * Connects to a node served by another process (for example swarmd) instead
 * of embedding one. `url` is "unix:///path/to/swarmd.sock". The handle then
 * accepts every call an embedded one does, except swarm_cluster_serve; each
 * call is sent over the socket and waited for (see
 * swarm_cluster_set_call_timeout). The connection is made lazily and
 * re-made after the server restarts.
 * Errors: SWARM_EINVALID (bad URL), SWARM_EUNAVAILABLE (nothing listening:
 * "Cannot connect to the swarm daemon at unix:///path. Is swarmd running?").
 */
SWARM_API int swarm_cluster_connect(swarm_cluster_t **out, const char *url);

/**
 * Serves this embedded node's API on a local control socket, for
 * swarm_cluster_connect clients in other processes. `url` is
 * "unix:///path"; the socket is created with mode 0600 and only clients
 * running as the same user (or root) are answered. Serving stops at
 * swarm_cluster_close. SWARM_EBUSY if the path is in use by a live server,
 * SWARM_ENOTSUPPORTED on a connected (client) handle.
 */
SWARM_API int swarm_cluster_serve(swarm_cluster_t *c, const char *url);

/**
 * Makes this node the first manager of a new swarm. `request_json` is the
 * body of Docker's POST /swarm/init ("ListenAddr", "AdvertiseAddr",
 * "ForceNewCluster", "Spec" {...}, "Availability", ...); NULL means defaults.
 * Zero or absent Spec values take Swarm's defaults. The node creates the
 * swarm's root CA, its own certificate and the two join tokens, and starts
 * listening for other nodes on ListenAddr (an AdvertiseAddr without a port
 * takes the listen port).
 *
 * The swarm's state is replicated with Raft: this manager starts a group of
 * one; more managers join with the manager token (swarm_cluster_join).
 *
 * "ForceNewCluster": true on a manager that is already in a swarm (for
 * example the survivor after a majority of managers was lost) keeps all the
 * swarm's state and makes this manager the only member of its Raft group;
 * other managers can then join again.
 *
 * Errors: SWARM_EINVALID (bad request), SWARM_EUNAVAILABLE with Docker's text
 * "This node is already part of a swarm..." when already in one, SWARM_EBUSY
 * when ListenAddr is in use (nothing is written then), SWARM_ECLOSED,
 * SWARM_ETIMEDOUT.
 */
SWARM_API int swarm_cluster_init(swarm_cluster_t *c, const char *request_json);

/**
 * Joins an existing swarm through one of its managers. `request_json` is the
 * body of Docker's POST /swarm/join: {"RemoteAddrs": ["HOST[:PORT]"],
 * "JoinToken": "SWMTKN-1-...", "ListenAddr", "AdvertiseAddr", "Availability"}.
 * The node first fetches the swarm's CA certificate and checks it against the
 * digest in the token (so a wrong manager learns nothing of the secret), then
 * asks for a node certificate with the token, and starts working for the
 * swarm. Returns once the node holds its certificate; with the manager token,
 * once it is a voting member of the managers' Raft group (it has caught up
 * with the swarm's state). Any manager may be given: the leader signs.
 * Errors: SWARM_EINVALID (malformed or wrong token, "A valid join token is
 * necessary to join this cluster"; CA fingerprint mismatch), SWARM_EUNAVAILABLE
 * (already in a swarm), SWARM_ETIMEDOUT (no manager reachable within 20 s).
 */
SWARM_API int swarm_cluster_join(swarm_cluster_t *c, const char *request_json);

/*
 * Calls on a manager that does not lead are forwarded to the leader. While
 * the managers have no leader, a call waits up to the LeaderWait option; then
 * writes fail with SWARM_ENOTLEADER ("The swarm does not have a leader...")
 * and reads answer from this manager's own copy of the state. A write that
 * the leader accepted but could not commit before losing leadership fails with
 * SWARM_EUNAVAILABLE ("the outcome of the write is unknown"): it may still
 * take effect.
 */

/**
 * Leaves the swarm (Docker's POST /swarm/leave). This node's tasks are
 * stopped and its swarm identity erased. A manager must pass force = 1:
 * leaving erases the swarm's state. Errors: SWARM_EUNAVAILABLE (not in a swarm,
 * or a manager without force, with Docker's message).
 */
SWARM_API int swarm_cluster_leave(swarm_cluster_t *c, int force);

/**
 * Updates the swarm (Docker's POST /swarm/update). `version` is the swarm's
 * Version.Index as read; `spec_json` the whole new Spec (NULL keeps it);
 * `flags_json` NULL or {"RotateWorkerToken": true, "RotateManagerToken": true}:
 * a rotated token stops working for new joins at once.
 * Errors: SWARM_ECONFLICT (stale version), SWARM_EINVALID, SWARM_EUNAVAILABLE.
 */
SWARM_API int swarm_cluster_update(swarm_cluster_t *c, uint64_t version, const char *spec_json,
                                   const char *flags_json);

/**
 * Docker's GET /swarm object for this cluster (ID, Version, CreatedAt,
 * UpdatedAt, Spec with defaults filled, JoinTokens...). *out is JSON text
 * freed with swarm_free. SWARM_EUNAVAILABLE when not a manager.
 */
SWARM_API int swarm_cluster_inspect(swarm_cluster_t *c, char **out);

/**
 * This node's swarm state, like the "Swarm" block of Docker's GET /info:
 * {"NodeID", "NodeAddr", "LocalNodeState": "inactive"|"active",
 *  "ControlAvailable", "Error", "Nodes", "Managers", "Cluster"}.
 * *out is JSON text freed with swarm_free. Works in every state.
 */
SWARM_API int swarm_cluster_info(swarm_cluster_t *c, char **out);

/**
 * Limits how long each later call on this handle waits for the node's loop
 * (milliseconds, > 0). A call that runs out returns SWARM_ETIMEDOUT; its
 * effect, if any, may still happen. Returns SWARM_EINVALID for ms <= 0.
 */
SWARM_API int swarm_cluster_set_call_timeout(swarm_cluster_t *c, int ms);

/**
 * Stops the node and frees the handle: the loop thread is joined, the store
 * closed cleanly. Pending calls from other threads fail with SWARM_ECLOSED.
 * NULL is allowed. Objects obtained from the handle stay valid.
 */
SWARM_API void swarm_cluster_close(swarm_cluster_t *c);

SWARM_END_DECLS

#endif

/*
 * libswarm — nodes, as Docker's Node object shows them.
 *
 * A swarm_node_t is an immutable snapshot owned by the caller (free with
 * swarm_node_free). Calls need a manager and are thread-safe; getters return
 * strings borrowed for the handle's life.
 */
#ifndef SWARM_NODE_H
#define SWARM_NODE_H

#include "cluster.h"

SWARM_BEGIN_DECLS

typedef struct swarm_node swarm_node_t;

/**
 * Finds a node by full ID, hostname, or unique ID prefix; "self" is this node.
 * Errors: SWARM_ENOTFOUND ("node X not found"), SWARM_EINVALID (ambiguous),
 * SWARM_EUNAVAILABLE.
 */
SWARM_API int swarm_node_get(swarm_cluster_t *c, const char *id_or_name, swarm_node_t **out);

/**
 * Lists nodes, sorted by hostname. Filters (Docker's forms, see
 * swarm_service_list): "id", "name" (hostname prefix), "role", "membership",
 * "label", "node.label". Free with swarm_node_list_free.
 */
SWARM_API int swarm_node_list(swarm_cluster_t *c, const char *filters_json,
                              swarm_node_t ***out, size_t *count);

/**
 * Replaces a node's Spec ({"Availability": "active"|"pause"|"drain",
 * "Labels": {...}, "Role": "worker"|"manager", "Name"}) at `version`
 * (Version.Index as read). Drain moves the node's tasks elsewhere; pause
 * stops new assignments. "Role" promotes a worker (it joins the managers'
 * Raft group within a heartbeat period) or demotes a manager (it leaves the
 * group; its tasks keep running). Errors: SWARM_ENOTFOUND, SWARM_ECONFLICT,
 * SWARM_EINVALID (bad or unknown field; demoting the last manager, or a
 * manager whose removal would lose the managers' quorum).
 */
SWARM_API int swarm_node_update(swarm_cluster_t *c, const char *id_or_name, uint64_t version, const char *spec_json);

/**
 * Removes a node from the swarm. A node that is not down needs force = 1
 * (its tasks are then rescheduled); a manager must be demoted first. The
 * removed node can never come back with its certificate.
 * Errors: SWARM_ENOTFOUND, SWARM_EINVALID ("node X is not down and can't be
 * removed", "... must be demoted to worker before removal").
 */
SWARM_API int swarm_node_remove(swarm_cluster_t *c, const char *id_or_name, int force);

SWARM_API const char *swarm_node_id(const swarm_node_t *n);
SWARM_API uint64_t swarm_node_version(const swarm_node_t *n);
SWARM_API const char *swarm_node_hostname(const swarm_node_t *n);
/** "manager" or "worker". */
SWARM_API const char *swarm_node_role(const swarm_node_t *n);
/** "active", "pause" or "drain". */
SWARM_API const char *swarm_node_availability(const swarm_node_t *n);
/** "ready", "down", "unknown" or "disconnected". */
SWARM_API const char *swarm_node_state(const swarm_node_t *n);
/**
 * 1 if this node was the Raft leader when the list was read, else 0. The
 * JSON's ManagerStatus {"Leader", "Reachability": "reachable"|"unreachable",
 * "Addr"} is the leader's view (a manager without a leader answers with its
 * own); workers have none.
 */
SWARM_API int swarm_node_is_leader(const swarm_node_t *n);

/** The Docker-shaped Node object as JSON text; free with swarm_free. */
SWARM_API char *swarm_node_json(const swarm_node_t *n);

SWARM_API void swarm_node_free(swarm_node_t *n);
SWARM_API void swarm_node_list_free(swarm_node_t **list, size_t count);

SWARM_END_DECLS

#endif

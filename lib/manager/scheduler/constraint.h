/*
 * Placement constraints ("node.labels.zone == a", "node.role!=manager") and
 * placement platforms, matched against what a node says about itself.
 * Follows Swarm's manager/constraint: operators == and !=, whitespace around
 * key and value, values compared without regard to case, a missing label or
 * field counts as "" (so it never equals and always differs).
 */
#ifndef SWARM_MANAGER_SCHEDULER_CONSTRAINT_H
#define SWARM_MANAGER_SCHEDULER_CONSTRAINT_H

#include <jansson.h>
#include <stddef.h>

/* What constraints look at, borrowed from a Docker-shaped Node. Absent strings are NULL. */
typedef struct swarm__node_facts {
    const char *id;            /* ID */
    const char *hostname;      /* Description.Hostname */
    const char *role;          /* Spec.Role, else "manager" when ManagerStatus is present, else "worker" */
    const char *os;            /* Description.Platform.OS */
    const char *arch;          /* Description.Platform.Architecture */
    const char *addr;          /* Status.Addr */
    const json_t *labels;      /* Spec.Labels */
    const json_t *engine_labels; /* Description.Engine.Labels */
} swarm__node_facts;

void swarm__node_facts_init(swarm__node_facts *f, const json_t *node);

typedef struct swarm__constraints swarm__constraints;

/*
 * Parses Spec.Placement.Constraints (a JSON array of strings; NULL or empty
 * means none). Returns 0, SWARM_EINVALID with a message naming the bad
 * expression (the caller then treats every node as not satisfying them), or
 * SWARM_ENOMEM. *out is NULL when there are no constraints.
 */
int swarm__constraints_parse(swarm__constraints **out, const json_t *list, char *why, size_t why_len);
void swarm__constraints_free(swarm__constraints *c);

/* 1 if the node satisfies every constraint (NULL c: none). */
int swarm__constraints_match(const swarm__constraints *c, const swarm__node_facts *node);

/*
 * 1 if the node's platform is one of Spec.Placement.Platforms (a JSON array
 * of {"OS","Architecture"}; an empty field matches anything; x86_64 counts as
 * amd64 and aarch64 as arm64), or if the list is NULL or empty.
 */
int swarm__platforms_match(const json_t *platforms, const swarm__node_facts *node);

/*
 * The value a spread descriptor ("node.labels.X" or "engine.labels.X", prefix
 * case-insensitive) takes on a node; "" when the node lacks it. Returns 0, or
 * -1 for another descriptor (Swarm ignores that preference).
 */
int swarm__spread_value(const char **out, const char *descriptor, const swarm__node_facts *node);

#endif

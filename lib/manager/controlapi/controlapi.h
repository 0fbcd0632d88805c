/*
 * controlapi: the manager's request handlers for services, nodes and tasks.
 * Validates input (nothing is written on error), fills Swarm's defaults,
 * turns requests into store actions and proposes them. Runs on the loop
 * thread; replies exactly once, possibly later (after the proposal applies).
 *
 * Requests and replies are JSON values:
 *   ServiceCreate {"Spec"}                 -> Service
 *   ServiceGet    {"Ref"}                  -> Service
 *   ServiceList   {"Filters"?}             -> [Service], sorted by name
 *   ServiceUpdate {"Ref","Version","Spec"} -> Service
 *   ServiceRemove {"Ref"}                  -> null
 *   NodeGet {"Ref"} / NodeList {"Filters"?} / TaskGet {"Ref"} / TaskList {"Filters"?}
 */
#ifndef SWARM_CONTROLAPI_H
#define SWARM_CONTROLAPI_H

#include "core/clock.h"
#include "raft/proposer.h"
#include "store/store.h"

typedef struct swarm__controlapi {
    swarm__store *store;
    swarm__proposer *proposer;
    const swarm__clock *clock;
    const char *self_node_id; /* for NodeGet "self" */
} swarm__controlapi;

/* result is stolen (may be NULL); err is set when rc != 0. */
typedef void (*swarm__reply_fn)(void *payload, int rc, const swarm__err *err, json_t *result);

typedef void (*swarm__handler_fn)(swarm__controlapi *api, const json_t *req, swarm__reply_fn reply, void *payload);

/* An object by ID, unique ID prefix or name (nodes: hostname; "self"). New reference in *out. */
int swarm__controlapi_lookup(swarm__controlapi *api, swarm__kind kind, const char *ref, json_t **out, swarm__err *e);

/* The handler for a method name, or NULL. */
swarm__handler_fn swarm__controlapi_handler(const char *method);

/*
 * Docker's filter argument in map form {"k":{"v":true}} or list form
 * {"k":["v"]}, normalised to {"k":["v", ...]}. Keys must be in `allowed`
 * (NULL-terminated), else SWARM_EINVALID "Invalid filter 'k'".
 * NULL or JSON null gives an empty object.
 */
int swarm__filters_normalize(json_t **out, const json_t *filters, const char *const *allowed, swarm__err *e);

#endif

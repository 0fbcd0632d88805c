/*
 * libswarm — services.
 *
 * A swarm_service_t is an immutable snapshot of a service at one store
 * version, owned by the caller and freed with swarm_service_free. Specs go in
 * as JSON text in Docker's ServiceSpec schema; the full object comes out as
 * Docker's Service schema (ID, Version.Index, CreatedAt, UpdatedAt, Spec,
 * Endpoint...). Fields libswarm does not interpret are kept as given.
 *
 * These calls need a manager (SWARM_EUNAVAILABLE otherwise) and are
 * thread-safe. Getters never fail and return borrowed strings that live as
 * long as the handle.
 */
#ifndef SWARM_SERVICE_H
#define SWARM_SERVICE_H

#include "cluster.h"

SWARM_BEGIN_DECLS

typedef struct swarm_service swarm_service_t;

/**
 * Creates a service from a ServiceSpec. Swarm's defaults are filled in
 * (replicated mode with 1 replica, restart policy any/5s, update config ...).
 * `out` may be NULL if the caller does not want the object.
 * Errors: SWARM_EINVALID naming the field ("TaskTemplate.ContainerSpec.Image:
 * required"), SWARM_EEXISTS (name in use), SWARM_EUNAVAILABLE, SWARM_ETIMEDOUT.
 * Nothing is written on error.
 */
SWARM_API int swarm_service_create(swarm_cluster_t *c, const char *spec_json, swarm_service_t **out);

/**
 * Finds a service by full ID, name, or unique ID prefix.
 * Errors: SWARM_ENOTFOUND ("service X not found"), SWARM_EINVALID (ambiguous
 * prefix or empty reference).
 */
SWARM_API int swarm_service_get(swarm_cluster_t *c, const char *id_or_name, swarm_service_t **out);

/**
 * Lists services, sorted by name. `filters_json` is NULL or Docker's filter
 * object, in map form {"name":{"web":true}} or list form {"name":["web"]}.
 * Keys: "id" (ID prefix), "name" (name prefix), "label" ("k" or "k=v"),
 * "mode" ("replicated", "global", "replicated-job", "global-job"). Values of
 * one key are OR-ed, keys AND-ed; an unknown key is SWARM_EINVALID.
 * *out is an array of *count handles: free each with swarm_service_free and
 * the array with swarm_free (or all at once with swarm_service_list_free).
 */
SWARM_API int swarm_service_list(swarm_cluster_t *c, const char *filters_json,
                                 swarm_service_t ***out, size_t *count);

/**
 * Replaces the spec of service `id_or_name`. `version` must be the
 * Version.Index the caller read; if the service changed since,
 * SWARM_ECONFLICT and nothing is written. The previous spec is kept as
 * PreviousSpec. Errors as for create, plus SWARM_ENOTFOUND.
 */
SWARM_API int swarm_service_update(swarm_cluster_t *c, const char *id_or_name, uint64_t version,
                                   const char *spec_json, swarm_service_t **out);

/** Removes a service and (through the orchestrators) its tasks. SWARM_ENOTFOUND if absent. */
SWARM_API int swarm_service_remove(swarm_cluster_t *c, const char *id_or_name);

SWARM_API const char *swarm_service_id(const swarm_service_t *s);
SWARM_API const char *swarm_service_name(const swarm_service_t *s);
/** Version.Index: the store index of the service's last change. */
SWARM_API uint64_t swarm_service_version(const swarm_service_t *s);
/** RFC 3339 timestamps with nanoseconds, as Docker prints them. */
SWARM_API const char *swarm_service_created_at(const swarm_service_t *s);
SWARM_API const char *swarm_service_updated_at(const swarm_service_t *s);
/** TaskTemplate.ContainerSpec.Image as given. */
SWARM_API const char *swarm_service_image(const swarm_service_t *s);
/** "replicated", "global", "replicated-job" or "global-job". */
SWARM_API const char *swarm_service_mode(const swarm_service_t *s);
/** Desired replicas (replicated mode) or TotalCompletions (replicated-job); 0 otherwise. */
SWARM_API uint64_t swarm_service_replicas(const swarm_service_t *s);

/** The Docker-shaped Service object as JSON text; free with swarm_free. NULL on ENOMEM. */
SWARM_API char *swarm_service_json(const swarm_service_t *s);

/** Frees a handle. NULL is allowed. */
SWARM_API void swarm_service_free(swarm_service_t *s);

/** Frees an array from swarm_service_list and every handle in it. NULL is allowed. */
SWARM_API void swarm_service_list_free(swarm_service_t **list, size_t count);

SWARM_END_DECLS

#endif

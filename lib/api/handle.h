/* The public handles' layouts, shared by the files of lib/api. */
#ifndef SWARM_API_HANDLE_H
#define SWARM_API_HANDLE_H

#include "api/control.h"
#include "api/engine.h"
#include "swarm/swarm.h"

#include <jansson.h>
#include <stdatomic.h>

struct swarm_cluster {
    swarm__engine *engine; /* embedded node, or NULL */
    swarm__client *client; /* connected to another process, or NULL */
    swarm__server *server; /* control socket served by an embedded node */
    atomic_int timeout_ms;
};

/*
 * Calls a method with a JSON request (borrowed; NULL = {}) and parses the
 * reply into *result (new reference; may be NULL if result is NULL).
 * Sets the thread's last error on failure.
 */
int swarm__api_call(swarm_cluster_t *c, const char *method, json_t *request, json_t **result);

/* Checks a public out-parameter / argument; sets the last error. */
int swarm__api_require(const void *p, const char *what);

#endif

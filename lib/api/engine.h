/*
 * The embedded node engine: the loop thread, the store, the proposer, the
 * manager's handlers and this node's identity. Everything it holds is touched
 * only on its loop thread; other threads go through swarm__engine_rpc.
 */
#ifndef SWARM_API_ENGINE_H
#define SWARM_API_ENGINE_H

#include "core/error.h"

typedef struct swarm__engine swarm__engine;

/* Parses options (see swarm_cluster_open), starts the loop, opens the store. Sets the thread's last error. */
int swarm__engine_open(swarm__engine **out, const char *options_json);

/* Stops the loop (failing pending calls with SWARM_ECLOSED) and frees everything. NULL allowed. */
void swarm__engine_close(swarm__engine *eng);

/*
 * Runs method with params (JSON text, NULL = {}) on the loop and waits up to
 * timeout_ms. On success *result is JSON text (free with free(); "null" when
 * the method returns nothing). On failure sets the thread's last error.
 */
int swarm__engine_rpc(swarm__engine *eng, const char *method, const char *params, char **result, int timeout_ms);

#endif

/*
 * The local control socket: one process serves an embedded node's API
 * (swarm_cluster_serve), others call it (swarm_cluster_connect). nng req/rep
 * over ipc. Messages are JSON:
 *   request {"V": 1, "Method": "ServiceCreate", "Params": {...} | null}
 *   reply   {"V": 1, "Code": 0 | SWARM_E*, "Message": "...", "Result": <json>}
 * The method names and params are those of swarm__engine_rpc, so a remote
 * call runs exactly the code an embedded call runs.
 */
#ifndef SWARM_API_CONTROL_H
#define SWARM_API_CONTROL_H

#include "api/engine.h"

#define SWARM__CONTROL_VERSION 1
#define SWARM__CONTROL_MAX_MSG (64u << 20)

typedef struct swarm__server swarm__server;
typedef struct swarm__client swarm__client;

/* Serves eng on url ("unix:///path"). Sets the thread's last error. */
int swarm__server_start(swarm__server **out, swarm__engine *eng, const char *url);
void swarm__server_stop(swarm__server *s); /* NULL allowed; waits for calls in progress */

int swarm__client_new(swarm__client **out, const char *url);
void swarm__client_free(swarm__client *cl);

/* Same contract as swarm__engine_rpc. */
int swarm__client_rpc(swarm__client *cl, const char *method, const char *params, char **result, int timeout_ms);

#endif

/* The embedded engine's insides, shared by the files of lib/api (engine.c, membership.c). */
#ifndef SWARM_API_ENGINE_INT_H
#define SWARM_API_ENGINE_INT_H

#include "agent/agent.h"
#include "agent/session.h"
#include "api/engine.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/loop.h"
#include "core/timers.h"
#include "manager/controlapi/controlapi.h"
#include "model/model.h"
#include "manager/dispatcher/server.h"
#include "manager/manager.h"
#include "raft/proposer.h"
#include "store/store.h"
#include "swarm/sys/transport.h"

#include <jansson.h>

enum { SWARM__NODE_NONE = 0, SWARM__NODE_MANAGER = 1, SWARM__NODE_WORKER = 2 };

struct swarm__engine {
    swarm__loop *loop;
    const swarm__clock *clock;
    char *state_dir;   /* NULL for a memory-only node */
    char *listen_addr;
    char *advertise_addr;
    char *hostname;
    char *store_name;
    char *runtime_name;
    char *scheduler_name;
    char *tmp_dir;     /* runtime state of a node without a StateDir, removed at close */
    /* loop-thread state */
    swarm__timers *timers;
    swarm__manager *manager;
    swarm__agent *agent;
    swarm__store *store;
    swarm__proposer *proposer;
    struct event *deliver_ev;
    swarm__controlapi api;
    int active;                 /* part of a swarm */
    int role;                   /* SWARM__NODE_* */
    char node_id[SWARM__IDBUF];
    char cluster_id[SWARM__IDBUF];
    char *manager_addr;         /* workers: the manager they follow */
    char *ca_pem, *cert_pem, *key_pem; /* this node's TLS material */
    char *refused;              /* why the managers refused this node, if they did */
    struct swarm_transport_backend *transport;
    swarm_transport_host transport_host;
    swarm__nodeserver *nodeserver;        /* managers */
    swarm__worker_session *worker;        /* workers */
    struct join_op *joining;              /* a join in progress */
};

typedef struct rpc_call {
    swarm__call call;
    swarm__engine *eng;
    char method[48];
    char *params;
    char *result;
} rpc_call;

/* Completes an RPC (see controlapi's swarm__reply_fn). */
void swarm__rpc_reply(void *payload, int rc, const swarm__err *err, json_t *result);

/* The cluster object (new reference) or NULL with e. */
json_t *swarm__engine_cluster(swarm__engine *eng, swarm__err *e);

/* Identity file StateDir/node.json and certificates StateDir/certificates/. */
int swarm__identity_write(swarm__engine *eng, swarm__err *e);
void swarm__identity_remove(swarm__engine *eng);
void swarm__identity_load(swarm__engine *eng);
char *swarm__with_port(const char *addr);
char *swarm__default_advertise(const char *listen);

/* Starts / stops what this node's role runs (manager: control loop, dispatcher, node server,
 * listener; worker: session with the manager; both: the agent). */
int swarm__engine_start_roles(swarm__engine *eng, swarm__err *e);
void swarm__engine_stop_roles(swarm__engine *eng, int kill_tasks);

/* RPC handlers of membership.c. */
void swarm__swarm_init(swarm__engine *eng, const json_t *req, rpc_call *call);
void swarm__swarm_join(swarm__engine *eng, const json_t *req, rpc_call *call);
void swarm__swarm_leave(swarm__engine *eng, const json_t *req, rpc_call *call);
void swarm__swarm_update(swarm__engine *eng, const json_t *req, rpc_call *call);

/* Removes secrets (the CA key) from a cluster object before it leaves the node. */
void swarm__cluster_public(json_t *cluster);

#endif

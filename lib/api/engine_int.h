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

/* How long a call waits for a leader before it fails (option LeaderWait). */
#define SWARM__LEADER_WAIT_MS 5000

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
    /* managers: the Raft member and leadership (replica.c) */
    struct swarm__raft *raft;
    uint64_t raft_id;
    unsigned raft_tick_ms;                /* Spec.Raft's ticks are this long (option RaftTick) */
    unsigned raft_heartbeat_ms, raft_election_ms; /* from Spec.Raft (replica.c raft_spec) */
    unsigned raft_snapshot_threshold, raft_snapshot_trailing;
    int leader_wait_ms;                   /* how long calls wait for a leader */
    int raft_mode;                        /* SWARM__REPLICA_* for the next start of the roles */
    swarm__proposer *term_proposer;       /* the leader's components', for one term */
    swarm__timer *raft_timer;
    int leading, gaining;
    swarm__watch *node_watch;             /* this manager's own role (a demotion) */
    int demoted;                          /* the store calls this manager a worker now */
    int64_t leaderless_since;             /* monotonic ns; a demoted member waiting for its removal */
    int removing;                         /* a demoted voter's removal in flight */
    void *reconcile_token;                /* a reconcile pass scheduled */
    uint64_t live_from;                   /* store events up to this index are a joiner's replay */
    int fast_election;                    /* the leader's link dropped: a short election timeout */
    uint64_t leader_id;
    char *leader_addr;
    char *join_leader;                    /* where RAFT_JOIN goes before Raft knows a leader */
    struct outlink *outlinks;
    struct forward *forwards;
    uint64_t fwd_link;
    char *fwd_addr;
    json_t *heard;                        /* node ID -> monotonic ns of its last Raft message */
};

typedef struct rpc_call {
    swarm__call call;
    swarm__engine *eng;
    char method[48];
    char *params;
    char *result;
    uint64_t remote_link, remote_rid; /* a call forwarded by another manager (rid != 0) */
    int forwarded;                    /* answered by the leader */
} rpc_call;

/* Runs a call here: engine handlers, then controlapi's (replies through swarm__rpc_reply). */
void swarm__engine_dispatch(swarm__engine *eng, rpc_call *call, const json_t *req);
/* Becomes a manager (promoted: joins the group) or a worker (demoted), later on the loop; tasks keep running. */
void swarm__engine_change_role(swarm__engine *eng, int role);
/* The store's notify callback: delivers its events on the loop. */
void swarm__engine_notify_pending(void *payload);
/* The worker session renewed this node's certificate. */
void swarm__engine_renewed(void *payload, const char *cert_pem, const char *key_pem);

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

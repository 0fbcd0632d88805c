/*
 * The cluster fixture: a manager and N workers in one process and one thread,
 * on the in-memory transport and a virtual clock, like libraft's
 * raft_fixture. Everything real runs: the manager's store, orchestrators,
 * scheduler, dispatcher and node server; each worker's agent (fake runtime)
 * and its session with identity proof and heartbeats. Only time and the
 * network are simulated, so runs are deterministic for a seed and hours of
 * cluster time take seconds.
 */
#ifndef SWARM_TEST_FIXTURE_H
#define SWARM_TEST_FIXTURE_H

#include <jansson.h>
#include <stdint.h>

typedef struct fixture fixture;

/* A manager and n workers ("w0".."w{n-1}"), all joined. NULL on failure (message printed). */
fixture *fixture_new(unsigned n_workers, uint64_t seed);
void fixture_free(fixture *f);

/* Moves virtual time forward by ms, running everything that becomes due. */
void fixture_run(fixture *f, int64_t ms);
/* Runs until cond(f, arg) holds (checked after each step) or max_ms passed; returns elapsed virtual ms or -1. */
int64_t fixture_run_until(fixture *f, int (*cond)(fixture *f, void *arg), void *arg, int64_t max_ms);
int64_t fixture_now_ms(fixture *f);

/* The worker dies: its links drop and its tasks vanish. */
void fixture_kill(fixture *f, unsigned worker);
/* A killed worker starts again with its identity (re-authenticates, gets its assignments). */
void fixture_revive(fixture *f, unsigned worker);
/* Cuts / restores the network between the worker and the manager. */
void fixture_partition(fixture *f, unsigned worker);
void fixture_heal(fixture *f, unsigned worker);

/*
 * Adds a node that is not what it claims: ROGUE_FOREIGN has a certificate of
 * another swarm's CA; ROGUE_FORGED claims an existing worker's node ID with a
 * certificate from a look-alike CA. Returns its worker index.
 */
enum { ROGUE_FOREIGN = 1, ROGUE_FORGED = 2 };
int fixture_add_rogue(fixture *f, int kind);
/* 1 while the worker has an open dispatcher session. */
int fixture_connected(fixture *f, unsigned worker);
/* Sends a request of the node protocol from a worker's link; waits; returns the reply body's Code (0 = ok). */
int fixture_worker_request(fixture *f, unsigned worker, uint32_t type, json_t *body, char *message, size_t size);

/* Calls a manager control method ("ServiceCreate" {"Spec"}, "NodeUpdate", ...) synchronously. 0 or SWARM_E*. */
int fixture_call(fixture *f, const char *method, json_t *request, json_t **result);

/* Snapshot reads (new references): all nodes / tasks of a service (ID or name; NULL = all). */
json_t *fixture_nodes(fixture *f);
json_t *fixture_tasks(fixture *f, const char *service);
/* Node ID of a worker. */
const char *fixture_node_id(fixture *f, unsigned worker);

#endif

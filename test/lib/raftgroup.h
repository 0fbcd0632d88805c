/*
 * A group of Raft members (lib/raft/raft.h) in one process and one thread:
 * each node has the in-memory transport, a memory store, a swarm__raft and a
 * proposer, all on one virtual clock, as test/lib/fixture.c does for whole
 * clusters. Nodes are named "n1".."nN" and have Raft ids 1..N; index i is
 * node n(i+1). Failed steps end the test case (test.h), so the functions
 * return only what the test needs next.
 */
#ifndef SWARM_TEST_RAFTGROUP_H
#define SWARM_TEST_RAFTGROUP_H

#include "core/timers.h"
#include "raft/raft.h"
#include "store/store.h"
#include "transport/transport.h"

#include <stddef.h>
#include <stdint.h>

typedef struct raftgroup raftgroup;

typedef struct raftgroup_options {
    int nodes;                   /* node slots; 0: 3 */
    unsigned snapshot_threshold; /* 0: libraft's default */
    unsigned snapshot_trailing;  /* 0: libraft's default */
    int unbatched;               /* swarm__proposer_raft_new instead of the batched proposer */
    unsigned max_batch;          /* the batched proposer's cap; 0: its default */
    size_t chunk_size;           /* InstallSnapshot chunk bytes; 0: io.c's default */
    unsigned reassembly_ms;      /* a partial snapshot's timeout; 0: io.c's default */
    unsigned install_timeout_ms; /* libraft's install_snapshot_timeout; 0: its default */
    /*
     * Fault injection, both optional, both given hook_payload. wrap replaces
     * node i's in-memory transport (not opened yet) by the one it returns,
     * which then owns mem (its free frees mem too). link_down hears of each
     * link of node i going down, before node i's raft does.
     */
    struct swarm_transport_backend *(*wrap)(void *payload, int i, struct swarm_transport_backend *mem);
    void (*link_down)(void *payload, int i, uint64_t link);
    void *hook_payload;
} raftgroup_options;

/* How raftgroup_start treats the node's Raft state. */
enum {
    RAFTGROUP_JOIN = 0,      /* no bootstrap: a joining node, or a restart from its dir */
    RAFTGROUP_BOOTSTRAP = 1, /* the single voter of a new group */
    RAFTGROUP_RESTART = 2    /* a restart whose bootstrap must answer SWARM_EEXISTS */
};

/*
 * A group with no node started (o NULL: all defaults). seed 0: the process's
 * seed, RAFT_SEED from the environment or else the time, printed once.
 */
raftgroup *raftgroup_new(const raftgroup_options *o, uint64_t seed);
/* Kills every node, lets their pending deliveries and timers run out, frees all. NULL-safe. */
void raftgroup_free(raftgroup *g);

/* Starts node i; dir (copied) is its raft state dir, "" for volatile; NULL keeps the last one. */
void raftgroup_start(raftgroup *g, int i, int mode, const char *dir);
/* Stops node i (proposer, raft, transport, store); nothing if it is not alive. */
void raftgroup_kill(raftgroup *g, int i);

/* Moves virtual time forward by ms, running whatever becomes due (0: only what is ready now). */
void raftgroup_run(raftgroup *g, int64_t ms);
/* Runs until cond holds (checked at least every 10 virtual ms); elapsed virtual ms, or -1 after max_ms. */
int64_t raftgroup_run_until(raftgroup *g, int (*cond)(raftgroup *g, void *arg), void *arg, int64_t max_ms);
int64_t raftgroup_now_ms(raftgroup *g);

/* Live nodes that are leaders; *which (if not NULL) gets the last one. */
int raftgroup_leader_count(raftgroup *g, int *which);
/* A run_until condition: exactly one live leader. */
int raftgroup_has_leader(raftgroup *g, void *arg);
/* Waits for exactly one leader and returns it; fails the test after max_ms. */
int raftgroup_leader(raftgroup *g, int64_t max_ms);
/* Adds node i (started) as a voter through the leader; fails the test unless done within max_ms. */
void raftgroup_add_voter(raftgroup *g, int leader, int i, int64_t max_ms);
/*
 * n1 bootstraps, n2..nn join and are added as voters (20 s each); with
 * durable, each gets a fresh temp dir. Checks that n1 leads; returns 0.
 */
int raftgroup_form(raftgroup *g, int n, int durable);
/* Cuts node i off from every other slot, both ways. */
void raftgroup_partition(raftgroup *g, int i);

/* The outcome of one proposal. */
typedef struct raftgroup_outcome {
    int done, rc;
    uint64_t index;
} raftgroup_outcome;

/* A run_until condition: the raftgroup_outcome *arg is done. */
int raftgroup_outcome_done(raftgroup *g, void *arg);
/* Proposes "create config <id>" (Spec.Data = data unless NULL) on node i; propose's rc, o filled later. */
int raftgroup_propose_config(raftgroup *g, int i, const char *id, const char *data, raftgroup_outcome *o);
/*
 * Writes configs "cfg-<k>" (k zero-padded to 3 digits) for k in [from, to) on
 * node i, each with pad bytes of Spec.Data (0: none) and each acknowledged
 * within 5 s at node i's store index before the next.
 */
void raftgroup_write_range(raftgroup *g, int i, int from, int to, size_t pad);
/* A run_until condition: every live node's store dumps byte for byte as every other's. */
int raftgroup_stores_equal(raftgroup *g, void *arg);

/* Node i's parts (NULL while it is dead); the proposer slot may be closed and refilled by the test. */
swarm__raft *raftgroup_raft(raftgroup *g, int i);
swarm__store *raftgroup_store(raftgroup *g, int i);
swarm__proposer **raftgroup_proposer(raftgroup *g, int i);
int raftgroup_alive(raftgroup *g, int i);
const char *raftgroup_name(raftgroup *g, int i);
const char *raftgroup_dir(raftgroup *g, int i);
swarm__timers *raftgroup_timers(raftgroup *g);
swarm__mem_network *raftgroup_net(raftgroup *g);

#endif

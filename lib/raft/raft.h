/*
 * A node's Raft group member on libraft 0.15 (canonical raft): raft_io from
 * io.c, raft_fsm on the store (fsm.c), and the proposer seam on raft_apply.
 * Not yet wired into the engine.
 *
 * Threading: one loop thread (the one that drives the timers and the transport).
 *
 * Timeouts: heartbeat 100 ms and election 1000 ms by default (libraft's own
 * defaults). libraft checks every timeout on ticks only, so the heartbeat is
 * also its time resolution; an election timeout of 10 heartbeats tolerates a
 * few lost heartbeats before a follower stands for election, and the 1-2 s
 * randomised window keeps split votes rare while a dead leader is replaced
 * within about two seconds (Swarm's own defaults, 1 s ticks x 10, are slower).
 */
#ifndef SWARM_RAFT_RAFT_H
#define SWARM_RAFT_RAFT_H

#include "core/timers.h"
#include "raft/batch.h"
#include "raft/proposer.h"
#include "store/store.h"
#include "swarm/sys/transport.h"

#include <raft.h>

#define SWARM__RAFT_HEARTBEAT_MS 100
#define SWARM__RAFT_ELECTION_MS 1000
#define SWARM__RAFT_INSTALL_SNAPSHOT_MS 5000

/* ------------------------------------------------------------ FSM (fsm.c) */

/*
 * A RAFT_COMMAND entry is a batch of proposals (raft/batch.h: what the Raft
 * proposer writes), or one bare action list (entries written before
 * batching: applied as a batch of one). Each proposal of an entry is applied
 * in order as its own atomic store write with its own outcome (a rejection,
 * or a proposal that does not decode, never fails its neighbours), all in
 * one store transaction at the entry's index (swarm__store_apply_groups):
 * the store's index stays the Raft index, so replays and snapshot restores
 * skip exactly what they skipped before batching, and a crash never leaves
 * half an entry applied. A malformed batch consumes its index and writes
 * nothing (no outcomes).
 */

/*
 * The outcomes of the last applied entry, in FSM-owned memory (libraft hands
 * a pointer to the proposer's callback at once; valid until the next apply).
 * Proposal i: g[i].rc (0 or the store's rejection) and g[i].err; an accepted
 * one was applied at index. n is the number of proposals in the entry.
 */
typedef struct swarm__raft_outcomes {
    uint64_t index;
    size_t n;
    const swarm__store_group *g;
} swarm__raft_outcomes;

typedef struct swarm__raft_fsm_state {
    swarm__store *store;
    struct raft *raft;
    swarm__raft_outcomes outcomes; /* the last apply's; points into groups */
    swarm__store_group *groups;    /* heap, grown to the largest entry applied; freed by close */
    size_t cap;
    unsigned restores; /* snapshots restored (for tests) */
} swarm__raft_fsm_state;

/*
 * Fills fsm (version 1): apply decodes the entry and applies it to the store
 * at index raft_last_applied(r)+1 (the entry's index in libraft 0.15);
 * snapshot is swarm__store_dump; restore is swarm__store_restore (skipped
 * when the store already holds that index or later: it is deterministic).
 * Allocates nothing; swarm__raft_fsm_close frees what apply grew (after
 * raft_close; NULL allowed).
 */
void swarm__raft_fsm_init(struct raft_fsm *fsm, swarm__raft_fsm_state *st, swarm__store *store, struct raft *r);
void swarm__raft_fsm_close(swarm__raft_fsm_state *st);

/* ------------------------------------------------------------ node (raft.c) */

typedef struct swarm__raft swarm__raft;

typedef struct swarm__raft_options {
    uint64_t id;         /* > 0, unique in the group */
    const char *address; /* this node's transport listen address (what peers dial) */
    const char *dir;     /* state dir for <dir>/raft, or NULL for volatile storage */
    swarm__timers *timers;
    const swarm__clock *clock;
    struct swarm_transport_backend *transport; /* opened and listening; the node forwards to swarm__raft_* */
    swarm__store *store;
    unsigned heartbeat_ms;       /* 0: SWARM__RAFT_HEARTBEAT_MS */
    unsigned election_ms;        /* 0: SWARM__RAFT_ELECTION_MS; must exceed heartbeat_ms */
    unsigned snapshot_threshold; /* 0: libraft's default (1024 entries) */
    unsigned snapshot_trailing;  /* 0: libraft's default (2048 entries) */
} swarm__raft_options;

/* raft_init with our io and fsm. SWARM_EINVALID, SWARM_EIO (storage), SWARM_ENOMEM. */
int swarm__raft_new(swarm__raft **out, const swarm__raft_options *o, swarm__err *e);
/* Makes this node the single voter of a new group (only on an empty log). SWARM_EEXISTS if state exists. */
int swarm__raft_bootstrap(swarm__raft *r, swarm__err *e);
/* Changes the timeouts and the snapshot policy of a running member (cluster Spec.Raft changed). */
int swarm__raft_set_timing(swarm__raft *r, unsigned heartbeat_ms, unsigned election_ms, unsigned snapshot_threshold,
                           unsigned snapshot_trailing, swarm__err *e);
/* Loads the log, restores the snapshot, starts ticking. A joining node starts without bootstrap. */
int swarm__raft_start(swarm__raft *r, swarm__err *e);
/*
 * Closes raft (pending proposals fail with SWARM_EUNAVAILABLE, pending
 * membership changes with SWARM_ECLOSED), then frees everything. Close the
 * proposer first. NULL allowed.
 */
void swarm__raft_free(swarm__raft *r);

/* Transport forwarding (the node's host callbacks). */
void swarm__raft_link_up(swarm__raft *r, uint64_t link);
void swarm__raft_link_down(swarm__raft *r, uint64_t link);
void swarm__raft_receive(swarm__raft *r, uint64_t link, const swarm_transport_msg *msg);

/* RAFT_UNAVAILABLE / FOLLOWER / CANDIDATE / LEADER. */
int swarm__raft_state(swarm__raft *r);
/* Known leader id (0 if none); *address (may be NULL) borrowed until the next raft call. */
uint64_t swarm__raft_leader(swarm__raft *r, const char **address);
uint64_t swarm__raft_last_applied(swarm__raft *r);
struct raft *swarm__raft_raw(swarm__raft *r);
unsigned swarm__raft_restores(swarm__raft *r);

/*
 * Membership (leader only), chained as integration.md 1.10 says: a barrier
 * first (a new leader cannot change the configuration before an entry of its
 * term commits), then raft_add + raft_assign(VOTER), or raft_remove. cb runs
 * once on the loop: 0, SWARM_ENOTLEADER, SWARM_EBUSY (another change runs),
 * SWARM_EUNAVAILABLE (catch-up failed / leadership lost) or SWARM_ECLOSED.
 * A joining node runs swarm__raft_new + start without bootstrap.
 */
typedef void (*swarm__raft_change_cb)(void *payload, int rc);
int swarm__raft_add_voter(swarm__raft *r, uint64_t id, const char *address, swarm__raft_change_cb cb,
                          void *payload, swarm__err *e);
int swarm__raft_remove(swarm__raft *r, uint64_t id, swarm__raft_change_cb cb, void *payload, swarm__err *e);
/* A barrier (leader only): cb(payload, 0) once every earlier entry is applied here. Errors as above. */
int swarm__raft_barrier(swarm__raft *r, swarm__raft_change_cb cb, void *payload, swarm__err *e);
/* Hands leadership to voter id (0: the most up-to-date one). Leader only. */
int swarm__raft_transfer(swarm__raft *r, uint64_t id, swarm__err *e);
/*
 * --force-new-cluster: before swarm__raft_start, appends a configuration with
 * this node as the only voter to the stored log (libraft's raft_recover). The
 * state is kept; the other members are forgotten.
 */
int swarm__raft_recover(swarm__raft *r, swarm__err *e);

/*
 * The proposer seam on raft_apply. propose returns SWARM_ENOTLEADER at once on
 * a non-leader (no callback then). Each proposal's callback gets its own
 * outcome once its entry is committed and applied here: 0 and the entry's
 * index, the store's rejection, or SWARM_EUNAVAILABLE "outcome unknown" when
 * leadership was lost first (the entry may still commit). Callbacks run in
 * proposal order, never inside propose. close fails pending proposals with
 * SWARM_ECLOSED. r (and the timers) must outlive the proposer.
 *
 * swarm__proposer_raft_new: one entry per proposal, handed to raft_apply
 * inside propose (whose errors are then synchronous). It is the batched
 * proposer with batches of one, submitted at once instead of on a timer (the
 * same code path); tests and `bench_raft --unbatched` use it.
 *
 * swarm__proposer_raft_batched_new: the proposals made during one loop
 * iteration (a 0 ms timer flushes them) go into one entry, up to max_batch
 * proposals or max_batch_bytes of encoded actions per entry (more make
 * several entries, in order); the proposals of one entry share its index
 * (the store applied them in proposal order). A proposal accepted while
 * leading gets SWARM_ENOTLEADER in its callback if leadership went before
 * the flush (it was not written). Use it where many writes are in flight.
 */
#define SWARM__RAFT_BATCH_MAX 256 /* the most proposals the proposer puts in one entry */

typedef struct swarm__raft_proposer_options {
    swarm__timers *timers;  /* the node's (required) */
    unsigned max_batch;     /* 0: SWARM__RAFT_BATCH_MAX; at most that */
    size_t max_batch_bytes; /* 0: 1 MiB (one proposal larger than this gets an entry of its own) */
} swarm__raft_proposer_options;

int swarm__proposer_raft_new(swarm__proposer **out, swarm__raft *r, swarm__err *e);
int swarm__proposer_raft_batched_new(swarm__proposer **out, swarm__raft *r, const swarm__raft_proposer_options *o,
                                     swarm__err *e);

#endif

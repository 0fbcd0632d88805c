/*
 * A libraft 0.15 `struct raft_io` for one node: messages over our transport
 * (SWARM__MSG_RAFT, a compact little-endian binary body), storage of term,
 * vote, log and snapshot (volatile, or durable in an LMDB environment of its
 * own), and time/randomness from lib/core/timers.h + swarm__clock (so a whole
 * cluster runs on virtual time).
 *
 * Threading: every raft_io method and every raft callback on the node's loop
 * thread, as libraft requires. No raft callback is ever made from inside the
 * raft_io call that caused it: completions are deferred through a 0 ms timer.
 * With durable storage and real (libevent) timers the io also runs one
 * writer thread of its own, the only one to write to LMDB (see Storage).
 *
 * Transport: the node owns the transport (opened, listening) and forwards
 * link_up/link_down and every SWARM__MSG_RAFT message to the io. The io dials
 * the address of each peer it sends to and sends on that link; while it is not
 * up, on a link the peer's own messages arrived on, else it holds the last 8
 * messages for it (flushed at link_up; raft never retries, heartbeats re-drive).
 * Each message carries the sender's raft id and address (libraft needs both).
 *
 * Wire form (little-endian): u8 version (1), u8 type, u64 sender id, u32 len +
 * sender address, then the type's fields. Types 1-6 are libraft's, except
 * that an InstallSnapshot (5) never travels whole: it goes as a run of
 * SNAPSHOT_CHUNK messages (type 16), each
 *     u64 term, u64 last_index, u64 last_term, u64 conf_index   (the snapshot)
 *     u64 total, u64 offset, u8 flags (bit 0: last)
 *     [offset == 0 only] configuration (the form below)
 *     u32 len + len bytes of data: [offset, offset + len) of the total
 * sent in order on one link that is up (never held for a link that is down),
 * one chunk per loop turn, of at most the chunk size (4 MiB by default) plus
 * ~1 KiB. The sender id is the leader's. The send completes once the last
 * chunk is handed to the transport, or fails (RAFT_NOCONNECTION) when the
 * link goes down first; raft then retries with a new snapshot send. A new
 * InstallSnapshot to a peer cancels one still being sent to it (RAFT_CANCELED).
 * The receiver reassembles one snapshot at a time into one buffer of the
 * announced total (refused above 8 GiB or the machine's memory) and hands
 * raft one RAFT_IO_INSTALL_SNAPSHOT when the last chunk arrives. A partial
 * snapshot is dropped when its link goes down, a chunk is missing or out of
 * order, a snapshot from a leader of the same or a later term starts, or
 * nothing arrives for the reassembly timeout (30 s). Malformed chunks, and
 * chunks of another snapshot than the one being reassembled, are counted
 * and ignored.
 *
 * Storage (dir != NULL): LMDB environment in <dir>/raft, named databases
 * "meta" (term, vote), "log" (u64 big-endian index -> u64le term, u8 type,
 * payload) and "snap" (the last snapshot). Writes (append, truncate,
 * term/vote, snapshot_put, bootstrap, recover) are queued in raft's order;
 * the writer takes everything queued and commits it in one transaction (one
 * sync), so the appends of many raft_apply calls share a commit. Then the
 * completions (append, snapshot_put callbacks) go back to the loop in order:
 * an append is durable before its callback, truncate and snapshot_put land
 * after the appends before them. set_term, set_vote, bootstrap and recover
 * wait for their commit (raft needs them durable on return). The writer is a
 * thread with real timers (the loop collects its results on a 1 ms poll
 * while writes are out: the io has no cross-thread wake-up of the loop), and
 * the loop itself at its next turn with virtual timers (deterministic). After
 * a failed commit every later write fails too (no holes in the log); failed
 * appends complete newest first. Reads (load at start, snapshot_get) run on
 * the loop in read transactions. Close commits what is queued, joins the
 * writer, then finishes what is pending. The log is also kept in memory; the
 * snapshot data is not (load and snapshot_get copy it out of the map for
 * raft; the writer copies raft's buffers straight into it, so a large
 * snapshot_put does not hold up the loop; above 64 MiB in 64 MiB pieces).
 * The map reserves 64 GiB of address space (the file grows only as written)
 * and grows further when full.
 */
#ifndef SWARM_RAFT_IO_H
#define SWARM_RAFT_IO_H

#include "core/error.h"
#include "core/timers.h"
#include "swarm/sys/transport.h"

#include <raft.h>

/*
 * Makes an io. `transport` and `timers` must outlive it; `dir` NULL keeps
 * everything in memory (lost when the io is freed). Opens (and creates)
 * <dir>/raft and loads its content at once: SWARM_EIO with a message on failure.
 */
int swarm__raft_io_new(struct raft_io **out, swarm__timers *timers, const swarm__clock *clock,
                       struct swarm_transport_backend *transport, const char *dir, swarm__err *e);

/* Frees the io: after raft_close's callback, or if raft_init was never called. Commits writes still queued and
 * joins the writer thread; closes the links it dialed. */
void swarm__raft_io_free(struct raft_io *io);

/* The node forwards these from its transport host. */
void swarm__raft_io_link_up(struct raft_io *io, uint64_t link);
void swarm__raft_io_link_down(struct raft_io *io, uint64_t link);
void swarm__raft_io_receive(struct raft_io *io, uint64_t link, const swarm_transport_msg *msg);
/* The member this io serves (after raft_init): the io works around a libraft 0.15 defect with it (io.c rollback_guard). */
void swarm__raft_io_attach(struct raft_io *io, struct raft *r);
/* The Raft ID a RAFT message says it comes from (its header), 0 if it is malformed. */
uint64_t swarm__raft_io_sender(const swarm_transport_msg *msg);

/* Chunked InstallSnapshot knobs (tests make chunks small and timeouts short). */
#define SWARM__RAFT_CHUNK_SIZE_DEFAULT (4u << 20)
#define SWARM__RAFT_REASSEMBLY_MS_DEFAULT 30000u
/* Data bytes per chunk: 0 restores the default; a chunk never exceeds the transport's message limit. */
void swarm__raft_io_set_chunk_size(struct raft_io *io, size_t bytes);
/* How long a partial snapshot waits for its next chunk: 0 restores the default. */
void swarm__raft_io_set_reassembly_timeout(struct raft_io *io, unsigned ms);

/* Largest snapshot a receiver accepts: 0 restores the default (8 GiB, or the machine's memory if less). */
void swarm__raft_io_set_snapshot_limit(struct raft_io *io, uint64_t bytes);

/* Counters since the io was made (for tests and diagnostics). */
typedef struct swarm__raft_io_stats {
    uint64_t chunks_sent;        /* handed to the transport */
    uint64_t snapshots_sent;     /* sends completed: every chunk handed over */
    uint64_t chunks_received;    /* accepted into a reassembly */
    uint64_t chunks_refused;     /* malformed, too big, stale, unexpected or out of order */
    uint64_t snapshots_received; /* complete snapshots handed to raft */
    uint64_t partials_dropped;   /* reassemblies abandoned */
    uint64_t writes;             /* storage writes queued: append, truncate, term/vote, snapshot (durable only) */
    uint64_t commits;            /* LMDB transactions committed, one sync each: at most `writes` */
    uint64_t sync_writes;        /* writes the loop waited for: set_term, set_vote, bootstrap, recover */
} swarm__raft_io_stats;

void swarm__raft_io_get_stats(swarm__raft_io_stats *out, struct raft_io *io);

/* Configuration wire form shared with snapshots: u32le n, then per server u64le id, u32le len + address, u8 role. */
int swarm__raft_conf_encode(const struct raft_configuration *c, unsigned char **out, size_t *len);
int swarm__raft_conf_decode(struct raft_configuration *c, const unsigned char *buf, size_t len);

#endif

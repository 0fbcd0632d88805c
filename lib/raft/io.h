/*
 * A libraft 0.15 `struct raft_io` for one node: messages over our transport
 * (SWARM__MSG_RAFT, a compact little-endian binary body), storage of term,
 * vote, log and snapshot (volatile, or durable in an LMDB environment of its
 * own), and time/randomness from lib/core/timers.h + swarm__clock (so a whole
 * cluster runs on virtual time).
 *
 * Threading: everything on the node's loop thread, as libraft requires. No
 * raft callback is ever made from inside the raft_io call that caused it:
 * completions are deferred through a 0 ms timer.
 *
 * Transport: the node owns the transport (opened, listening) and forwards
 * link_up/link_down and every SWARM__MSG_RAFT message to the io. The io dials
 * the address of each peer it sends to and sends on that link; while it is not
 * up, on a link the peer's own messages arrived on, else it holds the last 8
 * messages for it (flushed at link_up; raft never retries, heartbeats re-drive).
 * Each message carries the sender's raft id and address (libraft needs both).
 *
 * Storage (dir != NULL): LMDB environment in <dir>/raft, named databases
 * "meta" (term, vote), "log" (u64 big-endian index -> u64le term, u8 type,
 * payload) and "snap" (the last snapshot). Every write is committed (synced)
 * on the loop before the call returns, so appends are durable before their
 * (deferred) callback, and truncate / snapshot_put are naturally ordered
 * after earlier appends. The log is also kept in memory.
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

/* Frees the io: after raft_close's callback, or if raft_init was never called. Closes the links it dialed. */
void swarm__raft_io_free(struct raft_io *io);

/* The node forwards these from its transport host. */
void swarm__raft_io_link_up(struct raft_io *io, uint64_t link);
void swarm__raft_io_link_down(struct raft_io *io, uint64_t link);
void swarm__raft_io_receive(struct raft_io *io, uint64_t link, const swarm_transport_msg *msg);

/* Configuration wire form shared with snapshots: u32le n, then per server u64le id, u32le len + address, u8 role. */
int swarm__raft_conf_encode(const struct raft_configuration *c, unsigned char **out, size_t *len);
int swarm__raft_conf_decode(struct raft_configuration *c, const unsigned char *buf, size_t len);

#endif

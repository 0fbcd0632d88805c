/*
 * Fuzz target: the Raft message decoder and the InstallSnapshot chunk
 * reassembly of lib/raft/io.c (untrusted bytes from any manager peer).
 *
 * The input is a run of records, each: u8 op, u16le length, that many bytes.
 * op & 3 is a link (1..3 receive the bytes as a SWARM__MSG_RAFT message on
 * that link; 0 reports that link's loss: link = length % 4), and op & 4
 * first moves virtual time by 1 s (the reassembly timeout is 2 s). So
 * sequences of chunks, link drops and timeouts are explored, not just one
 * message. Whatever raft would be handed is checked and freed here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/timers.h"
#include "proto/proto.h"
#include "raft/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The io never dials or sends while it only receives; these just have to exist. */
static int t_dial(struct swarm_transport_backend *b, const char *addr, uint64_t *link)
{
    (void)b;
    (void)addr;
    *link = 7;
    return 0;
}

static int t_send(struct swarm_transport_backend *b, uint64_t link, const swarm_transport_msg *msg)
{
    (void)b;
    (void)link;
    (void)msg;
    return SWARM_EUNAVAILABLE;
}

static void t_close_link(struct swarm_transport_backend *b, uint64_t link)
{
    (void)b;
    (void)link;
}

static void tick(struct raft_io *io)
{
    (void)io;
}

static void recv_msg(struct raft_io *io, struct raft_message *m)
{
    (void)io;
    if (m->server_id == 0 || m->server_address == NULL)
        abort();
    switch (m->type) {
    case RAFT_IO_APPEND_ENTRIES:
        if (m->append_entries.n_entries > 0) {
            raft_free(m->append_entries.entries[0].batch);
            raft_free(m->append_entries.entries);
        }
        break;
    case RAFT_IO_INSTALL_SNAPSHOT: {
        struct raft_install_snapshot *p = &m->install_snapshot;
        /* Every byte of the reassembled buffer was written (MSan/valgrind would see it read here). */
        volatile unsigned char sum = 0;
        for (size_t i = 0; i < p->data.len; i++)
            sum ^= ((const unsigned char *)p->data.base)[i];
        (void)sum;
        raft_configuration_close(&p->conf);
        raft_free(p->data.base);
        break;
    }
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    swarm__timers *ts = swarm__timers_virtual(0, 1);
    struct swarm_transport_backend t;
    memset(&t, 0, sizeof t);
    t.version = SWARM_TRANSPORT_BACKEND_VERSION;
    t.name = "fuzz";
    t.dial = t_dial;
    t.send = t_send;
    t.close_link = t_close_link;
    struct raft_io *io;
    swarm__err e;
    if (ts == NULL || swarm__raft_io_new(&io, ts, swarm__timers_clock(ts), &t, NULL, &e) != 0)
        abort();
    swarm__raft_io_set_snapshot_limit(io, 1 << 20); /* announced totals drive the allocation */
    swarm__raft_io_set_reassembly_timeout(io, 2000);
    if (io->init(io, 1, "self") != 0 || io->start(io, 100, tick, recv_msg) != 0)
        abort();
    size_t at = 0;
    while (at + 3 <= size) {
        unsigned op = data[at];
        size_t len = (size_t)data[at + 1] | (size_t)data[at + 2] << 8;
        at += 3;
        if (len > size - at)
            len = size - at;
        if (op & 4)
            swarm__timers_advance(ts, 1000);
        if ((op & 3) == 0) {
            swarm__raft_io_link_down(io, len % 4);
        } else {
            swarm_transport_msg m = {SWARM__MSG_RAFT, data + at, len};
            swarm__raft_io_receive(io, op & 3, &m);
            at += len;
        }
    }
    swarm__timers_advance(ts, 5000);
    io->close(io, NULL);
    swarm__raft_io_free(io);
    swarm__timers_free(ts);
    return 0;
}

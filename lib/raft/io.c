/* raft_io on our transport, timers and (optionally) an LMDB environment. See io.h. */
#include "raft/io.h"

#include "proto/proto.h"

#include "core/log.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WIRE_VERSION 1

/*
 * Our own message type beside libraft's RAFT_IO_* (1..6): one piece of an
 * InstallSnapshot (see io.h for the layout). The whole snapshot never travels
 * in one transport message, so its size is not bound by SWARM_TRANSPORT_MAX_MESSAGE.
 */
#define WIRE_SNAPSHOT_CHUNK 16
#define CHUNK_FLAG_LAST 1u

/*
 * LMDB map: address space only (the file grows as pages are written), sized
 * for snapshots of several GiB: replacing one needs room for the old and the
 * new copy at once (copy-on-write). commit() grows it on MDB_MAP_FULL.
 */
#define LMDB_MAP_SIZE (SIZE_MAX > 0xffffffffu ? (64ull << 30) : (1ull << 30))

/* ------------------------------------------------------------ byte buffers */

typedef struct wbuf {
    unsigned char *data;
    size_t len, cap;
    int failed;
} wbuf;

static void w_put(wbuf *w, const void *p, size_t n)
{
    if (w->failed)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        unsigned char *g = realloc(w->data, cap);
        if (g == NULL) {
            w->failed = 1;
            return;
        }
        w->data = g;
        w->cap = cap;
    }
    if (n)
        memcpy(w->data + w->len, p, n);
    w->len += n;
}

static void w_u8(wbuf *w, unsigned v)
{
    unsigned char b = (unsigned char)v;
    w_put(w, &b, 1);
}

static void w_u32(wbuf *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    w_put(w, b, 4);
}

static void w_u64(wbuf *w, uint64_t v)
{
    w_u32(w, (uint32_t)v);
    w_u32(w, (uint32_t)(v >> 32));
}

static void w_bytes(wbuf *w, const void *p, size_t n)
{
    w_u32(w, (uint32_t)n);
    w_put(w, p, n);
}

typedef struct rbuf {
    const unsigned char *p;
    size_t left;
    int failed;
} rbuf;

static const unsigned char *r_take(rbuf *r, size_t n)
{
    if (r->failed || r->left < n) {
        r->failed = 1;
        return NULL;
    }
    const unsigned char *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static unsigned r_u8(rbuf *r)
{
    const unsigned char *p = r_take(r, 1);
    return p ? p[0] : 0;
}

static uint32_t r_u32(rbuf *r)
{
    const unsigned char *p = r_take(r, 4);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24 : 0;
}

static uint64_t r_u64(rbuf *r)
{
    uint64_t lo = r_u32(r);
    return lo | (uint64_t)r_u32(r) << 32;
}

static const unsigned char *r_bytes(rbuf *r, size_t *n)
{
    *n = r_u32(r);
    return r_take(r, *n);
}

/* ------------------------------------------------------------ configurations */

static void conf_write(wbuf *w, const struct raft_configuration *c)
{
    w_u32(w, c->n);
    for (unsigned i = 0; i < c->n; i++) {
        w_u64(w, c->servers[i].id);
        w_bytes(w, c->servers[i].address, strlen(c->servers[i].address));
        w_u8(w, (unsigned)c->servers[i].role);
    }
}

int swarm__raft_conf_encode(const struct raft_configuration *c, unsigned char **out, size_t *len)
{
    wbuf w = {0};
    conf_write(&w, c);
    if (w.failed) {
        free(w.data);
        return RAFT_NOMEM;
    }
    *out = w.data;
    *len = w.len;
    return 0;
}

static int conf_read(rbuf *r, struct raft_configuration *c)
{
    raft_configuration_init(c);
    uint32_t n = r_u32(r);
    for (uint32_t i = 0; i < n && !r->failed; i++) {
        raft_id id = r_u64(r);
        size_t al;
        const unsigned char *a = r_bytes(r, &al);
        int role = (int)r_u8(r);
        if (r->failed || id == 0 || al == 0 || al > 1024 || role > RAFT_SPARE || memchr(a, '\0', al) != NULL) {
            r->failed = 1;
            break;
        }
        char addr[1025];
        memcpy(addr, a, al);
        addr[al] = '\0';
        if (raft_configuration_add(c, id, addr, role) != 0) {
            r->failed = 1;
            break;
        }
    }
    if (r->failed) {
        raft_configuration_close(c);
        raft_configuration_init(c);
        return RAFT_MALFORMED;
    }
    return 0;
}

int swarm__raft_conf_decode(struct raft_configuration *c, const unsigned char *buf, size_t len)
{
    rbuf r = {buf, len, 0};
    return conf_read(&r, c);
}

/* ------------------------------------------------------------ state */

typedef struct log_entry {
    raft_term term;
    unsigned short type;
    unsigned char *data;
    size_t len;
} log_entry;

enum { OP_SEND, OP_APPEND, OP_PUT, OP_GET };

typedef struct op {
    int kind;
    int status;
    void *req;
    void *cb;
    struct raft_snapshot *snap; /* OP_GET */
    struct op *next;
} op;

/*
 * The storage writer (durable storage only). The loop queues every write in
 * raft's order; the writer takes all that is queued, commits it in one LMDB
 * transaction (one sync) and hands the writes back, in order, for the loop
 * to complete. With real timers a thread of the io's own is the writer; it
 * wakes the loop (swarm__timer_wake) when a commit finished; with virtual timers the loop
 * itself commits at its next turn, so a cluster on virtual time stays
 * deterministic.
 */
typedef struct writer {
    int on;       /* durable storage */
    int threaded; /* a thread commits; else the loop does */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work;    /* the queue got a write, or stop */
    pthread_cond_t drained; /* `finished` moved */
    struct wop *queue, *queue_tail; /* not taken yet */
    struct wop *done, *done_tail;   /* committed (or failed), for the loop to complete */
    uint64_t queued, finished;      /* sequence numbers: the last queued, the last committed or failed */
    int failed;                     /* LMDB error of the first failed commit: every later write fails too */
    int stop;
    uint64_t commits;
    /* Held by the loop's read transactions and by the map growth (which needs no transaction open). */
    pthread_mutex_t env_lock;
} writer;

/* Messages held for a dialed link that is not up yet (bounded, oldest evicted, as raft_uv does). */
#define PEER_QUEUE_MAX 8

typedef struct held {
    unsigned char *data;
    size_t len;
} held;

typedef struct peer {
    char *address;
    uint64_t link;          /* the link we dialed */
    int up;
    uint64_t inbound;       /* an up link this peer's messages arrived on (0: none): a fallback route */
    held queue[PEER_QUEUE_MAX];
    unsigned n_held;
    struct peer *next;
} peer;

/* What names one InstallSnapshot on the wire: every chunk of it carries these. */
typedef struct snap_id {
    raft_term term, last_term;
    raft_index last_index, conf_index;
    uint64_t total; /* data bytes */
} snap_id;

static int snap_id_equal(const snap_id *a, const snap_id *b)
{
    return a->term == b->term && a->last_term == b->last_term && a->last_index == b->last_index &&
           a->conf_index == b->conf_index && a->total == b->total;
}

/* An InstallSnapshot being handed to the transport chunk by chunk (one chunk per loop turn), on one link. */
typedef struct outgoing {
    struct raft_io_send *req;
    raft_io_send_cb cb;
    peer *p;
    uint64_t link;
    int broken; /* the link went down: fail at the next turn */
    snap_id id;
    unsigned char *conf; /* conf_write form, sent in the first chunk */
    size_t conf_len;
    const unsigned char *data; /* raft's snapshot buffer: alive until the send callback */
    uint64_t offset;
    unsigned char *frame; /* one chunk, reused: the transport copies what it sends */
    size_t frame_cap;
    struct outgoing *next;
} outgoing;

/* The InstallSnapshot being reassembled (one at a time: only a leader sends them). */
typedef struct incoming {
    int active;
    raft_id from;
    uint64_t link; /* the link its last chunk came on */
    snap_id id;
    struct raft_configuration conf;
    unsigned char *data; /* raft_malloc'd, handed to raft when complete */
    uint64_t received;
} incoming;

typedef struct io_impl {
    swarm__timers *timers;
    const swarm__clock *clock;
    struct swarm_transport_backend *t;
    raft_id id;
    char *address;

    /* Storage, mirrored in memory. */
    raft_term term;
    raft_id vote;
    raft_index first; /* index of log[0] (or of the next entry when empty) */
    log_entry *log;
    size_t n, cap;
    int has_snap;
    raft_index snap_index;
    raft_term snap_term;
    raft_index snap_conf_index;
    unsigned char *snap_conf; /* conf_write form */
    size_t snap_conf_len;
    unsigned char *snap_data; /* volatile storage only: with LMDB the data stays in the map */
    size_t snap_data_len;

    MDB_env *env;
    MDB_dbi db_meta, db_log, db_snap;
    writer w;
    int broken;          /* a storage write failed: every later one fails (no holes in the log) */
    unsigned puts_pending; /* snapshot writes not committed yet: the map still holds the older snapshot */

    /* done_timer: deferred completions (0 ms); poll_timer: woken by the writer thread when a commit finished. */
    swarm__timer *tick_timer, *done_timer, *poll_timer;
    unsigned tick_ms;
    raft_io_tick_cb tick;
    raft_io_recv_cb recv;
    int started, closed;
    op *head, *tail;
    peer *peers;

    /* Chunked snapshots. */
    size_t chunk_size;
    unsigned reassembly_ms;
    uint64_t snapshot_limit; /* 0: reassembly_cap() */
    outgoing *sending;
    swarm__timer *pump_timer;
    incoming in;
    swarm__timer *reassembly_timer;
    swarm__raft_io_stats stats;
    /*
     * libraft 0.15 answers a successful AppendEntries with its whole stored
     * log (last_stored) as last_log_index, even a stale tail from an older
     * term beyond what that AppendEntries matched; its leader then believes
     * this follower holds entries it does not, may count it toward a commit,
     * and ignores its later rejections (seen with test_raft_chaos seed 23).
     * The follower's answer is capped to what the AppendEntries it answers
     * made match: prev_log_index + n_entries (under-reporting is safe: the
     * leader sends more). ae_match is that bound while libraft handles one
     * (in recv, or in the append callback of its entries); 0: none.
     */
    raft_index ae_match;
    struct raft *raft; /* the member this io serves (swarm__raft_io_attach), for rollback_guard */
    struct {
        const void *req;
        raft_index match;
    } *ae_pending;          /* appends in flight -> the bound of the AppendEntries they came from */
    size_t n_ae_pending, cap_ae_pending;
} io_impl;

static io_impl *impl_of(struct raft_io *io)
{
    return io->impl;
}

static void errmsgf(struct raft_io *io, const char *what, int rc)
{
    snprintf(io->errmsg, sizeof io->errmsg, "raft storage: %s: %s", what, mdb_strerror(rc));
}

/* ------------------------------------------------------------ LMDB */

static void be64(unsigned char out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)v;
}

static uint64_t from_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void le_put(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

static int db_put_meta(io_impl *s, MDB_txn *txn, raft_term term, raft_id vote)
{
    unsigned char buf[16];
    le_put(buf, term, 8);
    le_put(buf + 8, vote, 8);
    MDB_val k = {4, "tv01"}, v = {16, buf};
    return mdb_put(txn, s->db_meta, &k, &v, 0);
}

/* Writes straight from raft's buffer (MDB_RESERVE): u64le term, u8 type, payload. */
static int db_put_entry(io_impl *s, MDB_txn *txn, raft_index index, const struct raft_entry *e)
{
    unsigned char key[8];
    be64(key, index);
    MDB_val k = {8, key}, v = {9 + e->buf.len, NULL};
    int rc = mdb_put(txn, s->db_log, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return rc;
    unsigned char *p = v.mv_data;
    le_put(p, e->term, 8);
    p[8] = (unsigned char)e->type;
    if (e->buf.len)
        memcpy(p + 9, e->buf.base, e->buf.len);
    return 0;
}

/* Deletes log keys in [from, to) (to == 0: no upper bound). */
static int db_del_range(io_impl *s, MDB_txn *txn, raft_index from, raft_index to)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->db_log, &c);
    if (rc != 0)
        return rc;
    for (;;) {
        unsigned char key[8];
        be64(key, from);
        MDB_val k = {8, key}, v;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc != 0 || (to != 0 && from_be64(k.mv_data) >= to))
            break;
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * The "snap" record: u64le index, u64le term, u64le configuration index,
 * u32le length + configuration (conf_write form), u64le data length, then the
 * data itself if it is at most SNAP_PIECE bytes. A larger snapshot is stored
 * in pieces of SNAP_PIECE bytes (the last one shorter) under the keys
 * "p" + u64be piece number: LMDB 0.9.24 leaks its spill list (1 MiB) on every
 * write of one value of a few hundred MiB, and pieces keep each write small.
 */
#define SNAP_RECORD_FIXED (3 * 8 + 4 + 8)
#define SNAP_PIECE ((size_t)64 << 20)

typedef struct snap_meta {
    raft_index index, conf_index;
    raft_term term;
    const unsigned char *conf, *data; /* data: NULL when stored in pieces */
    size_t conf_len, data_len;
} snap_meta;

/* Parses a "snap" record; conf and data point into it. 0 or MDB_CORRUPTED. */
static int snap_parse(const MDB_val *v, snap_meta *m)
{
    rbuf r = {v->mv_data, v->mv_size, 0};
    m->index = r_u64(&r);
    m->term = r_u64(&r);
    m->conf_index = r_u64(&r);
    m->conf = r_bytes(&r, &m->conf_len);
    uint64_t dl = r_u64(&r);
    if (r.failed || dl > SIZE_MAX || (r.left != dl && !(r.left == 0 && dl > SNAP_PIECE)))
        return MDB_CORRUPTED;
    m->data_len = (size_t)dl;
    m->data = r.left == dl ? r.p : NULL; /* inline (written before pieces existed, whatever its size) */
    return 0;
}

/* The stored snapshot's record, parsed (pointing into txn's map). 0, MDB_NOTFOUND or an LMDB error. */
static int snap_load(io_impl *s, MDB_txn *txn, snap_meta *m)
{
    MDB_val k = {4, "snap"}, v;
    int rc = mdb_get(txn, s->db_snap, &k, &v);
    return rc == 0 ? snap_parse(&v, m) : rc;
}

static void piece_key(unsigned char key[9], uint64_t i)
{
    key[0] = 'p';
    be64(key + 1, i);
}

/* Copies the stored snapshot data (len bytes, as parsed into m) into out. 0 or an LMDB error. */
static int snap_read(io_impl *s, MDB_txn *txn, const snap_meta *m, unsigned char *out)
{
    if (m->data != NULL) {
        if (m->data_len)
            memcpy(out, m->data, m->data_len);
        return 0;
    }
    for (size_t off = 0, i = 0; off < m->data_len; off += SNAP_PIECE, i++) {
        unsigned char key[9];
        piece_key(key, i);
        MDB_val k = {9, key}, v;
        size_t want = m->data_len - off < SNAP_PIECE ? m->data_len - off : SNAP_PIECE;
        int rc = mdb_get(txn, s->db_snap, &k, &v);
        if (rc != 0)
            return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
        if (v.mv_size != want)
            return MDB_CORRUPTED;
        memcpy(out + off, v.mv_data, want);
    }
    return 0;
}

/* What snapshot_put writes: the data straight from raft's buffers (MDB_RESERVE), with no copy in between. */
typedef struct snap_src {
    raft_index index, conf_index;
    raft_term term;
    const unsigned char *conf;
    size_t conf_len;
    const struct raft_buffer *bufs;
    unsigned n_bufs;
    size_t data_len;
} snap_src;

/* Copies the next n bytes of src's buffers (from buffer *bi, offset *bo) to out. */
static void bufs_take(const snap_src *src, unsigned *bi, size_t *bo, unsigned char *out, size_t n)
{
    while (n > 0) {
        const struct raft_buffer *b = &src->bufs[*bi];
        size_t k = b->len - *bo < n ? b->len - *bo : n;
        if (k)
            memcpy(out, (const unsigned char *)b->base + *bo, k);
        out += k;
        n -= k;
        *bo += k;
        if (*bo == b->len) {
            (*bi)++;
            *bo = 0;
        }
    }
}

static int db_put_snap(io_impl *s, MDB_txn *txn, const snap_src *src)
{
    int inline_data = src->data_len <= SNAP_PIECE;
    MDB_val k = {4, "snap"}, v = {SNAP_RECORD_FIXED + src->conf_len + (inline_data ? src->data_len : 0), NULL};
    int rc = mdb_put(txn, s->db_snap, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return rc;
    unsigned char *p = v.mv_data;
    le_put(p, src->index, 8);
    le_put(p + 8, src->term, 8);
    le_put(p + 16, src->conf_index, 8);
    le_put(p + 24, src->conf_len, 4);
    p += 28;
    if (src->conf_len)
        memcpy(p, src->conf, src->conf_len);
    p += src->conf_len;
    le_put(p, src->data_len, 8);
    p += 8;
    unsigned bi = 0;
    size_t bo = 0, pieces = 0;
    if (inline_data) {
        bufs_take(src, &bi, &bo, p, src->data_len);
    } else {
        for (size_t off = 0; off < src->data_len; off += SNAP_PIECE, pieces++) {
            unsigned char key[9];
            piece_key(key, pieces);
            MDB_val pk = {9, key}, pv = {src->data_len - off < SNAP_PIECE ? src->data_len - off : SNAP_PIECE, NULL};
            if ((rc = mdb_put(txn, s->db_snap, &pk, &pv, MDB_RESERVE)) != 0)
                return rc;
            bufs_take(src, &bi, &bo, pv.mv_data, pv.mv_size);
        }
    }
    /* Pieces of an older, larger snapshot. */
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->db_snap, &c)) != 0)
        return rc;
    for (;;) {
        unsigned char key[9];
        piece_key(key, pieces);
        MDB_val pk = {9, key}, pv;
        rc = mdb_cursor_get(c, &pk, &pv, MDB_SET_RANGE);
        if (rc != 0 || pk.mv_size != 9 || ((const unsigned char *)pk.mv_data)[0] != 'p')
            break;
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

typedef struct range {
    raft_index from, to;
} range;

/* ------------------------------------------------------------ the writer */

enum { W_APPEND, W_TRUNCATE, W_META, W_SNAPSHOT };

/* One queued write, and the completion it owes raft once committed. */
typedef struct wop {
    int kind;
    int rc;     /* set by the writer: 0 or the LMDB error of its transaction */
    int waited; /* a synchronous call waits for it and takes it back (on its stack); never reaped */
    uint64_t seq;
    raft_index index;                 /* W_APPEND: of entries[0]; W_TRUNCATE: the first removed */
    const struct raft_entry *entries; /* W_APPEND: raft's, alive until the append callback */
    unsigned n;
    raft_term term; /* W_META */
    raft_id vote;
    snap_src src;          /* W_SNAPSHOT: conf is ours, bufs raft's (alive until the put callback) */
    unsigned char *conf;   /* W_SNAPSHOT: what src.conf points to */
    range drop;            /* W_SNAPSHOT: log keys to delete ({0, 0}: all) */
    int op_kind;           /* the completion: OP_APPEND, OP_PUT, or -1 for none */
    void *req, *cb;
    struct wop *next;
} wop;

static int wop_apply(io_impl *s, MDB_txn *txn, const wop *o)
{
    int rc = 0;
    switch (o->kind) {
    case W_APPEND:
        for (unsigned i = 0; rc == 0 && i < o->n; i++)
            rc = db_put_entry(s, txn, o->index + i, &o->entries[i]);
        return rc;
    case W_TRUNCATE:
        return db_del_range(s, txn, o->index, 0);
    case W_META:
        return db_put_meta(s, txn, o->term, o->vote);
    default:
        rc = db_put_snap(s, txn, &o->src);
        if (rc == 0 && o->drop.to > o->drop.from)
            rc = db_del_range(s, txn, o->drop.from, o->drop.to);
        else if (rc == 0 && o->drop.to == 0)
            rc = db_del_range(s, txn, 1, 0);
        return rc;
    }
}

/* Commits a list of writes in one synced transaction, growing the map when it is full. 0 or an LMDB error. */
static int commit(io_impl *s, const wop *list)
{
    int rc;
    for (int attempt = 0;; attempt++) {
        MDB_txn *txn;
        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc == 0) {
            for (const wop *o = list; rc == 0 && o != NULL; o = o->next)
                rc = wop_apply(s, txn, o);
            if (rc == 0)
                rc = mdb_txn_commit(txn);
            else
                mdb_txn_abort(txn);
        }
        if (rc != MDB_MAP_FULL || attempt == 4)
            return rc;
        /* The writer's transaction is gone and env_lock keeps the loop's reads out: the map may grow. */
        MDB_envinfo info;
        pthread_mutex_lock(&s->w.env_lock);
        int grown = mdb_env_info(s->env, &info) == 0 && info.me_mapsize <= SIZE_MAX / 2 &&
                    mdb_env_set_mapsize(s->env, info.me_mapsize * 2) == 0;
        pthread_mutex_unlock(&s->w.env_lock);
        if (!grown)
            return rc;
        swarm__log_info("raft", "raft storage: map grown to %zu MiB", (info.me_mapsize * 2) >> 20);
    }
}

/* Takes everything queued and commits it (w->lock held on entry and on return, not meanwhile). */
static void flush_locked(io_impl *s)
{
    writer *w = &s->w;
    wop *list = w->queue;
    if (list == NULL)
        return;
    uint64_t last = w->queue_tail->seq;
    w->queue = w->queue_tail = NULL;
    int rc = w->failed;
    pthread_mutex_unlock(&w->lock);
    if (rc == 0)
        rc = commit(s, list);
    pthread_mutex_lock(&w->lock);
    if (rc == 0)
        w->commits++;
    else if (w->failed == 0)
        w->failed = rc;
    for (wop *o = list, *next; o != NULL; o = next) {
        next = o->next;
        o->rc = rc;
        o->next = NULL;
        if (o->waited)
            continue; /* its caller reads rc once `finished` says so, then it is gone */
        if (w->done_tail)
            w->done_tail->next = o;
        else
            w->done = o;
        w->done_tail = o;
    }
    w->finished = last;
    pthread_cond_broadcast(&w->drained);
    if (w->threaded)
        swarm__timer_wake(s->poll_timer); /* the loop completes them */
}

static void *writer_main(void *arg)
{
    io_impl *s = arg;
    writer *w = &s->w;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->queue == NULL && !w->stop)
            pthread_cond_wait(&w->work, &w->lock);
        if (w->queue == NULL)
            break;
        flush_locked(s);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static int writer_start(io_impl *s, int threaded)
{
    writer *w = &s->w;
    if (pthread_mutex_init(&w->lock, NULL) != 0)
        return -1;
    if (pthread_mutex_init(&w->env_lock, NULL) != 0) {
        pthread_mutex_destroy(&w->lock);
        return -1;
    }
    if (pthread_cond_init(&w->work, NULL) != 0 || pthread_cond_init(&w->drained, NULL) != 0) {
        pthread_mutex_destroy(&w->lock);
        pthread_mutex_destroy(&w->env_lock);
        return -1;
    }
    w->on = 1;
    if (threaded && pthread_create(&w->thread, NULL, writer_main, s) != 0)
        threaded = 0; /* the loop commits, as with virtual timers */
    w->threaded = threaded;
    return 0;
}

/* Waits until every write queued so far is committed or failed (with the loop as writer: commits them now). */
static void writes_wait(io_impl *s)
{
    writer *w = &s->w;
    pthread_mutex_lock(&w->lock);
    if (!w->threaded)
        flush_locked(s);
    while (w->finished < w->queued)
        pthread_cond_wait(&w->drained, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

/* Commits what is queued, ends the thread, frees writes never completed. */
static void writer_stop(io_impl *s)
{
    writer *w = &s->w;
    if (!w->on)
        return;
    writes_wait(s);
    if (w->threaded) {
        pthread_mutex_lock(&w->lock);
        w->stop = 1;
        pthread_cond_signal(&w->work);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        w->threaded = 0;
    }
    while (w->done != NULL) {
        wop *o = w->done;
        w->done = o->next;
        free(o->conf);
        free(o);
    }
    s->stats.commits = w->commits;
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->drained);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->env_lock);
    w->on = 0;
}

static void writes_push(io_impl *s, wop *o)
{
    writer *w = &s->w;
    pthread_mutex_lock(&w->lock);
    o->seq = ++w->queued;
    o->next = NULL;
    if (w->queue_tail)
        w->queue_tail->next = o;
    else
        w->queue = o;
    w->queue_tail = o;
    if (w->threaded)
        pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
    s->stats.writes++;
    if (!w->threaded && !swarm__timer_armed(s->done_timer)) {
        swarm__timer_start(s->done_timer, 0);
    }
}

static void broken_msg(struct raft_io *io)
{
    snprintf(io->errmsg, sizeof io->errmsg, "raft storage: an earlier write failed");
}

/*
 * A synchronous write (term, vote, bootstrap, recover): queued behind every
 * earlier write and waited for. 0 or RAFT_IOERR with errmsg.
 */
static int write_sync(struct raft_io *io, wop *o, const char *what)
{
    io_impl *s = impl_of(io);
    if (s->broken) {
        broken_msg(io);
        return RAFT_IOERR;
    }
    o->waited = 1;
    o->op_kind = -1;
    writes_push(s, o);
    writes_wait(s);
    s->stats.sync_writes++;
    if (o->rc != 0) {
        s->broken = 1;
        errmsgf(io, what, o->rc);
        return RAFT_IOERR;
    }
    return 0;
}

static int log_reserve(io_impl *s, size_t more)
{
    if (s->n + more <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < s->n + more)
        cap *= 2;
    log_entry *g = realloc(s->log, cap * sizeof *g);
    if (g == NULL)
        return RAFT_NOMEM;
    s->log = g;
    s->cap = cap;
    return 0;
}

/* Frees log entries [at, n) of the mirror. */
static void log_cut(io_impl *s, size_t at)
{
    for (size_t i = at; i < s->n; i++)
        free(s->log[i].data);
    if (at < s->n)
        s->n = at;
}

/* Drops the first k entries of the mirror. */
static void log_drop_front(io_impl *s, size_t k)
{
    if (k > s->n)
        k = s->n;
    if (k == 0)
        return;
    for (size_t i = 0; i < k; i++)
        free(s->log[i].data);
    memmove(s->log, s->log + k, (s->n - k) * sizeof *s->log);
    s->n -= k;
    s->first += k;
}

static int db_open(io_impl *s, const char *dir, swarm__err *e)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/raft", dir) >= (int)sizeof path)
        return swarm__err_set(e, SWARM_EINVALID, "raft: state directory path too long");
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return swarm__err_set(e, SWARM_EIO, "raft: cannot create %s: %s", path, strerror(errno));
    int rc = mdb_env_create(&s->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(s->env, 4);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env, LMDB_MAP_SIZE);
    if (rc == 0)
        rc = mdb_env_open(s->env, path, 0, 0600);
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->db_meta);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "log", MDB_CREATE, &s->db_log);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "snap", MDB_CREATE, &s->db_snap);
    MDB_val k, v;
    /* Load term + vote. */
    if (rc == 0) {
        k = (MDB_val){4, "tv01"};
        int g = mdb_get(txn, s->db_meta, &k, &v);
        if (g == 0 && v.mv_size == 16) {
            rbuf r = {v.mv_data, 16, 0};
            s->term = r_u64(&r);
            s->vote = r_u64(&r);
        } else if (g != MDB_NOTFOUND) {
            rc = g ? g : MDB_CORRUPTED;
        }
    }
    /* Load the snapshot. */
    if (rc == 0) {
        snap_meta sm;
        int g = snap_load(s, txn, &sm);
        if (g == 0) {
            /* Only the metadata: the data stays in the map until load or snapshot_get copies it out for raft. */
            s->snap_conf = malloc(sm.conf_len ? sm.conf_len : 1);
            if (s->snap_conf == NULL) {
                rc = ENOMEM;
            } else {
                memcpy(s->snap_conf, sm.conf, sm.conf_len);
                s->snap_conf_len = sm.conf_len;
                s->snap_data_len = sm.data_len;
                s->snap_index = sm.index;
                s->snap_term = sm.term;
                s->snap_conf_index = sm.conf_index;
                s->has_snap = 1;
                s->first = s->snap_index + 1;
            }
        } else if (g != MDB_NOTFOUND) {
            rc = g;
        }
    }
    /* Load the log: contiguous from its first key. */
    if (rc == 0) {
        MDB_cursor *c = NULL;
        rc = mdb_cursor_open(txn, s->db_log, &c);
        int g = rc == 0 ? mdb_cursor_get(c, &k, &v, MDB_FIRST) : rc;
        int first = 1;
        while (rc == 0 && g == 0) {
            raft_index index = from_be64(k.mv_data);
            if (first) {
                s->first = index;
                first = 0;
            } else if (index != s->first + s->n) {
                rc = MDB_CORRUPTED;
                break;
            }
            if (v.mv_size < 9 || (rc = log_reserve(s, 1)) != 0) {
                rc = rc ? ENOMEM : MDB_CORRUPTED;
                break;
            }
            const unsigned char *p = v.mv_data;
            log_entry *le = &s->log[s->n];
            le->term = 0;
            for (int i = 7; i >= 0; i--)
                le->term = le->term << 8 | p[i];
            le->type = p[8];
            le->len = v.mv_size - 9;
            le->data = malloc(le->len ? le->len : 1);
            if (le->data == NULL) {
                rc = ENOMEM;
                break;
            }
            memcpy(le->data, p + 9, le->len);
            s->n++;
            g = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
        if (rc == 0 && g != MDB_NOTFOUND)
            rc = g;
        if (c != NULL)
            mdb_cursor_close(c);
    }
    if (txn != NULL) {
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    if (rc != 0)
        return swarm__err_set(e, SWARM_EIO, "raft: storage in %s: %s", path, mdb_strerror(rc));
    return 0;
}

/* ------------------------------------------------------------ deferred completions */

static void queue_op(io_impl *s, int kind, void *req, void *cb, int status, struct raft_snapshot *snap)
{
    op *o = calloc(1, sizeof *o);
    if (o == NULL)
        abort(); /* cannot keep libraft's contract without it */
    o->kind = kind;
    o->req = req;
    o->cb = cb;
    o->status = status;
    o->snap = snap;
    if (s->tail)
        s->tail->next = o;
    else
        s->head = o;
    s->tail = o;
    if (!swarm__timer_armed(s->done_timer))
        swarm__timer_start(s->done_timer, 0);
}

static void outgoing_finish(io_impl *s, outgoing *o, int status);

static void snap_free(struct raft_snapshot *snap)
{
    if (snap == NULL)
        return;
    raft_configuration_close(&snap->configuration);
    if (snap->bufs != NULL)
        raft_free(snap->bufs[0].base);
    raft_free(snap->bufs);
    raft_free(snap);
}

/* Frees a partial snapshot without counting it as dropped (close, free). */
static void reassembly_free(io_impl *s)
{
    if (!s->in.active)
        return;
    raft_free(s->in.data);
    raft_configuration_close(&s->in.conf);
    memset(&s->in, 0, sizeof s->in);
    swarm__timer_stop(s->reassembly_timer);
}

static void run_op(op *o)
{
    switch (o->kind) {
    case OP_SEND:
        if (o->cb != NULL) /* libraft sends TimeoutNow (leadership transfer) without a callback */
            ((raft_io_send_cb)o->cb)(o->req, o->status);
        break;
    case OP_APPEND:
        ((raft_io_append_cb)o->cb)(o->req, o->status);
        break;
    case OP_PUT:
        ((raft_io_snapshot_put_cb)o->cb)(o->req, o->status);
        break;
    case OP_GET:
        ((raft_io_snapshot_get_cb)o->cb)(o->req, o->snap, o->status);
        break;
    }
    free(o);
}

/*
 * Turns the writes the writer finished into completions, in order. After a
 * failure every later write fails too (the writer sees to it); those
 * completions go newest first (integration.md 1.4) unless `natural` (close
 * reverses the whole list itself). Returns whether writes are still out.
 */
static int writes_reap(struct raft_io *io, int natural)
{
    io_impl *s = impl_of(io);
    writer *w = &s->w;
    if (!w->on)
        return 0;
    pthread_mutex_lock(&w->lock);
    if (!w->threaded)
        flush_locked(s);
    if (w->failed != 0) /* collect every write that will fail, to fail them together */
        while (w->finished < w->queued)
            pthread_cond_wait(&w->drained, &w->lock);
    wop *list = w->done;
    w->done = w->done_tail = NULL;
    int out = w->finished < w->queued;
    pthread_mutex_unlock(&w->lock);
    op *failed = NULL;
    for (wop *o = list, *next; o != NULL; o = next) {
        next = o->next;
        if (o->kind == W_SNAPSHOT)
            s->puts_pending--;
        if (o->rc != 0 && !s->broken) {
            s->broken = 1;
            errmsgf(io, "write", o->rc);
        }
        if (o->rc != 0 && o->kind == W_APPEND && o->index >= s->first && o->index < s->first + s->n)
            log_cut(s, (size_t)(o->index - s->first)); /* the mirror follows what is stored */
        if (o->op_kind >= 0) {
            int status = o->rc != 0 ? RAFT_IOERR : 0;
            if (status == 0 || natural) {
                queue_op(s, o->op_kind, o->req, o->cb, status, NULL);
            } else {
                op *f = calloc(1, sizeof *f);
                if (f == NULL)
                    abort(); /* as queue_op */
                *f = (op){o->op_kind, status, o->req, o->cb, NULL, failed};
                failed = f;
            }
        }
        free(o->conf);
        free(o);
    }
    while (failed != NULL) { /* newest first */
        op *f = failed;
        failed = f->next;
        queue_op(s, f->kind, f->req, f->cb, f->status, NULL);
        free(f);
    }
    return out;
}

static raft_index ae_take(io_impl *s, const void *req);

static void run_done(void *arg)
{
    struct raft_io *io = arg;
    io_impl *s = impl_of(io);
    writes_reap(io, 0); /* writes still out wake the loop when they finish */
    op *list = s->head;
    s->head = s->tail = NULL;
    while (list != NULL) {
        op *o = list;
        list = o->next;
        s->ae_match = o->kind == OP_APPEND ? ae_take(s, o->req) : 0;
        run_op(o);
        s->ae_match = 0;
    }
}

static void on_tick(void *arg)
{
    struct raft_io *io = arg;
    io_impl *s = impl_of(io);
    swarm__timer_start(s->tick_timer, s->tick_ms);
    s->tick(io);
}

/* ------------------------------------------------------------ raft_io methods */

static int m_init(struct raft_io *io, raft_id id, const char *address)
{
    io_impl *s = impl_of(io);
    s->id = id;
    free(s->address);
    s->address = strdup(address);
    return s->address ? 0 : RAFT_NOMEM;
}

static void m_close(struct raft_io *io, raft_io_close_cb cb)
{
    io_impl *s = impl_of(io);
    s->closed = 1;
    swarm__timer_stop(s->tick_timer);
    swarm__timer_stop(s->pump_timer);
    while (s->sending != NULL) { /* queued as cancelled, finished below with the rest */
        outgoing *o = s->sending;
        s->sending = o->next;
        outgoing_finish(s, o, RAFT_CANCELED);
    }
    reassembly_free(s);
    /* Writes in flight are committed first (the writer is joined), so appends finish with their real status. */
    if (s->w.on) {
        writes_wait(s);
        writes_reap(io, 1);
        writer_stop(s);
    }
    swarm__timer_stop(s->done_timer);
    swarm__timer_stop(s->poll_timer);
    /* Finish pending requests newest first (integration.md 1.4). */
    op *rev = NULL;
    while (s->head != NULL) {
        op *o = s->head;
        s->head = o->next;
        o->next = rev;
        rev = o;
    }
    s->tail = NULL;
    while (rev != NULL) {
        op *o = rev;
        rev = o->next;
        if (o->kind != OP_APPEND) {
            o->status = RAFT_CANCELED;
            if (o->kind == OP_GET) {
                snap_free(o->snap);
                o->snap = NULL;
            }
        }
        run_op(o);
    }
    if (cb)
        cb(io);
}

/* Copies the stored snapshot's data (the one the mirror describes) to out. 0 or an LMDB error. */
static int snap_read_stored(io_impl *s, unsigned char *out)
{
    if (s->puts_pending > 0)
        writes_wait(s); /* the mirror runs ahead of the map until the put commits */
    pthread_mutex_lock(&s->w.env_lock);
    MDB_txn *txn;
    snap_meta sm;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = snap_load(s, txn, &sm);
        if (rc == 0 && (sm.index != s->snap_index || sm.term != s->snap_term || sm.data_len != s->snap_data_len))
            rc = MDB_CORRUPTED;
        if (rc == 0)
            rc = snap_read(s, txn, &sm, out);
        mdb_txn_abort(txn);
    }
    pthread_mutex_unlock(&s->w.env_lock);
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

/* The stored snapshot as raft wants it: one raft_malloc'd buffer, the only full copy made. 0, RAFT_NOMEM or RAFT_IOERR. */
static int snap_copy(struct raft_io *io, struct raft_snapshot **out)
{
    io_impl *s = impl_of(io);
    struct raft_snapshot *snap = raft_calloc(1, sizeof *snap);
    if (snap == NULL)
        return RAFT_NOMEM;
    snap->index = s->snap_index;
    snap->term = s->snap_term;
    snap->configuration_index = s->snap_conf_index;
    raft_configuration_init(&snap->configuration);
    snap->bufs = raft_calloc(1, sizeof *snap->bufs);
    if (snap->bufs != NULL) {
        snap->n_bufs = 1;
        snap->bufs[0].base = raft_malloc(s->snap_data_len ? s->snap_data_len : 1);
        snap->bufs[0].len = s->snap_data_len;
    }
    if (snap->bufs == NULL || snap->bufs[0].base == NULL ||
        swarm__raft_conf_decode(&snap->configuration, s->snap_conf, s->snap_conf_len) != 0) {
        snap_free(snap);
        return RAFT_NOMEM;
    }
    if (s->env == NULL) {
        if (s->snap_data_len)
            memcpy(snap->bufs[0].base, s->snap_data, s->snap_data_len);
    } else {
        int rc = snap_read_stored(s, snap->bufs[0].base);
        if (rc != 0) {
            errmsgf(io, "read snapshot", rc);
            snap_free(snap);
            return RAFT_IOERR;
        }
    }
    *out = snap;
    return 0;
}

static int m_load(struct raft_io *io, raft_term *term, raft_id *voted_for, struct raft_snapshot **snapshot,
                  raft_index *start_index, struct raft_entry *entries[], size_t *n_entries)
{
    io_impl *s = impl_of(io);
    *term = s->term;
    *voted_for = s->vote;
    *snapshot = NULL;
    *entries = NULL;
    *n_entries = 0;
    *start_index = s->n > 0 ? s->first : (s->has_snap ? s->snap_index + 1 : 1);
    int rc;
    if (s->has_snap && (rc = snap_copy(io, snapshot)) != 0)
        return rc;
    if (s->n > 0) {
        struct raft_entry *es = raft_calloc(s->n, sizeof *es);
        if (es == NULL)
            goto nomem;
        for (size_t i = 0; i < s->n; i++) {
            void *batch = raft_malloc(s->log[i].len ? s->log[i].len : 1);
            if (batch == NULL) {
                for (size_t j = 0; j < i; j++)
                    raft_free(es[j].batch);
                raft_free(es);
                goto nomem;
            }
            memcpy(batch, s->log[i].data, s->log[i].len);
            es[i].term = s->log[i].term;
            es[i].type = s->log[i].type;
            es[i].buf.base = batch;
            es[i].buf.len = s->log[i].len;
            es[i].batch = batch;
        }
        *entries = es;
        *n_entries = s->n;
    }
    return 0;
nomem:
    snap_free(*snapshot);
    *snapshot = NULL;
    return RAFT_NOMEM;
}

static int m_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
    io_impl *s = impl_of(io);
    s->tick_ms = msecs ? msecs : 1;
    s->tick = tick;
    s->recv = recv;
    s->started = 1;
    swarm__timer_start(s->tick_timer, s->tick_ms);
    return 0;
}

/*
 * Appends to the mirror (copying) at the end of the log; with durable
 * storage o (filled in here) queues their write. On failure nothing changes.
 */
static int store_entries(io_impl *s, const struct raft_entry *entries, unsigned n, wop *o)
{
    if (log_reserve(s, n) != 0)
        return RAFT_NOMEM;
    size_t at = s->n;
    for (unsigned i = 0; i < n; i++) {
        log_entry *le = &s->log[s->n];
        le->term = entries[i].term;
        le->type = entries[i].type;
        le->len = entries[i].buf.len;
        le->data = malloc(le->len ? le->len : 1);
        if (le->data == NULL) {
            log_cut(s, at);
            return RAFT_NOMEM;
        }
        if (le->len)
            memcpy(le->data, entries[i].buf.base, le->len);
        s->n++;
    }
    if (o != NULL) {
        o->kind = W_APPEND;
        o->index = s->first + at;
        o->entries = entries;
        o->n = n;
        if (!o->waited)
            writes_push(s, o);
    }
    return 0;
}

/* Stores term and vote durably (synchronous, as raft requires); on failure the old values stay. */
static int store_meta(struct raft_io *io, raft_term term, raft_id vote, const char *what)
{
    io_impl *s = impl_of(io);
    if (s->w.on) {
        wop o = {0};
        o.kind = W_META;
        o.term = term;
        o.vote = vote;
        int rc = write_sync(io, &o, what);
        if (rc != 0)
            return rc;
    }
    s->term = term;
    s->vote = vote;
    return 0;
}

/* One entry written synchronously (bootstrap, recover): `e` lives on the caller's stack. */
static int store_entry_sync(struct raft_io *io, const struct raft_entry *e, const char *what)
{
    io_impl *s = impl_of(io);
    wop o = {0};
    o.waited = 1;
    int rc = store_entries(s, e, 1, s->w.on ? &o : NULL);
    if (rc != 0 || !s->w.on)
        return rc;
    size_t at = s->n - 1;
    if ((rc = write_sync(io, &o, what)) != 0)
        log_cut(s, at);
    return rc;
}

static int m_bootstrap(struct raft_io *io, const struct raft_configuration *conf)
{
    io_impl *s = impl_of(io);
    if (s->term != 0 || s->n > 0 || s->has_snap)
        return RAFT_CANTBOOTSTRAP;
    struct raft_buffer buf;
    int rc = raft_configuration_encode(conf, &buf);
    if (rc != 0)
        return rc;
    struct raft_entry e = {1, RAFT_CHANGE, buf, NULL};
    s->first = 1;
    rc = store_entry_sync(io, &e, "bootstrap");
    raft_free(buf.base);
    return rc != 0 ? rc : store_meta(io, 1, 0, "bootstrap");
}

static int m_recover(struct raft_io *io, const struct raft_configuration *conf)
{
    struct raft_buffer buf;
    int rc = raft_configuration_encode(conf, &buf);
    if (rc != 0)
        return rc;
    struct raft_entry e = {1, RAFT_CHANGE, buf, NULL};
    rc = store_entry_sync(io, &e, "recover");
    raft_free(buf.base);
    return rc;
}

static int m_set_term(struct raft_io *io, raft_term term)
{
    return store_meta(io, term, 0, "set term");
}

static int m_set_vote(struct raft_io *io, raft_id id)
{
    return store_meta(io, impl_of(io)->term, id, "set vote");
}

/* An append made while libraft handles an AppendEntries: its callback answers that AppendEntries. */
static void ae_remember(io_impl *s, const void *req)
{
    if (s->ae_match == 0)
        return;
    if (s->n_ae_pending == s->cap_ae_pending) {
        size_t cap = s->cap_ae_pending ? s->cap_ae_pending * 2 : 16;
        void *grown = realloc(s->ae_pending, cap * sizeof *s->ae_pending);
        if (grown == NULL)
            return; /* uncapped answer: libraft's own behaviour */
        s->ae_pending = grown;
        s->cap_ae_pending = cap;
    }
    s->ae_pending[s->n_ae_pending].req = req;
    s->ae_pending[s->n_ae_pending++].match = s->ae_match;
}

static raft_index ae_take(io_impl *s, const void *req)
{
    for (size_t i = 0; i < s->n_ae_pending; i++)
        if (s->ae_pending[i].req == req) {
            raft_index m = s->ae_pending[i].match;
            s->ae_pending[i] = s->ae_pending[--s->n_ae_pending];
            return m;
        }
    return 0;
}

static int m_append(struct raft_io *io, struct raft_io_append *req, const struct raft_entry entries[], unsigned n,
                    raft_io_append_cb cb)
{
    io_impl *s = impl_of(io);
    if (s->closed)
        return RAFT_CANCELED;
    ae_remember(s, req);
    if (s->broken) { /* a write failed: nothing after it may land (no holes) */
        broken_msg(io);
        return RAFT_IOERR;
    }
    req->cb = cb;
    if (!s->w.on) {
        int rc = store_entries(s, entries, n, NULL);
        if (rc == 0)
            queue_op(s, OP_APPEND, req, (void *)cb, 0, NULL);
        return rc;
    }
    /* Written from raft's buffers (alive until the callback); the callback follows the commit. */
    wop *o = calloc(1, sizeof *o);
    if (o == NULL)
        return RAFT_NOMEM;
    o->op_kind = OP_APPEND;
    o->req = req;
    o->cb = (void *)cb;
    int rc = store_entries(s, entries, n, o);
    if (rc != 0)
        free(o);
    return rc;
}

static int m_truncate(struct raft_io *io, raft_index index)
{
    io_impl *s = impl_of(io);
    if (index < s->first)
        index = s->first;
    if (index >= s->first + s->n)
        return 0;
    if (s->broken) {
        broken_msg(io);
        return RAFT_IOERR;
    }
    if (s->w.on) { /* after every earlier append, before every later one: the queue's order */
        wop *o = calloc(1, sizeof *o);
        if (o == NULL)
            return RAFT_NOMEM;
        o->kind = W_TRUNCATE;
        o->index = index;
        o->op_kind = -1;
        writes_push(s, o);
    }
    log_cut(s, (size_t)(index - s->first));
    return 0;
}

static int m_snapshot_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                          const struct raft_snapshot *snap, raft_io_snapshot_put_cb cb)
{
    io_impl *s = impl_of(io);
    if (s->closed)
        return RAFT_CANCELED;
    if (s->broken) {
        broken_msg(io);
        return RAFT_IOERR;
    }
    wbuf cw = {0};
    conf_write(&cw, &snap->configuration);
    if (cw.failed) {
        free(cw.data);
        return RAFT_NOMEM;
    }
    size_t data_len = 0;
    for (unsigned i = 0; i < snap->n_bufs; i++)
        data_len += snap->bufs[i].len;
    /* Without LMDB the copy is the storage; with it the data goes from raft's buffers straight into the map. */
    unsigned char *mirror = NULL;
    if (s->env == NULL) {
        if ((mirror = malloc(data_len ? data_len : 1)) == NULL) {
            free(cw.data);
            return RAFT_NOMEM;
        }
        size_t off = 0;
        for (unsigned i = 0; i < snap->n_bufs; i++) {
            if (snap->bufs[i].len)
                memcpy(mirror + off, snap->bufs[i].base, snap->bufs[i].len);
            off += snap->bufs[i].len;
        }
    }
    range drop = {0, 0}; /* trailing == 0: the whole log */
    if (trailing > 0) {
        drop.from = 1;
        drop.to = snap->index > trailing ? snap->index - trailing + 1 : 1; /* delete [1, index-trailing] */
    }
    if (s->w.on) {
        /* The writer copies raft's buffers into the map (off the loop); the old snapshot stays until then. */
        wop *o = calloc(1, sizeof *o);
        unsigned char *conf = malloc(cw.len ? cw.len : 1);
        if (o == NULL || conf == NULL) {
            free(o);
            free(conf);
            free(cw.data);
            return RAFT_NOMEM;
        }
        memcpy(conf, cw.data, cw.len);
        o->kind = W_SNAPSHOT;
        o->conf = conf;
        o->src = (snap_src){snap->index, snap->configuration_index, snap->term, conf, cw.len, snap->bufs,
                            snap->n_bufs, data_len};
        o->drop = drop;
        o->op_kind = OP_PUT;
        o->req = req;
        o->cb = (void *)cb;
        s->puts_pending++;
        writes_push(s, o);
    }
    free(s->snap_conf);
    free(s->snap_data);
    s->snap_conf = cw.data;
    s->snap_conf_len = cw.len;
    s->snap_data = mirror;
    s->snap_data_len = data_len;
    s->snap_index = snap->index;
    s->snap_term = snap->term;
    s->snap_conf_index = snap->configuration_index;
    s->has_snap = 1;
    if (trailing == 0) {
        log_cut(s, 0);
        s->first = snap->index + 1;
    } else if (drop.to > s->first) {
        log_drop_front(s, (size_t)(drop.to - s->first));
    }
    req->cb = cb;
    if (!s->w.on)
        queue_op(s, OP_PUT, req, (void *)cb, 0, NULL);
    return 0;
}

static int m_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req, raft_io_snapshot_get_cb cb)
{
    io_impl *s = impl_of(io);
    if (s->closed)
        return RAFT_CANCELED;
    if (!s->has_snap)
        return RAFT_NOTFOUND;
    struct raft_snapshot *snap;
    int rc = snap_copy(io, &snap);
    if (rc != 0)
        return rc;
    req->cb = cb;
    queue_op(s, OP_GET, req, (void *)cb, 0, snap);
    return 0;
}

static raft_time m_time(struct raft_io *io)
{
    io_impl *s = impl_of(io);
    return (raft_time)(s->clock->mono_ns(s->clock->data) / 1000000);
}

static int m_random(struct raft_io *io, int min, int max)
{
    io_impl *s = impl_of(io);
    uint32_t v = 0;
    if (max <= min)
        return min;
    s->clock->random(s->clock->data, &v, sizeof v);
    return min + (int)(v % (uint32_t)(max - min + 1));
}

/* ------------------------------------------------------------ network */

static peer *peer_for(io_impl *s, const char *address)
{
    for (peer *p = s->peers; p != NULL; p = p->next)
        if (strcmp(p->address, address) == 0)
            return p;
    peer *p = calloc(1, sizeof *p);
    if (p == NULL || (p->address = strdup(address)) == NULL) {
        free(p);
        return NULL;
    }
    if (s->t->dial(s->t, address, &p->link) != 0) {
        free(p->address);
        free(p);
        return NULL;
    }
    p->next = s->peers;
    s->peers = p;
    return p;
}

static void peer_drop_held(peer *p)
{
    for (unsigned i = 0; i < p->n_held; i++)
        free(p->queue[i].data);
    p->n_held = 0;
}

void swarm__raft_io_link_up(struct raft_io *io, uint64_t link)
{
    io_impl *s = impl_of(io);
    for (peer *p = s->peers; p != NULL; p = p->next) {
        if (p->link != link)
            continue;
        p->up = 1;
        for (unsigned i = 0; i < p->n_held && !s->closed; i++) {
            swarm_transport_msg tm = {SWARM__MSG_RAFT, p->queue[i].data, p->queue[i].len};
            s->t->send(s->t, link, &tm);
        }
        peer_drop_held(p);
    }
}

static void reassembly_drop(io_impl *s, const char *why);

void swarm__raft_io_link_down(struct raft_io *io, uint64_t link)
{
    io_impl *s = impl_of(io);
    for (peer *p = s->peers; p != NULL; p = p->next) {
        if (p->link == link)
            p->up = 0;
        if (p->inbound == link)
            p->inbound = 0;
    }
    /* A dialed link keeps its id when it comes back: a snapshot it carried must restart, not resume. */
    for (outgoing *o = s->sending; o != NULL; o = o->next)
        if (o->link == link) {
            o->broken = 1;
            if (!swarm__timer_armed(s->pump_timer))
                swarm__timer_start(s->pump_timer, 0);
        }
    if (s->in.active && s->in.link == link)
        reassembly_drop(s, "its link went down");
}

/* Hands an encoded message to the network: the dialed link, else the peer's inbound link, else the hold queue. */
static int peer_send(io_impl *s, peer *p, unsigned char *data, size_t len)
{
    swarm_transport_msg tm = {SWARM__MSG_RAFT, data, len};
    if (p->up && s->t->send(s->t, p->link, &tm) == 0) {
        free(data);
        return 0;
    }
    if (p->inbound != 0 && s->t->send(s->t, p->inbound, &tm) == 0) {
        free(data);
        return 0;
    }
    if (p->n_held == PEER_QUEUE_MAX) {
        free(p->queue[0].data);
        memmove(p->queue, p->queue + 1, (PEER_QUEUE_MAX - 1) * sizeof *p->queue);
        p->n_held--;
    }
    p->queue[p->n_held].data = data;
    p->queue[p->n_held++].len = len;
    return 0;
}

static int encode_message(io_impl *s, const struct raft_message *m, wbuf *w)
{
    w_u8(w, WIRE_VERSION);
    w_u8(w, m->type);
    w_u64(w, s->id);
    w_bytes(w, s->address, strlen(s->address));
    switch (m->type) {
    case RAFT_IO_REQUEST_VOTE: {
        const struct raft_request_vote *p = &m->request_vote;
        w_u64(w, p->term);
        w_u64(w, p->candidate_id);
        w_u64(w, p->last_log_index);
        w_u64(w, p->last_log_term);
        w_u8(w, p->disrupt_leader);
        w_u8(w, p->pre_vote);
        break;
    }
    case RAFT_IO_REQUEST_VOTE_RESULT: {
        const struct raft_request_vote_result *p = &m->request_vote_result;
        w_u64(w, p->term);
        w_u8(w, p->vote_granted);
        w_u8(w, (unsigned)p->pre_vote);
        break;
    }
    case RAFT_IO_APPEND_ENTRIES: {
        const struct raft_append_entries *p = &m->append_entries;
        w_u64(w, p->term);
        w_u64(w, p->prev_log_index);
        w_u64(w, p->prev_log_term);
        w_u64(w, p->leader_commit);
        w_u32(w, p->n_entries);
        for (unsigned i = 0; i < p->n_entries; i++) {
            w_u64(w, p->entries[i].term);
            w_u8(w, p->entries[i].type);
            w_bytes(w, p->entries[i].buf.base, p->entries[i].buf.len);
        }
        break;
    }
    case RAFT_IO_APPEND_ENTRIES_RESULT: {
        const struct raft_append_entries_result *p = &m->append_entries_result;
        raft_index last = p->last_log_index;
        if (p->rejected == 0 && s->ae_match != 0 && last > s->ae_match)
            last = s->ae_match; /* see ae_match */
        w_u64(w, p->term);
        w_u64(w, p->rejected);
        w_u64(w, last);
        break;
    }
    case RAFT_IO_TIMEOUT_NOW: {
        const struct raft_timeout_now *p = &m->timeout_now;
        w_u64(w, p->term);
        w_u64(w, p->last_log_index);
        w_u64(w, p->last_log_term);
        break;
    }
    default:
        return RAFT_INVALID;
    }
    return w->failed ? RAFT_NOMEM : 0;
}

/* ------------------------------------------------------------ InstallSnapshot in chunks: sending */

static void outgoing_free(outgoing *o)
{
    free(o->conf);
    free(o->frame);
    free(o);
}

/* Completes o's send request (deferred like every completion). */
static void outgoing_finish(io_impl *s, outgoing *o, int status)
{
    if (status == 0)
        s->stats.snapshots_sent++;
    queue_op(s, OP_SEND, o->req, (void *)o->cb, status, NULL);
    outgoing_free(o);
}

static int link_usable(const peer *p, uint64_t link)
{
    return (p->up && p->link == link) || (p->inbound != 0 && p->inbound == link);
}

/*
 * Hands o's next chunk to the transport: 1 if it was the last, 0 if more
 * follow, or a RAFT_* error. Layout in io.h.
 */
static int send_chunk(io_impl *s, outgoing *o)
{
    if (o->broken || !link_usable(o->p, o->link))
        return RAFT_NOCONNECTION;
    size_t alen = strlen(s->address);
    size_t fixed = 1 + 1 + 8 + 4 + alen + 6 * 8 + 1 + (o->offset == 0 ? o->conf_len : 0) + 4;
    if (fixed >= SWARM_TRANSPORT_MAX_MESSAGE)
        return RAFT_TOOBIG;
    uint64_t n = o->id.total - o->offset;
    if (n > s->chunk_size)
        n = s->chunk_size;
    if (n > SWARM_TRANSPORT_MAX_MESSAGE - fixed)
        n = SWARM_TRANSPORT_MAX_MESSAGE - fixed;
    int last = o->offset + n == o->id.total;
    if (o->frame_cap < fixed + n) {
        unsigned char *g = realloc(o->frame, fixed + n);
        if (g == NULL)
            return RAFT_NOMEM;
        o->frame = g;
        o->frame_cap = fixed + n;
    }
    wbuf w = {o->frame, 0, o->frame_cap, 0};
    w_u8(&w, WIRE_VERSION);
    w_u8(&w, WIRE_SNAPSHOT_CHUNK);
    w_u64(&w, s->id);
    w_bytes(&w, s->address, alen);
    w_u64(&w, o->id.term);
    w_u64(&w, o->id.last_index);
    w_u64(&w, o->id.last_term);
    w_u64(&w, o->id.conf_index);
    w_u64(&w, o->id.total);
    w_u64(&w, o->offset);
    w_u8(&w, last ? CHUNK_FLAG_LAST : 0);
    if (o->offset == 0)
        w_put(&w, o->conf, o->conf_len);
    w_bytes(&w, o->data + o->offset, (size_t)n);
    if (w.failed || w.data != o->frame) /* sized above: never grows */
        return RAFT_NOMEM;
    swarm_transport_msg tm = {SWARM__MSG_RAFT, w.data, w.len};
    if (s->t->send(s->t, o->link, &tm) != 0)
        return RAFT_NOCONNECTION;
    o->offset += n;
    s->stats.chunks_sent++;
    return last;
}

/* One chunk of every snapshot being sent per loop turn, so other traffic and events interleave. */
static void pump(void *arg)
{
    io_impl *s = arg;
    outgoing **pp = &s->sending;
    while (*pp != NULL) {
        outgoing *o = *pp;
        int rc = send_chunk(s, o);
        if (rc == 0) {
            pp = &o->next;
            continue;
        }
        *pp = o->next;
        outgoing_finish(s, o, rc == 1 ? 0 : rc);
    }
    if (s->sending != NULL)
        swarm__timer_start(s->pump_timer, 0);
}

static int send_snapshot(io_impl *s, struct raft_io_send *req, const struct raft_message *m, raft_io_send_cb cb)
{
    const struct raft_install_snapshot *is = &m->install_snapshot;
    peer *p = peer_for(s, m->server_address);
    /*
     * Chunks go on one link that is up now, in order; they are never held for a
     * link that is down (raft retries the snapshot after a failed send).
     */
    uint64_t link = p == NULL ? 0 : p->up ? p->link : p->inbound;
    if (link == 0) {
        queue_op(s, OP_SEND, req, (void *)cb, RAFT_NOCONNECTION, NULL);
        return 0;
    }
    outgoing *o = calloc(1, sizeof *o);
    wbuf cw = {0};
    conf_write(&cw, &is->conf);
    if (o == NULL || cw.failed) {
        free(o);
        free(cw.data);
        return RAFT_NOMEM;
    }
    o->req = req;
    o->cb = cb;
    o->p = p;
    o->link = link;
    o->id = (snap_id){is->term, is->last_term, is->last_index, is->conf_index, is->data.len};
    o->conf = cw.data;
    o->conf_len = cw.len;
    o->data = is->data.base;
    /* A newer snapshot for the same peer replaces one still being sent (their chunks must not interleave). */
    outgoing **pp = &s->sending;
    while (*pp != NULL) {
        outgoing *old = *pp;
        if (old->p == p) {
            *pp = old->next;
            outgoing_finish(s, old, RAFT_CANCELED);
        } else {
            pp = &old->next;
        }
    }
    *pp = o;
    if (!swarm__timer_armed(s->pump_timer))
        swarm__timer_start(s->pump_timer, 0);
    return 0;
}

static int m_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *m, raft_io_send_cb cb)
{
    io_impl *s = impl_of(io);
    if (s->closed)
        return RAFT_CANCELED;
    req->cb = cb;
    if (m->type == RAFT_IO_INSTALL_SNAPSHOT)
        return send_snapshot(s, req, m, cb);
    wbuf w = {0};
    int rc = encode_message(s, m, &w);
    if (rc != 0) {
        free(w.data);
        return rc;
    }
    int status = RAFT_NOCONNECTION;
    peer *p = peer_for(s, m->server_address);
    if (p != NULL)
        status = peer_send(s, p, w.data, w.len); /* takes w.data */
    else
        free(w.data);
    queue_op(s, OP_SEND, req, (void *)cb, status, NULL);
    return 0;
}

/* ------------------------------------------------------------ InstallSnapshot in chunks: receiving */

/* Largest snapshot accepted: 8 GiB, or the machine's memory if smaller. */
static uint64_t reassembly_cap(void)
{
    uint64_t cap = 8ull << 30;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && (uint64_t)pages * (uint64_t)page < cap)
        cap = (uint64_t)pages * (uint64_t)page;
    if (cap > SIZE_MAX / 2)
        cap = SIZE_MAX / 2;
    return cap;
}

static void reassembly_drop(io_impl *s, const char *why)
{
    incoming *in = &s->in;
    if (!in->active)
        return;
    swarm__log_warn("raft", "raft: partial snapshot %llu/%llu from node %llu dropped after %llu of %llu bytes: %s",
                    (unsigned long long)in->id.last_term, (unsigned long long)in->id.last_index,
                    (unsigned long long)in->from, (unsigned long long)in->received,
                    (unsigned long long)in->id.total, why);
    reassembly_free(s);
    s->stats.partials_dropped++;
}

static void reassembly_idle(void *arg)
{
    reassembly_drop(arg, "nothing arrived for a while");
}

typedef struct chunk {
    snap_id id;
    uint64_t offset;
    unsigned flags;
    const unsigned char *data;
    size_t len;
} chunk;

/*
 * One chunk from `from` (its common header already read). Untrusted: every
 * field is checked before use. When the snapshot is complete, raft gets it as
 * one RAFT_IO_INSTALL_SNAPSHOT message.
 */
static void receive_chunk(struct raft_io *io, uint64_t link, rbuf *r, raft_id from, const char *address)
{
    io_impl *s = impl_of(io);
    incoming *in = &s->in;
    chunk c;
    struct raft_configuration conf;
    int has_conf = 0;
    c.id.term = r_u64(r);
    c.id.last_index = r_u64(r);
    c.id.last_term = r_u64(r);
    c.id.conf_index = r_u64(r);
    c.id.total = r_u64(r);
    c.offset = r_u64(r);
    c.flags = r_u8(r);
    if (!r->failed && c.offset == 0) {
        if (conf_read(r, &conf) != 0)
            goto refuse;
        has_conf = 1;
    }
    c.data = r_bytes(r, &c.len);
    if (r->failed || r->left != 0 || (c.flags & ~CHUNK_FLAG_LAST) != 0 || c.offset > c.id.total ||
        c.len > c.id.total - c.offset || ((c.flags & CHUNK_FLAG_LAST) != 0) != (c.offset + c.len == c.id.total) ||
        (c.len == 0 && c.id.total != 0))
        goto refuse;
    if (c.offset == 0) {
        uint64_t cap = s->snapshot_limit ? s->snapshot_limit : reassembly_cap();
        if (c.id.total > cap) {
            swarm__log_warn("raft", "raft: snapshot of %llu bytes from node %llu refused: above the limit of %llu bytes",
                            (unsigned long long)c.id.total, (unsigned long long)from, (unsigned long long)cap);
            goto refuse;
        }
        if (in->active) {
            if (in->id.term > c.id.term) /* a deposed leader's: raft would refuse it anyway */
                goto refuse;
            reassembly_drop(s, "a new snapshot started");
        }
        unsigned char *data = raft_malloc(c.id.total ? (size_t)c.id.total : 1);
        if (data == NULL) {
            swarm__log_warn("raft", "raft: snapshot of %llu bytes from node %llu refused: out of memory",
                            (unsigned long long)c.id.total, (unsigned long long)from);
            goto refuse;
        }
        in->active = 1;
        in->from = from;
        in->id = c.id;
        in->conf = conf; /* moved */
        has_conf = 0;
        in->data = data;
        in->received = 0;
    } else if (!in->active || in->from != from || !snap_id_equal(&in->id, &c.id)) {
        goto refuse; /* not the snapshot being reassembled (a leftover of an older one): no harm to it */
    } else if (in->received != c.offset) {
        reassembly_drop(s, "a chunk is missing or out of order");
        goto refuse;
    }
    if (c.len)
        memcpy(in->data + c.offset, c.data, c.len);
    in->received += c.len;
    in->link = link;
    s->stats.chunks_received++;
    if (!(c.flags & CHUNK_FLAG_LAST)) {
        swarm__timer_start(s->reassembly_timer, s->reassembly_ms);
        return;
    }
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_IO_INSTALL_SNAPSHOT;
    m.server_id = from;
    m.server_address = address;
    m.install_snapshot.term = in->id.term;
    m.install_snapshot.last_index = in->id.last_index;
    m.install_snapshot.last_term = in->id.last_term;
    m.install_snapshot.conf = in->conf;
    m.install_snapshot.conf_index = in->id.conf_index;
    m.install_snapshot.data.base = in->data;
    m.install_snapshot.data.len = (size_t)in->id.total;
    memset(in, 0, sizeof *in);
    swarm__timer_stop(s->reassembly_timer);
    s->stats.snapshots_received++;
    s->recv(io, &m); /* raft takes the data and the configuration */
    return;
refuse:
    if (has_conf)
        raft_configuration_close(&conf);
    s->stats.chunks_refused++;
}

uint64_t swarm__raft_io_sender(const swarm_transport_msg *msg)
{
    rbuf r = {msg->body, msg->len, 0};
    if (msg->type != SWARM__MSG_RAFT || r_u8(&r) != WIRE_VERSION)
        return 0;
    r_u8(&r);
    uint64_t id = r_u64(&r);
    return r.failed ? 0 : id;
}

/*
 * libraft 0.15 rolls an uncommitted configuration back (when entries that
 * conflict with it arrive) by reading the last committed configuration's
 * entry from its in-memory log, and dereferences NULL when a snapshot has
 * compacted that entry away (fixed upstream in 0.17.1; found by
 * test_raft_chaos, e.g. RAFT_SEED=7). Before such entries reach it, this does
 * the rollback itself, from the snapshot's configuration, which is that
 * committed configuration whenever its entry is older than the in-memory log.
 */
static void rollback_guard(io_impl *s, const struct raft_append_entries *ae)
{
    struct raft *r = s->raft;
    if (r == NULL || r->configuration_uncommitted_index == 0 || ae->n_entries == 0)
        return;
    raft_index prev = ae->prev_log_index;
    if (prev > 0) { /* libraft rejects (and deletes nothing) unless the previous entry matches */
        raft_term t = 0;
        if (prev >= s->first && prev < s->first + s->n)
            t = s->log[prev - s->first].term;
        else if (s->has_snap && prev == s->snap_index)
            t = s->snap_term;
        if (t != ae->prev_log_term)
            return;
    }
    raft_index conflict = 0;
    for (unsigned k = 0; k < ae->n_entries && conflict == 0; k++) {
        raft_index idx = ae->prev_log_index + 1 + k;
        if (idx < s->first || idx >= s->first + s->n)
            break; /* past this log: nothing to delete from there on */
        if (s->log[idx - s->first].term != ae->entries[k].term)
            conflict = idx;
    }
    if (conflict == 0 || conflict > r->configuration_uncommitted_index || r->configuration_index > r->log.offset)
        return; /* no rollback, or libraft can read the committed configuration itself */
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    if (!s->has_snap || r->configuration_index != s->snap_conf_index ||
        swarm__raft_conf_decode(&conf, s->snap_conf, s->snap_conf_len) != 0) {
        raft_configuration_close(&conf);
        swarm__log_warn("raft", "cannot roll back an uncommitted configuration: the committed one (index %llu) is gone",
                        (unsigned long long)r->configuration_index);
        return;
    }
    raft_configuration_close(&r->configuration);
    r->configuration = conf;
    r->configuration_uncommitted_index = 0;
    swarm__log_info("raft", "rolled back the uncommitted configuration at %llu to the committed one at %llu",
                    (unsigned long long)conflict, (unsigned long long)r->configuration_index);
}

void swarm__raft_io_attach(struct raft_io *io, struct raft *r)
{
    impl_of(io)->raft = r;
}

void swarm__raft_io_receive(struct raft_io *io, uint64_t link, const swarm_transport_msg *msg)
{
    io_impl *s = impl_of(io);
    if (!s->started || s->closed || msg->type != SWARM__MSG_RAFT)
        return;
    rbuf r = {msg->body, msg->len, 0};
    struct raft_message m;
    memset(&m, 0, sizeof m);
    if (r_u8(&r) != WIRE_VERSION)
        return;
    m.type = (unsigned short)r_u8(&r);
    m.server_id = r_u64(&r);
    size_t al;
    const unsigned char *a = r_bytes(&r, &al);
    if (r.failed || m.server_id == 0 || al == 0 || al > 1024)
        return;
    char addr[1025];
    memcpy(addr, a, al);
    addr[al] = '\0';
    m.server_address = addr;
    for (peer *p = s->peers; p != NULL; p = p->next)
        if (strcmp(p->address, addr) == 0 && p->link != link)
            p->inbound = link;
    switch (m.type) {
    case RAFT_IO_REQUEST_VOTE: {
        struct raft_request_vote *p = &m.request_vote;
        p->term = r_u64(&r);
        p->candidate_id = r_u64(&r);
        p->last_log_index = r_u64(&r);
        p->last_log_term = r_u64(&r);
        p->disrupt_leader = r_u8(&r) != 0;
        p->pre_vote = r_u8(&r) != 0;
        break;
    }
    case RAFT_IO_REQUEST_VOTE_RESULT: {
        struct raft_request_vote_result *p = &m.request_vote_result;
        p->term = r_u64(&r);
        p->vote_granted = r_u8(&r) != 0;
        p->pre_vote = (raft_tribool)r_u8(&r);
        break;
    }
    case RAFT_IO_APPEND_ENTRIES: {
        struct raft_append_entries *p = &m.append_entries;
        p->term = r_u64(&r);
        p->prev_log_index = r_u64(&r);
        p->prev_log_term = r_u64(&r);
        p->leader_commit = r_u64(&r);
        uint32_t n = r_u32(&r);
        if (r.failed || n > r.left / 13)
            return;
        if (n == 0)
            break;
        /* First pass: total payload size, so that every payload lives in one batch (integration.md 1.3). */
        rbuf scan = r;
        size_t total = 0;
        for (uint32_t i = 0; i < n; i++) {
            size_t l;
            r_take(&scan, 9);
            r_bytes(&scan, &l);
            total += l;
        }
        if (scan.failed)
            return;
        struct raft_entry *es = raft_calloc(n, sizeof *es);
        unsigned char *batch = raft_malloc(total ? total : 1);
        if (es == NULL || batch == NULL) {
            raft_free(es);
            raft_free(batch);
            return;
        }
        size_t off = 0;
        for (uint32_t i = 0; i < n; i++) {
            es[i].term = r_u64(&r);
            es[i].type = (unsigned short)r_u8(&r);
            size_t l;
            const unsigned char *d = r_bytes(&r, &l);
            memcpy(batch + off, d, l);
            es[i].buf.base = batch + off;
            es[i].buf.len = l;
            es[i].batch = batch;
            off += l;
        }
        p->entries = es;
        p->n_entries = n;
        break;
    }
    case RAFT_IO_APPEND_ENTRIES_RESULT: {
        struct raft_append_entries_result *p = &m.append_entries_result;
        p->term = r_u64(&r);
        p->rejected = r_u64(&r);
        p->last_log_index = r_u64(&r);
        break;
    }
    case WIRE_SNAPSHOT_CHUNK:
        receive_chunk(io, link, &r, m.server_id, addr);
        return;
    case RAFT_IO_TIMEOUT_NOW: {
        struct raft_timeout_now *p = &m.timeout_now;
        p->term = r_u64(&r);
        p->last_log_index = r_u64(&r);
        p->last_log_term = r_u64(&r);
        break;
    }
    default:
        return;
    }
    if (r.failed) {
        /* Only the fixed fields can fail after allocation; free what was built. */
        if (m.type == RAFT_IO_APPEND_ENTRIES && m.append_entries.n_entries > 0) {
            raft_free(m.append_entries.entries[0].batch);
            raft_free(m.append_entries.entries);
        }
        return;
    }
    if (m.type == RAFT_IO_APPEND_ENTRIES) {
        s->ae_match = m.append_entries.prev_log_index + m.append_entries.n_entries;
        rollback_guard(s, &m.append_entries);
    }
    s->recv(io, &m); /* raft takes the entries / snapshot data and conf */
    s->ae_match = 0;
}

/* ------------------------------------------------------------ lifecycle */

int swarm__raft_io_new(struct raft_io **out, swarm__timers *timers, const swarm__clock *clock,
                       struct swarm_transport_backend *transport, const char *dir, swarm__err *e)
{
    struct raft_io *io = calloc(1, sizeof *io);
    io_impl *s = calloc(1, sizeof *s);
    if (io == NULL || s == NULL) {
        free(io);
        free(s);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    io->impl = s;
    s->timers = timers;
    s->clock = clock;
    s->t = transport;
    s->first = 1;
    s->chunk_size = SWARM__RAFT_CHUNK_SIZE_DEFAULT;
    s->reassembly_ms = SWARM__RAFT_REASSEMBLY_MS_DEFAULT;
    s->tick_timer = swarm__timer_new(timers, on_tick, io);
    s->done_timer = swarm__timer_new(timers, run_done, io);
    s->poll_timer = swarm__timer_new(timers, run_done, io);
    s->pump_timer = swarm__timer_new(timers, pump, s);
    s->reassembly_timer = swarm__timer_new(timers, reassembly_idle, s);
    if (s->tick_timer == NULL || s->done_timer == NULL || s->poll_timer == NULL || s->pump_timer == NULL ||
        s->reassembly_timer == NULL) {
        swarm__raft_io_free(io);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    if (dir != NULL) {
        int rc = db_open(s, dir, e);
        /* Real timers: a writer thread; virtual ones: the loop writes, deterministically. */
        if (rc == 0 && writer_start(s, swarm__timers_clock(timers) == swarm__clock_system()) != 0)
            rc = swarm__err_set(e, SWARM_ENOMEM, "raft: cannot start the storage writer");
        if (rc != 0) {
            swarm__raft_io_free(io);
            return rc;
        }
    }
    io->version = 1;
    io->init = m_init;
    io->close = m_close;
    io->load = m_load;
    io->start = m_start;
    io->bootstrap = m_bootstrap;
    io->recover = m_recover;
    io->set_term = m_set_term;
    io->set_vote = m_set_vote;
    io->send = m_send;
    io->append = m_append;
    io->truncate = m_truncate;
    io->snapshot_put = m_snapshot_put;
    io->snapshot_get = m_snapshot_get;
    io->time = m_time;
    io->random = m_random;
    *out = io;
    return 0;
}

void swarm__raft_io_free(struct raft_io *io)
{
    if (io == NULL)
        return;
    io_impl *s = impl_of(io);
    writer_stop(s); /* what is queued is committed first */
    while (s->head != NULL) { /* never started or closed without raft: drop silently */
        op *o = s->head;
        s->head = o->next;
        free(o);
    }
    while (s->sending != NULL) {
        outgoing *o = s->sending;
        s->sending = o->next;
        outgoing_free(o);
    }
    reassembly_free(s);
    while (s->peers != NULL) {
        peer *p = s->peers;
        s->peers = p->next;
        s->t->close_link(s->t, p->link);
        peer_drop_held(p);
        free(p->address);
        free(p);
    }
    swarm__timer_free(s->tick_timer);
    swarm__timer_free(s->done_timer);
    swarm__timer_free(s->poll_timer);
    swarm__timer_free(s->pump_timer);
    swarm__timer_free(s->reassembly_timer);
    log_cut(s, 0);
    free(s->log);
    free(s->snap_conf);
    free(s->snap_data);
    free(s->address);
    if (s->env != NULL)
        mdb_env_close(s->env);
    free(s->ae_pending);
    free(s);
    free(io);
}

void swarm__raft_io_set_chunk_size(struct raft_io *io, size_t bytes)
{
    impl_of(io)->chunk_size = bytes == 0 ? SWARM__RAFT_CHUNK_SIZE_DEFAULT : bytes; /* send_chunk keeps within the message limit */
}

void swarm__raft_io_set_reassembly_timeout(struct raft_io *io, unsigned ms)
{
    impl_of(io)->reassembly_ms = ms == 0 ? SWARM__RAFT_REASSEMBLY_MS_DEFAULT : ms;
}

void swarm__raft_io_set_snapshot_limit(struct raft_io *io, uint64_t bytes)
{
    impl_of(io)->snapshot_limit = bytes;
}

void swarm__raft_io_get_stats(swarm__raft_io_stats *out, struct raft_io *io)
{
    io_impl *s = impl_of(io);
    *out = s->stats;
    if (s->w.on) {
        pthread_mutex_lock(&s->w.lock);
        out->commits = s->w.commits;
        pthread_mutex_unlock(&s->w.lock);
    }
}

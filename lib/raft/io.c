/* raft_io on our transport, timers and (optionally) an LMDB environment. See io.h. */
#include "raft/io.h"

#include "proto/proto.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WIRE_VERSION 1
#define LMDB_MAP_SIZE (1ull << 30)

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
        if (r->failed || al == 0 || al > 1024)
            break;
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
    unsigned char *snap_data;
    size_t snap_data_len;

    MDB_env *env;
    MDB_dbi db_meta, db_log, db_snap;

    swarm__timer *tick_timer, *done_timer;
    unsigned tick_ms;
    raft_io_tick_cb tick;
    raft_io_recv_cb recv;
    int started, closed;
    op *head, *tail;
    peer *peers;
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

static int db_put_meta(io_impl *s, MDB_txn *txn)
{
    unsigned char buf[16];
    wbuf w = {0};
    w_u64(&w, s->term);
    w_u64(&w, s->vote);
    if (w.failed) {
        free(w.data);
        return ENOMEM;
    }
    memcpy(buf, w.data, 16);
    free(w.data);
    MDB_val k = {4, "tv01"}, v = {16, buf};
    return mdb_put(txn, s->db_meta, &k, &v, 0);
}

static int db_put_entry(io_impl *s, MDB_txn *txn, raft_index index, const log_entry *e)
{
    unsigned char key[8];
    be64(key, index);
    MDB_val k = {8, key}, v = {9 + e->len, NULL};
    int rc = mdb_put(txn, s->db_log, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return rc;
    unsigned char *p = v.mv_data;
    raft_term t = e->term;
    for (int i = 0; i < 8; i++, t >>= 8)
        p[i] = (unsigned char)t;
    p[8] = (unsigned char)e->type;
    if (e->len)
        memcpy(p + 9, e->data, e->len);
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

static int db_put_snap(io_impl *s, MDB_txn *txn)
{
    wbuf w = {0};
    w_u64(&w, s->snap_index);
    w_u64(&w, s->snap_term);
    w_u64(&w, s->snap_conf_index);
    w_bytes(&w, s->snap_conf, s->snap_conf_len);
    w_u64(&w, s->snap_data_len);
    w_put(&w, s->snap_data, s->snap_data_len);
    if (w.failed) {
        free(w.data);
        return ENOMEM;
    }
    MDB_val k = {4, "snap"}, v = {w.len, w.data};
    int rc = mdb_put(txn, s->db_snap, &k, &v, 0);
    free(w.data);
    return rc;
}

typedef int (*txn_fn)(io_impl *s, MDB_txn *txn, void *arg);

/* Runs fn in one synced write transaction (no-op without an environment). 0 or a RAFT_IOERR with errmsg. */
static int db_write(struct raft_io *io, const char *what, txn_fn fn, void *arg)
{
    io_impl *s = impl_of(io);
    if (s->env == NULL)
        return 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0 && (rc = fn(s, txn, arg)) != 0)
        mdb_txn_abort(txn);
    else if (rc == 0)
        rc = mdb_txn_commit(txn);
    if (rc != 0) {
        errmsgf(io, what, rc);
        return RAFT_IOERR;
    }
    return 0;
}

static int tx_meta(io_impl *s, MDB_txn *txn, void *arg)
{
    (void)arg;
    return db_put_meta(s, txn);
}

typedef struct range {
    raft_index from, to;
} range;

static int tx_entries(io_impl *s, MDB_txn *txn, void *arg)
{
    const range *r = arg;
    int rc = 0;
    for (raft_index i = r->from; rc == 0 && i < r->to; i++)
        rc = db_put_entry(s, txn, i, &s->log[i - s->first]);
    return rc;
}

static int tx_truncate(io_impl *s, MDB_txn *txn, void *arg)
{
    return db_del_range(s, txn, *(raft_index *)arg, 0);
}

static int tx_snapshot(io_impl *s, MDB_txn *txn, void *arg)
{
    const range *r = arg; /* log keys to delete */
    int rc = db_put_snap(s, txn);
    if (rc == 0 && r->to > r->from)
        rc = db_del_range(s, txn, r->from, r->to);
    else if (rc == 0 && r->to == 0)
        rc = db_del_range(s, txn, 1, 0);
    return rc;
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
        k = (MDB_val){4, "snap"};
        int g = mdb_get(txn, s->db_snap, &k, &v);
        if (g == 0) {
            rbuf r = {v.mv_data, v.mv_size, 0};
            s->snap_index = r_u64(&r);
            s->snap_term = r_u64(&r);
            s->snap_conf_index = r_u64(&r);
            size_t cl;
            const unsigned char *cp = r_bytes(&r, &cl);
            uint64_t dl = r_u64(&r);
            const unsigned char *dp = r_take(&r, (size_t)dl);
            if (r.failed) {
                rc = MDB_CORRUPTED;
            } else {
                s->snap_conf = malloc(cl ? cl : 1);
                s->snap_data = malloc(dl ? dl : 1);
                if (s->snap_conf == NULL || s->snap_data == NULL) {
                    rc = ENOMEM;
                } else {
                    memcpy(s->snap_conf, cp, cl);
                    memcpy(s->snap_data, dp, dl);
                    s->snap_conf_len = cl;
                    s->snap_data_len = dl;
                    s->has_snap = 1;
                    s->first = s->snap_index + 1;
                }
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

static void run_op(op *o)
{
    switch (o->kind) {
    case OP_SEND:
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

static void run_done(void *arg)
{
    io_impl *s = arg;
    op *list = s->head;
    s->head = s->tail = NULL;
    while (list != NULL) {
        op *o = list;
        list = o->next;
        run_op(o);
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
    swarm__timer_stop(s->done_timer);
    /* Finish pending requests newest first (integration.md 1.4). Appends were durable already. */
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
            if (o->kind == OP_GET && o->snap != NULL) {
                raft_configuration_close(&o->snap->configuration);
                raft_free(o->snap->bufs[0].base);
                raft_free(o->snap->bufs);
                raft_free(o->snap);
                o->snap = NULL;
            }
        }
        run_op(o);
    }
    if (cb)
        cb(io);
}

static struct raft_snapshot *snap_copy(io_impl *s)
{
    struct raft_snapshot *snap = raft_calloc(1, sizeof *snap);
    if (snap == NULL)
        return NULL;
    snap->index = s->snap_index;
    snap->term = s->snap_term;
    snap->configuration_index = s->snap_conf_index;
    snap->bufs = raft_calloc(1, sizeof *snap->bufs);
    void *data = raft_malloc(s->snap_data_len ? s->snap_data_len : 1);
    if (snap->bufs == NULL || data == NULL ||
        swarm__raft_conf_decode(&snap->configuration, s->snap_conf, s->snap_conf_len) != 0) {
        raft_free(data);
        raft_free(snap->bufs);
        raft_free(snap);
        return NULL;
    }
    memcpy(data, s->snap_data, s->snap_data_len);
    snap->bufs[0].base = data;
    snap->bufs[0].len = s->snap_data_len;
    snap->n_bufs = 1;
    return snap;
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
    if (s->has_snap && (*snapshot = snap_copy(s)) == NULL)
        return RAFT_NOMEM;
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
    if (*snapshot != NULL) {
        raft_configuration_close(&(*snapshot)->configuration);
        raft_free((*snapshot)->bufs[0].base);
        raft_free((*snapshot)->bufs);
        raft_free(*snapshot);
        *snapshot = NULL;
    }
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

/* Appends to the mirror (copying) and persists; on failure nothing changes. */
static int store_entries(struct raft_io *io, const struct raft_entry *entries, unsigned n)
{
    io_impl *s = impl_of(io);
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
    range r = {s->first + at, s->first + s->n};
    int rc = db_write(io, "append", tx_entries, &r);
    if (rc != 0)
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
    rc = store_entries(io, &e, 1);
    raft_free(buf.base);
    if (rc != 0)
        return rc;
    s->term = 1;
    s->vote = 0;
    return db_write(io, "bootstrap", tx_meta, NULL);
}

static int m_recover(struct raft_io *io, const struct raft_configuration *conf)
{
    struct raft_buffer buf;
    int rc = raft_configuration_encode(conf, &buf);
    if (rc != 0)
        return rc;
    struct raft_entry e = {1, RAFT_CHANGE, buf, NULL};
    rc = store_entries(io, &e, 1);
    raft_free(buf.base);
    return rc;
}

static int m_set_term(struct raft_io *io, raft_term term)
{
    io_impl *s = impl_of(io);
    raft_term ot = s->term;
    raft_id ov = s->vote;
    s->term = term;
    s->vote = 0;
    int rc = db_write(io, "set term", tx_meta, NULL);
    if (rc != 0) {
        s->term = ot;
        s->vote = ov;
    }
    return rc;
}

static int m_set_vote(struct raft_io *io, raft_id id)
{
    io_impl *s = impl_of(io);
    raft_id ov = s->vote;
    s->vote = id;
    int rc = db_write(io, "set vote", tx_meta, NULL);
    if (rc != 0)
        s->vote = ov;
    return rc;
}

static int m_append(struct raft_io *io, struct raft_io_append *req, const struct raft_entry entries[], unsigned n,
                    raft_io_append_cb cb)
{
    io_impl *s = impl_of(io);
    if (s->closed)
        return RAFT_CANCELED;
    /* Written (and synced) now: a failure is reported synchronously, so no later append can leave a hole. */
    int rc = store_entries(io, entries, n);
    if (rc != 0)
        return rc;
    req->cb = cb;
    queue_op(s, OP_APPEND, req, (void *)cb, 0, NULL);
    return 0;
}

static int m_truncate(struct raft_io *io, raft_index index)
{
    io_impl *s = impl_of(io);
    if (index < s->first)
        index = s->first;
    if (index >= s->first + s->n)
        return 0;
    int rc = db_write(io, "truncate", tx_truncate, &index);
    if (rc == 0)
        log_cut(s, (size_t)(index - s->first));
    return rc;
}

static int m_snapshot_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                          const struct raft_snapshot *snap, raft_io_snapshot_put_cb cb)
{
    io_impl *s = impl_of(io);
    if (s->closed)
        return RAFT_CANCELED;
    wbuf cw = {0}, dw = {0};
    conf_write(&cw, &snap->configuration);
    for (unsigned i = 0; i < snap->n_bufs; i++)
        w_put(&dw, snap->bufs[i].base, snap->bufs[i].len);
    if (cw.failed || dw.failed) {
        free(cw.data);
        free(dw.data);
        return RAFT_NOMEM;
    }
    /* Keep the old snapshot until the new one is durable. */
    unsigned char *oc = s->snap_conf, *od = s->snap_data;
    size_t ocl = s->snap_conf_len, odl = s->snap_data_len;
    raft_index oi = s->snap_index, oci = s->snap_conf_index;
    raft_term ot = s->snap_term;
    int ohas = s->has_snap;
    s->snap_conf = cw.data;
    s->snap_conf_len = cw.len;
    s->snap_data = dw.data;
    s->snap_data_len = dw.len;
    s->snap_index = snap->index;
    s->snap_term = snap->term;
    s->snap_conf_index = snap->configuration_index;
    s->has_snap = 1;
    range r = {0, 0}; /* trailing == 0: drop the whole log */
    if (trailing > 0) {
        r.from = 1;
        r.to = snap->index > trailing ? snap->index - trailing + 1 : 1; /* delete [1, index-trailing] */
    }
    int rc = db_write(io, "snapshot", tx_snapshot, &r);
    if (rc != 0) {
        free(s->snap_conf);
        free(s->snap_data);
        s->snap_conf = oc;
        s->snap_data = od;
        s->snap_conf_len = ocl;
        s->snap_data_len = odl;
        s->snap_index = oi;
        s->snap_term = ot;
        s->snap_conf_index = oci;
        s->has_snap = ohas;
        return rc;
    }
    free(oc);
    free(od);
    if (trailing == 0) {
        log_cut(s, 0);
        s->first = snap->index + 1;
    } else if (r.to > s->first) {
        log_drop_front(s, (size_t)(r.to - s->first));
    }
    req->cb = cb;
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
    struct raft_snapshot *snap = snap_copy(s);
    if (snap == NULL)
        return RAFT_NOMEM;
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

void swarm__raft_io_link_down(struct raft_io *io, uint64_t link)
{
    for (peer *p = impl_of(io)->peers; p != NULL; p = p->next) {
        if (p->link == link)
            p->up = 0;
        if (p->inbound == link)
            p->inbound = 0;
    }
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
        w_u64(w, p->term);
        w_u64(w, p->rejected);
        w_u64(w, p->last_log_index);
        break;
    }
    case RAFT_IO_INSTALL_SNAPSHOT: {
        const struct raft_install_snapshot *p = &m->install_snapshot;
        w_u64(w, p->term);
        w_u64(w, p->last_index);
        w_u64(w, p->last_term);
        conf_write(w, &p->conf);
        w_u64(w, p->conf_index);
        w_u64(w, p->data.len);
        w_put(w, p->data.base, p->data.len);
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

static int m_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *m, raft_io_send_cb cb)
{
    io_impl *s = impl_of(io);
    if (s->closed)
        return RAFT_CANCELED;
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
    req->cb = cb;
    queue_op(s, OP_SEND, req, (void *)cb, status, NULL);
    return 0;
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
    case RAFT_IO_INSTALL_SNAPSHOT: {
        struct raft_install_snapshot *p = &m.install_snapshot;
        p->term = r_u64(&r);
        p->last_index = r_u64(&r);
        p->last_term = r_u64(&r);
        if (conf_read(&r, &p->conf) != 0)
            return;
        p->conf_index = r_u64(&r);
        uint64_t dl = r_u64(&r);
        const unsigned char *d = r_take(&r, (size_t)dl);
        void *data = d ? raft_malloc(dl ? dl : 1) : NULL;
        if (data == NULL) {
            raft_configuration_close(&p->conf);
            return;
        }
        memcpy(data, d, dl);
        p->data.base = data;
        p->data.len = dl;
        break;
    }
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
    s->recv(io, &m); /* raft takes the entries / snapshot data and conf */
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
    s->tick_timer = swarm__timer_new(timers, on_tick, io);
    s->done_timer = swarm__timer_new(timers, run_done, s);
    if (s->tick_timer == NULL || s->done_timer == NULL) {
        swarm__raft_io_free(io);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    if (dir != NULL) {
        int rc = db_open(s, dir, e);
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
    while (s->head != NULL) { /* never started or closed without raft: drop silently */
        op *o = s->head;
        s->head = o->next;
        free(o);
    }
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
    log_cut(s, 0);
    free(s->log);
    free(s->snap_conf);
    free(s->snap_data);
    free(s->address);
    if (s->env != NULL)
        mdb_env_close(s->env);
    free(s);
    free(io);
}

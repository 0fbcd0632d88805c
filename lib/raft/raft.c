/* A Raft group member on libraft 0.15: lifecycle, membership, and the proposer seam. See raft.h. */
#include "raft/raft.h"

#include "raft/io.h"

#include <stdlib.h>
#include <string.h>

typedef struct change change;

struct swarm__raft {
    struct raft raft;
    struct raft_io *io;
    struct raft_fsm fsm;
    swarm__raft_fsm_state fsm_state;
    uint64_t id;
    char *address;
    int inited, started;
    change *changes; /* membership changes in flight */
};

static int raft_code(int rv)
{
    switch (rv) {
    case 0:
        return 0;
    case RAFT_NOTLEADER:
        return SWARM_ENOTLEADER;
    case RAFT_CANTCHANGE:
    case RAFT_BUSY:
        return SWARM_EBUSY;
    case RAFT_NOMEM:
        return SWARM_ENOMEM;
    case RAFT_IOERR:
    case RAFT_CORRUPT:
        return SWARM_EIO;
    case RAFT_BADID:
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
    case RAFT_INVALID:
        return SWARM_EINVALID;
    case RAFT_CANCELED:
        return SWARM_ECLOSED;
    default:
        return SWARM_EUNAVAILABLE;
    }
}

int swarm__raft_new(swarm__raft **out, const swarm__raft_options *o, swarm__err *e)
{
    unsigned hb = o->heartbeat_ms ? o->heartbeat_ms : SWARM__RAFT_HEARTBEAT_MS;
    unsigned el = o->election_ms ? o->election_ms : SWARM__RAFT_ELECTION_MS;
    if (o->id == 0 || o->address == NULL || o->address[0] == '\0' || o->timers == NULL || o->clock == NULL ||
        o->transport == NULL || o->store == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "raft: id, address, timers, clock, transport and store are required");
    /* libraft's check is an assert, compiled out in Debian's build (integration.md 1.0). */
    if (hb >= el)
        return swarm__err_set(e, SWARM_EINVALID, "raft: the heartbeat must be shorter than the election timeout");
    swarm__raft *r = calloc(1, sizeof *r);
    if (r == NULL || (r->address = strdup(o->address)) == NULL) {
        free(r);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    r->id = o->id;
    int rc = swarm__raft_io_new(&r->io, o->timers, o->clock, o->transport, o->dir, e);
    if (rc != 0) {
        free(r->address);
        free(r);
        return rc;
    }
    swarm__raft_fsm_init(&r->fsm, &r->fsm_state, o->store, &r->raft);
    int rv = raft_init(&r->raft, r->io, &r->fsm, o->id, o->address);
    if (rv != 0) {
        swarm__err_set(e, raft_code(rv), "raft: init: %s", raft_strerror(rv));
        swarm__raft_io_free(r->io);
        free(r->address);
        free(r);
        return e ? e->code : SWARM_EUNAVAILABLE;
    }
    r->inited = 1;
    swarm__raft_io_attach(r->io, &r->raft);
    raft_set_heartbeat_timeout(&r->raft, hb);
    raft_set_election_timeout(&r->raft, el);
    /* A manager coming back (or cut off) asks first whether it could win: it does not depose a working leader. */
    raft_set_pre_vote(&r->raft, true);
    /* A lost snapshot chunk is sent again after this, not libraft's 30 s. */
    raft_set_install_snapshot_timeout(&r->raft, SWARM__RAFT_INSTALL_SNAPSHOT_MS);
    if (o->snapshot_threshold)
        raft_set_snapshot_threshold(&r->raft, o->snapshot_threshold);
    if (o->snapshot_trailing)
        raft_set_snapshot_trailing(&r->raft, o->snapshot_trailing);
    *out = r;
    return 0;
}

int swarm__raft_set_timing(swarm__raft *r, unsigned heartbeat_ms, unsigned election_ms, unsigned snapshot_threshold,
                           unsigned snapshot_trailing, swarm__err *e)
{
    if (heartbeat_ms == 0 || election_ms <= heartbeat_ms)
        return swarm__err_set(e, SWARM_EINVALID, "raft: the heartbeat must be shorter than the election timeout");
    if (r->raft.heartbeat_timeout != heartbeat_ms)
        raft_set_heartbeat_timeout(&r->raft, heartbeat_ms);
    if (r->raft.election_timeout != election_ms)
        raft_set_election_timeout(&r->raft, election_ms);
    if (snapshot_threshold)
        raft_set_snapshot_threshold(&r->raft, snapshot_threshold);
    if (snapshot_trailing)
        raft_set_snapshot_trailing(&r->raft, snapshot_trailing);
    return 0;
}

int swarm__raft_bootstrap(swarm__raft *r, swarm__err *e)
{
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    int rv = raft_configuration_add(&conf, r->id, r->address, RAFT_VOTER);
    if (rv == 0)
        rv = raft_bootstrap(&r->raft, &conf);
    raft_configuration_close(&conf);
    if (rv == RAFT_CANTBOOTSTRAP)
        return swarm__err_set(e, SWARM_EEXISTS, "raft: this node already has Raft state");
    if (rv != 0)
        return swarm__err_set(e, raft_code(rv), "raft: bootstrap: %s", raft_errmsg(&r->raft));
    return 0;
}

int swarm__raft_start(swarm__raft *r, swarm__err *e)
{
    int rv = raft_start(&r->raft);
    if (rv != 0)
        return swarm__err_set(e, raft_code(rv), "raft: start: %s", raft_errmsg(&r->raft));
    r->started = 1;
    return 0;
}

static void change_fail_all(swarm__raft *r);

static void closed_cb(struct raft *raw)
{
    (void)raw; /* everything is freed by swarm__raft_free once raft_close returns */
}

void swarm__raft_free(swarm__raft *r)
{
    if (r == NULL)
        return;
    if (r->inited)
        raft_close(&r->raft, closed_cb); /* our io closes synchronously: done when this returns */
    change_fail_all(r);
    swarm__raft_fsm_close(&r->fsm_state);
    swarm__raft_io_free(r->io);
    free(r->address);
    free(r);
}

void swarm__raft_link_up(swarm__raft *r, uint64_t link)
{
    swarm__raft_io_link_up(r->io, link);
}

void swarm__raft_link_down(swarm__raft *r, uint64_t link)
{
    swarm__raft_io_link_down(r->io, link);
}

void swarm__raft_receive(swarm__raft *r, uint64_t link, const swarm_transport_msg *msg)
{
    swarm__raft_io_receive(r->io, link, msg);
}

int swarm__raft_state(swarm__raft *r)
{
    return raft_state(&r->raft);
}

uint64_t swarm__raft_leader(swarm__raft *r, const char **address)
{
    raft_id id = 0;
    const char *a = NULL;
    raft_leader(&r->raft, &id, &a);
    if (address)
        *address = a;
    return id;
}

uint64_t swarm__raft_last_applied(swarm__raft *r)
{
    return raft_last_applied(&r->raft);
}

struct raft *swarm__raft_raw(swarm__raft *r)
{
    return &r->raft;
}

unsigned swarm__raft_restores(swarm__raft *r)
{
    return r->fsm_state.restores;
}

/* ------------------------------------------------------------ membership */

enum { CHANGE_ADD, CHANGE_REMOVE, CHANGE_BARRIER };

struct change {
    swarm__raft *r; /* NULL once the node is gone: only libraft's callback remains, which frees it */
    int what;
    uint64_t id;
    char *address;
    swarm__raft_change_cb cb;
    void *payload;
    struct raft_barrier barrier;
    struct raft_change req;
    change *next;
};

static void change_unlink(change *c)
{
    if (c->r == NULL)
        return;
    for (change **p = &c->r->changes; *p != NULL; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
}

/* Reports and frees. */
static void change_done(change *c, int rc)
{
    change_unlink(c);
    if (c->cb != NULL)
        c->cb(c->payload, rc);
    free(c->address);
    free(c);
}

static void change_fail_all(swarm__raft *r)
{
    /* raft_close has fired every libraft callback already; anything left never got one. */
    while (r->changes != NULL) {
        change *c = r->changes;
        r->changes = c->next;
        c->r = NULL;
        if (c->cb != NULL)
            c->cb(c->payload, SWARM_ECLOSED);
        free(c->address);
        free(c);
    }
}

static void assigned_cb(struct raft_change *req, int status)
{
    change *c = req->data;
    change_done(c, status == 0 ? 0 : raft_code(status) == SWARM_ECLOSED ? SWARM_ECLOSED : SWARM_EUNAVAILABLE);
}

static void added_cb(struct raft_change *req, int status)
{
    change *c = req->data;
    if (status != 0 || c->r == NULL) {
        change_done(c, status ? raft_code(status) : SWARM_ECLOSED);
        return;
    }
    int rv = raft_assign(&c->r->raft, &c->req, c->id, RAFT_VOTER, assigned_cb);
    if (rv != 0)
        change_done(c, raft_code(rv));
}

static void barrier_cb(struct raft_barrier *req, int status)
{
    change *c = req->data;
    if (status != 0 || c->r == NULL) {
        change_done(c, status ? raft_code(status) : SWARM_ECLOSED);
        return;
    }
    int rv;
    c->req.data = c;
    if (c->what == CHANGE_BARRIER) {
        change_done(c, 0);
        return;
    }
    if (c->what == CHANGE_ADD)
        rv = raft_add(&c->r->raft, &c->req, c->id, c->address, added_cb);
    else
        rv = raft_remove(&c->r->raft, &c->req, c->id, assigned_cb);
    if (rv != 0)
        change_done(c, raft_code(rv));
}

static int change_start(swarm__raft *r, int what, uint64_t id, const char *address, swarm__raft_change_cb cb,
                        void *payload, swarm__err *e)
{
    if ((id == 0 && what != CHANGE_BARRIER) || (what == CHANGE_ADD && (address == NULL || address[0] == '\0')))
        return swarm__err_set(e, SWARM_EINVALID, "raft: a member needs an id and an address");
    change *c = calloc(1, sizeof *c);
    if (c == NULL || (address != NULL && (c->address = strdup(address)) == NULL)) {
        free(c);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    c->r = r;
    c->what = what;
    c->id = id;
    c->cb = cb;
    c->payload = payload;
    c->barrier.data = c;
    int rv = raft_barrier(&r->raft, &c->barrier, barrier_cb);
    if (rv != 0) {
        free(c->address);
        free(c);
        return swarm__err_set(e, raft_code(rv), "raft: %s", rv == RAFT_NOTLEADER ? "this node is not the leader"
                                                                                : raft_strerror(rv));
    }
    c->next = r->changes;
    r->changes = c;
    return 0;
}

int swarm__raft_barrier(swarm__raft *r, swarm__raft_change_cb cb, void *payload, swarm__err *e)
{
    return change_start(r, CHANGE_BARRIER, 0, NULL, cb, payload, e);
}

static void transferred_cb(struct raft_transfer *req)
{
    free(req);
}

int swarm__raft_transfer(swarm__raft *r, uint64_t id, swarm__err *e)
{
    struct raft_transfer *req = calloc(1, sizeof *req);
    if (req == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    int rv = raft_transfer(&r->raft, req, id, transferred_cb);
    if (rv != 0) {
        free(req);
        return swarm__err_set(e, raft_code(rv), "raft: transfer: %s", raft_strerror(rv));
    }
    return 0;
}

int swarm__raft_recover(swarm__raft *r, swarm__err *e)
{
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    int rv = raft_configuration_add(&conf, r->id, r->address, RAFT_VOTER);
    if (rv == 0)
        rv = raft_recover(&r->raft, &conf);
    raft_configuration_close(&conf);
    if (rv != 0)
        return swarm__err_set(e, raft_code(rv), "raft: recover: %s", raft_errmsg(&r->raft));
    return 0;
}

int swarm__raft_add_voter(swarm__raft *r, uint64_t id, const char *address, swarm__raft_change_cb cb,
                          void *payload, swarm__err *e)
{
    return change_start(r, CHANGE_ADD, id, address, cb, payload, e);
}

int swarm__raft_remove(swarm__raft *r, uint64_t id, swarm__raft_change_cb cb, void *payload, swarm__err *e)
{
    return change_start(r, CHANGE_REMOVE, id, NULL, cb, payload, e);
}

/* ------------------------------------------------------------ proposer */

#define BATCH_BYTES_DEFAULT ((size_t)1 << 20)

typedef struct raft_proposer raft_proposer;

typedef struct proposal {
    char *bytes; /* the encoded action list, until its batch is submitted */
    size_t len;
    swarm__propose_cb cb;
    void *payload;
} proposal;

/* The proposals of one Raft entry. */
typedef struct batch {
    struct raft_apply req; /* alive until libraft's callback, even after the proposer closed */
    raft_proposer *p;      /* set while in flight; NULL once the proposer closed (libraft's callback frees) */
    proposal *q;
    size_t n, cap;
    size_t bytes;    /* encoded size of the entry */
    size_t reported; /* proposals whose callback ran (always a prefix: callbacks run in order) */
    struct batch *prev, *next;
} batch;

struct raft_proposer {
    swarm__proposer base;
    swarm__raft *r;
    swarm__timer *flush;
    size_t max_n, max_bytes;
    batch *wait_head, *wait_tail; /* not submitted yet, in order; the tail fills */
    batch *fly_head, *fly_tail;   /* submitted, waiting for libraft's callback, in order */
    batch *reporting;             /* the batch whose callbacks are running */
    int busy;                     /* our callback loops on the stack: close leaves the free to the outermost */
    int closed;
};

static void batch_free(batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->q[i].bytes);
    free(b->q);
    free(b);
}

static void proposer_free(raft_proposer *p)
{
    swarm__timer_free(p->flush);
    free(p);
}

static void leave(raft_proposer *p)
{
    if (--p->busy == 0 && p->closed)
        proposer_free(p);
}

/*
 * Reports to b's proposals not reported yet, in order: proposal i gets its
 * outcome out->g[i] when out is given, else rc and err. Stops if a callback
 * closes the proposer (unless closing).
 */
static void report_rest(raft_proposer *p, batch *b, const swarm__raft_outcomes *out, int rc, const swarm__err *err,
                        int closing)
{
    batch *outer = p->reporting;
    p->reporting = b;
    while (b->reported < b->n && (closing || !p->closed)) {
        size_t i = b->reported++;
        proposal *q = &b->q[i];
        if (out == NULL)
            q->cb(q->payload, rc, err, 0);
        else if (out->g[i].rc != 0)
            q->cb(q->payload, out->g[i].rc, &out->g[i].err, 0);
        else
            q->cb(q->payload, 0, NULL, out->index);
    }
    p->reporting = outer;
}

static void fly_unlink(raft_proposer *p, batch *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        p->fly_head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        p->fly_tail = b->prev;
    b->prev = b->next = NULL;
    b->p = NULL;
}

static void applied_cb(struct raft_apply *req, int status, void *result)
{
    batch *b = req->data;
    raft_proposer *p = b->p;
    if (p == NULL) {
        batch_free(b); /* the proposer closed: every proposal had its ECLOSED */
        return;
    }
    fly_unlink(p, b);
    p->busy++;
    swarm__err err;
    int rc = 0;
    /* The outcomes live in the FSM until its next apply, which no callback can cause synchronously. */
    const swarm__raft_outcomes *out = status == 0 ? result : NULL;
    if (status == 0 && (out == NULL || out->n != b->n)) {
        out = NULL; /* not an entry of ours (cannot happen: the FSM reports every proposal of an entry) */
        rc = swarm__err_set(&err, SWARM_EUNAVAILABLE, "raft: the entry's outcomes are missing: the outcome is unknown");
    } else if (status == RAFT_LEADERSHIPLOST || status == RAFT_SHUTDOWN) {
        rc = swarm__err_set(&err, SWARM_EUNAVAILABLE, "leadership was lost: the outcome of the write is unknown");
    } else if (status != 0) {
        rc = status == RAFT_NOTLEADER ? SWARM_ENOTLEADER : SWARM_EUNAVAILABLE;
        swarm__err_set(&err, rc, "raft: %s", raft_strerror(status));
    }
    report_rest(p, b, out, rc, &err, 0);
    batch_free(b);
    leave(p);
}

/* Encodes b as one entry and hands it to libraft: 0 or a RAFT_* code (then nothing was proposed). */
static int submit(raft_proposer *p, batch *b)
{
    unsigned char *buf = raft_malloc(b->bytes);
    if (buf == NULL)
        return RAFT_NOMEM;
    size_t off = swarm__raft_batch_start(buf, (uint32_t)b->n);
    for (size_t i = 0; i < b->n; i++) {
        off = swarm__raft_batch_put(buf, off, b->q[i].bytes, (uint32_t)b->q[i].len);
        free(b->q[i].bytes);
        b->q[i].bytes = NULL;
    }
    struct raft_buffer rb = {buf, b->bytes};
    b->req.data = b;
    int rv = raft_apply(&p->r->raft, &b->req, &rb, 1, applied_cb);
    if (rv != 0) {
        raft_free(buf); /* raft owns it only on success */
        return rv;
    }
    b->p = p;
    b->prev = p->fly_tail;
    if (p->fly_tail)
        p->fly_tail->next = b;
    else
        p->fly_head = b;
    p->fly_tail = b;
    return 0;
}

/* The 0 ms timer: every batch filled since the last flush becomes an entry, in order. */
static void flush_cb(void *arg)
{
    raft_proposer *p = arg;
    p->busy++;
    while (p->wait_head != NULL && !p->closed) {
        batch *b = p->wait_head;
        p->wait_head = b->next;
        if (p->wait_head == NULL)
            p->wait_tail = NULL;
        b->next = NULL;
        int rv = submit(p, b);
        if (rv != 0) {
            /* Nothing was proposed: the outcome is known (not written). */
            swarm__err err;
            int rc = rv == RAFT_NOTLEADER ? SWARM_ENOTLEADER : raft_code(rv);
            if (rv == RAFT_NOTLEADER)
                swarm__err_set(&err, rc, "this node is no longer the Raft leader: the write was not made");
            else
                swarm__err_set(&err, rc, "raft: apply: %s", raft_strerror(rv));
            report_rest(p, b, NULL, rc, &err, 0);
            batch_free(b);
        }
    }
    leave(p);
}

static int raft_propose(swarm__proposer *base, const swarm__action *a, size_t n, swarm__propose_cb cb,
                        void *payload, swarm__err *e)
{
    raft_proposer *p = (raft_proposer *)base;
    if (p->closed)
        return swarm__err_set(e, SWARM_ECLOSED, "the node is shutting down");
    if (raft_state(&p->r->raft) != RAFT_LEADER)
        return swarm__err_set(e, SWARM_ENOTLEADER, "this node is not the Raft leader");
    char *bytes;
    size_t len;
    int rc = swarm__actions_encode(a, n, &bytes, &len, e);
    if (rc != 0)
        return rc;
    if (len > UINT32_MAX) {
        free(bytes);
        return swarm__err_set(e, SWARM_EINVALID, "raft: the write is too large");
    }
    /* Unbatched (no flush timer): max_n is 1, so every proposal makes a fresh batch, submitted below. */
    batch *b = p->wait_tail, *fresh = NULL;
    size_t need = SWARM__RAFT_BATCH_ITEM_HEADER + len;
    if (b == NULL || b->n >= p->max_n || b->bytes + need > p->max_bytes) {
        if ((fresh = b = calloc(1, sizeof *b)) == NULL) {
            free(bytes);
            return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
        }
        b->bytes = SWARM__RAFT_BATCH_HEADER;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 8;
        if (cap > p->max_n)
            cap = p->max_n;
        proposal *grown = realloc(b->q, cap * sizeof *grown);
        if (grown == NULL) {
            free(bytes);
            free(fresh);
            return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
        }
        b->q = grown;
        b->cap = cap;
    }
    b->q[b->n++] = (proposal){bytes, len, cb, payload};
    b->bytes += need;
    if (p->flush == NULL) {
        /* Proposed now: errors are synchronous, and the callback is never called for them. */
        int rv = submit(p, b);
        if (rv == 0)
            return 0;
        batch_free(b);
        if (rv == RAFT_NOTLEADER)
            return swarm__err_set(e, SWARM_ENOTLEADER, "this node is not the Raft leader");
        return swarm__err_set(e, raft_code(rv), "raft: apply: %s", raft_strerror(rv));
    }
    if (fresh != NULL) {
        if (p->wait_tail)
            p->wait_tail->next = fresh;
        else
            p->wait_head = fresh;
        p->wait_tail = fresh;
    }
    if (!swarm__timer_armed(p->flush))
        swarm__timer_start(p->flush, 0);
    return 0;
}

static void raft_proposer_close(swarm__proposer *base)
{
    raft_proposer *p = (raft_proposer *)base;
    if (p->closed)
        return;
    p->closed = 1;
    swarm__timer_stop(p->flush);
    swarm__err err;
    swarm__err_set(&err, SWARM_ECLOSED, "the node is shutting down");
    p->busy++;
    /* In proposal order: the batch being reported, the entries in flight, then what was never submitted. */
    if (p->reporting != NULL)
        report_rest(p, p->reporting, NULL, SWARM_ECLOSED, &err, 1);
    while (p->fly_head != NULL) {
        batch *b = p->fly_head;
        fly_unlink(p, b); /* libraft's callback frees it later */
        report_rest(p, b, NULL, SWARM_ECLOSED, &err, 1);
    }
    while (p->wait_head != NULL) {
        batch *b = p->wait_head;
        p->wait_head = b->next;
        report_rest(p, b, NULL, SWARM_ECLOSED, &err, 1);
        batch_free(b);
    }
    p->wait_tail = NULL;
    leave(p);
}

static int proposer_new(swarm__proposer **out, swarm__raft *r, const swarm__raft_proposer_options *o,
                        swarm__err *e)
{
    if (r == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "raft proposer: the node is required");
    raft_proposer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    if (o != NULL && (p->flush = swarm__timer_new(o->timers, flush_cb, p)) == NULL) {
        free(p);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    p->base.propose = raft_propose;
    p->base.close = raft_proposer_close;
    p->r = r;
    if (o == NULL)
        p->max_n = 1; /* unbatched */
    else
        p->max_n = o->max_batch && o->max_batch < SWARM__RAFT_BATCH_MAX ? o->max_batch : SWARM__RAFT_BATCH_MAX;
    p->max_bytes = o && o->max_batch_bytes ? o->max_batch_bytes : BATCH_BYTES_DEFAULT;
    *out = &p->base;
    return 0;
}

int swarm__proposer_raft_new(swarm__proposer **out, swarm__raft *r, swarm__err *e)
{
    return proposer_new(out, r, NULL, e);
}

int swarm__proposer_raft_batched_new(swarm__proposer **out, swarm__raft *r, const swarm__raft_proposer_options *o,
                                     swarm__err *e)
{
    if (o == NULL || o->timers == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "raft proposer: the node's timers are required");
    return proposer_new(out, r, o, e);
}

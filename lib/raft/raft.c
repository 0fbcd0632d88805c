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
    raft_set_heartbeat_timeout(&r->raft, hb);
    raft_set_election_timeout(&r->raft, el);
    if (o->snapshot_threshold)
        raft_set_snapshot_threshold(&r->raft, o->snapshot_threshold);
    if (o->snapshot_trailing)
        raft_set_snapshot_trailing(&r->raft, o->snapshot_trailing);
    *out = r;
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

enum { CHANGE_ADD, CHANGE_REMOVE };

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
    if (id == 0 || (what == CHANGE_ADD && (address == NULL || address[0] == '\0')))
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

typedef struct raft_proposer raft_proposer;

typedef struct proposal {
    struct raft_apply req; /* alive until libraft's callback, even after the proposer closed */
    raft_proposer *p;      /* NULL once the proposer closed */
    swarm__propose_cb cb;
    void *payload;
    struct proposal *prev, *next;
} proposal;

struct raft_proposer {
    swarm__proposer base;
    swarm__raft *r;
    proposal *pending;
};

static void unlink_proposal(proposal *q)
{
    if (q->p == NULL)
        return;
    if (q->prev)
        q->prev->next = q->next;
    else
        q->p->pending = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->p = NULL;
}

static void applied_cb(struct raft_apply *req, int status, void *result)
{
    proposal *q = req->data;
    int live = q->p != NULL;
    unlink_proposal(q);
    if (live) {
        swarm__err err;
        if (status == 0) {
            const swarm__raft_result *res = result;
            q->cb(q->payload, res->rc, res->rc ? &res->err : NULL, res->rc ? 0 : res->index);
        } else {
            int rc = status == RAFT_NOTLEADER ? SWARM_ENOTLEADER : SWARM_EUNAVAILABLE;
            if (status == RAFT_LEADERSHIPLOST || status == RAFT_SHUTDOWN)
                swarm__err_set(&err, rc, "leadership was lost: the outcome of the write is unknown");
            else
                swarm__err_set(&err, rc, "raft: %s", raft_strerror(status));
            q->cb(q->payload, rc, &err, 0);
        }
    }
    free(q);
}

static int raft_propose(swarm__proposer *base, const swarm__action *a, size_t n, swarm__propose_cb cb,
                        void *payload, swarm__err *e)
{
    raft_proposer *p = (raft_proposer *)base;
    if (raft_state(&p->r->raft) != RAFT_LEADER)
        return swarm__err_set(e, SWARM_ENOTLEADER, "this node is not the Raft leader");
    char *bytes;
    size_t len;
    int rc = swarm__actions_encode(a, n, &bytes, &len, e);
    if (rc != 0)
        return rc;
    proposal *q = calloc(1, sizeof *q);
    void *base_buf = raft_malloc(len ? len : 1);
    if (q == NULL || base_buf == NULL) {
        free(q);
        raft_free(base_buf);
        free(bytes);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    memcpy(base_buf, bytes, len);
    free(bytes);
    struct raft_buffer buf = {base_buf, len};
    q->req.data = q;
    q->cb = cb;
    q->payload = payload;
    int rv = raft_apply(&p->r->raft, &q->req, &buf, 1, applied_cb);
    if (rv != 0) {
        raft_free(base_buf); /* raft owns it only on success */
        free(q);
        if (rv == RAFT_NOTLEADER)
            return swarm__err_set(e, SWARM_ENOTLEADER, "this node is not the Raft leader");
        return swarm__err_set(e, raft_code(rv), "raft: apply: %s", raft_strerror(rv));
    }
    q->p = p;
    q->next = p->pending;
    if (q->next)
        q->next->prev = q;
    p->pending = q;
    return 0;
}

static void raft_proposer_close(swarm__proposer *base)
{
    raft_proposer *p = (raft_proposer *)base;
    while (p->pending != NULL) {
        proposal *q = p->pending;
        unlink_proposal(q); /* libraft's callback frees it later */
        swarm__err err;
        swarm__err_set(&err, SWARM_ECLOSED, "the node is shutting down");
        q->cb(q->payload, SWARM_ECLOSED, &err, 0);
    }
    free(p);
}

int swarm__proposer_raft_new(swarm__proposer **out, swarm__raft *r, swarm__err *e)
{
    raft_proposer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    p->base.propose = raft_propose;
    p->base.close = raft_proposer_close;
    p->r = r;
    *out = &p->base;
    return 0;
}

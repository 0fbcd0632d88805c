/*
 * The "mem" transport: nodes of one process linked through a shared
 * swarm__mem_network, with fault knobs (partition, drop, delay).
 *
 * Model: a connection is a refcounted pipe between two instances. Instances
 * never touch each other's state: everything crossing over (CONNECT, ACCEPT,
 * DATA, DOWN) is an item pushed, under the network lock, onto the receiver's
 * inbox, which the receiver's host->post moves onto its loop. There every
 * item arms one host timer (the network delay; 0 for the instance's own
 * deferred notices) and each timer that fires processes the oldest item of
 * its queue, so order per link is kept whatever order equal timers fire in.
 * Messages travel as encoded envelopes and are decoded on arrival.
 *
 * Lock order: network lock, then the host's own (host->post is called only
 * after the network lock is released).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarm/log.h"
#include "transport/envelope.h"
#include "transport/idmap.h"
#include "transport/requests.h"
#include "transport/transport.h"

typedef struct mem_inst mem_inst;
typedef struct mem_pipe mem_pipe;

enum { IT_CONNECT, IT_ACCEPT, IT_DATA, IT_DOWN, IT_CLOSED };
enum { Q_NET, Q_LOCAL };

typedef struct item {
    struct item *next;
    int kind;
    mem_pipe *pipe; /* holds a reference; NULL for IT_CLOSED */
    int to_side;    /* the receiver's end of the pipe */
    uint8_t *frame; /* IT_DATA */
    size_t len;
    int64_t delay;
    uint64_t link; /* IT_CLOSED */
    int was_up;    /* IT_CLOSED */
} item;

/* One connection. Fields under the network lock, except link[s], owned by end s's loop. */
struct mem_pipe {
    int refs, dead;
    mem_inst *end[2]; /* 0: dialer, 1: acceptor; NULL once that end let go */
    uint64_t link[2];
    mem_pipe *prev, *next;
};

typedef struct partition {
    struct partition *next;
    char *from, *to;
} partition;

struct swarm__mem_network {
    pthread_mutex_t lock;
    int refs; /* the owner + one per instance */
    mem_inst *instances;
    mem_pipe *pipes;
    partition *partitions;
    double drop;
    int64_t delay;
    uint64_t rng;
    mem_inst *to_post;
};

typedef struct tmr {
    struct tmr *prev, *next;
    mem_inst *inst;
    int queue;
    void *token;
} tmr;

typedef struct mlink {
    mem_inst *inst;
    uint64_t id;
    int dialed, side, up;
    char *addr;
    mem_pipe *pipe;
    void *redial_timer;
    int backoff_ms;
} mlink;

struct mem_inst {
    struct swarm_transport_backend base;
    swarm__mem_network *net;
    char *name;
    /* Under net->lock. */
    char *listen_addr;
    int refs, scheduled, net_closed;
    item *in_head, *in_tail;
    mem_inst *net_next, *post_next;
    /* Loop thread only. */
    swarm_transport_host host;
    int opened, closed;
    item *q_head[2], *q_tail[2];
    tmr *timers;
    swarm__idmap links;
    uint64_t next_link;
    swarm__requests *req;
};

static void logf_(mem_inst *m, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logf_(mem_inst *m, int level, const char *fmt, ...)
{
    if (m->host.log == NULL)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    m->host.log(m->host.ctx, level, msg);
}

/* ---- network ------------------------------------------------------------ */

static void net_unref(swarm__mem_network *net)
{
    pthread_mutex_lock(&net->lock);
    int last = --net->refs == 0;
    pthread_mutex_unlock(&net->lock);
    if (!last)
        return;
    while (net->partitions) {
        partition *p = net->partitions;
        net->partitions = p->next;
        free(p->from);
        free(p->to);
        free(p);
    }
    pthread_mutex_destroy(&net->lock);
    free(net);
}

int swarm__mem_network_new(swarm__mem_network **out)
{
    swarm__mem_network *net = calloc(1, sizeof *net);
    if (net == NULL || pthread_mutex_init(&net->lock, NULL) != 0) {
        free(net);
        return SWARM_ENOMEM;
    }
    net->refs = 1;
    net->rng = 1;
    *out = net;
    return 0;
}

void swarm__mem_network_free(swarm__mem_network *net)
{
    if (net != NULL)
        net_unref(net);
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static swarm__mem_network *default_net;

static void make_default(void)
{
    if (swarm__mem_network_new(&default_net) != 0)
        default_net = NULL;
}

swarm__mem_network *swarm__mem_network_default(void)
{
    pthread_once(&default_once, make_default);
    return default_net;
}

void swarm__mem_network_set_seed(swarm__mem_network *net, uint64_t seed)
{
    pthread_mutex_lock(&net->lock);
    net->rng = seed;
    pthread_mutex_unlock(&net->lock);
}

void swarm__mem_network_set_drop(swarm__mem_network *net, double probability)
{
    pthread_mutex_lock(&net->lock);
    net->drop = probability < 0 ? 0 : probability > 1 ? 1 : probability;
    pthread_mutex_unlock(&net->lock);
}

void swarm__mem_network_set_delay(swarm__mem_network *net, int64_t ms)
{
    pthread_mutex_lock(&net->lock);
    net->delay = ms < 0 ? 0 : ms;
    pthread_mutex_unlock(&net->lock);
}

/* splitmix64; caller holds the lock. */
static double random01(swarm__mem_network *net)
{
    uint64_t z = (net->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* Caller holds the lock. */
static void inbox_push(swarm__mem_network *net, mem_inst *m, item *it)
{
    it->next = NULL;
    if (m->in_tail)
        m->in_tail->next = it;
    else
        m->in_head = it;
    m->in_tail = it;
    if (!m->scheduled) {
        m->scheduled = 1;
        m->refs++;
        m->post_next = net->to_post;
        net->to_post = m;
    }
}

static void inst_drain(void *arg);
static void inst_unref(mem_inst *m);

/* Posts the drains queued under the lock (call without it). */
static void flush_posts(swarm__mem_network *net)
{
    pthread_mutex_lock(&net->lock);
    mem_inst *list = net->to_post;
    net->to_post = NULL;
    pthread_mutex_unlock(&net->lock);
    while (list) {
        mem_inst *m = list;
        list = m->post_next;
        if (m->host.post(m->host.ctx, inst_drain, m) != 0) {
            pthread_mutex_lock(&net->lock);
            m->scheduled = 0;
            pthread_mutex_unlock(&net->lock);
            inst_unref(m);
        }
    }
}

/* Caller holds the lock. */
static void pipe_unref_locked(swarm__mem_network *net, mem_pipe *p)
{
    if (p == NULL || --p->refs > 0)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        net->pipes = p->next;
    if (p->next)
        p->next->prev = p->prev;
    free(p);
}

/* Caller holds the lock. Marks p dead and tells the ends other than `by` (DOWN). */
static void pipe_kill_locked(swarm__mem_network *net, mem_pipe *p, mem_inst *by)
{
    if (p->dead)
        return;
    p->dead = 1;
    for (int s = 0; s < 2; s++) {
        if (p->end[s] == NULL || p->end[s] == by)
            continue;
        item *it = calloc(1, sizeof *it);
        if (it == NULL)
            continue; /* that end notices on its next send attempt... or never: out of memory */
        it->kind = IT_DOWN;
        it->pipe = p;
        it->to_side = s;
        p->refs++;
        inbox_push(net, p->end[s], it);
    }
}

static int matches(const mem_inst *m, const char *name)
{
    return strcmp(m->name, name) == 0 || (m->listen_addr != NULL && strcmp(m->listen_addr, name) == 0);
}

/* Caller holds the lock. */
static int blocked_locked(swarm__mem_network *net, const mem_inst *a, const mem_inst *b)
{
    for (partition *p = net->partitions; p; p = p->next)
        if ((matches(a, p->from) && matches(b, p->to)) || (matches(b, p->from) && matches(a, p->to)))
            return 1;
    return 0;
}

int swarm__mem_network_partition(swarm__mem_network *net, const char *from, const char *to)
{
    if (from == NULL || to == NULL)
        return SWARM_EINVALID;
    partition *np = calloc(1, sizeof *np);
    if (np == NULL || (np->from = strdup(from)) == NULL || (np->to = strdup(to)) == NULL) {
        if (np)
            free(np->from);
        free(np);
        return SWARM_ENOMEM;
    }
    pthread_mutex_lock(&net->lock);
    np->next = net->partitions;
    net->partitions = np;
    for (mem_pipe *p = net->pipes; p; p = p->next) {
        if (p->dead || p->end[0] == NULL || p->end[1] == NULL)
            continue;
        if (blocked_locked(net, p->end[0], p->end[1]))
            pipe_kill_locked(net, p, NULL);
    }
    pthread_mutex_unlock(&net->lock);
    flush_posts(net);
    return 0;
}

void swarm__mem_network_heal(swarm__mem_network *net, const char *from, const char *to)
{
    pthread_mutex_lock(&net->lock);
    for (partition **pp = &net->partitions; *pp;) {
        partition *p = *pp;
        int all = from == NULL && to == NULL;
        if (all || (from && to && strcmp(p->from, from) == 0 && strcmp(p->to, to) == 0)) {
            *pp = p->next;
            free(p->from);
            free(p->to);
            free(p);
        } else {
            pp = &p->next;
        }
    }
    pthread_mutex_unlock(&net->lock);
}

/* ---- instance lifetime -------------------------------------------------- */

static void inst_unref(mem_inst *m)
{
    swarm__mem_network *net = m->net;
    pthread_mutex_lock(&net->lock);
    int last = --m->refs == 0;
    pthread_mutex_unlock(&net->lock);
    if (!last)
        return;
    free(m->name);
    free(m);
    net_unref(net);
}

static void free_item(swarm__mem_network *net, item *it)
{
    if (it->pipe) {
        pthread_mutex_lock(&net->lock);
        pipe_unref_locked(net, it->pipe);
        pthread_mutex_unlock(&net->lock);
    }
    free(it->frame);
    free(it);
}

/* ---- loop side ---------------------------------------------------------- */

static void process(mem_inst *m, item *it);

static void on_timer(void *arg)
{
    tmr *t = arg;
    mem_inst *m = t->inst;
    int q = t->queue;
    if (t->prev)
        t->prev->next = t->next;
    else
        m->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    free(t);
    item *it = m->q_head[q];
    if (it == NULL)
        return;
    m->q_head[q] = it->next;
    if (m->q_head[q] == NULL)
        m->q_tail[q] = NULL;
    process(m, it);
    free_item(m->net, it);
}

/* Queues an item on the loop and arms its timer. */
static void loop_push(mem_inst *m, item *it, int queue, int64_t delay)
{
    it->next = NULL;
    if (m->q_tail[queue])
        m->q_tail[queue]->next = it;
    else
        m->q_head[queue] = it;
    m->q_tail[queue] = it;
    tmr *t = calloc(1, sizeof *t);
    if (t != NULL) {
        t->inst = m;
        t->queue = queue;
        if (m->host.timer(m->host.ctx, delay, on_timer, t, &t->token) == 0) {
            t->next = m->timers;
            if (m->timers)
                m->timers->prev = t;
            m->timers = t;
            return;
        }
        free(t);
    }
    /* The item waits for the next timer of its queue. */
    logf_(m, SWARM_LOG_ERROR, "transport %s: cannot arm a delivery timer", m->name);
}

static void inst_drain(void *arg)
{
    mem_inst *m = arg;
    swarm__mem_network *net = m->net;
    pthread_mutex_lock(&net->lock);
    m->scheduled = 0;
    item *list = m->net_closed ? NULL : m->in_head;
    if (!m->net_closed)
        m->in_head = m->in_tail = NULL;
    pthread_mutex_unlock(&net->lock);
    while (list) {
        item *it = list;
        list = it->next;
        loop_push(m, it, Q_NET, it->delay);
    }
    inst_unref(m);
}

static void schedule_redial(mlink *l);

/* Lets go of the link's pipe (killing it for the other end). */
static void release_pipe(mlink *l)
{
    mem_inst *m = l->inst;
    if (l->pipe == NULL)
        return;
    pthread_mutex_lock(&m->net->lock);
    pipe_kill_locked(m->net, l->pipe, m);
    l->pipe->end[l->side] = NULL;
    pipe_unref_locked(m->net, l->pipe);
    pthread_mutex_unlock(&m->net->lock);
    flush_posts(m->net);
    l->pipe = NULL;
}

static void link_free(mlink *l)
{
    mem_inst *m = l->inst;
    if (l->redial_timer)
        m->host.cancel_timer(m->host.ctx, l->redial_timer);
    release_pipe(l);
    swarm__idmap_del(&m->links, l->id, 0);
    free(l->addr);
    free(l);
}

static void link_lost(mlink *l)
{
    mem_inst *m = l->inst;
    uint64_t id = l->id;
    int was_up = l->up;
    release_pipe(l);
    l->up = 0;
    if (l->dialed)
        schedule_redial(l);
    else
        link_free(l);
    if (was_up) {
        swarm__requests_incoming_drop(m->req, id);
        swarm__requests_fail(m->req, id, SWARM_EUNAVAILABLE);
        if (!m->closed)
            m->host.link_down(m->host.ctx, id);
    }
}

static void try_connect(mlink *l)
{
    mem_inst *m = l->inst;
    swarm__mem_network *net = m->net;
    mem_pipe *p = calloc(1, sizeof *p);
    item *it = calloc(1, sizeof *it);
    mem_inst *target = NULL;
    pthread_mutex_lock(&net->lock);
    for (mem_inst *t = net->instances; t && !target; t = t->net_next)
        if (!t->net_closed && t->listen_addr != NULL && strcmp(t->listen_addr, l->addr) == 0)
            target = t;
    if (p == NULL || it == NULL || target == NULL || blocked_locked(net, m, target)) {
        pthread_mutex_unlock(&net->lock);
        free(p);
        free(it);
        schedule_redial(l);
        return;
    }
    p->refs = 2; /* the link and the CONNECT item */
    p->end[0] = m;
    p->end[1] = target;
    p->link[0] = l->id;
    p->next = net->pipes;
    if (net->pipes)
        net->pipes->prev = p;
    net->pipes = p;
    it->kind = IT_CONNECT;
    it->pipe = p;
    it->to_side = 1;
    it->delay = net->delay;
    inbox_push(net, target, it);
    pthread_mutex_unlock(&net->lock);
    l->pipe = p;
    l->side = 0;
    flush_posts(net);
}

static void on_redial(void *arg)
{
    mlink *l = arg;
    l->redial_timer = NULL;
    try_connect(l);
}

static void schedule_redial(mlink *l)
{
    mem_inst *m = l->inst;
    if (m->closed || l->redial_timer != NULL)
        return;
    int ms = l->backoff_ms;
    l->backoff_ms = ms * 2 > SWARM__TRANSPORT_REDIAL_MAX_MS ? SWARM__TRANSPORT_REDIAL_MAX_MS : ms * 2;
    if (m->host.timer(m->host.ctx, ms, on_redial, l, &l->redial_timer) != 0) {
        l->redial_timer = NULL;
        logf_(m, SWARM_LOG_ERROR, "transport %s: link %llu: cannot arm the redial timer", m->name,
              (unsigned long long)l->id);
    }
}

static void on_connect(mem_inst *m, mem_pipe *p)
{
    swarm__mem_network *net = m->net;
    mlink *l = calloc(1, sizeof *l);
    item *it = calloc(1, sizeof *it);
    pthread_mutex_lock(&net->lock);
    char *addr = p->end[0] ? strdup(p->end[0]->name) : NULL;
    if (p->dead || m->listen_addr == NULL || l == NULL || it == NULL || addr == NULL ||
        swarm__idmap_put(&m->links, m->next_link, 0, l) != 0) {
        pipe_kill_locked(net, p, m);
        p->end[1] = NULL;
        pthread_mutex_unlock(&net->lock);
        flush_posts(net);
        free(l);
        free(it);
        free(addr);
        return;
    }
    l->inst = m;
    l->id = m->next_link++;
    l->side = 1;
    l->up = 1;
    l->addr = addr;
    l->pipe = p;
    p->refs++;
    p->link[1] = l->id;
    it->kind = IT_ACCEPT;
    it->pipe = p;
    it->to_side = 0;
    it->delay = net->delay;
    p->refs++;
    inbox_push(net, p->end[0], it);
    pthread_mutex_unlock(&net->lock);
    flush_posts(net);
    m->host.link_up(m->host.ctx, l->id, l->addr, 1);
}

static void on_data(mem_inst *m, mlink *l, const item *it)
{
    swarm__envelope env;
    swarm__err e;
    if (swarm__envelope_decode(&env, it->frame, it->len, &e) != 0) {
        logf_(m, SWARM_LOG_WARN, "transport %s: link %llu: %s", m->name, (unsigned long long)l->id, e.message);
        return;
    }
    swarm_transport_msg msg = {env.type, env.body, env.body_len};
    switch (env.kind) {
    case SWARM__ENVELOPE_ONEWAY:
        m->host.receive(m->host.ctx, l->id, 0, &msg);
        break;
    case SWARM__ENVELOPE_REQUEST:
        if (swarm__requests_incoming_add(m->req, l->id, env.request_id) != 0) {
            logf_(m, SWARM_LOG_WARN, "transport %s: link %llu: request %llu dropped (duplicate or no memory)",
                  m->name, (unsigned long long)l->id, (unsigned long long)env.request_id);
            return;
        }
        m->host.receive(m->host.ctx, l->id, env.request_id, &msg);
        break;
    case SWARM__ENVELOPE_RESPONSE:
        (void)swarm__requests_complete(m->req, l->id, env.request_id, &msg);
        break;
    default:
        break;
    }
}

static void process(mem_inst *m, item *it)
{
    if (it->kind == IT_CLOSED) {
        swarm__requests_fail(m->req, it->link, SWARM_EUNAVAILABLE);
        if (it->was_up && !m->closed)
            m->host.link_down(m->host.ctx, it->link);
        return;
    }
    mem_pipe *p = it->pipe;
    if (it->kind == IT_CONNECT) {
        on_connect(m, p);
        return;
    }
    mlink *l = swarm__idmap_get(&m->links, p->link[it->to_side], 0);
    if (l == NULL || l->pipe != p)
        return; /* for a connection this end already let go */
    switch (it->kind) {
    case IT_ACCEPT: {
        pthread_mutex_lock(&m->net->lock);
        int dead = p->dead;
        pthread_mutex_unlock(&m->net->lock);
        if (dead || l->up)
            return; /* its DOWN follows */
        l->up = 1;
        l->backoff_ms = SWARM__TRANSPORT_REDIAL_MIN_MS;
        m->host.link_up(m->host.ctx, l->id, l->addr, 0);
        break;
    }
    case IT_DATA:
        if (l->up)
            on_data(m, l, it);
        break;
    case IT_DOWN:
        link_lost(l);
        break;
    }
}

/* ---- methods ------------------------------------------------------------ */

static int usable(mem_inst *m)
{
    if (m->closed)
        return swarm__error_set(SWARM_ECLOSED, "transport is closed");
    if (!m->opened)
        return swarm__error_set(SWARM_EINVALID, "transport is not open");
    return 0;
}

static int mem_open(struct swarm_transport_backend *b, const swarm_transport_host *host)
{
    mem_inst *m = (mem_inst *)b;
    if (m->closed)
        return swarm__error_set(SWARM_ECLOSED, "transport is closed");
    if (m->opened)
        return swarm__error_set(SWARM_EINVALID, "transport is already open");
    if (host == NULL || host->version < 1 || !host->link_up || !host->link_down || !host->receive || !host->post ||
        !host->timer || !host->cancel_timer)
        return swarm__error_set(SWARM_EINVALID, "transport host is incomplete");
    m->host = *host;
    if (swarm__requests_new(&m->req, &m->host) != 0)
        return swarm__error_nomem();
    /* host is read by other instances' threads (post) from now on: publish under the lock. */
    pthread_mutex_lock(&m->net->lock);
    m->opened = 1;
    pthread_mutex_unlock(&m->net->lock);
    return 0;
}

static int mem_set_tls(struct swarm_transport_backend *b, const swarm_transport_tls *tls)
{
    /* In one process there is nothing to encrypt; the material is accepted and ignored. */
    mem_inst *m = (mem_inst *)b;
    if (m->closed)
        return swarm__error_set(SWARM_ECLOSED, "transport is closed");
    if (tls != NULL && (tls->mode < SWARM_TLS_MUTUAL || tls->mode > SWARM_TLS_UNVERIFIED))
        return swarm__error_set(SWARM_EINVALID, "tls: unknown mode %d", tls->mode);
    return 0;
}

static int mem_listen(struct swarm_transport_backend *b, const char *addr)
{
    mem_inst *m = (mem_inst *)b;
    int rc = usable(m);
    if (rc != 0)
        return rc;
    if (addr == NULL || addr[0] == '\0')
        return swarm__error_set(SWARM_EINVALID, "transport address is empty");
    char *copy = strdup(addr);
    if (copy == NULL)
        return swarm__error_nomem();
    pthread_mutex_lock(&m->net->lock);
    int taken = m->listen_addr != NULL;
    for (mem_inst *t = m->net->instances; t && !taken; t = t->net_next)
        taken = t->listen_addr != NULL && strcmp(t->listen_addr, addr) == 0;
    if (!taken)
        m->listen_addr = copy;
    pthread_mutex_unlock(&m->net->lock);
    if (taken) {
        free(copy);
        return swarm__error_set(SWARM_EBUSY, "listen on %s: address already in use", addr);
    }
    return 0;
}

static int mem_dial(struct swarm_transport_backend *b, const char *addr, uint64_t *link)
{
    mem_inst *m = (mem_inst *)b;
    int rc = usable(m);
    if (rc != 0)
        return rc;
    if (addr == NULL || addr[0] == '\0' || link == NULL)
        return swarm__error_set(SWARM_EINVALID, "dial: empty address");
    mlink *l = calloc(1, sizeof *l);
    if (l == NULL || (l->addr = strdup(addr)) == NULL || swarm__idmap_put(&m->links, m->next_link, 0, l) != 0) {
        if (l)
            free(l->addr);
        free(l);
        return swarm__error_nomem();
    }
    l->inst = m;
    l->id = m->next_link++;
    l->dialed = 1;
    l->backoff_ms = SWARM__TRANSPORT_REDIAL_MIN_MS;
    *link = l->id;
    try_connect(l);
    return 0;
}

static void mem_close_link(struct swarm_transport_backend *b, uint64_t link)
{
    mem_inst *m = (mem_inst *)b;
    if (!m->opened || m->closed)
        return;
    mlink *l = swarm__idmap_get(&m->links, link, 0);
    if (l == NULL)
        return;
    int was_up = l->up;
    link_free(l);
    swarm__requests_incoming_drop(m->req, link);
    /* Pending requests fail and link_down is reported from the loop, not from inside this call. */
    item *it = calloc(1, sizeof *it);
    if (it == NULL) {
        logf_(m, SWARM_LOG_ERROR, "transport %s: link %llu: out of memory; its requests will time out", m->name,
              (unsigned long long)link);
        return;
    }
    it->kind = IT_CLOSED;
    it->link = link;
    it->was_up = was_up;
    loop_push(m, it, Q_LOCAL, 0);
}

static int check_msg(const swarm_transport_msg *msg)
{
    if (msg == NULL || (msg->len > 0 && msg->body == NULL))
        return swarm__error_set(SWARM_EINVALID, "message is NULL");
    if (msg->len > SWARM_TRANSPORT_MAX_MESSAGE)
        return swarm__error_set(SWARM_EINVALID, "message of %zu bytes exceeds the limit of %u bytes", msg->len,
                                (unsigned)SWARM_TRANSPORT_MAX_MESSAGE);
    return 0;
}

static int up_link(mem_inst *m, uint64_t link, mlink **out)
{
    mlink *l = swarm__idmap_get(&m->links, link, 0);
    if (l == NULL || !l->up || l->pipe == NULL)
        return swarm__error_set(SWARM_EUNAVAILABLE, "link %llu is down", (unsigned long long)link);
    *out = l;
    return 0;
}

/* Puts an encoded frame on the wire (takes it). Lost silently to the drop knob or a dead pipe. */
static void transmit(mem_inst *m, mlink *l, uint8_t *frame, size_t len)
{
    swarm__mem_network *net = m->net;
    item *it = calloc(1, sizeof *it);
    pthread_mutex_lock(&net->lock);
    mem_pipe *p = l->pipe;
    mem_inst *dest = p->end[1 - l->side];
    int lost = it == NULL || p->dead || dest == NULL || (net->drop > 0 && random01(net) < net->drop);
    if (!lost) {
        it->kind = IT_DATA;
        it->pipe = p;
        it->to_side = 1 - l->side;
        it->frame = frame;
        it->len = len;
        it->delay = net->delay;
        p->refs++;
        inbox_push(net, dest, it);
    }
    pthread_mutex_unlock(&net->lock);
    if (lost) {
        free(it);
        free(frame);
    }
    flush_posts(net);
}

static int encode(uint8_t **frame, size_t *len, uint8_t kind, uint64_t id, const swarm_transport_msg *msg)
{
    swarm__err e;
    int rc = swarm__envelope_encode(frame, len, kind, msg->type, id, msg->body, msg->len, &e);
    return rc != 0 ? swarm__err_raise(&e) : 0;
}

static int mem_send(struct swarm_transport_backend *b, uint64_t link, const swarm_transport_msg *msg)
{
    mem_inst *m = (mem_inst *)b;
    mlink *l = NULL;
    uint8_t *frame;
    size_t len;
    int rc = usable(m);
    if (rc != 0 || (rc = check_msg(msg)) != 0 || (rc = up_link(m, link, &l)) != 0 ||
        (rc = encode(&frame, &len, SWARM__ENVELOPE_ONEWAY, 0, msg)) != 0)
        return rc;
    transmit(m, l, frame, len);
    return 0;
}

static int mem_request(struct swarm_transport_backend *b, uint64_t link, const swarm_transport_msg *msg,
                       int64_t timeout_ms, swarm_transport_response_cb cb, void *payload)
{
    mem_inst *m = (mem_inst *)b;
    mlink *l = NULL;
    uint8_t *frame;
    size_t len;
    uint64_t id;
    int rc = usable(m);
    if (rc != 0 || (rc = check_msg(msg)) != 0)
        return rc;
    if (cb == NULL || timeout_ms <= 0)
        return swarm__error_set(SWARM_EINVALID, "request: needs a callback and a positive timeout");
    if ((rc = up_link(m, link, &l)) != 0)
        return rc;
    if ((rc = swarm__requests_add(m->req, link, timeout_ms, cb, payload, &id)) != 0)
        return swarm__error_set(rc, "request: %s", swarm_strerror(rc));
    if ((rc = encode(&frame, &len, SWARM__ENVELOPE_REQUEST, id, msg)) != 0) {
        swarm__requests_cancel(m->req, id);
        return rc;
    }
    transmit(m, l, frame, len);
    return 0;
}

static int mem_respond(struct swarm_transport_backend *b, uint64_t link, uint64_t request_id,
                       const swarm_transport_msg *msg)
{
    mem_inst *m = (mem_inst *)b;
    mlink *l = NULL;
    uint8_t *frame;
    size_t len;
    int rc = usable(m);
    if (rc != 0 || (rc = check_msg(msg)) != 0)
        return rc;
    if (request_id == 0 || up_link(m, link, &l) != 0)
        return swarm__error_set(SWARM_ENOTFOUND, "no request %llu on link %llu", (unsigned long long)request_id,
                                (unsigned long long)link);
    if ((rc = encode(&frame, &len, SWARM__ENVELOPE_RESPONSE, request_id, msg)) != 0)
        return rc;
    if (swarm__requests_incoming_take(m->req, link, request_id) != 0) {
        free(frame);
        return swarm__error_set(SWARM_ENOTFOUND, "no request %llu on link %llu", (unsigned long long)request_id,
                                (unsigned long long)link);
    }
    transmit(m, l, frame, len);
    return 0;
}

static uint64_t up_id(const void *v)
{
    const mlink *l = v;
    return l->up ? l->id : 0;
}

static void release_link(void *v)
{
    link_free(v);
}

static void mem_close(struct swarm_transport_backend *b)
{
    mem_inst *m = (mem_inst *)b;
    swarm__mem_network *net = m->net;
    if (m->closed)
        return;
    m->closed = 1;
    if (!m->opened)
        return;
    /* Leave the network: every connection of ours goes down for its other end. */
    pthread_mutex_lock(&net->lock);
    m->net_closed = 1;
    free(m->listen_addr);
    m->listen_addr = NULL;
    for (mem_pipe *p = net->pipes; p; p = p->next)
        for (int s = 0; s < 2; s++)
            if (p->end[s] == m) {
                pipe_kill_locked(net, p, m);
                p->end[s] = NULL;
            }
    item *inbox = m->in_head;
    m->in_head = m->in_tail = NULL;
    pthread_mutex_unlock(&net->lock);
    flush_posts(net);
    while (inbox) {
        item *it = inbox;
        inbox = it->next;
        free_item(net, it);
    }
    while (m->timers) {
        tmr *t = m->timers;
        m->timers = t->next;
        m->host.cancel_timer(m->host.ctx, t->token);
        free(t);
    }
    item *closed_items = m->q_head[Q_LOCAL];
    m->q_head[Q_LOCAL] = m->q_tail[Q_LOCAL] = NULL;
    while (m->q_head[Q_NET]) {
        item *it = m->q_head[Q_NET];
        m->q_head[Q_NET] = it->next;
        free_item(net, it);
    }
    m->q_tail[Q_NET] = NULL;

    uint64_t *down;
    size_t n_down = swarm__idmap_drain(&m->links, up_id, release_link, &down);
    swarm__requests_incoming_drop(m->req, 0);
    swarm__requests_fail(m->req, 0, SWARM_EUNAVAILABLE);
    while (closed_items) {
        item *it = closed_items;
        closed_items = it->next;
        if (it->was_up)
            m->host.link_down(m->host.ctx, it->link);
        free(it);
    }
    for (size_t i = 0; i < n_down; i++)
        m->host.link_down(m->host.ctx, down[i]);
    free(down);
}

static void mem_free(struct swarm_transport_backend *b)
{
    mem_inst *m = (mem_inst *)b;
    if (m == NULL)
        return;
    mem_close(b);
    swarm__mem_network *net = m->net;
    pthread_mutex_lock(&net->lock);
    m->net_closed = 1;
    free(m->listen_addr);
    m->listen_addr = NULL;
    for (mem_inst **pp = &net->instances; *pp; pp = &(*pp)->net_next)
        if (*pp == m) {
            *pp = m->net_next;
            break;
        }
    pthread_mutex_unlock(&net->lock);
    swarm__requests_free(m->req);
    m->req = NULL;
    swarm__idmap_fini(&m->links);
    inst_unref(m);
}

int swarm__transport_mem_new(struct swarm_transport_backend **out, swarm__mem_network *net, const char *node_name)
{
    if (out == NULL || net == NULL || node_name == NULL || node_name[0] == '\0')
        return swarm__error_set(SWARM_EINVALID, "mem transport: needs a network and a node name");
    mem_inst *m = calloc(1, sizeof *m);
    if (m == NULL || (m->name = strdup(node_name)) == NULL) {
        free(m);
        return swarm__error_nomem();
    }
    m->net = net;
    m->refs = 1;
    m->next_link = 1;
    m->base.version = SWARM_TRANSPORT_BACKEND_VERSION;
    m->base.name = "mem";
    m->base.open = mem_open;
    m->base.set_tls = mem_set_tls;
    m->base.listen = mem_listen;
    m->base.dial = mem_dial;
    m->base.close_link = mem_close_link;
    m->base.send = mem_send;
    m->base.request = mem_request;
    m->base.respond = mem_respond;
    m->base.close = mem_close;
    m->base.free = mem_free;
    pthread_mutex_lock(&net->lock);
    net->refs++;
    m->net_next = net->instances;
    net->instances = m;
    pthread_mutex_unlock(&net->lock);
    *out = &m->base;
    return 0;
}

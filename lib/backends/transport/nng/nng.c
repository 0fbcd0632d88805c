/*
 * The "nng" transport: envelopes framed over nng byte streams, tcp:// or
 * (after set_tls) tls+tcp:// with mutual TLS under the cluster CA.
 *
 * Why streams and not pair1: nng 1.5's pair1 polyamorous mode is best effort
 * (a per-pipe queue of 2 messages, overflow silently dropped: a burst of 1000
 * small messages lost 5% of them here, of 100 kB messages 95%), while links
 * must carry every message in order. On streams each connection is a link of
 * its own, ordered and lossless, with our own length checks (the envelope
 * decoder refuses bodies above SWARM_TRANSPORT_MAX_MESSAGE before allocating:
 * that is NNG_OPT_RECVMAXSZ's job here) and our own redial with backoff.
 *
 * Every connection starts with a HELLO frame each way; a link is reported up
 * only once the peer's HELLO arrived, so after the TLS handshake succeeded on
 * both sides (a peer failing it never shows up).
 *
 * Threads: nng completes aios on its own threads. Their callbacks only queue
 * the (embedded) event on the hub and host->post a drain; everything else runs
 * on the loop. Objects with aios are torn down with nng_aio_stop (which waits
 * for a running callback) and their queued events purged; the memory is kept
 * on a graveyard until no handler of ours is on the stack.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
/* The tls header is not self-contained: nng.h first. */
#include <nng/supplemental/tls/tls.h>

#include "swarm/log.h"
#include "transport/envelope.h"
#include "transport/idmap.h"
#include "transport/requests.h"
#include "transport/transport.h"

#define HELLO_TIMEOUT_MS 10000
#define DIAL_TIMEOUT_MS 10000
#define ACCEPT_RETRY_MS 100

typedef struct nb nb;
typedef struct hub hub;
typedef struct conn conn;
typedef struct nlink nlink;

enum { EV_ACCEPT, EV_DIAL, EV_SEND, EV_RECV, EV_CLOSED };

/* A completion waiting for the loop; embedded in its object (one per aio), or malloc'd for EV_CLOSED. */
typedef struct event {
    struct event *prev, *next;
    int queued;
    int kind;
    hub *hub;
    void *obj;
    uint64_t link; /* EV_CLOSED */
    int was_up;    /* EV_CLOSED */
} event;

/* The hand-off from nng's threads to the loop. Outlives the backend while a drain is posted. */
struct hub {
    pthread_mutex_t lock;
    event *head, *tail;
    int scheduled, refs, closed;
    swarm_transport_host host;
    nb *b;
};

typedef struct frame {
    struct frame *next;
    uint8_t *data;
    size_t len;
} frame;

/* One connection (stream) of a link. */
struct conn {
    nb *b;
    nlink *link;
    nng_stream *stream;
    nng_aio *send_aio, *recv_aio;
    event send_ev, recv_ev;
    frame *q_head, *q_tail;
    size_t q_off;
    int sending;
    uint8_t hdr[SWARM__ENVELOPE_HEADER_SIZE];
    size_t hdr_got;
    swarm__envelope env;
    uint8_t *body;
    size_t body_got;
    int in_body;
    void *hello_timer;
    int hello_seen, dead;
    conn *grave_next;
};

struct nlink {
    nb *b;
    uint64_t id;
    int dialed, tls;
    char *addr; /* dialed address, or the peer's socket address */
    nng_stream_dialer *dialer;
    nng_aio *dial_aio;
    event dial_ev;
    void *redial_timer;
    int backoff_ms;
    conn *conn;
    int up, dead;
    nlink *grave_next;
};

typedef struct listener {
    nb *b;
    nng_stream_listener *sl;
    nng_aio *aio;
    event ev;
    void *retry_timer;
    int tls;
} listener;

struct nb {
    struct swarm_transport_backend base;
    swarm_transport_host host;
    int opened, closed, busy;
    int tls_on; /* set_tls gave material: endpoints use tls+tcp:// */
    hub *hub;
    swarm__requests *req;
    swarm__idmap links; /* (id, 0) -> nlink */
    uint64_t next_link;
    listener *listener;
    nng_tls_config *server_tls, *client_tls;
    conn *conn_graves;
    nlink *link_graves;
};

static void logf_(nb *b, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logf_(nb *b, int level, const char *fmt, ...)
{
    if (b->host.log == NULL)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    b->host.log(b->host.ctx, level, msg);
}

/* nng_tls_config_free is not NULL-safe. */
static void tls_config_release(nng_tls_config *c)
{
    if (c != NULL)
        nng_tls_config_free(c);
}

/* ---- hub ---------------------------------------------------------------- */

static void hub_unref(hub *h)
{
    pthread_mutex_lock(&h->lock);
    int last = --h->refs == 0;
    pthread_mutex_unlock(&h->lock);
    if (last) {
        pthread_mutex_destroy(&h->lock);
        free(h);
    }
}

static void unlink_event(hub *h, event *ev)
{
    if (ev->prev)
        ev->prev->next = ev->next;
    else
        h->head = ev->next;
    if (ev->next)
        ev->next->prev = ev->prev;
    else
        h->tail = ev->prev;
    ev->prev = ev->next = NULL;
    ev->queued = 0;
}

static void hub_drain(void *arg);

/* Any thread. */
static void hub_push(hub *h, event *ev)
{
    int post = 0;
    pthread_mutex_lock(&h->lock);
    if (!h->closed && !ev->queued) {
        ev->queued = 1;
        ev->next = NULL;
        ev->prev = h->tail;
        if (h->tail)
            h->tail->next = ev;
        else
            h->head = ev;
        h->tail = ev;
        if (!h->scheduled) {
            h->scheduled = 1;
            h->refs++;
            post = 1;
        }
    }
    pthread_mutex_unlock(&h->lock);
    if (post && h->host.post(h->host.ctx, hub_drain, h) != 0) {
        /* Left queued: the next completion posts again. */
        pthread_mutex_lock(&h->lock);
        h->scheduled = 0;
        h->refs--;
        pthread_mutex_unlock(&h->lock);
    }
}

static void hub_purge(hub *h, event *ev)
{
    pthread_mutex_lock(&h->lock);
    if (ev->queued)
        unlink_event(h, ev);
    pthread_mutex_unlock(&h->lock);
}

/* nng thread: never more than queueing the event. */
static void aio_cb(void *arg)
{
    event *ev = arg;
    hub_push(ev->hub, ev);
}

/* ---- graveyard ---------------------------------------------------------- */

static void reap(nb *b)
{
    while (b->conn_graves) {
        conn *c = b->conn_graves;
        b->conn_graves = c->grave_next;
        nng_aio_free(c->send_aio);
        nng_aio_free(c->recv_aio);
        nng_stream_free(c->stream);
        free(c);
    }
    while (b->link_graves) {
        nlink *l = b->link_graves;
        b->link_graves = l->grave_next;
        nng_aio_free(l->dial_aio);
        nng_stream_dialer_free(l->dialer);
        free(l->addr);
        free(l);
    }
}

static void leave(nb *b)
{
    if (--b->busy == 0)
        reap(b);
}

/* ---- connections -------------------------------------------------------- */

static void free_frames(conn *c)
{
    while (c->q_head) {
        frame *f = c->q_head;
        c->q_head = f->next;
        free(f->data);
        free(f);
    }
    c->q_tail = NULL;
    c->q_off = 0;
}

/* Stops the connection's I/O (no callbacks). */
static void conn_kill(conn *c)
{
    if (c->dead)
        return;
    nb *b = c->b;
    c->dead = 1;
    nng_stream_close(c->stream);
    nng_aio_stop(c->send_aio);
    nng_aio_stop(c->recv_aio);
    hub_purge(b->hub, &c->send_ev);
    hub_purge(b->hub, &c->recv_ev);
    if (c->hello_timer)
        b->host.cancel_timer(b->host.ctx, c->hello_timer);
    c->hello_timer = NULL;
    free_frames(c);
    free(c->body);
    c->body = NULL;
    c->grave_next = b->conn_graves;
    b->conn_graves = c;
}

static void send_next(conn *c)
{
    if (c->dead || c->sending || c->q_head == NULL)
        return;
    c->sending = 1;
    nng_iov iov = {c->q_head->data + c->q_off, c->q_head->len - c->q_off};
    nng_aio_set_iov(c->send_aio, 1, &iov);
    nng_stream_send(c->stream, c->send_aio);
}

/* Takes data (malloc'd). 0 or SWARM_ENOMEM (data freed). */
static int enqueue(conn *c, uint8_t *data, size_t len)
{
    frame *f = malloc(sizeof *f);
    if (f == NULL) {
        free(data);
        return SWARM_ENOMEM;
    }
    f->next = NULL;
    f->data = data;
    f->len = len;
    if (c->q_tail)
        c->q_tail->next = f;
    else
        c->q_head = f;
    c->q_tail = f;
    send_next(c);
    return 0;
}

static void recv_next(conn *c)
{
    if (c->dead)
        return;
    nng_iov iov;
    if (!c->in_body) {
        iov.iov_buf = c->hdr + c->hdr_got;
        iov.iov_len = sizeof c->hdr - c->hdr_got;
    } else {
        iov.iov_buf = c->body + c->body_got;
        iov.iov_len = c->env.body_len - c->body_got;
    }
    nng_aio_set_iov(c->recv_aio, 1, &iov);
    nng_stream_recv(c->stream, c->recv_aio);
}

static void schedule_redial(nlink *l);

static void link_remove(nlink *l)
{
    nb *b = l->b;
    if (l->dead)
        return;
    l->dead = 1;
    swarm__idmap_del(&b->links, l->id, 0);
    if (l->redial_timer)
        b->host.cancel_timer(b->host.ctx, l->redial_timer);
    l->redial_timer = NULL;
    if (l->dialer)
        nng_stream_dialer_close(l->dialer);
    if (l->dial_aio)
        nng_aio_stop(l->dial_aio);
    hub_purge(b->hub, &l->dial_ev);
    if (l->conn)
        conn_kill(l->conn);
    l->conn = NULL;
    l->grave_next = b->link_graves;
    b->link_graves = l;
}

/* The link's connection failed or was refused: report, then redial (dialed) or forget (accepted). */
static void link_lost(nlink *l)
{
    nb *b = l->b;
    uint64_t id = l->id;
    int was_up = l->up;
    if (l->conn)
        conn_kill(l->conn);
    l->conn = NULL;
    l->up = 0;
    if (l->dialed)
        schedule_redial(l);
    else
        link_remove(l);
    if (was_up) {
        swarm__requests_incoming_drop(b->req, id);
        swarm__requests_fail(b->req, id, SWARM_EUNAVAILABLE);
        if (!b->closed)
            b->host.link_down(b->host.ctx, id);
    }
}

static void conn_fail(conn *c, const char *what, int rv)
{
    nlink *l = c->link;
    logf_(c->b, (l->up ? SWARM_LOG_INFO : SWARM_LOG_DEBUG), "transport: link %llu (%s): %s: %s",
          (unsigned long long)l->id, l->addr, what, nng_strerror(rv));
    link_lost(l);
}

static void on_hello_timeout(void *arg)
{
    conn *c = arg;
    nb *b = c->b;
    c->hello_timer = NULL;
    b->busy++;
    conn_fail(c, "no hello from the peer", NNG_ETIMEDOUT);
    leave(b);
}

/* Takes stream; NULL (stream closed) on failure. */
static conn *conn_new(nb *b, nlink *l, nng_stream *stream)
{
    conn *c = calloc(1, sizeof *c);
    uint8_t *hello = NULL;
    size_t hello_len = 0;
    if (c == NULL)
        goto fail;
    c->b = b;
    c->link = l;
    c->stream = stream;
    c->send_ev = (event){.kind = EV_SEND, .hub = b->hub, .obj = c};
    c->recv_ev = (event){.kind = EV_RECV, .hub = b->hub, .obj = c};
    if (nng_aio_alloc(&c->send_aio, aio_cb, &c->send_ev) != 0 ||
        nng_aio_alloc(&c->recv_aio, aio_cb, &c->recv_ev) != 0)
        goto fail;
    if (swarm__envelope_encode(&hello, &hello_len, SWARM__ENVELOPE_HELLO, 0, 0, NULL, 0, NULL) != 0)
        goto fail;
    if (b->host.timer(b->host.ctx, HELLO_TIMEOUT_MS, on_hello_timeout, c, &c->hello_timer) != 0)
        goto fail;
    (void)nng_stream_set_bool(stream, NNG_OPT_TCP_NODELAY, true);
    (void)nng_stream_set_bool(stream, NNG_OPT_TCP_KEEPALIVE, true);
    l->conn = c;
    if (enqueue(c, hello, hello_len) != 0) {
        hello = NULL;
        l->conn = NULL;
        goto fail;
    }
    recv_next(c);
    return c;
fail:
    free(hello);
    if (c != NULL) {
        if (c->hello_timer)
            b->host.cancel_timer(b->host.ctx, c->hello_timer);
        nng_aio_free(c->send_aio);
        nng_aio_free(c->recv_aio);
        free(c);
    }
    nng_stream_close(stream);
    nng_stream_free(stream);
    logf_(b, SWARM_LOG_ERROR, "transport: link %llu: out of memory", (unsigned long long)l->id);
    return NULL;
}

static void protocol_error(conn *c, const char *why)
{
    logf_(c->b, SWARM_LOG_WARN, "transport: link %llu (%s): protocol error: %s", (unsigned long long)c->link->id,
          c->link->addr, why);
    link_lost(c->link);
}

/* A whole frame arrived. May run host callbacks: c may be dead afterwards. */
static void deliver(conn *c, const swarm__envelope *env, const uint8_t *body)
{
    nb *b = c->b;
    nlink *l = c->link;
    if (!c->hello_seen) {
        if (env->kind != SWARM__ENVELOPE_HELLO) {
            protocol_error(c, "first frame is not a hello");
            return;
        }
        c->hello_seen = 1;
        if (c->hello_timer)
            b->host.cancel_timer(b->host.ctx, c->hello_timer);
        c->hello_timer = NULL;
        l->up = 1;
        l->backoff_ms = SWARM__TRANSPORT_REDIAL_MIN_MS;
        logf_(b, SWARM_LOG_DEBUG, "transport: link %llu (%s) up", (unsigned long long)l->id, l->addr);
        b->host.link_up(b->host.ctx, l->id, l->addr, !l->dialed);
        return;
    }
    swarm_transport_msg msg = {env->type, body, env->body_len};
    switch (env->kind) {
    case SWARM__ENVELOPE_ONEWAY:
        b->host.receive(b->host.ctx, l->id, 0, &msg);
        break;
    case SWARM__ENVELOPE_REQUEST: {
        int rc = swarm__requests_incoming_add(b->req, l->id, env->request_id);
        if (rc == SWARM_EEXISTS) {
            protocol_error(c, "duplicate request id");
            return;
        }
        if (rc != 0) {
            logf_(b, SWARM_LOG_ERROR, "transport: link %llu: out of memory, request dropped",
                  (unsigned long long)l->id);
            return;
        }
        b->host.receive(b->host.ctx, l->id, env->request_id, &msg);
        break;
    }
    case SWARM__ENVELOPE_RESPONSE:
        /* Unknown ids are answers that came after their deadline. */
        (void)swarm__requests_complete(b->req, l->id, env->request_id, &msg);
        break;
    default:
        protocol_error(c, "unexpected hello");
        break;
    }
}

static void on_recv(conn *c)
{
    int rv = nng_aio_result(c->recv_aio);
    if (rv != 0) {
        conn_fail(c, "receive", rv);
        return;
    }
    size_t n = nng_aio_count(c->recv_aio);
    if (!c->in_body) {
        c->hdr_got += n;
        if (c->hdr_got < sizeof c->hdr) {
            recv_next(c);
            return;
        }
        swarm__err e;
        if (swarm__envelope_decode_header(&c->env, c->hdr, sizeof c->hdr, &e) != 0) {
            protocol_error(c, e.message);
            return;
        }
        c->hdr_got = 0;
        if (c->env.body_len > 0) {
            c->body = malloc(c->env.body_len);
            if (c->body == NULL) {
                conn_fail(c, "receive", NNG_ENOMEM);
                return;
            }
            c->in_body = 1;
            c->body_got = 0;
            recv_next(c);
            return;
        }
    } else {
        c->body_got += n;
        if (c->body_got < c->env.body_len) {
            recv_next(c);
            return;
        }
    }
    swarm__envelope env = c->env;
    uint8_t *body = c->body;
    c->body = NULL;
    c->in_body = 0;
    c->body_got = 0;
    deliver(c, &env, body);
    free(body);
    recv_next(c);
}

static void on_send(conn *c)
{
    int rv = nng_aio_result(c->send_aio);
    c->sending = 0;
    if (rv != 0) {
        conn_fail(c, "send", rv);
        return;
    }
    c->q_off += nng_aio_count(c->send_aio);
    if (c->q_head != NULL && c->q_off >= c->q_head->len) {
        frame *f = c->q_head;
        c->q_head = f->next;
        if (c->q_head == NULL)
            c->q_tail = NULL;
        free(f->data);
        free(f);
        c->q_off = 0;
    }
    send_next(c);
}

/* ---- dialing and accepting ---------------------------------------------- */

static void start_dial(nlink *l)
{
    nng_aio_set_timeout(l->dial_aio, DIAL_TIMEOUT_MS);
    nng_stream_dialer_dial(l->dialer, l->dial_aio);
}

static void on_redial_timer(void *arg)
{
    nlink *l = arg;
    nb *b = l->b;
    l->redial_timer = NULL;
    b->busy++;
    start_dial(l);
    leave(b);
}

static void schedule_redial(nlink *l)
{
    nb *b = l->b;
    if (b->closed || l->dead || l->redial_timer != NULL)
        return;
    int ms = l->backoff_ms;
    l->backoff_ms = ms * 2 > SWARM__TRANSPORT_REDIAL_MAX_MS ? SWARM__TRANSPORT_REDIAL_MAX_MS : ms * 2;
    if (b->host.timer(b->host.ctx, ms, on_redial_timer, l, &l->redial_timer) != 0) {
        l->redial_timer = NULL;
        logf_(b, SWARM_LOG_ERROR, "transport: link %llu (%s): cannot arm the redial timer",
              (unsigned long long)l->id, l->addr);
    }
}

static void on_dial(nlink *l)
{
    nb *b = l->b;
    int rv = nng_aio_result(l->dial_aio);
    if (rv != 0) {
        logf_(b, SWARM_LOG_DEBUG, "transport: link %llu: dial %s: %s", (unsigned long long)l->id, l->addr,
              nng_strerror(rv));
        schedule_redial(l);
        return;
    }
    nng_stream *s = nng_aio_get_output(l->dial_aio, 0);
    if (conn_new(b, l, s) == NULL)
        schedule_redial(l);
}

static char *remote_string(nng_stream *s)
{
    nng_sockaddr sa;
    char host[INET6_ADDRSTRLEN] = "?", buf[INET6_ADDRSTRLEN + 16];
    if (nng_stream_get_addr(s, NNG_OPT_REMADDR, &sa) != 0)
        return strdup("unknown");
    if (sa.s_family == NNG_AF_INET) {
        inet_ntop(AF_INET, &sa.s_in.sa_addr, host, sizeof host);
        snprintf(buf, sizeof buf, "%s:%u", host, (unsigned)ntohs(sa.s_in.sa_port));
    } else if (sa.s_family == NNG_AF_INET6) {
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, host, sizeof host);
        snprintf(buf, sizeof buf, "[%s]:%u", host, (unsigned)ntohs(sa.s_in6.sa_port));
    } else {
        snprintf(buf, sizeof buf, "unknown");
    }
    return strdup(buf);
}

static void on_accept_retry(void *arg)
{
    listener *ls = arg;
    ls->retry_timer = NULL;
    nng_stream_listener_accept(ls->sl, ls->aio);
}

static void on_accept(listener *ls)
{
    nb *b = ls->b;
    int rv = nng_aio_result(ls->aio);
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
        return;
    if (rv != 0) {
        logf_(b, SWARM_LOG_WARN, "transport: accept: %s", nng_strerror(rv));
        if (b->host.timer(b->host.ctx, ACCEPT_RETRY_MS, on_accept_retry, ls, &ls->retry_timer) != 0)
            ls->retry_timer = NULL;
        return;
    }
    nng_stream *s = nng_aio_get_output(ls->aio, 0);
    nlink *l = calloc(1, sizeof *l);
    char *addr = remote_string(s);
    if (l == NULL || addr == NULL || swarm__idmap_put(&b->links, b->next_link, 0, l) != 0) {
        free(l);
        free(addr);
        nng_stream_close(s);
        nng_stream_free(s);
        logf_(b, SWARM_LOG_ERROR, "transport: accept: out of memory");
    } else {
        l->b = b;
        l->id = b->next_link++;
        l->addr = addr;
        l->dial_ev = (event){.kind = EV_DIAL, .hub = b->hub, .obj = l};
        if (conn_new(b, l, s) == NULL)
            link_remove(l);
    }
    nng_stream_listener_accept(ls->sl, ls->aio);
}

static void on_closed_event(nb *b, event *ev)
{
    uint64_t id = ev->link;
    int was_up = ev->was_up;
    free(ev);
    swarm__requests_fail(b->req, id, SWARM_EUNAVAILABLE);
    if (was_up && !b->closed)
        b->host.link_down(b->host.ctx, id);
}

static void hub_drain(void *arg)
{
    hub *h = arg;
    pthread_mutex_lock(&h->lock);
    h->scheduled = 0;
    int closed = h->closed;
    pthread_mutex_unlock(&h->lock);
    if (!closed) {
        nb *b = h->b;
        b->busy++;
        for (;;) {
            pthread_mutex_lock(&h->lock);
            event *ev = h->closed ? NULL : h->head;
            if (ev)
                unlink_event(h, ev);
            pthread_mutex_unlock(&h->lock);
            if (ev == NULL)
                break;
            switch (ev->kind) {
            case EV_ACCEPT:
                on_accept(ev->obj);
                break;
            case EV_DIAL:
                on_dial(ev->obj);
                break;
            case EV_SEND:
                on_send(ev->obj);
                break;
            case EV_RECV:
                on_recv(ev->obj);
                break;
            case EV_CLOSED:
                on_closed_event(b, ev);
                break;
            }
        }
        leave(b);
    }
    hub_unref(h);
}

/* ---- methods ------------------------------------------------------------ */

static int usable(nb *b)
{
    if (b->closed)
        return swarm__error_set(SWARM_ECLOSED, "transport is closed");
    if (!b->opened)
        return swarm__error_set(SWARM_EINVALID, "transport is not open");
    return 0;
}

/* "HOST:PORT" (IPv6 as [ADDR]:PORT); an empty host and port 0 only when listening. */
static int check_addr(const char *addr, int listening)
{
    if (addr == NULL || addr[0] == '\0')
        return swarm__error_set(SWARM_EINVALID, "transport address is empty");
    if (strstr(addr, "://") != NULL)
        return swarm__error_set(SWARM_EINVALID, "transport address \"%s\": expected HOST:PORT, not a URL", addr);
    const char *colon = strrchr(addr, ':');
    if (colon == NULL)
        return swarm__error_set(SWARM_EINVALID, "transport address \"%s\": expected HOST:PORT", addr);
    const char *p = colon + 1;
    size_t digits = strspn(p, "0123456789");
    long port = digits > 0 && digits <= 5 ? strtol(p, NULL, 10) : -1;
    if (digits == 0 || p[digits] != '\0' || port > 65535 || (port == 0 && !listening))
        return swarm__error_set(SWARM_EINVALID, "transport address \"%s\": bad port", addr);
    size_t host_len = (size_t)(colon - addr);
    if (host_len == 0 && !listening)
        return swarm__error_set(SWARM_EINVALID, "transport address \"%s\": missing host", addr);
    if (addr[0] == '[' && (host_len < 3 || addr[host_len - 1] != ']'))
        return swarm__error_set(SWARM_EINVALID, "transport address \"%s\": bad IPv6 host", addr);
    if (addr[0] != '[' && memchr(addr, ':', host_len) != NULL)
        return swarm__error_set(SWARM_EINVALID, "transport address \"%s\": write IPv6 hosts as [ADDR]:PORT", addr);
    return 0;
}

static int nb_open(struct swarm_transport_backend *base, const swarm_transport_host *host)
{
    nb *b = (nb *)base;
    if (b->closed)
        return swarm__error_set(SWARM_ECLOSED, "transport is closed");
    if (b->opened)
        return swarm__error_set(SWARM_EINVALID, "transport is already open");
    if (host == NULL || host->version < 1 || !host->link_up || !host->link_down || !host->receive || !host->post ||
        !host->timer || !host->cancel_timer)
        return swarm__error_set(SWARM_EINVALID, "transport host is incomplete");
    b->host = *host;
    b->hub->host = *host;
    if (swarm__requests_new(&b->req, &b->host) != 0)
        return swarm__error_nomem();
    b->opened = 1;
    return 0;
}

/* Builds one side's configuration; NULL ca/cert means none. 0 or an nng error (what says where). */
static int make_tls_config(nng_tls_config **out, int server, const char *ca, const char *cert, const char *key,
                           int auth, const char **what)
{
    nng_tls_config *c = NULL;
    int rv;
    *what = "allocating a configuration";
    if ((rv = nng_tls_config_alloc(&c, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT)) != 0)
        return rv;
    *what = "CA certificate";
    if (ca != NULL && (rv = nng_tls_config_ca_chain(c, ca, NULL)) != 0)
        goto fail;
    *what = "certificate or key";
    if (cert != NULL && (rv = nng_tls_config_own_cert(c, cert, key, NULL)) != 0)
        goto fail;
    /* No server name on clients: peers are identified above the transport, by a signed
     * hello (nng 1.5 cannot show the peer's certificate). */
    *what = "authentication mode";
    if ((rv = nng_tls_config_auth_mode(c, auth)) != 0)
        goto fail;
    *out = c;
    return 0;
fail:
    nng_tls_config_free(c);
    return rv;
}

static int nb_set_tls(struct swarm_transport_backend *base, const swarm_transport_tls *tls)
{
    nb *b = (nb *)base;
    if (b->closed)
        return swarm__error_set(SWARM_ECLOSED, "transport is closed");
    int mode = tls ? tls->mode : SWARM_TLS_MUTUAL;
    if (tls == NULL || (mode == SWARM_TLS_MUTUAL && !tls->ca_pem && !tls->cert_pem && !tls->key_pem)) {
        tls_config_release(b->server_tls);
        tls_config_release(b->client_tls);
        b->server_tls = b->client_tls = NULL;
        b->tls_on = 0;
        return 0;
    }
    nng_tls_config *server = NULL, *client = NULL;
    const char *what = "";
    int rv;
    switch (mode) {
    case SWARM_TLS_MUTUAL:
        if (!tls->ca_pem || !tls->cert_pem || !tls->key_pem)
            return swarm__error_set(SWARM_EINVALID, "tls: the CA, the certificate and the key are all required");
        /* The listener asks every client for a certificate signed by the CA but also admits
         * clients without one (joining nodes). nng 1.5 reports only "verified or not", so a
         * foreign certificate is admitted like none: the layer above authenticates with its
         * signed hello and lets unverified peers do nothing but join. */
        rv = make_tls_config(&server, 1, tls->ca_pem, tls->cert_pem, tls->key_pem, NNG_TLS_AUTH_MODE_OPTIONAL,
                             &what);
        if (rv == 0)
            rv = make_tls_config(&client, 0, tls->ca_pem, tls->cert_pem, tls->key_pem, NNG_TLS_AUTH_MODE_REQUIRED,
                                 &what);
        break;
    case SWARM_TLS_SERVER_AUTH:
        if (!tls->ca_pem)
            return swarm__error_set(SWARM_EINVALID, "tls: server authentication needs the CA");
        rv = make_tls_config(&client, 0, tls->ca_pem, NULL, NULL, NNG_TLS_AUTH_MODE_REQUIRED, &what);
        break;
    case SWARM_TLS_UNVERIFIED:
        rv = make_tls_config(&client, 0, NULL, NULL, NULL, NNG_TLS_AUTH_MODE_NONE, &what);
        break;
    default:
        return swarm__error_set(SWARM_EINVALID, "tls: unknown mode %d", mode);
    }
    if (rv != 0) {
        tls_config_release(server);
        tls_config_release(client);
        return swarm__error_set(rv == NNG_ENOMEM ? SWARM_ENOMEM : SWARM_EINVALID, "tls: %s: %s", what,
                                nng_strerror(rv));
    }
    tls_config_release(b->server_tls);
    tls_config_release(b->client_tls);
    b->server_tls = server;
    b->client_tls = client;
    b->tls_on = 1;
    /* New connections of existing endpoints use the new material too. */
    if (b->listener != NULL && b->listener->tls && b->server_tls != NULL)
        (void)nng_stream_listener_set_ptr(b->listener->sl, NNG_OPT_TLS_CONFIG, b->server_tls);
    for (size_t i = 0; i < b->links.cap; i++) {
        nlink *l = b->links.slots[i].value;
        if (l != NULL && l->dialer != NULL && l->tls)
            (void)nng_stream_dialer_set_ptr(l->dialer, NNG_OPT_TLS_CONFIG, b->client_tls);
    }
    return 0;
}

static int nb_listen(struct swarm_transport_backend *base, const char *addr)
{
    nb *b = (nb *)base;
    int rc = usable(b);
    if (rc != 0 || (rc = check_addr(addr, 1)) != 0)
        return rc;
    if (b->listener != NULL)
        return swarm__error_set(SWARM_EBUSY, "transport is already listening");
    int tls = b->tls_on;
    if (tls && b->server_tls == NULL)
        return swarm__error_set(SWARM_EINVALID, "listen on %s: this TLS mode is for dialing only", addr);
    char url[300];
    if ((size_t)snprintf(url, sizeof url, "%s://%s", tls ? "tls+tcp" : "tcp", addr) >= sizeof url)
        return swarm__error_set(SWARM_EINVALID, "transport address \"%s\" is too long", addr);
    listener *ls = calloc(1, sizeof *ls);
    if (ls == NULL)
        return swarm__error_nomem();
    ls->b = b;
    ls->tls = tls;
    ls->ev = (event){.kind = EV_ACCEPT, .hub = b->hub, .obj = ls};
    int rv = nng_stream_listener_alloc(&ls->sl, url);
    if (rv != 0) {
        free(ls);
        return swarm__error_set(rv == NNG_ENOMEM ? SWARM_ENOMEM : SWARM_EINVALID, "listen on %s: %s", addr,
                                nng_strerror(rv));
    }
    if (tls && (rv = nng_stream_listener_set_ptr(ls->sl, NNG_OPT_TLS_CONFIG, b->server_tls)) != 0)
        rc = swarm__error_set(SWARM_EBACKEND, "listen on %s: tls: %s", addr, nng_strerror(rv));
    else if ((rv = nng_stream_listener_listen(ls->sl)) != 0)
        rc = rv == NNG_EADDRINUSE ? swarm__error_set(SWARM_EBUSY, "listen on %s: address already in use", addr)
             : rv == NNG_EADDRINVAL ? swarm__error_set(SWARM_EINVALID, "listen on %s: invalid address", addr)
                                    : swarm__error_set(SWARM_EIO, "listen on %s: %s", addr, nng_strerror(rv));
    else if ((rv = nng_aio_alloc(&ls->aio, aio_cb, &ls->ev)) != 0)
        rc = swarm__error_nomem();
    if (rc != 0) {
        nng_stream_listener_free(ls->sl);
        free(ls);
        return rc;
    }
    b->listener = ls;
    nng_stream_listener_accept(ls->sl, ls->aio);
    return 0;
}

static int nb_dial(struct swarm_transport_backend *base, const char *addr, uint64_t *link)
{
    nb *b = (nb *)base;
    int rc = usable(b);
    if (rc != 0 || (rc = check_addr(addr, 0)) != 0)
        return rc;
    if (link == NULL)
        return swarm__error_set(SWARM_EINVALID, "dial: link is NULL");
    int tls = b->tls_on;
    char url[300];
    if ((size_t)snprintf(url, sizeof url, "%s://%s", tls ? "tls+tcp" : "tcp", addr) >= sizeof url)
        return swarm__error_set(SWARM_EINVALID, "transport address \"%s\" is too long", addr);
    nlink *l = calloc(1, sizeof *l);
    if (l == NULL || (l->addr = strdup(addr)) == NULL) {
        free(l);
        return swarm__error_nomem();
    }
    l->b = b;
    l->dialed = 1;
    l->tls = tls;
    l->backoff_ms = SWARM__TRANSPORT_REDIAL_MIN_MS;
    l->dial_ev = (event){.kind = EV_DIAL, .hub = b->hub, .obj = l};
    int rv = nng_stream_dialer_alloc(&l->dialer, url);
    if (rv != 0)
        rc = swarm__error_set(rv == NNG_ENOMEM ? SWARM_ENOMEM : SWARM_EINVALID, "dial %s: %s", addr,
                              nng_strerror(rv));
    else if (tls && (rv = nng_stream_dialer_set_ptr(l->dialer, NNG_OPT_TLS_CONFIG, b->client_tls)) != 0)
        rc = swarm__error_set(SWARM_EBACKEND, "dial %s: tls: %s", addr, nng_strerror(rv));
    else if (nng_aio_alloc(&l->dial_aio, aio_cb, &l->dial_ev) != 0 ||
             swarm__idmap_put(&b->links, b->next_link, 0, l) != 0)
        rc = swarm__error_nomem();
    if (rc != 0) {
        nng_aio_free(l->dial_aio);
        nng_stream_dialer_free(l->dialer);
        free(l->addr);
        free(l);
        return rc;
    }
    l->id = b->next_link++;
    *link = l->id;
    start_dial(l);
    return 0;
}

static void nb_close_link(struct swarm_transport_backend *base, uint64_t link)
{
    nb *b = (nb *)base;
    if (!b->opened || b->closed)
        return;
    nlink *l = swarm__idmap_get(&b->links, link, 0);
    if (l == NULL)
        return;
    int was_up = l->up;
    link_remove(l);
    swarm__requests_incoming_drop(b->req, link);
    /* Pending requests fail and link_down is reported from the loop, not from inside this call. */
    event *ev = calloc(1, sizeof *ev);
    if (ev == NULL) {
        logf_(b, SWARM_LOG_ERROR, "transport: link %llu: out of memory; its requests will time out",
              (unsigned long long)link);
    } else {
        ev->kind = EV_CLOSED;
        ev->hub = b->hub;
        ev->link = link;
        ev->was_up = was_up;
        hub_push(b->hub, ev);
    }
    if (b->busy == 0)
        reap(b);
}

/* The connection of an up link, or SWARM_EUNAVAILABLE. */
static int link_conn(nb *b, uint64_t link, conn **out)
{
    nlink *l = swarm__idmap_get(&b->links, link, 0);
    if (l == NULL || !l->up || l->conn == NULL)
        return swarm__error_set(SWARM_EUNAVAILABLE, "link %llu is down", (unsigned long long)link);
    *out = l->conn;
    return 0;
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

static int encode(uint8_t **frame, size_t *len, uint8_t kind, uint64_t id, const swarm_transport_msg *msg)
{
    swarm__err e;
    int rc = swarm__envelope_encode(frame, len, kind, msg->type, id, msg->body, msg->len, &e);
    return rc != 0 ? swarm__err_raise(&e) : 0;
}

static int nb_send(struct swarm_transport_backend *base, uint64_t link, const swarm_transport_msg *msg)
{
    nb *b = (nb *)base;
    conn *c = NULL;
    uint8_t *frame;
    size_t len;
    int rc = usable(b);
    if (rc != 0 || (rc = check_msg(msg)) != 0 || (rc = link_conn(b, link, &c)) != 0 ||
        (rc = encode(&frame, &len, SWARM__ENVELOPE_ONEWAY, 0, msg)) != 0)
        return rc;
    return enqueue(c, frame, len) != 0 ? swarm__error_nomem() : 0;
}

static int nb_request(struct swarm_transport_backend *base, uint64_t link, const swarm_transport_msg *msg,
                      int64_t timeout_ms, swarm_transport_response_cb cb, void *payload)
{
    nb *b = (nb *)base;
    conn *c = NULL;
    uint8_t *frame;
    size_t len;
    uint64_t id;
    int rc = usable(b);
    if (rc != 0 || (rc = check_msg(msg)) != 0)
        return rc;
    if (cb == NULL || timeout_ms <= 0)
        return swarm__error_set(SWARM_EINVALID, "request: needs a callback and a positive timeout");
    if ((rc = link_conn(b, link, &c)) != 0)
        return rc;
    if ((rc = swarm__requests_add(b->req, link, timeout_ms, cb, payload, &id)) != 0)
        return swarm__error_set(rc, "request: %s", swarm_strerror(rc));
    if ((rc = encode(&frame, &len, SWARM__ENVELOPE_REQUEST, id, msg)) != 0 || (rc = enqueue(c, frame, len)) != 0) {
        swarm__requests_cancel(b->req, id);
        return rc == SWARM_ENOMEM ? swarm__error_nomem() : rc;
    }
    return 0;
}

static int nb_respond(struct swarm_transport_backend *base, uint64_t link, uint64_t request_id,
                      const swarm_transport_msg *msg)
{
    nb *b = (nb *)base;
    conn *c = NULL;
    uint8_t *frame;
    size_t len;
    int rc = usable(b);
    if (rc != 0 || (rc = check_msg(msg)) != 0)
        return rc;
    if (request_id == 0 || link_conn(b, link, &c) != 0)
        return swarm__error_set(SWARM_ENOTFOUND, "no request %llu on link %llu", (unsigned long long)request_id,
                                (unsigned long long)link);
    if ((rc = encode(&frame, &len, SWARM__ENVELOPE_RESPONSE, request_id, msg)) != 0)
        return rc;
    if (swarm__requests_incoming_take(b->req, link, request_id) != 0) {
        free(frame);
        return swarm__error_set(SWARM_ENOTFOUND, "no request %llu on link %llu", (unsigned long long)request_id,
                                (unsigned long long)link);
    }
    return enqueue(c, frame, len) != 0 ? swarm__error_nomem() : 0;
}

static uint64_t up_id(const void *v)
{
    const nlink *l = v;
    return l->up ? l->id : 0;
}

static void release_link(void *v)
{
    link_remove(v);
}

static void nb_close(struct swarm_transport_backend *base)
{
    nb *b = (nb *)base;
    if (b->closed)
        return;
    b->closed = 1;
    if (!b->opened)
        return;
    b->busy++;
    /* Stop the hand-off; keep the deferred link closures to report them now. */
    event *closed_events = NULL, **tail = &closed_events;
    pthread_mutex_lock(&b->hub->lock);
    b->hub->closed = 1;
    while (b->hub->head) {
        event *ev = b->hub->head;
        unlink_event(b->hub, ev);
        if (ev->kind == EV_CLOSED) {
            *tail = ev;
            tail = &ev->next;
        }
    }
    pthread_mutex_unlock(&b->hub->lock);

    listener *ls = b->listener;
    b->listener = NULL;
    if (ls != NULL) {
        nng_stream_listener_close(ls->sl);
        nng_aio_free(ls->aio);
        if (ls->retry_timer)
            b->host.cancel_timer(b->host.ctx, ls->retry_timer);
        nng_stream_listener_free(ls->sl);
        free(ls);
    }

    uint64_t *down;
    size_t n_down = swarm__idmap_drain(&b->links, up_id, release_link, &down);

    swarm__requests_incoming_drop(b->req, 0);
    swarm__requests_fail(b->req, 0, SWARM_EUNAVAILABLE);
    while (closed_events) {
        event *ev = closed_events;
        closed_events = ev->next;
        if (ev->was_up)
            b->host.link_down(b->host.ctx, ev->link);
        free(ev);
    }
    for (size_t i = 0; i < n_down; i++)
        b->host.link_down(b->host.ctx, down[i]);
    free(down);
    leave(b);
}

static void nb_free(struct swarm_transport_backend *base)
{
    nb *b = (nb *)base;
    if (b == NULL)
        return;
    nb_close(base);
    reap(b);
    swarm__requests_free(b->req);
    swarm__idmap_fini(&b->links);
    tls_config_release(b->server_tls);
    tls_config_release(b->client_tls);
    pthread_mutex_lock(&b->hub->lock);
    b->hub->closed = 1;
    b->hub->b = NULL;
    pthread_mutex_unlock(&b->hub->lock);
    hub_unref(b->hub);
    free(b);
}

int swarm__transport_nng_new(struct swarm_transport_backend **out)
{
    nb *b = calloc(1, sizeof *b);
    hub *h = calloc(1, sizeof *h);
    if (b == NULL || h == NULL || pthread_mutex_init(&h->lock, NULL) != 0) {
        free(b);
        free(h);
        return swarm__error_nomem();
    }
    h->refs = 1;
    h->b = b;
    b->hub = h;
    b->next_link = 1;
    b->base.version = SWARM_TRANSPORT_BACKEND_VERSION;
    b->base.name = "nng";
    b->base.open = nb_open;
    b->base.set_tls = nb_set_tls;
    b->base.listen = nb_listen;
    b->base.dial = nb_dial;
    b->base.close_link = nb_close_link;
    b->base.send = nb_send;
    b->base.request = nb_request;
    b->base.respond = nb_respond;
    b->base.close = nb_close;
    b->base.free = nb_free;
    *out = &b->base;
    return 0;
}

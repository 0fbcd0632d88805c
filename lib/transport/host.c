/* A transport host's loop services on libevent + swarm__timers. See host.h. */
#include "transport/host.h"

#include "core/log.h"
#include "swarm/errors.h"

#include <stdlib.h>

struct swarm__posted {
    void (*fn)(void *);
    void *arg;
    swarm__posted *next;
};

static void drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    swarm__host_loop *h = arg;
    for (;;) {
        pthread_mutex_lock(&h->lock);
        swarm__posted *p = h->head;
        if (p) {
            h->head = p->next;
            if (h->head == NULL)
                h->tail = NULL;
        }
        pthread_mutex_unlock(&h->lock);
        if (p == NULL)
            return;
        p->fn(p->arg);
        free(p);
    }
}

static int post(void *ctx, void (*fn)(void *), void *arg)
{
    swarm__host_loop *h = ctx;
    swarm__posted *p = calloc(1, sizeof *p);
    if (p == NULL)
        return SWARM_ENOMEM;
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&h->lock);
    if (h->tail)
        h->tail->next = p;
    else
        h->head = p;
    h->tail = p;
    pthread_mutex_unlock(&h->lock);
    event_active(h->wake, 0, 0);
    return 0;
}

static int timer(void *ctx, int64_t ms, void (*cb)(void *), void *payload, void **token)
{
    return swarm__oneshot(((swarm__host_loop *)ctx)->timers, ms, cb, payload, token);
}

static void cancel_timer(void *ctx, void *token)
{
    (void)ctx;
    swarm__oneshot_cancel(token);
}

static void log_line(void *ctx, int level, const char *message)
{
    swarm__host_loop *h = ctx;
    if (h->log_module)
        swarm__log(level, h->log_module, "%s", message);
}

int swarm__host_loop_init(swarm__host_loop *h, struct event_base *base, swarm__timers *timers,
                          const char *log_module)
{
    h->timers = timers;
    h->log_module = log_module;
    h->head = h->tail = NULL;
    h->wake = event_new(base, -1, 0, drain, h);
    if (h->wake == NULL)
        return SWARM_ENOMEM;
    pthread_mutex_init(&h->lock, NULL);
    return 0;
}

void swarm__host_loop_close(swarm__host_loop *h)
{
    if (h->wake == NULL)
        return;
    drain(-1, 0, h); /* nothing may be left behind */
    event_free(h->wake);
    h->wake = NULL;
    pthread_mutex_destroy(&h->lock);
}

swarm_transport_host swarm__host_loop_host(void *ctx,
                                           void (*link_up)(void *ctx, uint64_t link, const char *addr, int accepted),
                                           void (*link_down)(void *ctx, uint64_t link),
                                           void (*receive)(void *ctx, uint64_t link, uint64_t rid,
                                                           const swarm_transport_msg *msg))
{
    swarm_transport_host th = {1, ctx, link_up, link_down, receive, post, timer, cancel_timer, log_line};
    return th;
}

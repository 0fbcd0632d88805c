/*
 * The loop services a transport backend asks of its host (post, timer,
 * cancel_timer, log of swarm_transport_host) for a node whose loop is a
 * libevent base with swarm__timers: the same for the engine, the test
 * harnesses and the benches. The link callbacks stay the caller's.
 *
 * The host has one ctx for all its callbacks, so the caller's ctx struct
 * must begin with a swarm__host_loop (these functions cast ctx to it).
 * post is safe from any thread; everything else runs on the loop.
 */
#ifndef SWARM_TRANSPORT_HOST_H
#define SWARM_TRANSPORT_HOST_H

#include "core/timers.h"
#include "swarm/sys/transport.h"

#include <event2/event.h>
#include <pthread.h>

typedef struct swarm__posted swarm__posted;

typedef struct swarm__host_loop {
    swarm__timers *timers;
    const char *log_module; /* NULL: the backend's log lines are dropped (tests, benches) */
    pthread_mutex_t lock;
    swarm__posted *head, *tail;
    struct event *wake;
} swarm__host_loop;

/* 0 or SWARM_ENOMEM. */
int swarm__host_loop_init(swarm__host_loop *h, struct event_base *base, swarm__timers *timers,
                          const char *log_module);
/* Runs what is still posted, then frees. Safe on a zeroed (never initialised) struct. */
void swarm__host_loop_close(swarm__host_loop *h);
/* A host whose post/timer/log are h's (ctx begins with h) and whose link callbacks are given. */
swarm_transport_host swarm__host_loop_host(void *ctx,
                                           void (*link_up)(void *ctx, uint64_t link, const char *addr, int accepted),
                                           void (*link_down)(void *ctx, uint64_t link),
                                           void (*receive)(void *ctx, uint64_t link, uint64_t rid,
                                                           const swarm_transport_msg *msg));

#endif

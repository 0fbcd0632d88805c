/*
 * The node's event loop: one libevent event_base driven by one private
 * thread. All state of a node is touched only on that thread. Other threads
 * reach it by posting a call (swarm__loop_call), which runs on the loop and
 * is waited for with a deadline.
 *
 * A call is a struct that embeds swarm__call first. It is reference counted
 * between the waiting thread and the loop, so a caller that times out can
 * leave; whoever lets go last runs `destroy`.
 */
#ifndef SWARM_CORE_LOOP_H
#define SWARM_CORE_LOOP_H

#include "core/error.h"

#include <event2/event.h>

typedef struct swarm__loop swarm__loop;
typedef struct swarm__call swarm__call;

/* Runs on the loop thread; must lead to exactly one swarm__call_done, now or later (on the loop). */
typedef void (*swarm__call_fn)(swarm__call *call);

struct swarm__call {
    swarm__call_fn run;
    void (*destroy)(swarm__call *call); /* frees the enclosing struct and anything left in it */
    int rc;                              /* result, valid once done */
    swarm__err err;                      /* message when rc != 0 */
    /* private */
    int done;
    int refs;
    swarm__loop *loop;
    swarm__call *next;
};

int swarm__loop_start(swarm__loop **out, swarm__err *e);
struct event_base *swarm__loop_base(swarm__loop *l);
int swarm__loop_on_thread(const swarm__loop *l);

/*
 * Posts call to the loop and waits up to timeout_ms for swarm__call_done.
 * Returns call->rc (0 or a code, also made the thread's last error), or
 * SWARM_ETIMEDOUT / SWARM_ECLOSED / SWARM_EBUSY (called on the loop thread).
 * In every case the caller must then swarm__call_release(call) once, after
 * taking any results out of it.
 */
int swarm__loop_call(swarm__loop *l, swarm__call *call, int timeout_ms);
void swarm__call_release(swarm__call *call);

/* Completes a call (loop thread). err may be NULL when rc == 0. */
void swarm__call_done(swarm__call *call, int rc, const swarm__err *err);

/*
 * Stops the loop: runs teardown(payload) on the loop thread (it must complete
 * or fail every call it holds), joins the thread, fails calls still queued
 * with SWARM_ECLOSED and frees everything. Must not be called on the loop.
 */
void swarm__loop_stop(swarm__loop *l, void (*teardown)(void *payload), void *payload);

#endif

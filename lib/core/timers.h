/*
 * One-shot timers behind one interface, so that a whole cluster can run in
 * one thread on a virtual clock (the test fixture) while a real node uses
 * libevent. A timer is created once, then started (re-armed) and stopped any
 * number of times; its callback runs on the owning loop's thread.
 */
#ifndef SWARM_CORE_TIMERS_H
#define SWARM_CORE_TIMERS_H

#include "core/clock.h"

#include <event2/event.h>

typedef struct swarm__timers swarm__timers;
typedef struct swarm__timer swarm__timer;

/* Real timers on a libevent base. Free with swarm__timers_free. */
swarm__timers *swarm__timers_libevent(struct event_base *base);

/*
 * Virtual timers: nothing fires until swarm__timers_advance moves virtual
 * time. The matching clock (wall and monotonic time both move with it) is
 * swarm__timers_clock; it starts at start_wall_ns.
 */
swarm__timers *swarm__timers_virtual(int64_t start_wall_ns, uint64_t seed);
const swarm__clock *swarm__timers_clock(swarm__timers *ts);
/* Fires, in deadline order (ties: creation order), every timer due within ms; returns how many fired. */
int swarm__timers_advance(swarm__timers *ts, int64_t ms);
/* Milliseconds until the next armed timer, or -1 if none. */
int64_t swarm__timers_next_ms(swarm__timers *ts);

void swarm__timers_free(swarm__timers *ts); /* every timer must be freed first */

swarm__timer *swarm__timer_new(swarm__timers *ts, void (*cb)(void *arg), void *arg);
void swarm__timer_start(swarm__timer *t, int64_t ms); /* re-arms if armed */
void swarm__timer_stop(swarm__timer *t);
int swarm__timer_armed(const swarm__timer *t);
/*
 * Makes t's callback run soon on its loop; callable from ANY thread (the only
 * timer call that is), while t exists. Real timers only: SWARM_ENOTSUPPORTED
 * on virtual ones (a virtual cluster has one thread).
 */
int swarm__timer_wake(swarm__timer *t);
void swarm__timer_free(swarm__timer *t); /* NULL allowed */

/*
 * The one-shot timers backends ask their host for (runtime, transport):
 * cb(payload) runs once after ms unless cancelled first; the timer frees
 * itself. *token (may be NULL) is what swarm__oneshot_cancel takes.
 * 0 or SWARM_ENOMEM.
 */
int swarm__oneshot(swarm__timers *ts, int64_t ms, void (*cb)(void *payload), void *payload, void **token);
void swarm__oneshot_cancel(void *token); /* NULL allowed */

#endif

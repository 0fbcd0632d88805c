#include "core/timers.h"

#include "swarm/errors.h"

#include <stdlib.h>
#include <string.h>

struct swarm__timers {
    struct event_base *base; /* NULL: virtual */
    /* virtual */
    int64_t now_ns, start_wall_ns;
    uint64_t rng;
    swarm__timer **armed; /* unsorted; small sets */
    size_t n_armed, cap_armed;
    uint64_t next_seq;
    swarm__clock clock;
};

struct swarm__timer {
    swarm__timers *ts;
    void (*cb)(void *);
    void *arg;
    struct event *ev; /* libevent */
    int armed;
    int64_t due_ns;   /* virtual */
    uint64_t seq;
};

static void fired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    swarm__timer *t = arg;
    t->armed = 0;
    t->cb(t->arg);
}

swarm__timers *swarm__timers_libevent(struct event_base *base)
{
    swarm__timers *ts = calloc(1, sizeof *ts);
    if (ts)
        ts->base = base;
    return ts;
}

static int64_t v_wall(void *data)
{
    swarm__timers *ts = data;
    return ts->start_wall_ns + ts->now_ns;
}

static int64_t v_mono(void *data)
{
    swarm__timers *ts = data;
    return 1000000000LL + ts->now_ns;
}

/* Deterministic "random" bytes for virtual clusters (IDs, nonces, jitter): splitmix64. */
static int v_random(void *data, void *buf, size_t len)
{
    swarm__timers *ts = data;
    unsigned char *p = buf;
    while (len > 0) {
        uint64_t z = (ts->rng += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        size_t n = len < 8 ? len : 8;
        memcpy(p, &z, n);
        p += n;
        len -= n;
    }
    return 0;
}

swarm__timers *swarm__timers_virtual(int64_t start_wall_ns, uint64_t seed)
{
    swarm__timers *ts = calloc(1, sizeof *ts);
    if (ts == NULL)
        return NULL;
    ts->start_wall_ns = start_wall_ns;
    ts->rng = seed;
    ts->clock = (swarm__clock){v_wall, v_mono, v_random, ts};
    return ts;
}

const swarm__clock *swarm__timers_clock(swarm__timers *ts)
{
    return ts->base ? swarm__clock_system() : &ts->clock;
}

static void unarm(swarm__timer *t)
{
    swarm__timers *ts = t->ts;
    for (size_t i = 0; i < ts->n_armed; i++) {
        if (ts->armed[i] == t) {
            ts->armed[i] = ts->armed[--ts->n_armed];
            break;
        }
    }
    t->armed = 0;
}

static swarm__timer *earliest(swarm__timers *ts)
{
    swarm__timer *best = NULL;
    for (size_t i = 0; i < ts->n_armed; i++) {
        swarm__timer *t = ts->armed[i];
        if (!best || t->due_ns < best->due_ns || (t->due_ns == best->due_ns && t->seq < best->seq))
            best = t;
    }
    return best;
}

int swarm__timers_advance(swarm__timers *ts, int64_t ms)
{
    int64_t end = ts->now_ns + ms * 1000000;
    int n = 0;
    for (;;) {
        swarm__timer *t = earliest(ts);
        if (t == NULL || t->due_ns > end)
            break;
        if (t->due_ns > ts->now_ns)
            ts->now_ns = t->due_ns;
        unarm(t);
        t->cb(t->arg);
        n++;
    }
    ts->now_ns = end;
    return n;
}

int64_t swarm__timers_next_ms(swarm__timers *ts)
{
    swarm__timer *t = earliest(ts);
    if (t == NULL)
        return -1;
    int64_t d = t->due_ns - ts->now_ns;
    return d <= 0 ? 0 : (d + 999999) / 1000000;
}

void swarm__timers_free(swarm__timers *ts)
{
    if (ts == NULL)
        return;
    free(ts->armed);
    free(ts);
}

swarm__timer *swarm__timer_new(swarm__timers *ts, void (*cb)(void *), void *arg)
{
    swarm__timer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->ts = ts;
    t->cb = cb;
    t->arg = arg;
    if (ts->base) {
        t->ev = evtimer_new(ts->base, fired, t);
        if (t->ev == NULL) {
            free(t);
            return NULL;
        }
    }
    return t;
}

int swarm__timer_wake(swarm__timer *t)
{
    if (t->ts->base == NULL)
        return SWARM_ENOTSUPPORTED;
    event_active(t->ev, EV_TIMEOUT, 0); /* libevent is made thread-safe by the loop (evthread_use_pthreads) */
    return 0;
}

void swarm__timer_start(swarm__timer *t, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    swarm__timers *ts = t->ts;
    if (ts->base) {
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
        if (evtimer_add(t->ev, &tv) == 0)
            t->armed = 1;
        return;
    }
    if (t->armed)
        unarm(t);
    if (ts->n_armed == ts->cap_armed) {
        size_t cap = ts->cap_armed ? ts->cap_armed * 2 : 64;
        swarm__timer **a = realloc(ts->armed, cap * sizeof *a);
        if (a == NULL)
            return;
        ts->armed = a;
        ts->cap_armed = cap;
    }
    t->due_ns = ts->now_ns + ms * 1000000;
    t->seq = ts->next_seq++;
    t->armed = 1;
    ts->armed[ts->n_armed++] = t;
}

void swarm__timer_stop(swarm__timer *t)
{
    if (t == NULL || !t->armed)
        return;
    if (t->ts->base) {
        evtimer_del(t->ev);
        t->armed = 0;
    } else {
        unarm(t);
    }
}

int swarm__timer_armed(const swarm__timer *t)
{
    return t && t->armed;
}

typedef struct oneshot {
    swarm__timer *t;
    void (*cb)(void *);
    void *payload;
} oneshot;

static void oneshot_fired(void *arg)
{
    oneshot *o = arg;
    void (*cb)(void *) = o->cb;
    void *payload = o->payload;
    swarm__timer_free(o->t);
    free(o);
    cb(payload);
}

int swarm__oneshot(swarm__timers *ts, int64_t ms, void (*cb)(void *payload), void *payload, void **token)
{
    oneshot *o = calloc(1, sizeof *o);
    if (o == NULL || (o->t = swarm__timer_new(ts, oneshot_fired, o)) == NULL) {
        free(o);
        return SWARM_ENOMEM;
    }
    o->cb = cb;
    o->payload = payload;
    swarm__timer_start(o->t, ms);
    if (token)
        *token = o;
    return 0;
}

void swarm__oneshot_cancel(void *token)
{
    oneshot *o = token;
    if (o == NULL)
        return;
    swarm__timer_free(o->t);
    free(o);
}

void swarm__timer_free(swarm__timer *t)
{
    if (t == NULL)
        return;
    swarm__timer_stop(t);
    if (t->ev)
        event_free(t->ev);
    free(t);
}

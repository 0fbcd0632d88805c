#include "core/loop.h"

#include <event2/thread.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct swarm__loop {
    struct event_base *base;
    struct event *wake;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* signalled when any call completes */
    swarm__call *head, *tail; /* posted, not yet run */
    int stopping;
    void (*teardown)(void *);
    void *teardown_payload;
};

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rc;

static void evthread_setup(void)
{
    /* Makes libevent's base locks and cross-thread wake-ups work; this is a
     * library-wide switch of libevent, needed before any base exists. */
    evthread_rc = evthread_use_pthreads();
}

static void release_locked(swarm__loop *l, swarm__call *c, int *destroy)
{
    (void)l;
    *destroy = --c->refs == 0;
}

void swarm__call_release(swarm__call *call)
{
    swarm__loop *l = call->loop;
    int destroy = 0;
    pthread_mutex_lock(&l->lock);
    release_locked(l, call, &destroy);
    pthread_mutex_unlock(&l->lock);
    if (destroy)
        call->destroy(call);
}

void swarm__call_done(swarm__call *call, int rc, const swarm__err *err)
{
    swarm__loop *l = call->loop;
    int destroy = 0;
    pthread_mutex_lock(&l->lock);
    if (!call->done) {
        call->rc = rc;
        if (rc != 0 && err != NULL)
            call->err = *err;
        else if (rc != 0)
            swarm__err_set(&call->err, rc, "%s", swarm_strerror(rc));
        call->done = 1;
        pthread_cond_broadcast(&l->cond);
        release_locked(l, call, &destroy);
    }
    pthread_mutex_unlock(&l->lock);
    if (destroy)
        call->destroy(call);
}

static void drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    swarm__loop *l = arg;
    for (;;) {
        pthread_mutex_lock(&l->lock);
        swarm__call *c = l->head;
        if (c != NULL) {
            l->head = c->next;
            if (l->head == NULL)
                l->tail = NULL;
        }
        int stopping = l->stopping;
        pthread_mutex_unlock(&l->lock);
        if (c == NULL)
            break;
        if (stopping) {
            swarm__err e;
            swarm__call_done(c, swarm__err_set(&e, SWARM_ECLOSED, "the node is shutting down"), &e);
        } else {
            c->run(c);
        }
    }
    pthread_mutex_lock(&l->lock);
    int stop = l->stopping == 1;
    if (stop)
        l->stopping = 2;
    pthread_mutex_unlock(&l->lock);
    if (stop) {
        if (l->teardown)
            l->teardown(l->teardown_payload);
        event_base_loopbreak(l->base);
    }
}

static _Thread_local const swarm__loop *current_loop;

static void *loop_main(void *arg)
{
    swarm__loop *l = arg;
    current_loop = l;
    event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

int swarm__loop_start(swarm__loop **out, swarm__err *e)
{
    *out = NULL;
    pthread_once(&evthread_once, evthread_setup);
    if (evthread_rc != 0)
        return swarm__err_set(e, SWARM_EBACKEND, "libevent: no pthreads support");
    swarm__loop *l = calloc(1, sizeof *l);
    if (l == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cond, &ca);
    pthread_condattr_destroy(&ca);
    l->base = event_base_new();
    if (l->base == NULL)
        goto fail;
    l->wake = event_new(l->base, -1, 0, drain, l);
    if (l->wake == NULL)
        goto fail;
    if (pthread_create(&l->thread, NULL, loop_main, l) != 0)
        goto fail;
    *out = l;
    return 0;
fail:
    if (l->wake)
        event_free(l->wake);
    if (l->base)
        event_base_free(l->base);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->lock);
    free(l);
    return swarm__err_set(e, SWARM_EBACKEND, "cannot start the event loop");
}

struct event_base *swarm__loop_base(swarm__loop *l)
{
    return l->base;
}

int swarm__loop_on_thread(const swarm__loop *l)
{
    return current_loop == l;
}

int swarm__loop_call(swarm__loop *l, swarm__call *call, int timeout_ms)
{
    call->loop = l;
    call->done = 0;
    call->rc = 0;
    call->next = NULL;
    if (swarm__loop_on_thread(l)) {
        call->refs = 1;
        return swarm__error_set(SWARM_EBUSY, "libswarm calls cannot be made from a libswarm callback");
    }
    call->refs = 2;
    pthread_mutex_lock(&l->lock);
    if (l->stopping) {
        call->refs = 1;
        pthread_mutex_unlock(&l->lock);
        return swarm__error_set(SWARM_ECLOSED, "the node is shutting down");
    }
    if (l->tail)
        l->tail->next = call;
    else
        l->head = call;
    l->tail = call;
    pthread_mutex_unlock(&l->lock);
    event_active(l->wake, 0, 0);

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&l->lock);
    int timed_out = 0;
    while (!call->done) {
        if (pthread_cond_timedwait(&l->cond, &l->lock, &deadline) != 0 && !call->done) {
            timed_out = 1;
            break;
        }
    }
    int rc = call->rc;
    swarm__err err = call->err;
    pthread_mutex_unlock(&l->lock);
    if (timed_out)
        return swarm__error_set(SWARM_ETIMEDOUT, "timed out after %d ms waiting for the node", timeout_ms);
    if (rc != 0)
        return swarm__err_raise(&err);
    return 0;
}

void swarm__loop_stop(swarm__loop *l, void (*teardown)(void *payload), void *payload)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    l->stopping = 1;
    l->teardown = teardown;
    l->teardown_payload = payload;
    pthread_mutex_unlock(&l->lock);
    event_active(l->wake, 0, 0);
    pthread_join(l->thread, NULL);
    /* Calls posted after the drain: fail them. */
    for (;;) {
        pthread_mutex_lock(&l->lock);
        swarm__call *c = l->head;
        if (c)
            l->head = c->next;
        pthread_mutex_unlock(&l->lock);
        if (c == NULL)
            break;
        swarm__err e;
        swarm__call_done(c, swarm__err_set(&e, SWARM_ECLOSED, "the node is shutting down"), &e);
    }
    event_free(l->wake);
    event_base_free(l->base);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

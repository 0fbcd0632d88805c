/* The loop thread and call marshalling: results, errors, timeouts, close with calls pending. */
#include "core/loop.h"
#include "test.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct add_call {
    swarm__call call;
    int a, b, sum;
    int defer;        /* complete from a later loop callback */
    int never;        /* never complete (until teardown) */
    int *destroyed;
} add_call;

static add_call *parked; /* a call left pending on purpose */

static void later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    add_call *c = arg;
    c->sum = c->a + c->b;
    swarm__call_done(&c->call, 0, NULL);
}

static void add_run(swarm__call *call)
{
    add_call *c = (add_call *)call;
    if (c->never) {
        parked = c;
        return;
    }
    if (c->a < 0) {
        swarm__err e;
        swarm__call_done(call, swarm__err_set(&e, SWARM_EINVALID, "a: must be >= 0, got %d", c->a), &e);
        return;
    }
    if (c->defer) {
        struct timeval tv = {0, 1000};
        event_base_once(swarm__loop_base(call->loop), -1, EV_TIMEOUT, later, c, &tv);
        return;
    }
    c->sum = c->a + c->b;
    swarm__call_done(call, 0, NULL);
}

static void add_destroy(swarm__call *call)
{
    add_call *c = (add_call *)call;
    if (c->destroyed)
        (*c->destroyed)++;
    free(c);
}

static add_call *new_call(int a, int b, int *destroyed)
{
    add_call *c = calloc(1, sizeof *c);
    c->call.run = add_run;
    c->call.destroy = add_destroy;
    c->a = a;
    c->b = b;
    c->destroyed = destroyed;
    return c;
}

static void test_loop__call_result_and_error(void)
{
    swarm__loop *l;
    swarm__err e;
    CHECK_INT(swarm__loop_start(&l, &e), 0);
    int destroyed = 0;
    add_call *c = new_call(2, 3, &destroyed);
    CHECK_INT(swarm__loop_call(l, &c->call, 5000), 0);
    CHECK_INT(c->sum, 5);
    swarm__call_release(&c->call);
    c = new_call(-1, 3, &destroyed);
    CHECK_INT(swarm__loop_call(l, &c->call, 5000), SWARM_EINVALID);
    CHECK_STR(swarm_error_last()->message, "a: must be >= 0, got -1");
    swarm__call_release(&c->call);
    c = new_call(4, 4, &destroyed);
    c->defer = 1;
    CHECK_INT(swarm__loop_call(l, &c->call, 5000), 0);
    CHECK_INT(c->sum, 8);
    swarm__call_release(&c->call);
    swarm__loop_stop(l, NULL, NULL);
    CHECK_INT(destroyed, 3);
}

static void fail_parked(void *payload)
{
    (void)payload;
    if (parked) {
        swarm__err e;
        swarm__call_done(&parked->call, swarm__err_set(&e, SWARM_ECLOSED, "closing"), &e);
        parked = NULL;
    }
}

static void test_loop__timeout_then_close(void)
{
    swarm__loop *l;
    swarm__err e;
    CHECK_INT(swarm__loop_start(&l, &e), 0);
    int destroyed = 0;
    add_call *c = new_call(1, 1, &destroyed);
    c->never = 1;
    CHECK_INT(swarm__loop_call(l, &c->call, 50), SWARM_ETIMEDOUT);
    swarm__call_release(&c->call);
    CHECK_INT(destroyed, 0); /* the loop still holds it */
    swarm__loop_stop(l, fail_parked, NULL);
    CHECK_INT(destroyed, 1);
}

typedef struct hammer {
    swarm__loop *l;
    int ok;
} hammer;

static void *hammer_main(void *arg)
{
    hammer *h = arg;
    for (int i = 0; i < 500; i++) {
        add_call *c = new_call(i, 1, NULL);
        c->defer = i % 2;
        if (swarm__loop_call(h->l, &c->call, 10000) == 0 && c->sum == i + 1)
            h->ok++;
        swarm__call_release(&c->call);
    }
    return NULL;
}

static void test_loop__many_threads(void)
{
    swarm__loop *l;
    swarm__err e;
    CHECK_INT(swarm__loop_start(&l, &e), 0);
    pthread_t th[4];
    hammer h[4];
    for (int i = 0; i < 4; i++) {
        h[i].l = l;
        h[i].ok = 0;
        pthread_create(&th[i], NULL, hammer_main, &h[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(h[i].ok, 500);
    }
    swarm__loop_stop(l, NULL, NULL);
}

TEST_MAIN(TEST(test_loop__call_result_and_error), TEST(test_loop__timeout_then_close), TEST(test_loop__many_threads))

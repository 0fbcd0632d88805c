/* Local proposer: orders proposals and applies them to this node's store. */
#include "raft/proposer.h"

#include <stdlib.h>

typedef struct pending {
    char *bytes;
    size_t len;
    swarm__propose_cb cb;
    void *payload;
    struct pending *next;
} pending;

typedef struct local_proposer {
    swarm__proposer base;
    swarm__store *store;
    struct event *ev;
    pending *head, *tail;
} local_proposer;

static void drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    local_proposer *p = arg;
    while (p->head != NULL) {
        pending *q = p->head;
        p->head = q->next;
        if (p->head == NULL)
            p->tail = NULL;
        swarm__err err = {0, ""};
        swarm__action *acts = NULL;
        size_t n = 0;
        uint64_t index = 0;
        /* Decoding what was encoded is the path a Raft follower takes too. */
        int rc = swarm__actions_decode(&acts, &n, q->bytes, q->len, &err);
        if (rc == 0) {
            index = swarm__store_index(p->store) + 1;
            rc = swarm__store_apply(p->store, index, acts, n, &err);
            swarm__actions_free(acts, n);
        }
        q->cb(q->payload, rc, rc ? &err : NULL, rc ? 0 : index);
        free(q->bytes);
        free(q);
    }
}

static int local_propose(swarm__proposer *base, const swarm__action *a, size_t n, swarm__propose_cb cb,
                         void *payload, swarm__err *e)
{
    local_proposer *p = (local_proposer *)base;
    pending *q = calloc(1, sizeof *q);
    if (q == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    int rc = swarm__actions_encode(a, n, &q->bytes, &q->len, e);
    if (rc != 0) {
        free(q);
        return rc;
    }
    q->cb = cb;
    q->payload = payload;
    if (p->tail)
        p->tail->next = q;
    else
        p->head = q;
    p->tail = q;
    event_active(p->ev, 0, 0);
    return 0;
}

static void local_close(swarm__proposer *base)
{
    local_proposer *p = (local_proposer *)base;
    while (p->head != NULL) {
        pending *q = p->head;
        p->head = q->next;
        swarm__err err;
        swarm__err_set(&err, SWARM_ECLOSED, "the node is shutting down");
        q->cb(q->payload, SWARM_ECLOSED, &err, 0);
        free(q->bytes);
        free(q);
    }
    event_free(p->ev);
    free(p);
}

int swarm__proposer_local_new(swarm__proposer **out, struct event_base *base, swarm__store *store,
                              swarm__err *e)
{
    local_proposer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    p->ev = event_new(base, -1, 0, drain, p);
    if (p->ev == NULL) {
        free(p);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    p->base.propose = local_propose;
    p->base.close = local_close;
    p->store = store;
    *out = &p->base;
    return 0;
}

/* Outgoing requests with deadlines and incoming requests awaiting an answer (see requests.h). */
#include "transport/requests.h"

#include <stdlib.h>

#include "swarm/errors.h"
#include "transport/idmap.h"

typedef struct pending {
    swarm__requests *owner;
    uint64_t id, link;
    swarm_transport_response_cb cb;
    void *payload;
    void *timer;
} pending;

struct swarm__requests {
    const swarm_transport_host *host;
    uint64_t next_id;
    swarm__idmap out; /* (id, 0) -> pending */
    swarm__idmap in;  /* (link, id) -> marker */
};

static char incoming_marker;

int swarm__requests_new(swarm__requests **out, const swarm_transport_host *host)
{
    swarm__requests *r = calloc(1, sizeof *r);
    if (r == NULL)
        return SWARM_ENOMEM;
    r->host = host;
    r->next_id = 1;
    *out = r;
    return 0;
}

static void drop_pending(swarm__requests *r, pending *p)
{
    if (p->timer != NULL)
        r->host->cancel_timer(r->host->ctx, p->timer);
    p->timer = NULL;
    free(p);
}

void swarm__requests_free(swarm__requests *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->out.cap; i++)
        if (r->out.slots[i].value != NULL)
            drop_pending(r, r->out.slots[i].value);
    swarm__idmap_fini(&r->out);
    swarm__idmap_fini(&r->in);
    free(r);
}

static void on_deadline(void *arg)
{
    pending *p = arg;
    p->timer = NULL;
    swarm__idmap_del(&p->owner->out, p->id, 0);
    swarm_transport_response_cb cb = p->cb;
    void *payload = p->payload;
    free(p);
    cb(payload, SWARM_ETIMEDOUT, NULL);
}

int swarm__requests_add(swarm__requests *r, uint64_t link, int64_t timeout_ms, swarm_transport_response_cb cb,
                        void *payload, uint64_t *id)
{
    if (timeout_ms <= 0 || cb == NULL)
        return SWARM_EINVALID;
    pending *p = calloc(1, sizeof *p);
    if (p == NULL)
        return SWARM_ENOMEM;
    p->owner = r;
    p->link = link;
    p->cb = cb;
    p->payload = payload;
    do
        p->id = r->next_id++;
    while (p->id == 0 || swarm__idmap_get(&r->out, p->id, 0) != NULL);
    if (swarm__idmap_put(&r->out, p->id, 0, p) != 0) {
        free(p);
        return SWARM_ENOMEM;
    }
    if (r->host->timer(r->host->ctx, timeout_ms, on_deadline, p, &p->timer) != 0) {
        swarm__idmap_del(&r->out, p->id, 0);
        free(p);
        return SWARM_ENOMEM;
    }
    *id = p->id;
    return 0;
}

void swarm__requests_cancel(swarm__requests *r, uint64_t id)
{
    pending *p = swarm__idmap_del(&r->out, id, 0);
    if (p != NULL)
        drop_pending(r, p);
}

int swarm__requests_complete(swarm__requests *r, uint64_t link, uint64_t id, const swarm_transport_msg *response)
{
    pending *p = swarm__idmap_get(&r->out, id, 0);
    if (p == NULL || p->link != link)
        return SWARM_ENOTFOUND;
    swarm__idmap_del(&r->out, id, 0);
    swarm_transport_response_cb cb = p->cb;
    void *payload = p->payload;
    drop_pending(r, p);
    cb(payload, 0, response);
    return 0;
}

static int by_id(const void *x, const void *y)
{
    const pending *a = *(pending *const *)x, *b = *(pending *const *)y;
    return a->id < b->id ? -1 : a->id > b->id;
}

void swarm__requests_fail(swarm__requests *r, uint64_t link, int status)
{
    if (r->out.n == 0)
        return;
    pending **list = malloc(r->out.n * sizeof *list);
    size_t n = 0;
    if (list == NULL) {
        /* No memory for a sorted batch: fail them one at a time, in table order. */
        for (;;) {
            pending *p = NULL;
            for (size_t i = 0; i < r->out.cap && p == NULL; i++) {
                pending *q = r->out.slots[i].value;
                if (q != NULL && (link == 0 || q->link == link))
                    p = q;
            }
            if (p == NULL)
                return;
            swarm__idmap_del(&r->out, p->id, 0);
            swarm_transport_response_cb cb = p->cb;
            void *payload = p->payload;
            drop_pending(r, p);
            cb(payload, status, NULL);
        }
    }
    for (size_t i = 0; i < r->out.cap; i++) {
        pending *p = r->out.slots[i].value;
        if (p != NULL && (link == 0 || p->link == link))
            list[n++] = p;
    }
    qsort(list, n, sizeof *list, by_id);
    /* Detach them all first: a callback may issue new requests or fail others. */
    for (size_t i = 0; i < n; i++) {
        swarm__idmap_del(&r->out, list[i]->id, 0);
        if (list[i]->timer != NULL)
            r->host->cancel_timer(r->host->ctx, list[i]->timer);
        list[i]->timer = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        swarm_transport_response_cb cb = list[i]->cb;
        void *payload = list[i]->payload;
        free(list[i]);
        cb(payload, status, NULL);
    }
    free(list);
}

size_t swarm__requests_pending(const swarm__requests *r)
{
    return r->out.n;
}

int swarm__requests_incoming_add(swarm__requests *r, uint64_t link, uint64_t id)
{
    if (swarm__idmap_get(&r->in, link, id) != NULL)
        return SWARM_EEXISTS;
    return swarm__idmap_put(&r->in, link, id, &incoming_marker);
}

int swarm__requests_incoming_take(swarm__requests *r, uint64_t link, uint64_t id)
{
    return swarm__idmap_del(&r->in, link, id) != NULL ? 0 : SWARM_ENOTFOUND;
}

void swarm__requests_incoming_drop(swarm__requests *r, uint64_t link)
{
    if (link == 0) {
        swarm__idmap_fini(&r->in);
        return;
    }
    for (size_t i = 0; i < r->in.cap;) {
        swarm__idmap_slot *s = &r->in.slots[i];
        /* Deleting shifts later entries back into this slot: look at it again. */
        if (s->value != NULL && s->a == link)
            swarm__idmap_del(&r->in, s->a, s->b);
        else
            i++;
    }
}

/* Linear probing with backward-shift deletion; at most half full. */
#include "transport/idmap.h"

#include <stdlib.h>

#include "swarm/errors.h"

static size_t slot_of(uint64_t a, uint64_t b, size_t cap)
{
    uint64_t x = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return (size_t)(x & (cap - 1));
}

void *swarm__idmap_get(const swarm__idmap *m, uint64_t a, uint64_t b)
{
    if (m->n == 0)
        return NULL;
    for (size_t i = slot_of(a, b, m->cap);; i = (i + 1) & (m->cap - 1)) {
        const swarm__idmap_slot *s = &m->slots[i];
        if (s->value == NULL)
            return NULL;
        if (s->a == a && s->b == b)
            return s->value;
    }
}

static void insert(swarm__idmap_slot *slots, size_t cap, uint64_t a, uint64_t b, void *value)
{
    size_t i = slot_of(a, b, cap);
    while (slots[i].value != NULL && !(slots[i].a == a && slots[i].b == b))
        i = (i + 1) & (cap - 1);
    slots[i].a = a;
    slots[i].b = b;
    slots[i].value = value;
}

int swarm__idmap_put(swarm__idmap *m, uint64_t a, uint64_t b, void *value)
{
    if (swarm__idmap_get(m, a, b) != NULL) {
        insert(m->slots, m->cap, a, b, value);
        return 0;
    }
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        swarm__idmap_slot *slots = calloc(cap, sizeof *slots);
        if (slots == NULL)
            return SWARM_ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].value != NULL)
                insert(slots, cap, m->slots[i].a, m->slots[i].b, m->slots[i].value);
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    insert(m->slots, m->cap, a, b, value);
    m->n++;
    return 0;
}

void *swarm__idmap_del(swarm__idmap *m, uint64_t a, uint64_t b)
{
    if (m->n == 0)
        return NULL;
    size_t mask = m->cap - 1, i = slot_of(a, b, m->cap);
    while (m->slots[i].value != NULL && !(m->slots[i].a == a && m->slots[i].b == b))
        i = (i + 1) & mask;
    void *value = m->slots[i].value;
    if (value == NULL)
        return NULL;
    /* Shift back the entries that probed past the freed slot. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j].value != NULL; j = (j + 1) & mask) {
        size_t home = slot_of(m->slots[j].a, m->slots[j].b, m->cap);
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].value = NULL;
    m->n--;
    return value;
}

void swarm__idmap_fini(swarm__idmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

static int by_id(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

size_t swarm__idmap_drain(swarm__idmap *m, uint64_t (*up_id)(const void *value), void (*release)(void *value),
                          uint64_t **ids)
{
    uint64_t *out = calloc(m->n + 1, sizeof *out);
    size_t n = 0;
    for (;;) {
        void *v = NULL;
        for (size_t i = 0; i < m->cap && v == NULL; i++)
            v = m->slots[i].value;
        if (v == NULL)
            break;
        uint64_t id = up_id(v);
        if (id && out)
            out[n++] = id;
        release(v);
    }
    if (out)
        qsort(out, n, sizeof *out, by_id);
    *ids = out;
    return n;
}

/* A small open-addressing hash map from a pair of 64-bit ids to a non-NULL pointer (loop-local). */
#ifndef SWARM_TRANSPORT_IDMAP_H
#define SWARM_TRANSPORT_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct swarm__idmap_slot {
    uint64_t a, b;
    void *value; /* NULL: free slot */
} swarm__idmap_slot;

/* Zero-initialised is an empty map. Iterate with `for (i < cap) if (slots[i].value)`. */
typedef struct swarm__idmap {
    swarm__idmap_slot *slots;
    size_t cap, n;
} swarm__idmap;

void *swarm__idmap_get(const swarm__idmap *m, uint64_t a, uint64_t b);
/* Inserts or replaces (value must not be NULL). 0 or SWARM_ENOMEM. */
int swarm__idmap_put(swarm__idmap *m, uint64_t a, uint64_t b, void *value);
/* Removes the entry; returns its value or NULL. */
void *swarm__idmap_del(swarm__idmap *m, uint64_t a, uint64_t b);
/* Frees the storage (not the values). */
void swarm__idmap_fini(swarm__idmap *m);

/*
 * Empties a map of links at close: for each value, up_id(value) gives its
 * link id if the link was up (0 otherwise), then release(value) frees it and
 * takes it out of the map. *ids gets the ids of the links that were up, in
 * ascending order (malloc'd, may be NULL when none); returns their count.
 */
size_t swarm__idmap_drain(swarm__idmap *m, uint64_t (*up_id)(const void *value), void (*release)(void *value),
                          uint64_t **ids);

#endif

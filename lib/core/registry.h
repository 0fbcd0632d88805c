/*
 * Named factories for pluggable backends (stores, runtimes, schedulers):
 * built-ins plus what the embedding program registers, looked up by name.
 * Thread-safe. The factory's real type is the caller's business (stored as a
 * generic function pointer and cast back by the owning module).
 */
#ifndef SWARM_CORE_REGISTRY_H
#define SWARM_CORE_REGISTRY_H

#include <pthread.h>
#include <stddef.h>

#define SWARM__REGISTRY_MAX 32
#define SWARM__REGISTRY_NAME_MAX 64

typedef void (*swarm__any_fn)(void);

typedef struct swarm__registry_entry {
    char name[SWARM__REGISTRY_NAME_MAX + 1];
    swarm__any_fn factory;
    void *payload;
} swarm__registry_entry;

typedef struct swarm__registry {
    const char *what; /* "store backend", "runtime", ... for messages */
    const swarm__registry_entry *builtins;
    size_t n_builtins;
    pthread_mutex_t lock;
    swarm__registry_entry added[SWARM__REGISTRY_MAX];
    size_t n_added;
} swarm__registry;

#define SWARM__REGISTRY_INIT(what, builtins)                                                             \
    {(what), (builtins), sizeof(builtins) / sizeof((builtins)[0]), PTHREAD_MUTEX_INITIALIZER, {{{0}, 0, 0}}, 0}

/*
 * Adds a factory. Names are 1-64 characters of [A-Za-z0-9._-] starting with
 * a letter or digit. Sets the thread's last error: SWARM_EINVALID (bad name,
 * NULL factory), SWARM_EEXISTS ("<what> \"x\" is already registered"),
 * SWARM_ENOMEM (registry full).
 */
int swarm__registry_add(swarm__registry *r, const char *name, swarm__any_fn factory, void *payload);

/* Copies the entry named `name` into *out; 1 if found, 0 if not. */
int swarm__registry_find(swarm__registry *r, const char *name, swarm__registry_entry *out);

#endif

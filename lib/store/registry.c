/* The registry of store backend factories, by name ("lmdb", "memory" and the embedder's own). */
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MAX_BACKENDS 32
#define NAME_MAX_LEN 32

typedef struct registered {
    char name[NAME_MAX_LEN + 1];
    swarm_store_factory factory;
    void *payload;
} registered;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static registered backends[MAX_BACKENDS];
static size_t n_backends;

static int lmdb_factory(struct swarm_store_backend **out, const char *state_dir, void *payload)
{
    (void)payload;
    if (state_dir == NULL)
        return swarm__error_set(SWARM_EINVALID, "store backend \"lmdb\" needs a state directory");
    return swarm_store_lmdb_new(out, state_dir);
}

static int memory_factory(struct swarm_store_backend **out, const char *state_dir, void *payload)
{
    (void)state_dir;
    (void)payload;
    return swarm_store_memory_new(out);
}

static const registered builtins[] = {
    {"lmdb", lmdb_factory, NULL},
    {"memory", memory_factory, NULL},
};

static int valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

/* Caller holds lock. */
static const registered *find(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    for (size_t i = 0; i < n_backends; i++)
        if (strcmp(backends[i].name, name) == 0)
            return &backends[i];
    return NULL;
}

int swarm_store_register(const char *name, swarm_store_factory factory, void *payload)
{
    if (!valid_name(name))
        return swarm__error_set(SWARM_EINVALID,
                                "store backend name must be 1-%d characters of [A-Za-z0-9._-]", NAME_MAX_LEN);
    if (factory == NULL)
        return swarm__error_set(SWARM_EINVALID, "store backend \"%s\": factory is NULL", name);
    int rc = 0;
    pthread_mutex_lock(&lock);
    if (find(name) != NULL) {
        rc = SWARM_EEXISTS;
    } else if (n_backends == MAX_BACKENDS) {
        rc = SWARM_ENOMEM;
    } else {
        registered *r = &backends[n_backends++];
        snprintf(r->name, sizeof r->name, "%s", name);
        r->factory = factory;
        r->payload = payload;
    }
    pthread_mutex_unlock(&lock);
    if (rc == SWARM_EEXISTS)
        return swarm__error_set(rc, "store backend \"%s\" is already registered", name);
    if (rc == SWARM_ENOMEM)
        return swarm__error_set(rc, "too many store backends registered (max %d)", MAX_BACKENDS);
    return 0;
}

int swarm__store_backend_check(const struct swarm_store_backend *b, swarm__err *e)
{
    if (b == NULL)
        return swarm__err_set(e, SWARM_EBACKEND, "store backend is NULL");
    const char *name = b->name ? b->name : "(unnamed)";
    if (b->version < 1)
        return swarm__err_set(e, SWARM_EBACKEND, "store backend \"%s\": unsupported version %u", name, b->version);
    if (!b->begin || !b->get || !b->put || !b->del || !b->scan || !b->commit || !b->abort || !b->free)
        return swarm__err_set(e, SWARM_EBACKEND, "store backend \"%s\": a method is missing", name);
    return 0;
}

int swarm__store_backend_create(const char *name, const char *state_dir, struct swarm_store_backend **out,
                                swarm__err *e)
{
    if (name == NULL || out == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "store backend name is required");
    pthread_mutex_lock(&lock);
    const registered *r = find(name);
    registered copy;
    if (r != NULL)
        copy = *r;
    pthread_mutex_unlock(&lock);
    if (r == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "unknown store backend \"%s\"", name);

    struct swarm_store_backend *b = NULL;
    swarm_error_clear();
    int rc = copy.factory(&b, state_dir, copy.payload);
    if (rc != 0) {
        swarm__err tmp;
        if (rc > 0)
            rc = SWARM_EBACKEND;
        if (swarm__err_capture(&tmp) == rc)
            return swarm__err_set(e, rc, "%s", tmp.message);
        return swarm__err_set(e, rc, "store backend \"%s\" failed: %s", name, swarm_strerror(rc));
    }
    if (b == NULL)
        return swarm__err_set(e, SWARM_EBACKEND, "store backend \"%s\" returned no backend", name);
    rc = swarm__store_backend_check(b, e);
    if (rc != 0) {
        if (b->free)
            b->free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int swarm__store_backend_known(const char *name)
{
    pthread_mutex_lock(&lock);
    int known = name != NULL && find(name) != NULL;
    pthread_mutex_unlock(&lock);
    return known;
}

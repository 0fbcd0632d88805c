/* The registry of store backend factories, by name ("lmdb", "memory" and the embedder's own). */
#include "store/store.h"

#include "core/registry.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

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

static const swarm__registry_entry builtins[] = {
    {"lmdb", (swarm__any_fn)lmdb_factory, NULL},
    {"memory", (swarm__any_fn)memory_factory, NULL},
};

static swarm__registry backends = SWARM__REGISTRY_INIT("store backend", builtins);

int swarm_store_register(const char *name, swarm_store_factory factory, void *payload)
{
    return swarm__registry_add(&backends, name, (swarm__any_fn)factory, payload);
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
    swarm__registry_entry found;
    if (!swarm__registry_find(&backends, name, &found))
        return swarm__err_set(e, SWARM_EINVALID, "unknown store backend \"%s\"", name);

    struct swarm_store_backend *b = NULL;
    swarm_error_clear();
    int rc = ((swarm_store_factory)found.factory)(&b, state_dir, found.payload);
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
    return swarm__registry_find(&backends, name, NULL);
}

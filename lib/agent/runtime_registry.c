/* The registry of task runtime factories, by name ("process", "fake" and the embedder's own). */
#include "agent/runtime.h"

#include "core/registry.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static int process_factory(struct swarm_runtime_backend **out, void *payload)
{
    (void)payload;
    return swarm__runtime_process_new(out);
}

static int fake_factory(struct swarm_runtime_backend **out, void *payload)
{
    (void)payload;
    return swarm__runtime_fake_new(out);
}

static const swarm__registry_entry builtins[] = {
    {"process", (swarm__any_fn)process_factory, NULL},
    {"fake", (swarm__any_fn)fake_factory, NULL},
};

static swarm__registry runtimes = SWARM__REGISTRY_INIT("runtime", builtins);

int swarm_runtime_register(const char *name, swarm_runtime_factory factory, void *payload)
{
    return swarm__registry_add(&runtimes, name, (swarm__any_fn)factory, payload);
}

int swarm__runtime_backend_check(const struct swarm_runtime_backend *b, swarm__err *e)
{
    if (b == NULL)
        return swarm__err_set(e, SWARM_EBACKEND, "runtime backend is NULL");
    const char *name = b->name ? b->name : "(unnamed)";
    if (b->version < 1)
        return swarm__err_set(e, SWARM_EBACKEND, "runtime \"%s\": unsupported version %u", name, b->version);
    if (!b->open || !b->start || !b->stop || !b->remove || !b->list || !b->close || !b->free)
        return swarm__err_set(e, SWARM_EBACKEND, "runtime \"%s\": a mandatory method is missing", name);
    return 0;
}

int swarm__runtime_create(const char *name, struct swarm_runtime_backend **out, swarm__err *e)
{
    if (out == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "runtime: out is NULL");
    *out = NULL;
    if (name == NULL || name[0] == '\0')
        name = SWARM__RUNTIME_DEFAULT;
    swarm__registry_entry found;
    if (!swarm__registry_find(&runtimes, name, &found))
        return swarm__err_set(e, SWARM_EINVALID, "unknown runtime \"%s\"", name);

    struct swarm_runtime_backend *b = NULL;
    swarm_error_clear();
    int rc = ((swarm_runtime_factory)found.factory)(&b, found.payload);
    if (rc != 0) {
        swarm__err tmp;
        if (rc > 0)
            rc = SWARM_EBACKEND;
        if (swarm__err_capture(&tmp) == rc)
            return swarm__err_set(e, rc, "%s", tmp.message);
        return swarm__err_set(e, rc, "runtime \"%s\" failed: %s", name, swarm_strerror(rc));
    }
    if (b == NULL)
        return swarm__err_set(e, SWARM_EBACKEND, "runtime \"%s\" returned no backend", name);
    rc = swarm__runtime_backend_check(b, e);
    if (rc != 0) {
        if (b->free)
            b->free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int swarm__runtime_known(const char *name)
{
    return swarm__registry_find(&runtimes, name, NULL);
}

/* swarm_scheduler_register and the lookup behind swarm__scheduler_new. */
#include "manager/scheduler/registry.h"

#include "manager/scheduler/scheduler.h"

#include "core/registry.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const swarm__registry_entry builtins[] = {
    {"spread", (swarm__any_fn)swarm__scheduler_spread_new, NULL},
    {"binpack", (swarm__any_fn)swarm__scheduler_binpack_new, NULL},
};

static swarm__registry strategies = SWARM__REGISTRY_INIT("scheduler strategy", builtins);

SWARM_API int swarm_scheduler_register(const char *name, swarm_scheduler_factory factory, void *payload)
{
    return swarm__registry_add(&strategies, name, (swarm__any_fn)factory, payload);
}

int swarm__scheduler_strategy_create(struct swarm_scheduler_strategy **out, const char *name, swarm__err *e)
{
    *out = NULL;
    swarm__registry_entry found;
    swarm_scheduler_factory factory = NULL;
    void *payload = NULL;
    if (swarm__registry_find(&strategies, name, &found)) {
        factory = (swarm_scheduler_factory)found.factory;
        payload = found.payload;
    }
    if (factory == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "unknown scheduler strategy \"%s\"", name != NULL ? name : "(null)");

    /* The factory runs outside the lock: it is user code and may take its time. */
    struct swarm_scheduler_strategy *s = NULL;
    int rc = factory(&s, payload);
    if (rc != 0) {
        if (s != NULL && s->free != NULL)
            s->free(s);
        return swarm__err_set(e, rc < 0 ? rc : SWARM_EBACKEND, "scheduler strategy \"%s\": factory failed (%d)",
                              name, rc);
    }
    if (s == NULL)
        return swarm__err_set(e, SWARM_EBACKEND, "scheduler strategy \"%s\": factory returned no strategy", name);
    if (s->version != SWARM_SCHEDULER_STRATEGY_VERSION || s->rank == NULL || s->free == NULL) {
        unsigned version = s->version;
        if (s->free != NULL)
            s->free(s);
        return swarm__err_set(e, SWARM_EINVALID,
                              "scheduler strategy \"%s\": version %u is not supported (want %u) or rank/free missing",
                              name, version, (unsigned)SWARM_SCHEDULER_STRATEGY_VERSION);
    }
    *out = s;
    return 0;
}

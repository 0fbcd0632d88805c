/* swarm_scheduler_register and the lookup behind swarm__scheduler_new. */
#include "manager/scheduler/registry.h"

#include "manager/scheduler/scheduler.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 64

typedef struct entry {
    char name[NAME_MAX_LEN + 1];
    swarm_scheduler_factory factory;
    void *payload;
} entry;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static const entry builtins[] = {
    {"spread", swarm__scheduler_spread_new, NULL},
    {"binpack", swarm__scheduler_binpack_new, NULL},
};
/* Registered by the embedding program; lives as long as the process. */
static entry *registered;
static size_t n_registered, cap_registered;

/* Letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 bytes. */
static int name_valid(const char *name)
{
    if (name == NULL || !isalnum((unsigned char)name[0]))
        return 0;
    size_t len = 0;
    for (const char *p = name; *p; p++, len++)
        if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return len <= NAME_MAX_LEN;
}

/* Caller holds registry_lock. */
static const entry *find_locked(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    for (size_t i = 0; i < n_registered; i++)
        if (strcmp(registered[i].name, name) == 0)
            return &registered[i];
    return NULL;
}

SWARM_API int swarm_scheduler_register(const char *name, swarm_scheduler_factory factory, void *payload)
{
    if (!name_valid(name))
        return swarm__error_set(SWARM_EINVALID,
                                "invalid scheduler strategy name \"%s\": use 1-64 letters, digits, '.', '_' or '-'",
                                name != NULL ? name : "(null)");
    if (factory == NULL)
        return swarm__error_set(SWARM_EINVALID, "scheduler strategy \"%s\": no factory", name);
    pthread_mutex_lock(&registry_lock);
    int rc = 0;
    if (find_locked(name) != NULL) {
        rc = SWARM_EEXISTS;
    } else {
        if (n_registered == cap_registered) {
            size_t cap = cap_registered ? cap_registered * 2 : 4;
            entry *grown = realloc(registered, cap * sizeof *grown);
            if (grown == NULL) {
                pthread_mutex_unlock(&registry_lock);
                return swarm__error_nomem();
            }
            registered = grown;
            cap_registered = cap;
        }
        entry *e = &registered[n_registered++];
        strcpy(e->name, name);
        e->factory = factory;
        e->payload = payload;
    }
    pthread_mutex_unlock(&registry_lock);
    if (rc == SWARM_EEXISTS)
        return swarm__error_set(SWARM_EEXISTS, "scheduler strategy \"%s\" is already registered", name);
    return 0;
}

int swarm__scheduler_strategy_create(struct swarm_scheduler_strategy **out, const char *name, swarm__err *e)
{
    *out = NULL;
    swarm_scheduler_factory factory = NULL;
    void *payload = NULL;
    pthread_mutex_lock(&registry_lock);
    const entry *found = name != NULL ? find_locked(name) : NULL;
    if (found != NULL) {
        factory = found->factory;
        payload = found->payload;
    }
    pthread_mutex_unlock(&registry_lock);
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

#include "core/registry.h"

#include "core/error.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int name_valid(const char *name)
{
    if (name == NULL || !isalnum((unsigned char)name[0]))
        return 0;
    size_t len = 0;
    for (const char *p = name; *p; p++, len++)
        if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return len <= SWARM__REGISTRY_NAME_MAX;
}

/* Caller holds the lock. */
static const swarm__registry_entry *find_locked(const swarm__registry *r, const char *name)
{
    for (size_t i = 0; i < r->n_builtins; i++)
        if (strcmp(r->builtins[i].name, name) == 0)
            return &r->builtins[i];
    for (size_t i = 0; i < r->n_added; i++)
        if (strcmp(r->added[i].name, name) == 0)
            return &r->added[i];
    return NULL;
}

int swarm__registry_add(swarm__registry *r, const char *name, swarm__any_fn factory, void *payload)
{
    if (!name_valid(name))
        return swarm__error_set(SWARM_EINVALID, "%s name must be 1-%d characters of [A-Za-z0-9._-]", r->what,
                                SWARM__REGISTRY_NAME_MAX);
    if (factory == NULL)
        return swarm__error_set(SWARM_EINVALID, "%s \"%s\": factory is NULL", r->what, name);
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    if (find_locked(r, name) != NULL) {
        rc = SWARM_EEXISTS;
    } else if (r->n_added == SWARM__REGISTRY_MAX) {
        rc = SWARM_ENOMEM;
    } else {
        swarm__registry_entry *e = &r->added[r->n_added++];
        snprintf(e->name, sizeof e->name, "%s", name);
        e->factory = factory;
        e->payload = payload;
    }
    pthread_mutex_unlock(&r->lock);
    if (rc == SWARM_EEXISTS)
        return swarm__error_set(rc, "%s \"%s\" is already registered", r->what, name);
    if (rc == SWARM_ENOMEM)
        return swarm__error_set(rc, "too many %ss registered (max %d)", r->what, SWARM__REGISTRY_MAX);
    return 0;
}

int swarm__registry_find(swarm__registry *r, const char *name, swarm__registry_entry *out)
{
    if (name == NULL)
        return 0;
    pthread_mutex_lock(&r->lock);
    const swarm__registry_entry *e = find_locked(r, name);
    if (e && out)
        *out = *e;
    pthread_mutex_unlock(&r->lock);
    return e != NULL;
}

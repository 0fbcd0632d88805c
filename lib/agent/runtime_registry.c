/* The registry of task runtime factories, by name ("process", "fake" and the embedder's own). */
#include "agent/runtime.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MAX_RUNTIMES 32
#define NAME_MAX_LEN 32

typedef struct registered {
    char name[NAME_MAX_LEN + 1];
    swarm_runtime_factory factory;
    void *payload;
} registered;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static registered runtimes[MAX_RUNTIMES];
static size_t n_runtimes;

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

static const registered builtins[] = {
    {"process", process_factory, NULL},
    {"fake", fake_factory, NULL},
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
    for (size_t i = 0; i < n_runtimes; i++)
        if (strcmp(runtimes[i].name, name) == 0)
            return &runtimes[i];
    return NULL;
}

int swarm_runtime_register(const char *name, swarm_runtime_factory factory, void *payload)
{
    if (!valid_name(name))
        return swarm__error_set(SWARM_EINVALID, "runtime name must be 1-%d characters of [A-Za-z0-9._-]",
                                NAME_MAX_LEN);
    if (factory == NULL)
        return swarm__error_set(SWARM_EINVALID, "runtime \"%s\": factory is NULL", name);
    int rc = 0;
    pthread_mutex_lock(&lock);
    if (find(name) != NULL) {
        rc = SWARM_EEXISTS;
    } else if (n_runtimes == MAX_RUNTIMES) {
        rc = SWARM_ENOMEM;
    } else {
        registered *r = &runtimes[n_runtimes++];
        snprintf(r->name, sizeof r->name, "%s", name);
        r->factory = factory;
        r->payload = payload;
    }
    pthread_mutex_unlock(&lock);
    if (rc == SWARM_EEXISTS)
        return swarm__error_set(rc, "runtime \"%s\" is already registered", name);
    if (rc == SWARM_ENOMEM)
        return swarm__error_set(rc, "too many runtimes registered (max %d)", MAX_RUNTIMES);
    return 0;
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
    pthread_mutex_lock(&lock);
    const registered *r = find(name);
    registered copy;
    if (r != NULL)
        copy = *r;
    pthread_mutex_unlock(&lock);
    if (r == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "unknown runtime \"%s\"", name);

    struct swarm_runtime_backend *b = NULL;
    swarm_error_clear();
    int rc = copy.factory(&b, copy.payload);
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
    pthread_mutex_lock(&lock);
    int known = name != NULL && find(name) != NULL;
    pthread_mutex_unlock(&lock);
    return known;
}

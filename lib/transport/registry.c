/* Built-in transports by name, and the backend sanity check. */
#include "transport/transport.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

int swarm__transport_backend_check(const struct swarm_transport_backend *b, swarm__err *e)
{
    if (b == NULL)
        return swarm__err_set(e, SWARM_EBACKEND, "transport backend is NULL");
    const char *name = b->name ? b->name : "(unnamed)";
    if (b->version < 1 || b->version > SWARM_TRANSPORT_BACKEND_VERSION)
        return swarm__err_set(e, SWARM_EBACKEND, "transport \"%s\": unsupported version %u", name, b->version);
    if (!b->open || !b->set_tls || !b->listen || !b->dial || !b->close_link || !b->send || !b->request ||
        !b->respond || !b->close || !b->free)
        return swarm__err_set(e, SWARM_EBACKEND, "transport \"%s\": a mandatory method is missing", name);
    return 0;
}

static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned mem_counter;

int swarm__transport_create(const char *name, struct swarm_transport_backend **out, swarm__err *e)
{
    if (out == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "transport: out is NULL");
    *out = NULL;
    if (name == NULL || name[0] == '\0')
        name = SWARM__TRANSPORT_DEFAULT;
    struct swarm_transport_backend *b = NULL;
    int rc;
    if (strcmp(name, "nng") == 0) {
        rc = swarm__transport_nng_new(&b);
    } else if (strcmp(name, "mem") == 0) {
        swarm__mem_network *net = swarm__mem_network_default();
        if (net == NULL)
            return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
        char node[32];
        pthread_mutex_lock(&counter_lock);
        unsigned n = ++mem_counter;
        pthread_mutex_unlock(&counter_lock);
        snprintf(node, sizeof node, "mem-%u", n);
        rc = swarm__transport_mem_new(&b, net, node);
    } else {
        return swarm__err_set(e, SWARM_EINVALID, "unknown transport \"%s\"", name);
    }
    if (rc != 0)
        return swarm__err_set(e, rc, "transport \"%s\": %s", name, swarm_strerror(rc));
    rc = swarm__transport_backend_check(b, e);
    if (rc != 0) {
        b->free(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* Public entry points for the node handle: open, init, inspect, info, close. */
#include "api/handle.h"

#include "core/error.h"
#include "core/json.h"

#include <stdlib.h>
#include <string.h>

#ifndef SWARM_VERSION_STRING
#define SWARM_VERSION_STRING "0.0.0"
#endif

#define DEFAULT_TIMEOUT_MS 30000

const char *swarm_version(void)
{
    return SWARM_VERSION_STRING;
}

void swarm_free(void *ptr)
{
    free(ptr);
}

int swarm__api_require(const void *p, const char *what)
{
    if (p == NULL)
        return swarm__error_set(SWARM_EINVALID, "%s: must not be NULL", what);
    return 0;
}

int swarm__api_call(swarm_cluster_t *c, const char *method, json_t *request, json_t **result)
{
    if (result)
        *result = NULL;
    char *params = request ? swarm__json_dump(request) : NULL;
    if (request && params == NULL)
        return swarm__error_nomem();
    char *text = NULL;
    int timeout = atomic_load(&c->timeout_ms);
    int rc = c->engine ? swarm__engine_rpc(c->engine, method, params, &text, timeout)
                       : swarm__client_rpc(c->client, method, params, &text, timeout);
    free(params);
    if (rc != 0)
        return rc;
    if (result) {
        json_error_t err;
        *result = json_loads(text, JSON_DECODE_ANY, &err);
        if (*result == NULL) {
            free(text);
            return swarm__error_set(SWARM_EBACKEND, "%s: malformed reply: %s", method, err.text);
        }
    }
    free(text);
    return 0;
}

int swarm_cluster_open(swarm_cluster_t **out, const char *options_json)
{
    int rc = swarm__api_require(out, "out");
    if (rc)
        return rc;
    *out = NULL;
    swarm_cluster_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return swarm__error_nomem();
    atomic_init(&c->timeout_ms, DEFAULT_TIMEOUT_MS);
    rc = swarm__engine_open(&c->engine, options_json);
    if (rc != 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int swarm_cluster_connect(swarm_cluster_t **out, const char *url)
{
    int rc = swarm__api_require(out, "out");
    if (rc)
        return rc;
    *out = NULL;
    swarm_cluster_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return swarm__error_nomem();
    atomic_init(&c->timeout_ms, DEFAULT_TIMEOUT_MS);
    rc = swarm__client_new(&c->client, url);
    if (rc != 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int swarm_cluster_serve(swarm_cluster_t *c, const char *url)
{
    int rc = swarm__api_require(c, "cluster");
    if (rc)
        return rc;
    if (c->engine == NULL)
        return swarm__error_set(SWARM_ENOTSUPPORTED, "only an embedded node can serve a control socket");
    if (c->server != NULL)
        return swarm__error_set(SWARM_EBUSY, "this node already serves a control socket");
    return swarm__server_start(&c->server, c->engine, url);
}

int swarm_cluster_init(swarm_cluster_t *c, const char *request_json)
{
    int rc = swarm__api_require(c, "cluster");
    if (rc)
        return rc;
    json_t *req = NULL;
    if (request_json) {
        req = swarm__json_parse(request_json, "init request");
        if (req == NULL)
            return swarm_error_last()->code;
        if (!json_is_object(req)) {
            json_decref(req);
            return swarm__error_set(SWARM_EINVALID, "init request: must be a JSON object");
        }
    }
    rc = swarm__api_call(c, "SwarmInit", req, NULL);
    json_decref(req);
    return rc;
}

int swarm_cluster_join(swarm_cluster_t *c, const char *request_json)
{
    int rc = swarm__api_require(c, "cluster");
    if (rc == 0)
        rc = swarm__api_require(request_json, "request");
    if (rc)
        return rc;
    json_t *req = swarm__json_parse(request_json, "join request");
    if (req == NULL)
        return swarm_error_last()->code;
    if (!json_is_object(req)) {
        json_decref(req);
        return swarm__error_set(SWARM_EINVALID, "join request: must be a JSON object");
    }
    /* Joining waits on the network: give it longer than an ordinary call. */
    int saved = atomic_load(&c->timeout_ms);
    if (saved < 30000)
        atomic_store(&c->timeout_ms, 30000);
    rc = swarm__api_call(c, "SwarmJoin", req, NULL);
    atomic_store(&c->timeout_ms, saved);
    json_decref(req);
    return rc;
}

int swarm_cluster_leave(swarm_cluster_t *c, int force)
{
    int rc = swarm__api_require(c, "cluster");
    if (rc)
        return rc;
    json_t *req = json_pack("{s:b}", "Force", force != 0);
    rc = req ? swarm__api_call(c, "SwarmLeave", req, NULL) : swarm__error_nomem();
    json_decref(req);
    return rc;
}

int swarm_cluster_update(swarm_cluster_t *c, uint64_t version, const char *spec_json, const char *flags_json)
{
    int rc = swarm__api_require(c, "cluster");
    if (rc)
        return rc;
    json_t *req = json_pack("{s:I}", "Version", (json_int_t)version);
    if (req == NULL)
        return swarm__error_nomem();
    if (spec_json) {
        json_t *spec = swarm__json_parse(spec_json, "swarm spec");
        if (spec == NULL) {
            json_decref(req);
            return swarm_error_last()->code;
        }
        json_object_set_new(req, "Spec", spec);
    }
    if (flags_json) {
        json_t *flags = swarm__json_parse(flags_json, "update flags");
        if (!json_is_object(flags)) {
            json_decref(flags);
            json_decref(req);
            return flags ? swarm__error_set(SWARM_EINVALID, "update flags: must be a JSON object")
                         : swarm_error_last()->code;
        }
        const char *key;
        json_t *v;
        json_object_foreach(flags, key, v) {
            if (strcmp(key, "RotateWorkerToken") && strcmp(key, "RotateManagerToken")) {
                json_decref(flags);
                json_decref(req);
                return swarm__error_set(SWARM_EINVALID, "update flags: unknown flag \"%s\"", key);
            }
        }
        json_object_update(req, flags);
        json_decref(flags);
    }
    rc = swarm__api_call(c, "SwarmUpdate", req, NULL);
    json_decref(req);
    return rc;
}

static int call_text(swarm_cluster_t *c, const char *method, char **out)
{
    int rc = swarm__api_require(c, "cluster");
    if (rc == 0)
        rc = swarm__api_require(out, "out");
    if (rc)
        return rc;
    *out = NULL;
    json_t *result;
    rc = swarm__api_call(c, method, NULL, &result);
    if (rc != 0)
        return rc;
    *out = swarm__json_dump_pretty(result);
    json_decref(result);
    return *out ? 0 : swarm__error_nomem();
}

int swarm_cluster_inspect(swarm_cluster_t *c, char **out)
{
    return call_text(c, "SwarmInspect", out);
}

int swarm_cluster_info(swarm_cluster_t *c, char **out)
{
    return call_text(c, "Info", out);
}

int swarm_cluster_set_call_timeout(swarm_cluster_t *c, int ms)
{
    int rc = swarm__api_require(c, "cluster");
    if (rc)
        return rc;
    if (ms <= 0)
        return swarm__error_set(SWARM_EINVALID, "timeout: must be > 0 milliseconds, got %d", ms);
    atomic_store(&c->timeout_ms, ms);
    return 0;
}

void swarm_cluster_close(swarm_cluster_t *c)
{
    if (c == NULL)
        return;
    swarm__server_stop(c->server);
    swarm__engine_close(c->engine);
    swarm__client_free(c->client);
    free(c);
}

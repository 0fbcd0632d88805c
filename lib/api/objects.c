/* Public object handles (service, node, task): immutable snapshots of one Docker-shaped object. */
#include "api/handle.h"

#include "core/error.h"
#include "core/json.h"

#include <stdlib.h>
#include <string.h>

/* Every handle is the object plus a few strings cut out of it for the getters. */
struct swarm_service {
    json_t *obj;
    const char *mode;
    uint64_t replicas;
};

struct swarm_node {
    json_t *obj;
};

struct swarm_task {
    json_t *obj;
};

static const char *str_or_empty(const json_t *obj, const char *path)
{
    const char *s = swarm__json_str(obj, path);
    return s ? s : "";
}

static uint64_t u64_at(const json_t *obj, const char *path)
{
    int64_t v = swarm__json_int(obj, path, 0);
    return v > 0 ? (uint64_t)v : 0;
}

static char *dump(const json_t *obj)
{
    return obj ? swarm__json_dump_pretty(obj) : NULL;
}

/* Builds the request {"Ref": ref} after checking the arguments. */
static int ref_request(json_t **req, const void *c, const char *ref, const void *out)
{
    int rc = swarm__api_require(c, "cluster");
    if (rc == 0)
        rc = swarm__api_require(out, "out");
    if (rc == 0)
        rc = swarm__api_require(ref, "reference");
    if (rc)
        return rc;
    if (ref[0] == '\0')
        return swarm__error_set(SWARM_EINVALID, "reference: must not be empty");
    *req = json_pack("{s:s}", "Ref", ref);
    return *req ? 0 : swarm__error_nomem();
}

static int filters_request(json_t **req, const void *c, const char *filters_json, const void *out,
                           const size_t *count)
{
    int rc = swarm__api_require(c, "cluster");
    if (rc == 0)
        rc = swarm__api_require(out, "out");
    if (rc == 0)
        rc = swarm__api_require(count, "count");
    if (rc)
        return rc;
    json_t *filters = NULL;
    if (filters_json) {
        filters = swarm__json_parse(filters_json, "filters");
        if (filters == NULL)
            return swarm_error_last()->code;
    }
    *req = json_pack("{s:o}", "Filters", filters ? filters : json_null());
    return *req ? 0 : swarm__error_nomem();
}

/* Turns a reply array into handles made by wrap(); frees the array. */
static int to_list(json_t *arr, void *(*wrap)(json_t *), void (*free_one)(void *), void ***out, size_t *count)
{
    size_t n = json_array_size(arr);
    void **list = calloc(n ? n : 1, sizeof *list);
    if (list == NULL) {
        json_decref(arr);
        return swarm__error_nomem();
    }
    for (size_t i = 0; i < n; i++) {
        list[i] = wrap(json_incref(json_array_get(arr, i)));
        if (list[i] == NULL) {
            for (size_t j = 0; j < i; j++)
                free_one(list[j]);
            free(list);
            json_decref(arr);
            return swarm__error_nomem();
        }
    }
    json_decref(arr);
    *out = list;
    *count = n;
    return 0;
}

typedef void *(*wrap_fn)(json_t *obj);

/* A "<Kind>Get" call wrapped into a handle. */
static int get_one(swarm_cluster_t *c, const char *method, const char *ref, wrap_fn wrap, void **out)
{
    json_t *req = NULL, *obj = NULL;
    if (out)
        *out = NULL;
    int rc = ref_request(&req, c, ref, out);
    if (rc)
        return rc;
    rc = swarm__api_call(c, method, req, &obj);
    json_decref(req);
    if (rc)
        return rc;
    *out = wrap(obj);
    return *out ? 0 : swarm__error_nomem();
}

/* A "<Kind>List" call wrapped into an array of handles. */
static int get_list(swarm_cluster_t *c, const char *method, const char *filters_json, wrap_fn wrap,
                    void (*free_one)(void *), void ***out, size_t *count)
{
    json_t *req = NULL, *arr = NULL;
    if (out)
        *out = NULL;
    if (count)
        *count = 0;
    int rc = filters_request(&req, c, filters_json, out, count);
    if (rc)
        return rc;
    rc = swarm__api_call(c, method, req, &arr);
    json_decref(req);
    return rc ? rc : to_list(arr, wrap, free_one, out, count);
}

/* ------------------------------------------------------------ services */

static const char *mode_of(const json_t *obj)
{
    const json_t *mode = swarm__json_get(obj, "Spec.Mode");
    if (json_object_get(mode, "Global"))
        return "global";
    if (json_object_get(mode, "ReplicatedJob"))
        return "replicated-job";
    if (json_object_get(mode, "GlobalJob"))
        return "global-job";
    return "replicated";
}

static void *wrap_service(json_t *obj)
{
    struct swarm_service *s = calloc(1, sizeof *s);
    if (s == NULL) {
        json_decref(obj);
        return NULL;
    }
    s->obj = obj;
    s->mode = mode_of(obj);
    if (strcmp(s->mode, "replicated") == 0)
        s->replicas = u64_at(obj, "Spec.Mode.Replicated.Replicas");
    else if (strcmp(s->mode, "replicated-job") == 0)
        s->replicas = u64_at(obj, "Spec.Mode.ReplicatedJob.TotalCompletions");
    return s;
}

static int service_out(json_t *obj, swarm_service_t **out)
{
    if (out == NULL) {
        json_decref(obj);
        return 0;
    }
    *out = wrap_service(obj);
    return *out ? 0 : swarm__error_nomem();
}

static int parse_spec(const char *spec_json, json_t **spec)
{
    int rc = swarm__api_require(spec_json, "spec");
    if (rc)
        return rc;
    *spec = swarm__json_parse(spec_json, "service spec");
    if (*spec == NULL)
        return swarm_error_last()->code;
    if (!json_is_object(*spec)) {
        json_decref(*spec);
        return swarm__error_set(SWARM_EINVALID, "spec: must be a JSON object");
    }
    return 0;
}

int swarm_service_create(swarm_cluster_t *c, const char *spec_json, swarm_service_t **out)
{
    if (out)
        *out = NULL;
    int rc = swarm__api_require(c, "cluster");
    json_t *spec;
    if (rc || (rc = parse_spec(spec_json, &spec)))
        return rc;
    json_t *req = json_pack("{s:o}", "Spec", spec);
    if (req == NULL)
        return swarm__error_nomem();
    json_t *obj;
    rc = swarm__api_call(c, "ServiceCreate", req, &obj);
    json_decref(req);
    return rc ? rc : service_out(obj, out);
}

int swarm_service_get(swarm_cluster_t *c, const char *id_or_name, swarm_service_t **out)
{
    return get_one(c, "ServiceGet", id_or_name, wrap_service, (void **)out);
}

int swarm_service_list(swarm_cluster_t *c, const char *filters_json, swarm_service_t ***out, size_t *count)
{
    return get_list(c, "ServiceList", filters_json, wrap_service, (void (*)(void *))swarm_service_free,
                    (void ***)out, count);
}

int swarm_service_update(swarm_cluster_t *c, const char *id_or_name, uint64_t version, const char *spec_json,
                         swarm_service_t **out)
{
    json_t *req = NULL, *spec = NULL, *obj = NULL;
    if (out)
        *out = NULL;
    int rc = ref_request(&req, c, id_or_name, &req);
    if (rc)
        return rc;
    if ((rc = parse_spec(spec_json, &spec))) {
        json_decref(req);
        return rc;
    }
    if (version > INT64_MAX) {
        json_decref(req);
        json_decref(spec);
        return swarm__error_set(SWARM_EINVALID, "version: out of range");
    }
    json_object_set_new(req, "Version", json_integer((json_int_t)version));
    json_object_set_new(req, "Spec", spec);
    rc = swarm__api_call(c, "ServiceUpdate", req, &obj);
    json_decref(req);
    return rc ? rc : service_out(obj, out);
}

int swarm_service_remove(swarm_cluster_t *c, const char *id_or_name)
{
    json_t *req = NULL;
    int rc = ref_request(&req, c, id_or_name, &req);
    if (rc)
        return rc;
    rc = swarm__api_call(c, "ServiceRemove", req, NULL);
    json_decref(req);
    return rc;
}

const char *swarm_service_id(const swarm_service_t *s) { return s ? str_or_empty(s->obj, "ID") : ""; }
const char *swarm_service_name(const swarm_service_t *s) { return s ? str_or_empty(s->obj, "Spec.Name") : ""; }
uint64_t swarm_service_version(const swarm_service_t *s) { return s ? u64_at(s->obj, "Version.Index") : 0; }
const char *swarm_service_created_at(const swarm_service_t *s) { return s ? str_or_empty(s->obj, "CreatedAt") : ""; }
const char *swarm_service_updated_at(const swarm_service_t *s) { return s ? str_or_empty(s->obj, "UpdatedAt") : ""; }
const char *swarm_service_image(const swarm_service_t *s)
{
    return s ? str_or_empty(s->obj, "Spec.TaskTemplate.ContainerSpec.Image") : "";
}
const char *swarm_service_mode(const swarm_service_t *s) { return s ? s->mode : ""; }
uint64_t swarm_service_replicas(const swarm_service_t *s) { return s ? s->replicas : 0; }
char *swarm_service_json(const swarm_service_t *s) { return s ? dump(s->obj) : NULL; }

void swarm_service_free(swarm_service_t *s)
{
    if (s == NULL)
        return;
    json_decref(s->obj);
    free(s);
}

void swarm_service_list_free(swarm_service_t **list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        swarm_service_free(list[i]);
    free(list);
}

/* ------------------------------------------------------------ nodes */

static void *wrap_node(json_t *obj)
{
    struct swarm_node *n = calloc(1, sizeof *n);
    if (n == NULL) {
        json_decref(obj);
        return NULL;
    }
    n->obj = obj;
    return n;
}

int swarm_node_get(swarm_cluster_t *c, const char *id_or_name, swarm_node_t **out)
{
    return get_one(c, "NodeGet", id_or_name, wrap_node, (void **)out);
}

int swarm_node_list(swarm_cluster_t *c, const char *filters_json, swarm_node_t ***out, size_t *count)
{
    return get_list(c, "NodeList", filters_json, wrap_node, (void (*)(void *))swarm_node_free, (void ***)out, count);
}

int swarm_node_update(swarm_cluster_t *c, const char *id_or_name, uint64_t version, const char *spec_json)
{
    json_t *req = NULL, *spec = NULL;
    int rc = ref_request(&req, c, id_or_name, &req);
    if (rc)
        return rc;
    if ((rc = swarm__api_require(spec_json, "spec")) == 0 &&
        (spec = swarm__json_parse(spec_json, "node spec")) == NULL)
        rc = swarm_error_last()->code;
    if (rc == 0 && !json_is_object(spec))
        rc = swarm__error_set(SWARM_EINVALID, "node spec: must be a JSON object");
    if (rc == 0) {
        json_object_set_new(req, "Version", json_integer((json_int_t)version));
        json_object_set(req, "Spec", spec);
        rc = swarm__api_call(c, "NodeUpdate", req, NULL);
    }
    json_decref(spec);
    json_decref(req);
    return rc;
}

int swarm_node_remove(swarm_cluster_t *c, const char *id_or_name, int force)
{
    json_t *req = NULL;
    int rc = ref_request(&req, c, id_or_name, &req);
    if (rc)
        return rc;
    json_object_set_new(req, "Force", json_boolean(force != 0));
    rc = swarm__api_call(c, "NodeRemove", req, NULL);
    json_decref(req);
    return rc;
}

const char *swarm_node_id(const swarm_node_t *n) { return n ? str_or_empty(n->obj, "ID") : ""; }
uint64_t swarm_node_version(const swarm_node_t *n) { return n ? u64_at(n->obj, "Version.Index") : 0; }
const char *swarm_node_hostname(const swarm_node_t *n) { return n ? str_or_empty(n->obj, "Description.Hostname") : ""; }
const char *swarm_node_role(const swarm_node_t *n) { return n ? str_or_empty(n->obj, "Spec.Role") : ""; }
const char *swarm_node_availability(const swarm_node_t *n) { return n ? str_or_empty(n->obj, "Spec.Availability") : ""; }
const char *swarm_node_state(const swarm_node_t *n) { return n ? str_or_empty(n->obj, "Status.State") : ""; }
int swarm_node_is_leader(const swarm_node_t *n)
{
    return n && json_is_true(swarm__json_get(n->obj, "ManagerStatus.Leader"));
}
char *swarm_node_json(const swarm_node_t *n) { return n ? dump(n->obj) : NULL; }

void swarm_node_free(swarm_node_t *n)
{
    if (n == NULL)
        return;
    json_decref(n->obj);
    free(n);
}

void swarm_node_list_free(swarm_node_t **list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        swarm_node_free(list[i]);
    free(list);
}

/* ------------------------------------------------------------ tasks */

static void *wrap_task(json_t *obj)
{
    struct swarm_task *t = calloc(1, sizeof *t);
    if (t == NULL) {
        json_decref(obj);
        return NULL;
    }
    t->obj = obj;
    return t;
}

int swarm_task_get(swarm_cluster_t *c, const char *id, swarm_task_t **out)
{
    return get_one(c, "TaskGet", id, wrap_task, (void **)out);
}

int swarm_task_list(swarm_cluster_t *c, const char *filters_json, swarm_task_t ***out, size_t *count)
{
    return get_list(c, "TaskList", filters_json, wrap_task, (void (*)(void *))swarm_task_free, (void ***)out, count);
}

const char *swarm_task_id(const swarm_task_t *t) { return t ? str_or_empty(t->obj, "ID") : ""; }
uint64_t swarm_task_version(const swarm_task_t *t) { return t ? u64_at(t->obj, "Version.Index") : 0; }
const char *swarm_task_service_id(const swarm_task_t *t) { return t ? str_or_empty(t->obj, "ServiceID") : ""; }
const char *swarm_task_node_id(const swarm_task_t *t) { return t ? str_or_empty(t->obj, "NodeID") : ""; }
uint64_t swarm_task_slot(const swarm_task_t *t) { return t ? u64_at(t->obj, "Slot") : 0; }
const char *swarm_task_state(const swarm_task_t *t) { return t ? str_or_empty(t->obj, "Status.State") : ""; }
const char *swarm_task_desired_state(const swarm_task_t *t) { return t ? str_or_empty(t->obj, "DesiredState") : ""; }
char *swarm_task_json(const swarm_task_t *t) { return t ? dump(t->obj) : NULL; }

void swarm_task_free(swarm_task_t *t)
{
    if (t == NULL)
        return;
    json_decref(t->obj);
    free(t);
}

void swarm_task_list_free(swarm_task_t **list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        swarm_task_free(list[i]);
    free(list);
}

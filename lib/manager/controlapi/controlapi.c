#include "manager/controlapi/controlapi.h"

#include "core/id.h"
#include "core/json.h"
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

typedef struct pending_reply {
    swarm__controlapi *api;
    swarm__reply_fn reply;
    void *payload;
    swarm__kind kind;
    char id[SWARM__IDBUF];
    int want_object; /* reply with the object as applied */
    json_t *created; /* a create's object: the store keeps it as is, with Version.Index = the index */
} pending_reply;

static void fail(swarm__reply_fn reply, void *payload, const swarm__err *e)
{
    reply(payload, e->code, e, NULL);
}

static int open_snap(swarm__controlapi *api, swarm__snap **out, swarm__err *e)
{
    return swarm__snap_begin(api->store, out, e);
}

static const char *ref_of(const json_t *req, swarm__err *e, const char *kind)
{
    const char *ref = json_string_value(json_object_get(req, "Ref"));
    if (ref == NULL || ref[0] == '\0') {
        swarm__err_set(e, SWARM_EINVALID, "%s reference must not be empty", kind);
        return NULL;
    }
    return ref;
}

static void after_apply(void *arg, int rc, const swarm__err *err, uint64_t index)
{
    pending_reply *p = arg;
    if (rc != 0) {
        json_decref(p->created);
        p->reply(p->payload, rc, err, NULL);
        free(p);
        return;
    }
    json_t *obj = NULL;
    if (p->created) {
        /* No read back: what the store wrote is known. */
        obj = p->created;
        json_object_set_new(obj, "Version", json_pack("{s:I}", "Index", (json_int_t)index));
    } else if (p->want_object) {
        swarm__snap *snap;
        swarm__err e;
        if (open_snap(p->api, &snap, &e) != 0) {
            fail(p->reply, p->payload, &e);
            free(p);
            return;
        }
        obj = swarm__snap_get(snap, p->kind, p->id);
        swarm__snap_end(snap);
        if (obj == NULL) {
            /* Removed again before we could read it back; report what was written. */
            swarm__err_set(&e, SWARM_ENOTFOUND, "%s %s not found", swarm__kind_name(p->kind), p->id);
            fail(p->reply, p->payload, &e);
            free(p);
            return;
        }
    }
    p->reply(p->payload, 0, NULL, obj);
    free(p);
}

/* Proposes one action; the reply follows the apply. Steals object. */
static void propose_one(swarm__controlapi *api, swarm__op op, swarm__kind kind, json_t *object, uint64_t expect,
                        int want_object, swarm__reply_fn reply, void *payload)
{
    swarm__err e;
    pending_reply *p = calloc(1, sizeof *p);
    if (p == NULL) {
        json_decref(object);
        swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
        fail(reply, payload, &e);
        return;
    }
    p->api = api;
    p->reply = reply;
    p->payload = payload;
    p->kind = kind;
    p->want_object = want_object;
    snprintf(p->id, sizeof p->id, "%s", swarm__json_str(object, "ID") ? swarm__json_str(object, "ID") : "");
    swarm__action act = {op, kind, object, expect};
    int rc = api->proposer->propose(api->proposer, &act, 1, after_apply, p, &e);
    if (rc == 0 && op == SWARM__OP_CREATE && want_object)
        p->created = json_incref(object); /* the proposal holds its own encoded copy */
    json_decref(object);
    if (rc != 0) {
        free(p);
        fail(reply, payload, &e);
    }
}

static json_t *timestamp(const swarm__clock *clk)
{
    char buf[SWARM__TIME_LEN];
    swarm__time_format(buf, clk->wall_ns(clk->data));
    return json_string(buf);
}

/* Names for services created without one, in the spirit of Docker's generator. */
static void generate_name(const swarm__clock *clk, char *out, size_t size)
{
    static const char *const left[] = {"brave", "calm", "eager", "gifted", "happy", "jolly", "keen", "lucid",
                                       "merry", "nifty", "proud", "quirky", "sharp", "tender", "vivid", "witty"};
    static const char *const right[] = {"babbage", "curie", "darwin", "euler", "fermi", "gauss", "hopper",
                                        "knuth", "lovelace", "noether", "pascal", "ritchie", "shannon",
                                        "thompson", "turing", "wozniak"};
    unsigned char r[2] = {0, 0};
    clk->random(clk->data, r, sizeof r);
    snprintf(out, size, "%s_%s", left[r[0] % 16], right[r[1] % 16]);
}

/* ------------------------------------------------------------ services */

static int validated_spec(const json_t *req, json_t **out, swarm__err *e)
{
    const json_t *spec = json_object_get(req, "Spec");
    if (!json_is_object(spec))
        return swarm__err_set(e, SWARM_EINVALID, "spec: must be a JSON object");
    json_t *copy = json_deep_copy(spec);
    if (copy == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    int rc = swarm__service_spec_validate(copy, e);
    if (rc == 0) {
        swarm__service_spec decoded;
        rc = swarm__service_spec_decode(&decoded, copy, e);
        if (rc == 0)
            swarm__service_spec_free(&decoded);
    }
    if (rc != 0) {
        json_decref(copy);
        return rc;
    }
    *out = copy;
    return 0;
}

static void service_create(swarm__controlapi *api, const json_t *req, swarm__reply_fn reply, void *payload)
{
    swarm__err e;
    json_t *spec;
    if (validated_spec(req, &spec, &e) != 0)
        return fail(reply, payload, &e);
    swarm__snap *snap;
    if (open_snap(api, &snap, &e) != 0) {
        json_decref(spec);
        return fail(reply, payload, &e);
    }
    const char *name = swarm__json_str(spec, "Name");
    if (name == NULL || name[0] == '\0') {
        char gen[64];
        for (int tries = 0; tries < 32; tries++) {
            generate_name(api->clock, gen, sizeof gen);
            json_t *taken = swarm__snap_get_by_name(snap, SWARM__KIND_SERVICE, gen);
            json_decref(taken);
            if (taken == NULL)
                break;
        }
        json_object_set_new(spec, "Name", json_string(gen));
        name = swarm__json_str(spec, "Name");
    }
    json_t *taken = swarm__snap_get_by_name(snap, SWARM__KIND_SERVICE, name);
    swarm__snap_end(snap);
    if (taken != NULL) {
        json_decref(taken);
        swarm__err_set(&e, SWARM_EEXISTS, "name conflicts with an existing object: service %s already exists", name);
        json_decref(spec);
        return fail(reply, payload, &e);
    }
    char id[SWARM__ID_LEN + 1];
    if (swarm__id_new(api->clock, id) != 0) {
        json_decref(spec);
        swarm__err_set(&e, SWARM_EIO, "cannot read random bytes for an ID");
        return fail(reply, payload, &e);
    }
    json_t *now = timestamp(api->clock);
    json_t *endpoint_spec = json_object_get(spec, "EndpointSpec");
    json_t *obj = json_pack("{s:s, s:{s:i}, s:O, s:o, s:o, s:{s:o}}", "ID", id, "Version", "Index", 0, "CreatedAt",
                            now, "UpdatedAt", json_copy(now), "Spec", spec, "Endpoint", "Spec",
                            endpoint_spec ? json_incref(endpoint_spec) : json_object());
    json_decref(now);
    if (obj == NULL) {
        swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
        return fail(reply, payload, &e);
    }
    propose_one(api, SWARM__OP_CREATE, SWARM__KIND_SERVICE, obj, 0, 1, reply, payload);
}

static int lookup(swarm__controlapi *api, swarm__kind kind, const char *ref, json_t **out, swarm__err *e);

int swarm__controlapi_lookup(swarm__controlapi *api, swarm__kind kind, const char *ref, json_t **out, swarm__err *e)
{
    if (strcmp(ref, "self") == 0 && kind == SWARM__KIND_NODE && api->self_node_id)
        ref = api->self_node_id;
    return lookup(api, kind, ref, out, e);
}

static int lookup(swarm__controlapi *api, swarm__kind kind, const char *ref, json_t **out, swarm__err *e)
{
    swarm__snap *snap;
    int rc = open_snap(api, &snap, e);
    if (rc != 0)
        return rc;
    rc = swarm__snap_lookup(snap, kind, ref, out, e);
    if (rc == SWARM_ENOTFOUND && kind == SWARM__KIND_NODE) {
        /* Nodes are also known by hostname (when unique). */
        json_t *all = NULL;
        swarm__err e2;
        if (swarm__snap_list(snap, SWARM__KIND_NODE, NULL, NULL, &all, &e2) == 0) {
            size_t i, matches = 0;
            json_t *n, *found = NULL;
            json_array_foreach(all, i, n) {
                const char *h = swarm__json_str(n, "Description.Hostname");
                if (h && strcmp(h, ref) == 0) {
                    matches++;
                    found = n;
                }
            }
            if (matches == 1) {
                *out = json_incref(found);
                rc = 0;
            } else if (matches > 1) {
                rc = swarm__err_set(e, SWARM_EINVALID, "node %s is ambiguous (%zu matches found)", ref, matches);
            }
            json_decref(all);
        }
    }
    swarm__snap_end(snap);
    return rc;
}

static void get_handler(swarm__controlapi *api, swarm__kind kind, const json_t *req, swarm__reply_fn reply,
                        void *payload)
{
    swarm__err e;
    const char *ref = ref_of(req, &e, swarm__kind_name(kind));
    if (ref == NULL)
        return fail(reply, payload, &e);
    if (kind == SWARM__KIND_NODE && strcmp(ref, "self") == 0 && api->self_node_id)
        ref = api->self_node_id;
    json_t *obj;
    if (lookup(api, kind, ref, &obj, &e) != 0)
        return fail(reply, payload, &e);
    reply(payload, 0, NULL, obj);
}

static void service_get(swarm__controlapi *api, const json_t *req, swarm__reply_fn reply, void *payload)
{
    get_handler(api, SWARM__KIND_SERVICE, req, reply, payload);
}

static void service_update(swarm__controlapi *api, const json_t *req, swarm__reply_fn reply, void *payload)
{
    swarm__err e;
    const char *ref = ref_of(req, &e, "service");
    if (ref == NULL)
        return fail(reply, payload, &e);
    json_t *version = json_object_get(req, "Version");
    if (!json_is_integer(version) || json_integer_value(version) <= 0) {
        swarm__err_set(&e, SWARM_EINVALID, "invalid service version: must be the Version.Index read before the update");
        return fail(reply, payload, &e);
    }
    json_t *spec;
    if (validated_spec(req, &spec, &e) != 0)
        return fail(reply, payload, &e);
    json_t *cur;
    if (lookup(api, SWARM__KIND_SERVICE, ref, &cur, &e) != 0) {
        json_decref(spec);
        return fail(reply, payload, &e);
    }
    uint64_t expect = (uint64_t)json_integer_value(version);
    const char *old_name = swarm__json_str(cur, "Spec.Name");
    const char *new_name = swarm__json_str(spec, "Name");
    if (new_name == NULL || new_name[0] == '\0') {
        json_object_set_new(spec, "Name", json_string(old_name ? old_name : ""));
    } else if (old_name && strcmp(old_name, new_name) != 0) {
        swarm__err_set(&e, SWARM_EINVALID, "Name: renaming services is not supported");
        json_decref(spec);
        json_decref(cur);
        return fail(reply, payload, &e);
    }
    if ((uint64_t)swarm__json_int(cur, "Version.Index", 0) != expect) {
        swarm__err_set(&e, SWARM_ECONFLICT, "update out of sequence");
        json_decref(spec);
        json_decref(cur);
        return fail(reply, payload, &e);
    }
    json_t *obj = json_deep_copy(cur);
    json_decref(cur);
    if (obj == NULL) {
        json_decref(spec);
        swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
        return fail(reply, payload, &e);
    }
    json_object_set(obj, "PreviousSpec", json_object_get(obj, "Spec"));
    json_t *endpoint_spec = json_object_get(spec, "EndpointSpec");
    swarm__json_set(obj, "Endpoint.Spec", endpoint_spec ? json_incref(endpoint_spec) : json_object());
    json_object_set_new(obj, "Spec", spec);
    json_object_set_new(obj, "UpdatedAt", timestamp(api->clock));
    propose_one(api, SWARM__OP_UPDATE, SWARM__KIND_SERVICE, obj, expect, 1, reply, payload);
}

static void service_remove(swarm__controlapi *api, const json_t *req, swarm__reply_fn reply, void *payload)
{
    swarm__err e;
    const char *ref = ref_of(req, &e, "service");
    if (ref == NULL)
        return fail(reply, payload, &e);
    json_t *cur;
    if (lookup(api, SWARM__KIND_SERVICE, ref, &cur, &e) != 0)
        return fail(reply, payload, &e);
    uint64_t expect = (uint64_t)swarm__json_int(cur, "Version.Index", 0);
    propose_one(api, SWARM__OP_DELETE, SWARM__KIND_SERVICE, cur, expect, 0, reply, payload);
}

/* ------------------------------------------------------------ lists */

static int any_prefix(const json_t *values, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v) {
        const char *p = json_string_value(v);
        if (s && strncmp(s, p, strlen(p)) == 0)
            return 1;
    }
    return 0;
}

static int any_equal(const json_t *values, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v) {
        if (s && strcmp(s, json_string_value(v)) == 0)
            return 1;
    }
    return 0;
}

/* "k" matches when the label exists; "k=v" when it has that value. */
static int any_label(const json_t *values, const json_t *labels)
{
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v) {
        const char *want = json_string_value(v);
        const char *eq = strchr(want, '=');
        if (!json_is_object(labels))
            continue;
        if (eq == NULL) {
            if (json_object_get(labels, want))
                return 1;
        } else {
            json_t *have = json_object_getn(labels, want, (size_t)(eq - want));
            if (json_is_string(have) && strcmp(json_string_value(have), eq + 1) == 0)
                return 1;
        }
    }
    return 0;
}

static const char *service_mode(const json_t *svc)
{
    const json_t *mode = swarm__json_get(svc, "Spec.Mode");
    if (json_object_get(mode, "Global"))
        return "global";
    if (json_object_get(mode, "ReplicatedJob"))
        return "replicated-job";
    if (json_object_get(mode, "GlobalJob"))
        return "global-job";
    return "replicated";
}

static int cmp_by(const json_t *a, const json_t *b, const char *path)
{
    const char *x = swarm__json_str(a, path), *y = swarm__json_str(b, path);
    return strcmp(x ? x : "", y ? y : "");
}

static int cmp_service(const void *a, const void *b)
{
    return cmp_by(*(json_t *const *)a, *(json_t *const *)b, "Spec.Name");
}

static int cmp_node(const void *a, const void *b)
{
    int c = cmp_by(*(json_t *const *)a, *(json_t *const *)b, "Description.Hostname");
    return c ? c : cmp_by(*(json_t *const *)a, *(json_t *const *)b, "ID");
}

static int cmp_task(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = cmp_by(x, y, "ServiceID");
    if (c)
        return c;
    int64_t sx = swarm__json_int(x, "Slot", 0), sy = swarm__json_int(y, "Slot", 0);
    if (sx != sy)
        return sx < sy ? -1 : 1;
    c = cmp_by(x, y, "NodeID");
    if (c)
        return c;
    return -cmp_by(x, y, "CreatedAt"); /* newest first */
}

static json_t *sorted(json_t *arr, int (*cmp)(const void *, const void *))
{
    size_t n = json_array_size(arr);
    json_t **items = malloc((n ? n : 1) * sizeof *items);
    json_t *out = json_array();
    if (items == NULL || out == NULL) {
        free(items);
        json_decref(out);
        json_decref(arr);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get(arr, i);
    qsort(items, n, sizeof *items, cmp);
    for (size_t i = 0; i < n; i++)
        json_array_append(out, items[i]);
    free(items);
    json_decref(arr);
    return out;
}

typedef int (*match_fn)(swarm__controlapi *api, swarm__snap *snap, const json_t *filters, const json_t *obj);

static int match_service(swarm__controlapi *api, swarm__snap *snap, const json_t *f, const json_t *s)
{
    (void)api;
    (void)snap;
    json_t *v;
    if ((v = json_object_get(f, "id")) && !any_prefix(v, swarm__json_str(s, "ID")))
        return 0;
    if ((v = json_object_get(f, "name")) && !any_prefix(v, swarm__json_str(s, "Spec.Name")))
        return 0;
    if ((v = json_object_get(f, "label")) && !any_label(v, swarm__json_get(s, "Spec.Labels")))
        return 0;
    if ((v = json_object_get(f, "mode")) && !any_equal(v, service_mode(s)))
        return 0;
    return 1;
}

static int match_node(swarm__controlapi *api, swarm__snap *snap, const json_t *f, const json_t *n)
{
    (void)api;
    (void)snap;
    json_t *v;
    if ((v = json_object_get(f, "id")) && !any_prefix(v, swarm__json_str(n, "ID")))
        return 0;
    if ((v = json_object_get(f, "name")) && !any_prefix(v, swarm__json_str(n, "Description.Hostname")))
        return 0;
    if ((v = json_object_get(f, "role")) && !any_equal(v, swarm__json_str(n, "Spec.Role")))
        return 0;
    if ((v = json_object_get(f, "membership")) && !any_equal(v, "accepted"))
        return 0;
    if ((v = json_object_get(f, "label")) && !any_label(v, swarm__json_get(n, "Description.Engine.Labels")))
        return 0;
    if ((v = json_object_get(f, "node.label")) && !any_label(v, swarm__json_get(n, "Spec.Labels")))
        return 0;
    return 1;
}

/* A reference matches an object of kind by ID, ID prefix or name (hostname for nodes). */
static int ref_matches(swarm__snap *snap, swarm__kind kind, const json_t *refs, const char *id)
{
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r) {
        const char *ref = json_string_value(r);
        if (id && strncmp(id, ref, strlen(ref)) == 0)
            return 1;
        json_t *obj = swarm__snap_get(snap, kind, id ? id : "");
        if (obj) {
            const char *name = swarm__json_str(obj, kind == SWARM__KIND_NODE ? "Description.Hostname" : "Spec.Name");
            int hit = name && strcmp(name, ref) == 0;
            json_decref(obj);
            if (hit)
                return 1;
        }
    }
    return 0;
}

static int match_task(swarm__controlapi *api, swarm__snap *snap, const json_t *f, const json_t *t)
{
    json_t *v;
    if ((v = json_object_get(f, "id")) && !any_prefix(v, swarm__json_str(t, "ID")))
        return 0;
    if ((v = json_object_get(f, "service")) && !ref_matches(snap, SWARM__KIND_SERVICE, v, swarm__json_str(t, "ServiceID")))
        return 0;
    if ((v = json_object_get(f, "node"))) {
        const char *node = swarm__json_str(t, "NodeID");
        json_t *self = api->self_node_id ? json_pack("[s]", api->self_node_id) : NULL;
        int hit = ref_matches(snap, SWARM__KIND_NODE, v, node) ||
                  (any_equal(v, "self") && self && any_equal(self, node));
        json_decref(self);
        if (!hit)
            return 0;
    }
    if ((v = json_object_get(f, "desired-state"))) {
        const char *d = swarm__json_str(t, "DesiredState");
        /* Docker's "running" also matches tasks on their way to running. */
        int running = d && (strcmp(d, "running") == 0 || strcmp(d, "ready") == 0 || strcmp(d, "new") == 0);
        int hit = any_equal(v, d) || (running && any_equal(v, "running")) ||
                  (d && strcmp(d, "accepted") == 0 && any_equal(v, "accepted"));
        if (!hit)
            return 0;
    }
    if ((v = json_object_get(f, "name"))) {
        const char *svc = swarm__json_str(t, "ServiceAnnotations.Name");
        char name[256];
        snprintf(name, sizeof name, "%s.%lld", svc ? svc : "", (long long)swarm__json_int(t, "Slot", 0));
        if (!any_prefix(v, name))
            return 0;
    }
    return 1;
}

static void list_handler(swarm__controlapi *api, swarm__kind kind, const char *const *allowed, match_fn match,
                         int (*cmp)(const void *, const void *), const json_t *req, swarm__reply_fn reply,
                         void *payload)
{
    swarm__err e;
    json_t *filters;
    if (swarm__filters_normalize(&filters, json_object_get(req, "Filters"), allowed, &e) != 0)
        return fail(reply, payload, &e);
    swarm__snap *snap;
    if (open_snap(api, &snap, &e) != 0) {
        json_decref(filters);
        return fail(reply, payload, &e);
    }
    json_t *all;
    if (swarm__snap_list(snap, kind, NULL, NULL, &all, &e) != 0) {
        swarm__snap_end(snap);
        json_decref(filters);
        return fail(reply, payload, &e);
    }
    json_t *out = json_array();
    size_t i;
    json_t *obj;
    json_array_foreach(all, i, obj) {
        if (match(api, snap, filters, obj))
            json_array_append(out, obj);
    }
    swarm__snap_end(snap);
    json_decref(all);
    json_decref(filters);
    out = sorted(out, cmp);
    if (out == NULL) {
        swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
        return fail(reply, payload, &e);
    }
    reply(payload, 0, NULL, out);
}

static void service_list(swarm__controlapi *api, const json_t *req, swarm__reply_fn reply, void *payload)
{
    static const char *const allowed[] = {"id", "name", "label", "mode", NULL};
    list_handler(api, SWARM__KIND_SERVICE, allowed, match_service, cmp_service, req, reply, payload);
}

static void node_get(swarm__controlapi *api, const json_t *req, swarm__reply_fn reply, void *payload)
{
    get_handler(api, SWARM__KIND_NODE, req, reply, payload);
}

static void node_list(swarm__controlapi *api, const json_t *req, swarm__reply_fn reply, void *payload)
{
    static const char *const allowed[] = {"id", "name", "role", "membership", "label", "node.label", NULL};
    list_handler(api, SWARM__KIND_NODE, allowed, match_node, cmp_node, req, reply, payload);
}

static void task_get(swarm__controlapi *api, const json_t *req, swarm__reply_fn reply, void *payload)
{
    get_handler(api, SWARM__KIND_TASK, req, reply, payload);
}

static void task_list(swarm__controlapi *api, const json_t *req, swarm__reply_fn reply, void *payload)
{
    static const char *const allowed[] = {"id", "service", "node", "desired-state", "name", NULL};
    list_handler(api, SWARM__KIND_TASK, allowed, match_task, cmp_task, req, reply, payload);
}

/* ------------------------------------------------------------ node changes */

static int valid_node_spec(const json_t *spec, const json_t *cur, swarm__err *e)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)spec, key, v) {
        if (strcmp(key, "Availability") == 0) {
            const char *a = json_string_value(v);
            if (!a || (strcmp(a, "active") && strcmp(a, "pause") && strcmp(a, "drain")))
                return swarm__err_set(e, SWARM_EINVALID, "Availability: must be one of active, pause, drain");
        } else if (strcmp(key, "Role") == 0) {
            const char *r = json_string_value(v);
            if (!r || (strcmp(r, "worker") && strcmp(r, "manager")))
                return swarm__err_set(e, SWARM_EINVALID, "Role: must be worker or manager");
            (void)cur; /* a role change's Raft membership is the engine's part (lib/api/replica.c) */
        } else if (strcmp(key, "Labels") == 0) {
            if (!json_is_object(v) && !json_is_null(v))
                return swarm__err_set(e, SWARM_EINVALID, "Labels: must be an object of strings");
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2) if (!json_is_string(v2)) return swarm__err_set(
                e, SWARM_EINVALID, "Labels.%s: must be a string", k2);
        } else if (strcmp(key, "Name") == 0) {
            if (!json_is_string(v))
                return swarm__err_set(e, SWARM_EINVALID, "Name: must be a string");
        } else {
            return swarm__err_set(e, SWARM_EINVALID, "node spec: unknown field \"%s\"", key);
        }
    }
    return 0;
}

static void node_update(swarm__controlapi *api, const json_t *req, swarm__reply_fn reply, void *payload)
{
    swarm__err e;
    const char *ref = ref_of(req, &e, "node");
    if (ref == NULL)
        return fail(reply, payload, &e);
    json_t *version = json_object_get(req, "Version");
    const json_t *spec = json_object_get(req, "Spec");
    if (!json_is_integer(version) || json_integer_value(version) <= 0) {
        swarm__err_set(&e, SWARM_EINVALID, "invalid node version: must be the Version.Index read before the update");
        return fail(reply, payload, &e);
    }
    if (!json_is_object(spec)) {
        swarm__err_set(&e, SWARM_EINVALID, "node spec: must be a JSON object");
        return fail(reply, payload, &e);
    }
    if (strcmp(ref, "self") == 0 && api->self_node_id)
        ref = api->self_node_id;
    json_t *cur;
    if (lookup(api, SWARM__KIND_NODE, ref, &cur, &e) != 0)
        return fail(reply, payload, &e);
    if (valid_node_spec(spec, cur, &e) != 0) {
        json_decref(cur);
        return fail(reply, payload, &e);
    }
    uint64_t expect = (uint64_t)json_integer_value(version);
    if ((uint64_t)swarm__json_int(cur, "Version.Index", 0) != expect) {
        json_decref(cur);
        swarm__err_set(&e, SWARM_ECONFLICT, "update out of sequence");
        return fail(reply, payload, &e);
    }
    json_t *new_spec = json_deep_copy(json_object_get(cur, "Spec"));
    json_object_update(new_spec, (json_t *)spec);
    if (!json_object_get(new_spec, "Labels") || json_is_null(json_object_get(new_spec, "Labels")))
        json_object_set_new(new_spec, "Labels", json_object());
    json_t *patch = json_pack("{s:s, s:o, s:o}", "ID", swarm__json_str(cur, "ID"), "Spec", new_spec, "UpdatedAt",
                              timestamp(api->clock));
    json_decref(cur);
    propose_one(api, SWARM__OP_PATCH, SWARM__KIND_NODE, patch, expect, 1, reply, payload);
}

static void node_remove(swarm__controlapi *api, const json_t *req, swarm__reply_fn reply, void *payload)
{
    swarm__err e;
    const char *ref = ref_of(req, &e, "node");
    if (ref == NULL)
        return fail(reply, payload, &e);
    int force = json_is_true(json_object_get(req, "Force"));
    json_t *node;
    if (lookup(api, SWARM__KIND_NODE, ref, &node, &e) != 0)
        return fail(reply, payload, &e);
    const char *id = swarm__json_str(node, "ID");
    const char *role = swarm__json_str(node, "Spec.Role");
    const char *state = swarm__json_str(node, "Status.State");
    int rc = 0;
    if ((role && strcmp(role, "manager") == 0) || (api->self_node_id && strcmp(id, api->self_node_id) == 0))
        rc = swarm__err_set(&e, SWARM_EINVALID,
                            "rpc error: code = FailedPrecondition desc = node %s is a cluster manager and is a member "
                            "of the raft cluster. It must be demoted to worker before removal",
                            id);
    else if (!force && state && strcmp(state, "down") != 0)
        rc = swarm__err_set(&e, SWARM_EINVALID,
                            "rpc error: code = FailedPrecondition desc = node %s is not down and can't be removed",
                            id);
    swarm__snap *snap = NULL;
    json_t *clusters = NULL;
    if (rc == 0 && (rc = open_snap(api, &snap, &e)) == 0) {
        rc = swarm__snap_list(snap, SWARM__KIND_CLUSTER, NULL, NULL, &clusters, &e);
        swarm__snap_end(snap);
    }
    if (rc != 0) {
        json_decref(node);
        json_decref(clusters);
        return fail(reply, payload, &e);
    }
    /* The node goes, and its identity is refused for good. */
    json_t *cluster = json_array_get(clusters, 0);
    json_t *removed = json_deep_copy(json_object_get(cluster, "RemovedNodes"));
    if (!json_is_array(removed)) {
        json_decref(removed);
        removed = json_array();
    }
    json_array_append_new(removed, json_string(id));
    swarm__action acts[2] = {
        {SWARM__OP_DELETE, SWARM__KIND_NODE, json_pack("{s:s}", "ID", id), 0},
        {SWARM__OP_PATCH, SWARM__KIND_CLUSTER,
         json_pack("{s:s, s:o}", "ID", swarm__json_str(cluster, "ID"), "RemovedNodes", removed), 0},
    };
    pending_reply *p = calloc(1, sizeof *p);
    p->api = api;
    p->reply = reply;
    p->payload = payload;
    p->kind = SWARM__KIND_NODE;
    rc = p && acts[0].object && acts[1].object ? api->proposer->propose(api->proposer, acts, 2, after_apply, p, &e)
                                               : swarm__err_set(&e, SWARM_ENOMEM, "out of memory");
    json_decref(acts[0].object);
    json_decref(acts[1].object);
    json_decref(clusters);
    json_decref(node);
    if (rc != 0) {
        free(p);
        fail(reply, payload, &e);
    }
}

/* ------------------------------------------------------------ table */

static const struct {
    const char *method;
    swarm__handler_fn fn;
} handlers[] = {
    {"ServiceCreate", service_create}, {"ServiceGet", service_get},   {"ServiceList", service_list},
    {"ServiceUpdate", service_update}, {"ServiceRemove", service_remove}, {"NodeGet", node_get},
    {"NodeList", node_list},           {"TaskGet", task_get},         {"TaskList", task_list},
    {"NodeUpdate", node_update},       {"NodeRemove", node_remove},
};

swarm__handler_fn swarm__controlapi_handler(const char *method)
{
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (strcmp(handlers[i].method, method) == 0)
            return handlers[i].fn;
    return NULL;
}

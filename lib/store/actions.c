/*
 * Object kinds and the wire form of action lists, as proposed to Raft:
 *   {"v":1,"a":[{"op":1,"k":"service","o":{...},"ev":0}, ...]}
 * op: 1 create, 2 update, 3 delete; k: kind name; o: the object (with "ID");
 * ev: expected Version.Index (0 = don't check). Decode trusts nothing.
 */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define WIRE_VERSION 1

static const char *const kind_names[SWARM__KIND_COUNT] = {
    [SWARM__KIND_CLUSTER] = "cluster", [SWARM__KIND_NODE] = "node",     [SWARM__KIND_SERVICE] = "service",
    [SWARM__KIND_TASK] = "task",       [SWARM__KIND_NETWORK] = "network", [SWARM__KIND_SECRET] = "secret",
    [SWARM__KIND_CONFIG] = "config",
};

const char *swarm__kind_name(swarm__kind k)
{
    return (unsigned)k < SWARM__KIND_COUNT ? kind_names[k] : "unknown";
}

int swarm__kind_parse(swarm__kind *out, const char *name)
{
    for (int k = 0; name != NULL && k < SWARM__KIND_COUNT; k++)
        if (strcmp(kind_names[k], name) == 0) {
            *out = (swarm__kind)k;
            return 0;
        }
    return SWARM_EINVALID;
}

void swarm__actions_free(swarm__action *a, size_t n)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        json_decref(a[i].object);
    free(a);
}

int swarm__actions_encode(const swarm__action *a, size_t n, char **out, size_t *out_len, swarm__err *e)
{
    if (out == NULL || (a == NULL && n > 0))
        return swarm__err_set(e, SWARM_EINVALID, "actions: bad arguments");
    json_t *list = json_array();
    json_t *root = json_pack("{s:i,s:o}", "v", WIRE_VERSION, "a", list);
    if (root == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (a[i].op < SWARM__OP_CREATE || a[i].op > SWARM__OP_PATCH || (unsigned)a[i].kind >= SWARM__KIND_COUNT ||
            !json_is_object(a[i].object) || a[i].expect_version > (uint64_t)INT64_MAX) {
            json_decref(root);
            return swarm__err_set(e, SWARM_EINVALID, "actions: action %zu is malformed", i);
        }
        json_t *item = json_pack("{s:i,s:s,s:O,s:I}", "op", (int)a[i].op, "k", kind_names[a[i].kind], "o",
                                 a[i].object, "ev", (json_int_t)a[i].expect_version);
        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(root);
            return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
        }
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (text == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    *out = text;
    if (out_len != NULL)
        *out_len = strlen(text);
    return 0;
}

static int decode_one(swarm__action *act, json_t *item, size_t i, swarm__err *e)
{
    if (!json_is_object(item))
        return swarm__err_set(e, SWARM_EINVALID, "actions: action %zu is not an object", i);
    const char *key;
    json_t *value;
    json_object_foreach(item, key, value)
    {
        if (strcmp(key, "op") && strcmp(key, "k") && strcmp(key, "o") && strcmp(key, "ev"))
            return swarm__err_set(e, SWARM_EINVALID, "actions: action %zu has an unknown field", i);
    }
    json_t *op = json_object_get(item, "op"), *k = json_object_get(item, "k");
    json_t *o = json_object_get(item, "o"), *ev = json_object_get(item, "ev");
    if (!json_is_integer(op) || json_integer_value(op) < SWARM__OP_CREATE ||
        json_integer_value(op) > SWARM__OP_PATCH)
        return swarm__err_set(e, SWARM_EINVALID, "actions: action %zu: bad op", i);
    swarm__kind kind;
    if (!json_is_string(k) || swarm__kind_parse(&kind, json_string_value(k)) != 0)
        return swarm__err_set(e, SWARM_EINVALID, "actions: action %zu: bad kind", i);
    if (!json_is_object(o))
        return swarm__err_set(e, SWARM_EINVALID, "actions: action %zu: object is not an object", i);
    json_t *id = json_object_get(o, "ID");
    if (!json_is_string(id) || json_string_length(id) == 0)
        return swarm__err_set(e, SWARM_EINVALID, "actions: action %zu: object has no ID", i);
    if (ev != NULL && (!json_is_integer(ev) || json_integer_value(ev) < 0))
        return swarm__err_set(e, SWARM_EINVALID, "actions: action %zu: bad expected version", i);
    act->op = (swarm__op)json_integer_value(op);
    act->kind = kind;
    act->expect_version = ev ? (uint64_t)json_integer_value(ev) : 0;
    act->object = json_incref(o);
    return 0;
}

int swarm__actions_decode(swarm__action **out, size_t *n, const void *buf, size_t len, swarm__err *e)
{
    if (out == NULL || n == NULL || (buf == NULL && len > 0))
        return swarm__err_set(e, SWARM_EINVALID, "actions: bad arguments");
    *out = NULL;
    *n = 0;
    json_error_t jerr;
    json_t *root = buf ? json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (root == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "actions: invalid JSON: %s", buf ? jerr.text : "empty");
    json_t *v = json_object_get(root, "v"), *list = json_object_get(root, "a");
    int rc = 0;
    if (!json_is_object(root) || json_object_size(root) != 2 || !json_is_integer(v) || !json_is_array(list))
        rc = swarm__err_set(e, SWARM_EINVALID, "actions: not an action list");
    else if (json_integer_value(v) != WIRE_VERSION)
        rc = swarm__err_set(e, SWARM_EINVALID, "actions: unsupported version %lld",
                            (long long)json_integer_value(v));
    size_t count = rc == 0 ? json_array_size(list) : 0;
    swarm__action *acts = NULL;
    if (rc == 0 && count > 0 && (acts = calloc(count, sizeof *acts)) == NULL)
        rc = swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    size_t done = 0;
    for (; rc == 0 && done < count; done++) {
        rc = decode_one(&acts[done], json_array_get(list, done), done, e);
        if (rc != 0)
            break;
    }
    json_decref(root);
    if (rc != 0) {
        swarm__actions_free(acts, done);
        return rc;
    }
    *out = acts;
    *n = count;
    return 0;
}

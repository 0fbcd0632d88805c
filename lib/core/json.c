#include "core/json.h"

#include "core/error.h"

#include <string.h>

json_t *swarm__json_parse(const char *text, const char *what)
{
    if (text == NULL) {
        swarm__error_set(SWARM_EINVALID, "%s: no JSON given", what);
        return NULL;
    }
    json_error_t err;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (v == NULL)
        swarm__error_set(SWARM_EINVALID, "invalid JSON in %s: %s (line %d, column %d)", what, err.text, err.line,
                         err.column);
    return v;
}

/* Walks path; for each component but the last, descends into objects. */
static json_t *walk(const json_t *root, const char *path, const char **last, size_t *last_len, int create)
{
    json_t *cur = (json_t *)root;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        if (dot == NULL) {
            *last = p;
            *last_len = strlen(p);
            return cur;
        }
        if (!json_is_object(cur))
            return NULL;
        json_t *next = json_object_getn(cur, p, (size_t)(dot - p));
        if (next == NULL || json_is_null(next)) {
            if (!create)
                return NULL;
            next = json_object();
            if (next == NULL || json_object_setn_new(cur, p, (size_t)(dot - p), next) != 0)
                return NULL;
        }
        cur = next;
        p = dot + 1;
    }
}

json_t *swarm__json_get(const json_t *root, const char *path)
{
    const char *last;
    size_t len;
    json_t *parent = walk(root, path, &last, &len, 0);
    if (parent == NULL || !json_is_object(parent))
        return NULL;
    return json_object_getn(parent, last, len);
}

int swarm__json_set(json_t *root, const char *path, json_t *value)
{
    const char *last;
    size_t len;
    if (value == NULL)
        return SWARM_ENOMEM;
    json_t *parent = walk(root, path, &last, &len, 1);
    if (parent == NULL || !json_is_object(parent)) {
        json_decref(value);
        return SWARM_EINVALID;
    }
    return json_object_setn_new(parent, last, len, value) == 0 ? 0 : SWARM_ENOMEM;
}

void swarm__json_del(json_t *root, const char *path)
{
    const char *last;
    size_t len;
    json_t *parent = walk(root, path, &last, &len, 0);
    if (parent != NULL && json_is_object(parent))
        json_object_deln(parent, last, len);
}

const char *swarm__json_str(const json_t *root, const char *path)
{
    return json_string_value(swarm__json_get(root, path));
}

int64_t swarm__json_int(const json_t *root, const char *path, int64_t dflt)
{
    json_t *v = swarm__json_get(root, path);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

char *swarm__json_dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

char *swarm__json_dump_pretty(const json_t *v)
{
    return json_dumps(v, JSON_INDENT(4) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

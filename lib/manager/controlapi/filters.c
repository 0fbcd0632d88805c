#include "manager/controlapi/controlapi.h"

#include <string.h>

int swarm__filters_normalize(json_t **out, const json_t *filters, const char *const *allowed, swarm__err *e)
{
    *out = NULL;
    json_t *norm = json_object();
    if (norm == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    if (filters == NULL || json_is_null(filters)) {
        *out = norm;
        return 0;
    }
    if (!json_is_object(filters)) {
        json_decref(norm);
        return swarm__err_set(e, SWARM_EINVALID, "filters: must be a JSON object");
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)filters, key, val) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0)
                ok = 1;
        if (!ok) {
            json_decref(norm);
            return swarm__err_set(e, SWARM_EINVALID, "Invalid filter '%s'", key);
        }
        json_t *list = json_array();
        json_object_set_new(norm, key, list);
        if (json_is_array(val)) {
            size_t i;
            json_t *v;
            json_array_foreach(val, i, v) {
                if (!json_is_string(v)) {
                    json_decref(norm);
                    return swarm__err_set(e, SWARM_EINVALID, "filters: values of '%s' must be strings", key);
                }
                json_array_append(list, v);
            }
        } else if (json_is_object(val)) {
            const char *k2;
            json_t *v2;
            json_object_foreach(val, k2, v2) {
                if (json_is_true(v2))
                    json_array_append_new(list, json_string(k2));
            }
        } else if (json_is_string(val)) {
            json_array_append(list, val);
        } else {
            json_decref(norm);
            return swarm__err_set(e, SWARM_EINVALID, "filters: '%s' must be a list or a map", key);
        }
    }
    *out = norm;
    return 0;
}

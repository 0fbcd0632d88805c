/*
 * Fuzz target: decodes an action list (the Raft log's payload) and, if it
 * decodes, applies it twice to an in-memory store, reads everything back
 * and delivers the watch events. Must never crash or leak.
 */
#include "store/store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void on_event(const swarm__event *ev, void *payload)
{
    size_t *count = payload;
    if (ev->object != NULL)
        (*count)++;
}

static void read_back(swarm__store *s, const swarm__action *a, size_t n)
{
    swarm__snap *v;
    swarm__err e;
    if (swarm__snap_begin(s, &v, &e) != 0)
        return;
    for (int k = 0; k < SWARM__KIND_COUNT; k++) {
        json_t *list = NULL;
        if (swarm__snap_list(v, (swarm__kind)k, NULL, NULL, &list, &e) == 0)
            json_decref(list);
    }
    static const char *const indexes[] = {"service", "node", "desired"};
    static const char *const fields[] = {"ServiceID", "NodeID", "DesiredState"};
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_object_get(a[i].object, "ID"));
        json_t *obj = NULL;
        if (id != NULL) {
            json_decref(swarm__snap_get(v, a[i].kind, id));
            if (swarm__snap_lookup(v, a[i].kind, id, &obj, &e) == 0)
                json_decref(obj);
            char prefix[4] = {0};
            strncpy(prefix, id, 3);
            if (swarm__snap_lookup(v, a[i].kind, prefix, &obj, &e) == 0)
                json_decref(obj);
        }
        json_t *spec = json_object_get(a[i].object, "Spec");
        const char *name = json_string_value(json_object_get(spec, "Name"));
        if (name != NULL)
            json_decref(swarm__snap_get_by_name(v, a[i].kind, name));
        for (int x = 0; x < 3; x++) {
            const char *value = json_string_value(json_object_get(a[i].object, fields[x]));
            json_t *list = NULL;
            if (value != NULL && swarm__snap_list(v, a[i].kind, indexes[x], value, &list, &e) == 0)
                json_decref(list);
        }
    }
    swarm__snap_end(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    swarm__action *a = NULL;
    size_t n = 0;
    swarm__err e;
    if (swarm__actions_decode(&a, &n, data, size, &e) != 0)
        return 0;

    /* What decodes must encode and decode to the same list. */
    char *text = NULL;
    size_t len = 0;
    if (swarm__actions_encode(a, n, &text, &len, &e) == 0) {
        swarm__action *again = NULL;
        size_t n2 = 0;
        if (swarm__actions_decode(&again, &n2, text, len, &e) != 0 || n2 != n)
            abort();
        for (size_t i = 0; i < n; i++)
            if (again[i].op != a[i].op || again[i].kind != a[i].kind ||
                again[i].expect_version != a[i].expect_version || !json_equal(again[i].object, a[i].object))
                abort();
        swarm__actions_free(again, n2);
        free(text);
    }

    struct swarm_store_backend *b;
    swarm__store *s;
    if (swarm_store_memory_new(&b) != 0 || swarm__store_open(&s, b, &e) != 0) {
        swarm__actions_free(a, n);
        return 0;
    }
    size_t events = 0;
    swarm__watch *w;
    swarm__store_watch(s, 0, on_event, &events, &w);
    /* Twice: the second pass meets the first one's objects (conflicts, updates, deletes). */
    swarm__store_apply(s, 1, a, n, &e);
    swarm__store_apply(s, 2, a, n, &e);
    if (swarm__store_index(s) != 2)
        abort();
    read_back(s, a, n);
    swarm__store_deliver(s);
    if (events > 2 * n)
        abort();
    /* Undo everything that exists, in reverse. */
    for (size_t i = n; i-- > 0;) {
        swarm__action del = {SWARM__OP_DELETE, a[i].kind, a[i].object, 0};
        swarm__store_apply(s, swarm__store_index(s) + 1, &del, 1, &e);
    }
    read_back(s, a, n);
    swarm__store_unwatch(s, w);
    swarm__store_close(s);
    swarm__actions_free(a, n);
    return 0;
}

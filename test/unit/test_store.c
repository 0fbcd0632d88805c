/*
 * The store: a conformance battery run against both built-in backends
 * (lmdb in a temp dir, memory), then the engine's behaviour on each, then
 * lmdb-only and registry cases.
 */
#include "store/store.h"

#include "core/json.h"
#include "test.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static struct swarm_store_backend *new_backend(const char *kind, const char *dir)
{
    struct swarm_store_backend *b = NULL;
    if (strcmp(kind, "lmdb") == 0)
        CHECK_INT(swarm_store_lmdb_new(&b, dir ? dir : test_tmpdir()), 0);
    else
        CHECK_INT(swarm_store_memory_new(&b), 0);
    CHECK(b != NULL);
    return b;
}

static swarm__store *open_store(const char *kind, const char *dir)
{
    swarm__store *s = NULL;
    swarm__err e;
    int rc = swarm__store_open(&s, new_backend(kind, dir), &e);
    if (rc != 0)
        test__fail(__FILE__, __LINE__, "open: %s", e.message);
    CHECK_STR(swarm__store_backend_name(s), kind);
    return s;
}

static json_t *J(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);
    if (v == NULL)
        test__fail(__FILE__, __LINE__, "bad test JSON %s: %s", text, err.text);
    return v;
}

static swarm__action A(swarm__op op, swarm__kind kind, const char *object, uint64_t ev)
{
    swarm__action a = {op, kind, J(object), ev};
    return a;
}

/* Applies the actions (and frees their objects); returns the apply's result. */
static int apply_n(swarm__store *s, uint64_t index, swarm__action *a, size_t n, swarm__err *e)
{
    swarm__err local;
    int rc = swarm__store_apply(s, index, a, n, e ? e : &local);
    for (size_t i = 0; i < n; i++)
        json_decref(a[i].object);
    return rc;
}

#define APPLY(s, index, e, ...)                                                                          \
    apply_n((s), (index), (swarm__action[]){__VA_ARGS__},                                                \
            sizeof((swarm__action[]){__VA_ARGS__}) / sizeof(swarm__action), (e))

#define APPLY_OK(s, index, ...)                                                                          \
    do {                                                                                                 \
        swarm__err e_ = {0, ""};                                                                         \
        int rc_ = APPLY(s, index, &e_, __VA_ARGS__);                                                     \
        if (rc_ != 0)                                                                                    \
            test__fail(__FILE__, __LINE__, "apply at %d failed (%d): %s", (int)(index), rc_, e_.message);  \
    } while (0)

/* The object's field as a string, or NULL if missing (object freed). */
static const char *field(json_t *obj, const char *path)
{
    static char buf[256];
    if (obj == NULL)
        return NULL;
    json_t *v = swarm__json_get(obj, path);
    if (json_is_integer(v))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else
        snprintf(buf, sizeof buf, "%s", json_is_string(v) ? json_string_value(v) : "(none)");
    json_decref(obj);
    return buf;
}

static json_t *get(swarm__store *s, swarm__kind k, const char *id)
{
    swarm__snap *v;
    swarm__err e;
    CHECK_INT(swarm__snap_begin(s, &v, &e), 0);
    json_t *obj = swarm__snap_get(v, k, id);
    swarm__snap_end(v);
    return obj;
}

/* IDs of a list, joined with commas. */
static const char *list_ids(swarm__store *s, swarm__kind k, const char *index, const char *value)
{
    static char buf[512];
    swarm__snap *v;
    swarm__err e;
    json_t *arr = NULL;
    CHECK_INT(swarm__snap_begin(s, &v, &e), 0);
    int rc = swarm__snap_list(v, k, index, value, &arr, &e);
    swarm__snap_end(v);
    CHECK_INT(rc, 0);
    buf[0] = '\0';
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        if (i > 0)
            strcat(buf, ",");
        strcat(buf, json_string_value(json_object_get(o, "ID")));
    }
    json_decref(arr);
    return buf;
}

#define SVC(id, name) "{\"ID\":\"" id "\",\"Spec\":{\"Name\":\"" name "\"}}"
#define TASK(id, svc, node, desired)                                                                     \
    "{\"ID\":\"" id "\",\"ServiceID\":\"" svc "\",\"NodeID\":\"" node "\",\"DesiredState\":\"" desired "\"}"

#define BOTH(name)                                                                                       \
    static void name(const char *kind);                                                                  \
    static void test_store_lmdb__##name(void) { name("lmdb"); }                                          \
    static void test_store_memory__##name(void) { name("memory"); }

/* ---------------------------------------------------------------- backend conformance */

typedef struct scan_out {
    char keys[256];
    int stop_after;
    int seen;
} scan_out;

static int scan_cb(const void *key, size_t key_len, const void *value, size_t value_len, void *payload)
{
    scan_out *o = payload;
    (void)value;
    (void)value_len;
    if (o->keys[0] != '\0')
        strcat(o->keys, ",");
    strncat(o->keys, key, key_len);
    return ++o->seen == o->stop_after;
}

static const char *scan_keys(struct swarm_store_backend *b, swarm_store_txn *t, const char *table,
                             const char *prefix, int stop_after)
{
    static scan_out o;
    memset(&o, 0, sizeof o);
    o.stop_after = stop_after;
    CHECK_INT(b->scan(t, table, prefix, prefix ? strlen(prefix) : 0, scan_cb, &o), 0);
    return o.keys;
}

static int get_str(struct swarm_store_backend *b, swarm_store_txn *t, const char *table, const char *key,
                   char out[64])
{
    const void *v;
    size_t len;
    int rc = b->get(t, table, key, strlen(key), &v, &len);
    if (rc == 0) {
        CHECK(len < 64);
        memcpy(out, v, len);
        out[len] = '\0';
    }
    return rc;
}

#define PUT(b, t, table, k, v) CHECK_INT((b)->put((t), (table), (k), strlen(k), (v), strlen(v)), 0)

BOTH(backend_basics)
static void backend_basics(const char *kind)
{
    struct swarm_store_backend *b = new_backend(kind, NULL);
    CHECK_INT(b->version, SWARM_STORE_BACKEND_VERSION);
    CHECK_STR(b->name, kind);
    swarm_store_txn *t;
    char buf[64];

    /* A table never written reads as empty. */
    CHECK_INT(b->begin(b, 0, &t), 0);
    CHECK_INT(get_str(b, t, "t", "a", buf), SWARM_ENOTFOUND);
    CHECK_STR(scan_keys(b, t, "t", NULL, 0), "");
    b->abort(t);

    CHECK_INT(b->begin(b, 1, &t), 0);
    CHECK_INT(get_str(b, t, "t", "a", buf), SWARM_ENOTFOUND);
    CHECK_INT(b->del(t, "t", "a", 1), SWARM_ENOTFOUND);
    PUT(b, t, "t", "b", "2");
    PUT(b, t, "t", "a", "1");
    PUT(b, t, "t", "ab", "12");
    PUT(b, t, "t", "c", "3");
    PUT(b, t, "u", "a", "other table");
    CHECK_INT(b->put(t, "t", "e", 1, "", 0), 0); /* empty values are values */
    /* Reads see the transaction's own writes. */
    CHECK_INT(get_str(b, t, "t", "a", buf), 0);
    CHECK_STR(buf, "1");
    PUT(b, t, "t", "a", "one");
    CHECK_INT(get_str(b, t, "t", "a", buf), 0);
    CHECK_STR(buf, "one");
    CHECK_INT(get_str(b, t, "t", "e", buf), 0);
    CHECK_STR(buf, "");
    CHECK_INT(b->del(t, "t", "c", 1), 0);
    CHECK_INT(get_str(b, t, "t", "c", buf), SWARM_ENOTFOUND);
    CHECK_STR(scan_keys(b, t, "t", NULL, 0), "a,ab,b,e");
    CHECK_INT(b->commit(t), 0);

    CHECK_INT(b->begin(b, 0, &t), 0);
    CHECK_STR(scan_keys(b, t, "t", NULL, 0), "a,ab,b,e");
    CHECK_STR(scan_keys(b, t, "t", "a", 0), "a,ab");
    CHECK_STR(scan_keys(b, t, "t", "ab", 0), "ab");
    CHECK_STR(scan_keys(b, t, "t", "aa", 0), "");
    CHECK_STR(scan_keys(b, t, "t", "z", 0), "");
    CHECK_STR(scan_keys(b, t, "t", NULL, 2), "a,ab"); /* the callback stops the scan */
    CHECK_STR(scan_keys(b, t, "u", NULL, 0), "a");
    CHECK_INT(get_str(b, t, "u", "a", buf), 0);
    CHECK_STR(buf, "other table");
    b->abort(t);

    /* Abort rolls back puts, replacements, deletes and new tables. */
    CHECK_INT(b->begin(b, 1, &t), 0);
    PUT(b, t, "t", "a", "changed");
    PUT(b, t, "t", "d", "4");
    PUT(b, t, "t", "d", "44");
    CHECK_INT(b->del(t, "t", "b", 1), 0);
    CHECK_INT(b->del(t, "t", "ab", 2), 0);
    PUT(b, t, "t", "ab", "back");
    CHECK_INT(b->del(t, "t", "e", 1), 0);
    PUT(b, t, "new", "x", "y");
    CHECK_STR(scan_keys(b, t, "t", NULL, 0), "a,ab,d");
    b->abort(t);

    CHECK_INT(b->begin(b, 0, &t), 0);
    CHECK_STR(scan_keys(b, t, "t", NULL, 0), "a,ab,b,e");
    CHECK_INT(get_str(b, t, "t", "a", buf), 0);
    CHECK_STR(buf, "one");
    CHECK_INT(get_str(b, t, "t", "ab", buf), 0);
    CHECK_STR(buf, "12");
    CHECK_STR(scan_keys(b, t, "new", NULL, 0), "");
    b->abort(t);

    /* Keys are bytes: an embedded NUL sorts before every other byte. */
    CHECK_INT(b->begin(b, 1, &t), 0);
    CHECK_INT(b->put(t, "k", "s1\0t2", 5, "", 0), 0);
    CHECK_INT(b->put(t, "k", "s1\0t1", 5, "", 0), 0);
    CHECK_INT(b->put(t, "k", "s10\0t3", 6, "", 0), 0);
    CHECK_INT(b->commit(t), 0);
    CHECK_INT(b->begin(b, 0, &t), 0);
    scan_out o;
    memset(&o, 0, sizeof o);
    CHECK_INT(b->scan(t, "k", "s1\0", 3, scan_cb, &o), 0);
    CHECK_INT(o.seen, 2);
    b->abort(t);
    b->free(b);
}

/* ---------------------------------------------------------------- engine */

BOTH(create_get_update_delete)
static void create_get_update_delete(const char *kind)
{
    swarm__store *s = open_store(kind, NULL);
    CHECK_INT(swarm__store_index(s), 0);
    APPLY_OK(s, 1, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0));
    CHECK_INT(swarm__store_index(s), 1);
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "Version.Index"), "1");
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "Spec.Name"), "web");
    CHECK(get(s, SWARM__KIND_SERVICE, "s2") == NULL);
    CHECK_INT(swarm_error_last_code(), SWARM_ENOTFOUND);
    CHECK(get(s, SWARM__KIND_NETWORK, "s1") == NULL); /* kinds are separate */

    APPLY_OK(s, 2, A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, "{\"ID\":\"s1\",\"Spec\":{\"Name\":\"web\"},\"X\":1}", 1));
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "Version.Index"), "2");
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "X"), "1");
    APPLY_OK(s, 3, A(SWARM__OP_DELETE, SWARM__KIND_SERVICE, "{\"ID\":\"s1\"}", 2));
    CHECK(get(s, SWARM__KIND_SERVICE, "s1") == NULL);
    CHECK_STR(list_ids(s, SWARM__KIND_SERVICE, NULL, NULL), "");
    swarm__store_close(s);
}

BOTH(patch_keeps_other_fields)
static void patch_keeps_other_fields(const char *kind)
{
    swarm__store *s = open_store(kind, NULL);
    APPLY_OK(s, 1, A(SWARM__OP_CREATE, SWARM__KIND_TASK, TASK("t1", "s1", "n1", "running"), 0));
    /* Two writers, each owning a field, neither checking the version: both changes survive. */
    APPLY_OK(s, 2, A(SWARM__OP_PATCH, SWARM__KIND_TASK, "{\"ID\":\"t1\",\"Status\":{\"State\":\"running\"}}", 0));
    APPLY_OK(s, 3, A(SWARM__OP_PATCH, SWARM__KIND_TASK, "{\"ID\":\"t1\",\"DesiredState\":\"shutdown\"}", 0));
    CHECK_STR(field(get(s, SWARM__KIND_TASK, "t1"), "Status.State"), "running");
    CHECK_STR(field(get(s, SWARM__KIND_TASK, "t1"), "DesiredState"), "shutdown");
    CHECK_STR(field(get(s, SWARM__KIND_TASK, "t1"), "NodeID"), "n1");
    CHECK_STR(field(get(s, SWARM__KIND_TASK, "t1"), "Version.Index"), "3");
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "desired", "shutdown"), "t1"); /* indexes follow */
    /* null removes a field; a stale version or a missing object rejects. */
    APPLY_OK(s, 4, A(SWARM__OP_PATCH, SWARM__KIND_TASK, "{\"ID\":\"t1\",\"NodeID\":null}", 3));
    CHECK_STR(field(get(s, SWARM__KIND_TASK, "t1"), "NodeID"), "(none)");
    CHECK_INT(APPLY(s, 5, NULL, A(SWARM__OP_PATCH, SWARM__KIND_TASK, "{\"ID\":\"t1\",\"X\":1}", 3)), SWARM_ECONFLICT);
    CHECK_INT(APPLY(s, 6, NULL, A(SWARM__OP_PATCH, SWARM__KIND_TASK, "{\"ID\":\"t9\",\"X\":1}", 0)), SWARM_ENOTFOUND);
    swarm__store_close(s);
}

BOTH(atomic_batch)
static void atomic_batch(const char *kind)
{
    swarm__store *s = open_store(kind, NULL);
    APPLY_OK(s, 1, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0));
    swarm__err e;
    int rc = APPLY(s, 2, &e, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s2", "api"), 0),
                   A(SWARM__OP_CREATE, SWARM__KIND_TASK, TASK("t1", "s2", "n1", "running"), 0),
                   A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "other"), 0),
                   A(SWARM__OP_CREATE, SWARM__KIND_TASK, TASK("t2", "s2", "n1", "running"), 0));
    CHECK_INT(rc, SWARM_EEXISTS);
    CHECK_CONTAINS(e.message, "service s1 already exists");
    CHECK_INT(swarm__store_index(s), 2); /* the index still advances */
    CHECK(get(s, SWARM__KIND_SERVICE, "s2") == NULL);
    CHECK(get(s, SWARM__KIND_TASK, "t1") == NULL);
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "service", "s2"), "");
    CHECK_STR(list_ids(s, SWARM__KIND_SERVICE, NULL, NULL), "s1");
    /* The name "api" was never taken. */
    APPLY_OK(s, 3, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s3", "api"), 0));

    /* Later actions see earlier ones: create then update then delete in one write. */
    APPLY_OK(s, 4, A(SWARM__OP_CREATE, SWARM__KIND_NETWORK, SVC("n1", "net"), 0),
             A(SWARM__OP_UPDATE, SWARM__KIND_NETWORK, SVC("n1", "net2"), 4),
             A(SWARM__OP_CREATE, SWARM__KIND_NETWORK, SVC("n2", "net"), 0),
             A(SWARM__OP_DELETE, SWARM__KIND_SERVICE, "{\"ID\":\"s3\"}", 0));
    CHECK_STR(list_ids(s, SWARM__KIND_NETWORK, NULL, NULL), "n1,n2");
    CHECK_STR(field(get(s, SWARM__KIND_NETWORK, "n1"), "Spec.Name"), "net2");
    CHECK(get(s, SWARM__KIND_SERVICE, "s3") == NULL);

    /* An empty write only advances the index. */
    CHECK_INT(swarm__store_apply(s, 7, NULL, 0, &e), 0);
    CHECK_INT(swarm__store_index(s), 7);
    swarm__store_close(s);
}

BOTH(versions_and_errors)
static void versions_and_errors(const char *kind)
{
    swarm__store *s = open_store(kind, NULL);
    swarm__err e;
    APPLY_OK(s, 1, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0));
    APPLY_OK(s, 2, A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 1));
    CHECK_INT(APPLY(s, 3, &e, A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 1)), SWARM_ECONFLICT);
    CHECK_CONTAINS(e.message, "update out of sequence");
    CHECK_INT(APPLY(s, 4, &e, A(SWARM__OP_DELETE, SWARM__KIND_SERVICE, "{\"ID\":\"s1\"}", 1)), SWARM_ECONFLICT);
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "Version.Index"), "2");
    APPLY_OK(s, 5, A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0)); /* 0: don't check */
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "Version.Index"), "5");

    CHECK_INT(APPLY(s, 6, &e, A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("nope", "x"), 0)), SWARM_ENOTFOUND);
    CHECK_CONTAINS(e.message, "service nope not found");
    CHECK_INT(APPLY(s, 7, &e, A(SWARM__OP_DELETE, SWARM__KIND_TASK, "{\"ID\":\"t9\"}", 0)), SWARM_ENOTFOUND);
    CHECK_CONTAINS(e.message, "task t9 not found");
    CHECK_INT(APPLY(s, 8, &e, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, "{\"Spec\":{}}", 0)), SWARM_EINVALID);
    CHECK_INT(APPLY(s, 9, &e, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, "{\"ID\":7}", 0)), SWARM_EINVALID);
    CHECK_INT(APPLY(s, 10, &e, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, "[1]", 0)), SWARM_EINVALID);
    CHECK_INT(APPLY(s, 11, &e, A((swarm__op)9, SWARM__KIND_SERVICE, SVC("s2", "x"), 0)), SWARM_EINVALID);
    CHECK_INT(APPLY(s, 12, &e, A(SWARM__OP_CREATE, (swarm__kind)99, SVC("s2", "x"), 0)), SWARM_EINVALID);
    char big[400];
    snprintf(big, sizeof big, "{\"ID\":\"%0300d\"}", 1);
    CHECK_INT(APPLY(s, 13, &e, A(SWARM__OP_CREATE, SWARM__KIND_NODE, big, 0)), SWARM_EINVALID);
    CHECK_INT(swarm__store_index(s), 13);
    CHECK_STR(list_ids(s, SWARM__KIND_SERVICE, NULL, NULL), "s1");
    swarm__store_close(s);
}

BOTH(unique_names)
static void unique_names(const char *kind)
{
    swarm__store *s = open_store(kind, NULL);
    swarm__err e;
    APPLY_OK(s, 1, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0),
             A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s2", "api"), 0),
             A(SWARM__OP_CREATE, SWARM__KIND_NETWORK, SVC("n1", "web"), 0), /* names are per kind */
             A(SWARM__OP_CREATE, SWARM__KIND_NODE, SVC("node1", "same"), 0),
             A(SWARM__OP_CREATE, SWARM__KIND_NODE, SVC("node2", "same"), 0)); /* nodes: no unique name */
    CHECK_INT(APPLY(s, 2, &e, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s3", "web"), 0)), SWARM_EEXISTS);
    CHECK_CONTAINS(e.message, "\"web\"");
    CHECK_INT(APPLY(s, 3, &e, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s3", "WEB"), 0)), SWARM_EEXISTS);
    /* Renaming onto a taken name. */
    CHECK_INT(APPLY(s, 4, &e, A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s2", "web"), 0)), SWARM_EEXISTS);
    CHECK_CONTAINS(e.message, "web");
    /* Keeping one's own name, or changing its case, is fine. */
    APPLY_OK(s, 5, A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0));
    APPLY_OK(s, 6, A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s1", "Web"), 0));

    swarm__snap *v;
    CHECK_INT(swarm__snap_begin(s, &v, &e), 0);
    CHECK_STR(field(swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "web"), "ID"), "s1");
    CHECK_STR(field(swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "Web"), "ID"), "s1");
    CHECK_STR(field(swarm__snap_get_by_name(v, SWARM__KIND_NETWORK, "web"), "ID"), "n1");
    CHECK(swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "nope") == NULL);
    CHECK(swarm__snap_get_by_name(v, SWARM__KIND_NODE, "same") == NULL);
    swarm__snap_end(v);

    /* A rename frees the old name; a delete frees the name. */
    APPLY_OK(s, 7, A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s1", "www"), 0));
    APPLY_OK(s, 8, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s3", "web"), 0));
    CHECK_INT(APPLY(s, 9, &e, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s4", "www"), 0)), SWARM_EEXISTS);
    APPLY_OK(s, 10, A(SWARM__OP_DELETE, SWARM__KIND_SERVICE, "{\"ID\":\"s1\"}", 0));
    APPLY_OK(s, 11, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s4", "www"), 0));
    /* Swapping two names inside one write works in the right order. */
    APPLY_OK(s, 12, A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s3", "tmp"), 0),
             A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s4", "web"), 0),
             A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s3", "www"), 0));
    CHECK_INT(swarm__snap_begin(s, &v, &e), 0);
    CHECK_STR(field(swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "web"), "ID"), "s4");
    CHECK_STR(field(swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "www"), "ID"), "s3");
    CHECK(swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "tmp") == NULL);
    swarm__snap_end(v);
    swarm__store_close(s);
}

typedef struct recorder {
    char log[1024];
    int count;
    swarm__store *s;
    swarm__watch *self, *victim;
    int unwatch_after; /* unwatch self after this many events */
} recorder;

static void record(const swarm__event *ev, void *payload)
{
    recorder *r = payload;
    char line[128];
    snprintf(line, sizeof line, "%s%d:%s:%s:%s:%s", r->log[0] ? " " : "", (int)ev->index,
             ev->op == SWARM__OP_CREATE ? "c" : ev->op == SWARM__OP_UPDATE ? "u" : "d", swarm__kind_name(ev->kind),
             json_string_value(json_object_get(ev->object, "ID")),
             ev->old ? json_string_value(swarm__json_get(ev->old, "Spec.Name")) ? json_string_value(swarm__json_get(ev->old, "Spec.Name")) : "old" : "-");
    strncat(r->log, line, sizeof r->log - strlen(r->log) - 1);
    r->count++;
    if (r->unwatch_after && r->count == r->unwatch_after)
        swarm__store_unwatch(r->s, r->self);
    if (r->victim != NULL) {
        swarm__store_unwatch(r->s, r->victim);
        r->victim = NULL;
    }
}

static void count_notify(void *payload)
{
    (*(int *)payload)++;
}

BOTH(watches)
static void watches(const char *kind)
{
    swarm__store *s = open_store(kind, NULL);
    int notified = 0;
    swarm__store_set_notify(s, count_notify, &notified);
    APPLY_OK(s, 1, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s0", "zero"), 0)); /* nobody watches */
    CHECK_INT(notified, 0);
    recorder all = {.s = NULL}, tasks = {.s = NULL}, quitter = {.s = NULL}, killer = {.s = NULL},
             victim = {.s = NULL};
    all.s = tasks.s = quitter.s = killer.s = victim.s = s;
    CHECK_INT(swarm__store_watch(s, 0, record, &all, &all.self), 0);
    CHECK_INT(swarm__store_watch(s, 1u << SWARM__KIND_TASK, record, &tasks, &tasks.self), 0);
    CHECK_INT(swarm__store_watch(s, 0, record, &quitter, &quitter.self), 0);
    quitter.unwatch_after = 1;
    CHECK_INT(swarm__store_watch(s, 0, record, &killer, &killer.self), 0);
    CHECK_INT(swarm__store_watch(s, 0, record, &victim, &victim.self), 0);
    killer.victim = victim.self; /* killer runs before victim: victim sees nothing */

    APPLY_OK(s, 2, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0),
             A(SWARM__OP_CREATE, SWARM__KIND_TASK, TASK("t1", "s1", "n1", "running"), 0));
    CHECK_INT(notified, 1);
    swarm__err e;
    CHECK_INT(APPLY(s, 3, &e, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "dup"), 0)), SWARM_EEXISTS);
    APPLY_OK(s, 4, A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s1", "web2"), 2));
    CHECK_INT(notified, 1); /* only when the queue goes from empty to non-empty */
    CHECK_STR(all.log, "");  /* nothing before deliver */
    swarm__store_deliver(s);
    CHECK_STR(all.log, "2:c:service:s1:- 2:c:task:t1:- 4:u:service:s1:web");
    CHECK_STR(tasks.log, "2:c:task:t1:-");
    CHECK_STR(quitter.log, "2:c:service:s1:-");
    CHECK_INT(killer.count, 3);
    CHECK_INT(victim.count, 0);

    /* A watch made after a write (even one not delivered yet) sees only later writes. */
    APPLY_OK(s, 5, A(SWARM__OP_DELETE, SWARM__KIND_TASK, "{\"ID\":\"t1\"}", 0));
    CHECK_INT(notified, 2);
    recorder late = {.s = s};
    CHECK_INT(swarm__store_watch(s, 0, record, &late, &late.self), 0);
    APPLY_OK(s, 6, A(SWARM__OP_DELETE, SWARM__KIND_SERVICE, "{\"ID\":\"s1\"}", 0));
    swarm__store_deliver(s);
    CHECK_STR(all.log, "2:c:service:s1:- 2:c:task:t1:- 4:u:service:s1:web 5:d:task:t1:old 6:d:service:s1:web2");
    CHECK_STR(late.log, "6:d:service:s1:web2");
    CHECK_STR(tasks.log, "2:c:task:t1:- 5:d:task:t1:old");
    swarm__store_deliver(s); /* nothing left */
    CHECK_INT(all.count, 5);

    swarm__store_unwatch(s, tasks.self);
    APPLY_OK(s, 7, A(SWARM__OP_CREATE, SWARM__KIND_TASK, TASK("t2", "s1", "n1", "running"), 0));
    swarm__store_deliver(s);
    CHECK_INT(tasks.count, 2);
    CHECK_INT(all.count, 6);
    /* Undelivered events are dropped by close without callbacks. */
    APPLY_OK(s, 8, A(SWARM__OP_DELETE, SWARM__KIND_TASK, "{\"ID\":\"t2\"}", 0));
    swarm__store_close(s);
    CHECK_INT(all.count, 6);
}

typedef struct chain {
    swarm__store *s;
    char log[256];
} chain;

/* Writes once more from inside delivery (allowed, though the node never does it). */
static void chain_cb(const swarm__event *ev, void *payload)
{
    chain *c = payload;
    char line[32];
    snprintf(line, sizeof line, "%s%d", c->log[0] ? "," : "", (int)ev->index);
    strcat(c->log, line);
    if (ev->index < 4) {
        swarm__action a = A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0);
        swarm__err e;
        CHECK_INT(swarm__store_apply(c->s, ev->index + 1, &a, 1, &e), 0);
        json_decref(a.object);
        swarm__store_deliver(c->s); /* nested: returns at once */
    }
}

BOTH(apply_during_delivery)
static void apply_during_delivery(const char *kind)
{
    swarm__store *s = open_store(kind, NULL);
    int notified = 0;
    swarm__store_set_notify(s, count_notify, &notified);
    chain c = {s, ""};
    CHECK_INT(swarm__store_watch(s, 0, chain_cb, &c, NULL), 0);
    APPLY_OK(s, 1, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0));
    CHECK_INT(notified, 1);
    swarm__store_deliver(s);
    CHECK_STR(c.log, "1,2,3,4"); /* one deliver call runs until the queue is empty */
    CHECK_INT(notified, 1);
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "Version.Index"), "4");
    swarm__store_close(s);
}

BOTH(task_indexes)
static void task_indexes(const char *kind)
{
    swarm__store *s = open_store(kind, NULL);
    APPLY_OK(s, 1, A(SWARM__OP_CREATE, SWARM__KIND_TASK, TASK("t1", "s1", "n1", "running"), 0),
             A(SWARM__OP_CREATE, SWARM__KIND_TASK, TASK("t2", "s1", "n2", "running"), 0),
             A(SWARM__OP_CREATE, SWARM__KIND_TASK, TASK("t3", "s2", "n1", "shutdown"), 0),
             A(SWARM__OP_CREATE, SWARM__KIND_TASK, "{\"ID\":\"t4\",\"ServiceID\":\"s10\",\"DesiredState\":\"running\"}", 0));
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, NULL, NULL), "t1,t2,t3,t4");
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "service", "s1"), "t1,t2");
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "service", "s10"), "t4");
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "node", "n1"), "t1,t3");
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "node", ""), ""); /* unassigned tasks are not indexed */
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "desired", "running"), "t1,t2,t4");
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "desired", "shutdown"), "t3");

    /* The task moves to another node and is told to stop. */
    APPLY_OK(s, 2, A(SWARM__OP_UPDATE, SWARM__KIND_TASK, TASK("t1", "s1", "n2", "shutdown"), 1));
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "node", "n1"), "t3");
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "node", "n2"), "t1,t2");
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "desired", "running"), "t2,t4");
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "desired", "shutdown"), "t1,t3");
    /* Assigning t4 a node. */
    APPLY_OK(s, 3, A(SWARM__OP_UPDATE, SWARM__KIND_TASK, TASK("t4", "s10", "n3", "running"), 0));
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "node", "n3"), "t4");
    APPLY_OK(s, 4, A(SWARM__OP_DELETE, SWARM__KIND_TASK, "{\"ID\":\"t2\"}", 0));
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "service", "s1"), "t1");
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "node", "n2"), "t1");

    swarm__snap *v;
    swarm__err e;
    json_t *arr = NULL;
    CHECK_INT(swarm__snap_begin(s, &v, &e), 0);
    CHECK_INT(swarm__snap_list(v, SWARM__KIND_TASK, "color", "red", &arr, &e), SWARM_EINVALID);
    CHECK_INT(swarm__snap_list(v, SWARM__KIND_SERVICE, "node", "n1", &arr, &e), SWARM_EINVALID);
    CHECK(arr == NULL);
    swarm__snap_end(v);
    swarm__store_close(s);
}

BOTH(lookup)
static void lookup(const char *kind)
{
    swarm__store *s = open_store(kind, NULL);
    APPLY_OK(s, 1, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("abc123", "web"), 0),
             A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("abd456", "api"), 0),
             A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("xyz789", "abc"), 0),
             A(SWARM__OP_CREATE, SWARM__KIND_NODE, SVC("node1", "host"), 0));
    swarm__snap *v, *v2;
    swarm__err e;
    json_t *o;
    CHECK_INT(swarm__snap_begin(s, &v, &e), 0);
    CHECK_INT(swarm__snap_begin(s, &v2, &e), 0); /* snapshots nest */
    CHECK_INT(swarm__snap_lookup(v, SWARM__KIND_SERVICE, "abc123", &o, &e), 0);
    CHECK_STR(field(o, "ID"), "abc123");
    CHECK_INT(swarm__snap_lookup(v, SWARM__KIND_SERVICE, "api", &o, &e), 0);
    CHECK_STR(field(o, "ID"), "abd456");
    /* A name wins over an ID prefix. */
    CHECK_INT(swarm__snap_lookup(v, SWARM__KIND_SERVICE, "abc", &o, &e), 0);
    CHECK_STR(field(o, "ID"), "xyz789");
    CHECK_INT(swarm__snap_lookup(v, SWARM__KIND_SERVICE, "abd", &o, &e), 0);
    CHECK_STR(field(o, "ID"), "abd456");
    CHECK_INT(swarm__snap_lookup(v2, SWARM__KIND_SERVICE, "xy", &o, &e), 0);
    CHECK_STR(field(o, "ID"), "xyz789");
    CHECK_INT(swarm__snap_lookup(v, SWARM__KIND_SERVICE, "ab", &o, &e), SWARM_EINVALID);
    CHECK_STR(e.message, "service ab is ambiguous (2 matches found)");
    CHECK(o == NULL);
    CHECK_INT(swarm__snap_lookup(v, SWARM__KIND_SERVICE, "q", &o, &e), SWARM_ENOTFOUND);
    CHECK_STR(e.message, "service q not found");
    CHECK_INT(swarm__snap_lookup(v, SWARM__KIND_SERVICE, "", &o, &e), SWARM_ENOTFOUND);
    CHECK_INT(swarm__snap_lookup(v, SWARM__KIND_NODE, "no", &o, &e), 0);
    CHECK_STR(field(o, "ID"), "node1");
    CHECK_INT(swarm__snap_lookup(v, SWARM__KIND_NODE, "host", &o, &e), SWARM_ENOTFOUND);
    swarm__snap_end(v2);

    /* No writes while a snapshot is open (one transaction at a time per backend). */
    CHECK_INT(APPLY(s, 2, &e, A(SWARM__OP_CREATE, SWARM__KIND_NODE, SVC("node2", "h"), 0)), SWARM_EBUSY);
    CHECK_INT(swarm__store_index(s), 1);
    swarm__snap_end(v);
    APPLY_OK(s, 2, A(SWARM__OP_CREATE, SWARM__KIND_NODE, SVC("node2", "h"), 0));
    swarm__store_close(s);
}

BOTH(replay_is_noop)
static void replay_is_noop(const char *kind)
{
    swarm__store *s = open_store(kind, NULL);
    swarm__err e;
    APPLY_OK(s, 5, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0));
    /* Replays of applied indexes succeed and change nothing, whatever they carry. */
    APPLY_OK(s, 5, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0));
    APPLY_OK(s, 3, A(SWARM__OP_DELETE, SWARM__KIND_SERVICE, "{\"ID\":\"s1\"}", 0));
    CHECK_INT(swarm__store_index(s), 5);
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "Version.Index"), "5");
    CHECK_INT(APPLY(s, 6, &e, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0)), SWARM_EEXISTS);
    APPLY_OK(s, 6, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0)); /* the rejection replayed */
    CHECK_INT(APPLY(s, 0, &e, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s9", "x"), 0)), 0);
    CHECK(get(s, SWARM__KIND_SERVICE, "s9") == NULL);
    swarm__store_close(s);
}

BOTH(actions_wire)
static void actions_wire(const char *kind)
{
    swarm__action in[] = {A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0),
                          A(SWARM__OP_UPDATE, SWARM__KIND_TASK, TASK("t1", "s1", "n1", "running"), 42),
                          A(SWARM__OP_DELETE, SWARM__KIND_CONFIG, "{\"ID\":\"c1\"}", 7)};
    char *text = NULL;
    size_t len = 0;
    swarm__err e;
    CHECK_INT(swarm__actions_encode(in, 3, &text, &len, &e), 0);
    CHECK_INT(len, strlen(text));
    swarm__action *out = NULL;
    size_t n = 0;
    CHECK_INT(swarm__actions_decode(&out, &n, text, len, &e), 0);
    CHECK_INT(n, 3);
    for (size_t i = 0; i < 3; i++) {
        CHECK_INT(out[i].op, in[i].op);
        CHECK_INT(out[i].kind, in[i].kind);
        CHECK_INT(out[i].expect_version, in[i].expect_version);
        CHECK(json_equal(out[i].object, in[i].object));
    }
    /* Decoded actions apply like the originals. */
    swarm__store *s = open_store(kind, NULL);
    CHECK_INT(swarm__store_apply(s, 1, out, 1, &e), 0);
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "Spec.Name"), "web");
    swarm__store_close(s);
    swarm__actions_free(out, n);
    free(text);
    for (size_t i = 0; i < 3; i++)
        json_decref(in[i].object);

    CHECK_INT(swarm__actions_encode(NULL, 0, &text, &len, &e), 0);
    CHECK_INT(swarm__actions_decode(&out, &n, text, len, &e), 0);
    CHECK_INT(n, 0);
    swarm__actions_free(out, n);
    free(text);

    static const char *const bad[] = {
        "",
        "null",
        "[]",
        "{\"v\":1}",
        "{\"v\":2,\"a\":[]}",
        "{\"v\":1,\"a\":{}}",
        "{\"v\":1,\"a\":[],\"x\":0}",
        "{\"v\":1,\"a\":[1]}",
        "{\"v\":1,\"a\":[{\"op\":5,\"k\":\"service\",\"o\":{\"ID\":\"a\"},\"ev\":0}]}",
        "{\"v\":1,\"a\":[{\"op\":1,\"k\":\"servic\",\"o\":{\"ID\":\"a\"},\"ev\":0}]}",
        "{\"v\":1,\"a\":[{\"op\":1,\"k\":\"service\",\"o\":[],\"ev\":0}]}",
        "{\"v\":1,\"a\":[{\"op\":1,\"k\":\"service\",\"o\":{},\"ev\":0}]}",
        "{\"v\":1,\"a\":[{\"op\":1,\"k\":\"service\",\"o\":{\"ID\":\"a\"},\"ev\":-1}]}",
        "{\"v\":1,\"a\":[{\"op\":1,\"k\":\"service\",\"o\":{\"ID\":\"a\"},\"ev\":0,\"zz\":1}]}",
        "{\"v\":1,\"a\":[{\"op\":1,\"k\":\"service\",\"o\":{\"ID\":\"a\"},\"ev\":0}],\"v\":1}",
        "{\"v\":1,\"a\":[{\"op\":1,\"k\":\"service\",\"o\":{\"ID\":\"a\"},\"ev\":0},{\"op\":1}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = (swarm__action *)1;
        n = 99;
        if (swarm__actions_decode(&out, &n, bad[i], strlen(bad[i]), &e) != SWARM_EINVALID)
            test__fail(__FILE__, __LINE__, "decoded %s", bad[i]);
        CHECK(out == NULL);
        CHECK_INT(n, 0);
    }
}

/*
 * Batched groups: a rejected group of several actions leaves nothing (objects,
 * name and task indexes: it is undone inside the shared transaction), a
 * rejected group of one action writes nothing in the first place (the engine
 * keeps no undo log for it), neighbours are kept, and a group the caller
 * rejected already (rc != 0 on input) is skipped with its outcome kept.
 */
BOTH(groups_rollback)
static void groups_rollback(const char *kind)
{
    swarm__store *s = open_store(kind, NULL);
    APPLY_OK(s, 1, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0),
             A(SWARM__OP_CREATE, SWARM__KIND_TASK, TASK("t0", "s1", "n1", "running"), 0));
    recorder all = {.s = s};
    CHECK_INT(swarm__store_watch(s, 0, record, &all, &all.self), 0);
    swarm__action multi[] = {A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s2", "api"), 0),
                             A(SWARM__OP_CREATE, SWARM__KIND_TASK, TASK("t1", "s2", "n2", "running"), 0),
                             A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s1", "www"), 0),
                             A(SWARM__OP_DELETE, SWARM__KIND_TASK, "{\"ID\":\"t0\"}", 0),
                             A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s3", "API"), 0)}; /* name taken by s2 */
    swarm__action dup[] = {A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "other"), 0)};
    swarm__action api[] = {A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s4", "api"), 0)};
    swarm__action stale[] = {A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s1", "www"), 9)};
    swarm__action skipped[] = {A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s9", "nine"), 0)};
    swarm__action task[] = {A(SWARM__OP_CREATE, SWARM__KIND_TASK, TASK("t2", "s1", "n2", "running"), 0)};
    swarm__store_group g[] = {
        {multi, 5, 0, {0, ""}}, {dup, 1, 0, {0, ""}},   {api, 1, 0, {0, ""}},
        {stale, 1, 0, {0, ""}}, {skipped, 1, SWARM_EINVALID, {SWARM_EINVALID, "caller: bad proposal"}},
        {task, 1, 0, {0, ""}},  {NULL, 0, 0, {0, ""}},
    };
    swarm__err e;
    CHECK_INT(swarm__store_apply_groups(s, 2, g, 7, &e), 0);
    CHECK_INT(swarm__store_index(s), 2);
    CHECK_INT(g[0].rc, SWARM_EEXISTS);
    CHECK_CONTAINS(g[0].err.message, "name conflicts");
    CHECK_INT(g[1].rc, SWARM_EEXISTS);
    CHECK_CONTAINS(g[1].err.message, "service s1 already exists");
    CHECK_INT(g[2].rc, 0);
    CHECK_INT(g[3].rc, SWARM_ECONFLICT);
    CHECK_INT(g[4].rc, SWARM_EINVALID);
    CHECK_STR(g[4].err.message, "caller: bad proposal");
    CHECK_INT(g[5].rc, 0);
    CHECK_INT(g[6].rc, 0);
    CHECK_STR(g[2].err.message, "");
    /* Nothing of the multi-action group: objects, names, task indexes. */
    CHECK(get(s, SWARM__KIND_SERVICE, "s2") == NULL);
    CHECK(get(s, SWARM__KIND_SERVICE, "s3") == NULL);
    CHECK(get(s, SWARM__KIND_TASK, "t1") == NULL);
    CHECK(get(s, SWARM__KIND_SERVICE, "s9") == NULL);
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "Spec.Name"), "web");
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "Version.Index"), "1");
    CHECK_STR(field(get(s, SWARM__KIND_TASK, "t0"), "NodeID"), "n1");
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "service", "s2"), "");
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "service", "s1"), "t0,t2");
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "node", "n2"), "t2");
    CHECK_STR(list_ids(s, SWARM__KIND_SERVICE, NULL, NULL), "s1,s4");
    swarm__snap *v;
    CHECK_INT(swarm__snap_begin(s, &v, &e), 0);
    CHECK_STR(field(swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "web"), "ID"), "s1");
    CHECK_STR(field(swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "api"), "ID"), "s4");
    CHECK(swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "www") == NULL);
    CHECK(swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "other") == NULL);
    swarm__snap_end(v);
    /* Only the accepted groups' writes make events. */
    swarm__store_deliver(s);
    CHECK_STR(all.log, "2:c:service:s4:- 2:c:task:t2:-");
    /* A replay changes nothing and keeps the skipped group's outcome. */
    g[0].rc = g[1].rc = g[3].rc = 0;
    CHECK_INT(swarm__store_apply_groups(s, 2, g, 7, &e), 0);
    CHECK_INT(g[0].rc, 0);
    CHECK_INT(g[4].rc, SWARM_EINVALID);
    CHECK_STR(list_ids(s, SWARM__KIND_SERVICE, NULL, NULL), "s1,s4");
    /* swarm__store_apply is a group of one: a rejected list consumes its index and leaves nothing. */
    CHECK_INT(swarm__store_apply(s, 3, multi, 5, &e), SWARM_EEXISTS);
    CHECK_CONTAINS(e.message, "name conflicts");
    CHECK_INT(swarm__store_index(s), 3);
    CHECK(get(s, SWARM__KIND_TASK, "t1") == NULL);
    CHECK_STR(field(get(s, SWARM__KIND_TASK, "t0"), "NodeID"), "n1");
    /* One action rejected by its last check (the name index): it had written nothing. */
    CHECK_INT(APPLY(s, 4, &e, A(SWARM__OP_UPDATE, SWARM__KIND_SERVICE, SVC("s1", "API"), 0)), SWARM_EEXISTS);
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "Spec.Name"), "web");
    CHECK_INT(swarm__snap_begin(s, &v, &e), 0);
    CHECK_STR(field(swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "web"), "ID"), "s1");
    CHECK_STR(field(swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, "api"), "ID"), "s4");
    swarm__snap_end(v);
    swarm__action *lists[] = {multi, dup, api, stale, skipped, task};
    size_t sizes[] = {5, 1, 1, 1, 1, 1};
    for (size_t i = 0; i < 6; i++)
        for (size_t k = 0; k < sizes[i]; k++)
            json_decref(lists[i][k].object);
    swarm__store_close(s);
}

typedef struct object_seen {
    const json_t *objects[4];
    int n;
} object_seen;

static void see_object(const swarm__event *ev, void *payload)
{
    object_seen *o = payload;
    if (o->n < 4)
        o->objects[o->n++] = ev->object;
}

/* apply_groups_take: a handed-over object is stamped in place and kept (no copy); a shared one is copied. */
BOTH(groups_take)
static void groups_take(const char *kind)
{
    swarm__store *s = open_store(kind, NULL);
    object_seen seen = {{NULL}, 0};
    CHECK_INT(swarm__store_watch(s, 0, see_object, &seen, NULL), 0);
    swarm__action own[] = {A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0)};
    swarm__action shared[] = {A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s2", "api"), 0)};
    json_t *mine = json_incref(shared[0].object);
    swarm__store_group g[] = {{own, 1, 0, {0, ""}}, {shared, 1, 0, {0, ""}}};
    swarm__err e;
    CHECK_INT(swarm__store_apply_groups_take(s, 5, g, 2, &e), 0);
    CHECK_INT(g[0].rc, 0);
    CHECK_INT(g[1].rc, 0);
    swarm__store_deliver(s);
    CHECK_INT(seen.n, 2);
    CHECK(seen.objects[0] == own[0].object); /* kept, not copied */
    CHECK(seen.objects[1] != shared[0].object);
    CHECK(json_object_get(mine, "Version") == NULL); /* someone else's too: untouched */
    json_decref(own[0].object); /* the caller drops its references */
    json_decref(shared[0].object);
    json_decref(mine);
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "Version.Index"), "5");
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s2"), "Version.Index"), "5");
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "Spec.Name"), "web");
    swarm__store_close(s);
}

/* ---------------------------------------------------------------- lmdb only */

static void test_store_lmdb__reopen_keeps_everything(void)
{
    const char *dir = test_tmpdir();
    swarm__store *s = open_store("lmdb", dir);
    APPLY_OK(s, 1, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "web"), 0),
             A(SWARM__OP_CREATE, SWARM__KIND_TASK, TASK("t1", "s1", "n1", "running"), 0));
    swarm__err e;
    CHECK_INT(APPLY(s, 2, &e, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s1", "x"), 0)), SWARM_EEXISTS);
    swarm__store_close(s);

    s = open_store("lmdb", dir);
    CHECK_INT(swarm__store_index(s), 2);
    CHECK_STR(field(get(s, SWARM__KIND_SERVICE, "s1"), "Spec.Name"), "web");
    CHECK_STR(list_ids(s, SWARM__KIND_TASK, "node", "n1"), "t1");
    CHECK_INT(APPLY(s, 3, &e, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s2", "web"), 0)), SWARM_EEXISTS);
    APPLY_OK(s, 2, A(SWARM__OP_CREATE, SWARM__KIND_SERVICE, SVC("s5", "five"), 0)); /* replay */
    CHECK(get(s, SWARM__KIND_SERVICE, "s5") == NULL);
    swarm__store_close(s);
}

static void test_store_lmdb__busy(void)
{
    const char *dir = test_tmpdir();
    struct swarm_store_backend *b = new_backend("lmdb", dir), *b2 = NULL;
    CHECK_INT(swarm_store_lmdb_new(&b2, dir), SWARM_EBUSY);
    CHECK_CONTAINS(swarm_error_last_message(), dir);
    b->free(b);
    /* Free again once closed. */
    b = new_backend("lmdb", dir);
    b->free(b);

    /* Another process holding the lock (a separate open file description acts like one). */
    char path[4096];
    snprintf(path, sizeof path, "%s/store/swarm.lock", dir);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    CHECK_INT(flock(fd, LOCK_EX | LOCK_NB), 0);
    CHECK_INT(swarm_store_lmdb_new(&b2, dir), SWARM_EBUSY);
    CHECK_CONTAINS(swarm_error_last_message(), "in use by another process");
    close(fd);
    b = new_backend("lmdb", dir);
    b->free(b);

    CHECK_INT(swarm_store_lmdb_new(&b2, NULL), SWARM_EINVALID);
    CHECK_INT(swarm_store_lmdb_new(&b2, "/proc/nope/state"), SWARM_EIO);
}

/* ---------------------------------------------------------------- registry */

static int mine_made;

static int mine_factory(struct swarm_store_backend **out, const char *state_dir, void *payload)
{
    CHECK_STR(state_dir, "/some/dir");
    CHECK_STR(payload, "payload");
    int rc = swarm_store_memory_new(out);
    if (rc == 0) {
        (*out)->name = "mine";
        mine_made++;
    }
    return rc;
}

static int failing_factory(struct swarm_store_backend **out, const char *state_dir, void *payload)
{
    (void)out;
    (void)state_dir;
    (void)payload;
    return swarm__error_set(SWARM_EIO, "disk on fire");
}

static int broken_factory(struct swarm_store_backend **out, const char *state_dir, void *payload)
{
    (void)state_dir;
    (void)payload;
    int rc = swarm_store_memory_new(out);
    (*out)->version = 0;
    return rc;
}

static void test_store_registry__backends(void)
{
    struct swarm_store_backend *b = NULL;
    swarm__err e;
    CHECK_INT(swarm__store_backend_create("nope", NULL, &b, &e), SWARM_EINVALID);
    CHECK_STR(e.message, "unknown store backend \"nope\"");
    CHECK_INT(swarm__store_backend_create("lmdb", NULL, &b, &e), SWARM_EINVALID);

    CHECK_INT(swarm__store_backend_create("memory", NULL, &b, &e), 0);
    CHECK_STR(b->name, "memory");
    b->free(b);
    CHECK_INT(swarm__store_backend_create("lmdb", test_tmpdir(), &b, &e), 0);
    CHECK_STR(b->name, "lmdb");
    b->free(b);

    CHECK_INT(swarm_store_register("mine", mine_factory, "payload"), 0);
    CHECK_INT(swarm_store_register("mine", mine_factory, NULL), SWARM_EEXISTS);
    CHECK_INT(swarm_store_register("lmdb", mine_factory, NULL), SWARM_EEXISTS);
    CHECK_INT(swarm_store_register("", mine_factory, NULL), SWARM_EINVALID);
    CHECK_INT(swarm_store_register("bad name", mine_factory, NULL), SWARM_EINVALID);
    CHECK_INT(swarm_store_register("nofactory", NULL, NULL), SWARM_EINVALID);
    CHECK_INT(swarm_store_register("failing", failing_factory, NULL), 0);
    CHECK_INT(swarm_store_register("broken", broken_factory, NULL), 0);

    CHECK_INT(swarm__store_backend_create("mine", "/some/dir", &b, &e), 0);
    CHECK_INT(mine_made, 1);
    swarm__store *s = NULL;
    CHECK_INT(swarm__store_open(&s, b, &e), 0);
    CHECK_STR(swarm__store_backend_name(s), "mine");
    APPLY_OK(s, 1, A(SWARM__OP_CREATE, SWARM__KIND_SECRET, SVC("x1", "pw"), 0));
    CHECK_STR(field(get(s, SWARM__KIND_SECRET, "x1"), "Spec.Name"), "pw");
    swarm__store_close(s);

    CHECK_INT(swarm__store_backend_create("failing", NULL, &b, &e), SWARM_EIO);
    CHECK_STR(e.message, "disk on fire");
    CHECK_INT(swarm__store_backend_create("broken", NULL, &b, &e), SWARM_EBACKEND);

    /* store_open checks the vtable and frees a bad backend. */
    CHECK_INT(swarm_store_memory_new(&b), 0);
    b->begin = NULL;
    CHECK_INT(swarm__store_open(&s, b, &e), SWARM_EBACKEND);
}

TEST_MAIN(TEST(test_store_lmdb__backend_basics), TEST(test_store_memory__backend_basics),
          TEST(test_store_lmdb__create_get_update_delete), TEST(test_store_memory__create_get_update_delete),
          TEST(test_store_lmdb__atomic_batch), TEST(test_store_memory__atomic_batch),
          TEST(test_store_lmdb__versions_and_errors), TEST(test_store_memory__versions_and_errors),
          TEST(test_store_lmdb__patch_keeps_other_fields), TEST(test_store_memory__patch_keeps_other_fields),
          TEST(test_store_lmdb__unique_names), TEST(test_store_memory__unique_names),
          TEST(test_store_lmdb__watches), TEST(test_store_memory__watches),
          TEST(test_store_lmdb__apply_during_delivery), TEST(test_store_memory__apply_during_delivery),
          TEST(test_store_lmdb__task_indexes), TEST(test_store_memory__task_indexes),
          TEST(test_store_lmdb__lookup), TEST(test_store_memory__lookup),
          TEST(test_store_lmdb__replay_is_noop), TEST(test_store_memory__replay_is_noop),
          TEST(test_store_lmdb__actions_wire), TEST(test_store_memory__actions_wire),
          TEST(test_store_lmdb__groups_rollback), TEST(test_store_memory__groups_rollback),
          TEST(test_store_lmdb__groups_take), TEST(test_store_memory__groups_take),
          TEST(test_store_lmdb__reopen_keeps_everything), TEST(test_store_lmdb__busy),
          TEST(test_store_registry__backends))

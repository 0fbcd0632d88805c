/*
 * The store engine over a backend: atomic, deterministic application of
 * action lists (idempotent by index), indexes, read snapshots and watches.
 */
#include "store/store.h"

#include "core/json.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Longest ID, name or indexed task field accepted. Keeps every key (even
 * "<ServiceID>\0<ID>") under LMDB's 511-byte limit, so that whether a write
 * is accepted never depends on the backend.
 */
#define FIELD_MAX 240

#define META_TABLE "meta"
#define META_INDEX "index"

typedef struct queued {
    swarm__op op;
    swarm__kind kind;
    uint64_t index;
    json_t *object; /* owned */
    json_t *old;    /* owned, NULL for creates */
} queued;

struct swarm__watch {
    unsigned mask;
    swarm__watch_cb cb;
    void *payload;
    uint64_t from_index; /* sees only writes with a greater index */
    int dead;            /* unwatched during delivery; freed after it */
    swarm__watch *next;
};

struct swarm__store {
    struct swarm_store_backend *b;
    uint64_t index;

    swarm_store_txn *read_txn; /* shared by all open snapshots */
    unsigned n_snaps;

    swarm__watch *watches;
    queued *queue;
    size_t q_head, q_len, q_cap;
    int delivering;
    int dead_watches;

    void (*notify)(void *payload);
    void *notify_payload;
};

struct swarm__snap {
    swarm__store *s;
};

static const char *const task_index_names[3] = {"service", "node", "desired"};
static const char *const task_index_fields[3] = {"ServiceID", "NodeID", "DesiredState"};
static const char *const task_index_tables[3] = {"task.service", "task.node", "task.desired"};

static int has_name_index(swarm__kind k)
{
    return k != SWARM__KIND_NODE && k != SWARM__KIND_TASK;
}

static void name_table(char *buf, size_t size, swarm__kind k)
{
    snprintf(buf, size, "%s.name", swarm__kind_name(k));
}

/* Backend failures report through the thread's last error. */
static int backend_err(swarm__err *e, int rc, const char *what)
{
    if (rc > 0)
        rc = SWARM_EBACKEND;
    swarm__err tmp;
    if (swarm__err_capture(&tmp) == rc && tmp.message[0] != '\0')
        return swarm__err_set(e, rc, "store: %s: %s", what, tmp.message);
    return swarm__err_set(e, rc, "store: %s: %s", what, swarm_strerror(rc));
}

/* String field usable as an index key: NULL if absent, not a string or empty. */
static int index_field(const json_t *obj, const char *path, const char **out)
{
    json_t *v = swarm__json_get(obj, path);
    *out = NULL;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return 0;
    if (json_string_length(v) > FIELD_MAX || strlen(json_string_value(v)) != json_string_length(v))
        return SWARM_EINVALID;
    *out = json_string_value(v);
    return 0;
}

/* Names are unique regardless of ASCII case, as in SwarmKit. */
static void fold_name(char out[FIELD_MAX + 1], const char *name)
{
    size_t i = 0;
    for (; name[i] != '\0' && i < FIELD_MAX; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[i] = '\0';
}

static size_t compound_key(char out[2 * FIELD_MAX + 2], const char *value, const char *id)
{
    size_t vl = strlen(value), il = strlen(id);
    memcpy(out, value, vl);
    out[vl] = '\0';
    memcpy(out + vl + 1, id, il);
    return vl + 1 + il;
}

static json_t *parse_stored(const void *value, size_t len)
{
    return json_loadb(value, len, 0, NULL);
}

/* ---------------------------------------------------------------- open / close */

int swarm__store_open(swarm__store **out, struct swarm_store_backend *backend, swarm__err *e)
{
    int rc = swarm__store_backend_check(backend, e);
    if (rc != 0) {
        if (backend != NULL && backend->free != NULL)
            backend->free(backend);
        return rc;
    }
    swarm__store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        backend->free(backend);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    s->b = backend;
    swarm_store_txn *t;
    if ((rc = backend->begin(backend, 0, &t)) != 0) {
        rc = backend_err(e, rc, "open");
        swarm__store_close(s);
        return rc;
    }
    const void *v;
    size_t len;
    rc = backend->get(t, META_TABLE, META_INDEX, strlen(META_INDEX), &v, &len);
    if (rc == 0) {
        char buf[32];
        char *end;
        if (len == 0 || len >= sizeof buf) {
            rc = SWARM_EBACKEND;
        } else {
            memcpy(buf, v, len);
            buf[len] = '\0';
            s->index = strtoull(buf, &end, 10);
            if (*end != '\0' || buf[0] < '0' || buf[0] > '9')
                rc = SWARM_EBACKEND;
        }
        if (rc != 0)
            swarm__err_set(e, rc, "store: the stored index is corrupt");
    } else if (rc == SWARM_ENOTFOUND) {
        rc = 0;
    } else {
        rc = backend_err(e, rc, "read the index");
    }
    backend->abort(t);
    if (rc != 0) {
        swarm__store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void drop_queue(swarm__store *s)
{
    for (size_t i = s->q_head; i < s->q_len; i++) {
        json_decref(s->queue[i].object);
        json_decref(s->queue[i].old);
    }
    s->q_head = s->q_len = 0;
}

void swarm__store_close(swarm__store *s)
{
    if (s == NULL)
        return;
    drop_queue(s);
    free(s->queue);
    while (s->watches != NULL) {
        swarm__watch *w = s->watches;
        s->watches = w->next;
        free(w);
    }
    if (s->read_txn != NULL)
        s->b->abort(s->read_txn); /* snapshots left open: a caller bug; at least don't leak the txn */
    s->b->free(s->b);
    free(s);
}

uint64_t swarm__store_index(const swarm__store *s)
{
    return s->index;
}

const char *swarm__store_backend_name(const swarm__store *s)
{
    return s->b->name ? s->b->name : "";
}

/* ---------------------------------------------------------------- apply */

typedef struct apply_ctx {
    swarm__store *s;
    swarm_store_txn *t;
    uint64_t index;
    int rejected; /* the failure is the write's fault (deterministic), not the backend's */
    swarm__err *e;
    struct undo_log *log; /* what the current group overwrote (see group_apply) */
    int undo;             /* note overwrites in log: the current group has more than one action */
    int take;             /* the actions' objects are handed over (swarm__store_apply_groups_take) */
} apply_ctx;

/* ---- undo log: lets one group of a batch be rolled back inside the shared write transaction */

typedef struct undo_rec {
    char *table; /* one allocation: table NUL, key, old value */
    char *key, *old;
    size_t key_len, old_len;
    int existed;
} undo_rec;

typedef struct undo_log {
    undo_rec *r;
    size_t n, cap;
} undo_log;

static int undo_note(apply_ctx *c, const char *table, const void *key, size_t key_len)
{
    undo_log *u = c->log;
    const void *v = NULL;
    size_t vlen = 0;
    int rc = c->s->b->get(c->t, table, key, key_len, &v, &vlen);
    if (rc != 0 && rc != SWARM_ENOTFOUND)
        return backend_err(c->e, rc, "read");
    if (u->n == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 16;
        undo_rec *grown = realloc(u->r, cap * sizeof *grown);
        if (grown == NULL)
            return swarm__err_set(c->e, SWARM_ENOMEM, "out of memory");
        u->r = grown;
        u->cap = cap;
    }
    size_t tlen = strlen(table) + 1;
    undo_rec *r = &u->r[u->n];
    r->existed = rc == 0;
    r->key_len = key_len;
    r->old_len = r->existed ? vlen : 0;
    if ((r->table = malloc(tlen + key_len + r->old_len + 1)) == NULL)
        return swarm__err_set(c->e, SWARM_ENOMEM, "out of memory");
    memcpy(r->table, table, tlen);
    r->key = r->table + tlen;
    memcpy(r->key, key, key_len);
    r->old = r->key + key_len;
    if (r->existed && vlen > 0)
        memcpy(r->old, v, vlen);
    u->n++;
    return 0;
}

static void undo_clear(undo_log *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->r[i].table);
    u->n = 0;
}

/* Puts back, newest first, what the current group changed. */
static int undo_rollback(apply_ctx *c)
{
    undo_log *u = c->log;
    int rc = 0;
    for (size_t i = u->n; rc == 0 && i-- > 0;) {
        undo_rec *r = &u->r[i];
        if (r->existed)
            rc = c->s->b->put(c->t, r->table, r->key, r->key_len, r->old, r->old_len);
        else if ((rc = c->s->b->del(c->t, r->table, r->key, r->key_len)) == SWARM_ENOTFOUND)
            rc = 0;
    }
    undo_clear(u);
    return rc;
}

/* A rejection: the write's own fault, the same on every replica. */
#define REJECT(c, code, ...) ((c)->rejected = 1, swarm__err_set((c)->e, (code), __VA_ARGS__))

static int put_str(apply_ctx *c, const char *table, const void *key, size_t key_len, const char *value)
{
    int rc = c->undo ? undo_note(c, table, key, key_len) : 0;
    if (rc != 0)
        return rc;
    rc = c->s->b->put(c->t, table, key, key_len, value, strlen(value));
    return rc == 0 ? 0 : backend_err(c->e, rc, "write");
}

static int del_key(apply_ctx *c, const char *table, const void *key, size_t key_len)
{
    int rc = c->undo ? undo_note(c, table, key, key_len) : 0;
    if (rc != 0)
        return rc;
    rc = c->s->b->del(c->t, table, key, key_len);
    /* An index entry that is already gone is not worth failing a write for. */
    return rc == 0 || rc == SWARM_ENOTFOUND ? 0 : backend_err(c->e, rc, "delete");
}

/* Reads the current object with this ID into *old (NULL if absent). */
static int load(apply_ctx *c, swarm__kind k, const char *id, json_t **old)
{
    const void *v;
    size_t len;
    *old = NULL;
    int rc = c->s->b->get(c->t, swarm__kind_name(k), id, strlen(id), &v, &len);
    if (rc == SWARM_ENOTFOUND)
        return 0;
    if (rc != 0)
        return backend_err(c->e, rc, "read");
    if ((*old = parse_stored(v, len)) == NULL)
        return swarm__err_set(c->e, SWARM_EBACKEND, "store: %s %s is corrupt", swarm__kind_name(k), id);
    return 0;
}

/* Keeps the name index in step: old/new are NULL where absent. */
static int update_name(apply_ctx *c, swarm__kind k, const char *id, const char *old_name, const char *new_name)
{
    char table[32], old_key[FIELD_MAX + 1], new_key[FIELD_MAX + 1];
    name_table(table, sizeof table, k);
    if (old_name)
        fold_name(old_key, old_name);
    if (new_name)
        fold_name(new_key, new_name);
    if (old_name && new_name && strcmp(old_key, new_key) == 0) {
        if (strcmp(old_name, new_name) == 0)
            return 0;
    } else if (new_name) {
        const void *v;
        size_t len;
        int rc = c->s->b->get(c->t, table, new_key, strlen(new_key), &v, &len);
        if (rc == 0 && !(len == strlen(id) && memcmp(v, id, len) == 0))
            return REJECT(c, SWARM_EEXISTS, "%s name \"%s\" is already in use (name conflicts with an existing object)",
                          swarm__kind_name(k), new_name);
        if (rc != 0 && rc != SWARM_ENOTFOUND)
            return backend_err(c->e, rc, "read");
    }
    int rc = 0;
    if (old_name && (!new_name || strcmp(old_key, new_key) != 0))
        rc = del_key(c, table, old_key, strlen(old_key));
    if (rc == 0 && new_name)
        rc = put_str(c, table, new_key, strlen(new_key), id);
    return rc;
}

static int update_task_indexes(apply_ctx *c, const char *id, const char *const old_v[3], const char *const new_v[3])
{
    char key[2 * FIELD_MAX + 2];
    for (int i = 0; i < 3; i++) {
        if (old_v[i] && new_v[i] && strcmp(old_v[i], new_v[i]) == 0)
            continue;
        int rc = 0;
        if (old_v[i])
            rc = del_key(c, task_index_tables[i], key, compound_key(key, old_v[i], id));
        if (rc == 0 && new_v[i])
            rc = put_str(c, task_index_tables[i], key, compound_key(key, new_v[i], id), "");
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The indexed fields of an object (name, or the task's three); EINVALID if one is unusable. */
static int indexed_fields(apply_ctx *c, swarm__kind k, const json_t *obj, const char **name, const char *task_v[3])
{
    *name = NULL;
    for (int i = 0; i < 3; i++)
        task_v[i] = NULL;
    if (obj == NULL)
        return 0;
    if (has_name_index(k) && index_field(obj, "Spec.Name", name) != 0)
        return REJECT(c, SWARM_EINVALID, "%s Spec.Name: must be at most %d bytes without NUL", swarm__kind_name(k),
                      FIELD_MAX);
    if (k == SWARM__KIND_TASK)
        for (int i = 0; i < 3; i++)
            if (index_field(obj, task_index_fields[i], &task_v[i]) != 0)
                return REJECT(c, SWARM_EINVALID, "task %s: must be at most %d bytes without NUL",
                              task_index_fields[i], FIELD_MAX);
    return 0;
}

/*
 * swarm__store_apply_groups_take: an object may be stamped in place when the
 * action holds the only reference to it and to its "Version" (the only part
 * the engine changes).
 */
static int taken(const apply_ctx *c, const json_t *obj)
{
    const json_t *ver = json_object_get(obj, "Version");
    return c->take && obj->refcount == 1 && (ver == NULL || ver->refcount == 1);
}

static int apply_one(apply_ctx *c, const swarm__action *a, queued *ev)
{
    if (a->op < SWARM__OP_CREATE || a->op > SWARM__OP_PATCH)
        return REJECT(c, SWARM_EINVALID, "store: bad action op %d", (int)a->op);
    if ((unsigned)a->kind >= SWARM__KIND_COUNT)
        return REJECT(c, SWARM_EINVALID, "store: bad object kind %d", (int)a->kind);
    const char *kind = swarm__kind_name(a->kind);
    if (!json_is_object(a->object))
        return REJECT(c, SWARM_EINVALID, "%s action: the object is not a JSON object", kind);
    json_t *idv = json_object_get(a->object, "ID");
    if (!json_is_string(idv) || json_string_length(idv) == 0)
        return REJECT(c, SWARM_EINVALID, "%s action: the object has no ID", kind);
    const char *id = json_string_value(idv);
    if (json_string_length(idv) > FIELD_MAX || strlen(id) != json_string_length(idv))
        return REJECT(c, SWARM_EINVALID, "%s ID: must be at most %d bytes without NUL", kind, FIELD_MAX);

    json_t *old = NULL, *obj = NULL;
    int rc = load(c, a->kind, id, &old);
    if (rc != 0)
        return rc;
    if (a->op == SWARM__OP_CREATE && old != NULL) {
        rc = REJECT(c, SWARM_EEXISTS, "%s %s already exists", kind, id);
        goto done;
    }
    if (a->op != SWARM__OP_CREATE) {
        if (old == NULL)
            return REJECT(c, SWARM_ENOTFOUND, "%s %s not found", kind, id);
        json_t *ver = swarm__json_get(old, "Version.Index");
        uint64_t cur = json_is_integer(ver) ? (uint64_t)json_integer_value(ver) : 0;
        if (a->expect_version != 0 && a->expect_version != cur) {
            rc = REJECT(c, SWARM_ECONFLICT,
                                "update out of sequence (%s %s is at version %" PRIu64 ", expected %" PRIu64 ")",
                                kind, id, cur, a->expect_version);
            goto done;
        }
    }

    const char *old_name, *old_task[3], *new_name = NULL, *new_task[3] = {NULL, NULL, NULL};
    /* Stored objects were checked when written; a bad field there just isn't indexed. */
    if ((rc = indexed_fields(c, a->kind, old, &old_name, old_task)) != 0) {
        c->rejected = 0;
        rc = swarm__err_set(c->e, SWARM_EBACKEND, "store: %s %s is corrupt", kind, id);
        goto done;
    }

    if (a->op == SWARM__OP_DELETE) {
        rc = del_key(c, kind, id, strlen(id));
    } else {
        if (a->op == SWARM__OP_PATCH) {
            obj = json_deep_copy(old);
            const char *key;
            json_t *val;
            json_object_foreach(a->object, key, val) {
                if (obj == NULL || strcmp(key, "ID") == 0 || strcmp(key, "Version") == 0)
                    continue;
                if (json_is_null(val))
                    json_object_del(obj, key);
                else if (json_object_set(obj, key, val) != 0) {
                    json_decref(obj);
                    obj = NULL;
                }
            }
        } else if (taken(c, a->object)) {
            obj = json_incref(a->object); /* stamped in place and kept: no copy */
        } else {
            obj = json_deep_copy(a->object);
        }
        json_t *ver = obj ? json_object_get(obj, "Version") : NULL;
        if (obj != NULL && !json_is_object(ver)) {
            ver = json_object();
            if (json_object_set_new(obj, "Version", ver) != 0)
                ver = NULL;
        }
        if (ver == NULL || json_object_set_new(ver, "Index", json_integer((json_int_t)c->index)) != 0) {
            rc = swarm__err_set(c->e, SWARM_ENOMEM, "out of memory");
            goto done;
        }
        if ((rc = indexed_fields(c, a->kind, obj, &new_name, new_task)) != 0)
            goto done;
        char *text = swarm__json_dump(obj);
        if (text == NULL) {
            rc = swarm__err_set(c->e, SWARM_ENOMEM, "out of memory");
            goto done;
        }
        if (has_name_index(a->kind))
            rc = update_name(c, a->kind, id, old_name, new_name);
        if (rc == 0)
            rc = put_str(c, kind, id, strlen(id), text);
        free(text);
    }
    if (rc == 0 && a->op == SWARM__OP_DELETE && has_name_index(a->kind))
        rc = update_name(c, a->kind, id, old_name, NULL);
    if (rc == 0 && a->kind == SWARM__KIND_TASK)
        rc = update_task_indexes(c, id, old_task, new_task);
    if (rc != 0)
        goto done;

    ev->op = a->op == SWARM__OP_PATCH ? SWARM__OP_UPDATE : a->op;
    ev->kind = a->kind;
    ev->index = c->index;
    if (a->op == SWARM__OP_DELETE) {
        ev->object = json_incref(old);
        ev->old = old;
    } else {
        ev->object = obj;
        ev->old = old;
    }
    return 0;
done:
    json_decref(old);
    json_decref(obj);
    return rc;
}

static int write_index(swarm__store *s, swarm_store_txn *t, uint64_t index, swarm__err *e)
{
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%" PRIu64, index);
    int rc = s->b->put(t, META_TABLE, META_INDEX, strlen(META_INDEX), buf, (size_t)len);
    return rc == 0 ? 0 : backend_err(e, rc, "write the index");
}

static int has_live_watch(const swarm__store *s)
{
    for (const swarm__watch *w = s->watches; w != NULL; w = w->next)
        if (!w->dead)
            return 1;
    return 0;
}

static int enqueue(swarm__store *s, queued *evs, size_t n)
{
    if (s->q_head > 0 && s->q_len + n > s->q_cap) {
        memmove(s->queue, s->queue + s->q_head, (s->q_len - s->q_head) * sizeof *s->queue);
        s->q_len -= s->q_head;
        s->q_head = 0;
    }
    if (s->q_len + n > s->q_cap) {
        size_t cap = s->q_cap ? s->q_cap : 16;
        while (cap < s->q_len + n)
            cap *= 2;
        queued *grown = realloc(s->queue, cap * sizeof *grown);
        if (grown == NULL)
            return SWARM_ENOMEM;
        s->queue = grown;
        s->q_cap = cap;
    }
    memcpy(s->queue + s->q_len, evs, n * sizeof *evs);
    s->q_len += n;
    return 0;
}

/* Drops the references of n events (not the array). */
static void drop_events(queued *evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(evs[i].object);
        json_decref(evs[i].old);
    }
}

/*
 * Applies group g's actions, their events into evs. A rejection leaves
 * nothing of the group in the transaction (its events dropped, *its* writes
 * undone) and returns the rejection with c->rejected set; any other failure
 * dooms the whole transaction.
 *
 * Undo invariant: apply_one makes every rejection check before its own first
 * write (its later steps can fail only on the backend, which aborts the whole
 * transaction). So a group of one action that is rejected has written
 * nothing, and only groups of several actions, whose earlier actions may have
 * written, need the undo log (a read and an allocation per key written).
 */
static int group_apply(apply_ctx *c, const swarm__store_group *g, queued *evs)
{
    c->rejected = 0;
    c->undo = g->n > 1;
    size_t done = 0;
    int rc = 0;
    for (; done < g->n; done++)
        if ((rc = apply_one(c, &g->a[done], &evs[done])) != 0)
            break;
    drop_events(evs, rc != 0 ? done : 0);
    int brc = rc != 0 && c->rejected && c->undo ? undo_rollback(c) : 0;
    if (brc != 0) {
        c->rejected = 0; /* the rollback failed: the whole transaction goes */
        rc = backend_err(c->e, brc, "roll back a rejected write");
    }
    undo_clear(c->log);
    return rc;
}

static int apply_groups(swarm__store *s, uint64_t index, swarm__store_group *g, size_t n_groups, int take,
                        swarm__err *e)
{
    for (size_t i = 0; i < n_groups; i++)
        if (g[i].rc == 0) {
            g[i].err.code = 0;
            g[i].err.message[0] = '\0';
        }
    if (index <= s->index)
        return 0; /* already applied: a replay */
    size_t total = 0;
    for (size_t i = 0; i < n_groups; i++) {
        if (g[i].rc == 0 && g[i].a == NULL && g[i].n > 0)
            return swarm__err_set(e, SWARM_EINVALID, "store: no actions given");
        total += g[i].rc == 0 ? g[i].n : 0;
    }
    if (s->n_snaps > 0)
        return swarm__err_set(e, SWARM_EBUSY, "store: cannot write while a read snapshot is open");
    queued *evs = total ? calloc(total, sizeof *evs) : NULL;
    if (total && evs == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    undo_log log = {NULL, 0, 0};
    apply_ctx c = {s, NULL, index, 0, e, &log, 0, take};
    int rc = s->b->begin(s->b, 1, &c.t);
    if (rc != 0) {
        free(evs);
        return backend_err(e, rc, "begin a write");
    }
    size_t kept = 0; /* events of the groups applied so far */
    for (size_t i = 0; rc == 0 && i < n_groups; i++) {
        if (g[i].rc != 0)
            continue; /* rejected by the caller already */
        c.e = &g[i].err;
        rc = group_apply(&c, &g[i], evs + kept);
        if (rc == 0) {
            kept += g[i].n;
        } else if (c.rejected) {
            g[i].rc = rc; /* a rejected group leaves nothing behind; its neighbours are kept */
            rc = 0;
        } else {
            swarm__err_set(e, rc, "%s", g[i].err.message); /* the backend failed: the whole batch */
        }
    }
    c.e = e;
    if (rc == 0 && (rc = write_index(s, c.t, index, e)) == 0) {
        if ((rc = s->b->commit(c.t)) != 0)
            rc = backend_err(e, rc, "commit");
        c.t = NULL;
    }
    if (c.t != NULL)
        s->b->abort(c.t);
    free(log.r);
    if (rc != 0) {
        drop_events(evs, kept);
        free(evs);
        return rc; /* nothing changed, a retry may work */
    }
    s->index = index;
    if (kept > 0 && has_live_watch(s) && enqueue(s, evs, kept) == 0) {
        free(evs);
        if (s->q_len - s->q_head == kept && !s->delivering && s->notify != NULL)
            s->notify(s->notify_payload); /* the queue was empty */
        return 0;
    }
    /* No watcher, or the events could not be queued (the write is durable; watchers must resync). */
    drop_events(evs, kept);
    free(evs);
    return 0;
}

int swarm__store_apply_groups(swarm__store *s, uint64_t index, swarm__store_group *g, size_t n_groups,
                              swarm__err *e)
{
    return apply_groups(s, index, g, n_groups, 0, e);
}

int swarm__store_apply_groups_take(swarm__store *s, uint64_t index, swarm__store_group *g, size_t n_groups,
                                   swarm__err *e)
{
    return apply_groups(s, index, g, n_groups, 1, e);
}

int swarm__store_apply(swarm__store *s, uint64_t index, const swarm__action *a, size_t n, swarm__err *e)
{
    swarm__store_group g = {a, n, 0, {0, ""}};
    int rc = apply_groups(s, index, &g, 1, 0, e);
    if (rc == 0 && g.rc != 0) {
        rc = g.rc;
        if (e != NULL)
            *e = g.err;
    }
    return rc;
}

/* ---------------------------------------------------------------- reads */

int swarm__snap_begin(swarm__store *s, swarm__snap **out, swarm__err *e)
{
    swarm__snap *v = malloc(sizeof *v);
    if (v == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    if (s->n_snaps == 0) {
        int rc = s->b->begin(s->b, 0, &s->read_txn);
        if (rc != 0) {
            s->read_txn = NULL;
            free(v);
            return backend_err(e, rc, "begin a read");
        }
    }
    s->n_snaps++;
    v->s = s;
    *out = v;
    return 0;
}

void swarm__snap_end(swarm__snap *v)
{
    if (v == NULL)
        return;
    swarm__store *s = v->s;
    if (--s->n_snaps == 0) {
        s->b->abort(s->read_txn);
        s->read_txn = NULL;
    }
    free(v);
}

static json_t *snap_fetch(swarm__snap *v, swarm__kind k, const char *id, size_t id_len, swarm__err *e)
{
    const void *val;
    size_t len;
    swarm__store *s = v->s;
    int rc = s->b->get(s->read_txn, swarm__kind_name(k), id, id_len, &val, &len);
    if (rc == SWARM_ENOTFOUND) {
        swarm__err_set(e, rc, "%s %.*s not found", swarm__kind_name(k), (int)id_len, id);
        return NULL;
    }
    if (rc != 0) {
        backend_err(e, rc, "read");
        return NULL;
    }
    json_t *obj = parse_stored(val, len);
    if (obj == NULL)
        swarm__err_set(e, SWARM_EBACKEND, "store: %s %.*s is corrupt", swarm__kind_name(k), (int)id_len, id);
    return obj;
}

static json_t *raise_null(const swarm__err *e)
{
    swarm__err_raise(e);
    return NULL;
}

json_t *swarm__snap_get(swarm__snap *v, swarm__kind k, const char *id)
{
    swarm__err e = {0, ""};
    if ((unsigned)k >= SWARM__KIND_COUNT || id == NULL || id[0] == '\0') {
        swarm__err_set(&e, SWARM_EINVALID, "store: bad kind or ID");
        return raise_null(&e);
    }
    json_t *obj = snap_fetch(v, k, id, strlen(id), &e);
    return obj ? obj : raise_null(&e);
}

static json_t *by_name(swarm__snap *v, swarm__kind k, const char *name, swarm__err *e)
{
    char table[32], key[FIELD_MAX + 1];
    const void *val;
    size_t len;
    if (!has_name_index(k) || name == NULL || name[0] == '\0' || strlen(name) > FIELD_MAX) {
        swarm__err_set(e, SWARM_ENOTFOUND, "%s %s not found", swarm__kind_name(k), name ? name : "");
        return NULL;
    }
    name_table(table, sizeof table, k);
    fold_name(key, name);
    int rc = v->s->b->get(v->s->read_txn, table, key, strlen(key), &val, &len);
    if (rc != 0) {
        if (rc == SWARM_ENOTFOUND)
            swarm__err_set(e, rc, "%s %s not found", swarm__kind_name(k), name);
        else
            backend_err(e, rc, "read");
        return NULL;
    }
    char id[FIELD_MAX + 1];
    if (len == 0 || len > FIELD_MAX) {
        swarm__err_set(e, SWARM_EBACKEND, "store: the name index of %s is corrupt", swarm__kind_name(k));
        return NULL;
    }
    memcpy(id, val, len);
    return snap_fetch(v, k, id, len, e);
}

json_t *swarm__snap_get_by_name(swarm__snap *v, swarm__kind k, const char *name)
{
    swarm__err e = {0, ""};
    if ((unsigned)k >= SWARM__KIND_COUNT) {
        swarm__err_set(&e, SWARM_EINVALID, "store: bad kind");
        return raise_null(&e);
    }
    json_t *obj = by_name(v, k, name, &e);
    return obj ? obj : raise_null(&e);
}

typedef struct prefix_scan {
    size_t matches;
    char first[FIELD_MAX + 1];
    size_t first_len;
} prefix_scan;

static int count_prefix(const void *key, size_t key_len, const void *value, size_t value_len, void *payload)
{
    (void)value;
    (void)value_len;
    prefix_scan *p = payload;
    if (p->matches++ == 0 && key_len <= FIELD_MAX) {
        memcpy(p->first, key, key_len);
        p->first_len = key_len;
    }
    return 0;
}

int swarm__snap_lookup(swarm__snap *v, swarm__kind k, const char *ref, json_t **out, swarm__err *e)
{
    if ((unsigned)k >= SWARM__KIND_COUNT || out == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "store: bad lookup");
    const char *kind = swarm__kind_name(k);
    *out = NULL;
    if (ref == NULL || ref[0] == '\0' || strlen(ref) > FIELD_MAX)
        return swarm__err_set(e, SWARM_ENOTFOUND, "%s %s not found", kind, ref ? ref : "");
    swarm__err tmp;
    json_t *obj = snap_fetch(v, k, ref, strlen(ref), &tmp);
    if (obj == NULL && tmp.code != SWARM_ENOTFOUND)
        return swarm__err_set(e, tmp.code, "%s", tmp.message);
    if (obj == NULL && has_name_index(k)) {
        obj = by_name(v, k, ref, &tmp);
        if (obj == NULL && tmp.code != SWARM_ENOTFOUND)
            return swarm__err_set(e, tmp.code, "%s", tmp.message);
    }
    if (obj == NULL) {
        prefix_scan p = {0, "", 0};
        int rc = v->s->b->scan(v->s->read_txn, kind, ref, strlen(ref), count_prefix, &p);
        if (rc != 0)
            return backend_err(e, rc, "scan");
        if (p.matches > 1)
            return swarm__err_set(e, SWARM_EINVALID, "%s %s is ambiguous (%zu matches found)", kind, ref, p.matches);
        if (p.matches == 0)
            return swarm__err_set(e, SWARM_ENOTFOUND, "%s %s not found", kind, ref);
        obj = snap_fetch(v, k, p.first, p.first_len, &tmp);
        if (obj == NULL)
            return swarm__err_set(e, tmp.code, "%s", tmp.message);
    }
    *out = obj;
    return 0;
}

typedef struct list_scan {
    json_t *array;
    char **ids; /* for index scans: IDs to fetch afterwards */
    size_t n_ids, cap_ids;
    int rc;
} list_scan;

static int collect_object(const void *key, size_t key_len, const void *value, size_t value_len, void *payload)
{
    (void)key;
    (void)key_len;
    list_scan *l = payload;
    json_t *obj = parse_stored(value, value_len);
    if (obj == NULL) {
        l->rc = SWARM_EBACKEND;
        return 1;
    }
    if (json_array_append_new(l->array, obj) != 0) {
        l->rc = SWARM_ENOMEM;
        return 1;
    }
    return 0;
}

static int collect_id(const void *key, size_t key_len, const void *value, size_t value_len, void *payload)
{
    (void)value;
    (void)value_len;
    list_scan *l = payload;
    const char *nul = memchr(key, '\0', key_len);
    if (nul == NULL)
        return 0;
    size_t off = (size_t)(nul - (const char *)key) + 1;
    if (l->n_ids == l->cap_ids) {
        size_t cap = l->cap_ids ? l->cap_ids * 2 : 16;
        char **grown = realloc(l->ids, cap * sizeof *grown);
        if (grown == NULL) {
            l->rc = SWARM_ENOMEM;
            return 1;
        }
        l->ids = grown;
        l->cap_ids = cap;
    }
    char *id = strndup((const char *)key + off, key_len - off);
    if (id == NULL) {
        l->rc = SWARM_ENOMEM;
        return 1;
    }
    l->ids[l->n_ids++] = id;
    return 0;
}

int swarm__snap_list(swarm__snap *v, swarm__kind k, const char *index, const char *value, json_t **out,
                     swarm__err *e)
{
    if ((unsigned)k >= SWARM__KIND_COUNT || out == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "store: bad list");
    swarm__store *s = v->s;
    list_scan l = {json_array(), NULL, 0, 0, 0};
    if (l.array == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    int rc;
    if (index == NULL) {
        rc = s->b->scan(s->read_txn, swarm__kind_name(k), NULL, 0, collect_object, &l);
    } else {
        int which = -1;
        for (int i = 0; i < 3; i++)
            if (strcmp(index, task_index_names[i]) == 0)
                which = i;
        if (k != SWARM__KIND_TASK || which < 0 || value == NULL) {
            json_decref(l.array);
            return swarm__err_set(e, SWARM_EINVALID, "store: no index \"%s\" on %s", index, swarm__kind_name(k));
        }
        if (value[0] == '\0' || strlen(value) > FIELD_MAX) {
            *out = l.array; /* such values are never indexed */
            return 0;
        }
        char prefix[FIELD_MAX + 2];
        size_t plen = strlen(value) + 1;
        memcpy(prefix, value, plen); /* includes the NUL separator */
        rc = s->b->scan(s->read_txn, task_index_tables[which], prefix, plen, collect_id, &l);
        for (size_t i = 0; rc == 0 && l.rc == 0 && i < l.n_ids; i++) {
            swarm__err tmp;
            json_t *obj = snap_fetch(v, k, l.ids[i], strlen(l.ids[i]), &tmp);
            if (obj == NULL && tmp.code != SWARM_ENOTFOUND)
                rc = swarm__err_set(e, tmp.code, "%s", tmp.message);
            else if (obj != NULL && json_array_append_new(l.array, obj) != 0)
                l.rc = SWARM_ENOMEM;
        }
        for (size_t i = 0; i < l.n_ids; i++)
            free(l.ids[i]);
        free(l.ids);
        if (rc != 0) {
            json_decref(l.array);
            return rc;
        }
    }
    if (rc != 0) {
        json_decref(l.array);
        return backend_err(e, rc, "scan");
    }
    if (l.rc != 0) {
        json_decref(l.array);
        return swarm__err_set(e, l.rc, l.rc == SWARM_ENOMEM ? "out of memory" : "store: a stored %s is corrupt",
                              swarm__kind_name(k));
    }
    *out = l.array;
    return 0;
}

/* ---------------------------------------------------------------- watches */

int swarm__store_watch(swarm__store *s, unsigned kinds_mask, swarm__watch_cb cb, void *payload,
                       swarm__watch **out)
{
    if (cb == NULL)
        return swarm__error_set(SWARM_EINVALID, "store: watch callback is NULL");
    swarm__watch *w = calloc(1, sizeof *w);
    if (w == NULL)
        return swarm__error_nomem();
    w->mask = kinds_mask;
    w->cb = cb;
    w->payload = payload;
    w->from_index = s->index;
    swarm__watch **p = &s->watches;
    while (*p != NULL)
        p = &(*p)->next;
    *p = w;
    if (out != NULL)
        *out = w;
    return 0;
}

static void unlink_watch(swarm__store *s, swarm__watch *w)
{
    for (swarm__watch **p = &s->watches; *p != NULL; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            free(w);
            return;
        }
}

void swarm__store_unwatch(swarm__store *s, swarm__watch *w)
{
    if (w == NULL)
        return;
    if (s->delivering) {
        w->dead = 1; /* the delivery loop may be standing on it */
        s->dead_watches = 1;
        return;
    }
    unlink_watch(s, w);
}

void swarm__store_set_notify(swarm__store *s, void (*notify)(void *payload), void *payload)
{
    s->notify = notify;
    s->notify_payload = payload;
}

void swarm__store_deliver(swarm__store *s)
{
    if (s->delivering)
        return; /* called from a callback: the running loop carries on */
    s->delivering = 1;
    while (s->q_head < s->q_len) {
        queued q = s->queue[s->q_head++]; /* a copy: callbacks may grow the queue */
        swarm__event ev = {q.op, q.kind, q.index, q.object, q.old};
        for (swarm__watch *w = s->watches; w != NULL; w = w->next) {
            if (w->dead || q.index <= w->from_index)
                continue;
            if (w->mask != 0 && !(w->mask & (1u << q.kind)))
                continue;
            w->cb(&ev, w->payload);
        }
        json_decref(q.object);
        json_decref(q.old);
        if (s->q_head == s->q_len)
            s->q_head = s->q_len = 0;
    }
    s->delivering = 0;
    if (s->dead_watches) {
        s->dead_watches = 0;
        swarm__watch **p = &s->watches;
        while (*p != NULL) {
            swarm__watch *w = *p;
            if (w->dead) {
                *p = w->next;
                free(w);
            } else {
                p = &w->next;
            }
        }
    }
}

/* ---------------------------------------------------------------- whole-store dump / restore */

#define DUMP_MAGIC "SWST"
#define DUMP_VERSION 1u
#define DUMP_TABLES_MAX (2 * SWARM__KIND_COUNT + 3)

/* Every table the engine writes, except "meta". */
static size_t dump_tables(char names[DUMP_TABLES_MAX][32])
{
    size_t n = 0;
    for (int k = 0; k < SWARM__KIND_COUNT; k++) {
        snprintf(names[n++], 32, "%s", swarm__kind_name((swarm__kind)k));
        if (has_name_index((swarm__kind)k))
            name_table(names[n++], 32, (swarm__kind)k);
    }
    for (int i = 0; i < 3; i++)
        snprintf(names[n++], 32, "%s", task_index_tables[i]);
    return n;
}

typedef struct dump_buf {
    char *data;
    size_t len, cap;
    int failed;
    const char *table;
} dump_buf;

static void dump_put(dump_buf *d, const void *p, size_t n)
{
    if (d->failed)
        return;
    if (d->len + n > d->cap) {
        size_t cap = d->cap ? d->cap : 4096;
        while (cap < d->len + n)
            cap *= 2;
        char *grown = realloc(d->data, cap);
        if (grown == NULL) {
            d->failed = 1;
            return;
        }
        d->data = grown;
        d->cap = cap;
    }
    memcpy(d->data + d->len, p, n);
    d->len += n;
}

static void dump_u32(dump_buf *d, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    dump_put(d, b, 4);
}

static void dump_u64(dump_buf *d, uint64_t v)
{
    dump_u32(d, (uint32_t)v);
    dump_u32(d, (uint32_t)(v >> 32));
}

static int dump_record(const void *key, size_t key_len, const void *value, size_t value_len, void *payload)
{
    dump_buf *d = payload;
    size_t tl = strlen(d->table);
    dump_u32(d, (uint32_t)tl);
    dump_put(d, d->table, tl);
    dump_u32(d, (uint32_t)key_len);
    dump_put(d, key, key_len);
    dump_u32(d, (uint32_t)value_len);
    dump_put(d, value, value_len);
    return d->failed;
}

int swarm__store_dump(swarm__store *s, char **out, size_t *len, swarm__err *e)
{
    if (s->n_snaps > 0)
        return swarm__err_set(e, SWARM_EBUSY, "store: cannot dump while a read snapshot is open");
    char names[DUMP_TABLES_MAX][32];
    size_t n = dump_tables(names);
    dump_buf d = {NULL, 0, 0, 0, NULL};
    dump_put(&d, DUMP_MAGIC, 4);
    dump_u32(&d, DUMP_VERSION);
    dump_u64(&d, s->index);
    swarm_store_txn *t;
    int rc = s->b->begin(s->b, 0, &t);
    if (rc != 0) {
        free(d.data);
        return backend_err(e, rc, "begin a read");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        d.table = names[i];
        rc = s->b->scan(t, names[i], NULL, 0, dump_record, &d);
    }
    s->b->abort(t);
    if (rc == 0 && d.failed)
        rc = swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    else if (rc != 0)
        rc = backend_err(e, rc, "dump");
    if (rc != 0) {
        free(d.data);
        return rc;
    }
    *out = d.data;
    *len = d.len;
    return 0;
}

typedef struct dump_reader {
    const unsigned char *p;
    size_t left;
} dump_reader;

static int read_u32(dump_reader *r, uint32_t *v)
{
    if (r->left < 4)
        return -1;
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    r->left -= 4;
    return 0;
}

static int read_chunk(dump_reader *r, const unsigned char **p, uint32_t *n)
{
    if (read_u32(r, n) != 0 || r->left < *n)
        return -1;
    *p = r->p;
    r->p += *n;
    r->left -= *n;
    return 0;
}

typedef struct key_list {
    char **keys;
    size_t *lens;
    size_t n, cap;
    int failed;
} key_list;

static int collect_key(const void *key, size_t key_len, const void *value, size_t value_len, void *payload)
{
    (void)value;
    (void)value_len;
    key_list *l = payload;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **k = realloc(l->keys, cap * sizeof *k);
        if (k != NULL)
            l->keys = k;
        size_t *ln = realloc(l->lens, cap * sizeof *ln);
        if (ln != NULL)
            l->lens = ln;
        if (k == NULL || ln == NULL)
            return l->failed = 1;
        l->cap = cap;
    }
    char *copy = malloc(key_len ? key_len : 1);
    if (copy == NULL)
        return l->failed = 1;
    memcpy(copy, key, key_len);
    l->keys[l->n] = copy;
    l->lens[l->n++] = key_len;
    return 0;
}

static void free_keys(key_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->keys[i]);
    free(l->keys);
    free(l->lens);
}

int swarm__store_restore(swarm__store *s, const void *buf, size_t len, uint64_t index, swarm__err *e)
{
    if (s->n_snaps > 0)
        return swarm__err_set(e, SWARM_EBUSY, "store: cannot restore while a read snapshot is open");
    char names[DUMP_TABLES_MAX][32];
    size_t n = dump_tables(names);
    dump_reader r = {buf, len};
    uint32_t version, lo, hi;
    if (len < 4 || memcmp(buf, DUMP_MAGIC, 4) != 0)
        return swarm__err_set(e, SWARM_EINVALID, "store: not a store dump");
    r.p += 4;
    r.left -= 4;
    if (read_u32(&r, &version) != 0 || version != DUMP_VERSION || read_u32(&r, &lo) != 0 || read_u32(&r, &hi) != 0)
        return swarm__err_set(e, SWARM_EINVALID, "store: unsupported store dump");
    if (index == 0)
        index = (uint64_t)hi << 32 | lo;
    /* Check the records before touching anything. */
    for (dump_reader c = r; c.left > 0;) {
        const unsigned char *p;
        uint32_t tl, kl, vl;
        if (read_chunk(&c, &p, &tl) != 0 || tl == 0 || tl >= 32 || read_chunk(&c, &p, &kl) != 0 ||
            read_chunk(&c, &p, &vl) != 0)
            return swarm__err_set(e, SWARM_EINVALID, "store: malformed store dump");
    }
    swarm_store_txn *t;
    int rc = s->b->begin(s->b, 1, &t);
    if (rc != 0)
        return backend_err(e, rc, "begin a write");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        key_list l = {NULL, NULL, 0, 0, 0};
        rc = s->b->scan(t, names[i], NULL, 0, collect_key, &l);
        if (rc == 0 && l.failed)
            rc = SWARM_ENOMEM;
        for (size_t k = 0; rc == 0 && k < l.n; k++)
            rc = s->b->del(t, names[i], l.keys[k], l.lens[k]);
        free_keys(&l);
    }
    while (rc == 0 && r.left > 0) {
        const unsigned char *tp, *kp, *vp;
        uint32_t tl, kl, vl;
        char table[32];
        read_chunk(&r, &tp, &tl);
        read_chunk(&r, &kp, &kl);
        read_chunk(&r, &vp, &vl);
        memcpy(table, tp, tl);
        table[tl] = '\0';
        rc = s->b->put(t, table, kp, kl, vp, vl);
    }
    if (rc == 0)
        rc = write_index(s, t, index, e);
    else
        rc = backend_err(e, rc, "restore");
    if (rc != 0) {
        s->b->abort(t);
        return rc;
    }
    if ((rc = s->b->commit(t)) != 0)
        return backend_err(e, rc, "commit");
    drop_queue(s);
    s->index = index;
    return 0;
}

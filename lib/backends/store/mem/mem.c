/*
 * The "memory" store backend: per-table sorted arrays of key/value byte
 * strings. A write transaction changes the tables in place and keeps an undo
 * log, so abort rolls back and reads see the transaction's own writes.
 */
#include "core/error.h"
#include "swarm/sys/store.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
    unsigned char *value;
    size_t value_len;
    size_t key_len;
    unsigned char key[]; /* inline: one pointer less to chase while searching */
} entry;

typedef struct table {
    char *name;
    entry **entries; /* sorted by key (memcmp, then length); pointers keep inserts' memmove small */
    size_t n, cap;
} table;

/*
 * One undo record. Entries are never copied: a deleted entry moves into the
 * log, so that abort (newest record first) puts back the very same entry and
 * every older record still finds its entry by pointer.
 */
typedef enum undo_kind { UNDO_INSERTED, UNDO_REPLACED, UNDO_DELETED } undo_kind;

typedef struct undo {
    undo_kind kind;
    table *t;
    entry *en;
    unsigned char *old_value; /* UNDO_REPLACED: the value before (owned) */
    size_t old_value_len;
} undo;
typedef struct mem_backend {
    struct swarm_store_backend base;
    table **tables;
    size_t n_tables;
    int in_txn;
} mem_backend;

struct swarm_store_txn {
    mem_backend *b;
    int write;
    undo *log;
    size_t n_log, cap_log;
};

static int key_cmp(const void *a, size_t a_len, const void *b, size_t b_len)
{
    size_t n = a_len < b_len ? a_len : b_len;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return a_len < b_len ? -1 : a_len > b_len ? 1 : 0;
}

/* Index of the first entry >= key; *found set if equal. */
static size_t lower_bound(const table *t, const void *key, size_t key_len, int *found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(t->entries[mid]->key, t->entries[mid]->key_len, key, key_len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < t->n && key_cmp(t->entries[lo]->key, t->entries[lo]->key_len, key, key_len) == 0;
    return lo;
}

static table *find_table(mem_backend *b, const char *name)
{
    for (size_t i = 0; i < b->n_tables; i++)
        if (strcmp(b->tables[i]->name, name) == 0)
            return b->tables[i];
    return NULL;
}

static table *make_table(mem_backend *b, const char *name)
{
    table *t = find_table(b, name);
    if (t != NULL)
        return t;
    table **grown = realloc(b->tables, (b->n_tables + 1) * sizeof *grown);
    if (grown == NULL)
        return NULL;
    b->tables = grown;
    t = calloc(1, sizeof *t);
    if (t == NULL || (t->name = strdup(name)) == NULL) {
        free(t);
        return NULL;
    }
    b->tables[b->n_tables++] = t;
    return t;
}

static unsigned char *dup_bytes(const void *p, size_t n)
{
    unsigned char *d = malloc(n ? n : 1);
    if (d != NULL && n)
        memcpy(d, p, n);
    return d;
}

/* Makes room for one more record, so that pushing it cannot fail after the change. */
static int reserve_undo(swarm_store_txn *t)
{
    if (t->n_log < t->cap_log)
        return 0;
    size_t cap = t->cap_log ? t->cap_log * 2 : 16;
    undo *grown = realloc(t->log, cap * sizeof *grown);
    if (grown == NULL)
        return swarm__error_nomem();
    t->log = grown;
    t->cap_log = cap;
    return 0;
}

static void push_undo(swarm_store_txn *t, undo_kind kind, table *tb, entry *en, unsigned char *old_value,
                      size_t old_value_len)
{
    t->log[t->n_log++] = (undo){kind, tb, en, old_value, old_value_len};
}

static int mem_begin(struct swarm_store_backend *base, int write, swarm_store_txn **out)
{
    mem_backend *b = (mem_backend *)base;
    if (b->in_txn)
        return swarm__error_set(SWARM_EBUSY, "memory store: a transaction is already open");
    swarm_store_txn *t = calloc(1, sizeof *t);
    if (t == NULL)
        return swarm__error_nomem();
    t->b = b;
    t->write = write != 0;
    b->in_txn = 1;
    *out = t;
    return 0;
}

static int mem_get(swarm_store_txn *t, const char *tname, const void *key, size_t key_len, const void **value,
                   size_t *value_len)
{
    table *tb = find_table(t->b, tname);
    int found = 0;
    size_t i = tb ? lower_bound(tb, key, key_len, &found) : 0;
    if (!found)
        return SWARM_ENOTFOUND;
    *value = tb->entries[i]->value;
    *value_len = tb->entries[i]->value_len;
    return 0;
}

static int mem_put(swarm_store_txn *t, const char *tname, const void *key, size_t key_len, const void *value,
                   size_t value_len)
{
    if (!t->write)
        return swarm__error_set(SWARM_EINVALID, "memory store: put in a read transaction");
    table *tb = make_table(t->b, tname);
    if (tb == NULL || reserve_undo(t) != 0)
        return swarm__error_nomem();
    unsigned char *v = dup_bytes(value, value_len);
    if (v == NULL)
        return swarm__error_nomem();
    int found;
    size_t i = lower_bound(tb, key, key_len, &found);
    if (found) {
        entry *en = tb->entries[i];
        push_undo(t, UNDO_REPLACED, tb, en, en->value, en->value_len);
        en->value = v;
        en->value_len = value_len;
        return 0;
    }
    if (tb->n == tb->cap) {
        size_t cap = tb->cap ? tb->cap * 2 : 16;
        entry **grown = realloc(tb->entries, cap * sizeof *grown);
        if (grown == NULL) {
            free(v);
            return swarm__error_nomem();
        }
        tb->entries = grown;
        tb->cap = cap;
    }
    entry *en = malloc(sizeof *en + key_len);
    if (en == NULL) {
        free(v);
        return swarm__error_nomem();
    }
    en->value = v;
    en->value_len = value_len;
    en->key_len = key_len;
    if (key_len)
        memcpy(en->key, key, key_len);
    memmove(&tb->entries[i + 1], &tb->entries[i], (tb->n - i) * sizeof *tb->entries);
    tb->entries[i] = en;
    tb->n++;
    push_undo(t, UNDO_INSERTED, tb, en, NULL, 0);
    return 0;
}

/* Takes the entry at i out of the array (the caller owns it then). */
static entry *take_at(table *tb, size_t i)
{
    entry *en = tb->entries[i];
    memmove(&tb->entries[i], &tb->entries[i + 1], (tb->n - i - 1) * sizeof *tb->entries);
    tb->n--;
    return en;
}

static void free_entry(entry *en)
{
    if (en != NULL) {
        free(en->value);
        free(en);
    }
}

static int mem_del(swarm_store_txn *t, const char *tname, const void *key, size_t key_len)
{
    if (!t->write)
        return swarm__error_set(SWARM_EINVALID, "memory store: delete in a read transaction");
    table *tb = find_table(t->b, tname);
    int found = 0;
    size_t i = tb ? lower_bound(tb, key, key_len, &found) : 0;
    if (!found)
        return SWARM_ENOTFOUND;
    if (reserve_undo(t) != 0)
        return swarm__error_nomem();
    push_undo(t, UNDO_DELETED, tb, take_at(tb, i), NULL, 0);
    return 0;
}

static int mem_scan(swarm_store_txn *t, const char *tname, const void *prefix, size_t prefix_len,
                    swarm_store_scan_cb cb, void *payload)
{
    table *tb = find_table(t->b, tname);
    if (tb == NULL)
        return 0;
    int found;
    size_t i = prefix_len ? lower_bound(tb, prefix, prefix_len, &found) : 0;
    for (; i < tb->n; i++) {
        entry *en = tb->entries[i];
        if (en->key_len < prefix_len || (prefix_len && memcmp(en->key, prefix, prefix_len) != 0))
            break;
        if (cb(en->key, en->key_len, en->value, en->value_len, payload) != 0)
            break;
    }
    return 0;
}

static int mem_commit(swarm_store_txn *t)
{
    for (size_t i = 0; i < t->n_log; i++) {
        if (t->log[i].kind == UNDO_DELETED)
            free_entry(t->log[i].en);
        free(t->log[i].old_value);
    }
    t->b->in_txn = 0;
    free(t->log);
    free(t);
    return 0;
}

static void mem_abort(swarm_store_txn *t)
{
    /* Newest first: each record then meets the table exactly as its change left it. */
    for (size_t j = t->n_log; j-- > 0;) {
        undo *u = &t->log[j];
        entry *en = u->en;
        int found;
        size_t i = lower_bound(u->t, en->key, en->key_len, &found);
        switch (u->kind) {
        case UNDO_INSERTED:
            free_entry(take_at(u->t, i));
            break;
        case UNDO_REPLACED:
            free(en->value);
            en->value = u->old_value;
            en->value_len = u->old_value_len;
            break;
        case UNDO_DELETED:
            /* Capacity cannot be short: the entry was in the array before. */
            memmove(&u->t->entries[i + 1], &u->t->entries[i], (u->t->n - i) * sizeof *u->t->entries);
            u->t->entries[i] = en;
            u->t->n++;
            break;
        }
    }
    t->b->in_txn = 0;
    free(t->log);
    free(t);
}

static void mem_free(struct swarm_store_backend *base)
{
    mem_backend *b = (mem_backend *)base;
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n_tables; i++) {
        table *tb = b->tables[i];
        for (size_t j = 0; j < tb->n; j++)
            free_entry(tb->entries[j]);
        free(tb->entries);
        free(tb->name);
        free(tb);
    }
    free(b->tables);
    free(b);
}

int swarm_store_memory_new(struct swarm_store_backend **out)
{
    if (out == NULL)
        return swarm__error_set(SWARM_EINVALID, "swarm_store_memory_new: out is NULL");
    mem_backend *b = calloc(1, sizeof *b);
    if (b == NULL)
        return swarm__error_nomem();
    b->base.version = SWARM_STORE_BACKEND_VERSION;
    b->base.name = "memory";
    b->base.begin = mem_begin;
    b->base.get = mem_get;
    b->base.put = mem_put;
    b->base.del = mem_del;
    b->base.scan = mem_scan;
    b->base.commit = mem_commit;
    b->base.abort = mem_abort;
    b->base.free = mem_free;
    *out = &b->base;
    return 0;
}

/*
 * The "lmdb" store backend: one LMDB environment in <state dir>/store, one
 * named database per table, every commit fsynced.
 */
#include "core/error.h"
#include "swarm/sys/store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAP_SIZE ((size_t)8 << 30) /* sparse: only written pages take disk */
#define MAX_TABLES 64
#define TABLE_NAME_MAX 63

typedef struct dbi_slot {
    char name[TABLE_NAME_MAX + 1];
    MDB_dbi dbi;
} dbi_slot;

typedef struct lmdb_backend {
    struct swarm_store_backend base;
    MDB_env *env;
    char *path;   /* <dir>/store */
    int lock_fd;  /* flock'ed, keeps other processes out */
    dev_t dev;    /* identity of the directory in the process-wide set */
    ino_t ino;
    dbi_slot dbis[MAX_TABLES]; /* handles usable by any transaction */
    size_t n_dbis;
    int in_txn;
} lmdb_backend;

struct swarm_store_txn {
    lmdb_backend *b;
    MDB_txn *txn;
    int write;
    /* Handles opened by this transaction: LMDB makes them shared only once it commits. */
    dbi_slot pending[MAX_TABLES];
    size_t n_pending;
};

/* ---------------------------------------------------------------- process-wide set of open dirs */

typedef struct open_dir {
    dev_t dev;
    ino_t ino;
    struct open_dir *next;
} open_dir;

static pthread_mutex_t open_dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static open_dir *open_dirs;

static int claim_dir(dev_t dev, ino_t ino)
{
    int rc = 0;
    pthread_mutex_lock(&open_dirs_lock);
    for (open_dir *d = open_dirs; d != NULL; d = d->next)
        if (d->dev == dev && d->ino == ino)
            rc = SWARM_EBUSY;
    if (rc == 0) {
        open_dir *d = malloc(sizeof *d);
        if (d == NULL) {
            rc = SWARM_ENOMEM;
        } else {
            d->dev = dev;
            d->ino = ino;
            d->next = open_dirs;
            open_dirs = d;
        }
    }
    pthread_mutex_unlock(&open_dirs_lock);
    return rc;
}

static void release_dir(dev_t dev, ino_t ino)
{
    pthread_mutex_lock(&open_dirs_lock);
    for (open_dir **p = &open_dirs; *p != NULL; p = &(*p)->next) {
        if ((*p)->dev == dev && (*p)->ino == ino) {
            open_dir *d = *p;
            *p = d->next;
            free(d);
            break;
        }
    }
    pthread_mutex_unlock(&open_dirs_lock);
}

/* ---------------------------------------------------------------- errors */

static int lmdb_error(int rc, const char *what)
{
    if (rc == ENOMEM)
        return swarm__error_nomem();
    /* Positive codes are errno values from the OS; negative ones are LMDB's own. */
    return swarm__error_set(rc > 0 ? SWARM_EIO : SWARM_EBACKEND, "lmdb: %s: %s", what, mdb_strerror(rc));
}

/* ---------------------------------------------------------------- tables */

static int valid_table(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n > 0 && n <= TABLE_NAME_MAX;
}

/*
 * Finds the handle of a table. With create == 0 a table that does not exist
 * yet gives SWARM_ENOTFOUND (it reads as empty).
 */
static int table_dbi(swarm_store_txn *t, const char *name, int create, MDB_dbi *out)
{
    if (!valid_table(name))
        return swarm__error_set(SWARM_EINVALID, "lmdb: bad table name");
    lmdb_backend *b = t->b;
    for (size_t i = 0; i < b->n_dbis; i++)
        if (strcmp(b->dbis[i].name, name) == 0) {
            *out = b->dbis[i].dbi;
            return 0;
        }
    for (size_t i = 0; i < t->n_pending; i++)
        if (strcmp(t->pending[i].name, name) == 0) {
            *out = t->pending[i].dbi;
            return 0;
        }
    if (b->n_dbis + t->n_pending >= MAX_TABLES)
        return swarm__error_set(SWARM_EBACKEND, "lmdb: too many tables (max %d)", MAX_TABLES);
    MDB_dbi dbi;
    int rc = mdb_dbi_open(t->txn, name, create ? MDB_CREATE : 0, &dbi);
    if (rc == MDB_NOTFOUND)
        return SWARM_ENOTFOUND;
    if (rc != 0)
        return lmdb_error(rc, "open table");
    snprintf(t->pending[t->n_pending].name, sizeof t->pending[0].name, "%s", name);
    t->pending[t->n_pending++].dbi = dbi;
    *out = dbi;
    return 0;
}

static void keep_pending(swarm_store_txn *t)
{
    lmdb_backend *b = t->b;
    for (size_t i = 0; i < t->n_pending && b->n_dbis < MAX_TABLES; i++)
        b->dbis[b->n_dbis++] = t->pending[i];
    t->n_pending = 0;
}

/* ---------------------------------------------------------------- methods */

static int lm_begin(struct swarm_store_backend *base, int write, swarm_store_txn **out)
{
    lmdb_backend *b = (lmdb_backend *)base;
    if (b->in_txn)
        return swarm__error_set(SWARM_EBUSY, "lmdb: a transaction is already open");
    swarm_store_txn *t = calloc(1, sizeof *t);
    if (t == NULL)
        return swarm__error_nomem();
    int rc = mdb_txn_begin(b->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    if (rc != 0) {
        free(t);
        return lmdb_error(rc, "begin transaction");
    }
    t->b = b;
    t->write = write != 0;
    b->in_txn = 1;
    *out = t;
    return 0;
}

static int lm_get(swarm_store_txn *t, const char *table, const void *key, size_t key_len, const void **value,
                  size_t *value_len)
{
    MDB_dbi dbi;
    int rc = table_dbi(t, table, 0, &dbi);
    if (rc != 0)
        return rc;
    if (key_len == 0 || key_len > (size_t)mdb_env_get_maxkeysize(t->b->env))
        return SWARM_ENOTFOUND; /* such a key cannot have been stored */
    MDB_val k = {key_len, (void *)key}, v;
    rc = mdb_get(t->txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return SWARM_ENOTFOUND;
    if (rc != 0)
        return lmdb_error(rc, "get");
    *value = v.mv_data;
    *value_len = v.mv_size;
    return 0;
}

static int lm_put(swarm_store_txn *t, const char *table, const void *key, size_t key_len, const void *value,
                  size_t value_len)
{
    if (!t->write)
        return swarm__error_set(SWARM_EINVALID, "lmdb: put in a read transaction");
    if (key_len == 0 || key_len > (size_t)mdb_env_get_maxkeysize(t->b->env))
        return swarm__error_set(SWARM_EINVALID, "lmdb: key length %zu out of range (1..%d)", key_len,
                                mdb_env_get_maxkeysize(t->b->env));
    MDB_dbi dbi;
    int rc = table_dbi(t, table, 1, &dbi);
    if (rc != 0)
        return rc;
    MDB_val k = {key_len, (void *)key}, v = {value_len, (void *)value};
    rc = mdb_put(t->txn, dbi, &k, &v, 0);
    return rc == 0 ? 0 : lmdb_error(rc, "put");
}

static int lm_del(swarm_store_txn *t, const char *table, const void *key, size_t key_len)
{
    if (!t->write)
        return swarm__error_set(SWARM_EINVALID, "lmdb: delete in a read transaction");
    MDB_dbi dbi;
    int rc = table_dbi(t, table, 0, &dbi);
    if (rc != 0)
        return rc;
    if (key_len == 0 || key_len > (size_t)mdb_env_get_maxkeysize(t->b->env))
        return SWARM_ENOTFOUND;
    MDB_val k = {key_len, (void *)key};
    rc = mdb_del(t->txn, dbi, &k, NULL);
    if (rc == MDB_NOTFOUND)
        return SWARM_ENOTFOUND;
    return rc == 0 ? 0 : lmdb_error(rc, "delete");
}

static int lm_scan(swarm_store_txn *t, const char *table, const void *prefix, size_t prefix_len,
                   swarm_store_scan_cb cb, void *payload)
{
    MDB_dbi dbi;
    int rc = table_dbi(t, table, 0, &dbi);
    if (rc == SWARM_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    MDB_cursor *c;
    rc = mdb_cursor_open(t->txn, dbi, &c);
    if (rc != 0)
        return lmdb_error(rc, "open cursor");
    MDB_val k = {prefix_len, (void *)prefix}, v;
    rc = mdb_cursor_get(c, &k, &v, prefix_len ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0) {
        if (k.mv_size < prefix_len || (prefix_len && memcmp(k.mv_data, prefix, prefix_len) != 0))
            break;
        if (cb(k.mv_data, k.mv_size, v.mv_data, v.mv_size, payload) != 0)
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lmdb_error(rc, "scan");
    return 0;
}

static int lm_commit(swarm_store_txn *t)
{
    int rc = mdb_txn_commit(t->txn);
    if (rc == 0)
        keep_pending(t);
    t->b->in_txn = 0;
    free(t);
    return rc == 0 ? 0 : lmdb_error(rc, "commit");
}

static void lm_abort(swarm_store_txn *t)
{
    if (!t->write && mdb_txn_commit(t->txn) == 0) {
        /* Committing a read transaction changes nothing but keeps the handles it opened. */
        keep_pending(t);
    } else if (t->write) {
        mdb_txn_abort(t->txn);
    }
    t->b->in_txn = 0;
    free(t);
}

static void lm_free(struct swarm_store_backend *base)
{
    lmdb_backend *b = (lmdb_backend *)base;
    if (b == NULL)
        return;
    if (b->env != NULL)
        mdb_env_close(b->env);
    if (b->lock_fd >= 0)
        close(b->lock_fd); /* drops the flock */
    release_dir(b->dev, b->ino);
    free(b->path);
    free(b);
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return swarm__error_set(SWARM_EIO, "cannot create %s: %s", path, strerror(errno));
    struct stat st;
    if (stat(path, &st) != 0)
        return swarm__error_set(SWARM_EIO, "cannot stat %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return swarm__error_set(SWARM_EIO, "%s is not a directory", path);
    return 0;
}

int swarm_store_lmdb_new(struct swarm_store_backend **out, const char *dir)
{
    if (out == NULL || dir == NULL || dir[0] == '\0')
        return swarm__error_set(SWARM_EINVALID, "lmdb store: a state directory is required");
    int rc = make_dir(dir);
    if (rc != 0)
        return rc;
    lmdb_backend *b = calloc(1, sizeof *b);
    if (b == NULL)
        return swarm__error_nomem();
    b->lock_fd = -1;
    if (asprintf(&b->path, "%s/store", dir) < 0) {
        b->path = NULL;
        free(b);
        return swarm__error_nomem();
    }
    if ((rc = make_dir(b->path)) != 0) {
        free(b->path);
        free(b);
        return rc;
    }
    struct stat st;
    if (stat(b->path, &st) != 0) {
        rc = swarm__error_set(SWARM_EIO, "cannot stat %s: %s", b->path, strerror(errno));
        free(b->path);
        free(b);
        return rc;
    }
    rc = claim_dir(st.st_dev, st.st_ino);
    if (rc != 0) {
        free(b->path);
        free(b);
        return rc == SWARM_EBUSY ? swarm__error_set(rc, "state dir %s is already open in this process", dir)
                                 : swarm__error_nomem();
    }
    b->dev = st.st_dev;
    b->ino = st.st_ino;

    char *lock_path = NULL;
    if (asprintf(&lock_path, "%s/swarm.lock", b->path) < 0) {
        lm_free(&b->base);
        return swarm__error_nomem();
    }
    b->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(lock_path);
    if (b->lock_fd < 0) {
        rc = swarm__error_set(SWARM_EIO, "cannot open the lock file in %s: %s", b->path, strerror(errno));
        lm_free(&b->base);
        return rc;
    }
    if (flock(b->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        rc = busy ? swarm__error_set(SWARM_EBUSY, "state dir %s is in use by another process", dir)
                  : swarm__error_set(SWARM_EIO, "cannot lock %s: %s", b->path, strerror(errno));
        lm_free(&b->base);
        return rc;
    }

    if ((rc = mdb_env_create(&b->env)) != 0) {
        b->env = NULL;
        rc = lmdb_error(rc, "create environment");
        lm_free(&b->base);
        return rc;
    }
    if ((rc = mdb_env_set_mapsize(b->env, MAP_SIZE)) != 0 || (rc = mdb_env_set_maxdbs(b->env, MAX_TABLES)) != 0 ||
        (rc = mdb_env_open(b->env, b->path, 0, 0600)) != 0) {
        rc = lmdb_error(rc, "open environment");
        lm_free(&b->base);
        return rc;
    }
    int dead;
    mdb_reader_check(b->env, &dead); /* slots of killed processes */

    b->base.version = SWARM_STORE_BACKEND_VERSION;
    b->base.name = "lmdb";
    b->base.begin = lm_begin;
    b->base.get = lm_get;
    b->base.put = lm_put;
    b->base.del = lm_del;
    b->base.scan = lm_scan;
    b->base.commit = lm_commit;
    b->base.abort = lm_abort;
    b->base.free = lm_free;
    *out = &b->base;
    return 0;
}

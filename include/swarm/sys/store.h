/*
 * libswarm — store backends (for backend authors).
 *
 * The store engine keeps every object of a node (cluster, nodes, services,
 * tasks, networks, secrets, configs) and its indexes in a backend: an ordered
 * key/value store with named tables and atomic transactions. libswarm ships
 * "lmdb" (durable, the default) and "memory" (volatile, for tests and
 * simulations). An embedding program may register its own.
 *
 * Threading: a backend instance is used by one node's loop thread only; it
 * never sees two transactions at once. Backends never call the public API.
 */
#ifndef SWARM_SYS_STORE_H
#define SWARM_SYS_STORE_H

#include "../common.h"

SWARM_BEGIN_DECLS

#define SWARM_STORE_BACKEND_VERSION 1

/** A backend's transaction; its layout is the backend's business. */
typedef struct swarm_store_txn swarm_store_txn;

/**
 * Called by scan for each entry, in ascending byte order of keys. Pointers
 * are valid only during the call. Return 0 to continue, non-zero to stop
 * (scan then returns 0).
 */
typedef int (*swarm_store_scan_cb)(const void *key, size_t key_len,
                                   const void *value, size_t value_len, void *payload);

/**
 * The vtable. Append-only: later versions only add members at the end.
 * Table names are short NUL-terminated ASCII strings; a table that was never
 * written reads as empty. Every method returns 0 or a negative SWARM_E* code.
 */
struct swarm_store_backend {
    unsigned version; /* SWARM_STORE_BACKEND_VERSION */
    const char *name;

    /** Starts a transaction; `write` is 0 for a read snapshot, 1 for a write. */
    int (*begin)(struct swarm_store_backend *b, int write, swarm_store_txn **out);

    /**
     * Looks a key up. SWARM_ENOTFOUND if absent. *value stays valid until the
     * transaction ends or writes again.
     */
    int (*get)(swarm_store_txn *t, const char *table, const void *key, size_t key_len,
               const void **value, size_t *value_len);

    /** Inserts or replaces (write transactions only). */
    int (*put)(swarm_store_txn *t, const char *table, const void *key, size_t key_len,
               const void *value, size_t value_len);

    /** Deletes a key (write transactions only); SWARM_ENOTFOUND if absent. */
    int (*del)(swarm_store_txn *t, const char *table, const void *key, size_t key_len);

    /** Visits every key starting with `prefix` (prefix_len 0: the whole table). */
    int (*scan)(swarm_store_txn *t, const char *table, const void *prefix, size_t prefix_len,
                swarm_store_scan_cb cb, void *payload);

    /**
     * Ends a transaction, making a write durable (for a durable backend) and
     * visible before returning. Frees `t` whatever the result; on error
     * nothing of the transaction is kept.
     */
    int (*commit)(swarm_store_txn *t);

    /** Ends a transaction, discarding its writes. Frees `t`. */
    void (*abort)(swarm_store_txn *t);

    /** Closes the backend and frees it. No transaction may be open. */
    void (*free)(struct swarm_store_backend *b);
};

/**
 * Makes a backend for the node whose state lives in `state_dir` (NULL for
 * backends that keep no files). Returns 0 and *out, or a SWARM_E* code and a
 * message through swarm_error_last's setter rules (the core reports it).
 */
typedef int (*swarm_store_factory)(struct swarm_store_backend **out, const char *state_dir,
                                   void *payload);

/**
 * Registers a backend factory under `name` for the "Store" option of
 * swarm_cluster_open. Built-ins "lmdb" and "memory" are always present.
 * SWARM_EEXISTS if the name is taken, SWARM_EINVALID for a bad name.
 * Thread-safe.
 */
SWARM_API int swarm_store_register(const char *name, swarm_store_factory factory, void *payload);

/** The built-in backends, for programs that compose their own. */
SWARM_API int swarm_store_lmdb_new(struct swarm_store_backend **out, const char *dir);
SWARM_API int swarm_store_memory_new(struct swarm_store_backend **out);

SWARM_END_DECLS

#endif

/*
 * The store engine: Docker-shaped objects (jansson values) kept in a backend
 * (include/swarm/sys/store.h), with versions, unique names, secondary indexes,
 * atomic multi-action writes and watches.
 *
 * Threading: one store belongs to one node's loop thread; nothing here locks.
 *
 * Layout in the backend (tables):
 *   "<kind>"            ID -> object JSON text (compact)
 *   "<kind>.name"       name -> ID  (services, networks, secrets, configs: Spec.Name;
 *                                    nodes: none; clusters: Spec.Name)
 *   "task.service"      "<ServiceID>\0<ID>" -> ""
 *   "task.node"         "<NodeID>\0<ID>" -> ""
 *   "task.desired"      "<desired state name>\0<ID>" -> ""
 *   "meta"              "index" -> last applied index (decimal text)
 */
#ifndef SWARM_STORE_H
#define SWARM_STORE_H

#include "core/error.h"
#include "swarm/sys/store.h"

#include <jansson.h>
#include <stdint.h>

typedef enum swarm__kind {
    SWARM__KIND_CLUSTER = 0,
    SWARM__KIND_NODE,
    SWARM__KIND_SERVICE,
    SWARM__KIND_TASK,
    SWARM__KIND_NETWORK,
    SWARM__KIND_SECRET,
    SWARM__KIND_CONFIG,
    SWARM__KIND_COUNT
} swarm__kind;

const char *swarm__kind_name(swarm__kind k); /* "cluster", "node", "service", ... */
int swarm__kind_parse(swarm__kind *out, const char *name);

typedef enum swarm__op {
    SWARM__OP_CREATE = 1, /* object must not exist (ID) and its name must be free */
    SWARM__OP_UPDATE = 2, /* object must exist; if expect_version != 0 it must match */
    SWARM__OP_DELETE = 3, /* object must exist; if expect_version != 0 it must match */
    /*
     * Object must exist; if expect_version != 0 it must match. The action's
     * object holds "ID" and the top-level fields to replace (JSON null removes
     * a field); the rest of the stored object is kept. Lets components that
     * own different fields (DesiredState vs Status) write without clobbering
     * each other. Watchers see it as SWARM__OP_UPDATE.
     */
    SWARM__OP_PATCH = 4
} swarm__op;

/*
 * One store action. `object` is the whole object (with "ID"); for deletes
 * only its "ID" is read. The engine sets "Version.Index" to the write's index
 * on creates and updates; CreatedAt/UpdatedAt are the proposer's business
 * (they must be in the object, so that every replica applies the same bytes).
 */
typedef struct swarm__action {
    swarm__op op;
    swarm__kind kind;
    json_t *object;          /* owned reference */
    uint64_t expect_version; /* 0 = don't check */
} swarm__action;

void swarm__actions_free(swarm__action *a, size_t n); /* decrefs objects, frees the array */

/* Wire form of an action list (for proposals / the Raft log). */
int swarm__actions_encode(const swarm__action *a, size_t n, char **out, size_t *out_len, swarm__err *e);
int swarm__actions_decode(swarm__action **out, size_t *n, const void *buf, size_t len, swarm__err *e);

typedef struct swarm__store swarm__store;

/* Takes ownership of backend (freed by close, or on failure). */
int swarm__store_open(swarm__store **out, struct swarm_store_backend *backend, swarm__err *e);
void swarm__store_close(swarm__store *s); /* NULL allowed; no watch callbacks are called */

/* Index of the last applied write (0 for a new store). */
uint64_t swarm__store_index(const swarm__store *s);

/* Name of the store's backend ("lmdb", "memory", ...); borrowed. */
const char *swarm__store_backend_name(const swarm__store *s);

/*
 * Makes a backend by its registered name (swarm_store_register; "lmdb" and
 * "memory" are built in) for the node whose state lives in state_dir.
 * SWARM_EINVALID "unknown store backend \"X\"", or the factory's error.
 * Thread-safe.
 */
int swarm__store_backend_create(const char *name, const char *state_dir, struct swarm_store_backend **out,
                                swarm__err *e);

/* Checks a backend's version and methods: 0 or SWARM_EBACKEND. */
int swarm__store_backend_check(const struct swarm_store_backend *b, swarm__err *e);

/* 1 if a backend of that name is registered (built-ins included). Thread-safe. */
int swarm__store_backend_known(const char *name);

/*
 * Applies a write atomically at `index` (> swarm__store_index, else the call is
 * a no-op returning 0: replays are idempotent). Checks, in order for each
 * action: existence, expected version (SWARM_ECONFLICT "update out of
 * sequence"), unique name (SWARM_EEXISTS "name conflicts with an existing
 * object"), and fails the whole list on the first problem with nothing
 * written except the applied index. On success, queues watch events.
 * Returns 0, the rejection code (with e), or SWARM_EBACKEND/EIO on backend
 * failure (nothing written). It is swarm__store_apply_groups with one group.
 */
int swarm__store_apply(swarm__store *s, uint64_t index, const swarm__action *a, size_t n, swarm__err *e);

/* One independent write of a batch (swarm__store_apply_groups): its actions in, its outcome out. */
typedef struct swarm__store_group {
    const swarm__action *a;
    size_t n;
    int rc;         /* in: 0 to apply the group, else skip it (see below); out: 0 or the rejection */
    swarm__err err; /* out: the rejection's message when rc != 0 */
} swarm__store_group;

/*
 * Applies several independent writes at one index in one backend transaction
 * (one commit: the Raft FSM applies a batched entry this way). Groups apply
 * in order; each is atomic on its own and gets its own outcome, exactly as
 * swarm__store_apply would give it at that point: a rejected group leaves
 * nothing behind and does not fail its neighbours, and later groups see the
 * writes of earlier ones. Every object written gets Version.Index = index
 * and every event carries it. Returns 0 once committed (whatever the groups'
 * outcomes; the index is consumed), or a backend failure (nothing written,
 * the outcomes mean nothing: the caller may retry). index <= the store's
 * index: a replay, no-op returning 0.
 *
 * A group whose rc is not 0 on input is a write the caller rejected already
 * (say, a proposal that did not decode): it is skipped, its a/n are not
 * read, and its rc and err are left as they are. The others get rc 0 (err
 * cleared) or their rejection, replays included. So set rc = 0 on every
 * group to apply before reusing an array.
 */
int swarm__store_apply_groups(swarm__store *s, uint64_t index, swarm__store_group *g, size_t n_groups,
                              swarm__err *e);

/*
 * swarm__store_apply_groups that takes over the actions' objects: an object
 * that nobody else references (its refcount is 1: the action's reference,
 * as after swarm__actions_decode; and so is its "Version" member's, if any)
 * gets its Version.Index set in place and is kept as the event's object
 * instead of being deep-copied; others are copied as usual. After the call the caller may only drop its references
 * (swarm__actions_free); it must not read the objects.
 */
int swarm__store_apply_groups_take(swarm__store *s, uint64_t index, swarm__store_group *g, size_t n_groups,
                                   swarm__err *e);

/*
 * Engine notes (lib/store/store.c):
 * - Names are unique per kind regardless of ASCII case, as in SwarmKit's
 *   name index ("Web" conflicts with "web"); get_by_name is case-insensitive
 *   too. A missing or empty Spec.Name is not indexed. Nodes and tasks have no
 *   name index.
 * - IDs, names and the indexed task fields are limited to 240 bytes (longer
 *   ones are rejected with SWARM_EINVALID, on every backend alike).
 * - A rejected write (SWARM_EINVALID/ENOTFOUND/EEXISTS/ECONFLICT) still
 *   consumes its index; a backend failure (SWARM_EIO/EBACKEND/ENOMEM) does
 *   not, so the caller may retry it.
 * - Snapshots may nest (they share one backend read transaction). A backend
 *   sees one transaction at a time, so apply fails with SWARM_EBUSY while any
 *   snapshot is open: end snapshots before returning to the loop.
 * - swarm__snap_get/get_by_name report errors through swarm_error_last().
 */

/* ---------------------------------------------------------------- reads */

typedef struct swarm__snap swarm__snap; /* a read snapshot */

int swarm__snap_begin(swarm__store *s, swarm__snap **out, swarm__err *e);
void swarm__snap_end(swarm__snap *v); /* NULL allowed */

/* New reference to the object with this exact ID, or NULL (not found / error in e). */
json_t *swarm__snap_get(swarm__snap *v, swarm__kind k, const char *id);

/* By exact name (kinds with a name index). NULL if none. */
json_t *swarm__snap_get_by_name(swarm__snap *v, swarm__kind k, const char *name);

/*
 * Resolves a user reference as Docker does: exact ID, then exact name, then
 * unique ID prefix. SWARM_ENOTFOUND or SWARM_EINVALID (ambiguous prefix) with
 * the message "<kind> X not found" / "<kind> X is ambiguous (N matches found)".
 */
int swarm__snap_lookup(swarm__snap *v, swarm__kind k, const char *ref, json_t **out, swarm__err *e);

/*
 * Lists objects: all of a kind (index NULL), or tasks by an index
 * ("service", "node", "desired") equal to value. *out is a JSON array (new
 * reference) in key order.
 */
int swarm__snap_list(swarm__snap *v, swarm__kind k, const char *index, const char *value, json_t **out,
                     swarm__err *e);

/* ---------------------------------------------------------------- watches */

typedef struct swarm__event {
    swarm__op op;
    swarm__kind kind;
    uint64_t index;
    const json_t *object; /* new object (for deletes: the deleted one) */
    const json_t *old;    /* previous object for updates and deletes, else NULL */
} swarm__event;

/* Must not call swarm__store_apply synchronously; may unwatch itself. */
typedef void (*swarm__watch_cb)(const swarm__event *ev, void *payload);
typedef struct swarm__watch swarm__watch;

/* kinds_mask: bit (1u << kind) per kind wanted; 0 = all. */
int swarm__store_watch(swarm__store *s, unsigned kinds_mask, swarm__watch_cb cb, void *payload,
                       swarm__watch **out);
void swarm__store_unwatch(swarm__store *s, swarm__watch *w);

/*
 * Events are queued by a successful apply and delivered, in commit order,
 * only by swarm__store_deliver (the node calls it on its loop after the
 * write's caller returned). `notify` is called from apply when the queue goes
 * from empty to non-empty, so the node can schedule delivery.
 */
void swarm__store_set_notify(swarm__store *s, void (*notify)(void *payload), void *payload);
void swarm__store_deliver(swarm__store *s);
/*
 * Watch semantics (store.c):
 * - A watch sees the writes applied after it was made (index > the store's
 *   index at swarm__store_watch), even if earlier events are still queued:
 *   a snapshot read together with the watch never gets duplicated events.
 * - deliver runs until the queue is empty: events of writes applied during
 *   delivery are delivered by the same call (and notify is not called for
 *   them). A nested deliver call from a callback returns at once.
 * - A callback may unwatch itself or any other watch; an unwatched watch gets
 *   no further events, even of the event being delivered.
 * - With no live watch, apply queues nothing. swarm__store_watch returns
 *   SWARM_EINVALID (NULL cb) or SWARM_ENOMEM through swarm_error_last();
 *   out may be NULL (the watch then lives until close).
 */

/* ---------------------------------------------------------------- whole-store dump (Raft snapshots) */

/*
 * Serialises every table of the store (objects and indexes, not "meta") into
 * *out (malloc'd, the caller frees it), *len bytes. The format is private to
 * this engine: "SWST" u32le version 1, u64le store index, then records
 * (u32le table length, table, u32le key length, key, u32le value length,
 * value). Fails with SWARM_EBUSY while a read snapshot is open.
 */
int swarm__store_dump(swarm__store *s, char **out, size_t *len, swarm__err *e);

/*
 * Replaces the whole content of the store with a dump, in one write
 * transaction, and sets the applied index to `index` (0: the index recorded
 * in the dump). Queued watch events are dropped and none are made: watchers
 * must resync after a restore. SWARM_EINVALID for a malformed dump (nothing
 * changed), SWARM_EBUSY while a read snapshot is open, or a backend error.
 */
int swarm__store_restore(swarm__store *s, const void *buf, size_t len, uint64_t index, swarm__err *e);

#endif

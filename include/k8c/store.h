/*
 * store.h - the storage interface of the apiserver (the only user of it).
 *
 * A key-value store with one global, dense, strictly increasing revision: every
 * successful create/update/delete gets the next revision, which becomes the
 * object's resourceVersion. Backends: SQLite (embedded default) and etcd v3.
 * Both must pass the same conformance suite (tests/integration/storage).
 *
 * Errors (k8c_error_reason): K8C_ENOTFOUND, K8C_EALREADYEXISTS, K8C_ECONFLICT
 * (the current object is returned through ret_kv), K8C_EEXPIRED (revision
 * compacted; HTTP 410), K8C_ETOOLARGERV (revision in the future), K8C_EUNAVAILABLE
 * (backend unreachable), K8C_EINTERNAL.
 */
#ifndef K8C_STORE_H
#define K8C_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k8c/error.h"

struct k8c_kv {
        char *key;
        char *value; /* NUL-terminated copy of the value bytes (value_len excludes the NUL) */
        size_t value_len;
        int64_t create_revision;
        int64_t mod_revision;
        int64_t version; /* number of writes since creation, 1 after create */
};

struct k8c_kv_list {
        struct k8c_kv *items;
        size_t n;
        int64_t revision; /* the revision the list was read at */
        bool more;        /* a limit cut the list; continue with start_after = last key */
};

struct k8c_list_opts {
        int64_t revision;        /* 0 = current; else exactly this (compacted → K8C_EEXPIRED) */
        size_t limit;            /* 0 = no limit */
        const char *start_after; /* continue: only keys > this (NULL = from the prefix start) */
};

typedef enum {
        K8C_STORE_CREATE = 1,
        K8C_STORE_UPDATE,
        K8C_STORE_DELETE,
} k8c_store_event_type_t;

struct k8c_store_event {
        k8c_store_event_type_t type;
        int64_t revision;   /* revision of this change */
        struct k8c_kv kv;   /* new value; for DELETE: key, the last value, mod_revision = revision */
        struct k8c_kv prev; /* previous value (key NULL for CREATE) */
};

struct k8c_store;
struct k8c_store_watch;

/* The end of an asynchronous write: called exactly once, on the backend's writer thread, with the
 * write's result; kv (the stored key/value and revisions when rc >= 0) and err are valid only
 * during the call. It must not block or call back into the store. */
typedef void (*k8c_store_done_fn)(void *arg, int rc, const struct k8c_kv *kv, k8c_error_t *err);

struct k8c_store_ops {
        const char *name;
        int (*get)(struct k8c_store *s, const char *key, struct k8c_kv *ret_kv, k8c_error_t *err);
        int (*list)(struct k8c_store *s, const char *prefix, const struct k8c_list_opts *opts,
                    struct k8c_kv_list *ret_list, k8c_error_t *err);
        /* Fails with K8C_EALREADYEXISTS when the key exists. ret_kv (optional) gets the stored kv. */
        int (*create)(struct k8c_store *s, const char *key, const char *value, size_t len,
                      struct k8c_kv *ret_kv, k8c_error_t *err);
        /* Optional (NULL when the backend has no writer queue): create without waiting. Returns 0
         * once queued (done is then called later, with key and value still valid until then) or
         * <0 (done is never called). */
        int (*create_async)(struct k8c_store *s, const char *key, const char *value, size_t len,
                            k8c_store_done_fn done, void *arg, k8c_error_t *err);
        /* expected_mod_revision 0 = unconditional; the key must exist (else K8C_ENOTFOUND).
         * On K8C_ECONFLICT ret_kv (optional) receives the current kv. */
        int (*update)(struct k8c_store *s, const char *key, const char *value, size_t len,
                      int64_t expected_mod_revision, struct k8c_kv *ret_kv, k8c_error_t *err);
        /* ret_kv (optional) receives the deleted kv (with mod_revision = the delete's revision),
         * or the current kv on K8C_ECONFLICT. */
        int (*delete)(struct k8c_store *s, const char *key, int64_t expected_mod_revision,
                      struct k8c_kv *ret_kv, k8c_error_t *err);
        /* Delivers every change under prefix with revision > from_revision, in revision order.
         * from_revision 0 = only changes after the current revision. A from_revision below the
         * compacted revision fails with K8C_EEXPIRED (at open or from watch_next). */
        int (*watch)(struct k8c_store *s, const char *prefix, int64_t from_revision,
                     struct k8c_store_watch **ret_watch, k8c_error_t *err);
        /* 1 = *ret_ev filled (free with k8c_store_event_free), 0 = timeout, <0 = error
         * (the watch is then finished; close it). timeout_ms < 0 waits forever. */
        int (*watch_next)(struct k8c_store_watch *w, int timeout_ms, struct k8c_store_event **ret_ev,
                          k8c_error_t *err);
        void (*watch_close)(struct k8c_store_watch *w);
        /* Drops history at or below revision; later reads/watches below it get K8C_EEXPIRED. */
        int (*compact)(struct k8c_store *s, int64_t revision, k8c_error_t *err);
        int (*current_revision)(struct k8c_store *s, int64_t *ret_rev, k8c_error_t *err);
        /* The compacted revision (0 if never compacted). */
        int (*compacted_revision)(struct k8c_store *s, int64_t *ret_rev, k8c_error_t *err);
        void (*close)(struct k8c_store *s);
};

/* Every backend's handle starts with this. */
struct k8c_store {
        const struct k8c_store_ops *ops;
};

struct k8c_store_watch {
        struct k8c_store *store;
};

struct k8c_store_config {
        const char *backend;      /* "sqlite" (default) or "etcd" */
        const char *data_dir;     /* sqlite: directory of the database (created 0700) */
        const char *etcd_servers; /* etcd: comma-separated http://host:port endpoints */
        const char *etcd_prefix;  /* etcd: key prefix for isolation (default "/registry") */
        /* sqlite tunables (0 = default); tests shrink them to force ring rotation etc. */
        size_t sqlite_ring_size;     /* recent events kept in memory for watchers (4096; 16 KiB/slot) */
        size_t sqlite_compact_batch; /* revisions examined per compaction transaction (1000) */
        size_t sqlite_read_conns;    /* read-only connections in the pool (4) */
        /* etcd tunables (0 = default). */
        size_t etcd_watch_queue; /* events buffered per watch before its stream is paused (10000) */
};

int k8c_store_open(const struct k8c_store_config *cfg, struct k8c_store **ret, k8c_error_t *err);

void k8c_kv_free(struct k8c_kv *kv);                   /* frees the members, not kv itself */
void k8c_kv_list_free(struct k8c_kv_list *l);          /* frees the items and members */
void k8c_store_event_free(struct k8c_store_event *ev); /* frees members and ev */

static inline int k8c_store_get(struct k8c_store *s, const char *key, struct k8c_kv *ret_kv, k8c_error_t *err)
{
        return s->ops->get(s, key, ret_kv, err);
}
static inline int k8c_store_list(struct k8c_store *s, const char *prefix, const struct k8c_list_opts *opts,
                                 struct k8c_kv_list *ret_list, k8c_error_t *err)
{
        return s->ops->list(s, prefix, opts, ret_list, err);
}
static inline int k8c_store_create(struct k8c_store *s, const char *key, const char *value, size_t len,
                                   struct k8c_kv *ret_kv, k8c_error_t *err)
{
        return s->ops->create(s, key, value, len, ret_kv, err);
}
static inline bool k8c_store_can_create_async(struct k8c_store *s)
{
        return s->ops->create_async != NULL;
}
static inline int k8c_store_create_async(struct k8c_store *s, const char *key, const char *value, size_t len,
                                         k8c_store_done_fn done, void *arg, k8c_error_t *err)
{
        return s->ops->create_async(s, key, value, len, done, arg, err);
}
static inline int k8c_store_update(struct k8c_store *s, const char *key, const char *value, size_t len,
                                   int64_t expected, struct k8c_kv *ret_kv, k8c_error_t *err)
{
        return s->ops->update(s, key, value, len, expected, ret_kv, err);
}
static inline int k8c_store_delete(struct k8c_store *s, const char *key, int64_t expected,
                                   struct k8c_kv *ret_kv, k8c_error_t *err)
{
        return s->ops->delete (s, key, expected, ret_kv, err);
}
static inline int k8c_store_watch(struct k8c_store *s, const char *prefix, int64_t from,
                                  struct k8c_store_watch **ret_watch, k8c_error_t *err)
{
        return s->ops->watch(s, prefix, from, ret_watch, err);
}
static inline int k8c_store_watch_next(struct k8c_store_watch *w, int timeout_ms,
                                       struct k8c_store_event **ret_ev, k8c_error_t *err)
{
        return w->store->ops->watch_next(w, timeout_ms, ret_ev, err);
}
static inline void k8c_store_watch_close(struct k8c_store_watch *w)
{
        if (w != NULL)
                w->store->ops->watch_close(w);
}
static inline int k8c_store_compact(struct k8c_store *s, int64_t rev, k8c_error_t *err)
{
        return s->ops->compact(s, rev, err);
}
static inline int k8c_store_current_revision(struct k8c_store *s, int64_t *ret_rev, k8c_error_t *err)
{
        return s->ops->current_revision(s, ret_rev, err);
}
static inline void k8c_store_close(struct k8c_store *s)
{
        if (s != NULL)
                s->ops->close(s);
}

/* Backends (src/apiserver/storage/{sqlite,etcd}.c). */
int k8c_store_sqlite_open(const struct k8c_store_config *cfg, struct k8c_store **ret, k8c_error_t *err);
int k8c_store_etcd_open(const struct k8c_store_config *cfg, struct k8c_store **ret, k8c_error_t *err);

#endif

/*
 * informer.c - list+watch into a local cache with indexes (client-go's
 * reflector, thread-safe store and shared informer in one).
 *
 * One thread per informer: list (paged), then watch from the list's
 * resourceVersion; 410 Expired or a broken stream → wait, relist, and emit the
 * differences. The store maps key → immutable json_t (refcounted); indexes map
 * index value → set of keys. Handlers are called without the lock held.
 */
#include "k8c/informer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/strmap.h"

#define MAX_INDEXES 8

struct index {
        char *name;
        k8c_index_fn fn;
        struct k8c_strmap values; /* value → struct k8c_strmap * (set of keys) */
};

struct k8c_informer {
        struct k8c_informer_config cfg;
        char *path, *label_selector, *field_selector;
        struct k8c_informer_handlers handlers[8];
        int nhandlers;
        struct index indexes[MAX_INDEXES];
        int nindexes;

        pthread_rwlock_t lock;
        struct k8c_strmap items; /* key → json_t * */
        char *rv;
        bool synced;
        uint64_t relists;

        pthread_mutex_t sync_lock;
        pthread_cond_t sync_cond;
        volatile bool stop;
        bool started;
        pthread_t thread;
};

char *k8c_object_key(const json_t *obj)
{
        json_t *md = json_object_get(obj, "metadata");
        const char *name = json_string_value(json_object_get(md, "name"));
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        if (name == NULL)
                return NULL;
        if (ns != NULL && ns[0] != '\0')
                return k8c_xasprintf("%s/%s", ns, name);
        return k8c_xstrdup(name);
}

static char **strv1(const char *s)
{
        if (s == NULL)
                return NULL;
        char **v = k8c_xcalloc(2, sizeof(char *));
        v[0] = k8c_xstrdup(s);
        return v;
}

char **k8c_index_by_namespace(const json_t *obj)
{
        return strv1(json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace")));
}

char **k8c_index_by_node_name(const json_t *obj)
{
        return strv1(json_string_value(json_object_get(json_object_get(obj, "spec"), "nodeName")));
}

struct k8c_informer *k8c_informer_new(const struct k8c_informer_config *cfg)
{
        struct k8c_informer *inf = k8c_xcalloc(1, sizeof(*inf));
        inf->cfg = *cfg;
        inf->path = k8c_xstrdup(cfg->path);
        inf->label_selector = cfg->label_selector != NULL ? k8c_xstrdup(cfg->label_selector) : NULL;
        inf->field_selector = cfg->field_selector != NULL ? k8c_xstrdup(cfg->field_selector) : NULL;
        if (inf->cfg.relist_backoff_ms <= 0)
                inf->cfg.relist_backoff_ms = 1000;
        pthread_rwlock_init(&inf->lock, NULL);
        pthread_mutex_init(&inf->sync_lock, NULL);
        pthread_cond_init(&inf->sync_cond, NULL);
        k8c_strmap_init(&inf->items);
        return inf;
}

void k8c_informer_add_handlers(struct k8c_informer *inf, const struct k8c_informer_handlers *h)
{
        if (inf->nhandlers < (int)K8C_ARRAY_SIZE(inf->handlers))
                inf->handlers[inf->nhandlers++] = *h;
}

void k8c_informer_add_index(struct k8c_informer *inf, const char *name, k8c_index_fn fn)
{
        if (inf->nindexes >= MAX_INDEXES)
                abort();
        struct index *ix = &inf->indexes[inf->nindexes++];
        ix->name = k8c_xstrdup(name);
        ix->fn = fn;
        k8c_strmap_init(&ix->values);
}

/* ---- store (lock held for writing) ---- */

static void index_update(struct k8c_informer *inf, const char *key, const json_t *old, const json_t *obj)
{
        for (int i = 0; i < inf->nindexes; i++) {
                struct index *ix = &inf->indexes[i];
                if (old != NULL) {
                        cleanup_strv char **vals = ix->fn(old);
                        for (char **v = vals; v != NULL && *v != NULL; v++) {
                                struct k8c_strmap *set = NULL;
                                if (k8c_strmap_get(&ix->values, *v, (void **)&set)) {
                                        k8c_strmap_del(set, key, NULL);
                                        if (k8c_strmap_len(set) == 0) {
                                                k8c_strmap_del(&ix->values, *v, NULL);
                                                k8c_strmap_clear(set);
                                                free(set);
                                        }
                                }
                        }
                }
                if (obj != NULL) {
                        cleanup_strv char **vals = ix->fn(obj);
                        for (char **v = vals; v != NULL && *v != NULL; v++) {
                                struct k8c_strmap *set = NULL;
                                if (!k8c_strmap_get(&ix->values, *v, (void **)&set)) {
                                        set = k8c_xcalloc(1, sizeof(*set));
                                        k8c_strmap_init(set);
                                        k8c_strmap_put(&ix->values, *v, set, NULL);
                                }
                                k8c_strmap_put(set, key, NULL, NULL);
                        }
                }
        }
}

/* Stores obj (takes a reference) and returns the old object (reference handed to the caller). */
static json_t *store_put(struct k8c_informer *inf, const char *key, json_t *obj)
{
        json_t *old = NULL;
        json_incref(obj);
        k8c_strmap_put(&inf->items, key, obj, (void **)&old);
        index_update(inf, key, old, obj);
        return old;
}

static json_t *store_del(struct k8c_informer *inf, const char *key)
{
        json_t *old = NULL;
        if (k8c_strmap_del(&inf->items, key, (void **)&old))
                index_update(inf, key, old, NULL);
        return old;
}

static const char *object_rv(const json_t *obj)
{
        return json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

static void set_rv(struct k8c_informer *inf, const char *rv)
{
        if (rv == NULL)
                return;
        free(inf->rv);
        inf->rv = k8c_xstrdup(rv);
}

/* ---- dispatch (no lock held) ---- */

static void notify_add(struct k8c_informer *inf, json_t *obj)
{
        for (int i = 0; i < inf->nhandlers; i++)
                if (inf->handlers[i].on_add != NULL)
                        inf->handlers[i].on_add(inf->handlers[i].opaque, obj);
}

static void notify_update(struct k8c_informer *inf, json_t *old, json_t *obj)
{
        for (int i = 0; i < inf->nhandlers; i++)
                if (inf->handlers[i].on_update != NULL)
                        inf->handlers[i].on_update(inf->handlers[i].opaque, old, obj);
}

static void notify_delete(struct k8c_informer *inf, json_t *obj)
{
        for (int i = 0; i < inf->nhandlers; i++)
                if (inf->handlers[i].on_delete != NULL)
                        inf->handlers[i].on_delete(inf->handlers[i].opaque, obj);
}

void k8c_informer_apply_event(struct k8c_informer *inf, const char *type, json_t *obj)
{
        cleanup_free char *key = k8c_object_key(obj);
        if (key == NULL)
                return;
        if (strcmp(type, "DELETED") == 0) {
                pthread_rwlock_wrlock(&inf->lock);
                json_t *old = store_del(inf, key);
                set_rv(inf, object_rv(obj));
                pthread_rwlock_unlock(&inf->lock);
                /* The handler sees the final state the server sent. */
                notify_delete(inf, obj);
                json_decref(old);
                return;
        }
        pthread_rwlock_wrlock(&inf->lock);
        json_t *old = store_put(inf, key, obj);
        set_rv(inf, object_rv(obj));
        pthread_rwlock_unlock(&inf->lock);
        if (old == NULL)
                notify_add(inf, obj);
        else
                notify_update(inf, old, obj);
        json_decref(old);
}

void k8c_informer_replace(struct k8c_informer *inf, json_t *items, const char *resource_version)
{
        struct k8c_strmap seen;
        k8c_strmap_init(&seen);
        size_t i;
        json_t *obj;
        json_array_foreach(items, i, obj)
        {
                cleanup_free char *key = k8c_object_key(obj);
                if (key == NULL)
                        continue;
                k8c_strmap_put(&seen, key, NULL, NULL);
                pthread_rwlock_wrlock(&inf->lock);
                json_t *cur = NULL;
                bool had = k8c_strmap_get(&inf->items, key, (void **)&cur);
                const char *old_rv = had ? object_rv(cur) : NULL;
                const char *new_rv = object_rv(obj);
                bool same = had && old_rv != NULL && new_rv != NULL && strcmp(old_rv, new_rv) == 0;
                json_t *old = same ? NULL : store_put(inf, key, obj);
                pthread_rwlock_unlock(&inf->lock);
                if (same)
                        continue;
                if (old == NULL)
                        notify_add(inf, obj);
                else
                        notify_update(inf, old, obj);
                json_decref(old);
        }
        /* Objects the list no longer has were deleted while we were not watching. */
        json_t *gone = json_array();
        pthread_rwlock_wrlock(&inf->lock);
        size_t it = 0;
        const char *key;
        while (k8c_strmap_next(&inf->items, &it, &key, (void **)&obj))
                if (!k8c_strmap_has(&seen, key))
                        json_array_append(gone, obj);
        json_array_foreach(gone, i, obj)
        {
                cleanup_free char *k = k8c_object_key(obj);
                json_decref(store_del(inf, k));
        }
        set_rv(inf, resource_version);
        pthread_rwlock_unlock(&inf->lock);
        json_array_foreach(gone, i, obj) notify_delete(inf, obj);
        json_decref(gone);
        k8c_strmap_clear(&seen);
}

/* ---- reflector thread ---- */

static char *with_query(struct k8c_informer *inf, const char *extra)
{
        char *q = k8c_xasprintf("%s?%s", inf->path, extra);
        if (inf->label_selector != NULL) {
                cleanup_free char *e = k8c_url_escape(inf->label_selector);
                char *n = k8c_xasprintf("%s&labelSelector=%s", q, e);
                free(q);
                q = n;
        }
        if (inf->field_selector != NULL) {
                cleanup_free char *e = k8c_url_escape(inf->field_selector);
                char *n = k8c_xasprintf("%s&fieldSelector=%s", q, e);
                free(q);
                q = n;
        }
        return q;
}

static int do_list(struct k8c_informer *inf, k8c_error_t *err)
{
        json_auto_t *all = json_array();
        cleanup_free char *rv = NULL;
        cleanup_free char *cont = NULL;
        do {
                cleanup_free char *extra = NULL;
                if (cont != NULL) {
                        cleanup_free char *e = k8c_url_escape(cont);
                        extra = k8c_xasprintf("limit=500&continue=%s", e);
                } else {
                        extra = k8c_xstrdup("limit=500");
                }
                cleanup_free char *path = with_query(inf, extra);
                json_auto_t *list = NULL;
                int r = k8c_client_get(inf->cfg.client, path, &list, err);
                if (r < 0)
                        return r;
                json_t *md = json_object_get(list, "metadata");
                free(rv);
                rv = k8c_xstrdup(json_string_value(json_object_get(md, "resourceVersion")) ?: "");
                free(cont);
                const char *c = json_string_value(json_object_get(md, "continue"));
                cont = c != NULL && c[0] != '\0' ? k8c_xstrdup(c) : NULL;
                json_t *items = json_object_get(list, "items");
                if (json_is_array(items))
                        json_array_extend(all, items);
        } while (cont != NULL && !inf->stop);
        k8c_informer_replace(inf, all, rv);
        pthread_mutex_lock(&inf->sync_lock);
        inf->synced = true;
        inf->relists++;
        pthread_cond_broadcast(&inf->sync_cond);
        pthread_mutex_unlock(&inf->sync_lock);
        return 0;
}

struct watch_state {
        struct k8c_informer *inf;
        bool expired;
};

static int on_watch_event(void *opaque, const char *type, json_t *object)
{
        struct watch_state *ws = opaque;
        struct k8c_informer *inf = ws->inf;
        if (strcmp(type, "ERROR") == 0) {
                json_int_t code = json_integer_value(json_object_get(object, "code"));
                if (code == 410)
                        ws->expired = true;
                return 1; /* any error ends this watch; the loop relists or re-watches */
        }
        if (strcmp(type, "BOOKMARK") == 0) {
                pthread_rwlock_wrlock(&inf->lock);
                set_rv(inf, object_rv(object));
                pthread_rwlock_unlock(&inf->lock);
                return 0;
        }
        k8c_informer_apply_event(inf, type, object);
        return inf->stop ? 1 : 0;
}

static void sleep_ms_interruptible(struct k8c_informer *inf, int64_t ms)
{
        while (ms > 0 && !inf->stop) {
                int64_t s = ms > 100 ? 100 : ms;
                usleep((useconds_t)s * 1000);
                ms -= s;
        }
}

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void resync(struct k8c_informer *inf)
{
        json_auto_t *all = k8c_informer_list(inf);
        size_t i;
        json_t *obj;
        json_array_foreach(all, i, obj) notify_update(inf, obj, obj);
}

static void *reflector(void *arg)
{
        struct k8c_informer *inf = arg;
        bool need_list = true;
        int64_t next_resync = inf->cfg.resync_ms > 0 ? mono_ms() + inf->cfg.resync_ms : 0;
        while (!inf->stop) {
                cleanup_error k8c_error_t err = NULL;
                if (need_list) {
                        if (do_list(inf, &err) < 0) {
                                sleep_ms_interruptible(inf, inf->cfg.relist_backoff_ms);
                                continue;
                        }
                        need_list = false;
                }
                cleanup_free char *rv = k8c_informer_resource_version(inf);
                cleanup_free char *erv = k8c_url_escape(rv != NULL ? rv : "");
                /* Bounded watches make the resync tick and server restarts easy to handle. */
                cleanup_free char *extra = k8c_xasprintf(
                        "watch=true&allowWatchBookmarks=true&timeoutSeconds=%d&resourceVersion=%s",
                        inf->cfg.resync_ms > 0 && inf->cfg.resync_ms < 300000
                                ? (int)(inf->cfg.resync_ms / 1000) + 1
                                : 300,
                        erv);
                cleanup_free char *path = with_query(inf, extra);
                struct watch_state ws = { .inf = inf };
                int r = k8c_client_watch(inf->cfg.client, path, on_watch_event, &ws, &inf->stop, &err);
                if (inf->stop)
                        break;
                if (ws.expired || k8c_error_reason(&err) == K8C_EEXPIRED ||
                    k8c_error_reason(&err) == K8C_EGONE) {
                        need_list = true;
                } else if (r < 0) {
                        /* The server went away: relist when it is back, so deletions are not missed. */
                        need_list = true;
                        sleep_ms_interruptible(inf, inf->cfg.relist_backoff_ms);
                }
                if (next_resync != 0 && mono_ms() >= next_resync) {
                        resync(inf);
                        next_resync = mono_ms() + inf->cfg.resync_ms;
                }
        }
        return NULL;
}

int k8c_informer_start(struct k8c_informer *inf, k8c_error_t *err)
{
        if (inf->started)
                return k8c_make_error(err, K8C_EINTERNAL, "informer for %s already started", inf->path);
        if (pthread_create(&inf->thread, NULL, reflector, inf) != 0)
                return k8c_make_errno(err, errno, "start informer for %s", inf->path);
        inf->started = true;
        return 0;
}

void k8c_informer_free(struct k8c_informer *inf)
{
        if (inf == NULL)
                return;
        inf->stop = true;
        if (inf->started)
                pthread_join(inf->thread, NULL);
        size_t it = 0;
        json_t *obj;
        while (k8c_strmap_next(&inf->items, &it, NULL, (void **)&obj))
                json_decref(obj);
        k8c_strmap_clear(&inf->items);
        for (int i = 0; i < inf->nindexes; i++) {
                struct index *ix = &inf->indexes[i];
                struct k8c_strmap *set;
                it = 0;
                while (k8c_strmap_next(&ix->values, &it, NULL, (void **)&set)) {
                        k8c_strmap_clear(set);
                        free(set);
                }
                k8c_strmap_clear(&ix->values);
                free(ix->name);
        }
        free(inf->rv);
        free(inf->path);
        free(inf->label_selector);
        free(inf->field_selector);
        pthread_rwlock_destroy(&inf->lock);
        pthread_mutex_destroy(&inf->sync_lock);
        pthread_cond_destroy(&inf->sync_cond);
        free(inf);
}

bool k8c_informer_has_synced(struct k8c_informer *inf)
{
        pthread_mutex_lock(&inf->sync_lock);
        bool s = inf->synced;
        pthread_mutex_unlock(&inf->sync_lock);
        return s;
}

bool k8c_informer_wait_synced(struct k8c_informer *inf, int timeout_ms)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (int64_t)(timeout_ms % 1000) * 1000000;
        ts.tv_sec += timeout_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_mutex_lock(&inf->sync_lock);
        while (!inf->synced)
                if (pthread_cond_timedwait(&inf->sync_cond, &inf->sync_lock, &ts) != 0)
                        break;
        bool s = inf->synced;
        pthread_mutex_unlock(&inf->sync_lock);
        return s;
}

json_t *k8c_informer_get(struct k8c_informer *inf, const char *key)
{
        json_t *obj = NULL;
        pthread_rwlock_rdlock(&inf->lock);
        if (k8c_strmap_get(&inf->items, key, (void **)&obj))
                json_incref(obj);
        pthread_rwlock_unlock(&inf->lock);
        return obj;
}

json_t *k8c_informer_list(struct k8c_informer *inf)
{
        json_t *arr = json_array();
        pthread_rwlock_rdlock(&inf->lock);
        size_t it = 0;
        json_t *obj;
        while (k8c_strmap_next(&inf->items, &it, NULL, (void **)&obj))
                json_array_append(arr, obj);
        pthread_rwlock_unlock(&inf->lock);
        return arr;
}

json_t *k8c_informer_by_index(struct k8c_informer *inf, const char *index, const char *value)
{
        json_t *arr = json_array();
        pthread_rwlock_rdlock(&inf->lock);
        for (int i = 0; i < inf->nindexes; i++) {
                if (strcmp(inf->indexes[i].name, index) != 0)
                        continue;
                struct k8c_strmap *set = NULL;
                if (k8c_strmap_get(&inf->indexes[i].values, value, (void **)&set)) {
                        size_t it = 0;
                        const char *key;
                        while (k8c_strmap_next(set, &it, &key, NULL)) {
                                json_t *obj = NULL;
                                if (k8c_strmap_get(&inf->items, key, (void **)&obj))
                                        json_array_append(arr, obj);
                        }
                }
        }
        pthread_rwlock_unlock(&inf->lock);
        return arr;
}

size_t k8c_informer_len(struct k8c_informer *inf)
{
        pthread_rwlock_rdlock(&inf->lock);
        size_t n = k8c_strmap_len(&inf->items);
        pthread_rwlock_unlock(&inf->lock);
        return n;
}

char *k8c_informer_resource_version(struct k8c_informer *inf)
{
        pthread_rwlock_rdlock(&inf->lock);
        char *rv = inf->rv != NULL ? k8c_xstrdup(inf->rv) : NULL;
        pthread_rwlock_unlock(&inf->lock);
        return rv;
}

uint64_t k8c_informer_relists(struct k8c_informer *inf)
{
        pthread_mutex_lock(&inf->sync_lock);
        uint64_t n = inf->relists;
        pthread_mutex_unlock(&inf->sync_lock);
        return n;
}

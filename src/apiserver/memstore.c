/*
 * memstore.c - an in-memory implementation of store.h for tests and
 * throw-away servers (--storage-backend=memory). Nothing survives the
 * process. It keeps the current state sorted by key and the full change log
 * (revision i is log[i-1]) so watches from any revision replay exactly.
 *
 * Lists at an older revision are answered from the current state (this
 * backend does not keep MVCC snapshots); the real backends do better.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"

struct memstore {
        struct k8c_store base;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct k8c_kv *kvs; /* sorted by key */
        size_t n, cap;
        struct k8c_store_event *log; /* log[i].revision == i + 1 */
        size_t nlog, caplog;
        int64_t compacted;
};

struct memwatch {
        struct k8c_store_watch base;
        struct memstore *ms;
        char *prefix;
        int64_t next; /* next revision to deliver */
};

static void kv_copy(struct k8c_kv *dst, const struct k8c_kv *src)
{
        *dst = *src;
        dst->key = src->key != NULL ? k8c_xstrdup(src->key) : NULL;
        dst->value = src->value != NULL ? k8c_xstrndup(src->value, src->value_len) : NULL;
}

static int64_t cur_rev(struct memstore *ms)
{
        return (int64_t)ms->nlog;
}

static size_t find(struct memstore *ms, const char *key, bool *found)
{
        size_t lo = 0, hi = ms->n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(ms->kvs[mid].key, key);
                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

static void append_log(struct memstore *ms, k8c_store_event_type_t type, const struct k8c_kv *kv,
                       const struct k8c_kv *prev)
{
        if (ms->nlog == ms->caplog) {
                ms->caplog = ms->caplog ? ms->caplog * 2 : 64;
                ms->log = k8c_xrealloc(ms->log, ms->caplog * sizeof(*ms->log));
        }
        struct k8c_store_event *e = &ms->log[ms->nlog++];
        memset(e, 0, sizeof(*e));
        e->type = type;
        e->revision = (int64_t)ms->nlog;
        kv_copy(&e->kv, kv);
        if (prev != NULL)
                kv_copy(&e->prev, prev);
        pthread_cond_broadcast(&ms->cond);
}

static int m_get(struct k8c_store *s, const char *key, struct k8c_kv *ret_kv, k8c_error_t *err)
{
        struct memstore *ms = (struct memstore *)s;
        pthread_mutex_lock(&ms->lock);
        bool found;
        size_t i = find(ms, key, &found);
        if (found)
                kv_copy(ret_kv, &ms->kvs[i]);
        pthread_mutex_unlock(&ms->lock);
        if (!found)
                return k8c_make_error(err, K8C_ENOTFOUND, "key %s not found", key);
        return 0;
}

static int m_list(struct k8c_store *s, const char *prefix, const struct k8c_list_opts *opts,
                  struct k8c_kv_list *ret, k8c_error_t *err)
{
        struct memstore *ms = (struct memstore *)s;
        pthread_mutex_lock(&ms->lock);
        if (opts->revision != 0 && opts->revision <= ms->compacted) {
                pthread_mutex_unlock(&ms->lock);
                return k8c_make_error(err, K8C_EEXPIRED, "revision %lld has been compacted",
                                      (long long)opts->revision);
        }
        memset(ret, 0, sizeof(*ret));
        ret->revision = opts->revision != 0 ? opts->revision : cur_rev(ms);
        bool found;
        size_t i = find(ms, opts->start_after != NULL ? opts->start_after : prefix, &found);
        if (found && opts->start_after != NULL)
                i++;
        size_t plen = strlen(prefix);
        for (; i < ms->n && strncmp(ms->kvs[i].key, prefix, plen) == 0; i++) {
                if (opts->limit > 0 && ret->n == opts->limit) {
                        ret->more = true;
                        break;
                }
                ret->items = k8c_xrealloc(ret->items, (ret->n + 1) * sizeof(*ret->items));
                kv_copy(&ret->items[ret->n++], &ms->kvs[i]);
        }
        pthread_mutex_unlock(&ms->lock);
        return 0;
}

static int m_create(struct k8c_store *s, const char *key, const char *value, size_t len,
                    struct k8c_kv *ret_kv, k8c_error_t *err)
{
        struct memstore *ms = (struct memstore *)s;
        pthread_mutex_lock(&ms->lock);
        bool found;
        size_t i = find(ms, key, &found);
        if (found) {
                pthread_mutex_unlock(&ms->lock);
                return k8c_make_error(err, K8C_EALREADYEXISTS, "key %s already exists", key);
        }
        if (ms->n == ms->cap) {
                ms->cap = ms->cap ? ms->cap * 2 : 64;
                ms->kvs = k8c_xrealloc(ms->kvs, ms->cap * sizeof(*ms->kvs));
        }
        memmove(&ms->kvs[i + 1], &ms->kvs[i], (ms->n - i) * sizeof(*ms->kvs));
        ms->n++;
        struct k8c_kv *kv = &ms->kvs[i];
        int64_t rev = cur_rev(ms) + 1;
        *kv = (struct k8c_kv){ .key = k8c_xstrdup(key),
                               .value = k8c_xstrndup(value, len),
                               .value_len = len,
                               .create_revision = rev,
                               .mod_revision = rev,
                               .version = 1 };
        append_log(ms, K8C_STORE_CREATE, kv, NULL);
        if (ret_kv != NULL)
                kv_copy(ret_kv, kv);
        pthread_mutex_unlock(&ms->lock);
        return 0;
}

static int m_update(struct k8c_store *s, const char *key, const char *value, size_t len, int64_t expected,
                    struct k8c_kv *ret_kv, k8c_error_t *err)
{
        struct memstore *ms = (struct memstore *)s;
        pthread_mutex_lock(&ms->lock);
        bool found;
        size_t i = find(ms, key, &found);
        if (!found) {
                pthread_mutex_unlock(&ms->lock);
                return k8c_make_error(err, K8C_ENOTFOUND, "key %s not found", key);
        }
        struct k8c_kv *kv = &ms->kvs[i];
        if (expected != 0 && kv->mod_revision != expected) {
                if (ret_kv != NULL)
                        kv_copy(ret_kv, kv);
                pthread_mutex_unlock(&ms->lock);
                return k8c_make_error(err, K8C_ECONFLICT, "key %s was modified", key);
        }
        struct k8c_kv prev;
        kv_copy(&prev, kv);
        free(kv->value);
        kv->value = k8c_xstrndup(value, len);
        kv->value_len = len;
        kv->mod_revision = cur_rev(ms) + 1;
        kv->version++;
        append_log(ms, K8C_STORE_UPDATE, kv, &prev);
        k8c_kv_free(&prev);
        if (ret_kv != NULL)
                kv_copy(ret_kv, kv);
        pthread_mutex_unlock(&ms->lock);
        return 0;
}

static int m_delete(struct k8c_store *s, const char *key, int64_t expected, struct k8c_kv *ret_kv,
                    k8c_error_t *err)
{
        struct memstore *ms = (struct memstore *)s;
        pthread_mutex_lock(&ms->lock);
        bool found;
        size_t i = find(ms, key, &found);
        if (!found) {
                pthread_mutex_unlock(&ms->lock);
                return k8c_make_error(err, K8C_ENOTFOUND, "key %s not found", key);
        }
        struct k8c_kv *kv = &ms->kvs[i];
        if (expected != 0 && kv->mod_revision != expected) {
                if (ret_kv != NULL)
                        kv_copy(ret_kv, kv);
                pthread_mutex_unlock(&ms->lock);
                return k8c_make_error(err, K8C_ECONFLICT, "key %s was modified", key);
        }
        struct k8c_kv gone = *kv;
        memmove(&ms->kvs[i], &ms->kvs[i + 1], (ms->n - i - 1) * sizeof(*ms->kvs));
        ms->n--;
        struct k8c_kv prev;
        kv_copy(&prev, &gone);
        gone.mod_revision = cur_rev(ms) + 1;
        append_log(ms, K8C_STORE_DELETE, &gone, &prev);
        if (ret_kv != NULL)
                kv_copy(ret_kv, &gone);
        k8c_kv_free(&gone);
        k8c_kv_free(&prev);
        pthread_mutex_unlock(&ms->lock);
        return 0;
}

static int m_watch(struct k8c_store *s, const char *prefix, int64_t from, struct k8c_store_watch **ret,
                   k8c_error_t *err)
{
        struct memstore *ms = (struct memstore *)s;
        pthread_mutex_lock(&ms->lock);
        if (from != 0 && from < ms->compacted) {
                pthread_mutex_unlock(&ms->lock);
                return k8c_make_error(err, K8C_EEXPIRED, "revision %lld has been compacted", (long long)from);
        }
        struct memwatch *w = k8c_xcalloc(1, sizeof(*w));
        w->base.store = s;
        w->ms = ms;
        w->prefix = k8c_xstrdup(prefix);
        w->next = (from != 0 ? from : cur_rev(ms)) + 1;
        pthread_mutex_unlock(&ms->lock);
        *ret = &w->base;
        return 0;
}

static int m_watch_next(struct k8c_store_watch *sw, int timeout_ms, struct k8c_store_event **ret,
                        k8c_error_t *err)
{
        struct memwatch *w = (struct memwatch *)sw;
        struct memstore *ms = w->ms;
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000;
        }
        size_t plen = strlen(w->prefix);
        pthread_mutex_lock(&ms->lock);
        for (;;) {
                while (w->next <= cur_rev(ms)) {
                        struct k8c_store_event *e = &ms->log[w->next - 1];
                        w->next++;
                        if (strncmp(e->kv.key, w->prefix, plen) != 0)
                                continue;
                        struct k8c_store_event *c = k8c_xcalloc(1, sizeof(*c));
                        c->type = e->type;
                        c->revision = e->revision;
                        kv_copy(&c->kv, &e->kv);
                        kv_copy(&c->prev, &e->prev);
                        pthread_mutex_unlock(&ms->lock);
                        *ret = c;
                        return 1;
                }
                int r = timeout_ms < 0 ? pthread_cond_wait(&ms->cond, &ms->lock)
                                       : pthread_cond_timedwait(&ms->cond, &ms->lock, &deadline);
                if (r == ETIMEDOUT) {
                        pthread_mutex_unlock(&ms->lock);
                        return 0;
                }
        }
}

static void m_watch_close(struct k8c_store_watch *sw)
{
        struct memwatch *w = (struct memwatch *)sw;
        free(w->prefix);
        free(w);
}

static int m_compact(struct k8c_store *s, int64_t rev, k8c_error_t *err)
{
        struct memstore *ms = (struct memstore *)s;
        pthread_mutex_lock(&ms->lock);
        if (rev > ms->compacted && rev <= cur_rev(ms))
                ms->compacted = rev;
        pthread_mutex_unlock(&ms->lock);
        return 0;
}

static int m_current(struct k8c_store *s, int64_t *ret, k8c_error_t *err)
{
        struct memstore *ms = (struct memstore *)s;
        pthread_mutex_lock(&ms->lock);
        *ret = cur_rev(ms);
        pthread_mutex_unlock(&ms->lock);
        return 0;
}

static int m_compacted(struct k8c_store *s, int64_t *ret, k8c_error_t *err)
{
        struct memstore *ms = (struct memstore *)s;
        pthread_mutex_lock(&ms->lock);
        *ret = ms->compacted;
        pthread_mutex_unlock(&ms->lock);
        return 0;
}

static void m_close(struct k8c_store *s)
{
        struct memstore *ms = (struct memstore *)s;
        for (size_t i = 0; i < ms->n; i++)
                k8c_kv_free(&ms->kvs[i]);
        free(ms->kvs);
        for (size_t i = 0; i < ms->nlog; i++) {
                k8c_kv_free(&ms->log[i].kv);
                k8c_kv_free(&ms->log[i].prev);
        }
        free(ms->log);
        pthread_cond_destroy(&ms->cond);
        pthread_mutex_destroy(&ms->lock);
        free(ms);
}

static const struct k8c_store_ops memory_ops = {
        .name = "memory",
        .get = m_get,
        .list = m_list,
        .create = m_create,
        .update = m_update,
        .delete = m_delete,
        .watch = m_watch,
        .watch_next = m_watch_next,
        .watch_close = m_watch_close,
        .compact = m_compact,
        .current_revision = m_current,
        .compacted_revision = m_compacted,
        .close = m_close,
};

int k8c_store_memory_open(const struct k8c_store_config *cfg, struct k8c_store **ret, k8c_error_t *err)
{
        struct memstore *ms = k8c_xcalloc(1, sizeof(*ms));
        ms->base.ops = &memory_ops;
        pthread_mutex_init(&ms->lock, NULL);
        pthread_cond_init(&ms->cond, NULL);
        *ret = &ms->base;
        return 0;
}

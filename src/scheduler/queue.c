/*
 * queue.c - kube-scheduler's scheduling queue: active heap (priority desc,
 * then time of entry, then arrival order), backoff heap (by expiry), and the
 * unschedulable set, all holding entries of one key → entry map. A pod is in
 * exactly one place, or in flight in the scheduling loop. It must not decide
 * anything about nodes: callers tell it what happened. Each entry also holds
 * the pod's parsed view, built by the informer thread that enqueues it, so the
 * scheduling loop does not parse JSON.
 */
#include "scheduler/queue.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8c/cleanup.h"
#include "k8c/strmap.h"
#include "scheduler/framework.h"

struct entry {
        char *key;
        json_t *pod;
        struct k8c_sched_podinfo *info; /* parsed from pod */
        k8c_sched_qstate_t state;
        int attempts;
        int64_t priority;
        int64_t enqueued_ms; /* entry into the active heap */
        uint64_t seq;
        int64_t backoff_until;
        int64_t unschedulable_since;
        uint64_t move_seq_at_pop;
        bool deleted; /* deleted while in flight */
        size_t heap_index;
        char *message, *detail;
};

struct heap {
        struct entry **v;
        size_t n, cap;
        bool (*less)(const struct entry *a, const struct entry *b);
};

struct k8c_sched_queue {
        struct k8c_sched_queue_opts opts;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct k8c_strmap entries;
        struct heap active, backoff;
        size_t nunschedulable, ninflight;
        uint64_t seq, move_seq;
        int64_t last_flush_ms;
        bool shutdown;
};

static bool active_less(const struct entry *a, const struct entry *b)
{
        if (a->priority != b->priority)
                return a->priority > b->priority;
        if (a->enqueued_ms != b->enqueued_ms)
                return a->enqueued_ms < b->enqueued_ms;
        return a->seq < b->seq;
}

static bool backoff_less(const struct entry *a, const struct entry *b)
{
        if (a->backoff_until != b->backoff_until)
                return a->backoff_until < b->backoff_until;
        return a->seq < b->seq;
}

static void heap_swap(struct heap *h, size_t i, size_t j)
{
        struct entry *t = h->v[i];
        h->v[i] = h->v[j];
        h->v[j] = t;
        h->v[i]->heap_index = i;
        h->v[j]->heap_index = j;
}

static void heap_up(struct heap *h, size_t i)
{
        while (i > 0 && h->less(h->v[i], h->v[(i - 1) / 2])) {
                heap_swap(h, i, (i - 1) / 2);
                i = (i - 1) / 2;
        }
}

static void heap_down(struct heap *h, size_t i)
{
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                if (l < h->n && h->less(h->v[l], h->v[m]))
                        m = l;
                if (r < h->n && h->less(h->v[r], h->v[m]))
                        m = r;
                if (m == i)
                        return;
                heap_swap(h, i, m);
                i = m;
        }
}

static void heap_push(struct heap *h, struct entry *e)
{
        if (h->n == h->cap) {
                h->cap = h->cap ? h->cap * 2 : 64;
                h->v = k8c_xrealloc(h->v, h->cap * sizeof(*h->v));
        }
        e->heap_index = h->n;
        h->v[h->n++] = e;
        heap_up(h, e->heap_index);
}

static void heap_remove(struct heap *h, struct entry *e)
{
        size_t i = e->heap_index;
        h->n--;
        if (i != h->n) {
                h->v[i] = h->v[h->n];
                h->v[i]->heap_index = i;
                heap_down(h, i);
                heap_up(h, i);
        }
}

static int64_t default_now(void *opaque)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now(struct k8c_sched_queue *q)
{
        return q->opts.now_ms(q->opts.now_opaque);
}

struct k8c_sched_queue *k8c_sched_queue_new(const struct k8c_sched_queue_opts *opts)
{
        struct k8c_sched_queue *q = k8c_xcalloc(1, sizeof(*q));
        if (opts != NULL)
                q->opts = *opts;
        if (q->opts.initial_backoff_ms <= 0)
                q->opts.initial_backoff_ms = 1000;
        if (q->opts.max_backoff_ms <= 0)
                q->opts.max_backoff_ms = 10000;
        if (q->opts.unschedulable_flush_ms <= 0)
                q->opts.unschedulable_flush_ms = 60000;
        if (q->opts.now_ms == NULL)
                q->opts.now_ms = default_now;
        pthread_mutex_init(&q->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&q->cond, &ca);
        pthread_condattr_destroy(&ca);
        k8c_strmap_init(&q->entries);
        q->active.less = active_less;
        q->backoff.less = backoff_less;
        q->last_flush_ms = now(q);
        return q;
}

static void entry_free(struct entry *e)
{
        free(e->key);
        json_decref(e->pod);
        k8c_sched_podinfo_unref(e->info);
        free(e->message);
        free(e->detail);
        free(e);
}

void k8c_sched_queue_free(struct k8c_sched_queue *q)
{
        if (q == NULL)
                return;
        size_t it = 0;
        const char *k;
        void *v;
        while (k8c_strmap_next(&q->entries, &it, &k, &v))
                entry_free(v);
        k8c_strmap_clear(&q->entries);
        free(q->active.v);
        free(q->backoff.v);
        pthread_mutex_destroy(&q->lock);
        pthread_cond_destroy(&q->cond);
        free(q);
}

static char *pod_key(const json_t *pod)
{
        json_t *md = json_object_get(pod, "metadata");
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        const char *name = json_string_value(json_object_get(md, "name"));
        return k8c_xasprintf("%s/%s", ns != NULL ? ns : "", name != NULL ? name : "");
}

/* Leaves whatever structure holds e (not the map). */
static void detach(struct k8c_sched_queue *q, struct entry *e)
{
        switch (e->state) {
        case K8C_SCHED_Q_ACTIVE: heap_remove(&q->active, e); break;
        case K8C_SCHED_Q_BACKOFF: heap_remove(&q->backoff, e); break;
        case K8C_SCHED_Q_UNSCHEDULABLE: q->nunschedulable--; break;
        case K8C_SCHED_Q_INFLIGHT: q->ninflight--; break;
        }
}

static void to_active(struct k8c_sched_queue *q, struct entry *e)
{
        e->state = K8C_SCHED_Q_ACTIVE;
        e->enqueued_ms = now(q);
        e->seq = ++q->seq;
        heap_push(&q->active, e);
        pthread_cond_broadcast(&q->cond);
}

static void to_backoff(struct k8c_sched_queue *q, struct entry *e)
{
        e->state = K8C_SCHED_Q_BACKOFF;
        e->seq = ++q->seq;
        heap_push(&q->backoff, e);
        pthread_cond_broadcast(&q->cond);
}

/* Back from the unschedulable set: to backoff while its backoff has not expired. */
static void requeue(struct k8c_sched_queue *q, struct entry *e, int64_t t)
{
        detach(q, e);
        if (e->backoff_until > t)
                to_backoff(q, e);
        else
                to_active(q, e);
}

int64_t k8c_sched_queue_backoff_ms(const struct k8c_sched_queue *q, int attempts)
{
        int64_t d = q->opts.initial_backoff_ms;
        for (int i = 1; i < attempts && d < q->opts.max_backoff_ms; i++)
                d *= 2;
        return d > q->opts.max_backoff_ms ? q->opts.max_backoff_ms : d;
}

/* json_equal() calls two absent values different; here they are the same. */
static bool same(const json_t *a, const json_t *b)
{
        return (a == NULL && b == NULL) || json_equal(a, b);
}

void k8c_sched_queue_add_or_update(struct k8c_sched_queue *q, json_t *pod)
{
        cleanup_free char *key = pod_key(pod);
        /* Parsed outside the lock. */
        struct k8c_sched_podinfo *info = k8c_sched_podinfo_new(pod);
        pthread_mutex_lock(&q->lock);
        struct entry *e = NULL;
        if (k8c_strmap_get(&q->entries, key, (void **)&e)) {
                k8c_sched_podinfo_unref(e->info);
                e->info = info;
                json_t *old = e->pod;
                bool changed = !same(json_object_get(old, "spec"), json_object_get(pod, "spec")) ||
                               !same(json_object_get(json_object_get(old, "metadata"), "labels"),
                                     json_object_get(json_object_get(pod, "metadata"), "labels"));
                e->pod = json_incref(pod);
                e->deleted = false;
                json_decref(old);
                int64_t prio = json_integer_value(json_object_get(json_object_get(pod, "spec"), "priority"));
                if (e->state == K8C_SCHED_Q_ACTIVE && prio != e->priority) {
                        e->priority = prio;
                        heap_remove(&q->active, e);
                        heap_push(&q->active, e);
                }
                e->priority = prio;
                if (changed && e->state == K8C_SCHED_Q_UNSCHEDULABLE)
                        requeue(q, e, now(q));
                pthread_mutex_unlock(&q->lock);
                return;
        }
        e = k8c_xcalloc(1, sizeof(*e));
        e->key = k8c_steal(&key);
        e->pod = json_incref(pod);
        e->info = info;
        e->priority = json_integer_value(json_object_get(json_object_get(pod, "spec"), "priority"));
        k8c_strmap_put(&q->entries, e->key, e, NULL);
        to_active(q, e);
        pthread_mutex_unlock(&q->lock);
}

void k8c_sched_queue_delete(struct k8c_sched_queue *q, const char *key)
{
        pthread_mutex_lock(&q->lock);
        struct entry *e = NULL;
        if (k8c_strmap_get(&q->entries, key, (void **)&e)) {
                if (e->state == K8C_SCHED_Q_INFLIGHT) {
                        e->deleted = true;
                } else {
                        detach(q, e);
                        k8c_strmap_del(&q->entries, key, NULL);
                        entry_free(e);
                }
        }
        pthread_mutex_unlock(&q->lock);
}

static void flush_locked(struct k8c_sched_queue *q, int64_t t)
{
        while (q->backoff.n > 0 && q->backoff.v[0]->backoff_until <= t) {
                struct entry *e = q->backoff.v[0];
                detach(q, e);
                to_active(q, e);
        }
        if (q->nunschedulable == 0)
                return;
        size_t it = 0;
        const char *k;
        void *v;
        while (k8c_strmap_next(&q->entries, &it, &k, &v)) {
                struct entry *e = v;
                if (e->state == K8C_SCHED_Q_UNSCHEDULABLE &&
                    t - e->unschedulable_since >= q->opts.unschedulable_flush_ms)
                        requeue(q, e, t);
        }
}

void k8c_sched_queue_flush(struct k8c_sched_queue *q)
{
        pthread_mutex_lock(&q->lock);
        flush_locked(q, now(q));
        pthread_mutex_unlock(&q->lock);
}

bool k8c_sched_queue_pop(struct k8c_sched_queue *q, int timeout_ms, json_t **ret_pod, int *ret_attempts)
{
        return k8c_sched_queue_pop_info(q, timeout_ms, ret_pod, NULL, ret_attempts);
}

bool k8c_sched_queue_pop_info(struct k8c_sched_queue *q, int timeout_ms, json_t **ret_pod,
                              struct k8c_sched_podinfo **ret_info, int *ret_attempts)
{
        pthread_mutex_lock(&q->lock);
        int64_t t0 = default_now(NULL);
        for (;;) {
                if (q->shutdown)
                        break;
                int64_t t = now(q);
                flush_locked(q, t);
                if (q->active.n > 0) {
                        struct entry *e = q->active.v[0];
                        detach(q, e);
                        e->state = K8C_SCHED_Q_INFLIGHT;
                        e->move_seq_at_pop = q->move_seq;
                        q->ninflight++;
                        *ret_pod = json_incref(e->pod);
                        if (ret_info != NULL)
                                *ret_info = k8c_sched_podinfo_ref(e->info);
                        if (ret_attempts != NULL)
                                *ret_attempts = e->attempts;
                        pthread_mutex_unlock(&q->lock);
                        return true;
                }
                int64_t elapsed = default_now(NULL) - t0;
                if (timeout_ms >= 0 && elapsed >= timeout_ms)
                        break;
                /* Wake for the next backoff expiry, the periodic flush, or the caller's timeout. */
                int64_t wait = 1000;
                if (q->backoff.n > 0 && q->backoff.v[0]->backoff_until - t < wait)
                        wait = q->backoff.v[0]->backoff_until - t;
                if (timeout_ms >= 0 && timeout_ms - elapsed < wait)
                        wait = timeout_ms - elapsed;
                if (wait < 1)
                        wait = 1;
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += wait / 1000;
                ts.tv_nsec += (wait % 1000) * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&q->cond, &q->lock, &ts);
        }
        pthread_mutex_unlock(&q->lock);
        return false;
}

static struct entry *inflight(struct k8c_sched_queue *q, const char *key)
{
        struct entry *e = NULL;
        if (!k8c_strmap_get(&q->entries, key, (void **)&e) || e->state != K8C_SCHED_Q_INFLIGHT)
                return NULL;
        if (e->deleted) {
                detach(q, e);
                k8c_strmap_del(&q->entries, key, NULL);
                entry_free(e);
                return NULL;
        }
        return e;
}

void k8c_sched_queue_done(struct k8c_sched_queue *q, const char *key)
{
        pthread_mutex_lock(&q->lock);
        struct entry *e = inflight(q, key);
        if (e != NULL) {
                detach(q, e);
                k8c_strmap_del(&q->entries, key, NULL);
                entry_free(e);
        }
        pthread_mutex_unlock(&q->lock);
}

void k8c_sched_queue_failed(struct k8c_sched_queue *q, const char *key, bool unschedulable,
                            const char *message, const char *detail)
{
        pthread_mutex_lock(&q->lock);
        struct entry *e = inflight(q, key);
        if (e != NULL) {
                int64_t t = now(q);
                detach(q, e);
                e->attempts++;
                e->backoff_until = t + k8c_sched_queue_backoff_ms(q, e->attempts);
                free(e->message);
                free(e->detail);
                e->message = message != NULL ? k8c_xstrdup(message) : NULL;
                e->detail = detail != NULL ? k8c_xstrdup(detail) : NULL;
                /* A change seen during the attempt may already have made it fit: retry after backoff. */
                if (!unschedulable || e->move_seq_at_pop != q->move_seq) {
                        to_backoff(q, e);
                } else {
                        e->state = K8C_SCHED_Q_UNSCHEDULABLE;
                        e->unschedulable_since = t;
                        q->nunschedulable++;
                }
        }
        pthread_mutex_unlock(&q->lock);
}

void k8c_sched_queue_move_all(struct k8c_sched_queue *q)
{
        pthread_mutex_lock(&q->lock);
        q->move_seq++;
        int64_t t = now(q);
        size_t it = 0;
        const char *k;
        void *v;
        while (q->nunschedulable > 0 && k8c_strmap_next(&q->entries, &it, &k, &v)) {
                struct entry *e = v;
                if (e->state == K8C_SCHED_Q_UNSCHEDULABLE)
                        requeue(q, e, t);
        }
        pthread_mutex_unlock(&q->lock);
}

void k8c_sched_queue_shutdown(struct k8c_sched_queue *q)
{
        pthread_mutex_lock(&q->lock);
        q->shutdown = true;
        pthread_cond_broadcast(&q->cond);
        pthread_mutex_unlock(&q->lock);
}

void k8c_sched_queue_stats(struct k8c_sched_queue *q, struct k8c_sched_queue_stats *ret)
{
        pthread_mutex_lock(&q->lock);
        ret->active = q->active.n;
        ret->backoff = q->backoff.n;
        ret->unschedulable = q->nunschedulable;
        ret->inflight = q->ninflight;
        pthread_mutex_unlock(&q->lock);
}

bool k8c_sched_queue_state(struct k8c_sched_queue *q, const char *key, k8c_sched_qstate_t *ret_state,
                           int *ret_attempts)
{
        pthread_mutex_lock(&q->lock);
        struct entry *e = NULL;
        bool found = k8c_strmap_get(&q->entries, key, (void **)&e) && !e->deleted;
        if (found) {
                if (ret_state != NULL)
                        *ret_state = e->state;
                if (ret_attempts != NULL)
                        *ret_attempts = e->attempts;
        }
        pthread_mutex_unlock(&q->lock);
        return found;
}

static int cmp_entry_key(const void *a, const void *b)
{
        return strcmp((*(struct entry *const *)a)->key, (*(struct entry *const *)b)->key);
}

void k8c_sched_queue_visit(struct k8c_sched_queue *q, k8c_sched_queue_visit_fn fn, void *opaque)
{
        pthread_mutex_lock(&q->lock);
        size_t n = k8c_strmap_len(&q->entries), k = 0, it = 0;
        struct entry **v = k8c_xcalloc(n + 1, sizeof(*v));
        const char *key;
        void *val;
        while (k8c_strmap_next(&q->entries, &it, &key, &val))
                if (!((struct entry *)val)->deleted)
                        v[k++] = val;
        qsort(v, k, sizeof(*v), cmp_entry_key);
        for (size_t i = 0; i < k; i++)
                fn(opaque, v[i]->key, v[i]->state, v[i]->attempts, v[i]->message, v[i]->detail);
        free(v);
        pthread_mutex_unlock(&q->lock);
}

const char *k8c_sched_qstate_string(k8c_sched_qstate_t s)
{
        switch (s) {
        case K8C_SCHED_Q_ACTIVE: return "active";
        case K8C_SCHED_Q_BACKOFF: return "backoff";
        case K8C_SCHED_Q_UNSCHEDULABLE: return "unschedulable";
        case K8C_SCHED_Q_INFLIGHT: return "scheduling";
        }
        return "unknown";
}

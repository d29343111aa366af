/*
 * workqueue.c - the controllers' work queue (client-go util/workqueue
 * semantics: queue + dirty set + processing set, delaying queue, per-item
 * exponential failure back-off). One mutex guards everything; one background
 * thread moves delayed keys into the queue when they are due.
 */
#include "k8c/workqueue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8c/cleanup.h"
#include "k8c/strmap.h"

struct delayed {
        char *key;
        int64_t ready_at_ms;
};

struct k8c_workqueue {
        pthread_mutex_t lock;
        pthread_cond_t cond;       /* queue changed / shutdown / processing changed */
        pthread_cond_t delay_cond; /* delayed heap changed */
        pthread_t delay_thread;

        char **queue; /* FIFO ring */
        size_t qhead, qlen, qcap;
        struct k8c_strmap dirty;      /* keys waiting to be processed */
        struct k8c_strmap processing; /* keys handed to a worker */
        struct k8c_strmap failures;   /* key → (intptr_t) count */

        struct delayed *heap; /* min-heap by ready_at_ms */
        size_t hlen, hcap;
        struct k8c_strmap delayed_at; /* key → (intptr_t) earliest ready time, de-duplicates */

        struct k8c_workqueue_opts opts;
        bool shutting_down;
        bool drain;
};

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void deadline_ts(int64_t abs_ms, struct timespec *ts)
{
        ts->tv_sec = abs_ms / 1000;
        ts->tv_nsec = (abs_ms % 1000) * 1000000;
}

static void queue_push(struct k8c_workqueue *q, const char *key)
{
        if (q->qlen == q->qcap) {
                size_t ncap = q->qcap == 0 ? 16 : q->qcap * 2;
                char **n = k8c_xcalloc(ncap, sizeof(char *));
                for (size_t i = 0; i < q->qlen; i++)
                        n[i] = q->queue[(q->qhead + i) % q->qcap];
                free(q->queue);
                q->queue = n;
                q->qcap = ncap;
                q->qhead = 0;
        }
        q->queue[(q->qhead + q->qlen) % q->qcap] = k8c_xstrdup(key);
        q->qlen++;
}

static char *queue_pop(struct k8c_workqueue *q)
{
        char *k = q->queue[q->qhead];
        q->queue[q->qhead] = NULL;
        q->qhead = (q->qhead + 1) % q->qcap;
        q->qlen--;
        return k;
}

/* The add of client-go's Type.Add, called with the lock held. */
static void add_locked(struct k8c_workqueue *q, const char *key)
{
        if (q->shutting_down || k8c_strmap_has(&q->dirty, key))
                return;
        k8c_strmap_put(&q->dirty, key, NULL, NULL);
        if (k8c_strmap_has(&q->processing, key))
                return; /* re-queued by done() */
        queue_push(q, key);
        pthread_cond_signal(&q->cond);
}

static void heap_swap(struct delayed *a, struct delayed *b)
{
        struct delayed t = *a;
        *a = *b;
        *b = t;
}

static void heap_push(struct k8c_workqueue *q, char *key, int64_t at)
{
        if (q->hlen == q->hcap) {
                q->hcap = q->hcap == 0 ? 16 : q->hcap * 2;
                q->heap = k8c_xrealloc(q->heap, q->hcap * sizeof(*q->heap));
        }
        size_t i = q->hlen++;
        q->heap[i] = (struct delayed){ key, at };
        while (i > 0 && q->heap[(i - 1) / 2].ready_at_ms > q->heap[i].ready_at_ms) {
                heap_swap(&q->heap[(i - 1) / 2], &q->heap[i]);
                i = (i - 1) / 2;
        }
}

static struct delayed heap_pop(struct k8c_workqueue *q)
{
        struct delayed top = q->heap[0];
        q->heap[0] = q->heap[--q->hlen];
        size_t i = 0;
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                if (l < q->hlen && q->heap[l].ready_at_ms < q->heap[m].ready_at_ms)
                        m = l;
                if (r < q->hlen && q->heap[r].ready_at_ms < q->heap[m].ready_at_ms)
                        m = r;
                if (m == i)
                        break;
                heap_swap(&q->heap[i], &q->heap[m]);
                i = m;
        }
        return top;
}

static void *delay_loop(void *arg)
{
        struct k8c_workqueue *q = arg;
        pthread_mutex_lock(&q->lock);
        while (!q->shutting_down) {
                if (q->hlen == 0) {
                        pthread_cond_wait(&q->delay_cond, &q->lock);
                        continue;
                }
                int64_t now = now_ms();
                if (q->heap[0].ready_at_ms > now) {
                        struct timespec ts;
                        struct timespec rt;
                        clock_gettime(CLOCK_REALTIME, &rt);
                        int64_t abs = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000 +
                                      (q->heap[0].ready_at_ms - now);
                        deadline_ts(abs, &ts);
                        pthread_cond_timedwait(&q->delay_cond, &q->lock, &ts);
                        continue;
                }
                struct delayed d = heap_pop(q);
                void *at = NULL;
                /* Only the earliest entry for a key is live; later duplicates were dropped at insert. */
                if (k8c_strmap_get(&q->delayed_at, d.key, &at) && (int64_t)(intptr_t)at == d.ready_at_ms) {
                        k8c_strmap_del(&q->delayed_at, d.key, NULL);
                        add_locked(q, d.key);
                }
                free(d.key);
        }
        pthread_mutex_unlock(&q->lock);
        return NULL;
}

struct k8c_workqueue *k8c_workqueue_new(const struct k8c_workqueue_opts *opts)
{
        struct k8c_workqueue *q = k8c_xcalloc(1, sizeof(*q));
        pthread_mutex_init(&q->lock, NULL);
        pthread_cond_init(&q->cond, NULL);
        pthread_cond_init(&q->delay_cond, NULL);
        k8c_strmap_init(&q->dirty);
        k8c_strmap_init(&q->processing);
        k8c_strmap_init(&q->failures);
        k8c_strmap_init(&q->delayed_at);
        q->opts.base_delay_ms = 5;
        q->opts.max_delay_ms = 1000 * 1000;
        if (opts != NULL) {
                if (opts->base_delay_ms > 0)
                        q->opts.base_delay_ms = opts->base_delay_ms;
                if (opts->max_delay_ms > 0)
                        q->opts.max_delay_ms = opts->max_delay_ms;
        }
        if (pthread_create(&q->delay_thread, NULL, delay_loop, q) != 0)
                abort();
        return q;
}

void k8c_workqueue_shutdown(struct k8c_workqueue *q)
{
        pthread_mutex_lock(&q->lock);
        q->shutting_down = true;
        pthread_cond_broadcast(&q->cond);
        pthread_cond_broadcast(&q->delay_cond);
        pthread_mutex_unlock(&q->lock);
}

void k8c_workqueue_shutdown_with_drain(struct k8c_workqueue *q)
{
        pthread_mutex_lock(&q->lock);
        q->drain = true;
        q->shutting_down = true;
        pthread_cond_broadcast(&q->cond);
        pthread_cond_broadcast(&q->delay_cond);
        while (k8c_strmap_len(&q->processing) > 0)
                pthread_cond_wait(&q->cond, &q->lock);
        pthread_mutex_unlock(&q->lock);
}

bool k8c_workqueue_shutting_down(struct k8c_workqueue *q)
{
        pthread_mutex_lock(&q->lock);
        bool r = q->shutting_down;
        pthread_mutex_unlock(&q->lock);
        return r;
}

void k8c_workqueue_free(struct k8c_workqueue *q)
{
        if (q == NULL)
                return;
        k8c_workqueue_shutdown(q);
        pthread_join(q->delay_thread, NULL);
        while (q->qlen > 0)
                free(queue_pop(q));
        free(q->queue);
        for (size_t i = 0; i < q->hlen; i++)
                free(q->heap[i].key);
        free(q->heap);
        k8c_strmap_clear(&q->dirty);
        k8c_strmap_clear(&q->processing);
        k8c_strmap_clear(&q->failures);
        k8c_strmap_clear(&q->delayed_at);
        pthread_cond_destroy(&q->cond);
        pthread_cond_destroy(&q->delay_cond);
        pthread_mutex_destroy(&q->lock);
        free(q);
}

void k8c_workqueue_add(struct k8c_workqueue *q, const char *key)
{
        pthread_mutex_lock(&q->lock);
        add_locked(q, key);
        pthread_mutex_unlock(&q->lock);
}

void k8c_workqueue_add_after(struct k8c_workqueue *q, const char *key, int64_t delay_ms)
{
        pthread_mutex_lock(&q->lock);
        if (q->shutting_down) {
                pthread_mutex_unlock(&q->lock);
                return;
        }
        if (delay_ms <= 0) {
                add_locked(q, key);
                pthread_mutex_unlock(&q->lock);
                return;
        }
        int64_t at = now_ms() + delay_ms;
        void *prev = NULL;
        /* A key already waiting keeps the earlier of the two ready times (client-go does too). */
        if (k8c_strmap_get(&q->delayed_at, key, &prev) && (int64_t)(intptr_t)prev <= at) {
                pthread_mutex_unlock(&q->lock);
                return;
        }
        k8c_strmap_put(&q->delayed_at, key, (void *)(intptr_t)at, NULL);
        heap_push(q, k8c_xstrdup(key), at);
        pthread_cond_signal(&q->delay_cond);
        pthread_mutex_unlock(&q->lock);
}

void k8c_workqueue_add_rate_limited(struct k8c_workqueue *q, const char *key)
{
        pthread_mutex_lock(&q->lock);
        void *v = NULL;
        k8c_strmap_get(&q->failures, key, &v);
        intptr_t n = (intptr_t)v;
        k8c_strmap_put(&q->failures, key, (void *)(n + 1), NULL);
        pthread_mutex_unlock(&q->lock);
        int64_t delay = q->opts.base_delay_ms;
        for (intptr_t i = 0; i < n && delay < q->opts.max_delay_ms; i++)
                delay *= 2;
        if (delay > q->opts.max_delay_ms)
                delay = q->opts.max_delay_ms;
        k8c_workqueue_add_after(q, key, delay);
}

void k8c_workqueue_forget(struct k8c_workqueue *q, const char *key)
{
        pthread_mutex_lock(&q->lock);
        k8c_strmap_del(&q->failures, key, NULL);
        pthread_mutex_unlock(&q->lock);
}

int k8c_workqueue_num_requeues(struct k8c_workqueue *q, const char *key)
{
        pthread_mutex_lock(&q->lock);
        void *v = NULL;
        k8c_strmap_get(&q->failures, key, &v);
        pthread_mutex_unlock(&q->lock);
        return (int)(intptr_t)v;
}

bool k8c_workqueue_get_timeout(struct k8c_workqueue *q, int timeout_ms, char **ret_key)
{
        *ret_key = NULL;
        pthread_mutex_lock(&q->lock);
        struct timespec ts;
        if (timeout_ms >= 0) {
                struct timespec rt;
                clock_gettime(CLOCK_REALTIME, &rt);
                deadline_ts((int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000 + timeout_ms, &ts);
        }
        while (q->qlen == 0 && !q->shutting_down) {
                if (timeout_ms < 0) {
                        pthread_cond_wait(&q->cond, &q->lock);
                } else if (pthread_cond_timedwait(&q->cond, &q->lock, &ts) == ETIMEDOUT) {
                        break;
                }
        }
        if (q->qlen == 0) {
                pthread_mutex_unlock(&q->lock);
                return false;
        }
        char *key = queue_pop(q);
        k8c_strmap_put(&q->processing, key, NULL, NULL);
        k8c_strmap_del(&q->dirty, key, NULL);
        pthread_mutex_unlock(&q->lock);
        *ret_key = key;
        return true;
}

bool k8c_workqueue_get(struct k8c_workqueue *q, char **ret_key)
{
        return k8c_workqueue_get_timeout(q, -1, ret_key);
}

void k8c_workqueue_done(struct k8c_workqueue *q, const char *key)
{
        pthread_mutex_lock(&q->lock);
        k8c_strmap_del(&q->processing, key, NULL);
        if (k8c_strmap_has(&q->dirty, key)) {
                queue_push(q, key);
                pthread_cond_signal(&q->cond);
        }
        if (k8c_strmap_len(&q->processing) == 0)
                pthread_cond_broadcast(&q->cond);
        pthread_mutex_unlock(&q->lock);
}

size_t k8c_workqueue_len(struct k8c_workqueue *q)
{
        pthread_mutex_lock(&q->lock);
        size_t n = q->qlen;
        pthread_mutex_unlock(&q->lock);
        return n;
}

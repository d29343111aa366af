/*
 * queue.h - the scheduling queue (kube-scheduler's PriorityQueue): an active
 * heap ordered by spec.priority then time of entry, a backoff heap (1 s
 * doubling to 10 s per failed attempt), and an unschedulable set that moves
 * back when the cluster changes (move_all) or after a while (flush interval).
 * Thread-safe; the clock is injectable so tests need no sleeps.
 */
#ifndef K8C_SCHEDULER_QUEUE_H
#define K8C_SCHEDULER_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct k8c_sched_queue;

struct k8c_sched_queue_opts {
        int64_t initial_backoff_ms;     /* default 1000 */
        int64_t max_backoff_ms;         /* default 10000 */
        int64_t unschedulable_flush_ms; /* an unschedulable pod is retried at least this often; default 60000
                                         */
        int64_t (*now_ms)(void *opaque);
        void *now_opaque;
};

typedef enum {
        K8C_SCHED_Q_ACTIVE,
        K8C_SCHED_Q_BACKOFF,
        K8C_SCHED_Q_UNSCHEDULABLE,
        K8C_SCHED_Q_INFLIGHT,
} k8c_sched_qstate_t;

struct k8c_sched_queue *k8c_sched_queue_new(const struct k8c_sched_queue_opts *opts);
void k8c_sched_queue_free(struct k8c_sched_queue *q);

/* A pending pod appeared or changed (pod is referenced). A new pod goes to the active heap;
 * an unschedulable one whose spec or labels changed is moved back; otherwise only the object is
 * refreshed. */
void k8c_sched_queue_add_or_update(struct k8c_sched_queue *q, json_t *pod);
/* The pod is gone or was bound by someone: forget it (an in-flight attempt is dropped at its end). */
void k8c_sched_queue_delete(struct k8c_sched_queue *q, const char *key);

/* Takes the best active pod (waiting up to timeout_ms; < 0 = until shutdown). Returns true with
 * a new reference to the pod and its attempt count so far. */
bool k8c_sched_queue_pop(struct k8c_sched_queue *q, int timeout_ms, json_t **ret_pod, int *ret_attempts);
/* The same, with a new reference to the pod's parsed view too (built when it was enqueued). */
struct k8c_sched_podinfo;
bool k8c_sched_queue_pop_info(struct k8c_sched_queue *q, int timeout_ms, json_t **ret_pod,
                              struct k8c_sched_podinfo **ret_info, int *ret_attempts);

/* End of an attempt. Scheduled: the pod leaves the queue. Failed: unschedulable → the
 * unschedulable set (or backoff if the cluster changed meanwhile); error → backoff. message and
 * detail (per-node reasons) are kept for /debug/pending. */
void k8c_sched_queue_done(struct k8c_sched_queue *q, const char *key);
void k8c_sched_queue_failed(struct k8c_sched_queue *q, const char *key, bool unschedulable,
                            const char *message, const char *detail);

/* Something that may make unschedulable pods fit happened (node added/changed, pod deleted...). */
void k8c_sched_queue_move_all(struct k8c_sched_queue *q);
/* Moves expired backoffs to active and long-unschedulable pods back; pop() does it too. */
void k8c_sched_queue_flush(struct k8c_sched_queue *q);

void k8c_sched_queue_shutdown(struct k8c_sched_queue *q);

struct k8c_sched_queue_stats {
        size_t active, backoff, unschedulable, inflight;
};
void k8c_sched_queue_stats(struct k8c_sched_queue *q, struct k8c_sched_queue_stats *ret);
/* Where key is (returns false if unknown). */
bool k8c_sched_queue_state(struct k8c_sched_queue *q, const char *key, k8c_sched_qstate_t *ret_state,
                           int *ret_attempts);
/* Backoff duration after n failed attempts: initial × 2^(n-1), capped. */
int64_t k8c_sched_queue_backoff_ms(const struct k8c_sched_queue *q, int attempts);

/* For /debug/pending: calls fn for every pending pod, sorted by key. */
typedef void (*k8c_sched_queue_visit_fn)(void *opaque, const char *key, k8c_sched_qstate_t state,
                                         int attempts, const char *message, const char *detail);
void k8c_sched_queue_visit(struct k8c_sched_queue *q, k8c_sched_queue_visit_fn fn, void *opaque);

const char *k8c_sched_qstate_string(k8c_sched_qstate_t s);

#endif

/*
 * workqueue.h - client-go work queue semantics for controllers.
 *
 * A de-duplicating FIFO of string keys ("namespace/name") with a dirty set and
 * a processing set: a key is never handed to two workers at once; a key added
 * while it is being processed is queued again when the worker calls done().
 * Delayed adds, per-item exponential back-off (add_rate_limited / forget), and
 * shutdown with drain. Thread-safe.
 */
#ifndef K8C_WORKQUEUE_H
#define K8C_WORKQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct k8c_workqueue;

struct k8c_workqueue_opts {
        int64_t base_delay_ms; /* first back-off (default 5 ms, as client-go) */
        int64_t max_delay_ms;  /* back-off cap (default 1000 s, as client-go) */
};

struct k8c_workqueue *k8c_workqueue_new(const struct k8c_workqueue_opts *opts);
/* Shuts down (if not yet) and frees. No worker may still be inside get(). */
void k8c_workqueue_free(struct k8c_workqueue *q);

void k8c_workqueue_add(struct k8c_workqueue *q, const char *key);
void k8c_workqueue_add_after(struct k8c_workqueue *q, const char *key, int64_t delay_ms);
/* add_after(key, base × 2^failures(key)) capped at max; counts a failure. */
void k8c_workqueue_add_rate_limited(struct k8c_workqueue *q, const char *key);
/* Resets the failure count of key. */
void k8c_workqueue_forget(struct k8c_workqueue *q, const char *key);
int k8c_workqueue_num_requeues(struct k8c_workqueue *q, const char *key);

/* Blocks until a key is ready: returns true and the key (caller frees, then calls done()).
 * Returns false once the queue is shut down and (with drain) empty. */
bool k8c_workqueue_get(struct k8c_workqueue *q, char **ret_key);
/* Like get, but gives up after timeout_ms (returns false, *ret_key NULL) */
bool k8c_workqueue_get_timeout(struct k8c_workqueue *q, int timeout_ms, char **ret_key);
void k8c_workqueue_done(struct k8c_workqueue *q, const char *key);

size_t k8c_workqueue_len(struct k8c_workqueue *q);

/* After shutdown, adds are ignored and get() returns false once the queue is empty... */
void k8c_workqueue_shutdown(struct k8c_workqueue *q);
/* ...and this one also waits until every key being processed is done(). */
void k8c_workqueue_shutdown_with_drain(struct k8c_workqueue *q);
bool k8c_workqueue_shutting_down(struct k8c_workqueue *q);

#endif

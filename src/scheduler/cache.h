/*
 * cache.h - the scheduler's node cache: nodes and the pods counted on them,
 * fed by the informers, plus assumed pods. A pod is assumed on its node when
 * the decision is made, before the binding is even sent, so later decisions
 * already see its requests and never overcommit; the watch confirms it, a
 * failed binding forgets it. Thread-safe (one mutex); snapshots are cheap
 * (they share immutable node infos).
 */
#ifndef K8C_SCHEDULER_CACHE_H
#define K8C_SCHEDULER_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "k8c/error.h"
#include "scheduler/framework.h"

struct k8c_sched_cache;

struct k8c_sched_cache *k8c_sched_cache_new(void);
void k8c_sched_cache_free(struct k8c_sched_cache *c);

void k8c_sched_cache_upsert_node(struct k8c_sched_cache *c, json_t *node);
void k8c_sched_cache_delete_node(struct k8c_sched_cache *c, const char *name);

/* A pod with spec.nodeName: counted on that node (confirms an assumed pod). Finished pods
 * (Succeeded/Failed) and pods without a node are removed instead. */
void k8c_sched_cache_upsert_pod(struct k8c_sched_cache *c, json_t *pod);
void k8c_sched_cache_delete_pod(struct k8c_sched_cache *c, const char *key);

/* Counts pod (without nodeName) on node_name until confirmed or forgotten. K8C_ECONFLICT if the
 * pod is already in the cache. */
int k8c_sched_cache_assume(struct k8c_sched_cache *c, const json_t *pod, const char *node_name,
                           k8c_error_t *err);
/* The same with the pod's parsed view (no copy; its spec.nodeName may be empty). */
int k8c_sched_cache_assume_podinfo(struct k8c_sched_cache *c, struct k8c_sched_podinfo *pi,
                                   const char *node_name, k8c_error_t *err);
/* Drops an assumed pod (binding failed); confirmed pods are left alone. */
void k8c_sched_cache_forget(struct k8c_sched_cache *c, const char *key);
bool k8c_sched_cache_is_assumed(struct k8c_sched_cache *c, const char *key);
/* Node name the pod is counted on (caller frees), or NULL. */
char *k8c_sched_cache_pod_node(struct k8c_sched_cache *c, const char *key);

/* Nodes that have a Node object, sorted by name; services/replicasets are referenced. */
struct k8c_sched_snapshot *k8c_sched_cache_snapshot(struct k8c_sched_cache *c, json_t *services,
                                                    json_t *replicasets);
/* Brings s (from k8c_sched_cache_snapshot, owned by one caller and kept between cycles) up to
 * date: only nodes changed since its last update are replaced, unless nodes came or went.
 * Node infos s held stay valid for whoever else references them. */
void k8c_sched_cache_update_snapshot(struct k8c_sched_cache *c, struct k8c_sched_snapshot *s,
                                     json_t *services, json_t *replicasets);

size_t k8c_sched_cache_num_nodes(struct k8c_sched_cache *c);
size_t k8c_sched_cache_num_pods(struct k8c_sched_cache *c);
size_t k8c_sched_cache_num_assumed(struct k8c_sched_cache *c);

#endif

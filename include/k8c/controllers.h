/*
 * controllers.h - k8c-controller-manager: the reconciliation loops (ReplicaSet,
 * Deployment, garbage collector, Endpoints, EndpointSlice, Namespace, node IPAM and
 * lifecycle, HorizontalPodAutoscaler, PersistentVolume binder) on shared informers
 * and work queues.
 *
 * Every controller reads only from informer caches and acts only through a
 * struct k8c_object_control, so unit tests drive a controller's sync function
 * against fakes that record the calls, without a server. The manager wires the
 * real client in, runs workers, leader election and the health/metrics server.
 */
#ifndef K8C_CONTROLLERS_H
#define K8C_CONTROLLERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "k8c/client.h"
#include "k8c/error.h"
#include "k8c/events.h"
#include "k8c/informer.h"
#include "k8c/workqueue.h"

/* ---- actions ----
 * Paths are apiserver paths ("/api/v1/namespaces/ns/pods"). Errors carry the Status reason
 * (K8C_ENOTFOUND, K8C_ECONFLICT, ...). */
struct k8c_object_control {
        int (*create)(void *opaque, const char *path, const json_t *obj, k8c_error_t *err);
        int (*update)(void *opaque, const char *path, const json_t *obj, k8c_error_t *err);
        /* type: "application/merge-patch+json" or "application/strategic-merge-patch+json" */
        int (*patch)(void *opaque, const char *path, const char *type, const json_t *patch, k8c_error_t *err);
        int (*delete)(void *opaque, const char *path, const json_t *options, k8c_error_t *err);
        /* A live read, for the few decisions the cache must not make alone (GC: is the owner gone?). */
        int (*get)(void *opaque, const char *path, json_t **ret, k8c_error_t *err);
        void *opaque;
        /* Optional (may be NULL): create returning the object as created (generateName resolved). */
        int (*create_ret)(void *opaque, const char *path, const json_t *obj, json_t **ret, k8c_error_t *err);
};

/* Actions through a real client (borrowed). */
struct k8c_object_control k8c_object_control_client(struct k8c_client *client);

/* Indexes every controller informer carries: "namespace", "uid", "owner" (uids of
 * metadata.ownerReferences) and "node" (spec.nodeName). Add before the informer starts. */
void k8c_ctrl_add_indexes(struct k8c_informer *inf);

/* ---- ReplicaSet ---- */

#define K8C_RS_BURST_REPLICAS 500 /* most pods created or deleted in one sync */

struct k8c_rs_controller;

/* rs and pods are informers of replicasets and pods (with k8c_ctrl_add_indexes); handlers are
 * added here, so call before the informers start. rec may be NULL. */
struct k8c_rs_controller *k8c_rs_controller_new(struct k8c_informer *rs, struct k8c_informer *pods,
                                                const struct k8c_object_control *ctl,
                                                struct k8c_event_recorder *rec);
void k8c_rs_controller_free(struct k8c_rs_controller *c);
struct k8c_workqueue *k8c_rs_controller_queue(struct k8c_rs_controller *c);
/* One reconciliation of the ReplicaSet "ns/name". Returns 0, or a negative error (requeue). */
int k8c_rs_controller_sync(struct k8c_rs_controller *c, const char *key, k8c_error_t *err);
/* Whether the creations/deletions of the last sync of key have all been observed. */
bool k8c_rs_controller_expectations_satisfied(struct k8c_rs_controller *c, const char *key);

/* Pods in the order Kubernetes deletes surplus ones (ActivePods less): unscheduled before
 * scheduled, Pending before Unknown before Running, not ready before ready, more restarts
 * first, newer before older. Sorts a JSON array of pods in place. */
void k8c_sort_pods_for_deletion(json_t *pods);
/* Whether a pod counts as active (not terminating, not Succeeded or Failed). */
bool k8c_pod_is_active(const json_t *pod);
/* Whether the pod's Ready condition is True (and, with min_ready_seconds, has been for that long at now). */
bool k8c_pod_is_ready(const json_t *pod);
bool k8c_pod_is_available(const json_t *pod, int64_t min_ready_seconds, time_t now);

/* ---- garbage collector ---- */

struct k8c_gc_controller;

/* informers: the monitored kinds; kinds[i] names the kind of informers[i] as "apps/v1/ReplicaSet"
 * or "v1/Pod" (apiVersion/Kind); every informer needs k8c_ctrl_add_indexes. */
struct k8c_gc_controller *k8c_gc_controller_new(struct k8c_informer **informers, const char *const *kinds,
                                                int n, const struct k8c_object_control *ctl);
void k8c_gc_controller_free(struct k8c_gc_controller *c);
struct k8c_workqueue *k8c_gc_controller_queue(struct k8c_gc_controller *c);
/* key: "<apiVersion>/<Kind>|<namespace>/<name>" as queued by the informer handlers. */
int k8c_gc_controller_sync(struct k8c_gc_controller *c, const char *key, k8c_error_t *err);

/* ---- Endpoints ---- */

struct k8c_endpoints_controller;

struct k8c_endpoints_controller *k8c_endpoints_controller_new(struct k8c_informer *services,
                                                              struct k8c_informer *pods,
                                                              struct k8c_informer *endpoints,
                                                              const struct k8c_object_control *ctl);
void k8c_endpoints_controller_free(struct k8c_endpoints_controller *c);
struct k8c_workqueue *k8c_endpoints_controller_queue(struct k8c_endpoints_controller *c);
int k8c_endpoints_controller_sync(struct k8c_endpoints_controller *c, const char *key, k8c_error_t *err);
/* The Endpoints object a Service should have given the pods (JSON array), or NULL when the
 * Service has no selector (left alone). */
json_t *k8c_endpoints_for_service(const json_t *service, const json_t *pods);

/* ---- EndpointSlices ---- */

struct k8c_endpointslice_controller;
/* slices: informer of discovery.k8s.io/v1 EndpointSlices; all three need k8c_ctrl_add_indexes. */
struct k8c_endpointslice_controller *k8c_endpointslice_controller_new(struct k8c_informer *services,
                                                                      struct k8c_informer *pods,
                                                                      struct k8c_informer *slices,
                                                                      const struct k8c_object_control *ctl);
void k8c_endpointslice_controller_free(struct k8c_endpointslice_controller *c);
struct k8c_workqueue *k8c_endpointslice_controller_queue(struct k8c_endpointslice_controller *c);
/* key: the Service's "ns/name". */
int k8c_endpointslice_controller_sync(struct k8c_endpointslice_controller *c, const char *key,
                                      k8c_error_t *err);
/* The EndpointSlices (JSON array, without names) a Service should have given the pods, or NULL when
 * the Service has no selector or is ExternalName. */
json_t *k8c_endpointslices_for_service(const json_t *service, const json_t *pods);

/* ---- Namespace ---- */

struct k8c_namespace_controller;

struct k8c_namespace_controller *k8c_namespace_controller_new(struct k8c_informer *namespaces,
                                                              const struct k8c_object_control *ctl);
void k8c_namespace_controller_free(struct k8c_namespace_controller *c);
struct k8c_workqueue *k8c_namespace_controller_queue(struct k8c_namespace_controller *c);
/* key: the namespace name. Deletes content of a terminating namespace, then finalizes it. */
int k8c_namespace_controller_sync(struct k8c_namespace_controller *c, const char *key, k8c_error_t *err);

/* ---- Deployment ---- */

struct k8c_deployment_controller;
/* deployments, replicasets and pods need k8c_ctrl_add_indexes (the "owner" index). pods (may be NULL)
 * lets Recreate wait for old pods that are still terminating; rec (may be NULL) records
 * ScalingReplicaSet events. */
struct k8c_deployment_controller *k8c_deployment_controller_new(struct k8c_informer *deployments,
                                                                struct k8c_informer *replicasets,
                                                                struct k8c_informer *pods,
                                                                const struct k8c_object_control *ctl,
                                                                struct k8c_event_recorder *rec);
void k8c_deployment_controller_free(struct k8c_deployment_controller *c);
struct k8c_workqueue *k8c_deployment_controller_queue(struct k8c_deployment_controller *c);
int k8c_deployment_controller_sync(struct k8c_deployment_controller *c, const char *key, k8c_error_t *err);
/* The pod-template-hash label value of a pod template (FNV-1a of its canonical JSON, with the
 * collision count, encoded with Kubernetes' SafeEncodeString alphabet). Caller frees. */
char *k8c_pod_template_hash(const json_t *pod_template, int64_t collision_count);
/* GetScaledValueFromIntOrPercent: an integer as it is, "N%" of total rounded up (maxSurge) or down
 * (maxUnavailable); def when v is absent or not a percent string. */
int64_t k8c_scaled_int_or_percent(const json_t *v, int64_t total, bool round_up, int64_t def);

/* ---- HorizontalPodAutoscaler ---- */

/* Where pod metrics come from: a metrics.k8s.io/v1beta1 PodMetricsList ({items: [{metadata.name,
 * timestamp, window, containers: [{name, usage: {cpu, memory}}]}]}) of the pods of ns matching a
 * label selector (string form). */
struct k8c_metrics_source {
        int (*pod_metrics)(void *opaque, const char *ns, const char *selector, json_t **ret,
                           k8c_error_t *err);
        void *opaque;
};

/* GET /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods?labelSelector=... through client (borrowed). */
struct k8c_metrics_source k8c_metrics_source_client(struct k8c_client *client);

struct k8c_hpa_config {
        int64_t sync_period_ms;      /* --horizontal-pod-autoscaler-sync-period, default 15 s */
        int64_t downscale_window_ms; /* --horizontal-pod-autoscaler-downscale-stabilization, default 5 min
                                      * (0 = default, negative = none); spec.behavior overrides it */
        double tolerance;            /* --horizontal-pod-autoscaler-tolerance, default 0.1 */
        int64_t cpu_init_period_ms; /* --horizontal-pod-autoscaler-cpu-initialization-period, default 5 min */
        int64_t readiness_delay_ms; /* --horizontal-pod-autoscaler-initial-readiness-delay, default 30 s */
        int64_t (*clock_ms)(void);  /* monotonic milliseconds for the windows; NULL = CLOCK_MONOTONIC */
};

struct k8c_hpa_controller;
/* hpas: informer of autoscaling/v2 HorizontalPodAutoscalers; pods needs k8c_ctrl_add_indexes. Scales
 * go through ctl (get/update of <target>/scale). rec may be NULL. */
struct k8c_hpa_controller *k8c_hpa_controller_new(struct k8c_informer *hpas, struct k8c_informer *pods,
                                                  const struct k8c_object_control *ctl,
                                                  const struct k8c_metrics_source *metrics,
                                                  struct k8c_event_recorder *rec,
                                                  const struct k8c_hpa_config *cfg);
void k8c_hpa_controller_free(struct k8c_hpa_controller *c);
struct k8c_workqueue *k8c_hpa_controller_queue(struct k8c_hpa_controller *c);
/* One reconcileAutoscaler of "ns/name"; requeues itself after the sync period. */
int k8c_hpa_controller_sync(struct k8c_hpa_controller *c, const char *key, k8c_error_t *err);

struct k8c_hpa_result {
        int64_t replicas;    /* the proposal */
        int64_t utilization; /* percent of requests (utilization targets) */
        int64_t raw_milli;   /* average usage per pod, milli-units */
};
/* The replica calculator for one resource metric (GetResourceReplicas when utilization, else
 * GetRawResourceReplicas): pods (JSON array) are the target's, metrics_list a PodMetricsList,
 * container NULL for the whole pod, target a percentage or milli-units, now the wall clock. */
int k8c_hpa_resource_replicas(const json_t *pods, const json_t *metrics_list, const char *resource,
                              const char *container, bool utilization, int64_t target, int64_t current,
                              const struct k8c_hpa_config *cfg, time_t now, struct k8c_hpa_result *ret,
                              k8c_error_t *err);

/* ---- PersistentVolume binder ---- */

struct k8c_pvbinder_controller;
/* pvs: informer of PersistentVolumes, pvcs: of PersistentVolumeClaims (all namespaces). rec may be NULL. */
struct k8c_pvbinder_controller *k8c_pvbinder_controller_new(struct k8c_informer *pvs,
                                                            struct k8c_informer *pvcs,
                                                            const struct k8c_object_control *ctl,
                                                            struct k8c_event_recorder *rec);
void k8c_pvbinder_controller_free(struct k8c_pvbinder_controller *c);
struct k8c_workqueue *k8c_pvbinder_controller_queue(struct k8c_pvbinder_controller *c);
/* key: "pvc|ns/name" (syncClaim) or "pv|name" (syncVolume). */
int k8c_pvbinder_controller_sync(struct k8c_pvbinder_controller *c, const char *key, k8c_error_t *err);
/* The volume (borrowed from pvs, a JSON array) a Pending claim should get, or NULL: one pre-bound to it
 * by claimRef, else the smallest Available one of its class and volumeMode with its access modes, enough
 * capacity and labels matching its selector. */
json_t *k8c_pv_find_match(const json_t *pvs, const json_t *pvc);

/* ---- service load balancer (servicelb.c) ---- */

struct k8c_servicelb_controller;

/* "first-last", a CIDR (network and broadcast excluded up to /30) or one address: the pool, inclusive,
 * in host byte order. K8C_EUSAGE otherwise. */
int k8c_servicelb_parse_range(const char *range, uint32_t *ret_first, uint32_t *ret_last, k8c_error_t *err);
/* services: an informer of services (handlers added here, before it starts). NULL (err set) when
 * ip_range does not parse. */
struct k8c_servicelb_controller *k8c_servicelb_controller_new(struct k8c_informer *services,
                                                              const struct k8c_object_control *ctl,
                                                              const char *ip_range, k8c_error_t *err);
void k8c_servicelb_controller_free(struct k8c_servicelb_controller *c);
struct k8c_workqueue *k8c_servicelb_controller_queue(struct k8c_servicelb_controller *c);
/* Gives a LoadBalancer Service one pool address in status.loadBalancer.ingress, or takes it back. */
int k8c_servicelb_controller_sync(struct k8c_servicelb_controller *c, const char *key, k8c_error_t *err);

/* ---- the manager ---- */

struct k8c_controller_manager_config {
        const char *kubeconfig;            /* NULL = $KUBECONFIG / ~/.kube/config */
        const char *server;                /* overrides the kubeconfig */
        const char *controllers;           /* "*", "*,-garbagecollector", "replicaset,endpoints" */
        bool leader_elect;                 /* campaign on kube-system/k8c-controller-manager first */
        const char *bind_address;          /* health/metrics server, default 127.0.0.1 */
        int port;                          /* default 10257; 0 = no server */
        int workers;                       /* per controller, default 2 */
        int64_t resync_ms;                 /* informer resync, default 5 min */
        const char *cluster_cidr;          /* node IPAM, default 10.244.0.0/16 */
        int node_cidr_mask;                /* default 24 */
        int64_t node_monitor_grace_ms;     /* default 40 s */
        int64_t node_monitor_period_ms;    /* default 5 s */
        int64_t pod_eviction_timeout_ms;   /* default 5 min */
        struct k8c_hpa_config hpa;         /* HorizontalPodAutoscaler timings (0 = defaults) */
        const char *hpa_metrics_url;       /* serve metrics.k8s.io from here instead of the apiserver */
        const char *loadbalancer_ip_range; /* servicelb pool ("first-last" or CIDR); NULL = servicelb off */
};

/* Controllers: replicaset, deployment, garbagecollector, endpoints, namespace, nodeipam, nodelifecycle,
 * horizontalpodautoscaling, persistentvolume-binder, endpointslice.
 * Runs until SIGTERM/SIGINT. */
int k8c_controller_manager_run(const struct k8c_controller_manager_config *cfg, k8c_error_t *err);

/* Whether controller name is enabled by a --controllers value ("*" all, "-name" off, "name" on). */
bool k8c_controller_enabled(const char *spec, const char *name);

/* ---- node IPAM ---- */

struct k8c_cidr_allocator;
/* Subnets of /node_prefix inside cluster_cidr (IPv4). K8C_EUSAGE on a bad CIDR or mask. */
int k8c_cidr_allocator_new(const char *cluster_cidr, int node_prefix, struct k8c_cidr_allocator **ret,
                           k8c_error_t *err);
void k8c_cidr_allocator_free(struct k8c_cidr_allocator *a);
/* Marks cidr used; false when it is not one of the allocator's subnets. */
bool k8c_cidr_allocator_occupy(struct k8c_cidr_allocator *a, const char *cidr);
void k8c_cidr_allocator_release(struct k8c_cidr_allocator *a, const char *cidr);
/* The lowest free subnet ("10.244.3.0/24"), marked used. K8C_EINTERNAL when none is left. */
int k8c_cidr_allocator_next(struct k8c_cidr_allocator *a, char *buf, size_t n, k8c_error_t *err);

struct k8c_nodeipam_controller;
int k8c_nodeipam_controller_new(struct k8c_informer *nodes, const struct k8c_object_control *ctl,
                                const char *cluster_cidr, int node_prefix,
                                struct k8c_nodeipam_controller **ret, k8c_error_t *err);
void k8c_nodeipam_controller_free(struct k8c_nodeipam_controller *c);
struct k8c_workqueue *k8c_nodeipam_controller_queue(struct k8c_nodeipam_controller *c);
/* key: node name. Gives a node without spec.podCIDR the next free subnet. */
int k8c_nodeipam_controller_sync(struct k8c_nodeipam_controller *c, const char *key, k8c_error_t *err);

/* ---- node lifecycle ---- */

struct k8c_nodelifecycle_config {
        int64_t grace_ms;    /* --node-monitor-grace-period, default 40 s */
        int64_t eviction_ms; /* --pod-eviction-timeout, default 5 min */
        int64_t period_ms;   /* --node-monitor-period, default 5 s */
};

struct k8c_nodelifecycle_controller;
/* leases: informer of kube-node-lease Leases; pods needs k8c_ctrl_add_indexes (the "node" index). */
struct k8c_nodelifecycle_controller *
k8c_nodelifecycle_controller_new(struct k8c_informer *nodes, struct k8c_informer *leases,
                                 struct k8c_informer *pods, const struct k8c_object_control *ctl,
                                 const struct k8c_nodelifecycle_config *cfg);
void k8c_nodelifecycle_controller_free(struct k8c_nodelifecycle_controller *c);
struct k8c_workqueue *k8c_nodelifecycle_controller_queue(struct k8c_nodelifecycle_controller *c);
/* One monitor pass at monotonic time now_ms (wall: for timestamps written). */
int k8c_nodelifecycle_monitor(struct k8c_nodelifecycle_controller *c, int64_t now_ms, time_t wall,
                              k8c_error_t *err);
/* The queue's only key is "monitor": one pass now, the next after the period. */
int k8c_nodelifecycle_controller_sync(struct k8c_nodelifecycle_controller *c, const char *key,
                                      k8c_error_t *err);

#endif

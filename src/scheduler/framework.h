/*
 * framework.h - the scheduler's internal framework: pod and node views
 * computed once from JSON, a cluster snapshot, the filter/score plugin table,
 * and the pure scheduling decision (filter → score → normalise → weight →
 * pick). Kubernetes' pkg/scheduler/framework semantics, in C.
 *
 * Everything here is pure: no network, no threads, no logging, so plugins and
 * decisions are unit-tested over fake snapshots. The daemon (scheduler.c)
 * feeds it from informers.
 */
#ifndef K8C_SCHEDULER_FRAMEWORK_H
#define K8C_SCHEDULER_FRAMEWORK_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "k8c/error.h"
#include "k8c/labels.h"

#define K8C_SCHED_MAX_NODE_SCORE 100

/* Resources a pod asks for / a node offers. cpu in millicores, the rest in bytes. */
#define K8C_SCHED_MAX_SCALAR 8

/* An extended resource ("nvidia.com/gpu", "hugepages-2Mi"), in whole units. */
struct k8c_sched_scalar {
        char name[64];
        int64_t value;
};

struct k8c_sched_resources {
        int64_t milli_cpu;
        int64_t memory;
        int64_t ephemeral_storage;
        int64_t pods; /* only meaningful for allocatable */
        struct k8c_sched_scalar scalar[K8C_SCHED_MAX_SCALAR];
        size_t nscalar;
};
/* Value of an extended resource (0 when absent). */
int64_t k8c_sched_scalar_get(const struct k8c_sched_resources *r, const char *name);

struct k8c_sched_hostport {
        char *host_ip; /* "0.0.0.0" when unset */
        char *protocol;
        int64_t port;
};

/* A toleration or taint parsed once; strings are borrowed from the object's JSON, "" when absent. */
typedef enum {
        K8C_SCHED_TOL_EQUAL,  /* "" or "Equal" */
        K8C_SCHED_TOL_EXISTS, /* "Exists" */
        K8C_SCHED_TOL_OTHER,  /* unknown operator: tolerates nothing */
} k8c_sched_tol_op_t;

struct k8c_sched_toleration {
        const char *key, *value, *effect;
        k8c_sched_tol_op_t op;
};

struct k8c_sched_taint {
        const char *key, *value, *effect;
};

/* An interned string (shared by every holder of an equal string, so equality is pointer
 * equality), optionally with a JSON value it stands for. Used for the (namespace, labels)
 * of pods, so SelectorSpread evaluates its selector once per distinct label set per cycle,
 * and for zone keys. Refcounted; the intern table has its own lock. */
struct k8c_sched_interned {
        _Atomic int refs; /* freed (under the table lock) when it drops to 0 */
        char *str;
        char *namespace_; /* labelsets: the pods' namespace */
        json_t *labels;   /* labelsets: the pod's metadata.labels (owned ref; NULL if absent) */
};

/* A NodeSelectorRequirement / NodeSelectorTerm compiled once (strings borrowed from the pod). */
typedef enum {
        K8C_SCHED_OP_IN,
        K8C_SCHED_OP_NOT_IN,
        K8C_SCHED_OP_EXISTS,
        K8C_SCHED_OP_DOES_NOT_EXIST,
        K8C_SCHED_OP_GT,
        K8C_SCHED_OP_LT,
        K8C_SCHED_OP_UNKNOWN, /* matches nothing */
} k8c_sched_op_t;

struct k8c_sched_node_req {
        const char *key; /* "" when absent */
        k8c_sched_op_t op;
        const char **values; /* the string values */
        size_t nvalues;
        bool int_ok; /* Gt/Lt: exactly one value, an integer */
        int64_t int_value;
        bool field_ok; /* matchFields: key metadata.name with In/NotIn */
};

struct k8c_sched_node_term {
        struct k8c_sched_node_req *reqs; /* matchExpressions, then matchFields */
        size_t nexprs, nfields;
};

struct k8c_sched_preferred_term {
        int64_t weight;
        struct k8c_sched_node_term term;
};

/* A required PodAffinityTerm compiled once (strings borrowed from the pod). */
struct k8c_sched_pod_term {
        const char *topology_key; /* NULL when absent */
        bool own_namespace;       /* no namespaces and no namespaceSelector: the owner's namespace */
        bool all_namespaces;      /* namespaceSelector {} */
        const char **namespaces;  /* the string entries of namespaces */
        size_t nnamespaces;
        bool has_selector; /* labelSelector set and parsed (else the term matches no pod) */
        struct k8c_selector selector;
};

/* A pod as the scheduler sees it; immutable once built and refcounted so node
 * infos of successive cache generations can share it. Everything the plugins ask
 * per node is parsed here once, so the per-node loop touches no JSON. */
struct k8c_sched_podinfo {
        _Atomic int refs;
        json_t *pod; /* owned reference */
        char *key;   /* namespace/name */
        const char *namespace_, *name, *node_name;
        int64_t priority;
        bool terminating;
        struct k8c_sched_resources req;     /* effective requests (init containers as max, + overhead) */
        struct k8c_sched_resources nonzero; /* cpu/memory with 100m / 200Mi defaults, for scoring */
        struct k8c_sched_hostport *ports;
        size_t nports;
        const json_t *labels;                /* metadata.labels, borrowed from pod (may be NULL) */
        struct k8c_sched_interned *labelset; /* (namespace, labels) */
        struct k8c_sched_toleration *tolerations;
        size_t ntolerations;
        /* Tolerations of the taints NodeUnschedulable / NodeReady stand for. */
        bool tolerates_unschedulable, tolerates_not_ready, tolerates_unreachable;
        bool tolerates_memory_pressure, tolerates_disk_pressure;
        bool best_effort;                 /* QoS class BestEffort */
        bool has_required_node_affinity;  /* spec.nodeSelector or required node affinity set */
        bool has_preferred_node_affinity; /* preferred node affinity terms present */
        bool has_spread_constraints;      /* spec.topologySpreadConstraints non-empty */
        bool has_pod_affinity;            /* required podAffinity terms */
        bool has_pod_anti_affinity;       /* required podAntiAffinity terms */
        struct k8c_sched_pod_term *affinity_terms, *anti_terms;
        size_t naffinity_terms, nanti_terms;
        /* spec.nodeSelector (value NULL when not a string: never matches) and node affinity. */
        struct {
                const char *key, *value;
        } * node_selector;
        size_t nnode_selector;
        bool node_affinity_required; /* requiredDuringScheduling... set: one of the terms must match */
        struct k8c_sched_node_term *required_terms;
        size_t nrequired_terms;
        struct k8c_sched_preferred_term *preferred_terms;
        size_t npreferred_terms;
};

/* Builds the view; the pod JSON is referenced, not copied. */
struct k8c_sched_podinfo *k8c_sched_podinfo_new(json_t *pod);
struct k8c_sched_podinfo *k8c_sched_podinfo_ref(struct k8c_sched_podinfo *pi);
void k8c_sched_podinfo_unref(struct k8c_sched_podinfo *pi);

/* What the filters and scorers need of a Node object, parsed once per node
 * object and shared by every nodeinfo built on it. */
typedef enum {
        K8C_SCHED_NODE_READY = 0,
        K8C_SCHED_NODE_NOT_READY,   /* Ready False or missing */
        K8C_SCHED_NODE_UNREACHABLE, /* Ready Unknown */
} k8c_sched_ready_t;

struct k8c_sched_nodeview {
        _Atomic int refs;
        json_t *node; /* owned ref; NULL for a placeholder */
        bool unschedulable;
        k8c_sched_ready_t ready;
        bool memory_pressure, disk_pressure; /* conditions MemoryPressure / DiskPressure True */
        struct k8c_sched_taint *taints;      /* spec.taints, borrowed strings */
        size_t ntaints;
        size_t nhard_taints;             /* NoSchedule + NoExecute */
        size_t nprefer_taints;           /* PreferNoSchedule */
        struct k8c_sched_interned *zone; /* region:\x01:zone as GetZoneKey, NULL without labels */
        const json_t *labels;            /* metadata.labels, borrowed from node */
        const char *meta_name;           /* metadata.name, for matchFields */
};

/* Pods on a node with one (namespace, labels), not terminating: what SelectorSpread counts. */
struct k8c_sched_labelcount {
        struct k8c_sched_interned *labelset; /* owned ref */
        int64_t count;
};

/* A node and the pods counted on it (bound and assumed). Immutable and
 * refcounted: the cache replaces it on change, snapshots share it. The
 * aggregates (requested, label counts, anti-affinity pods) are kept up to date
 * as pods are added and removed, so no plugin walks the pods in the hot path. */
struct k8c_sched_nodeinfo {
        _Atomic int refs;
        char *name;
        json_t *node; /* NULL while only pods have been seen for the name */
        struct k8c_sched_nodeview *view;
        struct k8c_sched_resources allocatable;
        struct k8c_sched_resources requested; /* sum of req of pods */
        struct k8c_sched_resources nonzero_requested;
        struct k8c_sched_podinfo **pods;
        size_t npods;
        struct k8c_sched_labelcount *labels; /* per distinct labelset */
        size_t nlabels;
        size_t nanti;  /* pods with required podAntiAffinity terms */
        size_t nports; /* host ports of its pods */
};

struct k8c_sched_nodeinfo *k8c_sched_nodeinfo_new(const char *name, json_t *node);
struct k8c_sched_nodeinfo *k8c_sched_nodeinfo_ref(struct k8c_sched_nodeinfo *ni);
void k8c_sched_nodeinfo_unref(struct k8c_sched_nodeinfo *ni);
/* Copies with a different node object / with a pod added / without a pod (by key). */
struct k8c_sched_nodeinfo *k8c_sched_nodeinfo_with_node(const struct k8c_sched_nodeinfo *ni, json_t *node);
struct k8c_sched_nodeinfo *k8c_sched_nodeinfo_with_pod(const struct k8c_sched_nodeinfo *ni,
                                                       struct k8c_sched_podinfo *pi);
struct k8c_sched_nodeinfo *k8c_sched_nodeinfo_without_pod(const struct k8c_sched_nodeinfo *ni,
                                                          const char *key);
/* Index of the pod with key, or -1. */
ssize_t k8c_sched_nodeinfo_find_pod(const struct k8c_sched_nodeinfo *ni, const char *key);

/* What one scheduling cycle looks at: nodes (with a Node object) sorted by name,
 * plus the objects SelectorSpread needs. */
struct k8c_sched_snapshot {
        struct k8c_sched_nodeinfo **nodes;
        size_t n;
        json_t *services;       /* array, may be NULL */
        json_t *replicasets;    /* array, may be NULL */
        size_t nodes_with_anti; /* nodes holding pods with required anti-affinity */
        /* Cache generations it reflects (see k8c_sched_cache_update_snapshot); 0 = never filled. */
        uint64_t generation, set_generation;
};

/* From JSON arrays of Node and (bound) Pod objects; pods whose node is unknown are dropped. */
struct k8c_sched_snapshot *k8c_sched_snapshot_from_json(const json_t *nodes, const json_t *pods,
                                                        const json_t *services, const json_t *replicasets);
void k8c_sched_snapshot_free(struct k8c_sched_snapshot *s);
ssize_t k8c_sched_snapshot_find(const struct k8c_sched_snapshot *s, const char *node_name);
/* Replaces node i by a copy holding pi too (what "assume" does to a snapshot). */
void k8c_sched_snapshot_add_pod(struct k8c_sched_snapshot *s, size_t i, struct k8c_sched_podinfo *pi);
/* Puts ni (reference taken over) at index i, keeping the snapshot's counters right. */
void k8c_sched_snapshot_set(struct k8c_sched_snapshot *s, size_t i, struct k8c_sched_nodeinfo *ni);

/* Number of non-terminating pods on ni with this labelset (pointer equality). */
int64_t k8c_sched_nodeinfo_label_count(const struct k8c_sched_nodeinfo *ni,
                                       const struct k8c_sched_interned *labelset);

/* The intern table (process-wide, locked). labels may be NULL for a plain string. */
struct k8c_sched_interned *k8c_sched_intern(const char *str, const char *namespace_, const json_t *labels);
void k8c_sched_interned_unref(struct k8c_sched_interned *in);
struct k8c_sched_interned *k8c_sched_interned_ref(struct k8c_sched_interned *in);
/* Entries alive in the intern table (for tests). */
size_t k8c_sched_intern_size(void);
/* Compact toleration vs taint: the same rules as k8c_sched_toleration_tolerates. */
bool k8c_sched_tolerates(const struct k8c_sched_toleration *tol, const struct k8c_sched_taint *taint);

/* ---- resources ---- */
/* Parses a ResourceList value ("100m", "1Gi"); absent → 0, invalid → 0. */
int64_t k8c_sched_quantity_milli(const json_t *list, const char *name);
void k8c_sched_pod_requests(const json_t *pod, bool nonzero, struct k8c_sched_resources *ret);
void k8c_sched_node_allocatable(const json_t *node, struct k8c_sched_resources *ret);

/* ---- plugins ---- */

typedef enum {
        K8C_SCHED_OK = 0,
        K8C_SCHED_UNSCHEDULABLE = 1,
        K8C_SCHED_ERROR = 2,
} k8c_sched_code_t;

/* Result of one filter on one node. reasons are appended by plugins (owned). */
struct k8c_sched_status {
        k8c_sched_code_t code;
        const char *plugin; /* static name of the plugin that decided */
        char **reasons;
        size_t nreasons;
};
void k8c_sched_status_add_reason(struct k8c_sched_status *st, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
void k8c_sched_status_clear(struct k8c_sched_status *st);

typedef enum {
        K8C_SCHED_MOST_ALLOCATED = 0, /* bin-packing: the k8c default */
        K8C_SCHED_LEAST_ALLOCATED,
} k8c_sched_strategy_t;

struct k8c_sched_resource_weight {
        char name[32]; /* "cpu", "memory", "ephemeral-storage" */
        int64_t weight;
};

typedef enum {
        K8C_SCHED_RES_UNRESOLVED = 0,
        K8C_SCHED_RES_OTHER,
        K8C_SCHED_RES_CPU,
        K8C_SCHED_RES_MEMORY,
        K8C_SCHED_RES_EPHEMERAL_STORAGE,
} k8c_sched_res_kind_t;

k8c_sched_res_kind_t k8c_sched_res_kind(const char *resource);

/* Per-cycle state shared by the plugins of one decision. */
struct k8c_sched_cycle {
        const struct k8c_sched_snapshot *snap;
        const struct k8c_sched_podinfo *pod;
        k8c_sched_strategy_t strategy;
        const struct k8c_sched_resource_weight *resources; /* for NodeResourcesFit scoring */
        size_t nresources;
        k8c_sched_res_kind_t res_kinds[8]; /* resources[i], resolved on first use in the cycle */
        /* SelectorSpread: the selector's verdict per labelset seen this cycle (direct-mapped by
         * pointer; zero-initialised = empty, so cycles built by hand work too). */
        struct {
                const struct k8c_sched_interned *labelset;
                bool match;
        } spread_memo[64];
        /* SelectorSpread: the selector of the pod's Services/ReplicaSet (NULL = none). */
        struct k8c_selector *spread_selector;
        /* InterPodAffinity: topology pair counts computed once per cycle. */
        void *interpod_state;
};

struct k8c_sched_plugin {
        const char *name;
        /* Once per cycle before filtering / after the decision (may be NULL). */
        void (*pre_filter)(struct k8c_sched_cycle *cy);
        void (*cycle_free)(struct k8c_sched_cycle *cy);
        /* Filter: fills st (code + reasons); returns st->code. NULL = not a filter. */
        k8c_sched_code_t (*filter)(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                                   struct k8c_sched_status *st);
        /* Raw score of one node; NULL = not a scorer. */
        int64_t (*score)(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni);
        /* Normalises scores[i] (node i of nodes[]) into 0..100; NULL = already 0..100. */
        void (*normalize)(struct k8c_sched_cycle *cy, struct k8c_sched_nodeinfo *const *nodes,
                          int64_t *scores, size_t n);
        /* Optional, after pre_filter: true when the filter cannot reject any node for this pod (no
         * node name, no node selector, no host ports...), so the cycle does not call it per node, as
         * kube-scheduler's PreFilter Skip. */
        bool (*filter_skip)(const struct k8c_sched_cycle *cy);
        /* Optional: the normalised score every node of nodes[] would get when it is the same for all
         * (e.g. a pod without preferred terms), so the cycle need not score node by node; -1 when
         * the nodes must be scored. */
        int64_t (*score_constant)(struct k8c_sched_cycle *cy, struct k8c_sched_nodeinfo *const *nodes,
                                  size_t n);
        int64_t default_weight;
        bool default_filter, default_score;
};

extern const struct k8c_sched_plugin k8c_sched_plugin_node_unschedulable;
extern const struct k8c_sched_plugin k8c_sched_plugin_node_name;
extern const struct k8c_sched_plugin k8c_sched_plugin_node_ready;
extern const struct k8c_sched_plugin k8c_sched_plugin_node_pressure;
extern const struct k8c_sched_plugin k8c_sched_plugin_taint_toleration;
extern const struct k8c_sched_plugin k8c_sched_plugin_node_affinity;
extern const struct k8c_sched_plugin k8c_sched_plugin_node_ports;
extern const struct k8c_sched_plugin k8c_sched_plugin_node_resources_fit;
extern const struct k8c_sched_plugin k8c_sched_plugin_balanced_allocation;
extern const struct k8c_sched_plugin k8c_sched_plugin_selector_spread;
extern const struct k8c_sched_plugin k8c_sched_plugin_inter_pod_affinity;

/* Registry by name, in the default filter order. */
const struct k8c_sched_plugin *const *k8c_sched_plugins_all(size_t *ret_n);
const struct k8c_sched_plugin *k8c_sched_plugin_lookup(const char *name);

/* Shared helpers (plugins/helpers.c). */
bool k8c_sched_toleration_tolerates(const json_t *toleration, const json_t *taint);
/* The first taint (with one of the effects; NULL = any) not tolerated, or NULL. */
const json_t *k8c_sched_untolerated_taint(const json_t *taints, const json_t *tolerations,
                                          const char *const *effects);
/* One NodeSelectorTerm (matchExpressions AND matchFields) against a node; an empty term matches nothing. */
bool k8c_sched_node_selector_term_matches(const json_t *term, const json_t *node);
/* The same rules, compiled once per pod (strings borrowed from term) and matched against a nodeview. */
void k8c_sched_node_term_compile(const json_t *term, struct k8c_sched_node_term *ret);
void k8c_sched_node_term_free(struct k8c_sched_node_term *t);
bool k8c_sched_node_term_match(const struct k8c_sched_node_term *t, const struct k8c_sched_nodeview *v);
/* A required pod (anti-)affinity term of a pod in owner_ns: does it select pod p? */
bool k8c_sched_pod_term_matches(const struct k8c_sched_pod_term *t, const char *owner_ns,
                                const struct k8c_sched_podinfo *p);
/* Pod labels vs a LabelSelector JSON object. */
bool k8c_sched_label_selector_matches(const json_t *selector, const json_t *labels);
const char *k8c_sched_node_label(const json_t *node, const char *key);
/* (allocatable, requested after placing the pod) of "cpu", "memory" or "ephemeral-storage";
 * use_requested: actual requests (BalancedAllocation), else non-zero defaults (Fit scoring). */
void k8c_sched_alloc_request(const struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                             const char *resource, bool use_requested, int64_t *ret_alloc, int64_t *ret_req);
void k8c_sched_alloc_request_kind(const struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                                  k8c_sched_res_kind_t kind, bool use_requested, int64_t *ret_alloc,
                                  int64_t *ret_req);

/* ---- profile and decision ---- */

struct k8c_sched_profile_entry {
        const struct k8c_sched_plugin *plugin;
        int64_t weight;
};

struct k8c_sched_profile {
        char *scheduler_name;
        struct k8c_sched_profile_entry filters[16];
        size_t nfilters;
        struct k8c_sched_profile_entry scorers[16];
        size_t nscorers;
        k8c_sched_strategy_t strategy;
        struct k8c_sched_resource_weight resources[8];
        size_t nresources;
        /* percentageOfNodesToScore: 0 = adaptive (50% - nodes/125, at least 5%), as kube-scheduler;
         * at least 100 nodes are always looked at. */
        int percentage_of_nodes_to_score;
};

/* Every default filter and scorer with default weights, MostAllocated on cpu and memory (weight 1). */
void k8c_sched_profile_default(struct k8c_sched_profile *ret);
void k8c_sched_profile_free(struct k8c_sched_profile *p);
/* From a KubeSchedulerConfiguration (JSON form of the YAML file): the profile whose
 * schedulerName matches (or the first), plugins.{filter,score,multiPoint}.{enabled,disabled}
 * (name "*" disables all defaults; weight), and pluginConfig NodeResourcesFit
 * args.scoringStrategy {type: MostAllocated|LeastAllocated, resources}. */
int k8c_sched_profile_from_config(const json_t *config, const char *scheduler_name,
                                  struct k8c_sched_profile *ret, k8c_error_t *err);

/* Why one node was rejected. */
struct k8c_sched_node_diag {
        const char *node;   /* borrowed from the snapshot */
        const char *plugin; /* static */
        char **reasons;
        size_t nreasons;
};

struct k8c_sched_result {
        k8c_sched_code_t code;
        char *node; /* chosen node (OK) */
        size_t feasible;
        size_t evaluated;
        /* Unschedulable: per rejected node; message is Kubernetes' FitError text. */
        struct k8c_sched_node_diag *diag;
        size_t ndiag;
        char *message; /* unschedulable/error message */
        /* Final scores per feasible node (for debugging/tests), parallel to nodes_scored, whose
         * names are borrowed from the snapshot (as diag's). */
        const char **nodes_scored;
        int64_t *scores;
        size_t nscored;
};
void k8c_sched_result_free(struct k8c_sched_result *r);

/* Random source for breaking ties between equal best scores (reservoir sampling, as
 * kube-scheduler). NULL = always the first (lowest name) of the best. */
typedef uint32_t (*k8c_sched_rand_fn)(void *opaque);

/* Schedules one pod against a snapshot. Never fails: errors land in ret->code/message.
 * Looks at every node from the first. */
void k8c_sched_schedule_one(const struct k8c_sched_profile *prof, const struct k8c_sched_snapshot *snap,
                            const struct k8c_sched_podinfo *pod, k8c_sched_rand_fn rnd, void *rnd_opaque,
                            struct k8c_sched_result *ret);
/* The same, but in a large cluster stops filtering once k8c_sched_num_nodes_to_find() feasible
 * nodes are found, starting where the previous cycle stopped (*next_start, updated), as
 * kube-scheduler does, so each decision costs O(sample) rather than O(nodes). An unschedulable
 * pod is still checked against every node. */
void k8c_sched_schedule_sampled(const struct k8c_sched_profile *prof, const struct k8c_sched_snapshot *snap,
                                const struct k8c_sched_podinfo *pod, k8c_sched_rand_fn rnd, void *rnd_opaque,
                                size_t *next_start, struct k8c_sched_result *ret);
/* kube-scheduler's numFeasibleNodesToFind. */
size_t k8c_sched_num_nodes_to_find(int percentage, size_t num_all_nodes);

/* "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector."
 * from per-node reasons (histogram "N reason" sorted as strings, as kube-scheduler's FitError). */
char *k8c_sched_fit_error_message(size_t num_nodes, const struct k8c_sched_node_diag *diag, size_t ndiag);

/* Builds the SelectorSpread selector for pod (Services in its namespace selecting it, plus the
 * ReplicaSet named by its controller ownerReference). NULL when nothing selects it. */
struct k8c_selector *k8c_sched_spread_selector(const json_t *pod, const json_t *services,
                                               const json_t *replicasets);

#endif

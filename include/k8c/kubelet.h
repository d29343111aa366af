/*
 * kubelet.h - the node agent: registers the Node, heartbeats through a Lease,
 * and runs the pods bound to it through a container runtime behind an ops
 * table: runc (pod namespaces, a veth on the node bridge, OCI bundles over a
 * busybox rootfs) or fake (no containers, so one machine can simulate many
 * nodes); serves the kubelet API (healthz, pods, container logs, stats
 * summary); sets pods' QoS class and oom_score_adj; samples cgroup stats and
 * evicts pods under memory or disk pressure.
 *
 * The pure pieces (capacity parsing, CIDR arithmetic, IPAM, pod status
 * computation, node object construction, QoS, eviction thresholds and
 * ranking) are exposed here so unit tests can
 * check them without a server.
 */
#ifndef K8C_KUBELET_H
#define K8C_KUBELET_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "k8c/client.h"
#include "k8c/error.h"

/* ---- configuration ---- */

struct k8c_stats_source;

struct k8c_kubelet_config {
        struct k8c_client *client; /* borrowed */
        const char *node_name;     /* NULL = gethostname() */
        const char *node_ip;       /* InternalIP; NULL = none reported */
        const char *root_dir;      /* state (IPAM file, ...) */
        const char *capacity;      /* "cpu=4,memory=8Gi,pods=110"; NULL = measured */
        const char *node_labels;   /* "k=v,k2=v2" */
        const char *taints;        /* "key=value:Effect,key2:Effect" */
        const char *pod_cidr;      /* overrides spec.podCIDR */
        const char *runtime;       /* "runc" (default) or "fake" */
        /* runc runtime only (see struct k8c_runc_config): */
        const char *runc_root, *runc_binary, *log_dir, *netns_dir, *node_netns, *cgroup_parent;
        int64_t lease_interval_ms;  /* default 10 s */
        int64_t status_interval_ms; /* node status at least this often; default 60 s */
        int64_t pod_resync_ms;      /* each pod re-checked at least this often; default 10 s */
        int workers;                /* pod worker threads; default 8 */
        int port;                   /* kubelet API port, reported as daemonEndpoints.kubeletEndpoint.Port */
        const char *address;        /* kubelet API address; NULL = no API server (tests) */
        /* "http://host:port": images are pulled (docker.io ones from this mirror) into
         * <root_dir>/images; NULL = the host's busybox is every container's rootfs. Borrowed. */
        const char *registry_mirror;
        /* Pods' /etc/resolv.conf "nameserver" (the kube-dns ClusterIP, e.g. 10.96.0.10); NULL = none. */
        const char *cluster_dns;
        /* Image garbage collection: when the image store holds more than this many bytes, images no
         * container uses are removed (least recently used first) until it fits; 0 = never. */
        int64_t image_gc_budget;
        int64_t image_gc_min_age_ms; /* an image used more recently is kept; default 2 min */
        /* Eviction (eviction.c): "memory.available<100Mi,nodefs.available<10%"; NULL = Kubernetes'
         * defaults, "" = none. Soft thresholds need a grace period each ("memory.available=30s"). */
        const char *eviction_hard, *eviction_soft, *eviction_soft_grace_period;
        int64_t eviction_pressure_transition_ms; /* a pressure condition stays True this long; default 5 min
                                                  */
        int64_t housekeeping_interval_ms;        /* stats sampling and eviction checks; default 10 s */
        const struct k8c_stats_source *stats_source; /* NULL = cgroups and /proc of this machine */
};

struct k8c_kubelet;

/* Registers the node and starts the lease, status and pod worker threads. */
int k8c_kubelet_start(const struct k8c_kubelet_config *cfg, struct k8c_kubelet **ret, k8c_error_t *err);
/* Stops every thread and frees; pods keep running (as a restarted kubelet would find them). */
void k8c_kubelet_stop(struct k8c_kubelet *k);
/* start, then block until *stop becomes true, then stop. */
int k8c_kubelet_run(const struct k8c_kubelet_config *cfg, const volatile bool *stop, k8c_error_t *err);

/* The runtime instance once the podCIDR is known (NULL before); for tests driving the fake. */
void *k8c_kubelet_runtime(struct k8c_kubelet *k);

/* ---- runtime ops ---- */

typedef enum {
        K8C_CONTAINER_ABSENT = 0, /* never started (or removed) */
        K8C_CONTAINER_RUNNING,
        K8C_CONTAINER_EXITED,
} k8c_container_phase_t;

struct k8c_container_state {
        k8c_container_phase_t phase;
        char id[80]; /* runtime container ID, without the scheme */
        int exit_code;
        time_t started_at, finished_at;
        bool oom_killed;    /* killed by the kernel's OOM killer at its memory limit */
        char image_id[256]; /* "<registry>/<repository>@sha256:..." when the image came from a registry */
};

/* What the worker needs from a runtime. pod is the Pod object (borrowed). Every operation is
 * idempotent: creating an existing sandbox or removing an absent one succeeds. */
struct k8c_runtime_ops {
        const char *name; /* also the containerID scheme: "fake://..." */
        /* Makes the pod's sandbox (network etc.) and returns its IP (caller frees). */
        int (*create_sandbox)(void *rt, const json_t *pod, const char *pod_ip_hint, char **ret_ip,
                              k8c_error_t *err);
        /* mounts: the container's volume mounts resolved to host paths (k8c_volume_mounts), may be
         * NULL. */
        int (*start_container)(void *rt, const json_t *pod, const json_t *container, const json_t *mounts,
                               int restart_count, k8c_error_t *err);
        int (*container_status)(void *rt, const json_t *pod, const char *container,
                                struct k8c_container_state *ret, k8c_error_t *err);
        /* SIGTERM, wait up to grace_s, SIGKILL; then removes the container. */
        int (*stop_container)(void *rt, const json_t *pod, const char *container, int64_t grace_s,
                              k8c_error_t *err);
        int (*remove_sandbox)(void *rt, const json_t *pod, k8c_error_t *err);
        /* Optional: makes the container's image present per its imagePullPolicy before
         * start_container; *ret_pulled says whether it was fetched now (taking *ret_seconds) or was
         * already present. Errors as start_container's image errors. */
        int (*pull_image)(void *rt, const json_t *container, bool *ret_pulled, double *ret_seconds,
                          k8c_error_t *err);
        /* Optional: image garbage collection down to budget bytes, keeping images in use. */
        int (*image_gc)(void *rt, int64_t budget, int64_t min_age_ms, k8c_error_t *err);
        /* Runs argv in the running container (probes); its exit code, or a negative error (incl.
         * timeout). */
        int (*exec)(void *rt, const json_t *pod, const char *container, const char *const *argv,
                    int timeout_s, int *ret_exit_code, k8c_error_t *err);
        /* UIDs of the pods with a sandbox (NULL-terminated, caller frees). */
        int (*list)(void *rt, char ***ret_uids, k8c_error_t *err);
        /* The pod's network namespace file (caller frees), from which httpGet and tcpSocket probes
         * connect. A runtime without a network of its own (fake) leaves this NULL, and its exec
         * answers those probes instead, with argv {"k8c-probe", "httpGet"|"tcpSocket", target}. */
        char *(*pod_netns)(void *rt, const json_t *pod);
        void (*free)(void *rt);
        /* Streaming exec (kubelet API): starts argv in the running container and returns its pid
         * (the caller reaps it). With tty_path, stdin/stdout/stderr are that terminal (opened as the
         * controlling tty of a new session, so a resize reaches the process); otherwise fds[0..2]
         * (-1 = /dev/null). The exit status of the pid is the command's. */
        int (*exec_start)(void *rt, const json_t *pod, const char *container, const char *const *argv,
                          const int fds[3], const char *tty_path, pid_t *ret_pid, k8c_error_t *err);
};

/* The fake runtime: no processes; containers "run" as soon as started and never exit unless
 * told to by k8c_fake_runtime_exit (tests). IPs come from the IPAM over pod_cidr. */
int k8c_fake_runtime_new(const char *pod_cidr, const char *ipam_file, void **ret_rt, k8c_error_t *err);
extern const struct k8c_runtime_ops k8c_fake_runtime_ops;
/* What exec (probes) returns in a fake container from now on (test hook; default 0). */
int k8c_fake_runtime_set_exec_result(void *rt, const char *pod_uid, const char *container, int code);
/* Makes a running fake container exit with code (test hook). */
int k8c_fake_runtime_exit(void *rt, const char *pod_uid, const char *container, int code);

/* The runc runtime. Strings are copied. */
struct k8c_runc_config {
        const char *root_dir;      /* pods/<uid>/ (bundles, namespaces' files), ipam */
        const char *log_dir;       /* default <root_dir>/logs; <ns>_<pod>_<uid>/<container>/<restart>.log */
        const char *runc_root;     /* runc --root; default <root_dir>/runc */
        const char *runc_binary;   /* default "runc" */
        const char *netns_dir;     /* pod netns files k8c-<uid prefix>; default /run/netns */
        const char *node_netns;    /* netns of the node (bridge, veths); NULL = the kubelet's own */
        const char *cgroup_parent; /* relative to the kubelet's cgroups; default "k8c" */
        const char *node_name;
        const char *pod_cidr;
        const char *busybox;         /* default /bin/busybox */
        const char *bridge;          /* default k8c0 */
        const char *registry_mirror; /* non-NULL: images pulled into <root_dir>/images (image.h) */
        const char *cluster_dns;     /* nameserver written to pods' resolv.conf; NULL = none */
        int64_t memory_capacity;     /* node memory (bytes), for oom_score_adj; 0 = unknown */
};
int k8c_runc_runtime_new(const struct k8c_runc_config *cfg, void **ret_rt, k8c_error_t *err);
extern const struct k8c_runtime_ops k8c_runc_runtime_ops;

/* What the OCI config.json of one container is made from (oci.c, pure). */
struct k8c_oci_inputs {
        const json_t *pod;
        const json_t *container;
        const char *pod_ip;
        const char *node_name;
        const char *netns;          /* path joined */
        const char *pod_dir;        /* holds uts, ipc, hosts, resolv.conf, hostname */
        const char *cgroup_parent;  /* cgroupsPath = <parent>/pod<uid>/<container> */
        const json_t *image_config; /* the image config's "config" (Entrypoint, Cmd, Env, WorkingDir); NULL =
                                       none */
        const json_t *mounts;    /* [{destination, source, readOnly}] bind mounts of volumes; may be NULL */
        int64_t memory_capacity; /* node memory (bytes) for the Burstable oom_score_adj; 0 = unknown */
        /* Without CAP_SYS_RESOURCE the kubelet may not go below its own oom_score_adj. */
        bool oom_score_adj_limited;
        int oom_score_adj_floor;
};
json_t *k8c_oci_spec(const struct k8c_oci_inputs *in);

/* ---- namespaces and pod network (network.c; root only) ---- */

/* New net/UTS/IPC namespaces (a NULL path skips that kind) held by bind mounts at the paths,
 * with hostname set in the UTS one. */
int k8c_ns_create(const char *net_path, const char *uts_path, const char *ipc_path, const char *hostname,
                  k8c_error_t *err);
/* Unmounts and unlinks a namespace file; absent is fine. */
int k8c_ns_remove(const char *path, k8c_error_t *err);
/* node_netns NULL = the kubelet's own netns. NLE_EXIST is success everywhere. */
int k8c_net_ensure_bridge(const char *node_netns, const char *bridge, const char *gw_cidr, k8c_error_t *err);
/* veth host_if (on bridge, in node_netns) + eth0 in pod_netns with ip_cidr, lo up, default via gw. */
int k8c_net_attach_pod(const char *node_netns, const char *pod_netns, const char *bridge, const char *host_if,
                       const char *ip_cidr, const char *gw, k8c_error_t *err);
int k8c_net_delete_link(const char *netns, const char *ifname, k8c_error_t *err);
/* 1 if the link exists in netns, 0 if not, negative on error. */
int k8c_net_link_exists(const char *netns, const char *ifname, k8c_error_t *err);
/* Route dst_cidr via gw in netns (NULL = the current one), replacing one to the same dst (host-gw
 * routes to other nodes' podCIDRs). Fails when gw is not on-link. */
int k8c_net_route_replace(const char *netns, const char *dst_cidr, const char *gw, k8c_error_t *err);

/* ---- pure helpers ---- */

/* "cpu=4,memory=8Gi,pods=110" → {"cpu":"4","memory":"8Gi","pods":"110"} with canonical quantities. */
int k8c_kubelet_parse_capacity(const char *s, json_t **ret, k8c_error_t *err);
/* Measured capacity: cpu (online CPUs), memory (MemTotal), pods (110), ephemeral-storage (of root_dir). */
json_t *k8c_kubelet_measure_capacity(const char *root_dir);
/* "a=b,c=d" → object */
int k8c_kubelet_parse_labels(const char *s, json_t **ret, k8c_error_t *err);
/* "k=v:NoSchedule,k2:NoExecute" → taints array */
int k8c_kubelet_parse_taints(const char *s, json_t **ret, k8c_error_t *err);

/* The Node object to register. */
json_t *k8c_kubelet_node_object(const struct k8c_kubelet_config *cfg, const char *node_name,
                                const json_t *capacity);

/* IPv4 CIDR "10.244.1.0/24": network address (host order) and prefix length. */
int k8c_cidr_parse(const char *cidr, uint32_t *ret_net, int *ret_prefix, k8c_error_t *err);
/* Host index i of the CIDR (1 = gateway) as dotted text into buf (16 bytes). */
void k8c_ip_format(uint32_t ip, char buf[16]);

/* A small IPAM over one CIDR: .1 is the gateway, the network and broadcast addresses are never
 * given. With a file, allocations survive restarts ("ip owner" lines). Thread-safe. */
struct k8c_ipam;
int k8c_ipam_new(const char *cidr, const char *file, struct k8c_ipam **ret, k8c_error_t *err);
void k8c_ipam_free(struct k8c_ipam *ipam);
/* The owner's IP, allocating the lowest free one if it has none. Caller frees. */
int k8c_ipam_allocate(struct k8c_ipam *ipam, const char *owner, char **ret_ip, k8c_error_t *err);
int k8c_ipam_release(struct k8c_ipam *ipam, const char *owner, k8c_error_t *err);
/* Owners holding an address (NULL-terminated, caller frees). */
char **k8c_ipam_owners(struct k8c_ipam *ipam);
/* Gateway (first host) address into buf. */
void k8c_ipam_gateway(const struct k8c_ipam *ipam, char buf[16]);

/* What the worker knows about one container for the status computation. */
struct k8c_container_view {
        const char *name;
        struct k8c_container_state state;
        struct k8c_container_state last; /* previous termination (phase EXITED) or ABSENT */
        int restart_count;
        const char *waiting_reason; /* when not running: "ContainerCreating", "CrashLoopBackOff", ... */
        const char *waiting_message;
        bool unready;     /* running, but its readiness probe has not succeeded (yet) */
        bool not_started; /* running, but its startup probe has not succeeded (yet) */
};

struct k8c_pod_view {
        const char *runtime_name; /* containerID scheme */
        const char *pod_ip;       /* NULL before the sandbox exists */
        const char *host_ip;
        time_t start_time;                           /* 0 = not started */
        const struct k8c_container_view *containers; /* in spec order */
        size_t ncontainers;
        bool will_restart;                      /* restart policy would restart an exited container */
        const struct k8c_container_view *inits; /* spec.initContainers order */
        size_t ninits;
        bool initialized; /* every init container exited 0 (true without any) */
        bool init_failed; /* an init container failed and will not be restarted */
        time_t now;
};

/* The status the kubelet owns (phase, conditions, podIP(s), hostIP, startTime,
 * containerStatuses), keeping lastTransitionTime from old_status for unchanged conditions. */
json_t *k8c_kubelet_pod_status(const json_t *pod, const struct k8c_pod_view *v, const json_t *old_status);
/* True when every key of new_status equals the same key of old_status. */
bool k8c_kubelet_status_equal(const json_t *new_status, const json_t *old_status);

/* ---- probes (probes.c) ---- */

typedef enum {
        K8C_PROBE_LIVENESS = 0,
        K8C_PROBE_READINESS,
        K8C_PROBE_STARTUP,
} k8c_probe_kind_t;

/* The timing of one probe, with Kubernetes' defaults applied. */
struct k8c_probe_spec {
        int64_t initial_delay_s;     /* 0 */
        int64_t period_s;            /* 10 */
        int64_t timeout_s;           /* 1 */
        int64_t success_threshold;   /* 1 (always 1 for liveness and startup) */
        int64_t failure_threshold;   /* 3 */
        int64_t termination_grace_s; /* probe-level terminationGracePeriodSeconds; -1 = the pod's */
};
void k8c_probe_spec_parse(const json_t *probe, k8c_probe_kind_t kind, struct k8c_probe_spec *ret);

typedef enum {
        K8C_PROBE_UNKNOWN = 0,
        K8C_PROBE_SUCCESS,
        K8C_PROBE_FAILURE,
} k8c_probe_result_t;

/* The result of a probe and its current streak, as the kubelet's prober worker keeps them. */
struct k8c_probe_state {
        k8c_probe_result_t result;
        int64_t successes, failures; /* consecutive */
};
/* Liveness starts as Success, readiness as Failure (not ready), startup as Unknown. */
void k8c_probe_state_init(struct k8c_probe_state *s, k8c_probe_kind_t kind);
/* Records one outcome: the result flips after successThreshold successes or failureThreshold
 * failures in a row. Returns true when the result changed. */
bool k8c_probe_state_record(struct k8c_probe_state *s, const struct k8c_probe_spec *spec, bool ok);
/* The port of an httpGet or tcpSocket handler: a number, or the name of one of the container's
 * ports. */
int k8c_probe_port(const json_t *container, const json_t *port, int *ret_port, k8c_error_t *err);
/* The URL an httpGet handler asks for: scheme://host:port/path, host defaulting to pod_ip. */
int k8c_probe_http_url(const json_t *container, const json_t *http_get, const char *pod_ip, char **ret_url,
                       k8c_error_t *err);
/* A probe handler this kubelet runs (exec, httpGet, tcpSocket)? */
bool k8c_probe_supported(const json_t *probe);

/* ---- volumes (volumes.c) ---- */

/* Checks (and for DirectoryOrCreate/FileOrCreate makes) a hostPath of the given type: "",
 * Directory, DirectoryOrCreate, File, FileOrCreate, Socket, CharDevice, BlockDevice. */
int k8c_hostpath_check(const char *path, const char *type, k8c_error_t *err);
/* A path inside a volume (items[].path, subPath): relative, without ".." elements. */
int k8c_volume_check_path(const char *path, k8c_error_t *err);

/* One file projected into a configMap, secret or downwardAPI volume. */
struct k8c_volume_file {
        char *path; /* relative */
        unsigned char *data;
        size_t len;
        int mode;
};
struct k8c_volume_files {
        struct k8c_volume_file *v;
        size_t n;
};
void k8c_volume_files_free(struct k8c_volume_files *f);
/* The files of a configMap or secret volume source from obj (the ConfigMap or Secret; NULL when it
 * does not exist): every key, or only items[] (key → path, mode), modes defaulting to defaultMode
 * (0644). A missing object or key is an error unless the source is optional. */
int k8c_volume_project(const json_t *source, const json_t *obj, bool is_secret, struct k8c_volume_files *ret,
                       k8c_error_t *err);
/* The files of a downwardAPI volume source: metadata.name, namespace, uid, labels, annotations. */
int k8c_volume_downward(const json_t *source, const json_t *pod, struct k8c_volume_files *ret,
                        k8c_error_t *err);
/* The files of a projected volume source: its configMap, secret and downwardAPI sources merged
 * (objs[i] is the ConfigMap or Secret of sources[i], NULL when absent or not one of those), modes
 * defaulting to the projected defaultMode; two sources writing one path is an error, and so is a
 * serviceAccountToken source (no TokenRequest here). */
int k8c_volume_projected(const json_t *source, const json_t *const *objs, const json_t *pod,
                         struct k8c_volume_files *ret, k8c_error_t *err);
/* The bind mounts of one container, [{destination, source, readOnly}], from its volumeMounts and
 * the pod's volumes resolved to host paths: volume_paths = {name: {"path": p, "readOnly": b}}. */
int k8c_volume_mounts(const json_t *container, const json_t *volume_paths, json_t **ret, k8c_error_t *err);

/* Back-off before the Nth restart (restarts ≥ 1): 10 s doubling to 5 min. */
int64_t k8c_kubelet_backoff_s(int restarts);

/* ---- QoS (qos.c, pure) ---- */

typedef enum {
        K8C_QOS_BEST_EFFORT = 0,
        K8C_QOS_BURSTABLE,
        K8C_QOS_GUARANTEED,
} k8c_qos_t;

/* qos.GetPodQOS over containers and init containers (a limit without a request counts as the
 * request, as after the apiserver's defaulting). */
k8c_qos_t k8c_pod_qos(const json_t *pod);
/* "Guaranteed", "Burstable", "BestEffort". */
const char *k8c_qos_name(k8c_qos_t q);
/* The oom_score_adj of a container: Guaranteed -997, BestEffort 1000, Burstable
 * 1000 - 1000*memoryRequest/memory_capacity clamped to [2, 999]. */
int k8c_oom_score_adj(const json_t *pod, const json_t *container, int64_t memory_capacity);
/* A container's request of "cpu" (millicores) or "memory" (bytes); its limit when no request. */
int64_t k8c_container_request(const json_t *container, const char *resource);
/* The pod's request: max(sum over app containers, largest init container). */
int64_t k8c_pod_request(const json_t *pod, const char *resource);

/* ---- stats (stats.c) ---- */

/* Cumulative counters of one cgroup (v1 cpuacct+memory, or v2). */
struct k8c_cgroup_stats {
        uint64_t cpu_ns;            /* cpu time used so far */
        int64_t memory_usage;       /* bytes */
        int64_t memory_working_set; /* usage - inactive_file (never below 0), as cAdvisor */
        int64_t memory_rss;
        int64_t memory_limit; /* 0 = unlimited */
};

/* Where measurements come from: this machine's cgroups and /proc, or a test's numbers. */
struct k8c_stats_source {
        void *opaque;
        /* A cgroup given relative to the kubelet's own ("k8c/node-1/pod<uid>/web"): 0, or negative
         * when it does not exist. */
        int (*cgroup)(void *opaque, const char *rel, struct k8c_cgroup_stats *ret);
        /* The whole machine: busy cpu time, MemTotal, and working set (MemTotal - MemAvailable). */
        int (*machine)(void *opaque, uint64_t *ret_cpu_ns, int64_t *ret_mem_total, int64_t *ret_mem_ws);
        /* The filesystem holding path: bytes and inodes. */
        int (*fs)(void *opaque, const char *path, int64_t *ret_capacity, int64_t *ret_available,
                  int64_t *ret_inodes, int64_t *ret_inodes_free);
};
extern const struct k8c_stats_source k8c_stats_source_host;

/* The node's Summary (stats/v1alpha1 as the kubelet's /stats/summary serves it) last sampled,
 * or NULL before the first sample. Caller decrefs. */
json_t *k8c_kubelet_stats_summary(struct k8c_kubelet *k);

/* ---- eviction (eviction.c) ---- */

typedef enum {
        K8C_SIGNAL_MEMORY_AVAILABLE = 0,
        K8C_SIGNAL_NODEFS_AVAILABLE,
        K8C_SIGNAL_NODEFS_INODES_FREE,
        K8C_SIGNAL_COUNT,
} k8c_eviction_signal_t;

struct k8c_eviction_threshold {
        k8c_eviction_signal_t signal;
        int64_t quantity;  /* bytes or inodes, when percentage is 0 */
        double percentage; /* of capacity, (0, 1] */
        bool hard;
        int64_t grace_ms; /* soft thresholds */
        char *value;      /* as given ("100Mi", "10%"), for messages */
};

struct k8c_eviction_config {
        struct k8c_eviction_threshold *t;
        size_t n;
};

/* Parses --eviction-hard / --eviction-soft / --eviction-soft-grace-period (any may be NULL or
 * empty). Only "<" is accepted, as in Kubernetes; a soft threshold without a grace period, or a
 * grace period without a soft threshold, is an error. */
int k8c_eviction_parse(const char *hard, const char *soft, const char *soft_grace,
                       struct k8c_eviction_config *ret, k8c_error_t *err);
void k8c_eviction_config_free(struct k8c_eviction_config *c);

/* What was measured: per signal available and capacity (have = measured). */
struct k8c_eviction_observation {
        bool have[K8C_SIGNAL_COUNT];
        int64_t available[K8C_SIGNAL_COUNT], capacity[K8C_SIGNAL_COUNT];
};

/* The threshold's value in the signal's unit for a capacity. */
int64_t k8c_eviction_threshold_value(const struct k8c_eviction_threshold *t, int64_t capacity);

/* Per threshold: met[i] when the observation crosses it now; reclaim[i] when it is hard and met,
 * or soft and met continuously for its grace period (first_met_ms[i] carries the time it was
 * first seen met, 0 = not met; updated). */
void k8c_eviction_evaluate(const struct k8c_eviction_config *cfg, const struct k8c_eviction_observation *obs,
                           int64_t now_ms, int64_t *first_met_ms, bool *met, bool *reclaim);

/* One pod as the ranking sees it. */
struct k8c_eviction_candidate {
        const json_t *pod;
        int64_t usage;   /* memory working set, or disk bytes */
        int64_t request; /* memory request, or ephemeral-storage request */
        int32_t priority;
};
/* Kubernetes' order: pods using more than their request first, then lower priority, then
 * larger usage above the request. Stable for equal keys. */
void k8c_eviction_rank(struct k8c_eviction_candidate *c, size_t n);

/* Kubernetes' eviction message: "The node was low on resource: memory. Threshold quantity: 100Mi,
 * available: 80Mi. Container x was using 300Mi, request is 0, has larger consumption of memory. "
 * The containers named (usage above request) come from names/usages (n of them). Caller frees. */
char *k8c_eviction_message(const char *resource, const char *threshold, int64_t available, const json_t *pod,
                           const char *const *names, const int64_t *usages, size_t n);

#endif

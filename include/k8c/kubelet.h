/*
 * kubelet.h - the node agent: registers the Node, heartbeats through a Lease,
 * and runs the pods bound to it through a container runtime behind an ops
 * table: runc (pod namespaces, a veth on the node bridge, OCI bundles over a
 * busybox rootfs) or fake (no containers, so one machine can simulate many
 * nodes); serves the kubelet API (healthz, pods, container logs).
 *
 * The pure pieces (capacity parsing, CIDR arithmetic, IPAM, pod status
 * computation, node object construction) are exposed here so unit tests can
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
        int workers;                /* pod worker threads; default 4 */
        int port;                   /* kubelet API port, reported as daemonEndpoints.kubeletEndpoint.Port */
        const char *address;        /* kubelet API address; NULL = no API server (tests) */
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
};

/* What the worker needs from a runtime. pod is the Pod object (borrowed). Every operation is
 * idempotent: creating an existing sandbox or removing an absent one succeeds. */
struct k8c_runtime_ops {
        const char *name; /* also the containerID scheme: "fake://..." */
        /* Makes the pod's sandbox (network etc.) and returns its IP (caller frees). */
        int (*create_sandbox)(void *rt, const json_t *pod, const char *pod_ip_hint, char **ret_ip,
                              k8c_error_t *err);
        int (*start_container)(void *rt, const json_t *pod, const json_t *container, int restart_count,
                               k8c_error_t *err);
        int (*container_status)(void *rt, const json_t *pod, const char *container,
                                struct k8c_container_state *ret, k8c_error_t *err);
        /* SIGTERM, wait up to grace_s, SIGKILL; then removes the container. */
        int (*stop_container)(void *rt, const json_t *pod, const char *container, int64_t grace_s,
                              k8c_error_t *err);
        int (*remove_sandbox)(void *rt, const json_t *pod, k8c_error_t *err);
        /* Runs argv in the running container (probes); its exit code, or a negative error (incl.
         * timeout). */
        int (*exec)(void *rt, const json_t *pod, const char *container, const char *const *argv,
                    int timeout_s, int *ret_exit_code, k8c_error_t *err);
        /* UIDs of the pods with a sandbox (NULL-terminated, caller frees). */
        int (*list)(void *rt, char ***ret_uids, k8c_error_t *err);
        void (*free)(void *rt);
        /* Streaming exec (kubelet API): starts argv in the running container and returns its pid
         * (the caller reaps it). With tty_path, stdin/stdout/stderr are that terminal (opened as the
         * controlling tty of a new session, so a resize reaches the process); otherwise fds[0..2]
         * (-1 = /dev/null). The exit status of the pid is the command's. */
        int (*exec_start)(void *rt, const json_t *pod, const char *container, const char *const *argv,
                          const int fds[3], const char *tty_path, pid_t *ret_pid, k8c_error_t *err);
        /* Path of the pod's network namespace (port-forward); NULL = the kubelet's own. Caller frees. */
        char *(*pod_netns)(void *rt, const json_t *pod);
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
        const char *busybox; /* default /bin/busybox */
        const char *bridge;  /* default k8c0 */
};
int k8c_runc_runtime_new(const struct k8c_runc_config *cfg, void **ret_rt, k8c_error_t *err);
extern const struct k8c_runtime_ops k8c_runc_runtime_ops;

/* What the OCI config.json of one container is made from (oci.c, pure). */
struct k8c_oci_inputs {
        const json_t *pod;
        const json_t *container;
        const char *pod_ip;
        const char *node_name;
        const char *netns;         /* path joined */
        const char *pod_dir;       /* holds uts, ipc, hosts, resolv.conf, hostname */
        const char *cgroup_parent; /* cgroupsPath = <parent>/pod<uid>/<container> */
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
        bool unready; /* running, but its readiness probe has not succeeded (yet) */
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

/* Back-off before the Nth restart (restarts ≥ 1): 10 s doubling to 5 min. */
int64_t k8c_kubelet_backoff_s(int restarts);

#endif

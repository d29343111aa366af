/*
 * kubelet_int.h - what the kubelet's own files share: the daemon state and
 * the node helpers used by the heartbeat. Not a public header.
 */
#ifndef K8C_KUBELET_INT_H
#define K8C_KUBELET_INT_H

#include <pthread.h>

#include "k8c/informer.h"
#include "k8c/kubelet.h"
#include "k8c/strmap.h"
#include "k8c/workqueue.h"

int64_t k8c_kubelet_meminfo(const char *field);
/* MemoryPressure, DiskPressure, PIDPressure and Ready (False with not_ready as its message when
 * non-NULL), without times. */
json_t *k8c_kubelet_node_conditions(const char *root_dir, const char *not_ready);
/* Sets lastHeartbeatTime = now and lastTransitionTime (kept from old_conds when unchanged). */
void k8c_kubelet_stamp_conditions(json_t *conds, const json_t *old_conds, const char *now);

struct MHD_Daemon;

struct kubelet_container {
        char *name;
        int restarts;
        struct k8c_container_state last; /* previous termination */
        time_t backoff_until;            /* no restart before this */
        bool done;                       /* init container: exited 0 for good */
        /* Killed by a failed liveness/startup probe (phase EXITED, exit 137) until restarted: stands
         * in for the removed container, so restartPolicy and back-off apply as to any exit. */
        struct k8c_container_state killed;
        struct k8c_container_state final; /* init container: that exit */
};

/* What the worker remembers about one pod (keyed "namespace/name"). */
struct kubelet_pod {
        char *uid;
        json_t *pod; /* last seen object, for tear-down after it left the cache */
        char *ip;
        time_t start_time;
        struct kubelet_container *containers;
        size_t ncontainers;
        struct kubelet_container *inits; /* spec.initContainers */
        size_t ninits;
        json_t *last_status;       /* last status written */
        json_t *volume_paths;      /* {volume name: {path, readOnly}} once the volumes are set up */
        time_t volumes_refresh_at; /* next look at configMap/secret/downwardAPI sources */
        char *netns;               /* where network probes connect from (NULL: the runtime answers them) */
};

struct k8c_kubelet {
        struct k8c_client *client;
        char *node_name, *node_ip, *root_dir, *capacity, *node_labels, *taints, *runtime_name;
        char *address, *runc_root, *runc_binary, *log_dir, *netns_dir, *node_netns, *cgroup_parent;
        struct k8c_kubelet_config cfg; /* strings point at the copies above */

        pthread_mutex_t lock; /* pod_cidr, rt, pods */
        pthread_cond_t cond;  /* wakes the heartbeat on stop */
        bool stopping;
        char *pod_cidr;
        char *runtime_error; /* why the runtime is not up yet (NULL once it is) */
        const struct k8c_runtime_ops *rt_ops;
        void *rt;
        struct k8c_strmap pods;    /* key → struct kubelet_pod */
        struct k8c_strmap deleted; /* key → uid (char *) of pods torn down and DELETEd, awaiting removal */

        struct k8c_informer *informer;
        struct k8c_workqueue *queue;
        pthread_t *workers;
        int nworkers;
        pthread_t heartbeat;
        bool heartbeat_started;
        struct MHD_Daemon *server; /* kubelet API */
        struct k8c_event_recorder *events;
        struct k8c_prober *prober;
        /* The node status registration wrote, handed to the heartbeat so it does not write it again. */
        json_t *registered_status;
        /* Counters for tests. */
        uint64_t lease_renewals, status_writes, pod_status_writes;
        /* Stats sampling and the eviction manager (stats.c, eviction.c). */
        struct kubelet_stats *stats;
        struct kubelet_eviction *eviction;
};

/* heartbeat.c */
int k8c_kubelet_register_node(struct k8c_kubelet *k, k8c_error_t *err);
void *k8c_kubelet_heartbeat_main(void *opaque);
/* Creates the runtime once the podCIDR is known (idempotent). Caller holds k->lock. */
int k8c_kubelet_ensure_runtime_locked(struct k8c_kubelet *k, const char *pod_cidr, k8c_error_t *err);

/* server.c */
int k8c_kubelet_server_start(struct k8c_kubelet *k, k8c_error_t *err);
void k8c_kubelet_server_stop(struct k8c_kubelet *k);
char *k8c_kubelet_log_path(struct k8c_kubelet *k, const char *ns, const char *pod, const char *uid,
                           const char *container, int restart);

/* probes.c: the prober runs every probe of every running container on its own timer in a small
 * thread pool, keeps the results, and calls changed(pod key) when one flips, so the pod worker
 * (which acts on results: restarts, readiness) is woken without ever waiting on a probe. */
struct k8c_prober;
struct k8c_prober *k8c_prober_new(int threads, struct k8c_event_recorder *events,
                                  void (*changed)(void *opaque, const char *pod_key), void *opaque);
/* Stops and joins the threads (a running probe finishes first), then frees. */
void k8c_prober_free(struct k8c_prober *p);

/* One running container instance whose probes should run. */
struct k8c_prober_container {
        const char *pod_key;
        const json_t *pod;
        const json_t *container; /* its spec */
        const char *container_id;
        time_t started_at;
        const char *pod_ip;
        const char *netns; /* NULL: network probes go through ops->exec */
        const struct k8c_runtime_ops *ops;
        void *rt;
};
/* Registers (or refreshes) the probes of the container; a new container_id starts them afresh. */
void k8c_prober_update(struct k8c_prober *p, const struct k8c_prober_container *c);

struct k8c_probe_results {
        bool started;           /* no startup probe, or it succeeded */
        bool ready;             /* started, and no readiness probe or it succeeded */
        bool kill;              /* liveness or startup probe failed past its threshold */
        int64_t kill_grace_s;   /* probe-level terminationGracePeriodSeconds of that probe, or -1 */
        const char *kill_probe; /* "liveness" or "startup" */
};
void k8c_prober_results(struct k8c_prober *p, const char *uid, const char *container,
                        const char *container_id, struct k8c_probe_results *ret);
/* Forgets the probes of a container (exited, killed) or of every container of a pod. */
void k8c_prober_remove_container(struct k8c_prober *p, const char *uid, const char *container);
void k8c_prober_remove_pod(struct k8c_prober *p, const char *uid);
/* Probes run so far (tests). */
uint64_t k8c_prober_runs(struct k8c_prober *p);

/* volumes.c: volumes live under <root_dir>/pods/<uid>/volumes/<plugin>/<name>; hostPath and
 * persistent volumes are used where they are and never removed. */
/* Sets up every volume of the pod; *ret_paths = {name: {"path", "readOnly"}}. */
int k8c_kubelet_volumes_setup(struct k8c_kubelet *k, const json_t *pod, const char *pod_ip,
                              json_t **ret_paths, k8c_error_t *err);
/* Rewrites the configMap, secret and downwardAPI volumes whose sources changed (atomically: a
 * container sees the old or the new files, never a mix). */
int k8c_kubelet_volumes_refresh(struct k8c_kubelet *k, const json_t *pod, k8c_error_t *err);
/* Unmounts and removes the pod's own volumes (emptyDir, configMap, secret, downwardAPI). */
int k8c_kubelet_volumes_teardown(struct k8c_kubelet *k, const char *uid, k8c_error_t *err);
/* k8c_volume_mounts plus the subPath directories made when absent (as the kubelet does). */
int k8c_kubelet_container_mounts(const json_t *volume_paths, const json_t *container, json_t **ret,
                                 k8c_error_t *err);
/* stats.c: the housekeeping thread samples cgroups into the Summary, then runs an eviction
 * check. */
int k8c_kubelet_stats_start(struct k8c_kubelet *k, k8c_error_t *err);
void k8c_kubelet_stats_stop(struct k8c_kubelet *k);
/* Node memory capacity in bytes: --capacity memory=, else MemTotal. */
int64_t k8c_kubelet_memory_capacity(struct k8c_kubelet *k);

/* eviction.c */
struct kubelet_pod_usage {
        json_t *pod; /* owned */
        char *key;
        int64_t mem_ws;     /* pod working set; -1 = not measured */
        size_t ncontainers; /* measured containers */
        char **names;       /* their names */
        int64_t *mem;       /* their working sets */
};
/* Parses the eviction flags of k->cfg. */
int k8c_kubelet_eviction_init(struct k8c_kubelet *k, k8c_error_t *err);
void k8c_kubelet_eviction_free(struct k8c_kubelet *k);
/* One check after a sample: conditions updated, at most one pod evicted. */
void k8c_kubelet_eviction_step(struct k8c_kubelet *k, const struct k8c_eviction_observation *obs,
                               const struct kubelet_pod_usage *pods, size_t npods);
/* Sets MemoryPressure/DiskPressure in conds (node conditions, without times) from the manager. */
void k8c_kubelet_eviction_conditions(struct k8c_kubelet *k, json_t *conds);
/* The pod worker's hook: for an evicted pod, stops its containers and writes the Failed/Evicted
 * status once. Returns 1 when the pod is evicted (the worker must not run it), 0 when not, or a
 * negative error. */
int k8c_kubelet_eviction_sync(struct k8c_kubelet *k, const json_t *pod, k8c_error_t *err);
/* streaming.c: exec and port-forward on the kubelet API (WebSocket, SPDY) */
struct MHD_Connection;
/* Serves /exec/... and /portForward/...; anything else returns -1 (not ours). */
int k8c_kubelet_stream_request(struct k8c_kubelet *k, struct MHD_Connection *conn, const char *url);
/* Ends every open exec/port-forward session of k and waits for them (before MHD_stop_daemon). */
void k8c_kubelet_streams_stop(struct k8c_kubelet *k);
/* posix_spawn of argv with fds[0..2] (-1 = /dev/null) or, with tty_path, that terminal as the
 * controlling tty of a new session. Used by the runtimes' exec_start. */
int k8c_kubelet_spawn_stdio(const char *const *argv, const int fds[3], const char *tty_path, pid_t *ret_pid,
                            k8c_error_t *err);

/* pods.c */
void *k8c_kubelet_worker_main(void *opaque);
void k8c_kubelet_pods_free(struct k8c_kubelet *k);
/* Removes sandboxes whose pods are gone (e.g. deleted while the kubelet was down). */
void k8c_kubelet_housekeeping(struct k8c_kubelet *k);
extern const struct k8c_informer_handlers k8c_kubelet_pod_handlers;

#endif

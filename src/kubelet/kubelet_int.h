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
        /* Probes of the current run: readiness result and streaks, liveness failures. */
        bool ready;
        int ready_ok, ready_fail, live_fail;
        time_t next_ready_probe, next_live_probe;
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
        json_t *last_status; /* last status written */
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
        /* The node status registration wrote, handed to the heartbeat so it does not write it again. */
        json_t *registered_status;
        /* Counters for tests. */
        uint64_t lease_renewals, status_writes, pod_status_writes;
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

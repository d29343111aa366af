/*
 * lab.h - k8c-lab: a kind-style cluster on one machine. A lab bridge
 * "<name>-br" on the host with a private /24 derived from the lab's name, one
 * network namespace per node ("<name>-node-<i>", no route off the lab), the
 * control plane on the host side (listening on the bridge address and on a
 * per-lab loopback address), a kubelet and a proxy in every node netns (each
 * in a cgroup capped at the node's capacity), a docker-registry holding a
 * busybox image the lab builds itself, and a kubeconfig.
 *
 * Everything a lab makes carries its name as prefix and is recorded in
 * <dir>/lab.json, so `down` removes it all and then checks nothing is left.
 */
#ifndef K8C_LAB_H
#define K8C_LAB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k8c/error.h"

struct k8c_lab_config {
        const char *name;          /* [a-z0-9-], at most 10 characters; NULL = "lab", or for logs, exec
                                    * and node the <name> of the node "<name>-node-<i>" they are given */
        int nodes;                 /* default 2 */
        const char *node_capacity; /* default "cpu=2,memory=2Gi" */
        const char *storage;       /* "sqlite" (default) or "etcd" */
        const char *dir;           /* default /var/lib/k8c-lab/<name> */
        const char *bindir;        /* where the k8c binaries are; default the directory of k8c-lab */
        bool quiet;                /* no progress lines */
};

/* Addresses of a lab, all derived from its name (pure). */
struct k8c_lab_net {
        uint8_t a, b;         /* subnet 10.a.b.0/24 */
        char subnet[20];      /* "10.a.b.0/24" */
        char bridge_ip[16];   /* 10.a.b.1 */
        char loopback_ip[16]; /* 127.a.b.1: the apiserver as the host sees it */
        char bridge[16];      /* "<name>-br" */
};
int k8c_lab_net_for(const char *name, struct k8c_lab_net *ret, k8c_error_t *err);
/* 10.a.b.(10+i) for node i (1-based) into buf. */
void k8c_lab_node_ip(const struct k8c_lab_net *net, int i, char buf[16]);

enum { K8C_LAB_API_PORT = 6443, K8C_LAB_REGISTRY_PORT = 5000 };

int k8c_lab_up(const struct k8c_lab_config *cfg, k8c_error_t *err);
/* Removes everything; returns the number of leftovers found afterwards (0 = clean) or < 0. */
int k8c_lab_down(const struct k8c_lab_config *cfg, k8c_error_t *err);
int k8c_lab_status(const struct k8c_lab_config *cfg, k8c_error_t *err);
/* Prints the kubeconfig path. */
int k8c_lab_kubeconfig(const struct k8c_lab_config *cfg, k8c_error_t *err);
/* Prints a daemon's log: daemon is apiserver|controller-manager|scheduler|registry|etcd (node
 * ignored) or kubelet|proxy of node. */
int k8c_lab_logs(const struct k8c_lab_config *cfg, const char *node, const char *daemon, k8c_error_t *err);
/* Runs argv inside the node's netns (execvp; returns only on error). */
int k8c_lab_exec(const struct k8c_lab_config *cfg, const char *node, char *const *argv, k8c_error_t *err);
/* stop|start|freeze|thaw|partition|heal */
int k8c_lab_node(const struct k8c_lab_config *cfg, const char *action, const char *node, k8c_error_t *err);

/* ---- pieces (lab_*.c) ---- */

/* net (libnl); the bridge itself is the kubelet's k8c_net_ensure_bridge(NULL, ...). */
/* A veth host_if on bridge with its peer "eth0" made inside netns, eth0 given addr_cidr, lo up,
 * ip_forward on in the netns. No default route. */
int k8c_lab_net_attach_node(const char *netns, const char *bridge, const char *host_if, const char *addr_cidr,
                            k8c_error_t *err);
/* Route dst via gw (NULL: directly on dev) inside netns; an existing one is replaced. */
int k8c_lab_net_route(const char *netns, const char *dst, const char *gw, const char *dev, k8c_error_t *err);
/* Sets a link (in the host netns) up or down. */
int k8c_lab_net_link_set_up(const char *ifname, bool up, k8c_error_t *err);

/* cgroups: one directory "k8c-lab-<name>/<leaf>" below this process's own cgroup in every
 * hierarchy; the paths made are appended to *paths (a JSON array). */
int k8c_lab_cgroup_create(const char *name, const char *leaf, int64_t cpu_milli, int64_t memory_bytes,
                          json_t *paths, k8c_error_t *err);
/* Moves pid into every cgroup of paths whose last component is leaf. */
int k8c_lab_cgroup_join(const json_t *paths, const char *leaf, pid_t pid, k8c_error_t *err);
/* Freezes or thaws the leaf (v1 freezer.state or v2 cgroup.freeze). */
int k8c_lab_cgroup_freeze(const json_t *paths, const char *leaf, bool frozen, k8c_error_t *err);
/* The lab's top cgroup directories ("k8c-lab-<name>") that exist, in every hierarchy. */
json_t *k8c_lab_cgroup_find(const char *name);
/* Kills every process below each path and removes the directories, deepest first. */
void k8c_lab_cgroup_destroy(const json_t *paths);
/* A process's resident memory in kB: RSS (shared library pages counted in full) and PSS (shared
 * pages divided among the processes sharing them, so PSS sums to real use). */
void k8c_lab_mem_kb(pid_t pid, long *ret_rss, long *ret_pss);

/* image: builds busybox:latest (OCI) from busybox_path into memory and pushes it as library/busybox (what
 * docker.io/library/busybox resolves to through a mirror) to the registry at
 * base_url (e.g. http://10.200.3.1:5000). ret_digest (optional) gets the manifest digest. */
int k8c_lab_push_busybox(const char *base_url, const char *busybox_path, char **ret_digest, k8c_error_t *err);
/* The two registry API steps it is made of: a blob upload (POST, then PUT ?digest=) and a manifest PUT. */
int k8c_lab_registry_push_blob(const char *base_url, const char *repo, const char *digest, const void *data,
                               size_t len, k8c_error_t *err);
int k8c_lab_registry_put_manifest(const char *base_url, const char *repo, const char *tag,
                                  const char *media_type, const char *manifest, k8c_error_t *err);

/* processes: spawn argv with output appended to log_path, in netns (NULL = host) and in the leaf
 * cgroups (NULL = none), detached into its own session; writes "<pid> <starttime>" to pid_path. */
int k8c_lab_spawn(char *const *argv, const char *log_path, const char *netns, const json_t *cgroups,
                  const char *leaf, const char *pid_path, pid_t *ret_pid, k8c_error_t *err);
/* The pid of a pid file if that process is still the one started (0 if not running). */
pid_t k8c_lab_pidfile_alive(const char *pid_path);
/* SIGTERM, up to timeout_ms, SIGKILL; removes the pid file. */
void k8c_lab_pidfile_stop(const char *pid_path, int timeout_ms);

#endif

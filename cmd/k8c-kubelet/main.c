/*
 * k8c-kubelet - flag parsing and wiring only; the logic lives in src/kubelet/.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/flags.h"
#include "k8c/kubelet.h"
#include "k8c/log.h"
#include "k8c/quantity.h"

static volatile bool stop;

static void on_signal(int sig)
{
        stop = true;
}

int main(int argc, char **argv)
{
        char *kubeconfig = NULL;
        char *server = NULL;
        char *hostname_override = NULL;
        char *node_ip = NULL;
        char *root_dir = "/var/lib/k8c/kubelet";
        char *capacity = NULL;
        char *node_labels = NULL;
        char *taints = NULL;
        char *pod_cidr = NULL;
        char *runtime = "runc";
        char *node_netns = NULL;
        int64_t lease_interval_ms = 10000;
        int64_t status_interval_ms = 60000;
        char *runc_root = NULL, *runc_binary = NULL, *log_dir = NULL, *netns_dir = NULL,
             *cgroup_parent = NULL;
        char *address = "0.0.0.0";
        char *registry_mirror = NULL;
        char *cluster_dns = NULL;
        char *image_gc_budget = NULL;
        int64_t image_gc_min_age_ms = 120000;
        char *eviction_hard = NULL, *eviction_soft = NULL, *eviction_soft_grace = NULL;
        int64_t eviction_transition_ms = 5 * 60 * 1000;
        int64_t housekeeping_ms = 10000;
        int port = 10250;
        const struct k8c_flag flags[] = {
                { "kubeconfig", 0, K8C_FLAG_STRING, &kubeconfig,
                  "path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config)", NULL },
                { "server", 0, K8C_FLAG_STRING, &server,
                  "address of the API server (overrides the kubeconfig)", NULL },
                { "hostname-override", 0, K8C_FLAG_STRING, &hostname_override,
                  "node name to register instead of the hostname", NULL },
                { "node-ip", 0, K8C_FLAG_STRING, &node_ip, "the node's InternalIP", NULL },
                { "root-dir", 0, K8C_FLAG_STRING, &root_dir, "directory for kubelet state", NULL },
                { "capacity", 0, K8C_FLAG_STRING, &capacity,
                  "node capacity, e.g. cpu=4,memory=8Gi,pods=110 (default: measured)", NULL },
                { "node-labels", 0, K8C_FLAG_STRING, &node_labels, "extra node labels, k=v,k2=v2", NULL },
                { "register-with-taints", 0, K8C_FLAG_STRING, &taints,
                  "taints to register with, key=value:Effect,...", NULL },
                { "pod-cidr", 0, K8C_FLAG_STRING, &pod_cidr,
                  "podCIDR to use instead of the one from the Node object", NULL },
                { "runtime", 0, K8C_FLAG_STRING, &runtime,
                  "container runtime: runc or fake (no containers; pods reported Running)", NULL },
                { "runc-root", 0, K8C_FLAG_STRING, &runc_root,
                  "runc state directory (default <root-dir>/runc)", NULL },
                { "runc", 0, K8C_FLAG_STRING, &runc_binary, "runc binary (default runc from PATH)", NULL },
                { "pod-log-dir", 0, K8C_FLAG_STRING, &log_dir,
                  "container logs <ns>_<pod>_<uid>/<container>/<restart>.log (default <root-dir>/logs)",
                  NULL },
                { "netns-dir", 0, K8C_FLAG_STRING, &netns_dir,
                  "where pod netns files live (default /run/netns)", NULL },
                { "cgroup-parent", 0, K8C_FLAG_STRING, &cgroup_parent,
                  "pods' cgroups parent, relative to the kubelet's (default k8c/<node>)", NULL },
                { "address", 0, K8C_FLAG_STRING, &address, "address of the kubelet API", NULL },
                { "node-netns", 0, K8C_FLAG_STRING, &node_netns,
                  "netns file of the node's network (bridge, veths); default: the kubelet's own", NULL },
                { "node-lease-interval", 0, K8C_FLAG_DURATION, &lease_interval_ms,
                  "how often the node Lease is renewed", NULL },
                { "node-status-update-frequency", 0, K8C_FLAG_DURATION, &status_interval_ms,
                  "node status is written at least this often", NULL },
                { "port", 0, K8C_FLAG_INT, &port, "port of the kubelet API", NULL },
                { "registry-mirror", 0, K8C_FLAG_STRING, &registry_mirror,
                  "http://host:port: pull images (docker.io ones from this mirror) into <root-dir>/images; "
                  "default: every container runs on the host's busybox",
                  NULL },
                { "cluster-dns", 0, K8C_FLAG_STRING, &cluster_dns,
                  "IPv4 address of the cluster DNS service, written as the pods' resolv.conf nameserver",
                  NULL },
                { "image-gc-budget", 0, K8C_FLAG_STRING, &image_gc_budget,
                  "remove unused images (least recently used first) while the image store holds more than "
                  "this, e.g. 2Gi (default: never)",
                  NULL },
                { "image-minimum-gc-age", 0, K8C_FLAG_DURATION, &image_gc_min_age_ms,
                  "an image used more recently than this is never collected", NULL },
                { "eviction-hard", 0, K8C_FLAG_STRING, &eviction_hard,
                  "hard eviction thresholds, e.g. memory.available<100Mi,nodefs.available<10% "
                  "(default: Kubernetes' defaults)",
                  NULL },
                { "eviction-soft", 0, K8C_FLAG_STRING, &eviction_soft,
                  "soft eviction thresholds, e.g. memory.available<300Mi", NULL },
                { "eviction-soft-grace-period", 0, K8C_FLAG_STRING, &eviction_soft_grace,
                  "grace periods of the soft thresholds, e.g. memory.available=30s", NULL },
                { "eviction-pressure-transition-period", 0, K8C_FLAG_DURATION, &eviction_transition_ms,
                  "how long a pressure condition stays True after the threshold was last met", NULL },
                { "housekeeping-interval", 0, K8C_FLAG_DURATION, &housekeeping_ms,
                  "how often stats are sampled and eviction thresholds checked", NULL },
                { "v", 'v', K8C_FLAG_INT, &k8c_log_v, "log verbosity", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        struct k8c_flags_result args;
        k8c_flags_parse_or_exit(flags, argc, argv, "k8c-kubelet", "[flags]", &args);
        k8c_flags_result_free(&args);
        k8c_log_set_component("kubelet");

        cleanup_error k8c_error_t err = NULL;
        struct k8c_client *client = NULL;
        if (k8c_client_new_from_kubeconfig(kubeconfig, NULL, server, &client, &err) < 0) {
                k8c_log_error("cannot create API client", "err=\"%s\"", k8c_error_msg(&err));
                return 1;
        }
        int64_t gc_budget = 0;
        if (image_gc_budget != NULL) {
                k8c_quantity_t q;
                if (k8c_quantity_parse(image_gc_budget, &q, &err) < 0) {
                        k8c_log_error("bad --image-gc-budget", "value=%s err=\"%s\"", image_gc_budget,
                                      k8c_error_msg(&err));
                        return 1;
                }
                gc_budget = k8c_quantity_value(&q);
        }
        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        const struct k8c_kubelet_config cfg = {
                .client = client,
                .node_name = hostname_override,
                .node_ip = node_ip,
                .root_dir = root_dir,
                .capacity = capacity,
                .node_labels = node_labels,
                .taints = taints,
                .pod_cidr = pod_cidr,
                .runtime = runtime,
                .runc_root = runc_root,
                .runc_binary = runc_binary,
                .log_dir = log_dir,
                .netns_dir = netns_dir,
                .cgroup_parent = cgroup_parent,
                .node_netns = node_netns,
                .address = address,
                .lease_interval_ms = lease_interval_ms,
                .status_interval_ms = status_interval_ms,
                .port = port,
                .registry_mirror = registry_mirror,
                .cluster_dns = cluster_dns,
                .image_gc_budget = gc_budget,
                .image_gc_min_age_ms = image_gc_min_age_ms,
                .eviction_hard = eviction_hard,
                .eviction_soft = eviction_soft,
                .eviction_soft_grace_period = eviction_soft_grace,
                .eviction_pressure_transition_ms = eviction_transition_ms,
                .housekeeping_interval_ms = housekeeping_ms,
        };
        int r = k8c_kubelet_run(&cfg, &stop, &err);
        if (r < 0)
                k8c_log_error("kubelet failed", "err=\"%s\"", k8c_error_msg(&err));
        k8c_client_free(client);
        return r < 0 ? 1 : 0;
}

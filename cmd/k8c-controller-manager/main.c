/*
 * k8c-controller-manager - flag parsing and wiring only; the controllers live in
 * src/controllers.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "k8c/cleanup.h"
#include "k8c/controllers.h"
#include "k8c/flags.h"
#include "k8c/log.h"

int main(int argc, char **argv)
{
        char *kubeconfig = NULL;
        char *server = NULL;
        char *controllers = "*";
        bool leader_elect = false;
        char *bind_address = "127.0.0.1";
        int port = 10257;
        int workers = 2;
        int64_t resync_ms = 5 * 60 * 1000;
        char *cluster_cidr = "10.244.0.0/16";
        int node_cidr_mask = 24;
        int64_t grace_ms = 40000, period_ms = 5000, eviction_ms = 5 * 60 * 1000;
        int64_t hpa_sync_ms = 15000, hpa_window_ms = 5 * 60 * 1000, hpa_cpu_init_ms = 5 * 60 * 1000,
                hpa_ready_delay_ms = 30000;
        char *hpa_tolerance = "0.1";
        char *hpa_metrics_url = NULL;
        char *lb_range = NULL;
        const struct k8c_flag flags[] = {
                { "kubeconfig", 0, K8C_FLAG_STRING, &kubeconfig,
                  "path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config)", NULL },
                { "server", 0, K8C_FLAG_STRING, &server,
                  "address of the API server (overrides the kubeconfig)", NULL },
                { "controllers", 0, K8C_FLAG_STRING, &controllers,
                  "controllers to run (replicaset, deployment, garbagecollector, endpoints, namespace, "
                  "nodeipam, "
                  "endpointslice, nodelifecycle, horizontalpodautoscaling, persistentvolume-binder): * for "
                  "all, "
                  "-name to disable one",
                  NULL },
                { "leader-elect", 0, K8C_FLAG_BOOL, &leader_elect,
                  "run leader election (Lease kube-system/k8c-controller-manager) before starting "
                  "controllers",
                  NULL },
                { "bind-address", 0, K8C_FLAG_STRING, &bind_address,
                  "address of the /healthz /readyz /metrics server", NULL },
                { "port", 0, K8C_FLAG_INT, &port, "port of the /healthz /readyz /metrics server (0 = off)",
                  NULL },
                { "concurrent-syncs", 0, K8C_FLAG_INT, &workers, "workers per controller", NULL },
                { "min-resync-period", 0, K8C_FLAG_DURATION, &resync_ms, "informer resync period", NULL },
                { "cluster-cidr", 0, K8C_FLAG_STRING, &cluster_cidr,
                  "CIDR from which node podCIDRs are allocated", NULL },
                { "node-cidr-mask-size", 0, K8C_FLAG_INT, &node_cidr_mask,
                  "prefix length of each node's podCIDR", NULL },
                { "node-monitor-grace-period", 0, K8C_FLAG_DURATION, &grace_ms,
                  "how long a node's Lease may go unrenewed before the node is unreachable", NULL },
                { "node-monitor-period", 0, K8C_FLAG_DURATION, &period_ms, "how often node health is checked",
                  NULL },
                { "pod-eviction-timeout", 0, K8C_FLAG_DURATION, &eviction_ms,
                  "how long pods stay on an unreachable node (without a toleration) before deletion", NULL },
                { "horizontal-pod-autoscaler-sync-period", 0, K8C_FLAG_DURATION, &hpa_sync_ms,
                  "how often each HorizontalPodAutoscaler is reconciled", NULL },
                { "horizontal-pod-autoscaler-downscale-stabilization", 0, K8C_FLAG_DURATION, &hpa_window_ms,
                  "how far back the highest recommendation holds a scale-down (without spec.behavior)",
                  NULL },
                { "horizontal-pod-autoscaler-tolerance", 0, K8C_FLAG_STRING, &hpa_tolerance,
                  "minimum change of the usage ratio (from 1.0) that rescales", NULL },
                { "horizontal-pod-autoscaler-cpu-initialization-period", 0, K8C_FLAG_DURATION,
                  &hpa_cpu_init_ms,
                  "after a pod starts, cpu samples count only once it is ready and a whole window was "
                  "measured",
                  NULL },
                { "horizontal-pod-autoscaler-initial-readiness-delay", 0, K8C_FLAG_DURATION,
                  &hpa_ready_delay_ms,
                  "after a pod starts, readiness changes in this time count as never-ready", NULL },
                { "loadbalancer-ip-range", 0, K8C_FLAG_STRING, &lb_range,
                  "addresses for Services of type LoadBalancer (first-last or a CIDR), written to "
                  "status.loadBalancer.ingress by the servicelb controller; unset = servicelb off",
                  NULL },
                { "horizontal-pod-autoscaler-metrics-url", 0, K8C_FLAG_STRING, &hpa_metrics_url,
                  "read metrics.k8s.io PodMetrics from this server instead of the API server", NULL },
                { "v", 'v', K8C_FLAG_INT, &k8c_log_v, "log verbosity", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        struct k8c_flags_result args;
        k8c_flags_parse_or_exit(flags, argc, argv, "k8c-controller-manager", "[flags]", &args);
        k8c_flags_result_free(&args);
        k8c_log_set_component("controller-manager");

        struct k8c_controller_manager_config cfg = {
                .kubeconfig = kubeconfig,
                .server = server,
                .controllers = controllers,
                .leader_elect = leader_elect,
                .bind_address = bind_address,
                .port = port,
                .workers = workers,
                .resync_ms = resync_ms,
                .cluster_cidr = cluster_cidr,
                .node_cidr_mask = node_cidr_mask,
                .node_monitor_grace_ms = grace_ms,
                .node_monitor_period_ms = period_ms,
                .pod_eviction_timeout_ms = eviction_ms,
                .hpa = { .sync_period_ms = hpa_sync_ms,
                         .downscale_window_ms = hpa_window_ms > 0 ? hpa_window_ms : -1,
                         .tolerance = strtod(hpa_tolerance, NULL),
                         .cpu_init_period_ms = hpa_cpu_init_ms,
                         .readiness_delay_ms = hpa_ready_delay_ms },
                .hpa_metrics_url = hpa_metrics_url,
                .loadbalancer_ip_range = lb_range,
        };
        cleanup_error k8c_error_t err = NULL;
        if (k8c_controller_manager_run(&cfg, &err) < 0) {
                char q[1024];
                k8c_log_error("controller-manager failed", "error=%s",
                              k8c_log_quote(q, sizeof(q), k8c_error_msg(&err)));
                return 1;
        }
        return 0;
}

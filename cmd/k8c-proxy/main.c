/*
 * k8c-proxy - flag parsing and wiring only; the logic lives in src/proxy/.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/flags.h"
#include "k8c/log.h"
#include "k8c/proxy.h"

int main(int argc, char **argv)
{
        char *kubeconfig = NULL;
        char *server = NULL;
        char *hostname = NULL;
        char *cluster_cidr = NULL;
        char *metrics_bind = NULL;
        char *dns_bind = NULL;
        char *cluster_domain = NULL;
        char **nodeport_addresses = NULL;
        bool cleanup = false;
        int64_t min_sync = 100;
        int64_t sync_period = 30000;
        int masq_bit = 14;
        const struct k8c_flag flags[] = {
                { "kubeconfig", 0, K8C_FLAG_STRING, &kubeconfig,
                  "path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config)", NULL },
                { "server", 0, K8C_FLAG_STRING, &server,
                  "address of the API server (overrides the kubeconfig)", NULL },
                { "hostname-override", 0, K8C_FLAG_STRING, &hostname, "name of this node (default: hostname)",
                  NULL },
                { "cluster-cidr", 0, K8C_FLAG_STRING, &cluster_cidr,
                  "pod CIDR of the cluster; traffic to a ClusterIP from outside it is masqueraded", NULL },
                { "nodeport-addresses", 0, K8C_FLAG_STRING_ARRAY, &nodeport_addresses,
                  "IPv4 addresses NodePorts answer on (repeatable; default every local address)", NULL },
                { "masquerade-bit", 0, K8C_FLAG_INT, &masq_bit, "fwmark bit (0-31) marking traffic to SNAT",
                  NULL },
                { "cleanup", 0, K8C_FLAG_BOOL, &cleanup,
                  "remove every rule and chain k8c-proxy owns, then exit", NULL },
                { "min-sync-period", 0, K8C_FLAG_DURATION, &min_sync, "minimum interval between rule syncs",
                  NULL },
                { "sync-period", 0, K8C_FLAG_DURATION, &sync_period,
                  "maximum interval between full rule syncs", NULL },
                { "metrics-bind-address", 0, K8C_FLAG_STRING, &metrics_bind,
                  "address:port of /healthz /readyz /metrics (default 127.0.0.1:10249; empty = off)", NULL },
                { "dns-bind-address", 0, K8C_FLAG_STRING, &dns_bind,
                  "address:port to serve cluster DNS on, UDP and TCP (default: no DNS)", NULL },
                { "cluster-domain", 0, K8C_FLAG_STRING, &cluster_domain,
                  "cluster DNS domain (default cluster.local)", NULL },
                { "v", 'v', K8C_FLAG_INT, &k8c_log_v, "log verbosity", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        struct k8c_flags_result args;
        k8c_flags_parse_or_exit(flags, argc, argv, "k8c-proxy", "[flags]", &args);
        k8c_flags_result_free(&args);
        k8c_log_set_component("k8c-proxy");

        k8c_error_t err = NULL;
        if (cleanup) {
                if (k8c_proxy_cleanup(&err) < 0) {
                        k8c_log_error("cleanup failed", "error=\"%s\"", k8c_error_msg(&err));
                        return 1;
                }
                k8c_log_info("cleanup done", NULL);
                return 0;
        }
        if (masq_bit < 0 || masq_bit > 31) {
                fprintf(stderr, "k8c-proxy: --masquerade-bit must be 0..31\n");
                return 2;
        }
        char host[256] = "";
        char *host_copy = NULL;
        if (hostname == NULL && gethostname(host, sizeof(host) - 1) == 0)
                hostname = host_copy = k8c_xstrdup(host);
        const struct k8c_proxy_config cfg = {
                .kubeconfig = kubeconfig,
                .server = server,
                .hostname = hostname,
                .cluster_cidr = cluster_cidr,
                .nodeport_addresses = (const char *const *)nodeport_addresses,
                .masq_mark = 1u << masq_bit,
                .min_sync_ms = min_sync,
                .sync_ms = sync_period,
                .metrics_bind = metrics_bind,
                .dns_bind = dns_bind,
                .cluster_domain = cluster_domain,
        };
        int r = k8c_proxy_run(&cfg, &err);
        if (r < 0) {
                k8c_log_error("exiting", "error=\"%s\"", k8c_error_msg(&err));
                int code = k8c_error_reason(&err) == K8C_EUSAGE ? 2 : 1;
                k8c_error_release(&err);
                free(host_copy);
                k8c_strv_free(nodeport_addresses);
                return code;
        }
        /* String flags point into argv; only the array flag and our hostname copy are ours. */
        free(host_copy);
        k8c_strv_free(nodeport_addresses);
        return 0;
}

/*
 * k8c-kubelet - flag parsing and wiring only; the logic lives in src/.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "k8c/flags.h"
#include "k8c/log.h"

int main(int argc, char **argv)
{
        char *kubeconfig = NULL;
        char *server = NULL;
        char *hostname_override = NULL;
        char *root_dir = "/var/lib/k8c/kubelet";
        char *capacity = NULL;
        char *pod_cidr = NULL;
        char *runtime = "runc";
        int port = 10250;
        const struct k8c_flag flags[] = {
                { "kubeconfig", 0, K8C_FLAG_STRING, &kubeconfig,
                  "path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config)", NULL },
                { "server", 0, K8C_FLAG_STRING, &server,
                  "address of the API server (overrides the kubeconfig)", NULL },
                { "hostname-override", 0, K8C_FLAG_STRING, &hostname_override,
                  "node name to register instead of the hostname", NULL },
                { "root-dir", 0, K8C_FLAG_STRING, &root_dir, "directory for kubelet state", NULL },
                { "capacity", 0, K8C_FLAG_STRING, &capacity,
                  "node capacity, e.g. cpu=4,memory=8Gi,pods=110 (default: measured)", NULL },
                { "pod-cidr", 0, K8C_FLAG_STRING, &pod_cidr,
                  "podCIDR to use instead of the one from the Node object", NULL },
                { "runtime", 0, K8C_FLAG_STRING, &runtime, "container runtime: runc or fake", NULL },
                { "port", 0, K8C_FLAG_INT, &port, "port of the kubelet API", NULL },
                { "v", 'v', K8C_FLAG_INT, &k8c_log_v, "log verbosity", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        struct k8c_flags_result args;
        k8c_flags_parse_or_exit(flags, argc, argv, "k8c-kubelet", "[flags]", &args);
        k8c_flags_result_free(&args);
        fprintf(stderr, "k8c-kubelet: the kubelet is not implemented yet\n");
        return 1;
}

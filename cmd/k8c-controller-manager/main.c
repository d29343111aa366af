/*
 * k8c-controller-manager - flag parsing and wiring only; the logic lives in src/.
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
        char *controllers = "*";
        bool leader_elect = false;
        char *cluster_cidr = "10.244.0.0/16";
        const struct k8c_flag flags[] = {
                { "kubeconfig", 0, K8C_FLAG_STRING, &kubeconfig,
                  "path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config)", NULL },
                { "server", 0, K8C_FLAG_STRING, &server,
                  "address of the API server (overrides the kubeconfig)", NULL },
                { "controllers", 0, K8C_FLAG_STRING, &controllers,
                  "controllers to run: * for all, -name to disable one", NULL },
                { "leader-elect", 0, K8C_FLAG_BOOL, &leader_elect,
                  "run leader election before starting controllers", NULL },
                { "cluster-cidr", 0, K8C_FLAG_STRING, &cluster_cidr,
                  "CIDR from which node podCIDRs are allocated", NULL },
                { "v", 'v', K8C_FLAG_INT, &k8c_log_v, "log verbosity", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        struct k8c_flags_result args;
        k8c_flags_parse_or_exit(flags, argc, argv, "k8c-controller-manager", "[flags]", &args);
        k8c_flags_result_free(&args);
        fprintf(stderr, "k8c-controller-manager: the controller manager is not implemented yet\n");
        return 1;
}

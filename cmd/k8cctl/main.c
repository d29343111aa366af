/*
 * k8cctl - flag parsing and wiring only; the logic lives in src/.
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
        char *ns = NULL;
        bool all_ns = false;
        char *context = NULL;
        const struct k8c_flag flags[] = {
                { "kubeconfig", 0, K8C_FLAG_STRING, &kubeconfig,
                  "path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config)", NULL },
                { "server", 0, K8C_FLAG_STRING, &server,
                  "address of the API server (overrides the kubeconfig)", NULL },
                { "namespace", 'n', K8C_FLAG_STRING, &ns, "namespace of the request", NULL },
                { "all-namespaces", 'A', K8C_FLAG_BOOL, &all_ns, "list across all namespaces", NULL },
                { "context", 0, K8C_FLAG_STRING, &context, "kubeconfig context to use", NULL },
                { "v", 'v', K8C_FLAG_INT, &k8c_log_v, "log verbosity", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        struct k8c_flags_result args;
        k8c_flags_parse_or_exit(flags, argc, argv, "k8cctl", "[flags]", &args);
        k8c_flags_result_free(&args);
        fprintf(stderr, "k8cctl: the CLI is not implemented yet\n");
        return 1;
}

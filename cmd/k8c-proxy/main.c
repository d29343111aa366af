/*
 * k8c-proxy - flag parsing and wiring only; the logic lives in src/.
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
        bool cleanup = false;
        int64_t min_sync = 100;
        int64_t sync_period = 30000;
        const struct k8c_flag flags[] = {
                { "kubeconfig", 0, K8C_FLAG_STRING, &kubeconfig,
                  "path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config)", NULL },
                { "server", 0, K8C_FLAG_STRING, &server,
                  "address of the API server (overrides the kubeconfig)", NULL },
                { "cleanup", 0, K8C_FLAG_BOOL, &cleanup,
                  "remove every rule and chain k8c-proxy owns, then exit", NULL },
                { "min-sync-period", 0, K8C_FLAG_DURATION, &min_sync, "minimum interval between rule syncs",
                  NULL },
                { "sync-period", 0, K8C_FLAG_DURATION, &sync_period,
                  "maximum interval between full rule syncs", NULL },
                { "v", 'v', K8C_FLAG_INT, &k8c_log_v, "log verbosity", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        struct k8c_flags_result args;
        k8c_flags_parse_or_exit(flags, argc, argv, "k8c-proxy", "[flags]", &args);
        k8c_flags_result_free(&args);
        fprintf(stderr, "k8c-proxy: the service proxy is not implemented yet\n");
        return 1;
}

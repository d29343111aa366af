/*
 * k8c-scheduler - flag parsing and wiring only; the logic lives in src/.
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
        char *config = NULL;
        bool leader_elect = false;
        char *scheduler_name = "default-scheduler";
        const struct k8c_flag flags[] = {
                { "kubeconfig", 0, K8C_FLAG_STRING, &kubeconfig,
                  "path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config)", NULL },
                { "server", 0, K8C_FLAG_STRING, &server,
                  "address of the API server (overrides the kubeconfig)", NULL },
                { "config", 0, K8C_FLAG_STRING, &config, "scheduler configuration file (YAML)", NULL },
                { "leader-elect", 0, K8C_FLAG_BOOL, &leader_elect, "run leader election before scheduling",
                  NULL },
                { "scheduler-name", 0, K8C_FLAG_STRING, &scheduler_name,
                  "spec.schedulerName this scheduler serves", NULL },
                { "v", 'v', K8C_FLAG_INT, &k8c_log_v, "log verbosity", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        struct k8c_flags_result args;
        k8c_flags_parse_or_exit(flags, argc, argv, "k8c-scheduler", "[flags]", &args);
        k8c_flags_result_free(&args);
        fprintf(stderr, "k8c-scheduler: the scheduler is not implemented yet\n");
        return 1;
}

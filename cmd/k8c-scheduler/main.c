/*
 * k8c-scheduler - flag parsing and wiring only; the logic lives in
 * src/scheduler/. SIGTERM/SIGINT stop it cleanly.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/flags.h"
#include "k8c/log.h"
#include "k8c/scheduler.h"

static volatile bool stop;

static void on_signal(int sig)
{
        stop = true;
}

int main(int argc, char **argv)
{
        char *kubeconfig = NULL;
        char *server = NULL;
        char *config = NULL;
        bool leader_elect = false;
        char *scheduler_name = "default-scheduler";
        char *scoring_strategy = NULL;
        char *bind_address = "127.0.0.1";
        int port = 10259;
        char *lock_namespace = "kube-system";
        char *lock_name = "k8c-scheduler";
        int64_t flush_ms = 60000;
        const struct k8c_flag flags[] = {
                { "kubeconfig", 0, K8C_FLAG_STRING, &kubeconfig,
                  "path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config)", NULL },
                { "server", 0, K8C_FLAG_STRING, &server,
                  "address of the API server (overrides the kubeconfig)", NULL },
                { "config", 0, K8C_FLAG_STRING, &config,
                  "scheduler configuration file (KubeSchedulerConfiguration YAML)", NULL },
                { "leader-elect", 0, K8C_FLAG_BOOL, &leader_elect, "run leader election before scheduling",
                  NULL },
                { "leader-elect-resource-namespace", 0, K8C_FLAG_STRING, &lock_namespace,
                  "namespace of the leader election Lease", NULL },
                { "leader-elect-resource-name", 0, K8C_FLAG_STRING, &lock_name,
                  "name of the leader election Lease", NULL },
                { "scheduler-name", 0, K8C_FLAG_STRING, &scheduler_name,
                  "spec.schedulerName this scheduler serves", NULL },
                { "scoring-strategy", 0, K8C_FLAG_STRING, &scoring_strategy,
                  "NodeResourcesFit scoring: MostAllocated (bin-packing, default) or LeastAllocated", NULL },
                { "bind-address", 0, K8C_FLAG_STRING, &bind_address,
                  "address for /healthz, /readyz, /metrics, /debug/pending", NULL },
                { "port", 0, K8C_FLAG_INT, &port, "port for the HTTP endpoints (negative disables them)",
                  NULL },
                { "unschedulable-retry-interval", 0, K8C_FLAG_DURATION, &flush_ms,
                  "unschedulable pods are retried at least this often", NULL },
                { "v", 'v', K8C_FLAG_INT, &k8c_log_v, "log verbosity", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        struct k8c_flags_result args;
        k8c_flags_parse_or_exit(flags, argc, argv, "k8c-scheduler", "[flags]", &args);
        k8c_flags_result_free(&args);
        k8c_log_set_component("k8c-scheduler");

        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        struct k8c_scheduler_config cfg = {
                .kubeconfig = kubeconfig,
                .server = server,
                .config_file = config,
                .scheduler_name = scheduler_name,
                .scoring_strategy = scoring_strategy,
                .leader_elect = leader_elect,
                .lock_namespace = lock_namespace,
                .lock_name = lock_name,
                .bind_address = bind_address,
                .port = port,
                .unschedulable_flush_ms = flush_ms,
                .stop = &stop,
        };
        cleanup_error k8c_error_t err = NULL;
        if (k8c_scheduler_run(&cfg, &err) < 0) {
                k8c_log_error("scheduler failed", "err=\"%s\"", k8c_error_msg(&err));
                return k8c_error_reason(&err) == K8C_EUSAGE ? 2 : 1;
        }
        k8c_log_info("scheduler stopped", NULL);
        return 0;
}

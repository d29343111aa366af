/*
 * scheduler.h - k8c-scheduler: assigns pending pods to nodes. Watches pods,
 * nodes, services and replicasets; runs the filter/score plugins of one
 * profile (src/scheduler/framework.h) on each pending pod; binds through
 * pods/NAME/binding; reports unschedulable pods through their PodScheduled
 * condition and FailedScheduling events; serves /healthz, /readyz, /metrics
 * and /debug/pending.
 */
#ifndef K8C_SCHEDULER_H
#define K8C_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "k8c/error.h"

struct k8c_scheduler_config {
        const char *kubeconfig;       /* NULL = $KUBECONFIG / ~/.kube/config */
        const char *server;           /* --server override */
        const char *config_file;      /* KubeSchedulerConfiguration YAML (NULL = defaults) */
        const char *scheduler_name;   /* pods' spec.schedulerName served; default "default-scheduler" */
        const char *scoring_strategy; /* "MostAllocated" / "LeastAllocated" overrides the file; NULL = keep */
        bool leader_elect;
        const char *lock_namespace;     /* default "kube-system" */
        const char *lock_name;          /* default "k8c-scheduler" */
        const char *bind_address;       /* default "127.0.0.1" */
        int port;                       /* default 10259; negative = no HTTP server */
        int64_t unschedulable_flush_ms; /* default 60000 */
        int bind_workers;               /* parallel API writers (bindings, status, events); default 4 */
        const volatile bool *stop;      /* set (e.g. from SIGTERM) to shut down cleanly */
};

/* Runs until *cfg->stop becomes true (returns 0) or a fatal error (lost leadership, no API
 * server at start-up, bad configuration). */
int k8c_scheduler_run(const struct k8c_scheduler_config *cfg, k8c_error_t *err);

#endif

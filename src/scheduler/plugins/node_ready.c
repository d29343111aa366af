/*
 * node_ready.c - NodeReady filter: skips nodes whose Ready condition is not
 * True (False or missing → not-ready, Unknown → unreachable). Kubernetes gets
 * the same effect from the node lifecycle controller's NoSchedule taints, so
 * the reason is worded as that taint would be, and a pod tolerating the taint
 * (DaemonSet-style) passes.
 */
#include "scheduler/framework.h"

static k8c_sched_code_t filter(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                               struct k8c_sched_status *st)
{
        const char *key;
        switch (ni->view->ready) {
        case K8C_SCHED_NODE_READY: return K8C_SCHED_OK;
        case K8C_SCHED_NODE_UNREACHABLE:
                if (cy->pod->tolerates_unreachable)
                        return K8C_SCHED_OK;
                key = "node.kubernetes.io/unreachable";
                break;
        default:
                if (cy->pod->tolerates_not_ready)
                        return K8C_SCHED_OK;
                key = "node.kubernetes.io/not-ready";
                break;
        }
        k8c_sched_status_add_reason(st, "node(s) had untolerated taint {%s: }", key);
        return st->code = K8C_SCHED_UNSCHEDULABLE;
}

const struct k8c_sched_plugin k8c_sched_plugin_node_ready = {
        .name = "NodeReady",
        .filter = filter,
        .default_filter = true,
};

/*
 * node_unschedulable.c - NodeUnschedulable filter: cordoned nodes
 * (spec.unschedulable) take only pods tolerating the
 * node.kubernetes.io/unschedulable:NoSchedule taint.
 */
#include "scheduler/framework.h"

static k8c_sched_code_t filter(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                               struct k8c_sched_status *st)
{
        if (!json_is_true(json_object_get(json_object_get(ni->node, "spec"), "unschedulable")))
                return K8C_SCHED_OK;
        json_auto_t *taint =
                json_pack("{s:s, s:s}", "key", "node.kubernetes.io/unschedulable", "effect", "NoSchedule");
        size_t i;
        json_t *tol;
        json_array_foreach(json_object_get(json_object_get(cy->pod->pod, "spec"), "tolerations"), i, tol)
        {
                if (k8c_sched_toleration_tolerates(tol, taint))
                        return K8C_SCHED_OK;
        }
        k8c_sched_status_add_reason(st, "node(s) were unschedulable");
        return st->code = K8C_SCHED_UNSCHEDULABLE;
}

const struct k8c_sched_plugin k8c_sched_plugin_node_unschedulable = {
        .name = "NodeUnschedulable",
        .filter = filter,
        .default_filter = true,
};

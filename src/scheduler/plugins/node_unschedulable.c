/*
 * node_unschedulable.c - NodeUnschedulable filter: cordoned nodes
 * (spec.unschedulable) take only pods tolerating the
 * node.kubernetes.io/unschedulable:NoSchedule taint.
 */
#include "scheduler/framework.h"

static k8c_sched_code_t filter(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                               struct k8c_sched_status *st)
{
        if (!ni->view->unschedulable || cy->pod->tolerates_unschedulable)
                return K8C_SCHED_OK;
        k8c_sched_status_add_reason(st, "node(s) were unschedulable");
        return st->code = K8C_SCHED_UNSCHEDULABLE;
}

static bool filter_skip(const struct k8c_sched_cycle *cy)
{
        return cy->pod->tolerates_unschedulable;
}

const struct k8c_sched_plugin k8c_sched_plugin_node_unschedulable = {
        .name = "NodeUnschedulable",
        .filter = filter,
        .filter_skip = filter_skip,
        .default_filter = true,
};

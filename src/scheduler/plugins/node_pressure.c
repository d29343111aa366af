/*
 * node_pressure.c - NodePressure filter: a node whose kubelet reports
 * MemoryPressure takes no BestEffort pods, and one reporting DiskPressure no
 * pods at all. Kubernetes gets this from the node lifecycle controller's
 * node.kubernetes.io/memory-pressure and disk-pressure NoSchedule taints (and
 * the toleration of memory-pressure it gives pods that are not BestEffort), so
 * the reason is worded as those taints would be and a pod tolerating the taint
 * passes.
 */
#include "scheduler/framework.h"

/* The conditions and the pod's QoS and tolerations are read once, when the node and the pod
 * are parsed (nodeinfo.c): this runs for every sampled node of every decision. */
static k8c_sched_code_t filter(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                               struct k8c_sched_status *st)
{
        const struct k8c_sched_podinfo *pi = cy->pod;
        const char *key = NULL;
        if (ni->view->disk_pressure && !pi->tolerates_disk_pressure)
                key = "node.kubernetes.io/disk-pressure";
        else if (ni->view->memory_pressure && pi->best_effort && !pi->tolerates_memory_pressure)
                key = "node.kubernetes.io/memory-pressure";
        if (key == NULL)
                return K8C_SCHED_OK;
        k8c_sched_status_add_reason(st, "node(s) had untolerated taint {%s: }", key);
        return st->code = K8C_SCHED_UNSCHEDULABLE;
}

const struct k8c_sched_plugin k8c_sched_plugin_node_pressure = {
        .name = "NodePressure",
        .filter = filter,
        .default_filter = true,
};

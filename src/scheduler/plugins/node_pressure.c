/*
 * node_pressure.c - NodePressure filter: a node whose kubelet reports
 * MemoryPressure takes no BestEffort pods, and one reporting DiskPressure no
 * pods at all. Kubernetes gets this from the node lifecycle controller's
 * node.kubernetes.io/memory-pressure and disk-pressure NoSchedule taints (and
 * the toleration of memory-pressure it gives pods that are not BestEffort), so
 * the reason is worded as those taints would be and a pod tolerating the taint
 * passes.
 */
#include <string.h>

#include "k8c/kubelet.h"
#include "scheduler/framework.h"

static bool condition_true(const json_t *node, const char *type)
{
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(json_object_get(node, "status"), "conditions"), i, c)
        {
                const char *t = json_string_value(json_object_get(c, "type"));
                if (t != NULL && strcmp(t, type) == 0)
                        return strcmp(json_string_value(json_object_get(c, "status")) ?: "", "True") == 0;
        }
        return false;
}

static bool tolerated(const json_t *pod, const char *key)
{
        json_auto_t *taint = json_pack("{s:s, s:s}", "key", key, "effect", "NoSchedule");
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(json_object_get(pod, "spec"), "tolerations"), i, t)
        {
                if (k8c_sched_toleration_tolerates(t, taint))
                        return true;
        }
        return false;
}

static k8c_sched_code_t filter(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                               struct k8c_sched_status *st)
{
        const json_t *pod = cy->pod->pod;
        const char *key = NULL;
        if (condition_true(ni->node, "DiskPressure") && !tolerated(pod, "node.kubernetes.io/disk-pressure"))
                key = "node.kubernetes.io/disk-pressure";
        else if (condition_true(ni->node, "MemoryPressure") && k8c_pod_qos(pod) == K8C_QOS_BEST_EFFORT &&
                 !tolerated(pod, "node.kubernetes.io/memory-pressure"))
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

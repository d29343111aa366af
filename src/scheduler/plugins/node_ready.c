/*
 * node_ready.c - NodeReady filter: skips nodes whose Ready condition is not
 * True (False or missing → not-ready, Unknown → unreachable). Kubernetes gets
 * the same effect from the node lifecycle controller's NoSchedule taints, so
 * the reason is worded as that taint would be, and a pod tolerating the taint
 * (DaemonSet-style) passes.
 */
#include <string.h>

#include "scheduler/framework.h"

static k8c_sched_code_t filter(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                               struct k8c_sched_status *st)
{
        const char *ready = NULL;
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(json_object_get(ni->node, "status"), "conditions"), i, c)
        {
                const char *type = json_string_value(json_object_get(c, "type"));
                if (type != NULL && strcmp(type, "Ready") == 0)
                        ready = json_string_value(json_object_get(c, "status"));
        }
        if (ready != NULL && strcmp(ready, "True") == 0)
                return K8C_SCHED_OK;
        const char *key = ready != NULL && strcmp(ready, "Unknown") == 0 ? "node.kubernetes.io/unreachable"
                                                                         : "node.kubernetes.io/not-ready";
        json_auto_t *taint = json_pack("{s:s, s:s}", "key", key, "effect", "NoSchedule");
        json_array_foreach(json_object_get(json_object_get(cy->pod->pod, "spec"), "tolerations"), i, c)
        {
                if (k8c_sched_toleration_tolerates(c, taint))
                        return K8C_SCHED_OK;
        }
        k8c_sched_status_add_reason(st, "node(s) had untolerated taint {%s: }", key);
        return st->code = K8C_SCHED_UNSCHEDULABLE;
}

const struct k8c_sched_plugin k8c_sched_plugin_node_ready = {
        .name = "NodeReady",
        .filter = filter,
        .default_filter = true,
};

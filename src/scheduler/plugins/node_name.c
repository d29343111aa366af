/*
 * node_name.c - NodeName filter: a pod naming a node in spec.nodeName fits
 * only that node.
 */
#include <string.h>

#include "scheduler/framework.h"

static k8c_sched_code_t filter(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                               struct k8c_sched_status *st)
{
        const char *want = cy->pod->node_name;
        if (want == NULL || want[0] == '\0' || strcmp(want, ni->name) == 0)
                return K8C_SCHED_OK;
        k8c_sched_status_add_reason(st, "node(s) didn't match the requested node name");
        return st->code = K8C_SCHED_UNSCHEDULABLE;
}

static bool filter_skip(const struct k8c_sched_cycle *cy)
{
        return cy->pod->node_name == NULL || cy->pod->node_name[0] == '\0';
}

const struct k8c_sched_plugin k8c_sched_plugin_node_name = {
        .name = "NodeName",
        .filter = filter,
        .filter_skip = filter_skip,
        .default_filter = true,
};

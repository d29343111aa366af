/*
 * node_ports.c - NodePorts filter: a pod's hostPorts must not collide with
 * those of pods already on the node (same protocol and port; 0.0.0.0 collides
 * with every address).
 */
#include <string.h>

#include "scheduler/framework.h"

static bool conflict(const struct k8c_sched_hostport *a, const struct k8c_sched_hostport *b)
{
        if (a->port != b->port || strcmp(a->protocol, b->protocol) != 0)
                return false;
        return strcmp(a->host_ip, "0.0.0.0") == 0 || strcmp(b->host_ip, "0.0.0.0") == 0 ||
               strcmp(a->host_ip, b->host_ip) == 0;
}

static k8c_sched_code_t filter(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                               struct k8c_sched_status *st)
{
        if (ni->nports == 0)
                return K8C_SCHED_OK;
        for (size_t i = 0; i < cy->pod->nports; i++) {
                for (size_t p = 0; p < ni->npods; p++) {
                        const struct k8c_sched_podinfo *other = ni->pods[p];
                        for (size_t j = 0; j < other->nports; j++) {
                                if (conflict(&cy->pod->ports[i], &other->ports[j])) {
                                        k8c_sched_status_add_reason(
                                                st,
                                                "node(s) didn't have free ports for the requested pod ports");
                                        return st->code = K8C_SCHED_UNSCHEDULABLE;
                                }
                        }
                }
        }
        return K8C_SCHED_OK;
}

static bool filter_skip(const struct k8c_sched_cycle *cy)
{
        return cy->pod->nports == 0;
}

const struct k8c_sched_plugin k8c_sched_plugin_node_ports = {
        .name = "NodePorts",
        .filter = filter,
        .filter_skip = filter_skip,
        .default_filter = true,
};

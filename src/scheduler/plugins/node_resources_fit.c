/*
 * node_resources_fit.c - NodeResourcesFit: the filter checks the pod count,
 * cpu, memory, ephemeral-storage and extended resources (example.com/dongle,
 * hugepages-*) against allocatable minus what the node's pods (bound and
 * assumed) request, with Kubernetes' reasons in its order; the score is
 * MostAllocated (bin-packing, the k8c default) or
 * LeastAllocated over weighted resources, using non-zero cpu/memory defaults
 * for pods that request nothing, in integer arithmetic as kube-scheduler.
 */
#include <string.h>

#include "k8c/cleanup.h"
#include "scheduler/framework.h"

static k8c_sched_code_t filter(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                               struct k8c_sched_status *st)
{
        const struct k8c_sched_resources *req = &cy->pod->req, *alloc = &ni->allocatable,
                                         *used = &ni->requested;
        /* The common case first, without building reasons. */
        if ((int64_t)ni->npods + 1 <= alloc->pods && req->milli_cpu <= alloc->milli_cpu - used->milli_cpu &&
            req->memory <= alloc->memory - used->memory &&
            req->ephemeral_storage <= alloc->ephemeral_storage - used->ephemeral_storage && req->nscalar == 0)
                return K8C_SCHED_OK;
        if ((int64_t)ni->npods + 1 > alloc->pods)
                k8c_sched_status_add_reason(st, "Too many pods");
        if (req->milli_cpu > 0 && req->milli_cpu > alloc->milli_cpu - used->milli_cpu)
                k8c_sched_status_add_reason(st, "Insufficient cpu");
        if (req->memory > 0 && req->memory > alloc->memory - used->memory)
                k8c_sched_status_add_reason(st, "Insufficient memory");
        if (req->ephemeral_storage > 0 &&
            req->ephemeral_storage > alloc->ephemeral_storage - used->ephemeral_storage)
                k8c_sched_status_add_reason(st, "Insufficient ephemeral-storage");
        for (size_t i = 0; i < req->nscalar; i++) {
                const struct k8c_sched_scalar *sc = &req->scalar[i];
                if (sc->value > 0 &&
                    sc->value > k8c_sched_scalar_get(alloc, sc->name) - k8c_sched_scalar_get(used, sc->name))
                        k8c_sched_status_add_reason(st, "Insufficient %s", sc->name);
        }
        if (st->nreasons > 0)
                return st->code = K8C_SCHED_UNSCHEDULABLE;
        return K8C_SCHED_OK;
}

k8c_sched_res_kind_t k8c_sched_res_kind(const char *resource)
{
        if (strcmp(resource, "cpu") == 0)
                return K8C_SCHED_RES_CPU;
        if (strcmp(resource, "memory") == 0)
                return K8C_SCHED_RES_MEMORY;
        if (strcmp(resource, "ephemeral-storage") == 0)
                return K8C_SCHED_RES_EPHEMERAL_STORAGE;
        return K8C_SCHED_RES_OTHER;
}

static inline void alloc_request(const struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                                 k8c_sched_res_kind_t kind, bool use_requested, int64_t *ret_alloc,
                                 int64_t *ret_req)
{
        const struct k8c_sched_resources *node_req = use_requested ? &ni->requested : &ni->nonzero_requested;
        const struct k8c_sched_resources *pod_req = use_requested ? &cy->pod->req : &cy->pod->nonzero;
        switch (kind) {
        case K8C_SCHED_RES_CPU:
                *ret_alloc = ni->allocatable.milli_cpu;
                *ret_req = node_req->milli_cpu + pod_req->milli_cpu;
                break;
        case K8C_SCHED_RES_MEMORY:
                *ret_alloc = ni->allocatable.memory;
                *ret_req = node_req->memory + pod_req->memory;
                break;
        case K8C_SCHED_RES_EPHEMERAL_STORAGE:
                *ret_alloc = ni->allocatable.ephemeral_storage;
                *ret_req = ni->requested.ephemeral_storage + cy->pod->req.ephemeral_storage;
                break;
        default:
                *ret_alloc = 0;
                *ret_req = 0;
                break;
        }
}

void k8c_sched_alloc_request_kind(const struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                                  k8c_sched_res_kind_t kind, bool use_requested, int64_t *ret_alloc,
                                  int64_t *ret_req)
{
        alloc_request(cy, ni, kind, use_requested, ret_alloc, ret_req);
}

void k8c_sched_alloc_request(const struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                             const char *resource, bool use_requested, int64_t *ret_alloc, int64_t *ret_req)
{
        k8c_sched_alloc_request_kind(cy, ni, k8c_sched_res_kind(resource), use_requested, ret_alloc, ret_req);
}

static int64_t most_requested(int64_t requested, int64_t capacity)
{
        if (capacity == 0)
                return 0;
        if (requested > capacity)
                requested = capacity;
        return requested * K8C_SCHED_MAX_NODE_SCORE / capacity;
}

static int64_t least_requested(int64_t requested, int64_t capacity)
{
        if (capacity == 0 || requested > capacity)
                return 0;
        return (capacity - requested) * K8C_SCHED_MAX_NODE_SCORE / capacity;
}

static int64_t score(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni)
{
        int64_t node_score = 0, weight_sum = 0;
        for (size_t i = 0; i < cy->nresources; i++) {
                int64_t alloc, req;
                k8c_sched_res_kind_t kind;
                if (i < K8C_ARRAY_SIZE(cy->res_kinds)) {
                        if (cy->res_kinds[i] == K8C_SCHED_RES_UNRESOLVED)
                                cy->res_kinds[i] = k8c_sched_res_kind(cy->resources[i].name);
                        kind = cy->res_kinds[i];
                } else {
                        kind = k8c_sched_res_kind(cy->resources[i].name);
                }
                alloc_request(cy, ni, kind, false, &alloc, &req);
                if (alloc == 0)
                        continue;
                int64_t s = cy->strategy == K8C_SCHED_LEAST_ALLOCATED ? least_requested(req, alloc)
                                                                      : most_requested(req, alloc);
                node_score += s * cy->resources[i].weight;
                weight_sum += cy->resources[i].weight;
        }
        return weight_sum == 0 ? 0 : node_score / weight_sum;
}

const struct k8c_sched_plugin k8c_sched_plugin_node_resources_fit = {
        .name = "NodeResourcesFit",
        .filter = filter,
        .score = score,
        .default_weight = 1,
        .default_filter = true,
        .default_score = true,
};

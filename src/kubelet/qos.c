/*
 * qos.c - a pod's QoS class (Guaranteed, Burstable, BestEffort) as
 * Kubernetes' qos.GetPodQOS computes it over containers and init containers,
 * the oom_score_adj each class gets (pkg/kubelet/qos/policy.go), and the
 * effective requests the eviction ranking compares usage with.
 *
 * Pure: reads pod JSON only. A limit without a request counts as that
 * request, as the apiserver's defaulting does in Kubernetes.
 */
#include <string.h>

#include "k8c/json.h"
#include "k8c/kubelet.h"
#include "k8c/quantity.h"

/* A cpu/memory quantity of a resource list in milli-units; 0 when absent or unparsable. */
static int64_t milli_of(const json_t *list, const char *name)
{
        const json_t *v = json_object_get(list, name);
        k8c_quantity_t q;
        if (v == NULL || k8c_quantity_from_json(v, &q, NULL) < 0 || q.milli < 0)
                return 0;
        return q.milli;
}

/* The container's request of name in milli-units (its limit when no request is given). */
static int64_t request_milli(const json_t *c, const char *name)
{
        const json_t *res = json_object_get(c, "resources");
        const json_t *reqs = json_object_get(res, "requests");
        if (json_object_get(reqs, name) != NULL)
                return milli_of(reqs, name);
        return milli_of(json_object_get(res, "limits"), name);
}

k8c_qos_t k8c_pod_qos(const json_t *pod)
{
        static const char *const names[] = { "cpu", "memory" };
        static const char *const lists[] = { "spec.containers", "spec.initContainers" };
        int64_t requests[2] = { 0, 0 }, limits[2] = { 0, 0 };
        bool has_request[2] = { false, false }, has_limit[2] = { false, false };
        bool guaranteed = true;
        for (size_t l = 0; l < 2; l++) {
                size_t i;
                json_t *c;
                json_array_foreach(k8c_json_get(pod, lists[l]), i, c)
                {
                        const json_t *lim = k8c_json_get(c, "resources.limits");
                        for (size_t n = 0; n < 2; n++) {
                                int64_t r = request_milli(c, names[n]);
                                if (r > 0) {
                                        requests[n] += r;
                                        has_request[n] = true;
                                }
                                int64_t m = milli_of(lim, names[n]);
                                if (m > 0) {
                                        limits[n] += m;
                                        has_limit[n] = true;
                                } else {
                                        /* Every container needs both limits to be Guaranteed. */
                                        guaranteed = false;
                                }
                        }
                }
        }
        if (!has_request[0] && !has_request[1] && !has_limit[0] && !has_limit[1])
                return K8C_QOS_BEST_EFFORT;
        for (size_t n = 0; n < 2 && guaranteed; n++)
                if (has_request[n] != has_limit[n] || (has_request[n] && requests[n] != limits[n]))
                        guaranteed = false;
        return guaranteed ? K8C_QOS_GUARANTEED : K8C_QOS_BURSTABLE;
}

const char *k8c_qos_name(k8c_qos_t q)
{
        switch (q) {
        case K8C_QOS_GUARANTEED: return "Guaranteed";
        case K8C_QOS_BURSTABLE: return "Burstable";
        default: return "BestEffort";
        }
}

int k8c_oom_score_adj(const json_t *pod, const json_t *container, int64_t memory_capacity)
{
        switch (k8c_pod_qos(pod)) {
        case K8C_QOS_GUARANTEED: return -997;
        case K8C_QOS_BEST_EFFORT: return 1000;
        default: break;
        }
        if (memory_capacity <= 0)
                return 999;
        int64_t req = request_milli(container, "memory") / 1000;
        /* 1000 - 1000*request/capacity, clamped to [2, 999]: above a Guaranteed pod's score even
         * when the request is the whole node, and below a BestEffort one. */
        int64_t adj = 1000 - (int64_t)((__int128)1000 * req / memory_capacity);
        if (adj < 2)
                return 2;
        if (adj > 999)
                return 999;
        return (int)adj;
}

int64_t k8c_container_request(const json_t *container, const char *resource)
{
        int64_t m = request_milli(container, resource);
        return strcmp(resource, "cpu") == 0 ? m : (m + 999) / 1000;
}

int64_t k8c_pod_request(const json_t *pod, const char *resource)
{
        /* resourcehelper.PodRequests: the larger of the app containers' sum and any one init
         * container (they run one at a time, before the app containers). */
        int64_t sum = 0, init_max = 0;
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(pod, "spec.containers"), i, c) sum +=
                k8c_container_request(c, resource);
        json_array_foreach(k8c_json_get(pod, "spec.initContainers"), i, c)
        {
                int64_t r = k8c_container_request(c, resource);
                if (r > init_max)
                        init_max = r;
        }
        return sum > init_max ? sum : init_max;
}

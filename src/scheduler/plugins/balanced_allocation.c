/*
 * balanced_allocation.c - NodeResourcesBalancedAllocation score: favours nodes
 * whose cpu and memory utilisation (after placing the pod, actual requests)
 * stay close to each other: (1 - standard deviation of the fractions) × 100.
 * Best-effort pods (requesting nothing) score 0 everywhere, as Kubernetes
 * skips them.
 */
#include <math.h>

#include "scheduler/framework.h"

static int64_t score(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni)
{
        if (cy->pod->req.milli_cpu == 0 && cy->pod->req.memory == 0)
                return 0;
        /* cpu and memory, actual requests after placing the pod */
        const int64_t allocs[2] = { ni->allocatable.milli_cpu, ni->allocatable.memory };
        const int64_t reqs[2] = { ni->requested.milli_cpu + cy->pod->req.milli_cpu,
                                  ni->requested.memory + cy->pod->req.memory };
        double fractions[2], total = 0;
        size_t n = 0;
        for (size_t i = 0; i < 2; i++) {
                int64_t alloc = allocs[i], req = reqs[i];
                if (alloc == 0)
                        continue;
                double f = (double)req / (double)alloc;
                if (f > 1)
                        f = 1;
                total += f;
                fractions[n++] = f;
        }
        double std = 0;
        if (n == 2)
                std = fabs((fractions[0] - fractions[1]) / 2);
        (void)total;
        return (int64_t)((1 - std) * (double)K8C_SCHED_MAX_NODE_SCORE);
}

const struct k8c_sched_plugin k8c_sched_plugin_balanced_allocation = {
        .name = "NodeResourcesBalancedAllocation",
        .score = score,
        .default_weight = 1,
        .default_score = true,
};

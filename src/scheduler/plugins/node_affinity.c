/*
 * node_affinity.c - NodeAffinity: the filter applies spec.nodeSelector (every
 * label equal) and requiredDuringSchedulingIgnoredDuringExecution (any term
 * matches); the score sums the weights of matching
 * preferredDuringSchedulingIgnoredDuringExecution terms, normalised by the
 * maximum. The NodeSelector behaviour lives here, as in Kubernetes.
 */
#include <string.h>

#include "scheduler/framework.h"
#include "scheduler/plugins/normalize.h"

static json_t *node_affinity(const json_t *pod)
{
        return json_object_get(json_object_get(json_object_get(pod, "spec"), "affinity"), "nodeAffinity");
}

static bool required_matches(const json_t *pod, const json_t *node)
{
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)json_object_get(json_object_get(pod, "spec"), "nodeSelector"), key, v)
        {
                const char *have = k8c_sched_node_label(node, key);
                if (have == NULL || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
                        return false;
        }
        json_t *req = json_object_get(node_affinity(pod), "requiredDuringSchedulingIgnoredDuringExecution");
        if (req == NULL || json_is_null(req))
                return true;
        size_t i;
        json_t *term;
        json_array_foreach(json_object_get(req, "nodeSelectorTerms"), i, term)
        {
                if (k8c_sched_node_selector_term_matches(term, node))
                        return true;
        }
        return false;
}

static k8c_sched_code_t filter(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                               struct k8c_sched_status *st)
{
        if (!cy->pod->has_required_node_affinity || required_matches(cy->pod->pod, ni->node))
                return K8C_SCHED_OK;
        k8c_sched_status_add_reason(st, "node(s) didn't match Pod's node affinity/selector");
        return st->code = K8C_SCHED_UNSCHEDULABLE;
}

static int64_t score(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni)
{
        if (!cy->pod->has_preferred_node_affinity)
                return 0;
        int64_t sum = 0;
        size_t i;
        json_t *pref;
        json_array_foreach(json_object_get(node_affinity(cy->pod->pod),
                                           "preferredDuringSchedulingIgnoredDuringExecution"),
                           i, pref)
        {
                int64_t w = json_integer_value(json_object_get(pref, "weight"));
                if (w != 0 &&
                    k8c_sched_node_selector_term_matches(json_object_get(pref, "preference"), ni->node))
                        sum += w;
        }
        return sum;
}

static void normalize(struct k8c_sched_cycle *cy, struct k8c_sched_nodeinfo *const *nodes, int64_t *scores,
                      size_t n)
{
        k8c_sched_default_normalize(scores, n, false);
}

static bool filter_skip(const struct k8c_sched_cycle *cy)
{
        return !cy->pod->has_required_node_affinity;
}

/* Without preferred terms every node scores 0 (and normalising zeros leaves them 0). */
static int64_t score_constant(struct k8c_sched_cycle *cy, struct k8c_sched_nodeinfo *const *nodes, size_t n)
{
        return cy->pod->has_preferred_node_affinity ? -1 : 0;
}

const struct k8c_sched_plugin k8c_sched_plugin_node_affinity = {
        .name = "NodeAffinity",
        .filter = filter,
        .score = score,
        .normalize = normalize,
        .filter_skip = filter_skip,
        .score_constant = score_constant,
        .default_weight = 2,
        .default_filter = true,
        .default_score = true,
};

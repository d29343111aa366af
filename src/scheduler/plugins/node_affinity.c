/*
 * node_affinity.c - NodeAffinity: the filter applies spec.nodeSelector (every
 * label equal) and requiredDuringSchedulingIgnoredDuringExecution (any term
 * matches); the score sums the weights of matching
 * preferredDuringSchedulingIgnoredDuringExecution terms, normalised by the
 * maximum. The NodeSelector behaviour lives here, as in Kubernetes. The
 * selector and terms are compiled once per pod (podinfo) and matched per node
 * against the node's labels, without walking the pod's JSON.
 */
#include <string.h>

#include "scheduler/framework.h"
#include "scheduler/plugins/normalize.h"

/* Over the pod's nodeSelector and terms as compiled in its podinfo. */
static bool required_matches(const struct k8c_sched_podinfo *pod, const struct k8c_sched_nodeview *v)
{
        for (size_t i = 0; i < pod->nnode_selector; i++) {
                const char *have = json_string_value(json_object_get(v->labels, pod->node_selector[i].key));
                if (have == NULL || pod->node_selector[i].value == NULL ||
                    strcmp(have, pod->node_selector[i].value) != 0)
                        return false;
        }
        if (!pod->node_affinity_required)
                return true;
        for (size_t i = 0; i < pod->nrequired_terms; i++)
                if (k8c_sched_node_term_match(&pod->required_terms[i], v))
                        return true;
        return false;
}

static k8c_sched_code_t filter(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                               struct k8c_sched_status *st)
{
        if (!cy->pod->has_required_node_affinity || required_matches(cy->pod, ni->view))
                return K8C_SCHED_OK;
        k8c_sched_status_add_reason(st, "node(s) didn't match Pod's node affinity/selector");
        return st->code = K8C_SCHED_UNSCHEDULABLE;
}

static int64_t score(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni)
{
        if (!cy->pod->has_preferred_node_affinity)
                return 0;
        int64_t sum = 0;
        for (size_t i = 0; i < cy->pod->npreferred_terms; i++) {
                const struct k8c_sched_preferred_term *pt = &cy->pod->preferred_terms[i];
                if (pt->weight != 0 && k8c_sched_node_term_match(&pt->term, ni->view))
                        sum += pt->weight;
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

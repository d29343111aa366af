/*
 * taint_toleration.c - TaintToleration: the filter rejects nodes with a
 * NoSchedule/NoExecute taint the pod does not tolerate (Kubernetes 1.32
 * wording, naming the first such taint); the score counts untolerated
 * PreferNoSchedule taints (tolerations with that effect or none), normalised
 * in reverse so fewer is better.
 */
#include <string.h>

#include "scheduler/framework.h"
#include "scheduler/plugins/normalize.h"

static k8c_sched_code_t filter(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                               struct k8c_sched_status *st)
{
        const struct k8c_sched_nodeview *v = ni->view;
        if (v->nhard_taints == 0)
                return K8C_SCHED_OK;
        for (size_t i = 0; i < v->ntaints; i++) {
                const struct k8c_sched_taint *t = &v->taints[i];
                if (strcmp(t->effect, "NoSchedule") != 0 && strcmp(t->effect, "NoExecute") != 0)
                        continue;
                bool tolerated = false;
                for (size_t j = 0; j < cy->pod->ntolerations && !tolerated; j++)
                        tolerated = k8c_sched_tolerates(&cy->pod->tolerations[j], t);
                if (tolerated)
                        continue;
                k8c_sched_status_add_reason(st, "node(s) had untolerated taint {%s: %s}", t->key, t->value);
                return st->code = K8C_SCHED_UNSCHEDULABLE;
        }
        return K8C_SCHED_OK;
}

static int64_t score(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni)
{
        const struct k8c_sched_nodeview *v = ni->view;
        if (v->nprefer_taints == 0)
                return 0;
        int64_t n = 0;
        for (size_t i = 0; i < v->ntaints; i++) {
                const struct k8c_sched_taint *t = &v->taints[i];
                if (strcmp(t->effect, "PreferNoSchedule") != 0)
                        continue;
                bool tolerated = false;
                for (size_t j = 0; j < cy->pod->ntolerations && !tolerated; j++) {
                        const struct k8c_sched_toleration *tol = &cy->pod->tolerations[j];
                        /* Only tolerations with no effect or PreferNoSchedule count here. */
                        if (tol->effect[0] == '\0' || strcmp(tol->effect, "PreferNoSchedule") == 0)
                                tolerated = k8c_sched_tolerates(tol, t);
                }
                if (!tolerated)
                        n++;
        }
        return n;
}

static void normalize(struct k8c_sched_cycle *cy, struct k8c_sched_nodeinfo *const *nodes, int64_t *scores,
                      size_t n)
{
        k8c_sched_default_normalize(scores, n, true);
}

/* No PreferNoSchedule taint on any node: every count is 0, which normalises (reversed) to 100. */
static int64_t score_constant(struct k8c_sched_cycle *cy, struct k8c_sched_nodeinfo *const *nodes, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (nodes[i]->view->nprefer_taints > 0)
                        return -1;
        return K8C_SCHED_MAX_NODE_SCORE;
}

const struct k8c_sched_plugin k8c_sched_plugin_taint_toleration = {
        .name = "TaintToleration",
        .filter = filter,
        .score = score,
        .normalize = normalize,
        .score_constant = score_constant,
        .default_weight = 3,
        .default_filter = true,
        .default_score = true,
};

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
        static const char *const effects[] = { "NoSchedule", "NoExecute", NULL };
        const json_t *taint = k8c_sched_untolerated_taint(
                json_object_get(json_object_get(ni->node, "spec"), "taints"),
                json_object_get(json_object_get(cy->pod->pod, "spec"), "tolerations"), effects);
        if (taint == NULL)
                return K8C_SCHED_OK;
        const char *key = json_string_value(json_object_get(taint, "key"));
        const char *value = json_string_value(json_object_get(taint, "value"));
        k8c_sched_status_add_reason(st, "node(s) had untolerated taint {%s: %s}", key != NULL ? key : "",
                                    value != NULL ? value : "");
        return st->code = K8C_SCHED_UNSCHEDULABLE;
}

static int64_t score(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni)
{
        json_auto_t *prefer = json_array();
        size_t i;
        json_t *tol;
        json_array_foreach(json_object_get(json_object_get(cy->pod->pod, "spec"), "tolerations"), i, tol)
        {
                const char *e = json_string_value(json_object_get(tol, "effect"));
                if (e == NULL || e[0] == '\0' || strcmp(e, "PreferNoSchedule") == 0)
                        json_array_append(prefer, tol);
        }
        int64_t n = 0;
        json_t *taint;
        json_array_foreach(json_object_get(json_object_get(ni->node, "spec"), "taints"), i, taint)
        {
                const char *e = json_string_value(json_object_get(taint, "effect"));
                if (e == NULL || strcmp(e, "PreferNoSchedule") != 0)
                        continue;
                bool tolerated = false;
                size_t j;
                json_array_foreach(prefer, j, tol) tolerated =
                        tolerated || k8c_sched_toleration_tolerates(tol, taint);
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

const struct k8c_sched_plugin k8c_sched_plugin_taint_toleration = {
        .name = "TaintToleration",
        .filter = filter,
        .score = score,
        .normalize = normalize,
        .default_weight = 3,
        .default_filter = true,
        .default_score = true,
};

/*
 * selector_spread.c - SelectorSpread score: counts the pods on each node that
 * the incoming pod's Services and ReplicaSet select (same namespace, not
 * terminating), then normalises so emptier nodes and emptier zones score
 * higher (zone weighting 2/3), as kube-scheduler's SelectorSpread did.
 */
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/strmap.h"
#include "scheduler/framework.h"

#define ZONE_WEIGHTING (2.0 / 3.0)

static bool skip(const struct k8c_sched_cycle *cy)
{
        return json_array_size(json_object_get(json_object_get(cy->pod->pod, "spec"),
                                               "topologySpreadConstraints")) > 0;
}

static int64_t score(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni)
{
        if (skip(cy) || cy->spread_selector == NULL)
                return 0;
        int64_t count = 0;
        for (size_t i = 0; i < ni->npods; i++) {
                const struct k8c_sched_podinfo *p = ni->pods[i];
                if (p->terminating || strcmp(p->namespace_, cy->pod->namespace_) != 0)
                        continue;
                if (k8c_selector_matches(cy->spread_selector,
                                         json_object_get(json_object_get(p->pod, "metadata"), "labels")))
                        count++;
        }
        return count;
}

/* region + ":\0:" + zone as Kubernetes' GetZoneKey; "" when the node has neither. */
static char *zone_key(const json_t *node)
{
        const char *region = k8c_sched_node_label(node, "topology.kubernetes.io/region");
        if (region == NULL)
                region = k8c_sched_node_label(node, "failure-domain.beta.kubernetes.io/region");
        const char *zone = k8c_sched_node_label(node, "topology.kubernetes.io/zone");
        if (zone == NULL)
                zone = k8c_sched_node_label(node, "failure-domain.beta.kubernetes.io/zone");
        if (region == NULL && zone == NULL)
                return NULL;
        return k8c_xasprintf("%s:\x01:%s", region != NULL ? region : "", zone != NULL ? zone : "");
}

static void normalize(struct k8c_sched_cycle *cy, struct k8c_sched_nodeinfo *const *nodes, int64_t *scores,
                      size_t n)
{
        if (skip(cy))
                return;
        struct k8c_strmap zones;
        k8c_strmap_init(&zones);
        char **keys = k8c_xcalloc(n + 1, sizeof(char *));
        int64_t max_node = 0, max_zone = 0;
        for (size_t i = 0; i < n; i++) {
                if (scores[i] > max_node)
                        max_node = scores[i];
                keys[i] = zone_key(nodes[i]->node);
                if (keys[i] == NULL)
                        continue;
                void *v = NULL;
                k8c_strmap_get(&zones, keys[i], &v);
                k8c_strmap_put(&zones, keys[i], (void *)((intptr_t)v + scores[i]), NULL);
        }
        size_t it = 0;
        const char *k;
        void *v;
        while (k8c_strmap_next(&zones, &it, &k, &v))
                if ((intptr_t)v > max_zone)
                        max_zone = (intptr_t)v;
        bool have_zones = k8c_strmap_len(&zones) > 0;
        for (size_t i = 0; i < n; i++) {
                double f = K8C_SCHED_MAX_NODE_SCORE;
                if (max_node > 0)
                        f = K8C_SCHED_MAX_NODE_SCORE * ((double)(max_node - scores[i]) / (double)max_node);
                if (have_zones && keys[i] != NULL) {
                        void *zc = NULL;
                        k8c_strmap_get(&zones, keys[i], &zc);
                        double zs = K8C_SCHED_MAX_NODE_SCORE;
                        if (max_zone > 0)
                                zs = K8C_SCHED_MAX_NODE_SCORE *
                                     ((double)(max_zone - (intptr_t)zc) / (double)max_zone);
                        f = f * (1.0 - ZONE_WEIGHTING) + ZONE_WEIGHTING * zs;
                }
                scores[i] = (int64_t)f;
        }
        for (size_t i = 0; i < n; i++)
                free(keys[i]);
        free(keys);
        k8c_strmap_clear(&zones);
}

const struct k8c_sched_plugin k8c_sched_plugin_selector_spread = {
        .name = "SelectorSpread",
        .score = score,
        .normalize = normalize,
        .default_weight = 1,
        .default_score = true,
};

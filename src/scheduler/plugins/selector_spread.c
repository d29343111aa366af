/*
 * selector_spread.c - SelectorSpread score: counts the pods on each node that
 * the incoming pod's Services and ReplicaSet select (same namespace, not
 * terminating), then normalises so emptier nodes and emptier zones score
 * higher (zone weighting 2/3), as kube-scheduler's SelectorSpread did.
 *
 * Counting uses the node's per-labelset pod counts (kept by nodeinfo.c as pods
 * come and go), and the selector is evaluated once per distinct labelset per
 * cycle, so a node costs a few pointer compares, not a walk over its pods.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "scheduler/framework.h"

#define ZONE_WEIGHTING (2.0 / 3.0)

static bool skip(const struct k8c_sched_cycle *cy)
{
        return cy->pod->has_spread_constraints;
}

static bool labelset_matches(struct k8c_sched_cycle *cy, const struct k8c_sched_interned *ls)
{
        size_t slot = ((uintptr_t)ls >> 4) % K8C_ARRAY_SIZE(cy->spread_memo);
        if (cy->spread_memo[slot].labelset == ls)
                return cy->spread_memo[slot].match;
        bool m = strcmp(ls->namespace_, cy->pod->namespace_) == 0 &&
                 k8c_selector_matches(cy->spread_selector, ls->labels);
        cy->spread_memo[slot].labelset = ls;
        cy->spread_memo[slot].match = m;
        return m;
}

static int64_t score(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni)
{
        if (skip(cy) || cy->spread_selector == NULL)
                return 0;
        int64_t count = 0;
        for (size_t i = 0; i < ni->nlabels; i++)
                if (labelset_matches(cy, ni->labels[i].labelset))
                        count += ni->labels[i].count;
        return count;
}

/* Sum of scores per zone: open addressing on the interned zone pointer, sized for the zones
 * seen (clusters have a handful), grown at half full. */
struct zone_slot {
        const struct k8c_sched_interned *zone;
        int64_t sum;
};

struct zone_table {
        struct zone_slot *t;
        size_t cap, n;
        bool heap; /* t was allocated (else it is the caller's small array) */
};

static struct zone_slot *zone_find(const struct zone_table *zt, const struct k8c_sched_interned *zone)
{
        size_t i = ((uintptr_t)zone >> 4) & (zt->cap - 1);
        while (zt->t[i].zone != NULL && zt->t[i].zone != zone)
                i = (i + 1) & (zt->cap - 1);
        return &zt->t[i];
}

static struct zone_slot *zone_add(struct zone_table *zt, const struct k8c_sched_interned *zone)
{
        struct zone_slot *z = zone_find(zt, zone);
        if (z->zone != NULL)
                return z;
        if (2 * (zt->n + 1) > zt->cap) {
                struct zone_table bigger = { k8c_xcalloc(zt->cap * 2, sizeof(struct zone_slot)), zt->cap * 2,
                                             zt->n, true };
                for (size_t i = 0; i < zt->cap; i++)
                        if (zt->t[i].zone != NULL)
                                *zone_find(&bigger, zt->t[i].zone) = zt->t[i];
                if (zt->heap)
                        free(zt->t);
                *zt = bigger;
                z = zone_find(zt, zone);
        }
        z->zone = zone;
        zt->n++;
        return z;
}

static void normalize(struct k8c_sched_cycle *cy, struct k8c_sched_nodeinfo *const *nodes, int64_t *scores,
                      size_t n)
{
        if (skip(cy))
                return;
        int64_t max_node = 0, max_zone = 0;
        bool have_zones = false;
        for (size_t i = 0; i < n; i++) {
                if (scores[i] > max_node)
                        max_node = scores[i];
                have_zones = have_zones || nodes[i]->view->zone != NULL;
        }
        /* With every count 0 (no selector, or nothing selected yet), every zone sums to 0 too. */
        struct zone_slot small[16] = { 0 };
        struct zone_table zones = { small, K8C_ARRAY_SIZE(small), 0, false };
        if (have_zones && max_node > 0) {
                for (size_t i = 0; i < n; i++) {
                        if (nodes[i]->view->zone == NULL)
                                continue;
                        struct zone_slot *z = zone_add(&zones, nodes[i]->view->zone);
                        z->sum += scores[i];
                        if (z->sum > max_zone)
                                max_zone = z->sum;
                }
        }
        for (size_t i = 0; i < n; i++) {
                double f = K8C_SCHED_MAX_NODE_SCORE;
                if (max_node > 0)
                        f = K8C_SCHED_MAX_NODE_SCORE * ((double)(max_node - scores[i]) / (double)max_node);
                if (have_zones && nodes[i]->view->zone != NULL) {
                        int64_t zc = zones.n > 0 ? zone_find(&zones, nodes[i]->view->zone)->sum : 0;
                        double zs = K8C_SCHED_MAX_NODE_SCORE;
                        if (max_zone > 0)
                                zs = K8C_SCHED_MAX_NODE_SCORE * ((double)(max_zone - zc) / (double)max_zone);
                        f = f * (1.0 - ZONE_WEIGHTING) + ZONE_WEIGHTING * zs;
                }
                scores[i] = (int64_t)f;
        }
        if (zones.heap)
                free(zones.t);
}

/* Skipped (topology spread constraints): 0 everywhere. Nothing selects the pod: every count is 0,
 * which normalises to 100 on every node, with or without a zone. */
static int64_t score_constant(struct k8c_sched_cycle *cy, struct k8c_sched_nodeinfo *const *nodes, size_t n)
{
        if (skip(cy))
                return 0;
        return cy->spread_selector == NULL ? K8C_SCHED_MAX_NODE_SCORE : -1;
}

const struct k8c_sched_plugin k8c_sched_plugin_selector_spread = {
        .name = "SelectorSpread",
        .score = score,
        .normalize = normalize,
        .score_constant = score_constant,
        .default_weight = 1,
        .default_score = true,
};

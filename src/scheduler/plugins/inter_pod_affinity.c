/*
 * inter_pod_affinity.c - InterPodAffinity filter (required terms only):
 * the pod's podAffinity terms need matching pods in the node's topology
 * domain (or, for the first pod of a self-affine group, nothing matching
 * anywhere), its podAntiAffinity terms need none, and existing pods'
 * anti-affinity terms must not match it within their domains. Topology pair
 * counts are computed once per cycle (pre_filter), as kube-scheduler does;
 * a pod without terms only looks at nodes holding pods with anti-affinity
 * (none, usually: then the cycle costs nothing here).
 */
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/strmap.h"
#include "scheduler/framework.h"

struct state {
        struct k8c_strmap existing_anti; /* "key\1value" → count */
        struct k8c_strmap affinity;
        struct k8c_strmap anti;
        json_t *aff_terms, *anti_terms; /* borrowed */
};

static json_t *required_terms(const json_t *pod, const char *kind)
{
        return json_object_get(
                json_object_get(json_object_get(json_object_get(pod, "spec"), "affinity"), kind),
                "requiredDuringSchedulingIgnoredDuringExecution");
}

static bool term_matches(const json_t *term, const char *owner_ns, const struct k8c_sched_podinfo *p)
{
        json_t *nss = json_object_get(term, "namespaces");
        json_t *nssel = json_object_get(term, "namespaceSelector");
        bool ns_ok = false;
        if (json_array_size(nss) == 0 && (nssel == NULL || json_is_null(nssel))) {
                ns_ok = strcmp(owner_ns, p->namespace_) == 0;
        } else {
                size_t i;
                json_t *v;
                json_array_foreach(nss, i, v) ns_ok =
                        ns_ok || (json_is_string(v) && strcmp(json_string_value(v), p->namespace_) == 0);
                /* Namespace labels are not watched: only the empty selector ("all namespaces") is honoured.
                 */
                if (json_is_object(nssel) && json_object_size(nssel) == 0)
                        ns_ok = true;
        }
        if (!ns_ok)
                return false;
        json_t *ls = json_object_get(term, "labelSelector");
        if (ls == NULL || json_is_null(ls))
                return false;
        return k8c_sched_label_selector_matches(
                ls, json_object_get(json_object_get(p->pod, "metadata"), "labels"));
}

static bool matches_all(const json_t *terms, const char *owner_ns, const struct k8c_sched_podinfo *p)
{
        size_t i;
        json_t *t;
        json_array_foreach(terms, i, t) if (!term_matches(t, owner_ns, p)) return false;
        return json_array_size(terms) > 0;
}

static void inc(struct k8c_strmap *m, const char *key, const char *value)
{
        cleanup_free char *k = k8c_xasprintf("%s\x01%s", key, value);
        void *v = NULL;
        k8c_strmap_get(m, k, &v);
        k8c_strmap_put(m, k, (void *)((intptr_t)v + 1), NULL);
}

static intptr_t get(const struct k8c_strmap *m, const char *key, const char *value)
{
        cleanup_free char *k = k8c_xasprintf("%s\x01%s", key, value);
        void *v = NULL;
        k8c_strmap_get(m, k, &v);
        return (intptr_t)v;
}

static void pre_filter(struct k8c_sched_cycle *cy)
{
        struct state *s = k8c_xcalloc(1, sizeof(*s));
        k8c_strmap_init(&s->existing_anti);
        k8c_strmap_init(&s->affinity);
        k8c_strmap_init(&s->anti);
        s->aff_terms = required_terms(cy->pod->pod, "podAffinity");
        s->anti_terms = required_terms(cy->pod->pod, "podAntiAffinity");
        cy->interpod_state = s;
        bool own_terms = cy->pod->has_pod_affinity || cy->pod->has_pod_anti_affinity;
        if (!own_terms && cy->snap->nodes_with_anti == 0)
                return;
        for (size_t n = 0; n < cy->snap->n; n++) {
                const struct k8c_sched_nodeinfo *ni = cy->snap->nodes[n];
                if (!own_terms && ni->nanti == 0)
                        continue;
                for (size_t i = 0; i < ni->npods; i++) {
                        const struct k8c_sched_podinfo *p = ni->pods[i];
                        if (!own_terms && !p->has_pod_anti_affinity)
                                continue;
                        size_t j;
                        json_t *t;
                        json_array_foreach(required_terms(p->pod, "podAntiAffinity"), j, t)
                        {
                                const char *tk = json_string_value(json_object_get(t, "topologyKey"));
                                const char *tv = tk != NULL ? k8c_sched_node_label(ni->node, tk) : NULL;
                                if (tv != NULL && term_matches(t, p->namespace_, cy->pod))
                                        inc(&s->existing_anti, tk, tv);
                        }
                        if (matches_all(s->aff_terms, cy->pod->namespace_, p)) {
                                json_array_foreach(s->aff_terms, j, t)
                                {
                                        const char *tk = json_string_value(json_object_get(t, "topologyKey"));
                                        const char *tv =
                                                tk != NULL ? k8c_sched_node_label(ni->node, tk) : NULL;
                                        if (tv != NULL)
                                                inc(&s->affinity, tk, tv);
                                }
                        }
                        json_array_foreach(s->anti_terms, j, t)
                        {
                                const char *tk = json_string_value(json_object_get(t, "topologyKey"));
                                const char *tv = tk != NULL ? k8c_sched_node_label(ni->node, tk) : NULL;
                                if (tv != NULL && term_matches(t, cy->pod->namespace_, p))
                                        inc(&s->anti, tk, tv);
                        }
                }
        }
}

static void cycle_free(struct k8c_sched_cycle *cy)
{
        struct state *s = cy->interpod_state;
        if (s == NULL)
                return;
        k8c_strmap_clear(&s->existing_anti);
        k8c_strmap_clear(&s->affinity);
        k8c_strmap_clear(&s->anti);
        free(s);
        cy->interpod_state = NULL;
}

static k8c_sched_code_t filter(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                               struct k8c_sched_status *st)
{
        struct state *s = cy->interpod_state;
        size_t i;
        json_t *t;
        if (json_array_size(s->aff_terms) > 0) {
                bool pods_exist = true;
                json_array_foreach(s->aff_terms, i, t)
                {
                        const char *tk = json_string_value(json_object_get(t, "topologyKey"));
                        const char *tv = tk != NULL ? k8c_sched_node_label(ni->node, tk) : NULL;
                        if (tv == NULL) {
                                pods_exist = false;
                                k8c_sched_status_add_reason(st, "node(s) didn't match pod affinity rules");
                                return st->code = K8C_SCHED_UNSCHEDULABLE;
                        }
                        if (get(&s->affinity, tk, tv) <= 0)
                                pods_exist = false;
                }
                /* The first pod of a group with affinity to itself must be able to start somewhere. */
                if (!pods_exist && !(k8c_strmap_len(&s->affinity) == 0 &&
                                     matches_all(s->aff_terms, cy->pod->namespace_, cy->pod))) {
                        k8c_sched_status_add_reason(st, "node(s) didn't match pod affinity rules");
                        return st->code = K8C_SCHED_UNSCHEDULABLE;
                }
        }
        json_array_foreach(s->anti_terms, i, t)
        {
                const char *tk = json_string_value(json_object_get(t, "topologyKey"));
                const char *tv = tk != NULL ? k8c_sched_node_label(ni->node, tk) : NULL;
                if (tv != NULL && get(&s->anti, tk, tv) > 0) {
                        k8c_sched_status_add_reason(st, "node(s) didn't match pod anti-affinity rules");
                        return st->code = K8C_SCHED_UNSCHEDULABLE;
                }
        }
        if (k8c_strmap_len(&s->existing_anti) > 0) {
                const char *k;
                json_t *v;
                json_object_foreach(json_object_get(json_object_get(ni->node, "metadata"), "labels"), k, v)
                {
                        if (json_is_string(v) && get(&s->existing_anti, k, json_string_value(v)) > 0) {
                                k8c_sched_status_add_reason(
                                        st, "node(s) didn't satisfy existing pods anti-affinity rules");
                                return st->code = K8C_SCHED_UNSCHEDULABLE;
                        }
                }
        }
        return K8C_SCHED_OK;
}

/* No terms of its own and no existing pod's anti-affinity matching it: nothing to check. */
static bool filter_skip(const struct k8c_sched_cycle *cy)
{
        const struct state *s = cy->interpod_state;
        return s != NULL && json_array_size(s->aff_terms) == 0 && json_array_size(s->anti_terms) == 0 &&
               k8c_strmap_len(&s->existing_anti) == 0;
}

const struct k8c_sched_plugin k8c_sched_plugin_inter_pod_affinity = {
        .name = "InterPodAffinity",
        .pre_filter = pre_filter,
        .cycle_free = cycle_free,
        .filter = filter,
        .filter_skip = filter_skip,
        .default_filter = true,
};

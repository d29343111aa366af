/*
 * inter_pod_affinity.c - InterPodAffinity filter (required terms only):
 * the pod's podAffinity terms need matching pods in the node's topology
 * domain (or, for the first pod of a self-affine group, nothing matching
 * anywhere), its podAntiAffinity terms need none, and existing pods'
 * anti-affinity terms must not match it within their domains. Topology pair
 * counts are computed once per cycle (pre_filter), as kube-scheduler does;
 * a pod without terms only looks at nodes holding pods with anti-affinity
 * (none, usually: then the cycle costs nothing here). Terms are compiled in
 * the podinfo (selectors parsed once per pod, not once per match).
 */
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/strmap.h"
#include "scheduler/framework.h"

/* Counts per (topology key, value): one map of values per distinct key (terms use a handful of
 * keys), so no "key=value" string is built per lookup. Keys are borrowed from the terms. */
struct pairmap {
        struct {
                const char *key;
                struct k8c_strmap values; /* value → count */
        } * v;
        size_t n;
};

static void inc(struct pairmap *m, const char *key, const char *value)
{
        size_t i = 0;
        while (i < m->n && strcmp(m->v[i].key, key) != 0)
                i++;
        if (i == m->n) {
                m->v = k8c_xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
                m->v[i].key = key;
                k8c_strmap_init(&m->v[i].values);
                m->n++;
        }
        void *c = NULL;
        k8c_strmap_get(&m->v[i].values, value, &c);
        k8c_strmap_put(&m->v[i].values, value, (void *)((intptr_t)c + 1), NULL);
}

static intptr_t get(const struct pairmap *m, const char *key, const char *value)
{
        for (size_t i = 0; i < m->n; i++) {
                if (strcmp(m->v[i].key, key) != 0)
                        continue;
                void *c = NULL;
                k8c_strmap_get(&m->v[i].values, value, &c);
                return (intptr_t)c;
        }
        return 0;
}

static void pairmap_clear(struct pairmap *m)
{
        for (size_t i = 0; i < m->n; i++)
                k8c_strmap_clear(&m->v[i].values);
        free(m->v);
        memset(m, 0, sizeof(*m));
}

struct state {
        struct pairmap existing_anti; /* existing pods' anti-affinity terms selecting the pod */
        struct pairmap affinity;      /* pods the pod's affinity terms select */
        struct pairmap anti;          /* pods the pod's anti-affinity terms select */
};

static bool matches_all(const struct k8c_sched_pod_term *terms, size_t n, const char *owner_ns,
                        const struct k8c_sched_podinfo *p)
{
        for (size_t i = 0; i < n; i++)
                if (!k8c_sched_pod_term_matches(&terms[i], owner_ns, p))
                        return false;
        return n > 0;
}

/* The node's label (k8c_sched_node_label) from its parsed view. */
static const char *label(const struct k8c_sched_nodeinfo *ni, const char *key)
{
        return json_string_value(json_object_get(ni->view->labels, key));
}

static void pre_filter(struct k8c_sched_cycle *cy)
{
        struct state *s = k8c_xcalloc(1, sizeof(*s));
        cy->interpod_state = s;
        const struct k8c_sched_podinfo *pod = cy->pod;
        bool own_terms = pod->has_pod_affinity || pod->has_pod_anti_affinity;
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
                        for (size_t j = 0; j < p->nanti_terms; j++) {
                                const struct k8c_sched_pod_term *t = &p->anti_terms[j];
                                const char *tk = t->topology_key;
                                const char *tv = tk != NULL ? label(ni, tk) : NULL;
                                if (tv != NULL && k8c_sched_pod_term_matches(t, p->namespace_, pod))
                                        inc(&s->existing_anti, tk, tv);
                        }
                        if (matches_all(pod->affinity_terms, pod->naffinity_terms, pod->namespace_, p)) {
                                for (size_t j = 0; j < pod->naffinity_terms; j++) {
                                        const char *tk = pod->affinity_terms[j].topology_key;
                                        const char *tv = tk != NULL ? label(ni, tk) : NULL;
                                        if (tv != NULL)
                                                inc(&s->affinity, tk, tv);
                                }
                        }
                        for (size_t j = 0; j < pod->nanti_terms; j++) {
                                const struct k8c_sched_pod_term *t = &pod->anti_terms[j];
                                const char *tk = t->topology_key;
                                const char *tv = tk != NULL ? label(ni, tk) : NULL;
                                if (tv != NULL && k8c_sched_pod_term_matches(t, pod->namespace_, p))
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
        pairmap_clear(&s->existing_anti);
        pairmap_clear(&s->affinity);
        pairmap_clear(&s->anti);
        free(s);
        cy->interpod_state = NULL;
}

/* Some label of the node is a (key, value) an existing pod's anti-affinity counted. */
static bool existing_anti_rejects(const struct state *s, const struct k8c_sched_nodeinfo *ni)
{
        for (size_t i = 0; i < s->existing_anti.n; i++) {
                const char *v = label(ni, s->existing_anti.v[i].key);
                if (v != NULL && get(&s->existing_anti, s->existing_anti.v[i].key, v) > 0)
                        return true;
        }
        return false;
}

static k8c_sched_code_t filter(struct k8c_sched_cycle *cy, const struct k8c_sched_nodeinfo *ni,
                               struct k8c_sched_status *st)
{
        struct state *s = cy->interpod_state;
        const struct k8c_sched_podinfo *pod = cy->pod;
        if (pod->naffinity_terms > 0) {
                bool pods_exist = true;
                for (size_t i = 0; i < pod->naffinity_terms; i++) {
                        const char *tk = pod->affinity_terms[i].topology_key;
                        const char *tv = tk != NULL ? label(ni, tk) : NULL;
                        if (tv == NULL) {
                                k8c_sched_status_add_reason(st, "node(s) didn't match pod affinity rules");
                                return st->code = K8C_SCHED_UNSCHEDULABLE;
                        }
                        if (get(&s->affinity, tk, tv) <= 0)
                                pods_exist = false;
                }
                /* The first pod of a group with affinity to itself must be able to start somewhere. */
                if (!pods_exist &&
                    !(s->affinity.n == 0 &&
                      matches_all(pod->affinity_terms, pod->naffinity_terms, pod->namespace_, pod))) {
                        k8c_sched_status_add_reason(st, "node(s) didn't match pod affinity rules");
                        return st->code = K8C_SCHED_UNSCHEDULABLE;
                }
        }
        for (size_t i = 0; i < pod->nanti_terms; i++) {
                const char *tk = pod->anti_terms[i].topology_key;
                const char *tv = tk != NULL ? label(ni, tk) : NULL;
                if (tv != NULL && get(&s->anti, tk, tv) > 0) {
                        k8c_sched_status_add_reason(st, "node(s) didn't match pod anti-affinity rules");
                        return st->code = K8C_SCHED_UNSCHEDULABLE;
                }
        }
        if (s->existing_anti.n > 0 && existing_anti_rejects(s, ni)) {
                k8c_sched_status_add_reason(st, "node(s) didn't satisfy existing pods anti-affinity rules");
                return st->code = K8C_SCHED_UNSCHEDULABLE;
        }
        return K8C_SCHED_OK;
}

/* No terms of its own and no existing pod's anti-affinity matching it: nothing to check. */
static bool filter_skip(const struct k8c_sched_cycle *cy)
{
        const struct state *s = cy->interpod_state;
        return s != NULL && cy->pod->naffinity_terms == 0 && cy->pod->nanti_terms == 0 &&
               s->existing_anti.n == 0;
}

const struct k8c_sched_plugin k8c_sched_plugin_inter_pod_affinity = {
        .name = "InterPodAffinity",
        .pre_filter = pre_filter,
        .cycle_free = cycle_free,
        .filter = filter,
        .filter_skip = filter_skip,
        .default_filter = true,
};

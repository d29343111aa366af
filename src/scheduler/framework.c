/*
 * framework.c - the plugin registry, profiles (defaults and
 * KubeSchedulerConfiguration), and one scheduling decision: run the filters
 * in order on every node (first rejection wins, as kube-scheduler), score the
 * feasible nodes, normalise, weight, sum, pick the best (random among equal
 * best), or explain the failure in Kubernetes' FitError words.
 *
 * Pure: no I/O, no locks. The caller owns the snapshot for the whole call.
 */
#include "scheduler/framework.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/strmap.h"

/* Default filter order as kube-scheduler's (NodeReady placed where the not-ready taint would be
 * caught), then score-only plugins. */
static const struct k8c_sched_plugin *const registry[] = {
        &k8c_sched_plugin_node_unschedulable, &k8c_sched_plugin_node_name,
        &k8c_sched_plugin_node_ready,         &k8c_sched_plugin_node_pressure,
        &k8c_sched_plugin_taint_toleration,   &k8c_sched_plugin_node_affinity,
        &k8c_sched_plugin_node_ports,         &k8c_sched_plugin_node_resources_fit,
        &k8c_sched_plugin_inter_pod_affinity, &k8c_sched_plugin_balanced_allocation,
        &k8c_sched_plugin_selector_spread,
};

const struct k8c_sched_plugin *const *k8c_sched_plugins_all(size_t *ret_n)
{
        *ret_n = K8C_ARRAY_SIZE(registry);
        return registry;
}

const struct k8c_sched_plugin *k8c_sched_plugin_lookup(const char *name)
{
        for (size_t i = 0; i < K8C_ARRAY_SIZE(registry); i++)
                if (strcmp(registry[i]->name, name) == 0)
                        return registry[i];
        return NULL;
}

void k8c_sched_profile_default(struct k8c_sched_profile *ret)
{
        memset(ret, 0, sizeof(*ret));
        ret->scheduler_name = k8c_xstrdup("default-scheduler");
        for (size_t i = 0; i < K8C_ARRAY_SIZE(registry); i++) {
                if (registry[i]->default_filter)
                        ret->filters[ret->nfilters++] = (struct k8c_sched_profile_entry){ registry[i], 0 };
                if (registry[i]->default_score)
                        ret->scorers[ret->nscorers++] =
                                (struct k8c_sched_profile_entry){ registry[i], registry[i]->default_weight };
        }
        ret->strategy = K8C_SCHED_MOST_ALLOCATED;
        ret->resources[0] = (struct k8c_sched_resource_weight){ "cpu", 1 };
        ret->resources[1] = (struct k8c_sched_resource_weight){ "memory", 1 };
        ret->nresources = 2;
}

void k8c_sched_profile_free(struct k8c_sched_profile *p)
{
        free(p->scheduler_name);
        p->scheduler_name = NULL;
}

static void entries_remove(struct k8c_sched_profile_entry *e, size_t *n, const char *name)
{
        size_t w = 0;
        for (size_t i = 0; i < *n; i++)
                if (strcmp(name, "*") != 0 && strcmp(e[i].plugin->name, name) != 0)
                        e[w++] = e[i];
        *n = w;
}

static int entries_apply(const json_t *set, bool score, struct k8c_sched_profile_entry *e, size_t *n,
                         k8c_error_t *err)
{
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(set, "disabled"), i, p)
        {
                const char *name = json_string_value(json_object_get(p, "name"));
                if (name == NULL)
                        return k8c_make_error(err, K8C_EINVALID, "plugins: disabled entry without a name");
                entries_remove(e, n, name);
        }
        json_array_foreach(json_object_get(set, "enabled"), i, p)
        {
                const char *name = json_string_value(json_object_get(p, "name"));
                const struct k8c_sched_plugin *pl = name != NULL ? k8c_sched_plugin_lookup(name) : NULL;
                if (pl == NULL)
                        return k8c_make_error(err, K8C_EINVALID, "plugins: unknown plugin %s",
                                              name != NULL ? name : "(no name)");
                if (score ? pl->score == NULL : pl->filter == NULL)
                        return k8c_make_error(err, K8C_EINVALID, "plugins: %s is not a %s plugin", name,
                                              score ? "score" : "filter");
                json_int_t weight = json_integer_value(json_object_get(p, "weight"));
                if (weight < 0 || weight > 100)
                        return k8c_make_error(err, K8C_EINVALID, "plugins: weight of %s must be in 0..100",
                                              name);
                entries_remove(e, n, name);
                if (*n >= 16)
                        return k8c_make_error(err, K8C_EINVALID, "plugins: too many plugins");
                e[(*n)++] = (struct k8c_sched_profile_entry){ pl, weight > 0 ? weight : pl->default_weight };
        }
        return 0;
}

int k8c_sched_profile_from_config(const json_t *config, const char *scheduler_name,
                                  struct k8c_sched_profile *ret, k8c_error_t *err)
{
        struct k8c_sched_profile p;
        k8c_sched_profile_default(&p);
        const char *kind = json_string_value(json_object_get(config, "kind"));
        if (kind != NULL && strcmp(kind, "KubeSchedulerConfiguration") != 0) {
                k8c_sched_profile_free(&p);
                return k8c_make_error(err, K8C_EINVALID, "config: kind %s is not KubeSchedulerConfiguration",
                                      kind);
        }
        json_t *profiles = json_object_get(config, "profiles");
        json_t *prof = json_array_get(profiles, 0);
        size_t i;
        json_t *v;
        json_array_foreach(profiles, i, v)
        {
                const char *n = json_string_value(json_object_get(v, "schedulerName"));
                if (n != NULL && scheduler_name != NULL && strcmp(n, scheduler_name) == 0) {
                        prof = v;
                        break;
                }
        }
        const char *n = json_string_value(json_object_get(prof, "schedulerName"));
        free(p.scheduler_name);
        p.scheduler_name = k8c_xstrdup(n != NULL                ? n
                                       : scheduler_name != NULL ? scheduler_name
                                                                : "default-scheduler");

        /* percentageOfNodesToScore: the profile's, else the top-level one; 0 = adaptive. */
        json_t *pct = json_object_get(prof, "percentageOfNodesToScore");
        if (pct == NULL || json_is_null(pct))
                pct = json_object_get(config, "percentageOfNodesToScore");
        if (pct != NULL && !json_is_null(pct)) {
                if (!json_is_integer(pct) || json_integer_value(pct) < 0 || json_integer_value(pct) > 100) {
                        k8c_sched_profile_free(&p);
                        return k8c_make_error(
                                err, K8C_EINVALID,
                                "config: percentageOfNodesToScore must be an integer in 0..100");
                }
                p.percentage_of_nodes_to_score = (int)json_integer_value(pct);
        }

        json_t *plugins = json_object_get(prof, "plugins");
        int r = 0;
        json_t *mp = json_object_get(plugins, "multiPoint");
        if (mp != NULL) {
                /* multiPoint disables/enables at both extension points a plugin implements. */
                json_auto_t *fset = json_object(), *sset = json_object();
                json_object_set(fset, "disabled", json_object_get(mp, "disabled"));
                json_object_set(sset, "disabled", json_object_get(mp, "disabled"));
                json_auto_t *fen = json_array(), *sen = json_array();
                json_array_foreach(json_object_get(mp, "enabled"), i, v)
                {
                        const struct k8c_sched_plugin *pl =
                                k8c_sched_plugin_lookup(json_string_value(json_object_get(v, "name")) ?: "");
                        if (pl == NULL || pl->filter != NULL)
                                json_array_append(fen, v);
                        if (pl != NULL && pl->score != NULL)
                                json_array_append(sen, v);
                }
                json_object_set(fset, "enabled", fen);
                json_object_set(sset, "enabled", sen);
                r = entries_apply(fset, false, p.filters, &p.nfilters, err);
                if (r >= 0)
                        r = entries_apply(sset, true, p.scorers, &p.nscorers, err);
        }
        if (r >= 0)
                r = entries_apply(json_object_get(plugins, "filter"), false, p.filters, &p.nfilters, err);
        if (r >= 0)
                r = entries_apply(json_object_get(plugins, "score"), true, p.scorers, &p.nscorers, err);
        if (r < 0) {
                k8c_sched_profile_free(&p);
                return r;
        }

        json_array_foreach(json_object_get(prof, "pluginConfig"), i, v)
        {
                const char *pn = json_string_value(json_object_get(v, "name"));
                if (pn == NULL || strcmp(pn, "NodeResourcesFit") != 0)
                        continue;
                json_t *strat = json_object_get(json_object_get(v, "args"), "scoringStrategy");
                const char *type = json_string_value(json_object_get(strat, "type"));
                if (type == NULL || strcmp(type, "MostAllocated") == 0) {
                        p.strategy = K8C_SCHED_MOST_ALLOCATED;
                } else if (strcmp(type, "LeastAllocated") == 0) {
                        p.strategy = K8C_SCHED_LEAST_ALLOCATED;
                } else {
                        k8c_sched_profile_free(&p);
                        return k8c_make_error(err, K8C_EINVALID,
                                              "config: scoringStrategy.type %s not supported (MostAllocated, "
                                              "LeastAllocated)",
                                              type);
                }
                json_t *res = json_object_get(strat, "resources");
                if (json_array_size(res) > 0) {
                        p.nresources = 0;
                        size_t j;
                        json_t *rv;
                        json_array_foreach(res, j, rv)
                        {
                                const char *rn = json_string_value(json_object_get(rv, "name"));
                                json_int_t w = json_integer_value(json_object_get(rv, "weight"));
                                if (rn == NULL || strlen(rn) >= sizeof(p.resources[0].name) ||
                                    p.nresources >= K8C_ARRAY_SIZE(p.resources)) {
                                        k8c_sched_profile_free(&p);
                                        return k8c_make_error(err, K8C_EINVALID,
                                                              "config: bad scoringStrategy.resources entry");
                                }
                                struct k8c_sched_resource_weight *rw = &p.resources[p.nresources++];
                                snprintf(rw->name, sizeof(rw->name), "%s", rn);
                                rw->weight = w > 0 ? w : 1;
                        }
                }
        }
        *ret = p;
        return 0;
}

/* ---- SelectorSpread selector ---- */

struct k8c_selector *k8c_sched_spread_selector(const json_t *pod, const json_t *services,
                                               const json_t *replicasets)
{
        json_t *md = json_object_get(pod, "metadata");
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        json_t *labels = json_object_get(md, "labels");
        json_auto_t *exprs = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(services, i, v)
        {
                json_t *smd = json_object_get(v, "metadata");
                const char *sns = json_string_value(json_object_get(smd, "namespace"));
                json_t *sel = json_object_get(json_object_get(v, "spec"), "selector");
                /* A Service without a selector selects nothing (not everything). */
                if (ns == NULL || sns == NULL || strcmp(ns, sns) != 0 || json_object_size(sel) == 0)
                        continue;
                json_auto_t *ls = json_pack("{s:O}", "matchLabels", sel);
                if (!k8c_sched_label_selector_matches(ls, labels))
                        continue;
                const char *k;
                json_t *val;
                json_object_foreach(sel, k, val) json_array_append_new(
                        exprs, json_pack("{s:s, s:s, s:[O]}", "key", k, "operator", "In", "values", val));
        }
        json_array_foreach(json_object_get(md, "ownerReferences"), i, v)
        {
                const char *kind = json_string_value(json_object_get(v, "kind"));
                const char *api = json_string_value(json_object_get(v, "apiVersion"));
                const char *name = json_string_value(json_object_get(v, "name"));
                if (!json_is_true(json_object_get(v, "controller")) || kind == NULL || api == NULL ||
                    name == NULL || strcmp(kind, "ReplicaSet") != 0 || strcmp(api, "apps/v1") != 0)
                        continue;
                size_t j;
                json_t *rs;
                json_array_foreach(replicasets, j, rs)
                {
                        json_t *rmd = json_object_get(rs, "metadata");
                        const char *rn = json_string_value(json_object_get(rmd, "name"));
                        const char *rns = json_string_value(json_object_get(rmd, "namespace"));
                        if (rn == NULL || rns == NULL || ns == NULL || strcmp(rn, name) != 0 ||
                            strcmp(rns, ns) != 0)
                                continue;
                        json_t *sel = json_object_get(json_object_get(rs, "spec"), "selector");
                        const char *k;
                        json_t *val;
                        json_object_foreach(json_object_get(sel, "matchLabels"), k, val)
                                json_array_append_new(exprs, json_pack("{s:s, s:s, s:[O]}", "key", k,
                                                                       "operator", "In", "values", val));
                        json_t *me = json_object_get(sel, "matchExpressions");
                        if (json_is_array(me))
                                json_array_extend(exprs, me);
                }
                break;
        }
        if (json_array_size(exprs) == 0)
                return NULL;
        json_auto_t *ls = json_pack("{s:O}", "matchExpressions", exprs);
        struct k8c_selector *sel = k8c_xcalloc(1, sizeof(*sel));
        if (k8c_selector_from_json(ls, sel, NULL) < 0) {
                free(sel);
                return NULL;
        }
        return sel;
}

/* ---- fit error ---- */

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

char *k8c_sched_fit_error_message(size_t num_nodes, const struct k8c_sched_node_diag *diag, size_t ndiag)
{
        struct k8c_strmap hist;
        k8c_strmap_init(&hist);
        for (size_t i = 0; i < ndiag; i++) {
                for (size_t j = 0; j < diag[i].nreasons; j++) {
                        void *v = NULL;
                        k8c_strmap_get(&hist, diag[i].reasons[j], &v);
                        k8c_strmap_put(&hist, diag[i].reasons[j], (void *)((intptr_t)v + 1), NULL);
                }
        }
        size_t n = k8c_strmap_len(&hist), k = 0, it = 0;
        char **items = k8c_xcalloc(n + 1, sizeof(char *));
        const char *key;
        void *v;
        while (k8c_strmap_next(&hist, &it, &key, &v))
                items[k++] = k8c_xasprintf("%ld %s", (long)(intptr_t)v, key);
        k8c_strmap_clear(&hist);
        /* sort.Strings on "count reason": lexicographic, so "10 x" sorts before "2 y" as in Kubernetes. */
        qsort(items, n, sizeof(char *), cmp_str);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        fprintf(f, "0/%zu nodes are available:", num_nodes);
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%s", i == 0 ? " " : ", ", items[i]);
        if (n > 0)
                fputc('.', f);
        fclose(f);
        k8c_strv_free(items);
        return buf;
}

/* ---- one decision ---- */

void k8c_sched_result_free(struct k8c_sched_result *r)
{
        free(r->node);
        for (size_t i = 0; i < r->ndiag; i++) {
                for (size_t j = 0; j < r->diag[i].nreasons; j++)
                        free(r->diag[i].reasons[j]);
                free(r->diag[i].reasons);
        }
        free(r->diag);
        free(r->message);
        free(r->nodes_scored);
        free(r->scores);
        memset(r, 0, sizeof(*r));
}

static bool profile_scores_with(const struct k8c_sched_profile *prof, const struct k8c_sched_plugin *pl)
{
        for (size_t i = 0; i < prof->nscorers; i++)
                if (prof->scorers[i].plugin == pl)
                        return true;
        return false;
}

#define MIN_FEASIBLE_NODES_TO_FIND 100
#define MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND 5

size_t k8c_sched_num_nodes_to_find(int percentage, size_t num_all_nodes)
{
        if (num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND || percentage >= 100)
                return num_all_nodes;
        size_t pct = (size_t)percentage;
        if (percentage <= 0) {
                ssize_t adaptive = 50 - (ssize_t)(num_all_nodes / 125);
                pct = adaptive < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND ? MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND
                                                                       : (size_t)adaptive;
        }
        size_t n = num_all_nodes * pct / 100;
        return n < MIN_FEASIBLE_NODES_TO_FIND ? MIN_FEASIBLE_NODES_TO_FIND : n;
}

static void schedule(const struct k8c_sched_profile *prof, const struct k8c_sched_snapshot *snap,
                     const struct k8c_sched_podinfo *pod, k8c_sched_rand_fn rnd, void *rnd_opaque,
                     size_t *next_start, struct k8c_sched_result *ret);

void k8c_sched_schedule_one(const struct k8c_sched_profile *prof, const struct k8c_sched_snapshot *snap,
                            const struct k8c_sched_podinfo *pod, k8c_sched_rand_fn rnd, void *rnd_opaque,
                            struct k8c_sched_result *ret)
{
        schedule(prof, snap, pod, rnd, rnd_opaque, NULL, ret);
}

void k8c_sched_schedule_sampled(const struct k8c_sched_profile *prof, const struct k8c_sched_snapshot *snap,
                                const struct k8c_sched_podinfo *pod, k8c_sched_rand_fn rnd, void *rnd_opaque,
                                size_t *next_start, struct k8c_sched_result *ret)
{
        schedule(prof, snap, pod, rnd, rnd_opaque, next_start, ret);
}

static void schedule(const struct k8c_sched_profile *prof, const struct k8c_sched_snapshot *snap,
                     const struct k8c_sched_podinfo *pod, k8c_sched_rand_fn rnd, void *rnd_opaque,
                     size_t *next_start, struct k8c_sched_result *ret)
{
        memset(ret, 0, sizeof(*ret));
        if (snap->n == 0) {
                ret->code = K8C_SCHED_UNSCHEDULABLE;
                ret->message = k8c_xstrdup("no nodes available to schedule pods");
                return;
        }
        struct k8c_sched_cycle cy = {
                .snap = snap,
                .pod = pod,
                .strategy = prof->strategy,
                .resources = prof->resources,
                .nresources = prof->nresources,
        };
        if (profile_scores_with(prof, &k8c_sched_plugin_selector_spread))
                cy.spread_selector = k8c_sched_spread_selector(pod->pod, snap->services, snap->replicasets);
        for (size_t f = 0; f < prof->nfilters; f++)
                if (prof->filters[f].plugin->pre_filter != NULL)
                        prof->filters[f].plugin->pre_filter(&cy);

        /* Sampling (kube-scheduler's percentageOfNodesToScore): stop once enough feasible nodes are
         * found, and start the next cycle where this one stopped so every node gets its turn. */
        size_t want = snap->n, start = 0;
        if (next_start != NULL) {
                want = k8c_sched_num_nodes_to_find(prof->percentage_of_nodes_to_score, snap->n);
                if (want < snap->n)
                        start = *next_start % snap->n;
        }
        /* Filters that cannot reject anything for this pod are left out of the per-node loop. */
        const struct k8c_sched_plugin *filters[K8C_ARRAY_SIZE(prof->filters)];
        size_t nfilters = 0;
        for (size_t f = 0; f < prof->nfilters; f++) {
                const struct k8c_sched_plugin *pl = prof->filters[f].plugin;
                if (pl->filter_skip == NULL || !pl->filter_skip(&cy))
                        filters[nfilters++] = pl;
        }
        struct k8c_sched_nodeinfo **feasible = k8c_xmalloc((want + 1) * sizeof(*feasible));
        size_t nfeasible = 0, diag_cap = 0;
        for (size_t k = 0; k < snap->n && nfeasible < want && ret->code != K8C_SCHED_ERROR; k++) {
                size_t i = start + k < snap->n ? start + k : start + k - snap->n;
                struct k8c_sched_nodeinfo *ni = snap->nodes[i];
                ret->evaluated++;
                bool ok = true;
                for (size_t f = 0; f < nfilters && ok; f++) {
                        struct k8c_sched_status st = { 0 };
                        const struct k8c_sched_plugin *pl = filters[f];
                        k8c_sched_code_t c = pl->filter(&cy, ni, &st);
                        if (c == K8C_SCHED_OK) {
                                if (st.nreasons > 0)
                                        k8c_sched_status_clear(&st);
                                continue;
                        }
                        ok = false;
                        if (c == K8C_SCHED_ERROR) {
                                ret->code = K8C_SCHED_ERROR;
                                ret->message =
                                        k8c_xasprintf("running %s filter plugin on node %s: %s", pl->name,
                                                      ni->name, st.nreasons > 0 ? st.reasons[0] : "error");
                                k8c_sched_status_clear(&st);
                                break;
                        }
                        if (ret->ndiag == diag_cap) {
                                diag_cap = diag_cap == 0 ? 16 : diag_cap * 2;
                                ret->diag = k8c_xrealloc(ret->diag, diag_cap * sizeof(*ret->diag));
                        }
                        struct k8c_sched_node_diag *d = &ret->diag[ret->ndiag++];
                        d->node = ni->name;
                        d->plugin = pl->name;
                        d->reasons = st.reasons;
                        d->nreasons = st.nreasons;
                }
                if (ok)
                        feasible[nfeasible++] = ni;
        }
        ret->feasible = nfeasible;
        if (next_start != NULL && want < snap->n)
                *next_start = (start + ret->evaluated) % snap->n;
        if (ret->code == K8C_SCHED_ERROR)
                goto out;
        if (nfeasible == 0) {
                ret->code = K8C_SCHED_UNSCHEDULABLE;
                ret->message = k8c_sched_fit_error_message(snap->n, ret->diag, ret->ndiag);
                goto out;
        }

        int64_t *total = k8c_xcalloc(nfeasible, sizeof(int64_t));
        /* With one feasible node there is nothing to rank (kube-scheduler skips scoring too). */
        if (nfeasible > 1) {
                int64_t *raw = k8c_xmalloc(nfeasible * sizeof(int64_t));
                for (size_t s = 0; s < prof->nscorers; s++) {
                        const struct k8c_sched_plugin *pl = prof->scorers[s].plugin;
                        int64_t constant = pl->score_constant != NULL
                                                   ? pl->score_constant(&cy, feasible, nfeasible)
                                                   : -1;
                        if (constant >= 0) {
                                int64_t v = constant > 100 ? 100 : constant;
                                for (size_t i = 0; i < nfeasible; i++)
                                        total[i] += v * prof->scorers[s].weight;
                                continue;
                        }
                        int64_t weight = prof->scorers[s].weight;
                        if (pl->normalize == NULL) {
                                /* Already 0..100: weigh as it comes, in one pass. */
                                for (size_t i = 0; i < nfeasible; i++) {
                                        int64_t v = pl->score(&cy, feasible[i]);
                                        total[i] += (v < 0 ? 0 : v > 100 ? 100 : v) * weight;
                                }
                                continue;
                        }
                        for (size_t i = 0; i < nfeasible; i++)
                                raw[i] = pl->score(&cy, feasible[i]);
                        pl->normalize(&cy, feasible, raw, nfeasible);
                        for (size_t i = 0; i < nfeasible; i++) {
                                int64_t v = raw[i] < 0 ? 0 : raw[i] > 100 ? 100 : raw[i];
                                total[i] += v * weight;
                        }
                }
                free(raw);
        }
        size_t best = 0, nbest = 0;
        for (size_t i = 0; i < nfeasible; i++) {
                if (nbest == 0 || total[i] > total[best]) {
                        best = i;
                        nbest = 1;
                } else if (total[i] == total[best]) {
                        nbest++;
                        if (rnd != NULL && rnd(rnd_opaque) % nbest == 0)
                                best = i;
                }
        }
        ret->code = K8C_SCHED_OK;
        ret->node = k8c_xstrdup(feasible[best]->name);
        ret->nscored = nfeasible;
        ret->nodes_scored = k8c_xmalloc(nfeasible * sizeof(*ret->nodes_scored));
        ret->scores = total;
        for (size_t i = 0; i < nfeasible; i++)
                ret->nodes_scored[i] = feasible[i]->name;
out:
        for (size_t f = 0; f < prof->nfilters; f++)
                if (prof->filters[f].plugin->cycle_free != NULL)
                        prof->filters[f].plugin->cycle_free(&cy);
        if (cy.spread_selector != NULL) {
                k8c_selector_free(cy.spread_selector);
                free(cy.spread_selector);
        }
        free(feasible);
}

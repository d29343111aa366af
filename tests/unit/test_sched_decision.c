/* Unit tests of whole scheduling decisions over fake clusters (framework.c, cache.c): packing,
 * spreading, ReplicaSet spreading, exact unschedulable messages, the assume cache, profiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/yaml.h"
#include "scheduler/cache.h"
#include "scheduler/framework.h"

static json_t *J(const char *s)
{
        json_error_t e;
        json_t *v = json_loads(s, 0, &e);
        if (v == NULL)
                fail_msg("bad test JSON: %s: %s", e.text, s);
        return v;
}

static json_t *node(const char *name, const char *cpu, const char *mem, const char *labels_json)
{
        json_t *n =
                json_pack("{s:s, s:{s:s, s:o}, s:{}, s:{s:{s:s, s:s, s:s}, s:[{s:s, s:s}]}}", "kind", "Node",
                          "metadata", "name", name, "labels", J(labels_json != NULL ? labels_json : "{}"),
                          "spec", "status", "allocatable", "cpu", cpu, "memory", mem, "pods", "110",
                          "conditions", "type", "Ready", "status", "True");
        return n;
}

static json_t *pod(const char *name, const char *cpu, const char *mem, const char *meta_json,
                   const char *spec_json)
{
        json_t *p = json_pack("{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:[{s:s, s:s, s:{s:{s:s, s:s}}}]}}", "kind",
                              "Pod", "metadata", "name", name, "namespace", "default", "uid", name, "spec",
                              "schedulerName", "default-scheduler", "containers", "name", "c", "image",
                              "busybox", "resources", "requests", "cpu", cpu, "memory", mem);
        if (meta_json != NULL) {
                json_auto_t *m = J(meta_json);
                json_object_update(json_object_get(p, "metadata"), m);
        }
        if (spec_json != NULL) {
                json_auto_t *s = J(spec_json);
                json_object_update(json_object_get(p, "spec"), s);
        }
        return p;
}

/* Schedules pod against the cache (snapshot → decide → assume), as the daemon's loop does.
 * Returns the node chosen (caller frees) or NULL, with the failure message in *ret_msg. */
static char *schedule_via_cache(const struct k8c_sched_profile *prof, struct k8c_sched_cache *cache,
                                json_t *p, json_t *services, json_t *rss, char **ret_msg)
{
        struct k8c_sched_snapshot *snap = k8c_sched_cache_snapshot(cache, services, rss);
        struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(p);
        struct k8c_sched_result r;
        k8c_sched_schedule_one(prof, snap, pi, NULL, NULL, &r);
        char *chosen = NULL;
        if (r.code == K8C_SCHED_OK) {
                assert_int_equal(k8c_sched_cache_assume(cache, p, r.node, NULL), 0);
                chosen = k8c_steal(&r.node);
        } else if (ret_msg != NULL) {
                *ret_msg = k8c_steal(&r.message);
        }
        k8c_sched_result_free(&r);
        k8c_sched_podinfo_unref(pi);
        k8c_sched_snapshot_free(snap);
        return chosen;
}

static struct k8c_sched_cache *cluster(int n, const char *cpu, const char *mem)
{
        struct k8c_sched_cache *c = k8c_sched_cache_new();
        for (int i = 1; i <= n; i++) {
                char name[32];
                snprintf(name, sizeof(name), "node-%d", i);
                json_auto_t *nd = node(name, cpu, mem, NULL);
                k8c_sched_cache_upsert_node(c, nd);
        }
        return c;
}

static void count_per_node(struct k8c_sched_cache *c, int nnodes, int *ret)
{
        struct k8c_sched_snapshot *s = k8c_sched_cache_snapshot(c, NULL, NULL);
        assert_int_equal(s->n, nnodes);
        for (size_t i = 0; i < s->n; i++)
                ret[i] = (int)s->nodes[i]->npods;
        k8c_sched_snapshot_free(s);
}

static void test_most_allocated_packs(void **state)
{
        struct k8c_sched_profile prof;
        k8c_sched_profile_default(&prof);
        assert_int_equal(prof.strategy, K8C_SCHED_MOST_ALLOCATED);
        struct k8c_sched_cache *c = cluster(3, "4", "8Gi");
        for (int i = 0; i < 6; i++) {
                char name[32];
                snprintf(name, sizeof(name), "p-%d", i);
                json_auto_t *p = pod(name, "1", "2Gi", NULL, NULL);
                cleanup_free char *n = schedule_via_cache(&prof, c, p, NULL, NULL, NULL);
                assert_non_null(n);
        }
        int per[3];
        count_per_node(c, 3, per);
        assert_int_equal(per[0], 4);
        assert_int_equal(per[1], 2);
        assert_int_equal(per[2], 0);
        k8c_sched_cache_free(c);
        k8c_sched_profile_free(&prof);
}

static void test_least_allocated_spreads(void **state)
{
        json_auto_t *cfg = J(
                "{\"apiVersion\":\"kubescheduler.config.k8s.io/v1\",\"kind\":\"KubeSchedulerConfiguration\","
                "\"profiles\":[{\"schedulerName\":\"default-scheduler\",\"pluginConfig\":[{\"name\":"
                "\"NodeResourcesFit\",\"args\":{\"scoringStrategy\":{\"type\":\"LeastAllocated\"}}}]}]}");
        struct k8c_sched_profile prof;
        assert_int_equal(k8c_sched_profile_from_config(cfg, "default-scheduler", &prof, NULL), 0);
        assert_int_equal(prof.strategy, K8C_SCHED_LEAST_ALLOCATED);
        struct k8c_sched_cache *c = cluster(3, "4", "8Gi");
        const char *want[] = { "node-1", "node-2", "node-3", "node-1", "node-2", "node-3" };
        for (int i = 0; i < 6; i++) {
                char name[32];
                snprintf(name, sizeof(name), "p-%d", i);
                json_auto_t *p = pod(name, "1", "2Gi", NULL, NULL);
                cleanup_free char *n = schedule_via_cache(&prof, c, p, NULL, NULL, NULL);
                assert_string_equal(n, want[i]);
        }
        int per[3];
        count_per_node(c, 3, per);
        assert_int_equal(per[0], 2);
        assert_int_equal(per[1], 2);
        assert_int_equal(per[2], 2);
        k8c_sched_cache_free(c);
        k8c_sched_profile_free(&prof);
}

static void test_replicaset_spreads_under_most_allocated(void **state)
{
        struct k8c_sched_profile prof;
        k8c_sched_profile_default(&prof);
        struct k8c_sched_cache *c = cluster(3, "4", "8Gi");
        json_auto_t *rss =
                J("[{\"metadata\":{\"name\":\"web-7d4\",\"namespace\":\"default\"},\"spec\":{\"selector\":"
                  "{\"matchLabels\":{\"app\":\"web\"}}}}]");
        const char *meta =
                "{\"labels\":{\"app\":\"web\"},\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":"
                "\"ReplicaSet\",\"name\":\"web-7d4\",\"uid\":\"u1\",\"controller\":true}]}";
        for (int i = 0; i < 6; i++) {
                char name[32];
                snprintf(name, sizeof(name), "web-%d", i);
                json_auto_t *p = pod(name, "100m", "128Mi", meta, NULL);
                cleanup_free char *n = schedule_via_cache(&prof, c, p, NULL, rss, NULL);
                assert_non_null(n);
        }
        int per[3];
        count_per_node(c, 3, per);
        assert_int_equal(per[0], 2);
        assert_int_equal(per[1], 2);
        assert_int_equal(per[2], 2);
        /* The same pods without an owner pack onto one node. */
        struct k8c_sched_cache *c2 = cluster(3, "4", "8Gi");
        for (int i = 0; i < 6; i++) {
                char name[32];
                snprintf(name, sizeof(name), "solo-%d", i);
                json_auto_t *p = pod(name, "100m", "128Mi", "{\"labels\":{\"app\":\"web\"}}", NULL);
                cleanup_free char *n = schedule_via_cache(&prof, c2, p, NULL, rss, NULL);
                assert_string_equal(n, "node-1");
        }
        k8c_sched_cache_free(c2);
        k8c_sched_cache_free(c);
        k8c_sched_profile_free(&prof);
}

static void test_unschedulable_message(void **state)
{
        struct k8c_sched_profile prof;
        k8c_sched_profile_default(&prof);
        json_auto_t *nodes =
                json_pack("[o,o,o]", node("node-1", "1", "4Gi", "{\"disk\":\"ssd\"}"),
                          node("node-2", "8", "4Gi", "{\"disk\":\"hdd\"}"), node("node-3", "8", "4Gi", NULL));
        json_auto_t *pods = json_array();
        struct k8c_sched_snapshot *snap = k8c_sched_snapshot_from_json(nodes, pods, NULL, NULL);
        json_auto_t *p = pod("web-1", "2", "1Gi", NULL, "{\"nodeSelector\":{\"disk\":\"ssd\"}}");
        struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(p);
        struct k8c_sched_result r;
        k8c_sched_schedule_one(&prof, snap, pi, NULL, NULL, &r);
        assert_int_equal(r.code, K8C_SCHED_UNSCHEDULABLE);
        assert_string_equal(r.message,
                            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's "
                            "node affinity/selector.");
        assert_int_equal(r.ndiag, 3);
        assert_string_equal(r.diag[0].node, "node-1");
        assert_string_equal(r.diag[0].plugin, "NodeResourcesFit");
        assert_string_equal(r.diag[1].plugin, "NodeAffinity");
        assert_string_equal(r.diag[2].node, "node-3");
        k8c_sched_result_free(&r);
        k8c_sched_podinfo_unref(pi);
        k8c_sched_snapshot_free(snap);

        /* No nodes at all. */
        json_auto_t *none = json_array();
        snap = k8c_sched_snapshot_from_json(none, none, NULL, NULL);
        pi = k8c_sched_podinfo_new(p);
        k8c_sched_schedule_one(&prof, snap, pi, NULL, NULL, &r);
        assert_int_equal(r.code, K8C_SCHED_UNSCHEDULABLE);
        assert_string_equal(r.message, "no nodes available to schedule pods");
        k8c_sched_result_free(&r);
        k8c_sched_podinfo_unref(pi);
        k8c_sched_snapshot_free(snap);

        /* Filters stop at the first rejection per node, in profile order. */
        json_auto_t *nodes2 = json_pack("[o,o]", node("a", "1", "1Gi", NULL), node("b", "1", "1Gi", NULL));
        json_object_set_new(json_object_get(json_array_get(nodes2, 0), "spec"), "unschedulable", json_true());
        json_object_set_new(json_object_get(json_array_get(nodes2, 1), "spec"), "taints",
                            J("[{\"key\":\"dedicated\",\"value\":\"infra\",\"effect\":\"NoSchedule\"}]"));
        snap = k8c_sched_snapshot_from_json(nodes2, none, NULL, NULL);
        json_auto_t *big = pod("big", "4", "4Gi", NULL, NULL);
        pi = k8c_sched_podinfo_new(big);
        k8c_sched_schedule_one(&prof, snap, pi, NULL, NULL, &r);
        assert_string_equal(r.message,
                            "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, "
                            "1 node(s) were unschedulable.");
        k8c_sched_result_free(&r);
        k8c_sched_podinfo_unref(pi);
        k8c_sched_snapshot_free(snap);
        k8c_sched_profile_free(&prof);
}

static void test_assume_prevents_overcommit(void **state)
{
        struct k8c_sched_profile prof;
        k8c_sched_profile_default(&prof);
        struct k8c_sched_cache *c = cluster(5, "2", "64Gi");
        int scheduled = 0, failed = 0;
        for (int i = 0; i < 50; i++) {
                char name[32];
                snprintf(name, sizeof(name), "p-%02d", i);
                json_auto_t *p = pod(name, "500m", "1Gi", NULL, NULL);
                cleanup_free char *msg = NULL;
                cleanup_free char *n = schedule_via_cache(&prof, c, p, NULL, NULL, &msg);
                if (n != NULL) {
                        scheduled++;
                } else {
                        failed++;
                        assert_string_equal(msg, "0/5 nodes are available: 5 Insufficient cpu.");
                }
        }
        /* None of the bindings has been confirmed by a watch, yet nothing is overcommitted. */
        assert_int_equal(scheduled, 20);
        assert_int_equal(failed, 30);
        assert_int_equal(k8c_sched_cache_num_assumed(c), 20);
        struct k8c_sched_snapshot *s = k8c_sched_cache_snapshot(c, NULL, NULL);
        for (size_t i = 0; i < s->n; i++) {
                assert_int_equal(s->nodes[i]->requested.milli_cpu, 2000);
                assert_int_equal(s->nodes[i]->npods, 4);
        }
        k8c_sched_snapshot_free(s);

        /* Confirmation by the watch replaces the assumed pod without double counting. */
        cleanup_free char *where = k8c_sched_cache_pod_node(c, "default/p-00");
        assert_non_null(where);
        json_auto_t *confirmed = pod("p-00", "500m", "1Gi", NULL, NULL);
        json_object_set_new(json_object_get(confirmed, "spec"), "nodeName", json_string(where));
        k8c_sched_cache_upsert_pod(c, confirmed);
        assert_false(k8c_sched_cache_is_assumed(c, "default/p-00"));
        assert_int_equal(k8c_sched_cache_num_assumed(c), 19);
        assert_int_equal(k8c_sched_cache_num_pods(c), 20);
        /* forget() leaves confirmed pods alone ... */
        k8c_sched_cache_forget(c, "default/p-00");
        assert_int_equal(k8c_sched_cache_num_pods(c), 20);
        /* ... and releases an assumed pod whose binding failed: exactly one more pod fits. */
        k8c_sched_cache_forget(c, "default/p-01");
        assert_int_equal(k8c_sched_cache_num_pods(c), 19);
        json_auto_t *again = pod("late-1", "500m", "1Gi", NULL, NULL);
        cleanup_free char *n1 = schedule_via_cache(&prof, c, again, NULL, NULL, NULL);
        assert_non_null(n1);
        json_auto_t *again2 = pod("late-2", "500m", "1Gi", NULL, NULL);
        cleanup_free char *msg2 = NULL;
        cleanup_free char *n2 = schedule_via_cache(&prof, c, again2, NULL, NULL, &msg2);
        assert_null(n2);
        assert_string_equal(msg2, "0/5 nodes are available: 5 Insufficient cpu.");
        /* Assuming a pod twice is refused. */
        assert_int_equal(k8c_sched_cache_assume(c, again, "node-1", NULL), -(int)K8C_ECONFLICT);
        /* A finished pod frees its node; deleting a node hides it from snapshots. */
        json_object_set_new(confirmed, "status", json_pack("{s:s}", "phase", "Succeeded"));
        k8c_sched_cache_upsert_pod(c, confirmed);
        assert_int_equal(k8c_sched_cache_num_pods(c), 19);
        k8c_sched_cache_delete_node(c, "node-5");
        assert_int_equal(k8c_sched_cache_num_nodes(c), 4);
        k8c_sched_cache_free(c);
        k8c_sched_profile_free(&prof);
}

static void test_scores_and_single_node(void **state)
{
        struct k8c_sched_profile prof;
        k8c_sched_profile_default(&prof);
        /* node-1 half full, node-2 empty: MostAllocated prefers node-1 and the totals are exact. */
        json_auto_t *nodes =
                json_pack("[o,o]", node("node-1", "4", "8Gi", NULL), node("node-2", "4", "8Gi", NULL));
        json_auto_t *bound = pod("old", "2", "4Gi", NULL, "{\"nodeName\":\"node-1\"}");
        json_auto_t *pods = json_pack("[O]", bound);
        struct k8c_sched_snapshot *snap = k8c_sched_snapshot_from_json(nodes, pods, NULL, NULL);
        json_auto_t *p = pod("new", "1", "2Gi", NULL, NULL);
        struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(p);
        struct k8c_sched_result r;
        k8c_sched_schedule_one(&prof, snap, pi, NULL, NULL, &r);
        assert_int_equal(r.code, K8C_SCHED_OK);
        assert_string_equal(r.node, "node-1");
        assert_int_equal(r.nscored, 2);
        /* TaintToleration 100×3 + NodeAffinity 0×2 + Fit (75)×1 + Balanced 100×1 + SelectorSpread 100×1 */
        assert_int_equal(r.scores[0], 300 + 75 + 100 + 100);
        assert_int_equal(r.scores[1], 300 + 25 + 100 + 100);
        k8c_sched_result_free(&r);
        k8c_sched_podinfo_unref(pi);
        k8c_sched_snapshot_free(snap);
        k8c_sched_profile_free(&prof);
}

static void test_profile_config(void **state)
{
        json_auto_t *cfg = J(
                "{\"kind\":\"KubeSchedulerConfiguration\",\"profiles\":[{\"schedulerName\":\"other\"},"
                "{\"schedulerName\":\"k8c\",\"plugins\":{\"filter\":{\"disabled\":[{\"name\":\"NodePorts\"}]}"
                ","
                "\"score\":{\"disabled\":[{\"name\":\"*\"}],\"enabled\":[{\"name\":\"NodeResourcesFit\","
                "\"weight\":5},"
                "{\"name\":\"SelectorSpread\"}]}},\"pluginConfig\":[{\"name\":\"NodeResourcesFit\",\"args\":"
                "{\"scoringStrategy\":{\"type\":\"MostAllocated\",\"resources\":[{\"name\":\"cpu\","
                "\"weight\":3},"
                "{\"name\":\"memory\",\"weight\":1}]}}}]}]}");
        struct k8c_sched_profile p;
        assert_int_equal(k8c_sched_profile_from_config(cfg, "k8c", &p, NULL), 0);
        assert_string_equal(p.scheduler_name, "k8c");
        assert_int_equal(p.nfilters, 8); /* 9 default filters (incl. NodePressure) less NodePorts */
        for (size_t i = 0; i < p.nfilters; i++)
                assert_string_not_equal(p.filters[i].plugin->name, "NodePorts");
        assert_int_equal(p.nscorers, 2);
        assert_string_equal(p.scorers[0].plugin->name, "NodeResourcesFit");
        assert_int_equal(p.scorers[0].weight, 5);
        assert_string_equal(p.scorers[1].plugin->name, "SelectorSpread");
        assert_int_equal(p.scorers[1].weight, 1);
        assert_int_equal(p.nresources, 2);
        assert_string_equal(p.resources[0].name, "cpu");
        assert_int_equal(p.resources[0].weight, 3);
        k8c_sched_profile_free(&p);

        k8c_error_t err = NULL;
        json_auto_t *bad =
                J("{\"profiles\":[{\"plugins\":{\"score\":{\"enabled\":[{\"name\":\"NodePorts\"}]}}}]}");
        assert_int_equal(k8c_sched_profile_from_config(bad, NULL, &p, &err), -(int)K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err), "plugins: NodePorts is not a score plugin");
        k8c_error_release(&err);
        json_auto_t *bad2 = J("{\"profiles\":[{\"pluginConfig\":[{\"name\":\"NodeResourcesFit\",\"args\":"
                              "{\"scoringStrategy\":{\"type\":\"RequestedToCapacityRatio\"}}}]}]}");
        assert_int_equal(k8c_sched_profile_from_config(bad2, NULL, &p, &err), -(int)K8C_EINVALID);
        assert_string_equal(
                k8c_error_msg(&err),
                "config: scoringStrategy.type RequestedToCapacityRatio not supported (MostAllocated, "
                "LeastAllocated)");
        k8c_error_release(&err);
        json_auto_t *bad3 =
                J("{\"profiles\":[{\"plugins\":{\"filter\":{\"enabled\":[{\"name\":\"Nope\"}]}}}]}");
        assert_int_equal(k8c_sched_profile_from_config(bad3, NULL, &p, &err), -(int)K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err), "plugins: unknown plugin Nope");
        k8c_error_release(&err);
}

/* The YAML form users write (KubeSchedulerConfiguration), through the YAML reader the daemon uses. */
static void test_profile_yaml(void **state)
{
        const char *yaml = "apiVersion: kubescheduler.config.k8s.io/v1\n"
                           "kind: KubeSchedulerConfiguration\n"
                           "profiles:\n"
                           "  - schedulerName: default-scheduler\n"
                           "    plugins:\n"
                           "      multiPoint:\n"
                           "        disabled:\n"
                           "          - name: SelectorSpread\n"
                           "      score:\n"
                           "        enabled:\n"
                           "          - name: TaintToleration\n"
                           "            weight: 7\n"
                           "    pluginConfig:\n"
                           "      - name: NodeResourcesFit\n"
                           "        args:\n"
                           "          scoringStrategy:\n"
                           "            type: LeastAllocated\n"
                           "            resources:\n"
                           "              - name: cpu\n"
                           "                weight: 2\n";
        json_auto_t *doc = NULL;
        assert_int_equal(k8c_yaml_to_json(yaml, strlen(yaml), &doc, NULL), 0);
        struct k8c_sched_profile p;
        assert_int_equal(k8c_sched_profile_from_config(doc, "default-scheduler", &p, NULL), 0);
        assert_int_equal(p.strategy, K8C_SCHED_LEAST_ALLOCATED);
        assert_int_equal(p.nresources, 1);
        assert_int_equal(p.resources[0].weight, 2);
        /* SelectorSpread gone; TaintToleration moved to the end with weight 7 */
        assert_int_equal(p.nscorers, 4);
        assert_string_equal(p.scorers[0].plugin->name, "NodeAffinity");
        assert_string_equal(p.scorers[1].plugin->name, "NodeResourcesFit");
        assert_string_equal(p.scorers[2].plugin->name, "NodeResourcesBalancedAllocation");
        assert_string_equal(p.scorers[3].plugin->name, "TaintToleration");
        assert_int_equal(p.scorers[3].weight, 7);
        assert_int_equal(p.nfilters, 9);
        k8c_sched_profile_free(&p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_most_allocated_packs),
                cmocka_unit_test(test_least_allocated_spreads),
                cmocka_unit_test(test_replicaset_spreads_under_most_allocated),
                cmocka_unit_test(test_unschedulable_message),
                cmocka_unit_test(test_assume_prevents_overcommit),
                cmocka_unit_test(test_scores_and_single_node),
                cmocka_unit_test(test_profile_config),
                cmocka_unit_test(test_profile_yaml),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

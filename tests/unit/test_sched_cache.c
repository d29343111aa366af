/* Unit tests of the scheduler cache's incremental state (cache.c, nodeinfo.c, framework.c):
 * per-node aggregates (requests, pods per labelset, anti-affinity pods, host ports) stay equal
 * to a recount over the node's pods through assume → bind → delete, relabels and terminations;
 * a snapshot kept and updated incrementally equals a fresh one; sampling
 * (percentageOfNodesToScore) with its round-robin start; spreading still spreads; the intern
 * table empties when everything is freed; node-affinity terms compiled into podinfo decide as
 * the JSON matcher does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
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

static json_t *node(const char *name, const char *cpu, const char *zone)
{
        json_t *n = json_pack("{s:s, s:{s:s, s:{s:s}}, s:{}, s:{s:{s:s, s:s, s:s}, s:[{s:s, s:s}]}}", "kind",
                              "Node", "metadata", "name", name, "labels", "kubernetes.io/hostname", name,
                              "spec", "status", "allocatable", "cpu", cpu, "memory", "8Gi", "pods", "110",
                              "conditions", "type", "Ready", "status", "True");
        if (zone != NULL)
                json_object_set_new(json_object_get(json_object_get(n, "metadata"), "labels"),
                                    "topology.kubernetes.io/zone", json_string(zone));
        return n;
}

/* A pod in default with app=<app> (NULL: no labels), 100m cpu; extra merged into spec. */
static json_t *pod(const char *name, const char *app, const char *node_name, const char *spec_json)
{
        json_t *p = json_pack("{s:s, s:{s:s, s:s, s:s}, s:{s:[{s:s, s:s, s:{s:{s:s, s:s}}}]}}", "kind", "Pod",
                              "metadata", "name", name, "namespace", "default", "uid", name, "spec",
                              "containers", "name", "c", "image", "busybox", "resources", "requests", "cpu",
                              "100m", "memory", "128Mi");
        if (app != NULL)
                json_object_set_new(json_object_get(p, "metadata"), "labels", json_pack("{s:s}", "app", app));
        if (node_name != NULL)
                json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(node_name));
        if (spec_json != NULL) {
                json_auto_t *s = J(spec_json);
                json_object_update(json_object_get(p, "spec"), s);
        }
        return p;
}

/* The aggregates of ni recomputed from its pods must equal the incremental ones. */
static void assert_consistent(const struct k8c_sched_nodeinfo *ni)
{
        int64_t cpu = 0, mem = 0, nz_cpu = 0;
        size_t nanti = 0, nports = 0, nlabelled = 0;
        for (size_t i = 0; i < ni->npods; i++) {
                const struct k8c_sched_podinfo *p = ni->pods[i];
                cpu += p->req.milli_cpu;
                mem += p->req.memory;
                nz_cpu += p->nonzero.milli_cpu;
                nanti += p->has_pod_anti_affinity;
                nports += p->nports;
                if (p->terminating)
                        continue;
                nlabelled++;
                int64_t same = 0;
                for (size_t j = 0; j < ni->npods; j++)
                        same += !ni->pods[j]->terminating && ni->pods[j]->labelset == p->labelset;
                assert_int_equal(k8c_sched_nodeinfo_label_count(ni, p->labelset), same);
        }
        assert_int_equal(ni->requested.milli_cpu, cpu);
        assert_int_equal(ni->requested.memory, mem);
        assert_int_equal(ni->nonzero_requested.milli_cpu, nz_cpu);
        assert_int_equal(ni->requested.pods, (int64_t)ni->npods);
        assert_int_equal(ni->nanti, nanti);
        assert_int_equal(ni->nports, nports);
        int64_t total = 0;
        for (size_t i = 0; i < ni->nlabels; i++) {
                assert_true(ni->labels[i].count > 0);
                total += ni->labels[i].count;
        }
        assert_int_equal(total, (int64_t)nlabelled);
}

static const struct k8c_sched_nodeinfo *find(const struct k8c_sched_snapshot *s, const char *name)
{
        ssize_t at = k8c_sched_snapshot_find(s, name);
        assert_true(at >= 0);
        return s->nodes[at];
}

static int64_t app_count(const struct k8c_sched_nodeinfo *ni, const char *app)
{
        json_auto_t *p = pod("probe", app, NULL, NULL);
        struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(p);
        int64_t n = k8c_sched_nodeinfo_label_count(ni, pi->labelset);
        k8c_sched_podinfo_unref(pi);
        return n;
}

static void test_assume_bind_delete(void **state)
{
        struct k8c_sched_cache *c = k8c_sched_cache_new();
        json_auto_t *n1 = node("node-1", "4", NULL), *n2 = node("node-2", "4", NULL);
        k8c_sched_cache_upsert_node(c, n1);
        k8c_sched_cache_upsert_node(c, n2);
        struct k8c_sched_snapshot *s = k8c_sched_cache_snapshot(c, NULL, NULL);

        /* assume (from the parsed pending pod, as the daemon does) */
        json_auto_t *p1 = pod("web-1", "web", NULL, NULL);
        struct k8c_sched_podinfo *pi1 = k8c_sched_podinfo_new(p1);
        assert_int_equal(k8c_sched_cache_assume_podinfo(c, pi1, "node-1", NULL), 0);
        k8c_sched_podinfo_unref(pi1);
        k8c_sched_cache_update_snapshot(c, s, NULL, NULL);
        assert_int_equal(find(s, "node-1")->npods, 1);
        assert_int_equal(find(s, "node-1")->requested.milli_cpu, 100);
        assert_int_equal(app_count(find(s, "node-1"), "web"), 1);
        assert_consistent(find(s, "node-1"));
        assert_true(k8c_sched_cache_is_assumed(c, "default/web-1"));

        /* the watch confirms the binding: counted once, no longer assumed */
        json_auto_t *b1 = pod("web-1", "web", "node-1", NULL);
        k8c_sched_cache_upsert_pod(c, b1);
        k8c_sched_cache_update_snapshot(c, s, NULL, NULL);
        assert_false(k8c_sched_cache_is_assumed(c, "default/web-1"));
        assert_int_equal(find(s, "node-1")->npods, 1);
        assert_int_equal(app_count(find(s, "node-1"), "web"), 1);
        assert_consistent(find(s, "node-1"));

        /* a second replica, then its binding fails: forgotten */
        json_auto_t *p2 = pod("web-2", "web", NULL, NULL);
        assert_int_equal(k8c_sched_cache_assume(c, p2, "node-1", NULL), 0);
        k8c_sched_cache_update_snapshot(c, s, NULL, NULL);
        assert_int_equal(app_count(find(s, "node-1"), "web"), 2);
        assert_int_equal(find(s, "node-1")->requested.milli_cpu, 200);
        assert_consistent(find(s, "node-1"));
        k8c_sched_cache_forget(c, "default/web-2");
        k8c_sched_cache_update_snapshot(c, s, NULL, NULL);
        assert_int_equal(app_count(find(s, "node-1"), "web"), 1);
        assert_consistent(find(s, "node-1"));

        /* other labels, host ports and anti-affinity on node-2 */
        json_auto_t *d1 =
                pod("db-1", "db", "node-2",
                    "{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":5432,\"hostPort\":5432}],"
                    "\"resources\":{\"requests\":{\"cpu\":\"1\"}}}],"
                    "\"affinity\":{\"podAntiAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":"
                    "[{\"labelSelector\":{\"matchLabels\":{\"app\":\"db\"}},"
                    "\"topologyKey\":\"kubernetes.io/hostname\"}]}}}");
        json_auto_t *u1 = pod("plain-1", NULL, "node-2", NULL);
        k8c_sched_cache_upsert_pod(c, d1);
        k8c_sched_cache_upsert_pod(c, u1);
        k8c_sched_cache_update_snapshot(c, s, NULL, NULL);
        const struct k8c_sched_nodeinfo *ni2 = find(s, "node-2");
        assert_int_equal(ni2->npods, 2);
        assert_int_equal(ni2->nanti, 1);
        assert_int_equal(ni2->nports, 1);
        assert_int_equal(ni2->nlabels, 2);
        assert_int_equal(app_count(ni2, "db"), 1);
        assert_int_equal(app_count(ni2, "web"), 0);
        assert_int_equal(s->nodes_with_anti, 1);
        assert_consistent(ni2);

        /* relabel: the count moves from one labelset to the other */
        json_auto_t *d1b = pod("db-1", "web", "node-2", NULL);
        k8c_sched_cache_upsert_pod(c, d1b);
        k8c_sched_cache_update_snapshot(c, s, NULL, NULL);
        ni2 = find(s, "node-2");
        assert_int_equal(app_count(ni2, "db"), 0);
        assert_int_equal(app_count(ni2, "web"), 1);
        assert_int_equal(ni2->nanti, 0);
        assert_int_equal(ni2->nports, 0);
        assert_int_equal(s->nodes_with_anti, 0);
        assert_consistent(ni2);

        /* terminating: still holds its requests, no longer counted for spreading */
        json_auto_t *t1 = pod("web-1", "web", "node-1", NULL);
        json_object_set_new(json_object_get(t1, "metadata"), "deletionTimestamp",
                            json_string("2026-01-01T00:00:00Z"));
        k8c_sched_cache_upsert_pod(c, t1);
        k8c_sched_cache_update_snapshot(c, s, NULL, NULL);
        assert_int_equal(find(s, "node-1")->requested.milli_cpu, 100);
        assert_int_equal(app_count(find(s, "node-1"), "web"), 0);
        assert_consistent(find(s, "node-1"));

        /* deletes empty everything */
        k8c_sched_cache_delete_pod(c, "default/web-1");
        k8c_sched_cache_delete_pod(c, "default/db-1");
        k8c_sched_cache_delete_pod(c, "default/plain-1");
        k8c_sched_cache_update_snapshot(c, s, NULL, NULL);
        for (size_t i = 0; i < s->n; i++) {
                assert_int_equal(s->nodes[i]->npods, 0);
                assert_int_equal(s->nodes[i]->nlabels, 0);
                assert_int_equal(s->nodes[i]->requested.milli_cpu, 0);
                assert_consistent(s->nodes[i]);
        }
        assert_int_equal(k8c_sched_cache_num_pods(c), 0);
        k8c_sched_snapshot_free(s);
        k8c_sched_cache_free(c);
        /* Every labelset and zone was released. */
        assert_int_equal(k8c_sched_intern_size(), 0);
}

/* Same node infos, in the same order, as a snapshot built from scratch. */
static void assert_same_snapshot(struct k8c_sched_cache *c, const struct k8c_sched_snapshot *kept)
{
        struct k8c_sched_snapshot *fresh = k8c_sched_cache_snapshot(c, NULL, NULL);
        assert_int_equal(kept->n, fresh->n);
        for (size_t i = 0; i < fresh->n; i++) {
                assert_ptr_equal(kept->nodes[i], fresh->nodes[i]);
                assert_consistent(kept->nodes[i]);
        }
        assert_int_equal(kept->nodes_with_anti, fresh->nodes_with_anti);
        k8c_sched_snapshot_free(fresh);
}

static void test_incremental_snapshot(void **state)
{
        struct k8c_sched_cache *c = k8c_sched_cache_new();
        struct k8c_sched_snapshot *s = k8c_sched_cache_snapshot(c, NULL, NULL);
        unsigned int seed = 7;
        const char *apps[] = { "web", "db", NULL };
        for (int step = 0; step < 600; step++) {
                char nname[32], pname[32];
                snprintf(nname, sizeof(nname), "node-%02d", rand_r(&seed) % 12);
                snprintf(pname, sizeof(pname), "p-%03d", rand_r(&seed) % 80);
                cleanup_free char *key = k8c_xasprintf("default/%s", pname);
                switch (rand_r(&seed) % 8) {
                case 0: {
                        json_auto_t *n = node(nname, "64", rand_r(&seed) % 2 ? "zone-a" : NULL);
                        k8c_sched_cache_upsert_node(c, n);
                        break;
                }
                case 1:
                        if (rand_r(&seed) % 4 == 0)
                                k8c_sched_cache_delete_node(c, nname);
                        break;
                case 2:
                case 3: {
                        json_auto_t *p = pod(pname, apps[rand_r(&seed) % 3], NULL, NULL);
                        k8c_sched_cache_assume(c, p, nname, NULL); /* may conflict: fine */
                        break;
                }
                case 4:
                case 5: {
                        cleanup_free char *on = k8c_sched_cache_pod_node(c, key);
                        json_auto_t *p =
                                pod(pname, apps[rand_r(&seed) % 3], on != NULL ? on : nname,
                                    rand_r(&seed) % 5 == 0
                                            ? "{\"affinity\":{\"podAntiAffinity\":{"
                                              "\"requiredDuringSchedulingIgnoredDuringExecution\":"
                                              "[{\"labelSelector\":{\"matchLabels\":{\"app\":\"db\"}},"
                                              "\"topologyKey\":\"kubernetes.io/hostname\"}]}}}"
                                            : NULL);
                        k8c_sched_cache_upsert_pod(c, p);
                        break;
                }
                case 6: k8c_sched_cache_forget(c, key); break;
                default: k8c_sched_cache_delete_pod(c, key); break;
                }
                /* Update after a few changes at a time, as the loop does between decisions. */
                if (rand_r(&seed) % 3 == 0) {
                        k8c_sched_cache_update_snapshot(c, s, NULL, NULL);
                        assert_same_snapshot(c, s);
                }
        }
        k8c_sched_cache_update_snapshot(c, s, NULL, NULL);
        assert_same_snapshot(c, s);
        k8c_sched_snapshot_free(s);
        k8c_sched_cache_free(c);
        assert_int_equal(k8c_sched_intern_size(), 0);
}

static void test_num_nodes_to_find(void **state)
{
        assert_int_equal(k8c_sched_num_nodes_to_find(0, 0), 0);
        assert_int_equal(k8c_sched_num_nodes_to_find(0, 50), 50);
        assert_int_equal(k8c_sched_num_nodes_to_find(0, 100), 100);   /* 48% of 100, but at least 100 */
        assert_int_equal(k8c_sched_num_nodes_to_find(0, 1000), 420);  /* 50 - 1000/125 = 42% */
        assert_int_equal(k8c_sched_num_nodes_to_find(0, 5000), 500);  /* 10% */
        assert_int_equal(k8c_sched_num_nodes_to_find(0, 10000), 500); /* floor of 5% */
        assert_int_equal(k8c_sched_num_nodes_to_find(30, 1000), 300);
        assert_int_equal(k8c_sched_num_nodes_to_find(5, 1000), 100);
        assert_int_equal(k8c_sched_num_nodes_to_find(100, 1000), 1000);

        json_auto_t *cfg = J("{\"kind\":\"KubeSchedulerConfiguration\",\"percentageOfNodesToScore\":30,"
                             "\"profiles\":[{\"schedulerName\":\"default-scheduler\"}]}");
        struct k8c_sched_profile p;
        assert_int_equal(k8c_sched_profile_from_config(cfg, "default-scheduler", &p, NULL), 0);
        assert_int_equal(p.percentage_of_nodes_to_score, 30);
        k8c_sched_profile_free(&p);
        json_auto_t *bad = J("{\"percentageOfNodesToScore\":101}");
        assert_true(k8c_sched_profile_from_config(bad, NULL, &p, NULL) < 0);
}

static struct k8c_sched_cache *cluster(int n, const char *cpu)
{
        struct k8c_sched_cache *c = k8c_sched_cache_new();
        for (int i = 0; i < n; i++) {
                char name[32];
                snprintf(name, sizeof(name), "node-%04d", i);
                json_auto_t *nd = node(name, cpu, NULL);
                k8c_sched_cache_upsert_node(c, nd);
        }
        return c;
}

static void test_sampling_round_robin(void **state)
{
        struct k8c_sched_profile prof;
        k8c_sched_profile_default(&prof);
        struct k8c_sched_cache *c = cluster(1000, "4");
        struct k8c_sched_snapshot *s = k8c_sched_cache_snapshot(c, NULL, NULL);
        size_t next = 0;
        json_auto_t *p = pod("p", NULL, NULL, NULL);
        struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(p);
        struct k8c_sched_result r;
        /* Every node fits: 420 looked at, the next cycle starts after them. */
        k8c_sched_schedule_sampled(&prof, s, pi, NULL, NULL, &next, &r);
        assert_int_equal(r.code, K8C_SCHED_OK);
        assert_int_equal(r.evaluated, 420);
        assert_int_equal(r.feasible, 420);
        assert_int_equal(next, 420);
        k8c_sched_result_free(&r);
        k8c_sched_schedule_sampled(&prof, s, pi, NULL, NULL, &next, &r);
        assert_int_equal(next, 840);
        /* Ties go to the first looked at: this cycle started at node-0420. */
        assert_string_equal(r.node, "node-0420");
        k8c_sched_result_free(&r);
        k8c_sched_schedule_sampled(&prof, s, pi, NULL, NULL, &next, &r);
        assert_int_equal(next, 260); /* wrapped around */
        k8c_sched_result_free(&r);
        k8c_sched_podinfo_unref(pi);

        /* A pod no node fits is checked against all of them. */
        json_auto_t *big =
                pod("big", NULL, NULL,
                    "{\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"5\"}}}]}");
        pi = k8c_sched_podinfo_new(big);
        k8c_sched_schedule_sampled(&prof, s, pi, NULL, NULL, &next, &r);
        assert_int_equal(r.code, K8C_SCHED_UNSCHEDULABLE);
        assert_int_equal(r.evaluated, 1000);
        assert_string_equal(r.message, "0/1000 nodes are available: 1000 Insufficient cpu.");
        k8c_sched_result_free(&r);
        k8c_sched_podinfo_unref(pi);

        /* k8c_sched_schedule_one still looks at every node. */
        pi = k8c_sched_podinfo_new(p);
        k8c_sched_schedule_one(&prof, s, pi, NULL, NULL, &r);
        assert_int_equal(r.evaluated, 1000);
        assert_string_equal(r.node, "node-0000");
        k8c_sched_result_free(&r);
        k8c_sched_podinfo_unref(pi);
        k8c_sched_snapshot_free(s);
        k8c_sched_cache_free(c);
        k8c_sched_profile_free(&prof);
}

static uint32_t rnd(void *opaque)
{
        return (uint32_t)rand_r(opaque);
}

/* The daemon's path (kept snapshot, sampling, assume of the parsed pod) over a cluster large
 * enough to be sampled: replicas of one ReplicaSet still spread, plain pods still pack. */
static void run_loop(struct k8c_sched_cache *c, json_t *rss, int npods, bool owned, const char *app)
{
        struct k8c_sched_profile prof;
        k8c_sched_profile_default(&prof);
        struct k8c_sched_snapshot *s = k8c_sched_cache_snapshot(c, NULL, rss);
        size_t next = 0;
        unsigned int seed = 3;
        for (int i = 0; i < npods; i++) {
                char name[32];
                snprintf(name, sizeof(name), "%s-%d", app, i);
                json_auto_t *p = pod(name, app, NULL, NULL);
                if (owned)
                        json_object_set_new(json_object_get(p, "metadata"), "ownerReferences",
                                            json_pack("[{s:s, s:s, s:s, s:b}]", "apiVersion", "apps/v1",
                                                      "kind", "ReplicaSet", "name", "web", "controller", 1));
                struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(p);
                k8c_sched_cache_update_snapshot(c, s, NULL, rss);
                struct k8c_sched_result r;
                k8c_sched_schedule_sampled(&prof, s, pi, rnd, &seed, &next, &r);
                assert_int_equal(r.code, K8C_SCHED_OK);
                assert_int_equal(k8c_sched_cache_assume_podinfo(c, pi, r.node, NULL), 0);
                k8c_sched_result_free(&r);
                k8c_sched_podinfo_unref(pi);
        }
        k8c_sched_snapshot_free(s);
        k8c_sched_profile_free(&prof);
}

static void test_spreading_still_spreads(void **state)
{
        json_auto_t *rss = J("[{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},"
                             "\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"web\"}}}}]");
        /* 300 nodes: 45% = 135 looked at per decision. 300 replicas: one per node. */
        struct k8c_sched_cache *c = cluster(300, "4");
        run_loop(c, rss, 300, true, "web");
        struct k8c_sched_snapshot *s = k8c_sched_cache_snapshot(c, NULL, rss);
        size_t spread_used = 0, spread_max = 0;
        for (size_t i = 0; i < s->n; i++) {
                spread_used += s->nodes[i]->npods > 0;
                if (s->nodes[i]->npods > spread_max)
                        spread_max = s->nodes[i]->npods;
                assert_consistent(s->nodes[i]);
        }
        assert_int_equal(spread_used, 300);
        assert_int_equal(spread_max, 1);
        k8c_sched_snapshot_free(s);
        k8c_sched_cache_free(c);

        /* 40 zones (the zone table grows past its first 16 slots): one replica per zone. */
        c = k8c_sched_cache_new();
        for (int i = 0; i < 40; i++) {
                char name[32], zone[32];
                snprintf(name, sizeof(name), "znode-%02d", i);
                snprintf(zone, sizeof(zone), "zone-%02d", i);
                json_auto_t *nd = node(name, "4", zone);
                k8c_sched_cache_upsert_node(c, nd);
        }
        run_loop(c, rss, 40, true, "web");
        s = k8c_sched_cache_snapshot(c, NULL, rss);
        for (size_t i = 0; i < s->n; i++)
                assert_int_equal(s->nodes[i]->npods, 1);
        k8c_sched_snapshot_free(s);
        k8c_sched_cache_free(c);

        /* The same number of pods without an owner pack (MostAllocated), sampling or not. */
        c = cluster(300, "4");
        run_loop(c, rss, 300, false, "solo");
        s = k8c_sched_cache_snapshot(c, NULL, rss);
        size_t used = 0;
        for (size_t i = 0; i < s->n; i++)
                used += s->nodes[i]->npods > 0;
        assert_true(used <= 10); /* 40 per node: at least 8 */
        k8c_sched_snapshot_free(s);
        k8c_sched_cache_free(c);
        assert_int_equal(k8c_sched_intern_size(), 0);
}

/* "One per node" (required anti-affinity to itself on the hostname) over the daemon's path: 150
 * replicas land on 150 distinct nodes of 150 (sampled: 100 looked at per decision), and one more
 * is unschedulable everywhere with Kubernetes' message. */
static void test_anti_affinity_one_per_node(void **state)
{
        struct k8c_sched_profile prof;
        k8c_sched_profile_default(&prof);
        struct k8c_sched_cache *c = cluster(150, "4");
        struct k8c_sched_snapshot *s = k8c_sched_cache_snapshot(c, NULL, NULL);
        size_t next = 0;
        const char *anti =
                "{\"affinity\":{\"podAntiAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":"
                "[{\"labelSelector\":{\"matchLabels\":{\"app\":\"one\"}},"
                "\"topologyKey\":\"kubernetes.io/hostname\"}]}}}";
        for (int i = 0; i <= 150; i++) {
                char name[32];
                snprintf(name, sizeof(name), "one-%d", i);
                json_auto_t *p = pod(name, "one", NULL, anti);
                struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(p);
                k8c_sched_cache_update_snapshot(c, s, NULL, NULL);
                struct k8c_sched_result r;
                k8c_sched_schedule_sampled(&prof, s, pi, NULL, NULL, &next, &r);
                if (i < 150) {
                        assert_int_equal(r.code, K8C_SCHED_OK);
                        assert_int_equal(k8c_sched_cache_assume_podinfo(c, pi, r.node, NULL), 0);
                } else {
                        assert_int_equal(r.code, K8C_SCHED_UNSCHEDULABLE);
                        assert_int_equal(r.evaluated, 150);
                        assert_string_equal(r.message,
                                            "0/150 nodes are available: 150 node(s) didn't match pod "
                                            "anti-affinity rules.");
                }
                k8c_sched_result_free(&r);
                k8c_sched_podinfo_unref(pi);
        }
        k8c_sched_cache_update_snapshot(c, s, NULL, NULL);
        assert_int_equal(s->nodes_with_anti, 150);
        for (size_t i = 0; i < s->n; i++) {
                assert_int_equal(s->nodes[i]->npods, 1);
                assert_consistent(s->nodes[i]);
        }
        /* A pod the existing pods' anti-affinity selects (app=one, no terms of its own) fits nowhere
         * either, for the other reason. */
        json_auto_t *plain = pod("plain-one", "one", NULL, NULL);
        struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(plain);
        struct k8c_sched_result r;
        k8c_sched_schedule_sampled(&prof, s, pi, NULL, NULL, &next, &r);
        assert_int_equal(r.code, K8C_SCHED_UNSCHEDULABLE);
        assert_string_equal(r.message, "0/150 nodes are available: 150 node(s) didn't satisfy existing pods "
                                       "anti-affinity rules.");
        k8c_sched_result_free(&r);
        k8c_sched_podinfo_unref(pi);
        k8c_sched_snapshot_free(s);
        k8c_sched_cache_free(c);
        k8c_sched_profile_free(&prof);
}

/* The node-affinity terms compiled into podinfo decide exactly as the JSON matcher. */
static void test_compiled_terms_match_json(void **state)
{
        static const char *const reqs[] = {
                "{\"key\":\"disk\",\"operator\":\"In\",\"values\":[\"ssd\",\"nvme\"]}",
                "{\"key\":\"disk\",\"operator\":\"In\",\"values\":[7,\"ssd\"]}",
                "{\"key\":\"disk\",\"operator\":\"NotIn\",\"values\":[\"ssd\"]}",
                "{\"key\":\"disk\",\"operator\":\"Exists\"}",
                "{\"key\":\"zone\",\"operator\":\"DoesNotExist\"}",
                "{\"key\":\"cores\",\"operator\":\"Gt\",\"values\":[\"8\"]}",
                "{\"key\":\"cores\",\"operator\":\"Lt\",\"values\":[\"8\"]}",
                "{\"key\":\"cores\",\"operator\":\"Gt\",\"values\":[\"8\",\"9\"]}",
                "{\"key\":\"cores\",\"operator\":\"Lt\",\"values\":[\"x\"]}",
                "{\"key\":\"disk\",\"operator\":\"Like\",\"values\":[\"ssd\"]}",
                "{\"operator\":\"Exists\"}",
        };
        static const char *const fields[] = {
                "",
                "{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"n1\"]}",
                "{\"key\":\"metadata.name\",\"operator\":\"NotIn\",\"values\":[\"n1\"]}",
                "{\"key\":\"metadata.name\",\"operator\":\"Exists\"}",
                "{\"key\":\"metadata.uid\",\"operator\":\"In\",\"values\":[\"n1\"]}",
        };
        static const char *const labels[] = {
                "{}",
                "{\"disk\":\"ssd\",\"cores\":\"16\"}",
                "{\"disk\":\"hdd\",\"cores\":\"4\",\"zone\":\"a\"}",
                "{\"cores\":\"x\"}",
        };
        static const char *const names[] = { "n1", "n2" };
        size_t checked = 0;
        for (size_t l = 0; l < K8C_ARRAY_SIZE(labels); l++) {
                for (size_t nm = 0; nm < K8C_ARRAY_SIZE(names); nm++) {
                        json_auto_t *nd = json_pack("{s:{s:s, s:o}}", "metadata", "name", names[nm], "labels",
                                                    J(labels[l]));
                        struct k8c_sched_nodeinfo *ni = k8c_sched_nodeinfo_new(names[nm], nd);
                        for (size_t a = 0; a <= K8C_ARRAY_SIZE(reqs); a++) {
                                for (size_t f = 0; f < K8C_ARRAY_SIZE(fields); f++) {
                                        /* a == count: no expression (fields only, or an empty term) */
                                        cleanup_free char *term_s = k8c_xasprintf(
                                                "{\"matchExpressions\":[%s%s%s],\"matchFields\":[%s]}",
                                                a < K8C_ARRAY_SIZE(reqs) ? reqs[a] : "",
                                                a < K8C_ARRAY_SIZE(reqs) && a > 0 ? "," : "",
                                                a < K8C_ARRAY_SIZE(reqs) && a > 0 ? reqs[a - 1] : "",
                                                fields[f]);
                                        json_auto_t *term = J(term_s);
                                        struct k8c_sched_node_term ct;
                                        k8c_sched_node_term_compile(term, &ct);
                                        bool want = k8c_sched_node_selector_term_matches(term, nd);
                                        if (k8c_sched_node_term_match(&ct, ni->view) != want)
                                                fail_msg("term %s on %s labels %s: want %d", term_s,
                                                         names[nm], labels[l], want);
                                        k8c_sched_node_term_free(&ct);
                                        checked++;
                                }
                        }
                        k8c_sched_nodeinfo_unref(ni);
                }
        }
        assert_int_equal(checked, 4 * 2 * 12 * 5);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_assume_bind_delete),
                cmocka_unit_test(test_incremental_snapshot),
                cmocka_unit_test(test_num_nodes_to_find),
                cmocka_unit_test(test_sampling_round_robin),
                cmocka_unit_test(test_spreading_still_spreads),
                cmocka_unit_test(test_compiled_terms_match_json),
                cmocka_unit_test(test_anti_affinity_one_per_node),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the scheduler plugins (src/scheduler/plugins/): exact filter reasons and scores. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "scheduler/framework.h"

static json_t *J(const char *s)
{
        json_error_t e;
        json_t *v = json_loads(s, 0, &e);
        if (v == NULL)
                fail_msg("bad test JSON: %s: %s", e.text, s);
        return v;
}

/* A Ready node with cpu/memory/pods allocatable, optional extra JSON merged into it. */
static json_t *node(const char *name, const char *cpu, const char *mem, int pods, const char *extra)
{
        char podsbuf[16];
        snprintf(podsbuf, sizeof(podsbuf), "%d", pods);
        json_t *n = json_pack("{s:s, s:{s:s, s:{}}, s:{}, s:{s:{s:s, s:s, s:s, s:s}, s:[{s:s, s:s}]}}",
                              "kind", "Node", "metadata", "name", name, "labels", "spec", "status",
                              "allocatable", "cpu", cpu, "memory", mem, "pods", podsbuf, "ephemeral-storage",
                              "10Gi", "conditions", "type", "Ready", "status", "True");
        if (extra != NULL) {
                json_auto_t *x = J(extra);
                json_t *md = json_object_get(x, "metadata");
                if (md != NULL)
                        json_object_update(json_object_get(n, "metadata"), md);
                json_t *spec = json_object_get(x, "spec");
                if (spec != NULL)
                        json_object_update(json_object_get(n, "spec"), spec);
                json_t *st = json_object_get(x, "status");
                if (st != NULL)
                        json_object_update(json_object_get(n, "status"), st);
        }
        return n;
}

/* A pod with one container requesting cpu/mem (NULL = no request); extra merged into spec/metadata. */
static json_t *pod(const char *name, const char *cpu, const char *mem, const char *extra)
{
        json_t *req = json_object();
        if (cpu != NULL)
                json_object_set_new(req, "cpu", json_string(cpu));
        if (mem != NULL)
                json_object_set_new(req, "memory", json_string(mem));
        json_t *p = json_pack("{s:s, s:{s:s, s:s, s:s}, s:{s:[{s:s, s:s, s:{s:o}}]}}", "kind", "Pod",
                              "metadata", "name", name, "namespace", "default", "uid", name, "spec",
                              "containers", "name", "c", "image", "busybox", "resources", "requests", req);
        if (extra != NULL) {
                json_auto_t *x = J(extra);
                json_t *md = json_object_get(x, "metadata");
                if (md != NULL)
                        json_object_update(json_object_get(p, "metadata"), md);
                json_t *spec = json_object_get(x, "spec");
                if (spec != NULL)
                        json_object_update(json_object_get(p, "spec"), spec);
        }
        return p;
}

static json_t *bound(json_t *p, const char *node_name)
{
        json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(node_name));
        return p;
}

/* Runs one filter plugin; returns the code and the joined reasons in *ret (caller frees). */
static k8c_sched_code_t run_filter(const struct k8c_sched_plugin *pl, json_t *nodes, json_t *pods, json_t *p,
                                   const char *node_name, char **ret)
{
        struct k8c_sched_snapshot *snap = k8c_sched_snapshot_from_json(nodes, pods, NULL, NULL);
        struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(p);
        struct k8c_sched_profile prof;
        k8c_sched_profile_default(&prof);
        struct k8c_sched_cycle cy = {
                .snap = snap, .pod = pi, .resources = prof.resources, .nresources = prof.nresources
        };
        if (pl->pre_filter != NULL)
                pl->pre_filter(&cy);
        ssize_t at = k8c_sched_snapshot_find(snap, node_name);
        assert_true(at >= 0);
        struct k8c_sched_status st = { 0 };
        k8c_sched_code_t c = pl->filter(&cy, snap->nodes[at], &st);
        assert_int_equal(c == K8C_SCHED_OK, st.nreasons == 0);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        for (size_t i = 0; i < st.nreasons; i++)
                fprintf(f, "%s%s", i ? "|" : "", st.reasons[i]);
        fclose(f);
        *ret = buf;
        k8c_sched_status_clear(&st);
        if (pl->cycle_free != NULL)
                pl->cycle_free(&cy);
        k8c_sched_podinfo_unref(pi);
        k8c_sched_profile_free(&prof);
        k8c_sched_snapshot_free(snap);
        return c;
}

#define ASSERT_FILTER(pl, nodes, pods, p, node_name, want_code, want_reason)                                 \
        do {                                                                                                 \
                cleanup_free char *_r = NULL;                                                                \
                assert_int_equal(run_filter(pl, nodes, pods, p, node_name, &_r), want_code);                 \
                assert_string_equal(_r, want_reason);                                                        \
        } while (0)

/* Raw (and optionally normalised) scores of a score plugin over every node of the snapshot. */
static void run_score(const struct k8c_sched_plugin *pl, k8c_sched_strategy_t strategy, json_t *nodes,
                      json_t *pods, json_t *services, json_t *rss, json_t *p, bool normalize, int64_t *ret)
{
        struct k8c_sched_snapshot *snap = k8c_sched_snapshot_from_json(nodes, pods, services, rss);
        struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(p);
        struct k8c_sched_profile prof;
        k8c_sched_profile_default(&prof);
        struct k8c_sched_cycle cy = { .snap = snap,
                                      .pod = pi,
                                      .strategy = strategy,
                                      .resources = prof.resources,
                                      .nresources = prof.nresources };
        cy.spread_selector = k8c_sched_spread_selector(p, services, rss);
        for (size_t i = 0; i < snap->n; i++)
                ret[i] = pl->score(&cy, snap->nodes[i]);
        if (normalize && pl->normalize != NULL)
                pl->normalize(&cy, snap->nodes, ret, snap->n);
        if (cy.spread_selector != NULL) {
                k8c_selector_free(cy.spread_selector);
                free(cy.spread_selector);
        }
        k8c_sched_podinfo_unref(pi);
        k8c_sched_profile_free(&prof);
        k8c_sched_snapshot_free(snap);
}

static void test_requests(void **state)
{
        json_auto_t *p =
                J("{\"spec\":{\"containers\":["
                  "{\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}},"
                  "{\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"128Mi\"}}},"
                  "{\"resources\":{}}],"
                  "\"initContainers\":[{\"resources\":{\"requests\":{\"cpu\":\"2\",\"memory\":\"10Mi\"}}},"
                  "{\"resources\":{\"requests\":{\"cpu\":\"500m\",\"memory\":\"1Gi\"}}}],"
                  "\"overhead\":{\"cpu\":\"10m\"}}}");
        struct k8c_sched_resources r, nz;
        k8c_sched_pod_requests(p, false, &r);
        /* containers: cpu 100m+1000m = 1100m; init max 2000m → 2000m, + 10m overhead */
        assert_int_equal(r.milli_cpu, 2010);
        /* memory: 64Mi+128Mi = 192Mi vs init 1Gi → 1Gi */
        assert_int_equal(r.memory, 1024LL * 1024 * 1024);
        assert_int_equal(r.pods, 1);
        k8c_sched_pod_requests(p, true, &nz);
        /* non-zero: the third container counts 100m / 200Mi; cpu 1200m < init 2000m */
        assert_int_equal(nz.milli_cpu, 2010);
        assert_int_equal(nz.memory, 1024LL * 1024 * 1024);

        json_auto_t *best_effort = J("{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}");
        k8c_sched_pod_requests(best_effort, false, &r);
        assert_int_equal(r.milli_cpu, 0);
        assert_int_equal(r.memory, 0);
        k8c_sched_pod_requests(best_effort, true, &nz);
        assert_int_equal(nz.milli_cpu, 200);
        assert_int_equal(nz.memory, 400LL * 1024 * 1024);

        /* sidecar (restartPolicy Always) init containers run alongside the app containers */
        json_auto_t *sidecar =
                J("{\"spec\":{\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"1\"}}}],"
                  "\"initContainers\":[{\"restartPolicy\":\"Always\",\"resources\":{\"requests\":{"
                  "\"cpu\":\"500m\"}}},{\"resources\":{\"requests\":{\"cpu\":\"1200m\"}}}]}}");
        k8c_sched_pod_requests(sidecar, false, &r);
        assert_int_equal(r.milli_cpu, 1700); /* max(1000+500, 1200+500) */
}

static void test_node_unschedulable(void **state)
{
        json_auto_t *nodes =
                json_pack("[o,o]", node("n1", "4", "8Gi", 110, "{\"spec\":{\"unschedulable\":true}}"),
                          node("n2", "4", "8Gi", 110, NULL));
        json_auto_t *pods = json_array();
        json_auto_t *p = pod("p", "100m", NULL, NULL);
        ASSERT_FILTER(&k8c_sched_plugin_node_unschedulable, nodes, pods, p, "n1", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) were unschedulable");
        ASSERT_FILTER(&k8c_sched_plugin_node_unschedulable, nodes, pods, p, "n2", K8C_SCHED_OK, "");
        json_auto_t *tol = pod("p", "100m", NULL,
                               "{\"spec\":{\"tolerations\":[{\"key\":\"node.kubernetes.io/unschedulable\","
                               "\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]}}");
        ASSERT_FILTER(&k8c_sched_plugin_node_unschedulable, nodes, pods, tol, "n1", K8C_SCHED_OK, "");
}

static void test_node_name(void **state)
{
        json_auto_t *nodes =
                json_pack("[o,o]", node("n1", "4", "8Gi", 110, NULL), node("n2", "4", "8Gi", 110, NULL));
        json_auto_t *pods = json_array();
        json_auto_t *p = pod("p", NULL, NULL, "{\"spec\":{\"nodeName\":\"n2\"}}");
        ASSERT_FILTER(&k8c_sched_plugin_node_name, nodes, pods, p, "n1", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) didn't match the requested node name");
        ASSERT_FILTER(&k8c_sched_plugin_node_name, nodes, pods, p, "n2", K8C_SCHED_OK, "");
}

static void test_node_ready(void **state)
{
        json_auto_t *nodes = json_pack(
                "[o,o,o,o]", node("ready", "4", "8Gi", 110, NULL),
                node("notready", "4", "8Gi", 110,
                     "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}"),
                node("unknown", "4", "8Gi", 110,
                     "{\"status\":{\"conditions\":[{\"type\":\"MemoryPressure\",\"status\":\"False\"},"
                     "{\"type\":\"Ready\",\"status\":\"Unknown\"}]}}"),
                node("noconds", "4", "8Gi", 110, "{\"status\":{\"conditions\":[]}}"));
        json_auto_t *pods = json_array();
        json_auto_t *p = pod("p", NULL, NULL, NULL);
        ASSERT_FILTER(&k8c_sched_plugin_node_ready, nodes, pods, p, "ready", K8C_SCHED_OK, "");
        ASSERT_FILTER(&k8c_sched_plugin_node_ready, nodes, pods, p, "notready", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) had untolerated taint {node.kubernetes.io/not-ready: }");
        ASSERT_FILTER(&k8c_sched_plugin_node_ready, nodes, pods, p, "unknown", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) had untolerated taint {node.kubernetes.io/unreachable: }");
        ASSERT_FILTER(&k8c_sched_plugin_node_ready, nodes, pods, p, "noconds", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) had untolerated taint {node.kubernetes.io/not-ready: }");
        json_auto_t *tol = pod("p", NULL, NULL, "{\"spec\":{\"tolerations\":[{\"operator\":\"Exists\"}]}}");
        ASSERT_FILTER(&k8c_sched_plugin_node_ready, nodes, pods, tol, "unknown", K8C_SCHED_OK, "");
}

/* MemoryPressure keeps BestEffort pods away, DiskPressure every pod (the pressure taints). */
static void test_node_pressure(void **state)
{
        json_auto_t *nodes =
                json_pack("[o,o,o]", node("calm", "4", "8Gi", 110, NULL),
                          node("mem", "4", "8Gi", 110,
                               "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},"
                               "{\"type\":\"MemoryPressure\",\"status\":\"True\"}]}}"),
                          node("disk", "4", "8Gi", 110,
                               "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},"
                               "{\"type\":\"DiskPressure\",\"status\":\"True\"}]}}"));
        json_auto_t *pods = json_array();
        json_auto_t *be = pod("be", NULL, NULL, NULL);
        json_auto_t *burst = pod("burst", "100m", "64Mi", NULL);
        ASSERT_FILTER(&k8c_sched_plugin_node_pressure, nodes, pods, be, "calm", K8C_SCHED_OK, "");
        ASSERT_FILTER(&k8c_sched_plugin_node_pressure, nodes, pods, be, "mem", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) had untolerated taint {node.kubernetes.io/memory-pressure: }");
        ASSERT_FILTER(&k8c_sched_plugin_node_pressure, nodes, pods, burst, "mem", K8C_SCHED_OK, "");
        ASSERT_FILTER(&k8c_sched_plugin_node_pressure, nodes, pods, burst, "disk", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }");
        json_auto_t *tol = pod("tol", NULL, NULL,
                               "{\"spec\":{\"tolerations\":[{\"key\":\"node.kubernetes.io/memory-pressure\","
                               "\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]}}");
        ASSERT_FILTER(&k8c_sched_plugin_node_pressure, nodes, pods, tol, "mem", K8C_SCHED_OK, "");
}

static void test_taint_toleration_filter(void **state)
{
        json_auto_t *nodes =
                json_pack("[o,o,o]",
                          node("gpu", "4", "8Gi", 110,
                               "{\"spec\":{\"taints\":[{\"key\":\"soft\",\"effect\":\"PreferNoSchedule\"},"
                               "{\"key\":\"dedicated\",\"value\":\"gpu\",\"effect\":\"NoSchedule\"}]}}"),
                          node("cp", "4", "8Gi", 110,
                               "{\"spec\":{\"taints\":[{\"key\":\"node-role.kubernetes.io/"
                               "control-plane\",\"effect\":\"NoExecute\"}]}}"),
                          node("plain", "4", "8Gi", 110, NULL));
        json_auto_t *pods = json_array();
        json_auto_t *p = pod("p", NULL, NULL, NULL);
        const struct k8c_sched_plugin *tt = &k8c_sched_plugin_taint_toleration;
        ASSERT_FILTER(tt, nodes, pods, p, "gpu", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) had untolerated taint {dedicated: gpu}");
        ASSERT_FILTER(tt, nodes, pods, p, "cp", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }");
        ASSERT_FILTER(tt, nodes, pods, p, "plain", K8C_SCHED_OK, "");
        json_auto_t *eq = pod("p", NULL, NULL,
                              "{\"spec\":{\"tolerations\":[{\"key\":\"dedicated\",\"operator\":\"Equal\","
                              "\"value\":\"gpu\",\"effect\":\"NoSchedule\"}]}}");
        ASSERT_FILTER(tt, nodes, pods, eq, "gpu", K8C_SCHED_OK, "");
        json_auto_t *wrong =
                pod("p", NULL, NULL,
                    "{\"spec\":{\"tolerations\":[{\"key\":\"dedicated\",\"value\":\"tpu\"},"
                    "{\"key\":\"dedicated\",\"operator\":\"Exists\",\"effect\":\"NoExecute\"}]}}");
        ASSERT_FILTER(tt, nodes, pods, wrong, "gpu", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) had untolerated taint {dedicated: gpu}");
        json_auto_t *any = pod("p", NULL, NULL, "{\"spec\":{\"tolerations\":[{\"operator\":\"Exists\"}]}}");
        ASSERT_FILTER(tt, nodes, pods, any, "cp", K8C_SCHED_OK, "");
}

static void test_taint_toleration_score(void **state)
{
        json_auto_t *nodes =
                json_pack("[o,o,o]",
                          node("a", "4", "8Gi", 110,
                               "{\"spec\":{\"taints\":[{\"key\":\"x\",\"effect\":\"PreferNoSchedule\"},"
                               "{\"key\":\"y\",\"effect\":\"PreferNoSchedule\"}]}}"),
                          node("b", "4", "8Gi", 110,
                               "{\"spec\":{\"taints\":[{\"key\":\"x\",\"effect\":\"PreferNoSchedule\"}]}}"),
                          node("c", "4", "8Gi", 110, NULL));
        json_auto_t *pods = json_array();
        json_auto_t *p = pod("p", NULL, NULL, NULL);
        int64_t s[3];
        run_score(&k8c_sched_plugin_taint_toleration, 0, nodes, pods, NULL, NULL, p, false, s);
        assert_int_equal(s[0], 2);
        assert_int_equal(s[1], 1);
        assert_int_equal(s[2], 0);
        run_score(&k8c_sched_plugin_taint_toleration, 0, nodes, pods, NULL, NULL, p, true, s);
        assert_int_equal(s[0], 0);
        assert_int_equal(s[1], 50);
        assert_int_equal(s[2], 100);
        /* A toleration with NoSchedule effect does not help PreferNoSchedule; one without effect does. */
        json_auto_t *t = pod("p", NULL, NULL,
                             "{\"spec\":{\"tolerations\":[{\"key\":\"y\",\"operator\":\"Exists\",\"effect\":"
                             "\"NoSchedule\"},"
                             "{\"key\":\"x\",\"operator\":\"Exists\"}]}}");
        run_score(&k8c_sched_plugin_taint_toleration, 0, nodes, pods, NULL, NULL, t, true, s);
        assert_int_equal(s[0], 0);
        assert_int_equal(s[1], 100);
        assert_int_equal(s[2], 100);
}

static void test_node_affinity_filter(void **state)
{
        json_auto_t *nodes = json_pack(
                "[o,o,o]",
                node("a", "4", "8Gi", 110,
                     "{\"metadata\":{\"labels\":{\"disk\":\"ssd\",\"zone\":\"z1\",\"cores\":\"16\"}}}"),
                node("b", "4", "8Gi", 110, "{\"metadata\":{\"labels\":{\"disk\":\"hdd\",\"cores\":\"4\"}}}"),
                node("c", "4", "8Gi", 110, NULL));
        json_auto_t *pods = json_array();
        const struct k8c_sched_plugin *na = &k8c_sched_plugin_node_affinity;
        const char *no = "node(s) didn't match Pod's node affinity/selector";
        json_auto_t *sel = pod("p", NULL, NULL, "{\"spec\":{\"nodeSelector\":{\"disk\":\"ssd\"}}}");
        ASSERT_FILTER(na, nodes, pods, sel, "a", K8C_SCHED_OK, "");
        ASSERT_FILTER(na, nodes, pods, sel, "b", K8C_SCHED_UNSCHEDULABLE, no);
        ASSERT_FILTER(na, nodes, pods, sel, "c", K8C_SCHED_UNSCHEDULABLE, no);

        struct {
                const char *expr;
                bool a, b, c;
        } cases[] = {
                { "{\"key\":\"disk\",\"operator\":\"In\",\"values\":[\"ssd\",\"nvme\"]}", true, false,
                  false },
                { "{\"key\":\"disk\",\"operator\":\"NotIn\",\"values\":[\"ssd\"]}", false, true, true },
                { "{\"key\":\"zone\",\"operator\":\"Exists\"}", true, false, false },
                { "{\"key\":\"zone\",\"operator\":\"DoesNotExist\"}", false, true, true },
                { "{\"key\":\"cores\",\"operator\":\"Gt\",\"values\":[\"8\"]}", true, false, false },
                { "{\"key\":\"cores\",\"operator\":\"Lt\",\"values\":[\"8\"]}", false, true, false },
                { "{\"key\":\"cores\",\"operator\":\"Gt\",\"values\":[\"x\"]}", false, false, false },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                cleanup_free char *extra =
                        k8c_xasprintf("{\"spec\":{\"affinity\":{\"nodeAffinity\":{"
                                      "\"requiredDuringSchedulingIgnoredDuringExecution\":"
                                      "{\"nodeSelectorTerms\":[{\"matchExpressions\":[%s]}]}}}}}",
                                      cases[i].expr);
                json_auto_t *p = pod("p", NULL, NULL, extra);
                ASSERT_FILTER(na, nodes, pods, p, "a", cases[i].a ? K8C_SCHED_OK : K8C_SCHED_UNSCHEDULABLE,
                              cases[i].a ? "" : no);
                ASSERT_FILTER(na, nodes, pods, p, "b", cases[i].b ? K8C_SCHED_OK : K8C_SCHED_UNSCHEDULABLE,
                              cases[i].b ? "" : no);
                ASSERT_FILTER(na, nodes, pods, p, "c", cases[i].c ? K8C_SCHED_OK : K8C_SCHED_UNSCHEDULABLE,
                              cases[i].c ? "" : no);
        }
        /* terms are ORed; matchFields on metadata.name; an empty term matches nothing */
        json_auto_t *terms =
                pod("p", NULL, NULL,
                    "{\"spec\":{\"affinity\":{\"nodeAffinity\":{"
                    "\"requiredDuringSchedulingIgnoredDuringExecution\":"
                    "{\"nodeSelectorTerms\":[{},{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":"
                    "\"In\",\"values\":[\"c\"]}]},{\"matchExpressions\":[{\"key\":\"disk\",\"operator\":"
                    "\"In\",\"values\":[\"hdd\"]}]}]}}}}}");
        ASSERT_FILTER(na, nodes, pods, terms, "a", K8C_SCHED_UNSCHEDULABLE, no);
        ASSERT_FILTER(na, nodes, pods, terms, "b", K8C_SCHED_OK, "");
        ASSERT_FILTER(na, nodes, pods, terms, "c", K8C_SCHED_OK, "");
}

static void test_node_affinity_score(void **state)
{
        json_auto_t *nodes = json_pack(
                "[o,o,o]",
                node("a", "4", "8Gi", 110, "{\"metadata\":{\"labels\":{\"disk\":\"ssd\",\"gpu\":\"1\"}}}"),
                node("b", "4", "8Gi", 110, "{\"metadata\":{\"labels\":{\"disk\":\"ssd\"}}}"),
                node("c", "4", "8Gi", 110, NULL));
        json_auto_t *pods = json_array();
        json_auto_t *p = pod(
                "p", NULL, NULL,
                "{\"spec\":{\"affinity\":{\"nodeAffinity\":{"
                "\"preferredDuringSchedulingIgnoredDuringExecution\":["
                "{\"weight\":30,\"preference\":{\"matchExpressions\":[{\"key\":\"disk\",\"operator\":\"In\","
                "\"values\":[\"ssd\"]}]}},"
                "{\"weight\":10,\"preference\":{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":"
                "\"Exists\"}]}}]}}}}");
        int64_t s[3];
        run_score(&k8c_sched_plugin_node_affinity, 0, nodes, pods, NULL, NULL, p, false, s);
        assert_int_equal(s[0], 40);
        assert_int_equal(s[1], 30);
        assert_int_equal(s[2], 0);
        run_score(&k8c_sched_plugin_node_affinity, 0, nodes, pods, NULL, NULL, p, true, s);
        assert_int_equal(s[0], 100);
        assert_int_equal(s[1], 75);
        assert_int_equal(s[2], 0);
}

static void test_node_resources_fit_filter(void **state)
{
        json_auto_t *nodes =
                json_pack("[o,o]", node("n1", "2", "4Gi", 3, NULL), node("n2", "1", "1Gi", 1, NULL));
        json_auto_t *pods = json_pack("[o,o]", bound(pod("a", "1500m", "1Gi", NULL), "n1"),
                                      bound(pod("b", "100m", "100Mi", NULL), "n2"));
        const struct k8c_sched_plugin *fit = &k8c_sched_plugin_node_resources_fit;
        json_auto_t *small = pod("p", "500m", "3Gi", NULL);
        ASSERT_FILTER(fit, nodes, pods, small, "n1", K8C_SCHED_OK, "");
        json_auto_t *big = pod("p", "501m", "3073Mi", NULL);
        ASSERT_FILTER(fit, nodes, pods, big, "n1", K8C_SCHED_UNSCHEDULABLE,
                      "Insufficient cpu|Insufficient memory");
        ASSERT_FILTER(fit, nodes, pods, small, "n2", K8C_SCHED_UNSCHEDULABLE,
                      "Too many pods|Insufficient memory");
        json_auto_t *eph = pod("p", NULL, NULL,
                               "{\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":"
                               "{\"ephemeral-storage\":\"11Gi\"}}}]}}");
        ASSERT_FILTER(fit, nodes, pods, eph, "n1", K8C_SCHED_UNSCHEDULABLE, "Insufficient ephemeral-storage");
        /* init containers count as the max, not the sum */
        json_auto_t *init =
                pod("p", "400m", NULL,
                    "{\"spec\":{\"initContainers\":[{\"name\":\"i\",\"resources\":{\"requests\":{\"cpu\":"
                    "\"500m\"}}},{\"name\":\"j\",\"resources\":{\"requests\":{\"cpu\":\"400m\"}}}]}}");
        ASSERT_FILTER(fit, nodes, pods, init, "n1", K8C_SCHED_OK, "");
        json_auto_t *init2 =
                pod("p", "400m", NULL,
                    "{\"spec\":{\"initContainers\":[{\"name\":\"i\",\"resources\":{\"requests\":{\"cpu\":"
                    "\"600m\"}}}]}}");
        ASSERT_FILTER(fit, nodes, pods, init2, "n1", K8C_SCHED_UNSCHEDULABLE, "Insufficient cpu");
}

static void test_node_resources_fit_extended(void **state)
{
        json_auto_t *nodes =
                json_pack("[o,o]", node("gpu", "4", "8Gi", 110, NULL), node("plain", "4", "8Gi", 110, NULL));
        json_object_set_new(
                json_object_get(json_object_get(json_array_get(nodes, 0), "status"), "allocatable"),
                "example.com/dongle", json_string("2"));
        json_auto_t *pods = json_pack(
                "[o]", bound(pod("a", NULL, NULL,
                                 "{\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":"
                                 "{\"example.com/dongle\":\"1\"}}}]}}"),
                             "gpu"));
        const struct k8c_sched_plugin *fit = &k8c_sched_plugin_node_resources_fit;
        json_auto_t *one =
                pod("p", "100m", NULL,
                    "{\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":"
                    "\"100m\",\"example.com/dongle\":\"1\"}}}]}}");
        ASSERT_FILTER(fit, nodes, pods, one, "gpu", K8C_SCHED_OK, "");
        ASSERT_FILTER(fit, nodes, pods, one, "plain", K8C_SCHED_UNSCHEDULABLE,
                      "Insufficient example.com/dongle");
        json_auto_t *two = pod("p", NULL, NULL,
                               "{\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":"
                               "{\"cpu\":\"5\",\"example.com/dongle\":\"2\"}}}]}}");
        ASSERT_FILTER(fit, nodes, pods, two, "gpu", K8C_SCHED_UNSCHEDULABLE,
                      "Insufficient cpu|Insufficient example.com/dongle");
        struct k8c_sched_resources r;
        k8c_sched_pod_requests(two, false, &r);
        assert_int_equal(k8c_sched_scalar_get(&r, "example.com/dongle"), 2);
        assert_int_equal(k8c_sched_scalar_get(&r, "cpu"), 0);
}

static void test_node_resources_fit_score(void **state)
{
        /* n1: 4 cpu / 8Gi with 1 cpu / 2Gi used; n2: 4 cpu / 8Gi empty; pod 1 cpu / 2Gi. */
        json_auto_t *nodes =
                json_pack("[o,o]", node("n1", "4", "8Gi", 110, NULL), node("n2", "4", "8Gi", 110, NULL));
        json_auto_t *pods = json_pack("[o]", bound(pod("a", "1", "2Gi", NULL), "n1"));
        json_auto_t *p = pod("p", "1", "2Gi", NULL);
        int64_t s[2];
        run_score(&k8c_sched_plugin_node_resources_fit, K8C_SCHED_MOST_ALLOCATED, nodes, pods, NULL, NULL, p,
                  true, s);
        assert_int_equal(s[0], 50); /* (2/4*100 + 4/8*100) / 2 */
        assert_int_equal(s[1], 25);
        run_score(&k8c_sched_plugin_node_resources_fit, K8C_SCHED_LEAST_ALLOCATED, nodes, pods, NULL, NULL, p,
                  true, s);
        assert_int_equal(s[0], 50);
        assert_int_equal(s[1], 75);
        /* cpu 300m of 1000m used by (100m non-zero default + 200m) → integer math as Kubernetes */
        json_auto_t *nodes2 = json_pack("[o]", node("n", "1", "3Gi", 110, NULL));
        json_auto_t *pods2 = json_pack("[o]", bound(pod("a", NULL, NULL, NULL), "n"));
        json_auto_t *p2 = pod("p", "200m", "1Gi", NULL);
        run_score(&k8c_sched_plugin_node_resources_fit, K8C_SCHED_MOST_ALLOCATED, nodes2, pods2, NULL, NULL,
                  p2, true, s);
        /* cpu: 300*100/1000 = 30; memory: (200Mi+1Gi)*100/3Gi = 39 → (30+39)/2 = 34 */
        assert_int_equal(s[0], 34);
        run_score(&k8c_sched_plugin_node_resources_fit, K8C_SCHED_LEAST_ALLOCATED, nodes2, pods2, NULL, NULL,
                  p2, true, s);
        /* cpu: 700*100/1000 = 70; memory: (3Gi-1224Mi)*100/3Gi = 60 → 65 */
        assert_int_equal(s[0], 65);
}

static void test_balanced_allocation(void **state)
{
        json_auto_t *nodes =
                json_pack("[o,o]", node("n1", "4", "8Gi", 110, NULL), node("n2", "4", "8Gi", 110, NULL));
        json_auto_t *pods = json_pack("[o]", bound(pod("a", "2", NULL, NULL), "n1"));
        json_auto_t *p = pod("p", "1", "2Gi", NULL);
        int64_t s[2];
        run_score(&k8c_sched_plugin_balanced_allocation, 0, nodes, pods, NULL, NULL, p, true, s);
        /* n1: cpu 3/4, mem 2/8 → std 0.25 → 75; n2: 1/4 and 2/8 → 100 */
        assert_int_equal(s[0], 75);
        assert_int_equal(s[1], 100);
        json_auto_t *be = pod("p", NULL, NULL, NULL);
        run_score(&k8c_sched_plugin_balanced_allocation, 0, nodes, pods, NULL, NULL, be, true, s);
        assert_int_equal(s[0], 0);
        assert_int_equal(s[1], 0);
}

static void test_node_ports(void **state)
{
        json_auto_t *nodes =
                json_pack("[o,o]", node("n1", "4", "8Gi", 110, NULL), node("n2", "4", "8Gi", 110, NULL));
        json_auto_t *pods = json_pack(
                "[o]",
                bound(pod("a", NULL, NULL,
                          "{\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80,"
                          "\"hostPort\":8080},{\"containerPort\":53,\"hostPort\":53,\"protocol\":\"UDP\","
                          "\"hostIP\":\"10.0.0.1\"}]}]}}"),
                      "n1"));
        const struct k8c_sched_plugin *np = &k8c_sched_plugin_node_ports;
        const char *busy = "node(s) didn't have free ports for the requested pod ports";
        json_auto_t *same =
                pod("p", NULL, NULL,
                    "{\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":8080,"
                    "\"hostPort\":8080,\"hostIP\":\"127.0.0.1\"}]}]}}");
        ASSERT_FILTER(np, nodes, pods, same, "n1", K8C_SCHED_UNSCHEDULABLE, busy);
        ASSERT_FILTER(np, nodes, pods, same, "n2", K8C_SCHED_OK, "");
        json_auto_t *udp_other_ip =
                pod("p", NULL, NULL,
                    "{\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":53,"
                    "\"hostPort\":53,\"protocol\":\"UDP\",\"hostIP\":\"10.0.0.2\"}]}]}}");
        ASSERT_FILTER(np, nodes, pods, udp_other_ip, "n1", K8C_SCHED_OK, "");
        json_auto_t *udp_any =
                pod("p", NULL, NULL,
                    "{\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":53,"
                    "\"hostPort\":53,\"protocol\":\"UDP\"}]}]}}");
        ASSERT_FILTER(np, nodes, pods, udp_any, "n1", K8C_SCHED_UNSCHEDULABLE, busy);
        json_auto_t *tcp53 =
                pod("p", NULL, NULL,
                    "{\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":53,"
                    "\"hostPort\":53}]}]}}");
        ASSERT_FILTER(np, nodes, pods, tcp53, "n1", K8C_SCHED_OK, "");
}

static void test_selector_spread(void **state)
{
        json_auto_t *nodes =
                json_pack("[o,o,o,o]",
                          node("a1", "4", "8Gi", 110,
                               "{\"metadata\":{\"labels\":{\"topology.kubernetes.io/zone\":\"a\"}}}"),
                          node("a2", "4", "8Gi", 110,
                               "{\"metadata\":{\"labels\":{\"topology.kubernetes.io/zone\":\"a\"}}}"),
                          node("b1", "4", "8Gi", 110,
                               "{\"metadata\":{\"labels\":{\"topology.kubernetes.io/zone\":\"b\"}}}"),
                          node("b2", "4", "8Gi", 110,
                               "{\"metadata\":{\"labels\":{\"topology.kubernetes.io/zone\":\"b\"}}}"));
        const char *owned =
                "{\"metadata\":{\"labels\":{\"app\":\"web\"},\"ownerReferences\":[{\"apiVersion\":"
                "\"apps/"
                "v1\",\"kind\":\"ReplicaSet\",\"name\":\"web-rs\",\"uid\":\"u\",\"controller\":true}]}}";
        json_auto_t *pods = json_pack(
                "[o,o,o,o]", bound(pod("w1", NULL, NULL, owned), "a1"),
                bound(pod("w2", NULL, NULL, owned), "a1"), bound(pod("w3", NULL, NULL, owned), "b1"),
                bound(pod("other", NULL, NULL, "{\"metadata\":{\"labels\":{\"app\":\"db\"}}}"), "b2"));
        json_auto_t *rss =
                J("[{\"metadata\":{\"name\":\"web-rs\",\"namespace\":\"default\"},\"spec\":{\"selector\":"
                  "{\"matchLabels\":{\"app\":\"web\"}}}}]");
        json_auto_t *p = pod("new", NULL, NULL, owned);
        int64_t s[4];
        run_score(&k8c_sched_plugin_selector_spread, 0, nodes, pods, NULL, rss, p, false, s);
        assert_int_equal(s[0], 2);
        assert_int_equal(s[1], 0);
        assert_int_equal(s[2], 1);
        assert_int_equal(s[3], 0);
        run_score(&k8c_sched_plugin_selector_spread, 0, nodes, pods, NULL, rss, p, true, s);
        /* node part 100*(2-c)/2, zone part 100*(2-zc)/2 with zone a=2, b=1; 1/3 node + 2/3 zone */
        assert_int_equal(s[0], 0);  /* 0/3 + 0 */
        assert_int_equal(s[1], 33); /* 100/3 + 0 */
        assert_int_equal(s[2], 50); /* 50/3 + 2/3*50 */
        assert_int_equal(s[3], 66); /* 100/3 + 2/3*50 */

        /* A Service selecting the pod works the same way without any owner. */
        json_auto_t *svcs =
                J("[{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"selector\":"
                  "{\"app\":\"web\"}}},{\"metadata\":{\"name\":\"all\",\"namespace\":\"default\"},"
                  "\"spec\":{}}]");
        json_auto_t *lone = pod("new", NULL, NULL, "{\"metadata\":{\"labels\":{\"app\":\"web\"}}}");
        run_score(&k8c_sched_plugin_selector_spread, 0, nodes, pods, svcs, NULL, lone, false, s);
        assert_int_equal(s[0], 2);
        assert_int_equal(s[2], 1);
        /* Nothing selects it: every node is as good. */
        json_auto_t *unowned = pod("new", NULL, NULL, "{\"metadata\":{\"labels\":{\"app\":\"x\"}}}");
        run_score(&k8c_sched_plugin_selector_spread, 0, nodes, pods, svcs, rss, unowned, true, s);
        for (int i = 0; i < 4; i++)
                assert_int_equal(s[i], 100);
}

static void test_inter_pod_affinity(void **state)
{
        json_auto_t *nodes =
                json_pack("[o,o,o]",
                          node("n1", "4", "8Gi", 110,
                               "{\"metadata\":{\"labels\":{\"kubernetes.io/hostname\":\"n1\"}}}"),
                          node("n2", "4", "8Gi", 110,
                               "{\"metadata\":{\"labels\":{\"kubernetes.io/hostname\":\"n2\"}}}"),
                          node("n3", "4", "8Gi", 110, NULL));
        json_auto_t *pods = json_pack(
                "[o,o]", bound(pod("db", NULL, NULL, "{\"metadata\":{\"labels\":{\"app\":\"db\"}}}"), "n1"),
                bound(pod("lonely", NULL, NULL,
                          "{\"metadata\":{\"labels\":{\"app\":\"lonely\"}},\"spec\":{\"affinity\":{"
                          "\"podAntiAffinity\":"
                          "{\"requiredDuringSchedulingIgnoredDuringExecution\":[{\"labelSelector\":{"
                          "\"matchLabels\":"
                          "{\"app\":\"web\"}},\"topologyKey\":\"kubernetes.io/hostname\"}]}}}}"),
                      "n2"));
        const struct k8c_sched_plugin *ipa = &k8c_sched_plugin_inter_pod_affinity;
        /* anti-affinity against db on the same host */
        json_auto_t *anti = pod("p", NULL, NULL,
                                "{\"spec\":{\"affinity\":{\"podAntiAffinity\":{"
                                "\"requiredDuringSchedulingIgnoredDuringExecution\":"
                                "[{\"labelSelector\":{\"matchLabels\":{\"app\":\"db\"}},\"topologyKey\":"
                                "\"kubernetes.io/hostname\"}]}}}}");
        ASSERT_FILTER(ipa, nodes, pods, anti, "n1", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) didn't match pod anti-affinity rules");
        ASSERT_FILTER(ipa, nodes, pods, anti, "n2", K8C_SCHED_OK, "");
        ASSERT_FILTER(ipa, nodes, pods, anti, "n3", K8C_SCHED_OK, "");
        /* an existing pod's anti-affinity keeps web pods off its host */
        json_auto_t *web = pod("w", NULL, NULL, "{\"metadata\":{\"labels\":{\"app\":\"web\"}}}");
        ASSERT_FILTER(ipa, nodes, pods, web, "n2", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) didn't satisfy existing pods anti-affinity rules");
        ASSERT_FILTER(ipa, nodes, pods, web, "n1", K8C_SCHED_OK, "");
        /* affinity to db: only its host; a node without the topology label never matches */
        json_auto_t *aff = pod("p", NULL, NULL,
                               "{\"spec\":{\"affinity\":{\"podAffinity\":{"
                               "\"requiredDuringSchedulingIgnoredDuringExecution\":"
                               "[{\"labelSelector\":{\"matchLabels\":{\"app\":\"db\"}},\"topologyKey\":"
                               "\"kubernetes.io/hostname\"}]}}}}");
        ASSERT_FILTER(ipa, nodes, pods, aff, "n1", K8C_SCHED_OK, "");
        ASSERT_FILTER(ipa, nodes, pods, aff, "n2", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) didn't match pod affinity rules");
        ASSERT_FILTER(ipa, nodes, pods, aff, "n3", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) didn't match pod affinity rules");
        /* the first pod of a self-affine group may go anywhere with the label */
        json_auto_t *self = pod(
                "c1", NULL, NULL,
                "{\"metadata\":{\"labels\":{\"app\":\"cache\"}},\"spec\":{\"affinity\":{\"podAffinity\":"
                "{\"requiredDuringSchedulingIgnoredDuringExecution\":[{\"labelSelector\":{\"matchLabels\":"
                "{\"app\":\"cache\"}},\"topologyKey\":\"kubernetes.io/hostname\"}]}}}}");
        ASSERT_FILTER(ipa, nodes, pods, self, "n1", K8C_SCHED_OK, "");
        ASSERT_FILTER(ipa, nodes, pods, self, "n3", K8C_SCHED_UNSCHEDULABLE,
                      "node(s) didn't match pod affinity rules");
}

static void test_fit_error_message(void **state)
{
        char *r1[] = { "Insufficient cpu" };
        char *r2[] = { "node(s) didn't match Pod's node affinity/selector" };
        char *r3[] = { "Insufficient cpu", "Insufficient memory" };
        struct k8c_sched_node_diag d[] = {
                { "n1", "NodeResourcesFit", r1, 1 },
                { "n2", "NodeAffinity", r2, 1 },
                { "n3", "NodeAffinity", r2, 1 },
        };
        cleanup_free char *m = k8c_sched_fit_error_message(3, d, 3);
        assert_string_equal(m,
                            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node "
                            "affinity/selector.");
        struct k8c_sched_node_diag d2[12];
        for (int i = 0; i < 10; i++)
                d2[i] = (struct k8c_sched_node_diag){ "x", "NodeAffinity", r2, 1 };
        d2[10] = (struct k8c_sched_node_diag){ "y", "NodeResourcesFit", r3, 2 };
        d2[11] = (struct k8c_sched_node_diag){ "z", "NodeResourcesFit", r3, 2 };
        cleanup_free char *m2 = k8c_sched_fit_error_message(12, d2, 12);
        /* string sort: "10 ..." before "2 ..." exactly as Go's sort.Strings */
        assert_string_equal(m2,
                            "0/12 nodes are available: 10 node(s) didn't match Pod's node affinity/selector, "
                            "2 Insufficient cpu, 2 Insufficient memory.");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_requests),
                cmocka_unit_test(test_node_unschedulable),
                cmocka_unit_test(test_node_name),
                cmocka_unit_test(test_node_ready),
                cmocka_unit_test(test_node_pressure),
                cmocka_unit_test(test_taint_toleration_filter),
                cmocka_unit_test(test_taint_toleration_score),
                cmocka_unit_test(test_node_affinity_filter),
                cmocka_unit_test(test_node_affinity_score),
                cmocka_unit_test(test_node_resources_fit_filter),
                cmocka_unit_test(test_node_resources_fit_extended),
                cmocka_unit_test(test_node_resources_fit_score),
                cmocka_unit_test(test_balanced_allocation),
                cmocka_unit_test(test_node_ports),
                cmocka_unit_test(test_selector_spread),
                cmocka_unit_test(test_inter_pod_affinity),
                cmocka_unit_test(test_fit_error_message),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

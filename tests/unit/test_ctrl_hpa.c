/* Unit tests of the HorizontalPodAutoscaler controller: the replica calculator
 * (tolerance, missing and unready pods, missing requests, AverageValue targets)
 * and whole syncs against a fake object control and metrics source with a fake
 * clock (scale-down stabilisation window, behavior rate policies, limits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctrl_fake.h"
#include "k8c/json.h"

#define SCALE_PATH "/apis/apps/v1/namespaces/default/deployments/web/scale"

static json_t *pod(const char *name, const char *phase, const char *request, bool ready)
{
        json_t *p =
                json_pack("{s:{s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:s}]}, s:{s:s, s:s, s:[{s:s, s:s, s:s}]}}",
                          "metadata", "name", name, "namespace", "default", "labels", "app", "web", "spec",
                          "containers", "name", "c", "image", "x", "status", "phase", phase, "startTime",
                          "2020-01-01T00:00:00Z", "conditions", "type", "Ready", "status",
                          ready ? "True" : "False", "lastTransitionTime", "2020-01-01T00:01:00Z");
        if (request != NULL)
                json_object_set_new(k8c_json_get(p, "spec.containers[0]"), "resources",
                                    json_pack("{s:{s:s}}", "requests", "cpu", request));
        return p;
}

static json_t *metric(const char *name, const char *cpu)
{
        return json_pack("{s:{s:s}, s:s, s:s, s:[{s:s, s:{s:s}}]}", "metadata", "name", name, "timestamp",
                         "2024-01-01T00:00:00Z", "window", "30s", "containers", "name", "c", "usage", "cpu",
                         cpu);
}

static json_t *mlist(json_t *items)
{
        return json_pack("{s:s, s:o}", "kind", "PodMetricsList", "items", items);
}

static const struct k8c_hpa_config cfg0 = { 0 };

static int64_t calc(json_t *pods, json_t *ml, bool util, int64_t target, int64_t current,
                    struct k8c_hpa_result *res)
{
        cleanup_error k8c_error_t err = NULL;
        struct k8c_hpa_result r = { 0 };
        int rc = k8c_hpa_resource_replicas(pods, ml, "cpu", NULL, util, target, current, &cfg0, time(NULL),
                                           &r, &err);
        json_decref(pods);
        json_decref(ml);
        if (res != NULL)
                *res = r;
        return rc < 0 ? -1 : r.replicas;
}

static void test_basic_and_tolerance(void **state)
{
        struct k8c_hpa_result r;
        /* 150m of 100m against 50 %: 300 % / 50 % → 2 pods × 3 = 6. */
        assert_int_equal(calc(json_pack("[o, o]", pod("a", "Running", "100m", true),
                                        pod("b", "Running", "100m", true)),
                              mlist(json_pack("[o, o]", metric("a", "150m"), metric("b", "150m"))), true, 50,
                              2, &r),
                         6);
        assert_int_equal(r.utilization, 150);
        assert_int_equal(r.raw_milli, 150);
        /* 54 % against 50 %: ratio 1.08, within the 10 % tolerance → unchanged. */
        assert_int_equal(calc(json_pack("[o, o]", pod("a", "Running", "100m", true),
                                        pod("b", "Running", "100m", true)),
                              mlist(json_pack("[o, o]", metric("a", "54m"), metric("b", "54m"))), true, 50, 2,
                              NULL),
                         2);
        /* 56 %: 1.12 → ceil(2.24) = 3. */
        assert_int_equal(calc(json_pack("[o, o]", pod("a", "Running", "100m", true),
                                        pod("b", "Running", "100m", true)),
                              mlist(json_pack("[o, o]", metric("a", "56m"), metric("b", "56m"))), true, 50, 2,
                              NULL),
                         3);
        /* Scale-down: 10 % → ceil(0.2 × 4) = 1. */
        assert_int_equal(calc(json_pack("[o, o, o, o]", pod("a", "Running", "100m", true),
                                        pod("b", "Running", "100m", true), pod("c", "Running", "100m", true),
                                        pod("d", "Running", "100m", true)),
                              mlist(json_pack("[o, o, o, o]", metric("a", "10m"), metric("b", "10m"),
                                              metric("c", "10m"), metric("d", "10m"))),
                              true, 50, 4, NULL),
                         1);
}

static void test_missing_and_unready(void **state)
{
        /* Scale-up with a pod missing metrics: it counts as 0. 2 × 150m + 0 over 300m = 100 % → 2 × 3 = 6. */
        assert_int_equal(calc(json_pack("[o, o, o]", pod("a", "Running", "100m", true),
                                        pod("b", "Running", "100m", true), pod("c", "Running", "100m", true)),
                              mlist(json_pack("[o, o]", metric("a", "150m"), metric("b", "150m"))), true, 50,
                              3, NULL),
                         6);
        /* Scale-down with a pod missing metrics: it counts as 100 % of its request.
         * 3 × 10m + 100m over 400m = 32 % → 0.64 → ceil(2.56) = 3. */
        assert_int_equal(calc(json_pack("[o, o, o, o]", pod("a", "Running", "100m", true),
                                        pod("b", "Running", "100m", true), pod("c", "Running", "100m", true),
                                        pod("d", "Running", "100m", true)),
                              mlist(json_pack("[o, o, o]", metric("a", "10m"), metric("b", "10m"),
                                              metric("c", "10m"))),
                              true, 50, 4, NULL),
                         3);
        /* A Pending pod on a scale-up counts as 0: 2 × 100m + 0 over 300m = 66 % → 1.32 → ceil(3.96) = 4. */
        assert_int_equal(
                calc(json_pack("[o, o, o]", pod("a", "Running", "100m", true),
                               pod("b", "Running", "100m", true), pod("c", "Pending", "100m", false)),
                     mlist(json_pack("[o, o]", metric("a", "100m"), metric("b", "100m"))), true, 50, 3, NULL),
                4);
        /* Terminating and failed pods are ignored. */
        json_t *gone = pod("c", "Running", "100m", true);
        json_object_set_new(json_object_get(gone, "metadata"), "deletionTimestamp",
                            json_string("2024-01-01T00:00:00Z"));
        assert_int_equal(calc(json_pack("[o, o, o]", pod("a", "Running", "100m", true),
                                        pod("b", "Failed", "100m", true), gone),
                              mlist(json_pack("[o, o]", metric("a", "100m"), metric("c", "900m"))), true, 50,
                              3, NULL),
                         2);
}

static void test_errors_and_average_value(void **state)
{
        cleanup_error k8c_error_t err = NULL;
        struct k8c_hpa_result r;
        json_auto_t *pods = json_pack("[o]", pod("a", "Running", NULL, true));
        json_auto_t *ml = mlist(json_pack("[o]", metric("a", "100m")));
        assert_true(k8c_hpa_resource_replicas(pods, ml, "cpu", NULL, true, 50, 1, &cfg0, time(NULL), &r,
                                              &err) < 0);
        assert_string_equal(k8c_error_msg(&err), "missing request for cpu in container c of Pod a");
        /* AverageValue needs no request: 300m average against 100m → 3 × 2 = 6. */
        assert_int_equal(
                calc(json_pack("[o, o]", pod("a", "Running", NULL, true), pod("b", "Running", NULL, true)),
                     mlist(json_pack("[o, o]", metric("a", "300m"), metric("b", "300m"))), false, 100, 2, &r),
                6);
        assert_int_equal(r.raw_milli, 300);
        /* No pods at all. */
        assert_int_equal(calc(json_array(), mlist(json_array()), true, 50, 1, NULL), -1);
}

/* ---- whole syncs ---- */

static int64_t fake_now;
static int64_t fake_clock(void)
{
        return fake_now;
}

static long cpu_each = 10;

static int fake_metrics(void *o, const char *ns, const char *selector, json_t **ret, k8c_error_t *err)
{
        struct k8c_informer *pods = o;
        json_auto_t *all = k8c_informer_list(pods);
        json_t *items = json_array();
        size_t i;
        json_t *p;
        json_array_foreach(all, i, p)
        {
                char cpu[32];
                snprintf(cpu, sizeof(cpu), "%ldm", cpu_each);
                json_array_append_new(items, metric(k8c_json_get_string(p, "metadata.name"), cpu));
        }
        *ret = mlist(items);
        return 0;
}

struct env {
        struct fake f;
        struct k8c_object_control ctl;
        struct k8c_informer *hpas, *pods;
        struct k8c_hpa_controller *c;
};

static void set_scale(struct env *e, int replicas)
{
        json_object_set_new(e->f.objects, SCALE_PATH,
                            json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:i}, s:{s:i, s:s}}", "kind", "Scale",
                                      "apiVersion", "autoscaling/v1", "metadata", "name", "web", "namespace",
                                      "default", "spec", "replicas", replicas, "status", "replicas", replicas,
                                      "selector", "app=web"));
        /* The pods follow the scale at once. */
        json_auto_t *all = k8c_informer_list(e->pods);
        size_t i;
        json_t *p;
        json_array_foreach(all, i, p) k8c_informer_apply_event(e->pods, "DELETED", p);
        for (int k = 0; k < replicas; k++) {
                char name[16];
                snprintf(name, sizeof(name), "web-%d", k);
                json_auto_t *pd = pod(name, "Running", "100m", true);
                k8c_informer_apply_event(e->pods, "ADDED", pd);
        }
}

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));
        fake_init(&e->f, &e->ctl);
        e->hpas = test_informer("/apis/autoscaling/v2/horizontalpodautoscalers");
        e->pods = test_informer("/api/v1/pods");
        struct k8c_metrics_source ms = { fake_metrics, e->pods };
        struct k8c_hpa_config cfg = { .sync_period_ms = 15000,
                                      .downscale_window_ms = 300000,
                                      .clock_ms = fake_clock };
        e->c = k8c_hpa_controller_new(e->hpas, e->pods, &e->ctl, &ms, NULL, &cfg);
        fake_now = 1000000;
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        struct env *e = *state;
        k8c_hpa_controller_free(e->c);
        k8c_informer_free(e->hpas);
        k8c_informer_free(e->pods);
        fake_free(&e->f);
        free(e);
        return 0;
}

static void add_hpa(struct env *e, int min, int max, json_t *behavior)
{
        json_t *h =
                json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i}, s:{s:{s:s, s:s, s:s}, s:i, s:i, s:[{s:s, "
                          "s:{s:s, s:{s:s, s:i}}}]}}",
                          "apiVersion", "autoscaling/v2", "kind", "HorizontalPodAutoscaler", "metadata",
                          "name", "web", "namespace", "default", "uid", "hpa-uid", "generation", 1, "spec",
                          "scaleTargetRef", "apiVersion", "apps/v1", "kind", "Deployment", "name", "web",
                          "minReplicas", min, "maxReplicas", max, "metrics", "type", "Resource", "resource",
                          "name", "cpu", "target", "type", "Utilization", "averageUtilization", 50);
        if (behavior != NULL)
                json_object_set_new(json_object_get(h, "spec"), "behavior", behavior);
        k8c_informer_apply_event(e->hpas, "ADDED", h);
        json_decref(h);
}

/* The replicas of the last scale update, or -1. */
static json_int_t scaled(struct env *e)
{
        json_int_t v = -1;
        size_t i;
        json_t *c;
        json_array_foreach(e->f.calls, i, c)
        {
                if (strcmp(json_string_value(json_object_get(c, "verb")), "update") == 0 &&
                    strcmp(json_string_value(json_object_get(c, "path")), SCALE_PATH) == 0)
                        v = k8c_json_get_int(json_object_get(c, "body"), "spec.replicas", -1);
        }
        return v;
}

static json_t *last_status(struct env *e)
{
        json_t *st = NULL;
        size_t i;
        json_t *c;
        json_array_foreach(e->f.calls, i, c)
        {
                const char *p = json_string_value(json_object_get(c, "path"));
                if (strstr(p, "/horizontalpodautoscalers/web/status") != NULL)
                        st = k8c_json_get(json_object_get(c, "body"), "status");
        }
        return st;
}

static const char *cond(const json_t *st, const char *type, const char *field)
{
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(st, "conditions"), i, c)
        {
                if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
                        return json_string_value(json_object_get(c, field));
        }
        return NULL;
}

static void sync_ok(struct env *e)
{
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_hpa_controller_sync(e->c, "default/web", &err);
        if (r < 0)
                fprintf(stderr, "sync: %s\n", k8c_error_msg(&err));
        assert_int_equal(r, 0);
}

static void test_sync_scale_down_window(void **state)
{
        struct env *e = *state;
        add_hpa(e, 1, 10, NULL);
        set_scale(e, 4);
        cpu_each = 10; /* 10 % → 1 */
        sync_ok(e);
        /* The initial recommendation (4) holds within the 5 min window. */
        assert_int_equal(scaled(e), -1);
        json_t *st = last_status(e);
        assert_string_equal(cond(st, "AbleToScale", "reason"), "ScaleDownStabilized");
        assert_int_equal(k8c_json_get_int(st, "desiredReplicas", -1), 4);
        assert_int_equal(k8c_json_get_int(st, "currentMetrics[0].resource.current.averageUtilization", -1),
                         10);
        fake_now += 200000;
        fake_reset(&e->f);
        sync_ok(e);
        assert_int_equal(scaled(e), -1);
        /* Past the window: down to 1. */
        fake_now += 301000;
        fake_reset(&e->f);
        sync_ok(e);
        assert_int_equal(scaled(e), 1);
        st = last_status(e);
        assert_string_equal(cond(st, "AbleToScale", "reason"), "SucceededRescale");
        assert_string_equal(cond(st, "ScalingLimited", "reason"), "DesiredWithinRange");
        assert_non_null(json_object_get(st, "lastScaleTime"));
}

static void test_sync_scale_up_limit_and_max(void **state)
{
        struct env *e = *state;
        add_hpa(e, 1, 20, NULL);
        set_scale(e, 2);
        cpu_each = 500; /* 1000 % → 20, but at most max(2 × 2, 4) = 4 at once */
        sync_ok(e);
        assert_int_equal(scaled(e), 4);
        json_t *st = last_status(e);
        assert_string_equal(cond(st, "ScalingLimited", "status"), "True");
        assert_string_equal(cond(st, "ScalingLimited", "reason"), "ScaleUpLimit");
        set_scale(e, 4);
        fake_reset(&e->f);
        fake_now += 15000;
        sync_ok(e);
        assert_int_equal(scaled(e), 8);
}

static void test_sync_behavior_policies(void **state)
{
        struct env *e = *state;
        /* Up by at most 1 pod per 60 s; down without a window but at most 50 % per 60 s. */
        add_hpa(e, 1, 10,
                json_pack("{s:{s:i, s:s, s:[{s:s, s:i, s:i}]}, s:{s:i, s:s, s:[{s:s, s:i, s:i}]}}", "scaleUp",
                          "stabilizationWindowSeconds", 0, "selectPolicy", "Max", "policies", "type", "Pods",
                          "value", 1, "periodSeconds", 60, "scaleDown", "stabilizationWindowSeconds", 0,
                          "selectPolicy", "Max", "policies", "type", "Percent", "value", 50, "periodSeconds",
                          60));
        set_scale(e, 2);
        cpu_each = 200;
        sync_ok(e);
        assert_int_equal(scaled(e), 3);
        assert_string_equal(cond(last_status(e), "ScalingLimited", "reason"), "ScaleUpLimit");
        /* Within the period the one pod is used up. */
        set_scale(e, 3);
        fake_reset(&e->f);
        fake_now += 10000;
        sync_ok(e);
        assert_int_equal(scaled(e), -1);
        /* A period later, one more. */
        fake_reset(&e->f);
        fake_now += 61000;
        sync_ok(e);
        assert_int_equal(scaled(e), 4);
        /* Load gone: half per period. */
        set_scale(e, 4);
        cpu_each = 1;
        fake_reset(&e->f);
        fake_now += 61000;
        sync_ok(e);
        assert_int_equal(scaled(e), 2);
        assert_string_equal(cond(last_status(e), "ScalingLimited", "reason"), "ScaleDownLimit");
}

static void test_sync_missing_scale(void **state)
{
        struct env *e = *state;
        add_hpa(e, 1, 10, NULL);
        cleanup_error k8c_error_t err = NULL;
        assert_true(k8c_hpa_controller_sync(e->c, "default/web", &err) < 0);
        json_t *st = last_status(e);
        assert_string_equal(cond(st, "AbleToScale", "status"), "False");
        assert_string_equal(cond(st, "AbleToScale", "reason"), "FailedGetScale");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_basic_and_tolerance),
                cmocka_unit_test(test_missing_and_unready),
                cmocka_unit_test(test_errors_and_average_value),
                cmocka_unit_test_setup_teardown(test_sync_scale_down_window, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sync_scale_up_limit_and_max, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sync_behavior_policies, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sync_missing_scale, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

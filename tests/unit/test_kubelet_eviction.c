/*
 * Unit tests of the eviction manager's pure logic with synthetic numbers:
 * threshold parsing (hard, soft, grace periods, errors), evaluation against
 * observations (quantities and percentages, soft grace periods), Kubernetes'
 * ranking (usage above request, then priority, then usage above request) and
 * the eviction message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/kubelet.h"

#define MI (1024ll * 1024)

static void test_parse(void **state)
{
        struct k8c_eviction_config c = { 0 };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_eviction_parse("memory.available<100Mi,nodefs.available<10%",
                                            "memory.available<300Mi", "memory.available=30s", &c, &err),
                         0);
        assert_int_equal(c.n, 3);
        assert_int_equal(c.t[0].signal, K8C_SIGNAL_MEMORY_AVAILABLE);
        assert_true(c.t[0].hard);
        assert_int_equal(c.t[0].quantity, 100 * MI);
        assert_string_equal(c.t[0].value, "100Mi");
        assert_int_equal(c.t[1].signal, K8C_SIGNAL_NODEFS_AVAILABLE);
        assert_true(c.t[1].percentage > 0.0999 && c.t[1].percentage < 0.1001);
        assert_string_equal(c.t[1].value, "10%");
        assert_false(c.t[2].hard);
        assert_int_equal(c.t[2].quantity, 300 * MI);
        assert_int_equal(c.t[2].grace_ms, 30000);
        /* 10% of 1000 bytes. */
        assert_int_equal(k8c_eviction_threshold_value(&c.t[1], 1000), 100);
        assert_int_equal(k8c_eviction_threshold_value(&c.t[0], 1000), 100 * MI);
        k8c_eviction_config_free(&c);

        /* Empty and NULL: no thresholds. */
        assert_int_equal(k8c_eviction_parse("", NULL, NULL, &c, &err), 0);
        assert_int_equal(c.n, 0);
        k8c_eviction_config_free(&c);
        /* imagefs is nodefs without a separate image filesystem. */
        assert_int_equal(
                k8c_eviction_parse("imagefs.available<15%,nodefs.inodesFree<5%", NULL, NULL, &c, &err), 0);
        assert_int_equal(c.t[0].signal, K8C_SIGNAL_NODEFS_AVAILABLE);
        assert_int_equal(c.t[1].signal, K8C_SIGNAL_NODEFS_INODES_FREE);
        k8c_eviction_config_free(&c);
}

static void expect_parse_error(const char *hard, const char *soft, const char *grace, const char *needle)
{
        struct k8c_eviction_config c = { 0 };
        cleanup_error k8c_error_t err = NULL;
        assert_true(k8c_eviction_parse(hard, soft, grace, &c, &err) < 0);
        if (strstr(k8c_error_msg(&err), needle) == NULL)
                fail_msg("error \"%s\" lacks \"%s\"", k8c_error_msg(&err), needle);
        assert_int_equal(c.n, 0);
}

static void test_parse_errors(void **state)
{
        expect_parse_error("memory.free<1Gi", NULL, NULL, "unsupported eviction signal memory.free");
        expect_parse_error("memory.available>1Gi", NULL, NULL, "expected <signal><<quantity>");
        expect_parse_error("memory.available<lots", NULL, NULL, "eviction threshold memory.available");
        expect_parse_error("nodefs.available<150%", NULL, NULL, "invalid percentage 150%");
        expect_parse_error(NULL, "memory.available<1Gi", NULL, "needs a grace period");
        expect_parse_error(NULL, NULL, "memory.available=30s", "without a soft threshold");
        expect_parse_error(NULL, "memory.available<1Gi", "memory.available=soon", "eviction grace period");
        expect_parse_error("memory.available<1Gi,memory.available<2Gi", NULL, NULL, "given twice");
}

static void test_evaluate(void **state)
{
        struct k8c_eviction_config c = { 0 };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_eviction_parse("memory.available<100Mi,nodefs.available<10%",
                                            "memory.available<300Mi", "memory.available=30s", &c, &err),
                         0);
        int64_t first[3] = { 0, 0, 0 };
        bool met[3], reclaim[3];
        struct k8c_eviction_observation obs = { .have = { true, true, true } };
        obs.capacity[K8C_SIGNAL_MEMORY_AVAILABLE] = 1024 * MI;
        obs.available[K8C_SIGNAL_MEMORY_AVAILABLE] = 500 * MI;
        obs.capacity[K8C_SIGNAL_NODEFS_AVAILABLE] = 1000;
        obs.available[K8C_SIGNAL_NODEFS_AVAILABLE] = 500;

        /* Plenty: nothing met. */
        k8c_eviction_evaluate(&c, &obs, 1000, first, met, reclaim);
        for (size_t i = 0; i < 3; i++) {
                assert_false(met[i]);
                assert_false(reclaim[i]);
        }
        /* 200Mi: the soft threshold is met, but not for its 30 s yet. */
        obs.available[K8C_SIGNAL_MEMORY_AVAILABLE] = 200 * MI;
        k8c_eviction_evaluate(&c, &obs, 2000, first, met, reclaim);
        assert_false(met[0]);
        assert_true(met[2]);
        assert_false(reclaim[2]);
        assert_int_equal(first[2], 2000);
        k8c_eviction_evaluate(&c, &obs, 31999, first, met, reclaim);
        assert_false(reclaim[2]);
        k8c_eviction_evaluate(&c, &obs, 32000, first, met, reclaim);
        assert_true(reclaim[2]);
        /* Relief resets the clock. */
        obs.available[K8C_SIGNAL_MEMORY_AVAILABLE] = 400 * MI;
        k8c_eviction_evaluate(&c, &obs, 33000, first, met, reclaim);
        assert_false(met[2]);
        assert_int_equal(first[2], 0);
        obs.available[K8C_SIGNAL_MEMORY_AVAILABLE] = 200 * MI;
        k8c_eviction_evaluate(&c, &obs, 34000, first, met, reclaim);
        assert_true(met[2]);
        assert_false(reclaim[2]);
        /* Below the hard threshold: reclaim at once. Exactly at it is not below. */
        obs.available[K8C_SIGNAL_MEMORY_AVAILABLE] = 100 * MI;
        k8c_eviction_evaluate(&c, &obs, 35000, first, met, reclaim);
        assert_false(met[0]);
        obs.available[K8C_SIGNAL_MEMORY_AVAILABLE] = 100 * MI - 1;
        k8c_eviction_evaluate(&c, &obs, 35000, first, met, reclaim);
        assert_true(met[0]);
        assert_true(reclaim[0]);
        /* Disk: 10% of 1000 = 100 bytes. */
        obs.available[K8C_SIGNAL_NODEFS_AVAILABLE] = 99;
        k8c_eviction_evaluate(&c, &obs, 36000, first, met, reclaim);
        assert_true(met[1]);
        assert_true(reclaim[1]);
        /* An unmeasured signal never meets a threshold. */
        obs.have[K8C_SIGNAL_NODEFS_AVAILABLE] = false;
        k8c_eviction_evaluate(&c, &obs, 37000, first, met, reclaim);
        assert_false(met[1]);
        k8c_eviction_config_free(&c);
}

static json_t *named(const char *name)
{
        return json_pack("{s:{s:s}}", "metadata", "name", name);
}

static const char *name_of(const struct k8c_eviction_candidate *c)
{
        return k8c_json_get_string(c->pod, "metadata.name");
}

static void test_rank(void **state)
{
        json_t *pods[6] = { named("guaranteed-within"), named("besteffort-small"), named("burstable-over"),
                            named("besteffort-big"),    named("important-over"),   named("tie-over") };
        struct k8c_eviction_candidate c[6] = {
                { .pod = pods[0], .usage = 50 * MI, .request = 64 * MI, .priority = 0 },
                { .pod = pods[1], .usage = 10 * MI, .request = 0, .priority = 0 },
                { .pod = pods[2], .usage = 200 * MI, .request = 150 * MI, .priority = 0 },
                { .pod = pods[3], .usage = 300 * MI, .request = 0, .priority = 0 },
                /* Uses far more, but has a higher priority: after every lower-priority pod over its
                 * request. */
                { .pod = pods[4], .usage = 900 * MI, .request = 0, .priority = 1000 },
                /* Same overage as burstable-over: keeps its place after it (stable). */
                { .pod = pods[5], .usage = 60 * MI, .request = 10 * MI, .priority = 0 },
        };
        k8c_eviction_rank(c, 6);
        const char *want[] = { "besteffort-big",   "burstable-over", "tie-over",
                               "besteffort-small", "important-over", "guaranteed-within" };
        for (size_t i = 0; i < 6; i++)
                assert_string_equal(name_of(&c[i]), want[i]);
        for (size_t i = 0; i < 6; i++)
                json_decref(pods[i]);

        /* Among pods within their requests: priority first, then the one closest to its request. */
        json_t *q[3] = { named("low-far"), named("high"), named("low-near") };
        struct k8c_eviction_candidate d[3] = {
                { .pod = q[0], .usage = 10 * MI, .request = 100 * MI, .priority = -5 },
                { .pod = q[1], .usage = 90 * MI, .request = 100 * MI, .priority = 10 },
                { .pod = q[2], .usage = 90 * MI, .request = 100 * MI, .priority = -5 },
        };
        k8c_eviction_rank(d, 3);
        assert_string_equal(name_of(&d[0]), "low-near");
        assert_string_equal(name_of(&d[1]), "low-far");
        assert_string_equal(name_of(&d[2]), "high");
        for (size_t i = 0; i < 3; i++)
                json_decref(q[i]);
}

static void test_message(void **state)
{
        json_auto_t *pod =
                json_loads("{\"metadata\":{\"name\":\"hog\"},\"spec\":{\"containers\":["
                           "{\"name\":\"x\"},"
                           "{\"name\":\"y\",\"resources\":{\"requests\":{\"memory\":\"64Mi\"}}},"
                           "{\"name\":\"z\",\"resources\":{\"requests\":{\"memory\":\"16Mi\"}}}]}}",
                           0, NULL);
        assert_non_null(pod);
        const char *names[] = { "x", "y", "z" };
        const int64_t usages[] = { 300 * MI, 10 * MI, 20 * MI };
        cleanup_free char *msg = k8c_eviction_message("memory", "100Mi", 80 * MI, pod, names, usages, 3);
        assert_string_equal(
                msg, "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. "
                     "Container x was using 300Mi, request is 0, has larger consumption of memory. "
                     "Container z was using 20Mi, request is 16Mi, has larger consumption of memory. ");
        /* Amounts that are not whole MiB print as Kubernetes prints them. */
        cleanup_free char *msg2 = k8c_eviction_message("memory", "10%", 1536 * 1024, pod, NULL, NULL, 0);
        assert_string_equal(
                msg2, "The node was low on resource: memory. Threshold quantity: 10%, available: 1536Ki. ");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),    cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_evaluate), cmocka_unit_test(test_rank),
                cmocka_unit_test(test_message),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

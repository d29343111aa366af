/*
 * Unit tests of qos.c: the QoS class of pods (containers and init containers,
 * requests defaulted from limits), oom_score_adj per class and the Burstable
 * formula with its clamps, effective pod requests, and the oomScoreAdj the OCI
 * spec carries.
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

/* A pod from JSON text of its containers ("[{...}]") and init containers (or NULL). */
static json_t *pod_of(const char *containers, const char *inits)
{
        json_t *pod = json_pack("{s:{s:s, s:s, s:s}, s:{}}", "metadata", "name", "p", "namespace", "default",
                                "uid", "u-1", "spec");
        json_t *spec = json_object_get(pod, "spec");
        json_object_set_new(spec, "containers", json_loads(containers, 0, NULL));
        if (inits != NULL)
                json_object_set_new(spec, "initContainers", json_loads(inits, 0, NULL));
        assert_true(json_is_array(json_object_get(spec, "containers")));
        return pod;
}

static void test_best_effort(void **state)
{
        json_auto_t *p = pod_of("[{\"name\":\"a\"},{\"name\":\"b\",\"resources\":{}}]", NULL);
        assert_int_equal(k8c_pod_qos(p), K8C_QOS_BEST_EFFORT);
        assert_string_equal(k8c_qos_name(k8c_pod_qos(p)), "BestEffort");
        /* Zero quantities do not count. */
        json_auto_t *z = pod_of("[{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"0\"}}}]", NULL);
        assert_int_equal(k8c_pod_qos(z), K8C_QOS_BEST_EFFORT);
        /* Other resources do not count either. */
        json_auto_t *e = pod_of(
                "[{\"name\":\"a\",\"resources\":{\"requests\":{\"ephemeral-storage\":\"1Gi\"}}}]", NULL);
        assert_int_equal(k8c_pod_qos(e), K8C_QOS_BEST_EFFORT);
}

static void test_guaranteed(void **state)
{
        json_auto_t *p = pod_of("[{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":"
                                "\"64Mi\"},\"limits\":{\"cpu\":\"0.1\",\"memory\":\"64Mi\"}}}]",
                                NULL);
        assert_int_equal(k8c_pod_qos(p), K8C_QOS_GUARANTEED);
        assert_string_equal(k8c_qos_name(K8C_QOS_GUARANTEED), "Guaranteed");
        /* Limits alone: requests default to them. */
        json_auto_t *l =
                pod_of("[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}},"
                       "{\"name\":\"b\",\"resources\":{\"limits\":{\"cpu\":\"2\",\"memory\":\"1Gi\"}}}]",
                       NULL);
        assert_int_equal(k8c_pod_qos(l), K8C_QOS_GUARANTEED);
        /* An init container must be Guaranteed too. */
        json_auto_t *i =
                pod_of("[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]",
                       "[{\"name\":\"init\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":"
                       "\"1Gi\"}}}]");
        assert_int_equal(k8c_pod_qos(i), K8C_QOS_GUARANTEED);
}

static void test_burstable(void **state)
{
        /* Requests below limits. */
        json_auto_t *a = pod_of("[{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":"
                                "\"32Mi\"},\"limits\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}}]",
                                NULL);
        assert_int_equal(k8c_pod_qos(a), K8C_QOS_BURSTABLE);
        assert_string_equal(k8c_qos_name(k8c_pod_qos(a)), "Burstable");
        /* Only a memory limit: not both limits. */
        json_auto_t *b = pod_of("[{\"name\":\"a\",\"resources\":{\"limits\":{\"memory\":\"64Mi\"}}}]", NULL);
        assert_int_equal(k8c_pod_qos(b), K8C_QOS_BURSTABLE);
        /* One Guaranteed container and one without anything. */
        json_auto_t *c =
                pod_of("[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}},"
                       "{\"name\":\"b\"}]",
                       NULL);
        assert_int_equal(k8c_pod_qos(c), K8C_QOS_BURSTABLE);
        /* A BestEffort app container with an init container that requests memory. */
        json_auto_t *d = pod_of("[{\"name\":\"a\"}]",
                                "[{\"name\":\"init\",\"resources\":{\"requests\":{\"memory\":\"10Mi\"}}}]");
        assert_int_equal(k8c_pod_qos(d), K8C_QOS_BURSTABLE);
}

static void test_oom_score_adj(void **state)
{
        const int64_t gi = 1024ll * 1024 * 1024;
        json_auto_t *g = pod_of(
                "[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]", NULL);
        assert_int_equal(k8c_oom_score_adj(g, k8c_json_get(g, "spec.containers[0]"), 4 * gi), -997);
        json_auto_t *be = pod_of("[{\"name\":\"a\"}]", NULL);
        assert_int_equal(k8c_oom_score_adj(be, k8c_json_get(be, "spec.containers[0]"), 4 * gi), 1000);
        /* Burstable: 1000 - 1000*1Gi/4Gi = 750. */
        json_auto_t *b = pod_of("[{\"name\":\"a\",\"resources\":{\"requests\":{\"memory\":\"1Gi\"}}},"
                                "{\"name\":\"b\",\"resources\":{\"requests\":{\"cpu\":\"1\"}}},"
                                "{\"name\":\"c\",\"resources\":{\"requests\":{\"memory\":\"4Gi\"}}},"
                                "{\"name\":\"d\",\"resources\":{\"requests\":{\"memory\":\"1\"}}}]",
                                NULL);
        assert_int_equal(k8c_pod_qos(b), K8C_QOS_BURSTABLE);
        assert_int_equal(k8c_oom_score_adj(b, k8c_json_get(b, "spec.containers[0]"), 4 * gi), 750);
        /* No memory request: the top of the range, below BestEffort. */
        assert_int_equal(k8c_oom_score_adj(b, k8c_json_get(b, "spec.containers[1]"), 4 * gi), 999);
        /* The whole node: clamped to 2, above a Guaranteed pod. */
        assert_int_equal(k8c_oom_score_adj(b, k8c_json_get(b, "spec.containers[2]"), 4 * gi), 2);
        /* One byte: 1000 - 0 = 1000, clamped below BestEffort. */
        assert_int_equal(k8c_oom_score_adj(b, k8c_json_get(b, "spec.containers[3]"), 4 * gi), 999);
}

static void test_requests(void **state)
{
        json_auto_t *p =
                pod_of("[{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":"
                       "\"64Mi\"}}},{\"name\":\"b\",\"resources\":{\"limits\":{\"memory\":\"32Mi\"}}}]",
                       "[{\"name\":\"i\",\"resources\":{\"requests\":{\"memory\":\"80Mi\",\"cpu\":"
                       "\"100m\"}}}]");
        assert_int_equal(k8c_container_request(k8c_json_get(p, "spec.containers[0]"), "cpu"), 250);
        assert_int_equal(k8c_container_request(k8c_json_get(p, "spec.containers[1]"), "memory"), 32 << 20);
        /* max(64Mi + 32Mi, 80Mi) and max(250m, 100m). */
        assert_int_equal(k8c_pod_request(p, "memory"), 96 << 20);
        assert_int_equal(k8c_pod_request(p, "cpu"), 250);
        json_auto_t *big = pod_of("[{\"name\":\"a\",\"resources\":{\"requests\":{\"memory\":\"10Mi\"}}}]",
                                  "[{\"name\":\"i\",\"resources\":{\"requests\":{\"memory\":\"100Mi\"}}}]");
        assert_int_equal(k8c_pod_request(big, "memory"), 100 << 20);
        assert_int_equal(k8c_pod_request(big, "ephemeral-storage"), 0);
}

static void test_oci_oom_score_adj(void **state)
{
        json_auto_t *p = pod_of("[{\"name\":\"a\",\"resources\":{\"requests\":{\"memory\":\"2Gi\"}}}]", NULL);
        const struct k8c_oci_inputs in = { .pod = p,
                                           .container = k8c_json_get(p, "spec.containers[0]"),
                                           .pod_ip = "10.0.0.2",
                                           .node_name = "n",
                                           .netns = "/run/netns/x",
                                           .pod_dir = "/tmp/pod",
                                           .cgroup_parent = "k8c/n",
                                           .memory_capacity = 8ll << 30 };
        json_auto_t *spec = k8c_oci_spec(&in);
        assert_int_equal(k8c_json_get_int(spec, "process.oomScoreAdj", 0), 750);
        json_auto_t *be = pod_of("[{\"name\":\"a\"}]", NULL);
        const struct k8c_oci_inputs in2 = { .pod = be,
                                            .container = k8c_json_get(be, "spec.containers[0]"),
                                            .pod_ip = "10.0.0.3",
                                            .node_name = "n",
                                            .netns = "/run/netns/y",
                                            .pod_dir = "/tmp/pod2",
                                            .cgroup_parent = "k8c/n" };
        json_auto_t *spec2 = k8c_oci_spec(&in2);
        assert_int_equal(k8c_json_get_int(spec2, "process.oomScoreAdj", 0), 1000);
        /* A kubelet without CAP_SYS_RESOURCE cannot go below its own score: Guaranteed gets that. */
        json_auto_t *g = pod_of(
                "[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]", NULL);
        struct k8c_oci_inputs in3 = in2;
        in3.pod = g;
        in3.container = k8c_json_get(g, "spec.containers[0]");
        json_auto_t *spec3 = k8c_oci_spec(&in3);
        assert_int_equal(k8c_json_get_int(spec3, "process.oomScoreAdj", 0), -997);
        in3.oom_score_adj_limited = true;
        in3.oom_score_adj_floor = 0;
        json_auto_t *spec4 = k8c_oci_spec(&in3);
        assert_int_equal(k8c_json_get_int(spec4, "process.oomScoreAdj", -1), 0);
        in3.pod = be;
        in3.container = k8c_json_get(be, "spec.containers[0]");
        json_auto_t *spec5 = k8c_oci_spec(&in3);
        assert_int_equal(k8c_json_get_int(spec5, "process.oomScoreAdj", 0), 1000);
}

/* The kubelet's pod status carries the class. */
static void test_status_qos_class(void **state)
{
        json_auto_t *p = pod_of("[{\"name\":\"a\",\"image\":\"busybox\",\"resources\":{\"limits\":{\"cpu\":"
                                "\"1\",\"memory\":\"1Gi\"}}}]",
                                NULL);
        struct k8c_container_view views[1] = { { .name = "a" } };
        const struct k8c_pod_view v = { .runtime_name = "fake",
                                        .containers = views,
                                        .ncontainers = 1,
                                        .initialized = true,
                                        .now = 1000 };
        json_auto_t *st = k8c_kubelet_pod_status(p, &v, NULL);
        assert_string_equal(k8c_json_get_string(st, "qosClass"), "Guaranteed");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_best_effort),      cmocka_unit_test(test_guaranteed),
                cmocka_unit_test(test_burstable),        cmocka_unit_test(test_oom_score_adj),
                cmocka_unit_test(test_requests),         cmocka_unit_test(test_oci_oom_score_adj),
                cmocka_unit_test(test_status_qos_class),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests of the pure parts of the kubelet's probes: the probe spec with
 * Kubernetes' defaults, the result state machine (thresholds, initial results
 * per kind), port resolution by number and by container port name, and the
 * httpGet URL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/kubelet.h"

static json_t *parse(const char *text)
{
        json_t *v = json_loads(text, 0, NULL);
        assert_non_null(v);
        return v;
}

static void test_spec_defaults(void **state)
{
        json_auto_t *empty = parse("{\"exec\":{\"command\":[\"true\"]}}");
        struct k8c_probe_spec s;
        k8c_probe_spec_parse(empty, K8C_PROBE_READINESS, &s);
        assert_int_equal(s.initial_delay_s, 0);
        assert_int_equal(s.period_s, 10);
        assert_int_equal(s.timeout_s, 1);
        assert_int_equal(s.success_threshold, 1);
        assert_int_equal(s.failure_threshold, 3);
        assert_int_equal(s.termination_grace_s, -1);

        json_auto_t *full = parse("{\"initialDelaySeconds\":5,\"periodSeconds\":2,\"timeoutSeconds\":4,"
                                  "\"successThreshold\":3,\"failureThreshold\":7,"
                                  "\"terminationGracePeriodSeconds\":9}");
        k8c_probe_spec_parse(full, K8C_PROBE_READINESS, &s);
        assert_int_equal(s.initial_delay_s, 5);
        assert_int_equal(s.period_s, 2);
        assert_int_equal(s.timeout_s, 4);
        assert_int_equal(s.success_threshold, 3);
        assert_int_equal(s.failure_threshold, 7);
        /* Probe-level grace applies to liveness and startup kills only. */
        assert_int_equal(s.termination_grace_s, -1);
        k8c_probe_spec_parse(full, K8C_PROBE_LIVENESS, &s);
        assert_int_equal(s.success_threshold, 1);
        assert_int_equal(s.termination_grace_s, 9);
        k8c_probe_spec_parse(full, K8C_PROBE_STARTUP, &s);
        assert_int_equal(s.success_threshold, 1);
        assert_int_equal(s.termination_grace_s, 9);

        /* Nonsense is clamped to the minimums. */
        json_auto_t *bad = parse("{\"initialDelaySeconds\":-3,\"periodSeconds\":0,\"timeoutSeconds\":-1,"
                                 "\"failureThreshold\":0}");
        k8c_probe_spec_parse(bad, K8C_PROBE_LIVENESS, &s);
        assert_int_equal(s.initial_delay_s, 0);
        assert_int_equal(s.period_s, 1);
        assert_int_equal(s.timeout_s, 1);
        assert_int_equal(s.failure_threshold, 1);
}

static void test_state_thresholds(void **state)
{
        struct k8c_probe_spec spec = {
                .period_s = 1, .timeout_s = 1, .success_threshold = 2, .failure_threshold = 3
        };
        struct k8c_probe_state s;

        /* Readiness starts not ready and needs two successes in a row. */
        k8c_probe_state_init(&s, K8C_PROBE_READINESS);
        assert_int_equal(s.result, K8C_PROBE_FAILURE);
        assert_false(k8c_probe_state_record(&s, &spec, true));
        assert_int_equal(s.result, K8C_PROBE_FAILURE);
        assert_false(k8c_probe_state_record(&s, &spec, false)); /* the streak is broken */
        assert_false(k8c_probe_state_record(&s, &spec, true));
        assert_true(k8c_probe_state_record(&s, &spec, true));
        assert_int_equal(s.result, K8C_PROBE_SUCCESS);
        /* Then three failures in a row flip it back; two are not enough. */
        assert_false(k8c_probe_state_record(&s, &spec, false));
        assert_false(k8c_probe_state_record(&s, &spec, false));
        assert_false(k8c_probe_state_record(&s, &spec, true));
        assert_false(k8c_probe_state_record(&s, &spec, false));
        assert_false(k8c_probe_state_record(&s, &spec, false));
        assert_true(k8c_probe_state_record(&s, &spec, false));
        assert_int_equal(s.result, K8C_PROBE_FAILURE);
        assert_int_equal(s.failures, 3);

        /* Liveness starts healthy; startup unknown until the first verdict. */
        spec.success_threshold = 1;
        k8c_probe_state_init(&s, K8C_PROBE_LIVENESS);
        assert_int_equal(s.result, K8C_PROBE_SUCCESS);
        assert_false(k8c_probe_state_record(&s, &spec, true));
        k8c_probe_state_init(&s, K8C_PROBE_STARTUP);
        assert_int_equal(s.result, K8C_PROBE_UNKNOWN);
        assert_false(k8c_probe_state_record(&s, &spec, false));
        assert_int_equal(s.result, K8C_PROBE_UNKNOWN);
        assert_true(k8c_probe_state_record(&s, &spec, true));
        assert_int_equal(s.result, K8C_PROBE_SUCCESS);
        k8c_probe_state_init(&s, K8C_PROBE_STARTUP);
        assert_false(k8c_probe_state_record(&s, &spec, false));
        assert_false(k8c_probe_state_record(&s, &spec, false));
        assert_true(k8c_probe_state_record(&s, &spec, false));
        assert_int_equal(s.result, K8C_PROBE_FAILURE);
}

static void test_ports_and_urls(void **state)
{
        json_auto_t *c = parse("{\"name\":\"web\",\"ports\":[{\"name\":\"metrics\",\"containerPort\":9090},"
                               "{\"name\":\"http\",\"containerPort\":8080}]}");
        json_auto_t *num = json_integer(81);
        json_auto_t *named = json_string("http");
        json_auto_t *absent = json_string("grpc");
        json_auto_t *zero = json_integer(0);
        int port = 0;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_probe_port(c, num, &port, &err), 0);
        assert_int_equal(port, 81);
        assert_int_equal(k8c_probe_port(c, named, &port, &err), 0);
        assert_int_equal(port, 8080);
        assert_true(k8c_probe_port(c, absent, &port, &err) < 0);
        assert_string_equal(k8c_error_msg(&err), "port grpc not found in the container's ports");
        k8c_error_release(&err);
        assert_true(k8c_probe_port(c, zero, &port, &err) < 0);
        k8c_error_release(&err);

        cleanup_free char *u1 = NULL, *u2 = NULL, *u3 = NULL, *u4 = NULL;
        json_auto_t *h1 = parse("{\"port\":\"metrics\",\"path\":\"/healthz\"}");
        assert_int_equal(k8c_probe_http_url(c, h1, "10.244.1.5", &u1, &err), 0);
        assert_string_equal(u1, "http://10.244.1.5:9090/healthz");
        json_auto_t *h2 =
                parse("{\"port\":443,\"path\":\"ready\",\"scheme\":\"HTTPS\",\"host\":\"127.0.0.1\"}");
        assert_int_equal(k8c_probe_http_url(c, h2, "10.244.1.5", &u2, &err), 0);
        assert_string_equal(u2, "https://127.0.0.1:443/ready");
        json_auto_t *h3 = parse("{\"port\":80}");
        assert_int_equal(k8c_probe_http_url(c, h3, "fd00::5", &u3, &err), 0);
        assert_string_equal(u3, "http://[fd00::5]:80/");
        assert_true(k8c_probe_http_url(c, h3, NULL, &u4, &err) < 0);
        assert_null(u4);
        k8c_error_release(&err);

        json_auto_t *e = parse("{\"exec\":{\"command\":[\"cat\",\"/x\"]}}");
        json_auto_t *e0 = parse("{\"exec\":{\"command\":[]}}");
        json_auto_t *g = parse("{\"grpc\":{\"port\":9000}}");
        assert_true(k8c_probe_supported(e));
        assert_false(k8c_probe_supported(h1)); /* a handler's body, not a probe */
        assert_false(k8c_probe_supported(NULL));
        assert_false(k8c_probe_supported(e0));
        assert_false(k8c_probe_supported(g));
        json_auto_t *wrapped = parse("{\"httpGet\":{\"port\":80}}");
        json_auto_t *tcp = parse("{\"tcpSocket\":{\"port\":80}}");
        assert_true(k8c_probe_supported(wrapped));
        assert_true(k8c_probe_supported(tcp));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spec_defaults),
                cmocka_unit_test(test_state_thresholds),
                cmocka_unit_test(test_ports_and_urls),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

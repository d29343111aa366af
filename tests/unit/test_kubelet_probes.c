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
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/kubelet.h"
#include "kubelet/kubelet_int.h"

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

/* ---- the prober's timers and thread pool, with a runtime whose exec is a test double ---- */

struct fake_exec {
        pthread_mutex_t lock;
        int fast_runs, slow_runs;
        int fail_code; /* what "flappy" answers */
        int changes;
        char last_changed[64];
};
static struct fake_exec fx = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int fx_exec(void *rt, const json_t *pod, const char *container, const char *const *argv, int timeout_s,
                   int *ret_exit_code, k8c_error_t *err)
{
        pthread_mutex_lock(&fx.lock);
        bool slow = strncmp(container, "slow", 4) == 0;
        if (slow)
                fx.slow_runs++;
        else
                fx.fast_runs++;
        *ret_exit_code = strcmp(container, "flappy") == 0 ? fx.fail_code : 0;
        pthread_mutex_unlock(&fx.lock);
        if (slow)
                usleep(2500 * 1000); /* longer than its period: hangs until "timeout" */
        return 0;
}

static void fx_changed(void *opaque, const char *pod_key)
{
        pthread_mutex_lock(&fx.lock);
        fx.changes++;
        snprintf(fx.last_changed, sizeof(fx.last_changed), "%s", pod_key);
        pthread_mutex_unlock(&fx.lock);
}

static const struct k8c_runtime_ops fx_ops = { .name = "fx", .exec = fx_exec };

static void add_container(struct k8c_prober *p, const json_t *pod, const char *name, const char *kind)
{
        json_auto_t *c = json_pack("{s:s, s:{s:{s:[s]}, s:i, s:i}}", "name", name, kind, "exec", "command",
                                   "check", "periodSeconds", 1, "failureThreshold", 1);
        cleanup_free char *id = k8c_xasprintf("%s-0", name);
        const struct k8c_prober_container pc = {
                .pod_key = "default/many",
                .pod = pod,
                .container = c,
                .container_id = id,
                .started_at = time(NULL),
                .pod_ip = "10.244.0.9",
                .ops = &fx_ops,
        };
        k8c_prober_update(p, &pc);
}

static void test_prober_many_and_slow(void **state)
{
        struct k8c_prober *p = k8c_prober_new(4, NULL, fx_changed, NULL);
        json_auto_t *pod = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "name", "many", "namespace",
                                     "default", "uid", "u-many");
        /* 300 probes of period 1 s, and 3 that hang 2.5 s on each run (3 of the 4 threads). */
        for (int i = 0; i < 300; i++) {
                char name[16];
                snprintf(name, sizeof(name), "c%d", i);
                add_container(p, pod, name, "readinessProbe");
        }
        for (int i = 0; i < 3; i++) {
                char name[16];
                snprintf(name, sizeof(name), "slow%d", i);
                add_container(p, pod, name, "livenessProbe");
        }
        add_container(p, pod, "flappy", "livenessProbe");
        struct k8c_probe_results res;
        /* Before any run: readiness has not passed yet, liveness is presumed healthy. */
        k8c_prober_results(p, "u-many", "flappy", "flappy-0", &res);
        assert_true(res.ready && res.started && !res.kill);

        sleep(3);
        pthread_mutex_lock(&fx.lock);
        int fast = fx.fast_runs, slow = fx.slow_runs;
        pthread_mutex_unlock(&fx.lock);
        fprintf(stderr, "3 s: %d fast probe runs, %d slow\n", fast, slow);
        /* Every fast probe ran about once a second despite the hanging ones. */
        assert_true(fast >= 301 * 2);
        assert_true(fast <= 301 * 4 + 301);
        assert_true(slow >= 3 && slow <= 6);
        for (int i = 0; i < 300; i++) {
                char name[16], id[16];
                snprintf(name, sizeof(name), "c%d", i);
                snprintf(id, sizeof(id), "c%d-0", i);
                k8c_prober_results(p, "u-many", name, id, &res);
                assert_true(res.ready);
        }
        /* Results of another instance of the container tell nothing. */
        k8c_prober_results(p, "u-many", "c0", "c0-1", &res);
        assert_false(res.ready);

        /* A liveness failure flips the result once and reports the pod. */
        pthread_mutex_lock(&fx.lock);
        int changes = fx.changes;
        fx.fail_code = 1;
        pthread_mutex_unlock(&fx.lock);
        bool killed = false;
        for (int i = 0; i < 40 && !killed; i++) {
                k8c_prober_results(p, "u-many", "flappy", "flappy-0", &res);
                killed = res.kill;
                if (!killed)
                        usleep(100 * 1000);
        }
        assert_true(killed);
        assert_string_equal(res.kill_probe, "liveness");
        pthread_mutex_lock(&fx.lock);
        assert_true(fx.changes > changes);
        assert_string_equal(fx.last_changed, "default/many");
        pthread_mutex_unlock(&fx.lock);

        /* Forgetting the pod stops its probes; a running slow one is left to finish. */
        k8c_prober_remove_pod(p, "u-many");
        pthread_mutex_lock(&fx.lock);
        int before = fx.fast_runs;
        pthread_mutex_unlock(&fx.lock);
        sleep(2);
        pthread_mutex_lock(&fx.lock);
        assert_int_equal(fx.fast_runs, before);
        pthread_mutex_unlock(&fx.lock);
        k8c_prober_free(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spec_defaults),
                cmocka_unit_test(test_state_thresholds),
                cmocka_unit_test(test_ports_and_urls),
                cmocka_unit_test(test_prober_many_and_slow),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

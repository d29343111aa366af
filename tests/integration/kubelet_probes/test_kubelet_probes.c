/*
 * Root integration tests of the kubelet's probes with real runc pods (busybox
 * httpd, sh) in a node network namespace made by the test, against the real
 * apiserver on loopback: a liveness httpGet endpoint that starts failing gets
 * the container restarted within periodSeconds x failureThreshold (+1 period)
 * with Unhealthy/Killing events; readiness httpGet flips Ready both ways while
 * the pod stays Running, and a probe that hangs in another pod does not hold
 * it up; tcpSocket and exec probes (readiness and liveness); a startup probe
 * holds liveness and readiness off until it succeeds, and kills the container
 * when it never does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/kubelet_runc.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"

static json_t *pod_json(const char *text)
{
        json_error_t je;
        json_t *p = json_loads(text, 0, &je);
        if (p == NULL)
                fprintf(stderr, "bad pod json: %s at %d\n", je.text, je.position);
        assert_non_null(p);
        return p;
}

static const json_t *cs(const json_t *pod, const char *c)
{
        return k8c_test_container_status(pod, c);
}

static bool running(const json_t *p)
{
        const char *phase = k8c_json_get_string(p, "status.phase");
        return phase != NULL && strcmp(phase, "Running") == 0;
}

static bool running_ready(const json_t *p)
{
        return running(p) && strcmp(k8c_test_pod_condition(p, "Ready"), "True") == 0;
}

static bool running_unready(const json_t *p)
{
        return running(p) && strcmp(k8c_test_pod_condition(p, "Ready"), "False") == 0 &&
               k8c_json_get(cs(p, k8c_json_get_string(p, "spec.containers[0].name")), "state.running") !=
                       NULL;
}

/* ---- liveness httpGet ---- */

static bool web_restarted(const json_t *p)
{
        const json_t *c = cs(p, "web");
        return k8c_json_get_int(c, "restartCount", 0) == 1 && k8c_json_get(c, "state.running") != NULL;
}

static void test_liveness_http(void **state)
{
        struct k8c_test_node *n = *state;
        /* Port by name; a probe-level grace of 0 overrides the pod's 5 s (httpd as pid 1 ignores
         * SIGTERM, so the pod's grace would show in the timing). */
        json_auto_t *p = pod_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"live-http\"},"
                "\"spec\":{\"terminationGracePeriodSeconds\":5,\"containers\":[{\"name\":\"web\","
                "\"image\":\"busybox\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080}],"
                "\"command\":[\"sh\",\"-c\",\"echo ok > /www/healthz; exec httpd -f -p 8080 -h /www\"],"
                "\"livenessProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":\"http\",\"httpHeaders\":"
                "[{\"name\":\"X-Probe\",\"value\":\"k8c\"}]},\"periodSeconds\":1,\"failureThreshold\":2,"
                "\"terminationGracePeriodSeconds\":0}}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", p), 0);
        json_auto_t *up = k8c_test_node_wait_pod(n, "live-http", running_ready, 30000);
        assert_non_null(up);
        assert_true(k8c_json_get_bool(cs(up, "web"), "started", false));

        /* Healthy for a few periods: probes pass, nothing restarts. */
        sleep(3);
        json_auto_t *still = k8c_test_node_get(n, "/api/v1/namespaces/default/pods/live-http");
        assert_int_equal(k8c_json_get_int(cs(still, "web"), "restartCount", -1), 0);
        /* (A first probe may have beaten httpd to its port: one refused connection is below the
         * threshold. No 404 yet, and no kill.) */
        assert_false(k8c_test_pod_has_event(n, "live-http", "Unhealthy", "statuscode: 404"));
        assert_false(k8c_test_pod_has_event(n, "live-http", "Killing", "Container web"));

        /* The endpoint starts answering 404: restarted within period x threshold + 1 period. */
        double t0 = k8c_test_mono_s();
        assert_int_equal(k8c_test_node_exec(n, up, "web", "busybox rm /www/healthz"), 0);
        json_auto_t *restarted = k8c_test_node_wait_pod(n, "live-http", web_restarted, 15000);
        double took = k8c_test_mono_s() - t0;
        assert_non_null(restarted);
        fprintf(stderr,
                "liveness restart observed after %.2f s (period 1 s x threshold 2 + 1 period = 3 s)\n", took);
        /* 3 s, plus the kill, the new runc container and the status write (ASan build). */
        assert_true(took <= 3.0 + 2.0);
        const json_t *web = cs(restarted, "web");
        assert_int_equal(k8c_json_get_int(web, "lastState.terminated.exitCode", -1), 137);
        assert_string_equal(k8c_json_get_string(web, "lastState.terminated.reason"), "Error");
        assert_string_not_equal(k8c_json_get_string(web, "containerID"),
                                k8c_json_get_string(cs(up, "web"), "containerID"));
        assert_true(k8c_test_pod_has_event(n, "live-http", "Unhealthy",
                                           "Liveness probe failed: HTTP probe failed with statuscode: 404"));
        assert_true(k8c_test_pod_has_event(n, "live-http", "Killing",
                                           "Container web failed liveness probe, will be restarted"));

        /* The new run serves /healthz again: it stays up. */
        sleep(3);
        json_auto_t *after = k8c_test_node_get(n, "/api/v1/namespaces/default/pods/live-http");
        assert_int_equal(k8c_json_get_int(cs(after, "web"), "restartCount", -1), 1);
        assert_true(running_ready(after));
}

/* ---- readiness httpGet; a hanging probe elsewhere ---- */

static bool slow_unready(const json_t *p)
{
        return running_unready(p);
}

static void test_readiness_http(void **state)
{
        struct k8c_test_node *n = *state;
        /* Two probes that hang until their timeout (an address on the pod subnet nobody holds):
         * they occupy executor threads, never the pod workers. */
        json_auto_t *slow =
                pod_json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"slow\"},"
                         "\"spec\":{\"terminationGracePeriodSeconds\":0,\"containers\":["
                         "{\"name\":\"a\",\"image\":\"busybox\",\"command\":[\"sleep\",\"3600\"],"
                         "\"readinessProbe\":{\"httpGet\":{\"host\":\"10.244.77.250\",\"port\":80},"
                         "\"timeoutSeconds\":8,\"periodSeconds\":1}},"
                         "{\"name\":\"b\",\"image\":\"busybox\",\"command\":[\"sleep\",\"3600\"],"
                         "\"readinessProbe\":{\"tcpSocket\":{\"host\":\"10.244.77.251\",\"port\":80},"
                         "\"timeoutSeconds\":8,\"periodSeconds\":1}}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", slow), 0);

        json_auto_t *p = pod_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"ready-http\"},"
                "\"spec\":{\"terminationGracePeriodSeconds\":0,\"containers\":[{\"name\":\"web\","
                "\"image\":\"busybox\",\"command\":[\"sh\",\"-c\",\"echo hi > /www/index.html; "
                "exec httpd -f -p 8080 -h /www\"],"
                "\"readinessProbe\":{\"httpGet\":{\"path\":\"/ready\",\"port\":8080},\"periodSeconds\":1,"
                "\"failureThreshold\":1}}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", p), 0);

        /* /ready is missing: Running, not Ready, the container not ready, no restart. */
        json_auto_t *unready = k8c_test_node_wait_pod(n, "ready-http", running_unready, 30000);
        assert_non_null(unready);
        assert_false(k8c_json_get_bool(cs(unready, "web"), "ready", true));
        assert_true(k8c_json_get_bool(cs(unready, "web"), "started", false));
        assert_string_equal(k8c_test_pod_condition(unready, "ContainersReady"), "False");
        bool event = false;
        for (int i = 0; i < 50 && !event; i++) {
                event = k8c_test_pod_has_event(
                        n, "ready-http", "Unhealthy",
                        "Readiness probe failed: HTTP probe failed with statuscode: 404");
                if (!event)
                        usleep(100 * 1000);
        }
        assert_true(event);

        /* As kubectl shows it: 0/1 READY, Running. */
        {
                cleanup_free char *out = NULL;
                assert_int_equal(k8c_test_kubectl(&n->srv, &out, "get pod ready-http --no-headers"), 0);
                assert_non_null(strstr(out, "ready-http"));
                assert_non_null(strstr(out, " 0/1 "));
                assert_non_null(strstr(out, " Running "));
        }

        /* It passes: Ready within a couple of periods, while the slow probes hang. */
        double t0 = k8c_test_mono_s();
        assert_int_equal(k8c_test_node_exec(n, unready, "web", "echo yes > /www/ready"), 0);
        json_auto_t *ready = k8c_test_node_wait_pod(n, "ready-http", running_ready, 10000);
        double took = k8c_test_mono_s() - t0;
        assert_non_null(ready);
        fprintf(stderr, "readiness True after %.2f s\n", took);
        assert_true(took <= 1.0 + 2.0);
        assert_true(k8c_json_get_bool(cs(ready, "web"), "ready", false));
        {
                cleanup_free char *out = NULL;
                assert_int_equal(k8c_test_kubectl(&n->srv, &out, "get pod ready-http --no-headers"), 0);
                assert_non_null(strstr(out, " 1/1 "));
                assert_non_null(strstr(out, " Running "));
        }

        /* Fails again: back to not Ready, still Running, never restarted. */
        assert_int_equal(k8c_test_node_exec(n, ready, "web", "busybox rm /www/ready"), 0);
        json_auto_t *again = k8c_test_node_wait_pod(n, "ready-http", running_unready, 10000);
        assert_non_null(again);
        assert_int_equal(k8c_json_get_int(cs(again, "web"), "restartCount", -1), 0);
        assert_string_equal(k8c_json_get_string(cs(again, "web"), "containerID"),
                            k8c_json_get_string(cs(ready, "web"), "containerID"));

        /* The hanging probes failed by their timeout (or the unreachable address) and say so. */
        json_auto_t *s = k8c_test_node_wait_pod(n, "slow", slow_unready, 20000);
        assert_non_null(s);
        assert_false(k8c_json_get_bool(cs(s, "a"), "ready", true));
        assert_false(k8c_json_get_bool(cs(s, "b"), "ready", true));
        bool slow_event = false;
        for (int i = 0; i < 150 && !slow_event; i++) {
                slow_event = k8c_test_pod_has_event(n, "slow", "Unhealthy",
                                                    "Readiness probe failed: Get "
                                                    "\"http://10.244.77.250:80/\"");
                if (!slow_event)
                        usleep(100 * 1000);
        }
        assert_true(slow_event);
}

/* ---- tcpSocket and exec ---- */

static bool both_ready(const json_t *p)
{
        return running_ready(p) && k8c_json_get_bool(cs(p, "tcp"), "ready", false) &&
               k8c_json_get_bool(cs(p, "ex"), "ready", false);
}

static bool tcp_ready_ex_not(const json_t *p)
{
        return running(p) && k8c_json_get_bool(cs(p, "tcp"), "ready", false) &&
               !k8c_json_get_bool(cs(p, "ex"), "ready", true) &&
               k8c_json_get(cs(p, "ex"), "state.running") != NULL;
}

static bool tcp_unready(const json_t *p)
{
        return running(p) && !k8c_json_get_bool(cs(p, "tcp"), "ready", true) &&
               k8c_json_get_int(cs(p, "tcp"), "restartCount", 0) == 0;
}

static bool tcp_restarted(const json_t *p)
{
        return k8c_json_get_int(cs(p, "tcp"), "restartCount", 0) == 1 &&
               k8c_json_get_bool(cs(p, "tcp"), "ready", false);
}

static bool ex_restarted(const json_t *p)
{
        return k8c_json_get_int(cs(p, "ex"), "restartCount", 0) == 1 &&
               k8c_json_get(cs(p, "ex"), "state.running") != NULL;
}

static void test_tcp_and_exec(void **state)
{
        struct k8c_test_node *n = *state;
        json_auto_t *p = pod_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"tcp-exec\"},"
                "\"spec\":{\"terminationGracePeriodSeconds\":5,\"containers\":["
                "{\"name\":\"tcp\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\","
                "\"httpd -f -p 8081 -h /www & echo $! > /tmp/httpd.pid; exec sleep 3600\"],"
                "\"readinessProbe\":{\"tcpSocket\":{\"port\":8081},\"periodSeconds\":1,\"failureThreshold\":"
                "1},"
                "\"livenessProbe\":{\"tcpSocket\":{\"port\":8081},\"initialDelaySeconds\":1,"
                "\"periodSeconds\":1,"
                "\"failureThreshold\":3,\"terminationGracePeriodSeconds\":0}},"
                "{\"name\":\"ex\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\","
                "\": > /tmp/alive; exec sleep 3600\"],"
                "\"readinessProbe\":{\"exec\":{\"command\":[\"cat\",\"/tmp/ready\"]},\"periodSeconds\":1,"
                "\"failureThreshold\":1},"
                "\"livenessProbe\":{\"exec\":{\"command\":[\"sh\",\"-c\",\"test -e /tmp/alive\"]},"
                "\"periodSeconds\":1,\"failureThreshold\":1,\"terminationGracePeriodSeconds\":0}}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", p), 0);

        /* tcpSocket connects: tcp ready; exec readiness fails (no /tmp/ready): ex not ready. */
        json_auto_t *half = k8c_test_node_wait_pod(n, "tcp-exec", tcp_ready_ex_not, 30000);
        assert_non_null(half);
        assert_string_equal(k8c_test_pod_condition(half, "Ready"), "False");
        assert_int_equal(k8c_test_node_exec(n, half, "ex", "echo y > /tmp/ready"), 0);
        json_auto_t *full = k8c_test_node_wait_pod(n, "tcp-exec", both_ready, 10000);
        assert_non_null(full);

        /* The server goes away: tcpSocket readiness fails at once (threshold 1), then liveness
         * (threshold 3) restarts the container, whose new run serves again. */
        assert_int_equal(k8c_test_node_exec(n, full, "tcp", "kill $(cat /tmp/httpd.pid)"), 0);
        json_auto_t *down = k8c_test_node_wait_pod(n, "tcp-exec", tcp_unready, 10000);
        assert_non_null(down);
        assert_string_equal(k8c_test_pod_condition(down, "Ready"), "False");
        json_auto_t *back = k8c_test_node_wait_pod(n, "tcp-exec", tcp_restarted, 20000);
        assert_non_null(back);
        assert_true(k8c_test_pod_has_event(n, "tcp-exec", "Unhealthy", "Readiness probe failed: dial tcp"));
        assert_true(k8c_test_pod_has_event(n, "tcp-exec", "Killing",
                                           "Container tcp failed liveness probe, will be restarted"));
        assert_int_equal(k8c_json_get_int(cs(back, "ex"), "restartCount", -1), 0);

        /* exec liveness: the file it checks disappears → killed and restarted; the new run makes it
         * again and lives on. */
        assert_int_equal(k8c_test_node_exec(n, back, "ex", "busybox rm /tmp/alive"), 0);
        json_auto_t *ex = k8c_test_node_wait_pod(n, "tcp-exec", ex_restarted, 15000);
        assert_non_null(ex);
        assert_int_equal(k8c_json_get_int(cs(ex, "ex"), "lastState.terminated.exitCode", -1), 137);
        assert_true(k8c_test_pod_has_event(n, "tcp-exec", "Killing",
                                           "Container ex failed liveness probe, will be restarted"));
        assert_true(k8c_test_pod_has_event(n, "tcp-exec", "Unhealthy", "Liveness probe failed: command"));
        sleep(3);
        json_auto_t *after = k8c_test_node_get(n, "/api/v1/namespaces/default/pods/tcp-exec");
        assert_int_equal(k8c_json_get_int(cs(after, "ex"), "restartCount", -1), 1);
        assert_int_equal(k8c_json_get_int(cs(after, "tcp"), "restartCount", -1), 1);
}

/* ---- startup ---- */

static bool slow_starting(const json_t *p)
{
        const json_t *c = cs(p, "slow");
        return k8c_json_get(c, "state.running") != NULL && !k8c_json_get_bool(c, "started", true) &&
               !k8c_json_get_bool(c, "ready", true);
}

static bool slow_started(const json_t *p)
{
        const json_t *c = cs(p, "slow");
        return k8c_json_get_bool(c, "started", false) && k8c_json_get_bool(c, "ready", false);
}

static bool never_killed(const json_t *p)
{
        return k8c_json_get_int(cs(p, "never"), "restartCount", 0) >= 1;
}

static void test_startup_probe(void **state)
{
        struct k8c_test_node *n = *state;
        /* Liveness and readiness check the same file as the startup probe with threshold 1: run
         * before startup succeeds, liveness would kill the container within a second. */
        json_auto_t *p = pod_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"startup\"},"
                "\"spec\":{\"terminationGracePeriodSeconds\":0,\"containers\":["
                "{\"name\":\"slow\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\","
                "\"sleep 4; : > /tmp/started; exec sleep 3600\"],"
                "\"startupProbe\":{\"exec\":{\"command\":[\"sh\",\"-c\",\"test -e /tmp/started\"]},"
                "\"periodSeconds\":1,\"failureThreshold\":30},"
                "\"livenessProbe\":{\"exec\":{\"command\":[\"sh\",\"-c\",\"test -e /tmp/started\"]},"
                "\"periodSeconds\":1,\"failureThreshold\":1},"
                "\"readinessProbe\":{\"exec\":{\"command\":[\"sh\",\"-c\",\"test -e /tmp/started\"]},"
                "\"periodSeconds\":1}},"
                "{\"name\":\"never\",\"image\":\"busybox\",\"command\":[\"sleep\",\"3600\"],"
                "\"startupProbe\":{\"exec\":{\"command\":[\"sh\",\"-c\",\"test -e /nope\"]},"
                "\"periodSeconds\":1,\"failureThreshold\":2,\"terminationGracePeriodSeconds\":0}}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", p), 0);

        json_auto_t *starting = k8c_test_node_wait_pod(n, "startup", slow_starting, 30000);
        assert_non_null(starting);
        assert_string_equal(k8c_test_pod_condition(starting, "Ready"), "False");
        json_auto_t *started = k8c_test_node_wait_pod(n, "startup", slow_started, 15000);
        assert_non_null(started);
        assert_int_equal(k8c_json_get_int(cs(started, "slow"), "restartCount", -1), 0);
        assert_false(k8c_test_pod_has_event(n, "startup", "Killing", "Container slow"));

        /* A startup probe that never passes kills the container past its threshold. */
        json_auto_t *killed = k8c_test_node_wait_pod(n, "startup", never_killed, 15000);
        assert_non_null(killed);
        assert_true(k8c_test_pod_has_event(n, "startup", "Killing",
                                           "Container never failed startup probe, will be restarted"));
        assert_true(k8c_test_pod_has_event(n, "startup", "Unhealthy", "Startup probe failed"));
        assert_false(k8c_json_get_bool(cs(killed, "never"), "ready", true));
        json_auto_t *later = k8c_test_node_get(n, "/api/v1/namespaces/default/pods/startup");
        assert_int_equal(k8c_json_get_int(cs(later, "slow"), "restartCount", -1), 0);
}

/* ---- a liveness kill is an exit like any other: restartPolicy and back-off apply ---- */

static bool never_failed(const json_t *p)
{
        const char *phase = k8c_json_get_string(p, "status.phase");
        return phase != NULL && strcmp(phase, "Failed") == 0;
}

static bool looping_backoff(const json_t *p)
{
        const json_t *c = cs(p, "c");
        const char *reason = k8c_json_get_string(c, "state.waiting.reason");
        return reason != NULL && strcmp(reason, "CrashLoopBackOff") == 0;
}

static void test_liveness_kill_policy(void **state)
{
        struct k8c_test_node *n = *state;
        const char *fmt =
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\"},"
                "\"spec\":{\"restartPolicy\":\"%s\",\"terminationGracePeriodSeconds\":0,"
                "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"command\":[\"sleep\",\"3600\"],"
                "\"livenessProbe\":{\"exec\":{\"command\":[\"sh\",\"-c\",\"exit 1\"]},\"periodSeconds\":1,"
                "\"failureThreshold\":1}}]}}";
        char buf[1024];
        /* restartPolicy Never: killed once, the pod fails with the kill as the container's exit. */
        snprintf(buf, sizeof(buf), fmt, "live-never", "Never");
        json_auto_t *never = pod_json(buf);
        assert_int_equal(k8c_test_node_create(n, "pods", never), 0);
        json_auto_t *failed = k8c_test_node_wait_pod(n, "live-never", never_failed, 30000);
        assert_non_null(failed);
        assert_int_equal(k8c_json_get_int(cs(failed, "c"), "state.terminated.exitCode", -1), 137);
        assert_int_equal(k8c_json_get_int(cs(failed, "c"), "restartCount", -1), 0);
        assert_true(k8c_test_pod_has_event(n, "live-never", "Killing", "Container c failed liveness probe"));

        /* restartPolicy Always, failing for good: restarted once at once, then CrashLoopBackOff. */
        snprintf(buf, sizeof(buf), fmt, "live-loop", "Always");
        json_auto_t *loop = pod_json(buf);
        assert_int_equal(k8c_test_node_create(n, "pods", loop), 0);
        json_auto_t *backoff = k8c_test_node_wait_pod(n, "live-loop", looping_backoff, 30000);
        assert_non_null(backoff);
        assert_int_equal(k8c_json_get_int(cs(backoff, "c"), "restartCount", -1), 1);
        assert_int_equal(k8c_json_get_int(cs(backoff, "c"), "lastState.terminated.exitCode", -1), 137);
        assert_non_null(
                strstr(k8c_json_get_string(cs(backoff, "c"), "state.waiting.message"), "back-off 10s"));
}

int main(void)
{
        if (geteuid() != 0) {
                printf("[  SKIPPED ] 5 test(s): needs root for runc and network namespaces\n");
                return 0;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_liveness_http, k8c_test_node_setup,
                                                k8c_test_node_teardown),
                cmocka_unit_test_setup_teardown(test_readiness_http, k8c_test_node_setup,
                                                k8c_test_node_teardown),
                cmocka_unit_test_setup_teardown(test_tcp_and_exec, k8c_test_node_setup,
                                                k8c_test_node_teardown),
                cmocka_unit_test_setup_teardown(test_startup_probe, k8c_test_node_setup,
                                                k8c_test_node_teardown),
                cmocka_unit_test_setup_teardown(test_liveness_kill_policy, k8c_test_node_setup,
                                                k8c_test_node_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

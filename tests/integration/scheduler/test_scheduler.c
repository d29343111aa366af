/*
 * Integration tests of k8c-scheduler against the real k8c-apiserver on
 * loopback, with fake Node objects (no kubelet): unschedulable reporting
 * (PodScheduled condition, FailedScheduling event, /debug/pending, metrics),
 * binding and packing, retry after a pod is deleted, clean SIGTERM exit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/apiserver_harness.h"

static struct k8c_test_apiserver srv;
static pid_t sched_pid = -1;
static int sched_port;
static char sched_log[512];

static int free_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
            getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        return ntohs(a.sin_port);
}

static char *scheduler_binary(void)
{
        const char *envs[] = { "K8C_ASAN_BINDIR", "K8C_BINDIR" };
        for (size_t i = 0; i < 2; i++) {
                const char *d = getenv(envs[i]);
                char *p = NULL;
                if (d != NULL && asprintf(&p, "%s/k8c-scheduler", d) >= 0) {
                        if (access(p, X_OK) == 0)
                                return p;
                        free(p);
                }
        }
        const char *fallbacks[] = { "build/asan/bin/k8c-scheduler", "bin/k8c-scheduler" };
        for (size_t i = 0; i < 2; i++)
                if (access(fallbacks[i], X_OK) == 0)
                        return strdup(fallbacks[i]);
        return NULL;
}

static json_t *api(const char *method, const char *path, const char *body, long *ret_code)
{
        struct k8c_test_http_reply r = { 0 };
        if (k8c_test_http(&srv, method, path, body != NULL ? "application/json" : NULL, body,
                          body != NULL ? strlen(body) : 0, NULL, &r) < 0)
                fail_msg("%s %s: no answer", method, path);
        if (ret_code != NULL)
                *ret_code = r.code;
        json_t *v = json_loads(r.body != NULL ? r.body : "", 0, NULL);
        k8c_test_http_reply_free(&r);
        return v;
}

static char *sched_get(const char *path)
{
        struct k8c_test_apiserver s = srv;
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", sched_port);
        s.url = url;
        struct k8c_test_http_reply r = { 0 };
        if (k8c_test_http(&s, "GET", path, NULL, NULL, 0, NULL, &r) < 0) {
                k8c_test_http_reply_free(&r);
                return NULL;
        }
        char *b = r.body;
        r.body = NULL;
        k8c_test_http_reply_free(&r);
        return b;
}

static void make_node(const char *name, const char *cpu, const char *taint_json)
{
        char body[1024];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\",\"labels\":"
                 "{\"kubernetes.io/hostname\":\"%s\"}},\"spec\":{\"taints\":%s}}",
                 name, name, taint_json != NULL ? taint_json : "[]");
        long code = 0;
        json_t *v = api("POST", "/api/v1/nodes", body, &code);
        assert_int_equal(code, 201);
        json_decref(v);
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"},\"status\":{"
                 "\"capacity\":"
                 "{\"cpu\":\"%s\",\"memory\":\"4Gi\",\"pods\":\"110\"},\"allocatable\":{\"cpu\":\"%s\","
                 "\"memory\":"
                 "\"4Gi\",\"pods\":\"110\"},\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
                 name, cpu, cpu);
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/nodes/%s/status", name);
        v = api("PUT", path, body, &code);
        assert_int_equal(code, 200);
        json_decref(v);
}

static void make_pod(const char *name, const char *cpu)
{
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\"},\"spec\":{"
                 "\"containers\":"
                 "[{\"name\":\"c\",\"image\":\"busybox\",\"resources\":{\"requests\":{\"cpu\":\"%s\"}}}]}}",
                 name, cpu);
        long code = 0;
        json_t *v = api("POST", "/api/v1/namespaces/default/pods", body, &code);
        assert_int_equal(code, 201);
        json_decref(v);
}

static json_t *get_pod(const char *name)
{
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/namespaces/default/pods/%s", name);
        return api("GET", path, NULL, NULL);
}

/* Waits up to 20 s for the pod to have spec.nodeName; returns it (caller frees) or NULL. */
static char *wait_bound(const char *name)
{
        for (int i = 0; i < 200; i++) {
                json_t *p = get_pod(name);
                const char *n = json_string_value(json_object_get(json_object_get(p, "spec"), "nodeName"));
                char *r = n != NULL ? strdup(n) : NULL;
                json_decref(p);
                if (r != NULL)
                        return r;
                usleep(100 * 1000);
        }
        return NULL;
}

/* Waits for the PodScheduled condition; returns "status|reason|message" (caller frees) or NULL. */
static char *wait_condition(const char *name)
{
        for (int i = 0; i < 200; i++) {
                json_t *p = get_pod(name);
                size_t j;
                json_t *c;
                char *r = NULL;
                json_array_foreach(json_object_get(json_object_get(p, "status"), "conditions"), j, c)
                {
                        if (strcmp(json_string_value(json_object_get(c, "type")) ?: "", "PodScheduled") ==
                                    0 &&
                            asprintf(&r, "%s|%s|%s", json_string_value(json_object_get(c, "status")),
                                     json_string_value(json_object_get(c, "reason")),
                                     json_string_value(json_object_get(c, "message"))) < 0)
                                r = NULL;
                }
                json_decref(p);
                if (r != NULL)
                        return r;
                usleep(100 * 1000);
        }
        return NULL;
}

/* True once an event with reason and message about the pod exists (up to 20 s). */
static bool wait_event(const char *pod, const char *reason, const char *message)
{
        for (int i = 0; i < 200; i++) {
                json_t *l = api("GET", "/api/v1/namespaces/default/events", NULL, NULL);
                size_t j;
                json_t *e;
                bool found = false;
                json_array_foreach(json_object_get(l, "items"), j, e)
                {
                        const char *n = json_string_value(
                                json_object_get(json_object_get(e, "involvedObject"), "name"));
                        if (n != NULL && strcmp(n, pod) == 0 &&
                            strcmp(json_string_value(json_object_get(e, "reason")) ?: "", reason) == 0 &&
                            strcmp(json_string_value(json_object_get(e, "message")) ?: "", message) == 0 &&
                            strcmp(json_string_value(
                                           json_object_get(json_object_get(e, "source"), "component"))
                                           ?: "",
                                   "default-scheduler") == 0)
                                found = true;
                }
                json_decref(l);
                if (found)
                        return true;
                usleep(100 * 1000);
        }
        return false;
}

static int setup(void **state)
{
        if (k8c_test_apiserver_start(&srv, NULL) < 0)
                return -1;
        make_node("node-1", "2", NULL);
        make_node("node-2", "2", NULL);
        make_node("node-3", "8", "[{\"key\":\"dedicated\",\"value\":\"infra\",\"effect\":\"NoSchedule\"}]");
        char *bin = scheduler_binary();
        if (bin == NULL) {
                fprintf(stderr, "k8c-scheduler binary not found\n");
                return -1;
        }
        sched_port = free_port();
        snprintf(sched_log, sizeof(sched_log), "%s/scheduler.log", srv.dir);
        char port[16];
        snprintf(port, sizeof(port), "%d", sched_port);
        sched_pid = fork();
        if (sched_pid == 0) {
                FILE *f = freopen(sched_log, "w", stderr);
                (void)f;
                execl(bin, bin, "--server", srv.url, "--port", port, "--bind-address", "127.0.0.1", "-v", "2",
                      (char *)NULL);
                _exit(127);
        }
        free(bin);
        for (int i = 0; i < 200; i++) {
                char *r = sched_get("/readyz");
                bool ok = r != NULL && strcmp(r, "ok") == 0;
                free(r);
                if (ok)
                        return 0;
                usleep(100 * 1000);
        }
        fprintf(stderr, "k8c-scheduler did not become ready; log %s\n", sched_log);
        return -1;
}

static int teardown(void **state)
{
        int rc = 0;
        if (sched_pid > 0) {
                kill(sched_pid, SIGTERM);
                int status = -1;
                for (int i = 0; i < 100 && waitpid(sched_pid, &status, WNOHANG) == 0; i++)
                        usleep(100 * 1000);
                if (waitpid(sched_pid, &status, WNOHANG) == 0) {
                        kill(sched_pid, SIGKILL);
                        waitpid(sched_pid, &status, 0);
                }
                /* SIGTERM must end it cleanly (exit 0, no sanitizer report). */
                if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                        fprintf(stderr, "k8c-scheduler exit status %d; log:\n", status);
                        char cmd[600];
                        snprintf(cmd, sizeof(cmd), "tail -n 40 %s >&2", sched_log);
                        if (system(cmd) < 0)
                                rc = -1;
                        rc = -1;
                }
                sched_pid = -1;
        }
        k8c_test_apiserver_stop(&srv);
        return rc;
}

static const char *full_msg =
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, 2 "
        "Insufficient cpu.";

static void test_unschedulable_is_reported(void **state)
{
        make_pod("huge", "3");
        char *c = wait_condition("huge");
        assert_non_null(c);
        char *want = NULL;
        assert_true(asprintf(&want, "False|Unschedulable|%s", full_msg) > 0);
        assert_string_equal(c, want);
        free(want);
        free(c);
        assert_true(wait_event("huge", "FailedScheduling", full_msg));
        char *pending = sched_get("/debug/pending");
        assert_non_null(pending);
        assert_non_null(strstr(pending, "default/huge queue="));
        assert_non_null(strstr(pending, "  node-1: NodeResourcesFit: Insufficient cpu\n"));
        assert_non_null(strstr(
                pending, "  node-3: TaintToleration: node(s) had untolerated taint {dedicated: infra}\n"));
        free(pending);
        char *metrics = sched_get("/metrics");
        assert_non_null(metrics);
        assert_non_null(strstr(metrics, "scheduler_cache_size{type=\"nodes\"} 3\n"));
        free(metrics);
        long code = 0;
        json_decref(
                api("DELETE", "/api/v1/namespaces/default/pods/huge", "{\"gracePeriodSeconds\":0}", &code));
        assert_int_equal(code, 200);
}

static void test_binds_and_packs(void **state)
{
        const char *names[] = { "web-1", "web-2", "web-3", "web-4" };
        int per_node[2] = { 0, 0 };
        for (size_t i = 0; i < 4; i++) {
                make_pod(names[i], "1");
                char *n = wait_bound(names[i]);
                assert_non_null(n);
                assert_true(strcmp(n, "node-1") == 0 || strcmp(n, "node-2") == 0);
                per_node[n[5] - '1']++;
                char *msg = NULL;
                assert_true(asprintf(&msg, "Successfully assigned default/%s to %s", names[i], n) > 0);
                assert_true(wait_event(names[i], "Scheduled", msg));
                free(msg);
                free(n);
        }
        /* MostAllocated fills one 2-cpu node before the other. */
        assert_int_equal(per_node[0], 2);
        assert_int_equal(per_node[1], 2);
        make_pod("web-5", "1");
        char *c = wait_condition("web-5");
        assert_non_null(c);
        char *want = NULL;
        assert_true(asprintf(&want, "False|Unschedulable|%s", full_msg) > 0);
        assert_string_equal(c, want);
        free(want);
        free(c);
        /* Deleting a bound pod frees room: the unschedulable pod is retried at once and bound there. */
        json_t *p1 = get_pod("web-1");
        char *freed = strdup(json_string_value(json_object_get(json_object_get(p1, "spec"), "nodeName")));
        json_decref(p1);
        long code = 0;
        json_decref(
                api("DELETE", "/api/v1/namespaces/default/pods/web-1", "{\"gracePeriodSeconds\":0}", &code));
        assert_int_equal(code, 200);
        char *n5 = wait_bound("web-5");
        assert_non_null(n5);
        assert_string_equal(n5, freed);
        free(n5);
        free(freed);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unschedulable_is_reported),
                cmocka_unit_test(test_binds_and_packs),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}

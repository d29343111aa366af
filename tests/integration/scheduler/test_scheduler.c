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
#include <pthread.h>
#include <signal.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/apiserver_harness.h"
#include "fake_api.h"
#include "k8c/client.h"
#include "k8c/informer.h"

static json_t *k8c_test_json_get(json_t *o, const char *a, const char *b)
{
        return json_object_get(json_object_get(o, a), b);
}

static struct k8c_test_apiserver srv;
struct sched_proc {
        pid_t pid;
        int port;
        char log[512];
};
/* Tests talk to *cur; the leader-election group runs two. */
static struct sched_proc procs[2] = { { .pid = -1 }, { .pid = -1 } };
static struct sched_proc *cur = &procs[0];

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
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", cur->port);
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

/* Starts k8c-scheduler against server_url, logging into dir; waits for /readyz. */
static int start_scheduler_opts(const char *server_url, const char *dir, bool leader_elect, bool wait_ready)
{
        char *bin = scheduler_binary();
        if (bin == NULL) {
                fprintf(stderr, "k8c-scheduler binary not found\n");
                return -1;
        }
        cur->port = free_port();
        snprintf(cur->log, sizeof(cur->log), "%s/scheduler-%d.log", dir, (int)(cur - procs));
        char port[16];
        snprintf(port, sizeof(port), "%d", cur->port);
        cur->pid = fork();
        if (cur->pid == 0) {
                FILE *f = freopen(cur->log, "w", stderr);
                (void)f;
                execl(bin, bin, "--server", server_url, "--port", port, "--bind-address", "127.0.0.1", "-v",
                      "2", leader_elect ? "--leader-elect" : "--leader-elect=false", (char *)NULL);
                _exit(127);
        }
        free(bin);
        for (int i = 0; i < 200; i++) {
                char *r = sched_get(wait_ready ? "/readyz" : "/healthz");
                bool ok = r != NULL && strcmp(r, "ok") == 0;
                free(r);
                if (ok)
                        return 0;
                usleep(100 * 1000);
        }
        fprintf(stderr, "k8c-scheduler did not become ready; log %s\n", cur->log);
        return -1;
}

static int start_scheduler(const char *server_url, const char *dir)
{
        return start_scheduler_opts(server_url, dir, false, true);
}

/* SIGTERM; the scheduler must exit 0 (clean shutdown, no sanitizer report) within 10 s. */
static int stop_scheduler(void)
{
        if (cur->pid <= 0)
                return 0;
        int rc = 0;
        kill(cur->pid, SIGTERM);
        int status = -1;
        for (int i = 0; i < 100 && waitpid(cur->pid, &status, WNOHANG) == 0; i++)
                usleep(100 * 1000);
        if (waitpid(cur->pid, &status, WNOHANG) == 0) {
                kill(cur->pid, SIGKILL);
                waitpid(cur->pid, &status, 0);
        }
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                fprintf(stderr, "k8c-scheduler exit status %d; log:\n", status);
                char cmd[600];
                snprintf(cmd, sizeof(cmd), "tail -n 40 %s >&2", cur->log);
                if (system(cmd) != 0)
                        fprintf(stderr, "(no log)\n");
                rc = -1;
        }
        cur->pid = -1;
        return rc;
}

static int setup(void **state)
{
        if (k8c_test_apiserver_start(&srv, NULL) < 0)
                return -1;
        make_node("node-1", "2", NULL);
        make_node("node-2", "2", NULL);
        make_node("node-3", "8", "[{\"key\":\"dedicated\",\"value\":\"infra\",\"effect\":\"NoSchedule\"}]");
        return start_scheduler(srv.url, srv.dir);
}

static int teardown(void **state)
{
        int rc = stop_scheduler();
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

/* ---- against the recording fake API: the exact writes ---- */

static struct fake_api fake;
static char fake_dir[64];

static json_t *fake_node(const char *name)
{
        return json_pack("{s:s, s:s, s:{s:s}, s:{}, s:{s:{s:s, s:s, s:s}, s:[{s:s, s:s}]}}", "apiVersion",
                         "v1", "kind", "Node", "metadata", "name", name, "spec", "status", "allocatable",
                         "cpu", "2", "memory", "4Gi", "pods", "110", "conditions", "type", "Ready", "status",
                         "True");
}

static json_t *fake_pod(const char *name, const char *scheduler, const char *node)
{
        char uid[64];
        snprintf(uid, sizeof(uid), "uid-%s", name);
        json_t *p =
                json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:[{s:s, s:s, s:{s:{s:s}}}]}, s:{s:s}}",
                          "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "namespace", "default",
                          "uid", uid, "spec", "schedulerName", scheduler, "containers", "name", "c", "image",
                          "busybox", "resources", "requests", "cpu", "1", "status", "phase", "Pending");
        if (node != NULL)
                json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(node));
        return p;
}

static int setup_fake(void **state)
{
        json_t *nodes = json_pack("[o,o]", fake_node("node-a"), fake_node("node-b"));
        json_t *pods = json_pack(
                "[o,o,o,o,o,o,o,o]", fake_pod("old", "default-scheduler", "node-b"),
                fake_pod("p-1", "default-scheduler", NULL), fake_pod("p-2", "default-scheduler", NULL),
                fake_pod("p-3", "default-scheduler", NULL), fake_pod("p-4", "default-scheduler", NULL),
                fake_pod("p-5", "default-scheduler", NULL), fake_pod("p-6", "default-scheduler", NULL),
                fake_pod("mine", "other-scheduler", NULL));
        /* Every binding of p-1 is refused: its assumed slot must be given back each time. */
        fake.reject_binding_of = "p-1";
        if (fake_api_start(&fake, nodes, pods) < 0)
                return -1;
        snprintf(fake_dir, sizeof(fake_dir), "/tmp/k8c-sched-test-XXXXXX");
        if (mkdtemp(fake_dir) == NULL)
                return -1;
        return start_scheduler(fake.url, fake_dir);
}

static int teardown_fake(void **state)
{
        int rc = stop_scheduler();
        fake_api_stop(&fake);
        char path[128];
        snprintf(path, sizeof(path), "%s/scheduler-0.log", fake_dir);
        unlink(path);
        rmdir(fake_dir);
        return rc;
}

static size_t count_paths(json_t *arr, const char *needle)
{
        size_t n = 0, i;
        json_t *v;
        json_array_foreach(arr, i, v) n +=
                strstr(json_string_value(json_object_get(v, "path")), needle) != NULL;
        return n;
}

static void test_fake_exact_writes(void **state)
{
        /* 2 nodes × 2 cpu, 1 cpu already used on node-b by a bound pod, six 1-cpu pods: 3 fit. */
        json_t *b = NULL, *st = NULL, *ev = NULL;
        for (int i = 0; i < 200; i++) {
                json_decref(b);
                json_decref(st);
                json_decref(ev);
                b = fake_api_snapshot(&fake, fake.bindings);
                st = fake_api_snapshot(&fake, fake.status_patches);
                ev = fake_api_snapshot(&fake, fake.events);
                if (json_array_size(b) >= 3 + count_paths(b, "/pods/p-1/") &&
                    count_paths(b, "/pods/p-1/") >= 1 && json_array_size(st) >= 3 && json_array_size(ev) >= 6)
                        break;
                usleep(100 * 1000);
        }
        /* Give a wrong extra binding time to show up. */
        usleep(500 * 1000);
        json_decref(b);
        json_t *all = fake_api_snapshot(&fake, fake.bindings);
        size_t rejected = count_paths(all, "/pods/p-1/");
        assert_true(rejected >= 1);
        b = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(all, i, v) if (strstr(json_string_value(json_object_get(v, "path")),
                                                 "/pods/p-1/") == NULL) json_array_append(b, v);
        json_decref(all);
        /* p-1's slot went to the others: exactly three accepted bindings, no overcommit. */
        assert_int_equal(json_array_size(b), 3);
        int on_a = 0, on_b = 0;
        json_array_foreach(b, i, v)
        {
                json_t *body = json_object_get(v, "body");
                const char *name =
                        json_string_value(json_object_get(json_object_get(body, "metadata"), "name"));
                const char *node =
                        json_string_value(json_object_get(json_object_get(body, "target"), "name"));
                assert_non_null(name);
                assert_non_null(node);
                char want[512], path[128];
                snprintf(want, sizeof(want),
                         "{\"kind\":\"Binding\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%s\","
                         "\"namespace\":"
                         "\"default\",\"uid\":\"uid-%s\"},\"target\":{\"kind\":\"Node\",\"name\":\"%s\"}}",
                         name, name, node);
                json_t *w = json_loads(want, 0, NULL);
                assert_true(json_equal(w, body));
                json_decref(w);
                snprintf(path, sizeof(path), "/api/v1/namespaces/default/pods/%s/binding", name);
                assert_string_equal(json_string_value(json_object_get(v, "path")), path);
                on_a += strcmp(node, "node-a") == 0;
                on_b += strcmp(node, "node-b") == 0;
        }
        /* The assume cache counted each binding before any watch confirmed it: no overcommit. */
        assert_int_equal(on_a, 2);
        assert_int_equal(on_b, 1);
        /* Three PodScheduled=False patches with Kubernetes' message; none for other-scheduler's pod. */
        assert_true(json_array_size(st) >= 3);
        assert_int_equal(count_paths(st, "/pods/mine/"), 0);
        json_array_foreach(st, i, v)
        {
                json_t *c = json_array_get(
                        k8c_test_json_get(json_object_get(v, "body"), "status", "conditions"), 0);
                assert_string_equal(json_string_value(json_object_get(c, "type")), "PodScheduled");
                assert_string_equal(json_string_value(json_object_get(c, "status")), "False");
                assert_string_equal(json_string_value(json_object_get(c, "reason")), "Unschedulable");
                assert_string_equal(json_string_value(json_object_get(c, "message")),
                                    "0/2 nodes are available: 2 Insufficient cpu.");
        }
        /* Events: one Scheduled per binding, FailedScheduling for the rest. */
        json_decref(ev);
        ev = fake_api_snapshot(&fake, fake.events);
        int scheduled = 0, failed = 0;
        json_array_foreach(ev, i, v)
        {
                json_t *body = json_object_get(v, "body");
                const char *reason = json_string_value(json_object_get(body, "reason"));
                if (reason == NULL)
                        continue; /* an aggregation PATCH (count) */
                const char *msg = json_string_value(json_object_get(body, "message"));
                const char *pod =
                        json_string_value(json_object_get(json_object_get(body, "involvedObject"), "name"));
                if (strcmp(reason, "Scheduled") == 0) {
                        char want[128];
                        const char *node = NULL;
                        size_t k;
                        json_t *bb;
                        json_array_foreach(b, k, bb)
                        {
                                json_t *body2 = json_object_get(bb, "body");
                                if (strcmp(json_string_value(json_object_get(
                                                   json_object_get(body2, "metadata"), "name")),
                                           pod) == 0)
                                        node = json_string_value(
                                                json_object_get(json_object_get(body2, "target"), "name"));
                        }
                        assert_non_null(node);
                        snprintf(want, sizeof(want), "Successfully assigned default/%s to %s", pod, node);
                        assert_string_equal(msg, want);
                        assert_string_equal(json_string_value(json_object_get(body, "type")), "Normal");
                        scheduled++;
                } else if (strcmp(pod, "p-1") == 0 && strncmp(msg, "Binding rejected", 16) == 0) {
                        assert_string_equal(reason, "FailedScheduling");
                        assert_string_equal(
                                msg, "Binding rejected: Operation cannot be fulfilled on pods/binding: "
                                     "conflict");
                } else {
                        assert_string_equal(reason, "FailedScheduling");
                        assert_string_equal(msg, "0/2 nodes are available: 2 Insufficient cpu.");
                        assert_string_equal(json_string_value(json_object_get(body, "type")), "Warning");
                        failed++;
                }
                assert_string_equal(json_string_value(k8c_test_json_get(body, "source", "component")),
                                    "default-scheduler");
        }
        assert_int_equal(scheduled, 3);
        assert_true(failed >= 3);
        char *pending = sched_get("/debug/pending");
        assert_non_null(pending);
        assert_null(strstr(pending, "default/mine"));
        assert_non_null(strstr(pending, "default/p-1 queue="));
        assert_non_null(strstr(pending, "  node-a: NodeResourcesFit: Insufficient cpu\n"));
        free(pending);
        json_decref(b);
        json_decref(st);
        json_decref(ev);
}

/* ---- leader election: one active scheduler, hand-over on SIGTERM ---- */

static int setup_leader(void **state)
{
        if (k8c_test_apiserver_start(&srv, NULL) < 0)
                return -1;
        make_node("node-1", "2", NULL);
        cur = &procs[0];
        if (start_scheduler_opts(srv.url, srv.dir, true, true) < 0)
                return -1;
        cur = &procs[1];
        return start_scheduler_opts(srv.url, srv.dir, true, false);
}

static int teardown_leader(void **state)
{
        int rc = 0;
        for (int i = 0; i < 2; i++) {
                cur = &procs[i];
                if (getenv("K8C_TEST_SHOW_LOGS") != NULL) {
                        char cmd[600];
                        snprintf(cmd, sizeof(cmd), "cat %s >&2", cur->log);
                        if (system(cmd) != 0)
                                fprintf(stderr, "(no log)\n");
                }
                if (stop_scheduler() < 0)
                        rc = -1;
        }
        cur = &procs[0];
        k8c_test_apiserver_stop(&srv);
        return rc;
}

static bool wait_get(const char *path, const char *needle)
{
        for (int i = 0; i < 300; i++) {
                char *r = sched_get(path);
                bool ok = r != NULL && strstr(r, needle) != NULL;
                free(r);
                if (ok)
                        return true;
                usleep(100 * 1000);
        }
        return false;
}

static void test_leader_failover(void **state)
{
        cur = &procs[1];
        char *r = sched_get("/readyz");
        assert_non_null(r);
        assert_string_equal(r, "informers not synced"); /* the standby keeps no watches */
        free(r);
        assert_true(wait_get("/metrics", "leader_election_master_status{name=\"k8c-scheduler\"} 0\n"));
        cur = &procs[0];
        assert_true(wait_get("/metrics", "leader_election_master_status{name=\"k8c-scheduler\"} 1\n"));
        make_pod("lead-1", "100m");
        char *n = wait_bound("lead-1");
        assert_non_null(n);
        assert_string_equal(n, "node-1");
        free(n);
        /* The leader releases the Lease on SIGTERM; the standby takes over and schedules. */
        assert_int_equal(stop_scheduler(), 0);
        cur = &procs[1];
        assert_true(wait_get("/readyz", "ok"));
        assert_true(wait_get("/metrics", "leader_election_master_status{name=\"k8c-scheduler\"} 1\n"));
        make_pod("lead-2", "100m");
        n = wait_bound("lead-2");
        assert_non_null(n);
        assert_string_equal(n, "node-1");
        free(n);
        assert_true(wait_event("lead-2", "Scheduled", "Successfully assigned default/lead-2 to node-1"));
}

/* ---- a pod waits for a node big enough, then is bound within a second ---- */

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup_small_nodes(void **state)
{
        if (k8c_test_apiserver_start(&srv, NULL) < 0)
                return -1;
        make_node("small-1", "2", NULL);
        make_node("small-2", "2", NULL);
        cur = &procs[0];
        return start_scheduler(srv.url, srv.dir);
}

struct bind_watch {
        pthread_mutex_t lock;
        int64_t bound_ms; /* when the watch first showed spec.nodeName, 0 before */
        char node[64];
};

static void note_binding(struct bind_watch *bw, json_t *obj)
{
        const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
        const char *node = json_string_value(json_object_get(json_object_get(obj, "spec"), "nodeName"));
        if (name == NULL || node == NULL || strcmp(name, "waits-for-node") != 0)
                return;
        pthread_mutex_lock(&bw->lock);
        if (bw->bound_ms == 0) {
                bw->bound_ms = mono_ms();
                snprintf(bw->node, sizeof(bw->node), "%s", node);
        }
        pthread_mutex_unlock(&bw->lock);
}

static void bw_add(void *o, json_t *obj)
{
        note_binding(o, obj);
}

static void bw_update(void *o, json_t *old_obj, json_t *new_obj)
{
        note_binding(o, new_obj);
}

static void test_bound_soon_after_big_node_appears(void **state)
{
        make_pod("waits-for-node", "3");
        char *c = wait_condition("waits-for-node");
        assert_non_null(c);
        assert_string_equal(c, "False|Unschedulable|0/2 nodes are available: 2 Insufficient cpu.");
        free(c);
        json_t *p = get_pod("waits-for-node");
        assert_null(json_object_get(json_object_get(p, "spec"), "nodeName"));
        assert_string_equal(json_string_value(json_object_get(json_object_get(p, "status"), "phase")),
                            "Pending");
        json_decref(p);

        /* The binding is observed through a watch (an informer on the pod), not by polling. */
        struct k8c_client *client = NULL;
        struct k8c_client_config ccfg = { .server = srv.url, .max_retries = 2 };
        assert_int_equal(k8c_client_new(&ccfg, &client, NULL), 0);
        struct bind_watch bw = { .lock = PTHREAD_MUTEX_INITIALIZER };
        struct k8c_informer_config icfg = { .client = client,
                                            .path = "/api/v1/namespaces/default/pods",
                                            .field_selector = "metadata.name=waits-for-node" };
        struct k8c_informer *inf = k8c_informer_new(&icfg);
        struct k8c_informer_handlers h = { bw_add, bw_update, NULL, &bw };
        k8c_informer_add_handlers(inf, &h);
        assert_int_equal(k8c_informer_start(inf, NULL), 0);
        assert_true(k8c_informer_wait_synced(inf, 20000));
        assert_int_equal(k8c_informer_len(inf), 1);

        /* Registered in one request with its status, as a kubelet does: the node is big enough
         * from the moment it exists. */
        char body[1024];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"big-1\"},"
                 "\"status\":{\"capacity\":{\"cpu\":\"4\",\"memory\":\"4Gi\",\"pods\":\"110\"},"
                 "\"allocatable\":{\"cpu\":\"4\",\"memory\":\"4Gi\",\"pods\":\"110\"},"
                 "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
        long code = 0;
        int64_t created = mono_ms();
        json_t *node = api("POST", "/api/v1/nodes", body, &code);
        assert_int_equal(code, 201);
        assert_string_equal(
                json_string_value(json_object_get(k8c_test_json_get(node, "status", "allocatable"), "cpu")),
                "4");
        json_decref(node);
        int64_t bound = 0;
        for (int i = 0; i < 1000 && bound == 0; i++) {
                pthread_mutex_lock(&bw.lock);
                bound = bw.bound_ms;
                pthread_mutex_unlock(&bw.lock);
                if (bound == 0)
                        usleep(20 * 1000);
        }
        k8c_informer_free(inf);
        k8c_client_free(client);
        assert_true(bound != 0);
        assert_string_equal(bw.node, "big-1");
        int64_t took = bound - created;
        printf("node create -> binding seen by watch: %" PRId64 " ms\n", took);
        /* Kubernetes' bar is 1 s; 1 s more of margin for a loaded CI machine. */
        assert_true(took < 2000);
        char *n = wait_bound("waits-for-node");
        assert_non_null(n);
        assert_string_equal(n, "big-1");
        free(n);
}

/* ---- 500 pods at once on 5 nodes: 100 bound, none overcommitted ---- */

#define BURST_PODS 500
#define BURST_THREADS 5

static int setup_five_nodes(void **state)
{
        if (k8c_test_apiserver_start(&srv, NULL) < 0)
                return -1;
        for (int i = 1; i <= 5; i++) {
                char name[16];
                snprintf(name, sizeof(name), "n-%d", i);
                make_node(name, "2", NULL);
        }
        cur = &procs[0];
        return start_scheduler(srv.url, srv.dir);
}

struct creator {
        int first, count;
        int failures;
};

static void *create_pods(void *arg)
{
        struct creator *cr = arg;
        for (int i = cr->first; i < cr->first + cr->count; i++) {
                char body[512];
                snprintf(body, sizeof(body),
                         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"burst-%03d\"},"
                         "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"resources\":"
                         "{\"requests\":{\"cpu\":\"100m\"}}}]}}",
                         i);
                struct k8c_test_http_reply r = { 0 };
                if (k8c_test_http(&srv, "POST", "/api/v1/namespaces/default/pods", "application/json", body,
                                  strlen(body), NULL, &r) < 0 ||
                    r.code != 201) {
                        fprintf(stderr, "create burst-%03d: %ld %s\n", i, r.code, r.body ?: "");
                        cr->failures++;
                }
                k8c_test_http_reply_free(&r);
        }
        return NULL;
}

/* The PodScheduled condition of a pod, or NULL. */
static json_t *pod_scheduled_condition(json_t *pod)
{
        size_t j;
        json_t *c;
        json_array_foreach(json_object_get(json_object_get(pod, "status"), "conditions"), j,
                           c) if (strcmp(json_string_value(json_object_get(c, "type")) ?: "",
                                         "PodScheduled") == 0) return c;
        return NULL;
}

static void test_burst_never_overcommits(void **state)
{
        pthread_t th[BURST_THREADS];
        struct creator cr[BURST_THREADS];
        for (int i = 0; i < BURST_THREADS; i++) {
                cr[i] = (struct creator){ .first = i * (BURST_PODS / BURST_THREADS),
                                          .count = BURST_PODS / BURST_THREADS };
                assert_int_equal(pthread_create(&th[i], NULL, create_pods, &cr[i]), 0);
        }
        int failures = 0;
        for (int i = 0; i < BURST_THREADS; i++) {
                pthread_join(th[i], NULL);
                failures += cr[i].failures;
        }
        assert_int_equal(failures, 0);

        /* Wait (up to 120 s) until every pod is bound or reported unschedulable. */
        json_t *list = NULL;
        size_t decided = 0;
        for (int i = 0; i < 600; i++) {
                json_decref(list);
                list = api("GET", "/api/v1/namespaces/default/pods", NULL, NULL);
                decided = 0;
                size_t j;
                json_t *p;
                json_array_foreach(json_object_get(list, "items"), j, p)
                {
                        json_t *c = pod_scheduled_condition(p);
                        if (json_object_get(json_object_get(p, "spec"), "nodeName") != NULL ||
                            (c != NULL &&
                             strcmp(json_string_value(json_object_get(c, "status")) ?: "", "False") == 0))
                                decided++;
                }
                if (decided == BURST_PODS)
                        break;
                usleep(200 * 1000);
        }
        assert_int_equal(json_array_size(json_object_get(list, "items")), BURST_PODS);
        assert_int_equal(decided, BURST_PODS);

        int bound = 0, unschedulable = 0;
        int per_node[6] = { 0 };
        size_t j;
        json_t *p;
        json_array_foreach(json_object_get(list, "items"), j, p)
        {
                const char *node = json_string_value(json_object_get(json_object_get(p, "spec"), "nodeName"));
                if (node != NULL) {
                        assert_true(strncmp(node, "n-", 2) == 0 && node[2] >= '1' && node[2] <= '5' &&
                                    node[3] == '\0');
                        per_node[node[2] - '0']++;
                        bound++;
                        continue;
                }
                json_t *c = pod_scheduled_condition(p);
                assert_non_null(c);
                assert_string_equal(json_string_value(json_object_get(c, "status")), "False");
                assert_string_equal(json_string_value(json_object_get(c, "reason")), "Unschedulable");
                assert_string_equal(json_string_value(json_object_get(c, "message")),
                                    "0/5 nodes are available: 5 Insufficient cpu.");
                unschedulable++;
        }
        json_decref(list);
        printf("bound %d, unschedulable %d; per node %d %d %d %d %d\n", bound, unschedulable, per_node[1],
               per_node[2], per_node[3], per_node[4], per_node[5]);
        /* Each pod asks 100m of a node's 2 cpu: 20 per node, never more. */
        for (int i = 1; i <= 5; i++) {
                assert_true(per_node[i] * 100 <= 2000);
                assert_true(per_node[i] <= 110);
        }
        assert_int_equal(bound, 100);
        assert_int_equal(unschedulable, 400);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unschedulable_is_reported),
                cmocka_unit_test(test_binds_and_packs),
        };
        const struct CMUnitTest fake_tests[] = {
                cmocka_unit_test(test_fake_exact_writes),
        };
        int failed = cmocka_run_group_tests_name("fake_api", fake_tests, setup_fake, teardown_fake);
        failed += cmocka_run_group_tests_name("apiserver", tests, setup, teardown);
        const struct CMUnitTest leader_tests[] = {
                cmocka_unit_test(test_leader_failover),
        };
        failed += cmocka_run_group_tests_name("leader_election", leader_tests, setup_leader, teardown_leader);
        const struct CMUnitTest node_tests[] = {
                cmocka_unit_test(test_bound_soon_after_big_node_appears),
        };
        failed += cmocka_run_group_tests_name("node_appears", node_tests, setup_small_nodes, teardown);
        const struct CMUnitTest burst_tests[] = {
                cmocka_unit_test(test_burst_never_overcommits),
        };
        failed += cmocka_run_group_tests_name("burst", burst_tests, setup_five_nodes, teardown);
        return failed;
}

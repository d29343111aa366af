/*
 * test_controllers.c - the real k8c-apiserver and k8c-controller-manager on
 * loopback: ReplicaSets create, replace, scale, release and adopt pods; the
 * garbage collector deletes (Background) or orphans a ReplicaSet's pods; the
 * Endpoints and EndpointSlice controllers follow pod readiness; Deployments roll
 * out within their bounds with the conditions kubectl rollout status reads, and
 * kubectl rollout undo/history/pause/resume/restart work; the autoscaler scales on
 * metrics from a fake metrics.k8s.io server (fake_metrics.c); the PersistentVolume
 * binder binds and reclaims; the manager's health, metrics, --controllers and
 * SIGTERM. Pods are plain objects: the test marks them Ready through pods/status
 * itself. Each test works in its own namespace.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/apiserver_harness.h"
#include "fake_metrics.h"
#include "k8c/json.h"

#define K8C_ARRAY_SIZE_T(a) (sizeof(a) / sizeof((a)[0]))

static struct k8c_test_apiserver api;
static pid_t cm_pid;
static int cm_port;
static char cm_log[256];

static int free_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(sa);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        return ntohs(sa.sin_port);
}

static char *find_cm(void)
{
        const char *envs[] = { "K8C_ASAN_BINDIR", "K8C_BINDIR" };
        for (size_t i = 0; i < 2; i++) {
                const char *d = getenv(envs[i]);
                char *p = NULL;
                if (d == NULL || d[0] == '\0' || asprintf(&p, "%s/k8c-controller-manager", d) < 0)
                        continue;
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return access("build/asan/bin/k8c-controller-manager", X_OK) == 0
                       ? realpath("build/asan/bin/k8c-controller-manager", NULL)
                       : NULL;
}

static void sleep_ms(int ms)
{
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

static long cm_get(const char *path, char **ret_body)
{
        struct k8c_test_apiserver s = { .url = NULL };
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", cm_port);
        s.url = url;
        struct k8c_test_http_reply r;
        if (k8c_test_http(&s, "GET", path, NULL, NULL, 0, NULL, &r) < 0) {
                k8c_test_http_reply_free(&r);
                return -1;
        }
        long code = r.code;
        if (ret_body != NULL)
                *ret_body = strdup(r.body);
        k8c_test_http_reply_free(&r);
        return code;
}

/* Starts the controller manager with extra args (NULL-terminated). */
static pid_t start_cm(int port, const char *const *extra)
{
        char *bin = find_cm();
        if (bin == NULL)
                return -1;
        char server[128], portarg[32];
        snprintf(server, sizeof(server), "--server=%s", api.url);
        snprintf(portarg, sizeof(portarg), "--port=%d", port);
        snprintf(cm_log, sizeof(cm_log), "%s/controller-manager.log", api.dir);
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                if (freopen(cm_log, "a", stderr) == NULL)
                        _exit(127);
                dup2(2, 1);
                const char *argv[16] = { bin, server, portarg, "--bind-address=127.0.0.1" };
                size_t n = 4;
                for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 15; i++)
                        argv[n++] = extra[i];
                argv[n] = NULL;
                execv(bin, (char *const *)argv);
                _exit(127);
        }
        free(bin);
        return pid;
}

static int stop_pid(pid_t pid)
{
        int status = -1;
        if (pid <= 0)
                return -1;
        kill(pid, SIGTERM);
        for (int i = 0; i < 100; i++) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        return status;
                sleep_ms(100);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
}

static int group_setup(void **state)
{
        if (k8c_test_apiserver_start(&api, NULL) < 0)
                return -1;
        cm_port = free_port();
        int mport = fake_metrics_start(&api);
        if (mport < 0)
                return -1;
        static char murl[96];
        snprintf(murl, sizeof(murl), "--horizontal-pod-autoscaler-metrics-url=http://127.0.0.1:%d", mport);
        /* Short node and autoscaler timings so they are observable within a test. */
        const char *const extra[] = { "--controllers=*",
                                      "--node-monitor-grace-period=3s",
                                      "--node-monitor-period=500ms",
                                      "--pod-eviction-timeout=3s",
                                      murl,
                                      "--horizontal-pod-autoscaler-sync-period=1s",
                                      "--horizontal-pod-autoscaler-downscale-stabilization=4s",
                                      NULL };
        cm_pid = start_cm(cm_port, extra);
        if (cm_pid <= 0)
                return -1;
        for (int i = 0; i < 200; i++) {
                if (cm_get("/readyz", NULL) == 200)
                        return 0;
                sleep_ms(100);
        }
        return -1;
}

static int group_teardown(void **state)
{
        int st = stop_pid(cm_pid);
        if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
                char *cmd = NULL;
                if (asprintf(&cmd, "cat %s >&2", cm_log) >= 0 && system(cmd) != 0)
                        fprintf(stderr, "could not show %s\n", cm_log);
                free(cmd);
        }
        k8c_test_apiserver_stop(&api);
        fake_metrics_stop();
        return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* ---- API helpers ---- */

static json_t *req(const char *method, const char *path, const char *ct, json_t *body /* stolen */,
                   long *ret_code)
{
        char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        struct k8c_test_http_reply r;
        int rc = k8c_test_http(&api, method, path, ct != NULL ? ct : (text ? "application/json" : NULL), text,
                               text ? strlen(text) : 0, NULL, &r);
        free(text);
        assert_int_equal(rc, 0);
        if (ret_code != NULL)
                *ret_code = r.code;
        json_t *out = json_loads(r.body, 0, NULL);
        k8c_test_http_reply_free(&r);
        return out;
}

static json_t *must(const char *method, const char *path, json_t *body, long want)
{
        long code = 0;
        json_t *out = req(method, path, NULL, body, &code);
        if (code != want) {
                char *s = out ? json_dumps(out, JSON_COMPACT) : strdup("(none)");
                fprintf(stderr, "%s %s: %ld %s\n", method, path, code, s);
                free(s);
        }
        assert_int_equal(code, want);
        return out;
}

static void make_ns(const char *ns)
{
        json_decref(must("POST", "/api/v1/namespaces",
                         json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
                                   "name", ns),
                         201));
}

static json_t *rs_obj(const char *name, int replicas)
{
        return json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s}}, s:{s:[{s:s, s:s}]}}}}",
                         "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name", name, "spec",
                         "replicas", replicas, "selector", "matchLabels", "app", name, "template", "metadata",
                         "labels", "app", name, "spec", "containers", "name", "c", "image", "busybox");
}

static json_t *pod_obj(const char *name, const char *app)
{
        return json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:[{s:s, s:s, s:[{s:s, s:i}]}]}}", "apiVersion",
                         "v1", "kind", "Pod", "metadata", "name", name, "labels", "app", app, "spec",
                         "containers", "name", "c", "image", "busybox", "ports", "name", "http",
                         "containerPort", 8080);
}

/* Pods of ns (new reference to the items array). */
static json_t *list_pods(const char *ns, const char *selector)
{
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods%s%s", ns, selector ? "?labelSelector=" : "",
                 selector ? selector : "");
        json_t *l = must("GET", path, NULL, 200);
        json_t *items = json_incref(json_object_get(l, "items"));
        json_decref(l);
        return items;
}

static size_t count_owned(json_t *items, const char *owner_uid)
{
        size_t n = 0, i;
        json_t *p;
        json_array_foreach(items, i, p)
        {
                json_t *refs = k8c_json_get(p, "metadata.ownerReferences");
                size_t j;
                json_t *r;
                json_array_foreach(refs, j, r)
                {
                        const char *u = json_string_value(json_object_get(r, "uid"));
                        if (u != NULL && strcmp(u, owner_uid) == 0)
                                n++;
                }
        }
        return n;
}

/* Waits up to 20 s until the namespace has exactly want pods (and, with owner_uid, all owned by it). */
static json_t *wait_pods(const char *ns, const char *selector, size_t want, const char *owner_uid)
{
        for (int i = 0; i < 200; i++) {
                json_t *items = list_pods(ns, selector);
                if (json_array_size(items) == want &&
                    (owner_uid == NULL || count_owned(items, owner_uid) == want)) {
                        /* Stable for a moment: no extra pod is on its way. */
                        sleep_ms(500);
                        json_t *again = list_pods(ns, selector);
                        if (json_array_size(again) == want) {
                                json_decref(items);
                                return again;
                        }
                        json_decref(again);
                }
                json_decref(items);
                sleep_ms(100);
        }
        json_t *items = list_pods(ns, selector);
        fprintf(stderr, "wait_pods %s: want %zu, have %zu\n", ns, want, json_array_size(items));
        return items;
}

static json_t *create_rs(const char *ns, const char *name, int replicas)
{
        char path[256];
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/replicasets", ns);
        return must("POST", path, rs_obj(name, replicas), 201);
}

static void scale_rs(const char *ns, const char *name, int replicas)
{
        char path[256];
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/replicasets/%s/scale", ns, name);
        long code = 0;
        /* The apiserver's PATCH answers 409 when the controller's status write lands between its read
         * and its write (Kubernetes retries that inside the apiserver): retry as a client would. */
        for (int i = 0; i < 50; i++) {
                json_decref(req("PATCH", path, "application/merge-patch+json",
                                json_pack("{s:{s:i}}", "spec", "replicas", replicas), &code));
                if (code != 409)
                        break;
                sleep_ms(50);
        }
        assert_int_equal(code, 200);
}

static json_t *wait_rs_status(const char *ns, const char *name, json_int_t replicas, json_int_t ready)
{
        char path[256];
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/replicasets/%s", ns, name);
        for (int i = 0; i < 200; i++) {
                json_t *rs = must("GET", path, NULL, 200);
                if (k8c_json_get_int(rs, "status.replicas", -1) == replicas &&
                    k8c_json_get_int(rs, "status.readyReplicas", -1) == ready &&
                    k8c_json_get_int(rs, "status.observedGeneration", -1) ==
                            k8c_json_get_int(rs, "metadata.generation", -2))
                        return rs;
                json_decref(rs);
                sleep_ms(100);
        }
        return must("GET", path, NULL, 200);
}

static void set_pod_ready(const char *ns, const char *name, const char *ip, bool ready)
{
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/status", ns, name);
        char now[32];
        time_t t = time(NULL);
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
        json_t *patch = json_pack("{s:{s:s, s:s, s:[{s:s, s:s, s:s}]}}", "status", "phase", "Running",
                                  "podIP", ip, "conditions", "type", "Ready", "status",
                                  ready ? "True" : "False", "lastTransitionTime", now);
        long code = 0;
        for (int i = 0; i < 50; i++) {
                json_decref(req("PATCH", path, "application/strategic-merge-patch+json", json_incref(patch),
                                &code));
                if (code != 409) /* see scale_rs */
                        break;
                sleep_ms(50);
        }
        json_decref(patch);
        assert_int_equal(code, 200);
}

/* ---- ReplicaSet ---- */

static void test_rs_creates_and_replaces(void **state)
{
        make_ns("rs1");
        json_auto_t *rs = create_rs("rs1", "web", 3);
        const char *uid = k8c_json_get_string(rs, "metadata.uid");
        json_auto_t *pods = wait_pods("rs1", NULL, 3, uid);
        assert_int_equal(json_array_size(pods), 3);
        json_t *p0 = json_array_get(pods, 0);
        assert_int_equal(strncmp(k8c_json_get_string(p0, "metadata.name"), "web-", 4), 0);
        assert_int_equal(strlen(k8c_json_get_string(p0, "metadata.name")), 9);
        json_auto_t *ref =
                json_pack("[{s:s, s:s, s:s, s:s, s:b, s:b}]", "apiVersion", "apps/v1", "kind", "ReplicaSet",
                          "name", "web", "uid", uid, "controller", 1, "blockOwnerDeletion", 1);
        assert_true(json_equal(k8c_json_get(p0, "metadata.ownerReferences"), ref));
        assert_non_null(k8c_json_get_string(p0, "metadata.annotations[\"kubernetes.io/created-by\"]"));
        json_auto_t *st = wait_rs_status("rs1", "web", 3, 0);
        assert_int_equal(k8c_json_get_int(st, "status.replicas", -1), 3);
        assert_int_equal(k8c_json_get_int(st, "status.fullyLabeledReplicas", -1), 3);
        assert_int_equal(k8c_json_get_int(st, "status.readyReplicas", -1), 0);
        assert_int_equal(k8c_json_get_int(st, "status.availableReplicas", -1), 0);
        assert_int_equal(k8c_json_get_int(st, "status.observedGeneration", -1), 1);

        /* Delete one: a replacement appears, three again, the deleted one not among them. */
        char path[256];
        const char *victim = k8c_json_get_string(p0, "metadata.name");
        char victim_name[64];
        snprintf(victim_name, sizeof(victim_name), "%s", victim);
        snprintf(path, sizeof(path), "/api/v1/namespaces/rs1/pods/%s", victim_name);
        json_decref(must("DELETE", path, NULL, 200));
        json_auto_t *after = wait_pods("rs1", NULL, 3, uid);
        assert_int_equal(json_array_size(after), 3);
        size_t i;
        json_t *p;
        json_array_foreach(after, i, p)
                assert_string_not_equal(k8c_json_get_string(p, "metadata.name"), victim_name);

        /* Ready pods are counted. */
        set_pod_ready("rs1", k8c_json_get_string(json_array_get(after, 0), "metadata.name"), "10.244.0.10",
                      true);
        set_pod_ready("rs1", k8c_json_get_string(json_array_get(after, 1), "metadata.name"), "10.244.0.11",
                      true);
        json_auto_t *st2 = wait_rs_status("rs1", "web", 3, 2);
        assert_int_equal(k8c_json_get_int(st2, "status.readyReplicas", -1), 2);
        assert_int_equal(k8c_json_get_int(st2, "status.availableReplicas", -1), 2);

        /* What the controller did is visible to `kubectl describe rs`: SuccessfulCreate Events. */
        json_auto_t *evs = must("GET", "/api/v1/namespaces/rs1/events", NULL, 200);
        size_t creates = 0;
        json_array_foreach(json_object_get(evs, "items"), i, p)
        {
                const char *reason = k8c_json_get_string(p, "reason");
                if (reason != NULL && strcmp(reason, "SuccessfulCreate") == 0) {
                        assert_string_equal(k8c_json_get_string(p, "involvedObject.name"), "web");
                        assert_string_equal(k8c_json_get_string(p, "involvedObject.uid"), uid);
                        assert_string_equal(k8c_json_get_string(p, "type"), "Normal");
                        creates++;
                }
        }
        assert_true(creates >= 1);
}

static void test_rs_scales_up_and_down(void **state)
{
        make_ns("rs2");
        json_auto_t *rs = create_rs("rs2", "web", 3);
        const char *uid = k8c_json_get_string(rs, "metadata.uid");
        json_decref(wait_pods("rs2", NULL, 3, uid));
        /* Mark two pods running and ready: scaling down removes the not-ready ones first. */
        json_auto_t *three = list_pods("rs2", NULL);
        char keep1[64], keep2[64];
        snprintf(keep1, sizeof(keep1), "%s", k8c_json_get_string(json_array_get(three, 0), "metadata.name"));
        snprintf(keep2, sizeof(keep2), "%s", k8c_json_get_string(json_array_get(three, 1), "metadata.name"));
        set_pod_ready("rs2", keep1, "10.244.1.1", true);
        set_pod_ready("rs2", keep2, "10.244.1.2", true);
        scale_rs("rs2", "web", 5);
        json_auto_t *five = wait_pods("rs2", NULL, 5, uid);
        assert_int_equal(json_array_size(five), 5);
        scale_rs("rs2", "web", 2);
        json_auto_t *two = wait_pods("rs2", NULL, 2, uid);
        assert_int_equal(json_array_size(two), 2);
        const char *a = k8c_json_get_string(json_array_get(two, 0), "metadata.name");
        const char *b = k8c_json_get_string(json_array_get(two, 1), "metadata.name");
        assert_true((strcmp(a, keep1) == 0 && strcmp(b, keep2) == 0) ||
                    (strcmp(a, keep2) == 0 && strcmp(b, keep1) == 0));
        json_auto_t *st = wait_rs_status("rs2", "web", 2, 2);
        assert_int_equal(k8c_json_get_int(st, "status.replicas", -1), 2);
        assert_int_equal(k8c_json_get_int(st, "status.readyReplicas", -1), 2);
        assert_int_equal(k8c_json_get_int(st, "status.observedGeneration", -1), 3);
}

static void test_rs_releases_relabelled_pod(void **state)
{
        make_ns("rs3");
        json_auto_t *rs = create_rs("rs3", "web", 2);
        const char *uid = k8c_json_get_string(rs, "metadata.uid");
        json_auto_t *pods = wait_pods("rs3", NULL, 2, uid);
        char sick[64];
        snprintf(sick, sizeof(sick), "%s", k8c_json_get_string(json_array_get(pods, 0), "metadata.name"));
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/namespaces/rs3/pods/%s", sick);
        long code = 0;
        json_decref(req("PATCH", path, "application/merge-patch+json",
                        json_pack("{s:{s:{s:s}}}", "metadata", "labels", "app", "debug"), &code));
        assert_int_equal(code, 200);
        /* A replacement: two pods with app=web, both owned. */
        json_auto_t *web = wait_pods("rs3", "app%3Dweb", 2, uid);
        assert_int_equal(json_array_size(web), 2);
        assert_int_equal(count_owned(web, uid), 2);
        /* The quarantined pod keeps running, with no owner. */
        for (int i = 0; i < 100; i++) {
                json_auto_t *p = must("GET", path, NULL, 200);
                if (json_array_size(k8c_json_get(p, "metadata.ownerReferences")) == 0)
                        break;
                sleep_ms(100);
        }
        json_auto_t *p = must("GET", path, NULL, 200);
        if (k8c_json_get(p, "metadata.ownerReferences") != NULL) {
                char *s = json_dumps(p, JSON_COMPACT);
                fprintf(stderr, "released pod: %s\n", s);
                free(s);
        }
        assert_null(k8c_json_get(p, "metadata.ownerReferences"));
        assert_null(k8c_json_get(p, "metadata.deletionTimestamp"));
        assert_string_equal(k8c_json_get_string(p, "metadata.labels.app"), "debug");
        json_auto_t *all = list_pods("rs3", NULL);
        assert_int_equal(json_array_size(all), 3);
}

static void test_rs_adopts_existing_pods(void **state)
{
        make_ns("rs4");
        json_decref(must("POST", "/api/v1/namespaces/rs4/pods", pod_obj("bare-1", "web"), 201));
        json_decref(must("POST", "/api/v1/namespaces/rs4/pods", pod_obj("bare-2", "web"), 201));
        json_auto_t *b1 = must("GET", "/api/v1/namespaces/rs4/pods/bare-1", NULL, 200);
        json_auto_t *rs = create_rs("rs4", "web", 3);
        const char *uid = k8c_json_get_string(rs, "metadata.uid");
        json_auto_t *pods = wait_pods("rs4", NULL, 3, uid);
        assert_int_equal(json_array_size(pods), 3);
        assert_int_equal(count_owned(pods, uid), 3);
        /* The bare pods were taken over in place, not recreated. */
        json_auto_t *b1_after = must("GET", "/api/v1/namespaces/rs4/pods/bare-1", NULL, 200);
        assert_string_equal(k8c_json_get_string(b1_after, "metadata.uid"),
                            k8c_json_get_string(b1, "metadata.uid"));
        json_auto_t *b2_after = must("GET", "/api/v1/namespaces/rs4/pods/bare-2", NULL, 200);
        assert_string_equal(k8c_json_get_string(b2_after, "metadata.ownerReferences[0].uid"), uid);
        size_t created = 0, i;
        json_t *p;
        json_array_foreach(pods, i, p) if (strncmp(k8c_json_get_string(p, "metadata.name"), "web-", 4) == 0)
                created++;
        assert_int_equal(created, 1);
}

/* ---- garbage collector ---- */

static void test_gc_background_deletes_pods(void **state)
{
        make_ns("gc1");
        json_auto_t *rs = create_rs("gc1", "web", 3);
        json_decref(wait_pods("gc1", NULL, 3, k8c_json_get_string(rs, "metadata.uid")));
        json_decref(must("DELETE", "/apis/apps/v1/namespaces/gc1/replicasets/web",
                         json_pack("{s:s}", "propagationPolicy", "Background"), 200));
        json_auto_t *none = wait_pods("gc1", NULL, 0, NULL);
        assert_int_equal(json_array_size(none), 0);
}

static void test_gc_orphan_keeps_pods(void **state)
{
        make_ns("gc2");
        json_auto_t *rs = create_rs("gc2", "web", 2);
        json_decref(wait_pods("gc2", NULL, 2, k8c_json_get_string(rs, "metadata.uid")));
        json_decref(must("DELETE", "/apis/apps/v1/namespaces/gc2/replicasets/web",
                         json_pack("{s:s}", "propagationPolicy", "Orphan"), 200));
        long code = 0;
        for (int i = 0; i < 200; i++) {
                json_decref(req("GET", "/apis/apps/v1/namespaces/gc2/replicasets/web", NULL, NULL, &code));
                if (code == 404)
                        break;
                sleep_ms(100);
        }
        assert_int_equal(code, 404);
        json_auto_t *pods = wait_pods("gc2", NULL, 2, NULL);
        assert_int_equal(json_array_size(pods), 2);
        size_t i;
        json_t *p;
        json_array_foreach(pods, i, p)
        {
                assert_null(k8c_json_get(p, "metadata.ownerReferences"));
                assert_null(k8c_json_get(p, "metadata.deletionTimestamp"));
        }
}

static void test_gc_foreground(void **state)
{
        make_ns("gc3");
        json_auto_t *rs = create_rs("gc3", "web", 2);
        json_decref(wait_pods("gc3", NULL, 2, k8c_json_get_string(rs, "metadata.uid")));
        json_decref(must("DELETE", "/apis/apps/v1/namespaces/gc3/replicasets/web",
                         json_pack("{s:s}", "propagationPolicy", "Foreground"), 200));
        long code = 0;
        for (int i = 0; i < 200; i++) {
                json_decref(req("GET", "/apis/apps/v1/namespaces/gc3/replicasets/web", NULL, NULL, &code));
                if (code == 404)
                        break;
                sleep_ms(100);
        }
        assert_int_equal(code, 404);
        json_auto_t *none = list_pods("gc3", NULL);
        assert_int_equal(json_array_size(none), 0);
}

static void test_gc_dangling_reference(void **state)
{
        make_ns("gc4");
        json_t *p = pod_obj("stray", "x");
        json_object_set_new(json_object_get(p, "metadata"), "ownerReferences",
                            json_pack("[{s:s, s:s, s:s, s:s}]", "apiVersion", "apps/v1", "kind", "ReplicaSet",
                                      "name", "never-existed", "uid",
                                      "00000000-0000-4000-8000-000000000000"));
        json_decref(must("POST", "/api/v1/namespaces/gc4/pods", p, 201));
        json_auto_t *none = wait_pods("gc4", NULL, 0, NULL);
        assert_int_equal(json_array_size(none), 0);
}

/* ---- endpoints ---- */

static json_t *wait_endpoints(const char *ns, const char *name, size_t ready, size_t not_ready)
{
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/endpoints/%s", ns, name);
        for (int i = 0; i < 200; i++) {
                long code = 0;
                json_t *ep = req("GET", path, NULL, NULL, &code);
                if (code == 200 && json_array_size(k8c_json_get(ep, "subsets[0].addresses")) == ready &&
                    json_array_size(k8c_json_get(ep, "subsets[0].notReadyAddresses")) == not_ready &&
                    (ready + not_ready > 0 || json_array_size(json_object_get(ep, "subsets")) == 0))
                        return ep;
                json_decref(ep);
                sleep_ms(100);
        }
        return must("GET", path, NULL, 200);
}

static void test_endpoints_follow_readiness(void **state)
{
        make_ns("ep1");
        json_decref(must("POST", "/api/v1/namespaces/ep1/pods", pod_obj("a", "web"), 201));
        json_decref(must("POST", "/api/v1/namespaces/ep1/pods", pod_obj("b", "web"), 201));
        json_decref(must("POST", "/api/v1/namespaces/ep1/services",
                         json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s}, s:[{s:s, s:i, s:s}]}}", "apiVersion",
                                   "v1", "kind", "Service", "metadata", "name", "web", "spec", "selector",
                                   "app", "web", "ports", "name", "http", "port", 80, "targetPort", "http"),
                         201));
        /* No pod has an IP yet: an Endpoints with no subsets. */
        json_auto_t *ep0 = wait_endpoints("ep1", "web", 0, 0);
        assert_int_equal(json_array_size(json_object_get(ep0, "subsets")), 0);
        set_pod_ready("ep1", "a", "10.244.2.1", false);
        set_pod_ready("ep1", "b", "10.244.2.2", true);
        json_auto_t *ep1 = wait_endpoints("ep1", "web", 1, 1);
        json_auto_t *b = must("GET", "/api/v1/namespaces/ep1/pods/b", NULL, 200);
        json_auto_t *want =
                json_pack("[{s:[{s:s, s:{s:s, s:s, s:s, s:s}}], s:[{s:s, s:{s:s, s:s, s:s, s:s}}], "
                          "s:[{s:s, s:i, s:s}]}]",
                          "addresses", "ip", "10.244.2.2", "targetRef", "kind", "Pod", "namespace", "ep1",
                          "name", "b", "uid", k8c_json_get_string(b, "metadata.uid"), "notReadyAddresses",
                          "ip", "10.244.2.1", "targetRef", "kind", "Pod", "namespace", "ep1", "name", "a",
                          "uid", "", "ports", "name", "http", "port", 8080, "protocol", "TCP");
        json_auto_t *a = must("GET", "/api/v1/namespaces/ep1/pods/a", NULL, 200);
        json_object_set_new(k8c_json_get(want, "[0].notReadyAddresses[0].targetRef"), "uid",
                            json_string(k8c_json_get_string(a, "metadata.uid")));
        if (!json_equal(json_object_get(ep1, "subsets"), want)) {
                char *s = json_dumps(ep1, JSON_COMPACT);
                fprintf(stderr, "endpoints: %s\n", s);
                free(s);
        }
        assert_true(json_equal(json_object_get(ep1, "subsets"), want));
        /* a becomes ready, b not: they swap. */
        set_pod_ready("ep1", "a", "10.244.2.1", true);
        set_pod_ready("ep1", "b", "10.244.2.2", false);
        json_t *ep2 = NULL;
        for (int i = 0; i < 200; i++) {
                json_decref(ep2);
                ep2 = wait_endpoints("ep1", "web", 1, 1);
                const char *ip = k8c_json_get_string(ep2, "subsets[0].addresses[0].ip");
                if (ip != NULL && strcmp(ip, "10.244.2.1") == 0)
                        break;
                sleep_ms(100);
        }
        assert_string_equal(k8c_json_get_string(ep2, "subsets[0].addresses[0].ip"), "10.244.2.1");
        assert_string_equal(k8c_json_get_string(ep2, "subsets[0].notReadyAddresses[0].ip"), "10.244.2.2");
        json_decref(ep2);
        /* Deleting the pods empties it; deleting the Service removes it. */
        json_decref(must("DELETE", "/api/v1/namespaces/ep1/pods/a", NULL, 200));
        json_decref(must("DELETE", "/api/v1/namespaces/ep1/pods/b", NULL, 200));
        json_auto_t *ep3 = wait_endpoints("ep1", "web", 0, 0);
        assert_int_equal(json_array_size(json_object_get(ep3, "subsets")), 0);
        json_decref(must("DELETE", "/api/v1/namespaces/ep1/services/web", NULL, 200));
        long code = 0;
        for (int i = 0; i < 200; i++) {
                json_decref(req("GET", "/api/v1/namespaces/ep1/endpoints/web", NULL, NULL, &code));
                if (code == 404)
                        break;
                sleep_ms(100);
        }
        assert_int_equal(code, 404);
}

static void test_endpoints_service_without_selector_left_alone(void **state)
{
        make_ns("ep2");
        json_decref(must("POST", "/api/v1/namespaces/ep2/services",
                         json_pack("{s:s, s:s, s:{s:s}, s:{s:[{s:i}]}}", "apiVersion", "v1", "kind",
                                   "Service", "metadata", "name", "manual", "spec", "ports", "port", 80),
                         201));
        json_t *mine = json_pack("{s:s, s:s, s:{s:s}, s:[{s:[{s:s}], s:[{s:i}]}]}", "apiVersion", "v1",
                                 "kind", "Endpoints", "metadata", "name", "manual", "subsets", "addresses",
                                 "ip", "192.0.2.1", "ports", "port", 80);
        json_decref(must("POST", "/api/v1/namespaces/ep2/endpoints", mine, 201));
        sleep_ms(1500);
        json_auto_t *ep = must("GET", "/api/v1/namespaces/ep2/endpoints/manual", NULL, 200);
        assert_string_equal(k8c_json_get_string(ep, "subsets[0].addresses[0].ip"), "192.0.2.1");
        assert_int_equal(k8c_json_get_int(ep, "subsets[0].ports[0].port", 0), 80);
}

/* ---- Deployment ---- */

static json_t *deploy_obj(const char *image)
{
        return json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:{s:{s:s}}, s:{s:s, s:{s:i, s:s}}, s:{s:{s:{s:s}}, "
                         "s:{s:[{s:s, s:s}]}}}}",
                         "apiVersion", "apps/v1", "kind", "Deployment", "metadata", "name", "web", "spec",
                         "replicas", 3, "selector", "matchLabels", "app", "web", "strategy", "type",
                         "RollingUpdate", "rollingUpdate", "maxSurge", 1, "maxUnavailable", "100%",
                         "template", "metadata", "labels", "app", "web", "spec", "containers", "name", "c",
                         "image", image);
}

/* Waits until the namespace's ReplicaSets are exactly: one at want_replicas running want_image with
 * revision want_rev, every other at 0 replicas; returns the live one's pod-template-hash (caller frees). */
static char *wait_rollout(const char *ns, const char *want_image, int want_rev, size_t want_rs)
{
        char path[128];
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/replicasets", ns);
        for (int i = 0; i < 200; i++) {
                json_auto_t *l = must("GET", path, NULL, 200);
                json_t *items = json_object_get(l, "items");
                size_t live = 0, idle = 0, k;
                const char *hash = NULL;
                json_t *rs;
                json_array_foreach(items, k, rs)
                {
                        const char *img = k8c_json_get_string(rs, "spec.template.spec.containers[0].image");
                        const char *rev = k8c_json_get_string(
                                rs, "metadata.annotations[\"deployment.kubernetes.io/revision\"]");
                        if (k8c_json_get_int(rs, "spec.replicas", -1) == 3 && strcmp(img, want_image) == 0 &&
                            rev != NULL && atoi(rev) == want_rev &&
                            k8c_json_get_int(rs, "status.replicas", -1) == 3) {
                                live++;
                                hash = k8c_json_get_string(rs, "metadata.labels[\"pod-template-hash\"]");
                        } else if (k8c_json_get_int(rs, "spec.replicas", -1) == 0 &&
                                   k8c_json_get_int(rs, "status.replicas", 0) == 0) {
                                idle++;
                        }
                }
                if (live == 1 && live + idle == json_array_size(items) && json_array_size(items) == want_rs)
                        return strdup(hash);
                sleep_ms(100);
        }
        return NULL;
}

static void test_deployment_rollout_and_rollback(void **state)
{
        make_ns("dp1");
        json_decref(must("POST", "/apis/apps/v1/namespaces/dp1/deployments", deploy_obj("busybox:1"), 201));
        char *h1 = wait_rollout("dp1", "busybox:1", 1, 1);
        assert_non_null(h1);
        char sel[128];
        snprintf(sel, sizeof(sel), "pod-template-hash%%3D%s", h1);
        json_auto_t *p1 = wait_pods("dp1", sel, 3, NULL);
        assert_int_equal(json_array_size(p1), 3);
        /* A new image: a second ReplicaSet takes over, the first is scaled to zero. */
        long code = 0;
        json_decref(req("PATCH", "/apis/apps/v1/namespaces/dp1/deployments/web",
                        "application/strategic-merge-patch+json",
                        json_pack("{s:{s:{s:{s:[{s:s, s:s}]}}}}", "spec", "template", "spec", "containers",
                                  "name", "c", "image", "busybox:2"),
                        &code));
        assert_int_equal(code, 200);
        char *h2 = wait_rollout("dp1", "busybox:2", 2, 2);
        assert_non_null(h2);
        assert_string_not_equal(h1, h2);
        snprintf(sel, sizeof(sel), "pod-template-hash%%3D%s", h2);
        json_auto_t *p2 = wait_pods("dp1", sel, 3, NULL);
        assert_int_equal(json_array_size(p2), 3);
        json_auto_t *all = wait_pods("dp1", NULL, 3, NULL);
        assert_int_equal(json_array_size(all), 3);
        /* Rollback: the first template again revives the first ReplicaSet as revision 3. */
        json_decref(req("PATCH", "/apis/apps/v1/namespaces/dp1/deployments/web",
                        "application/strategic-merge-patch+json",
                        json_pack("{s:{s:{s:{s:[{s:s, s:s}]}}}}", "spec", "template", "spec", "containers",
                                  "name", "c", "image", "busybox:1"),
                        &code));
        assert_int_equal(code, 200);
        char *h3 = wait_rollout("dp1", "busybox:1", 3, 2);
        assert_non_null(h3);
        assert_string_equal(h3, h1);
        json_auto_t *d = NULL;
        for (int i = 0; i < 100; i++) {
                json_decref(d);
                d = must("GET", "/apis/apps/v1/namespaces/dp1/deployments/web", NULL, 200);
                if (k8c_json_get_int(d, "status.observedGeneration", -1) ==
                            k8c_json_get_int(d, "metadata.generation", -2) &&
                    k8c_json_get_int(d, "status.updatedReplicas", -1) == 3 &&
                    k8c_json_get_int(d, "status.replicas", -1) == 3)
                        break;
                sleep_ms(100);
        }
        assert_string_equal(
                k8c_json_get_string(d, "metadata.annotations[\"deployment.kubernetes.io/revision\"]"), "3");
        assert_int_equal(k8c_json_get_int(d, "status.replicas", -1), 3);
        assert_int_equal(k8c_json_get_int(d, "status.updatedReplicas", -1), 3);
        assert_int_equal(k8c_json_get_int(d, "status.observedGeneration", -1), 3);
        free(h1);
        free(h2);
        free(h3);
}

/* ---- Deployment: conditions, rollout semantics, kubectl rollout ---- */

/* Marks every live pod of ns Ready (podIP from a counter), as a kubelet would once it runs. */
static void ready_all(const char *ns)
{
        static int ipn = 1;
        json_auto_t *items = list_pods(ns, NULL);
        size_t i;
        json_t *p;
        json_array_foreach(items, i, p)
        {
                if (k8c_json_get(p, "metadata.deletionTimestamp") != NULL)
                        continue;
                const char *st = k8c_json_get_string(p, "status.conditions[0].status");
                if (st != NULL && strcmp(st, "True") == 0)
                        continue;
                char ip[32];
                snprintf(ip, sizeof(ip), "10.9.%d.%d", (ipn / 250) % 250, ipn % 250 + 1);
                ipn++;
                char path[256];
                snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/status", ns,
                         k8c_json_get_string(p, "metadata.name"));
                char now[32];
                time_t t = time(NULL);
                strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
                long code = 0;
                /* The pod may be gone meanwhile (404): that is fine. */
                /* Started well before: past the autoscaler's cpu initialization period. */
                char start[32];
                time_t st0 = t - 600;
                strftime(start, sizeof(start), "%Y-%m-%dT%H:%M:%SZ", gmtime(&st0));
                json_decref(req("PATCH", path, "application/strategic-merge-patch+json",
                                json_pack("{s:{s:s, s:s, s:s, s:[{s:s, s:s, s:s}]}}", "status", "phase",
                                          "Running", "podIP", ip, "startTime", start, "conditions", "type",
                                          "Ready", "status", "True", "lastTransitionTime", now),
                                &code));
        }
}

static json_t *get_deploy(const char *ns, const char *name)
{
        char path[256];
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments/%s", ns, name);
        return must("GET", path, NULL, 200);
}

static const char *dcond(const json_t *d, const char *type, const char *field)
{
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(d, "status.conditions"), i, c)
        {
                const char *t = json_string_value(json_object_get(c, "type"));
                if (t != NULL && strcmp(t, type) == 0)
                        return json_string_value(json_object_get(c, field));
        }
        return NULL;
}

static bool rollout_complete(const json_t *d, json_int_t replicas)
{
        const char *reason = dcond(d, "Progressing", "reason");
        return k8c_json_get_int(d, "status.observedGeneration", -1) ==
                       k8c_json_get_int(d, "metadata.generation", -2) &&
               k8c_json_get_int(d, "status.updatedReplicas", -1) == replicas &&
               k8c_json_get_int(d, "status.replicas", -1) == replicas &&
               k8c_json_get_int(d, "status.availableReplicas", -1) == replicas && reason != NULL &&
               strcmp(reason, "NewReplicaSetAvailable") == 0;
}

struct rollout_bounds {
        json_int_t max_total_spec; /* replicas + maxSurge */
        json_int_t min_ready;      /* replicas - maxUnavailable */
        json_int_t max_spec_seen, min_ready_seen;
        int steps;
};

/* Drives a rollout to completion (marking pods Ready), asserting the bounds at every observation:
 * the ReplicaSets' spec.replicas never add up to more than replicas + maxSurge and the Ready pods
 * never drop below replicas - maxUnavailable. */
static json_t *drive_rollout(const char *ns, const char *name, json_int_t replicas, struct rollout_bounds *b)
{
        char rspath[256];
        snprintf(rspath, sizeof(rspath), "/apis/apps/v1/namespaces/%s/replicasets", ns);
        b->max_spec_seen = 0;
        b->min_ready_seen = 1 << 30;
        for (int i = 0; i < 300; i++) {
                json_auto_t *l = must("GET", rspath, NULL, 200);
                json_int_t spec = 0;
                size_t k;
                json_t *rs;
                json_array_foreach(json_object_get(l, "items"), k, rs) spec +=
                        k8c_json_get_int(rs, "spec.replicas", 0);
                json_auto_t *pods = list_pods(ns, NULL);
                json_int_t ready = 0;
                json_t *p;
                json_array_foreach(pods, k, p)
                {
                        const char *st = k8c_json_get_string(p, "status.conditions[0].status");
                        if (k8c_json_get(p, "metadata.deletionTimestamp") == NULL && st != NULL &&
                            strcmp(st, "True") == 0)
                                ready++;
                }
                if (spec > b->max_spec_seen)
                        b->max_spec_seen = spec;
                if (ready < b->min_ready_seen)
                        b->min_ready_seen = ready;
                if (spec > b->max_total_spec || ready < b->min_ready)
                        fprintf(stderr, "rollout step %d: spec sum %lld ready %lld\n", i, (long long)spec,
                                (long long)ready);
                assert_true(spec <= b->max_total_spec);
                assert_true(ready >= b->min_ready);
                b->steps++;
                json_t *d = get_deploy(ns, name);
                if (rollout_complete(d, replicas))
                        return d;
                json_decref(d);
                ready_all(ns);
                sleep_ms(100);
        }
        return get_deploy(ns, name);
}

static json_t *deploy_obj2(const char *name, int replicas, const char *image, json_t *strategy /* stolen */)
{
        return json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:{s:{s:s}}, s:o, s:{s:{s:{s:s}}, "
                         "s:{s:[{s:s, s:s}]}}}}",
                         "apiVersion", "apps/v1", "kind", "Deployment", "metadata", "name", name, "spec",
                         "replicas", replicas, "selector", "matchLabels", "app", name, "strategy", strategy,
                         "template", "metadata", "labels", "app", name, "spec", "containers", "name", "c",
                         "image", image);
}

static void kubectl_ok(char **ret_out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void kubectl_ok(char **ret_out, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *args = NULL;
        assert_true(vasprintf(&args, fmt, ap) >= 0);
        va_end(ap);
        char *out = NULL;
        int rc = k8c_test_kubectl(&api, &out, "%s", args);
        if (rc != 0)
                fprintf(stderr, "kubectl %s: %d\n%s\n", args, rc, out ? out : "");
        free(args);
        assert_int_equal(rc, 0);
        if (ret_out != NULL)
                *ret_out = out;
        else
                free(out);
}

/* The ReplicaSets of ns by revision annotation: the name of revision rev (NULL if none). Caller frees. */
static char *rs_of_revision(const char *ns, int rev, json_int_t *ret_spec)
{
        char path[256];
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/replicasets", ns);
        json_auto_t *l = must("GET", path, NULL, 200);
        size_t k;
        json_t *rs;
        json_array_foreach(json_object_get(l, "items"), k, rs)
        {
                const char *r = k8c_json_get_string(
                        rs, "metadata.annotations[\"deployment.kubernetes.io/revision\"]");
                if (r != NULL && atoi(r) == rev) {
                        if (ret_spec != NULL)
                                *ret_spec = k8c_json_get_int(rs, "spec.replicas", -1);
                        return strdup(k8c_json_get_string(rs, "metadata.name"));
                }
        }
        return NULL;
}

static size_t count_rs(const char *ns)
{
        char path[256];
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/replicasets", ns);
        json_auto_t *l = must("GET", path, NULL, 200);
        return json_array_size(json_object_get(l, "items"));
}

static void test_deployment_conditions_and_rolling_bounds(void **state)
{
        make_ns("dp2");
        /* 4 replicas, 25% each way: surge rounds up to 1, unavailable down to 1. */
        json_decref(must("POST", "/apis/apps/v1/namespaces/dp2/deployments",
                         deploy_obj2("web", 4, "busybox:1",
                                     json_pack("{s:s, s:{s:s, s:s}}", "type", "RollingUpdate",
                                               "rollingUpdate", "maxSurge", "25%", "maxUnavailable", "25%")),
                         201));
        struct rollout_bounds b = { .max_total_spec = 5, .min_ready = 0 };
        json_auto_t *d1 = drive_rollout("dp2", "web", 4, &b);
        assert_true(rollout_complete(d1, 4));
        assert_string_equal(dcond(d1, "Available", "status"), "True");
        assert_string_equal(dcond(d1, "Available", "reason"), "MinimumReplicasAvailable");
        assert_string_equal(dcond(d1, "Progressing", "status"), "True");
        assert_string_equal(dcond(d1, "Progressing", "reason"), "NewReplicaSetAvailable");
        assert_non_null(strstr(dcond(d1, "Progressing", "message"), "has successfully progressed"));
        assert_int_equal(k8c_json_get_int(d1, "status.readyReplicas", -1), 4);
        assert_int_equal(k8c_json_get_int(d1, "status.unavailableReplicas", -1), 0);
        assert_string_equal(
                k8c_json_get_string(d1, "metadata.annotations[\"deployment.kubernetes.io/revision\"]"), "1");
        char *out = NULL;
        kubectl_ok(&out, "rollout status deployment/web -n dp2 --timeout=20s");
        assert_non_null(strstr(out, "successfully rolled out"));
        free(out);
        /* An image change rolls within the bounds at every observed step. */
        kubectl_ok(NULL, "set image deployment/web c=busybox:2 -n dp2");
        struct rollout_bounds b2 = { .max_total_spec = 5, .min_ready = 3 };
        json_auto_t *d2 = drive_rollout("dp2", "web", 4, &b2);
        assert_true(rollout_complete(d2, 4));
        assert_true(b2.steps > 1);
        assert_int_equal(b2.max_spec_seen, 5); /* the surge was used */
        assert_string_equal(
                k8c_json_get_string(d2, "metadata.annotations[\"deployment.kubernetes.io/revision\"]"), "2");
        assert_string_equal(k8c_json_get_string(d2, "spec.template.spec.containers[0].image"), "busybox:2");
        json_int_t spec1 = -1, spec2 = -1;
        char *rs1 = rs_of_revision("dp2", 1, &spec1), *rs2 = rs_of_revision("dp2", 2, &spec2);
        assert_non_null(rs1);
        assert_non_null(rs2);
        assert_int_equal(spec1, 0);
        assert_int_equal(spec2, 4);
        /* The ReplicaSets carry the Deployment's size annotations. */
        char path[256];
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/dp2/replicasets/%s", rs2);
        json_auto_t *r2 = must("GET", path, NULL, 200);
        assert_string_equal(
                k8c_json_get_string(r2,
                                    "metadata.annotations[\"deployment.kubernetes.io/desired-replicas\"]"),
                "4");
        assert_string_equal(
                k8c_json_get_string(r2, "metadata.annotations[\"deployment.kubernetes.io/max-replicas\"]"),
                "5");
        free(rs1);
        free(rs2);
}

static void test_deployment_progress_deadline_exceeded(void **state)
{
        make_ns("dp3");
        json_t *d = deploy_obj2("web", 2, "busybox:1", json_pack("{s:s}", "type", "RollingUpdate"));
        json_object_set_new(json_object_get(d, "spec"), "progressDeadlineSeconds", json_integer(2));
        json_decref(must("POST", "/apis/apps/v1/namespaces/dp3/deployments", d, 201));
        /* Its pods never become Ready: the deadline passes and Progressing turns False. */
        json_t *got = NULL;
        for (int i = 0; i < 100; i++) {
                got = get_deploy("dp3", "web");
                const char *r = dcond(got, "Progressing", "reason");
                if (r != NULL && strcmp(r, "ProgressDeadlineExceeded") == 0)
                        break;
                json_decref(got);
                got = NULL;
                sleep_ms(100);
        }
        assert_non_null(got);
        assert_string_equal(dcond(got, "Progressing", "status"), "False");
        assert_non_null(strstr(dcond(got, "Progressing", "message"), "has timed out progressing"));
        assert_string_equal(dcond(got, "Available", "status"), "False");
        assert_string_equal(dcond(got, "Available", "reason"), "MinimumReplicasUnavailable");
        json_decref(got);
        char *out = NULL;
        int rc = k8c_test_kubectl(&api, &out, "rollout status deployment/web -n dp3 --timeout=10s");
        assert_int_not_equal(rc, 0);
        assert_non_null(strstr(out, "exceeded its progress deadline"));
        free(out);
}

static void test_deployment_rollout_undo_and_history(void **state)
{
        make_ns("dp4");
        json_t *d = deploy_obj2("web", 2, "busybox:1",
                                json_pack("{s:s, s:{s:i, s:i}}", "type", "RollingUpdate", "rollingUpdate",
                                          "maxSurge", 1, "maxUnavailable", 0));
        json_object_set_new(json_object_get(d, "spec"), "revisionHistoryLimit", json_integer(2));
        json_decref(must("POST", "/apis/apps/v1/namespaces/dp4/deployments", d, 201));
        struct rollout_bounds b = { .max_total_spec = 3, .min_ready = 0 };
        json_decref(drive_rollout("dp4", "web", 2, &b));
        char *rev1 = rs_of_revision("dp4", 1, NULL);
        assert_non_null(rev1);
        kubectl_ok(NULL, "set image deployment/web c=busybox:2 -n dp4");
        b.min_ready = 2;
        json_decref(drive_rollout("dp4", "web", 2, &b));
        /* kubectl rollout undo patches revision 1's template back: that ReplicaSet is revived as 3. */
        char *out = NULL;
        kubectl_ok(&out, "rollout undo deployment/web -n dp4");
        assert_non_null(strstr(out, "rolled back"));
        free(out);
        json_auto_t *d3 = drive_rollout("dp4", "web", 2, &b);
        assert_true(rollout_complete(d3, 2));
        assert_string_equal(k8c_json_get_string(d3, "spec.template.spec.containers[0].image"), "busybox:1");
        assert_string_equal(
                k8c_json_get_string(d3, "metadata.annotations[\"deployment.kubernetes.io/revision\"]"), "3");
        char *rev3 = rs_of_revision("dp4", 3, NULL);
        assert_non_null(rev3);
        assert_string_equal(rev3, rev1);
        char path[256];
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/dp4/replicasets/%s", rev3);
        json_auto_t *r3 = must("GET", path, NULL, 200);
        assert_string_equal(
                k8c_json_get_string(r3,
                                    "metadata.annotations[\"deployment.kubernetes.io/revision-history\"]"),
                "1");
        assert_int_equal(count_rs("dp4"), 2);
        kubectl_ok(&out, "rollout history deployment/web -n dp4");
        assert_non_null(strstr(out, "\n2 "));
        assert_non_null(strstr(out, "\n3 "));
        free(out);
        /* --to-revision=2 goes back to busybox:2. */
        kubectl_ok(NULL, "rollout undo deployment/web -n dp4 --to-revision=2");
        json_auto_t *d4 = drive_rollout("dp4", "web", 2, &b);
        assert_string_equal(k8c_json_get_string(d4, "spec.template.spec.containers[0].image"), "busybox:2");
        assert_string_equal(
                k8c_json_get_string(d4, "metadata.annotations[\"deployment.kubernetes.io/revision\"]"), "4");
        /* Two more templates: revisionHistoryLimit 2 keeps the new ReplicaSet and two old ones. */
        kubectl_ok(NULL, "set image deployment/web c=busybox:5 -n dp4");
        json_decref(drive_rollout("dp4", "web", 2, &b));
        kubectl_ok(NULL, "set image deployment/web c=busybox:6 -n dp4");
        json_decref(drive_rollout("dp4", "web", 2, &b));
        size_t n = 0;
        for (int i = 0; i < 50 && (n = count_rs("dp4")) != 3; i++)
                sleep_ms(100);
        assert_int_equal(n, 3);
        char *oldest = rs_of_revision("dp4", 3, NULL);
        assert_null(oldest); /* revision 3 (busybox:1) was the oldest idle one */
        free(rev1);
        free(rev3);
}

static void test_deployment_pause_resume(void **state)
{
        make_ns("dp5");
        json_decref(must("POST", "/apis/apps/v1/namespaces/dp5/deployments",
                         deploy_obj2("web", 2, "busybox:1", json_pack("{s:s}", "type", "RollingUpdate")),
                         201));
        struct rollout_bounds b = { .max_total_spec = 3, .min_ready = 0 };
        json_decref(drive_rollout("dp5", "web", 2, &b));
        kubectl_ok(NULL, "rollout pause deployment/web -n dp5");
        kubectl_ok(NULL, "set image deployment/web c=busybox:2 -n dp5");
        json_t *d = NULL;
        for (int i = 0; i < 50; i++) {
                d = get_deploy("dp5", "web");
                const char *r = dcond(d, "Progressing", "reason");
                if (r != NULL && strcmp(r, "DeploymentPaused") == 0)
                        break;
                json_decref(d);
                d = NULL;
                sleep_ms(100);
        }
        assert_non_null(d);
        assert_string_equal(dcond(d, "Progressing", "status"), "Unknown");
        json_decref(d);
        /* Paused: no new ReplicaSet however long we wait; scaling still applies. */
        char *out = NULL;
        kubectl_ok(&out, "scale deployment/web --replicas=3 -n dp5");
        free(out);
        for (int i = 0; i < 15; i++) {
                ready_all("dp5");
                sleep_ms(100);
        }
        assert_int_equal(count_rs("dp5"), 1);
        json_int_t spec = -1;
        char *r1 = rs_of_revision("dp5", 1, &spec);
        for (int i = 0; i < 50 && spec != 3; i++) {
                free(r1);
                sleep_ms(100);
                r1 = rs_of_revision("dp5", 1, &spec);
        }
        assert_int_equal(spec, 3);
        free(r1);
        kubectl_ok(NULL, "rollout resume deployment/web -n dp5");
        b.max_total_spec = 4; /* 3 + 25% rounded up */
        b.min_ready = 3;      /* 25% of 3 rounds down to 0 unavailable */
        json_auto_t *done = drive_rollout("dp5", "web", 3, &b);
        assert_true(rollout_complete(done, 3));
        assert_string_equal(k8c_json_get_string(done, "spec.template.spec.containers[0].image"), "busybox:2");
        assert_int_equal(count_rs("dp5"), 2);
}

static void test_deployment_recreate(void **state)
{
        make_ns("dp6");
        json_decref(must("POST", "/apis/apps/v1/namespaces/dp6/deployments",
                         deploy_obj2("web", 3, "busybox:1", json_pack("{s:s}", "type", "Recreate")), 201));
        struct rollout_bounds b = { .max_total_spec = 3, .min_ready = 0 };
        json_decref(drive_rollout("dp6", "web", 3, &b));
        kubectl_ok(NULL, "set image deployment/web c=busybox:2 -n dp6");
        /* Never old and new pods at once. */
        json_t *d = NULL;
        bool saw_new = false;
        for (int i = 0; i < 300; i++) {
                json_auto_t *pods = list_pods("dp6", NULL);
                size_t k, old = 0, nw = 0;
                json_t *p;
                json_array_foreach(pods, k, p)
                {
                        const char *img = k8c_json_get_string(p, "spec.containers[0].image");
                        if (strcmp(img, "busybox:1") == 0)
                                old++;
                        else
                                nw++;
                }
                assert_false(old > 0 && nw > 0);
                saw_new = saw_new || nw > 0;
                d = get_deploy("dp6", "web");
                if (rollout_complete(d, 3))
                        break;
                json_decref(d);
                d = NULL;
                ready_all("dp6");
                sleep_ms(50);
        }
        assert_true(saw_new);
        assert_non_null(d);
        assert_string_equal(
                k8c_json_get_string(d, "metadata.annotations[\"deployment.kubernetes.io/revision\"]"), "2");
        json_decref(d);
}

static void test_deployment_adopts_orphan_and_restarts(void **state)
{
        make_ns("dp7");
        /* A bare ReplicaSet with the Deployment's template (say, left by --cascade=orphan). */
        json_t *rs = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s}}, "
                               "s:{s:[{s:s, s:s}]}}}}",
                               "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name", "legacy",
                               "labels", "app", "adopt", "spec", "replicas", 2, "selector", "matchLabels",
                               "app", "adopt", "template", "metadata", "labels", "app", "adopt", "spec",
                               "containers", "name", "c", "image", "busybox:1");
        json_auto_t *legacy = must("POST", "/apis/apps/v1/namespaces/dp7/replicasets", rs, 201);
        json_auto_t *before = wait_pods("dp7", NULL, 2, k8c_json_get_string(legacy, "metadata.uid"));
        assert_int_equal(json_array_size(before), 2);
        json_decref(must("POST", "/apis/apps/v1/namespaces/dp7/deployments",
                         deploy_obj2("adopt", 2, "busybox:1", json_pack("{s:s}", "type", "RollingUpdate")),
                         201));
        struct rollout_bounds b = { .max_total_spec = 3, .min_ready = 0 };
        json_auto_t *d = drive_rollout("dp7", "adopt", 2, &b);
        assert_true(rollout_complete(d, 2));
        /* Adopted, and it is the new ReplicaSet: no other was made and its pods were kept. */
        assert_int_equal(count_rs("dp7"), 1);
        json_auto_t *r1 = must("GET", "/apis/apps/v1/namespaces/dp7/replicasets/legacy", NULL, 200);
        assert_string_equal(k8c_json_get_string(r1, "metadata.ownerReferences[0].kind"), "Deployment");
        assert_string_equal(k8c_json_get_string(r1, "metadata.ownerReferences[0].uid"),
                            k8c_json_get_string(d, "metadata.uid"));
        assert_string_equal(
                k8c_json_get_string(r1, "metadata.annotations[\"deployment.kubernetes.io/revision\"]"), "1");
        json_auto_t *after = list_pods("dp7", NULL);
        assert_int_equal(json_array_size(after), 2);
        for (size_t i = 0; i < 2; i++) {
                const char *u = k8c_json_get_string(json_array_get(after, i), "metadata.uid");
                assert_true(strcmp(u, k8c_json_get_string(json_array_get(before, 0), "metadata.uid")) == 0 ||
                            strcmp(u, k8c_json_get_string(json_array_get(before, 1), "metadata.uid")) == 0);
        }
        /* kubectl rollout restart: a template annotation, hence a new ReplicaSet at revision 2. */
        kubectl_ok(NULL, "rollout restart deployment/adopt -n dp7");
        b.min_ready = 2;
        json_auto_t *d2 = drive_rollout("dp7", "adopt", 2, &b);
        assert_true(rollout_complete(d2, 2));
        assert_non_null(k8c_json_get_string(
                d2, "spec.template.metadata.annotations[\"kubectl.kubernetes.io/restartedAt\"]"));
        assert_string_equal(
                k8c_json_get_string(d2, "metadata.annotations[\"deployment.kubernetes.io/revision\"]"), "2");
        assert_int_equal(count_rs("dp7"), 2);
        /* kubectl describe shows the controller's scaling events. */
        char *out = NULL;
        kubectl_ok(&out, "describe deployment adopt -n dp7");
        assert_non_null(strstr(out, "ScalingReplicaSet"));
        assert_non_null(strstr(out, "NewReplicaSetAvailable"));
        free(out);
}

static void test_deployment_min_ready_seconds(void **state)
{
        make_ns("dp8");
        json_t *d = deploy_obj2("web", 2, "busybox:1",
                                json_pack("{s:s, s:{s:i, s:i}}", "type", "RollingUpdate", "rollingUpdate",
                                          "maxSurge", 1, "maxUnavailable", 0));
        json_object_set_new(json_object_get(d, "spec"), "minReadySeconds", json_integer(3));
        json_decref(must("POST", "/apis/apps/v1/namespaces/dp8/deployments", d, 201));
        /* Ready pods count as available only once they have been ready for minReadySeconds. */
        json_auto_t *pods = wait_pods("dp8", NULL, 2, NULL);
        assert_int_equal(json_array_size(pods), 2);
        ready_all("dp8");
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        bool saw_ready_unavailable = false;
        json_t *got = NULL;
        for (int i = 0; i < 100; i++) {
                got = get_deploy("dp8", "web");
                if (k8c_json_get_int(got, "status.readyReplicas", 0) == 2 &&
                    k8c_json_get_int(got, "status.availableReplicas", 0) == 0) {
                        saw_ready_unavailable = true;
                        assert_string_equal(dcond(got, "Available", "status"), "False");
                }
                if (rollout_complete(got, 2))
                        break;
                json_decref(got);
                got = NULL;
                sleep_ms(100);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_non_null(got);
        assert_true(saw_ready_unavailable);
        /* Readiness has a one-second resolution: at least two of the three seconds must have passed. */
        assert_true((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 >= 2.0);
        assert_string_equal(dcond(got, "Available", "status"), "True");
        json_decref(got);
        char path[128];
        char *rs = rs_of_revision("dp8", 1, NULL);
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/dp8/replicasets/%s", rs);
        json_auto_t *r = must("GET", path, NULL, 200);
        assert_int_equal(k8c_json_get_int(r, "spec.minReadySeconds", 0), 3);
        free(rs);
}

/* ---- HorizontalPodAutoscaler ---- */

static json_t *get_hpa(const char *ns, const char *version, const char *name)
{
        char path[256];
        snprintf(path, sizeof(path), "/apis/autoscaling/%s/namespaces/%s/horizontalpodautoscalers/%s",
                 version, ns, name);
        return must("GET", path, NULL, 200);
}

static const char *hcond(const json_t *h, const char *type, const char *field)
{
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(h, "status.conditions"), i, c)
        {
                const char *t = json_string_value(json_object_get(c, "type"));
                if (t != NULL && strcmp(t, type) == 0)
                        return json_string_value(json_object_get(c, field));
        }
        return NULL;
}

static bool has_event(const char *ns, const char *reason, const char *message)
{
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ns);
        json_auto_t *l = must("GET", path, NULL, 200);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(l, "items"), i, e)
        {
                const char *r = json_string_value(json_object_get(e, "reason"));
                const char *m = json_string_value(json_object_get(e, "message"));
                if (r != NULL && strcmp(r, reason) == 0 && m != NULL && strstr(m, message) != NULL)
                        return true;
        }
        return false;
}

static void test_hpa_scales_up_to_computed_and_down_after_window(void **state)
{
        make_ns("hpa1");
        json_t *d = deploy_obj2("web", 3, "busybox:1", json_pack("{s:s}", "type", "RollingUpdate"));
        json_object_set_new(k8c_json_get(d, "spec.template.spec.containers[0]"), "resources",
                            json_pack("{s:{s:s}}", "requests", "cpu", "200m"));
        json_decref(must("POST", "/apis/apps/v1/namespaces/hpa1/deployments", d, 201));
        struct rollout_bounds b = { .max_total_spec = 4, .min_ready = 0 };
        json_decref(drive_rollout("hpa1", "web", 3, &b));
        /* 500m over 3 pods of 200m: 166m each, 83 % of requests against a 50 % target:
         * ceil(3 x 83/50) = ceil(4.98) = 5. */
        fake_metrics_set_total_cpu("hpa1", 500);
        char *out = NULL;
        /* An autoscaling/v1 manifest, as `kubectl autoscale` would make it (kubectl autoscale itself
         * posts a body the apiserver answers 415 to). */
        char mpath[512];
        snprintf(mpath, sizeof(mpath), "%s/hpa1.yaml", api.dir);
        FILE *f = fopen(mpath, "w");
        assert_non_null(f);
        fputs("apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\n"
              "spec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web\n"
              "  minReplicas: 1\n  maxReplicas: 8\n  targetCPUUtilizationPercentage: 50\n",
              f);
        fclose(f);
        kubectl_ok(&out, "apply -f %s -n hpa1", mpath);
        assert_non_null(strstr(out, "created"));
        free(out);
        json_int_t max_seen = 0;
        json_t *h = NULL;
        for (int i = 0; i < 300; i++) {
                ready_all("hpa1");
                json_auto_t *dd = get_deploy("hpa1", "web");
                json_int_t spec = k8c_json_get_int(dd, "spec.replicas", 0);
                if (spec > max_seen)
                        max_seen = spec;
                h = get_hpa("hpa1", "v2", "web");
                /* Settled: at 5 pods each uses 100m, 50 %, within the tolerance. */
                if (spec == 5 && k8c_json_get_int(h, "status.currentReplicas", 0) == 5 &&
                    k8c_json_get_int(h, "status.currentMetrics[0].resource.current.averageUtilization", 0) ==
                            50)
                        break;
                json_decref(h);
                h = NULL;
                sleep_ms(100);
        }
        assert_non_null(h);
        assert_int_equal(max_seen, 5);
        assert_int_equal(k8c_json_get_int(h, "status.desiredReplicas", 0), 5);
        assert_string_equal(k8c_json_get_string(h, "status.currentMetrics[0].resource.name"), "cpu");
        assert_string_equal(k8c_json_get_string(h, "status.currentMetrics[0].resource.current.averageValue"),
                            "100m");
        assert_non_null(k8c_json_get(h, "status.lastScaleTime"));
        assert_string_equal(hcond(h, "AbleToScale", "status"), "True");
        assert_string_equal(hcond(h, "ScalingActive", "status"), "True");
        assert_string_equal(hcond(h, "ScalingActive", "reason"), "ValidMetricFound");
        assert_string_equal(hcond(h, "ScalingLimited", "status"), "False");
        assert_string_equal(hcond(h, "ScalingLimited", "reason"), "DesiredWithinRange");
        json_decref(h);
        assert_true(has_event(
                "hpa1", "SuccessfulRescale",
                "New size: 5; reason: cpu resource utilization (percentage of request) above target"));
        /* The autoscaling/v1 view of the same object. */
        json_auto_t *v1 = get_hpa("hpa1", "v1", "web");
        assert_int_equal(k8c_json_get_int(v1, "spec.targetCPUUtilizationPercentage", 0), 50);
        assert_int_equal(k8c_json_get_int(v1, "status.currentCPUUtilizationPercentage", 0), 50);
        kubectl_ok(&out, "get hpa web -n hpa1");
        assert_non_null(strstr(out, "cpu: 50%/50%"));
        free(out);
        /* Load drops to 100m (10 %): the recommendation is 1, but the 4 s stabilisation window holds 5
         * for a while before the scale-down. */
        fake_metrics_set_total_cpu("hpa1", 100);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        bool stabilized = false;
        json_int_t spec = 5;
        for (int i = 0; i < 300 && spec != 1; i++) {
                ready_all("hpa1");
                json_auto_t *dd = get_deploy("hpa1", "web");
                spec = k8c_json_get_int(dd, "spec.replicas", 0);
                json_auto_t *hh = get_hpa("hpa1", "v2", "web");
                const char *r = hcond(hh, "AbleToScale", "reason");
                if (spec == 5 && r != NULL && strcmp(r, "ScaleDownStabilized") == 0)
                        stabilized = true;
                sleep_ms(100);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        assert_int_equal(spec, 1);
        assert_true(stabilized);
        assert_true(waited >= 2.5);
        assert_true(has_event("hpa1", "SuccessfulRescale", "New size: 1; reason: All metrics below target"));
        json_auto_t *h2 = NULL;
        for (int i = 0; i < 50; i++) {
                json_decref(h2);
                h2 = get_hpa("hpa1", "v2", "web");
                if (k8c_json_get_int(h2, "status.desiredReplicas", 0) == 1)
                        break;
                sleep_ms(100);
        }
        assert_int_equal(k8c_json_get_int(h2, "status.desiredReplicas", 0), 1);
        assert_true(fake_metrics_requests() > 0);
}

static void test_hpa_limits_and_missing_metrics(void **state)
{
        make_ns("hpa2");
        json_t *d = deploy_obj2("web", 2, "busybox:1", json_pack("{s:s}", "type", "RollingUpdate"));
        json_object_set_new(k8c_json_get(d, "spec.template.spec.containers[0]"), "resources",
                            json_pack("{s:{s:s}}", "requests", "cpu", "100m"));
        json_decref(must("POST", "/apis/apps/v1/namespaces/hpa2/deployments", d, 201));
        struct rollout_bounds b = { .max_total_spec = 3, .min_ready = 0 };
        json_decref(drive_rollout("hpa2", "web", 2, &b));
        fake_metrics_set_total_cpu("hpa2", 1000); /* 500m each: 500 % of 100m against 50 % → 20, max 3 */
        json_decref(must("POST", "/apis/autoscaling/v2/namespaces/hpa2/horizontalpodautoscalers",
                         json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s, s:s, s:s}, s:i, s:i, s:[{s:s, s:{s:s, "
                                   "s:{s:s, s:i}}}]}}",
                                   "apiVersion", "autoscaling/v2", "kind", "HorizontalPodAutoscaler",
                                   "metadata", "name", "web", "spec", "scaleTargetRef", "apiVersion",
                                   "apps/v1", "kind", "Deployment", "name", "web", "minReplicas", 2,
                                   "maxReplicas", 3, "metrics", "type", "Resource", "resource", "name", "cpu",
                                   "target", "type", "Utilization", "averageUtilization", 50),
                         201));
        json_t *h = NULL;
        for (int i = 0; i < 200; i++) {
                ready_all("hpa2");
                h = get_hpa("hpa2", "v2", "web");
                const char *r = hcond(h, "ScalingLimited", "reason");
                if (k8c_json_get_int(h, "status.currentReplicas", 0) == 3 && r != NULL &&
                    strcmp(r, "TooManyReplicas") == 0)
                        break;
                json_decref(h);
                h = NULL;
                sleep_ms(100);
        }
        assert_non_null(h);
        assert_string_equal(hcond(h, "ScalingLimited", "status"), "True");
        json_decref(h);
        json_auto_t *dd = get_deploy("hpa2", "web");
        assert_int_equal(k8c_json_get_int(dd, "spec.replicas", 0), 3);
        /* A target without a scale subresource: AbleToScale False, FailedGetScale. */
        json_decref(must("POST", "/apis/autoscaling/v2/namespaces/hpa2/horizontalpodautoscalers",
                         json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s, s:s, s:s}, s:i}}", "apiVersion",
                                   "autoscaling/v2", "kind", "HorizontalPodAutoscaler", "metadata", "name",
                                   "ghost", "spec", "scaleTargetRef", "apiVersion", "apps/v1", "kind",
                                   "Deployment", "name", "nope", "maxReplicas", 3),
                         201));
        json_t *g = NULL;
        for (int i = 0; i < 100; i++) {
                g = get_hpa("hpa2", "v2", "ghost");
                const char *r = hcond(g, "AbleToScale", "reason");
                if (r != NULL && strcmp(r, "FailedGetScale") == 0)
                        break;
                json_decref(g);
                g = NULL;
                sleep_ms(100);
        }
        assert_non_null(g);
        assert_string_equal(hcond(g, "AbleToScale", "status"), "False");
        json_decref(g);
}

/* ---- PersistentVolume binder ---- */

static void make_pv(const char *name, const char *size, const char *mode, const char *cls, const char *policy,
                    const char *tier)
{
        json_t *pv = json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s}, s:[s], s:s, s:{s:s}}}", "apiVersion", "v1",
                               "kind", "PersistentVolume", "metadata", "name", name, "spec", "capacity",
                               "storage", size, "accessModes", mode, "persistentVolumeReclaimPolicy", policy,
                               "hostPath", "path", "/tmp/k8c-test-pv");
        if (cls != NULL)
                json_object_set_new(json_object_get(pv, "spec"), "storageClassName", json_string(cls));
        if (tier != NULL)
                json_object_set_new(json_object_get(pv, "metadata"), "labels",
                                    json_pack("{s:s}", "tier", tier));
        json_decref(must("POST", "/api/v1/persistentvolumes", pv, 201));
}

static json_t *make_pvc(const char *ns, const char *name, const char *size, const char *mode, const char *cls,
                        const char *tier)
{
        json_t *pvc = json_pack("{s:s, s:s, s:{s:s}, s:{s:[s], s:{s:{s:s}}}}", "apiVersion", "v1", "kind",
                                "PersistentVolumeClaim", "metadata", "name", name, "spec", "accessModes",
                                mode, "resources", "requests", "storage", size);
        json_object_set_new(json_object_get(pvc, "spec"), "storageClassName",
                            json_string(cls != NULL ? cls : ""));
        if (tier != NULL)
                json_object_set_new(json_object_get(pvc, "spec"), "selector",
                                    json_pack("{s:{s:s}}", "matchLabels", "tier", tier));
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/persistentvolumeclaims", ns);
        return must("POST", path, pvc, 201);
}

static json_t *get_pv(const char *name, long *ret_code)
{
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/persistentvolumes/%s", name);
        return req("GET", path, NULL, NULL, ret_code);
}

static json_t *get_pvc(const char *ns, const char *name)
{
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/persistentvolumeclaims/%s", ns, name);
        return must("GET", path, NULL, 200);
}

/* Waits until claim ns/name is Bound; returns it (or the last state). */
static json_t *wait_claim_phase(const char *ns, const char *name, const char *phase)
{
        json_t *pvc = NULL;
        for (int i = 0; i < 100; i++) {
                pvc = get_pvc(ns, name);
                const char *p = k8c_json_get_string(pvc, "status.phase");
                if (p != NULL && strcmp(p, phase) == 0)
                        return pvc;
                json_decref(pvc);
                sleep_ms(100);
        }
        return get_pvc(ns, name);
}

static json_t *wait_pv_phase(const char *name, const char *phase)
{
        for (int i = 0; i < 100; i++) {
                long code = 0;
                json_t *pv = get_pv(name, &code);
                const char *p = k8c_json_get_string(pv, "status.phase");
                if (code == 200 && p != NULL && strcmp(p, phase) == 0)
                        return pv;
                json_decref(pv);
                sleep_ms(100);
        }
        return get_pv(name, NULL);
}

static void assert_bound(const char *ns, const char *claim, const char *volume, const char *size)
{
        json_auto_t *pvc = wait_claim_phase(ns, claim, "Bound");
        if (strcmp(k8c_json_get_string(pvc, "status.phase") ?: "", "Bound") != 0)
                fprintf(stderr, "claim %s/%s not bound\n", ns, claim);
        assert_string_equal(k8c_json_get_string(pvc, "status.phase"), "Bound");
        assert_string_equal(k8c_json_get_string(pvc, "spec.volumeName"), volume);
        assert_string_equal(k8c_json_get_string(pvc, "status.capacity.storage"), size);
        assert_non_null(k8c_json_get_string(pvc, "status.accessModes[0]"));
        assert_string_equal(
                k8c_json_get_string(pvc, "metadata.annotations[\"pv.kubernetes.io/bind-completed\"]"), "yes");
        json_auto_t *pv = wait_pv_phase(volume, "Bound");
        assert_string_equal(k8c_json_get_string(pv, "status.phase"), "Bound");
        assert_string_equal(k8c_json_get_string(pv, "spec.claimRef.kind"), "PersistentVolumeClaim");
        assert_string_equal(k8c_json_get_string(pv, "spec.claimRef.namespace"), ns);
        assert_string_equal(k8c_json_get_string(pv, "spec.claimRef.name"), claim);
        assert_string_equal(k8c_json_get_string(pv, "spec.claimRef.uid"),
                            k8c_json_get_string(pvc, "metadata.uid"));
}

static void test_pv_binder_binds_smallest_match(void **state)
{
        make_pv("t1-1g", "1Gi", "ReadWriteOnce", NULL, "Retain", NULL);
        make_pv("t1-3g", "3Gi", "ReadWriteOnce", NULL, "Retain", NULL);
        make_pv("t1-5g", "5Gi", "ReadWriteOnce", NULL, "Retain", NULL);
        make_pv("t1-fast", "2Gi", "ReadWriteOnce", "fast", "Retain", NULL);
        make_pv("t1-gold", "8Gi", "ReadWriteOnce", NULL, "Retain", "gold");
        make_pv("t1-rwx", "4Gi", "ReadWriteMany", NULL, "Retain", NULL);
        json_decref(wait_pv_phase("t1-rwx", "Available"));
        make_ns("pv1");
        json_decref(make_pvc("pv1", "small", "2Gi", "ReadWriteOnce", NULL, NULL));
        json_decref(make_pvc("pv1", "fast", "1Gi", "ReadWriteOnce", "fast", NULL));
        json_decref(make_pvc("pv1", "gold", "1Gi", "ReadWriteOnce", NULL, "gold"));
        json_decref(make_pvc("pv1", "shared", "1Gi", "ReadWriteMany", NULL, NULL));
        json_decref(make_pvc("pv1", "huge", "100Gi", "ReadWriteOnce", NULL, NULL));
        /* 1Gi is too small, fast is another class, 5Gi is bigger than 3Gi. */
        assert_bound("pv1", "small", "t1-3g", "3Gi");
        assert_bound("pv1", "fast", "t1-fast", "2Gi");
        assert_bound("pv1", "gold", "t1-gold", "8Gi");
        assert_bound("pv1", "shared", "t1-rwx", "4Gi");
        /* Nothing fits 100Gi: Pending, with the reason as an event. */
        sleep_ms(500);
        json_auto_t *huge = get_pvc("pv1", "huge");
        assert_string_equal(k8c_json_get_string(huge, "status.phase"), "Pending");
        assert_true(has_event("pv1", "FailedBinding", "no persistent volumes available for this claim"));
        json_auto_t *left = wait_pv_phase("t1-1g", "Available");
        assert_string_equal(k8c_json_get_string(left, "status.phase"), "Available");
        assert_null(k8c_json_get(left, "spec.claimRef"));
        char *out = NULL;
        kubectl_ok(&out, "get pvc small -n pv1");
        assert_non_null(strstr(out, "Bound"));
        assert_non_null(strstr(out, "t1-3g"));
        free(out);
        /* A volume that fits appears: the waiting claim takes it. */
        make_pv("t1-200g", "200Gi", "ReadWriteOnce", NULL, "Retain", NULL);
        assert_bound("pv1", "huge", "t1-200g", "200Gi");
}

static void test_pv_binder_reclaim_policies(void **state)
{
        make_ns("pv2");
        make_pv("t2-retain", "1Gi", "ReadWriteOnce", "t2", "Retain", NULL);
        make_pv("t2-delete", "1Gi", "ReadWriteOnce", "t2d", "Delete", NULL);
        json_decref(make_pvc("pv2", "keep", "1Gi", "ReadWriteOnce", "t2", NULL));
        json_decref(make_pvc("pv2", "drop", "1Gi", "ReadWriteOnce", "t2d", NULL));
        assert_bound("pv2", "keep", "t2-retain", "1Gi");
        assert_bound("pv2", "drop", "t2-delete", "1Gi");
        /* Retain: the claim goes, the volume is Released and keeps its claimRef. */
        json_decref(must("DELETE", "/api/v1/namespaces/pv2/persistentvolumeclaims/keep", NULL, 200));
        json_auto_t *rel = wait_pv_phase("t2-retain", "Released");
        assert_string_equal(k8c_json_get_string(rel, "status.phase"), "Released");
        assert_string_equal(k8c_json_get_string(rel, "spec.claimRef.name"), "keep");
        /* ...so a new claim of the same class does not get it. */
        json_decref(make_pvc("pv2", "again", "1Gi", "ReadWriteOnce", "t2", NULL));
        sleep_ms(1000);
        json_auto_t *again = get_pvc("pv2", "again");
        assert_string_equal(k8c_json_get_string(again, "status.phase"), "Pending");
        /* Delete: the claim goes, so does the volume. */
        json_decref(must("DELETE", "/api/v1/namespaces/pv2/persistentvolumeclaims/drop", NULL, 200));
        long code = 0;
        for (int i = 0; i < 100; i++) {
                json_decref(get_pv("t2-delete", &code));
                if (code == 404)
                        break;
                sleep_ms(100);
        }
        assert_int_equal(code, 404);
}

/* ---- EndpointSlices ---- */

/* The managed EndpointSlices of Service ns/name (new reference to the items). */
static json_t *list_slices(const char *ns, const char *svc)
{
        char path[256];
        snprintf(path, sizeof(path),
                 "/apis/discovery.k8s.io/v1/namespaces/%s/"
                 "endpointslices?labelSelector=kubernetes.io%%2Fservice-name%%3D%s",
                 ns, svc);
        json_t *l = must("GET", path, NULL, 200);
        json_t *items = json_incref(json_object_get(l, "items"));
        json_decref(l);
        return items;
}

static const json_t *slice_endpoint(const json_t *slice, const char *pod)
{
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(slice, "endpoints"), i, e)
        {
                const char *n = k8c_json_get_string(e, "targetRef.name");
                if (n != NULL && strcmp(n, pod) == 0)
                        return e;
        }
        return NULL;
}

static bool ep_cond(const json_t *e, const char *c)
{
        return json_is_true(k8c_json_get(json_object_get(e, "conditions"), c));
}

/* Waits until the one slice of ns/svc has n endpoints and, if pod is given, that pod's endpoint has
 * ready == want_ready. Returns the slice (or NULL). */
static json_t *wait_slice(const char *ns, const char *svc, size_t n, const char *pod, bool want_ready)
{
        for (int i = 0; i < 200; i++) {
                json_auto_t *items = list_slices(ns, svc);
                if (json_array_size(items) == 1) {
                        json_t *s = json_array_get(items, 0);
                        const json_t *e = pod != NULL ? slice_endpoint(s, pod) : NULL;
                        if (json_array_size(json_object_get(s, "endpoints")) == n &&
                            (pod == NULL || (e != NULL && ep_cond(e, "ready") == want_ready)))
                                return json_incref(s);
                }
                sleep_ms(50);
        }
        json_auto_t *items = list_slices(ns, svc);
        char *d = json_dumps(items, JSON_COMPACT);
        fprintf(stderr, "slices of %s/%s: %s\n", ns, svc, d);
        free(d);
        return NULL;
}

static void test_endpointslices_mirror_endpoints(void **state)
{
        make_ns("es1");
        json_decref(must("POST", "/api/v1/namespaces/es1/pods", pod_obj("a", "web"), 201));
        json_decref(must("POST", "/api/v1/namespaces/es1/pods", pod_obj("b", "web"), 201));
        json_t *c = pod_obj("c", "web");
        json_object_set_new(json_object_get(c, "spec"), "nodeName", json_string("node-es"));
        json_decref(must("POST", "/api/v1/namespaces/es1/pods", c, 201));
        json_auto_t *svc =
                must("POST", "/api/v1/namespaces/es1/services",
                     json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s}, s:[{s:s, s:i, s:s}]}}", "apiVersion", "v1",
                               "kind", "Service", "metadata", "name", "web", "spec", "selector", "app", "web",
                               "ports", "name", "http", "port", 80, "targetPort", "http"),
                     201);
        /* No pod has an IP yet: one placeholder slice. */
        json_auto_t *s0 = wait_slice("es1", "web", 0, NULL, false);
        assert_non_null(s0);
        assert_string_equal(k8c_json_get_string(s0, "addressType"), "IPv4");
        assert_string_equal(
                k8c_json_get_string(s0, "metadata.labels[\"endpointslice.kubernetes.io/managed-by\"]"),
                "endpointslice-controller.k8s.io");
        assert_string_equal(k8c_json_get_string(s0, "metadata.ownerReferences[0].kind"), "Service");
        assert_string_equal(k8c_json_get_string(s0, "metadata.ownerReferences[0].uid"),
                            k8c_json_get_string(svc, "metadata.uid"));
        assert_int_equal(strncmp(k8c_json_get_string(s0, "metadata.name"), "web-", 4), 0);
        const char *name0 = k8c_json_get_string(s0, "metadata.name");
        set_pod_ready("es1", "a", "10.244.3.1", false);
        set_pod_ready("es1", "b", "10.244.3.2", true);
        set_pod_ready("es1", "c", "10.244.3.3", true);
        json_auto_t *s1 = wait_slice("es1", "web", 3, "b", true);
        assert_non_null(s1);
        /* The same slice, updated in place. */
        assert_string_equal(k8c_json_get_string(s1, "metadata.name"), name0);
        json_auto_t *pa = must("GET", "/api/v1/namespaces/es1/pods/a", NULL, 200);
        const json_t *ea = slice_endpoint(s1, "a");
        assert_non_null(ea);
        assert_string_equal(k8c_json_get_string(ea, "addresses[0]"), "10.244.3.1");
        assert_false(ep_cond(ea, "ready"));
        assert_false(ep_cond(ea, "serving"));
        assert_false(ep_cond(ea, "terminating"));
        assert_string_equal(k8c_json_get_string(ea, "targetRef.kind"), "Pod");
        assert_string_equal(k8c_json_get_string(ea, "targetRef.namespace"), "es1");
        assert_string_equal(k8c_json_get_string(ea, "targetRef.uid"),
                            k8c_json_get_string(pa, "metadata.uid"));
        const json_t *eb = slice_endpoint(s1, "b");
        assert_true(ep_cond(eb, "ready"));
        assert_true(ep_cond(eb, "serving"));
        assert_null(json_object_get(eb, "nodeName"));
        const json_t *ec = slice_endpoint(s1, "c");
        assert_string_equal(k8c_json_get_string(ec, "nodeName"), "node-es");
        json_auto_t *want_ports =
                json_pack("[{s:s, s:i, s:s}]", "name", "http", "port", 8080, "protocol", "TCP");
        assert_true(json_equal(json_object_get(s1, "ports"), want_ports));
        /* Readiness swaps follow. */
        set_pod_ready("es1", "a", "10.244.3.1", true);
        set_pod_ready("es1", "b", "10.244.3.2", false);
        json_auto_t *s2 = wait_slice("es1", "web", 3, "b", false);
        assert_non_null(s2);
        assert_true(ep_cond(slice_endpoint(s2, "a"), "ready"));
        /* A scheduled pod being deleted stays for its grace period: terminating, not ready, still serving. */
        json_decref(must("DELETE", "/api/v1/namespaces/es1/pods/c", NULL, 200));
        json_auto_t *s3 = wait_slice("es1", "web", 3, "c", false);
        assert_non_null(s3);
        const json_t *e3 = slice_endpoint(s3, "c");
        assert_true(ep_cond(e3, "terminating"));
        assert_true(ep_cond(e3, "serving"));
        /* kubectl lists it. */
        char *out = NULL;
        kubectl_ok(&out, "get endpointslices -n es1");
        assert_non_null(strstr(out, name0));
        assert_non_null(strstr(out, "IPv4"));
        free(out);
        /* A Service without a selector gets none; deleting the Service removes its slices. */
        json_decref(must("POST", "/api/v1/namespaces/es1/services",
                         json_pack("{s:s, s:s, s:{s:s}, s:{s:[{s:i}]}}", "apiVersion", "v1", "kind",
                                   "Service", "metadata", "name", "manual", "spec", "ports", "port", 80),
                         201));
        json_decref(must("DELETE", "/api/v1/namespaces/es1/services/web", NULL, 200));
        size_t left = 1;
        for (int i = 0; i < 100 && left != 0; i++) {
                json_auto_t *items = list_slices("es1", "web");
                left = json_array_size(items);
                sleep_ms(100);
        }
        assert_int_equal(left, 0);
        json_auto_t *manual = list_slices("es1", "manual");
        assert_int_equal(json_array_size(manual), 0);
}

static void test_gc_cascades_through_kinds(void **state)
{
        /* Deployment → ReplicaSet → pods, and a ConfigMap owned by the Deployment: deleting the Deployment
         * (Background) removes them all, level by level. */
        make_ns("gc5");
        json_auto_t *d =
                must("POST", "/apis/apps/v1/namespaces/gc5/deployments", deploy_obj("busybox:1"), 201);
        char *h = wait_rollout("gc5", "busybox:1", 1, 1);
        assert_non_null(h);
        free(h);
        json_decref(wait_pods("gc5", NULL, 3, NULL));
        json_t *cm =
                json_pack("{s:s, s:s, s:{s:s, s:[{s:s, s:s, s:s, s:s}]}}", "apiVersion", "v1", "kind",
                          "ConfigMap", "metadata", "name", "cfg", "ownerReferences", "apiVersion", "apps/v1",
                          "kind", "Deployment", "name", "web", "uid", k8c_json_get_string(d, "metadata.uid"));
        json_decref(must("POST", "/api/v1/namespaces/gc5/configmaps", cm, 201));
        json_decref(must("DELETE", "/apis/apps/v1/namespaces/gc5/deployments/web", NULL, 200));
        json_auto_t *none = wait_pods("gc5", NULL, 0, NULL);
        assert_int_equal(json_array_size(none), 0);
        long code = 0;
        for (int i = 0; i < 200; i++) {
                json_decref(req("GET", "/api/v1/namespaces/gc5/configmaps/cfg", NULL, NULL, &code));
                if (code == 404)
                        break;
                sleep_ms(100);
        }
        assert_int_equal(code, 404);
        json_auto_t *rsl = must("GET", "/apis/apps/v1/namespaces/gc5/replicasets", NULL, 200);
        assert_int_equal(json_array_size(json_object_get(rsl, "items")), 0);
}

/* ---- namespace ---- */

static void test_namespace_deletion_removes_content(void **state)
{
        make_ns("ns1");
        json_auto_t *rs = create_rs("ns1", "web", 2);
        json_decref(wait_pods("ns1", NULL, 2, k8c_json_get_string(rs, "metadata.uid")));
        json_decref(must("POST", "/api/v1/namespaces/ns1/configmaps",
                         json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                                   "metadata", "name", "cfg", "data", "k", "v"),
                         201));
        json_decref(must("POST", "/api/v1/namespaces/ns1/secrets",
                         json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "Secret",
                                   "metadata", "name", "sec", "stringData", "k", "v"),
                         201));
        json_decref(must("POST", "/api/v1/namespaces/ns1/services",
                         json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s}, s:[{s:i}]}}", "apiVersion", "v1", "kind",
                                   "Service", "metadata", "name", "web", "spec", "selector", "app", "web",
                                   "ports", "port", 80),
                         201));
        json_auto_t *del = must("DELETE", "/api/v1/namespaces/ns1", NULL, 200);
        assert_string_equal(k8c_json_get_string(del, "status.phase"), "Terminating");
        /* The controller empties it, then finalizes it, and the apiserver drops it. */
        long code = 0;
        for (int i = 0; i < 300; i++) {
                json_decref(req("GET", "/api/v1/namespaces/ns1", NULL, NULL, &code));
                if (code == 404)
                        break;
                sleep_ms(100);
        }
        assert_int_equal(code, 404);
        const char *const lists[] = {
                "/api/v1/namespaces/ns1/pods",      "/api/v1/namespaces/ns1/configmaps",
                "/api/v1/namespaces/ns1/secrets",   "/api/v1/namespaces/ns1/services",
                "/api/v1/namespaces/ns1/endpoints", "/apis/apps/v1/namespaces/ns1/replicasets"
        };
        for (size_t k = 0; k < K8C_ARRAY_SIZE_T(lists); k++) {
                json_auto_t *l = req("GET", lists[k], NULL, NULL, &code);
                if (code == 200)
                        assert_int_equal(json_array_size(json_object_get(l, "items")), 0);
                else
                        assert_int_equal(code, 404);
        }
}

/* ---- nodes ---- */

static void create_node(const char *name)
{
        json_decref(must("POST", "/api/v1/nodes",
                         json_pack("{s:s, s:s, s:{s:s}, s:{}}", "apiVersion", "v1", "kind", "Node",
                                   "metadata", "name", name, "spec"),
                         201));
}

static void test_nodeipam_assigns_distinct_cidrs(void **state)
{
        create_node("ipam-a");
        create_node("ipam-b");
        create_node("ipam-c");
        const char *names[] = { "ipam-a", "ipam-b", "ipam-c" };
        char seen[3][32] = { "", "", "" };
        for (int n = 0; n < 3; n++) {
                char path[128];
                snprintf(path, sizeof(path), "/api/v1/nodes/%s", names[n]);
                for (int i = 0; i < 200; i++) {
                        json_auto_t *node = must("GET", path, NULL, 200);
                        const char *cidr = k8c_json_get_string(node, "spec.podCIDR");
                        if (cidr != NULL) {
                                snprintf(seen[n], sizeof(seen[n]), "%s", cidr);
                                assert_string_equal(k8c_json_get_string(node, "spec.podCIDRs[0]"), cidr);
                                break;
                        }
                        sleep_ms(100);
                }
        }
        /* Three different /24s from 10.244.0.0/16: these are the first three, in some order. */
        int found[3] = { 0, 0, 0 };
        for (int n = 0; n < 3; n++) {
                if (strcmp(seen[n], "10.244.0.0/24") == 0)
                        found[0]++;
                else if (strcmp(seen[n], "10.244.1.0/24") == 0)
                        found[1]++;
                else if (strcmp(seen[n], "10.244.2.0/24") == 0)
                        found[2]++;
                else
                        fail_msg("unexpected podCIDR %s", seen[n]);
        }
        assert_int_equal(found[0], 1);
        assert_int_equal(found[1], 1);
        assert_int_equal(found[2], 1);
}

static void test_nodelifecycle_unreachable_node(void **state)
{
        make_ns("nl1");
        create_node("lost");
        char now[40];
        time_t t = time(NULL);
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S.000000Z", gmtime(&t));
        json_decref(
                must("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                     json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:i, s:s}}", "apiVersion",
                               "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", "lost", "spec",
                               "holderIdentity", "lost", "leaseDurationSeconds", 40, "renewTime", now),
                     201));
        /* A pod bound to the node, running and ready, tolerating the unreachable taint for 2 s (without
         * one, the apiserver's default toleration would keep it 300 s, as in Kubernetes). */
        json_t *p = pod_obj("victim", "x");
        json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string("lost"));
        json_object_set_new(json_object_get(p, "spec"), "tolerations",
                            json_pack("[{s:s, s:s, s:s, s:i}]", "key", "node.kubernetes.io/unreachable",
                                      "operator", "Exists", "effect", "NoExecute", "tolerationSeconds", 2));
        json_decref(must("POST", "/api/v1/namespaces/nl1/pods", p, 201));
        set_pod_ready("nl1", "victim", "10.244.9.9", true);
        /* The Lease is never renewed: after 3 s the node is tainted and Unknown, the pod not ready... */
        bool tainted = false;
        for (int i = 0; i < 150 && !tainted; i++) {
                json_auto_t *node = must("GET", "/api/v1/nodes/lost", NULL, 200);
                json_t *taints = k8c_json_get(node, "spec.taints");
                if (json_array_size(taints) == 2) {
                        tainted = true;
                        assert_string_equal(k8c_json_get_string(taints, "[0].key"),
                                            "node.kubernetes.io/unreachable");
                        assert_string_equal(k8c_json_get_string(taints, "[0].effect"), "NoSchedule");
                        assert_string_equal(k8c_json_get_string(taints, "[1].key"),
                                            "node.kubernetes.io/unreachable");
                        assert_string_equal(k8c_json_get_string(taints, "[1].effect"), "NoExecute");
                }
                if (!tainted)
                        sleep_ms(100);
        }
        assert_true(tainted);
        bool unknown = false;
        for (int i = 0; i < 100 && !unknown; i++) {
                json_auto_t *node = must("GET", "/api/v1/nodes/lost", NULL, 200);
                const char *s = k8c_json_get_string(node, "status.conditions[0].status");
                unknown = s != NULL && strcmp(s, "Unknown") == 0 &&
                          strcmp(k8c_json_get_string(node, "status.conditions[0].type"), "Ready") == 0;
                if (!unknown)
                        sleep_ms(100);
        }
        assert_true(unknown);
        /* ...marked not ready at once, and deleted once its toleration runs out. */
        bool not_ready = false, evicted = false;
        for (int i = 0; i < 150 && !evicted; i++) {
                long code = 0;
                json_auto_t *pod = req("GET", "/api/v1/namespaces/nl1/pods/victim", NULL, NULL, &code);
                evicted = code == 404 || k8c_json_get(pod, "metadata.deletionTimestamp") != NULL;
                if (code == 200) {
                        const char *ready = k8c_json_get_string(pod, "status.conditions[0].status");
                        const char *reason = k8c_json_get_string(pod, "status.conditions[0].reason");
                        if (ready != NULL && strcmp(ready, "False") == 0 && reason != NULL &&
                            strcmp(reason, "NodeNotReady") == 0)
                                not_ready = true;
                }
                if (!evicted)
                        sleep_ms(100);
        }
        assert_true(not_ready);
        assert_true(evicted);
        /* The kubelet comes back and renews its Lease: the unreachable taints are lifted. */
        t = time(NULL);
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S.000000Z", gmtime(&t));
        long code = 0;
        json_decref(req("PATCH", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/lost",
                        "application/merge-patch+json", json_pack("{s:{s:s}}", "spec", "renewTime", now),
                        &code));
        assert_int_equal(code, 200);
        size_t left = 2;
        for (int i = 0; i < 100 && left != 0; i++) {
                json_auto_t *node = must("GET", "/api/v1/nodes/lost", NULL, 200);
                left = json_array_size(k8c_json_get(node, "spec.taints"));
                if (left != 0)
                        sleep_ms(100);
        }
        assert_int_equal(left, 0);
}

/* ---- the manager itself ---- */

static void test_manager_health_and_metrics(void **state)
{
        char *body = NULL;
        assert_int_equal(cm_get("/healthz", &body), 200);
        assert_string_equal(body, "ok");
        free(body);
        assert_int_equal(cm_get("/metrics", &body), 200);
        assert_non_null(strstr(body, "k8c_controller_manager_leader 1\n"));
        assert_non_null(strstr(body, "k8c_controller_syncs_total{controller=\"replicaset\"}"));
        assert_non_null(strstr(body, "k8c_controller_syncs_total{controller=\"garbagecollector\"}"));
        assert_non_null(strstr(body, "k8c_controller_syncs_total{controller=\"endpoints\"}"));
        assert_non_null(strstr(body, "k8c_controller_syncs_total{controller=\"deployment\"}"));
        assert_non_null(strstr(body, "k8c_controller_syncs_total{controller=\"namespace\"}"));
        assert_non_null(strstr(body, "k8c_controller_syncs_total{controller=\"nodeipam\"}"));
        assert_non_null(strstr(body, "k8c_controller_syncs_total{controller=\"nodelifecycle\"}"));
        free(body);
        assert_int_equal(cm_get("/nope", NULL), 404);
}

static void test_manager_leader_election(void **state)
{
        /* A second manager with --leader-elect: it leads (nobody else
         * campaigns), holds the Lease, serves; SIGTERM stops it cleanly and releases the Lease. */
        int port = free_port();
        int saved = cm_port;
        const char *const extra[] = { "--leader-elect", "--controllers=-nodelifecycle,*", NULL };
        pid_t pid = start_cm(port, extra);
        assert_true(pid > 0);
        cm_port = port;
        bool ready = false;
        for (int i = 0; i < 200 && !ready; i++) {
                ready = cm_get("/readyz", NULL) == 200;
                if (!ready)
                        sleep_ms(100);
        }
        assert_true(ready);
        char *body = NULL;
        assert_int_equal(cm_get("/metrics", &body), 200);
        assert_non_null(strstr(body, "k8c_controller_manager_leader 1\n"));
        free(body);
        cm_port = saved;
        json_auto_t *lease = must(
                "GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/k8c-controller-manager",
                NULL, 200);
        assert_non_null(k8c_json_get_string(lease, "spec.holderIdentity"));
        int st = stop_pid(pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
}

static int metrics_leader(int port)
{
        int saved = cm_port;
        cm_port = port;
        char *body = NULL;
        long code = cm_get("/metrics", &body);
        cm_port = saved;
        int leader = -1;
        if (code == 200 && body != NULL)
                leader = strstr(body, "k8c_controller_manager_leader 1\n") != NULL ? 1 : 0;
        free(body);
        return leader;
}

static void test_manager_leader_failover(void **state)
{
        /* Two candidates: exactly one leads; when it stops (releasing the Lease), the other takes over. */
        const char *const extra[] = { "--leader-elect", "--controllers=-nodelifecycle,*", NULL };
        int pa = free_port(), pb = free_port();
        pid_t a = start_cm(pa, extra);
        assert_true(a > 0);
        int la = -1, lb = -1;
        for (int i = 0; i < 100 && la != 1; i++) {
                la = metrics_leader(pa);
                if (la != 1)
                        sleep_ms(100);
        }
        assert_int_equal(la, 1);
        pid_t b = start_cm(pb, extra);
        assert_true(b > 0);
        for (int i = 0; i < 100 && lb != 0; i++) {
                lb = metrics_leader(pb);
                if (lb != 0)
                        sleep_ms(100);
        }
        assert_int_equal(lb, 0);
        sleep_ms(1000);
        assert_int_equal(metrics_leader(pb), 0); /* still a follower while a leads */
        int st = stop_pid(a);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        for (int i = 0; i < 150 && lb != 1; i++) {
                lb = metrics_leader(pb);
                if (lb != 1)
                        sleep_ms(100);
        }
        assert_int_equal(lb, 1);
        st = stop_pid(b);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
                char *cmd = NULL;
                if (asprintf(&cmd, "tail -n 60 %s >&2", cm_log) >= 0 && system(cmd) != 0)
                        fprintf(stderr, "could not show %s\n", cm_log);
                free(cmd);
        }
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_manager_health_and_metrics),
                cmocka_unit_test(test_rs_creates_and_replaces),
                cmocka_unit_test(test_rs_scales_up_and_down),
                cmocka_unit_test(test_rs_releases_relabelled_pod),
                cmocka_unit_test(test_rs_adopts_existing_pods),
                cmocka_unit_test(test_deployment_rollout_and_rollback),
                cmocka_unit_test(test_deployment_conditions_and_rolling_bounds),
                cmocka_unit_test(test_deployment_progress_deadline_exceeded),
                cmocka_unit_test(test_deployment_rollout_undo_and_history),
                cmocka_unit_test(test_deployment_pause_resume),
                cmocka_unit_test(test_deployment_recreate),
                cmocka_unit_test(test_deployment_adopts_orphan_and_restarts),
                cmocka_unit_test(test_deployment_min_ready_seconds),
                cmocka_unit_test(test_hpa_scales_up_to_computed_and_down_after_window),
                cmocka_unit_test(test_hpa_limits_and_missing_metrics),
                cmocka_unit_test(test_pv_binder_binds_smallest_match),
                cmocka_unit_test(test_pv_binder_reclaim_policies),
                cmocka_unit_test(test_endpointslices_mirror_endpoints),
                cmocka_unit_test(test_gc_background_deletes_pods),
                cmocka_unit_test(test_gc_orphan_keeps_pods),
                cmocka_unit_test(test_gc_foreground),
                cmocka_unit_test(test_gc_dangling_reference),
                cmocka_unit_test(test_gc_cascades_through_kinds),
                cmocka_unit_test(test_endpoints_follow_readiness),
                cmocka_unit_test(test_endpoints_service_without_selector_left_alone),
                cmocka_unit_test(test_namespace_deletion_removes_content),
                cmocka_unit_test(test_nodeipam_assigns_distinct_cidrs),
                cmocka_unit_test(test_nodelifecycle_unreachable_node),
                cmocka_unit_test(test_manager_leader_election),
                cmocka_unit_test(test_manager_leader_failover),
        };
        /* K8C_TEST_FILTER=test_deployment* runs a subset while iterating. */
        if (getenv("K8C_TEST_FILTER") != NULL)
                cmocka_set_test_filter(getenv("K8C_TEST_FILTER"));
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

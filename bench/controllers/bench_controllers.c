/*
 * bench_controllers - the controller manager against the real apiserver on
 * loopback (release binaries from $BINDIR): a ReplicaSet scaled 0 → 1,000 and
 * back, a 1,000-replica Deployment brought up and rolled out (pods marked Ready by
 * this program, as kubelets would), and how long a pod's readiness change takes to
 * reach its Service's Endpoints and EndpointSlice (percentiles over many flips,
 * read from informer caches). Figures are printed, never asserted.
 */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../tests/common/apiserver_harness.h"
#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/informer.h"
#include "k8c/json.h"

static struct k8c_test_apiserver api;
static struct k8c_client *cl;

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

static pid_t start_cm(const char *bindir)
{
        char bin[1024], server[160], log[1200];
        snprintf(bin, sizeof(bin), "%s/k8c-controller-manager", bindir);
        snprintf(server, sizeof(server), "--server=%s", api.url);
        snprintf(log, sizeof(log), "%s/controller-manager.log", api.dir);
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent || freopen(log, "a", stderr) == NULL)
                        _exit(127);
                execl(bin, bin, server, "--port=0",
                      "--controllers=replicaset,deployment,endpoints,endpointslice", (char *)NULL);
                _exit(127);
        }
        return pid;
}

static json_t *get(const char *path)
{
        json_t *out = NULL;
        cleanup_error k8c_error_t err = NULL;
        if (k8c_client_get(cl, path, &out, &err) < 0)
                return NULL;
        return out;
}

static void post(const char *path, json_t *body /* stolen */)
{
        cleanup_error k8c_error_t err = NULL;
        if (k8c_client_post(cl, path, body, NULL, &err) < 0)
                fprintf(stderr, "POST %s: %s\n", path, k8c_error_msg(&err));
        json_decref(body);
}

static void merge_patch(const char *path, json_t *body /* stolen */, const char *type)
{
        cleanup_error k8c_error_t err = NULL;
        for (int i = 0; i < 50; i++) {
                k8c_error_release(&err);
                if (k8c_client_patch(cl, path, type, body, NULL, &err) == 0 ||
                    k8c_error_reason(&err) != K8C_ECONFLICT)
                        break;
        }
        if (err != NULL && k8c_error_reason(&err) != K8C_ENOTFOUND)
                fprintf(stderr, "PATCH %s: %s\n", path, k8c_error_msg(&err));
        json_decref(body);
}

static void make_ns(const char *ns)
{
        post("/api/v1/namespaces", json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                                             "metadata", "name", ns));
}

static json_t *pod_status_patch(const char *ip, bool ready)
{
        char now[32];
        time_t t = time(NULL);
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
        return json_pack("{s:{s:s, s:s, s:[{s:s, s:s, s:s}]}}", "status", "phase", "Running", "podIP", ip,
                         "conditions", "type", "Ready", "status", ready ? "True" : "False",
                         "lastTransitionTime", now);
}

/* ---- a kubelet stand-in: marks every not-ready pod of a namespace Ready ---- */

struct marker {
        const char *ns;
        atomic_bool stop;
        atomic_long marked;
        pthread_t thread;
};

static void *marker_main(void *o)
{
        struct marker *m = o;
        unsigned ip = 0;
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", m->ns);
        while (!atomic_load(&m->stop)) {
                json_auto_t *l = get(path);
                size_t i, n = 0;
                json_t *p;
                json_array_foreach(json_object_get(l, "items"), i, p)
                {
                        const char *st = k8c_json_get_string(p, "status.conditions[0].status");
                        if (k8c_json_get(p, "metadata.deletionTimestamp") != NULL ||
                            (st != NULL && strcmp(st, "True") == 0))
                                continue;
                        char ppath[384], ips[32];
                        snprintf(ppath, sizeof(ppath), "/api/v1/namespaces/%s/pods/%s/status", m->ns,
                                 k8c_json_get_string(p, "metadata.name"));
                        ip++;
                        snprintf(ips, sizeof(ips), "10.%u.%u.%u", 100 + (ip >> 16) % 100, (ip >> 8) & 255,
                                 ip & 255);
                        merge_patch(ppath, pod_status_patch(ips, true),
                                    "application/strategic-merge-patch+json");
                        n++;
                }
                atomic_fetch_add(&m->marked, (long)n);
                if (n == 0)
                        sleep_ms(20);
        }
        return NULL;
}

/* ---- ReplicaSet 0 → 1,000 → 0 ---- */

static void bench_replicaset(int n)
{
        make_ns("bench-rs");
        post("/apis/apps/v1/namespaces/bench-rs/replicasets",
             json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s}}, s:{s:[{s:s, s:s}]}}}}",
                       "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name", "web", "spec",
                       "replicas", 0, "selector", "matchLabels", "app", "web", "template", "metadata",
                       "labels", "app", "web", "spec", "containers", "name", "c", "image", "busybox"));
        sleep_ms(200);
        double t0 = now_s(), t_pods = 0, t_status = 0;
        merge_patch("/apis/apps/v1/namespaces/bench-rs/replicasets/web/scale",
                    json_pack("{s:{s:i}}", "spec", "replicas", n), "application/merge-patch+json");
        while (now_s() - t0 < 300) {
                json_auto_t *rs = get("/apis/apps/v1/namespaces/bench-rs/replicasets/web");
                if (t_status == 0 && k8c_json_get_int(rs, "status.replicas", 0) == n) {
                        t_status = now_s() - t0;
                        break;
                }
                sleep_ms(20);
        }
        json_auto_t *pods = get("/api/v1/namespaces/bench-rs/pods");
        size_t have = json_array_size(json_object_get(pods, "items"));
        t_pods = now_s() - t0;
        printf("%-46s %8.2f s  %7.0f pods/s  (%zu pods listed)\n",
               "replicaset 0 -> 1000: status.replicas=1000", t_status, t_status > 0 ? n / t_status : 0, have);
        (void)t_pods;
        t0 = now_s();
        t_status = 0;
        merge_patch("/apis/apps/v1/namespaces/bench-rs/replicasets/web/scale",
                    json_pack("{s:{s:i}}", "spec", "replicas", 0), "application/merge-patch+json");
        while (now_s() - t0 < 300) {
                json_auto_t *rs = get("/apis/apps/v1/namespaces/bench-rs/replicasets/web");
                if (k8c_json_get_int(rs, "status.replicas", -1) == 0 &&
                    k8c_json_get_int(rs, "status.observedGeneration", 0) ==
                            k8c_json_get_int(rs, "metadata.generation", -1)) {
                        t_status = now_s() - t0;
                        break;
                }
                sleep_ms(20);
        }
        printf("%-46s %8.2f s  %7.0f pods/s\n", "replicaset 1000 -> 0: status.replicas=0", t_status,
               t_status > 0 ? n / t_status : 0);
}

/* ---- Deployment of 1,000, then a rollout ---- */

static bool deployment_done(int n, int rev)
{
        json_auto_t *d = get("/apis/apps/v1/namespaces/bench-dp/deployments/web");
        const char *r = k8c_json_get_string(d, "metadata.annotations[\"deployment.kubernetes.io/revision\"]");
        return r != NULL && atoi(r) == rev && k8c_json_get_int(d, "status.updatedReplicas", -1) == n &&
               k8c_json_get_int(d, "status.replicas", -1) == n &&
               k8c_json_get_int(d, "status.availableReplicas", -1) == n &&
               k8c_json_get_int(d, "status.observedGeneration", 0) ==
                       k8c_json_get_int(d, "metadata.generation", -1);
}

static void bench_deployment(int n)
{
        make_ns("bench-dp");
        struct marker m = { .ns = "bench-dp" };
        pthread_create(&m.thread, NULL, marker_main, &m);
        double t0 = now_s(), t1 = 0;
        post("/apis/apps/v1/namespaces/bench-dp/deployments",
             json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:{s:{s:s}}, s:{s:s, s:{s:s, s:s}}, s:{s:{s:{s:s}}, "
                       "s:{s:[{s:s, s:s}]}}}}",
                       "apiVersion", "apps/v1", "kind", "Deployment", "metadata", "name", "web", "spec",
                       "replicas", n, "selector", "matchLabels", "app", "web", "strategy", "type",
                       "RollingUpdate", "rollingUpdate", "maxSurge", "25%", "maxUnavailable", "25%",
                       "template", "metadata", "labels", "app", "web", "spec", "containers", "name", "c",
                       "image", "busybox:1"));
        while (now_s() - t0 < 600 && !deployment_done(n, 1))
                sleep_ms(50);
        t1 = now_s() - t0;
        printf("%-46s %8.2f s\n", "deployment 1000 replicas, all available", t1);
        t0 = now_s();
        merge_patch("/apis/apps/v1/namespaces/bench-dp/deployments/web",
                    json_pack("{s:{s:{s:{s:[{s:s, s:s}]}}}}", "spec", "template", "spec", "containers",
                              "name", "c", "image", "busybox:2"),
                    "application/strategic-merge-patch+json");
        while (now_s() - t0 < 600 && !deployment_done(n, 2))
                sleep_ms(50);
        t1 = now_s() - t0;
        printf("%-46s %8.2f s  (%ld pods marked Ready in all)\n",
               "rollout of 1000 pods (25% surge/25% unavail.)", t1, atomic_load(&m.marked));
        atomic_store(&m.stop, true);
        pthread_join(m.thread, NULL);
}

/* ---- readiness → Endpoints / EndpointSlice latency ---- */

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static void print_pct(const char *label, double *v, int n)
{
        qsort(v, (size_t)n, sizeof(double), cmp_double);
        printf("%-46s p50 %6.1f ms  p90 %6.1f ms  p99 %6.1f ms  max %6.1f ms  (n=%d)\n", label,
               v[n / 2] * 1000, v[n * 9 / 10] * 1000, v[n * 99 / 100] * 1000, v[n - 1] * 1000, n);
}

/* Whether ip is in the Endpoints' ready addresses (want_ready) or its notReadyAddresses. */
static bool endpoints_show(struct k8c_informer *inf, const char *ip, bool want_ready)
{
        json_auto_t *ep = k8c_informer_get(inf, "bench-ep/web");
        size_t i, j;
        json_t *s, *a;
        json_array_foreach(json_object_get(ep, "subsets"), i, s)
        {
                json_array_foreach(json_object_get(s, want_ready ? "addresses" : "notReadyAddresses"), j, a)
                {
                        const char *x = json_string_value(json_object_get(a, "ip"));
                        if (x != NULL && strcmp(x, ip) == 0)
                                return true;
                }
        }
        return false;
}

static bool slice_shows(struct k8c_informer *inf, const char *ip, bool want_ready)
{
        json_auto_t *all = k8c_informer_list(inf);
        size_t i, j;
        json_t *s, *e;
        json_array_foreach(all, i, s)
        {
                json_array_foreach(json_object_get(s, "endpoints"), j, e)
                {
                        const char *x = k8c_json_get_string(e, "addresses[0]");
                        if (x != NULL && strcmp(x, ip) == 0)
                                return json_is_true(k8c_json_get(e, "conditions.ready")) == want_ready;
                }
        }
        return false;
}

static void bench_endpoints(int npods, int flips)
{
        make_ns("bench-ep");
        for (int i = 0; i < npods; i++) {
                char name[32], path[256], ip[32];
                snprintf(name, sizeof(name), "p%03d", i);
                snprintf(ip, sizeof(ip), "10.200.%d.%d", i / 250, i % 250 + 1);
                post("/api/v1/namespaces/bench-ep/pods",
                     json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:[{s:s, s:s, s:[{s:s, s:i}]}]}}",
                               "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "labels", "app",
                               "web", "spec", "containers", "name", "c", "image", "busybox", "ports", "name",
                               "http", "containerPort", 8080));
                snprintf(path, sizeof(path), "/api/v1/namespaces/bench-ep/pods/%s/status", name);
                merge_patch(path, pod_status_patch(ip, true), "application/strategic-merge-patch+json");
        }
        post("/api/v1/namespaces/bench-ep/services",
             json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s}, s:[{s:s, s:i, s:s}]}}", "apiVersion", "v1", "kind",
                       "Service", "metadata", "name", "web", "spec", "selector", "app", "web", "ports",
                       "name", "http", "port", 80, "targetPort", "http"));
        struct k8c_informer_config ec = { .client = cl, .path = "/api/v1/namespaces/bench-ep/endpoints" };
        struct k8c_informer_config sc = {
                .client = cl, .path = "/apis/discovery.k8s.io/v1/namespaces/bench-ep/endpointslices"
        };
        struct k8c_informer *ep = k8c_informer_new(&ec), *sl = k8c_informer_new(&sc);
        cleanup_error k8c_error_t err = NULL;
        if (k8c_informer_start(ep, &err) < 0 || k8c_informer_start(sl, &err) < 0) {
                fprintf(stderr, "informers: %s\n", k8c_error_msg(&err));
                k8c_informer_free(ep);
                k8c_informer_free(sl);
                return;
        }
        k8c_informer_wait_synced(ep, 10000);
        k8c_informer_wait_synced(sl, 10000);
        /* Everything in place first. */
        double t0 = now_s();
        while (now_s() - t0 < 30 &&
               !(endpoints_show(ep, "10.200.0.1", true) && slice_shows(sl, "10.200.0.1", true)))
                sleep_ms(10);
        double *lat_ep = calloc((size_t)flips, sizeof(double)),
               *lat_sl = calloc((size_t)flips, sizeof(double));
        int done = 0;
        for (int k = 0; k < flips; k++) {
                int i = k % npods;
                bool ready = (k / npods) % 2 == 1; /* first round: to not-ready, then back */
                char path[256], ip[32];
                snprintf(path, sizeof(path), "/api/v1/namespaces/bench-ep/pods/p%03d/status", i);
                snprintf(ip, sizeof(ip), "10.200.%d.%d", i / 250, i % 250 + 1);
                double start = now_s();
                merge_patch(path, pod_status_patch(ip, ready), "application/strategic-merge-patch+json");
                double e = 0, s = 0;
                while (now_s() - start < 10 && (e == 0 || s == 0)) {
                        if (e == 0 && endpoints_show(ep, ip, ready))
                                e = now_s() - start;
                        if (s == 0 && slice_shows(sl, ip, ready))
                                s = now_s() - start;
                        if (e == 0 || s == 0) {
                                struct timespec ts = { 0, 200000 };
                                nanosleep(&ts, NULL);
                        }
                }
                lat_ep[done] = e > 0 ? e : 10;
                lat_sl[done] = s > 0 ? s : 10;
                done++;
        }
        char label[96];
        snprintf(label, sizeof(label), "readiness -> Endpoints (%d pods behind it)", npods);
        print_pct(label, lat_ep, done);
        snprintf(label, sizeof(label), "readiness -> EndpointSlice (%d pods)", npods);
        print_pct(label, lat_sl, done);
        free(lat_ep);
        free(lat_sl);
        k8c_informer_free(ep);
        k8c_informer_free(sl);
}

int main(void)
{
        const char *bindir_env = getenv("BINDIR");
        char *bindir = realpath(bindir_env != NULL ? bindir_env : "bin", NULL);
        if (bindir == NULL) {
                fprintf(stderr, "bench_controllers: no BINDIR\n");
                return 1;
        }
        setenv("K8C_BINDIR", bindir, 1);
        unsetenv("K8C_ASAN_BINDIR");
        if (k8c_test_apiserver_start(&api, NULL) < 0) {
                fprintf(stderr, "bench_controllers: cannot start k8c-apiserver\n");
                free(bindir);
                return 1;
        }
        struct k8c_client_config cfg = { .server = api.url };
        k8c_client_new(&cfg, &cl, NULL);
        pid_t cm = start_cm(bindir);
        free(bindir);
        /* Warm up: the manager is serving once a one-pod ReplicaSet has its pod. */
        make_ns("bench-warm");
        post("/apis/apps/v1/namespaces/bench-warm/replicasets",
             json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s}}, s:{s:[{s:s, s:s}]}}}}",
                       "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name", "warm", "spec",
                       "replicas", 1, "selector", "matchLabels", "app", "warm", "template", "metadata",
                       "labels", "app", "warm", "spec", "containers", "name", "c", "image", "busybox"));
        for (int i = 0; i < 300; i++) {
                json_auto_t *l = get("/api/v1/namespaces/bench-warm/pods");
                if (json_array_size(json_object_get(l, "items")) == 1)
                        break;
                sleep_ms(100);
        }
        printf("k8c-controller-manager (2 workers per controller) against k8c-apiserver (SQLite), "
               "loopback\n");
        bench_replicaset(1000);
        bench_deployment(1000);
        bench_endpoints(100, 200);
        kill(cm, SIGTERM);
        int st = 0;
        waitpid(cm, &st, 0);
        k8c_client_free(cl);
        k8c_test_apiserver_stop(&api);
        return 0;
}

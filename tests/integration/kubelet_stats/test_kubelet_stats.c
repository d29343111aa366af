/*
 * Integration tests of the kubelet's stats and eviction and of the resource
 * metrics API, against the real k8c-apiserver on loopback with the kubelet
 * in-process (its API on 127.0.0.1, which is also its InternalIP, so the
 * apiserver scrapes it there):
 *
 *   - synthetic: the fake runtime and a stats source whose numbers the test
 *     sets: /stats/summary, metrics.k8s.io (discovery, nodes, pods), k8cctl
 *     top and kubectl top; then memory pressure: MemoryPressure True, the pod
 *     furthest above its request evicted (Failed/Evicted, Kubernetes' message,
 *     an Evicted event) and no other pod once the node has room again.
 *   - runc (root): a busy busybox pod shows cpu and memory in /stats/summary,
 *     the metrics API and k8cctl top; and on a node whose cgroup parent has a
 *     small memory limit a BestEffort pod filling memory is evicted while a
 *     Guaranteed pod keeps running.
 *
 * Everything made (runc containers, netns files, mounts, cgroups) carries the
 * prefix k8cs<pid> or lives under the test's temp dir and is removed in teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../common/apiserver_harness.h"
#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/client.h"
#include "k8c/json.h"
#include "k8c/kubelet.h"

#define MI (1024ll * 1024)

struct fixture {
        struct k8c_test_apiserver srv;
        struct k8c_client *client;
        struct k8c_kubelet *k; /* stopped by teardown even when an assertion fails */
        char root[64];
        char prefix[32]; /* k8cs<pid>: cgroup parent, runc names */
        bool runc;
};

static int setup(void **state)
{
        struct fixture *f = k8c_xcalloc(1, sizeof(*f));
        if (k8c_test_apiserver_start(&f->srv, NULL) < 0) {
                free(f);
                return -1;
        }
        struct k8c_client_config cfg = { .server = f->srv.url, .max_retries = 2 };
        if (k8c_client_new(&cfg, &f->client, NULL) < 0)
                return -1;
        snprintf(f->root, sizeof(f->root), "/tmp/k8cs%d-XXXXXX", (int)getpid());
        if (mkdtemp(f->root) == NULL)
                return -1;
        snprintf(f->prefix, sizeof(f->prefix), "k8cs%d", (int)getpid());
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        k8c_kubelet_stop(f->k);
        if (f->runc) {
                /* Whatever the test left: containers in its runc root, namespace mounts, cgroups. */
                cleanup_free char *kill_all =
                        k8c_xasprintf("for c in $(runc --root '%s/runc' list -q 2>/dev/null); do "
                                      "runc --root '%s/runc' delete -f $c; done",
                                      f->root, f->root);
                if (system(kill_all) != 0)
                        fprintf(stderr, "runc cleanup failed\n");
                cleanup_free char *umounts = k8c_xasprintf("for m in $(awk '{print $5}' /proc/self/mountinfo "
                                                           "| grep '^%s/'); do umount -l $m; done",
                                                           f->root);
                if (system(umounts) != 0)
                        fprintf(stderr, "umount cleanup failed\n");
                cleanup_free char *cg =
                        k8c_xasprintf("find /sys/fs/cgroup -maxdepth 8 -depth -type d -path '*/%s*' "
                                      "-exec rmdir {} + 2>/dev/null; true",
                                      f->prefix);
                if (system(cg) != 0)
                        fprintf(stderr, "cgroup cleanup failed\n");
        }
        k8c_client_free(f->client);
        k8c_test_apiserver_stop(&f->srv);
        cleanup_free char *cmd = k8c_xasprintf("rm -rf '%s'", f->root);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", f->root);
        free(f);
        return 0;
}

/* A loopback port nobody listens on right now. */
static int free_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int port = -1;
        if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
                port = ntohs(sa.sin_port);
        if (fd >= 0)
                close(fd);
        return port;
}

static json_t *get(struct fixture *f, const char *path)
{
        json_t *obj = NULL;
        if (k8c_client_get(f->client, path, &obj, NULL) < 0)
                return NULL;
        return obj;
}

static json_t *wait_for(struct fixture *f, const char *path, bool (*pred)(const json_t *), int timeout_ms)
{
        for (int waited = 0; waited <= timeout_ms; waited += 100) {
                json_t *obj = get(f, path);
                if (obj != NULL && pred(obj))
                        return obj;
                json_decref(obj);
                usleep(100 * 1000);
        }
        return NULL;
}

static const char *cond_status(const json_t *obj, const char *type)
{
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(obj, "status.conditions"), i, c)
        {
                if (strcmp(json_string_value(json_object_get(c, "type")) ?: "", type) == 0)
                        return json_string_value(json_object_get(c, "status")) ?: "";
        }
        return "";
}

static bool running(const json_t *p)
{
        return strcmp(k8c_json_get_string(p, "status.phase") ?: "", "Running") == 0 &&
               strcmp(cond_status(p, "Ready"), "True") == 0;
}

static bool evicted(const json_t *p)
{
        return strcmp(k8c_json_get_string(p, "status.phase") ?: "", "Failed") == 0 &&
               strcmp(k8c_json_get_string(p, "status.reason") ?: "", "Evicted") == 0;
}

static bool memory_pressure(const json_t *n)
{
        return strcmp(cond_status(n, "MemoryPressure"), "True") == 0;
}

static bool no_memory_pressure(const json_t *n)
{
        return strcmp(cond_status(n, "MemoryPressure"), "False") == 0;
}

/* GET on the kubelet API. */
static json_t *kubelet_get(int port, const char *path)
{
        cleanup_free char *url = k8c_xasprintf("http://127.0.0.1:%d", port);
        struct k8c_client_config cc = { .server = url, .max_retries = 1 };
        struct k8c_client *c = NULL;
        if (k8c_client_new(&cc, &c, NULL) < 0)
                return NULL;
        json_t *body = NULL;
        if (k8c_client_get(c, path, &body, NULL) < 0)
                body = NULL;
        k8c_client_free(c);
        return body;
}

/* Runs k8cctl in-process; returns its exit code, output in *ret_out. */
static int k8cctl(struct fixture *f, char **ret_out, const char *a1, const char *a2, const char *a3)
{
        char *argv[] = { "k8cctl", "--server", f->srv.url, (char *)a1, (char *)a2, (char *)a3, NULL };
        int argc = a3 != NULL ? 6 : a2 != NULL ? 5 : 4;
        char *out = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&out, &len);
        int code = k8c_cli_run(argc, argv, mem, mem);
        fclose(mem);
        if (code != 0)
                fprintf(stderr, "k8cctl %s %s: exit %d: %s\n", a1, a2 ?: "", code, out);
        *ret_out = out;
        return code;
}

/* The line of text starting with word (followed by a space), or NULL. Caller frees. */
static char *line_of(const char *text, const char *word)
{
        size_t n = strlen(word);
        for (const char *l = text; l != NULL && *l != '\0';) {
                const char *nl = strchr(l, '\n');
                if (strncmp(l, word, n) == 0 && l[n] == ' ')
                        return nl != NULL ? strndup(l, (size_t)(nl - l)) : strdup(l);
                l = nl != NULL ? nl + 1 : NULL;
        }
        return NULL;
}

/* The cpu column ("123m") of a top line: millicores, or -1. */
static long top_cpu(const char *line, int column)
{
        cleanup_free char *copy = k8c_xstrdup(line);
        char *save = NULL;
        char *tok = strtok_r(copy, " ", &save);
        for (int i = 0; i < column && tok != NULL; i++)
                tok = strtok_r(NULL, " ", &save);
        if (tok == NULL || tok[strlen(tok) - 1] != 'm')
                return -1;
        return strtol(tok, NULL, 10);
}

/* ---- the synthetic stats source -------------------------------------------------------------------- */

struct synth_pod {
        char uid[64];
        json_t *pod;
        int64_t ws;
        int64_t cpu_milli; /* cores × 1000 it uses */
};

struct synth {
        pthread_mutex_t lock;
        struct k8c_kubelet *k;
        char parent[64];
        int64_t limit;
        struct synth_pod pods[8];
        size_t n;
        int64_t t0_ns;
        int64_t fs_available; /* of a 100Gi filesystem */
};

static struct synth synth = { .lock = PTHREAD_MUTEX_INITIALIZER };
static const char *synth_node = "node-s";

static int64_t mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A pod's memory and cpu count while its container runs in the fake runtime. */
static bool synth_alive(struct synth_pod *p)
{
        void *rt = synth.k != NULL ? k8c_kubelet_runtime(synth.k) : NULL;
        struct k8c_container_state st;
        return rt != NULL && k8c_fake_runtime_ops.container_status(rt, p->pod, "c", &st, NULL) == 0 &&
               st.phase == K8C_CONTAINER_RUNNING;
}

static int synth_cgroup(void *opaque, const char *rel, struct k8c_cgroup_stats *ret)
{
        pthread_mutex_lock(&synth.lock);
        int64_t elapsed = mono_ns() - synth.t0_ns;
        int r = -ENOENT;
        struct k8c_cgroup_stats st = { 0 };
        if (strcmp(rel, synth.parent) == 0) {
                for (size_t i = 0; i < synth.n; i++)
                        if (synth_alive(&synth.pods[i])) {
                                st.memory_working_set += synth.pods[i].ws;
                                st.cpu_ns += (uint64_t)(elapsed / 1000 * synth.pods[i].cpu_milli);
                        }
                st.memory_usage = st.memory_rss = st.memory_working_set;
                st.memory_limit = synth.limit;
                r = 0;
        }
        for (size_t i = 0; i < synth.n && r < 0; i++) {
                cleanup_free char *pod_cg = k8c_xasprintf("%s/pod%s", synth.parent, synth.pods[i].uid);
                cleanup_free char *c_cg = k8c_xasprintf("%s/c", pod_cg);
                if ((strcmp(rel, pod_cg) != 0 && strcmp(rel, c_cg) != 0) || !synth_alive(&synth.pods[i]))
                        continue;
                st.memory_usage = st.memory_rss = st.memory_working_set = synth.pods[i].ws;
                st.cpu_ns = (uint64_t)(elapsed / 1000 * synth.pods[i].cpu_milli);
                r = 0;
        }
        pthread_mutex_unlock(&synth.lock);
        if (r == 0)
                *ret = st;
        return r;
}

static int synth_machine(void *opaque, uint64_t *ret_cpu_ns, int64_t *ret_mem_total, int64_t *ret_mem_ws)
{
        return -ENOENT; /* the node is sized by its cgroup parent's limit */
}

static int synth_fs(void *opaque, const char *path, int64_t *ret_capacity, int64_t *ret_available,
                    int64_t *ret_inodes, int64_t *ret_inodes_free)
{
        pthread_mutex_lock(&synth.lock);
        *ret_capacity = 100ll << 30;
        *ret_available = synth.fs_available;
        pthread_mutex_unlock(&synth.lock);
        *ret_inodes = 1000000;
        *ret_inodes_free = 900000;
        return 0;
}

static const struct k8c_stats_source synth_source = {
        .cgroup = synth_cgroup,
        .machine = synth_machine,
        .fs = synth_fs,
};

static void synth_set_ws(const char *uid, int64_t ws)
{
        pthread_mutex_lock(&synth.lock);
        for (size_t i = 0; i < synth.n; i++)
                if (strcmp(synth.pods[i].uid, uid) == 0)
                        synth.pods[i].ws = ws;
        pthread_mutex_unlock(&synth.lock);
}

/* Creates pod name (one container "c", resources as JSON text or NULL) and registers its usage. */
static char *synth_pod(struct fixture *f, const char *name, const char *resources, int64_t ws,
                       int64_t cpu_milli)
{
        json_auto_t *p =
                json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s, s:[{s:s, s:s}]}}", "apiVersion", "v1", "kind",
                          "Pod", "metadata", "name", name, "labels", "app", name, "spec", "nodeName",
                          synth_node, "containers", "name", "c", "image", "busybox");
        if (resources != NULL)
                k8c_json_set_new(p, "spec.containers[0].resources", json_loads(resources, 0, NULL));
        json_auto_t *created = NULL;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p, &created, &err), 0);
        const char *uid = k8c_json_get_string(created, "metadata.uid");
        pthread_mutex_lock(&synth.lock);
        struct synth_pod *sp = &synth.pods[synth.n++];
        snprintf(sp->uid, sizeof(sp->uid), "%s", uid);
        sp->pod = json_pack("{s:{s:s}}", "metadata", "uid", uid);
        sp->ws = ws;
        sp->cpu_milli = cpu_milli;
        pthread_mutex_unlock(&synth.lock);
        return k8c_xstrdup(uid);
}

static const json_t *summary_pod(const json_t *summary, const char *name)
{
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(summary, "pods"), i, p)
        {
                if (strcmp(k8c_json_get_string(p, "podRef.name") ?: "", name) == 0)
                        return p;
        }
        return NULL;
}

/* Waits until the summary has a cpu rate for every pod and the node. */
static json_t *wait_summary(int port, const char *const *pods, size_t n, int timeout_ms)
{
        for (int waited = 0; waited <= timeout_ms; waited += 100) {
                json_t *s = kubelet_get(port, "/stats/summary");
                bool ok = s != NULL && json_is_integer(k8c_json_get(s, "node.cpu.usageNanoCores"));
                for (size_t i = 0; ok && i < n; i++) {
                        const json_t *p = summary_pod(s, pods[i]);
                        ok = p != NULL && json_is_integer(k8c_json_get(p, "cpu.usageNanoCores")) &&
                             json_is_integer(k8c_json_get(p, "containers[0].cpu.usageNanoCores"));
                }
                if (ok)
                        return s;
                json_decref(s);
                usleep(100 * 1000);
        }
        return NULL;
}

static void assert_near(long long got, long long want, long long tolerance)
{
        if (got < want - tolerance || got > want + tolerance)
                fail_msg("%lld is not within %lld of %lld", got, tolerance, want);
}

static json_t *api_json(struct fixture *f, const char *path, long want_code)
{
        struct k8c_test_http_reply r = { 0 };
        assert_int_equal(k8c_test_http(&f->srv, "GET", path, NULL, NULL, 0, NULL, &r), 0);
        if (r.code != want_code)
                fail_msg("GET %s: %ld %s", path, r.code, r.body ? r.body : "");
        json_t *j = json_loads(r.body, 0, NULL);
        k8c_test_http_reply_free(&r);
        assert_non_null(j);
        return j;
}

static void test_synthetic(void **state)
{
        struct fixture *f = *state;
        int port = free_port();
        assert_true(port > 0);
        pthread_mutex_lock(&synth.lock);
        snprintf(synth.parent, sizeof(synth.parent), "%s-synth", f->prefix);
        synth.limit = 1024 * MI;
        synth.n = 0;
        synth.t0_ns = mono_ns();
        synth.fs_available = 60ll << 30;
        synth.k = NULL;
        pthread_mutex_unlock(&synth.lock);
        struct k8c_kubelet_config cfg = {
                .client = f->client,
                .node_name = "node-s",
                .node_ip = "127.0.0.1",
                .root_dir = f->root,
                .capacity = "cpu=4,memory=8Gi,pods=110",
                .pod_cidr = "10.244.31.0/24",
                .runtime = "fake",
                .cgroup_parent = synth.parent,
                .lease_interval_ms = 200,
                .pod_resync_ms = 300,
                .address = "127.0.0.1",
                .port = port,
                .eviction_hard = "memory.available<600Mi",
                .eviction_pressure_transition_ms = 60000,
                .housekeeping_interval_ms = 200,
                .stats_source = &synth_source,
        };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_kubelet_start(&cfg, &f->k, &err), 0);
        pthread_mutex_lock(&synth.lock);
        synth.k = f->k;
        pthread_mutex_unlock(&synth.lock);

        /* 50 + 150 + 100 = 300Mi of a 1Gi node: 724Mi available, above the 600Mi threshold. */
        cleanup_free char *g_uid = synth_pod(
                f, "guaranteed", "{\"limits\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}", 50 * MI, 100);
        cleanup_free char *b_uid =
                synth_pod(f, "burstable", "{\"requests\":{\"memory\":\"100Mi\"}}", 150 * MI, 250);
        cleanup_free char *e_uid = synth_pod(f, "besteffort", NULL, 100 * MI, 500);
        const char *names[] = { "guaranteed", "burstable", "besteffort" };
        for (size_t i = 0; i < 3; i++) {
                cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/default/pods/%s", names[i]);
                json_auto_t *p = wait_for(f, path, running, 10000);
                assert_non_null(p);
        }
        json_auto_t *gp = get(f, "/api/v1/namespaces/default/pods/guaranteed");
        assert_string_equal(k8c_json_get_string(gp, "status.qosClass"), "Guaranteed");
        json_auto_t *bp = get(f, "/api/v1/namespaces/default/pods/burstable");
        assert_string_equal(k8c_json_get_string(bp, "status.qosClass"), "Burstable");
        json_auto_t *ep = get(f, "/api/v1/namespaces/default/pods/besteffort");
        assert_string_equal(k8c_json_get_string(ep, "status.qosClass"), "BestEffort");

        /* The kubelet's Summary: node = the cgroup parent, sized by its limit. */
        json_auto_t *s = wait_summary(port, names, 3, 10000);
        assert_non_null(s);
        assert_string_equal(k8c_json_get_string(s, "node.nodeName"), "node-s");
        assert_int_equal(k8c_json_get_int(s, "node.memory.workingSetBytes", -1), 300 * MI);
        assert_int_equal(k8c_json_get_int(s, "node.memory.availableBytes", -1), 724 * MI);
        assert_int_equal(k8c_json_get_int(s, "node.fs.capacityBytes", -1), 100ll << 30);
        assert_int_equal(k8c_json_get_int(s, "node.fs.availableBytes", -1), 60ll << 30);
        assert_near(k8c_json_get_int(s, "node.cpu.usageNanoCores", -1), 850000000, 30000000);
        const json_t *sp = summary_pod(s, "besteffort");
        assert_string_equal(k8c_json_get_string(sp, "podRef.namespace"), "default");
        assert_string_equal(k8c_json_get_string(sp, "podRef.uid"), e_uid);
        assert_int_equal(k8c_json_get_int(sp, "memory.workingSetBytes", -1), 100 * MI);
        assert_near(k8c_json_get_int(sp, "cpu.usageNanoCores", -1), 500000000, 20000000);
        assert_string_equal(k8c_json_get_string(sp, "containers[0].name"), "c");
        assert_int_equal(k8c_json_get_int(sp, "containers[0].memory.workingSetBytes", -1), 100 * MI);
        assert_near(k8c_json_get_int(sp, "containers[0].cpu.usageNanoCores", -1), 500000000, 20000000);
        assert_true(k8c_json_get_int(sp, "containers[0].cpu.usageCoreNanoSeconds", 0) > 0);

        /* metrics.k8s.io: discovery, then the metrics scraped from the kubelet. */
        json_auto_t *groups = api_json(f, "/apis", 200);
        bool listed = false;
        size_t i;
        json_t *g;
        json_array_foreach(json_object_get(groups, "groups"), i, g)
        {
                if (strcmp(json_string_value(json_object_get(g, "name")) ?: "", "metrics.k8s.io") == 0)
                        listed = strcmp(k8c_json_get_string(g, "preferredVersion.version") ?: "",
                                        "v1beta1") == 0;
        }
        assert_true(listed);
        json_auto_t *rl = api_json(f, "/apis/metrics.k8s.io/v1beta1", 200);
        assert_string_equal(k8c_json_get_string(rl, "resources[0].name"), "nodes");
        assert_string_equal(k8c_json_get_string(rl, "resources[0].kind"), "NodeMetrics");
        assert_string_equal(k8c_json_get_string(rl, "resources[1].name"), "pods");
        assert_true(k8c_json_get_bool(rl, "resources[1].namespaced", false));

        json_auto_t *pm = api_json(f, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/besteffort", 200);
        assert_string_equal(k8c_json_get_string(pm, "kind"), "PodMetrics");
        assert_string_equal(k8c_json_get_string(pm, "apiVersion"), "metrics.k8s.io/v1beta1");
        assert_string_equal(k8c_json_get_string(pm, "metadata.name"), "besteffort");
        assert_string_equal(k8c_json_get_string(pm, "metadata.namespace"), "default");
        assert_string_equal(k8c_json_get_string(pm, "metadata.labels.app"), "besteffort");
        assert_non_null(k8c_json_get_string(pm, "timestamp"));
        /* The span of the kubelet's last two samples (200 ms apart, plus the sampling itself). */
        const char *window = k8c_json_get_string(pm, "window");
        assert_non_null(window);
        assert_int_equal(window[strlen(window) - 1], 's');
        assert_true(atof(window) >= 0.15 && atof(window) < 2.0);
        assert_string_equal(k8c_json_get_string(pm, "containers[0].name"), "c");
        assert_string_equal(k8c_json_get_string(pm, "containers[0].usage.memory"), "102400Ki");
        const char *cpu = k8c_json_get_string(pm, "containers[0].usage.cpu");
        assert_non_null(cpu);
        assert_int_equal(cpu[strlen(cpu) - 1], 'n');
        assert_near(atoll(cpu), 500000000, 20000000);

        json_auto_t *pl = api_json(
                f, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dburstable", 200);
        assert_string_equal(k8c_json_get_string(pl, "kind"), "PodMetricsList");
        assert_int_equal(json_array_size(json_object_get(pl, "items")), 1);
        assert_string_equal(k8c_json_get_string(pl, "items[0].metadata.name"), "burstable");
        json_auto_t *all = api_json(f, "/apis/metrics.k8s.io/v1beta1/pods", 200);
        assert_int_equal(json_array_size(json_object_get(all, "items")), 3);
        json_auto_t *other_ns = api_json(f, "/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods", 200);
        assert_int_equal(json_array_size(json_object_get(other_ns, "items")), 0);
        json_auto_t *nf = api_json(f, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope", 404);
        assert_string_equal(k8c_json_get_string(nf, "reason"), "NotFound");

        json_auto_t *nm = api_json(f, "/apis/metrics.k8s.io/v1beta1/nodes", 200);
        assert_string_equal(k8c_json_get_string(nm, "kind"), "NodeMetricsList");
        assert_int_equal(json_array_size(json_object_get(nm, "items")), 1);
        assert_string_equal(k8c_json_get_string(nm, "items[0].metadata.name"), "node-s");
        assert_string_equal(k8c_json_get_string(nm, "items[0].usage.memory"), "307200Ki");
        json_auto_t *n1 = api_json(f, "/apis/metrics.k8s.io/v1beta1/nodes/node-s", 200);
        assert_string_equal(k8c_json_get_string(n1, "kind"), "NodeMetrics");
        assert_near(atoll(k8c_json_get_string(n1, "usage.cpu") ?: "0"), 850000000, 30000000);

        /* k8cctl top, as kubectl prints it. */
        cleanup_free char *out = NULL;
        assert_int_equal(k8cctl(f, &out, "top", "pods", NULL), 0);
        const char *header = "NAME         CPU(cores)   MEMORY(bytes)   \n";
        if (strncmp(out, header, strlen(header)) != 0)
                fail_msg("k8cctl top pods printed:\n%s", out);
        cleanup_free char *row = line_of(out, "besteffort");
        assert_non_null(row);
        assert_near(top_cpu(row, 1), 500, 20);
        assert_non_null(strstr(row, " 100Mi "));
        cleanup_free char *grow = line_of(out, "guaranteed");
        assert_non_null(grow);
        assert_non_null(strstr(grow, " 50Mi "));
        cleanup_free char *nout = NULL;
        assert_int_equal(k8cctl(f, &nout, "top", "nodes", NULL), 0);
        cleanup_free char *nrow = line_of(nout, "node-s");
        assert_non_null(nrow);
        /* 850m of 4 cpus is 21%; 300Mi of 8Gi is 3%. */
        assert_near(top_cpu(nrow, 1), 850, 30);
        assert_non_null(strstr(nrow, " 300Mi "));
        assert_non_null(strstr(nrow, " 3% "));

        /* And a stock kubectl finds the API through discovery. */
        cleanup_free char *kout = NULL;
        int kcode = k8c_test_kubectl(&f->srv, &kout, "top pod besteffort -n default");
        if (kcode != 0)
                fail_msg("kubectl top: %s", kout);
        cleanup_free char *krow = line_of(kout, "besteffort");
        assert_non_null(krow);
        assert_non_null(strstr(krow, "100Mi"));
        cleanup_free char *knout = NULL;
        kcode = k8c_test_kubectl(&f->srv, &knout, "top node");
        if (kcode != 0)
                fail_msg("kubectl top node: %s", knout);
        cleanup_free char *knrow = line_of(knout, "node-s");
        assert_non_null(knrow);
        assert_non_null(strstr(knrow, "300Mi"));
        assert_non_null(strstr(knrow, "3%"));

        /* Pressure: besteffort grows to 400Mi, 600Mi used, 424Mi available < 600Mi. */
        synth_set_ws(e_uid, 400 * MI);
        json_auto_t *gone = wait_for(f, "/api/v1/namespaces/default/pods/besteffort", evicted, 10000);
        assert_non_null(gone);
        assert_string_equal(
                k8c_json_get_string(gone, "status.message"),
                "The node was low on resource: memory. Threshold quantity: 600Mi, available: 424Mi. "
                "Container c was using 400Mi, request is 0, has larger consumption of memory. ");
        assert_string_equal(cond_status(gone, "DisruptionTarget"), "True");
        assert_string_equal(cond_status(gone, "Ready"), "False");
        assert_int_equal(k8c_json_get_int(gone, "status.containerStatuses[0].state.terminated.exitCode", -1),
                         137);
        json_auto_t *node = wait_for(f, "/api/v1/nodes/node-s", memory_pressure, 5000);
        assert_non_null(node);

        /* Its memory is freed: 200Mi used, no more evictions; the others keep running, and the
         * evicted pod is not restarted. */
        usleep(1500 * 1000);
        json_auto_t *g2 = get(f, "/api/v1/namespaces/default/pods/guaranteed");
        json_auto_t *b2 = get(f, "/api/v1/namespaces/default/pods/burstable");
        json_auto_t *e2 = get(f, "/api/v1/namespaces/default/pods/besteffort");
        assert_true(running(g2));
        assert_true(running(b2));
        assert_true(evicted(e2));
        json_auto_t *s2 = kubelet_get(port, "/stats/summary");
        assert_int_equal(k8c_json_get_int(s2, "node.memory.workingSetBytes", -1), 200 * MI);

        json_auto_t *events = get(f, "/api/v1/namespaces/default/events");
        int n_evicted = 0;
        json_t *ev;
        json_array_foreach(json_object_get(events, "items"), i, ev)
        {
                if (strcmp(k8c_json_get_string(ev, "reason") ?: "", "Evicted") != 0)
                        continue;
                n_evicted++;
                assert_string_equal(k8c_json_get_string(ev, "involvedObject.name"), "besteffort");
                assert_string_equal(k8c_json_get_string(ev, "type"), "Warning");
        }
        assert_int_equal(n_evicted, 1);

        /* While MemoryPressure holds (its transition period), a new BestEffort pod is not admitted;
         * a Burstable one is. */
        cleanup_free char *l_uid = synth_pod(f, "latecomer", NULL, 10 * MI, 10);
        cleanup_free char *w_uid =
                synth_pod(f, "welcome", "{\"requests\":{\"memory\":\"10Mi\"}}", 10 * MI, 10);
        json_auto_t *late = wait_for(f, "/api/v1/namespaces/default/pods/latecomer", evicted, 10000);
        assert_non_null(late);
        assert_string_equal(k8c_json_get_string(late, "status.message"),
                            "The node had condition: [MemoryPressure]. ");
        assert_null(k8c_json_get(late, "status.containerStatuses[0].state.running"));
        json_auto_t *welcome = wait_for(f, "/api/v1/namespaces/default/pods/welcome", running, 10000);
        assert_non_null(welcome);
        k8c_kubelet_stop(k8c_steal(&f->k));
        pthread_mutex_lock(&synth.lock);
        synth.k = NULL;
        for (size_t j = 0; j < synth.n; j++)
                json_decref(synth.pods[j].pod);
        synth.n = 0;
        pthread_mutex_unlock(&synth.lock);
}

static bool disk_pressure(const json_t *n)
{
        return strcmp(cond_status(n, "DiskPressure"), "True") == 0;
}

/* nodefs: the filesystem of the kubelet's root dir drops below 10% free: DiskPressure, one pod
 * evicted, and no new pod admitted. */
static void test_synthetic_disk(void **state)
{
        struct fixture *f = *state;
        int port = free_port();
        pthread_mutex_lock(&synth.lock);
        snprintf(synth.parent, sizeof(synth.parent), "%s-disk", f->prefix);
        synth.limit = 1024 * MI;
        synth.n = 0;
        synth.t0_ns = mono_ns();
        synth.fs_available = 60ll << 30;
        synth.k = NULL;
        pthread_mutex_unlock(&synth.lock);
        synth_node = "node-d";
        struct k8c_kubelet_config cfg = {
                .client = f->client,
                .node_name = "node-d",
                .node_ip = "127.0.0.1",
                .root_dir = f->root,
                .capacity = "cpu=4,memory=8Gi,pods=110",
                .pod_cidr = "10.244.32.0/24",
                .runtime = "fake",
                .cgroup_parent = synth.parent,
                .lease_interval_ms = 200,
                .pod_resync_ms = 300,
                .address = "127.0.0.1",
                .port = port,
                .eviction_hard = "nodefs.available<10%",
                .eviction_pressure_transition_ms = 60000,
                .housekeeping_interval_ms = 200,
                .stats_source = &synth_source,
        };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_kubelet_start(&cfg, &f->k, &err), 0);
        pthread_mutex_lock(&synth.lock);
        synth.k = f->k;
        pthread_mutex_unlock(&synth.lock);
        cleanup_free char *a_uid =
                synth_pod(f, "writer", "{\"requests\":{\"memory\":\"10Mi\"}}", 10 * MI, 10);
        json_auto_t *a = wait_for(f, "/api/v1/namespaces/default/pods/writer", running, 10000);
        assert_non_null(a);
        json_auto_t *calm = get(f, "/api/v1/nodes/node-d");
        assert_string_equal(cond_status(calm, "DiskPressure"), "False");

        pthread_mutex_lock(&synth.lock);
        synth.fs_available = 5ll << 30;
        pthread_mutex_unlock(&synth.lock);
        json_auto_t *gone = wait_for(f, "/api/v1/namespaces/default/pods/writer", evicted, 10000);
        assert_non_null(gone);
        assert_string_equal(k8c_json_get_string(gone, "status.message"),
                            "The node was low on resource: ephemeral-storage. Threshold quantity: 10%, "
                            "available: 5Gi. ");
        json_auto_t *node = wait_for(f, "/api/v1/nodes/node-d", disk_pressure, 5000);
        assert_non_null(node);
        cleanup_free char *b_uid = synth_pod(f, "late", "{\"requests\":{\"memory\":\"10Mi\"}}", 10 * MI, 10);
        json_auto_t *late = wait_for(f, "/api/v1/namespaces/default/pods/late", evicted, 10000);
        assert_non_null(late);
        assert_string_equal(k8c_json_get_string(late, "status.message"),
                            "The node had condition: [DiskPressure]. ");
        k8c_kubelet_stop(k8c_steal(&f->k));
        pthread_mutex_lock(&synth.lock);
        synth.k = NULL;
        for (size_t j = 0; j < synth.n; j++)
                json_decref(synth.pods[j].pod);
        synth.n = 0;
        pthread_mutex_unlock(&synth.lock);
        synth_node = "node-s";
}

/* ---- runc (root) ------------------------------------------------------------------------------------ */

static bool is_root(void)
{
        return geteuid() == 0 && access("/usr/sbin/runc", X_OK) == 0;
}

/* A kubelet on the runc runtime with its pods' network in a test-made netns. */
static struct k8c_kubelet_config runc_config(struct fixture *f, const char *node, const char *cidr,
                                             const char *cgroup_parent, int port)
{
        f->runc = true;
        cleanup_free char *node_netns = k8c_xasprintf("%s/node.net", f->root);
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_ns_create(node_netns, NULL, NULL, NULL, &err), 0);
        return (struct k8c_kubelet_config){
                .client = f->client,
                .node_name = node,
                .node_ip = "127.0.0.1",
                .root_dir = f->root,
                .capacity = "cpu=2,memory=4Gi,pods=110",
                .pod_cidr = cidr,
                .runtime = "runc",
                .runc_root = k8c_xasprintf("%s/runc", f->root),
                .netns_dir = k8c_xasprintf("%s/netns", f->root),
                .node_netns = k8c_steal(&node_netns),
                .cgroup_parent = cgroup_parent,
                .lease_interval_ms = 300,
                .pod_resync_ms = 500,
                .address = "127.0.0.1",
                .port = port,
                .housekeeping_interval_ms = 500,
        };
}

static void runc_config_free(struct k8c_kubelet_config *cfg)
{
        free((char *)cfg->runc_root);
        free((char *)cfg->netns_dir);
        free((char *)cfg->node_netns);
}

static void post_pod(struct fixture *f, json_t *p)
{
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p, NULL, &err), 0);
}

static int container_oom_score_adj(struct fixture *f, const char *uid, const char *container);

static bool busy_summary(const json_t *s)
{
        const json_t *p = summary_pod(s, "busy");
        return p != NULL && k8c_json_get_int(p, "cpu.usageNanoCores", 0) > 50000000 &&
               k8c_json_get_int(p, "memory.workingSetBytes", 0) > 2 * MI &&
               k8c_json_get_int(p, "containers[0].cpu.usageNanoCores", 0) > 50000000 &&
               k8c_json_get_int(s, "node.cpu.usageNanoCores", 0) > 50000000;
}

static void test_runc_busy_pod(void **state)
{
        struct fixture *f = *state;
        if (!is_root())
                skip();
        int port = free_port();
        cleanup_free char *parent = k8c_xasprintf("%s-busy", f->prefix);
        struct k8c_kubelet_config cfg = runc_config(f, "node-busy", "10.244.41.0/24", parent, port);
        cfg.eviction_hard = "";
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_kubelet_start(&cfg, &f->k, &err);
        runc_config_free(&cfg);
        assert_int_equal(r, 0);
        /* Spins (held to 200m by its cpu limit) and holds ~5 MB. */
        json_auto_t *p =
                json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:i, s:[{s:s, s:s, s:[s, s, s], s:{s:{s:s}}}]}}",
                          "apiVersion", "v1", "kind", "Pod", "metadata", "name", "busy", "spec", "nodeName",
                          "node-busy", "terminationGracePeriodSeconds", 0, "containers", "name", "spin",
                          "image", "busybox", "command", "sh", "-c",
                          "x=$(busybox head -c 5000000 /dev/zero | busybox tr '\\0' a); "
                          "while :; do :; done",
                          "resources", "limits", "cpu", "200m");
        post_pod(f, p);
        json_auto_t *pod = wait_for(f, "/api/v1/namespaces/default/pods/busy", running, 30000);
        assert_non_null(pod);
        assert_string_equal(k8c_json_get_string(pod, "status.qosClass"), "Burstable");
        /* Burstable without a memory request: the top of the Burstable range. */
        assert_int_equal(container_oom_score_adj(f, k8c_json_get_string(pod, "metadata.uid"), "spin"), 999);

        json_t *s = NULL;
        for (int i = 0; i < 100 && s == NULL; i++) {
                s = kubelet_get(port, "/stats/summary");
                if (s != NULL && !busy_summary(s)) {
                        json_decref(s);
                        s = NULL;
                }
                if (s == NULL)
                        usleep(200 * 1000);
        }
        assert_non_null(s);
        json_auto_t *summary = s;
        const json_t *sp = summary_pod(summary, "busy");
        /* No more than its 200m quota (with room for measuring jitter). */
        assert_true(k8c_json_get_int(sp, "cpu.usageNanoCores", 0) < 260000000);
        assert_string_equal(k8c_json_get_string(sp, "containers[0].name"), "spin");
        assert_string_equal(k8c_json_get_string(sp, "podRef.uid"), k8c_json_get_string(pod, "metadata.uid"));
        assert_true(k8c_json_get_int(summary, "node.memory.workingSetBytes", 0) >=
                    k8c_json_get_int(sp, "memory.workingSetBytes", 0));

        /* Through the apiserver's metrics API. */
        json_auto_t *pm = api_json(f, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy", 200);
        const char *cpu = k8c_json_get_string(pm, "containers[0].usage.cpu");
        const char *mem = k8c_json_get_string(pm, "containers[0].usage.memory");
        assert_non_null(cpu);
        assert_non_null(mem);
        assert_true(atoll(cpu) > 50000000);
        assert_true(atoll(mem) > 2048);
        json_auto_t *nm = api_json(f, "/apis/metrics.k8s.io/v1beta1/nodes/node-busy", 200);
        assert_true(atoll(k8c_json_get_string(nm, "usage.cpu") ?: "0") > 50000000);

        /* And k8cctl top. */
        cleanup_free char *out = NULL;
        assert_int_equal(k8cctl(f, &out, "top", "pods", NULL), 0);
        cleanup_free char *row = line_of(out, "busy");
        if (row == NULL)
                fail_msg("no busy row in:\n%s", out);
        long m = top_cpu(row, 1);
        if (m < 50 || m > 260)
                fail_msg("busy cpu %ldm in: %s", m, row);
        char *mi = strstr(row, "Mi");
        assert_non_null(mi);
        while (mi > row && mi[-1] >= '0' && mi[-1] <= '9')
                mi--;
        assert_true(atol(mi) >= 2);
        k8c_kubelet_stop(k8c_steal(&f->k));
}

/* The kubelet's own cgroup path in the memory hierarchy (v1), or the v2 one. */
static char *memory_cgroup_dir(const char *parent)
{
        cleanup_fclose FILE *fp = fopen("/proc/self/cgroup", "re");
        char line[1024];
        char *v2 = NULL;
        while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
                line[strcspn(line, "\n")] = '\0';
                char *c1 = strchr(line, ':');
                char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
                if (c2 == NULL)
                        continue;
                *c2 = '\0';
                const char *own = strcmp(c2 + 1, "/") == 0 ? "" : c2 + 1;
                if (strcmp(c1 + 1, "memory") == 0) {
                        free(v2);
                        return k8c_xasprintf("/sys/fs/cgroup/memory%s/%s", own, parent);
                }
                if (c1[1] == '\0' && v2 == NULL)
                        v2 = k8c_xasprintf("/sys/fs/cgroup%s/%s", own, parent);
        }
        return v2;
}

static char *read_line(const char *path)
{
        cleanup_fclose FILE *fp = fopen(path, "re");
        char buf[256];
        if (fp == NULL || fgets(buf, sizeof(buf), fp) == NULL)
                return NULL;
        buf[strcspn(buf, "\n")] = '\0';
        return k8c_xstrdup(buf);
}

/* oom_score_adj of a running container's init process. */
static int container_oom_score_adj(struct fixture *f, const char *uid, const char *container)
{
        cleanup_free char *pid_path = k8c_xasprintf("%s/pods/%s/containers/%s/pid", f->root, uid, container);
        cleanup_free char *pid = read_line(pid_path);
        if (pid == NULL)
                return -2000;
        cleanup_free char *adj_path = k8c_xasprintf("/proc/%s/oom_score_adj", pid);
        cleanup_free char *adj = read_line(adj_path);
        return adj != NULL ? atoi(adj) : -2000;
}

static bool can_lower_oom_score(void)
{
        cleanup_fclose FILE *fp = fopen("/proc/self/status", "re");
        char line[256];
        while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
                if (strncmp(line, "CapEff:", 7) == 0)
                        return (strtoull(line + 7, NULL, 16) >> 24) & 1; /* CAP_SYS_RESOURCE */
        return false;
}

static int own_oom_score_adj(void)
{
        cleanup_free char *s = read_line("/proc/self/oom_score_adj");
        return s != NULL ? atoi(s) : 0;
}

static void test_runc_eviction(void **state)
{
        struct fixture *f = *state;
        if (!is_root())
                skip();
        int port = free_port();
        cleanup_free char *parent = k8c_xasprintf("%s-evict", f->prefix);
        struct k8c_kubelet_config cfg = runc_config(f, "node-small", "10.244.42.0/24", parent, port);
        /* The lab's way of sizing a node: a memory limit on its cgroup parent. 400Mi, with
         * eviction below 330Mi available. */
        cleanup_free char *memdir = memory_cgroup_dir(parent);
        assert_non_null(memdir);
        assert_int_equal(mkdir(memdir, 0755), 0);
        cleanup_free char *limit_v1 = k8c_xasprintf("%s/memory.limit_in_bytes", memdir);
        cleanup_free char *limit_v2 = k8c_xasprintf("%s/memory.max", memdir);
        FILE *lf = fopen(access(limit_v1, F_OK) == 0 ? limit_v1 : limit_v2, "we");
        assert_non_null(lf);
        fprintf(lf, "%lld\n", 400 * MI);
        assert_int_equal(fclose(lf), 0);
        cfg.eviction_hard = "memory.available<330Mi";
        cfg.eviction_pressure_transition_ms = 1000;
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_kubelet_start(&cfg, &f->k, &err);
        runc_config_free(&cfg);
        assert_int_equal(r, 0);

        json_auto_t *steady = json_pack(
                "{s:s, s:s, s:{s:s}, s:{s:s, s:i, s:[{s:s, s:s, s:[s, s], s:{s:{s:s, s:s}}}]}}", "apiVersion",
                "v1", "kind", "Pod", "metadata", "name", "steady", "spec", "nodeName", "node-small",
                "terminationGracePeriodSeconds", 0, "containers", "name", "app", "image", "busybox",
                "command", "sleep", "3600", "resources", "limits", "cpu", "100m", "memory", "64Mi");
        post_pod(f, steady);
        json_auto_t *sp = wait_for(f, "/api/v1/namespaces/default/pods/steady", running, 30000);
        assert_non_null(sp);
        assert_string_equal(k8c_json_get_string(sp, "status.qosClass"), "Guaranteed");
        /* -997, unless this process may not lower scores (no CAP_SYS_RESOURCE, as in some
         * sandboxes): then as low as it may go, its own. */
        assert_int_equal(container_oom_score_adj(f, k8c_json_get_string(sp, "metadata.uid"), "app"),
                         can_lower_oom_score() ? -997 : own_oom_score_adj());

        /* ~115Mi held: about 285Mi of the node's 400Mi left, below the threshold. */
        json_auto_t *hog = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:i, s:[{s:s, s:s, s:[s, s, s]}]}}",
                                     "apiVersion", "v1", "kind", "Pod", "metadata", "name", "hog", "spec",
                                     "nodeName", "node-small", "terminationGracePeriodSeconds", 0,
                                     "containers", "name", "hog", "image", "busybox", "command", "sh", "-c",
                                     "x=$(busybox head -c 120000000 /dev/zero | busybox tr '\\0' a); "
                                     "echo filled; exec sleep 3600");
        post_pod(f, hog);
        json_auto_t *gone = wait_for(f, "/api/v1/namespaces/default/pods/hog", evicted, 60000);
        if (gone == NULL) {
                /* Seen once in a full CI run (not reproduced alone): say what the node saw. */
                json_auto_t *hp = get(f, "/api/v1/namespaces/default/pods/hog");
                json_auto_t *nd = get(f, "/api/v1/nodes/node-small");
                cleanup_free char *hs = json_dumps(json_object_get(hp, "status"), JSON_COMPACT);
                cleanup_free char *ns = json_dumps(k8c_json_get(nd, "status.conditions"), JSON_COMPACT);
                fail_msg("hog not evicted within 60 s; pod status %s; node conditions %s", hs ? hs : "-",
                         ns ? ns : "-");
        }
        assert_string_equal(k8c_json_get_string(gone, "status.qosClass"), "BestEffort");
        const char *msg = k8c_json_get_string(gone, "status.message");
        assert_non_null(msg);
        const char *lead = "The node was low on resource: memory. Threshold quantity: 330Mi, available: ";
        if (strncmp(msg, lead, strlen(lead)) != 0 || strstr(msg, ". Container hog was using ") == NULL ||
            strstr(msg, ", request is 0, has larger consumption of memory. ") == NULL)
                fail_msg("message: %s", msg);

        /* The Guaranteed pod within its request keeps running, never restarted; the node's
         * pressure is over once the hog is gone. */
        json_auto_t *node = wait_for(f, "/api/v1/nodes/node-small", no_memory_pressure, 15000);
        assert_non_null(node);
        json_auto_t *still = get(f, "/api/v1/namespaces/default/pods/steady");
        assert_true(running(still));
        assert_int_equal(k8c_json_get_int(still, "status.containerStatuses[0].restartCount", -1), 0);
        json_auto_t *hog2 = get(f, "/api/v1/namespaces/default/pods/hog");
        assert_true(evicted(hog2));
        k8c_kubelet_stop(k8c_steal(&f->k));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_synthetic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_synthetic_disk, setup, teardown),
                cmocka_unit_test_setup_teardown(test_runc_busy_pod, setup, teardown),
                cmocka_unit_test_setup_teardown(test_runc_eviction, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * bench_podstart.c - pod start latency through the whole path: the real
 * k8c-apiserver on loopback (release binary from $BINDIR or bin/), a runc
 * kubelet in-process on a node netns made by the bench (tests/common
 * kubelet_runc harness: test-unique cgroup parent, runc root and temp dir),
 * and an informer watching pods. Latency = from just before the POST to the
 * watch event showing the container running. Reported: p50/p99 over 50 pods
 * created one after another on an idle node, p50/p99 of a burst of 100 pods
 * posted at once, and beside them the time of a bare `runc run --detach` of
 * the same bundle (joining the same pod namespaces). Needs root; figures are
 * printed, never asserted.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../tests/common/kubelet_runc.h"
#include "k8c/cleanup.h"
#include "k8c/informer.h"
#include "k8c/json.h"
#include "k8c/log.h"

#define SEQ_PODS 50
#define BURST_PODS 100
#define BARE_RUNS 20
#define MAX_PODS (SEQ_PODS + BURST_PODS)

struct observer {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        double created[MAX_PODS];
        double running[MAX_PODS];
        int nrunning;
};

static struct observer obs = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void seen(json_t *pod)
{
        const char *name = k8c_json_get_string(pod, "metadata.name");
        int i;
        if (name == NULL || sscanf(name, "ps-%d", &i) != 1 || i < 0 || i >= MAX_PODS)
                return;
        if (k8c_json_get(pod, "status.containerStatuses[0].state.running") == NULL)
                return;
        double now = k8c_test_mono_s();
        pthread_mutex_lock(&obs.lock);
        if (obs.running[i] == 0) {
                obs.running[i] = now;
                obs.nrunning++;
                pthread_cond_broadcast(&obs.cond);
        }
        pthread_mutex_unlock(&obs.lock);
}

static void on_add(void *opaque, json_t *obj)
{
        seen(obj);
}

static void on_update(void *opaque, json_t *old_obj, json_t *new_obj)
{
        seen(new_obj);
}

static bool wait_running(int want, int timeout_s)
{
        double deadline = k8c_test_mono_s() + timeout_s;
        pthread_mutex_lock(&obs.lock);
        while (obs.nrunning < want && k8c_test_mono_s() < deadline) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 50 * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&obs.cond, &obs.lock, &ts);
        }
        bool ok = obs.nrunning >= want;
        pthread_mutex_unlock(&obs.lock);
        return ok;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
        qsort(v, (size_t)n, sizeof(double), cmp_double);
        int i = (int)(p * n + 0.999999) - 1;
        return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* CPU seconds so far: this process (kubelet, informer), its reaped children (runc), the apiserver. */
struct cpu {
        double self, children, apiserver;
};

static double tv_s(struct timeval tv)
{
        return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static struct cpu cpu_now(pid_t apiserver)
{
        struct cpu c = { 0 };
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        c.self = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
        getrusage(RUSAGE_CHILDREN, &ru);
        c.children = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
        cleanup_free char *path = k8c_xasprintf("/proc/%d/stat", (int)apiserver);
        cleanup_fclose FILE *f = fopen(path, "re");
        char buf[1024];
        if (f != NULL && fgets(buf, sizeof(buf), f) != NULL) {
                char *p = strrchr(buf, ')');
                unsigned long ut = 0, st = 0;
                /* fields 14 and 15 (utime, stime) counted from after the command name */
                if (p != NULL &&
                    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
                        c.apiserver = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        }
        return c;
}

static void print_cpu(const char *what, struct cpu a, struct cpu b, int pods)
{
        printf("  cpu per pod (%s): kubelet %.1f ms  runc %.1f ms  apiserver %.1f ms\n", what,
               (b.self - a.self) * 1000 / pods, (b.children - a.children) * 1000 / pods,
               (b.apiserver - a.apiserver) * 1000 / pods);
}

static int create_pod(struct k8c_test_node *n, int i)
{
        cleanup_free char *name = k8c_xasprintf("ps-%d", i);
        json_auto_t *p =
                json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:[{s:s, s:s, s:[s, s]}]}}", "apiVersion", "v1",
                          "kind", "Pod", "metadata", "name", name, "spec", "terminationGracePeriodSeconds", 0,
                          "containers", "name", "c", "image", "busybox", "command", "sleep", "3600");
        return p != NULL ? k8c_test_node_create(n, "pods", p) : -1;
}

static void delete_pods(struct k8c_test_node *n, int from, int to)
{
        for (int i = from; i < to; i++) {
                cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/default/pods/ps-%d", i);
                cleanup_error k8c_error_t err = NULL;
                k8c_client_delete(n->client, path, NULL, NULL, &err);
        }
        /* Wait until the node has torn them down, so the next phase starts on an idle node. */
        cleanup_free char *pods = k8c_xasprintf("%s/pods", n->root);
        for (int waited = 0; waited < 600; waited++) {
                json_auto_t *list = k8c_test_node_get(n, "/api/v1/namespaces/default/pods");
                if (json_array_size(json_object_get(list, "items")) == 0)
                        break;
                usleep(100 * 1000);
        }
}

/* `runc run --detach` of the bundle the kubelet made for pod ps-0's container, with its own
 * container ID and cgroup, joining the same pod namespaces: what the runtime alone costs. */
static void bare_runc(struct k8c_test_node *n, const char *uid, double *ret_p50, double *ret_p99)
{
        cleanup_free char *src = k8c_xasprintf("%s/pods/%s/containers/c/config.json", n->root, uid);
        cleanup_free char *rootfs = k8c_xasprintf("%s/pods/%s/containers/c/rootfs", n->root, uid);
        cleanup_free char *bundle = k8c_xasprintf("%s/bare", n->root);
        cleanup_free char *bare_root = k8c_xasprintf("%s/bare-runc", n->root);
        mkdir(bundle, 0755);
        mkdir(bare_root, 0755);
        json_auto_t *spec = json_load_file(src, 0, NULL);
        if (spec == NULL) {
                *ret_p50 = *ret_p99 = -1;
                return;
        }
        k8c_json_set_new(spec, "root", json_pack("{s:s, s:b}", "path", rootfs, "readonly", false));
        double t[BARE_RUNS];
        int ok = 0;
        for (int i = 0; i < BARE_RUNS; i++) {
                cleanup_free char *cg = k8c_xasprintf("%s/bare/b%d", n->cgroup_parent, i);
                k8c_json_set_new(spec, "linux.cgroupsPath", json_string(cg));
                cleanup_free char *cfg = k8c_xasprintf("%s/config.json", bundle);
                if (json_dump_file(spec, cfg, 0) < 0)
                        break;
                cleanup_free char *cmd = k8c_xasprintf("runc --root '%s' run --detach --bundle '%s' bare-%d "
                                                       "</dev/null >/dev/null 2>&1",
                                                       bare_root, bundle, i);
                double t0 = k8c_test_mono_s();
                int r = system(cmd);
                double dt = k8c_test_mono_s() - t0;
                if (r == 0)
                        t[ok++] = dt;
        }
        cleanup_free char *del =
                k8c_xasprintf("for c in $(runc --root '%s' list -q); do runc --root '%s' delete -f $c; done",
                              bare_root, bare_root);
        if (system(del) != 0)
                fprintf(stderr, "bare runc cleanup failed\n");
        *ret_p50 = ok > 0 ? pct(t, ok, 0.5) : -1;
        *ret_p99 = ok > 0 ? pct(t, ok, 0.99) : -1;
}

int main(void)
{
        if (geteuid() != 0) {
                printf("bench_podstart: skipped (needs root for runc and network namespaces)\n");
                return 0;
        }
        const char *bindir = getenv("BINDIR");
        setenv("K8C_BINDIR", bindir != NULL ? bindir : "bin", 1);
        unsetenv("K8C_ASAN_BINDIR");
        k8c_log_min_level = K8C_LOG_WARN;
        void *state = NULL;
        if (k8c_test_node_setup(&state) < 0) {
                fprintf(stderr, "bench_podstart: node setup failed\n");
                k8c_test_node_teardown(&state);
                return 1;
        }
        struct k8c_test_node *n = state;
        const struct k8c_informer_config ic = { .client = n->client, .path = "/api/v1/pods" };
        struct k8c_informer *inf = k8c_informer_new(&ic);
        const struct k8c_informer_handlers h = { .on_add = on_add, .on_update = on_update };
        k8c_informer_add_handlers(inf, &h);
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *first = NULL;
        int rc = 1;
        if (k8c_informer_start(inf, &err) < 0 || !k8c_informer_wait_synced(inf, 10000)) {
                fprintf(stderr, "bench_podstart: informer: %s\n", k8c_error_msg(&err));
                goto out;
        }
        /* Sequential: one pod at a time on an otherwise idle node. */
        double seq[SEQ_PODS];
        struct cpu c0 = cpu_now(n->srv.pid);
        for (int i = 0; i < SEQ_PODS; i++) {
                pthread_mutex_lock(&obs.lock);
                obs.created[i] = k8c_test_mono_s();
                pthread_mutex_unlock(&obs.lock);
                if (create_pod(n, i) < 0 || !wait_running(i + 1, 30)) {
                        fprintf(stderr, "bench_podstart: pod ps-%d did not start\n", i);
                        goto out;
                }
                seq[i] = obs.running[i] - obs.created[i];
        }
        struct cpu c1 = cpu_now(n->srv.pid);
        first = k8c_test_node_get(n, "/api/v1/namespaces/default/pods/ps-0");
        double bare50 = -1, bare99 = -1;
        const char *uid0 = k8c_json_get_string(first, "metadata.uid");
        if (uid0 != NULL)
                bare_runc(n, uid0, &bare50, &bare99);
        delete_pods(n, 0, SEQ_PODS);

        /* Burst: BURST_PODS posted back to back onto the node. */
        struct cpu c2 = cpu_now(n->srv.pid);
        for (int i = SEQ_PODS; i < MAX_PODS; i++) {
                pthread_mutex_lock(&obs.lock);
                obs.created[i] = k8c_test_mono_s();
                pthread_mutex_unlock(&obs.lock);
                if (create_pod(n, i) < 0)
                        goto out;
        }
        if (!wait_running(MAX_PODS, 120)) {
                fprintf(stderr, "bench_podstart: burst: only %d of %d running\n", obs.nrunning - SEQ_PODS,
                        BURST_PODS);
                goto out;
        }
        struct cpu c3 = cpu_now(n->srv.pid);
        double burst[BURST_PODS];
        double last = 0;
        for (int i = 0; i < BURST_PODS; i++) {
                burst[i] = obs.running[SEQ_PODS + i] - obs.created[SEQ_PODS + i];
                if (obs.running[SEQ_PODS + i] - obs.created[SEQ_PODS] > last)
                        last = obs.running[SEQ_PODS + i] - obs.created[SEQ_PODS];
        }
        printf("podstart sequential (%d pods, idle node): p50 %.1f ms  p99 %.1f ms\n", SEQ_PODS,
               pct(seq, SEQ_PODS, 0.5) * 1000, pct(seq, SEQ_PODS, 0.99) * 1000);
        print_cpu("sequential", c0, c1, SEQ_PODS);
        printf("bare runc run --detach (same bundle, %d runs): p50 %.1f ms  p99 %.1f ms\n", BARE_RUNS,
               bare50 * 1000, bare99 * 1000);
        printf("podstart burst (%d pods at once): p50 %.1f ms  p99 %.1f ms  all running after %.1f ms\n",
               BURST_PODS, pct(burst, BURST_PODS, 0.5) * 1000, pct(burst, BURST_PODS, 0.99) * 1000,
               last * 1000);
        print_cpu("burst", c2, c3, BURST_PODS);
        delete_pods(n, SEQ_PODS, MAX_PODS);
        rc = 0;
out:
        k8c_informer_free(inf);
        k8c_test_node_teardown(&state);
        return rc;
}

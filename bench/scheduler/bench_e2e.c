/*
 * bench_e2e.c - the scheduler through the real apiserver: starts
 * k8c-apiserver (tests/common harness, release binaries from $BINDIR or bin/),
 * registers NODES fake Node objects (capacity and Ready status in the create,
 * as a kubelet would; no kubelet runs), creates PODS pending pods, then starts
 * bin/k8c-scheduler and measures how long until every binding is stored (the
 * scheduler's scheduled counter, polled, so the observer adds no watch load;
 * checked against the apiserver at the end). The scheduler's /metrics gives the split between
 * decisions and binding calls; /proc gives the CPU each process used, which
 * shows which of the two is the bottleneck. Loopback only; processes are
 * stopped by PID. Figures are printed, never asserted.
 * BENCH_SCHED_WRAPPER (e.g. "valgrind --tool=callgrind") runs the scheduler
 * under a profiler.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../tests/common/apiserver_harness.h"
#include "bench_scheduler.h"
#include "k8c/cleanup.h"
#include "k8c/client.h"

#define CREATORS 8

struct creator {
        const char *url;
        int from, to, step;
        bool nodes;
        bool owned;
        atomic_int *failed;
};

static struct k8c_client *client(const char *url)
{
        struct k8c_client_config cc = { .server = url, .timeout_ms = 60000 };
        struct k8c_client *c = NULL;
        cleanup_error k8c_error_t err = NULL;
        if (k8c_client_new(&cc, &c, &err) < 0) {
                fprintf(stderr, "client: %s\n", k8c_error_msg(&err));
                return NULL;
        }
        return c;
}

static void *create_thread(void *arg)
{
        struct creator *cr = arg;
        struct k8c_client *c = client(cr->url);
        if (c == NULL) {
                atomic_fetch_add(cr->failed, 1);
                return NULL;
        }
        for (int i = cr->from; i < cr->to; i += cr->step) {
                json_auto_t *obj = cr->nodes ? bench_node(i) : bench_pod(i, cr->owned);
                cleanup_error k8c_error_t err = NULL;
                if (k8c_client_post(c, cr->nodes ? "/api/v1/nodes" : "/api/v1/namespaces/default/pods", obj,
                                    NULL, &err) < 0) {
                        if (atomic_fetch_add(cr->failed, 1) == 0)
                                fprintf(stderr, "create: %s\n", k8c_error_msg(&err));
                }
        }
        k8c_client_free(c);
        return NULL;
}

static double create_all(const char *url, int n, bool nodes, bool owned)
{
        atomic_int failed = 0;
        pthread_t th[CREATORS];
        struct creator cr[CREATORS];
        double t0 = bench_now_s();
        for (int i = 0; i < CREATORS; i++) {
                cr[i] = (struct creator){ url, i, n, CREATORS, nodes, owned, &failed };
                pthread_create(&th[i], NULL, create_thread, &cr[i]);
        }
        for (int i = 0; i < CREATORS; i++)
                pthread_join(th[i], NULL);
        double dt = bench_now_s() - t0;
        if (failed > 0) {
                fprintf(stderr, "%d creates failed\n", (int)failed);
                return -1;
        }
        return dt;
}

/* ---- processes ---- */

static int free_port(void)
{
        /* The harness picked one for the apiserver; the scheduler's just needs to differ. */
        return 20000 + (int)(getpid() % 20000);
}

static char *http_get_with(struct k8c_client *c, const char *path)
{
        struct k8c_response resp = { 0 };
        cleanup_error k8c_error_t err = NULL;
        char *body = NULL;
        if (k8c_client_do(c, "GET", path, NULL, NULL, &resp, &err) >= 0 && resp.code == 200 &&
            resp.raw != NULL)
                body = k8c_xstrdup(resp.raw);
        k8c_response_free(&resp);
        return body;
}

static char *http_get(int port, const char *path)
{
        cleanup_free char *url = k8c_xasprintf("http://127.0.0.1:%d", port);
        struct k8c_client *c = client(url);
        if (c == NULL)
                return NULL;
        char *body = http_get_with(c, path);
        k8c_client_free(c);
        return body;
}

static double metric(const char *text, const char *name)
{
        if (text == NULL)
                return -1;
        const char *p = text;
        size_t n = strlen(name);
        while ((p = strstr(p, name)) != NULL) {
                if ((p == text || p[-1] == '\n') && p[n] == ' ')
                        return strtod(p + n + 1, NULL);
                p += n;
        }
        return -1;
}

/* Quantile q of a Prometheus histogram (linear within the bucket, as histogram_quantile). */
static double hist_quantile(const char *text, const char *name, double q)
{
        double prev_le = 0, prev_cum = 0;
        cleanup_free char *count_name = k8c_xasprintf("%s_count", name);
        double total = metric(text, count_name);
        if (total <= 0)
                return -1;
        const char *p = text;
        cleanup_free char *prefix = k8c_xasprintf("%s_bucket{le=\"", name);
        while ((p = strstr(p, prefix)) != NULL) {
                p += strlen(prefix);
                double le = strncmp(p, "+Inf", 4) == 0 ? -1 : strtod(p, NULL);
                const char *sp = strchr(p, ' ');
                if (sp == NULL)
                        break;
                double cum = strtod(sp + 1, NULL);
                if (cum >= q * total) {
                        if (le < 0)
                                return prev_le;
                        if (cum == prev_cum)
                                return le;
                        return prev_le + (le - prev_le) * (q * total - prev_cum) / (cum - prev_cum);
                }
                prev_le = le;
                prev_cum = cum;
        }
        return -1;
}

static pid_t start_scheduler(const char *bindir, const char *url, int port, const char *log)
{
        cleanup_free char *bin = k8c_xasprintf("%s/k8c-scheduler", bindir);
        cleanup_free char *portarg = k8c_xasprintf("--port=%d", port);
        pid_t pid = fork();
        if (pid == 0) {
                FILE *f = freopen(log, "w", stderr);
                (void)f;
                /* BENCH_SCHED_WRAPPER="valgrind --tool=callgrind" profiles the scheduler. */
                const char *wrap = getenv("BENCH_SCHED_WRAPPER");
                if (wrap != NULL && wrap[0] != '\0') {
                        cleanup_free char *cmd = k8c_xasprintf("exec %s \"$0\" \"$@\"", wrap);
                        execl("/bin/sh", "sh", "-c", cmd, bin, "--server", url, portarg,
                              "--bind-address=127.0.0.1", "--leader-elect=false", (char *)NULL);
                } else {
                        execl(bin, bin, "--server", url, portarg, "--bind-address=127.0.0.1",
                              "--leader-elect=false", (char *)NULL);
                }
                _exit(127);
        }
        return pid;
}

static void stop_pid(pid_t pid)
{
        if (pid <= 0)
                return;
        kill(pid, SIGTERM);
        for (int i = 0; i < 100; i++) {
                if (waitpid(pid, NULL, WNOHANG) == pid)
                        return;
                usleep(100 * 1000);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
}

/* Number of pods still without a node, from the apiserver (a field-selected list). */
static int unbound_pods(const char *url)
{
        struct k8c_client *c = client(url);
        if (c == NULL)
                return -1;
        json_t *list = NULL;
        cleanup_error k8c_error_t err = NULL;
        int n = -1;
        if (k8c_client_get(c, "/api/v1/pods?fieldSelector=spec.nodeName%3D", &list, &err) >= 0)
                n = (int)json_array_size(json_object_get(list, "items"));
        else
                fprintf(stderr, "e2e: listing unbound pods: %s\n", k8c_error_msg(&err));
        json_decref(list);
        k8c_client_free(c);
        return n;
}

int bench_e2e(int nnodes, int npods)
{
        /* Release binaries: the harness would otherwise prefer the ASan ones. */
        char bindir[PATH_MAX];
        const char *bd = getenv("BINDIR");
        if (realpath(bd != NULL && bd[0] != '\0' ? bd : "bin", bindir) == NULL) {
                fprintf(stderr, "e2e: no bin directory (%s)\n", strerror(errno));
                return -1;
        }
        setenv("K8C_BINDIR", bindir, 1);
        unsetenv("K8C_ASAN_BINDIR");

        struct k8c_test_apiserver srv = { 0 };
        if (k8c_test_apiserver_start(&srv, NULL) < 0)
                return -1;
        int rc = -1;
        pid_t sched = -1;
        cleanup_free char *metrics = NULL, *log = NULL, *sched_url = NULL;

        double t_nodes = create_all(srv.url, nnodes, true, false);
        if (t_nodes < 0)
                goto out;
        /* Creates return once stored: every pod is pending when the scheduler starts. */
        double t_pods = create_all(srv.url, npods, false, false);
        if (t_pods < 0)
                goto out;
        printf("e2e nodes=%d pods=%d: apiserver creates: nodes %.0f/s, pods %.0f/s (%d writers)\n", nnodes,
               npods, nnodes / t_nodes, npods / t_pods, CREATORS);

        int port = free_port();
        log = k8c_xasprintf("%s/scheduler.log", srv.dir);
        double cpu_api0 = k8c_test_cpu_seconds(srv.pid);
        double t0 = bench_now_s();
        sched = start_scheduler(bindir, srv.url, port, log);
        double t_ready = -1, t_first = -1, t_last = -1, n_first = 0;
        sched_url = k8c_xasprintf("http://127.0.0.1:%d", port);
        struct k8c_client *poll = client(sched_url);
        if (poll == NULL)
                goto out;
        /* The scheduler counts a pod scheduled once the binding POST returned, i.e. was stored:
         * poll that rather than watch pods, so the observer adds no load. The rate is taken between
         * the first observation of a non-zero count and the last binding, with the count at the
         * first observation, so a late first poll does not inflate it. */
        for (int i = 0; i < 60000 && t_last < 0; i++) {
                if (t_ready < 0) {
                        cleanup_free char *r = http_get_with(poll, "/readyz");
                        if (r != NULL && strcmp(r, "ok") == 0)
                                t_ready = bench_now_s() - t0;
                }
                if (t_ready >= 0) {
                        cleanup_free char *m = http_get_with(poll, "/metrics");
                        double done =
                                metric(m, "scheduler_schedule_attempts_total{profile=\"default-scheduler\","
                                          "result=\"scheduled\"}");
                        double now = bench_now_s() - t0;
                        if (done > 0 && t_first < 0) {
                                t_first = now;
                                n_first = done;
                        }
                        if (done >= npods)
                                t_last = now;
                }
                if (t_last < 0)
                        usleep(10 * 1000);
        }
        k8c_client_free(poll);
        if (t_last < 0) {
                fprintf(stderr, "e2e: not every pod was bound in time; log %s\n", log);
                goto out;
        }
        double cpu_sched = k8c_test_cpu_seconds(sched), cpu_api = k8c_test_cpu_seconds(srv.pid) - cpu_api0;
        metrics = http_get(port, "/metrics");
        int unbound = unbound_pods(srv.url);
        printf("e2e nodes=%d pods=%d: %s; scheduler start -> ready %.2f s (lists %d nodes + %d pods), "
               "%.0f bound when first seen at %.2f s, all by %.2f s\n",
               nnodes, npods, unbound == 0 ? "apiserver lists no unbound pod" : "UNBOUND PODS LEFT", t_ready,
               nnodes, npods, n_first, t_first, t_last);
        printf("e2e nodes=%d pods=%d: %.0f pods/s end to end (bindings stored per second, first to last "
               "observation); %.0f pods/s from process start, informer sync included\n",
               nnodes, npods, t_last > t_first ? (npods - n_first) / (t_last - t_first) : 0, npods / t_last);
        double dec_sum = metric(metrics, "scheduler_scheduling_algorithm_duration_seconds_sum");
        double dec_n = metric(metrics, "scheduler_scheduling_algorithm_duration_seconds_count");
        double bind_sum = metric(metrics, "scheduler_binding_duration_seconds_sum");
        double bind_n = metric(metrics, "scheduler_binding_duration_seconds_count");
        printf("e2e nodes=%d pods=%d: decisions %.0f, %.1f us each (%.0f decisions/s of loop time); binding "
               "POSTs %.0f, %.2f ms each\n",
               nnodes, npods, dec_n, dec_n > 0 ? dec_sum / dec_n * 1e6 : 0, dec_sum > 0 ? dec_n / dec_sum : 0,
               bind_n, bind_n > 0 ? bind_sum / bind_n * 1e3 : 0);
        printf("e2e nodes=%d pods=%d: binding call latency p50 %.2f ms p90 %.2f ms p99 %.2f ms; decision -> "
               "binding stored p50 %.1f ms p90 %.1f ms p99 %.1f ms (histogram-interpolated)\n",
               nnodes, npods, hist_quantile(metrics, "scheduler_binding_duration_seconds", 0.5) * 1e3,
               hist_quantile(metrics, "scheduler_binding_duration_seconds", 0.9) * 1e3,
               hist_quantile(metrics, "scheduler_binding_duration_seconds", 0.99) * 1e3,
               hist_quantile(metrics, "scheduler_decision_to_bound_duration_seconds", 0.5) * 1e3,
               hist_quantile(metrics, "scheduler_decision_to_bound_duration_seconds", 0.9) * 1e3,
               hist_quantile(metrics, "scheduler_decision_to_bound_duration_seconds", 0.99) * 1e3);
        printf("e2e nodes=%d pods=%d: CPU from scheduler start to last binding: k8c-scheduler %.2f s, "
               "k8c-apiserver %.2f s (wall %.2f s, %ld cores shared with the rest of the machine)\n",
               nnodes, npods, cpu_sched, cpu_api, t_last, sysconf(_SC_NPROCESSORS_ONLN));
        rc = unbound == 0 ? 0 : -1;
out:
        stop_pid(sched);
        k8c_test_apiserver_stop(&srv);
        return rc;
}

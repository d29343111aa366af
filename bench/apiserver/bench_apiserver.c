/*
 * bench_apiserver - the release k8c-apiserver on loopback (SQLite storage),
 * driven as the issue asks, with the same create workload sent straight to a
 * private local etcd as raw puts in the same run, side by side.
 *
 * Cases: pod creates with 1 and 64 concurrent keep-alive clients (creates/s,
 * p50/p99), single-object GET latency, a list of 10k pods, and watch fan-out:
 * W watchers on one namespace (one curl multi handle) while pods are created at
 * a fixed rate; latency from the create request's start to the event's arrival
 * at each watcher, and the server's resident memory per idle watcher.
 * Every case is bounded; figures are printed, never asserted.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../../tests/common/apiserver_harness.h"
#include "../../tests/common/etcd_harness.h"
#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/store.h"

#define CREATE_SECONDS 3.0
#define GETS 2000
#define LIST_PODS 10000
#define WATCHERS 1000
#define WATCH_EVENTS 200
#define WATCH_RATE 100 /* events per second */

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

struct lat {
        double *v;
        size_t n, cap;
};

static void lat_add(struct lat *l, double x)
{
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 4096;
                l->v = k8c_xrealloc(l->v, l->cap * sizeof(*l->v));
        }
        l->v[l->n++] = x;
}

static void lat_merge(struct lat *into, struct lat *from)
{
        for (size_t i = 0; i < from->n; i++)
                lat_add(into, from->v[i]);
        free(from->v);
        memset(from, 0, sizeof(*from));
}

static double pct(struct lat *l, double p)
{
        if (l->n == 0)
                return 0;
        qsort(l->v, l->n, sizeof(double), cmp_double);
        return l->v[(size_t)(p * (double)(l->n - 1) + 0.5)];
}

static void make_pod(char *buf, size_t n, const char *name)
{
        snprintf(buf, n,
                 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"labels\":{\"app\":"
                 "\"web\","
                 "\"tier\":\"frontend\"}},\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"busybox:1."
                 "36\","
                 "\"command\":[\"httpd\",\"-f\",\"-p\",\"8080\"],\"ports\":[{\"containerPort\":8080}],"
                 "\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"},\"limits\":{\"cpu\":"
                 "\"200m\","
                 "\"memory\":\"128Mi\"}}}]}}",
                 name);
}

/* ---- creates through the apiserver ---- */

struct creators {
        const char *url;
        const char *ns;
        double deadline;
        atomic_long seq;
        atomic_long errors;
};

struct creator_arg {
        struct creators *c;
        struct lat lat;
};

static size_t count_bytes(char *ptr, size_t size, size_t nmemb, void *ud)
{
        *(size_t *)ud += size * nmemb;
        return size * nmemb;
}

/* One keep-alive connection POSTing pre-rendered bodies and discarding the replies (only the
 * status is read): the load generator shares the machine's cores with the server, so it does
 * no JSON work of its own. */
static void *creator(void *p)
{
        struct creator_arg *a = p;
        CURL *h = curl_easy_init();
        if (h == NULL)
                return NULL;
        cleanup_free char *url = k8c_xasprintf("%s/api/v1/namespaces/%s/pods", a->c->url, a->c->ns);
        struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Accept: application/json");
        size_t bytes = 0;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, count_bytes);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &bytes);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        while (now_s() < a->c->deadline) {
                char name[64];
                snprintf(name, sizeof(name), "p-%ld", atomic_fetch_add(&a->c->seq, 1));
                char body[1024];
                make_pod(body, sizeof(body), name);
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
                double t0 = now_s();
                long code = 0;
                if (curl_easy_perform(h) == CURLE_OK)
                        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
                if (code != 201)
                        atomic_fetch_add(&a->c->errors, 1);
                else
                        lat_add(&a->lat, now_s() - t0);
        }
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        return NULL;
}

static void run_creates(const char *url, const char *ns, int nthreads, double *ret_rate, struct lat *ret_lat,
                        long *ret_errors)
{
        struct creators c = { .url = url, .ns = ns, .deadline = now_s() + CREATE_SECONDS };
        pthread_t th[64];
        struct creator_arg args[64];
        memset(args, 0, sizeof(args));
        double t0 = now_s();
        for (int i = 0; i < nthreads; i++) {
                args[i].c = &c;
                pthread_create(&th[i], NULL, creator, &args[i]);
        }
        for (int i = 0; i < nthreads; i++) {
                pthread_join(th[i], NULL);
                lat_merge(ret_lat, &args[i].lat);
        }
        double el = now_s() - t0;
        *ret_rate = (double)ret_lat->n / el;
        *ret_errors = atomic_load(&c.errors);
}

/* ---- the same workload as raw etcd puts (our etcd backend: one txn per create) ---- */

struct etcd_writers {
        struct k8c_store *s;
        double deadline;
        atomic_long seq;
        atomic_long errors;
};

struct etcd_arg {
        struct etcd_writers *w;
        struct lat lat;
};

static void *etcd_writer(void *p)
{
        struct etcd_arg *a = p;
        while (now_s() < a->w->deadline) {
                char key[96], body[1024];
                long i = atomic_fetch_add(&a->w->seq, 1);
                snprintf(key, sizeof(key), "/registry/core/pods/bench/p-%ld", i);
                make_pod(body, sizeof(body), key + 25);
                double t0 = now_s();
                if (k8c_store_create(a->w->s, key, body, strlen(body), NULL, NULL) < 0)
                        atomic_fetch_add(&a->w->errors, 1);
                else
                        lat_add(&a->lat, now_s() - t0);
        }
        return NULL;
}

static int run_etcd(int nthreads, double *ret_rate, struct lat *ret_lat)
{
        struct etcd_harness *h = NULL;
        if (etcd_harness_start(&h) < 0)
                return -1;
        struct k8c_store_config cfg = { .backend = "etcd", .etcd_servers = h->url };
        struct k8c_store *s = NULL;
        if (k8c_store_open(&cfg, &s, NULL) < 0) {
                etcd_harness_stop(h);
                return -1;
        }
        struct etcd_writers w = { .s = s, .deadline = now_s() + CREATE_SECONDS };
        pthread_t th[64];
        struct etcd_arg args[64];
        memset(args, 0, sizeof(args));
        double t0 = now_s();
        for (int i = 0; i < nthreads; i++) {
                args[i].w = &w;
                pthread_create(&th[i], NULL, etcd_writer, &args[i]);
        }
        for (int i = 0; i < nthreads; i++) {
                pthread_join(th[i], NULL);
                lat_merge(ret_lat, &args[i].lat);
        }
        *ret_rate = (double)ret_lat->n / (now_s() - t0);
        k8c_store_close(s);
        etcd_harness_stop(h);
        return 0;
}

/* ---- raw GET (bytes counted, not decoded) ---- */

static long raw_get(const char *url, const char *accept, size_t *ret_bytes)
{
        CURL *h = curl_easy_init();
        long code = 0;
        struct curl_slist *hdrs = NULL;
        if (accept != NULL) {
                cleanup_free char *a = k8c_xasprintf("Accept: %s", accept);
                hdrs = curl_slist_append(hdrs, a);
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        }
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, count_bytes);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, ret_bytes);
        if (curl_easy_perform(h) == CURLE_OK)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(h);
        curl_slist_free_all(hdrs);
        return code;
}

/* ---- watch fan-out ---- */

struct watcher {
        CURL *h;
        char *buf;
        size_t len, cap;
        struct lat *lat;
        int events;
};

static size_t watcher_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
        struct watcher *w = ud;
        size_t n = size * nmemb;
        double arrived = now_s();
        if (w->len + n + 1 > w->cap) {
                w->cap = (w->len + n + 1) * 2;
                w->buf = k8c_xrealloc(w->buf, w->cap);
        }
        memcpy(w->buf + w->len, ptr, n);
        w->len += n;
        w->buf[w->len] = '\0';
        char *line;
        while ((line = memchr(w->buf, '\n', w->len)) != NULL) {
                *line = '\0';
                /* The sender put its send time into an annotation: find it without a full parse. */
                const char *t = strstr(w->buf, "\"sent\":\"");
                if (t != NULL && strstr(w->buf, "\"ADDED\"") != NULL) {
                        lat_add(w->lat, arrived - strtod(t + 8, NULL));
                        w->events++;
                }
                size_t used = (size_t)(line - w->buf) + 1;
                memmove(w->buf, line + 1, w->len - used);
                w->len -= used;
        }
        return n;
}

static long rss_kib(pid_t pid)
{
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        FILE *f = fopen(path, "r");
        long kib = -1;
        while (f != NULL && fgets(line, sizeof(line), f) != NULL)
                if (strncmp(line, "VmRSS:", 6) == 0)
                        kib = strtol(line + 6, NULL, 10);
        if (f != NULL)
                fclose(f);
        return kib;
}

static void run_watch_fanout(struct k8c_test_apiserver *s, struct k8c_client *cl, int nwatchers)
{
        json_auto_t *ns = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
                                    "name", "bench-watch");
        k8c_client_post(cl, "/api/v1/namespaces", ns, NULL, NULL);
        json_auto_t *list = NULL;
        if (k8c_client_get(cl, "/api/v1/namespaces/bench-watch/pods", &list, NULL) < 0)
                return;
        const char *rv =
                json_string_value(json_object_get(json_object_get(list, "metadata"), "resourceVersion"));
        cleanup_free char *url = k8c_xasprintf(
                "%s/api/v1/namespaces/bench-watch/pods?watch=true&resourceVersion=%s", s->url, rv);
        long rss0 = rss_kib(s->pid);
        struct lat lat = { 0 };
        CURLM *m = curl_multi_init();
        struct watcher *ws = k8c_xcalloc((size_t)nwatchers, sizeof(*ws));
        for (int i = 0; i < nwatchers; i++) {
                ws[i].h = curl_easy_init();
                ws[i].lat = &lat;
                curl_easy_setopt(ws[i].h, CURLOPT_URL, url);
                curl_easy_setopt(ws[i].h, CURLOPT_WRITEFUNCTION, watcher_write);
                curl_easy_setopt(ws[i].h, CURLOPT_WRITEDATA, &ws[i]);
                curl_multi_add_handle(m, ws[i].h);
        }
        /* Let every watcher connect and settle. */
        double settle = now_s() + 3;
        int running = 0;
        while (now_s() < settle) {
                curl_multi_perform(m, &running);
                curl_multi_poll(m, NULL, 0, 50, NULL);
        }
        long rss1 = rss_kib(s->pid);

        /* One sender thread would block the poll loop: send from here between polls at the set rate. */
        struct k8c_client_config cfg = { .server = s->url };
        struct k8c_client *sender = NULL;
        k8c_client_new(&cfg, &sender, NULL);
        double next = now_s();
        int sent = 0;
        double end = 0;
        while (end == 0 || now_s() < end) {
                if (sent < WATCH_EVENTS && now_s() >= next) {
                        char name[32], body[1024];
                        snprintf(name, sizeof(name), "w-%d", sent);
                        make_pod(body, sizeof(body), name);
                        json_auto_t *obj = json_loads(body, 0, NULL);
                        char ts[64];
                        snprintf(ts, sizeof(ts), "%.6f", now_s());
                        json_object_set_new(json_object_get(obj, "metadata"), "annotations",
                                            json_pack("{s:s}", "sent", ts));
                        k8c_client_post(sender, "/api/v1/namespaces/bench-watch/pods", obj, NULL, NULL);
                        sent++;
                        next += 1.0 / WATCH_RATE;
                        if (sent == WATCH_EVENTS)
                                end = now_s() + 3; /* drain */
                }
                curl_multi_perform(m, &running);
                curl_multi_poll(m, NULL, 0, 1, NULL);
        }
        long delivered_all = 0;
        for (int i = 0; i < nwatchers; i++)
                if (ws[i].events == WATCH_EVENTS)
                        delivered_all++;
        printf("%-44s %12d\n", "watch: watchers", nwatchers);
        printf("%-44s %12d\n", "watch: events sent (at 100/s)", sent);
        printf("%-44s %12ld\n", "watch: watchers that got every event", delivered_all);
        printf("%-44s %12zu\n", "watch: deliveries", lat.n);
        printf("%-44s %12.2f\n", "watch: delivery p50 (ms, from request start)", pct(&lat, 0.50) * 1000);
        printf("%-44s %12.2f\n", "watch: delivery p99 (ms, from request start)", pct(&lat, 0.99) * 1000);
        if (rss0 > 0 && rss1 > 0)
                printf("%-44s %12.1f\n", "watch: server memory per idle watcher (KiB)",
                       (double)(rss1 - rss0) / nwatchers);
        for (int i = 0; i < nwatchers; i++) {
                curl_multi_remove_handle(m, ws[i].h);
                curl_easy_cleanup(ws[i].h);
                free(ws[i].buf);
        }
        curl_multi_cleanup(m);
        free(ws);
        free(lat.v);
        k8c_client_free(sender);
}

int main(void)
{
        const char *bindir = getenv("BINDIR");
        char *abs = realpath(bindir != NULL ? bindir : "bin", NULL);
        if (abs != NULL)
                setenv("K8C_BINDIR", abs, 1);
        free(abs);
        unsetenv("K8C_ASAN_BINDIR");
        curl_global_init(CURL_GLOBAL_DEFAULT);
        /* 1,000 watchers need more descriptors than the default soft limit, here and in the server. */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 8192) {
                rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
                setrlimit(RLIMIT_NOFILE, &rl);
        }

        struct k8c_test_apiserver s;
        /* BENCH_APISERVER_ARGS: extra flags (space-separated), to compare settings. */
        const char *args[16] = { "--max-request-body-bytes=3145728", NULL };
        cleanup_free char *extra =
                k8c_xstrdup(getenv("BENCH_APISERVER_ARGS") ? getenv("BENCH_APISERVER_ARGS") : "");
        size_t nargs = 1;
        for (char *save = NULL, *t = strtok_r(extra, " ", &save); t != NULL && nargs < 15;
             t = strtok_r(NULL, " ", &save))
                args[nargs++] = t;
        args[nargs] = NULL;
        if (k8c_test_apiserver_start(&s, args) < 0) {
                fprintf(stderr, "bench_apiserver: cannot start k8c-apiserver\n");
                return 1;
        }
        struct k8c_client_config cfg = { .server = s.url };
        struct k8c_client *cl = NULL;
        k8c_client_new(&cfg, &cl, NULL);
        const char *nss[] = { "bench-1", "bench-64", "bench-list" };
        for (size_t i = 0; i < 3; i++) {
                json_auto_t *ns = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                                            "metadata", "name", nss[i]);
                k8c_client_post(cl, "/api/v1/namespaces", ns, NULL, NULL);
        }

        printf("%-44s %12s %12s %8s\n", "case", "k8c", "raw etcd", "ratio");
        double rate1 = 0, rate64 = 0, erate1 = 0, erate64 = 0;
        struct lat l1 = { 0 }, l64 = { 0 }, e1 = { 0 }, e64 = { 0 };
        long errs1 = 0, errs64 = 0;
        run_creates(s.url, "bench-1", 1, &rate1, &l1, &errs1);
        double cpu0 = k8c_test_cpu_seconds(s.pid);
        run_creates(s.url, "bench-64", 64, &rate64, &l64, &errs64);
        double cpu_per_create = l64.n > 0 ? (k8c_test_cpu_seconds(s.pid) - cpu0) / (double)l64.n : 0;
        bool have_etcd = run_etcd(1, &erate1, &e1) == 0 && run_etcd(64, &erate64, &e64) == 0;
        printf("%-44s %12.0f %12.0f %7.2fx\n", "pod creates/s, 1 client", rate1, erate1,
               have_etcd && erate1 > 0 ? rate1 / erate1 : 0);
        printf("%-44s %12.2f %12.2f\n", "  p50 (ms)", pct(&l1, 0.5) * 1000, pct(&e1, 0.5) * 1000);
        printf("%-44s %12.2f %12.2f\n", "  p99 (ms)", pct(&l1, 0.99) * 1000, pct(&e1, 0.99) * 1000);
        printf("%-44s %12.0f %12.0f %7.2fx\n", "pod creates/s, 64 clients", rate64, erate64,
               have_etcd && erate64 > 0 ? rate64 / erate64 : 0);
        printf("%-44s %12.2f %12.2f\n", "  p50 (ms)", pct(&l64, 0.5) * 1000, pct(&e64, 0.5) * 1000);
        printf("%-44s %12.2f %12.2f\n", "  p99 (ms)", pct(&l64, 0.99) * 1000, pct(&e64, 0.99) * 1000);
        printf("%-44s %12ld\n", "  failed creates", errs1 + errs64);
        printf("%-44s %12.0f\n", "  server CPU per create, 64 clients (us)", cpu_per_create * 1e6);
        if (getenv("BENCH_CREATES_ONLY") != NULL) { /* quick comparisons of create settings */
                k8c_client_free(cl);
                k8c_test_apiserver_stop(&s);
                return 0;
        }

        /* GET latency of single objects. */
        struct lat g = { 0 };
        for (int i = 0; i < GETS; i++) {
                char path[96];
                snprintf(path, sizeof(path), "/api/v1/namespaces/bench-64/pods/p-%d",
                         i % (int)(l64.n ? l64.n : 1));
                double t0 = now_s();
                if (k8c_client_get(cl, path, NULL, NULL) == 0)
                        lat_add(&g, now_s() - t0);
        }
        printf("%-44s %12.3f\n", "single-object GET p50 (ms)", pct(&g, 0.5) * 1000);
        printf("%-44s %12.3f\n", "single-object GET p99 (ms)", pct(&g, 0.99) * 1000);

        /* 10k pods listed. */
        struct k8c_client *filler = cl;
        for (int i = 0; i < LIST_PODS; i++) {
                char name[32], body[1024];
                snprintf(name, sizeof(name), "l-%d", i);
                make_pod(body, sizeof(body), name);
                json_auto_t *obj = json_loads(body, 0, NULL);
                k8c_client_post(filler, "/api/v1/namespaces/bench-list/pods", obj, NULL, NULL);
        }
        struct lat ll = { 0 };
        for (int i = 0; i < 5; i++) {
                json_auto_t *list = NULL;
                double t0 = now_s();
                if (k8c_client_get(cl, "/api/v1/namespaces/bench-list/pods", &list, NULL) == 0 &&
                    json_array_size(json_object_get(list, "items")) == LIST_PODS)
                        lat_add(&ll, now_s() - t0);
        }
        /* The same lists as raw bytes: the server's share, without the client's JSON decode. */
        struct lat lr = { 0 }, ls = { 0 }, lt = { 0 };
        cleanup_free char *list_url = k8c_xasprintf("%s/api/v1/namespaces/bench-list/pods", s.url);
        cleanup_free char *sel_url =
                k8c_xasprintf("%s/api/v1/namespaces/bench-list/pods?labelSelector=app%%3Dweb", s.url);
        /* kubectl get pods: its first page, a Table of 500 rows. */
        cleanup_free char *table_url = k8c_xasprintf("%s/api/v1/namespaces/bench-list/pods?limit=500", s.url);
        const char *table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
        size_t raw_bytes = 0;
        for (int i = 0; i < 5; i++) {
                raw_bytes = 0;
                double t0 = now_s();
                if (raw_get(list_url, NULL, &raw_bytes) == 200)
                        lat_add(&lr, now_s() - t0);
                size_t sel_bytes = 0, table_bytes = 0;
                t0 = now_s();
                if (raw_get(sel_url, NULL, &sel_bytes) == 200)
                        lat_add(&ls, now_s() - t0);
                t0 = now_s();
                if (raw_get(table_url, table_accept, &table_bytes) == 200)
                        lat_add(&lt, now_s() - t0);
        }
        /* The "list of 10k pods" is the server's latency (as kube-apiserver's request
         * duration): request sent to the last byte of the reply received. */
        printf("%-44s %12.1f\n", "list of 10k pods, median of 5 (ms)", pct(&lr, 0.5) * 1000);
        printf("%-44s %12.1f\n", "  and decoded by the k8c client library (ms)", pct(&ll, 0.5) * 1000);
        printf("%-44s %12.1f\n", "  with labelSelector=app=web (ms)", pct(&ls, 0.5) * 1000);
        printf("%-44s %12.1f\n", "  reply size (MiB)", (double)raw_bytes / (1024.0 * 1024.0));
        printf("%-44s %12.1f\n", "  Table page of 500 (kubectl get) (ms)", pct(&lt, 0.5) * 1000);

        /* Watch fan-out on a fresh server: heap freed by the cases above (a 10k list) would
         * otherwise be reused by the watchers and hide what they cost. */
        struct k8c_test_apiserver ws;
        if (k8c_test_apiserver_start(&ws, args) == 0) {
                struct k8c_client_config wcfg = { .server = ws.url };
                struct k8c_client *wcl = NULL;
                if (k8c_client_new(&wcfg, &wcl, NULL) == 0)
                        run_watch_fanout(&ws, wcl, WATCHERS);
                k8c_client_free(wcl);
                k8c_test_apiserver_stop(&ws);
        }

        free(l1.v);
        free(l64.v);
        free(e1.v);
        free(e64.v);
        free(g.v);
        free(ll.v);
        free(lr.v);
        free(ls.v);
        free(lt.v);
        k8c_client_free(cl);
        k8c_test_apiserver_stop(&s);
        return 0;
}

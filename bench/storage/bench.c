/*
 * bench/storage - the storage backends side by side: SQLite (embedded, WAL,
 * synchronous=FULL) and etcd (a private local member started by the harness,
 * same machine, same /tmp file system), through the same k8c_store interface.
 *
 * Cases: 1, 16 and 64 concurrent writers creating 2 KiB values (writes/s, p50,
 * p99 latency), a full list of 10k keys, and watch delivery latency (from the
 * start of the write, and from its acknowledgement, to the event in a watcher).
 * Every case is bounded in time. Figures are printed, never asserted.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../tests/common/etcd_harness.h"
#include "k8c/cleanup.h"
#include "k8c/store.h"

#define VALUE_SIZE 2048
#define WRITE_SECONDS 3.0
#define LIST_KEYS 10000
#define LIST_ROUNDS 5
#define WATCH_EVENTS 1000

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

static double pct(double *v, size_t n, double p)
{
        if (n == 0)
                return 0;
        size_t i = (size_t)(p * (double)(n - 1) + 0.5);
        return v[i];
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

/* ---- concurrent writers ---- */

struct writers {
        struct k8c_store *s;
        const char *tag;
        double deadline;
        atomic_long errors;
        char value[VALUE_SIZE];
};

struct writer_arg {
        struct writers *w;
        int id;
        struct lat lat;
        char *first_error;
};

static void *writer_thread(void *p)
{
        struct writer_arg *a = p;
        char key[128];
        for (long i = 0; now_s() < a->w->deadline; i++) {
                snprintf(key, sizeof(key), "/registry/bench/%s/w%d/%ld", a->w->tag, a->id, i);
                cleanup_error k8c_error_t err = NULL;
                double t0 = now_s();
                int r = k8c_store_create(a->w->s, key, a->w->value, VALUE_SIZE, NULL, &err);
                double t1 = now_s();
                if (r < 0) {
                        atomic_fetch_add(&a->w->errors, 1);
                        if (a->first_error == NULL)
                                a->first_error = k8c_xstrdup(k8c_error_msg(&err));
                        continue;
                }
                lat_add(&a->lat, (t1 - t0) * 1e3);
        }
        return NULL;
}

struct write_result {
        double wps, p50, p99;
};

static void run_writers(struct k8c_store *s, const char *backend, int n, struct write_result *out)
{
        struct writers w = { .s = s };
        char tag[64];
        snprintf(tag, sizeof(tag), "%s-%d", backend, n);
        w.tag = tag;
        memset(w.value, 'x', sizeof(w.value));
        struct writer_arg *args = k8c_xcalloc((size_t)n, sizeof(*args));
        pthread_t *th = k8c_xcalloc((size_t)n, sizeof(*th));
        double t0 = now_s();
        w.deadline = t0 + WRITE_SECONDS;
        for (int i = 0; i < n; i++) {
                args[i] = (struct writer_arg){ .w = &w, .id = i };
                pthread_create(&th[i], NULL, writer_thread, &args[i]);
        }
        struct lat all = { 0 };
        for (int i = 0; i < n; i++) {
                pthread_join(th[i], NULL);
                for (size_t j = 0; j < args[i].lat.n; j++)
                        lat_add(&all, args[i].lat.v[j]);
                if (args[i].first_error != NULL && i == 0)
                        fprintf(stderr, "%s: write error: %s\n", backend, args[i].first_error);
                free(args[i].first_error);
                free(args[i].lat.v);
        }
        double elapsed = now_s() - t0;
        qsort(all.v, all.n, sizeof(double), cmp_double);
        out->wps = (double)all.n / elapsed;
        out->p50 = pct(all.v, all.n, 0.50);
        out->p99 = pct(all.v, all.n, 0.99);
        if (atomic_load(&w.errors) > 0)
                fprintf(stderr, "%s: %ld failed writes with %d writers\n", backend, atomic_load(&w.errors),
                        n);
        free(all.v);
        free(args);
        free(th);
}

/* ---- list of 10k keys ---- */

struct filler {
        struct k8c_store *s;
        atomic_int next;
        char value[VALUE_SIZE];
};

static void *fill_thread(void *p)
{
        struct filler *f = p;
        char key[64];
        int i;
        while ((i = atomic_fetch_add(&f->next, 1)) < LIST_KEYS) {
                snprintf(key, sizeof(key), "/registry/benchlist/k%05d", i);
                cleanup_error k8c_error_t err = NULL;
                if (k8c_store_create(f->s, key, f->value, VALUE_SIZE, NULL, &err) < 0)
                        fprintf(stderr, "fill %s: %s\n", key, k8c_error_msg(&err));
        }
        return NULL;
}

/* Median milliseconds to list LIST_KEYS keys of 2 KiB. */
static double run_list(struct k8c_store *s, const char *backend)
{
        struct filler f = { .s = s };
        memset(f.value, 'l', sizeof(f.value));
        pthread_t th[32];
        for (size_t i = 0; i < K8C_ARRAY_SIZE(th); i++)
                pthread_create(&th[i], NULL, fill_thread, &f);
        for (size_t i = 0; i < K8C_ARRAY_SIZE(th); i++)
                pthread_join(th[i], NULL);
        double t[LIST_ROUNDS];
        for (int r = 0; r < LIST_ROUNDS; r++) {
                struct k8c_kv_list l = { 0 };
                cleanup_error k8c_error_t err = NULL;
                double t0 = now_s();
                if (k8c_store_list(s, "/registry/benchlist/", NULL, &l, &err) < 0)
                        fprintf(stderr, "%s: list: %s\n", backend, k8c_error_msg(&err));
                t[r] = (now_s() - t0) * 1e3;
                if (l.n != LIST_KEYS)
                        fprintf(stderr, "%s: list returned %zu keys, wanted %d\n", backend, l.n, LIST_KEYS);
                k8c_kv_list_free(&l);
        }
        qsort(t, LIST_ROUNDS, sizeof(double), cmp_double);
        return t[LIST_ROUNDS / 2];
}

/* ---- watch delivery ---- */

struct watch_bench {
        struct k8c_store_watch *w;
        double start[WATCH_EVENTS]; /* write start */
        double ack[WATCH_EVENTS];   /* write returned */
        double got[WATCH_EVENTS];   /* event received */
        atomic_int written;
        int received;
};

static void *watch_thread(void *p)
{
        struct watch_bench *b = p;
        double deadline = now_s() + 20;
        while (b->received < WATCH_EVENTS && now_s() < deadline) {
                struct k8c_store_event *ev = NULL;
                cleanup_error k8c_error_t err = NULL;
                int r = k8c_store_watch_next(b->w, 1000, &ev, &err);
                if (r < 0) {
                        fprintf(stderr, "watch: %s\n", k8c_error_msg(&err));
                        break;
                }
                if (r == 0)
                        continue;
                double t = now_s();
                int idx = atoi(ev->kv.value);
                if (idx >= 0 && idx < WATCH_EVENTS)
                        b->got[idx] = t;
                b->received++;
                k8c_store_event_free(ev);
        }
        return NULL;
}

struct watch_result {
        double p50, p99;         /* write start -> event */
        double ack_p50, ack_p99; /* write acknowledged -> event (0 when the event came first) */
};

static void run_watch(struct k8c_store *s, const char *backend, struct watch_result *out)
{
        struct watch_bench *b = k8c_xcalloc(1, sizeof(*b));
        cleanup_error k8c_error_t err = NULL;
        if (k8c_store_watch(s, "/registry/benchwatch/", 0, &b->w, &err) < 0) {
                fprintf(stderr, "%s: watch: %s\n", backend, k8c_error_msg(&err));
                free(b);
                return;
        }
        pthread_t th;
        pthread_create(&th, NULL, watch_thread, b);
        char value[VALUE_SIZE], key[64];
        memset(value, 'w', sizeof(value));
        for (int i = 0; i < WATCH_EVENTS; i++) {
                int n = snprintf(value, sizeof(value), "%d;", i);
                value[n] = 'w';
                snprintf(key, sizeof(key), "/registry/benchwatch/k%d", i);
                b->start[i] = now_s();
                if (k8c_store_create(s, key, value, VALUE_SIZE, NULL, &err) < 0)
                        fprintf(stderr, "%s: watch write: %s\n", backend, k8c_error_msg(&err));
                b->ack[i] = now_s();
                /* A steady trickle, not a flood: delivery latency, not queueing. */
                struct timespec ts = { 0, 500 * 1000 };
                nanosleep(&ts, NULL);
        }
        pthread_join(th, NULL);
        k8c_store_watch_close(b->w);
        struct lat e2e = { 0 }, ack = { 0 };
        for (int i = 0; i < WATCH_EVENTS; i++) {
                if (b->got[i] == 0)
                        continue;
                lat_add(&e2e, (b->got[i] - b->start[i]) * 1e3);
                double a = (b->got[i] - b->ack[i]) * 1e3;
                lat_add(&ack, a > 0 ? a : 0);
        }
        if (e2e.n != WATCH_EVENTS)
                fprintf(stderr, "%s: watch delivered %zu of %d events\n", backend, e2e.n, WATCH_EVENTS);
        qsort(e2e.v, e2e.n, sizeof(double), cmp_double);
        qsort(ack.v, ack.n, sizeof(double), cmp_double);
        out->p50 = pct(e2e.v, e2e.n, 0.5);
        out->p99 = pct(e2e.v, e2e.n, 0.99);
        out->ack_p50 = pct(ack.v, ack.n, 0.5);
        out->ack_p99 = pct(ack.v, ack.n, 0.99);
        free(e2e.v);
        free(ack.v);
        free(b);
}

/* ---- the two backends ---- */

struct figures {
        struct write_result w[3];
        double list_ms;
        struct watch_result watch;
};

static const int writer_counts[3] = { 1, 16, 64 };

static void run_all(struct k8c_store *s, const char *backend, struct figures *f)
{
        for (int i = 0; i < 3; i++) {
                fprintf(stderr, "%s: %d writer(s)...\n", backend, writer_counts[i]);
                run_writers(s, backend, writer_counts[i], &f->w[i]);
        }
        fprintf(stderr, "%s: list of %d keys...\n", backend, LIST_KEYS);
        f->list_ms = run_list(s, backend);
        fprintf(stderr, "%s: watch delivery...\n", backend);
        run_watch(s, backend, &f->watch);
}

static void row(const char *what, const char *unit, double a, double b)
{
        char ratio[32] = "-";
        if (b > 0)
                snprintf(ratio, sizeof(ratio), "%.2fx", a / b);
        printf("%-34s %-6s %12.2f %12.2f %10s\n", what, unit, a, b, ratio);
}

static int rm_tree(const char *path)
{
        cleanup_free char *cmd = k8c_xasprintf("rm -rf -- '%s'", path);
        return system(cmd);
}

int main(void)
{
        struct figures sq = { 0 }, et = { 0 };
        char tmpl[] = "/tmp/k8c-bench-storage-XXXXXX";
        if (mkdtemp(tmpl) == NULL) {
                perror("mkdtemp");
                return 1;
        }
        cleanup_free char *dir = k8c_xasprintf("%s/sqlite", tmpl);
        struct k8c_store_config scfg = { .backend = "sqlite", .data_dir = dir };
        struct k8c_store *s = NULL;
        cleanup_error k8c_error_t err = NULL;
        if (k8c_store_open(&scfg, &s, &err) < 0) {
                fprintf(stderr, "sqlite: %s\n", k8c_error_msg(&err));
                rm_tree(tmpl);
                return 1;
        }
        run_all(s, "sqlite", &sq);
        k8c_store_close(s);
        rm_tree(tmpl);

        struct etcd_harness *h = NULL;
        if (etcd_harness_start(&h) < 0)
                return 1;
        struct k8c_store_config ecfg = { .backend = "etcd", .etcd_servers = h->url, .etcd_prefix = "/bench" };
        if (k8c_store_open(&ecfg, &s, &err) < 0) {
                fprintf(stderr, "etcd: %s\n", k8c_error_msg(&err));
                etcd_harness_stop(h);
                return 1;
        }
        run_all(s, "etcd", &et);
        k8c_store_close(s);
        etcd_harness_stop(h);

        /* Other work on the machine skews every figure: say how busy it was. */
        char load[64] = "?";
        FILE *lf = fopen("/proc/loadavg", "r");
        if (lf != NULL) {
                if (fgets(load, sizeof(load), lf) != NULL)
                        load[strcspn(load, "\n")] = '\0';
                fclose(lf);
        }
        printf("\nstorage benchmark: %d-byte values, %.0f s per write case, etcd: one local member via its "
               "JSON gateway; %ld CPUs, loadavg %s\n",
               VALUE_SIZE, WRITE_SECONDS, sysconf(_SC_NPROCESSORS_ONLN), load);
        printf("%-34s %-6s %12s %12s %10s\n", "case", "unit", "sqlite", "etcd", "sqlite/etcd");
        for (int i = 0; i < 3; i++) {
                char what[64];
                snprintf(what, sizeof(what), "%d writer%s: throughput", writer_counts[i],
                         writer_counts[i] > 1 ? "s" : "");
                row(what, "w/s", sq.w[i].wps, et.w[i].wps);
                snprintf(what, sizeof(what), "%d writer%s: latency p50", writer_counts[i],
                         writer_counts[i] > 1 ? "s" : "");
                row(what, "ms", sq.w[i].p50, et.w[i].p50);
                snprintf(what, sizeof(what), "%d writer%s: latency p99", writer_counts[i],
                         writer_counts[i] > 1 ? "s" : "");
                row(what, "ms", sq.w[i].p99, et.w[i].p99);
        }
        row("list 10k keys (median of 5)", "ms", sq.list_ms, et.list_ms);
        row("watch write start->event p50", "ms", sq.watch.p50, et.watch.p50);
        row("watch write start->event p99", "ms", sq.watch.p99, et.watch.p99);
        row("watch write ack->event p50", "ms", sq.watch.ack_p50, et.watch.ack_p50);
        row("watch write ack->event p99", "ms", sq.watch.ack_p99, et.watch.ack_p99);
        return 0;
}

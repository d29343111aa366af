/*
 * metrics.c - Prometheus text for /metrics: requests by verb/resource/code, a
 * request latency histogram, the number of watchers, the storage revision and how
 * often the Service allocator read all Services.
 * Counters live in a small table under one mutex (request rates here are low).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"

#define MAX_SERIES 512

static const double buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60 };
#define NB (sizeof(buckets) / sizeof(buckets[0]))

struct series {
        char verb[16];
        char resource[96];
        int code;
        uint64_t count;
};

struct k8c_metrics {
        pthread_mutex_t lock;
        struct series s[MAX_SERIES];
        size_t n;
        uint64_t hist[NB];
        uint64_t hist_count;
        double hist_sum;
};

int k8c_metrics_new(struct k8c_metrics **ret)
{
        struct k8c_metrics *m = k8c_xcalloc(1, sizeof(*m));
        pthread_mutex_init(&m->lock, NULL);
        *ret = m;
        return 0;
}

void k8c_metrics_free(struct k8c_metrics *m)
{
        if (m == NULL)
                return;
        pthread_mutex_destroy(&m->lock);
        free(m);
}

void k8c_metrics_observe(struct k8c_metrics *m, const char *verb, const char *resource, int code,
                         double seconds)
{
        if (m == NULL)
                return;
        pthread_mutex_lock(&m->lock);
        size_t i;
        for (i = 0; i < m->n; i++)
                if (m->s[i].code == code && strcmp(m->s[i].verb, verb) == 0 &&
                    strcmp(m->s[i].resource, resource) == 0)
                        break;
        if (i == m->n && m->n < MAX_SERIES) {
                snprintf(m->s[i].verb, sizeof(m->s[i].verb), "%s", verb);
                snprintf(m->s[i].resource, sizeof(m->s[i].resource), "%s", resource);
                m->s[i].code = code;
                m->n++;
        }
        if (i < m->n)
                m->s[i].count++;
        /* Watches are long-running; their duration would drown the latency histogram. */
        if (strcmp(verb, "WATCH") != 0) {
                for (size_t b = 0; b < NB; b++)
                        if (seconds <= buckets[b])
                                m->hist[b]++;
                m->hist_count++;
                m->hist_sum += seconds;
        }
        pthread_mutex_unlock(&m->lock);
}

char *k8c_metrics_render(struct k8c_apiserver *srv)
{
        struct k8c_metrics *m = srv->metrics;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (f == NULL)
                return k8c_xstrdup("");
        fprintf(f,
                "# HELP apiserver_request_total Counter of apiserver requests by verb, resource and code.\n");
        fprintf(f, "# TYPE apiserver_request_total counter\n");
        pthread_mutex_lock(&m->lock);
        for (size_t i = 0; i < m->n; i++)
                fprintf(f, "apiserver_request_total{verb=\"%s\",resource=\"%s\",code=\"%d\"} %" PRIu64 "\n",
                        m->s[i].verb, m->s[i].resource, m->s[i].code, m->s[i].count);
        fprintf(f, "# HELP apiserver_request_duration_seconds Response latency (watches excluded).\n");
        fprintf(f, "# TYPE apiserver_request_duration_seconds histogram\n");
        for (size_t b = 0; b < NB; b++)
                fprintf(f, "apiserver_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", buckets[b],
                        m->hist[b]);
        fprintf(f, "apiserver_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", m->hist_count);
        fprintf(f, "apiserver_request_duration_seconds_sum %g\n", m->hist_sum);
        fprintf(f, "apiserver_request_duration_seconds_count %" PRIu64 "\n", m->hist_count);
        pthread_mutex_unlock(&m->lock);
        fprintf(f, "# HELP apiserver_registered_watchers Number of open watch streams.\n");
        fprintf(f, "# TYPE apiserver_registered_watchers gauge\n");
        fprintf(f, "apiserver_registered_watchers %zu\n", k8c_watch_cache_watchers(srv));
        fprintf(f, "# HELP apiserver_watch_dropped_total Watchers ended because they fell too far behind.\n");
        fprintf(f, "# TYPE apiserver_watch_dropped_total counter\n");
        fprintf(f, "apiserver_watch_dropped_total %" PRIu64 "\n", k8c_watch_cache_dropped(srv));
        int64_t rev = 0;
        k8c_store_current_revision(srv->store, &rev, NULL);
        fprintf(f, "# HELP k8c_storage_revision Current storage revision.\n");
        fprintf(f, "# TYPE k8c_storage_revision gauge\n");
        fprintf(f, "k8c_storage_revision %" PRId64 "\n", rev);
        fprintf(f, "# HELP k8c_service_allocator_index_builds_total Times the Service ClusterIP/NodePort "
                   "allocator read every stored Service.\n");
        fprintf(f, "# TYPE k8c_service_allocator_index_builds_total counter\n");
        fprintf(f, "k8c_service_allocator_index_builds_total %" PRIu64 "\n", k8c_service_index_builds(srv));
        fclose(f);
        return buf;
}

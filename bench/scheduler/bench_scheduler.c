/*
 * bench_scheduler - scheduling decisions per second over a fake cluster
 * (cache snapshot → all plugins → assume), the scheduling loop's hot path
 * without the API. Figures are printed, never asserted.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8c/cleanup.h"
#include "scheduler/cache.h"
#include "scheduler/framework.h"

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t rnd(void *opaque)
{
        return (uint32_t)rand_r(opaque);
}

static void run(const char *label, int nnodes, int npods, k8c_sched_strategy_t strategy, bool owned)
{
        struct k8c_sched_cache *c = k8c_sched_cache_new();
        for (int i = 0; i < nnodes; i++) {
                char name[32], zone[16];
                snprintf(name, sizeof(name), "node-%04d", i);
                snprintf(zone, sizeof(zone), "zone-%d", i % 3);
                json_t *n = json_pack("{s:{s:s, s:{s:s, s:s}}, s:{}, s:{s:{s:s, s:s, s:s}, s:[{s:s, s:s}]}}",
                                      "metadata", "name", name, "labels", "kubernetes.io/hostname", name,
                                      "topology.kubernetes.io/zone", zone, "spec", "status", "allocatable",
                                      "cpu", "8", "memory", "32Gi", "pods", "110", "conditions", "type",
                                      "Ready", "status", "True");
                k8c_sched_cache_upsert_node(c, n);
                json_decref(n);
        }
        json_t *rss = json_pack("[{s:{s:s, s:s}, s:{s:{s:{s:s}}}}]", "metadata", "name", "web", "namespace",
                                "default", "spec", "selector", "matchLabels", "app", "web");
        struct k8c_sched_profile prof;
        k8c_sched_profile_default(&prof);
        prof.strategy = strategy;
        unsigned int seed = 1;
        int bound = 0;
        double t0 = now_s();
        for (int i = 0; i < npods; i++) {
                char name[32];
                snprintf(name, sizeof(name), "pod-%06d", i);
                json_t *p = json_pack("{s:{s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:{s:{s:s, s:s}}}]}}", "metadata",
                                      "name", name, "namespace", "default", "labels", "app", "web", "spec",
                                      "containers", "name", "c", "resources", "requests", "cpu", "250m",
                                      "memory", "512Mi");
                if (owned)
                        json_object_set_new(json_object_get(p, "metadata"), "ownerReferences",
                                            json_pack("[{s:s, s:s, s:s, s:b}]", "apiVersion", "apps/v1",
                                                      "kind", "ReplicaSet", "name", "web", "controller", 1));
                struct k8c_sched_snapshot *snap = k8c_sched_cache_snapshot(c, NULL, rss);
                struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(p);
                struct k8c_sched_result r;
                k8c_sched_schedule_one(&prof, snap, pi, rnd, &seed, &r);
                if (r.code == K8C_SCHED_OK && k8c_sched_cache_assume(c, p, r.node, NULL) == 0)
                        bound++;
                k8c_sched_result_free(&r);
                k8c_sched_podinfo_unref(pi);
                k8c_sched_snapshot_free(snap);
                json_decref(p);
        }
        double dt = now_s() - t0;
        printf("%-34s nodes=%d pods=%d bound=%d  %.0f decisions/s  %.3f ms/decision\n", label, nnodes, npods,
               bound, npods / dt, dt * 1000 / npods);
        json_decref(rss);
        k8c_sched_profile_free(&prof);
        k8c_sched_cache_free(c);
}

int main(void)
{
        run("MostAllocated, no owner", 100, 2000, K8C_SCHED_MOST_ALLOCATED, false);
        run("LeastAllocated, no owner", 100, 2000, K8C_SCHED_LEAST_ALLOCATED, false);
        run("MostAllocated, one ReplicaSet", 100, 2000, K8C_SCHED_MOST_ALLOCATED, true);
        run("MostAllocated, no owner", 1000, 2000, K8C_SCHED_MOST_ALLOCATED, false);
        return 0;
}

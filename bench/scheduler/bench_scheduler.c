/*
 * bench_scheduler - scheduling decisions per second over a fake cluster, the
 * scheduling loop's hot path without the API, exactly as the daemon runs it:
 * parse the pod once, bring the kept snapshot up to date, decide (sampling
 * nodes in large clusters), assume. Then the same through the real apiserver
 * and the k8c-scheduler binary (bench_e2e.c). Figures are printed, never
 * asserted.
 *
 *   bench_scheduler                      everything
 *   bench_scheduler place NODES PODS [rs|anti] one placement run (for callgrind); rs: pods
 *                                        of one ReplicaSet (SelectorSpread at work); anti: one
 *                                        per node (required anti-affinity on the hostname)
 *   bench_scheduler e2e NODES PODS       one run through the real apiserver
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_scheduler.h"
#include "k8c/cleanup.h"
#include "scheduler/cache.h"
#include "scheduler/framework.h"

double bench_now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t rnd(void *opaque)
{
        return (uint32_t)rand_r(opaque);
}

json_t *bench_node(int i)
{
        char name[32], zone[16];
        snprintf(name, sizeof(name), "node-%05d", i);
        snprintf(zone, sizeof(zone), "zone-%d", i % 3);
        return json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s}}, s:{}, s:{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, "
                         "s:[{s:s, s:s}]}}",
                         "apiVersion", "v1", "kind", "Node", "metadata", "name", name, "labels",
                         "kubernetes.io/hostname", name, "topology.kubernetes.io/zone", zone, "spec",
                         "status", "allocatable", "cpu", "8", "memory", "32Gi", "pods", "110", "capacity",
                         "cpu", "8", "memory", "32Gi", "pods", "110", "conditions", "type", "Ready", "status",
                         "True");
}

json_t *bench_pod(int i, bool owned)
{
        char name[32];
        snprintf(name, sizeof(name), "pod-%06d", i);
        json_t *p = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:s, s:{s:{s:s, s:s}}}]}}",
                              "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "namespace",
                              "default", "labels", "app", "web", "spec", "containers", "name", "c", "image",
                              "busybox", "resources", "requests", "cpu", "250m", "memory", "512Mi");
        if (owned)
                json_object_set_new(json_object_get(p, "metadata"), "ownerReferences",
                                    json_pack("[{s:s, s:s, s:s, s:s, s:b}]", "apiVersion", "apps/v1", "kind",
                                              "ReplicaSet", "name", "web", "uid", "web-uid", "controller",
                                              1));
        return p;
}

/* one-per-node: required anti-affinity to its own app on the hostname. */
static void run_ex(const char *label, int nnodes, int npods, k8c_sched_strategy_t strategy, bool owned,
                   bool one_per_node)
{
        struct k8c_sched_cache *c = k8c_sched_cache_new();
        for (int i = 0; i < nnodes; i++) {
                json_t *n = bench_node(i);
                k8c_sched_cache_upsert_node(c, n);
                json_decref(n);
        }
        json_t *rss = json_pack("[{s:{s:s, s:s}, s:{s:{s:{s:s}}}}]", "metadata", "name", "web", "namespace",
                                "default", "spec", "selector", "matchLabels", "app", "web");
        /* The pods as the queue would hold them: built before the clock starts. */
        json_t **pods = k8c_xcalloc((size_t)npods, sizeof(*pods));
        for (int i = 0; i < npods; i++) {
                pods[i] = bench_pod(i, owned);
                if (one_per_node)
                        json_object_set_new(json_object_get(pods[i], "spec"), "affinity",
                                            json_pack("{s:{s:[{s:{s:{s:s}}, s:s}]}}", "podAntiAffinity",
                                                      "requiredDuringSchedulingIgnoredDuringExecution",
                                                      "labelSelector", "matchLabels", "app", "web",
                                                      "topologyKey", "kubernetes.io/hostname"));
        }
        struct k8c_sched_profile prof;
        k8c_sched_profile_default(&prof);
        prof.strategy = strategy;
        unsigned int seed = 1;
        int bound = 0;
        size_t next_start = 0, evaluated = 0;
        struct k8c_sched_snapshot *snap = k8c_sched_cache_snapshot(c, NULL, rss);
        double t0 = bench_now_s();
        for (int i = 0; i < npods; i++) {
                struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(pods[i]);
                k8c_sched_cache_update_snapshot(c, snap, NULL, rss);
                struct k8c_sched_result r;
                k8c_sched_schedule_sampled(&prof, snap, pi, rnd, &seed, &next_start, &r);
                evaluated += r.evaluated;
                if (r.code == K8C_SCHED_OK && k8c_sched_cache_assume_podinfo(c, pi, r.node, NULL) == 0)
                        bound++;
                k8c_sched_result_free(&r);
                k8c_sched_podinfo_unref(pi);
        }
        double dt = bench_now_s() - t0;
        printf("%-34s nodes=%d pods=%d bound=%d  %.0f decisions/s  %.3f ms/decision  (%.0f nodes "
               "filtered/decision)\n",
               label, nnodes, npods, bound, npods / dt, dt * 1000 / npods, (double)evaluated / npods);
        k8c_sched_snapshot_free(snap);
        for (int i = 0; i < npods; i++)
                json_decref(pods[i]);
        free(pods);
        json_decref(rss);
        k8c_sched_profile_free(&prof);
        k8c_sched_cache_free(c);
}

static void run(const char *label, int nnodes, int npods, k8c_sched_strategy_t strategy, bool owned)
{
        run_ex(label, nnodes, npods, strategy, owned, false);
}

int main(int argc, char **argv)
{
        if ((argc == 4 || argc == 5) && strcmp(argv[1], "place") == 0) {
                bool rs = argc == 5 && strcmp(argv[4], "rs") == 0;
                bool anti = argc == 5 && strcmp(argv[4], "anti") == 0;
                run_ex(rs     ? "MostAllocated, one ReplicaSet"
                       : anti ? "one per node (anti-affinity)"
                              : "MostAllocated, no owner",
                       atoi(argv[2]), atoi(argv[3]), K8C_SCHED_MOST_ALLOCATED, rs, anti);
                return 0;
        }
        if (argc == 4 && strcmp(argv[1], "e2e") == 0)
                return bench_e2e(atoi(argv[2]), atoi(argv[3])) < 0 ? 1 : 0;
        printf("-- placement (cache + plugins + assume, no API)\n");
        run("MostAllocated, no owner", 100, 2000, K8C_SCHED_MOST_ALLOCATED, false);
        run("LeastAllocated, no owner", 100, 2000, K8C_SCHED_LEAST_ALLOCATED, false);
        run("MostAllocated, one ReplicaSet", 100, 2000, K8C_SCHED_MOST_ALLOCATED, true);
        run("MostAllocated, no owner", 1000, 10000, K8C_SCHED_MOST_ALLOCATED, false);
        run("MostAllocated, one ReplicaSet", 1000, 10000, K8C_SCHED_MOST_ALLOCATED, true);
        run("MostAllocated, no owner", 5000, 10000, K8C_SCHED_MOST_ALLOCATED, false);
        run("MostAllocated, one ReplicaSet", 5000, 10000, K8C_SCHED_MOST_ALLOCATED, true);
        run_ex("one per node (anti-affinity)", 1000, 1000, K8C_SCHED_MOST_ALLOCATED, false, true);
        printf("-- end to end through the real apiserver and k8c-scheduler\n");
        if (bench_e2e(1000, 10000) < 0 || bench_e2e(5000, 10000) < 0)
                return 1;
        return 0;
}

/*
 * bench_scheduler.h - helpers shared by the scheduler benchmark's files.
 */
#ifndef K8C_BENCH_SCHEDULER_H
#define K8C_BENCH_SCHEDULER_H

#include <jansson.h>
#include <stdbool.h>

double bench_now_s(void);
/* node-NNNNN: 8 cpu, 32Gi, 110 pods, Ready, zone-(i%3). */
json_t *bench_node(int i);
/* pod-NNNNNN in default: 250m / 512Mi, app=web; owned = controlled by ReplicaSet web. */
json_t *bench_pod(int i, bool owned);

/* Nodes and pending pods through a real apiserver, then a real k8c-scheduler; prints pods/s
 * until every binding is stored, the decision/binding split and latency percentiles. Negative
 * on failure. */
int bench_e2e(int nnodes, int npods);

#endif

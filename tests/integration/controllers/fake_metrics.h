/*
 * fake_metrics.h - a stand-in for metrics.k8s.io in the controllers suite: an HTTP
 * server on loopback answering GET /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods
 * ?labelSelector=S with a PodMetricsList of the Running pods the real apiserver
 * lists for that selector. The test sets the total cpu the workload uses; it is
 * shared evenly between the pods, as a load balanced over replicas would be.
 */
#ifndef K8C_TEST_FAKE_METRICS_H
#define K8C_TEST_FAKE_METRICS_H

#include "../../common/apiserver_harness.h"

/* Starts the server (borrowing api) and returns its port, or -1. */
int fake_metrics_start(const struct k8c_test_apiserver *api);
void fake_metrics_stop(void);
/* Total cpu (milli-cores) over the pods of namespace ns. */
void fake_metrics_set_total_cpu(const char *ns, long milli);
/* How many metric requests were answered. */
long fake_metrics_requests(void);

#endif

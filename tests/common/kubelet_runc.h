/*
 * kubelet_runc.h - a runc kubelet for root integration tests: the real
 * k8c-apiserver on loopback, a temp root dir, a node network namespace made by
 * the test (the pods' bridge lives there, so no packet reaches the host's
 * interfaces), a test-unique cgroup parent and runc root, and the kubelet
 * running in-process. Teardown removes every container, mount, cgroup and
 * namespace the test made, also after a failed assertion.
 */
#ifndef K8C_TEST_KUBELET_RUNC_H
#define K8C_TEST_KUBELET_RUNC_H

#include <jansson.h>
#include <stdbool.h>

#include "apiserver_harness.h"
#include "k8c/client.h"
#include "k8c/kubelet.h"

struct k8c_test_node {
        struct k8c_test_apiserver srv;
        struct k8c_client *client;
        struct k8c_kubelet *k;
        char root[64];
        char *node_netns, *netns_dir, *runc_root, *cgroup_parent;
        const char *node_name;
        char *pod_cidr;
};

/* cmocka group-style setup/teardown over a struct k8c_test_node in *state; the kubelet runs
 * runc with node name "node-t" and pod CIDR 10.244.<subnet>.0/24 (setup_node reads the subnet
 * from K8C_TEST_SUBNET, default 77). Returns 0 or -1. */
int k8c_test_node_setup(void **state);
int k8c_test_node_teardown(void **state);

/* Stops the kubelet (its pods keep running, as after a crash) and starts a new one on the same
 * state; 0 or -1. */
int k8c_test_node_restart_kubelet(struct k8c_test_node *n);
/* GET path (NULL when absent). */
json_t *k8c_test_node_get(struct k8c_test_node *n, const char *path);
/* Polls pods/<name> in default until pred holds (up to timeout_ms); the pod or NULL. */
json_t *k8c_test_node_wait_pod(struct k8c_test_node *n, const char *name, bool (*pred)(const json_t *),
                               int timeout_ms);
/* Creates a pod in default (bound to the node); 0 or negative. */
int k8c_test_node_create(struct k8c_test_node *n, const char *kind_path, json_t *obj);
/* Deletes pods/<name> in default and waits until the object is gone and the pod's sandbox is
 * torn down (its pod directory removed). */
bool k8c_test_node_delete_pod(struct k8c_test_node *n, const char *name, const char *uid, int timeout_ms);
/* Runs `sh -c script` in the pod's container (runc exec); its exit code, or -1. */
int k8c_test_node_exec(struct k8c_test_node *n, const json_t *pod, const char *container, const char *script);
/* The status of a container by name in pod (NULL when absent). */
const json_t *k8c_test_container_status(const json_t *pod, const char *container);
/* "True"/"False" of a pod condition ("" when absent). */
const char *k8c_test_pod_condition(const json_t *pod, const char *type);
/* True when an Event about the pod has this reason and its message contains needle. */
bool k8c_test_pod_has_event(struct k8c_test_node *n, const char *pod_name, const char *reason,
                            const char *needle);
/* The whole log of the container's run restart (NULL when absent). */
char *k8c_test_container_log(struct k8c_test_node *n, const json_t *pod, const char *container, int restart);
/* Polls the log until it contains needle. */
bool k8c_test_wait_log(struct k8c_test_node *n, const json_t *pod, const char *container, int restart,
                       const char *needle, int timeout_ms);
double k8c_test_mono_s(void);

#endif

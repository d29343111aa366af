/*
 * Unit tests of the kubelet's pure pieces: pod status computation (phase,
 * conditions, container states), status equality, back-off, capacity/label/
 * taint parsing, the Node object, CIDR parsing and the IPAM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/kubelet.h"

static json_t *two_container_pod(void)
{
        return json_pack("{s:{s:s, s:s, s:s}, s:{s:[{s:s, s:s}, {s:s, s:s}]}}", "metadata", "name", "p",
                         "namespace", "default", "uid", "u-1", "spec", "containers", "name", "a", "image",
                         "busybox", "name", "b", "image", "nginx");
}

static const json_t *cond(const json_t *status, const char *type)
{
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(status, "conditions"), i, c)
        {
                if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
                        return c;
        }
        return NULL;
}

static const char *cond_status(const json_t *status, const char *type)
{
        return json_string_value(json_object_get(cond(status, type), "status"));
}

static void test_status_running(void **state)
{
        json_auto_t *pod = two_container_pod();
        struct k8c_container_view cs[2] = {
                { .name = "a",
                  .state = { .phase = K8C_CONTAINER_RUNNING, .id = "id-a", .started_at = 1000 } },
                { .name = "b",
                  .state = { .phase = K8C_CONTAINER_RUNNING, .id = "id-b", .started_at = 1001 } },
        };
        struct k8c_pod_view v = { .runtime_name = "fake",
                                  .pod_ip = "10.244.1.2",
                                  .host_ip = "192.168.1.5",
                                  .start_time = 999,
                                  .containers = cs,
                                  .ncontainers = 2,
                                  .will_restart = true,
                                  .now = 2000 };
        json_auto_t *st = k8c_kubelet_pod_status(pod, &v, NULL);
        assert_string_equal(k8c_json_get_string(st, "phase"), "Running");
        assert_string_equal(k8c_json_get_string(st, "podIP"), "10.244.1.2");
        assert_string_equal(k8c_json_get_string(st, "podIPs[0].ip"), "10.244.1.2");
        assert_string_equal(k8c_json_get_string(st, "hostIP"), "192.168.1.5");
        assert_string_equal(k8c_json_get_string(st, "startTime"), "1970-01-01T00:16:39Z");
        assert_string_equal(cond_status(st, "Initialized"), "True");
        assert_string_equal(cond_status(st, "Ready"), "True");
        assert_string_equal(cond_status(st, "ContainersReady"), "True");
        assert_string_equal(cond_status(st, "PodScheduled"), "True");
        assert_string_equal(json_string_value(json_object_get(cond(st, "Ready"), "lastTransitionTime")),
                            "1970-01-01T00:33:20Z");
        assert_true(json_is_null(json_object_get(cond(st, "Ready"), "lastProbeTime")));
        assert_string_equal(k8c_json_get_string(st, "containerStatuses[0].name"), "a");
        assert_string_equal(k8c_json_get_string(st, "containerStatuses[0].image"), "busybox");
        assert_string_equal(k8c_json_get_string(st, "containerStatuses[0].containerID"), "fake://id-a");
        assert_string_equal(k8c_json_get_string(st, "containerStatuses[0].state.running.startedAt"),
                            "1970-01-01T00:16:40Z");
        assert_true(k8c_json_get_bool(st, "containerStatuses[0].ready", false));
        assert_true(k8c_json_get_bool(st, "containerStatuses[0].started", false));
        assert_int_equal(json_object_size(k8c_json_get(st, "containerStatuses[0].lastState")), 0);
        assert_string_equal(k8c_json_get_string(st, "containerStatuses[1].image"), "nginx");

        /* Recomputed later with nothing changed: equal, transition times kept. */
        v.now = 5000;
        json_auto_t *st2 = k8c_kubelet_pod_status(pod, &v, st);
        assert_true(k8c_kubelet_status_equal(st2, st));
        /* A status with extra server-side keys (qosClass) still compares equal. */
        json_auto_t *server = json_deep_copy(st);
        json_object_set_new(server, "qosClass", json_string("BestEffort"));
        assert_true(k8c_kubelet_status_equal(st2, server));
        assert_false(k8c_kubelet_status_equal(st2, NULL));
}

static void test_status_pending_and_waiting(void **state)
{
        json_auto_t *pod = two_container_pod();
        struct k8c_container_view cs[2] = {
                { .name = "a", .state = { .phase = K8C_CONTAINER_RUNNING, .id = "x", .started_at = 10 } },
                { .name = "b" },
        };
        struct k8c_pod_view v = {
                .runtime_name = "fake", .containers = cs, .ncontainers = 2, .will_restart = true, .now = 20
        };
        json_auto_t *st = k8c_kubelet_pod_status(pod, &v, NULL);
        assert_string_equal(k8c_json_get_string(st, "phase"), "Running");
        assert_null(k8c_json_get(st, "podIP"));
        assert_null(k8c_json_get(st, "startTime"));
        assert_string_equal(cond_status(st, "Ready"), "False");
        assert_string_equal(json_string_value(json_object_get(cond(st, "Ready"), "reason")),
                            "ContainersNotReady");
        assert_string_equal(json_string_value(json_object_get(cond(st, "ContainersReady"), "message")),
                            "containers with unready status: [b]");
        assert_string_equal(k8c_json_get_string(st, "containerStatuses[1].state.waiting.reason"),
                            "ContainerCreating");
        assert_null(k8c_json_get(st, "containerStatuses[1].containerID"));
        assert_false(k8c_json_get_bool(st, "containerStatuses[1].ready", true));

        /* Nothing running yet: Pending. */
        cs[0] = (struct k8c_container_view){ .name = "a" };
        json_auto_t *st2 = k8c_kubelet_pod_status(pod, &v, st);
        assert_string_equal(k8c_json_get_string(st2, "phase"), "Pending");
        assert_string_equal(json_string_value(json_object_get(cond(st2, "Ready"), "message")),
                            "containers with unready status: [a b]");
        /* Ready stayed False: its transition time is the old one. */
        assert_string_equal(json_string_value(json_object_get(cond(st2, "Ready"), "lastTransitionTime")),
                            "1970-01-01T00:00:20Z");
        assert_false(k8c_kubelet_status_equal(st2, st));
}

static void test_status_terminal_and_backoff(void **state)
{
        json_auto_t *pod = two_container_pod();
        struct k8c_container_view cs[2] = {
                { .name = "a",
                  .state = { .phase = K8C_CONTAINER_EXITED,
                             .id = "a1",
                             .exit_code = 0,
                             .started_at = 5,
                             .finished_at = 9 } },
                { .name = "b",
                  .state = { .phase = K8C_CONTAINER_EXITED,
                             .id = "b1",
                             .exit_code = 137,
                             .started_at = 5,
                             .finished_at = 8 } },
        };
        struct k8c_pod_view v = { .runtime_name = "runc", .containers = cs, .ncontainers = 2, .now = 10 };
        json_auto_t *st = k8c_kubelet_pod_status(pod, &v, NULL);
        assert_string_equal(k8c_json_get_string(st, "phase"), "Failed");
        assert_string_equal(k8c_json_get_string(st, "containerStatuses[0].state.terminated.reason"),
                            "Completed");
        assert_int_equal(k8c_json_get_int(st, "containerStatuses[0].state.terminated.exitCode", -1), 0);
        assert_string_equal(k8c_json_get_string(st, "containerStatuses[0].state.terminated.containerID"),
                            "runc://a1");
        assert_string_equal(k8c_json_get_string(st, "containerStatuses[1].state.terminated.reason"), "Error");
        assert_int_equal(k8c_json_get_int(st, "containerStatuses[1].state.terminated.exitCode", -1), 137);
        assert_string_equal(k8c_json_get_string(st, "containerStatuses[1].state.terminated.finishedAt"),
                            "1970-01-01T00:00:08Z");

        cs[1].state.exit_code = 0;
        json_auto_t *ok = k8c_kubelet_pod_status(pod, &v, NULL);
        assert_string_equal(k8c_json_get_string(ok, "phase"), "Succeeded");

        /* Exited but waiting to restart: CrashLoopBackOff with the exit as lastState, phase Running. */
        cs[1].state.exit_code = 1;
        cs[1].waiting_reason = "CrashLoopBackOff";
        cs[1].waiting_message = "back-off 20s";
        cs[1].restart_count = 2;
        v.will_restart = true;
        json_auto_t *loop = k8c_kubelet_pod_status(pod, &v, NULL);
        assert_string_equal(k8c_json_get_string(loop, "phase"), "Running");
        assert_string_equal(k8c_json_get_string(loop, "containerStatuses[1].state.waiting.reason"),
                            "CrashLoopBackOff");
        assert_string_equal(k8c_json_get_string(loop, "containerStatuses[1].state.waiting.message"),
                            "back-off 20s");
        assert_int_equal(k8c_json_get_int(loop, "containerStatuses[1].lastState.terminated.exitCode", -1), 1);
        assert_int_equal(k8c_json_get_int(loop, "containerStatuses[1].restartCount", -1), 2);

        assert_int_equal(k8c_kubelet_backoff_s(1), 10);
        assert_int_equal(k8c_kubelet_backoff_s(2), 20);
        assert_int_equal(k8c_kubelet_backoff_s(3), 40);
        assert_int_equal(k8c_kubelet_backoff_s(5), 160);
        assert_int_equal(k8c_kubelet_backoff_s(6), 300);
        assert_int_equal(k8c_kubelet_backoff_s(50), 300);
}

static void test_status_init_containers(void **state)
{
        json_auto_t *pod = two_container_pod();
        json_object_set_new(json_object_get(pod, "spec"), "initContainers",
                            json_pack("[{s:s, s:s}]", "name", "setup", "image", "busybox:1.36"));
        struct k8c_container_view inits[1] = {
                { .name = "setup",
                  .state = { .phase = K8C_CONTAINER_EXITED,
                             .id = "s1",
                             .exit_code = 2,
                             .started_at = 1,
                             .finished_at = 2 } },
        };
        struct k8c_container_view cs[2] = { { .name = "a", .waiting_reason = "PodInitializing" },
                                            { .name = "b", .waiting_reason = "PodInitializing" } };
        struct k8c_pod_view v = { .runtime_name = "fake",
                                  .pod_ip = "10.0.0.2",
                                  .containers = cs,
                                  .ncontainers = 2,
                                  .inits = inits,
                                  .ninits = 1,
                                  .initialized = false,
                                  .init_failed = true,
                                  .now = 3 };
        /* Failed for good (restartPolicy Never): the pod failed. */
        json_auto_t *st = k8c_kubelet_pod_status(pod, &v, NULL);
        assert_string_equal(k8c_json_get_string(st, "phase"), "Failed");
        assert_string_equal(cond_status(st, "Initialized"), "False");
        assert_string_equal(json_string_value(json_object_get(cond(st, "Initialized"), "message")),
                            "containers with incomplete status: [setup]");
        assert_int_equal(k8c_json_get_int(st, "initContainerStatuses[0].state.terminated.exitCode", -1), 2);
        assert_string_equal(k8c_json_get_string(st, "initContainerStatuses[0].image"), "busybox:1.36");
        assert_false(k8c_json_get_bool(st, "initContainerStatuses[0].ready", true));
        assert_string_equal(k8c_json_get_string(st, "containerStatuses[0].state.waiting.reason"),
                            "PodInitializing");

        /* Still to be retried: Pending. */
        v.init_failed = false;
        json_auto_t *pending = k8c_kubelet_pod_status(pod, &v, NULL);
        assert_string_equal(k8c_json_get_string(pending, "phase"), "Pending");

        /* Done: Initialized, the init container ready and Completed. */
        inits[0].state.exit_code = 0;
        v.initialized = true;
        cs[0] = (struct k8c_container_view){ .name = "a",
                                             .state = { .phase = K8C_CONTAINER_RUNNING, .id = "x" } };
        cs[1] = (struct k8c_container_view){ .name = "b",
                                             .state = { .phase = K8C_CONTAINER_RUNNING, .id = "y" } };
        json_auto_t *done = k8c_kubelet_pod_status(pod, &v, pending);
        assert_string_equal(k8c_json_get_string(done, "phase"), "Running");
        assert_string_equal(cond_status(done, "Initialized"), "True");
        assert_null(json_object_get(cond(done, "Initialized"), "message"));
        assert_true(k8c_json_get_bool(done, "initContainerStatuses[0].ready", false));
        assert_string_equal(k8c_json_get_string(done, "initContainerStatuses[0].state.terminated.reason"),
                            "Completed");

        /* No init containers: no initContainerStatuses at all. */
        struct k8c_pod_view plain = { .runtime_name = "fake", .containers = cs, .ncontainers = 2, .now = 3 };
        json_auto_t *pod2 = two_container_pod();
        json_auto_t *st2 = k8c_kubelet_pod_status(pod2, &plain, NULL);
        assert_null(json_object_get(st2, "initContainerStatuses"));
        assert_string_equal(cond_status(st2, "Initialized"), "True");
}

static void test_parse_flags(void **state)
{
        json_auto_t *cap = NULL;
        assert_int_equal(
                k8c_kubelet_parse_capacity("cpu=4,memory=8192Mi,pods=110,ephemeral-storage=20G", &cap, NULL),
                0);
        assert_string_equal(k8c_json_get_string(cap, "cpu"), "4");
        assert_string_equal(k8c_json_get_string(cap, "memory"), "8Gi");
        assert_string_equal(k8c_json_get_string(cap, "pods"), "110");
        assert_string_equal(k8c_json_get_string(cap, "ephemeral-storage"), "20G");
        cleanup_error k8c_error_t err = NULL;
        json_t *bad = NULL;
        assert_int_equal(k8c_kubelet_parse_capacity("gpu=1", &bad, &err), -(int)K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err),
                            "capacity gpu: unknown resource (cpu, memory, pods, ephemeral-storage)");
        assert_int_equal(k8c_kubelet_parse_capacity("cpu=", &bad, &err), -(int)K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err), "capacity cpu: missing value");
        assert_int_equal(k8c_kubelet_parse_capacity("cpu=lots", &bad, &err), -(int)K8C_EINVALID);

        json_auto_t *labels = NULL;
        assert_int_equal(k8c_kubelet_parse_labels("a=1, b=two,", &labels, NULL), 0);
        assert_int_equal(json_object_size(labels), 2);
        assert_string_equal(k8c_json_get_string(labels, "a"), "1");
        assert_string_equal(k8c_json_get_string(labels, "b"), "two");
        assert_int_equal(k8c_kubelet_parse_labels("novalue", &bad, &err), -(int)K8C_EINVALID);

        json_auto_t *taints = NULL;
        assert_int_equal(k8c_kubelet_parse_taints("gpu=yes:NoSchedule,spot:PreferNoSchedule", &taints, NULL),
                         0);
        assert_int_equal(json_array_size(taints), 2);
        json_auto_t *want = json_pack("[{s:s, s:s, s:s}, {s:s, s:s}]", "key", "gpu", "value", "yes", "effect",
                                      "NoSchedule", "key", "spot", "effect", "PreferNoSchedule");
        assert_true(json_equal(taints, want));
        assert_int_equal(k8c_kubelet_parse_taints("x=y:Sometimes", &bad, &err), -(int)K8C_EINVALID);
        assert_int_equal(k8c_kubelet_parse_taints("x=y", &bad, &err), -(int)K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err), "taint x=y: expected key[=value]:Effect");
}

static void test_node_object(void **state)
{
        struct k8c_kubelet_config cfg = { .node_ip = "10.0.0.9",
                                          .pod_cidr = "10.244.7.0/24",
                                          .node_labels = "role=edge",
                                          .taints = "t:NoExecute",
                                          .port = 10250 };
        json_auto_t *cap = json_pack("{s:s, s:s}", "cpu", "2", "memory", "1Gi");
        json_auto_t *node = k8c_kubelet_node_object(&cfg, "n1", cap);
        assert_string_equal(k8c_json_get_string(node, "kind"), "Node");
        assert_string_equal(k8c_json_get_string(node, "metadata.name"), "n1");
        assert_string_equal(k8c_json_get_string(node, "metadata.labels.role"), "edge");
        assert_string_equal(k8c_json_get_string(node, "metadata.labels[\"kubernetes.io/hostname\"]"), "n1");
        assert_string_equal(k8c_json_get_string(node, "metadata.labels[\"kubernetes.io/os\"]"), "linux");
        assert_string_equal(k8c_json_get_string(node, "spec.podCIDR"), "10.244.7.0/24");
        assert_string_equal(k8c_json_get_string(node, "spec.podCIDRs[0]"), "10.244.7.0/24");
        assert_string_equal(k8c_json_get_string(node, "spec.taints[0].effect"), "NoExecute");
        assert_true(json_equal(k8c_json_get(node, "status.capacity"), cap));
        assert_true(json_equal(k8c_json_get(node, "status.allocatable"), cap));
        assert_string_equal(k8c_json_get_string(node, "status.addresses[0].address"), "10.0.0.9");
        assert_string_equal(k8c_json_get_string(node, "status.addresses[1].type"), "Hostname");
        assert_int_equal(k8c_json_get_int(node, "status.daemonEndpoints.kubeletEndpoint.Port", 0), 10250);

        json_auto_t *measured = k8c_kubelet_measure_capacity("/");
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        char buf[32];
        snprintf(buf, sizeof(buf), "%ld", cpus);
        assert_string_equal(k8c_json_get_string(measured, "cpu"), buf);
        assert_string_equal(k8c_json_get_string(measured, "pods"), "110");
        const char *mem = k8c_json_get_string(measured, "memory");
        assert_non_null(mem);
        assert_string_equal(mem + strlen(mem) - 2, "Ki");
}

static void test_cidr_and_ipam(void **state)
{
        uint32_t net;
        int prefix;
        assert_int_equal(k8c_cidr_parse("10.244.1.7/24", &net, &prefix, NULL), 0);
        assert_int_equal(prefix, 24);
        char buf[16];
        k8c_ip_format(net, buf);
        assert_string_equal(buf, "10.244.1.0");
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_cidr_parse("10.244.1.0", &net, &prefix, &err), -(int)K8C_EINVALID);
        assert_int_equal(k8c_cidr_parse("10.244.1.0/31", &net, &prefix, &err), -(int)K8C_EINVALID);
        assert_int_equal(k8c_cidr_parse("fe80::/64", &net, &prefix, &err), -(int)K8C_EINVALID);

        char dir[] = "/tmp/k8c-ipam-XXXXXX";
        assert_non_null(mkdtemp(dir));
        cleanup_free char *file = k8c_xasprintf("%s/ipam", dir);
        struct k8c_ipam *ipam = NULL;
        assert_int_equal(k8c_ipam_new("10.9.0.0/30", file, &ipam, NULL), 0);
        k8c_ipam_gateway(ipam, buf);
        assert_string_equal(buf, "10.9.0.1");
        cleanup_free char *a = NULL, *a2 = NULL, *b = NULL;
        assert_int_equal(k8c_ipam_allocate(ipam, "pod-a", &a, NULL), 0);
        assert_string_equal(a, "10.9.0.2");
        assert_int_equal(k8c_ipam_allocate(ipam, "pod-a", &a2, NULL), 0);
        assert_string_equal(a2, "10.9.0.2");
        /* A /30 has one pod address: network, gateway and broadcast are never handed out. */
        assert_int_equal(k8c_ipam_allocate(ipam, "pod-b", &b, &err), -(int)K8C_EUNAVAILABLE);
        assert_string_equal(k8c_error_msg(&err), "no free address in the pod CIDR");
        k8c_ipam_free(ipam);

        /* Persistence: a new IPAM over the same file knows pod-a's address. */
        ipam = NULL;
        assert_int_equal(k8c_ipam_new("10.9.0.0/30", file, &ipam, NULL), 0);
        assert_int_equal(k8c_ipam_allocate(ipam, "pod-b", &b, &err), -(int)K8C_EUNAVAILABLE);
        assert_int_equal(k8c_ipam_release(ipam, "pod-a", NULL), 0);
        assert_int_equal(k8c_ipam_allocate(ipam, "pod-b", &b, NULL), 0);
        assert_string_equal(b, "10.9.0.2");
        k8c_ipam_free(ipam);
        cleanup_fclose FILE *f = fopen(file, "re");
        char line[128] = "";
        assert_non_null(fgets(line, sizeof(line), f));
        assert_string_equal(line, "10.9.0.2 pod-b\n");
        unlink(file);
        rmdir(dir);
}

static void test_fake_runtime(void **state)
{
        void *rt = NULL;
        assert_int_equal(k8c_fake_runtime_new("10.1.0.0/24", NULL, &rt, NULL), 0);
        const struct k8c_runtime_ops *ops = &k8c_fake_runtime_ops;
        json_auto_t *pod = two_container_pod();
        cleanup_free char *ip = NULL;
        assert_int_equal(ops->create_sandbox(rt, pod, NULL, &ip, NULL), 0);
        assert_string_equal(ip, "10.1.0.2");
        struct k8c_container_state st;
        assert_int_equal(ops->container_status(rt, pod, "a", &st, NULL), 0);
        assert_int_equal(st.phase, K8C_CONTAINER_ABSENT);
        assert_int_equal(
                ops->start_container(rt, pod, k8c_json_get(pod, "spec.containers[0]"), NULL, 0, NULL), 0);
        assert_int_equal(ops->container_status(rt, pod, "a", &st, NULL), 0);
        assert_int_equal(st.phase, K8C_CONTAINER_RUNNING);
        assert_string_equal(st.id, "u-1-a-0");
        assert_int_equal(k8c_fake_runtime_exit(rt, "u-1", "a", 7), 0);
        assert_int_equal(ops->container_status(rt, pod, "a", &st, NULL), 0);
        assert_int_equal(st.phase, K8C_CONTAINER_EXITED);
        assert_int_equal(st.exit_code, 7);
        char **uids = NULL;
        assert_int_equal(ops->list(rt, &uids, NULL), 0);
        assert_string_equal(uids[0], "u-1");
        assert_null(uids[1]);
        k8c_strv_free(uids);
        assert_int_equal(ops->stop_container(rt, pod, "a", 0, NULL), 0);
        assert_int_equal(ops->remove_sandbox(rt, pod, NULL), 0);
        assert_int_equal(ops->remove_sandbox(rt, pod, NULL), 0); /* idempotent */
        assert_int_equal(ops->list(rt, &uids, NULL), 0);
        assert_null(uids[0]);
        k8c_strv_free(uids);
        ops->free(rt);
}

static void test_oci_spec(void **state)
{
        json_auto_t *pod = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "name", "web", "namespace", "prod",
                                     "uid", "u-9");
        json_auto_t *c = json_pack(
                "{s:s, s:s, s:[s, s], s:[s], s:s, s:[{s:s, s:s}, {s:s, s:{s:{s:s}}}, {s:s, s:{s:{s:s}}}, "
                "{s:s, s:{s:{s:s}}}], s:{s:{s:s, s:s}, s:{s:s}}}",
                "name", "app", "image", "busybox", "command", "sh", "-c", "args", "echo hi", "workingDir",
                "/tmp", "env", "name", "A", "value", "1", "name", "POD", "valueFrom", "fieldRef", "fieldPath",
                "metadata.name", "name", "IP", "valueFrom", "fieldRef", "fieldPath", "status.podIP", "name",
                "NODE", "valueFrom", "fieldRef", "fieldPath", "spec.nodeName", "resources", "limits", "cpu",
                "500m", "memory", "128Mi", "requests", "cpu", "250m");
        const struct k8c_oci_inputs in = { .pod = pod,
                                           .container = c,
                                           .pod_ip = "10.1.0.5",
                                           .node_name = "n1",
                                           .netns = "/run/netns/k8c-u-9",
                                           .pod_dir = "/var/lib/k/pods/u-9",
                                           .cgroup_parent = "k8c/n1" };
        json_auto_t *spec = k8c_oci_spec(&in);
        json_auto_t *args = json_pack("[s, s, s]", "sh", "-c", "echo hi");
        assert_true(json_equal(k8c_json_get(spec, "process.args"), args));
        assert_string_equal(k8c_json_get_string(spec, "process.cwd"), "/tmp");
        assert_false(k8c_json_get_bool(spec, "process.terminal", true));
        json_t *env = k8c_json_get(spec, "process.env");
        assert_int_equal(json_array_size(env), 6);
        assert_string_equal(json_string_value(json_array_get(env, 1)), "HOSTNAME=web");
        assert_string_equal(json_string_value(json_array_get(env, 2)), "A=1");
        assert_string_equal(json_string_value(json_array_get(env, 3)), "POD=web");
        assert_string_equal(json_string_value(json_array_get(env, 4)), "IP=10.1.0.5");
        assert_string_equal(json_string_value(json_array_get(env, 5)), "NODE=n1");
        assert_string_equal(k8c_json_get_string(spec, "root.path"), "rootfs");
        assert_string_equal(k8c_json_get_string(spec, "linux.cgroupsPath"), "k8c/n1/podu-9/app");
        assert_int_equal(k8c_json_get_int(spec, "linux.resources.cpu.shares", 0), 256);
        assert_int_equal(k8c_json_get_int(spec, "linux.resources.cpu.quota", 0), 50000);
        assert_int_equal(k8c_json_get_int(spec, "linux.resources.cpu.period", 0), 100000);
        assert_int_equal(k8c_json_get_int(spec, "linux.resources.memory.limit", 0), 128 * 1024 * 1024);
        json_auto_t *ns =
                json_pack("[{s:s}, {s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "type", "pid", "type",
                          "mount", "type", "network", "path", "/run/netns/k8c-u-9", "type", "uts", "path",
                          "/var/lib/k/pods/u-9/uts", "type", "ipc", "path", "/var/lib/k/pods/u-9/ipc");
        assert_true(json_equal(k8c_json_get(spec, "linux.namespaces"), ns));
        bool hosts = false, resolv = false;
        size_t i;
        json_t *m;
        json_array_foreach(k8c_json_get(spec, "mounts"), i, m)
        {
                const char *dst = k8c_json_get_string(m, "destination");
                if (strcmp(dst, "/etc/hosts") == 0)
                        hosts = strcmp(k8c_json_get_string(m, "source"), "/var/lib/k/pods/u-9/hosts") == 0;
                if (strcmp(dst, "/etc/resolv.conf") == 0)
                        resolv = strcmp(k8c_json_get_string(m, "source"),
                                        "/var/lib/k/pods/u-9/resolv.conf") == 0;
        }
        assert_true(hosts);
        assert_true(resolv);

        /* No command or args: busybox's default command; no resources: no cpu/memory section. */
        json_auto_t *bare = json_pack("{s:s, s:s}", "name", "b", "image", "busybox");
        const struct k8c_oci_inputs in2 = { .pod = pod,
                                            .container = bare,
                                            .pod_ip = "10.1.0.5",
                                            .node_name = "n1",
                                            .netns = "/n",
                                            .pod_dir = "/p",
                                            .cgroup_parent = "x" };
        json_auto_t *spec2 = k8c_oci_spec(&in2);
        json_auto_t *sh = json_pack("[s]", "sh");
        assert_true(json_equal(k8c_json_get(spec2, "process.args"), sh));
        assert_string_equal(k8c_json_get_string(spec2, "process.cwd"), "/");
        assert_null(k8c_json_get(spec2, "linux.resources.cpu"));
        assert_null(k8c_json_get(spec2, "linux.resources.memory"));
        /* cpu request below 2 shares is raised to 2, as MilliCPUToShares does. */
        json_auto_t *tiny =
                json_pack("{s:s, s:{s:{s:s}}}", "name", "t", "resources", "requests", "cpu", "1m");
        const struct k8c_oci_inputs in3 = {
                .pod = pod, .container = tiny, .netns = "/n", .pod_dir = "/p", .cgroup_parent = "x"
        };
        json_auto_t *spec3 = k8c_oci_spec(&in3);
        assert_int_equal(k8c_json_get_int(spec3, "linux.resources.cpu.shares", 0), 2);
}

/* An OOM kill shows as reason OOMKilled (exit 137); imageID comes from the runtime, kept in
 * lastState's container while it waits to restart. */
static void test_status_oom_and_image_id(void **state)
{
        json_auto_t *pod = two_container_pod();
        struct k8c_container_view cs[2] = {
                { .name = "a",
                  .state = { .phase = K8C_CONTAINER_EXITED,
                             .id = "a1",
                             .exit_code = 137,
                             .oom_killed = true,
                             .started_at = 5,
                             .finished_at = 9,
                             .image_id = "docker.io/library/busybox@sha256:aa" } },
                { .name = "b", .state = { .phase = K8C_CONTAINER_RUNNING, .id = "b1", .started_at = 5 } },
        };
        struct k8c_pod_view v = { .runtime_name = "runc", .containers = cs, .ncontainers = 2, .now = 10 };
        json_auto_t *st = k8c_kubelet_pod_status(pod, &v, NULL);
        assert_string_equal(k8c_json_get_string(st, "containerStatuses[0].state.terminated.reason"),
                            "OOMKilled");
        assert_int_equal(k8c_json_get_int(st, "containerStatuses[0].state.terminated.exitCode", -1), 137);
        assert_string_equal(k8c_json_get_string(st, "containerStatuses[0].imageID"),
                            "docker.io/library/busybox@sha256:aa");
        assert_string_equal(k8c_json_get_string(st, "containerStatuses[1].imageID"), "");
        /* Waiting to restart: the OOM kill is lastState. */
        cs[0].waiting_reason = "CrashLoopBackOff";
        cs[0].restart_count = 1;
        v.will_restart = true;
        json_auto_t *loop = k8c_kubelet_pod_status(pod, &v, NULL);
        assert_string_equal(k8c_json_get_string(loop, "containerStatuses[0].lastState.terminated.reason"),
                            "OOMKilled");
        assert_string_equal(k8c_json_get_string(loop, "containerStatuses[0].imageID"),
                            "docker.io/library/busybox@sha256:aa");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_status_running),
                cmocka_unit_test(test_status_pending_and_waiting),
                cmocka_unit_test(test_status_terminal_and_backoff),
                cmocka_unit_test(test_parse_flags),
                cmocka_unit_test(test_node_object),
                cmocka_unit_test(test_cidr_and_ipam),
                cmocka_unit_test(test_fake_runtime),
                cmocka_unit_test(test_oci_spec),
                cmocka_unit_test(test_status_init_containers),
                cmocka_unit_test(test_status_oom_and_image_id),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

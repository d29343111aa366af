/*
 * Integration tests of the kubelet core (fake runtime) against the real
 * k8c-apiserver on loopback: node registration and readiness, lease renewal,
 * a pod bound to the node going Running with an IP from the podCIDR and the
 * right conditions, restarts with CrashLoopBackOff, and deletion removing
 * the object. The kubelet runs in-process; its state lives in a temp dir.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/apiserver_harness.h"
#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/json.h"
#include "k8c/kubelet.h"

struct fixture {
        struct k8c_test_apiserver srv;
        struct k8c_client *client;
        struct k8c_kubelet *k; /* stopped by teardown even when an assertion fails */
        void *cleanup_opaque;  /* struct runc_env of the runc test */
        char root[64];
};

struct runc_env;
static void runc_env_cleanup(struct fixture *f, struct runc_env *e);

static int setup(void **state)
{
        struct fixture *f = k8c_xcalloc(1, sizeof(*f));
        if (k8c_test_apiserver_start(&f->srv, NULL) < 0) {
                free(f);
                return -1;
        }
        struct k8c_client_config cfg = { .server = f->srv.url, .max_retries = 2 };
        if (k8c_client_new(&cfg, &f->client, NULL) < 0)
                return -1;
        snprintf(f->root, sizeof(f->root), "/tmp/k8ct%d-kubelet-XXXXXX", (int)getpid());
        if (mkdtemp(f->root) == NULL)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        k8c_kubelet_stop(f->k);
        if (f->cleanup_opaque != NULL)
                runc_env_cleanup(f, f->cleanup_opaque);
        k8c_client_free(f->client);
        k8c_test_apiserver_stop(&f->srv);
        cleanup_free char *cmd = k8c_xasprintf("rm -rf '%s'", f->root);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", f->root);
        free(f);
        return 0;
}

static struct k8c_kubelet_config config(struct fixture *f, const char *node)
{
        return (struct k8c_kubelet_config){
                .client = f->client,
                .node_name = node,
                .node_ip = "10.99.0.7",
                .root_dir = f->root,
                .capacity = "cpu=4,memory=8Gi,pods=110",
                .node_labels = "tier=test,zone=a",
                .taints = "dedicated=infra:NoSchedule",
                .pod_cidr = "10.244.3.0/24",
                .runtime = "fake",
                .lease_interval_ms = 300,
                .status_interval_ms = 60000,
                .pod_resync_ms = 300,
                .port = 10250,
        };
}

static json_t *get(struct fixture *f, const char *path)
{
        json_t *obj = NULL;
        if (k8c_client_get(f->client, path, &obj, NULL) < 0)
                return NULL;
        return obj;
}

static const json_t *find_condition(const json_t *obj, const char *type)
{
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(obj, "status.conditions"), i, c)
        {
                if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
                        return c;
        }
        return NULL;
}

static const char *cond_status(const json_t *obj, const char *type)
{
        const json_t *c = find_condition(obj, type);
        return c != NULL ? json_string_value(json_object_get(c, "status")) : "";
}

/* Polls path until pred(obj) holds (up to timeout_ms); returns the object (caller decrefs) or NULL. */
static json_t *wait_for(struct fixture *f, const char *path, bool (*pred)(const json_t *), int timeout_ms)
{
        for (int waited = 0; waited <= timeout_ms; waited += 50) {
                json_t *obj = get(f, path);
                if (obj != NULL && pred(obj))
                        return obj;
                json_decref(obj);
                usleep(50 * 1000);
        }
        return NULL;
}

static bool node_ready(const json_t *n)
{
        return strcmp(cond_status(n, "Ready"), "True") == 0;
}

static void test_node_registers_and_heartbeats(void **state)
{
        struct fixture *f = *state;
        struct k8c_kubelet_config cfg = config(f, "node-a");
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_kubelet_start(&cfg, &f->k, &err), 0);

        json_auto_t *node = wait_for(f, "/api/v1/nodes/node-a", node_ready, 5000);
        assert_non_null(node);
        assert_string_equal(k8c_json_get_string(node, "metadata.labels[\"kubernetes.io/hostname\"]"),
                            "node-a");
        assert_string_equal(k8c_json_get_string(node, "metadata.labels[\"kubernetes.io/os\"]"), "linux");
        assert_string_equal(k8c_json_get_string(node, "metadata.labels.tier"), "test");
        assert_string_equal(k8c_json_get_string(node, "metadata.labels.zone"), "a");
        assert_string_equal(k8c_json_get_string(node, "spec.podCIDR"), "10.244.3.0/24");
        assert_string_equal(k8c_json_get_string(node, "spec.taints[0].key"), "dedicated");
        assert_string_equal(k8c_json_get_string(node, "spec.taints[0].value"), "infra");
        assert_string_equal(k8c_json_get_string(node, "spec.taints[0].effect"), "NoSchedule");
        assert_string_equal(k8c_json_get_string(node, "status.capacity.cpu"), "4");
        assert_string_equal(k8c_json_get_string(node, "status.capacity.memory"), "8Gi");
        assert_string_equal(k8c_json_get_string(node, "status.capacity.pods"), "110");
        assert_non_null(k8c_json_get_string(node, "status.capacity[\"ephemeral-storage\"]"));
        assert_string_equal(k8c_json_get_string(node, "status.allocatable.cpu"), "4");
        assert_string_equal(k8c_json_get_string(node, "status.allocatable.memory"), "8Gi");
        assert_string_equal(k8c_json_get_string(node, "status.addresses[0].type"), "InternalIP");
        assert_string_equal(k8c_json_get_string(node, "status.addresses[0].address"), "10.99.0.7");
        assert_string_equal(k8c_json_get_string(node, "status.addresses[1].type"), "Hostname");
        assert_string_equal(k8c_json_get_string(node, "status.addresses[1].address"), "node-a");
        assert_int_equal(k8c_json_get_int(node, "status.daemonEndpoints.kubeletEndpoint.Port", 0), 10250);
        assert_string_equal(k8c_json_get_string(node, "status.nodeInfo.operatingSystem"), "linux");
        const json_t *ready = find_condition(node, "Ready");
        assert_string_equal(json_string_value(json_object_get(ready, "reason")), "KubeletReady");
        assert_string_equal(json_string_value(json_object_get(ready, "message")),
                            "kubelet is posting ready status");
        const char *pressures[] = { "MemoryPressure", "DiskPressure", "PIDPressure" };
        for (size_t i = 0; i < 3; i++)
                assert_non_null(find_condition(node, pressures[i]));
        assert_string_equal(
                json_string_value(json_object_get(find_condition(node, "MemoryPressure"), "type")),
                "MemoryPressure");

        /* The lease exists, is held by the node, owned by it, and its renewTime moves. */
        const char *lpath = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-a";
        json_auto_t *lease1 = NULL;
        for (int i = 0; i < 100 && lease1 == NULL; i++) {
                lease1 = get(f, lpath);
                if (lease1 == NULL)
                        usleep(50 * 1000);
        }
        assert_non_null(lease1);
        assert_string_equal(k8c_json_get_string(lease1, "spec.holderIdentity"), "node-a");
        assert_int_equal(k8c_json_get_int(lease1, "spec.leaseDurationSeconds", 0), 40);
        assert_string_equal(k8c_json_get_string(lease1, "metadata.ownerReferences[0].kind"), "Node");
        assert_string_equal(k8c_json_get_string(lease1, "metadata.ownerReferences[0].name"), "node-a");
        assert_string_equal(k8c_json_get_string(lease1, "metadata.ownerReferences[0].uid"),
                            k8c_json_get_string(node, "metadata.uid"));
        cleanup_free char *renew1 = k8c_xstrdup(k8c_json_get_string(lease1, "spec.renewTime"));
        usleep(1000 * 1000);
        json_auto_t *lease2 = get(f, lpath);
        assert_non_null(lease2);
        assert_string_not_equal(k8c_json_get_string(lease2, "spec.renewTime"), renew1);
        /* 1 s at a 300 ms interval: at least two renewals after the first one. */
        long long rv1 = atoll(k8c_json_get_string(lease1, "metadata.resourceVersion"));
        long long rv2 = atoll(k8c_json_get_string(lease2, "metadata.resourceVersion"));
        assert_true(rv2 > rv1);

        /* Status is written only on change (or every 60 s): the node did not change meanwhile. */
        json_auto_t *node2 = get(f, "/api/v1/nodes/node-a");
        assert_string_equal(k8c_json_get_string(node2, "metadata.resourceVersion"),
                            k8c_json_get_string(node, "metadata.resourceVersion"));
        k8c_kubelet_stop(k8c_steal(&f->k));

        /* A restarted kubelet re-registers the existing node without error and keeps it Ready. */
        assert_int_equal(k8c_kubelet_start(&cfg, &f->k, &err), 0);
        json_auto_t *node3 = wait_for(f, "/api/v1/nodes/node-a", node_ready, 5000);
        assert_non_null(node3);
        assert_string_equal(k8c_json_get_string(node3, "metadata.uid"),
                            k8c_json_get_string(node, "metadata.uid"));
        /* An unchanged Ready condition keeps its transition time. */
        assert_string_equal(
                json_string_value(json_object_get(find_condition(node3, "Ready"), "lastTransitionTime")),
                json_string_value(json_object_get(ready, "lastTransitionTime")));
        k8c_kubelet_stop(k8c_steal(&f->k));
}

static json_t *pod(const char *name, const char *node, const char *restart_policy)
{
        return json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:i, s:[{s:s, s:s}, {s:s, s:s}]}}", "apiVersion",
                         "v1", "kind", "Pod", "metadata", "name", name, "spec", "nodeName", node,
                         "restartPolicy", restart_policy, "terminationGracePeriodSeconds", 5, "containers",
                         "name", "web", "image", "busybox", "name", "side", "image", "busybox:1.36");
}

static bool pod_running(const json_t *p)
{
        const char *phase = k8c_json_get_string(p, "status.phase");
        return phase != NULL && strcmp(phase, "Running") == 0 && strcmp(cond_status(p, "Ready"), "True") == 0;
}

static void check_running_pod(const json_t *p, const char *node_ip)
{
        assert_string_equal(k8c_json_get_string(p, "status.phase"), "Running");
        const char *ip = k8c_json_get_string(p, "status.podIP");
        assert_non_null(ip);
        assert_string_equal(ip, "10.244.3.2");
        assert_string_equal(k8c_json_get_string(p, "status.podIPs[0].ip"), ip);
        assert_string_equal(k8c_json_get_string(p, "status.hostIP"), node_ip);
        assert_non_null(k8c_json_get_string(p, "status.startTime"));
        const char *types[] = { "PodScheduled", "Initialized", "ContainersReady", "Ready" };
        for (size_t i = 0; i < 4; i++)
                assert_string_equal(cond_status(p, types[i]), "True");
        assert_int_equal(json_array_size(k8c_json_get(p, "status.containerStatuses")), 2);
        assert_string_equal(k8c_json_get_string(p, "status.containerStatuses[0].name"), "web");
        assert_string_equal(k8c_json_get_string(p, "status.containerStatuses[0].image"), "busybox");
        assert_true(k8c_json_get_bool(p, "status.containerStatuses[0].ready", false));
        assert_int_equal(k8c_json_get_int(p, "status.containerStatuses[0].restartCount", -1), 0);
        assert_non_null(k8c_json_get(p, "status.containerStatuses[0].state.running.startedAt"));
        const char *cid = k8c_json_get_string(p, "status.containerStatuses[0].containerID");
        assert_non_null(cid);
        assert_int_equal(strncmp(cid, "fake://", 7), 0);
        assert_string_equal(k8c_json_get_string(p, "status.containerStatuses[1].name"), "side");
        assert_string_equal(k8c_json_get_string(p, "status.containerStatuses[1].image"), "busybox:1.36");
}

static bool pod_gone_pred(const json_t *p)
{
        return false;
}

static void test_pod_lifecycle(void **state)
{
        struct fixture *f = *state;
        struct k8c_kubelet_config cfg = config(f, "node-b");
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_kubelet_start(&cfg, &f->k, &err), 0);

        /* A pod bound to another node is not ours. */
        json_auto_t *other = pod("elsewhere", "node-zz", "Always");
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", other, NULL, &err), 0);
        json_auto_t *p = pod("web-1", "node-b", "Always");
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p, NULL, &err), 0);

        json_auto_t *running = wait_for(f, "/api/v1/namespaces/default/pods/web-1", pod_running, 5000);
        assert_non_null(running);
        check_running_pod(running, "10.99.0.7");

        /* Nothing changes, so nothing is written: the resourceVersion stays over several resyncs. */
        usleep(1000 * 1000);
        json_auto_t *again = get(f, "/api/v1/namespaces/default/pods/web-1");
        assert_string_equal(k8c_json_get_string(again, "metadata.resourceVersion"),
                            k8c_json_get_string(running, "metadata.resourceVersion"));

        /* Events for kubectl describe: one Started per container, from the kubelet on node-b. */
        json_auto_t *events = get(f, "/api/v1/namespaces/default/events");
        int started = 0;
        size_t ei;
        json_t *ev;
        json_array_foreach(json_object_get(events, "items"), ei, ev)
        {
                if (strcmp(k8c_json_get_string(ev, "involvedObject.name"), "web-1") != 0)
                        continue;
                assert_string_equal(k8c_json_get_string(ev, "involvedObject.kind"), "Pod");
                assert_string_equal(k8c_json_get_string(ev, "source.component"), "kubelet");
                assert_string_equal(k8c_json_get_string(ev, "source.host"), "node-b");
                if (strcmp(k8c_json_get_string(ev, "reason"), "Started") == 0)
                        started++;
        }
        assert_int_equal(started, 2);

        json_auto_t *untouched = get(f, "/api/v1/namespaces/default/pods/elsewhere");
        assert_string_equal(k8c_json_get_string(untouched, "status.phase"), "Pending");
        assert_null(k8c_json_get(untouched, "status.podIP"));

        /* Deletion: the kubelet stops the containers and removes the object itself. */
        assert_int_equal(
                k8c_client_delete(f->client, "/api/v1/namespaces/default/pods/web-1", NULL, NULL, &err), 0);
        bool gone = false;
        for (int i = 0; i < 100 && !gone; i++) {
                json_auto_t *cur = NULL;
                cleanup_error k8c_error_t e = NULL;
                int r = k8c_client_get(f->client, "/api/v1/namespaces/default/pods/web-1", &cur, &e);
                gone = r == -(int)K8C_ENOTFOUND;
                if (!gone)
                        usleep(50 * 1000);
        }
        assert_true(gone);
        (void)pod_gone_pred;
        /* The tear-down ends by releasing the IP (after the DELETE with graceful deletion, after the
         * DELETED event without it). */
        cleanup_free char *ipam = k8c_xasprintf("%s/ipam", f->root);
        struct stat st;
        for (int i = 0; i < 100 && (stat(ipam, &st) != 0 || st.st_size != 0); i++)
                usleep(50 * 1000);
        assert_int_equal(st.st_size, 0);

        /* Its IP went back to the pool: the next pod gets the same one. */
        json_auto_t *p2 = pod("web-2", "node-b", "Always");
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p2, NULL, &err), 0);
        json_auto_t *running2 = wait_for(f, "/api/v1/namespaces/default/pods/web-2", pod_running, 5000);
        assert_non_null(running2);
        assert_string_equal(k8c_json_get_string(running2, "status.podIP"), "10.244.3.2");

        /* Graceful deletion: a finalizer keeps the object after the kubelet's DELETE, so the
         * deletionTimestamp path is seen whatever grace the apiserver gives pods. */
        json_auto_t *held = pod("held", "node-b", "Always");
        json_object_set_new(json_object_get(held, "metadata"), "finalizers",
                            json_pack("[s]", "example.com/hold"));
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", held, NULL, &err), 0);
        json_auto_t *hrun = wait_for(f, "/api/v1/namespaces/default/pods/held", pod_running, 5000);
        assert_non_null(hrun);
        assert_string_equal(k8c_json_get_string(hrun, "status.podIP"), "10.244.3.3");
        assert_int_equal(
                k8c_client_delete(f->client, "/api/v1/namespaces/default/pods/held", NULL, NULL, &err), 0);
        /* The kubelet stops the containers and releases the IP; web-2 keeps its own. */
        cleanup_free char *web2_line =
                k8c_xasprintf("10.244.3.2 %s\n", k8c_json_get_string(running2, "metadata.uid"));
        for (int i = 0; i < 100 && (stat(ipam, &st) != 0 || st.st_size != (off_t)strlen(web2_line)); i++)
                usleep(50 * 1000);
        assert_int_equal(st.st_size, strlen(web2_line));
        json_auto_t *marked = get(f, "/api/v1/namespaces/default/pods/held");
        assert_non_null(marked);
        assert_non_null(k8c_json_get_string(marked, "metadata.deletionTimestamp"));
        /* Once the finalizer goes, the object goes. */
        json_auto_t *unhold = json_pack("{s:{s:n}}", "metadata", "finalizers");
        assert_int_equal(k8c_client_patch(f->client, "/api/v1/namespaces/default/pods/held",
                                          "application/merge-patch+json", unhold, NULL, &err),
                         0);
        cleanup_error k8c_error_t ge = NULL;
        assert_int_equal(k8c_client_get(f->client, "/api/v1/namespaces/default/pods/held", NULL, &ge),
                         -(int)K8C_ENOTFOUND);
        k8c_kubelet_stop(k8c_steal(&f->k));

        /* Deleted while the kubelet is down: the restarted kubelet frees its sandbox and address. */
        assert_int_equal(
                k8c_client_delete(f->client, "/api/v1/namespaces/default/pods/web-2", NULL, NULL, &err), 0);
        assert_int_equal(stat(ipam, &st), 0);
        assert_int_equal(st.st_size,
                         strlen("10.244.3.2 ") + strlen(k8c_json_get_string(running2, "metadata.uid")) + 1);
        assert_int_equal(k8c_kubelet_start(&cfg, &f->k, &err), 0);
        for (int i = 0; i < 100 && (stat(ipam, &st) != 0 || st.st_size != 0); i++)
                usleep(50 * 1000);
        assert_int_equal(st.st_size, 0);
        json_auto_t *p3 = pod("web-3", "node-b", "Always");
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p3, NULL, &err), 0);
        json_auto_t *running3 = wait_for(f, "/api/v1/namespaces/default/pods/web-3", pod_running, 5000);
        assert_non_null(running3);
        assert_string_equal(k8c_json_get_string(running3, "status.podIP"), "10.244.3.2");
        k8c_kubelet_stop(k8c_steal(&f->k));
}

static bool restarted_once(const json_t *p)
{
        return k8c_json_get_int(p, "status.containerStatuses[0].restartCount", 0) == 1 &&
               k8c_json_get(p, "status.containerStatuses[0].state.running") != NULL;
}

static bool crash_loop(const json_t *p)
{
        const char *r = k8c_json_get_string(p, "status.containerStatuses[0].state.waiting.reason");
        return r != NULL && strcmp(r, "CrashLoopBackOff") == 0;
}

static bool failed(const json_t *p)
{
        const char *phase = k8c_json_get_string(p, "status.phase");
        return phase != NULL && strcmp(phase, "Failed") == 0;
}

static void test_restart_and_backoff(void **state)
{
        struct fixture *f = *state;
        struct k8c_kubelet_config cfg = config(f, "node-c");
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_kubelet_start(&cfg, &f->k, &err), 0);
        json_auto_t *p = pod("crashy", "node-c", "Always");
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p, NULL, &err), 0);
        json_auto_t *running = wait_for(f, "/api/v1/namespaces/default/pods/crashy", pod_running, 5000);
        assert_non_null(running);
        const char *uid = k8c_json_get_string(running, "metadata.uid");

        /* First exit: restarted at once; lastState shows the exit. */
        assert_int_equal(k8c_fake_runtime_exit(k8c_kubelet_runtime(f->k), uid, "web", 3), 0);
        json_auto_t *r1 = wait_for(f, "/api/v1/namespaces/default/pods/crashy", restarted_once, 5000);
        assert_non_null(r1);
        assert_int_equal(k8c_json_get_int(r1, "status.containerStatuses[0].lastState.terminated.exitCode", 0),
                         3);
        assert_string_equal(
                k8c_json_get_string(r1, "status.containerStatuses[0].lastState.terminated.reason"), "Error");

        /* Second exit: 10 s back-off, shown as CrashLoopBackOff; the pod is not Ready meanwhile. */
        assert_int_equal(k8c_fake_runtime_exit(k8c_kubelet_runtime(f->k), uid, "web", 1), 0);
        json_auto_t *r2 = wait_for(f, "/api/v1/namespaces/default/pods/crashy", crash_loop, 5000);
        assert_non_null(r2);
        assert_int_equal(k8c_json_get_int(r2, "status.containerStatuses[0].restartCount", 0), 1);
        assert_string_equal(k8c_json_get_string(r2, "status.phase"), "Running");
        assert_string_equal(cond_status(r2, "Ready"), "False");
        assert_string_equal(cond_status(r2, "ContainersReady"), "False");
        assert_string_equal(json_string_value(json_object_get(find_condition(r2, "Ready"), "message")),
                            "containers with unready status: [web]");
        cleanup_free char *msg =
                k8c_xasprintf("back-off 10s restarting failed container=web pod=crashy_default(%s)", uid);
        assert_string_equal(k8c_json_get_string(r2, "status.containerStatuses[0].state.waiting.message"),
                            msg);
        assert_int_equal(k8c_json_get_int(r2, "status.containerStatuses[0].lastState.terminated.exitCode", 0),
                         1);
        k8c_kubelet_stop(k8c_steal(&f->k));

        /* restartPolicy Never: an exit with an error ends the pod as Failed. */
        assert_int_equal(k8c_kubelet_start(&cfg, &f->k, &err), 0);
        json_auto_t *once = pod("once", "node-c", "Never");
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", once, NULL, &err), 0);
        json_auto_t *orun = wait_for(f, "/api/v1/namespaces/default/pods/once", pod_running, 5000);
        assert_non_null(orun);
        const char *ouid = k8c_json_get_string(orun, "metadata.uid");
        assert_int_equal(k8c_fake_runtime_exit(k8c_kubelet_runtime(f->k), ouid, "web", 0), 0);
        assert_int_equal(k8c_fake_runtime_exit(k8c_kubelet_runtime(f->k), ouid, "side", 2), 0);
        json_auto_t *ofail = wait_for(f, "/api/v1/namespaces/default/pods/once", failed, 5000);
        assert_non_null(ofail);
        assert_string_equal(k8c_json_get_string(ofail, "status.containerStatuses[0].state.terminated.reason"),
                            "Completed");
        assert_int_equal(k8c_json_get_int(ofail, "status.containerStatuses[1].state.terminated.exitCode", 0),
                         2);
        assert_int_equal(k8c_json_get_int(ofail, "status.containerStatuses[1].restartCount", -1), 0);
        k8c_kubelet_stop(k8c_steal(&f->k));
}

/* ---- runc runtime (root): a test-made netns is the node ---- */

struct runc_env {
        char *node_netns, *netns_dir, *runc_root, *cgroup_parent;
};

static void runc_env_cleanup(struct fixture *f, struct runc_env *e)
{
        /* Whatever the test left: containers in its runc root, namespace mounts, cgroups. */
        cleanup_free char *kill_all = k8c_xasprintf(
                "for c in $(runc --root '%s' list -q 2>/dev/null); do runc --root '%s' delete -f $c; done",
                e->runc_root, e->runc_root);
        if (system(kill_all) != 0)
                fprintf(stderr, "runc cleanup failed\n");
        cleanup_free char *umounts = k8c_xasprintf(
                "for m in $(awk '{print $5}' /proc/self/mountinfo | grep '^%s/'); do umount -l $m; done",
                f->root);
        if (system(umounts) != 0)
                fprintf(stderr, "umount cleanup failed\n");
        cleanup_free char *cg = k8c_xasprintf("find /sys/fs/cgroup -maxdepth 8 -depth -type d -path '*/%s*' "
                                              "-exec rmdir {} + 2>/dev/null; true",
                                              e->cgroup_parent);
        if (system(cg) != 0)
                fprintf(stderr, "cgroup cleanup failed\n");
        free(e->node_netns);
        free(e->netns_dir);
        free(e->runc_root);
        free(e->cgroup_parent);
        free(e);
}

static bool log_has(const char *path, const char *needle)
{
        cleanup_free char *cmd = k8c_xasprintf("grep -qx '%s' '%s' 2>/dev/null", needle, path);
        return system(cmd) == 0;
}

static char *first_line(const char *path)
{
        cleanup_fclose FILE *fp = fopen(path, "re");
        char line[256];
        if (fp == NULL || fgets(line, sizeof(line), fp) == NULL)
                return NULL;
        line[strcspn(line, "\n")] = '\0';
        return k8c_xstrdup(line);
}

static int count_cgroup_dirs(const char *pattern)
{
        cleanup_free char *cmd = k8c_xasprintf(
                "find /sys/fs/cgroup -maxdepth 8 -type d -path '*/%s' 2>/dev/null | wc -l", pattern);
        FILE *p = popen(cmd, "r");
        int n = -1;
        if (p != NULL) {
                if (fscanf(p, "%d", &n) != 1)
                        n = -1;
                pclose(p);
        }
        return n;
}

static bool err_image_pull(const json_t *p)
{
        const char *r = k8c_json_get_string(p, "status.containerStatuses[0].state.waiting.reason");
        return r != NULL && strcmp(r, "ErrImagePull") == 0;
}

static bool succeeded(const json_t *p)
{
        const char *phase = k8c_json_get_string(p, "status.phase");
        return phase != NULL && strcmp(phase, "Succeeded") == 0;
}

/* A loopback port nobody listens on right now. */
static int free_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int port = -1;
        if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
                port = ntohs(sa.sin_port);
        if (fd >= 0)
                close(fd);
        return port;
}

static long api_get(struct k8c_client *c, const char *path, char **ret_body)
{
        struct k8c_response resp = { 0 };
        k8c_error_t err = NULL;
        k8c_client_do(c, "GET", path, NULL, NULL, &resp, &err);
        k8c_error_release(&err);
        long code = resp.code;
        *ret_body = resp.raw != NULL ? k8c_xstrdup(resp.raw) : k8c_xstrdup("");
        k8c_response_free(&resp);
        return code;
}

/* The kubelet API on loopback: healthz, pods, container logs with tailLines/limitBytes/previous. */
static void check_kubelet_api(int port, const char *uid)
{
        cleanup_free char *url = k8c_xasprintf("http://127.0.0.1:%d", port);
        struct k8c_client_config cc = { .server = url, .max_retries = 1 };
        struct k8c_client *c = NULL;
        assert_int_equal(k8c_client_new(&cc, &c, NULL), 0);
        cleanup_free char *body = NULL;
        assert_int_equal(api_get(c, "/healthz", &body), 200);
        assert_string_equal(body, "ok");
        free(k8c_steal(&body));
        assert_int_equal(api_get(c, "/pods", &body), 200);
        json_auto_t *list = json_loads(body, 0, NULL);
        assert_string_equal(k8c_json_get_string(list, "kind"), "PodList");
        assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
        assert_string_equal(k8c_json_get_string(list, "items[0].metadata.uid"), uid);
        free(k8c_steal(&body));
        /* The web container printed its hostname, then name=...; the last line alone: */
        assert_int_equal(api_get(c, "/containerLogs/default/web-runc/web?tailLines=1", &body), 200);
        assert_string_equal(body, "name=web-runc\n");
        free(k8c_steal(&body));
        assert_int_equal(api_get(c, "/containerLogs/default/web-runc/web", &body), 200);
        assert_string_equal(body, "web-runc\nname=web-runc\n");
        free(k8c_steal(&body));
        assert_int_equal(api_get(c, "/containerLogs/default/web-runc/web?limitBytes=3", &body), 200);
        assert_string_equal(body, "web");
        free(k8c_steal(&body));
        assert_int_equal(api_get(c, "/containerLogs/default/web-runc/client?tailLines=1", &body), 200);
        assert_string_equal(body, "served\n");
        free(k8c_steal(&body));
        assert_int_equal(api_get(c, "/containerLogs/default/web-runc/web?previous=true", &body), 400);
        json_auto_t *st = json_loads(body, 0, NULL);
        assert_string_equal(k8c_json_get_string(st, "message"),
                            "previous terminated container \"web\" in pod \"web-runc\" not found");
        free(k8c_steal(&body));
        assert_int_equal(api_get(c, "/containerLogs/default/web-runc/nope", &body), 400);
        free(k8c_steal(&body));
        assert_int_equal(api_get(c, "/containerLogs/default/absent/web", &body), 404);
        free(k8c_steal(&body));
        assert_int_equal(api_get(c, "/nothing-here", &body), 404);
        k8c_client_free(c);
}

static void test_runc_pod(void **state)
{
        struct fixture *f = *state;
        struct runc_env *ep = k8c_xcalloc(1, sizeof(*ep));
        f->cleanup_opaque = ep;
        struct runc_env e = {
                .node_netns = k8c_xasprintf("%s/node.net", f->root),
                .netns_dir = k8c_xasprintf("%s/netns", f->root),
                .runc_root = k8c_xasprintf("%s/runc", f->root),
                .cgroup_parent = k8c_xasprintf("k8ct%d", (int)getpid()),
        };
        *ep = e;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_ns_create(e.node_netns, NULL, NULL, NULL, &err), 0);

        struct k8c_kubelet_config cfg = config(f, "node-r");
        cfg.pod_cidr = "10.244.9.0/24";
        cfg.runtime = "runc";
        cfg.runc_root = e.runc_root;
        cfg.netns_dir = e.netns_dir;
        cfg.node_netns = e.node_netns;
        cfg.cgroup_parent = e.cgroup_parent;
        int api_port = free_port();
        assert_true(api_port > 0);
        cfg.address = "127.0.0.1";
        cfg.port = api_port;
        assert_int_equal(k8c_kubelet_start(&cfg, &f->k, &err), 0);

        json_auto_t *p = json_pack(
                "{s:s, s:s, s:{s:s}, s:{s:s, s:i, s:["
                "{s:s, s:s, s:[s, s, s], s:[{s:s, s:{s:{s:s}}}], s:{s:{s:s}}},"
                "{s:s, s:s, s:[s, s, s]}]}}",
                "apiVersion", "v1", "kind", "Pod", "metadata", "name", "web-runc", "spec", "nodeName",
                "node-r", "terminationGracePeriodSeconds", 2, "containers", "name", "web", "image", "busybox",
                "command", "sh", "-c",
                "hostname; echo name=$POD_NAME; echo served > /www/index.html; exec httpd -f -p 8080 -h /www",
                "env", "name", "POD_NAME", "valueFrom", "fieldRef", "fieldPath", "metadata.name", "resources",
                "limits", "memory", "64Mi", "name", "client", "image", "busybox", "command", "sh", "-c",
                "hostname; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do "
                "wget -qO- http://localhost:8080/ && break; sleep 0.25; done; exec sleep 3600");
        /* Ready only once its page exists: a readiness probe run with runc exec. */
        k8c_json_set_new(p, "spec.containers[0].readinessProbe",
                         json_pack("{s:{s:[s, s]}, s:i}", "exec", "command", "cat", "/www/index.html",
                                   "periodSeconds", 1));
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p, NULL, &err), 0);
        json_auto_t *running = wait_for(f, "/api/v1/namespaces/default/pods/web-runc", pod_running, 30000);
        assert_non_null(running);
        assert_string_equal(k8c_json_get_string(running, "status.podIP"), "10.244.9.2");
        const char *cid = k8c_json_get_string(running, "status.containerStatuses[0].containerID");
        assert_non_null(cid);
        assert_int_equal(strncmp(cid, "runc://", 7), 0);
        const char *uid = k8c_json_get_string(running, "metadata.uid");

        /* Same network: the client fetched the page httpd serves in the other container. */
        cleanup_free char *web_log = k8c_xasprintf("%s/logs/default_web-runc_%s/web/0.log", f->root, uid);
        cleanup_free char *client_log =
                k8c_xasprintf("%s/logs/default_web-runc_%s/client/0.log", f->root, uid);
        bool served = false;
        for (int i = 0; i < 200 && !served; i++) {
                served = log_has(client_log, "served");
                if (!served)
                        usleep(50 * 1000);
        }
        assert_true(served);
        /* Both see the pod name as hostname; the fieldRef env reached the process. */
        cleanup_free char *h1 = first_line(web_log);
        cleanup_free char *h2 = first_line(client_log);
        assert_non_null(h1);
        assert_non_null(h2);
        assert_string_equal(h1, "web-runc");
        assert_string_equal(h2, "web-runc");
        assert_true(log_has(web_log, "name=web-runc"));

        /* The node side: bridge with the gateway, the pod's veth on it, the netns file. */
        assert_int_equal(k8c_net_link_exists(e.node_netns, "k8c0", &err), 1);
        char ifname[16] = "veth";
        size_t n = 4;
        for (const char *s = uid; *s != '\0' && n < 15; s++)
                if (*s != '-')
                        ifname[n++] = *s;
        ifname[n] = '\0';
        assert_int_equal(k8c_net_link_exists(e.node_netns, ifname, &err), 1);
        cleanup_free char *pod_ns = k8c_xasprintf("%s/k8c-%.13s", e.netns_dir, uid);
        assert_int_equal(access(pod_ns, F_OK), 0);
        assert_int_equal(k8c_net_link_exists(pod_ns, "eth0", &err), 1);
        check_kubelet_api(api_port, uid);
        cleanup_free char *pod_cg = k8c_xasprintf("%s/pod%s", e.cgroup_parent, uid);
        assert_true(count_cgroup_dirs(pod_cg) > 0);

        /* A container that exits 3: restarted at once, then CrashLoopBackOff; the exit code came
         * through the subreaper, the previous run's log through the kubelet API. */
        json_auto_t *crashy =
                json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:i, s:[{s:s, s:s, s:[s, s, s]}]}}", "apiVersion",
                          "v1", "kind", "Pod", "metadata", "name", "crashy-runc", "spec", "nodeName",
                          "node-r", "terminationGracePeriodSeconds", 1, "containers", "name", "c", "image",
                          "busybox", "command", "sh", "-c", "echo started; exit 3");
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", crashy, NULL, &err),
                         0);
        json_auto_t *looping = wait_for(f, "/api/v1/namespaces/default/pods/crashy-runc", crash_loop, 30000);
        assert_non_null(looping);
        assert_int_equal(k8c_json_get_int(looping, "status.containerStatuses[0].restartCount", -1), 1);
        assert_int_equal(
                k8c_json_get_int(looping, "status.containerStatuses[0].lastState.terminated.exitCode", -1),
                3);
        assert_string_equal(
                k8c_json_get_string(looping, "status.containerStatuses[0].lastState.terminated.reason"),
                "Error");
        assert_string_equal(k8c_json_get_string(looping, "status.podIP"), "10.244.9.3");
        {
                cleanup_free char *url = k8c_xasprintf("http://127.0.0.1:%d", api_port);
                struct k8c_client_config cc = { .server = url, .max_retries = 1 };
                struct k8c_client *c = NULL;
                assert_int_equal(k8c_client_new(&cc, &c, NULL), 0);
                cleanup_free char *body = NULL;
                long code = api_get(c, "/containerLogs/default/crashy-runc/c?previous=true", &body);
                k8c_client_free(c);
                assert_int_equal(code, 200);
                assert_string_equal(body, "started\n");
        }
        assert_int_equal(
                k8c_client_delete(f->client, "/api/v1/namespaces/default/pods/crashy-runc", NULL, NULL, &err),
                0);

        /* An image other than busybox cannot be pulled yet: ErrImagePull in the status. */
        json_auto_t *nginx = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:[{s:s, s:s}]}}", "apiVersion", "v1",
                                       "kind", "Pod", "metadata", "name", "nginx", "spec", "nodeName",
                                       "node-r", "containers", "name", "n", "image", "nginx:1.25");
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", nginx, NULL, &err), 0);
        json_auto_t *pulling = wait_for(f, "/api/v1/namespaces/default/pods/nginx", err_image_pull, 10000);
        assert_non_null(pulling);
        assert_string_equal(k8c_json_get_string(pulling, "status.phase"), "Pending");
        assert_string_equal(
                k8c_json_get_string(pulling, "status.containerStatuses[0].state.waiting.message"),
                "start container n: image nginx:1.25: only busybox is available (image pulling is not "
                "implemented yet)");
        assert_int_equal(
                k8c_client_delete(f->client, "/api/v1/namespaces/default/pods/nginx", NULL, NULL, &err), 0);

        /* Resources reached the cgroup: the web container's memory limit is 64Mi. */
        {
                cleanup_free char *cmd = k8c_xasprintf(
                        "cat $(find /sys/fs/cgroup -maxdepth 9 -path '*/%s/pod%s/web' -type d 2>/dev/null | "
                        "sed 's|$|/memory.limit_in_bytes|;p;s|memory.limit_in_bytes$|memory.max|') "
                        "2>/dev/null | head -1",
                        e.cgroup_parent, uid);
                FILE *pp = popen(cmd, "r");
                assert_non_null(pp);
                long long limit = -1;
                if (fscanf(pp, "%lld", &limit) != 1)
                        limit = -1;
                pclose(pp);
                assert_int_equal(limit, 64LL * 1024 * 1024);
        }

        /* follow=true streams until the container exits, including what it wrote meanwhile. */
        json_auto_t *talker =
                json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:[{s:s, s:s, s:[s, s, s]}]}}", "apiVersion",
                          "v1", "kind", "Pod", "metadata", "name", "talker", "spec", "nodeName", "node-r",
                          "restartPolicy", "Never", "containers", "name", "t", "image", "busybox", "command",
                          "sh", "-c", "echo one; sleep 2; echo two");
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", talker, NULL, &err),
                         0);
        json_auto_t *trun = wait_for(f, "/api/v1/namespaces/default/pods/talker", pod_running, 30000);
        assert_non_null(trun);
        {
                cleanup_free char *url = k8c_xasprintf("http://127.0.0.1:%d", api_port);
                struct k8c_client_config cc = { .server = url, .max_retries = 1 };
                struct k8c_client *c = NULL;
                assert_int_equal(k8c_client_new(&cc, &c, NULL), 0);
                cleanup_free char *body = NULL;
                long code = api_get(c, "/containerLogs/default/talker/t?follow=true", &body);
                k8c_client_free(c);
                assert_int_equal(code, 200);
                assert_string_equal(body, "one\ntwo\n");
        }
        json_auto_t *tdone = wait_for(f, "/api/v1/namespaces/default/pods/talker", succeeded, 10000);
        assert_non_null(tdone);
        assert_string_equal(k8c_json_get_string(tdone, "status.containerStatuses[0].state.terminated.reason"),
                            "Completed");
        assert_int_equal(
                k8c_client_delete(f->client, "/api/v1/namespaces/default/pods/talker", NULL, NULL, &err), 0);

        /* Deletion cleans netns, veth, IP, cgroups and runc state. */
        assert_int_equal(
                k8c_client_delete(f->client, "/api/v1/namespaces/default/pods/web-runc", NULL, NULL, &err),
                0);
        bool gone = false;
        for (int i = 0; i < 400 && !gone; i++) {
                cleanup_error k8c_error_t ge = NULL;
                json_auto_t *cur = NULL;
                gone = k8c_client_get(f->client, "/api/v1/namespaces/default/pods/web-runc", &cur, &ge) ==
                       -(int)K8C_ENOTFOUND;
                if (!gone)
                        usleep(50 * 1000);
        }
        assert_true(gone);
        /* With graceful deletion the kubelet removes the object after tearing down; without it (an
         * apiserver that deletes at once) the tear-down follows the DELETED event: wait for it. */
        cleanup_free char *ipam = k8c_xasprintf("%s/ipam", f->root);
        struct stat st;
        /* Releasing the IP is the last step of the tear-down. */
        for (int i = 0; i < 200 && (stat(ipam, &st) != 0 || st.st_size != 0); i++)
                usleep(50 * 1000);
        assert_int_equal(k8c_net_link_exists(e.node_netns, ifname, &err), 0);
        assert_int_equal(access(pod_ns, F_OK), -1);
        assert_int_equal(count_cgroup_dirs(pod_cg), 0);
        cleanup_free char *log_dir = k8c_xasprintf("%s/logs/default_web-runc_%s", f->root, uid);
        assert_int_equal(access(log_dir, F_OK), -1);
        cleanup_free char *list = k8c_xasprintf("test -z \"$(runc --root '%s' list -q)\"", e.runc_root);
        assert_int_equal(system(list), 0);
        assert_int_equal(stat(ipam, &st), 0);
        assert_int_equal(st.st_size, 0);
        k8c_kubelet_stop(k8c_steal(&f->k));
}

static bool initializing(const json_t *p)
{
        const char *r = k8c_json_get_string(p, "status.containerStatuses[0].state.waiting.reason");
        return r != NULL && strcmp(r, "PodInitializing") == 0 &&
               k8c_json_get(p, "status.initContainerStatuses[0].state.running") != NULL;
}

/* Init containers run one at a time to a successful exit before the app containers start. */
static void test_init_containers(void **state)
{
        struct fixture *f = *state;
        struct k8c_kubelet_config cfg = config(f, "node-i");
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_kubelet_start(&cfg, &f->k, &err), 0);
        json_auto_t *p = pod("with-init", "node-i", "Always");
        json_object_set_new(json_object_get(p, "spec"), "initContainers",
                            json_pack("[{s:s, s:s}, {s:s, s:s}]", "name", "init-a", "image", "busybox",
                                      "name", "init-b", "image", "busybox"));
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p, NULL, &err), 0);
        json_auto_t *init1 = wait_for(f, "/api/v1/namespaces/default/pods/with-init", initializing, 5000);
        assert_non_null(init1);
        assert_string_equal(k8c_json_get_string(init1, "status.phase"), "Pending");
        assert_string_equal(cond_status(init1, "Initialized"), "False");
        assert_string_equal(
                json_string_value(json_object_get(find_condition(init1, "Initialized"), "reason")),
                "ContainersNotInitialized");
        assert_string_equal(
                json_string_value(json_object_get(find_condition(init1, "Initialized"), "message")),
                "containers with incomplete status: [init-a init-b]");
        assert_string_equal(
                k8c_json_get_string(init1, "status.initContainerStatuses[1].state.waiting.reason"),
                "PodInitializing");
        const char *uid = k8c_json_get_string(init1, "metadata.uid");

        /* init-a fails once: restarted (restartPolicy Always), init-b still waits. */
        assert_int_equal(k8c_fake_runtime_exit(k8c_kubelet_runtime(f->k), uid, "init-a", 1), 0);
        for (int i = 0; i < 100; i++) {
                json_auto_t *cur = get(f, "/api/v1/namespaces/default/pods/with-init");
                if (k8c_json_get_int(cur, "status.initContainerStatuses[0].restartCount", 0) == 1 &&
                    k8c_json_get(cur, "status.initContainerStatuses[0].state.running") != NULL)
                        break;
                usleep(50 * 1000);
        }
        assert_int_equal(k8c_fake_runtime_exit(k8c_kubelet_runtime(f->k), uid, "init-a", 0), 0);
        for (int i = 0; i < 100; i++) {
                json_auto_t *cur = get(f, "/api/v1/namespaces/default/pods/with-init");
                if (k8c_json_get(cur, "status.initContainerStatuses[1].state.running") != NULL)
                        break;
                usleep(50 * 1000);
        }
        assert_int_equal(k8c_fake_runtime_exit(k8c_kubelet_runtime(f->k), uid, "init-b", 0), 0);
        json_auto_t *running = wait_for(f, "/api/v1/namespaces/default/pods/with-init", pod_running, 5000);
        assert_non_null(running);
        assert_string_equal(cond_status(running, "Initialized"), "True");
        assert_string_equal(
                k8c_json_get_string(running, "status.initContainerStatuses[0].state.terminated.reason"),
                "Completed");
        assert_int_equal(k8c_json_get_int(running, "status.initContainerStatuses[0].restartCount", -1), 1);
        assert_int_equal(k8c_json_get_int(running,
                                          "status.initContainerStatuses[0].lastState.terminated.exitCode",
                                          -1),
                         1);
        assert_true(k8c_json_get_bool(running, "status.initContainerStatuses[0].ready", false));
        assert_string_equal(
                k8c_json_get_string(running, "status.initContainerStatuses[1].state.terminated.reason"),
                "Completed");
        assert_int_equal(k8c_json_get_int(running, "status.initContainerStatuses[1].restartCount", -1), 0);
        assert_non_null(k8c_json_get(running, "status.containerStatuses[0].state.running"));
        k8c_kubelet_stop(k8c_steal(&f->k));
}

static bool pod_not_ready_running(const json_t *p)
{
        const char *phase = k8c_json_get_string(p, "status.phase");
        return phase != NULL && strcmp(phase, "Running") == 0 &&
               strcmp(cond_status(p, "Ready"), "False") == 0;
}

static bool side_restarted(const json_t *p)
{
        return k8c_json_get_int(p, "status.containerStatuses[1].restartCount", 0) == 1 &&
               k8c_json_get(p, "status.containerStatuses[1].state.running") != NULL;
}

/* Readiness gates Ready; liveness failures restart the container (fake runtime's exec results). */
static void test_probes(void **state)
{
        struct fixture *f = *state;
        struct k8c_kubelet_config cfg = config(f, "node-p");
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_kubelet_start(&cfg, &f->k, &err), 0);
        json_auto_t *p = pod("probed", "node-p", "Always");
        k8c_json_set_new(p, "spec.containers[0].readinessProbe",
                         json_pack("{s:{s:[s]}, s:i, s:i}", "exec", "command", "ready-check", "periodSeconds",
                                   1, "failureThreshold", 1));
        k8c_json_set_new(p, "spec.containers[1].livenessProbe",
                         json_pack("{s:{s:[s]}, s:i, s:i}", "exec", "command", "alive-check", "periodSeconds",
                                   1, "failureThreshold", 2));
        k8c_json_set_new(p, "spec.terminationGracePeriodSeconds", json_integer(0));
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p, NULL, &err), 0);
        json_auto_t *ready = wait_for(f, "/api/v1/namespaces/default/pods/probed", pod_running, 5000);
        assert_non_null(ready);
        const char *uid = k8c_json_get_string(ready, "metadata.uid");

        /* Readiness fails: Running but not Ready, and the message names the container. */
        assert_int_equal(k8c_fake_runtime_set_exec_result(k8c_kubelet_runtime(f->k), uid, "web", 1), 0);
        json_auto_t *unready =
                wait_for(f, "/api/v1/namespaces/default/pods/probed", pod_not_ready_running, 5000);
        assert_non_null(unready);
        assert_false(k8c_json_get_bool(unready, "status.containerStatuses[0].ready", true));
        assert_true(k8c_json_get_bool(unready, "status.containerStatuses[1].ready", false));
        assert_string_equal(json_string_value(json_object_get(find_condition(unready, "Ready"), "message")),
                            "containers with unready status: [web]");
        assert_int_equal(k8c_json_get_int(unready, "status.containerStatuses[0].restartCount", -1), 0);
        /* And passes again: Ready. */
        assert_int_equal(k8c_fake_runtime_set_exec_result(k8c_kubelet_runtime(f->k), uid, "web", 0), 0);
        json_auto_t *again = wait_for(f, "/api/v1/namespaces/default/pods/probed", pod_running, 5000);
        assert_non_null(again);

        /* Liveness fails twice: the side container is killed and restarted. */
        assert_int_equal(k8c_fake_runtime_set_exec_result(k8c_kubelet_runtime(f->k), uid, "side", 1), 0);
        json_auto_t *restarted = wait_for(f, "/api/v1/namespaces/default/pods/probed", side_restarted, 8000);
        assert_non_null(restarted);
        assert_int_equal(
                k8c_json_get_int(restarted, "status.containerStatuses[1].lastState.terminated.exitCode", -1),
                137);
        assert_int_equal(k8c_json_get_int(restarted, "status.containerStatuses[0].restartCount", -1), 0);
        k8c_kubelet_stop(k8c_steal(&f->k));
}

static bool node_not_ready(const json_t *n)
{
        return strcmp(cond_status(n, "Ready"), "False") == 0;
}

/* Without --pod-cidr the node is NotReady until spec.podCIDR is assigned (by the node IPAM
 * controller, here by the test); then pods get addresses from it. */
static void test_pod_cidr_from_node(void **state)
{
        struct fixture *f = *state;
        struct k8c_kubelet_config cfg = config(f, "node-d");
        cfg.pod_cidr = NULL;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_kubelet_start(&cfg, &f->k, &err), 0);
        json_auto_t *node = wait_for(f, "/api/v1/nodes/node-d", node_not_ready, 5000);
        assert_non_null(node);
        const json_t *ready = find_condition(node, "Ready");
        assert_string_equal(json_string_value(json_object_get(ready, "reason")), "KubeletNotReady");
        assert_string_equal(json_string_value(json_object_get(ready, "message")),
                            "container runtime network not ready: no podCIDR assigned to the node");
        json_auto_t *p = pod("early", "node-d", "Always");
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p, NULL, &err), 0);
        usleep(600 * 1000);
        json_auto_t *waiting = get(f, "/api/v1/namespaces/default/pods/early");
        assert_string_equal(k8c_json_get_string(waiting, "status.phase"), "Pending");
        assert_null(k8c_json_get(waiting, "status.podIP"));

        json_auto_t *patch = json_pack("{s:{s:s}}", "spec", "podCIDR", "10.244.77.0/24");
        assert_int_equal(k8c_client_patch(f->client, "/api/v1/nodes/node-d", "application/merge-patch+json",
                                          patch, NULL, &err),
                         0);
        json_auto_t *ready_node = wait_for(f, "/api/v1/nodes/node-d", node_ready, 5000);
        assert_non_null(ready_node);
        json_auto_t *running = wait_for(f, "/api/v1/namespaces/default/pods/early", pod_running, 5000);
        assert_non_null(running);
        assert_string_equal(k8c_json_get_string(running, "status.podIP"), "10.244.77.2");
        k8c_kubelet_stop(k8c_steal(&f->k));
}

static double mono_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The runc runtime alone: stop sends SIGTERM, waits up to the grace period, then SIGKILLs. */
static void test_runc_stop_grace(void **state)
{
        struct fixture *f = *state;
        struct runc_env *ep = k8c_xcalloc(1, sizeof(*ep));
        f->cleanup_opaque = ep;
        ep->node_netns = k8c_xasprintf("%s/node.net", f->root);
        ep->netns_dir = k8c_xasprintf("%s/netns", f->root);
        ep->runc_root = k8c_xasprintf("%s/runc", f->root);
        ep->cgroup_parent = k8c_xasprintf("k8ct%d", (int)getpid());
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_ns_create(ep->node_netns, NULL, NULL, NULL, &err), 0);
        const struct k8c_runc_config rc = { .root_dir = f->root,
                                            .runc_root = ep->runc_root,
                                            .netns_dir = ep->netns_dir,
                                            .node_netns = ep->node_netns,
                                            .cgroup_parent = ep->cgroup_parent,
                                            .node_name = "node-g",
                                            .pod_cidr = "10.244.8.0/24" };
        void *rt = NULL;
        assert_int_equal(k8c_runc_runtime_new(&rc, &rt, &err), 0);
        const struct k8c_runtime_ops *ops = &k8c_runc_runtime_ops;
        json_auto_t *pod =
                json_pack("{s:{s:s, s:s, s:s}, s:{s:[{s:s, s:s, s:[s, s, s]}, {s:s, s:s, s:[s, s, s]}]}}",
                          "metadata", "name", "g", "namespace", "default", "uid", "gggg-1111", "spec",
                          "containers", "name", "polite", "image", "busybox", "command", "sh", "-c",
                          "trap 'echo got TERM; exit 0' TERM; echo up; while true; do sleep 0.1; done",
                          "name", "stubborn", "image", "busybox", "command", "sh", "-c",
                          "trap '' TERM; echo up; while true; do sleep 0.1; done");
        cleanup_free char *ip = NULL;
        assert_int_equal(ops->create_sandbox(rt, pod, NULL, &ip, &err), 0);
        assert_string_equal(ip, "10.244.8.2");
        const json_t *cs = k8c_json_get(pod, "spec.containers");
        cleanup_free char *polite_log = k8c_xasprintf("%s/logs/default_g_gggg-1111/polite/0.log", f->root);
        cleanup_free char *stubborn_log =
                k8c_xasprintf("%s/logs/default_g_gggg-1111/stubborn/0.log", f->root);
        for (size_t i = 0; i < 2; i++)
                assert_int_equal(ops->start_container(rt, pod, json_array_get(cs, i), NULL, 0, &err), 0);
        for (int i = 0; i < 100 && !(log_has(polite_log, "up") && log_has(stubborn_log, "up")); i++)
                usleep(50 * 1000);
        assert_true(log_has(polite_log, "up"));
        assert_true(log_has(stubborn_log, "up"));
        struct k8c_container_state st;
        assert_int_equal(ops->container_status(rt, pod, "polite", &st, &err), 0);
        assert_int_equal(st.phase, K8C_CONTAINER_RUNNING);

        /* The polite one handles SIGTERM and is gone well before its 5 s grace. */
        double t0 = mono_s();
        assert_int_equal(ops->stop_container(rt, pod, "polite", 5, &err), 0);
        double polite_s = mono_s() - t0;
        assert_true(polite_s < 3.0);
        assert_true(log_has(polite_log, "got TERM"));
        assert_int_equal(ops->container_status(rt, pod, "polite", &st, &err), 0);
        assert_int_equal(st.phase, K8C_CONTAINER_ABSENT);

        /* The stubborn one ignores it: killed once its 2 s grace is over. */
        t0 = mono_s();
        assert_int_equal(ops->stop_container(rt, pod, "stubborn", 2, &err), 0);
        double stubborn_s = mono_s() - t0;
        assert_true(stubborn_s >= 2.0);
        assert_true(stubborn_s < 6.0);
        assert_int_equal(ops->container_status(rt, pod, "stubborn", &st, &err), 0);
        assert_int_equal(st.phase, K8C_CONTAINER_ABSENT);
        cleanup_free char *list = k8c_xasprintf("test -z \"$(runc --root '%s' list -q)\"", ep->runc_root);
        assert_int_equal(system(list), 0);

        assert_int_equal(ops->remove_sandbox(rt, pod, &err), 0);
        assert_int_equal(ops->remove_sandbox(rt, pod, &err), 0); /* idempotent */
        char **uids = NULL;
        assert_int_equal(ops->list(rt, &uids, &err), 0);
        assert_null(uids[0]);
        k8c_strv_free(uids);
        ops->free(rt);
}

/* The k8c-kubelet binary: flags wired, node registered, API served, SIGTERM exits 0. */
static void test_binary(void **state)
{
        struct fixture *f = *state;
        const char *dir = getenv("K8C_ASAN_BINDIR");
        cleanup_free char *bin = k8c_xasprintf("%s/k8c-kubelet", dir != NULL ? dir : "build/asan/bin");
        int port = free_port();
        assert_true(port > 0);
        cleanup_free char *port_s = k8c_xasprintf("%d", port);
        cleanup_free char *log = k8c_xasprintf("%s/kubelet.log", f->root);
        cleanup_pid pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                dup2(fd, 2);
                execl(bin, bin, "--server", f->srv.url, "--hostname-override", "node-bin", "--runtime",
                      "fake", "--pod-cidr", "10.244.5.0/24", "--root-dir", f->root, "--address", "127.0.0.1",
                      "--port", port_s, "--node-lease-interval", "300ms", "--capacity", "cpu=2,memory=1Gi",
                      "--node-labels", "lab=yes", (char *)NULL);
                _exit(127);
        }
        json_auto_t *node = wait_for(f, "/api/v1/nodes/node-bin", node_ready, 10000);
        assert_non_null(node);
        assert_string_equal(k8c_json_get_string(node, "status.capacity.cpu"), "2");
        assert_string_equal(k8c_json_get_string(node, "status.capacity.memory"), "1Gi");
        assert_string_equal(k8c_json_get_string(node, "metadata.labels.lab"), "yes");
        assert_string_equal(k8c_json_get_string(node, "spec.podCIDR"), "10.244.5.0/24");
        assert_int_equal(k8c_json_get_int(node, "status.daemonEndpoints.kubeletEndpoint.Port", 0), port);
        cleanup_free char *url = k8c_xasprintf("http://127.0.0.1:%d", port);
        struct k8c_client_config cc = { .server = url, .max_retries = 3 };
        struct k8c_client *c = NULL;
        assert_int_equal(k8c_client_new(&cc, &c, NULL), 0);
        cleanup_free char *body = NULL;
        long code = api_get(c, "/healthz", &body);
        k8c_client_free(c);
        assert_int_equal(code, 200);
        assert_string_equal(body, "ok");
        assert_int_equal(kill(pid, SIGTERM), 0);
        int status = -1;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        pid = -1;
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_node_registers_and_heartbeats, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pod_lifecycle, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restart_and_backoff, setup, teardown),
                cmocka_unit_test_setup_teardown(test_runc_pod, setup, teardown),
                cmocka_unit_test_setup_teardown(test_binary, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pod_cidr_from_node, setup, teardown),
                cmocka_unit_test_setup_teardown(test_runc_stop_grace, setup, teardown),
                cmocka_unit_test_setup_teardown(test_init_containers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_probes, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Root integration tests of the kubelet as a node agent with real runc pods
 * (busybox sh) in a node network namespace made by the test, against the real
 * apiserver on loopback: a k8c-kubelet process killed with SIGKILL and started
 * again adopts its running containers (same IDs, same processes, same status);
 * a container allocating past its memory limit is OOM-killed (OOMKilled, 137)
 * and restarted, and cpu limits/requests reach the cgroup as quota and shares;
 * deleting a pod stops its containers together (one exiting on SIGTERM at
 * once, one ignoring it at the end of its 3 s grace) and removes its netns,
 * veth, IP, cgroups and runc state; restartPolicy Never/OnFailure/Always and
 * CrashLoopBackOff with growing delays. Everything made lives under the test's
 * temp dir, netns files and test-unique cgroup parent (tests/common/kubelet_runc).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/kubelet_runc.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/kubelet.h"
#include "k8c/lab.h"

/* The k8c-kubelet process of the kill -9 test, killed by the teardown even after a failed
 * assertion (cmocka's longjmp skips cleanup attributes). */
static pid_t g_kubelet_pid = -1;

/* The second node of the cross-node test (in-process kubelet, its own runc root). */
static struct k8c_kubelet *g_kubelet_b;
static char *g_runc_root_b;

/* The docker-registry of the image test. */
static pid_t g_registry_pid = -1;

static int teardown(void **state)
{
        if (g_registry_pid > 0) {
                kill(g_registry_pid, SIGKILL);
                waitpid(g_registry_pid, NULL, 0);
                g_registry_pid = -1;
        }
        k8c_kubelet_stop(g_kubelet_b);
        g_kubelet_b = NULL;
        if (g_runc_root_b != NULL) {
                cleanup_free char *kill_all =
                        k8c_xasprintf("for c in $(runc --root '%s' list -q 2>/dev/null); do runc --root '%s' "
                                      "delete -f $c; done",
                                      g_runc_root_b, g_runc_root_b);
                if (system(kill_all) != 0)
                        fprintf(stderr, "runc cleanup failed\n");
                free(g_runc_root_b);
                g_runc_root_b = NULL;
        }
        if (g_kubelet_pid > 0) {
                kill(g_kubelet_pid, SIGKILL);
                waitpid(g_kubelet_pid, NULL, 0);
                g_kubelet_pid = -1;
        }
        return k8c_test_node_teardown(state);
}

static json_t *obj_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *obj_json(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        cleanup_free char *text = NULL;
        assert_true(vasprintf(&text, fmt, ap) >= 0);
        va_end(ap);
        json_error_t je;
        json_t *p = json_loads(text, 0, &je);
        if (p == NULL)
                fprintf(stderr, "bad json: %s at %d\n", je.text, je.position);
        assert_non_null(p);
        return p;
}

static bool phase_is(const json_t *p, const char *phase)
{
        const char *ph = k8c_json_get_string(p, "status.phase");
        return ph != NULL && strcmp(ph, phase) == 0;
}

static bool all_running(const json_t *p)
{
        size_t i;
        json_t *c;
        const json_t *cs = k8c_json_get(p, "status.containerStatuses");
        if (!phase_is(p, "Running") || json_array_size(cs) == 0)
                return false;
        json_array_foreach(cs, i, c)
        {
                if (k8c_json_get(c, "state.running") == NULL)
                        return false;
        }
        return true;
}

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

/* The k8c-kubelet binary (ASan build) on the harness's node: same state, runc root, netns and
 * cgroup parent as the in-process kubelet it replaces. */
static pid_t spawn_kubelet(struct k8c_test_node *n, int port)
{
        const char *dir = getenv("K8C_ASAN_BINDIR");
        cleanup_free char *bin = k8c_xasprintf("%s/k8c-kubelet", dir != NULL ? dir : "build/asan/bin");
        cleanup_free char *port_s = k8c_xasprintf("%d", port);
        cleanup_free char *log = k8c_xasprintf("%s/kubelet.log", n->root);
        pid_t pid = fork();
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
                dup2(fd, 2);
                execl(bin, bin, "--server", n->srv.url, "--hostname-override", n->node_name, "--node-ip",
                      "10.99.0.9", "--runtime", "runc", "--pod-cidr", n->pod_cidr, "--root-dir", n->root,
                      "--runc-root", n->runc_root, "--netns-dir", n->netns_dir, "--node-netns", n->node_netns,
                      "--cgroup-parent", n->cgroup_parent, "--address", "127.0.0.1", "--port", port_s,
                      "--node-lease-interval", "1s", "--capacity", "cpu=4,memory=8Gi,pods=110", (char *)NULL);
                _exit(127);
        }
        return pid;
}

/* The pid runc reports for the container with this runtime ID (0 when not running). */
static long runc_pid(struct k8c_test_node *n, const char *cid)
{
        if (cid == NULL || strncmp(cid, "runc://", 7) != 0)
                return 0;
        cleanup_free char *cmd =
                k8c_xasprintf("runc --root '%s' state %s 2>/dev/null", n->runc_root, cid + 7);
        FILE *pp = popen(cmd, "r");
        if (pp == NULL)
                return 0;
        char buf[8192];
        size_t got = fread(buf, 1, sizeof(buf) - 1, pp);
        buf[got] = '\0';
        pclose(pp);
        json_auto_t *st = json_loads(buf, 0, NULL);
        const char *status = k8c_json_get_string(st, "status");
        if (status == NULL || strcmp(status, "running") != 0)
                return 0;
        return (long)k8c_json_get_int(st, "pid", 0);
}

static bool adopted_ready(const json_t *p)
{
        return all_running(p) && strcmp(k8c_test_pod_condition(p, "Ready"), "True") == 0;
}

static bool flaky_restarted(const json_t *p)
{
        return all_running(p) &&
               k8c_json_get_int(k8c_test_container_status(p, "flaky"), "restartCount", 0) == 1;
}

static bool sleeper_restarted(const json_t *p)
{
        return all_running(p) &&
               k8c_json_get_int(k8c_test_container_status(p, "sleeper"), "restartCount", 0) == 1;
}

/* Kill -9 the kubelet while its pod runs, start it again: the containers keep running (same IDs,
 * same processes), and the status stays what it was (restart count, last state, start time, IP). */
static void test_kill9_adopts_containers(void **state)
{
        struct k8c_test_node *n = *state;
        k8c_kubelet_stop(n->k); /* the binary below takes its place */
        n->k = NULL;
        int port = free_port();
        assert_true(port > 0);
        g_kubelet_pid = spawn_kubelet(n, port);
        assert_true(g_kubelet_pid > 0);

        /* flaky fails once (its marker lives in an emptyDir that outlives the run) then sleeps. */
        json_auto_t *p = obj_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"adopt\"},\"spec\":{"
                "\"terminationGracePeriodSeconds\":1,\"volumes\":[{\"name\":\"m\",\"emptyDir\":{}}],"
                "\"containers\":[{\"name\":\"sleeper\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\","
                "\"echo up; exec sleep "
                "3600\"]},{\"name\":\"flaky\",\"image\":\"busybox\",\"command\":[\"sh\","
                "\"-c\",\"test -f /m/once && exec sleep 3600; busybox touch /m/once; exit "
                "4\"],\"volumeMounts\":"
                "[{\"name\":\"m\",\"mountPath\":\"/m\"}]}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", p), 0);
        json_auto_t *before = k8c_test_node_wait_pod(n, "adopt", flaky_restarted, 40000);
        assert_non_null(before);
        const json_t *flaky = k8c_test_container_status(before, "flaky");
        assert_int_equal(k8c_json_get_int(flaky, "lastState.terminated.exitCode", -1), 4);
        cleanup_free char *sleeper_id =
                k8c_xstrdup(k8c_json_get_string(k8c_test_container_status(before, "sleeper"), "containerID"));
        cleanup_free char *flaky_id = k8c_xstrdup(k8c_json_get_string(flaky, "containerID"));
        long sleeper_pid = runc_pid(n, sleeper_id), flaky_pid = runc_pid(n, flaky_id);
        assert_true(sleeper_pid > 0);
        assert_true(flaky_pid > 0);
        cleanup_free char *start_time = k8c_xstrdup(k8c_json_get_string(before, "status.startTime"));
        cleanup_free char *pod_ip = k8c_xstrdup(k8c_json_get_string(before, "status.podIP"));
        cleanup_free char *started_at = k8c_xstrdup(
                k8c_json_get_string(k8c_test_container_status(before, "sleeper"), "state.running.startedAt"));

        assert_int_equal(kill(g_kubelet_pid, SIGKILL), 0);
        assert_int_equal(waitpid(g_kubelet_pid, NULL, 0), g_kubelet_pid);
        g_kubelet_pid = -1;
        /* Nothing restarted them meanwhile: the same processes run without a kubelet. */
        sleep(1);
        assert_int_equal(runc_pid(n, sleeper_id), sleeper_pid);
        assert_int_equal(runc_pid(n, flaky_id), flaky_pid);

        g_kubelet_pid = spawn_kubelet(n, port);
        assert_true(g_kubelet_pid > 0);
        /* The new kubelet has synced the pod when its lease has moved on; then the status must not
         * have changed (no restart, no new IDs). */
        sleep(4);
        json_auto_t *after = k8c_test_node_wait_pod(n, "adopt", adopted_ready, 20000);
        assert_non_null(after);
        const json_t *s2 = k8c_test_container_status(after, "sleeper");
        const json_t *f2 = k8c_test_container_status(after, "flaky");
        assert_string_equal(k8c_json_get_string(s2, "containerID"), sleeper_id);
        assert_string_equal(k8c_json_get_string(f2, "containerID"), flaky_id);
        assert_int_equal(runc_pid(n, sleeper_id), sleeper_pid);
        assert_int_equal(runc_pid(n, flaky_id), flaky_pid);
        assert_int_equal(k8c_json_get_int(s2, "restartCount", -1), 0);
        assert_int_equal(k8c_json_get_int(f2, "restartCount", -1), 1);
        assert_int_equal(k8c_json_get_int(f2, "lastState.terminated.exitCode", -1), 4);
        assert_string_equal(k8c_json_get_string(after, "status.startTime"), start_time);
        assert_string_equal(k8c_json_get_string(after, "status.podIP"), pod_ip);
        assert_string_equal(k8c_json_get_string(s2, "state.running.startedAt"), started_at);
        /* Only the one sleeper log: it was never started a second time. */
        assert_null(k8c_test_container_log(n, after, "sleeper", 1));

        /* The adopted containers are still watched: one that dies now is restarted. */
        cleanup_free char *kill_cmd =
                k8c_xasprintf("runc --root '%s' kill %s KILL", n->runc_root, sleeper_id + 7);
        assert_int_equal(system(kill_cmd), 0);
        json_auto_t *restarted = k8c_test_node_wait_pod(n, "adopt", sleeper_restarted, 30000);
        assert_non_null(restarted);
        assert_string_not_equal(
                k8c_json_get_string(k8c_test_container_status(restarted, "sleeper"), "containerID"),
                sleeper_id);
        assert_int_equal(runc_pid(n, flaky_id), flaky_pid);
        assert_true(k8c_test_node_delete_pod(n, "adopt", k8c_json_get_string(after, "metadata.uid"), 20000));
}

/* The first line of the cgroup file of a container found under the test's cgroup parent. */
static char *cgroup_value(struct k8c_test_node *n, const char *uid, const char *container, const char *file)
{
        cleanup_free char *cmd =
                k8c_xasprintf("cat $(find /sys/fs/cgroup -maxdepth 10 -path '*/%s/pod%s/%s/%s' "
                              "2>/dev/null) 2>/dev/null | head -1",
                              n->cgroup_parent, uid, container, file);
        FILE *pp = popen(cmd, "r");
        if (pp == NULL)
                return NULL;
        char buf[256] = "";
        char *got = fgets(buf, sizeof(buf), pp);
        pclose(pp);
        if (got == NULL)
                return NULL;
        buf[strcspn(buf, "\n")] = '\0';
        return k8c_xstrdup(buf);
}

static bool oom_restarted(const json_t *p)
{
        const json_t *c = k8c_test_container_status(p, "hog");
        const char *reason = k8c_json_get_string(c, "lastState.terminated.reason");
        return k8c_json_get_int(c, "restartCount", 0) >= 1 && reason != NULL &&
               strcmp(reason, "OOMKilled") == 0;
}

static bool oom_failed(const json_t *p)
{
        return phase_is(p, "Failed");
}

/* A container allocating past its memory limit is OOM-killed: reason OOMKilled, exit 137, and
 * restarted per its restartPolicy (Always: restarted; Never: the pod fails). cpu requests and
 * limits reach the cgroup as shares and a CFS quota. */
static void test_oom_and_cpu(void **state)
{
        struct k8c_test_node *n = *state;
        /* The shell doubles a string until the kernel kills it at the 32Mi limit. */
        const char *hog_cmd = "echo start; x=0123456789abcdef; while true; do x=$x$x; done";
        json_auto_t *p = obj_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"hog\"},\"spec\":{"
                "\"terminationGracePeriodSeconds\":1,\"restartPolicy\":\"Always\",\"containers\":[{\"name\":"
                "\"hog\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\",\"%s\"],\"resources\":{\"limits\":"
                "{\"memory\":\"32Mi\",\"cpu\":\"500m\"},\"requests\":{\"memory\":\"32Mi\",\"cpu\":\"250m\"}}}"
                "]}}",
                hog_cmd);
        assert_int_equal(k8c_test_node_create(n, "pods", p), 0);
        json_auto_t *looped = k8c_test_node_wait_pod(n, "hog", oom_restarted, 40000);
        assert_non_null(looped);
        const json_t *c = k8c_test_container_status(looped, "hog");
        assert_int_equal(k8c_json_get_int(c, "lastState.terminated.exitCode", -1), 137);
        const char *uid = k8c_json_get_string(looped, "metadata.uid");
        assert_true(k8c_test_wait_log(n, looped, "hog", 0, "start", 1000));

        /* Never: the OOM kill is final and shows as the container's terminated state. */
        json_auto_t *once = obj_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"hog-once\"},\"spec\":{"
                "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"hog\",\"image\":\"busybox\","
                "\"command\":[\"sh\",\"-c\",\"%s\"],\"resources\":{\"limits\":{\"memory\":\"32Mi\"}}}]}}",
                hog_cmd);
        assert_int_equal(k8c_test_node_create(n, "pods", once), 0);
        json_auto_t *failed = k8c_test_node_wait_pod(n, "hog-once", oom_failed, 40000);
        assert_non_null(failed);
        const json_t *fc = k8c_test_container_status(failed, "hog");
        assert_string_equal(k8c_json_get_string(fc, "state.terminated.reason"), "OOMKilled");
        assert_int_equal(k8c_json_get_int(fc, "state.terminated.exitCode", -1), 137);
        assert_int_equal(k8c_json_get_int(fc, "restartCount", -1), 0);

        /* cpu: a steady container with requests 250m and limits 500m → shares 256, quota 50 ms
         * per 100 ms period (cgroup v1 names; cpu.weight/cpu.max on v2). */
        json_auto_t *cpu = obj_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"cpu\"},\"spec\":{"
                "\"terminationGracePeriodSeconds\":1,\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
                "\"command\":[\"sleep\",\"3600\"],\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":"
                "\"64Mi\"},\"requests\":{\"cpu\":\"250m\",\"memory\":\"32Mi\"}}}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", cpu), 0);
        json_auto_t *cr = k8c_test_node_wait_pod(n, "cpu", all_running, 30000);
        assert_non_null(cr);
        const char *cuid = k8c_json_get_string(cr, "metadata.uid");
        cleanup_free char *quota = cgroup_value(n, cuid, "c", "cpu.cfs_quota_us");
        if (quota != NULL) {
                cleanup_free char *period = cgroup_value(n, cuid, "c", "cpu.cfs_period_us");
                cleanup_free char *shares = cgroup_value(n, cuid, "c", "cpu.shares");
                assert_string_equal(quota, "50000");
                assert_non_null(period);
                assert_string_equal(period, "100000");
                assert_non_null(shares);
                assert_string_equal(shares, "256");
        } else {
                cleanup_free char *max = cgroup_value(n, cuid, "c", "cpu.max");
                assert_non_null(max);
                assert_string_equal(max, "50000 100000");
        }
        cleanup_free char *mem = cgroup_value(n, cuid, "c", "memory.limit_in_bytes");
        if (mem == NULL)
                mem = cgroup_value(n, cuid, "c", "memory.max");
        assert_non_null(mem);
        assert_string_equal(mem, "67108864");

        assert_true(k8c_test_node_delete_pod(n, "hog", uid, 20000));
        assert_true(
                k8c_test_node_delete_pod(n, "hog-once", k8c_json_get_string(failed, "metadata.uid"), 20000));
        assert_true(k8c_test_node_delete_pod(n, "cpu", cuid, 20000));
}

static bool gone_running(const json_t *p)
{
        return all_running(p);
}

/* Deleting a pod: its containers get SIGTERM together; the one exiting on it is gone at once, the
 * one ignoring it is killed when the 3 s grace is over; then the pod object, its netns, veth, IP,
 * cgroups and runc state are all gone. */
static void test_delete_grace_and_cleanup(void **state)
{
        struct k8c_test_node *n = *state;
        json_auto_t *p =
                obj_json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"del\"},\"spec\":{"
                         "\"terminationGracePeriodSeconds\":3,\"containers\":["
                         "{\"name\":\"polite\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\",\"trap 'echo "
                         "got TERM; "
                         "exit 0' TERM; echo up; while true; do sleep 0.1; done\"]},"
                         "{\"name\":\"stubborn\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\",\"trap '' "
                         "TERM; echo "
                         "up; while true; do sleep 0.1; done\"]}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", p), 0);
        json_auto_t *up = k8c_test_node_wait_pod(n, "del", gone_running, 30000);
        assert_non_null(up);
        assert_true(k8c_test_wait_log(n, up, "polite", 0, "up", 5000));
        assert_true(k8c_test_wait_log(n, up, "stubborn", 0, "up", 5000));
        const char *uid = k8c_json_get_string(up, "metadata.uid");
        const char *ip = k8c_json_get_string(up, "status.podIP");
        assert_non_null(ip);
        const char *polite_id = k8c_json_get_string(k8c_test_container_status(up, "polite"), "containerID");
        const char *stubborn_id =
                k8c_json_get_string(k8c_test_container_status(up, "stubborn"), "containerID");
        assert_true(runc_pid(n, polite_id) > 0);
        assert_true(runc_pid(n, stubborn_id) > 0);
        cleanup_free char *pod_ns = k8c_xasprintf("%s/k8c-%.13s", n->netns_dir, uid);
        char ifname[16] = "veth";
        size_t len = 4;
        for (const char *s = uid; *s != '\0' && len < 15; s++)
                if (*s != '-')
                        ifname[len++] = *s;
        ifname[len] = '\0';
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(access(pod_ns, F_OK), 0);
        assert_int_equal(k8c_net_link_exists(n->node_netns, ifname, &err), 1);
        cleanup_free char *ipam_path = k8c_xasprintf("%s/ipam", n->root);
        cleanup_free char *ipam_has = k8c_xasprintf("grep -q '%s' '%s'", uid, ipam_path);
        assert_int_equal(system(ipam_has), 0);
        cleanup_free char *cg_count = k8c_xasprintf(
                "test -n \"$(find /sys/fs/cgroup -maxdepth 9 -type d -path '*/%s/pod%s' 2>/dev/null)\"",
                n->cgroup_parent, uid);
        assert_int_equal(system(cg_count), 0);

        double t0 = k8c_test_mono_s();
        cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/default/pods/del");
        assert_int_equal(k8c_client_delete(n->client, path, NULL, NULL, &err), 0);
        /* polite: gone at once; stubborn still running meanwhile. */
        double polite_gone = -1;
        while (k8c_test_mono_s() - t0 < 2.5) {
                if (runc_pid(n, polite_id) == 0) {
                        polite_gone = k8c_test_mono_s() - t0;
                        break;
                }
                usleep(50 * 1000);
        }
        assert_true(polite_gone >= 0);
        assert_true(polite_gone < 2.0);
        assert_true(runc_pid(n, stubborn_id) > 0);
        assert_true(k8c_test_wait_log(n, up, "polite", 0, "got TERM", 1000));
        /* stubborn: killed once the 3 s are over, not before. */
        double stubborn_gone = -1;
        while (k8c_test_mono_s() - t0 < 10) {
                if (runc_pid(n, stubborn_id) == 0) {
                        stubborn_gone = k8c_test_mono_s() - t0;
                        break;
                }
                usleep(50 * 1000);
        }
        assert_true(stubborn_gone >= 2.9);
        assert_true(stubborn_gone < 6.0);
        /* The object goes once the tear-down is done (the harness waits for the pod dir too). */
        bool gone = false;
        cleanup_free char *dir = k8c_xasprintf("%s/pods/%s", n->root, uid);
        for (int i = 0; i < 200 && !gone; i++) {
                json_auto_t *cur = NULL;
                cleanup_error k8c_error_t ge = NULL;
                struct stat st;
                gone = k8c_client_get(n->client, path, &cur, &ge) == -(int)K8C_ENOTFOUND &&
                       stat(dir, &st) < 0;
                if (!gone)
                        usleep(50 * 1000);
        }
        assert_true(gone);
        assert_int_equal(access(pod_ns, F_OK), -1);
        assert_int_equal(k8c_net_link_exists(n->node_netns, ifname, &err), 0);
        assert_int_not_equal(system(ipam_has), 0);
        assert_int_not_equal(system(cg_count), 0);
        cleanup_free char *uts = k8c_xasprintf("%s/uts", dir);
        assert_int_equal(access(uts, F_OK), -1);
        cleanup_free char *list = k8c_xasprintf("test -z \"$(runc --root '%s' list -q)\"", n->runc_root);
        assert_int_equal(system(list), 0);
        cleanup_free char *state_dir = k8c_xasprintf("%s/%s", n->runc_root, stubborn_id + 7);
        assert_int_equal(access(state_dir, F_OK), -1);

        /* The IP is free again: the next pod gets it. */
        json_auto_t *next =
                obj_json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"next\"},"
                         "\"spec\":{\"terminationGracePeriodSeconds\":0,\"containers\":[{\"name\":"
                         "\"c\",\"image\":\"busybox\",\"command\":[\"sleep\",\"3600\"]}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", next), 0);
        json_auto_t *nr = k8c_test_node_wait_pod(n, "next", all_running, 30000);
        assert_non_null(nr);
        assert_string_equal(k8c_json_get_string(nr, "status.podIP"), ip);
        assert_true(k8c_test_node_delete_pod(n, "next", k8c_json_get_string(nr, "metadata.uid"), 20000));
}

static bool shared_done(const json_t *p)
{
        return all_running(p);
}

/* Two containers of one pod share the network and UTS namespaces: the client reaches the web
 * container's httpd on localhost:8080, both see the pod name as hostname, and the pod's IP is from
 * the node's podCIDR. */
static void test_shared_network_and_hostname(void **state)
{
        struct k8c_test_node *n = *state;
        json_auto_t *p = obj_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"pair\"},\"spec\":{"
                "\"terminationGracePeriodSeconds\":1,\"containers\":["
                "{\"name\":\"web\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\",\"echo host=$(hostname); "
                "echo hello-from-web > /www/index.html; exec httpd -f -p 8080 -h /www\"]},"
                "{\"name\":\"client\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\",\"echo "
                "host=$(hostname); "
                "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30; "
                "do wget -qO- http://localhost:8080/ && break; sleep 0.25; done; exec "
                "sleep 3600\"]}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", p), 0);
        json_auto_t *up = k8c_test_node_wait_pod(n, "pair", shared_done, 30000);
        assert_non_null(up);
        const char *ip = k8c_json_get_string(up, "status.podIP");
        assert_non_null(ip);
        /* 10.244.77.0/24 (or the subnet the harness was given). */
        cleanup_free char *prefix = k8c_xstrdup(n->pod_cidr);
        *strrchr(prefix, '.') = '\0';
        assert_int_equal(strncmp(ip, prefix, strlen(prefix)), 0);
        assert_true(k8c_test_wait_log(n, up, "client", 0, "hello-from-web", 15000));
        assert_true(k8c_test_wait_log(n, up, "web", 0, "host=pair", 5000));
        assert_true(k8c_test_wait_log(n, up, "client", 0, "host=pair", 5000));
        /* The same network namespace seen from inside: both list the pod IP on eth0, and the client
         * can also reach the web container through that IP. */
        cleanup_free char *via_ip =
                k8c_xasprintf("wget -qO- http://%s:8080/ | busybox grep -q hello-from-web", ip);
        assert_int_equal(k8c_test_node_exec(n, up, "client", via_ip), 0);
        assert_int_equal(k8c_test_node_exec(n, up, "client", "test \"$(hostname)\" = pair"), 0);
        assert_int_equal(k8c_test_node_exec(n, up, "web", "test \"$(hostname)\" = pair"), 0);
        assert_true(k8c_test_node_delete_pod(n, "pair", k8c_json_get_string(up, "metadata.uid"), 20000));
}

static const char *c0_reason(const json_t *p, const char *which)
{
        cleanup_free char *path = k8c_xasprintf("status.containerStatuses[0].%s", which);
        return k8c_json_get_string(p, path) ?: "";
}

static bool is_failed(const json_t *p)
{
        return phase_is(p, "Failed");
}

static bool is_succeeded(const json_t *p)
{
        return phase_is(p, "Succeeded");
}

static bool completed_and_restarted(const json_t *p)
{
        return k8c_json_get_int(p, "status.containerStatuses[0].restartCount", 0) >= 1 &&
               strcmp(c0_reason(p, "lastState.terminated.reason"), "Completed") == 0;
}

static json_t *policy_pod(const char *name, const char *policy, const char *script)
{
        return obj_json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\"},\"spec\":{"
                        "\"terminationGracePeriodSeconds\":0,\"restartPolicy\":\"%s\",\"volumes\":[{\"name\":"
                        "\"m\",\"emptyDir\":{}}],\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
                        "\"command\":[\"sh\",\"-c\",\"%s\"],\"volumeMounts\":[{\"name\":\"m\",\"mountPath\":"
                        "\"/m\"}]}]}}",
                        name, policy, script);
}

/* restartPolicy as in Kubernetes: Never keeps any exit (0 → Succeeded, else Failed); OnFailure
 * restarts failures only (then Succeeded once it exits 0); Always restarts every exit, 0 included. */
static void test_restart_policies(void **state)
{
        struct k8c_test_node *n = *state;
        const char *fail_once = "test -f /m/once && exit 0; busybox touch /m/once; exit 2";
        json_auto_t *p1 = policy_pod("never-fail", "Never", "exit 3");
        json_auto_t *p2 = policy_pod("never-ok", "Never", "exit 0");
        json_auto_t *p3 = policy_pod("onfail-ok", "OnFailure", "exit 0");
        json_auto_t *p4 = policy_pod("onfail-retry", "OnFailure", fail_once);
        json_auto_t *p5 = policy_pod("always-ok", "Always", "echo ran; exit 0");
        assert_int_equal(k8c_test_node_create(n, "pods", p1), 0);
        assert_int_equal(k8c_test_node_create(n, "pods", p2), 0);
        assert_int_equal(k8c_test_node_create(n, "pods", p3), 0);
        assert_int_equal(k8c_test_node_create(n, "pods", p4), 0);
        assert_int_equal(k8c_test_node_create(n, "pods", p5), 0);

        json_auto_t *nf = k8c_test_node_wait_pod(n, "never-fail", is_failed, 30000);
        assert_non_null(nf);
        assert_int_equal(k8c_json_get_int(nf, "status.containerStatuses[0].state.terminated.exitCode", -1),
                         3);
        assert_string_equal(c0_reason(nf, "state.terminated.reason"), "Error");
        assert_int_equal(k8c_json_get_int(nf, "status.containerStatuses[0].restartCount", -1), 0);

        json_auto_t *no = k8c_test_node_wait_pod(n, "never-ok", is_succeeded, 30000);
        assert_non_null(no);
        assert_string_equal(c0_reason(no, "state.terminated.reason"), "Completed");
        assert_int_equal(k8c_json_get_int(no, "status.containerStatuses[0].restartCount", -1), 0);

        json_auto_t *oo = k8c_test_node_wait_pod(n, "onfail-ok", is_succeeded, 30000);
        assert_non_null(oo);
        assert_int_equal(k8c_json_get_int(oo, "status.containerStatuses[0].restartCount", -1), 0);

        json_auto_t *orr = k8c_test_node_wait_pod(n, "onfail-retry", is_succeeded, 30000);
        assert_non_null(orr);
        assert_int_equal(k8c_json_get_int(orr, "status.containerStatuses[0].restartCount", -1), 1);
        assert_int_equal(
                k8c_json_get_int(orr, "status.containerStatuses[0].lastState.terminated.exitCode", -1), 2);
        assert_int_equal(k8c_json_get_int(orr, "status.containerStatuses[0].state.terminated.exitCode", -1),
                         0);

        json_auto_t *ao = k8c_test_node_wait_pod(n, "always-ok", completed_and_restarted, 30000);
        assert_non_null(ao);
        assert_false(is_succeeded(ao));
        assert_true(k8c_test_wait_log(n, ao, "c", 1, "ran", 10000));

        /* Still the same a while later: finished pods are never run again. */
        sleep(2);
        json_auto_t *nf2 = k8c_test_node_get(n, "/api/v1/namespaces/default/pods/never-fail");
        assert_int_equal(k8c_json_get_int(nf2, "status.containerStatuses[0].restartCount", -1), 0);
        assert_true(is_failed(nf2));
        const char *names[] = { "never-fail", "never-ok", "onfail-ok", "onfail-retry", "always-ok" };
        const json_t *objs[] = { nf, no, oo, orr, ao };
        for (size_t i = 0; i < 5; i++)
                assert_true(k8c_test_node_delete_pod(n, names[i],
                                                     k8c_json_get_string(objs[i], "metadata.uid"), 20000));
}

static int wait_restarts(struct k8c_test_node *n, int want, int timeout_s, double *ret_t)
{
        for (double t0 = k8c_test_mono_s(); k8c_test_mono_s() - t0 < timeout_s;) {
                json_auto_t *p = k8c_test_node_get(n, "/api/v1/namespaces/default/pods/crash");
                if (k8c_json_get_int(p, "status.containerStatuses[0].restartCount", 0) >= want) {
                        *ret_t = k8c_test_mono_s();
                        return 0;
                }
                usleep(100 * 1000);
        }
        return -1;
}

/* A container that keeps failing: restarted at once the first time, then CrashLoopBackOff with a
 * delay that doubles (10 s, then 20 s), shown in the waiting message and a BackOff event. */
static void test_crashloop_backoff_grows(void **state)
{
        struct k8c_test_node *n = *state;
        json_auto_t *p = policy_pod("crash", "Always", "echo boom; exit 1");
        assert_int_equal(k8c_test_node_create(n, "pods", p), 0);
        double t1 = 0, t2 = 0, t3 = 0;
        assert_int_equal(wait_restarts(n, 1, 30, &t1), 0);
        json_auto_t *w1 = k8c_test_node_get(n, "/api/v1/namespaces/default/pods/crash");
        /* After the first restart's exit: waiting in back-off of 10 s. */
        bool saw10 = false;
        for (int i = 0; i < 80 && !saw10; i++) {
                json_auto_t *cur = k8c_test_node_get(n, "/api/v1/namespaces/default/pods/crash");
                saw10 = strcmp(c0_reason(cur, "state.waiting.reason"), "CrashLoopBackOff") == 0 &&
                        strstr(c0_reason(cur, "state.waiting.message"), "back-off 10s") != NULL;
                if (!saw10)
                        usleep(100 * 1000);
        }
        assert_true(saw10);
        assert_int_equal(wait_restarts(n, 2, 30, &t2), 0);
        bool saw20 = false;
        for (int i = 0; i < 80 && !saw20; i++) {
                json_auto_t *cur = k8c_test_node_get(n, "/api/v1/namespaces/default/pods/crash");
                saw20 = strcmp(c0_reason(cur, "state.waiting.reason"), "CrashLoopBackOff") == 0 &&
                        strstr(c0_reason(cur, "state.waiting.message"), "back-off 20s") != NULL;
                if (!saw20)
                        usleep(100 * 1000);
        }
        assert_true(saw20);
        assert_int_equal(wait_restarts(n, 3, 40, &t3), 0);
        /* Delays measured here: ~10 s, then ~20 s (the finish time has one-second resolution). */
        double d1 = t2 - t1, d2 = t3 - t2;
        fprintf(stderr, "crashloop delays: %.1fs %.1fs\n", d1, d2);
        assert_true(d1 >= 8.5);
        assert_true(d2 >= 18.5);
        assert_true(d2 > d1 + 5);
        assert_true(k8c_test_pod_has_event(n, "crash", "BackOff", "Back-off restarting failed container c"));
        assert_true(k8c_test_node_delete_pod(n, "crash", k8c_json_get_string(w1, "metadata.uid"), 20000));
}

/* The test's "switch": a bridge inside a network namespace of its own (never the host's), with a
 * veth to each node's netns. The lab helpers make links in the calling thread's netns, so they run
 * in a thread that entered the switch netns. */
struct switch_job {
        const char *switch_ns, *bridge, *node_a, *node_b, *if_a, *if_b, *addr_a, *addr_b;
        int r;
        char msg[256];
};

static void *switch_main(void *opaque)
{
        struct switch_job *j = opaque;
        cleanup_error k8c_error_t err = NULL;
        cleanup_close int fd = open(j->switch_ns, O_RDONLY | O_CLOEXEC);
        j->r = -1;
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
                snprintf(j->msg, sizeof(j->msg), "enter switch netns");
                return NULL;
        }
        if (k8c_net_ensure_bridge(NULL, j->bridge, "192.168.251.254/24", &err) < 0 ||
            k8c_lab_net_attach_node(j->node_a, j->bridge, j->if_a, j->addr_a, &err) < 0 ||
            k8c_lab_net_attach_node(j->node_b, j->bridge, j->if_b, j->addr_b, &err) < 0) {
                snprintf(j->msg, sizeof(j->msg), "%s", k8c_error_msg(&err));
                return NULL;
        }
        j->r = 0;
        return NULL;
}

static bool b_running(const json_t *p)
{
        return all_running(p);
}

/* Two kubelets on one apiserver, each node in its own netns, joined by a test bridge: the kubelets
 * route each other's podCIDRs (host-gw, from the Node objects), so a pod on node A reaches a pod on
 * node B by its pod IP and back. */
static void test_cross_node_pod_ip(void **state)
{
        struct k8c_test_node *n = *state;
        cleanup_error k8c_error_t err = NULL;
        /* Node A: the harness's state, restarted with an address on the test network. */
        k8c_kubelet_stop(n->k);
        n->k = NULL;
        cleanup_free char *switch_ns = k8c_xasprintf("%s/switch.net", n->root);
        cleanup_free char *b_root = k8c_xasprintf("%s/nodeb", n->root);
        cleanup_free char *b_netns = k8c_xasprintf("%s/nodeb.net", n->root);
        cleanup_free char *b_netns_dir = k8c_xasprintf("%s/netns", b_root);
        g_runc_root_b = k8c_xasprintf("%s/runc", b_root);
        cleanup_free char *b_cgroup = k8c_xasprintf("%s-b", n->cgroup_parent);
        assert_int_equal(mkdir(b_root, 0755), 0);
        assert_int_equal(k8c_ns_create(switch_ns, NULL, NULL, NULL, &err), 0);
        assert_int_equal(k8c_ns_create(b_netns, NULL, NULL, NULL, &err), 0);
        cleanup_free char *bridge = k8c_xasprintf("k8ctsw%d", (int)getpid() % 100000);
        cleanup_free char *if_a = k8c_xasprintf("k8cta%d", (int)getpid() % 100000);
        cleanup_free char *if_b = k8c_xasprintf("k8ctb%d", (int)getpid() % 100000);
        struct switch_job job = { .switch_ns = switch_ns,
                                  .bridge = bridge,
                                  .node_a = n->node_netns,
                                  .node_b = b_netns,
                                  .if_a = if_a,
                                  .if_b = if_b,
                                  .addr_a = "192.168.251.1/24",
                                  .addr_b = "192.168.251.2/24" };
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, switch_main, &job), 0);
        pthread_join(t, NULL);
        if (job.r < 0)
                fprintf(stderr, "switch: %s\n", job.msg);
        assert_int_equal(job.r, 0);

        struct k8c_kubelet_config cfg = {
                .client = n->client,
                .node_name = "node-t",
                .node_ip = "192.168.251.1",
                .root_dir = n->root,
                .capacity = "cpu=4,memory=8Gi,pods=110",
                .pod_cidr = n->pod_cidr,
                .runtime = "runc",
                .runc_root = n->runc_root,
                .netns_dir = n->netns_dir,
                .node_netns = n->node_netns,
                .cgroup_parent = n->cgroup_parent,
                .lease_interval_ms = 500,
                .pod_resync_ms = 500,
        };
        assert_int_equal(k8c_kubelet_start(&cfg, &n->k, &err), 0);
        cfg.node_name = "node-b";
        cfg.node_ip = "192.168.251.2";
        cfg.root_dir = b_root;
        cfg.pod_cidr = "10.244.78.0/24";
        cfg.runc_root = g_runc_root_b;
        cfg.netns_dir = b_netns_dir;
        cfg.node_netns = b_netns;
        cfg.cgroup_parent = b_cgroup;
        assert_int_equal(k8c_kubelet_start(&cfg, &g_kubelet_b, &err), 0);

        json_auto_t *server = obj_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"on-b\"},\"spec\":{"
                "\"nodeName\":\"node-b\",\"terminationGracePeriodSeconds\":0,\"containers\":[{\"name\":"
                "\"web\","
                "\"image\":\"busybox\",\"command\":[\"sh\",\"-c\",\"echo served-by-b > /www/index.html; exec "
                "httpd -f -p 8080 -h /www\"]}]}}");
        cleanup_free char *path = k8c_xstrdup("/api/v1/namespaces/default/pods");
        assert_int_equal(k8c_client_post(n->client, path, server, NULL, &err), 0);
        json_auto_t *client =
                obj_json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"on-a\"},"
                         "\"spec\":{\"terminationGracePeriodSeconds\":0,\"containers\":[{\"name\":"
                         "\"c\",\"image\":\"busybox\",\"command\":[\"sleep\",\"3600\"]}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", client), 0);
        json_auto_t *b = k8c_test_node_wait_pod(n, "on-b", b_running, 30000);
        assert_non_null(b);
        json_auto_t *a = k8c_test_node_wait_pod(n, "on-a", b_running, 30000);
        assert_non_null(a);
        const char *b_ip = k8c_json_get_string(b, "status.podIP");
        const char *a_ip = k8c_json_get_string(a, "status.podIP");
        assert_int_equal(strncmp(b_ip, "10.244.78.", 10), 0);
        assert_int_equal(strncmp(a_ip, n->pod_cidr, strlen(n->pod_cidr) - 4), 0);
        assert_string_equal(k8c_json_get_string(b, "status.hostIP"), "192.168.251.2");

        /* A → B by pod IP, through both nodes (retried while the routes appear). */
        cleanup_free char *fetch = k8c_xasprintf(
                "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do out=$(wget -qO- "
                "http://%s:8080/) && break; sleep 0.5; done; test \"$out\" = served-by-b",
                b_ip);
        assert_int_equal(k8c_test_node_exec(n, a, "c", fetch), 0);
        /* The packets kept their pod source address (no NAT): B's httpd saw A's pod IP. Check it by
         * the reverse direction too: B reaches A by pod IP. */
        cleanup_free char *serve = k8c_xstrdup(
                "busybox mkdir -p /tmp/w && echo from-a > /tmp/w/index.html && httpd -p 8081 -h /tmp/w");
        assert_int_equal(k8c_test_node_exec(n, a, "c", serve), 0);
        cleanup_free char *back = k8c_xasprintf(
                "for i in 1 2 3 4 5 6 7 8 9 10; do out=$(wget -qO- http://%s:8081/) && break; sleep "
                "0.5; done; test \"$out\" = from-a",
                a_ip);
        /* k8c_test_node_exec uses the harness's runc root: B's container is run by hand. */
        const char *bcid = k8c_json_get_string(k8c_test_container_status(b, "web"), "containerID");
        assert_non_null(bcid);
        cleanup_free char *file = k8c_xasprintf("%s/back-script", n->root);
        FILE *fp = fopen(file, "we");
        assert_non_null(fp);
        fputs(back, fp);
        fclose(fp);
        cleanup_free char *cmd = k8c_xasprintf("runc --root '%s' exec %s sh -c \"$(cat '%s')\" </dev/null",
                                               g_runc_root_b, bcid + 7, file);
        assert_int_equal(system(cmd), 0);
        /* The route node A installed for B's podCIDR goes via B's InternalIP. */
        cleanup_free char *route =
                k8c_xasprintf("nsenter --net='%s' ip route show 10.244.78.0/24 | grep -q 'via 192.168.251.2'",
                              n->node_netns);
        assert_int_equal(system(route), 0);

        assert_true(k8c_test_node_delete_pod(n, "on-a", k8c_json_get_string(a, "metadata.uid"), 20000));
        cleanup_free char *bpath = k8c_xstrdup("/api/v1/namespaces/default/pods/on-b");
        assert_int_equal(k8c_client_delete(n->client, bpath, NULL, NULL, &err), 0);
        bool gone = false;
        for (int i = 0; i < 200 && !gone; i++) {
                json_auto_t *cur = NULL;
                cleanup_error k8c_error_t ge = NULL;
                gone = k8c_client_get(n->client, bpath, &cur, &ge) == -(int)K8C_ENOTFOUND;
                if (!gone)
                        usleep(100 * 1000);
        }
        assert_true(gone);
}

static bool img_running(const json_t *p)
{
        return all_running(p);
}

static bool path_exists(const char *p)
{
        struct stat st;
        return stat(p, &st) == 0;
}

static int count_entries(const char *dir)
{
        cleanup_free char *cmd = k8c_xasprintf("ls -A '%s' 2>/dev/null | wc -l", dir);
        FILE *pp = popen(cmd, "r");
        int n = -1;
        if (pp != NULL && fscanf(pp, "%d", &n) != 1)
                n = -1;
        if (pp != NULL)
                pclose(pp);
        return n;
}

/* Images from a registry (docker-registry on loopback, busybox pushed by the test): Pulling/Pulled
 * events (a pull, then "already present"), imageID = <repo>@<manifest digest> in the status, and
 * the image garbage collector: with a budget smaller than the image, it stays while containers use
 * it and goes (unpacked tree, blobs, reference) once they are deleted; the next pod pulls again. */
static void test_image_events_and_gc(void **state)
{
        struct k8c_test_node *n = *state;
        cleanup_error k8c_error_t err = NULL;
        int port = free_port();
        assert_true(port > 0);
        cleanup_free char *regdir = k8c_xasprintf("%s/registry", n->root);
        assert_int_equal(mkdir(regdir, 0755), 0);
        cleanup_free char *regcfg = k8c_xasprintf("%s/config.yml", regdir);
        FILE *f = fopen(regcfg, "we");
        assert_non_null(f);
        fprintf(f,
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  "
                "filesystem:\n"
                "    rootdirectory: %s/storage\nhttp:\n  addr: 127.0.0.1:%d\n",
                regdir, port);
        fclose(f);
        cleanup_free char *reglog = k8c_xasprintf("%s/registry.log", regdir);
        g_registry_pid = fork();
        assert_true(g_registry_pid >= 0);
        if (g_registry_pid == 0) {
                int fd = open(reglog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                dup2(fd, 1);
                dup2(fd, 2);
                execlp("docker-registry", "docker-registry", "serve", regcfg, (char *)NULL);
                _exit(127);
        }
        cleanup_free char *url = k8c_xasprintf("http://127.0.0.1:%d", port);
        cleanup_free char *digest = NULL;
        for (int i = 0; i < 100 && digest == NULL; i++) {
                k8c_error_release(&err);
                if (k8c_lab_push_busybox(url, "/bin/busybox", &digest, &err) < 0)
                        usleep(100 * 1000);
        }
        assert_non_null(digest);

        k8c_kubelet_stop(n->k);
        n->k = NULL;
        const struct k8c_kubelet_config cfg = {
                .client = n->client,
                .node_name = n->node_name,
                .node_ip = "10.99.0.9",
                .root_dir = n->root,
                .capacity = "cpu=4,memory=8Gi,pods=110",
                .pod_cidr = n->pod_cidr,
                .runtime = "runc",
                .runc_root = n->runc_root,
                .netns_dir = n->netns_dir,
                .node_netns = n->node_netns,
                .cgroup_parent = n->cgroup_parent,
                .lease_interval_ms = 300,
                .pod_resync_ms = 500,
                .registry_mirror = url,
                .image_gc_budget = 1, /* any image is over budget: only use keeps it */
                .image_gc_min_age_ms = 1000,
        };
        assert_int_equal(k8c_kubelet_start(&cfg, &n->k, &err), 0);

        json_auto_t *p1 =
                obj_json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"img\"},"
                         "\"spec\":{\"terminationGracePeriodSeconds\":0,\"containers\":[{\"name\":\"c\","
                         "\"image\":\"busybox\",\"command\":[\"sleep\",\"3600\"]}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", p1), 0);
        json_auto_t *r1 = k8c_test_node_wait_pod(n, "img", img_running, 30000);
        assert_non_null(r1);
        cleanup_free char *want_id = k8c_xasprintf("docker.io/library/busybox@%s", digest);
        assert_string_equal(k8c_json_get_string(k8c_test_container_status(r1, "c"), "imageID"), want_id);
        assert_true(k8c_test_pod_has_event(n, "img", "Pulling", "Pulling image \"busybox\""));
        assert_true(k8c_test_pod_has_event(n, "img", "Pulled", "Successfully pulled image \"busybox\" in "));

        json_auto_t *p2 =
                obj_json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"img2\"},"
                         "\"spec\":{\"terminationGracePeriodSeconds\":0,\"containers\":[{\"name\":\"c\","
                         "\"image\":\"busybox\",\"imagePullPolicy\":\"IfNotPresent\",\"command\":"
                         "[\"sleep\",\"3600\"]}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", p2), 0);
        json_auto_t *r2 = k8c_test_node_wait_pod(n, "img2", img_running, 30000);
        assert_non_null(r2);
        assert_true(k8c_test_pod_has_event(n, "img2", "Pulled",
                                           "Container image \"busybox\" already present on machine"));
        assert_false(k8c_test_pod_has_event(n, "img2", "Pulling", "busybox"));
        assert_string_equal(k8c_json_get_string(k8c_test_container_status(r2, "c"), "imageID"), want_id);

        /* In use: kept, though over budget (several collector rounds pass meanwhile). */
        cleanup_free char *image_dir = k8c_xasprintf("%s/images/images/%s", n->root, digest + 7);
        cleanup_free char *blobs = k8c_xasprintf("%s/images/blobs/sha256", n->root);
        cleanup_free char *refs = k8c_xasprintf("%s/images/refs", n->root);
        sleep(2);
        assert_true(path_exists(image_dir));
        assert_true(count_entries(blobs) >= 2);

        /* Unused: collected, blobs and reference with it. */
        assert_true(k8c_test_node_delete_pod(n, "img", k8c_json_get_string(r1, "metadata.uid"), 20000));
        assert_true(path_exists(image_dir)); /* img2 still uses it */
        assert_true(k8c_test_node_delete_pod(n, "img2", k8c_json_get_string(r2, "metadata.uid"), 20000));
        for (int i = 0; i < 150 && path_exists(image_dir); i++)
                usleep(100 * 1000);
        assert_false(path_exists(image_dir));
        assert_int_equal(count_entries(blobs), 0);
        assert_int_equal(count_entries(refs), 0);

        /* IfNotPresent now pulls it again. */
        json_auto_t *p3 =
                obj_json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"img3\"},"
                         "\"spec\":{\"terminationGracePeriodSeconds\":0,\"containers\":[{\"name\":\"c\","
                         "\"image\":\"busybox\",\"imagePullPolicy\":\"IfNotPresent\",\"command\":"
                         "[\"sleep\",\"3600\"]}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", p3), 0);
        json_auto_t *r3 = k8c_test_node_wait_pod(n, "img3", img_running, 30000);
        assert_non_null(r3);
        assert_true(k8c_test_pod_has_event(n, "img3", "Pulling", "Pulling image \"busybox\""));
        assert_true(path_exists(image_dir));
        assert_true(k8c_test_node_delete_pod(n, "img3", k8c_json_get_string(r3, "metadata.uid"), 20000));
}

int main(void)
{
        if (geteuid() != 0) {
                if (getenv("K8C_REQUIRE_PRIVILEGED") != NULL)
                        return 1;
                printf("[  SKIPPED ] kubelet_node: needs root for runc, cgroups and network namespaces\n");
                return 0;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_kill9_adopts_containers, k8c_test_node_setup, teardown),
                cmocka_unit_test_setup_teardown(test_oom_and_cpu, k8c_test_node_setup, teardown),
                cmocka_unit_test_setup_teardown(test_delete_grace_and_cleanup, k8c_test_node_setup, teardown),
                cmocka_unit_test_setup_teardown(test_shared_network_and_hostname, k8c_test_node_setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_restart_policies, k8c_test_node_setup, teardown),
                cmocka_unit_test_setup_teardown(test_crashloop_backoff_grows, k8c_test_node_setup, teardown),
                cmocka_unit_test_setup_teardown(test_cross_node_pod_ip, k8c_test_node_setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_events_and_gc, k8c_test_node_setup, teardown),
        };
        /* One test by name while working on it: K8C_TEST_FILTER=test_cross*. */
        if (getenv("K8C_TEST_FILTER") != NULL)
                cmocka_set_test_filter(getenv("K8C_TEST_FILTER"));
        return cmocka_run_group_tests(tests, NULL, NULL);
}

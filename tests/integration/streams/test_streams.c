/*
 * Integration tests of logs, exec and port-forward end to end: the real
 * k8c-apiserver (harness) proxies pods/{name}/log, exec and portforward to
 * an in-process kubelet, driven by the real kubectl (when installed) and by
 * k8cctl. Two runtimes:
 *   - fake (no root): exec runs the command on the host, port-forward reaches
 *     the host's loopback, where the test runs its own echo server;
 *   - runc (root): a busybox pod in a test-made netns; exec is runc exec,
 *     port-forward connects inside the pod's network namespace to busybox
 *     `nc -ll -e cat`, logs come from the container's log file.
 * Everything the test makes lives under a per-test temp dir, a per-test
 * runc root and a "k8ct<pid>" cgroup parent, removed on teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/apiserver_harness.h"
#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/json.h"
#include "k8c/kubelet.h"
#include "k8c/websocket.h"

#define MIB (1024 * 1024)

struct fixture {
        struct k8c_test_apiserver srv;
        struct k8c_client *client;
        struct k8c_kubelet *k;
        char root[64];
        bool runc;
        char *node_netns, *netns_dir, *runc_root, *cgroup_parent;
        pid_t bg; /* a port-forward or logs -f process, killed by teardown */
        int echo_fd;
        pthread_t echo_thread;
        bool echo_started;
};

static bool have_kubectl(void)
{
        return access("/usr/bin/kubectl", X_OK) == 0;
}

static const char *k8cctl_path(void)
{
        static char path[256];
        const char *d = getenv("K8C_BINDIR");
        snprintf(path, sizeof(path), "%s/k8cctl", d != NULL ? d : "bin");
        return path;
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

static int setup(void **state)
{
        struct fixture *f = k8c_xcalloc(1, sizeof(*f));
        f->bg = -1;
        f->echo_fd = -1;
        if (k8c_test_apiserver_start(&f->srv, NULL) < 0) {
                free(f);
                return -1;
        }
        struct k8c_client_config cfg = { .server = f->srv.url, .max_retries = 2 };
        if (k8c_client_new(&cfg, &f->client, NULL) < 0)
                return -1;
        snprintf(f->root, sizeof(f->root), "/tmp/k8ct%d-streams-XXXXXX", (int)getpid());
        if (mkdtemp(f->root) == NULL)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        if (f->bg > 0) {
                kill(f->bg, SIGTERM);
                waitpid(f->bg, NULL, 0);
        }
        k8c_kubelet_stop(f->k);
        if (f->echo_started) {
                shutdown(f->echo_fd, SHUT_RDWR);
                pthread_join(f->echo_thread, NULL);
                close(f->echo_fd);
        }
        if (f->runc) {
                cleanup_free char *kill_all =
                        k8c_xasprintf("for c in $(runc --root '%s' list -q 2>/dev/null); do runc --root '%s' "
                                      "delete -f $c; done",
                                      f->runc_root, f->runc_root);
                if (system(kill_all) != 0)
                        fprintf(stderr, "runc cleanup failed\n");
                cleanup_free char *umounts = k8c_xasprintf("for m in $(awk '{print $5}' /proc/self/mountinfo "
                                                           "| grep '^%s/'); do umount -l $m; done",
                                                           f->root);
                if (system(umounts) != 0)
                        fprintf(stderr, "umount cleanup failed\n");
                cleanup_free char *cg =
                        k8c_xasprintf("find /sys/fs/cgroup -maxdepth 8 -depth -type d -path '*/%s*' "
                                      "-exec rmdir {} + 2>/dev/null; true",
                                      f->cgroup_parent);
                if (system(cg) != 0)
                        fprintf(stderr, "cgroup cleanup failed\n");
        }
        free(f->node_netns);
        free(f->netns_dir);
        free(f->runc_root);
        free(f->cgroup_parent);
        k8c_client_free(f->client);
        k8c_test_apiserver_stop(&f->srv);
        cleanup_free char *cmd = k8c_xasprintf("rm -rf '%s'", f->root);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", f->root);
        free(f);
        return 0;
}

/* The kubelet on loopback: the node reports InternalIP 127.0.0.1 and its API port, which is what
 * the apiserver dials. */
static void start_kubelet(struct fixture *f, const char *runtime)
{
        cleanup_error k8c_error_t err = NULL;
        struct k8c_kubelet_config cfg = {
                .client = f->client,
                .node_name = "node-s",
                .node_ip = "127.0.0.1",
                .root_dir = f->root,
                .capacity = "cpu=4,memory=8Gi,pods=110",
                .pod_cidr = "10.244.7.0/24",
                .runtime = runtime,
                .lease_interval_ms = 500,
                .status_interval_ms = 60000,
                .pod_resync_ms = 300,
                .port = free_port(),
                .address = "127.0.0.1",
        };
        if (strcmp(runtime, "runc") == 0) {
                f->runc = true;
                f->node_netns = k8c_xasprintf("%s/node.net", f->root);
                f->netns_dir = k8c_xasprintf("%s/netns", f->root);
                f->runc_root = k8c_xasprintf("%s/runc", f->root);
                f->cgroup_parent = k8c_xasprintf("k8ct%d", (int)getpid());
                assert_int_equal(k8c_ns_create(f->node_netns, NULL, NULL, NULL, &err), 0);
                cfg.runc_root = f->runc_root;
                cfg.netns_dir = f->netns_dir;
                cfg.node_netns = f->node_netns;
                cfg.cgroup_parent = f->cgroup_parent;
        }
        assert_true(cfg.port > 0);
        assert_int_equal(k8c_kubelet_start(&cfg, &f->k, &err), 0);
}

static bool pod_running(const json_t *p)
{
        const char *phase = k8c_json_get_string(p, "status.phase");
        return phase != NULL && strcmp(phase, "Running") == 0 &&
               k8c_json_get(p, "status.containerStatuses[0].state.running") != NULL;
}

static void create_pod(struct fixture *f, json_t *pod)
{
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", pod, NULL, &err), 0);
        cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/default/pods/%s",
                                                k8c_json_get_string(pod, "metadata.name"));
        for (int i = 0; i < 600; i++) {
                json_auto_t *p = NULL;
                if (k8c_client_get(f->client, path, &p, NULL) == 0 && pod_running(p))
                        return;
                usleep(50 * 1000);
        }
        fail_msg("pod %s did not start", k8c_json_get_string(pod, "metadata.name"));
}

/* Runs a shell command; its exit code, stdout+stderr in *ret_out. */
static int sh(char **ret_out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(char **ret_out, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *cmd = NULL;
        if (vasprintf(&cmd, fmt, ap) < 0)
                abort();
        va_end(ap);
        cleanup_free char *full = k8c_xasprintf("%s 2>&1", cmd);
        free(cmd);
        FILE *p = popen(full, "r");
        assert_non_null(p);
        char *out = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&out, &len);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                fwrite(buf, 1, n, mem);
        fclose(mem);
        int status = pclose(p);
        const char *dump = getenv("K8C_TEST_DUMP"); /* debugging: every command and its output */
        if (dump != NULL) {
                FILE *d = fopen(dump, "ae");
                if (d != NULL) {
                        fprintf(d, "$ %s\n%s\n", full, out);
                        fclose(d);
                }
        }
        *ret_out = out;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* "kubectl" or k8cctl with the server and a private HOME. */
static char *tool(struct fixture *f, bool kubectl)
{
        if (kubectl)
                return k8c_xasprintf("env HOME='%s' KUBECONFIG=/dev/null /usr/bin/kubectl --server %s",
                                     f->srv.home, f->srv.url);
        return k8c_xasprintf("env HOME='%s' KUBECONFIG=/dev/null %s --server %s", f->srv.home, k8cctl_path(),
                             f->srv.url);
}

/* ---- exec ---- */

static void check_exec(struct fixture *f, bool kubectl, const char *pod, const char *container)
{
        cleanup_free char *t = tool(f, kubectl);
        const char *who = kubectl ? "kubectl" : "k8cctl";
        cleanup_free char *cflag = container != NULL ? k8c_xasprintf("-c %s", container) : k8c_xstrdup("");

        /* Output of both streams, and exit code 3 propagated. (K8C_TEST_V=-v=9 shows the client's
         * handshake when debugging.) */
        cleanup_free char *out = NULL;
        int rc = sh(&out, "%s exec %s %s %s -- sh -c 'echo to-stdout; echo to-stderr >&2; exit 3'", t,
                    getenv("K8C_TEST_V") ?: "", pod, cflag);
        if (rc != 3 || strstr(out, "to-stdout\n") == NULL || strstr(out, "to-stderr\n") == NULL)
                fail_msg("%s exec: rc=%d out=%s", who, rc, out);
        free(k8c_steal(&out));
        rc = sh(&out, "%s exec %s %s -- echo a b", t, pod, cflag);
        if (rc != 0 || strcmp(out, "a b\n") != 0)
                fail_msg("%s exec echo: rc=%d out=%s", who, rc, out);
        free(k8c_steal(&out));

        /* stdin, ended by the v5 close-stream message so cat exits. */
        rc = sh(&out, "printf 'hi\\nthere\\n' | %s exec -i %s %s -- cat", t, pod, cflag);
        if (rc != 0 || strcmp(out, "hi\nthere\n") != 0)
                fail_msg("%s exec -i: rc=%d out=%s", who, rc, out);
        free(k8c_steal(&out));
        /* 1 MiB through stdin and back, intact. */
        cleanup_free char *big = k8c_xasprintf("%s/big.bin", f->root);
        rc = sh(&out, "head -c %d /dev/urandom > '%s'", MIB, big);
        assert_int_equal(rc, 0);
        free(k8c_steal(&out));
        rc = sh(&out, "%s exec -i %s %s -- cat < '%s' | cmp - '%s' && echo same", t, pod, cflag, big, big);
        if (rc != 0 || strstr(out, "same") == NULL)
                fail_msg("%s exec -i 1MiB: rc=%d out=%s", who, rc, out);
        free(k8c_steal(&out));

        /* A command that stops reading early: the rest of stdin is dropped, the exec still ends. */
        rc = sh(&out, "%s exec -i %s %s -- busybox head -c 10 < '%s' > '%s.10'; echo rc=$?; wc -c < '%s.10'",
                t, pod, cflag, big, big, big);
        if (strstr(out, "rc=0\n10\n") == NULL)
                fail_msg("%s exec -i head: rc=%d out=%s", who, rc, out);
        free(k8c_steal(&out));

        /* A terminal: script gives the client a pty; the command sees a tty of its own. */
        rc = sh(&out,
                "script -qec \"%s exec -it %s %s -- sh -c 'test -t 0 && test -t 1 && echo is-a-tty; exit "
                "5'\" "
                "/dev/null < /dev/null",
                t, pod, cflag);
        if (rc != 5 || strstr(out, "is-a-tty") == NULL)
                fail_msg("%s exec -t: rc=%d out=%s", who, rc, out);
        free(k8c_steal(&out));
        /* The client's terminal size reaches the command's terminal (resize channel). */
        rc = sh(&out,
                "script -qec \"stty rows 45 cols 123; %s exec -it %s %s -- sh -c 'sleep 1; busybox stty "
                "size'\" "
                "/dev/null < /dev/null",
                t, pod, cflag);
        if (rc != 0 || strstr(out, "45 123") == NULL)
                fail_msg("%s exec -t resize: rc=%d out=%s", who, rc, out);
        free(k8c_steal(&out));

        /* An unknown container: the apiserver's 400. */
        rc = sh(&out, "%s exec %s -c nope -- true", t, pod);
        if (rc == 0 || strstr(out, "container nope is not valid for pod") == NULL)
                fail_msg("%s exec -c nope: rc=%d out=%s", who, rc, out);
}

/* ---- port-forward ---- */

static void *echo_conn(void *opaque)
{
        int fd = (int)(intptr_t)opaque;
        char buf[65536];
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n <= 0)
                        break;
                if (k8c_write_all(fd, buf, (size_t)n) < 0)
                        break;
        }
        close(fd);
        return NULL;
}

static void *echo_main(void *opaque)
{
        struct fixture *f = opaque;
        for (;;) {
                int c = accept(f->echo_fd, NULL, NULL);
                if (c < 0)
                        break;
                pthread_t t;
                if (pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)c) == 0)
                        pthread_detach(t);
                else
                        close(c);
        }
        return NULL;
}

/* An echo server on the host's loopback (what a fake pod's port-forward reaches). */
static int start_echo(struct fixture *f)
{
        f->echo_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        assert_int_equal(bind(f->echo_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->echo_fd, 16), 0);
        assert_int_equal(getsockname(f->echo_fd, (struct sockaddr *)&sa, &len), 0);
        assert_int_equal(pthread_create(&f->echo_thread, NULL, echo_main, f), 0);
        f->echo_started = true;
        return ntohs(sa.sin_port);
}

/* Starts `<tool> port-forward ...` in the background and waits for its "Forwarding from" line. */
static void start_port_forward(struct fixture *f, bool kubectl, const char *env, const char *args)
{
        cleanup_free char *t = tool(f, kubectl);
        cleanup_free char *log = k8c_xasprintf("%s/pf.log", f->root);
        cleanup_free char *cmd =
                k8c_xasprintf("exec env %s %s port-forward %s > '%s' 2>&1", env, t, args, log);
        unlink(log);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
                _exit(127);
        }
        f->bg = pid;
        for (int i = 0; i < 200; i++) {
                cleanup_fclose FILE *fp = fopen(log, "re");
                char line[512];
                while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
                        if (strstr(line, "Forwarding from 127.0.0.1:") != NULL)
                                return;
                usleep(50 * 1000);
        }
        cleanup_free char *out = NULL;
        sh(&out, "cat '%s'", log);
        fail_msg("port-forward did not start: %s", out);
}

static void stop_bg(struct fixture *f)
{
        if (f->bg > 0) {
                kill(f->bg, SIGTERM);
                waitpid(f->bg, NULL, 0);
        }
        f->bg = -1;
}

struct transfer {
        int port;
        size_t size;
        unsigned seed;
        bool ok;
        char why[128];
};

/* Connects, sends size pseudo-random bytes while reading the echo, half-closes, and compares. */
static void *transfer_main(void *opaque)
{
        struct transfer *t = opaque;
        uint8_t *sent = malloc(t->size), *got = malloc(t->size);
        unsigned s = t->seed;
        for (size_t i = 0; i < t->size; i++) {
                s = s * 1103515245u + 12345u;
                sent[i] = (uint8_t)(s >> 16);
        }
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)t->port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        size_t off_w = 0, off_r = 0;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                snprintf(t->why, sizeof(t->why), "connect: %s", strerror(errno));
                goto out;
        }
        fcntl(fd, F_SETFL, O_NONBLOCK);
        bool shut = false;
        time_t deadline = time(NULL) + 60;
        while (off_r < t->size && time(NULL) < deadline) {
                struct pollfd p = { .fd = fd, .events = POLLIN | (off_w < t->size ? POLLOUT : 0) };
                if (poll(&p, 1, 1000) <= 0)
                        continue;
                if ((p.revents & POLLOUT) && off_w < t->size) {
                        size_t n = t->size - off_w < 16384 ? t->size - off_w : 16384;
                        ssize_t w = send(fd, sent + off_w, n, MSG_NOSIGNAL);
                        if (w > 0)
                                off_w += (size_t)w;
                }
                if (off_w == t->size && !shut) {
                        shutdown(fd, SHUT_WR);
                        shut = true;
                }
                if (p.revents & (POLLIN | POLLHUP)) {
                        ssize_t r = recv(fd, got + off_r, t->size - off_r, 0);
                        if (r == 0)
                                break;
                        if (r > 0)
                                off_r += (size_t)r;
                }
        }
        if (off_r != t->size)
                snprintf(t->why, sizeof(t->why), "echoed %zu of %zu bytes (sent %zu)", off_r, t->size, off_w);
        else if (memcmp(sent, got, t->size) != 0)
                snprintf(t->why, sizeof(t->why), "echoed bytes differ");
        else
                t->ok = true;
out:
        close(fd);
        free(sent);
        free(got);
        return NULL;
}

static void check_port_forward(struct fixture *f, bool kubectl, const char *env, const char *pod, int remote)
{
        int local = free_port();
        cleanup_free char *args = k8c_xasprintf("%s %d:%d --address 127.0.0.1", pod, local, remote);
        start_port_forward(f, kubectl, env, args);
        /* One connection, then two at once; 1 MiB each way, intact. */
        struct transfer one = { .port = local, .size = MIB, .seed = 1 };
        transfer_main(&one);
        if (!one.ok)
                fail_msg("%s port-forward %s: %s", kubectl ? "kubectl" : "k8cctl", env, one.why);
        struct transfer two[2] = { { .port = local, .size = MIB, .seed = 2 },
                                   { .port = local, .size = MIB, .seed = 3 } };
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
                assert_int_equal(pthread_create(&th[i], NULL, transfer_main, &two[i]), 0);
        for (int i = 0; i < 2; i++)
                pthread_join(th[i], NULL);
        for (int i = 0; i < 2; i++)
                if (!two[i].ok)
                        fail_msg("%s port-forward %s, concurrent %d: %s", kubectl ? "kubectl" : "k8cctl", env,
                                 i, two[i].why);
        stop_bg(f);
}

/* A port nothing listens on in the pod: the kubelet answers on the error stream, the forwarder
 * reports it and closes that connection (and keeps serving). */
static void check_dead_port(struct fixture *f)
{
        int local = free_port(), dead = free_port();
        cleanup_free char *args = k8c_xasprintf("fwd %d:%d", local, dead);
        start_port_forward(f, false, "K8C_TEST=1", args);
        for (int round = 0; round < 2; round++) {
                int fd = socket(AF_INET, SOCK_STREAM, 0);
                struct sockaddr_in sa = { .sin_family = AF_INET,
                                          .sin_port = htons((uint16_t)local),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
                struct pollfd p = { .fd = fd, .events = POLLIN };
                assert_int_equal(poll(&p, 1, 10000), 1);
                char c;
                assert_int_equal(read(fd, &c, 1), 0);
                close(fd);
        }
        stop_bg(f);
        cleanup_free char *out = NULL;
        sh(&out, "cat '%s/pf.log'", f->root);
        cleanup_free char *want = k8c_xasprintf("failed to connect to localhost:%d", dead);
        if (strstr(out, want) == NULL || strstr(out, "Handling connection for") == NULL)
                fail_msg("dead port: %s", out);
}

static json_t *fake_pod(const char *name)
{
        return json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s, s:[{s:s, s:s}, {s:s, s:s}]}}", "apiVersion",
                         "v1", "kind", "Pod", "metadata", "name", name, "labels", "app", name, "spec",
                         "nodeName", "node-s", "containers", "name", "main", "image", "busybox", "name",
                         "side", "image", "busybox");
}

static void test_fake_exec(void **state)
{
        struct fixture *f = *state;
        start_kubelet(f, "fake");
        json_auto_t *p = fake_pod("shell");
        create_pod(f, p);
        if (have_kubectl())
                check_exec(f, true, "shell", "main");
        check_exec(f, false, "shell", "main");
}

static void test_fake_port_forward(void **state)
{
        struct fixture *f = *state;
        start_kubelet(f, "fake");
        json_auto_t *p = fake_pod("fwd");
        create_pod(f, p);
        int port = start_echo(f);
        if (have_kubectl()) {
                /* kubectl 1.32 tunnels SPDY in WebSocket; with the feature off it upgrades to SPDY. */
                check_port_forward(f, true, "KUBECTL_PORT_FORWARD_WEBSOCKETS=true", "pod/fwd", port);
                check_port_forward(f, true, "KUBECTL_PORT_FORWARD_WEBSOCKETS=false", "fwd", port);
        }
        check_port_forward(f, false, "K8C_TEST=1", "pod/fwd", port);
        /* Through a Service: its selector picks the pod, its port maps to the targetPort. */
        json_auto_t *svc = json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s}, s:[{s:i, s:i}]}}", "apiVersion", "v1",
                                     "kind", "Service", "metadata", "name", "echo", "spec", "selector", "app",
                                     "fwd", "ports", "port", 80, "targetPort", port);
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/services", svc, NULL, &err),
                         0);
        if (have_kubectl())
                check_port_forward(f, true, "KUBECTL_PORT_FORWARD_WEBSOCKETS=true", "svc/echo", 80);
        check_port_forward(f, false, "K8C_TEST=1", "svc/echo", 80);
        check_dead_port(f);
}

/* Requests that must be refused before anything reaches a kubelet. */
static void test_proxy_errors(void **state)
{
        struct fixture *f = *state;
        start_kubelet(f, "fake");
        json_auto_t *p = fake_pod("two");
        create_pod(f, p);
        struct k8c_test_http_reply r;
        assert_int_equal(k8c_test_http(&f->srv, "GET", "/api/v1/namespaces/default/pods/absent/log", NULL,
                                       NULL, 0, NULL, &r),
                         0);
        assert_int_equal(r.code, 404);
        assert_non_null(strstr(r.body, "pods \\\"absent\\\" not found"));
        k8c_test_http_reply_free(&r);
        assert_int_equal(k8c_test_http(&f->srv, "GET", "/api/v1/namespaces/default/pods/two/log", NULL, NULL,
                                       0, NULL, &r),
                         0);
        assert_int_equal(r.code, 400);
        assert_non_null(
                strstr(r.body, "a container name must be specified for pod two, choose one of: [main side]"));
        k8c_test_http_reply_free(&r);
        assert_int_equal(k8c_test_http(&f->srv, "GET", "/api/v1/namespaces/default/pods/two/log?container=x",
                                       NULL, NULL, 0, NULL, &r),
                         0);
        assert_int_equal(r.code, 400);
        assert_non_null(strstr(r.body, "container x is not valid for pod two"));
        k8c_test_http_reply_free(&r);
        /* Unscheduled pod. */
        json_auto_t *pending = json_pack("{s:s, s:s, s:{s:s}, s:{s:[{s:s, s:s}]}}", "apiVersion", "v1",
                                         "kind", "Pod", "metadata", "name", "pending", "spec", "containers",
                                         "name", "c", "image", "busybox");
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", pending, NULL, &err),
                         0);
        assert_int_equal(k8c_test_http(&f->srv, "POST",
                                       "/api/v1/namespaces/default/pods/pending/exec?command=ls", NULL, NULL,
                                       0, NULL, &r),
                         0);
        assert_int_equal(r.code, 400);
        assert_non_null(strstr(r.body, "pod pending does not have a host assigned"));
        k8c_test_http_reply_free(&r);
        /* Without an upgrade the kubelet's refusal comes back through the proxy. */
        assert_int_equal(k8c_test_http(&f->srv, "GET",
                                       "/api/v1/namespaces/default/pods/two/exec?container=main&command=ls",
                                       NULL, NULL, 0, NULL, &r),
                         0);
        assert_int_equal(r.code, 400);
        assert_non_null(strstr(r.body, "exec is served over WebSocket"));
        k8c_test_http_reply_free(&r);
        assert_int_equal(k8c_test_http(&f->srv, "DELETE", "/api/v1/namespaces/default/pods/two/exec", NULL,
                                       NULL, 0, NULL, &r),
                         0);
        assert_int_equal(r.code, 405);
        k8c_test_http_reply_free(&r);
}

/* ---- runc (root) ---- */

static void test_runc_streams(void **state)
{
        struct fixture *f = *state;
        if (geteuid() != 0) {
                skip();
                return;
        }
        start_kubelet(f, "runc");
        json_auto_t *p = json_pack(
                "{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s, s:i, s:["
                "{s:s, s:s, s:[s, s, s]},"
                "{s:s, s:s, s:[s, s, s, s, s, s, s]}]}}",
                "apiVersion", "v1", "kind", "Pod", "metadata", "name", "bb", "labels", "app", "bb", "spec",
                "nodeName", "node-s", "terminationGracePeriodSeconds", 1, "containers", "name", "ticker",
                "image", "busybox", "command", "sh", "-c",
                "echo first; echo second; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done",
                "name", "echo", "image", "busybox", "command", "busybox", "nc", "-ll", "-p", "8080", "-e",
                "cat");
        create_pod(f, p);
        /* A ReplicaSet selecting it (no controller runs here: it only lends its selector). */
        json_auto_t *rs =
                json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s}}, s:{s:[{s:s, s:s}]}}}}",
                          "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name", "bbrs", "spec",
                          "replicas", 0, "selector", "matchLabels", "app", "bb", "template", "metadata",
                          "labels", "app", "bb", "spec", "containers", "name", "c", "image", "busybox");
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(
                k8c_client_post(f->client, "/apis/apps/v1/namespaces/default/replicasets", rs, NULL, &err),
                0);
        bool kubectl = have_kubectl();
        for (int pass = kubectl ? 0 : 1; pass < 2; pass++) {
                bool use_kubectl = pass == 0;
                const char *who = use_kubectl ? "kubectl" : "k8cctl";
                cleanup_free char *t = tool(f, use_kubectl);
                cleanup_free char *out = NULL;
                /* logs: whole, --tail, and -f (which keeps streaming ticks). */
                int rc = sh(&out, "%s logs bb -c ticker --tail=-1 | head -n 2", t);
                if (rc != 0 || strcmp(out, "first\nsecond\n") != 0)
                        fail_msg("%s logs: rc=%d out=%s", who, rc, out);
                free(k8c_steal(&out));
                rc = sh(&out, "%s logs bb -c ticker --tail=1", t);
                if (rc != 0 || strncmp(out, "tick ", 5) != 0 || strchr(out, '\n') != strrchr(out, '\n'))
                        fail_msg("%s logs --tail=1: rc=%d out=%s", who, rc, out);
                free(k8c_steal(&out));
                rc = sh(&out, "timeout 20 %s logs -f bb -c ticker --tail=1 | head -n 8 | tail -n 1", t);
                if (strncmp(out, "tick ", 5) != 0)
                        fail_msg("%s logs -f: rc=%d out=%s", who, rc, out);
                free(k8c_steal(&out));
                /* By label selector, and through a workload's selector. */
                rc = sh(&out, "%s logs -l app=bb -c ticker --tail=1", t);
                if (rc != 0 || strncmp(out, "tick ", 5) != 0)
                        fail_msg("%s logs -l: rc=%d out=%s", who, rc, out);
                free(k8c_steal(&out));
                rc = sh(&out, "%s logs rs/bbrs -c ticker --tail=1", t);
                if (rc != 0 || strncmp(out, "tick ", 5) != 0)
                        fail_msg("%s logs rs/bbrs: rc=%d out=%s", who, rc, out);
                free(k8c_steal(&out));
                /* No previous instance: the kubelet's 400 comes back through the proxy. */
                rc = sh(&out, "%s logs bb -c ticker --previous", t);
                if (rc != 1 ||
                    strstr(out, "previous terminated container \"ticker\" in pod \"bb\" not found") == NULL)
                        fail_msg("%s logs --previous: rc=%d out=%s", who, rc, out);
                free(k8c_steal(&out));
                check_exec(f, use_kubectl, "bb", "ticker");
                /* Port-forward into the pod's network namespace. */
                if (use_kubectl) {
                        check_port_forward(f, true, "KUBECTL_PORT_FORWARD_WEBSOCKETS=true", "pod/bb", 8080);
                        check_port_forward(f, true, "KUBECTL_PORT_FORWARD_WEBSOCKETS=false", "bb", 8080);
                } else {
                        check_port_forward(f, false, "K8C_TEST=1", "pod/bb", 8080);
                }
        }
}

int main(void)
{
        signal(SIGPIPE, SIG_IGN);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_fake_exec, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fake_port_forward, setup, teardown),
                cmocka_unit_test_setup_teardown(test_proxy_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_runc_streams, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * systemd integration: the unit files in examples/systemd pass
 * `systemd-analyze verify`, and every daemon, started as systemd would start it
 * (NOTIFY_SOCKET pointing at a datagram socket of this test, WATCHDOG_USEC set),
 * sends READY=1 only once it actually serves (its /readyz answers 200 by then),
 * feeds the watchdog, and sends STOPPING=1 on SIGTERM before exiting 0.
 *
 * Safety: main() moves this process into a network namespace of its own
 * (unshare(CLONE_NEWNET)) before anything else, so the proxy's iptables rules and
 * every listening port live only there; all traffic is on that namespace's loopback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/apiserver_harness.h"
#include "k8c/cleanup.h"

struct fixture {
        struct k8c_test_apiserver srv;
        char dir[64];
};

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int free_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET };
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
                close(fd);
                return -1;
        }
        socklen_t sl = sizeof(sa);
        getsockname(fd, (struct sockaddr *)&sa, &sl);
        close(fd);
        return ntohs(sa.sin_port);
}

static const char *bindir(void)
{
        const char *d = getenv("K8C_ASAN_BINDIR");
        return d != NULL ? d : "build/asan/bin";
}

/* A datagram socket like systemd's notify socket, bound at dir/notify. */
static int notify_socket(const char *dir, char **ret_path)
{
        char *path = k8c_xasprintf("%s/notify", dir);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        assert_true(strlen(path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        unlink(path);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        *ret_path = path;
        return fd;
}

/* Waits for a datagram containing the line want (e.g. "READY=1"); other messages are
 * counted into *watchdogs when they are WATCHDOG=1. Returns true if seen in time. */
static bool wait_message(int fd, const char *want, int timeout_ms, int *watchdogs)
{
        int64_t deadline = mono_ms() + timeout_ms;
        for (;;) {
                int64_t left = deadline - mono_ms();
                if (left <= 0)
                        return false;
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, (int)left) <= 0)
                        continue;
                char buf[4096];
                ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
                if (n <= 0)
                        continue;
                buf[n] = '\0';
                bool found = false;
                for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line != NULL;
                     line = strtok_r(NULL, "\n", &save)) {
                        if (strcmp(line, "WATCHDOG=1") == 0 && watchdogs != NULL)
                                (*watchdogs)++;
                        if (strcmp(line, want) == 0)
                                found = true;
                }
                if (found)
                        return true;
        }
}

static long http_get_code(int port, const char *path)
{
        struct k8c_test_apiserver fake = { 0 };
        cleanup_free char *url = k8c_xasprintf("http://127.0.0.1:%d", port);
        fake.url = url;
        struct k8c_test_http_reply r = { 0 };
        if (k8c_test_http(&fake, "GET", path, NULL, NULL, 0, NULL, &r) < 0)
                return -1;
        long code = r.code;
        k8c_test_http_reply_free(&r);
        return code;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/k8c-sdtest-XXXXXX");
        if (mkdtemp(f->dir) == NULL || k8c_test_apiserver_start(&f->srv, NULL) < 0) {
                free(f);
                return -1;
        }
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        k8c_test_apiserver_stop(&f->srv);
        cleanup_free char *cmd = k8c_xasprintf("rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", f->dir);
        free(f);
        return 0;
}

/* Starts bin/<name> with argv (NULL-terminated, without argv[0]) under a test NOTIFY_SOCKET and
 * checks the whole notify protocol; health_port is where its /readyz is served. */
static void check_daemon(struct fixture *f, const char *name, const char *const *args, int health_port)
{
        cleanup_free char *sock = NULL;
        cleanup_close int fd = notify_socket(f->dir, &sock);
        cleanup_free char *bin = k8c_xasprintf("%s/%s", bindir(), name);
        cleanup_free char *log = k8c_xasprintf("%s/%s.log", f->dir, name);
        const char *argv[32] = { bin };
        size_t n = 1;
        for (size_t i = 0; args[i] != NULL && n < 31; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        cleanup_pid pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                dup2(lfd, 2);
                setenv("NOTIFY_SOCKET", sock, 1);
                setenv("WATCHDOG_USEC", "400000", 1); /* ping every 200 ms */
                execv(bin, (char *const *)argv);
                _exit(127);
        }
        int watchdogs = 0;
        bool ready = wait_message(fd, "READY=1", 30000, &watchdogs);
        if (!ready) {
                cleanup_free char *cmd = k8c_xasprintf("tail -n 20 '%s' >&2", log);
                if (system(cmd) != 0)
                        fprintf(stderr, "no log\n");
        }
        assert_true(ready);
        /* READY=1 promises service: readiness must already hold. */
        assert_int_equal(http_get_code(health_port, "/readyz"), 200);
        /* The watchdog is fed while healthy: several pings within ~1 s (interval 200 ms). */
        watchdogs = 0;
        int64_t until = mono_ms() + 1500;
        while (mono_ms() < until && watchdogs < 3)
                wait_message(fd, "none", 300, &watchdogs);
        assert_true(watchdogs >= 3);
        assert_int_equal(kill(pid, SIGTERM), 0);
        assert_true(wait_message(fd, "STOPPING=1", 20000, NULL));
        int status = -1;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        pid = -1;
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        unlink(sock);
}

static void test_apiserver_notifies(void **state)
{
        struct fixture *f = *state;
        int port = free_port();
        cleanup_free char *port_s = k8c_xasprintf("%d", port);
        cleanup_free char *data = k8c_xasprintf("%s/apiserver-data", f->dir);
        const char *args[] = { "--bind-address", "127.0.0.1", "--port", port_s, "--data-dir", data, NULL };
        check_daemon(f, "k8c-apiserver", args, port);
}

static void test_scheduler_notifies(void **state)
{
        struct fixture *f = *state;
        int port = free_port();
        cleanup_free char *port_s = k8c_xasprintf("%d", port);
        const char *args[] = {
                "--server", f->srv.url, "--bind-address", "127.0.0.1", "--port", port_s, NULL
        };
        check_daemon(f, "k8c-scheduler", args, port);
}

static void test_controller_manager_notifies(void **state)
{
        struct fixture *f = *state;
        int port = free_port();
        cleanup_free char *port_s = k8c_xasprintf("%d", port);
        const char *args[] = {
                "--server", f->srv.url, "--bind-address", "127.0.0.1", "--port", port_s, NULL
        };
        check_daemon(f, "k8c-controller-manager", args, port);
}

static void test_kubelet_notifies(void **state)
{
        struct fixture *f = *state;
        int port = free_port();
        cleanup_free char *port_s = k8c_xasprintf("%d", port);
        cleanup_free char *root = k8c_xasprintf("%s/kubelet", f->dir);
        const char *args[] = { "--server",   f->srv.url,      "--hostname-override",
                               "sd-node",    "--runtime",     "fake",
                               "--pod-cidr", "10.244.9.0/24", "--root-dir",
                               root,         "--address",     "127.0.0.1",
                               "--port",     port_s,          NULL };
        check_daemon(f, "k8c-kubelet", args, port);
}

static void test_proxy_notifies(void **state)
{
        struct fixture *f = *state;
        int port = free_port();
        cleanup_free char *addr = k8c_xasprintf("127.0.0.1:%d", port);
        const char *args[] = {
                "--server", f->srv.url,           "--hostname-override", "sd-node", "--metrics-bind-address",
                addr,       "--dns-bind-address", "127.0.0.1:0",         NULL
        };
        check_daemon(f, "k8c-proxy", args, port);
}

/* Copies the units with ExecStart pointing at this tree's binaries (verify checks that the
 * executable exists) and runs systemd-analyze verify on them. */
static void test_units_verify(void **state)
{
        struct fixture *f = *state;
        const char *src = getenv("K8C_SRCDIR");
        cleanup_free char *unitdir = k8c_xasprintf("%s/examples/systemd", src != NULL ? src : ".");
        cleanup_free char *out = k8c_xasprintf("%s/units", f->dir);
        assert_int_equal(mkdir(out, 0755), 0);
        const char *rel = getenv("K8C_BINDIR");
        char abs[4096];
        assert_non_null(realpath(rel != NULL ? rel : "bin", abs));
        DIR *d = opendir(unitdir);
        assert_non_null(d);
        int units = 0;
        cleanup_free char *list = k8c_xstrdup("");
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
                size_t l = strlen(e->d_name);
                if (l < 9 || strcmp(e->d_name + l - 8, ".service") != 0)
                        continue;
                cleanup_free char *cmd = k8c_xasprintf("sed 's|/usr/local/bin/|%s/|' '%s/%s' > '%s/%s'", abs,
                                                       unitdir, e->d_name, out, e->d_name);
                assert_int_equal(system(cmd), 0);
                char *nl = k8c_xasprintf("%s '%s/%s'", list, out, e->d_name);
                free(list);
                list = nl;
                units++;
        }
        closedir(d);
        assert_int_equal(units, 5);
        cleanup_free char *log = k8c_xasprintf("%s/verify.log", f->dir);
        cleanup_free char *cmd = k8c_xasprintf("systemd-analyze verify --man=no %s > '%s' 2>&1", list, log);
        int rc = system(cmd);
        /* verify prints nothing for clean units; any line is a finding. */
        struct stat st;
        assert_int_equal(stat(log, &st), 0);
        if (rc != 0 || st.st_size != 0) {
                cleanup_free char *cat = k8c_xasprintf("cat '%s' >&2", log);
                if (system(cat) != 0)
                        fprintf(stderr, "no log\n");
        }
        assert_int_equal(rc, 0);
        assert_int_equal(st.st_size, 0);
}

int main(void)
{
        if (geteuid() != 0) {
                printf("[  SKIPPED ] 6 test(s): needs root for a network namespace\n");
                return 0;
        }
        /* Before any thread exists: everything below lives in a namespace only this process holds. */
        if (unshare(CLONE_NEWNET) != 0) {
                perror("unshare(CLONE_NEWNET)");
                return 1;
        }
        if (system("ip link set lo up") != 0)
                return 1;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_units_verify, setup, teardown),
                cmocka_unit_test_setup_teardown(test_apiserver_notifies, setup, teardown),
                cmocka_unit_test_setup_teardown(test_scheduler_notifies, setup, teardown),
                cmocka_unit_test_setup_teardown(test_controller_manager_notifies, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kubelet_notifies, setup, teardown),
                cmocka_unit_test_setup_teardown(test_proxy_notifies, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

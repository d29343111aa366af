/* Unit tests for sdnotify.c: the sd_notify(3) datagram on path and abstract sockets,
 * no socket when not under systemd, and WATCHDOG_USEC / WATCHDOG_PID. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "k8c/sdnotify.h"

/* Binds a datagram socket at name ("@..." = abstract) and returns it. */
static int listen_at(const char *name)
{
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(name);
        memcpy(sa.sun_path, name, len);
        socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
        if (name[0] == '@')
                sa.sun_path[0] = '\0';
        else
                salen++;
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, salen), 0);
        return fd;
}

static void expect_datagram(int fd, const char *want)
{
        char buf[256];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        assert_true(n > 0);
        buf[n] = '\0';
        assert_string_equal(buf, want);
}

static void test_path_socket(void **state)
{
        char dir[] = "/tmp/k8c-sdnotify-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char path[128];
        snprintf(path, sizeof(path), "%s/notify", dir);
        int fd = listen_at(path);
        setenv("NOTIFY_SOCKET", path, 1);
        assert_int_equal(k8c_sd_notify("READY=1"), 1);
        expect_datagram(fd, "READY=1");
        assert_int_equal(k8c_sd_notify("STOPPING=1"), 1);
        expect_datagram(fd, "STOPPING=1");
        unsetenv("NOTIFY_SOCKET");
        close(fd);
        unlink(path);
        rmdir(dir);
}

static void test_abstract_socket(void **state)
{
        char name[64];
        snprintf(name, sizeof(name), "@k8c-sdnotify-test-%d", (int)getpid());
        int fd = listen_at(name);
        setenv("NOTIFY_SOCKET", name, 1);
        assert_int_equal(k8c_sd_notify("WATCHDOG=1"), 1);
        expect_datagram(fd, "WATCHDOG=1");
        unsetenv("NOTIFY_SOCKET");
        close(fd);
}

static void test_not_under_systemd(void **state)
{
        unsetenv("NOTIFY_SOCKET");
        assert_int_equal(k8c_sd_notify("READY=1"), 0);
        setenv("NOTIFY_SOCKET", "relative/path", 1);
        assert_true(k8c_sd_notify("READY=1") < 0);
        setenv("NOTIFY_SOCKET", "/nonexistent-dir/k8c/notify", 1);
        assert_true(k8c_sd_notify("READY=1") < 0);
        unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_usec(void **state)
{
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        assert_int_equal(k8c_sd_watchdog_usec(), 0);
        setenv("WATCHDOG_USEC", "400000", 1);
        assert_int_equal(k8c_sd_watchdog_usec(), 400000);
        char pid[32];
        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        setenv("WATCHDOG_PID", pid, 1);
        assert_int_equal(k8c_sd_watchdog_usec(), 400000);
        snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
        setenv("WATCHDOG_PID", pid, 1);
        assert_int_equal(k8c_sd_watchdog_usec(), 0); /* meant for another process */
        unsetenv("WATCHDOG_PID");
        setenv("WATCHDOG_USEC", "12x", 1);
        assert_int_equal(k8c_sd_watchdog_usec(), 0);
        unsetenv("WATCHDOG_USEC");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_path_socket),
                cmocka_unit_test(test_abstract_socket),
                cmocka_unit_test(test_not_under_systemd),
                cmocka_unit_test(test_watchdog_usec),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * sdnotify.c - systemd notifications and the watchdog thread (see
 * include/k8c/sdnotify.h).
 *
 * The notification protocol is one datagram of newline-separated KEY=VALUE
 * lines on the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or '@' for the
 * abstract namespace), documented as stable in sd_notify(3). Speaking it here
 * instead of linking libsystemd keeps libsystemd and its libgcrypt, libgpg-error,
 * libcap, liblz4 and liblzma out of every daemon: about 1 MB of RSS per process.
 */
#include "k8c/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "k8c/log.h"

int k8c_sd_notify(const char *state)
{
        const char *path = getenv("NOTIFY_SOCKET");
        if (path == NULL || path[0] == '\0')
                return 0;
        if (path[0] != '/' && path[0] != '@')
                return -EAFNOSUPPORT;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(path);
        if (len >= sizeof(sa.sun_path))
                return -EINVAL;
        memcpy(sa.sun_path, path, len);
        if (sa.sun_path[0] == '@')
                sa.sun_path[0] = '\0';
        socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
        int r = n < 0 ? -errno : 1;
        close(fd);
        return r;
}

uint64_t k8c_sd_watchdog_usec(void)
{
        const char *s = getenv("WATCHDOG_USEC");
        if (s == NULL || s[0] == '\0')
                return 0;
        char *end = NULL;
        errno = 0;
        unsigned long long usec = strtoull(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0')
                return 0;
        /* Meant for another process (set by systemd for the main PID only). */
        const char *p = getenv("WATCHDOG_PID");
        if (p != NULL && p[0] != '\0' && strtol(p, NULL, 10) != (long)getpid())
                return 0;
        return (uint64_t)usec;
}

static struct {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool running, stop;
        k8c_health_fn healthy;
        void *opaque;
        uint64_t interval_usec;
        _Atomic uint64_t pings;
} wd = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void *watchdog_main(void *arg)
{
        (void)arg;
        pthread_mutex_lock(&wd.lock);
        while (!wd.stop) {
                pthread_mutex_unlock(&wd.lock);
                bool ok = wd.healthy == NULL || wd.healthy(wd.opaque);
                if (ok) {
                        k8c_sd_notify("WATCHDOG=1");
                        atomic_fetch_add(&wd.pings, 1);
                } else {
                        k8c_log_warn("health check failed, watchdog not fed", NULL);
                }
                pthread_mutex_lock(&wd.lock);
                struct timespec until;
                clock_gettime(CLOCK_MONOTONIC, &until);
                uint64_t ns = (uint64_t)until.tv_nsec + (wd.interval_usec % 1000000) * 1000;
                until.tv_sec += (time_t)(wd.interval_usec / 1000000 + ns / 1000000000);
                until.tv_nsec = (long)(ns % 1000000000);
                while (!wd.stop && pthread_cond_timedwait(&wd.cond, &wd.lock, &until) != ETIMEDOUT)
                        ;
        }
        pthread_mutex_unlock(&wd.lock);
        return NULL;
}

int k8c_watchdog_start(k8c_health_fn healthy, void *opaque)
{
        /* The environment is left set: children (runc, shells) may inherit it, but
         * WATCHDOG_PID is checked against the caller's pid, so that is harmless. */
        uint64_t usec = k8c_sd_watchdog_usec();
        if (usec == 0)
                return 0;
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_mutex_lock(&wd.lock);
        if (wd.running) {
                pthread_mutex_unlock(&wd.lock);
                pthread_condattr_destroy(&attr);
                return 1;
        }
        pthread_cond_destroy(&wd.cond);
        pthread_cond_init(&wd.cond, &attr);
        pthread_condattr_destroy(&attr);
        wd.healthy = healthy;
        wd.opaque = opaque;
        wd.interval_usec = usec / 2 > 0 ? usec / 2 : 1;
        wd.stop = false;
        if (pthread_create(&wd.thread, NULL, watchdog_main, NULL) != 0) {
                pthread_mutex_unlock(&wd.lock);
                k8c_log_error("cannot start the watchdog thread", NULL);
                return 0;
        }
        wd.running = true;
        pthread_mutex_unlock(&wd.lock);
        k8c_log_info("systemd watchdog on", "interval_usec=%llu", (unsigned long long)wd.interval_usec);
        return 1;
}

void k8c_watchdog_stop(void)
{
        pthread_mutex_lock(&wd.lock);
        if (!wd.running) {
                pthread_mutex_unlock(&wd.lock);
                return;
        }
        wd.stop = true;
        pthread_cond_broadcast(&wd.cond);
        pthread_mutex_unlock(&wd.lock);
        pthread_join(wd.thread, NULL);
        pthread_mutex_lock(&wd.lock);
        wd.running = false;
        pthread_mutex_unlock(&wd.lock);
}

uint64_t k8c_watchdog_interval_usec(void)
{
        pthread_mutex_lock(&wd.lock);
        uint64_t v = wd.running ? wd.interval_usec : 0;
        pthread_mutex_unlock(&wd.lock);
        return v;
}

uint64_t k8c_watchdog_pings(void)
{
        return atomic_load(&wd.pings);
}

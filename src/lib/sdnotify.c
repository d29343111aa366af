/*
 * sdnotify.c - systemd notifications and the watchdog thread (see
 * include/k8c/sdnotify.h).
 *
 * The notifications themselves are libsystemd's sd_notify(3) and
 * sd_watchdog_enabled(3); this file adds the watchdog thread.
 */
#include "k8c/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "k8c/log.h"

int k8c_sd_notify(const char *state)
{
        return sd_notify(0, state);
}

uint64_t k8c_sd_watchdog_usec(void)
{
        uint64_t usec = 0;
        /* unset_environment=0: WATCHDOG_PID is checked against our own pid, so children
         * (runc, shells) that inherit the variables are not fooled. */
        if (sd_watchdog_enabled(0, &usec) <= 0)
                return 0;
        return usec;
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

/*
 * sdnotify.h - systemd service notifications shared by every daemon.
 *
 * READY=1 and STOPPING=1 are sent by each daemon at the moment it is actually
 * serving and when it starts to shut down (k8c_sd_notify, libsystemd's
 * sd_notify(3)). The watchdog
 * here keeps a unit with WatchdogSec= fed: a thread sends WATCHDOG=1 every half
 * of $WATCHDOG_USEC, but only while the daemon's health check passes, so a daemon
 * whose health check fails (or whose process hangs) is restarted by systemd.
 * Without $WATCHDOG_USEC (not under systemd, or no WatchdogSec=) nothing starts.
 */
#ifndef K8C_SDNOTIFY_H
#define K8C_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Sends state ("READY=1", "STOPPING=1", ...) to $NOTIFY_SOCKET. Returns 1 if sent,
 * 0 when $NOTIFY_SOCKET is unset (not under systemd), negative errno on failure. */
int k8c_sd_notify(const char *state);
/* $WATCHDOG_USEC when it is meant for this process ($WATCHDOG_PID unset or ours), else 0. */
uint64_t k8c_sd_watchdog_usec(void);

/* Health check for the watchdog; NULL means "the process is alive". */
typedef bool (*k8c_health_fn)(void *opaque);

/* Starts the watchdog thread if systemd asked for one. Returns 1 if started, 0 if no
 * watchdog is wanted. The check runs on the watchdog thread. Call at most once. */
int k8c_watchdog_start(k8c_health_fn healthy, void *opaque);
/* Stops the thread (no-op if none). */
void k8c_watchdog_stop(void);
/* Interval between pings in microseconds (half of WATCHDOG_USEC), 0 when off. */
uint64_t k8c_watchdog_interval_usec(void);
/* Number of WATCHDOG=1 messages sent (for /metrics and tests). */
uint64_t k8c_watchdog_pings(void);

#endif

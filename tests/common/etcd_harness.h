/*
 * etcd_harness.h - a throw-away single-member etcd for tests and benchmarks.
 *
 * Starts Debian's `etcd` on 127.0.0.1 (free client and peer ports, a temp data
 * dir), waits until it answers /health, and stops it by PID (SIGTERM, then
 * SIGKILL) and removes the data dir. Harnesses still running at exit are
 * stopped by an atexit handler, and etcd gets PR_SET_PDEATHSIG so it dies with
 * the test even after a crash. Start it from the main thread (the death signal
 * follows the thread that forked). Loopback only: never another address.
 */
#ifndef K8C_TESTS_ETCD_HARNESS_H
#define K8C_TESTS_ETCD_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

struct etcd_harness {
        pid_t pid;
        int client_port;
        int peer_port;
        char url[64];   /* http://127.0.0.1:<client_port> */
        char name[48];  /* member name */
        char *tmp_dir;  /* holds data/ and etcd.log */
        char *log_path; /* etcd's stdout+stderr */
};

/* Path of the etcd binary ($K8C_ETCD or /usr/bin/etcd); NULL if not installed. */
const char *etcd_harness_binary(void);

/* Starts etcd and waits until healthy (up to ~20 s). Returns 0 or -1 with a
 * message on stderr (including etcd's log tail). */
int etcd_harness_start(struct etcd_harness **ret);

/* Starts an n-member cluster (1..5) on loopback; ret[0..n-1] get the members,
 * each stopped on its own with etcd_harness_stop. 0 or -1 as above. */
int etcd_harness_start_cluster(int n, struct etcd_harness **ret);

/* Stops etcd (SIGTERM, SIGKILL after 5 s), reaps it, removes its files, frees h. NULL ok. */
void etcd_harness_stop(struct etcd_harness *h);

/* A loopback port nobody listens on right now (for "dead endpoint" tests). */
int etcd_harness_free_port(void);

#endif

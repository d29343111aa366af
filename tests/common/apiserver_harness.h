/*
 * apiserver_harness.h - starts the real k8c-apiserver binary for integration
 * tests: a free loopback port, a temporary --data-dir, readiness via /readyz,
 * stop by PID (SIGTERM, then SIGKILL) and removal of everything it made. Also
 * small helpers to speak raw HTTP (libcurl) and to run the real kubectl with a
 * private HOME. Only 127.0.0.1 is ever contacted.
 */
#ifndef K8C_TEST_APISERVER_HARNESS_H
#define K8C_TEST_APISERVER_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

struct k8c_test_apiserver {
        pid_t pid;
        int port;
        char *dir;  /* temp dir: data/, home/, apiserver.log */
        char *url;  /* http://127.0.0.1:PORT */
        char *home; /* HOME for kubectl (fresh discovery cache) */
        char *log;  /* the server's stderr */
};

/* Starts the server (extra_args NULL-terminated, may be NULL) and waits up to 20 s for /readyz.
 * Returns 0, or -1 after cleaning up. */
int k8c_test_apiserver_start(struct k8c_test_apiserver *s, const char *const *extra_args);
/* SIGTERM and wait (SIGKILL after 10 s); returns the exit status as waitpid reports it (or -1).
 * Removes the temp dir. Safe to call twice. */
int k8c_test_apiserver_stop(struct k8c_test_apiserver *s);

/* Stops the server (it must exit 0) and starts it again on the same port and data dir. */
int k8c_test_apiserver_restart(struct k8c_test_apiserver *s, const char *const *extra_args);

struct k8c_test_http_reply {
        long code;
        char *body;
        char *headers;
};
/* One request to s->url + path. body may be NULL; content_type/accept may be NULL. */
int k8c_test_http(const struct k8c_test_apiserver *s, const char *method, const char *path,
                  const char *content_type, const char *body, size_t body_len, const char *accept,
                  struct k8c_test_http_reply *ret);
void k8c_test_http_reply_free(struct k8c_test_http_reply *r);

/* Runs `kubectl --server URL <args>` through /bin/sh with HOME set; args is shell text.
 * Returns the exit code (or -1) and stdout+stderr in *ret_out (caller frees). */
int k8c_test_kubectl(const struct k8c_test_apiserver *s, char **ret_out, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* The server's storage revision from /metrics (k8c_storage_revision), or -1. */
long long k8c_test_apiserver_revision(const struct k8c_test_apiserver *s);

/* CPU time (user + system, seconds) process pid has used so far, -1 if unknown. */
double k8c_test_cpu_seconds(pid_t pid);

#endif

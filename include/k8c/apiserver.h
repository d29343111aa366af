/*
 * apiserver.h - the k8c-apiserver daemon: its configuration and entry point.
 *
 * cmd/k8c-apiserver/main.c fills the config from flags and calls
 * k8c_apiserver_run(), which serves until SIGTERM/SIGINT and then drains. The
 * server itself (HTTP, REST, watch cache, discovery) lives in src/apiserver/.
 */
#ifndef K8C_APISERVER_H
#define K8C_APISERVER_H

#include <stdint.h>

#include "k8c/error.h"

struct k8c_apiserver_config {
        const char *bind_address; /* "127.0.0.1" */
        /* The address the `kubernetes` Service's Endpoints name (reachable by pods); NULL = the first
         * bind address unless that is a wildcard or loopback one. */
        const char *advertise_address;
        int port;                             /* 6443, plain HTTP */
        const char *data_dir;                 /* sqlite directory */
        const char *storage_backend;          /* "sqlite" (default) or "etcd" */
        const char *etcd_servers;             /* with storage_backend=etcd */
        const char *service_cluster_ip_range; /* "10.96.0.0/12" */
        const char *service_node_port_range;  /* "30000-32767" */
        int64_t max_request_body_bytes;       /* 3 MiB; larger bodies → 413 */
        int watch_window;                     /* events kept in the watch cache (0 = 10000) */
        int http_threads;                     /* HTTP thread pool of the main listener (0 = 64) */
        int bookmark_interval_ms;             /* BOOKMARK period for allowWatchBookmarks (0 = 60000) */
        int64_t watch_queue_bytes;            /* a watcher with more unsent bytes is dropped (0 = 16 MiB) */
        int64_t event_ttl_ms; /* Events are deleted this long after their last activity (0 = 1h) */
};

/* Serves until SIGTERM or SIGINT, then stops accepting, ends watches cleanly and closes
 * storage. Returns 0 after a clean drain, negative on a start-up failure. */
int k8c_apiserver_run(const struct k8c_apiserver_config *cfg, k8c_error_t *err);

#endif

/*
 * k8c-apiserver - flag parsing and wiring only; the server lives in src/apiserver.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "k8c/apiserver.h"
#include "k8c/cleanup.h"
#include "k8c/flags.h"
#include "k8c/log.h"

int main(int argc, char **argv)
{
        char *bind_address = "127.0.0.1";
        char *advertise_address = NULL;
        int port = 6443;
        char *data_dir = "/var/lib/k8c/apiserver";
        char *storage_backend = "sqlite";
        char *etcd_servers = "";
        char *service_cidr = "10.96.0.0/12";
        char *node_port_range = "30000-32767";
        int64_t max_body = 3 * 1024 * 1024;
        int watch_cache_size = 10000;
        int http_threads = 0;
        int64_t bookmark_ms = 60000;
        int64_t watch_queue = 16 * 1024 * 1024;
        int64_t event_ttl_ms = 3600 * 1000;
        const struct k8c_flag flags[] = {
                { "bind-address", 0, K8C_FLAG_STRING, &bind_address,
                  "IPv4 address to listen on (a comma-separated list serves on each)", NULL },
                { "advertise-address", 0, K8C_FLAG_STRING, &advertise_address,
                  "address of this apiserver in the kubernetes Service's Endpoints (default: the first "
                  "--bind-address unless it is 0.0.0.0 or loopback)",
                  NULL },
                { "port", 0, K8C_FLAG_INT, &port, "port to serve the API on (plain HTTP)", NULL },
                { "data-dir", 0, K8C_FLAG_STRING, &data_dir, "directory of the SQLite store", NULL },
                { "storage-backend", 0, K8C_FLAG_STRING, &storage_backend, "storage backend: sqlite or etcd",
                  NULL },
                { "etcd-servers", 0, K8C_FLAG_STRING, &etcd_servers,
                  "comma-separated etcd endpoints (with --storage-backend=etcd)", NULL },
                { "service-cluster-ip-range", 0, K8C_FLAG_STRING, &service_cidr,
                  "CIDR from which Service ClusterIPs are allocated", NULL },
                { "service-node-port-range", 0, K8C_FLAG_STRING, &node_port_range,
                  "port range reserved for NodePort Services", NULL },
                { "max-request-body-bytes", 0, K8C_FLAG_INT64, &max_body,
                  "largest request body accepted (413 beyond)", NULL },
                { "watch-cache-size", 0, K8C_FLAG_INT, &watch_cache_size,
                  "recent events kept in memory for watches (older resourceVersions get 410)", NULL },
                { "http-threads", 0, K8C_FLAG_INT, &http_threads,
                  "HTTP worker threads (0 = the built-in 64); each open write waits on one until it is "
                  "committed, so more threads carry more writes per commit, fewer use less memory",
                  NULL },
                { "watch-bookmark-interval", 0, K8C_FLAG_DURATION, &bookmark_ms,
                  "period of BOOKMARK events on watches that allow them", NULL },
                { "watch-queue-bytes", 0, K8C_FLAG_INT64, &watch_queue,
                  "unsent bytes after which a slow watcher is dropped", NULL },
                { "event-ttl", 0, K8C_FLAG_DURATION, &event_ttl_ms,
                  "how long Events are kept after their last activity", NULL },
                { "v", 'v', K8C_FLAG_INT, &k8c_log_v, "log verbosity", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        struct k8c_flags_result args;
        k8c_flags_parse_or_exit(flags, argc, argv, "k8c-apiserver", "[flags]", &args);
        k8c_flags_result_free(&args);
        k8c_log_set_component("apiserver");

        struct k8c_apiserver_config cfg = {
                .bind_address = bind_address,
                .advertise_address = advertise_address,
                .port = port,
                .data_dir = data_dir,
                .storage_backend = storage_backend,
                .etcd_servers = etcd_servers,
                .service_cluster_ip_range = service_cidr,
                .service_node_port_range = node_port_range,
                .max_request_body_bytes = max_body,
                .watch_window = watch_cache_size,
                .http_threads = http_threads,
                .bookmark_interval_ms = (int)bookmark_ms,
                .watch_queue_bytes = watch_queue,
                .event_ttl_ms = event_ttl_ms,
        };
        cleanup_error k8c_error_t err = NULL;
        if (k8c_apiserver_run(&cfg, &err) < 0) {
                char q[1024];
                k8c_log_error("apiserver failed", "error=%s",
                              k8c_log_quote(q, sizeof(q), k8c_error_msg(&err)));
                return 1;
        }
        return 0;
}

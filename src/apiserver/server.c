/*
 * server.c - k8c_apiserver_run(): opens storage, bootstraps, starts the watch
 * cache and the libmicrohttpd daemon (epoll polling threads, suspend/resume
 * for watch streams), then waits for SIGTERM/SIGINT and drains.
 *
 * It owns the HTTP request life cycle (body accumulation with the size limit,
 * sending the reply, metrics per request). It knows nothing about resources:
 * routing and REST live in router.c and rest.c.
 */
#include <errno.h>
#include <malloc.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"
#include "k8c/log.h"
#include "k8c/sdnotify.h"

/*
 * A write request holds its HTTP thread until storage acknowledges it (after the
 * group COMMIT), so the number of threads bounds how many writes one commit can
 * carry, and MHD binds each connection to one thread: two busy clients on one
 * thread wait for each other's commits. With 4 threads, 64 concurrent clients got
 * ~2.4k creates/s; with 32, ~5.7k; 64 gives each of them a thread (bench/apiserver).
 * Waiting threads cost no CPU, but each keeps a stack and often a malloc arena
 * resident, so a small setup (the lab) asks for fewer with --http-threads.
 */
#define HTTP_THREADS 64
/*
 * Per-connection memory pool (request headers, response headers, the chunk
 * buffer of a watch stream). About half of it is resident for every open
 * connection, which is what an idle watcher costs: MHD's default of 32 KiB made
 * ~21 KiB per watcher; 16 KiB still takes request headers of several KiB.
 */
#define CONNECTION_MEMORY (16 * 1024)

static int64_t now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void req_free(struct k8c_req *req)
{
        if (req == NULL)
                return;
        free(req->body);
        json_decref(req->reply);
        free(req->reply_text);
        free(req->reply_head);
        free(req->reply_body);
        free(req->stored_text);
        free(req->warning);
        free(req->async_key);
        free(req->async_text);
        free(req->async_name);
        k8c_error_release(&req->async_err);
        free(req);
}

struct parts {
        char *head, *body;
};

static void parts_free(void *cls)
{
        struct parts *p = cls;
        free(p->head);
        free(p->body);
        free(p);
}

/* head + body + tail as one response, without copying them together. */
static struct MHD_Response *parts_response(struct k8c_req *req)
{
        struct parts *p = k8c_xcalloc(1, sizeof(*p));
        p->head = k8c_steal(&req->reply_head);
        p->body = k8c_steal(&req->reply_body);
        const char *tail = req->reply_tail != NULL ? req->reply_tail : "";
        struct MHD_IoVec iov[3] = {
                { p->head, req->reply_head_len },
                { p->body != NULL ? p->body : "", req->reply_body_len },
                { tail, strlen(tail) },
        };
        struct MHD_Response *resp = MHD_create_response_from_iovec(iov, 3, parts_free, p);
        if (resp == NULL)
                parts_free(p);
        return resp;
}

static enum MHD_Result send_reply(struct k8c_req *req)
{
        if (req->stream != NULL) {
                enum MHD_Result r = MHD_queue_response(req->conn, req->code, req->stream);
                MHD_destroy_response(req->stream);
                req->stream = NULL;
                return r;
        }
        struct MHD_Response *resp = NULL;
        if (req->reply_head != NULL) {
                resp = parts_response(req);
                if (resp == NULL)
                        return MHD_NO;
                goto headers;
        }
        if (req->reply_text == NULL) {
                if (req->reply == NULL)
                        req->reply = json_object();
                req->reply_text = json_dumps(req->reply, JSON_COMPACT);
                if (req->reply_text == NULL)
                        return MHD_NO;
        }
        size_t len = req->reply_len > 0 ? req->reply_len : strlen(req->reply_text);
        resp = MHD_create_response_from_buffer(len, k8c_steal(&req->reply_text), MHD_RESPMEM_MUST_FREE);
        if (resp == NULL)
                return MHD_NO;
headers:
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                req->content_type != NULL ? req->content_type : "application/json");
        MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
        /* One Warning header per warning, as Kubernetes sends them. */
        for (char *save = NULL, *w = req->warning != NULL ? strtok_r(req->warning, "\n", &save) : NULL;
             w != NULL; w = strtok_r(NULL, "\n", &save))
                MHD_add_response_header(resp, "Warning", w);
        enum MHD_Result r = MHD_queue_response(req->conn, req->code, resp);
        MHD_destroy_response(resp);
        return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
        struct k8c_apiserver *srv = cls;
        struct k8c_req *req = *con_cls;
        if (req == NULL) {
                req = k8c_xcalloc(1, sizeof(*req));
                req->srv = srv;
                req->conn = conn;
                req->method = method;
                req->url = url;
                req->start_us = now_us();
                req->code = 200;
                req->verb = "OTHER";
                *con_cls = req;
                return MHD_YES;
        }
        if (req->async_state == ASYNC_DONE) {
                k8c_rest_async_finish(req);
                return send_reply(req);
        }
        if (req->async_state == ASYNC_QUEUED) /* resumed early: the callback is still running */
                return MHD_YES;
        if (*upload_data_size > 0) {
                /* Keep reading past the limit (discarding) so the connection stays usable
                 * and the client gets its 413 instead of a reset. */
                if (!req->body_too_large) {
                        size_t need = req->body_len + *upload_data_size;
                        if ((int64_t)need > srv->cfg.max_request_body_bytes) {
                                req->body_too_large = true;
                                free(req->body);
                                req->body = NULL;
                                req->body_len = req->body_cap = 0;
                        } else {
                                if (need + 1 > req->body_cap) {
                                        req->body_cap = (need + 1) * 2;
                                        req->body = k8c_xrealloc(req->body, req->body_cap);
                                }
                                memcpy(req->body + req->body_len, upload_data, *upload_data_size);
                                req->body_len = need;
                                req->body[need] = '\0';
                        }
                }
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (req->body_too_large) {
                char msg[128];
                snprintf(msg, sizeof(msg), "the request body is larger than %lld bytes",
                         (long long)srv->cfg.max_request_body_bytes);
                k8c_req_fail_msg(req, K8C_ETOOLARGE, msg);
        } else {
                k8c_route(req);
                /* Suspended until storage answers (then called again, above). */
                if (req->async_state != ASYNC_NONE)
                        return MHD_YES;
        }
        return send_reply(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        struct k8c_apiserver *srv = cls;
        struct k8c_req *req = *con_cls;
        if (req == NULL)
                return;
        double secs = (double)(now_us() - req->start_us) / 1e6;
        if (req->code >= 500 && req->code != 503) {
                char q[512];
                const char *msg = json_string_value(json_object_get(req->reply, "message"));
                k8c_log_error("request failed", "method=%s url=%s code=%d error=%s", req->method, req->url,
                              req->code, k8c_log_quote(q, sizeof(q), msg != NULL ? msg : ""));
        }
        k8c_metrics_observe(srv->metrics, req->verb, req->resource, req->code, secs);
        k8c_logv(4, "request", "method=%s url=%s code=%d seconds=%.6f", req->method, req->url, req->code,
                 secs);
        req_free(req);
        *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        char buf[512];
        vsnprintf(buf, sizeof(buf), fmt, ap);
        size_t n = strlen(buf);
        while (n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
        char q[600];
        k8c_logv(2, "libmicrohttpd", "detail=%s", k8c_log_quote(q, sizeof(q), buf));
}

static int parse_addr(const char *addr, int port, struct sockaddr_in *sa, k8c_error_t *err)
{
        memset(sa, 0, sizeof(*sa));
        sa->sin_family = AF_INET;
        sa->sin_port = htons((uint16_t)port);
        if (port <= 0 || port > 65535)
                return k8c_make_error(err, K8C_EUSAGE, "invalid --port %d", port);
        if (inet_pton(AF_INET, addr, &sa->sin_addr) != 1)
                return k8c_make_error(err, K8C_EUSAGE, "invalid --bind-address \"%s\" (want an IPv4 address)",
                                      addr);
        return 0;
}

static void config_defaults(struct k8c_apiserver_config *c)
{
        if (c->bind_address == NULL)
                c->bind_address = "127.0.0.1";
        if (c->port == 0)
                c->port = 6443;
        if (c->storage_backend == NULL || c->storage_backend[0] == '\0')
                c->storage_backend = "sqlite";
        if (c->service_cluster_ip_range == NULL)
                c->service_cluster_ip_range = "10.96.0.0/12";
        if (c->service_node_port_range == NULL)
                c->service_node_port_range = "30000-32767";
        if (c->max_request_body_bytes <= 0)
                c->max_request_body_bytes = 3 * 1024 * 1024;
        if (c->watch_window <= 0)
                c->watch_window = 10000;
        if (c->http_threads <= 0)
                c->http_threads = HTTP_THREADS;
        if (c->watch_queue_bytes <= 0)
                c->watch_queue_bytes = 16 * 1024 * 1024;
        if (c->bookmark_interval_ms <= 0)
                c->bookmark_interval_ms = 60000;
        if (c->event_ttl_ms <= 0)
                c->event_ttl_ms = 3600 * 1000;
}

int k8c_apiserver_run(const struct k8c_apiserver_config *cfg, k8c_error_t *err)
{
        struct k8c_apiserver srv_storage;
        struct k8c_apiserver *srv = &srv_storage;
        memset(srv, 0, sizeof(*srv));
        srv->cfg = *cfg;
        config_defaults(&srv->cfg);
        /* One malloc arena per four HTTP threads (2..8) instead of glibc's up to 8 per
         * core: each arena keeps its own free memory resident. */
        int arenas = srv->cfg.http_threads / 4;
        mallopt(M_ARENA_MAX, arenas < 2 ? 2 : arenas > 8 ? 8 : arenas);
        pthread_mutex_init(&srv->alloc_lock, NULL);
        pthread_cond_init(&srv->alloc_cond, NULL);
        pthread_mutex_init(&srv->ns_lock, NULL);
        k8c_strmap_init(&srv->ns_active);
        int r;

        /* --bind-address may list several addresses (e.g. loopback and a lab bridge): the first
         * is served by srv->mhd, each further one by a daemon of its own with the same handlers. */
        enum { MAX_EXTRA_BINDS = 3 };
        struct sockaddr_in sa, extra_sa[MAX_EXTRA_BINDS];
        struct MHD_Daemon *extra_mhd[MAX_EXTRA_BINDS] = { NULL };
        int nextra = 0;
        {
                char *addrs = k8c_xstrdup(srv->cfg.bind_address);
                char *save = NULL;
                char *first = strtok_r(addrs, ",", &save);
                r = parse_addr(first != NULL ? first : "", srv->cfg.port, &sa, err);
                for (char *a = strtok_r(NULL, ",", &save); r >= 0 && a != NULL;
                     a = strtok_r(NULL, ",", &save)) {
                        if (nextra == MAX_EXTRA_BINDS)
                                r = k8c_make_error(err, K8C_EUSAGE, "at most %d bind addresses",
                                                   MAX_EXTRA_BINDS + 1);
                        else
                                r = parse_addr(a, srv->cfg.port, &extra_sa[nextra++], err);
                }
                free(addrs);
                if (r < 0)
                        return r;
        }

        /* Block the stop signals before any thread starts so only sigwait sees them. */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);

        struct k8c_store_config scfg = {
                .backend = srv->cfg.storage_backend,
                .data_dir = srv->cfg.data_dir,
                .etcd_servers = srv->cfg.etcd_servers,
        };
        r = k8c_store_open(&scfg, &srv->store, err);
        if (r < 0)
                return k8c_error_wrap(err, "opening storage backend %s", srv->cfg.storage_backend);

        k8c_metrics_new(&srv->metrics);
        r = k8c_rest_bootstrap(srv, err);
        if (r < 0) {
                k8c_error_wrap(err, "bootstrapping");
                goto out_store;
        }
        r = k8c_watch_cache_start(srv, err);
        if (r < 0)
                goto out_store;
        r = k8c_event_ttl_start(srv, err);
        if (r < 0)
                goto out_watch;

        unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                             MHD_ALLOW_UPGRADE; /* exec and port-forward (proxy.c) */
        srv->mhd = MHD_start_daemon(
                flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
                on_completed, srv, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)srv->cfg.http_threads,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT,
                (unsigned int)600, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_END);
        for (int i = 0; srv->mhd != NULL && i < nextra; i++) {
                extra_mhd[i] = MHD_start_daemon(
                        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, &extra_sa[i],
                        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_THREAD_POOL_SIZE,
                        (unsigned int)4, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)600,
                        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTENING_ADDRESS_REUSE,
                        (unsigned int)1, MHD_OPTION_END);
                if (extra_mhd[i] == NULL) {
                        MHD_stop_daemon(srv->mhd);
                        srv->mhd = NULL;
                        for (int j = 0; j < i; j++)
                                MHD_stop_daemon(extra_mhd[j]);
                }
        }
        if (srv->mhd == NULL) {
                r = k8c_make_error(err, K8C_EINTERNAL, "cannot listen on %s:%d", srv->cfg.bind_address,
                                   srv->cfg.port);
                goto out_watch;
        }
        srv->ready = 1;
        k8c_log_info("serving", "address=%s port=%d storage=%s", srv->cfg.bind_address, srv->cfg.port,
                     srv->cfg.storage_backend);
        k8c_sd_notify("READY=1");
        k8c_watchdog_start(NULL, NULL);

        int sig = 0;
        while (sigwait(&set, &sig) != 0)
                ;
        k8c_log_info("stopping", "signal=%s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        k8c_sd_notify("STOPPING=1");
        k8c_watchdog_stop();
        srv->stopping = 1;
        atomic_thread_fence(memory_order_seq_cst); /* pairs with the fence in rest.c's queue_create */
        srv->ready = 0;
        /* Stop accepting; then end watches (they resume and finish their streams) and give
         * the streams a moment to flush before the daemon goes. */
        MHD_quiesce_daemon(srv->mhd);
        for (int i = 0; i < nextra; i++)
                MHD_quiesce_daemon(extra_mhd[i]);
        k8c_event_ttl_stop(srv);
        k8c_watch_cache_stop(srv);
        /* Creates still queued in storage hold suspended connections; storage answers them within
         * a commit or two (srv->stopping makes new ones synchronous). */
        for (int i = 0; i < 10000 && atomic_load(&srv->async_pending) > 0; i++) {
                struct timespec ts = { 0, 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        for (int i = 0; i < nextra; i++)
                MHD_stop_daemon(extra_mhd[i]);
        k8c_proxy_stop(srv);
        MHD_stop_daemon(srv->mhd);
        srv->mhd = NULL;
        k8c_watch_cache_free(srv);
        r = 0;
        goto out_store;

out_watch:
        k8c_event_ttl_stop(srv);
        k8c_watch_cache_stop(srv);
        k8c_watch_cache_free(srv);
out_store:
        k8c_store_close(srv->store);
        k8c_metrics_free(srv->metrics);
        k8c_service_index_free(&srv->alloc_index);
        pthread_cond_destroy(&srv->alloc_cond);
        pthread_mutex_destroy(&srv->alloc_lock);
        k8c_strmap_clear(&srv->ns_active);
        pthread_mutex_destroy(&srv->ns_lock);
        return r;
}

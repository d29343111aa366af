/*
 * server.c - the kubelet API on --address:--port (libmicrohttpd, one thread
 * per connection so a followed log may block its own thread only):
 *   GET /healthz                                   "ok"
 *   GET /readyz                                    "ok" once the node is registered and pods listed
 *   GET /metrics                                   Prometheus text: pods, lease and status writes
 *   GET /pods                                      PodList of the pods bound here (informer cache)
 *   GET /containerLogs/<ns>/<pod>/<container>      ?follow ?tailLines ?previous ?limitBytes
 *   GET /stats/summary                             node and pod usage (stats.c), Summary API shape
 *   /exec/..., /portForward/...                    upgrades, served by streaming.c
 *
 * Owns: answering those requests. Must not: change pods or the runtime.
 * Logs are the raw bytes the container wrote, so ?timestamps is accepted but
 * adds nothing (the runtime does not record per-line times yet).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "kubelet/kubelet_int.h"

char *k8c_kubelet_log_path(struct k8c_kubelet *k, const char *ns, const char *pod, const char *uid,
                           const char *container, int restart)
{
        if (k->cfg.log_dir != NULL)
                return k8c_xasprintf("%s/%s_%s_%s/%s/%d.log", k->cfg.log_dir, ns, pod, uid, container,
                                     restart);
        return k8c_xasprintf("%s/logs/%s_%s_%s/%s/%d.log", k->cfg.root_dir, ns, pod, uid, container, restart);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *type, char *body)
{
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        enum MHD_Result r = MHD_queue_response(conn, code, resp);
        MHD_destroy_response(resp);
        return r;
}

/* Prometheus text exposition of the kubelet's counters. */
static char *kubelet_metrics(struct k8c_kubelet *k)
{
        pthread_mutex_lock(&k->lock);
        size_t pods = k8c_strmap_len(&k->pods);
        uint64_t leases = k->lease_renewals, node_writes = k->status_writes,
                 pod_writes = k->pod_status_writes;
        bool runtime_up = k->rt != NULL;
        pthread_mutex_unlock(&k->lock);
        return k8c_xasprintf("# HELP kubelet_running_pods Pods this kubelet is running.\n"
                             "# TYPE kubelet_running_pods gauge\n"
                             "kubelet_running_pods %zu\n"
                             "# HELP kubelet_runtime_up Whether the container runtime is up.\n"
                             "# TYPE kubelet_runtime_up gauge\n"
                             "kubelet_runtime_up %d\n"
                             "# HELP kubelet_ready Whether the pod cache is synced.\n"
                             "# TYPE kubelet_ready gauge\n"
                             "kubelet_ready %d\n"
                             "# HELP kubelet_node_lease_renewals_total Node Lease renewals.\n"
                             "# TYPE kubelet_node_lease_renewals_total counter\n"
                             "kubelet_node_lease_renewals_total %llu\n"
                             "# HELP kubelet_node_status_writes_total Node status writes.\n"
                             "# TYPE kubelet_node_status_writes_total counter\n"
                             "kubelet_node_status_writes_total %llu\n"
                             "# HELP kubelet_pod_status_writes_total Pod status writes.\n"
                             "# TYPE kubelet_pod_status_writes_total counter\n"
                             "kubelet_pod_status_writes_total %llu\n",
                             pods, runtime_up ? 1 : 0, k8c_informer_has_synced(k->informer) ? 1 : 0,
                             (unsigned long long)leases, (unsigned long long)node_writes,
                             (unsigned long long)pod_writes);
}

static enum MHD_Result reply_status(struct MHD_Connection *conn, unsigned code, const char *reason,
                                    const char *msg)
{
        json_auto_t *st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion",
                                    "v1", "metadata", "status", "Failure", "message", msg, "reason", reason,
                                    "code", (int)code);
        return reply(conn, code, "application/json", k8c_json_dumps(st));
}

static bool query_bool(struct MHD_Connection *conn, const char *key)
{
        const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
        return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static long query_long(struct MHD_Connection *conn, const char *key, long def)
{
        const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
        return v != NULL && *v != '\0' ? strtol(v, NULL, 10) : def;
}

/* Byte offset where the last n lines of the file start. */
static off_t tail_offset(int fd, long n)
{
        off_t end = lseek(fd, 0, SEEK_END);
        if (n < 0 || end <= 0)
                return 0;
        if (n == 0)
                return end;
        long lines = 0;
        char buf[4096];
        off_t pos = end;
        /* A final newline ends the last line rather than starting a new one. */
        bool skip_last_nl = true;
        while (pos > 0) {
                size_t chunk = pos > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;
                pos -= (off_t)chunk;
                if (pread(fd, buf, chunk, pos) != (ssize_t)chunk)
                        return 0;
                for (size_t i = chunk; i-- > 0;) {
                        if (buf[i] != '\n')
                                continue;
                        if (skip_last_nl && pos + (off_t)i == end - 1) {
                                skip_last_nl = false;
                                continue;
                        }
                        if (++lines == n)
                                return pos + (off_t)i + 1;
                }
                skip_last_nl = false;
        }
        return 0;
}

struct log_stream {
        struct k8c_kubelet *k;
        int fd;
        off_t off;
        long limit; /* bytes left, <0 = unlimited */
        bool follow;
        char *key, *container;
};

static bool container_running(struct log_stream *s)
{
        json_auto_t *pod = k8c_informer_get(s->k->informer, s->key);
        if (pod == NULL || s->k->rt_ops == NULL)
                return false;
        struct k8c_container_state st;
        if (s->k->rt_ops->container_status(s->k->rt, pod, s->container, &st, NULL) < 0)
                return false;
        return st.phase == K8C_CONTAINER_RUNNING;
}

static ssize_t log_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct log_stream *s = cls;
        if (s->limit == 0)
                return MHD_CONTENT_READER_END_OF_STREAM;
        if (s->limit > 0 && (long)max > s->limit)
                max = (size_t)s->limit;
        for (;;) {
                ssize_t n = pread(s->fd, buf, max, s->off);
                if (n > 0) {
                        s->off += n;
                        if (s->limit > 0)
                                s->limit -= n;
                        return n;
                }
                if (n < 0)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                /* At the end: a follower waits for more while the container runs. */
                bool stopping;
                pthread_mutex_lock(&s->k->lock);
                stopping = s->k->stopping;
                pthread_mutex_unlock(&s->k->lock);
                if (!s->follow || stopping)
                        return MHD_CONTENT_READER_END_OF_STREAM;
                if (!container_running(s)) {
                        /* It may have written its last words between our read and its exit:
                         * one more read before the end. */
                        s->follow = false;
                        continue;
                }
                usleep(200 * 1000);
        }
}

static void log_free(void *cls)
{
        struct log_stream *s = cls;
        close(s->fd);
        free(s->key);
        free(s->container);
        free(s);
}

static enum MHD_Result container_logs(struct k8c_kubelet *k, struct MHD_Connection *conn, const char *rest)
{
        cleanup_free char *copy = k8c_xstrdup(rest);
        char *save = NULL;
        char *ns = strtok_r(copy, "/", &save);
        char *name = ns ? strtok_r(NULL, "/", &save) : NULL;
        char *container = name ? strtok_r(NULL, "/", &save) : NULL;
        if (container == NULL || strtok_r(NULL, "/", &save) != NULL)
                return reply_status(conn, 400, "BadRequest",
                                    "expected /containerLogs/<namespace>/<pod>/<container>");
        cleanup_free char *key = k8c_xasprintf("%s/%s", ns, name);
        json_auto_t *pod = k8c_informer_get(k->informer, key);
        if (pod == NULL) {
                cleanup_free char *msg = k8c_xasprintf("pod %s not found on this node", key);
                return reply_status(conn, 404, "NotFound", msg);
        }
        int restarts = -1;
        pthread_mutex_lock(&k->lock);
        struct kubelet_pod *rec = NULL;
        if (k8c_strmap_get(&k->pods, key, (void **)&rec))
                for (size_t i = 0; i < rec->ncontainers; i++)
                        if (strcmp(rec->containers[i].name, container) == 0)
                                restarts = rec->containers[i].restarts;
        pthread_mutex_unlock(&k->lock);
        if (restarts < 0) {
                cleanup_free char *msg =
                        k8c_xasprintf("container %s is not valid for pod %s", container, name);
                return reply_status(conn, 400, "BadRequest", msg);
        }
        bool previous = query_bool(conn, "previous");
        if (previous && restarts == 0) {
                cleanup_free char *msg = k8c_xasprintf(
                        "previous terminated container \"%s\" in pod \"%s\" not found", container, name);
                return reply_status(conn, 400, "BadRequest", msg);
        }
        cleanup_free char *path =
                k8c_kubelet_log_path(k, ns, name, k8c_json_get_string(pod, "metadata.uid") ?: "", container,
                                     previous ? restarts - 1 : restarts);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                cleanup_free char *msg = k8c_xasprintf("no logs for container %s of pod %s", container, key);
                return reply_status(conn, 404, "NotFound", msg);
        }
        struct log_stream *s = k8c_xcalloc(1, sizeof(*s));
        s->k = k;
        s->fd = fd;
        s->off = tail_offset(fd, query_long(conn, "tailLines", -1));
        s->limit = query_long(conn, "limitBytes", -1);
        s->follow = !previous && query_bool(conn, "follow");
        s->key = k8c_steal(&key);
        s->container = k8c_xstrdup(container);
        struct MHD_Response *resp =
                MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, log_read, s, log_free);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
        enum MHD_Result r = MHD_queue_response(conn, 200, resp);
        MHD_destroy_response(resp);
        return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
        struct k8c_kubelet *k = cls;
        if (*con_cls == NULL) {
                *con_cls = (void *)1; /* headers first; the body (none expected) comes after */
                return MHD_YES;
        }
        if (*upload_size > 0) {
                *upload_size = 0;
                return MHD_YES;
        }
        int streamed = k8c_kubelet_stream_request(k, conn, url);
        if (streamed >= 0)
                return (enum MHD_Result)streamed;
        if (strcmp(method, "GET") != 0)
                return reply_status(conn, 405, "MethodNotAllowed", "only GET is served");
        if (strcmp(url, "/healthz") == 0)
                return reply(conn, 200, "text/plain", k8c_xstrdup("ok"));
        if (strcmp(url, "/readyz") == 0) {
                if (k8c_informer_has_synced(k->informer))
                        return reply(conn, 200, "text/plain", k8c_xstrdup("ok"));
                return reply(conn, 503, "text/plain", k8c_xstrdup("pods not listed yet\n"));
        }
        if (strcmp(url, "/metrics") == 0)
                return reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", kubelet_metrics(k));
        if (strcmp(url, "/pods") == 0 || strcmp(url, "/pods/") == 0) {
                json_t *items = k8c_informer_list(k->informer);
                json_auto_t *list = json_pack("{s:s, s:s, s:{}, s:o}", "kind", "PodList", "apiVersion", "v1",
                                              "metadata", "items", items);
                return reply(conn, 200, "application/json", k8c_json_dumps(list));
        }
        if (strncmp(url, "/containerLogs/", 15) == 0)
                return container_logs(k, conn, url + 15);
        if (strcmp(url, "/stats/summary") == 0 || strcmp(url, "/stats/summary/") == 0) {
                json_auto_t *summary = k8c_kubelet_stats_summary(k);
                if (summary == NULL)
                        return reply_status(conn, 503, "ServiceUnavailable", "no stats sampled yet");
                return reply(conn, 200, "application/json", k8c_json_dumps(summary));
        }
        return reply_status(conn, 404, "NotFound", "the server could not find the requested resource");
}

int k8c_kubelet_server_start(struct k8c_kubelet *k, k8c_error_t *err)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)k->cfg.port) };
        const char *addr = k->cfg.address;
        if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
                return k8c_make_error(err, K8C_EINVALID, "invalid --address %s", addr);
        k->server = MHD_start_daemon(
                MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_UPGRADE, 0, NULL,
                NULL, on_request, k, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_LISTENING_ADDRESS_REUSE,
                (unsigned int)1, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)600, MHD_OPTION_END);
        if (k->server == NULL)
                return k8c_make_error(err, K8C_EINTERNAL, "cannot listen on %s:%d", addr, k->cfg.port);
        return 0;
}

void k8c_kubelet_server_stop(struct k8c_kubelet *k)
{
        if (k->server != NULL) {
                k8c_kubelet_streams_stop(k);
                MHD_stop_daemon(k->server);
        }
        k->server = NULL;
}

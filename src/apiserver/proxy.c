/*
 * proxy.c - pods/{name}/log, pods/{name}/exec and pods/{name}/portforward:
 * checks the pod (exists, scheduled, container valid, not finished), finds
 * its node's kubelet (status.addresses InternalIP and
 * status.daemonEndpoints.kubeletEndpoint.Port) and forwards the request
 * there, Kubernetes' UpgradeAwareHandler style:
 *   - log: a plain GET /containerLogs/...; the body is streamed back as it
 *     comes (a reader thread fills a buffer; the MHD connection suspends
 *     while it is empty), never buffered whole.
 *   - exec, portforward: the client's upgrade request (WebSocket or
 *     SPDY/3.1) is replayed to /exec/... or /portForward/...; the kubelet's
 *     101 and its protocol headers go back to the client, then one thread
 *     per session copies bytes both ways until both sides close. A non-101
 *     answer (a Status) is passed through as is.
 *
 * Owns: the kubelet connections and relay threads. Must not: touch storage
 * other than reading the pod and its node, or parse the streams it relays.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/log.h"
#include "k8c/websocket.h"

#define RELAY_CHUNK 65536
#define BODY_HIGH_WATER (1u << 20)

/* ---- relays of upgraded connections ---- */

struct relay {
        struct k8c_apiserver *srv;
        int kubelet; /* socket to the kubelet */
        int client;  /* the client's socket, from MHD */
        struct MHD_UpgradeResponseHandle *urh;
        struct k8c_bytebuf to_client; /* kubelet bytes read past its 101 */
        struct k8c_bytebuf to_kubelet;
        struct relay *next;
};

static pthread_mutex_t relays_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t relays_cond = PTHREAD_COND_INITIALIZER;
static struct relay *relays;

static void *relay_main(void *opaque)
{
        struct relay *r = opaque;
        int fds[2] = { r->client, r->kubelet };
        bool open_in[2] = { true, true }; /* still reading from fds[i] */
        if (k8c_write_all(r->client, k8c_bytebuf_head(&r->to_client), k8c_bytebuf_size(&r->to_client)) < 0 ||
            k8c_write_all(r->kubelet, k8c_bytebuf_head(&r->to_kubelet), k8c_bytebuf_size(&r->to_kubelet)) < 0)
                open_in[0] = open_in[1] = false;
        uint8_t *buf = k8c_xmalloc(RELAY_CHUNK);
        while (open_in[0] || open_in[1]) {
                struct pollfd p[2];
                nfds_t n = 0;
                int idx[2];
                for (int i = 0; i < 2; i++)
                        if (open_in[i]) {
                                idx[n] = i;
                                p[n++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
                        }
                if (poll(p, n, 1000) < 0 && errno != EINTR)
                        break;
                for (nfds_t j = 0; j < n; j++) {
                        if (!(p[j].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        int i = idx[j];
                        ssize_t got = recv(fds[i], buf, RELAY_CHUNK, 0);
                        if (got < 0 && (errno == EAGAIN || errno == EINTR))
                                continue;
                        if (got <= 0) {
                                /* One side finished sending: pass the half-close on. */
                                open_in[i] = false;
                                shutdown(fds[1 - i], SHUT_WR);
                                if (got < 0)
                                        open_in[0] = open_in[1] = false;
                                continue;
                        }
                        if (k8c_write_all(fds[1 - i], buf, (size_t)got) < 0)
                                open_in[0] = open_in[1] = false;
                }
        }
        free(buf);
        close(r->kubelet);
        MHD_upgrade_action(r->urh, MHD_UPGRADE_ACTION_CLOSE);
        pthread_mutex_lock(&relays_lock);
        for (struct relay **pp = &relays; *pp != NULL; pp = &(*pp)->next)
                if (*pp == r) {
                        *pp = r->next;
                        break;
                }
        pthread_cond_broadcast(&relays_cond);
        pthread_mutex_unlock(&relays_lock);
        k8c_bytebuf_free(&r->to_client);
        k8c_bytebuf_free(&r->to_kubelet);
        free(r);
        return NULL;
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
        struct relay *r = cls;
        r->client = sock;
        r->urh = urh;
        k8c_bytebuf_append(&r->to_kubelet, extra_in, extra_in_size);
        int fl = fcntl(sock, F_GETFL);
        if (fl >= 0)
                fcntl(sock, F_SETFL, fl | O_NONBLOCK);
        pthread_mutex_lock(&relays_lock);
        r->next = relays;
        relays = r;
        pthread_mutex_unlock(&relays_lock);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t t;
        if (pthread_create(&t, &attr, relay_main, r) != 0)
                relay_main(r);
        pthread_attr_destroy(&attr);
}

void k8c_proxy_stop(struct k8c_apiserver *srv)
{
        pthread_mutex_lock(&relays_lock);
        for (int round = 0; round < 50; round++) {
                bool any = false;
                for (struct relay *r = relays; r != NULL; r = r->next)
                        if (r->srv == srv) {
                                any = true;
                                shutdown(r->kubelet, SHUT_RDWR);
                                shutdown(r->client, SHUT_RDWR);
                        }
                if (!any)
                        break;
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 100 * 1000 * 1000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&relays_cond, &relays_lock, &ts);
        }
        pthread_mutex_unlock(&relays_lock);
}

/* ---- streamed bodies (logs) ---- */

struct body {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct MHD_Connection *conn;
        int fd;
        struct k8c_bytebuf buf;
        bool eof, suspended, stopping;
        pthread_t thread;
};

static void *body_main(void *opaque)
{
        struct body *b = opaque;
        uint8_t *chunk = k8c_xmalloc(RELAY_CHUNK);
        for (;;) {
                pthread_mutex_lock(&b->lock);
                while (!b->stopping && k8c_bytebuf_size(&b->buf) >= BODY_HIGH_WATER)
                        pthread_cond_wait(&b->cond, &b->lock);
                bool stop = b->stopping;
                pthread_mutex_unlock(&b->lock);
                if (stop)
                        break;
                ssize_t n = recv(b->fd, chunk, RELAY_CHUNK, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                pthread_mutex_lock(&b->lock);
                if (n > 0)
                        k8c_bytebuf_append(&b->buf, chunk, (size_t)n);
                else
                        b->eof = true;
                if (b->suspended && !b->stopping) {
                        b->suspended = false;
                        MHD_resume_connection(b->conn);
                }
                pthread_mutex_unlock(&b->lock);
                if (n <= 0)
                        break;
        }
        free(chunk);
        return NULL;
}

static ssize_t body_read(void *cls, uint64_t pos, char *out, size_t max)
{
        struct body *b = cls;
        pthread_mutex_lock(&b->lock);
        ssize_t r;
        size_t have = k8c_bytebuf_size(&b->buf);
        if (have > 0) {
                size_t n = have < max ? have : max;
                memcpy(out, k8c_bytebuf_head(&b->buf), n);
                k8c_bytebuf_consume(&b->buf, n);
                pthread_cond_signal(&b->cond);
                r = (ssize_t)n;
        } else if (b->eof) {
                r = MHD_CONTENT_READER_END_OF_STREAM;
        } else {
                b->suspended = true;
                MHD_suspend_connection(b->conn);
                r = 0;
        }
        pthread_mutex_unlock(&b->lock);
        return r;
}

static void body_free(void *cls)
{
        struct body *b = cls;
        pthread_mutex_lock(&b->lock);
        b->stopping = true;
        pthread_cond_signal(&b->cond);
        pthread_mutex_unlock(&b->lock);
        shutdown(b->fd, SHUT_RDWR);
        pthread_join(b->thread, NULL);
        close(b->fd);
        k8c_bytebuf_free(&b->buf);
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->cond);
        free(b);
}

/* ---- the kubelet side ---- */

static int connect_kubelet(const char *ip, int port, k8c_error_t *err)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
                return k8c_make_error(err, K8C_EINTERNAL, "invalid kubelet address %s", ip);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return k8c_make_errno(err, errno, "socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                int e = errno;
                close(fd);
                return k8c_make_error(err, K8C_EUNAVAILABLE, "error dialing backend: dial tcp %s:%d: %s", ip,
                                      port, strerror(e));
        }
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int so = 0;
        socklen_t len = sizeof(so);
        if (poll(&p, 1, 5000) <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len) < 0 || so != 0) {
                close(fd);
                return k8c_make_error(err, K8C_EUNAVAILABLE, "error dialing backend: dial tcp %s:%d: %s", ip,
                                      port, so != 0 ? strerror(so) : "timeout");
        }
        return fd;
}

/* Reads the kubelet's response head; bytes past it stay in *rest. */
static int read_head(int fd, int *ret_code, char **ret_head, struct k8c_bytebuf *rest, k8c_error_t *err)
{
        struct k8c_bytebuf in = { 0 };
        for (int waited = 0; waited < 10000;) {
                ssize_t n = k8c_http_head_parse(in.data, in.len, ret_code, ret_head);
                if (n < 0) {
                        k8c_bytebuf_free(&in);
                        return k8c_make_error(err, K8C_EINTERNAL, "the kubelet sent a malformed response");
                }
                if (n > 0) {
                        k8c_bytebuf_append(rest, in.data + n, in.len - (size_t)n);
                        k8c_bytebuf_free(&in);
                        return 0;
                }
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int pr = poll(&p, 1, 100);
                if (pr == 0) {
                        waited += 100;
                        continue;
                }
                uint8_t buf[4096];
                ssize_t got = recv(fd, buf, sizeof(buf), 0);
                if (got < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (got <= 0)
                        break;
                k8c_bytebuf_append(&in, buf, (size_t)got);
        }
        k8c_bytebuf_free(&in);
        return k8c_make_error(err, K8C_EUNAVAILABLE, "no answer from the kubelet");
}

static void url_escape(struct k8c_bytebuf *b, const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        for (; *s != '\0'; s++) {
                unsigned char c = (unsigned char)*s;
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == '~') {
                        k8c_bytebuf_append(b, s, 1);
                } else {
                        char e[3] = { '%', hex[c >> 4], hex[c & 15] };
                        k8c_bytebuf_append(b, e, 3);
                }
        }
}

static enum MHD_Result add_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        struct k8c_bytebuf *b = cls;
        k8c_bytebuf_append(b, b->len == 0 ? "?" : "&", 1);
        url_escape(b, key);
        if (value != NULL) {
                k8c_bytebuf_append(b, "=", 1);
                url_escape(b, value);
        }
        return MHD_YES;
}

/* Headers of an upgrade request passed to the kubelet (all values, in order). */
static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        static const char *const pass[] = { "Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
                                            "Sec-WebSocket-Protocol", "X-Stream-Protocol-Version" };
        struct k8c_bytebuf *b = cls;
        for (size_t i = 0; i < K8C_ARRAY_SIZE(pass); i++)
                if (strcasecmp(key, pass[i]) == 0 && value != NULL) {
                        cleanup_free char *line = k8c_xasprintf("%s: %s\r\n", pass[i], value);
                        k8c_bytebuf_append(b, line, strlen(line));
                }
        return MHD_YES;
}

/* ---- the request ---- */

static bool is_stream_sub(const char *sub)
{
        return strcmp(sub, "log") == 0 || strcmp(sub, "exec") == 0 || strcmp(sub, "portforward") == 0;
}

bool k8c_proxy_handles(const struct k8c_target *t)
{
        return t->sub != NULL && t->name != NULL && t->res->group[0] == '\0' &&
               strcmp(t->res->plural, "pods") == 0 && is_stream_sub(t->sub);
}

static int load_json(struct k8c_apiserver *srv, const char *plural, const char *ns, const char *name,
                     json_t **ret, k8c_error_t *err)
{
        const struct k8c_resource *res = k8c_resource_find("", "v1", plural);
        cleanup_free char *key = k8c_rest_key(res, ns, name);
        struct k8c_kv kv = { 0 };
        int r = k8c_store_get(srv->store, key, &kv, err);
        if (r >= 0)
                r = k8c_rest_decode(&kv, ret, err);
        k8c_kv_free(&kv);
        return r;
}

static json_t *find_container(const json_t *pod, const char *name)
{
        const char *lists[] = { "containers", "initContainers", "ephemeralContainers" };
        for (size_t l = 0; l < K8C_ARRAY_SIZE(lists); l++) {
                json_t *cs = json_object_get(json_object_get(pod, "spec"), lists[l]);
                size_t i;
                json_t *c;
                json_array_foreach(cs, i, c)
                {
                        const char *n = json_string_value(json_object_get(c, "name"));
                        if (n != NULL && strcmp(n, name) == 0)
                                return c;
                }
        }
        return NULL;
}

static void fail(struct k8c_req *req, k8c_reason_t reason, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void fail(struct k8c_req *req, k8c_reason_t reason, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        cleanup_free char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        k8c_req_fail_msg(req, reason, msg != NULL ? msg : "error");
}

void k8c_proxy_handle(struct k8c_req *req, const struct k8c_target *t)
{
        bool log = strcmp(t->sub, "log") == 0;
        bool exec = strcmp(t->sub, "exec") == 0;
        const char *m = req->method;
        req->verb = strcmp(m, "GET") == 0 ? "GET" : "CONNECT";
        if (!(strcmp(m, "GET") == 0 || (!log && strcmp(m, "POST") == 0))) {
                k8c_req_fail_msg(req, K8C_EMETHODNOTALLOWED,
                                 "the server does not allow this method on the requested resource");
                return;
        }
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *pod = NULL;
        if (load_json(req->srv, "pods", t->ns, t->name, &pod, &err) < 0) {
                if (k8c_error_reason(&err) == K8C_ENOTFOUND) {
                        k8c_error_release(&err);
                        k8c_make_error(&err, K8C_ENOTFOUND, "pods \"%s\" not found", t->name);
                }
                k8c_req_fail(req, &err, t->name, "", "pods", NULL);
                return;
        }
        /* The container: named, or the only one. */
        const char *container = k8c_req_query(req, "container");
        json_t *containers = json_object_get(json_object_get(pod, "spec"), "containers");
        if ((container == NULL || *container == '\0') && !(t->sub[0] == 'p')) {
                if (json_array_size(containers) == 1) {
                        container = json_string_value(json_object_get(json_array_get(containers, 0), "name"));
                } else {
                        struct k8c_bytebuf names = { 0 };
                        size_t i;
                        json_t *c;
                        json_array_foreach(containers, i, c)
                        {
                                const char *n = json_string_value(json_object_get(c, "name"));
                                if (i > 0)
                                        k8c_bytebuf_append(&names, " ", 1);
                                k8c_bytebuf_append(&names, n ? n : "", n ? strlen(n) : 0);
                        }
                        k8c_bytebuf_append(&names, "", 1);
                        fail(req, K8C_EBADREQUEST,
                             "a container name must be specified for pod %s, choose one of: [%s]", t->name,
                             (const char *)names.data);
                        k8c_bytebuf_free(&names);
                        return;
                }
        }
        if (container != NULL && t->sub[0] != 'p' && find_container(pod, container) == NULL) {
                fail(req, K8C_EBADREQUEST, "container %s is not valid for pod %s", container, t->name);
                return;
        }
        const char *node = k8c_json_get_string(pod, "spec.nodeName");
        if (node == NULL || *node == '\0') {
                fail(req, K8C_EBADREQUEST, "pod %s does not have a host assigned", t->name);
                return;
        }
        const char *phase = k8c_json_get_string(pod, "status.phase");
        if (!log && phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)) {
                if (exec)
                        fail(req, K8C_EBADREQUEST,
                             "cannot exec into a container in a completed pod; current phase is %s", phase);
                else
                        fail(req, K8C_EBADREQUEST,
                             "cannot port-forward to a completed pod; current phase is %s", phase);
                return;
        }
        json_auto_t *nodeobj = NULL;
        if (load_json(req->srv, "nodes", NULL, node, &nodeobj, &err) < 0) {
                k8c_error_release(&err);
                fail(req, K8C_EUNAVAILABLE, "node \"%s\" not found: cannot reach its kubelet", node);
                return;
        }
        const char *ip = NULL;
        size_t i;
        json_t *a;
        json_array_foreach(k8c_json_get(nodeobj, "status.addresses"), i, a)
        {
                const char *type = json_string_value(json_object_get(a, "type"));
                if (type != NULL && strcmp(type, "InternalIP") == 0 && ip == NULL)
                        ip = json_string_value(json_object_get(a, "address"));
        }
        json_int_t port =
                json_integer_value(k8c_json_get(nodeobj, "status.daemonEndpoints.kubeletEndpoint.Port"));
        if (ip == NULL || port <= 0 || port > 65535) {
                fail(req, K8C_EUNAVAILABLE, "node \"%s\" reports no kubelet address (InternalIP and port)",
                     node);
                return;
        }

        /* The kubelet's path and our query, re-encoded. */
        struct k8c_bytebuf path = { 0 };
        cleanup_free char *base = log    ? k8c_xasprintf("/containerLogs/%s/%s/%s", t->ns, t->name, container)
                                  : exec ? k8c_xasprintf("/exec/%s/%s/%s", t->ns, t->name, container)
                                         : k8c_xasprintf("/portForward/%s/%s", t->ns, t->name);
        struct k8c_bytebuf query = { 0 };
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, add_query, &query);
        k8c_bytebuf_append(&path, base, strlen(base));
        k8c_bytebuf_append(&path, query.data, query.len);
        k8c_bytebuf_append(&path, "", 1);
        k8c_bytebuf_free(&query);

        bool upgrade = !log && k8c_req_header(req, "Upgrade") != NULL;
        struct k8c_bytebuf rq = { 0 };
        cleanup_free char *line =
                k8c_xasprintf("%s %s HTTP/%s\r\nHost: %s:%d\r\n", upgrade ? m : "GET",
                              (const char *)path.data, upgrade ? "1.1" : "1.0", ip, (int)port);
        k8c_bytebuf_free(&path);
        k8c_bytebuf_append(&rq, line, strlen(line));
        if (upgrade) {
                k8c_bytebuf_append(&rq, "Connection: Upgrade\r\n", 21);
                MHD_get_connection_values(req->conn, MHD_HEADER_KIND, add_header, &rq);
        }
        k8c_bytebuf_append(&rq, "\r\n", 2);

        int fd = connect_kubelet(ip, (int)port, &err);
        if (fd < 0) {
                k8c_bytebuf_free(&rq);
                k8c_req_fail(req, &err, NULL, NULL, NULL, NULL);
                return;
        }
        int code = 0;
        cleanup_free char *head = NULL;
        struct k8c_bytebuf rest = { 0 };
        int r = k8c_write_all(fd, rq.data, rq.len) < 0
                        ? k8c_make_error(&err, K8C_EUNAVAILABLE, "cannot send the request to the kubelet")
                        : read_head(fd, &code, &head, &rest, &err);
        k8c_bytebuf_free(&rq);
        if (r < 0) {
                close(fd);
                k8c_bytebuf_free(&rest);
                k8c_req_fail(req, &err, NULL, NULL, NULL, NULL);
                return;
        }
        if (upgrade && code == 101) {
                struct relay *rl = k8c_xcalloc(1, sizeof(*rl));
                rl->srv = req->srv;
                rl->kubelet = fd;
                rl->client = -1;
                rl->to_client = rest;
                struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgrade, rl);
                static const char *const echo[] = { "Upgrade", "Sec-WebSocket-Accept",
                                                    "Sec-WebSocket-Protocol", "X-Stream-Protocol-Version" };
                for (size_t h = 0; h < K8C_ARRAY_SIZE(echo); h++) {
                        cleanup_free char *v = k8c_http_head_get(head, echo[h]);
                        if (v != NULL)
                                MHD_add_response_header(resp, echo[h], v);
                }
                req->code = 101;
                req->stream = resp;
                return;
        }
        /* A refusal with a length (a Status): read it and answer with it. */
        cleanup_free char *clen = k8c_http_head_get(head, "Content-Length");
        if (clen != NULL) {
                size_t want = (size_t)strtoul(clen, NULL, 10);
                for (int waited = 0; k8c_bytebuf_size(&rest) < want && want < (1u << 20) && waited < 10000;) {
                        struct pollfd p = { .fd = fd, .events = POLLIN };
                        if (poll(&p, 1, 100) == 0) {
                                waited += 100;
                                continue;
                        }
                        uint8_t buf[4096];
                        ssize_t got = recv(fd, buf, sizeof(buf), 0);
                        if (got < 0 && (errno == EAGAIN || errno == EINTR))
                                continue;
                        if (got <= 0)
                                break;
                        k8c_bytebuf_append(&rest, buf, (size_t)got);
                }
                close(fd);
                size_t n = k8c_bytebuf_size(&rest) < want ? k8c_bytebuf_size(&rest) : want;
                cleanup_free char *ctype = k8c_http_head_get(head, "Content-Type");
                req->code = code;
                free(req->reply_text);
                req->reply_text = k8c_xstrndup((const char *)k8c_bytebuf_head(&rest), n);
                req->content_type = ctype != NULL && strncmp(ctype, "application/json", 16) == 0
                                            ? "application/json"
                                            : "text/plain; charset=utf-8";
                k8c_bytebuf_free(&rest);
                return;
        }
        /* Anything else (logs): the kubelet's status and body, streamed. */
        struct body *b = k8c_xcalloc(1, sizeof(*b));
        pthread_mutex_init(&b->lock, NULL);
        pthread_cond_init(&b->cond, NULL);
        b->conn = req->conn;
        b->fd = fd;
        b->buf = rest;
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
                fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        if (pthread_create(&b->thread, NULL, body_main, b) != 0) {
                close(fd);
                k8c_bytebuf_free(&b->buf);
                free(b);
                k8c_req_fail_msg(req, K8C_EINTERNAL, "cannot start the log relay");
                return;
        }
        struct MHD_Response *resp =
                MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, body_read, b, body_free);
        cleanup_free char *ctype = k8c_http_head_get(head, "Content-Type");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype != NULL ? ctype : "text/plain");
        req->code = code;
        req->stream = resp;
}

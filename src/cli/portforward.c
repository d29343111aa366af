/*
 * portforward.c - `k8cctl port-forward [pod/]NAME [LOCAL:]REMOTE... [--address A]`:
 * listens on A (default localhost = 127.0.0.1) and carries each accepted
 * connection over one SPDY/3.1 session to pods/NAME/portforward, tunnelled
 * in WebSocket (SPDY/3.1+portforward.k8s.io) as kubectl 1.32 does, or after
 * a direct "Upgrade: SPDY/3.1" when the server refuses the WebSocket.
 * Per connection: an error stream and a data stream (headers streamtype,
 * port, requestid); local bytes become DATA, the local end a FIN; DATA from
 * the pod goes back; the pod's FIN ends the connection. Runs until
 * interrupted (exit 0) or the session ends (error).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k8c/bytebuf.h"
#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"
#include "k8c/spdy.h"
#include "k8c/websocket.h"

#define MAX_PORTS 16

struct fwd_port {
        int local, remote;
        int listen_fd;
};

struct fwd_conn {
        int fd;
        int remote;
        uint32_t err_id, data_id;
        struct k8c_bytebuf to_local;
        bool local_eof, remote_fin, dead;
        struct fwd_conn *next;
};

struct fwd {
        struct k8c_cli *cli;
        struct k8c_spdy *spdy;
        struct k8c_ws *ws; /* NULL on a direct SPDY connection */
        struct k8c_bytebuf spdy_out, raw_out;
        struct fwd_conn *conns;
        uint32_t next_id;
        unsigned next_request;
        bool broken;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
        interrupted = 1;
}

static struct fwd_conn *find(struct fwd *f, uint32_t id)
{
        for (struct fwd_conn *c = f->conns; c != NULL; c = c->next)
                if (c->err_id == id || c->data_id == id)
                        return c;
        return NULL;
}

static int on_frame(void *opaque, const struct k8c_spdy_frame *fr, k8c_error_t *err)
{
        struct fwd *f = opaque;
        struct fwd_conn *c = find(f, fr->stream_id);
        switch (fr->type) {
        case K8C_SPDY_DATA:
                if (c == NULL)
                        return 0;
                if (fr->stream_id == c->data_id) {
                        k8c_bytebuf_append(&c->to_local, fr->data, fr->len);
                        if (fr->flags & K8C_SPDY_FLAG_FIN)
                                c->remote_fin = true;
                } else if (fr->len > 0) {
                        fprintf(f->cli->errout, "E: an error occurred forwarding %d: %.*s\n", c->remote,
                                (int)fr->len, (const char *)fr->data);
                        c->remote_fin = true;
                }
                return 0;
        case K8C_SPDY_RST_STREAM:
                if (c != NULL)
                        c->remote_fin = c->dead = true;
                return 0;
        case K8C_SPDY_PING: k8c_spdy_ping(&f->spdy_out, fr->ping_id); return 0;
        case K8C_SPDY_GOAWAY: f->broken = true; return 0;
        default: return 0;
        }
}

static void on_ws(void *opaque, uint8_t op, const uint8_t *d, size_t n)
{
        struct fwd *f = opaque;
        if (op == K8C_WS_OP_CLOSE) {
                f->broken = true;
                return;
        }
        cleanup_error k8c_error_t err = NULL;
        if (k8c_spdy_feed(f->spdy, d, n, on_frame, f, &err) < 0)
                f->broken = true;
}

static void feed(struct fwd *f, const uint8_t *d, size_t n)
{
        if (f->ws != NULL) {
                if (k8c_ws_feed(f->ws, d, n, NULL) < 0)
                        f->broken = true;
                return;
        }
        cleanup_error k8c_error_t err = NULL;
        if (k8c_spdy_feed(f->spdy, d, n, on_frame, f, &err) < 0)
                f->broken = true;
}

static struct k8c_bytebuf *output(struct fwd *f)
{
        if (k8c_bytebuf_size(&f->spdy_out) > 0) {
                if (f->ws != NULL)
                        k8c_ws_send(f->ws, K8C_WS_OP_BINARY, k8c_bytebuf_head(&f->spdy_out),
                                    k8c_bytebuf_size(&f->spdy_out), NULL);
                else
                        k8c_bytebuf_append(&f->raw_out, k8c_bytebuf_head(&f->spdy_out),
                                           k8c_bytebuf_size(&f->spdy_out));
                f->spdy_out.off = f->spdy_out.len = 0;
        }
        return f->ws != NULL ? k8c_ws_output(f->ws) : &f->raw_out;
}

static void open_streams(struct fwd *f, int fd, int remote)
{
        struct fwd_conn *c = k8c_xcalloc(1, sizeof(*c));
        c->fd = fd;
        c->remote = remote;
        char port[16], rid[16];
        snprintf(port, sizeof(port), "%d", remote);
        snprintf(rid, sizeof(rid), "%u", f->next_request++);
        struct k8c_spdy_header eh[] = { { "streamtype", "error" }, { "port", port }, { "requestid", rid } };
        struct k8c_spdy_header dh[] = { { "streamtype", "data" }, { "port", port }, { "requestid", rid } };
        c->err_id = f->next_id;
        c->data_id = f->next_id + 2;
        f->next_id += 4;
        /* We send nothing on the error stream: it is half-closed at once, as kubectl does. */
        if (k8c_spdy_syn_stream(f->spdy, &f->spdy_out, c->err_id, K8C_SPDY_FLAG_FIN, eh, 3, NULL) < 0 ||
            k8c_spdy_syn_stream(f->spdy, &f->spdy_out, c->data_id, 0, dh, 3, NULL) < 0)
                f->broken = true;
        c->next = f->conns;
        f->conns = c;
}

static int parse_ports(char **args, int nargs, struct fwd_port *ports, int *ret_n, k8c_error_t *err)
{
        int n = 0;
        for (int i = 0; i < nargs; i++) {
                if (n == MAX_PORTS)
                        return k8c_make_error(err, K8C_EUSAGE, "error: at most %d ports", MAX_PORTS);
                const char *s = args[i];
                const char *colon = strchr(s, ':');
                char *end = NULL;
                long local = 0, remote;
                if (colon != NULL) {
                        if (colon != s) {
                                local = strtol(s, &end, 10);
                                if (end != colon || local < 0 || local > 65535)
                                        goto bad;
                        }
                        remote = strtol(colon + 1, &end, 10);
                } else {
                        remote = strtol(s, &end, 10);
                        local = remote;
                }
                if (end == NULL || *end != '\0' || remote <= 0 || remote > 65535)
                        goto bad;
                ports[n].local = (int)local;
                ports[n].remote = (int)remote;
                ports[n].listen_fd = -1;
                n++;
                continue;
        bad:
                return k8c_make_error(err, K8C_EUSAGE, "error: invalid port \"%s\"", s);
        }
        *ret_n = n;
        return 0;
}

/* Connects the session: WebSocket first, a direct SPDY upgrade when refused. */
static int connect_session(struct k8c_cli *cli, const char *pod, struct fwd *f, k8c_error_t *err)
{
        cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/%s/pods/%s/portforward", cli->ns, pod);
        cleanup_free char *key = k8c_ws_client_key();
        cleanup_free char *ws_hdrs = k8c_xasprintf("Connection: Upgrade\r\nUpgrade: websocket\r\n"
                                                   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n"
                                                   "Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n",
                                                   key);
        for (int attempt = 0; attempt < 2; attempt++) {
                int code = 0;
                cleanup_free char *head = NULL;
                struct k8c_bytebuf rest = { 0 };
                int fd = attempt == 0
                                 ? k8c_cli_raw_request(cli, "GET", path, ws_hdrs, &code, &head, &rest, err)
                                 : k8c_cli_raw_request(cli, "POST", path,
                                                       "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                                                       "X-Stream-Protocol-Version: portforward.k8s.io\r\n"
                                                       "Content-Length: 0\r\n",
                                                       &code, &head, &rest, err);
                if (fd < 0)
                        return fd;
                if (code == 101) {
                        if (attempt == 0 && k8c_ws_new(false, on_ws, f, &f->ws, err) < 0) {
                                close(fd);
                                k8c_bytebuf_free(&rest);
                                return -1;
                        }
                        feed(f, rest.data, rest.len);
                        k8c_bytebuf_free(&rest);
                        return fd;
                }
                if (attempt == 1 || code < 400 || code == 404 || code == 401 || code == 403) {
                        int r = k8c_cli_raw_error(fd, code, head, &rest, err);
                        k8c_bytebuf_free(&rest);
                        return r;
                }
                close(fd);
                k8c_bytebuf_free(&rest);
        }
        return k8c_make_error(err, K8C_EINTERNAL, "error: cannot upgrade the connection");
}

static int listen_on(const char *address, int port, int *ret_port, k8c_error_t *err)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        const char *a = address == NULL || strcmp(address, "localhost") == 0 ? "127.0.0.1" : address;
        if (inet_pton(AF_INET, a, &sa.sin_addr) != 1)
                return k8c_make_error(err, K8C_EUSAGE, "error: invalid --address %s (an IPv4 address)", a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        socklen_t len = sizeof(sa);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                return k8c_make_error(err, K8C_EINTERNAL, "error: unable to listen on port %d: %s", port,
                                      strerror(e));
        }
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

static void conns_free(struct fwd *f)
{
        while (f->conns != NULL) {
                struct fwd_conn *c = f->conns;
                f->conns = c->next;
                if (c->fd >= 0)
                        close(c->fd);
                k8c_bytebuf_free(&c->to_local);
                free(c);
        }
}

/* svc/NAME, as kubectl resolves it: the first running pod its selector picks (by name), and each
 * service port mapped to its targetPort (a number, or a container port name in that pod). */
static int service_pod(struct k8c_cli *cli, const char *name, struct fwd_port *ports, int nports,
                       char **ret_pod, k8c_error_t *err)
{
        cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/%s/services/%s", cli->ns, name);
        json_auto_t *svc = NULL;
        int r = k8c_cli_request(cli, "GET", path, NULL, NULL, &svc, err);
        if (r < 0)
                return r;
        json_t *sel = k8c_json_get(svc, "spec.selector");
        if (json_object_size(sel) == 0)
                return k8c_make_error(err, K8C_EBADREQUEST,
                                      "error: cannot attach to *v1.Service: invalid service "
                                      "'%s': Service is defined without a selector",
                                      name);
        struct k8c_bytebuf q = { 0 };
        const char *k;
        json_t *v;
        json_object_foreach(sel, k, v)
        {
                if (q.len > 0)
                        k8c_bytebuf_append(&q, "%2C", 3);
                cleanup_free char *kv = k8c_xasprintf("%s%%3D%s", k, json_string_value(v) ?: "");
                k8c_bytebuf_append(&q, kv, strlen(kv));
        }
        k8c_bytebuf_append(&q, "", 1);
        cleanup_free char *list_path =
                k8c_xasprintf("/api/v1/namespaces/%s/pods?labelSelector=%s", cli->ns, (const char *)q.data);
        k8c_bytebuf_free(&q);
        json_auto_t *list = NULL;
        r = k8c_cli_request(cli, "GET", list_path, NULL, NULL, &list, err);
        if (r < 0)
                return r;
        const json_t *best = NULL;
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(list, "items"), i, p)
        {
                const char *phase = k8c_json_get_string(p, "status.phase");
                const char *n = k8c_json_get_string(p, "metadata.name");
                if (phase == NULL || strcmp(phase, "Running") != 0 || n == NULL)
                        continue;
                if (best == NULL || strcmp(n, k8c_json_get_string(best, "metadata.name")) < 0)
                        best = p;
        }
        if (best == NULL)
                return k8c_make_error(err, K8C_EBADREQUEST, "error: no running pods selected by service %s",
                                      name);
        for (int pi = 0; pi < nports; pi++) {
                json_t *sp;
                bool found = false;
                json_array_foreach(k8c_json_get(svc, "spec.ports"), i, sp)
                {
                        if (json_integer_value(json_object_get(sp, "port")) != ports[pi].remote)
                                continue;
                        found = true;
                        json_t *tp = json_object_get(sp, "targetPort");
                        if (json_is_integer(tp)) {
                                ports[pi].remote = (int)json_integer_value(tp);
                        } else if (json_is_string(tp)) {
                                /* A named port: look it up in the pod's containers. */
                                size_t ci, pj;
                                json_t *c, *cp;
                                int num = -1;
                                json_array_foreach(k8c_json_get(best, "spec.containers"), ci, c)
                                        json_array_foreach(json_object_get(c, "ports"), pj, cp)
                                {
                                        const char *pn = json_string_value(json_object_get(cp, "name"));
                                        if (pn != NULL && strcmp(pn, json_string_value(tp)) == 0)
                                                num = (int)json_integer_value(
                                                        json_object_get(cp, "containerPort"));
                                }
                                if (num <= 0)
                                        return k8c_make_error(err, K8C_EBADREQUEST,
                                                              "error: pod %s has no port named %s",
                                                              k8c_json_get_string(best, "metadata.name"),
                                                              json_string_value(tp));
                                ports[pi].remote = num;
                        }
                }
                if (!found)
                        return k8c_make_error(err, K8C_EBADREQUEST,
                                              "error: Service %s does not have a service port %d", name,
                                              ports[pi].remote);
        }
        *ret_pod = k8c_xstrdup(k8c_json_get_string(best, "metadata.name"));
        return 0;
}

int k8c_cli_port_forward(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        if (nargs < 2)
                return k8c_make_error(err, K8C_EUSAGE,
                                      "error: TYPE/NAME and list of ports are required for port-forward\n"
                                      "See 'k8cctl port-forward -h' for help and examples");
        struct fwd_port ports[MAX_PORTS];
        int nports = 0;
        int r = parse_ports(args + 1, nargs - 1, ports, &nports, err);
        if (r < 0)
                return r;
        json_auto_t *pod = NULL;
        const char *container = NULL;
        const char *slash = strchr(args[0], '/');
        if (slash != NULL && (strncmp(args[0], "svc/", 4) == 0 || strncmp(args[0], "service/", 8) == 0 ||
                              strncmp(args[0], "services/", 9) == 0)) {
                cleanup_free char *pod_name = NULL;
                r = service_pod(cli, slash + 1, ports, nports, &pod_name, err);
                if (r < 0)
                        return r;
                r = k8c_cli_pod_container(cli, pod_name, "port-forward", &pod, &container, err);
        } else {
                r = k8c_cli_pod_container(cli, args[0], "port-forward", &pod, &container, err);
        }
        if (r < 0)
                return r;
        const char *phase = k8c_json_get_string(pod, "status.phase");
        if (phase == NULL || strcmp(phase, "Running") != 0)
                return k8c_make_error(
                        err, K8C_EBADREQUEST,
                        "error: unable to forward port because pod is not running. Current status=%s",
                        phase != NULL ? phase : "Unknown");
        struct fwd f = { .cli = cli, .next_id = 1 };
        if (k8c_spdy_new(&f.spdy, err) < 0)
                return -1;
        int fd = connect_session(cli, k8c_json_get_string(pod, "metadata.name"), &f, err);
        if (fd < 0) {
                k8c_spdy_free(f.spdy);
                k8c_ws_free(f.ws);
                return fd;
        }
        for (int i = 0; i < nports; i++) {
                int bound = 0;
                ports[i].listen_fd = listen_on(cli->address, ports[i].local, &bound, err);
                if (ports[i].listen_fd < 0) {
                        for (int j = 0; j < i; j++)
                                close(ports[j].listen_fd);
                        close(fd);
                        k8c_spdy_free(f.spdy);
                        k8c_ws_free(f.ws);
                        return -1;
                }
                ports[i].local = bound;
                fprintf(cli->out, "Forwarding from %s:%d -> %d\n",
                        cli->address == NULL || strcmp(cli->address, "localhost") == 0 ? "127.0.0.1"
                                                                                       : cli->address,
                        bound, ports[i].remote);
        }
        fflush(cli->out);
        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

        bool lost = false;
        while (!interrupted && !f.broken && !lost) {
                struct k8c_bytebuf *out = output(&f);
                size_t nconns = 0;
                for (struct fwd_conn *c = f.conns; c != NULL; c = c->next)
                        nconns++;
                cleanup_free struct pollfd *p = k8c_xcalloc(1 + (size_t)nports + nconns, sizeof(*p));
                cleanup_free struct fwd_conn **who = k8c_xcalloc(1 + (size_t)nports + nconns, sizeof(*who));
                nfds_t np = 0;
                p[np++] = (struct pollfd){ .fd = fd,
                                           .events = POLLIN | (k8c_bytebuf_size(out) > 0 ? POLLOUT : 0) };
                for (int i = 0; i < nports; i++)
                        p[np++] = (struct pollfd){ .fd = ports[i].listen_fd, .events = POLLIN };
                bool room = k8c_bytebuf_size(out) < (1u << 20);
                for (struct fwd_conn *c = f.conns; c != NULL; c = c->next) {
                        short ev = 0;
                        if (!c->local_eof && room && !c->dead)
                                ev |= POLLIN;
                        if (k8c_bytebuf_size(&c->to_local) > 0)
                                ev |= POLLOUT;
                        who[np] = c;
                        p[np++] = (struct pollfd){ .fd = c->fd, .events = ev };
                }
                if (poll(p, np, 500) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        uint8_t buf[32768];
                        ssize_t n = recv(fd, buf, sizeof(buf), 0);
                        if (n > 0)
                                feed(&f, buf, (size_t)n);
                        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                                lost = true;
                }
                for (int i = 0; i < nports; i++) {
                        if (!(p[1 + i].revents & POLLIN))
                                continue;
                        int c = accept4(ports[i].listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                        if (c < 0)
                                continue;
                        fprintf(cli->out, "Handling connection for %d\n", ports[i].local);
                        fflush(cli->out);
                        open_streams(&f, c, ports[i].remote);
                }
                for (nfds_t i = 1 + (nfds_t)nports; i < np; i++) {
                        struct fwd_conn *c = who[i];
                        if (c->fd < 0)
                                continue;
                        if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) && !c->local_eof) {
                                uint8_t buf[32768];
                                ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
                                if (n > 0) {
                                        k8c_spdy_data(&f.spdy_out, c->data_id, 0, buf, (size_t)n);
                                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                                        c->local_eof = true;
                                        if (!c->dead)
                                                k8c_spdy_data(&f.spdy_out, c->data_id, K8C_SPDY_FLAG_FIN,
                                                              NULL, 0);
                                }
                        }
                        if ((p[i].revents & POLLOUT) && k8c_bytebuf_size(&c->to_local) > 0) {
                                ssize_t n = send(c->fd, k8c_bytebuf_head(&c->to_local),
                                                 k8c_bytebuf_size(&c->to_local), MSG_NOSIGNAL);
                                if (n > 0)
                                        k8c_bytebuf_consume(&c->to_local, (size_t)n);
                                else if (n < 0 && errno != EAGAIN && errno != EINTR)
                                        c->to_local.off = c->to_local.len = 0, c->dead = true;
                        }
                }
                /* The pod finished: once its bytes are out, the local connection closes. */
                for (struct fwd_conn **pp = &f.conns; *pp != NULL;) {
                        struct fwd_conn *c = *pp;
                        if ((c->remote_fin || c->dead) && k8c_bytebuf_size(&c->to_local) == 0) {
                                if (!c->local_eof && !c->dead)
                                        k8c_spdy_data(&f.spdy_out, c->data_id, K8C_SPDY_FLAG_FIN, NULL, 0);
                                close(c->fd);
                                *pp = c->next;
                                k8c_bytebuf_free(&c->to_local);
                                free(c);
                                continue;
                        }
                        pp = &c->next;
                }
                out = output(&f);
                while (k8c_bytebuf_size(out) > 0) {
                        ssize_t n = send(fd, k8c_bytebuf_head(out), k8c_bytebuf_size(out), MSG_NOSIGNAL);
                        if (n > 0) {
                                k8c_bytebuf_consume(out, (size_t)n);
                                continue;
                        }
                        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                break;
                        lost = true;
                        break;
                }
        }
        for (int i = 0; i < nports; i++)
                close(ports[i].listen_fd);
        conns_free(&f);
        close(fd);
        k8c_bytebuf_free(&f.spdy_out);
        k8c_bytebuf_free(&f.raw_out);
        k8c_ws_free(f.ws);
        k8c_spdy_free(f.spdy);
        if (interrupted)
                return 0;
        return k8c_make_error(err, K8C_EUNAVAILABLE, "error: lost connection to pod");
}

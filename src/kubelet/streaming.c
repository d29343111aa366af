/*
 * streaming.c - exec and port-forward on the kubelet API, reached directly
 * or through the apiserver's proxy (../shared/API.md §5):
 *
 *   /exec/<ns>/<pod>/<container>?command=..&stdin=1&stdout=1&stderr=1&tty=1
 *       WebSocket v5.channel.k8s.io (or v4): channel 0 stdin, 1 stdout,
 *       2 stderr, 3 status (the exit code as a Status), 4 resize, 255 close
 *       stream. The command runs with the runtime's exec_start (runc exec).
 *   /portForward/<ns>/<pod>
 *       SPDY/3.1 over WebSocket (SPDY/3.1+portforward.k8s.io) or over a
 *       direct "Upgrade: SPDY/3.1": per request id an error and a data
 *       stream; data goes to 127.0.0.1:<port> inside the pod's network
 *       namespace (the socket is opened by a thread that joined it).
 *
 * After the 101, each session is one thread polling the client socket and
 * the process pipes / pod sockets. Sessions are registered so stopping the
 * kubelet ends them before the HTTP daemon goes.
 *
 * Owns: sessions, their processes and sockets. Must not: change pods.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/log.h"
#include "k8c/spdy.h"
#include "k8c/websocket.h"
#include "kubelet/kubelet_int.h"

extern char **environ;

/* Stop reading from a source while this much is waiting for the client. */
#define OUT_HIGH_WATER (1u << 20)
#define CHUNK 32768

enum session_kind { SESSION_EXEC, SESSION_PF_WS, SESSION_PF_SPDY };

struct session {
        struct k8c_kubelet *k;
        enum session_kind kind;
        int sock;
        struct MHD_UpgradeResponseHandle *urh;
        struct k8c_bytebuf extra; /* client bytes MHD read past the request */
        json_t *pod;
        char *container;
        char **argv;
        bool want_stdin, want_stdout, want_stderr, tty;
        int version; /* channel protocol: 4 or 5 */
        struct session *next;
};

static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sessions_cond = PTHREAD_COND_INITIALIZER;
static struct session *sessions;

static void session_free(struct session *s)
{
        k8c_bytebuf_free(&s->extra);
        json_decref(s->pod);
        free(s->container);
        k8c_strv_free(s->argv);
        free(s);
}

/* ---- spawning ---- */

int k8c_kubelet_spawn_stdio(const char *const *argv, const int fds[3], const char *tty_path, pid_t *ret_pid,
                            k8c_error_t *err)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        sigset_t none;
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attr, &none);
        sigset_t dfl;
        sigemptyset(&dfl);
        sigaddset(&dfl, SIGPIPE);
        sigaddset(&dfl, SIGWINCH);
        posix_spawnattr_setsigdefault(&attr, &dfl);
        short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
        if (tty_path != NULL) {
                /* A session leader opening a terminal makes it its controlling tty. */
                flags |= POSIX_SPAWN_SETSID;
                posix_spawn_file_actions_addopen(&fa, 0, tty_path, O_RDWR, 0);
                posix_spawn_file_actions_adddup2(&fa, 0, 1);
                posix_spawn_file_actions_adddup2(&fa, 0, 2);
        } else {
                for (int i = 0; i < 3; i++) {
                        if (fds[i] >= 0)
                                posix_spawn_file_actions_adddup2(&fa, fds[i], i);
                        else
                                posix_spawn_file_actions_addopen(&fa, i, "/dev/null",
                                                                 i == 0 ? O_RDONLY : O_WRONLY, 0);
                }
        }
        posix_spawnattr_setflags(&attr, flags);
        pid_t pid = -1;
        int r = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return k8c_make_errno(err, r, "spawn %s", argv[0]);
        *ret_pid = pid;
        return 0;
}

/* ---- socket output ---- */

/* Writes what it can without blocking; negative when the client is gone. */
static int flush_some(int sock, struct k8c_bytebuf *out)
{
        while (k8c_bytebuf_size(out) > 0) {
                ssize_t n = send(sock, k8c_bytebuf_head(out), k8c_bytebuf_size(out), MSG_NOSIGNAL);
                if (n > 0) {
                        k8c_bytebuf_consume(out, (size_t)n);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return 0;
                return -1;
        }
        return 0;
}

/* Blocking flush with a deadline, for the last words of a session. */
static void flush_all(int sock, struct k8c_bytebuf *out, int timeout_ms)
{
        for (int waited = 0; k8c_bytebuf_size(out) > 0 && waited < timeout_ms; waited += 50) {
                if (flush_some(sock, out) < 0)
                        return;
                if (k8c_bytebuf_size(out) > 0) {
                        struct pollfd p = { .fd = sock, .events = POLLOUT };
                        poll(&p, 1, 50);
                }
        }
}

static void set_nonblock(int fd)
{
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
                fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Ends our side and reads (discarding) until the client closes too, for up to 5 s: closing a
 * socket with unread input (stdin still in flight) sends a reset, which can destroy the status
 * and close frame the client has not read yet. */
static void linger_close(int sock)
{
        shutdown(sock, SHUT_WR);
        for (int waited = 0; waited < 5000;) {
                struct pollfd p = { .fd = sock, .events = POLLIN };
                int r = poll(&p, 1, 100);
                if (r == 0) {
                        waited += 100;
                        continue;
                }
                uint8_t buf[16384];
                ssize_t n = recv(sock, buf, sizeof(buf), 0);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (n <= 0)
                        return;
        }
}

/* ---- exec ---- */

struct exec_state {
        struct session *s;
        struct k8c_ws *ws;
        int stdin_fd, master;
        struct k8c_bytebuf to_stdin;
        bool stdin_eof, client_gone;
};

static void exec_resize(struct exec_state *e, const uint8_t *d, size_t n)
{
        if (e->master < 0)
                return;
        json_auto_t *j = json_loadb((const char *)d, n, 0, NULL);
        json_int_t w = json_integer_value(json_object_get(j, "Width"));
        json_int_t h = json_integer_value(json_object_get(j, "Height"));
        if (w <= 0 || h <= 0 || w > 65535 || h > 65535)
                return;
        struct winsize ws = { .ws_row = (unsigned short)h, .ws_col = (unsigned short)w };
        ioctl(e->master, TIOCSWINSZ, &ws);
}

static void exec_on_msg(void *opaque, uint8_t op, const uint8_t *d, size_t n)
{
        struct exec_state *e = opaque;
        if (op == K8C_WS_OP_CLOSE) {
                e->client_gone = true;
                return;
        }
        if (n < 1)
                return;
        switch (d[0]) {
        case 0:
                if ((e->stdin_fd >= 0 || e->master >= 0) && !e->stdin_eof)
                        k8c_bytebuf_append(&e->to_stdin, d + 1, n - 1);
                break;
        case 4: exec_resize(e, d + 1, n - 1); break;
        case 255:
                if (n >= 2 && d[1] == 0)
                        e->stdin_eof = true;
                break;
        }
}

static void send_channel(struct k8c_ws *ws, uint8_t ch, const void *data, size_t len)
{
        cleanup_free uint8_t *m = k8c_xmalloc(len + 1);
        m[0] = ch;
        memcpy(m + 1, data, len);
        k8c_ws_send(ws, K8C_WS_OP_BINARY, m, len + 1, NULL);
}

static void send_status(struct k8c_ws *ws, json_t *st)
{
        cleanup_free char *text = json_dumps(st, JSON_COMPACT);
        send_channel(ws, 3, text, strlen(text));
}

static json_t *failure_status(const char *reason, const char *message)
{
        return json_pack("{s:{}, s:s, s:s, s:s}", "metadata", "status", "Failure", "reason", reason,
                         "message", message);
}

/* Reads one chunk from fd into channel ch; false at EOF or error. */
static bool pump_output(struct exec_state *e, int fd, uint8_t ch)
{
        uint8_t buf[CHUNK + 1];
        for (;;) {
                ssize_t n = read(fd, buf + 1, CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return true;
                if (n <= 0)
                        return false; /* EOF, or EIO once a pty's other side is closed */
                buf[0] = ch;
                k8c_ws_send(e->ws, K8C_WS_OP_BINARY, buf, (size_t)n + 1, NULL);
                return true;
        }
}

static char *command_text(char **argv)
{
        size_t len = 3;
        for (size_t i = 0; argv[i] != NULL; i++)
                len += strlen(argv[i]) + 1;
        char *s = k8c_xcalloc(1, len);
        strcat(s, "[");
        for (size_t i = 0; argv[i] != NULL; i++) {
                if (i > 0)
                        strcat(s, " ");
                strcat(s, argv[i]);
        }
        strcat(s, "]");
        return s;
}

static void exec_session(struct session *s)
{
        struct exec_state e = { .s = s, .stdin_fd = -1, .master = -1 };
        if (k8c_ws_new(true, exec_on_msg, &e, &e.ws, NULL) < 0)
                return;
        struct k8c_kubelet *k = s->k;
        int out_fd = -1, err_fd = -1;
        cleanup_error k8c_error_t err = NULL;
        pid_t pid = -1;
        int child_fds[3] = { -1, -1, -1 };
        char tty_name[128] = "";
        int r = 0;
        if (s->tty) {
                e.master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
                if (e.master < 0 || grantpt(e.master) < 0 || unlockpt(e.master) < 0 ||
                    ptsname_r(e.master, tty_name, sizeof(tty_name)) != 0)
                        r = k8c_make_errno(&err, errno, "cannot allocate a terminal");
                struct winsize wsz = { .ws_row = 24, .ws_col = 80 };
                if (r == 0)
                        ioctl(e.master, TIOCSWINSZ, &wsz);
        } else {
                int p[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
                bool want[3] = { s->want_stdin, s->want_stdout, s->want_stderr };
                for (int i = 0; i < 3 && r == 0; i++)
                        if (want[i] && pipe2(p[i], O_CLOEXEC) < 0)
                                r = k8c_make_errno(&err, errno, "pipe");
                e.stdin_fd = p[0][1];
                child_fds[0] = p[0][0];
                out_fd = p[1][0];
                child_fds[1] = p[1][1];
                err_fd = p[2][0];
                child_fds[2] = p[2][1];
        }
        const struct k8c_runtime_ops *ops = NULL;
        void *rt = NULL;
        pthread_mutex_lock(&k->lock);
        ops = k->rt_ops;
        rt = k->rt;
        pthread_mutex_unlock(&k->lock);
        if (r == 0 && (ops == NULL || ops->exec_start == NULL))
                r = k8c_make_error(&err, K8C_EUNAVAILABLE, "the container runtime is not ready");
        if (r == 0)
                r = ops->exec_start(rt, s->pod, s->container, (const char *const *)s->argv, child_fds,
                                    s->tty ? tty_name : NULL, &pid, &err);
        for (int i = 0; i < 3; i++)
                if (child_fds[i] >= 0)
                        close(child_fds[i]);
        if (e.master >= 0)
                set_nonblock(e.master);
        if (e.stdin_fd >= 0)
                set_nonblock(e.stdin_fd);
        if (out_fd >= 0)
                set_nonblock(out_fd);
        if (err_fd >= 0)
                set_nonblock(err_fd);
        if (s->extra.len > 0)
                k8c_ws_feed(e.ws, s->extra.data, s->extra.len, NULL);

        int status = 0;
        bool exited = r < 0;
        bool gone = false;
        while (!exited && !gone) {
                struct pollfd p[5];
                int np = 0;
                struct k8c_bytebuf *out = k8c_ws_output(e.ws);
                bool room = k8c_bytebuf_size(out) < OUT_HIGH_WATER;
                p[np++] = (struct pollfd){ .fd = s->sock,
                                           .events = POLLIN | (k8c_bytebuf_size(out) > 0 ? POLLOUT : 0) };
                int i_out = -1, i_err = -1, i_in = -1, i_master = -1;
                if (out_fd >= 0 && room) {
                        i_out = np;
                        p[np++] = (struct pollfd){ .fd = out_fd, .events = POLLIN };
                }
                if (err_fd >= 0 && room) {
                        i_err = np;
                        p[np++] = (struct pollfd){ .fd = err_fd, .events = POLLIN };
                }
                if (e.stdin_fd >= 0 && k8c_bytebuf_size(&e.to_stdin) > 0) {
                        i_in = np;
                        p[np++] = (struct pollfd){ .fd = e.stdin_fd, .events = POLLOUT };
                }
                if (e.master >= 0) {
                        i_master = np;
                        p[np++] = (struct pollfd){ .fd = e.master,
                                                   .events = (room ? POLLIN : 0) |
                                                             (k8c_bytebuf_size(&e.to_stdin) > 0 ? POLLOUT
                                                                                                : 0) };
                }
                if (poll(p, (nfds_t)np, 100) < 0 && errno != EINTR)
                        break;
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        uint8_t buf[CHUNK];
                        ssize_t n = recv(s->sock, buf, sizeof(buf), 0);
                        if (n > 0) {
                                if (k8c_ws_feed(e.ws, buf, (size_t)n, NULL) < 0)
                                        gone = true;
                        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                                gone = true;
                        }
                }
                if (i_out >= 0 && (p[i_out].revents & (POLLIN | POLLHUP)) && !pump_output(&e, out_fd, 1)) {
                        close(out_fd);
                        out_fd = -1;
                }
                if (i_err >= 0 && (p[i_err].revents & (POLLIN | POLLHUP)) && !pump_output(&e, err_fd, 2)) {
                        close(err_fd);
                        err_fd = -1;
                }
                if (i_master >= 0 && (p[i_master].revents & (POLLIN | POLLHUP | POLLERR)) &&
                    !pump_output(&e, e.master, 1)) {
                        /* EIO: runc closed its side; keep the fd for the exit check below. */
                }
                int in_fd = e.master >= 0 ? e.master : e.stdin_fd;
                if (in_fd >= 0 && k8c_bytebuf_size(&e.to_stdin) > 0 &&
                    ((i_in >= 0 && p[i_in].revents) || (i_master >= 0 && (p[i_master].revents & POLLOUT)))) {
                        ssize_t n =
                                write(in_fd, k8c_bytebuf_head(&e.to_stdin), k8c_bytebuf_size(&e.to_stdin));
                        if (n > 0)
                                k8c_bytebuf_consume(&e.to_stdin, (size_t)n);
                        else if (n < 0 && errno != EAGAIN && errno != EINTR)
                                k8c_bytebuf_consume(&e.to_stdin, k8c_bytebuf_size(&e.to_stdin));
                }
                if (e.stdin_eof && k8c_bytebuf_size(&e.to_stdin) == 0) {
                        if (e.stdin_fd >= 0) {
                                close(e.stdin_fd);
                                e.stdin_fd = -1;
                        } else if (e.master >= 0) {
                                /* End of input on a terminal is its EOF character. */
                                char eot = 4;
                                if (write(e.master, &eot, 1) == 1)
                                        e.stdin_eof = false;
                                e.to_stdin.off = e.to_stdin.len = 0;
                        }
                }
                if (e.client_gone)
                        gone = true;
                if (flush_some(s->sock, k8c_ws_output(e.ws)) < 0)
                        gone = true;
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid) {
                        pid = -1;
                        exited = true;
                }
        }
        if (gone && pid > 0) {
                /* The client left: end the command (runc exec passes the signal on). */
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                pid = -1;
        }
        if (!gone) {
                /* Whatever the command wrote before it exited is in the pipes: forward it. */
                for (int round = 0; round < 1024 && (out_fd >= 0 || err_fd >= 0 || e.master >= 0); round++) {
                        size_t before = k8c_bytebuf_size(k8c_ws_output(e.ws));
                        if (out_fd >= 0 && !pump_output(&e, out_fd, 1)) {
                                close(out_fd);
                                out_fd = -1;
                        }
                        if (err_fd >= 0 && !pump_output(&e, err_fd, 2)) {
                                close(err_fd);
                                err_fd = -1;
                        }
                        if (e.master >= 0 && !pump_output(&e, e.master, 1)) {
                                close(e.master);
                                e.master = -1;
                        }
                        if (k8c_bytebuf_size(k8c_ws_output(e.ws)) == before)
                                break;
                        flush_all(s->sock, k8c_ws_output(e.ws), 5000);
                }
                json_auto_t *st = NULL;
                if (r < 0) {
                        st = failure_status("InternalError", k8c_error_msg(&err));
                } else {
                        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                        if (code == 0) {
                                st = json_pack("{s:{}, s:s}", "metadata", "status", "Success");
                        } else {
                                cleanup_free char *cmd = command_text(s->argv);
                                cleanup_free char *msg = k8c_xasprintf(
                                        "command terminated with non-zero exit code: error executing "
                                        "command %s, exit code %d",
                                        cmd, code);
                                char codebuf[16];
                                snprintf(codebuf, sizeof(codebuf), "%d", code);
                                st = failure_status("NonZeroExitCode", msg);
                                json_object_set_new(st, "details",
                                                    json_pack("{s:[{s:s, s:s}]}", "causes", "reason",
                                                              "ExitCode", "message", codebuf));
                        }
                }
                send_status(e.ws, st);
                k8c_ws_send_close(e.ws, 1000, NULL);
                flush_all(s->sock, k8c_ws_output(e.ws), 5000);
                linger_close(s->sock);
        }
        if (out_fd >= 0)
                close(out_fd);
        if (err_fd >= 0)
                close(err_fd);
        if (e.stdin_fd >= 0)
                close(e.stdin_fd);
        if (e.master >= 0)
                close(e.master);
        k8c_bytebuf_free(&e.to_stdin);
        k8c_ws_free(e.ws);
}

/* ---- port-forward ---- */

struct pf_pair {
        char *requestid;
        uint32_t err_id, data_id;
        int port;
        int fd;
        struct k8c_bytebuf to_pod;
        bool client_fin, pod_eof, shut_wr, finished, failed;
};

struct pf_state {
        struct session *s;
        struct k8c_spdy *spdy;
        struct k8c_ws *ws; /* NULL on a direct SPDY upgrade */
        struct k8c_bytebuf spdy_out;
        struct k8c_bytebuf raw_out;
        struct pf_pair **pairs;
        size_t npairs;
        char *netns;
        bool goaway, broken;
};

struct connect_req {
        const char *netns;
        int port;
        int fd;
        int err;
};

static void *connect_main(void *opaque)
{
        struct connect_req *c = opaque;
        c->fd = -1;
        if (c->netns != NULL) {
                cleanup_close int ns = open(c->netns, O_RDONLY | O_CLOEXEC);
                if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
                        c->err = errno;
                        return NULL;
                }
        }
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)c->port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                c->err = errno;
                if (fd >= 0)
                        close(fd);
                return NULL;
        }
        c->fd = fd;
        return NULL;
}

/* A socket to 127.0.0.1:port in netns (NULL = ours), opened by a thread that joined the namespace
 * (setns affects only the calling thread; the socket keeps its namespace). */
static int connect_in_netns(const char *netns, int port, int *ret_errno)
{
        struct connect_req c = { .netns = netns, .port = port, .fd = -1 };
        pthread_t t;
        int r = pthread_create(&t, NULL, connect_main, &c);
        if (r != 0) {
                *ret_errno = r;
                return -1;
        }
        pthread_join(t, NULL);
        *ret_errno = c.err;
        return c.fd;
}

static struct pf_pair *pf_find(struct pf_state *st, uint32_t id)
{
        for (size_t i = 0; i < st->npairs; i++)
                if (st->pairs[i]->err_id == id || st->pairs[i]->data_id == id)
                        return st->pairs[i];
        return NULL;
}

static void pf_finish(struct pf_state *st, struct pf_pair *p)
{
        if (p->finished)
                return;
        p->finished = true;
        if (p->data_id != 0)
                k8c_spdy_data(&st->spdy_out, p->data_id, K8C_SPDY_FLAG_FIN, NULL, 0);
        if (p->err_id != 0)
                k8c_spdy_data(&st->spdy_out, p->err_id, K8C_SPDY_FLAG_FIN, NULL, 0);
}

static void pf_close(struct pf_pair *p)
{
        if (p->fd >= 0)
                close(p->fd);
        p->fd = -1;
}

static void pf_connect(struct pf_state *st, struct pf_pair *p)
{
        int e = 0;
        p->fd = p->port > 0 ? connect_in_netns(st->netns, p->port, &e) : -1;
        if (p->fd >= 0) {
                set_nonblock(p->fd);
                return;
        }
        /* kubectl prints what arrives on the error stream. */
        cleanup_free char *msg =
                k8c_xasprintf("error forwarding port %d to pod %s, uid : failed to connect to localhost:%d "
                              "inside namespace: %s",
                              p->port, k8c_json_get_string(st->s->pod, "metadata.name") ?: "", p->port,
                              p->port > 0 ? strerror(e) : "invalid port");
        k8c_spdy_data(&st->spdy_out, p->err_id, 0, msg, strlen(msg));
        p->failed = true;
        pf_finish(st, p);
}

static int pf_on_frame(void *opaque, const struct k8c_spdy_frame *f, k8c_error_t *err)
{
        struct pf_state *st = opaque;
        switch (f->type) {
        case K8C_SPDY_SYN_STREAM: {
                const char *type = k8c_spdy_header_get(f, "streamtype");
                const char *port = k8c_spdy_header_get(f, "port");
                const char *rid = k8c_spdy_header_get(f, "requestid");
                if (type == NULL || (strcmp(type, "error") != 0 && strcmp(type, "data") != 0) ||
                    f->stream_id == 0) {
                        k8c_spdy_rst(&st->spdy_out, f->stream_id, K8C_SPDY_PROTOCOL_ERROR);
                        return 0;
                }
                int r = k8c_spdy_syn_reply(st->spdy, &st->spdy_out, f->stream_id, 0, NULL, 0, err);
                if (r < 0)
                        return r;
                /* Without a request id (old clients) the error and data streams pair by port. */
                const char *key = rid != NULL ? rid : (port != NULL ? port : "");
                struct pf_pair *p = NULL;
                for (size_t i = 0; i < st->npairs && p == NULL; i++)
                        if (!st->pairs[i]->finished && strcmp(st->pairs[i]->requestid, key) == 0 &&
                            (strcmp(type, "error") == 0 ? st->pairs[i]->err_id == 0
                                                        : st->pairs[i]->data_id == 0))
                                p = st->pairs[i];
                if (p == NULL) {
                        p = k8c_xcalloc(1, sizeof(*p));
                        p->requestid = k8c_xstrdup(key);
                        p->fd = -1;
                        st->pairs = k8c_xrealloc(st->pairs, (st->npairs + 1) * sizeof(*st->pairs));
                        st->pairs[st->npairs++] = p;
                }
                if (strcmp(type, "error") == 0)
                        p->err_id = f->stream_id;
                else
                        p->data_id = f->stream_id;
                char *end = NULL;
                long n = port != NULL ? strtol(port, &end, 10) : 0;
                if (port != NULL && end != port && *end == '\0' && n > 0 && n <= 65535)
                        p->port = (int)n;
                if (p->err_id != 0 && p->data_id != 0 && p->fd < 0 && !p->finished)
                        pf_connect(st, p);
                return 0;
        }
        case K8C_SPDY_DATA: {
                struct pf_pair *p = pf_find(st, f->stream_id);
                if (p == NULL) {
                        k8c_spdy_rst(&st->spdy_out, f->stream_id, K8C_SPDY_INVALID_STREAM);
                        return 0;
                }
                if (f->stream_id == p->data_id) {
                        if (p->fd >= 0 && !p->finished)
                                k8c_bytebuf_append(&p->to_pod, f->data, f->len);
                        if (f->flags & K8C_SPDY_FLAG_FIN)
                                p->client_fin = true;
                }
                return 0;
        }
        case K8C_SPDY_RST_STREAM: {
                struct pf_pair *p = pf_find(st, f->stream_id);
                if (p != NULL) {
                        p->finished = true;
                        pf_close(p);
                }
                return 0;
        }
        case K8C_SPDY_PING: k8c_spdy_ping(&st->spdy_out, f->ping_id); return 0;
        case K8C_SPDY_GOAWAY: st->goaway = true; return 0;
        default: return 0; /* SETTINGS, WINDOW_UPDATE, HEADERS, SYN_REPLY: nothing to do */
        }
}

static void pf_on_ws(void *opaque, uint8_t op, const uint8_t *d, size_t n)
{
        struct pf_state *st = opaque;
        if (op == K8C_WS_OP_CLOSE) {
                st->goaway = true;
                return;
        }
        cleanup_error k8c_error_t err = NULL;
        if (!st->broken && k8c_spdy_feed(st->spdy, d, n, pf_on_frame, st, &err) < 0)
                st->broken = true;
}

static void pf_feed(struct pf_state *st, const uint8_t *d, size_t n)
{
        if (st->ws != NULL) {
                if (k8c_ws_feed(st->ws, d, n, NULL) < 0)
                        st->broken = true;
                return;
        }
        cleanup_error k8c_error_t err = NULL;
        if (!st->broken && k8c_spdy_feed(st->spdy, d, n, pf_on_frame, st, &err) < 0)
                st->broken = true;
}

/* Moves SPDY output into the socket buffer (inside WebSocket messages when tunnelled). */
static struct k8c_bytebuf *pf_out(struct pf_state *st)
{
        if (k8c_bytebuf_size(&st->spdy_out) > 0) {
                if (st->ws != NULL)
                        k8c_ws_send(st->ws, K8C_WS_OP_BINARY, k8c_bytebuf_head(&st->spdy_out),
                                    k8c_bytebuf_size(&st->spdy_out), NULL);
                else
                        k8c_bytebuf_append(&st->raw_out, k8c_bytebuf_head(&st->spdy_out),
                                           k8c_bytebuf_size(&st->spdy_out));
                st->spdy_out.off = st->spdy_out.len = 0;
        }
        return st->ws != NULL ? k8c_ws_output(st->ws) : &st->raw_out;
}

static void pf_session(struct session *s)
{
        struct pf_state st = { .s = s };
        if (k8c_spdy_new(&st.spdy, NULL) < 0)
                return;
        if (s->kind == SESSION_PF_WS && k8c_ws_new(true, pf_on_ws, &st, &st.ws, NULL) < 0) {
                k8c_spdy_free(st.spdy);
                return;
        }
        struct k8c_kubelet *k = s->k;
        pthread_mutex_lock(&k->lock);
        if (k->rt_ops != NULL && k->rt_ops->pod_netns != NULL)
                st.netns = k->rt_ops->pod_netns(k->rt, s->pod);
        pthread_mutex_unlock(&k->lock);
        if (s->extra.len > 0)
                pf_feed(&st, s->extra.data, s->extra.len);
        bool gone = false;
        while (!gone && !st.goaway && !st.broken) {
                struct k8c_bytebuf *out = pf_out(&st);
                bool room = k8c_bytebuf_size(out) < OUT_HIGH_WATER;
                size_t cap = 1 + st.npairs;
                cleanup_free struct pollfd *p = k8c_xcalloc(cap, sizeof(*p));
                cleanup_free struct pf_pair **who = k8c_xcalloc(cap, sizeof(*who));
                nfds_t np = 0;
                p[np++] = (struct pollfd){ .fd = s->sock,
                                           .events = POLLIN | (k8c_bytebuf_size(out) > 0 ? POLLOUT : 0) };
                for (size_t i = 0; i < st.npairs; i++) {
                        struct pf_pair *q = st.pairs[i];
                        if (q->fd < 0)
                                continue;
                        short ev = 0;
                        if (!q->pod_eof && room)
                                ev |= POLLIN;
                        if (k8c_bytebuf_size(&q->to_pod) > 0)
                                ev |= POLLOUT;
                        who[np] = q;
                        p[np++] = (struct pollfd){ .fd = q->fd, .events = ev };
                }
                if (poll(p, np, 200) < 0 && errno != EINTR)
                        break;
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        uint8_t buf[CHUNK];
                        ssize_t n = recv(s->sock, buf, sizeof(buf), 0);
                        if (n > 0)
                                pf_feed(&st, buf, (size_t)n);
                        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                                gone = true;
                }
                for (nfds_t i = 1; i < np; i++) {
                        struct pf_pair *q = who[i];
                        if (q->fd < 0)
                                continue; /* reset by the client meanwhile */
                        if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                                uint8_t buf[CHUNK];
                                ssize_t n = read(q->fd, buf, sizeof(buf));
                                if (n > 0) {
                                        k8c_spdy_data(&st.spdy_out, q->data_id, 0, buf, (size_t)n);
                                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                                        q->pod_eof = true;
                                        pf_finish(&st, q);
                                }
                        }
                        if ((p[i].revents & POLLOUT) && k8c_bytebuf_size(&q->to_pod) > 0) {
                                ssize_t n = send(q->fd, k8c_bytebuf_head(&q->to_pod),
                                                 k8c_bytebuf_size(&q->to_pod), MSG_NOSIGNAL);
                                if (n > 0) {
                                        k8c_bytebuf_consume(&q->to_pod, (size_t)n);
                                } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                                        q->to_pod.off = q->to_pod.len = 0;
                                        q->pod_eof = true;
                                        pf_finish(&st, q);
                                }
                        }
                }
                /* Half-closes and pairs done both ways. */
                for (size_t i = 0; i < st.npairs; i++) {
                        struct pf_pair *q = st.pairs[i];
                        if (q->fd >= 0 && q->client_fin && !q->shut_wr && k8c_bytebuf_size(&q->to_pod) == 0) {
                                shutdown(q->fd, SHUT_WR);
                                q->shut_wr = true;
                        }
                        if (q->fd >= 0 && q->finished && (q->shut_wr || q->pod_eof) &&
                            k8c_bytebuf_size(&q->to_pod) == 0 && (q->client_fin || q->pod_eof))
                                pf_close(q);
                }
                if (flush_some(s->sock, pf_out(&st)) < 0)
                        gone = true;
        }
        if (!gone) {
                for (size_t i = 0; i < st.npairs; i++)
                        pf_finish(&st, st.pairs[i]);
                if (st.ws != NULL)
                        k8c_ws_send_close(st.ws, 1000, NULL);
                flush_all(s->sock, pf_out(&st), 2000);
                linger_close(s->sock);
        }
        for (size_t i = 0; i < st.npairs; i++) {
                pf_close(st.pairs[i]);
                free(st.pairs[i]->requestid);
                k8c_bytebuf_free(&st.pairs[i]->to_pod);
                free(st.pairs[i]);
        }
        free(st.pairs);
        free(st.netns);
        k8c_bytebuf_free(&st.spdy_out);
        k8c_bytebuf_free(&st.raw_out);
        k8c_ws_free(st.ws);
        k8c_spdy_free(st.spdy);
}

/* ---- sessions ---- */

static void *session_main(void *opaque)
{
        struct session *s = opaque;
        /* A command that exits without reading its stdin makes our write EPIPE; SIGPIPE (aimed at
         * this thread) stays blocked here rather than ending the kubelet. */
        sigset_t pipe_set;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
        set_nonblock(s->sock);
        if (s->kind == SESSION_EXEC)
                exec_session(s);
        else
                pf_session(s);
        MHD_upgrade_action(s->urh, MHD_UPGRADE_ACTION_CLOSE);
        pthread_mutex_lock(&sessions_lock);
        for (struct session **pp = &sessions; *pp != NULL; pp = &(*pp)->next)
                if (*pp == s) {
                        *pp = s->next;
                        break;
                }
        pthread_cond_broadcast(&sessions_cond);
        pthread_mutex_unlock(&sessions_lock);
        session_free(s);
        return NULL;
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
        struct session *s = cls;
        s->sock = sock;
        s->urh = urh;
        k8c_bytebuf_append(&s->extra, extra_in, extra_in_size);
        pthread_mutex_lock(&sessions_lock);
        s->next = sessions;
        sessions = s;
        pthread_mutex_unlock(&sessions_lock);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t t;
        if (pthread_create(&t, &attr, session_main, s) != 0) {
                k8c_log_error("stream session", "error=%s", "cannot start a thread");
                session_main(s);
        }
        pthread_attr_destroy(&attr);
}

void k8c_kubelet_streams_stop(struct k8c_kubelet *k)
{
        pthread_mutex_lock(&sessions_lock);
        for (int round = 0; round < 100; round++) {
                bool any = false;
                for (struct session *s = sessions; s != NULL; s = s->next)
                        if (s->k == k) {
                                any = true;
                                shutdown(s->sock, SHUT_RDWR);
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
                pthread_cond_timedwait(&sessions_cond, &sessions_lock, &ts);
        }
        pthread_mutex_unlock(&sessions_lock);
}

/* ---- the requests ---- */

static enum MHD_Result reply_status(struct MHD_Connection *conn, unsigned code, const char *reason,
                                    const char *msg)
{
        json_auto_t *st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion",
                                    "v1", "metadata", "status", "Failure", "message", msg, "reason", reason,
                                    "code", (int)code);
        char *body = k8c_json_dumps(st);
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        enum MHD_Result r = MHD_queue_response(conn, code, resp);
        MHD_destroy_response(resp);
        return r;
}

static bool query_bool(struct MHD_Connection *conn, const char *key)
{
        const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
        return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

struct argv_acc {
        char **v;
        size_t n;
};

static enum MHD_Result collect_command(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        struct argv_acc *a = cls;
        if (strcmp(key, "command") == 0 && value != NULL) {
                a->v = k8c_xrealloc(a->v, (a->n + 2) * sizeof(char *));
                a->v[a->n++] = k8c_xstrdup(value);
                a->v[a->n] = NULL;
        }
        return MHD_YES;
}

static bool container_in_spec(const json_t *pod, const char *name)
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
                                return true;
                }
        }
        return false;
}

static bool header_has(struct MHD_Connection *conn, const char *name, const char *token)
{
        const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
        if (v == NULL)
                return false;
        size_t n = strlen(token);
        for (const char *p = v; *p != '\0';) {
                while (*p == ' ' || *p == ',')
                        p++;
                size_t len = strcspn(p, ",");
                size_t t = len;
                while (t > 0 && p[t - 1] == ' ')
                        t--;
                if (t == n && strncasecmp(p, token, n) == 0)
                        return true;
                p += len;
        }
        return false;
}

/* Queues the 101 for a session (ownership of s passes to on_upgrade). */
static enum MHD_Result upgrade(struct MHD_Connection *conn, struct session *s, const char *upgrade_to,
                               const char *ws_protocol)
{
        struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgrade, s);
        if (resp == NULL) {
                session_free(s);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, upgrade_to);
        if (ws_protocol != NULL) {
                const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
                cleanup_free char *accept = k8c_ws_accept_key(key);
                MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
                MHD_add_response_header(resp, "Sec-WebSocket-Protocol", ws_protocol);
        } else {
                MHD_add_response_header(resp, "X-Stream-Protocol-Version", "portforward.k8s.io");
        }
        enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
        MHD_destroy_response(resp);
        return r;
}

int k8c_kubelet_stream_request(struct k8c_kubelet *k, struct MHD_Connection *conn, const char *url)
{
        bool exec = strncmp(url, "/exec/", 6) == 0;
        bool pf = strncmp(url, "/portForward/", 13) == 0;
        if (!exec && !pf)
                return -1;
        cleanup_free char *copy = k8c_xstrdup(url + (exec ? 6 : 13));
        char *save = NULL;
        char *ns = strtok_r(copy, "/", &save);
        char *name = ns ? strtok_r(NULL, "/", &save) : NULL;
        char *container = exec && name ? strtok_r(NULL, "/", &save) : NULL;
        if (name == NULL || (exec && container == NULL) || strtok_r(NULL, "/", &save) != NULL)
                return reply_status(conn, 400, "BadRequest",
                                    exec ? "expected /exec/<namespace>/<pod>/<container>"
                                         : "expected /portForward/<namespace>/<pod>");
        cleanup_free char *key = k8c_xasprintf("%s/%s", ns, name);
        json_auto_t *pod = k8c_informer_get(k->informer, key);
        if (pod == NULL) {
                cleanup_free char *msg = k8c_xasprintf("pod %s not found on this node", key);
                return reply_status(conn, 404, "NotFound", msg);
        }
        bool websocket = header_has(conn, "Upgrade", "websocket");
        bool spdy = header_has(conn, "Upgrade", "SPDY/3.1");
        const char *protocol = NULL;
        if (websocket) {
                const char *offered =
                        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Protocol");
                static const char *const exec_protos[] = { "v5.channel.k8s.io", "v4.channel.k8s.io", NULL };
                static const char *const pf_protos[] = { "SPDY/3.1+portforward.k8s.io", NULL };
                protocol = k8c_ws_choose_protocol(offered, exec ? exec_protos : pf_protos);
                if (protocol == NULL ||
                    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key") == NULL)
                        return reply_status(conn, 400, "BadRequest",
                                            exec ? "exec needs WebSocket subprotocol v5.channel.k8s.io or "
                                                   "v4.channel.k8s.io"
                                                 : "port-forward needs WebSocket subprotocol "
                                                   "SPDY/3.1+portforward.k8s.io");
        } else if (!(pf && spdy)) {
                return reply_status(conn, 400, "BadRequest",
                                    exec ? "exec is served over WebSocket (v5.channel.k8s.io)"
                                         : "port-forward needs Upgrade: SPDY/3.1 or WebSocket");
        }
        struct session *s = k8c_xcalloc(1, sizeof(*s));
        s->k = k;
        s->sock = -1;
        s->pod = json_incref(pod);
        if (exec) {
                if (!container_in_spec(pod, container)) {
                        session_free(s);
                        cleanup_free char *msg =
                                k8c_xasprintf("container %s is not valid for pod %s", container, name);
                        return reply_status(conn, 400, "BadRequest", msg);
                }
                struct argv_acc a = { 0 };
                MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_command, &a);
                if (a.n == 0) {
                        session_free(s);
                        return reply_status(conn, 400, "BadRequest", "you must specify at least 1 command");
                }
                s->kind = SESSION_EXEC;
                s->argv = a.v;
                s->container = k8c_xstrdup(container);
                s->want_stdin = query_bool(conn, "stdin") || query_bool(conn, "input");
                s->want_stdout = query_bool(conn, "stdout") || query_bool(conn, "output");
                s->want_stderr = query_bool(conn, "stderr") || query_bool(conn, "error");
                s->tty = query_bool(conn, "tty");
                s->version = strcmp(protocol, "v5.channel.k8s.io") == 0 ? 5 : 4;
                return upgrade(conn, s, "websocket", protocol);
        }
        s->kind = websocket ? SESSION_PF_WS : SESSION_PF_SPDY;
        return upgrade(conn, s, websocket ? "websocket" : "SPDY/3.1", protocol);
}

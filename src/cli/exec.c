/*
 * exec.c - `k8cctl exec [pod/]NAME [-c C] [-i] [-t] -- COMMAND [ARGS...]`:
 * pods/NAME/exec upgraded to WebSocket v5.channel.k8s.io. Our stdin goes to
 * channel 0 (its end as the v5 close-stream message), channels 1 and 2 to
 * stdout and stderr; with -t on a terminal, the local terminal is raw and
 * its size is sent on channel 4 whenever it changes. The status on channel
 * 3 decides the exit code: the command's own for NonZeroExitCode (with
 * kubectl's "command terminated with exit code N" line).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "k8c/bytebuf.h"
#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"
#include "k8c/websocket.h"

struct exec_client {
        struct k8c_cli *cli;
        struct k8c_bytebuf status;
        struct k8c_bytebuf to_stdout, to_stderr;
        bool closed;
};

static void on_msg(void *opaque, uint8_t op, const uint8_t *d, size_t n)
{
        struct exec_client *e = opaque;
        if (op == K8C_WS_OP_CLOSE) {
                e->closed = true;
                return;
        }
        if (n < 1)
                return;
        switch (d[0]) {
        case 1: k8c_bytebuf_append(&e->to_stdout, d + 1, n - 1); break;
        case 2: k8c_bytebuf_append(&e->to_stderr, d + 1, n - 1); break;
        case 3: k8c_bytebuf_append(&e->status, d + 1, n - 1); break;
        }
}

static void url_param(struct k8c_bytebuf *q, const char *key, const char *value)
{
        static const char hex[] = "0123456789ABCDEF";
        k8c_bytebuf_append(q, q->len == 0 ? "?" : "&", 1);
        k8c_bytebuf_append(q, key, strlen(key));
        k8c_bytebuf_append(q, "=", 1);
        for (const unsigned char *s = (const unsigned char *)value; *s != '\0'; s++) {
                if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                    strchr("-_.~", *s) != NULL) {
                        k8c_bytebuf_append(q, s, 1);
                } else {
                        char e[3] = { '%', hex[*s >> 4], hex[*s & 15] };
                        k8c_bytebuf_append(q, e, 3);
                }
        }
}

static void send_size(struct k8c_ws *ws, int fd, struct winsize *last)
{
        struct winsize w;
        if (ioctl(fd, TIOCGWINSZ, &w) < 0 || w.ws_col == 0 ||
            (w.ws_col == last->ws_col && w.ws_row == last->ws_row))
                return;
        *last = w;
        char msg[64];
        int n = snprintf(msg, sizeof(msg), "%c{\"Width\":%u,\"Height\":%u}", 4, w.ws_col, w.ws_row);
        k8c_ws_send(ws, K8C_WS_OP_BINARY, msg, (size_t)n, NULL);
}

static void write_out(int fd, struct k8c_bytebuf *b)
{
        if (k8c_bytebuf_size(b) == 0)
                return;
        k8c_write_all(fd, k8c_bytebuf_head(b), k8c_bytebuf_size(b));
        k8c_bytebuf_consume(b, k8c_bytebuf_size(b));
}

int k8c_cli_exec(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        if (nargs != 1 || cli->ndash_args == 0)
                return k8c_make_error(
                        err, K8C_EUSAGE,
                        "error: expected 'exec (POD | TYPE/NAME) [-c CONTAINER] [flags] -- COMMAND "
                        "[args...]'.\nSee 'k8cctl exec -h' for help and examples");
        json_auto_t *pod = NULL;
        const char *container = NULL;
        int r = k8c_cli_pod_container(cli, args[0], "exec", &pod, &container, err);
        if (r < 0)
                return r;
        const char *phase = k8c_json_get_string(pod, "status.phase");
        if (phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
                return k8c_make_error(
                        err, K8C_EBADREQUEST,
                        "error: cannot exec into a container in a completed pod; current phase is %s", phase);
        bool tty = cli->tty;
        if (tty && !(cli->stdin_ && isatty(0))) {
                fprintf(cli->errout,
                        "Unable to use a TTY - input is not a terminal or the right kind of file\n");
                tty = false;
        }
        struct k8c_bytebuf q = { 0 };
        for (int i = 0; i < cli->ndash_args; i++)
                url_param(&q, "command", cli->dash_args[i]);
        url_param(&q, "container", container);
        if (cli->stdin_)
                url_param(&q, "stdin", "true");
        url_param(&q, "stdout", "true");
        if (!tty)
                url_param(&q, "stderr", "true");
        if (tty)
                url_param(&q, "tty", "true");
        k8c_bytebuf_append(&q, "", 1);
        cleanup_free char *path =
                k8c_xasprintf("/api/v1/namespaces/%s/pods/%s/exec%s", cli->ns,
                              k8c_json_get_string(pod, "metadata.name"), (const char *)q.data);
        k8c_bytebuf_free(&q);
        cleanup_free char *key = k8c_ws_client_key();
        cleanup_free char *hdrs = k8c_xasprintf("Connection: Upgrade\r\nUpgrade: websocket\r\n"
                                                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n"
                                                "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n",
                                                key);
        int code = 0;
        cleanup_free char *head = NULL;
        struct k8c_bytebuf rest = { 0 };
        cleanup_close int fd = k8c_cli_raw_request(cli, "GET", path, hdrs, &code, &head, &rest, err);
        if (fd < 0)
                return fd;
        if (code != 101) {
                r = k8c_cli_raw_error(k8c_steal_fd(&fd), code, head, &rest, err);
                k8c_bytebuf_free(&rest);
                return r;
        }
        struct exec_client e = { .cli = cli };
        struct k8c_ws *ws = NULL;
        if (k8c_ws_new(false, on_msg, &e, &ws, err) < 0) {
                k8c_bytebuf_free(&rest);
                return -1;
        }
        k8c_ws_feed(ws, rest.data, rest.len, NULL);
        k8c_bytebuf_free(&rest);

        struct termios saved;
        bool raw = false;
        struct winsize last = { 0 };
        if (tty && tcgetattr(0, &saved) == 0) {
                struct termios t = saved;
                cfmakeraw(&t);
                raw = tcsetattr(0, TCSANOW, &t) == 0;
                send_size(ws, 0, &last);
        }
        bool stdin_open = cli->stdin_;
        fflush(cli->out);
        while (!e.closed) {
                struct k8c_bytebuf *out = k8c_ws_output(ws);
                struct pollfd p[2] = { { .fd = fd,
                                         .events = POLLIN | (k8c_bytebuf_size(out) > 0 ? POLLOUT : 0) },
                                       { .fd = stdin_open ? 0 : -1, .events = POLLIN } };
                if (poll(p, 2, 250) < 0 && errno != EINTR)
                        break;
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        uint8_t buf[32768];
                        ssize_t n = recv(fd, buf, sizeof(buf), 0);
                        if (n <= 0 && !(n < 0 && errno == EINTR))
                                break;
                        if (n > 0 && k8c_ws_feed(ws, buf, (size_t)n, NULL) < 0)
                                break;
                }
                if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
                        uint8_t buf[32768];
                        ssize_t n = read(0, buf + 1, sizeof(buf) - 1);
                        if (n > 0) {
                                buf[0] = 0;
                                k8c_ws_send(ws, K8C_WS_OP_BINARY, buf, (size_t)n + 1, NULL);
                        } else if (n == 0 || errno != EINTR) {
                                /* v5: close the stdin stream so the command sees its end. */
                                const uint8_t eof[2] = { 255, 0 };
                                k8c_ws_send(ws, K8C_WS_OP_BINARY, eof, 2, NULL);
                                stdin_open = false;
                        }
                }
                if (raw)
                        send_size(ws, 0, &last);
                write_out(1, &e.to_stdout);
                write_out(2, &e.to_stderr);
                out = k8c_ws_output(ws);
                while (k8c_bytebuf_size(out) > 0) {
                        ssize_t n = send(fd, k8c_bytebuf_head(out), k8c_bytebuf_size(out), MSG_NOSIGNAL);
                        if (n <= 0)
                                break;
                        k8c_bytebuf_consume(out, (size_t)n);
                }
        }
        write_out(1, &e.to_stdout);
        write_out(2, &e.to_stderr);
        if (raw)
                tcsetattr(0, TCSANOW, &saved);
        /* Answer the server's close. */
        k8c_ws_send_close(ws, 1000, NULL);
        struct k8c_bytebuf *out = k8c_ws_output(ws);
        k8c_write_all(fd, k8c_bytebuf_head(out), k8c_bytebuf_size(out));
        k8c_ws_free(ws);
        k8c_bytebuf_free(&e.to_stdout);
        k8c_bytebuf_free(&e.to_stderr);

        k8c_bytebuf_append(&e.status, "", 1);
        json_auto_t *st = json_loads((const char *)e.status.data, 0, NULL);
        k8c_bytebuf_free(&e.status);
        if (st == NULL)
                return k8c_make_error(err, K8C_EINTERNAL,
                                      "error: the connection ended without an exit status");
        const char *status = k8c_json_get_string(st, "status");
        if (status != NULL && strcmp(status, "Success") == 0)
                return 0;
        const char *reason = k8c_json_get_string(st, "reason");
        if (reason != NULL && strcmp(reason, "NonZeroExitCode") == 0) {
                size_t i;
                json_t *c;
                json_array_foreach(k8c_json_get(st, "details.causes"), i, c)
                {
                        const char *cr = json_string_value(json_object_get(c, "reason"));
                        const char *cm = json_string_value(json_object_get(c, "message"));
                        if (cr != NULL && strcmp(cr, "ExitCode") == 0 && cm != NULL) {
                                int rc = atoi(cm);
                                fprintf(cli->errout, "command terminated with exit code %d\n", rc);
                                cli->exit_code = rc;
                                return 0;
                        }
                }
        }
        const char *msg = k8c_json_get_string(st, "message");
        return k8c_make_error(err, K8C_EINTERNAL, "error: %s", msg != NULL ? msg : "exec failed");
}

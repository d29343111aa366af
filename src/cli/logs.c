/*
 * logs.c - `k8cctl logs [pod/]NAME [-c C] [-f] [--tail N] [--previous] [--timestamps]
 * [--limit-bytes N]`: GET pods/NAME/log, the body copied to stdout as it
 * arrives (so -f follows until the container ends or the user interrupts).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k8c/bytebuf.h"
#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"
#include "k8c/websocket.h"

static void add_param(struct k8c_bytebuf *q, const char *kv)
{
        k8c_bytebuf_append(q, q->len == 0 ? "?" : "&", 1);
        k8c_bytebuf_append(q, kv, strlen(kv));
}

int k8c_cli_logs(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        if (nargs != 1)
                return k8c_make_error(err, K8C_EUSAGE,
                                      "error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\n"
                                      "See 'k8cctl logs -h' for help and examples");
        json_auto_t *pod = NULL;
        const char *container = NULL;
        int r = k8c_cli_pod_container(cli, args[0], "logs", &pod, &container, err);
        if (r < 0)
                return r;
        struct k8c_bytebuf q = { 0 };
        cleanup_free char *c = k8c_xasprintf("container=%s", container);
        add_param(&q, c);
        if (cli->follow)
                add_param(&q, "follow=true");
        if (cli->previous)
                add_param(&q, "previous=true");
        if (cli->timestamps)
                add_param(&q, "timestamps=true");
        if (cli->tail_set && cli->tail >= 0) {
                cleanup_free char *t = k8c_xasprintf("tailLines=%lld", (long long)cli->tail);
                add_param(&q, t);
        }
        if (cli->limit_bytes > 0) {
                cleanup_free char *l = k8c_xasprintf("limitBytes=%lld", (long long)cli->limit_bytes);
                add_param(&q, l);
        }
        k8c_bytebuf_append(&q, "", 1);
        cleanup_free char *path =
                k8c_xasprintf("/api/v1/namespaces/%s/pods/%s/log%s", cli->ns,
                              k8c_json_get_string(pod, "metadata.name"), (const char *)q.data);
        k8c_bytebuf_free(&q);
        int code = 0;
        cleanup_free char *head = NULL;
        struct k8c_bytebuf rest = { 0 };
        /* Connection: close: the body ends when the server closes. */
        int fd = k8c_cli_raw_request(cli, "GET", path, "Connection: close\r\n", &code, &head, &rest, err);
        if (fd < 0)
                return fd;
        if (code != 200) {
                r = k8c_cli_raw_error(fd, code, head, &rest, err);
                k8c_bytebuf_free(&rest);
                return r;
        }
        /* The body may be chunked (HTTP/1.1 with an unknown length): undo the framing. */
        cleanup_free char *te = k8c_http_head_get(head, "Transfer-Encoding");
        bool chunked = te != NULL && strcasecmp(te, "chunked") == 0;
        struct k8c_bytebuf in = rest;
        size_t chunk_left = 0;
        bool done = false;
        for (;;) {
                while (!done && k8c_bytebuf_size(&in) > 0) {
                        if (!chunked) {
                                fwrite(k8c_bytebuf_head(&in), 1, k8c_bytebuf_size(&in), cli->out);
                                k8c_bytebuf_consume(&in, k8c_bytebuf_size(&in));
                                break;
                        }
                        if (chunk_left > 0) {
                                size_t n = k8c_bytebuf_size(&in) < chunk_left ? k8c_bytebuf_size(&in)
                                                                              : chunk_left;
                                fwrite(k8c_bytebuf_head(&in), 1, n, cli->out);
                                k8c_bytebuf_consume(&in, n);
                                chunk_left -= n;
                                continue;
                        }
                        /* "\r\n" after a chunk, then "SIZE[;ext]\r\n" */
                        const uint8_t *h = k8c_bytebuf_head(&in);
                        size_t avail = k8c_bytebuf_size(&in);
                        if (avail >= 2 && h[0] == '\r' && h[1] == '\n') {
                                k8c_bytebuf_consume(&in, 2);
                                continue;
                        }
                        const uint8_t *nl = memchr(h, '\n', avail);
                        if (nl == NULL)
                                break;
                        chunk_left = strtoul((const char *)h, NULL, 16);
                        k8c_bytebuf_consume(&in, (size_t)(nl - h) + 1);
                        if (chunk_left == 0)
                                done = true;
                }
                fflush(cli->out);
                if (done)
                        break;
                uint8_t buf[32768];
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                k8c_bytebuf_append(&in, buf, (size_t)n);
        }
        k8c_bytebuf_free(&in);
        close(fd);
        return 0;
}

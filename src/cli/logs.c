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

static int pod_logs(struct k8c_cli *cli, const char *pod_arg, k8c_error_t *err);

/* The pods a selector picks, sorted by name (what -l and TYPE/NAME address). */
static int selected_pods(struct k8c_cli *cli, const char *selector, json_t **ret_names, k8c_error_t *err)
{
        struct k8c_bytebuf q = { 0 };
        static const char hex[] = "0123456789ABCDEF";
        for (const unsigned char *c = (const unsigned char *)selector; *c != '\0'; c++) {
                if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                    strchr("-_.~", *c) != NULL) {
                        k8c_bytebuf_append(&q, c, 1);
                } else {
                        char e[3] = { '%', hex[*c >> 4], hex[*c & 15] };
                        k8c_bytebuf_append(&q, e, 3);
                }
        }
        k8c_bytebuf_append(&q, "", 1);
        cleanup_free char *path =
                k8c_xasprintf("/api/v1/namespaces/%s/pods?labelSelector=%s", cli->ns, (const char *)q.data);
        k8c_bytebuf_free(&q);
        json_auto_t *list = NULL;
        int r = k8c_cli_request(cli, "GET", path, NULL, NULL, &list, err);
        if (r < 0)
                return r;
        json_t *names = json_array();
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(list, "items"), i, p)
                json_array_append_new(names, json_string(k8c_json_get_string(p, "metadata.name") ?: ""));
        /* Insertion sort: a handful of pods. */
        for (size_t a = 1; a < json_array_size(names); a++)
                for (size_t b = a; b > 0 && strcmp(json_string_value(json_array_get(names, b - 1)),
                                                   json_string_value(json_array_get(names, b))) > 0;
                     b--) {
                        json_t *x = json_incref(json_array_get(names, b - 1));
                        json_array_set(names, b - 1, json_array_get(names, b));
                        json_array_set_new(names, b, x);
                }
        *ret_names = names;
        return 0;
}

/* deployment/NAME, replicaset/NAME (and short names): the selector of the workload. */
static char *workload_selector(struct k8c_cli *cli, const char *arg, k8c_error_t *err)
{
        const char *slash = strchr(arg, '/');
        size_t n = (size_t)(slash - arg);
        const char *plural = NULL;
        if ((n == 10 && strncmp(arg, "deployment", n) == 0) ||
            (n == 11 && strncmp(arg, "deployments", n) == 0) || (n == 6 && strncmp(arg, "deploy", n) == 0))
                plural = "deployments";
        else if ((n == 10 && strncmp(arg, "replicaset", n) == 0) ||
                 (n == 11 && strncmp(arg, "replicasets", n) == 0) || (n == 2 && strncmp(arg, "rs", n) == 0))
                plural = "replicasets";
        if (plural == NULL)
                return NULL;
        cleanup_free char *path =
                k8c_xasprintf("/apis/apps/v1/namespaces/%s/%s/%s", cli->ns, plural, slash + 1);
        json_auto_t *obj = NULL;
        if (k8c_cli_request(cli, "GET", path, NULL, NULL, &obj, err) < 0)
                return NULL;
        struct k8c_bytebuf sel = { 0 };
        const char *k;
        json_t *v;
        json_object_foreach(k8c_json_get(obj, "spec.selector.matchLabels"), k, v)
        {
                cleanup_free char *kv =
                        k8c_xasprintf("%s%s=%s", sel.len > 0 ? "," : "", k, json_string_value(v) ?: "");
                k8c_bytebuf_append(&sel, kv, strlen(kv));
        }
        k8c_bytebuf_append(&sel, "", 1);
        char *out = k8c_xstrdup((const char *)sel.data);
        k8c_bytebuf_free(&sel);
        if (*out == '\0') {
                free(out);
                k8c_make_error(err, K8C_EBADREQUEST, "error: %s has no matchLabels selector", arg);
                return NULL;
        }
        return out;
}

int k8c_cli_logs(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        if (!((nargs == 1 && cli->selector == NULL) || (nargs == 0 && cli->selector != NULL)))
                return k8c_make_error(err, K8C_EUSAGE,
                                      "error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\n"
                                      "See 'k8cctl logs -h' for help and examples");
        const char *slash = nargs == 1 ? strchr(args[0], '/') : NULL;
        cleanup_free char *workload = NULL;
        if (slash != NULL) {
                workload = workload_selector(cli, args[0], err);
                if (workload == NULL && err != NULL && *err != NULL)
                        return -1;
        }
        if (cli->selector == NULL && workload == NULL)
                return pod_logs(cli, args[0], err);
        /* Several pods (-l), or the first pod of a workload, one after the other. */
        json_auto_t *names = NULL;
        int r = selected_pods(cli, workload != NULL ? workload : cli->selector, &names, err);
        if (r < 0)
                return r;
        if (json_array_size(names) == 0) {
                if (workload != NULL)
                        return k8c_make_error(err, K8C_ENOTFOUND, "error: no pods found for %s", args[0]);
                fprintf(cli->errout, "No resources found in %s namespace.\n", cli->ns);
                return 0;
        }
        size_t i;
        json_t *n;
        json_array_foreach(names, i, n)
        {
                r = pod_logs(cli, json_string_value(n), err);
                if (r < 0 || workload != NULL)
                        return r;
        }
        return 0;
}

static int pod_logs(struct k8c_cli *cli, const char *pod_arg, k8c_error_t *err)
{
        json_auto_t *pod = NULL;
        const char *container = NULL;
        int r = k8c_cli_pod_container(cli, pod_arg, "logs", &pod, &container, err);
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

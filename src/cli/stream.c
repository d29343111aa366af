/*
 * stream.c - what logs, exec and port-forward share: a request on a TCP
 * connection of its own (so the body can be streamed, or the connection
 * upgraded to WebSocket/SPDY after a 101), the kubectl error line for a
 * refused one, and which pod and container a command addresses.
 *
 * Only http:// servers are reached this way (the API server k8c ships speaks
 * plain HTTP); https:// is refused with a clear error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k8c/bytebuf.h"
#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/flags.h"
#include "k8c/json.h"
#include "k8c/websocket.h"

static int dial(const char *server, k8c_error_t *err)
{
        if (strncmp(server, "http://", 7) != 0)
                return k8c_make_error(err, K8C_EBADREQUEST,
                                      "error: logs, exec and port-forward need an http:// server (got %s)",
                                      server);
        const char *hp = server + 7;
        size_t n = strcspn(hp, "/");
        cleanup_free char *host = k8c_xstrndup(hp, n);
        const char *port = "80";
        char *colon = strrchr(host, ':');
        if (colon != NULL) {
                *colon = '\0';
                port = colon + 1;
        }
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
        if (getaddrinfo(host, port, &hints, &ai) != 0)
                return k8c_cli_connection_error(server, err);
        int fd = -1;
        for (struct addrinfo *a = ai; a != NULL && fd < 0; a = a->ai_next) {
                fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
                if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
                        close(fd);
                        fd = -1;
                }
        }
        freeaddrinfo(ai);
        if (fd < 0)
                return k8c_cli_connection_error(server, err);
        return fd;
}

int k8c_cli_raw_request(struct k8c_cli *cli, const char *method, const char *path, const char *headers,
                        int *ret_code, char **ret_head, struct k8c_bytebuf *rest, k8c_error_t *err)
{
        int r = k8c_cli_connect(cli, err);
        if (r < 0)
                return r;
        const char *server = k8c_client_server(cli->client);
        int fd = dial(server, err);
        if (fd < 0)
                return fd;
        const char *token = cli->token != NULL ? cli->token : cli->kc.token;
        cleanup_free char *auth =
                token != NULL ? k8c_xasprintf("Authorization: Bearer %s\r\n", token) : k8c_xstrdup("");
        const char *hp = server + 7;
        cleanup_free char *req = k8c_xasprintf(
                "%s %s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: k8cctl/%s\r\n%s%s\r\n", method, path,
                (int)strcspn(hp, "/"), hp, K8C_VERSION, auth, headers != NULL ? headers : "");
        if (k8c_write_all(fd, req, strlen(req)) < 0) {
                close(fd);
                return k8c_cli_connection_error(server, err);
        }
        struct k8c_bytebuf in = { 0 };
        for (;;) {
                ssize_t n = k8c_http_head_parse(in.data, in.len, ret_code, ret_head);
                if (n > 0) {
                        k8c_bytebuf_append(rest, in.data + n, in.len - (size_t)n);
                        k8c_bytebuf_free(&in);
                        return fd;
                }
                uint8_t buf[4096];
                ssize_t got = n < 0 ? -1 : recv(fd, buf, sizeof(buf), 0);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got <= 0) {
                        k8c_bytebuf_free(&in);
                        close(fd);
                        return k8c_make_error(err, K8C_EUNAVAILABLE,
                                              "error: the server %s closed the connection", server);
                }
                k8c_bytebuf_append(&in, buf, (size_t)got);
        }
}

int k8c_cli_raw_error(int fd, int code, const char *head, struct k8c_bytebuf *rest, k8c_error_t *err)
{
        cleanup_free char *clen = k8c_http_head_get(head, "Content-Length");
        size_t want = clen != NULL ? (size_t)strtoul(clen, NULL, 10) : (1u << 20);
        while (k8c_bytebuf_size(rest) < want && want <= (1u << 20)) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, 5000) <= 0)
                        break;
                uint8_t buf[4096];
                ssize_t got = recv(fd, buf, sizeof(buf), 0);
                if (got <= 0)
                        break;
                k8c_bytebuf_append(rest, buf, (size_t)got);
        }
        close(fd);
        k8c_bytebuf_append(rest, "", 1);
        const char *body = (const char *)k8c_bytebuf_head(rest);
        json_auto_t *st = json_loads(body, 0, NULL);
        return k8c_cli_server_error(code, st, body, err);
}

int k8c_cli_pod_container(struct k8c_cli *cli, const char *arg, const char *verb, json_t **ret_pod,
                          const char **ret_container, k8c_error_t *err)
{
        const char *name = arg;
        const char *slash = strchr(arg, '/');
        if (slash != NULL) {
                size_t n = (size_t)(slash - arg);
                if (!((n == 3 && strncmp(arg, "pod", 3) == 0) || (n == 4 && strncmp(arg, "pods", 4) == 0) ||
                      (n == 2 && strncmp(arg, "po", 2) == 0)))
                        return k8c_make_error(err, K8C_EBADREQUEST, "error: %s supports only pods (got %.*s)",
                                              verb, (int)n, arg);
                name = slash + 1;
        }
        cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/%s/pods/%s", cli->ns, name);
        json_t *pod = NULL;
        int r = k8c_cli_request(cli, "GET", path, NULL, NULL, &pod, err);
        if (r < 0)
                return r;
        json_t *cs = k8c_json_get(pod, "spec.containers");
        const char *container = cli->container;
        if (container == NULL) {
                json_t *anns = k8c_json_get(pod, "metadata.annotations");
                const char *def =
                        json_string_value(json_object_get(anns, "kubectl.kubernetes.io/default-container"));
                container = def != NULL ? def : k8c_json_get_string(pod, "spec.containers[0].name");
                if (def == NULL && json_array_size(cs) > 1) {
                        fprintf(cli->errout, "Defaulted container \"%s\" out of: ", container);
                        size_t i;
                        json_t *c;
                        json_array_foreach(cs, i, c) fprintf(cli->errout, "%s%s", i > 0 ? ", " : "",
                                                             json_string_value(json_object_get(c, "name")));
                        fprintf(cli->errout, "\n");
                }
        }
        if (container == NULL) {
                json_decref(pod);
                return k8c_make_error(err, K8C_EBADREQUEST, "error: pod %s has no containers", name);
        }
        *ret_pod = pod;
        *ret_container = container;
        return 0;
}

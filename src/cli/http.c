/*
 * http.c - the CLI's requests and how their failures read.
 *
 * Every request goes through the shared client (client.h), Table requests
 * and watches with kubectl's Accept header through its request options. This
 * file only logs requests (-v=6) and turns failures into the exact lines
 * kubectl prints.
 */
#include "k8c/cli.h"

#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/flags.h"
#include "k8c/json.h"
#include "k8c/log.h"

#include <time.h>

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -v=6 and above: one line per request, like kubectl's round_trippers log. */
static void log_request(struct k8c_cli *cli, const char *method, const char *path, long code, int64_t start)
{
        if (k8c_log_v < 6)
                return;
        fprintf(cli->errout, "I %s %s%s %ld in %lld milliseconds\n", method, k8c_client_server(cli->client),
                path, code, (long long)(now_ms() - start));
}

int k8c_cli_connection_error(const char *server, k8c_error_t *err)
{
        const char *host = server;
        if (strncmp(host, "http://", 7) == 0)
                host += 7;
        else if (strncmp(host, "https://", 8) == 0)
                host += 8;
        size_t n = strcspn(host, "/");
        return k8c_make_error(
                err, K8C_EUNAVAILABLE,
                "The connection to the server %.*s was refused - did you specify the right host "
                "or port?",
                (int)n, host);
}

int k8c_cli_server_error(long code, const json_t *status, const char *raw, k8c_error_t *err)
{
        const char *reason = json_string_value(json_object_get(status, "reason"));
        const char *message = json_string_value(json_object_get(status, "message"));
        k8c_reason_t r = k8c_reason_from_http((int)code, reason);
        if (message == NULL)
                return k8c_make_error(err, r, "error: the server responded with HTTP %ld: %.200s", code,
                                      raw != NULL ? raw : "");
        /* kubectl prints validation errors without the "Error from server" prefix. */
        if (code == 422)
                return k8c_make_error(err, r, "%s", message);
        return k8c_make_error(err, r, "Error from server (%s): %s",
                              reason != NULL && reason[0] != '\0' ? reason : k8c_reason_string(r), message);
}

/* One request through the shared client; failures become kubectl's lines. */
static int cli_do(struct k8c_cli *cli, const char *method, const char *path, const json_t *body,
                  const struct k8c_request_opts *opts, json_t **ret_body, k8c_error_t *err)
{
        int r = k8c_cli_connect(cli, err);
        if (r < 0)
                return r;
        struct k8c_response resp = { 0 };
        cleanup_error k8c_error_t cerr = NULL;
        int64_t start = now_ms();
        r = k8c_client_do_opts(cli->client, method, path, body, opts, &resp, &cerr);
        log_request(cli, method, path, resp.code, start);
        if (r < 0) {
                if (resp.code == 0)
                        r = k8c_cli_connection_error(k8c_client_server(cli->client), err);
                else
                        r = k8c_cli_server_error(resp.code, resp.body, resp.raw, err);
                k8c_response_free(&resp);
                return r;
        }
        if (resp.warning != NULL)
                fprintf(cli->errout, "Warning: %s\n", resp.warning);
        if (ret_body != NULL)
                *ret_body = k8c_steal(&resp.body);
        k8c_response_free(&resp);
        return 0;
}

int k8c_cli_request(struct k8c_cli *cli, const char *method, const char *path, const json_t *body,
                    const char *content_type, json_t **ret_body, k8c_error_t *err)
{
        const struct k8c_request_opts o = { .content_type = content_type };
        return cli_do(cli, method, path, body, &o, ret_body, err);
}

int k8c_cli_get_accept(struct k8c_cli *cli, const char *path, const char *accept, json_t **ret_body,
                       k8c_error_t *err)
{
        const struct k8c_request_opts o = { .accept = accept };
        json_auto_t *body = NULL;
        int r = cli_do(cli, "GET", path, NULL, &o, &body, err);
        if (r < 0)
                return r;
        if (body == NULL)
                return k8c_make_error(err, K8C_EINTERNAL, "error: the server sent an empty or invalid reply");
        *ret_body = k8c_steal(&body);
        return 0;
}

int k8c_cli_watch_accept(struct k8c_cli *cli, const char *path, const char *accept, k8c_watch_fn fn,
                         void *opaque, k8c_error_t *err)
{
        int r = k8c_cli_connect(cli, err);
        if (r < 0)
                return r;
        const struct k8c_request_opts o = { .accept = accept };
        struct k8c_response reply = { 0 };
        cleanup_error k8c_error_t werr = NULL;
        r = k8c_client_watch_opts(cli->client, path, &o, fn, opaque, NULL, &reply, &werr);
        if (r == 1 || r == 0) {
                r = 0;
        } else if (reply.code == 0) {
                r = k8c_cli_connection_error(k8c_client_server(cli->client), err);
        } else if (reply.code != 200) {
                r = k8c_cli_server_error(reply.code, reply.body, reply.raw, err);
        } else if (k8c_error_reason(&werr) == K8C_EUNAVAILABLE) {
                r = 0; /* the server closing the stream ends a watch normally, as in kubectl */
        } else {
                r = k8c_make_error(err, k8c_error_reason(&werr), "error: %s", k8c_error_msg(&werr));
        }
        k8c_response_free(&reply);
        return r;
}

/*
 * router.c - maps a request path onto a handler: health, version, metrics,
 * discovery/OpenAPI, or a resource target (group, version, namespace, plural,
 * name, subresource) for the REST layer. Unknown paths are 404 Status.
 *
 * Path grammar follows Kubernetes' RequestInfoFactory: after /api/v1 or
 * /apis/<g>/<v>, "namespaces/<ns>/<rest>" scopes <rest> to <ns>, except that
 * namespaces/<ns>[/status|/finalize] addresses the Namespace object itself.
 */
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"
#include "k8c/flags.h"

#define MAX_SEGS 12

static size_t split_path(char *path, char **segs, size_t max)
{
        size_t n = 0;
        for (char *save = NULL, *tok = strtok_r(path, "/", &save); tok != NULL && n < max;
             tok = strtok_r(NULL, "/", &save))
                segs[n++] = tok;
        return n;
}

static void plain(struct k8c_req *req, int code, const char *text)
{
        req->code = code;
        free(req->reply_text);
        req->reply_text = k8c_xstrdup(text);
        req->content_type = "text/plain; charset=utf-8";
}

static void not_found(struct k8c_req *req)
{
        k8c_req_reply(req, 404,
                      k8c_status_new(K8C_ENOTFOUND, "the server could not find the requested resource", NULL,
                                     NULL, NULL, NULL));
}

static bool is_get(struct k8c_req *req)
{
        return strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
}

static void method_not_allowed(struct k8c_req *req)
{
        k8c_req_fail_msg(req, K8C_EMETHODNOTALLOWED,
                         "the server does not allow this method on the requested resource");
}

static void version(struct k8c_req *req)
{
        json_t *v =
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major", K8C_KUBE_VERSION_MAJOR,
                          "minor", K8C_KUBE_VERSION_MINOR, "gitVersion", "v1.32.0", "gitCommit", "k8c",
                          "gitTreeState", "clean", "buildDate", "2026-11-24T00:00:00Z", "goVersion",
                          "c-gnu11", "compiler", "gcc", "platform", "linux/amd64");
        k8c_req_reply(req, 200, v);
}

static void resource_path(struct k8c_req *req, const char *group, const char *ver, char **segs, size_t n)
{
        struct k8c_target t = { 0 };
        char **p = segs;
        if (n >= 2 && strcmp(p[0], "namespaces") == 0) {
                if (n >= 3 && strcmp(p[2], "status") != 0 && strcmp(p[2], "finalize") != 0) {
                        t.ns = p[1];
                        p += 2;
                        n -= 2;
                }
        }
        if (n < 1 || n > 3) {
                not_found(req);
                return;
        }
        t.res = k8c_resource_find(group, ver, p[0]);
        if (t.res == NULL) {
                not_found(req);
                return;
        }
        if (n >= 2)
                t.name = p[1];
        if (n == 3)
                t.sub = p[2];
        if (t.ns != NULL && !t.res->namespaced) {
                not_found(req);
                return;
        }
        snprintf(req->resource, sizeof(req->resource), "%s%s%s", t.res->plural, t.sub ? "/" : "",
                 t.sub ? t.sub : "");
        k8c_rest_handle(req, &t);
}

void k8c_route(struct k8c_req *req)
{
        cleanup_free char *path = k8c_xstrdup(req->url);
        char *q = strchr(path, '?');
        if (q != NULL)
                *q = '\0';
        char *segs[MAX_SEGS + 1];
        size_t n = split_path(path, segs, MAX_SEGS + 1);
        if (n > MAX_SEGS) {
                not_found(req);
                return;
        }
        if (n == 1 && (strcmp(segs[0], "healthz") == 0 || strcmp(segs[0], "livez") == 0 ||
                       strcmp(segs[0], "readyz") == 0)) {
                req->verb = "GET";
                snprintf(req->resource, sizeof(req->resource), "%s", segs[0]);
                if (strcmp(segs[0], "readyz") == 0 && !req->srv->ready)
                        plain(req, 500, "[-]storage not ready\nreadyz check failed\n");
                else
                        plain(req, 200, "ok");
                return;
        }
        if (n == 1 && strcmp(segs[0], "version") == 0) {
                req->verb = "GET";
                if (!is_get(req))
                        method_not_allowed(req);
                else
                        version(req);
                return;
        }
        if (n == 1 && strcmp(segs[0], "metrics") == 0) {
                req->verb = "GET";
                req->code = 200;
                req->reply_text = k8c_metrics_render(req->srv);
                req->content_type = "text/plain; version=0.0.4; charset=utf-8";
                return;
        }
        /* metrics.k8s.io is served from the kubelets, not storage (metrics_api.c). */
        if (k8c_metrics_api_handle(req, segs, n))
                return;
        if (n >= 1 && (strcmp(segs[0], "openapi") == 0 || (strcmp(segs[0], "api") == 0 && n <= 2) ||
                       (strcmp(segs[0], "apis") == 0 && n <= 3))) {
                req->verb = "GET";
                if (!is_get(req)) {
                        method_not_allowed(req);
                        return;
                }
                k8c_discovery_handle(req, segs, n);
                return;
        }
        if (n >= 3 && strcmp(segs[0], "api") == 0 && strcmp(segs[1], "v1") == 0) {
                resource_path(req, "", "v1", segs + 2, n - 2);
                return;
        }
        if (n >= 4 && strcmp(segs[0], "apis") == 0) {
                resource_path(req, segs[1], segs[2], segs + 3, n - 3);
                return;
        }
        not_found(req);
}

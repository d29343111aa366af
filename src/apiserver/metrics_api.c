/*
 * metrics_api.c - the resource metrics API (metrics.k8s.io/v1beta1), served
 * by the apiserver itself instead of an aggregated metrics-server: NodeMetrics
 * and PodMetrics are made on request from /stats/summary of the kubelets of
 * the Ready nodes (InternalIP + status.daemonEndpoints.kubeletEndpoint.Port),
 * fetched in parallel with a short timeout. A node whose kubelet does not
 * answer is left out, as metrics-server leaves out what it cannot scrape.
 *
 *   GET /apis/metrics.k8s.io[/v1beta1]                          discovery
 *   GET /apis/metrics.k8s.io/v1beta1/nodes[/NAME]               NodeMetrics(List)
 *   GET /apis/metrics.k8s.io/v1beta1/pods                       PodMetricsList, all namespaces
 *   GET /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods[/NAME]  PodMetrics(List)
 * labelSelector filters lists (node labels, pod labels).
 *
 * Owns: those answers. Must not: write to storage.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/json.h"
#include "k8c/labels.h"
#include "k8c/names.h"

#define GROUP "metrics.k8s.io"
#define VERSION "v1beta1"
#define GV GROUP "/" VERSION
#define SCRAPE_TIMEOUT_MS 3000

static json_t *verbs(void)
{
        return json_pack("[s, s]", "get", "list");
}

json_t *k8c_metrics_api_group(void)
{
        return json_pack("{s:s, s:[{s:s, s:s}], s:{s:s, s:s}}", "name", GROUP, "versions", "groupVersion", GV,
                         "version", VERSION, "preferredVersion", "groupVersion", GV, "version", VERSION);
}

static json_t *resource_list(void)
{
        return json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:b, s:s, s:o}, {s:s, s:s, s:b, s:s, s:o}]}", "kind",
                         "APIResourceList", "apiVersion", "v1", "groupVersion", GV, "resources", "name",
                         "nodes", "singularName", "", "namespaced", false, "kind", "NodeMetrics", "verbs",
                         verbs(), "name", "pods", "singularName", "", "namespaced", true, "kind",
                         "PodMetrics", "verbs", verbs());
}

json_t *k8c_metrics_api_aggregated(void)
{
        json_t *res =
                json_pack("[{s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:o}, {s:s, s:{s:s, s:s, s:s}, s:s, s:s, "
                          "s:o}]",
                          "resource", "nodes", "responseKind", "group", GROUP, "version", VERSION, "kind",
                          "NodeMetrics", "scope", "Cluster", "singularResource", "", "verbs", verbs(),
                          "resource", "pods", "responseKind", "group", GROUP, "version", VERSION, "kind",
                          "PodMetrics", "scope", "Namespaced", "singularResource", "", "verbs", verbs());
        return json_pack("{s:{s:s}, s:[{s:s, s:o, s:s}]}", "metadata", "name", GROUP, "versions", "version",
                         VERSION, "resources", res, "freshness", "Current");
}

/* ---- scraping ------------------------------------------------------------------------------------ */

struct scrape {
        char *node, *url;
        json_t *summary; /* NULL when the kubelet did not answer */
        pthread_t thread;
        bool started;
};

static void *scrape_main(void *opaque)
{
        struct scrape *s = opaque;
        struct k8c_client_config cfg = { .server = s->url,
                                         .timeout_ms = SCRAPE_TIMEOUT_MS,
                                         .max_retries = 1 };
        struct k8c_client *c = NULL;
        if (k8c_client_new(&cfg, &c, NULL) < 0)
                return NULL;
        json_t *body = NULL;
        if (k8c_client_get(c, "/stats/summary", &body, NULL) == 0)
                s->summary = body;
        k8c_client_free(c);
        return NULL;
}

static bool node_ready(const json_t *node)
{
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(node, "status.conditions"), i, c)
        {
                if (strcmp(json_string_value(json_object_get(c, "type")) ?: "", "Ready") == 0)
                        return strcmp(json_string_value(json_object_get(c, "status")) ?: "", "True") == 0;
        }
        return false;
}

/* "http://IP:PORT" of the node's kubelet, or NULL. */
static char *kubelet_url(const json_t *node)
{
        json_int_t port = k8c_json_get_int(node, "status.daemonEndpoints.kubeletEndpoint.Port", 0);
        if (port <= 0)
                return NULL;
        size_t i;
        json_t *a;
        json_array_foreach(k8c_json_get(node, "status.addresses"), i, a)
        {
                if (strcmp(json_string_value(json_object_get(a, "type")) ?: "", "InternalIP") == 0) {
                        const char *ip = json_string_value(json_object_get(a, "address"));
                        if (ip != NULL)
                                return strchr(ip, ':') != NULL
                                               ? k8c_xasprintf("http://[%s]:%lld", ip, (long long)port)
                                               : k8c_xasprintf("http://%s:%lld", ip, (long long)port);
                }
        }
        return NULL;
}

/* Objects stored under prefix (decoded). */
static int list_objects(struct k8c_apiserver *srv, const char *prefix, json_t **ret, k8c_error_t *err)
{
        struct k8c_kv_list l = { 0 };
        int r = k8c_store_list(srv->store, prefix, &(struct k8c_list_opts){ 0 }, &l, err);
        if (r < 0)
                return r;
        json_t *items = json_array();
        for (size_t i = 0; i < l.n; i++) {
                json_t *obj = NULL;
                if (k8c_rest_decode(&l.items[i], &obj, NULL) == 0)
                        json_array_append_new(items, obj);
        }
        k8c_kv_list_free(&l);
        *ret = items;
        return 0;
}

/* Scrapes the Ready nodes of nodes (only_node: just that one) in parallel; returns an array of
 * {node, summary} for those that answered. */
static json_t *scrape_nodes(const json_t *nodes, const char *only_node)
{
        size_t n = json_array_size(nodes);
        struct scrape *s = k8c_xcalloc(n + 1, sizeof(*s));
        size_t i;
        json_t *node;
        json_array_foreach(nodes, i, node)
        {
                const char *name = k8c_json_get_string(node, "metadata.name");
                if (name == NULL || (only_node != NULL && strcmp(name, only_node) != 0) || !node_ready(node))
                        continue;
                s[i].url = kubelet_url(node);
                if (s[i].url == NULL)
                        continue;
                s[i].node = k8c_xstrdup(name);
                s[i].started = pthread_create(&s[i].thread, NULL, scrape_main, &s[i]) == 0;
        }
        json_t *out = json_array();
        for (i = 0; i < n; i++) {
                if (s[i].started)
                        pthread_join(s[i].thread, NULL);
                if (s[i].summary != NULL)
                        json_array_append_new(
                                out, json_pack("{s:s, s:o}", "node", s[i].node, "summary", s[i].summary));
                free(s[i].node);
                free(s[i].url);
        }
        free(s);
        return out;
}

/* ---- shaping -------------------------------------------------------------------------------------- */

static json_t *quantities(const json_t *stats_cpu, const json_t *stats_mem)
{
        json_int_t cores = json_integer_value(json_object_get(stats_cpu, "usageNanoCores"));
        json_int_t mem = json_integer_value(json_object_get(stats_mem, "workingSetBytes"));
        json_t *cpu = json_sprintf("%lldn", (long long)cores);
        json_t *m = mem % 1024 == 0 ? json_sprintf("%lldKi", (long long)(mem / 1024))
                                    : json_sprintf("%lld", (long long)mem);
        return json_pack("{s:o, s:o}", "cpu", cpu, "memory", m);
}

/* The window the cpu rate covers: the kubelet's sampling interval, carried with the stats. */
static json_t *window_of(const json_t *stats_cpu)
{
        json_int_t ns = json_integer_value(json_object_get(stats_cpu, "usageWindowNanoSeconds"));
        if (ns <= 0)
                return json_string("0s");
        if (ns % 1000000000 == 0)
                return json_sprintf("%llds", (long long)(ns / 1000000000));
        return json_sprintf("%.3fs", (double)ns / 1e9);
}

static bool has_rate(const json_t *stats_cpu, const json_t *stats_mem)
{
        return json_is_integer(json_object_get(stats_cpu, "usageNanoCores")) &&
               json_is_integer(json_object_get(stats_mem, "workingSetBytes"));
}

static json_t *meta_of(const json_t *obj, bool namespaced)
{
        json_t *m = json_pack("{s:s}", "name", k8c_json_get_string(obj, "metadata.name") ?: "");
        if (namespaced)
                json_object_set_new(m, "namespace",
                                    json_string(k8c_json_get_string(obj, "metadata.namespace") ?: ""));
        char now[32];
        k8c_rfc3339(time(NULL), now, sizeof(now));
        json_object_set_new(m, "creationTimestamp", json_string(now));
        const json_t *labels = k8c_json_get(obj, "metadata.labels");
        if (json_is_object(labels))
                json_object_set_new(m, "labels", json_deep_copy(labels));
        return m;
}

static json_t *node_metrics(const json_t *node, const json_t *summary)
{
        const json_t *cpu = k8c_json_get(summary, "node.cpu");
        const json_t *mem = k8c_json_get(summary, "node.memory");
        if (!has_rate(cpu, mem))
                return NULL;
        return json_pack("{s:s, s:s, s:o, s:s, s:o, s:o}", "kind", "NodeMetrics", "apiVersion", GV,
                         "metadata", meta_of(node, false), "timestamp",
                         k8c_json_get_string(cpu, "time") ?: "", "window", window_of(cpu), "usage",
                         quantities(cpu, mem));
}

static json_t *pod_metrics(const json_t *pod, const json_t *stats)
{
        json_t *containers = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(stats, "containers"), i, c)
        {
                const json_t *cpu = json_object_get(c, "cpu");
                const json_t *mem = json_object_get(c, "memory");
                if (!has_rate(cpu, mem)) {
                        json_decref(containers);
                        return NULL;
                }
                json_array_append_new(containers,
                                      json_pack("{s:s, s:o}", "name",
                                                json_string_value(json_object_get(c, "name")) ?: "", "usage",
                                                quantities(cpu, mem)));
        }
        const json_t *cpu = json_object_get(stats, "cpu");
        if (json_array_size(containers) == 0) {
                json_decref(containers);
                return NULL;
        }
        return json_pack("{s:s, s:s, s:o, s:s, s:o, s:o}", "kind", "PodMetrics", "apiVersion", GV, "metadata",
                         meta_of(pod, true), "timestamp", k8c_json_get_string(cpu, "time") ?: "", "window",
                         window_of(cpu), "containers", containers);
}

static void reply_list(struct k8c_req *req, const char *kind, json_t *items)
{
        k8c_req_reply(req, 200,
                      json_pack("{s:s, s:s, s:{}, s:o}", "kind", kind, "apiVersion", GV, "metadata", "items",
                                items));
}

static void not_found(struct k8c_req *req, const char *what, const char *name)
{
        cleanup_free char *msg = k8c_xasprintf("%s \"%s\" not found", what, name);
        k8c_req_reply(req, 404, k8c_status_new(K8C_ENOTFOUND, msg, name, GROUP, what, NULL));
}

static int selector_of(struct k8c_req *req, struct k8c_selector *sel)
{
        const char *s = k8c_req_query(req, "labelSelector");
        cleanup_error k8c_error_t err = NULL;
        if (k8c_selector_parse(s != NULL ? s : "", sel, &err) < 0) {
                k8c_req_fail_msg(req, K8C_EBADREQUEST, k8c_error_msg(&err));
                return -1;
        }
        return 0;
}

static void nodes(struct k8c_req *req, const char *name)
{
        cleanup_error k8c_error_t err = NULL;
        const struct k8c_resource *res = k8c_resource_find("", "v1", "nodes");
        cleanup_free char *prefix = k8c_rest_key(res, NULL, NULL);
        json_auto_t *all = NULL;
        if (list_objects(req->srv, prefix, &all, &err) < 0) {
                k8c_req_fail(req, &err, NULL, NULL, NULL, NULL);
                return;
        }
        struct k8c_selector sel = { 0 };
        if (name == NULL && selector_of(req, &sel) < 0)
                return;
        json_auto_t *scraped = scrape_nodes(all, name);
        json_t *items = json_array();
        size_t i;
        json_t *node;
        json_array_foreach(all, i, node)
        {
                const char *n = k8c_json_get_string(node, "metadata.name");
                if (name == NULL && !k8c_selector_matches(&sel, k8c_json_get(node, "metadata.labels")))
                        continue;
                size_t j;
                json_t *sc;
                json_array_foreach(scraped, j, sc)
                {
                        if (strcmp(json_string_value(json_object_get(sc, "node")), n ?: "") != 0)
                                continue;
                        json_t *m = node_metrics(node, json_object_get(sc, "summary"));
                        if (m != NULL)
                                json_array_append_new(items, m);
                }
        }
        k8c_selector_free(&sel);
        if (name != NULL) {
                if (json_array_size(items) == 0) {
                        json_decref(items);
                        not_found(req, "nodes", name);
                        return;
                }
                k8c_req_reply(req, 200, json_incref(json_array_get(items, 0)));
                json_decref(items);
                return;
        }
        /* Lists leave out the kind of each item, as the real API does. */
        json_array_foreach(items, i, node)
        {
                json_object_del(node, "kind");
                json_object_del(node, "apiVersion");
        }
        reply_list(req, "NodeMetricsList", items);
}

static void pods(struct k8c_req *req, const char *ns, const char *name)
{
        cleanup_error k8c_error_t err = NULL;
        const struct k8c_resource *pres = k8c_resource_find("", "v1", "pods");
        const struct k8c_resource *nres = k8c_resource_find("", "v1", "nodes");
        cleanup_free char *pprefix = k8c_rest_key(pres, ns, NULL);
        cleanup_free char *nprefix = k8c_rest_key(nres, NULL, NULL);
        json_auto_t *all_pods = NULL, *all_nodes = NULL;
        if (list_objects(req->srv, pprefix, &all_pods, &err) < 0 ||
            list_objects(req->srv, nprefix, &all_nodes, &err) < 0) {
                k8c_req_fail(req, &err, NULL, NULL, NULL, NULL);
                return;
        }
        struct k8c_selector sel = { 0 };
        if (name == NULL && selector_of(req, &sel) < 0)
                return;
        /* Only the pods asked for, by uid; and only the nodes they run on. */
        json_auto_t *wanted = json_object();
        json_auto_t *node_names = json_object();
        size_t i;
        json_t *p;
        json_array_foreach(all_pods, i, p)
        {
                const char *uid = k8c_json_get_string(p, "metadata.uid");
                const char *pname = k8c_json_get_string(p, "metadata.name");
                const char *node = k8c_json_get_string(p, "spec.nodeName");
                if (uid == NULL || node == NULL)
                        continue;
                if (name != NULL ? strcmp(pname ?: "", name) != 0
                                 : !k8c_selector_matches(&sel, k8c_json_get(p, "metadata.labels")))
                        continue;
                json_object_set(wanted, uid, p);
                json_object_set_new(node_names, node, json_true());
        }
        k8c_selector_free(&sel);
        json_auto_t *nodes_wanted = json_array();
        json_t *node;
        json_array_foreach(all_nodes, i, node)
        {
                if (json_object_get(node_names, k8c_json_get_string(node, "metadata.name") ?: "") != NULL)
                        json_array_append(nodes_wanted, node);
        }
        json_auto_t *scraped = json_object_size(wanted) > 0 ? scrape_nodes(nodes_wanted, NULL) : json_array();
        json_t *items = json_array();
        json_t *sc;
        json_array_foreach(scraped, i, sc)
        {
                size_t j;
                json_t *ps;
                json_array_foreach(k8c_json_get(json_object_get(sc, "summary"), "pods"), j, ps)
                {
                        const json_t *pod =
                                json_object_get(wanted, k8c_json_get_string(ps, "podRef.uid") ?: "");
                        if (pod == NULL)
                                continue;
                        json_t *m = pod_metrics(pod, ps);
                        if (m != NULL)
                                json_array_append_new(items, m);
                }
        }
        if (name != NULL) {
                if (json_array_size(items) == 0) {
                        json_decref(items);
                        not_found(req, "pods", name);
                        return;
                }
                k8c_req_reply(req, 200, json_incref(json_array_get(items, 0)));
                json_decref(items);
                return;
        }
        json_t *it;
        json_array_foreach(items, i, it)
        {
                json_object_del(it, "kind");
                json_object_del(it, "apiVersion");
        }
        reply_list(req, "PodMetricsList", items);
}

bool k8c_metrics_api_handle(struct k8c_req *req, char **segs, size_t n)
{
        if (n < 2 || strcmp(segs[0], "apis") != 0 || strcmp(segs[1], GROUP) != 0)
                return false;
        req->verb = "GET";
        snprintf(req->resource, sizeof(req->resource), "%s", n >= 4 ? segs[n >= 6 ? 5 : 3] : "discovery");
        if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
                k8c_req_fail_msg(req, K8C_EMETHODNOTALLOWED,
                                 "the server does not allow this method on the requested resource");
                return true;
        }
        if (n == 2) {
                json_t *g = k8c_metrics_api_group();
                json_object_set_new(g, "kind", json_string("APIGroup"));
                json_object_set_new(g, "apiVersion", json_string("v1"));
                k8c_req_reply(req, 200, g);
                return true;
        }
        if (strcmp(segs[2], VERSION) != 0) {
                k8c_req_fail_msg(req, K8C_ENOTFOUND, "the server could not find the requested resource");
                return true;
        }
        char **p = segs + 3;
        size_t m = n - 3;
        if (m == 0) {
                k8c_req_reply(req, 200, resource_list());
                return true;
        }
        if (strcmp(p[0], "nodes") == 0 && m <= 2) {
                nodes(req, m == 2 ? p[1] : NULL);
                return true;
        }
        if (strcmp(p[0], "pods") == 0 && m == 1) {
                pods(req, NULL, NULL);
                return true;
        }
        if (strcmp(p[0], "namespaces") == 0 && m >= 3 && m <= 4 && strcmp(p[2], "pods") == 0) {
                pods(req, p[1], m == 4 ? p[3] : NULL);
                return true;
        }
        k8c_req_fail_msg(req, K8C_ENOTFOUND, "the server could not find the requested resource");
        return true;
}

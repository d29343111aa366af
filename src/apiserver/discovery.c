/*
 * discovery.c - /api, /apis, /api/v1, /apis/<g>[/<v>] (APIVersions,
 * APIGroupList, APIGroup, APIResourceList) and the minimal OpenAPI v3 documents
 * kubectl needs to send fieldValidation=Strict (API.md §1). Everything is
 * derived from k8c_resources[]; nothing here is resource-specific.
 */
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"
#include "k8c/flags.h"

static const char *const verbs_all[] = { "create", "delete", "deletecollection",
                                         "get",    "list",   "patch",
                                         "update", "watch",  NULL };

static json_t *strv_json(const char *const *v)
{
        json_t *a = json_array();
        for (; v != NULL && *v != NULL; v++)
                json_array_append_new(a, json_string(*v));
        return a;
}

static char *gv_of(const char *group, const char *version)
{
        return group[0] != '\0' ? k8c_xasprintf("%s/%s", group, version) : k8c_xstrdup(version);
}

/* The group/versions served, in registry order, each once. */
static size_t group_versions(const char *gvs[][2], size_t max)
{
        size_t n = 0;
        for (const struct k8c_resource *const *r = k8c_resources; *r != NULL; r++) {
                bool seen = false;
                for (size_t i = 0; i < n; i++)
                        if (strcmp(gvs[i][0], (*r)->group) == 0 && strcmp(gvs[i][1], (*r)->version) == 0)
                                seen = true;
                if (!seen && n < max) {
                        gvs[n][0] = (*r)->group;
                        gvs[n][1] = (*r)->version;
                        n++;
                }
        }
        return n;
}

static json_t *resource_list(const char *group, const char *version)
{
        cleanup_free char *gv = gv_of(group, version);
        json_t *list = json_pack("{s:s, s:s, s:s, s:[]}", "kind", "APIResourceList", "apiVersion", "v1",
                                 "groupVersion", gv, "resources");
        json_t *arr = json_object_get(list, "resources");
        for (const struct k8c_resource *const *rp = k8c_resources; *rp != NULL; rp++) {
                const struct k8c_resource *r = *rp;
                if (strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
                        continue;
                json_t *o = json_object();
                json_object_set_new(o, "name", json_string(r->plural));
                json_object_set_new(o, "singularName", json_string(r->singular != NULL ? r->singular : ""));
                json_object_set_new(o, "namespaced", json_boolean(r->namespaced));
                json_object_set_new(o, "kind", json_string(r->kind));
                json_object_set_new(o, "verbs", strv_json(verbs_all));
                if (r->short_names != NULL)
                        json_object_set_new(o, "shortNames", strv_json(r->short_names));
                if (r->categories != NULL)
                        json_object_set_new(o, "categories", strv_json(r->categories));
                json_array_append_new(arr, o);
                if (r->has_status) {
                        static const char *const sv[] = { "get", "patch", "update", NULL };
                        cleanup_free char *n = k8c_xasprintf("%s/status", r->plural);
                        json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", n,
                                                             "singularName", "", "namespaced", r->namespaced,
                                                             "kind", r->kind, "verbs", strv_json(sv)));
                }
                if (r->group[0] == '\0' && strcmp(r->plural, "pods") == 0) {
                        static const char *const bv[] = { "create", NULL };
                        json_array_append_new(arr,
                                              json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", "pods/binding",
                                                        "singularName", "", "namespaced", true, "kind",
                                                        "Binding", "verbs", strv_json(bv)));
                        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:o}", "name",
                                                             "pods/eviction", "singularName", "", "group",
                                                             "policy", "version", "v1", "namespaced", true,
                                                             "kind", "Eviction", "verbs", strv_json(bv)));
                }
                if (r->has_scale) {
                        static const char *const sv[] = { "get", "patch", "update", NULL };
                        cleanup_free char *n = k8c_xasprintf("%s/scale", r->plural);
                        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:o}", "name", n,
                                                             "singularName", "", "group", "autoscaling",
                                                             "version", "v1", "namespaced", r->namespaced,
                                                             "kind", "Scale", "verbs", strv_json(sv)));
                }
        }
        return list;
}

static json_t *api_group(const char *group)
{
        json_t *g = json_pack("{s:s, s:s, s:s, s:[]}", "kind", "APIGroup", "apiVersion", "v1", "name", group,
                              "versions");
        const char *gvs[32][2];
        size_t n = group_versions(gvs, 32);
        json_t *pref = NULL;
        for (size_t i = 0; i < n; i++) {
                if (strcmp(gvs[i][0], group) != 0)
                        continue;
                cleanup_free char *gv = gv_of(group, gvs[i][1]);
                json_t *v = json_pack("{s:s, s:s}", "groupVersion", gv, "version", gvs[i][1]);
                json_array_append_new(json_object_get(g, "versions"), v);
                if (pref == NULL)
                        pref = json_pack("{s:s, s:s}", "groupVersion", gv, "version", gvs[i][1]);
        }
        if (pref == NULL) {
                json_decref(g);
                return NULL;
        }
        json_object_set_new(g, "preferredVersion", pref);
        return g;
}

/* OpenAPI v3: one document per group-version whose paths carry, per kind, a patch
 * operation with x-kubernetes-group-version-kind and a fieldValidation parameter. */
static json_t *openapi_doc(const char *group, const char *version)
{
        json_t *paths = json_object();
        for (const struct k8c_resource *const *rp = k8c_resources; *rp != NULL; rp++) {
                const struct k8c_resource *r = *rp;
                if (strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
                        continue;
                cleanup_free char *base = group[0] != '\0' ? k8c_xasprintf("/apis/%s/%s", group, version)
                                                           : k8c_xstrdup("/api/v1");
                cleanup_free char *p =
                        r->namespaced ? k8c_xasprintf("%s/namespaces/{namespace}/%s/{name}", base, r->plural)
                                      : k8c_xasprintf("%s/%s/{name}", base, r->plural);
                json_t *param = json_pack("{s:s, s:s, s:s, s:{s:s}, s:b}", "name", "fieldValidation", "in",
                                          "query", "description",
                                          "fieldValidation instructs the server on how to handle "
                                          "objects in the request containing unknown or duplicate fields.",
                                          "schema", "type", "string", "uniqueItems", 1);
                json_t *op = json_pack("{s:s, s:[o], s:{s:s, s:s, s:s}, s:s, s:s}", "operationId", r->kind,
                                       "parameters", param, "x-kubernetes-group-version-kind", "group", group,
                                       "version", version, "kind", r->kind, "x-kubernetes-action", "patch",
                                       "description", "partially update the specified object");
                json_object_set_new(paths, p, json_pack("{s:o}", "patch", op));
        }
        return json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:{}}}", "openapi", "3.0.0", "info", "title",
                         "Kubernetes", "version", "v1.32.0", "paths", paths, "components", "schemas");
}

static void openapi(struct k8c_req *req, char **segs, size_t n)
{
        if (n >= 2 && strcmp(segs[1], "v3") == 0) {
                const char *gvs[32][2];
                size_t ngv = group_versions(gvs, 32);
                if (n == 2) {
                        json_t *paths = json_object();
                        for (size_t i = 0; i < ngv; i++) {
                                cleanup_free char *key =
                                        gvs[i][0][0] != '\0'
                                                ? k8c_xasprintf("apis/%s/%s", gvs[i][0], gvs[i][1])
                                                : k8c_xasprintf("api/%s", gvs[i][1]);
                                cleanup_free char *url =
                                        k8c_xasprintf("/openapi/v3/%s?hash=k8c-%s", key, K8C_VERSION);
                                json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
                        }
                        k8c_req_reply(req, 200, json_pack("{s:o}", "paths", paths));
                        return;
                }
                if (n == 4 && strcmp(segs[2], "api") == 0) {
                        for (size_t i = 0; i < ngv; i++)
                                if (gvs[i][0][0] == '\0' && strcmp(gvs[i][1], segs[3]) == 0) {
                                        k8c_req_reply(req, 200, openapi_doc("", segs[3]));
                                        return;
                                }
                }
                if (n == 5 && strcmp(segs[2], "apis") == 0) {
                        for (size_t i = 0; i < ngv; i++)
                                if (strcmp(gvs[i][0], segs[3]) == 0 && strcmp(gvs[i][1], segs[4]) == 0) {
                                        k8c_req_reply(req, 200, openapi_doc(segs[3], segs[4]));
                                        return;
                                }
                }
        }
        k8c_req_fail_msg(req, K8C_ENOTFOUND, "the server could not find the requested resource");
}

/* Aggregated discovery (apidiscovery.k8s.io APIGroupDiscoveryList): every group-version's
 * resources in one answer, for /api (core) or /apis (named groups). */
static json_t *gvk_json(const char *group, const char *version, const char *kind)
{
        return json_pack("{s:s, s:s, s:s}", "group", group, "version", version, "kind", kind);
}

static json_t *aggregated(bool core, const char *disc_version)
{
        static const char *const sub_verbs[] = { "get", "patch", "update", NULL };
        const char *gvs[32][2];
        size_t ngv = group_versions(gvs, 32);
        cleanup_free char *av = k8c_xasprintf("apidiscovery.k8s.io/%s", disc_version);
        json_t *items = json_array();
        for (size_t i = 0; i < ngv; i++) {
                bool is_core = gvs[i][0][0] == '\0';
                if (is_core != core)
                        continue;
                /* One item per group, its versions in registry order (the first is preferred). */
                json_t *item = NULL;
                size_t j;
                json_t *it;
                json_array_foreach(items, j, it)
                {
                        const char *n =
                                json_string_value(json_object_get(json_object_get(it, "metadata"), "name"));
                        if (n != NULL && strcmp(n, gvs[i][0]) == 0)
                                item = it;
                }
                if (item == NULL) {
                        item = json_pack("{s:{s:s}, s:[]}", "metadata", "name", gvs[i][0], "versions");
                        if (is_core)
                                json_object_set_new(item, "metadata", json_object());
                        json_array_append_new(items, item);
                }
                json_t *resources = json_array();
                for (const struct k8c_resource *const *rp = k8c_resources; *rp != NULL; rp++) {
                        const struct k8c_resource *r = *rp;
                        if (strcmp(r->group, gvs[i][0]) != 0 || strcmp(r->version, gvs[i][1]) != 0)
                                continue;
                        json_t *o = json_object();
                        json_object_set_new(o, "resource", json_string(r->plural));
                        json_object_set_new(o, "responseKind", gvk_json(r->group, r->version, r->kind));
                        json_object_set_new(o, "scope",
                                            json_string(r->namespaced ? "Namespaced" : "Cluster"));
                        json_object_set_new(o, "singularResource",
                                            json_string(r->singular != NULL ? r->singular : ""));
                        json_object_set_new(o, "verbs", strv_json(verbs_all));
                        if (r->short_names != NULL)
                                json_object_set_new(o, "shortNames", strv_json(r->short_names));
                        if (r->categories != NULL)
                                json_object_set_new(o, "categories", strv_json(r->categories));
                        json_t *subs = json_array();
                        if (r->has_status)
                                json_array_append_new(subs, json_pack("{s:s, s:o, s:o}", "subresource",
                                                                      "status", "responseKind",
                                                                      gvk_json(r->group, r->version, r->kind),
                                                                      "verbs", strv_json(sub_verbs)));
                        if (r->has_scale)
                                json_array_append_new(subs, json_pack("{s:s, s:o, s:o}", "subresource",
                                                                      "scale", "responseKind",
                                                                      gvk_json("autoscaling", "v1", "Scale"),
                                                                      "verbs", strv_json(sub_verbs)));
                        if (r->group[0] == '\0' && strcmp(r->plural, "pods") == 0) {
                                static const char *const create_verb[] = { "create", NULL };
                                json_array_append_new(subs,
                                                      json_pack("{s:s, s:o, s:o}", "subresource", "binding",
                                                                "responseKind", gvk_json("", "v1", "Binding"),
                                                                "verbs", strv_json(create_verb)));
                                json_array_append_new(subs, json_pack("{s:s, s:o, s:o}", "subresource",
                                                                      "eviction", "responseKind",
                                                                      gvk_json("policy", "v1", "Eviction"),
                                                                      "verbs", strv_json(create_verb)));
                        }
                        if (json_array_size(subs) > 0)
                                json_object_set_new(o, "subresources", subs);
                        else
                                json_decref(subs);
                        json_array_append_new(resources, o);
                }
                json_array_append_new(json_object_get(item, "versions"),
                                      json_pack("{s:s, s:o, s:s}", "version", gvs[i][1], "resources",
                                                resources, "freshness", "Current"));
        }
        if (!core)
                json_array_append_new(items, k8c_metrics_api_aggregated());
        return json_pack("{s:s, s:s, s:{}, s:o}", "kind", "APIGroupDiscoveryList", "apiVersion", av,
                         "metadata", "items", items);
}

/* The aggregated discovery version the client accepts ("v2", "v2beta1"), or NULL. */
static const char *wants_aggregated(struct k8c_req *req)
{
        const char *accept = k8c_req_header(req, "Accept");
        if (accept == NULL)
                return NULL;
        if (strstr(accept, "g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList") != NULL)
                return "v2";
        if (strstr(accept, "g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList") != NULL)
                return "v2beta1";
        return NULL;
}

static void reply_aggregated(struct k8c_req *req, bool core, const char *v)
{
        k8c_req_reply(req, 200, aggregated(core, v));
        req->content_type = strcmp(v, "v2") == 0
                                    ? "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
                                    : "application/json;g=apidiscovery.k8s.io;v=v2beta1;as="
                                      "APIGroupDiscoveryList";
}

void k8c_discovery_handle(struct k8c_req *req, char **segs, size_t n)
{
        snprintf(req->resource, sizeof(req->resource), "discovery");
        if (strcmp(segs[0], "openapi") == 0) {
                openapi(req, segs, n);
                return;
        }
        const char *gvs[32][2];
        size_t ngv = group_versions(gvs, 32);
        const char *agg = wants_aggregated(req);
        if (agg != NULL && n == 1) {
                reply_aggregated(req, strcmp(segs[0], "api") == 0, agg);
                return;
        }
        if (strcmp(segs[0], "api") == 0) {
                if (n == 1) {
                        char addr[64];
                        snprintf(addr, sizeof(addr), "%s:%d", req->srv->cfg.bind_address, req->srv->cfg.port);
                        k8c_req_reply(req, 200,
                                      json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions",
                                                "versions", "v1", "serverAddressByClientCIDRs", "clientCIDR",
                                                "0.0.0.0/0", "serverAddress", addr));
                        return;
                }
                if (strcmp(segs[1], "v1") == 0) {
                        k8c_req_reply(req, 200, resource_list("", "v1"));
                        return;
                }
        } else if (n == 1) {
                json_t *groups = json_array();
                for (size_t i = 0; i < ngv; i++) {
                        if (gvs[i][0][0] == '\0')
                                continue;
                        bool seen = false;
                        for (size_t j = 0; j < i; j++)
                                if (strcmp(gvs[j][0], gvs[i][0]) == 0)
                                        seen = true;
                        if (seen)
                                continue;
                        json_t *g = api_group(gvs[i][0]);
                        json_object_del(g, "kind");
                        json_object_del(g, "apiVersion");
                        json_array_append_new(groups, g);
                }
                json_array_append_new(groups, k8c_metrics_api_group());
                k8c_req_reply(req, 200,
                              json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList", "apiVersion", "v1",
                                        "groups", groups));
                return;
        } else if (n == 2) {
                json_t *g = api_group(segs[1]);
                if (g != NULL) {
                        k8c_req_reply(req, 200, g);
                        return;
                }
        } else if (n == 3) {
                for (size_t i = 0; i < ngv; i++)
                        if (strcmp(gvs[i][0], segs[1]) == 0 && strcmp(gvs[i][1], segs[2]) == 0) {
                                k8c_req_reply(req, 200, resource_list(segs[1], segs[2]));
                                return;
                        }
        }
        k8c_req_fail_msg(req, K8C_ENOTFOUND, "the server could not find the requested resource");
}

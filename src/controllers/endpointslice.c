/*
 * endpointslice.c - the EndpointSlice controller (Kubernetes' endpointslice
 * controller, reduced): for each Service with a selector (not ExternalName), the
 * matching pods that have an IP become endpoints of discovery.k8s.io/v1
 * EndpointSlices labelled kubernetes.io/service-name=<service> and
 * endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io, owned by
 * the Service: addresses, conditions (ready = serving and not terminating, or
 * publishNotReadyAddresses; serving = the Ready condition; terminating =
 * deletionTimestamp), nodeName, targetRef, and the Service's ports resolved
 * against the pod (by name or number). Endpoints with the same resolved ports share
 * slices of at most 100 endpoints (maxEndpointsPerSlice); usually one slice per
 * Service. Slices are named by generateName "<service>-"; slices created but not
 * yet seen in the cache hold further syncs of that Service back, so none is made
 * twice. Reads caches; writes through object control. Does not log.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controllers/internal.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/labels.h"

#define SERVICE_NAME_LABEL "kubernetes.io/service-name"
#define MANAGED_BY_LABEL "endpointslice.kubernetes.io/managed-by"
#define MANAGED_BY "endpointslice-controller.k8s.io"
#define MAX_PER_SLICE 100

struct k8c_endpointslice_controller {
        struct k8c_ctrl_service_watch sw; /* the Services informer and the queue */
        struct k8c_informer *pods, *slices;
        struct k8c_object_control ctl;
        pthread_mutex_t lock;
        json_t *pending; /* service key → [[name, monotonic ms]] of slices created, not yet in the cache */
};

/* A created slice not seen by then was deleted again before the cache saw it: stop waiting. */
#define PENDING_TIMEOUT_MS 10000

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- computing ---- */

/* FindPort: the container port a Service port's targetPort means for pod, or 0. */
static json_int_t resolve_port(const json_t *svc_port, const json_t *pod)
{
        json_t *tp = json_object_get(svc_port, "targetPort");
        if (tp == NULL || json_is_null(tp))
                return json_integer_value(json_object_get(svc_port, "port"));
        if (json_is_integer(tp))
                return json_integer_value(tp);
        const char *name = json_string_value(tp);
        if (name == NULL)
                return 0;
        char *end = NULL;
        long v = strtol(name, &end, 10);
        if (end != name && *end == '\0')
                return v;
        const char *proto = json_string_value(json_object_get(svc_port, "protocol")) ?: "TCP";
        size_t i, j;
        json_t *ctr, *cp;
        json_array_foreach(k8c_json_get(pod, "spec.containers"), i, ctr)
        {
                json_array_foreach(json_object_get(ctr, "ports"), j, cp)
                {
                        const char *n = json_string_value(json_object_get(cp, "name"));
                        const char *p = json_string_value(json_object_get(cp, "protocol")) ?: "TCP";
                        if (n != NULL && strcmp(n, name) == 0 && strcmp(p, proto) == 0)
                                return json_integer_value(json_object_get(cp, "containerPort"));
                }
        }
        return 0;
}

static int cmp_endpoint(const void *pa, const void *pb)
{
        const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
        int r = strcmp(k8c_json_get_string(a, "addresses[0]") ?: "",
                       k8c_json_get_string(b, "addresses[0]") ?: "");
        if (r != 0)
                return r;
        return strcmp(k8c_json_get_string(a, "targetRef.uid") ?: "",
                      k8c_json_get_string(b, "targetRef.uid") ?: "");
}

static void sort_array(json_t *arr, int (*cmp)(const void *, const void *))
{
        size_t n = json_array_size(arr);
        if (n < 2)
                return;
        json_t **v = k8c_xcalloc(n, sizeof(json_t *));
        for (size_t i = 0; i < n; i++)
                v[i] = json_incref(json_array_get(arr, i));
        qsort(v, n, sizeof(json_t *), cmp);
        json_array_clear(arr);
        for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, v[i]);
        free(v);
}

json_t *k8c_endpointslices_for_service(const json_t *svc, const json_t *pods)
{
        json_t *selset = k8c_json_get(svc, "spec.selector");
        if (!json_is_object(selset) || json_object_size(selset) == 0)
                return NULL;
        if (strcmp(k8c_json_get_string(svc, "spec.type") ?: "", "ExternalName") == 0)
                return NULL;
        struct k8c_selector sel = { 0 };
        cleanup_error k8c_error_t err = NULL;
        if (k8c_selector_from_set(selset, &sel, &err) < 0) {
                k8c_selector_free(&sel);
                return NULL;
        }
        bool publish = k8c_json_get_bool(svc, "spec.publishNotReadyAddresses", false);
        const char *ns = k8c_json_get_string(svc, "metadata.namespace") ?: "";
        const json_t *svc_ports = k8c_json_get(svc, "spec.ports");
        /* ports key → {ports, endpoints} */
        json_auto_t *groups = json_object();
        size_t i;
        json_t *pod;
        json_array_foreach((json_t *)pods, i, pod)
        {
                if (strcmp(k8c_json_get_string(pod, "metadata.namespace") ?: "", ns) != 0)
                        continue;
                if (!k8c_selector_matches(&sel, k8c_json_get(pod, "metadata.labels")))
                        continue;
                const char *ip = k8c_json_get_string(pod, "status.podIP");
                if (ip == NULL || ip[0] == '\0' || strchr(ip, ':') != NULL)
                        continue;
                const char *phase = k8c_json_get_string(pod, "status.phase") ?: "";
                if (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)
                        continue;
                json_t *ports = json_array();
                size_t j;
                json_t *sp;
                json_array_foreach(svc_ports, j, sp)
                {
                        json_int_t p = resolve_port(sp, pod);
                        if (p <= 0)
                                continue;
                        json_t *ep = json_pack("{s:s, s:I, s:s}", "name",
                                               json_string_value(json_object_get(sp, "name")) ?: "", "port",
                                               p, "protocol",
                                               json_string_value(json_object_get(sp, "protocol")) ?: "TCP");
                        if (json_is_string(json_object_get(sp, "appProtocol")))
                                json_object_set(ep, "appProtocol", json_object_get(sp, "appProtocol"));
                        json_array_append_new(ports, ep);
                }
                bool serving = k8c_pod_is_ready(pod);
                bool terminating = k8c_json_get(pod, "metadata.deletionTimestamp") != NULL;
                bool ready = publish || (serving && !terminating);
                json_t *e = json_pack("{s:[s], s:{s:b, s:b, s:b}, s:{s:s, s:s, s:s, s:s}}", "addresses", ip,
                                      "conditions", "ready", ready, "serving", serving, "terminating",
                                      terminating, "targetRef", "kind", "Pod", "namespace", ns, "name",
                                      k8c_json_get_string(pod, "metadata.name"), "uid",
                                      k8c_json_get_string(pod, "metadata.uid") ?: "");
                const char *node = k8c_json_get_string(pod, "spec.nodeName");
                if (node != NULL && node[0] != '\0')
                        json_object_set_new(e, "nodeName", json_string(node));
                const char *hostname = k8c_json_get_string(pod, "spec.hostname");
                const char *sub = k8c_json_get_string(pod, "spec.subdomain");
                if (hostname != NULL && hostname[0] != '\0' && sub != NULL &&
                    strcmp(sub, k8c_json_get_string(svc, "metadata.name") ?: "") == 0)
                        json_object_set_new(e, "hostname", json_string(hostname));
                cleanup_free char *key = k8c_json_dumps(ports);
                json_t *g = json_object_get(groups, key);
                if (g == NULL) {
                        g = json_pack("{s:O, s:[]}", "ports", ports, "endpoints");
                        json_object_set_new(groups, key, g);
                }
                json_decref(ports);
                json_array_append_new(json_object_get(g, "endpoints"), e);
        }
        k8c_selector_free(&sel);
        /* A Service without endpoints still gets one placeholder slice, as Kubernetes does: no
         * endpoints and no ports. */
        if (json_object_size(groups) == 0)
                json_object_set_new(groups, "", json_pack("{s:[], s:[]}", "ports", "endpoints"));
        json_t *labels = json_is_object(k8c_json_get(svc, "metadata.labels"))
                                 ? json_deep_copy(k8c_json_get(svc, "metadata.labels"))
                                 : json_object();
        json_object_set_new(labels, SERVICE_NAME_LABEL,
                            json_string(k8c_json_get_string(svc, "metadata.name")));
        json_object_set_new(labels, MANAGED_BY_LABEL, json_string(MANAGED_BY));
        const char *cip = k8c_json_get_string(svc, "spec.clusterIP");
        if (cip != NULL && strcmp(cip, "None") == 0)
                json_object_set_new(labels, "service.kubernetes.io/headless", json_string(""));
        json_t *out = json_array();
        const char *k;
        json_t *g;
        json_object_foreach(groups, k, g)
        {
                json_t *eps = json_object_get(g, "endpoints");
                sort_array(eps, cmp_endpoint);
                size_t n = json_array_size(eps);
                for (size_t start = 0; start == 0 || start < n; start += MAX_PER_SLICE) {
                        json_t *chunk = json_array();
                        for (size_t x = start; x < n && x < start + MAX_PER_SLICE; x++)
                                json_array_append(chunk, json_array_get(eps, x));
                        json_t *ref = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", "v1", "kind",
                                                "Service", "name", k8c_json_get_string(svc, "metadata.name"),
                                                "uid", k8c_json_get_string(svc, "metadata.uid") ?: "",
                                                "controller", 1, "blockOwnerDeletion", 1);
                        json_array_append_new(out, json_pack("{s:s, s:s, s:{s:s, s:O, s:[o]}, s:s, s:o, s:O}",
                                                             "apiVersion", "discovery.k8s.io/v1", "kind",
                                                             "EndpointSlice", "metadata", "namespace", ns,
                                                             "labels", labels, "ownerReferences", ref,
                                                             "addressType", "IPv4", "endpoints", chunk,
                                                             "ports", json_object_get(g, "ports")));
                        if (n == 0)
                                break;
                }
        }
        json_decref(labels);
        return out;
}

/* ---- handlers ---- */

/* A slice changed or vanished (ours arriving, or someone else's hand): look at its Service again. */
static void on_slice(struct k8c_endpointslice_controller *c, const json_t *slice)
{
        const char *svc = k8c_json_get_string(slice, "metadata.labels[\"" SERVICE_NAME_LABEL "\"]");
        const char *ns = k8c_json_get_string(slice, "metadata.namespace");
        if (svc == NULL || ns == NULL)
                return;
        cleanup_free char *key = k8c_xasprintf("%s/%s", ns, svc);
        k8c_workqueue_add(c->sw.queue, key);
}

static void on_slice_add(void *o, json_t *s)
{
        on_slice(o, s);
}

static void on_slice_update(void *o, json_t *old, json_t *s)
{
        on_slice(o, s);
}

static void on_slice_delete(void *o, json_t *s)
{
        on_slice(o, s);
}

struct k8c_endpointslice_controller *k8c_endpointslice_controller_new(struct k8c_informer *services,
                                                                      struct k8c_informer *pods,
                                                                      struct k8c_informer *slices,
                                                                      const struct k8c_object_control *ctl)
{
        struct k8c_endpointslice_controller *c = k8c_xcalloc(1, sizeof(*c));
        c->pods = pods;
        c->slices = slices;
        c->ctl = *ctl;
        c->pending = json_object();
        pthread_mutex_init(&c->lock, NULL);
        k8c_ctrl_watch_services_and_pods(&c->sw, services, pods, k8c_workqueue_new(NULL));
        k8c_informer_add_handlers(
                slices, &(struct k8c_informer_handlers){ on_slice_add, on_slice_update, on_slice_delete, c });
        return c;
}

void k8c_endpointslice_controller_free(struct k8c_endpointslice_controller *c)
{
        if (c == NULL)
                return;
        k8c_workqueue_free(c->sw.queue);
        json_decref(c->pending);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

struct k8c_workqueue *k8c_endpointslice_controller_queue(struct k8c_endpointslice_controller *c)
{
        return c->sw.queue;
}

/* ---- sync ---- */

/* The managed slices of Service ns/name in the cache, sorted by name. */
static json_t *current_slices(struct k8c_endpointslice_controller *c, const char *ns, const char *name)
{
        json_auto_t *all = k8c_informer_by_index(c->slices, "namespace", ns);
        json_t *out = json_array();
        size_t i;
        json_t *s;
        json_array_foreach(all, i, s)
        {
                const char *sn = k8c_json_get_string(s, "metadata.labels[\"" SERVICE_NAME_LABEL "\"]");
                const char *mb = k8c_json_get_string(s, "metadata.labels[\"" MANAGED_BY_LABEL "\"]");
                if (sn != NULL && strcmp(sn, name) == 0 && mb != NULL && strcmp(mb, MANAGED_BY) == 0)
                        json_array_append(out, s);
        }
        return out;
}

/* Whether every slice we created for key is in the cache (then forgets them). */
static bool creations_observed(struct k8c_endpointslice_controller *c, const char *key, const json_t *cur)
{
        pthread_mutex_lock(&c->lock);
        json_t *names = json_object_get(c->pending, key);
        bool all = true;
        int64_t now = mono_ms();
        size_t i, j;
        json_t *n, *s;
        json_array_foreach(names, i, n)
        {
                const char *name = json_string_value(json_array_get(n, 0)) ?: "";
                bool seen = now - json_integer_value(json_array_get(n, 1)) > PENDING_TIMEOUT_MS;
                json_array_foreach(cur, j, s) seen =
                        seen || strcmp(name, k8c_json_get_string(s, "metadata.name") ?: "") == 0;
                all = all && seen;
        }
        if (all)
                json_object_del(c->pending, key);
        pthread_mutex_unlock(&c->lock);
        return all;
}

static void note_creation(struct k8c_endpointslice_controller *c, const char *key, const char *name)
{
        pthread_mutex_lock(&c->lock);
        json_t *names = json_object_get(c->pending, key);
        if (names == NULL) {
                names = json_array();
                json_object_set_new(c->pending, key, names);
        }
        json_array_append_new(names, json_pack("[s, I]", name, (json_int_t)mono_ms()));
        pthread_mutex_unlock(&c->lock);
}

static int delete_slice(struct k8c_endpointslice_controller *c, const char *ns, const json_t *s,
                        k8c_error_t *err)
{
        cleanup_free char *path = k8c_ctrl_path("discovery.k8s.io/v1", "endpointslices", ns,
                                                k8c_json_get_string(s, "metadata.name"));
        int r = c->ctl.delete(c->ctl.opaque, path, NULL, err);
        if (r < 0 && k8c_error_reason(err) == K8C_ENOTFOUND) {
                k8c_error_release(err);
                return 0;
        }
        return r;
}

static bool same_slice(const json_t *cur, const json_t *want)
{
        json_t *ce = json_object_get(cur, "endpoints");
        json_auto_t *cure = json_is_array(ce) ? json_incref(ce) : json_array();
        json_t *cp = json_object_get(cur, "ports");
        json_auto_t *curp = json_is_array(cp) ? json_incref(cp) : json_array();
        return json_equal(cure, json_object_get(want, "endpoints")) &&
               json_equal(curp, json_object_get(want, "ports")) &&
               json_equal(k8c_json_get(cur, "metadata.labels"), k8c_json_get(want, "metadata.labels"));
}

int k8c_endpointslice_controller_sync(struct k8c_endpointslice_controller *c, const char *key,
                                      k8c_error_t *err)
{
        const char *slash = strchr(key, '/');
        if (slash == NULL)
                return 0;
        cleanup_free char *ns = k8c_xstrndup(key, (size_t)(slash - key));
        const char *name = slash + 1;
        json_auto_t *svc = k8c_informer_get(c->sw.svc, key);
        json_auto_t *cur = current_slices(c, ns, name);
        if (!creations_observed(c, key, cur)) {
                /* Our last creations are still on their way: acting now could create them twice. */
                k8c_workqueue_add_after(c->sw.queue, key, 100);
                return 0;
        }
        json_auto_t *pods = k8c_informer_by_index(c->pods, "namespace", ns);
        json_auto_t *want = svc != NULL && k8c_json_get(svc, "metadata.deletionTimestamp") == NULL
                                    ? k8c_endpointslices_for_service(svc, pods)
                                    : NULL;
        int r = 0;
        size_t i, j;
        json_t *s, *w;
        if (want == NULL) {
                /* No Service, or one without a selector: our slices go (the GC would also take them). */
                json_array_foreach(cur, i, s) if ((r = delete_slice(c, ns, s, err)) < 0) return r;
                return 0;
        }
        /* Each wanted slice reuses a current one: the same content, else the same ports, else any left
         * (finalize() turns a delete plus a create into an update); the rest are created or deleted. */
        size_t nc = json_array_size(cur), nw = json_array_size(want);
        bool *used = k8c_xcalloc(nc + 1, sizeof(bool));
        ssize_t *pick = k8c_xcalloc(nw + 1, sizeof(ssize_t));
        for (i = 0; i < nw; i++)
                pick[i] = -1;
        for (int pass = 0; pass < 3; pass++) {
                json_array_foreach(want, i, w)
                {
                        if (pick[i] >= 0)
                                continue;
                        json_array_foreach(cur, j, s)
                        {
                                if (used[j])
                                        continue;
                                json_t *cp = json_object_get(s, "ports");
                                json_auto_t *curp = json_is_array(cp) ? json_incref(cp) : json_array();
                                bool ok = pass == 0   ? same_slice(s, w)
                                          : pass == 1 ? json_equal(curp, json_object_get(w, "ports"))
                                                      : strcmp(k8c_json_get_string(s, "addressType") ?: "",
                                                               "IPv4") == 0;
                                if (ok) {
                                        pick[i] = (ssize_t)j;
                                        used[j] = true;
                                        break;
                                }
                        }
                }
        }
        json_array_foreach(want, i, w)
        {
                if (r < 0)
                        break;
                if (pick[i] >= 0) {
                        s = json_array_get(cur, (size_t)pick[i]);
                        if (same_slice(s, w))
                                continue;
                        json_auto_t *obj = json_deep_copy(w);
                        json_t *md = json_object_get(obj, "metadata");
                        json_object_set(md, "name", k8c_json_get(s, "metadata.name"));
                        json_object_set(md, "resourceVersion", k8c_json_get(s, "metadata.resourceVersion"));
                        if (k8c_json_get(s, "metadata.annotations") != NULL)
                                json_object_set(md, "annotations", k8c_json_get(s, "metadata.annotations"));
                        cleanup_free char *path = k8c_ctrl_path("discovery.k8s.io/v1", "endpointslices", ns,
                                                                k8c_json_get_string(s, "metadata.name"));
                        r = c->ctl.update(c->ctl.opaque, path, obj, err);
                        continue;
                }
                json_auto_t *obj = json_deep_copy(w);
                char gen[320];
                snprintf(gen, sizeof(gen), "%.56s-", name);
                json_object_set_new(json_object_get(obj, "metadata"), "generateName", json_string(gen));
                cleanup_free char *path = k8c_ctrl_path("discovery.k8s.io/v1", "endpointslices", ns, NULL);
                json_auto_t *created = NULL;
                if (c->ctl.create_ret != NULL)
                        r = c->ctl.create_ret(c->ctl.opaque, path, obj, &created, err);
                else
                        r = c->ctl.create(c->ctl.opaque, path, obj, err);
                if (r < 0)
                        break;
                /* Without the created object (fakes) nothing is tracked: the cache is taken as it is. */
                const char *cname = k8c_json_get_string(created, "metadata.name");
                if (cname != NULL)
                        note_creation(c, key, cname);
        }
        free(pick);
        for (j = 0; j < nc && r >= 0; j++)
                if (!used[j])
                        r = delete_slice(c, ns, json_array_get(cur, j), err);
        free(used);
        return r;
}

/*
 * endpoints.c - the Endpoints controller (Kubernetes' endpoints_controller.go):
 * for each Service with a selector, one Endpoints object of the same name whose
 * subsets hold the matching pods that have an IP, ready ones in addresses and
 * the others in notReadyAddresses, with the Service's ports resolved against
 * each pod's container ports (by name or number). Pods with the same resolved
 * ports share a subset. Services without a selector are left alone (their
 * Endpoints belong to the user). Reads caches; writes through object control.
 * Does not log.
 */
#include <stdlib.h>
#include <string.h>

#include "controllers/internal.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/labels.h"

struct k8c_endpoints_controller {
        struct k8c_ctrl_service_watch sw; /* the Services informer and the queue */
        struct k8c_informer *pods, *ep;
        struct k8c_object_control ctl;
};

/* ---- computing ---- */

/* The container port a Service port's targetPort means for pod, or 0 (not served). */
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
        /* A numeric string is a number (IntOrString parsed from text). */
        char *end = NULL;
        long v = strtol(name, &end, 10);
        if (end != name && *end == '\0')
                return v;
        const char *proto = json_string_value(json_object_get(svc_port, "protocol"));
        if (proto == NULL)
                proto = "TCP";
        json_t *containers = k8c_json_get(pod, "spec.containers");
        size_t i, j;
        json_t *ctr, *cp;
        json_array_foreach(containers, i, ctr)
        {
                json_array_foreach(json_object_get(ctr, "ports"), j, cp)
                {
                        const char *n = json_string_value(json_object_get(cp, "name"));
                        const char *p = json_string_value(json_object_get(cp, "protocol"));
                        if (p == NULL)
                                p = "TCP";
                        if (n != NULL && strcmp(n, name) == 0 && strcmp(p, proto) == 0)
                                return json_integer_value(json_object_get(cp, "containerPort"));
                }
        }
        return 0;
}

static bool tolerate_unready(const json_t *svc)
{
        if (k8c_json_get_bool(svc, "spec.publishNotReadyAddresses", false))
                return true;
        const char *a = k8c_json_get_string(
                svc, "metadata.annotations[\"service.alpha.kubernetes.io/tolerate-unready-endpoints\"]");
        return a != NULL && strcmp(a, "true") == 0;
}

static int cmp_addr(const void *pa, const void *pb)
{
        const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
        const char *ia = json_string_value(json_object_get(a, "ip")),
                   *ib = json_string_value(json_object_get(b, "ip"));
        int r = strcmp(ia != NULL ? ia : "", ib != NULL ? ib : "");
        if (r != 0)
                return r;
        const char *ua = k8c_json_get_string(a, "targetRef.uid"),
                   *ub = k8c_json_get_string(b, "targetRef.uid");
        return strcmp(ua != NULL ? ua : "", ub != NULL ? ub : "");
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

static int cmp_port(const void *pa, const void *pb)
{
        const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
        const char *na = json_string_value(json_object_get(a, "name")),
                   *nb = json_string_value(json_object_get(b, "name"));
        int r = strcmp(na != NULL ? na : "", nb != NULL ? nb : "");
        if (r != 0)
                return r;
        json_int_t x = json_integer_value(json_object_get(a, "port")),
                   y = json_integer_value(json_object_get(b, "port"));
        return x < y ? -1 : x > y;
}

static int cmp_subset(const void *pa, const void *pb)
{
        const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
        cleanup_free char *x = k8c_json_dumps(json_object_get(a, "ports"));
        cleanup_free char *y = k8c_json_dumps(json_object_get(b, "ports"));
        return strcmp(x, y);
}

json_t *k8c_endpoints_for_service(const json_t *svc, const json_t *pods)
{
        json_t *selset = k8c_json_get(svc, "spec.selector");
        if (!json_is_object(selset) || json_object_size(selset) == 0)
                return NULL;
        struct k8c_selector sel = { 0 };
        cleanup_error k8c_error_t err = NULL;
        if (k8c_selector_from_set(selset, &sel, &err) < 0) {
                k8c_selector_free(&sel);
                return NULL;
        }
        bool all_ready = tolerate_unready(svc);
        const char *ns = k8c_json_get_string(svc, "metadata.namespace");
        json_t *svc_ports = k8c_json_get(svc, "spec.ports");
        bool headless = false;
        const char *cip = k8c_json_get_string(svc, "spec.clusterIP");
        if (cip != NULL && strcmp(cip, "None") == 0)
                headless = true;
        /* subsets keyed by the dump of their (sorted) ports */
        json_auto_t *by_ports = json_object();
        size_t i;
        json_t *pod;
        json_array_foreach((json_t *)pods, i, pod)
        {
                const char *pns = k8c_json_get_string(pod, "metadata.namespace");
                if (pns == NULL || ns == NULL || strcmp(pns, ns) != 0)
                        continue;
                if (!k8c_selector_matches(&sel, k8c_json_get(pod, "metadata.labels")))
                        continue;
                const char *ip = k8c_json_get_string(pod, "status.podIP");
                if (ip == NULL || ip[0] == '\0')
                        continue;
                if (!all_ready && k8c_json_get(pod, "metadata.deletionTimestamp") != NULL)
                        continue;
                const char *phase = k8c_json_get_string(pod, "status.phase");
                if (phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
                        continue;
                json_auto_t *ports = json_array();
                size_t j;
                json_t *sp;
                json_array_foreach(svc_ports, j, sp)
                {
                        json_int_t p = resolve_port(sp, pod);
                        if (p <= 0)
                                continue;
                        json_t *ep = json_object();
                        const char *pn = json_string_value(json_object_get(sp, "name"));
                        if (pn != NULL && pn[0] != '\0')
                                json_object_set_new(ep, "name", json_string(pn));
                        json_object_set_new(ep, "port", json_integer(p));
                        const char *proto = json_string_value(json_object_get(sp, "protocol"));
                        json_object_set_new(ep, "protocol", json_string(proto != NULL ? proto : "TCP"));
                        if (json_is_string(json_object_get(sp, "appProtocol")))
                                json_object_set(ep, "appProtocol", json_object_get(sp, "appProtocol"));
                        json_array_append_new(ports, ep);
                }
                /* A headless service without ports still lists its pods; others need a port. */
                if (json_array_size(ports) == 0 && !(headless && json_array_size(svc_ports) == 0))
                        continue;
                sort_array(ports, cmp_port);
                json_t *addr = json_pack("{s:s}", "ip", ip);
                const char *node = k8c_json_get_string(pod, "spec.nodeName");
                if (node != NULL && node[0] != '\0')
                        json_object_set_new(addr, "nodeName", json_string(node));
                json_object_set_new(addr, "targetRef",
                                    json_pack("{s:s, s:s, s:s, s:s}", "kind", "Pod", "namespace", pns, "name",
                                              k8c_json_get_string(pod, "metadata.name"), "uid",
                                              k8c_json_get_string(pod, "metadata.uid") ?: ""));
                cleanup_free char *pk = k8c_json_dumps(ports);
                json_t *subset = json_object_get(by_ports, pk);
                if (subset == NULL) {
                        subset = json_pack("{s:[], s:[], s:O}", "addresses", "notReadyAddresses", "ports",
                                           ports);
                        json_object_set_new(by_ports, pk, subset);
                }
                bool ready = all_ready || k8c_pod_is_ready(pod);
                json_array_append_new(json_object_get(subset, ready ? "addresses" : "notReadyAddresses"),
                                      addr);
        }
        k8c_selector_free(&sel);
        json_t *subsets = json_array();
        const char *k;
        json_t *s;
        json_object_foreach(by_ports, k, s)
        {
                json_t *copy = json_deep_copy(s);
                sort_array(json_object_get(copy, "addresses"), cmp_addr);
                sort_array(json_object_get(copy, "notReadyAddresses"), cmp_addr);
                if (json_array_size(json_object_get(copy, "addresses")) == 0)
                        json_object_del(copy, "addresses");
                if (json_array_size(json_object_get(copy, "notReadyAddresses")) == 0)
                        json_object_del(copy, "notReadyAddresses");
                if (json_array_size(json_object_get(copy, "ports")) == 0)
                        json_object_del(copy, "ports");
                json_array_append_new(subsets, copy);
        }
        sort_array(subsets, cmp_subset);
        json_t *labels = json_is_object(k8c_json_get(svc, "metadata.labels"))
                                 ? json_deep_copy(k8c_json_get(svc, "metadata.labels"))
                                 : json_object();
        if (headless)
                json_object_set_new(labels, "service.kubernetes.io/headless", json_string(""));
        return json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:o}", "apiVersion", "v1", "kind", "Endpoints",
                         "metadata", "name", k8c_json_get_string(svc, "metadata.name"), "namespace", ns,
                         "labels", labels, "subsets", subsets);
}

/* ---- handlers ---- */

static void on_ep_delete(void *o, json_t *ep)
{
        /* Someone deleted an Endpoints a Service still needs: recreate it. */
        k8c_ctrl_enqueue_obj(((struct k8c_endpoints_controller *)o)->sw.queue, ep);
}

struct k8c_endpoints_controller *k8c_endpoints_controller_new(struct k8c_informer *services,
                                                              struct k8c_informer *pods,
                                                              struct k8c_informer *endpoints,
                                                              const struct k8c_object_control *ctl)
{
        struct k8c_endpoints_controller *c = k8c_xcalloc(1, sizeof(*c));
        c->pods = pods;
        c->ep = endpoints;
        c->ctl = *ctl;
        k8c_ctrl_watch_services_and_pods(&c->sw, services, pods, k8c_workqueue_new(NULL));
        k8c_informer_add_handlers(endpoints, &(struct k8c_informer_handlers){ NULL, NULL, on_ep_delete, c });
        return c;
}

void k8c_endpoints_controller_free(struct k8c_endpoints_controller *c)
{
        if (c == NULL)
                return;
        k8c_workqueue_free(c->sw.queue);
        free(c);
}

struct k8c_workqueue *k8c_endpoints_controller_queue(struct k8c_endpoints_controller *c)
{
        return c->sw.queue;
}

/* ---- sync ---- */

int k8c_endpoints_controller_sync(struct k8c_endpoints_controller *c, const char *key, k8c_error_t *err)
{
        const char *slash = strchr(key, '/');
        if (slash == NULL)
                return 0;
        cleanup_free char *ns = k8c_xstrndup(key, (size_t)(slash - key));
        const char *name = slash + 1;
        json_auto_t *svc = k8c_informer_get(c->sw.svc, key);
        json_auto_t *cur = k8c_informer_get(c->ep, key);
        cleanup_free char *path = k8c_ctrl_path("v1", "endpoints", ns, name);
        if (svc == NULL) {
                /* The Service is gone: so is its Endpoints (as Kubernetes does). */
                if (cur == NULL)
                        return 0;
                int r = c->ctl.delete(c->ctl.opaque, path, NULL, err);
                if (r < 0 && k8c_error_reason(err) == K8C_ENOTFOUND) {
                        k8c_error_release(err);
                        return 0;
                }
                return r;
        }
        json_auto_t *pods = k8c_informer_by_index(c->pods, "namespace", ns);
        json_auto_t *want = k8c_endpoints_for_service(svc, pods);
        if (want == NULL)
                return 0;
        if (cur != NULL) {
                json_t *cl = k8c_json_get(cur, "metadata.labels");
                json_auto_t *curl = json_is_object(cl) ? json_incref(cl) : json_object();
                json_t *cs = json_object_get(cur, "subsets");
                json_auto_t *curs = json_is_array(cs) ? json_incref(cs) : json_array();
                if (json_equal(curs, json_object_get(want, "subsets")) &&
                    json_equal(curl, k8c_json_get(want, "metadata.labels")))
                        return 0;
                json_t *md = json_object_get(want, "metadata");
                json_t *rv = k8c_json_get(cur, "metadata.resourceVersion");
                if (rv != NULL)
                        json_object_set(md, "resourceVersion", rv);
                json_t *ann = k8c_json_get(cur, "metadata.annotations");
                if (ann != NULL)
                        json_object_set(md, "annotations", ann);
                return c->ctl.update(c->ctl.opaque, path, want, err);
        }
        cleanup_free char *cpath = k8c_ctrl_path("v1", "endpoints", ns, NULL);
        int r = c->ctl.create(c->ctl.opaque, cpath, want, err);
        if (r < 0 && k8c_error_reason(err) == K8C_EALREADYEXISTS) {
                /* The cache had not seen it yet: the watch brings it and the next sync updates it. */
                k8c_error_release(err);
                k8c_workqueue_add_after(c->sw.queue, key, 100);
                return 0;
        }
        return r;
}

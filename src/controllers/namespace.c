/*
 * namespace.c - the Namespace controller (Kubernetes' namespaced_resources_deleter):
 * a Namespace with a deletionTimestamp whose spec.finalizers still hold
 * "kubernetes" has every namespaced collection deleted; once every list comes
 * back empty, "kubernetes" is removed through PUT .../namespaces/NAME/finalize and
 * the apiserver drops the Namespace. While content remains (pods in their grace
 * period, objects behind finalizers) the key is looked at again shortly.
 *
 * Lists content live rather than from caches: the manager does not cache every
 * kind, and an emptiness check must not trust a lagging cache. Does not log.
 */
#include <stdlib.h>
#include <string.h>

#include "controllers/internal.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"

/* Namespaced collections removed before a namespace goes, as group/version + plural. */
static const struct {
        const char *api_version, *plural;
} content[] = {
        { "v1", "pods" },
        { "v1", "services" },
        { "v1", "endpoints" },
        { "v1", "configmaps" },
        { "v1", "secrets" },
        { "v1", "persistentvolumeclaims" },
        { "v1", "events" },
        { "apps/v1", "replicasets" },
        { "apps/v1", "deployments" },
        { "coordination.k8s.io/v1", "leases" },
        { "autoscaling/v2", "horizontalpodautoscalers" },
        { "discovery.k8s.io/v1", "endpointslices" },
};

struct k8c_namespace_controller {
        struct k8c_informer *ns;
        struct k8c_object_control ctl;
        struct k8c_workqueue *queue;
        int64_t recheck_ms;
};

static void enqueue(struct k8c_namespace_controller *c, const json_t *obj)
{
        if (k8c_json_get(obj, "metadata.deletionTimestamp") == NULL)
                return;
        cleanup_free char *key = k8c_object_key(obj);
        if (key != NULL)
                k8c_workqueue_add(c->queue, key);
}

static void on_add(void *o, json_t *obj)
{
        enqueue(o, obj);
}

static void on_update(void *o, json_t *old, json_t *obj)
{
        enqueue(o, obj);
}

struct k8c_namespace_controller *k8c_namespace_controller_new(struct k8c_informer *namespaces,
                                                              const struct k8c_object_control *ctl)
{
        struct k8c_namespace_controller *c = k8c_xcalloc(1, sizeof(*c));
        c->ns = namespaces;
        c->ctl = *ctl;
        c->queue = k8c_workqueue_new(NULL);
        c->recheck_ms = 1000;
        k8c_informer_add_handlers(namespaces, &(struct k8c_informer_handlers){ on_add, on_update, NULL, c });
        return c;
}

void k8c_namespace_controller_free(struct k8c_namespace_controller *c)
{
        if (c == NULL)
                return;
        k8c_workqueue_free(c->queue);
        free(c);
}

struct k8c_workqueue *k8c_namespace_controller_queue(struct k8c_namespace_controller *c)
{
        return c->queue;
}

static bool has_kubernetes_finalizer(const json_t *ns)
{
        json_t *fin = k8c_json_get(ns, "spec.finalizers");
        size_t i;
        json_t *v;
        json_array_foreach(fin, i, v)
        {
                if (json_is_string(v) && strcmp(json_string_value(v), "kubernetes") == 0)
                        return true;
        }
        return false;
}

/* Deletes the collection and returns how many of its objects are still there (or a negative error). */
static int drain(struct k8c_namespace_controller *c, const char *name, size_t i, k8c_error_t *err)
{
        cleanup_free char *path = k8c_ctrl_path(content[i].api_version, content[i].plural, name, NULL);
        json_auto_t *opts = json_pack("{s:s, s:s, s:s}", "kind", "DeleteOptions", "apiVersion", "v1",
                                      "propagationPolicy", "Background");
        int r = c->ctl.delete(c->ctl.opaque, path, opts, err);
        if (r < 0) {
                k8c_reason_t why = k8c_error_reason(err);
                if (why != K8C_ENOTFOUND && why != K8C_EMETHODNOTALLOWED)
                        return k8c_error_wrap(err, "deleting %s", content[i].plural);
                /* The apiserver does not serve this kind: nothing of it can be left. */
                k8c_error_release(err);
                return 0;
        }
        json_auto_t *list = NULL;
        r = c->ctl.get(c->ctl.opaque, path, &list, err);
        if (r < 0) {
                if (k8c_error_reason(err) == K8C_ENOTFOUND) {
                        k8c_error_release(err);
                        return 0;
                }
                return k8c_error_wrap(err, "listing %s", content[i].plural);
        }
        return (int)json_array_size(json_object_get(list, "items"));
}

int k8c_namespace_controller_sync(struct k8c_namespace_controller *c, const char *key, k8c_error_t *err)
{
        json_auto_t *ns = k8c_informer_get(c->ns, key);
        if (ns == NULL || k8c_json_get(ns, "metadata.deletionTimestamp") == NULL ||
            !has_kubernetes_finalizer(ns))
                return 0;
        int remaining = 0;
        for (size_t i = 0; i < K8C_ARRAY_SIZE(content); i++) {
                int r = drain(c, key, i, err);
                if (r < 0)
                        return r;
                remaining += r;
        }
        if (remaining > 0) {
                /* Pods in their grace period, objects behind finalizers: look again soon. */
                k8c_workqueue_add_after(c->queue, key, c->recheck_ms);
                return 0;
        }
        json_auto_t *obj = json_deep_copy(ns);
        json_t *keep = json_array();
        json_t *fin = k8c_json_get(obj, "spec.finalizers");
        size_t i;
        json_t *v;
        json_array_foreach(fin, i, v)
        {
                if (!(json_is_string(v) && strcmp(json_string_value(v), "kubernetes") == 0))
                        json_array_append(keep, v);
        }
        json_object_set_new(k8c_json_object_ensure(obj, "spec"), "finalizers", keep);
        cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/%s/finalize", key);
        /* NotFound is not swallowed: it also means an apiserver without the finalize subresource. */
        return c->ctl.update(c->ctl.opaque, path, obj, err);
}

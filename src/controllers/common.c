/*
 * common.c - what the controllers share: the client-backed object control,
 * the standard informer indexes, pod predicates (active, ready, available) and
 * Kubernetes' ordering of pods for deletion, and the --controllers grammar.
 * Pure helpers: no threads, no logging.
 */
#include <stdlib.h>
#include <string.h>

#include "controllers/internal.h"
#include "k8c/cleanup.h"
#include "k8c/informer.h"
#include "k8c/json.h"
#include "k8c/labels.h"
#include "k8c/names.h"

/* ---- the real client behind the action pointers ---- */

static int cc_create(void *o, const char *path, const json_t *obj, k8c_error_t *err)
{
        return k8c_client_post(o, path, obj, NULL, err);
}

static int cc_update(void *o, const char *path, const json_t *obj, k8c_error_t *err)
{
        return k8c_client_put(o, path, obj, NULL, err);
}

static int cc_patch(void *o, const char *path, const char *type, const json_t *patch, k8c_error_t *err)
{
        return k8c_client_patch(o, path, type, patch, NULL, err);
}

static int cc_delete(void *o, const char *path, const json_t *options, k8c_error_t *err)
{
        return k8c_client_delete(o, path, options, NULL, err);
}

static int cc_get(void *o, const char *path, json_t **ret, k8c_error_t *err)
{
        return k8c_client_get(o, path, ret, err);
}

static int cc_create_ret(void *o, const char *path, const json_t *obj, json_t **ret, k8c_error_t *err)
{
        return k8c_client_post(o, path, obj, ret, err);
}

struct k8c_object_control k8c_object_control_client(struct k8c_client *client)
{
        return (struct k8c_object_control){ .create = cc_create,
                                            .update = cc_update,
                                            .patch = cc_patch,
                                            .delete = cc_delete,
                                            .get = cc_get,
                                            .opaque = client,
                                            .create_ret = cc_create_ret };
}

/* ---- indexes ---- */

static char **index_uid(const json_t *obj)
{
        const char *uid = k8c_json_get_string(obj, "metadata.uid");
        if (uid == NULL)
                return NULL;
        char **v = k8c_xcalloc(2, sizeof(char *));
        v[0] = k8c_xstrdup(uid);
        return v;
}

static char **index_owner(const json_t *obj)
{
        json_t *refs = k8c_json_get(obj, "metadata.ownerReferences");
        size_t n = json_array_size(refs);
        if (n == 0)
                return NULL;
        char **v = k8c_xcalloc(n + 1, sizeof(char *));
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
                const char *uid = json_string_value(json_object_get(json_array_get(refs, i), "uid"));
                if (uid != NULL)
                        v[j++] = k8c_xstrdup(uid);
        }
        return v;
}

void k8c_ctrl_add_indexes(struct k8c_informer *inf)
{
        k8c_informer_add_index(inf, "namespace", k8c_index_by_namespace);
        k8c_informer_add_index(inf, "uid", index_uid);
        k8c_informer_add_index(inf, "owner", index_owner);
        k8c_informer_add_index(inf, "node", k8c_index_by_node_name);
}

/* ---- --controllers ---- */

bool k8c_controller_enabled(const char *spec, const char *name)
{
        if (spec == NULL || spec[0] == '\0')
                spec = "*";
        bool star = false, on = false, off = false;
        cleanup_free char *copy = k8c_xstrdup(spec);
        char *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
                while (*t == ' ')
                        t++;
                if (strcmp(t, "*") == 0)
                        star = true;
                else if (t[0] == '-' && strcmp(t + 1, name) == 0)
                        off = true;
                else if (strcmp(t, name) == 0)
                        on = true;
        }
        /* As kube-controller-manager: an explicit -name wins over "*", and naming it enables it. */
        if (off)
                return false;
        return on || star;
}

/* ---- owner references ---- */

const json_t *k8c_ctrl_controller_ref(const json_t *obj)
{
        json_t *refs = k8c_json_get(obj, "metadata.ownerReferences");
        size_t i;
        json_t *r;
        json_array_foreach(refs, i, r)
        {
                if (json_is_true(json_object_get(r, "controller")))
                        return r;
        }
        return NULL;
}

/* ---- pod predicates ---- */

bool k8c_pod_is_active(const json_t *pod)
{
        const char *phase = k8c_json_get_string(pod, "status.phase");
        if (phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
                return false;
        return k8c_json_get(pod, "metadata.deletionTimestamp") == NULL;
}

static const json_t *pod_condition(const json_t *pod, const char *type)
{
        json_t *conds = k8c_json_get(pod, "status.conditions");
        size_t i;
        json_t *c;
        json_array_foreach(conds, i, c)
        {
                const char *t = json_string_value(json_object_get(c, "type"));
                if (t != NULL && strcmp(t, type) == 0)
                        return c;
        }
        return NULL;
}

bool k8c_pod_is_ready(const json_t *pod)
{
        const json_t *c = pod_condition(pod, "Ready");
        const char *s = c != NULL ? json_string_value(json_object_get(c, "status")) : NULL;
        return s != NULL && strcmp(s, "True") == 0;
}

bool k8c_pod_is_available(const json_t *pod, int64_t min_ready_seconds, time_t now)
{
        if (!k8c_pod_is_ready(pod))
                return false;
        if (min_ready_seconds <= 0)
                return true;
        const json_t *c = pod_condition(pod, "Ready");
        const char *since = json_string_value(json_object_get(c, "lastTransitionTime"));
        time_t t;
        if (since == NULL || k8c_rfc3339_parse(since, &t) < 0)
                return false;
        return t + min_ready_seconds <= now;
}

/* ---- deletion order (controller.ActivePods) ---- */

static int phase_rank(const json_t *pod)
{
        const char *p = k8c_json_get_string(pod, "status.phase");
        if (p == NULL || strcmp(p, "Pending") == 0)
                return 0;
        if (strcmp(p, "Unknown") == 0)
                return 1;
        if (strcmp(p, "Running") == 0)
                return 2;
        return 3;
}

static long restarts(const json_t *pod)
{
        long n = 0;
        json_t *st = k8c_json_get(pod, "status.containerStatuses");
        size_t i;
        json_t *c;
        json_array_foreach(st, i, c)
        {
                long r = (long)json_integer_value(json_object_get(c, "restartCount"));
                if (r > n)
                        n = r;
        }
        return n;
}

static time_t ts_of(const json_t *pod, const char *path)
{
        time_t t = 0;
        const char *s = k8c_json_get_string(pod, path);
        if (s != NULL && k8c_rfc3339_parse(s, &t) < 0)
                t = 0;
        return t;
}

static time_t ready_since(const json_t *pod)
{
        const json_t *c = pod_condition(pod, "Ready");
        time_t t = 0;
        const char *s = c != NULL ? json_string_value(json_object_get(c, "lastTransitionTime")) : NULL;
        if (s != NULL && k8c_rfc3339_parse(s, &t) < 0)
                t = 0;
        return t;
}

/* Negative when a should be deleted before b. */
static int deletion_cmp(const void *pa, const void *pb)
{
        const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
        const char *na = k8c_json_get_string(a, "spec.nodeName"),
                   *nb = k8c_json_get_string(b, "spec.nodeName");
        bool sa = na != NULL && na[0] != '\0', sb = nb != NULL && nb[0] != '\0';
        if (sa != sb)
                return sa ? 1 : -1;
        int ra = phase_rank(a), rb = phase_rank(b);
        if (ra != rb)
                return ra - rb;
        bool ya = k8c_pod_is_ready(a), yb = k8c_pod_is_ready(b);
        if (ya != yb)
                return ya ? 1 : -1;
        /* Been ready for less time first. */
        if (ya && yb) {
                time_t ta = ready_since(a), tb = ready_since(b);
                if (ta != tb)
                        return ta > tb ? -1 : 1;
        }
        long xa = restarts(a), xb = restarts(b);
        if (xa != xb)
                return xa > xb ? -1 : 1;
        time_t ca = ts_of(a, "metadata.creationTimestamp"), cb = ts_of(b, "metadata.creationTimestamp");
        if (ca != cb)
                return ca > cb ? -1 : 1;
        /* A stable tie-break so the order (and so tests) are deterministic. */
        const char *ma = k8c_json_get_string(a, "metadata.name"),
                   *mb = k8c_json_get_string(b, "metadata.name");
        return strcmp(ma != NULL ? ma : "", mb != NULL ? mb : "");
}

void k8c_sort_pods_for_deletion(json_t *pods)
{
        size_t n = json_array_size(pods);
        if (n < 2)
                return;
        json_t **v = k8c_xcalloc(n, sizeof(json_t *));
        for (size_t i = 0; i < n; i++)
                v[i] = json_incref(json_array_get(pods, i));
        qsort(v, n, sizeof(json_t *), deletion_cmp);
        json_array_clear(pods);
        for (size_t i = 0; i < n; i++)
                json_array_append_new(pods, v[i]);
        free(v);
}

/* ---- paths ---- */

char *k8c_ctrl_path(const char *api_version, const char *plural, const char *ns, const char *name)
{
        const char *prefix = strchr(api_version, '/') != NULL ? "/apis/" : "/api/";
        if (ns != NULL && ns[0] != '\0')
                return name != NULL ? k8c_xasprintf("%s%s/namespaces/%s/%s/%s", prefix, api_version, ns,
                                                    plural, name)
                                    : k8c_xasprintf("%s%s/namespaces/%s/%s", prefix, api_version, ns, plural);
        return name != NULL ? k8c_xasprintf("%s%s/%s/%s", prefix, api_version, plural, name)
                            : k8c_xasprintf("%s%s/%s", prefix, api_version, plural);
}

/* ---- owner reference removal ---- */

int k8c_ctrl_remove_owner_refs(const struct k8c_object_control *ctl, const char *path, const json_t *obj,
                               const char *const *uids, size_t n, k8c_error_t *err)
{
        json_t *refs = k8c_json_get(obj, "metadata.ownerReferences");
        size_t left = 0, i;
        json_t *r;
        json_array_foreach(refs, i, r)
        {
                const char *u = json_string_value(json_object_get(r, "uid"));
                bool drop = false;
                for (size_t j = 0; j < n && !drop; j++)
                        drop = u != NULL && strcmp(u, uids[j]) == 0;
                if (!drop)
                        left++;
        }
        json_auto_t *patch = NULL;
        const char *type;
        if (left == 0) {
                /* Dropping the last reference: remove the field, as Kubernetes' omitempty leaves it, guarded
                 * by the resourceVersion so a reference added meanwhile is not lost. */
                patch = json_pack("{s:{s:n, s:s}}", "metadata", "ownerReferences", "resourceVersion",
                                  k8c_json_get_string(obj, "metadata.resourceVersion"));
                type = "application/merge-patch+json";
        } else {
                json_t *list = json_array();
                for (size_t j = 0; j < n; j++)
                        json_array_append_new(list,
                                              json_pack("{s:s, s:s}", "$patch", "delete", "uid", uids[j]));
                patch = json_pack("{s:{s:o, s:s}}", "metadata", "ownerReferences", list, "uid",
                                  k8c_json_get_string(obj, "metadata.uid"));
                type = "application/strategic-merge-patch+json";
        }
        int rc = ctl->patch(ctl->opaque, path, type, patch, err);
        if (rc < 0 && k8c_error_reason(err) == K8C_ENOTFOUND) {
                k8c_error_release(err);
                return 0;
        }
        return rc;
}

void k8c_ctrl_enqueue_obj(struct k8c_workqueue *q, const json_t *obj)
{
        cleanup_free char *key = k8c_object_key(obj);
        if (key != NULL)
                k8c_workqueue_add(q, key);
}

static void enqueue_services_of(struct k8c_ctrl_service_watch *w, const json_t *pod)
{
        const char *ns = k8c_json_get_string(pod, "metadata.namespace");
        if (ns == NULL)
                return;
        json_auto_t *svcs = k8c_informer_by_index(w->svc, "namespace", ns);
        size_t i;
        json_t *svc;
        json_array_foreach(svcs, i, svc)
        {
                json_t *set = k8c_json_get(svc, "spec.selector");
                if (!json_is_object(set) || json_object_size(set) == 0)
                        continue;
                struct k8c_selector sel = { 0 };
                cleanup_error k8c_error_t err = NULL;
                if (k8c_selector_from_set(set, &sel, &err) == 0 &&
                    k8c_selector_matches(&sel, k8c_json_get(pod, "metadata.labels")))
                        k8c_ctrl_enqueue_obj(w->queue, svc);
                k8c_selector_free(&sel);
        }
}

static void on_svc(void *o, json_t *svc)
{
        struct k8c_ctrl_service_watch *w = o;
        k8c_ctrl_enqueue_obj(w->queue, svc);
}

static void on_svc_update(void *o, json_t *old, json_t *svc)
{
        on_svc(o, svc);
}

static void on_pod(void *o, json_t *pod)
{
        enqueue_services_of(o, pod);
}

static void on_pod_update(void *o, json_t *old, json_t *pod)
{
        const char *a = k8c_json_get_string(old, "metadata.resourceVersion");
        const char *b = k8c_json_get_string(pod, "metadata.resourceVersion");
        if (a != NULL && b != NULL && strcmp(a, b) == 0)
                return;
        /* Both: a relabelled pod leaves the old services and joins new ones. */
        enqueue_services_of(o, old);
        enqueue_services_of(o, pod);
}

void k8c_ctrl_watch_services_and_pods(struct k8c_ctrl_service_watch *w, struct k8c_informer *services,
                                      struct k8c_informer *pods, struct k8c_workqueue *queue)
{
        w->svc = services;
        w->queue = queue;
        k8c_informer_add_handlers(services,
                                  &(struct k8c_informer_handlers){ on_svc, on_svc_update, on_svc, w });
        k8c_informer_add_handlers(pods, &(struct k8c_informer_handlers){ on_pod, on_pod_update, on_pod, w });
}

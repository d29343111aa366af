/*
 * garbagecollector.c - the garbage collector (Kubernetes' garbagecollector
 * package, reduced to what the informer indexes give us): the owner →
 * dependents graph is the "owner" index (ownerReferences uids) of every
 * monitored informer, the uid → object map its "uid" index.
 *
 *  - Dependent with owners all gone (uid not found, or the name now holds another
 *    uid): deleted (Background). Some owners gone: those references removed.
 *  - Owner being deleted with the "orphan" finalizer: its references are removed
 *    from every dependent, then the finalizer.
 *  - Owner being deleted with "foregroundDeletion": dependents deleted
 *    (Foreground); once no dependent with blockOwnerDeletion is left, the finalizer
 *    is removed and the apiserver drops the owner.
 *
 * The cache is trusted to say an owner exists, never alone that it is gone: a miss
 * is confirmed with a live GET first. Does not log.
 */
#include <stdlib.h>
#include <string.h>

#include "controllers/internal.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"

#define GC_MAX_KINDS 16

struct monitor {
        struct k8c_gc_controller *c;
        struct k8c_informer *inf;
        char *kind; /* "apps/v1/ReplicaSet" */
};

struct k8c_gc_controller {
        struct monitor mon[GC_MAX_KINDS];
        int n;
        struct k8c_object_control ctl;
        struct k8c_workqueue *queue;
};

/* Kinds whose objects may be owners, with their REST names (beyond what is monitored, a live
 * GET can still confirm them). */
static const struct {
        const char *api_version, *kind, *plural;
        bool namespaced;
} known_kinds[] = {
        { "v1", "Pod", "pods", true },
        { "apps/v1", "ReplicaSet", "replicasets", true },
        { "apps/v1", "Deployment", "deployments", true },
        { "v1", "Service", "services", true },
        { "v1", "Endpoints", "endpoints", true },
        { "v1", "ConfigMap", "configmaps", true },
        { "v1", "Secret", "secrets", true },
        { "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true },
        { "v1", "Node", "nodes", false },
        { "v1", "Namespace", "namespaces", false },
        { "coordination.k8s.io/v1", "Lease", "leases", true },
};

static int find_known(const char *api_version, const char *kind)
{
        for (size_t i = 0; i < K8C_ARRAY_SIZE(known_kinds); i++)
                if (strcmp(known_kinds[i].api_version, api_version) == 0 &&
                    strcmp(known_kinds[i].kind, kind) == 0)
                        return (int)i;
        return -1;
}

/* The path of a monitor's object from its kind ("apps/v1/ReplicaSet"). */
static char *object_path(const char *kind_full, const json_t *obj)
{
        const char *slash = strrchr(kind_full, '/');
        cleanup_free char *av = k8c_xstrndup(kind_full, (size_t)(slash - kind_full));
        int k = find_known(av, slash + 1);
        if (k < 0)
                return NULL;
        return k8c_ctrl_path(av, known_kinds[k].plural, k8c_json_get_string(obj, "metadata.namespace"),
                             k8c_json_get_string(obj, "metadata.name"));
}

static bool has_finalizer(const json_t *obj, const char *f)
{
        json_t *fin = k8c_json_get(obj, "metadata.finalizers");
        size_t i;
        json_t *v;
        json_array_foreach(fin, i, v)
        {
                if (json_is_string(v) && strcmp(json_string_value(v), f) == 0)
                        return true;
        }
        return false;
}

static bool deleting_with(const json_t *obj, const char *f)
{
        return k8c_json_get(obj, "metadata.deletionTimestamp") != NULL && has_finalizer(obj, f);
}

static void enqueue(struct monitor *m, const json_t *obj)
{
        cleanup_free char *k = k8c_object_key(obj);
        if (k == NULL)
                return;
        cleanup_free char *key = k8c_xasprintf("%s|%s", m->kind, k);
        k8c_workqueue_add(m->c->queue, key);
}

/* Every cached object, of any monitored kind, whose index idx holds value: calls fn. */
static void for_each_indexed(struct k8c_gc_controller *c, const char *idx, const char *value,
                             void (*fn)(struct monitor *m, json_t *obj, void *arg), void *arg)
{
        for (int i = 0; i < c->n; i++) {
                json_auto_t *list = k8c_informer_by_index(c->mon[i].inf, idx, value);
                size_t j;
                json_t *o;
                json_array_foreach(list, j, o) fn(&c->mon[i], o, arg);
        }
}

static void enqueue_cb(struct monitor *m, json_t *obj, void *arg)
{
        enqueue(m, obj);
}

static bool interesting(const json_t *obj)
{
        return json_array_size(k8c_json_get(obj, "metadata.ownerReferences")) > 0 ||
               deleting_with(obj, "orphan") || deleting_with(obj, "foregroundDeletion");
}

static void on_add(void *o, json_t *obj)
{
        struct monitor *m = o;
        if (interesting(obj))
                enqueue(m, obj);
        /* A new object may be the owner a waiting dependent names (or now holds its name). */
}

static void on_update(void *o, json_t *old, json_t *obj)
{
        struct monitor *m = o;
        if (interesting(obj) || interesting(old))
                enqueue(m, obj);
}

static void on_delete(void *o, json_t *obj)
{
        struct monitor *m = o;
        const char *uid = k8c_json_get_string(obj, "metadata.uid");
        /* Its dependents may now be dangling... */
        if (uid != NULL)
                for_each_indexed(m->c, "owner", uid, enqueue_cb, NULL);
        /* ...and an owner waiting in foreground deletion may now finish. */
        json_t *refs = k8c_json_get(obj, "metadata.ownerReferences");
        size_t i;
        json_t *r;
        json_array_foreach(refs, i, r)
        {
                const char *ouid = json_string_value(json_object_get(r, "uid"));
                if (ouid != NULL)
                        for_each_indexed(m->c, "uid", ouid, enqueue_cb, NULL);
        }
}

struct k8c_gc_controller *k8c_gc_controller_new(struct k8c_informer **informers, const char *const *kinds,
                                                int n, const struct k8c_object_control *ctl)
{
        struct k8c_gc_controller *c = k8c_xcalloc(1, sizeof(*c));
        c->ctl = *ctl;
        c->queue = k8c_workqueue_new(NULL);
        for (int i = 0; i < n && i < GC_MAX_KINDS; i++) {
                struct monitor *m = &c->mon[c->n++];
                m->c = c;
                m->inf = informers[i];
                m->kind = k8c_xstrdup(kinds[i]);
                k8c_informer_add_handlers(m->inf,
                                          &(struct k8c_informer_handlers){ on_add, on_update, on_delete, m });
        }
        return c;
}

void k8c_gc_controller_free(struct k8c_gc_controller *c)
{
        if (c == NULL)
                return;
        k8c_workqueue_free(c->queue);
        for (int i = 0; i < c->n; i++)
                free(c->mon[i].kind);
        free(c);
}

struct k8c_workqueue *k8c_gc_controller_queue(struct k8c_gc_controller *c)
{
        return c->queue;
}

/* ---- owners ---- */

enum owner_state { OWNER_EXISTS, OWNER_ABSENT, OWNER_UNKNOWN };

static enum owner_state owner_state(struct k8c_gc_controller *c, const json_t *dep, const json_t *ref,
                                    k8c_error_t *err, int *ret_rc)
{
        *ret_rc = 0;
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        const char *av = json_string_value(json_object_get(ref, "apiVersion"));
        const char *kind = json_string_value(json_object_get(ref, "kind"));
        const char *name = json_string_value(json_object_get(ref, "name"));
        if (uid == NULL || av == NULL || kind == NULL || name == NULL)
                return OWNER_UNKNOWN;
        for (int i = 0; i < c->n; i++) {
                json_auto_t *hit = k8c_informer_by_index(c->mon[i].inf, "uid", uid);
                if (json_array_size(hit) > 0)
                        return OWNER_EXISTS;
        }
        int k = find_known(av, kind);
        if (k < 0 || c->ctl.get == NULL)
                return OWNER_UNKNOWN; /* cannot confirm: never delete on a guess */
        const char *ns = known_kinds[k].namespaced ? k8c_json_get_string(dep, "metadata.namespace") : NULL;
        cleanup_free char *path = k8c_ctrl_path(av, known_kinds[k].plural, ns, name);
        json_auto_t *live = NULL;
        cleanup_error k8c_error_t e = NULL;
        int r = c->ctl.get(c->ctl.opaque, path, &live, &e);
        if (r < 0) {
                if (k8c_error_reason(&e) == K8C_ENOTFOUND)
                        return OWNER_ABSENT;
                *ret_rc = r;
                *err = k8c_steal(&e);
                return OWNER_UNKNOWN;
        }
        const char *luid = k8c_json_get_string(live, "metadata.uid");
        return luid != NULL && strcmp(luid, uid) == 0 ? OWNER_EXISTS : OWNER_ABSENT;
}

static int delete_object(struct k8c_gc_controller *c, const char *path, const json_t *obj, const char *policy,
                         k8c_error_t *err)
{
        json_auto_t *opts = json_pack("{s:s, s:s, s:s, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
                                      "propagationPolicy", policy, "preconditions", "uid",
                                      k8c_json_get_string(obj, "metadata.uid"));
        int r = c->ctl.delete(c->ctl.opaque, path, opts, err);
        if (r < 0 && (k8c_error_reason(err) == K8C_ENOTFOUND || k8c_error_reason(err) == K8C_ECONFLICT)) {
                /* Gone already, or the name holds a new object that is not ours to delete. */
                k8c_error_release(err);
                return 0;
        }
        return r;
}

static int remove_refs(struct k8c_gc_controller *c, const char *path, const json_t *obj,
                       const char *const *uids, size_t n, k8c_error_t *err)
{
        return k8c_ctrl_remove_owner_refs(&c->ctl, path, obj, uids, n, err);
}

/* A dependent: delete it when every owner is gone; drop references to the gone ones otherwise. */
static int sync_dependent(struct k8c_gc_controller *c, const char *path, const json_t *obj, k8c_error_t *err)
{
        json_t *refs = k8c_json_get(obj, "metadata.ownerReferences");
        size_t n = json_array_size(refs);
        if (n == 0)
                return 0;
        const char **gone = k8c_xcalloc(n, sizeof(char *));
        size_t ngone = 0;
        for (size_t i = 0; i < n; i++) {
                json_t *ref = json_array_get(refs, i);
                int rc = 0;
                enum owner_state s = owner_state(c, obj, ref, err, &rc);
                if (rc < 0) {
                        free(gone);
                        return rc;
                }
                if (s == OWNER_ABSENT)
                        gone[ngone++] = json_string_value(json_object_get(ref, "uid"));
        }
        int r = 0;
        if (ngone == n) {
                if (k8c_json_get(obj, "metadata.deletionTimestamp") == NULL)
                        r = delete_object(c, path, obj, "Background", err);
        } else if (ngone > 0) {
                r = remove_refs(c, path, obj, gone, ngone, err);
        }
        free(gone);
        return r;
}

struct dep_scan {
        struct k8c_gc_controller *c;
        const char *owner_uid;
        bool orphan; /* else foreground */
        int rc;
        k8c_error_t *err;
        int blocking; /* dependents still holding the owner back */
};

static bool ref_blocks(const json_t *dep, const char *owner_uid)
{
        json_t *refs = k8c_json_get(dep, "metadata.ownerReferences");
        size_t i;
        json_t *r;
        json_array_foreach(refs, i, r)
        {
                const char *u = json_string_value(json_object_get(r, "uid"));
                if (u != NULL && strcmp(u, owner_uid) == 0)
                        return json_is_true(json_object_get(r, "blockOwnerDeletion"));
        }
        return false;
}

static void dep_cb(struct monitor *m, json_t *dep, void *arg)
{
        struct dep_scan *s = arg;
        if (s->rc < 0)
                return;
        cleanup_free char *path = object_path(m->kind, dep);
        if (path == NULL)
                return;
        if (s->orphan) {
                const char *uids[1] = { s->owner_uid };
                s->rc = remove_refs(s->c, path, dep, uids, 1, s->err);
                return;
        }
        if (ref_blocks(dep, s->owner_uid))
                s->blocking++;
        if (k8c_json_get(dep, "metadata.deletionTimestamp") == NULL)
                s->rc = delete_object(s->c, path, dep, "Foreground", s->err);
}

/* Removes finalizer f from the live object at path (merge patch guarded by resourceVersion). */
static int remove_finalizer(struct k8c_gc_controller *c, const char *path, const json_t *cached,
                            const char *f, k8c_error_t *err)
{
        json_auto_t *live = NULL;
        int r = c->ctl.get != NULL ? c->ctl.get(c->ctl.opaque, path, &live, err) : 0;
        if (r < 0) {
                if (k8c_error_reason(err) == K8C_ENOTFOUND) {
                        k8c_error_release(err);
                        return 0;
                }
                return r;
        }
        const json_t *obj = live != NULL ? live : cached;
        json_t *keep = json_array();
        json_t *fin = k8c_json_get(obj, "metadata.finalizers");
        size_t i;
        json_t *v;
        json_array_foreach(fin, i, v)
        {
                if (!(json_is_string(v) && strcmp(json_string_value(v), f) == 0))
                        json_array_append(keep, v);
        }
        json_auto_t *patch = json_pack("{s:{s:o, s:s}}", "metadata", "finalizers", keep, "resourceVersion",
                                       k8c_json_get_string(obj, "metadata.resourceVersion"));
        r = c->ctl.patch(c->ctl.opaque, path, "application/merge-patch+json", patch, err);
        if (r < 0 && k8c_error_reason(err) == K8C_ENOTFOUND) {
                k8c_error_release(err);
                return 0;
        }
        return r;
}

int k8c_gc_controller_sync(struct k8c_gc_controller *c, const char *key, k8c_error_t *err)
{
        const char *bar = strchr(key, '|');
        if (bar == NULL)
                return 0;
        struct monitor *m = NULL;
        for (int i = 0; i < c->n; i++)
                if (strlen(c->mon[i].kind) == (size_t)(bar - key) &&
                    strncmp(c->mon[i].kind, key, bar - key) == 0)
                        m = &c->mon[i];
        if (m == NULL)
                return 0;
        json_auto_t *obj = k8c_informer_get(m->inf, bar + 1);
        if (obj == NULL)
                return 0;
        cleanup_free char *path = object_path(m->kind, obj);
        if (path == NULL)
                return 0;
        const char *uid = k8c_json_get_string(obj, "metadata.uid");
        if (uid != NULL && (deleting_with(obj, "orphan") || deleting_with(obj, "foregroundDeletion"))) {
                bool orphan = deleting_with(obj, "orphan");
                struct dep_scan s = { .c = c, .owner_uid = uid, .orphan = orphan, .err = err };
                for_each_indexed(c, "owner", uid, dep_cb, &s);
                if (s.rc < 0)
                        return s.rc;
                if (!orphan && s.blocking > 0)
                        return 0; /* re-queued when those dependents go */
                int r = remove_finalizer(c, path, obj, orphan ? "orphan" : "foregroundDeletion", err);
                if (r < 0)
                        return r;
        }
        return sync_dependent(c, path, obj, err);
}

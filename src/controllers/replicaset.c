/*
 * replicaset.c - the ReplicaSet controller (Kubernetes' replica_set.go):
 * desired spec.replicas vs the active pods it controls; creates pods from the
 * template and deletes surplus ones in slow-start batches; adopts matching
 * orphans and releases owned pods whose labels stopped matching; writes status.
 *
 * Owns the expectations of each ReplicaSet (creations still to be seen on the
 * watch, deletions still to be seen) so a sync never acts on a cache that lags
 * its own writes. Reads only the informer caches; writes only through
 * struct k8c_object_control. Does not log: errors go back to the worker.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controllers/internal.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/labels.h"
#include "k8c/strmap.h"

/* As controller.ExpectationsTimeout: after this long a sync acts even if expectations were lost. */
#define EXPECTATIONS_TIMEOUT_MS (5 * 60 * 1000)

struct expectation {
        int64_t adds;
        struct k8c_strmap dels; /* pod keys whose deletion is still to be observed */
        int64_t set_at_ms;
};

struct k8c_rs_controller {
        struct k8c_informer *rs, *pods;
        struct k8c_object_control ctl;
        struct k8c_event_recorder *rec;
        struct k8c_workqueue *queue;
        pthread_mutex_t lock;
        struct k8c_strmap exp; /* rs key → struct expectation * */
};

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- expectations ---- */

static void exp_free(struct expectation *e)
{
        if (e == NULL)
                return;
        k8c_strmap_clear(&e->dels);
        free(e);
}

/* Lock held. */
static struct expectation *exp_get(struct k8c_rs_controller *c, const char *key, bool create)
{
        struct expectation *e = NULL;
        if (!k8c_strmap_get(&c->exp, key, (void **)&e) && create) {
                e = k8c_xcalloc(1, sizeof(*e));
                k8c_strmap_init(&e->dels);
                k8c_strmap_put(&c->exp, key, e, NULL);
        }
        return e;
}

static void exp_delete(struct k8c_rs_controller *c, const char *key)
{
        struct expectation *e = NULL;
        pthread_mutex_lock(&c->lock);
        if (k8c_strmap_del(&c->exp, key, (void **)&e))
                exp_free(e);
        pthread_mutex_unlock(&c->lock);
}

static void exp_expect_adds(struct k8c_rs_controller *c, const char *key, int64_t n)
{
        pthread_mutex_lock(&c->lock);
        struct expectation *e = exp_get(c, key, true);
        e->adds = n;
        e->set_at_ms = mono_ms();
        pthread_mutex_unlock(&c->lock);
}

static void exp_expect_del(struct k8c_rs_controller *c, const char *key, const char *pod_key)
{
        pthread_mutex_lock(&c->lock);
        struct expectation *e = exp_get(c, key, true);
        k8c_strmap_put(&e->dels, pod_key, NULL, NULL);
        e->set_at_ms = mono_ms();
        pthread_mutex_unlock(&c->lock);
}

static void exp_creation_observed(struct k8c_rs_controller *c, const char *key)
{
        pthread_mutex_lock(&c->lock);
        struct expectation *e = exp_get(c, key, false);
        if (e != NULL && e->adds > 0)
                e->adds--;
        pthread_mutex_unlock(&c->lock);
}

static void exp_deletion_observed(struct k8c_rs_controller *c, const char *key, const char *pod_key)
{
        pthread_mutex_lock(&c->lock);
        struct expectation *e = exp_get(c, key, false);
        if (e != NULL)
                k8c_strmap_del(&e->dels, pod_key, NULL);
        pthread_mutex_unlock(&c->lock);
}

bool k8c_rs_controller_expectations_satisfied(struct k8c_rs_controller *c, const char *key)
{
        pthread_mutex_lock(&c->lock);
        struct expectation *e = exp_get(c, key, false);
        bool ok = e == NULL || (e->adds <= 0 && k8c_strmap_len(&e->dels) == 0) ||
                  mono_ms() - e->set_at_ms > EXPECTATIONS_TIMEOUT_MS;
        pthread_mutex_unlock(&c->lock);
        return ok;
}

/* ---- lookups ---- */

static int rs_selector(const json_t *rs, struct k8c_selector *ret, k8c_error_t *err)
{
        json_t *sel = k8c_json_get(rs, "spec.selector");
        /* A ReplicaSet without a selector selects nothing (validation forbids it anyway). */
        return k8c_selector_from_json(sel, ret, err);
}

static const json_t *pod_labels(const json_t *pod)
{
        return k8c_json_get(pod, "metadata.labels");
}

/* The ReplicaSet key a controller reference of pod names, if that ReplicaSet is in the cache
 * with the same uid. Caller frees. */
static char *resolve_controller_ref(struct k8c_rs_controller *c, const json_t *pod, const json_t *ref)
{
        const char *kind = json_string_value(json_object_get(ref, "kind"));
        const char *name = json_string_value(json_object_get(ref, "name"));
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        const char *ns = k8c_json_get_string(pod, "metadata.namespace");
        if (kind == NULL || strcmp(kind, "ReplicaSet") != 0 || name == NULL || uid == NULL || ns == NULL)
                return NULL;
        cleanup_free char *key = k8c_xasprintf("%s/%s", ns, name);
        json_auto_t *rs = k8c_informer_get(c->rs, key);
        const char *rs_uid = k8c_json_get_string(rs, "metadata.uid");
        if (rs_uid == NULL || strcmp(rs_uid, uid) != 0)
                return NULL;
        return k8c_steal(&key);
}

/* Enqueues every ReplicaSet of the pod's namespace whose selector matches it (orphan adoption). */
static void enqueue_matching(struct k8c_rs_controller *c, const json_t *pod)
{
        const char *ns = k8c_json_get_string(pod, "metadata.namespace");
        if (ns == NULL)
                return;
        json_auto_t *all = k8c_informer_by_index(c->rs, "namespace", ns);
        size_t i;
        json_t *rs;
        json_array_foreach(all, i, rs)
        {
                struct k8c_selector sel = { 0 };
                cleanup_error k8c_error_t err = NULL;
                if (rs_selector(rs, &sel, &err) < 0)
                        continue;
                if (!k8c_selector_empty(&sel) && k8c_selector_matches(&sel, pod_labels(pod))) {
                        cleanup_free char *key = k8c_object_key(rs);
                        if (key != NULL)
                                k8c_workqueue_add(c->queue, key);
                }
                k8c_selector_free(&sel);
        }
}

/* ---- informer handlers: only bookkeeping and enqueueing ---- */

static void on_rs_add(void *o, json_t *obj)
{
        struct k8c_rs_controller *c = o;
        cleanup_free char *key = k8c_object_key(obj);
        if (key != NULL)
                k8c_workqueue_add(c->queue, key);
}

static void on_rs_update(void *o, json_t *old, json_t *obj)
{
        on_rs_add(o, obj);
}

static void on_rs_delete(void *o, json_t *obj)
{
        struct k8c_rs_controller *c = o;
        cleanup_free char *key = k8c_object_key(obj);
        if (key == NULL)
                return;
        exp_delete(c, key);
        k8c_workqueue_add(c->queue, key);
}

static void pod_deleted(struct k8c_rs_controller *c, const json_t *pod)
{
        const json_t *ref = k8c_ctrl_controller_ref(pod);
        if (ref == NULL)
                return;
        cleanup_free char *key = resolve_controller_ref(c, pod, ref);
        if (key == NULL)
                return;
        cleanup_free char *pod_key = k8c_object_key(pod);
        exp_deletion_observed(c, key, pod_key);
        k8c_workqueue_add(c->queue, key);
}

static void on_pod_add(void *o, json_t *pod)
{
        struct k8c_rs_controller *c = o;
        if (k8c_json_get(pod, "metadata.deletionTimestamp") != NULL) {
                /* A restarted manager may see a pod already being deleted: that is a deletion. */
                pod_deleted(c, pod);
                return;
        }
        const json_t *ref = k8c_ctrl_controller_ref(pod);
        if (ref != NULL) {
                cleanup_free char *key = resolve_controller_ref(c, pod, ref);
                if (key == NULL)
                        return;
                exp_creation_observed(c, key);
                k8c_workqueue_add(c->queue, key);
                return;
        }
        enqueue_matching(c, pod);
}

static bool same_ref(const json_t *a, const json_t *b)
{
        if (a == NULL || b == NULL)
                return a == b;
        return json_equal(json_object_get(a, "uid"), json_object_get(b, "uid"));
}

static void on_pod_update(void *o, json_t *old, json_t *pod)
{
        struct k8c_rs_controller *c = o;
        const char *orv = k8c_json_get_string(old, "metadata.resourceVersion");
        const char *nrv = k8c_json_get_string(pod, "metadata.resourceVersion");
        if (orv != NULL && nrv != NULL && strcmp(orv, nrv) == 0)
                return; /* a resync: nothing changed */
        bool labels_changed = !json_equal((json_t *)pod_labels(old), (json_t *)pod_labels(pod)) &&
                              !(pod_labels(old) == NULL && json_object_size(pod_labels(pod)) == 0);
        if (k8c_json_get(pod, "metadata.deletionTimestamp") != NULL) {
                /* Graceful deletion: act now rather than when the kubelet removes it. */
                pod_deleted(c, pod);
                if (labels_changed)
                        pod_deleted(c, old);
                return;
        }
        const json_t *oref = k8c_ctrl_controller_ref(old), *nref = k8c_ctrl_controller_ref(pod);
        if (!same_ref(oref, nref) && oref != NULL) {
                cleanup_free char *okey = resolve_controller_ref(c, old, oref);
                if (okey != NULL)
                        k8c_workqueue_add(c->queue, okey);
        }
        if (nref != NULL) {
                cleanup_free char *key = resolve_controller_ref(c, pod, nref);
                if (key == NULL)
                        return;
                k8c_workqueue_add(c->queue, key);
                /* Becoming ready starts the minReadySeconds clock: look again when it runs out. */
                json_auto_t *rs = k8c_informer_get(c->rs, key);
                json_int_t mrs = k8c_json_get_int(rs, "spec.minReadySeconds", 0);
                if (mrs > 0 && !k8c_pod_is_ready(old) && k8c_pod_is_ready(pod))
                        k8c_workqueue_add_after(c->queue, key, (int64_t)mrs * 1000 + 1000);
                return;
        }
        if (labels_changed || !same_ref(oref, nref))
                enqueue_matching(c, pod);
}

static void on_pod_delete(void *o, json_t *pod)
{
        pod_deleted(o, pod);
}

struct k8c_rs_controller *k8c_rs_controller_new(struct k8c_informer *rs, struct k8c_informer *pods,
                                                const struct k8c_object_control *ctl,
                                                struct k8c_event_recorder *rec)
{
        struct k8c_rs_controller *c = k8c_xcalloc(1, sizeof(*c));
        c->rs = rs;
        c->pods = pods;
        c->ctl = *ctl;
        c->rec = rec;
        c->queue = k8c_workqueue_new(NULL);
        pthread_mutex_init(&c->lock, NULL);
        k8c_strmap_init(&c->exp);
        k8c_informer_add_handlers(
                rs, &(struct k8c_informer_handlers){ on_rs_add, on_rs_update, on_rs_delete, c });
        k8c_informer_add_handlers(
                pods, &(struct k8c_informer_handlers){ on_pod_add, on_pod_update, on_pod_delete, c });
        return c;
}

void k8c_rs_controller_free(struct k8c_rs_controller *c)
{
        if (c == NULL)
                return;
        k8c_workqueue_free(c->queue);
        size_t it = 0;
        struct expectation *e;
        while (k8c_strmap_next(&c->exp, &it, NULL, (void **)&e))
                exp_free(e);
        k8c_strmap_clear(&c->exp);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

struct k8c_workqueue *k8c_rs_controller_queue(struct k8c_rs_controller *c)
{
        return c->queue;
}

/* ---- claiming (ControllerRefManager) ---- */

static json_t *owner_ref_of(const json_t *rs)
{
        return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", "apps/v1", "kind", "ReplicaSet",
                         "name", k8c_json_get_string(rs, "metadata.name"), "uid",
                         k8c_json_get_string(rs, "metadata.uid"), "controller", 1, "blockOwnerDeletion", 1);
}

static char *pod_path(const json_t *pod)
{
        return k8c_ctrl_path("v1", "pods", k8c_json_get_string(pod, "metadata.namespace"),
                             k8c_json_get_string(pod, "metadata.name"));
}

/* Adds rs as controller of pod. The patch carries the pod's resourceVersion so that, if
 * another controller adopted it meanwhile, the apiserver answers Conflict instead of letting
 * the pod end up with two controllers. */
static int adopt(struct k8c_rs_controller *c, const json_t *rs, const json_t *pod, k8c_error_t *err)
{
        json_t *refs = json_array();
        json_t *old = k8c_json_get(pod, "metadata.ownerReferences");
        size_t i;
        json_t *r;
        json_array_foreach(old, i, r) json_array_append(refs, r);
        json_array_append_new(refs, owner_ref_of(rs));
        json_auto_t *patch =
                json_pack("{s:{s:o, s:s}}", "metadata", "ownerReferences", refs, "resourceVersion",
                          k8c_json_get_string(pod, "metadata.resourceVersion"));
        cleanup_free char *path = pod_path(pod);
        return c->ctl.patch(c->ctl.opaque, path, "application/merge-patch+json", patch, err);
}

/* Removes rs's reference from pod; other owners stay. */
static int release(struct k8c_rs_controller *c, const json_t *rs, const json_t *pod, k8c_error_t *err)
{
        const char *uids[1] = { k8c_json_get_string(rs, "metadata.uid") };
        cleanup_free char *path = pod_path(pod);
        int r = k8c_ctrl_remove_owner_refs(&c->ctl, path, pod, uids, 1, err);
        if (r < 0 && k8c_error_reason(err) == K8C_EINVALID) {
                /* No longer ours to release. */
                k8c_error_release(err);
                return 0;
        }
        return r;
}

/* Whether a live read still shows this ReplicaSet, not being deleted: adoption must not act on
 * a stale cache (RecheckDeletionTimestamp). */
static bool can_adopt(struct k8c_rs_controller *c, const json_t *rs, bool *checked, bool *ok)
{
        if (*checked)
                return *ok;
        *checked = true;
        *ok = false;
        if (c->ctl.get == NULL) {
                *ok = true;
                return true;
        }
        cleanup_free char *path =
                k8c_ctrl_path("apps/v1", "replicasets", k8c_json_get_string(rs, "metadata.namespace"),
                              k8c_json_get_string(rs, "metadata.name"));
        json_auto_t *fresh = NULL;
        cleanup_error k8c_error_t err = NULL;
        if (c->ctl.get(c->ctl.opaque, path, &fresh, &err) < 0)
                return false;
        const char *u1 = k8c_json_get_string(fresh, "metadata.uid"),
                   *u2 = k8c_json_get_string(rs, "metadata.uid");
        *ok = u1 != NULL && u2 != NULL && strcmp(u1, u2) == 0 &&
              k8c_json_get(fresh, "metadata.deletionTimestamp") == NULL;
        return *ok;
}

/* The pods rs controls after adopting and releasing (new references in a JSON array). */
static int claim_pods(struct k8c_rs_controller *c, const json_t *rs, const struct k8c_selector *sel,
                      json_t **ret, k8c_error_t *err)
{
        const char *ns = k8c_json_get_string(rs, "metadata.namespace");
        const char *uid = k8c_json_get_string(rs, "metadata.uid");
        bool deleting = k8c_json_get(rs, "metadata.deletionTimestamp") != NULL;
        json_auto_t *all = k8c_informer_by_index(c->pods, "namespace", ns != NULL ? ns : "");
        json_auto_t *out = json_array();
        bool checked = false, adopt_ok = false;
        int first_err = 0;
        size_t i;
        json_t *pod;
        json_array_foreach(all, i, pod)
        {
                const json_t *ref = k8c_ctrl_controller_ref(pod);
                bool match = k8c_selector_matches(sel, pod_labels(pod));
                if (ref != NULL) {
                        const char *ruid = json_string_value(json_object_get(ref, "uid"));
                        if (ruid == NULL || uid == NULL || strcmp(ruid, uid) != 0)
                                continue; /* someone else's */
                        if (match) {
                                json_array_append(out, pod);
                                continue;
                        }
                        if (deleting)
                                continue;
                        cleanup_error k8c_error_t e = NULL;
                        int r = release(c, rs, pod, &e);
                        if (r < 0 && first_err == 0) {
                                first_err = r;
                                k8c_error_wrap(&e, "releasing pod %s",
                                               k8c_json_get_string(pod, "metadata.name"));
                                *err = k8c_steal(&e);
                        }
                        continue;
                }
                if (!match || deleting || k8c_json_get(pod, "metadata.deletionTimestamp") != NULL)
                        continue;
                if (!can_adopt(c, rs, &checked, &adopt_ok))
                        continue;
                cleanup_error k8c_error_t e = NULL;
                int r = adopt(c, rs, pod, &e);
                if (r < 0) {
                        if (k8c_error_reason(&e) != K8C_ENOTFOUND && first_err == 0) {
                                first_err = r;
                                k8c_error_wrap(&e, "adopting pod %s",
                                               k8c_json_get_string(pod, "metadata.name"));
                                *err = k8c_steal(&e);
                        }
                        continue;
                }
                json_array_append(out, pod);
        }
        *ret = k8c_steal(&out);
        return first_err;
}

/* ---- creating and deleting ---- */

static json_t *pod_from_template(const json_t *rs)
{
        json_t *tmpl = k8c_json_get(rs, "spec.template");
        json_t *tmd = json_object_get(tmpl, "metadata");
        const char *name = k8c_json_get_string(rs, "metadata.name");
        json_t *md = json_object();
        cleanup_free char *gen = k8c_xasprintf("%s-", name);
        json_object_set_new(md, "generateName", json_string(gen));
        json_object_set_new(md, "namespace", json_string(k8c_json_get_string(rs, "metadata.namespace")));
        if (json_is_object(json_object_get(tmd, "labels")))
                json_object_set_new(md, "labels", json_deep_copy(json_object_get(tmd, "labels")));
        json_t *ann = json_is_object(json_object_get(tmd, "annotations"))
                              ? json_deep_copy(json_object_get(tmd, "annotations"))
                              : json_object();
        /* The legacy created-by annotation: a SerializedReference to the ReplicaSet. */
        json_auto_t *sref =
                json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}}", "kind", "SerializedReference",
                          "apiVersion", "v1", "reference", "kind", "ReplicaSet", "namespace",
                          k8c_json_get_string(rs, "metadata.namespace"), "name", name, "uid",
                          k8c_json_get_string(rs, "metadata.uid"), "apiVersion", "apps/v1", "resourceVersion",
                          k8c_json_get_string(rs, "metadata.resourceVersion") ?: "");
        cleanup_free char *created_by = k8c_json_dumps(sref);
        json_object_set_new(ann, "kubernetes.io/created-by", json_string(created_by));
        json_object_set_new(md, "annotations", ann);
        if (json_is_array(json_object_get(tmd, "finalizers")))
                json_object_set_new(md, "finalizers", json_deep_copy(json_object_get(tmd, "finalizers")));
        json_object_set_new(md, "ownerReferences", json_pack("[o]", owner_ref_of(rs)));
        json_t *spec = json_object_get(tmpl, "spec");
        return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind", "Pod", "metadata", md, "spec",
                         json_is_object(spec) ? json_deep_copy(spec) : json_object());
}

static int create_pods(struct k8c_rs_controller *c, const char *key, const json_t *rs, int64_t want,
                       k8c_error_t *err)
{
        exp_expect_adds(c, key, want);
        cleanup_free char *path =
                k8c_ctrl_path("v1", "pods", k8c_json_get_string(rs, "metadata.namespace"), NULL);
        json_auto_t *pod = pod_from_template(rs);
        int64_t done = 0, batch = 1;
        /* Slow start: 1, 2, 4, ... so a template the apiserver rejects fails once, not 500 times. */
        while (done < want) {
                int64_t n = batch < want - done ? batch : want - done;
                int64_t ok = 0;
                int first = 0;
                for (int64_t i = 0; i < n; i++) {
                        cleanup_error k8c_error_t e = NULL;
                        int r = c->ctl.create(c->ctl.opaque, path, pod, &e);
                        if (r < 0) {
                                /* Not coming on the watch: stop expecting it. */
                                exp_creation_observed(c, key);
                                if (first == 0) {
                                        first = r;
                                        *err = k8c_steal(&e);
                                }
                                continue;
                        }
                        ok++;
                }
                done += n;
                if (first < 0) {
                        if (c->rec != NULL) {
                                cleanup_error k8c_error_t re = NULL;
                                k8c_event_record(c->rec, rs, "Warning", "FailedCreate", &re,
                                                 "Error creating: %s", k8c_error_msg(err));
                        }
                        for (int64_t s = done; s < want; s++)
                                exp_creation_observed(c, key);
                        return k8c_error_wrap(err, "creating pods");
                }
                if (c->rec != NULL && ok > 0) {
                        cleanup_error k8c_error_t re = NULL;
                        k8c_event_record(c->rec, rs, "Normal", "SuccessfulCreate", &re, "Created %lld pod(s)",
                                         (long long)ok);
                }
                batch *= 2;
        }
        return 0;
}

static int delete_pods(struct k8c_rs_controller *c, const char *key, const json_t *rs, json_t *active,
                       int64_t n, k8c_error_t *err)
{
        k8c_sort_pods_for_deletion(active);
        for (int64_t i = 0; i < n; i++) {
                cleanup_free char *pk = k8c_object_key(json_array_get(active, (size_t)i));
                exp_expect_del(c, key, pk);
        }
        int first = 0;
        int64_t deleted = 0;
        for (int64_t i = 0; i < n; i++) {
                json_t *pod = json_array_get(active, (size_t)i);
                cleanup_free char *pk = k8c_object_key(pod);
                cleanup_free char *path = pod_path(pod);
                json_auto_t *opts =
                        json_pack("{s:s, s:s, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
                                  "preconditions", "uid", k8c_json_get_string(pod, "metadata.uid"));
                cleanup_error k8c_error_t e = NULL;
                int r = c->ctl.delete(c->ctl.opaque, path, opts, &e);
                if (r < 0) {
                        exp_deletion_observed(c, key, pk);
                        if (k8c_error_reason(&e) == K8C_ENOTFOUND)
                                continue; /* already gone: the goal is met */
                        if (first == 0) {
                                first = r;
                                *err = k8c_steal(&e);
                        }
                        continue;
                }
                deleted++;
        }
        if (c->rec != NULL && deleted > 0) {
                cleanup_error k8c_error_t re = NULL;
                k8c_event_record(c->rec, rs, "Normal", "SuccessfulDelete", &re, "Deleted %lld pod(s)",
                                 (long long)deleted);
        }
        return first < 0 ? k8c_error_wrap(err, "deleting pods") : 0;
}

static int manage_replicas(struct k8c_rs_controller *c, const char *key, const json_t *rs, json_t *active,
                           k8c_error_t *err)
{
        int64_t want = k8c_json_get_int(rs, "spec.replicas", 1);
        int64_t diff = (int64_t)json_array_size(active) - want;
        if (diff < 0) {
                diff = -diff;
                if (diff > K8C_RS_BURST_REPLICAS)
                        diff = K8C_RS_BURST_REPLICAS;
                return create_pods(c, key, rs, diff, err);
        }
        if (diff > 0) {
                if (diff > K8C_RS_BURST_REPLICAS)
                        diff = K8C_RS_BURST_REPLICAS;
                return delete_pods(c, key, rs, active, diff, err);
        }
        return 0;
}

/* ---- status ---- */

static bool fully_labeled(const json_t *rs, const json_t *pod)
{
        json_t *want = k8c_json_get(rs, "spec.template.metadata.labels");
        const json_t *have = pod_labels(pod);
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
                if (!json_equal(json_object_get(have, k), v))
                        return false;
        }
        return true;
}

static int update_status(struct k8c_rs_controller *c, const json_t *rs, const json_t *active,
                         k8c_error_t *err)
{
        int64_t mrs = k8c_json_get_int(rs, "spec.minReadySeconds", 0);
        time_t now = time(NULL);
        json_int_t labeled = 0, ready = 0, available = 0;
        size_t i;
        json_t *pod;
        json_array_foreach(active, i, pod)
        {
                if (fully_labeled(rs, pod))
                        labeled++;
                if (k8c_pod_is_ready(pod))
                        ready++;
                if (k8c_pod_is_available(pod, mrs, now))
                        available++;
        }
        json_t *old = json_object_get(rs, "status");
        json_auto_t *st = json_is_object(old) ? json_deep_copy(old) : json_object();
        json_object_set_new(st, "replicas", json_integer((json_int_t)json_array_size(active)));
        json_object_set_new(st, "fullyLabeledReplicas", json_integer(labeled));
        json_object_set_new(st, "readyReplicas", json_integer(ready));
        json_object_set_new(st, "availableReplicas", json_integer(available));
        json_object_set_new(st, "observedGeneration",
                            json_integer(k8c_json_get_int(rs, "metadata.generation", 0)));
        if (json_is_object(old) && json_equal(st, old))
                return 0;
        cleanup_free char *path =
                k8c_ctrl_path("apps/v1", "replicasets", k8c_json_get_string(rs, "metadata.namespace"),
                              k8c_json_get_string(rs, "metadata.name"));
        cleanup_free char *spath = k8c_xasprintf("%s/status", path);
        json_auto_t *obj = json_deep_copy(rs);
        json_object_set(obj, "status", st);
        int r = c->ctl.update(c->ctl.opaque, spath, obj, err);
        if (r < 0 && k8c_error_reason(err) == K8C_ECONFLICT && c->ctl.get != NULL) {
                /* The cache lags a write of ours or a user's: retry once on the live object. */
                json_auto_t *fresh = NULL;
                k8c_error_release(err);
                r = c->ctl.get(c->ctl.opaque, path, &fresh, err);
                if (r < 0)
                        return r;
                json_object_set(fresh, "status", st);
                r = c->ctl.update(c->ctl.opaque, spath, fresh, err);
        }
        if (r < 0 && k8c_error_reason(err) == K8C_ENOTFOUND) {
                k8c_error_release(err);
                return 0;
        }
        return r;
}

/* ---- sync ---- */

int k8c_rs_controller_sync(struct k8c_rs_controller *c, const char *key, k8c_error_t *err)
{
        json_auto_t *rs = k8c_informer_get(c->rs, key);
        if (rs == NULL) {
                exp_delete(c, key);
                return 0;
        }
        struct k8c_selector sel = { 0 };
        cleanup_error k8c_error_t serr = NULL;
        if (rs_selector(rs, &sel, &serr) < 0) {
                /* Not retryable: a new version of the object brings it back. */
                k8c_selector_free(&sel);
                return 0;
        }
        bool needs_sync = k8c_rs_controller_expectations_satisfied(c, key) &&
                          k8c_json_get(rs, "metadata.deletionTimestamp") == NULL;
        json_auto_t *claimed = NULL;
        int r = claim_pods(c, rs, &sel, &claimed, err);
        k8c_selector_free(&sel);
        if (r < 0)
                return r;
        json_auto_t *active = json_array();
        size_t i;
        json_t *pod;
        json_array_foreach(claimed, i, pod)
        {
                if (k8c_pod_is_active(pod))
                        json_array_append(active, pod);
        }
        int mr = 0;
        cleanup_error k8c_error_t merr = NULL;
        if (needs_sync)
                mr = manage_replicas(c, key, rs, active, &merr);
        /* Status reflects the pods seen now; the next sync counts the new ones. */
        json_auto_t *counted = json_array();
        json_array_foreach(active, i, pod) json_array_append(counted, pod);
        r = update_status(c, rs, counted, err);
        if (mr < 0) {
                k8c_error_release(err);
                *err = k8c_steal(&merr);
                return mr;
        }
        if (r < 0)
                return r;
        int64_t mrs = k8c_json_get_int(rs, "spec.minReadySeconds", 0);
        if (mrs > 0) {
                time_t now = time(NULL);
                json_array_foreach(active, i, pod)
                {
                        if (k8c_pod_is_ready(pod) && !k8c_pod_is_available(pod, mrs, now)) {
                                k8c_workqueue_add_after(c->queue, key, mrs * 1000);
                                break;
                        }
                }
        }
        return 0;
}

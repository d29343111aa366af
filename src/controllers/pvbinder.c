/*
 * pvbinder.c - the PersistentVolume binder (Kubernetes' persistentvolume-binder,
 * pkg/controller/volume/persistentvolume, without dynamic provisioning): a Pending
 * claim gets the smallest Available volume that fits (storageClassName, volumeMode,
 * accessModes ⊆ the volume's, capacity ≥ request, the claim's selector; a volume
 * pre-bound to the claim through claimRef wins); binding writes the volume first
 * (spec.claimRef, pv.kubernetes.io/bound-by-controller; phase Bound) and then the
 * claim (spec.volumeName, pv.kubernetes.io/bind-completed; phase Bound with the
 * volume's capacity and access modes), so an interrupted bind is finished by the
 * next sync and a volume's resourceVersion guards against two claims taking it.
 * A volume whose claim is gone is Released, then kept (Retain) or deleted (Delete);
 * a bound claim whose volume is gone or taken is Lost.
 *
 * One queue: keys "pvc|ns/name" and "pv|name". Reads caches; writes through object
 * control. Does not log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controllers/internal.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/labels.h"
#include "k8c/names.h"
#include "k8c/quantity.h"

#define ANN_BOUND_BY_CONTROLLER "pv.kubernetes.io/bound-by-controller"
#define ANN_BIND_COMPLETED "pv.kubernetes.io/bind-completed"
#define ANN_CLASS "volume.beta.kubernetes.io/storage-class"

struct k8c_pvbinder_controller {
        struct k8c_informer *pvs, *pvcs;
        struct k8c_object_control ctl;
        struct k8c_event_recorder *rec;
        struct k8c_workqueue *queue;
};

/* ---- handlers ---- */

static void enqueue(struct k8c_pvbinder_controller *c, const char *kind, const char *key)
{
        if (key == NULL)
                return;
        cleanup_free char *k = k8c_xasprintf("%s|%s", kind, key);
        k8c_workqueue_add(c->queue, k);
}

/* Claims waiting for a volume: worth another look when a volume becomes Available. */
static void enqueue_pending_claims(struct k8c_pvbinder_controller *c)
{
        json_auto_t *all = k8c_informer_list(c->pvcs);
        size_t i;
        json_t *pvc;
        json_array_foreach(all, i, pvc)
        {
                const char *vn = k8c_json_get_string(pvc, "spec.volumeName");
                if (vn == NULL || vn[0] == '\0') {
                        cleanup_free char *key = k8c_object_key(pvc);
                        enqueue(c, "pvc", key);
                }
        }
}

static void on_pv(struct k8c_pvbinder_controller *c, const json_t *pv)
{
        cleanup_free char *key = k8c_object_key(pv);
        enqueue(c, "pv", key);
        const json_t *ref = k8c_json_get(pv, "spec.claimRef");
        const char *ns = json_string_value(json_object_get(ref, "namespace"));
        const char *name = json_string_value(json_object_get(ref, "name"));
        if (ns != NULL && name != NULL) {
                cleanup_free char *ck = k8c_xasprintf("%s/%s", ns, name);
                enqueue(c, "pvc", ck);
        } else if (strcmp(k8c_json_get_string(pv, "status.phase") ?: "", "Available") == 0) {
                enqueue_pending_claims(c);
        }
}

static void on_pv_add(void *o, json_t *pv)
{
        on_pv(o, pv);
}

static void on_pv_update(void *o, json_t *old, json_t *pv)
{
        on_pv(o, pv);
}

static void on_pv_delete(void *o, json_t *pv)
{
        on_pv(o, pv);
}

static void on_pvc(struct k8c_pvbinder_controller *c, const json_t *pvc)
{
        cleanup_free char *key = k8c_object_key(pvc);
        enqueue(c, "pvc", key);
        const char *vn = k8c_json_get_string(pvc, "spec.volumeName");
        if (vn != NULL && vn[0] != '\0')
                enqueue(c, "pv", vn);
}

static void on_pvc_add(void *o, json_t *pvc)
{
        on_pvc(o, pvc);
}

static void on_pvc_update(void *o, json_t *old, json_t *pvc)
{
        on_pvc(o, pvc);
}

static void on_pvc_delete(void *o, json_t *pvc)
{
        struct k8c_pvbinder_controller *c = o;
        const char *vn = k8c_json_get_string(pvc, "spec.volumeName");
        if (vn != NULL && vn[0] != '\0') {
                enqueue(c, "pv", vn);
                return;
        }
        /* Not bound on our side yet: a volume may still point at it. */
        json_auto_t *pvs = k8c_informer_list(c->pvs);
        size_t i;
        json_t *pv;
        json_array_foreach(pvs, i, pv)
        {
                const char *uid = k8c_json_get_string(pv, "spec.claimRef.uid");
                const char *cuid = k8c_json_get_string(pvc, "metadata.uid");
                if (uid != NULL && cuid != NULL && strcmp(uid, cuid) == 0) {
                        cleanup_free char *key = k8c_object_key(pv);
                        enqueue(c, "pv", key);
                }
        }
}

struct k8c_pvbinder_controller *k8c_pvbinder_controller_new(struct k8c_informer *pvs,
                                                            struct k8c_informer *pvcs,
                                                            const struct k8c_object_control *ctl,
                                                            struct k8c_event_recorder *rec)
{
        struct k8c_pvbinder_controller *c = k8c_xcalloc(1, sizeof(*c));
        c->pvs = pvs;
        c->pvcs = pvcs;
        c->ctl = *ctl;
        c->rec = rec;
        c->queue = k8c_workqueue_new(NULL);
        k8c_informer_add_handlers(
                pvs, &(struct k8c_informer_handlers){ on_pv_add, on_pv_update, on_pv_delete, c });
        k8c_informer_add_handlers(
                pvcs, &(struct k8c_informer_handlers){ on_pvc_add, on_pvc_update, on_pvc_delete, c });
        return c;
}

void k8c_pvbinder_controller_free(struct k8c_pvbinder_controller *c)
{
        if (c == NULL)
                return;
        k8c_workqueue_free(c->queue);
        free(c);
}

struct k8c_workqueue *k8c_pvbinder_controller_queue(struct k8c_pvbinder_controller *c)
{
        return c->queue;
}

/* ---- matching ---- */

static const char *class_of(const json_t *obj)
{
        const char *a = k8c_json_get_string(obj, "metadata.annotations[\"" ANN_CLASS "\"]");
        if (a != NULL)
                return a;
        return k8c_json_get_string(obj, "spec.storageClassName") ?: "";
}

static int64_t storage_milli(const json_t *v)
{
        k8c_quantity_t q;
        cleanup_error k8c_error_t err = NULL;
        if (v == NULL || k8c_quantity_from_json(v, &q, &err) < 0)
                return -1;
        return k8c_quantity_milli(&q);
}

static bool modes_contain(const json_t *have, const json_t *want)
{
        size_t i, j;
        json_t *w, *h;
        json_array_foreach(want, i, w)
        {
                bool found = false;
                json_array_foreach(have, j, h) found = found || json_equal(h, w);
                if (!found)
                        return false;
        }
        return true;
}

/* IsVolumeBoundToClaim: claimRef names the claim (and its uid, when set). */
static bool bound_to_claim(const json_t *pv, const json_t *pvc)
{
        const json_t *ref = k8c_json_get(pv, "spec.claimRef");
        if (!json_is_object(ref))
                return false;
        const char *ns = json_string_value(json_object_get(ref, "namespace")) ?: "";
        const char *name = json_string_value(json_object_get(ref, "name")) ?: "";
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        if (strcmp(ns, k8c_json_get_string(pvc, "metadata.namespace") ?: "") != 0 ||
            strcmp(name, k8c_json_get_string(pvc, "metadata.name") ?: "") != 0)
                return false;
        return uid == NULL || uid[0] == '\0' ||
               strcmp(uid, k8c_json_get_string(pvc, "metadata.uid") ?: "") == 0;
}

json_t *k8c_pv_find_match(const json_t *pvs, const json_t *pvc)
{
        const json_t *want_modes = k8c_json_get(pvc, "spec.accessModes");
        int64_t want = storage_milli(k8c_json_get(pvc, "spec.resources.requests.storage"));
        const char *cls = class_of(pvc);
        const char *mode = k8c_json_get_string(pvc, "spec.volumeMode") ?: "Filesystem";
        const json_t *sel_json = k8c_json_get(pvc, "spec.selector");
        struct k8c_selector sel = { 0 };
        bool has_sel = json_is_object(sel_json);
        if (has_sel) {
                cleanup_error k8c_error_t err = NULL;
                if (k8c_selector_from_json(sel_json, &sel, &err) < 0)
                        return NULL;
        }
        json_t *best = NULL;
        int64_t best_cap = 0;
        size_t best_modes = 0;
        size_t i;
        json_t *pv;
        json_array_foreach(pvs, i, pv)
        {
                if (k8c_json_get(pv, "metadata.deletionTimestamp") != NULL)
                        continue;
                const json_t *ref = k8c_json_get(pv, "spec.claimRef");
                if (json_is_object(ref) && !bound_to_claim(pv, pvc))
                        continue;
                if (strcmp(k8c_json_get_string(pv, "spec.volumeMode") ?: "Filesystem", mode) != 0)
                        continue;
                if (json_is_object(ref)) {
                        /* Pre-bound to this claim by its creator: that one. */
                        best = pv;
                        break;
                }
                if (strcmp(k8c_json_get_string(pv, "status.phase") ?: "", "Available") != 0)
                        continue;
                if (has_sel && !k8c_selector_matches(&sel, k8c_json_get(pv, "metadata.labels")))
                        continue;
                if (strcmp(class_of(pv), cls) != 0)
                        continue;
                const json_t *modes = k8c_json_get(pv, "spec.accessModes");
                if (!modes_contain(modes, want_modes))
                        continue;
                int64_t cap = storage_milli(k8c_json_get(pv, "spec.capacity.storage"));
                if (cap < want)
                        continue;
                /* Smallest capacity; among equals, the fewest access modes, then the name. */
                size_t nm = json_array_size(modes);
                if (best == NULL || cap < best_cap || (cap == best_cap && nm < best_modes) ||
                    (cap == best_cap && nm == best_modes &&
                     strcmp(k8c_json_get_string(pv, "metadata.name"),
                            k8c_json_get_string(best, "metadata.name")) < 0)) {
                        best = pv;
                        best_cap = cap;
                        best_modes = nm;
                }
        }
        if (has_sel)
                k8c_selector_free(&sel);
        return best;
}

/* ---- writes ---- */

static void record(struct k8c_pvbinder_controller *c, const json_t *obj, const char *type, const char *reason,
                   const char *msg)
{
        if (c->rec == NULL)
                return;
        cleanup_error k8c_error_t err = NULL;
        k8c_event_record(c->rec, obj, type, reason, &err, "%s", msg);
}

static int put_status(struct k8c_pvbinder_controller *c, const char *path, const json_t *obj, json_t *status,
                      k8c_error_t *err)
{
        if (json_equal(status, json_object_get(obj, "status")))
                return 0;
        json_auto_t *o = json_deep_copy(obj);
        json_object_set(o, "status", status);
        json_object_del(json_object_get(o, "metadata"), "resourceVersion");
        cleanup_free char *spath = k8c_xasprintf("%s/status", path);
        return c->ctl.update(c->ctl.opaque, spath, o, err);
}

static char *pv_path(const json_t *pv)
{
        return k8c_ctrl_path("v1", "persistentvolumes", NULL, k8c_json_get_string(pv, "metadata.name"));
}

static char *pvc_path(const json_t *pvc)
{
        return k8c_ctrl_path("v1", "persistentvolumeclaims", k8c_json_get_string(pvc, "metadata.namespace"),
                             k8c_json_get_string(pvc, "metadata.name"));
}

static int set_pv_phase(struct k8c_pvbinder_controller *c, const json_t *pv, const char *phase,
                        const char *message, k8c_error_t *err)
{
        const char *have = k8c_json_get_string(pv, "status.phase") ?: "";
        if (strcmp(have, phase) == 0)
                return 0;
        json_t *st = json_object_get(pv, "status");
        json_auto_t *ns = json_is_object(st) ? json_deep_copy(st) : json_object();
        json_object_set_new(ns, "phase", json_string(phase));
        char ts[32];
        k8c_rfc3339(time(NULL), ts, sizeof(ts));
        json_object_set_new(ns, "lastPhaseTransitionTime", json_string(ts));
        if (message != NULL)
                json_object_set_new(ns, "message", json_string(message));
        else
                json_object_del(ns, "message");
        json_object_del(ns, "reason");
        cleanup_free char *path = pv_path(pv);
        int r = put_status(c, path, pv, ns, err);
        if (r < 0 && k8c_error_reason(err) == K8C_ENOTFOUND) {
                k8c_error_release(err);
                return 0;
        }
        return r;
}

static int set_pvc_status(struct k8c_pvbinder_controller *c, const json_t *pvc, const char *phase,
                          const json_t *pv, k8c_error_t *err)
{
        json_t *st = json_object_get(pvc, "status");
        json_auto_t *ns = json_is_object(st) ? json_deep_copy(st) : json_object();
        json_object_set_new(ns, "phase", json_string(phase));
        if (pv != NULL) {
                json_object_set_new(ns, "accessModes", json_deep_copy(k8c_json_get(pv, "spec.accessModes")));
                json_object_set_new(ns, "capacity", json_deep_copy(k8c_json_get(pv, "spec.capacity")));
        } else if (strcmp(phase, "Pending") == 0) {
                json_object_del(ns, "accessModes");
                json_object_del(ns, "capacity");
        }
        cleanup_free char *path = pvc_path(pvc);
        int r = put_status(c, path, pvc, ns, err);
        if (r < 0 && k8c_error_reason(err) == K8C_ENOTFOUND) {
                k8c_error_release(err);
                return 0;
        }
        return r;
}

/* bindVolumeToClaim + the phase: guarded by the volume's resourceVersion (another claim may win). */
static int bind_volume(struct k8c_pvbinder_controller *c, const json_t *pv, const json_t *pvc,
                       k8c_error_t *err)
{
        const char *uid = k8c_json_get_string(pv, "spec.claimRef.uid");
        bool done = uid != NULL && strcmp(uid, k8c_json_get_string(pvc, "metadata.uid") ?: "") == 0;
        if (!done) {
                json_auto_t *obj = json_deep_copy(pv);
                json_t *ref = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kind", "PersistentVolumeClaim",
                                        "apiVersion", "v1", "namespace",
                                        k8c_json_get_string(pvc, "metadata.namespace"), "name",
                                        k8c_json_get_string(pvc, "metadata.name"), "uid",
                                        k8c_json_get_string(pvc, "metadata.uid"), "resourceVersion",
                                        k8c_json_get_string(pvc, "metadata.resourceVersion") ?: "");
                json_object_set_new(k8c_json_object_ensure(obj, "spec"), "claimRef", ref);
                if (k8c_json_get(pv, "spec.claimRef") == NULL)
                        json_object_set_new(k8c_json_object_ensure(k8c_json_object_ensure(obj, "metadata"),
                                                                   "annotations"),
                                            ANN_BOUND_BY_CONTROLLER, json_string("yes"));
                cleanup_free char *path = pv_path(pv);
                int r = c->ctl.update(c->ctl.opaque, path, obj, err);
                if (r < 0)
                        return r;
        }
        return set_pv_phase(c, pv, "Bound", NULL, err);
}

/* bindClaimToVolume + the claim's status. */
static int bind_claim(struct k8c_pvbinder_controller *c, const json_t *pvc, const json_t *pv,
                      k8c_error_t *err)
{
        const char *vn = k8c_json_get_string(pvc, "spec.volumeName") ?: "";
        const char *name = k8c_json_get_string(pv, "metadata.name");
        bool completed = k8c_json_get_string(pvc, "metadata.annotations[\"" ANN_BIND_COMPLETED "\"]") != NULL;
        if (strcmp(vn, name) != 0 || !completed) {
                json_auto_t *obj = json_deep_copy(pvc);
                json_object_set_new(k8c_json_object_ensure(obj, "spec"), "volumeName", json_string(name));
                json_t *ann = k8c_json_object_ensure(k8c_json_object_ensure(obj, "metadata"), "annotations");
                json_object_set_new(ann, ANN_BIND_COMPLETED, json_string("yes"));
                if (vn[0] == '\0')
                        json_object_set_new(ann, ANN_BOUND_BY_CONTROLLER, json_string("yes"));
                cleanup_free char *path = pvc_path(pvc);
                int r = c->ctl.update(c->ctl.opaque, path, obj, err);
                if (r < 0)
                        return r;
        }
        return set_pvc_status(c, pvc, "Bound", pv, err);
}

/* ---- syncClaim ---- */

static int sync_claim(struct k8c_pvbinder_controller *c, const char *key, k8c_error_t *err)
{
        json_auto_t *pvc = k8c_informer_get(c->pvcs, key);
        if (pvc == NULL || k8c_json_get(pvc, "metadata.deletionTimestamp") != NULL)
                return 0;
        const char *vn = k8c_json_get_string(pvc, "spec.volumeName") ?: "";
        bool completed = k8c_json_get_string(pvc, "metadata.annotations[\"" ANN_BIND_COMPLETED "\"]") != NULL;
        if (!completed && vn[0] == '\0') {
                /* syncUnboundClaim: the best Available volume. */
                json_auto_t *pvs = k8c_informer_list(c->pvs);
                json_t *pv = k8c_pv_find_match(pvs, pvc);
                if (pv == NULL) {
                        if (strcmp(k8c_json_get_string(pvc, "status.phase") ?: "", "Pending") != 0 ||
                            k8c_json_get(pvc, "status") == NULL) {
                                int r = set_pvc_status(c, pvc, "Pending", NULL, err);
                                if (r < 0)
                                        return r;
                        }
                        /* Every time it is looked at, as Kubernetes does: kubectl describe shows why. */
                        record(c, pvc, "Normal", "FailedBinding",
                               class_of(pvc)[0] == '\0' ? "no persistent volumes available for this claim "
                                                          "and no storage class is set"
                                                        : "no persistent volumes available for this claim");
                        return 0;
                }
                int r = bind_volume(c, pv, pvc, err);
                if (r < 0)
                        return r;
                return bind_claim(c, pvc, pv, err);
        }
        json_auto_t *pv = k8c_informer_get(c->pvs, vn);
        if (!completed) {
                /* Pre-bound by the user to volumeName: bind when that volume is free or ours. */
                if (pv == NULL) {
                        record(c, pvc, "Normal", "FailedBinding",
                               "volume not found; waiting for it to be created");
                        return set_pvc_status(c, pvc, "Pending", NULL, err);
                }
                const json_t *ref = k8c_json_get(pv, "spec.claimRef");
                if (json_is_object(ref) && !bound_to_claim(pv, pvc)) {
                        record(c, pvc, "Warning", "FailedBinding",
                               "volume already bound to a different claim.");
                        return set_pvc_status(c, pvc, "Pending", NULL, err);
                }
                int r = bind_volume(c, pv, pvc, err);
                if (r < 0)
                        return r;
                return bind_claim(c, pvc, pv, err);
        }
        /* Bound claim. */
        if (pv == NULL) {
                if (strcmp(k8c_json_get_string(pvc, "status.phase") ?: "", "Lost") != 0)
                        record(c, pvc, "Warning", "ClaimLost",
                               "Bound claim has lost its PersistentVolume. Data on the "
                               "volume is lost!");
                return set_pvc_status(c, pvc, "Lost", NULL, err);
        }
        const json_t *ref = k8c_json_get(pv, "spec.claimRef");
        if (!json_is_object(ref)) {
                /* Bound claim, unbound volume (or our own write not in the cache yet): bind it again. */
                int r = bind_volume(c, pv, pvc, err);
                if (r < 0)
                        return r;
                return bind_claim(c, pvc, pv, err);
        }
        if (!bound_to_claim(pv, pvc)) {
                if (strcmp(k8c_json_get_string(pvc, "status.phase") ?: "", "Lost") != 0)
                        record(c, pvc, "Warning", "ClaimMisbound",
                               "Two claims are bound to the same volume, this one "
                               "is bound incorrectly");
                return set_pvc_status(c, pvc, "Lost", NULL, err);
        }
        int r = bind_volume(c, pv, pvc, err);
        if (r < 0)
                return r;
        return bind_claim(c, pvc, pv, err);
}

/* ---- syncVolume ---- */

static int sync_volume(struct k8c_pvbinder_controller *c, const char *name, k8c_error_t *err)
{
        json_auto_t *pv = k8c_informer_get(c->pvs, name);
        if (pv == NULL || k8c_json_get(pv, "metadata.deletionTimestamp") != NULL)
                return 0;
        const json_t *ref = k8c_json_get(pv, "spec.claimRef");
        if (!json_is_object(ref))
                return set_pv_phase(c, pv, "Available", NULL, err);
        const char *ruid = json_string_value(json_object_get(ref, "uid"));
        if (ruid == NULL || ruid[0] == '\0')
                /* Pre-bound by the user, waiting for its claim. */
                return set_pv_phase(c, pv, "Available", NULL, err);
        cleanup_free char *ckey =
                k8c_xasprintf("%s/%s", json_string_value(json_object_get(ref, "namespace")) ?: "",
                              json_string_value(json_object_get(ref, "name")) ?: "");
        json_auto_t *pvc = k8c_informer_get(c->pvcs, ckey);
        if (pvc != NULL && strcmp(k8c_json_get_string(pvc, "metadata.uid") ?: "", ruid) != 0) {
                json_decref(pvc);
                pvc = NULL; /* deleted and created again: not the claim this volume was bound to */
        }
        if (pvc == NULL && c->ctl.get != NULL) {
                /* The cache may not have a claim created a moment ago: ask before releasing the volume. */
                cleanup_free char *path = k8c_ctrl_path("v1", "persistentvolumeclaims",
                                                        json_string_value(json_object_get(ref, "namespace")),
                                                        json_string_value(json_object_get(ref, "name")));
                json_auto_t *live = NULL;
                cleanup_error k8c_error_t gerr = NULL;
                if (c->ctl.get(c->ctl.opaque, path, &live, &gerr) == 0 &&
                    strcmp(k8c_json_get_string(live, "metadata.uid") ?: "", ruid) == 0)
                        return 0; /* it exists: the claim's own sync finishes the binding */
                if (gerr != NULL && k8c_error_reason(&gerr) != K8C_ENOTFOUND)
                        return k8c_make_error(err, k8c_error_reason(&gerr), "%s", k8c_error_msg(&gerr));
        }
        if (pvc == NULL) {
                /* The claim is gone: Released, then the reclaim policy. */
                const char *phase = k8c_json_get_string(pv, "status.phase") ?: "";
                if (strcmp(phase, "Released") != 0 && strcmp(phase, "Failed") != 0) {
                        int r = set_pv_phase(c, pv, "Released", NULL, err);
                        if (r < 0)
                                return r;
                }
                const char *policy =
                        k8c_json_get_string(pv, "spec.persistentVolumeReclaimPolicy") ?: "Retain";
                if (strcmp(policy, "Delete") == 0) {
                        cleanup_free char *path = pv_path(pv);
                        json_auto_t *opts =
                                json_pack("{s:s, s:s, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
                                          "preconditions", "uid", k8c_json_get_string(pv, "metadata.uid"));
                        int r = c->ctl.delete(c->ctl.opaque, path, opts, err);
                        if (r < 0 && (k8c_error_reason(err) == K8C_ENOTFOUND ||
                                      k8c_error_reason(err) == K8C_ECONFLICT)) {
                                k8c_error_release(err);
                                return 0;
                        }
                        return r;
                }
                if (strcmp(policy, "Recycle") == 0) {
                        record(c, pv, "Warning", "VolumeFailedRecycle", "recycling is not supported by k8c");
                        return set_pv_phase(c, pv, "Failed", "recycling is not supported by k8c", err);
                }
                return 0; /* Retain: kept Released for the administrator */
        }
        const char *vn = k8c_json_get_string(pvc, "spec.volumeName") ?: "";
        if (vn[0] == '\0') {
                /* Bound on the volume's side only: the claim's sync completes it. */
                cleanup_free char *k = k8c_object_key(pvc);
                enqueue(c, "pvc", k);
                return 0;
        }
        if (strcmp(vn, name) == 0)
                return set_pv_phase(c, pv, "Bound", NULL, err);
        /* The claim went to another volume: if we made this link, undo it (unbindVolume). */
        json_auto_t *obj = json_deep_copy(pv);
        if (k8c_json_get_string(pv, "metadata.annotations[\"" ANN_BOUND_BY_CONTROLLER "\"]") != NULL) {
                json_object_del(json_object_get(obj, "spec"), "claimRef");
                json_object_del(k8c_json_get(obj, "metadata.annotations"), ANN_BOUND_BY_CONTROLLER);
        } else {
                json_object_set_new(k8c_json_get(obj, "spec.claimRef"), "uid", json_string(""));
        }
        cleanup_free char *path = pv_path(pv);
        int r = c->ctl.update(c->ctl.opaque, path, obj, err);
        if (r < 0)
                return r;
        return set_pv_phase(c, pv, "Available", NULL, err);
}

int k8c_pvbinder_controller_sync(struct k8c_pvbinder_controller *c, const char *key, k8c_error_t *err)
{
        if (strncmp(key, "pvc|", 4) == 0)
                return sync_claim(c, key + 4, err);
        if (strncmp(key, "pv|", 3) == 0)
                return sync_volume(c, key + 3, err);
        return 0;
}

/*
 * deployment.c - the Deployment controller (Kubernetes' deployment controller,
 * reduced): one ReplicaSet per pod template, named <deployment>-<pod-template-hash>,
 * with the hash as an extra label and selector term; RollingUpdate (maxSurge,
 * maxUnavailable) or Recreate between the new ReplicaSet and the old ones; the
 * deployment.kubernetes.io/revision annotation (a template that matches an old
 * ReplicaSet - a rollback - revives it with the next revision); old ReplicaSets
 * beyond revisionHistoryLimit that are scaled to zero are deleted; status from the
 * ReplicaSets' status. Reads caches; writes through object control. Does not log.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/internal.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/labels.h"

#define REVISION "deployment.kubernetes.io/revision"
#define DESIRED "deployment.kubernetes.io/desired-replicas"
#define MAX_REPLICAS "deployment.kubernetes.io/max-replicas"
#define HASH_LABEL "pod-template-hash"

struct k8c_deployment_controller {
        struct k8c_informer *deploy, *rs;
        struct k8c_object_control ctl;
        struct k8c_workqueue *queue;
};

/* ---- hashing (ComputeHash + SafeEncodeString) ---- */

char *k8c_pod_template_hash(const json_t *template, int64_t collision_count)
{
        /* FNV-1a over the template's canonical text: stable across runs and processes. */
        cleanup_free char *text = json_dumps(template, JSON_COMPACT | JSON_SORT_KEYS);
        uint32_t h = 2166136261u;
        for (const char *p = text; p != NULL && *p != '\0'; p++) {
                h ^= (uint8_t)*p;
                h *= 16777619u;
        }
        if (collision_count > 0) {
                char cc[32];
                snprintf(cc, sizeof(cc), "%lld", (long long)collision_count);
                for (const char *p = cc; *p != '\0'; p++) {
                        h ^= (uint8_t)*p;
                        h *= 16777619u;
                }
        }
        static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
        char dec[16];
        snprintf(dec, sizeof(dec), "%u", h);
        char *out = k8c_xstrdup(dec);
        for (char *p = out; *p != '\0'; p++)
                *p = alnum[(uint8_t)*p % (sizeof(alnum) - 1)];
        return out;
}

/* ---- handlers ---- */

static void enqueue(struct k8c_deployment_controller *c, const json_t *obj)
{
        cleanup_free char *key = k8c_object_key(obj);
        if (key != NULL)
                k8c_workqueue_add(c->queue, key);
}

static void on_d_add(void *o, json_t *d)
{
        enqueue(o, d);
}

static void on_d_update(void *o, json_t *old, json_t *d)
{
        enqueue(o, d);
}

static void on_rs_event(struct k8c_deployment_controller *c, const json_t *rs)
{
        const json_t *ref = k8c_ctrl_controller_ref(rs);
        const char *kind = json_string_value(json_object_get(ref, "kind"));
        const char *name = json_string_value(json_object_get(ref, "name"));
        const char *ns = k8c_json_get_string(rs, "metadata.namespace");
        if (kind == NULL || strcmp(kind, "Deployment") != 0 || name == NULL || ns == NULL)
                return;
        cleanup_free char *key = k8c_xasprintf("%s/%s", ns, name);
        k8c_workqueue_add(c->queue, key);
}

static void on_rs_add(void *o, json_t *rs)
{
        on_rs_event(o, rs);
}

static void on_rs_update(void *o, json_t *old, json_t *rs)
{
        on_rs_event(o, rs);
}

static void on_rs_delete(void *o, json_t *rs)
{
        on_rs_event(o, rs);
}

struct k8c_deployment_controller *k8c_deployment_controller_new(struct k8c_informer *deployments,
                                                                struct k8c_informer *replicasets,
                                                                const struct k8c_object_control *ctl)
{
        struct k8c_deployment_controller *c = k8c_xcalloc(1, sizeof(*c));
        c->deploy = deployments;
        c->rs = replicasets;
        c->ctl = *ctl;
        c->queue = k8c_workqueue_new(NULL);
        k8c_informer_add_handlers(deployments,
                                  &(struct k8c_informer_handlers){ on_d_add, on_d_update, NULL, c });
        k8c_informer_add_handlers(
                replicasets, &(struct k8c_informer_handlers){ on_rs_add, on_rs_update, on_rs_delete, c });
        return c;
}

void k8c_deployment_controller_free(struct k8c_deployment_controller *c)
{
        if (c == NULL)
                return;
        k8c_workqueue_free(c->queue);
        free(c);
}

struct k8c_workqueue *k8c_deployment_controller_queue(struct k8c_deployment_controller *c)
{
        return c->queue;
}

/* ---- helpers ---- */

static int64_t revision_of(const json_t *rs)
{
        const char *r = k8c_json_get_string(rs, "metadata.annotations[\"" REVISION "\"]");
        return r != NULL ? strtoll(r, NULL, 10) : 0;
}

static int64_t spec_replicas(const json_t *o)
{
        return k8c_json_get_int(o, "spec.replicas", 1);
}

/* An IntOrString of total: percent strings round up (surge) or down (unavailable). */
static int64_t scaled_value(const json_t *v, int64_t total, bool round_up, int64_t def)
{
        if (v == NULL || json_is_null(v))
                return def;
        if (json_is_integer(v))
                return json_integer_value(v);
        const char *s = json_string_value(v);
        if (s == NULL)
                return def;
        size_t n = strlen(s);
        if (n > 0 && s[n - 1] == '%') {
                double pct = strtod(s, NULL);
                double x = pct * (double)total / 100.0;
                return (int64_t)(round_up ? ceil(x) : floor(x));
        }
        return strtoll(s, NULL, 10);
}

static char *rs_path(const char *ns, const char *name)
{
        return k8c_ctrl_path("apps/v1", "replicasets", ns, name);
}

static int scale_rs(struct k8c_deployment_controller *c, const json_t *d, const json_t *rs, int64_t replicas,
                    k8c_error_t *err)
{
        if (spec_replicas(rs) == replicas)
                return 0;
        char want[32], maxr[32];
        snprintf(want, sizeof(want), "%lld", (long long)spec_replicas(d));
        snprintf(maxr, sizeof(maxr), "%lld", (long long)(spec_replicas(d) + 1));
        json_auto_t *patch = json_pack("{s:{s:{s:s}}, s:{s:I}}", "metadata", "annotations", DESIRED, want,
                                       "spec", "replicas", (json_int_t)replicas);
        cleanup_free char *path = rs_path(k8c_json_get_string(rs, "metadata.namespace"),
                                          k8c_json_get_string(rs, "metadata.name"));
        return c->ctl.patch(c->ctl.opaque, path, "application/merge-patch+json", patch, err);
}

/* The new ReplicaSet's template: the Deployment's plus the hash label. */
static json_t *rs_template(const json_t *d, const char *hash)
{
        json_t *t = json_deep_copy(k8c_json_get(d, "spec.template"));
        if (!json_is_object(t)) {
                json_decref(t);
                t = json_object();
        }
        json_t *md = k8c_json_object_ensure(t, "metadata");
        json_t *labels = k8c_json_object_ensure(md, "labels");
        json_object_set_new(labels, HASH_LABEL, json_string(hash));
        return t;
}

static int create_new_rs(struct k8c_deployment_controller *c, const json_t *d, const char *hash,
                         int64_t revision, int64_t replicas, k8c_error_t *err)
{
        const char *ns = k8c_json_get_string(d, "metadata.namespace");
        const char *name = k8c_json_get_string(d, "metadata.name");
        cleanup_free char *rs_name = k8c_xasprintf("%s-%s", name, hash);
        json_t *sel = json_deep_copy(k8c_json_get(d, "spec.selector"));
        if (!json_is_object(sel)) {
                json_decref(sel);
                sel = json_object();
        }
        json_object_set_new(k8c_json_object_ensure(sel, "matchLabels"), HASH_LABEL, json_string(hash));
        json_t *tmpl = rs_template(d, hash);
        json_t *labels = json_deep_copy(k8c_json_get(tmpl, "metadata.labels"));
        char rev[32], want[32], maxr[32];
        snprintf(rev, sizeof(rev), "%lld", (long long)revision);
        snprintf(want, sizeof(want), "%lld", (long long)spec_replicas(d));
        snprintf(maxr, sizeof(maxr), "%lld", (long long)(spec_replicas(d) + 1));
        json_t *ref = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", "apps/v1", "kind",
                                "Deployment", "name", name, "uid", k8c_json_get_string(d, "metadata.uid"),
                                "controller", 1, "blockOwnerDeletion", 1);
        json_auto_t *rs = json_pack(
                "{s:s, s:s, s:{s:s, s:s, s:o, s:{s:s, s:s, s:s}, s:[o]}, s:{s:I, s:I, s:o, s:o}}",
                "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name", rs_name, "namespace", ns,
                "labels", labels, "annotations", REVISION, rev, DESIRED, want, MAX_REPLICAS, maxr,
                "ownerReferences", ref, "spec", "replicas", (json_int_t)replicas, "minReadySeconds",
                (json_int_t)k8c_json_get_int(d, "spec.minReadySeconds", 0), "selector", sel, "template",
                tmpl);
        cleanup_free char *path = rs_path(ns, NULL);
        int r = c->ctl.create(c->ctl.opaque, path, rs, err);
        if (r < 0 && k8c_error_reason(err) == K8C_EALREADYEXISTS) {
                /* Ours, not yet in the cache: the watch brings it and the sync runs again. */
                k8c_error_release(err);
                return 0;
        }
        return r;
}

static int set_revision(struct k8c_deployment_controller *c, const char *path, const json_t *obj,
                        int64_t revision, k8c_error_t *err)
{
        char rev[32];
        snprintf(rev, sizeof(rev), "%lld", (long long)revision);
        const char *have = k8c_json_get_string(obj, "metadata.annotations[\"" REVISION "\"]");
        if (have != NULL && strcmp(have, rev) == 0)
                return 0;
        json_auto_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", REVISION, rev);
        return c->ctl.patch(c->ctl.opaque, path, "application/merge-patch+json", patch, err);
}

static int cmp_revision(const void *pa, const void *pb)
{
        int64_t a = revision_of(*(json_t *const *)pa), b = revision_of(*(json_t *const *)pb);
        return a < b ? -1 : a > b;
}

/* ---- sync ---- */

int k8c_deployment_controller_sync(struct k8c_deployment_controller *c, const char *key, k8c_error_t *err)
{
        json_auto_t *d = k8c_informer_get(c->deploy, key);
        if (d == NULL || k8c_json_get(d, "metadata.deletionTimestamp") != NULL)
                return 0;
        const char *ns = k8c_json_get_string(d, "metadata.namespace");
        const char *uid = k8c_json_get_string(d, "metadata.uid");
        if (ns == NULL || uid == NULL)
                return 0;
        json_auto_t *all = k8c_informer_by_index(c->rs, "owner", uid);
        cleanup_free char *hash = k8c_pod_template_hash(k8c_json_get(d, "spec.template"),
                                                        k8c_json_get_int(d, "status.collisionCount", 0));
        json_t *new_rs = NULL;
        json_auto_t *old = json_array();
        int64_t max_rev = 0;
        size_t i;
        json_t *rs;
        json_array_foreach(all, i, rs)
        {
                const json_t *ref = k8c_ctrl_controller_ref(rs);
                const char *ruid = json_string_value(json_object_get(ref, "uid"));
                if (ruid == NULL || strcmp(ruid, uid) != 0)
                        continue;
                const char *h = k8c_json_get_string(rs, "metadata.labels[\"" HASH_LABEL "\"]");
                if (h != NULL && strcmp(h, hash) == 0)
                        new_rs = rs;
                else
                        json_array_append(old, rs);
                if (revision_of(rs) > max_rev)
                        max_rev = revision_of(rs);
        }
        int64_t replicas = spec_replicas(d);
        bool recreate =
                strcmp(k8c_json_get_string(d, "spec.strategy.type") ?: "RollingUpdate", "Recreate") == 0;
        int64_t surge = scaled_value(k8c_json_get(d, "spec.strategy.rollingUpdate.maxSurge"), replicas, true,
                                     (replicas * 25 + 99) / 100);
        int64_t unavail = scaled_value(k8c_json_get(d, "spec.strategy.rollingUpdate.maxUnavailable"),
                                       replicas, false, replicas * 25 / 100);
        if (surge == 0 && unavail == 0)
                unavail = 1;
        int64_t old_spec = 0, old_running = 0;
        json_array_foreach(old, i, rs)
        {
                old_spec += spec_replicas(rs);
                old_running += k8c_json_get_int(rs, "status.replicas", 0);
        }
        cleanup_free char *dpath =
                k8c_ctrl_path("apps/v1", "deployments", ns, k8c_json_get_string(d, "metadata.name"));
        bool paused = k8c_json_get_bool(d, "spec.paused", false);
        int r = 0;
        if (new_rs == NULL && !paused) {
                int64_t start;
                if (recreate)
                        start = old_running == 0 && old_spec == 0 ? replicas : 0;
                else {
                        int64_t room = replicas + surge - old_spec;
                        start = room < 0 ? 0 : (room > replicas ? replicas : room);
                }
                r = create_new_rs(c, d, hash, max_rev + 1, start, err);
                if (r < 0)
                        return r;
                r = set_revision(c, dpath, d, max_rev + 1, err);
                goto status;
        }
        if (new_rs != NULL && revision_of(new_rs) < max_rev) {
                /* A rollback to an old template: that ReplicaSet is the newest revision again. */
                cleanup_free char *p = rs_path(ns, k8c_json_get_string(new_rs, "metadata.name"));
                r = set_revision(c, p, new_rs, max_rev + 1, err);
                if (r < 0)
                        return r;
                r = set_revision(c, dpath, d, max_rev + 1, err);
                if (r < 0)
                        return r;
        } else if (new_rs != NULL) {
                r = set_revision(c, dpath, d, revision_of(new_rs), err);
                if (r < 0)
                        return r;
        }
        if (paused || new_rs == NULL)
                goto status;
        if (recreate) {
                /* Old pods all gone before the new ones start. */
                json_array_foreach(old, i, rs)
                {
                        if ((r = scale_rs(c, d, rs, 0, err)) < 0)
                                return r;
                }
                if (old_running == 0 && (r = scale_rs(c, d, new_rs, replicas, err)) < 0)
                        return r;
        } else {
                int64_t new_spec = spec_replicas(new_rs);
                if (new_spec > replicas) {
                        if ((r = scale_rs(c, d, new_rs, replicas, err)) < 0)
                                return r;
                } else if (new_spec < replicas) {
                        int64_t room = replicas + surge - (old_spec + new_spec);
                        int64_t up = replicas - new_spec < room ? replicas - new_spec : room;
                        if (up > 0 && (r = scale_rs(c, d, new_rs, new_spec + up, err)) < 0)
                                return r;
                }
                /* Old ones go down only as far as availability allows (reconcileOldReplicaSets): unhealthy
                 * old pods first, bounded by what the surge leaves, then available ones down to
                 * replicas - maxUnavailable. */
                int64_t min_avail = replicas - unavail;
                int64_t new_unavail = new_spec - k8c_json_get_int(new_rs, "status.availableReplicas", 0);
                int64_t max_down = old_spec + new_spec - min_avail - (new_unavail > 0 ? new_unavail : 0);
                int64_t avail = k8c_json_get_int(new_rs, "status.availableReplicas", 0);
                json_array_foreach(old, i, rs) avail += k8c_json_get_int(rs, "status.availableReplicas", 0);
                int64_t total_down = avail - min_avail;
                size_t nsorted = json_array_size(old);
                json_t **sorted = k8c_xcalloc(nsorted + 1, sizeof(json_t *));
                json_array_foreach(old, i, rs) sorted[i] = rs;
                qsort(sorted, nsorted, sizeof(json_t *), cmp_revision);
                for (size_t k = 0; k < nsorted && max_down > 0 && r >= 0; k++) {
                        int64_t spec = spec_replicas(sorted[k]);
                        int64_t healthy = k8c_json_get_int(sorted[k], "status.availableReplicas", 0);
                        int64_t unhealthy = spec - healthy > 0 ? spec - healthy : 0;
                        int64_t down = unhealthy < max_down ? unhealthy : max_down;
                        max_down -= down;
                        int64_t more = spec - down < total_down ? spec - down : total_down;
                        if (more > 0) {
                                down += more;
                                total_down -= more;
                        }
                        if (down > 0)
                                r = scale_rs(c, d, sorted[k], spec - down, err);
                }
                free(sorted);
                if (r < 0)
                        return r;
        }
        /* revisionHistoryLimit: drop the oldest idle ReplicaSets beyond it. */
        int64_t limit = k8c_json_get_int(d, "spec.revisionHistoryLimit", 10);
        size_t nold = json_array_size(old);
        if (nold > 0) {
                json_t **v = k8c_xcalloc(nold, sizeof(json_t *));
                size_t idle = 0;
                json_array_foreach(old, i, rs)
                {
                        if (spec_replicas(rs) == 0 && k8c_json_get_int(rs, "status.replicas", 0) == 0)
                                v[idle++] = rs;
                }
                qsort(v, idle, sizeof(json_t *), cmp_revision);
                for (size_t k = 0; idle > (size_t)limit && k < idle - (size_t)limit && r >= 0; k++) {
                        cleanup_free char *p = rs_path(ns, k8c_json_get_string(v[k], "metadata.name"));
                        json_auto_t *opts = json_pack("{s:s, s:s, s:s}", "kind", "DeleteOptions",
                                                      "apiVersion", "v1", "propagationPolicy", "Background");
                        r = c->ctl.delete(c->ctl.opaque, p, opts, err);
                        if (r < 0 && k8c_error_reason(err) == K8C_ENOTFOUND) {
                                k8c_error_release(err);
                                r = 0;
                        }
                }
                free(v);
                if (r < 0)
                        return r;
        }
status:;
        /* Status from the ReplicaSets as cached. */
        json_int_t st_repl = 0, st_ready = 0, st_avail = 0, st_upd = 0;
        json_array_foreach(all, i, rs)
        {
                st_repl += k8c_json_get_int(rs, "status.replicas", 0);
                st_ready += k8c_json_get_int(rs, "status.readyReplicas", 0);
                st_avail += k8c_json_get_int(rs, "status.availableReplicas", 0);
        }
        if (new_rs != NULL)
                st_upd = k8c_json_get_int(new_rs, "status.replicas", 0);
        json_int_t unav = (json_int_t)replicas - st_avail;
        json_t *oldst = json_object_get(d, "status");
        json_auto_t *st = json_is_object(oldst) ? json_deep_copy(oldst) : json_object();
        json_object_set_new(st, "observedGeneration",
                            json_integer(k8c_json_get_int(d, "metadata.generation", 0)));
        json_object_set_new(st, "replicas", json_integer(st_repl));
        json_object_set_new(st, "updatedReplicas", json_integer(st_upd));
        json_object_set_new(st, "readyReplicas", json_integer(st_ready));
        json_object_set_new(st, "availableReplicas", json_integer(st_avail));
        json_object_set_new(st, "unavailableReplicas", json_integer(unav > 0 ? unav : 0));
        if (json_is_object(oldst) && json_equal(st, oldst))
                return 0;
        json_auto_t *obj = json_deep_copy(d);
        json_object_set(obj, "status", st);
        /* Status is derived, not merged: write it whatever changed meanwhile (our own revision patch). */
        json_object_del(json_object_get(obj, "metadata"), "resourceVersion");
        cleanup_free char *spath = k8c_xasprintf("%s/status", dpath);
        r = c->ctl.update(c->ctl.opaque, spath, obj, err);
        if (r < 0 && k8c_error_reason(err) == K8C_ENOTFOUND) {
                k8c_error_release(err);
                return 0;
        }
        return r;
}

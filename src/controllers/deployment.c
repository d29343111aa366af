/*
 * deployment.c - the Deployment controller, after Kubernetes' pkg/controller/deployment:
 * one ReplicaSet per pod template, named <deployment>-<pod-template-hash>, with the
 * hash as an extra label and selector term (a ReplicaSet whose template equals the
 * Deployment's, ignoring the hash, is the new one: `kubectl rollout undo` patches an
 * old template back and that ReplicaSet is revived with the next revision);
 * RollingUpdate (maxSurge/maxUnavailable resolved as ResolveFenceposts does: surge
 * percentages round up, unavailable ones down, both zero → one unavailable) or
 * Recreate (old pods gone before new ones start); proportional scaling of every
 * active ReplicaSet when spec.replicas changes mid-rollout or while paused;
 * revision annotations (revision, revision-history, desired-replicas, max-replicas,
 * the Deployment's other annotations copied to the new ReplicaSet); cleanup beyond
 * revisionHistoryLimit; status with observedGeneration and the Available and
 * Progressing conditions (NewReplicaSetCreated, FoundNewReplicaSet,
 * ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded,
 * DeploymentPaused, DeploymentResumed), requeued to notice a missed deadline.
 * Reads caches; writes through object control. Does not log.
 */
#include <limits.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controllers/internal.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/labels.h"
#include "k8c/names.h"

#define REVISION "deployment.kubernetes.io/revision"
#define REVISION_HISTORY "deployment.kubernetes.io/revision-history"
#define DESIRED "deployment.kubernetes.io/desired-replicas"
#define MAX_REPLICAS "deployment.kubernetes.io/max-replicas"
#define HASH_LABEL "pod-template-hash"
#define MAX_REV_HISTORY_CHARS 2000

struct k8c_deployment_controller {
        struct k8c_informer *deploy, *rs, *pods;
        struct k8c_object_control ctl;
        struct k8c_event_recorder *rec;
        struct k8c_workqueue *queue;
};

/* ---- hashing (ComputeHash + SafeEncodeString) ---- */

/* Drops what Go's semantic equality cannot tell from absent: nulls, empty objects and empty arrays
 * (kubectl writes `creationTimestamp: null`, `resources: {}` when it sends a template back). */
static void prune_empty(json_t *v)
{
        if (json_is_object(v)) {
                const char *k;
                json_t *x;
                void *tmp;
                json_object_foreach_safe(v, tmp, k, x)
                {
                        prune_empty(x);
                        if (json_is_null(x) || (json_is_object(x) && json_object_size(x) == 0) ||
                            (json_is_array(x) && json_array_size(x) == 0))
                                json_object_del(v, k);
                }
        } else if (json_is_array(v)) {
                size_t i;
                json_t *x;
                json_array_foreach(v, i, x) prune_empty(x);
        }
}

static json_t *canonical_template(const json_t *t)
{
        json_t *c = json_is_object(t) ? json_deep_copy(t) : json_object();
        prune_empty(c);
        return c;
}

char *k8c_pod_template_hash(const json_t *template, int64_t collision_count)
{
        /* FNV-1a over the template's canonical text: stable across runs and processes. */
        json_auto_t *canon = canonical_template(template);
        cleanup_free char *text = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
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

static void enqueue_owner(struct k8c_deployment_controller *c, const json_t *rs)
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
        enqueue_owner(o, rs);
}

static void on_rs_update(void *o, json_t *old, json_t *rs)
{
        enqueue_owner(o, rs);
}

static void on_rs_delete(void *o, json_t *rs)
{
        enqueue_owner(o, rs);
}

/* A pod gone can let a Recreate rollout go on: wake its ReplicaSet's Deployment. */
static void on_pod_delete(void *o, json_t *pod)
{
        struct k8c_deployment_controller *c = o;
        const json_t *ref = k8c_ctrl_controller_ref(pod);
        const char *kind = json_string_value(json_object_get(ref, "kind"));
        const char *name = json_string_value(json_object_get(ref, "name"));
        const char *ns = k8c_json_get_string(pod, "metadata.namespace");
        if (kind == NULL || strcmp(kind, "ReplicaSet") != 0 || name == NULL || ns == NULL)
                return;
        cleanup_free char *key = k8c_xasprintf("%s/%s", ns, name);
        json_auto_t *rs = k8c_informer_get(c->rs, key);
        if (rs != NULL)
                enqueue_owner(c, rs);
}

struct k8c_deployment_controller *k8c_deployment_controller_new(struct k8c_informer *deployments,
                                                                struct k8c_informer *replicasets,
                                                                struct k8c_informer *pods,
                                                                const struct k8c_object_control *ctl,
                                                                struct k8c_event_recorder *rec)
{
        struct k8c_deployment_controller *c = k8c_xcalloc(1, sizeof(*c));
        c->deploy = deployments;
        c->rs = replicasets;
        c->pods = pods;
        c->ctl = *ctl;
        c->rec = rec;
        c->queue = k8c_workqueue_new(NULL);
        k8c_informer_add_handlers(deployments,
                                  &(struct k8c_informer_handlers){ on_d_add, on_d_update, NULL, c });
        k8c_informer_add_handlers(
                replicasets, &(struct k8c_informer_handlers){ on_rs_add, on_rs_update, on_rs_delete, c });
        if (pods != NULL)
                k8c_informer_add_handlers(pods,
                                          &(struct k8c_informer_handlers){ NULL, NULL, on_pod_delete, c });
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

/* GetScaledValueFromIntOrPercent: "N%" of total rounded up or down; numbers as they are. */
int64_t k8c_scaled_int_or_percent(const json_t *v, int64_t total, bool round_up, int64_t def)
{
        if (v == NULL || json_is_null(v))
                return def;
        if (json_is_integer(v))
                return json_integer_value(v);
        const char *s = json_string_value(v);
        if (s == NULL)
                return def;
        size_t n = strlen(s);
        if (n > 1 && s[n - 1] == '%') {
                /* Integer arithmetic: Kubernetes' float Ceil/Floor of pct*total/100 on exact values. */
                int64_t pct = strtoll(s, NULL, 10);
                int64_t x = pct * total;
                return round_up ? (x + 99) / 100 : x / 100;
        }
        return def;
}

static bool is_rolling(const json_t *d)
{
        return strcmp(k8c_json_get_string(d, "spec.strategy.type") ?: "RollingUpdate", "Recreate") != 0;
}

/* ResolveFenceposts. Missing values take the apiserver's defaults (25%). */
static void fenceposts(const json_t *d, int64_t *ret_surge, int64_t *ret_unavail)
{
        int64_t replicas = spec_replicas(d);
        const json_t *ru = k8c_json_get(d, "spec.strategy.rollingUpdate");
        int64_t surge = k8c_scaled_int_or_percent(json_object_get(ru, "maxSurge"), replicas, true,
                                                  (replicas * 25 + 99) / 100);
        int64_t unavail = k8c_scaled_int_or_percent(json_object_get(ru, "maxUnavailable"), replicas, false,
                                                    replicas * 25 / 100);
        if (surge == 0 && unavail == 0)
                unavail = 1;
        *ret_surge = surge;
        *ret_unavail = unavail;
}

static int64_t max_surge(const json_t *d)
{
        if (!is_rolling(d))
                return 0;
        int64_t s, u;
        fenceposts(d, &s, &u);
        return s;
}

static int64_t max_unavailable(const json_t *d)
{
        int64_t replicas = spec_replicas(d);
        if (!is_rolling(d) || replicas == 0)
                return 0;
        int64_t s, u;
        fenceposts(d, &s, &u);
        return u > replicas ? replicas : u;
}

static bool has_progress_deadline(const json_t *d)
{
        const json_t *p = k8c_json_get(d, "spec.progressDeadlineSeconds");
        return json_is_integer(p) && json_integer_value(p) != INT32_MAX;
}

static char *rs_path(const char *ns, const char *name)
{
        return k8c_ctrl_path("apps/v1", "replicasets", ns, name);
}

/* EqualIgnoreHash: the templates are equal once the pod-template-hash label is dropped. */
static bool equal_ignore_hash(const json_t *a, const json_t *b)
{
        json_auto_t *x = json_is_object(a) ? json_deep_copy(a) : json_object();
        json_auto_t *y = json_is_object(b) ? json_deep_copy(b) : json_object();
        json_t *objs[2] = { x, y };
        for (int i = 0; i < 2; i++) {
                json_t *labels = k8c_json_get(objs[i], "metadata.labels");
                if (json_is_object(labels))
                        json_object_del(labels, HASH_LABEL);
                prune_empty(objs[i]);
        }
        return json_equal(x, y);
}

static bool skip_copy_annotation(const char *k)
{
        static const char *const skip[] = { "kubectl.kubernetes.io/last-applied-configuration",
                                            REVISION,
                                            REVISION_HISTORY,
                                            DESIRED,
                                            MAX_REPLICAS,
                                            "deprecated.deployment.rollback.to",
                                            NULL };
        for (size_t i = 0; skip[i] != NULL; i++)
                if (strcmp(k, skip[i]) == 0)
                        return true;
        return false;
}

/* ---- the ReplicaSets of one sync ---- */

struct rsv {
        json_t *obj; /* borrowed from the owned list */
        const char *name;
        const char *uid;
        const char *created;
        int64_t spec;  /* as we have scaled it during this sync */
        int64_t spec0; /* as cached when the sync began */
        int64_t avail;
        int64_t rev;
        bool is_new;
};

struct dsync {
        struct k8c_deployment_controller *c;
        const json_t *d;
        const char *ns, *name, *key;
        int64_t replicas;
        struct rsv *v; /* every owned ReplicaSet */
        size_t n;
        struct rsv *new_rs; /* NULL when none yet */
        json_t *status;     /* working copy of d.status: conditions set during the sync */
        time_t now;
};

static int cmp_created(const void *pa, const void *pb)
{
        const struct rsv *a = *(struct rsv *const *)pa, *b = *(struct rsv *const *)pb;
        int r = strcmp(a->created ?: "", b->created ?: "");
        return r != 0 ? r : strcmp(a->name ?: "", b->name ?: "");
}

static int cmp_revision(const void *pa, const void *pb)
{
        const struct rsv *a = *(struct rsv *const *)pa, *b = *(struct rsv *const *)pb;
        if (a->rev != b->rev)
                return a->rev < b->rev ? -1 : 1;
        return cmp_created(pa, pb);
}

/* Old ReplicaSets (every one but the new), sorted with cmp; caller frees the array. */
static struct rsv **old_sets(struct dsync *s, int (*cmp)(const void *, const void *), size_t *ret_n)
{
        struct rsv **o = k8c_xcalloc(s->n + 1, sizeof(*o));
        size_t k = 0;
        for (size_t i = 0; i < s->n; i++)
                if (!s->v[i].is_new)
                        o[k++] = &s->v[i];
        if (cmp != NULL)
                qsort(o, k, sizeof(*o), cmp);
        *ret_n = k;
        return o;
}

static int64_t max_old_revision(struct dsync *s)
{
        int64_t m = 0;
        for (size_t i = 0; i < s->n; i++)
                if (!s->v[i].is_new && s->v[i].rev > m)
                        m = s->v[i].rev;
        return m;
}

/* ---- conditions ---- */

static json_t *get_condition(json_t *status, const char *type)
{
        size_t i;
        json_t *cnd;
        json_array_foreach(json_object_get(status, "conditions"), i, cnd)
        {
                const char *t = json_string_value(json_object_get(cnd, "type"));
                if (t != NULL && strcmp(t, type) == 0)
                        return cnd;
        }
        return NULL;
}

static void remove_condition(json_t *status, const char *type)
{
        json_t *conds = json_object_get(status, "conditions");
        for (size_t i = 0; i < json_array_size(conds);) {
                const char *t = json_string_value(json_object_get(json_array_get(conds, i), "type"));
                if (t != NULL && strcmp(t, type) == 0)
                        json_array_remove(conds, i);
                else
                        i++;
        }
        if (conds != NULL && json_array_size(conds) == 0)
                json_object_del(status, "conditions");
}

static json_t *new_condition(const char *type, const char *st, const char *reason, const char *msg,
                             time_t now)
{
        char ts[32];
        k8c_rfc3339(now, ts, sizeof(ts));
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", st, "lastUpdateTime", ts,
                         "lastTransitionTime", ts, "reason", reason, "message", msg);
}

/* SetDeploymentCondition: same status and reason = no change; same status keeps lastTransitionTime;
 * the condition moves to the end. Steals cond. */
static void set_condition(json_t *status, json_t *cond)
{
        const char *type = json_string_value(json_object_get(cond, "type"));
        json_t *cur = get_condition(status, type);
        const char *cst = json_string_value(json_object_get(cur, "status"));
        const char *nst = json_string_value(json_object_get(cond, "status"));
        if (cur != NULL && cst != NULL && strcmp(cst, nst) == 0) {
                const char *cr = json_string_value(json_object_get(cur, "reason")) ?: "";
                if (strcmp(cr, json_string_value(json_object_get(cond, "reason"))) == 0) {
                        json_decref(cond);
                        return;
                }
                json_object_set(cond, "lastTransitionTime", json_object_get(cur, "lastTransitionTime"));
        }
        remove_condition(status, type);
        json_t *conds = json_object_get(status, "conditions");
        if (!json_is_array(conds)) {
                conds = json_array();
                json_object_set_new(status, "conditions", conds);
        }
        json_array_append_new(conds, cond);
}

static const char *condition_reason(json_t *status, const char *type)
{
        return json_string_value(json_object_get(get_condition(status, type), "reason"));
}

/* ---- writes ---- */

static void record(struct dsync *s, const char *type, const char *reason, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void record(struct dsync *s, const char *type, const char *reason, const char *fmt, ...)
{
        if (s->c->rec == NULL)
                return;
        va_list ap;
        va_start(ap, fmt);
        cleanup_free char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        va_end(ap);
        cleanup_error k8c_error_t err = NULL;
        k8c_event_record(s->c->rec, s->d, type, reason, &err, "%s", msg);
}

/* scaleReplicaSet: size and the desired/max-replicas annotations in one merge patch. Returns 1 when the
 * size changed, 0 when nothing did, negative on error. */
static int scale_rs_annotated(struct dsync *s, struct rsv *r, int64_t replicas, k8c_error_t *err)
{
        int64_t surge = max_surge(s->d);
        char want[32], maxr[32];
        snprintf(want, sizeof(want), "%lld", (long long)s->replicas);
        snprintf(maxr, sizeof(maxr), "%lld", (long long)(s->replicas + surge));
        const char *hw = k8c_json_get_string(r->obj, "metadata.annotations[\"" DESIRED "\"]");
        const char *hm = k8c_json_get_string(r->obj, "metadata.annotations[\"" MAX_REPLICAS "\"]");
        bool size = r->spec != replicas;
        bool ann = hw == NULL || strcmp(hw, want) != 0 || hm == NULL || strcmp(hm, maxr) != 0;
        if (!size && !ann)
                return 0;
        json_auto_t *patch = json_pack("{s:{s:{s:s, s:s}}, s:{s:I}}", "metadata", "annotations", DESIRED,
                                       want, MAX_REPLICAS, maxr, "spec", "replicas", (json_int_t)replicas);
        cleanup_free char *path = rs_path(s->ns, r->name);
        int rc = s->c->ctl.patch(s->c->ctl.opaque, path, "application/merge-patch+json", patch, err);
        if (rc < 0)
                return rc;
        if (size)
                record(s, "Normal", "ScalingReplicaSet", "Scaled %s replica set %s from %lld to %lld",
                       replicas > r->spec ? "up" : "down", r->name, (long long)r->spec, (long long)replicas);
        r->spec = replicas;
        return size ? 1 : 0;
}

/* scaleReplicaSetAndRecordEvent: nothing at all when the size is right. */
static int scale_rs(struct dsync *s, struct rsv *r, int64_t replicas, k8c_error_t *err)
{
        if (r->spec == replicas)
                return 0;
        return scale_rs_annotated(s, r, replicas, err);
}

static int set_deployment_revision(struct dsync *s, int64_t revision, k8c_error_t *err)
{
        char rev[32];
        snprintf(rev, sizeof(rev), "%lld", (long long)revision);
        const char *have = k8c_json_get_string(s->d, "metadata.annotations[\"" REVISION "\"]");
        if (have != NULL && strcmp(have, rev) == 0)
                return 0;
        json_auto_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", REVISION, rev);
        cleanup_free char *path = k8c_ctrl_path("apps/v1", "deployments", s->ns, s->name);
        return s->c->ctl.patch(s->c->ctl.opaque, path, "application/merge-patch+json", patch, err);
}

/* The annotations the new ReplicaSet should carry beyond what it has (SetNewReplicaSetAnnotations):
 * the Deployment's own (but the skipped ones), the revision when it is behind new_revision, and on a
 * revival the revision it had appended to revision-history. Returns a (possibly empty) object. */
static json_t *new_rs_annotations(const json_t *d, const json_t *rs, int64_t new_revision)
{
        json_t *out = json_object();
        const json_t *have = k8c_json_get(rs, "metadata.annotations");
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)k8c_json_get(d, "metadata.annotations"), k, v)
        {
                if (skip_copy_annotation(k) || !json_is_string(v))
                        continue;
                json_t *h = json_object_get(have, k);
                if (h == NULL || !json_equal(h, v))
                        json_object_set(out, k, v);
        }
        const char *old = json_string_value(json_object_get(have, REVISION));
        char *end = NULL;
        int64_t old_rev = old != NULL ? strtoll(old, &end, 10) : 0;
        if (old != NULL && (end == old || *end != '\0'))
                return out; /* not a number: left alone, as Kubernetes does */
        if (old_rev < new_revision) {
                json_object_set_new(out, REVISION, json_sprintf("%lld", (long long)new_revision));
                if (old != NULL) {
                        const char *hist = json_string_value(json_object_get(have, REVISION_HISTORY)) ?: "";
                        if (hist[0] == '\0') {
                                json_object_set_new(out, REVISION_HISTORY, json_string(old));
                        } else {
                                /* Drop the oldest entries to stay within the length limit. */
                                const char *p = hist;
                                while (strlen(p) + strlen(old) + 1 > MAX_REV_HISTORY_CHARS && p != NULL) {
                                        p = strchr(p, ',');
                                        if (p != NULL)
                                                p++;
                                }
                                if (p != NULL && p[0] != '\0')
                                        json_object_set_new(out, REVISION_HISTORY,
                                                            json_sprintf("%s,%s", p, old));
                                else
                                        json_object_set_new(out, REVISION_HISTORY, json_string(old));
                        }
                }
        }
        return out;
}

/* getNewReplicaSet for an existing one: bring its annotations and minReadySeconds up to date and
 * record the revision on the Deployment. */
static int sync_existing_new_rs(struct dsync *s, k8c_error_t *err)
{
        struct rsv *r = s->new_rs;
        int64_t new_revision = max_old_revision(s) + 1;
        json_auto_t *ann = new_rs_annotations(s->d, r->obj, new_revision);
        json_int_t mrs = k8c_json_get_int(s->d, "spec.minReadySeconds", 0);
        bool mrs_differs = k8c_json_get_int(r->obj, "spec.minReadySeconds", 0) != mrs;
        if (json_object_size(ann) > 0 || mrs_differs) {
                json_auto_t *patch = json_pack("{s:{s:O}, s:{s:I}}", "metadata", "annotations", ann, "spec",
                                               "minReadySeconds", mrs);
                cleanup_free char *path = rs_path(s->ns, r->name);
                int rc = s->c->ctl.patch(s->c->ctl.opaque, path, "application/merge-patch+json", patch, err);
                if (rc < 0)
                        return rc;
                const char *nr = json_string_value(json_object_get(ann, REVISION));
                if (nr != NULL)
                        r->rev = strtoll(nr, NULL, 10);
        }
        int rc = set_deployment_revision(s, r->rev, err);
        if (rc < 0)
                return rc;
        if (has_progress_deadline(s->d) && get_condition(s->status, "Progressing") == NULL) {
                cleanup_free char *msg = k8c_xasprintf("Found new replica set \"%s\"", r->name);
                set_condition(s->status,
                              new_condition("Progressing", "True", "FoundNewReplicaSet", msg, s->now));
        }
        return 0;
}

/* NewRSNewReplicas: how big the new ReplicaSet may be now. */
static int64_t new_rs_new_replicas(struct dsync *s, int64_t new_spec)
{
        if (!is_rolling(s->d))
                return s->replicas;
        int64_t total = 0;
        for (size_t i = 0; i < s->n; i++)
                total += s->v[i].spec;
        if (s->new_rs == NULL)
                total += new_spec;
        int64_t max_total = s->replicas + max_surge(s->d);
        if (total >= max_total)
                return new_spec;
        int64_t up = max_total - total;
        if (up > s->replicas - new_spec)
                up = s->replicas - new_spec;
        return new_spec + up;
}

/* getNewReplicaSet with createIfNotExisted: the new ReplicaSet from the template. Returns 1 when it was
 * created (the watch brings it; this sync stops there), 0 when it exists already, negative on error. */
static int create_new_rs(struct dsync *s, k8c_error_t *err)
{
        int64_t collisions = k8c_json_get_int(s->d, "status.collisionCount", 0);
        cleanup_free char *hash = k8c_pod_template_hash(k8c_json_get(s->d, "spec.template"), collisions);
        cleanup_free char *rs_name = k8c_xasprintf("%s-%s", s->name, hash);
        json_t *sel = json_deep_copy(k8c_json_get(s->d, "spec.selector"));
        if (!json_is_object(sel)) {
                json_decref(sel);
                sel = json_object();
        }
        json_object_set_new(k8c_json_object_ensure(sel, "matchLabels"), HASH_LABEL, json_string(hash));
        json_t *tmpl = json_deep_copy(k8c_json_get(s->d, "spec.template"));
        if (!json_is_object(tmpl)) {
                json_decref(tmpl);
                tmpl = json_object();
        }
        json_object_set_new(k8c_json_object_ensure(k8c_json_object_ensure(tmpl, "metadata"), "labels"),
                            HASH_LABEL, json_string(hash));
        json_t *labels = json_deep_copy(k8c_json_get(tmpl, "metadata.labels"));
        int64_t revision = max_old_revision(s) + 1;
        int64_t replicas = new_rs_new_replicas(s, 0);
        json_t *ann = new_rs_annotations(s->d, NULL, revision);
        json_object_set_new(ann, DESIRED, json_sprintf("%lld", (long long)s->replicas));
        json_object_set_new(ann, MAX_REPLICAS,
                            json_sprintf("%lld", (long long)(s->replicas + max_surge(s->d))));
        json_t *ref =
                json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", "apps/v1", "kind", "Deployment",
                          "name", s->name, "uid", k8c_json_get_string(s->d, "metadata.uid"), "controller", 1,
                          "blockOwnerDeletion", 1);
        json_auto_t *rs = json_pack(
                "{s:s, s:s, s:{s:s, s:s, s:o, s:o, s:[o]}, s:{s:I, s:I, s:o, s:o}}", "apiVersion", "apps/v1",
                "kind", "ReplicaSet", "metadata", "name", rs_name, "namespace", s->ns, "labels", labels,
                "annotations", ann, "ownerReferences", ref, "spec", "replicas", (json_int_t)replicas,
                "minReadySeconds", (json_int_t)k8c_json_get_int(s->d, "spec.minReadySeconds", 0), "selector",
                sel, "template", tmpl);
        cleanup_free char *path = rs_path(s->ns, NULL);
        int r = s->c->ctl.create(s->c->ctl.opaque, path, rs, err);
        if (r < 0 && k8c_error_reason(err) == K8C_EALREADYEXISTS) {
                k8c_error_release(err);
                /* Ours and not yet in the cache, or a hash collision with another template. */
                json_auto_t *live = NULL;
                cleanup_free char *p = rs_path(s->ns, rs_name);
                if (s->c->ctl.get(s->c->ctl.opaque, p, &live, err) < 0)
                        return -1;
                const json_t *lref = k8c_ctrl_controller_ref(live);
                const char *luid = json_string_value(json_object_get(lref, "uid"));
                if (luid != NULL && strcmp(luid, k8c_json_get_string(s->d, "metadata.uid")) == 0 &&
                    equal_ignore_hash(k8c_json_get(live, "spec.template"),
                                      k8c_json_get(s->d, "spec.template")))
                        return 1;
                json_object_set_new(s->status, "collisionCount", json_integer(collisions + 1));
                return k8c_make_error(err, K8C_ECONFLICT,
                                      "hash collision for deployment %s: replica set %s exists with another "
                                      "template; collisionCount now %lld",
                                      s->name, rs_name, (long long)(collisions + 1));
        }
        if (r < 0) {
                if (has_progress_deadline(s->d)) {
                        cleanup_free char *msg = k8c_xasprintf("Failed to create new replica set \"%s\": %s",
                                                               rs_name, k8c_error_msg(err));
                        set_condition(s->status, new_condition("Progressing", "False",
                                                               "ReplicaSetCreateError", msg, s->now));
                }
                record(s, "Warning", "ReplicaSetCreateError", "Failed to create new replica set \"%s\": %s",
                       rs_name, k8c_error_msg(err));
                return r;
        }
        if (replicas > 0)
                record(s, "Normal", "ScalingReplicaSet", "Scaled up replica set %s from 0 to %lld", rs_name,
                       (long long)replicas);
        if ((r = set_deployment_revision(s, revision, err)) < 0)
                return r;
        if (has_progress_deadline(s->d)) {
                cleanup_free char *msg = k8c_xasprintf("Created new replica set \"%s\"", rs_name);
                set_condition(s->status,
                              new_condition("Progressing", "True", "NewReplicaSetCreated", msg, s->now));
        }
        return 1;
}

/* ---- scaling ---- */

static bool is_saturated(struct dsync *s)
{
        struct rsv *r = s->new_rs;
        if (r == NULL)
                return false;
        const char *want = k8c_json_get_string(r->obj, "metadata.annotations[\"" DESIRED "\"]");
        return r->spec == s->replicas && want != NULL && strtoll(want, NULL, 10) == s->replicas &&
               k8c_json_get_int(r->obj, "status.availableReplicas", 0) == s->replicas;
}

/* isScalingEvent: an active ReplicaSet was sized for another spec.replicas. */
static bool is_scaling_event(struct dsync *s)
{
        for (size_t i = 0; i < s->n; i++) {
                if (s->v[i].spec == 0)
                        continue;
                const char *want = k8c_json_get_string(s->v[i].obj, "metadata.annotations[\"" DESIRED "\"]");
                if (want != NULL && strtoll(want, NULL, 10) != s->replicas)
                        return true;
        }
        return false;
}

static int cmp_size_newer(const void *pa, const void *pb)
{
        const struct rsv *a = *(struct rsv *const *)pa, *b = *(struct rsv *const *)pb;
        if (a->spec != b->spec)
                return a->spec > b->spec ? -1 : 1;
        return -cmp_created(pa, pb);
}

static int cmp_size_older(const void *pa, const void *pb)
{
        const struct rsv *a = *(struct rsv *const *)pa, *b = *(struct rsv *const *)pb;
        if (a->spec != b->spec)
                return a->spec > b->spec ? -1 : 1;
        return cmp_created(pa, pb);
}

/* getReplicaSetFraction / GetProportion */
static int64_t proportion(struct dsync *s, struct rsv *r, int64_t to_add, int64_t added)
{
        if (r->spec == 0 || to_add == 0 || to_add == added)
                return 0;
        int64_t fraction;
        if (s->replicas == 0) {
                fraction = -r->spec;
        } else {
                int64_t max_now = s->replicas + max_surge(s->d);
                const char *mb = k8c_json_get_string(r->obj, "metadata.annotations[\"" MAX_REPLICAS "\"]");
                int64_t before = mb != NULL ? strtoll(mb, NULL, 10) : 0;
                if (before == 0)
                        before = k8c_json_get_int(s->d, "status.replicas", 0);
                if (before == 0)
                        before = max_now;
                fraction = (int64_t)llround((double)(r->spec * max_now) / (double)before) - r->spec;
        }
        int64_t allowed = to_add - added;
        if (to_add > 0)
                return fraction < allowed ? fraction : allowed;
        return fraction > allowed ? fraction : allowed;
}

/* scale(): the whole of spec.replicas on the one active (or newest) ReplicaSet, or spread
 * proportionally over every active one during a rolling update. */
static int scale_all(struct dsync *s, k8c_error_t *err)
{
        struct rsv **act = k8c_xcalloc(s->n + 1, sizeof(*act));
        size_t na = 0;
        for (size_t i = 0; i < s->n; i++)
                if (s->v[i].spec > 0)
                        act[na++] = &s->v[i];
        int r = 0;
        struct rsv *target = NULL;
        if (na == 1) {
                target = act[0];
        } else if (na == 0 && s->new_rs != NULL) {
                target = s->new_rs;
        } else if (na == 0 && s->n > 0) {
                size_t no;
                struct rsv **o = old_sets(s, cmp_created, &no);
                target = no > 0 ? o[no - 1] : NULL;
                free(o);
        }
        if (target != NULL || na == 0) {
                if (target != NULL && target->spec != s->replicas)
                        r = scale_rs_annotated(s, target, s->replicas, err);
                free(act);
                return r < 0 ? r : 0;
        }
        if (is_saturated(s)) {
                for (size_t i = 0; i < na && r >= 0; i++)
                        if (!act[i]->is_new)
                                r = scale_rs_annotated(s, act[i], 0, err);
                free(act);
                return r < 0 ? r : 0;
        }
        if (is_rolling(s->d)) {
                int64_t total = 0;
                for (size_t i = 0; i < na; i++)
                        total += act[i]->spec;
                int64_t allowed = s->replicas > 0 ? s->replicas + max_surge(s->d) : 0;
                int64_t to_add = allowed - total;
                qsort(act, na, sizeof(*act), to_add > 0 ? cmp_size_newer : cmp_size_older);
                int64_t *size = k8c_xcalloc(na + 1, sizeof(*size));
                int64_t added = 0;
                for (size_t i = 0; i < na; i++) {
                        int64_t p = to_add != 0 ? proportion(s, act[i], to_add, added) : 0;
                        size[i] = act[i]->spec + p;
                        added += p;
                }
                if (na > 0 && to_add != 0) {
                        size[0] += to_add - added;
                        if (size[0] < 0)
                                size[0] = 0;
                }
                for (size_t i = 0; i < na && r >= 0; i++)
                        r = scale_rs_annotated(s, act[i], size[i], err);
                free(size);
        }
        free(act);
        return r < 0 ? r : 0;
}

/* ---- rolling update ---- */

static int reconcile_new(struct dsync *s, k8c_error_t *err)
{
        struct rsv *n = s->new_rs;
        if (n->spec == s->replicas)
                return 0;
        if (n->spec > s->replicas)
                return scale_rs(s, n, s->replicas, err);
        return scale_rs(s, n, new_rs_new_replicas(s, n->spec), err);
}

/* reconcileOldReplicaSets: unhealthy old pods first (cleanupUnhealthyReplicas), then available ones
 * down to replicas - maxUnavailable (scaleDownOldReplicaSetsForRollingUpdate), oldest first. */
static int reconcile_old(struct dsync *s, k8c_error_t *err)
{
        size_t no;
        struct rsv **o = old_sets(s, cmp_created, &no);
        int64_t old_count = 0, all_count = 0;
        for (size_t i = 0; i < no; i++)
                old_count += o[i]->spec;
        for (size_t i = 0; i < s->n; i++)
                all_count += s->v[i].spec;
        int r = 0;
        int64_t scaled = 0;
        if (old_count == 0)
                goto out;
        /* Unlike Kubernetes, wait while a ReplicaSet's status predates its spec: availability counted
         * from a status that still includes pods being removed would take more down than
         * maxUnavailable allows. The status update requeues the Deployment. */
        for (size_t i = 0; i < s->n; i++)
                if (k8c_json_get_int(s->v[i].obj, "metadata.generation", 0) >
                    k8c_json_get_int(s->v[i].obj, "status.observedGeneration", 0))
                        goto out;
        int64_t min_avail = s->replicas - max_unavailable(s->d);
        int64_t new_unavail = s->new_rs->spec - s->new_rs->avail;
        int64_t max_down = all_count - min_avail - new_unavail;
        if (max_down <= 0)
                goto out;
        for (size_t i = 0; i < no && scaled < max_down; i++) {
                if (o[i]->spec == 0 || o[i]->spec == o[i]->avail)
                        continue;
                int64_t down = o[i]->spec - o[i]->avail;
                if (down > max_down - scaled)
                        down = max_down - scaled;
                if ((r = scale_rs(s, o[i], o[i]->spec - down, err)) < 0)
                        goto out;
                scaled += down;
        }
        int64_t avail = 0;
        for (size_t i = 0; i < s->n; i++)
                avail += s->v[i].avail;
        if (avail > min_avail) {
                int64_t want = avail - min_avail, done = 0;
                for (size_t i = 0; i < no && done < want; i++) {
                        if (o[i]->spec == 0)
                                continue;
                        int64_t down = o[i]->spec < want - done ? o[i]->spec : want - done;
                        if ((r = scale_rs(s, o[i], o[i]->spec - down, err)) < 0)
                                goto out;
                        done += down;
                }
                scaled += done;
        }
out:
        free(o);
        return r < 0 ? r : (scaled > 0 ? 1 : 0);
}

/* ---- Recreate ---- */

static bool old_pods_running(struct dsync *s)
{
        for (size_t i = 0; i < s->n; i++) {
                if (s->v[i].is_new)
                        continue;
                if (k8c_json_get_int(s->v[i].obj, "status.replicas", 0) > 0)
                        return true;
                if (s->c->pods == NULL || s->v[i].uid == NULL)
                        continue;
                json_auto_t *pods = k8c_informer_by_index(s->c->pods, "owner", s->v[i].uid);
                size_t k;
                json_t *p;
                json_array_foreach(pods, k, p)
                {
                        const char *ph = k8c_json_get_string(p, "status.phase") ?: "";
                        if (strcmp(ph, "Failed") != 0 && strcmp(ph, "Succeeded") != 0)
                                return true;
                }
        }
        return false;
}

/* ---- history ---- */

/* cleanupDeployment: the oldest old ReplicaSets beyond revisionHistoryLimit, if idle. */
static int cleanup_history(struct dsync *s, k8c_error_t *err)
{
        const json_t *lim = k8c_json_get(s->d, "spec.revisionHistoryLimit");
        if (!json_is_integer(lim))
                return 0;
        size_t no;
        struct rsv **o = old_sets(s, cmp_revision, &no);
        size_t alive = 0;
        for (size_t i = 0; i < no; i++)
                if (k8c_json_get(o[i]->obj, "metadata.deletionTimestamp") == NULL)
                        o[alive++] = o[i];
        int64_t diff = (int64_t)alive - json_integer_value(lim);
        int r = 0;
        for (int64_t i = 0; i < diff && r >= 0; i++) {
                const json_t *x = o[i]->obj;
                if (k8c_json_get_int(x, "status.replicas", 0) != 0 || o[i]->spec != 0 ||
                    k8c_json_get_int(x, "metadata.generation", 0) >
                            k8c_json_get_int(x, "status.observedGeneration", 0))
                        continue;
                cleanup_free char *p = rs_path(s->ns, o[i]->name);
                json_auto_t *opts = json_pack("{s:s, s:s, s:s}", "kind", "DeleteOptions", "apiVersion", "v1",
                                              "propagationPolicy", "Background");
                r = s->c->ctl.delete(s->c->ctl.opaque, p, opts, err);
                if (r < 0 && k8c_error_reason(err) == K8C_ENOTFOUND) {
                        k8c_error_release(err);
                        r = 0;
                }
        }
        free(o);
        return r;
}

/* ---- status ---- */

/* calculateStatus from the ReplicaSets as cached, conditions from the working status. */
static json_t *calculate_status(struct dsync *s)
{
        json_int_t repl = 0, ready = 0, avail = 0, upd = 0, total = 0;
        for (size_t i = 0; i < s->n; i++) {
                repl += k8c_json_get_int(s->v[i].obj, "status.replicas", 0);
                ready += k8c_json_get_int(s->v[i].obj, "status.readyReplicas", 0);
                avail += s->v[i].avail;
                total += s->v[i].spec0;
        }
        if (s->new_rs != NULL)
                upd = k8c_json_get_int(s->new_rs->obj, "status.replicas", 0);
        json_int_t unav = total - avail;
        json_t *st = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "observedGeneration",
                               k8c_json_get_int(s->d, "metadata.generation", 0), "replicas", repl,
                               "updatedReplicas", upd, "readyReplicas", ready, "availableReplicas", avail,
                               "unavailableReplicas", unav > 0 ? unav : 0);
        json_t *cc = json_object_get(s->status, "collisionCount");
        if (cc != NULL)
                json_object_set(st, "collisionCount", cc);
        json_t *conds = json_object_get(s->status, "conditions");
        if (json_array_size(conds) > 0)
                json_object_set_new(st, "conditions", json_deep_copy(conds));
        if (avail >= s->replicas - max_unavailable(s->d))
                set_condition(st, new_condition("Available", "True", "MinimumReplicasAvailable",
                                                "Deployment has minimum availability.", s->now));
        else
                set_condition(st, new_condition("Available", "False", "MinimumReplicasUnavailable",
                                                "Deployment does not have minimum availability.", s->now));
        return st;
}

static bool deployment_complete(struct dsync *s, const json_t *st)
{
        return k8c_json_get_int(st, "updatedReplicas", 0) == s->replicas &&
               k8c_json_get_int(st, "replicas", 0) == s->replicas &&
               k8c_json_get_int(st, "availableReplicas", 0) == s->replicas &&
               k8c_json_get_int(st, "observedGeneration", 0) >=
                       k8c_json_get_int(s->d, "metadata.generation", 0);
}

static bool deployment_progressing(const json_t *old, const json_t *st)
{
        json_int_t ou = k8c_json_get_int(old, "updatedReplicas", 0),
                   nu = k8c_json_get_int(st, "updatedReplicas", 0);
        json_int_t oold = k8c_json_get_int(old, "replicas", 0) - ou;
        json_int_t nold = k8c_json_get_int(st, "replicas", 0) - nu;
        return nu > ou || nold < oold ||
               k8c_json_get_int(st, "readyReplicas", 0) > k8c_json_get_int(old, "readyReplicas", 0) ||
               k8c_json_get_int(st, "availableReplicas", 0) > k8c_json_get_int(old, "availableReplicas", 0);
}

static time_t condition_time(const json_t *cond, const char *field)
{
        time_t t = 0;
        const char *s = json_string_value(json_object_get(cond, field));
        if (s == NULL || k8c_rfc3339_parse(s, &t) < 0)
                return 0;
        return t;
}

static bool deployment_timed_out(struct dsync *s, json_t *st)
{
        if (!has_progress_deadline(s->d))
                return false;
        json_t *cond = get_condition(st, "Progressing");
        if (cond == NULL)
                return false;
        const char *reason = json_string_value(json_object_get(cond, "reason")) ?: "";
        if (strcmp(reason, "NewReplicaSetAvailable") == 0)
                return false;
        if (strcmp(reason, "ProgressDeadlineExceeded") == 0)
                return true;
        int64_t deadline = k8c_json_get_int(s->d, "spec.progressDeadlineSeconds", 600);
        return condition_time(cond, "lastUpdateTime") + deadline < s->now;
}

/* syncRolloutStatus's progress estimate: sets Progressing on st. */
static void estimate_progress(struct dsync *s, json_t *st)
{
        const json_t *old = json_object_get(s->d, "status");
        json_t *cur = get_condition(s->status, "Progressing");
        const char *cur_reason = json_string_value(json_object_get(cur, "reason")) ?: "";
        bool complete_before =
                k8c_json_get_int(st, "replicas", 0) == k8c_json_get_int(st, "updatedReplicas", 0) &&
                strcmp(cur_reason, "NewReplicaSetAvailable") == 0;
        if (!has_progress_deadline(s->d) || complete_before)
                return;
        const char *rsname = s->new_rs != NULL ? s->new_rs->name : NULL;
        if (deployment_complete(s, st)) {
                cleanup_free char *msg =
                        rsname != NULL
                                ? k8c_xasprintf("ReplicaSet \"%s\" has successfully progressed.", rsname)
                                : k8c_xasprintf("Deployment \"%s\" has successfully progressed.", s->name);
                set_condition(st,
                              new_condition("Progressing", "True", "NewReplicaSetAvailable", msg, s->now));
        } else if (deployment_progressing(old, st)) {
                cleanup_free char *msg =
                        rsname != NULL ? k8c_xasprintf("ReplicaSet \"%s\" is progressing.", rsname)
                                       : k8c_xasprintf("Deployment \"%s\" is progressing.", s->name);
                json_t *cond = new_condition("Progressing", "True", "ReplicaSetUpdated", msg, s->now);
                /* Progress refreshes lastUpdateTime even with the same reason. */
                json_t *have = get_condition(st, "Progressing");
                if (have != NULL) {
                        const char *hs = json_string_value(json_object_get(have, "status")) ?: "";
                        if (strcmp(hs, "True") == 0)
                                json_object_set(cond, "lastTransitionTime",
                                                json_object_get(have, "lastTransitionTime"));
                        remove_condition(st, "Progressing");
                }
                set_condition(st, cond);
        } else if (deployment_timed_out(s, st)) {
                cleanup_free char *msg =
                        rsname != NULL
                                ? k8c_xasprintf("ReplicaSet \"%s\" has timed out progressing.", rsname)
                                : k8c_xasprintf("Deployment \"%s\" has timed out progressing.", s->name);
                set_condition(st,
                              new_condition("Progressing", "False", "ProgressDeadlineExceeded", msg, s->now));
        }
}

/* requeueStuckDeployment: look again once the deadline may have passed without progress. */
static void requeue_stuck(struct dsync *s, json_t *st)
{
        json_t *cur = get_condition(st, "Progressing");
        if (!has_progress_deadline(s->d) || cur == NULL || deployment_complete(s, st))
                return;
        const char *reason = json_string_value(json_object_get(cur, "reason")) ?: "";
        if (strcmp(reason, "ProgressDeadlineExceeded") == 0)
                return;
        int64_t deadline = k8c_json_get_int(s->d, "spec.progressDeadlineSeconds", 600);
        int64_t after = (int64_t)(condition_time(cur, "lastUpdateTime") + deadline - s->now);
        k8c_workqueue_add_after(s->c->queue, s->key, after < 1 ? 1000 : (after + 1) * 1000);
}

/* Writes status when it changed (the whole object to /status, unconditionally: it is derived). */
static int write_status(struct dsync *s, json_t *st, k8c_error_t *err)
{
        const json_t *old = json_object_get(s->d, "status");
        if (json_is_object(old) && json_equal(st, old))
                return 0;
        json_auto_t *obj = json_deep_copy(s->d);
        json_object_set(obj, "status", st);
        json_object_del(json_object_get(obj, "metadata"), "resourceVersion");
        cleanup_free char *dpath = k8c_ctrl_path("apps/v1", "deployments", s->ns, s->name);
        cleanup_free char *spath = k8c_xasprintf("%s/status", dpath);
        int r = s->c->ctl.update(s->c->ctl.opaque, spath, obj, err);
        if (r < 0 && k8c_error_reason(err) == K8C_ENOTFOUND) {
                k8c_error_release(err);
                return 0;
        }
        return r;
}

/* syncDeploymentStatus (no progress estimate) or syncRolloutStatus. */
static int finish(struct dsync *s, bool rollout, k8c_error_t *err)
{
        json_auto_t *st = calculate_status(s);
        if (rollout) {
                if (!has_progress_deadline(s->d))
                        remove_condition(st, "Progressing");
                estimate_progress(s, st);
                requeue_stuck(s, st);
        }
        return write_status(s, st, err);
}

/* checkPausedConditions */
static void paused_conditions(struct dsync *s)
{
        if (!has_progress_deadline(s->d))
                return;
        const char *reason = condition_reason(s->status, "Progressing") ?: "";
        if (strcmp(reason, "ProgressDeadlineExceeded") == 0)
                return;
        bool paused = k8c_json_get_bool(s->d, "spec.paused", false);
        bool paused_cond = strcmp(reason, "DeploymentPaused") == 0;
        if (paused && !paused_cond)
                set_condition(s->status, new_condition("Progressing", "Unknown", "DeploymentPaused",
                                                       "Deployment is paused", s->now));
        else if (!paused && paused_cond)
                set_condition(s->status, new_condition("Progressing", "Unknown", "DeploymentResumed",
                                                       "Deployment is resumed", s->now));
}

/* ---- claimReplicaSets ---- */

/* The ReplicaSets of the Deployment (new reference): the ones it controls whose labels still match its
 * selector, plus orphans that match, adopted now (a merge patch guarded by their resourceVersion, so a
 * concurrent adopter makes it a conflict); controlled ones that stopped matching are released. */
static int claim_replica_sets(struct k8c_deployment_controller *c, const json_t *d, json_t **ret,
                              k8c_error_t *err)
{
        const char *ns = k8c_json_get_string(d, "metadata.namespace");
        const char *uid = k8c_json_get_string(d, "metadata.uid");
        json_auto_t *nsrs = k8c_informer_by_index(c->rs, "namespace", ns);
        json_t *out = json_array();
        struct k8c_selector sel = { 0 };
        cleanup_error k8c_error_t serr = NULL;
        const json_t *sj = k8c_json_get(d, "spec.selector");
        /* An empty or invalid selector would select everything: no adoption then, as Kubernetes. */
        bool can_select = json_is_object(sj) && json_object_size(sj) > 0 &&
                          k8c_selector_from_json(sj, &sel, &serr) == 0 && !k8c_selector_empty(&sel);
        bool deleting = k8c_json_get(d, "metadata.deletionTimestamp") != NULL;
        int r = 0;
        size_t i;
        json_t *rs;
        json_array_foreach(nsrs, i, rs)
        {
                const json_t *ref = k8c_ctrl_controller_ref(rs);
                const char *ruid = json_string_value(json_object_get(ref, "uid"));
                bool matches = can_select && k8c_selector_matches(&sel, k8c_json_get(rs, "metadata.labels"));
                cleanup_free char *path = rs_path(ns, k8c_json_get_string(rs, "metadata.name"));
                if (ruid != NULL && strcmp(ruid, uid) == 0) {
                        if (matches || !can_select || deleting) {
                                json_array_append(out, rs);
                                continue;
                        }
                        const char *uids[1] = { uid };
                        if ((r = k8c_ctrl_remove_owner_refs(&c->ctl, path, rs, uids, 1, err)) < 0)
                                break;
                        continue;
                }
                if (ref != NULL || !matches || deleting ||
                    k8c_json_get(rs, "metadata.deletionTimestamp") != NULL)
                        continue;
                json_t *refs = json_array();
                size_t k;
                json_t *o;
                json_array_foreach(k8c_json_get(rs, "metadata.ownerReferences"), k, o)
                        json_array_append(refs, o);
                json_array_append_new(refs, json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion",
                                                      "apps/v1", "kind", "Deployment", "name",
                                                      k8c_json_get_string(d, "metadata.name"), "uid", uid,
                                                      "controller", 1, "blockOwnerDeletion", 1));
                json_auto_t *patch =
                        json_pack("{s:{s:o, s:s}}", "metadata", "ownerReferences", refs, "resourceVersion",
                                  k8c_json_get_string(rs, "metadata.resourceVersion") ?: "");
                r = c->ctl.patch(c->ctl.opaque, path, "application/merge-patch+json", patch, err);
                if (r < 0 &&
                    (k8c_error_reason(err) == K8C_ECONFLICT || k8c_error_reason(err) == K8C_ENOTFOUND)) {
                        /* Taken or gone meanwhile: the watch brings the news and the sync runs again. */
                        k8c_error_release(err);
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break;
                /* Ours from now on: counted in this sync, as Kubernetes does with adopted ones. */
                json_t *adopted = json_deep_copy(rs);
                json_object_set_new(json_object_get(adopted, "metadata"), "ownerReferences",
                                    json_deep_copy(json_object_get(json_object_get(patch, "metadata"),
                                                                   "ownerReferences")));
                json_array_append_new(out, adopted);
        }
        k8c_selector_free(&sel);
        if (r < 0) {
                json_decref(out);
                return r;
        }
        *ret = out;
        return 0;
}

/* ---- sync ---- */

int k8c_deployment_controller_sync(struct k8c_deployment_controller *c, const char *key, k8c_error_t *err)
{
        json_auto_t *d = k8c_informer_get(c->deploy, key);
        if (d == NULL)
                return 0;
        const char *ns = k8c_json_get_string(d, "metadata.namespace");
        const char *uid = k8c_json_get_string(d, "metadata.uid");
        if (ns == NULL || uid == NULL)
                return 0;
        json_auto_t *all = NULL;
        int cr = claim_replica_sets(c, d, &all, err);
        if (cr < 0)
                return cr;
        json_t *oldst = json_object_get(d, "status");
        json_auto_t *status = json_is_object(oldst) ? json_deep_copy(oldst) : json_object();
        struct dsync s = { .c = c,
                           .d = d,
                           .ns = ns,
                           .name = k8c_json_get_string(d, "metadata.name"),
                           .key = key,
                           .replicas = spec_replicas(d),
                           .status = status,
                           .now = time(NULL) };
        s.v = k8c_xcalloc(json_array_size(all) + 1, sizeof(*s.v));
        size_t i;
        json_t *rs;
        json_array_foreach(all, i, rs)
        {
                const char *ruid = json_string_value(json_object_get(k8c_ctrl_controller_ref(rs), "uid"));
                if (ruid == NULL || strcmp(ruid, uid) != 0)
                        continue;
                struct rsv *r = &s.v[s.n++];
                r->obj = rs;
                r->name = k8c_json_get_string(rs, "metadata.name");
                r->uid = k8c_json_get_string(rs, "metadata.uid");
                r->created = k8c_json_get_string(rs, "metadata.creationTimestamp");
                r->spec = r->spec0 = spec_replicas(rs);
                r->avail = k8c_json_get_int(rs, "status.availableReplicas", 0);
                r->rev = revision_of(rs);
        }
        /* FindNewReplicaSet: the oldest whose template equals the Deployment's (ignoring the hash). */
        {
                struct rsv **byage = k8c_xcalloc(s.n + 1, sizeof(*byage));
                for (size_t k = 0; k < s.n; k++)
                        byage[k] = &s.v[k];
                qsort(byage, s.n, sizeof(*byage), cmp_created);
                for (size_t k = 0; k < s.n && s.new_rs == NULL; k++)
                        if (equal_ignore_hash(k8c_json_get(byage[k]->obj, "spec.template"),
                                              k8c_json_get(d, "spec.template")))
                                s.new_rs = byage[k];
                /* One created from this very template before any defaulting difference: its hash label. */
                cleanup_free char *hash = k8c_pod_template_hash(
                        k8c_json_get(d, "spec.template"), k8c_json_get_int(d, "status.collisionCount", 0));
                for (size_t k = 0; k < s.n && s.new_rs == NULL; k++) {
                        const char *h =
                                k8c_json_get_string(byage[k]->obj, "metadata.labels[\"" HASH_LABEL "\"]");
                        if (h != NULL && strcmp(h, hash) == 0)
                                s.new_rs = byage[k];
                }
                free(byage);
                if (s.new_rs != NULL)
                        s.new_rs->is_new = true;
        }
        int r = 0;
        if (k8c_json_get(d, "metadata.deletionTimestamp") != NULL) {
                r = finish(&s, false, err);
                goto out;
        }
        paused_conditions(&s);
        bool paused = k8c_json_get_bool(d, "spec.paused", false);
        if (paused || is_scaling_event(&s)) {
                /* sync(): scale only, never a new ReplicaSet; history cleanup while paused. */
                if (s.new_rs != NULL && (r = sync_existing_new_rs(&s, err)) < 0)
                        goto out;
                if ((r = scale_all(&s, err)) < 0)
                        goto out;
                if (paused && (r = cleanup_history(&s, err)) < 0)
                        goto out;
                r = finish(&s, false, err);
                goto out;
        }
        if (s.new_rs != NULL && (r = sync_existing_new_rs(&s, err)) < 0)
                goto out;
        if (!is_rolling(d)) {
                /* rolloutRecreate */
                int scaled = 0;
                for (size_t k = 0; k < s.n && r >= 0; k++)
                        if (!s.v[k].is_new && s.v[k].spec > 0 && (r = scale_rs(&s, &s.v[k], 0, err)) > 0)
                                scaled = 1;
                if (r < 0)
                        goto out;
                if (scaled || old_pods_running(&s)) {
                        r = finish(&s, true, err);
                        goto out;
                }
                if (s.new_rs == NULL) {
                        if ((r = create_new_rs(&s, err)) < 0)
                                goto out;
                        r = finish(&s, true, err);
                        goto out;
                }
                if (s.new_rs->spec < s.replicas && (r = scale_rs(&s, s.new_rs, s.replicas, err)) < 0)
                        goto out;
                if (deployment_complete(&s, oldst) && (r = cleanup_history(&s, err)) < 0)
                        goto out;
                r = finish(&s, true, err);
                goto out;
        }
        /* rolloutRolling */
        if (s.new_rs == NULL) {
                if ((r = create_new_rs(&s, err)) < 0)
                        goto out;
                r = finish(&s, true, err);
                goto out;
        }
        if ((r = reconcile_new(&s, err)) < 0)
                goto out;
        if (r == 0 && (r = reconcile_old(&s, err)) < 0)
                goto out;
        if (r == 0 && deployment_complete(&s, oldst) && (r = cleanup_history(&s, err)) < 0)
                goto out;
        r = finish(&s, true, err);
out:
        if (r < 0 && json_object_get(status, "collisionCount") != NULL &&
            !json_equal(json_object_get(status, "collisionCount"),
                        json_object_get(oldst, "collisionCount"))) {
                /* Record the bumped collisionCount so the next sync hashes differently. */
                cleanup_error k8c_error_t e2 = NULL;
                json_auto_t *st = calculate_status(&s);
                write_status(&s, st, &e2);
        }
        free(s.v);
        return r < 0 ? r : 0;
}

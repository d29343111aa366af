/*
 * hpa.c - the HorizontalPodAutoscaler controller (autoscaling/v2, after Kubernetes'
 * pkg/controller/podautoscaler): every sync period it reads the target's scale
 * subresource, the pods its selector picks (cache) and their metrics.k8s.io
 * PodMetrics (a struct k8c_metrics_source), computes desired replicas per metric
 * as the replica calculator does (ceil(ready pods x usage ratio), a tolerance band,
 * missing and unready pods assumed at 0 or 100 % in the direction that damps the
 * change), takes the largest, stabilises (a window of recent recommendations for
 * scale-down, or spec.behavior's windows and rate policies), clamps to min/max and
 * the scale-up limit, writes the target's scale, then status (current/desired
 * replicas, currentMetrics, lastScaleTime, conditions AbleToScale, ScalingActive,
 * ScalingLimited) and events (SuccessfulRescale, FailedGetScale, ...).
 *
 * Supports Resource and ContainerResource metrics (Utilization and AverageValue
 * targets); Pods, Object and External metrics need a custom metrics API that k8c
 * does not serve, and are reported as such in ScalingActive. Reads caches and the
 * metrics source; writes through object control. Does not log.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
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

struct k8c_hpa_controller {
        struct k8c_informer *hpas, *pods;
        struct k8c_object_control ctl;
        struct k8c_metrics_source metrics;
        struct k8c_event_recorder *rec;
        struct k8c_hpa_config cfg;
        struct k8c_workqueue *queue;
        pthread_mutex_t lock;
        /* key → {"recs": [[replicas, ms]], "up": [[change, ms, outdated]], "down": [...]} */
        json_t *state;
};

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(const struct k8c_hpa_controller *c)
{
        return c->cfg.clock_ms != NULL ? c->cfg.clock_ms() : mono_ms();
}

/* ---- the metrics source through a client ---- */

static int client_pod_metrics(void *o, const char *ns, const char *selector, json_t **ret, k8c_error_t *err)
{
        cleanup_free char *sel = k8c_url_escape(selector != NULL ? selector : "");
        cleanup_free char *path =
                k8c_xasprintf("/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods?labelSelector=%s", ns, sel);
        return k8c_client_get(o, path, ret, err);
}

struct k8c_metrics_source k8c_metrics_source_client(struct k8c_client *client)
{
        return (struct k8c_metrics_source){ client_pod_metrics, client };
}

/* ---- handlers ---- */

static void on_add(void *o, json_t *h)
{
        struct k8c_hpa_controller *c = o;
        cleanup_free char *key = k8c_object_key(h);
        if (key != NULL)
                k8c_workqueue_add(c->queue, key);
}

static void on_update(void *o, json_t *old, json_t *h)
{
        /* Our own status writes come back here: only a spec change is worth an early sync. */
        if (json_equal(json_object_get(old, "spec"), json_object_get(h, "spec")))
                return;
        on_add(o, h);
}

static void on_delete(void *o, json_t *h)
{
        struct k8c_hpa_controller *c = o;
        cleanup_free char *key = k8c_object_key(h);
        if (key == NULL)
                return;
        pthread_mutex_lock(&c->lock);
        json_object_del(c->state, key);
        pthread_mutex_unlock(&c->lock);
}

struct k8c_hpa_controller *k8c_hpa_controller_new(struct k8c_informer *hpas, struct k8c_informer *pods,
                                                  const struct k8c_object_control *ctl,
                                                  const struct k8c_metrics_source *metrics,
                                                  struct k8c_event_recorder *rec,
                                                  const struct k8c_hpa_config *cfg)
{
        struct k8c_hpa_controller *c = k8c_xcalloc(1, sizeof(*c));
        c->hpas = hpas;
        c->pods = pods;
        c->ctl = *ctl;
        c->metrics = *metrics;
        c->rec = rec;
        if (cfg != NULL)
                c->cfg = *cfg;
        if (c->cfg.sync_period_ms <= 0)
                c->cfg.sync_period_ms = 15000;
        if (c->cfg.downscale_window_ms < 0)
                c->cfg.downscale_window_ms = 0;
        else if (c->cfg.downscale_window_ms == 0)
                c->cfg.downscale_window_ms = 5 * 60 * 1000;
        if (c->cfg.tolerance <= 0)
                c->cfg.tolerance = 0.1;
        if (c->cfg.cpu_init_period_ms <= 0)
                c->cfg.cpu_init_period_ms = 5 * 60 * 1000;
        if (c->cfg.readiness_delay_ms <= 0)
                c->cfg.readiness_delay_ms = 30 * 1000;
        c->queue = k8c_workqueue_new(NULL);
        c->state = json_object();
        pthread_mutex_init(&c->lock, NULL);
        k8c_informer_add_handlers(hpas, &(struct k8c_informer_handlers){ on_add, on_update, on_delete, c });
        return c;
}

void k8c_hpa_controller_free(struct k8c_hpa_controller *c)
{
        if (c == NULL)
                return;
        k8c_workqueue_free(c->queue);
        json_decref(c->state);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

struct k8c_workqueue *k8c_hpa_controller_queue(struct k8c_hpa_controller *c)
{
        return c->queue;
}

/* ---- the replica calculator ---- */

static bool quantity_milli(const json_t *v, int64_t *ret)
{
        k8c_quantity_t q;
        cleanup_error k8c_error_t err = NULL;
        if (v == NULL || k8c_quantity_from_json(v, &q, &err) < 0)
                return false;
        *ret = k8c_quantity_milli(&q);
        return true;
}

/* A Go duration as metrics-server writes windows ("30s", "1m0s", "500ms"); 0 if unreadable. */
static int64_t go_duration_ms(const char *s)
{
        int64_t total = 0;
        while (s != NULL && *s != '\0') {
                char *end = NULL;
                double v = strtod(s, &end);
                if (end == s)
                        return 0;
                if (strncmp(end, "ms", 2) == 0) {
                        total += (int64_t)v;
                        end += 2;
                } else if (*end == 's') {
                        total += (int64_t)(v * 1000);
                        end++;
                } else if (*end == 'm') {
                        total += (int64_t)(v * 60000);
                        end++;
                } else if (*end == 'h') {
                        total += (int64_t)(v * 3600000);
                        end++;
                } else {
                        return 0;
                }
                s = end;
        }
        return total;
}

struct pod_metric {
        int64_t value; /* milli-units */
        time_t ts;
        int64_t window_ms;
};

/* GetResourceMetric: per pod, the sum over its containers (or the one named) of usage[resource];
 * a pod lacking the resource in a container is left out. Returns an object name → index into *ret_v. */
static json_t *resource_metrics(const json_t *list, const char *resource, const char *container,
                                struct pod_metric **ret_v)
{
        json_t *idx = json_object();
        const json_t *items = json_object_get(list, "items");
        struct pod_metric *v = k8c_xcalloc(json_array_size(items) + 1, sizeof(*v));
        size_t n = 0, i;
        json_t *pm;
        json_array_foreach(items, i, pm)
        {
                const char *name = k8c_json_get_string(pm, "metadata.name");
                if (name == NULL)
                        continue;
                int64_t sum = 0;
                bool missing = false, any = false;
                size_t k;
                json_t *ct;
                json_array_foreach(json_object_get(pm, "containers"), k, ct)
                {
                        const char *cn = json_string_value(json_object_get(ct, "name"));
                        if (container != NULL && container[0] != '\0' &&
                            (cn == NULL || strcmp(cn, container) != 0))
                                continue;
                        int64_t m;
                        if (!quantity_milli(json_object_get(json_object_get(ct, "usage"), resource), &m)) {
                                missing = true;
                                break;
                        }
                        sum += m;
                        any = true;
                }
                if (missing || !any)
                        continue;
                time_t ts = 0;
                const char *tss = json_string_value(json_object_get(pm, "timestamp"));
                if (tss != NULL)
                        k8c_rfc3339_parse(tss, &ts);
                v[n] = (struct pod_metric){
                        sum, ts, go_duration_ms(json_string_value(json_object_get(pm, "window")))
                };
                json_object_set_new(idx, name, json_integer((json_int_t)n));
                n++;
        }
        *ret_v = v;
        return idx;
}

static const json_t *pod_condition(const json_t *pod, const char *type)
{
        size_t i;
        json_t *cnd;
        json_array_foreach(k8c_json_get(pod, "status.conditions"), i, cnd)
        {
                const char *t = json_string_value(json_object_get(cnd, "type"));
                if (t != NULL && strcmp(t, type) == 0)
                        return cnd;
        }
        return NULL;
}

static time_t json_time(const json_t *v)
{
        time_t t = 0;
        const char *s = json_string_value(v);
        if (s == NULL || k8c_rfc3339_parse(s, &t) < 0)
                return 0;
        return t;
}

enum pod_group { POD_READY, POD_UNREADY, POD_MISSING, POD_IGNORED };

/* groupPods */
static enum pod_group group_pod(const json_t *pod, const struct pod_metric *m, const char *resource,
                                const struct k8c_hpa_config *cfg, time_t now)
{
        const char *phase = k8c_json_get_string(pod, "status.phase") ?: "";
        if (k8c_json_get(pod, "metadata.deletionTimestamp") != NULL || strcmp(phase, "Failed") == 0)
                return POD_IGNORED;
        if (strcmp(phase, "Pending") == 0 || phase[0] == '\0')
                return POD_UNREADY;
        if (m == NULL)
                return POD_MISSING;
        if (strcmp(resource, "cpu") == 0) {
                const json_t *cond = pod_condition(pod, "Ready");
                const json_t *start = k8c_json_get(pod, "status.startTime");
                bool unready;
                if (cond == NULL || start == NULL) {
                        unready = true;
                } else {
                        time_t st = json_time(start);
                        time_t ltt = json_time(json_object_get(cond, "lastTransitionTime"));
                        bool is_false = strcmp(json_string_value(json_object_get(cond, "status")) ?: "",
                                               "False") == 0;
                        if ((int64_t)st * 1000 + cfg->cpu_init_period_ms > (int64_t)now * 1000)
                                unready = is_false ||
                                          (int64_t)m->ts * 1000 < (int64_t)ltt * 1000 + m->window_ms;
                        else
                                unready = is_false &&
                                          (int64_t)st * 1000 + cfg->readiness_delay_ms > (int64_t)ltt * 1000;
                }
                if (unready)
                        return POD_UNREADY;
        }
        return POD_READY;
}

/* calculatePodRequests for one pod: the sum of its containers' (or the one named) requests. */
static int pod_request(const json_t *pod, const char *resource, const char *container, int64_t *ret,
                       k8c_error_t *err)
{
        int64_t sum = 0;
        size_t i;
        json_t *ct;
        json_array_foreach(k8c_json_get(pod, "spec.containers"), i, ct)
        {
                const char *cn = json_string_value(json_object_get(ct, "name")) ?: "";
                if (container != NULL && container[0] != '\0' && strcmp(cn, container) != 0)
                        continue;
                int64_t m;
                const json_t *q = json_object_get(k8c_json_get(ct, "resources.requests"), resource);
                if (q == NULL || !quantity_milli(q, &m))
                        return k8c_make_error(err, K8C_EINVALID,
                                              "missing request for %s in container %s of Pod %s", resource,
                                              cn, k8c_json_get_string(pod, "metadata.name") ?: "");
                sum += m;
        }
        *ret = sum;
        return 0;
}

struct sample {
        int64_t value, request;
};

/* GetResourceUtilizationRatio (utilization) or GetMetricUsageRatio (plain average). */
static int usage_ratio(const struct sample *s, size_t n, bool utilization, int64_t target, double *ret_ratio,
                       int64_t *ret_util, int64_t *ret_raw, k8c_error_t *err)
{
        int64_t total = 0, req = 0;
        for (size_t i = 0; i < n; i++) {
                total += s[i].value;
                req += s[i].request;
        }
        if (n == 0)
                return k8c_make_error(err, K8C_EINVALID, "no metrics returned matched known pods");
        if (utilization) {
                if (req == 0)
                        return k8c_make_error(err, K8C_EINVALID, "no metrics returned matched known pods");
                int64_t util = total * 100 / req;
                *ret_ratio = (double)util / (double)target;
                *ret_util = util;
                *ret_raw = total / (int64_t)n;
        } else {
                int64_t avg = total / (int64_t)n;
                *ret_ratio = (double)avg / (double)target;
                *ret_util = 0;
                *ret_raw = avg;
        }
        return 0;
}

int k8c_hpa_resource_replicas(const json_t *pods, const json_t *metrics_list, const char *resource,
                              const char *container, bool utilization, int64_t target, int64_t current,
                              const struct k8c_hpa_config *cfg_in, time_t now, struct k8c_hpa_result *ret,
                              k8c_error_t *err)
{
        struct k8c_hpa_config cfg = *cfg_in;
        if (cfg.tolerance <= 0)
                cfg.tolerance = 0.1;
        if (cfg.cpu_init_period_ms <= 0)
                cfg.cpu_init_period_ms = 5 * 60 * 1000;
        if (cfg.readiness_delay_ms <= 0)
                cfg.readiness_delay_ms = 30 * 1000;
        if (target <= 0)
                return k8c_make_error(err, K8C_EINVALID, "invalid target %lld", (long long)target);
        size_t np = json_array_size(pods);
        if (np == 0)
                return k8c_make_error(err, K8C_EINVALID,
                                      "no pods returned by selector while calculating replica count");
        cleanup_free struct pod_metric *mv = NULL;
        json_auto_t *idx = resource_metrics(metrics_list, resource, container, &mv);
        cleanup_free struct sample *ready = k8c_xcalloc(np + 1, sizeof(*ready));
        cleanup_free struct sample *extra = k8c_xcalloc(np + 1, sizeof(*extra));
        cleanup_free enum pod_group *grp = k8c_xcalloc(np + 1, sizeof(*grp));
        cleanup_free int64_t *reqs = k8c_xcalloc(np + 1, sizeof(*reqs));
        size_t nready = 0, nunready = 0, nmissing = 0;
        size_t i;
        json_t *pod;
        json_array_foreach(pods, i, pod)
        {
                const char *name = k8c_json_get_string(pod, "metadata.name") ?: "";
                json_t *ix = json_object_get(idx, name);
                const struct pod_metric *m = ix != NULL ? &mv[json_integer_value(ix)] : NULL;
                grp[i] = group_pod(pod, m, resource, &cfg, now);
                if (grp[i] == POD_IGNORED)
                        continue;
                if (utilization && pod_request(pod, resource, container, &reqs[i], err) < 0)
                        return -1;
                if (grp[i] == POD_READY)
                        ready[nready++] = (struct sample){ m->value, reqs[i] };
                else if (grp[i] == POD_UNREADY)
                        nunready++;
                else
                        nmissing++;
        }
        if (nready == 0)
                return k8c_make_error(err, K8C_EINVALID,
                                      "did not receive metrics for targeted pods (pods might be unready)");
        double ratio;
        int64_t util, raw;
        if (usage_ratio(ready, nready, utilization, target, &ratio, &util, &raw, err) < 0)
                return -1;
        ret->utilization = util;
        ret->raw_milli = raw;
        bool up_with_unready = nunready > 0 && ratio > 1.0;
        if (!up_with_unready && nmissing == 0) {
                ret->replicas =
                        fabs(1.0 - ratio) <= cfg.tolerance ? current : (int64_t)ceil(ratio * (double)nready);
                return 0;
        }
        /* Missing pods at 100 % (or the target) on a scale-down, 0 on a scale-up; unready ones at 0 on a
         * scale-up; then the ratio again over every pod counted. */
        size_t n = 0;
        for (size_t k = 0; k < nready; k++)
                extra[n++] = ready[k];
        json_array_foreach(pods, i, pod)
        {
                if (grp[i] == POD_MISSING && ratio < 1.0) {
                        int64_t fallback =
                                utilization ? reqs[i] * (target > 100 ? target : 100) / 100 : target;
                        extra[n++] = (struct sample){ fallback, reqs[i] };
                } else if (grp[i] == POD_MISSING && ratio > 1.0) {
                        extra[n++] = (struct sample){ 0, reqs[i] };
                } else if (grp[i] == POD_UNREADY && up_with_unready) {
                        extra[n++] = (struct sample){ 0, reqs[i] };
                }
        }
        double nratio;
        int64_t u2, r2;
        if (usage_ratio(extra, n, utilization, target, &nratio, &u2, &r2, err) < 0)
                return -1;
        if (fabs(1.0 - nratio) <= cfg.tolerance || (ratio < 1.0 && nratio > 1.0) ||
            (ratio > 1.0 && nratio < 1.0)) {
                ret->replicas = current;
                return 0;
        }
        int64_t nr = (int64_t)ceil(nratio * (double)n);
        if ((nratio < 1.0 && nr > current) || (nratio > 1.0 && nr < current))
                nr = current;
        ret->replicas = nr;
        return 0;
}

/* ---- conditions ---- */

static void set_condition(json_t *status, const char *type, const char *st, const char *reason,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* setConditionInList: in place, lastTransitionTime only on a status change. */
static void set_condition(json_t *status, const char *type, const char *st, const char *reason,
                          const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        cleanup_free char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        va_end(ap);
        json_t *conds = json_object_get(status, "conditions");
        if (!json_is_array(conds)) {
                conds = json_array();
                json_object_set_new(status, "conditions", conds);
        }
        json_t *cur = NULL;
        size_t i;
        json_t *x;
        json_array_foreach(conds, i, x)
        {
                const char *t = json_string_value(json_object_get(x, "type"));
                if (t != NULL && strcmp(t, type) == 0) {
                        cur = x;
                        break;
                }
        }
        if (cur == NULL) {
                cur = json_pack("{s:s}", "type", type);
                json_array_append_new(conds, cur);
        }
        const char *have = json_string_value(json_object_get(cur, "status"));
        if (have == NULL || strcmp(have, st) != 0) {
                char ts[32];
                k8c_rfc3339(time(NULL), ts, sizeof(ts));
                json_object_set_new(cur, "lastTransitionTime", json_string(ts));
        }
        json_object_set_new(cur, "status", json_string(st));
        json_object_set_new(cur, "reason", json_string(reason));
        json_object_set_new(cur, "message", json_string(msg));
}

/* ---- per-HPA memory: recommendations and scale events ---- */

static json_t *key_state(struct k8c_hpa_controller *c, const char *key)
{
        json_t *s = json_object_get(c->state, key);
        if (s == NULL) {
                s = json_pack("{s:[], s:[], s:[]}", "recs", "up", "down");
                json_object_set_new(c->state, key, s);
        }
        return s;
}

static void record_initial(struct k8c_hpa_controller *c, const char *key, int64_t current, int64_t now)
{
        json_t *recs = json_object_get(key_state(c, key), "recs");
        if (json_array_size(recs) == 0)
                json_array_append_new(recs, json_pack("[I, I]", (json_int_t)current, (json_int_t)now));
}

/* stabilizeRecommendation (no behavior): the highest recommendation within the window. */
static int64_t stabilize(struct k8c_hpa_controller *c, const char *key, int64_t desired, int64_t now)
{
        json_t *recs = json_object_get(key_state(c, key), "recs");
        int64_t best = desired, cutoff = now - c->cfg.downscale_window_ms;
        ssize_t old = -1;
        size_t i;
        json_t *r;
        json_array_foreach(recs, i, r)
        {
                int64_t v = json_integer_value(json_array_get(r, 0)),
                        t = json_integer_value(json_array_get(r, 1));
                if (t < cutoff)
                        old = (ssize_t)i;
                else if (v > best)
                        best = v;
        }
        json_t *entry = json_pack("[I, I]", (json_int_t)desired, (json_int_t)now);
        if (old >= 0)
                json_array_set_new(recs, (size_t)old, entry);
        else
                json_array_append_new(recs, entry);
        return best;
}

/* convertDesiredReplicasWithRules */
static int64_t clamp_rules(int64_t current, int64_t desired, int64_t min, int64_t max,
                           const char **ret_reason, const char **ret_msg)
{
        int64_t up_limit = current * 2 > 4 ? current * 2 : 4;
        int64_t max_allowed;
        if (max > up_limit) {
                max_allowed = up_limit;
                *ret_reason = "ScaleUpLimit";
                *ret_msg = "the desired replica count is increasing faster than the maximum scale rate";
        } else {
                max_allowed = max;
                *ret_reason = "TooManyReplicas";
                *ret_msg = "the desired replica count is more than the maximum replica count";
        }
        if (desired < min) {
                *ret_reason = "TooFewReplicas";
                *ret_msg = "the desired replica count is less than the minimum replica count";
                return min;
        }
        if (desired > max_allowed)
                return max_allowed;
        *ret_reason = "DesiredWithinRange";
        *ret_msg = "the desired count is within the acceptable range";
        return desired;
}

static int64_t rules_window_s(const json_t *rules, int64_t def)
{
        const json_t *w = json_object_get(rules, "stabilizationWindowSeconds");
        return json_is_integer(w) ? json_integer_value(w) : def;
}

/* stabilizeRecommendationWithBehaviors */
static int64_t stabilize_behavior(struct k8c_hpa_controller *c, const char *key, const json_t *behavior,
                                  int64_t current, int64_t desired, int64_t now, const char **ret_reason,
                                  const char **ret_msg)
{
        int64_t up_cut = now - rules_window_s(json_object_get(behavior, "scaleUp"), 0) * 1000;
        int64_t down_cut = now - rules_window_s(json_object_get(behavior, "scaleDown"),
                                                c->cfg.downscale_window_ms / 1000) *
                                         1000;
        int64_t up = desired, down = desired;
        json_t *recs = json_object_get(key_state(c, key), "recs");
        ssize_t old = -1;
        size_t i;
        json_t *r;
        json_array_foreach(recs, i, r)
        {
                int64_t v = json_integer_value(json_array_get(r, 0)),
                        t = json_integer_value(json_array_get(r, 1));
                if (t > up_cut && v < up)
                        up = v;
                if (t > down_cut && v > down)
                        down = v;
                if (t < up_cut && t < down_cut)
                        old = (ssize_t)i;
        }
        int64_t rec = current;
        if (rec < up)
                rec = up;
        if (rec > down)
                rec = down;
        json_t *entry = json_pack("[I, I]", (json_int_t)desired, (json_int_t)now);
        if (old >= 0)
                json_array_set_new(recs, (size_t)old, entry);
        else
                json_array_append_new(recs, entry);
        if (desired >= current) {
                *ret_reason = "ScaleUpStabilized";
                *ret_msg = "recent recommendations were lower than current one, applying the lowest recent "
                           "recommendation";
        } else {
                *ret_reason = "ScaleDownStabilized";
                *ret_msg = "recent recommendations were higher than current one, applying the highest recent "
                           "recommendation";
        }
        return rec;
}

/* getReplicasChangePerPeriod */
static int64_t change_in_period(const json_t *events, int64_t period_s, int64_t now)
{
        int64_t cutoff = now - period_s * 1000, sum = 0;
        size_t i;
        json_t *e;
        json_array_foreach(events, i, e)
        {
                if (json_integer_value(json_array_get(e, 1)) > cutoff && !json_is_true(json_array_get(e, 2)))
                        sum += json_integer_value(json_array_get(e, 0));
        }
        return sum;
}

/* calculateScaleUpLimitWithScalingRules / calculateScaleDownLimitWithBehaviors */
static int64_t rate_limit(const json_t *rules, bool up, int64_t current, const json_t *ups,
                          const json_t *downs, int64_t now)
{
        const char *sel = json_string_value(json_object_get(rules, "selectPolicy")) ?: "Max";
        if (strcmp(sel, "Disabled") == 0)
                return current;
        bool minchange = strcmp(sel, "Min") == 0;
        /* Up: Max picks the largest proposal, Min the smallest; down the other way round. */
        bool pick_max = up ? !minchange : minchange;
        int64_t result = pick_max ? INT64_MIN : INT64_MAX;
        size_t i;
        json_t *p;
        bool any = false;
        json_array_foreach(json_object_get(rules, "policies"), i, p)
        {
                int64_t period = k8c_json_get_int(p, "periodSeconds", 15);
                int64_t value = k8c_json_get_int(p, "value", 0);
                const char *type = json_string_value(json_object_get(p, "type")) ?: "";
                int64_t start =
                        current - change_in_period(ups, period, now) + change_in_period(downs, period, now);
                int64_t proposed;
                if (strcmp(type, "Pods") == 0)
                        proposed = up ? start + value : start - value;
                else if (up)
                        proposed = (int64_t)ceil((double)start * (1.0 + (double)value / 100.0));
                else
                        proposed = (int64_t)((double)start * (1.0 - (double)value / 100.0));
                result = pick_max ? (proposed > result ? proposed : result)
                                  : (proposed < result ? proposed : result);
                any = true;
        }
        if (!any)
                return up ? INT64_MAX : INT64_MIN;
        return result;
}

/* convertDesiredReplicasWithBehaviorRate */
static int64_t clamp_behavior(struct k8c_hpa_controller *c, const char *key, const json_t *behavior,
                              int64_t current, int64_t desired, int64_t min, int64_t max, int64_t now,
                              const char **ret_reason, const char **ret_msg)
{
        json_t *st = key_state(c, key);
        const json_t *ups = json_object_get(st, "up"), *downs = json_object_get(st, "down");
        if (desired > current) {
                int64_t limit =
                        rate_limit(json_object_get(behavior, "scaleUp"), true, current, ups, downs, now);
                if (limit < current)
                        limit = current;
                int64_t max_allowed = max;
                if (max_allowed > limit) {
                        max_allowed = limit;
                        *ret_reason = "ScaleUpLimit";
                        *ret_msg =
                                "the desired replica count is increasing faster than the maximum scale rate";
                } else {
                        *ret_reason = "TooManyReplicas";
                        *ret_msg = "the desired replica count is more than the maximum replica count";
                }
                if (desired > max_allowed)
                        return max_allowed;
        } else if (desired < current) {
                int64_t limit =
                        rate_limit(json_object_get(behavior, "scaleDown"), false, current, ups, downs, now);
                if (limit > current)
                        limit = current;
                int64_t min_allowed = min;
                if (min_allowed < limit) {
                        min_allowed = limit;
                        *ret_reason = "ScaleDownLimit";
                        *ret_msg =
                                "the desired replica count is decreasing faster than the maximum scale rate";
                } else {
                        *ret_reason = "TooFewReplicas";
                        *ret_msg = "the desired replica count is less than the minimum replica count";
                }
                if (desired < min_allowed)
                        return min_allowed;
        }
        *ret_reason = "DesiredWithinRange";
        *ret_msg = "the desired count is within the acceptable range";
        return desired;
}

static int64_t longest_period(const json_t *rules)
{
        int64_t m = 0;
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(rules, "policies"), i, p)
        {
                int64_t v = k8c_json_get_int(p, "periodSeconds", 0);
                if (v > m)
                        m = v;
        }
        return m;
}

/* storeScaleEvent */
static void store_scale_event(struct k8c_hpa_controller *c, const char *key, const json_t *behavior,
                              int64_t prev, int64_t next, int64_t now)
{
        if (behavior == NULL)
                return;
        bool up = next > prev;
        json_t *events = json_object_get(key_state(c, key), up ? "up" : "down");
        int64_t cutoff = now - longest_period(json_object_get(behavior, up ? "scaleUp" : "scaleDown")) * 1000;
        size_t i;
        json_t *e;
        json_array_foreach(events, i, e)
        {
                if (json_integer_value(json_array_get(e, 1)) <= cutoff)
                        json_array_set_new(e, 2, json_true());
        }
        json_t *entry =
                json_pack("[I, I, b]", (json_int_t)(up ? next - prev : prev - next), (json_int_t)now, 0);
        json_array_foreach(events, i, e)
        {
                if (json_is_true(json_array_get(e, 2))) {
                        json_array_set_new(events, i, entry);
                        return;
                }
        }
        json_array_append_new(events, entry);
}

/* ---- metrics ---- */

static char *milli_string(int64_t milli)
{
        k8c_quantity_t q = { .milli = milli, .format = K8C_QUANTITY_DECIMAL_SI };
        return k8c_quantity_format(&q);
}

/* One metric's proposal: 0 and its status entry, or negative with the condition reason in *ret_reason. */
static int metric_replicas(struct k8c_hpa_controller *c, const json_t *hpa, const json_t *spec_metric,
                           const json_t *pods, const json_t *metrics_list, int64_t current,
                           int64_t *ret_replicas, json_t **ret_status, char **ret_name,
                           const char **ret_reason, k8c_error_t *err)
{
        const char *type = json_string_value(json_object_get(spec_metric, "type")) ?: "";
        bool container = strcmp(type, "ContainerResource") == 0;
        if (strcmp(type, "Resource") != 0 && !container) {
                *ret_reason = strcmp(type, "Pods") == 0       ? "FailedGetPodsMetric"
                              : strcmp(type, "Object") == 0   ? "FailedGetObjectMetric"
                              : strcmp(type, "External") == 0 ? "FailedGetExternalMetric"
                                                              : "InvalidMetricSourceType";
                return k8c_make_error(
                        err, K8C_EINVALID,
                        "unable to get metric of type %s: no custom or external metrics API is served", type);
        }
        const char *src_key = container ? "containerResource" : "resource";
        const json_t *src = json_object_get(spec_metric, src_key);
        const char *resource = json_string_value(json_object_get(src, "name")) ?: "cpu";
        const char *cname = container ? json_string_value(json_object_get(src, "container")) : NULL;
        const json_t *target = json_object_get(src, "target");
        const json_t *au = json_object_get(target, "averageUtilization");
        const json_t *av = json_object_get(target, "averageValue");
        *ret_reason = container ? "FailedGetContainerResourceMetric" : "FailedGetResourceMetric";
        struct k8c_hpa_result res = { 0 };
        bool util = json_is_integer(au);
        int64_t tgt = 0;
        if (util)
                tgt = json_integer_value(au);
        else if (av == NULL || !quantity_milli(av, &tgt))
                return k8c_make_error(
                        err, K8C_EINVALID,
                        "invalid resource metric source: neither a utilization target nor a value "
                        "target was set");
        if (metrics_list == NULL)
                return k8c_make_error(err, K8C_EUNAVAILABLE,
                                      "unable to get metrics for resource %s: no metrics returned from "
                                      "resource metrics API",
                                      resource);
        if (k8c_hpa_resource_replicas(pods, metrics_list, resource, cname, util, tgt, current, &c->cfg,
                                      time(NULL), &res, err) < 0) {
                k8c_error_wrap(err, "failed to get %s utilization", resource);
                return -1;
        }
        *ret_replicas = res.replicas;
        cleanup_free char *raw = milli_string(res.raw_milli);
        json_t *cur = util ? json_pack("{s:I, s:s}", "averageUtilization", (json_int_t)res.utilization,
                                       "averageValue", raw)
                           : json_pack("{s:s}", "averageValue", raw);
        json_t *inner = json_pack("{s:s, s:o}", "name", resource, "current", cur);
        if (container)
                json_object_set_new(inner, "container", json_string(cname ?: ""));
        *ret_status = json_pack("{s:s, s:o}", "type", type, src_key, inner);
        if (container)
                *ret_name = k8c_xasprintf(util ? "%s container resource utilization (percentage of request)"
                                               : "%s container resource",
                                          resource);
        else
                *ret_name = k8c_xasprintf(
                        util ? "%s resource utilization (percentage of request)" : "%s resource", resource);
        return 0;
}

/* ---- sync ---- */

static void record(struct k8c_hpa_controller *c, const json_t *hpa, const char *type, const char *reason,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void record(struct k8c_hpa_controller *c, const json_t *hpa, const char *type, const char *reason,
                   const char *fmt, ...)
{
        if (c->rec == NULL)
                return;
        va_list ap;
        va_start(ap, fmt);
        cleanup_free char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        va_end(ap);
        cleanup_error k8c_error_t err = NULL;
        k8c_event_record(c->rec, hpa, type, reason, &err, "%s", msg);
}

static const char *plural_of(const char *kind)
{
        if (strcmp(kind, "Deployment") == 0)
                return "deployments";
        if (strcmp(kind, "ReplicaSet") == 0)
                return "replicasets";
        if (strcmp(kind, "StatefulSet") == 0)
                return "statefulsets";
        if (strcmp(kind, "ReplicationController") == 0)
                return "replicationcontrollers";
        return NULL;
}

static int write_status(struct k8c_hpa_controller *c, const json_t *hpa, json_t *status, k8c_error_t *err)
{
        if (json_equal(status, json_object_get(hpa, "status")))
                return 0;
        json_auto_t *obj = json_deep_copy(hpa);
        json_object_set(obj, "status", status);
        json_object_del(json_object_get(obj, "metadata"), "resourceVersion");
        cleanup_free char *path = k8c_ctrl_path("autoscaling/v2", "horizontalpodautoscalers",
                                                k8c_json_get_string(hpa, "metadata.namespace"),
                                                k8c_json_get_string(hpa, "metadata.name"));
        cleanup_free char *spath = k8c_xasprintf("%s/status", path);
        int r = c->ctl.update(c->ctl.opaque, spath, obj, err);
        if (r < 0 && k8c_error_reason(err) == K8C_ENOTFOUND) {
                k8c_error_release(err);
                return 0;
        }
        return r;
}

/* The pods of ns (cache) matching the scale's status.selector. */
static json_t *target_pods(struct k8c_hpa_controller *c, const char *ns, const char *selector,
                           k8c_error_t *err)
{
        struct k8c_selector sel = { 0 };
        if (k8c_selector_parse(selector, &sel, err) < 0)
                return NULL;
        json_auto_t *all = k8c_informer_by_index(c->pods, "namespace", ns);
        json_t *out = json_array();
        size_t i;
        json_t *p;
        json_array_foreach(all, i, p)
        {
                if (k8c_selector_matches(&sel, k8c_json_get(p, "metadata.labels")))
                        json_array_append(out, p);
        }
        k8c_selector_free(&sel);
        return out;
}

static int reconcile(struct k8c_hpa_controller *c, const char *key, const json_t *hpa, json_t *status,
                     k8c_error_t *err)
{
        const char *ns = k8c_json_get_string(hpa, "metadata.namespace");
        const json_t *spec = json_object_get(hpa, "spec");
        const char *kind = k8c_json_get_string(spec, "scaleTargetRef.kind") ?: "";
        const char *tname = k8c_json_get_string(spec, "scaleTargetRef.name") ?: "";
        const char *api = k8c_json_get_string(spec, "scaleTargetRef.apiVersion") ?: "apps/v1";
        const char *plural = plural_of(kind);
        int64_t now = now_ms(c);
        json_auto_t *scale = NULL;
        cleanup_free char *spath = NULL;
        if (plural != NULL) {
                cleanup_free char *base = k8c_ctrl_path(api, plural, ns, tname);
                spath = k8c_xasprintf("%s/scale", base);
        }
        if (spath == NULL || c->ctl.get(c->ctl.opaque, spath, &scale, err) < 0) {
                if (spath == NULL)
                        k8c_make_error(err, K8C_EINVALID, "no scale subresource known for kind %s", kind);
                const char *msg = k8c_error_msg(err);
                record(c, hpa, "Warning", "FailedGetScale", "%s", msg);
                set_condition(status, "AbleToScale", "False", "FailedGetScale",
                              "the HPA controller was unable to get the target's current scale: %s", msg);
                return -1;
        }
        set_condition(status, "AbleToScale", "True", "SucceededGetScale",
                      "the HPA controller was able to get the target's current scale");
        int64_t current = k8c_json_get_int(scale, "spec.replicas", 0);
        int64_t min = k8c_json_get_int(spec, "minReplicas", 1);
        int64_t max = k8c_json_get_int(spec, "maxReplicas", 1);
        const json_t *behavior = json_object_get(spec, "behavior");
        if (json_is_null(behavior))
                behavior = NULL;
        pthread_mutex_lock(&c->lock);
        record_initial(c, key, current, now);
        pthread_mutex_unlock(&c->lock);
        int64_t desired = 0;
        const char *reason = "";
        cleanup_free char *reason_buf = NULL;
        json_auto_t *statuses = json_array();
        bool rescale = true;
        int ret = 0;
        if (current == 0 && min != 0) {
                rescale = false;
                set_condition(status, "ScalingActive", "False", "ScalingDisabled",
                              "scaling is disabled since the replica count of the target is zero");
        } else if (current > max) {
                reason = "Current number of replicas above Spec.MaxReplicas";
                desired = max;
        } else if (current < min) {
                reason = "Current number of replicas below Spec.MinReplicas";
                desired = min;
        } else {
                /* computeReplicasForMetrics */
                const char *selector = k8c_json_get_string(scale, "status.selector") ?: "";
                json_auto_t *pods = target_pods(c, ns, selector, err);
                if (pods == NULL)
                        return -1;
                json_auto_t *mlist = NULL;
                cleanup_error k8c_error_t merr = NULL;
                if (c->metrics.pod_metrics(c->metrics.opaque, ns, selector, &mlist, &merr) < 0)
                        mlist = NULL;
                int64_t best = -1;
                cleanup_free char *best_name = NULL;
                const char *fail_reason = NULL;
                cleanup_free char *fail_msg = NULL;
                size_t invalid = 0, i;
                json_t *m;
                const json_t *specs = json_object_get(spec, "metrics");
                json_array_foreach(specs, i, m)
                {
                        int64_t prop = 0;
                        json_t *st = NULL;
                        char *name = NULL;
                        const char *fr = NULL;
                        cleanup_error k8c_error_t e = NULL;
                        if (mlist == NULL && merr != NULL) {
                                fr = "FailedGetResourceMetric";
                                k8c_make_error(&e, K8C_EUNAVAILABLE, "unable to get metrics: %s",
                                               k8c_error_msg(&merr));
                        } else if (metric_replicas(c, hpa, m, pods, mlist, current, &prop, &st, &name, &fr,
                                                   &e) == 0) {
                                json_array_append_new(statuses, st);
                                if (prop > best) {
                                        best = prop;
                                        free(best_name);
                                        best_name = name;
                                } else {
                                        free(name);
                                }
                                continue;
                        }
                        invalid++;
                        record(c, hpa, "Warning", fr, "%s", k8c_error_msg(&e));
                        fail_reason = fr;
                        free(fail_msg);
                        fail_msg = k8c_xstrdup(k8c_error_msg(&e));
                }
                size_t nmetrics = json_array_size(specs);
                if (nmetrics == 0 || invalid == nmetrics || (invalid > 0 && best < current)) {
                        set_condition(status, "ScalingActive", "False",
                                      fail_reason ?: "InvalidMetricSourceType",
                                      "the HPA was unable to compute the replica count: %s",
                                      fail_msg ?: "no metrics configured");
                        json_object_set_new(status, "currentReplicas", json_integer(current));
                        json_object_set(status, "currentMetrics", statuses);
                        record(c, hpa, "Warning", "FailedComputeMetricsReplicas",
                               "invalid metrics (%zu invalid out of %zu), first error is: %s", invalid,
                               nmetrics, fail_msg ?: "no metrics configured");
                        return k8c_make_error(
                                err, K8C_EUNAVAILABLE,
                                "failed to compute desired number of replicas based on listed metrics "
                                "for %s/%s/%s: %s",
                                kind, ns, tname, fail_msg ?: "no metrics configured");
                }
                set_condition(status, "ScalingActive", "True", "ValidMetricFound",
                              "the HPA was able to successfully calculate a replica count from %s",
                              best_name);
                if (invalid > 0)
                        ret = k8c_make_error(err, K8C_EUNAVAILABLE, "%s", fail_msg);
                desired = best;
                if (desired > current)
                        reason = reason_buf = k8c_xasprintf("%s above target", best_name);
                else if (desired < current)
                        reason = "All metrics below target";
                const char *lr, *lm;
                pthread_mutex_lock(&c->lock);
                int64_t stab;
                if (behavior == NULL) {
                        stab = stabilize(c, key, desired, now);
                        if (stab != desired)
                                set_condition(
                                        status, "AbleToScale", "True", "ScaleDownStabilized",
                                        "recent recommendations were higher than current one, applying the "
                                        "highest recent recommendation");
                        else
                                set_condition(status, "AbleToScale", "True", "ReadyForNewScale",
                                              "recommended size matches current size");
                        desired = clamp_rules(current, stab, min, max, &lr, &lm);
                } else {
                        const char *sr, *sm;
                        stab = stabilize_behavior(c, key, behavior, current, desired, now, &sr, &sm);
                        if (stab != desired)
                                set_condition(status, "AbleToScale", "True", sr, "%s", sm);
                        else
                                set_condition(status, "AbleToScale", "True", "ReadyForNewScale",
                                              "recommended size matches current size");
                        desired = clamp_behavior(c, key, behavior, current, stab, min, max, now, &lr, &lm);
                }
                pthread_mutex_unlock(&c->lock);
                set_condition(status, "ScalingLimited", desired == stab ? "False" : "True", lr, "%s", lm);
                rescale = desired != current;
        }
        if (rescale) {
                json_auto_t *obj = json_deep_copy(scale);
                json_object_set_new(k8c_json_object_ensure(obj, "spec"), "replicas", json_integer(desired));
                if (c->ctl.update(c->ctl.opaque, spath, obj, err) < 0) {
                        const char *msg = k8c_error_msg(err);
                        record(c, hpa, "Warning", "FailedRescale", "New size: %lld; reason: %s; error: %s",
                               (long long)desired, reason, msg);
                        set_condition(status, "AbleToScale", "False", "FailedUpdateScale",
                                      "the HPA controller was unable to update the target scale: %s", msg);
                        json_object_set_new(status, "currentReplicas", json_integer(current));
                        json_object_set(status, "currentMetrics", statuses);
                        return -1;
                }
                set_condition(status, "AbleToScale", "True", "SucceededRescale",
                              "the HPA controller was able to update the target scale to %lld",
                              (long long)desired);
                record(c, hpa, "Normal", "SuccessfulRescale", "New size: %lld; reason: %s",
                       (long long)desired, reason);
                pthread_mutex_lock(&c->lock);
                store_scale_event(c, key, behavior, current, desired, now);
                pthread_mutex_unlock(&c->lock);
                char ts[32];
                k8c_rfc3339(time(NULL), ts, sizeof(ts));
                json_object_set_new(status, "lastScaleTime", json_string(ts));
        } else {
                desired = current;
        }
        json_object_set_new(status, "currentReplicas", json_integer(current));
        json_object_set_new(status, "desiredReplicas", json_integer(desired));
        if (json_array_size(statuses) > 0)
                json_object_set(status, "currentMetrics", statuses);
        else
                json_object_del(status, "currentMetrics");
        return ret;
}

int k8c_hpa_controller_sync(struct k8c_hpa_controller *c, const char *key, k8c_error_t *err)
{
        json_auto_t *hpa = k8c_informer_get(c->hpas, key);
        if (hpa == NULL || k8c_json_get(hpa, "metadata.deletionTimestamp") != NULL)
                return 0;
        /* Every HPA is looked at again after the sync period, whatever happens now. */
        k8c_workqueue_add_after(c->queue, key, c->cfg.sync_period_ms);
        const json_t *old = json_object_get(hpa, "status");
        json_auto_t *status = json_is_object(old) ? json_deep_copy(old) : json_object();
        json_object_set_new(status, "observedGeneration",
                            json_integer(k8c_json_get_int(hpa, "metadata.generation", 0)));
        int r = reconcile(c, key, hpa, status, err);
        cleanup_error k8c_error_t werr = NULL;
        if (write_status(c, hpa, status, &werr) < 0 && r >= 0)
                return k8c_make_error(err, k8c_error_reason(&werr), "status: %s", k8c_error_msg(&werr));
        return r;
}

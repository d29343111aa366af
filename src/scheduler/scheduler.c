/*
 * scheduler.c - the k8c-scheduler daemon: informers feed the node cache and
 * the scheduling queue; one scheduling loop takes pods one at a time
 * (snapshot → plugins → assume), so decisions are serial and never
 * overcommit; a small pool of API writers binds pods and reports failures
 * (PodScheduled condition, Events) so slow API calls never stall decisions.
 * The loop keeps one snapshot and brings it up to date before each decision
 * (only changed nodes are touched), and large clusters are sampled
 * (percentageOfNodesToScore), so a decision costs about the same at 5,000
 * nodes as at 500.
 * It also serves /healthz, /readyz, /metrics and /debug/pending.
 *
 * It owns no scheduling policy (framework.c and plugins/ do) and logs each
 * error once, here.
 */
#include "k8c/scheduler.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/events.h"
#include "k8c/informer.h"
#include "k8c/json.h"
#include "k8c/leader.h"
#include "k8c/log.h"
#include "k8c/sdnotify.h"
#include "k8c/names.h"
#include "k8c/yaml.h"
#include "scheduler/cache.h"
#include "scheduler/framework.h"
#include "scheduler/queue.h"

enum job_type { JOB_BIND, JOB_FAILED, JOB_SCHEDULED_EVENT };

/* "Scheduled" Events are sent by their own thread, after the bindings, as Kubernetes' event
 * broadcaster does: an Event is one more API write per pod, and a burst of bindings must not
 * wait behind them. While bindings are queued an Event waits (up to EVENTS_YIELD_MS), so the
 * apiserver's write capacity goes to bindings first. Beyond MAX_QUEUED_EVENTS queued, new ones
 * are dropped (counted); at shutdown the queue gets EVENTS_DRAIN_MS to empty. */
#define MAX_QUEUED_EVENTS 20000
#define EVENTS_YIELD_MS 10000
#define EVENTS_DRAIN_MS 2000

struct job {
        struct job *next;
        enum job_type type;
        json_t *pod;
        char *key;
        char *node;
        int64_t assumed_us; /* JOB_BIND: when the pod was assumed; events: when queued */
        char *reason;       /* JOB_FAILED: "Unschedulable" or "SchedulerError" */
        char *message;      /* JOB_FAILED */
};

struct sched {
        const struct k8c_scheduler_config *cfg;
        struct k8c_client *client;
        struct k8c_sched_profile profile;
        struct k8c_sched_cache *cache;
        struct k8c_sched_queue *queue;
        struct k8c_event_recorder *recorder;
        struct k8c_informer *pods, *nodes, *services, *replicasets;
        struct k8c_leader *leader;
        atomic_bool leading, lost_leadership, ready;

        pthread_mutex_t jobs_lock;
        pthread_cond_t jobs_cond;
        struct job *jobs_head, *jobs_tail;
        bool jobs_stop;
        pthread_t *workers;
        int nworkers;
        pthread_cond_t events_cond;
        struct job *events_head, *events_tail;
        size_t nevents;
        int64_t events_deadline_us; /* set at shutdown */
        bool workers_done;          /* no more events will be pushed */
        pthread_t event_thread;
        bool event_thread_started;
        atomic_uint_fast64_t events_dropped;

        struct MHD_Daemon *http;
        unsigned int rand_state;

        atomic_uint_fast64_t scheduled, unschedulable, errors, bind_errors;
        atomic_uint_fast64_t attempt_us_sum, attempt_count;
        /* Bindings: the POST alone, and from the decision until the binding is stored. */
        atomic_uint_fast64_t bind_us_sum, bind_count, bound_us_sum;
        atomic_uint_fast64_t bind_buckets[24], bound_buckets[24];

        /* Owned by the scheduling loop. */
        struct k8c_sched_snapshot *snap;
        size_t next_start;
        /* Services and ReplicaSets for SelectorSpread: listed again only after they changed. */
        atomic_uint_fast64_t spread_objs_gen;
        uint64_t spread_lists_gen;
        json_t *services_list, *rss_list;
};

/* Histogram bucket bounds (seconds) of the binding metrics; the last bucket is +Inf. */
static const double latency_buckets[23] = { 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02,
                                            0.03,   0.05,  0.075, 0.1,   0.2,   0.3,    0.5,  1,
                                            2,      3,     4,     5,     7.5,   10,     30 };

static void observe(atomic_uint_fast64_t *buckets, int64_t us)
{
        size_t b = 0;
        while (b < K8C_ARRAY_SIZE(latency_buckets) && (double)us / 1e6 > latency_buckets[b])
                b++;
        atomic_fetch_add(&buckets[b], 1);
}

/* ---- helpers ---- */

static const char *pod_str(const json_t *pod, const char *path)
{
        const char *s = k8c_json_get_string(pod, path);
        return s != NULL ? s : "";
}

static bool finished(const json_t *pod)
{
        const char *phase = pod_str(pod, "status.phase");
        return strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
}

static bool bound(const json_t *pod)
{
        return pod_str(pod, "spec.nodeName")[0] != '\0';
}

static bool terminating(const json_t *pod)
{
        json_t *d = k8c_json_get(pod, "metadata.deletionTimestamp");
        return d != NULL && !json_is_null(d);
}

/* Pending pods of this scheduler (an absent schedulerName is the default one, as API defaulting). */
static bool responsible(struct sched *s, const json_t *pod)
{
        const char *name = k8c_json_get_string(pod, "spec.schedulerName");
        if (name == NULL || name[0] == '\0')
                name = "default-scheduler";
        return strcmp(name, s->profile.scheduler_name) == 0 && !bound(pod) && !finished(pod) &&
               !terminating(pod);
}

static int64_t mono_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- informer handlers: only update the cache and the queue ---- */

/* json_equal() calls two absent values different. */
static bool same_json(const json_t *a, const json_t *b)
{
        return (a == NULL && b == NULL) || json_equal(a, b);
}

static void pod_add(void *opaque, json_t *pod)
{
        struct sched *s = opaque;
        cleanup_free char *key = k8c_object_key(pod);
        if (key == NULL)
                return;
        if (bound(pod)) {
                k8c_sched_cache_upsert_pod(s->cache, pod);
                k8c_sched_queue_delete(s->queue, key);
        } else if (responsible(s, pod)) {
                k8c_sched_queue_add_or_update(s->queue, pod);
        }
}

static void pod_update(void *opaque, json_t *old_pod, json_t *pod)
{
        struct sched *s = opaque;
        cleanup_free char *key = k8c_object_key(pod);
        if (key == NULL)
                return;
        if (bound(pod)) {
                k8c_sched_cache_upsert_pod(s->cache, pod);
                k8c_sched_queue_delete(s->queue, key);
                /* Finishing frees resources; new labels may change affinity or spreading. */
                bool labels_changed = !same_json(k8c_json_get(old_pod, "metadata.labels"),
                                                 k8c_json_get(pod, "metadata.labels"));
                if ((finished(pod) && !finished(old_pod)) || labels_changed)
                        k8c_sched_queue_move_all(s->queue);
        } else if (responsible(s, pod)) {
                k8c_sched_queue_add_or_update(s->queue, pod);
        } else {
                k8c_sched_queue_delete(s->queue, key);
        }
}

static void pod_delete(void *opaque, json_t *pod)
{
        struct sched *s = opaque;
        cleanup_free char *key = k8c_object_key(pod);
        if (key == NULL)
                return;
        k8c_sched_queue_delete(s->queue, key);
        k8c_sched_cache_delete_pod(s->cache, key);
        if (bound(pod))
                k8c_sched_queue_move_all(s->queue);
}

static void node_add(void *opaque, json_t *node)
{
        struct sched *s = opaque;
        k8c_sched_cache_upsert_node(s->cache, node);
        k8c_sched_queue_move_all(s->queue);
}

static const char *ready_status(const json_t *node)
{
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(node, "status.conditions"), i, c)
        {
                if (strcmp(pod_str(c, "type"), "Ready") == 0)
                        return pod_str(c, "status");
        }
        return "";
}

static void node_update(void *opaque, json_t *old_node, json_t *node)
{
        struct sched *s = opaque;
        k8c_sched_cache_upsert_node(s->cache, node);
        /* Heartbeats change only timestamps: move pods only on changes that can make them fit. */
        if (!same_json(k8c_json_get(old_node, "spec"), k8c_json_get(node, "spec")) ||
            !same_json(k8c_json_get(old_node, "metadata.labels"), k8c_json_get(node, "metadata.labels")) ||
            !same_json(k8c_json_get(old_node, "status.allocatable"),
                       k8c_json_get(node, "status.allocatable")) ||
            strcmp(ready_status(old_node), ready_status(node)) != 0)
                k8c_sched_queue_move_all(s->queue);
}

/* Services and ReplicaSets: only note that the lists SelectorSpread reads changed. */
static void spread_obj_add(void *opaque, json_t *obj)
{
        struct sched *s = opaque;
        atomic_fetch_add(&s->spread_objs_gen, 1);
}

static void spread_obj_update(void *opaque, json_t *old_obj, json_t *obj)
{
        if (old_obj != obj)
                spread_obj_add(opaque, obj);
}

static void node_delete(void *opaque, json_t *node)
{
        struct sched *s = opaque;
        const char *name = k8c_json_get_string(node, "metadata.name");
        if (name != NULL)
                k8c_sched_cache_delete_node(s->cache, name);
}

/* ---- API writers ---- */

static void job_free(struct job *j)
{
        if (j == NULL)
                return;
        json_decref(j->pod);
        free(j->key);
        free(j->node);
        free(j->reason);
        free(j->message);
        free(j);
}

static void event_push(struct sched *s, struct job *j)
{
        pthread_mutex_lock(&s->jobs_lock);
        if (s->nevents >= MAX_QUEUED_EVENTS) {
                pthread_mutex_unlock(&s->jobs_lock);
                atomic_fetch_add(&s->events_dropped, 1);
                job_free(j);
                return;
        }
        if (s->events_tail != NULL)
                s->events_tail->next = j;
        else
                s->events_head = j;
        s->events_tail = j;
        s->nevents++;
        pthread_cond_signal(&s->events_cond);
        pthread_mutex_unlock(&s->jobs_lock);
}

static void job_push(struct sched *s, struct job *j)
{
        pthread_mutex_lock(&s->jobs_lock);
        if (s->jobs_tail != NULL)
                s->jobs_tail->next = j;
        else
                s->jobs_head = j;
        s->jobs_tail = j;
        pthread_cond_signal(&s->jobs_cond);
        pthread_mutex_unlock(&s->jobs_lock);
}

/* PodScheduled=False with reason and message, as a merge patch of the whole conditions list
 * (other conditions kept), skipped when nothing would change. */
static int update_condition(struct sched *s, const json_t *pod, const char *reason, const char *message,
                            k8c_error_t *err)
{
        json_t *conds = k8c_json_get(pod, "status.conditions");
        json_auto_t *out = json_array();
        char now[32];
        k8c_rfc3339(time(NULL), now, sizeof(now));
        json_auto_t *cond =
                json_pack("{s:s, s:s, s:n, s:s, s:s, s:s}", "type", "PodScheduled", "status", "False",
                          "lastProbeTime", "lastTransitionTime", now, "reason", reason, "message", message);
        size_t i;
        json_t *c;
        json_array_foreach(conds, i, c)
        {
                if (strcmp(pod_str(c, "type"), "PodScheduled") != 0) {
                        json_array_append(out, c);
                        continue;
                }
                if (strcmp(pod_str(c, "status"), "False") == 0 && strcmp(pod_str(c, "reason"), reason) == 0 &&
                    strcmp(pod_str(c, "message"), message) == 0)
                        return 0;
                if (strcmp(pod_str(c, "status"), "False") == 0 &&
                    json_is_string(json_object_get(c, "lastTransitionTime")))
                        json_object_set(cond, "lastTransitionTime", json_object_get(c, "lastTransitionTime"));
        }
        json_array_append(out, cond);
        json_auto_t *patch = json_pack("{s:{s:O}}", "status", "conditions", out);
        cleanup_free char *path =
                k8c_xasprintf("/api/v1/namespaces/%s/pods/%s/status", pod_str(pod, "metadata.namespace"),
                              pod_str(pod, "metadata.name"));
        return k8c_client_patch(s->client, path, "application/merge-patch+json", patch, NULL, err);
}

static void do_bind(struct sched *s, struct job *j)
{
        cleanup_error k8c_error_t err = NULL;
        const char *ns = pod_str(j->pod, "metadata.namespace"), *name = pod_str(j->pod, "metadata.name");
        json_auto_t *binding = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "kind", "Binding",
                                         "apiVersion", "v1", "metadata", "name", name, "namespace", ns,
                                         "target", "kind", "Node", "name", j->node);
        const char *uid = k8c_json_get_string(j->pod, "metadata.uid");
        if (uid != NULL)
                json_object_set_new(json_object_get(binding, "metadata"), "uid", json_string(uid));
        cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/%s/pods/%s/binding", ns, name);
        int64_t t0 = mono_us();
        int r = k8c_client_post(s->client, path, binding, NULL, &err);
        int64_t t1 = mono_us();
        if (r >= 0) {
                atomic_fetch_add(&s->bind_us_sum, (uint64_t)(t1 - t0));
                atomic_fetch_add(&s->bound_us_sum, (uint64_t)(t1 - j->assumed_us));
                atomic_fetch_add(&s->bind_count, 1);
                observe(s->bind_buckets, t1 - t0);
                observe(s->bound_buckets, t1 - j->assumed_us);
        }
        if (r < 0) {
                atomic_fetch_add(&s->bind_errors, 1);
                k8c_log_error("binding failed", "pod=%s node=%s err=\"%s\"", j->key, j->node,
                              k8c_error_msg(&err));
                /* Give the node back: the pod was counted there only by assumption. */
                k8c_sched_cache_forget(s->cache, j->key);
                cleanup_free char *msg = k8c_xasprintf("Binding rejected: %s", k8c_error_msg(&err));
                k8c_sched_queue_failed(s->queue, j->key, false, msg, NULL);
                k8c_sched_queue_move_all(s->queue);
                cleanup_error k8c_error_t eerr = NULL;
                if (k8c_event_record(s->recorder, j->pod, "Warning", "FailedScheduling", &eerr, "%s", msg) <
                    0)
                        k8c_log_warn("recording event failed", "pod=%s err=\"%s\"", j->key,
                                     k8c_error_msg(&eerr));
                return;
        }
        k8c_sched_queue_done(s->queue, j->key);
        atomic_fetch_add(&s->scheduled, 1);
        k8c_logv(2, "bound pod", "pod=%s node=%s", j->key, j->node);
        struct job *ev = k8c_xcalloc(1, sizeof(*ev));
        ev->type = JOB_SCHEDULED_EVENT;
        ev->pod = json_incref(j->pod);
        ev->key = k8c_xstrdup(j->key);
        ev->node = k8c_xstrdup(j->node);
        ev->assumed_us = mono_us();
        event_push(s, ev);
}

static void do_scheduled_event(struct sched *s, struct job *j)
{
        cleanup_error k8c_error_t err = NULL;
        if (k8c_event_record(s->recorder, j->pod, "Normal", "Scheduled", &err,
                             "Successfully assigned %s/%s to %s", pod_str(j->pod, "metadata.namespace"),
                             pod_str(j->pod, "metadata.name"), j->node) < 0)
                k8c_log_warn("recording event failed", "pod=%s err=\"%s\"", j->key, k8c_error_msg(&err));
}

static void *event_worker(void *arg)
{
        struct sched *s = arg;
        for (;;) {
                pthread_mutex_lock(&s->jobs_lock);
                while (s->events_head == NULL && !s->workers_done)
                        pthread_cond_wait(&s->events_cond, &s->jobs_lock);
                /* Bindings first: wait while some are queued, for a bounded time. */
                while (s->events_head != NULL && s->jobs_head != NULL && !s->jobs_stop &&
                       mono_us() - s->events_head->assumed_us < EVENTS_YIELD_MS * 1000) {
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_nsec += 50 * 1000 * 1000;
                        if (ts.tv_nsec >= 1000000000) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000000000;
                        }
                        pthread_cond_timedwait(&s->events_cond, &s->jobs_lock, &ts);
                }
                struct job *j = s->events_head;
                if (j == NULL || (s->jobs_stop && mono_us() > s->events_deadline_us)) {
                        size_t left = s->nevents;
                        pthread_mutex_unlock(&s->jobs_lock);
                        if (left > 0)
                                k8c_log_warn("dropping events at shutdown", "count=%zu", left);
                        return NULL;
                }
                s->events_head = j->next;
                if (s->events_head == NULL)
                        s->events_tail = NULL;
                s->nevents--;
                pthread_mutex_unlock(&s->jobs_lock);
                do_scheduled_event(s, j);
                job_free(j);
        }
}

static void do_failed(struct sched *s, struct job *j)
{
        cleanup_error k8c_error_t err = NULL;
        /* The latest version of the pod: its conditions decide whether a write is needed. */
        json_auto_t *cur = k8c_informer_get(s->pods, j->key);
        if (cur == NULL || bound(cur))
                return;
        if (update_condition(s, cur, j->reason, j->message, &err) < 0) {
                if (k8c_error_reason(&err) != K8C_ENOTFOUND)
                        k8c_log_error("updating pod condition failed", "pod=%s err=\"%s\"", j->key,
                                      k8c_error_msg(&err));
                k8c_error_release(&err);
        }
        if (k8c_event_record(s->recorder, cur, "Warning", "FailedScheduling", &err, "%s", j->message) < 0)
                k8c_log_warn("recording event failed", "pod=%s err=\"%s\"", j->key, k8c_error_msg(&err));
}

static void *worker(void *arg)
{
        struct sched *s = arg;
        for (;;) {
                pthread_mutex_lock(&s->jobs_lock);
                while (s->jobs_head == NULL && !s->jobs_stop)
                        pthread_cond_wait(&s->jobs_cond, &s->jobs_lock);
                struct job *j = s->jobs_head;
                if (j == NULL) {
                        pthread_mutex_unlock(&s->jobs_lock);
                        return NULL;
                }
                s->jobs_head = j->next;
                if (s->jobs_head == NULL) {
                        s->jobs_tail = NULL;
                        pthread_cond_signal(&s->events_cond); /* events may go now */
                }
                pthread_mutex_unlock(&s->jobs_lock);
                if (j->type == JOB_BIND)
                        do_bind(s, j);
                else
                        do_failed(s, j);
                job_free(j);
        }
}

/* ---- the scheduling loop ---- */

static uint32_t rnd(void *opaque)
{
        return (uint32_t)rand_r(opaque);
}

static char *diag_text(const struct k8c_sched_result *r)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        for (size_t i = 0; i < r->ndiag; i++) {
                fprintf(f, "%s: %s:", r->diag[i].node, r->diag[i].plugin);
                for (size_t j = 0; j < r->diag[i].nreasons; j++)
                        fprintf(f, "%s %s", j ? "," : "", r->diag[i].reasons[j]);
                fputc('\n', f);
        }
        fclose(f);
        return buf;
}

static void refresh_spread_lists(struct sched *s)
{
        uint64_t gen = atomic_load(&s->spread_objs_gen);
        if (s->services_list != NULL && gen == s->spread_lists_gen)
                return;
        json_decref(s->services_list);
        json_decref(s->rss_list);
        s->services_list = k8c_informer_list(s->services);
        s->rss_list = k8c_informer_list(s->replicasets);
        s->spread_lists_gen = gen;
}

static void schedule_one(struct sched *s, json_t *queued, struct k8c_sched_podinfo *queued_info)
{
        cleanup_free char *key = k8c_object_key(queued);
        /* The queue may hold an older version: decide on the informer's latest. */
        json_auto_t *pod = k8c_informer_get(s->pods, key);
        cleanup_free char *counted_on = k8c_sched_cache_pod_node(s->cache, key);
        if (pod == NULL || !responsible(s, pod) || counted_on != NULL) {
                k8c_sched_queue_done(s->queue, key);
                return;
        }
        int64_t t0 = mono_us();
        /* The view parsed at enqueue time, unless the pod changed since. */
        struct k8c_sched_podinfo *pi = queued_info != NULL && queued_info->pod == pod
                                               ? k8c_sched_podinfo_ref(queued_info)
                                               : k8c_sched_podinfo_new(pod);
        refresh_spread_lists(s);
        k8c_sched_cache_update_snapshot(s->cache, s->snap, s->services_list, s->rss_list);
        struct k8c_sched_result r;
        k8c_sched_schedule_sampled(&s->profile, s->snap, pi, rnd, &s->rand_state, &s->next_start, &r);
        int64_t t1 = mono_us();
        atomic_fetch_add(&s->attempt_us_sum, (uint64_t)(t1 - t0));
        atomic_fetch_add(&s->attempt_count, 1);

        if (r.code == K8C_SCHED_OK) {
                cleanup_error k8c_error_t err = NULL;
                if (k8c_sched_cache_assume_podinfo(s->cache, pi, r.node, &err) < 0) {
                        k8c_log_error("assume failed", "pod=%s err=\"%s\"", key, k8c_error_msg(&err));
                        k8c_sched_queue_failed(s->queue, key, false, k8c_error_msg(&err), NULL);
                } else {
                        struct job *j = k8c_xcalloc(1, sizeof(*j));
                        j->type = JOB_BIND;
                        j->pod = json_incref(pod);
                        j->key = k8c_xstrdup(key);
                        j->node = k8c_xstrdup(r.node);
                        j->assumed_us = t1;
                        job_push(s, j);
                }
        } else {
                bool unsched = r.code == K8C_SCHED_UNSCHEDULABLE;
                atomic_fetch_add(unsched ? &s->unschedulable : &s->errors, 1);
                cleanup_free char *detail = diag_text(&r);
                k8c_logv(2, "pod unschedulable", "pod=%s msg=\"%s\"", key, r.message);
                k8c_sched_queue_failed(s->queue, key, unsched, r.message, detail);
                struct job *j = k8c_xcalloc(1, sizeof(*j));
                j->type = JOB_FAILED;
                j->pod = json_incref(pod);
                j->key = k8c_xstrdup(key);
                j->reason = k8c_xstrdup(unsched ? "Unschedulable" : "SchedulerError");
                j->message = k8c_xstrdup(r.message);
                job_push(s, j);
        }
        /* r.diag[].node points into the snapshot's node infos: the result is used before the
         * snapshot is next updated (the next decision). */
        k8c_sched_result_free(&r);
        k8c_sched_podinfo_unref(pi);
}

/* ---- HTTP: health, metrics, pending ---- */

static void visit_pending(void *opaque, const char *key, k8c_sched_qstate_t st, int attempts,
                          const char *message, const char *detail)
{
        FILE *f = opaque;
        fprintf(f, "%s queue=%s attempts=%d\n", key, k8c_sched_qstate_string(st), attempts);
        if (message != NULL)
                fprintf(f, "  message: %s\n", message);
        if (detail != NULL) {
                const char *p = detail;
                while (*p != '\0') {
                        const char *nl = strchr(p, '\n');
                        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
                        fprintf(f, "  %.*s\n", (int)n, p);
                        p += n + (nl != NULL);
                }
        }
}

static char *render(struct sched *s, const char *url, int *ret_code)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        *ret_code = 200;
        if (strcmp(url, "/healthz") == 0 || strcmp(url, "/livez") == 0) {
                fputs("ok", f);
        } else if (strcmp(url, "/readyz") == 0) {
                if (atomic_load(&s->ready)) {
                        fputs("ok", f);
                } else {
                        *ret_code = 503;
                        fputs("informers not synced", f);
                }
        } else if (strcmp(url, "/metrics") == 0) {
                struct k8c_sched_queue_stats st;
                k8c_sched_queue_stats(s->queue, &st);
                const char *p = s->profile.scheduler_name;
                fprintf(f, "# HELP scheduler_schedule_attempts_total Number of attempts to schedule pods, by "
                           "result.\n"
                           "# TYPE scheduler_schedule_attempts_total counter\n");
                fprintf(f, "scheduler_schedule_attempts_total{profile=\"%s\",result=\"scheduled\"} %lu\n", p,
                        (unsigned long)atomic_load(&s->scheduled));
                fprintf(f, "scheduler_schedule_attempts_total{profile=\"%s\",result=\"unschedulable\"} %lu\n",
                        p, (unsigned long)atomic_load(&s->unschedulable));
                fprintf(f, "scheduler_schedule_attempts_total{profile=\"%s\",result=\"error\"} %lu\n", p,
                        (unsigned long)(atomic_load(&s->errors) + atomic_load(&s->bind_errors)));
                fprintf(f, "# HELP scheduler_pending_pods Number of pending pods, by the queue type.\n"
                           "# TYPE scheduler_pending_pods gauge\n");
                fprintf(f, "scheduler_pending_pods{queue=\"active\"} %zu\n", st.active);
                fprintf(f, "scheduler_pending_pods{queue=\"backoff\"} %zu\n", st.backoff);
                fprintf(f, "scheduler_pending_pods{queue=\"unschedulable\"} %zu\n", st.unschedulable);
                fprintf(f, "# HELP scheduler_scheduling_algorithm_duration_seconds Scheduling algorithm "
                           "latency.\n"
                           "# TYPE scheduler_scheduling_algorithm_duration_seconds summary\n");
                fprintf(f, "scheduler_scheduling_algorithm_duration_seconds_sum %.6f\n",
                        (double)atomic_load(&s->attempt_us_sum) / 1e6);
                fprintf(f, "scheduler_scheduling_algorithm_duration_seconds_count %lu\n",
                        (unsigned long)atomic_load(&s->attempt_count));
                const struct {
                        const char *name, *help;
                        atomic_uint_fast64_t *buckets, *sum;
                } hs[] = {
                        { "scheduler_binding_duration_seconds", "Binding API call latency.", s->bind_buckets,
                          &s->bind_us_sum },
                        { "scheduler_decision_to_bound_duration_seconds",
                          "From the scheduling decision until the binding is stored.", s->bound_buckets,
                          &s->bound_us_sum },
                };
                fprintf(f,
                        "# HELP scheduler_events_dropped_total Scheduled events dropped because too many "
                        "were queued.\n# TYPE scheduler_events_dropped_total counter\n"
                        "scheduler_events_dropped_total %lu\n",
                        (unsigned long)atomic_load(&s->events_dropped));
                for (size_t h = 0; h < K8C_ARRAY_SIZE(hs); h++) {
                        fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", hs[h].name, hs[h].help, hs[h].name);
                        uint64_t cum = 0;
                        for (size_t b = 0; b <= K8C_ARRAY_SIZE(latency_buckets); b++) {
                                cum += atomic_load(&hs[h].buckets[b]);
                                if (b < K8C_ARRAY_SIZE(latency_buckets))
                                        fprintf(f, "%s_bucket{le=\"%g\"} %lu\n", hs[h].name,
                                                latency_buckets[b], (unsigned long)cum);
                                else
                                        fprintf(f, "%s_bucket{le=\"+Inf\"} %lu\n", hs[h].name,
                                                (unsigned long)cum);
                        }
                        fprintf(f, "%s_sum %.6f\n%s_count %lu\n", hs[h].name,
                                (double)atomic_load(hs[h].sum) / 1e6, hs[h].name,
                                (unsigned long)atomic_load(&s->bind_count));
                }
                fprintf(f, "# TYPE scheduler_cache_size gauge\n");
                fprintf(f, "scheduler_cache_size{type=\"nodes\"} %zu\n", k8c_sched_cache_num_nodes(s->cache));
                fprintf(f, "scheduler_cache_size{type=\"pods\"} %zu\n", k8c_sched_cache_num_pods(s->cache));
                fprintf(f, "scheduler_cache_size{type=\"assumed_pods\"} %zu\n",
                        k8c_sched_cache_num_assumed(s->cache));
                fprintf(f, "# TYPE leader_election_master_status gauge\n");
                fprintf(f, "leader_election_master_status{name=\"%s\"} %d\n",
                        s->cfg->lock_name != NULL ? s->cfg->lock_name : "k8c-scheduler",
                        atomic_load(&s->leading) ? 1 : 0);
        } else if (strcmp(url, "/debug/pending") == 0) {
                k8c_sched_queue_visit(s->queue, visit_pending, f);
        } else {
                *ret_code = 404;
                fputs("404 page not found\n", f);
        }
        fclose(f);
        return buf;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls)
{
        struct sched *s = cls;
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
                return MHD_NO;
        int code = 200;
        char *body = render(s, url, &code);
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(resp, "Content-Type",
                                strcmp(url, "/metrics") == 0 ? "text/plain; version=0.0.4; charset=utf-8"
                                                             : "text/plain; charset=utf-8");
        enum MHD_Result r = MHD_queue_response(conn, (unsigned int)code, resp);
        MHD_destroy_response(resp);
        return r;
}

/* ---- lifecycle ---- */

static void on_started_leading(void *opaque)
{
        struct sched *s = opaque;
        atomic_store(&s->leading, true);
        k8c_log_info("started leading", NULL);
}

static void on_stopped_leading(void *opaque)
{
        struct sched *s = opaque;
        atomic_store(&s->leading, false);
        atomic_store(&s->lost_leadership, true);
}

static int load_profile(const struct k8c_scheduler_config *cfg, struct k8c_sched_profile *ret,
                        k8c_error_t *err)
{
        const char *name = cfg->scheduler_name != NULL ? cfg->scheduler_name : "default-scheduler";
        struct k8c_sched_profile p;
        if (cfg->config_file != NULL) {
                cleanup_fclose FILE *f = fopen(cfg->config_file, "re");
                if (f == NULL)
                        return k8c_make_errno(err, errno, "open %s", cfg->config_file);
                cleanup_free char *buf = NULL;
                size_t len = 0;
                FILE *m = open_memstream(&buf, &len);
                char chunk[4096];
                size_t n;
                while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                        fwrite(chunk, 1, n, m);
                fclose(m);
                json_auto_t *doc = NULL;
                if (k8c_yaml_to_json(buf, len, &doc, err) < 0)
                        return k8c_error_wrap(err, "%s", cfg->config_file);
                if (k8c_sched_profile_from_config(doc, name, &p, err) < 0)
                        return k8c_error_wrap(err, "%s", cfg->config_file);
        } else {
                k8c_sched_profile_default(&p);
                free(p.scheduler_name);
                p.scheduler_name = k8c_xstrdup(name);
        }
        if (cfg->scoring_strategy != NULL) {
                if (strcmp(cfg->scoring_strategy, "MostAllocated") == 0) {
                        p.strategy = K8C_SCHED_MOST_ALLOCATED;
                } else if (strcmp(cfg->scoring_strategy, "LeastAllocated") == 0) {
                        p.strategy = K8C_SCHED_LEAST_ALLOCATED;
                } else {
                        k8c_sched_profile_free(&p);
                        return k8c_make_error(
                                err, K8C_EUSAGE,
                                "--scoring-strategy must be MostAllocated or LeastAllocated, not %s",
                                cfg->scoring_strategy);
                }
        }
        *ret = p;
        return 0;
}

static struct k8c_informer *informer(struct sched *s, const char *path, const struct k8c_informer_handlers *h)
{
        struct k8c_informer_config ic = { .client = s->client, .path = path };
        struct k8c_informer *inf = k8c_informer_new(&ic);
        if (h != NULL)
                k8c_informer_add_handlers(inf, h);
        return inf;
}

static int start_http(struct sched *s, k8c_error_t *err)
{
        const struct k8c_scheduler_config *cfg = s->cfg;
        if (cfg->port < 0)
                return 0;
        struct sockaddr_in addr = { .sin_family = AF_INET,
                                    .sin_port = htons(cfg->port != 0 ? cfg->port : 10259) };
        const char *ba = cfg->bind_address != NULL ? cfg->bind_address : "127.0.0.1";
        if (inet_pton(AF_INET, ba, &addr.sin_addr) != 1)
                return k8c_make_error(err, K8C_EUSAGE, "--bind-address %s is not an IPv4 address", ba);
        s->http = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                                   NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                   MHD_OPTION_END);
        if (s->http == NULL)
                return k8c_make_error(err, K8C_EINTERNAL, "cannot serve on %s:%d", ba,
                                      cfg->port != 0 ? cfg->port : 10259);
        return 0;
}

static void *informer_free_thread(void *inf)
{
        k8c_informer_free(inf);
        return NULL;
}

int k8c_scheduler_run(const struct k8c_scheduler_config *cfg, k8c_error_t *err)
{
        struct sched *s = k8c_xcalloc(1, sizeof(*s));
        s->cfg = cfg;
        s->rand_state = (unsigned int)time(NULL) ^ (unsigned int)getpid();
        pthread_mutex_init(&s->jobs_lock, NULL);
        pthread_cond_init(&s->jobs_cond, NULL);
        pthread_cond_init(&s->events_cond, NULL);
        int r = load_profile(cfg, &s->profile, err);
        if (r < 0) {
                free(s);
                return r;
        }
        r = k8c_client_new_from_kubeconfig(cfg->kubeconfig, NULL, cfg->server, &s->client, err);
        if (r < 0)
                goto out;
        s->cache = k8c_sched_cache_new();
        struct k8c_sched_queue_opts qo = { .unschedulable_flush_ms = cfg->unschedulable_flush_ms };
        s->queue = k8c_sched_queue_new(&qo);
        char host[256] = "";
        gethostname(host, sizeof(host) - 1);
        s->recorder = k8c_event_recorder_new(s->client, s->profile.scheduler_name, host);

        struct k8c_informer_handlers ph = { pod_add, pod_update, pod_delete, s };
        struct k8c_informer_handlers nh = { node_add, node_update, node_delete, s };
        struct k8c_informer_handlers sh = { spread_obj_add, spread_obj_update, spread_obj_add, s };
        s->nodes = informer(s, "/api/v1/nodes", &nh);
        s->pods = informer(s, "/api/v1/pods", &ph);
        s->services = informer(s, "/api/v1/services", &sh);
        s->replicasets = informer(s, "/apis/apps/v1/replicasets", &sh);
        s->snap = k8c_sched_cache_snapshot(s->cache, NULL, NULL);

        r = start_http(s, err);
        if (r < 0)
                goto out;

        s->nworkers = cfg->bind_workers > 0 ? cfg->bind_workers : 8;
        s->workers = k8c_xcalloc((size_t)s->nworkers, sizeof(pthread_t));
        for (int i = 0; i < s->nworkers; i++)
                pthread_create(&s->workers[i], NULL, worker, s);
        pthread_create(&s->event_thread, NULL, event_worker, s);
        s->event_thread_started = true;

        if (cfg->leader_elect) {
                cleanup_free char *identity = k8c_xasprintf("%s_%d", host, (int)getpid());
                struct k8c_leader_config lc = {
                        .client = s->client,
                        .namespace_ = cfg->lock_namespace != NULL ? cfg->lock_namespace : "kube-system",
                        .name = cfg->lock_name != NULL ? cfg->lock_name : "k8c-scheduler",
                        .identity = identity,
                        .on_started_leading = on_started_leading,
                        .on_stopped_leading = on_stopped_leading,
                        .opaque = s,
                };
                r = k8c_leader_start(&lc, &s->leader, err);
                if (r < 0)
                        goto out;
        } else {
                atomic_store(&s->leading, true);
        }

        /* Informers start only once leading: a standby keeps no watches open. */
        while (!atomic_load(&s->leading) && !*cfg->stop)
                usleep(100 * 1000);
        if (*cfg->stop)
                goto out;
        struct k8c_informer *infs[] = { s->nodes, s->pods, s->services, s->replicasets };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(infs); i++) {
                r = k8c_informer_start(infs[i], err);
                if (r < 0)
                        goto out;
        }
        /* Nodes first, then bound pods: a decision must never run on a cache missing either. */
        while (!*cfg->stop && !(k8c_informer_has_synced(s->nodes) && k8c_informer_has_synced(s->pods)))
                usleep(50 * 1000);
        if (!*cfg->stop) {
                atomic_store(&s->ready, true);
                k8c_sd_notify("READY=1");
                k8c_watchdog_start(NULL, NULL);
                k8c_log_info("scheduler ready", "profile=%s nodes=%zu", s->profile.scheduler_name,
                             k8c_sched_cache_num_nodes(s->cache));
        }
        while (!*cfg->stop) {
                if (atomic_load(&s->lost_leadership)) {
                        r = k8c_make_error(err, K8C_EUNAVAILABLE, "leader election lost");
                        goto out;
                }
                json_t *pod = NULL;
                struct k8c_sched_podinfo *info = NULL;
                if (!k8c_sched_queue_pop_info(s->queue, 200, &pod, &info, NULL))
                        continue;
                schedule_one(s, pod, info);
                k8c_sched_podinfo_unref(info);
                json_decref(pod);
        }
        r = 0;
out:
        k8c_sd_notify("STOPPING=1");
        k8c_watchdog_stop();
        if (s->queue != NULL)
                k8c_sched_queue_shutdown(s->queue);
        /* Pending writes finish (bindings already decided are sent), then the workers exit. */
        pthread_mutex_lock(&s->jobs_lock);
        s->jobs_stop = true;
        s->events_deadline_us = mono_us() + EVENTS_DRAIN_MS * 1000;
        pthread_cond_broadcast(&s->jobs_cond);
        pthread_mutex_unlock(&s->jobs_lock);
        for (int i = 0; i < s->nworkers; i++)
                pthread_join(s->workers[i], NULL);
        free(s->workers);
        /* Then the events of those bindings, until the drain deadline. */
        pthread_mutex_lock(&s->jobs_lock);
        s->workers_done = true;
        pthread_cond_broadcast(&s->events_cond);
        pthread_mutex_unlock(&s->jobs_lock);
        if (s->event_thread_started)
                pthread_join(s->event_thread, NULL);
        for (struct job *j = s->events_head, *n; j != NULL; j = n) {
                n = j->next;
                job_free(j);
        }
        if (s->leader != NULL)
                k8c_leader_stop(s->leader);
        if (s->http != NULL)
                MHD_stop_daemon(s->http);
        /* Each informer takes up to a second to notice its stop flag: stop them side by side. */
        struct k8c_informer *all[] = { s->pods, s->nodes, s->services, s->replicasets };
        pthread_t stoppers[K8C_ARRAY_SIZE(all)];
        for (size_t i = 0; i < K8C_ARRAY_SIZE(all); i++)
                pthread_create(&stoppers[i], NULL, informer_free_thread, all[i]);
        for (size_t i = 0; i < K8C_ARRAY_SIZE(all); i++)
                pthread_join(stoppers[i], NULL);
        k8c_event_recorder_free(s->recorder);
        for (struct job *j = s->jobs_head, *n; j != NULL; j = n) {
                n = j->next;
                job_free(j);
        }
        k8c_sched_queue_free(s->queue);
        k8c_sched_snapshot_free(s->snap);
        json_decref(s->services_list);
        json_decref(s->rss_list);
        k8c_sched_cache_free(s->cache);
        k8c_client_free(s->client);
        k8c_sched_profile_free(&s->profile);
        pthread_mutex_destroy(&s->jobs_lock);
        pthread_cond_destroy(&s->jobs_cond);
        pthread_cond_destroy(&s->events_cond);
        free(s);
        return r;
}

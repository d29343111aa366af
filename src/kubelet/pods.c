/*
 * pods.c - the pod workers: the informer over pods with spec.nodeName = this
 * node only enqueues keys; workers take one key at a time (the queue never
 * hands a key to two workers, so pods are independent and each is handled by
 * one worker at a time) and reconcile the runtime with the pod: sandbox,
 * containers started and restarted by restartPolicy with back-off, status
 * written to pods/NAME/status only when it changed, and on deletion the
 * containers stopped with the grace period before the object is removed.
 *
 * Owns: the per-pod records (k->pods). Must not: write anything but the status
 * of pods bound to this node (and their final DELETE).
 */
#include <stdio.h>
#include <string.h>

#include <stdarg.h>

#include "k8c/cleanup.h"
#include "k8c/events.h"
#include "k8c/json.h"
#include "k8c/log.h"
#include "k8c/names.h"
#include "kubelet/kubelet_int.h"

/* How often configMap, secret and downwardAPI volumes are compared with their sources. */
#define K8C_KUBELET_VOLUME_REFRESH_S 10

/* Records an Event about the pod; failing to record is never fatal to the sync. */
static void __attribute__((format(printf, 5, 6)))
pod_event(struct k8c_kubelet *k, const json_t *pod, const char *type, const char *reason, const char *fmt,
          ...)
{
        if (k->events == NULL)
                return;
        va_list ap;
        va_start(ap, fmt);
        cleanup_free char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        va_end(ap);
        /* Watch and list items may lack kind/apiVersion; the reference needs them. */
        json_auto_t *ref = json_pack("{s:s, s:s, s:O}", "kind", "Pod", "apiVersion", "v1", "metadata",
                                     json_object_get(pod, "metadata"));
        cleanup_error k8c_error_t err = NULL;
        k8c_event_record(k->events, ref, type, reason, &err, "%s", msg);
}

static void enqueue(struct k8c_kubelet *k, const json_t *obj)
{
        cleanup_free char *key = k8c_object_key(obj);
        if (key != NULL)
                k8c_workqueue_add(k->queue, key);
}

static void on_add(void *opaque, json_t *obj)
{
        enqueue(opaque, obj);
}

static void on_update(void *opaque, json_t *old_obj, json_t *new_obj)
{
        enqueue(opaque, new_obj);
}

static void on_delete(void *opaque, json_t *obj)
{
        enqueue(opaque, obj);
}

const struct k8c_informer_handlers k8c_kubelet_pod_handlers = {
        .on_add = on_add,
        .on_update = on_update,
        .on_delete = on_delete,
};

static void record_free(struct kubelet_pod *rec)
{
        if (rec == NULL)
                return;
        for (size_t i = 0; i < rec->ncontainers; i++)
                free(rec->containers[i].name);
        free(rec->containers);
        for (size_t i = 0; i < rec->ninits; i++)
                free(rec->inits[i].name);
        free(rec->inits);
        free(rec->uid);
        free(rec->ip);
        free(rec->netns);
        json_decref(rec->volume_paths);
        json_decref(rec->pod);
        json_decref(rec->last_status);
        free(rec);
}

void k8c_kubelet_pods_free(struct k8c_kubelet *k)
{
        const char *key;
        void *v;
        for (size_t i = 0; k8c_strmap_next(&k->pods, &i, &key, &v);)
                record_free(v);
        k8c_strmap_clear(&k->pods);
        for (size_t i = 0; k8c_strmap_next(&k->deleted, &i, &key, &v);)
                free(v);
        k8c_strmap_clear(&k->deleted);
}

/* A record made for a pod that already has a status (a restarted kubelet adopting its running
 * containers) continues from it: restart counts, the previous terminations and the start time are
 * kept, so the status stays what it was instead of restarting from zero. */
static void seed_container(struct kubelet_container *c, const json_t *statuses, bool is_init)
{
        size_t i;
        json_t *cs;
        json_array_foreach(statuses, i, cs)
        {
                const char *name = json_string_value(json_object_get(cs, "name"));
                if (name == NULL || strcmp(name, c->name) != 0)
                        continue;
                c->restarts = (int)k8c_json_get_int(cs, "restartCount", 0);
                const json_t *t = k8c_json_get(cs, "lastState.terminated");
                if (t != NULL) {
                        c->last.phase = K8C_CONTAINER_EXITED;
                        c->last.exit_code = (int)k8c_json_get_int(t, "exitCode", 0);
                        const char *reason = k8c_json_get_string(t, "reason");
                        c->last.oom_killed = reason != NULL && strcmp(reason, "OOMKilled") == 0;
                        const char *s = k8c_json_get_string(t, "startedAt");
                        if (s != NULL)
                                k8c_rfc3339_parse(s, &c->last.started_at);
                        s = k8c_json_get_string(t, "finishedAt");
                        if (s != NULL)
                                k8c_rfc3339_parse(s, &c->last.finished_at);
                        const char *id = k8c_json_get_string(t, "containerID");
                        const char *sep = id != NULL ? strstr(id, "://") : NULL;
                        snprintf(c->last.id, sizeof(c->last.id), "%s", sep != NULL ? sep + 3 : "");
                }
                t = k8c_json_get(cs, "state.terminated");
                if (is_init && t != NULL && k8c_json_get_int(t, "exitCode", -1) == 0) {
                        /* An init container that completed stays completed. */
                        c->done = true;
                        c->final.phase = K8C_CONTAINER_EXITED;
                        const char *s = k8c_json_get_string(t, "startedAt");
                        if (s != NULL)
                                k8c_rfc3339_parse(s, &c->final.started_at);
                        s = k8c_json_get_string(t, "finishedAt");
                        if (s != NULL)
                                k8c_rfc3339_parse(s, &c->final.finished_at);
                        const char *id = k8c_json_get_string(t, "containerID");
                        const char *sep = id != NULL ? strstr(id, "://") : NULL;
                        snprintf(c->final.id, sizeof(c->final.id), "%s", sep != NULL ? sep + 3 : "");
                }
                return;
        }
}

static void seed_from_status(struct kubelet_pod *rec, const json_t *pod)
{
        const char *start = k8c_json_get_string(pod, "status.startTime");
        if (start != NULL)
                k8c_rfc3339_parse(start, &rec->start_time);
        for (size_t i = 0; i < rec->ncontainers; i++)
                seed_container(&rec->containers[i], k8c_json_get(pod, "status.containerStatuses"), false);
        for (size_t i = 0; i < rec->ninits; i++)
                seed_container(&rec->inits[i], k8c_json_get(pod, "status.initContainerStatuses"), true);
}

static struct kubelet_pod *record_new(const json_t *pod)
{
        struct kubelet_pod *rec = k8c_xcalloc(1, sizeof(*rec));
        rec->uid = k8c_xstrdup(k8c_json_get_string(pod, "metadata.uid") ?: "");
        const json_t *cs = k8c_json_get(pod, "spec.containers");
        rec->ncontainers = json_array_size(cs);
        rec->containers = k8c_xcalloc(rec->ncontainers + 1, sizeof(*rec->containers));
        for (size_t i = 0; i < rec->ncontainers; i++)
                rec->containers[i].name =
                        k8c_xstrdup(json_string_value(json_object_get(json_array_get(cs, i), "name")) ?: "");
        const json_t *is = k8c_json_get(pod, "spec.initContainers");
        rec->ninits = json_array_size(is);
        rec->inits = k8c_xcalloc(rec->ninits + 1, sizeof(*rec->inits));
        for (size_t i = 0; i < rec->ninits; i++)
                rec->inits[i].name =
                        k8c_xstrdup(json_string_value(json_object_get(json_array_get(is, i), "name")) ?: "");
        seed_from_status(rec, pod);
        return rec;
}

/* One container being stopped by its own thread during a pod's tear-down. */
struct stop_job {
        struct k8c_kubelet *k;
        const json_t *pod;
        const char *name;
        int64_t grace_s;
        int r;
        k8c_error_t err;
        pthread_t thread;
        bool started;
};

static void *stop_job_main(void *opaque)
{
        struct stop_job *j = opaque;
        j->r = j->k->rt_ops->stop_container(j->k->rt, j->pod, j->name, j->grace_s, &j->err);
        return NULL;
}

/* Stops every container of the pod (SIGTERM, grace, SIGKILL) and removes its sandbox. The app
 * containers get their SIGTERM together and share one grace period, as in Kubernetes: one that
 * exits on SIGTERM is gone at once, while one that ignores it is killed when the grace is over. */
static int teardown(struct k8c_kubelet *k, struct kubelet_pod *rec, int64_t grace_s, k8c_error_t *err)
{
        struct stop_job *jobs = k8c_xcalloc(rec->ncontainers + 1, sizeof(*jobs));
        for (size_t i = 0; i < rec->ncontainers; i++) {
                struct k8c_container_state st;
                if (k->rt_ops->container_status(k->rt, rec->pod, rec->containers[i].name, &st, NULL) == 0 &&
                    st.phase == K8C_CONTAINER_RUNNING)
                        pod_event(k, rec->pod, "Normal", "Killing", "Stopping container %s",
                                  rec->containers[i].name);
                jobs[i] = (struct stop_job){
                        .k = k, .pod = rec->pod, .name = rec->containers[i].name, .grace_s = grace_s
                };
                if (rec->ncontainers > 1)
                        jobs[i].started = pthread_create(&jobs[i].thread, NULL, stop_job_main, &jobs[i]) == 0;
                if (!jobs[i].started)
                        stop_job_main(&jobs[i]);
        }
        int r = 0;
        for (size_t i = 0; i < rec->ncontainers; i++) {
                if (jobs[i].started)
                        pthread_join(jobs[i].thread, NULL);
                if (jobs[i].r < 0 && r >= 0) {
                        r = k8c_make_error(err, k8c_error_reason(&jobs[i].err), "stop container %s: %s",
                                           jobs[i].name, k8c_error_msg(&jobs[i].err));
                }
                k8c_error_release(&jobs[i].err);
        }
        free(jobs);
        if (r < 0)
                return r;
        for (size_t i = 0; i < rec->ninits; i++) {
                r = k->rt_ops->stop_container(k->rt, rec->pod, rec->inits[i].name, 0, err);
                if (r < 0)
                        return k8c_error_wrap(err, "stop init container %s", rec->inits[i].name);
        }
        if (k->prober != NULL)
                k8c_prober_remove_pod(k->prober, rec->uid);
        /* The pod's own volumes (a tmpfs emptyDir is a mount) go before its directory. */
        r = k8c_kubelet_volumes_teardown(k, rec->uid, err);
        if (r < 0)
                return k8c_error_wrap(err, "remove volumes");
        r = k->rt_ops->remove_sandbox(k->rt, rec->pod, err);
        if (r < 0)
                return k8c_error_wrap(err, "remove sandbox");
        return 0;
}

static void forget_record(struct k8c_kubelet *k, const char *key)
{
        struct kubelet_pod *rec = NULL;
        pthread_mutex_lock(&k->lock);
        k8c_strmap_del(&k->pods, key, (void **)&rec);
        pthread_mutex_unlock(&k->lock);
        record_free(rec);
}

static int64_t grace_of(const json_t *pod)
{
        json_int_t g = k8c_json_get_int(pod, "metadata.deletionGracePeriodSeconds", -1);
        if (g < 0)
                g = k8c_json_get_int(pod, "spec.terminationGracePeriodSeconds", 30);
        return g < 0 ? 0 : g;
}

static bool should_restart(const json_t *pod, const struct k8c_container_state *st)
{
        const char *policy = k8c_json_get_string(pod, "spec.restartPolicy") ?: "Always";
        if (strcmp(policy, "Never") == 0)
                return false;
        if (strcmp(policy, "OnFailure") == 0)
                return st->exit_code != 0;
        return true;
}

/* One sync's state shared by the container steps. */
struct step {
        struct k8c_kubelet *k;
        const char *key;
        const json_t *pod;
        struct kubelet_pod *rec;
        time_t now;
        int64_t requeue_ms;
        bool will_restart;
        int start_failed; /* a start error kept for the rate-limited retry (its text in *err) */
};

/* Starts one run of a container with its volumes mounted. */
static int start_container(struct step *s, const json_t *spec_c, int restarts, k8c_error_t *err)
{
        const struct k8c_runtime_ops *ops = s->k->rt_ops;
        if (ops->pull_image != NULL) {
                /* The image first, with the events kubectl describe shows. */
                const char *image = json_string_value(json_object_get(spec_c, "image")) ?: "";
                bool pulled = false;
                double secs = 0;
                int r = ops->pull_image(s->k->rt, spec_c, &pulled, &secs, err);
                if (r < 0)
                        return r;
                if (pulled) {
                        pod_event(s->k, s->pod, "Normal", "Pulling", "Pulling image \"%s\"", image);
                        pod_event(s->k, s->pod, "Normal", "Pulled",
                                  "Successfully pulled image \"%s\" in %.3fs", image, secs);
                } else {
                        pod_event(s->k, s->pod, "Normal", "Pulled",
                                  "Container image \"%s\" already present on machine", image);
                }
        }
        json_auto_t *mounts = NULL;
        int r = k8c_kubelet_container_mounts(s->rec->volume_paths, spec_c, &mounts, err);
        if (r < 0)
                return r;
        return s->k->rt_ops->start_container(s->k->rt, s->pod, spec_c, mounts, restarts, err);
}

/* The probes of a running app container: registered with the prober (which runs them on their
 * own timers), their results read back. A liveness or startup failure kills the container; *ret_killed
 * then says the step must look again (the kill is an exit restartPolicy and back-off apply to). */
static int probe_container(struct step *s, struct kubelet_container *c, const json_t *spec_c,
                           const struct k8c_container_state *st, struct k8c_container_view *view,
                           bool *ret_killed, k8c_error_t *err)
{
        struct k8c_kubelet *k = s->k;
        *ret_killed = false;
        if (k->prober == NULL)
                return 0;
        const struct k8c_prober_container pc = {
                .pod_key = s->key,
                .pod = s->pod,
                .container = spec_c,
                .container_id = st->id,
                .started_at = st->started_at,
                .pod_ip = s->rec->ip,
                .netns = s->rec->netns,
                .ops = k->rt_ops,
                .rt = k->rt,
        };
        k8c_prober_update(k->prober, &pc);
        struct k8c_probe_results res;
        k8c_prober_results(k->prober, s->rec->uid, c->name, st->id, &res);
        view->unready = !res.ready;
        view->not_started = !res.started;
        if (!res.kill)
                return 0;
        pod_event(k, s->pod, "Normal", "Killing", "Container %s failed %s probe, will be restarted", c->name,
                  res.kill_probe);
        int64_t grace = res.kill_grace_s >= 0
                                ? res.kill_grace_s
                                : k8c_json_get_int(s->pod, "spec.terminationGracePeriodSeconds", 30);
        k8c_prober_remove_container(k->prober, s->rec->uid, c->name);
        int r = k->rt_ops->stop_container(k->rt, s->pod, c->name, grace, err);
        if (r < 0)
                return k8c_error_wrap(err, "kill container %s", c->name);
        c->killed = *st;
        c->killed.phase = K8C_CONTAINER_EXITED;
        c->killed.exit_code = 137;
        c->killed.finished_at = time(NULL);
        *ret_killed = true;
        return 0;
}

/* Brings one container towards its desired state: started once, restarted per restartPolicy with
 * back-off (init containers only after a failure), and fills *view (and *msg, owned) for the status. */
static int step_container(struct step *s, struct kubelet_container *c, const json_t *spec_c, bool is_init,
                          struct k8c_container_view *view, char **msg, k8c_error_t *err)
{
        struct k8c_kubelet *k = s->k;
        const json_t *pod = s->pod;
        struct k8c_container_state st;
        int r = k->rt_ops->container_status(k->rt, pod, c->name, &st, err);
        if (r < 0)
                return r;
        view->name = c->name;
        if (st.phase == K8C_CONTAINER_ABSENT && c->killed.phase == K8C_CONTAINER_EXITED)
                st = c->killed; /* removed by a probe kill: that exit is what restartPolicy judges */
        bool restart = st.phase == K8C_CONTAINER_EXITED &&
                       (is_init ? st.exit_code != 0 &&
                                          strcmp(k8c_json_get_string(pod, "spec.restartPolicy") ?: "Always",
                                                 "Never") != 0
                                : should_restart(pod, &st));
        if (st.phase == K8C_CONTAINER_ABSENT && c->killed.phase != K8C_CONTAINER_EXITED) {
                /* Never started, or gone without a trace (a failed restart, a kubelet adopting a pod
                 * whose container was removed): started as run number c->restarts. */
                r = start_container(s, spec_c, c->restarts, err);
                if (r >= 0)
                        r = k->rt_ops->container_status(k->rt, pod, c->name, &st, err);
                if (r < 0) {
                        k8c_error_wrap(err, "start container %s", c->name);
                        pod_event(k, pod, "Warning", "Failed", "Error: %s", k8c_error_msg(err));
                        /* Shown in the status as the real kubelet does; the pod is retried with
                         * back-off once the status is written. */
                        view->waiting_reason = r == -(int)K8C_ENOTFOUND          ? "ErrImagePull"
                                               : r == -(int)K8C_ETOOMANYREQUESTS ? "ImagePullBackOff"
                                                                                 : "CreateContainerError";
                        *msg = k8c_xstrdup(k8c_error_msg(err));
                        view->waiting_message = *msg;
                        view->state.phase = K8C_CONTAINER_ABSENT;
                        view->restart_count = c->restarts;
                        s->start_failed = r;
                        return 0;
                }
                pod_event(k, pod, "Normal", "Started", "Started container %s", c->name);
        } else if (restart) {
                s->will_restart = true;
                /* The first restart is immediate; later ones wait 10 s doubling to 5 min. */
                if (c->restarts > 0 && c->backoff_until == 0)
                        c->backoff_until = st.finished_at + k8c_kubelet_backoff_s(c->restarts);
                if (s->now >= c->backoff_until) {
                        c->last = st;
                        c->restarts++;
                        c->backoff_until = 0;
                        c->killed.phase = K8C_CONTAINER_ABSENT;
                        r = k->rt_ops->stop_container(k->rt, pod, c->name, 0, err);
                        if (r >= 0)
                                r = start_container(s, spec_c, c->restarts, err);
                        if (r >= 0)
                                r = k->rt_ops->container_status(k->rt, pod, c->name, &st, err);
                        if (r < 0) {
                                k8c_error_wrap(err, "restart container %s", c->name);
                                pod_event(k, pod, "Warning", "Failed", "Error: %s", k8c_error_msg(err));
                                return r;
                        }
                        pod_event(k, pod, "Normal", "Started", "Started container %s", c->name);
                } else {
                        const char *pname = k8c_json_get_string(pod, "metadata.name");
                        const char *pns = k8c_json_get_string(pod, "metadata.namespace");
                        view->waiting_reason = "CrashLoopBackOff";
                        *msg = k8c_xasprintf("back-off %llds restarting failed container=%s pod=%s_%s(%s)",
                                             (long long)k8c_kubelet_backoff_s(c->restarts), c->name, pname,
                                             pns, s->rec->uid);
                        view->waiting_message = *msg;
                        pod_event(k, pod, "Warning", "BackOff",
                                  "Back-off restarting failed container %s in pod %s_%s(%s)", c->name, pname,
                                  pns, s->rec->uid);
                        int64_t left = (int64_t)(c->backoff_until - s->now) * 1000;
                        if (left < s->requeue_ms)
                                s->requeue_ms = left;
                }
        }
        if (!is_init && st.phase == K8C_CONTAINER_RUNNING) {
                bool killed = false;
                r = probe_container(s, c, spec_c, &st, view, &killed, err);
                if (r < 0)
                        return r;
                if (killed) {
                        view->unready = view->not_started = false;
                        return step_container(s, c, spec_c, is_init, view, msg, err);
                }
        } else if (!is_init && k->prober != NULL) {
                k8c_prober_remove_container(k->prober, s->rec->uid, c->name);
        }
        view->state = st;
        view->last = c->last;
        view->restart_count = c->restarts;
        return 0;
}

/* Reconciles one pod. Returns 0, or negative to retry with back-off; *ret_requeue_ms > 0 asks
 * for another look after that long (back-off expiry, periodic status). */
static int sync_pod(struct k8c_kubelet *k, const char *key, int64_t *ret_requeue_ms, k8c_error_t *err)
{
        json_auto_t *pod = k8c_informer_get(k->informer, key);
        struct kubelet_pod *rec = NULL;
        pthread_mutex_lock(&k->lock);
        k8c_strmap_get(&k->pods, key, (void **)&rec);
        bool have_runtime = k->rt != NULL;
        pthread_mutex_unlock(&k->lock);
        const char *uid = k8c_json_get_string(pod, "metadata.uid");

        if (rec != NULL && (pod == NULL || uid == NULL || strcmp(rec->uid, uid) != 0)) {
                /* Gone from the API (or replaced by a new pod of the same name): nothing may keep running. */
                int r = teardown(k, rec, 0, err);
                if (r < 0)
                        return r;
                forget_record(k, key);
                rec = NULL;
        }
        if (pod == NULL || uid == NULL) {
                void *old_uid = NULL;
                pthread_mutex_lock(&k->lock);
                k8c_strmap_del(&k->deleted, key, &old_uid);
                pthread_mutex_unlock(&k->lock);
                free(old_uid);
                return 0;
        }
        if (!have_runtime) {
                /* No podCIDR yet: the heartbeat makes the runtime once the node has one. */
                *ret_requeue_ms = 1000;
                return 0;
        }

        if (json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp") != NULL) {
                /* Already torn down and DELETEd (a finalizer may keep the object): nothing more to do,
                 * and no DELETE per update. */
                bool done = false;
                void *done_uid = NULL;
                pthread_mutex_lock(&k->lock);
                done = rec == NULL && k8c_strmap_get(&k->deleted, key, &done_uid) &&
                       strcmp(done_uid, uid) == 0;
                pthread_mutex_unlock(&k->lock);
                if (done)
                        return 0;
                if (rec == NULL) {
                        rec = record_new(pod);
                        rec->pod = json_incref(pod);
                        pthread_mutex_lock(&k->lock);
                        k8c_strmap_put(&k->pods, key, rec, NULL);
                        pthread_mutex_unlock(&k->lock);
                }
                int r = teardown(k, rec, grace_of(pod), err);
                if (r < 0)
                        return r;
                forget_record(k, key);
                cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/%s/pods/%s",
                                                        k8c_json_get_string(pod, "metadata.namespace"),
                                                        k8c_json_get_string(pod, "metadata.name"));
                /* grace 0 and the uid precondition: only this pod object, and at once. */
                json_auto_t *opts =
                        json_pack("{s:i, s:{s:s}}", "gracePeriodSeconds", 0, "preconditions", "uid", uid);
                cleanup_error k8c_error_t e = NULL;
                r = k8c_client_delete(k->client, path, opts, NULL, &e);
                if (r < 0 && r != -(int)K8C_ENOTFOUND && r != -(int)K8C_ECONFLICT) {
                        k8c_make_error(err, k8c_error_reason(&e), "delete: %s", k8c_error_msg(&e));
                        return r;
                }
                void *old_uid = NULL;
                pthread_mutex_lock(&k->lock);
                k8c_strmap_put(&k->deleted, key, k8c_xstrdup(uid), &old_uid);
                pthread_mutex_unlock(&k->lock);
                free(old_uid);
                return 0;
        }

        /* Evicted: its containers stopped and Failed/Evicted written once, never run again. */
        int evicted = k8c_kubelet_eviction_sync(k, pod, err);
        if (evicted != 0)
                return evicted < 0 ? evicted : 0;

        const char *phase = k8c_json_get_string(pod, "status.phase") ?: "";
        if (rec == NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
                return 0; /* finished before this kubelet started: never run again */

        if (rec == NULL) {
                rec = record_new(pod);
                pthread_mutex_lock(&k->lock);
                k8c_strmap_put(&k->pods, key, rec, NULL);
                pthread_mutex_unlock(&k->lock);
        }
        json_decref(rec->pod);
        rec->pod = json_incref(pod);

        time_t now = time(NULL);
        if (rec->ip == NULL) {
                char *ip = NULL;
                int r = k->rt_ops->create_sandbox(k->rt, pod, NULL, &ip, err);
                if (r < 0)
                        return k8c_error_wrap(err, "create sandbox");
                rec->ip = ip;
                if (rec->start_time == 0)
                        rec->start_time = now;
        }
        if (rec->netns == NULL && k->rt_ops->pod_netns != NULL)
                rec->netns = k->rt_ops->pod_netns(k->rt, pod);

        struct k8c_container_view *views = k8c_xcalloc(rec->ncontainers + 1, sizeof(*views));
        char **msgs = k8c_xcalloc(rec->ncontainers + 1, sizeof(char *));
        struct k8c_container_view *iviews = k8c_xcalloc(rec->ninits + 1, sizeof(*iviews));
        char **imsgs = k8c_xcalloc(rec->ninits + 1, sizeof(char *));
        struct step s = {
                .k = k, .key = key, .pod = pod, .rec = rec, .now = now, .requeue_ms = k->cfg.pod_resync_ms
        };
        int r = 0;

        /* Volumes before any container; a volume that cannot be set up (missing configMap, hostPath
         * of the wrong type, unbound claim) keeps every container waiting, says why, and is retried. */
        cleanup_free char *mount_msg = NULL;
        if (rec->volume_paths == NULL) {
                int vr = k8c_kubelet_volumes_setup(k, pod, rec->ip, &rec->volume_paths, err);
                if (vr < 0) {
                        mount_msg = k8c_xstrdup(k8c_error_msg(err));
                        pod_event(k, pod, "Warning", "FailedMount", "%s", mount_msg);
                        s.start_failed = vr;
                }
                rec->volumes_refresh_at = now + K8C_KUBELET_VOLUME_REFRESH_S;
        } else if (now >= rec->volumes_refresh_at) {
                /* Changed configMaps, secrets and labels reach the running containers' files. */
                cleanup_error k8c_error_t verr = NULL;
                if (k8c_kubelet_volumes_refresh(k, pod, &verr) < 0)
                        k8c_log_warn("volume refresh failed", "pod=%s err=\"%s\"", key, k8c_error_msg(&verr));
                rec->volumes_refresh_at = now + K8C_KUBELET_VOLUME_REFRESH_S;
        }

        /* Init containers one at a time, each to a successful exit, before any app container. */
        bool initialized = true, init_failed = false;
        const json_t *spec_is = k8c_json_get(pod, "spec.initContainers");
        for (size_t i = 0; i < rec->ninits && r >= 0; i++) {
                struct kubelet_container *c = &rec->inits[i];
                iviews[i].name = c->name;
                iviews[i].restart_count = c->restarts;
                iviews[i].last = c->last;
                if (c->done) {
                        iviews[i].state = c->final;
                        continue;
                }
                if (!initialized || init_failed || mount_msg != NULL) {
                        iviews[i].waiting_reason =
                                mount_msg != NULL ? "ContainerCreating" : "PodInitializing";
                        iviews[i].waiting_message = mount_msg;
                        initialized = false;
                        continue;
                }
                r = step_container(&s, c, json_array_get(spec_is, i), true, &iviews[i], &imsgs[i], err);
                if (r < 0)
                        break;
                const struct k8c_container_state *st = &iviews[i].state;
                if (st->phase == K8C_CONTAINER_EXITED && st->exit_code == 0 &&
                    iviews[i].waiting_reason == NULL) {
                        /* Done for good: its exit stays in the status, the container goes. */
                        c->done = true;
                        c->final = *st;
                        r = k->rt_ops->stop_container(k->rt, pod, c->name, 0, err);
                        continue;
                }
                initialized = false;
                if (st->phase == K8C_CONTAINER_EXITED && iviews[i].waiting_reason == NULL)
                        init_failed = true; /* failed and restartPolicy Never */
        }

        for (size_t i = 0; i < rec->ncontainers && r >= 0; i++) {
                struct kubelet_container *c = &rec->containers[i];
                views[i].name = c->name;
                views[i].restart_count = c->restarts;
                views[i].last = c->last;
                if (mount_msg != NULL) {
                        views[i].waiting_reason = "ContainerCreating";
                        views[i].waiting_message = mount_msg;
                        continue;
                }
                if (!initialized) {
                        views[i].waiting_reason = "PodInitializing";
                        continue;
                }
                r = step_container(&s, c, json_array_get(k8c_json_get(pod, "spec.containers"), i), false,
                                   &views[i], &msgs[i], err);
        }
        bool will_restart = s.will_restart;
        int start_failed = s.start_failed;
        int64_t requeue_ms = s.requeue_ms;

        if (r >= 0) {
                const struct k8c_pod_view v = {
                        .runtime_name = k->rt_ops->name,
                        .pod_ip = rec->ip,
                        .host_ip = k->cfg.node_ip,
                        .start_time = rec->start_time,
                        .containers = views,
                        .ncontainers = rec->ncontainers,
                        .inits = iviews,
                        .ninits = rec->ninits,
                        .initialized = initialized,
                        .init_failed = init_failed,
                        .will_restart = will_restart,
                        .now = now,
                };
                const json_t *cur = json_object_get(pod, "status");
                json_auto_t *status = k8c_kubelet_pod_status(pod, &v, cur);
                if (!k8c_kubelet_status_equal(status, cur) &&
                    (rec->last_status == NULL || !json_equal(status, rec->last_status))) {
                        cleanup_free char *path =
                                k8c_xasprintf("/api/v1/namespaces/%s/pods/%s/status",
                                              k8c_json_get_string(pod, "metadata.namespace"),
                                              k8c_json_get_string(pod, "metadata.name"));
                        json_auto_t *patch = json_pack("{s:O}", "status", status);
                        r = k8c_client_patch(k->client, path, "application/merge-patch+json", patch, NULL,
                                             err);
                        if (r >= 0) {
                                json_decref(rec->last_status);
                                rec->last_status = json_incref(status);
                                __atomic_add_fetch(&k->pod_status_writes, 1, __ATOMIC_RELAXED);
                        } else {
                                k8c_error_wrap(err, "write status");
                        }
                }
        }
        if (r >= 0 && start_failed < 0)
                r = start_failed; /* the error is still in *err */
        for (size_t i = 0; i < rec->ncontainers; i++)
                free(msgs[i]);
        free(msgs);
        free(views);
        for (size_t i = 0; i < rec->ninits; i++)
                free(imsgs[i]);
        free(imsgs);
        free(iviews);
        if (r < 0)
                return r;
        *ret_requeue_ms = requeue_ms > 0 ? requeue_ms : 1;
        return 0;
}

void *k8c_kubelet_worker_main(void *opaque)
{
        struct k8c_kubelet *k = opaque;
        char *key = NULL;
        while (k8c_workqueue_get(k->queue, &key)) {
                cleanup_error k8c_error_t err = NULL;
                int64_t requeue_ms = 0;
                int r = sync_pod(k, key, &requeue_ms, &err);
                if (r < 0) {
                        k8c_log_error("pod sync failed", "pod=%s err=\"%s\"", key, k8c_error_msg(&err));
                        k8c_workqueue_add_rate_limited(k->queue, key);
                } else {
                        k8c_workqueue_forget(k->queue, key);
                        if (requeue_ms > 0)
                                k8c_workqueue_add_after(k->queue, key, requeue_ms);
                }
                k8c_workqueue_done(k->queue, key);
                free(key);
        }
        return NULL;
}

void k8c_kubelet_housekeeping(struct k8c_kubelet *k)
{
        if (!k8c_informer_has_synced(k->informer))
                return;
        pthread_mutex_lock(&k->lock);
        bool have_runtime = k->rt != NULL;
        pthread_mutex_unlock(&k->lock);
        if (!have_runtime)
                return;
        cleanup_error k8c_error_t err = NULL;
        cleanup_strv char **uids = NULL;
        if (k->rt_ops->list(k->rt, &uids, &err) < 0) {
                k8c_log_error("listing sandboxes failed", "err=\"%s\"", k8c_error_msg(&err));
                return;
        }
        /* Known = in the cache (the cache is updated before any handler runs, so a pod whose
         * sandbox is being made is there) or still held by a worker (being torn down). */
        struct k8c_strmap known;
        k8c_strmap_init(&known);
        json_auto_t *pods = k8c_informer_list(k->informer);
        size_t i;
        json_t *p;
        json_array_foreach(pods, i, p)
        {
                const char *uid = k8c_json_get_string(p, "metadata.uid");
                if (uid != NULL)
                        k8c_strmap_put(&known, uid, NULL, NULL);
        }
        pthread_mutex_lock(&k->lock);
        const char *key;
        void *v;
        for (size_t it = 0; k8c_strmap_next(&k->pods, &it, &key, &v);)
                k8c_strmap_put(&known, ((struct kubelet_pod *)v)->uid, NULL, NULL);
        pthread_mutex_unlock(&k->lock);
        for (char **u = uids; *u != NULL; u++) {
                if (k8c_strmap_has(&known, *u))
                        continue;
                /* A sandbox of a pod that no longer exists (deleted while the kubelet was down). */
                json_auto_t *stub = json_pack("{s:{s:s}}", "metadata", "uid", *u);
                k8c_error_release(&err);
                if (k8c_kubelet_volumes_teardown(k, *u, &err) < 0 ||
                    k->rt_ops->remove_sandbox(k->rt, stub, &err) < 0)
                        k8c_log_error("orphan sandbox removal failed", "uid=%s err=\"%s\"", *u,
                                      k8c_error_msg(&err));
                else
                        k8c_log_info("orphan sandbox removed", "uid=%s", *u);
        }
        k8c_strmap_clear(&known);
}

/*
 * status.c - the pod status the kubelet owns, computed from what the worker
 * knows (sandbox IP, container states, restart counts), as the real kubelet's
 * generateAPIPodStatus does: phase, the four conditions, podIP(s), hostIP,
 * startTime, containerStatuses and qosClass.
 *
 * Pure: no runtime, no apiserver, no clock (the caller passes now).
 */
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/kubelet.h"
#include "k8c/names.h"

int64_t k8c_kubelet_backoff_s(int restarts)
{
        int64_t s = 10;
        for (int i = 1; i < restarts && s < 300; i++)
                s *= 2;
        return s < 300 ? s : 300;
}

static json_t *ts(time_t t)
{
        char buf[32];
        k8c_rfc3339(t, buf, sizeof(buf));
        return json_string(buf);
}

static json_t *terminated(const struct k8c_pod_view *v, const struct k8c_container_state *s)
{
        return json_pack("{s:i, s:s, s:o, s:o, s:s++}", "exitCode", s->exit_code, "reason",
                         s->oom_killed       ? "OOMKilled"
                         : s->exit_code == 0 ? "Completed"
                                             : "Error",
                         "startedAt", ts(s->started_at), "finishedAt", ts(s->finished_at), "containerID",
                         v->runtime_name, "://", s->id);
}

static json_t *container_status(const json_t *spec_c, const struct k8c_pod_view *v,
                                const struct k8c_container_view *c)
{
        json_t *state, *last = json_object();
        bool running = c->state.phase == K8C_CONTAINER_RUNNING;
        bool ready = running && !c->unready;
        if (running)
                state = json_pack("{s:{s:o}}", "running", "startedAt", ts(c->state.started_at));
        else if (c->state.phase == K8C_CONTAINER_EXITED && c->waiting_reason == NULL)
                state = json_pack("{s:o}", "terminated", terminated(v, &c->state));
        else {
                json_t *w = json_pack("{s:s}", "reason",
                                      c->waiting_reason != NULL ? c->waiting_reason : "ContainerCreating");
                if (c->waiting_message != NULL)
                        json_object_set_new(w, "message", json_string(c->waiting_message));
                state = json_pack("{s:o}", "waiting", w);
        }
        /* While waiting to restart, the exit shows as lastState, as kubectl describe expects. */
        const struct k8c_container_state *prev =
                c->state.phase == K8C_CONTAINER_EXITED && c->waiting_reason != NULL ? &c->state : &c->last;
        if (prev->phase == K8C_CONTAINER_EXITED)
                json_object_set_new(last, "terminated", terminated(v, prev));
        const char *image = json_string_value(json_object_get(spec_c, "image"));
        json_t *st =
                json_pack("{s:s, s:o, s:o, s:b, s:i, s:s, s:s, s:b}", "name", c->name, "state", state,
                          "lastState", last, "ready", ready, "restartCount", c->restart_count, "image",
                          image != NULL ? image : "", "imageID", "", "started", running && !c->not_started);
        const struct k8c_container_state *imgsrc = c->state.image_id[0] != '\0' ? &c->state : prev;
        if (imgsrc->image_id[0] != '\0')
                json_object_set_new(st, "imageID", json_string(imgsrc->image_id));
        const struct k8c_container_state *idsrc = c->state.phase != K8C_CONTAINER_ABSENT ? &c->state : prev;
        if (idsrc->phase != K8C_CONTAINER_ABSENT && idsrc->id[0] != '\0')
                json_object_set_new(st, "containerID", json_sprintf("%s://%s", v->runtime_name, idsrc->id));
        return st;
}

static json_t *pod_condition(const char *type, bool value, const char *reason, const json_t *old_status,
                             time_t now)
{
        json_t *c = json_pack("{s:s, s:s, s:n}", "type", type, "status", value ? "True" : "False",
                              "lastProbeTime");
        json_t *old = NULL;
        size_t i;
        json_t *o;
        json_array_foreach(json_object_get(old_status, "conditions"), i, o)
        {
                if (json_equal(json_object_get(o, "type"), json_object_get(c, "type")))
                        old = o;
        }
        /* An unchanged condition keeps its transition time, so a resync writes nothing. */
        if (old != NULL && json_equal(json_object_get(old, "status"), json_object_get(c, "status")) &&
            json_is_string(json_object_get(old, "lastTransitionTime")))
                json_object_set(c, "lastTransitionTime", json_object_get(old, "lastTransitionTime"));
        else
                json_object_set_new(c, "lastTransitionTime", ts(now));
        if (reason != NULL && !value)
                json_object_set_new(c, "reason", json_string(reason));
        return c;
}

static const json_t *spec_of(const json_t *list, const char *name)
{
        size_t j;
        json_t *sc;
        json_array_foreach(list, j, sc)
        {
                const char *n = json_string_value(json_object_get(sc, "name"));
                if (n != NULL && strcmp(n, name) == 0)
                        return sc;
        }
        return NULL;
}

/* "[a b c]" of the named views for which pick() holds. */
static char *names_where(const struct k8c_container_view *vs, size_t n,
                         bool (*pick)(const struct k8c_container_view *))
{
        char *names = k8c_xstrdup("");
        for (size_t i = 0; i < n; i++)
                if (pick(&vs[i])) {
                        char *next = k8c_xasprintf("%s%s%s", names, names[0] ? " " : "", vs[i].name);
                        free(names);
                        names = next;
                }
        return names;
}

static bool init_incomplete(const struct k8c_container_view *c)
{
        return !(c->state.phase == K8C_CONTAINER_EXITED && c->state.exit_code == 0 &&
                 c->waiting_reason == NULL);
}

json_t *k8c_kubelet_pod_status(const json_t *pod, const struct k8c_pod_view *v, const json_t *old_status)
{
        const json_t *spec_cs = json_object_get(json_object_get(pod, "spec"), "containers");
        const json_t *spec_is = json_object_get(json_object_get(pod, "spec"), "initContainers");
        bool initialized = v->ninits == 0 || v->initialized;
        json_t *init_statuses = json_array();
        for (size_t i = 0; i < v->ninits; i++) {
                json_t *st = container_status(spec_of(spec_is, v->inits[i].name), v, &v->inits[i]);
                /* A completed init container counts as ready, as in the real kubelet. */
                json_object_set_new(st, "ready", json_boolean(!init_incomplete(&v->inits[i])));
                json_object_set_new(st, "started", json_false());
                json_array_append_new(init_statuses, st);
        }
        size_t running = 0, exited = 0, succeeded = 0, ready = 0;
        json_t *statuses = json_array();
        for (size_t i = 0; i < v->ncontainers; i++) {
                const struct k8c_container_view *c = &v->containers[i];
                json_array_append_new(statuses, container_status(spec_of(spec_cs, c->name), v, c));
                if (c->state.phase == K8C_CONTAINER_RUNNING) {
                        running++;
                        ready += !c->unready;
                } else if (c->state.phase == K8C_CONTAINER_EXITED) {
                        exited++;
                        if (c->state.exit_code == 0)
                                succeeded++;
                }
        }
        /* getPhase: Running while anything runs or will be restarted; a terminal phase only once
         * every container has exited for good. */
        const char *phase = "Pending";
        size_t n = v->ncontainers;
        if (n > 0 && running + exited == n && running == 0 && !v->will_restart)
                phase = succeeded == n ? "Succeeded" : "Failed";
        else if (n > 0 && running + exited == n)
                phase = "Running";
        else if (running > 0)
                phase = "Running";
        if (!initialized)
                phase = v->init_failed ? "Failed" : "Pending";

        bool all_ready = n > 0 && ready == n;
        json_t *conds = json_array();
        json_array_append_new(conds, pod_condition("Initialized", initialized, "ContainersNotInitialized",
                                                   old_status, v->now));
        if (!initialized) {
                cleanup_free char *names = names_where(v->inits, v->ninits, init_incomplete);
                json_object_set_new(json_array_get(conds, 0), "message",
                                    json_sprintf("containers with incomplete status: [%s]", names));
        }
        json_array_append_new(conds,
                              pod_condition("Ready", all_ready, "ContainersNotReady", old_status, v->now));
        json_array_append_new(
                conds, pod_condition("ContainersReady", all_ready, "ContainersNotReady", old_status, v->now));
        json_array_append_new(conds, pod_condition("PodScheduled", true, NULL, old_status, v->now));
        if (!all_ready) {
                /* The real kubelet names the containers that are not ready. */
                cleanup_free char *names = k8c_xstrdup("");
                for (size_t i = 0; i < n; i++)
                        if (v->containers[i].state.phase != K8C_CONTAINER_RUNNING ||
                            v->containers[i].unready) {
                                char *next = k8c_xasprintf("%s%s%s", names, names[0] ? " " : "",
                                                           v->containers[i].name);
                                free(names);
                                names = next;
                        }
                for (size_t i = 1; i <= 2; i++)
                        json_object_set_new(json_array_get(conds, i), "message",
                                            json_sprintf("containers with unready status: [%s]", names));
        }

        json_t *status = json_pack("{s:s, s:o, s:s}", "phase", phase, "conditions", conds, "qosClass",
                                   k8c_qos_name(k8c_pod_qos(pod)));
        if (v->host_ip != NULL) {
                json_object_set_new(status, "hostIP", json_string(v->host_ip));
                json_object_set_new(status, "hostIPs", json_pack("[{s:s}]", "ip", v->host_ip));
        }
        if (v->pod_ip != NULL) {
                json_object_set_new(status, "podIP", json_string(v->pod_ip));
                json_object_set_new(status, "podIPs", json_pack("[{s:s}]", "ip", v->pod_ip));
        }
        if (v->start_time != 0)
                json_object_set_new(status, "startTime", ts(v->start_time));
        json_object_set_new(status, "containerStatuses", statuses);
        if (v->ninits > 0)
                json_object_set_new(status, "initContainerStatuses", init_statuses);
        else
                json_decref(init_statuses);
        return status;
}

bool k8c_kubelet_status_equal(const json_t *new_status, const json_t *old_status)
{
        if (!json_is_object(old_status))
                return false;
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)new_status, key, value)
        {
                if (!json_equal(value, json_object_get(old_status, key)))
                        return false;
        }
        return true;
}

/*
 * pods.c - core/v1 Pod: defaults (SetDefaults_Pod/PodSpec/Container), create/update
 * strategy (status Pending + qosClass on create; main-resource writes keep status),
 * validation including the pod update rule, and the kubectl table row (printPod).
 * Must not touch storage: binding, eviction and deletion grace live in the REST code.
 */
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"

static const char *const pod_short_names[] = { "po", NULL };
static const char *const pod_categories[] = { "all", NULL };
static const char *const pod_field_selectors[] = { "spec.nodeName",
                                                   "spec.restartPolicy",
                                                   "spec.schedulerName",
                                                   "spec.serviceAccountName",
                                                   "spec.hostNetwork",
                                                   "status.phase",
                                                   "status.podIP",
                                                   "status.podIPs",
                                                   "status.nominatedNodeName",
                                                   NULL };

static void pod_set_defaults(json_t *obj)
{
        json_t *spec = k8c_reg_ensure(obj, "spec");
        if (spec == NULL)
                return;
        /* SetDefaults_Pod: requests default to limits when a container sets only limits. */
        size_t i;
        json_t *c;
        json_array_foreach(k8c_reg_arr(spec, "containers"), i, c)
        {
                json_t *res = k8c_reg_obj(c, "resources");
                json_t *limits = k8c_reg_obj(res, "limits");
                if (json_object_size(limits) == 0)
                        continue;
                json_t *requests = k8c_reg_ensure(res, "requests");
                const char *name;
                json_t *q;
                json_object_foreach(limits, name, q)
                {
                        if (json_object_get(requests, name) == NULL)
                                json_object_set(requests, name, q);
                }
        }
        k8c_reg_default_bool(spec, "enableServiceLinks", true);
        k8c_pod_spec_set_defaults(spec);
}

/* What kube-apiserver's default admission chain adds to every new pod: the Priority plugin's
 * priority 0 / PreemptLowerPriority, and DefaultTolerationSeconds' 300s NoExecute tolerations for
 * not-ready and unreachable nodes (unless the pod already tolerates them). */
static void pod_admission_defaults(json_t *spec)
{
        if (spec == NULL)
                return;
        if (k8c_reg_str0(spec, "priorityClassName")[0] == '\0')
                k8c_reg_default_int(spec, "priority", 0);
        k8c_reg_default_str(spec, "preemptionPolicy", "PreemptLowerPriority");
        static const char *const keys[] = { "node.kubernetes.io/not-ready",
                                            "node.kubernetes.io/unreachable" };
        bool tolerates[2] = { false, false };
        size_t i;
        json_t *t;
        json_array_foreach(k8c_reg_arr(spec, "tolerations"), i, t)
        {
                const char *key = k8c_reg_str0(t, "key");
                const char *effect = k8c_reg_str0(t, "effect");
                for (size_t k = 0; k < 2; k++)
                        if ((strcmp(key, keys[k]) == 0 || key[0] == '\0') &&
                            (strcmp(effect, "NoExecute") == 0 || effect[0] == '\0'))
                                tolerates[k] = true;
        }
        for (size_t k = 0; k < 2; k++) {
                if (tolerates[k])
                        continue;
                json_t *list = k8c_reg_arr(spec, "tolerations");
                if (list == NULL) {
                        list = json_array();
                        json_object_set_new(spec, "tolerations", list);
                }
                json_array_append_new(list,
                                      json_pack("{s:s, s:s, s:s, s:i}", "key", keys[k], "operator", "Exists",
                                                "effect", "NoExecute", "tolerationSeconds", 300));
        }
}

static void pod_prepare_create(json_t *obj, const struct k8c_registry_ctx *ctx)
{
        json_t *spec = k8c_reg_obj(obj, "spec");
        pod_admission_defaults(spec);
        json_t *status = json_pack("{s:s, s:s}", "phase", "Pending", "qosClass", k8c_pod_qos_class(spec));
        if (json_array_size(k8c_reg_arr(spec, "schedulingGates")) > 0)
                json_object_set_new(status, "conditions",
                                    json_pack("[{s:s, s:s, s:n, s:n, s:s, s:s}]", "type", "PodScheduled",
                                              "status", "False", "lastProbeTime", "lastTransitionTime",
                                              "reason", "SchedulingGated", "message",
                                              "Scheduling is blocked due to non-empty scheduling gates"));
        json_object_set_new(obj, "status", status);
}

static void pod_prepare_update(json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx)
{
        k8c_reg_keep_old(obj, old, "status");
}

static void pod_validate(const json_t *obj, const struct k8c_registry_ctx *ctx, struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        k8c_validate_pod_spec(k8c_reg_obj(obj, "spec"), "spec", errs);
}

static const char pod_update_msg[] =
        "pod updates may not change fields other than "
        "`spec.containers[*].image`,`spec.initContainers[*].image`,"
        "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/* true when every toleration of old is also in new (additions only). */
static bool tolerations_added_only(const json_t *new_t, const json_t *old_t)
{
        size_t i, j;
        json_t *o, *n;
        json_array_foreach(old_t, i, o)
        {
                bool found = false;
                json_array_foreach(new_t, j, n) found = found || json_equal(o, n);
                if (!found)
                        return false;
        }
        return true;
}

static void copy_images(json_t *mutable_spec, const json_t *old_spec, const char *list)
{
        json_t *nl = k8c_reg_arr(mutable_spec, list);
        json_t *ol = k8c_reg_arr(old_spec, list);
        if (json_array_size(nl) != json_array_size(ol))
                return;
        size_t i;
        json_t *c;
        json_array_foreach(nl, i, c)
        {
                json_t *oimg = k8c_reg_get(json_array_get(ol, i), "image");
                if (oimg != NULL)
                        json_object_set(c, "image", oimg);
        }
}

static void pod_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                                struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_update(obj, old, errs);
        json_t *spec = k8c_reg_obj(obj, "spec");
        json_t *ospec = k8c_reg_obj(old, "spec");

        json_t *nads = k8c_reg_get(spec, "activeDeadlineSeconds");
        json_t *oads = k8c_reg_get(ospec, "activeDeadlineSeconds");
        if (oads != NULL && json_is_integer(oads)) {
                if (nads == NULL)
                        k8c_field_invalid_raw(errs, "spec.activeDeadlineSeconds", "null",
                                              "must not update from a positive integer to nil value");
                else if (json_is_integer(nads) && json_integer_value(nads) > json_integer_value(oads))
                        k8c_field_invalid_int(errs, "spec.activeDeadlineSeconds", json_integer_value(nads),
                                              "must be less than or equal to previous value");
        }

        /* Compare the specs with every mutable field taken from the old one. */
        json_auto_t *empty = json_object();
        json_auto_t *mspec = json_deep_copy(spec != NULL ? spec : empty);
        copy_images(mspec, ospec, "containers");
        copy_images(mspec, ospec, "initContainers");
        k8c_reg_keep_old(mspec, ospec, "activeDeadlineSeconds");
        if (tolerations_added_only(k8c_reg_arr(mspec, "tolerations"), k8c_reg_arr(ospec, "tolerations")))
                k8c_reg_keep_old(mspec, ospec, "tolerations");
        if (k8c_reg_int(ospec, "terminationGracePeriodSeconds", 0) < 0 &&
            k8c_reg_int(mspec, "terminationGracePeriodSeconds", 0) == 1)
                k8c_reg_keep_old(mspec, ospec, "terminationGracePeriodSeconds");
        if (!json_equal(mspec, ospec != NULL ? ospec : empty))
                k8c_field_forbidden(errs, "spec", pod_update_msg);
}

/* ---- table (printPod) ---- */

static const struct k8c_table_column pod_columns[] = {
        K8C_COL_NAME,
        { "Ready", "string", "", 0, "The aggregate readiness state of this pod for accepting traffic." },
        { "Status", "string", "", 0, "The aggregate status of the containers in this pod." },
        { "Restarts", "string", "", 0,
          "The number of times the containers in this pod have been restarted and when the last container in "
          "this pod has restarted." },
        K8C_COL_AGE,
        { "IP", "string", "", 1,
          "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
          "allocated." },
        { "Node", "string", "", 1,
          "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for "
          "scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for "
          "this "
          "node becomes responsible for the lifecycle of this pod. This field should not be used to express "
          "a "
          "desire for the pod to be scheduled on a specific node. "
          "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename" },
        { "Nominated Node", "string", "", 1,
          "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be "
          "scheduled right away as preemption victims receive their graceful termination periods. This field "
          "does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the "
          "pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the "
          "resources on this node to a higher priority pod that is created after preemption. As a result, "
          "this "
          "field may be different than PodSpec.nodeName when the pod is scheduled." },
        { "Readiness Gates", "string", "", 1,
          "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all "
          "its "
          "containers are ready AND all conditions specified in the readiness gates have status equal to "
          "\"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates" },
        K8C_COL_END,
};

static bool condition_true(const json_t *status, const char *type)
{
        size_t i;
        json_t *c;
        json_array_foreach(k8c_reg_arr(status, "conditions"), i, c)
        {
                if (strcmp(k8c_reg_str0(c, "type"), type) == 0)
                        return strcmp(k8c_reg_str0(c, "status"), "True") == 0;
        }
        return false;
}

/* Later of two RFC3339 timestamps (by string order, which is time order for UTC "Z" forms). */
static void track_last(const json_t *cs, const char **last)
{
        const char *fin = k8c_reg_path_str(cs, "lastState.terminated.finishedAt");
        if (fin != NULL && (*last == NULL || strcmp(fin, *last) > 0))
                *last = fin;
}

static bool is_restartable_init(const json_t *spec, const char *name)
{
        size_t i;
        json_t *c;
        json_array_foreach(k8c_reg_arr(spec, "initContainers"), i, c)
        {
                if (strcmp(k8c_reg_str0(c, "name"), name) == 0)
                        return strcmp(k8c_reg_str0(c, "restartPolicy"), "Always") == 0;
        }
        return false;
}

static void pod_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        json_t *spec = k8c_reg_obj(obj, "spec");
        json_t *status = k8c_reg_obj(obj, "status");
        json_t *meta = k8c_reg_obj(obj, "metadata");
        long restarts = 0, restartable_restarts = 0;
        long total = (long)json_array_size(k8c_reg_arr(spec, "containers"));
        long ready = 0;
        const char *last_restart = NULL, *last_restartable = NULL;
        const char *phase = k8c_reg_str0(status, "phase");
        cleanup_free char *reason = k8c_xstrdup(
                k8c_reg_str0(status, "reason")[0] != '\0' ? k8c_reg_str0(status, "reason") : phase);
        size_t i;
        json_t *c;
        json_array_foreach(k8c_reg_arr(status, "conditions"), i, c)
        {
                if (strcmp(k8c_reg_str0(c, "type"), "PodScheduled") == 0 &&
                    strcmp(k8c_reg_str0(c, "reason"), "SchedulingGated") == 0) {
                        free(reason);
                        reason = k8c_xstrdup("SchedulingGated");
                }
        }
        json_array_foreach(k8c_reg_arr(spec, "initContainers"), i, c)
        {
                if (strcmp(k8c_reg_str0(c, "restartPolicy"), "Always") == 0)
                        total++;
        }

        bool initializing = false;
        json_t *ics = k8c_reg_arr(status, "initContainerStatuses");
        size_t n_init = json_array_size(k8c_reg_arr(spec, "initContainers"));
        json_array_foreach(ics, i, c)
        {
                restarts += (long)k8c_reg_int(c, "restartCount", 0);
                track_last(c, &last_restart);
                bool restartable = is_restartable_init(spec, k8c_reg_str0(c, "name"));
                if (restartable) {
                        restartable_restarts += (long)k8c_reg_int(c, "restartCount", 0);
                        track_last(c, &last_restartable);
                }
                json_t *term = k8c_reg_path(c, "state.terminated");
                json_t *wait = k8c_reg_path(c, "state.waiting");
                if (term != NULL && k8c_reg_int(term, "exitCode", 0) == 0)
                        continue;
                if (restartable && json_is_true(k8c_reg_get(c, "started"))) {
                        if (json_is_true(k8c_reg_get(c, "ready")))
                                ready++;
                        continue;
                }
                free(reason);
                if (term != NULL) {
                        const char *r = k8c_reg_str0(term, "reason");
                        if (r[0] == '\0') {
                                if (k8c_reg_int(term, "signal", 0) != 0)
                                        reason = k8c_xasprintf("Init:Signal:%" JSON_INTEGER_FORMAT,
                                                               k8c_reg_int(term, "signal", 0));
                                else
                                        reason = k8c_xasprintf("Init:ExitCode:%" JSON_INTEGER_FORMAT,
                                                               k8c_reg_int(term, "exitCode", 0));
                        } else {
                                reason = k8c_xasprintf("Init:%s", r);
                        }
                } else if (wait != NULL && k8c_reg_str0(wait, "reason")[0] != '\0' &&
                           strcmp(k8c_reg_str0(wait, "reason"), "PodInitializing") != 0) {
                        reason = k8c_xasprintf("Init:%s", k8c_reg_str0(wait, "reason"));
                } else {
                        reason = k8c_xasprintf("Init:%zu/%zu", i, n_init);
                }
                initializing = true;
                break;
        }

        if (!initializing || condition_true(status, "Initialized")) {
                restarts = restartable_restarts;
                last_restart = last_restartable;
                bool has_running = false;
                json_t *cs = k8c_reg_arr(status, "containerStatuses");
                for (size_t k = json_array_size(cs); k-- > 0;) {
                        c = json_array_get(cs, k);
                        restarts += (long)k8c_reg_int(c, "restartCount", 0);
                        track_last(c, &last_restart);
                        json_t *wait = k8c_reg_path(c, "state.waiting");
                        json_t *term = k8c_reg_path(c, "state.terminated");
                        if (wait != NULL && k8c_reg_str0(wait, "reason")[0] != '\0') {
                                free(reason);
                                reason = k8c_xstrdup(k8c_reg_str0(wait, "reason"));
                        } else if (term != NULL && k8c_reg_str0(term, "reason")[0] != '\0') {
                                free(reason);
                                reason = k8c_xstrdup(k8c_reg_str0(term, "reason"));
                        } else if (term != NULL) {
                                free(reason);
                                if (k8c_reg_int(term, "signal", 0) != 0)
                                        reason = k8c_xasprintf("Signal:%" JSON_INTEGER_FORMAT,
                                                               k8c_reg_int(term, "signal", 0));
                                else
                                        reason = k8c_xasprintf("ExitCode:%" JSON_INTEGER_FORMAT,
                                                               k8c_reg_int(term, "exitCode", 0));
                        } else if (json_is_true(k8c_reg_get(c, "ready")) &&
                                   k8c_reg_path(c, "state.running") != NULL) {
                                has_running = true;
                                ready++;
                        }
                }
                if (strcmp(reason, "Completed") == 0 && has_running) {
                        free(reason);
                        reason = k8c_xstrdup(condition_true(status, "Ready") ? "Running" : "NotReady");
                }
        }

        if (k8c_reg_has(meta, "deletionTimestamp")) {
                if (strcmp(k8c_reg_str0(status, "reason"), "NodeLost") == 0) {
                        free(reason);
                        reason = k8c_xstrdup("Unknown");
                } else if (strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0) {
                        free(reason);
                        reason = k8c_xstrdup("Terminating");
                }
        }

        cleanup_free char *restarts_str = NULL;
        if (restarts != 0 && last_restart != NULL) {
                cleanup_free char *ago = k8c_age_string(last_restart, ctx);
                restarts_str = k8c_xasprintf("%ld (%s ago)", restarts, ago);
        } else {
                restarts_str = k8c_xasprintf("%ld", restarts);
        }
        cleanup_free char *ready_str = k8c_xasprintf("%ld/%ld", ready, total);
        json_array_append_new(cells, json_string(k8c_reg_str0(meta, "name")));
        json_array_append_new(cells, json_string(ready_str));
        json_array_append_new(cells, json_string(reason));
        json_array_append_new(cells, json_string(restarts_str));
        k8c_table_age_cell(obj, ctx, cells);

        const char *ip = k8c_reg_str0(json_array_get(k8c_reg_arr(status, "podIPs"), 0), "ip");
        const char *node = k8c_reg_str0(spec, "nodeName");
        const char *nominated = k8c_reg_str0(status, "nominatedNodeName");
        json_array_append_new(cells, json_string(ip[0] != '\0' ? ip : "<none>"));
        json_array_append_new(cells, json_string(node[0] != '\0' ? node : "<none>"));
        json_array_append_new(cells, json_string(nominated[0] != '\0' ? nominated : "<none>"));
        json_t *gates = k8c_reg_arr(spec, "readinessGates");
        if (json_array_size(gates) == 0) {
                json_array_append_new(cells, json_string("<none>"));
        } else {
                long true_count = 0;
                json_t *g;
                json_array_foreach(gates, i, g)
                {
                        size_t j;
                        json_t *cond;
                        json_array_foreach(k8c_reg_arr(status, "conditions"), j, cond)
                        {
                                if (strcmp(k8c_reg_str0(cond, "type"), k8c_reg_str0(g, "conditionType")) ==
                                    0) {
                                        if (strcmp(k8c_reg_str0(cond, "status"), "True") == 0)
                                                true_count++;
                                        break;
                                }
                        }
                }
                cleanup_free char *s = k8c_xasprintf("%ld/%zu", true_count, json_array_size(gates));
                json_array_append_new(cells, json_string(s));
        }
}

/* Graceful deletion (the pod strategy's CheckGracefulDelete): the requested grace, else
 * spec.terminationGracePeriodSeconds (default 30). A pod no kubelet runs (unscheduled) or whose
 * containers are done (Succeeded/Failed) has nothing to wait for: 0, removed at once. */
static long pod_delete_grace_seconds(const json_t *obj, long requested)
{
        const json_t *spec = json_object_get(obj, "spec");
        const char *node = json_string_value(json_object_get(spec, "nodeName"));
        const char *phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
        if (node == NULL || node[0] == '\0')
                return 0;
        if (phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
                return 0;
        if (requested >= 0)
                return requested;
        json_t *tg = json_object_get(spec, "terminationGracePeriodSeconds");
        if (json_is_integer(tg) && json_integer_value(tg) >= 0)
                return (long)json_integer_value(tg);
        return 30;
}

const struct k8c_resource k8c_resource_pods = {
        .group = "",
        .version = "v1",
        .kind = "Pod",
        .list_kind = "PodList",
        .plural = "pods",
        .singular = "pod",
        .short_names = pod_short_names,
        .categories = pod_categories,
        .namespaced = true,
        .has_status = true,
        .field_selectors = pod_field_selectors,
        .set_defaults = pod_set_defaults,
        .prepare_create = pod_prepare_create,
        .prepare_update = pod_prepare_update,
        .validate = pod_validate,
        .validate_update = pod_validate_update,
        .columns = pod_columns,
        .table_row = pod_table_row,
        .delete_grace_seconds = pod_delete_grace_seconds,
};

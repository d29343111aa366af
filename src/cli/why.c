/*
 * why.c - `k8cctl why pod/NAME | service/NAME`: answers the three questions
 * users otherwise piece together from get, describe and events:
 *   - a Pending pod: which node rejects it and why (checked here per node
 *     with the scheduler's main filters: unschedulable, not Ready, taints,
 *     nodeSelector, cpu/memory/pods against allocatable minus what the
 *     node's pods request), plus the scheduler's own last word;
 *   - a pod that is not Ready: each container's state, last exit and
 *     readiness probe, and the recent Warning events about the pod;
 *   - a Service without endpoints: no selector, no pod with its labels (the
 *     labels of the pods that come closest), or matching pods not Ready.
 *
 * It only reads. Node affinity, pod (anti-)affinity and host ports are not
 * evaluated here; the scheduler's condition message covers them.
 */
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"
#include "k8c/labels.h"
#include "k8c/quantity.h"

static const char *str(const json_t *o, const char *path, const char *def)
{
        const char *s = k8c_json_get_string(o, path);
        return s != NULL ? s : def;
}

static const json_t *condition(const json_t *obj, const char *type)
{
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(obj, "status.conditions"), i,
                           c) if (strcmp(str(c, "type", ""), type) == 0) return c;
        return NULL;
}

static bool tolerates(const json_t *tolerations, const json_t *taint)
{
        size_t i;
        json_t *t;
        json_array_foreach(tolerations, i, t)
        {
                const char *effect = str(t, "effect", "");
                if (effect[0] != '\0' && strcmp(effect, str(taint, "effect", "")) != 0)
                        continue;
                const char *key = str(t, "key", "");
                if (strcmp(str(t, "operator", "Equal"), "Exists") == 0) {
                        if (key[0] == '\0' || strcmp(key, str(taint, "key", "")) == 0)
                                return true;
                } else if (strcmp(key, str(taint, "key", "")) == 0 &&
                           strcmp(str(t, "value", ""), str(taint, "value", "")) == 0) {
                        return true;
                }
        }
        return false;
}

static k8c_quantity_t qty(const json_t *rl, const char *name)
{
        k8c_quantity_t q = { 0 };
        const json_t *v = json_object_get(rl, name);
        if (v != NULL && k8c_quantity_from_json(v, &q, NULL) < 0)
                q = (k8c_quantity_t){ 0 };
        return q;
}

/* Why the pod does not fit on this node, as "; "-separated reasons ("" when it fits by the
 * filters checked here). used: the summed requests of the node's pods; npods: their count. */
static char *node_reasons(const json_t *pod, const json_t *node, const json_t *used, size_t npods)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        const char *sep = "";
        if (k8c_json_get_bool(node, "spec.unschedulable", false)) {
                fprintf(f, "%snode is cordoned (unschedulable)", sep);
                sep = "; ";
        }
        const json_t *ready = condition(node, "Ready");
        if (ready == NULL || strcmp(str(ready, "status", ""), "True") != 0) {
                fprintf(f, "%snode is not Ready", sep);
                sep = "; ";
        }
        size_t i;
        json_t *t;
        json_array_foreach(k8c_json_get(node, "spec.taints"), i, t)
        {
                const char *effect = str(t, "effect", "");
                if (strcmp(effect, "NoSchedule") != 0 && strcmp(effect, "NoExecute") != 0)
                        continue;
                if (tolerates(k8c_json_get(pod, "spec.tolerations"), t))
                        continue;
                const char *v = str(t, "value", "");
                fprintf(f, "%suntolerated taint %s%s%s:%s", sep, str(t, "key", ""), v[0] ? "=" : "", v,
                        effect);
                sep = "; ";
        }
        const char *k;
        json_t *v;
        json_object_foreach(k8c_json_get(pod, "spec.nodeSelector"), k, v)
        {
                const char *have =
                        json_string_value(json_object_get(k8c_json_get(node, "metadata.labels"), k));
                if (have == NULL || strcmp(have, json_string_value(v) ?: "") != 0) {
                        fprintf(f, "%snodeSelector %s=%s does not match (node has %s)", sep, k,
                                json_string_value(v) ?: "", have != NULL ? have : "no such label");
                        sep = "; ";
                }
        }
        const json_t *alloc = k8c_json_get(node, "status.allocatable");
        if (json_object_size(alloc) == 0)
                alloc = k8c_json_get(node, "status.capacity");
        json_auto_t *want = k8c_cli_pod_resources(pod, "requests");
        json_object_foreach(want, k, v)
        {
                k8c_quantity_t w = qty(want, k), u = qty(used, k), a = qty(alloc, k);
                if (json_object_get(alloc, k) == NULL && k8c_quantity_milli(&w) == 0)
                        continue;
                k8c_quantity_t free_ = a;
                k8c_quantity_sub(&free_, &u, NULL);
                if (k8c_quantity_cmp(&w, &free_) > 0) {
                        cleanup_free char *ws = k8c_quantity_format(&w), *fs = k8c_quantity_format(&free_);
                        cleanup_free char *as = k8c_quantity_format(&a);
                        fprintf(f, "%sInsufficient %s (requests %s, free %s of %s)", sep, k, ws, fs, as);
                        sep = "; ";
                }
        }
        k8c_quantity_t maxpods = qty(alloc, "pods");
        if (json_object_get(alloc, "pods") != NULL && (int64_t)npods >= k8c_quantity_value(&maxpods)) {
                fprintf(f, "%sToo many pods (%zu of %lld)", sep, npods,
                        (long long)k8c_quantity_value(&maxpods));
                sep = "; ";
        }
        fclose(f);
        return text;
}

/* The newest event about the pod with this reason, or NULL. */
static const json_t *last_event(const json_t *events, const char *reason)
{
        const json_t *best = NULL;
        size_t i;
        json_t *e;
        json_array_foreach(events, i, e)
        {
                if (reason != NULL && strcmp(str(e, "reason", ""), reason) != 0)
                        continue;
                const char *ts = str(e, "lastTimestamp", "");
                if (best == NULL || strcmp(ts, str(best, "lastTimestamp", "")) >= 0)
                        best = e;
        }
        return best;
}

static int why_pending(struct k8c_cli *cli, const json_t *pod, const json_t *events, k8c_error_t *err)
{
        const char *name = str(pod, "metadata.name", "");
        fprintf(cli->out, "pod/%s is Pending: no node has been assigned to it.\n", name);
        const json_t *sched = condition(pod, "PodScheduled");
        const char *msg = str(sched, "message", "");
        if (msg[0] != '\0')
                fprintf(cli->out, "Scheduler: %s\n", msg);
        else if (last_event(events, "FailedScheduling") != NULL)
                fprintf(cli->out, "Scheduler: %s\n",
                        str(last_event(events, "FailedScheduling"), "message", ""));
        else
                fprintf(cli->out, "Scheduler: no decision recorded yet (is k8c-scheduler running?)\n");
        json_auto_t *nodes = NULL, *pods = NULL;
        int r = k8c_cli_request(cli, "GET", "/api/v1/nodes", NULL, NULL, &nodes, err);
        if (r < 0)
                return r;
        cleanup_free char *fs = k8c_url_escape("status.phase!=Succeeded,status.phase!=Failed");
        cleanup_free char *ppath = k8c_xasprintf("/api/v1/pods?fieldSelector=%s", fs);
        r = k8c_cli_request(cli, "GET", ppath, NULL, NULL, &pods, err);
        if (r < 0)
                return r;
        const json_t *items = json_object_get(nodes, "items");
        if (json_array_size(items) == 0) {
                fprintf(cli->out, "There are no nodes in the cluster.\n");
                return 0;
        }
        char *text = NULL;
        size_t len = 0;
        FILE *w = open_memstream(&text, &len);
        fprintf(w, "NODE\tFITS\tWHY NOT\n");
        size_t i, j;
        json_t *node, *p;
        json_array_foreach(items, i, node)
        {
                const char *nn = str(node, "metadata.name", "");
                json_auto_t *used = json_object();
                size_t npods = 0;
                json_array_foreach(json_object_get(pods, "items"), j, p)
                {
                        if (strcmp(str(p, "spec.nodeName", ""), nn) != 0)
                                continue;
                        npods++;
                        json_auto_t *req = k8c_cli_pod_resources(p, "requests");
                        const char *k;
                        json_t *v;
                        json_object_foreach(req, k, v)
                        {
                                k8c_quantity_t sum = qty(used, k), add = qty(req, k);
                                k8c_quantity_add(&sum, &add, NULL);
                                cleanup_free char *s = k8c_quantity_format(&sum);
                                json_object_set_new(used, k, json_string(s));
                        }
                }
                cleanup_free char *why = node_reasons(pod, node, used, npods);
                fprintf(w, "%s\t%s\t%s\n", nn, why[0] == '\0' ? "yes" : "no", why[0] == '\0' ? "-" : why);
        }
        fclose(w);
        k8c_cli_tabwrite(cli->out, text, 3);
        free(text);
        return 0;
}

static void why_not_ready(struct k8c_cli *cli, const json_t *pod, const json_t *events)
{
        const char *name = str(pod, "metadata.name", "");
        fprintf(cli->out, "pod/%s is %s on node %s but not Ready.\n", name,
                str(pod, "status.phase", "Unknown"), str(pod, "spec.nodeName", ""));
        size_t i;
        json_t *cs;
        if (json_array_size(k8c_json_get(pod, "status.containerStatuses")) == 0)
                fprintf(cli->out,
                        "Its kubelet has not reported any container status yet (is k8c-kubelet running on "
                        "%s?).\n",
                        str(pod, "spec.nodeName", ""));
        json_array_foreach(k8c_json_get(pod, "status.containerStatuses"), i, cs)
        {
                const char *cname = str(cs, "name", "");
                fprintf(cli->out, "container %s: %s, %lld restart(s)", cname,
                        k8c_json_get_bool(cs, "ready", false) ? "ready" : "not ready",
                        (long long)k8c_json_get_int(cs, "restartCount", 0));
                if (k8c_json_get(cs, "state.waiting") != NULL)
                        fprintf(cli->out, "; waiting: %s %s", str(cs, "state.waiting.reason", ""),
                                str(cs, "state.waiting.message", ""));
                else if (k8c_json_get(cs, "state.terminated") != NULL)
                        fprintf(cli->out, "; terminated: %s, exit code %lld",
                                str(cs, "state.terminated.reason", ""),
                                (long long)k8c_json_get_int(cs, "state.terminated.exitCode", 0));
                else if (k8c_json_get(cs, "state.running") != NULL)
                        fprintf(cli->out, "; running since %s", str(cs, "state.running.startedAt", "?"));
                if (k8c_json_get(cs, "lastState.terminated") != NULL)
                        fprintf(cli->out, "; last exit: %s, exit code %lld at %s",
                                str(cs, "lastState.terminated.reason", ""),
                                (long long)k8c_json_get_int(cs, "lastState.terminated.exitCode", 0),
                                str(cs, "lastState.terminated.finishedAt", "?"));
                fputc('\n', cli->out);
                size_t j;
                json_t *c;
                json_array_foreach(k8c_json_get(pod, "spec.containers"), j, c)
                {
                        if (strcmp(str(c, "name", ""), cname) != 0 ||
                            json_object_get(c, "readinessProbe") == NULL)
                                continue;
                        const json_t *rp = json_object_get(c, "readinessProbe");
                        const char *kind = json_object_get(rp, "httpGet") != NULL     ? "http-get"
                                           : json_object_get(rp, "tcpSocket") != NULL ? "tcp-socket"
                                           : json_object_get(rp, "grpc") != NULL      ? "grpc"
                                                                                      : "exec";
                        fprintf(cli->out,
                                "  readiness probe: %s every %llds, %lld failure(s) make it not ready\n",
                                kind, (long long)k8c_json_get_int(rp, "periodSeconds", 10),
                                (long long)k8c_json_get_int(rp, "failureThreshold", 3));
                }
        }
        size_t n = 0;
        json_t *e;
        json_array_foreach(events, i, e)
        {
                if (strcmp(str(e, "type", ""), "Warning") != 0)
                        continue;
                if (n++ == 0)
                        fprintf(cli->out, "Warnings:\n");
                fprintf(cli->out, "  %s: %s (x%lld)\n", str(e, "reason", ""), str(e, "message", ""),
                        (long long)k8c_json_get_int(e, "count", 1));
        }
}

static int why_pod(struct k8c_cli *cli, const json_t *pod, k8c_error_t *err)
{
        const char *name = str(pod, "metadata.name", "");
        const char *ns = str(pod, "metadata.namespace", "default");
        const char *uid = str(pod, "metadata.uid", "");
        cleanup_free char *fs_raw = k8c_xasprintf(
                "involvedObject.name=%s,involvedObject.namespace=%s,involvedObject.uid=%s", name, ns, uid);
        cleanup_free char *fs = k8c_url_escape(fs_raw);
        cleanup_free char *epath = k8c_xasprintf("/api/v1/namespaces/%s/events?fieldSelector=%s", ns, fs);
        json_auto_t *events = NULL;
        cleanup_error k8c_error_t eerr = NULL;
        k8c_cli_request(cli, "GET", epath, NULL, NULL, &events, &eerr);
        const json_t *items = json_object_get(events, "items");
        if (k8c_json_get(pod, "metadata.deletionTimestamp") != NULL) {
                fprintf(cli->out, "pod/%s is being deleted (since %s).\n", name,
                        str(pod, "metadata.deletionTimestamp", ""));
                return 0;
        }
        const char *node = k8c_json_get_string(pod, "spec.nodeName");
        if (node == NULL || node[0] == '\0')
                return why_pending(cli, pod, items, err);
        const char *phase = str(pod, "status.phase", "Unknown");
        if (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0) {
                fprintf(cli->out, "pod/%s has finished: %s.\n", name, phase);
                return 0;
        }
        const json_t *ready = condition(pod, "Ready");
        if (ready != NULL && strcmp(str(ready, "status", ""), "True") == 0) {
                fprintf(cli->out, "pod/%s is Running and Ready on node %s.\n", name, node);
                return 0;
        }
        why_not_ready(cli, pod, items);
        return 0;
}

/* How many of want's labels the pod has with the same value. */
static size_t shared_labels(const json_t *want, const json_t *labels)
{
        size_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)want, k, v) if (json_equal(v, json_object_get(labels, k))) n++;
        return n;
}

static int why_service(struct k8c_cli *cli, const json_t *svc, k8c_error_t *err)
{
        const char *name = str(svc, "metadata.name", "");
        const char *ns = str(svc, "metadata.namespace", "default");
        const json_t *selector = k8c_json_get(svc, "spec.selector");
        if (json_object_size(selector) == 0) {
                fprintf(cli->out,
                        "service/%s has no selector: its Endpoints are written by hand (or by another "
                        "controller), not from pods.\n",
                        name);
                return 0;
        }
        cleanup_free char *sel = k8c_cli_format_selector(selector, NULL);
        json_auto_t *pods = NULL;
        cleanup_free char *ppath = k8c_xasprintf("/api/v1/namespaces/%s/pods", ns);
        int r = k8c_cli_request(cli, "GET", ppath, NULL, NULL, &pods, err);
        if (r < 0)
                return r;
        size_t matching = 0, ready = 0, best = 0;
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(pods, "items"), i, p)
        {
                size_t shared = shared_labels(selector, k8c_json_get(p, "metadata.labels"));
                if (shared < json_object_size(selector)) {
                        if (shared > best)
                                best = shared;
                        continue;
                }
                matching++;
                const json_t *c = condition(p, "Ready");
                if (c != NULL && strcmp(str(c, "status", ""), "True") == 0)
                        ready++;
        }
        if (matching == 0) {
                fprintf(cli->out, "service/%s selects %s, and no pod in namespace %s has these labels.\n",
                        name, sel, ns);
                if (best == 0) {
                        fprintf(cli->out, "No pod shares any of them.\n");
                        return 0;
                }
                fprintf(cli->out, "Closest pods (labels they lack or have with another value):\n");
                json_array_foreach(json_object_get(pods, "items"), i, p)
                {
                        const json_t *labels = k8c_json_get(p, "metadata.labels");
                        if (shared_labels(selector, labels) != best)
                                continue;
                        fprintf(cli->out, "  pod/%s:", str(p, "metadata.name", ""));
                        const char *k;
                        json_t *v;
                        json_object_foreach((json_t *)selector, k, v)
                        {
                                const char *have = json_string_value(json_object_get(labels, k));
                                if (have == NULL)
                                        fprintf(cli->out, " %s missing;", k);
                                else if (strcmp(have, json_string_value(v) ?: "") != 0)
                                        fprintf(cli->out, " %s=%s (wants %s);", k, have,
                                                json_string_value(v) ?: "");
                        }
                        fputc('\n', cli->out);
                }
                return 0;
        }
        if (ready == 0) {
                fprintf(cli->out, "service/%s selects %s: %zu pod(s) match, none of them Ready:\n", name, sel,
                        matching);
                json_array_foreach(json_object_get(pods, "items"), i, p)
                {
                        if (shared_labels(selector, k8c_json_get(p, "metadata.labels")) <
                            json_object_size(selector))
                                continue;
                        const json_t *c = condition(p, "Ready");
                        fprintf(cli->out, "  pod/%s: %s%s%s\n", str(p, "metadata.name", ""),
                                str(p, "status.phase", "Unknown"), c != NULL ? ", " : "",
                                c != NULL ? str(c, "reason", "not ready") : "");
                }
                fprintf(cli->out, "Run `k8cctl why pod/NAME` on one of them.\n");
                return 0;
        }
        fprintf(cli->out, "service/%s selects %s: %zu of %zu matching pod(s) are Ready and serve it.\n", name,
                sel, ready, matching);
        return 0;
}

static int why_one(struct k8c_cli *cli, const struct k8c_cli_target *t, const json_t *obj, void *opaque,
                   k8c_error_t *err)
{
        const char *kind = json_string_value(json_object_get(t->res, "kind"));
        if (strcmp(kind, "Pod") == 0)
                return why_pod(cli, obj, err);
        if (strcmp(kind, "Service") == 0)
                return why_service(cli, obj, err);
        return k8c_make_error(err, K8C_EBADREQUEST, "error: why explains pods and services, not %s", kind);
}

int k8c_cli_why(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        if (nargs == 0)
                return k8c_make_error(err, K8C_EUSAGE, "error: usage: k8cctl why pod/NAME | service/NAME");
        return k8c_cli_each_named_object(cli, args, nargs, why_one, NULL, err);
}

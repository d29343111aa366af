/*
 * nodelifecycle.c - the node lifecycle controller (Kubernetes'
 * node_lifecycle_controller + taint eviction, reduced): every monitor period it
 * checks each node's Lease in kube-node-lease. A node whose Lease renewTime has
 * not changed for the grace period, on this controller's own clock, is
 * unreachable: its conditions become Unknown, it gets the
 * node.kubernetes.io/unreachable NoSchedule and NoExecute taints, and its pods
 * are marked Ready=False at once. Pods are deleted once the eviction timeout (or
 * their toleration of the unreachable taint, when they have one with
 * tolerationSeconds; never, with one without) has passed. A renewed Lease lifts
 * the taints. The monitor runs as the one key "monitor" of its work queue, re-added
 * after each pass. Time comes in as an argument so unit tests control it. Does not log.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controllers/internal.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/names.h"
#include "k8c/strmap.h"

#define UNREACHABLE_TAINT "node.kubernetes.io/unreachable"

struct node_health {
        char *renew;            /* last renewTime seen */
        int64_t observed_ms;    /* when it last changed, on our clock */
        int64_t unreachable_ms; /* when we declared it unreachable (0 = reachable) */
};

struct k8c_nodelifecycle_controller {
        struct k8c_informer *nodes, *leases, *pods;
        struct k8c_object_control ctl;
        struct k8c_workqueue *queue;
        struct k8c_nodelifecycle_config cfg;
        pthread_mutex_t lock;
        struct k8c_strmap health; /* node name → struct node_health * */
};

static void health_free(struct node_health *h)
{
        if (h == NULL)
                return;
        free(h->renew);
        free(h);
}

static void on_node_delete(void *o, json_t *node)
{
        struct k8c_nodelifecycle_controller *c = o;
        const char *name = k8c_json_get_string(node, "metadata.name");
        struct node_health *h = NULL;
        pthread_mutex_lock(&c->lock);
        if (name != NULL && k8c_strmap_del(&c->health, name, (void **)&h))
                health_free(h);
        pthread_mutex_unlock(&c->lock);
}

struct k8c_nodelifecycle_controller *
k8c_nodelifecycle_controller_new(struct k8c_informer *nodes, struct k8c_informer *leases,
                                 struct k8c_informer *pods, const struct k8c_object_control *ctl,
                                 const struct k8c_nodelifecycle_config *cfg)
{
        struct k8c_nodelifecycle_controller *c = k8c_xcalloc(1, sizeof(*c));
        c->nodes = nodes;
        c->leases = leases;
        c->pods = pods;
        c->ctl = *ctl;
        c->cfg = *cfg;
        if (c->cfg.grace_ms <= 0)
                c->cfg.grace_ms = 40000;
        if (c->cfg.eviction_ms <= 0)
                c->cfg.eviction_ms = 5 * 60 * 1000;
        if (c->cfg.period_ms <= 0)
                c->cfg.period_ms = 5000;
        c->queue = k8c_workqueue_new(NULL);
        pthread_mutex_init(&c->lock, NULL);
        k8c_strmap_init(&c->health);
        k8c_informer_add_handlers(nodes, &(struct k8c_informer_handlers){ NULL, NULL, on_node_delete, c });
        k8c_workqueue_add(c->queue, "monitor");
        return c;
}

void k8c_nodelifecycle_controller_free(struct k8c_nodelifecycle_controller *c)
{
        if (c == NULL)
                return;
        k8c_workqueue_free(c->queue);
        size_t it = 0;
        struct node_health *h;
        while (k8c_strmap_next(&c->health, &it, NULL, (void **)&h))
                health_free(h);
        k8c_strmap_clear(&c->health);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

struct k8c_workqueue *k8c_nodelifecycle_controller_queue(struct k8c_nodelifecycle_controller *c)
{
        return c->queue;
}

/* ---- node changes ---- */

static bool has_taint(const json_t *node, const char *key, const char *effect)
{
        json_t *taints = k8c_json_get(node, "spec.taints");
        size_t i;
        json_t *t;
        json_array_foreach(taints, i, t)
        {
                const char *k = json_string_value(json_object_get(t, "key"));
                const char *e = json_string_value(json_object_get(t, "effect"));
                if (k != NULL && e != NULL && strcmp(k, key) == 0 && strcmp(e, effect) == 0)
                        return true;
        }
        return false;
}

/* Sets spec.taints to the node's taints without the unreachable ones, plus them when add. */
static int set_unreachable_taints(struct k8c_nodelifecycle_controller *c, const json_t *node, bool add,
                                  const char *now, k8c_error_t *err)
{
        bool have = has_taint(node, UNREACHABLE_TAINT, "NoSchedule") &&
                    has_taint(node, UNREACHABLE_TAINT, "NoExecute");
        bool any = has_taint(node, UNREACHABLE_TAINT, "NoSchedule") ||
                   has_taint(node, UNREACHABLE_TAINT, "NoExecute");
        if ((add && have) || (!add && !any))
                return 0;
        json_t *taints = json_array();
        size_t i;
        json_t *t;
        json_array_foreach(k8c_json_get(node, "spec.taints"), i, t)
        {
                const char *k = json_string_value(json_object_get(t, "key"));
                if (k == NULL || strcmp(k, UNREACHABLE_TAINT) != 0)
                        json_array_append(taints, t);
        }
        if (add) {
                json_array_append_new(
                        taints, json_pack("{s:s, s:s}", "key", UNREACHABLE_TAINT, "effect", "NoSchedule"));
                json_array_append_new(taints, json_pack("{s:s, s:s, s:s}", "key", UNREACHABLE_TAINT, "effect",
                                                        "NoExecute", "timeAdded", now));
        }
        /* Not guarded by resourceVersion: it follows the status write of the same pass (which moved it
         * on), and only a concurrent change of spec.taints itself could be lost. */
        json_auto_t *patch = json_pack("{s:{s:o}}", "spec", "taints", taints);
        cleanup_free char *path =
                k8c_ctrl_path("v1", "nodes", NULL, k8c_json_get_string(node, "metadata.name"));
        return c->ctl.patch(c->ctl.opaque, path, "application/merge-patch+json", patch, err);
}

/* Every condition of the node (Ready at least) becomes Unknown, as when the kubelet stops posting. */
static int mark_node_unknown(struct k8c_nodelifecycle_controller *c, const json_t *node, const char *now,
                             k8c_error_t *err)
{
        json_auto_t *obj = json_deep_copy(node);
        json_t *st = k8c_json_object_ensure(obj, "status");
        json_t *conds = json_object_get(st, "conditions");
        if (!json_is_array(conds)) {
                conds = json_array();
                json_object_set_new(st, "conditions", conds);
        }
        bool ready_seen = false, changed = false;
        size_t i;
        json_t *cnd;
        json_array_foreach(conds, i, cnd)
        {
                const char *type = json_string_value(json_object_get(cnd, "type"));
                if (type != NULL && strcmp(type, "Ready") == 0)
                        ready_seen = true;
                const char *s = json_string_value(json_object_get(cnd, "status"));
                if (s != NULL && strcmp(s, "Unknown") == 0)
                        continue;
                json_object_set_new(cnd, "status", json_string("Unknown"));
                json_object_set_new(cnd, "reason", json_string("NodeStatusUnknown"));
                json_object_set_new(cnd, "message", json_string("Kubelet stopped posting node status."));
                json_object_set_new(cnd, "lastTransitionTime", json_string(now));
                changed = true;
        }
        if (!ready_seen) {
                json_array_append_new(conds,
                                      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "Ready", "status",
                                                "Unknown", "reason", "NodeStatusNeverUpdated", "message",
                                                "Kubelet never posted node status.", "lastHeartbeatTime", now,
                                                "lastTransitionTime", now));
                changed = true;
        }
        if (!changed)
                return 0;
        cleanup_free char *path =
                k8c_xasprintf("/api/v1/nodes/%s/status", k8c_json_get_string(node, "metadata.name"));
        return c->ctl.update(c->ctl.opaque, path, obj, err);
}

/* ---- pods ---- */

static bool pod_ready_true(const json_t *pod)
{
        return k8c_pod_is_ready(pod);
}

static int mark_pod_not_ready(struct k8c_nodelifecycle_controller *c, const json_t *pod, const char *now,
                              k8c_error_t *err)
{
        json_auto_t *patch =
                json_pack("{s:{s:[{s:s, s:s, s:s, s:s}]}}", "status", "conditions", "type", "Ready", "status",
                          "False", "reason", "NodeNotReady", "lastTransitionTime", now);
        cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/%s/pods/%s/status",
                                                k8c_json_get_string(pod, "metadata.namespace"),
                                                k8c_json_get_string(pod, "metadata.name"));
        int r = c->ctl.patch(c->ctl.opaque, path, "application/strategic-merge-patch+json", patch, err);
        if (r < 0 && k8c_error_reason(err) == K8C_ENOTFOUND) {
                k8c_error_release(err);
                return 0;
        }
        return r;
}

/* How long after the node became unreachable the pod goes: -1 = never (tolerated forever). */
static int64_t eviction_delay_ms(const struct k8c_nodelifecycle_controller *c, const json_t *pod)
{
        json_t *tols = k8c_json_get(pod, "spec.tolerations");
        size_t i;
        json_t *t;
        json_array_foreach(tols, i, t)
        {
                const char *key = json_string_value(json_object_get(t, "key"));
                const char *op = json_string_value(json_object_get(t, "operator"));
                const char *effect = json_string_value(json_object_get(t, "effect"));
                bool key_ok = (key == NULL || key[0] == '\0') ? (op != NULL && strcmp(op, "Exists") == 0)
                                                              : strcmp(key, UNREACHABLE_TAINT) == 0;
                bool effect_ok = effect == NULL || effect[0] == '\0' || strcmp(effect, "NoExecute") == 0;
                if (!key_ok || !effect_ok)
                        continue;
                json_t *secs = json_object_get(t, "tolerationSeconds");
                if (!json_is_integer(secs))
                        return -1;
                return json_integer_value(secs) > 0 ? json_integer_value(secs) * 1000 : 0;
        }
        return c->cfg.eviction_ms;
}

static int handle_pods(struct k8c_nodelifecycle_controller *c, const char *node, int64_t unreachable_ms,
                       int64_t now_ms, const char *now, k8c_error_t *err)
{
        json_auto_t *pods = k8c_informer_by_index(c->pods, "node", node);
        size_t i;
        json_t *pod;
        int first = 0;
        json_array_foreach(pods, i, pod)
        {
                if (k8c_json_get(pod, "metadata.deletionTimestamp") != NULL)
                        continue;
                cleanup_error k8c_error_t e = NULL;
                int r = 0;
                int64_t delay = eviction_delay_ms(c, pod);
                if (delay >= 0 && now_ms - unreachable_ms >= delay) {
                        cleanup_free char *path =
                                k8c_ctrl_path("v1", "pods", k8c_json_get_string(pod, "metadata.namespace"),
                                              k8c_json_get_string(pod, "metadata.name"));
                        json_auto_t *opts =
                                json_pack("{s:s, s:s, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
                                          "preconditions", "uid", k8c_json_get_string(pod, "metadata.uid"));
                        r = c->ctl.delete(c->ctl.opaque, path, opts, &e);
                        if (r < 0 &&
                            (k8c_error_reason(&e) == K8C_ENOTFOUND || k8c_error_reason(&e) == K8C_ECONFLICT))
                                r = 0;
                } else if (pod_ready_true(pod)) {
                        r = mark_pod_not_ready(c, pod, now, &e);
                }
                if (r < 0 && first == 0) {
                        first = r;
                        *err = k8c_steal(&e);
                }
        }
        return first;
}

/* ---- the monitor pass ---- */

static const char *lease_renew(struct k8c_nodelifecycle_controller *c, const char *node, json_t **ret_lease)
{
        cleanup_free char *key = k8c_xasprintf("kube-node-lease/%s", node);
        *ret_lease = k8c_informer_get(c->leases, key);
        return k8c_json_get_string(*ret_lease, "spec.renewTime");
}

int k8c_nodelifecycle_monitor(struct k8c_nodelifecycle_controller *c, int64_t now_ms, time_t wall,
                              k8c_error_t *err)
{
        char now[32];
        k8c_rfc3339(wall, now, sizeof(now));
        json_auto_t *nodes = k8c_informer_list(c->nodes);
        int first = 0;
        size_t i;
        json_t *node;
        json_array_foreach(nodes, i, node)
        {
                const char *name = k8c_json_get_string(node, "metadata.name");
                if (name == NULL)
                        continue;
                json_auto_t *lease = NULL;
                const char *renew = lease_renew(c, name, &lease);
                pthread_mutex_lock(&c->lock);
                struct node_health *h = NULL;
                if (!k8c_strmap_get(&c->health, name, (void **)&h)) {
                        /* First sight: the grace period starts now, whatever the Lease says. */
                        h = k8c_xcalloc(1, sizeof(*h));
                        h->renew = renew != NULL ? k8c_xstrdup(renew) : NULL;
                        h->observed_ms = now_ms;
                        k8c_strmap_put(&c->health, name, h, NULL);
                } else if ((renew == NULL) != (h->renew == NULL) ||
                           (renew != NULL && strcmp(renew, h->renew) != 0)) {
                        free(h->renew);
                        h->renew = renew != NULL ? k8c_xstrdup(renew) : NULL;
                        h->observed_ms = now_ms;
                        h->unreachable_ms = 0;
                }
                bool unreachable = now_ms - h->observed_ms > c->cfg.grace_ms;
                if (unreachable && h->unreachable_ms == 0)
                        h->unreachable_ms = now_ms;
                int64_t since = h->unreachable_ms;
                pthread_mutex_unlock(&c->lock);

                cleanup_error k8c_error_t e = NULL;
                int r;
                if (unreachable) {
                        r = mark_node_unknown(c, node, now, &e);
                        if (r >= 0)
                                r = set_unreachable_taints(c, node, true, now, &e);
                        if (r >= 0)
                                r = handle_pods(c, name, since, now_ms, now, &e);
                } else {
                        r = set_unreachable_taints(c, node, false, now, &e);
                }
                if (r < 0 && first == 0) {
                        first = k8c_error_wrap(&e, "node %s", name);
                        *err = k8c_steal(&e);
                }
        }
        return first;
}

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int k8c_nodelifecycle_controller_sync(struct k8c_nodelifecycle_controller *c, const char *key,
                                      k8c_error_t *err)
{
        int r = k8c_nodelifecycle_monitor(c, mono_ms(), time(NULL), err);
        /* The next pass comes on its own; an error only makes it come at the same period. */
        k8c_workqueue_add_after(c->queue, "monitor", c->cfg.period_ms);
        return r;
}

/*
 * heartbeat.c - the node's presence in the API: registration of the Node,
 * the Lease in kube-node-lease renewed every lease interval, and nodes/status
 * (conditions, capacity, addresses) written when it changes or at least every
 * status interval. Also learns spec.podCIDR when the node controller assigns it.
 *
 * Owns: the Node's status and the node Lease. Must not: touch pods.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/log.h"
#include "k8c/names.h"
#include "kubelet/kubelet_int.h"

static void micro_time(char *buf, size_t n)
{
        struct timeval tv;
        gettimeofday(&tv, NULL);
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        char base[32];
        strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, n, "%s.%06ldZ", base, (long)tv.tv_usec);
}

static json_t *capacity_of(struct k8c_kubelet *k, k8c_error_t *err)
{
        json_t *cap = NULL;
        if (k->cfg.capacity == NULL)
                return k8c_kubelet_measure_capacity(k->cfg.root_dir);
        if (k8c_kubelet_parse_capacity(k->cfg.capacity, &cap, err) < 0)
                return NULL;
        /* Unnamed resources are measured, so the Node always reports all four. */
        json_auto_t *measured = k8c_kubelet_measure_capacity(k->cfg.root_dir);
        const char *key;
        json_t *v;
        json_object_foreach(measured, key, v)
        {
                if (json_object_get(cap, key) == NULL)
                        json_object_set(cap, key, v);
        }
        return cap;
}

int k8c_kubelet_ensure_runtime_locked(struct k8c_kubelet *k, const char *pod_cidr, k8c_error_t *err)
{
        if (k->rt != NULL || pod_cidr == NULL || pod_cidr[0] == '\0')
                return 0;
        int r;
        if (strcmp(k->cfg.runtime, "runc") == 0) {
                const struct k8c_runc_config rc = {
                        .root_dir = k->cfg.root_dir,
                        .log_dir = k->cfg.log_dir,
                        .runc_root = k->cfg.runc_root,
                        .runc_binary = k->cfg.runc_binary,
                        .netns_dir = k->cfg.netns_dir,
                        .node_netns = k->cfg.node_netns,
                        .cgroup_parent = k->cfg.cgroup_parent,
                        .node_name = k->node_name,
                        .pod_cidr = pod_cidr,
                        .registry_mirror = k->cfg.registry_mirror,
                        .cluster_dns = k->cfg.cluster_dns,
                        .memory_capacity = k8c_kubelet_memory_capacity(k),
                };
                r = k8c_runc_runtime_new(&rc, &k->rt, err);
                k->rt_ops = &k8c_runc_runtime_ops;
        } else {
                cleanup_free char *ipam_file = k8c_xasprintf("%s/ipam", k->cfg.root_dir);
                r = k8c_fake_runtime_new(pod_cidr, ipam_file, &k->rt, err);
                k->rt_ops = &k8c_fake_runtime_ops;
        }
        if (r < 0) {
                k->rt = NULL;
                k->rt_ops = NULL;
                return k8c_error_wrap(err, "runtime %s", k->cfg.runtime);
        }
        free(k->pod_cidr);
        k->pod_cidr = k8c_xstrdup(pod_cidr);
        return 0;
}

static int learn_pod_cidr(struct k8c_kubelet *k, const json_t *node, k8c_error_t *err)
{
        const char *cidr =
                k->cfg.pod_cidr != NULL ? k->cfg.pod_cidr : k8c_json_get_string(node, "spec.podCIDR");
        pthread_mutex_lock(&k->lock);
        int r = k8c_kubelet_ensure_runtime_locked(k, cidr, err);
        free(k->runtime_error);
        k->runtime_error = NULL;
        /* The Ready condition says why pods cannot run yet, as the real kubelet's
         * "container runtime network not ready" does. */
        if (r < 0)
                k->runtime_error =
                        k8c_xasprintf("container runtime network not ready: %s", k8c_error_msg(err));
        else if (k->rt == NULL)
                k->runtime_error =
                        k8c_xstrdup("container runtime network not ready: no podCIDR assigned to the node");
        pthread_mutex_unlock(&k->lock);
        return r;
}

static json_t *current_conditions(struct k8c_kubelet *k)
{
        pthread_mutex_lock(&k->lock);
        cleanup_free char *why = k->runtime_error != NULL ? k8c_xstrdup(k->runtime_error) : NULL;
        pthread_mutex_unlock(&k->lock);
        json_t *conds = k8c_kubelet_node_conditions(k->cfg.root_dir, why);
        /* Memory and disk pressure as the eviction manager measures them against its thresholds. */
        k8c_kubelet_eviction_conditions(k, conds);
        return conds;
}

/* The status fields the kubelet owns, with condition times stamped. */
static json_t *node_status(struct k8c_kubelet *k, const json_t *old_conds, k8c_error_t *err)
{
        json_auto_t *cap = capacity_of(k, err);
        if (cap == NULL)
                return NULL;
        json_auto_t *node = k8c_kubelet_node_object(&k->cfg, k->node_name, cap);
        json_t *status = json_deep_copy(json_object_get(node, "status"));
        json_t *conds = current_conditions(k);
        char now[32];
        k8c_rfc3339(time(NULL), now, sizeof(now));
        k8c_kubelet_stamp_conditions(conds, old_conds, now);
        json_object_set_new(status, "conditions", conds);
        return status;
}

static int patch_status(struct k8c_kubelet *k, json_t *status, json_t **ret_node, k8c_error_t *err)
{
        json_auto_t *patch = json_pack("{s:O}", "status", status);
        cleanup_free char *path = k8c_xasprintf("/api/v1/nodes/%s/status", k->node_name);
        return k8c_client_patch(k->client, path, "application/merge-patch+json", patch, ret_node, err);
}

int k8c_kubelet_register_node(struct k8c_kubelet *k, k8c_error_t *err)
{
        json_auto_t *cap = capacity_of(k, err);
        if (cap == NULL)
                return k8c_error_wrap(err, "node %s", k->node_name);
        json_auto_t *node = k8c_kubelet_node_object(&k->cfg, k->node_name, cap);
        json_auto_t *created = NULL;
        cleanup_error k8c_error_t e = NULL;
        int r = k8c_client_post(k->client, "/api/v1/nodes", node, &created, &e);
        if (r == -(int)K8C_EALREADYEXISTS) {
                /* Re-registration (kubelet restart): bring labels up to date, as
                 * reconcileExtendedResource/updateDefaultLabels do, keeping everything else. */
                json_auto_t *patch =
                        json_pack("{s:{s:O}}", "metadata", "labels", k8c_json_get(node, "metadata.labels"));
                cleanup_free char *path = k8c_xasprintf("/api/v1/nodes/%s", k->node_name);
                r = k8c_client_patch(k->client, path, "application/merge-patch+json", patch, &created, err);
                if (r < 0)
                        return k8c_error_wrap(err, "update node %s", k->node_name);
        } else if (r < 0) {
                k8c_make_error(err, k8c_error_reason(&e), "%s", k8c_error_msg(&e));
                return k8c_error_wrap(err, "register node %s", k->node_name);
        }
        /* The runtime first, so the first status already tells whether pods can run. */
        cleanup_error k8c_error_t rt_err = NULL;
        learn_pod_cidr(k, created, &rt_err);
        json_auto_t *status = node_status(k, k8c_json_get(created, "status.conditions"), err);
        if (status == NULL)
                return k8c_error_wrap(err, "node %s", k->node_name);
        r = patch_status(k, status, NULL, err);
        if (r < 0)
                return k8c_error_wrap(err, "node %s status", k->node_name);
        json_decref(k->registered_status);
        k->registered_status = json_incref(status);
        return 0;
}

/* Renews (or creates) kube-node-lease/<node>; *lease caches the last object so a renewal is one PUT. */
/* host-gw: on a runc node, a route to every other node's podCIDR via that node's InternalIP, in the
 * node's network namespace, so pods reach pods on other nodes by pod IP. Replaced every heartbeat
 * (cheap, and heals a route removed by hand); a node whose address is not on-link is skipped. */
static void sync_routes(struct k8c_kubelet *k)
{
        pthread_mutex_lock(&k->lock);
        bool runc = k->rt != NULL && k->rt_ops == &k8c_runc_runtime_ops;
        pthread_mutex_unlock(&k->lock);
        if (!runc)
                return;
        json_auto_t *nodes = NULL;
        cleanup_error k8c_error_t err = NULL;
        if (k8c_client_get(k->client, "/api/v1/nodes", &nodes, &err) < 0) {
                k8c_logv(2, "node list for routes failed", "err=\"%s\"", k8c_error_msg(&err));
                return;
        }
        size_t i;
        json_t *node;
        json_array_foreach(json_object_get(nodes, "items"), i, node)
        {
                const char *name = k8c_json_get_string(node, "metadata.name");
                const char *cidr = k8c_json_get_string(node, "spec.podCIDR");
                if (name == NULL || cidr == NULL || strcmp(name, k->node_name) == 0)
                        continue;
                const char *ip = NULL;
                size_t j;
                json_t *a;
                json_array_foreach(k8c_json_get(node, "status.addresses"), j, a)
                {
                        const char *type = json_string_value(json_object_get(a, "type"));
                        if (type != NULL && strcmp(type, "InternalIP") == 0)
                                ip = json_string_value(json_object_get(a, "address"));
                }
                if (ip == NULL)
                        continue;
                k8c_error_release(&err);
                if (k8c_net_route_replace(k->cfg.node_netns, cidr, ip, &err) < 0)
                        k8c_logv(2, "route to node skipped", "node=%s cidr=%s via=%s err=\"%s\"", name, cidr,
                                 ip, k8c_error_msg(&err));
        }
}

static int renew_lease(struct k8c_kubelet *k, json_t **lease, k8c_error_t *err)
{
        char now[48];
        micro_time(now, sizeof(now));
        cleanup_free char *path = k8c_xasprintf(
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s", k->node_name);
        int r;
        if (*lease == NULL) {
                r = k8c_client_get(k->client, path, lease, err);
                if (r == -(int)K8C_ENOTFOUND) {
                        json_auto_t *node = NULL;
                        cleanup_free char *npath = k8c_xasprintf("/api/v1/nodes/%s", k->node_name);
                        r = k8c_client_get(k->client, npath, &node, err);
                        if (r < 0)
                                return r;
                        /* Owned by the Node, so deleting the Node collects its Lease. */
                        json_auto_t *obj = json_pack(
                                "{s:s, s:s, s:{s:s, s:s, s:[{s:s, s:s, s:s, s:s}]}, s:{s:s, s:i, s:s}}",
                                "apiVersion", "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
                                k->node_name, "namespace", "kube-node-lease", "ownerReferences", "apiVersion",
                                "v1", "kind", "Node", "name", k->node_name, "uid",
                                k8c_json_get_string(node, "metadata.uid") ?: "", "spec", "holderIdentity",
                                k->node_name, "leaseDurationSeconds", 40, "renewTime", now);
                        json_decref(*lease);
                        *lease = NULL;
                        return k8c_client_post(
                                k->client, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                                obj, lease, err);
                }
                if (r < 0)
                        return r;
        }
        json_auto_t *obj = json_deep_copy(*lease);
        k8c_json_set_new(obj, "spec.renewTime", json_string(now));
        k8c_json_set_new(obj, "spec.holderIdentity", json_string(k->node_name));
        json_t *updated = NULL;
        r = k8c_client_put(k->client, path, obj, &updated, err);
        json_decref(*lease);
        /* On a conflict or any error the next renewal starts from a fresh GET. */
        *lease = r < 0 ? NULL : updated;
        return r;
}

void *k8c_kubelet_heartbeat_main(void *opaque)
{
        struct k8c_kubelet *k = opaque;
        json_auto_t *lease = NULL;
        json_auto_t *last_conds = NULL; /* conditions as last written, without times */
        json_auto_t *last_written = NULL;
        struct timespec last_status = { 0 };
        clock_gettime(CLOCK_MONOTONIC, &last_status);
        if (k->registered_status != NULL) {
                last_written = k8c_steal(&k->registered_status);
                last_conds = json_deep_copy(json_object_get(last_written, "conditions"));
                /* Compared without their times, as k8c_kubelet_node_conditions makes them. */
                size_t i;
                json_t *c;
                json_array_foreach(last_conds, i, c)
                {
                        json_object_del(c, "lastHeartbeatTime");
                        json_object_del(c, "lastTransitionTime");
                }
        }
        for (;;) {
                cleanup_error k8c_error_t err = NULL;
                if (renew_lease(k, &lease, &err) < 0)
                        k8c_log_error("lease renewal failed", "node=%s err=\"%s\"", k->node_name,
                                      k8c_error_msg(&err));
                else
                        __atomic_add_fetch(&k->lease_renewals, 1, __ATOMIC_RELAXED);

                /* The node controller may assign spec.podCIDR at any time after registration. */
                bool need_cidr;
                pthread_mutex_lock(&k->lock);
                need_cidr = k->rt == NULL;
                pthread_mutex_unlock(&k->lock);
                if (need_cidr) {
                        json_auto_t *node = NULL;
                        cleanup_free char *path = k8c_xasprintf("/api/v1/nodes/%s", k->node_name);
                        k8c_error_release(&err);
                        if (k8c_client_get(k->client, path, &node, &err) == 0 &&
                            learn_pod_cidr(k, node, &err) < 0)
                                k8c_log_error("runtime start failed", "node=%s err=\"%s\"", k->node_name,
                                              k8c_error_msg(&err));
                }

                /* Status on change, or at least every status interval. */
                json_auto_t *conds = current_conditions(k);
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                int64_t since_ms = (now.tv_sec - last_status.tv_sec) * 1000 +
                                   (now.tv_nsec - last_status.tv_nsec) / 1000000;
                if (last_conds == NULL || !json_equal(conds, last_conds) ||
                    since_ms >= k->cfg.status_interval_ms) {
                        k8c_error_release(&err);
                        json_auto_t *status =
                                node_status(k, json_object_get(last_written, "conditions"), &err);
                        if (status == NULL || patch_status(k, status, NULL, &err) < 0) {
                                k8c_log_error("node status update failed", "node=%s err=\"%s\"", k->node_name,
                                              k8c_error_msg(&err));
                        } else {
                                json_decref(last_conds);
                                last_conds = json_incref(conds);
                                json_decref(last_written);
                                last_written = json_incref(status);
                                last_status = now;
                                __atomic_add_fetch(&k->status_writes, 1, __ATOMIC_RELAXED);
                        }
                }

                k8c_kubelet_housekeeping(k);
                sync_routes(k);
                pthread_mutex_lock(&k->lock);
                void *rt = k->rt;
                pthread_mutex_unlock(&k->lock);
                if (k->cfg.image_gc_budget > 0 && rt != NULL && k->rt_ops->image_gc != NULL) {
                        k8c_error_release(&err);
                        if (k->rt_ops->image_gc(rt, k->cfg.image_gc_budget, k->cfg.image_gc_min_age_ms,
                                                &err) < 0)
                                k8c_log_error("image garbage collection failed", "err=\"%s\"",
                                              k8c_error_msg(&err));
                }

                pthread_mutex_lock(&k->lock);
                if (!k->stopping) {
                        struct timespec deadline;
                        clock_gettime(CLOCK_REALTIME, &deadline);
                        int64_t ms = k->cfg.lease_interval_ms;
                        deadline.tv_sec += ms / 1000;
                        deadline.tv_nsec += (ms % 1000) * 1000000;
                        if (deadline.tv_nsec >= 1000000000) {
                                deadline.tv_sec++;
                                deadline.tv_nsec -= 1000000000;
                        }
                        pthread_cond_timedwait(&k->cond, &k->lock, &deadline);
                }
                bool stop = k->stopping;
                pthread_mutex_unlock(&k->lock);
                if (stop)
                        return NULL;
        }
}

/*
 * kubelet.c - the daemon's lifecycle: configuration defaults, node
 * registration, then the heartbeat thread, the pod informer (field selector
 * spec.nodeName=<node>), the pod worker threads and the stats/eviction
 * housekeeping thread; stop joins them all.
 *
 * Owns: the threads and the struct k8c_kubelet. Must not: log except the
 * daemon-level errors of run().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/fs.h"
#include "k8c/events.h"
#include "k8c/log.h"
#include "k8c/sdnotify.h"
#include "kubelet/kubelet_int.h"

/* Probe executor threads: a slow probe holds one for at most its timeout. */
#define K8C_KUBELET_PROBE_THREADS 4

static char *dup_or_null(const char *s)
{
        return s != NULL ? k8c_xstrdup(s) : NULL;
}

/* A probe result flipped: the pod's worker acts on it (restart, readiness in the status). */
static void probe_changed(void *opaque, const char *pod_key)
{
        struct k8c_kubelet *k = opaque;
        k8c_workqueue_add(k->queue, pod_key);
}

void *k8c_kubelet_runtime(struct k8c_kubelet *k)
{
        pthread_mutex_lock(&k->lock);
        void *rt = k->rt;
        pthread_mutex_unlock(&k->lock);
        return rt;
}

/* Registration is retried while the apiserver is unreachable, slow or overloaded (a busy
 * machine, an apiserver starting up), as the kubelet's registerWithAPIServer loop does: up to
 * about a minute with growing pauses. A refusal (invalid node, forbidden) ends it at once. */
static int register_with_retries(struct k8c_kubelet *k, k8c_error_t *err)
{
        int delay_ms = 200;
        for (int attempt = 1;; attempt++) {
                int r = k8c_kubelet_register_node(k, err);
                if (r >= 0)
                        return r;
                k8c_reason_t reason = k8c_error_reason(err);
                bool transient = reason == K8C_EUNAVAILABLE || reason == K8C_ETIMEOUT ||
                                 reason == K8C_ETOOMANYREQUESTS || reason == K8C_EINTERNAL ||
                                 reason == K8C_ECONFLICT;
                if (!transient || attempt >= 15)
                        return r;
                k8c_log_warn("node registration failed, retrying", "node=%s attempt=%d err=\"%s\"",
                             k->node_name, attempt, k8c_error_msg(err));
                usleep((useconds_t)delay_ms * 1000);
                if (delay_ms < 7000)
                        delay_ms *= 2;
        }
}

int k8c_kubelet_start(const struct k8c_kubelet_config *cfg, struct k8c_kubelet **ret, k8c_error_t *err)
{
        const char *runtime = cfg->runtime != NULL ? cfg->runtime : "runc";
        if (strcmp(runtime, "fake") != 0 && strcmp(runtime, "runc") != 0)
                return k8c_make_error(err, K8C_EINVALID, "unknown runtime %s (fake or runc)", runtime);
        if (cfg->client == NULL)
                return k8c_make_error(err, K8C_EINVALID, "no API client");
        char host[256] = "";
        if (cfg->node_name == NULL && gethostname(host, sizeof(host) - 1) < 0)
                return k8c_make_errno(err, errno, "gethostname");
        /* Node names are lower-case DNS subdomains; hostnames may not be. */
        for (char *h = host; *h != '\0'; h++)
                if (*h >= 'A' && *h <= 'Z')
                        *h = (char)(*h - 'A' + 'a');

        struct k8c_kubelet *k = k8c_xcalloc(1, sizeof(*k));
        k->client = cfg->client;
        k->node_name = k8c_xstrdup(cfg->node_name != NULL ? cfg->node_name : host);
        k->node_ip = dup_or_null(cfg->node_ip);
        k->root_dir = k8c_xstrdup(cfg->root_dir != NULL ? cfg->root_dir : "/var/lib/k8c/kubelet");
        k->capacity = dup_or_null(cfg->capacity);
        k->node_labels = dup_or_null(cfg->node_labels);
        k->taints = dup_or_null(cfg->taints);
        k->runtime_name = k8c_xstrdup(runtime);
        char *pod_cidr_flag = dup_or_null(cfg->pod_cidr);
        k->runc_root = dup_or_null(cfg->runc_root);
        k->runc_binary = dup_or_null(cfg->runc_binary);
        k->log_dir = dup_or_null(cfg->log_dir);
        k->address = dup_or_null(cfg->address);
        k->netns_dir = dup_or_null(cfg->netns_dir);
        k->node_netns = dup_or_null(cfg->node_netns);
        k->cfg = *cfg;
        k->cfg.node_name = k->node_name;
        k->cfg.node_ip = k->node_ip;
        k->cfg.root_dir = k->root_dir;
        k->cfg.capacity = k->capacity;
        k->cfg.node_labels = k->node_labels;
        k->cfg.taints = k->taints;
        k->cfg.runtime = k->runtime_name;
        k->cfg.pod_cidr = pod_cidr_flag;
        k->cfg.runc_root = k->runc_root;
        k->cfg.runc_binary = k->runc_binary;
        k->cfg.log_dir = k->log_dir;
        k->cfg.address = k->address;
        k->cfg.netns_dir = k->netns_dir;
        k->cfg.node_netns = k->node_netns;
        /* Default cgroup parent k8c/<node>, so several kubelets on one machine stay apart. */
        k->cgroup_parent = cfg->cgroup_parent != NULL ? k8c_xstrdup(cfg->cgroup_parent)
                                                      : k8c_xasprintf("k8c/%s", k->node_name);
        k->cfg.cgroup_parent = k->cgroup_parent;
        k->pod_cidr = NULL;
        if (k->cfg.lease_interval_ms <= 0)
                k->cfg.lease_interval_ms = 10000;
        if (k->cfg.status_interval_ms <= 0)
                k->cfg.status_interval_ms = 60000;
        if (k->cfg.pod_resync_ms <= 0)
                k->cfg.pod_resync_ms = 10000;
        if (k->cfg.image_gc_min_age_ms <= 0)
                k->cfg.image_gc_min_age_ms = 120000;
        if (k->cfg.workers <= 0)
                k->cfg.workers = 8;
        pthread_mutex_init(&k->lock, NULL);
        pthread_cond_init(&k->cond, NULL);
        k8c_strmap_init(&k->pods);
        k8c_strmap_init(&k->deleted);
        k->queue = k8c_workqueue_new(
                &(struct k8c_workqueue_opts){ .base_delay_ms = 200, .max_delay_ms = 30000 });

        int r = k8c_kubelet_eviction_init(k, err);
        if (r >= 0)
                r = k8c_mkdir_p(k->root_dir, 0755, err);
        if (r >= 0)
                r = register_with_retries(k, err);
        if (r < 0) {
                k8c_kubelet_stop(k);
                return r;
        }
        k->events = k8c_event_recorder_new(k->client, "kubelet", k->node_name);
        /* Probes wait on the network or on runc exec: a few threads, never the pod workers. */
        k->prober = k8c_prober_new(K8C_KUBELET_PROBE_THREADS, k->events, probe_changed, k);
        cleanup_free char *selector = k8c_xasprintf("spec.nodeName=%s", k->node_name);
        k->informer = k8c_informer_new(&(struct k8c_informer_config){
                .client = k->client,
                .path = "/api/v1/pods",
                .field_selector = selector,
        });
        struct k8c_informer_handlers h = k8c_kubelet_pod_handlers;
        h.opaque = k;
        k8c_informer_add_handlers(k->informer, &h);
        r = k8c_informer_start(k->informer, err);
        if (r < 0) {
                k8c_kubelet_stop(k);
                return k8c_error_wrap(err, "pod informer");
        }
        if (pthread_create(&k->heartbeat, NULL, k8c_kubelet_heartbeat_main, k) != 0) {
                k8c_kubelet_stop(k);
                return k8c_make_error(err, K8C_EINTERNAL, "cannot start the heartbeat thread");
        }
        k->heartbeat_started = true;

        if (k->cfg.address != NULL && (r = k8c_kubelet_server_start(k, err)) < 0) {
                k8c_kubelet_stop(k);
                return k8c_error_wrap(err, "kubelet API");
        }
        k->workers = k8c_xcalloc((size_t)k->cfg.workers, sizeof(pthread_t));
        for (int i = 0; i < k->cfg.workers; i++) {
                if (pthread_create(&k->workers[i], NULL, k8c_kubelet_worker_main, k) != 0)
                        break;
                k->nworkers++;
        }
        if ((r = k8c_kubelet_stats_start(k, err)) < 0) {
                k8c_kubelet_stop(k);
                return r;
        }
        *ret = k;
        return 0;
}

void k8c_kubelet_stop(struct k8c_kubelet *k)
{
        if (k == NULL)
                return;
        pthread_mutex_lock(&k->lock);
        k->stopping = true;
        pthread_cond_broadcast(&k->cond);
        pthread_mutex_unlock(&k->lock);
        /* The server goes first (a followed log reads the informer and the runtime); then the
         * heartbeat (housekeeping reads the informer) and the workers; the informer last, its
         * handlers' adds being ignored by the shut-down queue. */
        k8c_kubelet_server_stop(k);
        k8c_kubelet_stats_stop(k);
        if (k->heartbeat_started)
                pthread_join(k->heartbeat, NULL);
        k8c_workqueue_shutdown(k->queue);
        for (int i = 0; i < k->nworkers; i++)
                pthread_join(k->workers[i], NULL);
        free(k->workers);
        /* After the workers (which register probes), before the runtime its probes exec in. */
        k8c_prober_free(k->prober);
        k8c_informer_free(k->informer);
        k8c_event_recorder_free(k->events);
        k8c_workqueue_free(k->queue);
        k8c_kubelet_pods_free(k);
        json_decref(k->registered_status);
        k8c_kubelet_eviction_free(k);
        if (k->rt_ops != NULL)
                k->rt_ops->free(k->rt);
        free(k->pod_cidr);
        free(k->runtime_error);
        free((char *)k->cfg.pod_cidr);
        free(k->node_name);
        free(k->node_ip);
        free(k->root_dir);
        free(k->capacity);
        free(k->node_labels);
        free(k->taints);
        free(k->runtime_name);
        free(k->runc_root);
        free(k->runc_binary);
        free(k->log_dir);
        free(k->address);
        free(k->netns_dir);
        free(k->node_netns);
        free(k->cgroup_parent);
        pthread_cond_destroy(&k->cond);
        pthread_mutex_destroy(&k->lock);
        free(k);
}

int k8c_kubelet_run(const struct k8c_kubelet_config *cfg, const volatile bool *stop, k8c_error_t *err)
{
        struct k8c_kubelet *k = NULL;
        int r = k8c_kubelet_start(cfg, &k, err);
        if (r < 0)
                return r;
        k8c_log_info("kubelet started", "node=%s", k->node_name);
        /* Ready for systemd once the node is registered (start did that) and the pods bound
         * here are listed: only then does the kubelet act on the cluster's view. */
        while (!*stop && !k8c_informer_wait_synced(k->informer, 100))
                ;
        if (!*stop) {
                k8c_sd_notify("READY=1");
                k8c_watchdog_start(NULL, NULL);
                k8c_log_info("pods listed", "node=%s", k->node_name);
        }
        while (!*stop)
                usleep(100 * 1000);
        k8c_log_info("kubelet stopping", "node=%s", k->node_name);
        k8c_sd_notify("STOPPING=1");
        k8c_watchdog_stop();
        k8c_kubelet_stop(k);
        return 0;
}

/*
 * manager.c - k8c-controller-manager: one client, shared informers (pods,
 * replicasets, deployments, services, endpoints, endpointslices, namespaces, nodes,
 * node Leases, configmaps, secrets, horizontalpodautoscalers, persistentvolumes and
 * claims; only those the enabled controllers need), the controllers with
 * their workers, optional leader election, the /healthz /readyz /metrics
 * server, sd_notify READY=1 once caches synced, and shutdown on SIGTERM.
 *
 * The autoscaler may read metrics.k8s.io from another server
 * (--horizontal-pod-autoscaler-metrics-url) through a client of its own.
 *
 * The only file of src/controllers that logs: workers log each failed sync
 * once and requeue it with back-off. Reconciliation logic lives in the
 * controller files.
 */
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controllers/internal.h"
#include "k8c/cleanup.h"
#include "k8c/leader.h"
#include "k8c/log.h"
#include "k8c/sdnotify.h"

typedef int (*sync_fn)(void *c, const char *key, k8c_error_t *err);

#define MAX_CONTROLLERS 12
#define MAX_WORKERS 16

struct running {
        const char *name;
        struct k8c_workqueue *queue;
        sync_fn sync;
        void *ctrl;
        pthread_t threads[MAX_WORKERS];
        int nthreads;
        atomic_uint_fast64_t syncs, errors;
};

enum {
        INF_PODS,
        INF_RS,
        INF_DEPLOY,
        INF_SVC,
        INF_EP,
        INF_NS,
        INF_NODES,
        INF_LEASES,
        INF_CM,
        INF_SECRETS,
        INF_HPA,
        INF_PV,
        INF_PVC,
        INF_EPS,
        INF_MAX
};

static const struct {
        const char *path, *kind;
} inf_table[INF_MAX] = {
        [INF_PODS] = { "/api/v1/pods", "v1/Pod" },
        [INF_RS] = { "/apis/apps/v1/replicasets", "apps/v1/ReplicaSet" },
        [INF_DEPLOY] = { "/apis/apps/v1/deployments", "apps/v1/Deployment" },
        [INF_SVC] = { "/api/v1/services", "v1/Service" },
        [INF_EP] = { "/api/v1/endpoints", "v1/Endpoints" },
        [INF_NS] = { "/api/v1/namespaces", "v1/Namespace" },
        [INF_NODES] = { "/api/v1/nodes", "v1/Node" },
        [INF_CM] = { "/api/v1/configmaps", "v1/ConfigMap" },
        [INF_SECRETS] = { "/api/v1/secrets", "v1/Secret" },
        [INF_HPA] = { "/apis/autoscaling/v2/horizontalpodautoscalers",
                      "autoscaling/v2/HorizontalPodAutoscaler" },
        [INF_PV] = { "/api/v1/persistentvolumes", "v1/PersistentVolume" },
        [INF_PVC] = { "/api/v1/persistentvolumeclaims", "v1/PersistentVolumeClaim" },
        [INF_EPS] = { "/apis/discovery.k8s.io/v1/endpointslices", "discovery.k8s.io/v1/EndpointSlice" },
        [INF_LEASES] = { "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                         "coordination.k8s.io/v1/Lease" },
};

struct manager {
        const struct k8c_controller_manager_config *cfg;
        struct k8c_client *client;
        struct k8c_event_recorder *rec;
        struct k8c_object_control ctl;
        struct k8c_informer *inf[INF_MAX];
        struct running run[MAX_CONTROLLERS];
        int nrun;
        struct k8c_rs_controller *rs;
        struct k8c_gc_controller *gc;
        struct k8c_endpoints_controller *ep;
        struct k8c_namespace_controller *ns;
        struct k8c_deployment_controller *dep;
        struct k8c_nodeipam_controller *ipam;
        struct k8c_nodelifecycle_controller *nlc;
        struct k8c_hpa_controller *hpa;
        struct k8c_pvbinder_controller *pvb;
        struct k8c_endpointslice_controller *eps;
        struct k8c_servicelb_controller *slb;
        struct k8c_client *metrics_client; /* --horizontal-pod-autoscaler-metrics-url */
        atomic_bool ready;
        atomic_bool leading;
        atomic_bool stopping; /* we are releasing the Lease ourselves: not a loss */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool lost_lease;
};

/* ---- workers ---- */

static void *worker(void *opaque)
{
        struct running *r = opaque;
        char *key = NULL;
        while (k8c_workqueue_get(r->queue, &key)) {
                cleanup_error k8c_error_t err = NULL;
                atomic_fetch_add(&r->syncs, 1);
                if (r->sync(r->ctrl, key, &err) < 0) {
                        atomic_fetch_add(&r->errors, 1);
                        char q[1024];
                        k8c_log_error("sync failed", "controller=%s key=%s error=%s", r->name, key,
                                      k8c_log_quote(q, sizeof(q), k8c_error_msg(&err)));
                        k8c_workqueue_add_rate_limited(r->queue, key);
                } else {
                        k8c_workqueue_forget(r->queue, key);
                }
                k8c_workqueue_done(r->queue, key);
                free(key);
                key = NULL;
        }
        return NULL;
}

static void add_running(struct manager *m, const char *name, struct k8c_workqueue *q, sync_fn fn, void *ctrl)
{
        struct running *r = &m->run[m->nrun++];
        r->name = name;
        r->queue = q;
        r->sync = fn;
        r->ctrl = ctrl;
}

/* Typed adapters: calling a sync function through a pointer of another type would be undefined. */
static int sync_rs(void *c, const char *key, k8c_error_t *err)
{
        return k8c_rs_controller_sync(c, key, err);
}

static int sync_gc(void *c, const char *key, k8c_error_t *err)
{
        return k8c_gc_controller_sync(c, key, err);
}

static int sync_ep(void *c, const char *key, k8c_error_t *err)
{
        return k8c_endpoints_controller_sync(c, key, err);
}

static int sync_ns(void *c, const char *key, k8c_error_t *err)
{
        return k8c_namespace_controller_sync(c, key, err);
}

static int sync_dep(void *c, const char *key, k8c_error_t *err)
{
        return k8c_deployment_controller_sync(c, key, err);
}

static int sync_ipam(void *c, const char *key, k8c_error_t *err)
{
        return k8c_nodeipam_controller_sync(c, key, err);
}

static int sync_nlc(void *c, const char *key, k8c_error_t *err)
{
        return k8c_nodelifecycle_controller_sync(c, key, err);
}

static int sync_hpa(void *c, const char *key, k8c_error_t *err)
{
        return k8c_hpa_controller_sync(c, key, err);
}

static int sync_pvb(void *c, const char *key, k8c_error_t *err)
{
        return k8c_pvbinder_controller_sync(c, key, err);
}

static int sync_eps(void *c, const char *key, k8c_error_t *err)
{
        return k8c_endpointslice_controller_sync(c, key, err);
}

static int sync_slb(void *c, const char *key, k8c_error_t *err)
{
        return k8c_servicelb_controller_sync(c, key, err);
}

/* ---- health and metrics ---- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *type, char *body)
{
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(resp, "Content-Type", type);
        enum MHD_Result r = MHD_queue_response(conn, code, resp);
        MHD_destroy_response(resp);
        return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
        struct manager *m = cls;
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
                return reply(conn, 405, "text/plain", k8c_xstrdup("method not allowed\n"));
        if (strcmp(url, "/healthz") == 0 || strcmp(url, "/livez") == 0)
                return reply(conn, 200, "text/plain", k8c_xstrdup("ok"));
        if (strcmp(url, "/readyz") == 0) {
                if (atomic_load(&m->ready))
                        return reply(conn, 200, "text/plain", k8c_xstrdup("ok"));
                return reply(conn, 503, "text/plain", k8c_xstrdup("informers not synced\n"));
        }
        if (strcmp(url, "/metrics") == 0) {
                char *buf = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&buf, &len);
                fprintf(f, "# TYPE k8c_controller_manager_leader gauge\nk8c_controller_manager_leader %d\n",
                        atomic_load(&m->leading) ? 1 : 0);
                fprintf(f, "# TYPE k8c_controller_syncs_total counter\n");
                for (int i = 0; i < m->nrun; i++)
                        fprintf(f, "k8c_controller_syncs_total{controller=\"%s\"} %llu\n", m->run[i].name,
                                (unsigned long long)atomic_load(&m->run[i].syncs));
                fprintf(f, "# TYPE k8c_controller_sync_errors_total counter\n");
                for (int i = 0; i < m->nrun; i++)
                        fprintf(f, "k8c_controller_sync_errors_total{controller=\"%s\"} %llu\n",
                                m->run[i].name, (unsigned long long)atomic_load(&m->run[i].errors));
                fprintf(f, "# TYPE workqueue_depth gauge\n");
                for (int i = 0; i < m->nrun; i++)
                        fprintf(f, "workqueue_depth{name=\"%s\"} %zu\n", m->run[i].name,
                                k8c_workqueue_len(m->run[i].queue));
                fclose(f);
                return reply(conn, 200, "text/plain; version=0.0.4", buf);
        }
        return reply(conn, 404, "text/plain", k8c_xstrdup("404 page not found\n"));
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        /* libmicrohttpd's own chatter (client resets) is not an error of ours. */
}

/* ---- leader election ---- */

static void started_leading(void *o)
{
        struct manager *m = o;
        pthread_mutex_lock(&m->lock);
        atomic_store(&m->leading, true);
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
}

static void stopped_leading(void *o)
{
        struct manager *m = o;
        pthread_mutex_lock(&m->lock);
        if (atomic_load(&m->leading) && !atomic_load(&m->stopping))
                m->lost_lease = true;
        atomic_store(&m->leading, false);
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
        if (m->lost_lease) {
                /* As kube-controller-manager: another instance may act now; never act twice. */
                k8c_log_error("leader election lost", "%s", "");
                _exit(1);
        }
}

/* ---- run ---- */

static bool need_informer(const struct k8c_controller_manager_config *cfg, int which)
{
        bool rs = k8c_controller_enabled(cfg->controllers, "replicaset");
        bool gc = k8c_controller_enabled(cfg->controllers, "garbagecollector");
        bool ep = k8c_controller_enabled(cfg->controllers, "endpoints");
        bool ns = k8c_controller_enabled(cfg->controllers, "namespace");
        bool dep = k8c_controller_enabled(cfg->controllers, "deployment");
        bool ipam = k8c_controller_enabled(cfg->controllers, "nodeipam");
        bool nlc = k8c_controller_enabled(cfg->controllers, "nodelifecycle");
        bool hpa = k8c_controller_enabled(cfg->controllers, "horizontalpodautoscaling");
        bool pvb = k8c_controller_enabled(cfg->controllers, "persistentvolume-binder");
        bool eps = k8c_controller_enabled(cfg->controllers, "endpointslice");
        bool slb = cfg->loadbalancer_ip_range != NULL && *cfg->loadbalancer_ip_range &&
                   k8c_controller_enabled(cfg->controllers, "servicelb");
        switch (which) {
        case INF_PODS: return rs || gc || ep || nlc || dep || hpa || eps;
        case INF_HPA: return hpa;
        case INF_PV: return pvb;
        case INF_PVC: return pvb;
        case INF_EPS: return eps || gc;
        case INF_NODES: return ipam || nlc;
        case INF_LEASES: return nlc;
        case INF_CM: return gc;
        case INF_SECRETS: return gc;
        case INF_RS: return rs || gc || dep;
        case INF_DEPLOY: return gc || dep;
        case INF_SVC: return gc || ep || eps || slb;
        case INF_EP: return ep;
        case INF_NS: return ns;
        }
        return false;
}

static int wait_signal_or_leader(struct manager *m, sigset_t *set)
{
        /* Poll the signal set while waiting for the lease, so SIGTERM still stops a follower. */
        for (;;) {
                if (atomic_load(&m->leading))
                        return 0;
                struct timespec ts = { 0, 200 * 1000 * 1000 };
                int sig = sigtimedwait(set, NULL, &ts);
                if (sig == SIGTERM || sig == SIGINT)
                        return 1;
        }
}

int k8c_controller_manager_run(const struct k8c_controller_manager_config *cfg_in, k8c_error_t *err)
{
        struct k8c_controller_manager_config cfg = *cfg_in;
        if (cfg.bind_address == NULL)
                cfg.bind_address = "127.0.0.1";
        if (cfg.workers <= 0)
                cfg.workers = 2;
        if (cfg.workers > MAX_WORKERS)
                cfg.workers = MAX_WORKERS;
        if (cfg.resync_ms <= 0)
                cfg.resync_ms = 5 * 60 * 1000;
        if (cfg.cluster_cidr == NULL)
                cfg.cluster_cidr = "10.244.0.0/16";
        if (cfg.node_cidr_mask <= 0)
                cfg.node_cidr_mask = 24;

        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);

        struct manager m = { .cfg = &cfg };
        struct k8c_leader *leader = NULL;
        struct MHD_Daemon *mhd = NULL;
        pthread_mutex_init(&m.lock, NULL);
        pthread_cond_init(&m.cond, NULL);
        int r = k8c_client_new_from_kubeconfig(cfg.kubeconfig, NULL, cfg.server, &m.client, err);
        if (r < 0)
                return k8c_error_wrap(err, "client");
        m.ctl = k8c_object_control_client(m.client);
        char host[256] = "";
        gethostname(host, sizeof(host) - 1);
        m.rec = k8c_event_recorder_new(m.client, "k8c-controller-manager", host);

        if (cfg.port > 0) {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port) };
                if (inet_pton(AF_INET, cfg.bind_address, &sa.sin_addr) != 1) {
                        r = k8c_make_error(err, K8C_EUSAGE, "invalid --bind-address %s", cfg.bind_address);
                        goto out;
                }
                mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                       on_request, &m, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_EXTERNAL_LOGGER,
                                       mhd_log, NULL, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
                                       MHD_OPTION_END);
                if (mhd == NULL) {
                        r = k8c_make_error(err, K8C_EINTERNAL, "cannot listen on %s:%d", cfg.bind_address,
                                           cfg.port);
                        goto out;
                }
        }
        k8c_log_info("serving", "address=%s port=%d controllers=%s", cfg.bind_address, cfg.port,
                     cfg.controllers != NULL ? cfg.controllers : "*");

        if (cfg.leader_elect) {
                char ident[320];
                snprintf(ident, sizeof(ident), "%s_%d", host, (int)getpid());
                struct k8c_leader_config lc = {
                        .client = m.client,
                        .namespace_ = "kube-system",
                        .name = "k8c-controller-manager",
                        .identity = ident,
                        .on_started_leading = started_leading,
                        .on_stopped_leading = stopped_leading,
                        .opaque = &m,
                };
                r = k8c_leader_start(&lc, &leader, err);
                if (r < 0) {
                        k8c_error_wrap(err, "leader election");
                        goto out;
                }
                k8c_log_info("waiting for leadership", "identity=%s", ident);
                if (wait_signal_or_leader(&m, &set) != 0) {
                        k8c_log_info("stopping", "%s", "signal before leadership");
                        atomic_store(&m.stopping, true);
                        k8c_leader_stop(leader);
                        r = 0;
                        goto out;
                }
                k8c_log_info("became leader", "identity=%s", ident);
        } else {
                atomic_store(&m.leading, true);
        }

        for (int i = 0; i < INF_MAX; i++) {
                if (!need_informer(&cfg, i))
                        continue;
                struct k8c_informer_config ic = { .client = m.client,
                                                  .path = inf_table[i].path,
                                                  .resync_ms = cfg.resync_ms };
                m.inf[i] = k8c_informer_new(&ic);
                k8c_ctrl_add_indexes(m.inf[i]);
        }
        if (k8c_controller_enabled(cfg.controllers, "replicaset")) {
                m.rs = k8c_rs_controller_new(m.inf[INF_RS], m.inf[INF_PODS], &m.ctl, m.rec);
                add_running(&m, "replicaset", k8c_rs_controller_queue(m.rs), sync_rs, m.rs);
        }
        if (k8c_controller_enabled(cfg.controllers, "garbagecollector")) {
                struct k8c_informer *infs[INF_MAX];
                const char *kinds[INF_MAX];
                int n = 0;
                for (int i = 0; i < INF_MAX; i++) {
                        if (m.inf[i] == NULL || i == INF_EP || i == INF_NS || i == INF_NODES ||
                            i == INF_LEASES || i == INF_HPA || i == INF_PV || i == INF_PVC)
                                continue;
                        infs[n] = m.inf[i];
                        kinds[n++] = inf_table[i].kind;
                }
                m.gc = k8c_gc_controller_new(infs, kinds, n, &m.ctl);
                add_running(&m, "garbagecollector", k8c_gc_controller_queue(m.gc), sync_gc, m.gc);
        }
        if (k8c_controller_enabled(cfg.controllers, "endpoints")) {
                m.ep = k8c_endpoints_controller_new(m.inf[INF_SVC], m.inf[INF_PODS], m.inf[INF_EP], &m.ctl);
                add_running(&m, "endpoints", k8c_endpoints_controller_queue(m.ep), sync_ep, m.ep);
        }
        if (k8c_controller_enabled(cfg.controllers, "namespace")) {
                m.ns = k8c_namespace_controller_new(m.inf[INF_NS], &m.ctl);
                add_running(&m, "namespace", k8c_namespace_controller_queue(m.ns), sync_ns, m.ns);
        }
        if (k8c_controller_enabled(cfg.controllers, "deployment")) {
                m.dep = k8c_deployment_controller_new(m.inf[INF_DEPLOY], m.inf[INF_RS], m.inf[INF_PODS],
                                                      &m.ctl, m.rec);
                add_running(&m, "deployment", k8c_deployment_controller_queue(m.dep), sync_dep, m.dep);
        }
        if (k8c_controller_enabled(cfg.controllers, "nodeipam")) {
                r = k8c_nodeipam_controller_new(m.inf[INF_NODES], &m.ctl, cfg.cluster_cidr,
                                                cfg.node_cidr_mask, &m.ipam, err);
                if (r < 0)
                        goto out_stop;
                add_running(&m, "nodeipam", k8c_nodeipam_controller_queue(m.ipam), sync_ipam, m.ipam);
        }
        if (k8c_controller_enabled(cfg.controllers, "nodelifecycle")) {
                struct k8c_nodelifecycle_config nc = { .grace_ms = cfg.node_monitor_grace_ms,
                                                       .eviction_ms = cfg.pod_eviction_timeout_ms,
                                                       .period_ms = cfg.node_monitor_period_ms };
                m.nlc = k8c_nodelifecycle_controller_new(m.inf[INF_NODES], m.inf[INF_LEASES], m.inf[INF_PODS],
                                                         &m.ctl, &nc);
                add_running(&m, "nodelifecycle", k8c_nodelifecycle_controller_queue(m.nlc), sync_nlc, m.nlc);
        }
        if (k8c_controller_enabled(cfg.controllers, "horizontalpodautoscaling")) {
                struct k8c_metrics_source ms = k8c_metrics_source_client(m.client);
                if (cfg.hpa_metrics_url != NULL && cfg.hpa_metrics_url[0] != '\0') {
                        struct k8c_client_config mc = { .server = cfg.hpa_metrics_url,
                                                        .timeout_ms = 5000,
                                                        .max_retries = 1,
                                                        .user_agent = "k8c-controller-manager" };
                        if ((r = k8c_client_new(&mc, &m.metrics_client, err)) < 0) {
                                k8c_error_wrap(err, "metrics client");
                                goto out_stop;
                        }
                        ms = k8c_metrics_source_client(m.metrics_client);
                }
                m.hpa = k8c_hpa_controller_new(m.inf[INF_HPA], m.inf[INF_PODS], &m.ctl, &ms, m.rec, &cfg.hpa);
                add_running(&m, "horizontalpodautoscaling", k8c_hpa_controller_queue(m.hpa), sync_hpa, m.hpa);
        }
        if (k8c_controller_enabled(cfg.controllers, "endpointslice")) {
                m.eps = k8c_endpointslice_controller_new(m.inf[INF_SVC], m.inf[INF_PODS], m.inf[INF_EPS],
                                                         &m.ctl);
                add_running(&m, "endpointslice", k8c_endpointslice_controller_queue(m.eps), sync_eps, m.eps);
        }
        if (k8c_controller_enabled(cfg.controllers, "persistentvolume-binder")) {
                m.pvb = k8c_pvbinder_controller_new(m.inf[INF_PV], m.inf[INF_PVC], &m.ctl, m.rec);
                add_running(&m, "persistentvolume-binder", k8c_pvbinder_controller_queue(m.pvb), sync_pvb,
                            m.pvb);
        }
        if (need_informer(&cfg, INF_SVC) && cfg.loadbalancer_ip_range && *cfg.loadbalancer_ip_range &&
            k8c_controller_enabled(cfg.controllers, "servicelb")) {
                m.slb = k8c_servicelb_controller_new(m.inf[INF_SVC], &m.ctl, cfg.loadbalancer_ip_range, err);
                if (m.slb == NULL) {
                        r = k8c_error_wrap(err, "--loadbalancer-ip-range");
                        goto out_stop;
                }
                add_running(&m, "servicelb", k8c_servicelb_controller_queue(m.slb), sync_slb, m.slb);
        }
        for (int i = 0; i < INF_MAX; i++) {
                if (m.inf[i] != NULL && k8c_informer_start(m.inf[i], err) < 0) {
                        r = k8c_error_wrap(err, "informer %s", inf_table[i].path);
                        goto out_stop;
                }
        }
        /* Workers only start once every cache is whole: a partial cache looks like missing pods. */
        bool stopped = false;
        for (int i = 0; i < INF_MAX && !stopped; i++) {
                while (m.inf[i] != NULL && !k8c_informer_wait_synced(m.inf[i], 200)) {
                        struct timespec ts = { 0, 0 };
                        int sig = sigtimedwait(&set, NULL, &ts);
                        if (sig == SIGTERM || sig == SIGINT) {
                                stopped = true;
                                break;
                        }
                }
        }
        if (!stopped) {
                for (int i = 0; i < m.nrun; i++)
                        for (int w = 0; w < cfg.workers; w++)
                                if (pthread_create(&m.run[i].threads[m.run[i].nthreads], NULL, worker,
                                                   &m.run[i]) == 0)
                                        m.run[i].nthreads++;
                atomic_store(&m.ready, true);
                k8c_sd_notify("READY=1");
                k8c_watchdog_start(NULL, NULL);
                k8c_log_info("caches synced", "controllers=%d", m.nrun);
                int sig = 0;
                while (sigwait(&set, &sig) != 0)
                        ;
        }
        k8c_log_info("stopping", "%s", "signal");
        k8c_sd_notify("STOPPING=1");
        k8c_watchdog_stop();
        r = 0;
out_stop:
        atomic_store(&m.ready, false);
        for (int i = 0; i < m.nrun; i++)
                k8c_workqueue_shutdown_with_drain(m.run[i].queue);
        for (int i = 0; i < m.nrun; i++)
                for (int w = 0; w < m.run[i].nthreads; w++)
                        pthread_join(m.run[i].threads[w], NULL);
        if (leader != NULL) {
                /* Nothing acts any more: hand the Lease over now rather than after the slow teardown.
                 * stopping is set first so releasing is not taken for losing it. */
                atomic_store(&m.stopping, true);
                atomic_store(&m.leading, false);
                k8c_leader_stop(leader);
                leader = NULL;
        }
        /* Informers before controllers: their handlers enqueue into the controllers' queues. */
        for (int i = 0; i < INF_MAX; i++) {
                k8c_informer_free(m.inf[i]);
                m.inf[i] = NULL;
        }
        k8c_rs_controller_free(m.rs);
        k8c_gc_controller_free(m.gc);
        k8c_endpoints_controller_free(m.ep);
        k8c_namespace_controller_free(m.ns);
        k8c_deployment_controller_free(m.dep);
        k8c_nodeipam_controller_free(m.ipam);
        k8c_nodelifecycle_controller_free(m.nlc);
        k8c_hpa_controller_free(m.hpa);
        k8c_pvbinder_controller_free(m.pvb);
        k8c_endpointslice_controller_free(m.eps);
        k8c_servicelb_controller_free(m.slb);
        k8c_client_free(m.metrics_client);
out:
        if (mhd != NULL)
                MHD_stop_daemon(mhd);
        k8c_event_recorder_free(m.rec);
        k8c_client_free(m.client);
        pthread_cond_destroy(&m.cond);
        pthread_mutex_destroy(&m.lock);
        return r;
}

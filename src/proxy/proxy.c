/*
 * proxy.c - the k8c-proxy daemon: informers on Services and Endpoints, a
 * coalescing sync loop (rules.c → iptc.c), /healthz /readyz /metrics, the
 * cluster DNS server, SIGTERM.
 *
 * Informer handlers only mark the state dirty; the loop thread does all work.
 * Syncs are coalesced: at most one per --min-sync-period however fast events
 * arrive, and at least one per --sync-period even with none (so rules someone
 * else flushed come back). Every sync is a full one: rules.c is pure and
 * cheap, and iptc.c commits nothing when nothing differs. Shutdown leaves the
 * rules in place (services keep working across a proxy restart), as
 * kube-proxy does; --cleanup is the way to remove them.
 */
#include "k8c/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/informer.h"
#include "k8c/json.h"
#include "k8c/log.h"
#include "k8c/sdnotify.h"

/* Upper bounds (seconds) of the sync duration histogram. */
static const double BUCKETS[] = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define N_BUCKETS (sizeof(BUCKETS) / sizeof(BUCKETS[0]))

struct proxier {
        const struct k8c_proxy_config *cfg;
        struct k8c_informer *services, *endpoints;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool dirty, stop;

        /* metrics, under lock */
        uint64_t syncs, sync_errors, commits;
        uint64_t buckets[N_BUCKETS];
        double duration_sum;
        size_t rules_nat, rules_filter, service_ports, endpoints_programmed;
        int64_t last_ok_ms; /* monotonic ms of the last successful sync; 0 = never */
        bool ready;

        /* What the last successful sync left (loop thread only): chains still equal to it are not
         * compared with the kernel again unless its table changed shape; periodic syncs verify all. */
        struct k8c_proxy_ruleset applied;
        bool have_applied;
        uint64_t nat_fp, filter_fp;
};

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void mark_dirty(struct proxier *p)
{
        pthread_mutex_lock(&p->lock);
        p->dirty = true;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
}

static void on_add(void *opaque, json_t *obj)
{
        mark_dirty(opaque);
}
static void on_update(void *opaque, json_t *old_obj, json_t *new_obj)
{
        /* Endpoints are rewritten on every pod status change; skip writes that change nothing we use
         * (the informer's periodic resync replays identical objects). */
        if (json_equal(json_object_get(old_obj, "subsets"), json_object_get(new_obj, "subsets")) &&
            json_equal(json_object_get(old_obj, "spec"), json_object_get(new_obj, "spec")))
                return;
        mark_dirty(opaque);
}
static void on_delete(void *opaque, json_t *obj)
{
        mark_dirty(opaque);
}

static size_t table_rules(const struct k8c_ipt_table *t)
{
        size_t n = 0;
        for (size_t i = 0; i < t->n_chains; i++)
                n += t->chains[i].n_rules;
        return n;
}

static int sync_rules(struct proxier *p, bool verify_all, k8c_error_t *err)
{
        json_t *svcs = k8c_informer_list(p->services);
        json_t *eps = k8c_informer_list(p->endpoints);
        struct k8c_proxy_rules_config rc = { .cluster_cidr = p->cfg->cluster_cidr,
                                             .masq_mark = p->cfg->masq_mark,
                                             .nodeport_addresses = p->cfg->nodeport_addresses,
                                             .node_name = p->cfg->hostname };
        struct k8c_proxy_ruleset rs;
        int r = k8c_proxy_rules_build(svcs, eps, &rc, &rs, err);
        json_decref(svcs);
        json_decref(eps);
        if (r < 0)
                return r;
        struct k8c_iptc_stats nat_st = { 0 }, filter_st = { 0 };
        /* filter first: a service losing its endpoints is rejected before its DNAT disappears. */
        bool partial = p->have_applied && !verify_all;
        r = k8c_iptc_apply_since(&rs.filter, partial ? &p->applied.filter : NULL, &p->filter_fp, &filter_st,
                                 err);
        if (r >= 0)
                r = k8c_iptc_apply_since(&rs.nat, partial ? &p->applied.nat : NULL, &p->nat_fp, &nat_st, err);
        if (r < 0) {
                /* Unknown kernel state: the next sync compares everything. */
                p->nat_fp = p->filter_fp = 0;
        }
        if (r >= 0) {
                pthread_mutex_lock(&p->lock);
                p->rules_nat = table_rules(&rs.nat);
                p->rules_filter = table_rules(&rs.filter);
                p->service_ports = rs.n_service_ports;
                p->endpoints_programmed = rs.n_endpoints;
                p->commits += (uint64_t)nat_st.committed + (uint64_t)filter_st.committed;
                pthread_mutex_unlock(&p->lock);
                k8c_logv(2, "synced",
                         "service_ports=%zu endpoints=%zu rules=%zu nat_committed=%d filter_committed=%d",
                         rs.n_service_ports, rs.n_endpoints, rs.n_rules, nat_st.committed,
                         filter_st.committed);
                k8c_proxy_ruleset_free(&p->applied);
                p->applied = rs;
                p->have_applied = true;
                return r;
        }
        k8c_proxy_ruleset_free(&rs);
        return r;
}

/* ---- /healthz /readyz /metrics ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type, char *body)
{
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(resp, "Content-Type", type);
        enum MHD_Result r = MHD_queue_response(c, code, resp);
        MHD_destroy_response(resp);
        return r;
}

static char *metrics_text(struct proxier *p)
{
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        pthread_mutex_lock(&p->lock);
        fprintf(f,
                "# HELP k8c_proxy_sync_total Rule syncs attempted.\n# TYPE k8c_proxy_sync_total counter\n");
        fprintf(f, "k8c_proxy_sync_total %llu\n", (unsigned long long)p->syncs);
        fprintf(f, "# HELP k8c_proxy_sync_errors_total Rule syncs that failed.\n"
                   "# TYPE k8c_proxy_sync_errors_total counter\n");
        fprintf(f, "k8c_proxy_sync_errors_total %llu\n", (unsigned long long)p->sync_errors);
        fprintf(f, "# HELP k8c_proxy_table_commits_total Table commits (a sync that changes nothing commits "
                   "none).\n# TYPE k8c_proxy_table_commits_total counter\n");
        fprintf(f, "k8c_proxy_table_commits_total %llu\n", (unsigned long long)p->commits);
        fprintf(f, "# HELP k8c_proxy_sync_duration_seconds Time of one full rule sync.\n"
                   "# TYPE k8c_proxy_sync_duration_seconds histogram\n");
        uint64_t cum = 0;
        for (size_t i = 0; i < N_BUCKETS; i++) {
                cum += p->buckets[i];
                fprintf(f, "k8c_proxy_sync_duration_seconds_bucket{le=\"%g\"} %llu\n", BUCKETS[i],
                        (unsigned long long)cum);
        }
        fprintf(f, "k8c_proxy_sync_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)p->syncs);
        fprintf(f, "k8c_proxy_sync_duration_seconds_sum %.6f\n", p->duration_sum);
        fprintf(f, "k8c_proxy_sync_duration_seconds_count %llu\n", (unsigned long long)p->syncs);
        fprintf(f, "# HELP k8c_proxy_rules_programmed Rules in the chains k8c-proxy owns.\n"
                   "# TYPE k8c_proxy_rules_programmed gauge\n");
        fprintf(f, "k8c_proxy_rules_programmed{table=\"nat\"} %zu\n", p->rules_nat);
        fprintf(f, "k8c_proxy_rules_programmed{table=\"filter\"} %zu\n", p->rules_filter);
        fprintf(f, "# HELP k8c_proxy_service_ports Service ports programmed.\n"
                   "# TYPE k8c_proxy_service_ports gauge\n");
        fprintf(f, "k8c_proxy_service_ports %zu\n", p->service_ports);
        fprintf(f, "# HELP k8c_proxy_endpoints Endpoints programmed.\n# TYPE k8c_proxy_endpoints gauge\n");
        fprintf(f, "k8c_proxy_endpoints %zu\n", p->endpoints_programmed);
        pthread_mutex_unlock(&p->lock);
        fclose(f);
        return out;
}

static enum MHD_Result on_http(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **con_cls)
{
        struct proxier *p = cls;
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
                return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
                             k8c_xstrdup("method not allowed\n"));
        if (strcmp(url, "/metrics") == 0)
                return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", metrics_text(p));
        if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
                pthread_mutex_lock(&p->lock);
                bool ok = p->ready;
                int64_t age = p->last_ok_ms ? now_ms() - p->last_ok_ms : -1;
                pthread_mutex_unlock(&p->lock);
                /* Healthy while rules are being kept fresh: a successful sync within two sync periods. */
                if (ok && strcmp(url, "/healthz") == 0)
                        ok = age >= 0 && age <= 2 * p->cfg->sync_ms + 1000;
                if (ok)
                        return reply(c, MHD_HTTP_OK, "text/plain", k8c_xstrdup("ok\n"));
                return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                             k8c_xasprintf("%s\n", p->last_ok_ms ? "rules are stale" : "not synced yet"));
        }
        return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", k8c_xstrdup("not found\n"));
}

static int parse_hostport(const char *s, struct sockaddr_in *ret, k8c_error_t *err)
{
        const char *colon = strrchr(s, ':');
        if (colon == NULL)
                return k8c_make_error(err, K8C_EUSAGE, "%s: want address:port", s);
        cleanup_free char *host = k8c_xstrndup(s, (size_t)(colon - s));
        char *end = NULL;
        long port = strtol(colon + 1, &end, 10);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        if (*host == '\0')
                a.sin_addr.s_addr = htonl(INADDR_ANY);
        else if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
                return k8c_make_error(err, K8C_EUSAGE, "%s: %s is not an IPv4 address", s, host);
        if (end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
                return k8c_make_error(err, K8C_EUSAGE, "%s: bad port", s);
        *ret = a;
        return 0;
}

/* ---- cluster DNS view over the informers ---- */

static json_t *dns_get(struct k8c_informer *inf, const char *ns, const char *name)
{
        cleanup_free char *key = k8c_xasprintf("%s/%s", ns, name);
        return k8c_informer_get(inf, key);
}
static json_t *dns_service(void *opaque, const char *ns, const char *name)
{
        return dns_get(((struct proxier *)opaque)->services, ns, name);
}
static json_t *dns_endpoints(void *opaque, const char *ns, const char *name)
{
        return dns_get(((struct proxier *)opaque)->endpoints, ns, name);
}
static char **index_cluster_ip(const json_t *obj)
{
        const char *ip = k8c_json_get_string(obj, "spec.clusterIP");
        if (ip == NULL || *ip == '\0' || strcmp(ip, "None") == 0)
                return NULL;
        char **v = k8c_xcalloc(2, sizeof(*v));
        v[0] = k8c_xstrdup(ip);
        return v;
}
static json_t *dns_by_ip(void *opaque, const char *ip)
{
        json_t *list = k8c_informer_by_index(((struct proxier *)opaque)->services, "clusterIP", ip);
        json_t *first = json_incref(json_array_get(list, 0));
        json_decref(list);
        return first;
}

/* ---- the loop ---- */

static void *signal_thread(void *arg)
{
        struct proxier *p = arg;
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        int sig = 0;
        while (sigwait(&set, &sig) != 0)
                ;
        k8c_log_info("stopping", "signal=%s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static void wait_until(struct proxier *p, int64_t deadline_ms)
{
        /* The cond uses CLOCK_MONOTONIC (set at init), like now_ms(). */
        struct timespec ts = { deadline_ms / 1000, (deadline_ms % 1000) * 1000000 };
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
}

static void informer_free(struct k8c_informer **inf)
{
        if (*inf)
                k8c_informer_free(*inf);
}
static void mhd_stop(struct MHD_Daemon **d)
{
        if (*d)
                MHD_stop_daemon(*d);
}
static void dns_stop(struct k8c_dns_server **s)
{
        if (*s)
                k8c_dns_server_stop(*s);
}
static void client_free(struct k8c_client **c)
{
        if (*c)
                k8c_client_free(*c);
}

int k8c_proxy_run(const struct k8c_proxy_config *cfg_in, k8c_error_t *err)
{
        struct k8c_proxy_config cfg = *cfg_in;
        if (cfg.min_sync_ms <= 0)
                cfg.min_sync_ms = 100;
        if (cfg.sync_ms <= 0)
                cfg.sync_ms = 30000;
        if (cfg.metrics_bind == NULL)
                cfg.metrics_bind = "127.0.0.1:10249";
        if (cfg.cluster_domain == NULL || *cfg.cluster_domain == '\0')
                cfg.cluster_domain = "cluster.local";

        /* Validate the rule config before touching anything. */
        {
                struct k8c_proxy_rules_config rc = { .cluster_cidr = cfg.cluster_cidr,
                                                     .nodeport_addresses = cfg.nodeport_addresses };
                struct k8c_proxy_ruleset rs;
                json_t *empty = json_array();
                int r = k8c_proxy_rules_build(empty, empty, &rc, &rs, err);
                json_decref(empty);
                if (r < 0)
                        return r;
                k8c_proxy_ruleset_free(&rs);
        }

        /* SIGTERM/SIGINT go to one thread only; every thread made from here on inherits the mask. */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);

        struct proxier p = { .cfg = &cfg };
        pthread_mutex_init(&p.lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p.cond, &ca);
        pthread_condattr_destroy(&ca);

        __attribute__((cleanup(client_free))) struct k8c_client *client = NULL;
        int r = k8c_client_new_from_kubeconfig(cfg.kubeconfig, NULL, cfg.server, &client, err);
        if (r < 0)
                return k8c_error_wrap(err, "API client");

        const struct k8c_informer_handlers h = { on_add, on_update, on_delete, &p };
        __attribute__((cleanup(informer_free))) struct k8c_informer *svc_inf = k8c_informer_new(
                &(struct k8c_informer_config){ .client = client, .path = "/api/v1/services" });
        __attribute__((cleanup(informer_free))) struct k8c_informer *ep_inf = k8c_informer_new(
                &(struct k8c_informer_config){ .client = client, .path = "/api/v1/endpoints" });
        p.services = svc_inf;
        p.endpoints = ep_inf;
        k8c_informer_add_handlers(svc_inf, &h);
        k8c_informer_add_handlers(ep_inf, &h);
        k8c_informer_add_index(svc_inf, "clusterIP", index_cluster_ip);
        if ((r = k8c_informer_start(svc_inf, err)) < 0 || (r = k8c_informer_start(ep_inf, err)) < 0)
                return k8c_error_wrap(err, "starting informers");

        __attribute__((cleanup(mhd_stop))) struct MHD_Daemon *mhd = NULL;
        if (*cfg.metrics_bind) {
                struct sockaddr_in sa;
                if ((r = parse_hostport(cfg.metrics_bind, &sa, err)) < 0)
                        return k8c_error_wrap(err, "--metrics-bind-address");
                mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_http, &p,
                                       MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_LISTENING_ADDRESS_REUSE,
                                       (unsigned int)1, MHD_OPTION_END);
                if (mhd == NULL)
                        return k8c_make_error(err, K8C_EINTERNAL, "cannot listen on %s", cfg.metrics_bind);
        }
        __attribute__((cleanup(dns_stop))) struct k8c_dns_server *dns = NULL;
        if (cfg.dns_bind && *cfg.dns_bind) {
                struct sockaddr_in sa;
                if ((r = parse_hostport(cfg.dns_bind, &sa, err)) < 0)
                        return k8c_error_wrap(err, "--dns-bind-address");
                char host[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));
                struct k8c_dns_config dc = { .domain = cfg.cluster_domain };
                struct k8c_dns_view view = { dns_service, dns_endpoints, dns_by_ip, &p };
                if ((r = k8c_dns_server_start(&dc, &view, host, ntohs(sa.sin_port), &dns, err)) < 0)
                        return k8c_error_wrap(err, "cluster DNS");
                k8c_log_info("serving DNS", "address=%s port=%d domain=%s", host, k8c_dns_server_port(dns),
                             cfg.cluster_domain);
        }

        pthread_t sigt;
        pthread_create(&sigt, NULL, signal_thread, &p);
        k8c_log_info("starting", "hostname=%s cluster_cidr=%s min_sync_period_ms=%lld sync_period_ms=%lld",
                     cfg.hostname ? cfg.hostname : "", cfg.cluster_cidr ? cfg.cluster_cidr : "",
                     (long long)cfg.min_sync_ms, (long long)cfg.sync_ms);

        /* Rules from a partial view would delete live services' chains: wait for both lists. */
        pthread_mutex_lock(&p.lock);
        while (!p.stop && !(k8c_informer_has_synced(svc_inf) && k8c_informer_has_synced(ep_inf)))
                wait_until(&p, now_ms() + 100);
        p.dirty = true;
        int64_t last_sync = 0;
        int64_t last_err_ms = 0;
        while (!p.stop) {
                int64_t now = now_ms();
                int64_t earliest = last_sync ? last_sync + cfg.min_sync_ms : now;
                int64_t latest = last_sync + cfg.sync_ms;
                if ((!p.dirty && now < latest) || now < earliest) {
                        wait_until(&p, p.dirty ? earliest : latest);
                        continue;
                }
                /* A sync the period asked for (nothing changed) re-reads every chain to repair drift. */
                bool periodic = !p.dirty || now >= latest;
                p.dirty = false;
                pthread_mutex_unlock(&p.lock);

                k8c_error_t serr = NULL;
                int64_t t0 = now_ms();
                struct timespec a, b;
                clock_gettime(CLOCK_MONOTONIC, &a);
                int sr = sync_rules(&p, periodic, &serr);
                clock_gettime(CLOCK_MONOTONIC, &b);
                double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
                if (sr < 0) {
                        /* Log once per failure streak start or every 30 s, not at every retry. */
                        if (last_err_ms == 0 || t0 - last_err_ms > 30000) {
                                k8c_log_error("sync failed", "error=\"%s\"", k8c_error_msg(&serr));
                                last_err_ms = t0;
                        }
                        k8c_error_release(&serr);
                } else {
                        last_err_ms = 0;
                }

                pthread_mutex_lock(&p.lock);
                p.syncs++;
                p.duration_sum += secs;
                size_t bi = 0;
                while (bi < N_BUCKETS && secs > BUCKETS[bi])
                        bi++;
                if (bi < N_BUCKETS)
                        p.buckets[bi]++;
                last_sync = t0;
                if (sr < 0) {
                        p.sync_errors++;
                        p.dirty = true; /* retry after min-sync-period */
                } else {
                        p.last_ok_ms = now_ms();
                        if (!p.ready) {
                                p.ready = true;
                                k8c_sd_notify("READY=1");
                                k8c_watchdog_start(NULL, NULL);
                                k8c_log_info("rules synced", "service_ports=%zu endpoints=%zu",
                                             p.service_ports, p.endpoints_programmed);
                        }
                }
        }
        pthread_mutex_unlock(&p.lock);
        k8c_proxy_ruleset_free(&p.applied);
        k8c_sd_notify("STOPPING=1");
        k8c_watchdog_stop();
        pthread_join(sigt, NULL);
        return 0;
}

int k8c_proxy_cleanup(k8c_error_t *err)
{
        int r = k8c_iptc_cleanup("nat", NULL, err);
        if (r < 0)
                return k8c_error_wrap(err, "nat table");
        r = k8c_iptc_cleanup("filter", NULL, err);
        if (r < 0)
                return k8c_error_wrap(err, "filter table");
        return 0;
}

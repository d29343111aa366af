/*
 * bench_proxy - full rule sync time for 1,000 and 10,000 services × 3
 * endpoints: rules.c (build + render), iptc.c (first sync, no-op re-sync,
 * one-endpoint change as the daemon makes it and with every chain compared),
 * against iptables-legacy-restore of the same text and a --noflush partial
 * restore of the changed chains (kube-proxy's two methods), the x_tables
 * read/write floor; then endpoint PUT → rules in the kernel latency with the
 * real k8c-apiserver and k8c-proxy.
 *
 * Runs inside a network namespace of its own (unshare at start), so the
 * host's tables are never touched; needs root. Figures are printed, never
 * asserted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libiptc/libiptc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../tests/common/apiserver_harness.h"
#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/json.h"
#include "k8c/proxy.h"

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* n services with one TCP port each; endpoint sets of 3 (svc i, endpoint j = 10.(128+i/250).(i%250).j+1). */
static void objects(int n, int changed, json_t **ret_svcs, json_t **ret_eps)
{
        json_t *svcs = json_array(), *eps = json_array();
        for (int i = 0; i < n; i++) {
                char name[32], ip[32];
                snprintf(name, sizeof(name), "svc-%05d", i);
                snprintf(ip, sizeof(ip), "10.96.%d.%d", i / 250, i % 250 + 1);
                json_array_append_new(svcs,
                                      json_pack("{s:{s:s,s:s},s:{s:s,s:[{s:s,s:i,s:s}]}}", "metadata", "name",
                                                name, "namespace", "bench", "spec", "clusterIP", ip, "ports",
                                                "name", "http", "port", 80, "protocol", "TCP"));
                json_t *addrs = json_array();
                for (int j = 0; j < 3; j++) {
                        char eip[32];
                        snprintf(eip, sizeof(eip), "10.%d.%d.%d", 128 + i / 250, i % 250,
                                 j + 1 + (i == changed));
                        json_array_append_new(addrs, json_pack("{s:s}", "ip", eip));
                }
                json_array_append_new(eps, json_pack("{s:{s:s,s:s},s:[{s:o,s:[{s:s,s:i,s:s}]}]}", "metadata",
                                                     "name", name, "namespace", "bench", "subsets",
                                                     "addresses", addrs, "ports", "name", "http", "port",
                                                     8080, "protocol", "TCP"));
        }
        *ret_svcs = svcs;
        *ret_eps = eps;
}

/* Both tables; with prev, as the daemon syncs after a change (only chains that differ from prev are
 * compared with the kernel, fps holding the tables' shapes after the previous apply). */
static double apply_both(const struct k8c_proxy_ruleset *rs, const struct k8c_proxy_ruleset *prev,
                         uint64_t fps[2], bool *ret_committed)
{
        k8c_error_t err = NULL;
        struct k8c_iptc_stats a, b;
        double t0 = now_s();
        if (k8c_iptc_apply_since(&rs->filter, prev ? &prev->filter : NULL, &fps[0], &a, &err) < 0 ||
            k8c_iptc_apply_since(&rs->nat, prev ? &prev->nat : NULL, &fps[1], &b, &err) < 0) {
                fprintf(stderr, "apply: %s\n", k8c_error_msg(&err));
                exit(1);
        }
        *ret_committed = a.committed || b.committed;
        return now_s() - t0;
}

/* One chain's rules as iptables-save lines. Caller frees. */
static char *chain_text(const struct k8c_ipt_chain *c)
{
        char *out = k8c_xstrdup("");
        for (size_t i = 0; c != NULL && i < c->n_rules; i++) {
                cleanup_free char *line = k8c_ipt_rule_render(c->name, &c->rules[i]);
                char *n = k8c_xasprintf("%s%s\n", out, line);
                free(out);
                out = n;
        }
        return out;
}

/* kube-proxy's partial sync: an iptables-restore --noflush input holding only the nat chains that
 * differ between old and new (declared, so flushed, then refilled) and -X for the ones gone. */
static char *noflush_text(const struct k8c_ipt_table *old, const struct k8c_ipt_table *new_,
                          size_t *ret_chains)
{
        char *decl = k8c_xstrdup(""), *rules = k8c_xstrdup(""), *dels = k8c_xstrdup("");
        size_t n = 0;
        for (size_t i = 0; i < new_->n_chains; i++) {
                const struct k8c_ipt_chain *c = &new_->chains[i];
                if (c->builtin)
                        continue;
                cleanup_free char *a = chain_text(c);
                cleanup_free char *b = chain_text(k8c_ipt_table_find(old, c->name));
                if (k8c_ipt_table_find(old, c->name) != NULL && strcmp(a, b) == 0)
                        continue;
                char *d = k8c_xasprintf("%s:%s - [0:0]\n", decl, c->name);
                char *r = k8c_xasprintf("%s%s", rules, a);
                free(decl);
                free(rules);
                decl = d;
                rules = r;
                n++;
        }
        for (size_t i = 0; i < old->n_chains; i++) {
                const struct k8c_ipt_chain *c = &old->chains[i];
                if (c->builtin || k8c_ipt_table_find(new_, c->name) != NULL)
                        continue;
                char *d = k8c_xasprintf("%s:%s - [0:0]\n", decl, c->name);
                char *x = k8c_xasprintf("%s-X %s\n", dels, c->name);
                free(decl);
                free(dels);
                decl = d;
                dels = x;
                n++;
        }
        char *out = k8c_xasprintf("*nat\n%s%s%sCOMMIT\n", decl, rules, dels);
        free(decl);
        free(rules);
        free(dels);
        *ret_chains = n;
        return out;
}

static double restore(const char *text, const char *flags, int *ret_rc)
{
        char path[] = "/tmp/k8c-bench-proxy-XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fdopen(fd, "w");
        fputs(text, f);
        fclose(f);
        cleanup_free char *cmd = k8c_xasprintf("iptables-legacy-restore %s < %s", flags, path);
        double t0 = now_s();
        *ret_rc = system(cmd);
        double t = now_s() - t0;
        unlink(path);
        return t;
}

/* The x_tables floor every method pays: read the whole table (iptc_init), write it back (commit). */
static void floor_times(double *ret_read, double *ret_write)
{
        const xt_chainlabel floor_chain = "K8C-BENCH-FLOOR";
        double t0 = now_s();
        struct xtc_handle *h = iptc_init("nat");
        *ret_read = now_s() - t0;
        t0 = now_s();
        /* libiptc commits nothing for an unchanged handle: one empty chain made and removed forces
         * the full replace any real change costs. */
        if (h == NULL || !iptc_create_chain(floor_chain, h) || !iptc_delete_chain(floor_chain, h) ||
            !iptc_commit(h))
                fprintf(stderr, "floor: %s\n", iptc_strerror(errno));
        *ret_write = now_s() - t0;
        if (h)
                iptc_free(h);
}

static void run(int n)
{
        struct k8c_proxy_rules_config cfg = { .cluster_cidr = "10.128.0.0/9" };
        json_t *svcs, *eps;
        objects(n, -1, &svcs, &eps);
        k8c_error_t err = NULL;
        struct k8c_proxy_ruleset rs;
        double t0 = now_s();
        if (k8c_proxy_rules_build(svcs, eps, &cfg, &rs, &err) < 0)
                exit(1);
        double t_build = now_s() - t0;
        t0 = now_s();
        cleanup_free char *nat = k8c_ipt_table_render(&rs.nat);
        cleanup_free char *filter = k8c_ipt_table_render(&rs.filter);
        double t_render = now_s() - t0;

        bool committed = false;
        uint64_t fps[2] = { 0, 0 };
        double t_first = apply_both(&rs, NULL, fps, &committed);
        double t_noop = apply_both(&rs, NULL, fps, &committed);
        bool noop_committed = committed;
        double t_noop_since = apply_both(&rs, &rs, fps, &committed);

        json_decref(svcs);
        json_decref(eps);
        objects(n, n / 2, &svcs, &eps);
        struct k8c_proxy_ruleset rs2;
        if (k8c_proxy_rules_build(svcs, eps, &cfg, &rs2, &err) < 0)
                exit(1);
        /* The daemon's path for a change: compare only what differs from the last apply. */
        double t_change = apply_both(&rs2, &rs, fps, &committed);
        /* And with every chain compared, as a periodic sync does (moving it back). */
        double t_change_full = apply_both(&rs, NULL, fps, &committed);
        double t_read, t_write;
        floor_times(&t_read, &t_write);
        k8c_iptc_cleanup("nat", NULL, &err);
        k8c_iptc_cleanup("filter", NULL, &err);

        /* The same ruleset through iptables-legacy-restore (one process, whole tables), then the
         * one-endpoint change as kube-proxy's partial sync (--noflush, changed chains only). */
        cleanup_free char *both = k8c_xasprintf("%s%s", filter, nat);
        int rc = 0, rc2 = 0;
        double t_restore = restore(both, "", &rc);
        size_t n_changed = 0;
        cleanup_free char *partial = noflush_text(&rs.nat, &rs2.nat, &n_changed);
        double t_noflush = restore(partial, "--noflush", &rc2);
        k8c_iptc_cleanup("nat", NULL, &err);
        k8c_iptc_cleanup("filter", NULL, &err);

        printf("services=%d endpoints=%zu nat_chains=%zu rules=%zu\n", n, rs.n_endpoints, rs.nat.n_chains,
               rs.n_rules);
        printf("  rules.c build                       %8.1f ms\n", t_build * 1e3);
        printf("  rules.c render (text)               %8.1f ms\n", t_render * 1e3);
        printf("  iptc first sync                     %8.1f ms\n", t_first * 1e3);
        printf("  iptc re-sync unchanged              %8.1f ms (committed=%s)\n", t_noop * 1e3,
               noop_committed ? "yes" : "no");
        printf("  iptc re-sync unchanged, since last  %8.1f ms\n", t_noop_since * 1e3);
        printf("  iptc one endpoint moved             %8.1f ms (every chain compared: %.1f ms)\n",
               t_change * 1e3, t_change_full * 1e3);
        printf("  x_tables floor: read nat / write nat%8.1f / %.1f ms\n", t_read * 1e3, t_write * 1e3);
        printf("  iptables-legacy-restore (full)      %8.1f ms (exit %d)\n", t_restore * 1e3, rc);
        printf("  iptables-legacy-restore --noflush   %8.1f ms (exit %d, %zu nat chains)\n", t_noflush * 1e3,
               rc2, n_changed);
        printf("  ratio full sync / restore           %8.2f (target <= 0.50)\n", t_first / t_restore);
        printf("  ratio endpoint change / --noflush   %8.2f (target <= 0.50)\n", t_change / t_noflush);
        k8c_proxy_ruleset_free(&rs);
        k8c_proxy_ruleset_free(&rs2);
        json_decref(svcs);
        json_decref(eps);
}

/* ---- API → kernel latency: the real apiserver and k8c-proxy in this network namespace ---- */

struct poster {
        const char *url;
        int n, first, step;
        long errors;
};

static json_t *bench_service(int i)
{
        char name[32], ip[32];
        snprintf(name, sizeof(name), "svc-%05d", i);
        /* 10.97/16, clear of the apiserver's own allocations (10.96.0.1 is "kubernetes"). */
        snprintf(ip, sizeof(ip), "10.97.%d.%d", i / 250, i % 250 + 1);
        return json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:{s:s},s:[{s:s,s:i,s:s,s:i}]}}", "apiVersion", "v1",
                         "kind", "Service", "metadata", "name", name, "namespace", "default", "spec",
                         "clusterIP", ip, "selector", "app", name, "ports", "name", "http", "port", 80,
                         "protocol", "TCP", "targetPort", 8080);
}

/* Endpoints of service i with extra (0..) more addresses than the 3 base ones. */
static json_t *bench_endpoints(int i, int extra)
{
        char name[32];
        snprintf(name, sizeof(name), "svc-%05d", i);
        json_t *addrs = json_array();
        for (int j = 0; j < 3 + extra; j++) {
                char eip[32];
                snprintf(eip, sizeof(eip), "10.%d.%d.%d", 128 + i / 250, i % 250, j + 1);
                json_array_append_new(addrs, json_pack("{s:s}", "ip", eip));
        }
        return json_pack("{s:s,s:s,s:{s:s,s:s},s:[{s:o,s:[{s:s,s:i,s:s}]}]}", "apiVersion", "v1", "kind",
                         "Endpoints", "metadata", "name", name, "namespace", "default", "subsets",
                         "addresses", addrs, "ports", "name", "http", "port", 8080, "protocol", "TCP");
}

static void *post_objects(void *arg)
{
        struct poster *p = arg;
        struct k8c_client_config cc = { .server = p->url };
        struct k8c_client *cl = NULL;
        if (k8c_client_new(&cc, &cl, NULL) < 0)
                return NULL;
        for (int i = p->first; i < p->n; i += p->step) {
                json_auto_t *svc = bench_service(i);
                json_auto_t *ep = bench_endpoints(i, 0);
                k8c_error_t err = NULL;
                if (k8c_client_post(cl, "/api/v1/namespaces/default/services", svc, NULL, &err) < 0 ||
                    k8c_client_post(cl, "/api/v1/namespaces/default/endpoints", ep, NULL, &err) < 0) {
                        p->errors++;
                        k8c_error_release(&err);
                }
        }
        k8c_client_free(cl);
        return NULL;
}

/* The nat table's entry count as the kernel holds it now (IPT_SO_GET_INFO: no table copy). */
static long nat_entries(int fd)
{
        struct ipt_getinfo info = { .name = "nat" };
        socklen_t len = sizeof(info);
        if (getsockopt(fd, SOL_IP, IPT_SO_GET_INFO, &info, &len) < 0)
                return -1;
        return (long)info.num_entries;
}

static int dcmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static int free_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int port = -1;
        if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
                port = ntohs(sa.sin_port);
        if (fd >= 0)
                close(fd);
        return port;
}

static bool proxy_ready(int port)
{
        cleanup_free char *cmd = k8c_xasprintf(
                "curl -s -o /dev/null -w %%{http_code} http://127.0.0.1:%d/readyz | grep -q 200", port);
        return system(cmd) == 0;
}

static void api_latency(int n, int changes)
{
        const char *bindir = getenv("BINDIR");
        char *abs = realpath(bindir != NULL ? bindir : "bin", NULL);
        if (abs != NULL)
                setenv("K8C_BINDIR", abs, 1);
        unsetenv("K8C_ASAN_BINDIR");
        cleanup_free char *proxy_bin = k8c_xasprintf("%s/k8c-proxy", abs ? abs : "bin");
        free(abs);
        struct k8c_test_apiserver s;
        if (k8c_test_apiserver_start(&s, NULL) < 0) {
                printf("api->kernel: cannot start k8c-apiserver; nothing measured\n");
                return;
        }
        double t0 = now_s();
        struct poster ps[64];
        pthread_t th[64];
        for (int i = 0; i < 64; i++) {
                ps[i] = (struct poster){ s.url, n, i, 64, 0 };
                pthread_create(&th[i], NULL, post_objects, &ps[i]);
        }
        long errors = 0;
        for (int i = 0; i < 64; i++) {
                pthread_join(th[i], NULL);
                errors += ps[i].errors;
        }
        double t_load = now_s() - t0;

        int mport = free_port();
        cleanup_free char *mbind = k8c_xasprintf("127.0.0.1:%d", mport);
        cleanup_free char *log = k8c_xasprintf("%s/proxy.log", s.dir);
        t0 = now_s();
        pid_t pid = fork();
        if (pid == 0) {
                FILE *f = freopen(log, "w", stderr);
                f = freopen("/dev/null", "w", stdout);
                (void)f;
                execl(proxy_bin, "k8c-proxy", "--server", s.url, "--cluster-cidr", "10.128.0.0/9",
                      "--metrics-bind-address", mbind, "--hostname-override", "bench", (char *)NULL);
                _exit(127);
        }
        while (pid > 0 && !proxy_ready(mport) && now_s() - t0 < 120)
                usleep(20 * 1000);
        double t_ready = now_s() - t0;

        int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
        struct k8c_client_config cc = { .server = s.url };
        struct k8c_client *cl = NULL;
        k8c_client_new(&cc, &cl, NULL);
        double *lat = k8c_xcalloc((size_t)changes, sizeof(*lat));
        int got = 0;
        for (int k = 0; k < changes && pid > 0; k++) {
                /* A fourth endpoint for one service: the nat table grows, which GET_INFO sees. */
                int i = (int)((k * 7919L + 13) % n);
                json_auto_t *ep = bench_endpoints(i, 1);
                char name[32];
                snprintf(name, sizeof(name), "svc-%05d", i);
                cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/default/endpoints/%s", name);
                long before = nat_entries(fd);
                k8c_error_t err = NULL;
                double c0 = now_s();
                if (k8c_client_put(cl, path, ep, NULL, &err) < 0) {
                        k8c_error_release(&err);
                        continue;
                }
                while (nat_entries(fd) == before && now_s() - c0 < 30)
                        usleep(1000);
                lat[got++] = now_s() - c0;
        }
        qsort(lat, (size_t)got, sizeof(*lat), dcmp);
        printf("api->kernel: services=%d (loaded in %.1f s, %ld errors), proxy first sync %.1f s\n", n,
               t_load, errors, t_ready);
        if (got > 0) {
                size_t p99 = (size_t)((got - 1) * 0.99 + 0.5);
                printf("  endpoint PUT -> rules in the kernel, %d changes: p50 %.0f ms, p99 %.0f ms, max "
                       "%.0f ms "
                       "(target p99 <= 1000 ms)\n",
                       got, lat[got / 2] * 1e3, lat[p99] * 1e3, lat[got - 1] * 1e3);
        }
        free(lat);
        k8c_client_free(cl);
        if (fd >= 0)
                close(fd);
        if (pid > 0) {
                kill(pid, SIGTERM);
                waitpid(pid, NULL, 0);
        }
        k8c_test_apiserver_stop(&s);
        k8c_error_t err = NULL;
        k8c_iptc_cleanup("nat", NULL, &err);
        k8c_iptc_cleanup("filter", NULL, &err);
}

int main(int argc, char **argv)
{
        if (geteuid() != 0) {
                printf("bench_proxy: needs root (it makes its own network namespace); nothing measured\n");
                return 0;
        }
        /* Line-buffered: the children forked later must not inherit (and print again) pending output. */
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (unshare(CLONE_NEWNET) != 0) {
                perror("unshare(CLONE_NEWNET)");
                return 1;
        }
        int sizes[] = { 1000, 10000 };
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
                if (argc < 2 || atoi(argv[1]) >= sizes[i])
                        run(sizes[i]);
        /* The daemons talk over this namespace's loopback. */
        if (system("ip link set lo up") != 0) {
                printf("api->kernel: cannot bring lo up; nothing measured\n");
                return 0;
        }
        /* bench_proxy [services [changes]]: changes 0 skips the API part. The default is 2,000;
         * `bench_proxy 10000 20` measures at 10k. Loading costs the same per Service at any count
         * (the apiserver's allocator keeps an index instead of scanning all Services): about
         * 0.6 s for 2,000 and 5 s for 10,000 on a 2-core VM. */
        int n_api = argc >= 2 ? atoi(argv[1]) : 2000;
        int changes = argc >= 3 ? atoi(argv[2]) : 20;
        if (changes > 0)
                api_latency(n_api, changes);
        return 0;
}

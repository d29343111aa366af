/*
 * bench_proxy - full rule sync time for 1,000 and 10,000 services × 3
 * endpoints: rules.c (build + render), iptc.c (first sync, no-op re-sync,
 * one-endpoint change), against iptables-legacy-restore of the same text.
 *
 * Runs inside a network namespace of its own (unshare at start), so the
 * host's tables are never touched; needs root. Figures are printed, never
 * asserted.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
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

static double apply_both(const struct k8c_proxy_ruleset *rs, bool *ret_committed)
{
        k8c_error_t err = NULL;
        struct k8c_iptc_stats a, b;
        double t0 = now_s();
        if (k8c_iptc_apply(&rs->filter, &a, &err) < 0 || k8c_iptc_apply(&rs->nat, &b, &err) < 0) {
                fprintf(stderr, "apply: %s\n", k8c_error_msg(&err));
                exit(1);
        }
        *ret_committed = a.committed || b.committed;
        return now_s() - t0;
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
        double t_first = apply_both(&rs, &committed);
        double t_noop = apply_both(&rs, &committed);
        bool noop_committed = committed;

        json_decref(svcs);
        json_decref(eps);
        objects(n, n / 2, &svcs, &eps);
        struct k8c_proxy_ruleset rs2;
        if (k8c_proxy_rules_build(svcs, eps, &cfg, &rs2, &err) < 0)
                exit(1);
        double t_change = apply_both(&rs2, &committed);
        k8c_iptc_cleanup("nat", NULL, &err);
        k8c_iptc_cleanup("filter", NULL, &err);

        /* The same ruleset through iptables-legacy-restore (one process, whole tables). */
        char path[] = "/tmp/k8c-bench-proxy-XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fdopen(fd, "w");
        fputs(filter, f);
        fputs(nat, f);
        fclose(f);
        cleanup_free char *cmd = k8c_xasprintf("iptables-legacy-restore < %s", path);
        t0 = now_s();
        int rc = system(cmd);
        double t_restore = now_s() - t0;
        unlink(path);
        k8c_iptc_cleanup("nat", NULL, &err);
        k8c_iptc_cleanup("filter", NULL, &err);

        printf("services=%d endpoints=%zu nat_chains=%zu rules=%zu\n", n, rs.n_endpoints, rs.nat.n_chains,
               rs.n_rules);
        printf("  rules.c build          %8.1f ms\n", t_build * 1e3);
        printf("  rules.c render (text)  %8.1f ms\n", t_render * 1e3);
        printf("  iptc first sync        %8.1f ms\n", t_first * 1e3);
        printf("  iptc re-sync unchanged %8.1f ms (committed=%s)\n", t_noop * 1e3,
               noop_committed ? "yes" : "no");
        printf("  iptc one endpoint moved%8.1f ms\n", t_change * 1e3);
        printf("  iptables-legacy-restore%8.1f ms (exit %d)\n", t_restore * 1e3, rc);
        k8c_proxy_ruleset_free(&rs);
        k8c_proxy_ruleset_free(&rs2);
        json_decref(svcs);
        json_decref(eps);
}

int main(int argc, char **argv)
{
        if (geteuid() != 0) {
                printf("bench_proxy: needs root (it makes its own network namespace); nothing measured\n");
                return 0;
        }
        if (unshare(CLONE_NEWNET) != 0) {
                perror("unshare(CLONE_NEWNET)");
                return 1;
        }
        int sizes[] = { 1000, 10000 };
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
                if (argc < 2 || atoi(argv[1]) >= sizes[i])
                        run(sizes[i]);
        return 0;
}

/*
 * bench_proxy - full rule sync time for 1,000 and 10,000 services × 3
 * endpoints: rules.c (build + render), iptc.c (first sync, no-op re-sync,
 * one-endpoint change), against iptables-legacy-restore of the same text.
 *
 * Runs inside a network namespace of its own (unshare at start), so the
 * host's tables are never touched; needs root. Figures are printed, never
 * asserted.
 */
#include <errno.h>
#include <libiptc/libiptc.h>
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
        printf("  iptc one endpoint moved             %8.1f ms\n", t_change * 1e3);
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

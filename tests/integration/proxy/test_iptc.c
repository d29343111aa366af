/*
 * Integration tests for src/proxy/iptc.c against the kernel's legacy x_tables.
 *
 * Safety: main() moves this whole process into a network namespace of its own
 * (unshare(CLONE_NEWNET)) before anything else; every iptables-legacy command
 * and every rule we commit lives in that namespace, which the kernel destroys
 * with its tables when the process exits, whatever happened. The host's tables
 * are never read or written. Traffic goes only to addresses on the
 * namespace's own loopback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/proxy.h"
#include "proxy_tests.h"

/* Output of a shell command run inside our namespace. */
static char *run(const char *cmd)
{
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        char *out = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&out, &len);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                fwrite(buf, 1, n, m);
        fclose(m);
        assert_int_equal(pclose(p), 0);
        return out;
}

static void sh(const char *cmd)
{
        int rc = system(cmd);
        if (rc != 0)
                fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
        assert_int_equal(rc, 0);
}

static char *save(const char *table)
{
        cleanup_free char *cmd = k8c_xasprintf("iptables-legacy-save -t %s | grep -v '^#'", table);
        return run(cmd);
}

/* Exact comparison; on a difference, prints a unified diff (far easier to read than two blobs). */
static void assert_text(const char *got, const char *want)
{
        if (strcmp(got, want) == 0)
                return;
        char g[] = "/tmp/k8ct-got-XXXXXX", w[] = "/tmp/k8ct-want-XXXXXX";
        int gf = mkstemp(g), wf = mkstemp(w);
        assert_true(gf >= 0 && wf >= 0);
        assert_int_equal(write(gf, got, strlen(got)), (ssize_t)strlen(got));
        assert_int_equal(write(wf, want, strlen(want)), (ssize_t)strlen(want));
        close(gf);
        close(wf);
        cleanup_free char *cmd = k8c_xasprintf("diff -u %s %s >&2", w, g);
        int rc = system(cmd);
        (void)rc;
        unlink(g);
        unlink(w);
        fail_msg("text differs (diff above: - want, + got)");
}

static json_t *parse(const char *s)
{
        json_t *v = NULL;
        k8c_error_t err = NULL;
        assert_int_equal(k8c_json_parse(s, strlen(s), &v, &err), 0);
        return v;
}

static void build(const char *svcs, const char *eps, struct k8c_proxy_ruleset *rs)
{
        json_t *s = parse(svcs), *e = parse(eps);
        struct k8c_proxy_rules_config cfg = { .cluster_cidr = "10.244.0.0/16" };
        k8c_error_t err = NULL;
        assert_int_equal(k8c_proxy_rules_build(s, e, &cfg, rs, &err), 0);
        json_decref(s);
        json_decref(e);
}

static void apply(const struct k8c_ipt_table *t, struct k8c_iptc_stats *st)
{
        k8c_error_t err = NULL;
        int r = k8c_iptc_apply(t, st, &err);
        if (r < 0)
                fprintf(stderr, "apply %s: %s\n", t->name, k8c_error_msg(&err));
        assert_int_equal(r, 0);
}

static void cleanup_all(void)
{
        k8c_error_t err = NULL;
        assert_int_equal(k8c_iptc_cleanup("nat", NULL, &err), 0);
        assert_int_equal(k8c_iptc_cleanup("filter", NULL, &err), 0);
}

static const char *SVCS =
        "[{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"type\":"
        "\"NodePort\",\"clusterIP\":\"10.96.0.20\",\"ports\":[{\"name\":\"http\",\"port\":80,"
        "\"protocol\":\"TCP\",\"nodePort\":30080}]}},"
        "{\"metadata\":{\"name\":\"db\",\"namespace\":\"default\"},\"spec\":{\"sessionAffinity\":"
        "\"ClientIP\",\"clusterIP\":\"10.96.0.30\",\"ports\":[{\"port\":5432}]}},"
        "{\"metadata\":{\"name\":\"dns\",\"namespace\":\"kube-system\"},\"spec\":{\"type\":"
        "\"NodePort\",\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"name\":\"dns\",\"port\":53,"
        "\"protocol\":\"UDP\",\"nodePort\":30053}]}}]";
static const char *EPS3 =
        "[{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"subsets\":[{\"addresses\":"
        "[{\"ip\":\"10.244.1.3\"},{\"ip\":\"10.244.1.2\"},{\"ip\":\"10.244.2.2\"}],\"ports\":[{"
        "\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]}]},"
        "{\"metadata\":{\"name\":\"db\",\"namespace\":\"default\"},\"subsets\":[{\"addresses\":"
        "[{\"ip\":\"10.244.1.9\"}],\"ports\":[{\"port\":5432}]}]}]";
static const char *EPS2 =
        "[{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"subsets\":[{\"addresses\":"
        "[{\"ip\":\"10.244.1.2\"},{\"ip\":\"10.244.2.2\"}],\"ports\":[{"
        "\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]}]}]";

/* The kernel ends up holding exactly the rendered tables; a second apply commits nothing. */
static void test_apply_matches_save_and_reapply_is_noop(void **state)
{
        struct k8c_proxy_ruleset rs;
        build(SVCS, EPS3, &rs);
        struct k8c_iptc_stats st;
        apply(&rs.nat, &st);
        assert_true(st.committed);
        /* K8C-SERVICES, NODEPORTS, MARK-MASQ, POSTROUTING, 2 SVC, 4 SEP. */
        assert_int_equal(st.chains_created, 10);
        assert_int_equal(st.builtin_fixed, 3);
        assert_int_equal(st.chains_deleted, 0);
        apply(&rs.filter, &st);
        assert_true(st.committed);
        assert_int_equal(st.chains_created, 3);

        cleanup_free char *want_nat = k8c_ipt_table_render(&rs.nat);
        cleanup_free char *want_filter = k8c_ipt_table_render(&rs.filter);
        cleanup_free char *nat = save("nat");
        cleanup_free char *filter = save("filter");
        assert_text(nat, want_nat);
        assert_text(filter, want_filter);

        apply(&rs.nat, &st);
        assert_false(st.committed);
        assert_int_equal(st.chains_created + st.chains_rewritten + st.chains_deleted + st.builtin_fixed, 0);
        apply(&rs.filter, &st);
        assert_false(st.committed);
        cleanup_free char *nat2 = save("nat");
        assert_string_equal(nat2, want_nat);

        /* One endpoint and the db service's endpoints go: their chains go, the rest is rewritten in place. */
        struct k8c_proxy_ruleset rs2;
        build(SVCS, EPS2, &rs2);
        apply(&rs2.nat, &st);
        assert_true(st.committed);
        assert_int_equal(st.chains_created, 0);
        assert_int_equal(st.chains_deleted, 3);   /* SEP 10.244.1.3, db's SVC and SEP */
        assert_int_equal(st.chains_rewritten, 2); /* K8C-SERVICES, web's SVC */
        apply(&rs2.filter, &st);
        assert_int_equal(st.chains_rewritten, 1); /* the REJECT for db */
        cleanup_free char *want_nat2 = k8c_ipt_table_render(&rs2.nat);
        cleanup_free char *want_filter2 = k8c_ipt_table_render(&rs2.filter);
        cleanup_free char *nat3 = save("nat");
        cleanup_free char *filter3 = save("filter");
        assert_text(nat3, want_nat2);
        assert_text(filter3, want_filter2);

        cleanup_all();
        k8c_proxy_ruleset_free(&rs);
        k8c_proxy_ruleset_free(&rs2);
}

/* Someone else's chains and rules (with their place in built-in chains) survive apply, re-apply after
 * tampering, and cleanup; cleanup leaves both tables exactly as before. */
static void test_foreign_rules_survive_and_cleanup_restores(void **state)
{
        sh("iptables-legacy -t nat -N K8CT-OTHER && iptables-legacy -t nat -A K8CT-OTHER -s 192.0.2.1 -j "
           "RETURN"
           " && iptables-legacy -t nat -A PREROUTING -p tcp --dport 9999 -j K8CT-OTHER"
           " && iptables-legacy -t nat -A POSTROUTING -o lo -j RETURN"
           " && iptables-legacy -t filter -A INPUT -p tcp --dport 22 -j ACCEPT"
           " && iptables-legacy -t filter -P FORWARD DROP");
        cleanup_free char *nat_before = save("nat");
        cleanup_free char *filter_before = save("filter");

        struct k8c_proxy_ruleset rs;
        build(SVCS, EPS3, &rs);
        struct k8c_iptc_stats st;
        apply(&rs.nat, &st);
        apply(&rs.filter, &st);
        cleanup_free char *pre =
                run("iptables-legacy-save -t nat | grep -e '^-A PREROUTING' -e '^-A POSTROUTING' "
                    "-e '^-A K8CT'");
        assert_string_equal(
                pre, "-A PREROUTING -m comment --comment \"k8c service portals\" -j K8C-SERVICES\n"
                     "-A PREROUTING -p tcp -m tcp --dport 9999 -j K8CT-OTHER\n"
                     "-A POSTROUTING -m comment --comment \"k8c postrouting rules\" -j K8C-POSTROUTING\n"
                     "-A POSTROUTING -o lo -j RETURN\n"
                     "-A K8CT-OTHER -s 192.0.2.1/32 -j RETURN\n");
        cleanup_free char *fin = run("iptables-legacy-save -t filter | grep -e '^-A INPUT' -e '^:FORWARD'");
        assert_string_equal(fin,
                            ":FORWARD DROP [0:0]\n"
                            "-A INPUT -m comment --comment \"k8c externally-visible service portals\" -j "
                            "K8C-EXTERNAL-SERVICES\n"
                            "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n");

        /* Tampering: our jump deleted from PREROUTING and one moved to the end of OUTPUT; an extra rule
         * in a chain of ours. Re-apply restores exactly our layout and nothing else. */
        sh("iptables-legacy -t nat -D PREROUTING 1 && iptables-legacy -t nat -A OUTPUT -j K8C-SERVICES"
           " && iptables-legacy -t nat -A K8C-NODEPORTS -j RETURN");
        apply(&rs.nat, &st);
        assert_true(st.committed);
        assert_int_equal(st.builtin_fixed, 2);
        assert_int_equal(st.chains_rewritten, 1);
        /* Our part of the table is exactly the rendering again. */
        cleanup_free char *ours = run("iptables-legacy-save -t nat | grep -e '^:K8C-' -e '^-A K8C-'");
        cleanup_free char *want_all = k8c_ipt_table_render(&rs.nat);
        cleanup_free char *want_ours = NULL;
        size_t wlen = 0;
        FILE *m = open_memstream(&want_ours, &wlen);
        for (char *l = strtok(want_all, "\n"); l; l = strtok(NULL, "\n"))
                if (strncmp(l, ":K8C-", 5) == 0 || strncmp(l, "-A K8C-", 7) == 0)
                        fprintf(m, "%s\n", l);
        fclose(m);
        assert_text(ours, want_ours);
        cleanup_free char *pre2 =
                run("iptables-legacy-save -t nat | grep -e '^-A PREROUTING' -e '^-A OUTPUT' "
                    "-e '^-A K8C-NODEPORTS'");
        assert_string_equal(
                pre2, "-A PREROUTING -m comment --comment \"k8c service portals\" -j K8C-SERVICES\n"
                      "-A PREROUTING -p tcp -m tcp --dport 9999 -j K8CT-OTHER\n"
                      "-A OUTPUT -m comment --comment \"k8c service portals\" -j K8C-SERVICES\n"
                      "-A K8C-NODEPORTS -p tcp -m comment --comment \"default/web:http\" -m tcp --dport "
                      "30080 -j K8C-MARK-MASQ\n"
                      "-A K8C-NODEPORTS -p tcp -m comment --comment \"default/web:http\" -m tcp --dport "
                      "30080 -j K8C-SVC-HSDF7L354US5N4HK\n");

        /* k8c-proxy --cleanup, the real binary. */
        const char *bindir = getenv("K8C_BINDIR") ? getenv("K8C_BINDIR") : "bin";
        cleanup_free char *cmd = k8c_xasprintf("%s/k8c-proxy --cleanup", bindir);
        sh(cmd);
        cleanup_free char *nat_after = save("nat");
        cleanup_free char *filter_after = save("filter");
        assert_string_equal(nat_after, nat_before);
        assert_string_equal(filter_after, filter_before);
        /* Cleanup of a clean table is a no-op. */
        struct k8c_iptc_stats cst;
        k8c_error_t err = NULL;
        assert_int_equal(k8c_iptc_cleanup("nat", &cst, &err), 0);
        assert_false(cst.committed);

        sh("iptables-legacy -t nat -F PREROUTING && iptables-legacy -t nat -F POSTROUTING"
           " && iptables-legacy -t nat -F K8CT-OTHER && iptables-legacy -t nat -X K8CT-OTHER && "
           "iptables-legacy -t filter -F INPUT"
           " && iptables-legacy -t filter -P FORWARD ACCEPT");
        k8c_proxy_ruleset_free(&rs);
}

/* 500 services × 3 endpoints: what the kernel holds is exactly the rendering, and an unchanged
 * re-apply commits nothing. */
static void test_large_table_exact(void **state)
{
        json_t *svcs = json_array(), *eps = json_array();
        size_t n_xlb = 0;
        for (int i = 0; i < 500; i++) {
                char name[16], ip[32];
                snprintf(name, sizeof(name), "s%03d", i);
                snprintf(ip, sizeof(ip), "10.96.%d.%d", (i / 200) & 0xff, i % 200 + 1);
                /* Every 7th keeps NodePort traffic on local endpoints: on even ones one endpoint is ours,
                 * odd ones have none here (a DROP rule). */
                json_array_append_new(svcs,
                                      json_pack("{s:{s:s,s:s},s:{s:s,s:s,s:s,s:[{s:i,s:i}]}}", "metadata",
                                                "name", name, "namespace", "n", "spec", "type", "NodePort",
                                                "externalTrafficPolicy", i % 7 == 3 ? "Local" : "Cluster",
                                                "clusterIP", ip, "ports", "port", 80, "nodePort", 30000 + i));
                if (i % 50 == 0)
                        continue; /* every 50th without endpoints: REJECT rules too */
                json_t *e =
                        json_pack("{s:{s:s,s:s},s:[{s:[{s:s},{s:s},{s:s}],s:[{s:i}]}]}", "metadata", "name",
                                  name, "namespace", "n", "subsets", "addresses", "ip", "10.244.0.1", "ip",
                                  "10.244.0.2", "ip", "10.244.0.3", "ports", "port", 8080);
                if (i % 2 == 0)
                        json_object_set_new(k8c_json_get(e, "subsets[0].addresses[0]"), "nodeName",
                                            json_string("node-1"));
                json_array_append_new(eps, e);
                if (i % 7 == 3)
                        n_xlb++;
        }
        struct k8c_proxy_rules_config cfg = { .cluster_cidr = "10.244.0.0/16", .node_name = "node-1" };
        struct k8c_proxy_ruleset rs;
        k8c_error_t err = NULL;
        assert_int_equal(k8c_proxy_rules_build(svcs, eps, &cfg, &rs, &err), 0);
        struct k8c_iptc_stats st;
        apply(&rs.nat, &st);
        assert_int_equal(n_xlb, 70);
        assert_int_equal(st.chains_created, 4 + 490 + 490 * 3 + n_xlb);
        apply(&rs.filter, &st);
        cleanup_free char *want_nat = k8c_ipt_table_render(&rs.nat);
        cleanup_free char *want_filter = k8c_ipt_table_render(&rs.filter);
        cleanup_free char *nat = save("nat");
        cleanup_free char *filter = save("filter");
        assert_text(nat, want_nat);
        assert_text(filter, want_filter);
        apply(&rs.nat, &st);
        assert_false(st.committed);
        cleanup_all();
        k8c_proxy_ruleset_free(&rs);
        json_decref(svcs);
        json_decref(eps);
}

/* ---- traffic through the rules, on the namespace's loopback ---- */

struct server {
        int fd;
        char reply[32];
};

static void *serve(void *arg)
{
        struct server *s = arg;
        for (;;) {
                int c = accept(s->fd, NULL, NULL);
                if (c < 0)
                        return NULL;
                ssize_t w = write(c, s->reply, strlen(s->reply));
                (void)w;
                close(c);
        }
}

static int listen_on(const char *ip, int port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        inet_pton(AF_INET, ip, &a.sin_addr);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(fd, 16), 0);
        return fd;
}

/* Connects to ip:port; returns what the server said, or "" with *ret_errno set. */
static char *fetch(const char *ip, int port, int *ret_errno)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval tv = { 3, 0 };
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        inet_pton(AF_INET, ip, &a.sin_addr);
        *ret_errno = 0;
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                *ret_errno = errno;
                close(fd);
                return k8c_xstrdup("");
        }
        char buf[64] = { 0 };
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        return k8c_xstrdup(n > 0 ? buf : "");
}

static void test_traffic_dnat_and_reject(void **state)
{
        /* Two "pods" as addresses on our loopback; service IPs routed to it so the first route lookup
         * succeeds before OUTPUT DNAT rewrites the destination. */
        sh("ip addr add 10.244.1.2/32 dev lo && ip addr add 10.244.2.2/32 dev lo && ip addr add "
           "192.168.77.1/32 dev lo"
           " && ip route add 10.96.0.0/16 dev lo");
        struct server s1 = { .fd = listen_on("10.244.1.2", 8080), .reply = "pod-a" };
        struct server s2 = { .fd = listen_on("10.244.2.2", 8080), .reply = "pod-b" };
        pthread_t t1, t2;
        pthread_create(&t1, NULL, serve, &s1);
        pthread_create(&t2, NULL, serve, &s2);

        struct k8c_proxy_ruleset rs;
        build(SVCS, EPS2, &rs);
        struct k8c_iptc_stats st;
        apply(&rs.nat, &st);
        apply(&rs.filter, &st);

        int seen_a = 0, seen_b = 0, e = 0;
        for (int i = 0; i < 64; i++) {
                cleanup_free char *got = fetch("10.96.0.20", 80, &e);
                assert_int_equal(e, 0);
                if (strcmp(got, "pod-a") == 0)
                        seen_a++;
                else if (strcmp(got, "pod-b") == 0)
                        seen_b++;
                else
                        fail_msg("unexpected reply '%s'", got);
        }
        /* Both endpoints get traffic: the chance that 64 tries all pick one is 2^-63. */
        assert_true(seen_a > 0 && seen_b > 0);
        assert_int_equal(seen_a + seen_b, 64);
        /* The NodePort on a local (non-loopback) address of the "node" leads to the same pods. */
        for (int i = 0; i < 8; i++) {
                cleanup_free char *got = fetch("192.168.77.1", 30080, &e);
                assert_int_equal(e, 0);
                assert_true(strcmp(got, "pod-a") == 0 || strcmp(got, "pod-b") == 0);
        }
        /* A local address without a NodePort rule: nothing listens there. */
        cleanup_free char *np = fetch("192.168.77.1", 30081, &e);
        assert_int_equal(e, ECONNREFUSED);
        /* db has no endpoints: refused at once by the filter REJECT (a TCP reset), not a timeout. */
        cleanup_free char *none = fetch("10.96.0.30", 5432, &e);
        assert_int_equal(e, ECONNREFUSED);
        assert_string_equal(none, "");

        /* ClientIP affinity: the same client keeps landing on the same pod. */
        struct k8c_proxy_ruleset sticky;
        build("[{\"metadata\":{\"name\":\"sticky\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":"
              "\"10.96.0.40\",\"sessionAffinity\":\"ClientIP\",\"ports\":[{\"port\":80}]}}]",
              "[{\"metadata\":{\"name\":\"sticky\",\"namespace\":\"default\"},\"subsets\":[{\"addresses\":"
              "[{\"ip\":\"10.244.1.2\"},{\"ip\":\"10.244.2.2\"}],\"ports\":[{\"port\":8080}]}]}]",
              &sticky);
        apply(&sticky.nat, &st);
        apply(&sticky.filter, &st);
        cleanup_free char *first = fetch("10.96.0.40", 80, &e);
        assert_int_equal(e, 0);
        assert_true(strcmp(first, "pod-a") == 0 || strcmp(first, "pod-b") == 0);
        for (int i = 0; i < 20; i++) {
                cleanup_free char *again = fetch("10.96.0.40", 80, &e);
                assert_int_equal(e, 0);
                assert_string_equal(again, first);
        }
        k8c_proxy_ruleset_free(&sticky);

        cleanup_all();
        cleanup_free char *left = run("iptables-legacy-save | grep -c K8C- || true");
        assert_string_equal(left, "0\n");
        shutdown(s1.fd, SHUT_RDWR);
        shutdown(s2.fd, SHUT_RDWR);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        close(s1.fd);
        close(s2.fd);
        k8c_proxy_ruleset_free(&rs);
}

/* k8c_iptc_apply_since: unchanged chains are trusted while the table keeps the shape we left, so a
 * change compares only what differs; a foreign commit that changes the shape (a flushed chain) is
 * noticed and repaired; same-shape drift waits for the full apply, which repairs it. */
static void test_apply_since_trusts_and_repairs(void **state)
{
        struct k8c_proxy_ruleset rs, rs2;
        build(SVCS, EPS3, &rs);
        build(SVCS, EPS2, &rs2);
        k8c_error_t err = NULL;
        struct k8c_iptc_stats st;
        uint64_t fp = 0;
        assert_int_equal(k8c_iptc_apply_since(&rs.nat, NULL, &fp, &st, &err), 0);
        assert_true(st.committed);
        assert_int_not_equal(fp, 0);
        assert_int_equal(k8c_iptc_apply_since(&rs.nat, &rs.nat, &fp, &st, &err), 0);
        assert_false(st.committed);
        size_t ours = 0;
        for (size_t i = 0; i < rs.nat.n_chains; i++)
                ours += !rs.nat.chains[i].builtin;
        assert_int_equal(st.chains_trusted, ours);

        assert_int_equal(k8c_iptc_apply_since(&rs2.nat, &rs.nat, &fp, &st, &err), 0);
        assert_true(st.committed);
        assert_int_equal(st.chains_rewritten, 2); /* K8C-SERVICES, web's SVC: the only ones compared */
        assert_int_equal(st.chains_deleted, 3);
        cleanup_free char *want2 = k8c_ipt_table_render(&rs2.nat);
        cleanup_free char *got2 = save("nat");
        assert_text(got2, want2);

        /* Someone flushes our masquerade chain: the shape changed, so everything is compared again. */
        sh("iptables-legacy -t nat -F K8C-POSTROUTING");
        assert_int_equal(k8c_iptc_apply_since(&rs2.nat, &rs2.nat, &fp, &st, &err), 0);
        assert_true(st.committed);
        assert_int_equal(st.chains_trusted, 0);
        assert_int_equal(st.chains_rewritten, 1);
        cleanup_free char *got3 = save("nat");
        assert_text(got3, want2);

        /* Same-shape drift (one rule replaced in place) is invisible to the partial apply... */
        sh("iptables-legacy -t nat -R K8C-MARK-MASQ 1 -j MARK --set-xmark 0x8000/0x8000");
        assert_int_equal(k8c_iptc_apply_since(&rs2.nat, &rs2.nat, &fp, &st, &err), 0);
        assert_false(st.committed);
        /* ...and repaired by the full one a periodic sync makes. */
        assert_int_equal(k8c_iptc_apply_since(&rs2.nat, NULL, &fp, &st, &err), 0);
        assert_true(st.committed);
        assert_int_equal(st.chains_rewritten, 1);
        cleanup_free char *got4 = save("nat");
        assert_text(got4, want2);

        k8c_proxy_ruleset_free(&rs);
        k8c_proxy_ruleset_free(&rs2);
        cleanup_all();
}

int main(void)
{
        if (geteuid() != 0) {
                printf("[  SKIPPED ] 6 test(s): needs root for a network namespace\n");
                return 0;
        }
        /* Before any thread exists: everything below lives in a namespace only this process holds. */
        if (unshare(CLONE_NEWNET) != 0) {
                perror("unshare(CLONE_NEWNET)");
                return 1;
        }
        if (system("ip link set lo up") != 0)
                return 1;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_apply_matches_save_and_reapply_is_noop),
                cmocka_unit_test(test_foreign_rules_survive_and_cleanup_restores),
                cmocka_unit_test(test_large_table_exact),
                cmocka_unit_test(test_apply_since_trusts_and_repairs),
                cmocka_unit_test(test_traffic_dnat_and_reject),
                cmocka_unit_test_teardown(test_daemon_end_to_end, daemon_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

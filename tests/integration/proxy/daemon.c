/*
 * The k8c-proxy daemon end to end: the real k8c-apiserver and k8c-proxy
 * binaries, both inside the test's private network namespace (main() in
 * test_iptc.c made it), talking over its loopback. Objects are written over
 * HTTP; the kernel's tables are read back with iptables-legacy-save and
 * compared with what rules.c renders for the very objects the server holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/apiserver_harness.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/proxy.h"
#include <ldns/ldns.h>
#include "proxy_tests.h"

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pick_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET };
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        socklen_t sl = sizeof(sa);
        getsockname(fd, (struct sockaddr *)&sa, &sl);
        close(fd);
        return ntohs(sa.sin_port);
}

static void http_ok(struct k8c_test_apiserver *s, const char *method, const char *path, const char *body,
                    long want)
{
        struct k8c_test_http_reply r = { 0 };
        assert_int_equal(k8c_test_http(s, method, path, body ? "application/json" : NULL, body,
                                       body ? strlen(body) : 0, NULL, &r),
                         0);
        if (r.code != want)
                fprintf(stderr, "%s %s: %ld %s\n", method, path, r.code, r.body ? r.body : "");
        assert_int_equal(r.code, want);
        k8c_test_http_reply_free(&r);
}

static json_t *http_json(struct k8c_test_apiserver *s, const char *path)
{
        struct k8c_test_http_reply r = { 0 };
        assert_int_equal(k8c_test_http(s, "GET", path, NULL, NULL, 0, NULL, &r), 0);
        assert_int_equal(r.code, 200);
        json_t *v = NULL;
        k8c_error_t err = NULL;
        assert_int_equal(k8c_json_parse(r.body, strlen(r.body), &v, &err), 0);
        k8c_test_http_reply_free(&r);
        return v;
}

/* "-A K8C-..." and ":K8C-..." lines plus our jumps, i.e. everything k8c-proxy owns, from text. */
static char *owned_lines(const char *text)
{
        cleanup_free char *copy = k8c_xstrdup(text);
        char *out = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&out, &len);
        for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (strncmp(l, ":K8C-", 5) == 0 || strstr(l, "-j K8C-") != NULL ||
                    strncmp(l, "-A K8C-", 7) == 0)
                        fprintf(m, "%s\n", l);
        fclose(m);
        return out;
}

/* What the proxy should have programmed for the objects the server holds right now. */
static char *expected(struct k8c_test_apiserver *s, const char *table)
{
        json_t *svcs = http_json(s, "/api/v1/services");
        json_t *eps = http_json(s, "/api/v1/endpoints");
        struct k8c_proxy_rules_config cfg = { .cluster_cidr = "10.244.0.0/16" };
        struct k8c_proxy_ruleset rs;
        k8c_error_t err = NULL;
        assert_int_equal(k8c_proxy_rules_build(json_object_get(svcs, "items"), json_object_get(eps, "items"),
                                               &cfg, &rs, &err),
                         0);
        cleanup_free char *text = k8c_ipt_table_render(strcmp(table, "nat") == 0 ? &rs.nat : &rs.filter);
        k8c_proxy_ruleset_free(&rs);
        json_decref(svcs);
        json_decref(eps);
        return owned_lines(text);
}

static char *kernel(const char *table)
{
        cleanup_free char *cmd = k8c_xasprintf("iptables-legacy-save -t %s", table);
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
        char *o = owned_lines(out);
        free(out);
        return o;
}

/* Waits up to timeout_ms for the kernel's table to hold exactly what the server's objects say. */
static void await_rules(struct k8c_test_apiserver *s, const char *table, int timeout_ms)
{
        int64_t end = mono_ms() + timeout_ms;
        for (;;) {
                cleanup_free char *want = expected(s, table);
                cleanup_free char *got = kernel(table);
                if (strcmp(want, got) == 0)
                        return;
                if (mono_ms() > end) {
                        fprintf(stderr, "--- want\n%s--- got\n%s", want, got);
                        fail_msg("%s table did not converge in %d ms", table, timeout_ms);
                }
                usleep(50 * 1000);
        }
}

static char *metrics(int port)
{
        cleanup_free char *cmd =
                k8c_xasprintf("curl -s -o - -w '%%{http_code}' http://127.0.0.1:%d/metrics", port);
        FILE *p = popen(cmd, "r");
        char *out = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&out, &len);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                fwrite(buf, 1, n, m);
        fclose(m);
        pclose(p);
        return out;
}

static long long metric(const char *text, const char *name)
{
        cleanup_free char *needle = k8c_xasprintf("\n%s ", name);
        const char *p = strstr(text, needle);
        return p ? atoll(p + strlen(needle)) : -1;
}

static int http_code(int port, const char *path)
{
        cleanup_free char *cmd =
                k8c_xasprintf("curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d%s", port, path);
        FILE *p = popen(cmd, "r");
        char buf[16] = { 0 };
        size_t n = fread(buf, 1, sizeof(buf) - 1, p);
        (void)n;
        pclose(p);
        return atoi(buf);
}

static const char *SVC =
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"},\"spec\":{"
        "\"type\":\"NodePort\",\"clusterIP\":\"10.96.0.50\",\"selector\":{\"app\":\"web\"},"
        "\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}]}}";
static const char *SVC2 =
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"empty\"},\"spec\":{"
        "\"clusterIP\":\"10.96.0.51\",\"ports\":[{\"port\":443}]}}";

static char *eps_body(int n, const char *rv)
{
        char *addrs = k8c_xstrdup("");
        for (int i = 0; i < n; i++) {
                char *a = k8c_xasprintf("%s%s{\"ip\":\"10.244.1.%d\"}", addrs, i ? "," : "", 10 + i);
                free(addrs);
                addrs = a;
        }
        char *b = k8c_xasprintf(
                "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"web\"%s%s%s},"
                "\"subsets\":[{\"addresses\":[%s],\"ports\":[{\"name\":\"http\",\"port\":8080,"
                "\"protocol\":\"TCP\"}]}]}",
                rv ? ",\"resourceVersion\":\"" : "", rv ? rv : "", rv ? "\"" : "", addrs);
        free(addrs);
        return b;
}

/* One UDP query to the proxy's DNS; returns "RCODE" then each answer's rdata fields, one answer a line. */
static char *dig(int port, const char *name, ldns_rr_type type)
{
        ldns_pkt *q = NULL;
        assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
                         LDNS_STATUS_OK);
        ldns_pkt_set_id(q, 99);
        uint8_t *wire = NULL;
        size_t wlen = 0;
        assert_int_equal(ldns_pkt2wire(&wire, q, &wlen), LDNS_STATUS_OK);
        ldns_pkt_free(q);
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        struct timeval tv = { 5, 0 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        assert_int_equal(sendto(fd, wire, wlen, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)wlen);
        free(wire);
        uint8_t buf[1500];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        close(fd);
        assert_true(n > 0);
        ldns_pkt *r = NULL;
        assert_int_equal(ldns_wire2pkt(&r, buf, (size_t)n), LDNS_STATUS_OK);
        char *out = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&out, &len);
        cleanup_free char *rc = ldns_pkt_rcode2str(ldns_pkt_get_rcode(r));
        fprintf(m, "%s\n", rc);
        for (size_t i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(r)); i++) {
                const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(r), i);
                for (size_t k = 0; k < ldns_rr_rd_count(rr); k++) {
                        cleanup_free char *rd = ldns_rdf2str(ldns_rr_rdf(rr, k));
                        fprintf(m, "%s%s", k ? " " : "", rd);
                }
                fputc('\n', m);
        }
        fclose(m);
        ldns_pkt_free(r);
        return out;
}

/* Counts of what rules.c makes of the server's objects: [0] nat rules, [1] filter rules, [2] service
 * ports, [3] endpoints. */
static void expected_counts(struct k8c_test_apiserver *s, size_t ret[4])
{
        json_t *svcs = http_json(s, "/api/v1/services");
        json_t *eps = http_json(s, "/api/v1/endpoints");
        struct k8c_proxy_rules_config cfg = { .cluster_cidr = "10.244.0.0/16" };
        struct k8c_proxy_ruleset rs;
        k8c_error_t err = NULL;
        assert_int_equal(k8c_proxy_rules_build(json_object_get(svcs, "items"), json_object_get(eps, "items"),
                                               &cfg, &rs, &err),
                         0);
        ret[0] = ret[1] = 0;
        for (size_t i = 0; i < rs.nat.n_chains; i++)
                ret[0] += rs.nat.chains[i].n_rules;
        for (size_t i = 0; i < rs.filter.n_chains; i++)
                ret[1] += rs.filter.chains[i].n_rules;
        ret[2] = rs.n_service_ports;
        ret[3] = rs.n_endpoints;
        k8c_proxy_ruleset_free(&rs);
        json_decref(svcs);
        json_decref(eps);
}

/* Whatever happens in the test, the daemon is killed and the server stopped (a failed assertion
 * longjmps out of the test body; the teardown still runs). */
static struct k8c_test_apiserver api;
static pid_t daemon_pid = -1;

int daemon_teardown(void **state)
{
        if (daemon_pid > 0) {
                kill(daemon_pid, SIGKILL);
                waitpid(daemon_pid, NULL, 0);
                daemon_pid = -1;
        }
        k8c_test_apiserver_stop(&api);
        k8c_error_t err = NULL;
        if (k8c_proxy_cleanup(&err) < 0)
                k8c_error_release(&err);
        return 0;
}

void test_daemon_end_to_end(void **state)
{
        struct k8c_test_apiserver *sp = &api;
#define s (*sp)
        assert_int_equal(k8c_test_apiserver_start(&s, NULL), 0);
        http_ok(&s, "POST", "/api/v1/namespaces/default/services", SVC, 201);
        http_ok(&s, "POST", "/api/v1/namespaces/default/services", SVC2, 201);
        cleanup_free char *e3 = eps_body(3, NULL);
        http_ok(&s, "POST", "/api/v1/namespaces/default/endpoints", e3, 201);

        const char *bindir = getenv("K8C_ASAN_BINDIR") ? getenv("K8C_ASAN_BINDIR") : "build/asan/bin";
        cleanup_free char *bin = k8c_xasprintf("%s/k8c-proxy", bindir);
        int mport = pick_port();
        int dport = pick_port();
        cleanup_free char *dbind = k8c_xasprintf("127.0.0.1:%d", dport);
        cleanup_free char *mbind = k8c_xasprintf("127.0.0.1:%d", mport);
        cleanup_free char *log = k8c_xasprintf("%s/proxy.log", s.dir);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* Its own output goes to a log, never to our stdout pipe (which it would hold open). */
                FILE *f = freopen(log, "w", stderr);
                f = freopen("/dev/null", "w", stdout);
                (void)f;
                execl(bin, "k8c-proxy", "--server", s.url, "--cluster-cidr", "10.244.0.0/16",
                      "--metrics-bind-address", mbind, "--min-sync-period", "1s", "--sync-period", "30s",
                      "--hostname-override", "node-1", "--dns-bind-address", dbind, (char *)NULL);
                _exit(127);
        }
        daemon_pid = pid;

        /* Ready once the first sync is in the kernel. */
        int64_t end = mono_ms() + 20000;
        while (http_code(mport, "/readyz") != 200) {
                assert_true(mono_ms() < end);
                usleep(50 * 1000);
        }
        assert_int_equal(http_code(mport, "/healthz"), 200);
        assert_int_equal(http_code(mport, "/nope"), 404);
        await_rules(&s, "nat", 1000);
        await_rules(&s, "filter", 1000);
        /* Sanity: the expectation is not vacuous. */
        cleanup_free char *nat0 = kernel("nat");
        assert_non_null(strstr(nat0,
                               "-A K8C-SVC-HSDF7L354US5N4HK -m comment --comment \"default/web:http -> "
                               "10.244.1.10:8080\" -m statistic --mode random --probability 0.33333333349"));
        cleanup_free char *filter0 = kernel("filter");
        assert_non_null(strstr(filter0, "-A K8C-SERVICES -d 10.96.0.51/32 -p tcp -m comment --comment "
                                        "\"default/empty has no endpoints\" -m tcp --dport 443 -j REJECT"));

        /* Cluster DNS from the same informers. */
        cleanup_free char *a = dig(dport, "web.default.svc.cluster.local.", LDNS_RR_TYPE_A);
        assert_string_equal(a, "NOERROR\n10.96.0.50\n");
        cleanup_free char *ptr = dig(dport, "50.0.96.10.in-addr.arpa.", LDNS_RR_TYPE_PTR);
        assert_string_equal(ptr, "NOERROR\nweb.default.svc.cluster.local.\n");
        cleanup_free char *srv = dig(dport, "_http._tcp.web.default.svc.cluster.local.", LDNS_RR_TYPE_SRV);
        assert_string_equal(srv, "NOERROR\n0 100 80 web.default.svc.cluster.local.\n");
        cleanup_free char *out = dig(dport, "example.org.", LDNS_RR_TYPE_A);
        assert_string_equal(out, "REFUSED\n");

        /* Ten endpoint changes in a burst are coalesced: at most one sync per min-sync-period (1 s). */
        cleanup_free char *m0 = metrics(mport);
        long long syncs0 = metric(m0, "k8c_proxy_sync_total");
        assert_true(syncs0 >= 1);
        int64_t t0 = mono_ms();
        for (int i = 0; i < 10; i++) {
                json_t *cur = http_json(&s, "/api/v1/namespaces/default/endpoints/web");
                cleanup_free char *b =
                        eps_body(1 + i % 3, k8c_json_get_string(cur, "metadata.resourceVersion"));
                json_decref(cur);
                http_ok(&s, "PUT", "/api/v1/namespaces/default/endpoints/web", b, 200);
        }
        json_t *cur = http_json(&s, "/api/v1/namespaces/default/endpoints/web");
        cleanup_free char *e2 = eps_body(2, k8c_json_get_string(cur, "metadata.resourceVersion"));
        json_decref(cur);
        http_ok(&s, "PUT", "/api/v1/namespaces/default/endpoints/web", e2, 200);
        await_rules(&s, "nat", 3000);
        usleep(1200 * 1000); /* let any sync still owed happen */
        int64_t elapsed = mono_ms() - t0;
        cleanup_free char *m1 = metrics(mport);
        long long syncs = metric(m1, "k8c_proxy_sync_total") - syncs0;
        assert_true(syncs >= 1);
        assert_true(syncs <= elapsed / 1000 + 1);
        assert_int_equal(metric(m1, "k8c_proxy_sync_errors_total"), 0);
        size_t want[4];
        expected_counts(&s, want);
        /* web (2 endpoints), empty, and the apiserver's own default/kubernetes service. */
        assert_int_equal(want[2], 3);
        assert_int_equal(want[3], 2);
        assert_int_equal(metric(m1, "k8c_proxy_service_ports"), want[2]);
        assert_int_equal(metric(m1, "k8c_proxy_endpoints"), want[3]);
        cleanup_free char *nat_line =
                k8c_xasprintf("\nk8c_proxy_rules_programmed{table=\"nat\"} %zu\n", want[0]);
        cleanup_free char *filter_line =
                k8c_xasprintf("\nk8c_proxy_rules_programmed{table=\"filter\"} %zu\n", want[1]);
        assert_non_null(strstr(m1, nat_line));
        assert_non_null(strstr(m1, filter_line));
        assert_non_null(strstr(m1, "\nk8c_proxy_sync_duration_seconds_count "));

        /* Deleting the service removes its chains. */
        http_ok(&s, "DELETE", "/api/v1/namespaces/default/services/web", NULL, 200);
        await_rules(&s, "nat", 3000);
        cleanup_free char *nat1 = kernel("nat");
        assert_null(strstr(nat1, "K8C-SVC-HSDF7L354US5N4HK"));
        int64_t dend = mono_ms() + 5000;
        for (;;) {
                cleanup_free char *gone = dig(dport, "web.default.svc.cluster.local.", LDNS_RR_TYPE_A);
                if (strcmp(gone, "NXDOMAIN\n") == 0)
                        break;
                assert_true(mono_ms() < dend);
                usleep(50 * 1000);
        }

        /* SIGTERM: clean exit, rules left in place for the next proxy. */
        kill(pid, SIGTERM);
        int status = 0;
        end = mono_ms() + 10000;
        while (waitpid(pid, &status, WNOHANG) == 0) {
                assert_true(mono_ms() < end);
                usleep(20 * 1000);
        }
        daemon_pid = -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                cleanup_free char *show = k8c_xasprintf("tail -n 60 %s >&2", log);
                int rc = system(show);
                (void)rc;
        }
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        cleanup_free char *nat2 = kernel("nat");
        assert_string_equal(nat2, nat1);

        k8c_error_t err = NULL;
        assert_int_equal(k8c_proxy_cleanup(&err), 0);
        cleanup_free char *nat3 = kernel("nat");
        assert_string_equal(nat3, "");
        assert_true(WIFEXITED(k8c_test_apiserver_stop(&s)));
#undef s
}

/* Unit tests for src/proxy/dns.c: answers built by ldns from canned Services/Endpoints, and the
 * server over UDP and TCP on 127.0.0.1 with an ephemeral port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/proxy.h"

static const char *SERVICES =
        "["
        "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":\"10.96.0.20\","
        "\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\"},{\"name\":\"dns\",\"port\":53,"
        "\"protocol\":\"UDP\"}]}},"
        "{\"metadata\":{\"name\":\"db\",\"namespace\":\"shop\"},\"spec\":{\"clusterIP\":\"None\",\"ports\":[{"
        "\"name\":\"pg\",\"port\":5432}]}},"
        "{\"metadata\":{\"name\":\"search\",\"namespace\":\"default\"},\"spec\":{\"type\":\"ExternalName\","
        "\"externalName\":\"search.example.com\"}}"
        "]";
static const char *ENDPOINTS =
        "["
        "{\"metadata\":{\"name\":\"db\",\"namespace\":\"shop\"},\"subsets\":[{\"addresses\":[{\"ip\":"
        "\"10.244.1.5\",\"hostname\":\"db-0\"},{\"ip\":\"10.244.2.6\"}],\"notReadyAddresses\":[{\"ip\":"
        "\"10.244.3.7\",\"hostname\":\"db-2\"}],\"ports\":[{\"name\":\"pg\",\"port\":5432,\"protocol\":"
        "\"TCP\"}]}]}"
        "]";

struct canned {
        json_t *svcs, *eps;
};

static json_t *find(json_t *arr, const char *ns, const char *name)
{
        size_t i;
        json_t *o;
        json_array_foreach(arr, i, o)
        {
                if (strcmp(k8c_json_get_string(o, "metadata.namespace"), ns) == 0 &&
                    strcmp(k8c_json_get_string(o, "metadata.name"), name) == 0)
                        return json_incref(o);
        }
        return NULL;
}
static json_t *get_service(void *opaque, const char *ns, const char *name)
{
        return find(((struct canned *)opaque)->svcs, ns, name);
}
static json_t *get_endpoints(void *opaque, const char *ns, const char *name)
{
        return find(((struct canned *)opaque)->eps, ns, name);
}
static json_t *by_ip(void *opaque, const char *ip)
{
        size_t i;
        json_t *o;
        json_array_foreach(((struct canned *)opaque)->svcs, i, o)
        {
                const char *c = k8c_json_get_string(o, "spec.clusterIP");
                if (c && strcmp(c, ip) == 0)
                        return json_incref(o);
        }
        return NULL;
}

static struct canned data;
static const struct k8c_dns_view VIEW = { get_service, get_endpoints, by_ip, &data };
static const struct k8c_dns_config CFG = { .domain = "cluster.local", .ttl = 5 };

static int setup(void **state)
{
        k8c_error_t err = NULL;
        assert_int_equal(k8c_json_parse(SERVICES, strlen(SERVICES), &data.svcs, &err), 0);
        assert_int_equal(k8c_json_parse(ENDPOINTS, strlen(ENDPOINTS), &data.eps, &err), 0);
        return 0;
}
static int teardown(void **state)
{
        json_decref(data.svcs);
        json_decref(data.eps);
        return 0;
}

static uint8_t *query_wire(const char *name, ldns_rr_type type, uint16_t id, size_t *ret_len)
{
        ldns_pkt *q = NULL;
        assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
                         LDNS_STATUS_OK);
        ldns_pkt_set_id(q, id);
        uint8_t *wire = NULL;
        assert_int_equal(ldns_pkt2wire(&wire, q, ret_len), LDNS_STATUS_OK);
        ldns_pkt_free(q);
        return wire;
}

/* The answer as text: "RCODE aa=N\n" then one line per answer, then "+" lines for additionals. */
static char *describe(const uint8_t *wire, size_t len, uint16_t want_id)
{
        ldns_pkt *p = NULL;
        assert_int_equal(ldns_wire2pkt(&p, wire, len), LDNS_STATUS_OK);
        assert_int_equal(ldns_pkt_id(p), want_id);
        assert_true(ldns_pkt_qr(p));
        assert_true(ldns_pkt_rd(p));
        assert_int_equal(ldns_pkt_qdcount(p), 1);
        char *out = NULL;
        size_t olen = 0;
        FILE *f = open_memstream(&out, &olen);
        cleanup_free char *rc = ldns_pkt_rcode2str(ldns_pkt_get_rcode(p));
        fprintf(f, "%s aa=%d\n", rc, ldns_pkt_aa(p));
        ldns_rr_list *an = ldns_pkt_answer(p);
        for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
                cleanup_free char *s = ldns_rr2str(ldns_rr_list_rr(an, i));
                fprintf(f, "%s", s);
        }
        ldns_rr_list *ad = ldns_pkt_additional(p);
        for (size_t i = 0; i < ldns_rr_list_rr_count(ad); i++) {
                cleanup_free char *s = ldns_rr2str(ldns_rr_list_rr(ad, i));
                fprintf(f, "+%s", s);
        }
        fclose(f);
        ldns_pkt_free(p);
        return out;
}

static char *ask(const char *name, ldns_rr_type type)
{
        size_t qlen = 0, alen = 0;
        cleanup_free uint8_t *q = query_wire(name, type, 4242, &qlen);
        cleanup_free uint8_t *a = NULL;
        k8c_error_t err = NULL;
        assert_int_equal(k8c_dns_answer(&CFG, &VIEW, q, qlen, &a, &alen, &err), 0);
        return describe(a, alen, 4242);
}

static void test_cluster_ip_a(void **state)
{
        cleanup_free char *a = ask("web.default.svc.cluster.local.", LDNS_RR_TYPE_A);
        assert_string_equal(a, "NOERROR aa=1\nweb.default.svc.cluster.local.\t5\tIN\tA\t10.96.0.20\n");
        /* Names are case-insensitive; the owner comes back spelled as asked (name compression points at
         * the question), which resolvers using 0x20 case randomisation check. */
        cleanup_free char *b = ask("WEB.Default.SVC.cluster.local.", LDNS_RR_TYPE_A);
        assert_string_equal(b, "NOERROR aa=1\nWEB.Default.SVC.cluster.local.\t5\tIN\tA\t10.96.0.20\n");
        /* The name exists but has no AAAA: NODATA. */
        cleanup_free char *c = ask("web.default.svc.cluster.local.", LDNS_RR_TYPE_AAAA);
        assert_string_equal(c, "NOERROR aa=1\n");
}

static void test_headless_ready_pods_only(void **state)
{
        cleanup_free char *a = ask("db.shop.svc.cluster.local.", LDNS_RR_TYPE_A);
        assert_string_equal(a, "NOERROR aa=1\n"
                               "db.shop.svc.cluster.local.\t5\tIN\tA\t10.244.1.5\n"
                               "db.shop.svc.cluster.local.\t5\tIN\tA\t10.244.2.6\n");
        cleanup_free char *h = ask("db-0.db.shop.svc.cluster.local.", LDNS_RR_TYPE_A);
        assert_string_equal(h, "NOERROR aa=1\ndb-0.db.shop.svc.cluster.local.\t5\tIN\tA\t10.244.1.5\n");
        /* db-2 exists only as a not-ready address. */
        cleanup_free char *nr = ask("db-2.db.shop.svc.cluster.local.", LDNS_RR_TYPE_A);
        assert_string_equal(nr, "NXDOMAIN aa=1\n");
}

static void test_srv_named_ports(void **state)
{
        cleanup_free char *a = ask("_http._tcp.web.default.svc.cluster.local.", LDNS_RR_TYPE_SRV);
        assert_string_equal(a, "NOERROR aa=1\n"
                               "_http._tcp.web.default.svc.cluster.local.\t5\tIN\tSRV\t0 100 80 "
                               "web.default.svc.cluster.local.\n"
                               "+web.default.svc.cluster.local.\t5\tIN\tA\t10.96.0.20\n");
        cleanup_free char *u = ask("_dns._udp.web.default.svc.cluster.local.", LDNS_RR_TYPE_SRV);
        assert_string_equal(u, "NOERROR aa=1\n"
                               "_dns._udp.web.default.svc.cluster.local.\t5\tIN\tSRV\t0 100 53 "
                               "web.default.svc.cluster.local.\n"
                               "+web.default.svc.cluster.local.\t5\tIN\tA\t10.96.0.20\n");
        /* Wrong protocol for the port name. */
        cleanup_free char *w = ask("_http._udp.web.default.svc.cluster.local.", LDNS_RR_TYPE_SRV);
        assert_string_equal(w, "NXDOMAIN aa=1\n");
        /* Headless: one SRV per ready pod, named by hostname or dashed IP. */
        cleanup_free char *h = ask("_pg._tcp.db.shop.svc.cluster.local.", LDNS_RR_TYPE_SRV);
        assert_string_equal(h, "NOERROR aa=1\n"
                               "_pg._tcp.db.shop.svc.cluster.local.\t5\tIN\tSRV\t0 100 5432 "
                               "db-0.db.shop.svc.cluster.local.\n"
                               "_pg._tcp.db.shop.svc.cluster.local.\t5\tIN\tSRV\t0 100 5432 "
                               "10-244-2-6.db.shop.svc.cluster.local.\n"
                               "+db-0.db.shop.svc.cluster.local.\t5\tIN\tA\t10.244.1.5\n"
                               "+10-244-2-6.db.shop.svc.cluster.local.\t5\tIN\tA\t10.244.2.6\n");
}

static void test_ptr_cname_nxdomain_refused(void **state)
{
        cleanup_free char *p = ask("20.0.96.10.in-addr.arpa.", LDNS_RR_TYPE_PTR);
        assert_string_equal(
                p, "NOERROR aa=1\n20.0.96.10.in-addr.arpa.\t5\tIN\tPTR\tweb.default.svc.cluster.local.\n");
        cleanup_free char *np = ask("1.1.168.192.in-addr.arpa.", LDNS_RR_TYPE_PTR);
        assert_string_equal(np, "REFUSED aa=0\n");
        cleanup_free char *c = ask("search.default.svc.cluster.local.", LDNS_RR_TYPE_A);
        assert_string_equal(
                c, "NOERROR aa=1\nsearch.default.svc.cluster.local.\t5\tIN\tCNAME\tsearch.example.com.\n");
        cleanup_free char *n1 = ask("nope.default.svc.cluster.local.", LDNS_RR_TYPE_A);
        assert_string_equal(n1, "NXDOMAIN aa=1\n");
        cleanup_free char *n2 = ask("web.other.svc.cluster.local.", LDNS_RR_TYPE_A);
        assert_string_equal(n2, "NXDOMAIN aa=1\n");
        cleanup_free char *n3 = ask("a.b.c.d.e.f.cluster.local.", LDNS_RR_TYPE_A);
        assert_string_equal(n3, "NXDOMAIN aa=1\n");
        cleanup_free char *r = ask("example.com.", LDNS_RR_TYPE_A);
        assert_string_equal(r, "REFUSED aa=0\n");
        /* A suffix that only looks like the domain. */
        cleanup_free char *r2 = ask("web.default.svc.notcluster.local.", LDNS_RR_TYPE_A);
        assert_string_equal(r2, "REFUSED aa=0\n");
}

static void test_malformed(void **state)
{
        uint8_t *a = NULL;
        size_t alen = 0;
        k8c_error_t err = NULL;
        const uint8_t shortq[5] = { 1, 2, 3, 4, 5 };
        assert_int_equal(k8c_dns_answer(&CFG, &VIEW, shortq, sizeof(shortq), &a, &alen, &err),
                         -K8C_EBADREQUEST);
        assert_string_equal(k8c_error_msg(&err), "DNS message of 5 bytes: shorter than a header");
        k8c_error_release(&err);
        /* A header with no question: FORMERR, same id. */
        const uint8_t noq[12] = { 0x12, 0x34, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
        assert_int_equal(k8c_dns_answer(&CFG, &VIEW, noq, sizeof(noq), &a, &alen, &err), 0);
        assert_int_equal(alen, 12);
        const uint8_t want[12] = { 0x12, 0x34, 0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0 };
        assert_memory_equal(a, want, 12);
        free(a);
        /* A response is never answered. */
        const uint8_t resp[12] = { 0x12, 0x34, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
        assert_int_equal(k8c_dns_answer(&CFG, &VIEW, resp, sizeof(resp), &a, &alen, &err), -K8C_EBADREQUEST);
        k8c_error_release(&err);
}

static void test_server_udp_and_tcp(void **state)
{
        struct k8c_dns_server *s = NULL;
        k8c_error_t err = NULL;
        assert_int_equal(k8c_dns_server_start(&CFG, &VIEW, "127.0.0.1", 0, &s, &err), 0);
        int port = k8c_dns_server_port(s);
        assert_true(port > 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        struct timeval tv = { 5, 0 };

        size_t qlen = 0;
        cleanup_free uint8_t *q = query_wire("web.default.svc.cluster.local.", LDNS_RR_TYPE_A, 7, &qlen);
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        assert_int_equal(sendto(u, q, qlen, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)qlen);
        uint8_t buf[1024];
        ssize_t n = recv(u, buf, sizeof(buf), 0);
        assert_true(n > 0);
        cleanup_free char *ua = describe(buf, (size_t)n, 7);
        assert_string_equal(ua, "NOERROR aa=1\nweb.default.svc.cluster.local.\t5\tIN\tA\t10.96.0.20\n");
        close(u);

        /* TCP: two length-prefixed queries on one connection. */
        int t = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(t, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        assert_int_equal(connect(t, (struct sockaddr *)&sa, sizeof(sa)), 0);
        for (uint16_t id = 100; id < 102; id++) {
                size_t l2 = 0;
                cleanup_free uint8_t *q2 =
                        query_wire("_pg._tcp.db.shop.svc.cluster.local.", LDNS_RR_TYPE_SRV, id, &l2);
                uint8_t hdr[2] = { (uint8_t)(l2 >> 8), (uint8_t)l2 };
                assert_int_equal(send(t, hdr, 2, 0), 2);
                assert_int_equal(send(t, q2, l2, 0), (ssize_t)l2);
                assert_int_equal(recv(t, hdr, 2, MSG_WAITALL), 2);
                size_t rl = (size_t)hdr[0] << 8 | hdr[1];
                assert_true(rl <= sizeof(buf));
                assert_int_equal(recv(t, buf, rl, MSG_WAITALL), (ssize_t)rl);
                cleanup_free char *ta = describe(buf, rl, id);
                assert_string_equal(ta, "NOERROR aa=1\n"
                                        "_pg._tcp.db.shop.svc.cluster.local.\t5\tIN\tSRV\t0 100 5432 "
                                        "db-0.db.shop.svc.cluster.local.\n"
                                        "_pg._tcp.db.shop.svc.cluster.local.\t5\tIN\tSRV\t0 100 5432 "
                                        "10-244-2-6.db.shop.svc.cluster.local.\n"
                                        "+db-0.db.shop.svc.cluster.local.\t5\tIN\tA\t10.244.1.5\n"
                                        "+10-244-2-6.db.shop.svc.cluster.local.\t5\tIN\tA\t10.244.2.6\n");
        }
        close(t);
        k8c_dns_server_stop(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cluster_ip_a),    cmocka_unit_test(test_headless_ready_pods_only),
                cmocka_unit_test(test_srv_named_ports), cmocka_unit_test(test_ptr_cname_nxdomain_refused),
                cmocka_unit_test(test_malformed),       cmocka_unit_test(test_server_udp_and_tcp),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}

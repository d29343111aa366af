/* Unit tests for src/proxy/rules.c: exact iptables-save text for each service shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/proxy.h"

static json_t *parse(const char *s)
{
        json_t *v = NULL;
        k8c_error_t err = NULL;
        assert_int_equal(k8c_json_parse(s, strlen(s), &v, &err), 0);
        return v;
}

static void build(const char *svcs, const char *eps, const char *cidr, struct k8c_proxy_ruleset *rs)
{
        json_t *s = parse(svcs), *e = parse(eps);
        struct k8c_proxy_rules_config cfg = { .cluster_cidr = cidr };
        k8c_error_t err = NULL;
        assert_int_equal(k8c_proxy_rules_build(s, e, &cfg, rs, &err), 0);
        json_decref(s);
        json_decref(e);
}

/* The "-A K8C-..." lines of a table (the rules in chains we own), in save order. */
static char *owned_rules(const struct k8c_ipt_table *t)
{
        cleanup_free char *all = k8c_ipt_table_render(t);
        char *out = k8c_xstrdup("");
        for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
                if (strncmp(line, "-A K8C-", 7) != 0)
                        continue;
                char *n = k8c_xasprintf("%s%s\n", out, line);
                free(out);
                out = n;
        }
        return out;
}

static const char *WEB_SVC =
        "[{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":"
        "\"10.96.0.20\",\"selector\":{\"app\":\"web\"},\"ports\":[{\"name\":\"http\",\"port\":80,"
        "\"protocol\":\"TCP\",\"targetPort\":8080}]}}]";
static const char *WEB_EPS =
        "[{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"subsets\":[{\"addresses\":"
        "[{\"ip\":\"10.244.1.3\"},{\"ip\":\"10.244.1.2\"},{\"ip\":\"10.244.2.2\"}],"
        "\"notReadyAddresses\":[{\"ip\":\"10.244.9.9\"}],\"ports\":[{\"name\":\"http\",\"port\":"
        "8080,\"protocol\":\"TCP\"}]}]}]";

static const char *WEB_NAT =
        "*nat\n"
        ":PREROUTING ACCEPT [0:0]\n"
        ":INPUT ACCEPT [0:0]\n"
        ":OUTPUT ACCEPT [0:0]\n"
        ":POSTROUTING ACCEPT [0:0]\n"
        ":K8C-MARK-MASQ - [0:0]\n"
        ":K8C-NODEPORTS - [0:0]\n"
        ":K8C-POSTROUTING - [0:0]\n"
        ":K8C-SEP-7HQCPNY3DIPLXQRQ - [0:0]\n"
        ":K8C-SEP-F6OVPI3XYTNMM3TB - [0:0]\n"
        ":K8C-SEP-ILNLYU7RE5OGGF6M - [0:0]\n"
        ":K8C-SERVICES - [0:0]\n"
        ":K8C-SVC-HSDF7L354US5N4HK - [0:0]\n"
        "-A PREROUTING -m comment --comment \"k8c service portals\" -j K8C-SERVICES\n"
        "-A OUTPUT -m comment --comment \"k8c service portals\" -j K8C-SERVICES\n"
        "-A POSTROUTING -m comment --comment \"k8c postrouting rules\" -j K8C-POSTROUTING\n"
        "-A K8C-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
        "-A K8C-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
        "-A K8C-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n"
        "-A K8C-POSTROUTING -m comment --comment \"k8c service traffic requiring SNAT\" -j MASQUERADE "
        "--random-fully\n"
        "-A K8C-SEP-7HQCPNY3DIPLXQRQ -s 10.244.1.3/32 -m comment --comment \"default/web:http\" -j "
        "K8C-MARK-MASQ\n"
        "-A K8C-SEP-7HQCPNY3DIPLXQRQ -p tcp -m comment --comment \"default/web:http\" -j DNAT "
        "--to-destination "
        "10.244.1.3:8080\n"
        "-A K8C-SEP-F6OVPI3XYTNMM3TB -s 10.244.2.2/32 -m comment --comment \"default/web:http\" -j "
        "K8C-MARK-MASQ\n"
        "-A K8C-SEP-F6OVPI3XYTNMM3TB -p tcp -m comment --comment \"default/web:http\" -j DNAT "
        "--to-destination "
        "10.244.2.2:8080\n"
        "-A K8C-SEP-ILNLYU7RE5OGGF6M -s 10.244.1.2/32 -m comment --comment \"default/web:http\" -j "
        "K8C-MARK-MASQ\n"
        "-A K8C-SEP-ILNLYU7RE5OGGF6M -p tcp -m comment --comment \"default/web:http\" -j DNAT "
        "--to-destination "
        "10.244.1.2:8080\n"
        "-A K8C-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment \"default/web:http cluster IP\" -m tcp "
        "--dport 80 -j K8C-SVC-HSDF7L354US5N4HK\n"
        "-A K8C-SERVICES -m comment --comment \"k8c service nodeports; NOTE: this must be the last rule in "
        "this "
        "chain\" -m addrtype --dst-type LOCAL -j K8C-NODEPORTS\n"
        "-A K8C-SVC-HSDF7L354US5N4HK ! -s 10.244.0.0/16 -d 10.96.0.20/32 -p tcp -m comment --comment "
        "\"default/web:http cluster IP\" -m tcp --dport 80 -j K8C-MARK-MASQ\n"
        "-A K8C-SVC-HSDF7L354US5N4HK -m comment --comment \"default/web:http -> 10.244.1.2:8080\" -m "
        "statistic "
        "--mode random --probability 0.33333333349 -j K8C-SEP-ILNLYU7RE5OGGF6M\n"
        "-A K8C-SVC-HSDF7L354US5N4HK -m comment --comment \"default/web:http -> 10.244.1.3:8080\" -m "
        "statistic "
        "--mode random --probability 0.50000000000 -j K8C-SEP-7HQCPNY3DIPLXQRQ\n"
        "-A K8C-SVC-HSDF7L354US5N4HK -m comment --comment \"default/web:http -> 10.244.2.2:8080\" -j "
        "K8C-SEP-F6OVPI3XYTNMM3TB\n"
        "COMMIT\n";

static const char *EMPTY_FILTER =
        "*filter\n"
        ":INPUT ACCEPT [0:0]\n"
        ":FORWARD ACCEPT [0:0]\n"
        ":OUTPUT ACCEPT [0:0]\n"
        ":K8C-EXTERNAL-SERVICES - [0:0]\n"
        ":K8C-FORWARD - [0:0]\n"
        ":K8C-SERVICES - [0:0]\n"
        "-A INPUT -m comment --comment \"k8c externally-visible service portals\" -j K8C-EXTERNAL-SERVICES\n"
        "-A FORWARD -m comment --comment \"k8c forwarding rules\" -j K8C-FORWARD\n"
        "-A FORWARD -m comment --comment \"k8c service portals\" -j K8C-SERVICES\n"
        "-A OUTPUT -m comment --comment \"k8c service portals\" -j K8C-SERVICES\n"
        "-A K8C-FORWARD -m comment --comment \"k8c forwarding rules\" -m mark --mark 0x4000/0x4000 -j "
        "ACCEPT\n"
        "COMMIT\n";

static void test_three_endpoints(void **state)
{
        struct k8c_proxy_ruleset rs;
        build(WEB_SVC, WEB_EPS, "10.244.0.0/16", &rs);
        cleanup_free char *nat = k8c_ipt_table_render(&rs.nat);
        cleanup_free char *filter = k8c_ipt_table_render(&rs.filter);
        assert_string_equal(nat, WEB_NAT);
        assert_string_equal(filter, EMPTY_FILTER);
        assert_int_equal(rs.n_service_ports, 1);
        assert_int_equal(rs.n_endpoints, 3); /* the not-ready address is not programmed */
        assert_int_equal(rs.n_rules, 19 + 5);
        k8c_proxy_ruleset_free(&rs);
}

static void test_no_endpoints_rejects(void **state)
{
        struct k8c_proxy_ruleset rs;
        /* Only a not-ready address: no ready endpoint. */
        build(WEB_SVC,
              "[{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"subsets\":[{"
              "\"notReadyAddresses\":"
              "[{\"ip\":\"10.244.1.2\"}],\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]}]"
              "}]",
              NULL, &rs);
        cleanup_free char *nat = owned_rules(&rs.nat);
        cleanup_free char *filter = owned_rules(&rs.filter);
        assert_string_equal(
                nat, "-A K8C-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
                     "-A K8C-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
                     "-A K8C-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n"
                     "-A K8C-POSTROUTING -m comment --comment \"k8c service traffic requiring SNAT\" -j "
                     "MASQUERADE --random-fully\n"
                     "-A K8C-SERVICES -m comment --comment \"k8c service nodeports; NOTE: this must be "
                     "the last rule in this chain\" -m addrtype --dst-type LOCAL -j K8C-NODEPORTS\n");
        assert_string_equal(filter,
                            "-A K8C-FORWARD -m comment --comment \"k8c forwarding rules\" -m mark --mark "
                            "0x4000/0x4000 -j ACCEPT\n"
                            "-A K8C-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment \"default/web:http "
                            "has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with "
                            "tcp-reset\n");
        assert_null(k8c_ipt_table_find(&rs.nat, "K8C-SVC-HSDF7L354US5N4HK"));
        assert_int_equal(rs.n_endpoints, 0);
        assert_int_equal(rs.n_service_ports, 1);
        k8c_proxy_ruleset_free(&rs);
}

static void test_nodeport(void **state)
{
        struct k8c_proxy_ruleset rs;
        build("[{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},\"spec\":{\"type\":\"NodePort\","
              "\"clusterIP\":\"10.96.5.5\",\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\","
              "\"nodePort\":30080},{\"name\":\"metrics\",\"port\":9090,\"protocol\":\"TCP\",\"nodePort\":"
              "30090}]}}]",
              "[{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},\"subsets\":[{\"addresses\":[{\"ip\":"
              "\"10.244.1.7\"}],\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]}]}]",
              NULL, &rs);
        cleanup_free char *nat = owned_rules(&rs.nat);
        cleanup_free char *filter = owned_rules(&rs.filter);
        assert_string_equal(
                nat,
                "-A K8C-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
                "-A K8C-NODEPORTS -p tcp -m comment --comment \"shop/web:http\" -m tcp --dport 30080 -j "
                "K8C-MARK-MASQ\n"
                "-A K8C-NODEPORTS -p tcp -m comment --comment \"shop/web:http\" -m tcp --dport 30080 -j "
                "K8C-SVC-QFCDGNQXXKXBHXC7\n"
                "-A K8C-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
                "-A K8C-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n"
                "-A K8C-POSTROUTING -m comment --comment \"k8c service traffic requiring SNAT\" -j "
                "MASQUERADE "
                "--random-fully\n"
                "-A K8C-SEP-6WM5TFGFXCAV2NMD -s 10.244.1.7/32 -m comment --comment \"shop/web:http\" -j "
                "K8C-MARK-MASQ\n"
                "-A K8C-SEP-6WM5TFGFXCAV2NMD -p tcp -m comment --comment \"shop/web:http\" -j DNAT "
                "--to-destination 10.244.1.7:8080\n"
                "-A K8C-SERVICES -d 10.96.5.5/32 -p tcp -m comment --comment \"shop/web:http cluster IP\" -m "
                "tcp "
                "--dport 80 -j K8C-SVC-QFCDGNQXXKXBHXC7\n"
                "-A K8C-SERVICES -m comment --comment \"k8c service nodeports; NOTE: this must be the last "
                "rule "
                "in this chain\" -m addrtype --dst-type LOCAL -j K8C-NODEPORTS\n"
                "-A K8C-SVC-QFCDGNQXXKXBHXC7 -m comment --comment \"shop/web:http -> 10.244.1.7:8080\" -j "
                "K8C-SEP-6WM5TFGFXCAV2NMD\n");
        /* The metrics port has no endpoint: rejected on its ClusterIP and on every local address. */
        assert_string_equal(
                filter,
                "-A K8C-EXTERNAL-SERVICES -p tcp -m comment --comment \"shop/web:metrics has no "
                "endpoints\" -m addrtype --dst-type LOCAL -m tcp --dport 30090 -j REJECT --reject-with "
                "tcp-reset\n"
                "-A K8C-FORWARD -m comment --comment \"k8c forwarding rules\" -m mark --mark "
                "0x4000/0x4000 -j ACCEPT\n"
                "-A K8C-SERVICES -d 10.96.5.5/32 -p tcp -m comment --comment \"shop/web:metrics has "
                "no endpoints\" -m tcp --dport 9090 -j REJECT --reject-with tcp-reset\n");
        assert_int_equal(rs.n_service_ports, 2);
        k8c_proxy_ruleset_free(&rs);
}

static void test_nodeport_addresses(void **state)
{
        json_t *s = parse("[]"), *e = parse("[]");
        const char *const addrs[] = { "192.168.1.10", "10.0.0.5", NULL };
        struct k8c_proxy_rules_config cfg = { .nodeport_addresses = addrs, .masq_mark = 0x8000 };
        struct k8c_proxy_ruleset rs;
        k8c_error_t err = NULL;
        assert_int_equal(k8c_proxy_rules_build(s, e, &cfg, &rs, &err), 0);
        const struct k8c_ipt_chain *c = k8c_ipt_table_find(&rs.nat, "K8C-SERVICES");
        assert_non_null(c);
        assert_int_equal(c->n_rules, 2);
        cleanup_free char *r0 = k8c_ipt_rule_render(c->name, &c->rules[0]);
        cleanup_free char *r1 = k8c_ipt_rule_render(c->name, &c->rules[1]);
        assert_string_equal(
                r0, "-A K8C-SERVICES -d 192.168.1.10/32 -m comment --comment \"k8c service nodeports; "
                    "NOTE: this must be the last rule in this chain\" -j K8C-NODEPORTS");
        assert_string_equal(r1,
                            "-A K8C-SERVICES -d 10.0.0.5/32 -m comment --comment \"k8c service nodeports; "
                            "NOTE: this must be the last rule in this chain\" -j K8C-NODEPORTS");
        c = k8c_ipt_table_find(&rs.nat, "K8C-MARK-MASQ");
        cleanup_free char *m = k8c_ipt_rule_render(c->name, &c->rules[0]);
        assert_string_equal(m, "-A K8C-MARK-MASQ -j MARK --set-xmark 0x8000/0x8000");
        k8c_proxy_ruleset_free(&rs);

        const char *const bad[] = { "fe80::1", NULL };
        cfg.nodeport_addresses = bad;
        assert_int_equal(k8c_proxy_rules_build(s, e, &cfg, &rs, &err), -K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err), "nodeport address fe80::1: not an IPv4 address");
        k8c_error_release(&err);
        cfg.nodeport_addresses = NULL;
        cfg.cluster_cidr = "10.244.0.0";
        assert_int_equal(k8c_proxy_rules_build(s, e, &cfg, &rs, &err), -K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err), "cluster CIDR 10.244.0.0: missing /prefix");
        k8c_error_release(&err);
        json_decref(s);
        json_decref(e);
}

static void test_client_ip_affinity(void **state)
{
        struct k8c_proxy_ruleset rs;
        build("[{\"metadata\":{\"name\":\"db\",\"namespace\":\"shop\"},\"spec\":{\"sessionAffinity\":"
              "\"ClientIP\","
              "\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":600}},\"clusterIP\":\"10.96.7.7\","
              "\"ports\":[{\"port\":5432,\"protocol\":\"TCP\"}]}}]",
              "[{\"metadata\":{\"name\":\"db\",\"namespace\":\"shop\"},\"subsets\":[{\"addresses\":[{\"ip\":"
              "\"10.244.2.9\"},{\"ip\":\"10.244.1.9\"}],\"ports\":[{\"port\":5432,\"protocol\":\"TCP\"}]}]}]",
              NULL, &rs);
        cleanup_free char *nat = owned_rules(&rs.nat);
        assert_string_equal(
                nat,
                "-A K8C-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
                "-A K8C-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
                "-A K8C-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n"
                "-A K8C-POSTROUTING -m comment --comment \"k8c service traffic requiring SNAT\" -j "
                "MASQUERADE "
                "--random-fully\n"
                "-A K8C-SEP-6UE2UWKESMXAGFXT -s 10.244.1.9/32 -m comment --comment \"shop/db\" -j "
                "K8C-MARK-MASQ\n"
                "-A K8C-SEP-6UE2UWKESMXAGFXT -p tcp -m comment --comment \"shop/db\" -m recent --set --name "
                "K8C-SEP-6UE2UWKESMXAGFXT --mask 255.255.255.255 --rsource -j DNAT --to-destination "
                "10.244.1.9:5432\n"
                "-A K8C-SEP-TNVBIEW4JP7XYLYU -s 10.244.2.9/32 -m comment --comment \"shop/db\" -j "
                "K8C-MARK-MASQ\n"
                "-A K8C-SEP-TNVBIEW4JP7XYLYU -p tcp -m comment --comment \"shop/db\" -m recent --set --name "
                "K8C-SEP-TNVBIEW4JP7XYLYU --mask 255.255.255.255 --rsource -j DNAT --to-destination "
                "10.244.2.9:5432\n"
                "-A K8C-SERVICES -d 10.96.7.7/32 -p tcp -m comment --comment \"shop/db cluster IP\" -m tcp "
                "--dport "
                "5432 -j K8C-SVC-EFH3M4LUYMUDXN4O\n"
                "-A K8C-SERVICES -m comment --comment \"k8c service nodeports; NOTE: this must be the last "
                "rule "
                "in this chain\" -m addrtype --dst-type LOCAL -j K8C-NODEPORTS\n"
                "-A K8C-SVC-EFH3M4LUYMUDXN4O -m comment --comment \"shop/db\" -m recent --rcheck --seconds "
                "600 "
                "--reap --name K8C-SEP-6UE2UWKESMXAGFXT --mask 255.255.255.255 --rsource -j "
                "K8C-SEP-6UE2UWKESMXAGFXT\n"
                "-A K8C-SVC-EFH3M4LUYMUDXN4O -m comment --comment \"shop/db\" -m recent --rcheck --seconds "
                "600 "
                "--reap --name K8C-SEP-TNVBIEW4JP7XYLYU --mask 255.255.255.255 --rsource -j "
                "K8C-SEP-TNVBIEW4JP7XYLYU\n"
                "-A K8C-SVC-EFH3M4LUYMUDXN4O -m comment --comment \"shop/db -> 10.244.1.9:5432\" -m "
                "statistic "
                "--mode random --probability 0.50000000000 -j K8C-SEP-6UE2UWKESMXAGFXT\n"
                "-A K8C-SVC-EFH3M4LUYMUDXN4O -m comment --comment \"shop/db -> 10.244.2.9:5432\" -j "
                "K8C-SEP-TNVBIEW4JP7XYLYU\n");
        k8c_proxy_ruleset_free(&rs);
}

/* A service without a selector and hand-written Endpoints (an external database, say): a UDP port
 * with an endpoint, a TCP port whose name appears in no subset. */
static void test_selectorless_manual_endpoints(void **state)
{
        struct k8c_proxy_ruleset rs;
        build("[{\"metadata\":{\"name\":\"ext\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":\"10.96.9."
              "9\","
              "\"ports\":[{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\"},{\"name\":\"api\",\"port\":443,"
              "\"protocol\":\"TCP\"}]}},"
              "{\"metadata\":{\"name\":\"gone\",\"namespace\":\"default\"},\"spec\":{\"type\":"
              "\"ExternalName\","
              "\"externalName\":\"example.com\"}},"
              "{\"metadata\":{\"name\":\"headless\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":"
              "\"None\","
              "\"ports\":[{\"port\":80}]}}]",
              "[{\"metadata\":{\"name\":\"ext\",\"namespace\":\"default\"},\"subsets\":[{\"addresses\":[{"
              "\"ip\":"
              "\"192.168.10.1\"}],\"ports\":[{\"name\":\"dns\",\"port\":5353,\"protocol\":\"UDP\"}]}]},"
              "{\"metadata\":{\"name\":\"headless\",\"namespace\":\"default\"},\"subsets\":[{\"addresses\":[{"
              "\"ip\":"
              "\"10.244.3.3\"}],\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}]}]}]",
              "10.244.0.0/16", &rs);
        const struct k8c_ipt_chain *svc = k8c_ipt_table_find(&rs.nat, "K8C-SVC-LESCOVSC72T2DUL2");
        assert_non_null(svc);
        assert_int_equal(svc->n_rules, 2);
        cleanup_free char *r0 = k8c_ipt_rule_render(svc->name, &svc->rules[0]);
        cleanup_free char *r1 = k8c_ipt_rule_render(svc->name, &svc->rules[1]);
        assert_string_equal(
                r0, "-A K8C-SVC-LESCOVSC72T2DUL2 ! -s 10.244.0.0/16 -d 10.96.9.9/32 -p udp -m comment "
                    "--comment \"default/ext:dns cluster IP\" -m udp --dport 53 -j K8C-MARK-MASQ");
        assert_string_equal(r1, "-A K8C-SVC-LESCOVSC72T2DUL2 -m comment --comment \"default/ext:dns -> "
                                "192.168.10.1:5353\" -j K8C-SEP-YI2GCRML5YK6JOIQ");
        const struct k8c_ipt_chain *sep = k8c_ipt_table_find(&rs.nat, "K8C-SEP-YI2GCRML5YK6JOIQ");
        cleanup_free char *d = k8c_ipt_rule_render(sep->name, &sep->rules[1]);
        assert_string_equal(
                d, "-A K8C-SEP-YI2GCRML5YK6JOIQ -p udp -m comment --comment \"default/ext:dns\" -j DNAT "
                   "--to-destination 192.168.10.1:5353");
        const struct k8c_ipt_chain *rej = k8c_ipt_table_find(&rs.filter, "K8C-SERVICES");
        assert_int_equal(rej->n_rules, 1);
        cleanup_free char *rj = k8c_ipt_rule_render(rej->name, &rej->rules[0]);
        assert_string_equal(
                rj, "-A K8C-SERVICES -d 10.96.9.9/32 -p tcp -m comment --comment \"default/ext:api has "
                    "no endpoints\" -m tcp --dport 443 -j REJECT --reject-with tcp-reset");
        /* ExternalName and headless services program nothing. */
        assert_int_equal(rs.n_service_ports, 2);
        assert_int_equal(rs.n_endpoints, 1);
        /* PREROUTING, OUTPUT, POSTROUTING with our jumps; 4 fixed chains; one SVC, one SEP. */
        assert_int_equal(rs.nat.n_chains, 3 + 4 + 2);
        k8c_proxy_ruleset_free(&rs);
}

static void test_determinism(void **state)
{
        /* The same objects in a different order, built twice: identical text, known names. */
        const char *svcs_a =
                "[{\"metadata\":{\"name\":\"a\",\"namespace\":\"x\"},\"spec\":{\"clusterIP\":"
                "\"10.96.0.1\",\"ports\":[{\"port\":80}]}},{\"metadata\":{\"name\":\"b\",\"namespace\":"
                "\"x\"},\"spec\":{\"clusterIP\":\"10.96.0.2\",\"ports\":[{\"port\":80}]}}]";
        const char *svcs_b =
                "[{\"metadata\":{\"name\":\"b\",\"namespace\":\"x\"},\"spec\":{\"clusterIP\":"
                "\"10.96.0.2\",\"ports\":[{\"port\":80}]}},{\"metadata\":{\"name\":\"a\",\"namespace\":"
                "\"x\"},\"spec\":{\"clusterIP\":\"10.96.0.1\",\"ports\":[{\"port\":80}]}}]";
        const char *eps_a =
                "[{\"metadata\":{\"name\":\"a\",\"namespace\":\"x\"},\"subsets\":[{\"addresses\":[{"
                "\"ip\":\"10.244.0.2\"},{\"ip\":\"10.244.0.1\"}],\"ports\":[{\"port\":80}]}]},{"
                "\"metadata\":{\"name\":\"b\",\"namespace\":\"x\"},\"subsets\":[{\"addresses\":[{\"ip\":"
                "\"10.244.0.3\"}],\"ports\":[{\"port\":80}]}]}]";
        const char *eps_b =
                "[{\"metadata\":{\"name\":\"b\",\"namespace\":\"x\"},\"subsets\":[{\"addresses\":[{"
                "\"ip\":\"10.244.0.3\"}],\"ports\":[{\"port\":80}]}]},{\"metadata\":{\"name\":\"a\","
                "\"namespace\":\"x\"},\"subsets\":[{\"addresses\":[{\"ip\":\"10.244.0.1\"}],\"ports\":[{"
                "\"port\":80}]},{\"addresses\":[{\"ip\":\"10.244.0.2\"}],\"ports\":[{\"port\":80}]}]}]";
        struct k8c_proxy_ruleset r1, r2;
        build(svcs_a, eps_a, "10.244.0.0/16", &r1);
        build(svcs_b, eps_b, "10.244.0.0/16", &r2);
        cleanup_free char *n1 = k8c_ipt_table_render(&r1.nat);
        cleanup_free char *n2 = k8c_ipt_table_render(&r2.nat);
        cleanup_free char *f1 = k8c_ipt_table_render(&r1.filter);
        cleanup_free char *f2 = k8c_ipt_table_render(&r2.filter);
        assert_string_equal(n1, n2);
        assert_string_equal(f1, f2);
        assert_int_equal(r1.n_endpoints, 3);
        k8c_proxy_ruleset_free(&r1);
        k8c_proxy_ruleset_free(&r2);

        /* base32(sha256("default/web:http:tcp"))[:16], as computed independently by Python's hashlib. */
        char name[29];
        k8c_proxy_chain_name("K8C-SVC-", "default/web:http:tcp", name);
        assert_string_equal(name, "K8C-SVC-HSDF7L354US5N4HK");
}

/* Enough services that the chain array grows many times while SVC/SEP chains are filled (a pointer
 * kept across a growth would lose rules): every count is exact. */
static void test_many_services_counts(void **state)
{
        json_t *svcs = json_array(), *eps = json_array();
        for (int i = 0; i < 200; i++) {
                char name[16], ip[16];
                snprintf(name, sizeof(name), "s%03d", i);
                snprintf(ip, sizeof(ip), "10.96.1.%d", i + 1);
                json_array_append_new(svcs, json_pack("{s:{s:s,s:s},s:{s:s,s:[{s:i}]}}", "metadata", "name",
                                                      name, "namespace", "n", "spec", "clusterIP", ip,
                                                      "ports", "port", 80));
                json_array_append_new(eps, json_pack("{s:{s:s,s:s},s:[{s:[{s:s},{s:s},{s:s}],s:[{s:i}]}]}",
                                                     "metadata", "name", name, "namespace", "n", "subsets",
                                                     "addresses", "ip", "10.244.0.1", "ip", "10.244.0.2",
                                                     "ip", "10.244.0.3", "ports", "port", 8080));
        }
        struct k8c_proxy_rules_config cfg = { .cluster_cidr = "10.244.0.0/16" };
        struct k8c_proxy_ruleset rs;
        k8c_error_t err = NULL;
        assert_int_equal(k8c_proxy_rules_build(svcs, eps, &cfg, &rs, &err), 0);
        assert_int_equal(rs.n_service_ports, 200);
        assert_int_equal(rs.n_endpoints, 600);
        /* Per service: 1 in K8C-SERVICES, 4 in its SVC chain, 2 in each of 3 SEP chains = 11; fixed: nat 8,
         * filter 5. */
        assert_int_equal(rs.n_rules, 200 * 11 + 8 + 5);
        assert_int_equal(rs.nat.n_chains, 3 + 4 + 200 + 600);
        size_t svc_chains = 0, sep_chains = 0;
        for (size_t i = 0; i < rs.nat.n_chains; i++) {
                const struct k8c_ipt_chain *c = &rs.nat.chains[i];
                if (strncmp(c->name, "K8C-SVC-", 8) == 0) {
                        assert_int_equal(c->n_rules, 4);
                        svc_chains++;
                } else if (strncmp(c->name, "K8C-SEP-", 8) == 0) {
                        assert_int_equal(c->n_rules, 2);
                        sep_chains++;
                }
                /* Every chain can be found (the table is sorted for lookups). */
                assert_ptr_equal(k8c_ipt_table_find(&rs.nat, c->name), c);
        }
        assert_int_equal(svc_chains, 200);
        assert_int_equal(sep_chains, 600);
        assert_int_equal(k8c_ipt_table_find(&rs.nat, "K8C-SERVICES")->n_rules, 201);
        assert_null(k8c_ipt_table_find(&rs.nat, "K8C-NOPE"));
        k8c_proxy_ruleset_free(&rs);
        json_decref(svcs);
        json_decref(eps);
}

/* spec.externalIPs: SNAT mark and the SVC jump per address; without endpoints, a REJECT per address. */
static void test_external_ips(void **state)
{
        const char *svc =
                "[{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":"
                "\"10.96.0.20\",\"externalIPs\":[\"192.0.2.10\",\"not-an-ip\"],\"ports\":[{\"name\":"
                "\"http\",\"port\":80}]}}]";
        struct k8c_proxy_ruleset rs;
        build(svc, WEB_EPS, NULL, &rs);
        const struct k8c_ipt_chain *c = k8c_ipt_table_find(&rs.nat, "K8C-SERVICES");
        assert_int_equal(c->n_rules, 4);
        cleanup_free char *r1 = k8c_ipt_rule_render(c->name, &c->rules[1]);
        cleanup_free char *r2 = k8c_ipt_rule_render(c->name, &c->rules[2]);
        assert_string_equal(r1,
                            "-A K8C-SERVICES -d 192.0.2.10/32 -p tcp -m comment --comment \"default/web:http "
                            "external IP\" -m tcp --dport 80 -j K8C-MARK-MASQ");
        assert_string_equal(r2,
                            "-A K8C-SERVICES -d 192.0.2.10/32 -p tcp -m comment --comment \"default/web:http "
                            "external IP\" -m tcp --dport 80 -j K8C-SVC-HSDF7L354US5N4HK");
        k8c_proxy_ruleset_free(&rs);

        build(svc, "[]", NULL, &rs);
        c = k8c_ipt_table_find(&rs.filter, "K8C-EXTERNAL-SERVICES");
        assert_int_equal(c->n_rules, 1);
        cleanup_free char *rj = k8c_ipt_rule_render(c->name, &c->rules[0]);
        assert_string_equal(rj,
                            "-A K8C-EXTERNAL-SERVICES -d 192.0.2.10/32 -p tcp -m comment --comment "
                            "\"default/web:http has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with "
                            "tcp-reset");
        k8c_proxy_ruleset_free(&rs);
}

/* type LoadBalancer: status.loadBalancer.ingress IPs jump to a K8C-EXT chain (masquerade, then the
 * service chain); with no endpoints they are rejected in filter K8C-SERVICES. */
static void test_load_balancer_ingress(void **state)
{
        const char *svc =
                "[{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"type\":"
                "\"LoadBalancer\",\"clusterIP\":\"10.96.0.20\",\"ports\":[{\"name\":\"http\",\"port\":80,"
                "\"nodePort\":30080}]},\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"10.250.1.200\"},"
                "{\"hostname\":\"lb.example\"}]}}}]";
        struct k8c_proxy_ruleset rs;
        build(svc, WEB_EPS, NULL, &rs);
        cleanup_free char *all = owned_rules(&rs.nat);
        assert_non_null(strstr(all, "-A K8C-SERVICES -d 10.250.1.200/32 -p tcp -m comment --comment "
                                    "\"default/web:http loadbalancer IP\" -m tcp --dport 80 -j K8C-EXT-"));
        const struct k8c_ipt_chain *s = k8c_ipt_table_find(&rs.nat, "K8C-SERVICES");
        const struct k8c_ipt_chain *ext = NULL;
        for (size_t i = 0; i < s->n_rules; i++)
                if (s->rules[i].has_dst && s->rules[i].dst == 0x0afa01c8u)
                        ext = k8c_ipt_table_find(&rs.nat, s->rules[i].jump);
        assert_non_null(ext);
        assert_int_equal(strncmp(ext->name, "K8C-EXT-", 8), 0);
        assert_int_equal(ext->n_rules, 2);
        assert_string_equal(ext->rules[0].jump, "K8C-MARK-MASQ");
        assert_string_equal(ext->rules[1].jump, "K8C-SVC-HSDF7L354US5N4HK");
        k8c_proxy_ruleset_free(&rs);

        /* Not a LoadBalancer (any more): a stale ingress is not routed. */
        cleanup_free char *cip_only = k8c_xstrdup(svc);
        memcpy(strstr(cip_only, "LoadBalancer"), "ClusterIPxxx", 12);
        build(cip_only, WEB_EPS, NULL, &rs);
        cleanup_free char *none = owned_rules(&rs.nat);
        assert_null(strstr(none, "10.250.1.200"));
        k8c_proxy_ruleset_free(&rs);

        build(svc, "[]", NULL, &rs);
        cleanup_free char *rej = owned_rules(&rs.filter);
        assert_non_null(strstr(rej, "-A K8C-SERVICES -d 10.250.1.200/32 -p tcp -m comment --comment "
                                    "\"default/web:http has no endpoints\" -m tcp --dport 80 -j REJECT "
                                    "--reject-with tcp-reset"));
        k8c_proxy_ruleset_free(&rs);
}

/* Past large_cluster_endpoints, endpoint rules carry no comment (kube-proxy's large-cluster mode);
 * the ClusterIP rule keeps its comment. */
static void test_large_cluster_omits_endpoint_comments(void **state)
{
        json_t *s = parse(WEB_SVC), *e = parse(WEB_EPS);
        struct k8c_proxy_rules_config cfg = { .large_cluster_endpoints = 2 };
        k8c_error_t err = NULL;
        struct k8c_proxy_ruleset rs;
        assert_int_equal(k8c_proxy_rules_build(s, e, &cfg, &rs, &err), 0);
        cleanup_free char *all = owned_rules(&rs.nat);
        assert_non_null(strstr(all, "-A K8C-SEP-7HQCPNY3DIPLXQRQ -s 10.244.1.3/32 -j K8C-MARK-MASQ\n"));
        assert_non_null(
                strstr(all, "-A K8C-SEP-7HQCPNY3DIPLXQRQ -p tcp -j DNAT --to-destination 10.244.1.3:8080\n"));
        assert_non_null(strstr(all, "-A K8C-SVC-HSDF7L354US5N4HK -j K8C-SEP-F6OVPI3XYTNMM3TB\n"));
        assert_non_null(strstr(all, "--comment \"default/web:http cluster IP\""));
        assert_null(strstr(all, "->"));
        k8c_proxy_ruleset_free(&rs);
        /* At the threshold (3 endpoints, threshold 3): comments stay. */
        cfg.large_cluster_endpoints = 3;
        assert_int_equal(k8c_proxy_rules_build(s, e, &cfg, &rs, &err), 0);
        cleanup_free char *small = owned_rules(&rs.nat);
        assert_non_null(strstr(small, "\"default/web:http -> 10.244.1.3:8080\""));
        k8c_proxy_ruleset_free(&rs);
        json_decref(s);
        json_decref(e);
}

/* externalTrafficPolicy: Local: NodePort traffic goes to this node's endpoints only, unmasqueraded. */
static void test_external_traffic_policy_local(void **state)
{
        json_t *svcs = parse("[{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"type\":"
                             "\"NodePort\",\"externalTrafficPolicy\":\"Local\",\"clusterIP\":\"10.96.0.20\","
                             "\"ports\":[{\"name\":\"http\",\"port\":80,\"nodePort\":30080}]}}]");
        json_t *eps = parse("[{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"subsets\":[{"
                            "\"addresses\":[{\"ip\":\"10.244.1.3\",\"nodeName\":\"node-1\"},{\"ip\":"
                            "\"10.244.2.2\",\"nodeName\":\"node-2\"},{\"ip\":\"10.244.1.2\",\"nodeName\":"
                            "\"node-1\"}],\"ports\":[{\"name\":\"http\",\"port\":8080}]}]}]");
        struct k8c_proxy_rules_config cfg = { .cluster_cidr = "10.244.0.0/16", .node_name = "node-1" };
        struct k8c_proxy_ruleset rs;
        k8c_error_t err = NULL;
        assert_int_equal(k8c_proxy_rules_build(svcs, eps, &cfg, &rs, &err), 0);
        const struct k8c_ipt_chain *np = k8c_ipt_table_find(&rs.nat, "K8C-NODEPORTS");
        assert_int_equal(np->n_rules, 1);
        cleanup_free char *n0 = k8c_ipt_rule_render(np->name, &np->rules[0]);
        assert_string_equal(
                n0, "-A K8C-NODEPORTS -p tcp -m comment --comment \"default/web:http\" -m tcp --dport "
                    "30080 -j K8C-XLB-HSDF7L354US5N4HK");
        const struct k8c_ipt_chain *x = k8c_ipt_table_find(&rs.nat, "K8C-XLB-HSDF7L354US5N4HK");
        assert_int_equal(x->n_rules, 3);
        cleanup_free char *x0 = k8c_ipt_rule_render(x->name, &x->rules[0]);
        cleanup_free char *x1 = k8c_ipt_rule_render(x->name, &x->rules[1]);
        cleanup_free char *x2 = k8c_ipt_rule_render(x->name, &x->rules[2]);
        assert_string_equal(
                x0, "-A K8C-XLB-HSDF7L354US5N4HK -s 10.244.0.0/16 -m comment --comment \"Redirect pods "
                    "trying to reach external loadbalancer VIP to clusterIP\" -j K8C-SVC-HSDF7L354US5N4HK");
        assert_string_equal(x1,
                            "-A K8C-XLB-HSDF7L354US5N4HK -m comment --comment \"Balancing rule 0 for "
                            "default/web:http\" -m statistic --mode random --probability 0.50000000000 -j "
                            "K8C-SEP-ILNLYU7RE5OGGF6M");
        assert_string_equal(x2, "-A K8C-XLB-HSDF7L354US5N4HK -m comment --comment \"Balancing rule 1 for "
                                "default/web:http\" -j K8C-SEP-7HQCPNY3DIPLXQRQ");
        /* The ClusterIP still balances over all three. */
        assert_int_equal(k8c_ipt_table_find(&rs.nat, "K8C-SVC-HSDF7L354US5N4HK")->n_rules, 4);
        k8c_proxy_ruleset_free(&rs);

        /* On a node without endpoints of its own: dropped. */
        cfg.node_name = "node-3";
        assert_int_equal(k8c_proxy_rules_build(svcs, eps, &cfg, &rs, &err), 0);
        x = k8c_ipt_table_find(&rs.nat, "K8C-XLB-HSDF7L354US5N4HK");
        assert_int_equal(x->n_rules, 2);
        cleanup_free char *d = k8c_ipt_rule_render(x->name, &x->rules[1]);
        assert_string_equal(
                d, "-A K8C-XLB-HSDF7L354US5N4HK -m comment --comment \"default/web:http has no local "
                   "endpoints\" -j DROP");
        k8c_proxy_ruleset_free(&rs);
        json_decref(svcs);
        json_decref(eps);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_three_endpoints),
                cmocka_unit_test(test_no_endpoints_rejects),
                cmocka_unit_test(test_nodeport),
                cmocka_unit_test(test_nodeport_addresses),
                cmocka_unit_test(test_client_ip_affinity),
                cmocka_unit_test(test_selectorless_manual_endpoints),
                cmocka_unit_test(test_determinism),
                cmocka_unit_test(test_many_services_counts),
                cmocka_unit_test(test_external_ips),
                cmocka_unit_test(test_load_balancer_ingress),
                cmocka_unit_test(test_large_cluster_omits_endpoint_comments),
                cmocka_unit_test(test_external_traffic_policy_local),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

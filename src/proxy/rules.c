/*
 * rules.c - Services + ready Endpoints → the desired nat and filter tables as
 * data, and their iptables-save text.
 *
 * Pure: no kernel, no I/O, no clock, no randomness; the same inputs give the
 * same tables byte for byte (chain names are hashes, endpoints are sorted).
 * Must not know how rules are applied (iptc.c does that). The layout follows
 * kube-proxy's iptables proxier, with K8C- instead of KUBE- chains.
 */
#include "k8c/proxy.h"

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/strmap.h"

#define SERVICES "K8C-SERVICES"
#define EXTERNAL "K8C-EXTERNAL-SERVICES"
#define NODEPORTS "K8C-NODEPORTS"
#define MARK_MASQ "K8C-MARK-MASQ"
#define POSTROUTING "K8C-POSTROUTING"
#define FORWARD "K8C-FORWARD"

/* ---- names ---- */

void k8c_proxy_chain_name(const char *prefix, const char *key, char ret_name[29])
{
        static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        uint8_t digest[32];
        gnutls_hash_fast(GNUTLS_DIG_SHA256, key, strlen(key), digest);
        /* 16 base32 characters are exactly the first 10 bytes (80 bits), as kube-proxy uses. */
        char enc[17];
        for (int i = 0; i < 16; i++) {
                int bit = i * 5, byte = bit / 8, off = bit % 8;
                unsigned v = ((unsigned)digest[byte] << 8 | digest[byte + 1]) >> (11 - off);
                enc[i] = b32[v & 31];
        }
        enc[16] = '\0';
        snprintf(ret_name, 29, "%s%s", prefix, enc);
}

/* ---- table building ---- */

/* Chain lookup while building: name → index + 1, one map per table (tables hold tens of thousands). */
struct chain_index {
        struct k8c_ipt_table *t;
        struct k8c_strmap map;
};

static struct k8c_ipt_chain *table_chain(struct chain_index *ix, const char *name, bool builtin)
{
        struct k8c_ipt_table *t = ix->t;
        void *v = NULL;
        if (k8c_strmap_get(&ix->map, name, &v))
                return &t->chains[(intptr_t)v - 1];
        if (t->n_chains == t->cap_chains) {
                t->cap_chains = t->cap_chains ? t->cap_chains * 2 : 16;
                t->chains = k8c_xrealloc(t->chains, t->cap_chains * sizeof(*t->chains));
        }
        struct k8c_ipt_chain *c = &t->chains[t->n_chains++];
        *c = (struct k8c_ipt_chain){ .name = k8c_xstrdup(name), .builtin = builtin };
        k8c_strmap_put(&ix->map, name, (void *)(intptr_t)t->n_chains, NULL);
        return c;
}

/* Appends a copy of r (its strings are duplicated) to chain c. */
static void chain_add(struct k8c_ipt_chain *c, const struct k8c_ipt_rule *r)
{
        if (c->n_rules == c->cap_rules) {
                c->cap_rules = c->cap_rules ? c->cap_rules * 2 : 4;
                c->rules = k8c_xrealloc(c->rules, c->cap_rules * sizeof(*c->rules));
        }
        struct k8c_ipt_rule *n = &c->rules[c->n_rules++];
        *n = *r;
        n->comment = r->comment ? k8c_xstrdup(r->comment) : NULL;
        n->recent_name = r->recent_name ? k8c_xstrdup(r->recent_name) : NULL;
        n->jump = r->jump ? k8c_xstrdup(r->jump) : NULL;
}

static void table_free(struct k8c_ipt_table *t)
{
        for (size_t i = 0; i < t->n_chains; i++) {
                struct k8c_ipt_chain *c = &t->chains[i];
                for (size_t j = 0; j < c->n_rules; j++) {
                        free(c->rules[j].comment);
                        free(c->rules[j].recent_name);
                        free(c->rules[j].jump);
                }
                free(c->rules);
                free(c->name);
        }
        free(t->chains);
        free(t->name);
        *t = (struct k8c_ipt_table){ 0 };
}

void k8c_proxy_ruleset_free(struct k8c_proxy_ruleset *rs)
{
        if (rs == NULL)
                return;
        table_free(&rs->nat);
        table_free(&rs->filter);
}

static const char *const nat_builtins[] = { "PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", NULL };
static const char *const filter_builtins[] = { "INPUT", "FORWARD", "OUTPUT", NULL };

static int builtin_rank(const char *table, const char *name)
{
        const char *const *b = strcmp(table, "nat") == 0 ? nat_builtins : filter_builtins;
        for (int i = 0; b[i]; i++)
                if (strcmp(b[i], name) == 0)
                        return i;
        return -1;
}

static const char *sort_table_name;
static int chain_cmp(const void *a, const void *b)
{
        const struct k8c_ipt_chain *x = a, *y = b;
        /* builtin is set exactly for the names builtin_rank knows (table_chain's callers). */
        if (x->builtin || y->builtin) {
                if (!x->builtin)
                        return 1;
                if (!y->builtin)
                        return -1;
                return builtin_rank(sort_table_name, x->name) - builtin_rank(sort_table_name, y->name);
        }
        return strcmp(x->name, y->name);
}

/* libiptc (and so iptables-save) lists built-ins in hook order, then user chains by name. */
static void table_sort(struct k8c_ipt_table *t)
{
        sort_table_name = t->name;
        qsort(t->chains, t->n_chains, sizeof(*t->chains), chain_cmp);
}

static int name_cmp(const void *key, const void *elem)
{
        return strcmp(key, ((const struct k8c_ipt_chain *)elem)->name);
}

const struct k8c_ipt_chain *k8c_ipt_table_find(const struct k8c_ipt_table *t, const char *name)
{
        /* Sorted as table_sort leaves it: a few built-ins, then the rest by name. */
        size_t nb = 0;
        while (nb < t->n_chains && t->chains[nb].builtin) {
                if (strcmp(t->chains[nb].name, name) == 0)
                        return &t->chains[nb];
                nb++;
        }
        return bsearch(name, t->chains + nb, t->n_chains - nb, sizeof(*t->chains), name_cmp);
}

static bool str_same(const char *a, const char *b)
{
        return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool rule_same(const struct k8c_ipt_rule *a, const struct k8c_ipt_rule *b)
{
        return a->has_src == b->has_src && a->src_inv == b->src_inv && a->src == b->src &&
               a->src_len == b->src_len && a->has_dst == b->has_dst && a->dst_inv == b->dst_inv &&
               a->dst == b->dst && a->dst_len == b->dst_len && a->proto == b->proto && a->dport == b->dport &&
               str_same(a->comment, b->comment) && a->dst_local == b->dst_local &&
               a->has_mark == b->has_mark && a->mark_inv == b->mark_inv && a->mark == b->mark &&
               a->probability == b->probability && str_same(a->recent_name, b->recent_name) &&
               a->recent_set == b->recent_set && a->recent_seconds == b->recent_seconds &&
               a->target == b->target && str_same(a->jump, b->jump) && a->to_ip == b->to_ip &&
               a->to_port == b->to_port && a->mark_set == b->mark_set && a->mark_mask == b->mark_mask &&
               a->random_fully == b->random_fully;
}

bool k8c_ipt_chain_same(const struct k8c_ipt_chain *a, const struct k8c_ipt_chain *b)
{
        if (strcmp(a->name, b->name) != 0 || a->builtin != b->builtin || a->n_rules != b->n_rules)
                return false;
        for (size_t i = 0; i < a->n_rules; i++)
                if (!rule_same(&a->rules[i], &b->rules[i]))
                        return false;
        return true;
}

/* ---- inputs ---- */

static bool parse_ip(const char *s, uint32_t *ret)
{
        struct in_addr a;
        if (s == NULL || inet_pton(AF_INET, s, &a) != 1)
                return false;
        *ret = ntohl(a.s_addr);
        return true;
}

static int parse_cidr(const char *s, uint32_t *ret_ip, uint8_t *ret_len, k8c_error_t *err)
{
        const char *slash = strchr(s, '/');
        if (slash == NULL)
                return k8c_make_error(err, K8C_EINVALID, "cluster CIDR %s: missing /prefix", s);
        cleanup_free char *ip = k8c_xstrndup(s, (size_t)(slash - s));
        char *end = NULL;
        long len = strtol(slash + 1, &end, 10);
        uint32_t a;
        if (!parse_ip(ip, &a) || end == slash + 1 || *end != '\0' || len < 0 || len > 32)
                return k8c_make_error(err, K8C_EINVALID, "cluster CIDR %s: not an IPv4 CIDR", s);
        uint32_t mask = len == 0 ? 0 : 0xffffffffu << (32 - len);
        *ret_ip = a & mask;
        *ret_len = (uint8_t)len;
        return 0;
}

static uint8_t parse_proto(const char *p)
{
        if (p == NULL || strcmp(p, "TCP") == 0)
                return IPPROTO_TCP;
        if (strcmp(p, "UDP") == 0)
                return IPPROTO_UDP;
        return 0; /* SCTP and anything else: not programmed */
}

static const char *proto_name(uint8_t p)
{
        return p == IPPROTO_UDP ? "udp" : "tcp";
}

struct endpoint {
        uint32_t ip;
        uint16_t port;
        bool local; /* addresses[].nodeName is this node */
};

static int endpoint_cmp(const void *a, const void *b)
{
        const struct endpoint *x = a, *y = b;
        if (x->ip != y->ip)
                return x->ip < y->ip ? -1 : 1;
        return (int)x->port - (int)y->port;
}

/* The ready endpoints of one service port: addresses (never notReadyAddresses) of every subset
 * that has a port of the same name and protocol. Sorted and de-duplicated. */
static size_t ready_endpoints(const json_t *eps, const char *port_name, uint8_t proto, const char *node_name,
                              struct endpoint **ret)
{
        struct endpoint *out = NULL;
        size_t n = 0, cap = 0;
        const json_t *subsets = json_object_get(eps, "subsets");
        size_t i;
        const json_t *sub;
        json_array_foreach(subsets, i, sub)
        {
                const json_t *ports = json_object_get(sub, "ports");
                size_t j;
                const json_t *p;
                json_int_t port = -1;
                json_array_foreach(ports, j, p)
                {
                        const char *pn = k8c_json_get_string(p, "name");
                        if (strcmp(pn ? pn : "", port_name) != 0)
                                continue;
                        if (parse_proto(k8c_json_get_string(p, "protocol")) != proto)
                                continue;
                        port = k8c_json_get_int(p, "port", -1);
                        break;
                }
                if (port <= 0 || port > 65535)
                        continue;
                const json_t *addrs = json_object_get(sub, "addresses");
                const json_t *a;
                json_array_foreach(addrs, j, a)
                {
                        uint32_t ip;
                        if (!parse_ip(k8c_json_get_string(a, "ip"), &ip))
                                continue;
                        if (n == cap) {
                                cap = cap ? cap * 2 : 4;
                                out = k8c_xrealloc(out, cap * sizeof(*out));
                        }
                        const char *nn = k8c_json_get_string(a, "nodeName");
                        out[n++] = (struct endpoint){ ip, (uint16_t)port,
                                                      node_name && nn && strcmp(nn, node_name) == 0 };
                }
        }
        if (n > 1) {
                qsort(out, n, sizeof(*out), endpoint_cmp);
                size_t w = 1;
                for (size_t r = 1; r < n; r++)
                        if (endpoint_cmp(&out[r], &out[w - 1]) != 0)
                                out[w++] = out[r];
                n = w;
        }
        *ret = out;
        return n;
}

static char *ip_str(uint32_t ip, char buf[INET_ADDRSTRLEN])
{
        struct in_addr a = { htonl(ip) };
        inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
        return buf;
}

/* ---- the proxier ---- */

struct build {
        struct k8c_proxy_ruleset *rs;
        struct chain_index nat, filter;
        const struct k8c_proxy_rules_config *cfg;
        uint32_t mark;
        bool has_cidr;
        uint32_t cidr;
        uint8_t cidr_len;
        bool large; /* more endpoints than cfg->large_cluster_endpoints: per-endpoint comments omitted */
};

static void add(struct chain_index *ix, const char *chain, const struct k8c_ipt_rule *r)
{
        bool builtin = strncmp(chain, "K8C-", 4) != 0 && builtin_rank(ix->t->name, chain) >= 0;
        chain_add(table_chain(ix, chain, builtin), r);
}

static void program_port(struct build *b, const char *ns, const char *name, const json_t *svc,
                         const json_t *sp, const json_t *eps)
{
        uint32_t cip;
        if (!parse_ip(k8c_json_get_string(svc, "spec.clusterIP"), &cip))
                return; /* headless ("None") or not allocated: nothing to balance */
        uint8_t proto = parse_proto(k8c_json_get_string(sp, "protocol"));
        json_int_t port = k8c_json_get_int(sp, "port", 0);
        if (proto == 0 || port <= 0 || port > 65535)
                return;
        json_int_t node_port = k8c_json_get_int(sp, "nodePort", 0);
        if (node_port < 0 || node_port > 65535)
                node_port = 0;
        const char *pn = k8c_json_get_string(sp, "name");
        if (pn == NULL)
                pn = "";
        bool affinity = k8c_json_get_string(svc, "spec.sessionAffinity") != NULL &&
                        strcmp(k8c_json_get_string(svc, "spec.sessionAffinity"), "ClientIP") == 0;
        json_int_t timeout = k8c_json_get_int(svc, "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                                              K8C_PROXY_DEFAULT_AFFINITY_SECONDS);
        if (timeout <= 0 || timeout > 86400)
                timeout = K8C_PROXY_DEFAULT_AFFINITY_SECONDS;

        cleanup_free char *spn =
                *pn ? k8c_xasprintf("%s/%s:%s", ns, name, pn) : k8c_xasprintf("%s/%s", ns, name);
        cleanup_free char *key = k8c_xasprintf("%s/%s:%s:%s", ns, name, pn, proto_name(proto));
        char svc_chain[29];
        k8c_proxy_chain_name("K8C-SVC-", key, svc_chain);

        uint32_t ext[8];
        size_t n_ext = 0;
        size_t xi;
        const json_t *xv;
        json_array_foreach(k8c_json_get(svc, "spec.externalIPs"), xi, xv)
        {
                if (n_ext < K8C_ARRAY_SIZE(ext) && parse_ip(json_string_value(xv), &ext[n_ext]))
                        n_ext++;
        }

        /* type LoadBalancer: the addresses status.loadBalancer.ingress[].ip hands out (servicelb). */
        uint32_t lb[8];
        size_t n_lb = 0;
        const char *type = k8c_json_get_string(svc, "spec.type");
        if (type && strcmp(type, "LoadBalancer") == 0)
                json_array_foreach(k8c_json_get(svc, "status.loadBalancer.ingress"), xi, xv)
                {
                        if (n_lb < K8C_ARRAY_SIZE(lb) && parse_ip(k8c_json_get_string(xv, "ip"), &lb[n_lb]))
                                n_lb++;
                }

        cleanup_free struct endpoint *ep = NULL;
        size_t n = eps ? ready_endpoints(eps, pn, proto, b->cfg->node_name, &ep) : 0;
        b->rs->n_service_ports++;

        struct chain_index *nat = &b->nat, *filter = &b->filter;
        if (n == 0) {
                /* Reject at once instead of letting clients time out on a blackhole. */
                cleanup_free char *c = k8c_xasprintf("%s has no endpoints", spn);
                add(filter, SERVICES,
                    &(struct k8c_ipt_rule){ .has_dst = true,
                                            .dst = cip,
                                            .dst_len = 32,
                                            .proto = proto,
                                            .dport = (uint16_t)port,
                                            .comment = c,
                                            .target = K8C_IPT_REJECT });
                if (node_port)
                        add(filter, EXTERNAL,
                            &(struct k8c_ipt_rule){ .proto = proto,
                                                    .dport = (uint16_t)node_port,
                                                    .comment = c,
                                                    .dst_local = true,
                                                    .target = K8C_IPT_REJECT });
                /* Load-balancer traffic is forwarded (or local output): filter K8C-SERVICES sees both. */
                for (size_t k = 0; k < n_lb; k++)
                        add(filter, SERVICES,
                            &(struct k8c_ipt_rule){ .has_dst = true,
                                                    .dst = lb[k],
                                                    .dst_len = 32,
                                                    .proto = proto,
                                                    .dport = (uint16_t)port,
                                                    .comment = c,
                                                    .target = K8C_IPT_REJECT });
                for (size_t k = 0; k < n_ext; k++)
                        add(filter, EXTERNAL,
                            &(struct k8c_ipt_rule){ .has_dst = true,
                                                    .dst = ext[k],
                                                    .dst_len = 32,
                                                    .proto = proto,
                                                    .dport = (uint16_t)port,
                                                    .comment = c,
                                                    .target = K8C_IPT_REJECT });
                return;
        }

        cleanup_free char *cip_comment = k8c_xasprintf("%s cluster IP", spn);
        add(nat, SERVICES,
            &(struct k8c_ipt_rule){ .has_dst = true,
                                    .dst = cip,
                                    .dst_len = 32,
                                    .proto = proto,
                                    .dport = (uint16_t)port,
                                    .comment = cip_comment,
                                    .target = K8C_IPT_JUMP,
                                    .jump = svc_chain });
        /* Chains are looked up again at each use: adding one may move the array. */
        table_chain(nat, svc_chain, false);
        if (b->has_cidr)
                /* From outside the pod network (host, other nodes' hosts): the reply must come back
                 * through this node, so masquerade. */
                chain_add(table_chain(nat, svc_chain, false), &(struct k8c_ipt_rule){ .has_src = true,
                                                                                      .src_inv = true,
                                                                                      .src = b->cidr,
                                                                                      .src_len = b->cidr_len,
                                                                                      .has_dst = true,
                                                                                      .dst = cip,
                                                                                      .dst_len = 32,
                                                                                      .proto = proto,
                                                                                      .dport = (uint16_t)port,
                                                                                      .comment = cip_comment,
                                                                                      .target = K8C_IPT_JUMP,
                                                                                      .jump = MARK_MASQ });
        if (n_ext > 0) {
                /* spec.externalIPs: traffic arriving for them comes from outside, so it is SNATed
                 * (replies must return through this node) and then balanced like the ClusterIP. */
                cleanup_free char *ext_comment = k8c_xasprintf("%s external IP", spn);
                for (size_t k = 0; k < n_ext; k++) {
                        struct k8c_ipt_rule r = { .has_dst = true,
                                                  .dst = ext[k],
                                                  .dst_len = 32,
                                                  .proto = proto,
                                                  .dport = (uint16_t)port,
                                                  .comment = ext_comment,
                                                  .target = K8C_IPT_JUMP,
                                                  .jump = MARK_MASQ };
                        add(nat, SERVICES, &r);
                        r.jump = svc_chain;
                        add(nat, SERVICES, &r);
                }
        }
        if (n_lb > 0) {
                /* As kube-proxy's KUBE-EXT-*: traffic for a load-balancer IP comes from outside the
                 * node, so it is masqueraded (the reply must return through this node to be
                 * un-DNATed) and then balanced over the service's endpoints. */
                char ext_chain[29];
                k8c_proxy_chain_name("K8C-EXT-", key, ext_chain);
                cleanup_free char *lb_comment = k8c_xasprintf("%s loadbalancer IP", spn);
                cleanup_free char *masq_comment =
                        k8c_xasprintf("masquerade traffic for %s external destinations", spn);
                add(nat, ext_chain,
                    &(struct k8c_ipt_rule){
                            .comment = masq_comment, .target = K8C_IPT_JUMP, .jump = MARK_MASQ });
                add(nat, ext_chain, &(struct k8c_ipt_rule){ .target = K8C_IPT_JUMP, .jump = svc_chain });
                for (size_t k = 0; k < n_lb; k++)
                        add(nat, SERVICES,
                            &(struct k8c_ipt_rule){ .has_dst = true,
                                                    .dst = lb[k],
                                                    .dst_len = 32,
                                                    .proto = proto,
                                                    .dport = (uint16_t)port,
                                                    .comment = lb_comment,
                                                    .target = K8C_IPT_JUMP,
                                                    .jump = ext_chain });
        }
        const char *etp = k8c_json_get_string(svc, "spec.externalTrafficPolicy");
        bool local_only = node_port && etp && strcmp(etp, "Local") == 0 && b->cfg->node_name;
        char xlb_chain[29] = "";
        if (local_only) {
                /* externalTrafficPolicy: Local: NodePort traffic stays on this node's endpoints and keeps
                 * its client source address (no SNAT); with none here it is dropped, so load balancers
                 * health-checking the node route elsewhere. */
                k8c_proxy_chain_name("K8C-XLB-", key, xlb_chain);
                add(nat, NODEPORTS,
                    &(struct k8c_ipt_rule){ .proto = proto,
                                            .dport = (uint16_t)node_port,
                                            .comment = spn,
                                            .target = K8C_IPT_JUMP,
                                            .jump = xlb_chain });
                if (b->has_cidr)
                        add(nat, xlb_chain,
                            &(struct k8c_ipt_rule){
                                    .has_src = true,
                                    .src = b->cidr,
                                    .src_len = b->cidr_len,
                                    .comment = "Redirect pods trying to reach external loadbalancer "
                                               "VIP to clusterIP",
                                    .target = K8C_IPT_JUMP,
                                    .jump = svc_chain });
        } else if (node_port) {
                add(nat, NODEPORTS,
                    &(struct k8c_ipt_rule){ .proto = proto,
                                            .dport = (uint16_t)node_port,
                                            .comment = spn,
                                            .target = K8C_IPT_JUMP,
                                            .jump = MARK_MASQ });
                add(nat, NODEPORTS,
                    &(struct k8c_ipt_rule){ .proto = proto,
                                            .dport = (uint16_t)node_port,
                                            .comment = spn,
                                            .target = K8C_IPT_JUMP,
                                            .jump = svc_chain });
        }

        char(*sep)[29] = k8c_xcalloc(n, sizeof(*sep));
        for (size_t i = 0; i < n; i++) {
                char ipb[INET_ADDRSTRLEN];
                cleanup_free char *k = k8c_xasprintf("%s:%s:%u", key, ip_str(ep[i].ip, ipb), ep[i].port);
                k8c_proxy_chain_name("K8C-SEP-", k, sep[i]);
        }
        if (affinity)
                /* A client seen recently goes back to the endpoint it had. */
                for (size_t i = 0; i < n; i++)
                        chain_add(table_chain(nat, svc_chain, false),
                                  &(struct k8c_ipt_rule){ .comment = spn,
                                                          .recent_name = sep[i],
                                                          .recent_seconds = (uint32_t)timeout,
                                                          .target = K8C_IPT_JUMP,
                                                          .jump = sep[i] });
        for (size_t i = 0; i < n; i++) {
                char ipb[INET_ADDRSTRLEN];
                cleanup_free char *c = k8c_xasprintf("%s -> %s:%u", spn, ip_str(ep[i].ip, ipb), ep[i].port);
                struct k8c_ipt_rule r = { .comment = b->large ? NULL : c,
                                          .target = K8C_IPT_JUMP,
                                          .jump = sep[i] };
                /* Rule i takes 1/(n-i) of what reaches it: uniform overall; the last takes the rest. */
                if (i + 1 < n)
                        r.probability = (uint32_t)llround(2147483648.0 / (double)(n - i));
                chain_add(table_chain(nat, svc_chain, false), &r);

                /* Hairpin: a pod reaching itself through the service must be masqueraded. */
                chain_add(table_chain(nat, sep[i], false),
                          &(struct k8c_ipt_rule){ .has_src = true,
                                                  .src = ep[i].ip,
                                                  .src_len = 32,
                                                  .comment = b->large ? NULL : spn,
                                                  .target = K8C_IPT_JUMP,
                                                  .jump = MARK_MASQ });
                chain_add(table_chain(nat, sep[i], false),
                          &(struct k8c_ipt_rule){ .proto = proto,
                                                  .comment = b->large ? NULL : spn,
                                                  .recent_name = affinity ? sep[i] : NULL,
                                                  .recent_set = true,
                                                  .target = K8C_IPT_DNAT,
                                                  .to_ip = ep[i].ip,
                                                  .to_port = ep[i].port });
                b->rs->n_endpoints++;
        }
        if (local_only) {
                size_t n_local = 0;
                for (size_t i = 0; i < n; i++)
                        n_local += ep[i].local;
                if (n_local == 0) {
                        cleanup_free char *c = k8c_xasprintf("%s has no local endpoints", spn);
                        add(nat, xlb_chain, &(struct k8c_ipt_rule){ .comment = c, .target = K8C_IPT_DROP });
                }
                for (size_t i = 0, k = 0; i < n; i++) {
                        if (!ep[i].local)
                                continue;
                        cleanup_free char *c = k8c_xasprintf("Balancing rule %zu for %s", k, spn);
                        struct k8c_ipt_rule r = { .comment = c, .target = K8C_IPT_JUMP, .jump = sep[i] };
                        if (k + 1 < n_local)
                                r.probability = (uint32_t)llround(2147483648.0 / (double)(n_local - k));
                        add(nat, xlb_chain, &r);
                        k++;
                }
        }
        free(sep);
}

struct keyed {
        char *key;
        const json_t *obj;
};

static int keyed_cmp(const void *a, const void *b)
{
        return strcmp(((const struct keyed *)a)->key, ((const struct keyed *)b)->key);
}

static const char *NODEPORTS_COMMENT =
        "k8c service nodeports; NOTE: this must be the last rule in this chain";

int k8c_proxy_rules_build(const json_t *services, const json_t *endpoints,
                          const struct k8c_proxy_rules_config *cfg, struct k8c_proxy_ruleset *ret,
                          k8c_error_t *err)
{
        static const struct k8c_proxy_rules_config defaults = { 0 };
        if (cfg == NULL)
                cfg = &defaults;
        struct build b = { .cfg = cfg,
                           .mark = cfg->masq_mark ? cfg->masq_mark : K8C_PROXY_DEFAULT_MASQ_MARK };
        if (cfg->cluster_cidr && *cfg->cluster_cidr) {
                int r = parse_cidr(cfg->cluster_cidr, &b.cidr, &b.cidr_len, err);
                if (r < 0)
                        return r;
                b.has_cidr = true;
        }
        size_t n_np = 0;
        uint32_t *np = NULL;
        for (size_t i = 0; cfg->nodeport_addresses && cfg->nodeport_addresses[i]; i++) {
                np = k8c_xrealloc(np, (n_np + 1) * sizeof(*np));
                if (!parse_ip(cfg->nodeport_addresses[i], &np[n_np])) {
                        free(np);
                        return k8c_make_error(err, K8C_EINVALID, "nodeport address %s: not an IPv4 address",
                                              cfg->nodeport_addresses[i]);
                }
                n_np++;
        }

        struct k8c_proxy_ruleset rs = { .nat.name = k8c_xstrdup("nat"),
                                        .filter.name = k8c_xstrdup("filter") };
        b.rs = &rs;
        b.nat.t = &rs.nat;
        b.filter.t = &rs.filter;
        k8c_strmap_init(&b.nat.map);
        k8c_strmap_init(&b.filter.map);
        struct chain_index *nat = &b.nat, *filter = &b.filter;

        /* Fixed chains first so they exist even with no services. */
        add(nat, "PREROUTING",
            &(struct k8c_ipt_rule){
                    .comment = "k8c service portals", .target = K8C_IPT_JUMP, .jump = SERVICES });
        add(nat, "OUTPUT",
            &(struct k8c_ipt_rule){
                    .comment = "k8c service portals", .target = K8C_IPT_JUMP, .jump = SERVICES });
        add(nat, "POSTROUTING",
            &(struct k8c_ipt_rule){
                    .comment = "k8c postrouting rules", .target = K8C_IPT_JUMP, .jump = POSTROUTING });
        table_chain(nat, SERVICES, false);
        table_chain(nat, NODEPORTS, false);
        add(nat, MARK_MASQ,
            &(struct k8c_ipt_rule){ .target = K8C_IPT_MARK, .mark_set = b.mark, .mark_mask = b.mark });
        add(nat, POSTROUTING,
            &(struct k8c_ipt_rule){
                    .has_mark = true, .mark_inv = true, .mark = b.mark, .target = K8C_IPT_RETURN });
        /* Clear the mark so a packet re-entering (e.g. after a tunnel) is not masqueraded twice. */
        add(nat, POSTROUTING,
            &(struct k8c_ipt_rule){ .target = K8C_IPT_MARK, .mark_set = b.mark, .mark_mask = 0 });
        add(nat, POSTROUTING,
            &(struct k8c_ipt_rule){ .comment = "k8c service traffic requiring SNAT",
                                    .target = K8C_IPT_MASQUERADE,
                                    .random_fully = true });

        add(filter, "INPUT",
            &(struct k8c_ipt_rule){ .comment = "k8c externally-visible service portals",
                                    .target = K8C_IPT_JUMP,
                                    .jump = EXTERNAL });
        add(filter, "FORWARD",
            &(struct k8c_ipt_rule){
                    .comment = "k8c forwarding rules", .target = K8C_IPT_JUMP, .jump = FORWARD });
        add(filter, "FORWARD",
            &(struct k8c_ipt_rule){
                    .comment = "k8c service portals", .target = K8C_IPT_JUMP, .jump = SERVICES });
        add(filter, "OUTPUT",
            &(struct k8c_ipt_rule){
                    .comment = "k8c service portals", .target = K8C_IPT_JUMP, .jump = SERVICES });
        table_chain(filter, SERVICES, false);
        table_chain(filter, EXTERNAL, false);
        /* Marked (service) traffic may be forwarded even under a DROP policy. */
        add(filter, FORWARD,
            &(struct k8c_ipt_rule){ .comment = "k8c forwarding rules",
                                    .has_mark = true,
                                    .mark = b.mark,
                                    .target = K8C_IPT_ACCEPT });

        struct k8c_strmap eps_by_key;
        k8c_strmap_init(&eps_by_key);
        size_t i;
        const json_t *o;
        /* kube-proxy's large-cluster mode: past a threshold of endpoints, the endpoint rules (most
         * of the table) carry no comment. A comment match is 256 bytes of a ~400-byte rule, so this
         * more than halves what every sync copies into and out of the kernel. */
        size_t total_eps = 0, threshold = cfg->large_cluster_endpoints
                                                  ? cfg->large_cluster_endpoints
                                                  : K8C_PROXY_DEFAULT_LARGE_CLUSTER_ENDPOINTS;
        json_array_foreach(endpoints, i, o)
        {
                size_t j;
                const json_t *sub;
                json_array_foreach(json_object_get(o, "subsets"), j, sub) total_eps +=
                        json_array_size(json_object_get(sub, "addresses"));
        }
        b.large = total_eps > threshold;
        json_array_foreach(endpoints, i, o)
        {
                cleanup_free char *k =
                        k8c_xasprintf("%s/%s", k8c_json_get_string(o, "metadata.namespace") ?: "default",
                                      k8c_json_get_string(o, "metadata.name") ?: "");
                k8c_strmap_put(&eps_by_key, k, (void *)o, NULL);
        }
        /* Services in key order, so the rules inside shared chains do not depend on list order. */
        size_t ns_ = json_array_size(services);
        struct keyed *sorted = k8c_xcalloc(ns_ ? ns_ : 1, sizeof(*sorted));
        json_array_foreach(services, i, o)
        {
                sorted[i].key =
                        k8c_xasprintf("%s/%s", k8c_json_get_string(o, "metadata.namespace") ?: "default",
                                      k8c_json_get_string(o, "metadata.name") ?: "");
                sorted[i].obj = o;
        }
        qsort(sorted, ns_, sizeof(*sorted), keyed_cmp);
        for (size_t s = 0; s < ns_; s++) {
                const json_t *svc = sorted[s].obj;
                const char *type = k8c_json_get_string(svc, "spec.type");
                if (type && strcmp(type, "ExternalName") == 0)
                        continue;
                const char *ns = k8c_json_get_string(svc, "metadata.namespace") ?: "default";
                const char *name = k8c_json_get_string(svc, "metadata.name");
                if (name == NULL)
                        continue;
                void *eps = NULL;
                k8c_strmap_get(&eps_by_key, sorted[s].key, &eps);
                const json_t *ports = k8c_json_get(svc, "spec.ports");
                size_t j;
                const json_t *sp;
                json_array_foreach(ports, j, sp) program_port(&b, ns, name, svc, sp, eps);
        }
        for (size_t s = 0; s < ns_; s++)
                free(sorted[s].key);
        free(sorted);
        k8c_strmap_clear(&eps_by_key);

        /* NodePorts last: addrtype LOCAL would otherwise catch ClusterIPs bound locally. */
        if (n_np == 0)
                add(nat, SERVICES,
                    &(struct k8c_ipt_rule){ .comment = (char *)NODEPORTS_COMMENT,
                                            .dst_local = true,
                                            .target = K8C_IPT_JUMP,
                                            .jump = NODEPORTS });
        for (size_t k = 0; k < n_np; k++)
                add(nat, SERVICES,
                    &(struct k8c_ipt_rule){ .has_dst = true,
                                            .dst = np[k],
                                            .dst_len = 32,
                                            .comment = (char *)NODEPORTS_COMMENT,
                                            .target = K8C_IPT_JUMP,
                                            .jump = NODEPORTS });
        free(np);

        k8c_strmap_clear(&b.nat.map);
        k8c_strmap_clear(&b.filter.map);
        table_sort(&rs.nat);
        table_sort(&rs.filter);
        for (size_t c = 0; c < rs.nat.n_chains; c++)
                rs.n_rules += rs.nat.chains[c].n_rules;
        for (size_t c = 0; c < rs.filter.n_chains; c++)
                rs.n_rules += rs.filter.chains[c].n_rules;
        *ret = rs;
        return 0;
}

/* ---- rendering (the exact iptables-save 1.8 text) ---- */

struct buf {
        char *s;
        size_t len, cap;
};

static void bputs(struct buf *b, const char *s)
{
        size_t n = strlen(s);
        if (b->len + n + 1 > b->cap) {
                b->cap = (b->len + n + 1) * 2;
                b->s = k8c_xrealloc(b->s, b->cap);
        }
        memcpy(b->s + b->len, s, n + 1);
        b->len += n;
}

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        cleanup_free char *s = NULL;
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        bputs(b, s);
}

/* xtables_save_string: bare when only [A-Za-z0-9_-], else double-quoted with \ before " \ '. */
static void save_string(struct buf *b, const char *v)
{
        static const char plain[] = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        size_t n = strspn(v, plain);
        if (n > 0 && v[n] == '\0') {
                bprintf(b, " %s", v);
                return;
        }
        bputs(b, " \"");
        for (const char *p = v; *p; p++) {
                char c[3] = { '\\', *p, 0 };
                bputs(b, strchr("\"\\'", *p) ? c : c + 1);
        }
        bputs(b, "\"");
}

static void render_rule(struct buf *b, const char *chain, const struct k8c_ipt_rule *r)
{
        char ipb[INET_ADDRSTRLEN];
        bprintf(b, "-A %s", chain);
        if (r->has_src)
                bprintf(b, "%s -s %s/%u", r->src_inv ? " !" : "", ip_str(r->src, ipb), r->src_len);
        if (r->has_dst)
                bprintf(b, "%s -d %s/%u", r->dst_inv ? " !" : "", ip_str(r->dst, ipb), r->dst_len);
        if (r->proto)
                bprintf(b, " -p %s", proto_name(r->proto));
        if (r->comment) {
                bputs(b, " -m comment --comment");
                save_string(b, r->comment);
        }
        if (r->dst_local)
                bputs(b, " -m addrtype --dst-type LOCAL");
        if (r->has_mark)
                bprintf(b, " -m mark%s --mark 0x%x/0x%x", r->mark_inv ? " !" : "", r->mark, r->mark);
        if (r->probability)
                bprintf(b, " -m statistic --mode random --probability %.11f", r->probability / 2147483648.0);
        if (r->recent_name) {
                if (r->recent_set)
                        bputs(b, " -m recent --set");
                else
                        bprintf(b, " -m recent --rcheck --seconds %u --reap", r->recent_seconds);
                bprintf(b, " --name %s --mask 255.255.255.255 --rsource", r->recent_name);
        }
        if (r->proto && r->dport)
                bprintf(b, " -m %s --dport %u", proto_name(r->proto), r->dport);
        switch (r->target) {
        case K8C_IPT_JUMP: bprintf(b, " -j %s", r->jump); break;
        case K8C_IPT_RETURN: bputs(b, " -j RETURN"); break;
        case K8C_IPT_ACCEPT: bputs(b, " -j ACCEPT"); break;
        case K8C_IPT_DROP: bputs(b, " -j DROP"); break;
        case K8C_IPT_DNAT:
                bprintf(b, " -j DNAT --to-destination %s:%u", ip_str(r->to_ip, ipb), r->to_port);
                break;
        case K8C_IPT_MASQUERADE:
                bputs(b, r->random_fully ? " -j MASQUERADE --random-fully" : " -j MASQUERADE");
                break;
        case K8C_IPT_MARK: bprintf(b, " -j MARK --set-xmark 0x%x/0x%x", r->mark_set, r->mark_mask); break;
        case K8C_IPT_REJECT:
                bputs(b, r->proto == IPPROTO_TCP ? " -j REJECT --reject-with tcp-reset"
                                                 : " -j REJECT --reject-with icmp-port-unreachable");
                break;
        }
}

char *k8c_ipt_rule_render(const char *chain, const struct k8c_ipt_rule *r)
{
        struct buf b = { 0 };
        render_rule(&b, chain, r);
        return b.s;
}

char *k8c_ipt_table_render(const struct k8c_ipt_table *t)
{
        struct buf b = { 0 };
        bprintf(&b, "*%s\n", t->name);
        /* Every built-in is declared, even those without our jumps, as iptables-save does. */
        const char *const *bi = strcmp(t->name, "nat") == 0 ? nat_builtins : filter_builtins;
        for (size_t i = 0; bi[i]; i++)
                bprintf(&b, ":%s ACCEPT [0:0]\n", bi[i]);
        for (size_t i = 0; i < t->n_chains; i++)
                if (!t->chains[i].builtin)
                        bprintf(&b, ":%s - [0:0]\n", t->chains[i].name);
        for (size_t i = 0; bi[i]; i++) {
                const struct k8c_ipt_chain *c = k8c_ipt_table_find(t, bi[i]);
                for (size_t j = 0; c && j < c->n_rules; j++) {
                        render_rule(&b, c->name, &c->rules[j]);
                        bputs(&b, "\n");
                }
        }
        for (size_t i = 0; i < t->n_chains; i++) {
                const struct k8c_ipt_chain *c = &t->chains[i];
                if (c->builtin)
                        continue;
                for (size_t j = 0; j < c->n_rules; j++) {
                        render_rule(&b, c->name, &c->rules[j]);
                        bputs(&b, "\n");
                }
        }
        bputs(&b, "COMMIT\n");
        return b.s;
}

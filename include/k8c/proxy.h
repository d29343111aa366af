/*
 * proxy.h - k8c-proxy: Services + ready Endpoints → iptables rules (nat and
 * filter), applied with libiptc; cluster DNS answers; the daemon.
 *
 * The rule set is plain data (rules.c, pure, no kernel): tables of chains of
 * rules whose fields are the few matches and targets a service proxy needs.
 * It renders to the exact text iptables-legacy-save prints for it, which is
 * also valid iptables-restore input. iptc.c turns the same data into kernel
 * entries and commits each table once; it only touches chains named K8C-* and
 * the jump rules into them from the built-in chains.
 */
#ifndef K8C_PROXY_H
#define K8C_PROXY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k8c/error.h"

#define K8C_PROXY_CHAIN_PREFIX "K8C-"
#define K8C_PROXY_DEFAULT_MASQ_MARK 0x4000u
#define K8C_PROXY_DEFAULT_AFFINITY_SECONDS 10800
#define K8C_PROXY_DEFAULT_LARGE_CLUSTER_ENDPOINTS 1000 /* kube-proxy's largeClusterEndpointsThreshold */

typedef enum {
        K8C_IPT_JUMP = 1,   /* -j <chain> */
        K8C_IPT_RETURN,     /* -j RETURN */
        K8C_IPT_ACCEPT,     /* -j ACCEPT */
        K8C_IPT_DNAT,       /* -j DNAT --to-destination to_ip:to_port */
        K8C_IPT_MASQUERADE, /* -j MASQUERADE [--random-fully] */
        K8C_IPT_MARK,       /* -j MARK --set-xmark mark/mask */
        K8C_IPT_REJECT,     /* -j REJECT --reject-with tcp-reset (TCP) or icmp-port-unreachable */
        K8C_IPT_DROP,       /* -j DROP */
} k8c_ipt_target_t;

/* One rule. Addresses are IPv4 in host byte order. Matches appear in the entry (and the text)
 * in this order: comment, addrtype, mark, statistic, recent, tcp/udp. */
struct k8c_ipt_rule {
        bool has_src, src_inv;
        uint32_t src;
        uint8_t src_len;
        bool has_dst, dst_inv;
        uint32_t dst;
        uint8_t dst_len;
        uint8_t proto;  /* 0, IPPROTO_TCP or IPPROTO_UDP */
        uint16_t dport; /* 0 = no port match (proto alone is still matched) */

        char *comment;  /* -m comment; NULL = none */
        bool dst_local; /* -m addrtype --dst-type LOCAL */
        bool has_mark, mark_inv;
        uint32_t mark;        /* -m mark [!] --mark mark/mark */
        uint32_t probability; /* -m statistic --mode random, in 1/2^31 units; 0 = none */
        char *recent_name;    /* -m recent --name; NULL = none */
        bool recent_set;      /* --set; else --rcheck --seconds recent_seconds --reap */
        uint32_t recent_seconds;

        k8c_ipt_target_t target;
        char *jump;     /* K8C_IPT_JUMP */
        uint32_t to_ip; /* K8C_IPT_DNAT */
        uint16_t to_port;
        uint32_t mark_set, mark_mask; /* K8C_IPT_MARK */
        bool random_fully;            /* K8C_IPT_MASQUERADE */
};

struct k8c_ipt_chain {
        char *name;
        bool builtin; /* a built-in chain: rules are our jumps, kept at its head */
        struct k8c_ipt_rule *rules;
        size_t n_rules, cap_rules;
};

struct k8c_ipt_table {
        char *name;                   /* "nat" or "filter" */
        struct k8c_ipt_chain *chains; /* built-ins in hook order, then K8C-* sorted by name */
        size_t n_chains, cap_chains;
};

struct k8c_proxy_rules_config {
        const char *cluster_cidr;              /* "10.244.0.0/16"; NULL = no masquerade of outside traffic */
        uint32_t masq_mark;                    /* 0 = K8C_PROXY_DEFAULT_MASQ_MARK */
        const char *const *nodeport_addresses; /* NULL-terminated IPv4s; NULL/empty = every local address */
        const char
                *node_name; /* this node (Endpoints addresses[].nodeName), for externalTrafficPolicy: Local */
        /* Above this many endpoints in all, endpoint rules (K8C-SEP-*, and the jumps to them) carry
         * no comment, as kube-proxy does. 0 = K8C_PROXY_DEFAULT_LARGE_CLUSTER_ENDPOINTS, SIZE_MAX = never. */
        size_t large_cluster_endpoints;
};

struct k8c_proxy_ruleset {
        struct k8c_ipt_table nat, filter;
        size_t n_service_ports; /* service ports programmed (with or without endpoints) */
        size_t n_endpoints;     /* SEP chains */
        size_t n_rules;         /* rules in both tables */
};

/* Services and Endpoints are JSON arrays of v1 objects (as from an informer list). Objects that
 * cannot be programmed (bad IP, SCTP, ExternalName, headless) are skipped, never an error;
 * the config can be invalid (K8C_EINVALID). */
int k8c_proxy_rules_build(const json_t *services, const json_t *endpoints,
                          const struct k8c_proxy_rules_config *cfg, struct k8c_proxy_ruleset *ret,
                          k8c_error_t *err);
void k8c_proxy_ruleset_free(struct k8c_proxy_ruleset *rs);

/* The text iptables-legacy-save prints for this table in an otherwise empty namespace, without
 * its "# Generated/Completed" comment lines. Caller frees. */
char *k8c_ipt_table_render(const struct k8c_ipt_table *t);
/* One rule as "-A CHAIN ..." without the newline. Caller frees. */
char *k8c_ipt_rule_render(const char *chain, const struct k8c_ipt_rule *r);
const struct k8c_ipt_chain *k8c_ipt_table_find(const struct k8c_ipt_table *t, const char *name);
/* Same name and the same rules, field by field. */
bool k8c_ipt_chain_same(const struct k8c_ipt_chain *a, const struct k8c_ipt_chain *b);

/* "K8C-SVC-" + 16 base32 chars of sha256(key): stable across runs and restarts. */
void k8c_proxy_chain_name(const char *prefix, const char *key, char ret_name[29]);

/* ---- applying (iptc.c) ---- */

struct k8c_iptc_stats {
        size_t chains_created, chains_rewritten, chains_deleted, builtin_fixed;
        size_t chains_trusted; /* k8c_iptc_apply_since: unchanged since prev, not compared with the kernel */
        bool committed;        /* false = the kernel already held exactly this table */
};

/* Makes the kernel's table hold t: K8C-* chains and the jumps from built-ins exactly as in t,
 * every other chain and rule untouched. One commit, only if anything differs. */
int k8c_iptc_apply(const struct k8c_ipt_table *t, struct k8c_iptc_stats *ret_stats, k8c_error_t *err);
/* As k8c_iptc_apply, but chains whose rules equal prev's (what the last apply of this table left) are
 * not compared with the kernel, as long as the kernel's table still has the shape *inout_fp recorded
 * then (entry count and size; 0 = unknown, so everything is compared). *inout_fp is updated. A
 * periodic k8c_iptc_apply repairs same-shape drift this cannot see. prev may be NULL. */
int k8c_iptc_apply_since(const struct k8c_ipt_table *t, const struct k8c_ipt_table *prev, uint64_t *inout_fp,
                         struct k8c_iptc_stats *ret_stats, k8c_error_t *err);
/* Removes every K8C-* chain of table and every jump to one from a built-in chain. */
int k8c_iptc_cleanup(const char *table, struct k8c_iptc_stats *ret_stats, k8c_error_t *err);

/* ---- cluster DNS (dns.c) ---- */

/* Where answers come from; every getter returns a new reference or NULL. */
struct k8c_dns_view {
        json_t *(*get_service)(void *opaque, const char *ns, const char *name);
        json_t *(*get_endpoints)(void *opaque, const char *ns, const char *name);
        json_t *(*service_by_cluster_ip)(void *opaque, const char *ip);
        void *opaque;
};

struct k8c_dns_config {
        const char *domain; /* "cluster.local" */
        uint32_t ttl;       /* 0 = 5 */
};

/* Answers one query (wire format). Always yields a response (FORMERR for garbage that still has
 * a header); fails only when the query is too short to answer at all. Caller frees *ret. */
int k8c_dns_answer(const struct k8c_dns_config *cfg, const struct k8c_dns_view *view, const uint8_t *query,
                   size_t query_len, uint8_t **ret, size_t *ret_len, k8c_error_t *err);

struct k8c_dns_server;
/* Listens on addr:port (UDP and TCP; port 0 = ephemeral, the same for both) in its own thread. */
int k8c_dns_server_start(const struct k8c_dns_config *cfg, const struct k8c_dns_view *view, const char *addr,
                         int port, struct k8c_dns_server **ret, k8c_error_t *err);
int k8c_dns_server_port(const struct k8c_dns_server *s);
void k8c_dns_server_stop(struct k8c_dns_server *s);

/* ---- the daemon (proxy.c) ---- */

struct k8c_proxy_config {
        const char *kubeconfig;
        const char *server;
        const char *hostname;
        const char *cluster_cidr;
        const char *const *nodeport_addresses;
        uint32_t masq_mark;
        int64_t min_sync_ms;      /* 0 = 100 */
        int64_t sync_ms;          /* 0 = 30000 */
        const char *metrics_bind; /* "127.0.0.1:10249"; "" = off */
        const char *dns_bind;     /* "10.96.0.10:53"; NULL/"" = no DNS */
        const char *cluster_domain;
};

/* Runs until SIGTERM/SIGINT. */
int k8c_proxy_run(const struct k8c_proxy_config *cfg, k8c_error_t *err);
/* --cleanup: both tables. */
int k8c_proxy_cleanup(k8c_error_t *err);

#endif

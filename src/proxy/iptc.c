/*
 * iptc.c - applies a rule table (rules.c) to the kernel's legacy x_tables
 * through libiptc, one commit per table.
 *
 * Owns: every chain whose name starts with K8C- and, in built-in chains, every
 * rule that jumps to one. Must not touch anything else: other chains and the
 * other rules of built-in chains (with their counters) go back to the kernel
 * exactly as they came. A chain whose rules already equal the desired ones is
 * left alone, and with nothing to change there is no commit at all, so a
 * re-sync of an unchanged table costs one read of it.
 */
#include "k8c/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libiptc/libiptc.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_recent.h>
#include <linux/netfilter/xt_statistic.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter_ipv4/ipt_REJECT.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"

#define ENTRY_MAX 2048
#define XTABLES_LOCK "/run/xtables.lock"

/* ---- rule → kernel entry ---- */

struct entry_buf {
        uint8_t *buf;
        size_t len;
};

static void *add_blob(struct entry_buf *b, const char *name, uint8_t revision, size_t datasz)
{
        /* xt_entry_match and xt_entry_target share this header layout. */
        size_t sz = XT_ALIGN(sizeof(struct xt_entry_match)) + XT_ALIGN(datasz);
        struct xt_entry_match *m = (struct xt_entry_match *)(b->buf + b->len);
        m->u.user.match_size = (uint16_t)sz;
        strncpy(m->u.user.name, name, sizeof(m->u.user.name) - 1);
        m->u.user.revision = revision;
        b->len += sz;
        return m->data;
}

static uint32_t prefix_mask(uint8_t len)
{
        return len == 0 ? 0 : htonl(0xffffffffu << (32 - len));
}

/* Builds the entry for r (calloc'd; the caller frees). */
static struct ipt_entry *build_entry(const struct k8c_ipt_rule *r)
{
        /* Sized to what the rule needs (a 2 KiB calloc per rule was a visible part of a 10k-service
         * sync); every byte is zeroed, as the compare and the kernel see padding too. */
        size_t need = sizeof(struct ipt_entry) + 6 * XT_ALIGN(sizeof(struct xt_entry_match)) +
                      XT_ALIGN(sizeof(struct xt_comment_info)) +
                      XT_ALIGN(sizeof(struct xt_addrtype_info_v1)) +
                      XT_ALIGN(sizeof(struct xt_mark_mtinfo1)) + XT_ALIGN(sizeof(struct xt_statistic_info)) +
                      XT_ALIGN(sizeof(struct xt_recent_mtinfo_v1)) + XT_ALIGN(sizeof(struct xt_tcp)) +
                      XT_ALIGN(sizeof(struct xt_entry_target)) + XT_ALIGN(sizeof(struct nf_nat_range2));
        struct entry_buf b = { k8c_xcalloc(1, need < ENTRY_MAX ? need : ENTRY_MAX),
                               sizeof(struct ipt_entry) };
        struct ipt_entry *e = (struct ipt_entry *)b.buf;
        if (r->has_src) {
                e->ip.src.s_addr = htonl(r->src);
                e->ip.smsk.s_addr = prefix_mask(r->src_len);
                if (r->src_inv)
                        e->ip.invflags |= IPT_INV_SRCIP;
        }
        if (r->has_dst) {
                e->ip.dst.s_addr = htonl(r->dst);
                e->ip.dmsk.s_addr = prefix_mask(r->dst_len);
                if (r->dst_inv)
                        e->ip.invflags |= IPT_INV_DSTIP;
        }
        e->ip.proto = r->proto;
        if (r->comment) {
                struct xt_comment_info *c = add_blob(&b, "comment", 0, sizeof(*c));
                strncpy(c->comment, r->comment, sizeof(c->comment) - 1);
        }
        if (r->dst_local) {
                struct xt_addrtype_info_v1 *a = add_blob(&b, "addrtype", 1, sizeof(*a));
                a->dest = XT_ADDRTYPE_LOCAL;
        }
        if (r->has_mark) {
                struct xt_mark_mtinfo1 *m = add_blob(&b, "mark", 1, sizeof(*m));
                m->mark = m->mask = r->mark;
                m->invert = r->mark_inv;
        }
        if (r->probability) {
                struct xt_statistic_info *s = add_blob(&b, "statistic", 0, sizeof(*s));
                s->mode = XT_STATISTIC_MODE_RANDOM;
                s->u.random.probability = r->probability;
        }
        if (r->recent_name) {
                struct xt_recent_mtinfo_v1 *rc = add_blob(&b, "recent", 1, sizeof(*rc));
                rc->check_set = r->recent_set ? XT_RECENT_SET : XT_RECENT_CHECK | XT_RECENT_REAP;
                rc->seconds = r->recent_set ? 0 : r->recent_seconds;
                strncpy(rc->name, r->recent_name, sizeof(rc->name) - 1);
                rc->side = XT_RECENT_SOURCE;
                rc->mask.ip = 0xffffffffu;
        }
        if (r->proto && r->dport) {
                if (r->proto == IPPROTO_TCP) {
                        struct xt_tcp *t = add_blob(&b, "tcp", 0, sizeof(*t));
                        t->spts[1] = 0xffff;
                        t->dpts[0] = t->dpts[1] = r->dport;
                } else {
                        struct xt_udp *u = add_blob(&b, "udp", 0, sizeof(*u));
                        u->spts[1] = 0xffff;
                        u->dpts[0] = u->dpts[1] = r->dport;
                }
        }
        e->target_offset = (uint16_t)b.len;
        switch (r->target) {
        case K8C_IPT_JUMP: add_blob(&b, r->jump, 0, sizeof(int)); break;
        case K8C_IPT_RETURN: add_blob(&b, IPTC_LABEL_RETURN, 0, sizeof(int)); break;
        case K8C_IPT_ACCEPT: add_blob(&b, IPTC_LABEL_ACCEPT, 0, sizeof(int)); break;
        case K8C_IPT_DROP: add_blob(&b, IPTC_LABEL_DROP, 0, sizeof(int)); break;
        case K8C_IPT_DNAT: {
                /* Revision 2 (nf_nat_range2): what iptables 1.8 itself writes, so it can print it back. */
                struct nf_nat_range2 *n = add_blob(&b, "DNAT", 2, sizeof(*n));
                n->flags = NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED;
                n->min_addr.ip = n->max_addr.ip = htonl(r->to_ip);
                n->min_proto.all = n->max_proto.all = htons(r->to_port);
                break;
        }
        case K8C_IPT_MASQUERADE: {
                struct nf_nat_ipv4_multi_range_compat *n = add_blob(&b, "MASQUERADE", 0, sizeof(*n));
                n->rangesize = 1;
                if (r->random_fully)
                        n->range[0].flags = NF_NAT_RANGE_PROTO_RANDOM_FULLY;
                break;
        }
        case K8C_IPT_MARK: {
                struct xt_mark_tginfo2 *m = add_blob(&b, "MARK", 2, sizeof(*m));
                m->mark = r->mark_set;
                m->mask = r->mark_mask;
                break;
        }
        case K8C_IPT_REJECT: {
                struct ipt_reject_info *j = add_blob(&b, "REJECT", 0, sizeof(*j));
                /* A TCP reset refuses at once on every path; an ICMP error made in OUTPUT never reaches
                 * the local socket, so local clients would wait for their connect timeout. */
                j->with = r->proto == IPPROTO_TCP ? IPT_TCP_RESET : IPT_ICMP_PORT_UNREACHABLE;
                break;
        }
        }
        e->next_offset = (uint16_t)b.len;
        return e;
}

static const char *target_label(const struct k8c_ipt_rule *r)
{
        switch (r->target) {
        case K8C_IPT_JUMP: return r->jump;
        case K8C_IPT_RETURN: return IPTC_LABEL_RETURN;
        case K8C_IPT_ACCEPT: return IPTC_LABEL_ACCEPT;
        case K8C_IPT_DROP: return IPTC_LABEL_DROP;
        default: return NULL;
        }
}

/* Whether the kernel's rule e is our rule d (counters and offsets into the blob ignored). */
static bool entry_equal(struct xtc_handle *h, const struct ipt_entry *e, const struct ipt_entry *d,
                        const struct k8c_ipt_rule *r)
{
        if (memcmp(&e->ip, &d->ip, sizeof(e->ip)) != 0 || e->target_offset != d->target_offset ||
            e->next_offset != d->next_offset)
                return false;
        /* Match by match: the kernel copies an extension's name only up to its NUL, so the bytes after
         * it in what libiptc read are whatever its buffer held. */
        for (size_t off = sizeof(*e); off < e->target_offset;) {
                const struct xt_entry_match *em = (const void *)((const uint8_t *)e + off);
                const struct xt_entry_match *dm = (const void *)((const uint8_t *)d + off);
                size_t sz = dm->u.user.match_size;
                if (em->u.user.match_size != sz || sz < sizeof(*dm) || off + sz > e->target_offset ||
                    em->u.user.revision != dm->u.user.revision ||
                    strncmp(em->u.user.name, dm->u.user.name, sizeof(dm->u.user.name)) != 0 ||
                    memcmp(em->data, dm->data, sz - sizeof(*dm)) != 0)
                        return false;
                off += sz;
        }
        const char *name = iptc_get_target(e, h);
        const char *want = target_label(r);
        if (want != NULL)
                /* Jumps and verdicts: libiptc resolves their offsets at commit; compare by label. */
                return name != NULL && strcmp(name, want) == 0;
        const struct xt_entry_target *et = (const void *)((const uint8_t *)e + e->target_offset);
        const struct xt_entry_target *dt = (const void *)((const uint8_t *)d + d->target_offset);
        return name != NULL && strcmp(name, dt->u.user.name) == 0 && et->u.target_size == dt->u.target_size &&
               et->u.user.revision == dt->u.user.revision &&
               memcmp(et->data, dt->data, dt->u.target_size - sizeof(*dt)) == 0;
}

/* ---- the xtables lock, so we do not race iptables(8) run by others ---- */

static int xtables_lock(int *ret_fd, k8c_error_t *err)
{
        cleanup_close int fd = open(XTABLES_LOCK, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                return k8c_make_errno(err, errno, "open %s", XTABLES_LOCK);
        for (int i = 0; i < 500; i++) { /* up to 5 s, as `iptables -w 5` */
                if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
                        *ret_fd = k8c_steal_fd(&fd);
                        return 0;
                }
                if (errno != EWOULDBLOCK)
                        return k8c_make_errno(err, errno, "flock %s", XTABLES_LOCK);
                nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
        }
        return k8c_make_error(err, K8C_EUNAVAILABLE, "%s is held by another process", XTABLES_LOCK);
}

static void free_handle(struct xtc_handle **h)
{
        if (*h)
                iptc_free(*h);
}

static int iptc_fail(k8c_error_t *err, const char *what, const char *chain)
{
        int e = errno;
        return k8c_make_error(err, K8C_EINTERNAL, "%s %s: %s", what, chain ? chain : "", iptc_strerror(e));
}

static bool owned(const char *chain)
{
        return strncmp(chain, K8C_PROXY_CHAIN_PREFIX, strlen(K8C_PROXY_CHAIN_PREFIX)) == 0;
}

/* Names of the table's chains, copied (libiptc's iteration must not run while we modify). */
static char **list_chains(struct xtc_handle *h, bool want_builtin)
{
        char **v = NULL;
        size_t n = 0;
        for (const char *c = iptc_first_chain(h); c; c = iptc_next_chain(h)) {
                if ((iptc_builtin(c, h) != 0) != want_builtin || (!want_builtin && !owned(c)))
                        continue;
                v = k8c_xrealloc(v, (n + 2) * sizeof(*v));
                v[n++] = k8c_xstrdup(c);
                v[n] = NULL;
        }
        return v ? v : k8c_xcalloc(1, sizeof(*v));
}

/* Names (copied) of our chains the table t does not hold; every one of ours when t is NULL. */
static char **unwanted_chains(struct xtc_handle *h, const struct k8c_ipt_table *t)
{
        char **v = NULL;
        size_t n = 0;
        for (const char *c = iptc_first_chain(h); c; c = iptc_next_chain(h)) {
                if (!owned(c) || (t != NULL && k8c_ipt_table_find(t, c) != NULL))
                        continue;
                v = k8c_xrealloc(v, (n + 2) * sizeof(*v));
                v[n++] = k8c_xstrdup(c);
                v[n] = NULL;
        }
        return v ? v : k8c_xcalloc(1, sizeof(*v));
}

/* Whether the chain holds exactly rules[0..n). */
static bool chain_equal(struct xtc_handle *h, const char *chain, const struct k8c_ipt_rule *rules, size_t n)
{
        size_t i = 0;
        for (const struct ipt_entry *e = iptc_first_rule(chain, h); e; e = iptc_next_rule(e, h), i++) {
                if (i >= n)
                        return false;
                cleanup_free struct ipt_entry *d = build_entry(&rules[i]);
                if (!entry_equal(h, e, d, &rules[i]))
                        return false;
        }
        return i == n;
}

static int append_rules(struct xtc_handle *h, const struct k8c_ipt_chain *c, k8c_error_t *err)
{
        for (size_t i = 0; i < c->n_rules; i++) {
                cleanup_free struct ipt_entry *e = build_entry(&c->rules[i]);
                if (!iptc_append_entry(c->name, e, h))
                        return iptc_fail(err, "append to", c->name);
        }
        return 0;
}

/* A built-in chain must start with exactly our jumps (desired, possibly none) and hold no other
 * rule of ours; everyone else's rules keep their order after them. */
static int fix_builtin(struct xtc_handle *h, const char *chain, const struct k8c_ipt_chain *desired,
                       struct k8c_iptc_stats *st, k8c_error_t *err)
{
        size_t want = desired ? desired->n_rules : 0;
        size_t n_owned = 0, pos = 0;
        bool in_place = true;
        unsigned *owned_idx = NULL;
        for (const struct ipt_entry *e = iptc_first_rule(chain, h); e; e = iptc_next_rule(e, h), pos++) {
                const char *t = iptc_get_target(e, h);
                if (t == NULL || !owned(t))
                        continue;
                owned_idx = k8c_xrealloc(owned_idx, (n_owned + 1) * sizeof(*owned_idx));
                owned_idx[n_owned] = (unsigned)pos;
                if (pos != n_owned || n_owned >= want) {
                        in_place = false;
                } else {
                        cleanup_free struct ipt_entry *d = build_entry(&desired->rules[n_owned]);
                        if (!entry_equal(h, e, d, &desired->rules[n_owned]))
                                in_place = false;
                }
                n_owned++;
        }
        if (in_place && n_owned == want) {
                free(owned_idx);
                return 0;
        }
        for (size_t i = n_owned; i-- > 0;)
                if (!iptc_delete_num_entry(chain, owned_idx[i], h)) {
                        free(owned_idx);
                        return iptc_fail(err, "delete jump from", chain);
                }
        free(owned_idx);
        for (size_t i = 0; i < want; i++) {
                cleanup_free struct ipt_entry *e = build_entry(&desired->rules[i]);
                if (!iptc_insert_entry(chain, e, (unsigned)i, h))
                        return iptc_fail(err, "insert jump into", chain);
        }
        st->builtin_fixed++;
        return 0;
}

/* The kernel's table shape (entry count and blob size) from IPT_SO_GET_INFO, which copies no rules;
 * 0 when it cannot be read. Any commit by anyone that adds or removes a rule changes it. */
static uint64_t table_fingerprint(const char *table)
{
        cleanup_close int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
        struct ipt_getinfo info = { 0 };
        strncpy(info.name, table, sizeof(info.name) - 1);
        socklen_t len = sizeof(info);
        if (fd < 0 || getsockopt(fd, SOL_IP, IPT_SO_GET_INFO, &info, &len) < 0)
                return 0;
        return (uint64_t)info.num_entries << 32 | info.size;
}

static int sync_table(const char *table, const struct k8c_ipt_table *t, const struct k8c_ipt_table *prev,
                      uint64_t *inout_fp, struct k8c_iptc_stats *ret_stats, k8c_error_t *err)
{
        struct k8c_iptc_stats st = { 0 };
        cleanup_close int lock = -1;
        int r = xtables_lock(&lock, err);
        if (r < 0)
                return r;
        /* Chains equal to what the last apply left are only compared with the kernel when the table
         * has changed shape since (someone else committed): the compare is most of a re-sync's cost. */
        if (prev != NULL && (inout_fp == NULL || *inout_fp == 0 || table_fingerprint(table) != *inout_fp))
                prev = NULL;
        __attribute__((cleanup(free_handle))) struct xtc_handle *h = iptc_init(table);
        if (h == NULL)
                return iptc_fail(err, "open table", table);

        /* 1. Chains we need that do not exist yet (rules may jump to them, so before any rule). */
        for (size_t i = 0; t && i < t->n_chains; i++) {
                const struct k8c_ipt_chain *c = &t->chains[i];
                if (c->builtin || iptc_is_chain(c->name, h))
                        continue;
                if (!iptc_create_chain(c->name, h))
                        return iptc_fail(err, "create chain", c->name);
                st.chains_created++;
        }
        /* 2. Our chains whose rules differ: rewritten whole. */
        for (size_t i = 0; t && i < t->n_chains; i++) {
                const struct k8c_ipt_chain *c = &t->chains[i];
                if (c->builtin)
                        continue;
                const struct k8c_ipt_chain *was = prev ? k8c_ipt_table_find(prev, c->name) : NULL;
                if (was != NULL && k8c_ipt_chain_same(was, c) && iptc_is_chain(c->name, h)) {
                        st.chains_trusted++;
                        continue;
                }
                if (chain_equal(h, c->name, c->rules, c->n_rules))
                        continue;
                if (!iptc_flush_entries(c->name, h))
                        return iptc_fail(err, "flush chain", c->name);
                if ((r = append_rules(h, c, err)) < 0)
                        return r;
                st.chains_rewritten++;
        }
        /* 3. The jumps from the built-ins. */
        cleanup_strv char **builtins = list_chains(h, true);
        for (size_t i = 0; builtins[i]; i++)
                if ((r = fix_builtin(h, builtins[i], t ? k8c_ipt_table_find(t, builtins[i]) : NULL, &st,
                                     err)) < 0)
                        return r;
        /* 4. Our chains nobody wants any more (only those are copied out: there are tens of
         * thousands of ours): emptied first, since they may jump to each other. */
        cleanup_strv char **gone = unwanted_chains(h, t);
        for (size_t i = 0; gone[i]; i++)
                if (!iptc_flush_entries(gone[i], h))
                        return iptc_fail(err, "flush chain", gone[i]);
        for (size_t i = 0; gone[i]; i++) {
                if (!iptc_delete_chain(gone[i], h))
                        return iptc_fail(err, "delete chain", gone[i]);
                st.chains_deleted++;
        }
        if (st.chains_created + st.chains_rewritten + st.builtin_fixed + st.chains_deleted > 0) {
                if (!iptc_commit(h))
                        return iptc_fail(err, "commit table", table);
                st.committed = true;
        }
        if (inout_fp != NULL)
                *inout_fp = table_fingerprint(table);
        if (ret_stats)
                *ret_stats = st;
        return 0;
}

int k8c_iptc_apply(const struct k8c_ipt_table *t, struct k8c_iptc_stats *ret_stats, k8c_error_t *err)
{
        for (size_t i = 0; i < t->n_chains; i++)
                if (!t->chains[i].builtin && !owned(t->chains[i].name))
                        return k8c_make_error(err, K8C_EINVALID, "chain %s is not ours (no %s prefix)",
                                              t->chains[i].name, K8C_PROXY_CHAIN_PREFIX);
        return sync_table(t->name, t, NULL, NULL, ret_stats, err);
}

int k8c_iptc_apply_since(const struct k8c_ipt_table *t, const struct k8c_ipt_table *prev, uint64_t *inout_fp,
                         struct k8c_iptc_stats *ret_stats, k8c_error_t *err)
{
        for (size_t i = 0; i < t->n_chains; i++)
                if (!t->chains[i].builtin && !owned(t->chains[i].name))
                        return k8c_make_error(err, K8C_EINVALID, "chain %s is not ours (no %s prefix)",
                                              t->chains[i].name, K8C_PROXY_CHAIN_PREFIX);
        return sync_table(t->name, t, prev, inout_fp, ret_stats, err);
}

int k8c_iptc_cleanup(const char *table, struct k8c_iptc_stats *ret_stats, k8c_error_t *err)
{
        return sync_table(table, NULL, NULL, NULL, ret_stats, err);
}

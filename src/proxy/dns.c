/*
 * dns.c - cluster DNS: answers for <svc>.<ns>.svc.<domain> from the proxy's
 * own view of Services and Endpoints, and a small UDP+TCP server for them.
 *
 * Packets are parsed and built by ldns only (no hand-written DNS codec). The
 * answer function is pure over the view it is given, so unit tests feed it
 * canned objects. Authoritative for the cluster domain (NXDOMAIN for unknown
 * names there), REFUSED for every other name: this is not a recursive
 * resolver. PTR answers exist for ClusterIPs only; other reverse names are
 * refused for the same reason.
 */
#include "k8c/proxy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"

#define DNS_HEADER_LEN 12

struct answer {
        const struct k8c_dns_config *cfg;
        const struct k8c_dns_view *view;
        ldns_pkt *resp;
        uint32_t ttl;
};

/* Adds one record given as zone-file text; names come from validated Kubernetes objects, but a record
 * ldns will not parse is skipped rather than answered half-built. */
static void add_rr(struct answer *a, ldns_pkt_section section, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void add_rr(struct answer *a, ldns_pkt_section section, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        cleanup_free char *text = NULL;
        if (vasprintf(&text, fmt, ap) < 0)
                abort();
        va_end(ap);
        ldns_rr *rr = NULL;
        if (ldns_rr_new_frm_str(&rr, text, a->ttl, NULL, NULL) != LDNS_STATUS_OK)
                return;
        ldns_pkt_push_rr(a->resp, section, rr);
}

static bool ports_match(const json_t *port, const char *name, const char *proto)
{
        const char *pn = k8c_json_get_string(port, "name");
        const char *pp = k8c_json_get_string(port, "protocol");
        return pn != NULL && strcasecmp(pn, name) == 0 && strcasecmp(pp ? pp : "TCP", proto) == 0;
}

/* Ready addresses of an Endpoints object, calling fn for each (with its hostname, may be NULL). */
static void each_ready(const json_t *eps,
                       void (*fn)(struct answer *, const json_t *addr, const json_t *sub, void *),
                       struct answer *a, void *arg)
{
        size_t i, j;
        const json_t *sub, *addr;
        json_array_foreach(json_object_get(eps, "subsets"), i, sub)
        {
                json_array_foreach(json_object_get(sub, "addresses"), j, addr) fn(a, addr, sub, arg);
        }
}

static void add_a(struct answer *a, const json_t *addr, const json_t *sub, void *owner)
{
        const char *ip = k8c_json_get_string(addr, "ip");
        if (ip)
                add_rr(a, LDNS_SECTION_ANSWER, "%s A %s", (const char *)owner, ip);
}

struct srv_ctx {
        const char *owner, *svc_fqdn, *port_name, *proto;
};

static void add_headless_srv(struct answer *a, const json_t *addr, const json_t *sub, void *arg)
{
        struct srv_ctx *c = arg;
        const char *ip = k8c_json_get_string(addr, "ip");
        if (ip == NULL)
                return;
        size_t i;
        const json_t *p;
        json_array_foreach(json_object_get(sub, "ports"), i, p)
        {
                if (!ports_match(p, c->port_name, c->proto))
                        continue;
                /* The target is the pod's own name under the service: its hostname, else its IP dashed. */
                const char *hn = k8c_json_get_string(addr, "hostname");
                cleanup_free char *label = hn ? k8c_xstrdup(hn) : k8c_xstrdup(ip);
                for (char *d = label; *d; d++)
                        if (*d == '.')
                                *d = '-';
                add_rr(a, LDNS_SECTION_ANSWER, "%s SRV 0 100 %lld %s.%s", c->owner,
                       (long long)k8c_json_get_int(p, "port", 0), label, c->svc_fqdn);
                add_rr(a, LDNS_SECTION_ADDITIONAL, "%s.%s A %s", label, c->svc_fqdn, ip);
        }
}

struct host_ctx {
        const char *owner, *hostname;
        bool found;
};

static void add_host(struct answer *a, const json_t *addr, const json_t *sub, void *arg)
{
        struct host_ctx *c = arg;
        const char *hn = k8c_json_get_string(addr, "hostname");
        const char *ip = k8c_json_get_string(addr, "ip");
        if (hn && ip && strcasecmp(hn, c->hostname) == 0) {
                add_rr(a, LDNS_SECTION_ANSWER, "%s A %s", c->owner, ip);
                c->found = true;
        }
}

/* Answers a name under <domain>; labels[] are the labels before it (n of them). */
static ldns_pkt_rcode answer_cluster(struct answer *a, const char *qname, ldns_rr_type qtype, char **labels,
                                     size_t n)
{
        /* <svc>.<ns>.svc, _<port>._<proto>.<svc>.<ns>.svc, <host>.<svc>.<ns>.svc */
        if (n < 3 || strcmp(labels[n - 1], "svc") != 0 || n > 5)
                return LDNS_RCODE_NXDOMAIN;
        const char *ns = labels[n - 2], *svc_name = labels[n - 3];
        json_t *svc = a->view->get_service(a->view->opaque, ns, svc_name);
        if (svc == NULL)
                return LDNS_RCODE_NXDOMAIN;
        cleanup_free char *svc_fqdn = k8c_xasprintf("%s.%s.svc.%s.", svc_name, ns, a->cfg->domain);
        const char *type = k8c_json_get_string(svc, "spec.type");
        const char *cip = k8c_json_get_string(svc, "spec.clusterIP");
        bool headless = cip == NULL || *cip == '\0' || strcmp(cip, "None") == 0;
        json_t *eps = headless || n > 3 ? a->view->get_endpoints(a->view->opaque, ns, svc_name) : NULL;
        ldns_pkt_rcode rc = LDNS_RCODE_NOERROR;

        if (n == 3) {
                if (type && strcmp(type, "ExternalName") == 0) {
                        const char *ext = k8c_json_get_string(svc, "spec.externalName");
                        if (ext)
                                add_rr(a, LDNS_SECTION_ANSWER, "%s CNAME %s%s", qname, ext,
                                       ext[strlen(ext) - 1] == '.' ? "" : ".");
                } else if (qtype == LDNS_RR_TYPE_A || qtype == LDNS_RR_TYPE_ANY) {
                        if (!headless)
                                add_rr(a, LDNS_SECTION_ANSWER, "%s A %s", qname, cip);
                        else
                                each_ready(eps, add_a, a, (void *)qname);
                }
        } else if (labels[0][0] == '_' && n == 5) {
                if (labels[1][0] != '_' || (qtype != LDNS_RR_TYPE_SRV && qtype != LDNS_RR_TYPE_ANY)) {
                        rc = labels[1][0] == '_' ? LDNS_RCODE_NOERROR : LDNS_RCODE_NXDOMAIN;
                } else {
                        const char *port_name = labels[0] + 1, *proto = labels[1] + 1;
                        bool any = false;
                        if (!headless) {
                                size_t i;
                                const json_t *p;
                                json_array_foreach(k8c_json_get(svc, "spec.ports"), i, p)
                                {
                                        if (!ports_match(p, port_name, proto))
                                                continue;
                                        add_rr(a, LDNS_SECTION_ANSWER, "%s SRV 0 100 %lld %s", qname,
                                               (long long)k8c_json_get_int(p, "port", 0), svc_fqdn);
                                        add_rr(a, LDNS_SECTION_ADDITIONAL, "%s A %s", svc_fqdn, cip);
                                        any = true;
                                }
                        } else {
                                struct srv_ctx c = { qname, svc_fqdn, port_name, proto };
                                each_ready(eps, add_headless_srv, a, &c);
                                any = ldns_pkt_ancount(a->resp) > 0;
                        }
                        if (!any)
                                rc = LDNS_RCODE_NXDOMAIN;
                }
        } else if (n == 4 && headless) {
                struct host_ctx c = { qname, labels[0], false };
                if (qtype == LDNS_RR_TYPE_A || qtype == LDNS_RR_TYPE_ANY)
                        each_ready(eps, add_host, a, &c);
                else {
                        /* NODATA for other types when the name exists. */
                        struct answer probe = *a;
                        probe.resp = ldns_pkt_new();
                        each_ready(eps, add_host, &probe, &c);
                        ldns_pkt_free(probe.resp);
                }
                if (!c.found)
                        rc = LDNS_RCODE_NXDOMAIN;
        } else {
                rc = LDNS_RCODE_NXDOMAIN;
        }
        json_decref(eps);
        json_decref(svc);
        return rc;
}

/* d.c.b.a.in-addr.arpa → a PTR for a ClusterIP, or REFUSED (not ours to say). */
static ldns_pkt_rcode answer_ptr(struct answer *a, const char *qname, char **labels, size_t n)
{
        if (n != 6)
                return LDNS_RCODE_REFUSED;
        cleanup_free char *ip = k8c_xasprintf("%s.%s.%s.%s", labels[3], labels[2], labels[1], labels[0]);
        struct in_addr in;
        if (inet_pton(AF_INET, ip, &in) != 1)
                return LDNS_RCODE_REFUSED;
        json_t *svc = a->view->service_by_cluster_ip(a->view->opaque, ip);
        if (svc == NULL)
                return LDNS_RCODE_REFUSED;
        add_rr(a, LDNS_SECTION_ANSWER, "%s PTR %s.%s.svc.%s.", qname,
               k8c_json_get_string(svc, "metadata.name"),
               k8c_json_get_string(svc, "metadata.namespace") ?: "default", a->cfg->domain);
        json_decref(svc);
        return LDNS_RCODE_NOERROR;
}

static char **split_labels(const char *name, size_t *ret_n)
{
        char **v = NULL;
        size_t n = 0;
        cleanup_free char *copy = k8c_xstrdup(name);
        for (char *save = NULL, *l = strtok_r(copy, ".", &save); l; l = strtok_r(NULL, ".", &save)) {
                v = k8c_xrealloc(v, (n + 2) * sizeof(*v));
                v[n++] = k8c_xstrdup(l);
                v[n] = NULL;
        }
        *ret_n = n;
        return v ? v : k8c_xcalloc(1, sizeof(*v));
}

static bool has_suffix(const char *name, const char *suffix, size_t *ret_prefix_len)
{
        size_t ln = strlen(name), ls = strlen(suffix);
        if (ln == ls && strcmp(name, suffix) == 0) {
                *ret_prefix_len = 0;
                return true;
        }
        if (ln > ls + 1 && name[ln - ls - 1] == '.' && strcmp(name + ln - ls, suffix) == 0) {
                *ret_prefix_len = ln - ls - 1;
                return true;
        }
        return false;
}

static int error_reply(const uint8_t *query, size_t len, ldns_pkt_rcode rcode, uint8_t **ret, size_t *ret_len)
{
        /* Header only: echo the id and opcode and RD, set QR, no sections. */
        uint8_t *out = k8c_xcalloc(1, DNS_HEADER_LEN);
        out[0] = query[0];
        out[1] = query[1];
        out[2] = (uint8_t)(0x80 | (query[2] & 0x79)); /* QR, opcode, RD */
        out[3] = (uint8_t)(rcode & 0x0f);
        *ret = out;
        *ret_len = DNS_HEADER_LEN;
        return 0;
}

int k8c_dns_answer(const struct k8c_dns_config *cfg, const struct k8c_dns_view *view, const uint8_t *query,
                   size_t query_len, uint8_t **ret, size_t *ret_len, k8c_error_t *err)
{
        if (query_len < DNS_HEADER_LEN)
                return k8c_make_error(err, K8C_EBADREQUEST, "DNS message of %zu bytes: shorter than a header",
                                      query_len);
        if (query[2] & 0x80) /* a response sent to us: never answer it (no loops between servers) */
                return k8c_make_error(err, K8C_EBADREQUEST, "DNS message is a response");
        ldns_pkt *q = NULL;
        if (ldns_wire2pkt(&q, query, query_len) != LDNS_STATUS_OK)
                return error_reply(query, query_len, LDNS_RCODE_FORMERR, ret, ret_len);
        if (ldns_pkt_get_opcode(q) != LDNS_PACKET_QUERY) {
                ldns_pkt_free(q);
                return error_reply(query, query_len, LDNS_RCODE_NOTIMPL, ret, ret_len);
        }
        if (ldns_pkt_qdcount(q) != 1) {
                ldns_pkt_free(q);
                return error_reply(query, query_len, LDNS_RCODE_FORMERR, ret, ret_len);
        }
        ldns_rr *qrr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
        ldns_rr_type qtype = ldns_rr_get_type(qrr);

        struct answer a = {
                .cfg = cfg, .view = view, .resp = ldns_pkt_new(), .ttl = cfg->ttl ? cfg->ttl : 5
        };
        ldns_pkt_set_id(a.resp, ldns_pkt_id(q));
        ldns_pkt_set_qr(a.resp, true);
        ldns_pkt_set_opcode(a.resp, LDNS_PACKET_QUERY);
        ldns_pkt_set_rd(a.resp, ldns_pkt_rd(q));
        ldns_pkt_push_rr(a.resp, LDNS_SECTION_QUESTION, ldns_rr_clone(qrr));

        /* Names compare case-insensitively: work on the lower-cased text without the root dot. */
        cleanup_free char *qname = ldns_rdf2str(ldns_rr_owner(qrr));
        for (char *c = qname; *c; c++)
                *c = (char)tolower((unsigned char)*c);
        size_t ql = strlen(qname);
        if (ql > 1 && qname[ql - 1] == '.')
                qname[ql - 1] = '\0';
        cleanup_free char *owner = k8c_xasprintf("%s.", qname);

        ldns_pkt_rcode rc;
        size_t plen = 0;
        if (ldns_rr_get_class(qrr) != LDNS_RR_CLASS_IN) {
                rc = LDNS_RCODE_REFUSED;
        } else if (has_suffix(qname, cfg->domain, &plen)) {
                ldns_pkt_set_aa(a.resp, true);
                cleanup_free char *prefix = k8c_xstrndup(qname, plen);
                size_t n = 0;
                cleanup_strv char **labels = split_labels(prefix, &n);
                rc = answer_cluster(&a, owner, qtype, labels, n);
        } else if (has_suffix(qname, "in-addr.arpa", &plen) && qtype == LDNS_RR_TYPE_PTR) {
                size_t n = 0;
                cleanup_strv char **labels = split_labels(qname, &n);
                rc = answer_ptr(&a, owner, labels, n);
                if (rc == LDNS_RCODE_NOERROR)
                        ldns_pkt_set_aa(a.resp, true);
        } else {
                rc = LDNS_RCODE_REFUSED;
        }
        ldns_pkt_set_rcode(a.resp, (uint8_t)rc);

        uint8_t *wire = NULL;
        size_t wlen = 0;
        ldns_status st = ldns_pkt2wire(&wire, a.resp, &wlen);
        ldns_pkt_free(a.resp);
        ldns_pkt_free(q);
        if (st != LDNS_STATUS_OK)
                return error_reply(query, query_len, LDNS_RCODE_SERVFAIL, ret, ret_len);
        *ret = wire;
        *ret_len = wlen;
        return 0;
}

/* ---- server ---- */

struct k8c_dns_server {
        struct k8c_dns_config cfg;
        char *domain;
        struct k8c_dns_view view;
        int udp, tcp, port;
        int stop_pipe[2];
        pthread_t thread;
};

static void serve_tcp(struct k8c_dns_server *s, int c)
{
        struct timeval tv = { 2, 0 };
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        for (;;) { /* several queries may share one connection (RFC 7766) */
                uint8_t lenb[2];
                if (recv(c, lenb, 2, MSG_WAITALL) != 2)
                        return;
                size_t len = (size_t)lenb[0] << 8 | lenb[1];
                cleanup_free uint8_t *q = k8c_xmalloc(len ? len : 1);
                if (len == 0 || recv(c, q, len, MSG_WAITALL) != (ssize_t)len)
                        return;
                uint8_t *out = NULL;
                size_t olen = 0;
                k8c_error_t err = NULL;
                if (k8c_dns_answer(&s->cfg, &s->view, q, len, &out, &olen, &err) < 0) {
                        k8c_error_release(&err);
                        return;
                }
                uint8_t hdr[2] = { (uint8_t)(olen >> 8), (uint8_t)olen };
                bool ok = send(c, hdr, 2, MSG_NOSIGNAL) == 2 &&
                          send(c, out, olen, MSG_NOSIGNAL) == (ssize_t)olen;
                free(out);
                if (!ok)
                        return;
        }
}

static void *serve(void *arg)
{
        struct k8c_dns_server *s = arg;
        struct pollfd fds[3] = { { s->udp, POLLIN, 0 },
                                 { s->tcp, POLLIN, 0 },
                                 { s->stop_pipe[0], POLLIN, 0 } };
        for (;;) {
                if (poll(fds, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return NULL;
                }
                if (fds[2].revents)
                        return NULL;
                if (fds[0].revents & POLLIN) {
                        uint8_t buf[4096];
                        struct sockaddr_storage from;
                        socklen_t fl = sizeof(from);
                        ssize_t n = recvfrom(s->udp, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
                                             &fl);
                        uint8_t *out = NULL;
                        size_t olen = 0;
                        k8c_error_t err = NULL;
                        if (n > 0 &&
                            k8c_dns_answer(&s->cfg, &s->view, buf, (size_t)n, &out, &olen, &err) == 0) {
                                if (olen > 512) {
                                        /* Too big for plain UDP: say so (TC) with the header alone; the
                                         * client retries over TCP. */
                                        out[2] |= 0x02;
                                        memset(out + 4, 0, 8);
                                        olen = DNS_HEADER_LEN;
                                }
                                ssize_t w =
                                        sendto(s->udp, out, olen, MSG_DONTWAIT, (struct sockaddr *)&from, fl);
                                (void)w;
                        }
                        k8c_error_release(&err);
                        free(out);
                }
                if (fds[1].revents & POLLIN) {
                        int c = accept4(s->tcp, NULL, NULL, SOCK_CLOEXEC);
                        if (c >= 0) {
                                serve_tcp(s, c);
                                close(c);
                        }
                }
        }
}

static int bind_socket(int type, const char *addr, int port, int *ret_fd, int *ret_port, k8c_error_t *err)
{
        cleanup_close int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return k8c_make_errno(err, errno, "socket");
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
                return k8c_make_error(err, K8C_EINVALID, "DNS address %s: not IPv4", addr);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return k8c_make_errno(err, errno, "bind %s:%d", addr, port);
        if (type == SOCK_STREAM && listen(fd, 64) < 0)
                return k8c_make_errno(err, errno, "listen %s:%d", addr, port);
        socklen_t sl = sizeof(sa);
        getsockname(fd, (struct sockaddr *)&sa, &sl);
        *ret_port = ntohs(sa.sin_port);
        *ret_fd = k8c_steal_fd(&fd);
        return 0;
}

int k8c_dns_server_start(const struct k8c_dns_config *cfg, const struct k8c_dns_view *view, const char *addr,
                         int port, struct k8c_dns_server **ret, k8c_error_t *err)
{
        struct k8c_dns_server *s = k8c_xcalloc(1, sizeof(*s));
        s->domain = k8c_xstrdup(cfg->domain);
        s->cfg = *cfg;
        s->cfg.domain = s->domain;
        s->view = *view;
        s->udp = s->tcp = s->stop_pipe[0] = s->stop_pipe[1] = -1;
        int r = 0;
        /* TCP on the very port UDP got. With an ephemeral request the TCP side of that port may be
         * taken by someone else: then try another port (a few times) rather than fail. */
        for (int attempt = 0; attempt < 20; attempt++) {
                r = bind_socket(SOCK_DGRAM, addr, port, &s->udp, &s->port, err);
                int tport = 0;
                if (r >= 0)
                        r = bind_socket(SOCK_STREAM, addr, s->port, &s->tcp, &tport, err);
                if (r >= 0 || port != 0 || s->udp < 0)
                        break;
                close(s->udp);
                s->udp = -1;
                k8c_error_release(err);
        }
        if (r >= 0 && pipe2(s->stop_pipe, O_CLOEXEC) < 0)
                r = k8c_make_errno(err, errno, "pipe");
        if (r >= 0 && (errno = pthread_create(&s->thread, NULL, serve, s)) != 0)
                r = k8c_make_errno(err, errno, "DNS thread");
        if (r < 0) {
                for (int *fd = (int[]){ s->udp, s->tcp, s->stop_pipe[0], s->stop_pipe[1] }, i = 0; i < 4; i++)
                        if (fd[i] >= 0)
                                close(fd[i]);
                free(s->domain);
                free(s);
                return r;
        }
        *ret = s;
        return 0;
}

int k8c_dns_server_port(const struct k8c_dns_server *s)
{
        return s->port;
}

void k8c_dns_server_stop(struct k8c_dns_server *s)
{
        if (s == NULL)
                return;
        ssize_t w = write(s->stop_pipe[1], "x", 1);
        (void)w;
        pthread_join(s->thread, NULL);
        close(s->udp);
        close(s->tcp);
        close(s->stop_pipe[0]);
        close(s->stop_pipe[1]);
        free(s->domain);
        free(s);
}

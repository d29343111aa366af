/*
 * alloc.c - Service ClusterIP and NodePort allocation.
 *
 * The stored Services are the record: an address or port is taken exactly when a
 * stored Service holds it, so allocations survive restarts and are freed when the
 * Service is deleted, with no second record to drift. To make a create cost the
 * same at 10 Services as at 10,000, this file keeps an index of that record in
 * memory (srv->alloc_index): one bitmap over --service-cluster-ip-range, one over
 * --service-node-port-range, each with a hint below which every bit is taken (so
 * "lowest free" is found without rescanning the full part). The index is built
 * from one LIST of the stored Services at the first allocation, then kept current
 * by the REST layer's Service writes (create, update, delete, including the delete
 * a finalizer removal triggers), without holding a lock across the store write:
 *
 *   k8c_service_allocate()  reserves what the new version takes beyond the old one
 *   (store write)           concurrent writes share one group commit
 *   k8c_service_alloc_done() stored: frees what the old version held and the new
 *                           one does not; not stored: frees the reservation; removed:
 *                           frees both
 *
 * A delete brackets its store write with k8c_service_alloc_begin()/_done(). Storage
 * compare-and-swap makes the old version of every stored write exact, so the
 * difference old → new is all the bookkeeping needed. The index is rebuilt only
 * with no write between begin/allocate and done ("in flight"): a LIST taken then
 * could miss a reserved address about to be stored, or a release about to happen.
 *
 * Single writer: the index knows only the writes of this process. With several
 * apiservers on one etcd another apiserver's allocations are unknown until the
 * index is rebuilt, which happens when it is older than SHARED_INDEX_TTL_S (etcd
 * only), and after a Service write failed with Conflict/NotFound (someone else
 * wrote that Service). Two apiservers may still hand out one address in that
 * window, as the scan this replaced also could between its scan and its write;
 * Kubernetes closes it with a bitmap stored under compare-and-swap.
 *
 * The network address and the broadcast address are never handed out; the first
 * address belongs to the `kubernetes` Service in `default`. Automatic picks take the
 * lowest free address/port, so a freed one is reused first (as before the index).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"

/* How old the index may get before a shared (etcd) store makes us re-read it. */
#define SHARED_INDEX_TTL_S 10

/* The lowest address offset an ordinary Service may get (0 is the network, 1 `kubernetes`). */
#define FIRST_ORDINARY_IP 2

static int parse_cidr(const char *cidr, uint32_t *ret_base, uint32_t *ret_size)
{
        char buf[64];
        snprintf(buf, sizeof(buf), "%s", cidr);
        char *slash = strchr(buf, '/');
        if (slash == NULL)
                return -1;
        *slash = '\0';
        int bits = atoi(slash + 1);
        struct in_addr a;
        if (inet_pton(AF_INET, buf, &a) != 1 || bits < 8 || bits > 30)
                return -1;
        uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
        *ret_base = ntohl(a.s_addr) & mask;
        *ret_size = ~mask + 1;
        return 0;
}

static int parse_ports(const char *range, int *lo, int *hi)
{
        if (sscanf(range, "%d-%d", lo, hi) != 2 || *lo <= 0 || *hi > 65535 || *lo > *hi)
                return -1;
        return 0;
}

/* ---- bitmaps ---- */

static bool bit_get(const uint64_t *b, uint32_t i)
{
        return (b[i / 64] >> (i % 64)) & 1;
}

static void bit_put(uint64_t *b, uint32_t i, bool on)
{
        if (on)
                b[i / 64] |= UINT64_C(1) << (i % 64);
        else
                b[i / 64] &= ~(UINT64_C(1) << (i % 64));
}

/* The first clear bit in [from, n), or n when there is none. Whole taken words are skipped. */
static uint32_t bit_find_clear(const uint64_t *b, uint32_t from, uint32_t n)
{
        uint32_t i = from;
        while (i < n) {
                uint64_t free_bits = ~b[i / 64] >> (i % 64);
                if (free_bits != 0) {
                        i += (uint32_t)__builtin_ctzll(free_bits);
                        return i < n ? i : n;
                }
                i = (i / 64 + 1) * 64;
        }
        return n;
}

/* ---- the index ---- */

/* Drops the bitmaps; the counters of writes in flight and builds stay. */
static void index_reset(struct k8c_service_index *x)
{
        free(x->ip_bits);
        free(x->port_bits);
        struct k8c_service_index keep = { .inflight = x->inflight, .builds = x->builds };
        *x = keep;
}

void k8c_service_index_free(struct k8c_service_index *x)
{
        index_reset(x);
}

/* The offset of obj's clusterIP in the range, or -1 (none, None, not IPv4, outside, or the
 * network/broadcast address, which stay taken for good). */
static int64_t ip_offset(const struct k8c_service_index *x, const char *ip)
{
        struct in_addr a;
        if (ip == NULL || inet_pton(AF_INET, ip, &a) != 1)
                return -1;
        uint32_t v = ntohl(a.s_addr);
        if (v <= x->ip_base || v >= x->ip_base + x->ip_size - 1)
                return -1;
        return v - x->ip_base;
}

static void index_reserve(struct k8c_service_index *x, const json_t *obj);

static int index_build(struct k8c_apiserver *srv, k8c_error_t *err)
{
        struct k8c_service_index *x = &srv->alloc_index;
        index_reset(x);
        if (parse_cidr(srv->cfg.service_cluster_ip_range, &x->ip_base, &x->ip_size) < 0)
                return k8c_make_error(err, K8C_EINTERNAL, "invalid --service-cluster-ip-range %s",
                                      srv->cfg.service_cluster_ip_range);
        if (parse_ports(srv->cfg.service_node_port_range, &x->port_lo, &x->port_hi) < 0)
                return k8c_make_error(err, K8C_EINTERNAL, "invalid --service-node-port-range %s",
                                      srv->cfg.service_node_port_range);
        x->ip_bits = k8c_xcalloc(x->ip_size / 64 + 1, sizeof(uint64_t));
        x->port_bits = k8c_xcalloc((size_t)(x->port_hi - x->port_lo + 1) / 64 + 1, sizeof(uint64_t));
        bit_put(x->ip_bits, 0, true);
        bit_put(x->ip_bits, x->ip_size - 1, true);
        x->ip_hint = FIRST_ORDINARY_IP;

        struct k8c_kv_list l = { 0 };
        int r = k8c_store_list(srv->store, "/registry/core/services/", &(struct k8c_list_opts){ 0 }, &l, err);
        if (r < 0) {
                k8c_kv_list_free(&l);
                index_reset(x);
                return k8c_error_wrap(err, "listing services for the allocator");
        }
        for (size_t i = 0; i < l.n; i++) {
                json_auto_t *o = json_loadb(l.items[i].value, l.items[i].value_len, 0, NULL);
                index_reserve(x, o);
        }
        k8c_kv_list_free(&l);
        x->built = true;
        x->built_at = time(NULL);
        x->builds++;
        return 0;
}

/* Builds the index when there is none, or rebuilds it when it is stale or (on a shared store)
 * old, waiting for the writes in flight to finish first; new writes wait meanwhile. Under
 * alloc_lock. */
static int index_ensure(struct k8c_apiserver *srv, k8c_error_t *err)
{
        struct k8c_service_index *x = &srv->alloc_index;
        bool shared = srv->cfg.storage_backend != NULL && strcmp(srv->cfg.storage_backend, "etcd") == 0;
        for (;;) {
                bool old = shared && time(NULL) - x->built_at > SHARED_INDEX_TTL_S;
                if (x->built && !x->stale && !old)
                        return 0;
                if (x->inflight == 0)
                        break;
                x->draining = true;
                pthread_cond_wait(&srv->alloc_cond, &srv->alloc_lock);
        }
        int r = index_build(srv, err);
        x->draining = false;
        pthread_cond_broadcast(&srv->alloc_cond);
        return r;
}

/* A Service version's holdings, for set differences between two versions. */
struct holdings {
        int64_t ip; /* offset, or -1 */
        json_int_t *ports;
        size_t nports;
};

static void holdings_of(const struct k8c_service_index *x, const json_t *obj, struct holdings *h)
{
        json_t *spec = json_object_get(obj, "spec");
        json_t *ports = json_object_get(spec, "ports");
        h->ip = ip_offset(x, json_string_value(json_object_get(spec, "clusterIP")));
        h->ports = k8c_xcalloc(json_array_size(ports) + 1, sizeof(*h->ports));
        h->nports = 0;
        size_t i;
        json_t *p;
        json_array_foreach(ports, i, p)
        {
                json_int_t np = json_integer_value(json_object_get(p, "nodePort"));
                if (np >= x->port_lo && np <= x->port_hi)
                        h->ports[h->nports++] = np;
        }
}

static bool in_list(const json_int_t *v, size_t n, json_int_t x);

static void release_ip(struct k8c_service_index *x, int64_t off)
{
        if (off < 0)
                return;
        bit_put(x->ip_bits, (uint32_t)off, false);
        if (off >= FIRST_ORDINARY_IP && (uint32_t)off < x->ip_hint)
                x->ip_hint = (uint32_t)off;
}

static void release_port(struct k8c_service_index *x, json_int_t np)
{
        uint32_t o = (uint32_t)(np - x->port_lo);
        bit_put(x->port_bits, o, false);
        if (o < x->port_hint)
                x->port_hint = o;
}

/* Frees what a holds and b (NULL: nothing) does not. */
static void release_difference(struct k8c_service_index *x, const struct holdings *a,
                               const struct holdings *b)
{
        if (b == NULL || a->ip != b->ip)
                release_ip(x, a->ip);
        for (size_t i = 0; i < a->nports; i++)
                if (b == NULL || !in_list(b->ports, b->nports, a->ports[i]))
                        release_port(x, a->ports[i]);
}

static void index_reserve(struct k8c_service_index *x, const json_t *obj)
{
        struct holdings h;
        holdings_of(x, obj, &h);
        if (h.ip >= 0)
                bit_put(x->ip_bits, (uint32_t)h.ip, true);
        for (size_t i = 0; i < h.nports; i++)
                bit_put(x->port_bits, (uint32_t)(h.ports[i] - x->port_lo), true);
        free(h.ports);
}

void k8c_service_alloc_begin(struct k8c_apiserver *srv)
{
        struct k8c_service_index *x = &srv->alloc_index;
        pthread_mutex_lock(&srv->alloc_lock);
        while (x->draining)
                pthread_cond_wait(&srv->alloc_cond, &srv->alloc_lock);
        x->inflight++;
        pthread_mutex_unlock(&srv->alloc_lock);
}

void k8c_service_alloc_done(struct k8c_apiserver *srv, const json_t *old, const json_t *obj, int r,
                            const k8c_error_t *err, bool removed)
{
        struct k8c_service_index *x = &srv->alloc_index;
        pthread_mutex_lock(&srv->alloc_lock);
        if (x->built) {
                struct holdings ho = { .ip = -1 }, hn = { .ip = -1 };
                if (old != NULL)
                        holdings_of(x, old, &ho);
                if (obj != NULL)
                        holdings_of(x, obj, &hn);
                if (r < 0) {
                        /* Not stored: the reservation (new minus old) goes back. */
                        release_difference(x, &hn, &ho);
                        /* An update or delete that lost its compare-and-swap: someone else
                         * wrote this Service (perhaps another apiserver): read them all again. */
                        if (old != NULL && err != NULL &&
                            (k8c_error_reason(err) == K8C_ECONFLICT ||
                             k8c_error_reason(err) == K8C_ENOTFOUND))
                                x->stale = true;
                } else if (removed) {
                        release_difference(x, &ho, NULL);
                        release_difference(x, &hn, NULL);
                } else {
                        release_difference(x, &ho, &hn);
                }
                free(ho.ports);
                free(hn.ports);
        }
        if (--x->inflight == 0)
                pthread_cond_broadcast(&srv->alloc_cond);
        pthread_mutex_unlock(&srv->alloc_lock);
}

uint64_t k8c_service_index_builds(struct k8c_apiserver *srv)
{
        pthread_mutex_lock(&srv->alloc_lock);
        uint64_t n = srv->alloc_index.builds;
        pthread_mutex_unlock(&srv->alloc_lock);
        return n;
}

/* ---- allocation ---- */

static void ip_str(uint32_t ip, char buf[INET_ADDRSTRLEN])
{
        struct in_addr a = { .s_addr = htonl(ip) };
        inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

/* The lowest free ordinary address offset, or 0 when the range is full. */
static uint32_t ip_lowest_free(struct k8c_service_index *x)
{
        uint32_t from = x->ip_hint > FIRST_ORDINARY_IP ? x->ip_hint : FIRST_ORDINARY_IP;
        uint32_t f = bit_find_clear(x->ip_bits, from, x->ip_size);
        x->ip_hint = f; /* everything in [2, f) is taken */
        return f < x->ip_size ? f : 0;
}

/* Whether the old version of this Service held nodePort np (it stays its own on update). */
static bool old_holds_port(const json_t *ospec, json_int_t np)
{
        size_t j;
        json_t *op;
        json_array_foreach(json_object_get(ospec, "ports"), j, op)
        {
                if (json_integer_value(json_object_get(op, "nodePort")) == np)
                        return true;
        }
        return false;
}

static bool in_list(const json_int_t *v, size_t n, json_int_t x)
{
        for (size_t i = 0; i < n; i++)
                if (v[i] == x)
                        return true;
        return false;
}

/* Whether node port np is held by another Service, or already given to a port of this one. */
static bool port_taken(const struct k8c_service_index *x, const json_t *ospec, const json_int_t *mine,
                       size_t nmine, json_int_t np)
{
        if (in_list(mine, nmine, np))
                return true;
        return bit_get(x->port_bits, (uint32_t)(np - x->port_lo)) && !old_holds_port(ospec, np);
}

/* The lowest node port that is free and not in mine, or 0 when there is none. */
static json_int_t port_lowest_free(struct k8c_service_index *x, const json_int_t *mine, size_t nmine)
{
        uint32_t n = (uint32_t)(x->port_hi - x->port_lo + 1);
        uint32_t f = bit_find_clear(x->port_bits, x->port_hint, n);
        x->port_hint = f; /* everything below f is taken */
        while (f < n && in_list(mine, nmine, x->port_lo + (json_int_t)f))
                f = bit_find_clear(x->port_bits, f + 1, n);
        return f < n ? x->port_lo + (json_int_t)f : 0;
}

int k8c_service_allocate(struct k8c_apiserver *srv, json_t *obj, const json_t *old,
                         struct k8c_field_errors *errs, k8c_error_t *err)
{
        json_t *spec = json_object_get(obj, "spec");
        if (!json_is_object(spec))
                return 0;
        json_t *md = json_object_get(obj, "metadata");
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        const char *name = json_string_value(json_object_get(md, "name"));
        const char *type = json_string_value(json_object_get(spec, "type"));
        if (type == NULL)
                type = "ClusterIP";
        json_t *ospec = json_object_get(old, "spec");

        pthread_mutex_lock(&srv->alloc_lock);
        int r = index_ensure(srv, err);
        if (r < 0) {
                pthread_mutex_unlock(&srv->alloc_lock);
                return r;
        }
        struct k8c_service_index *x = &srv->alloc_index;
        size_t nerrs = k8c_field_errors_count(errs);
        uint32_t base = x->ip_base, size = x->ip_size;

        if (strcmp(type, "ExternalName") == 0) {
                json_object_del(spec, "clusterIP");
                json_object_del(spec, "clusterIPs");
        } else {
                const char *ip = json_string_value(json_object_get(spec, "clusterIP"));
                if ((ip == NULL || ip[0] == '\0') && ospec != NULL)
                        ip = json_string_value(json_object_get(ospec, "clusterIP"));
                bool is_kube = ns != NULL && name != NULL && strcmp(ns, "default") == 0 &&
                               strcmp(name, "kubernetes") == 0;
                char chosen[INET_ADDRSTRLEN] = "";
                if (ip != NULL && strcmp(ip, "None") == 0) {
                        snprintf(chosen, sizeof(chosen), "None");
                } else if (ip != NULL && ip[0] != '\0') {
                        struct in_addr a;
                        if (inet_pton(AF_INET, ip, &a) != 1) {
                                k8c_field_error(errs, "FieldValueInvalid", "spec.clusterIPs[0]",
                                                "Invalid value: \"%s\": must be a valid IP address, (e.g. "
                                                "10.9.8.7 or 2001:db8::ffff)",
                                                ip);
                        } else {
                                uint32_t v = ntohl(a.s_addr);
                                bool in = v > base && v < base + size - 1 && (v != base + 1 || is_kube);
                                const char *oip = json_string_value(json_object_get(ospec, "clusterIP"));
                                if (!in)
                                        k8c_field_error(
                                                errs, "FieldValueInvalid", "spec.clusterIPs",
                                                "Invalid value: []string{\"%s\"}: failed to allocate IP "
                                                "%s: provided IP is not in the valid range. The range of "
                                                "valid IPs is %s",
                                                ip, ip, srv->cfg.service_cluster_ip_range);
                                else if (bit_get(x->ip_bits, v - base) &&
                                         (oip == NULL || strcmp(oip, ip) != 0))
                                        k8c_field_error(
                                                errs, "FieldValueInvalid", "spec.clusterIPs",
                                                "Invalid value: []string{\"%s\"}: failed to allocate IP "
                                                "%s: provided IP is already allocated",
                                                ip, ip);
                                else
                                        snprintf(chosen, sizeof(chosen), "%s", ip);
                        }
                } else {
                        if (is_kube && old == NULL && bit_get(x->ip_bits, 1)) {
                                /* Only the kubernetes Service takes the first address, so it exists:
                                 * AlreadyExists (which the bootstrap at every start expects), not a
                                 * full range, and nothing reserved. */
                                pthread_mutex_unlock(&srv->alloc_lock);
                                return k8c_make_error(err, K8C_EALREADYEXISTS,
                                                      "services \"kubernetes\" already exists");
                        }
                        uint32_t off = is_kube ? 1 : ip_lowest_free(x);
                        if (off != 0)
                                ip_str(base + off, chosen);
                        else
                                k8c_field_error(errs, "FieldValueInvalid", "spec.clusterIPs",
                                                "Invalid value: []string{}: failed to allocate IP: range is "
                                                "full");
                }
                if (chosen[0] != '\0') {
                        json_object_set_new(spec, "clusterIP", json_string(chosen));
                        json_object_set_new(spec, "clusterIPs", json_pack("[s]", chosen));
                }
        }

        if (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0) {
                json_t *ports = json_object_get(spec, "ports");
                cleanup_free json_int_t *mine = k8c_xcalloc(json_array_size(ports) + 1, sizeof(*mine));
                size_t nmine = 0;
                size_t i;
                json_t *p;
                json_array_foreach(ports, i, p)
                {
                        char fld[64];
                        snprintf(fld, sizeof(fld), "spec.ports[%zu].nodePort", i);
                        json_int_t np = json_integer_value(json_object_get(p, "nodePort"));
                        json_int_t port = json_integer_value(json_object_get(p, "port"));
                        json_int_t oldnp = 0;
                        size_t j;
                        json_t *op;
                        json_array_foreach(json_object_get(ospec, "ports"), j, op)
                        {
                                if (json_integer_value(json_object_get(op, "port")) == port)
                                        oldnp = json_integer_value(json_object_get(op, "nodePort"));
                        }
                        if (np == 0 && oldnp > 0)
                                np = oldnp;
                        if (np != 0) {
                                if (np < x->port_lo || np > x->port_hi)
                                        k8c_field_error(
                                                errs, "FieldValueInvalid", fld,
                                                "Invalid value: %lld: provided port is not in the valid "
                                                "range. The range of valid ports is %s",
                                                (long long)np, srv->cfg.service_node_port_range);
                                else if (np != oldnp && port_taken(x, ospec, mine, nmine, np))
                                        k8c_field_error(
                                                errs, "FieldValueInvalid", fld,
                                                "Invalid value: %lld: provided port is already allocated",
                                                (long long)np);
                        } else {
                                np = port_lowest_free(x, mine, nmine);
                                if (np == 0)
                                        k8c_field_error(errs, "FieldValueInvalid", fld,
                                                        "Invalid value: 0: failed to allocate a nodePort: "
                                                        "range is full");
                        }
                        if (np != 0) {
                                json_object_set_new(p, "nodePort", json_integer(np));
                                mine[nmine++] = np;
                        }
                }
        }
        if (k8c_field_errors_count(errs) == nerrs) {
                /* Everything obj holds is now either its old version's or free: take it. */
                index_reserve(x, obj);
                x->inflight++;
        }
        pthread_mutex_unlock(&srv->alloc_lock);
        return 0;
}

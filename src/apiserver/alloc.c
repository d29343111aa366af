/*
 * alloc.c - Service ClusterIP and NodePort allocation.
 *
 * The allocation state is the stored Services themselves: an address or port is
 * taken exactly when a stored Service holds it, so allocations survive restarts
 * and are freed when the Service is deleted, with no second record to drift.
 * Callers hold srv->alloc_lock from the scan until the write is stored.
 * The network address and the broadcast address are never handed out; the first
 * address belongs to the `kubernetes` Service in `default`.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"

struct used {
        uint32_t *ips;
        size_t nips;
        int *ports;
        size_t nports;
};

static void used_free(struct used *u)
{
        free(u->ips);
        free(u->ports);
}

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

static int scan(struct k8c_apiserver *srv, const char *self_ns, const char *self_name, struct used *u,
                k8c_error_t *err)
{
        struct k8c_kv_list l = { 0 };
        int r = k8c_store_list(srv->store, "/registry/core/services/", &(struct k8c_list_opts){ 0 }, &l, err);
        if (r < 0) {
                k8c_kv_list_free(&l);
                return r;
        }
        for (size_t i = 0; i < l.n; i++) {
                json_auto_t *o = json_loadb(l.items[i].value, l.items[i].value_len, 0, NULL);
                json_t *md = json_object_get(o, "metadata");
                const char *ns = json_string_value(json_object_get(md, "namespace"));
                const char *name = json_string_value(json_object_get(md, "name"));
                if (ns != NULL && name != NULL && self_ns != NULL && self_name != NULL &&
                    strcmp(ns, self_ns) == 0 && strcmp(name, self_name) == 0)
                        continue;
                json_t *spec = json_object_get(o, "spec");
                const char *ip = json_string_value(json_object_get(spec, "clusterIP"));
                struct in_addr a;
                if (ip != NULL && inet_pton(AF_INET, ip, &a) == 1) {
                        u->ips = k8c_xrealloc(u->ips, (u->nips + 1) * sizeof(*u->ips));
                        u->ips[u->nips++] = ntohl(a.s_addr);
                }
                size_t j;
                json_t *p;
                json_array_foreach(json_object_get(spec, "ports"), j, p)
                {
                        json_int_t np = json_integer_value(json_object_get(p, "nodePort"));
                        if (np > 0) {
                                u->ports = k8c_xrealloc(u->ports, (u->nports + 1) * sizeof(*u->ports));
                                u->ports[u->nports++] = (int)np;
                        }
                }
        }
        k8c_kv_list_free(&l);
        return 0;
}

static bool ip_used(const struct used *u, uint32_t ip)
{
        for (size_t i = 0; i < u->nips; i++)
                if (u->ips[i] == ip)
                        return true;
        return false;
}

static bool port_used(const struct used *u, int port)
{
        for (size_t i = 0; i < u->nports; i++)
                if (u->ports[i] == port)
                        return true;
        return false;
}

static void ip_str(uint32_t ip, char buf[INET_ADDRSTRLEN])
{
        struct in_addr a = { .s_addr = htonl(ip) };
        inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
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

        uint32_t base, size;
        if (parse_cidr(srv->cfg.service_cluster_ip_range, &base, &size) < 0)
                return k8c_make_error(err, K8C_EINTERNAL, "invalid --service-cluster-ip-range %s",
                                      srv->cfg.service_cluster_ip_range);
        int plo, phi;
        if (parse_ports(srv->cfg.service_node_port_range, &plo, &phi) < 0)
                return k8c_make_error(err, K8C_EINTERNAL, "invalid --service-node-port-range %s",
                                      srv->cfg.service_node_port_range);
        struct used u = { 0 };
        int r = scan(srv, ns, name, &u, err);
        if (r < 0)
                return r;

        if (strcmp(type, "ExternalName") == 0) {
                json_object_del(spec, "clusterIP");
                json_object_del(spec, "clusterIPs");
        } else {
                const char *ip = json_string_value(json_object_get(spec, "clusterIP"));
                if ((ip == NULL || ip[0] == '\0') && ospec != NULL)
                        ip = json_string_value(json_object_get(ospec, "clusterIP"));
                char chosen[INET_ADDRSTRLEN] = "";
                if (ip != NULL && strcmp(ip, "None") == 0) {
                        snprintf(chosen, sizeof(chosen), "None");
                } else if (ip != NULL && ip[0] != '\0') {
                        struct in_addr a;
                        bool is_kube = ns != NULL && name != NULL && strcmp(ns, "default") == 0 &&
                                       strcmp(name, "kubernetes") == 0;
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
                                else if (ip_used(&u, v) && (oip == NULL || strcmp(oip, ip) != 0))
                                        k8c_field_error(
                                                errs, "FieldValueInvalid", "spec.clusterIPs",
                                                "Invalid value: []string{\"%s\"}: failed to allocate IP "
                                                "%s: provided IP is already allocated",
                                                ip, ip);
                                else
                                        snprintf(chosen, sizeof(chosen), "%s", ip);
                        }
                } else {
                        bool is_kube = ns != NULL && name != NULL && strcmp(ns, "default") == 0 &&
                                       strcmp(name, "kubernetes") == 0;
                        uint32_t first = is_kube ? base + 1 : base + 2;
                        for (uint32_t v = first; v < base + size - 1; v++)
                                if (!ip_used(&u, v)) {
                                        ip_str(v, chosen);
                                        break;
                                }
                        if (chosen[0] == '\0')
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
                size_t i;
                json_t *p;
                json_array_foreach(json_object_get(spec, "ports"), i, p)
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
                                if (np < plo || np > phi)
                                        k8c_field_error(
                                                errs, "FieldValueInvalid", fld,
                                                "Invalid value: %lld: provided port is not in the valid "
                                                "range. The range of valid ports is %s",
                                                (long long)np, srv->cfg.service_node_port_range);
                                else if (port_used(&u, (int)np) && np != oldnp)
                                        k8c_field_error(
                                                errs, "FieldValueInvalid", fld,
                                                "Invalid value: %lld: provided port is already allocated",
                                                (long long)np);
                        } else {
                                for (int v = plo; v <= phi; v++)
                                        if (!port_used(&u, v)) {
                                                np = v;
                                                break;
                                        }
                        }
                        if (np != 0) {
                                json_object_set_new(p, "nodePort", json_integer(np));
                                u.ports = k8c_xrealloc(u.ports, (u.nports + 1) * sizeof(*u.ports));
                                u.ports[u.nports++] = (int)np;
                        }
                }
        }
        used_free(&u);
        return 0;
}

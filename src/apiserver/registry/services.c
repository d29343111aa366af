/*
 * services.c - core/v1 Service: SetDefaults_Service, ip family fields, keeping allocated
 * clusterIP/nodePorts across updates that omit them, ValidateService (ports, type,
 * clusterIP format, selector), clusterIP immutability, and printService's row.
 * ClusterIP and NodePort allocation needs the set of used values, so it belongs to the
 * REST code (with ctx->service_cluster_ip_range / service_node_port_range), not here.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"
#include "k8c/names.h"

static const char *const svc_short_names[] = { "svc", NULL };
static const char *const svc_categories[] = { "all", NULL };
static const char *const svc_field_selectors[] = { "spec.clusterIP", "spec.type", NULL };
static const char *const svc_types[] = { "ClusterIP", "ExternalName", "LoadBalancer", "NodePort", NULL };
static const char *const svc_affinities[] = { "ClientIP", "None", NULL };
static const char *const svc_protocols[] = { "SCTP", "TCP", "UDP", NULL };
static const char *const svc_traffic_policies[] = { "Cluster", "Local", NULL };

static bool externally_accessible(const json_t *spec)
{
        const char *type = k8c_reg_str0(spec, "type");
        return strcmp(type, "LoadBalancer") == 0 || strcmp(type, "NodePort") == 0 ||
               (strcmp(type, "ClusterIP") == 0 && json_array_size(k8c_reg_arr(spec, "externalIPs")) > 0);
}

static void svc_set_defaults(json_t *obj)
{
        json_t *spec = k8c_reg_ensure(obj, "spec");
        if (spec == NULL)
                return;
        k8c_reg_default_str(spec, "sessionAffinity", "None");
        const char *aff = k8c_reg_str0(spec, "sessionAffinity");
        if (strcmp(aff, "None") == 0) {
                json_object_del(spec, "sessionAffinityConfig");
        } else if (strcmp(aff, "ClientIP") == 0) {
                json_t *cfg = k8c_reg_ensure(spec, "sessionAffinityConfig");
                json_t *cip = k8c_reg_ensure(cfg, "clientIP");
                k8c_reg_default_int(cip, "timeoutSeconds", 10800);
        }
        k8c_reg_default_str(spec, "type", "ClusterIP");
        size_t i;
        json_t *p;
        json_array_foreach(k8c_reg_arr(spec, "ports"), i, p)
        {
                k8c_reg_default_str(p, "protocol", "TCP");
                json_t *tp = k8c_reg_get(p, "targetPort");
                if (tp == NULL || (json_is_integer(tp) && json_integer_value(tp) == 0) ||
                    (json_is_string(tp) && json_string_length(tp) == 0)) {
                        json_t *port = k8c_reg_get(p, "port");
                        if (port != NULL)
                                json_object_set(p, "targetPort", port);
                }
        }
        const char *type = k8c_reg_str0(spec, "type");
        if (externally_accessible(spec))
                k8c_reg_default_str(spec, "externalTrafficPolicy", "Cluster");
        if (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0 ||
            strcmp(type, "ClusterIP") == 0)
                k8c_reg_default_str(spec, "internalTrafficPolicy", "Cluster");
        if (strcmp(type, "LoadBalancer") == 0)
                k8c_reg_default_bool(spec, "allocateLoadBalancerNodePorts", true);
}

/* clusterIPs mirrors clusterIP; a single-stack IPv4 cluster gives every non-ExternalName service
 * ipFamilyPolicy SingleStack and ipFamilies [IPv4], as kube-apiserver 1.32 does. */
static void svc_ip_fields(json_t *spec)
{
        const char *type = k8c_reg_str0(spec, "type");
        if (strcmp(type, "ExternalName") == 0)
                return;
        const char *cip = k8c_reg_str(spec, "clusterIP");
        if (cip != NULL && cip[0] != '\0' && json_array_size(k8c_reg_arr(spec, "clusterIPs")) == 0)
                json_object_set_new(spec, "clusterIPs", json_pack("[s]", cip));
        k8c_reg_default_str(spec, "ipFamilyPolicy", "SingleStack");
        if (json_array_size(k8c_reg_arr(spec, "ipFamilies")) == 0)
                json_object_set_new(spec, "ipFamilies", json_pack("[s]", "IPv4"));
}

static void svc_prepare_create(json_t *obj, const struct k8c_registry_ctx *ctx)
{
        json_object_set_new(obj, "status", json_pack("{s:{}}", "loadBalancer"));
        svc_ip_fields(k8c_reg_obj(obj, "spec"));
}

static bool needs_cluster_ip(const json_t *spec)
{
        return strcmp(k8c_reg_str0(spec, "type"), "ExternalName") != 0;
}

static bool same_value(const json_t *a, const json_t *b, const char *key)
{
        json_t *x = k8c_reg_get(a, key), *y = k8c_reg_get(b, key);
        return (x == NULL && y == NULL) || (x != NULL && y != NULL && json_equal(x, y));
}

/* dropTypeDependentFields: a type change that no longer needs allocated values drops the ones the
 * user did not change (NodePort → ClusterIP loses its nodePorts, anything → ExternalName its IPs). */
static void drop_type_dependent(json_t *spec, const json_t *ospec)
{
        const char *type = k8c_reg_str0(spec, "type");
        if (!needs_cluster_ip(spec) && same_value(spec, ospec, "clusterIP") &&
            same_value(spec, ospec, "clusterIPs")) {
                json_object_del(spec, "clusterIP");
                json_object_del(spec, "clusterIPs");
        }
        if (!needs_cluster_ip(spec) && same_value(spec, ospec, "ipFamilies"))
                json_object_del(spec, "ipFamilies");
        if (!needs_cluster_ip(spec) && same_value(spec, ospec, "ipFamilyPolicy"))
                json_object_del(spec, "ipFamilyPolicy");
        bool needs_node_ports = strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0;
        if (!needs_node_ports) {
                size_t i, j;
                json_t *p, *op;
                json_array_foreach(k8c_reg_arr(spec, "ports"), i, p)
                {
                        json_int_t np = k8c_reg_int(p, "nodePort", 0);
                        json_array_foreach(k8c_reg_arr(ospec, "ports"), j, op)
                        {
                                if (np != 0 && k8c_reg_int(op, "nodePort", 0) == np) {
                                        json_object_del(p, "nodePort");
                                        break;
                                }
                        }
                }
        }
        if (strcmp(type, "LoadBalancer") != 0) {
                if (same_value(spec, ospec, "allocateLoadBalancerNodePorts"))
                        json_object_del(spec, "allocateLoadBalancerNodePorts");
                if (same_value(spec, ospec, "loadBalancerClass"))
                        json_object_del(spec, "loadBalancerClass");
                if (same_value(spec, ospec, "healthCheckNodePort"))
                        json_object_del(spec, "healthCheckNodePort");
        }
        if (!externally_accessible(spec) && same_value(spec, ospec, "externalTrafficPolicy"))
                json_object_del(spec, "externalTrafficPolicy");
        if (strcmp(type, "ExternalName") == 0 && same_value(spec, ospec, "internalTrafficPolicy"))
                json_object_del(spec, "internalTrafficPolicy");
}

static void svc_prepare_update(json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx)
{
        k8c_reg_keep_old(obj, old, "status");
        json_t *spec = k8c_reg_obj(obj, "spec");
        json_t *ospec = k8c_reg_obj(old, "spec");
        if (spec == NULL || ospec == NULL)
                return;
        drop_type_dependent(spec, ospec);
        /* patchAllocatedValues: an update that omits allocated values (kubectl apply of the original
         * manifest) keeps them. */
        if (needs_cluster_ip(ospec) && needs_cluster_ip(spec) && k8c_reg_str0(spec, "clusterIP")[0] == '\0') {
                k8c_reg_keep_old(spec, ospec, "clusterIP");
                if (json_array_size(k8c_reg_arr(spec, "clusterIPs")) == 0)
                        k8c_reg_keep_old(spec, ospec, "clusterIPs");
        }
        const char *type = k8c_reg_str0(spec, "type");
        if (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0) {
                size_t i, j;
                json_t *p, *op;
                json_array_foreach(k8c_reg_arr(spec, "ports"), i, p)
                {
                        if (k8c_reg_int(p, "nodePort", 0) != 0)
                                continue;
                        json_array_foreach(k8c_reg_arr(ospec, "ports"), j, op)
                        {
                                if (k8c_reg_int(op, "port", -1) == k8c_reg_int(p, "port", -2) &&
                                    strcmp(k8c_reg_str0(op, "protocol"), k8c_reg_str0(p, "protocol")) == 0 &&
                                    k8c_reg_int(op, "nodePort", 0) != 0) {
                                        json_object_set_new(p, "nodePort",
                                                            json_integer(k8c_reg_int(op, "nodePort", 0)));
                                        break;
                                }
                        }
                }
        }
        svc_ip_fields(spec);
}

static void validate_svc_port(const json_t *p, size_t i, size_t nports, const char *type, json_t *names,
                              struct k8c_field_errors *errs)
{
        cleanup_free char *base = k8c_xasprintf("spec.ports[%zu]", i);
        cleanup_free char *np = k8c_xasprintf("%s.name", base);
        const char *name = k8c_reg_str0(p, "name");
        char *msgs[2];
        if (nports > 1 && name[0] == '\0') {
                k8c_field_required(errs, np, "");
        } else if (name[0] != '\0') {
                size_t n = k8c_dns1123_label_errors(name, msgs);
                for (size_t k = 0; k < n; k++) {
                        k8c_field_invalid_str(errs, np, name, msgs[k]);
                        free(msgs[k]);
                }
                if (n == 0 && json_object_get(names, name) != NULL)
                        k8c_field_duplicate_str(errs, np, name);
                json_object_set_new(names, name, json_true());
        }
        cleanup_free char *pp = k8c_xasprintf("%s.port", base);
        json_int_t port = k8c_reg_int(p, "port", 0);
        if (port < 1 || port > 65535)
                k8c_field_invalid_int(errs, pp, port, "must be between 1 and 65535, inclusive");
        cleanup_free char *prp = k8c_xasprintf("%s.protocol", base);
        const char *proto = k8c_reg_str0(p, "protocol");
        if (proto[0] == '\0')
                k8c_field_required(errs, prp, "");
        else if (!(strcmp(proto, "TCP") == 0 || strcmp(proto, "UDP") == 0 || strcmp(proto, "SCTP") == 0))
                k8c_field_not_supported(errs, prp, proto, svc_protocols);
        cleanup_free char *tpp = k8c_xasprintf("%s.targetPort", base);
        json_t *tp = k8c_reg_get(p, "targetPort");
        if (json_is_integer(tp)) {
                json_int_t v = json_integer_value(tp);
                if (v < 1 || v > 65535)
                        k8c_field_invalid_int(errs, tpp, v, "must be between 1 and 65535, inclusive");
        } else if (json_is_string(tp)) {
                const char *s = json_string_value(tp);
                size_t len = strlen(s);
                bool letter = false, charset = len > 0;
                for (size_t k = 0; k < len; k++) {
                        if (s[k] >= 'a' && s[k] <= 'z')
                                letter = true;
                        else if (!((s[k] >= '0' && s[k] <= '9') || s[k] == '-'))
                                charset = false;
                }
                if (len > 15)
                        k8c_field_invalid_str(errs, tpp, s, "must be no more than 15 characters");
                if (!charset)
                        k8c_field_invalid_str(
                                errs, tpp, s,
                                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
                if (!letter)
                        k8c_field_invalid_str(errs, tpp, s, "must contain at least one letter (a-z)");
        }
}

/* ip inside cidr ("10.96.0.0/12"); false when either does not parse. */
static bool ip_in_cidr(const char *ip, const char *cidr)
{
        cleanup_free char *net = k8c_xstrdup(cidr);
        char *slash = strchr(net, '/');
        if (slash == NULL)
                return false;
        *slash = '\0';
        long bits = strtol(slash + 1, NULL, 10);
        unsigned char a[16], b[16];
        int fam = strchr(net, ':') != NULL ? AF_INET6 : AF_INET;
        if (inet_pton(fam, net, a) != 1 || inet_pton(fam, ip, b) != 1)
                return false;
        long max = fam == AF_INET ? 32 : 128;
        if (bits < 0 || bits > max)
                return false;
        for (long i = 0; i < bits; i++) {
                int byte = (int)(i / 8), bit = 7 - (int)(i % 8);
                if (((a[byte] >> bit) & 1) != ((b[byte] >> bit) & 1))
                        return false;
        }
        return true;
}

/* The allocators' range checks, reported as kube-apiserver's service REST code does. */
static void validate_ranges(const json_t *spec, const struct k8c_registry_ctx *ctx,
                            struct k8c_field_errors *errs)
{
        const char *cip = k8c_reg_str0(spec, "clusterIP");
        if (ctx->service_cluster_ip_range != NULL && k8c_is_ip(cip) &&
            !ip_in_cidr(cip, ctx->service_cluster_ip_range)) {
                cleanup_free char *q = k8c_go_quote(cip);
                cleanup_free char *raw = k8c_xasprintf("[]string{%s}", q);
                cleanup_free char *detail = k8c_xasprintf("failed to allocate IP %s: provided IP is not in "
                                                          "the valid range. The range of valid IPs is %s",
                                                          cip, ctx->service_cluster_ip_range);
                k8c_field_invalid_raw(errs, "spec.clusterIPs", raw, detail);
        }
        long lo = 0, hi = 0;
        if (ctx->service_node_port_range == NULL ||
            sscanf(ctx->service_node_port_range, "%ld-%ld", &lo, &hi) != 2)
                return;
        size_t i;
        json_t *p;
        json_array_foreach(k8c_reg_arr(spec, "ports"), i, p)
        {
                json_int_t np = k8c_reg_int(p, "nodePort", 0);
                if (np == 0 || (np >= lo && np <= hi))
                        continue;
                cleanup_free char *f = k8c_xasprintf("spec.ports[%zu].nodePort", i);
                cleanup_free char *detail = k8c_xasprintf(
                        "provided port is not in the valid range. The range of valid ports is %s",
                        ctx->service_node_port_range);
                k8c_field_invalid_int(errs, f, np, detail);
        }
}

static bool is_headless(const json_t *spec)
{
        return strcmp(k8c_reg_str0(spec, "clusterIP"), "None") == 0;
}

static void svc_validate(const json_t *obj, const struct k8c_registry_ctx *ctx, struct k8c_field_errors *errs)
{
        /* ValidateService's order: metadata, ports required, type-specific rules, each port,
         * selector, session affinity, cluster IPs, external IPs, type, ClusterIP nodePorts,
         * duplicate nodePorts and ports, traffic policies. */
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_DNS1035, errs);
        json_t *spec = k8c_reg_obj(obj, "spec");
        const char *type = k8c_reg_str0(spec, "type");
        json_t *ports = k8c_reg_arr(spec, "ports");
        size_t i;
        json_t *p;
        if (json_array_size(ports) == 0 && !is_headless(spec) && strcmp(type, "ExternalName") != 0)
                k8c_field_required(errs, "spec.ports", "");
        if (strcmp(type, "LoadBalancer") == 0 || strcmp(type, "NodePort") == 0) {
                json_array_foreach(ports, i, p)
                {
                        if (strcmp(type, "LoadBalancer") == 0 && k8c_reg_int(p, "port", 0) == 10250) {
                                cleanup_free char *f = k8c_xasprintf("spec.ports[%zu]", i);
                                k8c_field_invalid_int(errs, f, 10250,
                                                      "may not expose port 10250 externally since it "
                                                      "is used by kubelet");
                        }
                }
                if (is_headless(spec)) {
                        cleanup_free char *d =
                                k8c_xasprintf("may not be set to 'None' for %s services", type);
                        k8c_field_invalid_str(errs, "spec.clusterIPs[0]", "None", d);
                }
        } else if (strcmp(type, "ExternalName") == 0) {
                if (k8c_reg_str0(spec, "clusterIP")[0] != '\0' ||
                    json_array_size(k8c_reg_arr(spec, "clusterIPs")) > 0)
                        k8c_field_forbidden(errs, "spec.clusterIPs",
                                            "may not be set for ExternalName services");
                if (json_array_size(k8c_reg_arr(spec, "ipFamilies")) > 0)
                        k8c_field_forbidden(errs, "spec.ipFamilies",
                                            "may not be set for ExternalName services");
                if (k8c_reg_has(spec, "ipFamilyPolicy"))
                        k8c_field_forbidden(errs, "spec.ipFamilyPolicy",
                                            "may not be set for ExternalName services");
                /* The CNAME may end in a dot (fully qualified). */
                cleanup_free char *cname = k8c_xstrdup(k8c_reg_str0(spec, "externalName"));
                size_t len = strlen(cname);
                if (len > 0 && cname[len - 1] == '.')
                        cname[len - 1] = '\0';
                if (cname[0] == '\0') {
                        k8c_field_required(errs, "spec.externalName", "");
                } else {
                        char *msgs[2];
                        size_t n = k8c_dns1123_subdomain_errors(cname, msgs);
                        for (size_t k = 0; k < n; k++) {
                                k8c_field_invalid_str(errs, "spec.externalName", cname, msgs[k]);
                                free(msgs[k]);
                        }
                }
        }

        json_auto_t *names = json_object();
        json_array_foreach(ports, i, p) validate_svc_port(p, i, json_array_size(ports), type, names, errs);

        k8c_validate_labels_at(k8c_reg_get(spec, "selector"), "spec.selector", errs);

        const char *aff = k8c_reg_str0(spec, "sessionAffinity");
        if (aff[0] == '\0')
                k8c_field_required(errs, "spec.sessionAffinity", "");
        else if (strcmp(aff, "None") != 0 && strcmp(aff, "ClientIP") != 0)
                k8c_field_not_supported(errs, "spec.sessionAffinity", aff, svc_affinities);
        if (strcmp(aff, "ClientIP") == 0) {
                json_t *t = k8c_reg_path(spec, "sessionAffinityConfig.clientIP.timeoutSeconds");
                if (!json_is_integer(t))
                        k8c_field_required(errs, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", "");
                else if (json_integer_value(t) < 1 || json_integer_value(t) > 86400)
                        k8c_field_invalid_int(errs, "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                                              json_integer_value(t),
                                              "must be greater than 0 and less than 86400");
        } else if (strcmp(aff, "None") == 0 && k8c_reg_has(spec, "sessionAffinityConfig")) {
                k8c_field_forbidden(errs, "spec.sessionAffinityConfig",
                                    "must not be set when session affinity is None");
        }

        /* ValidateServiceClusterIPsRelatedFields (single stack). */
        const char *cip = k8c_reg_str0(spec, "clusterIP");
        json_t *cips = k8c_reg_arr(spec, "clusterIPs");
        const char *cip0 = json_string_value(json_array_get(cips, 0));
        if (cip0 != NULL && strcmp(cip0, cip) != 0)
                k8c_field_invalid_str(errs, "spec.clusterIPs", cip0, "first value must match `clusterIP`");
        if (cip[0] != '\0' && strcmp(cip, "None") != 0 && !k8c_is_ip(cip))
                k8c_field_invalid_str(errs, "spec.clusterIPs[0]", cip,
                                      "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");

        json_t *eip;
        json_array_foreach(k8c_reg_arr(spec, "externalIPs"), i, eip)
        {
                const char *s = json_string_value(eip);
                if (!k8c_is_ip(s)) {
                        cleanup_free char *f = k8c_xasprintf("spec.externalIPs[%zu]", i);
                        k8c_field_invalid_str(
                                errs, f, s != NULL ? s : "",
                                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
                }
        }

        if (type[0] == '\0')
                k8c_field_required(errs, "spec.type", "");
        else if (!(strcmp(type, "ClusterIP") == 0 || strcmp(type, "NodePort") == 0 ||
                   strcmp(type, "LoadBalancer") == 0 || strcmp(type, "ExternalName") == 0))
                k8c_field_not_supported(errs, "spec.type", type, svc_types);
        if (strcmp(type, "ClusterIP") == 0) {
                json_array_foreach(ports, i, p)
                {
                        if (k8c_reg_int(p, "nodePort", 0) != 0) {
                                cleanup_free char *f = k8c_xasprintf("spec.ports[%zu].nodePort", i);
                                k8c_field_forbidden(errs, f, "may not be used when `type` is 'ClusterIP'");
                        }
                }
        }
        /* Duplicate (protocol, nodePort) and (protocol, port) pairs. */
        json_array_foreach(ports, i, p)
        {
                size_t j;
                json_t *q;
                json_int_t np = k8c_reg_int(p, "nodePort", 0);
                json_int_t port = k8c_reg_int(p, "port", 0);
                const char *proto = k8c_reg_str0(p, "protocol");
                bool dup_np = false, dup_port = false;
                for (j = 0; j < i; j++) {
                        q = json_array_get(ports, j);
                        bool same_proto = strcmp(k8c_reg_str0(q, "protocol"), proto) == 0;
                        dup_np = dup_np || (np != 0 && same_proto && k8c_reg_int(q, "nodePort", 0) == np);
                        dup_port = dup_port || (same_proto && k8c_reg_int(q, "port", 0) == port);
                }
                if (dup_np) {
                        cleanup_free char *f = k8c_xasprintf("spec.ports[%zu].nodePort", i);
                        k8c_field_duplicate_int(errs, f, np);
                }
                if (dup_port) {
                        cleanup_free char *f = k8c_xasprintf("spec.ports[%zu]", i);
                        cleanup_free char *qp = k8c_go_quote(proto);
                        k8c_field_error(errs, "FieldValueDuplicate", f,
                                        "Duplicate value: core.ServicePort{Name:\"\", Protocol:%s, "
                                        "AppProtocol:(*string)(nil), "
                                        "Port:%" JSON_INTEGER_FORMAT
                                        ", TargetPort:intstr.IntOrString{Type:0, IntVal:0, "
                                        "StrVal:\"\"}, NodePort:0}",
                                        qp, port);
                }
        }
        const char *etp = k8c_reg_str(spec, "externalTrafficPolicy");
        if (etp != NULL && etp[0] != '\0') {
                if (!externally_accessible(spec))
                        k8c_field_invalid_str(errs, "spec.externalTrafficPolicy", etp,
                                              "may only be set for externally-accessible services");
                else if (strcmp(etp, "Cluster") != 0 && strcmp(etp, "Local") != 0)
                        k8c_field_not_supported(errs, "spec.externalTrafficPolicy", etp,
                                                svc_traffic_policies);
        } else if (externally_accessible(spec)) {
                k8c_field_required(errs, "spec.externalTrafficPolicy", "");
        }
        const char *itp = k8c_reg_str(spec, "internalTrafficPolicy");
        if (itp != NULL && strcmp(itp, "Cluster") != 0 && strcmp(itp, "Local") != 0)
                k8c_field_not_supported(errs, "spec.internalTrafficPolicy", itp, svc_traffic_policies);
        if (k8c_field_errors_count(errs) == 0)
                validate_ranges(spec, ctx, errs);
}

static void svc_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                                struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_update(obj, old, errs);
        json_t *spec = k8c_reg_obj(obj, "spec");
        json_t *ospec = k8c_reg_obj(old, "spec");
        /* validateUpgradeDowngradeClusterIPs (single stack: only the primary IP). */
        if (!needs_cluster_ip(spec) || !needs_cluster_ip(ospec))
                return;
        const char *oip = k8c_reg_str0(ospec, "clusterIP");
        const char *nip = k8c_reg_str0(spec, "clusterIP");
        if (strcmp(oip, "None") == 0 && strcmp(nip, "None") == 0)
                return;
        if (oip[0] != '\0' && strcmp(oip, nip) != 0) {
                json_t *cips = k8c_reg_arr(spec, "clusterIPs");
                cleanup_free char *raw = NULL;
                if (json_array_size(cips) == 0) {
                        raw = k8c_xstrdup("[]string(nil)");
                        k8c_field_invalid_raw(errs, "spec.clusterIPs[0]", raw,
                                              "primary clusterIP can not be unset");
                        return;
                }
                raw = k8c_xstrdup("[]string{");
                size_t i;
                json_t *ip;
                json_array_foreach(cips, i, ip)
                {
                        cleanup_free char *q =
                                k8c_go_quote(json_string_value(ip) ? json_string_value(ip) : "");
                        char *next = k8c_xasprintf("%s%s%s", raw, i > 0 ? ", " : "", q);
                        free(raw);
                        raw = next;
                }
                char *next = k8c_xasprintf("%s}", raw);
                free(raw);
                raw = next;
                k8c_field_invalid_raw(errs, "spec.clusterIPs[0]", raw, "may not change once set");
        }
}

static const struct k8c_table_column svc_columns[] = {
        K8C_COL_NAME,
        { "Type", "string", "", 0,
          "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
          "ExternalName, "
          "ClusterIP, NodePort, and LoadBalancer." },
        { "Cluster-IP", "string", "", 0,
          "clusterIP is the IP address of the service and is usually assigned randomly." },
        { "External-IP", "string", "", 0,
          "externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
          "traffic for "
          "this service." },
        { "Port(s)", "string", "", 0, "The list of ports that are exposed by this service." },
        K8C_COL_AGE,
        { "Selector", "string", "", 1,
          "Route service traffic to pods with label keys and values matching this selector." },
        K8C_COL_END,
};

static void svc_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        json_t *spec = k8c_reg_obj(obj, "spec");
        const char *type = k8c_reg_str0(spec, "type");
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "metadata.name") ?: ""));
        json_array_append_new(cells, json_string(type));
        json_t *cips = k8c_reg_arr(spec, "clusterIPs");
        const char *cip = json_string_value(json_array_get(cips, 0));
        json_array_append_new(cells, json_string(cip != NULL ? cip : "<none>"));

        /* getServiceExternalIP */
        cleanup_free char *ext = NULL;
        json_t *eips = k8c_reg_arr(spec, "externalIPs");
        cleanup_free char *eip_list = k8c_xstrdup("");
        size_t i;
        json_t *e;
        json_array_foreach(eips, i, e)
        {
                char *next = k8c_xasprintf("%s%s%s", eip_list, i > 0 ? "," : "", json_string_value(e) ?: "");
                free(eip_list);
                eip_list = next;
        }
        if (strcmp(type, "ClusterIP") == 0 || strcmp(type, "NodePort") == 0) {
                ext = k8c_xstrdup(json_array_size(eips) > 0 ? eip_list : "<none>");
        } else if (strcmp(type, "LoadBalancer") == 0) {
                cleanup_free char *lb = k8c_xstrdup("");
                json_t *ing;
                json_array_foreach(k8c_reg_arr(k8c_reg_path(obj, "status.loadBalancer"), "ingress"), i, ing)
                {
                        const char *v = k8c_reg_str0(ing, "ip");
                        if (v[0] == '\0')
                                v = k8c_reg_str0(ing, "hostname");
                        if (v[0] == '\0')
                                continue;
                        char *next = k8c_xasprintf("%s%s%s", lb, lb[0] != '\0' ? "," : "", v);
                        free(lb);
                        lb = next;
                }
                if (json_array_size(eips) > 0)
                        ext = lb[0] != '\0' ? k8c_xasprintf("%s,%s", lb, eip_list) : k8c_xstrdup(eip_list);
                else
                        ext = k8c_xstrdup(lb[0] != '\0' ? lb : "<pending>");
        } else if (strcmp(type, "ExternalName") == 0) {
                ext = k8c_xstrdup(k8c_reg_str0(spec, "externalName"));
        } else {
                ext = k8c_xstrdup("<unknown>");
        }
        json_array_append_new(cells, json_string(ext));

        cleanup_free char *ports = k8c_xstrdup("");
        json_t *p;
        json_array_foreach(k8c_reg_arr(spec, "ports"), i, p)
        {
                json_int_t np = k8c_reg_int(p, "nodePort", 0);
                char *piece =
                        np > 0 ? k8c_xasprintf("%" JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT "/%s",
                                               k8c_reg_int(p, "port", 0), np, k8c_reg_str0(p, "protocol"))
                               : k8c_xasprintf("%" JSON_INTEGER_FORMAT "/%s", k8c_reg_int(p, "port", 0),
                                               k8c_reg_str0(p, "protocol"));
                char *next = k8c_xasprintf("%s%s%s", ports, i > 0 ? "," : "", piece);
                free(piece);
                free(ports);
                ports = next;
        }
        json_array_append_new(cells, json_string(ports[0] != '\0' ? ports : "<none>"));
        k8c_table_age_cell(obj, ctx, cells);
        cleanup_free char *sel = k8c_format_labels(k8c_reg_get(spec, "selector"));
        json_array_append_new(cells, json_string(sel));
}

const struct k8c_resource k8c_resource_services = {
        .group = "",
        .version = "v1",
        .kind = "Service",
        .list_kind = "ServiceList",
        .plural = "services",
        .singular = "service",
        .short_names = svc_short_names,
        .categories = svc_categories,
        .namespaced = true,
        .has_status = true,
        .field_selectors = svc_field_selectors,
        .set_defaults = svc_set_defaults,
        .prepare_create = svc_prepare_create,
        .prepare_update = svc_prepare_update,
        .validate = svc_validate,
        .validate_update = svc_validate_update,
        .columns = svc_columns,
        .table_row = svc_table_row,
};

/*
 * endpoints.c - core/v1 Endpoints: port protocol default, ValidateEndpoints (address
 * IPs, port names/numbers/protocols), and printEndpoints' row ("10.0.0.1:80,... + N more...").
 * Written by the endpoints controller; nothing here knows about Services.
 */
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"
#include "k8c/names.h"

static const char *const ep_short_names[] = { "ep", NULL };
static const char *const protocols[] = { "SCTP", "TCP", "UDP", NULL };

static void ep_set_defaults(json_t *obj)
{
        size_t i, j;
        json_t *ss, *p;
        json_array_foreach(k8c_reg_arr(obj, "subsets"), i, ss)
        {
                json_array_foreach(k8c_reg_arr(ss, "ports"), j, p) k8c_reg_default_str(p, "protocol", "TCP");
        }
}

static void validate_addresses(const json_t *addrs, const char *path, struct k8c_field_errors *errs)
{
        size_t i;
        json_t *a;
        json_array_foreach(addrs, i, a)
        {
                const char *ip = k8c_reg_str0(a, "ip");
                if (!k8c_is_ip(ip)) {
                        cleanup_free char *f = k8c_xasprintf("%s[%zu].ip", path, i);
                        k8c_field_invalid_str(
                                errs, f, ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
                }
                const char *node = k8c_reg_str0(a, "nodeName");
                if (node[0] != '\0') {
                        char *msgs[2];
                        size_t n = k8c_dns1123_subdomain_errors(node, msgs);
                        cleanup_free char *f = k8c_xasprintf("%s[%zu].nodeName", path, i);
                        for (size_t k = 0; k < n; k++) {
                                k8c_field_invalid_str(errs, f, node, msgs[k]);
                                free(msgs[k]);
                        }
                }
        }
}

static void ep_validate(const json_t *obj, const struct k8c_registry_ctx *ctx, struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        size_t i;
        json_t *ss;
        json_array_foreach(k8c_reg_arr(obj, "subsets"), i, ss)
        {
                cleanup_free char *ap = k8c_xasprintf("subsets[%zu].addresses", i);
                cleanup_free char *nap = k8c_xasprintf("subsets[%zu].notReadyAddresses", i);
                validate_addresses(k8c_reg_arr(ss, "addresses"), ap, errs);
                validate_addresses(k8c_reg_arr(ss, "notReadyAddresses"), nap, errs);
                json_t *ports = k8c_reg_arr(ss, "ports");
                size_t j;
                json_t *p;
                json_array_foreach(ports, j, p)
                {
                        cleanup_free char *np = k8c_xasprintf("subsets[%zu].ports[%zu].name", i, j);
                        cleanup_free char *pp = k8c_xasprintf("subsets[%zu].ports[%zu].port", i, j);
                        cleanup_free char *prp = k8c_xasprintf("subsets[%zu].ports[%zu].protocol", i, j);
                        const char *name = k8c_reg_str0(p, "name");
                        if (json_array_size(ports) > 1 && name[0] == '\0') {
                                k8c_field_required(errs, np, "");
                        } else if (name[0] != '\0') {
                                char *msgs[2];
                                size_t n = k8c_dns1123_label_errors(name, msgs);
                                for (size_t k = 0; k < n; k++) {
                                        k8c_field_invalid_str(errs, np, name, msgs[k]);
                                        free(msgs[k]);
                                }
                        }
                        json_int_t port = k8c_reg_int(p, "port", 0);
                        if (port < 1 || port > 65535)
                                k8c_field_invalid_int(errs, pp, port,
                                                      "must be between 1 and 65535, inclusive");
                        const char *proto = k8c_reg_str0(p, "protocol");
                        if (proto[0] == '\0')
                                k8c_field_required(errs, prp, "");
                        else if (strcmp(proto, "TCP") != 0 && strcmp(proto, "UDP") != 0 &&
                                 strcmp(proto, "SCTP") != 0)
                                k8c_field_not_supported(errs, prp, proto, protocols);
                }
        }
}

static void ep_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                               struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_update(obj, old, errs);
}

static const struct k8c_table_column ep_columns[] = {
        K8C_COL_NAME,
        { "Endpoints", "string", "", 0,
          "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according "
          "to "
          "the IPs they share. A single address with multiple ports, some of which are ready and some of "
          "which "
          "are not (because they come from different containers) will result in the address being displayed "
          "in different subsets for the different ports. No address will appear in both Addresses and "
          "NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service." },
        K8C_COL_AGE,
        K8C_COL_END,
};

/* formatEndpoints(endpoints, nil): at most 3 "ip:port" entries, then " + N more...". */
static char *format_endpoints(const json_t *obj)
{
        json_t *subsets = k8c_reg_arr(obj, "subsets");
        if (json_array_size(subsets) == 0)
                return k8c_xstrdup("<none>");
        const size_t max = 3;
        size_t count = 0, listed = 0;
        bool more = false;
        char *out = k8c_xstrdup("");
        size_t i;
        json_t *ss;
        json_array_foreach(subsets, i, ss)
        {
                json_t *addrs = k8c_reg_arr(ss, "addresses");
                json_t *ports = k8c_reg_arr(ss, "ports");
                size_t nports = json_array_size(ports);
                for (size_t pi = 0; pi < (nports == 0 ? 1 : nports); pi++) {
                        json_t *port = json_array_get(ports, pi);
                        count += json_array_size(addrs);
                        size_t j;
                        json_t *a;
                        json_array_foreach(addrs, j, a)
                        {
                                if (listed == max) {
                                        more = true;
                                        break;
                                }
                                const char *ip = k8c_reg_str0(a, "ip");
                                char *entry;
                                if (nports == 0)
                                        entry = k8c_xstrdup(ip);
                                else if (strchr(ip, ':') != NULL)
                                        entry = k8c_xasprintf("[%s]:%" JSON_INTEGER_FORMAT, ip,
                                                              k8c_reg_int(port, "port", 0));
                                else
                                        entry = k8c_xasprintf("%s:%" JSON_INTEGER_FORMAT, ip,
                                                              k8c_reg_int(port, "port", 0));
                                char *next = k8c_xasprintf("%s%s%s", out, listed > 0 ? "," : "", entry);
                                free(entry);
                                free(out);
                                out = next;
                                listed++;
                        }
                }
        }
        if (more) {
                char *next = k8c_xasprintf("%s + %zu more...", out, count - max);
                free(out);
                return next;
        }
        return out;
}

static void ep_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        cleanup_free char *eps = format_endpoints(obj);
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "metadata.name") ?: ""));
        json_array_append_new(cells, json_string(eps));
        k8c_table_age_cell(obj, ctx, cells);
}

const struct k8c_resource k8c_resource_endpoints = {
        .group = "",
        .version = "v1",
        .kind = "Endpoints",
        .list_kind = "EndpointsList",
        .plural = "endpoints",
        .singular = "endpoints",
        .short_names = ep_short_names,
        .namespaced = true,
        .set_defaults = ep_set_defaults,
        .validate = ep_validate,
        .validate_update = ep_validate_update,
        .columns = ep_columns,
        .table_row = ep_table_row,
};

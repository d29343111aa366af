/*
 * endpointslices.c - discovery.k8s.io/v1 EndpointSlice: port defaults, validation of
 * addressType, endpoint addresses and ports, and printEndpointSlice's row
 * (AddressType, Ports, Endpoints with "<unset>" and " + N more...").
 */
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"

static const char *const address_types[] = { "FQDN", "IPv4", "IPv6", NULL };
static const char *const protocols[] = { "SCTP", "TCP", "UDP", NULL };

static void eps_set_defaults(json_t *obj)
{
        size_t i;
        json_t *p;
        json_array_foreach(k8c_reg_arr(obj, "ports"), i, p)
        {
                k8c_reg_default_str(p, "protocol", "TCP");
                k8c_reg_default_str(p, "name", "");
        }
}

static void eps_validate(const json_t *obj, const struct k8c_registry_ctx *ctx, struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        const char *at = k8c_reg_str0(obj, "addressType");
        bool ip_type = strcmp(at, "IPv4") == 0 || strcmp(at, "IPv6") == 0;
        if (at[0] == '\0')
                k8c_field_required(errs, "addressType", "");
        else if (!ip_type && strcmp(at, "FQDN") != 0)
                k8c_field_not_supported(errs, "addressType", at, address_types);
        size_t i;
        json_t *e;
        json_array_foreach(k8c_reg_arr(obj, "endpoints"), i, e)
        {
                json_t *addrs = k8c_reg_arr(e, "addresses");
                cleanup_free char *ap = k8c_xasprintf("endpoints[%zu].addresses", i);
                if (json_array_size(addrs) == 0) {
                        k8c_field_required(errs, ap, "must contain at least 1 address");
                } else if (json_array_size(addrs) > 100) {
                        k8c_field_error(errs, "FieldValueTooMany", ap,
                                        "Too many: %zu: must have at most 100 items", json_array_size(addrs));
                }
                size_t j;
                json_t *a;
                json_array_foreach(addrs, j, a)
                {
                        const char *s = json_string_value(a) ? json_string_value(a) : "";
                        bool ok = strcmp(at, "IPv4") == 0   ? (k8c_is_ip(s) && strchr(s, ':') == NULL)
                                  : strcmp(at, "IPv6") == 0 ? (k8c_is_ip(s) && strchr(s, ':') != NULL)
                                                            : true;
                        if (!ok) {
                                cleanup_free char *f = k8c_xasprintf("endpoints[%zu].addresses[%zu]", i, j);
                                k8c_field_invalid_str(errs, f, s,
                                                      strcmp(at, "IPv4") == 0
                                                              ? "must be a valid IPv4 address"
                                                              : "must be a valid IPv6 address");
                        }
                }
        }
        json_t *p;
        json_array_foreach(k8c_reg_arr(obj, "ports"), i, p)
        {
                json_t *port = k8c_reg_get(p, "port");
                if (json_is_integer(port) &&
                    (json_integer_value(port) < 1 || json_integer_value(port) > 65535)) {
                        cleanup_free char *f = k8c_xasprintf("ports[%zu].port", i);
                        k8c_field_invalid_int(errs, f, json_integer_value(port),
                                              "must be between 1 and 65535, inclusive");
                }
                const char *proto = k8c_reg_str0(p, "protocol");
                if (strcmp(proto, "TCP") != 0 && strcmp(proto, "UDP") != 0 && strcmp(proto, "SCTP") != 0) {
                        cleanup_free char *f = k8c_xasprintf("ports[%zu].protocol", i);
                        k8c_field_not_supported(errs, f, proto, protocols);
                }
        }
}

static void eps_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                                struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_update(obj, old, errs);
        const char *at = k8c_reg_str0(obj, "addressType");
        if (strcmp(at, k8c_reg_str0(old, "addressType")) != 0)
                k8c_field_invalid_str(errs, "addressType", at, "field is immutable");
}

static const struct k8c_table_column eps_columns[] = {
        K8C_COL_NAME,
        { "AddressType", "string", "", 0,
          "addressType specifies the type of address carried by this EndpointSlice. All addresses in this "
          "slice "
          "must be the same type. This field is immutable after creation. The following address types are "
          "currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * "
          "FQDN: Represents a Fully Qualified Domain Name." },
        { "Ports", "string", "", 0,
          "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must "
          "have a unique name. When ports is empty, it indicates that there are no defined ports. When a "
          "port "
          "is defined with a nil port value, it indicates \"all ports\". Each slice may include a maximum of "
          "100 ports." },
        { "Endpoints", "string", "", 0,
          "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 "
          "endpoints." },
        K8C_COL_AGE,
        K8C_COL_END,
};

/* listWithMoreString */
static char *list_with_more(char *list, bool more, size_t count, size_t max)
{
        if (more) {
                char *s = k8c_xasprintf("%s + %zu more...", list, count - max);
                free(list);
                return s;
        }
        if (list[0] == '\0') {
                free(list);
                return k8c_xstrdup("<unset>");
        }
        return list;
}

static void eps_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        const size_t max = 3;
        char *ports = k8c_xstrdup("");
        size_t listed = 0, count = 0;
        bool more = false;
        size_t i;
        json_t *p;
        json_array_foreach(k8c_reg_arr(obj, "ports"), i, p)
        {
                if (listed < max) {
                        json_t *port = k8c_reg_get(p, "port");
                        const char *name = k8c_reg_str(p, "name");
                        char *num = json_is_integer(port)
                                            ? k8c_xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(port))
                                    : name != NULL ? k8c_xstrdup(name)
                                                   : k8c_xstrdup("*");
                        char *next = k8c_xasprintf("%s%s%s", ports, listed > 0 ? "," : "", num);
                        free(num);
                        free(ports);
                        ports = next;
                        listed++;
                } else if (listed == max) {
                        more = true;
                }
                count++;
        }
        cleanup_free char *ports_cell = list_with_more(ports, more, count, max);

        char *eps = k8c_xstrdup("");
        listed = 0, count = 0, more = false;
        json_t *e;
        json_array_foreach(k8c_reg_arr(obj, "endpoints"), i, e)
        {
                size_t j;
                json_t *a;
                json_array_foreach(k8c_reg_arr(e, "addresses"), j, a)
                {
                        if (listed < max) {
                                char *next = k8c_xasprintf("%s%s%s", eps, listed > 0 ? "," : "",
                                                           json_string_value(a) ?: "");
                                free(eps);
                                eps = next;
                                listed++;
                        } else if (listed == max) {
                                more = true;
                        }
                        count++;
                }
        }
        cleanup_free char *eps_cell = list_with_more(eps, more, count, max);

        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "metadata.name") ?: ""));
        json_array_append_new(cells, json_string(k8c_reg_str0(obj, "addressType")));
        json_array_append_new(cells, json_string(ports_cell));
        json_array_append_new(cells, json_string(eps_cell));
        k8c_table_age_cell(obj, ctx, cells);
}

const struct k8c_resource k8c_resource_endpointslices = {
        .group = "discovery.k8s.io",
        .version = "v1",
        .kind = "EndpointSlice",
        .list_kind = "EndpointSliceList",
        .plural = "endpointslices",
        .singular = "endpointslice",
        .namespaced = true,
        .set_defaults = eps_set_defaults,
        .validate = eps_validate,
        .validate_update = eps_validate_update,
        .columns = eps_columns,
        .table_row = eps_table_row,
};

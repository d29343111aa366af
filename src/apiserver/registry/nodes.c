/*
 * nodes.c - core/v1 Node: allocatable defaults to capacity, status kept on main-resource
 * updates (kubelets write nodes/status), podCIDR immutability once set, taint checks,
 * and printNode's row (Ready/NotReady/Unknown, SchedulingDisabled, roles from labels).
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"

static const char *const node_short_names[] = { "no", NULL };
static const char *const node_field_selectors[] = { "spec.unschedulable", NULL };
static const char *const taint_effects[] = { "NoExecute", "NoSchedule", "PreferNoSchedule", NULL };

static void node_set_defaults(json_t *obj)
{
        /* v1 conversion keeps podCIDR and podCIDRs[0] in step. */
        json_t *spec = k8c_reg_obj(obj, "spec");
        const char *cidr = k8c_reg_str0(spec, "podCIDR");
        json_t *cidrs = k8c_reg_arr(spec, "podCIDRs");
        if (cidr[0] != '\0' && json_array_size(cidrs) == 0)
                json_object_set_new(spec, "podCIDRs", json_pack("[s]", cidr));
        else if (cidr[0] == '\0' && json_is_string(json_array_get(cidrs, 0)))
                json_object_set_new(spec, "podCIDR",
                                    json_string(json_string_value(json_array_get(cidrs, 0))));
        json_t *status = k8c_reg_obj(obj, "status");
        json_t *cap = k8c_reg_obj(status, "capacity");
        k8c_canonicalize_quantities(cap);
        k8c_canonicalize_quantities(k8c_reg_obj(status, "allocatable"));
        if (cap != NULL && !k8c_reg_has(status, "allocatable"))
                json_object_set_new(status, "allocatable", json_deep_copy(cap));
}

static void node_prepare_update(json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx)
{
        k8c_reg_keep_old(obj, old, "status");
}

static void node_validate(const json_t *obj, const struct k8c_registry_ctx *ctx,
                          struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, false, K8C_NAME_SUBDOMAIN, errs);
        size_t i;
        json_t *t;
        json_array_foreach(k8c_reg_arr(k8c_reg_obj(obj, "spec"), "taints"), i, t)
        {
                cleanup_free char *kp = k8c_xasprintf("spec.taints[%zu].key", i);
                cleanup_free char *ep = k8c_xasprintf("spec.taints[%zu].effect", i);
                const char *key = k8c_reg_str0(t, "key");
                if (key[0] == '\0')
                        k8c_field_required(errs, kp, "");
                const char *eff = k8c_reg_str0(t, "effect");
                if (eff[0] == '\0')
                        k8c_field_required(errs, ep, "");
                else if (strcmp(eff, "NoSchedule") != 0 && strcmp(eff, "PreferNoSchedule") != 0 &&
                         strcmp(eff, "NoExecute") != 0)
                        k8c_field_not_supported(errs, ep, eff, taint_effects);
        }
        const char *cidr = k8c_reg_path_str(obj, "spec.podCIDR");
        if (cidr != NULL && cidr[0] != '\0') {
                cleanup_free char *ip = k8c_xstrdup(cidr);
                char *slash = strchr(ip, '/');
                bool ok = slash != NULL;
                if (ok) {
                        *slash = '\0';
                        char *end = NULL;
                        long bits = strtol(slash + 1, &end, 10);
                        ok = k8c_is_ip(ip) && end != slash + 1 && *end == '\0' && bits >= 0 && bits <= 128;
                }
                if (!ok)
                        k8c_field_invalid_str(
                                errs, "spec.podCIDRs[0]", cidr,
                                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)");
        }
}

static void node_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                                 struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_update(obj, old, errs);
        /* Only the IPAM controller's first assignment ("" → CIDR) is allowed. */
        json_t *ocidrs = k8c_reg_path(old, "spec.podCIDRs");
        json_t *ncidrs = k8c_reg_path(obj, "spec.podCIDRs");
        const char *ocidr = k8c_reg_path_str(old, "spec.podCIDR");
        const char *ncidr = k8c_reg_path_str(obj, "spec.podCIDR");
        bool had = json_array_size(ocidrs) > 0 || (ocidr != NULL && ocidr[0] != '\0');
        bool same = (ocidrs == NULL ? ncidrs == NULL || json_array_size(ncidrs) == 0
                                    : ncidrs != NULL && json_equal(ocidrs, ncidrs)) &&
                    strcmp(ocidr != NULL ? ocidr : "", ncidr != NULL ? ncidr : "") == 0;
        if (had && !same)
                k8c_field_forbidden(errs, "spec.podCIDRs",
                                    "node updates may not change podCIDR except from \"\" to valid");
}

static const struct k8c_table_column node_columns[] = {
        K8C_COL_NAME,
        { "Status", "string", "", 0, "The status of the node" },
        { "Roles", "string", "", 0, "The roles of the node" },
        K8C_COL_AGE,
        { "Version", "string", "", 0, "Kubelet Version reported by the node." },
        { "Internal-IP", "string", "", 1,
          "List of addresses reachable to the node. Queried from cloud provider, if available." },
        { "External-IP", "string", "", 1,
          "List of addresses reachable to the node. Queried from cloud provider, if available." },
        { "OS-Image", "string", "", 1,
          "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))." },
        { "Kernel-Version", "string", "", 1,
          "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)." },
        { "Container-Runtime", "string", "", 1,
          "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
          "containerd://1.4.2)." },
        K8C_COL_END,
};

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *node_address(const json_t *status, const char *type)
{
        size_t i;
        json_t *a;
        json_array_foreach(k8c_reg_arr(status, "addresses"), i, a)
        {
                if (strcmp(k8c_reg_str0(a, "type"), type) == 0)
                        return k8c_reg_str0(a, "address");
        }
        return "<none>";
}

static void node_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        json_t *status = k8c_reg_obj(obj, "status");
        json_t *meta = k8c_reg_obj(obj, "metadata");
        cleanup_free char *st = NULL;
        size_t i;
        json_t *c;
        json_array_foreach(k8c_reg_arr(status, "conditions"), i, c)
        {
                if (strcmp(k8c_reg_str0(c, "type"), "Ready") == 0) {
                        free(st);
                        st = k8c_xstrdup(strcmp(k8c_reg_str0(c, "status"), "True") == 0 ? "Ready"
                                                                                        : "NotReady");
                }
        }
        if (st == NULL)
                st = k8c_xstrdup("Unknown");
        if (json_is_true(k8c_reg_path(obj, "spec.unschedulable"))) {
                char *next = k8c_xasprintf("%s,SchedulingDisabled", st);
                free(st);
                st = next;
        }

        /* findNodeRoles: node-role.kubernetes.io/<role> keys and kubernetes.io/role=<role>, sorted, unique.
         */
        json_t *labels = k8c_reg_obj(meta, "labels");
        size_t n = 0;
        char **roles = k8c_xcalloc(json_object_size(labels) + 1, sizeof(char *));
        const char *k;
        json_t *v;
        json_object_foreach(labels, k, v)
        {
                const char *role = NULL;
                if (strncmp(k, "node-role.kubernetes.io/", 24) == 0 && k[24] != '\0')
                        role = k + 24;
                else if (strcmp(k, "kubernetes.io/role") == 0 && json_string_value(v) != NULL &&
                         json_string_value(v)[0] != '\0')
                        role = json_string_value(v);
                if (role == NULL)
                        continue;
                bool dup = false;
                for (size_t j = 0; j < n; j++)
                        dup = dup || strcmp(roles[j], role) == 0;
                if (!dup)
                        roles[n++] = k8c_xstrdup(role);
        }
        qsort(roles, n, sizeof(char *), cmp_str);
        cleanup_free char *roles_str = k8c_xstrdup(n == 0 ? "<none>" : "");
        for (size_t j = 0; j < n; j++) {
                char *next = k8c_xasprintf("%s%s%s", roles_str, j > 0 ? "," : "", roles[j]);
                free(roles_str);
                roles_str = next;
        }
        k8c_strv_free(roles);

        json_t *info = k8c_reg_obj(status, "nodeInfo");
        json_array_append_new(cells, json_string(k8c_reg_str0(meta, "name")));
        json_array_append_new(cells, json_string(st));
        json_array_append_new(cells, json_string(roles_str));
        k8c_table_age_cell(obj, ctx, cells);
        json_array_append_new(cells, json_string(k8c_reg_str0(info, "kubeletVersion")));
        json_array_append_new(cells, json_string(node_address(status, "InternalIP")));
        json_array_append_new(cells, json_string(node_address(status, "ExternalIP")));
        static const char *const infos[] = { "osImage", "kernelVersion", "containerRuntimeVersion" };
        for (size_t j = 0; j < 3; j++) {
                const char *s = k8c_reg_str0(info, infos[j]);
                json_array_append_new(cells, json_string(s[0] != '\0' ? s : "<unknown>"));
        }
}

const struct k8c_resource k8c_resource_nodes = {
        .group = "",
        .version = "v1",
        .kind = "Node",
        .list_kind = "NodeList",
        .plural = "nodes",
        .singular = "node",
        .short_names = node_short_names,
        .namespaced = false,
        .has_status = true,
        .field_selectors = node_field_selectors,
        .set_defaults = node_set_defaults,
        .prepare_update = node_prepare_update,
        .validate = node_validate,
        .validate_update = node_validate_update,
        .columns = node_columns,
        .table_row = node_table_row,
};

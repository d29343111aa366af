/*
 * namespaces.c - core/v1 Namespace: the kubernetes.io/metadata.name label default,
 * status Active and the "kubernetes" finalizer on create, status and spec.finalizers
 * kept on main-resource updates, DNS-label names, and printNamespace's row.
 * Namespace deletion (Terminating, content removal) is the namespace controller's job.
 */
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"

static const char *const ns_short_names[] = { "ns", NULL };
static const char *const ns_field_selectors[] = { "status.phase", NULL };

static void ns_set_defaults(json_t *obj)
{
        json_t *meta = k8c_reg_ensure(obj, "metadata");
        const char *name = k8c_reg_str0(meta, "name");
        if (name[0] != '\0') {
                json_t *labels = k8c_reg_ensure(meta, "labels");
                json_object_set_new(labels, "kubernetes.io/metadata.name", json_string(name));
        }
}

static void ns_prepare_create(json_t *obj, const struct k8c_registry_ctx *ctx)
{
        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
        json_t *spec = k8c_reg_ensure(obj, "spec");
        json_t *fin = k8c_reg_arr(spec, "finalizers");
        if (fin == NULL) {
                fin = json_array();
                json_object_set_new(spec, "finalizers", fin);
        }
        size_t i;
        json_t *f;
        json_array_foreach(fin, i, f)
        {
                if (json_is_string(f) && strcmp(json_string_value(f), "kubernetes") == 0)
                        return;
        }
        json_array_append_new(fin, json_string("kubernetes"));
}

static void ns_prepare_update(json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx)
{
        k8c_reg_keep_old(obj, old, "status");
        json_t *spec = k8c_reg_ensure(obj, "spec");
        k8c_reg_keep_old(spec, k8c_reg_obj(old, "spec"), "finalizers");
}

static void ns_validate(const json_t *obj, const struct k8c_registry_ctx *ctx, struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, false, K8C_NAME_LABEL, errs);
}

static void ns_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                               struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_update(obj, old, errs);
}

static const struct k8c_table_column ns_columns[] = {
        K8C_COL_NAME,
        { "Status", "string", "", 0, "The status of the namespace" },
        K8C_COL_AGE,
        K8C_COL_END,
};

static void ns_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "metadata.name") ?: ""));
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "status.phase") ?: ""));
        k8c_table_age_cell(obj, ctx, cells);
}

const struct k8c_resource k8c_resource_namespaces = {
        .group = "",
        .version = "v1",
        .kind = "Namespace",
        .list_kind = "NamespaceList",
        .plural = "namespaces",
        .singular = "namespace",
        .short_names = ns_short_names,
        .namespaced = false,
        .has_status = true,
        .field_selectors = ns_field_selectors,
        .set_defaults = ns_set_defaults,
        .prepare_create = ns_prepare_create,
        .prepare_update = ns_prepare_update,
        .validate = ns_validate,
        .validate_update = ns_validate_update,
        .columns = ns_columns,
        .table_row = ns_table_row,
};

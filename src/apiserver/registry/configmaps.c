/*
 * configmaps.c - core/v1 ConfigMap: key validation (IsConfigMapKey) for data and
 * binaryData, the 1 MiB size limit, `immutable` rules, and printConfigMap's row.
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"

static const char *const cm_short_names[] = { "cm", NULL };

/* ---- ConfigMap ---- */

static void cm_validate(const json_t *obj, const struct k8c_registry_ctx *ctx, struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        json_t *data = k8c_reg_get(obj, "data");
        json_t *bin = k8c_reg_get(obj, "binaryData");
        size_t total = k8c_validate_data_map(data, "data", NULL, NULL, errs);
        total += k8c_validate_data_map(bin, "binaryData", data, "data", errs);
        if (total > K8C_MAX_DATA_BYTES)
                k8c_field_error(errs, "FieldValueTooLong", "", "Too long: must have at most %d bytes",
                                K8C_MAX_DATA_BYTES);
}

static void cm_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                               struct k8c_field_errors *errs)
{
        static const char *const keys[] = { "data", "binaryData", NULL };
        k8c_validate_object_meta_update(obj, old, errs);
        k8c_validate_immutable_data(obj, old, keys, errs);
}

static const struct k8c_table_column cm_columns[] = {
        K8C_COL_NAME,
        { "Data", "string", "", 0,
          "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' "
          "or "
          "'.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data "
          "must not overlap with the keys in the BinaryData field, this is enforced during validation "
          "process." },
        K8C_COL_AGE,
        K8C_COL_END,
};

static void cm_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        size_t n =
                json_object_size(k8c_reg_obj(obj, "data")) + json_object_size(k8c_reg_obj(obj, "binaryData"));
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "metadata.name") ?: ""));
        json_array_append_new(cells, json_integer((json_int_t)n));
        k8c_table_age_cell(obj, ctx, cells);
}

const struct k8c_resource k8c_resource_configmaps = {
        .group = "",
        .version = "v1",
        .kind = "ConfigMap",
        .list_kind = "ConfigMapList",
        .plural = "configmaps",
        .singular = "configmap",
        .short_names = cm_short_names,
        .namespaced = true,
        .validate = cm_validate,
        .validate_update = cm_validate_update,
        .columns = cm_columns,
        .table_row = cm_table_row,
};

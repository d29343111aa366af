/*
 * leases.c - coordination.k8s.io/v1 Lease (node heartbeats, leader election):
 * ValidateLease's bounds and printLease's row (Name, Holder, Age).
 */
#include "apiserver/registry/common.h"

static void lease_validate(const json_t *obj, const struct k8c_registry_ctx *ctx,
                           struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        json_t *spec = k8c_reg_obj(obj, "spec");
        json_t *d = k8c_reg_get(spec, "leaseDurationSeconds");
        if (json_is_integer(d) && json_integer_value(d) <= 0)
                k8c_field_invalid_int(errs, "spec.leaseDurationSeconds", json_integer_value(d),
                                      "must be greater than 0");
        k8c_validate_nonnegative(spec, "leaseTransitions", "spec.leaseTransitions", errs);
}

static void lease_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                                  struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_update(obj, old, errs);
}

static const struct k8c_table_column lease_columns[] = {
        K8C_COL_NAME,
        { "Holder", "string", "", 0,
          "holderIdentity contains the identity of the holder of a current lease." },
        K8C_COL_AGE,
        K8C_COL_END,
};

static void lease_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "metadata.name") ?: ""));
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "spec.holderIdentity") ?: ""));
        k8c_table_age_cell(obj, ctx, cells);
}

const struct k8c_resource k8c_resource_leases = {
        .group = "coordination.k8s.io",
        .version = "v1",
        .kind = "Lease",
        .list_kind = "LeaseList",
        .plural = "leases",
        .singular = "lease",
        .namespaced = true,
        .validate = lease_validate,
        .validate_update = lease_validate_update,
        .columns = lease_columns,
        .table_row = lease_table_row,
};

/*
 * replicasets.c - apps/v1 ReplicaSet: defaults (replicas 1, pod template), status
 * reset on create and kept on main-resource updates, ValidateReplicaSet (selector
 * matches template labels, template, restartPolicy Always), immutable selector,
 * and printReplicaSet's row. Scale subresource mapping is done by the REST code.
 */
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"

static const char *const rs_short_names[] = { "rs", NULL };
static const char *const rs_categories[] = { "all", NULL };
static const char *const rs_field_selectors[] = { "status.replicas", NULL };

static void rs_set_defaults(json_t *obj)
{
        json_t *spec = k8c_reg_ensure(obj, "spec");
        k8c_reg_default_int(spec, "replicas", 1);
        /* Go defaults the zero-value template too. */
        json_t *tmpl = k8c_reg_ensure(spec, "template");
        k8c_reg_ensure(tmpl, "spec");
        k8c_pod_template_set_defaults(tmpl);
}

static void rs_prepare_create(json_t *obj, const struct k8c_registry_ctx *ctx)
{
        json_object_set_new(obj, "status", json_pack("{s:i}", "replicas", 0));
}

static void rs_prepare_update(json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx)
{
        k8c_reg_keep_old(obj, old, "status");
}

static void rs_validate(const json_t *obj, const struct k8c_registry_ctx *ctx, struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        json_t *spec = k8c_reg_obj(obj, "spec");
        k8c_validate_nonnegative(spec, "replicas", "spec.replicas", errs);
        k8c_validate_nonnegative(spec, "minReadySeconds", "spec.minReadySeconds", errs);
        k8c_validate_workload_spec(spec, "deployment", errs);
}

static void rs_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                               struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_update(obj, old, errs);
        k8c_validate_selector_immutable(obj, old, errs);
}

static const struct k8c_table_column rs_columns[] = {
        K8C_COL_NAME,
        { "Desired", "integer", "", 0,
          "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero "
          "and "
          "unspecified. Defaults to 1. More info: "
          "https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/#what-is-a-replicaset" },
        { "Current", "integer", "", 0,
          "Replicas is the most recently observed number of non-terminating pods. More info: "
          "https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/#what-is-a-replicaset" },
        { "Ready", "integer", "", 0,
          "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition." },
        K8C_COL_AGE,
        { "Containers", "string", "", 1, "Names of each container in the template." },
        { "Images", "string", "", 1, "Images referenced by each container in the template." },
        { "Selector", "string", "", 1,
          "Selector is a label query over pods that should match the replica count. Label keys and values "
          "that "
          "must match in order to be controlled by this replica set. It must match the pod template's "
          "labels. "
          "More info: "
          "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors" },
        K8C_COL_END,
};

static void rs_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        json_t *spec = k8c_reg_obj(obj, "spec");
        json_t *status = k8c_reg_obj(obj, "status");
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "metadata.name") ?: ""));
        json_array_append_new(cells, json_integer(k8c_reg_int(spec, "replicas", 0)));
        json_array_append_new(cells, json_integer(k8c_reg_int(status, "replicas", 0)));
        json_array_append_new(cells, json_integer(k8c_reg_int(status, "readyReplicas", 0)));
        k8c_table_age_cell(obj, ctx, cells);
        k8c_container_cells(k8c_reg_path(spec, "template.spec.containers"), cells);
        cleanup_free char *sel = k8c_format_label_selector(k8c_reg_get(spec, "selector"));
        json_array_append_new(cells, json_string(sel));
}

const struct k8c_resource k8c_resource_replicasets = {
        .group = "apps",
        .version = "v1",
        .kind = "ReplicaSet",
        .list_kind = "ReplicaSetList",
        .plural = "replicasets",
        .singular = "replicaset",
        .short_names = rs_short_names,
        .categories = rs_categories,
        .namespaced = true,
        .has_status = true,
        .has_scale = true,
        .field_selectors = rs_field_selectors,
        .set_defaults = rs_set_defaults,
        .prepare_create = rs_prepare_create,
        .prepare_update = rs_prepare_update,
        .validate = rs_validate,
        .validate_update = rs_validate_update,
        .columns = rs_columns,
        .table_row = rs_table_row,
};

/*
 * deployments.c - apps/v1 Deployment: SetDefaults_Deployment (replicas 1, RollingUpdate
 * 25%/25%, revisionHistoryLimit 10, progressDeadlineSeconds 600), status kept on
 * main-resource updates, ValidateDeployment (selector/template as for ReplicaSets,
 * strategy, progress deadline), immutable selector, and printDeployment's row.
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"
#include "k8c/labels.h"

static const char *const deploy_short_names[] = { "deploy", NULL };
static const char *const deploy_categories[] = { "all", NULL };

static void deploy_set_defaults(json_t *obj)
{
        json_t *spec = k8c_reg_ensure(obj, "spec");
        if (spec == NULL)
                return;
        k8c_reg_default_int(spec, "replicas", 1);
        json_t *strategy = k8c_reg_ensure(spec, "strategy");
        k8c_reg_default_str(strategy, "type", "RollingUpdate");
        if (strcmp(k8c_reg_str0(strategy, "type"), "RollingUpdate") == 0) {
                json_t *ru = k8c_reg_ensure(strategy, "rollingUpdate");
                k8c_reg_default_str(ru, "maxUnavailable", "25%");
                k8c_reg_default_str(ru, "maxSurge", "25%");
        }
        k8c_reg_default_int(spec, "revisionHistoryLimit", 10);
        k8c_reg_default_int(spec, "progressDeadlineSeconds", 600);
        k8c_pod_template_set_defaults(k8c_reg_obj(spec, "template"));
}

static void deploy_prepare_create(json_t *obj, const struct k8c_registry_ctx *ctx)
{
        json_object_set_new(obj, "status", json_object());
}

static void deploy_prepare_update(json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx)
{
        k8c_reg_keep_old(obj, old, "status");
}

/* IntOrString: percent strings ("25%") or integers; ret_value in percent or units. */
static void validate_int_or_percent(const json_t *v, const char *path, struct k8c_field_errors *errs,
                                    bool *ret_zero)
{
        *ret_zero = false;
        if (v == NULL)
                return;
        if (json_is_integer(v)) {
                json_int_t n = json_integer_value(v);
                if (n < 0)
                        k8c_field_invalid_int(errs, path, n, "must be greater than or equal to 0");
                *ret_zero = n == 0;
                return;
        }
        const char *s = json_string_value(v);
        size_t len = s != NULL ? strlen(s) : 0;
        bool ok = len >= 2 && s[len - 1] == '%';
        for (size_t i = 0; ok && i + 1 < len; i++)
                ok = s[i] >= '0' && s[i] <= '9';
        if (!ok) {
                k8c_field_invalid_str(
                        errs, path, s != NULL ? s : "",
                        "a valid percent string must be a numeric string followed by an ending '%' "
                        "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
                return;
        }
        long pct = strtol(s, NULL, 10);
        *ret_zero = pct == 0;
        if (strcmp(path, "spec.strategy.rollingUpdate.maxUnavailable") == 0 && pct > 100)
                k8c_field_invalid_str(errs, path, s, "must not be greater than 100%");
}

static void deploy_validate(const json_t *obj, const struct k8c_registry_ctx *ctx,
                            struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        json_t *spec = k8c_reg_obj(obj, "spec");
        k8c_validate_workload_spec(spec, "deployment", errs);
        json_t *strategy = k8c_reg_obj(spec, "strategy");
        const char *type = k8c_reg_str0(strategy, "type");
        static const char *const types[] = { "Recreate", "RollingUpdate", NULL };
        if (type[0] == '\0') {
                k8c_field_required(errs, "spec.strategy.type", "");
        } else if (strcmp(type, "Recreate") == 0) {
                if (k8c_reg_has(strategy, "rollingUpdate"))
                        k8c_field_forbidden(errs, "spec.strategy.rollingUpdate",
                                            "may not be specified when strategy `type` is 'Recreate'");
        } else if (strcmp(type, "RollingUpdate") == 0) {
                json_t *ru = k8c_reg_obj(strategy, "rollingUpdate");
                bool unavail_zero = false, surge_zero = false;
                validate_int_or_percent(k8c_reg_get(ru, "maxUnavailable"),
                                        "spec.strategy.rollingUpdate.maxUnavailable", errs, &unavail_zero);
                validate_int_or_percent(k8c_reg_get(ru, "maxSurge"), "spec.strategy.rollingUpdate.maxSurge",
                                        errs, &surge_zero);
                if (unavail_zero && surge_zero) {
                        json_t *mu = k8c_reg_get(ru, "maxUnavailable");
                        if (json_is_integer(mu))
                                k8c_field_invalid_int(errs, "spec.strategy.rollingUpdate.maxUnavailable", 0,
                                                      "may not be 0 when `maxSurge` is 0");
                        else
                                k8c_field_invalid_str(errs, "spec.strategy.rollingUpdate.maxUnavailable",
                                                      json_string_value(mu),
                                                      "may not be 0 when `maxSurge` is 0");
                }
        } else {
                k8c_field_not_supported(errs, "spec.strategy.type", type, types);
        }
        k8c_validate_nonnegative(spec, "revisionHistoryLimit", "spec.revisionHistoryLimit", errs);
        json_t *pds = k8c_reg_get(spec, "progressDeadlineSeconds");
        if (json_is_integer(pds)) {
                json_int_t v = json_integer_value(pds);
                if (v < 0)
                        k8c_field_invalid_int(errs, "spec.progressDeadlineSeconds", v,
                                              "must be greater than or equal to 0");
                else if (v <= k8c_reg_int(spec, "minReadySeconds", 0))
                        k8c_field_invalid_int(errs, "spec.progressDeadlineSeconds", v,
                                              "must be greater than minReadySeconds");
        }
}

static void deploy_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                                   struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_update(obj, old, errs);
        k8c_validate_selector_immutable(obj, old, errs);
}

static const struct k8c_table_column deploy_columns[] = {
        K8C_COL_NAME,
        { "Ready", "string", "", 0, "Number of the pod with ready state" },
        { "Up-to-date", "string", "", 0,
          "Total number of non-terminating pods targeted by this deployment that have the desired template "
          "spec." },
        { "Available", "string", "", 0,
          "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by "
          "this "
          "deployment." },
        K8C_COL_AGE,
        { "Containers", "string", "", 1, "Names of each container in the template." },
        { "Images", "string", "", 1, "Images referenced by each container in the template." },
        { "Selector", "string", "", 1,
          "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones "
          "affected by this deployment. It must match the pod template's labels." },
        K8C_COL_END,
};

static void deploy_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        json_t *spec = k8c_reg_obj(obj, "spec");
        json_t *status = k8c_reg_obj(obj, "status");
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "metadata.name") ?: ""));
        cleanup_free char *ready =
                k8c_xasprintf("%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
                              k8c_reg_int(status, "readyReplicas", 0), k8c_reg_int(spec, "replicas", 0));
        json_array_append_new(cells, json_string(ready));
        json_array_append_new(cells, json_integer(k8c_reg_int(status, "updatedReplicas", 0)));
        json_array_append_new(cells, json_integer(k8c_reg_int(status, "availableReplicas", 0)));
        k8c_table_age_cell(obj, ctx, cells);
        k8c_container_cells(k8c_reg_path(spec, "template.spec.containers"), cells);
        /* printDeployment uses selector.String() directly: "" for an empty selector, "<invalid>" on error. */
        struct k8c_selector sel = { 0 };
        if (k8c_selector_from_json(k8c_reg_get(spec, "selector"), &sel, NULL) < 0) {
                json_array_append_new(cells, json_string("<invalid>"));
        } else {
                cleanup_free char *s = k8c_selector_string(&sel);
                json_array_append_new(cells, json_string(s != NULL ? s : ""));
                k8c_selector_free(&sel);
        }
}

const struct k8c_resource k8c_resource_deployments = {
        .group = "apps",
        .version = "v1",
        .kind = "Deployment",
        .list_kind = "DeploymentList",
        .plural = "deployments",
        .singular = "deployment",
        .short_names = deploy_short_names,
        .categories = deploy_categories,
        .namespaced = true,
        .has_status = true,
        .has_scale = true,
        .set_defaults = deploy_set_defaults,
        .prepare_create = deploy_prepare_create,
        .prepare_update = deploy_prepare_update,
        .validate = deploy_validate,
        .validate_update = deploy_validate_update,
        .columns = deploy_columns,
        .table_row = deploy_table_row,
};

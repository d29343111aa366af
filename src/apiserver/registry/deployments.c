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
        json_t *tmpl = k8c_reg_ensure(spec, "template");
        k8c_reg_ensure(tmpl, "spec");
        k8c_pod_template_set_defaults(tmpl);
}

static void deploy_prepare_create(json_t *obj, const struct k8c_registry_ctx *ctx)
{
        json_object_set_new(obj, "status", json_object());
}

static void deploy_prepare_update(json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx)
{
        k8c_reg_keep_old(obj, old, "status");
}

/* IntOrString as Kubernetes prints it in messages: its String() form, unquoted ("25%", "0"). */
static char *int_or_string(const json_t *v)
{
        if (json_is_integer(v))
                return k8c_xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return k8c_xstrdup(json_string_value(v) != NULL ? json_string_value(v) : "");
}

/* getPercentValue: true and the number for a valid "N%" string. */
static bool percent_value(const json_t *v, long *ret)
{
        const char *s = json_string_value(v);
        size_t len = s != NULL ? strlen(s) : 0;
        if (len < 2 || s[len - 1] != '%')
                return false;
        for (size_t i = 0; i + 1 < len; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        *ret = strtol(s, NULL, 10);
        return true;
}

static long int_or_percent_value(const json_t *v)
{
        long pct;
        if (percent_value(v, &pct))
                return pct;
        return json_is_integer(v) ? (long)json_integer_value(v) : 0;
}

/* ValidatePositiveIntOrPercent */
static void validate_int_or_percent(const json_t *v, const char *path, struct k8c_field_errors *errs)
{
        long pct;
        if (v == NULL)
                return;
        cleanup_free char *raw = int_or_string(v);
        if (json_is_integer(v)) {
                if (json_integer_value(v) < 0)
                        k8c_field_invalid_int(errs, path, json_integer_value(v),
                                              "must be greater than or equal to 0");
        } else if (json_is_string(v)) {
                if (!percent_value(v, &pct))
                        k8c_field_invalid_raw(
                                errs, path, raw,
                                "a valid percent string must be a numeric string followed by an ending "
                                "'%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
        } else {
                k8c_field_invalid_raw(errs, path, raw, "must be an integer or percentage (e.g '5%%')");
        }
}

static void validate_strategy(const json_t *strategy, struct k8c_field_errors *errs)
{
        static const char *const types[] = { "Recreate", "RollingUpdate", NULL };
        const char *type = k8c_reg_str0(strategy, "type");
        if (strcmp(type, "Recreate") == 0) {
                if (k8c_reg_has(strategy, "rollingUpdate"))
                        k8c_field_forbidden(errs, "spec.strategy.rollingUpdate",
                                            "may not be specified when strategy `type` is 'Recreate'");
        } else if (strcmp(type, "RollingUpdate") == 0) {
                json_t *ru = k8c_reg_obj(strategy, "rollingUpdate");
                if (ru == NULL) {
                        k8c_field_required(errs, "spec.strategy.rollingUpdate",
                                           "this should be defaulted and never be nil");
                        return;
                }
                json_t *mu = k8c_reg_get(ru, "maxUnavailable");
                json_t *ms = k8c_reg_get(ru, "maxSurge");
                validate_int_or_percent(mu, "spec.strategy.rollingUpdate.maxUnavailable", errs);
                validate_int_or_percent(ms, "spec.strategy.rollingUpdate.maxSurge", errs);
                cleanup_free char *raw = int_or_string(mu);
                if (int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0)
                        k8c_field_invalid_raw(errs, "spec.strategy.rollingUpdate.maxUnavailable", raw,
                                              "may not be 0 when `maxSurge` is 0");
                long pct;
                if (percent_value(mu, &pct) && pct > 100)
                        k8c_field_invalid_raw(errs, "spec.strategy.rollingUpdate.maxUnavailable", raw,
                                              "must not be greater than 100%");
        } else {
                /* NotSupported carries the whole strategy struct, as Go's %#v prints it. */
                cleanup_free char *q = k8c_go_quote(type);
                json_t *ru = k8c_reg_get(strategy, "rollingUpdate");
                cleanup_free char *ru_text = ru == NULL ? k8c_xstrdup("(*apps.RollingUpdateDeployment)(nil)")
                                                        : json_dumps(ru, JSON_COMPACT);
                cleanup_free char *raw =
                        k8c_xasprintf("apps.DeploymentStrategy{Type:%s, RollingUpdate:%s}", q, ru_text);
                k8c_field_error(errs, "FieldValueNotSupported", "spec.strategy",
                                "Unsupported value: %s: supported values: \"%s\", \"%s\"", raw, types[0],
                                types[1]);
        }
}

static void deploy_validate(const json_t *obj, const struct k8c_registry_ctx *ctx,
                            struct k8c_field_errors *errs)
{
        /* ValidateDeploymentSpec's order. */
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        json_t *spec = k8c_reg_obj(obj, "spec");
        k8c_validate_nonnegative(spec, "replicas", "spec.replicas", errs);
        k8c_validate_workload_spec(spec, "deployment", errs);
        validate_strategy(k8c_reg_obj(spec, "strategy"), errs);
        k8c_validate_nonnegative(spec, "minReadySeconds", "spec.minReadySeconds", errs);
        k8c_validate_nonnegative(spec, "revisionHistoryLimit", "spec.revisionHistoryLimit", errs);
        json_t *pds = k8c_reg_get(spec, "progressDeadlineSeconds");
        if (json_is_integer(pds)) {
                json_int_t v = json_integer_value(pds);
                k8c_validate_nonnegative(spec, "progressDeadlineSeconds", "spec.progressDeadlineSeconds",
                                         errs);
                if (v <= k8c_reg_int(spec, "minReadySeconds", 0))
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

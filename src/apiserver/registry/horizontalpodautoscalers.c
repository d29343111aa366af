/*
 * horizontalpodautoscalers.c - autoscaling/v2 HorizontalPodAutoscaler (storage version)
 * and the autoscaling/v1 alias that shares its storage: defaults (minReplicas 1, the
 * 80% cpu utilization metric), validation (replica bounds, scaleTargetRef, metrics),
 * v1 <-> v2 conversion, and printHorizontalPodAutoscaler's row.
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"

static const char *const hpa_short_names[] = { "hpa", NULL };
static const char *const hpa_categories[] = { "all", NULL };
static const char *const metric_types[] = { "ContainerResource", "External", "Object", "Pods",
                                            "Resource",          NULL };

static json_t *cpu_metric(json_int_t utilization)
{
        return json_pack("{s:s, s:{s:s, s:{s:s, s:I}}}", "type", "Resource", "resource", "name", "cpu",
                         "target", "type", "Utilization", "averageUtilization", utilization);
}

static void hpa_set_defaults(json_t *obj)
{
        json_t *spec = k8c_reg_ensure(obj, "spec");
        k8c_reg_default_int(spec, "minReplicas", 1);
        if (json_array_size(k8c_reg_arr(spec, "metrics")) == 0)
                json_object_set_new(spec, "metrics", json_pack("[o]", cpu_metric(80)));
        json_t *behavior = k8c_reg_obj(spec, "behavior");
        if (behavior != NULL) {
                /* GenerateHPAScaleUpRules / GenerateHPAScaleDownRules for the parts left out. */
                json_t *up = k8c_reg_ensure(behavior, "scaleUp");
                k8c_reg_default_int(up, "stabilizationWindowSeconds", 0);
                k8c_reg_default_str(up, "selectPolicy", "Max");
                if (!k8c_reg_has(up, "policies"))
                        json_object_set_new(up, "policies",
                                            json_pack("[{s:s, s:i, s:i}, {s:s, s:i, s:i}]", "type", "Pods",
                                                      "value", 4, "periodSeconds", 15, "type", "Percent",
                                                      "value", 100, "periodSeconds", 15));
                json_t *down = k8c_reg_ensure(behavior, "scaleDown");
                k8c_reg_default_int(down, "stabilizationWindowSeconds", 300);
                k8c_reg_default_str(down, "selectPolicy", "Max");
                if (!k8c_reg_has(down, "policies"))
                        json_object_set_new(down, "policies",
                                            json_pack("[{s:s, s:i, s:i}]", "type", "Percent", "value", 100,
                                                      "periodSeconds", 15));
        }
}

static void hpa_prepare_create(json_t *obj, const struct k8c_registry_ctx *ctx)
{
        json_object_set_new(obj, "status",
                            json_pack("{s:i, s:i}", "currentReplicas", 0, "desiredReplicas", 0));
}

static void hpa_prepare_update(json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx)
{
        k8c_reg_keep_old(obj, old, "status");
}

static void validate_replicas_and_ref(const json_t *spec, struct k8c_field_errors *errs)
{
        json_t *min = k8c_reg_get(spec, "minReplicas");
        json_int_t max = k8c_reg_int(spec, "maxReplicas", 0);
        if (json_is_integer(min) && json_integer_value(min) < 1)
                k8c_field_invalid_int(errs, "spec.minReplicas", json_integer_value(min),
                                      "must be greater than or equal to 1");
        if (max < 1)
                k8c_field_invalid_int(errs, "spec.maxReplicas", max, "must be greater than 0");
        if (json_is_integer(min) && max < json_integer_value(min))
                k8c_field_invalid_int(errs, "spec.maxReplicas", max,
                                      "must be greater than or equal to `minReplicas`");
        json_t *ref = k8c_reg_obj(spec, "scaleTargetRef");
        if (k8c_reg_str0(ref, "kind")[0] == '\0')
                k8c_field_required(errs, "spec.scaleTargetRef.kind", "");
        const char *name = k8c_reg_str0(ref, "name");
        if (name[0] == '\0')
                k8c_field_required(errs, "spec.scaleTargetRef.name", "");
        else if (strchr(name, '/') != NULL || strchr(name, '%') != NULL || strcmp(name, ".") == 0 ||
                 strcmp(name, "..") == 0)
                k8c_field_invalid_str(errs, "spec.scaleTargetRef.name", name,
                                      strchr(name, '/') != NULL   ? "may not contain '/'"
                                      : strchr(name, '%') != NULL ? "may not contain '%'"
                                                                  : "may not be '.' or '..'");
}

static void hpa_validate(const json_t *obj, const struct k8c_registry_ctx *ctx, struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        json_t *spec = k8c_reg_obj(obj, "spec");
        validate_replicas_and_ref(spec, errs);
        size_t i;
        json_t *m;
        json_array_foreach(k8c_reg_arr(spec, "metrics"), i, m)
        {
                const char *type = k8c_reg_str0(m, "type");
                cleanup_free char *tp = k8c_xasprintf("spec.metrics[%zu].type", i);
                if (type[0] == '\0') {
                        k8c_field_required(errs, tp, "must specify a metric source type");
                        continue;
                }
                bool known = false;
                for (size_t k = 0; metric_types[k] != NULL; k++)
                        known = known || strcmp(type, metric_types[k]) == 0;
                if (!known) {
                        k8c_field_not_supported(errs, tp, type, metric_types);
                        continue;
                }
                if (strcmp(type, "Resource") == 0) {
                        json_t *res = k8c_reg_obj(m, "resource");
                        cleanup_free char *rp = k8c_xasprintf("spec.metrics[%zu].resource", i);
                        if (res == NULL) {
                                k8c_field_required(errs, rp,
                                                   "must populate information for the given metric source");
                                continue;
                        }
                        if (k8c_reg_str0(res, "name")[0] == '\0') {
                                cleanup_free char *np = k8c_xasprintf("%s.name", rp);
                                k8c_field_required(errs, np, "must specify a resource name");
                        }
                        json_t *target = k8c_reg_obj(res, "target");
                        const char *tt = k8c_reg_str0(target, "type");
                        cleanup_free char *ttp = k8c_xasprintf("%s.target.type", rp);
                        if (tt[0] == '\0')
                                k8c_field_required(errs, ttp, "must specify a metric target type");
                        json_t *au = k8c_reg_get(target, "averageUtilization");
                        if (json_is_integer(au) && json_integer_value(au) < 1) {
                                cleanup_free char *ap = k8c_xasprintf("%s.target.averageUtilization", rp);
                                k8c_field_invalid_int(errs, ap, json_integer_value(au),
                                                      "must be greater than 0");
                        }
                }
        }
}

static void hpa_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                                struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_update(obj, old, errs);
}

static const struct k8c_table_column hpa_columns[] = {
        K8C_COL_NAME,
        { "Reference", "string", "", 0,
          "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics "
          "should be collected, as well as to actually change the replica count." },
        { "Targets", "string", "", 0,
          "metrics contains the specifications for which to use to calculate the desired replica count (the "
          "maximum replica count across all metrics will be used)." },
        { "MinPods", "string", "", 0,
          "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down. "
          "It "
          "defaults to 1 pod." },
        { "MaxPods", "string", "", 0,
          "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up. "
          "It "
          "cannot be less that minReplicas." },
        { "Replicas", "string", "", 0,
          "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by "
          "the "
          "autoscaler." },
        K8C_COL_AGE,
        K8C_COL_END,
};

static char *metric_target_value(const json_t *target, const char *key)
{
        return k8c_quantity_string(k8c_reg_get(target, key));
}

/* formatHPAMetrics: at most two, then " + N more...". */
static char *format_metrics(const json_t *specs, const json_t *statuses)
{
        size_t count = json_array_size(specs);
        if (count == 0)
                return k8c_xstrdup("<none>");
        char *out = k8c_xstrdup("");
        size_t i;
        json_t *m;
        json_array_foreach(specs, i, m)
        {
                if (i >= 2)
                        break;
                const char *type = k8c_reg_str0(m, "type");
                json_t *st = json_array_get(statuses, i);
                char *piece = NULL;
                if (strcmp(type, "Resource") == 0 || strcmp(type, "ContainerResource") == 0) {
                        const char *key = strcmp(type, "Resource") == 0 ? "resource" : "containerResource";
                        json_t *src = k8c_reg_obj(m, key);
                        json_t *target = k8c_reg_obj(src, "target");
                        json_t *cur = k8c_reg_path(k8c_reg_obj(st, key), "current");
                        if (k8c_reg_has(target, "averageValue")) {
                                cleanup_free char *t = metric_target_value(target, "averageValue");
                                cleanup_free char *c = cur != NULL && k8c_reg_has(cur, "averageValue")
                                                               ? metric_target_value(cur, "averageValue")
                                                               : k8c_xstrdup("<unknown>");
                                piece = k8c_xasprintf("%s: %s/%s", k8c_reg_str0(src, "name"), c, t);
                        } else {
                                cleanup_free char *c =
                                        cur != NULL && json_is_integer(k8c_reg_get(cur, "averageUtilization"))
                                                ? k8c_xasprintf("%" JSON_INTEGER_FORMAT "%%",
                                                                k8c_reg_int(cur, "averageUtilization", 0))
                                                : k8c_xstrdup("<unknown>");
                                cleanup_free char *t =
                                        json_is_integer(k8c_reg_get(target, "averageUtilization"))
                                                ? k8c_xasprintf("%" JSON_INTEGER_FORMAT "%%",
                                                                k8c_reg_int(target, "averageUtilization", 0))
                                                : k8c_xstrdup("<auto>");
                                piece = k8c_xasprintf("%s: %s/%s", k8c_reg_str0(src, "name"), c, t);
                        }
                } else if (strcmp(type, "Pods") == 0) {
                        cleanup_free char *t =
                                metric_target_value(k8c_reg_path(m, "pods.target"), "averageValue");
                        json_t *cur = k8c_reg_path(st, "pods.current");
                        cleanup_free char *c = cur != NULL ? metric_target_value(cur, "averageValue")
                                                           : k8c_xstrdup("<unknown>");
                        piece = k8c_xasprintf("%s/%s", c, t);
                } else if (strcmp(type, "Object") == 0 || strcmp(type, "External") == 0) {
                        const char *key = strcmp(type, "Object") == 0 ? "object" : "external";
                        json_t *target = k8c_reg_path(k8c_reg_obj(m, key), "target");
                        json_t *cur = k8c_reg_path(k8c_reg_obj(st, key), "current");
                        bool avg = k8c_reg_has(target, "averageValue");
                        const char *vk = avg ? "averageValue" : "value";
                        cleanup_free char *t = metric_target_value(target, vk);
                        cleanup_free char *c = cur != NULL && k8c_reg_has(cur, vk)
                                                       ? metric_target_value(cur, vk)
                                                       : k8c_xstrdup("<unknown>");
                        piece = k8c_xasprintf("%s/%s%s", c, t, avg ? " (avg)" : "");
                } else {
                        piece = k8c_xstrdup("<unknown type>");
                }
                char *next = k8c_xasprintf("%s%s%s", out, i > 0 ? ", " : "", piece);
                free(piece);
                free(out);
                out = next;
        }
        if (count > 2) {
                char *next = k8c_xasprintf("%s + %zu more...", out, count - 2);
                free(out);
                out = next;
        }
        return out;
}

static void hpa_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        json_t *spec = k8c_reg_obj(obj, "spec");
        json_t *status = k8c_reg_obj(obj, "status");
        json_t *ref = k8c_reg_obj(spec, "scaleTargetRef");
        cleanup_free char *reference =
                k8c_xasprintf("%s/%s", k8c_reg_str0(ref, "kind"), k8c_reg_str0(ref, "name"));
        cleanup_free char *metrics =
                format_metrics(k8c_reg_arr(spec, "metrics"), k8c_reg_arr(status, "currentMetrics"));
        json_t *min = k8c_reg_get(spec, "minReplicas");
        cleanup_free char *min_pods =
                json_is_integer(min) ? k8c_xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(min))
                                     : k8c_xstrdup("<unset>");
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "metadata.name") ?: ""));
        json_array_append_new(cells, json_string(reference));
        json_array_append_new(cells, json_string(metrics));
        json_array_append_new(cells, json_string(min_pods));
        json_array_append_new(cells, json_integer(k8c_reg_int(spec, "maxReplicas", 0)));
        json_array_append_new(cells, json_integer(k8c_reg_int(status, "currentReplicas", 0)));
        k8c_table_age_cell(obj, ctx, cells);
}

const struct k8c_resource k8c_resource_horizontalpodautoscalers = {
        .group = "autoscaling",
        .version = "v2",
        .kind = "HorizontalPodAutoscaler",
        .list_kind = "HorizontalPodAutoscalerList",
        .plural = "horizontalpodautoscalers",
        .singular = "horizontalpodautoscaler",
        .short_names = hpa_short_names,
        .categories = hpa_categories,
        .namespaced = true,
        .has_status = true,
        .set_defaults = hpa_set_defaults,
        .prepare_create = hpa_prepare_create,
        .prepare_update = hpa_prepare_update,
        .validate = hpa_validate,
        .validate_update = hpa_validate_update,
        .columns = hpa_columns,
        .table_row = hpa_table_row,
};

/* ---- autoscaling/v1 alias ---- */

/* v1 {targetCPUUtilizationPercentage, currentCPUUtilizationPercentage} → v2 metrics/currentMetrics. */
static void hpa_v1_to_v2(json_t *obj)
{
        json_object_set_new(obj, "apiVersion", json_string("autoscaling/v2"));
        json_t *spec = k8c_reg_ensure(obj, "spec");
        json_t *target = k8c_reg_get(spec, "targetCPUUtilizationPercentage");
        if (json_is_integer(target))
                json_object_set_new(spec, "metrics",
                                    json_pack("[o]", cpu_metric(json_integer_value(target))));
        json_object_del(spec, "targetCPUUtilizationPercentage");
        json_t *status = k8c_reg_obj(obj, "status");
        json_t *cur = k8c_reg_get(status, "currentCPUUtilizationPercentage");
        if (json_is_integer(cur))
                json_object_set_new(status, "currentMetrics",
                                    json_pack("[{s:s, s:{s:s, s:{s:I}}}]", "type", "Resource", "resource",
                                              "name", "cpu", "current", "averageUtilization",
                                              json_integer_value(cur)));
        if (status != NULL)
                json_object_del(status, "currentCPUUtilizationPercentage");
}

static void hpa_v2_to_v1(json_t *obj)
{
        json_object_set_new(obj, "apiVersion", json_string("autoscaling/v1"));
        json_t *spec = k8c_reg_obj(obj, "spec");
        size_t i;
        json_t *m;
        json_array_foreach(k8c_reg_arr(spec, "metrics"), i, m)
        {
                json_t *res = k8c_reg_obj(m, "resource");
                if (strcmp(k8c_reg_str0(m, "type"), "Resource") == 0 &&
                    strcmp(k8c_reg_str0(res, "name"), "cpu") == 0 &&
                    json_is_integer(k8c_reg_path(res, "target.averageUtilization"))) {
                        json_object_set_new(spec, "targetCPUUtilizationPercentage",
                                            json_integer(json_integer_value(
                                                    k8c_reg_path(res, "target.averageUtilization"))));
                        break;
                }
        }
        if (spec != NULL) {
                json_object_del(spec, "metrics");
                json_object_del(spec, "behavior");
        }
        json_t *status = k8c_reg_obj(obj, "status");
        json_array_foreach(k8c_reg_arr(status, "currentMetrics"), i, m)
        {
                json_t *res = k8c_reg_obj(m, "resource");
                if (strcmp(k8c_reg_str0(m, "type"), "Resource") == 0 &&
                    strcmp(k8c_reg_str0(res, "name"), "cpu") == 0 &&
                    json_is_integer(k8c_reg_path(res, "current.averageUtilization"))) {
                        json_object_set_new(status, "currentCPUUtilizationPercentage",
                                            json_integer(json_integer_value(
                                                    k8c_reg_path(res, "current.averageUtilization"))));
                        break;
                }
        }
        if (status != NULL) {
                json_object_del(status, "currentMetrics");
                json_object_del(status, "conditions");
        }
}

static void hpa_v1_set_defaults(json_t *obj)
{
        json_t *spec = k8c_reg_ensure(obj, "spec");
        k8c_reg_default_int(spec, "minReplicas", 1);
}

static void hpa_v1_validate(const json_t *obj, const struct k8c_registry_ctx *ctx,
                            struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        json_t *spec = k8c_reg_obj(obj, "spec");
        validate_replicas_and_ref(spec, errs);
        json_t *t = k8c_reg_get(spec, "targetCPUUtilizationPercentage");
        if (json_is_integer(t) && json_integer_value(t) < 1)
                k8c_field_invalid_int(errs, "spec.targetCPUUtilizationPercentage", json_integer_value(t),
                                      "must be greater than 0");
}

static void hpa_v1_prepare_create(json_t *obj, const struct k8c_registry_ctx *ctx)
{
        json_object_set_new(obj, "status",
                            json_pack("{s:i, s:i}", "currentReplicas", 0, "desiredReplicas", 0));
}

static void hpa_v1_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        /* The apiserver prints every version through the internal type: print the v2 form. */
        json_auto_t *v2 = json_deep_copy(obj);
        hpa_v1_to_v2(v2);
        if (!k8c_reg_has(k8c_reg_obj(v2, "spec"), "metrics"))
                json_object_set_new(k8c_reg_obj(v2, "spec"), "metrics", json_pack("[o]", cpu_metric(80)));
        hpa_table_row(v2, ctx, cells);
}

const struct k8c_resource k8c_resource_horizontalpodautoscalers_v1 = {
        .group = "autoscaling",
        .version = "v1",
        .kind = "HorizontalPodAutoscaler",
        .list_kind = "HorizontalPodAutoscalerList",
        .plural = "horizontalpodautoscalers",
        .singular = "horizontalpodautoscaler",
        .short_names = hpa_short_names,
        .categories = hpa_categories,
        .namespaced = true,
        .has_status = true,
        .storage_of = &k8c_resource_horizontalpodautoscalers,
        .set_defaults = hpa_v1_set_defaults,
        .prepare_create = hpa_v1_prepare_create,
        .prepare_update = hpa_prepare_update,
        .validate = hpa_v1_validate,
        .validate_update = hpa_validate_update,
        .columns = hpa_columns,
        .table_row = hpa_v1_table_row,
        .to_storage = hpa_v1_to_v2,
        .from_storage = hpa_v2_to_v1,
};

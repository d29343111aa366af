/* Unit tests for registry/replicasets.c and registry/deployments.c: defaults, status
 * strategy, selector/template validation, immutable selectors, strategy rules, rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "apiserver/registry.h"
#include "k8c/cleanup.h"

extern const struct k8c_resource k8c_resource_replicasets, k8c_resource_deployments;
static const struct k8c_resource *RS = &k8c_resource_replicasets;
static const struct k8c_resource *DEP = &k8c_resource_deployments;
static const struct k8c_registry_ctx ctx = { .now = 1795534338 }; /* 2026-11-24T15:32:18Z */

static json_t *J(const char *text)
{
        json_error_t e;
        json_t *v = json_loads(text, 0, &e);
        if (v == NULL)
                fail_msg("bad JSON in test: %s: %s", e.text, text);
        return v;
}

static void assert_json(const json_t *v, const char *want)
{
        cleanup_free char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(got, want);
}

static void assert_cause(const json_t *causes, size_t i, const char *reason, const char *field,
                         const char *message)
{
        json_t *c = json_array_get(causes, i);
        assert_non_null(c);
        assert_string_equal(json_string_value(json_object_get(c, "reason")), reason);
        assert_string_equal(json_string_value(json_object_get(c, "field")), field);
        assert_string_equal(json_string_value(json_object_get(c, "message")), message);
}

#define WL(kind, spec)                                                                                       \
        "{\"kind\":\"" kind "\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":" spec "}"
#define TMPL(labels)                                                                                         \
        "\"template\":{\"metadata\":{\"labels\":" labels "},\"spec\":{\"containers\":[{\"name\":\"web\","    \
        "\"image\":\"nginx:1.25\"}]}}"

static void test_rs_defaults_and_strategy(void **state)
{
        json_auto_t *rs =
                J(WL("ReplicaSet",
                     "{\"selector\":{\"matchLabels\":{\"app\":\"web\"}}," TMPL("{\"app\":\"web\"}") "}"));
        json_object_set_new(rs, "status", json_pack("{s:i}", "replicas", 7));
        RS->set_defaults(rs);
        json_t *spec = json_object_get(rs, "spec");
        assert_int_equal(json_integer_value(json_object_get(spec, "replicas")), 1);
        json_t *pspec = json_object_get(json_object_get(spec, "template"), "spec");
        assert_string_equal(json_string_value(json_object_get(pspec, "restartPolicy")), "Always");
        assert_string_equal(
                json_string_value(json_object_get(json_array_get(json_object_get(pspec, "containers"), 0),
                                                  "imagePullPolicy")),
                "IfNotPresent");
        assert_null(json_object_get(pspec, "enableServiceLinks")); /* SetDefaults_Pod only applies to pods */
        RS->prepare_create(rs, &ctx);
        assert_json(json_object_get(rs, "status"), "{\"replicas\":0}");
        struct k8c_field_errors errs = { 0 };
        RS->validate(rs, &ctx, &errs);
        assert_int_equal(k8c_field_errors_count(&errs), 0);

        json_auto_t *old = json_deep_copy(rs);
        json_object_set_new(old, "status", json_pack("{s:i, s:i}", "replicas", 3, "readyReplicas", 2));
        RS->prepare_update(rs, old, &ctx);
        assert_json(json_object_get(rs, "status"), "{\"readyReplicas\":2,\"replicas\":3}");
        assert_true(RS->has_scale && RS->has_status && RS->namespaced);
        assert_string_equal(RS->short_names[0], "rs");
        assert_string_equal(RS->categories[0], "all");
        assert_string_equal(RS->field_selectors[0], "status.replicas");
}

static json_t *validate(const struct k8c_resource *r, const char *text)
{
        json_auto_t *obj = J(text);
        r->set_defaults(obj);
        struct k8c_field_errors errs = { 0 };
        r->validate(obj, &ctx, &errs);
        json_t *causes = errs.causes != NULL ? json_incref(errs.causes) : json_array();
        k8c_field_errors_free(&errs);
        return causes;
}

static void test_rs_validation(void **state)
{
        json_auto_t *a =
                validate(RS, WL("ReplicaSet",
                                "{\"replicas\":-1,\"selector\":{\"matchLabels\":{\"app\":\"web\"}}," TMPL(
                                        "{\"app\":\"other\"}") "}"));
        assert_int_equal(json_array_size(a), 2);
        assert_cause(a, 0, "FieldValueInvalid", "spec.replicas",
                     "Invalid value: -1: must be greater than or equal to 0");
        assert_cause(a, 1, "FieldValueInvalid", "spec.template.metadata.labels",
                     "Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match "
                     "template `labels`");

        json_auto_t *b = validate(RS, WL("ReplicaSet", "{\"selector\":{}," TMPL("{\"app\":\"web\"}") "}"));
        assert_int_equal(json_array_size(b), 1);
        assert_cause(b, 0, "FieldValueInvalid", "spec.selector",
                     "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
                     "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
                     "deployment");

        json_auto_t *c = validate(
                RS, WL("ReplicaSet", "{\"selector\":{\"matchExpressions\":[{\"key\":\"app\",\"operator\":"
                                     "\"In\",\"values\":[\"web\",\"api\"]}]},\"template\":{\"metadata\":"
                                     "{\"labels\":{\"app\":\"api\"}},\"spec\":{\"restartPolicy\":\"Never\","
                                     "\"containers\":[{\"name\":\"x\"}]}}}"));
        assert_int_equal(json_array_size(c), 2);
        assert_cause(c, 0, "FieldValueRequired", "spec.template.spec.containers[0].image", "Required value");
        assert_cause(c, 1, "FieldValueNotSupported", "spec.template.spec.restartPolicy",
                     "Unsupported value: \"Never\": supported values: \"Always\"");

        json_auto_t *d =
                validate(RS, "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{}}");
        assert_int_equal(json_array_size(d), 2);
        assert_cause(d, 0, "FieldValueRequired", "spec.selector", "Required value");
        assert_cause(d, 1, "FieldValueRequired", "spec.template.spec.containers", "Required value");

        json_auto_t *e =
                validate(RS, WL("ReplicaSet", "{\"minReadySeconds\":-3,\"selector\":{\"matchLabels\":{"
                                              "\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{"
                                              "\"app\":\"web\",\"bad\":\"-x-\"}},\"spec\":{"
                                              "\"activeDeadlineSeconds\":5,\"containers\":[{\"name\":\"c\","
                                              "\"image\":\"i\"}]}}}"));
        assert_int_equal(json_array_size(e), 3);
        assert_cause(e, 0, "FieldValueInvalid", "spec.minReadySeconds",
                     "Invalid value: -3: must be greater than or equal to 0");
        assert_string_equal(json_string_value(json_object_get(json_array_get(e, 1), "field")),
                            "spec.template.labels");
        assert_cause(e, 2, "FieldValueInvalid", "spec.template.spec.activeDeadlineSeconds",
                     "Invalid value: 5: activeDeadlineSeconds in ReplicaSet is not Supported");
}

static void test_selector_immutable(void **state)
{
        const struct k8c_resource *rs[] = { RS, DEP };
        for (size_t i = 0; i < 2; i++) {
                json_auto_t *old = J(WL("X", "{\"selector\":{\"matchLabels\":{\"app\":\"web\"}}," TMPL(
                                                     "{\"app\":\"web\"}") "}"));
                json_auto_t *upd =
                        J(WL("X", "{\"replicas\":5,\"selector\":{\"matchLabels\":{\"app\":\"web\"}}," TMPL(
                                          "{\"app\":\"web\"}") "}"));
                struct k8c_field_errors errs = { 0 };
                rs[i]->validate_update(upd, old, &ctx, &errs);
                assert_int_equal(k8c_field_errors_count(&errs), 0);
                json_object_set_new(json_object_get(upd, "spec"), "selector",
                                    json_pack("{s:{s:s}}", "matchLabels", "app", "api"));
                rs[i]->validate_update(upd, old, &ctx, &errs);
                assert_int_equal(k8c_field_errors_count(&errs), 1);
                assert_cause(
                        errs.causes, 0, "FieldValueInvalid", "spec.selector",
                        "Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"api\"}, "
                        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable");
                k8c_field_errors_free(&errs);
        }
}

static void test_deploy_defaults(void **state)
{
        json_auto_t *d =
                J(WL("Deployment",
                     "{\"selector\":{\"matchLabels\":{\"app\":\"web\"}}," TMPL("{\"app\":\"web\"}") "}"));
        DEP->set_defaults(d);
        json_t *spec = json_object_get(d, "spec");
        assert_int_equal(json_integer_value(json_object_get(spec, "replicas")), 1);
        assert_int_equal(json_integer_value(json_object_get(spec, "revisionHistoryLimit")), 10);
        assert_int_equal(json_integer_value(json_object_get(spec, "progressDeadlineSeconds")), 600);
        assert_json(json_object_get(spec, "strategy"),
                    "{\"rollingUpdate\":{\"maxSurge\":\"25%\",\"maxUnavailable\":\"25%\"},\"type\":"
                    "\"RollingUpdate\"}");
        DEP->prepare_create(d, &ctx);
        assert_json(json_object_get(d, "status"), "{}");
        struct k8c_field_errors errs = { 0 };
        DEP->validate(d, &ctx, &errs);
        assert_int_equal(k8c_field_errors_count(&errs), 0);

        json_auto_t *r = J(WL("Deployment",
                              "{\"strategy\":{\"type\":\"Recreate\"},\"selector\":{\"matchLabels\":{\"app\":"
                              "\"web\"}}," TMPL("{\"app\":\"web\"}") "}"));
        DEP->set_defaults(r);
        assert_json(json_object_get(json_object_get(r, "spec"), "strategy"), "{\"type\":\"Recreate\"}");
        assert_string_equal(DEP->short_names[0], "deploy");
}

static void test_deploy_validation(void **state)
{
        json_auto_t *a = validate(
                DEP, WL("Deployment",
                        "{\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{"
                        "\"maxUnavailable\":0,\"maxSurge\":\"0%\"}},\"minReadySeconds\":700,"
                        "\"selector\":{\"matchLabels\":{\"app\":\"web\"}}," TMPL("{\"app\":\"web\"}") "}"));
        assert_int_equal(json_array_size(a), 2);
        assert_cause(a, 0, "FieldValueInvalid", "spec.strategy.rollingUpdate.maxUnavailable",
                     "Invalid value: 0: may not be 0 when `maxSurge` is 0");
        assert_cause(a, 1, "FieldValueInvalid", "spec.progressDeadlineSeconds",
                     "Invalid value: 600: must be greater than minReadySeconds");

        json_auto_t *b = validate(
                DEP, WL("Deployment", "{\"strategy\":{\"type\":\"Recreate\",\"rollingUpdate\":{}},"
                                      "\"revisionHistoryLimit\":-2,\"selector\":{\"matchLabels\":{\"app\":"
                                      "\"web\"}}," TMPL("{\"app\":\"web\"}") "}"));
        assert_int_equal(json_array_size(b), 2);
        assert_cause(b, 0, "FieldValueForbidden", "spec.strategy.rollingUpdate",
                     "Forbidden: may not be specified when strategy `type` is 'Recreate'");
        assert_cause(b, 1, "FieldValueInvalid", "spec.revisionHistoryLimit",
                     "Invalid value: -2: must be greater than or equal to 0");

        json_auto_t *c = validate(DEP, WL("Deployment",
                                          "{\"strategy\":{\"type\":\"Blue\"},\"selector\":{\"matchLabels\":{"
                                          "\"app\":\"web\"}}," TMPL("{\"app\":\"web\"}") "}"));
        assert_int_equal(json_array_size(c), 1);
        assert_cause(c, 0, "FieldValueNotSupported", "spec.strategy",
                     "Unsupported value: apps.DeploymentStrategy{Type:\"Blue\", "
                     "RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: \"Recreate\", "
                     "\"RollingUpdate\"");

        json_auto_t *d = validate(DEP, WL("Deployment",
                                          "{\"strategy\":{\"rollingUpdate\":{\"maxUnavailable\":\"120%\","
                                          "\"maxSurge\":\"abc\"}},\"selector\":{\"matchLabels\":{\"app\":"
                                          "\"web\"}}," TMPL("{\"app\":\"web\"}") "}"));
        assert_int_equal(json_array_size(d), 2);
        assert_cause(d, 0, "FieldValueInvalid", "spec.strategy.rollingUpdate.maxSurge",
                     "Invalid value: abc: a valid percent string must be a numeric string followed by an "
                     "ending '%' "
                     "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
        assert_cause(d, 1, "FieldValueInvalid", "spec.strategy.rollingUpdate.maxUnavailable",
                     "Invalid value: 120%: must not be greater than 100%");
}

static void test_rows(void **state)
{
        static const char *const rs_cols[] = { "Name", "Desired",    "Current", "Ready",
                                               "Age",  "Containers", "Images",  "Selector" };
        static const char *const rs_types[] = { "string", "integer", "integer", "integer",
                                                "string", "string",  "string",  "string" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(rs_cols); i++) {
                assert_string_equal(RS->columns[i].name, rs_cols[i]);
                assert_string_equal(RS->columns[i].type, rs_types[i]);
                assert_int_equal(RS->columns[i].priority, i >= 5 ? 1 : 0);
        }
        assert_null(RS->columns[8].name);
        static const char *const d_cols[] = { "Name", "Ready",      "Up-to-date", "Available",
                                              "Age",  "Containers", "Images",     "Selector" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(d_cols); i++) {
                assert_string_equal(DEP->columns[i].name, d_cols[i]);
                assert_int_equal(DEP->columns[i].priority, i >= 5 ? 1 : 0);
        }
        assert_null(DEP->columns[8].name);

        json_auto_t *rs =
                J("{\"metadata\":{\"name\":\"web-5d4f8\",\"creationTimestamp\":\"2026-11-24T15:30:18Z\"},"
                  "\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"web\",\"pod-template-"
                  "hash\":"
                  "\"5d4f8\"}},\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1."
                  "25\"},"
                  "{\"name\":\"log\",\"image\":\"busybox\"}]}}},\"status\":{\"replicas\":3,\"readyReplicas\":"
                  "2}}");
        json_auto_t *cells = json_array();
        RS->table_row(rs, &ctx, cells);
        assert_json(cells, "[\"web-5d4f8\",3,3,2,\"2m\",\"web,log\",\"nginx:1.25,busybox\",\"app=web,pod-"
                           "template-hash=5d4f8\"]");

        json_auto_t *d = J(
                "{\"metadata\":{\"name\":\"web\",\"creationTimestamp\":\"2026-11-24T15:25:18Z\"},\"spec\":{"
                "\"replicas\":3,\"selector\":{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\","
                "\"values\":[\"fe\",\"be\"]}],\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"spec\":{"
                "\"containers\":[{\"name\":\"web\",\"image\":\"nginx\"}]}}},\"status\":{\"readyReplicas\":1,"
                "\"updatedReplicas\":3,\"availableReplicas\":1}}");
        json_auto_t *dc = json_array();
        DEP->table_row(d, &ctx, dc);
        assert_json(dc, "[\"web\",\"1/3\",3,1,\"7m\",\"web\",\"nginx\",\"app=web,tier in (be,fe)\"]");

        json_auto_t *e = J("{\"metadata\":{\"name\":\"new\"},\"spec\":{\"selector\":{}}}");
        json_auto_t *ec = json_array();
        DEP->table_row(e, &ctx, ec);
        assert_json(ec, "[\"new\",\"0/0\",0,0,\"<unknown>\",\"\",\"\",\"\"]");
        json_auto_t *rc = json_array();
        RS->table_row(e, &ctx, rc);
        assert_json(rc, "[\"new\",0,0,0,\"<unknown>\",\"\",\"\",\"<none>\"]");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rs_defaults_and_strategy), cmocka_unit_test(test_rs_validation),
                cmocka_unit_test(test_selector_immutable),       cmocka_unit_test(test_deploy_defaults),
                cmocka_unit_test(test_deploy_validation),        cmocka_unit_test(test_rows),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

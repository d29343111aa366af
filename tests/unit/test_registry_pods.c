/* Unit tests for registry/common.c and registry/pods.c: defaults, strategy, validation
 * messages, update rules, the Table row, and the Invalid error text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "apiserver/registry.h"
#include "k8c/cleanup.h"
#include "k8c/names.h"

extern const struct k8c_resource k8c_resource_pods;
static const struct k8c_resource *R = &k8c_resource_pods;

/* 2026-11-24T15:32:18Z */
static const struct k8c_registry_ctx ctx = { .now = 1795534338 };

static json_t *J(const char *text)
{
        json_error_t e;
        json_t *v = json_loads(text, 0, &e);
        if (v == NULL)
                fail_msg("bad JSON in test: %s: %s", e.text, text);
        return v;
}

static const char *S(const json_t *obj, const char *a, const char *b)
{
        json_t *v = json_object_get(obj, a);
        if (b != NULL)
                v = json_object_get(v, b);
        return json_string_value(v);
}

#define POD(spec) "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":" spec "}"

static void test_defaults(void **state)
{
        json_auto_t *pod = J(
                POD("{\"containers\":[{\"name\":\"a\",\"image\":\"nginx\",\"ports\":[{\"containerPort\":80}],"
                    "\"resources\":{\"limits\":{\"cpu\":\"500m\"}}},"
                    "{\"name\":\"b\",\"image\":\"nginx:1.25\"},{\"name\":\"c\",\"image\":\"nginx:latest\"},"
                    "{\"name\":\"d\",\"image\":\"reg:5000/nginx@sha256:abcd\"}]}"));
        R->set_defaults(pod);
        json_t *spec = json_object_get(pod, "spec");
        assert_string_equal(S(spec, "restartPolicy", NULL), "Always");
        assert_string_equal(S(spec, "dnsPolicy", NULL), "ClusterFirst");
        assert_string_equal(S(spec, "schedulerName", NULL), "default-scheduler");
        assert_int_equal(json_integer_value(json_object_get(spec, "terminationGracePeriodSeconds")), 30);
        assert_true(json_is_true(json_object_get(spec, "enableServiceLinks")));
        assert_int_equal(json_object_size(json_object_get(spec, "securityContext")), 0);
        assert_true(json_is_object(json_object_get(spec, "securityContext")));
        json_t *c = json_object_get(spec, "containers");
        assert_string_equal(S(json_array_get(c, 0), "imagePullPolicy", NULL), "Always");
        assert_string_equal(S(json_array_get(c, 1), "imagePullPolicy", NULL), "IfNotPresent");
        assert_string_equal(S(json_array_get(c, 2), "imagePullPolicy", NULL), "Always");
        assert_string_equal(S(json_array_get(c, 3), "imagePullPolicy", NULL), "IfNotPresent");
        assert_string_equal(S(json_array_get(c, 0), "terminationMessagePath", NULL), "/dev/termination-log");
        assert_string_equal(S(json_array_get(c, 0), "terminationMessagePolicy", NULL), "File");
        json_t *port = json_array_get(json_object_get(json_array_get(c, 0), "ports"), 0);
        assert_string_equal(S(port, "protocol", NULL), "TCP");
        json_t *res = json_object_get(json_array_get(c, 0), "resources");
        assert_string_equal(S(json_object_get(res, "requests"), "cpu", NULL), "500m");

        /* Quantities come back in canonical form, as after Kubernetes' decode/encode. */
        json_auto_t *q = J(POD("{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"resources\":{\"limits\":{"
                               "\"cpu\":0.1,\"memory\":\"1Gi\"},\"requests\":{\"cpu\":1,\"memory\":\"1e3\","
                               "\"ephemeral-storage\":\"bogus\"}}}]}"));
        R->set_defaults(q);
        json_t *qres = json_object_get(
                json_array_get(json_object_get(json_object_get(q, "spec"), "containers"), 0), "resources");
        cleanup_free char *qtext = json_dumps(qres, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(qtext,
                            "{\"limits\":{\"cpu\":\"100m\",\"memory\":\"1Gi\"},\"requests\":{\"cpu\":\"1\","
                            "\"ephemeral-storage\":\"bogus\",\"memory\":\"1e3\"}}");
}

static void test_admission_defaults(void **state)
{
        json_auto_t *pod =
                J(POD("{\"containers\":[{\"name\":\"a\",\"image\":\"x\"}],\"tolerations\":[{\"key\":"
                      "\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
                      "\"tolerationSeconds\":60}]}"));
        R->set_defaults(pod);
        R->prepare_create(pod, &ctx);
        json_t *spec = json_object_get(pod, "spec");
        assert_int_equal(json_integer_value(json_object_get(spec, "priority")), 0);
        assert_string_equal(S(spec, "preemptionPolicy", NULL), "PreemptLowerPriority");
        cleanup_free char *tol =
                json_dumps(json_object_get(spec, "tolerations"), JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(
                tol, "[{\"effect\":\"NoExecute\",\"key\":\"node.kubernetes.io/unreachable\",\"operator\":"
                     "\"Exists\",\"tolerationSeconds\":60},{\"effect\":\"NoExecute\",\"key\":"
                     "\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"tolerationSeconds\":300}]");
        json_auto_t *all =
                J(POD("{\"containers\":[{\"name\":\"a\",\"image\":\"x\"}],\"tolerations\":[{\"operator\":"
                      "\"Exists\"}],\"priorityClassName\":\"high\"}"));
        R->prepare_create(all, &ctx);
        spec = json_object_get(all, "spec");
        assert_int_equal(json_array_size(json_object_get(spec, "tolerations")), 1);
        assert_null(json_object_get(spec, "priority"));
}

static void test_prepare_create_qos(void **state)
{
        static const struct {
                const char *spec;
                const char *qos;
        } cases[] = {
                { "{\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}", "BestEffort" },
                { "{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"resources\":{\"requests\":{\"cpu\":"
                  "\"100m\"}}}]}",
                  "Burstable" },
                { "{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"resources\":{\"limits\":{\"cpu\":\"1\","
                  "\"memory\":\"128Mi\"}}}]}",
                  "Guaranteed" },
                { "{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"resources\":{\"limits\":{\"cpu\":\"1\","
                  "\"memory\":\"128Mi\"},\"requests\":{\"cpu\":\"500m\"}}}]}",
                  "Burstable" },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                cleanup_free char *text = k8c_xasprintf(POD("%s"), cases[i].spec);
                json_auto_t *pod = J(text);
                json_object_set_new(pod, "status", json_pack("{s:s}", "phase", "Running"));
                R->set_defaults(pod);
                R->prepare_create(pod, &ctx);
                assert_string_equal(S(pod, "status", "phase"), "Pending");
                assert_string_equal(S(pod, "status", "qosClass"), cases[i].qos);
                assert_int_equal(json_object_size(json_object_get(pod, "status")), 2);
        }
}

/* Runs defaults + validation and returns the causes (new reference) and the error message. */
static json_t *validate(const char *text, char **ret_msg)
{
        json_auto_t *pod = J(text);
        R->set_defaults(pod);
        struct k8c_field_errors errs = { 0 };
        R->validate(pod, &ctx, &errs);
        cleanup_error k8c_error_t err = NULL;
        if (ret_msg != NULL) {
                int r = k8c_field_errors_to_error(&errs, "Pod", "web", &err);
                assert_int_equal(r, -(int)K8C_EINVALID);
                *ret_msg = k8c_xstrdup(k8c_error_msg(&err));
        }
        json_t *causes = errs.causes != NULL ? json_incref(errs.causes) : json_array();
        k8c_field_errors_free(&errs);
        return causes;
}

static void assert_cause(const json_t *causes, size_t i, const char *reason, const char *field,
                         const char *message)
{
        json_t *c = json_array_get(causes, i);
        assert_non_null(c);
        assert_string_equal(S(c, "reason", NULL), reason);
        assert_string_equal(S(c, "field", NULL), field);
        assert_string_equal(S(c, "message", NULL), message);
}

static void test_validate_ok(void **state)
{
        json_auto_t *causes =
                validate(POD("{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.25\",\"ports\":["
                             "{\"containerPort\":80,\"name\":\"http\"}],\"resources\":{\"requests\":{"
                             "\"cpu\":\"100m\",\"memory\":\"64Mi\"},\"limits\":{\"cpu\":\"200m\"}}}]}"),
                         NULL);
        assert_int_equal(json_array_size(causes), 0);
}

static void test_validate_image_required(void **state)
{
        cleanup_free char *msg = NULL;
        json_auto_t *causes = validate(POD("{\"containers\":[{\"name\":\"web\"}]}"), &msg);
        assert_int_equal(json_array_size(causes), 1);
        assert_cause(causes, 0, "FieldValueRequired", "spec.containers[0].image", "Required value");
        assert_string_equal(msg, "Pod \"web\" is invalid: spec.containers[0].image: Required value");
}

static void test_validate_many(void **state)
{
        cleanup_free char *msg = NULL;
        json_auto_t *causes = validate(
                "{\"metadata\":{\"name\":\"Web_1\",\"namespace\":\"default\"},\"spec\":{\"restartPolicy\":"
                "\"Sometimes\",\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"ports\":[{\"containerPort\":"
                "70000}]},{\"name\":\"a\",\"image\":\"y\",\"resources\":{\"requests\":{\"cpu\":\"500m\"},"
                "\"limits\":{\"cpu\":\"100m\"}}}]}}",
                &msg);
        assert_int_equal(json_array_size(causes), 5);
        assert_cause(
                causes, 0, "FieldValueInvalid", "metadata.name",
                "Invalid value: \"Web_1\": a lowercase RFC 1123 subdomain must consist of lower case "
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
                "(e.g. 'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
        assert_cause(causes, 1, "FieldValueInvalid", "spec.containers[0].ports[0].containerPort",
                     "Invalid value: 70000: must be between 1 and 65535, inclusive");
        assert_cause(causes, 2, "FieldValueInvalid", "spec.containers[1].resources.limits",
                     "Invalid value: \"100m\": must be greater than or equal to cpu request");
        assert_cause(causes, 3, "FieldValueDuplicate", "spec.containers[1].name", "Duplicate value: \"a\"");
        assert_cause(
                causes, 4, "FieldValueNotSupported", "spec.restartPolicy",
                "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"");
        assert_non_null(strstr(msg, "Pod \"web\" is invalid: [metadata.name: Invalid value: \"Web_1\": "));
        assert_non_null(strstr(
                msg, ")*'), spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be "
                     "between 1 and 65535, inclusive, spec.containers[1].resources.limits: Invalid "
                     "value: \"100m\": must be greater than or equal to cpu request, "
                     "spec.containers[1].name: Duplicate value: \"a\", spec.restartPolicy: Unsupported "
                     "value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"]"));
        assert_int_equal(msg[strlen(msg) - 1], ']');
}

static void test_validate_misc(void **state)
{
        json_auto_t *causes = validate(
                "{\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"-bad\"}},\"spec\":{\"containers\":[],"
                "\"volumes\":[{\"name\":\"data\",\"emptyDir\":{}}],\"initContainers\":[{\"name\":\"init\","
                "\"image\":\"busybox\",\"volumeMounts\":[{\"name\":\"nope\",\"mountPath\":\"/x\"}],"
                "\"imagePullPolicy\":\"Sometimes\",\"resources\":{\"limits\":{\"gpu\":\"1\",\"memory\":"
                "\"lots\"}}}]}}",
                NULL);
        assert_int_equal(json_array_size(causes), 7);
        assert_cause(causes, 0, "FieldValueRequired", "metadata.namespace", "Required value");
        assert_string_equal(S(json_array_get(causes, 1), "field", NULL), "metadata.labels");
        assert_cause(causes, 2, "FieldValueRequired", "spec.containers", "Required value");
        assert_cause(causes, 3, "FieldValueNotFound", "spec.initContainers[0].volumeMounts[0].name",
                     "Not found: \"nope\"");
        assert_cause(causes, 4, "FieldValueNotSupported", "spec.initContainers[0].imagePullPolicy",
                     "Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", "
                     "\"Never\"");
        assert_cause(causes, 5, "FieldValueInvalid", "spec.initContainers[0].resources.limits[gpu]",
                     "Invalid value: \"gpu\": must be a standard resource for containers");
        assert_string_equal(S(json_array_get(causes, 6), "field", NULL),
                            "spec.initContainers[0].resources.limits[memory]");
}

static void test_validate_probes(void **state)
{
        json_auto_t *ok = validate(
                POD("{\"containers\":[{\"name\":\"web\",\"image\":\"x:1\",\"ports\":[{\"name\":"
                    "\"http\",\"containerPort\":80}],\"livenessProbe\":{\"httpGet\":{\"port\":"
                    "\"http\"}},\"readinessProbe\":{\"tcpSocket\":{\"port\":80},\"successThreshold\":2}}]}"),
                NULL);
        assert_int_equal(json_array_size(ok), 0);
        json_auto_t *bad =
                validate(POD("{\"containers\":[{\"name\":\"web\",\"image\":\"x:1\",\"livenessProbe\":{"
                             "\"httpGet\":{\"port\":0,\"scheme\":\"FTP\"},\"exec\":{\"command\":[\"true\"]},"
                             "\"successThreshold\":3},\"startupProbe\":{\"periodSeconds\":-1}}]}"),
                         NULL);
        assert_int_equal(json_array_size(bad), 6);
        assert_cause(bad, 0, "FieldValueForbidden", "spec.containers[0].livenessProbe",
                     "Forbidden: may not specify more than 1 handler type");
        assert_cause(bad, 1, "FieldValueInvalid", "spec.containers[0].livenessProbe.httpGet.port",
                     "Invalid value: 0: must be between 1 and 65535, inclusive");
        assert_cause(bad, 2, "FieldValueNotSupported", "spec.containers[0].livenessProbe.httpGet.scheme",
                     "Unsupported value: \"FTP\": supported values: \"HTTP\", \"HTTPS\"");
        assert_cause(bad, 3, "FieldValueInvalid", "spec.containers[0].livenessProbe.successThreshold",
                     "Invalid value: 3: must be 1");
        assert_cause(bad, 4, "FieldValueRequired", "spec.containers[0].startupProbe",
                     "Required value: must specify a handler type");
        assert_cause(bad, 5, "FieldValueInvalid", "spec.containers[0].startupProbe.periodSeconds",
                     "Invalid value: -1: must be greater than or equal to 0");
}

static void test_prepare_update_keeps_status(void **state)
{
        json_auto_t *old = J(POD("{\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}"));
        json_object_set_new(old, "status", json_pack("{s:s}", "phase", "Running"));
        json_auto_t *upd = J(POD("{\"containers\":[{\"name\":\"a\",\"image\":\"y\"}]}"));
        json_object_set_new(upd, "status", json_pack("{s:s}", "phase", "Failed"));
        R->prepare_update(upd, old, &ctx);
        assert_string_equal(S(upd, "status", "phase"), "Running");
        json_t *empty_old = J(POD("{\"containers\":[]}"));
        R->prepare_update(upd, empty_old, &ctx);
        assert_null(json_object_get(upd, "status"));
        json_decref(empty_old);
}

static size_t update_errors(const char *old_spec, const char *new_spec, json_t **ret_causes)
{
        cleanup_free char *ot = k8c_xasprintf(POD("%s"), old_spec);
        cleanup_free char *nt = k8c_xasprintf(POD("%s"), new_spec);
        json_auto_t *old = J(ot);
        json_auto_t *upd = J(nt);
        R->set_defaults(old);
        R->set_defaults(upd);
        struct k8c_field_errors errs = { 0 };
        R->validate_update(upd, old, &ctx, &errs);
        size_t n = k8c_field_errors_count(&errs);
        *ret_causes = errs.causes != NULL ? json_incref(errs.causes) : json_array();
        k8c_field_errors_free(&errs);
        return n;
}

static void test_validate_update(void **state)
{
        json_t *causes = NULL;
        const char *base =
                "{\"containers\":[{\"name\":\"a\",\"image\":\"x:1\",\"ports\":[{\"containerPort\":80}]}],"
                "\"tolerations\":[{\"key\":\"k\",\"operator\":\"Exists\"}],\"activeDeadlineSeconds\":100}";
        assert_int_equal(
                update_errors(base,
                              "{\"containers\":[{\"name\":\"a\",\"image\":\"x:2\",\"ports\":[{"
                              "\"containerPort\":80}]}],"
                              "\"tolerations\":[{\"key\":\"k\",\"operator\":\"Exists\"},{\"key\":\"j\","
                              "\"operator\":\"Exists\"}],\"activeDeadlineSeconds\":50}",
                              &causes),
                0);
        json_decref(causes);
        assert_int_equal(update_errors(base,
                                       "{\"containers\":[{\"name\":\"a\",\"image\":\"x:1\",\"ports\":[{"
                                       "\"containerPort\":81}]}],"
                                       "\"tolerations\":[{\"key\":\"k\",\"operator\":\"Exists\"}],"
                                       "\"activeDeadlineSeconds\":100}",
                                       &causes),
                         1);
        assert_cause(causes, 0, "FieldValueForbidden", "spec",
                     "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
                     "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
                     "additions "
                     "to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 "
                     "if it "
                     "was previously negative)");
        json_decref(causes);
        assert_int_equal(update_errors(base,
                                       "{\"containers\":[{\"name\":\"a\",\"image\":\"x:1\",\"ports\":[{"
                                       "\"containerPort\":80}]}],"
                                       "\"activeDeadlineSeconds\":200}",
                                       &causes),
                         2);
        assert_cause(causes, 0, "FieldValueInvalid", "spec.activeDeadlineSeconds",
                     "Invalid value: 200: must be less than or equal to previous value");
        assert_string_equal(S(json_array_get(causes, 1), "field", NULL), "spec");
        json_decref(causes);
}

static json_t *row(const char *text)
{
        json_auto_t *pod = J(text);
        json_t *cells = json_array();
        R->table_row(pod, &ctx, cells);
        return cells;
}

static void assert_cells(const json_t *cells, const char *want)
{
        cleanup_free char *got = json_dumps(cells, JSON_COMPACT);
        assert_string_equal(got, want);
}

static void test_columns(void **state)
{
        static const char *const names[] = { "Name", "Ready", "Status",         "Restarts",       "Age",
                                             "IP",   "Node",  "Nominated Node", "Readiness Gates" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(names); i++) {
                assert_string_equal(R->columns[i].name, names[i]);
                assert_string_equal(R->columns[i].type, "string");
                assert_int_equal(R->columns[i].priority, i >= 5 ? 1 : 0);
                assert_true(strlen(R->columns[i].description) > 10);
        }
        assert_string_equal(R->columns[0].format, "name");
        assert_null(R->columns[K8C_ARRAY_SIZE(names)].name);
        assert_string_equal(R->short_names[0], "po");
        assert_null(R->short_names[1]);
        assert_string_equal(R->categories[0], "all");
        assert_true(R->namespaced && R->has_status && !R->has_scale);
}

static void test_rows(void **state)
{
        json_auto_t *c1 =
                row("{\"metadata\":{\"name\":\"web\",\"creationTimestamp\":\"2026-11-24T15:27:18Z\"},"
                    "\"spec\":{\"nodeName\":\"node-1\",\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]},"
                    "\"status\":{\"phase\":\"Running\",\"podIPs\":[{\"ip\":\"10.244.1.3\"}],"
                    "\"containerStatuses\":[{\"name\":\"a\",\"ready\":true,\"restartCount\":0,\"state\":{"
                    "\"running\":{}}},{\"name\":\"b\",\"ready\":false,\"restartCount\":0,\"state\":{"
                    "\"running\":{}}}]}}");
        assert_cells(
                c1,
                "[\"web\",\"1/2\",\"Running\",\"0\",\"5m\",\"10.244.1.3\",\"node-1\",\"<none>\",\"<none>\"]");

        json_auto_t *c2 = row(
                "{\"metadata\":{\"name\":\"crash\",\"creationTimestamp\":\"2026-11-24T12:32:18Z\"},"
                "\"spec\":{\"containers\":[{\"name\":\"a\"}],\"readinessGates\":[{\"conditionType\":\"x\"}]},"
                "\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"x\",\"status\":\"True\"}],"
                "\"containerStatuses\":[{\"name\":\"a\",\"ready\":false,\"restartCount\":3,\"state\":{"
                "\"waiting\":{\"reason\":\"CrashLoopBackOff\"}},\"lastState\":{\"terminated\":{"
                "\"exitCode\":1,\"finishedAt\":\"2026-11-24T15:30:18Z\"}}}]}}");
        assert_cells(c2, "[\"crash\",\"0/1\",\"CrashLoopBackOff\",\"3 (2m "
                         "ago)\",\"3h\",\"<none>\",\"<none>\",\"<none>\","
                         "\"1/1\"]");

        json_auto_t *c3 =
                row("{\"metadata\":{\"name\":\"bye\",\"creationTimestamp\":\"2026-11-24T15:32:00Z\","
                    "\"deletionTimestamp\":\"2026-11-24T15:33:00Z\"},\"spec\":{\"containers\":[{\"name\":"
                    "\"a\"}]},"
                    "\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"a\",\"ready\":true,"
                    "\"state\":{\"running\":{}}}]}}");
        assert_cells(c3, "[\"bye\",\"1/"
                         "1\",\"Terminating\",\"0\",\"18s\",\"<none>\",\"<none>\",\"<none>\",\"<none>\"]");

        json_auto_t *c4 =
                row("{\"metadata\":{\"name\":\"init\"},\"spec\":{\"initContainers\":[{\"name\":\"i\"}],"
                    "\"containers\":[{\"name\":\"a\"}]},\"status\":{\"phase\":\"Pending\","
                    "\"initContainerStatuses\":[{\"name\":\"i\",\"state\":{\"running\":{}}}]}}");
        assert_cells(c4, "[\"init\",\"0/1\",\"Init:0/"
                         "1\",\"0\",\"<unknown>\",\"<none>\",\"<none>\",\"<none>\",\"<none>\"]");

        json_auto_t *c5 =
                row("{\"metadata\":{\"name\":\"done\",\"creationTimestamp\":\"2026-11-20T15:32:18Z\"},"
                    "\"spec\":{\"containers\":[{\"name\":\"a\"}]},\"status\":{\"phase\":\"Succeeded\","
                    "\"containerStatuses\":[{\"name\":\"a\",\"state\":{\"terminated\":{\"exitCode\":0,"
                    "\"reason\":\"Completed\"}}}]}}");
        assert_cells(
                c5,
                "[\"done\",\"0/1\",\"Completed\",\"0\",\"4d\",\"<none>\",\"<none>\",\"<none>\",\"<none>\"]");

        json_auto_t *c6 =
                row("{\"metadata\":{\"name\":\"sig\",\"creationTimestamp\":\"2026-11-24T15:32:18Z\"},"
                    "\"spec\":{\"containers\":[{\"name\":\"a\"}]},\"status\":{\"phase\":\"Failed\","
                    "\"containerStatuses\":[{\"name\":\"a\",\"state\":{\"terminated\":{\"exitCode\":137,"
                    "\"signal\":9}}}]}}");
        assert_cells(
                c6,
                "[\"sig\",\"0/1\",\"Signal:9\",\"0\",\"0s\",\"<none>\",\"<none>\",\"<none>\",\"<none>\"]");
}

static void test_errors_to_error(void **state)
{
        struct k8c_field_errors errs = { 0 };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_field_errors_to_error(&errs, "Pod", "x", &err), -(int)K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err), "Pod \"x\" is invalid");
        k8c_field_error(&errs, "FieldValueRequired", "spec.a", "Required value");
        k8c_field_error(&errs, "FieldValueRequired", "spec.a", "Required value");
        assert_int_equal(k8c_field_errors_count(&errs), 2);
        k8c_field_errors_to_error(&errs, "Deployment.apps", "web", &err);
        /* Duplicated messages collapse, as utilerrors.NewAggregate via ToAggregate does. */
        assert_string_equal(k8c_error_msg(&err),
                            "Deployment.apps \"web\" is invalid: spec.a: Required value");
        k8c_field_error(&errs, "FieldValueInvalid", "spec.b", "Invalid value: %d: %s", 3, "bad");
        k8c_field_errors_to_error(&errs, "Deployment.apps", "web", &err);
        assert_string_equal(k8c_error_msg(&err), "Deployment.apps \"web\" is invalid: [spec.a: Required "
                                                 "value, spec.b: Invalid value: 3: bad]");
        assert_int_equal(k8c_field_errors_count(&errs), 3);
        k8c_field_errors_free(&errs);
        assert_int_equal(k8c_field_errors_count(&errs), 0);
}

static void test_registry_table(void **state)
{
        assert_ptr_equal(k8c_resource_find("", "v1", "pods"), R);
        assert_ptr_equal(k8c_resource_find(NULL, "v1", "pods"), R);
        assert_null(k8c_resource_find("apps", "v1", "pods"));
        const struct k8c_resource *d = k8c_resource_find("apps", "v1", "deployments");
        assert_non_null(d);
        cleanup_free char *qk = k8c_resource_qualified_kind(d);
        cleanup_free char *av = k8c_resource_api_version(d);
        cleanup_free char *pk = k8c_resource_qualified_kind(R);
        cleanup_free char *pav = k8c_resource_api_version(R);
        assert_string_equal(qk, "Deployment.apps");
        assert_string_equal(av, "apps/v1");
        assert_string_equal(pk, "Pod");
        assert_string_equal(pav, "v1");
        size_t n = 0;
        for (; k8c_resources[n] != NULL; n++) {
                const struct k8c_resource *r = k8c_resources[n];
                assert_non_null(r->columns);
                assert_non_null(r->table_row);
                assert_non_null(r->validate);
                assert_string_equal(r->columns[0].name, strcmp(r->kind, "Event") == 0 ? "Last Seen" : "Name");
        }
        assert_int_equal(n, 16);
        const struct k8c_resource *v1 = k8c_resource_find("autoscaling", "v1", "horizontalpodautoscalers");
        assert_ptr_equal(v1->storage_of, k8c_resource_find("autoscaling", "v2", "horizontalpodautoscalers"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_admission_defaults),
                cmocka_unit_test(test_prepare_create_qos),
                cmocka_unit_test(test_validate_ok),
                cmocka_unit_test(test_validate_image_required),
                cmocka_unit_test(test_validate_many),
                cmocka_unit_test(test_validate_misc),
                cmocka_unit_test(test_validate_probes),
                cmocka_unit_test(test_prepare_update_keeps_status),
                cmocka_unit_test(test_validate_update),
                cmocka_unit_test(test_columns),
                cmocka_unit_test(test_rows),
                cmocka_unit_test(test_errors_to_error),
                cmocka_unit_test(test_registry_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

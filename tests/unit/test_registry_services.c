/* Unit tests for registry/services.c and registry/endpoints.c: defaults, ip family fields,
 * allocated values kept on update, validation messages, clusterIP immutability, rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "apiserver/registry.h"
#include "k8c/cleanup.h"

extern const struct k8c_resource k8c_resource_services, k8c_resource_endpoints;
static const struct k8c_resource *R = &k8c_resource_services;
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

#define SVC(spec) "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":" spec "}"

static void test_defaults(void **state)
{
        json_auto_t *svc = J(SVC("{\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80},{\"port\":443,"
                                 "\"targetPort\":\"https\",\"protocol\":\"TCP\"}]}"));
        R->set_defaults(svc);
        assert_json(json_object_get(svc, "spec"), "{\"internalTrafficPolicy\":\"Cluster\",\"ports\":[{"
                                                  "\"port\":80,\"protocol\":\"TCP\",\"targetPort\":80},"
                                                  "{\"port\":443,\"protocol\":\"TCP\",\"targetPort\":"
                                                  "\"https\"}],\"selector\":{\"app\":\"web\"},"
                                                  "\"sessionAffinity\":\"None\",\"type\":\"ClusterIP\"}");
        R->prepare_create(svc, &ctx);
        assert_json(json_object_get(svc, "status"), "{\"loadBalancer\":{}}");
        json_t *spec = json_object_get(svc, "spec");
        assert_json(json_object_get(spec, "ipFamilies"), "[\"IPv4\"]");
        assert_string_equal(json_string_value(json_object_get(spec, "ipFamilyPolicy")), "SingleStack");
        assert_null(json_object_get(spec, "clusterIPs")); /* allocated later by the REST code */

        json_auto_t *np =
                J(SVC("{\"type\":\"NodePort\",\"sessionAffinity\":\"ClientIP\",\"clusterIP\":\"10.96.0.10\","
                      "\"ports\":[{\"port\":80,\"targetPort\":0,\"protocol\":\"UDP\"}]}"));
        R->set_defaults(np);
        R->prepare_create(np, &ctx);
        assert_json(
                json_object_get(np, "spec"),
                "{\"clusterIP\":\"10.96.0.10\",\"clusterIPs\":[\"10.96.0.10\"],\"externalTrafficPolicy\":"
                "\"Cluster\","
                "\"internalTrafficPolicy\":\"Cluster\",\"ipFamilies\":[\"IPv4\"],\"ipFamilyPolicy\":"
                "\"SingleStack\","
                "\"ports\":[{\"port\":80,\"protocol\":\"UDP\",\"targetPort\":80}],\"sessionAffinity\":"
                "\"ClientIP\","
                "\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":10800}},\"type\":\"NodePort\"}");

        json_auto_t *lb = J(SVC("{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]}"));
        R->set_defaults(lb);
        assert_true(
                json_is_true(json_object_get(json_object_get(lb, "spec"), "allocateLoadBalancerNodePorts")));
        json_auto_t *en = J(SVC("{\"type\":\"ExternalName\",\"externalName\":\"db.example.com\"}"));
        R->set_defaults(en);
        R->prepare_create(en, &ctx);
        assert_json(json_object_get(en, "spec"), "{\"externalName\":\"db.example.com\",\"sessionAffinity\":"
                                                 "\"None\",\"type\":\"ExternalName\"}");
}

static json_t *validate(const char *text)
{
        json_auto_t *svc = J(text);
        R->set_defaults(svc);
        struct k8c_field_errors errs = { 0 };
        R->validate(svc, &ctx, &errs);
        json_t *causes = errs.causes != NULL ? json_incref(errs.causes) : json_array();
        k8c_field_errors_free(&errs);
        return causes;
}

static void test_validate(void **state)
{
        json_auto_t *ok =
                validate(SVC("{\"selector\":{\"app\":\"web\"},\"ports\":[{\"name\":\"http\",\"port\":80},"
                             "{\"name\":\"https\",\"port\":443}],\"clusterIP\":\"10.96.0.12\"}"));
        assert_int_equal(json_array_size(ok), 0);
        json_auto_t *headless = validate(SVC("{\"clusterIP\":\"None\",\"selector\":{\"app\":\"web\"}}"));
        assert_int_equal(json_array_size(headless), 0);

        json_auto_t *c =
                validate("{\"metadata\":{\"name\":\"1web\",\"namespace\":\"default\"},\"spec\":{\"type\":"
                         "\"Magic\",\"clusterIP\":\"10.96.0.300\",\"ports\":[{\"port\":0},{\"port\":80,"
                         "\"protocol\":\"ICMP\",\"nodePort\":30080}]}}");
        assert_int_equal(json_array_size(c), 8);
        assert_cause(c, 0, "FieldValueInvalid", "metadata.name",
                     "Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric "
                     "characters or "
                     "'-', start with an alphabetic character, and end with an alphanumeric character (e.g. "
                     "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')");
        assert_cause(c, 1, "FieldValueRequired", "spec.ports[0].name", "Required value");
        assert_cause(c, 2, "FieldValueInvalid", "spec.ports[0].port",
                     "Invalid value: 0: must be between 1 and 65535, inclusive");
        /* targetPort defaulted from the bad port is reported too, as Kubernetes does. */
        assert_cause(c, 3, "FieldValueInvalid", "spec.ports[0].targetPort",
                     "Invalid value: 0: must be between 1 and 65535, inclusive");
        assert_cause(c, 4, "FieldValueRequired", "spec.ports[1].name", "Required value");
        assert_cause(c, 5, "FieldValueNotSupported", "spec.ports[1].protocol",
                     "Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"");
        assert_cause(c, 7, "FieldValueNotSupported", "spec.type",
                     "Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", "
                     "\"LoadBalancer\", \"NodePort\"");
        assert_cause(c, 6, "FieldValueInvalid", "spec.clusterIPs[0]",
                     "Invalid value: \"10.96.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or "
                     "2001:db8::ffff)");

        json_auto_t *d =
                validate(SVC("{\"ports\":[{\"name\":\"a\",\"port\":80,\"nodePort\":30080},{\"name\":\"a\","
                             "\"port\":81,\"targetPort\":70000}]}"));
        assert_int_equal(json_array_size(d), 3);
        assert_cause(d, 0, "FieldValueDuplicate", "spec.ports[1].name", "Duplicate value: \"a\"");
        assert_cause(d, 1, "FieldValueInvalid", "spec.ports[1].targetPort",
                     "Invalid value: 70000: must be between 1 and 65535, inclusive");
        assert_cause(d, 2, "FieldValueForbidden", "spec.ports[0].nodePort",
                     "Forbidden: may not be used when `type` is 'ClusterIP'");

        json_auto_t *f = validate(
                SVC("{\"type\":\"NodePort\",\"clusterIP\":\"None\",\"ports\":[{\"name\":\"a\","
                    "\"port\":80,\"nodePort\":30080},{\"name\":\"b\",\"port\":80,\"nodePort\":30080}],"
                    "\"externalTrafficPolicy\":\"Nearest\"}"));
        assert_int_equal(json_array_size(f), 4);
        assert_cause(f, 0, "FieldValueInvalid", "spec.clusterIPs[0]",
                     "Invalid value: \"None\": may not be set to 'None' for NodePort services");
        assert_cause(f, 1, "FieldValueDuplicate", "spec.ports[1].nodePort", "Duplicate value: 30080");
        assert_cause(
                f, 2, "FieldValueDuplicate", "spec.ports[1]",
                "Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), "
                "Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}");
        assert_cause(f, 3, "FieldValueNotSupported", "spec.externalTrafficPolicy",
                     "Unsupported value: \"Nearest\": supported values: \"Cluster\", \"Local\"");

        json_auto_t *g = validate(SVC("{\"type\":\"ExternalName\",\"externalName\":\"db.example.com.\"}"));
        assert_int_equal(json_array_size(g), 0);
        json_auto_t *h =
                validate(SVC("{\"type\":\"ExternalName\",\"clusterIP\":\"10.96.0.1\",\"externalName\":"
                             "\"Not_A_Host\"}"));
        assert_int_equal(json_array_size(h), 2);
        assert_cause(h, 0, "FieldValueForbidden", "spec.clusterIPs",
                     "Forbidden: may not be set for ExternalName services");
        assert_string_equal(json_string_value(json_object_get(json_array_get(h, 1), "field")),
                            "spec.externalName");

        json_auto_t *e = validate(SVC("{}"));
        assert_int_equal(json_array_size(e), 1);
        assert_cause(e, 0, "FieldValueRequired", "spec.ports", "Required value");
}

static void test_ranges(void **state)
{
        static const struct k8c_registry_ctx rctx = { .now = 1795534338,
                                                      .service_cluster_ip_range = "10.96.0.0/12",
                                                      .service_node_port_range = "30000-32767" };
        json_auto_t *ok = J(SVC("{\"type\":\"NodePort\",\"clusterIP\":\"10.111.2.3\",\"ports\":[{\"port\":80,"
                                "\"nodePort\":32767}]}"));
        R->set_defaults(ok);
        struct k8c_field_errors errs = { 0 };
        R->validate(ok, &rctx, &errs);
        assert_int_equal(k8c_field_errors_count(&errs), 0);
        json_auto_t *bad = J(SVC("{\"type\":\"NodePort\",\"clusterIP\":\"10.0.0.1\",\"ports\":[{\"port\":80,"
                                 "\"nodePort\":8080}]}"));
        R->set_defaults(bad);
        R->validate(bad, &rctx, &errs);
        assert_int_equal(k8c_field_errors_count(&errs), 2);
        assert_cause(errs.causes, 0, "FieldValueInvalid", "spec.clusterIPs",
                     "Invalid value: []string{\"10.0.0.1\"}: failed to allocate IP 10.0.0.1: provided IP is "
                     "not in the "
                     "valid range. The range of valid IPs is 10.96.0.0/12");
        assert_cause(
                errs.causes, 1, "FieldValueInvalid", "spec.ports[0].nodePort",
                "Invalid value: 8080: provided port is not in the valid range. The range of valid ports is "
                "30000-32767");
        cleanup_error k8c_error_t err = NULL;
        k8c_field_errors_to_error(&errs, "Service", "web", &err);
        assert_string_equal(
                k8c_error_msg(&err),
                "Service \"web\" is invalid: [spec.clusterIPs: Invalid value: []string{\"10.0.0.1\"}: failed "
                "to allocate IP 10.0.0.1: provided IP is not in the valid range. The range of valid IPs is "
                "10.96.0.0/12, spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the "
                "valid "
                "range. The range of valid ports is 30000-32767]");
        k8c_field_errors_free(&errs);
}

static void test_update(void **state)
{
        json_auto_t *old =
                J(SVC("{\"type\":\"NodePort\",\"clusterIP\":\"10.96.0.10\",\"clusterIPs\":[\"10.96.0.10\"],"
                      "\"ports\":[{\"port\":80,\"protocol\":\"TCP\",\"nodePort\":30080}]}"));
        json_object_set_new(old, "status", json_pack("{s:{}}", "loadBalancer"));
        /* kubectl apply of the original manifest: no clusterIP, no nodePort. */
        json_auto_t *upd = J(SVC("{\"type\":\"NodePort\",\"ports\":[{\"port\":80}]}"));
        R->set_defaults(upd);
        R->prepare_update(upd, old, &ctx);
        json_t *spec = json_object_get(upd, "spec");
        assert_string_equal(json_string_value(json_object_get(spec, "clusterIP")), "10.96.0.10");
        assert_json(json_object_get(spec, "clusterIPs"), "[\"10.96.0.10\"]");
        assert_json(json_object_get(spec, "ports"),
                    "[{\"nodePort\":30080,\"port\":80,\"protocol\":\"TCP\",\"targetPort\":80}]");
        assert_json(json_object_get(upd, "status"), "{\"loadBalancer\":{}}");
        struct k8c_field_errors errs = { 0 };
        R->validate_update(upd, old, &ctx, &errs);
        assert_int_equal(k8c_field_errors_count(&errs), 0);

        json_object_set_new(spec, "clusterIP", json_string("10.96.0.99"));
        json_object_set_new(spec, "clusterIPs", json_pack("[s]", "10.96.0.99"));
        R->validate_update(upd, old, &ctx, &errs);
        assert_int_equal(k8c_field_errors_count(&errs), 1);
        assert_cause(errs.causes, 0, "FieldValueInvalid", "spec.clusterIPs[0]",
                     "Invalid value: []string{\"10.96.0.99\"}: may not change once set");
        k8c_field_errors_free(&errs);
}

static void test_type_change(void **state)
{
        json_auto_t *old = J(
                SVC("{\"type\":\"NodePort\",\"clusterIP\":\"10.96.0.10\",\"clusterIPs\":[\"10.96.0.10\"],"
                    "\"ipFamilies\":[\"IPv4\"],\"ipFamilyPolicy\":\"SingleStack\",\"externalTrafficPolicy\":"
                    "\"Cluster\",\"internalTrafficPolicy\":\"Cluster\",\"sessionAffinity\":\"None\","
                    "\"ports\":[{\"port\":80,\"protocol\":\"TCP\",\"targetPort\":80,\"nodePort\":30080}]}"));
        /* The merged result of `kubectl apply` with type ClusterIP: allocated values still present. */
        json_auto_t *to_cip = json_deep_copy(old);
        json_object_set_new(json_object_get(to_cip, "spec"), "type", json_string("ClusterIP"));
        R->set_defaults(to_cip);
        R->prepare_update(to_cip, old, &ctx);
        assert_json(json_object_get(to_cip, "spec"),
                    "{\"clusterIP\":\"10.96.0.10\",\"clusterIPs\":[\"10.96.0.10\"],\"internalTrafficPolicy\":"
                    "\"Cluster\","
                    "\"ipFamilies\":[\"IPv4\"],\"ipFamilyPolicy\":\"SingleStack\",\"ports\":[{\"port\":80,"
                    "\"protocol\":"
                    "\"TCP\",\"targetPort\":80}],\"sessionAffinity\":\"None\",\"type\":\"ClusterIP\"}");
        struct k8c_field_errors errs = { 0 };
        R->validate(to_cip, &ctx, &errs);
        R->validate_update(to_cip, old, &ctx, &errs);
        assert_int_equal(k8c_field_errors_count(&errs), 0);

        json_auto_t *to_en = json_deep_copy(old);
        json_t *spec = json_object_get(to_en, "spec");
        json_object_set_new(spec, "type", json_string("ExternalName"));
        json_object_set_new(spec, "externalName", json_string("db.example.com"));
        R->set_defaults(to_en);
        R->prepare_update(to_en, old, &ctx);
        assert_json(json_object_get(to_en, "spec"),
                    "{\"externalName\":\"db.example.com\",\"ports\":[{"
                    "\"port\":80,"
                    "\"protocol\":\"TCP\",\"targetPort\":80}],\"sessionAffinity\":\"None\",\"type\":"
                    "\"ExternalName\"}");
        R->validate(to_en, &ctx, &errs);
        R->validate_update(to_en, old, &ctx, &errs);
        assert_int_equal(k8c_field_errors_count(&errs), 0);
}

static json_t *row(const struct k8c_resource *r, const char *text)
{
        json_auto_t *obj = J(text);
        json_t *cells = json_array();
        r->table_row(obj, &ctx, cells);
        return cells;
}

static void test_rows(void **state)
{
        static const char *const names[] = { "Name",    "Type", "Cluster-IP", "External-IP",
                                             "Port(s)", "Age",  "Selector" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(names); i++) {
                assert_string_equal(R->columns[i].name, names[i]);
                assert_int_equal(R->columns[i].priority, i == 6 ? 1 : 0);
        }
        assert_null(R->columns[7].name);
        assert_string_equal(R->short_names[0], "svc");
        assert_string_equal(R->field_selectors[0], "spec.clusterIP");
        assert_string_equal(R->field_selectors[1], "spec.type");
        assert_null(R->field_selectors[2]);

        json_auto_t *a = row(
                R, "{\"metadata\":{\"name\":\"web\",\"creationTimestamp\":\"2026-11-24T12:32:18Z\"},"
                   "\"spec\":{\"type\":\"NodePort\",\"clusterIPs\":[\"10.96.0.10\"],\"selector\":{\"tier\":"
                   "\"fe\",\"app\":\"web\"},\"ports\":[{\"port\":80,\"protocol\":\"TCP\",\"nodePort\":30080},"
                   "{\"port\":53,\"protocol\":\"UDP\"}]}}");
        assert_json(a, "[\"web\",\"NodePort\",\"10.96.0.10\",\"<none>\",\"80:30080/TCP,53/"
                       "UDP\",\"3h\",\"app=web,tier=fe\"]");
        json_auto_t *b =
                row(R, "{\"metadata\":{\"name\":\"lb\"},\"spec\":{\"type\":\"LoadBalancer\",\"clusterIPs\":"
                       "[\"10.96.0.11\"],\"ports\":[]}}");
        assert_json(
                b,
                "[\"lb\",\"LoadBalancer\",\"10.96.0.11\",\"<pending>\",\"<none>\",\"<unknown>\",\"<none>\"]");
        json_auto_t *c =
                row(R, "{\"metadata\":{\"name\":\"db\"},\"spec\":{\"type\":\"ExternalName\",\"externalName\":"
                       "\"db.example.com\"}}");
        assert_json(c, "[\"db\",\"ExternalName\",\"<none>\",\"db.example.com\",\"<none>\",\"<unknown>\",\"<"
                       "none>\"]");
        json_auto_t *d = row(
                R,
                "{\"metadata\":{\"name\":\"ext\"},\"spec\":{\"type\":\"LoadBalancer\",\"clusterIPs\":"
                "[\"10.96.0.12\"],\"externalIPs\":[\"1.2.3.4\"]},\"status\":{\"loadBalancer\":{\"ingress\":"
                "[{\"ip\":\"5.6.7.8\"}]}}}");
        assert_json(d, "[\"ext\",\"LoadBalancer\",\"10.96.0.12\",\"5.6.7.8,1.2.3.4\",\"<none>\",\"<unknown>"
                       "\",\"<none>\"]");
}

static void test_endpoints(void **state)
{
        const struct k8c_resource *E = &k8c_resource_endpoints;
        json_auto_t *ep =
                J("{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"creationTimestamp\":"
                  "\"2026-11-24T15:32:08Z\"},\"subsets\":[{\"addresses\":[{\"ip\":\"10.244.1.3\"},{\"ip\":"
                  "\"10.244.2.4\"}],\"ports\":[{\"port\":8080},{\"port\":8443}]}]}");
        E->set_defaults(ep);
        assert_string_equal(
                json_string_value(json_object_get(
                        json_array_get(
                                json_object_get(json_array_get(json_object_get(ep, "subsets"), 0), "ports"),
                                1),
                        "protocol")),
                "TCP");
        struct k8c_field_errors errs = { 0 };
        E->validate(ep, &ctx, &errs);
        assert_int_equal(k8c_field_errors_count(&errs), 2);
        assert_cause(errs.causes, 0, "FieldValueRequired", "subsets[0].ports[0].name", "Required value");
        assert_cause(errs.causes, 1, "FieldValueRequired", "subsets[0].ports[1].name", "Required value");
        k8c_field_errors_free(&errs);
        json_auto_t *cells = json_array();
        E->table_row(ep, &ctx, cells);
        assert_json(cells,
                    "[\"web\",\"10.244.1.3:8080,10.244.2.4:8080,10.244.1.3:8443 + 1 more...\",\"10s\"]");

        json_auto_t *none = row(E, "{\"metadata\":{\"name\":\"x\"}}");
        assert_json(none, "[\"x\",\"<none>\",\"<unknown>\"]");
        json_auto_t *bad =
                J("{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\"},\"subsets\":[{\"addresses\":[{\"ip\":"
                  "\"nope\"}],\"ports\":[{\"port\":70000,\"protocol\":\"TCP\"}]}]}");
        E->validate(bad, &ctx, &errs);
        assert_int_equal(k8c_field_errors_count(&errs), 2);
        assert_cause(
                errs.causes, 0, "FieldValueInvalid", "subsets[0].addresses[0].ip",
                "Invalid value: \"nope\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
        assert_cause(errs.causes, 1, "FieldValueInvalid", "subsets[0].ports[0].port",
                     "Invalid value: 70000: must be between 1 and 65535, inclusive");
        k8c_field_errors_free(&errs);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),    cmocka_unit_test(test_validate),
                cmocka_unit_test(test_ranges),      cmocka_unit_test(test_update),
                cmocka_unit_test(test_type_change), cmocka_unit_test(test_rows),
                cmocka_unit_test(test_endpoints),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

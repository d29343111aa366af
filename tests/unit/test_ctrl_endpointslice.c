/* Unit tests of the EndpointSlice computation (k8c_endpointslices_for_service):
 * conditions, ports resolved per pod and grouped, 100 endpoints per slice, the
 * placeholder slice, and Services that get none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_fake.h"
#include "k8c/json.h"

static json_t *svc(bool publish)
{
        return json_pack("{s:{s:s, s:s, s:s}, s:{s:{s:s}, s:[{s:s, s:i, s:s}], s:b}}", "metadata", "name",
                         "web", "namespace", "ns", "uid", "svc-uid", "spec", "selector", "app", "web",
                         "ports", "name", "http", "port", 80, "targetPort", "http",
                         "publishNotReadyAddresses", publish);
}

static json_t *pod(const char *name, const char *ip, int port, bool ready, bool deleting)
{
        json_t *p = json_pack("{s:{s:s, s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:[{s:s, s:i}]}]}, s:{s:s, s:s, "
                              "s:[{s:s, s:s}]}}",
                              "metadata", "name", name, "namespace", "ns", "uid", name, "labels", "app",
                              "web", "spec", "containers", "name", "c", "ports", "name", "http",
                              "containerPort", port, "status", "phase", "Running", "podIP", ip, "conditions",
                              "type", "Ready", "status", ready ? "True" : "False");
        if (deleting)
                json_object_set_new(json_object_get(p, "metadata"), "deletionTimestamp",
                                    json_string("2024-01-01T00:00:00Z"));
        return p;
}

static const json_t *ep_of(const json_t *slices, const char *name)
{
        size_t i, j;
        json_t *s, *e;
        json_array_foreach(slices, i, s) json_array_foreach(json_object_get(s, "endpoints"), j, e)
        {
                if (strcmp(k8c_json_get_string(e, "targetRef.name"), name) == 0)
                        return e;
        }
        return NULL;
}

static void test_conditions(void **state)
{
        json_auto_t *s = svc(false);
        json_auto_t *pods =
                json_pack("[o, o, o]", pod("a", "10.0.0.1", 8080, true, false),
                          pod("b", "10.0.0.2", 8080, false, false), pod("c", "10.0.0.3", 8080, true, true));
        json_auto_t *out = k8c_endpointslices_for_service(s, pods);
        assert_int_equal(json_array_size(out), 1);
        json_t *sl = json_array_get(out, 0);
        assert_string_equal(k8c_json_get_string(sl, "metadata.labels[\"kubernetes.io/service-name\"]"),
                            "web");
        assert_string_equal(k8c_json_get_string(sl, "ports[0].name"), "http");
        assert_int_equal(k8c_json_get_int(sl, "ports[0].port", 0), 8080);
        const json_t *a = ep_of(out, "a"), *b = ep_of(out, "b"), *c = ep_of(out, "c");
        assert_true(json_is_true(k8c_json_get(a, "conditions.ready")));
        assert_true(json_is_false(k8c_json_get(b, "conditions.ready")));
        assert_true(json_is_false(k8c_json_get(b, "conditions.serving")));
        /* Terminating: never ready, serving as its Ready condition says. */
        assert_true(json_is_false(k8c_json_get(c, "conditions.ready")));
        assert_true(json_is_true(k8c_json_get(c, "conditions.serving")));
        assert_true(json_is_true(k8c_json_get(c, "conditions.terminating")));
        /* publishNotReadyAddresses: all ready. */
        json_auto_t *s2 = svc(true);
        json_auto_t *out2 = k8c_endpointslices_for_service(s2, pods);
        assert_true(json_is_true(k8c_json_get(ep_of(out2, "b"), "conditions.ready")));
}

static void test_grouping_chunking_placeholder(void **state)
{
        json_auto_t *s = svc(false);
        /* Two port numbers behind the named port: two slices. */
        json_auto_t *pods = json_pack("[o, o]", pod("a", "10.0.0.1", 8080, true, false),
                                      pod("b", "10.0.0.2", 9090, true, false));
        json_auto_t *out = k8c_endpointslices_for_service(s, pods);
        assert_int_equal(json_array_size(out), 2);
        /* 250 pods: 100 + 100 + 50. */
        json_auto_t *many = json_array();
        for (int i = 0; i < 250; i++) {
                char name[16], ip[32];
                snprintf(name, sizeof(name), "p%d", i);
                snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 200, i % 200 + 1);
                json_array_append_new(many, pod(name, ip, 8080, true, false));
        }
        json_auto_t *chunks = k8c_endpointslices_for_service(s, many);
        assert_int_equal(json_array_size(chunks), 3);
        size_t total = 0, i;
        json_t *c;
        json_array_foreach(chunks, i, c)
        {
                assert_true(json_array_size(json_object_get(c, "endpoints")) <= 100);
                total += json_array_size(json_object_get(c, "endpoints"));
        }
        assert_int_equal(total, 250);
        /* No pods with an IP: one placeholder slice without endpoints or ports. */
        json_auto_t *none = json_pack("[o]", pod("a", "", 8080, true, false));
        json_auto_t *ph = k8c_endpointslices_for_service(s, none);
        assert_int_equal(json_array_size(ph), 1);
        assert_int_equal(json_array_size(k8c_json_get(json_array_get(ph, 0), "endpoints")), 0);
        assert_int_equal(json_array_size(k8c_json_get(json_array_get(ph, 0), "ports")), 0);
        /* No selector: none at all. */
        json_auto_t *manual = json_pack("{s:{s:s, s:s}, s:{s:[{s:i}]}}", "metadata", "name", "m", "namespace",
                                        "ns", "spec", "ports", "port", 80);
        assert_null(k8c_endpointslices_for_service(manual, pods));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_conditions),
                cmocka_unit_test(test_grouping_chunking_placeholder),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

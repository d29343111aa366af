/*
 * What the apiserver creates for itself at start-up: the kubernetes Service in
 * default and, with an advertise address, its Endpoints naming this apiserver
 * (replaced when the apiserver comes back with another address, left alone when
 * it is the same). Only 127.0.0.1 is contacted; the advertised addresses are only
 * data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/apiserver_harness.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"

static json_t *get(struct k8c_test_apiserver *s, const char *path, long *code)
{
        struct k8c_test_http_reply r = { 0 };
        assert_int_equal(k8c_test_http(s, "GET", path, NULL, NULL, 0, NULL, &r), 0);
        *code = r.code;
        json_t *o = json_loads(r.body != NULL ? r.body : "", 0, NULL);
        k8c_test_http_reply_free(&r);
        return o;
}

static void test_kubernetes_endpoints(void **state)
{
        struct k8c_test_apiserver s;
        const char *const first[] = { "--advertise-address", "10.250.1.7", NULL };
        assert_int_equal(k8c_test_apiserver_start(&s, first), 0);
        long code = 0;
        json_auto_t *svc = get(&s, "/api/v1/namespaces/default/services/kubernetes", &code);
        assert_int_equal(code, 200);
        assert_int_equal(k8c_json_get_int(svc, "spec.ports[0].port", 0), 443);
        json_auto_t *ep = get(&s, "/api/v1/namespaces/default/endpoints/kubernetes", &code);
        assert_int_equal(code, 200);
        assert_string_equal(k8c_json_get_string(ep, "subsets[0].addresses[0].ip"), "10.250.1.7");
        assert_int_equal(k8c_json_get_int(ep, "subsets[0].ports[0].port", 0), s.port);
        const char *rv1 = k8c_json_get_string(ep, "metadata.resourceVersion");
        cleanup_free char *rv1_copy = k8c_xstrdup(rv1);

        /* Same address: the object is left alone. */
        assert_int_equal(k8c_test_apiserver_restart(&s, first), 0);
        json_auto_t *ep2 = get(&s, "/api/v1/namespaces/default/endpoints/kubernetes", &code);
        assert_int_equal(code, 200);
        assert_string_equal(k8c_json_get_string(ep2, "metadata.resourceVersion"), rv1_copy);

        /* Another address: replaced. */
        const char *const second[] = { "--advertise-address", "10.250.1.8", NULL };
        assert_int_equal(k8c_test_apiserver_restart(&s, second), 0);
        json_auto_t *ep3 = get(&s, "/api/v1/namespaces/default/endpoints/kubernetes", &code);
        assert_int_equal(code, 200);
        assert_string_equal(k8c_json_get_string(ep3, "subsets[0].addresses[0].ip"), "10.250.1.8");
        assert_int_equal(json_array_size(k8c_json_get(ep3, "subsets[0].addresses")), 1);
        k8c_test_apiserver_stop(&s);
}

static void test_loopback_only_has_no_endpoints(void **state)
{
        struct k8c_test_apiserver s;
        assert_int_equal(k8c_test_apiserver_start(&s, NULL), 0);
        long code = 0;
        json_auto_t *ep = get(&s, "/api/v1/namespaces/default/endpoints/kubernetes", &code);
        /* Listening on 127.0.0.1 only: nothing a pod could reach, so no Endpoints. */
        assert_int_equal(code, 404);
        k8c_test_apiserver_stop(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kubernetes_endpoints),
                cmocka_unit_test(test_loopback_only_has_no_endpoints),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

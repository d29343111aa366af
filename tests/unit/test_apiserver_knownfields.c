/* Unit tests for src/apiserver/knownfields.c: unknown fields are found (with the paths users
 * see, list indices included) and pruned; free-form maps and undescribed kinds are left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"

static void test_unknown_fields_found_and_pruned(void **state)
{
        json_auto_t *o = json_loads(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"bogus\":1,"
                "\"metadata\":{\"name\":\"a\",\"labels\":{\"any\":\"thing\"},\"x\":2},"
                "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"resources\":{\"whatever\":{}}},"
                "{\"name\":\"d\",\"imag\":\"i\",\"ports\":[{\"containerPort\":1,\"nope\":true}]}],"
                "\"foo\":{\"bar\":1}}}",
                0, NULL);
        assert_non_null(o);
        cleanup_strv char **unknown = NULL;
        k8c_known_fields_prune("Pod", o, &unknown);
        assert_non_null(unknown);
        const char *want[] = { "bogus", "metadata.x", "spec.containers[1].imag",
                               "spec.containers[1].ports[0].nope", "spec.foo" };
        assert_int_equal(k8c_strv_len(unknown), K8C_ARRAY_SIZE(want));
        for (size_t i = 0; i < K8C_ARRAY_SIZE(want); i++) {
                bool found = false;
                for (size_t j = 0; unknown[j] != NULL; j++)
                        found |= strcmp(unknown[j], want[i]) == 0;
                if (!found)
                        fprintf(stderr, "missing %s\n", want[i]);
                assert_true(found);
        }
        json_auto_t *w = json_loads(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\",\"labels\":{\"any\":"
                "\"thing\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"resources\":{"
                "\"whatever\":{}}},{\"name\":\"d\",\"ports\":[{\"containerPort\":1}]}]}}",
                0, NULL);
        assert_true(json_equal(o, w));
}

static void test_known_objects_untouched(void **state)
{
        json_auto_t *o = json_loads("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"
                                    "\"name\":\"a\"},\"spec\":{\"replicas\":1,\"template\":{\"metadata\":{},"
                                    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}",
                                    0, NULL);
        json_auto_t *copy = json_deep_copy(o);
        cleanup_strv char **unknown = NULL;
        k8c_known_fields_prune("Deployment", o, &unknown);
        assert_null(unknown);
        assert_true(json_equal(o, copy));
        /* A kind without a table keeps everything. */
        json_auto_t *l = json_loads("{\"kind\":\"Lease\",\"spec\":{\"anything\":1}}", 0, NULL);
        k8c_known_fields_prune("Lease", l, &unknown);
        assert_null(unknown);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unknown_fields_found_and_pruned),
                cmocka_unit_test(test_known_objects_untouched),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

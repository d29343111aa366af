/* Unit tests for src/apiserver/patch.c: merge, strategic merge and JSON patch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"

/* Applies patch (JSON text) of type ct to old (JSON text) and compares with want (JSON text). */
static void check(const char *ct, const char *old, const char *patch, const char *want)
{
        json_auto_t *o = json_loads(old, 0, NULL);
        json_auto_t *w = json_loads(want, 0, NULL);
        assert_non_null(o);
        assert_non_null(w);
        json_t *got = NULL;
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_patch_apply(ct, o, patch, strlen(patch), &got, &err);
        if (r < 0)
                fprintf(stderr, "error: %s\n", k8c_error_msg(&err));
        assert_int_equal(r, 0);
        if (!json_equal(got, w)) {
                char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
                fprintf(stderr, "got  %s\nwant %s\n", g, want);
                free(g);
        }
        assert_true(json_equal(got, w));
        json_decref(got);
}

static void test_merge_patch(void **state)
{
        const char *ct = "application/merge-patch+json";
        check(ct, "{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"}},\"spec\":{\"x\":[1,2]}}",
              "{\"metadata\":{\"labels\":{\"a\":null,\"c\":\"3\"}},\"spec\":{\"x\":[3]}}",
              "{\"metadata\":{\"labels\":{\"b\":\"2\",\"c\":\"3\"}},\"spec\":{\"x\":[3]}}");
        check(ct, "{\"a\":{\"b\":1}}", "{\"a\":5}", "{\"a\":5}");
}

static void test_strategic_merge_lists_by_key(void **state)
{
        const char *ct = "application/strategic-merge-patch+json";
        /* Containers merge by name, their ports by containerPort: the image change keeps ports. */
        check(ct,
              "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"1\",\"ports\":[{\"containerPort\":80}]}"
              ","
              "{\"name\":\"b\",\"image\":\"2\"}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"9\"}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"9\",\"ports\":[{\"containerPort\":80}]}"
              ","
              "{\"name\":\"b\",\"image\":\"2\"}]}}");
        /* Service ports merge by port; a new element is appended. */
        check(ct, "{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":8080}]}}",
              "{\"spec\":{\"ports\":[{\"port\":80,\"name\":\"http\"},{\"port\":443}]}}",
              "{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":8080,\"name\":\"http\"},{\"port\":443}]}}");
        /* $patch: delete removes one element; other lists are replaced. */
        check(ct, "{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}],\"args\":[\"x\",\"y\"]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"a\",\"$patch\":\"delete\"}],\"args\":[\"z\"]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"b\"}],\"args\":[\"z\"]}}");
        /* $patch: replace on a list element list. */
        check(ct, "{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"c\"},{\"$patch\":\"replace\"}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"c\"}]}}");
        /* Finalizers are a set; null deletes a key; $setElementOrder is accepted and ignored. */
        check(ct, "{\"metadata\":{\"finalizers\":[\"a\"],\"labels\":{\"x\":\"1\"}}}",
              "{\"metadata\":{\"finalizers\":[\"a\",\"b\"],\"labels\":{\"x\":null},\"$setElementOrder/"
              "finalizers\":["
              "\"a\",\"b\"]}}",
              "{\"metadata\":{\"finalizers\":[\"a\",\"b\"],\"labels\":{}}}");
        /* $deleteFromPrimitiveList and $retainKeys. */
        check(ct,
              "{\"metadata\":{\"finalizers\":[\"a\",\"b\"]},\"spec\":{\"strategy\":{\"type\":\"R\",\"x\":1}}"
              "}",
              "{\"metadata\":{\"$deleteFromPrimitiveList/"
              "finalizers\":[\"a\"]},\"spec\":{\"strategy\":{\"$retainKeys\":["
              "\"type\"],\"type\":\"Recreate\"}}}",
              "{\"metadata\":{\"finalizers\":[\"b\"]},\"spec\":{\"strategy\":{\"type\":\"Recreate\"}}}");
        /* Conditions merge by type. */
        check(ct,
              "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"},{\"type\":\"X\"}]}}",
              "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
              "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},{\"type\":\"X\"}]}}");
}

static void test_json_patch(void **state)
{
        const char *ct = "application/json-patch+json";
        check(ct, "{\"spec\":{\"replicas\":1,\"list\":[1,2]},\"metadata\":{\"labels\":{\"a/b\":\"x\"}}}",
              "[{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":3},"
              "{\"op\":\"add\",\"path\":\"/spec/list/-\",\"value\":3},"
              "{\"op\":\"add\",\"path\":\"/spec/list/0\",\"value\":0},"
              "{\"op\":\"remove\",\"path\":\"/metadata/labels/a~1b\"},"
              "{\"op\":\"test\",\"path\":\"/spec/replicas\",\"value\":3},"
              "{\"op\":\"copy\",\"from\":\"/spec/replicas\",\"path\":\"/spec/copy\"},"
              "{\"op\":\"move\",\"from\":\"/spec/copy\",\"path\":\"/spec/moved\"}]",
              "{\"spec\":{\"replicas\":3,\"list\":[0,1,2,3],\"moved\":3},\"metadata\":{\"labels\":{}}}");
}

static void test_errors(void **state)
{
        json_auto_t *o = json_loads("{\"a\":1}", 0, NULL);
        json_t *got = NULL;
        cleanup_error k8c_error_t err = NULL;
        assert_true(k8c_patch_apply("text/plain", o, "{}", 2, &got, &err) < 0);
        assert_int_equal(k8c_error_reason(&err), K8C_EUNSUPPORTEDMEDIATYPE);
        assert_true(k8c_patch_apply("application/merge-patch+json", o, "{bad", 4, &got, &err) < 0);
        assert_int_equal(k8c_error_reason(&err), K8C_EBADREQUEST);
        const char *failing = "[{\"op\":\"test\",\"path\":\"/a\",\"value\":2}]";
        assert_true(k8c_patch_apply("application/json-patch+json", o, failing, strlen(failing), &got, &err) <
                    0);
        assert_int_equal(k8c_error_reason(&err), K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err), "the JSON patch test at /a failed");
        const char *missing = "[{\"op\":\"replace\",\"path\":\"/x/y\",\"value\":2}]";
        assert_true(k8c_patch_apply("application/json-patch+json", o, missing, strlen(missing), &got, &err) <
                    0);
        assert_int_equal(k8c_error_reason(&err), K8C_EINVALID);
        assert_null(got);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_merge_patch),
                cmocka_unit_test(test_strategic_merge_lists_by_key),
                cmocka_unit_test(test_json_patch),
                cmocka_unit_test(test_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

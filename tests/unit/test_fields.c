/* Unit tests for fields.c: field selector grammar, escapes, matching by dotted path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/fields.h"

static const struct {
        const char *in;
        const char *out; /* canonical string, NULL when parsing fails */
        const char *err;
} cases[] = {
        { "", "", NULL },
        { ",,", "", NULL },
        { "=", "", NULL },
        { "!=,==", "", NULL },
        { "metadata.name=web", "metadata.name=web", NULL },
        { "metadata.name==web", "metadata.name=web", NULL },
        { "status.phase!=Running", "status.phase!=Running", NULL },
        { "spec.nodeName=", "spec.nodeName=", NULL },
        { "x=a,y=b", "x=a,y=b", NULL },
        { "y=b,x=a", "x=a,y=b", NULL },
        { "involvedObject.name=web,involvedObject.namespace=default,involvedObject.uid=1234",
          "involvedObject.name=web,involvedObject.namespace=default,involvedObject.uid=1234", NULL },
        { "a==x,a=b", "a=b,a=x", NULL },
        { "a=x\\,y", "a=x\\,y", NULL },
        { "a=x\\=y", "a=x\\=y", NULL },
        { "a=x\\\\y", "a=x\\\\y", NULL },
        { "a=!x", "a=!x", NULL },
        { "=x", "=x", NULL },
        { "a!b=c", "a!b=c", NULL },
        { "a!!=c", "a!!=c", NULL },
        { "a= b ", "a= b ", NULL },
        { "x", NULL, "invalid selector: 'x'; can't understand 'x'" },
        { "a=b,c", NULL, "invalid selector: 'a=b,c'; can't understand 'c'" },
        { "a=b=c", NULL, "invalid field selector: unescaped character in value: 61" },
        { "a==b=c", NULL, "invalid field selector: unescaped character in value: 61" },
        { "a=\\x", NULL, "invalid field selector: invalid escape sequence: \\x" },
        { "a=\\!", NULL, "invalid field selector: invalid escape sequence: \\!" },
        { "a=x\\", NULL, "invalid field selector: invalid escape sequence: \\" },
        { "a=\\\xc3\xa9", NULL, "invalid field selector: invalid escape sequence: \\\xc3\xa9" },
        /* the raw terms are sorted first, so "a=\x" is reported before "b" */
        { "b,a=\\x", NULL, "invalid field selector: invalid escape sequence: \\x" },
};

static void test_parse_table(void **state)
{
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                struct k8c_field_selector sel = { 0 };
                cleanup_error k8c_error_t err = NULL;
                int r = k8c_field_selector_parse(cases[i].in, &sel, &err);
                if (cases[i].out != NULL) {
                        if (r != 0)
                                fail_msg("case %zu '%s': %s", i, cases[i].in, k8c_error_msg(&err));
                        cleanup_free char *s = k8c_field_selector_string(&sel);
                        if (strcmp(s, cases[i].out) != 0)
                                fail_msg("case %zu '%s': got '%s' want '%s'", i, cases[i].in, s,
                                         cases[i].out);
                        struct k8c_field_selector again = { 0 };
                        assert_int_equal(k8c_field_selector_parse(s, &again, NULL), 0);
                        cleanup_free char *s2 = k8c_field_selector_string(&again);
                        assert_string_equal(s2, s);
                        k8c_field_selector_free(&again);
                        k8c_field_selector_free(&sel);
                } else {
                        assert_int_equal(r, -(int)K8C_EBADREQUEST);
                        if (strcmp(k8c_error_msg(&err), cases[i].err) != 0)
                                fail_msg("case %zu '%s':\n got  %s\n want %s", i, cases[i].in,
                                         k8c_error_msg(&err), cases[i].err);
                        assert_null(sel.reqs);
                }
        }
}

static void test_structure(void **state)
{
        struct k8c_field_selector sel = { 0 };
        assert_int_equal(k8c_field_selector_parse("status.phase!=Running,metadata.name=a\\,b", &sel, NULL),
                         0);
        assert_int_equal(sel.n, 2);
        assert_string_equal(sel.reqs[0].field, "metadata.name");
        assert_false(sel.reqs[0].not_equals);
        assert_string_equal(sel.reqs[0].value, "a,b");
        assert_string_equal(sel.reqs[1].field, "status.phase");
        assert_true(sel.reqs[1].not_equals);
        assert_string_equal(sel.reqs[1].value, "Running");
        const char *v = NULL;
        assert_true(k8c_field_selector_requires_exact_match(&sel, "metadata.name", &v));
        assert_string_equal(v, "a,b");
        assert_false(k8c_field_selector_requires_exact_match(&sel, "status.phase", &v));
        assert_false(k8c_field_selector_empty(&sel));

        static const char *const allowed[] = { "metadata.name", "metadata.namespace", "status.phase", NULL };
        static const char *const names_only[] = { "metadata.name", NULL };
        const char *bad = NULL;
        assert_true(k8c_field_selector_allowed(&sel, allowed, &bad));
        assert_null(bad);
        assert_false(k8c_field_selector_allowed(&sel, names_only, &bad));
        assert_string_equal(bad, "status.phase");
        k8c_field_selector_free(&sel);
        assert_int_equal(sel.n, 0);

        assert_int_equal(k8c_field_selector_parse(NULL, &sel, NULL), 0);
        assert_true(k8c_field_selector_empty(&sel));
        assert_true(k8c_field_selector_allowed(&sel, names_only, &bad));
        k8c_field_selector_free(&sel);
}

static void test_matching(void **state)
{
        json_error_t e;
        json_auto_t *pod =
                json_loads("{\"metadata\":{\"name\":\"web-1\",\"namespace\":\"default\"},"
                           "\"spec\":{\"nodeName\":\"node-1\",\"priority\":5,\"hostNetwork\":false,"
                           "\"ratio\":1.5,\"gone\":null},"
                           "\"status\":{\"phase\":\"Running\"},\"name\":\"a,b=c\"}",
                           0, &e);
        assert_non_null(pod);
        json_auto_t *unscheduled = json_loads("{\"metadata\":{\"name\":\"web-2\"},\"spec\":{}}", 0, &e);
        static const struct {
                const char *sel;
                bool pod, unscheduled;
        } m[] = {
                { "", true, true },
                { "metadata.name=web-1", true, false },
                { "metadata.name!=web-1", false, true },
                { "metadata.name=web-1,metadata.namespace=default", true, false },
                { "metadata.name=web-1,metadata.namespace=kube-system", false, false },
                { "spec.nodeName=", false, true },
                { "spec.nodeName!=", true, false },
                { "spec.nodeName=node-1", true, false },
                { "status.phase!=Running", false, true },
                { "status.phase!=Succeeded,status.phase!=Failed", true, true },
                { "spec.priority=5", true, false },
                { "spec.hostNetwork=false", true, false },
                { "spec.ratio=1.5", true, false },
                { "spec.gone=", true, true },
                { "metadata.name.deeper=", true, true },
                { "nothing.here=x", false, false },
                { "name=a\\,b\\=c", true, false },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(m); i++) {
                struct k8c_field_selector sel = { 0 };
                assert_int_equal(k8c_field_selector_parse(m[i].sel, &sel, NULL), 0);
                if (k8c_field_selector_matches(&sel, pod) != m[i].pod)
                        fail_msg("case %zu '%s' on pod: want %d", i, m[i].sel, m[i].pod);
                if (k8c_field_selector_matches(&sel, unscheduled) != m[i].unscheduled)
                        fail_msg("case %zu '%s' on unscheduled: want %d", i, m[i].sel, m[i].unscheduled);
                k8c_field_selector_free(&sel);
        }
        cleanup_free char *v1 = k8c_field_value(pod, "spec.priority");
        assert_string_equal(v1, "5");
        cleanup_free char *v2 = k8c_field_value(pod, "spec");
        assert_string_equal(v2, "{\"nodeName\":\"node-1\",\"priority\":5,\"hostNetwork\":false,\"ratio\":1.5,"
                                "\"gone\":null}");
        cleanup_free char *v3 = k8c_field_value(NULL, "metadata.name");
        assert_string_equal(v3, "");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_table),
                cmocka_unit_test(test_structure),
                cmocka_unit_test(test_matching),
        };
        return cmocka_run_group_tests_name("fields", tests, NULL, NULL);
}

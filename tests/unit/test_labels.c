/* Unit tests for labels.c: selector grammar, LabelSelector JSON, matching, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/labels.h"

#define QNAME_MSG                                                                                            \
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "          \
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is " \
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
#define VALUE_MSG                                                                                            \
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and " \
        "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "   \
        "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
#define PREFIX_MSG                                                                                           \
        "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "    \
        "'-' "                                                                                               \
        "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for " \
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct {
        const char *in;
        const char *out; /* canonical string, or NULL when parsing fails */
        const char *err; /* exact error message when out is NULL */
} parse_cases[] = {
        { "", "", NULL },
        { "   ", "", NULL },
        { "x=a,y=b,z=c", "x=a,y=b,z=c", NULL },
        { "x!=a,y=b", "x!=a,y=b", NULL },
        { "x=", "x=", NULL },
        { "x= ", "x=", NULL },
        { "x=,z= ", "x=,z=", NULL },
        { "x= ,z= ", "x=,z=", NULL },
        { "x!=", "x!=", NULL },
        { "!x", "!x", NULL },
        { "x>1", "x>1", NULL },
        { "x>1,z<5", "x>1,z<5", NULL },
        { "x==a", "x=a", NULL },
        { "x ==  y", "x=y", NULL },
        { "\rx", "x", NULL },
        { "a ", "a", NULL },
        { "this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash", NULL },
        { "this-is-another-dns.domain.com/key-with-dash in (so,what)",
          "this-is-another-dns.domain.com/key-with-dash in (so,what)", NULL },
        { "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
          "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)", NULL },
        { "foo  in\t (abc)", "foo in (abc)", NULL },
        { "x notin\n (abc)", "x notin (abc)", NULL },
        { "x in (def,abc,def)", "x in (abc,def)", NULL },
        { "x in (abc,)", "x in (,abc)", NULL },
        { "x in ()", "x in ()", NULL },
        { "x notin ( )", "x notin ()", NULL },
        { "x notin (, a)", "x notin (,a)", NULL },
        { "x in (a,,b)", "x in (,a,b)", NULL },
        { "x notin (abc,,def),bar,z in (),w", "bar,w,x notin (,abc,def),z in ()", NULL },
        { "x,y in (a)", "x,y in (a)", NULL },
        { "a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)", NULL },
        { "in in (in)", "in in (in)", NULL },
        { "notin=in", "notin=in", NULL },
        { "z!=c,!y,x in (a)", "x in (a),!y,z!=c", NULL },
        { "b,a,a=x", "a,a=x,b", NULL },
        { "kubernetes.io/cluster-service=true", "kubernetes.io/cluster-service=true", NULL },
        { "env in (a,b),!canary", "!canary,env in (a,b)", NULL },
        { "x=a||y=b", NULL,
          "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": " VALUE_MSG },
        { "x==a==b", NULL, "found '==', expected: ',' or 'end of string'" },
        { "!x=a", NULL, "found '=', expected: ',' or 'end of string'" },
        { "x<a", NULL,
          "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value "
          "must be an integer" },
        { "x>-1", NULL, "unable to parse requirement: values[0][x]: Invalid value: \"-1\": " VALUE_MSG },
        { "x,,y", NULL, "found ',', expected: identifier after ','" },
        { ",x,y", NULL, "found ',', expected: !, identifier, or 'end of string'" },
        { "x nott in (y)", NULL,
          "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt" },
        { "a in (xyz),", NULL, "found '', expected: identifier after ','" },
        { "a in (xyz)b notin ()", NULL, "found 'b', expected: ',' or 'end of string'" },
        { "a in (xyz abc)", NULL, "unable to parse requirement: found 'abc', expected: ',' or ')'" },
        { "a in (x,y", NULL, "unable to parse requirement: found '', expected: ',' or ')'" },
        { "a in (x,=)", NULL, "unable to parse requirement: found '=', expected: ',', or identifier" },
        { "a notin(", NULL, "unable to parse requirement: found '', expected: ',', ')' or identifier" },
        { "a in", NULL, "unable to parse requirement: found '' expected: '('" },
        { "a (", NULL, "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt" },
        { "(", NULL, "found '(', expected: !, identifier, or 'end of string'" },
        { "!", NULL, "unable to parse requirement: found '', expected: identifier" },
        { "x=(a)", NULL, "unable to parse requirement: found '(', expected: identifier" },
        { "x=a b", NULL, "found 'b', expected: ',' or 'end of string'" },
        { "x/y/z", NULL,
          "unable to parse requirement: <nil>: Invalid value: \"x/y/z\": a qualified name " QNAME_MSG
          " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')" },
        { "app:monolith", NULL,
          "unable to parse requirement: <nil>: Invalid value: \"app:monolith\": name part " QNAME_MSG },
        { "app.kubernetes_io/name=x", NULL,
          "unable to parse requirement: <nil>: Invalid value: \"app.kubernetes_io/name\": " PREFIX_MSG },
        { "/x", NULL,
          "unable to parse requirement: <nil>: Invalid value: \"/x\": prefix part must be non-empty" },
        { "x/", NULL,
          "unable to parse requirement: <nil>: Invalid value: \"x/\": name part must be non-empty; name "
          "part " QNAME_MSG },
        { A64, NULL,
          "unable to parse requirement: <nil>: Invalid value: \"" A64
          "\": name part must be no more than 63 characters" },
        { "x=" A64, NULL,
          "unable to parse requirement: values[0][x]: Invalid value: \"" A64
          "\": must be no more than 63 characters" },
        { "x in (-a,-b)", NULL,
          "unable to parse requirement: [values[0][x]: Invalid value: \"-a\": " VALUE_MSG
          ", values[1][x]: Invalid value: \"-b\": " VALUE_MSG "]" },
};

static void test_parse_table(void **state)
{
        for (size_t i = 0; i < K8C_ARRAY_SIZE(parse_cases); i++) {
                struct k8c_selector sel = { 0 };
                cleanup_error k8c_error_t err = NULL;
                int r = k8c_selector_parse(parse_cases[i].in, &sel, &err);
                if (parse_cases[i].out != NULL) {
                        if (r != 0)
                                fail_msg("case %zu '%s': %s", i, parse_cases[i].in, k8c_error_msg(&err));
                        cleanup_free char *s = k8c_selector_string(&sel);
                        if (strcmp(s, parse_cases[i].out) != 0)
                                fail_msg("case %zu '%s': got '%s' want '%s'", i, parse_cases[i].in, s,
                                         parse_cases[i].out);
                        /* the canonical string parses back to itself */
                        struct k8c_selector again = { 0 };
                        assert_int_equal(k8c_selector_parse(s, &again, NULL), 0);
                        cleanup_free char *s2 = k8c_selector_string(&again);
                        assert_string_equal(s2, s);
                        k8c_selector_free(&again);
                        k8c_selector_free(&sel);
                } else {
                        if (r != -(int)K8C_EBADREQUEST)
                                fail_msg("case %zu '%s': expected an error, got %d", i, parse_cases[i].in, r);
                        assert_int_equal(k8c_error_reason(&err), K8C_EBADREQUEST);
                        if (strcmp(k8c_error_msg(&err), parse_cases[i].err) != 0)
                                fail_msg("case %zu '%s':\n got  %s\n want %s", i, parse_cases[i].in,
                                         k8c_error_msg(&err), parse_cases[i].err);
                }
        }
}

static void test_parse_structure(void **state)
{
        struct k8c_selector sel = { 0 };
        assert_int_equal(k8c_selector_parse("env notin (b,a),!canary,app==web,tier,n>3", &sel, NULL), 0);
        assert_int_equal(sel.n, 5);
        assert_false(sel.nothing);
        assert_string_equal(sel.reqs[0].key, "app");
        assert_int_equal(sel.reqs[0].op, K8C_SEL_EQUALS);
        assert_int_equal(sel.reqs[0].nvalues, 1);
        assert_string_equal(sel.reqs[0].values[0], "web");
        assert_null(sel.reqs[0].values[1]);
        assert_string_equal(sel.reqs[1].key, "canary");
        assert_int_equal(sel.reqs[1].op, K8C_SEL_DOES_NOT_EXIST);
        assert_int_equal(sel.reqs[1].nvalues, 0);
        assert_null(sel.reqs[1].values[0]);
        assert_string_equal(sel.reqs[2].key, "env");
        assert_int_equal(sel.reqs[2].op, K8C_SEL_NOT_IN);
        assert_int_equal(sel.reqs[2].nvalues, 2);
        assert_string_equal(sel.reqs[2].values[0], "a");
        assert_string_equal(sel.reqs[2].values[1], "b");
        assert_string_equal(sel.reqs[3].key, "n");
        assert_int_equal(sel.reqs[3].op, K8C_SEL_GREATER_THAN);
        assert_string_equal(sel.reqs[4].key, "tier");
        assert_int_equal(sel.reqs[4].op, K8C_SEL_EXISTS);
        const char *v = NULL;
        assert_true(k8c_selector_requires_exact_match(&sel, "app", &v));
        assert_string_equal(v, "web");
        assert_false(k8c_selector_requires_exact_match(&sel, "env", &v));
        assert_false(k8c_selector_requires_exact_match(&sel, "missing", &v));
        assert_false(k8c_selector_empty(&sel));
        k8c_selector_free(&sel);
        assert_null(sel.reqs);
        assert_int_equal(sel.n, 0);
        k8c_selector_free(&sel); /* twice is fine */

        assert_int_equal(k8c_selector_parse("", &sel, NULL), 0);
        assert_true(k8c_selector_empty(&sel));
        k8c_selector_free(&sel);
}

static json_t *L(const char *json)
{
        json_error_t e;
        json_t *j = json_loads(json, 0, &e);
        if (j == NULL)
                fail_msg("bad test json %s: %s", json, e.text);
        return j;
}

static void test_matching(void **state)
{
        static const struct {
                const char *sel;
                const char *labels; /* NULL = no labels at all */
                bool match;
        } cases[] = {
                { "", "{\"x\":\"y\"}", true },
                { "", NULL, true },
                { "x=y", "{\"x\":\"y\"}", true },
                { "x=y", "{}", false },
                { "x=y", "{\"x\":\"z\"}", false },
                { "x=y,z=w", "{\"x\":\"y\",\"z\":\"w\"}", true },
                { "x=y,z=w", "{\"x\":\"w\",\"z\":\"w\"}", false },
                { "x!=y", "{}", true },
                { "x!=y", NULL, true },
                { "x!=y", "{\"x\":\"y\"}", false },
                { "x!=y,z!=w", "{\"x\":\"z\",\"z\":\"a\"}", true },
                { "x in (a,b)", "{\"x\":\"b\"}", true },
                { "x in (a,b)", "{\"x\":\"c\"}", false },
                { "x in (a,b)", "{}", false },
                { "x notin (a,b)", "{}", true },
                { "x notin (a,b)", "{\"x\":\"a\"}", false },
                { "x notin (a,b)", "{\"x\":\"c\"}", true },
                { "x", "{\"x\":\"\"}", true },
                { "x", "{\"y\":\"z\"}", false },
                { "!x", "{\"y\":\"z\"}", true },
                { "!x", "{\"x\":\"\"}", false },
                { "x=", "{\"x\":\"\"}", true },
                { "x=", "{}", false },
                { "x in ()", "{\"x\":\"\"}", true },
                { "x in ()", "{\"y\":\"baz\"}", false },
                { "x notin (),y", "{\"y\":\"\"}", true },
                { "x notin (),!y", "{\"y\":\"\"}", false },
                { "x>1", "{\"x\":\"2\"}", true },
                { "x>1", "{\"x\":\"1\"}", false },
                { "x>1", "{\"x\":\"v2\"}", false },
                { "x>1", "{}", false },
                { "x<1", "{\"x\":\"0\"}", true },
                { "x<1", "{\"x\":\"-5\"}", true },
                { "x<1", "{\"x\":\"2\"}", false },
                { "notin=in", "{\"notin\":\"in\"}", true },
                { "foo=bar,foobar=bar,baz=blah", "{\"foo\":\"bar\",\"baz\":\"blah\"}", false },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                struct k8c_selector sel = { 0 };
                assert_int_equal(k8c_selector_parse(cases[i].sel, &sel, NULL), 0);
                json_auto_t *labels = cases[i].labels ? L(cases[i].labels) : NULL;
                if (k8c_selector_matches(&sel, labels) != cases[i].match)
                        fail_msg("case %zu: '%s' on %s: want %d", i, cases[i].sel,
                                 cases[i].labels ? cases[i].labels : "NULL", cases[i].match);
                k8c_selector_free(&sel);
        }
}

static void test_from_json(void **state)
{
        struct k8c_selector sel = { 0 };
        json_auto_t *j = L("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
                           "{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"b\",\"a\"]},"
                           "{\"key\":\"canary\",\"operator\":\"DoesNotExist\"},"
                           "{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[\"db\"]},"
                           "{\"key\":\"zone\",\"operator\":\"Exists\",\"values\":[]}]}");
        assert_int_equal(k8c_selector_from_json(j, &sel, NULL), 0);
        cleanup_free char *s = k8c_selector_string(&sel);
        assert_string_equal(s, "app=web,!canary,env in (a,b),tier notin (db),zone");
        json_auto_t *l1 = L("{\"app\":\"web\",\"env\":\"a\",\"zone\":\"z1\"}");
        json_auto_t *l2 = L("{\"app\":\"web\",\"env\":\"a\",\"zone\":\"z1\",\"tier\":\"db\"}");
        json_auto_t *l3 = L("{\"app\":\"web\",\"env\":\"a\",\"zone\":\"z1\",\"canary\":\"1\"}");
        json_auto_t *l4 = L("{\"app\":\"web\",\"env\":\"a\"}");
        assert_true(k8c_selector_matches(&sel, l1));
        assert_false(k8c_selector_matches(&sel, l2));
        assert_false(k8c_selector_matches(&sel, l3));
        assert_false(k8c_selector_matches(&sel, l4));
        k8c_selector_free(&sel);

        /* In with one value stays In, as LabelSelectorAsSelector does; it still pins the key */
        json_auto_t *one =
                L("{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"In\",\"values\":[\"v\"]}]}");
        assert_int_equal(k8c_selector_from_json(one, &sel, NULL), 0);
        cleanup_free char *s1 = k8c_selector_string(&sel);
        assert_string_equal(s1, "k in (v)");
        const char *v = NULL;
        assert_true(k8c_selector_requires_exact_match(&sel, "k", &v));
        assert_string_equal(v, "v");
        k8c_selector_free(&sel);

        /* NULL and JSON null select nothing; {} and empty members select everything */
        assert_int_equal(k8c_selector_from_json(NULL, &sel, NULL), 0);
        assert_true(sel.nothing);
        assert_false(k8c_selector_empty(&sel));
        assert_false(k8c_selector_matches(&sel, l1));
        cleanup_free char *s2 = k8c_selector_string(&sel);
        assert_string_equal(s2, "");
        k8c_selector_free(&sel);
        json_auto_t *jnull = json_null();
        assert_int_equal(k8c_selector_from_json(jnull, &sel, NULL), 0);
        assert_true(sel.nothing);
        k8c_selector_free(&sel);
        json_auto_t *empty = L("{}");
        assert_int_equal(k8c_selector_from_json(empty, &sel, NULL), 0);
        assert_true(k8c_selector_empty(&sel));
        assert_true(k8c_selector_matches(&sel, l1));
        assert_true(k8c_selector_matches(&sel, NULL));
        k8c_selector_free(&sel);
        json_auto_t *empty2 = L("{\"matchLabels\":{},\"matchExpressions\":[]}");
        assert_int_equal(k8c_selector_from_json(empty2, &sel, NULL), 0);
        assert_true(k8c_selector_empty(&sel));
        k8c_selector_free(&sel);
}

static void test_from_json_errors(void **state)
{
        static const struct {
                const char *json;
                const char *err;
        } cases[] = {
                { "{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"In\",\"values\":[]}]}",
                  "matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or "
                  "'NotIn'" },
                { "{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"NotIn\"}]}",
                  "matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or "
                  "'NotIn'" },
                { "{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"Exists\",\"values\":[\"a\"]}]}",
                  "matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' "
                  "or "
                  "'DoesNotExist'" },
                { "{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"In\",\"values\":[\"a\"]},"
                  "{\"key\":\"k\",\"operator\":\"DoesNotExist\",\"values\":[\"a\"]}]}",
                  "matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' "
                  "or "
                  "'DoesNotExist'" },
                { "{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"Foo\"}]}",
                  "matchExpressions[0].operator: Invalid value: \"Foo\": not a valid selector operator" },
                { "{\"matchLabels\":{\"a b\":\"x\"}}",
                  "matchLabels: Invalid value: \"a b\": name part " QNAME_MSG },
                { "{\"matchLabels\":{\"a\":\"x y\"}}", "matchLabels: Invalid value: \"x y\": " VALUE_MSG },
                { "{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"In\",\"values\":[\"ok\",\"-x\"]}]}",
                  "matchExpressions[0].values[1]: Invalid value: \"-x\": " VALUE_MSG },
                { "{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"In\"},{\"key\":\"\",\"operator\":"
                  "\"Exists\"}]}",
                  "[matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or "
                  "'NotIn', matchExpressions[1].key: Invalid value: \"\": name part must be non-empty, "
                  "matchExpressions[1].key: Invalid value: \"\": name part " QNAME_MSG "]" },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                struct k8c_selector sel = { 0 };
                cleanup_error k8c_error_t err = NULL;
                json_auto_t *j = L(cases[i].json);
                assert_int_equal(k8c_selector_from_json(j, &sel, &err), -(int)K8C_EINVALID);
                if (strcmp(k8c_error_msg(&err), cases[i].err) != 0)
                        fail_msg("case %zu:\n got  %s\n want %s", i, k8c_error_msg(&err), cases[i].err);
                assert_null(sel.reqs);
        }
}

static void test_from_set(void **state)
{
        struct k8c_selector sel = { 0 };
        json_auto_t *set = L("{\"tier\":\"web\",\"app\":\"shop\"}");
        assert_int_equal(k8c_selector_from_set(set, &sel, NULL), 0);
        cleanup_free char *s = k8c_selector_string(&sel);
        assert_string_equal(s, "app=shop,tier=web");
        json_auto_t *pod = L("{\"app\":\"shop\",\"tier\":\"web\",\"x\":\"y\"}");
        json_auto_t *other = L("{\"app\":\"shop\"}");
        assert_true(k8c_selector_matches(&sel, pod));
        assert_false(k8c_selector_matches(&sel, other));
        k8c_selector_free(&sel);

        assert_int_equal(k8c_selector_from_set(NULL, &sel, NULL), 0);
        assert_true(k8c_selector_empty(&sel));
        assert_true(k8c_selector_matches(&sel, other));
        k8c_selector_free(&sel);

        cleanup_error k8c_error_t err = NULL;
        json_auto_t *bad = L("{\"a\":1}");
        assert_int_equal(k8c_selector_from_set(bad, &sel, &err), -(int)K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err), "label set value for a must be a string");
        json_auto_t *arr = L("[]");
        assert_int_equal(k8c_selector_from_set(arr, &sel, &err), -(int)K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err), "label set must be an object of strings");
}

static void test_key_value_validation(void **state)
{
        static const struct {
                const char *key;
                const char *msg; /* NULL = valid */
        } keys[] = {
                { "app", NULL },
                { "app.kubernetes.io/name", NULL },
                { "MyName", NULL },
                { "my.name", NULL },
                { "123-abc", NULL },
                { "a", NULL },
                { "example.com/" A64 "", "name part must be no more than 63 characters" },
                { "", "name part must be non-empty; name part " QNAME_MSG },
                { "-a", "name part " QNAME_MSG },
                { "a-", "name part " QNAME_MSG },
                { "a b", "name part " QNAME_MSG },
                { "Example.com/x", PREFIX_MSG },
                { "a..b/x", PREFIX_MSG },
                { "a/b/c", "a qualified name " QNAME_MSG
                           " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')" },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(keys); i++) {
                char *msg = (char *)"untouched";
                bool ok = k8c_label_key_valid(keys[i].key, &msg);
                if (keys[i].msg == NULL) {
                        if (!ok)
                                fail_msg("key '%s' should be valid: %s", keys[i].key, msg);
                        assert_null(msg);
                } else {
                        assert_false(ok);
                        if (strcmp(msg, keys[i].msg) != 0)
                                fail_msg("key '%s':\n got  %s\n want %s", keys[i].key, msg, keys[i].msg);
                        free(msg);
                }
        }
        /* a 254-character prefix is too long, and 253 is fine */
        char prefix[300];
        memset(prefix, 'a', 254);
        strcpy(prefix + 254, "/x");
        char *msg = NULL;
        assert_false(k8c_label_key_valid(prefix, &msg));
        assert_string_equal(msg, "prefix part must be no more than 253 characters");
        free(msg);
        assert_true(k8c_label_key_valid(prefix + 1, NULL));

        assert_true(k8c_label_value_valid("", NULL));
        assert_true(k8c_label_value_valid("my_value", NULL));
        assert_true(k8c_label_value_valid("MyValue.12345", NULL));
        assert_true(k8c_label_value_valid(A64 + 1, NULL));
        assert_false(k8c_label_value_valid(A64, &msg));
        assert_string_equal(msg, "must be no more than 63 characters");
        free(msg);
        assert_false(k8c_label_value_valid("_x", &msg));
        assert_string_equal(msg, VALUE_MSG);
        free(msg);
        assert_false(k8c_label_value_valid("-" A64, &msg));
        assert_string_equal(msg, "must be no more than 63 characters; " VALUE_MSG);
        free(msg);
}

static void assert_json_eq(json_t *got, const char *want)
{
        json_auto_t *w = L(want);
        if (!json_equal(got, w)) {
                cleanup_free char *g = json_dumps(got, JSON_COMPACT);
                fail_msg("got  %s\nwant %s", g, want);
        }
}

static void test_labels_validate(void **state)
{
        json_auto_t *causes = json_array();
        json_auto_t *labels = L("{\"good\":\"v\",\"bad key\":\"x\",\"k\":\"bad value\"}");
        assert_int_equal(k8c_labels_validate(labels, "metadata.labels", causes), 2);
        assert_json_eq(
                causes,
                "[{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"bad key\\\": "
                "name part " QNAME_MSG "\",\"field\":\"metadata.labels\"},"
                "{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"bad value\\\": " VALUE_MSG
                "\",\"field\":\"metadata.labels\"}]");
        assert_int_equal(k8c_labels_validate(NULL, "metadata.labels", causes), 0);
        json_auto_t *ok = L("{\"app\":\"web\",\"k8s.io/x\":\"\"}");
        assert_int_equal(k8c_labels_validate(ok, "metadata.labels", NULL), 0);
        json_auto_t *quoted = L("{\"a\\\"b\":\"v\"}");
        json_auto_t *c2 = json_array();
        assert_int_equal(k8c_labels_validate(quoted, "spec.template.metadata.labels", c2), 1);
        assert_json_eq(c2,
                       "[{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"a\\\\\\\"b\\\": "
                       "name part " QNAME_MSG "\",\"field\":\"spec.template.metadata.labels\"}]");
}

static void test_annotations_validate(void **state)
{
        json_auto_t *causes = json_array();
        /* case does not matter for annotation keys; values are free-form */
        json_auto_t *ok = L("{\"Example.COM/Key\":\"any value at all: {}\",\"kubectl.kubernetes.io/"
                            "last-applied-configuration\":\"{\\\"a\\\":1}\"}");
        assert_int_equal(k8c_annotations_validate(ok, "metadata.annotations", causes), 0);
        assert_int_equal(json_array_size(causes), 0);

        json_auto_t *bad = L("{\"a/b/c\":\"x\"}");
        assert_int_equal(k8c_annotations_validate(bad, "metadata.annotations", causes), 1);
        assert_json_eq(causes,
                       "[{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"a/b/c\\\": "
                       "a qualified name " QNAME_MSG " with an optional DNS subdomain prefix and '/' (e.g. "
                       "'example.com/MyName')\",\"field\":\"metadata.annotations\"}]");

        /* total size: exactly 262144 bytes passes, one more fails */
        json_auto_t *big = json_object();
        size_t vlen = 262144 - 1;
        char *val = k8c_xmalloc(vlen + 2);
        memset(val, 'x', vlen + 1);
        val[vlen] = '\0';
        json_object_set_new(big, "k", json_string(val));
        json_auto_t *c2 = json_array();
        assert_int_equal(k8c_annotations_validate(big, "metadata.annotations", c2), 0);
        val[vlen] = 'x';
        val[vlen + 1] = '\0';
        json_object_set_new(big, "k", json_string(val));
        free(val);
        assert_int_equal(k8c_annotations_validate(big, "metadata.annotations", c2), 1);
        assert_json_eq(c2,
                       "[{\"reason\":\"FieldValueTooLong\",\"message\":\"Too long: must have at most 262144 "
                       "bytes\",\"field\":\"metadata.annotations\"}]");
}

static void test_selector_validate(void **state)
{
        json_auto_t *causes = json_array();
        json_auto_t *sel = L("{\"matchLabels\":{\"app\":\"-x\"},\"matchExpressions\":["
                             "{\"key\":\"k\",\"operator\":\"In\",\"values\":[]},"
                             "{\"key\":\"k\",\"operator\":\"Exists\",\"values\":[\"a\"]},"
                             "{\"key\":\"k\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}");
        assert_int_equal(k8c_label_selector_validate(sel, "spec.selector", causes), 4);
        assert_json_eq(
                causes,
                "[{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"-x\\\": " VALUE_MSG
                "\",\"field\":\"spec.selector.matchLabels\"},"
                "{\"reason\":\"FieldValueRequired\",\"message\":\"Required value: must be specified when "
                "`operator` is 'In' or 'NotIn'\",\"field\":\"spec.selector.matchExpressions[0].values\"},"
                "{\"reason\":\"FieldValueForbidden\",\"message\":\"Forbidden: may not be specified when "
                "`operator` is 'Exists' or 'DoesNotExist'\",\"field\":\"spec.selector.matchExpressions[1]."
                "values\"},"
                "{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"Gt\\\": not a valid "
                "selector operator\",\"field\":\"spec.selector.matchExpressions[2].operator\"}]");
        assert_int_equal(k8c_label_selector_validate(NULL, "spec.selector", causes), 0);
}

static void test_go_quote(void **state)
{
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "", "\"\"" },
                { "abc", "\"abc\"" },
                { "a\"b\\c", "\"a\\\"b\\\\c\"" },
                { "\n\t\r\x01\x7f", "\"\\n\\t\\r\\x01\\x7f\"" },
                { "h\xc3\xa9", "\"h\xc3\xa9\"" },
                { "\xff", "\"\\xff\"" },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                cleanup_free char *q = k8c_go_quote(cases[i].in);
                assert_string_equal(q, cases[i].out);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_table),
                cmocka_unit_test(test_parse_structure),
                cmocka_unit_test(test_matching),
                cmocka_unit_test(test_from_json),
                cmocka_unit_test(test_from_json_errors),
                cmocka_unit_test(test_from_set),
                cmocka_unit_test(test_key_value_validation),
                cmocka_unit_test(test_labels_validate),
                cmocka_unit_test(test_annotations_validate),
                cmocka_unit_test(test_selector_validate),
                cmocka_unit_test(test_go_quote),
        };
        return cmocka_run_group_tests_name("labels", tests, NULL, NULL);
}

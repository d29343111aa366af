/* Unit tests for json.c: parse errors with positions, compact dumps, paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"

static json_t *parse_ok(const char *s)
{
        cleanup_error k8c_error_t err = NULL;
        json_t *v = NULL;
        assert_int_equal(k8c_json_parse(s, strlen(s), &v, &err), 0);
        assert_non_null(v);
        return v;
}

static void assert_dump(const json_t *v, const char *expected)
{
        cleanup_free char *s = k8c_json_dumps(v);
        assert_string_equal(s, expected);
}

static void assert_parse_error(const char *in, const char *msg)
{
        cleanup_error k8c_error_t err = NULL;
        json_t *v = NULL;
        int r = k8c_json_parse(in, strlen(in), &v, &err);
        assert_int_equal(r, -(int)K8C_EBADREQUEST);
        assert_null(v);
        assert_int_equal(k8c_error_reason(&err), K8C_EBADREQUEST);
        assert_string_equal(k8c_error_msg(&err), msg);
}

static void test_parse_and_dump(void **state)
{
        json_auto_t *v =
                parse_ok("{ \"kind\" : \"Pod\",\n \"metadata\": {\"name\": \"web\", \"labels\": {}},\n"
                         " \"spec\": {\"containers\": [{\"name\": \"c\", \"ports\": [80, 443]}]},"
                         " \"ok\": true, \"n\": null, \"f\": 1.5}");
        assert_dump(v, "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"labels\":{}},"
                       "\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[80,443]}]},"
                       "\"ok\":true,\"n\":null,\"f\":1.5}");
        /* Bare values are accepted and dumped. */
        json_auto_t *s = parse_ok("\"x\"");
        assert_dump(s, "\"x\"");
        json_auto_t *i = parse_ok(" 42 ");
        assert_dump(i, "42");
        assert_dump(NULL, "null");
        /* Non-ASCII is kept as UTF-8; control characters escaped. */
        json_auto_t *u = parse_ok("[\"caf\\u00e9\", \"a\\nb\\t\", \"q\\\"\"]");
        assert_dump(u, "[\"caf\xc3\xa9\",\"a\\nb\\t\",\"q\\\"\"]");
}

static void test_real_precision(void **state)
{
        json_auto_t *a = json_pack("[f,f,f]", 0.1, 2.5, 100.0);
        assert_dump(a, "[0.1,2.5,100.0]");
        json_auto_t *b = json_pack("{s:f}", "x", 1.0 / 3.0);
        assert_dump(b, "{\"x\":0.3333333333333333}");
        json_auto_t *c = json_pack("[I,s]", (json_int_t)9007199254740993LL, "s");
        assert_dump(c, "[9007199254740993,\"s\"]");
        json_auto_t *d = json_pack("[f,f]", 123456.5, 1e-7);
        assert_dump(d, "[123456.5,1e-7]");
}

static void test_parse_errors(void **state)
{
        assert_parse_error("{\n \"a\": 1,\n \"b\" 2}",
                           "invalid JSON at line 3, column 6: ':' expected near '2'");
        assert_parse_error("{\"a\": 1} x",
                           "invalid JSON at line 1, column 10: end of file expected near 'x'");
        assert_parse_error("", "invalid JSON at line 1, column 1: unexpected token near end of file");
        assert_parse_error("{\"a\": [1, 2}", "invalid JSON at line 1, column 12: ']' expected near '}'");
        assert_parse_error("{\"a\": 9223372036854775808}",
                           "invalid JSON at line 1, column 25: too big integer near '9223372036854775808'");
        assert_parse_error(
                "{\"name\": \"a\\u0000b\"}",
                "invalid JSON at line 1, column 19: \\u0000 is not allowed without JSON_ALLOW_NUL near "
                "'\"a\\u0000b\"'");
        cleanup_error k8c_error_t err = NULL;
        json_t *v = NULL;
        assert_int_equal(k8c_json_parse(NULL, 0, &v, &err), -(int)K8C_EBADREQUEST);
        /* A length shorter than the string: only the prefix is parsed. */
        json_auto_t *w = NULL;
        k8c_error_release(&err);
        assert_int_equal(k8c_json_parse("[1]garbage", 3, &w, &err), 0);
        assert_dump(w, "[1]");
}

static void test_get(void **state)
{
        json_auto_t *v = parse_ok("{\"metadata\":{\"name\":\"web\",\"generation\":3,"
                                  "\"labels\":{\"app.kubernetes.io/name\":\"nginx\",\"a\\\"b\":\"q\"}},"
                                  "\"spec\":{\"replicas\":2,\"paused\":true,\"f\":1.5,"
                                  "\"containers\":[{\"name\":\"a\",\"image\":\"nginx:1\"},"
                                  "{\"name\":\"b\",\"ports\":[{\"containerPort\":80}]}]},"
                                  "\"list\":[[1,2],[3]]}");
        assert_string_equal(k8c_json_get_string(v, "metadata.name"), "web");
        assert_string_equal(k8c_json_get_string(v, "spec.containers[0].image"), "nginx:1");
        assert_string_equal(k8c_json_get_string(v, "spec.containers[1].name"), "b");
        assert_int_equal(k8c_json_get_int(v, "spec.containers[1].ports[0].containerPort", -1), 80);
        assert_string_equal(k8c_json_get_string(v, "metadata.labels[\"app.kubernetes.io/name\"]"), "nginx");
        assert_string_equal(k8c_json_get_string(v, "metadata.labels['app.kubernetes.io/name']"), "nginx");
        assert_string_equal(k8c_json_get_string(v, "metadata.labels.[\"app.kubernetes.io/name\"]"), "nginx");
        assert_string_equal(k8c_json_get_string(v, "metadata.labels[\"a\\\"b\"]"), "q");
        assert_string_equal(k8c_json_get_string(v, "[\"metadata\"].name"), "web");
        assert_int_equal(k8c_json_get_int(v, "list[0][1]", -1), 2);
        assert_int_equal(k8c_json_get_int(v, "list[1][0]", -1), 3);
        assert_int_equal(k8c_json_get_int(v, "metadata.generation", 0), 3);
        assert_int_equal(k8c_json_get_int(v, "spec.f", 7), 7);         /* real is not an integer */
        assert_int_equal(k8c_json_get_int(v, "metadata.name", 7), 7);  /* string */
        assert_int_equal(k8c_json_get_int(v, "spec.missing", -5), -5); /* absent */
        assert_true(k8c_json_get_bool(v, "spec.paused", false));
        assert_false(k8c_json_get_bool(v, "spec.missing", false));
        assert_true(k8c_json_get_bool(v, "spec.replicas", true)); /* not a bool: default */
        assert_null(k8c_json_get_string(v, "spec.replicas"));
        assert_null(k8c_json_get(v, "spec.containers[2]"));
        assert_null(k8c_json_get(v, "metadata.name.x"));
        assert_null(k8c_json_get(v, "metadata[0]"));
        assert_null(k8c_json_get(v, "spec.containers.name"));
        assert_ptr_equal(k8c_json_get(v, "spec"), json_object_get(v, "spec"));
        /* Malformed paths never match. */
        const char *bad[] = { "",        ".",      "a.",       ".a",      "a..b",   "list[",
                              "list[x]", "list[0", "list[0]x", "a[\"b\"", "a[\"b]", "list[-1]" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(bad); i++)
                assert_null(k8c_json_get(v, bad[i]));
        assert_null(k8c_json_get(v, NULL));
        assert_null(k8c_json_get(NULL, "a"));
}

static void test_set_new(void **state)
{
        json_auto_t *v = json_object();
        assert_int_equal(k8c_json_set_new(v, "metadata.name", json_string("web")), 0);
        assert_int_equal(k8c_json_set_new(v, "metadata.labels[\"app.kubernetes.io/name\"]", json_string("x")),
                         0);
        assert_int_equal(k8c_json_set_new(v, "spec.replicas", json_integer(3)), 0);
        assert_int_equal(k8c_json_set_new(v, "spec.replicas", json_integer(4)), 0); /* replace */
        assert_dump(v, "{\"metadata\":{\"name\":\"web\",\"labels\":{\"app.kubernetes.io/name\":\"x\"}},"
                       "\"spec\":{\"replicas\":4}}");
        assert_int_equal(k8c_json_set_new(v, "spec.containers", json_pack("[{s:s}]", "name", "a")), 0);
        assert_int_equal(k8c_json_set_new(v, "spec.containers[0].image", json_string("nginx")), 0);
        assert_int_equal(k8c_json_set_new(v, "spec.containers[1]", json_pack("{s:s}", "name", "b")), 0);
        assert_int_equal(k8c_json_set_new(v, "spec.containers[0]", json_pack("{s:s}", "name", "z")), 0);
        assert_dump(json_object_get(v, "spec"),
                    "{\"replicas\":4,\"containers\":[{\"name\":\"z\"},{\"name\":\"b\"}]}");
        /* Failures: through a non-object, past the end of an array, into a
         * missing array, malformed path. The value is released (ASan checks). */
        assert_int_equal(k8c_json_set_new(v, "metadata.name.first", json_string("x")), -1);
        assert_int_equal(k8c_json_set_new(v, "spec.containers[5]", json_string("x")), -1);
        assert_int_equal(k8c_json_set_new(v, "spec.containers[2].name", json_string("x")), -1);
        assert_int_equal(k8c_json_set_new(v, "spec.volumes[0]", json_string("x")), -1);
        assert_int_equal(k8c_json_set_new(v, "spec..x", json_string("x")), -1);
        assert_int_equal(k8c_json_set_new(v, "spec.x", NULL), -1);
        assert_null(json_object_get(json_object_get(v, "spec"), "volumes"));
        assert_dump(json_object_get(v, "metadata"),
                    "{\"name\":\"web\",\"labels\":{\"app.kubernetes.io/name\":\"x\"}}");
}

static void test_object_ensure(void **state)
{
        json_auto_t *v = parse_ok("{\"a\":{\"x\":1},\"s\":\"str\"}");
        json_t *a = k8c_json_object_ensure(v, "a");
        assert_ptr_equal(a, json_object_get(v, "a"));
        json_t *b = k8c_json_object_ensure(v, "b");
        assert_non_null(b);
        assert_true(json_is_object(b));
        assert_int_equal(json_object_size(b), 0);
        assert_null(k8c_json_object_ensure(v, "s"));
        json_auto_t *arr = json_array();
        assert_null(k8c_json_object_ensure(arr, "a"));
        assert_dump(v, "{\"a\":{\"x\":1},\"s\":\"str\",\"b\":{}}");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_and_dump), cmocka_unit_test(test_real_precision),
                cmocka_unit_test(test_parse_errors),   cmocka_unit_test(test_get),
                cmocka_unit_test(test_set_new),        cmocka_unit_test(test_object_ensure),
        };
        return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}

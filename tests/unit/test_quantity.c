/* Unit tests for quantity.c: parsing, canonical form, comparison, value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <inttypes.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/quantity.h"

#define DSI K8C_QUANTITY_DECIMAL_SI
#define BIN K8C_QUANTITY_BINARY_SI
#define EXP K8C_QUANTITY_DECIMAL_EXPONENT

#define ERR_FORMAT                                                                                           \
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
#define ERR_NUMERIC "unable to parse numeric part of quantity"
#define ERR_SUFFIX "unable to parse quantity's suffix"
#define ERR_TOO_LARGE "quantity too large"

static const struct {
        const char *in;
        int64_t milli;
        k8c_quantity_format_t format;
        const char *out;
        int64_t value;
} ok_cases[] = {
        { "0", 0, DSI, "0", 0 },
        { "1000m", 1000, DSI, "1", 1 },
        { "1500m", 1500, DSI, "1500m", 2 },
        { "100m", 100, DSI, "100m", 1 },
        { "0.5", 500, DSI, "500m", 1 },
        { ".5", 500, DSI, "500m", 1 },
        { "1", 1000, DSI, "1", 1 },
        { "3.0", 3000, DSI, "3", 3 },
        { "000123", 123000, DSI, "123", 123 },
        { "1.M", 1000000000, DSI, "1M", 1000000 },
        { "1k", 1000000, DSI, "1k", 1000 },
        { "1000k", 1000000000, DSI, "1M", 1000000 },
        { "1500k", 1500000000, DSI, "1500k", 1500000 },
        { "1G", INT64_C(1000000000000), DSI, "1G", 1000000000 },
        { "2T", INT64_C(2000000000000000), DSI, "2T", INT64_C(2000000000000) },
        { "9P", INT64_C(9000000000000000000), DSI, "9P", INT64_C(9000000000000000) },
        { "2048", 2048000, DSI, "2048", 2048 },
        { "1024Mi", INT64_C(1073741824000), BIN, "1Gi", 1073741824 },
        { "100Mi", INT64_C(104857600000), BIN, "100Mi", 104857600 },
        { "128Mi", INT64_C(134217728000), BIN, "128Mi", 134217728 },
        { "1536Mi", INT64_C(1610612736000), BIN, "1536Mi", 1610612736 },
        { "1.5Gi", INT64_C(1610612736000), BIN, "1536Mi", 1610612736 },
        { "1Ki", 1024000, BIN, "1Ki", 1024 },
        { "1024Ki", 1048576000, BIN, "1Mi", 1048576 },
        { "1000Mi", INT64_C(1048576000000), BIN, "1000Mi", 1048576000 },
        { "1.5Ki", 1536000, BIN, "1536", 1536 },
        { "0.5Ki", 512000, BIN, "512", 512 },
        { "1.1Ki", 1126400, BIN, "1126400m", 1127 },
        { "8Pi", INT64_C(9007199254740992000), BIN, "8Pi", INT64_C(9007199254740992) },
        { "0.0001Ki", 103, DSI, "103m", 1 }, /* 0.1024 rounds up to 103m, and below 1 it is decimal */
        { "1e3", 1000000, EXP, "1e3", 1000 },
        { "1E3", 1000000, EXP, "1e3", 1000 },
        { "12e6", INT64_C(12000000000), EXP, "12e6", 12000000 },
        { "1e+3", 1000000, EXP, "1e3", 1000 },
        { "1.5e3", 1500000, EXP, "1500", 1500 },
        { "1e-3", 1, EXP, "1e-3", 1 },
        { "0.5e0", 500, EXP, "500e-3", 1 },
        { "0.5e-3", 1, EXP, "1e-3", 1 },
        { "1e0", 1000, EXP, "1", 1 },
        { "0.0001", 1, DSI, "1m", 1 },
        { "0.001", 1, DSI, "1m", 1 },
        { "0.1m", 1, DSI, "1m", 1 },
        { "1.0001", 1001, DSI, "1001m", 2 },
        { "1n", 1, DSI, "1m", 1 },
        { "100u", 1, DSI, "1m", 1 },
        { "1500u", 2, DSI, "2m", 1 },
        { "1e-100", 1, EXP, "1e-3", 1 },
        { "-1", -1000, DSI, "-1", -1 },
        { "-1.5", -1500, DSI, "-1500m", -2 },
        { "-100m", -100, DSI, "-100m", -1 },
        { "-0.0001", -1, DSI, "-1m", -1 },
        { "-1Gi", INT64_C(-1073741824000), BIN, "-1Gi", -1073741824 },
        { "-0", 0, DSI, "0", 0 },
        { "+1", 1000, DSI, "1", 1 }, /* Kubernetes would echo "+1" back verbatim */
        { "0Ki", 0, BIN, "0", 0 },
        { ".", 0, DSI, "0", 0 },
        { "+", 0, DSI, "0", 0 },
        { "m", 0, DSI, "0", 0 },
        { "Ki", 0, BIN, "0", 0 },
        { "9223372036854775807m", INT64_MAX, DSI, "9223372036854775807m", INT64_C(9223372036854776) },
        { "9223372036854775.807", INT64_MAX, DSI, "9223372036854775807m", INT64_C(9223372036854776) },
        { "-9223372036854775807m", -INT64_MAX, DSI, "-9223372036854775807m", -INT64_C(9223372036854776) },
        { "100000000000000000000000000e-20", 1000000000, EXP, "1e6", 1000000 },
};

static void test_parse_format(void **state)
{
        for (size_t i = 0; i < K8C_ARRAY_SIZE(ok_cases); i++) {
                k8c_quantity_t q = { .milli = 42, .format = EXP };
                cleanup_error k8c_error_t err = NULL;
                if (k8c_quantity_parse(ok_cases[i].in, &q, &err) != 0)
                        fail_msg("case %zu '%s': %s", i, ok_cases[i].in, k8c_error_msg(&err));
                if (q.milli != ok_cases[i].milli)
                        fail_msg("case %zu '%s': milli %" PRId64 " want %" PRId64, i, ok_cases[i].in, q.milli,
                                 ok_cases[i].milli);
                if (q.format != ok_cases[i].format)
                        fail_msg("case %zu '%s': format %d want %d", i, ok_cases[i].in, q.format,
                                 ok_cases[i].format);
                assert_int_equal(k8c_quantity_milli(&q), ok_cases[i].milli);
                if (k8c_quantity_value(&q) != ok_cases[i].value)
                        fail_msg("case %zu '%s': value %" PRId64 " want %" PRId64, i, ok_cases[i].in,
                                 k8c_quantity_value(&q), ok_cases[i].value);
                cleanup_free char *s = k8c_quantity_format(&q);
                if (strcmp(s, ok_cases[i].out) != 0)
                        fail_msg("case %zu '%s': formatted '%s' want '%s'", i, ok_cases[i].in, s,
                                 ok_cases[i].out);
                /* the canonical form is a fixed point */
                k8c_quantity_t again;
                assert_int_equal(k8c_quantity_parse(s, &again, NULL), 0);
                assert_int_equal(again.milli, q.milli);
                cleanup_free char *s2 = k8c_quantity_format(&again);
                assert_string_equal(s2, s);
        }
}

static void test_errors(void **state)
{
        static const struct {
                const char *in, *msg;
        } cases[] = {
                { "", ERR_FORMAT },
                { "abc", ERR_FORMAT },
                { "1.2.3", ERR_FORMAT },
                { "1 ", ERR_FORMAT },
                { " 1", ERR_FORMAT },
                { "1e3.5", ERR_FORMAT },
                { "1e3m", ERR_FORMAT },
                { "--1", ERR_SUFFIX },
                { "1x", ERR_FORMAT },
                { "1Ki3", ERR_SUFFIX },
                { "1ki", ERR_SUFFIX },
                { "1KI", ERR_FORMAT },
                { "1e", ERR_SUFFIX },
                { "1e+", ERR_SUFFIX },
                { "1ee3", ERR_SUFFIX },
                { "1mm", ERR_SUFFIX },
                { "1e99999999999999999999", ERR_SUFFIX },
                { "-.e-10", ERR_NUMERIC },
                { ".Pi", ERR_NUMERIC },
                { "+Ei", ERR_NUMERIC },
                { "1E", ERR_TOO_LARGE },
                { "10P", ERR_TOO_LARGE },
                { "9Pi", ERR_TOO_LARGE },
                { "8Ei", ERR_TOO_LARGE },
                { "1e18", ERR_TOO_LARGE },
                { "1e9223372036854775807", ERR_TOO_LARGE },
                { "9223372036854775808m", ERR_TOO_LARGE },
                { "-9223372036854775808m", ERR_TOO_LARGE },
                { "99999999999999999999999", ERR_TOO_LARGE },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                k8c_quantity_t q = { .milli = 42, .format = EXP };
                cleanup_error k8c_error_t err = NULL;
                int r = k8c_quantity_parse(cases[i].in, &q, &err);
                if (r != -(int)K8C_EINVALID)
                        fail_msg("case %zu '%s': got %d, want Invalid", i, cases[i].in, r);
                if (strcmp(k8c_error_msg(&err), cases[i].msg) != 0)
                        fail_msg("case %zu '%s': message '%s' want '%s'", i, cases[i].in, k8c_error_msg(&err),
                                 cases[i].msg);
                /* untouched on failure */
                assert_int_equal(q.milli, 42);
                assert_int_equal(q.format, EXP);
        }
        assert_int_equal(k8c_quantity_parse(NULL, &(k8c_quantity_t){ 0 }, NULL), -(int)K8C_EINVALID);
}

static void test_cmp(void **state)
{
        static const struct {
                const char *a, *b;
                int want;
        } cases[] = {
                { "1", "1000m", 0 },  { "1Ki", "1024", 0 }, { "1k", "1Ki", -1 }, { "1Gi", "1G", 1 },
                { "100m", "0.1", 0 }, { "-1", "0", -1 },    { "0", "-0", 0 },    { "1e3", "1k", 0 },
                { "500m", "1", -1 },  { "2", "1999m", 1 },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                k8c_quantity_t a, b;
                assert_int_equal(k8c_quantity_parse(cases[i].a, &a, NULL), 0);
                assert_int_equal(k8c_quantity_parse(cases[i].b, &b, NULL), 0);
                if (k8c_quantity_cmp(&a, &b) != cases[i].want)
                        fail_msg("cmp(%s, %s) = %d want %d", cases[i].a, cases[i].b, k8c_quantity_cmp(&a, &b),
                                 cases[i].want);
                assert_int_equal(k8c_quantity_cmp(&b, &a), -cases[i].want);
        }
}

static void test_format_constructed(void **state)
{
        /* values built by callers (sums, quotas) format like parsed ones */
        static const struct {
                k8c_quantity_t q;
                const char *out;
        } cases[] = {
                { { 250, DSI }, "250m" },
                { { 3000, DSI }, "3" },
                { { 3000000, BIN }, "3000" }, /* 3000 is not a multiple of 1024 */
                { { 3072000, BIN }, "3Ki" },
                { { 1023000, BIN }, "1023" },     /* below 1Ki is decimal */
                { { 2048500, BIN }, "2048500m" }, /* a fraction would be rounded in binary */
                { { 1000000, EXP }, "1e3" },
                { { 10000, EXP }, "10" },
                { { 100000, EXP }, "100" },
                { { INT64_MIN, DSI }, "-9223372036854775808m" },
                { { INT64_C(1125899906842624000), BIN }, "1Pi" },
                { { 5000, (k8c_quantity_format_t)99 }, "5" },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                cleanup_free char *s = k8c_quantity_format(&cases[i].q);
                if (strcmp(s, cases[i].out) != 0)
                        fail_msg("case %zu: '%s' want '%s'", i, s, cases[i].out);
        }
        k8c_quantity_t min = { INT64_MIN, DSI };
        assert_int_equal(k8c_quantity_value(&min), INT64_MIN / 1000 - 1);
}

static void test_from_json(void **state)
{
        static const struct {
                const char *json;
                int64_t milli;
                k8c_quantity_format_t format;
                const char *out;
        } cases[] = {
                { "\"100m\"", 100, DSI, "100m" },
                { "\" 128Mi\\n\"", INT64_C(134217728000), BIN, "128Mi" },
                { "2", 2000, DSI, "2" },
                { "-3", -3000, DSI, "-3" },
                { "0.1", 100, DSI, "100m" },
                { "0.5", 500, DSI, "500m" },
                { "2.5", 2500, DSI, "2500m" },
                { "1e3", 1000000, DSI, "1k" }, /* jansson keeps no text: a whole number reads as "1000" */
                { "1000.0", 1000000, DSI, "1k" },
                { "1e-05", 1, EXP, "1e-3" },
                { "null", 0, DSI, "0" },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                json_auto_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
                assert_non_null(j);
                k8c_quantity_t q;
                cleanup_error k8c_error_t err = NULL;
                if (k8c_quantity_from_json(j, &q, &err) != 0)
                        fail_msg("case %zu %s: %s", i, cases[i].json, k8c_error_msg(&err));
                if (q.milli != cases[i].milli || q.format != cases[i].format)
                        fail_msg("case %zu %s: %" PRId64 "/%d want %" PRId64 "/%d", i, cases[i].json, q.milli,
                                 q.format, cases[i].milli, cases[i].format);
                cleanup_free char *s = k8c_quantity_format(&q);
                assert_string_equal(s, cases[i].out);
        }
        static const char *const bad[] = { "true", "{}", "[\"1\"]", "\"1 x\"", "\"\"" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(bad); i++) {
                json_auto_t *j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
                assert_non_null(j);
                k8c_quantity_t q = { 7, BIN };
                cleanup_error k8c_error_t err = NULL;
                assert_int_equal(k8c_quantity_from_json(j, &q, &err), -(int)K8C_EINVALID);
                assert_string_equal(k8c_error_msg(&err), ERR_FORMAT);
                assert_int_equal(q.milli, 7);
        }
        json_auto_t *huge = json_real(1.5e20);
        k8c_quantity_t q;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_quantity_from_json(huge, &q, &err), -(int)K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err), ERR_TOO_LARGE);
        assert_int_equal(k8c_quantity_from_json(NULL, &q, NULL), 0);
        assert_int_equal(q.milli, 0);
}

static void test_add_sub(void **state)
{
        k8c_quantity_t sum = { 0, DSI }, a, b;
        assert_int_equal(k8c_quantity_parse("1Gi", &a, NULL), 0);
        assert_int_equal(k8c_quantity_parse("512Mi", &b, NULL), 0);
        assert_int_equal(k8c_quantity_add(&sum, &a, NULL), 0); /* zero takes the format of y */
        assert_int_equal(sum.format, BIN);
        assert_int_equal(k8c_quantity_add(&sum, &b, NULL), 0);
        cleanup_free char *s1 = k8c_quantity_format(&sum);
        assert_string_equal(s1, "1536Mi");
        assert_int_equal(k8c_quantity_sub(&sum, &a, NULL), 0);
        cleanup_free char *s2 = k8c_quantity_format(&sum);
        assert_string_equal(s2, "512Mi");

        k8c_quantity_t cpu = { 0, BIN }, c1, c2;
        assert_int_equal(k8c_quantity_parse("250m", &c1, NULL), 0);
        assert_int_equal(k8c_quantity_parse("1.5", &c2, NULL), 0);
        assert_int_equal(k8c_quantity_add(&cpu, &c1, NULL), 0);
        assert_int_equal(k8c_quantity_add(&cpu, &c2, NULL), 0);
        assert_int_equal(cpu.milli, 1750);
        assert_int_equal(cpu.format, DSI);
        assert_int_equal(k8c_quantity_sub(&cpu, &c2, NULL), 0);
        assert_int_equal(k8c_quantity_sub(&cpu, &c2, NULL), 0);
        cleanup_free char *s3 = k8c_quantity_format(&cpu);
        assert_string_equal(s3, "-1250m");

        k8c_quantity_t big = { INT64_MAX - 1, DSI }, two = { 2, DSI }, neg = { INT64_MIN + 1, DSI };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_quantity_add(&big, &two, &err), -(int)K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err), ERR_TOO_LARGE);
        assert_int_equal(big.milli, INT64_MAX - 1);
        assert_int_equal(k8c_quantity_sub(&neg, &two, NULL), -(int)K8C_EINVALID);
        assert_int_equal(neg.milli, INT64_MIN + 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_format), cmocka_unit_test(test_errors),
                cmocka_unit_test(test_cmp),          cmocka_unit_test(test_format_constructed),
                cmocka_unit_test(test_from_json),    cmocka_unit_test(test_add_sub),
        };
        return cmocka_run_group_tests_name("quantity", tests, NULL, NULL);
}

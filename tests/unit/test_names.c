/* Unit tests for names.c: DNS-1123 messages, generateName, UUIDv4, RFC3339, human ages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/names.h"

#define LABEL_MSG                                                                                            \
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "    \
        "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "       \
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
#define SUBDOMAIN_MSG                                                                                        \
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "    \
        "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "         \
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"

static void test_subdomain(void **state)
{
        assert_true(k8c_dns1123_subdomain_valid("web", NULL));
        assert_true(k8c_dns1123_subdomain_valid("web-1.example.com", NULL));
        assert_true(k8c_dns1123_subdomain_valid("0abc", NULL));
        const char *bad[] = { "", "Web", "-web", "web-", "a..b", ".a", "a.", "a_b" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(bad); i++) {
                cleanup_free char *msg = NULL;
                assert_false(k8c_dns1123_subdomain_valid(bad[i], &msg));
                assert_string_equal(msg, SUBDOMAIN_MSG);
        }
        char longname[300];
        memset(longname, 'a', 254);
        longname[254] = '\0';
        cleanup_free char *msg = NULL;
        assert_false(k8c_dns1123_subdomain_valid(longname, &msg));
        assert_string_equal(msg, "must be no more than 253 characters");
        longname[253] = '\0';
        assert_true(k8c_dns1123_subdomain_valid(longname, NULL));
}

static void test_label(void **state)
{
        assert_true(k8c_dns1123_label_valid("my-name", NULL));
        assert_true(k8c_dns1123_label_valid("123-abc", NULL));
        cleanup_free char *m1 = NULL, *m2 = NULL, *m3 = NULL;
        assert_false(k8c_dns1123_label_valid("a.b", &m1));
        assert_string_equal(m1, "must not contain dots");
        assert_false(k8c_dns1123_label_valid("My_Name", &m2));
        assert_string_equal(m2, LABEL_MSG);
        char longname[80];
        memset(longname, 'a', 64);
        longname[64] = '\0';
        longname[10] = '_';
        assert_false(k8c_dns1123_label_valid(longname, &m3));
        assert_string_equal(m3, "must be no more than 63 characters, " LABEL_MSG);

        char *msgs[2];
        assert_int_equal(k8c_dns1123_label_errors(longname, msgs), 2);
        assert_string_equal(msgs[0], "must be no more than 63 characters");
        assert_string_equal(msgs[1], LABEL_MSG);
        free(msgs[0]);
        free(msgs[1]);
        assert_int_equal(k8c_dns1123_subdomain_errors("ok.name", msgs), 0);
        assert_int_equal(k8c_dns1035_label_errors("web-1", msgs), 0);
        assert_int_equal(k8c_dns1035_label_errors("1web", msgs), 1);
        assert_string_equal(msgs[0],
                            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                            "start with an alphabetic character, and end with an alphanumeric character "
                            "(e.g. 'my-name',  or 'abc-123', regex used for validation is "
                            "'[a-z]([-a-z0-9]*[a-z0-9])?')");
        free(msgs[0]);
}

static void test_generate_name(void **state)
{
        cleanup_free char *n = k8c_generate_name("web-");
        assert_int_equal(strlen(n), 9);
        assert_memory_equal(n, "web-", 4);
        for (int i = 4; i < 9; i++)
                assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", n[i]));
        char base[100];
        memset(base, 'x', 70);
        base[70] = '\0';
        cleanup_free char *l = k8c_generate_name(base);
        assert_int_equal(strlen(l), 63);
        assert_memory_equal(l, base, 58);
        assert_true(k8c_dns1123_subdomain_valid(l, NULL));
}

static void test_uuid(void **state)
{
        char a[37], b[37];
        k8c_uuid4(a);
        k8c_uuid4(b);
        assert_int_equal(strlen(a), 36);
        assert_string_not_equal(a, b);
        assert_int_equal(a[8], '-');
        assert_int_equal(a[13], '-');
        assert_int_equal(a[14], '4');
        assert_int_equal(a[18], '-');
        assert_non_null(strchr("89ab", a[19]));
        assert_int_equal(a[23], '-');
        for (int i = 0; i < 36; i++)
                if (i != 8 && i != 13 && i != 18 && i != 23)
                        assert_non_null(strchr("0123456789abcdef", a[i]));
}

static void test_rfc3339(void **state)
{
        char buf[32];
        k8c_rfc3339(0, buf, sizeof(buf));
        assert_string_equal(buf, "1970-01-01T00:00:00Z");
        k8c_rfc3339(1795534338, buf, sizeof(buf));
        assert_string_equal(buf, "2026-11-24T15:32:18Z");

        time_t t = 0;
        assert_int_equal(k8c_rfc3339_parse("2026-11-24T15:32:18Z", &t), 0);
        assert_int_equal(t, 1795534338);
        assert_int_equal(k8c_rfc3339_parse("2026-11-24T15:32:18.123456Z", &t), 0);
        assert_int_equal(t, 1795534338);
        assert_int_equal(k8c_rfc3339_parse("2026-11-24T17:32:18+02:00", &t), 0);
        assert_int_equal(t, 1795534338);
        assert_int_equal(k8c_rfc3339_parse("2026-11-24T10:02:18-05:30", &t), 0);
        assert_int_equal(t, 1795534338);
        assert_int_equal(k8c_rfc3339_parse("1970-01-01T00:00:00Z", &t), 0);
        assert_int_equal(t, 0);
        t = 42;
        assert_int_equal(k8c_rfc3339_parse("2026-11-24 junk", &t), -1);
        assert_int_equal(k8c_rfc3339_parse("2026-11-24T15:32:18", &t), -1);
        assert_int_equal(k8c_rfc3339_parse("2026-13-24T15:32:18Z", &t), -1);
        assert_int_equal(k8c_rfc3339_parse("2026-11-24T15:32:18Zx", &t), -1);
        assert_int_equal(k8c_rfc3339_parse(NULL, &t), -1);
        assert_int_equal(t, 42);
}

static void test_human_age(void **state)
{
        static const struct {
                long s;
                const char *want;
        } cases[] = {
                { -5, "<invalid>" },
                { -1, "0s" },
                { 0, "0s" },
                { 5, "5s" },
                { 119, "119s" },
                { 120, "2m" },
                { 121, "2m1s" },
                { 599, "9m59s" },
                { 600, "10m" },
                { 3 * 3600 - 1, "179m" },
                { 3 * 3600, "3h" },
                { 3 * 3600 + 60 * 5 + 7, "3h5m" },
                { 8 * 3600, "8h" },
                { 47 * 3600 + 59 * 60, "47h" },
                { 48 * 3600, "2d" },
                { 2 * 86400 + 5 * 3600, "2d5h" },
                { 8 * 86400, "8d" },
                { 729 * 86400, "729d" },
                { 730 * 86400, "2y" },
                { 800 * 86400, "2y70d" },
                { 8L * 365 * 86400 + 3 * 86400, "8y" },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                char buf[32];
                k8c_human_age(cases[i].s, buf, sizeof(buf));
                assert_string_equal(buf, cases[i].want);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_subdomain),     cmocka_unit_test(test_label),
                cmocka_unit_test(test_generate_name), cmocka_unit_test(test_uuid),
                cmocka_unit_test(test_rfc3339),       cmocka_unit_test(test_human_age),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

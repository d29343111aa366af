/* Unit tests for the lab's pure pieces (lab.c): names and the addresses derived from them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/lab.h"

static void test_net_for_name(void **state)
{
        struct k8c_lab_net a, a2, b;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_lab_net_for("lab", &a, &err), 0);
        assert_int_equal(k8c_lab_net_for("lab", &a2, &err), 0);
        assert_memory_equal(&a, &a2, sizeof(a));
        assert_true(a.a >= 200 && a.a < 240); /* never 10.244/16, the pod network */
        char want[20];
        snprintf(want, sizeof(want), "10.%u.%u.0/24", a.a, a.b);
        assert_string_equal(a.subnet, want);
        snprintf(want, sizeof(want), "10.%u.%u.1", a.a, a.b);
        assert_string_equal(a.bridge_ip, want);
        snprintf(want, sizeof(want), "127.%u.%u.1", a.a, a.b);
        assert_string_equal(a.loopback_ip, want);
        assert_string_equal(a.bridge, "lab-br");
        char ip[16];
        k8c_lab_node_ip(&a, 3, ip);
        snprintf(want, sizeof(want), "10.%u.%u.13", a.a, a.b);
        assert_string_equal(ip, want);
        /* Two labs of different names get different subnets (here: the test's and make up's). */
        assert_int_equal(k8c_lab_net_for("e2e", &b, &err), 0);
        assert_string_not_equal(a.subnet, b.subnet);
        assert_string_not_equal(a.loopback_ip, b.loopback_ip);
}

static void test_names_fit_interfaces(void **state)
{
        struct k8c_lab_net n;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_lab_net_for("abcdefghij", &n, &err), 0);
        assert_true(strlen(n.bridge) <= 15);
        const char *bad[] = { "", "abcdefghijk", "Lab", "-lab", "la_b", "la b" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(bad); i++) {
                cleanup_error k8c_error_t e = NULL;
                assert_true(k8c_lab_net_for(bad[i], &n, &e) < 0);
                assert_int_equal(k8c_error_reason(&e), K8C_EUSAGE);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_net_for_name),
                cmocka_unit_test(test_names_fit_interfaces),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

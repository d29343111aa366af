/* Unit tests of the servicelb controller against a fake object control: pool parsing, the lowest
 * free address, no address given twice (even before the cache shows the first), spec.loadBalancerIP,
 * a loadBalancerClass left alone, withdrawal on a type change, an exhausted pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_fake.h"
#include "k8c/json.h"

struct env {
        struct fake f;
        struct k8c_object_control ctl;
        struct k8c_informer *svcs;
        struct k8c_servicelb_controller *c;
};

static int setup_range(void **state, const char *range)
{
        struct env *e = calloc(1, sizeof(*e));
        fake_init(&e->f, &e->ctl);
        e->svcs = test_informer("/api/v1/services");
        k8c_error_t err = NULL;
        e->c = k8c_servicelb_controller_new(e->svcs, &e->ctl, range, &err);
        assert_non_null(e->c);
        *state = e;
        return 0;
}

static int setup(void **state)
{
        return setup_range(state, "192.0.2.10-192.0.2.12");
}

static int teardown(void **state)
{
        struct env *e = *state;
        k8c_servicelb_controller_free(e->c);
        k8c_informer_free(e->svcs);
        fake_free(&e->f);
        free(e);
        return 0;
}

static json_t *svc(const char *name, const char *type, const char *ingress_ip)
{
        json_t *s = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "Service",
                              "metadata", "name", name, "namespace", "default", "spec", "type", type,
                              "clusterIP", "10.96.0.9");
        if (ingress_ip != NULL)
                json_object_set_new(
                        s, "status",
                        json_pack("{s:{s:[{s:s}]}}", "loadBalancer", "ingress", "ip", ingress_ip));
        return s;
}

static void put(struct env *e, const char *type, json_t *obj)
{
        k8c_informer_apply_event(e->svcs, type, obj);
        json_decref(obj);
}

/* The address the last status patch wrote ("" for a withdrawal), or NULL if there was no patch. */
static const char *patched_ip(struct env *e, const char *name)
{
        json_auto_t *patches = fake_calls(&e->f, "patch");
        const json_t *last = json_array_get(patches, json_array_size(patches) - 1);
        if (last == NULL)
                return NULL;
        cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/default/services/%s/status", name);
        assert_string_equal(json_string_value(json_object_get(last, "path")), path);
        assert_string_equal(json_string_value(json_object_get(last, "type")), "application/merge-patch+json");
        const json_t *ing = k8c_json_get(json_object_get(last, "body"), "status.loadBalancer.ingress");
        if (json_is_null(ing))
                return "";
        static char ip[64];
        snprintf(ip, sizeof(ip), "%s", k8c_json_get_string(json_array_get(ing, 0), "ip") ?: "?");
        return ip;
}

static int sync_key(struct env *e, const char *key)
{
        k8c_error_t err = NULL;
        int r = k8c_servicelb_controller_sync(e->c, key, &err);
        k8c_error_release(&err);
        return r;
}

static void test_parse_range(void **state)
{
        uint32_t a, b;
        k8c_error_t err = NULL;
        assert_int_equal(k8c_servicelb_parse_range("10.1.2.200-10.1.2.250", &a, &b, &err), 0);
        assert_int_equal(a, 0x0a0102c8u);
        assert_int_equal(b, 0x0a0102fau);
        assert_int_equal(k8c_servicelb_parse_range("10.1.2.0/29", &a, &b, &err), 0);
        assert_int_equal(a, 0x0a010201u); /* network and broadcast left out */
        assert_int_equal(b, 0x0a010206u);
        assert_int_equal(k8c_servicelb_parse_range("10.1.2.7", &a, &b, &err), 0);
        assert_int_equal(a, b);
        const char *bad[] = { "", "10.1.2.9-10.1.2.1", "10.1.2.0/33", "nope", "10.1.2.1-x" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(bad); i++) {
                assert_true(k8c_servicelb_parse_range(bad[i], &a, &b, &err) < 0);
                assert_int_equal(k8c_error_reason(&err), K8C_EUSAGE);
                k8c_error_release(&err);
        }
        struct k8c_informer *inf = test_informer("/api/v1/services");
        struct fake f;
        struct k8c_object_control ctl;
        fake_init(&f, &ctl);
        assert_null(k8c_servicelb_controller_new(inf, &ctl, "10.0.0.0/40", &err));
        k8c_error_release(&err);
        k8c_informer_free(inf);
        fake_free(&f);
}

static void test_assigns_lowest_free_and_never_twice(void **state)
{
        struct env *e = *state;
        put(e, "ADDED", svc("a", "LoadBalancer", NULL));
        put(e, "ADDED", svc("b", "LoadBalancer", NULL));
        put(e, "ADDED", svc("plain", "ClusterIP", NULL));
        assert_int_equal(sync_key(e, "default/a"), 0);
        assert_string_equal(patched_ip(e, "a"), "192.0.2.10");
        /* The cache does not show a's status yet: b must still get another address. */
        assert_int_equal(sync_key(e, "default/b"), 0);
        assert_string_equal(patched_ip(e, "b"), "192.0.2.11");
        fake_reset(&e->f);
        assert_int_equal(sync_key(e, "default/plain"), 0);
        assert_null(patched_ip(e, "plain"));

        /* Once the status is in the cache, a re-sync writes nothing. */
        put(e, "MODIFIED", svc("a", "LoadBalancer", "192.0.2.10"));
        assert_int_equal(sync_key(e, "default/a"), 0);
        assert_null(patched_ip(e, "a"));

        /* Pool of 3: a third gets .12, a fourth finds none. */
        put(e, "ADDED", svc("c", "LoadBalancer", NULL));
        put(e, "ADDED", svc("d", "LoadBalancer", NULL));
        assert_int_equal(sync_key(e, "default/c"), 0);
        assert_string_equal(patched_ip(e, "c"), "192.0.2.12");
        fake_reset(&e->f);
        assert_true(sync_key(e, "default/d") < 0);
        assert_null(patched_ip(e, "d"));

        /* a deleted: its address is free again for d. */
        put(e, "DELETED", svc("a", "LoadBalancer", "192.0.2.10"));
        assert_int_equal(sync_key(e, "default/a"), 0);
        assert_int_equal(sync_key(e, "default/d"), 0);
        assert_string_equal(patched_ip(e, "d"), "192.0.2.10");
}

static void test_requested_ip_class_and_withdrawal(void **state)
{
        struct env *e = *state;
        json_t *s = svc("asked", "LoadBalancer", NULL);
        json_object_set_new(json_object_get(s, "spec"), "loadBalancerIP", json_string("192.0.2.12"));
        put(e, "ADDED", s);
        assert_int_equal(sync_key(e, "default/asked"), 0);
        assert_string_equal(patched_ip(e, "asked"), "192.0.2.12");

        fake_reset(&e->f);
        s = svc("other", "LoadBalancer", NULL);
        json_object_set_new(json_object_get(s, "spec"), "loadBalancerClass", json_string("example.com/lb"));
        put(e, "ADDED", s);
        assert_int_equal(sync_key(e, "default/other"), 0);
        assert_null(patched_ip(e, "other"));

        /* LoadBalancer → ClusterIP: our address is taken back (ingress: null). */
        put(e, "MODIFIED", svc("asked", "ClusterIP", "192.0.2.12"));
        assert_int_equal(sync_key(e, "default/asked"), 0);
        assert_string_equal(patched_ip(e, "asked"), "");
        /* An address outside the pool is not ours to withdraw. */
        fake_reset(&e->f);
        put(e, "ADDED", svc("foreign", "ClusterIP", "198.51.100.1"));
        assert_int_equal(sync_key(e, "default/foreign"), 0);
        assert_null(patched_ip(e, "foreign"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_range),
                cmocka_unit_test_setup_teardown(test_assigns_lowest_free_and_never_twice, setup, teardown),
                cmocka_unit_test_setup_teardown(test_requested_ip_class_and_withdrawal, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the Namespace controller against a fake object control: a
 * terminating namespace has every collection deleted, then is finalized with
 * "kubernetes" removed; remaining content delays finalization; namespaces not
 * being deleted, or already finalized, are left alone. */
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
        struct k8c_informer *ns;
        struct k8c_namespace_controller *c;
};

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));
        fake_init(&e->f, &e->ctl);
        e->ns = test_informer("/api/v1/namespaces");
        e->c = k8c_namespace_controller_new(e->ns, &e->ctl);
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        struct env *e = *state;
        k8c_namespace_controller_free(e->c);
        k8c_informer_free(e->ns);
        fake_free(&e->f);
        free(e);
        return 0;
}

static const char *const collections[] = {
        "/api/v1/namespaces/t/pods",
        "/api/v1/namespaces/t/services",
        "/api/v1/namespaces/t/endpoints",
        "/api/v1/namespaces/t/configmaps",
        "/api/v1/namespaces/t/secrets",
        "/api/v1/namespaces/t/persistentvolumeclaims",
        "/api/v1/namespaces/t/events",
        "/apis/apps/v1/namespaces/t/replicasets",
        "/apis/apps/v1/namespaces/t/deployments",
        "/apis/coordination.k8s.io/v1/namespaces/t/leases",
        "/apis/autoscaling/v2/namespaces/t/horizontalpodautoscalers",
        "/apis/discovery.k8s.io/v1/namespaces/t/endpointslices",
};

static void empty_lists(struct fake *f)
{
        for (size_t i = 0; i < K8C_ARRAY_SIZE(collections); i++)
                json_object_set_new(f->objects, collections[i], json_pack("{s:[]}", "items"));
}

static json_t *make_ns(bool deleting, const char *finalizer)
{
        json_t *ns = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[]}, s:{s:s}}", "apiVersion", "v1", "kind",
                               "Namespace", "metadata", "name", "t", "resourceVersion", "9", "spec",
                               "finalizers", "status", "phase", deleting ? "Terminating" : "Active");
        if (finalizer != NULL)
                json_array_append_new(k8c_json_get(ns, "spec.finalizers"), json_string(finalizer));
        if (deleting)
                json_object_set_new(json_object_get(ns, "metadata"), "deletionTimestamp",
                                    json_string("2026-11-24T12:00:00Z"));
        return ns;
}

static void add(struct env *e, json_t *ns)
{
        k8c_informer_apply_event(e->ns, "ADDED", ns);
        json_decref(ns);
}

static void sync_ok(struct env *e)
{
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_namespace_controller_sync(e->c, "t", &err), 0);
}

static void test_deletes_content_then_finalizes(void **state)
{
        struct env *e = *state;
        empty_lists(&e->f);
        add(e, make_ns(true, "kubernetes"));
        sync_ok(e);
        json_auto_t *dels = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(dels), K8C_ARRAY_SIZE(collections));
        for (size_t i = 0; i < K8C_ARRAY_SIZE(collections); i++) {
                json_t *d = json_array_get(dels, i);
                assert_string_equal(json_string_value(json_object_get(d, "path")), collections[i]);
                assert_string_equal(k8c_json_get_string(json_object_get(d, "body"), "propagationPolicy"),
                                    "Background");
        }
        json_auto_t *updates = fake_calls(&e->f, "update");
        assert_int_equal(json_array_size(updates), 1);
        json_t *u = json_array_get(updates, 0);
        assert_string_equal(json_string_value(json_object_get(u, "path")), "/api/v1/namespaces/t/finalize");
        json_auto_t *none = json_array();
        assert_true(json_equal(k8c_json_get(json_object_get(u, "body"), "spec.finalizers"), none));
        assert_string_equal(k8c_json_get_string(json_object_get(u, "body"), "metadata.resourceVersion"), "9");
}

static void test_remaining_content_delays_finalize(void **state)
{
        struct env *e = *state;
        empty_lists(&e->f);
        json_object_set_new(e->f.objects, "/api/v1/namespaces/t/pods",
                            json_pack("{s:[{s:{s:s}}]}", "items", "metadata", "name", "terminating"));
        add(e, make_ns(true, "kubernetes"));
        struct k8c_workqueue *q = k8c_namespace_controller_queue(e->c);
        char *k = NULL;
        assert_true(k8c_workqueue_get_timeout(q, 100, &k)); /* from the add */
        k8c_workqueue_done(q, k);
        free(k);
        sync_ok(e);
        json_auto_t *updates = fake_calls(&e->f, "update");
        assert_int_equal(json_array_size(updates), 0);
        /* It is looked at again on its own. */
        assert_true(k8c_workqueue_get_timeout(q, 3000, &k));
        assert_string_equal(k, "t");
        k8c_workqueue_done(q, k);
        free(k);
        /* The pod is gone now: finalized. */
        json_object_set_new(e->f.objects, "/api/v1/namespaces/t/pods", json_pack("{s:[]}", "items"));
        fake_reset(&e->f);
        sync_ok(e);
        json_auto_t *u2 = fake_calls(&e->f, "update");
        assert_int_equal(json_array_size(u2), 1);
}

static void test_keeps_other_finalizers(void **state)
{
        struct env *e = *state;
        empty_lists(&e->f);
        json_t *ns = make_ns(true, "example.com/keep");
        json_array_append_new(k8c_json_get(ns, "spec.finalizers"), json_string("kubernetes"));
        add(e, ns);
        sync_ok(e);
        json_auto_t *updates = fake_calls(&e->f, "update");
        assert_int_equal(json_array_size(updates), 1);
        json_auto_t *want = json_pack("[s]", "example.com/keep");
        assert_true(json_equal(
                k8c_json_get(json_object_get(json_array_get(updates, 0), "body"), "spec.finalizers"), want));
}

static void test_active_or_finalized_left_alone(void **state)
{
        struct env *e = *state;
        add(e, make_ns(false, "kubernetes"));
        sync_ok(e);
        assert_int_equal(json_array_size(e->f.calls), 0);
        add(e, make_ns(true, NULL));
        sync_ok(e);
        assert_int_equal(json_array_size(e->f.calls), 0);
        assert_int_equal(k8c_workqueue_len(k8c_namespace_controller_queue(e->c)),
                         1); /* the terminating update */
}

static void test_finalize_error_is_returned(void **state)
{
        struct env *e = *state;
        empty_lists(&e->f);
        e->f.fail_reason = K8C_ENOTFOUND; /* an apiserver without the finalize subresource */
        add(e, make_ns(true, "kubernetes"));
        cleanup_error k8c_error_t err = NULL;
        assert_true(k8c_namespace_controller_sync(e->c, "t", &err) < 0);
        assert_int_equal(k8c_error_reason(&err), K8C_ENOTFOUND);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_deletes_content_then_finalizes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remaining_content_delays_finalize, setup, teardown),
                cmocka_unit_test_setup_teardown(test_keeps_other_finalizers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_active_or_finalized_left_alone, setup, teardown),
                cmocka_unit_test_setup_teardown(test_finalize_error_is_returned, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

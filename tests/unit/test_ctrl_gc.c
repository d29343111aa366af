/* Unit tests of the garbage collector against a fake object control and
 * unstarted informers: dangling owners, live confirmation of a cache miss,
 * partial owner loss, Orphan and Foreground deletion of owners. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_fake.h"
#include "k8c/json.h"

#define RS_UID "rs-uid-1"

struct env {
        struct fake f;
        struct k8c_object_control ctl;
        struct k8c_informer *pods, *rs;
        struct k8c_gc_controller *c;
};

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));
        fake_init(&e->f, &e->ctl);
        e->pods = test_informer("/api/v1/pods");
        e->rs = test_informer("/apis/apps/v1/replicasets");
        struct k8c_informer *infs[2] = { e->pods, e->rs };
        const char *kinds[2] = { "v1/Pod", "apps/v1/ReplicaSet" };
        e->c = k8c_gc_controller_new(infs, kinds, 2, &e->ctl);
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        struct env *e = *state;
        k8c_gc_controller_free(e->c);
        k8c_informer_free(e->pods);
        k8c_informer_free(e->rs);
        fake_free(&e->f);
        free(e);
        return 0;
}

static json_t *ref(const char *kind, const char *name, const char *uid, bool block)
{
        return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion",
                         strcmp(kind, "ReplicaSet") == 0 ? "apps/v1" : "v1", "kind", kind, "name", name,
                         "uid", uid, "controller", strcmp(kind, "ReplicaSet") == 0, "blockOwnerDeletion",
                         block);
}

static json_t *make_pod(const char *name, json_t *refs /* stolen, may be NULL */)
{
        char uid[64];
        snprintf(uid, sizeof(uid), "uid-%s", name);
        json_t *p = json_pack("{s:{s:s, s:s, s:s, s:s}}", "metadata", "name", name, "namespace", "default",
                              "uid", uid, "resourceVersion", "30");
        if (refs != NULL)
                json_object_set_new(json_object_get(p, "metadata"), "ownerReferences", refs);
        return p;
}

static json_t *make_rs(const char *finalizer)
{
        json_t *rs = json_pack("{s:{s:s, s:s, s:s, s:s}}", "metadata", "name", "web", "namespace", "default",
                               "uid", RS_UID, "resourceVersion", "40");
        if (finalizer != NULL) {
                json_t *md = json_object_get(rs, "metadata");
                json_object_set_new(md, "deletionTimestamp", json_string("2026-11-24T12:00:00Z"));
                json_object_set_new(md, "finalizers", json_pack("[s]", finalizer));
        }
        return rs;
}

static void add(struct k8c_informer *inf, json_t *obj)
{
        k8c_informer_apply_event(inf, "ADDED", obj);
        json_decref(obj);
}

static void sync_ok(struct env *e, const char *key)
{
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_gc_controller_sync(e->c, key, &err), 0);
}

static void test_dangling_owner_deletes_dependent(void **state)
{
        struct env *e = *state;
        add(e->pods, make_pod("p1", json_pack("[o]", ref("ReplicaSet", "web", RS_UID, true))));
        sync_ok(e, "v1/Pod|default/p1");
        json_auto_t *gets = fake_calls(&e->f, "get");
        assert_int_equal(json_array_size(gets), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(gets, 0), "path")),
                            "/apis/apps/v1/namespaces/default/replicasets/web");
        json_auto_t *dels = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(dels), 1);
        json_t *d = json_array_get(dels, 0);
        assert_string_equal(json_string_value(json_object_get(d, "path")),
                            "/api/v1/namespaces/default/pods/p1");
        json_auto_t *opts = json_pack("{s:s, s:s, s:s, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
                                      "propagationPolicy", "Background", "preconditions", "uid", "uid-p1");
        assert_true(json_equal(json_object_get(d, "body"), opts));
}

static void test_owner_in_cache_keeps_dependent(void **state)
{
        struct env *e = *state;
        add(e->rs, make_rs(NULL));
        add(e->pods, make_pod("p1", json_pack("[o]", ref("ReplicaSet", "web", RS_UID, true))));
        sync_ok(e, "v1/Pod|default/p1");
        assert_int_equal(json_array_size(e->f.calls), 0);
}

static void test_cache_miss_confirmed_live(void **state)
{
        struct env *e = *state;
        /* The cache has not seen the owner yet, the apiserver has: keep the dependent. */
        json_object_set_new(e->f.objects, "/apis/apps/v1/namespaces/default/replicasets/web", make_rs(NULL));
        add(e->pods, make_pod("p1", json_pack("[o]", ref("ReplicaSet", "web", RS_UID, true))));
        sync_ok(e, "v1/Pod|default/p1");
        json_auto_t *dels = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(dels), 0);
}

static void test_name_reused_by_new_owner(void **state)
{
        struct env *e = *state;
        json_t *other = make_rs(NULL);
        json_object_set_new(json_object_get(other, "metadata"), "uid", json_string("rs-uid-2"));
        json_object_set_new(e->f.objects, "/apis/apps/v1/namespaces/default/replicasets/web", other);
        add(e->pods, make_pod("p1", json_pack("[o]", ref("ReplicaSet", "web", RS_UID, true))));
        sync_ok(e, "v1/Pod|default/p1");
        json_auto_t *dels = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(dels), 1);
}

static void test_partial_owner_loss_removes_reference(void **state)
{
        struct env *e = *state;
        add(e->rs, make_rs(NULL));
        add(e->pods, make_pod("p1", json_pack("[o, o]", ref("ReplicaSet", "web", RS_UID, true),
                                              ref("ConfigMap", "cm", "cm-uid", false))));
        sync_ok(e, "v1/Pod|default/p1");
        json_auto_t *dels = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(dels), 0);
        json_auto_t *patches = fake_calls(&e->f, "patch");
        assert_int_equal(json_array_size(patches), 1);
        json_t *p = json_array_get(patches, 0);
        assert_string_equal(json_string_value(json_object_get(p, "type")),
                            "application/strategic-merge-patch+json");
        json_auto_t *want = json_pack("{s:{s:[{s:s, s:s}], s:s}}", "metadata", "ownerReferences", "$patch",
                                      "delete", "uid", "cm-uid", "uid", "uid-p1");
        assert_true(json_equal(json_object_get(p, "body"), want));
}

static void test_orphan_finalizer(void **state)
{
        struct env *e = *state;
        json_t *rs = make_rs("orphan");
        json_object_set_new(e->f.objects, "/apis/apps/v1/namespaces/default/replicasets/web",
                            json_deep_copy(rs));
        add(e->rs, rs);
        add(e->pods, make_pod("p1", json_pack("[o]", ref("ReplicaSet", "web", RS_UID, true))));
        add(e->pods, make_pod("p2", json_pack("[o]", ref("ReplicaSet", "web", RS_UID, true))));
        sync_ok(e, "apps/v1/ReplicaSet|default/web");
        json_auto_t *patches = fake_calls(&e->f, "patch");
        assert_int_equal(json_array_size(patches), 3);
        json_auto_t *unref =
                json_pack("{s:{s:n, s:s}}", "metadata", "ownerReferences", "resourceVersion", "30");
        for (size_t i = 0; i < 2; i++)
                assert_true(json_equal(json_object_get(json_array_get(patches, i), "body"), unref));
        json_t *last = json_array_get(patches, 2);
        assert_string_equal(json_string_value(json_object_get(last, "path")),
                            "/apis/apps/v1/namespaces/default/replicasets/web");
        json_auto_t *fin = json_pack("{s:{s:[], s:s}}", "metadata", "finalizers", "resourceVersion", "40");
        assert_true(json_equal(json_object_get(last, "body"), fin));
        json_auto_t *dels = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(dels), 0);
}

static void test_foreground_waits_for_blocking_dependents(void **state)
{
        struct env *e = *state;
        json_t *rs = make_rs("foregroundDeletion");
        json_object_set_new(e->f.objects, "/apis/apps/v1/namespaces/default/replicasets/web",
                            json_deep_copy(rs));
        add(e->rs, rs);
        add(e->pods, make_pod("p1", json_pack("[o]", ref("ReplicaSet", "web", RS_UID, true))));
        add(e->pods, make_pod("p2", json_pack("[o]", ref("ReplicaSet", "web", RS_UID, true))));
        sync_ok(e, "apps/v1/ReplicaSet|default/web");
        json_auto_t *dels = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(dels), 2);
        assert_string_equal(
                k8c_json_get_string(json_object_get(json_array_get(dels, 0), "body"), "propagationPolicy"),
                "Foreground");
        json_auto_t *patches = fake_calls(&e->f, "patch");
        assert_int_equal(json_array_size(patches), 0); /* still blocked */
        /* The dependents go; their deletion wakes the owner, which now drops its finalizer. */
        struct k8c_workqueue *q = k8c_gc_controller_queue(e->c);
        while (k8c_workqueue_len(q) > 0) {
                char *k = NULL;
                k8c_workqueue_get(q, &k);
                k8c_workqueue_done(q, k);
                free(k);
        }
        json_auto_t *d1 = make_pod("p1", json_pack("[o]", ref("ReplicaSet", "web", RS_UID, true)));
        json_auto_t *d2 = make_pod("p2", json_pack("[o]", ref("ReplicaSet", "web", RS_UID, true)));
        k8c_informer_apply_event(e->pods, "DELETED", d1);
        k8c_informer_apply_event(e->pods, "DELETED", d2);
        char *key = NULL;
        assert_true(k8c_workqueue_get_timeout(q, 100, &key));
        assert_string_equal(key, "apps/v1/ReplicaSet|default/web");
        k8c_workqueue_done(q, key);
        free(key);
        fake_reset(&e->f);
        sync_ok(e, "apps/v1/ReplicaSet|default/web");
        json_auto_t *p2 = fake_calls(&e->f, "patch");
        assert_int_equal(json_array_size(p2), 1);
        json_auto_t *fin = json_pack("{s:{s:[], s:s}}", "metadata", "finalizers", "resourceVersion", "40");
        assert_true(json_equal(json_object_get(json_array_get(p2, 0), "body"), fin));
}

static void test_owner_deletion_enqueues_dependents(void **state)
{
        struct env *e = *state;
        add(e->rs, make_rs(NULL));
        add(e->pods, make_pod("p1", json_pack("[o]", ref("ReplicaSet", "web", RS_UID, true))));
        struct k8c_workqueue *q = k8c_gc_controller_queue(e->c);
        char *k = NULL;
        assert_true(k8c_workqueue_get_timeout(q, 100, &k)); /* the pod itself, on add */
        assert_string_equal(k, "v1/Pod|default/p1");
        k8c_workqueue_done(q, k);
        free(k);
        json_auto_t *gone = make_rs(NULL);
        k8c_informer_apply_event(e->rs, "DELETED", gone);
        assert_true(k8c_workqueue_get_timeout(q, 100, &k));
        assert_string_equal(k, "v1/Pod|default/p1");
        k8c_workqueue_done(q, k);
        free(k);
}

static void test_unknown_owner_kind_never_deleted(void **state)
{
        struct env *e = *state;
        json_t *r = json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", "example.com/v1", "kind", "Widget",
                              "name", "w", "uid", "w-uid");
        add(e->pods, make_pod("p1", json_pack("[o]", r)));
        sync_ok(e, "v1/Pod|default/p1");
        assert_int_equal(json_array_size(e->f.calls), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_dangling_owner_deletes_dependent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_owner_in_cache_keeps_dependent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cache_miss_confirmed_live, setup, teardown),
                cmocka_unit_test_setup_teardown(test_name_reused_by_new_owner, setup, teardown),
                cmocka_unit_test_setup_teardown(test_partial_owner_loss_removes_reference, setup, teardown),
                cmocka_unit_test_setup_teardown(test_orphan_finalizer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_foreground_waits_for_blocking_dependents, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_owner_deletion_enqueues_dependents, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_owner_kind_never_deleted, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

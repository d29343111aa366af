/* Unit tests of the ReplicaSet controller against a fake object control and
 * unstarted informers fed by hand: creation from the template, expectations,
 * slow start, deletion order, adoption, release, status, burst cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_fake.h"
#include "k8c/json.h"

#define RS_UID "11111111-1111-4111-8111-111111111111"

struct env {
        struct fake f;
        struct k8c_object_control ctl;
        struct k8c_informer *rs, *pods;
        struct k8c_rs_controller *c;
};

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));
        fake_init(&e->f, &e->ctl);
        e->rs = test_informer("/apis/apps/v1/replicasets");
        e->pods = test_informer("/api/v1/pods");
        e->c = k8c_rs_controller_new(e->rs, e->pods, &e->ctl, NULL);
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        struct env *e = *state;
        k8c_rs_controller_free(e->c);
        k8c_informer_free(e->rs);
        k8c_informer_free(e->pods);
        fake_free(&e->f);
        free(e);
        return 0;
}

static json_t *make_rs(int replicas)
{
        json_t *rs = json_pack(
                "{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:i}, s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s, s:s}}, "
                "s:{s:[{s:s, s:s}]}}}}",
                "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name", "web", "namespace",
                "default", "uid", RS_UID, "resourceVersion", "10", "generation", 4, "spec", "replicas",
                replicas, "selector", "matchLabels", "app", "web", "template", "metadata", "labels", "app",
                "web", "tier", "fe", "spec", "containers", "name", "c", "image", "busybox");
        return rs;
}

static json_t *owner_ref(const char *uid)
{
        return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", "apps/v1", "kind", "ReplicaSet",
                         "name", "web", "uid", uid, "controller", 1, "blockOwnerDeletion", 1);
}

/* A pod named name; owner_uid NULL = orphan. */
static json_t *make_pod(const char *name, const char *owner_uid, const char *app)
{
        char uid[64];
        snprintf(uid, sizeof(uid), "uid-%s", name);
        json_t *p =
                json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}, s:{}, s:{s:s}}",
                          "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "namespace", "default",
                          "uid", uid, "resourceVersion", "20", "creationTimestamp", "2026-11-24T10:00:00Z",
                          "labels", "app", app, "tier", "fe", "spec", "status", "phase", "Pending");
        if (owner_uid != NULL)
                json_object_set_new(json_object_get(p, "metadata"), "ownerReferences",
                                    json_pack("[o]", owner_ref(owner_uid)));
        return p;
}

static void add(struct k8c_informer *inf, json_t *obj)
{
        k8c_informer_apply_event(inf, "ADDED", obj);
        json_decref(obj);
}

static void set_ready(json_t *pod, const char *since)
{
        json_object_set_new(json_object_get(pod, "status"), "conditions",
                            json_pack("[{s:s, s:s, s:s}]", "type", "Ready", "status", "True",
                                      "lastTransitionTime", since));
}

static void sync_ok(struct env *e)
{
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_rs_controller_sync(e->c, "default/web", &err), 0);
}

static void test_creates_from_template(void **state)
{
        struct env *e = *state;
        add(e->rs, make_rs(3));
        sync_ok(e);
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates), 3);
        json_t *c0 = json_array_get(creates, 0);
        assert_string_equal(json_string_value(json_object_get(c0, "path")),
                            "/api/v1/namespaces/default/pods");
        json_t *pod = json_object_get(c0, "body");
        assert_string_equal(k8c_json_get_string(pod, "kind"), "Pod");
        assert_string_equal(k8c_json_get_string(pod, "metadata.generateName"), "web-");
        assert_string_equal(k8c_json_get_string(pod, "metadata.namespace"), "default");
        json_auto_t *labels = json_pack("{s:s, s:s}", "app", "web", "tier", "fe");
        assert_true(json_equal(k8c_json_get(pod, "metadata.labels"), labels));
        json_auto_t *refs = json_pack("[o]", owner_ref(RS_UID));
        assert_true(json_equal(k8c_json_get(pod, "metadata.ownerReferences"), refs));
        assert_string_equal(k8c_json_get_string(pod, "spec.containers[0].image"), "busybox");
        const char *cb = k8c_json_get_string(pod, "metadata.annotations[\"kubernetes.io/created-by\"]");
        assert_non_null(cb);
        json_auto_t *sref = json_loads(cb, 0, NULL);
        assert_string_equal(k8c_json_get_string(sref, "kind"), "SerializedReference");
        assert_string_equal(k8c_json_get_string(sref, "reference.kind"), "ReplicaSet");
        assert_string_equal(k8c_json_get_string(sref, "reference.name"), "web");
        assert_string_equal(k8c_json_get_string(sref, "reference.uid"), RS_UID);
        /* Status: written to the status subresource with what was seen (no pods yet). */
        json_auto_t *updates = fake_calls(&e->f, "update");
        assert_int_equal(json_array_size(updates), 1);
        json_t *u = json_array_get(updates, 0);
        assert_string_equal(json_string_value(json_object_get(u, "path")),
                            "/apis/apps/v1/namespaces/default/replicasets/web/status");
        json_auto_t *st = json_pack("{s:i, s:i, s:i, s:i, s:i}", "replicas", 0, "fullyLabeledReplicas", 0,
                                    "readyReplicas", 0, "availableReplicas", 0, "observedGeneration", 4);
        assert_true(json_equal(k8c_json_get(json_object_get(u, "body"), "status"), st));
}

static void test_expectations_prevent_double_create(void **state)
{
        struct env *e = *state;
        add(e->rs, make_rs(3));
        sync_ok(e);
        assert_false(k8c_rs_controller_expectations_satisfied(e->c, "default/web"));
        fake_reset(&e->f);
        /* The creates have not arrived on the watch yet: nothing more is created. */
        sync_ok(e);
        json_auto_t *c1 = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(c1), 0);
        add(e->pods, make_pod("web-a", RS_UID, "web"));
        add(e->pods, make_pod("web-b", RS_UID, "web"));
        assert_false(k8c_rs_controller_expectations_satisfied(e->c, "default/web"));
        add(e->pods, make_pod("web-c", RS_UID, "web"));
        assert_true(k8c_rs_controller_expectations_satisfied(e->c, "default/web"));
        fake_reset(&e->f);
        sync_ok(e);
        json_auto_t *c2 = fake_calls(&e->f, "create");
        json_auto_t *d2 = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(c2), 0);
        assert_int_equal(json_array_size(d2), 0);
        /* One pod goes away: exactly one replacement. */
        json_auto_t *gone = make_pod("web-b", RS_UID, "web");
        k8c_informer_apply_event(e->pods, "DELETED", gone);
        fake_reset(&e->f);
        sync_ok(e);
        json_auto_t *c3 = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(c3), 1);
}

static void test_slow_start_stops_on_error(void **state)
{
        struct env *e = *state;
        e->f.fail_create_at = 3; /* batch 1: one ok; batch 2: ok, fail → stop */
        add(e->rs, make_rs(10));
        cleanup_error k8c_error_t err = NULL;
        assert_true(k8c_rs_controller_sync(e->c, "default/web", &err) < 0);
        assert_int_equal(k8c_error_reason(&err), K8C_EINVALID);
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates), 3);
        /* Only the two successful creates are still expected. */
        assert_false(k8c_rs_controller_expectations_satisfied(e->c, "default/web"));
        add(e->pods, make_pod("web-a", RS_UID, "web"));
        assert_false(k8c_rs_controller_expectations_satisfied(e->c, "default/web"));
        add(e->pods, make_pod("web-b", RS_UID, "web"));
        assert_true(k8c_rs_controller_expectations_satisfied(e->c, "default/web"));
}

static json_t *ordered_pods(void)
{
        json_t *a = make_pod("a-old-ready", RS_UID, "web");
        json_object_set_new(json_object_get(a, "spec"), "nodeName", json_string("n1"));
        json_object_set_new(json_object_get(a, "status"), "phase", json_string("Running"));
        set_ready(a, "2026-11-24T10:01:00Z");
        json_t *b = make_pod("b-new-ready", RS_UID, "web");
        json_object_set_new(json_object_get(b, "spec"), "nodeName", json_string("n1"));
        json_object_set_new(json_object_get(b, "status"), "phase", json_string("Running"));
        json_object_set_new(json_object_get(b, "metadata"), "creationTimestamp",
                            json_string("2026-11-24T11:00:00Z"));
        set_ready(b, "2026-11-24T11:01:00Z");
        json_t *c = make_pod("c-notready", RS_UID, "web");
        json_object_set_new(json_object_get(c, "spec"), "nodeName", json_string("n1"));
        json_object_set_new(json_object_get(c, "status"), "phase", json_string("Running"));
        json_t *d = make_pod("d-pending", RS_UID, "web");
        json_object_set_new(json_object_get(d, "spec"), "nodeName", json_string("n1"));
        json_t *u = make_pod("e-unscheduled", RS_UID, "web");
        return json_pack("[o, o, o, o, o]", a, b, c, d, u);
}

static void test_sort_for_deletion(void **state)
{
        json_auto_t *pods = ordered_pods();
        k8c_sort_pods_for_deletion(pods);
        const char *want[] = { "e-unscheduled", "d-pending", "c-notready", "b-new-ready", "a-old-ready" };
        for (size_t i = 0; i < 5; i++)
                assert_string_equal(k8c_json_get_string(json_array_get(pods, i), "metadata.name"), want[i]);
}

static void test_scale_down_order(void **state)
{
        struct env *e = *state;
        add(e->rs, make_rs(2));
        json_auto_t *pods = ordered_pods();
        size_t i;
        json_t *p;
        json_array_foreach(pods, i, p) k8c_informer_apply_event(e->pods, "ADDED", p);
        sync_ok(e);
        json_auto_t *dels = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(dels), 3);
        const char *want[] = { "e-unscheduled", "d-pending", "c-notready" };
        for (i = 0; i < 3; i++) {
                char path[128], uid[64];
                snprintf(path, sizeof(path), "/api/v1/namespaces/default/pods/%s", want[i]);
                snprintf(uid, sizeof(uid), "uid-%s", want[i]);
                json_t *d = json_array_get(dels, i);
                assert_string_equal(json_string_value(json_object_get(d, "path")), path);
                assert_string_equal(k8c_json_get_string(json_object_get(d, "body"), "preconditions.uid"),
                                    uid);
        }
        /* Deletions outstanding until observed (a terminating update counts). */
        assert_false(k8c_rs_controller_expectations_satisfied(e->c, "default/web"));
        for (i = 0; i < 3; i++) {
                json_auto_t *dp = make_pod(want[i], RS_UID, "web");
                k8c_informer_apply_event(e->pods, "DELETED", dp);
        }
        assert_true(k8c_rs_controller_expectations_satisfied(e->c, "default/web"));
}

static void test_adopts_orphans(void **state)
{
        struct env *e = *state;
        json_t *rs = make_rs(3);
        json_object_set_new(e->f.objects, "/apis/apps/v1/namespaces/default/replicasets/web",
                            json_deep_copy(rs));
        add(e->rs, rs);
        add(e->pods, make_pod("bare-1", NULL, "web"));
        add(e->pods, make_pod("bare-2", NULL, "web"));
        add(e->pods, make_pod("other", NULL, "db"));
        sync_ok(e);
        json_auto_t *patches = fake_calls(&e->f, "patch");
        assert_int_equal(json_array_size(patches), 2);
        json_t *p0 = json_array_get(patches, 0);
        const char *path0 = json_string_value(json_object_get(p0, "path"));
        assert_true(strcmp(path0, "/api/v1/namespaces/default/pods/bare-1") == 0 ||
                    strcmp(path0, "/api/v1/namespaces/default/pods/bare-2") == 0);
        assert_string_equal(json_string_value(json_object_get(p0, "type")), "application/merge-patch+json");
        json_auto_t *want = json_pack("{s:{s:[o], s:s}}", "metadata", "ownerReferences", owner_ref(RS_UID),
                                      "resourceVersion", "20");
        assert_true(json_equal(json_object_get(p0, "body"), want));
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates), 1);
        json_auto_t *gets = fake_calls(&e->f, "get");
        assert_int_equal(json_array_size(gets), 1); /* one live recheck per sync, not per pod */
}

static void test_no_adoption_when_rs_deleted_live(void **state)
{
        struct env *e = *state;
        add(e->rs, make_rs(1)); /* the live GET answers NotFound */
        add(e->pods, make_pod("bare-1", NULL, "web"));
        sync_ok(e);
        json_auto_t *patches = fake_calls(&e->f, "patch");
        assert_int_equal(json_array_size(patches), 0);
}

static void test_releases_relabelled_pod(void **state)
{
        struct env *e = *state;
        add(e->rs, make_rs(1));
        add(e->pods, make_pod("web-x", RS_UID, "debug"));
        sync_ok(e);
        json_auto_t *patches = fake_calls(&e->f, "patch");
        assert_int_equal(json_array_size(patches), 1);
        json_t *p = json_array_get(patches, 0);
        assert_string_equal(json_string_value(json_object_get(p, "path")),
                            "/api/v1/namespaces/default/pods/web-x");
        assert_string_equal(json_string_value(json_object_get(p, "type")), "application/merge-patch+json");
        json_auto_t *want =
                json_pack("{s:{s:n, s:s}}", "metadata", "ownerReferences", "resourceVersion", "20");
        assert_true(json_equal(json_object_get(p, "body"), want));
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates), 1);
}

static void test_release_keeps_other_owners(void **state)
{
        struct env *e = *state;
        add(e->rs, make_rs(0));
        json_t *pod = make_pod("web-x", RS_UID, "debug");
        json_array_append_new(k8c_json_get(pod, "metadata.ownerReferences"),
                              json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", "v1", "kind", "ConfigMap",
                                        "name", "cm", "uid", "cm-uid"));
        add(e->pods, pod);
        sync_ok(e);
        json_auto_t *patches = fake_calls(&e->f, "patch");
        assert_int_equal(json_array_size(patches), 1);
        json_t *p = json_array_get(patches, 0);
        assert_string_equal(json_string_value(json_object_get(p, "type")),
                            "application/strategic-merge-patch+json");
        json_auto_t *want = json_pack("{s:{s:[{s:s, s:s}], s:s}}", "metadata", "ownerReferences", "$patch",
                                      "delete", "uid", RS_UID, "uid", "uid-web-x");
        assert_true(json_equal(json_object_get(p, "body"), want));
}

static void test_ignores_pods_of_other_controllers(void **state)
{
        struct env *e = *state;
        json_object_set_new(e->f.objects, "/apis/apps/v1/namespaces/default/replicasets/web", make_rs(1));
        add(e->rs, make_rs(1));
        add(e->pods, make_pod("theirs", "22222222-2222-4222-8222-222222222222", "web"));
        sync_ok(e);
        json_auto_t *patches = fake_calls(&e->f, "patch");
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(patches), 0);
        assert_int_equal(json_array_size(creates), 1);
}

static void test_inactive_pods_not_counted(void **state)
{
        struct env *e = *state;
        add(e->rs, make_rs(2));
        json_t *failed = make_pod("failed", RS_UID, "web");
        json_object_set_new(json_object_get(failed, "status"), "phase", json_string("Failed"));
        add(e->pods, failed);
        json_t *term = make_pod("term", RS_UID, "web");
        json_object_set_new(json_object_get(term, "metadata"), "deletionTimestamp",
                            json_string("2026-11-24T12:00:00Z"));
        add(e->pods, term);
        add(e->pods, make_pod("live", RS_UID, "web"));
        sync_ok(e);
        json_auto_t *creates = fake_calls(&e->f, "create");
        json_auto_t *dels = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(creates), 1);
        assert_int_equal(json_array_size(dels), 0);
}

static void test_status_counts(void **state)
{
        struct env *e = *state;
        json_t *rs = make_rs(3);
        json_object_set_new(json_object_get(rs, "spec"), "minReadySeconds", json_integer(10));
        add(e->rs, rs);
        json_t *p1 = make_pod("p1", RS_UID, "web");
        set_ready(p1, "2026-11-24T10:00:00Z"); /* long ago: available */
        add(e->pods, p1);
        json_t *p2 = make_pod("p2", RS_UID, "web");
        set_ready(p2, "2099-01-01T00:00:00Z"); /* ready, but not for minReadySeconds yet */
        add(e->pods, p2);
        json_t *p3 = make_pod("p3", RS_UID, "web");
        json_object_del(k8c_json_get(p3, "metadata.labels"), "tier"); /* not fully labelled */
        add(e->pods, p3);
        sync_ok(e);
        json_auto_t *updates = fake_calls(&e->f, "update");
        assert_int_equal(json_array_size(updates), 1);
        json_auto_t *st = json_pack("{s:i, s:i, s:i, s:i, s:i}", "replicas", 3, "fullyLabeledReplicas", 2,
                                    "readyReplicas", 2, "availableReplicas", 1, "observedGeneration", 4);
        assert_true(
                json_equal(k8c_json_get(json_object_get(json_array_get(updates, 0), "body"), "status"), st));
        /* The same status again is not rewritten. */
        json_auto_t *rs2 = make_rs(3);
        json_object_set_new(json_object_get(rs2, "spec"), "minReadySeconds", json_integer(10));
        json_object_set(rs2, "status", st);
        k8c_informer_apply_event(e->rs, "MODIFIED", rs2);
        fake_reset(&e->f);
        sync_ok(e);
        json_auto_t *u2 = fake_calls(&e->f, "update");
        assert_int_equal(json_array_size(u2), 0);
}

static void test_burst_cap(void **state)
{
        struct env *e = *state;
        add(e->rs, make_rs(600));
        sync_ok(e);
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates), K8C_RS_BURST_REPLICAS);
}

static void test_missing_rs_is_noop(void **state)
{
        struct env *e = *state;
        sync_ok(e);
        assert_int_equal(json_array_size(e->f.calls), 0);
}

static void test_pod_events_enqueue_owner(void **state)
{
        struct env *e = *state;
        add(e->rs, make_rs(1));
        struct k8c_workqueue *q = k8c_rs_controller_queue(e->c);
        char *key = NULL;
        assert_true(k8c_workqueue_get_timeout(q, 100, &key));
        assert_string_equal(key, "default/web");
        k8c_workqueue_done(q, key);
        free(key);
        /* An orphan that matches wakes the ReplicaSet (adoption); one that does not, nothing. */
        add(e->pods, make_pod("other", NULL, "db"));
        assert_int_equal(k8c_workqueue_len(q), 0);
        add(e->pods, make_pod("bare", NULL, "web"));
        assert_true(k8c_workqueue_get_timeout(q, 100, &key));
        assert_string_equal(key, "default/web");
        k8c_workqueue_done(q, key);
        free(key);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_creates_from_template, setup, teardown),
                cmocka_unit_test_setup_teardown(test_expectations_prevent_double_create, setup, teardown),
                cmocka_unit_test_setup_teardown(test_slow_start_stops_on_error, setup, teardown),
                cmocka_unit_test(test_sort_for_deletion),
                cmocka_unit_test_setup_teardown(test_scale_down_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_adopts_orphans, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_adoption_when_rs_deleted_live, setup, teardown),
                cmocka_unit_test_setup_teardown(test_releases_relabelled_pod, setup, teardown),
                cmocka_unit_test_setup_teardown(test_release_keeps_other_owners, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ignores_pods_of_other_controllers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_inactive_pods_not_counted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_status_counts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_burst_cap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_rs_is_noop, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pod_events_enqueue_owner, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

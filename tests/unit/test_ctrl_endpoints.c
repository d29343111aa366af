/* Unit tests of the Endpoints controller: the Endpoints computed for a Service
 * (ready/notReady, ports by name and number, subsets by port set, headless),
 * and the sync against a fake object control (create, update only on change,
 * services without a selector left alone, deletion with the Service). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_fake.h"
#include "k8c/json.h"

static json_t *make_svc(const char *name, bool selector)
{
        json_t *s = json_pack(
                "{s:s, s:s, s:{s:s, s:s, s:s, s:{s:s}}, s:{s:s, s:[{s:s, s:i, s:s, s:s}, {s:s, s:i, "
                "s:i, s:s}]}}",
                "apiVersion", "v1", "kind", "Service", "metadata", "name", name, "namespace", "default",
                "uid", "svc-uid", "labels", "team", "a", "spec", "clusterIP", "10.96.0.10", "ports", "name",
                "http", "port", 80, "targetPort", "web", "protocol", "TCP", "name", "metrics", "port", 9000,
                "targetPort", 9100, "protocol", "TCP");
        if (selector)
                json_object_set_new(json_object_get(s, "spec"), "selector", json_pack("{s:s}", "app", "web"));
        return s;
}

/* A pod with container port "web" = web_port (0 = no named port). */
static json_t *make_pod(const char *name, const char *ip, bool ready, int web_port, const char *app)
{
        char uid[64];
        snprintf(uid, sizeof(uid), "uid-%s", name);
        json_t *ports = json_array();
        if (web_port > 0)
                json_array_append_new(ports, json_pack("{s:s, s:i, s:s}", "name", "web", "containerPort",
                                                       web_port, "protocol", "TCP"));
        json_t *p = json_pack(
                "{s:{s:s, s:s, s:s, s:s, s:{s:s}}, s:{s:s, s:[{s:s, s:o}]}, s:{s:s, s:[{s:s, s:s}]}}",
                "metadata", "name", name, "namespace", "default", "uid", uid, "resourceVersion", "5",
                "labels", "app", app, "spec", "nodeName", "node-1", "containers", "name", "c", "ports", ports,
                "status", "phase", "Running", "conditions", "type", "Ready", "status",
                ready ? "True" : "False");
        if (ip != NULL)
                json_object_set_new(json_object_get(p, "status"), "podIP", json_string(ip));
        return p;
}

static json_t *addr(const char *ip, const char *name)
{
        char uid[64];
        snprintf(uid, sizeof(uid), "uid-%s", name);
        return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "ip", ip, "nodeName", "node-1", "targetRef",
                         "kind", "Pod", "namespace", "default", "name", name, "uid", uid);
}

static void test_endpoints_for_service(void **state)
{
        json_auto_t *svc = make_svc("web", true);
        json_auto_t *pods = json_pack("[o, o, o, o, o]", make_pod("b", "10.244.0.5", true, 8080, "web"),
                                      make_pod("a", "10.244.0.4", true, 8080, "web"),
                                      make_pod("c", "10.244.0.6", false, 8080, "web"),
                                      make_pod("noip", NULL, true, 8080, "web"),
                                      make_pod("other", "10.244.0.9", true, 8080, "db"));
        json_auto_t *ep = k8c_endpoints_for_service(svc, pods);
        json_auto_t *want = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:[{s:[o, o], s:[o], s:[{s:s, s:i, "
                                      "s:s}, {s:s, s:i, s:s}]}]}",
                                      "apiVersion", "v1", "kind", "Endpoints", "metadata", "name", "web",
                                      "namespace", "default", "labels", "team", "a", "subsets", "addresses",
                                      addr("10.244.0.4", "a"), addr("10.244.0.5", "b"), "notReadyAddresses",
                                      addr("10.244.0.6", "c"), "ports", "name", "http", "port", 8080,
                                      "protocol", "TCP", "name", "metrics", "port", 9100, "protocol", "TCP");
        if (!json_equal(ep, want)) {
                char *s = json_dumps(ep, JSON_COMPACT);
                fprintf(stderr, "got %s\n", s);
                free(s);
        }
        assert_true(json_equal(ep, want));
}

static void test_subsets_by_port_set(void **state)
{
        json_auto_t *svc = make_svc("web", true);
        /* Pod "old" has no port named web: it only serves the numeric port. */
        json_auto_t *pods = json_pack("[o, o]", make_pod("new", "10.244.0.4", true, 8080, "web"),
                                      make_pod("old", "10.244.0.5", true, 0, "web"));
        json_auto_t *ep = k8c_endpoints_for_service(svc, pods);
        json_t *subsets = json_object_get(ep, "subsets");
        assert_int_equal(json_array_size(subsets), 2);
        json_auto_t *s_new = json_pack("{s:[o], s:[{s:s, s:i, s:s}, {s:s, s:i, s:s}]}", "addresses",
                                       addr("10.244.0.4", "new"), "ports", "name", "http", "port", 8080,
                                       "protocol", "TCP", "name", "metrics", "port", 9100, "protocol", "TCP");
        json_auto_t *s_old = json_pack("{s:[o], s:[{s:s, s:i, s:s}]}", "addresses", addr("10.244.0.5", "old"),
                                       "ports", "name", "metrics", "port", 9100, "protocol", "TCP");
        /* Sorted by port set text: "[{"name":"http"..." < "[{"name":"metrics"...". */
        assert_true(json_equal(json_array_get(subsets, 0), s_new));
        assert_true(json_equal(json_array_get(subsets, 1), s_old));
}

static void test_headless_and_publish_not_ready(void **state)
{
        json_auto_t *svc = make_svc("web", true);
        json_object_set_new(json_object_get(svc, "spec"), "clusterIP", json_string("None"));
        json_object_set_new(json_object_get(svc, "spec"), "publishNotReadyAddresses", json_true());
        json_auto_t *pods = json_pack("[o]", make_pod("c", "10.244.0.6", false, 8080, "web"));
        json_auto_t *ep = k8c_endpoints_for_service(svc, pods);
        assert_string_equal(k8c_json_get_string(ep, "metadata.labels[\"service.kubernetes.io/headless\"]"),
                            "");
        json_t *s0 = json_array_get(json_object_get(ep, "subsets"), 0);
        assert_int_equal(json_array_size(json_object_get(s0, "addresses")), 1);
        assert_null(json_object_get(s0, "notReadyAddresses"));
}

static void test_no_selector_is_left_alone(void **state)
{
        json_auto_t *svc = make_svc("manual", false);
        json_auto_t *pods = json_array();
        assert_null(k8c_endpoints_for_service(svc, pods));
}

struct env {
        struct fake f;
        struct k8c_object_control ctl;
        struct k8c_informer *svc, *pods, *ep;
        struct k8c_endpoints_controller *c;
};

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));
        fake_init(&e->f, &e->ctl);
        e->svc = test_informer("/api/v1/services");
        e->pods = test_informer("/api/v1/pods");
        e->ep = test_informer("/api/v1/endpoints");
        e->c = k8c_endpoints_controller_new(e->svc, e->pods, e->ep, &e->ctl);
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        struct env *e = *state;
        k8c_endpoints_controller_free(e->c);
        k8c_informer_free(e->svc);
        k8c_informer_free(e->pods);
        k8c_informer_free(e->ep);
        fake_free(&e->f);
        free(e);
        return 0;
}

static void add(struct k8c_informer *inf, json_t *obj)
{
        k8c_informer_apply_event(inf, "ADDED", obj);
        json_decref(obj);
}

static void sync_ok(struct env *e, const char *key)
{
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_endpoints_controller_sync(e->c, key, &err), 0);
}

static void test_sync_creates_then_updates_on_change(void **state)
{
        struct env *e = *state;
        add(e->svc, make_svc("web", true));
        add(e->pods, make_pod("a", "10.244.0.4", false, 8080, "web"));
        sync_ok(e, "default/web");
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates), 1);
        json_t *c0 = json_array_get(creates, 0);
        assert_string_equal(json_string_value(json_object_get(c0, "path")),
                            "/api/v1/namespaces/default/endpoints");
        json_t *body = json_object_get(c0, "body");
        json_auto_t *nr = json_pack("[o]", addr("10.244.0.4", "a"));
        assert_true(json_equal(k8c_json_get(body, "subsets[0].notReadyAddresses"), nr));
        /* The stored object comes back on the watch: no change, no write. */
        json_t *stored = json_deep_copy(body);
        json_object_set_new(json_object_get(stored, "metadata"), "resourceVersion", json_string("77"));
        add(e->ep, stored);
        fake_reset(&e->f);
        sync_ok(e, "default/web");
        assert_int_equal(json_array_size(e->f.calls), 0);
        /* The pod becomes ready: an update carrying the stored resourceVersion. */
        add(e->pods, make_pod("a", "10.244.0.4", true, 8080, "web"));
        sync_ok(e, "default/web");
        json_auto_t *updates = fake_calls(&e->f, "update");
        assert_int_equal(json_array_size(updates), 1);
        json_t *u = json_array_get(updates, 0);
        assert_string_equal(json_string_value(json_object_get(u, "path")),
                            "/api/v1/namespaces/default/endpoints/web");
        json_t *ub = json_object_get(u, "body");
        assert_string_equal(k8c_json_get_string(ub, "metadata.resourceVersion"), "77");
        json_auto_t *ready = json_pack("[o]", addr("10.244.0.4", "a"));
        assert_true(json_equal(k8c_json_get(ub, "subsets[0].addresses"), ready));
        assert_null(k8c_json_get(ub, "subsets[0].notReadyAddresses"));
}

static void test_sync_service_without_selector(void **state)
{
        struct env *e = *state;
        add(e->svc, make_svc("manual", false));
        add(e->pods, make_pod("a", "10.244.0.4", true, 8080, "web"));
        sync_ok(e, "default/manual");
        assert_int_equal(json_array_size(e->f.calls), 0);
}

static void test_sync_deletes_with_service(void **state)
{
        struct env *e = *state;
        add(e->ep, json_pack("{s:{s:s, s:s}}", "metadata", "name", "gone", "namespace", "default"));
        sync_ok(e, "default/gone");
        json_auto_t *dels = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(dels), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(dels, 0), "path")),
                            "/api/v1/namespaces/default/endpoints/gone");
}

static void test_pod_events_enqueue_services(void **state)
{
        struct env *e = *state;
        add(e->svc, make_svc("web", true));
        struct k8c_workqueue *q = k8c_endpoints_controller_queue(e->c);
        char *k = NULL;
        assert_true(k8c_workqueue_get_timeout(q, 100, &k));
        k8c_workqueue_done(q, k);
        free(k);
        add(e->pods, make_pod("x", "10.244.0.8", true, 8080, "db"));
        assert_int_equal(k8c_workqueue_len(q), 0);
        add(e->pods, make_pod("y", "10.244.0.9", true, 8080, "web"));
        assert_true(k8c_workqueue_get_timeout(q, 100, &k));
        assert_string_equal(k, "default/web");
        k8c_workqueue_done(q, k);
        free(k);
}

static void test_controllers_flag(void **state)
{
        assert_true(k8c_controller_enabled("*", "replicaset"));
        assert_false(k8c_controller_enabled("*,-replicaset", "replicaset"));
        assert_true(k8c_controller_enabled("*,-replicaset", "endpoints"));
        assert_true(k8c_controller_enabled("endpoints", "endpoints"));
        assert_false(k8c_controller_enabled("endpoints", "replicaset"));
        assert_true(k8c_controller_enabled("", "garbagecollector"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_endpoints_for_service),
                cmocka_unit_test(test_subsets_by_port_set),
                cmocka_unit_test(test_headless_and_publish_not_ready),
                cmocka_unit_test(test_no_selector_is_left_alone),
                cmocka_unit_test_setup_teardown(test_sync_creates_then_updates_on_change, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sync_service_without_selector, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sync_deletes_with_service, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pod_events_enqueue_services, setup, teardown),
                cmocka_unit_test(test_controllers_flag),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

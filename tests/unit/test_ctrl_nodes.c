/* Unit tests of node IPAM (the CIDR allocator and the controller) and of the
 * node lifecycle controller (unreachable after the grace period on the
 * controller's own clock, taints, Unknown conditions, pods marked not ready,
 * eviction after the timeout or the pod's toleration, recovery) against a fake
 * object control with time passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_fake.h"
#include "k8c/json.h"

/* ---- allocator ---- */

static void test_allocator(void **state)
{
        struct k8c_cidr_allocator *a = NULL;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_cidr_allocator_new("10.244.0.0/16", 24, &a, &err), 0);
        char buf[64];
        assert_int_equal(k8c_cidr_allocator_next(a, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "10.244.0.0/24");
        assert_true(k8c_cidr_allocator_occupy(a, "10.244.2.0/24"));
        assert_int_equal(k8c_cidr_allocator_next(a, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "10.244.1.0/24");
        assert_int_equal(k8c_cidr_allocator_next(a, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "10.244.3.0/24");
        k8c_cidr_allocator_release(a, "10.244.1.0/24");
        assert_int_equal(k8c_cidr_allocator_next(a, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "10.244.1.0/24");
        assert_false(k8c_cidr_allocator_occupy(a, "10.245.0.0/24"));
        assert_false(k8c_cidr_allocator_occupy(a, "10.244.0.0/25"));
        assert_false(k8c_cidr_allocator_occupy(a, "garbage"));
        k8c_cidr_allocator_free(a);
}

static void test_allocator_exhaustion_and_bad_input(void **state)
{
        struct k8c_cidr_allocator *a = NULL;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_cidr_allocator_new("10.0.0.0/29", 30, &a, &err), 0);
        char buf[64];
        assert_int_equal(k8c_cidr_allocator_next(a, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "10.0.0.0/30");
        assert_int_equal(k8c_cidr_allocator_next(a, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "10.0.0.4/30");
        assert_true(k8c_cidr_allocator_next(a, buf, sizeof(buf), &err) < 0);
        assert_int_equal(k8c_error_reason(&err), K8C_EINTERNAL);
        k8c_cidr_allocator_free(a);
        struct k8c_cidr_allocator *b = NULL;
        assert_int_equal(k8c_cidr_allocator_new("10.0.0.0", 24, &b, &err), -(int)K8C_EUSAGE);
        assert_int_equal(k8c_cidr_allocator_new("10.0.0.0/24", 16, &b, &err), -(int)K8C_EUSAGE);
        assert_null(b);
}

/* ---- IPAM controller ---- */

static json_t *make_node(const char *name, const char *cidr)
{
        json_t *n = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{}}", "apiVersion", "v1", "kind", "Node",
                              "metadata", "name", name, "resourceVersion", "3", "spec");
        if (cidr != NULL)
                json_object_set_new(json_object_get(n, "spec"), "podCIDR", json_string(cidr));
        return n;
}

static void add(struct k8c_informer *inf, json_t *obj)
{
        k8c_informer_apply_event(inf, "ADDED", obj);
        json_decref(obj);
}

static void test_ipam_controller(void **state)
{
        struct fake f;
        struct k8c_object_control ctl;
        fake_init(&f, &ctl);
        struct k8c_informer *nodes = test_informer("/api/v1/nodes");
        struct k8c_nodeipam_controller *c = NULL;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_nodeipam_controller_new(nodes, &ctl, "10.244.0.0/16", 24, &c, &err), 0);
        add(nodes, make_node("n1", "10.244.0.0/24"));
        add(nodes, make_node("n2", NULL));
        assert_int_equal(k8c_nodeipam_controller_sync(c, "n1", &err), 0);
        assert_int_equal(json_array_size(f.calls), 0);
        assert_int_equal(k8c_nodeipam_controller_sync(c, "n2", &err), 0);
        assert_int_equal(json_array_size(f.calls), 1);
        json_t *p = json_array_get(f.calls, 0);
        assert_string_equal(json_string_value(json_object_get(p, "path")), "/api/v1/nodes/n2");
        json_auto_t *want = json_pack("{s:{s:s}, s:{s:s, s:[s]}}", "metadata", "resourceVersion", "3", "spec",
                                      "podCIDR", "10.244.1.0/24", "podCIDRs", "10.244.1.0/24");
        assert_true(json_equal(json_object_get(p, "body"), want));
        /* A failed write gives the subnet back: the next node gets it. */
        f.fail_reason = K8C_ECONFLICT;
        add(nodes, make_node("n3", NULL));
        assert_true(k8c_nodeipam_controller_sync(c, "n3", &err) < 0);
        k8c_error_release(&err);
        f.fail_reason = 0;
        fake_reset(&f);
        assert_int_equal(k8c_nodeipam_controller_sync(c, "n3", &err), 0);
        assert_string_equal(
                k8c_json_get_string(json_object_get(json_array_get(f.calls, 0), "body"), "spec.podCIDR"),
                "10.244.2.0/24");
        /* A deleted node's subnet is free again. */
        json_auto_t *n1 = make_node("n1", "10.244.0.0/24");
        k8c_informer_apply_event(nodes, "DELETED", n1);
        add(nodes, make_node("n4", NULL));
        fake_reset(&f);
        assert_int_equal(k8c_nodeipam_controller_sync(c, "n4", &err), 0);
        assert_string_equal(
                k8c_json_get_string(json_object_get(json_array_get(f.calls, 0), "body"), "spec.podCIDR"),
                "10.244.0.0/24");
        k8c_nodeipam_controller_free(c);
        k8c_informer_free(nodes);
        fake_free(&f);
}

/* ---- node lifecycle ---- */

struct env {
        struct fake f;
        struct k8c_object_control ctl;
        struct k8c_informer *nodes, *leases, *pods;
        struct k8c_nodelifecycle_controller *c;
};

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));
        fake_init(&e->f, &e->ctl);
        e->nodes = test_informer("/api/v1/nodes");
        e->leases = test_informer("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases");
        e->pods = test_informer("/api/v1/pods");
        struct k8c_nodelifecycle_config cfg = { .grace_ms = 40000, .eviction_ms = 60000, .period_ms = 5000 };
        e->c = k8c_nodelifecycle_controller_new(e->nodes, e->leases, e->pods, &e->ctl, &cfg);
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        struct env *e = *state;
        k8c_nodelifecycle_controller_free(e->c);
        k8c_informer_free(e->nodes);
        k8c_informer_free(e->leases);
        k8c_informer_free(e->pods);
        fake_free(&e->f);
        free(e);
        return 0;
}

static json_t *make_lease(const char *renew)
{
        return json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", "metadata", "name", "n1", "namespace",
                         "kube-node-lease", "spec", "holderIdentity", "n1", "renewTime", renew);
}

static json_t *ready_node(void)
{
        json_t *n = make_node("n1", "10.244.0.0/24");
        json_object_set_new(n, "status",
                            json_pack("{s:[{s:s, s:s}, {s:s, s:s}]}", "conditions", "type", "Ready", "status",
                                      "True", "type", "MemoryPressure", "status", "False"));
        return n;
}

/* tolerate: -2 none, -1 forever, else seconds */
static json_t *node_pod(const char *name, bool ready, int tolerate)
{
        char uid[64];
        snprintf(uid, sizeof(uid), "uid-%s", name);
        json_t *p = json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:[]}, s:{s:s, s:[{s:s, s:s}]}}", "metadata",
                              "name", name, "namespace", "default", "uid", uid, "spec", "nodeName", "n1",
                              "tolerations", "status", "phase", "Running", "conditions", "type", "Ready",
                              "status", ready ? "True" : "False");
        if (tolerate != -2) {
                json_t *t = json_pack("{s:s, s:s, s:s}", "key", "node.kubernetes.io/unreachable", "operator",
                                      "Exists", "effect", "NoExecute");
                if (tolerate >= 0)
                        json_object_set_new(t, "tolerationSeconds", json_integer(tolerate));
                json_array_append_new(k8c_json_get(p, "spec.tolerations"), t);
        }
        return p;
}

static void monitor_ok(struct env *e, int64_t now_ms)
{
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_nodelifecycle_monitor(e->c, now_ms, 1795000000 + now_ms / 1000, &err), 0);
}

static json_t *calls_to(struct fake *f, const char *verb, const char *path)
{
        json_t *out = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(f->calls, i, c)
        {
                if (strcmp(json_string_value(json_object_get(c, "verb")), verb) == 0 &&
                    strcmp(json_string_value(json_object_get(c, "path")), path) == 0)
                        json_array_append(out, c);
        }
        return out;
}

static void test_unreachable_node(void **state)
{
        struct env *e = *state;
        add(e->nodes, ready_node());
        add(e->leases, make_lease("2026-11-24T10:00:00.000000Z"));
        add(e->pods, node_pod("plain-ready", true, -2));
        add(e->pods, node_pod("tol-120", true, 120));
        add(e->pods, node_pod("tol-forever", false, -1));
        add(e->pods, node_pod("plain-notready", false, -2));
        monitor_ok(e, 0);
        monitor_ok(e, 40000); /* exactly the grace period: still fine */
        assert_int_equal(json_array_size(e->f.calls), 0);

        monitor_ok(e, 41000);
        json_auto_t *taint = calls_to(&e->f, "patch", "/api/v1/nodes/n1");
        assert_int_equal(json_array_size(taint), 1);
        json_t *tb = json_object_get(json_array_get(taint, 0), "body");
        assert_null(json_object_get(tb, "metadata"));
        json_t *taints = k8c_json_get(tb, "spec.taints");
        assert_int_equal(json_array_size(taints), 2);
        assert_string_equal(k8c_json_get_string(taints, "[0].key"), "node.kubernetes.io/unreachable");
        assert_string_equal(k8c_json_get_string(taints, "[0].effect"), "NoSchedule");
        assert_string_equal(k8c_json_get_string(taints, "[1].effect"), "NoExecute");
        assert_non_null(k8c_json_get_string(taints, "[1].timeAdded"));
        json_auto_t *st = calls_to(&e->f, "update", "/api/v1/nodes/n1/status");
        assert_int_equal(json_array_size(st), 1);
        json_t *conds = k8c_json_get(json_object_get(json_array_get(st, 0), "body"), "status.conditions");
        assert_string_equal(k8c_json_get_string(conds, "[0].type"), "Ready");
        assert_string_equal(k8c_json_get_string(conds, "[0].status"), "Unknown");
        assert_string_equal(k8c_json_get_string(conds, "[0].reason"), "NodeStatusUnknown");
        assert_string_equal(k8c_json_get_string(conds, "[1].status"), "Unknown");
        /* Ready pods are marked not ready at once; nothing is deleted yet. */
        json_auto_t *p1 = calls_to(&e->f, "patch", "/api/v1/namespaces/default/pods/plain-ready/status");
        json_auto_t *p2 = calls_to(&e->f, "patch", "/api/v1/namespaces/default/pods/tol-120/status");
        assert_int_equal(json_array_size(p1), 1);
        assert_int_equal(json_array_size(p2), 1);
        assert_string_equal(k8c_json_get_string(json_object_get(json_array_get(p1, 0), "body"),
                                                "status.conditions[0].status"),
                            "False");
        json_auto_t *patches = fake_calls(&e->f, "patch");
        assert_int_equal(json_array_size(patches), 3);
        json_auto_t *dels = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(dels), 0);

        /* After the eviction timeout (60 s here) the pods without a toleration go; tol-120 stays until 120 s.
         */
        fake_reset(&e->f);
        monitor_ok(e, 41000 + 60000);
        json_auto_t *d1 = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(d1), 2);
        json_auto_t *dp = calls_to(&e->f, "delete", "/api/v1/namespaces/default/pods/plain-ready");
        json_auto_t *dn = calls_to(&e->f, "delete", "/api/v1/namespaces/default/pods/plain-notready");
        assert_int_equal(json_array_size(dp), 1);
        assert_int_equal(json_array_size(dn), 1);
        assert_string_equal(
                k8c_json_get_string(json_object_get(json_array_get(dp, 0), "body"), "preconditions.uid"),
                "uid-plain-ready");
        fake_reset(&e->f);
        monitor_ok(e, 41000 + 120000);
        json_auto_t *d2 = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(d2),
                         3); /* the two again (the fake does not remove them) and tol-120 */
        json_auto_t *dt = calls_to(&e->f, "delete", "/api/v1/namespaces/default/pods/tol-120");
        assert_int_equal(json_array_size(dt), 1);
        json_auto_t *df = calls_to(&e->f, "delete", "/api/v1/namespaces/default/pods/tol-forever");
        assert_int_equal(json_array_size(df), 0);
}

static void test_recovery_lifts_taints(void **state)
{
        struct env *e = *state;
        json_t *n = ready_node();
        json_object_set_new(json_object_get(n, "spec"), "taints",
                            json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "key",
                                      "node.kubernetes.io/unreachable", "effect", "NoSchedule", "key",
                                      "node.kubernetes.io/unreachable", "effect", "NoExecute", "key",
                                      "dedicated", "effect", "NoSchedule"));
        add(e->nodes, n);
        add(e->leases, make_lease("2026-11-24T10:00:00.000000Z"));
        monitor_ok(e, 0);
        json_auto_t *patches = fake_calls(&e->f, "patch");
        assert_int_equal(json_array_size(patches), 1);
        json_auto_t *want = json_pack("[{s:s, s:s}]", "key", "dedicated", "effect", "NoSchedule");
        assert_true(json_equal(
                k8c_json_get(json_object_get(json_array_get(patches, 0), "body"), "spec.taints"), want));
}

static void test_renewed_lease_keeps_node_reachable(void **state)
{
        struct env *e = *state;
        add(e->nodes, ready_node());
        add(e->leases, make_lease("2026-11-24T10:00:00.000000Z"));
        monitor_ok(e, 0);
        add(e->leases, make_lease("2026-11-24T10:00:30.000000Z"));
        monitor_ok(e, 30000);
        monitor_ok(e, 65000); /* 35 s since the renewal was seen */
        assert_int_equal(json_array_size(e->f.calls), 0);
        monitor_ok(e, 71000);
        json_auto_t *taint = calls_to(&e->f, "patch", "/api/v1/nodes/n1");
        assert_int_equal(json_array_size(taint), 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_allocator),
                cmocka_unit_test(test_allocator_exhaustion_and_bad_input),
                cmocka_unit_test(test_ipam_controller),
                cmocka_unit_test_setup_teardown(test_unreachable_node, setup, teardown),
                cmocka_unit_test_setup_teardown(test_recovery_lifts_taints, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renewed_lease_keeps_node_reachable, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

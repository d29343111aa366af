/* Unit tests for the smaller registry modules: namespaces, nodes, events, configmaps,
 * secrets, persistent volumes and claims, HPAs (v2 and the v1 alias), leases and
 * endpoint slices. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "apiserver/registry.h"
#include "k8c/cleanup.h"

static const struct k8c_registry_ctx ctx = { .now = 1795534338 }; /* 2026-11-24T15:32:18Z */

static const struct k8c_resource *res(const char *group, const char *version, const char *plural)
{
        const struct k8c_resource *r = k8c_resource_find(group, version, plural);
        if (r == NULL)
                fail_msg("no resource %s/%s %s", group, version, plural);
        return r;
}

static json_t *J(const char *text)
{
        json_error_t e;
        json_t *v = json_loads(text, 0, &e);
        if (v == NULL)
                fail_msg("bad JSON in test: %s: %s", e.text, text);
        return v;
}

static void assert_json(const json_t *v, const char *want)
{
        cleanup_free char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(got, want);
}

static void assert_cause(const json_t *causes, size_t i, const char *reason, const char *field,
                         const char *message)
{
        json_t *c = json_array_get(causes, i);
        assert_non_null(c);
        assert_string_equal(json_string_value(json_object_get(c, "reason")), reason);
        assert_string_equal(json_string_value(json_object_get(c, "field")), field);
        assert_string_equal(json_string_value(json_object_get(c, "message")), message);
}

/* defaults + validate; returns the causes (new reference). */
static json_t *validate(const struct k8c_resource *r, json_t *obj)
{
        if (r->set_defaults != NULL)
                r->set_defaults(obj);
        struct k8c_field_errors errs = { 0 };
        r->validate(obj, &ctx, &errs);
        json_t *causes = errs.causes != NULL ? json_incref(errs.causes) : json_array();
        k8c_field_errors_free(&errs);
        return causes;
}

static json_t *validate_update(const struct k8c_resource *r, const json_t *obj, const json_t *old)
{
        struct k8c_field_errors errs = { 0 };
        r->validate_update(obj, old, &ctx, &errs);
        json_t *causes = errs.causes != NULL ? json_incref(errs.causes) : json_array();
        k8c_field_errors_free(&errs);
        return causes;
}

static json_t *row(const struct k8c_resource *r, const json_t *obj)
{
        json_t *cells = json_array();
        r->table_row(obj, &ctx, cells);
        return cells;
}

static void assert_columns(const struct k8c_resource *r, const char *const *names, const int *prio, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                assert_string_equal(r->columns[i].name, names[i]);
                assert_int_equal(r->columns[i].priority, prio[i]);
                assert_non_null(r->columns[i].description);
        }
        assert_null(r->columns[n].name);
}

static void test_namespaces(void **state)
{
        const struct k8c_resource *r = res("", "v1", "namespaces");
        assert_false(r->namespaced);
        assert_string_equal(r->short_names[0], "ns");
        json_auto_t *ns =
                J("{\"metadata\":{\"name\":\"team-a\",\"creationTimestamp\":\"2026-11-24T15:31:18Z\"}}");
        json_auto_t *c = validate(r, ns);
        assert_int_equal(json_array_size(c), 0);
        assert_json(json_object_get(ns, "metadata"),
                    "{\"creationTimestamp\":\"2026-11-24T15:31:18Z\",\"labels\":{"
                    "\"kubernetes.io/metadata.name\":\"team-a\"},\"name\":\"team-a\"}");
        r->prepare_create(ns, &ctx);
        assert_json(json_object_get(ns, "status"), "{\"phase\":\"Active\"}");
        assert_json(json_object_get(ns, "spec"), "{\"finalizers\":[\"kubernetes\"]}");
        json_auto_t *cells = row(r, ns);
        assert_json(cells, "[\"team-a\",\"Active\",\"60s\"]");

        json_auto_t *upd =
                J("{\"metadata\":{\"name\":\"team-a\"},\"spec\":{\"finalizers\":[]},\"status\":{\"phase\":"
                  "\"Terminating\"}}");
        r->prepare_update(upd, ns, &ctx);
        assert_json(json_object_get(upd, "spec"), "{\"finalizers\":[\"kubernetes\"]}");
        assert_json(json_object_get(upd, "status"), "{\"phase\":\"Active\"}");

        json_auto_t *bad = J("{\"metadata\":{\"name\":\"team.a\",\"namespace\":\"x\"}}");
        json_auto_t *bc = validate(r, bad);
        assert_int_equal(json_array_size(bc), 2);
        assert_cause(bc, 0, "FieldValueInvalid", "metadata.name",
                     "Invalid value: \"team.a\": must not contain dots");
        assert_cause(bc, 1, "FieldValueForbidden", "metadata.namespace",
                     "Forbidden: not allowed on this type");
        static const char *const names[] = { "Name", "Status", "Age" };
        static const int prio[] = { 0, 0, 0 };
        assert_columns(r, names, prio, 3);
}

static void test_nodes(void **state)
{
        const struct k8c_resource *r = res("", "v1", "nodes");
        assert_string_equal(r->short_names[0], "no");
        assert_string_equal(r->field_selectors[0], "spec.unschedulable");
        json_auto_t *node =
                J("{\"metadata\":{\"name\":\"node-1\",\"creationTimestamp\":\"2026-11-22T15:32:18Z\","
                  "\"labels\":{\"node-role.kubernetes.io/control-plane\":\"\",\"kubernetes.io/"
                  "role\":\"worker\","
                  "\"node-role.kubernetes.io/worker\":\"\"}},\"spec\":{\"podCIDR\":\"10.244.1.0/24\","
                  "\"unschedulable\":true},\"status\":{\"capacity\":{\"cpu\":\"2\",\"memory\":\"4Gi\"},"
                  "\"conditions\":[{\"type\":\"MemoryPressure\",\"status\":\"False\"},{\"type\":\"Ready\","
                  "\"status\":\"True\"}],\"addresses\":[{\"type\":\"Hostname\",\"address\":\"node-1\"},{"
                  "\"type\":\"InternalIP\",\"address\":\"172.18.0.2\"}],\"nodeInfo\":{\"kubeletVersion\":"
                  "\"v1.32.0-k8c\",\"osImage\":\"Debian GNU/Linux 12 (bookworm)\",\"kernelVersion\":"
                  "\"6.1.0\",\"containerRuntimeVersion\":\"runc://1.1.12\"}}}");
        json_auto_t *c = validate(r, node);
        assert_int_equal(json_array_size(c), 0);
        assert_json(json_object_get(json_object_get(node, "status"), "allocatable"),
                    "{\"cpu\":\"2\",\"memory\":\"4Gi\"}");
        json_auto_t *cells = row(r, node);
        assert_json(
                cells,
                "[\"node-1\",\"Ready,SchedulingDisabled\",\"control-plane,worker\",\"2d\",\"v1.32.0-k8c\","
                "\"172.18.0.2\",\"<none>\",\"Debian GNU/Linux 12 (bookworm)\",\"6.1.0\",\"runc://1.1.12\"]");
        json_auto_t *bare = J("{\"metadata\":{\"name\":\"n2\"}}");
        json_auto_t *bc = row(r, bare);
        assert_json(bc, "[\"n2\",\"Unknown\",\"<none>\",\"<unknown>\",\"\",\"<none>\",\"<none>\",\"<unknown>"
                        "\",\"<unknown>\","
                        "\"<unknown>\"]");

        json_auto_t *upd = json_deep_copy(node);
        json_object_set_new(json_object_get(upd, "spec"), "podCIDR", json_string("10.244.9.0/24"));
        json_object_set_new(json_object_get(upd, "spec"), "podCIDRs", json_pack("[s]", "10.244.9.0/24"));
        json_object_set_new(upd, "status", json_object());
        r->prepare_update(upd, node, &ctx);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(json_object_get(upd, "status"), "nodeInfo"),
                                                  "kubeletVersion")),
                "v1.32.0-k8c");
        json_auto_t *uc = validate_update(r, upd, node);
        assert_int_equal(json_array_size(uc), 1);
        assert_cause(uc, 0, "FieldValueForbidden", "spec.podCIDRs",
                     "Forbidden: node updates may not change podCIDR except from \"\" to valid");
        static const char *const names[] = { "Name",           "Status",           "Roles",       "Age",
                                             "Version",        "Internal-IP",      "External-IP", "OS-Image",
                                             "Kernel-Version", "Container-Runtime" };
        static const int prio[] = { 0, 0, 0, 0, 0, 1, 1, 1, 1, 1 };
        assert_columns(r, names, prio, 10);
}

static void test_events(void **state)
{
        const struct k8c_resource *r = res("", "v1", "events");
        json_auto_t *ev = J(
                "{\"metadata\":{\"name\":\"web.17a\",\"namespace\":\"default\"},\"involvedObject\":{\"kind\":"
                "\"Pod\",\"name\":\"web\",\"namespace\":\"default\",\"fieldPath\":\"spec.containers{web}\"},"
                "\"reason\":\"Pulled\",\"message\":\"  Container image pulled\\n\",\"type\":\"Normal\","
                "\"source\":{\"component\":\"kubelet\",\"host\":\"node-1\"},\"firstTimestamp\":"
                "\"2026-11-24T15:22:18Z\",\"lastTimestamp\":\"2026-11-24T15:31:18Z\",\"count\":4}");
        json_auto_t *c = validate(r, ev);
        assert_int_equal(json_array_size(c), 0);
        json_auto_t *cells = row(r, ev);
        assert_json(cells,
                    "[\"60s\",\"Normal\",\"Pulled\",\"pod/web\",\"spec.containers{web}\",\"kubelet, node-1\","
                    "\"Container image pulled\",\"10m\",4,\"web.17a\"]");
        json_auto_t *ev2 = J(
                "{\"metadata\":{\"name\":\"e2\",\"namespace\":\"kube-system\"},\"involvedObject\":{\"kind\":"
                "\"Node\",\"namespace\":\"default\"},\"eventTime\":\"2026-11-24T15:32:08.123456Z\","
                "\"reportingComponent\":\"k8c-scheduler\",\"type\":\"Warning\",\"reason\":\"X\"}");
        json_auto_t *c2 = row(r, ev2);
        assert_json(c2, "[\"10s\",\"Warning\",\"X\",\"node\",\"\",\"k8c-scheduler\",\"\",\"10s\",1,\"e2\"]");
        json_auto_t *v2 = validate(r, ev2);
        assert_int_equal(json_array_size(v2), 2);
        assert_cause(v2, 0, "FieldValueRequired", "reportingInstance", "Required value");
        assert_cause(v2, 1, "FieldValueRequired", "action", "Required value");
        json_auto_t *ev3 = J("{\"metadata\":{\"name\":\"a/b\",\"namespace\":\"team-a\"},\"involvedObject\":{"
                             "\"kind\":\"Pod\",\"namespace\":\"default\"},\"reason\":\"X\"}");
        json_auto_t *v3 = validate(r, ev3);
        assert_int_equal(json_array_size(v3), 2);
        assert_cause(v3, 0, "FieldValueInvalid", "involvedObject.namespace",
                     "Invalid value: \"default\": does not match event.namespace");
        assert_cause(v3, 1, "FieldValueInvalid", "metadata.name",
                     "Invalid value: \"a/b\": may not contain '/'");
        static const char *const names[] = { "Last Seen", "Type",    "Reason",     "Object", "Subobject",
                                             "Source",    "Message", "First Seen", "Count",  "Name" };
        static const int prio[] = { 0, 0, 0, 0, 1, 1, 0, 1, 1, 1 };
        assert_columns(r, names, prio, 10);
        size_t n = 0;
        while (r->field_selectors[n] != NULL)
                n++;
        assert_int_equal(n, 11);
        assert_string_equal(r->field_selectors[2], "involvedObject.name");
}

static void test_configmaps_secrets(void **state)
{
        const struct k8c_resource *cm = res("", "v1", "configmaps");
        assert_string_equal(cm->short_names[0], "cm");
        json_auto_t *a = J("{\"metadata\":{\"name\":\"cfg\",\"namespace\":\"default\",\"creationTimestamp\":"
                           "\"2026-11-24T15:32:18Z\"},\"data\":{\"app.conf\":\"x\",\"bad "
                           "key\":\"y\",\"..hidden\":\"z\"},"
                           "\"binaryData\":{\"app.conf\":\"AA==\"}}");
        json_auto_t *ac = validate(cm, a);
        assert_int_equal(json_array_size(ac), 3);
        assert_cause(ac, 0, "FieldValueInvalid", "data[bad key]",
                     "Invalid value: \"bad key\": a valid config key must consist of alphanumeric "
                     "characters, '-', '_' "
                     "or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
                     "'[-._a-zA-Z0-9]+')");
        assert_cause(ac, 1, "FieldValueInvalid", "data[..hidden]",
                     "Invalid value: \"..hidden\": must not start with '..'");
        assert_cause(ac, 2, "FieldValueInvalid", "binaryData[app.conf]",
                     "Invalid value: \"app.conf\": duplicate of key present in data");
        json_auto_t *cells = row(cm, a);
        assert_json(cells, "[\"cfg\",4,\"0s\"]");
        json_auto_t *imm = J("{\"metadata\":{\"name\":\"cfg\"},\"immutable\":true,\"data\":{\"a\":\"1\"}}");
        json_auto_t *chg = J("{\"metadata\":{\"name\":\"cfg\"},\"immutable\":true,\"data\":{\"a\":\"2\"}}");
        json_auto_t *ic = validate_update(cm, chg, imm);
        assert_int_equal(json_array_size(ic), 1);
        assert_cause(ic, 0, "FieldValueForbidden", "data",
                     "Forbidden: field is immutable when `immutable` is set");

        const struct k8c_resource *s = res("", "v1", "secrets");
        assert_string_equal(s->field_selectors[0], "type");
        json_auto_t *sec =
                J("{\"metadata\":{\"name\":\"tls\",\"namespace\":\"default\"},\"type\":\"kubernetes.io/tls\","
                  "\"data\":{\"tls.crt\":\"QQ==\"}}");
        json_auto_t *sc = validate(s, sec);
        assert_int_equal(json_array_size(sc), 1);
        assert_cause(sc, 0, "FieldValueRequired", "data[tls.key]", "Required value");
        json_auto_t *op =
                J("{\"metadata\":{\"name\":\"s\",\"namespace\":\"default\"},\"data\":{\"user\":\"YQ==\","
                  "\"pass\":\"Yg==\"}}");
        json_auto_t *oc = validate(s, op);
        assert_int_equal(json_array_size(oc), 0);
        assert_string_equal(json_string_value(json_object_get(op, "type")), "Opaque");
        json_auto_t *srow = row(s, op);
        assert_json(srow, "[\"s\",\"Opaque\",2,\"<unknown>\"]");
        json_auto_t *retyped = json_deep_copy(op);
        json_object_set_new(retyped, "type", json_string("kubernetes.io/tls"));
        json_auto_t *tc = validate_update(s, retyped, op);
        assert_int_equal(json_array_size(tc), 1);
        assert_cause(tc, 0, "FieldValueInvalid", "type",
                     "Invalid value: \"kubernetes.io/tls\": field is immutable");
        static const char *const names[] = { "Name", "Type", "Data", "Age" };
        static const int prio[] = { 0, 0, 0, 0 };
        assert_columns(s, names, prio, 4);
}

static void test_pv_pvc(void **state)
{
        const struct k8c_resource *pv = res("", "v1", "persistentvolumes");
        assert_false(pv->namespaced);
        json_auto_t *v = J(
                "{\"metadata\":{\"name\":\"pv-1\",\"creationTimestamp\":\"2026-11-24T15:22:18Z\"},\"spec\":{"
                "\"capacity\":{\"storage\":\"1024Mi\"},\"accessModes\":[\"ReadWriteMany\",\"ReadWriteOnce\"],"
                "\"hostPath\":{\"path\":\"/srv/pv-1\"},\"storageClassName\":\"manual\",\"claimRef\":{"
                "\"namespace\":\"default\",\"name\":\"data\"}}}");
        json_auto_t *vc = validate(pv, v);
        assert_int_equal(json_array_size(vc), 0);
        json_t *spec = json_object_get(v, "spec");
        assert_string_equal(json_string_value(json_object_get(spec, "persistentVolumeReclaimPolicy")),
                            "Retain");
        assert_string_equal(json_string_value(json_object_get(spec, "volumeMode")), "Filesystem");
        pv->prepare_create(v, &ctx);
        assert_json(json_object_get(v, "status"),
                    "{\"lastPhaseTransitionTime\":\"2026-11-24T15:32:18Z\",\"phase\":\"Pending\"}");
        json_object_set_new(json_object_get(v, "status"), "phase", json_string("Bound"));
        json_auto_t *cells = row(pv, v);
        assert_json(cells, "[\"pv-1\",\"1Gi\",\"RWO,RWX\",\"Retain\",\"Bound\",\"default/"
                           "data\",\"manual\",\"<unset>\",\"\","
                           "\"10m\",\"Filesystem\"]");
        json_auto_t *bad =
                J("{\"metadata\":{\"name\":\"pv-2\"},\"spec\":{\"accessModes\":[\"ReadWriteSometimes\"],"
                  "\"persistentVolumeReclaimPolicy\":\"Keep\"}}");
        json_auto_t *bc = validate(pv, bad);
        assert_int_equal(json_array_size(bc), 4);
        assert_cause(bc, 0, "FieldValueNotSupported", "spec.accessModes",
                     "Unsupported value: \"ReadWriteSometimes\": supported values: \"ReadOnlyMany\", "
                     "\"ReadWriteMany\", "
                     "\"ReadWriteOnce\", \"ReadWriteOncePod\"");
        assert_cause(bc, 1, "FieldValueRequired", "spec.capacity", "Required value");
        assert_cause(bc, 2, "FieldValueNotSupported", "spec.persistentVolumeReclaimPolicy",
                     "Unsupported value: \"Keep\": supported values: \"Delete\", \"Recycle\", \"Retain\"");
        assert_cause(bc, 3, "FieldValueRequired", "spec", "Required value: must specify a volume type");

        const struct k8c_resource *pvc = res("", "v1", "persistentvolumeclaims");
        assert_string_equal(pvc->short_names[0], "pvc");
        json_auto_t *cl =
                J("{\"metadata\":{\"name\":\"data\",\"namespace\":\"default\",\"creationTimestamp\":"
                  "\"2026-11-24T15:31:18Z\"},\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{"
                  "\"requests\":{\"storage\":\"1Gi\"}}}}");
        json_auto_t *cc = validate(pvc, cl);
        assert_int_equal(json_array_size(cc), 0);
        pvc->prepare_create(cl, &ctx);
        json_auto_t *r1 = row(pvc, cl);
        assert_json(r1, "[\"data\",\"Pending\",\"\",\"\",\"\",\"\",\"<unset>\",\"60s\",\"Filesystem\"]");
        json_auto_t *bound = json_deep_copy(cl);
        json_object_set_new(json_object_get(bound, "spec"), "volumeName", json_string("pv-1"));
        json_object_set_new(bound, "status",
                            json_pack("{s:s, s:[s], s:{s:s}}", "phase", "Bound", "accessModes",
                                      "ReadWriteOnce", "capacity", "storage", "1Gi"));
        json_auto_t *r2 = row(pvc, bound);
        assert_json(r2,
                    "[\"data\",\"Bound\",\"pv-1\",\"1Gi\",\"RWO\",\"\",\"<unset>\",\"60s\",\"Filesystem\"]");
        /* Binding sets volumeName (allowed); expansion changes requests (allowed); access modes may not
         * change. */
        json_auto_t *u1 = validate_update(pvc, bound, cl);
        assert_int_equal(json_array_size(u1), 0);
        json_auto_t *chg = json_deep_copy(bound);
        json_object_set_new(json_object_get(chg, "spec"), "accessModes", json_pack("[s]", "ReadWriteMany"));
        json_auto_t *u2 = validate_update(pvc, chg, bound);
        assert_int_equal(json_array_size(u2), 1);
        assert_cause(u2, 0, "FieldValueForbidden", "spec",
                     "Forbidden: spec is immutable after creation except resources.requests and "
                     "volumeAttributesClassName for bound claims");
        json_auto_t *nostorage =
                J("{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\"},\"spec\":{\"accessModes\":["
                  "\"ReadWriteOnce\"]}}");
        json_auto_t *nc = validate(pvc, nostorage);
        assert_int_equal(json_array_size(nc), 1);
        assert_cause(nc, 0, "FieldValueRequired", "spec.resources[storage]", "Required value");
}

static void test_hpa(void **state)
{
        const struct k8c_resource *v2 = res("autoscaling", "v2", "horizontalpodautoscalers");
        const struct k8c_resource *v1 = res("autoscaling", "v1", "horizontalpodautoscalers");
        assert_string_equal(v2->short_names[0], "hpa");
        assert_ptr_equal(v1->storage_of, v2);
        assert_null(v2->storage_of);
        json_auto_t *h = J(
                "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"creationTimestamp\":"
                "\"2026-11-24T15:31:18Z\"},\"spec\":{\"scaleTargetRef\":{\"apiVersion\":\"apps/v1\",\"kind\":"
                "\"Deployment\",\"name\":\"web\"},\"maxReplicas\":5}}");
        json_auto_t *hc = validate(v2, h);
        assert_int_equal(json_array_size(hc), 0);
        json_t *spec = json_object_get(h, "spec");
        assert_int_equal(json_integer_value(json_object_get(spec, "minReplicas")), 1);
        assert_json(json_object_get(spec, "metrics"),
                    "[{\"resource\":{\"name\":\"cpu\",\"target\":{\"averageUtilization\":80,"
                    "\"type\":\"Utilization\"}},\"type\":\"Resource\"}]");
        v2->prepare_create(h, &ctx);
        json_auto_t *cells = row(v2, h);
        assert_json(cells, "[\"web\",\"Deployment/web\",\"cpu: <unknown>/80%\",\"1\",5,0,\"60s\"]");
        json_object_set_new(json_object_get(h, "status"), "currentMetrics",
                            J("[{\"type\":\"Resource\",\"resource\":{\"name\":\"cpu\",\"current\":{"
                              "\"averageUtilization\":"
                              "42}}}]"));
        json_auto_t *c2 = row(v2, h);
        assert_json(c2, "[\"web\",\"Deployment/web\",\"cpu: 42%/80%\",\"1\",5,0,\"60s\"]");

        /* v2 → v1 → v2 keeps the cpu target; v1 rows print like v2 ones. */
        json_auto_t *as_v1 = json_deep_copy(h);
        v1->from_storage(as_v1);
        assert_string_equal(json_string_value(json_object_get(as_v1, "apiVersion")), "autoscaling/v1");
        assert_json(json_object_get(as_v1, "spec"),
                    "{\"maxReplicas\":5,\"minReplicas\":1,\"scaleTargetRef\":{\"apiVersion\":"
                    "\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"web\"},"
                    "\"targetCPUUtilizationPercentage\":80}");
        assert_json(json_object_get(as_v1, "status"),
                    "{\"currentCPUUtilizationPercentage\":42,\"currentReplicas\":0,"
                    "\"desiredReplicas\":0}");
        json_auto_t *c3 = row(v1, as_v1);
        assert_json(c3, "[\"web\",\"Deployment/web\",\"cpu: 42%/80%\",\"1\",5,0,\"60s\"]");
        v1->to_storage(as_v1);
        assert_string_equal(json_string_value(json_object_get(as_v1, "apiVersion")), "autoscaling/v2");
        assert_json(json_object_get(as_v1, "spec"),
                    "{\"maxReplicas\":5,\"metrics\":[{\"resource\":{\"name\":\"cpu\","
                    "\"target\":{\"averageUtilization\":80,\"type\":\"Utilization\"}},"
                    "\"type\":\"Resource\"}],\"minReplicas\":1,\"scaleTargetRef\":{"
                    "\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"web\"}}");

        json_auto_t *bad =
                J("{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"scaleTargetRef\":{"
                  "\"name\":\"web\"},\"minReplicas\":3,\"maxReplicas\":2}}");
        json_auto_t *bc = validate(v2, bad);
        assert_int_equal(json_array_size(bc), 2);
        assert_cause(bc, 0, "FieldValueInvalid", "spec.maxReplicas",
                     "Invalid value: 2: must be greater than or equal to `minReplicas`");
        assert_cause(bc, 1, "FieldValueRequired", "spec.scaleTargetRef.kind", "Required value");
        json_auto_t *bad1 =
                J("{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"scaleTargetRef\":{"
                  "\"kind\":\"Deployment\",\"name\":\"web\"},\"minReplicas\":0,\"maxReplicas\":0,"
                  "\"targetCPUUtilizationPercentage\":0}}");
        json_auto_t *b1 = validate(v1, bad1);
        assert_int_equal(json_array_size(b1), 3);
        assert_cause(b1, 0, "FieldValueInvalid", "spec.minReplicas",
                     "Invalid value: 0: must be greater than or equal to 1");
        assert_cause(b1, 1, "FieldValueInvalid", "spec.maxReplicas",
                     "Invalid value: 0: must be greater than 0");
        assert_cause(b1, 2, "FieldValueInvalid", "spec.targetCPUUtilizationPercentage",
                     "Invalid value: 0: must be greater than 0");
        static const char *const names[] = { "Name",    "Reference", "Targets", "MinPods",
                                             "MaxPods", "Replicas",  "Age" };
        static const int prio[] = { 0, 0, 0, 0, 0, 0, 0 };
        assert_columns(v2, names, prio, 7);
}

static void test_leases_endpointslices(void **state)
{
        const struct k8c_resource *l = res("coordination.k8s.io", "v1", "leases");
        json_auto_t *lease = J(
                "{\"metadata\":{\"name\":\"node-1\",\"namespace\":\"kube-node-lease\",\"creationTimestamp\":"
                "\"2026-11-24T15:32:10Z\"},\"spec\":{\"holderIdentity\":\"node-1\",\"leaseDurationSeconds\":"
                "40}}");
        json_auto_t *lc = validate(l, lease);
        assert_int_equal(json_array_size(lc), 0);
        json_auto_t *cells = row(l, lease);
        assert_json(cells, "[\"node-1\",\"node-1\",\"8s\"]");
        json_auto_t *bad =
                J("{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\"},\"spec\":{\"leaseDurationSeconds\":0,"
                  "\"leaseTransitions\":-1}}");
        json_auto_t *bc = validate(l, bad);
        assert_int_equal(json_array_size(bc), 2);
        assert_cause(bc, 0, "FieldValueInvalid", "spec.leaseDurationSeconds",
                     "Invalid value: 0: must be greater than 0");
        assert_cause(bc, 1, "FieldValueInvalid", "spec.leaseTransitions",
                     "Invalid value: -1: must be greater than or equal to 0");

        const struct k8c_resource *e = res("discovery.k8s.io", "v1", "endpointslices");
        json_auto_t *es =
                J("{\"metadata\":{\"name\":\"web-abc\",\"namespace\":\"default\"},\"addressType\":\"IPv4\","
                  "\"ports\":[{\"port\":80},{\"name\":\"metrics\"},{\"port\":81},{\"port\":82}],"
                  "\"endpoints\":[{"
                  "\"addresses\":[\"10.244.1.3\"]},{\"addresses\":[\"10.244.2.4\",\"10.244.2.5\",\"10.244.2."
                  "6\"]}]}");
        json_auto_t *ec = validate(e, es);
        assert_int_equal(json_array_size(ec), 0);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(es, "ports"), 0),
                                                              "protocol")),
                            "TCP");
        json_auto_t *erow = row(e, es);
        assert_json(
                erow,
                "[\"web-abc\",\"IPv4\",\"80,metrics,81 + 1 more...\",\"10.244.1.3,10.244.2.4,10.244.2.5 + 1 "
                "more...\",\"<unknown>\"]");
        json_auto_t *empty = J("{\"metadata\":{\"name\":\"e\"},\"addressType\":\"IPv4\"}");
        json_auto_t *erow2 = row(e, empty);
        assert_json(erow2, "[\"e\",\"IPv4\",\"<unset>\",\"<unset>\",\"<unknown>\"]");
        json_auto_t *bad2 = J(
                "{\"metadata\":{\"name\":\"e\",\"namespace\":\"d\"},\"addressType\":\"IPv4\",\"endpoints\":[{"
                "\"addresses\":[\"fe80::1\"]},{\"addresses\":[]}]}");
        json_auto_t *b2 = validate(e, bad2);
        assert_int_equal(json_array_size(b2), 2);
        assert_cause(b2, 0, "FieldValueInvalid", "endpoints[0].addresses[0]",
                     "Invalid value: \"fe80::1\": must be a valid IPv4 address");
        assert_cause(b2, 1, "FieldValueRequired", "endpoints[1].addresses",
                     "Required value: must contain at least 1 address");
        static const char *const names[] = { "Name", "AddressType", "Ports", "Endpoints", "Age" };
        static const int prio[] = { 0, 0, 0, 0, 0 };
        assert_columns(e, names, prio, 5);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_namespaces),
                cmocka_unit_test(test_nodes),
                cmocka_unit_test(test_events),
                cmocka_unit_test(test_configmaps_secrets),
                cmocka_unit_test(test_pv_pvc),
                cmocka_unit_test(test_hpa),
                cmocka_unit_test(test_leases_endpointslices),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

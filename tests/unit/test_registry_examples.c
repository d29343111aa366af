/* Unit tests across the whole resource table: every examples/api manifest is served by a
 * registered resource, passes defaults + create strategy + validation with no causes, and
 * renders a row with exactly one cell per column; every resource's table renders minimal
 * objects with one cell per column too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/registry.h"
#include "k8c/cleanup.h"
#include "k8c/yaml.h"

static const struct k8c_registry_ctx ctx = { .now = 1795534338,
                                             .service_cluster_ip_range = "10.96.0.0/12",
                                             .service_node_port_range = "30000-32767" };

static size_t ncolumns(const struct k8c_resource *r)
{
        size_t n = 0;
        while (r->columns[n].name != NULL)
                n++;
        return n;
}

static const struct k8c_resource *by_gvk(const char *api_version, const char *kind)
{
        for (size_t i = 0; k8c_resources[i] != NULL; i++) {
                cleanup_free char *av = k8c_resource_api_version(k8c_resources[i]);
                if (strcmp(av, api_version) == 0 && strcmp(k8c_resources[i]->kind, kind) == 0)
                        return k8c_resources[i];
        }
        return NULL;
}

static char *slurp(const char *path, size_t *ret_len)
{
        cleanup_fclose FILE *f = fopen(path, "r");
        if (f == NULL)
                fail_msg("cannot open %s", path);
        char *buf = NULL;
        size_t cap = 0, len = 0;
        for (;;) {
                buf = k8c_xrealloc(buf, cap += 4096);
                size_t n = fread(buf + len, 1, cap - len, f);
                len += n;
                if (n == 0)
                        break;
        }
        *ret_len = len;
        return buf;
}

static void test_examples_validate(void **state)
{
        const char *src = getenv("K8C_SRCDIR");
        cleanup_free char *dir = k8c_xasprintf("%s/examples/api", src != NULL ? src : ".");
        DIR *d = opendir(dir);
        assert_non_null(d);
        size_t checked = 0;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
                size_t l = strlen(de->d_name);
                if (l < 6 || strcmp(de->d_name + l - 5, ".yaml") != 0)
                        continue;
                cleanup_free char *path = k8c_xasprintf("%s/%s", dir, de->d_name);
                size_t len;
                cleanup_free char *text = slurp(path, &len);
                json_auto_t *obj = NULL;
                cleanup_error k8c_error_t err = NULL;
                if (k8c_yaml_to_json(text, len, &obj, &err) < 0)
                        fail_msg("%s: %s", path, k8c_error_msg(&err));
                const char *av = json_string_value(json_object_get(obj, "apiVersion"));
                const char *kind = json_string_value(json_object_get(obj, "kind"));
                const struct k8c_resource *r = by_gvk(av != NULL ? av : "", kind != NULL ? kind : "");
                if (r == NULL)
                        fail_msg("%s: no resource serves %s %s", path, av, kind);
                if (r->set_defaults != NULL)
                        r->set_defaults(obj);
                if (r->prepare_create != NULL)
                        r->prepare_create(obj, &ctx);
                struct k8c_field_errors errs = { 0 };
                r->validate(obj, &ctx, &errs);
                if (k8c_field_errors_count(&errs) != 0) {
                        k8c_field_errors_to_error(&errs, r->kind, "", &err);
                        fail_msg("%s: %s", path, k8c_error_msg(&err));
                }
                k8c_field_errors_free(&errs);
                json_auto_t *cells = json_array();
                r->table_row(obj, &ctx, cells);
                assert_int_equal(json_array_size(cells), ncolumns(r));
                checked++;
        }
        closedir(d);
        assert_int_equal(checked, 15);
}

static void test_minimal_rows(void **state)
{
        for (size_t i = 0; k8c_resources[i] != NULL; i++) {
                const struct k8c_resource *r = k8c_resources[i];
                json_auto_t *obj = json_pack("{s:{s:s}}", "metadata", "name", "x");
                json_auto_t *cells = json_array();
                r->table_row(obj, &ctx, cells);
                assert_int_equal(json_array_size(cells), ncolumns(r));
                /* Every column is typed and described, and exactly the Name column has format "name". */
                for (size_t c = 0; r->columns[c].name != NULL; c++) {
                        assert_true(strcmp(r->columns[c].type, "string") == 0 ||
                                    strcmp(r->columns[c].type, "integer") == 0);
                        assert_true(strlen(r->columns[c].description) > 0);
                        assert_string_equal(r->columns[c].format,
                                            strcmp(r->columns[c].name, "Name") == 0 ? "name" : "");
                }
                /* Defaults and validation cope with a nearly empty object. */
                if (r->set_defaults != NULL)
                        r->set_defaults(obj);
                struct k8c_field_errors errs = { 0 };
                r->validate(obj, &ctx, &errs);
                k8c_field_errors_free(&errs);
        }
}

static void test_discovery_fields(void **state)
{
        static const struct {
                const char *group, *version, *plural, *kind, *shortname;
                bool namespaced, all;
        } want[] = {
                { "", "v1", "namespaces", "Namespace", "ns", false, false },
                { "", "v1", "pods", "Pod", "po", true, true },
                { "", "v1", "nodes", "Node", "no", false, false },
                { "", "v1", "services", "Service", "svc", true, true },
                { "", "v1", "endpoints", "Endpoints", "ep", true, false },
                { "", "v1", "events", "Event", "ev", true, false },
                { "", "v1", "configmaps", "ConfigMap", "cm", true, false },
                { "", "v1", "secrets", "Secret", NULL, true, false },
                { "", "v1", "persistentvolumes", "PersistentVolume", "pv", false, false },
                { "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", "pvc", true, false },
                { "apps", "v1", "replicasets", "ReplicaSet", "rs", true, true },
                { "apps", "v1", "deployments", "Deployment", "deploy", true, true },
                { "autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", "hpa", true,
                  true },
                { "autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", "hpa", true,
                  true },
                { "coordination.k8s.io", "v1", "leases", "Lease", NULL, true, false },
                { "discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", NULL, true, false },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(want); i++) {
                const struct k8c_resource *r =
                        k8c_resource_find(want[i].group, want[i].version, want[i].plural);
                assert_non_null(r);
                assert_string_equal(r->kind, want[i].kind);
                cleanup_free char *list_kind = k8c_xasprintf("%sList", want[i].kind);
                assert_string_equal(r->list_kind, list_kind);
                assert_int_equal(r->namespaced, want[i].namespaced);
                if (want[i].shortname != NULL)
                        assert_string_equal(r->short_names[0], want[i].shortname);
                else
                        assert_null(r->short_names);
                if (want[i].all)
                        assert_string_equal(r->categories[0], "all");
                else
                        assert_null(r->categories);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_examples_validate),
                cmocka_unit_test(test_minimal_rows),
                cmocka_unit_test(test_discovery_fields),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

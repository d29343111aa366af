/* Unit tests for the k8cctl printers (printers.c, jsonpath.c): kubectl's table layout from
 * canned server Tables, -o name/json/yaml/jsonpath and --sort-by. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"

static const char *pod_table =
        "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{\"resourceVersion\":\"7\"},"
        "\"columnDefinitions\":[{\"name\":\"Name\",\"type\":\"string\",\"format\":\"name\"},"
        "{\"name\":\"Ready\",\"type\":\"string\"},{\"name\":\"Status\",\"type\":\"string\"},"
        "{\"name\":\"Restarts\",\"type\":\"integer\"},{\"name\":\"Age\",\"type\":\"string\"},"
        "{\"name\":\"IP\",\"type\":\"string\",\"priority\":1},{\"name\":\"Node\",\"type\":\"string\","
        "\"priority\":1}],"
        "\"rows\":[{\"cells\":[\"web-1\",\"1/1\",\"Running\",0,\"5s\",\"10.244.1.3\",\"node-1\"],"
        "\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\","
        "\"metadata\":{\"name\":\"web-1\",\"namespace\":\"default\",\"labels\":{\"app\":\"web\",\"tier\":"
        "\"front\"}}}},"
        "{\"cells\":[\"database-primary\",\"0/1\",\"Pending\",12,\"3m\",\"<none>\",\"<none>\"],"
        "\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\","
        "\"metadata\":{\"name\":\"database-primary\",\"namespace\":\"team-a\"}}}]}";

static char *render(const char *table_json, const struct k8c_cli_table_opts *o)
{
        json_auto_t *t = NULL;
        assert_int_equal(k8c_json_parse(table_json, strlen(table_json), &t, NULL), 0);
        struct k8c_cli_grid g = { 0 };
        k8c_cli_table_to_grid(t, o, &g);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        k8c_cli_grid_print(f, &g);
        fclose(f);
        k8c_cli_grid_free(&g);
        return buf;
}

static void test_table_default(void **state)
{
        struct k8c_cli_table_opts o = { 0 };
        cleanup_free char *s = render(pod_table, &o);
        assert_string_equal(s, "NAME               READY   STATUS    RESTARTS   AGE\n"
                               "web-1              1/1     Running   0          5s\n"
                               "database-primary   0/1     Pending   12         3m\n");
}

static void test_table_wide_namespace_prefix(void **state)
{
        struct k8c_cli_table_opts o = { .wide = true, .with_namespace = true, .kind_prefix = "pod" };
        cleanup_free char *s = render(pod_table, &o);
        assert_string_equal(
                s,
                "NAMESPACE   NAME                   READY   STATUS    RESTARTS   AGE   IP           NODE\n"
                "default     pod/web-1              1/1     Running   0          5s    10.244.1.3   node-1\n"
                "team-a      pod/database-primary   0/1     Pending   12         3m    <none>       "
                "<none>\n");
}

static void test_table_labels(void **state)
{
        char *cols[] = { "app", "example.com/tier", NULL };
        struct k8c_cli_table_opts o = { .show_labels = true, .label_columns = cols, .no_headers = false };
        cleanup_free char *s = render(pod_table, &o);
        assert_string_equal(
                s, "NAME               READY   STATUS    RESTARTS   AGE   APP   TIER   LABELS\n"
                   "web-1              1/1     Running   0          5s    web          app=web,tier=front\n"
                   "database-primary   0/1     Pending   12         3m                 <none>\n");
}

static void test_table_min_width_and_no_headers(void **state)
{
        /* tabwriter's minimum cell width is 6 including the 3 spaces of padding. */
        const char *t = "{\"kind\":\"Table\",\"columnDefinitions\":[{\"name\":\"A\"},{\"name\":\"B\"},{"
                        "\"name\":\"C\"}],"
                        "\"rows\":[{\"cells\":[\"x\",\"héllo\",true]},{\"cells\":[\"yy\",null,1.5]}]}";
        struct k8c_cli_table_opts o = { 0 };
        cleanup_free char *s = render(t, &o);
        assert_string_equal(s, "A     B        C\n"
                               "x     héllo    true\n"
                               "yy    <none>   1.5\n");
        struct k8c_cli_table_opts nh = { .no_headers = true };
        cleanup_free char *s2 = render(t, &nh);
        assert_string_equal(s2, "x     héllo    true\n"
                                "yy    <none>   1.5\n");
}

static void test_table_remembered_widths(void **state)
{
        /* A watch row printed after the list keeps the list's column widths. */
        struct k8c_cli_table_opts o = { 0 };
        json_auto_t *t = NULL;
        assert_int_equal(k8c_json_parse(pod_table, strlen(pod_table), &t, NULL), 0);
        struct k8c_cli_grid g = { 0 };
        k8c_cli_table_to_grid(t, &o, &g);
        size_t widths[8] = { 0 };
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        k8c_cli_grid_print_remember(f, &g, widths, 8);
        k8c_cli_grid_free(&g);
        json_array_remove(json_object_get(t, "rows"), 1);
        struct k8c_cli_table_opts nh = { .no_headers = true };
        k8c_cli_table_to_grid(t, &nh, &g);
        k8c_cli_grid_print_remember(f, &g, widths, 8);
        k8c_cli_grid_free(&g);
        fclose(f);
        assert_string_equal(buf, "NAME               READY   STATUS    RESTARTS   AGE\n"
                                 "web-1              1/1     Running   0          5s\n"
                                 "database-primary   0/1     Pending   12         3m\n"
                                 "web-1              1/1     Running   0          5s\n");
        free(buf);
}

static json_t *resources(void)
{
        const char *d =
                "[{\"name\":\"pods\",\"singularName\":\"pod\",\"namespaced\":true,\"kind\":\"Pod\",\"group\":"
                "\"\","
                "\"version\":\"v1\",\"shortNames\":[\"po\"]},"
                "{\"name\":\"deployments\",\"singularName\":\"deployment\",\"namespaced\":true,"
                "\"kind\":\"Deployment\",\"group\":\"apps\",\"version\":\"v1\",\"shortNames\":[\"deploy\"]}]";
        json_t *r = NULL;
        assert_int_equal(k8c_json_parse(d, strlen(d), &r, NULL), 0);
        return r;
}

static json_t *objects(void)
{
        const char *d = "[{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\",\"namespace\":"
                        "\"default\","
                        "\"labels\":{\"app\":\"x\"}},\"spec\":{\"priority\":10}},"
                        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"a\"},"
                        "\"spec\":{\"priority\":2}},"
                        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"c\"},\"spec\":{}}]";
        json_t *r = NULL;
        assert_int_equal(k8c_json_parse(d, strlen(d), &r, NULL), 0);
        return r;
}

static char *print(const char *output, const json_t *objs, bool single)
{
        json_auto_t *res = resources();
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_cli_print_objects(f, output, objs, single, res, &err);
        fclose(f);
        if (r < 0) {
                free(buf);
                return k8c_xstrdup(k8c_error_msg(&err));
        }
        return buf;
}

static void test_output_name_json_yaml(void **state)
{
        json_auto_t *o = objects();
        cleanup_free char *names = print("name", o, false);
        assert_string_equal(names, "pod/b\ndeployment.apps/a\npod/c\n");

        json_auto_t *one = json_pack("[{s:s, s:s, s:{s:s}, s:{s:i}}]", "kind", "Pod", "apiVersion", "v1",
                                     "metadata", "name", "p", "spec", "x", 1);
        cleanup_free char *json = print("json", one, true);
        assert_string_equal(json,
                            "{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"Pod\",\n    \"metadata\": {\n"
                            "        \"name\": \"p\"\n    },\n    \"spec\": {\n        \"x\": 1\n    }\n}\n");
        cleanup_free char *yaml = print("yaml", one, false);
        assert_string_equal(
                yaml, "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p\n"
                      "  spec:\n    x: 1\nkind: List\nmetadata:\n  resourceVersion: \"\"\n");
        cleanup_free char *bad = print("table", one, false);
        assert_string_equal(
                bad, "error: unable to match a printer suitable for the output format \"table\", allowed "
                     "formats are: json,jsonpath,jsonpath-as-json,jsonpath-file,name,yaml");
}

static void test_jsonpath(void **state)
{
        json_auto_t *o = objects();
        cleanup_free char *a = print("jsonpath={.items[*].metadata.name}", o, false);
        assert_string_equal(a, "b a c");
        cleanup_free char *b =
                print("jsonpath={range .items[*]}{.metadata.name}{\"\\t\"}{.spec.priority}{\"\\n\"}{end}", o,
                      false);
        assert_string_equal(b, "b\t10\na\t2\nc\t\n");
        cleanup_free char *c = print("jsonpath={.items[0].metadata.labels}", o, false);
        assert_string_equal(c, "{\"app\":\"x\"}");
        cleanup_free char *d = print("jsonpath={.items[-1].metadata.name} {.items[0:2].kind}", o, false);
        assert_string_equal(d, "c Pod Deployment");
        cleanup_free char *e = print("jsonpath={.items[?(@.kind==\"Deployment\")].metadata.name}", o, false);
        assert_string_equal(e, "a");
        cleanup_free char *f = print("jsonpath={..name}", o, false);
        assert_string_equal(f, "b a c");
        json_auto_t *one = json_pack("[{s:s, s:s, s:{s:s, s:{s:s}}}]", "kind", "Pod", "apiVersion", "v1",
                                     "metadata", "name", "p", "labels", "app.kubernetes.io/name", "web");
        cleanup_free char *g = print("jsonpath={.metadata.name}", one, true);
        assert_string_equal(g, "p");
        cleanup_free char *h = print("jsonpath={.metadata.labels.app\\.kubernetes\\.io/name}", one, true);
        assert_string_equal(h, "web");
        cleanup_free char *i = print("jsonpath={.metadata.labels['app.kubernetes.io/name']}", one, true);
        assert_string_equal(i, "web");
        cleanup_free char *j = print("jsonpath={.missing.field}", one, true);
        assert_string_equal(j, "");
        cleanup_free char *k = print("jsonpath={range .items[*]}{.metadata.name}", o, false);
        assert_string_equal(
                k, "error: error parsing jsonpath {range .items[*]}{.metadata.name}, unclosed range");
        cleanup_free char *l = print("jsonpath={.metadata.name", one, true);
        assert_string_equal(l, "error: error parsing jsonpath {.metadata.name, unclosed action");
}

static void test_sort_by(void **state)
{
        json_auto_t *o = objects();
        assert_int_equal(k8c_cli_sort_objects(o, "{.metadata.name}", NULL), 0);
        cleanup_free char *a = print("name", o, false);
        assert_string_equal(a, "deployment.apps/a\npod/b\npod/c\n");
        /* numbers compare numerically (2 < 10); a missing field sorts first */
        assert_int_equal(k8c_cli_sort_objects(o, ".spec.priority", NULL), 0);
        cleanup_free char *b = print("name", o, false);
        assert_string_equal(b, "pod/c\ndeployment.apps/a\npod/b\n");
}

static void test_tabwriter_blocks(void **state)
{
        /* A line without a tab ends a column block (Go text/tabwriter), so the "cpu:" lines
         * under Limits align on their own while the later block aligns to its widest cell. */
        const char *in = "Name:\tweb\nNamespace:\tdefault\nContainers:\n  Limits:\n    cpu:\t200m\n"
                         "  Requests:\n    cpu:\t100m\n  Environment:\t<none>\nEvents:\n  Type\tReason\n"
                         "  ----\t------\n";
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        k8c_cli_tabwrite(f, in, 2);
        fclose(f);
        assert_string_equal(buf, "Name:       web\n"
                                 "Namespace:  default\n"
                                 "Containers:\n"
                                 "  Limits:\n"
                                 "    cpu:  200m\n"
                                 "  Requests:\n"
                                 "    cpu:        100m\n"
                                 "  Environment:  <none>\n"
                                 "Events:\n"
                                 "  Type  Reason\n"
                                 "  ----  ------\n");
        free(buf);
}

/* metav1.FormatLabelSelector's text: matchLabels sorted, then the expressions. */
static void test_format_selector(void **state)
{
        json_auto_t *ml = json_pack("{s:s, s:s}", "tier", "front", "app", "web");
        json_auto_t *me = json_pack("[{s:s, s:s, s:[s, s]}, {s:s, s:s}, {s:s, s:s}]", "key", "env",
                                    "operator", "In", "values", "a", "b", "key", "canary", "operator",
                                    "DoesNotExist", "key", "zone", "operator", "Exists");
        cleanup_free char *s = k8c_cli_format_selector(ml, me);
        assert_string_equal(s, "app=web,tier=front,env in (a,b),!canary,zone");
        cleanup_free char *e = k8c_cli_format_selector(NULL, NULL);
        assert_string_equal(e, "");
}

/* Requests as kubectl sums them: containers added, an init container as a floor, sidecars
 * added, overhead added; limits only where set. */
static void test_pod_resources(void **state)
{
        json_t *pod = NULL;
        const char *text =
                "{\"spec\":{\"overhead\":{\"cpu\":\"10m\"},\"containers\":[{\"resources\":{\"requests\":{"
                "\"cpu\":"
                "\"250m\",\"memory\":\"64Mi\"},\"limits\":{\"memory\":\"128Mi\"}}},{\"resources\":{"
                "\"requests\":{"
                "\"cpu\":\"100m\"}}}],\"initContainers\":[{\"resources\":{\"requests\":{\"cpu\":\"2\"}}},{"
                "\"restartPolicy\":\"Always\",\"resources\":{\"requests\":{\"memory\":\"1Gi\"}}}]}}";
        assert_int_equal(k8c_json_parse(text, strlen(text), &pod, NULL), 0);
        json_auto_t *req = k8c_cli_pod_resources(pod, "requests");
        json_auto_t *lim = k8c_cli_pod_resources(pod, "limits");
        cleanup_free char *r = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
        cleanup_free char *l = json_dumps(lim, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(r, "{\"cpu\":\"2010m\",\"memory\":\"1088Mi\"}");
        assert_string_equal(l, "{\"memory\":\"128Mi\"}");
        json_decref(pod);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table_default),
                cmocka_unit_test(test_table_wide_namespace_prefix),
                cmocka_unit_test(test_table_labels),
                cmocka_unit_test(test_table_min_width_and_no_headers),
                cmocka_unit_test(test_output_name_json_yaml),
                cmocka_unit_test(test_jsonpath),
                cmocka_unit_test(test_sort_by),
                cmocka_unit_test(test_tabwriter_blocks),
                cmocka_unit_test(test_table_remembered_widths),
                cmocka_unit_test(test_format_selector),
                cmocka_unit_test(test_pod_resources),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

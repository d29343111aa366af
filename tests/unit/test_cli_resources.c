/* Unit tests for k8cctl's resource resolution, argument forms, REST paths, the client-side
 * apply patch, manifest reading and the command line (usage errors, unreachable server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"

static const char *discovery =
        "[{\"name\":\"pods\",\"singularName\":\"pod\",\"namespaced\":true,\"kind\":\"Pod\",\"group\":\"\","
        "\"version\":\"v1\",\"shortNames\":[\"po\"],\"categories\":[\"all\"]},"
        "{\"name\":\"nodes\",\"singularName\":\"node\",\"namespaced\":false,\"kind\":\"Node\",\"group\":\"\","
        "\"version\":\"v1\",\"shortNames\":[\"no\"]},"
        "{\"name\":\"services\",\"singularName\":\"service\",\"namespaced\":true,\"kind\":\"Service\","
        "\"group\":\"\","
        "\"version\":\"v1\",\"shortNames\":[\"svc\"],\"categories\":[\"all\"]},"
        "{\"name\":\"deployments\",\"singularName\":\"deployment\",\"namespaced\":true,\"kind\":"
        "\"Deployment\","
        "\"group\":\"apps\",\"version\":\"v1\",\"shortNames\":[\"deploy\"],\"categories\":[\"all\"]},"
        "{\"name\":\"horizontalpodautoscalers\",\"singularName\":\"horizontalpodautoscaler\",\"namespaced\":"
        "true,"
        "\"kind\":\"HorizontalPodAutoscaler\",\"group\":\"autoscaling\",\"version\":\"v2\",\"shortNames\":["
        "\"hpa\"]}]";

static json_t *res_list(void)
{
        json_t *r = NULL;
        assert_int_equal(k8c_json_parse(discovery, strlen(discovery), &r, NULL), 0);
        return r;
}

static const char *resolved(const json_t *rl, const char *word)
{
        const json_t *r = NULL;
        if (k8c_cli_resolve(rl, word, &r, NULL) < 0)
                return "(none)";
        return json_string_value(json_object_get(r, "name"));
}

static void test_resolve(void **state)
{
        json_auto_t *rl = res_list();
        assert_string_equal(resolved(rl, "pods"), "pods");
        assert_string_equal(resolved(rl, "pod"), "pods");
        assert_string_equal(resolved(rl, "po"), "pods");
        assert_string_equal(resolved(rl, "Pod"), "pods");
        assert_string_equal(resolved(rl, "PODS"), "pods");
        assert_string_equal(resolved(rl, "deploy"), "deployments");
        assert_string_equal(resolved(rl, "deployments.apps"), "deployments");
        assert_string_equal(resolved(rl, "deployment.apps"), "deployments");
        assert_string_equal(resolved(rl, "hpa"), "horizontalpodautoscalers");
        assert_string_equal(resolved(rl, "HorizontalPodAutoscaler"), "horizontalpodautoscalers");
        assert_string_equal(resolved(rl, "deployments.extensions"), "(none)");
        const json_t *r = NULL;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_cli_resolve(rl, "foo", &r, &err), -(int)K8C_ENOTFOUND);
        assert_string_equal(k8c_error_msg(&err), "error: the server doesn't have a resource type \"foo\"");

        assert_int_equal(k8c_cli_resolve_kind(rl, "apps/v1", "Deployment", &r, NULL), 0);
        assert_string_equal(json_string_value(json_object_get(r, "name")), "deployments");
        assert_int_equal(k8c_cli_resolve_kind(rl, "autoscaling/v1", "HorizontalPodAutoscaler", &r, NULL), 0);
        assert_string_equal(json_string_value(json_object_get(r, "version")), "v2");
        assert_int_equal(k8c_cli_resolve_kind(rl, "v1", "Widget", &r, &err), -(int)K8C_ENOTFOUND);
        assert_string_equal(k8c_error_msg(&err),
                            "error: resource mapping not found for kind \"Widget\" in version "
                            "\"v1\": ensure CRDs are installed first");
}

static void test_paths_and_type_names(void **state)
{
        json_auto_t *rl = res_list();
        const json_t *pods = json_array_get(rl, 0), *nodes = json_array_get(rl, 1),
                     *deploy = json_array_get(rl, 3);
        cleanup_free char *a = k8c_cli_path(pods, "default", NULL, NULL);
        assert_string_equal(a, "/api/v1/namespaces/default/pods");
        cleanup_free char *b = k8c_cli_path(pods, NULL, NULL, NULL);
        assert_string_equal(b, "/api/v1/pods");
        cleanup_free char *c = k8c_cli_path(nodes, "default", "n1", NULL);
        assert_string_equal(c, "/api/v1/nodes/n1");
        cleanup_free char *d = k8c_cli_path(deploy, "team-a", "web", "scale");
        assert_string_equal(d, "/apis/apps/v1/namespaces/team-a/deployments/web/scale");
        cleanup_free char *e = k8c_cli_type_name(deploy);
        assert_string_equal(e, "deployment.apps");
        cleanup_free char *f = k8c_cli_type_name(pods);
        assert_string_equal(f, "pod");
}

static void test_targets(void **state)
{
        json_auto_t *rl = res_list();
        struct k8c_cli_target *t = NULL;
        size_t n = 0;
        char *a1[] = { "po,svc", "x" };
        assert_int_equal(k8c_cli_parse_targets(rl, a1, 2, &t, &n, NULL), 0);
        assert_int_equal(n, 2);
        assert_string_equal(json_string_value(json_object_get(t[0].res, "name")), "pods");
        assert_string_equal(t[0].name, "x");
        assert_string_equal(json_string_value(json_object_get(t[1].res, "name")), "services");
        assert_string_equal(t[1].name, "x");
        k8c_cli_targets_free(t, n);

        char *a2[] = { "pod/a", "deploy/b" };
        assert_int_equal(k8c_cli_parse_targets(rl, a2, 2, &t, &n, NULL), 0);
        assert_int_equal(n, 2);
        assert_string_equal(t[0].name, "a");
        assert_string_equal(json_string_value(json_object_get(t[1].res, "kind")), "Deployment");
        assert_string_equal(t[1].name, "b");
        k8c_cli_targets_free(t, n);

        char *a3[] = { "all" };
        assert_int_equal(k8c_cli_parse_targets(rl, a3, 1, &t, &n, NULL), 0);
        assert_int_equal(n, 3);
        assert_string_equal(json_string_value(json_object_get(t[0].res, "name")), "pods");
        assert_string_equal(json_string_value(json_object_get(t[1].res, "name")), "services");
        assert_string_equal(json_string_value(json_object_get(t[2].res, "name")), "deployments");
        assert_null(t[2].name);
        k8c_cli_targets_free(t, n);

        cleanup_error k8c_error_t err = NULL;
        char *a4[] = { "pod/a", "b" };
        assert_int_equal(k8c_cli_parse_targets(rl, a4, 2, &t, &n, &err), -(int)K8C_EUSAGE);
        char *a5[] = { "pods,bogus" };
        assert_int_equal(k8c_cli_parse_targets(rl, a5, 1, &t, &n, &err), -(int)K8C_ENOTFOUND);
        assert_string_equal(k8c_error_msg(&err), "error: the server doesn't have a resource type \"bogus\"");
}

static json_t *parse(const char *s)
{
        json_t *v = NULL;
        assert_int_equal(k8c_json_parse(s, strlen(s), &v, NULL), 0);
        return v;
}

static void test_apply_patch(void **state)
{
        /* Server defaults (imagePullPolicy, uid) are not changes; a dropped field is deleted. */
        json_auto_t *orig = parse("{\"metadata\":{\"name\":\"p\",\"labels\":{\"a\":\"1\",\"b\":\"2\"}},"
                                  "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i:1\"}]}}");
        json_auto_t *cur =
                parse("{\"metadata\":{\"name\":\"p\",\"uid\":\"u\",\"labels\":{\"a\":\"1\",\"b\":\"2\"}},"
                      "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i:1\","
                      "\"imagePullPolicy\":\"IfNotPresent\"}],\"restartPolicy\":\"Always\"}}");
        json_auto_t *same = k8c_cli_apply_patch(orig, orig, cur);
        assert_int_equal(json_object_size(same), 0);

        json_auto_t *mod = parse("{\"metadata\":{\"name\":\"p\",\"labels\":{\"a\":\"1\"}},"
                                 "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i:2\"}]}}");
        json_auto_t *p = k8c_cli_apply_patch(orig, mod, cur);
        cleanup_free char *s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(s, "{\"metadata\":{\"labels\":{\"b\":null}},"
                               "\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"c\"}],"
                               "\"containers\":[{\"image\":\"i:2\",\"name\":\"c\"}]}}");

        /* Keyed lists: a container the manifest dropped is deleted, one added elsewhere (not in the
         * last applied configuration) is kept, ports merge by containerPort, a dropped field of a
         * kept element is deleted, finalizers merge as a set. */
        json_auto_t *o3 =
                parse("{\"metadata\":{\"finalizers\":[\"a\",\"b\"]},\"spec\":{\"containers\":["
                      "{\"name\":\"c\",\"image\":\"i\",\"command\":[\"x\"],\"ports\":["
                      "{\"containerPort\":80},{\"containerPort\":81}]},{\"name\":\"gone\",\"image\":"
                      "\"g\"}]}}");
        json_auto_t *c3 =
                parse("{\"metadata\":{\"finalizers\":[\"a\",\"b\",\"z\"]},\"spec\":{\"containers\":["
                      "{\"name\":\"c\",\"image\":\"i\",\"command\":[\"x\"],\"ports\":["
                      "{\"containerPort\":80,\"protocol\":\"TCP\"},{\"containerPort\":81,"
                      "\"protocol\":\"TCP\"}]},{\"name\":\"gone\",\"image\":\"g\"},{\"name\":"
                      "\"sidecar\",\"image\":\"s\"}]}}");
        json_auto_t *m3 = parse("{\"metadata\":{\"finalizers\":[\"a\"]},\"spec\":{\"containers\":["
                                "{\"name\":\"c\",\"image\":\"i\",\"ports\":[{\"containerPort\":80},"
                                "{\"containerPort\":82}]}]}}");
        json_auto_t *p3 = k8c_cli_apply_patch(o3, m3, c3);
        cleanup_free char *s3 = json_dumps(p3, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(
                s3, "{\"metadata\":{\"$deleteFromPrimitiveList/finalizers\":[\"b\"],"
                    "\"$setElementOrder/finalizers\":[\"a\"]},\"spec\":{\"$setElementOrder/containers\":"
                    "[{\"name\":\"c\"}],\"containers\":[{\"$setElementOrder/ports\":[{\"containerPort\":80},"
                    "{\"containerPort\":82}],\"command\":null,\"name\":\"c\",\"ports\":"
                    "[{\"$patch\":\"delete\",\"containerPort\":81},{\"containerPort\":82}]},{\"$patch\":"
                    "\"delete\",\"name\":\"gone\"}]}}");

        /* No last-applied (NULL original): nothing is deleted, new fields are added. */
        json_auto_t *mod2 = parse("{\"metadata\":{\"name\":\"p\",\"annotations\":{\"x\":\"y\"}}}");
        json_auto_t *p2 = k8c_cli_apply_patch(NULL, mod2, cur);
        cleanup_free char *s2 = json_dumps(p2, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(s2, "{\"metadata\":{\"annotations\":{\"x\":\"y\"}}}");
}

static char *tmpdir(void)
{
        char tmpl[] = "/tmp/k8c-cli-test-XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        return k8c_xstrdup(tmpl);
}

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void test_read_manifests(void **state)
{
        cleanup_free char *dir = tmpdir();
        cleanup_free char *a = k8c_xasprintf("%s/a.yaml", dir);
        cleanup_free char *b = k8c_xasprintf("%s/b.json", dir);
        cleanup_free char *c = k8c_xasprintf("%s/notes.txt", dir);
        write_file(a, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n---\n---\n"
                      "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    "
                      "name: two\n");
        write_file(b, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"three\"}}");
        write_file(c, "not a manifest");
        char *files[] = { dir, NULL };
        struct k8c_cli cli = { .filenames = files };
        json_auto_t *docs = NULL;
        assert_int_equal(k8c_cli_read_manifests(&cli, &docs, NULL), 0);
        assert_int_equal(json_array_size(docs), 3);
        assert_string_equal(k8c_json_get_string(json_array_get(docs, 0), "object.metadata.name"), "one");
        assert_string_equal(k8c_json_get_string(json_array_get(docs, 1), "object.kind"), "Pod");
        assert_string_equal(k8c_json_get_string(json_array_get(docs, 1), "source"), a);
        assert_string_equal(k8c_json_get_string(json_array_get(docs, 2), "object.metadata.name"), "three");

        /* A YAML error names file:line:column. */
        write_file(a, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n");
        char *one[] = { a, NULL };
        cli.filenames = one;
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *bad = NULL;
        assert_int_equal(k8c_cli_read_manifests(&cli, &bad, &err), -(int)K8C_EBADREQUEST);
        cleanup_free char *want = k8c_xasprintf(
                "error: %s:5:1: did not find expected ',' or ']' (while parsing a flow sequence at "
                "line 4, column 9)",
                a);
        assert_string_equal(k8c_error_msg(&err), want);

        cleanup_free char *missing = k8c_xasprintf("%s/nope.yaml", dir);
        char *m[] = { missing, NULL };
        cli.filenames = m;
        assert_int_equal(k8c_cli_read_manifests(&cli, &bad, &err), -(int)K8C_EBADREQUEST);
        cleanup_free char *want2 = k8c_xasprintf("error: the path \"%s\" does not exist", missing);
        assert_string_equal(k8c_error_msg(&err), want2);

        /* "-" reads stdin (here redirected to a file). */
        write_file(a, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"in\"}}");
        char *dash[] = { "-", NULL };
        cli.filenames = dash;
        cli.stdin_path = a;
        json_auto_t *in = NULL;
        assert_int_equal(k8c_cli_read_manifests(&cli, &in, NULL), 0);
        assert_string_equal(k8c_json_get_string(json_array_get(in, 0), "source"), "STDIN");
        unlink(a);
        unlink(b);
        unlink(c);
        rmdir(dir);
}

static int run(char **ret_out, char **ret_err, int argc, char **argv)
{
        char *o = NULL, *e = NULL;
        size_t ol = 0, el = 0;
        FILE *fo = open_memstream(&o, &ol), *fe = open_memstream(&e, &el);
        int code = k8c_cli_run(argc, argv, fo, fe);
        fclose(fo);
        fclose(fe);
        *ret_out = o;
        *ret_err = e;
        return code;
}

static void test_command_line(void **state)
{
        cleanup_free char *o1 = NULL, *e1 = NULL;
        char *a1[] = { "k8cctl", "frobnicate" };
        assert_int_equal(run(&o1, &e1, 2, a1), 1);
        assert_string_equal(e1, "error: unknown command \"frobnicate\" for \"k8cctl\"\n");

        cleanup_free char *o2 = NULL, *e2 = NULL;
        char *a2[] = { "k8cctl", "get", "pods", "--bogus" };
        assert_int_equal(run(&o2, &e2, 4, a2), 1);
        assert_string_equal(e2, "error: unknown flag: --bogus\nSee 'k8cctl --help' for usage.\n");

        /* Port 1 on loopback refuses: one line, exit 1. */
        cleanup_free char *o3 = NULL, *e3 = NULL;
        char *a3[] = { "k8cctl", "--kubeconfig=/dev/null", "-s", "http://127.0.0.1:1", "get", "pods" };
        assert_int_equal(run(&o3, &e3, 6, a3), 1);
        assert_string_equal(
                e3, "The connection to the server 127.0.0.1:1 was refused - did you specify the right "
                    "host or port?\n");
        assert_string_equal(o3, "");

        cleanup_free char *o4 = NULL, *e4 = NULL;
        char *a4[] = {
                "k8cctl", "--kubeconfig=/dev/null", "--server=http://127.0.0.1:1", "scale", "rs", "x"
        };
        assert_int_equal(run(&o4, &e4, 6, a4), 1);
        assert_string_equal(e4, "error: required flag(s) \"replicas\" not set\n");

        cleanup_free char *o5 = NULL, *e5 = NULL;
        char *a5[] = { "k8cctl", "--kubeconfig=/dev/null", "--server=http://127.0.0.1:1", "delete",
                       "pods",   "--cascade=sideways" };
        assert_int_equal(run(&o5, &e5, 6, a5), 1);
        assert_string_equal(
                e5, "error: invalid cascade value (sideways). Must be \"background\", \"foreground\", "
                    "or \"orphan\"\n");

        cleanup_free char *o6 = NULL, *e6 = NULL;
        char *a6[] = { "k8cctl", "--help" };
        assert_int_equal(run(&o6, &e6, 2, a6), 0);
        assert_non_null(strstr(o6, "  get            Display one or many resources\n"));
}

static void test_server_error_lines(void **state)
{
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *nf = parse("{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"NotFound\","
                                "\"message\":\"pods \\\"x\\\" not found\",\"code\":404}");
        assert_int_equal(k8c_cli_server_error(404, nf, NULL, &err), -(int)K8C_ENOTFOUND);
        assert_string_equal(k8c_error_msg(&err), "Error from server (NotFound): pods \"x\" not found");
        json_auto_t *inv = parse("{\"kind\":\"Status\",\"reason\":\"Invalid\",\"message\":\"Pod \\\"x\\\" is "
                                 "invalid: spec.containers: Required value\",\"code\":422}");
        assert_int_equal(k8c_cli_server_error(422, inv, NULL, &err), -(int)K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err), "Pod \"x\" is invalid: spec.containers: Required value");
        assert_int_equal(k8c_cli_server_error(502, NULL, "bad gateway", &err), -(int)K8C_EINTERNAL);
        assert_string_equal(k8c_error_msg(&err), "error: the server responded with HTTP 502: bad gateway");
        assert_int_equal(k8c_cli_connection_error("https://10.0.0.1:6443/prefix", &err),
                         -(int)K8C_EUNAVAILABLE);
        assert_string_equal(k8c_error_msg(&err),
                            "The connection to the server 10.0.0.1:6443 was refused - did you "
                            "specify the right host or port?");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_resolve),
                cmocka_unit_test(test_paths_and_type_names),
                cmocka_unit_test(test_targets),
                cmocka_unit_test(test_apply_patch),
                cmocka_unit_test(test_read_manifests),
                cmocka_unit_test(test_command_line),
                cmocka_unit_test(test_server_error_lines),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

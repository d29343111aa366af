/*
 * kubectl's typed create commands send protobuf bodies. For each one the real
 * kubectl prints the object it would send (--dry-run=client -o json), then sends it
 * for real (protobuf on the wire); the object the server stored must contain every
 * field of the printed one with the same value (the server only adds defaults).
 * Only 127.0.0.1 is contacted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/apiserver_harness.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"

static struct k8c_test_apiserver srv;

static int group_setup(void **state)
{
        return k8c_test_apiserver_start(&srv, NULL);
}

static int group_teardown(void **state)
{
        k8c_test_apiserver_stop(&srv);
        return 0;
}

/* Every non-empty field of want is in got with an equal value (objects recursively,
 * arrays element by element). Reports the first difference under path. */
static bool contains(const json_t *got, const json_t *want, const char *path)
{
        if (json_is_object(want)) {
                const char *k;
                json_t *v;
                json_object_foreach((json_t *)want, k, v)
                {
                        if (json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0) ||
                            strcmp(k, "status") == 0)
                                continue;
                        cleanup_free char *p = k8c_xasprintf("%s.%s", path, k);
                        json_t *g = json_object_get(got, k);
                        if (g == NULL) {
                                fprintf(stderr, "missing %s\n", p);
                                return false;
                        }
                        if (!contains(g, v, p))
                                return false;
                }
                return true;
        }
        if (json_is_array(want)) {
                if (!json_is_array(got) || json_array_size(got) != json_array_size(want)) {
                        fprintf(stderr, "array %s differs in length\n", path);
                        return false;
                }
                for (size_t i = 0; i < json_array_size(want); i++) {
                        cleanup_free char *p = k8c_xasprintf("%s[%zu]", path, i);
                        if (!contains(json_array_get(got, i), json_array_get(want, i), p))
                                return false;
                }
                return true;
        }
        if (!json_equal(got, want)) {
                cleanup_free char *a = json_dumps(got, JSON_ENCODE_ANY);
                cleanup_free char *b = json_dumps(want, JSON_ENCODE_ANY);
                fprintf(stderr, "%s: got %s, want %s\n", path, a, b);
                return false;
        }
        return true;
}

/* Runs `kubectl <create>` with --dry-run=client -o json, then for real, then compares with
 * `kubectl get <what> -o json`. */
static void check(const char *create, const char *what)
{
        cleanup_free char *printed = NULL, *out = NULL, *live = NULL;
        /* The flags go before a " -- " that starts the container's command. */
        const char *dd = strstr(create, " -- ");
        int head = dd != NULL ? (int)(dd - create) : (int)strlen(create);
        int rc = k8c_test_kubectl(&srv, &printed, "%.*s --dry-run=client -o json%s 2>/dev/null", head, create,
                                  create + head);
        assert_int_equal(rc, 0);
        rc = k8c_test_kubectl(&srv, &out, "%s", create);
        if (rc != 0)
                fprintf(stderr, "%s: %s\n", create, out);
        assert_int_equal(rc, 0);
        rc = k8c_test_kubectl(&srv, &live, "get %s -o json", what);
        assert_int_equal(rc, 0);
        json_auto_t *want = json_loads(printed, 0, NULL);
        json_auto_t *got = json_loads(live, 0, NULL);
        assert_non_null(want);
        assert_non_null(got);
        assert_true(contains(got, want, ""));
}

static void test_namespace(void **state)
{
        check("create namespace team-x", "namespace team-x");
}

static void test_configmap(void **state)
{
        check("create configmap cfg --from-literal=a=b --from-literal=long='x y z'", "configmap cfg");
}

static void test_secrets(void **state)
{
        check("create secret generic creds --from-literal=user=admin --from-literal=pass='s3 cr3t'",
              "secret creds");
        check("create secret docker-registry reg --docker-server=registry.example --docker-username=u "
              "--docker-password=p",
              "secret reg");
}

static void test_services(void **state)
{
        check("create service clusterip web --tcp=80:8080 --tcp=443:8443", "service web");
        check("create service nodeport np --tcp=80:8080 --node-port=30123", "service np");
        check("create service loadbalancer lb --tcp=81:8081", "service lb");
        check("create service externalname docs --external-name=docs.example.com", "service docs");
        check("create service clusterip headless --clusterip=None", "service headless");
}

static void test_deployment_expose_autoscale(void **state)
{
        check("create deployment app --image=busybox --replicas=3 --port=8080 -- sleep 3600",
              "deployment app");
        check("create deployment two --image=busybox --image=nginx", "deployment two");
        check("expose deployment app --port=80 --target-port=8080 --type=NodePort --name=app-np",
              "service app-np");
        check("autoscale deployment app --min=2 --max=5 --cpu-percent=60",
              "horizontalpodautoscalers.v1.autoscaling app");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_namespace),
                cmocka_unit_test(test_configmap),
                cmocka_unit_test(test_secrets),
                cmocka_unit_test(test_services),
                cmocka_unit_test(test_deployment_expose_autoscale),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

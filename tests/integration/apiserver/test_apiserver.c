/*
 * Integration tests of k8c-apiserver: the real binary on a loopback port with a
 * temporary data dir, driven with raw HTTP (libcurl) and with the real kubectl.
 * Each group of tests gets its own server; the group teardown stops it by PID
 * and removes its directory even when a test fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include "../../common/apiserver_harness.h"

static struct k8c_test_apiserver srv;
/* The group's server while a test runs a server of its own in srv. */
static struct k8c_test_apiserver other;

static int setup_server(void **state)
{
        return k8c_test_apiserver_start(&srv, NULL);
}

static int teardown_server(void **state)
{
        if (other.pid > 0) {
                k8c_test_apiserver_stop(&srv);
                srv = other;
                memset(&other, 0, sizeof(other));
        }
        int status = k8c_test_apiserver_stop(&srv);
        /* A clean drain exits 0; anything else (sanitizer report, crash) fails the group. */
        if (!(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                fprintf(stderr, "k8c-apiserver exit status %d\n", status);
                return -1;
        }
        return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static json_t *http_json(const char *method, const char *path, const char *ctype, const char *body,
                         const char *accept, long *ret_code)
{
        struct k8c_test_http_reply r;
        assert_int_equal(
                k8c_test_http(&srv, method, path, ctype, body, body != NULL ? strlen(body) : 0, accept, &r),
                0);
        *ret_code = r.code;
        json_t *j = json_loads(r.body, 0, NULL);
        if (j == NULL)
                fprintf(stderr, "not JSON: %s\n", r.body);
        k8c_test_http_reply_free(&r);
        assert_non_null(j);
        return j;
}

static void assert_status(json_t *st, long code, long want_code, const char *reason, const char *message)
{
        assert_int_equal(code, want_code);
        assert_string_equal(json_string_value(json_object_get(st, "kind")), "Status");
        assert_string_equal(json_string_value(json_object_get(st, "apiVersion")), "v1");
        assert_string_equal(json_string_value(json_object_get(st, "status")), "Failure");
        assert_string_equal(json_string_value(json_object_get(st, "reason")), reason);
        assert_int_equal(json_integer_value(json_object_get(st, "code")), want_code);
        if (message != NULL)
                assert_string_equal(json_string_value(json_object_get(st, "message")), message);
}

static char *kubectl(int want_rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *kubectl(int want_rc, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *args = NULL;
        assert_true(vasprintf(&args, fmt, ap) >= 0);
        va_end(ap);
        char *out = NULL;
        int rc = k8c_test_kubectl(&srv, &out, "%s", args);
        if (rc != want_rc)
                fprintf(stderr, "kubectl %s → rc %d:\n%s\n", args, rc, out);
        free(args);
        assert_int_equal(rc, want_rc);
        return out;
}

/* Splits text into lines and each line into whitespace-separated fields joined by one space. */
static char *squeeze(const char *text)
{
        char *out = malloc(strlen(text) + 1);
        size_t o = 0;
        bool space = false;
        for (const char *p = text; *p != '\0'; p++) {
                if (*p == ' ' || *p == '\t') {
                        space = true;
                        continue;
                }
                if (*p == '\n') {
                        out[o++] = '\n';
                        space = false;
                        continue;
                }
                if (space && o > 0 && out[o - 1] != '\n')
                        out[o++] = ' ';
                space = false;
                out[o++] = *p;
        }
        out[o] = '\0';
        return out;
}

/* Asserts that the output holds a line equal to want after squeezing spaces. */
static void assert_line(const char *text, const char *want)
{
        char *sq = squeeze(text);
        bool found = false;
        for (char *save = NULL, *l = strtok_r(sq, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save))
                if (strcmp(l, want) == 0)
                        found = true;
        if (!found)
                fprintf(stderr, "line \"%s\" not found in:\n%s\n", want, text);
        free(sq);
        assert_true(found);
}

static char *write_file(const char *name, const char *content)
{
        char *path = NULL;
        assert_true(asprintf(&path, "%s/%s", srv.dir, name) >= 0);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
        return path;
}

static void create_pod(const char *name, const char *labels_json)
{
        char *body = NULL;
        assert_true(asprintf(&body,
                             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
                             "\"labels\":%s},"
                             "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}",
                             name, labels_json) >= 0);
        long code;
        json_t *j =
                http_json("POST", "/api/v1/namespaces/default/pods", "application/json", body, NULL, &code);
        assert_int_equal(code, 201);
        json_decref(j);
        free(body);
}

static void delete_all_pods(void)
{
        long code;
        json_t *l = http_json("GET", "/api/v1/namespaces/default/pods", NULL, NULL, NULL, &code);
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(l, "items"), i, it)
        {
                char *p = NULL;
                assert_true(asprintf(&p, "/api/v1/namespaces/default/pods/%s",
                                     json_string_value(
                                             json_object_get(json_object_get(it, "metadata"), "name"))) >= 0);
                /* Grace 0, as a kubelet deletes: scheduled pods would otherwise linger Terminating. */
                json_t *d =
                        http_json("DELETE", p, "application/json", "{\"gracePeriodSeconds\":0}", NULL, &code);
                assert_int_equal(code, 200);
                json_decref(d);
                free(p);
        }
        json_decref(l);
}

/* ---- health, version, discovery -------------------------------------------------- */

static void test_health_and_version(void **state)
{
        const char *paths[] = { "/healthz", "/livez", "/readyz" };
        for (size_t i = 0; i < 3; i++) {
                struct k8c_test_http_reply r;
                assert_int_equal(k8c_test_http(&srv, "GET", paths[i], NULL, NULL, 0, NULL, &r), 0);
                assert_int_equal(r.code, 200);
                assert_string_equal(r.body, "ok");
                k8c_test_http_reply_free(&r);
        }
        long code;
        json_t *v = http_json("GET", "/version?timeout=5s", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        assert_string_equal(json_string_value(json_object_get(v, "major")), "1");
        assert_string_equal(json_string_value(json_object_get(v, "minor")), "32");
        assert_string_equal(json_string_value(json_object_get(v, "gitVersion")), "v1.32.0");
        json_decref(v);

        char *out = kubectl(0, "version");
        assert_non_null(strstr(out, "Server Version: v1.32.0\n"));
        free(out);
}

static void test_unknown_path_and_method(void **state)
{
        long code;
        json_t *st = http_json("GET", "/nope/at/all", NULL, NULL, NULL, &code);
        assert_status(st, code, 404, "NotFound", "the server could not find the requested resource");
        json_decref(st);
        st = http_json("GET", "/api/v1/namespaces/default/widgets", NULL, NULL, NULL, &code);
        assert_status(st, code, 404, "NotFound", "the server could not find the requested resource");
        json_decref(st);
        st = http_json("PATCH", "/api/v1/namespaces", "application/json", "{}", NULL, &code);
        assert_status(st, code, 405, "MethodNotAllowed", NULL);
        json_decref(st);
        st = http_json("POST", "/version", "application/json", "{}", NULL, &code);
        assert_status(st, code, 405, "MethodNotAllowed", NULL);
        json_decref(st);
}

static void test_discovery(void **state)
{
        long code;
        json_t *j = http_json("GET", "/api", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        assert_string_equal(json_string_value(json_object_get(j, "kind")), "APIVersions");
        assert_string_equal(json_string_value(json_array_get(json_object_get(j, "versions"), 0)), "v1");
        json_decref(j);

        j = http_json("GET", "/apis", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        assert_string_equal(json_string_value(json_object_get(j, "kind")), "APIGroupList");
        bool apps = false;
        size_t i;
        json_t *g;
        json_array_foreach(json_object_get(j, "groups"), i, g)
        {
                if (strcmp(json_string_value(json_object_get(g, "name")), "apps") == 0) {
                        apps = true;
                        assert_string_equal(json_string_value(json_object_get(
                                                    json_object_get(g, "preferredVersion"), "groupVersion")),
                                            "apps/v1");
                }
        }
        assert_true(apps);
        json_decref(j);

        j = http_json("GET", "/api/v1", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        assert_string_equal(json_string_value(json_object_get(j, "kind")), "APIResourceList");
        assert_string_equal(json_string_value(json_object_get(j, "groupVersion")), "v1");
        bool pods = false, pods_status = false;
        json_t *r, *r0;
        json_array_foreach(json_object_get(j, "resources"), i, r)
        {
                const char *name = json_string_value(json_object_get(r, "name"));
                if (strcmp(name, "pods") == 0) {
                        pods = true;
                        assert_true(json_is_true(json_object_get(r, "namespaced")));
                        assert_string_equal(json_string_value(json_object_get(r, "kind")), "Pod");
                        assert_string_equal(json_string_value(json_object_get(r, "singularName")), "pod");
                        assert_string_equal(
                                json_string_value(json_array_get(json_object_get(r, "shortNames"), 0)), "po");
                        assert_string_equal(
                                json_string_value(json_array_get(json_object_get(r, "categories"), 0)),
                                "all");
                        assert_int_equal(json_array_size(json_object_get(r, "verbs")), 8);
                }
                if (strcmp(name, "pods/status") == 0)
                        pods_status = true;
        }
        assert_true(pods);
        assert_true(pods_status);
        json_decref(j);

        j = http_json("GET", "/openapi/v3", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        const char *url = json_string_value(json_object_get(
                json_object_get(json_object_get(j, "paths"), "apis/apps/v1"), "serverRelativeURL"));
        assert_non_null(url);
        assert_string_equal(url, "/openapi/v3/apis/apps/v1?hash=k8c-v0.1.0");
        json_decref(j);
        j = http_json("GET", "/openapi/v3/api/v1?hash=k8c-v0.1.0", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        json_t *op = json_object_get(
                json_object_get(json_object_get(j, "paths"), "/api/v1/namespaces/{namespace}/pods/{name}"),
                "patch");
        assert_non_null(op);
        json_t *gvk = json_object_get(op, "x-kubernetes-group-version-kind");
        assert_string_equal(json_string_value(json_object_get(gvk, "kind")), "Pod");
        assert_string_equal(json_string_value(json_object_get(gvk, "version")), "v1");
        assert_string_equal(json_string_value(json_object_get(gvk, "group")), "");
        assert_string_equal(json_string_value(json_object_get(
                                    json_array_get(json_object_get(op, "parameters"), 0), "name")),
                            "fieldValidation");
        json_decref(j);
        j = http_json("GET", "/openapi/v2", NULL, NULL, NULL, &code);
        assert_status(j, code, 404, "NotFound", NULL);
        json_decref(j);

        char *out = kubectl(0, "api-resources");
        assert_line(out, "NAME SHORTNAMES APIVERSION NAMESPACED KIND");
        assert_line(out, "pods po v1 true Pod");
        assert_line(out, "services svc v1 true Service");
        assert_line(out, "namespaces ns v1 false Namespace");
        assert_line(out, "deployments deploy apps/v1 true Deployment");
        free(out);

        /* Aggregated discovery echoes the version asked for in Content-Type. */
        struct k8c_test_http_reply hr;
        const char *agg[] = { "v2", "v2beta1" };
        for (size_t k = 0; k < 2; k++) {
                char accept[160], want_ct[160];
                snprintf(accept, sizeof(accept),
                         "application/json;g=apidiscovery.k8s.io;v=%s;as=APIGroupDiscoveryList,application/"
                         "json",
                         agg[k]);
                snprintf(want_ct, sizeof(want_ct),
                         "Content-Type: "
                         "application/json;g=apidiscovery.k8s.io;v=%s;as=APIGroupDiscoveryList\r\n",
                         agg[k]);
                assert_int_equal(k8c_test_http(&srv, "GET", "/api", NULL, NULL, 0, accept, &hr), 0);
                assert_int_equal(hr.code, 200);
                assert_non_null(strstr(hr.headers, want_ct));
                j = json_loads(hr.body, 0, NULL);
                k8c_test_http_reply_free(&hr);
                assert_string_equal(json_string_value(json_object_get(j, "kind")), "APIGroupDiscoveryList");
                json_t *v1 = json_array_get(
                        json_object_get(json_array_get(json_object_get(j, "items"), 0), "versions"), 0);
                assert_string_equal(json_string_value(json_object_get(v1, "version")), "v1");
                bool found = false;
                json_array_foreach(json_object_get(v1, "resources"), i, r0)
                {
                        if (strcmp(json_string_value(json_object_get(r0, "resource")), "pods") == 0) {
                                found = true;
                                assert_string_equal(json_string_value(json_object_get(r0, "scope")),
                                                    "Namespaced");
                                assert_string_equal(json_string_value(json_object_get(
                                                            json_object_get(r0, "responseKind"), "kind")),
                                                    "Pod");
                        }
                }
                assert_true(found);
                json_decref(j);
        }

        out = kubectl(0, "cluster-info");
        char *want = NULL;
        assert_true(asprintf(&want, "Kubernetes control plane is running at %s\n", srv.url) >= 0);
        assert_non_null(strstr(out, want));
        free(want);
        free(out);
}

static void test_bootstrap_objects(void **state)
{
        char *out = kubectl(0, "get namespaces");
        assert_line(out, "NAME STATUS AGE");
        const char *ns[] = { "default", "kube-system", "kube-public", "kube-node-lease" };
        char *sq = squeeze(out);
        for (size_t i = 0; i < 4; i++) {
                char *pfx = NULL;
                assert_true(asprintf(&pfx, "\n%s Active ", ns[i]) >= 0);
                assert_non_null(strstr(sq, pfx));
                free(pfx);
        }
        free(sq);
        free(out);
        out = kubectl(
                0, "get service kubernetes -n default -o jsonpath='{.spec.clusterIP} {.spec.ports[0].port}'");
        assert_string_equal(out, "10.96.0.1 443");
        free(out);
}

/* ---- kubectl CRUD ------------------------------------------------------------- */

static const char *pod_yaml = "apiVersion: v1\n"
                              "kind: Pod\n"
                              "metadata:\n"
                              "  name: web-1\n"
                              "  labels:\n"
                              "    app: web\n"
                              "spec:\n"
                              "  containers:\n"
                              "  - name: c\n"
                              "    image: busybox\n";

static void test_kubectl_create_get_delete(void **state)
{
        char *path = write_file("pod.yaml", pod_yaml);
        char *out = kubectl(0, "create -f %s", path);
        assert_string_equal(out, "pod/web-1 created\n");
        free(out);

        out = kubectl(0, "get pods");
        char *sq = squeeze(out);
        assert_non_null(strstr(sq, "NAME READY STATUS RESTARTS AGE\nweb-1 0/1 Pending 0 "));
        free(sq);
        free(out);

        out = kubectl(0, "get pods -o wide");
        assert_line(out, "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES");
        free(out);

        out = kubectl(0, "get pods -o name");
        assert_string_equal(out, "pod/web-1\n");
        free(out);

        out = kubectl(0, "get pod web-1 -o json");
        json_t *j = json_loads(out, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "kind")), "Pod");
        json_t *md = json_object_get(j, "metadata");
        assert_string_equal(json_string_value(json_object_get(md, "name")), "web-1");
        assert_string_equal(json_string_value(json_object_get(md, "namespace")), "default");
        assert_int_equal(strlen(json_string_value(json_object_get(md, "uid"))), 36);
        assert_int_equal(json_integer_value(json_object_get(md, "generation")), 1);
        assert_non_null(json_string_value(json_object_get(md, "creationTimestamp")));
        assert_true(atoll(json_string_value(json_object_get(md, "resourceVersion"))) > 0);
        json_decref(j);
        free(out);

        out = kubectl(0, "get pod web-1 -o yaml");
        assert_non_null(strstr(out, "kind: Pod\n"));
        assert_non_null(strstr(out, "  name: web-1\n"));
        free(out);

        out = kubectl(0, "get pods -A");
        sq = squeeze(out);
        assert_non_null(strstr(sq, "NAMESPACE NAME READY STATUS RESTARTS AGE\ndefault web-1 0/1 Pending 0 "));
        free(sq);
        free(out);

        out = kubectl(0, "get pods -n kube-system");
        assert_string_equal(out, "No resources found in kube-system namespace.\n");
        free(out);

        out = kubectl(1, "create -f %s", path);
        char *want = NULL;
        assert_true(asprintf(&want,
                             "Error from server (AlreadyExists): error when creating \"%s\": pods \"web-1\" "
                             "already "
                             "exists\n",
                             path) >= 0);
        assert_string_equal(out, want);
        free(want);
        free(out);

        out = kubectl(0, "delete pod web-1");
        assert_string_equal(out, "pod \"web-1\" deleted\n");
        free(out);

        out = kubectl(1, "get pod web-1");
        assert_string_equal(out, "Error from server (NotFound): pods \"web-1\" not found\n");
        free(out);

        out = kubectl(1, "delete pod web-1");
        assert_string_equal(out, "Error from server (NotFound): pods \"web-1\" not found\n");
        free(out);

        /* kubectl follows a 404 with a GET of the namespace and reports that. */
        out = kubectl(1, "get pods -n nonexistent-ns nope");
        assert_string_equal(out, "Error from server (NotFound): namespaces \"nonexistent-ns\" not found\n");
        free(out);
        free(path);
}

static void test_kubectl_invalid_pod(void **state)
{
        char *path = write_file("bad.json",
                                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"bad\"},"
                                "\"spec\":{\"containers\":[{\"name\":\"c\"}]}}");
        char *out = kubectl(1, "create -f %s", path);
        assert_string_equal(out, "The Pod \"bad\" is invalid: spec.containers[0].image: Required value\n");
        free(out);
        free(path);

        /* Missing namespace: 404 naming the namespace. */
        long code;
        json_t *st =
                http_json("POST", "/api/v1/namespaces/missing/pods", "application/json",
                          "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{"
                          "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}",
                          NULL, &code);
        assert_status(st, code, 404, "NotFound", "namespaces \"missing\" not found");
        json_decref(st);
}

static void test_kubectl_selectors_sort_labels(void **state)
{
        create_pod("p-c", "{\"app\":\"web\",\"env\":\"a\"}");
        create_pod("p-a", "{\"app\":\"web\",\"env\":\"b\"}");
        create_pod("p-b", "{\"app\":\"web\",\"env\":\"a\",\"canary\":\"yes\"}");
        create_pod("p-d", "{\"app\":\"db\",\"env\":\"a\"}");
        create_pod("p-e", "{\"app\":\"web\",\"env\":\"c\"}");

        char *out = kubectl(0, "get pods -l 'app=web,env in (a,b),!canary' -o name");
        assert_string_equal(out, "pod/p-a\npod/p-c\n");
        free(out);

        out = kubectl(0, "get pods --sort-by=.metadata.name -o name");
        assert_string_equal(out, "pod/p-a\npod/p-b\npod/p-c\npod/p-d\npod/p-e\n");
        free(out);

        out = kubectl(0, "get pods --sort-by=.metadata.name");
        char *sq = squeeze(out);
        assert_non_null(strstr(sq, "\np-a 0/1 Pending 0 "));
        assert_true(strstr(sq, "\np-a ") < strstr(sq, "\np-b ") &&
                    strstr(sq, "\np-b ") < strstr(sq, "\np-c "));
        free(sq);
        free(out);

        out = kubectl(0, "get pod p-b --show-labels");
        sq = squeeze(out);
        assert_non_null(strstr(sq, "NAME READY STATUS RESTARTS AGE LABELS\np-b 0/1 Pending 0 "));
        assert_non_null(strstr(sq, " app=web,canary=yes,env=a\n"));
        free(sq);
        free(out);

        out = kubectl(0, "get pods --field-selector metadata.name=p-d -o name");
        assert_string_equal(out, "pod/p-d\n");
        free(out);

        out = kubectl(0, "get pods --chunk-size=2 -o name");
        assert_string_equal(out, "pod/p-a\npod/p-b\npod/p-c\npod/p-d\npod/p-e\n");
        free(out);

        out = kubectl(1, "get pods -l 'app in (web'");
        assert_non_null(strstr(out, "Error from server (BadRequest): "));
        free(out);
        delete_all_pods();
}

static void test_kubectl_watch(void **state)
{
        char *cmd = NULL;
        assert_true(
                asprintf(&cmd,
                         "HOME='%s' KUBECONFIG=/dev/null timeout 8 /usr/bin/kubectl --server %s get pods -w "
                         "--output-watch-events 2>&1",
                         srv.home, srv.url) >= 0);
        FILE *p = popen(cmd, "r");
        free(cmd);
        assert_non_null(p);
        sleep(2);
        create_pod("w1", "{\"app\":\"w\"}");
        /* kubectl label needs PATCH (not served yet): change the object with PUT instead. */
        long code;
        json_t *obj = http_json("GET", "/api/v1/namespaces/default/pods/w1", NULL, NULL, NULL, &code);
        json_object_set_new(json_object_get(json_object_get(obj, "metadata"), "labels"), "extra",
                            json_string("1"));
        char *body = json_dumps(obj, JSON_COMPACT);
        json_decref(obj);
        obj = http_json("PUT", "/api/v1/namespaces/default/pods/w1", "application/json", body, NULL, &code);
        assert_int_equal(code, 200);
        json_decref(obj);
        free(body);
        obj = http_json("DELETE", "/api/v1/namespaces/default/pods/w1", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        json_decref(obj);

        char buf[8192];
        size_t n = fread(buf, 1, sizeof(buf) - 1, p);
        buf[n] = '\0';
        pclose(p);
        char *sq = squeeze(buf);
        const char *a = strstr(sq, "\nADDED w1 0/1 Pending 0 ");
        const char *m = strstr(sq, "\nMODIFIED w1 0/1 Pending 0 ");
        const char *d = strstr(sq, "\nDELETED w1 0/1 Pending 0 ");
        if (a == NULL || m == NULL || d == NULL)
                fprintf(stderr, "watch output:\n%s\n", buf);
        assert_non_null(a);
        assert_non_null(m);
        assert_non_null(d);
        assert_true(a < m && m < d);
        assert_non_null(strstr(sq, "EVENT NAME READY STATUS RESTARTS AGE\n"));
        free(sq);
}

/* ---- apply, patch, scale ------------------------------------------------------------ */

static void test_kubectl_apply_patch_scale(void **state)
{
        const char *dep = "{\"apiVersion\":\"apps/"
                          "v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},\"spec\":"
                          "{\"replicas\":%d,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{"
                          "\"metadata\":"
                          "{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
                          "\"image\":\"nginx\","
                          "\"ports\":[{\"containerPort\":80}]}]}}}}";
        char body[1024];
        snprintf(body, sizeof(body), dep, 2);
        char *path = write_file("dep.json", body);
        char *out = kubectl(0, "apply -f %s", path);
        assert_string_equal(out, "deployment.apps/web created\n");
        free(out);
        out = kubectl(0, "apply -f %s", path);
        assert_string_equal(out, "deployment.apps/web unchanged\n");
        free(out);
        snprintf(body, sizeof(body), dep, 3);
        free(write_file("dep.json", body));
        out = kubectl(0, "apply -f %s", path);
        assert_string_equal(out, "deployment.apps/web configured\n");
        free(out);
        /* Strategic merge keeps the container ports (a JSON merge would drop them). */
        out = kubectl(
                0, "get deploy web -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].ports[0]."
                   "containerPort} {.metadata.generation}'");
        assert_string_equal(out, "3 80 2");
        free(out);

        out = kubectl(0, "label deploy web tier=front");
        assert_string_equal(out, "deployment.apps/web labeled\n");
        free(out);
        out = kubectl(0, "get deploy web -o jsonpath='{.metadata.labels.tier} {.metadata.generation}'");
        assert_string_equal(out, "front 2");
        free(out);
        out = kubectl(0, "label deploy web tier-");
        assert_string_equal(out, "deployment.apps/web unlabeled\n");
        free(out);
        out = kubectl(1, "label deploy web stale=1 --resource-version=1");
        assert_string_equal(
                out,
                "Error from server (Conflict): Operation cannot be fulfilled on deployments.apps \"web\": "
                "the object has been modified; please apply your changes to the latest version and try "
                "again\n");
        free(out);

        out = kubectl(0, "scale deploy web --replicas=5");
        assert_string_equal(out, "deployment.apps/web scaled\n");
        free(out);
        long code;
        json_t *sc = http_json("GET", "/apis/apps/v1/namespaces/default/deployments/web/scale", NULL, NULL,
                               NULL, &code);
        assert_int_equal(code, 200);
        assert_string_equal(json_string_value(json_object_get(sc, "kind")), "Scale");
        assert_string_equal(json_string_value(json_object_get(sc, "apiVersion")), "autoscaling/v1");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(sc, "spec"), "replicas")), 5);
        assert_string_equal(json_string_value(json_object_get(json_object_get(sc, "status"), "selector")),
                            "app=web");
        json_decref(sc);
        out = kubectl(0, "scale deploy web --current-replicas=5 --replicas=1");
        assert_string_equal(out, "deployment.apps/web scaled\n");
        free(out);

        out = kubectl(0, "patch deploy web --type=json -p "
                         "'[{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":7}]'");
        assert_string_equal(out, "deployment.apps/web patched\n");
        free(out);
        out = kubectl(0, "patch deploy web --type=merge -p '{\"spec\":{\"paused\":true}}'");
        assert_string_equal(out, "deployment.apps/web patched\n");
        free(out);
        out = kubectl(0, "get deploy web -o jsonpath='{.spec.replicas} {.spec.paused}'");
        assert_string_equal(out, "7 true");
        free(out);

        /* Server-side apply of replicas 3 over the 7 that kubectl-patch set is a conflict, as in
         * Kubernetes; --force-conflicts takes the field. */
        out = kubectl(1, "apply --server-side -f %s", path);
        assert_non_null(strstr(out,
                               "error: Apply failed with 1 conflict: conflict with \"kubectl-patch\" using "
                               "apps/v1 at "));
        assert_non_null(strstr(out, ": .spec.replicas\n"));
        free(out);
        out = kubectl(0, "apply --server-side --force-conflicts -f %s", path);
        assert_string_equal(out, "deployment.apps/web serverside-applied\n");
        free(out);
        out = kubectl(0, "get deploy web -o jsonpath='{.spec.replicas}'");
        assert_string_equal(out, "3");
        free(out);

        json_t *st = http_json("PATCH", "/apis/apps/v1/namespaces/default/deployments/web", "text/plain",
                               "{}", NULL, &code);
        assert_status(st, code, 415, "UnsupportedMediaType", NULL);
        json_decref(st);
        st = http_json("PATCH", "/apis/apps/v1/namespaces/default/deployments/nope",
                       "application/merge-patch+json", "{}", NULL, &code);
        assert_status(st, code, 404, "NotFound", "deployments.apps \"nope\" not found");
        json_decref(st);

        out = kubectl(0, "delete -f %s", path);
        assert_string_equal(out, "deployment.apps \"web\" deleted\n");
        free(out);
        free(path);
}

/* ---- server-side apply: managedFields, conflicts, force ------------------------------ */

static json_t *managed_entry(json_t *obj, const char *manager, const char *operation)
{
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "managedFields"), i, e)
        {
                if (strcmp(json_string_value(json_object_get(e, "manager")), manager) == 0 &&
                    strcmp(json_string_value(json_object_get(e, "operation")), operation) == 0)
                        return e;
        }
        return NULL;
}

static json_t *fields_at(json_t *entry, const char *const *path)
{
        json_t *n = json_object_get(entry, "fieldsV1");
        for (; *path != NULL && n != NULL; path++)
                n = json_object_get(n, *path);
        return n;
}

static void test_server_side_apply_managed_fields(void **state)
{
        const char *dep =
                "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"ssa\","
                "\"labels\":{\"app\":\"ssa\"%s}},\"spec\":{\"replicas\":%d,\"selector\":{"
                "\"matchLabels\":{\"app\":\"ssa\"}},\"template\":{\"metadata\":{\"labels\":{"
                "\"app\":\"ssa\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\","
                "\"ports\":[{\"containerPort\":80}]}]}}}}";
        char body[1024];
        snprintf(body, sizeof(body), dep, ",\"extra\":\"x\"", 2);
        char *path = write_file("ssa.json", body);
        char *out = kubectl(0, "apply --server-side -f %s", path);
        assert_string_equal(out, "deployment.apps/ssa serverside-applied\n");
        free(out);

        /* The Apply entry, in the FieldsV1 format. */
        long code;
        json_t *obj =
                http_json("GET", "/apis/apps/v1/namespaces/default/deployments/ssa", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        json_t *e = managed_entry(obj, "kubectl", "Apply");
        assert_non_null(e);
        assert_string_equal(json_string_value(json_object_get(e, "apiVersion")), "apps/v1");
        assert_string_equal(json_string_value(json_object_get(e, "fieldsType")), "FieldsV1");
        assert_int_equal(strlen(json_string_value(json_object_get(e, "time"))), 20);
        assert_non_null(fields_at(e, (const char *[]){ "f:spec", "f:replicas", NULL }));
        assert_non_null(fields_at(e, (const char *[]){ "f:metadata", "f:labels", "f:extra", NULL }));
        assert_non_null(fields_at(e, (const char *[]){ "f:spec", "f:template", "f:spec", "f:containers",
                                                       "k:{\"name\":\"c\"}", ".", NULL }));
        assert_non_null(fields_at(e, (const char *[]){ "f:spec", "f:template", "f:spec", "f:containers",
                                                       "k:{\"name\":\"c\"}", "f:ports",
                                                       "k:{\"containerPort\":80,\"protocol\":\"TCP\"}",
                                                       "f:containerPort", NULL }));
        /* Server defaults are nobody's in an Apply entry. */
        assert_null(fields_at(e, (const char *[]){ "f:spec", "f:revisionHistoryLimit", NULL }));
        json_decref(obj);

        /* Applying the same again, or a patch that changes nothing, writes nothing: same
         * resourceVersion. */
        out = kubectl(0, "get deploy ssa -o jsonpath='{.metadata.resourceVersion}'");
        char *rv0 = out;
        out = kubectl(0, "apply --server-side -f %s", path);
        assert_string_equal(out, "deployment.apps/ssa serverside-applied\n");
        free(out);
        obj = http_json("PATCH", "/apis/apps/v1/namespaces/default/deployments/ssa?fieldManager=kubectl",
                        "application/merge-patch+json", "{\"spec\":{\"replicas\":2}}", NULL, &code);
        assert_int_equal(code, 200);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion")), rv0);
        json_decref(obj);
        out = kubectl(0, "get deploy ssa -o jsonpath='{.metadata.resourceVersion}'");
        assert_string_equal(out, rv0);
        free(out);
        free(rv0);

        /* kubectl hides managedFields unless asked. */
        out = kubectl(0, "get deploy ssa -o yaml");
        assert_null(strstr(out, "managedFields"));
        free(out);
        out = kubectl(0, "get deploy ssa -o yaml --show-managed-fields");
        assert_non_null(strstr(out, "managedFields:"));
        assert_non_null(strstr(out, "manager: kubectl\n"));
        assert_non_null(strstr(out, "operation: Apply\n"));
        free(out);

        /* Another manager changing replicas: a conflict, with Kubernetes' words and causes. */
        snprintf(body, sizeof(body), dep, "", 5);
        char *path5 = write_file("ssa5.json", body);
        out = kubectl(1, "apply --server-side --field-manager=other -f %s", path5);
        assert_non_null(strstr(
                out, "error: Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas\n"));
        free(out);
        json_t *st = http_json("PATCH", "/apis/apps/v1/namespaces/default/deployments/ssa?fieldManager=other",
                               "application/apply-patch+yaml", body, NULL, &code);
        assert_status(st, code, 409, "Conflict",
                      "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas");
        json_t *cause = json_array_get(json_object_get(json_object_get(st, "details"), "causes"), 0);
        assert_string_equal(json_string_value(json_object_get(cause, "reason")), "FieldManagerConflict");
        assert_string_equal(json_string_value(json_object_get(cause, "message")),
                            "conflict with \"kubectl\"");
        assert_string_equal(json_string_value(json_object_get(cause, "field")), ".spec.replicas");
        json_decref(st);
        /* Nothing was written. */
        out = kubectl(0, "get deploy ssa -o jsonpath='{.spec.replicas}'");
        assert_string_equal(out, "2");
        free(out);

        /* Apply needs a field manager. */
        st = http_json("PATCH", "/apis/apps/v1/namespaces/default/deployments/ssa",
                       "application/apply-patch+yaml", body, NULL, &code);
        assert_status(st, code, 400, "BadRequest", NULL);
        json_decref(st);

        /* --force-conflicts moves replicas to the new manager. */
        out = kubectl(0, "apply --server-side --field-manager=other --force-conflicts -f %s", path5);
        assert_string_equal(out, "deployment.apps/ssa serverside-applied\n");
        free(out);
        obj = http_json("GET", "/apis/apps/v1/namespaces/default/deployments/ssa", NULL, NULL, NULL, &code);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(obj, "spec"), "replicas")), 5);
        assert_null(fields_at(managed_entry(obj, "kubectl", "Apply"),
                              (const char *[]){ "f:spec", "f:replicas", NULL }));
        assert_non_null(fields_at(managed_entry(obj, "other", "Apply"),
                                  (const char *[]){ "f:spec", "f:replicas", NULL }));
        /* Both apply the image with the same value: shared, no conflict. */
        assert_non_null(fields_at(managed_entry(obj, "kubectl", "Apply"),
                                  (const char *[]){ "f:spec", "f:template", "f:spec", "f:containers",
                                                    "k:{\"name\":\"c\"}", "f:image", NULL }));
        json_decref(obj);

        /* The first manager stops applying the label "extra" it alone owned: it goes. Its replicas
         * (now other's) stays. */
        snprintf(body, sizeof(body), dep, "", 5);
        free(write_file("ssa.json", body));
        out = kubectl(0, "apply --server-side -f %s", path);
        assert_string_equal(out, "deployment.apps/ssa serverside-applied\n");
        free(out);
        out = kubectl(0, "get deploy ssa -o jsonpath='{.metadata.labels} {.spec.replicas}'");
        assert_string_equal(out, "{\"app\":\"ssa\"} 5");
        free(out);

        /* Updates record Update entries and take the fields they change from the others. */
        out = kubectl(0, "label deploy ssa tier=front");
        free(out);
        out = kubectl(0, "scale deploy ssa --replicas=4");
        free(out);
        obj = http_json("GET", "/apis/apps/v1/namespaces/default/deployments/ssa", NULL, NULL, NULL, &code);
        e = managed_entry(obj, "kubectl-label", "Update");
        assert_non_null(fields_at(e, (const char *[]){ "f:metadata", "f:labels", "f:tier", NULL }));
        assert_null(fields_at(managed_entry(obj, "other", "Apply"),
                              (const char *[]){ "f:spec", "f:replicas", NULL }));
        json_decref(obj);
        /* Applying replicas again now conflicts with that Update manager (named with its time). */
        out = kubectl(1, "apply --server-side --field-manager=other -f %s", path5);
        assert_non_null(
                strstr(out, "conflict with \"kubectl\" with subresource \"scale\" using apps/v1 at "));
        free(out);

        /* A create is an Update of every field it set, defaults included. */
        out = kubectl(0, "delete deploy ssa");
        free(out);
        out = kubectl(0, "create -f %s", path);
        assert_string_equal(out, "deployment.apps/ssa created\n");
        free(out);
        obj = http_json("GET", "/apis/apps/v1/namespaces/default/deployments/ssa", NULL, NULL, NULL, &code);
        e = managed_entry(obj, "kubectl-create", "Update");
        assert_non_null(e);
        assert_non_null(fields_at(e, (const char *[]){ "f:spec", "f:revisionHistoryLimit", NULL }));
        assert_non_null(fields_at(e, (const char *[]){ "f:metadata", "f:labels", ".", NULL }));
        assert_null(fields_at(e, (const char *[]){ "f:status", NULL }));
        json_decref(obj);
        out = kubectl(0, "delete deploy ssa");
        free(out);
        free(path);
        free(path5);

        /* A status write is its writer's Update entry for the status subresource, owning status
         * fields only; the creator keeps its spec fields. */
        create_pod("mf", "{\"app\":\"mf\"}");
        obj = http_json("PATCH", "/api/v1/namespaces/default/pods/mf/status?fieldManager=kubelet",
                        "application/merge-patch+json", "{\"status\":{\"phase\":\"Running\"}}", NULL, &code);
        assert_int_equal(code, 200);
        e = managed_entry(obj, "kubelet", "Update");
        assert_non_null(e);
        assert_string_equal(json_string_value(json_object_get(e, "subresource")), "status");
        assert_non_null(fields_at(e, (const char *[]){ "f:status", "f:phase", NULL }));
        assert_null(fields_at(e, (const char *[]){ "f:spec", NULL }));
        size_t i;
        json_t *it;
        bool creator = false;
        json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "managedFields"), i, it)
        {
                if (json_object_get(it, "subresource") == NULL)
                        creator |= fields_at(it, (const char *[]){ "f:spec", "f:containers", NULL }) != NULL;
        }
        assert_true(creator);
        json_decref(obj);
        delete_all_pods();
}

/* ---- every example manifest, and YAML bodies ---------------------------------------- */

static void test_kubectl_examples(void **state)
{
        static const char *const files[][2] = {
                { "namespace.yaml", "namespace/team-a created\n" },
                { "configmap.yaml", "configmap/web-config created\n" },
                { "deployment.yaml", "deployment.apps/web-deploy created\n" },
                { "endpoints.yaml", "endpoints/external-db created\n" },
                { "endpointslice.yaml", "endpointslice.discovery.k8s.io/external-db-1 created\n" },
                { "event.yaml", "event/web.manual-1 created\n" },
                { "hpa.yaml", "horizontalpodautoscaler.autoscaling/web-deploy created\n" },
                { "lease.yaml", "lease.coordination.k8s.io/example-leader created\n" },
                { "node.yaml", "node/node-test created\n" },
                { "pod.yaml", "pod/web created\n" },
                { "pv.yaml", "persistentvolume/pv-local-1 created\n" },
                { "pvc.yaml", "persistentvolumeclaim/data created\n" },
                { "replicaset.yaml", "replicaset.apps/web-rs created\n" },
                { "secret.yaml", "secret/web-credentials created\n" },
                { "service.yaml", "service/web created\n" },
        };
        const char *src = getenv("K8C_SRCDIR") != NULL ? getenv("K8C_SRCDIR") : ".";
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                char *out = kubectl(0, "create -f %s/examples/api/%s", src, files[i][0]);
                assert_string_equal(out, files[i][1]);
                free(out);
        }
        char *out = kubectl(0, "get -f %s/examples/api/ -o name", src);
        assert_string_equal(
                out, "configmap/web-config\ndeployment.apps/web-deploy\nendpoints/external-db\n"
                     "endpointslice.discovery.k8s.io/external-db-1\nevent/web.manual-1\n"
                     "horizontalpodautoscaler.autoscaling/web-deploy\n"
                     "lease.coordination.k8s.io/example-leader\nnamespace/team-a\nnode/node-test\npod/web\n"
                     "persistentvolume/pv-local-1\npersistentvolumeclaim/data\nreplicaset.apps/web-rs\n"
                     "secret/web-credentials\nservice/web\n");
        free(out);
        out = kubectl(0, "get svc web -o jsonpath='{.spec.type} {.spec.ports[0].nodePort}'");
        assert_string_equal(out, "NodePort 30080");
        free(out);
        out = kubectl(0, "delete -f %s/examples/api/ --wait=false", src);
        assert_non_null(strstr(out, "pod \"web\" deleted\n"));
        assert_non_null(strstr(out, "service \"web\" deleted\n"));
        free(out);
        out = kubectl(0, "get pods,svc -n default -o name");
        assert_string_equal(out, "service/kubernetes\n");
        free(out);
}

static void test_yaml_bodies(void **state)
{
        long code;
        json_t *o =
                http_json("POST", "/api/v1/namespaces/default/configmaps", "application/yaml",
                          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y1\ndata:\n  port: \"80\"\n",
                          NULL, &code);
        assert_int_equal(code, 201);
        assert_string_equal(json_string_value(json_object_get(json_object_get(o, "data"), "port")), "80");
        json_decref(o);
        long long rev0 = k8c_test_apiserver_revision(&srv);
        json_t *st = http_json("POST", "/api/v1/namespaces/default/configmaps", "application/yaml",
                               "apiVersion: v1\nkind: [ConfigMap\n", NULL, &code);
        assert_status(st, code, 400, "BadRequest", NULL);
        json_decref(st);
        assert_int_equal(k8c_test_apiserver_revision(&srv), rev0);
        json_decref(http_json("DELETE", "/api/v1/namespaces/default/configmaps/y1", NULL, NULL, NULL, &code));
        assert_int_equal(code, 200);
}

static void test_finalizers_and_delete_collection(void **state)
{
        long code;
        /* Orphan propagation adds the orphan finalizer: the object is only marked. */
        create_pod("f1", "{\"grp\":\"f\"}");
        json_t *o = http_json("DELETE", "/api/v1/namespaces/default/pods/f1", "application/json",
                              "{\"propagationPolicy\":\"Orphan\"}", NULL, &code);
        assert_int_equal(code, 200);
        json_t *md = json_object_get(o, "metadata");
        assert_non_null(json_string_value(json_object_get(md, "deletionTimestamp")));
        assert_string_equal(json_string_value(json_array_get(json_object_get(md, "finalizers"), 0)),
                            "orphan");
        json_decref(o);
        o = http_json("GET", "/api/v1/namespaces/default/pods/f1", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        /* Removing the last finalizer of an object being deleted removes it. */
        json_object_set_new(json_object_get(o, "metadata"), "finalizers", json_array());
        char *body = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        o = http_json("PUT", "/api/v1/namespaces/default/pods/f1", "application/json", body, NULL, &code);
        free(body);
        assert_int_equal(code, 200);
        json_decref(o);
        o = http_json("GET", "/api/v1/namespaces/default/pods/f1", NULL, NULL, NULL, &code);
        assert_status(o, code, 404, "NotFound", "pods \"f1\" not found");
        json_decref(o);

        /* Preconditions. */
        create_pod("f2", "{\"grp\":\"f\"}");
        o = http_json("DELETE", "/api/v1/namespaces/default/pods/f2", "application/json",
                      "{\"preconditions\":{\"uid\":\"nope\"}}", NULL, &code);
        assert_status(o, code, 409, "Conflict", NULL);
        json_decref(o);

        /* deletecollection with a selector. */
        create_pod("f3", "{\"grp\":\"f\"}");
        create_pod("keep", "{\"grp\":\"k\"}");
        o = http_json("DELETE", "/api/v1/namespaces/default/pods?labelSelector=grp%3Df", NULL, NULL, NULL,
                      &code);
        assert_int_equal(code, 200);
        assert_string_equal(json_string_value(json_object_get(o, "kind")), "PodList");
        assert_int_equal(json_array_size(json_object_get(o, "items")), 2);
        json_decref(o);
        char *out = kubectl(0, "get pods -o name");
        assert_string_equal(out, "pod/keep\n");
        free(out);
        delete_all_pods();
}

static void test_namespace_lifecycle(void **state)
{
        char *path = write_file("doomed.json",
                                "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":"
                                "\"doomed\"}}");
        char *out = kubectl(0, "create -f %s", path);
        assert_string_equal(out, "namespace/doomed created\n");
        free(out);
        free(path);
        /* kubectl create namespace sends protobuf. */
        out = kubectl(0, "create namespace pb");
        assert_string_equal(out, "namespace/pb created\n");
        free(out);
        /* Content can be made while it is active (the apiserver now knows it as active). */
        long code;
        json_t *st =
                http_json("POST", "/api/v1/namespaces/doomed/configmaps", "application/json",
                          "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"before\"}}",
                          NULL, &code);
        assert_int_equal(code, 201);
        json_decref(st);
        out = kubectl(0, "delete namespace doomed --wait=false");
        assert_string_equal(out, "namespace \"doomed\" deleted\n");
        free(out);
        out = kubectl(0, "get namespace doomed --no-headers");
        char *sq = squeeze(out);
        assert_memory_equal(sq, "doomed Terminating ", 19);
        free(sq);
        free(out);
        /* Right after the delete was answered, not once the watch caught up. */
        st = http_json("POST", "/api/v1/namespaces/doomed/configmaps", "application/json",
                       "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"}}", NULL,
                       &code);
        assert_status(st, code, 403, "Forbidden",
                      "unable to create new content in namespace doomed because it is being terminated");
        json_decref(st);
        /* The namespace controller's last step: empty spec.finalizers through /finalize. */
        json_t *ns = http_json("GET", "/api/v1/namespaces/doomed", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        json_object_set_new(json_object_get(ns, "spec"), "finalizers", json_array());
        char *body = json_dumps(ns, JSON_COMPACT);
        json_decref(ns);
        ns = http_json("PUT", "/api/v1/namespaces/doomed/finalize", "application/json", body, NULL, &code);
        free(body);
        assert_int_equal(code, 200);
        json_decref(ns);
        /* Gone: a create right after is refused as in a namespace that never existed. */
        st = http_json("POST", "/api/v1/namespaces/doomed/configmaps", "application/json",
                       "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"after\"}}",
                       NULL, &code);
        assert_status(st, code, 404, "NotFound", "namespaces \"doomed\" not found");
        json_decref(st);
        out = kubectl(1, "get namespace doomed");
        assert_string_equal(out, "Error from server (NotFound): namespaces \"doomed\" not found\n");
        free(out);
        /* Made again under the same name: active again, content can be created. */
        out = kubectl(0, "create namespace doomed");
        assert_string_equal(out, "namespace/doomed created\n");
        free(out);
        st = http_json("POST", "/api/v1/namespaces/doomed/configmaps", "application/json",
                       "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"again\"}}",
                       NULL, &code);
        assert_int_equal(code, 201);
        json_decref(st);
}

static void test_pod_binding(void **state)
{
        create_pod("b1", "{}");
        long code;
        const char *bind =
                "{\"kind\":\"Binding\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"b1\"},\"target\":{"
                "\"kind\":\"Node\",\"name\":\"node-1\"}}";
        json_t *st = http_json("POST", "/api/v1/namespaces/default/pods/b1/binding", "application/json", bind,
                               NULL, &code);
        assert_int_equal(code, 201);
        assert_string_equal(json_string_value(json_object_get(st, "status")), "Success");
        json_decref(st);
        json_t *pod = http_json("GET", "/api/v1/namespaces/default/pods/b1", NULL, NULL, NULL, &code);
        assert_string_equal(json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName")),
                            "node-1");
        json_t *cond = json_array_get(json_object_get(json_object_get(pod, "status"), "conditions"), 0);
        assert_string_equal(json_string_value(json_object_get(cond, "type")), "PodScheduled");
        assert_string_equal(json_string_value(json_object_get(cond, "status")), "True");
        json_decref(pod);
        st = http_json("POST", "/api/v1/namespaces/default/pods/b1/binding", "application/json", bind, NULL,
                       &code);
        assert_status(
                st, code, 409, "Conflict",
                "Operation cannot be fulfilled on pods/binding \"b1\": pod b1 is already assigned to node "
                "\"node-1\"");
        json_decref(st);
        st = http_json("POST", "/api/v1/namespaces/default/pods/none/binding", "application/json", bind, NULL,
                       &code);
        assert_status(st, code, 404, "NotFound", "pods \"none\" not found");
        json_decref(st);
        char *out = kubectl(0, "get pod b1 -o wide --no-headers");
        char *sq = squeeze(out);
        assert_non_null(strstr(sq, " node-1 <none> <none>\n"));
        free(sq);
        free(out);
        delete_all_pods();
}

/* ---- graceful deletion and eviction ------------------------------------------------ */

static void bind_pod(const char *name, const char *node)
{
        char *path = NULL, *body = NULL;
        assert_true(asprintf(&path, "/api/v1/namespaces/default/pods/%s/binding", name) >= 0);
        assert_true(asprintf(&body,
                             "{\"kind\":\"Binding\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%s\"},"
                             "\"target\":{\"kind\":\"Node\",\"name\":\"%s\"}}",
                             name, node) >= 0);
        long code;
        json_t *st = http_json("POST", path, "application/json", body, NULL, &code);
        assert_int_equal(code, 201);
        json_decref(st);
        free(path);
        free(body);
}

/* The pod's metadata.deletionGracePeriodSeconds, -1 when absent, -2 when the pod is gone. */
static long pod_grace(const char *name, char **ret_deletion_ts)
{
        char *path = NULL;
        assert_true(asprintf(&path, "/api/v1/namespaces/default/pods/%s", name) >= 0);
        long code;
        json_t *pod = http_json("GET", path, NULL, NULL, NULL, &code);
        free(path);
        long g = -2;
        if (code == 200) {
                json_t *md = json_object_get(pod, "metadata");
                json_t *gp = json_object_get(md, "deletionGracePeriodSeconds");
                g = json_is_integer(gp) ? (long)json_integer_value(gp) : -1;
                if (ret_deletion_ts != NULL) {
                        const char *ts = json_string_value(json_object_get(md, "deletionTimestamp"));
                        *ret_deletion_ts = ts != NULL ? strdup(ts) : NULL;
                }
        } else {
                assert_int_equal(code, 404);
        }
        json_decref(pod);
        return g;
}

static time_t parse_ts(const char *ts)
{
        struct tm tm = { 0 };
        assert_non_null(ts);
        assert_non_null(strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm));
        return timegm(&tm);
}

static void test_pod_graceful_deletion(void **state)
{
        /* Scheduled, default grace: kubectl delete --wait=false marks it and it stays. */
        create_pod("g1", "{}");
        bind_pod("g1", "node-1");
        time_t before = time(NULL);
        char *out = kubectl(0, "delete pod g1 --wait=false");
        assert_string_equal(out, "pod \"g1\" deleted\n");
        free(out);
        char *ts = NULL;
        assert_int_equal(pod_grace("g1", &ts), 30);
        time_t dt = parse_ts(ts);
        assert_true(dt >= before + 30 && dt <= time(NULL) + 30);
        free(ts);
        out = kubectl(0, "get pod g1 --no-headers");
        char *sq = squeeze(out);
        assert_non_null(strstr(sq, "g1 0/1 Terminating 0 "));
        free(sq);
        free(out);

        /* The kubelet's status writes during the grace period do not remove it. */
        long code;
        json_t *sp = http_json("PATCH", "/api/v1/namespaces/default/pods/g1/status",
                               "application/merge-patch+json", "{\"status\":{\"phase\":\"Running\"}}", NULL,
                               &code);
        assert_int_equal(code, 200);
        json_decref(sp);
        assert_int_equal(pod_grace("g1", NULL), 30);

        /* A later delete may only shorten the grace: 60 changes nothing, 10 shortens it. */
        json_t *d = http_json("DELETE", "/api/v1/namespaces/default/pods/g1", "application/json",
                              "{\"gracePeriodSeconds\":60}", NULL, &code);
        assert_int_equal(code, 200);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "metadata"),
                                                            "deletionGracePeriodSeconds")),
                         30);
        json_decref(d);
        assert_int_equal(pod_grace("g1", NULL), 30);
        before = time(NULL);
        d = http_json("DELETE", "/api/v1/namespaces/default/pods/g1?gracePeriodSeconds=10", NULL, NULL, NULL,
                      &code);
        assert_int_equal(code, 200);
        json_decref(d);
        assert_int_equal(pod_grace("g1", &ts), 10);
        dt = parse_ts(ts);
        assert_true(dt >= before + 10 && dt <= time(NULL) + 10);
        free(ts);

        /* The kubelet's delete with grace 0 removes it. */
        d = http_json("DELETE", "/api/v1/namespaces/default/pods/g1", "application/json",
                      "{\"gracePeriodSeconds\":0}", NULL, &code);
        assert_int_equal(code, 200);
        json_decref(d);
        assert_int_equal(pod_grace("g1", NULL), -2);

        /* spec.terminationGracePeriodSeconds is the default when the request names none. */
        d = http_json("POST", "/api/v1/namespaces/default/pods", "application/json",
                      "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"g2\"},\"spec\":{"
                      "\"terminationGracePeriodSeconds\":7,\"containers\":[{\"name\":\"c\",\"image\":"
                      "\"busybox\"}]}}",
                      NULL, &code);
        assert_int_equal(code, 201);
        json_decref(d);
        bind_pod("g2", "node-1");
        d = http_json("DELETE", "/api/v1/namespaces/default/pods/g2", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        json_decref(d);
        assert_int_equal(pod_grace("g2", NULL), 7);
        /* --grace-period=0 --force removes it at once. */
        out = kubectl(0, "delete pod g2 --grace-period=0 --force");
        assert_non_null(strstr(out, "pod \"g2\" force deleted\n"));
        free(out);
        assert_int_equal(pod_grace("g2", NULL), -2);

        /* Unscheduled: gone at once, even with a requested grace. */
        create_pod("g3", "{}");
        d = http_json("DELETE", "/api/v1/namespaces/default/pods/g3", "application/json",
                      "{\"gracePeriodSeconds\":20}", NULL, &code);
        assert_int_equal(code, 200);
        json_decref(d);
        assert_int_equal(pod_grace("g3", NULL), -2);

        /* Finished (phase Succeeded): gone at once. */
        create_pod("g4", "{}");
        bind_pod("g4", "node-1");
        d = http_json("PATCH", "/api/v1/namespaces/default/pods/g4/status", "application/merge-patch+json",
                      "{\"status\":{\"phase\":\"Succeeded\"}}", NULL, &code);
        assert_int_equal(code, 200);
        json_decref(d);
        out = kubectl(0, "delete pod g4");
        assert_string_equal(out, "pod \"g4\" deleted\n");
        free(out);
        assert_int_equal(pod_grace("g4", NULL), -2);
        delete_all_pods();
}

static void test_pod_eviction(void **state)
{
        create_pod("e1", "{}");
        bind_pod("e1", "node-1");
        long code;
        json_t *st = http_json("POST", "/api/v1/namespaces/default/pods/e1/eviction", "application/json",
                               "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":"
                               "\"e1\",\"namespace\":\"default\"}}",
                               NULL, &code);
        assert_int_equal(code, 201);
        assert_string_equal(json_string_value(json_object_get(st, "kind")), "Status");
        assert_string_equal(json_string_value(json_object_get(st, "status")), "Success");
        assert_int_equal(json_integer_value(json_object_get(st, "code")), 201);
        json_decref(st);
        assert_int_equal(pod_grace("e1", NULL), 30);
        /* A second eviction with a shorter grace in deleteOptions shortens it; 0 removes the pod. */
        st = http_json("POST", "/api/v1/namespaces/default/pods/e1/eviction", "application/json",
                       "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"e1\"},"
                       "\"deleteOptions\":{\"gracePeriodSeconds\":5}}",
                       NULL, &code);
        assert_int_equal(code, 201);
        json_decref(st);
        assert_int_equal(pod_grace("e1", NULL), 5);
        st = http_json("POST", "/api/v1/namespaces/default/pods/e1/eviction", "application/json",
                       "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"e1\"},"
                       "\"deleteOptions\":{\"gracePeriodSeconds\":0}}",
                       NULL, &code);
        assert_int_equal(code, 201);
        json_decref(st);
        assert_int_equal(pod_grace("e1", NULL), -2);
        /* An unscheduled pod is evicted at once. */
        create_pod("e2", "{}");
        st = http_json("POST", "/api/v1/namespaces/default/pods/e2/eviction", "application/json",
                       "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"e2\"}}",
                       NULL, &code);
        assert_int_equal(code, 201);
        json_decref(st);
        assert_int_equal(pod_grace("e2", NULL), -2);
        /* Not an Eviction: 400, the pod untouched. */
        create_pod("e3", "{}");
        bind_pod("e3", "node-1");
        st = http_json("POST", "/api/v1/namespaces/default/pods/e3/eviction", "application/json",
                       "{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"e3\"}}", NULL,
                       &code);
        assert_status(st, code, 400, "BadRequest", "expected kind Eviction, got Binding");
        json_decref(st);
        assert_int_equal(pod_grace("e3", NULL), -1);
        /* Missing pod: the pod's 404. */
        st = http_json(
                "POST", "/api/v1/namespaces/default/pods/none/eviction", "application/json",
                "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"none\"}}", NULL,
                &code);
        assert_status(st, code, 404, "NotFound", "pods \"none\" not found");
        json_decref(st);
        /* Discovery lists pods/eviction (policy/v1 Eviction, create). */
        json_t *j = http_json("GET", "/api/v1", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        bool found = false;
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(j, "resources"), i, r)
        {
                if (strcmp(json_string_value(json_object_get(r, "name")), "pods/eviction") != 0)
                        continue;
                found = true;
                assert_string_equal(json_string_value(json_object_get(r, "kind")), "Eviction");
                assert_string_equal(json_string_value(json_object_get(r, "group")), "policy");
                assert_string_equal(json_string_value(json_object_get(r, "version")), "v1");
                assert_true(json_is_true(json_object_get(r, "namespaced")));
                assert_string_equal(json_string_value(json_array_get(json_object_get(r, "verbs"), 0)),
                                    "create");
                assert_int_equal(json_array_size(json_object_get(r, "verbs")), 1);
        }
        assert_true(found);
        json_decref(j);
        /* And in aggregated discovery, as a subresource of pods. */
        j = http_json("GET", "/api", NULL, NULL,
                      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", &code);
        assert_int_equal(code, 200);
        found = false;
        json_t *ver = json_array_get(
                json_object_get(json_array_get(json_object_get(j, "items"), 0), "versions"), 0);
        json_array_foreach(json_object_get(ver, "resources"), i, r)
        {
                if (strcmp(json_string_value(json_object_get(r, "resource")), "pods") != 0)
                        continue;
                size_t k;
                json_t *sub;
                json_array_foreach(json_object_get(r, "subresources"), k, sub)
                {
                        if (strcmp(json_string_value(json_object_get(sub, "subresource")), "eviction") != 0)
                                continue;
                        found = true;
                        json_t *rk = json_object_get(sub, "responseKind");
                        assert_string_equal(json_string_value(json_object_get(rk, "group")), "policy");
                        assert_string_equal(json_string_value(json_object_get(rk, "version")), "v1");
                        assert_string_equal(json_string_value(json_object_get(rk, "kind")), "Eviction");
                }
        }
        assert_true(found);
        json_decref(j);
        delete_all_pods();
}

/* ---- events TTL --------------------------------------------------------------------- */

static double mono_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long get_code(const char *path)
{
        long code;
        json_decref(http_json("GET", path, NULL, NULL, NULL, &code));
        return code;
}

static void create_event(const char *name)
{
        char ts[32], *body = NULL;
        time_t now = time(NULL);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
        assert_true(asprintf(&body,
                             "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"%s\","
                             "\"namespace\":\"default\"},\"involvedObject\":{\"kind\":\"Pod\",\"name\":"
                             "\"web\",\"namespace\":\"default\"},\"reason\":\"Started\",\"message\":\"hi\","
                             "\"type\":\"Normal\",\"count\":1,\"firstTimestamp\":\"%s\",\"lastTimestamp\":"
                             "\"%s\",\"source\":{\"component\":\"test\"}}",
                             name, ts, ts) >= 0);
        long code;
        json_t *j =
                http_json("POST", "/api/v1/namespaces/default/events", "application/json", body, NULL, &code);
        assert_int_equal(code, 201);
        json_decref(j);
        free(body);
}

/* A recurring event: the count goes up and lastTimestamp moves to now (what a recorder does). */
static void renew_event(const char *name, int count)
{
        char ts[32], *body = NULL, *path = NULL;
        time_t now = time(NULL);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
        assert_true(asprintf(&body, "{\"count\":%d,\"lastTimestamp\":\"%s\"}", count, ts) >= 0);
        assert_true(asprintf(&path, "/api/v1/namespaces/default/events/%s", name) >= 0);
        long code;
        json_t *j = http_json("PATCH", path, "application/merge-patch+json", body, NULL, &code);
        assert_int_equal(code, 200);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), count);
        json_decref(j);
        free(body);
        free(path);
}

static void test_event_ttl(void **state)
{
        other = srv;
        const char *args[] = { "--event-ttl=2s", NULL };
        assert_int_equal(k8c_test_apiserver_start(&srv, args), 0);
        long code;
        json_decref(
                http_json("POST", "/api/v1/namespaces/default/configmaps", "application/json",
                          "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"keep\"},"
                          "\"data\":{\"a\":\"1\"}}",
                          NULL, &code));
        assert_int_equal(code, 201);
        double t0 = mono_now();
        create_event("old");
        create_event("live");
        assert_int_equal(get_code("/api/v1/namespaces/default/events/old"), 200);
        assert_int_equal(get_code("/api/v1/namespaces/default/events/live"), 200);
        /* "old" goes 2 s (whole seconds of its timestamps) after it was written, at a sweep (every
         * 1 s); "live" recurs every 0.3 s and stays. */
        int count = 1;
        double gone_at = 0;
        while (mono_now() - t0 < 8) {
                renew_event("live", ++count);
                if (get_code("/api/v1/namespaces/default/events/old") == 404) {
                        gone_at = mono_now() - t0;
                        break;
                }
                usleep(300 * 1000);
        }
        assert_true(gone_at >= 1.0 && gone_at <= 4.5);
        assert_int_equal(get_code("/api/v1/namespaces/default/events/live"), 200);
        /* Once it stops recurring it expires too; other kinds are untouched. */
        double t1 = mono_now();
        while (get_code("/api/v1/namespaces/default/events/live") == 200 && mono_now() - t1 < 8)
                usleep(200 * 1000);
        double live_gone = mono_now() - t1;
        assert_true(live_gone >= 1.0 && live_gone <= 4.5);
        json_t *l = http_json("GET", "/api/v1/namespaces/default/events", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        assert_int_equal(json_array_size(json_object_get(l, "items")), 0);
        json_decref(l);
        assert_int_equal(get_code("/api/v1/namespaces/default/configmaps/keep"), 200);
        /* The default TTL (1h) keeps a fresh event: the group's own server. */
        int status = k8c_test_apiserver_stop(&srv);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        srv = other;
        memset(&other, 0, sizeof(other));
        create_event("hour");
        sleep(3);
        assert_int_equal(get_code("/api/v1/namespaces/default/events/hour"), 200);
        json_decref(http_json("DELETE", "/api/v1/namespaces/default/events/hour", NULL, NULL, NULL, &code));
        assert_int_equal(code, 200);
}

/* ---- raw REST semantics ---------------------------------------------------------- */

static const char *pod_body(const char *name)
{
        static char buf[512];
        snprintf(buf, sizeof(buf),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\"},\"spec\":{"
                 "\"containers\":[{"
                 "\"name\":\"c\",\"image\":\"busybox\"}]}}",
                 name);
        return buf;
}

static void test_bad_input_changes_nothing(void **state)
{
        long long rev0 = k8c_test_apiserver_revision(&srv);
        assert_true(rev0 > 0);
        long code;
        json_t *st;

        st = http_json("POST", "/api/v1/namespaces/default/pods", "application/json", "{\"kind\":", NULL,
                       &code);
        assert_status(st, code, 400, "BadRequest", NULL);
        json_decref(st);

        st = http_json("POST", "/api/v1/namespaces/default/pods", "application/json",
                       "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"x\"}}", NULL,
                       &code);
        assert_status(st, code, 400, "BadRequest",
                      "the kind in the data (Service) does not match the expected kind (Pod)");
        json_decref(st);

        st = http_json("POST", "/api/v1/namespaces/default/pods", "application/json",
                       "{\"apiVersion\":\"apps/v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\"}}", NULL,
                       &code);
        assert_status(st, code, 400, "BadRequest",
                      "the API version in the data (apps/v1) does not match the expected API version (v1)");
        json_decref(st);

        size_t big = 3 * 1024 * 1024 + 10;
        char *huge = malloc(big + 1);
        memset(huge, ' ', big);
        huge[big] = '\0';
        st = http_json("POST", "/api/v1/namespaces/default/pods", "application/json", huge, NULL, &code);
        assert_status(st, code, 413, "RequestEntityTooLarge",
                      "the request body is larger than 3145728 bytes");
        json_decref(st);
        free(huge);

        st = http_json("GET", "/api/v1/namespaces/default/pods?labelSelector=a+in+%28", NULL, NULL, NULL,
                       &code);
        assert_status(st, code, 400, "BadRequest", NULL);
        json_decref(st);

        st = http_json("GET", "/api/v1/namespaces/default/pods?resourceVersion=abc", NULL, NULL, NULL, &code);
        assert_status(st, code, 400, "BadRequest", "invalid resource version: \"abc\"");
        json_decref(st);

        st = http_json("GET", "/api/v1/namespaces/default/pods?fieldSelector=spec.foo%3Dx", NULL, NULL, NULL,
                       &code);
        assert_status(st, code, 400, "BadRequest", "field label not supported: spec.foo");
        json_decref(st);

        st = http_json(
                "POST", "/api/v1/namespaces/default/pods?fieldValidation=Strict", "application/json",
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\"},\"spec\":{\"foo\":1,"
                "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}",
                NULL, &code);
        assert_status(st, code, 400, "BadRequest", "strict decoding error: unknown field \"spec.foo\"");
        json_decref(st);

        st = http_json(
                "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", "application/json",
                "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"d\",\"name\":\"e\"}}",
                NULL, &code);
        assert_status(st, code, 400, "BadRequest", "strict decoding error: duplicate field \"name\"");
        json_decref(st);

        st = http_json("POST", "/api/v1/namespaces/default/pods?dryRun=All", "application/json",
                       pod_body("dry"), NULL, &code);
        assert_int_equal(code, 201);
        assert_string_equal(json_string_value(json_object_get(json_object_get(st, "metadata"), "name")),
                            "dry");
        json_decref(st);

        st = http_json("PUT", "/api/v1/namespaces/default/pods/other", "application/json", pod_body("dry"),
                       NULL, &code);
        assert_status(st, code, 400, "BadRequest",
                      "the name of the object (dry) does not match the name on the URL (other)");
        json_decref(st);

        assert_int_equal(k8c_test_apiserver_revision(&srv), rev0);
        st = http_json("GET", "/api/v1/namespaces/default/pods/dry", NULL, NULL, NULL, &code);
        assert_status(st, code, 404, "NotFound", "pods \"dry\" not found");
        json_decref(st);
}

static void test_update_conflict_generation_warning(void **state)
{
        long code;
        struct k8c_test_http_reply r;
        const char *with_unknown =
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"u1\"},\"spec\":{"
                "\"foo\":1,\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}";
        assert_int_equal(k8c_test_http(&srv, "POST", "/api/v1/namespaces/default/pods", "application/json",
                                       with_unknown, strlen(with_unknown), NULL, &r),
                         0);
        assert_int_equal(r.code, 201);
        assert_non_null(strstr(r.headers, "Warning: 299 - \"unknown field \\\"spec.foo\\\"\"\r\n"));
        json_t *obj = json_loads(r.body, 0, NULL);
        k8c_test_http_reply_free(&r);
        assert_null(json_object_get(json_object_get(obj, "spec"), "foo"));
        /* Two unknown fields: two Warning headers. */
        const char *two =
                "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"w2\"},\"foo\":1,"
                "\"bar\":2}";
        assert_int_equal(k8c_test_http(&srv, "POST", "/api/v1/namespaces/default/configmaps?dryRun=All",
                                       "application/json", two, strlen(two), NULL, &r),
                         0);
        assert_int_equal(r.code, 201);
        assert_non_null(strstr(r.headers,
                               "\r\nWarning: 299 - \"unknown field \\\"foo\\\"\"\r\nWarning: 299 - "
                               "\"unknown field \\\"bar\\\"\"\r\n"));
        k8c_test_http_reply_free(&r);
        const char *rv1 =
                json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
        char *stale = strdup(rv1);

        /* Label change: same generation. */
        json_object_set_new(json_object_get(obj, "metadata"), "labels", json_pack("{s:s}", "a", "b"));
        char *body = json_dumps(obj, JSON_COMPACT);
        json_t *o2 =
                http_json("PUT", "/api/v1/namespaces/default/pods/u1", "application/json", body, NULL, &code);
        free(body);
        assert_int_equal(code, 200);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(o2, "metadata"), "generation")),
                         1);
        assert_string_not_equal(
                json_string_value(json_object_get(json_object_get(o2, "metadata"), "resourceVersion")),
                stale);

        /* Spec change: generation + 1. */
        json_object_set_new(json_object_get(o2, "spec"), "activeDeadlineSeconds", json_integer(30));
        body = json_dumps(o2, JSON_COMPACT);
        json_t *o3 =
                http_json("PUT", "/api/v1/namespaces/default/pods/u1", "application/json", body, NULL, &code);
        free(body);
        assert_int_equal(code, 200);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(o3, "metadata"), "generation")),
                         2);

        /* Stale resourceVersion: 409 Conflict. */
        json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion", json_string(stale));
        body = json_dumps(obj, JSON_COMPACT);
        long long rev0 = k8c_test_apiserver_revision(&srv);
        json_t *st =
                http_json("PUT", "/api/v1/namespaces/default/pods/u1", "application/json", body, NULL, &code);
        free(body);
        assert_status(st, code, 409, "Conflict",
                      "Operation cannot be fulfilled on pods \"u1\": the object has been modified; please "
                      "apply your "
                      "changes to the latest version and try again");
        assert_int_equal(k8c_test_apiserver_revision(&srv), rev0);
        json_decref(st);
        json_decref(obj);
        json_decref(o2);
        json_decref(o3);
        free(stale);

        /* generateName. */
        json_t *g =
                http_json("POST", "/api/v1/namespaces/default/pods", "application/json",
                          "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"generateName\":\"gen-\"},"
                          "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}",
                          NULL, &code);
        assert_int_equal(code, 201);
        const char *gname = json_string_value(json_object_get(json_object_get(g, "metadata"), "name"));
        assert_int_equal(strlen(gname), 9);
        assert_memory_equal(gname, "gen-", 4);
        json_decref(g);
        delete_all_pods();
}

static void test_list_table_and_continue(void **state)
{
        create_pod("t1", "{\"x\":\"1\"}");
        create_pod("t2", "{\"x\":\"2\"}");
        create_pod("t3", "{\"x\":\"3\"}");
        long code;
        const char *accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
        json_t *t = http_json("GET", "/api/v1/namespaces/default/pods?limit=500", NULL, NULL, accept, &code);
        assert_int_equal(code, 200);
        assert_string_equal(json_string_value(json_object_get(t, "kind")), "Table");
        assert_string_equal(json_string_value(json_object_get(t, "apiVersion")), "meta.k8s.io/v1");
        json_t *cols = json_object_get(t, "columnDefinitions");
        assert_string_equal(json_string_value(json_object_get(json_array_get(cols, 0), "name")), "Name");
        assert_string_equal(json_string_value(json_object_get(json_array_get(cols, 0), "format")), "name");
        json_t *rows = json_object_get(t, "rows");
        assert_int_equal(json_array_size(rows), 3);
        json_t *row0 = json_array_get(rows, 0);
        assert_string_equal(json_string_value(json_array_get(json_object_get(row0, "cells"), 0)), "t1");
        assert_string_equal(json_string_value(json_object_get(json_object_get(row0, "object"), "kind")),
                            "PartialObjectMetadata");
        json_decref(t);

        t = http_json("GET", "/api/v1/namespaces/default/pods?includeObject=Object", NULL, NULL, accept,
                      &code);
        row0 = json_array_get(json_object_get(t, "rows"), 0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(row0, "object"), "kind")),
                            "Pod");
        json_decref(t);
        t = http_json("GET", "/api/v1/namespaces/default/pods?includeObject=None", NULL, NULL, accept, &code);
        row0 = json_array_get(json_object_get(t, "rows"), 0);
        assert_null(json_object_get(row0, "object"));
        json_decref(t);

        t = http_json("GET", "/api/v1/namespaces/default/pods/t2", NULL, NULL, accept, &code);
        assert_int_equal(code, 200);
        assert_int_equal(json_array_size(json_object_get(t, "rows")), 1);
        json_decref(t);

        /* limit + continue. */
        json_t *l1 = http_json("GET", "/api/v1/namespaces/default/pods?limit=2", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        assert_string_equal(json_string_value(json_object_get(l1, "kind")), "PodList");
        assert_int_equal(json_array_size(json_object_get(l1, "items")), 2);
        const char *cont = json_string_value(json_object_get(json_object_get(l1, "metadata"), "continue"));
        assert_non_null(cont);
        char *path = NULL;
        assert_true(asprintf(&path, "/api/v1/namespaces/default/pods?limit=2&continue=%s", cont) >= 0);
        json_t *l2 = http_json("GET", path, NULL, NULL, NULL, &code);
        free(path);
        assert_int_equal(code, 200);
        assert_int_equal(json_array_size(json_object_get(l2, "items")), 1);
        assert_string_equal(
                json_string_value(json_object_get(
                        json_object_get(json_array_get(json_object_get(l2, "items"), 0), "metadata"),
                        "name")),
                "t3");
        assert_null(json_object_get(json_object_get(l2, "metadata"), "continue"));
        json_decref(l1);
        json_decref(l2);

        /* resourceVersionMatch=Exact: the list as it was at t1's creation. */
        json_t *t1 = http_json("GET", "/api/v1/namespaces/default/pods/t1", NULL, NULL, NULL, &code);
        char *p1 = NULL;
        assert_true(asprintf(&p1,
                             "/api/v1/namespaces/default/pods?resourceVersionMatch=Exact&resourceVersion=%s",
                             json_string_value(json_object_get(json_object_get(t1, "metadata"),
                                                               "resourceVersion"))) >= 0);
        json_decref(t1);
        json_t *old = http_json("GET", p1, NULL, NULL, NULL, &code);
        free(p1);
        assert_int_equal(code, 200);
        assert_int_equal(json_array_size(json_object_get(old, "items")), 1);
        json_decref(old);

        json_t *st = http_json("GET", "/api/v1/namespaces/default/pods?limit=2&continue=zz", NULL, NULL, NULL,
                               &code);
        assert_status(st, code, 400, "BadRequest", NULL);
        json_decref(st);
        delete_all_pods();
}

/* Reads the watch stream of path until it ends (timeoutSeconds) and returns the event lines. */
static json_t *watch_events(const char *path, const char *accept)
{
        struct k8c_test_http_reply r;
        assert_int_equal(k8c_test_http(&srv, "GET", path, NULL, NULL, 0, accept, &r), 0);
        assert_int_equal(r.code, 200);
        json_t *arr = json_array();
        for (char *save = NULL, *l = strtok_r(r.body, "\n", &save); l != NULL;
             l = strtok_r(NULL, "\n", &save)) {
                json_t *e = json_loads(l, 0, NULL);
                assert_non_null(e);
                json_array_append_new(arr, e);
        }
        k8c_test_http_reply_free(&r);
        return arr;
}

static const char *ev_type(json_t *evs, size_t i)
{
        return json_string_value(json_object_get(json_array_get(evs, i), "type"));
}

static const char *ev_name(json_t *evs, size_t i)
{
        return json_string_value(json_object_get(
                json_object_get(json_object_get(json_array_get(evs, i), "object"), "metadata"), "name"));
}

static void test_watch_raw(void **state)
{
        create_pod("a1", "{\"sel\":\"yes\"}");
        long code;
        json_t *o = http_json("GET", "/api/v1/namespaces/default/pods/a1", NULL, NULL, NULL, &code);
        char *rv =
                strdup(json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion")));
        json_decref(o);
        create_pod("a2", "{\"sel\":\"no\"}");

        /* From 0: synthetic ADDED for what exists. */
        json_t *evs = watch_events("/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1", NULL);
        assert_int_equal(json_array_size(evs), 2);
        assert_string_equal(ev_type(evs, 0), "ADDED");
        assert_string_equal(ev_name(evs, 0), "a1");
        assert_string_equal(ev_name(evs, 1), "a2");
        json_decref(evs);

        /* From a1's RV: only a2's creation. */
        char *path = NULL;
        assert_true(asprintf(&path,
                             "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1&resourceVersion=%s",
                             rv) >= 0);
        evs = watch_events(path, NULL);
        free(path);
        assert_int_equal(json_array_size(evs), 1);
        assert_string_equal(ev_type(evs, 0), "ADDED");
        assert_string_equal(ev_name(evs, 0), "a2");
        json_decref(evs);

        /* Label selector transitions: a2 starts matching (ADDED), a1 stops (DELETED). */
        assert_true(asprintf(&path,
                             "/api/v1/namespaces/default/"
                             "pods?watch=true&timeoutSeconds=1&labelSelector=sel%%3Dyes&"
                             "resourceVersion=%s",
                             rv) >= 0);
        o = http_json("GET", "/api/v1/namespaces/default/pods/a2", NULL, NULL, NULL, &code);
        json_object_set_new(json_object_get(json_object_get(o, "metadata"), "labels"), "sel",
                            json_string("yes"));
        char *body = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        json_decref(http_json("PUT", "/api/v1/namespaces/default/pods/a2", "application/json", body, NULL,
                              &code));
        free(body);
        o = http_json("GET", "/api/v1/namespaces/default/pods/a1", NULL, NULL, NULL, &code);
        json_object_set_new(json_object_get(json_object_get(o, "metadata"), "labels"), "sel",
                            json_string("no"));
        body = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        json_decref(http_json("PUT", "/api/v1/namespaces/default/pods/a1", "application/json", body, NULL,
                              &code));
        free(body);
        evs = watch_events(path, NULL);
        free(path);
        assert_int_equal(json_array_size(evs), 2);
        assert_string_equal(ev_type(evs, 0), "ADDED");
        assert_string_equal(ev_name(evs, 0), "a2");
        assert_string_equal(ev_type(evs, 1), "DELETED");
        assert_string_equal(ev_name(evs, 1), "a1");
        json_decref(evs);

        /* A watch on one object by name. */
        evs = watch_events("/api/v1/namespaces/default/pods/a2?watch=true&timeoutSeconds=1", NULL);
        assert_int_equal(json_array_size(evs), 1);
        assert_string_equal(ev_type(evs, 0), "ADDED");
        assert_string_equal(ev_name(evs, 0), "a2");
        json_decref(evs);

        /* Table mode: one-row Tables, columnDefinitions on the first event only. */
        evs = watch_events("/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1",
                           "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
        assert_int_equal(json_array_size(evs), 2);
        json_t *t0 = json_object_get(json_array_get(evs, 0), "object");
        json_t *t1 = json_object_get(json_array_get(evs, 1), "object");
        assert_string_equal(json_string_value(json_object_get(t0, "kind")), "Table");
        assert_true(json_array_size(json_object_get(t0, "columnDefinitions")) > 0);
        assert_true(json_is_null(json_object_get(t1, "columnDefinitions")));
        assert_int_equal(json_array_size(json_object_get(t1, "rows")), 1);
        json_decref(evs);

        /* sendInitialEvents ends the burst with the initial-events-end bookmark. */
        evs = watch_events(
                "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1&sendInitialEvents=true&"
                "allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan",
                NULL);
        assert_int_equal(json_array_size(evs), 3);
        assert_string_equal(ev_type(evs, 2), "BOOKMARK");
        assert_string_equal(
                json_string_value(json_object_get(
                        json_object_get(json_object_get(json_object_get(json_array_get(evs, 2), "object"),
                                                        "metadata"),
                                        "annotations"),
                        "k8s.io/initial-events-end")),
                "true");
        json_decref(evs);
        free(rv);
        delete_all_pods();
}

/* ---- services ---------------------------------------------------------------------- */

static json_t *create_service(const char *name, const char *spec_json, long *ret_code)
{
        char *body = NULL;
        assert_true(asprintf(&body,
                             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\"},"
                             "\"spec\":%s}",
                             name, spec_json) >= 0);
        json_t *j = http_json("POST", "/api/v1/namespaces/default/services", "application/json", body, NULL,
                              ret_code);
        free(body);
        return j;
}

static const char *spec_str(json_t *svc, const char *key)
{
        return json_string_value(json_object_get(json_object_get(svc, "spec"), key));
}

static void test_service_allocation(void **state)
{
        long code;
        json_t *s1 =
                create_service("s1", "{\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80}]}", &code);
        assert_int_equal(code, 201);
        assert_string_equal(spec_str(s1, "clusterIP"), "10.96.0.2");
        assert_string_equal(json_string_value(json_array_get(
                                    json_object_get(json_object_get(s1, "spec"), "clusterIPs"), 0)),
                            "10.96.0.2");
        json_decref(s1);

        json_t *s2 = create_service("s2", "{\"clusterIP\":\"10.96.0.50\",\"ports\":[{\"port\":80}]}", &code);
        assert_int_equal(code, 201);
        assert_string_equal(spec_str(s2, "clusterIP"), "10.96.0.50");
        json_decref(s2);

        json_t *st = create_service("s3", "{\"clusterIP\":\"10.96.0.50\",\"ports\":[{\"port\":80}]}", &code);
        assert_status(st, code, 422, "Invalid", NULL);
        json_decref(st);
        st = create_service("s3", "{\"clusterIP\":\"192.168.1.1\",\"ports\":[{\"port\":80}]}", &code);
        assert_status(st, code, 422, "Invalid", NULL);
        json_decref(st);
        st = create_service("s3", "{\"clusterIP\":\"10.96.0.1\",\"ports\":[{\"port\":80}]}", &code);
        assert_status(st, code, 422, "Invalid", NULL);
        json_decref(st);

        json_t *h = create_service("headless", "{\"clusterIP\":\"None\",\"ports\":[{\"port\":80}]}", &code);
        assert_int_equal(code, 201);
        assert_string_equal(spec_str(h, "clusterIP"), "None");
        json_decref(h);

        json_t *np = create_service("np", "{\"type\":\"NodePort\",\"ports\":[{\"port\":80}]}", &code);
        assert_int_equal(code, 201);
        assert_int_equal(json_integer_value(json_object_get(
                                 json_array_get(json_object_get(json_object_get(np, "spec"), "ports"), 0),
                                 "nodePort")),
                         30000);
        assert_string_equal(spec_str(np, "clusterIP"), "10.96.0.3");
        json_decref(np);
        st = create_service("np2", "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":30000}]}",
                            &code);
        assert_status(st, code, 422, "Invalid", NULL);
        json_decref(st);
        st = create_service("np2", "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":80}]}",
                            &code);
        assert_status(st, code, 422, "Invalid", NULL);
        json_decref(st);

        json_t *en =
                create_service("ext", "{\"type\":\"ExternalName\",\"externalName\":\"example.com\"}", &code);
        assert_int_equal(code, 201);
        assert_null(spec_str(en, "clusterIP"));
        json_decref(en);

        /* Delete frees the address: the next service gets 10.96.0.2 again. */
        json_decref(http_json("DELETE", "/api/v1/namespaces/default/services/s1", NULL, NULL, NULL, &code));
        assert_int_equal(code, 200);
        json_t *s4 = create_service("s4", "{\"ports\":[{\"port\":81}]}", &code);
        assert_int_equal(code, 201);
        assert_string_equal(spec_str(s4, "clusterIP"), "10.96.0.2");
        json_decref(s4);

        char *out = kubectl(0, "get svc s4");
        char *sq = squeeze(out);
        assert_non_null(strstr(
                sq, "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE\ns4 ClusterIP 10.96.0.2 <none> 81/TCP "));
        free(sq);
        free(out);
}

/* ---- a server of its own: a /29 and three node ports, filled, freed, restarted ---------- */

/* POST a Service in ns with metadata md_extra (",\"finalizers\":[...]" or "") and spec. */
static json_t *create_service_in(const char *ns, const char *name, const char *md_extra,
                                 const char *spec_json, long *ret_code)
{
        char *body = NULL, *path = NULL;
        assert_true(asprintf(&body,
                             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\"%s},"
                             "\"spec\":%s}",
                             name, md_extra, spec_json) >= 0);
        assert_true(asprintf(&path, "/api/v1/namespaces/%s/services", ns) >= 0);
        json_t *j = http_json("POST", path, "application/json", body, NULL, ret_code);
        free(body);
        free(path);
        return j;
}

/* Creates Service name and asserts it got clusterIP want_ip (and, when want_np != 0, the node
 * port want_np on its first port). */
static void create_service_expect(const char *name, const char *spec_json, const char *want_ip, long want_np)
{
        long code;
        json_t *s = create_service_in("default", name, "", spec_json, &code);
        if (code != 201)
                fprintf(stderr, "create %s: %ld %s\n", name, code,
                        json_string_value(json_object_get(s, "message")));
        assert_int_equal(code, 201);
        assert_string_equal(spec_str(s, "clusterIP"), want_ip);
        if (want_np != 0)
                assert_int_equal(
                        json_integer_value(json_object_get(
                                json_array_get(json_object_get(json_object_get(s, "spec"), "ports"), 0),
                                "nodePort")),
                        want_np);
        json_decref(s);
}

/* Asserts that creating Service name fails with 422 and a message holding want. */
static void create_service_invalid(const char *name, const char *spec_json, const char *want)
{
        long code;
        json_t *st = create_service_in("default", name, "", spec_json, &code);
        assert_status(st, code, 422, "Invalid", NULL);
        const char *msg = json_string_value(json_object_get(st, "message"));
        if (strstr(msg, want) == NULL)
                fprintf(stderr, "message \"%s\" lacks \"%s\"\n", msg, want);
        assert_non_null(strstr(msg, want));
        json_decref(st);
}

static void delete_service(const char *name)
{
        long code;
        char *path = NULL;
        assert_true(asprintf(&path, "/api/v1/namespaces/default/services/%s", name) >= 0);
        json_decref(http_json("DELETE", path, NULL, NULL, NULL, &code));
        free(path);
        assert_int_equal(code, 200);
}

/* GETs Service name, lets edit change it and PUTs it back; returns the stored result. */
static json_t *update_service(const char *name, void (*edit)(json_t *svc))
{
        long code;
        char *path = NULL;
        assert_true(asprintf(&path, "/api/v1/namespaces/default/services/%s", name) >= 0);
        json_t *s = http_json("GET", path, NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        edit(s);
        char *body = json_dumps(s, JSON_COMPACT);
        json_decref(s);
        json_t *out = http_json("PUT", path, "application/json", body, NULL, &code);
        free(body);
        free(path);
        if (code != 200)
                fprintf(stderr, "PUT %s: %ld %s\n", name, code,
                        json_string_value(json_object_get(out, "message")));
        assert_int_equal(code, 200);
        return out;
}

static void to_node_port(json_t *svc)
{
        json_object_set_new(json_object_get(svc, "spec"), "type", json_string("NodePort"));
}

static void to_cluster_ip(json_t *svc)
{
        json_object_set_new(json_object_get(svc, "spec"), "type", json_string("ClusterIP"));
}

static void drop_finalizers(json_t *svc)
{
        json_object_del(json_object_get(svc, "metadata"), "finalizers");
}

/* How often the Service allocator read every stored Service (/metrics). */
static long long alloc_index_builds(void)
{
        static const char key[] = "\nk8c_service_allocator_index_builds_total ";
        struct k8c_test_http_reply r;
        assert_int_equal(k8c_test_http(&srv, "GET", "/metrics", NULL, NULL, 0, NULL, &r), 0);
        const char *p = strstr(r.body, key);
        assert_non_null(p);
        long long n = atoll(p + strlen(key));
        k8c_test_http_reply_free(&r);
        return n;
}

static void test_service_allocation_small_ranges(void **state)
{
        other = srv;
        const char *args[] = { "--service-cluster-ip-range=10.100.0.0/29",
                               "--service-node-port-range=30100-30102", NULL };
        assert_int_equal(k8c_test_apiserver_start(&srv, args), 0);
        /* The allocator read storage once, for the kubernetes Service at start-up. */
        assert_int_equal(alloc_index_builds(), 1);
        const char *one = "{\"ports\":[{\"port\":80}]}";
        const char *np1 = "{\"type\":\"NodePort\",\"ports\":[{\"port\":80}]}";

        /* Creates that fail after their address and port were chosen hold nothing: more of them
         * than the ranges have room for, then the ranges still fill from their first entries. */
        for (int i = 0; i < 6; i++) {
                long code;
                json_decref(create_service_in("missing", "lost", "", np1, &code));
                assert_int_equal(code, 404);
                create_service_invalid("bad",
                                       "{\"type\":\"NodePort\",\"ports\":[{\"name\":\"a\",\"port\":80},"
                                       "{\"name\":\"b\",\"port\":81,\"nodePort\":30999}]}",
                                       "provided port is not in the valid range");
        }
        create_service_expect("c0",
                              "{\"type\":\"NodePort\",\"ports\":[{\"name\":\"a\",\"port\":80},{\"name\":"
                              "\"b\",\"port\":81},{\"name\":\"c\",\"port\":82}]}",
                              "10.100.0.2", 30100);
        long code;
        json_decref(create_service_in("default", "c0", "", one, &code));
        assert_int_equal(code, 409);
        create_service_invalid("full-ports", np1, "range is full");
        delete_service("c0");

        /* ClusterIP -> NodePort takes a node port, NodePort -> ClusterIP gives it back. */
        create_service_expect("flip", one, "10.100.0.2", 0);
        json_t *s = update_service("flip", to_node_port);
        assert_int_equal(
                json_integer_value(json_object_get(
                        json_array_get(json_object_get(json_object_get(s, "spec"), "ports"), 0), "nodePort")),
                30100);
        json_decref(s);
        create_service_invalid("other",
                               "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":30100}]}",
                               "provided port is already allocated");
        s = update_service("flip", to_cluster_ip);
        assert_null(json_object_get(json_array_get(json_object_get(json_object_get(s, "spec"), "ports"), 0),
                                    "nodePort"));
        json_decref(s);
        create_service_expect("other", "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":30100}]}",
                              "10.100.0.3", 30100);

        /* Fill the /29 (.0 network, .1 kubernetes, .7 broadcast): Kubernetes' 422 "range is full". */
        create_service_expect("c1", one, "10.100.0.4", 0);
        json_decref(
                create_service_in("default", "held", ",\"finalizers\":[\"example.com/hold\"]", one, &code));
        assert_int_equal(code, 201);
        create_service_expect("c2", one, "10.100.0.6", 0);
        create_service_invalid("c3", one, "range is full");
        /* A Service held by a finalizer keeps its address until it is really gone. */
        delete_service("held");
        create_service_invalid("c3", one, "range is full");
        json_decref(update_service("held", drop_finalizers));
        assert_int_equal(get_code("/api/v1/namespaces/default/services/held"), 404);
        create_service_expect("c3", one, "10.100.0.5", 0);
        /* A plain delete frees at once. */
        delete_service("c1");
        create_service_expect("c4", one, "10.100.0.4", 0);
        create_service_invalid("c5", one, "range is full");
        /* None of that read all Services again. */
        assert_int_equal(alloc_index_builds(), 1);

        /* After a restart on the same data dir nothing held is handed out again. */
        assert_int_equal(k8c_test_apiserver_restart(&srv, args), 0);
        create_service_invalid("c5", one, "range is full");
        create_service_invalid("c5", "{\"clusterIP\":\"10.100.0.6\",\"ports\":[{\"port\":80}]}",
                               "provided IP is already allocated");
        delete_service("c2");
        /* 10.100.0.6 is free again; 30100 stays "other"'s. */
        create_service_expect("c5", np1, "10.100.0.6", 30101);
        create_service_invalid("c6", np1, "range is full");

        int status = k8c_test_apiserver_stop(&srv);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        srv = other;
        memset(&other, 0, sizeof(other));
}

/* ---- concurrent creates and deletes never share an address or a node port --------------- */

struct svc_writer {
        int id;
        int n;
        int created;
};

static void *svc_writer_run(void *arg)
{
        struct svc_writer *w = arg;
        for (int i = 0; i < w->n; i++) {
                char *body = NULL;
                struct k8c_test_http_reply r;
                if (asprintf(&body,
                             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"conc-%d-%"
                             "d\"},"
                             "\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"name\":\"a\",\"port\":80},{"
                             "\"name\":"
                             "\"b\",\"port\":81}]}}",
                             w->id, i) < 0)
                        return NULL;
                if (k8c_test_http(&srv, "POST", "/api/v1/namespaces/default/services", "application/json",
                                  body, strlen(body), NULL, &r) == 0 &&
                    r.code == 201)
                        w->created++;
                k8c_test_http_reply_free(&r);
                free(body);
                /* Every other one goes again at once, so frees race with allocations. */
                if (i % 2 == 1) {
                        char *path = NULL;
                        if (asprintf(&path, "/api/v1/namespaces/default/services/conc-%d-%d", w->id, i) >=
                                    0 &&
                            k8c_test_http(&srv, "DELETE", path, NULL, NULL, 0, NULL, &r) == 0) {
                                if (r.code == 200)
                                        w->created--;
                                k8c_test_http_reply_free(&r);
                        }
                        free(path);
                }
        }
        return NULL;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_int(const void *a, const void *b)
{
        return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static void test_service_allocation_concurrent(void **state)
{
        enum { WRITERS = 16, EACH = 12 };
        long long builds = alloc_index_builds();
        struct svc_writer w[WRITERS];
        pthread_t th[WRITERS];
        for (int i = 0; i < WRITERS; i++) {
                w[i] = (struct svc_writer){ .id = i, .n = EACH };
                assert_int_equal(pthread_create(&th[i], NULL, svc_writer_run, &w[i]), 0);
        }
        int want = 0;
        for (int i = 0; i < WRITERS; i++) {
                pthread_join(th[i], NULL);
                want += w[i].created;
        }
        assert_int_equal(want, WRITERS * EACH / 2);

        long code;
        json_t *l = http_json("GET", "/api/v1/namespaces/default/services", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        json_t *items = json_object_get(l, "items");
        size_t n = json_array_size(items);
        const char **ips = calloc(n, sizeof(*ips));
        int *ports = calloc(2 * n, sizeof(*ports));
        size_t nips = 0, nports = 0;
        size_t i;
        json_t *s;
        json_array_foreach(items, i, s)
        {
                const char *ip = spec_str(s, "clusterIP");
                if (ip != NULL && strcmp(ip, "None") != 0)
                        ips[nips++] = ip;
                size_t j;
                json_t *p;
                json_array_foreach(json_object_get(json_object_get(s, "spec"), "ports"), j, p)
                {
                        if (json_integer_value(json_object_get(p, "nodePort")) != 0)
                                ports[nports++] = (int)json_integer_value(json_object_get(p, "nodePort"));
                }
        }
        assert_true(nips >= (size_t)want);
        assert_true(nports >= 2 * (size_t)want);
        qsort(ips, nips, sizeof(*ips), cmp_str);
        qsort(ports, nports, sizeof(*ports), cmp_int);
        for (size_t k = 1; k < nips; k++)
                if (strcmp(ips[k - 1], ips[k]) == 0)
                        fail_msg("clusterIP %s given twice", ips[k]);
        for (size_t k = 1; k < nports; k++)
                if (ports[k - 1] == ports[k])
                        fail_msg("nodePort %d given twice", ports[k]);
        free(ips);
        free(ports);
        json_decref(l);
        /* Allocating and freeing did not read all Services again. */
        assert_int_equal(alloc_index_builds(), builds);
        for (int k = 0; k < WRITERS; k++)
                for (int j = 0; j < EACH; j += 2) {
                        char path[96];
                        snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/conc-%d-%d", k, j);
                        json_decref(http_json("DELETE", path, NULL, NULL, NULL, &code));
                        assert_int_equal(code, 200);
                }
}

/* ---- restart: state and allocations persist; watches resume; bookmarks ------------------- */

static void test_restart_persistence_and_bookmarks(void **state)
{
        long code;
        json_t *a = create_service(
                "persist", "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":31000}]}", &code);
        assert_int_equal(code, 201);
        char *ip = strdup(spec_str(a, "clusterIP"));
        char *rv =
                strdup(json_string_value(json_object_get(json_object_get(a, "metadata"), "resourceVersion")));
        json_decref(a);
        create_pod("after-rv", "{}");

        const char *args[] = { "--watch-bookmark-interval=1s", NULL };
        assert_int_equal(k8c_test_apiserver_restart(&srv, args), 0);

        json_t *g = http_json("GET", "/api/v1/namespaces/default/services/persist", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        assert_string_equal(spec_str(g, "clusterIP"), ip);
        json_decref(g);
        /* The address and port stay taken. */
        json_t *st = create_service(
                "clash", "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":31000}]}", &code);
        assert_status(st, code, 422, "Invalid", NULL);
        json_decref(st);
        char spec[128];
        snprintf(spec, sizeof(spec), "{\"clusterIP\":\"%s\",\"ports\":[{\"port\":80}]}", ip);
        st = create_service("clash", spec, &code);
        assert_status(st, code, 422, "Invalid", NULL);
        json_decref(st);

        /* A watch from a resourceVersion read before the restart is served from history. */
        char *path = NULL;
        assert_true(asprintf(&path,
                             "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1&resourceVersion=%s",
                             rv) >= 0);
        json_t *evs = watch_events(path, NULL);
        free(path);
        assert_int_equal(json_array_size(evs), 1);
        assert_string_equal(ev_type(evs, 0), "ADDED");
        assert_string_equal(ev_name(evs, 0), "after-rv");
        json_decref(evs);

        /* Periodic bookmarks carry the current resourceVersion. */
        evs = watch_events(
                "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=3&allowWatchBookmarks=true&"
                "labelSelector=none%3Dnone",
                NULL);
        assert_true(json_array_size(evs) >= 1);
        for (size_t i = 0; i < json_array_size(evs); i++) {
                assert_string_equal(ev_type(evs, i), "BOOKMARK");
                json_t *obj = json_object_get(json_array_get(evs, i), "object");
                assert_string_equal(json_string_value(json_object_get(obj, "kind")), "Pod");
                assert_true(atoll(json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                                    "resourceVersion"))) > atoll(rv));
        }
        json_decref(evs);
        json_decref(
                http_json("DELETE", "/api/v1/namespaces/default/services/persist", NULL, NULL, NULL, &code));
        assert_int_equal(code, 200);
        delete_all_pods();
        free(ip);
        free(rv);
}

static void test_metrics(void **state)
{
        struct k8c_test_http_reply r;
        assert_int_equal(k8c_test_http(&srv, "GET", "/metrics", NULL, NULL, 0, NULL, &r), 0);
        assert_int_equal(r.code, 200);
        assert_non_null(
                strstr(r.body, "\napiserver_request_total{verb=\"GET\",resource=\"pods\",code=\"200\"} "));
        assert_non_null(strstr(r.body, "\napiserver_request_duration_seconds_count "));
        assert_non_null(strstr(r.body, "\napiserver_registered_watchers 0\n"));
        assert_non_null(strstr(r.body, "\nk8c_storage_revision "));
        k8c_test_http_reply_free(&r);
}

/* ---- a server of its own: small watch window, drain on SIGTERM -------------------------- */

static void test_watch_too_old_and_drain(void **state)
{
        other = srv;
        const char *args[] = { "--watch-cache-size=4", NULL };
        assert_int_equal(k8c_test_apiserver_start(&srv, args), 0);
        for (int i = 0; i < 8; i++) {
                char name[16];
                snprintf(name, sizeof(name), "old-%d", i);
                create_pod(name, "{}");
        }
        json_t *evs = watch_events(
                "/api/v1/namespaces/default/pods?watch=true&resourceVersion=2&timeoutSeconds=1", NULL);
        assert_int_equal(json_array_size(evs), 1);
        assert_string_equal(ev_type(evs, 0), "ERROR");
        json_t *st = json_object_get(json_array_get(evs, 0), "object");
        assert_int_equal(json_integer_value(json_object_get(st, "code")), 410);
        assert_string_equal(json_string_value(json_object_get(st, "reason")), "Expired");
        assert_memory_equal(json_string_value(json_object_get(st, "message")),
                            "too old resource version: 2 (", 29);
        json_decref(evs);

        /* An open watch ends cleanly on SIGTERM and the server exits 0. */
        char *cmd = NULL;
        assert_true(asprintf(&cmd, "curl -s -N '%s/api/v1/namespaces/default/pods?watch=true' | wc -l",
                             srv.url) >= 0);
        FILE *p = popen(cmd, "r");
        free(cmd);
        sleep(1);
        int status = k8c_test_apiserver_stop(&srv);
        char buf[64] = "";
        assert_non_null(fgets(buf, sizeof(buf), p));
        pclose(p);
        assert_int_equal(atoi(buf), 8);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        srv = other;
        memset(&other, 0, sizeof(other));
}

static void test_slow_watcher_dropped(void **state)
{
        other = srv;
        const char *args[] = { "--watch-queue-bytes=262144", NULL };
        assert_int_equal(k8c_test_apiserver_start(&srv, args), 0);

        /* A client that never reads, with a tiny receive window. */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        int small = 4096;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port) };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        const char *req =
                "GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));

        /* A client that reads everything. */
        char *cmd = NULL;
        assert_true(asprintf(&cmd,
                             "curl -s -N "
                             "'%s/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=15' | wc -l",
                             srv.url) >= 0);
        FILE *p = popen(cmd, "r");
        free(cmd);
        sleep(1);

        size_t big = 100 * 1024;
        char *value = malloc(big + 1);
        memset(value, 'x', big);
        value[big] = '\0';
        for (int i = 0; i < 80; i++) {
                char *body = NULL;
                assert_true(asprintf(&body,
                                     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                                     "\"big-%d\"},"
                                     "\"data\":{\"v\":\"%s\"}}",
                                     i, value) >= 0);
                long code;
                json_decref(http_json("POST", "/api/v1/namespaces/default/configmaps", "application/json",
                                      body, NULL, &code));
                free(body);
                assert_int_equal(code, 201);
        }
        free(value);

        struct k8c_test_http_reply r;
        assert_int_equal(k8c_test_http(&srv, "GET", "/metrics", NULL, NULL, 0, NULL, &r), 0);
        assert_non_null(strstr(r.body, "\napiserver_watch_dropped_total 1\n"));
        k8c_test_http_reply_free(&r);

        char buf[64] = "";
        assert_non_null(fgets(buf, sizeof(buf), p));
        pclose(p);
        assert_int_equal(atoi(buf), 80);
        close(fd);

        int status = k8c_test_apiserver_stop(&srv);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        srv = other;
        memset(&other, 0, sizeof(other));
}

static void test_sd_notify(void **state)
{
        char path[] = "/tmp/k8c-notify-XXXXXX";
        assert_non_null(mkdtemp(path));
        char sock[64];
        snprintf(sock, sizeof(sock), "%s/notify", path);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        struct timeval tv = { .tv_sec = 10 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

        other = srv;
        setenv("NOTIFY_SOCKET", sock, 1);
        int started = k8c_test_apiserver_start(&srv, NULL);
        unsetenv("NOTIFY_SOCKET");
        char buf[256];
        ssize_t n = started == 0 ? recv(fd, buf, sizeof(buf) - 1, 0) : -1;
        buf[n > 0 ? n : 0] = '\0';
        int status = k8c_test_apiserver_stop(&srv);
        char buf2[256];
        ssize_t n2 = recv(fd, buf2, sizeof(buf2) - 1, 0);
        buf2[n2 > 0 ? n2 : 0] = '\0';
        close(fd);
        unlink(sock);
        rmdir(path);
        srv = other;
        memset(&other, 0, sizeof(other));
        assert_int_equal(started, 0);
        assert_string_equal(buf, "READY=1");
        assert_string_equal(buf2, "STOPPING=1");
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- the same REST semantics over the etcd backend --------------------------------------- */

static pid_t etcd_pid;
static char etcd_dir[64];
static char etcd_url[64];

static int free_loopback_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(sa);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        return ntohs(sa.sin_port);
}

static void stop_etcd(void)
{
        if (etcd_pid > 0) {
                kill(etcd_pid, SIGTERM);
                waitpid(etcd_pid, NULL, 0);
                etcd_pid = 0;
        }
        if (etcd_dir[0] != '\0') {
                char *cmd = NULL;
                if (asprintf(&cmd, "rm -rf '%s'", etcd_dir) >= 0 && system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", etcd_dir);
                free(cmd);
                etcd_dir[0] = '\0';
        }
}

static int setup_etcd_server(void **state)
{
        snprintf(etcd_dir, sizeof(etcd_dir), "/tmp/k8c-etcd-test-XXXXXX");
        if (mkdtemp(etcd_dir) == NULL)
                return -1;
        int cport = free_loopback_port(), pport = free_loopback_port();
        char client[64], peer[64], cluster[96], data[96], logpath[96];
        snprintf(client, sizeof(client), "http://127.0.0.1:%d", cport);
        snprintf(etcd_url, sizeof(etcd_url), "%s", client);
        snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", pport);
        snprintf(cluster, sizeof(cluster), "default=%s", peer);
        snprintf(data, sizeof(data), "%s/data", etcd_dir);
        snprintf(logpath, sizeof(logpath), "%s/etcd.log", etcd_dir);
        pid_t parent = getpid();
        etcd_pid = fork();
        if (etcd_pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                FILE *f = freopen(logpath, "w", stderr);
                (void)f;
                dup2(2, 1);
                execlp("etcd", "etcd", "--data-dir", data, "--listen-client-urls", client,
                       "--advertise-client-urls", client, "--listen-peer-urls", peer,
                       "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster, (char *)NULL);
                _exit(127);
        }
        if (etcd_pid < 0) {
                stop_etcd();
                return -1;
        }
        struct k8c_test_apiserver probe = { .url = client };
        bool up = false;
        for (int i = 0; i < 100 && !up; i++) {
                struct k8c_test_http_reply r;
                if (k8c_test_http(&probe, "GET", "/health", NULL, NULL, 0, NULL, &r) == 0 && r.code == 200)
                        up = true;
                k8c_test_http_reply_free(&r);
                if (!up)
                        usleep(100 * 1000);
        }
        char arg[96];
        snprintf(arg, sizeof(arg), "--etcd-servers=%s", client);
        const char *args[] = { "--storage-backend=etcd", arg, NULL };
        if (!up || k8c_test_apiserver_start(&srv, args) < 0) {
                fprintf(stderr, "etcd or k8c-apiserver over etcd did not start (log %s)\n", logpath);
                stop_etcd();
                return -1;
        }
        return 0;
}

static void test_continue_expired_etcd(void **state)
{
        create_pod("e1", "{}");
        create_pod("e2", "{}");
        long code;
        json_t *l1 = http_json("GET", "/api/v1/namespaces/default/pods?limit=1", NULL, NULL, NULL, &code);
        assert_int_equal(code, 200);
        char *cont = strdup(json_string_value(json_object_get(json_object_get(l1, "metadata"), "continue")));
        json_decref(l1);
        create_pod("e3", "{}");
        long long rev = k8c_test_apiserver_revision(&srv);
        char body[96];
        snprintf(body, sizeof(body), "{\"revision\":\"%lld\",\"physical\":true}", rev);
        struct k8c_test_apiserver etcd = { .url = etcd_url };
        struct k8c_test_http_reply r;
        assert_int_equal(k8c_test_http(&etcd, "POST", "/v3/kv/compaction", "application/json", body,
                                       strlen(body), NULL, &r),
                         0);
        assert_int_equal(r.code, 200);
        k8c_test_http_reply_free(&r);
        char *path = NULL;
        assert_true(asprintf(&path, "/api/v1/namespaces/default/pods?limit=1&continue=%s", cont) >= 0);
        json_t *st = http_json("GET", path, NULL, NULL, NULL, &code);
        free(path);
        free(cont);
        assert_status(
                st, code, 410, "Expired",
                "The provided continue parameter is too old to display a consistent list result. You can "
                "start "
                "a new list without the continue parameter, or use the continue token in this response to "
                "retrieve the remainder of the results. Continuing with the provided token results in an "
                "inconsistent list - objects that were created, modified, or deleted between the time the "
                "first "
                "chunk was returned and now may show up in the list.");
        json_decref(st);
        delete_all_pods();
}

static int teardown_etcd_server(void **state)
{
        int r = teardown_server(state);
        stop_etcd();
        return r;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_health_and_version),
                cmocka_unit_test(test_unknown_path_and_method),
                cmocka_unit_test(test_discovery),
                cmocka_unit_test(test_bootstrap_objects),
                cmocka_unit_test(test_kubectl_create_get_delete),
                cmocka_unit_test(test_kubectl_invalid_pod),
                cmocka_unit_test(test_kubectl_selectors_sort_labels),
                cmocka_unit_test(test_kubectl_watch),
                cmocka_unit_test(test_kubectl_apply_patch_scale),
                cmocka_unit_test(test_server_side_apply_managed_fields),
                cmocka_unit_test(test_kubectl_examples),
                cmocka_unit_test(test_yaml_bodies),
                cmocka_unit_test(test_finalizers_and_delete_collection),
                cmocka_unit_test(test_namespace_lifecycle),
                cmocka_unit_test(test_pod_binding),
                cmocka_unit_test(test_pod_graceful_deletion),
                cmocka_unit_test(test_pod_eviction),
                cmocka_unit_test(test_event_ttl),
                cmocka_unit_test(test_bad_input_changes_nothing),
                cmocka_unit_test(test_update_conflict_generation_warning),
                cmocka_unit_test(test_list_table_and_continue),
                cmocka_unit_test(test_watch_raw),
                cmocka_unit_test(test_service_allocation),
                cmocka_unit_test(test_service_allocation_small_ranges),
                cmocka_unit_test(test_service_allocation_concurrent),
                cmocka_unit_test(test_metrics),
                cmocka_unit_test(test_restart_persistence_and_bookmarks),
                cmocka_unit_test(test_watch_too_old_and_drain),
                cmocka_unit_test(test_slow_watcher_dropped),
                cmocka_unit_test(test_sd_notify),
        };
        const struct CMUnitTest etcd_tests[] = {
                cmocka_unit_test(test_health_and_version),
                cmocka_unit_test(test_bootstrap_objects),
                cmocka_unit_test(test_kubectl_create_get_delete),
                cmocka_unit_test(test_kubectl_selectors_sort_labels),
                cmocka_unit_test(test_update_conflict_generation_warning),
                cmocka_unit_test(test_list_table_and_continue),
                cmocka_unit_test(test_watch_raw),
                cmocka_unit_test(test_service_allocation),
                cmocka_unit_test(test_continue_expired_etcd),
        };
        int failed = cmocka_run_group_tests_name("sqlite", tests, setup_server, teardown_server);
        failed += cmocka_run_group_tests_name("etcd", etcd_tests, setup_etcd_server, teardown_etcd_server);
        return failed;
}

/*
 * Integration tests of k8cctl against the real k8c-apiserver on loopback, side
 * by side with the stock kubectl: the same commands must leave the same
 * objects in storage and print the same text (modulo column widths and ages).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/apiserver_harness.h"
#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/json.h"

struct fixture {
        struct k8c_test_apiserver a; /* driven by kubectl */
        struct k8c_test_apiserver b; /* driven by k8cctl */
        char *srcdir;
};

static char *k8cctl_path(void)
{
        const char *envs[] = { "K8C_ASAN_BINDIR", "K8C_BINDIR" };
        for (size_t i = 0; i < 2; i++) {
                const char *d = getenv(envs[i]);
                if (d == NULL)
                        continue;
                char *p = k8c_xasprintf("%s/k8cctl", d);
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        const char *fallbacks[] = { "build/asan/bin/k8cctl", "bin/k8cctl" };
        for (size_t i = 0; i < 2; i++)
                if (access(fallbacks[i], X_OK) == 0)
                        return realpath(fallbacks[i], NULL);
        return NULL;
}

/* Runs `k8cctl --server URL <args>` through /bin/sh (args is shell text; stderr joins stdout
 * unless args redirect it). Returns the exit code. */
static int k8cctl(const struct k8c_test_apiserver *s, char **ret_out, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int k8cctl(const struct k8c_test_apiserver *s, char **ret_out, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        cleanup_free char *args = NULL;
        if (vasprintf(&args, fmt, ap) < 0)
                abort();
        va_end(ap);
        cleanup_free char *bin = k8cctl_path();
        assert_non_null(bin);
        cleanup_free char *cmd = k8c_xasprintf("HOME='%s' KUBECONFIG=/dev/null %s --server %s 2>&1 %s",
                                               s->home, bin, s->url, args);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        char *out = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&out, &len);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                fwrite(buf, 1, n, mem);
        fclose(mem);
        int status = pclose(p);
        *ret_out = out;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int setup(void **state)
{
        struct fixture *f = k8c_xcalloc(1, sizeof(*f));
        const char *src = getenv("K8C_SRCDIR");
        f->srcdir = k8c_xstrdup(src != NULL ? src : ".");
        if (k8c_test_apiserver_start(&f->a, NULL) < 0 || k8c_test_apiserver_start(&f->b, NULL) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        k8c_test_apiserver_stop(&f->a);
        k8c_test_apiserver_stop(&f->b);
        free(f->srcdir);
        free(f);
        return 0;
}

/* Collapses runs of spaces and replaces ages ("5s", "3m", "2m10s") so tables compare
 * modulo column widths and timing. */
static char *normalise(const char *s)
{
        char *out = k8c_xcalloc(1, strlen(s) * 2 + 1);
        size_t o = 0;
        const char *p = s;
        while (*p != '\0') {
                if (*p == ' ') {
                        while (*p == ' ')
                                p++;
                        out[o++] = ' ';
                        continue;
                }
                if (*p == '\n') {
                        out[o++] = *p++;
                        continue;
                }
                size_t l = strcspn(p, " \n");
                bool age = l >= 2 && strchr("smhd", p[l - 1]) != NULL;
                for (size_t i = 0; i < l && age; i++)
                        if (strchr("0123456789smhd", p[i]) == NULL)
                                age = false;
                /* Wall-clock times (describe's "Tue, 24 Nov 2026 17:30:05 +0000") differ when the two
                 * servers handled their requests in different seconds. */
                bool clock = l == 8 && p[2] == ':' && p[5] == ':';
                for (size_t i = 0; i < l && clock; i++)
                        if (i != 2 && i != 5 && (p[i] < '0' || p[i] > '9'))
                                clock = false;
                if (age) {
                        memcpy(out + o, "AGE", 3);
                        o += 3;
                } else if (clock) {
                        memcpy(out + o, "TIME", 4);
                        o += 4;
                } else {
                        memcpy(out + o, p, l);
                        o += l;
                }
                p += l;
        }
        out[o] = '\0';
        return out;
}

/* Both tools, one command; the outputs must match after normalise(). */
static void same_output(struct fixture *f, int want_code, const char *args)
{
        cleanup_free char *ko = NULL, *co = NULL;
        int kc = k8c_test_kubectl(&f->a, &ko, "%s", args);
        int cc = k8cctl(&f->b, &co, "%s", args);
        cleanup_free char *kn = normalise(ko), *cn = normalise(co);
        if (strcmp(kn, cn) != 0 || kc != want_code || cc != want_code)
                fprintf(stderr, "command: %s\nkubectl (%d):\n%s\nk8cctl (%d):\n%s\n", args, kc, ko, cc, co);
        assert_string_equal(cn, kn);
        assert_int_equal(kc, want_code);
        assert_int_equal(cc, want_code);
}

/* The stored object without what the server assigns per instance. */
static json_t *stored(const struct k8c_test_apiserver *s, const char *path)
{
        struct k8c_client_config cfg = { .server = s->url, .max_retries = 1 };
        struct k8c_client *c = NULL;
        assert_int_equal(k8c_client_new(&cfg, &c, NULL), 0);
        json_t *obj = NULL;
        int r = k8c_client_get(c, path, &obj, NULL);
        k8c_client_free(c);
        assert_int_equal(r, 0);
        json_t *meta = json_object_get(obj, "metadata");
        const char *drop[] = { "uid", "creationTimestamp", "resourceVersion", "managedFields" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(drop); i++)
                json_object_del(meta, drop[i]);
        json_object_del(json_object_get(obj, "status"), "lastPhaseTransitionTime"); /* a clock reading */
        return obj;
}

static void same_stored(struct fixture *f, const char *path)
{
        json_auto_t *a = stored(&f->a, path);
        json_auto_t *b = stored(&f->b, path);
        cleanup_free char *sa = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
        cleanup_free char *sb = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
        if (strcmp(sa, sb) != 0)
                fprintf(stderr, "%s\nkubectl stored: %s\nk8cctl stored:  %s\n", path, sa, sb);
        assert_string_equal(sb, sa);
}

static const char *example_paths[] = {
        "/api/v1/namespaces/default/configmaps/web-config",
        "/apis/apps/v1/namespaces/default/deployments/web-deploy",
        "/api/v1/namespaces/default/endpoints/external-db",
        "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web-deploy",
        "/apis/coordination.k8s.io/v1/namespaces/default/leases/example-leader",
        "/api/v1/namespaces/team-a",
        "/api/v1/nodes/node-test",
        "/api/v1/namespaces/default/pods/web",
        "/api/v1/persistentvolumes/pv-local-1",
        "/api/v1/namespaces/default/persistentvolumeclaims/data",
        "/apis/apps/v1/namespaces/default/replicasets/web-rs",
        "/api/v1/namespaces/default/secrets/web-credentials",
        "/api/v1/namespaces/default/services/web",
};

static void test_apply_examples_twice(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *out = NULL;
        assert_int_equal(k8cctl(&f->b, &out, "apply -f %s/examples/api/", f->srcdir), 0);
        assert_string_equal(out, "configmap/web-config created\n"
                                 "deployment.apps/web-deploy created\n"
                                 "endpoints/external-db created\n"
                                 "endpointslice.discovery.k8s.io/external-db-1 created\n"
                                 "event/web.manual-1 created\n"
                                 "horizontalpodautoscaler.autoscaling/web-deploy created\n"
                                 "lease.coordination.k8s.io/example-leader created\n"
                                 "namespace/team-a created\n"
                                 "node/node-test created\n"
                                 "pod/web created\n"
                                 "persistentvolume/pv-local-1 created\n"
                                 "persistentvolumeclaim/data created\n"
                                 "replicaset.apps/web-rs created\n"
                                 "secret/web-credentials created\n"
                                 "service/web created\n");
        cleanup_free char *again = NULL;
        assert_int_equal(k8cctl(&f->b, &again, "apply -f %s/examples/api/", f->srcdir), 0);
        assert_string_equal(again, "configmap/web-config unchanged\n"
                                   "deployment.apps/web-deploy unchanged\n"
                                   "endpoints/external-db unchanged\n"
                                   "endpointslice.discovery.k8s.io/external-db-1 unchanged\n"
                                   "event/web.manual-1 unchanged\n"
                                   "horizontalpodautoscaler.autoscaling/web-deploy unchanged\n"
                                   "lease.coordination.k8s.io/example-leader unchanged\n"
                                   "namespace/team-a unchanged\n"
                                   "node/node-test unchanged\n"
                                   "pod/web unchanged\n"
                                   "persistentvolume/pv-local-1 unchanged\n"
                                   "persistentvolumeclaim/data unchanged\n"
                                   "replicaset.apps/web-rs unchanged\n"
                                   "secret/web-credentials unchanged\n"
                                   "service/web unchanged\n");
        /* kubectl applies the same directory to the other server: same objects stored, same output. */
        cleanup_free char *kout = NULL;
        assert_int_equal(k8c_test_kubectl(&f->a, &kout, "apply -f %s/examples/api/", f->srcdir), 0);
        assert_string_equal(kout, out);
        for (size_t i = 0; i < K8C_ARRAY_SIZE(example_paths); i++)
                same_stored(f, example_paths[i]);
}

static void test_get_like_kubectl(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *o1 = NULL, *o2 = NULL;
        assert_int_equal(k8cctl(&f->b, &o1, "apply -f %s/examples/api/", f->srcdir), 0);
        assert_int_equal(k8c_test_kubectl(&f->a, &o2, "apply -f %s/examples/api/", f->srcdir), 0);
        const char *cmds[] = {
                "get pods",
                "get pods -o wide",
                "get all",
                "get po,svc -A",
                "get rs web-rs --show-labels",
                "get pods -L app",
                "get nodes",
                "get ns --sort-by=.metadata.name",
                "get deploy -o name",
                "get svc,cm -o name",
                "get pods -o 'jsonpath={.items[*].metadata.name}'",
                "get pod web -o 'jsonpath={.spec.containers[0].image}'",
                "get ns -o 'jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}'",
                /* uids and timestamps differ between the two servers */
                "get cm web-config -o json | grep -v -e uid -e creationTimestamp -e resourceVersion",
                "get svc web -o json | grep -v -e uid -e creationTimestamp -e resourceVersion",
                "get pods -l app=web",
                "get pods -l app=nothing",
                "get pods --field-selector=metadata.name=web",
                "get ns --chunk-size=2",
                "get pods -n team-a",
                "get deployments.apps,hpa",
                "get secret web-credentials -o 'jsonpath={.data}'",
                "api-resources",
                "api-resources -o wide",
                "api-resources -o name",
                "cluster-info | head -n 2 | sed 's/127.0.0.1:[0-9]*/HOST/'",
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cmds); i++)
                same_output(f, 0, cmds[i]);
        /* -v=6 logs each request on stderr (stdout discarded here). */
        cleanup_free char *v = NULL;
        assert_int_equal(k8cctl(&f->b, &v,
                                "get pods -v=6 >/dev/null | grep -c "
                                "'/api/v1/namespaces/default/pods?limit=500 200 in'"),
                         0);
        assert_string_equal(v, "1\n");
        /* --chunk-size lists in pages: three requests for 5 namespaces in pages of 2. */
        cleanup_free char *c = NULL;
        assert_int_equal(
                k8cctl(&f->b, &c,
                       "get ns --chunk-size=2 -v=6 >/dev/null | grep -c '/api/v1/namespaces?limit=2'"),
                0);
        assert_string_equal(c, "3\n");
}

static void test_errors_like_kubectl(void **state)
{
        struct fixture *f = *state;
        same_output(f, 1, "get foo");
        same_output(f, 1, "get pod nope");
        same_output(f, 1, "get pods,foo");
        same_output(f, 1, "delete pod nope");
        same_output(f, 1, "label pod nope a=b");
        same_output(f, 1, "scale rs nope --replicas=2");
        /* Unreachable server: the same single line. */
        cleanup_free char *ko = NULL, *co = NULL;
        int cc = k8cctl(&f->b, &co, "--server http://127.0.0.1:1 get pods");
        int kc = k8c_test_kubectl(&f->a, &ko, "--server http://127.0.0.1:1 get pods 2>/dev/null");
        assert_int_equal(cc, 1);
        assert_int_equal(kc, 1);
        assert_string_equal(
                co, "The connection to the server 127.0.0.1:1 was refused - did you specify the right "
                    "host or port?\n");
        /* kubectl logs extra E... lines to stderr before the same last line. */
        assert_non_null(strstr(ko, co));
}

static void test_mutations_like_kubectl(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *o1 = NULL, *o2 = NULL;
        assert_int_equal(k8cctl(&f->b, &o1, "create -f %s/examples/api/replicaset.yaml", f->srcdir), 0);
        assert_string_equal(o1, "replicaset.apps/web-rs created\n");
        assert_int_equal(k8c_test_kubectl(&f->a, &o2, "create -f %s/examples/api/replicaset.yaml", f->srcdir),
                         0);
        cleanup_free char *kf = k8c_xasprintf("create -f %s/examples/api/replicaset.yaml", f->srcdir);
        same_output(f, 1, kf);
        same_output(f, 0, "label rs web-rs tier=front");
        same_output(f, 1, "label rs web-rs tier=back");
        same_output(f, 0, "label rs web-rs tier=back --overwrite");
        same_output(f, 0, "annotate rs web-rs note=hello");
        same_output(f, 0, "label rs web-rs tier-");
        same_output(f, 0, "scale rs web-rs --replicas=4");
        same_output(f, 1, "scale rs web-rs --replicas=5 --current-replicas=3");
        same_output(f, 0, "scale rs/web-rs --replicas=5 --current-replicas=4");
        same_output(f, 0, "patch rs web-rs --type=merge -p '{\"metadata\":{\"labels\":{\"x\":\"y\"}}}'");
        same_output(f, 0,
                    "patch rs web-rs --type=json -p "
                    "'[{\"op\":\"replace\",\"path\":\"/spec/minReadySeconds\",\"value\":3}]'");
        same_output(f, 0,
                    "patch rs web-rs -p "
                    "'{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":"
                    "\"busybox:1.37\"}]}}}}'");
        same_stored(f, "/apis/apps/v1/namespaces/default/replicasets/web-rs");
        same_output(f, 0, "get rs web-rs --show-labels");
        /* (--cascade=orphan would wait for a garbage collector that is not running here) */
        same_output(f, 0, "delete rs web-rs --cascade=background");
        same_output(f, 1, "get rs web-rs");
}

static void test_apply_configured_and_replace(void **state)
{
        struct fixture *f = *state;
        char dir[] = "/tmp/k8c-cli-apply-XXXXXX";
        assert_non_null(mkdtemp(dir));
        cleanup_free char *file = k8c_xasprintf("%s/cm.yaml", dir);
        FILE *fp = fopen(file, "w");
        assert_non_null(fp);
        fputs("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\n  labels:\n    a: \"1\"\n    b: "
              "\"2\"\n"
              "data:\n  k1: v1\n  k2: v2\n",
              fp);
        fclose(fp);
        cleanup_free char *apply = k8c_xasprintf("apply -f %s", file);
        same_output(f, 0, apply);
        fp = fopen(file, "w");
        fputs("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\n  labels:\n    a: \"1\"\ndata:\n  "
              "k1: changed\n",
              fp);
        fclose(fp);
        same_output(f, 0, apply);
        same_stored(f, "/api/v1/namespaces/default/configmaps/conf");
        same_output(f, 0, apply);
        cleanup_free char *replace = k8c_xasprintf("replace -f %s", file);
        same_output(f, 0, replace);
        same_stored(f, "/api/v1/namespaces/default/configmaps/conf");
        /* A YAML error names file:line:column and stops before any request. */
        fp = fopen(file, "w");
        fputs("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [conf\n", fp);
        fclose(fp);
        cleanup_free char *out = NULL;
        assert_int_equal(k8cctl(&f->b, &out, "apply -f %s", file), 1);
        cleanup_free char *want =
                k8c_xasprintf("error: %s:5:1: did not find expected ',' or ']' (while parsing a "
                              "flow sequence at line 4, column 9)\n",
                              file);
        assert_string_equal(out, want);
        unlink(file);
        rmdir(dir);
        same_output(f, 0, "delete cm conf");
        same_output(f, 1, "delete cm conf");
        same_output(f, 0, "delete cm conf --ignore-not-found");
}

static void test_server_side_apply(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *cmd =
                k8c_xasprintf("apply --server-side -f %s/examples/api/configmap.yaml", f->srcdir);
        same_output(f, 0, cmd);
        same_output(f, 0, cmd);
        same_stored(f, "/api/v1/namespaces/default/configmaps/web-config");
}

static void test_delete_grace_and_force(void **state)
{
        struct fixture *f = *state;
        /* DeleteOptions from --grace-period and --force, and the force warning, as kubectl. */
        const char *create =
                "create -f - <<'EOF'\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"g\"},"
                "\"spec\":{\"nodeName\":\"node-1\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}"
                "\nEOF\n";
        same_output(f, 0, create);
        same_output(f, 0, "delete pod g --grace-period=7 --wait=false");
        /* A scheduled pod stays Terminating with the grace asked for until its kubelet (here, the
         * forced delete with grace 0) removes it. */
        same_output(f, 0, "get pod g -o 'jsonpath={.metadata.deletionGracePeriodSeconds}'");
        cleanup_free char *g = NULL;
        assert_int_equal(k8cctl(&f->b, &g, "get pod g -o 'jsonpath={.metadata.deletionGracePeriodSeconds}'"),
                         0);
        assert_string_equal(g, "7");
        same_output(f, 0, "delete pod g --grace-period=0 --force");
        same_output(f, 1, "get pod g");
        same_output(f, 0, create);
        same_output(f, 0, "delete pod g --grace-period=0 --force");
        same_output(f, 1, "get pod g");
}

static void test_delete_selectors_and_empty(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *o = NULL;
        for (int i = 0; i < 3; i++) {
                free(o);
                o = NULL;
                const char *yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sel-%d\n  labels:\n  "
                                   "  grp: %s\n";
                cleanup_free char *doc =
                        k8c_xasprintf(yaml, i, i < 2 ? "x" : "z"); /* (y would be a YAML bool) */
                cleanup_free char *k = NULL;
                int rc = k8cctl(&f->b, &o, "create -f - <<'EOF'\n%s\nEOF\n", doc);
                int rk = k8c_test_kubectl(&f->a, &k, "create -f - <<'EOF'\n%s\nEOF\n", doc);
                if (rc != 0 || rk != 0)
                        fprintf(stderr, "k8cctl: %s\nkubectl: %s\n", o, k);
                assert_int_equal(rc, 0);
                assert_int_equal(rk, 0);
        }
        same_output(f, 0, "get cm -l grp=x -o name");
        same_output(f, 0, "delete cm -l grp=x");
        same_output(f, 0, "delete cm -l grp=x");
        same_output(f, 0, "get cm -l grp=x");
        same_output(f, 0, "delete cm --all");
        same_output(f, 0, "get cm -l grp");
        same_output(f, 0, "get pods -A");
}

static void test_describe_like_kubectl(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *o1 = NULL, *o2 = NULL;
        assert_int_equal(k8cctl(&f->b, &o1, "apply -f %s/examples/api/", f->srcdir), 0);
        assert_int_equal(k8c_test_kubectl(&f->a, &o2, "apply -f %s/examples/api/", f->srcdir), 0);
        /* An event about the pod (by uid) on each server, so the Events table shows. */
        struct k8c_test_apiserver *srv[] = { &f->a, &f->b };
        for (size_t i = 0; i < 2; i++) {
                cleanup_free char *uid = NULL;
                assert_int_equal(k8cctl(srv[i], &uid, "get pod web -o 'jsonpath={.metadata.uid}'"), 0);
                cleanup_free char *out = NULL;
                assert_int_equal(
                        k8cctl(srv[i], &out,
                               "create -f - "
                               "<<'EOF'\n{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":"
                               "\"web.sched\"},\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"web\","
                               "\"namespace\":"
                               "\"default\",\"uid\":\"%s\"},\"reason\":\"Scheduled\",\"message\":"
                               "\"Successfully "
                               "assigned default/web to "
                               "node-1\",\"type\":\"Normal\",\"source\":{\"component\":"
                               "\"default-scheduler\"},\"count\":3,\"firstTimestamp\":\"2026-01-01T00:00:"
                               "00Z\","
                               "\"lastTimestamp\":\"2026-01-01T00:00:00Z\"}\nEOF\n",
                               uid),
                        0);
        }
        same_output(f, 0, "describe pod web");
        same_output(f, 0, "describe svc web");
        same_output(f, 0, "describe rs web-rs");
        same_output(f, 0, "describe ns team-a");
        same_output(f, 0, "describe deploy web-deploy");
        same_output(f, 0, "describe pods");
        same_output(f, 1, "describe pod nope");
        cleanup_free char *d = NULL;
        assert_int_equal(k8cctl(&f->b, &d, "describe pod web | tail -n 4"), 0);
        assert_non_null(strstr(d, "Events:\n  Type    Reason     Age"));
        assert_non_null(strstr(d, "  Normal  Scheduled  "));
        assert_non_null(strstr(d, "(x3 over "));
}

/* Runs the same kubectl command against both servers (set-up both tools then describe). */
static void both_kubectl(struct fixture *f, const char *args)
{
        struct k8c_test_apiserver *srv[] = { &f->a, &f->b };
        for (size_t i = 0; i < 2; i++) {
                cleanup_free char *out = NULL;
                int rc = k8c_test_kubectl(srv[i], &out, "%s", args);
                if (rc != 0)
                        fprintf(stderr, "kubectl %s: %s\n", args, out);
                assert_int_equal(rc, 0);
        }
}

/* describe endpoints, hpa (every metric type, behavior, conditions), configmaps and secrets like
 * kubectl. */
static void test_describe_ep_hpa_like_kubectl(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *apply = k8c_xasprintf("apply -f %s/examples/api/", f->srcdir);
        both_kubectl(f, apply);
        both_kubectl(
                f,
                "create -f - <<'EOF'\n{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":"
                "\"multi\"},\"subsets\":[{\"addresses\":[{\"ip\":\"10.0.0.1\"}],\"notReadyAddresses\":[{"
                "\"ip\":"
                "\"10.0.0.2\"},{\"ip\":\"10.0.0.3\"}],\"ports\":[{\"name\":\"a\",\"port\":80,\"protocol\":"
                "\"TCP\"},{\"name\":\"b\",\"port\":81,\"protocol\":\"UDP\"}]},{\"notReadyAddresses\":[{"
                "\"ip\":"
                "\"10.0.0.9\"}]}]}\nEOF\n");
        both_kubectl(
                f,
                "create -f - "
                "<<'EOF'\n{\"apiVersion\":\"autoscaling/v2\",\"kind\":\"HorizontalPodAutoscaler\","
                "\"metadata\":{\"name\":\"big\",\"labels\":{\"x\":\"y\"}},\"spec\":{\"scaleTargetRef\":{"
                "\"apiVersion\":\"apps/"
                "v1\",\"kind\":\"Deployment\",\"name\":\"web-deploy\"},\"maxReplicas\":9,"
                "\"metrics\":[{\"type\":\"Resource\",\"resource\":{\"name\":\"memory\",\"target\":{\"type\":"
                "\"AverageValue\",\"averageValue\":\"100Mi\"}}},{\"type\":\"Pods\",\"pods\":{\"metric\":{"
                "\"name\":\"qps\"},\"target\":{\"type\":\"AverageValue\",\"averageValue\":\"1k\"}}},{"
                "\"type\":"
                "\"External\",\"external\":{\"metric\":{\"name\":\"queue\"},\"target\":{\"type\":\"Value\","
                "\"value\":\"30\"}}},{\"type\":\"Object\",\"object\":{\"describedObject\":{\"kind\":"
                "\"Service\","
                "\"name\":\"web\",\"apiVersion\":\"v1\"},\"metric\":{\"name\":\"hits\"},\"target\":{\"type\":"
                "\"AverageValue\",\"averageValue\":\"5\"}}},{\"type\":\"ContainerResource\","
                "\"containerResource\":{\"name\":\"cpu\",\"container\":\"app\",\"target\":{\"type\":"
                "\"Utilization\",\"averageUtilization\":60}}}],\"behavior\":{\"scaleDown\":{"
                "\"stabilizationWindowSeconds\":300,\"policies\":[{\"type\":\"Percent\",\"value\":10,"
                "\"periodSeconds\":60}]},\"scaleUp\":{\"policies\":[{\"type\":\"Pods\",\"value\":4,"
                "\"periodSeconds\":15}],\"selectPolicy\":\"Min\"}}}}\nEOF\n");
        both_kubectl(
                f, "patch hpa big --subresource=status --type=merge -p '{\"status\":{\"currentReplicas\":2,"
                   "\"desiredReplicas\":3,\"currentMetrics\":[{\"type\":\"Resource\",\"resource\":{\"name\":"
                   "\"memory\",\"current\":{\"averageValue\":\"50Mi\"}}},{\"type\":\"Pods\",\"pods\":{"
                   "\"metric\":{"
                   "\"name\":\"qps\"},\"current\":{\"averageValue\":\"500\"}}},{\"type\":\"External\","
                   "\"external\":"
                   "{\"metric\":{\"name\":\"queue\"},\"current\":{\"value\":\"12\"}}}],\"conditions\":[{"
                   "\"type\":"
                   "\"AbleToScale\",\"status\":\"True\",\"reason\":\"ReadyForNewScale\",\"message\":"
                   "\"recommended "
                   "size matches current size\"}]}}'");
        same_output(f, 0, "describe endpoints external-db");
        same_output(f, 0, "describe ep multi");
        same_output(f, 0, "describe hpa web-deploy");
        same_output(f, 0, "describe hpa big");
        same_output(f, 0, "describe hpa");
        /* One key each: kubectl prints a map's keys in Go's random order. */
        both_kubectl(
                f,
                "create -f - <<'EOF'\n{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                "\"one\",\"labels\":{\"a\":\"b\"}},\"data\":{\"conf.ini\":\"x=1\\ny=2\\n\"},\"binaryData\":{"
                "\"blob\":\"AAEC\"}}\nEOF\n");
        both_kubectl(f,
                     "create -f - <<'EOF'\n{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
                     "\"one\"},\"type\":\"example.com/thing\",\"data\":{\"key\":\"aGVsbG8=\"}}\nEOF\n");
        same_output(f, 0, "describe cm one");
        same_output(f, 0, "describe secret one");
}

static void test_describe_node_like_kubectl(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *apply = k8c_xasprintf("apply -f %s/examples/api/node.yaml", f->srcdir);
        both_kubectl(f, apply);
        /* No status, no Lease, no pods. */
        same_output(f, 0, "describe node node-test");
        both_kubectl(f, "patch node node-test --subresource=status --type=merge -p "
                        "'{\"status\":{\"capacity\":{\"cpu\":\"4\",\"memory\":\"8Gi\",\"pods\":\"110\","
                        "\"ephemeral-storage\":\"100Gi\",\"hugepages-2Mi\":\"0\",\"example.com/gpu\":\"2\"},"
                        "\"allocatable\":{\"cpu\":\"3500m\",\"memory\":\"7Gi\",\"pods\":\"110\","
                        "\"ephemeral-storage\":\"90Gi\",\"hugepages-2Mi\":\"0\",\"example.com/gpu\":\"2\"},"
                        "\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.0.0.9\"},{\"type\":"
                        "\"Hostname\",\"address\":\"node-test\"}],\"conditions\":[{\"type\":\"Ready\","
                        "\"status\":\"True\",\"reason\":\"KubeletReady\",\"message\":\"kubelet is posting "
                        "ready status\",\"lastHeartbeatTime\":\"2026-01-01T00:00:00Z\","
                        "\"lastTransitionTime\":\"2026-01-01T00:00:00Z\"},{\"type\":\"MemoryPressure\","
                        "\"status\":\"False\",\"reason\":\"KubeletHasSufficientMemory\",\"message\":\"ok\"}],"
                        "\"nodeInfo\":{\"machineID\":\"m1\",\"systemUUID\":\"u1\",\"bootID\":\"b1\","
                        "\"kernelVersion\":\"6.1\",\"osImage\":\"Debian\",\"operatingSystem\":\"linux\","
                        "\"architecture\":\"amd64\",\"containerRuntimeVersion\":\"runc://1.1\","
                        "\"kubeletVersion\":\"v1.32.0\",\"kubeProxyVersion\":\"v1.32.0\"}}}'");
        both_kubectl(f, "patch node node-test --type=merge -p '{\"spec\":{\"unschedulable\":true,\"taints\":["
                        "{\"key\":\"b\",\"effect\":\"NoSchedule\"},{\"key\":\"a\",\"value\":\"x\",\"effect\":"
                        "\"NoExecute\"},{\"key\":\"a\",\"effect\":\"NoSchedule\"}]}}'");
        both_kubectl(f, "annotate node node-test a=b note=hello");
        both_kubectl(f,
                     "label node node-test node-role.kubernetes.io/control-plane= kubernetes.io/role=infra");
        both_kubectl(f, "create -f - <<'EOF'\n{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                        "\"metadata\":{\"name\":\"node-test\",\"namespace\":\"kube-node-lease\"},\"spec\":{"
                        "\"holderIdentity\":\"node-test\",\"leaseDurationSeconds\":40,\"renewTime\":"
                        "\"2026-01-01T00:00:00.000000Z\"}}\nEOF\n");
        both_kubectl(f, "create -f - "
                        "<<'EOF'\n{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":"
                        "\"team-a\"}}\nEOF\n");
        /* Requests summed over containers, limits only where set, an init container's request as the
         * floor, a sidecar's added, and a finished pod left out. */
        both_kubectl(f,
                     "create -f - <<'EOF'\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
                     "\"p1\",\"namespace\":\"team-a\"},\"spec\":{\"nodeName\":\"node-test\",\"containers\":["
                     "{\"name\":\"a\",\"image\":\"busybox\",\"resources\":{\"requests\":{\"cpu\":\"250m\","
                     "\"memory\":\"64Mi\"},\"limits\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"}}},{\"name\":"
                     "\"b\",\"image\":\"busybox\",\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":"
                     "\"1Gi\"}}}]}}\nEOF\n");
        both_kubectl(f,
                     "create -f - <<'EOF'\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
                     "\"p2\"},\"spec\":{\"nodeName\":\"node-test\",\"initContainers\":[{\"name\":\"i\","
                     "\"image\":\"busybox\",\"resources\":{\"requests\":{\"cpu\":\"1\"}}},{\"name\":\"s\","
                     "\"image\":\"busybox\",\"restartPolicy\":\"Always\",\"resources\":{\"requests\":{"
                     "\"memory\":\"100M\"},\"limits\":{\"memory\":\"200M\"}}}],\"containers\":[{\"name\":"
                     "\"a\",\"image\":\"busybox\",\"resources\":{\"requests\":{\"ephemeral-storage\":\"1Gi\","
                     "\"example.com/gpu\":\"1\"},\"limits\":{\"example.com/gpu\":\"1\"}}}]}}\nEOF\n");
        both_kubectl(f, "create -f - <<'EOF'\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
                        "\"done\"},\"spec\":{\"nodeName\":\"node-test\",\"containers\":[{\"name\":\"a\","
                        "\"image\":\"busybox\",\"resources\":{\"requests\":{\"cpu\":\"2\"}}}]}}\nEOF\n");
        both_kubectl(f, "patch pod done --subresource=status --type=merge -p "
                        "'{\"status\":{\"phase\":\"Succeeded\"}}'");
        /* Events by the node's name as uid (kubelet) and by its uid (controllers), oldest first. */
        both_kubectl(f,
                     "create -f - <<'EOF'\n{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":"
                     "\"node-test.2\"},\"involvedObject\":{\"kind\":\"Node\",\"name\":\"node-test\",\"uid\":"
                     "\"node-test\"},\"reason\":\"NodeReady\",\"message\":\"Node node-test status is now: "
                     "NodeReady\",\"type\":\"Normal\",\"source\":{\"component\":\"kubelet\"},\"count\":1,"
                     "\"firstTimestamp\":\"2026-01-02T00:00:00Z\",\"lastTimestamp\":\"2026-01-02T00:00:00Z\"}"
                     "\nEOF\n");
        both_kubectl(f,
                     "create -f - <<'EOF'\n{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":"
                     "\"node-test.1\"},\"involvedObject\":{\"kind\":\"Node\",\"name\":\"node-test\",\"uid\":"
                     "\"node-test\"},\"reason\":\"Starting\",\"message\":\"Starting kubelet.\",\"type\":"
                     "\"Normal\",\"source\":{\"component\":\"kubelet\"},\"count\":1,\"firstTimestamp\":"
                     "\"2026-01-01T00:00:00Z\",\"lastTimestamp\":\"2026-01-01T00:00:00Z\"}\nEOF\n");
        same_output(f, 0, "describe node node-test");
        same_output(f, 0, "describe nodes");
        same_output(f, 0, "describe no -l kubernetes.io/role=infra");
        same_output(f, 1, "describe node nope");
        /* Annotations of other kinds print as kubectl's ("Annotations:  a: 1" then indented). */
        same_output(f, 0, "describe pod p1 -n team-a");
        both_kubectl(f, "annotate pod p2 x=1 y=2");
        same_output(f, 0, "describe pod p2");
}

/* A Deployment "web" and two ReplicaSets it controls (revisions 1 and 2, the second with the
 * Deployment's current template), made with kubectl on one server. */
static void rollout_fixture(struct k8c_test_apiserver *s)
{
        const char *deploy =
                "create -f - "
                "<<'EOF'\n{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":"
                "\"web\",\"annotations\":{\"team\":\"a\"}},\"spec\":{\"replicas\":3,\"selector\":{"
                "\"matchLabels\":{"
                "\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{"
                "\"containers\":[{\"name\":\"c\",\"image\":\"busybox:1.37\"}]}}}}\nEOF\n";
        cleanup_free char *out = NULL;
        assert_int_equal(k8c_test_kubectl(s, &out, "%s", deploy), 0);
        cleanup_free char *uid = NULL;
        assert_int_equal(k8c_test_kubectl(s, &uid, "get deploy web -o 'jsonpath={.metadata.uid}'"), 0);
        for (int rev = 1; rev <= 2; rev++) {
                cleanup_free char *o = NULL;
                int rc = k8c_test_kubectl(
                        s, &o,
                        "create -f - "
                        "<<'EOF'\n{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":{"
                        "\"name\":\"web-h%d\",\"labels\":{\"app\":\"web\",\"pod-template-hash\":\"h%d\"},"
                        "\"annotations\":{\"deployment.kubernetes.io/revision\":\"%d\",%s"
                        "\"deployment.kubernetes.io/"
                        "desired-replicas\":\"3\"},\"ownerReferences\":[{\"apiVersion\":"
                        "\"apps/"
                        "v1\",\"kind\":\"Deployment\",\"name\":\"web\",\"uid\":\"%s\",\"controller\":true,"
                        "\"blockOwnerDeletion\":true}]},\"spec\":{\"replicas\":0,\"selector\":{"
                        "\"matchLabels\":{"
                        "\"app\":\"web\",\"pod-template-hash\":\"h%d\"}},\"template\":{\"metadata\":{"
                        "\"labels\":{"
                        "\"app\":\"web\",\"pod-template-hash\":\"h%d\"}},\"spec\":{\"containers\":[{\"name\":"
                        "\"c\","
                        "\"image\":\"busybox:1.3%d\"}]}}}}\nEOF\n",
                        rev, rev, rev, rev == 1 ? "\"kubernetes.io/change-cause\":\"first\"," : "", uid, rev,
                        rev, 5 + rev);
                if (rc != 0)
                        fprintf(stderr, "%s\n", o);
                assert_int_equal(rc, 0);
        }
        /* A ReplicaSet with the same labels that the Deployment does not control is left out. */
        cleanup_free char *o = NULL;
        assert_int_equal(
                k8c_test_kubectl(
                        s, &o,
                        "create -f - <<'EOF'\n{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
                        "\"metadata\":{\"name\":\"stray\",\"labels\":{\"app\":\"web\"},\"annotations\":{"
                        "\"deployment.kubernetes.io/revision\":\"5\"}},\"spec\":{\"replicas\":0,"
                        "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{"
                        "\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
                        "\"image\":\"other\"}]}}}}\nEOF\n"),
                0);
}

/* Sets the Deployment's status (as its controller would) on both servers. */
static void deploy_status(struct fixture *f, const char *status)
{
        struct k8c_test_apiserver *srv[] = { &f->a, &f->b };
        for (size_t i = 0; i < 2; i++) {
                cleanup_free char *gen = NULL, *out = NULL;
                assert_int_equal(
                        k8c_test_kubectl(srv[i], &gen, "get deploy web -o 'jsonpath={.metadata.generation}'"),
                        0);
                int rc = k8c_test_kubectl(srv[i], &out,
                                          "patch deploy web --subresource=status --type=merge -p "
                                          "'{\"status\":{\"observedGeneration\":%s,%s}}'",
                                          gen, status);
                if (rc != 0)
                        fprintf(stderr, "%s\n", out);
                assert_int_equal(rc, 0);
        }
}

static void test_rollout_like_kubectl(void **state)
{
        struct fixture *f = *state;
        rollout_fixture(&f->a);
        rollout_fixture(&f->b);
        same_output(f, 0, "rollout history deployment/web");
        same_output(f, 0, "rollout history deploy web --revision=1");
        same_output(f, 1, "rollout history deployment/web --revision=7");
        same_output(f, 0, "rollout status deployment/web --watch=false");
        same_output(f, 1, "rollout status deployment/web --timeout=1s");
        same_output(f, 1, "rollout status deployment/nope");
        same_output(f, 1, "rollout status rs/web-h1");
        same_output(f, 1, "rollout status");
        /* undo: to the revision before the latest, then explicit revisions. */
        same_output(f, 0, "rollout undo deployment/web");
        same_stored(f, "/apis/apps/v1/namespaces/default/deployments/web");
        same_output(f, 0, "rollout undo deployment/web --to-revision=1");
        same_output(f, 1, "rollout undo deployment/web --to-revision=9");
        same_output(f, 0, "rollout undo deployment/web --to-revision=2");
        same_stored(f, "/apis/apps/v1/namespaces/default/deployments/web");
        /* pause / resume / restart and their refusals. */
        same_output(f, 0, "rollout pause deployment/web");
        same_output(f, 1, "rollout pause deployment/web");
        same_output(f, 1, "rollout restart deployment/web");
        same_output(f, 1, "rollout undo deployment/web");
        same_stored(f, "/apis/apps/v1/namespaces/default/deployments/web");
        same_output(f, 0, "rollout resume deployment/web");
        same_output(f, 1, "rollout resume deployment/web");
        same_stored(f, "/apis/apps/v1/namespaces/default/deployments/web");
        same_output(f, 0, "rollout restart deployment/web");
        cleanup_free char *at = NULL;
        assert_int_equal(k8cctl(&f->b, &at,
                                "get deploy web -o "
                                "'jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/"
                                "restartedAt}'"),
                         0);
        assert_int_equal(strlen(at), 20); /* 2026-11-24T18:33:17Z */
        assert_int_equal(at[19], 'Z');
        /* status: each of kubectl's stages. */
        deploy_status(f, "\"replicas\":3,\"updatedReplicas\":1");
        same_output(f, 0, "rollout status deployment/web --watch=false");
        deploy_status(f, "\"replicas\":4,\"updatedReplicas\":3");
        same_output(f, 0, "rollout status deployment/web --watch=false");
        deploy_status(f, "\"replicas\":3,\"updatedReplicas\":3,\"availableReplicas\":1");
        same_output(f, 0, "rollout status deployment/web --watch=false");
        deploy_status(f, "\"replicas\":3,\"updatedReplicas\":3,\"availableReplicas\":3");
        same_output(f, 0, "rollout status deployment/web");
        deploy_status(f, "\"conditions\":[{\"type\":\"Progressing\",\"status\":\"False\",\"reason\":"
                         "\"ProgressDeadlineExceeded\"}]");
        same_output(f, 1, "rollout status deployment/web");
}

/* rollout status follows the Deployment until its rollout completes. */
static void test_rollout_status_watches(void **state)
{
        struct fixture *f = *state;
        rollout_fixture(&f->b);
        cleanup_free char *gen = NULL, *o = NULL;
        assert_int_equal(k8cctl(&f->b, &gen, "get deploy web -o 'jsonpath={.metadata.generation}'"), 0);
        cleanup_free char *bin = k8cctl_path();
        cleanup_free char *cmd =
                k8c_xasprintf("%s --kubeconfig=/dev/null --server %s rollout status deploy/web "
                              "--timeout=20s 2>&1",
                              bin, f->b.url);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        usleep(700 * 1000);
        const char *stages[] = {
                "\"replicas\":3,\"updatedReplicas\":3,\"availableReplicas\":1",
                "\"replicas\":3,\"updatedReplicas\":3,\"availableReplicas\":3",
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(stages); i++) {
                free(o);
                o = NULL;
                assert_int_equal(k8c_test_kubectl(&f->b, &o,
                                                  "patch deploy web --subresource=status --type=merge -p "
                                                  "'{\"status\":{\"observedGeneration\":%s,%s}}'",
                                                  gen, stages[i]),
                                 0);
                usleep(300 * 1000);
        }
        char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf) - 1, p);
        buf[n] = '\0';
        int st = pclose(p);
        assert_int_equal(WEXITSTATUS(st), 0);
        assert_string_equal(buf,
                            "Waiting for deployment spec update to be observed...\n"
                            "Waiting for deployment \"web\" rollout to finish: 1 of 3 updated replicas are "
                            "available...\n"
                            "deployment \"web\" successfully rolled out\n");
}

/* kubectl's generated object (its dry-run output created with kubectl on server a) beside
 * k8cctl's generator on server b; both succeed and print the same line (or k8cctl `want`). */
static void generated_like_kubectl(struct fixture *f, const char *cmd, const char *want)
{
        cleanup_free char *ko = NULL, *co = NULL;
        int kc = k8c_test_kubectl(
                &f->a, &ko,
                "%s --dry-run=client -o json | HOME='%s' KUBECONFIG=/dev/null kubectl --server %s "
                "create -f -",
                cmd, f->a.home, f->a.url);
        int cc = k8cctl(&f->b, &co, "%s", cmd);
        if (kc != 0 || cc != 0 || strcmp(want != NULL ? want : ko, co) != 0)
                fprintf(stderr, "%s\nkubectl: %s\nk8cctl: %s\n", cmd, ko, co);
        assert_int_equal(kc, 0);
        assert_int_equal(cc, 0);
        assert_string_equal(co, want != NULL ? want : ko);
}

/* Generators: the objects kubectl would make (compared as --dry-run=client -o yaml), and the
 * stored objects after creating them for real. kubectl sends typed creates (create deployment,
 * namespace, configmap, secret, service; autoscale) as protobuf; so that this suite does not
 * depend on the apiserver's protobuf decoding, kubectl's side of those is its dry-run object
 * piped into `kubectl create -f -` (the same object, sent as JSON). */
static void test_generators_like_kubectl(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *apply = k8c_xasprintf("apply -f %s/examples/api/", f->srcdir);
        both_kubectl(f, apply);
        char dir[] = "/tmp/k8c-cli-gen-XXXXXX";
        assert_non_null(mkdtemp(dir));
        cleanup_free char *file = k8c_xasprintf("%s/f.txt", dir);
        FILE *fp = fopen(file, "w");
        assert_non_null(fp);
        fputs("file data\n", fp);
        fclose(fp);
        const char *dry[] = {
                "create deployment gen --image=busybox:1.37 --replicas=2 --port=80",
                "create deployment gen2 --image=busybox -- sleep 10",
                "create deployment gen4 --image=busybox --image=registry.local/nginx:1.2",
                "create namespace ns1",
                "create configmap cm1 --from-literal=a=1 --from-literal=b=x=y --from-file=%s "
                "--from-file=k2=%s",
                "create secret generic s1 --from-literal=a=1 --from-file=%s --type=Opaque",
                "create service clusterip svc1 --tcp=5678:8080 --tcp=80",
                "create service clusterip svc2 --clusterip=None",
                "run r1 --image=busybox --port=80 --labels=a=b,c=d --env=X=1 --env=Y=2 --restart=Never",
                "run r2 --image=busybox --image-pull-policy=Always -- a b",
                "expose deployment web-deploy --port=80 --target-port=8080",
                "expose deployment web-deploy --port=80 --target-port=http --type=NodePort --name=np "
                "--protocol=UDP",
                "expose rs web-rs --port=80",
                "expose pod web",
                "expose svc/web --port=82 --name=web2",
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(dry); i++) {
                cleanup_free char *cmd = k8c_xasprintf(dry[i], file, file);
                const char *dash = strstr(cmd, " -- ");
                const char *flags = " --dry-run=client -o yaml";
                cleanup_free char *full =
                        dash != NULL ? k8c_xasprintf("%.*s%s%s", (int)(dash - cmd), cmd, flags, dash)
                                     : k8c_xasprintf("%s%s", cmd, flags);
                same_output(f, 0, full);
        }
        same_output(f, 0, "create deployment gen4 --image=busybox --image=nginx:1.2 --dry-run=client");
        same_output(f, 0, "run r2 --image=busybox --dry-run=client -o name");
        same_output(f, 1, "create deployment x --image=a --image=b -- sleep 1");
        same_output(f, 1, "expose deployment nope --port=80");

        /* For real: run and expose as kubectl does them. */
        same_output(
                f, 0,
                "run r1 --image=busybox --port=80 --labels=a=b --env=X=1 --restart=Never --command -- sh -c "
                "'echo hi'");
        same_stored(f, "/api/v1/namespaces/default/pods/r1");
        same_output(f, 0, "expose deployment web-deploy --port=80 --target-port=8080");
        same_stored(f, "/api/v1/namespaces/default/services/web-deploy");
        same_output(f, 0, "expose pod r1 --name=r1-np --type=NodePort");
        same_stored(f, "/api/v1/namespaces/default/services/r1-np");
        same_output(f, 1, "expose pod r1 --name=r1-np");
        /* The typed creates: kubectl's dry-run object created with kubectl, k8cctl's generator. */
        struct {
                const char *args, *path;
        } typed[] = {
                { "create deployment gen --image=busybox:1.37 --replicas=2 --port=80",
                  "/apis/apps/v1/namespaces/default/deployments/gen" },
                { "create namespace ns1", "/api/v1/namespaces/ns1" },
                { "create configmap cm1 --from-literal=a=1 --from-file=k2=%s",
                  "/api/v1/namespaces/default/configmaps/cm1" },
                { "create secret generic s1 --from-literal=a=1 --from-file=%s",
                  "/api/v1/namespaces/default/secrets/s1" },
                { "create service clusterip svc1 --tcp=5678:8080 --tcp=80",
                  "/api/v1/namespaces/default/services/svc1" },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(typed); i++) {
                cleanup_free char *cmd = k8c_xasprintf(typed[i].args, file);
                generated_like_kubectl(f, cmd, NULL);
                same_stored(f, typed[i].path);
        }
        /* autoscale: kubectl generates autoscaling/v1, k8cctl the same HPA as autoscaling/v2. (Without
         * --cpu-percent the two differ as stored here: the apiserver defaults a v2 HPA without metrics
         * to 80% CPU but leaves a v1 one without a target as it is.) */
        const char *hpa[] = { "autoscale deployment gen --min=2 --max=5 --cpu-percent=70",
                              "autoscale deploy/web-deploy --max=3 --name=hpa2 --cpu-percent=50" };
        const char *hpa_paths[] = { "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/gen",
                                    "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/hpa2" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(hpa); i++) {
                generated_like_kubectl(f, hpa[i],
                                       i == 0 ? "horizontalpodautoscaler.autoscaling/gen autoscaled\n"
                                              : "horizontalpodautoscaler.autoscaling/hpa2 autoscaled\n");
                same_stored(f, hpa_paths[i]);
        }
        same_output(f, 1, "autoscale deployment gen --min=6 --max=5");
        unlink(file);
        rmdir(dir);
}

static void write_file(const char *path, const char *text)
{
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(text, fp);
        fclose(fp);
}

/* Client-side apply merges lists by their keys (three-way, from the last-applied annotation):
 * what the manifest dropped goes, what another writer added stays, as with kubectl. */
static void test_apply_strategic_like_kubectl(void **state)
{
        struct fixture *f = *state;
        char dir[] = "/tmp/k8c-cli-smp-XXXXXX";
        assert_non_null(mkdtemp(dir));
        cleanup_free char *file = k8c_xasprintf("%s/app.yaml", dir);
        cleanup_free char *apply = k8c_xasprintf("apply -f %s", file);
        write_file(
                file,
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  labels:\n    a: \"1\"\n"
                "    b: \"2\"\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: app\n"
                "  template:\n    metadata:\n      labels:\n        app: app\n    spec:\n      containers:\n"
                "      - name: main\n        image: busybox:1.36\n        command: [sleep, \"3600\"]\n"
                "        ports:\n        - containerPort: 80\n        - containerPort: 81\n"
                "        env:\n        - name: A\n          value: a\n        - name: B\n          value: b\n"
                "      - name: helper\n        image: busybox:1.36\n"
                "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app\nspec:\n  selector:\n"
                "    app: app\n  ports:\n  - name: http\n    port: 80\n  - name: extra\n    port: 81\n");
        same_output(f, 0, apply);
        /* Another writer adds a sidecar, an env var and a label. */
        same_output(
                f, 0,
                "patch deploy app -p '{\"metadata\":{\"labels\":{\"other\":\"x\"}},\"spec\":{\"template\":"
                "{\"spec\":{\"containers\":[{\"name\":\"main\",\"env\":[{\"name\":\"OTHER\",\"value\":\"o\"}]"
                "},"
                "{\"name\":\"sidecar\",\"image\":\"busybox:1.36\"}]}}}}'");
        write_file(
                file,
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  labels:\n    a: \"1\"\n"
                "spec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: app\n"
                "  template:\n    metadata:\n      labels:\n        app: app\n    spec:\n      containers:\n"
                "      - name: main\n        image: busybox:1.37\n"
                "        ports:\n        - containerPort: 80\n        - containerPort: 82\n"
                "        env:\n        - name: A\n          value: changed\n        - name: C\n"
                "          value: c\n"
                "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app\nspec:\n  selector:\n"
                "    app: app\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n");
        same_output(f, 0, apply);
        same_stored(f, "/apis/apps/v1/namespaces/default/deployments/app");
        same_stored(f, "/api/v1/namespaces/default/services/app");
        cleanup_free char *names = NULL;
        assert_int_equal(k8cctl(&f->b, &names,
                                "get deploy app -o 'jsonpath={.spec.template.spec.containers[*].name} "
                                "{.spec.template.spec.containers[0].env[*].name} {.metadata.labels}'"),
                         0);
        assert_string_equal(names, "main sidecar A OTHER C {\"a\":\"1\",\"other\":\"x\"}");
        same_output(f, 0, apply);
        unlink(file);
        rmdir(dir);
}

/* Runs k8cctl against server b and expects this exit code and output. */
static void k8cctl_says(struct fixture *f, int code, const char *args, const char *want)
{
        cleanup_free char *out = NULL;
        int rc = k8cctl(&f->b, &out, "%s", args);
        if (rc != code || strcmp(out, want) != 0)
                fprintf(stderr, "k8cctl %s (%d):\n%s\n", args, rc, out);
        assert_string_equal(out, want);
        assert_int_equal(rc, code);
}

/* `why` (k8cctl only): a Pending pod's per-node reasons, a not-Ready pod's containers and
 * warnings, a Service's missing endpoints. */
static void test_why(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *o = NULL;
        const char *setup[] = {
                "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\",\"labels\":{\"disk\":"
                "\"ssd\"}},"
                "\"spec\":{\"taints\":[{\"key\":\"gpu\",\"value\":\"yes\",\"effect\":\"NoSchedule\"}]},"
                "\"status\":{"
                "\"allocatable\":{\"cpu\":\"4\",\"memory\":\"8Gi\",\"pods\":\"10\"},\"conditions\":[{"
                "\"type\":\"Ready\","
                "\"status\":\"True\"}]}}",
                "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n2\",\"labels\":{\"disk\":"
                "\"hdd\"}},"
                "\"spec\":{\"unschedulable\":true},\"status\":{\"allocatable\":{\"cpu\":\"2\",\"memory\":"
                "\"4Gi\","
                "\"pods\":\"0\"},\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}",
                "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n3\",\"labels\":{\"disk\":"
                "\"ssd\"}},"
                "\"status\":{\"allocatable\":{\"cpu\":\"2\",\"memory\":\"4Gi\",\"pods\":\"10\"},"
                "\"conditions\":[{"
                "\"type\":\"Ready\",\"status\":\"True\"}]}}",
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"busy\"},\"spec\":{"
                "\"nodeName\":\"n3\","
                "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"resources\":{\"requests\":{\"cpu\":"
                "\"1500m\"}}}]}}",
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"big\",\"labels\":{\"app\":"
                "\"web\","
                "\"tier\":\"x\"}},\"spec\":{\"nodeSelector\":{\"disk\":\"ssd\"},\"containers\":[{\"name\":"
                "\"c\","
                "\"image\":\"busybox\",\"resources\":{\"requests\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]}}",
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"sick\",\"labels\":{\"app\":"
                "\"db\"}},"
                "\"spec\":{\"nodeName\":\"n3\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
                "\"readinessProbe\":{\"httpGet\":{\"port\":80},\"periodSeconds\":5}}]}}",
                "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"},\"spec\":{"
                "\"selector\":{"
                "\"app\":\"web\",\"tier\":\"front\"},\"ports\":[{\"port\":80}]}}",
                "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"db\"},\"spec\":{"
                "\"selector\":{"
                "\"app\":\"db\"},\"ports\":[{\"port\":5432}]}}",
                "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"ext\"},\"spec\":{"
                "\"ports\":[{"
                "\"port\":1}]}}",
                "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"sick.1\"},"
                "\"involvedObject\":{"
                "\"kind\":\"Pod\",\"name\":\"sick\",\"namespace\":\"default\",\"uid\":\"UID\"},\"reason\":"
                "\"Unhealthy\","
                "\"message\":\"Readiness probe failed: connection refused\",\"type\":\"Warning\",\"count\":4,"
                "\"lastTimestamp\":\"2026-01-01T00:00:00Z\"}",
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(setup); i++) {
                cleanup_free char *uid = NULL;
                const char *doc = setup[i];
                cleanup_free char *fixed = NULL;
                if (strstr(doc, "\"UID\"") != NULL) {
                        assert_int_equal(k8cctl(&f->b, &uid, "get pod sick -o 'jsonpath={.metadata.uid}'"),
                                         0);
                        const char *at = strstr(doc, "\"UID\"");
                        fixed = k8c_xasprintf("%.*s\"%s\"%s", (int)(at - doc), doc, uid, at + 5);
                        doc = fixed;
                }
                free(o);
                o = NULL;
                int rc = k8cctl(&f->b, &o, "create -f - <<'EOF'\n%s\nEOF\n", doc);
                if (rc != 0)
                        fprintf(stderr, "%s\n", o);
                assert_int_equal(rc, 0);
        }
        free(o);
        o = NULL;
        assert_int_equal(
                k8c_test_kubectl(
                        &f->b, &o,
                        "patch pod sick --subresource=status --type=merge -p '{\"status\":{\"phase\":"
                        "\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}],"
                        "\"containerStatuses\":[{\"name\":\"c\",\"image\":\"busybox\",\"imageID\":\"\","
                        "\"ready\":false,\"restartCount\":2,\"state\":{\"running\":{\"startedAt\":"
                        "\"2026-01-01T00:01:00Z\"}},\"lastState\":{\"terminated\":{\"exitCode\":137,"
                        "\"reason\":\"Error\",\"finishedAt\":\"2026-01-01T00:00:59Z\"}}}]}}'"),
                0);
        k8cctl_says(f, 0, "why pod/big",
                    "pod/big is Pending: no node has been assigned to it.\n"
                    "Scheduler: no decision recorded yet (is k8c-scheduler running?)\n"
                    "NODE   FITS   WHY NOT\n"
                    "n1     no     untolerated taint gpu=yes:NoSchedule\n"
                    "n2     no     node is cordoned (unschedulable); node is not Ready; nodeSelector "
                    "disk=ssd does not "
                    "match (node has hdd); Too many pods (0 of 0)\n"
                    "n3     no     Insufficient cpu (requests 1, free 500m of 2)\n");
        k8cctl_says(
                f, 0, "why pod sick",
                "pod/sick is Running on node n3 but not Ready.\n"
                "container c: not ready, 2 restart(s); running since 2026-01-01T00:01:00Z; last exit: Error, "
                "exit code 137 at 2026-01-01T00:00:59Z\n"
                "  readiness probe: http-get every 5s, 3 failure(s) make it not ready\n"
                "Warnings:\n"
                "  Unhealthy: Readiness probe failed: connection refused (x4)\n");
        k8cctl_says(
                f, 0, "why svc/web",
                "service/web selects app=web,tier=front, and no pod in namespace default has these labels.\n"
                "Closest pods (labels they lack or have with another value):\n"
                "  pod/big: tier=x (wants front);\n");
        k8cctl_says(f, 0, "why service db",
                    "service/db selects app=db: 1 pod(s) match, none of them Ready:\n"
                    "  pod/sick: Running, not ready\n"
                    "Run `k8cctl why pod/NAME` on one of them.\n");
        k8cctl_says(f, 0, "why svc ext",
                    "service/ext has no selector: its Endpoints are written by hand (or by another "
                    "controller), not "
                    "from pods.\n");
        k8cctl_says(f, 1, "why svc nope", "Error from server (NotFound): services \"nope\" not found\n");
        k8cctl_says(f, 1, "why node n1", "error: why explains pods and services, not Node\n");
}

static void test_wait_like_kubectl(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *o1 = NULL, *o2 = NULL;
        assert_int_equal(k8cctl(&f->b, &o1, "apply -f %s/examples/api/pod.yaml", f->srcdir), 0);
        assert_int_equal(k8c_test_kubectl(&f->a, &o2, "apply -f %s/examples/api/pod.yaml", f->srcdir), 0);
        same_output(f, 0, "wait --for=jsonpath='{.status.phase}'=Pending pod/web");
        same_output(f, 1, "wait --for=condition=Ready pod/web --timeout=1s");
        same_output(f, 0, "wait --for=delete pod/nope --timeout=2s");
        same_output(f, 1, "wait --for=condition=Ready pod/nope --timeout=1s");
}

static void test_config(void **state)
{
        struct fixture *f = *state;
        char dir[] = "/tmp/k8c-cli-kc-XXXXXX";
        assert_non_null(mkdtemp(dir));
        cleanup_free char *path = k8c_xasprintf("%s/config", dir);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fprintf(fp,
                "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster:\n    server: %s\n"
                "    certificate-authority-data: Zm9v\ncontexts:\n- name: ctx-a\n  context:\n    cluster: a\n"
                "    user: u\n    namespace: team-a\n- name: ctx-b\n  context:\n    cluster: a\n    user: u\n"
                "current-context: ctx-a\nusers:\n- name: u\n  user:\n    token: secret\n",
                f->b.url);
        fclose(fp);
        cleanup_free char *bin = k8cctl_path();
        struct {
                const char *args;
                int code;
                const char *out;
        } cases[] = {
                { "config current-context", 0, "ctx-a\n" },
                { "config get-contexts", 0,
                  "CURRENT   NAME    CLUSTER   AUTHINFO   NAMESPACE\n*         ctx-a   a         u          "
                  "team-a\n"
                  "          ctx-b   a         u          \n" },
                /* the context's namespace is the default one */
                { "get pods", 0, "No resources found in team-a namespace.\n" },
                { "config use-context nope", 1, "error: no context exists with the name: \"nope\"\n" },
                { "config use-context ctx-b", 0, "Switched to context \"ctx-b\".\n" },
                { "config current-context", 0, "ctx-b\n" },
                { "get pods", 0, "No resources found in default namespace.\n" },
                { "--context ctx-a get pods", 0, "No resources found in team-a namespace.\n" },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                cleanup_free char *cmd =
                        k8c_xasprintf("HOME=%s %s --kubeconfig %s %s 2>&1", dir, bin, path, cases[i].args);
                FILE *p = popen(cmd, "r");
                assert_non_null(p);
                char buf[4096];
                size_t n = fread(buf, 1, sizeof(buf) - 1, p);
                buf[n] = '\0';
                int st = pclose(p);
                assert_string_equal(buf, cases[i].out);
                assert_int_equal(WEXITSTATUS(st), cases[i].code);
        }
        cleanup_free char *view = NULL;
        cleanup_free char *cmd = k8c_xasprintf("HOME=%s %s --kubeconfig %s config view", dir, bin, path);
        FILE *p = popen(cmd, "r");
        char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf) - 1, p);
        buf[n] = '\0';
        pclose(p);
        cleanup_free char *want =
                k8c_xasprintf("apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: "
                              "DATA+OMITTED\n    server: %s\n"
                              "  name: a\ncontexts:\n- context:\n    cluster: a\n    namespace: team-a\n    "
                              "user: u\n  name: ctx-a\n"
                              "- context:\n    cluster: a\n    user: u\n  name: ctx-b\ncurrent-context: "
                              "ctx-b\nkind: Config\n"
                              "preferences: {}\nusers:\n- name: u\n  user:\n    token: REDACTED\n",
                              f->b.url);
        assert_string_equal(buf, want);
        unlink(path);
        rmdir(dir);
}

/* Watch: k8cctl get --watch-only prints the row of an object created after it started. */
static void test_watch_only(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *bin = k8cctl_path();
        int pipefd[2];
        assert_int_equal(pipe(pipefd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(pipefd[1], 1);
                close(pipefd[0]);
                close(pipefd[1]);
                execl(bin, "k8cctl", "--kubeconfig=/dev/null", "--server", f->b.url, "get", "configmaps",
                      "--watch-only", "-o", "wide", (char *)NULL);
                _exit(127);
        }
        cleanup_pid pid_t child = pid;
        close(pipefd[1]);
        usleep(500 * 1000);
        cleanup_free char *o = NULL;
        assert_int_equal(
                k8cctl(&f->b, &o,
                       "create -f - <<'EOF'\n"
                       "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"watched\"},"
                       "\"data\":{\"a\":\"b\"}}\nEOF\n"),
                0);
        char buf[4096] = "";
        size_t got = 0;
        time_t deadline = time(NULL) + 10;
        fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
        while (time(NULL) < deadline && strstr(buf, "watched") == NULL) {
                ssize_t n = read(pipefd[0], buf + got, sizeof(buf) - 1 - got);
                if (n > 0)
                        got += (size_t)n;
                buf[got] = '\0';
                if (n <= 0)
                        usleep(50 * 1000);
        }
        close(pipefd[0]);
        cleanup_free char *norm = normalise(buf);
        assert_string_equal(norm, "NAME DATA AGE\nwatched 1 AGE\n");
        kill(child, SIGTERM);
        int st = 0;
        waitpid(child, &st, 0);
        child = -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_apply_examples_twice, setup, teardown),
                cmocka_unit_test_setup_teardown(test_get_like_kubectl, setup, teardown),
                cmocka_unit_test_setup_teardown(test_errors_like_kubectl, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mutations_like_kubectl, setup, teardown),
                cmocka_unit_test_setup_teardown(test_apply_configured_and_replace, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delete_selectors_and_empty, setup, teardown),
                cmocka_unit_test_setup_teardown(test_watch_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_describe_like_kubectl, setup, teardown),
                cmocka_unit_test_setup_teardown(test_describe_node_like_kubectl, setup, teardown),
                cmocka_unit_test_setup_teardown(test_describe_ep_hpa_like_kubectl, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rollout_like_kubectl, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rollout_status_watches, setup, teardown),
                cmocka_unit_test_setup_teardown(test_generators_like_kubectl, setup, teardown),
                cmocka_unit_test_setup_teardown(test_apply_strategic_like_kubectl, setup, teardown),
                cmocka_unit_test_setup_teardown(test_why, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wait_like_kubectl, setup, teardown),
                cmocka_unit_test_setup_teardown(test_config, setup, teardown),
                cmocka_unit_test_setup_teardown(test_server_side_apply, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delete_grace_and_force, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for yaml.c: Kubernetes manifests to JSON, YAML 1.1 typing,
 * anchors and merge keys, block scalars, errors with positions, JSON to YAML
 * and round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/yaml.h"

/* Converts every document and compares the compact JSON of the array. */
static void assert_docs(const char *yaml, const char *expected_json)
{
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *docs = NULL;
        int r = k8c_yaml_to_json_docs(yaml, strlen(yaml), &docs, &err);
        if (r < 0)
                fail_msg("unexpected error: %s", k8c_error_msg(&err));
        cleanup_free char *s = k8c_json_dumps(docs);
        assert_string_equal(s, expected_json);
}

static void assert_one(const char *yaml, const char *expected_json)
{
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *doc = NULL;
        int r = k8c_yaml_to_json(yaml, strlen(yaml), &doc, &err);
        if (r < 0)
                fail_msg("unexpected error: %s", k8c_error_msg(&err));
        cleanup_free char *s = k8c_json_dumps(doc);
        assert_string_equal(s, expected_json);
}

static void assert_yaml_error(const char *yaml, const char *msg)
{
        cleanup_error k8c_error_t err = NULL;
        json_t *docs = NULL;
        int r = k8c_yaml_to_json_docs(yaml, strlen(yaml), &docs, &err);
        assert_int_equal(r, -(int)K8C_EBADREQUEST);
        assert_null(docs);
        assert_int_equal(k8c_error_reason(&err), K8C_EBADREQUEST);
        assert_string_equal(k8c_error_msg(&err), msg);
}

static void assert_to_yaml(const char *json, const char *expected_yaml)
{
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *v = NULL;
        assert_int_equal(k8c_json_parse(json, strlen(json), &v, &err), 0);
        cleanup_free char *y = k8c_json_to_yaml(v);
        assert_string_equal(y, expected_yaml);
}

/* json -> yaml -> json must give back the same compact JSON. */
static void assert_round_trip(const char *json)
{
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *v = NULL;
        assert_int_equal(k8c_json_parse(json, strlen(json), &v, &err), 0);
        cleanup_free char *y = k8c_json_to_yaml(v);
        json_auto_t *back = NULL;
        int r = k8c_yaml_to_json(y, strlen(y), &back, &err);
        if (r < 0)
                fail_msg("re-reading %s: %s", y, k8c_error_msg(&err));
        cleanup_free char *s = k8c_json_dumps(back);
        assert_string_equal(s, json);
}

static const char pod_yaml[] = "# A pod as people write them\n"
                               "apiVersion: v1\n"
                               "kind: Pod\n"
                               "metadata:\n"
                               "  name: web-0\n"
                               "  namespace: default\n"
                               "  labels:\n"
                               "    app: web\n"
                               "    app.kubernetes.io/version: \"1.25\"\n"
                               "  annotations:\n"
                               "    prometheus.io/scrape: 'true'\n"
                               "    prometheus.io/port: \"9102\"\n"
                               "spec:\n"
                               "  restartPolicy: Always\n"
                               "  terminationGracePeriodSeconds: 30\n"
                               "  containers:\n"
                               "  - name: nginx\n"
                               "    image: nginx:1.25.3\n"
                               "    command: [\"nginx\", \"-g\", \"daemon off;\"]\n"
                               "    ports:\n"
                               "    - containerPort: 80\n"
                               "      name: http\n"
                               "      protocol: TCP\n"
                               "    - containerPort: 443\n"
                               "      name: https\n"
                               "    env:\n"
                               "    - name: LOG_LEVEL\n"
                               "      value: debug\n"
                               "    - name: WORKERS\n"
                               "      value: \"4\"\n"
                               "    - name: POD_IP\n"
                               "      valueFrom:\n"
                               "        fieldRef:\n"
                               "          fieldPath: status.podIP\n"
                               "    resources:\n"
                               "      requests:\n"
                               "        cpu: 100m\n"
                               "        memory: 128Mi\n"
                               "      limits:\n"
                               "        cpu: 1\n"
                               "        memory: 1Gi\n"
                               "    readinessProbe:\n"
                               "      httpGet: {path: /healthz, port: 80}\n"
                               "      initialDelaySeconds: 5\n"
                               "    securityContext:\n"
                               "      privileged: false\n"
                               "      readOnlyRootFilesystem: yes\n";

static const char pod_json[] =
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-0\",\"namespace\":\"default\","
        "\"labels\":{\"app\":\"web\",\"app.kubernetes.io/version\":\"1.25\"},"
        "\"annotations\":{\"prometheus.io/scrape\":\"true\",\"prometheus.io/port\":\"9102\"}},"
        "\"spec\":{\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,\"containers\":[{"
        "\"name\":\"nginx\",\"image\":\"nginx:1.25.3\",\"command\":[\"nginx\",\"-g\",\"daemon off;\"],"
        "\"ports\":[{\"containerPort\":80,\"name\":\"http\",\"protocol\":\"TCP\"},"
        "{\"containerPort\":443,\"name\":\"https\"}],"
        "\"env\":[{\"name\":\"LOG_LEVEL\",\"value\":\"debug\"},{\"name\":\"WORKERS\",\"value\":\"4\"},"
        "{\"name\":\"POD_IP\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"status.podIP\"}}}],"
        "\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"128Mi\"},"
        "\"limits\":{\"cpu\":1,\"memory\":\"1Gi\"}},"
        "\"readinessProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":80},\"initialDelaySeconds\":5},"
        "\"securityContext\":{\"privileged\":false,\"readOnlyRootFilesystem\":true}}]}}";

static void test_pod(void **state)
{
        assert_one(pod_yaml, pod_json);
        assert_docs(pod_yaml,
                    "[" /* one document */
                    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-0\","
                    "\"namespace\":\"default\",\"labels\":{\"app\":\"web\",\"app.kubernetes.io/"
                    "version\":\"1.25\"},\"annotations\":{\"prometheus.io/scrape\":\"true\","
                    "\"prometheus.io/port\":\"9102\"}},\"spec\":{\"restartPolicy\":\"Always\","
                    "\"terminationGracePeriodSeconds\":30,\"containers\":[{\"name\":\"nginx\","
                    "\"image\":\"nginx:1.25.3\",\"command\":[\"nginx\",\"-g\",\"daemon off;\"],"
                    "\"ports\":[{\"containerPort\":80,\"name\":\"http\",\"protocol\":\"TCP\"},"
                    "{\"containerPort\":443,\"name\":\"https\"}],\"env\":[{\"name\":\"LOG_LEVEL\","
                    "\"value\":\"debug\"},{\"name\":\"WORKERS\",\"value\":\"4\"},{\"name\":\"POD_IP\","
                    "\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"status.podIP\"}}}],\"resources\":{"
                    "\"requests\":{\"cpu\":\"100m\",\"memory\":\"128Mi\"},\"limits\":{\"cpu\":1,"
                    "\"memory\":\"1Gi\"}},\"readinessProbe\":{\"httpGet\":{\"path\":\"/healthz\","
                    "\"port\":80},\"initialDelaySeconds\":5},\"securityContext\":{\"privileged\":"
                    "false,\"readOnlyRootFilesystem\":true}}]}}]");
        /* The JSON renders back to YAML and reads back identically. */
        assert_round_trip(pod_json);
}

static void test_service(void **state)
{
        assert_one("apiVersion: v1\n"
                   "kind: Service\n"
                   "metadata:\n"
                   "  name: web\n"
                   "spec:\n"
                   "  type: NodePort\n"
                   "  selector:\n"
                   "    app: web\n"
                   "  ports:\n"
                   "  - name: http\n"
                   "    port: 80\n"
                   "    targetPort: http\n"
                   "    nodePort: 30080\n"
                   "  - name: metrics\n"
                   "    port: 9102\n"
                   "    targetPort: 9102\n"
                   "    protocol: UDP\n"
                   "  sessionAffinity: None\n"
                   "  clusterIP: 10.96.0.10\n",
                   "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"},"
                   "\"spec\":{\"type\":\"NodePort\",\"selector\":{\"app\":\"web\"},"
                   "\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":\"http\",\"nodePort\":30080},"
                   "{\"name\":\"metrics\",\"port\":9102,\"targetPort\":9102,\"protocol\":\"UDP\"}],"
                   "\"sessionAffinity\":\"None\",\"clusterIP\":\"10.96.0.10\"}}");
}

static void test_replicaset(void **state)
{
        assert_one("apiVersion: apps/v1\n"
                   "kind: ReplicaSet\n"
                   "metadata:\n"
                   "  name: frontend\n"
                   "  labels:\n"
                   "    app: guestbook\n"
                   "    tier: frontend\n"
                   "spec:\n"
                   "  replicas: 3\n"
                   "  selector:\n"
                   "    matchLabels:\n"
                   "      tier: frontend\n"
                   "    matchExpressions:\n"
                   "      - key: environment\n"
                   "        operator: In\n"
                   "        values: [production, qa]\n"
                   "      - {key: track, operator: NotIn, values: [canary]}\n"
                   "      - key: gpu\n"
                   "        operator: Exists\n"
                   "  template:\n"
                   "    metadata:\n"
                   "      labels:\n"
                   "        tier: frontend\n"
                   "        environment: production\n"
                   "    spec:\n"
                   "      containers:\n"
                   "      - name: php-redis\n"
                   "        image: gcr.io/google_samples/gb-frontend:v3\n",
                   "{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":{\"name\":\"frontend\","
                   "\"labels\":{\"app\":\"guestbook\",\"tier\":\"frontend\"}},\"spec\":{\"replicas\":3,"
                   "\"selector\":{\"matchLabels\":{\"tier\":\"frontend\"},\"matchExpressions\":["
                   "{\"key\":\"environment\",\"operator\":\"In\",\"values\":[\"production\",\"qa\"]},"
                   "{\"key\":\"track\",\"operator\":\"NotIn\",\"values\":[\"canary\"]},"
                   "{\"key\":\"gpu\",\"operator\":\"Exists\"}]},"
                   "\"template\":{\"metadata\":{\"labels\":{\"tier\":\"frontend\",\"environment\":"
                   "\"production\"}},\"spec\":{\"containers\":[{\"name\":\"php-redis\","
                   "\"image\":\"gcr.io/google_samples/gb-frontend:v3\"}]}}}}");
}

static void test_multi_document(void **state)
{
        static const char stream[] = "---\n"
                                     "apiVersion: apps/v1\n"
                                     "kind: Deployment\n"
                                     "metadata:\n"
                                     "  name: nginx-deployment\n"
                                     "  labels:\n"
                                     "    app: nginx\n"
                                     "spec:\n"
                                     "  replicas: 3\n"
                                     "  strategy:\n"
                                     "    type: RollingUpdate\n"
                                     "    rollingUpdate:\n"
                                     "      maxSurge: 25%\n"
                                     "      maxUnavailable: 0\n"
                                     "  selector:\n"
                                     "    matchLabels:\n"
                                     "      app: nginx\n"
                                     "  template:\n"
                                     "    metadata:\n"
                                     "      labels:\n"
                                     "        app: nginx\n"
                                     "    spec:\n"
                                     "      containers:\n"
                                     "      - name: nginx\n"
                                     "        image: nginx:1.14.2\n"
                                     "        ports:\n"
                                     "        - containerPort: 80\n"
                                     "---\n"
                                     "# comment-only document is skipped\n"
                                     "---\n"
                                     "apiVersion: v1\n"
                                     "kind: Service\n"
                                     "metadata:\n"
                                     "  name: nginx\n"
                                     "spec:\n"
                                     "  selector:\n"
                                     "    app: nginx\n"
                                     "  ports:\n"
                                     "  - port: 80\n"
                                     "    targetPort: 80\n"
                                     "...\n";
        assert_docs(stream, "[{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"
                            "\"name\":\"nginx-deployment\",\"labels\":{\"app\":\"nginx\"}},\"spec\":{"
                            "\"replicas\":3,\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{"
                            "\"maxSurge\":\"25%\",\"maxUnavailable\":0}},\"selector\":{\"matchLabels\":{"
                            "\"app\":\"nginx\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"nginx\"}},"
                            "\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:1.14.2\","
                            "\"ports\":[{\"containerPort\":80}]}]}}}},"
                            "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"nginx\"},"
                            "\"spec\":{\"selector\":{\"app\":\"nginx\"},\"ports\":[{\"port\":80,"
                            "\"targetPort\":80}]}}]");
        /* k8c_yaml_to_json wants exactly one document. */
        cleanup_error k8c_error_t err = NULL;
        json_t *v = NULL;
        assert_int_equal(k8c_yaml_to_json(stream, strlen(stream), &v, &err), -(int)K8C_EBADREQUEST);
        assert_string_equal(k8c_error_msg(&err), "yaml: expected exactly one document, found 2");
        assert_int_equal(k8c_yaml_to_json("# nothing\n", 10, &v, &err), -(int)K8C_EBADREQUEST);
        assert_string_equal(k8c_error_msg(&err), "yaml: expected exactly one document, found 0");
        assert_null(v);
        /* Empty streams and empty documents give no documents. */
        assert_docs("", "[]");
        assert_docs("\n\n# c\n", "[]");
        assert_docs("---\n---\n...\n", "[]");
        /* Document markers with content on the same line, a bare scalar, explicit null. */
        assert_docs("a: 1\n--- b\n--- null\n", "[{\"a\":1},\"b\",null]");
}

static void test_typing(void **state)
{
        /* Integers: decimal, signs, hex, both octal forms, underscores, binary. */
        assert_one("[0, 80, +5, -3, 0x1F, 0X1f, -0x10, 0o17, 017, 1_000, 0b101, -0b11, 08, 007]",
                   "[0,80,5,-3,31,31,-16,15,15,1000,5,-3,8,7]");
        assert_one("[9223372036854775807, -9223372036854775808]",
                   "[9223372036854775807,-9223372036854775808]");
        /* Floats: integral ones print as integers, as Go's encoder does. */
        assert_one("[1.5, -0.25, .5, 1e3, 1.0, 6.02e23, 1_000.5, +.5, 2.]",
                   "[1.5,-0.25,0.5,1000,1,6.02e23,1000.5,0.5,2]");
        /* Out-of-range floats are not numbers in go-yaml: they stay strings.
         * Underscores are dropped before parsing, so 1_ is 1. */
        assert_one("[1e400, 1.2.3, 0x, 1_, 12:30:00, 0b2]",
                   "[\"1e400\",\"1.2.3\",\"0x\",1,\"12:30:00\",\"0b2\"]");
        /* Booleans in every spelling go-yaml v2 accepts, and near misses. */
        assert_one("[true, True, TRUE, yes, Yes, YES, y, Y, on, On, ON]",
                   "[true,true,true,true,true,true,true,true,true,true,true]");
        assert_one("[false, False, FALSE, no, No, NO, n, N, off, Off, OFF]",
                   "[false,false,false,false,false,false,false,false,false,false,false]");
        assert_one("[tRUE, yEs, oN, nO, Off!, truee]", "[\"tRUE\",\"yEs\",\"oN\",\"nO\",\"Off!\",\"truee\"]");
        /* Nulls. */
        assert_one("{a: null, b: Null, c: NULL, d: ~, e: , f: nULL}",
                   "{\"a\":null,\"b\":null,\"c\":null,\"d\":null,\"e\":null,\"f\":\"nULL\"}");
        assert_one("a:\nb: ''\n", "{\"a\":null,\"b\":\"\"}");
        /* Quoted and block scalars are always strings. */
        assert_one("[\"80\", '80', \"true\", 'null', \"~\", \"0x1F\", \"1.5\"]",
                   "[\"80\",\"80\",\"true\",\"null\",\"~\",\"0x1F\",\"1.5\"]");
        assert_one("a: |\n  80\nb: >\n  true\n", "{\"a\":\"80\\n\",\"b\":\"true\\n\"}");
        /* Timestamps stay strings (go-yaml v2 into interface{}). */
        assert_one("[2001-12-14, 2001-12-14t21:59:43.10-05:00]",
                   "[\"2001-12-14\",\"2001-12-14t21:59:43.10-05:00\"]");
        /* Explicit tags. */
        assert_one("[!!str 80, !!int \"80\", !!float 3, !!bool \"yes\", !!null '', !custom 5, ! 7]",
                   "[\"80\",80,3,true,null,\"5\",\"7\"]");
        /* Non-string keys become strings. */
        assert_one("{1: a, 1.5: b, true: c, no: d, 0x10: e, 1e3: f, \"2\": g}",
                   "{\"1\":\"a\",\"1.5\":\"b\",\"true\":\"c\",\"false\":\"d\",\"16\":\"e\",\"1000\":\"f\","
                   "\"2\":\"g\"}");
        /* Float keys print as Go's 32-bit shortest form; too large ones overflow. */
        assert_one("{1e100: a, -1e100: b, 0.1: c, 1e6: d, 1.25e-5: e}",
                   "{\".inf\":\"a\",\"-.inf\":\"b\",\"0.1\":\"c\",\"1e+06\":\"d\",\"1.25e-05\":\"e\"}");
        /* Large unsigned values become reals (jansson integers are 64-bit signed). */
        assert_one("[9223372036854775808]", "[9.2233720368547758e18]");
}

static void test_scalar_styles(void **state)
{
        assert_one("plain: hello world\n"
                   "multi: first\n"
                   "  second\n"
                   "dq: \"tab\\tnl\\nq\\\"bs\\\\u\\u00e9x\\x41\"\n"
                   "sq: 'it''s # not a comment'\n"
                   "lit: |\n"
                   "  line1\n"
                   "    indented\n"
                   "\n"
                   "  end\n"
                   "fold: >\n"
                   "  folded\n"
                   "  text\n"
                   "\n"
                   "  para\n"
                   "strip: |-\n"
                   "  no newline\n"
                   "keep: |+\n"
                   "  kept\n"
                   "\n"
                   "last: x # trailing comment\n",
                   "{\"plain\":\"hello world\",\"multi\":\"first second\","
                   "\"dq\":\"tab\\tnl\\nq\\\"bs\\\\u\xc3\xa9xA\",\"sq\":\"it's # not a comment\","
                   "\"lit\":\"line1\\n  indented\\n\\nend\\n\",\"fold\":\"folded text\\npara\\n\","
                   "\"strip\":\"no newline\",\"keep\":\"kept\\n\\n\",\"last\":\"x\"}");
        /* Flow collections, nested and empty. */
        assert_one("{a: [1, [2, 3], {b: c}], d: {}, e: [], 'f g': {h: [ ]}}",
                   "{\"a\":[1,[2,3],{\"b\":\"c\"}],\"d\":{},\"e\":[],\"f g\":{\"h\":[]}}");
        /* Duplicate keys: the last wins, as in go-yaml v2 (non-strict). */
        assert_one("a: 1\nb: 2\na: 3\n", "{\"a\":3,\"b\":2}");
}

static void test_anchors_and_merge(void **state)
{
        assert_one("defaults: &defaults\n"
                   "  image: nginx\n"
                   "  imagePullPolicy: IfNotPresent\n"
                   "ports: &ports [80, 443]\n"
                   "web:\n"
                   "  <<: *defaults\n"
                   "  name: web\n"
                   "  imagePullPolicy: Always\n"
                   "  ports: *ports\n"
                   "copy: *defaults\n"
                   "label: &l frontend\n"
                   "tier: *l\n",
                   "{\"defaults\":{\"image\":\"nginx\",\"imagePullPolicy\":\"IfNotPresent\"},"
                   "\"ports\":[80,443],"
                   "\"web\":{\"image\":\"nginx\",\"imagePullPolicy\":\"Always\",\"name\":\"web\",\"ports\":["
                   "80,443]},"
                   "\"copy\":{\"image\":\"nginx\",\"imagePullPolicy\":\"IfNotPresent\"},"
                   "\"label\":\"frontend\",\"tier\":\"frontend\"}");
        /* A sequence of maps merges with earlier entries winning; an inline
         * map merges too; a merge after a key overrides it (go-yaml v2). */
        assert_one("a: &a {x: 1, q: 1}\n"
                   "b: &b {q: 2, z: 2}\n"
                   "m1: {<<: [*a, *b], w: 0}\n"
                   "m2: {<<: {k: v}}\n"
                   "m3: {x: 9, <<: *a}\n"
                   "m4: {\"<<\": quoted, !!merge <<: *b}\n",
                   "{\"a\":{\"x\":1,\"q\":1},\"b\":{\"q\":2,\"z\":2},"
                   "\"m1\":{\"q\":1,\"z\":2,\"x\":1,\"w\":0},\"m2\":{\"k\":\"v\"},\"m3\":{\"x\":1,\"q\":1},"
                   "\"m4\":{\"<<\":\"quoted\",\"q\":2,\"z\":2}}");
        /* YAML 1.1: the key y is the boolean true, so it becomes "true". */
        assert_one("base: &b {y: 1, x: 2}\nm: {<<: *b}\n",
                   "{\"base\":{\"true\":1,\"x\":2},\"m\":{\"true\":1,\"x\":2}}");
        /* Anchors can be redefined; an alias refers to the latest one. */
        assert_one("- &x 1\n- *x\n- &x 2\n- *x\n", "[1,1,2,2]");
        /* Anchors do not cross documents. */
        assert_yaml_error("a: &x 1\n---\nb: *x\n", "yaml: line 3, column 4: unknown anchor 'x' referenced");
}

static void test_errors(void **state)
{
        /* Tabs as indentation. */
        assert_yaml_error("metadata:\n\tname: web\n",
                          "yaml: line 2, column 1: found character that cannot start any token (while "
                          "scanning for the next token)");
        assert_yaml_error("items:\n- name: a\n\tvalue: b\n",
                          "yaml: line 3, column 1: found a tab character that violates indentation (while "
                          "scanning a plain scalar at line 2, column 9)");
        /* Unclosed quotes: reported at the end, with where the scalar began. */
        assert_yaml_error("metadata:\n  name: \"web\nspec: {}\n",
                          "yaml: line 4, column 1: found unexpected end of stream (while scanning a "
                          "quoted scalar at line 2, column 9)");
        assert_yaml_error("a: 'x\n",
                          "yaml: line 2, column 1: found unexpected end of stream (while scanning a quoted "
                          "scalar at line 1, column 4)");
        /* Bad indentation. */
        assert_yaml_error("spec:\n  replicas: 1\n selector: {}\n",
                          "yaml: line 3, column 2: did not find expected key (while parsing a block "
                          "mapping at line 1, column 1)");
        assert_yaml_error("a: b: c\n",
                          "yaml: line 1, column 5: mapping values are not allowed in this context");
        assert_yaml_error("- a\nb: 1\n",
                          "yaml: line 2, column 1: did not find expected '-' indicator (while parsing a "
                          "block collection at line 1, column 1)");
        /* Unclosed flow collections. */
        assert_yaml_error("ports: [80, 443\n",
                          "yaml: line 2, column 1: did not find expected ',' or ']' (while parsing a flow "
                          "sequence at line 1, column 8)");
        assert_yaml_error("a: {b: 1\n",
                          "yaml: line 2, column 1: did not find expected ',' or '}' (while parsing a flow "
                          "mapping at line 1, column 4)");
        assert_yaml_error("{a: 1}}\n", "yaml: line 1, column 7: did not find expected <document start>");
        /* Encoding problems found by libyaml's reader. */
        assert_yaml_error("key: \x01\n", "yaml: line 1, column 6: control characters are not allowed: #1");
        assert_yaml_error("a: 1\nk: \xff\n", "yaml: line 2, column 4: invalid leading UTF-8 octet: #FF");
        /* Aliases. */
        assert_yaml_error("a: 1\nb: *nope\n", "yaml: line 2, column 4: unknown anchor 'nope' referenced");
        assert_yaml_error("a: &x [1, *x]\n", "yaml: line 1, column 11: anchor 'x' value contains itself");
        /* Merge of a non-map. */
        assert_yaml_error("a: &s scalar\nb:\n  <<: *s\n",
                          "yaml: line 3, column 7: map merge requires map or sequence of maps as the value");
        assert_yaml_error("b:\n  <<: [{a: 1}, 2]\n",
                          "yaml: line 2, column 16: map merge requires map or sequence of maps as the value");
        /* Keys JSON cannot have. */
        assert_yaml_error("? [1, 2]\n: v\n",
                          "yaml: line 1, column 3: invalid map key: a sequence cannot be a key");
        assert_yaml_error("? {a: 1}\n: v\n",
                          "yaml: line 1, column 3: invalid map key: a mapping cannot be a key");
        assert_yaml_error("~: v\n", "yaml: line 1, column 1: unsupported map key: null");
        /* Values JSON cannot have. */
        assert_yaml_error("a: .inf\n",
                          "yaml: line 1, column 4: unsupported value: +Inf (JSON has no infinities)");
        assert_yaml_error("a: [-.Inf]\n",
                          "yaml: line 1, column 5: unsupported value: -Inf (JSON has no infinities)");
        assert_yaml_error("a: .NaN\n", "yaml: line 1, column 4: unsupported value: NaN (JSON has no NaN)");
        /* A tag that does not fit its value. */
        assert_yaml_error("port: !!int http\n",
                          "yaml: line 1, column 7: cannot decode !!str `http` as a !!int");
        /* An error in a later document fails the whole stream. */
        assert_yaml_error("a: 1\n---\nb: [\n",
                          "yaml: line 4, column 1: did not find expected node content (while parsing a flow "
                          "node)");
}

static void test_limits(void **state)
{
        /* Nesting deeper than 1000 levels is refused; 1000 is fine. */
        char *deep = k8c_xmalloc(2 * 1001 + 2);
        memset(deep, '[', 1001);
        memset(deep + 1001, ']', 1001);
        deep[2002] = '\0';
        assert_yaml_error(deep, "yaml: line 1, column 1001: exceeded max depth of 1000");
        deep[999] = ' ';
        deep[1001] = ' ';
        json_auto_t *ok = NULL;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_yaml_to_json(deep, strlen(deep), &ok, &err), 0);
        free(deep);
        /* Exponential alias expansion ("billion laughs") is refused. */
        char bomb[4096];
        size_t off = (size_t)snprintf(bomb, sizeof(bomb), "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (int i = 1; i < 10; i++) {
                off += (size_t)snprintf(bomb + off, sizeof(bomb) - off, "a%d: &a%d [", i, i);
                for (int j = 0; j < 10; j++)
                        off += (size_t)snprintf(bomb + off, sizeof(bomb) - off, "%s*a%d", j ? ", " : "",
                                                i - 1);
                off += (size_t)snprintf(bomb + off, sizeof(bomb) - off, "]\n");
        }
        assert_yaml_error(bomb, "yaml: line 1, column 31: document contains excessive aliasing");
}

static void test_json_to_yaml(void **state)
{
        assert_to_yaml("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\","
                       "\"labels\":{\"app\":\"web\"},\"annotations\":{\"revision\":\"1\",\"empty\":\"\","
                       "\"flag\":\"true\",\"nothing\":\"null\",\"tilde\":\"~\",\"kv\":\"a: b\","
                       "\"hash\":\"#x\",\"dash\":\"- x\",\"time\":\"12:30\",\"octal\":\"0755\","
                       "\"float\":\"1e3\",\"yes\":\"yes\",\"text\":\"line1\\nline2\\n\",\"space\":\" x\"}},"
                       "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\",\"ports\":"
                       "[{\"containerPort\":80}],\"args\":[]}],\"nodeSelector\":{},\"replicas\":2,"
                       "\"ratio\":0.5,\"paused\":false,\"x\":null}}",
                       "apiVersion: v1\n"
                       "kind: Pod\n"
                       "metadata:\n"
                       "  name: web\n"
                       "  labels:\n"
                       "    app: web\n"
                       "  annotations:\n"
                       "    revision: \"1\"\n"
                       "    empty: \"\"\n"
                       "    flag: \"true\"\n"
                       "    nothing: \"null\"\n"
                       "    tilde: \"~\"\n"
                       "    kv: 'a: b'\n"
                       "    hash: '#x'\n"
                       "    dash: '- x'\n"
                       "    time: \"12:30\"\n"
                       "    octal: \"0755\"\n"
                       "    float: \"1e3\"\n"
                       "    \"yes\": \"yes\"\n"
                       "    text: |\n"
                       "      line1\n"
                       "      line2\n"
                       "    space: ' x'\n"
                       "spec:\n"
                       "  containers:\n"
                       "  - name: c\n"
                       "    image: nginx\n"
                       "    ports:\n"
                       "    - containerPort: 80\n"
                       "    args: []\n"
                       "  nodeSelector: {}\n"
                       "  replicas: 2\n"
                       "  ratio: 0.5\n"
                       "  paused: false\n"
                       "  x: null\n");
        assert_to_yaml("{}", "{}\n");
        assert_to_yaml("[]", "[]\n");
        assert_to_yaml("[1, \"two\", [3]]", "- 1\n- two\n- - 3\n");
        assert_to_yaml("\"80\"", "\"80\"\n");
        assert_to_yaml("{\"caf\xc3\xa9\":\"\xc3\xa9t\xc3\xa9\"}", "caf\xc3\xa9: \xc3\xa9t\xc3\xa9\n");
        assert_to_yaml("{\"<<\":{\"a\":1}}", "\"<<\":\n  a: 1\n");
        /* Timestamps are quoted as kubectl (go-yaml v2) quotes them; look-alikes are not. */
        assert_to_yaml("{\"creationTimestamp\":\"2026-11-24T15:00:00Z\",\"day\":\"2026-11-24\","
                       "\"v\":\"2026-11\",\"nt\":\"1234-5-6x\"}",
                       "creationTimestamp: \"2026-11-24T15:00:00Z\"\nday: \"2026-11-24\"\nv: 2026-11\nnt: "
                       "1234-5-6x\n");
        assert_to_yaml("[1.5, 100.0, 1e21, 1e-7, 123456789.0]",
                       "- 1.5\n- 100\n- 1e+21\n- 1e-07\n- 1.23456789e+08\n");
        cleanup_free char *null_yaml = k8c_json_to_yaml(NULL);
        assert_string_equal(null_yaml, "null\n");
}

static void test_round_trips(void **state)
{
        assert_round_trip(pod_json);
        assert_round_trip(
                "{\"s\":[\"80\",\"true\",\"yes\",\"no\",\"on\",\"off\",\"y\",\"n\",\"null\",\"~\",\"\","
                "\"0x1F\",\"017\",\"0o17\",\"1_000\",\"1e3\",\".inf\",\"-.inf\",\".nan\",\"12:30\","
                "\"+5\",\"-3\",\"1.5\",\".5\",\"<<\",\"a: b\",\"#c\",\"- d\",\"[e]\",\"{f}\",\"*g\","
                "\"&h\",\"!i\",\"%j\",\"@k\",\"`l\",\"|m\",\">n\",\"'o'\",\"\\\"p\\\"\",\" q\",\"r \","
                "\"s\\tt\",\"u\\nv\",\"w\\n\",\"\\nx\",\"multi\\nline\\n\\n\",\"caf\xc3\xa9\","
                "\"ctl\\u0001\"],"
                "\"n\":[0,-1,9223372036854775807,-9223372036854775808,1.5,-0.001,true,false,null],"
                "\"nested\":{\"a\":{\"b\":[{\"c\":[]},{}]}},\"y\":\"x\",\"true\":1,\"80\":\"k\"}");
        /* Strings with NUL cannot come from k8c_json_parse but can be built. */
        json_auto_t *nul = json_pack("{s:s%}", "k", "nul\0byte", (size_t)8);
        cleanup_free char *nul_yaml = k8c_json_to_yaml(nul);
        assert_string_equal(nul_yaml, "k: \"nul\\0byte\"\n");
        json_auto_t *nul_back = NULL;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_yaml_to_json(nul_yaml, strlen(nul_yaml), &nul_back, &err), 0);
        assert_true(json_equal(nul, nul_back));
        assert_round_trip("[]");
        assert_round_trip("{}");
        assert_round_trip("\"just a string\"");
        assert_round_trip("42");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pod),
                cmocka_unit_test(test_service),
                cmocka_unit_test(test_replicaset),
                cmocka_unit_test(test_multi_document),
                cmocka_unit_test(test_typing),
                cmocka_unit_test(test_scalar_styles),
                cmocka_unit_test(test_anchors_and_merge),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_json_to_yaml),
                cmocka_unit_test(test_round_trips),
        };
        return cmocka_run_group_tests_name("yaml", tests, NULL, NULL);
}

/* Unit tests for kubeconfig.c: file selection (explicit, $KUBECONFIG merge,
 * ~/.kube/config), contexts, relative paths, base64 data, --server, errors.
 * Every test works in its own mkdtemp directory, removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/kubeconfig.h"

struct fixture {
        char dir[64];
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static int setup(void **state)
{
        struct fixture *f = k8c_xcalloc(1, sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/k8c-test-kubeconfig-%d-XXXXXX", (int)getpid());
        if (mkdtemp(f->dir) == NULL)
                return -1;
        /* Tests choose their own environment; start from none of it. */
        unsetenv("KUBECONFIG");
        setenv("HOME", f->dir, 1);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        unsetenv("KUBECONFIG");
        return 0;
}

/* Writes dir/rel (creating one level of subdirectory if rel has one); returns the full path. */
static char *write_file(struct fixture *f, const char *rel, const char *content)
{
        char *path = k8c_xasprintf("%s/%s", f->dir, rel);
        const char *slash = strrchr(rel, '/');
        if (slash != NULL) {
                cleanup_free char *sub = k8c_xasprintf("%s/%.*s", f->dir, (int)(slash - rel), rel);
                mkdir(sub, 0700);
        }
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(content, fp);
        fclose(fp);
        return path;
}

static const char full_config[] = "apiVersion: v1\n"
                                  "kind: Config\n"
                                  "current-context: admin@lab\n"
                                  "preferences: {}\n"
                                  "clusters:\n"
                                  "- name: lab\n"
                                  "  cluster:\n"
                                  "    server: https://127.0.0.1:6443\n"
                                  "    certificate-authority-data: aGVsbG8gQ0EK\n"
                                  "- name: dev\n"
                                  "  cluster:\n"
                                  "    server: http://127.0.0.1:8080\n"
                                  "    certificate-authority: certs/ca.crt\n"
                                  "    insecure-skip-tls-verify: true\n"
                                  "users:\n"
                                  "- name: admin\n"
                                  "  user:\n"
                                  "    client-certificate-data: Y2VydC1ieXRlcw==\n"
                                  "    client-key-data: a2V5AGJ5dGVz\n"
                                  "- name: dev-user\n"
                                  "  user:\n"
                                  "    client-certificate: certs/dev.crt\n"
                                  "    client-key: /etc/k8c/dev.key\n"
                                  "    token: abc.def\n"
                                  "contexts:\n"
                                  "- name: admin@lab\n"
                                  "  context:\n"
                                  "    cluster: lab\n"
                                  "    user: admin\n"
                                  "- name: dev\n"
                                  "  context:\n"
                                  "    cluster: dev\n"
                                  "    user: dev-user\n"
                                  "    namespace: team-a\n"
                                  "- name: no-user\n"
                                  "  context:\n"
                                  "    cluster: dev\n"
                                  "- name: bad-cluster\n"
                                  "  context: {cluster: nowhere, user: admin}\n"
                                  "- name: bad-user\n"
                                  "  context: {cluster: lab, user: nobody}\n"
                                  "- name: no-cluster\n"
                                  "  context: {user: admin}\n";

static void test_current_context_with_data(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *path = write_file(f, "config", full_config);
        struct k8c_kubeconfig kc = { 0 };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_kubeconfig_load(path, NULL, NULL, &kc, &err), 0);
        assert_string_equal(kc.context, "admin@lab");
        assert_string_equal(kc.cluster, "lab");
        assert_string_equal(kc.user, "admin");
        assert_null(kc.namespace_);
        assert_string_equal(kc.server, "https://127.0.0.1:6443");
        assert_null(kc.certificate_authority);
        assert_int_equal(kc.certificate_authority_data_len, 9);
        assert_memory_equal(kc.certificate_authority_data, "hello CA\n", 9);
        assert_false(kc.insecure_skip_tls_verify);
        assert_null(kc.client_certificate);
        assert_int_equal(kc.client_certificate_data_len, 10);
        assert_memory_equal(kc.client_certificate_data, "cert-bytes", 10);
        assert_null(kc.client_key);
        assert_int_equal(kc.client_key_data_len, 9); /* binary-safe: holds a NUL */
        assert_memory_equal(kc.client_key_data, "key\0bytes", 9);
        assert_null(kc.token);
        k8c_kubeconfig_free(&kc);
        assert_null(kc.server);
        k8c_kubeconfig_free(&kc); /* twice is harmless */
}

static void test_explicit_context_and_paths(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *path = write_file(f, "sub/kc.yaml", full_config);
        struct k8c_kubeconfig kc = { 0 };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_kubeconfig_load(path, "dev", NULL, &kc, &err), 0);
        cleanup_free char *ca = k8c_xasprintf("%s/sub/certs/ca.crt", f->dir);
        cleanup_free char *crt = k8c_xasprintf("%s/sub/certs/dev.crt", f->dir);
        assert_string_equal(kc.context, "dev");
        assert_string_equal(kc.cluster, "dev");
        assert_string_equal(kc.user, "dev-user");
        assert_string_equal(kc.namespace_, "team-a");
        assert_string_equal(kc.server, "http://127.0.0.1:8080");
        assert_string_equal(kc.certificate_authority, ca);
        assert_null(kc.certificate_authority_data);
        assert_int_equal(kc.certificate_authority_data_len, 0);
        assert_true(kc.insecure_skip_tls_verify);
        assert_string_equal(kc.client_certificate, crt);
        assert_string_equal(kc.client_key, "/etc/k8c/dev.key"); /* absolute stays */
        assert_string_equal(kc.token, "abc.def");
        k8c_kubeconfig_free(&kc);

        /* A relative --kubeconfig still yields absolute paths. */
        cleanup_free char *cwd = getcwd(NULL, 0);
        assert_int_equal(chdir(f->dir), 0);
        int r = k8c_kubeconfig_load("sub/kc.yaml", "dev", NULL, &kc, &err);
        assert_int_equal(chdir(cwd), 0);
        assert_int_equal(r, 0);
        assert_string_equal(kc.certificate_authority, ca);
        k8c_kubeconfig_free(&kc);

        /* A context without a user is anonymous. */
        assert_int_equal(k8c_kubeconfig_load(path, "no-user", NULL, &kc, &err), 0);
        assert_null(kc.user);
        assert_null(kc.token);
        assert_string_equal(kc.cluster, "dev");
        k8c_kubeconfig_free(&kc);
}

static void test_server_override(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *path = write_file(f, "config", full_config);
        struct k8c_kubeconfig kc = { 0 };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_kubeconfig_load(path, NULL, "http://127.0.0.1:9999", &kc, &err), 0);
        assert_string_equal(kc.server, "http://127.0.0.1:9999");
        assert_string_equal(kc.cluster, "lab"); /* credentials of the context remain */
        assert_int_equal(kc.client_certificate_data_len, 10);
        k8c_kubeconfig_free(&kc);

        /* No file anywhere: --server alone is a configuration. */
        assert_int_equal(k8c_kubeconfig_load(NULL, NULL, "http://127.0.0.1:8080", &kc, &err), 0);
        assert_string_equal(kc.server, "http://127.0.0.1:8080");
        assert_null(kc.context);
        assert_null(kc.cluster);
        assert_null(kc.user);
        assert_null(kc.token);
        k8c_kubeconfig_free(&kc);

        /* A context without a cluster is usable with --server. */
        assert_int_equal(k8c_kubeconfig_load(path, "no-cluster", "http://127.0.0.1:1", &kc, &err), 0);
        assert_string_equal(kc.server, "http://127.0.0.1:1");
        assert_string_equal(kc.user, "admin");
        k8c_kubeconfig_free(&kc);
}

static void test_home_default(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *path = write_file(f, ".kube/config", full_config);
        struct k8c_kubeconfig kc = { 0 };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_kubeconfig_load(NULL, "dev", NULL, &kc, &err), 0);
        cleanup_free char *ca = k8c_xasprintf("%s/.kube/certs/ca.crt", f->dir);
        assert_string_equal(kc.certificate_authority, ca);
        assert_string_equal(kc.server, "http://127.0.0.1:8080");
        k8c_kubeconfig_free(&kc);
        /* An empty string path means "not given". */
        assert_int_equal(k8c_kubeconfig_load("", NULL, NULL, &kc, &err), 0);
        assert_string_equal(kc.context, "admin@lab");
        k8c_kubeconfig_free(&kc);
}

static void test_kubeconfig_env_merge(void **state)
{
        struct fixture *f = *state;
        /* ~/.kube/config exists but $KUBECONFIG takes precedence over it. */
        cleanup_free char *home = write_file(f, ".kube/config", "current-context: home\n");
        cleanup_free char *a =
                write_file(f, "a/config",
                           "current-context: ctx\n"
                           "clusters:\n"
                           "- name: c\n"
                           "  cluster: {server: 'https://127.0.0.1:1111', certificate-authority: ca.pem}\n"
                           "contexts:\n"
                           "- name: ctx\n"
                           "  context: {cluster: c, user: u}\n");
        cleanup_free char *b =
                write_file(f, "b/config",
                           "current-context: other\n"
                           "clusters:\n"
                           "- name: c\n"
                           "  cluster: {server: 'https://127.0.0.1:2222'}\n"
                           "users:\n"
                           "- name: u\n"
                           "  user: {client-certificate: u.crt, client-key: u.key, token: t0k}\n"
                           "contexts:\n"
                           "- name: ctx\n"
                           "  context: {cluster: c, user: nobody, namespace: ignored}\n"
                           "- name: other\n"
                           "  context: {cluster: c, namespace: ns-b}\n");
        cleanup_free char *env = k8c_xasprintf("%s/missing/config:%s::%s", f->dir, a, b);
        setenv("KUBECONFIG", env, 1);
        struct k8c_kubeconfig kc = { 0 };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_kubeconfig_load(NULL, NULL, NULL, &kc, &err), 0);
        /* First file wins for current-context, the cluster and the context. */
        assert_string_equal(kc.context, "ctx");
        assert_string_equal(kc.server, "https://127.0.0.1:1111");
        cleanup_free char *ca = k8c_xasprintf("%s/a/ca.pem", f->dir);
        assert_string_equal(kc.certificate_authority, ca);
        assert_null(kc.namespace_);
        /* The user only exists in the second file: its paths resolve there. */
        cleanup_free char *crt = k8c_xasprintf("%s/b/u.crt", f->dir);
        cleanup_free char *key = k8c_xasprintf("%s/b/u.key", f->dir);
        assert_string_equal(kc.user, "u");
        assert_string_equal(kc.client_certificate, crt);
        assert_string_equal(kc.client_key, key);
        assert_string_equal(kc.token, "t0k");
        k8c_kubeconfig_free(&kc);
        /* A context defined only in the second file. */
        assert_int_equal(k8c_kubeconfig_load(NULL, "other", NULL, &kc, &err), 0);
        assert_string_equal(kc.namespace_, "ns-b");
        assert_string_equal(kc.server, "https://127.0.0.1:1111");
        k8c_kubeconfig_free(&kc);
        /* An explicit path wins over $KUBECONFIG. */
        assert_int_equal(k8c_kubeconfig_load(b, NULL, NULL, &kc, &err), 0);
        assert_string_equal(kc.context, "other");
        assert_string_equal(kc.server, "https://127.0.0.1:2222");
        k8c_kubeconfig_free(&kc);
}

static void assert_load_error(const char *path, const char *context, k8c_reason_t reason, const char *msg)
{
        struct k8c_kubeconfig kc = { .server = (char *)"untouched" };
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_kubeconfig_load(path, context, NULL, &kc, &err);
        assert_int_equal(r, -(int)reason);
        assert_string_equal(k8c_error_msg(&err), msg);
        assert_string_equal(kc.server, "untouched"); /* output untouched on failure */
}

static void test_errors(void **state)
{
        struct fixture *f = *state;
        cleanup_free char *path = write_file(f, "config", full_config);
        cleanup_free char *missing = k8c_xasprintf("%s/nope", f->dir);
        cleanup_free char *msg = k8c_xasprintf("kubeconfig %s: file not found", missing);
        assert_load_error(missing, NULL, K8C_ENOTFOUND, msg);
        assert_load_error(path, "x", K8C_ENOTFOUND, "context \"x\" not found in kubeconfig");
        assert_load_error(path, "bad-cluster", K8C_ENOTFOUND,
                          "cluster \"nowhere\" of context \"bad-cluster\" not found");
        assert_load_error(path, "bad-user", K8C_ENOTFOUND,
                          "user \"nobody\" of context \"bad-user\" not found");
        assert_load_error(path, "no-cluster", K8C_EBADREQUEST, "context \"no-cluster\" has no cluster");

        cleanup_free char *bad_yaml = write_file(f, "bad", "clusters:\n- name: a\n\tcluster: {}\n");
        cleanup_free char *bad_msg =
                k8c_xasprintf("kubeconfig %s: yaml: line 3, column 1: found a tab character "
                              "that violates indentation (while scanning a plain scalar at "
                              "line 2, column 9)",
                              bad_yaml);
        assert_load_error(bad_yaml, NULL, K8C_EBADREQUEST, bad_msg);

        cleanup_free char *bad_b64 =
                write_file(f, "b64",
                           "current-context: c\n"
                           "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:1', "
                           "certificate-authority-data: 'not base64!'}}]\n"
                           "contexts: [{name: c, context: {cluster: k}}]\n");
        assert_load_error(bad_b64, NULL, K8C_EBADREQUEST,
                          "kubeconfig: certificate-authority-data of cluster \"k\" is not valid base64");

        cleanup_free char *no_server = write_file(f, "nosrv",
                                                  "current-context: c\n"
                                                  "clusters: [{name: k, cluster: {}}]\n"
                                                  "contexts: [{name: c, context: {cluster: k}}]\n");
        assert_load_error(no_server, NULL, K8C_EBADREQUEST, "cluster \"k\" of context \"c\" has no server");

        cleanup_free char *no_current = write_file(f, "nocur", "clusters: []\n");
        assert_load_error(no_current, NULL, K8C_EBADREQUEST,
                          "kubeconfig has no current-context; pass --context or --server");

        cleanup_free char *not_list = write_file(f, "notlist", "clusters: {a: 1}\n");
        cleanup_free char *not_list_msg = k8c_xasprintf("kubeconfig %s: clusters must be a list", not_list);
        assert_load_error(not_list, NULL, K8C_EBADREQUEST, not_list_msg);

        cleanup_free char *no_name = write_file(f, "noname", "users:\n- user: {token: x}\n");
        cleanup_free char *no_name_msg = k8c_xasprintf("kubeconfig %s: users[0] has no name", no_name);
        assert_load_error(no_name, NULL, K8C_EBADREQUEST, no_name_msg);

        /* Nothing at all: $HOME has no .kube/config and no --server. */
        assert_load_error(
                NULL, NULL, K8C_ENOTFOUND,
                "no kubeconfig found (--kubeconfig, $KUBECONFIG, ~/.kube/config) and no --server given");
        /* An empty file is an empty configuration. */
        cleanup_free char *empty = write_file(f, "empty", "");
        assert_load_error(empty, NULL, K8C_EBADREQUEST,
                          "kubeconfig has no current-context; pass --context or --server");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_current_context_with_data, setup, teardown),
                cmocka_unit_test_setup_teardown(test_explicit_context_and_paths, setup, teardown),
                cmocka_unit_test_setup_teardown(test_server_override, setup, teardown),
                cmocka_unit_test_setup_teardown(test_home_default, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kubeconfig_env_merge, setup, teardown),
                cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        };
        return cmocka_run_group_tests_name("kubeconfig", tests, NULL, NULL);
}

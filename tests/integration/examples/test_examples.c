/*
 * Every directory of examples/ holding manifests is applied with the real kubectl to
 * a real k8c-apiserver: first with --dry-run=server (full validation, nothing stored),
 * then for real; then `kubectl get -f` must find every object it declared, and a
 * second apply must change nothing ("unchanged"). The cluster's behaviour with these
 * manifests is checked by the end-to-end suite on a lab; this keeps every example
 * valid against the API as it evolves. Only 127.0.0.1 is contacted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../common/apiserver_harness.h"
#include "k8c/cleanup.h"

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

static int count_lines(const char *s, const char *needle)
{
        int n = 0;
        for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
                n++;
        return n;
}

static void test_example_dir(void **state)
{
        const char *dir = *state;
        cleanup_free char *out = NULL;
        int rc = k8c_test_kubectl(&srv, &out, "apply --dry-run=server -f '%s'", dir);
        if (rc != 0)
                fprintf(stderr, "dry run of %s: %s\n", dir, out);
        assert_int_equal(rc, 0);
        int objects = count_lines(out, "(server dry run)");
        assert_true(objects > 0);
        free(out);
        out = NULL;

        rc = k8c_test_kubectl(&srv, &out, "apply -f '%s'", dir);
        if (rc != 0)
                fprintf(stderr, "apply of %s: %s\n", dir, out);
        assert_int_equal(rc, 0);
        assert_int_equal(count_lines(out, " created\n") + count_lines(out, " configured\n"), objects);
        free(out);
        out = NULL;

        rc = k8c_test_kubectl(&srv, &out, "get -f '%s' -o name", dir);
        if (rc != 0)
                fprintf(stderr, "get of %s: %s\n", dir, out);
        assert_int_equal(rc, 0);
        assert_int_equal(count_lines(out, "\n"), objects);
        free(out);
        out = NULL;

        rc = k8c_test_kubectl(&srv, &out, "apply -f '%s'", dir);
        assert_int_equal(rc, 0);
        if (count_lines(out, " unchanged\n") != objects)
                fprintf(stderr, "re-apply of %s: %s\n", dir, out);
        assert_int_equal(count_lines(out, " unchanged\n"), objects);
        free(out);
        out = NULL;

        /* k8cctl sees the same objects the same way: nothing to change. */
        const char *bin = getenv("K8C_BINDIR");
        cleanup_free char *cmd = k8c_xasprintf("'%s/k8cctl' --server %s apply -f '%s' 2>&1",
                                               bin != NULL ? bin : "bin", srv.url, dir);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        char buf[8192];
        size_t n = fread(buf, 1, sizeof(buf) - 1, p);
        buf[n] = '\0';
        assert_int_equal(pclose(p), 0);
        if (count_lines(buf, " unchanged\n") != objects)
                fprintf(stderr, "k8cctl apply of %s: %s\n", dir, buf);
        assert_int_equal(count_lines(buf, " unchanged\n"), objects);
}

static int has_manifests(const char *dir)
{
        DIR *d = opendir(dir);
        if (d == NULL)
                return 0;
        int n = 0;
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
                size_t l = strlen(e->d_name);
                if ((l > 5 && strcmp(e->d_name + l - 5, ".yaml") == 0) ||
                    (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0))
                        n++;
        }
        closedir(d);
        return n;
}

static int cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
        const char *src = getenv("K8C_SRCDIR");
        cleanup_free char *root = k8c_xasprintf("%s/examples", src != NULL ? src : ".");
        DIR *d = opendir(root);
        if (d == NULL) {
                fprintf(stderr, "no %s\n", root);
                return 1;
        }
        char *dirs[64];
        size_t n = 0;
        for (struct dirent *e; (e = readdir(d)) != NULL && n < 64;) {
                /* api/ holds one object of every kind (nodes, events, leases) for API tests. */
                if (e->d_name[0] == '.' || strcmp(e->d_name, "api") == 0)
                        continue;
                char *p = k8c_xasprintf("%s/%s", root, e->d_name);
                struct stat st;
                if (stat(p, &st) == 0 && S_ISDIR(st.st_mode) && has_manifests(p) > 0)
                        dirs[n++] = p;
                else
                        free(p);
        }
        closedir(d);
        qsort(dirs, n, sizeof(dirs[0]), cmp);
        struct CMUnitTest tests[64];
        for (size_t i = 0; i < n; i++) {
                tests[i] = (struct CMUnitTest){ .name = strrchr(dirs[i], '/') + 1,
                                                .test_func = test_example_dir,
                                                .initial_state = dirs[i] };
        }
        int r = _cmocka_run_group_tests("examples", tests, n, group_setup, group_teardown);
        for (size_t i = 0; i < n; i++)
                free(dirs[i]);
        return r;
}

/*
 * Unit tests of the pure parts of the kubelet's volumes: paths inside volumes,
 * configMap and secret projection (all keys, items key → path, modes,
 * optional, binaryData, base64), downwardAPI files, container mounts
 * (readOnly, subPath, a volume read-only as a whole), and hostPath type checks
 * against files the test makes in its own temp dir.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/kubelet.h"
#include "kubelet/kubelet_int.h"

static json_t *parse(const char *text)
{
        json_t *v = json_loads(text, 0, NULL);
        assert_non_null(v);
        return v;
}

static const struct k8c_volume_file *find(const struct k8c_volume_files *f, const char *path)
{
        for (size_t i = 0; i < f->n; i++)
                if (strcmp(f->v[i].path, path) == 0)
                        return &f->v[i];
        return NULL;
}

static void test_check_path(void **state)
{
        assert_int_equal(k8c_volume_check_path("a", NULL), 0);
        assert_int_equal(k8c_volume_check_path("a/b/c.txt", NULL), 0);
        assert_int_equal(k8c_volume_check_path("a/..b", NULL), 0);
        assert_true(k8c_volume_check_path("..data", NULL) < 0); /* the atomic writer's names */
        assert_true(k8c_volume_check_path("", NULL) < 0);
        assert_true(k8c_volume_check_path(NULL, NULL) < 0);
        assert_true(k8c_volume_check_path("/etc/passwd", NULL) < 0);
        assert_true(k8c_volume_check_path("../up", NULL) < 0);
        assert_true(k8c_volume_check_path("a/../../b", NULL) < 0);
}

static void test_configmap_projection(void **state)
{
        json_auto_t *cm = parse("{\"data\":{\"app.conf\":\"port=80\\n\",\"greeting\":\"hello\"},"
                                "\"binaryData\":{\"blob\":\"AAEC\"}}");
        json_auto_t *all = parse("{\"name\":\"cfg\",\"defaultMode\":420}");
        struct k8c_volume_files f = { 0 };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_volume_project(all, cm, false, &f, &err), 0);
        assert_int_equal(f.n, 3);
        const struct k8c_volume_file *conf = find(&f, "app.conf");
        assert_non_null(conf);
        assert_int_equal(conf->len, 8);
        assert_memory_equal(conf->data, "port=80\n", 8);
        assert_int_equal(conf->mode, 0644);
        const struct k8c_volume_file *blob = find(&f, "blob");
        assert_non_null(blob);
        assert_int_equal(blob->len, 3);
        assert_memory_equal(blob->data, "\0\1\2", 3);
        k8c_volume_files_free(&f);

        /* items: only the named keys, at their paths, with their own modes. */
        json_auto_t *items = parse("{\"name\":\"cfg\",\"defaultMode\":256,\"items\":["
                                   "{\"key\":\"greeting\",\"path\":\"sub/dir/hi.txt\",\"mode\":384},"
                                   "{\"key\":\"app.conf\",\"path\":\"conf\"}]}");
        assert_int_equal(k8c_volume_project(items, cm, false, &f, &err), 0);
        assert_int_equal(f.n, 2);
        assert_int_equal(find(&f, "sub/dir/hi.txt")->mode, 0600);
        assert_memory_equal(find(&f, "sub/dir/hi.txt")->data, "hello", 5);
        assert_int_equal(find(&f, "conf")->mode, 0400);
        assert_null(find(&f, "greeting"));
        k8c_volume_files_free(&f);

        /* A missing key or object fails unless optional. */
        json_auto_t *missing_key = parse("{\"name\":\"cfg\",\"items\":[{\"key\":\"nope\",\"path\":\"x\"}]}");
        assert_true(k8c_volume_project(missing_key, cm, false, &f, &err) < 0);
        assert_string_equal(k8c_error_msg(&err), "configmap references non-existent config key: nope");
        k8c_error_release(&err);
        json_auto_t *optional =
                parse("{\"name\":\"cfg\",\"optional\":true,\"items\":[{\"key\":\"nope\",\"path\":\"x\"}]}");
        assert_int_equal(k8c_volume_project(optional, cm, false, &f, &err), 0);
        assert_int_equal(f.n, 0);
        assert_true(k8c_volume_project(all, NULL, false, &f, &err) < 0);
        assert_string_equal(k8c_error_msg(&err), "configmap \"cfg\" not found");
        k8c_error_release(&err);
        assert_int_equal(k8c_volume_project(optional, NULL, false, &f, &err), 0);
        assert_int_equal(f.n, 0);
        /* An item path escaping the volume is refused. */
        json_auto_t *escape =
                parse("{\"name\":\"cfg\",\"items\":[{\"key\":\"greeting\",\"path\":\"../x\"}]}");
        assert_true(k8c_volume_project(escape, cm, false, &f, &err) < 0);
        k8c_error_release(&err);
}

static void test_secret_projection(void **state)
{
        /* "s3cr3t" and "admin" base64-encoded, as the API stores secrets. */
        json_auto_t *secret = parse("{\"data\":{\"password\":\"czNjcjN0\",\"user\":\"YWRtaW4=\"}}");
        json_auto_t *src = parse("{\"secretName\":\"creds\",\"defaultMode\":256}");
        struct k8c_volume_files f = { 0 };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_volume_project(src, secret, true, &f, &err), 0);
        assert_int_equal(f.n, 2);
        assert_int_equal(find(&f, "password")->len, 6);
        assert_memory_equal(find(&f, "password")->data, "s3cr3t", 6);
        assert_memory_equal(find(&f, "user")->data, "admin", 5);
        assert_int_equal(find(&f, "user")->mode, 0400);
        k8c_volume_files_free(&f);
        assert_true(k8c_volume_project(src, NULL, true, &f, &err) < 0);
        assert_string_equal(k8c_error_msg(&err), "secret \"creds\" not found");
        k8c_error_release(&err);
        json_auto_t *bad = parse("{\"data\":{\"k\":\"***\"}}");
        assert_true(k8c_volume_project(src, bad, true, &f, &err) < 0);
        k8c_error_release(&err);
}

static void test_downward(void **state)
{
        json_auto_t *pod = parse("{\"metadata\":{\"name\":\"web-1\",\"namespace\":\"prod\",\"uid\":\"u-1\","
                                 "\"labels\":{\"tier\":\"front\",\"app\":\"web\"},"
                                 "\"annotations\":{\"note\":\"say \\\"hi\\\"\\nthen go\"}}}");
        json_auto_t *src =
                parse("{\"defaultMode\":420,\"items\":["
                      "{\"path\":\"labels\",\"fieldRef\":{\"fieldPath\":\"metadata.labels\"}},"
                      "{\"path\":\"annotations\",\"fieldRef\":{\"fieldPath\":\"metadata.annotations\"}},"
                      "{\"path\":\"name\",\"fieldRef\":{\"fieldPath\":\"metadata.name\"},\"mode\":256},"
                      "{\"path\":\"meta/ns\",\"fieldRef\":{\"fieldPath\":\"metadata.namespace\"}},"
                      "{\"path\":\"tier\",\"fieldRef\":{\"fieldPath\":\"metadata.labels['tier']\"}}]}");
        struct k8c_volume_files f = { 0 };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_volume_downward(src, pod, &f, &err), 0);
        assert_int_equal(f.n, 5);
        assert_string_equal((const char *)find(&f, "labels")->data, "app=\"web\"\ntier=\"front\"");
        assert_string_equal((const char *)find(&f, "annotations")->data, "note=\"say \\\"hi\\\"\\nthen go\"");
        assert_string_equal((const char *)find(&f, "name")->data, "web-1");
        assert_int_equal(find(&f, "name")->mode, 0400);
        assert_string_equal((const char *)find(&f, "meta/ns")->data, "prod");
        assert_int_equal(find(&f, "meta/ns")->mode, 0644);
        assert_string_equal((const char *)find(&f, "tier")->data, "front");
        k8c_volume_files_free(&f);

        json_auto_t *unsupported =
                parse("{\"items\":[{\"path\":\"x\",\"fieldRef\":{\"fieldPath\":\"spec.bogus\"}}]}");
        assert_true(k8c_volume_downward(unsupported, pod, &f, &err) < 0);
        assert_string_equal(k8c_error_msg(&err), "unsupported fieldPath spec.bogus");
}

static void test_projected(void **state)
{
        json_auto_t *pod =
                parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns1\",\"labels\":{\"a\":\"b\"}}}");
        json_auto_t *cm = parse("{\"data\":{\"ca.crt\":\"CERT\",\"other\":\"x\"}}");
        json_auto_t *sec = parse("{\"data\":{\"token\":\"dG9r\"}}");
        json_auto_t *src = parse(
                "{\"defaultMode\":288,\"sources\":["
                "{\"configMap\":{\"name\":\"root-ca\",\"items\":[{\"key\":\"ca.crt\",\"path\":\"ca.crt\"}]}},"
                "{\"secret\":{\"name\":\"tok\",\"items\":[{\"key\":\"token\",\"path\":\"token\",\"mode\":256}"
                "]}},"
                "{\"downwardAPI\":{\"items\":[{\"path\":\"namespace\",\"fieldRef\":{\"fieldPath\":"
                "\"metadata.namespace\"}}]}}]}");
        const json_t *objs[3] = { cm, sec, NULL };
        struct k8c_volume_files f = { 0 };
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_volume_projected(src, objs, pod, &f, &err), 0);
        assert_int_equal(f.n, 3);
        assert_memory_equal(find(&f, "ca.crt")->data, "CERT", 4);
        assert_int_equal(find(&f, "ca.crt")->mode, 0440);
        assert_memory_equal(find(&f, "token")->data, "tok", 3);
        assert_int_equal(find(&f, "token")->mode, 0400);
        assert_string_equal((const char *)find(&f, "namespace")->data, "ns1");
        assert_int_equal(find(&f, "namespace")->mode, 0440);
        k8c_volume_files_free(&f);

        /* Two sources on one path; a token source; a missing non-optional object. */
        json_auto_t *dup =
                parse("{\"sources\":[{\"configMap\":{\"name\":\"a\"}},{\"configMap\":{\"name\":\"b\"}}]}");
        const json_t *same[2] = { cm, cm };
        assert_true(k8c_volume_projected(dup, same, pod, &f, &err) < 0);
        assert_string_equal(k8c_error_msg(&err), "projected sources conflict on path ca.crt");
        k8c_error_release(&err);
        json_auto_t *token = parse("{\"sources\":[{\"serviceAccountToken\":{\"path\":\"token\"}}]}");
        const json_t *none[1] = { NULL };
        assert_true(k8c_volume_projected(token, none, pod, &f, &err) < 0);
        assert_string_equal(k8c_error_msg(&err), "serviceAccountToken projection is not supported");
        k8c_error_release(&err);
        json_auto_t *missing = parse("{\"sources\":[{\"secret\":{\"name\":\"gone\"}}]}");
        assert_true(k8c_volume_projected(missing, none, pod, &f, &err) < 0);
        assert_string_equal(k8c_error_msg(&err), "secret \"gone\" not found");
}

static void test_mounts(void **state)
{
        json_auto_t *paths =
                parse("{\"shared\":{\"path\":\"/var/lib/k8c/pods/u/volumes/e/shared\",\"readOnly\":false},"
                      "\"cfg\":{\"path\":\"/var/lib/k8c/pods/u/volumes/c/cfg\",\"readOnly\":true}}");
        json_auto_t *c = parse(
                "{\"name\":\"w\",\"volumeMounts\":["
                "{\"name\":\"shared\",\"mountPath\":\"/data\"},"
                "{\"name\":\"shared\",\"mountPath\":\"/logs\",\"subPath\":\"logs/w\",\"readOnly\":true},"
                "{\"name\":\"cfg\",\"mountPath\":\"/etc/app\"}]}");
        json_auto_t *m = NULL;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_volume_mounts(c, paths, &m, &err), 0);
        assert_int_equal(json_array_size(m), 3);
        json_auto_t *want =
                parse("[{\"destination\":\"/data\",\"source\":\"/var/lib/k8c/pods/u/volumes/e/shared\","
                      "\"readOnly\":false},"
                      "{\"destination\":\"/logs\",\"source\":\"/var/lib/k8c/pods/u/volumes/e/shared/logs/w\","
                      "\"readOnly\":true},"
                      "{\"destination\":\"/etc/app\",\"source\":\"/var/lib/k8c/pods/u/volumes/c/cfg\","
                      "\"readOnly\":true}]");
        assert_true(json_equal(m, want));

        json_auto_t *none = parse("{\"name\":\"w\"}");
        json_auto_t *m0 = NULL;
        assert_int_equal(k8c_volume_mounts(none, paths, &m0, &err), 0);
        assert_int_equal(json_array_size(m0), 0);

        json_auto_t *unknown = parse("{\"volumeMounts\":[{\"name\":\"nope\",\"mountPath\":\"/x\"}]}");
        json_auto_t *m1 = NULL;
        assert_true(k8c_volume_mounts(unknown, paths, &m1, &err) < 0);
        assert_string_equal(k8c_error_msg(&err), "volumeMount /x: no volume named nope");
        k8c_error_release(&err);
        json_auto_t *escape = parse(
                "{\"volumeMounts\":[{\"name\":\"shared\",\"mountPath\":\"/x\",\"subPath\":\"../../etc\"}]}");
        assert_true(k8c_volume_mounts(escape, paths, &m1, &err) < 0);
        k8c_error_release(&err);
        json_auto_t *relative = parse("{\"volumeMounts\":[{\"name\":\"shared\",\"mountPath\":\"x\"}]}");
        assert_true(k8c_volume_mounts(relative, paths, &m1, &err) < 0);
        assert_null(m1);
}

static void test_hostpath_types(void **state)
{
        char root[] = "/tmp/k8ct-hostpath-XXXXXX";
        assert_non_null(mkdtemp(root));
        cleanup_free char *dir = k8c_xasprintf("%s/dir", root);
        cleanup_free char *file = k8c_xasprintf("%s/file", root);
        cleanup_free char *sock = k8c_xasprintf("%s/sock", root);
        cleanup_free char *absent = k8c_xasprintf("%s/absent", root);
        cleanup_free char *made_dir = k8c_xasprintf("%s/made/a/b", root);
        cleanup_free char *made_file = k8c_xasprintf("%s/made2/f.txt", root);
        assert_int_equal(mkdir(dir, 0755), 0);
        FILE *fp = fopen(file, "w");
        assert_non_null(fp);
        fputs("x", fp);
        fclose(fp);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);

        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_hostpath_check(dir, "Directory", &err), 0);
        assert_int_equal(k8c_hostpath_check(file, "File", &err), 0);
        assert_int_equal(k8c_hostpath_check(sock, "Socket", &err), 0);
        assert_int_equal(k8c_hostpath_check(absent, "", &err), 0);
        assert_int_equal(k8c_hostpath_check(absent, NULL, &err), 0);
        assert_int_equal(k8c_hostpath_check(dir, "DirectoryOrCreate", &err), 0);
        assert_int_equal(k8c_hostpath_check(file, "FileOrCreate", &err), 0);

        assert_true(k8c_hostpath_check(file, "Directory", &err) < 0);
        cleanup_free char *want = k8c_xasprintf("hostPath type check failed: %s is not a directory", file);
        assert_string_equal(k8c_error_msg(&err), want);
        k8c_error_release(&err);
        assert_true(k8c_hostpath_check(dir, "File", &err) < 0);
        k8c_error_release(&err);
        assert_true(k8c_hostpath_check(file, "Socket", &err) < 0);
        k8c_error_release(&err);
        assert_true(k8c_hostpath_check(absent, "Directory", &err) < 0);
        cleanup_free char *want2 = k8c_xasprintf("hostPath type check failed: %s does not exist", absent);
        assert_string_equal(k8c_error_msg(&err), want2);
        k8c_error_release(&err);
        assert_true(k8c_hostpath_check(file, "DirectoryOrCreate", &err) < 0);
        k8c_error_release(&err);
        assert_true(k8c_hostpath_check(dir, "FileOrCreate", &err) < 0);
        k8c_error_release(&err);
        assert_true(k8c_hostpath_check(dir, "Bogus", &err) < 0);
        k8c_error_release(&err);
        assert_true(k8c_hostpath_check("relative/path", "", &err) < 0);
        k8c_error_release(&err);

        /* The *OrCreate types make what is missing. */
        struct stat st;
        assert_int_equal(k8c_hostpath_check(made_dir, "DirectoryOrCreate", &err), 0);
        assert_int_equal(stat(made_dir, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(k8c_hostpath_check(made_file, "FileOrCreate", &err), 0);
        assert_int_equal(stat(made_file, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_size, 0);

        close(fd);
        cleanup_free char *cmd = k8c_xasprintf("rm -rf '%s'", root);
        assert_int_equal(system(cmd), 0);
}

/* Volume mounts become bind mounts in the OCI spec, after the pod's own files, read-only when asked. */
static void test_oci_mounts(void **state)
{
        json_auto_t *pod = parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"d\",\"uid\":\"u1\"}}");
        json_auto_t *c = parse("{\"name\":\"c\",\"image\":\"busybox\"}");
        json_auto_t *mounts =
                parse("[{\"destination\":\"/data\",\"source\":\"/v/shared\",\"readOnly\":false},"
                      "{\"destination\":\"/etc/app\",\"source\":\"/v/cfg\",\"readOnly\":true}]");
        const struct k8c_oci_inputs in = { .pod = pod,
                                           .container = c,
                                           .pod_ip = "10.1.0.5",
                                           .node_name = "n1",
                                           .netns = "/run/netns/k8c-u1",
                                           .pod_dir = "/var/lib/k/pods/u1",
                                           .cgroup_parent = "k8c/n1",
                                           .mounts = mounts };
        json_auto_t *spec = k8c_oci_spec(&in);
        const json_t *ms = json_object_get(spec, "mounts");
        size_t n = json_array_size(ms);
        assert_true(n >= 2);
        json_auto_t *want_rw = parse("{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/v/shared\","
                                     "\"options\":[\"rbind\",\"rw\"]}");
        json_auto_t *want_ro = parse("{\"destination\":\"/etc/app\",\"type\":\"bind\",\"source\":\"/v/cfg\","
                                     "\"options\":[\"rbind\",\"ro\"]}");
        assert_true(json_equal(json_array_get(ms, n - 2), want_rw));
        assert_true(json_equal(json_array_get(ms, n - 1), want_ro));
        /* Without mounts, nothing extra. */
        struct k8c_oci_inputs bare = in;
        bare.mounts = NULL;
        json_auto_t *spec2 = k8c_oci_spec(&bare);
        assert_int_equal(json_array_size(json_object_get(spec2, "mounts")), n - 2);
}

/* subPath directories are made when missing, and a symlink planted in the volume cannot lead a
 * later mount out of it. */
static void test_subpath_on_host(void **state)
{
        char root[] = "/tmp/k8ct-subpath-XXXXXX";
        assert_non_null(mkdtemp(root));
        cleanup_free char *vol = k8c_xasprintf("%s/vol", root);
        cleanup_free char *outside = k8c_xasprintf("%s/outside", root);
        cleanup_free char *link = k8c_xasprintf("%s/escape", vol);
        assert_int_equal(mkdir(vol, 0755), 0);
        assert_int_equal(mkdir(outside, 0755), 0);
        assert_int_equal(symlink(outside, link), 0);
        json_auto_t *paths = json_pack("{s:{s:s, s:b}}", "v", "path", vol, "readOnly", false);
        json_auto_t *ok =
                parse("{\"volumeMounts\":[{\"name\":\"v\",\"mountPath\":\"/a\",\"subPath\":\"new/dir\"}]}");
        json_auto_t *m = NULL;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_kubelet_container_mounts(paths, ok, &m, &err), 0);
        cleanup_free char *made = k8c_xasprintf("%s/new/dir", vol);
        struct stat st;
        assert_int_equal(stat(made, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_string_equal(k8c_json_get_string(json_array_get(m, 0), "source"), made);

        json_auto_t *bad =
                parse("{\"volumeMounts\":[{\"name\":\"v\",\"mountPath\":\"/a\",\"subPath\":\"escape\"}]}");
        json_auto_t *m2 = NULL;
        assert_true(k8c_kubelet_container_mounts(paths, bad, &m2, &err) < 0);
        assert_string_equal(k8c_error_msg(&err), "subPath escape of volume v leaves the volume");
        assert_null(m2);
        cleanup_free char *cmd = k8c_xasprintf("rm -rf '%s'", root);
        assert_int_equal(system(cmd), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_check_path),        cmocka_unit_test(test_configmap_projection),
                cmocka_unit_test(test_secret_projection), cmocka_unit_test(test_downward),
                cmocka_unit_test(test_projected),         cmocka_unit_test(test_mounts),
                cmocka_unit_test(test_hostpath_types),    cmocka_unit_test(test_subpath_on_host),
                cmocka_unit_test(test_oci_mounts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

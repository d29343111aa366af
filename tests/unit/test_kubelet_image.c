/* Unit tests for the kubelet's image pieces (image.c, oci.c): reference normalisation, manifest
 * and index parsing, sha256, and the container process from spec + image config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/image.h"
#include "k8c/json.h"
#include "k8c/kubelet.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static void expect_ref(const char *image, const char *registry, const char *repo, const char *tag,
                       const char *digest)
{
        struct k8c_image_ref r;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_image_ref_parse(image, &r, &err), 0);
        assert_string_equal(r.registry, registry);
        assert_string_equal(r.repository, repo);
        if (tag == NULL)
                assert_null(r.tag);
        else
                assert_string_equal(r.tag, tag);
        if (digest == NULL)
                assert_null(r.digest);
        else
                assert_string_equal(r.digest, digest);
        k8c_image_ref_free(&r);
}

static void test_ref_parse(void **state)
{
        expect_ref("busybox", "docker.io", "library/busybox", "latest", NULL);
        expect_ref("busybox:1.36", "docker.io", "library/busybox", "1.36", NULL);
        expect_ref("docker.io/library/busybox:1.36", "docker.io", "library/busybox", "1.36", NULL);
        expect_ref("index.docker.io/busybox", "docker.io", "library/busybox", "latest", NULL);
        expect_ref("user/app", "docker.io", "user/app", "latest", NULL);
        expect_ref("10.200.3.1:5000/team/app:v2", "10.200.3.1:5000", "team/app", "v2", NULL);
        expect_ref("localhost/app", "localhost", "app", "latest", NULL);
        expect_ref("quay.io/org/app", "quay.io", "org/app", "latest", NULL);
        expect_ref("busybox@" D1, "docker.io", "library/busybox", NULL, D1);
        expect_ref("busybox:1.36@" D1, "docker.io", "library/busybox", "1.36", D1);
        const char *bad[] = { "", "Busybox", "busybox:", "busybox@sha256:12", "a b", "registry.io/" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(bad); i++) {
                struct k8c_image_ref r;
                cleanup_error k8c_error_t err = NULL;
                assert_true(k8c_image_ref_parse(bad[i], &r, &err) < 0);
                assert_int_equal(k8c_error_reason(&err), K8C_EINVALID);
        }
}

static void test_manifest_oci_and_docker(void **state)
{
        const char *oci =
                "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1
                "\",\"size\":10},\"layers\":[{\"mediaType\":\"application/"
                "vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D2 "\",\"size\":5},{\"mediaType\":"
                "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D3 "\",\"size\":6}]}";
        struct k8c_image_manifest m;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_image_manifest_parse(oci, strlen(oci), &m, &err), 0);
        assert_false(m.is_index);
        assert_string_equal(m.config_digest, D1);
        assert_int_equal(m.nlayers, 2);
        assert_string_equal(m.layer_digests[0], D2);
        assert_string_equal(m.layer_digests[1], D3);
        assert_string_equal(m.layer_media_types[0], "application/vnd.oci.image.layer.v1.tar+gzip");
        k8c_image_manifest_free(&m);

        /* Docker v2 schema 2, and an OCI manifest without mediaType in the body. */
        const char *docker = "{\"schemaVersion\":2,\"mediaType\":\"application/"
                             "vnd.docker.distribution.manifest.v2+json\",\"config\":{\"digest\":\"" D1
                             "\"},\"layers\":[{\"mediaType\":\"application/"
                             "vnd.docker.image.rootfs.diff.tar.gzip\",\"digest\":\"" D2 "\"}]}";
        assert_int_equal(k8c_image_manifest_parse(docker, strlen(docker), &m, &err), 0);
        assert_int_equal(m.nlayers, 1);
        assert_string_equal(m.layer_media_types[0], "application/vnd.docker.image.rootfs.diff.tar.gzip");
        k8c_image_manifest_free(&m);
        const char *bare = "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\"},\"layers\":[]}";
        assert_int_equal(k8c_image_manifest_parse(bare, strlen(bare), &m, &err), 0);
        assert_int_equal(m.nlayers, 0);
        k8c_image_manifest_free(&m);
}

static void test_manifest_index_picks_linux_amd64(void **state)
{
        const char *index =
                "{\"schemaVersion\":2,\"mediaType\":\"application/"
                "vnd.docker.distribution.manifest.list.v2+json\",\"manifests\":["
                "{\"digest\":\"" D1 "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
                "{\"digest\":\"" D2 "\",\"platform\":{\"os\":\"windows\",\"architecture\":\"amd64\"}},"
                "{\"digest\":\"" D3 "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
        struct k8c_image_manifest m;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_image_manifest_parse(index, strlen(index), &m, &err), 0);
        assert_true(m.is_index);
        assert_string_equal(m.platform_digest, D3);
        k8c_image_manifest_free(&m);
        const char *none = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                           "\"manifests\":[{\"digest\":\"" D1
                           "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"s390x\"}}]}";
        assert_true(k8c_image_manifest_parse(none, strlen(none), &m, &err) < 0);
        assert_int_equal(k8c_error_reason(&err), K8C_ENOTFOUND);
}

static void test_manifest_invalid(void **state)
{
        const char *bad[] = {
                "not json",
                "{\"schemaVersion\":1,\"config\":{\"digest\":\"" D1 "\"},\"layers\":[]}",
                "{\"schemaVersion\":2,\"config\":{\"digest\":\"md5:abc\"},\"layers\":[]}",
                "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\"}}",
                "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1
                "\"},\"layers\":[{\"digest\":\"sha256:../x\"}]}",
                "{\"schemaVersion\":2,\"mediaType\":\"text/plain\",\"config\":{\"digest\":\"" D1
                "\"},\"layers\":[]}",
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(bad); i++) {
                struct k8c_image_manifest m;
                cleanup_error k8c_error_t err = NULL;
                assert_true(k8c_image_manifest_parse(bad[i], strlen(bad[i]), &m, &err) < 0);
        }
}

static void test_sha256(void **state)
{
        cleanup_free char *d = k8c_image_sha256("abc", 3);
        assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        cleanup_free char *e = k8c_image_sha256("", 0);
        assert_string_equal(e, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static json_t *j(const char *s)
{
        json_t *v = json_loads(s, 0, NULL);
        assert_non_null(v);
        return v;
}

static void expect_args(const char *container, const char *config, const char *want)
{
        json_auto_t *c = j(container);
        json_auto_t *cfg = config != NULL ? j(config) : NULL;
        json_auto_t *args = k8c_image_container_args(c, cfg);
        cleanup_free char *got = json_dumps(args, JSON_COMPACT);
        assert_string_equal(got, want);
}

static void test_container_args(void **state)
{
        const char *img = "{\"Entrypoint\":[\"/ep\"],\"Cmd\":[\"c1\",\"c2\"]}";
        /* Neither: Entrypoint + Cmd. */
        expect_args("{}", img, "[\"/ep\",\"c1\",\"c2\"]");
        /* args only: Entrypoint + args. */
        expect_args("{\"args\":[\"a\"]}", img, "[\"/ep\",\"a\"]");
        /* command: replaces Entrypoint and drops Cmd. */
        expect_args("{\"command\":[\"x\"]}", img, "[\"x\"]");
        expect_args("{\"command\":[\"x\"],\"args\":[\"y\"]}", img, "[\"x\",\"y\"]");
        /* No image config (the host-busybox path): the spec alone. */
        expect_args("{\"args\":[\"a\"]}", NULL, "[\"a\"]");
        expect_args("{}", "{\"Cmd\":[\"sh\"]}", "[\"sh\"]");
}

static void test_container_env_and_cwd(void **state)
{
        json_auto_t *cfg = j("{\"Env\":[\"PATH=/img/bin\",\"A=image\",\"B=image\"],\"WorkingDir\":\"/app\"}");
        json_t *cenv = j("[\"B=pod\",\"C=pod\"]");
        json_auto_t *env = k8c_image_container_env(cfg, cenv);
        cleanup_free char *got = json_dumps(env, JSON_COMPACT);
        assert_string_equal(got, "[\"PATH=/img/bin\",\"A=image\",\"B=pod\",\"C=pod\"]");
        json_auto_t *c1 = j("{}");
        json_auto_t *c2 = j("{\"workingDir\":\"/work\"}");
        assert_string_equal(k8c_image_working_dir(c1, cfg), "/app");
        assert_string_equal(k8c_image_working_dir(c2, cfg), "/work");
        assert_string_equal(k8c_image_working_dir(c1, NULL), "/");
}

/* The OCI spec takes the image's Entrypoint/Cmd/Env/WorkingDir, the pod's values winning. */
static void test_oci_spec_with_image_config(void **state)
{
        json_auto_t *pod = j("{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\",\"uid\":\"u1\"}}");
        json_auto_t *c = j("{\"name\":\"web\",\"env\":[{\"name\":\"MODE\",\"value\":\"pod\"}]}");
        json_auto_t *cfg = j("{\"Entrypoint\":[\"httpd\"],\"Cmd\":[\"-f\"],\"Env\":[\"PATH=/opt/bin\","
                             "\"MODE=image\"],\"WorkingDir\":\"/srv\"}");
        const struct k8c_oci_inputs in = {
                .pod = pod,
                .container = c,
                .pod_ip = "10.244.0.5",
                .node_name = "n1",
                .netns = "/run/netns/x",
                .pod_dir = "/tmp/pod",
                .cgroup_parent = "k8c",
                .image_config = cfg,
        };
        json_auto_t *spec = k8c_oci_spec(&in);
        cleanup_free char *args = json_dumps(k8c_json_get(spec, "process.args"), JSON_COMPACT);
        assert_string_equal(args, "[\"httpd\",\"-f\"]");
        assert_string_equal(k8c_json_get_string(spec, "process.cwd"), "/srv");
        cleanup_free char *env = json_dumps(k8c_json_get(spec, "process.env"), JSON_COMPACT);
        assert_string_equal(env, "[\"PATH=/opt/bin\",\"MODE=pod\",\"HOSTNAME=p\"]");
}

static void write_text(const char *path, const char *text)
{
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

/* A store laid out as pulls leave it: images/<hex>/{rootfs,config.json,blobs}, blobs/sha256/<hex>,
 * refs/<name> → digest. */
static void fake_image(const char *dir, const char *hex, const char *blob_list, time_t used)
{
        cleanup_free char *img = k8c_xasprintf("%s/images/%s/rootfs", dir, hex);
        cleanup_free char *mk = k8c_xasprintf("mkdir -p '%s' '%s/blobs/sha256' '%s/refs'", img, dir, dir);
        assert_int_equal(system(mk), 0);
        cleanup_free char *cfg = k8c_xasprintf("%s/images/%s/config.json", dir, hex);
        write_text(cfg, "{}");
        cleanup_free char *list = k8c_xasprintf("%s/images/%s/blobs", dir, hex);
        write_text(list, blob_list);
        cleanup_free char *big = k8c_xasprintf("%s/images/%s/rootfs/data", dir, hex);
        char buf[8192];
        memset(buf, 'x', sizeof(buf));
        FILE *f = fopen(big, "we");
        assert_non_null(f);
        fwrite(buf, 1, sizeof(buf), f);
        fclose(f);
        cleanup_free char *dirp = k8c_xasprintf("%s/images/%s", dir, hex);
        struct timespec ts[2] = { { .tv_sec = used }, { .tv_sec = used } };
        assert_int_equal(utimensat(AT_FDCWD, dirp, ts, 0), 0);
}

static bool exists(const char *dir, const char *rel)
{
        cleanup_free char *p = k8c_xasprintf("%s/%s", dir, rel);
        struct stat st;
        return stat(p, &st) == 0;
}

/* The collector removes unused images least recently used first until the store fits, with their
 * references and the blobs no other image lists; images in use, or used too recently, stay. */
static void test_image_gc(void **state)
{
        char dir[] = "/tmp/k8c-imggc-XXXXXX";
        assert_non_null(mkdtemp(dir));
        time_t now = time(NULL);
        fake_image(dir, "aaaa", "sha256:c1\nsha256:shared\n", now - 3000); /* oldest, unused */
        fake_image(dir, "bbbb", "sha256:c2\nsha256:shared\n", now - 2000); /* in use */
        fake_image(dir, "cccc", "sha256:c3\n", now - 1000);                /* unused, newer */
        fake_image(dir, "dddd", "sha256:c4\n", now);                       /* used just now */
        const char *blobs[] = { "c1", "c2", "c3", "c4", "shared" };
        for (size_t i = 0; i < 5; i++) {
                cleanup_free char *b = k8c_xasprintf("%s/blobs/sha256/%s", dir, blobs[i]);
                write_text(b, "blob");
        }
        cleanup_free char *ra = k8c_xasprintf("%s/refs/a", dir);
        write_text(ra, "sha256:aaaa\n");
        cleanup_free char *rc = k8c_xasprintf("%s/refs/c", dir);
        write_text(rc, "sha256:cccc\n");
        struct k8c_image_store *s = NULL;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_image_store_new(dir, NULL, &s, &err), 0);
        int64_t size = k8c_image_store_size(s);
        assert_true(size > 4 * 8192);

        /* Within budget: nothing goes. */
        int removed = -1;
        assert_int_equal(k8c_image_store_gc(s, NULL, size, 60000, &removed, &err), 0);
        assert_int_equal(removed, 0);

        /* Room for about three images: only the least recently used unused one goes. */
        char *in_use[] = { "sha256:bbbb", NULL };
        assert_int_equal(k8c_image_store_gc(s, in_use, size - 4096, 60000, &removed, &err), 0);
        assert_int_equal(removed, 1);
        assert_false(exists(dir, "images/aaaa"));
        assert_false(exists(dir, "refs/a"));
        assert_false(exists(dir, "blobs/sha256/c1"));
        assert_true(exists(dir, "blobs/sha256/shared")); /* bbbb still lists it */
        assert_true(exists(dir, "images/cccc"));

        /* Budget 0: everything unused and old enough goes; in use and fresh stay. */
        assert_int_equal(k8c_image_store_gc(s, in_use, 0, 60000, &removed, &err), 0);
        assert_int_equal(removed, 1);
        assert_false(exists(dir, "images/cccc"));
        assert_false(exists(dir, "refs/c"));
        assert_false(exists(dir, "blobs/sha256/c3"));
        assert_true(exists(dir, "images/bbbb"));
        assert_true(exists(dir, "blobs/sha256/c2"));
        assert_true(exists(dir, "images/dddd"));
        assert_true(exists(dir, "blobs/sha256/c4"));
        k8c_image_store_free(s);
        cleanup_free char *rm = k8c_xasprintf("rm -rf '%s'", dir);
        assert_int_equal(system(rm), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ref_parse),
                cmocka_unit_test(test_manifest_oci_and_docker),
                cmocka_unit_test(test_manifest_index_picks_linux_amd64),
                cmocka_unit_test(test_manifest_invalid),
                cmocka_unit_test(test_sha256),
                cmocka_unit_test(test_container_args),
                cmocka_unit_test(test_container_env_and_cwd),
                cmocka_unit_test(test_oci_spec_with_image_config),
                cmocka_unit_test(test_image_gc),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Integration tests of image building and pulling against a real
 * docker-registry on 127.0.0.1 (a free port; config and storage in a temp
 * dir; stopped by its PID): the lab's busybox push, the kubelet image store's
 * pull (by tag and by digest), unpacked rootfs and config, a second layer with
 * whiteouts and an opaque directory, imagePullPolicy IfNotPresent/Never/Always,
 * ErrImagePull then back-off, and a tampered blob refused by its digest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/image.h"
#include "k8c/json.h"
#include "k8c/lab.h"

struct fixture {
        char dir[64];
        char url[64];
        char *pidfile;
        char *busybox_digest;
};

static int free_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
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

static bool registry_answers(const char *url)
{
        struct k8c_client_config cc = { .server = url, .max_retries = 1, .timeout_ms = 1000 };
        struct k8c_client *c = NULL;
        if (k8c_client_new(&cc, &c, NULL) < 0)
                return false;
        struct k8c_response resp = { 0 };
        bool ok = k8c_client_do(c, "GET", "/v2/", NULL, NULL, &resp, NULL) >= 0;
        k8c_response_free(&resp);
        k8c_client_free(c);
        return ok;
}

static int setup(void **state)
{
        if (getuid() != 0 || access("/usr/bin/docker-registry", X_OK) != 0 ||
            access("/bin/busybox", X_OK) != 0)
                return -1;
        struct fixture *f = k8c_xcalloc(1, sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/k8ct%d-image-XXXXXX", (int)getpid());
        if (mkdtemp(f->dir) == NULL)
                return -1;
        int port = free_port();
        snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", port);
        cleanup_free char *cfg = k8c_xasprintf("%s/registry.yml", f->dir);
        cleanup_free char *text =
                k8c_xasprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                              "    rootdirectory: %s/storage\nhttp:\n  addr: 127.0.0.1:%d\n",
                              f->dir, port);
        FILE *out = fopen(cfg, "w");
        if (out == NULL)
                return -1;
        fputs(text, out);
        fclose(out);
        f->pidfile = k8c_xasprintf("%s/registry.pid", f->dir);
        cleanup_free char *log = k8c_xasprintf("%s/registry.log", f->dir);
        char *argv[] = { "/usr/bin/docker-registry", "serve", cfg, NULL };
        *state = f;
        if (k8c_lab_spawn(argv, log, NULL, NULL, NULL, f->pidfile, NULL, NULL) < 0)
                return -1;
        for (int i = 0; i < 100 && !registry_answers(f->url); i++)
                usleep(100 * 1000);
        cleanup_error k8c_error_t err = NULL;
        if (k8c_lab_push_busybox(f->url, "/bin/busybox", &f->busybox_digest, &err) < 0) {
                fprintf(stderr, "push: %s\n", k8c_error_msg(&err));
                return -1;
        }
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        if (f == NULL)
                return 0;
        if (f->pidfile != NULL)
                k8c_lab_pidfile_stop(f->pidfile, 5000);
        cleanup_free char *cmd = k8c_xasprintf("rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", f->dir);
        free(f->pidfile);
        free(f->busybox_digest);
        free(f);
        return 0;
}

static struct k8c_image_store *new_store(struct fixture *f, const char *sub)
{
        cleanup_free char *dir = k8c_xasprintf("%s/%s", f->dir, sub);
        struct k8c_image_store *s = NULL;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_image_store_new(dir, f->url, &s, &err), 0);
        return s;
}

static bool is_file(const char *root, const char *rel)
{
        cleanup_free char *p = k8c_xasprintf("%s/%s", root, rel);
        struct stat st;
        return lstat(p, &st) == 0;
}

static void test_pull_busybox(void **state)
{
        struct fixture *f = *state;
        struct k8c_image_store *s = new_store(f, "store1");
        struct k8c_image img;
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_image_ensure(s, "busybox", NULL, &img, &err);
        if (r < 0)
                fail_msg("pull: %s", k8c_error_msg(&err));
        assert_string_equal(img.image_id, f->busybox_digest);
        cleanup_free char *bb = k8c_xasprintf("%s/bin/busybox", img.rootfs);
        assert_int_equal(access(bb, X_OK), 0);
        cleanup_free char *sh = k8c_xasprintf("%s/bin/sh", img.rootfs);
        char target[64] = "";
        assert_true(readlink(sh, target, sizeof(target) - 1) > 0);
        assert_string_equal(target, "busybox");
        assert_true(is_file(img.rootfs, "bin/httpd"));
        assert_true(is_file(img.rootfs, "etc/passwd"));
        struct stat st;
        cleanup_free char *tmp = k8c_xasprintf("%s/tmp", img.rootfs);
        assert_int_equal(stat(tmp, &st), 0);
        assert_int_equal(st.st_mode & 07777, 01777);
        assert_string_equal(json_string_value(json_array_get(json_object_get(img.config, "Cmd"), 0)), "sh");
        k8c_image_free(&img);

        /* The same image by tag with a docker.io prefix, and by digest, is the same content. */
        assert_int_equal(k8c_image_ensure(s, "docker.io/library/busybox:latest", "IfNotPresent", &img, &err),
                         0);
        assert_string_equal(img.image_id, f->busybox_digest);
        k8c_image_free(&img);
        cleanup_free char *by_digest = k8c_xasprintf("busybox@%s", f->busybox_digest);
        assert_int_equal(k8c_image_ensure(s, by_digest, NULL, &img, &err), 0);
        assert_string_equal(img.image_id, f->busybox_digest);
        k8c_image_free(&img);
        k8c_image_store_free(s);
}

static void test_pull_errors_and_backoff(void **state)
{
        struct fixture *f = *state;
        struct k8c_image_store *s = new_store(f, "store2");
        struct k8c_image img;
        {
                cleanup_error k8c_error_t err = NULL;
                assert_true(k8c_image_ensure(s, "nosuch:v1", NULL, &img, &err) < 0);
                assert_int_equal(k8c_error_reason(&err), K8C_ENOTFOUND); /* ErrImagePull */
                assert_non_null(strstr(k8c_error_msg(&err), "failed to pull image \"nosuch:v1\""));
        }
        {
                /* At once again: in back-off (ImagePullBackOff), the registry is not asked. */
                cleanup_error k8c_error_t err = NULL;
                assert_true(k8c_image_ensure(s, "nosuch:v1", NULL, &img, &err) < 0);
                assert_int_equal(k8c_error_reason(&err), K8C_ETOOMANYREQUESTS);
                assert_non_null(strstr(k8c_error_msg(&err), "Back-off pulling image \"nosuch:v1\""));
        }
        {
                cleanup_error k8c_error_t err = NULL;
                assert_true(k8c_image_ensure(s, "busybox", "Never", &img, &err) < 0);
                assert_int_equal(k8c_error_reason(&err), K8C_ENOTFOUND);
                assert_non_null(strstr(k8c_error_msg(&err), "not present with pull policy of Never"));
        }
        {
                cleanup_error k8c_error_t err = NULL;
                assert_true(k8c_image_ensure(s, "Bad Name", NULL, &img, &err) < 0);
                assert_int_equal(k8c_error_reason(&err), K8C_EINVALID);
        }
        k8c_image_store_free(s);
}

static void test_tampered_blob_refused(void **state)
{
        struct fixture *f = *state;
        /* The registry keeps blobs at docker/registry/v2/blobs/sha256/<2>/<hex>/data: corrupt the
         * layer (the largest blob) in place, same size. */
        cleanup_free char *find =
                k8c_xasprintf("ls -S %s/storage/docker/registry/v2/blobs/sha256/*/*/data | head -1", f->dir);
        FILE *p = popen(find, "r");
        assert_non_null(p);
        char path[512] = "";
        assert_non_null(fgets(path, sizeof(path), p));
        pclose(p);
        path[strcspn(path, "\n")] = '\0';
        FILE *blob = fopen(path, "r+");
        assert_non_null(blob);
        fseek(blob, 100, SEEK_SET);
        int c = fgetc(blob);
        fseek(blob, 100, SEEK_SET);
        fputc(c ^ 0xff, blob);
        fclose(blob);
        struct k8c_image_store *s = new_store(f, "store3");
        struct k8c_image img;
        cleanup_error k8c_error_t err = NULL;
        assert_true(k8c_image_ensure(s, "busybox", NULL, &img, &err) < 0);
        assert_int_equal(k8c_error_reason(&err), K8C_ENOTFOUND);
        assert_non_null(strstr(k8c_error_msg(&err), "content has digest"));
        /* Nothing half-pulled is kept. */
        cleanup_free char *images = k8c_xasprintf("%s/store3/images", f->dir);
        cleanup_free char *cmd = k8c_xasprintf("test -z \"$(ls -A %s)\"", images);
        assert_int_equal(system(cmd), 0);
        /* Restore the byte so later tests see a healthy registry. */
        blob = fopen(path, "r+");
        assert_non_null(blob);
        fseek(blob, 100, SEEK_SET);
        fputc(c, blob);
        fclose(blob);
        k8c_image_store_free(s);
}

struct mem {
        unsigned char *data;
        size_t len;
};

static la_ssize_t mem_write(struct archive *a, void *opaque, const void *buf, size_t n)
{
        struct mem *m = opaque;
        m->data = k8c_xrealloc(m->data, m->len + n);
        memcpy(m->data + m->len, buf, n);
        m->len += n;
        return (la_ssize_t)n;
}

static void add(struct archive *a, const char *path, mode_t type, const char *data)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
        archive_entry_set_size(e, data != NULL ? (la_int64_t)strlen(data) : 0);
        archive_write_header(a, e);
        if (data != NULL)
                archive_write_data(a, data, strlen(data));
        archive_entry_free(e);
}

/* A second layer over busybox: deletes bin/ls (whiteout), makes etc/ opaque (only etc/motd remains),
 * adds a file; the config sets Entrypoint, Env and WorkingDir. */
static void test_layers_with_whiteouts(void **state)
{
        struct fixture *f = *state;
        struct mem tar = { 0 };
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        archive_write_add_filter_gzip(a);
        assert_int_equal(archive_write_open(a, &tar, NULL, mem_write, NULL), ARCHIVE_OK);
        add(a, "bin/.wh.ls", AE_IFREG, NULL);
        add(a, "etc/", AE_IFDIR, NULL);
        add(a, "etc/.wh..wh..opq", AE_IFREG, NULL);
        add(a, "etc/motd", AE_IFREG, "layer two\n");
        add(a, "app/", AE_IFDIR, NULL);
        add(a, "app/run.sh", AE_IFREG, "echo hi\n");
        add(a, "../escape", AE_IFREG, "no\n");
        archive_write_close(a);
        archive_write_free(a);
        cleanup_free char *layer2 = k8c_image_sha256(tar.data, tar.len);
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_lab_registry_push_blob(f->url, "team/app", layer2, tar.data, tar.len, &err), 0);

        /* Layer one is busybox's, fetched through its manifest. */
        struct k8c_image_store *s = new_store(f, "store4");
        struct k8c_image img;
        assert_int_equal(k8c_image_ensure(s, "busybox", NULL, &img, &err), 0);
        k8c_image_free(&img);
        cleanup_free char *mpath = k8c_xasprintf("%s/store4/blobs/sha256", f->dir);
        /* Re-push busybox's layer blob into the new repository (blobs are per repository). */
        cleanup_free char *cmd = k8c_xasprintf("ls -S %s | head -1", mpath);
        FILE *p = popen(cmd, "r");
        char hex[80] = "";
        assert_non_null(fgets(hex, sizeof(hex), p));
        pclose(p);
        hex[strcspn(hex, "\n")] = '\0';
        cleanup_free char *l1path = k8c_xasprintf("%s/%s", mpath, hex);
        FILE *l1 = fopen(l1path, "r");
        assert_non_null(l1);
        fseek(l1, 0, SEEK_END);
        long l1len = ftell(l1);
        rewind(l1);
        unsigned char *l1data = k8c_xmalloc((size_t)l1len);
        assert_int_equal(fread(l1data, 1, (size_t)l1len, l1), (size_t)l1len);
        fclose(l1);
        cleanup_free char *layer1 = k8c_xasprintf("sha256:%s", hex);
        assert_int_equal(k8c_lab_registry_push_blob(f->url, "team/app", layer1, l1data, (size_t)l1len, &err),
                         0);
        free(l1data);

        json_auto_t *config = json_pack("{s:s, s:s, s:{s:[s], s:[s], s:[s, s], s:s}, s:{s:s, s:[]}}",
                                        "architecture", "amd64", "os", "linux", "config", "Entrypoint",
                                        "/bin/sh", "Cmd", "/app/run.sh", "Env", "PATH=/bin", "GREETING=hi",
                                        "WorkingDir", "/app", "rootfs", "type", "layers", "diff_ids");
        cleanup_free char *config_s = json_dumps(config, JSON_COMPACT);
        cleanup_free char *config_d = k8c_image_sha256(config_s, strlen(config_s));
        assert_int_equal(
                k8c_lab_registry_push_blob(f->url, "team/app", config_d, config_s, strlen(config_s), &err),
                0);
        json_auto_t *manifest = json_pack(
                "{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}, {s:s, s:s, s:I}]}", "schemaVersion", 2,
                "mediaType", "application/vnd.docker.distribution.manifest.v2+json", "config", "mediaType",
                "application/vnd.docker.container.image.v1+json", "digest", config_d, "size",
                (json_int_t)strlen(config_s), "layers", "mediaType",
                "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest", layer1, "size",
                (json_int_t)l1len, "mediaType", "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest",
                layer2, "size", (json_int_t)tar.len);
        free(tar.data);
        cleanup_free char *manifest_s = json_dumps(manifest, JSON_COMPACT);
        assert_int_equal(k8c_lab_registry_put_manifest(f->url, "team/app", "v1",
                                                       "application/vnd.docker.distribution.manifest.v2+json",
                                                       manifest_s, &err),
                         0);

        /* A registry named in the image itself (loopback: plain HTTP). */
        cleanup_free char *image = k8c_xasprintf("%s/team/app:v1", f->url + strlen("http://"));
        int r = k8c_image_ensure(s, image, NULL, &img, &err);
        if (r < 0)
                fail_msg("pull %s: %s", image, k8c_error_msg(&err));
        assert_true(is_file(img.rootfs, "bin/busybox"));
        assert_true(is_file(img.rootfs, "bin/sh"));
        assert_false(is_file(img.rootfs, "bin/ls"));
        assert_false(is_file(img.rootfs, "etc/passwd"));
        assert_true(is_file(img.rootfs, "etc/motd"));
        assert_true(is_file(img.rootfs, "app/run.sh"));
        cleanup_free char *outside = k8c_xasprintf("%s/../escape", img.rootfs);
        assert_false(is_file(img.rootfs, "escape"));
        struct stat st;
        assert_true(stat(outside, &st) < 0);
        assert_string_equal(k8c_json_get_string(img.config, "WorkingDir"), "/app");
        json_auto_t *c = json_pack("{s:s}", "name", "app");
        json_auto_t *args = k8c_image_container_args(c, img.config);
        cleanup_free char *args_s = json_dumps(args, JSON_COMPACT);
        assert_string_equal(args_s, "[\"/bin/sh\",\"/app/run.sh\"]");
        k8c_image_free(&img);
        k8c_image_store_free(s);
}

/* Run last: the registry goes away; IfNotPresent still works from the store, Always does not. */
static void test_policies_without_registry(void **state)
{
        struct fixture *f = *state;
        struct k8c_image_store *s = new_store(f, "store5");
        struct k8c_image img;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_image_ensure(s, "busybox:latest", "IfNotPresent", &img, &err), 0);
        k8c_image_free(&img);
        k8c_lab_pidfile_stop(f->pidfile, 5000);
        assert_false(registry_answers(f->url));
        assert_int_equal(k8c_image_ensure(s, "busybox:latest", "IfNotPresent", &img, &err), 0);
        assert_string_equal(img.image_id, f->busybox_digest);
        k8c_image_free(&img);
        assert_int_equal(k8c_image_ensure(s, "busybox:latest", "Never", &img, &err), 0);
        k8c_image_free(&img);
        cleanup_error k8c_error_t e2 = NULL;
        assert_true(k8c_image_ensure(s, "busybox:latest", "Always", &img, &e2) < 0);
        assert_int_equal(k8c_error_reason(&e2), K8C_ENOTFOUND);
        k8c_image_store_free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pull_busybox),
                cmocka_unit_test(test_pull_errors_and_backoff),
                cmocka_unit_test(test_tampered_blob_refused),
                cmocka_unit_test(test_layers_with_whiteouts),
                cmocka_unit_test(test_policies_without_registry),
        };
        if (getuid() != 0 || access("/usr/bin/docker-registry", X_OK) != 0) {
                /* Reported as skipped so K8C_REQUIRE_PRIVILEGED=1 counts it. */
                printf("[  SKIPPED ] %zu test(s), needs root and docker-registry\n", K8C_ARRAY_SIZE(tests));
                return 0;
        }
        return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * image.c - the lab's busybox image: one layer (a tar made with libarchive
 * from the host's static busybox, its applet links, /etc/passwd and the
 * usual empty directories; fixed mtimes so the digests are reproducible),
 * gzip'd with zlib, an OCI image config and manifest (jansson), sha256
 * digests (gnutls), pushed to a registry with the Docker Registry HTTP API v2
 * over libcurl: blob upload POST + PUT ?digest=, then the manifest PUT.
 *
 * Must not: talk to any registry but the one it is given.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <zlib.h>

#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/lab.h"

extern char **environ;

struct buf {
        unsigned char *data;
        size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
        if (b->len + n > b->cap) {
                b->cap = (b->len + n) * 2 + 4096;
                b->data = k8c_xrealloc(b->data, b->cap);
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
}

static char *sha256_digest(const void *data, size_t len)
{
        unsigned char out[32];
        gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out);
        char hex[65];
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", out[i]);
        return k8c_xasprintf("sha256:%s", hex);
}

static la_ssize_t tar_write(struct archive *a, void *opaque, const void *p, size_t n)
{
        buf_add(opaque, p, n);
        return (la_ssize_t)n;
}

static int read_all(const char *path, struct buf *b, k8c_error_t *err)
{
        cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return k8c_make_errno(err, errno, "open %s", path);
        char chunk[65536];
        ssize_t n;
        while ((n = read(fd, chunk, sizeof(chunk))) > 0)
                buf_add(b, chunk, (size_t)n);
        return n < 0 ? k8c_make_errno(err, errno, "read %s", path) : 0;
}

/* The lines busybox prints for one argument (caller frees with k8c_strv_free). */
static char **busybox_lines(const char *busybox, const char *arg, k8c_error_t *err)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return k8c_make_errno(err, errno, "pipe"), NULL;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        posix_spawn_file_actions_adddup2(&fa, p[1], 2);
        const char *argv[] = { busybox, arg, NULL };
        pid_t pid;
        int r = posix_spawn(&pid, busybox, &fa, NULL, (char *const *)argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        if (r != 0) {
                close(p[0]);
                return k8c_make_errno(err, r, "spawn %s", busybox), NULL;
        }
        cleanup_fclose FILE *f = fdopen(p[0], "r");
        size_t n = 0, cap = 512;
        char **names = k8c_xcalloc(cap, sizeof(char *));
        char line[256];
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
                line[strcspn(line, "\n")] = '\0';
                if (n + 2 > cap) {
                        cap *= 2;
                        names = k8c_xrealloc(names, cap * sizeof(char *));
                }
                names[n++] = k8c_xstrdup(line);
        }
        names[n] = NULL;
        int status;
        waitpid(pid, &status, 0);
        return names;
}

/* The applets the binary provides, from `busybox --list`. */
static char **applets(const char *busybox, k8c_error_t *err)
{
        char **lines = busybox_lines(busybox, "--list", err);
        if (lines == NULL)
                return NULL;
        size_t n = 0;
        for (size_t i = 0; lines[i] != NULL; i++) {
                if (lines[i][0] == '\0' || strchr(lines[i], '/') != NULL || strcmp(lines[i], "busybox") == 0)
                        free(lines[i]);
                else
                        lines[n++] = lines[i];
        }
        lines[n] = NULL;
        return lines;
}

/* "1.35.0" and "1.35" from the banner "BusyBox v1.35.0 (...)", as extra image tags; NULLs if
 * the banner does not say. */
static void busybox_version_tags(const char *busybox, char **ret_full, char **ret_minor)
{
        *ret_full = *ret_minor = NULL;
        cleanup_strv char **lines = busybox_lines(busybox, "--help", NULL);
        int major, minor, patch;
        if (lines == NULL || lines[0] == NULL ||
            sscanf(lines[0], "BusyBox v%d.%d.%d", &major, &minor, &patch) != 3)
                return;
        *ret_full = k8c_xasprintf("%d.%d.%d", major, minor, patch);
        *ret_minor = k8c_xasprintf("%d.%d", major, minor);
}

static void add_entry(struct archive *a, const char *path, mode_t type, mode_t perm, const char *link,
                      const void *data, size_t len)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, perm);
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 0);
        archive_entry_set_mtime(e, 0, 0);
        if (link != NULL)
                archive_entry_set_symlink(e, link);
        archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t)len : 0);
        archive_write_header(a, e);
        if (type == AE_IFREG && len > 0)
                archive_write_data(a, data, len);
        archive_entry_free(e);
}

/* The layer's uncompressed tar into out. */
static int build_tar(const char *busybox, struct buf *out, k8c_error_t *err)
{
        struct buf bin = { 0 };
        int r = read_all(busybox, &bin, err);
        if (r < 0)
                return r;
        cleanup_strv char **names = applets(busybox, err);
        if (names == NULL) {
                free(bin.data);
                return -1;
        }
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        archive_write_set_bytes_in_last_block(a, 1);
        if (archive_write_open(a, out, NULL, tar_write, NULL) != ARCHIVE_OK) {
                r = k8c_make_error(err, K8C_EINTERNAL, "tar: %s", archive_error_string(a));
                archive_write_free(a);
                free(bin.data);
                return r;
        }
        static const struct {
                const char *path;
                mode_t perm;
        } dirs[] = { { "bin", 0755 },  { "dev", 0755 },  { "etc", 0755 },     { "home", 0755 },
                     { "proc", 0555 }, { "root", 0700 }, { "sys", 0555 },     { "tmp", 01777 },
                     { "usr", 0755 },  { "var", 0755 },  { "var/www", 0755 }, { "www", 0755 } };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(dirs); i++)
                add_entry(a, dirs[i].path, AE_IFDIR, dirs[i].perm, NULL, NULL, 0);
        add_entry(a, "bin/busybox", AE_IFREG, 0755, NULL, bin.data, bin.len);
        for (size_t i = 0; names[i] != NULL; i++) {
                cleanup_free char *p = k8c_xasprintf("bin/%s", names[i]);
                add_entry(a, p, AE_IFLNK, 0777, "busybox", NULL, 0);
        }
        static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                                     "nobody:x:65534:65534:nobody:/home:/bin/false\n";
        static const char group[] = "root:x:0:\nnogroup:x:65534:\n";
        add_entry(a, "etc/passwd", AE_IFREG, 0644, NULL, passwd, sizeof(passwd) - 1);
        add_entry(a, "etc/group", AE_IFREG, 0644, NULL, group, sizeof(group) - 1);
        r = archive_write_close(a) == ARCHIVE_OK
                    ? 0
                    : k8c_make_error(err, K8C_EINTERNAL, "tar: %s", archive_error_string(a));
        archive_write_free(a);
        free(bin.data);
        return r;
}

static int gzip_buf(const struct buf *in, struct buf *out, k8c_error_t *err)
{
        z_stream z = { 0 };
        /* windowBits 16+15: a gzip wrapper, as OCI's tar+gzip layers are. */
        if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                return k8c_make_error(err, K8C_EINTERNAL, "deflateInit2");
        out->cap = deflateBound(&z, in->len) + 64;
        out->data = k8c_xmalloc(out->cap);
        z.next_in = in->data;
        z.avail_in = (uInt)in->len;
        z.next_out = out->data;
        z.avail_out = (uInt)out->cap;
        int r = deflate(&z, Z_FINISH);
        out->len = z.total_out;
        deflateEnd(&z);
        return r == Z_STREAM_END ? 0 : k8c_make_error(err, K8C_EINTERNAL, "deflate: %d", r);
}

/* ---- the registry API ---- */

struct reply {
        long code;
        char *location;
        struct buf body;
};

static size_t on_header(char *p, size_t size, size_t n, void *opaque)
{
        struct reply *rep = opaque;
        size_t len = size * n;
        if (len > 9 && strncasecmp(p, "Location:", 9) == 0) {
                const char *v = p + 9;
                while (*v == ' ')
                        v++;
                size_t vl = len - (size_t)(v - p);
                while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
                        vl--;
                free(rep->location);
                rep->location = k8c_xstrndup(v, vl);
        }
        return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *opaque)
{
        struct reply *rep = opaque;
        if (rep->body.len < 8192)
                buf_add(&rep->body, p, size * n);
        return size * n;
}

static int request(const char *method, const char *url, const char *content_type, const void *data,
                   size_t len, struct reply *rep, k8c_error_t *err)
{
        k8c_curl_global_init();
        CURL *c = curl_easy_init();
        if (c == NULL)
                return k8c_make_error(err, K8C_EINTERNAL, "curl_easy_init");
        struct curl_slist *h = NULL;
        cleanup_free char *ct = k8c_xasprintf("Content-Type: %s", content_type ?: "application/octet-stream");
        h = curl_slist_append(h, ct);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, rep);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, rep);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, data != NULL ? data : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        CURLcode cr = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rep->code);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        if (cr != CURLE_OK)
                return k8c_make_error(err, K8C_EUNAVAILABLE, "%s %s: %s", method, url,
                                      curl_easy_strerror(cr));
        return 0;
}

static void reply_free(struct reply *r)
{
        free(r->location);
        free(r->body.data);
        memset(r, 0, sizeof(*r));
}

int k8c_lab_registry_push_blob(const char *base_url, const char *repo, const char *digest, const void *data,
                               size_t len, k8c_error_t *err)
{
        struct reply rep = { 0 };
        cleanup_free char *start = k8c_xasprintf("%s/v2/%s/blobs/uploads/", base_url, repo);
        int r = request("POST", start, NULL, NULL, 0, &rep, err);
        if (r >= 0 && (rep.code != 202 || rep.location == NULL))
                r = k8c_make_error(err, K8C_EINTERNAL, "POST %s: HTTP %ld", start, rep.code);
        if (r < 0) {
                reply_free(&rep);
                return r;
        }
        /* Location may be relative to the registry. */
        cleanup_free char *loc = rep.location[0] == '/' ? k8c_xasprintf("%s%s", base_url, rep.location)
                                                        : k8c_xstrdup(rep.location);
        reply_free(&rep);
        cleanup_free char *put = k8c_xasprintf("%s%cdigest=%s", loc, strchr(loc, '?') ? '&' : '?', digest);
        r = request("PUT", put, NULL, data, len, &rep, err);
        if (r >= 0 && rep.code != 201)
                r = k8c_make_error(err, K8C_EINTERNAL, "blob %s: HTTP %ld: %.*s", digest, rep.code,
                                   (int)rep.body.len, rep.body.data ? (char *)rep.body.data : "");
        reply_free(&rep);
        return r;
}

int k8c_lab_registry_put_manifest(const char *base_url, const char *repo, const char *tag,
                                  const char *media_type, const char *manifest, k8c_error_t *err)
{
        struct reply rep = { 0 };
        cleanup_free char *url = k8c_xasprintf("%s/v2/%s/manifests/%s", base_url, repo, tag);
        int r = request("PUT", url, media_type, manifest, strlen(manifest), &rep, err);
        if (r >= 0 && rep.code != 201)
                r = k8c_make_error(err, K8C_EINTERNAL, "PUT %s: HTTP %ld: %.*s", url, rep.code,
                                   (int)rep.body.len, rep.body.data ? (char *)rep.body.data : "");
        reply_free(&rep);
        return r;
}

int k8c_lab_push_busybox(const char *base_url, const char *busybox_path, char **ret_digest, k8c_error_t *err)
{
        struct buf tar = { 0 }, gz = { 0 };
        int r = build_tar(busybox_path, &tar, err);
        if (r >= 0)
                r = gzip_buf(&tar, &gz, err);
        if (r < 0) {
                free(tar.data);
                free(gz.data);
                return k8c_error_wrap(err, "busybox layer");
        }
        cleanup_free char *diff_id = sha256_digest(tar.data, tar.len);
        cleanup_free char *layer_digest = sha256_digest(gz.data, gz.len);
        free(tar.data);

        json_t *config =
                json_pack("{s:s, s:s, s:s, s:{s:[s], s:[s]}, s:{s:s, s:[s]}, s:[{s:s, s:s}]}", "architecture",
                          "amd64", "os", "linux", "created", "1970-01-01T00:00:00Z", "config", "Env",
                          "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "Cmd", "sh",
                          "rootfs", "type", "layers", "diff_ids", diff_id, "history", "created",
                          "1970-01-01T00:00:00Z", "created_by", "k8c-lab: busybox-static");
        cleanup_free char *config_s = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(config);
        cleanup_free char *config_digest = sha256_digest(config_s, strlen(config_s));
        json_t *manifest = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2,
                                     "mediaType", "application/vnd.oci.image.manifest.v1+json", "config",
                                     "mediaType", "application/vnd.oci.image.config.v1+json", "digest",
                                     config_digest, "size", (json_int_t)strlen(config_s), "layers",
                                     "mediaType", "application/vnd.oci.image.layer.v1.tar+gzip", "digest",
                                     layer_digest, "size", (json_int_t)gz.len);
        cleanup_free char *manifest_s = json_dumps(manifest, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(manifest);

        r = k8c_lab_registry_push_blob(base_url, "library/busybox", layer_digest, gz.data, gz.len, err);
        free(gz.data);
        if (r >= 0)
                r = k8c_lab_registry_push_blob(base_url, "library/busybox", config_digest, config_s,
                                               strlen(config_s), err);
        if (r < 0)
                return k8c_error_wrap(err, "push busybox");
        /* latest, and the binary's own version (busybox:1.35.0, busybox:1.35). */
        cleanup_free char *full = NULL, *minor = NULL;
        busybox_version_tags(busybox_path, &full, &minor);
        const char *tags[] = { "latest", full, minor };
        for (size_t i = 0; r >= 0 && i < K8C_ARRAY_SIZE(tags); i++)
                if (tags[i] != NULL)
                        r = k8c_lab_registry_put_manifest(base_url, "library/busybox", tags[i],
                                                          "application/vnd.oci.image.manifest.v1+json",
                                                          manifest_s, err);
        if (r >= 0 && ret_digest != NULL)
                *ret_digest = sha256_digest(manifest_s, strlen(manifest_s));
        return r;
}

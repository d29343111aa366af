/*
 * image.c - the kubelet's image store (see include/k8c/image.h): pulls over
 * the registry HTTP API v2 with libcurl, verifies every sha256 (gnutls) as it
 * streams, unpacks layers with libarchive into images/<manifest hex>/rootfs
 * (whiteouts and opaque directories honoured, ".." and symlink escapes
 * refused), and remembers tags in refs/. One pull at a time per store;
 * failed pulls back off 10 s doubling to 5 min per image.
 *
 * Must not: write outside its directory, or trust a blob whose digest does
 * not match.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/fs.h"
#include "k8c/image.h"
#include "k8c/json.h"
#include "k8c/log.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

/* ---- references ---- */

void k8c_image_ref_free(struct k8c_image_ref *r)
{
        if (r == NULL)
                return;
        free(r->registry);
        free(r->repository);
        free(r->tag);
        free(r->digest);
        memset(r, 0, sizeof(*r));
}

int k8c_image_ref_parse(const char *image, struct k8c_image_ref *ret, k8c_error_t *err)
{
        memset(ret, 0, sizeof(*ret));
        if (image == NULL || image[0] == '\0' || strchr(image, ' ') != NULL)
                return k8c_make_error(err, K8C_EINVALID, "invalid image reference \"%s\"", image ?: "");
        cleanup_free char *s = k8c_xstrdup(image);
        char *at = strchr(s, '@');
        if (at != NULL) {
                *at = '\0';
                if (strncmp(at + 1, "sha256:", 7) != 0 || strlen(at + 1) != 71)
                        return k8c_make_error(err, K8C_EINVALID, "invalid digest in image \"%s\"", image);
                ret->digest = k8c_xstrdup(at + 1);
        }
        char *name = s;
        char *slash = strchr(s, '/');
        if (slash != NULL) {
                size_t n = (size_t)(slash - s);
                if (memchr(s, '.', n) != NULL || memchr(s, ':', n) != NULL ||
                    (n == 9 && strncmp(s, "localhost", 9) == 0)) {
                        ret->registry = k8c_xstrndup(s, n);
                        name = slash + 1;
                }
        }
        if (ret->registry == NULL)
                ret->registry = k8c_xstrdup("docker.io");
        if (strcmp(ret->registry, "index.docker.io") == 0 ||
            strcmp(ret->registry, "registry-1.docker.io") == 0) {
                free(ret->registry);
                ret->registry = k8c_xstrdup("docker.io");
        }
        /* A tag is after the last ':' that follows the last '/'. */
        char *last_slash = strrchr(name, '/');
        char *colon = strrchr(last_slash != NULL ? last_slash : name, ':');
        if (colon != NULL) {
                *colon = '\0';
                if (colon[1] == '\0') {
                        k8c_image_ref_free(ret);
                        return k8c_make_error(err, K8C_EINVALID, "empty tag in image \"%s\"", image);
                }
                ret->tag = k8c_xstrdup(colon + 1);
        } else if (ret->digest == NULL) {
                ret->tag = k8c_xstrdup("latest");
        }
        if (name[0] == '\0') {
                k8c_image_ref_free(ret);
                return k8c_make_error(err, K8C_EINVALID, "invalid image reference \"%s\"", image);
        }
        for (const char *p = name; *p != '\0'; p++)
                if (*p >= 'A' && *p <= 'Z') {
                        k8c_image_ref_free(ret);
                        return k8c_make_error(err, K8C_EINVALID,
                                              "invalid image reference \"%s\": repository must be lowercase",
                                              image);
                }
        if (strcmp(ret->registry, "docker.io") == 0 && strchr(name, '/') == NULL)
                ret->repository = k8c_xasprintf("library/%s", name);
        else
                ret->repository = k8c_xstrdup(name);
        return 0;
}

/* ---- manifests ---- */

void k8c_image_manifest_free(struct k8c_image_manifest *m)
{
        if (m == NULL)
                return;
        free(m->platform_digest);
        free(m->config_digest);
        for (size_t i = 0; i < m->nlayers; i++) {
                free(m->layer_digests[i]);
                free(m->layer_media_types[i]);
        }
        free(m->layer_digests);
        free(m->layer_media_types);
        memset(m, 0, sizeof(*m));
}

static bool valid_digest(const char *d)
{
        if (d == NULL || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
                return false;
        for (const char *p = d + 7; *p != '\0'; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

int k8c_image_manifest_parse(const char *body, size_t len, struct k8c_image_manifest *ret, k8c_error_t *err)
{
        memset(ret, 0, sizeof(*ret));
        json_auto_t *m = NULL;
        int r = k8c_json_parse(body, len, &m, err);
        if (r < 0)
                return k8c_error_wrap(err, "manifest");
        if (k8c_json_get_int(m, "schemaVersion", 0) != 2)
                return k8c_make_error(err, K8C_EINVALID, "manifest: unsupported schemaVersion %lld",
                                      (long long)k8c_json_get_int(m, "schemaVersion", 0));
        const char *mt = k8c_json_get_string(m, "mediaType");
        json_t *manifests = json_object_get(m, "manifests");
        if ((mt != NULL && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0)) ||
            (mt == NULL && json_is_array(manifests))) {
                size_t i;
                json_t *e;
                json_array_foreach(manifests, i, e)
                {
                        const char *os = k8c_json_get_string(e, "platform.os");
                        const char *arch = k8c_json_get_string(e, "platform.architecture");
                        const char *d = k8c_json_get_string(e, "digest");
                        if (os != NULL && arch != NULL && strcmp(os, "linux") == 0 &&
                            strcmp(arch, "amd64") == 0 && valid_digest(d)) {
                                ret->is_index = true;
                                ret->platform_digest = k8c_xstrdup(d);
                                return 0;
                        }
                }
                return k8c_make_error(err, K8C_ENOTFOUND, "no linux/amd64 image in the manifest list");
        }
        if (mt != NULL && strcmp(mt, MT_OCI_MANIFEST) != 0 && strcmp(mt, MT_DOCKER_MANIFEST) != 0)
                return k8c_make_error(err, K8C_EINVALID, "manifest: unsupported mediaType %s", mt);
        const char *cd = k8c_json_get_string(m, "config.digest");
        if (!valid_digest(cd))
                return k8c_make_error(err, K8C_EINVALID, "manifest: config without a sha256 digest");
        json_t *layers = json_object_get(m, "layers");
        if (!json_is_array(layers))
                return k8c_make_error(err, K8C_EINVALID, "manifest: no layers");
        ret->config_digest = k8c_xstrdup(cd);
        ret->nlayers = json_array_size(layers);
        ret->layer_digests = k8c_xcalloc(ret->nlayers + 1, sizeof(char *));
        ret->layer_media_types = k8c_xcalloc(ret->nlayers + 1, sizeof(char *));
        size_t i;
        json_t *l;
        json_array_foreach(layers, i, l)
        {
                const char *d = k8c_json_get_string(l, "digest");
                if (!valid_digest(d)) {
                        k8c_image_manifest_free(ret);
                        return k8c_make_error(err, K8C_EINVALID,
                                              "manifest: layer %zu without a sha256 digest", i);
                }
                ret->layer_digests[i] = k8c_xstrdup(d);
                ret->layer_media_types[i] = k8c_xstrdup(k8c_json_get_string(l, "mediaType") ?: "");
        }
        return 0;
}

char *k8c_image_sha256(const void *data, size_t len)
{
        unsigned char out[32];
        gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out);
        char hex[65];
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", out[i]);
        return k8c_xasprintf("sha256:%s", hex);
}

/* ---- container process from spec + image config ---- */

json_t *k8c_image_container_args(const json_t *container, const json_t *image_config)
{
        json_t *out = json_array();
        const json_t *command = json_object_get(container, "command");
        const json_t *args = json_object_get(container, "args");
        const json_t *ep = json_object_get(image_config, "Entrypoint");
        const json_t *cmd = json_object_get(image_config, "Cmd");
        size_t i;
        json_t *a;
        if (json_array_size(command) > 0) {
                json_array_foreach(command, i, a) json_array_append(out, a);
                json_array_foreach(args, i, a) json_array_append(out, a);
        } else {
                json_array_foreach(ep, i, a) json_array_append(out, a);
                json_array_foreach(json_array_size(args) > 0 ? args : cmd, i, a) json_array_append(out, a);
        }
        return out;
}

static void env_set(json_t *env, const char *kv)
{
        const char *eq = strchr(kv, '=');
        size_t klen = eq != NULL ? (size_t)(eq - kv) : strlen(kv);
        size_t i;
        json_t *e;
        json_array_foreach(env, i, e)
        {
                const char *s = json_string_value(e);
                if (s != NULL && strncmp(s, kv, klen) == 0 && s[klen] == '=') {
                        json_array_set_new(env, i, json_string(kv));
                        return;
                }
        }
        json_array_append_new(env, json_string(kv));
}

json_t *k8c_image_container_env(const json_t *image_config, json_t *container_env)
{
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(image_config, "Env"), i, e)
        {
                if (json_string_value(e) != NULL)
                        env_set(out, json_string_value(e));
        }
        json_array_foreach(container_env, i, e)
        {
                if (json_string_value(e) != NULL)
                        env_set(out, json_string_value(e));
        }
        json_decref(container_env);
        return out;
}

const char *k8c_image_working_dir(const json_t *container, const json_t *image_config)
{
        const char *cwd = json_string_value(json_object_get(container, "workingDir"));
        if (cwd != NULL && cwd[0] == '/')
                return cwd;
        cwd = json_string_value(json_object_get(image_config, "WorkingDir"));
        return cwd != NULL && cwd[0] == '/' ? cwd : "/";
}

/* ---- the store ---- */

struct pull_failure {
        char *image;
        int failures;
        time_t next_try;
        char *message;
        struct pull_failure *next;
};

struct k8c_image_store {
        char *dir;
        char *mirror;      /* "http://host:port" or NULL */
        char *mirror_host; /* "host:port" */
        pthread_mutex_t lock;
        struct pull_failure *failures;
};

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        if (flag == FTW_DP)
                rmdir(path);
        else
                unlink(path);
        return 0;
}

static void rm_rf(const char *path)
{
        nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int k8c_image_store_new(const char *dir, const char *mirror, struct k8c_image_store **ret, k8c_error_t *err)
{
        int r = k8c_mkdir_p(dir, 0755, err);
        if (r < 0)
                return r;
        struct k8c_image_store *s = k8c_xcalloc(1, sizeof(*s));
        s->dir = realpath(dir, NULL);
        if (s->dir == NULL)
                s->dir = k8c_xstrdup(dir);
        if (mirror != NULL && mirror[0] != '\0') {
                size_t n = strlen(mirror);
                while (n > 0 && mirror[n - 1] == '/')
                        n--;
                s->mirror = k8c_xstrndup(mirror, n);
                const char *h = strstr(s->mirror, "://");
                s->mirror_host = k8c_xstrdup(h != NULL ? h + 3 : s->mirror);
        }
        pthread_mutex_init(&s->lock, NULL);
        const char *subs[] = { "blobs/sha256", "images", "refs" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(subs) && r >= 0; i++) {
                cleanup_free char *p = k8c_xasprintf("%s/%s", s->dir, subs[i]);
                r = k8c_mkdir_p(p, 0755, err);
        }
        if (r < 0) {
                k8c_image_store_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

void k8c_image_store_free(struct k8c_image_store *s)
{
        if (s == NULL)
                return;
        while (s->failures != NULL) {
                struct pull_failure *f = s->failures;
                s->failures = f->next;
                free(f->image);
                free(f->message);
                free(f);
        }
        pthread_mutex_destroy(&s->lock);
        free(s->dir);
        free(s->mirror);
        free(s->mirror_host);
        free(s);
}

void k8c_image_free(struct k8c_image *img)
{
        if (img == NULL)
                return;
        free(img->rootfs);
        json_decref(img->config);
        free(img->image_id);
        free(img->repo_digest);
        memset(img, 0, sizeof(*img));
}

/* ---- HTTP ---- */

struct fetch {
        FILE *out; /* body to a file, or */
        char *mem; /* ...into memory (up to 4 MiB) */
        size_t len;
        gnutls_hash_hd_t hash;
        char content_type[128];
        bool too_big;
};

static size_t fetch_body(char *p, size_t size, size_t n, void *opaque)
{
        struct fetch *f = opaque;
        size_t len = size * n;
        if (f->hash != NULL)
                gnutls_hash(f->hash, p, len);
        if (f->out != NULL)
                return fwrite(p, 1, len, f->out);
        if (f->len + len > 4 * 1024 * 1024) {
                f->too_big = true;
                return 0;
        }
        f->mem = k8c_xrealloc(f->mem, f->len + len + 1);
        memcpy(f->mem + f->len, p, len);
        f->len += len;
        f->mem[f->len] = '\0';
        return len;
}

static size_t fetch_header(char *p, size_t size, size_t n, void *opaque)
{
        struct fetch *f = opaque;
        size_t len = size * n;
        if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0) {
                const char *v = p + 13;
                while (*v == ' ')
                        v++;
                size_t vl = len - (size_t)(v - p);
                while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
                        vl--;
                snprintf(f->content_type, sizeof(f->content_type), "%.*s", (int)vl, v);
        }
        return len;
}

static int http_get(const char *url, const char *accept, struct fetch *f, k8c_error_t *err)
{
        k8c_curl_global_init();
        CURL *c = curl_easy_init();
        if (c == NULL)
                return k8c_make_error(err, K8C_EINTERNAL, "curl_easy_init");
        struct curl_slist *h = NULL;
        if (accept != NULL) {
                cleanup_free char *a = k8c_xasprintf("Accept: %s", accept);
                h = curl_slist_append(h, a);
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 600L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, fetch_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
        CURLcode cr = curl_easy_perform(c);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        if (f->too_big)
                return k8c_make_error(err, K8C_EINVALID, "GET %s: response too large", url);
        if (cr != CURLE_OK)
                return k8c_make_error(err, K8C_EUNAVAILABLE, "GET %s: %s", url, curl_easy_strerror(cr));
        if (code == 404)
                return k8c_make_error(err, K8C_ENOTFOUND, "GET %s: not found", url);
        if (code / 100 != 2) {
                /* The registry's own error message, when it sent one in memory. */
                const char *msg = f->mem != NULL ? f->mem : "";
                return k8c_make_error(err, K8C_EUNAVAILABLE, "GET %s: HTTP %ld %.200s", url, code, msg);
        }
        return 0;
}

static char *base_url(struct k8c_image_store *s, const struct k8c_image_ref *ref)
{
        if (strcmp(ref->registry, "docker.io") == 0)
                return s->mirror != NULL ? k8c_xstrdup(s->mirror)
                                         : k8c_xstrdup("https://registry-1.docker.io");
        bool insecure = (s->mirror_host != NULL && strcmp(ref->registry, s->mirror_host) == 0) ||
                        strncmp(ref->registry, "localhost", 9) == 0 || strncmp(ref->registry, "127.", 4) == 0;
        return k8c_xasprintf("%s://%s", insecure ? "http" : "https", ref->registry);
}

static const char *hex_of(const char *digest)
{
        return digest + 7;
}

/* Fetches a blob into blobs/sha256/<hex>, verifying its digest (no-op when present). */
static int fetch_blob(struct k8c_image_store *s, const char *base, const char *repo, const char *digest,
                      k8c_error_t *err)
{
        cleanup_free char *path = k8c_xasprintf("%s/blobs/sha256/%s", s->dir, hex_of(digest));
        struct stat st;
        if (stat(path, &st) == 0)
                return 0;
        cleanup_free char *tmp = k8c_xasprintf("%s.partial", path);
        struct fetch f = { 0 };
        f.out = fopen(tmp, "we");
        if (f.out == NULL)
                return k8c_make_errno(err, errno, "create %s", tmp);
        gnutls_hash_init(&f.hash, GNUTLS_DIG_SHA256);
        cleanup_free char *url = k8c_xasprintf("%s/v2/%s/blobs/%s", base, repo, digest);
        int r = http_get(url, NULL, &f, err);
        unsigned char out[32];
        gnutls_hash_deinit(f.hash, out);
        if (fclose(f.out) != 0 && r >= 0)
                r = k8c_make_errno(err, errno, "write %s", tmp);
        free(f.mem);
        if (r >= 0) {
                char hex[65];
                for (int i = 0; i < 32; i++)
                        snprintf(hex + 2 * i, 3, "%02x", out[i]);
                if (strcmp(hex, hex_of(digest)) != 0)
                        r = k8c_make_error(err, K8C_EINVALID, "blob %s: content has digest sha256:%s", digest,
                                           hex);
        }
        if (r >= 0 && rename(tmp, path) < 0)
                r = k8c_make_errno(err, errno, "rename %s", tmp);
        if (r < 0)
                unlink(tmp);
        return r;
}

/* ---- unpacking ---- */

static bool safe_path(const char *p)
{
        /* No ".." component. */
        for (const char *s = p; *s != '\0';) {
                const char *e = strchr(s, '/');
                size_t n = e != NULL ? (size_t)(e - s) : strlen(s);
                if (n == 2 && s[0] == '.' && s[1] == '.')
                        return false;
                s += n;
                while (*s == '/')
                        s++;
        }
        return true;
}

static const char *clean_path(const char *p)
{
        while (p[0] == '/' || (p[0] == '.' && p[1] == '/'))
                p += p[0] == '/' ? 1 : 2;
        return p;
}

static void clear_dir(const char *dir)
{
        cleanup_free char *copy = k8c_xstrdup(dir);
        rm_rf(copy);
        mkdir(copy, 0755);
}

static int unpack_layer(const char *blob, const char *rootfs, k8c_error_t *err)
{
        struct archive *in = archive_read_new();
        archive_read_support_filter_all(in);
        archive_read_support_format_tar(in);
        if (archive_read_open_filename(in, blob, 65536) != ARCHIVE_OK) {
                int r = k8c_make_error(err, K8C_EINVALID, "layer %s: %s", blob, archive_error_string(in));
                archive_read_free(in);
                return r;
        }
        struct archive *out = archive_write_disk_new();
        archive_write_disk_set_options(out, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                                    ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_UNLINK |
                                                    ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                    ARCHIVE_EXTRACT_SECURE_SYMLINKS);
        int r = 0;
        struct archive_entry *e;
        int ar;
        while (r >= 0 && (ar = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
                const char *path = clean_path(archive_entry_pathname(e));
                if (path[0] == '\0' || !safe_path(path))
                        continue;
                const char *base = strrchr(path, '/');
                base = base != NULL ? base + 1 : path;
                size_t dirlen = (size_t)(base - path);
                if (strcmp(base, ".wh..wh..opq") == 0) {
                        cleanup_free char *d = k8c_xasprintf("%s/%.*s", rootfs, (int)dirlen, path);
                        clear_dir(d);
                        continue;
                }
                if (strncmp(base, ".wh.", 4) == 0) {
                        cleanup_free char *victim =
                                k8c_xasprintf("%s/%.*s%s", rootfs, (int)dirlen, path, base + 4);
                        rm_rf(victim);
                        unlink(victim);
                        continue;
                }
                cleanup_free char *dest = k8c_xasprintf("%s/%s", rootfs, path);
                archive_entry_set_pathname(e, dest);
                const char *hl = archive_entry_hardlink(e);
                if (hl != NULL) {
                        const char *hp = clean_path(hl);
                        if (!safe_path(hp))
                                continue;
                        cleanup_free char *hdest = k8c_xasprintf("%s/%s", rootfs, hp);
                        archive_entry_set_hardlink(e, hdest);
                }
                /* Device nodes come from the runtime's /dev, never from an image. */
                mode_t type = archive_entry_filetype(e);
                if (type == AE_IFCHR || type == AE_IFBLK)
                        continue;
                if (archive_write_header(out, e) != ARCHIVE_OK) {
                        k8c_log_warn("image entry skipped", "path=%s err=\"%s\"", path,
                                     archive_error_string(out));
                        continue;
                }
                const void *buf;
                size_t size;
                la_int64_t off;
                int dr;
                while ((dr = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK)
                        if (archive_write_data_block(out, buf, size, off) != ARCHIVE_OK) {
                                r = k8c_make_error(err, K8C_EINTERNAL, "write %s: %s", path,
                                                   archive_error_string(out));
                                break;
                        }
                if (r >= 0 && dr != ARCHIVE_EOF)
                        r = k8c_make_error(err, K8C_EINVALID, "layer %s: %s", blob, archive_error_string(in));
                archive_write_finish_entry(out);
        }
        if (r >= 0 && ar != ARCHIVE_EOF && ar != ARCHIVE_OK)
                r = k8c_make_error(err, K8C_EINVALID, "layer %s: %s", blob, archive_error_string(in));
        archive_write_close(out);
        archive_write_free(out);
        archive_read_free(in);
        return r;
}

/* ---- pulling ---- */

static char *ref_file(struct k8c_image_store *s, const char *image)
{
        /* A file name for the reference: '/' and ':' become '_' and '+'. */
        cleanup_free char *name = k8c_xstrdup(image);
        for (char *p = name; *p != '\0'; p++)
                if (*p == '/')
                        *p = '_';
                else if (*p == ':')
                        *p = '+';
                else if (*p == '@')
                        *p = '=';
        return k8c_xasprintf("%s/refs/%s", s->dir, name);
}

static char *read_small(const char *path)
{
        cleanup_fclose FILE *f = fopen(path, "re");
        if (f == NULL)
                return NULL;
        char buf[256];
        if (fgets(buf, sizeof(buf), f) == NULL)
                return NULL;
        buf[strcspn(buf, "\n")] = '\0';
        return k8c_xstrdup(buf);
}

static int load_image(struct k8c_image_store *s, const char *manifest_digest, struct k8c_image *ret,
                      k8c_error_t *err)
{
        cleanup_free char *dir = k8c_xasprintf("%s/images/%s", s->dir, hex_of(manifest_digest));
        cleanup_free char *cfg_path = k8c_xasprintf("%s/config.json", dir);
        json_t *cfg = json_load_file(cfg_path, 0, NULL);
        if (cfg == NULL)
                return k8c_make_error(err, K8C_ENOTFOUND, "image %s is not unpacked", manifest_digest);
        ret->rootfs = k8c_xasprintf("%s/rootfs", dir);
        ret->config = json_incref(json_object_get(cfg, "config"));
        if (ret->config == NULL)
                ret->config = json_object();
        json_decref(cfg);
        ret->image_id = k8c_xstrdup(manifest_digest);
        /* Last use, for the garbage collector's least-recently-used order. */
        utimensat(AT_FDCWD, dir, NULL, 0);
        return 0;
}

static int pull(struct k8c_image_store *s, const char *image, const struct k8c_image_ref *ref,
                char **ret_digest, k8c_error_t *err)
{
        cleanup_free char *base = base_url(s, ref);
        const char *accept = MT_OCI_MANIFEST ", " MT_DOCKER_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_LIST;
        cleanup_free char *target = k8c_xstrdup(ref->digest != NULL ? ref->digest : ref->tag);
        struct k8c_image_manifest m = { 0 };
        cleanup_free char *manifest_digest = NULL;
        cleanup_free char *body = NULL;
        size_t body_len = 0;
        for (int hop = 0; hop < 2; hop++) {
                cleanup_free char *url =
                        k8c_xasprintf("%s/v2/%s/manifests/%s", base, ref->repository, target);
                struct fetch f = { 0 };
                int r = http_get(url, accept, &f, err);
                if (r < 0) {
                        free(f.mem);
                        return r;
                }
                free(body);
                body = f.mem != NULL ? f.mem : k8c_xstrdup("");
                body_len = f.len;
                free(manifest_digest);
                manifest_digest = k8c_image_sha256(body, body_len);
                if (strncmp(target, "sha256:", 7) == 0 && strcmp(target, manifest_digest) != 0)
                        return k8c_make_error(err, K8C_EINVALID, "manifest %s: content has digest %s", target,
                                              manifest_digest);
                k8c_image_manifest_free(&m);
                if ((r = k8c_image_manifest_parse(body, body_len, &m, err)) < 0)
                        return r;
                if (!m.is_index)
                        break;
                free(target);
                target = k8c_xstrdup(m.platform_digest);
        }
        if (m.is_index) {
                k8c_image_manifest_free(&m);
                return k8c_make_error(err, K8C_EINVALID, "%s: nested manifest lists", image);
        }
        cleanup_free char *dir = k8c_xasprintf("%s/images/%s", s->dir, hex_of(manifest_digest));
        cleanup_free char *cfg_path = k8c_xasprintf("%s/config.json", dir);
        struct stat st;
        int r = 0;
        if (stat(cfg_path, &st) != 0) {
                r = fetch_blob(s, base, ref->repository, m.config_digest, err);
                for (size_t i = 0; r >= 0 && i < m.nlayers; i++)
                        r = fetch_blob(s, base, ref->repository, m.layer_digests[i], err);
                cleanup_free char *tmp = k8c_xasprintf("%s.unpacking", dir);
                cleanup_free char *tmp_rootfs = k8c_xasprintf("%s/rootfs", tmp);
                rm_rf(tmp);
                if (r >= 0)
                        r = k8c_mkdir_p(tmp_rootfs, 0755, err);
                for (size_t i = 0; r >= 0 && i < m.nlayers; i++) {
                        cleanup_free char *blob =
                                k8c_xasprintf("%s/blobs/sha256/%s", s->dir, hex_of(m.layer_digests[i]));
                        r = unpack_layer(blob, tmp_rootfs, err);
                }
                if (r >= 0) {
                        cleanup_free char *cblob =
                                k8c_xasprintf("%s/blobs/sha256/%s", s->dir, hex_of(m.config_digest));
                        cleanup_free char *tcfg = k8c_xasprintf("%s/config.json", tmp);
                        json_auto_t *c = json_load_file(cblob, 0, NULL);
                        if (c == NULL || !json_is_object(c))
                                r = k8c_make_error(err, K8C_EINVALID, "image config %s is not JSON",
                                                   m.config_digest);
                        else if (json_dump_file(c, tcfg, 0) < 0)
                                r = k8c_make_errno(err, errno, "write %s", tcfg);
                }
                if (r >= 0) {
                        /* The blobs this image needs, so the garbage collector knows what it may
                         * remove with it. */
                        cleanup_free char *list = k8c_xasprintf("%s/blobs", tmp);
                        cleanup_fclose FILE *bf = fopen(list, "we");
                        if (bf == NULL)
                                r = k8c_make_errno(err, errno, "create %s", list);
                        else {
                                fprintf(bf, "%s\n", m.config_digest);
                                for (size_t i = 0; i < m.nlayers; i++)
                                        fprintf(bf, "%s\n", m.layer_digests[i]);
                        }
                }
                if (r >= 0) {
                        rm_rf(dir);
                        if (rename(tmp, dir) < 0)
                                r = k8c_make_errno(err, errno, "rename %s", tmp);
                }
                if (r < 0)
                        rm_rf(tmp);
        }
        k8c_image_manifest_free(&m);
        if (r < 0)
                return r;
        cleanup_free char *rf = ref_file(s, image);
        cleanup_free char *rtmp = k8c_xasprintf("%s.tmp", rf);
        cleanup_fclose FILE *f = fopen(rtmp, "we");
        if (f == NULL)
                return k8c_make_errno(err, errno, "create %s", rtmp);
        fprintf(f, "%s\n", manifest_digest);
        if (fclose(k8c_steal(&f)) != 0 || rename(rtmp, rf) < 0)
                return k8c_make_errno(err, errno, "write %s", rf);
        k8c_log_info("image pulled", "image=%s digest=%s", image, manifest_digest);
        *ret_digest = k8c_steal(&manifest_digest);
        return 0;
}

static struct pull_failure *failure_of(struct k8c_image_store *s, const char *image)
{
        for (struct pull_failure *f = s->failures; f != NULL; f = f->next)
                if (strcmp(f->image, image) == 0)
                        return f;
        return NULL;
}

static int ensure_locked(struct k8c_image_store *s, const char *image, const char *policy,
                         struct k8c_image *ret, k8c_error_t *err)
{
        struct k8c_image_ref ref;
        int r = k8c_image_ref_parse(image, &ref, err);
        if (r < 0)
                return r;
        if (policy == NULL || policy[0] == '\0')
                policy = ref.digest == NULL && strcmp(ref.tag, "latest") == 0 ? "Always" : "IfNotPresent";
        cleanup_free char *rf = ref_file(s, image);
        cleanup_free char *local = read_small(rf);
        if (strcmp(policy, "Never") == 0 || (strcmp(policy, "IfNotPresent") == 0 && local != NULL)) {
                k8c_image_ref_free(&ref);
                if (local == NULL)
                        return k8c_make_error(
                                err, K8C_ENOTFOUND,
                                "Container image \"%s\" is not present with pull policy of Never", image);
                return load_image(s, local, ret, err);
        }
        struct pull_failure *fail = failure_of(s, image);
        time_t now = time(NULL);
        if (fail != NULL && now < fail->next_try) {
                k8c_image_ref_free(&ref);
                return k8c_make_error(err, K8C_ETOOMANYREQUESTS, "Back-off pulling image \"%s\": %s", image,
                                      fail->message);
        }
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        cleanup_free char *digest = NULL;
        cleanup_error k8c_error_t perr = NULL;
        r = pull(s, image, &ref, &digest, &perr);
        k8c_image_ref_free(&ref);
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (r < 0) {
                if (fail == NULL) {
                        fail = k8c_xcalloc(1, sizeof(*fail));
                        fail->image = k8c_xstrdup(image);
                        fail->next = s->failures;
                        s->failures = fail;
                }
                fail->failures++;
                int64_t delay = 10;
                for (int i = 1; i < fail->failures && delay < 300; i++)
                        delay *= 2;
                fail->next_try = now + (delay > 300 ? 300 : delay);
                free(fail->message);
                fail->message = k8c_xstrdup(k8c_error_msg(&perr));
                return k8c_make_error(err, K8C_ENOTFOUND, "failed to pull image \"%s\": %s", image,
                                      k8c_error_msg(&perr));
        }
        if (fail != NULL)
                fail->next_try = 0, fail->failures = 0;
        r = load_image(s, digest, ret, err);
        if (r >= 0) {
                ret->pulled = true;
                ret->pull_seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        }
        return r;
}

int k8c_image_ensure(struct k8c_image_store *s, const char *image, const char *policy, struct k8c_image *ret,
                     k8c_error_t *err)
{
        memset(ret, 0, sizeof(*ret));
        pthread_mutex_lock(&s->lock);
        int r = ensure_locked(s, image, policy, ret, err);
        pthread_mutex_unlock(&s->lock);
        struct k8c_image_ref ref;
        if (r >= 0 && k8c_image_ref_parse(image, &ref, NULL) >= 0) {
                ret->repo_digest = k8c_xasprintf("%s/%s@%s", ref.registry, ref.repository, ret->image_id);
                k8c_image_ref_free(&ref);
        }
        return r;
}

/* ---- garbage collection ---- */

static __thread int64_t du_total;

static int du_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        if (flag == FTW_F || flag == FTW_SL)
                du_total += (int64_t)st->st_blocks * 512;
        return 0;
}

static int64_t size_locked(struct k8c_image_store *s)
{
        du_total = 0;
        cleanup_free char *images = k8c_xasprintf("%s/images", s->dir);
        cleanup_free char *blobs = k8c_xasprintf("%s/blobs", s->dir);
        nftw(images, du_cb, 32, FTW_PHYS);
        nftw(blobs, du_cb, 32, FTW_PHYS);
        return du_total;
}

int64_t k8c_image_store_size(struct k8c_image_store *s)
{
        pthread_mutex_lock(&s->lock);
        int64_t n = size_locked(s);
        pthread_mutex_unlock(&s->lock);
        return n;
}

struct gc_image {
        char *hex;
        struct timespec used;
};

static int gc_cmp(const void *a, const void *b)
{
        const struct gc_image *x = a, *y = b;
        if (x->used.tv_sec != y->used.tv_sec)
                return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
        return x->used.tv_nsec < y->used.tv_nsec ? -1 : x->used.tv_nsec > y->used.tv_nsec;
}

/* Whether an unpacked image other than skip_hex lists digest among its blobs. */
static bool blob_needed(struct k8c_image_store *s, const char *digest, const char *skip_hex)
{
        cleanup_free char *images = k8c_xasprintf("%s/images", s->dir);
        DIR *d = opendir(images);
        if (d == NULL)
                return false;
        bool needed = false;
        struct dirent *e;
        while (!needed && (e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.' || strcmp(e->d_name, skip_hex) == 0)
                        continue;
                cleanup_free char *list = k8c_xasprintf("%s/%s/blobs", images, e->d_name);
                cleanup_fclose FILE *f = fopen(list, "re");
                char line[256];
                while (f != NULL && !needed && fgets(line, sizeof(line), f) != NULL) {
                        line[strcspn(line, "\n")] = '\0';
                        needed = strcmp(line, digest) == 0;
                }
        }
        closedir(d);
        return needed;
}

static void remove_image_locked(struct k8c_image_store *s, const char *hex)
{
        cleanup_free char *digest = k8c_xasprintf("sha256:%s", hex);
        cleanup_free char *dir = k8c_xasprintf("%s/images/%s", s->dir, hex);
        /* References naming it go first: a later IfNotPresent pulls again instead of finding a
         * reference to nothing. */
        cleanup_free char *refs = k8c_xasprintf("%s/refs", s->dir);
        DIR *d = opendir(refs);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.')
                        continue;
                cleanup_free char *rf = k8c_xasprintf("%s/%s", refs, e->d_name);
                cleanup_free char *target = read_small(rf);
                if (target != NULL && strcmp(target, digest) == 0)
                        unlink(rf);
        }
        if (d != NULL)
                closedir(d);
        cleanup_free char *list = k8c_xasprintf("%s/blobs", dir);
        cleanup_fclose FILE *f = fopen(list, "re");
        char line[256];
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
                line[strcspn(line, "\n")] = '\0';
                if (strncmp(line, "sha256:", 7) != 0 || blob_needed(s, line, hex))
                        continue;
                cleanup_free char *blob = k8c_xasprintf("%s/blobs/sha256/%s", s->dir, line + 7);
                unlink(blob);
        }
        rm_rf(dir);
}

int k8c_image_store_gc(struct k8c_image_store *s, char *const *in_use, int64_t budget, int64_t min_age_ms,
                       int *ret_removed, k8c_error_t *err)
{
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int removed = 0;
        pthread_mutex_lock(&s->lock);
        int64_t total = size_locked(s);
        if (total > budget) {
                cleanup_free char *images = k8c_xasprintf("%s/images", s->dir);
                DIR *d = opendir(images);
                size_t n = 0, cap = 8;
                struct gc_image *list = k8c_xcalloc(cap, sizeof(*list));
                struct dirent *e;
                while (d != NULL && (e = readdir(d)) != NULL) {
                        if (e->d_name[0] == '.' || strchr(e->d_name, '.') != NULL)
                                continue; /* also "<hex>.unpacking": a pull in progress */
                        cleanup_free char *p = k8c_xasprintf("%s/%s", images, e->d_name);
                        struct stat st;
                        if (stat(p, &st) < 0)
                                continue;
                        if (n == cap)
                                list = k8c_xrealloc(list, (cap *= 2) * sizeof(*list));
                        list[n].hex = k8c_xstrdup(e->d_name);
                        list[n++].used = st.st_mtim;
                }
                if (d != NULL)
                        closedir(d);
                qsort(list, n, sizeof(*list), gc_cmp);
                for (size_t i = 0; i < n; i++) {
                        bool busy = false;
                        for (char *const *u = in_use; u != NULL && *u != NULL && !busy; u++)
                                busy = strncmp(*u, "sha256:", 7) == 0 && strcmp(*u + 7, list[i].hex) == 0;
                        int64_t age_ms = (now.tv_sec - list[i].used.tv_sec) * 1000 +
                                         (now.tv_nsec - list[i].used.tv_nsec) / 1000000;
                        if (!busy && age_ms >= min_age_ms && total > budget) {
                                remove_image_locked(s, list[i].hex);
                                k8c_log_info("image removed", "image=sha256:%s reason=gc budget=%lld",
                                             list[i].hex, (long long)budget);
                                removed++;
                                total = size_locked(s);
                        }
                        free(list[i].hex);
                }
                free(list);
        }
        pthread_mutex_unlock(&s->lock);
        if (ret_removed != NULL)
                *ret_removed = removed;
        return 0;
}

/*
 * volumes.c - pod volumes: emptyDir (a directory under the pod's, or a tmpfs
 * with medium Memory and sizeLimit), hostPath (with its type checks),
 * configMap and secret (keys projected as files with their modes),
 * downwardAPI (pod name, namespace, uid, labels, annotations), projected
 * (configMap, secret and downwardAPI sources in one directory) and
 * persistentVolumeClaim (the claim's bound PersistentVolume of type hostPath
 * or local, used in place). Each volume resolves to a host path; a
 * container's volumeMounts become bind mounts of those paths (readOnly,
 * subPath) in its OCI spec, so one volume can appear at different paths in
 * different containers.
 *
 * The pod's own volumes live under <root_dir>/pods/<uid>/volumes/<plugin>/
 * <name> and are removed with the pod; hostPath and persistent volume data is
 * never removed. Owns: those directories and the tmpfs mounts. Must not:
 * write any API object (it only reads ConfigMaps, Secrets, claims, volumes).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/fs.h"
#include "k8c/json.h"
#include "k8c/quantity.h"
#include "kubelet/kubelet_int.h"

/* ---- pure parts ---- */

int k8c_volume_check_path(const char *path, k8c_error_t *err)
{
        if (path == NULL || path[0] == '\0')
                return k8c_make_error(err, K8C_EINVALID, "empty path");
        if (path[0] == '/')
                return k8c_make_error(err, K8C_EINVALID, "path %s must be relative", path);
        cleanup_free char *copy = k8c_xstrdup(path);
        char *save = NULL;
        for (char *el = strtok_r(copy, "/", &save); el != NULL; el = strtok_r(NULL, "/", &save))
                if (strcmp(el, "..") == 0)
                        return k8c_make_error(err, K8C_EINVALID, "path %s must not contain '..'", path);
        /* ..data and ..<timestamp> belong to the atomic writer. */
        if (strncmp(path, "..", 2) == 0)
                return k8c_make_error(err, K8C_EINVALID, "path %s must not start with '..'", path);
        return 0;
}

void k8c_volume_files_free(struct k8c_volume_files *f)
{
        for (size_t i = 0; i < f->n; i++) {
                free(f->v[i].path);
                free(f->v[i].data);
        }
        free(f->v);
        f->v = NULL;
        f->n = 0;
}

static void add_file(struct k8c_volume_files *f, const char *path, const void *data, size_t len, int mode)
{
        f->v = k8c_xrealloc(f->v, (f->n + 1) * sizeof(*f->v));
        struct k8c_volume_file *vf = &f->v[f->n++];
        vf->path = k8c_xstrdup(path);
        vf->data = k8c_xmalloc(len + 1);
        memcpy(vf->data, data, len);
        vf->data[len] = '\0';
        vf->len = len;
        vf->mode = mode;
}

static int base64_decode(const char *b64, unsigned char **ret, size_t *ret_len, k8c_error_t *err)
{
        gnutls_datum_t in = { .data = (unsigned char *)b64, .size = (unsigned)strlen(b64) };
        gnutls_datum_t out = { 0 };
        if (in.size == 0) {
                *ret = (unsigned char *)k8c_xstrdup("");
                *ret_len = 0;
                return 0;
        }
        if (gnutls_base64_decode2(&in, &out) < 0)
                return k8c_make_error(err, K8C_EINVALID, "invalid base64 data");
        *ret = k8c_xmalloc(out.size + 1);
        memcpy(*ret, out.data, out.size);
        (*ret)[out.size] = '\0';
        *ret_len = out.size;
        gnutls_free(out.data);
        return 0;
}

/* The bytes of key in a ConfigMap (data, binaryData) or Secret (data, base64); 0 if found, 1 if
 * absent, negative on bad data. */
static int value_of(const json_t *obj, bool is_secret, const char *key, unsigned char **ret, size_t *ret_len,
                    k8c_error_t *err)
{
        const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), key));
        if (v != NULL && !is_secret) {
                *ret_len = json_string_length(json_object_get(json_object_get(obj, "data"), key));
                *ret = k8c_xmalloc(*ret_len + 1);
                memcpy(*ret, v, *ret_len);
                (*ret)[*ret_len] = '\0';
                return 0;
        }
        if (v == NULL && !is_secret)
                v = json_string_value(json_object_get(json_object_get(obj, "binaryData"), key));
        if (v == NULL)
                return 1;
        int r = base64_decode(v, ret, ret_len, err);
        return r < 0 ? k8c_error_wrap(err, "key %s", key) : 0;
}

static int mode_of(const json_t *j, int def)
{
        return json_is_integer(j) ? (int)(json_integer_value(j) & 07777) : def;
}

int k8c_volume_project(const json_t *source, const json_t *obj, bool is_secret, struct k8c_volume_files *ret,
                       k8c_error_t *err)
{
        const char *kind = is_secret ? "secret" : "configmap";
        const char *name =
                json_string_value(json_object_get(source, is_secret ? "secretName" : "name")) ?: "";
        bool optional = json_is_true(json_object_get(source, "optional"));
        int def_mode = mode_of(json_object_get(source, "defaultMode"), 0644);
        struct k8c_volume_files files = { 0 };
        if (obj == NULL) {
                if (optional) {
                        *ret = files;
                        return 0;
                }
                return k8c_make_error(err, K8C_ENOTFOUND, "%s \"%s\" not found", kind, name);
        }
        const json_t *items = json_object_get(source, "items");
        int r = 0;
        if (json_array_size(items) > 0) {
                size_t i;
                json_t *it;
                json_array_foreach(items, i, it)
                {
                        const char *key = json_string_value(json_object_get(it, "key"));
                        const char *path = json_string_value(json_object_get(it, "path"));
                        if (key == NULL || (r = k8c_volume_check_path(path, err)) < 0) {
                                if (key == NULL)
                                        r = k8c_make_error(err, K8C_EINVALID, "%s item without a key", kind);
                                break;
                        }
                        cleanup_free unsigned char *data = NULL;
                        size_t len = 0;
                        r = value_of(obj, is_secret, key, &data, &len, err);
                        if (r < 0)
                                break;
                        if (r == 1) {
                                r = 0;
                                if (optional)
                                        continue;
                                r = k8c_make_error(err, K8C_ENOTFOUND,
                                                   "%s references non-existent %s key: %s",
                                                   is_secret ? "secret" : "configmap",
                                                   is_secret ? "secret" : "config", key);
                                break;
                        }
                        add_file(&files, path, data, len, mode_of(json_object_get(it, "mode"), def_mode));
                }
        } else {
                static const char *const fields[] = { "data", "binaryData" };
                for (size_t f = 0; f < (is_secret ? 1u : 2u) && r >= 0; f++) {
                        const char *key;
                        json_t *v;
                        json_object_foreach((json_t *)json_object_get(obj, fields[f]), key, v)
                        {
                                if ((r = k8c_volume_check_path(key, err)) < 0)
                                        break;
                                cleanup_free unsigned char *data = NULL;
                                size_t len = 0;
                                if ((r = value_of(obj, is_secret, key, &data, &len, err)) < 0)
                                        break;
                                if (r == 0)
                                        add_file(&files, key, data, len, def_mode);
                                r = 0;
                        }
                }
        }
        if (r < 0) {
                k8c_volume_files_free(&files);
                return r;
        }
        *ret = files;
        return 0;
}

/* Go's %q of s, as the kubelet formats label and annotation values. */
static void append_quoted(char **buf, size_t *len, size_t *cap, const char *s)
{
        for (const char *p = s;; p++) {
                char tmp[8];
                size_t n;
                if (*p == '\0') {
                        tmp[0] = '"';
                        n = 1;
                } else if (*p == '"' || *p == '\\') {
                        tmp[0] = '\\';
                        tmp[1] = *p;
                        n = 2;
                } else if (*p == '\n') {
                        memcpy(tmp, "\\n", 2);
                        n = 2;
                } else if (*p == '\t') {
                        memcpy(tmp, "\\t", 2);
                        n = 2;
                } else if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                        n = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", (unsigned char)*p);
                } else {
                        tmp[0] = *p;
                        n = 1;
                }
                while (*len + n + 2 > *cap) {
                        *cap *= 2;
                        *buf = k8c_xrealloc(*buf, *cap);
                }
                if (p == s)
                        (*buf)[(*len)++] = '"';
                memcpy(*buf + *len, tmp, n);
                *len += n;
                if (*p == '\0')
                        break;
        }
        (*buf)[*len] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* key="value" lines sorted by key, newline-separated (the kubelet's formatMap). */
static char *format_map(const json_t *map)
{
        size_t n = json_object_size(map);
        const char **keys = k8c_xcalloc(n + 1, sizeof(char *));
        size_t i = 0;
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)map, key, v) keys[i++] = key;
        qsort(keys, n, sizeof(char *), cmp_str);
        size_t cap = 64, len = 0;
        char *buf = k8c_xmalloc(cap);
        buf[0] = '\0';
        for (i = 0; i < n; i++) {
                size_t kl = strlen(keys[i]);
                while (len + kl + 3 > cap) {
                        cap *= 2;
                        buf = k8c_xrealloc(buf, cap);
                }
                if (i > 0)
                        buf[len++] = '\n';
                memcpy(buf + len, keys[i], kl);
                len += kl;
                buf[len++] = '=';
                append_quoted(&buf, &len, &cap, json_string_value(json_object_get(map, keys[i])) ?: "");
        }
        free(keys);
        return buf;
}

int k8c_volume_downward(const json_t *source, const json_t *pod, struct k8c_volume_files *ret,
                        k8c_error_t *err)
{
        int def_mode = mode_of(json_object_get(source, "defaultMode"), 0644);
        struct k8c_volume_files files = { 0 };
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(source, "items"), i, it)
        {
                const char *path = json_string_value(json_object_get(it, "path"));
                int r = k8c_volume_check_path(path, err);
                if (r < 0) {
                        k8c_volume_files_free(&files);
                        return r;
                }
                const char *field = k8c_json_get_string(it, "fieldRef.fieldPath");
                cleanup_free char *value = NULL;
                if (field == NULL) {
                        k8c_volume_files_free(&files);
                        return k8c_make_error(err, K8C_EINVALID,
                                              "downwardAPI item %s: only fieldRef is supported", path);
                }
                if (strcmp(field, "metadata.labels") == 0 || strcmp(field, "metadata.annotations") == 0)
                        value = format_map(k8c_json_get(pod, field));
                else if (strcmp(field, "metadata.name") == 0 || strcmp(field, "metadata.namespace") == 0 ||
                         strcmp(field, "metadata.uid") == 0 || strcmp(field, "spec.nodeName") == 0 ||
                         strcmp(field, "spec.serviceAccountName") == 0)
                        value = k8c_xstrdup(k8c_json_get_string(pod, field) ?: "");
                else if (strncmp(field, "metadata.labels['", 17) == 0 ||
                         strncmp(field, "metadata.annotations['", 22) == 0) {
                        bool labels = field[9] == 'l';
                        const char *k0 = field + (labels ? 17 : 22);
                        size_t kl = strlen(k0);
                        if (kl < 2 || strcmp(k0 + kl - 2, "']") != 0) {
                                k8c_volume_files_free(&files);
                                return k8c_make_error(err, K8C_EINVALID, "invalid fieldPath %s", field);
                        }
                        cleanup_free char *k = k8c_xstrndup(k0, kl - 2);
                        const json_t *map =
                                k8c_json_get(pod, labels ? "metadata.labels" : "metadata.annotations");
                        value = k8c_xstrdup(json_string_value(json_object_get(map, k)) ?: "");
                } else {
                        k8c_volume_files_free(&files);
                        return k8c_make_error(err, K8C_EINVALID, "unsupported fieldPath %s", field);
                }
                add_file(&files, path, value, strlen(value), mode_of(json_object_get(it, "mode"), def_mode));
        }
        *ret = files;
        return 0;
}

int k8c_volume_projected(const json_t *source, const json_t *const *objs, const json_t *pod,
                         struct k8c_volume_files *ret, k8c_error_t *err)
{
        json_t *def_mode = json_object_get(source, "defaultMode");
        struct k8c_volume_files all = { 0 };
        size_t i;
        json_t *src;
        int r = 0;
        json_array_foreach(json_object_get(source, "sources"), i, src)
        {
                struct k8c_volume_files part = { 0 };
                const json_t *cm = json_object_get(src, "configMap");
                const json_t *sec = json_object_get(src, "secret");
                const json_t *dapi = json_object_get(src, "downwardAPI");
                /* Each source as a volume source of its own kind, with the projected defaultMode. */
                json_auto_t *as = json_deep_copy(cm ?: sec ?: dapi);
                if (as != NULL && def_mode != NULL)
                        json_object_set(as, "defaultMode", def_mode);
                if (sec != NULL)
                        json_object_set(as, "secretName", json_object_get(sec, "name"));
                if (cm != NULL || sec != NULL)
                        r = k8c_volume_project(as, objs[i], sec != NULL, &part, err);
                else if (dapi != NULL)
                        r = k8c_volume_downward(as, pod, &part, err);
                else if (json_object_get(src, "serviceAccountToken") != NULL)
                        r = k8c_make_error(err, K8C_EINVALID,
                                           "serviceAccountToken projection is not supported");
                else
                        r = k8c_make_error(err, K8C_EINVALID, "projected source %zu has no supported kind",
                                           i);
                for (size_t j = 0; r >= 0 && j < part.n; j++) {
                        for (size_t k = 0; k < all.n; k++)
                                if (strcmp(all.v[k].path, part.v[j].path) == 0)
                                        r = k8c_make_error(err, K8C_EINVALID,
                                                           "projected sources conflict on path %s",
                                                           part.v[j].path);
                        if (r >= 0)
                                add_file(&all, part.v[j].path, part.v[j].data, part.v[j].len, part.v[j].mode);
                }
                k8c_volume_files_free(&part);
                if (r < 0) {
                        k8c_volume_files_free(&all);
                        return r;
                }
        }
        *ret = all;
        return 0;
}

int k8c_volume_mounts(const json_t *container, const json_t *volume_paths, json_t **ret, k8c_error_t *err)
{
        json_auto_t *mounts = json_array();
        size_t i;
        json_t *vm;
        json_array_foreach(json_object_get(container, "volumeMounts"), i, vm)
        {
                const char *name = json_string_value(json_object_get(vm, "name"));
                const char *dst = json_string_value(json_object_get(vm, "mountPath"));
                const char *sub = json_string_value(json_object_get(vm, "subPath"));
                const json_t *vol = json_object_get(volume_paths, name ?: "");
                const char *src = json_string_value(json_object_get(vol, "path"));
                if (name == NULL || dst == NULL || dst[0] != '/')
                        return k8c_make_error(err, K8C_EINVALID,
                                              "volumeMount %zu needs a name and an absolute mountPath", i);
                if (src == NULL)
                        return k8c_make_error(err, K8C_ENOTFOUND, "volumeMount %s: no volume named %s", dst,
                                              name);
                cleanup_free char *source = NULL;
                if (sub != NULL && sub[0] != '\0') {
                        int r = k8c_volume_check_path(sub, err);
                        if (r < 0)
                                return k8c_error_wrap(err, "subPath of volumeMount %s", dst);
                        source = k8c_xasprintf("%s/%s", src, sub);
                } else {
                        source = k8c_xstrdup(src);
                }
                bool ro = json_is_true(json_object_get(vm, "readOnly")) ||
                          json_is_true(json_object_get(vol, "readOnly"));
                json_array_append_new(mounts, json_pack("{s:s, s:s, s:b}", "destination", dst, "source",
                                                        source, "readOnly", ro));
        }
        *ret = k8c_steal(&mounts);
        return 0;
}

/* ---- hostPath ---- */

int k8c_hostpath_check(const char *path, const char *type, k8c_error_t *err)
{
        if (path == NULL || path[0] != '/')
                return k8c_make_error(err, K8C_EINVALID, "hostPath %s must be absolute", path ?: "");
        if (type == NULL || type[0] == '\0')
                return 0;
        struct stat st;
        bool exists = stat(path, &st) == 0;
        if (!exists && errno != ENOENT)
                return k8c_make_errno(err, errno, "stat %s", path);
        if (strcmp(type, "DirectoryOrCreate") == 0) {
                if (!exists)
                        return k8c_mkdir_p(path, 0755, err);
                if (!S_ISDIR(st.st_mode))
                        return k8c_make_error(err, K8C_EINVALID,
                                              "hostPath type check failed: %s is not a directory", path);
                return 0;
        }
        if (strcmp(type, "FileOrCreate") == 0) {
                if (!exists) {
                        cleanup_free char *dir = k8c_xstrdup(path);
                        char *slash = strrchr(dir, '/');
                        if (slash != NULL && slash != dir) {
                                *slash = '\0';
                                int r = k8c_mkdir_p(dir, 0755, err);
                                if (r < 0)
                                        return r;
                        }
                        cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                        if (fd < 0 && errno != EEXIST)
                                return k8c_make_errno(err, errno, "create %s", path);
                        return 0;
                }
                if (!S_ISREG(st.st_mode))
                        return k8c_make_error(err, K8C_EINVALID,
                                              "hostPath type check failed: %s is not a file", path);
                return 0;
        }
        static const struct {
                const char *type, *what;
                mode_t fmt;
        } checks[] = {
                { "Directory", "directory", S_IFDIR },      { "File", "file", S_IFREG },
                { "Socket", "socket", S_IFSOCK },           { "CharDevice", "character device", S_IFCHR },
                { "BlockDevice", "block device", S_IFBLK },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(checks); i++) {
                if (strcmp(type, checks[i].type) != 0)
                        continue;
                if (!exists)
                        return k8c_make_error(err, K8C_EINVALID,
                                              "hostPath type check failed: %s does not exist", path);
                if ((st.st_mode & S_IFMT) != checks[i].fmt)
                        return k8c_make_error(err, K8C_EINVALID, "hostPath type check failed: %s is not a %s",
                                              path, checks[i].what);
                return 0;
        }
        return k8c_make_error(err, K8C_EINVALID, "hostPath type %s is not supported", type);
}

/* ---- setup and teardown (the kubelet's side) ---- */

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw);

static char *pod_volumes_dir(struct k8c_kubelet *k, const char *uid)
{
        return k8c_xasprintf("%s/pods/%s/volumes", k->cfg.root_dir, uid);
}

static int write_all(const char *path, const unsigned char *data, size_t len, int mode, k8c_error_t *err)
{
        cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return k8c_make_errno(err, errno, "open %s", path);
        for (size_t off = 0; off < len;) {
                ssize_t n = write(fd, data + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return k8c_make_errno(err, errno, "write %s", path);
                off += (size_t)n;
        }
        /* The mode exactly as asked (no umask). */
        if (fchmod(fd, (mode_t)mode) < 0)
                return k8c_make_errno(err, errno, "chmod %s", path);
        return 0;
}

static int write_files(const char *dir, const struct k8c_volume_files *files, k8c_error_t *err)
{
        for (size_t i = 0; i < files->n; i++) {
                cleanup_free char *path = k8c_xasprintf("%s/%s", dir, files->v[i].path);
                char *slash = strrchr(path, '/');
                *slash = '\0';
                int r = k8c_mkdir_p(path, 0755, err);
                *slash = '/';
                if (r < 0)
                        return r;
                r = write_all(path, files->v[i].data, files->v[i].len, files->v[i].mode, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int get_object(struct k8c_kubelet *k, const char *path, json_t **ret, k8c_error_t *err)
{
        cleanup_error k8c_error_t e = NULL;
        int r = k8c_client_get(k->client, path, ret, &e);
        if (r == -(int)K8C_ENOTFOUND) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return k8c_make_error(err, k8c_error_reason(&e), "get %s: %s", path, k8c_error_msg(&e));
        return 0;
}

/* A tmpfs on dir (made if absent) unless one is there already (a sync after a failure elsewhere,
 * a restarted kubelet). */
static int mount_tmpfs(const char *dir, const char *opts, k8c_error_t *err)
{
        int r = k8c_mkdir_p(dir, 0755, err);
        if (r < 0)
                return r;
        cleanup_free char *parent = k8c_xasprintf("%s/..", dir);
        struct stat a, b;
        if (stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev)
                return 0;
        if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
                return k8c_make_errno(err, errno, "mount tmpfs on %s", dir);
        return 0;
}

static int setup_emptydir(const json_t *src, const char *dir, k8c_error_t *err)
{
        const char *medium = json_string_value(json_object_get(src, "medium"));
        if (medium != NULL && medium[0] != '\0' && strcmp(medium, "Memory") != 0)
                return k8c_make_error(err, K8C_EINVALID, "emptyDir medium %s is not supported", medium);
        if (medium == NULL || medium[0] == '\0') {
                int r = k8c_mkdir_p(dir, 0777, err);
                if (r < 0)
                        return r;
                chmod(dir, 0777); /* any container user may write, as in Kubernetes */
                return 0;
        }
        cleanup_free char *opts = NULL;
        const json_t *limit = json_object_get(src, "sizeLimit");
        k8c_quantity_t q;
        if (limit != NULL && k8c_quantity_from_json(limit, &q, NULL) == 0 && k8c_quantity_value(&q) > 0)
                opts = k8c_xasprintf("mode=0777,size=%lld", (long long)k8c_quantity_value(&q));
        else
                opts = k8c_xstrdup("mode=0777");
        return mount_tmpfs(dir, opts, err);
}

static int setup_pvc(struct k8c_kubelet *k, const json_t *pod, const json_t *src, char **ret_path,
                     k8c_error_t *err)
{
        const char *ns = k8c_json_get_string(pod, "metadata.namespace") ?: "default";
        const char *claim = json_string_value(json_object_get(src, "claimName"));
        if (claim == NULL)
                return k8c_make_error(err, K8C_EINVALID, "persistentVolumeClaim without claimName");
        cleanup_free char *cpath =
                k8c_xasprintf("/api/v1/namespaces/%s/persistentvolumeclaims/%s", ns, claim);
        json_auto_t *pvc = NULL;
        int r = get_object(k, cpath, &pvc, err);
        if (r < 0)
                return r;
        if (pvc == NULL)
                return k8c_make_error(err, K8C_ENOTFOUND, "persistentvolumeclaim \"%s\" not found", claim);
        const char *pv_name = k8c_json_get_string(pvc, "spec.volumeName");
        const char *phase = k8c_json_get_string(pvc, "status.phase") ?: "";
        if (pv_name == NULL || pv_name[0] == '\0' || strcmp(phase, "Bound") != 0)
                return k8c_make_error(err, K8C_EUNAVAILABLE, "persistentvolumeclaim \"%s\" is not bound",
                                      claim);
        cleanup_free char *vpath = k8c_xasprintf("/api/v1/persistentvolumes/%s", pv_name);
        json_auto_t *pv = NULL;
        r = get_object(k, vpath, &pv, err);
        if (r < 0)
                return r;
        if (pv == NULL)
                return k8c_make_error(err, K8C_ENOTFOUND,
                                      "persistentvolume \"%s\" (bound to claim \"%s\") not found", pv_name,
                                      claim);
        const char *hp = k8c_json_get_string(pv, "spec.hostPath.path");
        const char *local = k8c_json_get_string(pv, "spec.local.path");
        if (hp != NULL) {
                r = k8c_hostpath_check(hp, k8c_json_get_string(pv, "spec.hostPath.type"), err);
                if (r < 0)
                        return k8c_error_wrap(err, "persistentvolume \"%s\"", pv_name);
                *ret_path = k8c_xstrdup(hp);
                return 0;
        }
        if (local != NULL) {
                r = k8c_hostpath_check(local, "Directory", err);
                if (r < 0)
                        return k8c_error_wrap(err, "persistentvolume \"%s\"", pv_name);
                *ret_path = k8c_xstrdup(local);
                return 0;
        }
        return k8c_make_error(err, K8C_EINVALID,
                              "persistentvolume \"%s\": only hostPath and local volumes are supported",
                              pv_name);
}

/* Does the payload under dir/..data hold exactly these files (bytes and modes)? */
static __thread size_t payload_count;

static int count_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        if (flag == FTW_F && S_ISREG(st->st_mode))
                payload_count++;
        return 0;
}

static bool payload_equal(const char *dir, const struct k8c_volume_files *files)
{
        cleanup_free char *data = k8c_xasprintf("%s/..data", dir);
        struct stat st;
        if (stat(data, &st) < 0)
                return false;
        for (size_t i = 0; i < files->n; i++) {
                cleanup_free char *path = k8c_xasprintf("%s/%s", data, files->v[i].path);
                if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
                    (st.st_mode & 07777) != (mode_t)files->v[i].mode || (size_t)st.st_size != files->v[i].len)
                        return false;
                cleanup_fclose FILE *fp = fopen(path, "re");
                cleanup_free unsigned char *buf = k8c_xmalloc(files->v[i].len + 1);
                if (fp == NULL || fread(buf, 1, files->v[i].len, fp) != files->v[i].len ||
                    memcmp(buf, files->v[i].data, files->v[i].len) != 0)
                        return false;
        }
        payload_count = 0;
        nftw(data, count_cb, 16, FTW_PHYS);
        return payload_count == files->n;
}

/* The first element of a relative path (caller frees). */
static char *top_name(const char *path)
{
        return k8c_xstrndup(path, strcspn(path, "/"));
}

/* Writes a projected volume's files into dir as the kubelet's AtomicWriter does: the payload in a
 * fresh ..<timestamp> directory, ..data a symlink to it swapped in by one rename, and each
 * top-level name a symlink through ..data, so a container never sees half an update. An unchanged
 * payload is left alone. */
static int write_atomic(const char *dir, const struct k8c_volume_files *files, k8c_error_t *err)
{
        int r = k8c_mkdir_p(dir, 0755, err);
        if (r < 0)
                return r;
        if (payload_equal(dir, files))
                return 0;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct tm tm;
        gmtime_r(&now.tv_sec, &tm);
        char stamp[64];
        size_t sl = strftime(stamp, sizeof(stamp), "..%Y_%m_%d_%H_%M_%S", &tm);
        snprintf(stamp + sl, sizeof(stamp) - sl, ".%09ld", now.tv_nsec);
        cleanup_free char *ts_dir = k8c_xasprintf("%s/%s", dir, stamp);
        if (mkdir(ts_dir, 0755) < 0)
                return k8c_make_errno(err, errno, "mkdir %s", ts_dir);
        if ((r = write_files(ts_dir, files, err)) < 0) {
                nftw(ts_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
                return r;
        }
        cleanup_free char *data = k8c_xasprintf("%s/..data", dir);
        cleanup_free char *tmp = k8c_xasprintf("%s/..data_tmp", dir);
        char old[256] = "";
        ssize_t ol = readlink(data, old, sizeof(old) - 1);
        old[ol > 0 ? ol : 0] = '\0';
        unlink(tmp);
        if (symlink(stamp, tmp) < 0 || rename(tmp, data) < 0)
                return k8c_make_errno(err, errno, "switch %s", data);
        /* Top-level names: every one present points through ..data; stale ones go. */
        for (size_t i = 0; i < files->n; i++) {
                cleanup_free char *name = top_name(files->v[i].path);
                cleanup_free char *link = k8c_xasprintf("%s/%s", dir, name);
                cleanup_free char *target = k8c_xasprintf("..data/%s", name);
                struct stat st;
                if (lstat(link, &st) < 0 && symlink(target, link) < 0)
                        return k8c_make_errno(err, errno, "symlink %s", link);
        }
        DIR *d = opendir(dir);
        if (d != NULL) {
                struct dirent *e;
                while ((e = readdir(d)) != NULL) {
                        if (strncmp(e->d_name, "..", 2) == 0 || strcmp(e->d_name, ".") == 0)
                                continue;
                        bool wanted = false;
                        for (size_t i = 0; i < files->n && !wanted; i++) {
                                cleanup_free char *name = top_name(files->v[i].path);
                                wanted = strcmp(name, e->d_name) == 0;
                        }
                        if (!wanted) {
                                cleanup_free char *stale = k8c_xasprintf("%s/%s", dir, e->d_name);
                                unlink(stale);
                        }
                }
                closedir(d);
        }
        if (old[0] != '\0' && strncmp(old, "..", 2) == 0 && strchr(old, '/') == NULL) {
                cleanup_free char *old_dir = k8c_xasprintf("%s/%s", dir, old);
                nftw(old_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        }
        return 0;
}

/* One volume → its host path (*ret_path) and whether the volume itself is read-only. */
static int setup_volume(struct k8c_kubelet *k, const json_t *pod, const char *vdir, const json_t *vol,
                        char **ret_path, bool *ret_ro, k8c_error_t *err)
{
        const char *name = json_string_value(json_object_get(vol, "name"));
        const json_t *src;
        *ret_ro = false;
        const char *ns = k8c_json_get_string(pod, "metadata.namespace") ?: "default";
        if ((src = json_object_get(vol, "emptyDir")) != NULL) {
                cleanup_free char *dir = k8c_xasprintf("%s/kubernetes.io~empty-dir/%s", vdir, name);
                int r = setup_emptydir(src, dir, err);
                if (r < 0)
                        return r;
                *ret_path = k8c_steal(&dir);
                return 0;
        }
        if ((src = json_object_get(vol, "hostPath")) != NULL) {
                const char *path = json_string_value(json_object_get(src, "path"));
                int r = k8c_hostpath_check(path, json_string_value(json_object_get(src, "type")), err);
                if (r < 0)
                        return r;
                *ret_path = k8c_xstrdup(path);
                return 0;
        }
        bool is_secret = (src = json_object_get(vol, "secret")) != NULL;
        if (is_secret || (src = json_object_get(vol, "configMap")) != NULL) {
                const char *obj_name =
                        json_string_value(json_object_get(src, is_secret ? "secretName" : "name"));
                if (obj_name == NULL)
                        return k8c_make_error(err, K8C_EINVALID, "%s volume without a name",
                                              is_secret ? "secret" : "configMap");
                cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/%s/%s/%s", ns,
                                                        is_secret ? "secrets" : "configmaps", obj_name);
                json_auto_t *obj = NULL;
                int r = get_object(k, path, &obj, err);
                if (r < 0)
                        return r;
                struct k8c_volume_files files = { 0 };
                r = k8c_volume_project(src, obj, is_secret, &files, err);
                if (r < 0)
                        return r;
                cleanup_free char *dir = k8c_xasprintf("%s/kubernetes.io~%s/%s", vdir,
                                                       is_secret ? "secret" : "configmap", name);
                /* Secrets never touch the node's disk: a tmpfs, as the kubelet does. */
                if (is_secret && (r = mount_tmpfs(dir, "mode=0755,size=4m", err)) < 0) {
                        k8c_volume_files_free(&files);
                        return r;
                }
                r = write_atomic(dir, &files, err);
                k8c_volume_files_free(&files);
                if (r < 0)
                        return r;
                *ret_path = k8c_steal(&dir);
                *ret_ro = true; /* as the kubelet mounts them */
                return 0;
        }
        if ((src = json_object_get(vol, "downwardAPI")) != NULL) {
                struct k8c_volume_files files = { 0 };
                int r = k8c_volume_downward(src, pod, &files, err);
                if (r < 0)
                        return r;
                cleanup_free char *dir = k8c_xasprintf("%s/kubernetes.io~downward-api/%s", vdir, name);
                r = write_atomic(dir, &files, err);
                k8c_volume_files_free(&files);
                if (r < 0)
                        return r;
                *ret_path = k8c_steal(&dir);
                *ret_ro = true;
                return 0;
        }
        if ((src = json_object_get(vol, "projected")) != NULL) {
                const json_t *sources = json_object_get(src, "sources");
                size_t n = json_array_size(sources);
                json_t **objs = k8c_xcalloc(n + 1, sizeof(json_t *));
                int r = 0;
                for (size_t i = 0; i < n && r >= 0; i++) {
                        const json_t *s_ = json_array_get(sources, i);
                        const json_t *cm = json_object_get(s_, "configMap");
                        const json_t *sec = json_object_get(s_, "secret");
                        const char *obj_name = json_string_value(json_object_get(cm ?: sec, "name"));
                        if (obj_name == NULL)
                                continue;
                        cleanup_free char *path =
                                k8c_xasprintf("/api/v1/namespaces/%s/%s/%s", ns,
                                              sec != NULL ? "secrets" : "configmaps", obj_name);
                        r = get_object(k, path, &objs[i], err);
                }
                struct k8c_volume_files files = { 0 };
                if (r >= 0)
                        r = k8c_volume_projected(src, (const json_t *const *)objs, pod, &files, err);
                for (size_t i = 0; i < n; i++)
                        json_decref(objs[i]);
                free(objs);
                if (r < 0)
                        return r;
                cleanup_free char *dir = k8c_xasprintf("%s/kubernetes.io~projected/%s", vdir, name);
                r = write_atomic(dir, &files, err);
                k8c_volume_files_free(&files);
                if (r < 0)
                        return r;
                *ret_path = k8c_steal(&dir);
                *ret_ro = true;
                return 0;
        }
        if ((src = json_object_get(vol, "persistentVolumeClaim")) != NULL) {
                int r = setup_pvc(k, pod, src, ret_path, err);
                if (r < 0)
                        return r;
                *ret_ro = json_is_true(json_object_get(src, "readOnly"));
                return 0;
        }
        return k8c_make_error(err, K8C_EINVALID, "volume type is not supported");
}

int k8c_kubelet_volumes_setup(struct k8c_kubelet *k, const json_t *pod, const char *pod_ip,
                              json_t **ret_paths, k8c_error_t *err)
{
        const char *uid = k8c_json_get_string(pod, "metadata.uid") ?: "none";
        cleanup_free char *vdir = pod_volumes_dir(k, uid);
        json_auto_t *paths = json_object();
        size_t i;
        json_t *vol;
        json_array_foreach(k8c_json_get(pod, "spec.volumes"), i, vol)
        {
                const char *name = json_string_value(json_object_get(vol, "name"));
                if (name == NULL || k8c_volume_check_path(name, NULL) < 0 || strchr(name, '/') != NULL)
                        return k8c_make_error(err, K8C_EINVALID, "volume %zu has an invalid name", i);
                cleanup_free char *path = NULL;
                bool ro = false;
                int r = setup_volume(k, pod, vdir, vol, &path, &ro, err);
                if (r < 0)
                        return k8c_error_wrap(err, "MountVolume.SetUp failed for volume \"%s\"", name);
                json_object_set_new(paths, name, json_pack("{s:s, s:b}", "path", path, "readOnly", ro));
        }
        *ret_paths = k8c_steal(&paths);
        return 0;
}

int k8c_kubelet_volumes_refresh(struct k8c_kubelet *k, const json_t *pod, k8c_error_t *err)
{
        const char *uid = k8c_json_get_string(pod, "metadata.uid") ?: "none";
        cleanup_free char *vdir = pod_volumes_dir(k, uid);
        int first = 0;
        size_t i;
        json_t *vol;
        json_array_foreach(k8c_json_get(pod, "spec.volumes"), i, vol)
        {
                if (json_object_get(vol, "configMap") == NULL && json_object_get(vol, "secret") == NULL &&
                    json_object_get(vol, "downwardAPI") == NULL && json_object_get(vol, "projected") == NULL)
                        continue;
                cleanup_free char *path = NULL;
                bool ro;
                cleanup_error k8c_error_t e = NULL;
                /* A failure keeps what the volume holds (as the kubelet does); the first is reported. */
                int r = setup_volume(k, pod, vdir, vol, &path, &ro, &e);
                if (r < 0 && first == 0) {
                        first = k8c_make_error(err, k8c_error_reason(&e), "refresh volume \"%s\": %s",
                                               json_string_value(json_object_get(vol, "name")) ?: "",
                                               k8c_error_msg(&e));
                }
        }
        return first;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        if (flag == FTW_DP)
                rmdir(path);
        else
                unlink(path);
        return 0;
}

int k8c_kubelet_volumes_teardown(struct k8c_kubelet *k, const char *uid, k8c_error_t *err)
{
        cleanup_free char *vdir = pod_volumes_dir(k, uid);
        static const char *const plugins[] = { "kubernetes.io~empty-dir", "kubernetes.io~configmap",
                                               "kubernetes.io~secret", "kubernetes.io~downward-api",
                                               "kubernetes.io~projected" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(plugins); i++) {
                cleanup_free char *pdir = k8c_xasprintf("%s/%s", vdir, plugins[i]);
                DIR *d = opendir(pdir);
                if (d == NULL)
                        continue;
                struct dirent *e;
                while ((e = readdir(d)) != NULL) {
                        if (e->d_name[0] == '.')
                                continue;
                        cleanup_free char *dir = k8c_xasprintf("%s/%s", pdir, e->d_name);
                        /* A tmpfs emptyDir: unmounted first (EINVAL = not a mount point). */
                        if (umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL &&
                            errno != ENOENT) {
                                int saved = errno;
                                closedir(d);
                                return k8c_make_errno(err, saved, "unmount %s", dir);
                        }
                }
                closedir(d);
        }
        /* Never across a mount point (FTW_MOUNT) nor through a symlink (FTW_PHYS): only the pod's
         * own files go, whatever a container left in its volumes. */
        nftw(vdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        struct stat st;
        if (lstat(vdir, &st) == 0)
                return k8c_make_error(err, K8C_EINTERNAL, "cannot remove %s", vdir);
        /* The fake runtime keeps nothing there: the pod directory goes too once empty. */
        cleanup_free char *pdir = k8c_xasprintf("%s/pods/%s", k->cfg.root_dir, uid);
        rmdir(pdir);
        return 0;
}

int k8c_kubelet_container_mounts(const json_t *volume_paths, const json_t *container, json_t **ret,
                                 k8c_error_t *err)
{
        json_auto_t *mounts = NULL;
        int r = k8c_volume_mounts(container, volume_paths, &mounts, err);
        if (r < 0)
                return r;
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(container, "volumeMounts"), i, m)
        {
                const char *sub = json_string_value(json_object_get(m, "subPath"));
                if (sub == NULL || sub[0] == '\0')
                        continue;
                json_t *mount = json_array_get(mounts, i);
                const char *src = json_string_value(json_object_get(mount, "source"));
                const char *vol = k8c_json_get_string(
                        json_object_get(volume_paths, json_string_value(json_object_get(m, "name"))), "path");
                /* A subPath that does not exist yet is made as a directory, as the kubelet does. */
                struct stat st;
                if (lstat(src, &st) < 0 && (r = k8c_mkdir_p(src, 0755, err)) < 0)
                        return r;
                /* A container may have put a symlink on the way: the subPath must still resolve inside
                 * its volume, and the resolved path is what gets mounted. */
                cleanup_free char *real_vol = realpath(vol, NULL);
                cleanup_free char *real_src = realpath(src, NULL);
                size_t vl = real_vol != NULL ? strlen(real_vol) : 0;
                if (real_vol == NULL || real_src == NULL || strncmp(real_src, real_vol, vl) != 0 ||
                    (real_src[vl] != '/' && real_src[vl] != '\0'))
                        return k8c_make_error(err, K8C_EINVALID, "subPath %s of volume %s leaves the volume",
                                              sub, json_string_value(json_object_get(m, "name")));
                json_object_set_new(mount, "source", json_string(real_src));
        }
        *ret = k8c_steal(&mounts);
        return 0;
}

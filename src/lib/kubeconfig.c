/*
 * kubeconfig.c - resolves one context of kubectl's kubeconfig into connection
 * settings: which files (--kubeconfig, else every file of $KUBECONFIG merged
 * first-wins, else ~/.kube/config), which context, its cluster and user, with
 * relative paths made absolute against the defining file's directory and
 * *-data fields base64-decoded (by gnutls).
 *
 * Reads files only; must not open connections, load certificates or log.
 */
#include "k8c/kubeconfig.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/yaml.h"

/* Kubeconfigs are small; anything larger is not one. */
#define KUBECONFIG_MAX_SIZE (16 * 1024 * 1024)

/* The merged view: for each kind, name -> {"v": definition, "dir": directory
 * of the file that defined it first}; and the first current-context seen. */
struct merged {
        json_t *clusters;
        json_t *users;
        json_t *contexts;
        char *current_context;
        int nfiles;
};

static void merged_free(struct merged *m)
{
        json_decref(m->clusters);
        json_decref(m->users);
        json_decref(m->contexts);
        free(m->current_context);
}

static int read_file(const char *path, char **ret, size_t *ret_len, k8c_error_t *err)
{
        cleanup_fclose FILE *f = fopen(path, "re");
        if (f == NULL) {
                if (errno == ENOENT)
                        return k8c_make_error(err, K8C_ENOTFOUND, "kubeconfig %s: file not found", path);
                return k8c_make_errno(err, errno, "kubeconfig %s", path);
        }
        cleanup_free char *buf = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
                if (cap - len < 4096) {
                        cap = cap ? cap * 2 : 8192;
                        buf = k8c_xrealloc(buf, cap + 1);
                }
                size_t n = fread(buf + len, 1, cap - len, f);
                len += n;
                if (len > KUBECONFIG_MAX_SIZE)
                        return k8c_make_error(err, K8C_EBADREQUEST, "kubeconfig %s: larger than %d bytes",
                                              path, KUBECONFIG_MAX_SIZE);
                if (n == 0) {
                        if (ferror(f))
                                return k8c_make_errno(err, errno ? errno : EIO, "kubeconfig %s: read", path);
                        break;
                }
        }
        buf[len] = '\0';
        *ret = k8c_steal(&buf);
        *ret_len = len;
        return 0;
}

/* Absolute directory of path (for resolving relative paths in the file). */
static char *file_dir(const char *path)
{
        cleanup_free char *copy = k8c_xstrdup(path);
        const char *dir = dirname(copy);
        char resolved[PATH_MAX];
        if (realpath(dir, resolved) != NULL)
                return k8c_xstrdup(resolved);
        if (dir[0] == '/')
                return k8c_xstrdup(dir);
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) == NULL)
                return k8c_xstrdup(dir);
        return k8c_xasprintf("%s/%s", cwd, dir);
}

/* Adds the named entries of one list (clusters/users/contexts) of one file;
 * names already defined by an earlier file keep their first definition. */
static int merge_list(json_t *into, const json_t *doc, const char *list, const char *field, const char *path,
                      const char *dir, k8c_error_t *err)
{
        json_t *arr = json_object_get(doc, list);
        if (arr == NULL || json_is_null(arr))
                return 0;
        if (!json_is_array(arr))
                return k8c_make_error(err, K8C_EBADREQUEST, "kubeconfig %s: %s must be a list", path, list);
        size_t i;
        json_t *item;
        json_array_foreach(arr, i, item)
        {
                const char *name = k8c_json_get_string(item, "name");
                if (name == NULL)
                        return k8c_make_error(err, K8C_EBADREQUEST, "kubeconfig %s: %s[%zu] has no name",
                                              path, list, i);
                json_t *def = json_object_get(item, field);
                if (def != NULL && !json_is_object(def) && !json_is_null(def))
                        return k8c_make_error(err, K8C_EBADREQUEST, "kubeconfig %s: %s[%zu].%s must be a map",
                                              path, list, i, field);
                if (json_object_get(into, name) != NULL)
                        continue;
                json_t *v = json_is_object(def) ? json_incref(def) : json_object();
                json_object_set_new(into, name, json_pack("{s:o,s:s}", "v", v, "dir", dir));
        }
        return 0;
}

static int merge_file(struct merged *m, const char *path, bool must_exist, k8c_error_t *err)
{
        cleanup_free char *buf = NULL;
        size_t len = 0;
        int r = read_file(path, &buf, &len, err);
        if (r < 0) {
                /* kubectl skips $KUBECONFIG entries that do not exist */
                if (!must_exist && r == -(int)K8C_ENOTFOUND) {
                        k8c_error_release(err);
                        return 0;
                }
                return r;
        }
        json_auto_t *docs = NULL;
        r = k8c_yaml_to_json_docs(buf, len, &docs, err);
        if (r < 0)
                return k8c_error_wrap(err, "kubeconfig %s", path);
        m->nfiles++;
        if (json_array_size(docs) == 0) /* an empty file is an empty config */
                return 0;
        if (json_array_size(docs) > 1)
                return k8c_make_error(err, K8C_EBADREQUEST,
                                      "kubeconfig %s: holds %zu YAML documents, expected one", path,
                                      json_array_size(docs));
        json_t *doc = json_array_get(docs, 0);
        if (json_is_null(doc))
                return 0;
        if (!json_is_object(doc))
                return k8c_make_error(err, K8C_EBADREQUEST, "kubeconfig %s: not a map", path);
        cleanup_free char *dir = file_dir(path);
        if ((r = merge_list(m->clusters, doc, "clusters", "cluster", path, dir, err)) < 0 ||
            (r = merge_list(m->users, doc, "users", "user", path, dir, err)) < 0 ||
            (r = merge_list(m->contexts, doc, "contexts", "context", path, dir, err)) < 0)
                return r;
        const char *cur = k8c_json_get_string(doc, "current-context");
        if (m->current_context == NULL && cur != NULL && cur[0] != '\0')
                m->current_context = k8c_xstrdup(cur);
        return 0;
}

static char *home_config(void)
{
        const char *home = getenv("HOME");
        if (home == NULL || home[0] == '\0') {
                struct passwd *pw = getpwuid(getuid());
                home = pw != NULL ? pw->pw_dir : NULL;
        }
        if (home == NULL)
                return NULL;
        return k8c_xasprintf("%s/.kube/config", home);
}

static int load_files(const char *path, struct merged *m, k8c_error_t *err)
{
        if (path != NULL && path[0] != '\0')
                return merge_file(m, path, true, err);
        const char *env = getenv("KUBECONFIG");
        if (env != NULL && env[0] != '\0') {
                cleanup_free char *list = k8c_xstrdup(env);
                char *save = NULL;
                for (char *p = strtok_r(list, ":", &save); p != NULL; p = strtok_r(NULL, ":", &save)) {
                        int r = merge_file(m, p, false, err);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        cleanup_free char *home = home_config();
        if (home == NULL)
                return 0;
        return merge_file(m, home, false, err);
}

static char *abs_path(const char *dir, const char *p)
{
        if (p == NULL || p[0] == '\0')
                return NULL;
        if (p[0] == '/')
                return k8c_xstrdup(p);
        return k8c_xasprintf("%s/%s", dir, p);
}

static int decode_data(const char *b64, const char *what, const char *kind, const char *name, char **ret,
                       size_t *ret_len, k8c_error_t *err)
{
        if (b64 == NULL || b64[0] == '\0')
                return 0;
        gnutls_datum_t in = { .data = (unsigned char *)b64, .size = (unsigned)strlen(b64) };
        gnutls_datum_t out = { 0 };
        if (gnutls_base64_decode2(&in, &out) < 0)
                return k8c_make_error(err, K8C_EBADREQUEST, "kubeconfig: %s of %s \"%s\" is not valid base64",
                                      what, kind, name);
        /* Copy into malloc'd memory (+NUL) so callers free() it like every other field. */
        char *data = k8c_xmalloc(out.size + 1);
        memcpy(data, out.data, out.size);
        data[out.size] = '\0';
        *ret_len = out.size;
        *ret = data;
        gnutls_free(out.data);
        return 0;
}

static char *dup_string(const json_t *obj, const char *key)
{
        const char *s = k8c_json_get_string(obj, key);
        return s != NULL && s[0] != '\0' ? k8c_xstrdup(s) : NULL;
}

int k8c_kubeconfig_load(const char *path, const char *context, const char *server_override,
                        struct k8c_kubeconfig *ret, k8c_error_t *err)
{
        struct merged m = { .clusters = json_object(), .users = json_object(), .contexts = json_object() };
        struct k8c_kubeconfig kc = { 0 };
        bool have_override = server_override != NULL && server_override[0] != '\0';
        int r = load_files(path, &m, err);
        if (r < 0)
                goto out;

        const char *ctx_name = context != NULL && context[0] != '\0' ? context : m.current_context;
        if (ctx_name == NULL) {
                if (have_override) {
                        /* --server alone is a complete (anonymous) configuration */
                        kc.server = k8c_xstrdup(server_override);
                        goto done;
                }
                if (m.nfiles == 0)
                        r = k8c_make_error(err, K8C_ENOTFOUND,
                                           "no kubeconfig found (--kubeconfig, $KUBECONFIG, ~/.kube/config) "
                                           "and no --server given");
                else
                        r = k8c_make_error(err, K8C_EBADREQUEST,
                                           "kubeconfig has no current-context; pass --context or --server");
                goto out;
        }
        json_t *ctx_entry = json_object_get(m.contexts, ctx_name);
        if (ctx_entry == NULL) {
                r = k8c_make_error(err, K8C_ENOTFOUND, "context \"%s\" not found in kubeconfig", ctx_name);
                goto out;
        }
        json_t *ctx = json_object_get(ctx_entry, "v");
        kc.context = k8c_xstrdup(ctx_name);
        kc.namespace_ = dup_string(ctx, "namespace");

        const char *cluster_name = k8c_json_get_string(ctx, "cluster");
        if (cluster_name == NULL || cluster_name[0] == '\0') {
                if (!have_override) {
                        r = k8c_make_error(err, K8C_EBADREQUEST, "context \"%s\" has no cluster", ctx_name);
                        goto out;
                }
        } else {
                json_t *entry = json_object_get(m.clusters, cluster_name);
                if (entry == NULL) {
                        r = k8c_make_error(err, K8C_ENOTFOUND, "cluster \"%s\" of context \"%s\" not found",
                                           cluster_name, ctx_name);
                        goto out;
                }
                json_t *cl = json_object_get(entry, "v");
                const char *dir = json_string_value(json_object_get(entry, "dir"));
                kc.cluster = k8c_xstrdup(cluster_name);
                kc.server = dup_string(cl, "server");
                kc.certificate_authority = abs_path(dir, k8c_json_get_string(cl, "certificate-authority"));
                kc.insecure_skip_tls_verify = k8c_json_get_bool(cl, "insecure-skip-tls-verify", false);
                r = decode_data(k8c_json_get_string(cl, "certificate-authority-data"),
                                "certificate-authority-data", "cluster", cluster_name,
                                &kc.certificate_authority_data, &kc.certificate_authority_data_len, err);
                if (r < 0)
                        goto out;
        }

        const char *user_name = k8c_json_get_string(ctx, "user");
        if (user_name != NULL && user_name[0] != '\0') {
                json_t *entry = json_object_get(m.users, user_name);
                if (entry == NULL) {
                        r = k8c_make_error(err, K8C_ENOTFOUND, "user \"%s\" of context \"%s\" not found",
                                           user_name, ctx_name);
                        goto out;
                }
                json_t *u = json_object_get(entry, "v");
                const char *dir = json_string_value(json_object_get(entry, "dir"));
                kc.user = k8c_xstrdup(user_name);
                kc.client_certificate = abs_path(dir, k8c_json_get_string(u, "client-certificate"));
                kc.client_key = abs_path(dir, k8c_json_get_string(u, "client-key"));
                kc.token = dup_string(u, "token");
                r = decode_data(k8c_json_get_string(u, "client-certificate-data"), "client-certificate-data",
                                "user", user_name, &kc.client_certificate_data,
                                &kc.client_certificate_data_len, err);
                if (r < 0)
                        goto out;
                r = decode_data(k8c_json_get_string(u, "client-key-data"), "client-key-data", "user",
                                user_name, &kc.client_key_data, &kc.client_key_data_len, err);
                if (r < 0)
                        goto out;
        }

        if (have_override) {
                free(kc.server);
                kc.server = k8c_xstrdup(server_override);
        }
        if (kc.server == NULL) {
                r = k8c_make_error(err, K8C_EBADREQUEST, "cluster \"%s\" of context \"%s\" has no server",
                                   kc.cluster, ctx_name);
                goto out;
        }
done:
        *ret = kc;
        memset(&kc, 0, sizeof(kc));
        r = 0;
out:
        k8c_kubeconfig_free(&kc);
        merged_free(&m);
        return r;
}

void k8c_kubeconfig_free(struct k8c_kubeconfig *kc)
{
        if (kc == NULL)
                return;
        free(kc->context);
        free(kc->cluster);
        free(kc->user);
        free(kc->namespace_);
        free(kc->server);
        free(kc->certificate_authority);
        free(kc->certificate_authority_data);
        free(kc->client_certificate);
        free(kc->client_certificate_data);
        free(kc->client_key);
        free(kc->client_key_data);
        free(kc->token);
        memset(kc, 0, sizeof(*kc));
}

/*
 * apply.c - the manifest verbs: reading -f files/directories/stdin (multi-
 * document YAML or JSON, List expanded), `create`, `replace` and client-side
 * `apply` (last-applied-configuration annotation, three-way patch).
 *
 * The apply patch is computed here as a JSON merge patch (lists replaced as a
 * whole when they changed), sent as application/merge-patch+json: it must not
 * pretend to be a strategic merge patch.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"
#include "k8c/yaml.h"

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

int k8c_cli_read_all(FILE *f, char **ret, size_t *ret_len)
{
        size_t cap = 8192, n = 0;
        char *buf = k8c_xmalloc(cap);
        size_t got;
        while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
                n += got;
                if (cap - n - 1 == 0) {
                        cap *= 2;
                        buf = k8c_xrealloc(buf, cap);
                }
        }
        buf[n] = '\0';
        *ret = buf;
        *ret_len = n;
        return ferror(f) ? -1 : 0;
}

static int add_doc(json_t *out, const char *source, json_t *doc, k8c_error_t *err)
{
        if (!json_is_object(doc))
                return k8c_make_error(err, K8C_EBADREQUEST, "error: error validating \"%s\": not an object",
                                      source);
        const char *kind = json_string_value(json_object_get(doc, "kind"));
        if (kind != NULL && strlen(kind) >= 4 && strcmp(kind + strlen(kind) - 4, "List") == 0 &&
            json_is_array(json_object_get(doc, "items"))) {
                size_t i;
                json_t *it;
                json_array_foreach(json_object_get(doc, "items"), i, it)
                {
                        int r = add_doc(out, source, it, err);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (kind == NULL || json_object_get(doc, "apiVersion") == NULL)
                return k8c_make_error(
                        err, K8C_EBADREQUEST,
                        "error: error validating data: [apiVersion not set, kind not set]; file \"%s\"",
                        source);
        json_array_append_new(out, json_pack("{s:s, s:O}", "source", source, "object", doc));
        return 0;
}

static int read_one(struct k8c_cli *cli, const char *path, json_t *out, k8c_error_t *err)
{
        cleanup_fclose FILE *f = NULL;
        const char *shown = path;
        if (strcmp(path, "-") == 0) {
                if (cli->stdin_path != NULL) {
                        f = fopen(cli->stdin_path, "r");
                        if (f == NULL)
                                return k8c_make_error(err, K8C_EBADREQUEST, "error: %s: %s", cli->stdin_path,
                                                      strerror(errno));
                }
                shown = "STDIN";
        } else {
                f = fopen(path, "r");
                if (f == NULL)
                        return k8c_make_error(err, K8C_EBADREQUEST, "error: the path \"%s\" does not exist",
                                              path);
        }
        cleanup_free char *buf = NULL;
        size_t len = 0;
        if (k8c_cli_read_all(f != NULL ? f : stdin, &buf, &len) < 0)
                return k8c_make_error(err, K8C_EBADREQUEST, "error: reading %s: %s", shown, strerror(errno));
        json_auto_t *docs = NULL;
        cleanup_error k8c_error_t yerr = NULL;
        if (k8c_yaml_to_json_docs(buf, len, &docs, &yerr) < 0) {
                const char *m = k8c_error_msg(&yerr);
                int line = 0, col = 0, off = 0;
                if (sscanf(m, "yaml: line %d, column %d: %n", &line, &col, &off) == 2 && off > 0)
                        return k8c_make_error(err, K8C_EBADREQUEST, "error: %s:%d:%d: %s", shown, line, col,
                                              m + off);
                return k8c_make_error(err, K8C_EBADREQUEST, "error: %s: %s", shown, m);
        }
        size_t i;
        json_t *d;
        json_array_foreach(docs, i, d)
        {
                if (json_is_null(d))
                        continue;
                int r = add_doc(out, shown, d, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool manifest_ext(const char *name)
{
        size_t l = strlen(name);
        return (l > 5 && strcmp(name + l - 5, ".yaml") == 0) ||
               (l > 4 && strcmp(name + l - 4, ".yml") == 0) || (l > 5 && strcmp(name + l - 5, ".json") == 0);
}

static int read_path(struct k8c_cli *cli, const char *path, bool top, json_t *out, k8c_error_t *err)
{
        struct stat st;
        if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
                if (!top && !cli->recursive)
                        return 0;
                DIR *d = opendir(path);
                if (d == NULL)
                        return k8c_make_error(err, K8C_EBADREQUEST, "error: %s: %s", path, strerror(errno));
                char **names = NULL;
                size_t n = 0;
                struct dirent *de;
                while ((de = readdir(d)) != NULL) {
                        if (de->d_name[0] == '.')
                                continue;
                        names = k8c_xrealloc(names, sizeof(char *) * (n + 1));
                        names[n++] = k8c_xstrdup(de->d_name);
                }
                closedir(d);
                /* Lexical order, as kubectl walks directories. */
                qsort(names, n, sizeof(char *), cmp_names);
                int r = 0;
                for (size_t i = 0; i < n; i++) {
                        size_t pl = strlen(path);
                        cleanup_free char *full = k8c_xasprintf(
                                "%s%s%s", path, pl > 0 && path[pl - 1] == '/' ? "" : "/", names[i]);
                        struct stat cst;
                        bool dir = stat(full, &cst) == 0 && S_ISDIR(cst.st_mode);
                        if (r == 0 && (dir || manifest_ext(names[i])))
                                r = read_path(cli, full, false, out, err);
                        free(names[i]);
                }
                free(names);
                return r;
        }
        return read_one(cli, path, out, err);
}

int k8c_cli_read_manifests(struct k8c_cli *cli, json_t **ret_objects, k8c_error_t *err)
{
        if (cli->filenames == NULL)
                return k8c_make_error(err, K8C_EUSAGE, "error: must specify one of -f and -k");
        json_auto_t *out = json_array();
        for (char **f = cli->filenames; *f != NULL; f++) {
                int r = read_path(cli, *f, true, out, err);
                if (r < 0)
                        return r;
        }
        if (json_array_size(out) == 0)
                return k8c_make_error(err, K8C_EBADREQUEST, "error: no objects passed to %s", "the command");
        *ret_objects = k8c_steal(&out);
        return 0;
}

/* Where an object lives: its resource, namespace (checked against -n) and path. */
static int locate(struct k8c_cli *cli, json_t *obj, const json_t **ret_res, char **ret_ns, k8c_error_t *err)
{
        const json_t *res = NULL;
        int r = k8c_cli_resolve_kind(cli->resources, json_string_value(json_object_get(obj, "apiVersion")),
                                     json_string_value(json_object_get(obj, "kind")), &res, err);
        if (r < 0)
                return r;
        const char *ons = k8c_json_get_string(obj, "metadata.namespace");
        char *ns = NULL;
        if (json_is_true(json_object_get(res, "namespaced"))) {
                if (ons != NULL && cli->namespace_ != NULL && strcmp(ons, cli->namespace_) != 0)
                        return k8c_make_error(
                                err, K8C_EBADREQUEST,
                                "error: the namespace from the provided object \"%s\" does not match "
                                "the namespace \"%s\". You must pass '--namespace=%s' to perform "
                                "this operation.",
                                ons, cli->namespace_, ons);
                ns = k8c_xstrdup(ons != NULL ? ons : cli->ns);
        }
        *ret_res = res;
        *ret_ns = ns;
        return 0;
}

/* kubectl's "error when creating "FILE": " context for server errors. */
static int wrap_op(k8c_error_t *err, const char *op, const char *source)
{
        const char *m = k8c_error_msg(err);
        const char *pfx = "Error from server (";
        if (m != NULL && strncmp(m, pfx, strlen(pfx)) == 0) {
                const char *close = strstr(m, "): ");
                if (close != NULL) {
                        cleanup_free char *head = k8c_xstrndup(m, (size_t)(close - m) + 3);
                        cleanup_free char *tail = k8c_xstrdup(close + 3);
                        return k8c_make_error(err, k8c_error_reason(err), "%serror when %s \"%s\": %s", head,
                                              op, source, tail);
                }
        }
        return -(int)k8c_error_reason(err);
}

static int for_each_manifest(struct k8c_cli *cli, const char *verb,
                             int (*fn)(struct k8c_cli *, json_t *obj, const json_t *res, const char *ns,
                                       const char *source, k8c_error_t *err),
                             k8c_error_t *err)
{
        int r = k8c_cli_discover(cli, err);
        if (r < 0)
                return r;
        json_auto_t *docs = NULL;
        r = k8c_cli_read_manifests(cli, &docs, err);
        if (r < 0)
                return r;
        bool failed = false;
        size_t i;
        json_t *d;
        json_array_foreach(docs, i, d)
        {
                json_t *obj = json_object_get(d, "object");
                const char *source = json_string_value(json_object_get(d, "source"));
                const json_t *res = NULL;
                cleanup_free char *ns = NULL;
                cleanup_error k8c_error_t e = NULL;
                r = locate(cli, obj, &res, &ns, &e);
                if (r == 0)
                        r = fn(cli, obj, res, ns, source, &e);
                if (r < 0) {
                        if (k8c_error_reason(&e) == K8C_EUNAVAILABLE &&
                            strstr(k8c_error_msg(&e), "The connection") != NULL)
                                return k8c_make_error(err, K8C_EUNAVAILABLE, "%s", k8c_error_msg(&e));
                        if (verb != NULL)
                                wrap_op(&e, verb, source);
                        fprintf(cli->errout, "%s\n", k8c_error_msg(&e));
                        failed = true;
                }
        }
        return failed ? k8c_make_error(err, K8C_EBADREQUEST, "%s", "") : 0;
}

static void print_done(struct k8c_cli *cli, const json_t *res, const json_t *obj, const char *what)
{
        cleanup_free char *type = k8c_cli_type_name(res);
        if (cli->output != NULL && strcmp(cli->output, "name") == 0)
                fprintf(cli->out, "%s/%s\n", type, k8c_json_get_string(obj, "metadata.name"));
        else
                fprintf(cli->out, "%s/%s %s\n", type, k8c_json_get_string(obj, "metadata.name"), what);
}

static int create_one(struct k8c_cli *cli, json_t *obj, const json_t *res, const char *ns, const char *source,
                      k8c_error_t *err)
{
        cleanup_free char *base = k8c_cli_path(res, ns, NULL, NULL);
        cleanup_free char *path =
                k8c_xasprintf("%s?fieldManager=kubectl-create&fieldValidation=Strict", base);
        json_auto_t *created = NULL;
        int r = k8c_cli_request(cli, "POST", path, obj, NULL, &created, err);
        if (r < 0)
                return r;
        print_done(cli, res, created, "created");
        return 0;
}

int k8c_cli_create(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        if (nargs > 0)
                return k8c_cli_create_generated(cli, args, nargs, err);
        return for_each_manifest(cli, "creating", create_one, err);
}

static int replace_one(struct k8c_cli *cli, json_t *obj, const json_t *res, const char *ns,
                       const char *source, k8c_error_t *err)
{
        const char *name = k8c_json_get_string(obj, "metadata.name");
        cleanup_free char *path = k8c_cli_path(res, ns, name, NULL);
        json_auto_t *body = json_deep_copy(obj);
        if (k8c_json_get_string(body, "metadata.resourceVersion") == NULL) {
                /* kubectl replace without a resourceVersion replaces whatever is current. */
                json_auto_t *cur = NULL;
                int r = k8c_cli_request(cli, "GET", path, NULL, NULL, &cur, err);
                if (r < 0)
                        return r;
                const char *rv = k8c_json_get_string(cur, "metadata.resourceVersion");
                if (rv != NULL)
                        k8c_json_set_new(body, "metadata.resourceVersion", json_string(rv));
        }
        cleanup_free char *put =
                k8c_xasprintf("%s?fieldManager=kubectl-replace&fieldValidation=Strict", path);
        json_auto_t *out = NULL;
        int r = k8c_cli_request(cli, "PUT", put, body, NULL, &out, err);
        if (r < 0)
                return r;
        print_done(cli, res, out, "replaced");
        return 0;
}

int k8c_cli_replace(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        return for_each_manifest(cli, "replacing", replace_one, err);
}

/* ---- apply ---- */

/* The object as applied, with its own serialisation as the last-applied annotation (kubectl:
 * annotations without the old annotation, namespace filled in, sorted keys, trailing newline). */
static json_t *with_last_applied(const json_t *obj, const char *ns, char **ret_text)
{
        json_t *copy = json_deep_copy(obj);
        json_t *meta = k8c_json_object_ensure(copy, "metadata");
        if (ns != NULL && json_object_get(meta, "namespace") == NULL)
                json_object_set_new(meta, "namespace", json_string(ns));
        json_t *ann = k8c_json_object_ensure(meta, "annotations");
        json_object_del(ann, LAST_APPLIED);
        char *dump = k8c_cli_go_json(copy, JSON_COMPACT | JSON_SORT_KEYS);
        char *text = k8c_xasprintf("%s\n", dump);
        free(dump);
        json_object_set_new(ann, LAST_APPLIED, json_string(text));
        *ret_text = text;
        return copy;
}

static int apply_one(struct k8c_cli *cli, json_t *obj, const json_t *res, const char *ns, const char *source,
                     k8c_error_t *err)
{
        const char *name = k8c_json_get_string(obj, "metadata.name");
        if (name == NULL)
                return k8c_make_error(err, K8C_EBADREQUEST,
                                      "error: error when retrieving current configuration of:\n"
                                      "Resource: \"%s\", Name: \"\", Namespace: \"%s\"\nfrom "
                                      "server for: \"%s\": resource name may not be empty",
                                      json_string_value(json_object_get(res, "name")), ns != NULL ? ns : "",
                                      source);
        cleanup_free char *path = k8c_cli_path(res, ns, name, NULL);
        if (cli->server_side) {
                /* The server merges and owns fields (apply-patch, a JSON body is valid YAML). */
                cleanup_free char *ssa =
                        k8c_xasprintf("%s?fieldManager=kubectl&fieldValidation=Strict&force=%s", path,
                                      cli->force ? "true" : "false");
                json_auto_t *out = NULL;
                int r = k8c_cli_request(cli, "PATCH", ssa, obj, "application/apply-patch+yaml", &out, err);
                if (r < 0) {
                        wrap_op(err, "patching", source);
                        return r;
                }
                print_done(cli, res, out, "serverside-applied");
                return 0;
        }
        cleanup_free char *text = NULL;
        json_auto_t *modified = with_last_applied(obj, ns, &text);
        json_auto_t *cur = NULL;
        cleanup_error k8c_error_t gerr = NULL;
        int r = k8c_cli_request(cli, "GET", path, NULL, NULL, &cur, &gerr);
        if (r < 0 && k8c_error_reason(&gerr) != K8C_ENOTFOUND) {
                k8c_make_error(err, k8c_error_reason(&gerr), "%s", k8c_error_msg(&gerr));
                return r;
        }
        if (r < 0) {
                cleanup_free char *base = k8c_cli_path(res, ns, NULL, NULL);
                cleanup_free char *post = k8c_xasprintf(
                        "%s?fieldManager=kubectl-client-side-apply&fieldValidation=Strict", base);
                json_auto_t *created = NULL;
                r = k8c_cli_request(cli, "POST", post, modified, NULL, &created, err);
                if (r < 0) {
                        wrap_op(err, "creating", source);
                        return r;
                }
                print_done(cli, res, created, "created");
                return 0;
        }
        const char *orig_text = k8c_json_get_string(cur, "metadata.annotations[\"" LAST_APPLIED "\"]");
        json_auto_t *original = orig_text != NULL ? json_loads(orig_text, 0, NULL) : NULL;
        if (orig_text == NULL)
                fprintf(cli->errout,
                        "Warning: resource %s/%s is missing the " LAST_APPLIED
                        " annotation which is required by k8cctl apply. k8cctl apply should only be used on "
                        "resources created declaratively by either k8cctl create --save-config or k8cctl "
                        "apply. "
                        "The missing annotation will be patched automatically.\n",
                        json_string_value(json_object_get(res, "name")), name);
        json_auto_t *patch = k8c_cli_apply_patch(original, modified, cur);
        if (json_object_size(patch) == 0) {
                print_done(cli, res, cur, "unchanged");
                return 0;
        }
        cleanup_free char *ppath =
                k8c_xasprintf("%s?fieldManager=kubectl-client-side-apply&fieldValidation=Strict", path);
        json_auto_t *out = NULL;
        r = k8c_cli_request(cli, "PATCH", ppath, patch, "application/strategic-merge-patch+json", &out, err);
        if (r < 0) {
                wrap_op(err, "patching", source);
                return r;
        }
        print_done(cli, res, out, "configured");
        return 0;
}

int k8c_cli_apply(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        if (nargs > 0)
                return k8c_make_error(err, K8C_EUSAGE, "error: unknown command \"%s\" for \"k8cctl apply\"",
                                      args[0]);
        return for_each_manifest(cli, NULL, apply_one, err); /* apply_one words its own errors */
}

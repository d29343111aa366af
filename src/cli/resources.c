/*
 * resources.c - which resource a word on the command line means: discovery
 * (/api/v1, /apis, /apis/G/V) into one flat array, resolution by plural,
 * singular, short name, kind (any case) or "plural.group", the REST path of a
 * resource, and kubectl's argument forms (TYPE NAME, TYPE/NAME, T1,T2).
 *
 * It must not print; resolution is pure so unit tests feed canned discovery.
 */
#include "k8c/cli.h"

#include <string.h>
#include <strings.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"

static void add_list(json_t *out, const json_t *list, const char *group, const char *version)
{
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(list, "resources"), i, r)
        {
                const char *name = json_string_value(json_object_get(r, "name"));
                if (name == NULL || strchr(name, '/') != NULL)
                        continue; /* subresources are reached through their parent */
                json_t *e = json_deep_copy(r);
                json_object_set_new(e, "group", json_string(group));
                json_object_set_new(e, "version", json_string(version));
                json_array_append_new(out, e);
        }
}

int k8c_cli_discover(struct k8c_cli *cli, k8c_error_t *err)
{
        if (cli->resources != NULL)
                return 0;
        json_auto_t *out = json_array();
        json_auto_t *core = NULL;
        int r = k8c_cli_request(cli, "GET", "/api/v1", NULL, NULL, &core, err);
        if (r < 0)
                return r;
        add_list(out, core, "", "v1");
        json_auto_t *groups = NULL;
        r = k8c_cli_request(cli, "GET", "/apis", NULL, NULL, &groups, err);
        if (r < 0)
                return r;
        size_t i;
        json_t *g;
        json_array_foreach(json_object_get(groups, "groups"), i, g)
        {
                const char *gv = k8c_json_get_string(g, "preferredVersion.groupVersion");
                const char *gname = json_string_value(json_object_get(g, "name"));
                if (gv == NULL || gname == NULL)
                        continue;
                cleanup_free char *path = k8c_xasprintf("/apis/%s", gv);
                json_auto_t *list = NULL;
                r = k8c_cli_request(cli, "GET", path, NULL, NULL, &list, err);
                if (r < 0)
                        return r;
                const char *slash = strchr(gv, '/');
                add_list(out, list, gname, slash != NULL ? slash + 1 : gv);
        }
        cli->resources = k8c_steal(&out);
        return 0;
}

static bool eq(const json_t *r, const char *key, const char *word)
{
        const char *v = json_string_value(json_object_get(r, key));
        return v != NULL && strcmp(v, word) == 0;
}

static bool matches(const json_t *r, const char *word)
{
        if (eq(r, "name", word) || eq(r, "singularName", word))
                return true;
        const char *kind = json_string_value(json_object_get(r, "kind"));
        if (kind != NULL && strcasecmp(kind, word) == 0)
                return true;
        /* An empty singularName means the lower-case kind (as kubectl's RESTMapper assumes). */
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(r, "shortNames"), i,
                           s) if (json_is_string(s) && strcmp(json_string_value(s), word) == 0) return true;
        return false;
}

int k8c_cli_resolve(const json_t *resources, const char *word, const json_t **ret, k8c_error_t *err)
{
        cleanup_free char *lower = k8c_xstrdup(word);
        for (char *p = lower; *p != '\0'; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char)(*p - 'A' + 'a');
        size_t i;
        json_t *r;
        /* The core group comes first in the array, so pods beats any other group's pods. */
        json_array_foreach(resources, i, r) if (matches(r, lower) || matches(r, word))
        {
                *ret = r;
                return 0;
        }
        /* "deployments.apps", "deployment.apps", "hpa.autoscaling" */
        const char *dot = strchr(lower, '.');
        if (dot != NULL) {
                cleanup_free char *base = k8c_xstrndup(lower, (size_t)(dot - lower));
                json_array_foreach(resources, i, r)
                {
                        const char *group = json_string_value(json_object_get(r, "group"));
                        if (group != NULL && strcmp(group, dot + 1) == 0 && matches(r, base)) {
                                *ret = r;
                                return 0;
                        }
                }
        }
        return k8c_make_error(err, K8C_ENOTFOUND, "error: the server doesn't have a resource type \"%s\"",
                              word);
}

int k8c_cli_resolve_kind(const json_t *resources, const char *api_version, const char *kind,
                         const json_t **ret, k8c_error_t *err)
{
        if (api_version == NULL || kind == NULL)
                return k8c_make_error(err, K8C_EBADREQUEST,
                                      "error: unable to decode an object: Object 'Kind' is missing");
        const char *slash = strchr(api_version, '/');
        size_t glen = slash != NULL ? (size_t)(slash - api_version) : 0;
        const char *version = slash != NULL ? slash + 1 : api_version;
        size_t i;
        json_t *r;
        json_array_foreach(resources, i, r)
        {
                const char *g = json_string_value(json_object_get(r, "group"));
                if (g != NULL && strlen(g) == glen && strncmp(g, api_version, glen) == 0 &&
                    eq(r, "kind", kind) && eq(r, "version", version)) {
                        *ret = r;
                        return 0;
                }
        }
        /* Another served version of the same group still names the resource. */
        json_array_foreach(resources, i, r)
        {
                const char *g = json_string_value(json_object_get(r, "group"));
                if (g != NULL && strlen(g) == glen && strncmp(g, api_version, glen) == 0 &&
                    eq(r, "kind", kind)) {
                        *ret = r;
                        return 0;
                }
        }
        return k8c_make_error(err, K8C_ENOTFOUND,
                              "error: resource mapping not found for kind \"%s\" in version \"%s\": ensure "
                              "CRDs are installed first",
                              kind, api_version);
}

char *k8c_cli_path(const json_t *res, const char *ns, const char *name, const char *subresource)
{
        const char *group = json_string_value(json_object_get(res, "group"));
        const char *version = json_string_value(json_object_get(res, "version"));
        const char *plural = json_string_value(json_object_get(res, "name"));
        bool namespaced = json_is_true(json_object_get(res, "namespaced"));
        cleanup_free char *base = group == NULL || group[0] == '\0'
                                          ? k8c_xasprintf("/api/%s", version)
                                          : k8c_xasprintf("/apis/%s/%s", group, version);
        cleanup_free char *nspart =
                namespaced && ns != NULL ? k8c_xasprintf("/namespaces/%s", ns) : k8c_xstrdup("");
        return k8c_xasprintf("%s%s/%s%s%s%s%s", base, nspart, plural, name != NULL ? "/" : "",
                             name != NULL ? name : "", subresource != NULL ? "/" : "",
                             subresource != NULL ? subresource : "");
}

char *k8c_cli_type_name(const json_t *res)
{
        const char *group = json_string_value(json_object_get(res, "group"));
        const char *kind = json_string_value(json_object_get(res, "kind"));
        char *s = group != NULL && group[0] != '\0' ? k8c_xasprintf("%s.%s", kind, group) : k8c_xstrdup(kind);
        for (char *p = s; *p != '\0'; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char)(*p - 'A' + 'a');
        return s;
}

void k8c_cli_targets_free(struct k8c_cli_target *t, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(t[i].name);
        free(t);
}

static void push(struct k8c_cli_target **v, size_t *n, const json_t *res, const char *name)
{
        *v = k8c_xrealloc(*v, sizeof(**v) * (*n + 1));
        (*v)[*n].res = res;
        (*v)[*n].name = name != NULL ? k8c_xstrdup(name) : NULL;
        (*n)++;
}

/* Expands "all" (category) and comma lists into resources, appended to *types. */
static int types_of(const json_t *resources, const char *word, const json_t ***types, size_t *ntypes,
                    k8c_error_t *err)
{
        cleanup_free char *copy = k8c_xstrdup(word);
        char *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
                bool category = false;
                size_t i;
                json_t *r;
                json_array_foreach(resources, i, r)
                {
                        size_t j;
                        json_t *c;
                        json_array_foreach(json_object_get(r, "categories"), j, c)
                        {
                                if (json_is_string(c) && strcmp(json_string_value(c), t) == 0) {
                                        *types = k8c_xrealloc(*types, sizeof(**types) * (*ntypes + 1));
                                        (*types)[(*ntypes)++] = r;
                                        category = true;
                                }
                        }
                }
                if (category)
                        continue;
                const json_t *res = NULL;
                int rc = k8c_cli_resolve(resources, t, &res, err);
                if (rc < 0)
                        return rc;
                *types = k8c_xrealloc(*types, sizeof(**types) * (*ntypes + 1));
                (*types)[(*ntypes)++] = res;
        }
        return 0;
}

int k8c_cli_parse_targets(const json_t *resources, char **args, int nargs, struct k8c_cli_target **ret,
                          size_t *ret_n, k8c_error_t *err)
{
        struct k8c_cli_target *v = NULL;
        size_t n = 0;
        if (nargs == 0)
                return k8c_make_error(err, K8C_EUSAGE,
                                      "error: You must specify the type of resource to get. Use \"k8cctl "
                                      "api-resources\" for a complete list of supported resources.");
        if (strchr(args[0], '/') != NULL) {
                /* TYPE/NAME forms only */
                for (int i = 0; i < nargs; i++) {
                        const char *slash = strchr(args[i], '/');
                        if (slash == NULL) {
                                k8c_cli_targets_free(v, n);
                                return k8c_make_error(
                                        err, K8C_EUSAGE,
                                        "error: there is no need to specify a resource type as a "
                                        "separate argument when passing arguments in "
                                        "resource/name form (e.g. 'k8cctl get resource/<resource_name>' "
                                        "instead of 'k8cctl get resource resource/<resource_name>'");
                        }
                        cleanup_free char *type = k8c_xstrndup(args[i], (size_t)(slash - args[i]));
                        const json_t *res = NULL;
                        int r = k8c_cli_resolve(resources, type, &res, err);
                        if (r < 0) {
                                k8c_cli_targets_free(v, n);
                                return r;
                        }
                        push(&v, &n, res, slash + 1);
                }
        } else {
                cleanup_free const json_t **types = NULL;
                size_t ntypes = 0;
                int r = types_of(resources, args[0], &types, &ntypes, err);
                if (r < 0)
                        return r;
                for (size_t t = 0; t < ntypes; t++) {
                        if (nargs == 1)
                                push(&v, &n, types[t], NULL);
                        for (int i = 1; i < nargs; i++)
                                push(&v, &n, types[t], args[i]);
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int k8c_cli_targets(struct k8c_cli *cli, char **args, int nargs, struct k8c_cli_target **ret, size_t *ret_n,
                    k8c_error_t *err)
{
        int r = k8c_cli_discover(cli, err);
        if (r < 0)
                return r;
        return k8c_cli_parse_targets(cli->resources, args, nargs, ret, ret_n, err);
}

int k8c_cli_named_targets(struct k8c_cli *cli, char **args, int nargs, struct k8c_cli_target **ret,
                          size_t *ret_n, k8c_error_t *err)
{
        struct k8c_cli_target *t = NULL;
        size_t n = 0;
        int r = k8c_cli_targets(cli, args, nargs, &t, &n, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (t[i].name == NULL) {
                        k8c_cli_targets_free(t, n);
                        return k8c_make_error(err, K8C_EUSAGE,
                                              "error: resource(s) were provided, but no name was specified");
                }
        }
        *ret = t;
        *ret_n = n;
        return 0;
}

int k8c_cli_each_named_object(struct k8c_cli *cli, char **args, int nargs, k8c_cli_object_fn fn, void *opaque,
                              k8c_error_t *err)
{
        struct k8c_cli_target *t = NULL;
        size_t n = 0;
        int r = k8c_cli_named_targets(cli, args, nargs, &t, &n, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r == 0; i++) {
                cleanup_free char *path = k8c_cli_path(t[i].res, cli->ns, t[i].name, NULL);
                json_auto_t *obj = NULL;
                r = k8c_cli_request(cli, "GET", path, NULL, NULL, &obj, err);
                if (r == 0)
                        r = fn(cli, &t[i], obj, opaque, err);
        }
        k8c_cli_targets_free(t, n);
        return r;
}

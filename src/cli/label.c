/*
 * label.c - `k8cctl label` and `k8cctl annotate`: k=v sets, k- removes,
 * --overwrite, --all/-l, --resource-version precondition; sent as one JSON
 * merge patch of metadata.labels or metadata.annotations per object.
 *
 * It must not touch any other field of the objects.
 */
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"
#include "k8c/labels.h"

static bool is_change(const char *a)
{
        size_t l = strlen(a);
        return strchr(a, '=') != NULL || (l > 1 && a[l - 1] == '-');
}

/* Patches one object; prints "pod/web labeled" or "pod/web not labeled". */
static int change_one(struct k8c_cli *cli, const json_t *res, const char *ns, const char *name,
                      const char *field, const char *past, json_t *set, json_t *del, k8c_error_t *err)
{
        bool is_label = strcmp(field, "metadata.labels") == 0;
        cleanup_free char *path = k8c_cli_path(res, ns, name, NULL);
        json_auto_t *cur = NULL;
        int r = k8c_cli_request(cli, "GET", path, NULL, NULL, &cur, err);
        if (r < 0)
                return r;
        json_t *have = k8c_json_get(cur, field);
        json_auto_t *diff = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(set, k, v)
        {
                json_t *old = json_object_get(have, k);
                if (old != NULL && !json_equal(old, v)) {
                        if (!cli->overwrite)
                                return k8c_make_error(
                                        err, K8C_EBADREQUEST,
                                        "error: '%s' already has a value (%s), and --overwrite is false", k,
                                        json_string_value(old));
                }
                if (old == NULL || !json_equal(old, v))
                        json_object_set(diff, k, v);
        }
        size_t i;
        json_array_foreach(del, i, v)
        {
                if (json_object_get(have, json_string_value(v)) != NULL)
                        json_object_set_new(diff, json_string_value(v), json_null());
                else
                        fprintf(cli->out, "%s \"%s\" not found.\n", is_label ? "label" : "annotation",
                                json_string_value(v));
        }
        cleanup_free char *type = k8c_cli_type_name(res);
        if (json_object_size(diff) == 0 && cli->resource_version == NULL) {
                fprintf(cli->out, "%s/%s not %s\n", type, name, past);
                return 0;
        }
        json_auto_t *patch = json_object();
        k8c_json_set_new(patch, field, json_incref(diff));
        if (cli->resource_version != NULL)
                k8c_json_set_new(patch, "metadata.resourceVersion", json_string(cli->resource_version));
        /* kubectl says "unlabeled" when, without --overwrite, the object only got shorter. */
        json_auto_t *after = json_is_object(have) ? json_deep_copy(have) : json_object();
        json_object_foreach(diff, k, v)
        {
                if (json_is_null(v))
                        json_object_del(after, k);
                else
                        json_object_set(after, k, v);
        }
        cleanup_free char *s0 = have != NULL ? json_dumps(have, JSON_COMPACT) : k8c_xstrdup("{}");
        cleanup_free char *s1 = json_dumps(after, JSON_COMPACT);
        r = k8c_cli_request(cli, "PATCH", path, patch, "application/merge-patch+json", NULL, err);
        if (r < 0)
                return r;
        bool shorter = strlen(s1) < strlen(s0) && !cli->overwrite && is_label;
        fprintf(cli->out, "%s/%s %s\n", type, name, shorter ? "unlabeled" : past);
        return 0;
}

static int run(struct k8c_cli *cli, char **args, int nargs, const char *field, const char *past,
               bool is_label, k8c_error_t *err)
{
        int r = k8c_cli_discover(cli, err);
        if (r < 0)
                return r;
        json_auto_t *set = json_object();
        json_auto_t *del = json_array();
        cleanup_free char **rest = k8c_xcalloc((size_t)nargs + 1, sizeof(char *));
        int nrest = 0;
        for (int i = 0; i < nargs; i++) {
                if (!is_change(args[i]) || (i == 0)) {
                        rest[nrest++] = args[i];
                        continue;
                }
                const char *eq = strchr(args[i], '=');
                if (eq == NULL) {
                        json_array_append_new(del, json_stringn(args[i], strlen(args[i]) - 1));
                        continue;
                }
                cleanup_free char *key = k8c_xstrndup(args[i], (size_t)(eq - args[i]));
                cleanup_free char *msg = NULL;
                if (!k8c_label_key_valid(key, &msg) || (is_label && !k8c_label_value_valid(eq + 1, &msg)))
                        return k8c_make_error(err, K8C_EBADREQUEST, "error: invalid %s format: %s",
                                              is_label ? "label" : "annotation", args[i]);
                json_object_set_new(set, key, json_string(eq + 1));
        }
        if (json_object_size(set) == 0 && json_array_size(del) == 0)
                return k8c_make_error(err, K8C_EUSAGE, "error: at least one %s update is required",
                                      is_label ? "label" : "annotation");
        struct k8c_cli_target *t = NULL;
        size_t nt = 0;
        r = k8c_cli_parse_targets(cli->resources, rest, nrest, &t, &nt, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < nt && r == 0; i++) {
                if (t[i].name != NULL) {
                        r = change_one(cli, t[i].res, cli->ns, t[i].name, field, past, set, del, err);
                        continue;
                }
                if (!cli->all && cli->selector == NULL) {
                        r = k8c_make_error(err, K8C_EUSAGE,
                                           "error: resource(s) were provided, but no name was specified");
                        break;
                }
                const char *ns = cli->all_namespaces ? NULL : cli->ns;
                cleanup_free char *path = k8c_cli_path(t[i].res, ns, NULL, NULL);
                if (cli->selector != NULL) {
                        cleanup_free char *e = k8c_url_escape(cli->selector);
                        char *p = k8c_xasprintf("%s?labelSelector=%s", path, e);
                        free(path);
                        path = p;
                }
                json_auto_t *list = NULL;
                r = k8c_cli_request(cli, "GET", path, NULL, NULL, &list, err);
                size_t j;
                json_t *it;
                json_array_foreach(json_object_get(list, "items"), j, it)
                {
                        if (r < 0)
                                break;
                        r = change_one(cli, t[i].res, k8c_json_get_string(it, "metadata.namespace"),
                                       k8c_json_get_string(it, "metadata.name"), field, past, set, del, err);
                }
        }
        k8c_cli_targets_free(t, nt);
        return r;
}

int k8c_cli_label(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        return run(cli, args, nargs, "metadata.labels", "labeled", true, err);
}

int k8c_cli_annotate(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        return run(cli, args, nargs, "metadata.annotations", "annotated", false, err);
}

/*
 * patch.c - applying PATCH bodies to a JSON object: JSON merge patch (RFC
 * 7386), strategic merge patch (Kubernetes' list-merge-by-key rules for the
 * lists kubectl apply relies on, and the $patch / $setElementOrder /
 * $retainKeys / $deleteFromPrimitiveList directives), and JSON patch (RFC
 * 6902). Pure functions on jansson values; no storage, no HTTP.
 *
 * The merge keys are a small table keyed by the list's field name, which is
 * what Kubernetes' struct tags amount to for the core kinds.
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"

/* ---- JSON merge patch ---------------------------------------------------------- */

static json_t *merge_patch(json_t *target, const json_t *patch)
{
        if (!json_is_object(patch))
                return json_deep_copy(patch);
        json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)patch, k, v)
        {
                if (json_is_null(v)) {
                        json_object_del(out, k);
                        continue;
                }
                json_object_set_new(out, k, merge_patch(json_object_get(out, k), v));
        }
        return out;
}

/* ---- strategic merge patch -------------------------------------------------------- */

/* The merge key of a list field, or NULL when the list is replaced (or a set, see below). */
static const char *merge_key(const char *field, const char *parent)
{
        static const struct {
                const char *field, *key;
        } keys[] = {
                { "containers", "name" },
                { "initContainers", "name" },
                { "ephemeralContainers", "name" },
                { "env", "name" },
                { "volumes", "name" },
                { "imagePullSecrets", "name" },
                { "volumeMounts", "mountPath" },
                { "volumeDevices", "devicePath" },
                { "conditions", "type" },
                { "ownerReferences", "uid" },
                { "tolerations", "key" },
                { "hostAliases", "ip" },
                { "topologySpreadConstraints", "topologyKey" },
                { "readinessGates", "conditionType" },
                { "taints", "key" },
                { "addresses", "type" },
                { "containerStatuses", "name" },
                { "initContainerStatuses", "name" },
        };
        if (strcmp(field, "ports") == 0)
                /* Container ports merge by containerPort, Service ports by port. */
                return parent != NULL && strcmp(parent, "spec") == 0 ? "port" : "containerPort";
        for (size_t i = 0; i < K8C_ARRAY_SIZE(keys); i++)
                if (strcmp(keys[i].field, field) == 0)
                        return keys[i].key;
        return NULL;
}

static bool is_set_list(const char *field)
{
        return strcmp(field, "finalizers") == 0;
}

static json_t *smp(json_t *target, const json_t *patch, const char *parent);

static json_t *find_by_key(json_t *arr, const char *key, const json_t *val, size_t *ret_idx)
{
        size_t i;
        json_t *it;
        json_array_foreach(arr, i, it)
        {
                if (json_equal(json_object_get(it, key), (json_t *)val)) {
                        if (ret_idx != NULL)
                                *ret_idx = i;
                        return it;
                }
        }
        return NULL;
}

static json_t *merge_list(const json_t *target, const json_t *patch, const char *field, const char *key)
{
        json_t *out = json_is_array(target) ? json_deep_copy(target) : json_array();
        size_t i;
        json_t *p;
        /* "$patch: replace" anywhere in the patch list replaces the whole list. */
        json_array_foreach((json_t *)patch, i, p)
        {
                const char *d = json_string_value(json_object_get(p, "$patch"));
                if (d != NULL && strcmp(d, "replace") == 0) {
                        json_decref(out);
                        out = json_array();
                        size_t j;
                        json_t *q;
                        json_array_foreach((json_t *)patch, j, q)
                        {
                                if (json_object_get(q, "$patch") == NULL)
                                        json_array_append(out, q);
                        }
                        return out;
                }
        }
        json_array_foreach((json_t *)patch, i, p)
        {
                if (!json_is_object(p)) {
                        json_array_append(out, p);
                        continue;
                }
                const json_t *kv = json_object_get(p, key);
                const char *d = json_string_value(json_object_get(p, "$patch"));
                size_t idx = 0;
                json_t *cur = kv != NULL ? find_by_key(out, key, kv, &idx) : NULL;
                if (d != NULL && strcmp(d, "delete") == 0) {
                        if (cur != NULL)
                                json_array_remove(out, idx);
                        continue;
                }
                if (cur != NULL)
                        json_array_set_new(out, idx, smp(cur, p, field));
                else
                        json_array_append_new(out, smp(NULL, p, field));
        }
        return out;
}

static json_t *smp(json_t *target, const json_t *patch, const char *parent)
{
        if (!json_is_object(patch))
                return json_deep_copy(patch);
        const char *d = json_string_value(json_object_get(patch, "$patch"));
        if (d != NULL && strcmp(d, "replace") == 0) {
                json_t *out = json_deep_copy(patch);
                json_object_del(out, "$patch");
                return out;
        }
        json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
        json_t *retain = json_object_get(patch, "$retainKeys");
        if (json_is_array(retain)) {
                const char *k;
                json_t *v;
                void *tmp;
                json_object_foreach_safe(out, tmp, k, v)
                {
                        bool keep = false;
                        size_t i;
                        json_t *r;
                        json_array_foreach(retain, i, r)
                        {
                                if (json_is_string(r) && strcmp(json_string_value(r), k) == 0)
                                        keep = true;
                        }
                        if (!keep)
                                json_object_del(out, k);
                }
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)patch, k, v)
        {
                if (k[0] == '$') {
                        static const char del[] = "$deleteFromPrimitiveList/";
                        if (strncmp(k, del, sizeof(del) - 1) == 0 && json_is_array(v)) {
                                json_t *list = json_object_get(out, k + sizeof(del) - 1);
                                size_t i;
                                json_t *x;
                                json_array_foreach(v, i, x)
                                {
                                        for (size_t j = json_array_size(list); j-- > 0;)
                                                if (json_equal(json_array_get(list, j), x))
                                                        json_array_remove(list, j);
                                }
                        }
                        continue; /* $setElementOrder, $patch, $retainKeys: order/handled above */
                }
                if (json_is_null(v)) {
                        json_object_del(out, k);
                        continue;
                }
                json_t *cur = json_object_get(out, k);
                if (json_is_array(v)) {
                        const char *key = merge_key(k, parent);
                        if (key != NULL) {
                                json_object_set_new(out, k, merge_list(cur, v, k, key));
                        } else if (is_set_list(k)) {
                                json_t *set = json_is_array(cur) ? json_deep_copy(cur) : json_array();
                                size_t i;
                                json_t *x;
                                json_array_foreach(v, i, x)
                                {
                                        bool have = false;
                                        size_t j;
                                        json_t *y;
                                        json_array_foreach(set, j, y)
                                        {
                                                if (json_equal(x, y))
                                                        have = true;
                                        }
                                        if (!have)
                                                json_array_append(set, x);
                                }
                                json_object_set_new(out, k, set);
                        } else {
                                json_object_set_new(out, k, json_deep_copy(v));
                        }
                        continue;
                }
                json_object_set_new(out, k, smp(cur, v, k));
        }
        return out;
}

/* ---- JSON patch ------------------------------------------------------------------- */

/* Resolves an RFC 6901 pointer to (parent, last token). */
static int pointer_parent(json_t *root, const char *ptr, json_t **ret_parent, char **ret_last)
{
        if (ptr[0] != '/')
                return -1;
        cleanup_free char *copy = k8c_xstrdup(ptr + 1);
        json_t *cur = root;
        char *tok = copy;
        for (;;) {
                char *slash = strchr(tok, '/');
                /* Unescape ~1 → / and ~0 → ~ in place. */
                char *w = tok;
                for (char *r = tok; *r != '\0' && r != slash; r++) {
                        if (r[0] == '~' && r[1] == '1') {
                                *w++ = '/';
                                r++;
                        } else if (r[0] == '~' && r[1] == '0') {
                                *w++ = '~';
                                r++;
                        } else {
                                *w++ = *r;
                        }
                }
                if (slash == NULL) {
                        *w = '\0';
                        *ret_parent = cur;
                        *ret_last = k8c_xstrdup(tok);
                        return 0;
                }
                *w = '\0';
                if (json_is_object(cur))
                        cur = json_object_get(cur, tok);
                else if (json_is_array(cur))
                        cur = json_array_get(cur, strtoul(tok, NULL, 10));
                else
                        return -1;
                if (cur == NULL)
                        return -1;
                tok = slash + 1;
        }
}

static json_t *pointer_get(json_t *root, const char *ptr)
{
        if (ptr[0] == '\0')
                return root;
        json_t *parent;
        cleanup_free char *last = NULL;
        if (pointer_parent(root, ptr, &parent, &last) < 0)
                return NULL;
        if (json_is_object(parent))
                return json_object_get(parent, last);
        if (json_is_array(parent))
                return json_array_get(parent, strtoul(last, NULL, 10));
        return NULL;
}

static int json_patch_apply(json_t *doc, const json_t *ops, k8c_error_t *err)
{
        if (!json_is_array(ops))
                return k8c_make_error(err, K8C_EBADREQUEST, "the JSON patch must be an array of operations");
        size_t i;
        json_t *op;
        json_array_foreach((json_t *)ops, i, op)
        {
                const char *o = json_string_value(json_object_get(op, "op"));
                const char *path = json_string_value(json_object_get(op, "path"));
                json_t *value = json_object_get(op, "value");
                if (o == NULL || path == NULL)
                        return k8c_make_error(err, K8C_EBADREQUEST,
                                              "JSON patch operation %zu lacks op or path", i);
                if (strcmp(o, "test") == 0) {
                        json_t *cur = pointer_get(doc, path);
                        if (cur == NULL || !json_equal(cur, value))
                                return k8c_make_error(err, K8C_EINVALID, "the JSON patch test at %s failed",
                                                      path);
                        continue;
                }
                json_t *moved = NULL;
                if (strcmp(o, "move") == 0 || strcmp(o, "copy") == 0) {
                        const char *from = json_string_value(json_object_get(op, "from"));
                        json_t *src = from != NULL ? pointer_get(doc, from) : NULL;
                        if (src == NULL)
                                return k8c_make_error(err, K8C_EINVALID, "JSON patch: missing from %s",
                                                      from != NULL ? from : "");
                        moved = json_deep_copy(src);
                        if (strcmp(o, "move") == 0) {
                                json_t *fp;
                                cleanup_free char *fl = NULL;
                                pointer_parent(doc, from, &fp, &fl);
                                if (json_is_object(fp))
                                        json_object_del(fp, fl);
                                else
                                        json_array_remove(fp, strtoul(fl, NULL, 10));
                        }
                        value = moved;
                        o = "add";
                }
                json_t *parent;
                cleanup_free char *last = NULL;
                if (pointer_parent(doc, path, &parent, &last) < 0) {
                        json_decref(moved);
                        return k8c_make_error(err, K8C_EINVALID, "JSON patch: path %s does not exist", path);
                }
                int r = 0;
                if (strcmp(o, "remove") == 0) {
                        r = json_is_object(parent) ? json_object_del(parent, last)
                                                   : json_array_remove(parent, strtoul(last, NULL, 10));
                } else if (strcmp(o, "add") == 0 || strcmp(o, "replace") == 0) {
                        if (value == NULL)
                                r = -1;
                        else if (json_is_object(parent))
                                r = json_object_set(parent, last, value);
                        else if (json_is_array(parent) && strcmp(last, "-") == 0)
                                r = json_array_append(parent, value);
                        else if (json_is_array(parent) && strcmp(o, "add") == 0)
                                r = json_array_insert(parent, strtoul(last, NULL, 10), value);
                        else if (json_is_array(parent))
                                r = json_array_set(parent, strtoul(last, NULL, 10), value);
                        else
                                r = -1;
                } else {
                        r = -1;
                }
                json_decref(moved);
                if (r != 0)
                        return k8c_make_error(err, K8C_EINVALID, "JSON patch operation %s at %s failed", o,
                                              path);
        }
        return 0;
}

int k8c_patch_apply(const char *content_type, const json_t *old, const char *body, size_t len, json_t **ret,
                    k8c_error_t *err)
{
        json_error_t jerr;
        json_auto_t *patch = json_loadb(body, len, 0, &jerr);
        if (patch == NULL)
                return k8c_make_error(err, K8C_EBADREQUEST, "json parse error: line %d, column %d: %s",
                                      jerr.line, jerr.column, jerr.text);
        if (strncmp(content_type, "application/json-patch+json", 27) == 0) {
                json_t *doc = json_deep_copy(old);
                int r = json_patch_apply(doc, patch, err);
                if (r < 0) {
                        json_decref(doc);
                        return r;
                }
                *ret = doc;
                return 0;
        }
        if (!json_is_object(patch))
                return k8c_make_error(err, K8C_EBADREQUEST, "the patch must be a JSON object");
        if (strncmp(content_type, "application/merge-patch+json", 28) == 0) {
                *ret = merge_patch((json_t *)old, patch);
                return 0;
        }
        if (strncmp(content_type, "application/strategic-merge-patch+json", 38) == 0 ||
            strncmp(content_type, "application/apply-patch+yaml", 28) == 0) {
                *ret = smp((json_t *)old, patch, NULL);
                return 0;
        }
        return k8c_make_error(
                err, K8C_EUNSUPPORTEDMEDIATYPE,
                "the body of the request was in an unknown format - accepted media types include: "
                "application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml, application/strategic-merge-patch+json");
}

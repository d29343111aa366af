/*
 * smpatch.c - the three-way strategic merge patch of client-side apply, as
 * kubectl's CreateThreeWayMergePatch computes it: the changes from the live
 * object to the manifest (never deleting what the live object has beyond the
 * manifest, such as server defaults), plus the deletions from the last
 * applied configuration to the manifest. Lists with a Kubernetes merge key
 * (containers by name, container ports by containerPort, ...) are diffed
 * element by element, with $patch: delete and $setElementOrder directives;
 * metadata.finalizers is a merged primitive list ($deleteFromPrimitiveList);
 * other lists are replaced whole.
 *
 * Pure functions: the apiserver applies the patch.
 */
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"

struct diff_opts {
        bool ignore_deletions;   /* current → modified: keep what the live object has more */
        bool ignore_add_changes; /* original → modified: only what the manifest dropped */
};

/* The merge key of a list field, NULL for lists that are replaced whole. */
static const char *merge_key(const char *field, const json_t *a, const json_t *b)
{
        static const char *const by_name[] = { "containers", "initContainers",   "ephemeralContainers", "env",
                                               "volumes",    "imagePullSecrets", "resourceClaims" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(by_name); i++)
                if (strcmp(field, by_name[i]) == 0)
                        return "name";
        if (strcmp(field, "ports") == 0) {
                /* Container ports merge by containerPort, Service ports by port. */
                const json_t *lists[] = { a, b };
                for (size_t l = 0; l < 2; l++) {
                        size_t i;
                        json_t *e;
                        json_array_foreach(lists[l], i, e) if (json_object_get(e, "containerPort") !=
                                                               NULL) return "containerPort";
                }
                return "port";
        }
        if (strcmp(field, "volumeMounts") == 0)
                return "mountPath";
        if (strcmp(field, "volumeDevices") == 0)
                return "devicePath";
        if (strcmp(field, "conditions") == 0)
                return "type";
        if (strcmp(field, "ownerReferences") == 0)
                return "uid";
        if (strcmp(field, "hostAliases") == 0)
                return "ip";
        if (strcmp(field, "topologySpreadConstraints") == 0)
                return "topologyKey";
        return NULL;
}

static bool primitive_merge_list(const char *field)
{
        return strcmp(field, "finalizers") == 0;
}

/* true when every field of want is present and equal in have (server defaults ignored). */
static bool subset(const json_t *want, const json_t *have)
{
        if (json_is_object(want)) {
                if (!json_is_object(have))
                        return false;
                const char *k;
                json_t *v;
                json_object_foreach((json_t *)want, k,
                                    v) if (!subset(v, json_object_get(have, k))) return false;
                return true;
        }
        if (json_is_array(want)) {
                if (!json_is_array(have) || json_array_size(want) != json_array_size(have))
                        return false;
                for (size_t i = 0; i < json_array_size(want); i++)
                        if (!subset(json_array_get(want, i), json_array_get(have, i)))
                                return false;
                return true;
        }
        if (json_is_number(want) && json_is_number(have))
                return json_number_value(want) == json_number_value(have);
        return json_equal(want, have);
}

/* Every element of list must be an object holding the key, for an element-wise diff. */
static bool keyed(const json_t *list, const char *key)
{
        size_t i;
        json_t *e;
        json_array_foreach(list, i,
                           e) if (!json_is_object(e) || json_object_get(e, key) == NULL) return false;
        return true;
}

static json_t *find_by_key(const json_t *list, const char *key, const json_t *value)
{
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e) if (json_equal(json_object_get(e, key), value)) return e;
        return NULL;
}

static json_t *diff_maps(const json_t *from, const json_t *to, const struct diff_opts *o);

/* The element patches of a keyed list (with the key in each), deletions as $patch: delete. */
static void diff_keyed_list(json_t *patch, const char *field, const char *key, const json_t *from,
                            const json_t *to, const struct diff_opts *o)
{
        json_auto_t *items = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(to, i, e)
        {
                json_t *prev = find_by_key(from, key, json_object_get(e, key));
                if (prev == NULL) {
                        if (!o->ignore_add_changes)
                                json_array_append(items, e);
                        continue;
                }
                json_t *sub = diff_maps(prev, e, o);
                if (json_object_size(sub) > 0) {
                        json_object_set(sub, key, json_object_get(e, key));
                        json_array_append_new(items, sub);
                } else {
                        json_decref(sub);
                }
        }
        if (!o->ignore_deletions) {
                json_array_foreach(from, i, e) if (find_by_key(to, key, json_object_get(e, key)) == NULL)
                        json_array_append_new(items, json_pack("{s:O, s:s}", key, json_object_get(e, key),
                                                               "$patch", "delete"));
        }
        /* The order of the manifest's elements, when the list changes or is not the same list of
         * keys in the same order (kubectl's isOrderSame: a live list with more elements counts). */
        bool reordered = false;
        if (!o->ignore_add_changes) {
                reordered = json_array_size(from) != json_array_size(to);
                for (size_t k = 0; !reordered && k < json_array_size(to); k++)
                        reordered = !json_equal(json_object_get(json_array_get(from, k), key),
                                                json_object_get(json_array_get(to, k), key));
        }
        if (json_array_size(items) == 0 && !reordered)
                return;
        json_t *order = json_array();
        json_array_foreach(to, i, e)
                json_array_append_new(order, json_pack("{s:O}", key, json_object_get(e, key)));
        cleanup_free char *dir = k8c_xasprintf("$setElementOrder/%s", field);
        json_object_set_new(patch, dir, order);
        if (json_array_size(items) > 0)
                json_object_set(patch, field, items);
}

/* A merged primitive list (finalizers): additions as the list, removals as
 * $deleteFromPrimitiveList, the wanted order as $setElementOrder. */
static void diff_primitive_list(json_t *patch, const char *field, const json_t *from, const json_t *to,
                                const struct diff_opts *o)
{
        json_auto_t *added = json_array(), *removed = json_array();
        size_t i, j;
        json_t *e, *x;
        json_array_foreach(to, i, e)
        {
                bool found = false;
                json_array_foreach(from, j, x) found = found || json_equal(e, x);
                if (!found && !o->ignore_add_changes)
                        json_array_append(added, e);
        }
        json_array_foreach(from, i, e)
        {
                bool found = false;
                json_array_foreach(to, j, x) found = found || json_equal(e, x);
                if (!found && !o->ignore_deletions)
                        json_array_append(removed, e);
        }
        bool same_order = json_equal(from, to);
        if (json_array_size(added) == 0 && json_array_size(removed) == 0 &&
            (o->ignore_add_changes || same_order))
                return;
        cleanup_free char *order = k8c_xasprintf("$setElementOrder/%s", field);
        json_object_set(patch, order, (json_t *)to);
        if (json_array_size(added) > 0)
                json_object_set(patch, field, added);
        if (json_array_size(removed) > 0) {
                cleanup_free char *del = k8c_xasprintf("$deleteFromPrimitiveList/%s", field);
                json_object_set(patch, del, removed);
        }
}

static json_t *diff_maps(const json_t *from, const json_t *to, const struct diff_opts *o)
{
        json_t *patch = json_object();
        const char *k;
        json_t *t;
        json_object_foreach((json_t *)to, k, t)
        {
                json_t *f = json_object_get(from, k);
                if (f == NULL) {
                        if (!o->ignore_add_changes)
                                json_object_set(patch, k, t);
                        continue;
                }
                if (json_is_object(t) && json_is_object(f)) {
                        json_t *sub = diff_maps(f, t, o);
                        if (json_object_size(sub) > 0)
                                json_object_set_new(patch, k, sub);
                        else
                                json_decref(sub);
                        continue;
                }
                if (json_is_array(t) && json_is_array(f)) {
                        const char *key = merge_key(k, f, t);
                        if (key != NULL && keyed(f, key) && keyed(t, key)) {
                                diff_keyed_list(patch, k, key, f, t, o);
                                continue;
                        }
                        if (primitive_merge_list(k)) {
                                diff_primitive_list(patch, k, f, t, o);
                                continue;
                        }
                }
                /* Scalars and replaced lists; a list the live object holds with server defaults
                 * added to its elements is not a change. */
                if (!o->ignore_add_changes && !subset(t, f))
                        json_object_set(patch, k, t);
        }
        if (!o->ignore_deletions) {
                json_object_foreach((json_t *)from, k, t) if (json_object_get(to, k) == NULL)
                        json_object_set_new(patch, k, json_null());
        }
        return patch;
}

/* Merges the deletions patch into the delta patch (the delta wins; keyed element patches of the
 * same element are merged). Consumes nothing; returns a new object. */
static json_t *merge_patches(const json_t *deletions, const json_t *delta)
{
        json_t *out = json_deep_copy(deletions);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)delta, k, v)
        {
                json_t *d = json_object_get(out, k);
                if (json_is_object(v) && json_is_object(d)) {
                        json_object_set_new(out, k, merge_patches(d, v));
                        continue;
                }
                if (json_is_array(v) && json_is_array(d)) {
                        const char *key = merge_key(k, d, v);
                        if (key != NULL && keyed(d, key) && keyed(v, key)) {
                                json_t *merged = json_deep_copy(d);
                                size_t i;
                                json_t *e;
                                json_array_foreach(v, i, e)
                                {
                                        json_t *same = find_by_key(merged, key, json_object_get(e, key));
                                        if (same != NULL) {
                                                json_t *both = merge_patches(same, e);
                                                json_object_clear(same);
                                                json_object_update(same, both);
                                                json_decref(both);
                                        } else {
                                                json_array_append(merged, e);
                                        }
                                }
                                json_object_set_new(out, k, merged);
                                continue;
                        }
                }
                json_object_set(out, k, v);
        }
        return out;
}

json_t *k8c_cli_apply_patch(const json_t *original, const json_t *modified, const json_t *current)
{
        static const struct diff_opts delta_opts = { .ignore_deletions = true };
        static const struct diff_opts deletion_opts = { .ignore_add_changes = true };
        json_auto_t *delta = diff_maps(current, modified, &delta_opts);
        json_auto_t *deletions =
                original != NULL ? diff_maps(original, modified, &deletion_opts) : json_object();
        return merge_patches(deletions, delta);
}

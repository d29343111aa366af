/*
 * managedfields.c - server-side apply field ownership: metadata.managedFields.
 *
 * Every write records which manager set which fields, as Kubernetes does, in
 * the FieldsV1 set format: a tree of "f:<field>", "k:{<list keys>}" (items of
 * lists merged by key), "v:<value>" (items of sets) and "." (the node itself),
 * with {} leaves. Entries are per (manager, operation Apply|Update,
 * subresource).
 *
 *  - Update (create, PUT, merge/JSON/strategic PATCH, status writes): the
 *    fields the write changed become the writer's and are taken from the other
 *    managers. Never a conflict.
 *  - Apply (application/apply-patch+yaml): the applied configuration's fields
 *    become the applier's whole set. Changing a value another manager owns is
 *    a conflict (409 with one FieldManagerConflict cause per field) unless
 *    force=true, which moves those fields to the applier. Fields the applier
 *    owned before and no longer applies, and nobody else owns, are removed.
 *
 * The schema knowledge (which objects are free-form maps, which lists merge by
 * which keys, which are atomic) is the small table below, for the built-in
 * kinds; everything else is a struct or an atomic list. It must not touch
 * storage or the request: rest.c decides who writes and with what operation.
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"
#include "k8c/names.h"

typedef enum { F_LEAF, F_STRUCT, F_MAP, F_ASSOC, F_SET } ftype_t;

static const char *const name_keys[] = { "name", NULL };
static const char *const cport_keys[] = { "containerPort", "protocol", NULL };
static const char *const sport_keys[] = { "port", "protocol", NULL };
static const char *const mount_keys[] = { "mountPath", NULL };
static const char *const type_keys[] = { "type", NULL };
static const char *const uid_keys[] = { "uid", NULL };
static const char *const ip_keys[] = { "ip", NULL };

static bool in(const char *s, const char *const *set)
{
        for (; *set != NULL; set++)
                if (strcmp(s, *set) == 0)
                        return true;
        return false;
}

/* The type of field name (inside field parent) holding v, and for keyed lists their keys. */
static ftype_t type_of(const char *kind, const char *parent, const char *name, const json_t *v,
                       const char *const **ret_keys)
{
        static const char *const maps[] = { "labels",   "annotations", "nodeSelector", "limits",
                                            "requests", "binaryData",  "stringData",   NULL };
        static const char *const by_name[] = {
                "containers", "initContainers", "ephemeralContainers", "volumes", "env", "imagePullSecrets",
                NULL
        };
        *ret_keys = NULL;
        if (json_is_object(v)) {
                /* LabelSelectors are atomic structs. */
                if (json_object_get(v, "matchLabels") != NULL ||
                    json_object_get(v, "matchExpressions") != NULL)
                        return F_LEAF;
                if (in(name, maps) || (strcmp(name, "data") == 0 && parent[0] == '\0') ||
                    (strcmp(name, "selector") == 0 && strcmp(kind, "Service") == 0 &&
                     strcmp(parent, "spec") == 0))
                        return F_MAP;
                if (strcmp(name, "selector") == 0 &&
                    (strcmp(kind, "Deployment") == 0 || strcmp(kind, "ReplicaSet") == 0))
                        return F_LEAF;
                return F_STRUCT;
        }
        if (!json_is_array(v))
                return F_LEAF;
        if (strcmp(name, "finalizers") == 0 && strcmp(parent, "metadata") == 0)
                return F_SET;
        if (in(name, by_name))
                *ret_keys = name_keys;
        else if (strcmp(name, "ports") == 0)
                *ret_keys = (strcmp(parent, "containers") == 0 || strcmp(parent, "initContainers") == 0 ||
                             strcmp(parent, "ephemeralContainers") == 0)
                                    ? cport_keys
                                    : sport_keys;
        else if (strcmp(name, "volumeMounts") == 0)
                *ret_keys = mount_keys;
        else if (strcmp(name, "conditions") == 0)
                *ret_keys = type_keys;
        else if (strcmp(name, "ownerReferences") == 0)
                *ret_keys = uid_keys;
        else if (strcmp(name, "hostAliases") == 0)
                *ret_keys = ip_keys;
        return *ret_keys != NULL ? F_ASSOC : F_LEAF;
}

/* "k:{...}" for a keyed list item (keys in their (alphabetical) order; a port's protocol defaults
 * to TCP as the server defaults it), or NULL when the item has none of its keys. */
static char *item_key(const json_t *item, const char *const *keys)
{
        json_auto_t *k = json_object();
        for (const char *const *p = keys; *p != NULL; p++) {
                json_t *v = json_object_get(item, *p);
                if (v == NULL && strcmp(*p, "protocol") == 0)
                        json_object_set_new(k, *p, json_string("TCP"));
                else if (v != NULL)
                        json_object_set(k, *p, v);
        }
        if (json_object_size(k) == 0 || !json_is_object(item))
                return NULL;
        cleanup_free char *s = json_dumps(k, JSON_COMPACT);
        return k8c_xasprintf("k:%s", s);
}

static char *value_key(const json_t *v)
{
        cleanup_free char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        return k8c_xasprintf("v:%s", s != NULL ? s : "null");
}

static json_t *fs_struct(const char *kind, const char *name, const json_t *obj, bool dot);

/* o["f:<k>"] = v (stolen), without an allocation for the usual short keys. */
static void set_field(json_t *o, const char *k, json_t *v)
{
        char buf[256];
        size_t n = strlen(k);
        if (n + 3 <= sizeof(buf)) {
                buf[0] = 'f';
                buf[1] = ':';
                memcpy(buf + 2, k, n + 1);
                json_object_set_new(o, buf, v);
                return;
        }
        cleanup_free char *fk = k8c_xasprintf("f:%s", k);
        json_object_set_new(o, fk, v);
}

/* The field set of value v of field name (in parent). dot: mark new maps and lists themselves
 * (what an Update that adds them owns), as Kubernetes' Update entries show. */
static json_t *fs_of(const char *kind, const char *parent, const char *name, const json_t *v, bool dot)
{
        const char *const *keys;
        ftype_t t = type_of(kind, parent, name, v, &keys);
        json_t *o = json_object();
        size_t i;
        json_t *it;
        switch (t) {
        case F_LEAF: break;
        case F_STRUCT: json_decref(o); return fs_struct(kind, name, v, dot);
        case F_MAP: {
                const char *k;
                json_t *c;
                if (dot && json_object_size(v) > 0)
                        json_object_set_new(o, ".", json_object());
                json_object_foreach((json_t *)v, k, c) set_field(o, k, fs_of(kind, name, k, c, dot));
                break;
        }
        case F_ASSOC:
                /* containers is never empty (not omitempty): Kubernetes does not mark it itself. */
                if (dot && json_array_size(v) > 0 && strcmp(name, "containers") != 0)
                        json_object_set_new(o, ".", json_object());
                json_array_foreach(v, i, it)
                {
                        cleanup_free char *k = item_key(it, keys);
                        if (k == NULL)
                                continue;
                        json_t *s = fs_struct(kind, name, it, dot);
                        json_object_set_new(s, ".", json_object());
                        json_object_set_new(o, k, s);
                }
                break;
        case F_SET:
                if (dot && json_array_size(v) > 0)
                        json_object_set_new(o, ".", json_object());
                json_array_foreach(v, i, it)
                {
                        cleanup_free char *k = value_key(it);
                        json_object_set_new(o, k, json_object());
                }
                break;
        }
        return o;
}

static json_t *fs_struct(const char *kind, const char *name, const json_t *obj, bool dot)
{
        json_t *o = json_object();
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)obj, k, c) set_field(o, k, fs_of(kind, name, k, c, dot));
        return o;
}

/* The parts of an object whose ownership is tracked: not apiVersion/kind, not the server's own
 * metadata, and status only for status writes. A new reference. */
static json_t *tracked(const json_t *obj, bool status)
{
        static const char *const meta_skip[] = { "name",
                                                 "namespace",
                                                 "uid",
                                                 "resourceVersion",
                                                 "generation",
                                                 "creationTimestamp",
                                                 "deletionTimestamp",
                                                 "deletionGracePeriodSeconds",
                                                 "selfLink",
                                                 "managedFields",
                                                 NULL };
        json_t *o = json_object();
        if (!json_is_object(obj))
                return o;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)obj, k, v)
        {
                if (strcmp(k, "apiVersion") == 0 || strcmp(k, "kind") == 0 ||
                    (strcmp(k, "status") == 0) != status)
                        continue;
                if (strcmp(k, "metadata") == 0) {
                        json_t *md = json_object();
                        const char *mk;
                        json_t *mv;
                        json_object_foreach(v, mk, mv)
                        {
                                if (!in(mk, meta_skip))
                                        json_object_set(md, mk, mv);
                        }
                        if (json_object_size(md) > 0)
                                json_object_set_new(o, k, md);
                        else
                                json_decref(md);
                        continue;
                }
                json_object_set(o, k, v);
        }
        return o;
}

/* ---- set operations on FieldsV1 trees ------------------------------------------ */

static json_t *find_item(const json_t *list, const char *key, const char *const *keys)
{
        size_t i;
        json_t *it;
        json_array_foreach(list, i, it)
        {
                cleanup_free char *k = item_key(it, keys);
                if (k != NULL && strcmp(k, key) == 0)
                        return it;
        }
        return NULL;
}

/* The fields of n that differ from o (added or changed values), or NULL when none. Removed
 * fields are not in it (sets are pruned to the new object afterwards). */
static json_t *fs_changed(const char *kind, const char *parent, const char *name, const json_t *o,
                          const json_t *n)
{
        if (o == NULL)
                return fs_of(kind, parent, name, n, true);
        if (json_equal((json_t *)o, (json_t *)n))
                return NULL;
        const char *const *keys, *const *okeys;
        ftype_t t = type_of(kind, parent, name, n, &keys);
        if (t != type_of(kind, parent, name, o, &okeys))
                return fs_of(kind, parent, name, n, true);
        json_t *out = json_object();
        size_t i;
        json_t *it;
        switch (t) {
        case F_LEAF: return out;
        case F_STRUCT:
        case F_MAP: {
                const char *k;
                json_t *c;
                json_object_foreach((json_t *)n, k, c)
                {
                        json_t *d = fs_changed(kind, name, k, json_object_get(o, k), c);
                        if (d != NULL)
                                set_field(out, k, d);
                }
                break;
        }
        case F_ASSOC:
                json_array_foreach(n, i, it)
                {
                        cleanup_free char *k = item_key(it, keys);
                        if (k == NULL)
                                continue;
                        const json_t *old = find_item(o, k, keys);
                        json_t *d;
                        if (old == NULL) {
                                d = fs_struct(kind, name, it, true);
                                json_object_set_new(d, ".", json_object());
                        } else {
                                d = fs_changed(kind, parent, name, old, it);
                                /* item structs compare as structs of the list's field */
                                if (d != NULL && json_object_size(d) == 0) {
                                        json_decref(d);
                                        d = NULL;
                                }
                        }
                        if (d != NULL)
                                json_object_set_new(out, k, d);
                }
                break;
        case F_SET:
                json_array_foreach(n, i, it)
                {
                        bool found = false;
                        size_t j;
                        json_t *ov;
                        json_array_foreach(o, j, ov) found |= json_equal(ov, it);
                        if (!found) {
                                cleanup_free char *k = value_key(it);
                                json_object_set_new(out, k, json_object());
                        }
                }
                break;
        }
        if (json_object_size(out) == 0) {
                json_decref(out);
                return NULL;
        }
        return out;
}

/* a ∪ b, into a. */
static void fs_union(json_t *a, const json_t *b)
{
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)b, k, v)
        {
                json_t *av = json_object_get(a, k);
                if (av == NULL)
                        json_object_set_new(a, k, json_deep_copy(v));
                else
                        fs_union(av, v);
        }
}

/* a − b, in a: a leaf of b takes a's whole subtree there. Nodes emptied by it go too. */
static void fs_subtract(json_t *a, const json_t *b)
{
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(a, tmp, k, v)
        {
                json_t *bv = json_object_get(b, k);
                if (bv == NULL)
                        continue;
                if (json_object_size(bv) == 0) {
                        json_object_del(a, k);
                        continue;
                }
                if (json_object_size(v) == 0)
                        continue; /* a owns the node as a leaf; b only parts below it */
                fs_subtract(v, bv);
                if (json_object_size(v) == 0)
                        json_object_del(a, k);
        }
}

/* Keeps only the paths of a that exist in live (the set of the object as it now is). */
static void fs_prune(json_t *a, const json_t *live)
{
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(a, tmp, k, v)
        {
                if (strcmp(k, ".") == 0)
                        continue;
                json_t *lv = json_object_get(live, k);
                if (lv == NULL) {
                        json_object_del(a, k);
                        continue;
                }
                if (json_object_size(v) == 0)
                        continue;
                fs_prune(v, lv);
                if (json_object_size(v) == 0)
                        json_object_del(a, k);
        }
}

/* ".spec.containers[name=\"web\"].image" for the path elements of a set. */
static char *path_append(const char *prefix, const char *elem)
{
        if (strncmp(elem, "f:", 2) == 0)
                return k8c_xasprintf("%s.%s", prefix, elem + 2);
        if (strncmp(elem, "v:", 2) == 0)
                return k8c_xasprintf("%s[=%s]", prefix, elem + 2);
        if (strncmp(elem, "k:", 2) == 0) {
                json_auto_t *k = json_loads(elem + 2, 0, NULL);
                cleanup_free char *inner = NULL;
                const char *f;
                json_t *v;
                json_object_foreach(k, f, v)
                {
                        cleanup_free char *vs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                        char *n = k8c_xasprintf("%s%s%s=%s", inner != NULL ? inner : "",
                                                inner != NULL ? "," : "", f, vs != NULL ? vs : "");
                        free(inner);
                        inner = n;
                }
                return k8c_xasprintf("%s[%s]", prefix, inner != NULL ? inner : "");
        }
        return k8c_xstrdup(prefix);
}

struct conflict {
        char *manager; /* as printed: "\"mgr\"" or "\"mgr\" using v1 at T" */
        char *sortkey; /* the manager name, for grouping */
        char *path;
};

struct conflicts {
        struct conflict *v;
        size_t n;
};

/* Paths where changed and owned meet: a leaf of either side is one conflict. */
static void intersect(const json_t *changed, const json_t *owned, const char *prefix, const char *mgr,
                      const char *sortkey, struct conflicts *out)
{
        const char *k;
        json_t *cv;
        json_object_foreach((json_t *)changed, k, cv)
        {
                if (strcmp(k, ".") == 0)
                        continue;
                json_t *ov = json_object_get(owned, k);
                if (ov == NULL)
                        continue;
                cleanup_free char *p = path_append(prefix, k);
                bool ov_leaf = json_object_size(ov) == 0 ||
                               (json_object_size(ov) == 1 && json_object_get(ov, ".") != NULL);
                if (json_object_size(cv) == 0 || ov_leaf) {
                        if (json_object_size(cv) != 0 && json_object_size(ov) != 0)
                                continue; /* owns only the item itself; changes are below it */
                        out->v = k8c_xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
                        out->v[out->n++] =
                                (struct conflict){ k8c_xstrdup(mgr), k8c_xstrdup(sortkey), k8c_steal(&p) };
                        continue;
                }
                intersect(cv, ov, p, mgr, sortkey, out);
        }
}

/* ---- entries --------------------------------------------------------------------- */

static const char *entry_str(const json_t *e, const char *key)
{
        const char *s = json_string_value(json_object_get(e, key));
        return s != NULL ? s : "";
}

static bool same_entry(const json_t *e, const char *manager, const char *op, const char *sub)
{
        return strcmp(entry_str(e, "manager"), manager) == 0 && strcmp(entry_str(e, "operation"), op) == 0 &&
               strcmp(entry_str(e, "subresource"), sub != NULL ? sub : "") == 0;
}

static int entry_cmp(const void *pa, const void *pb)
{
        const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
        int c = strcmp(entry_str(a, "operation"), entry_str(b, "operation"));
        if (c != 0)
                return c;
        c = strcmp(entry_str(a, "time"), entry_str(b, "time"));
        if (c != 0)
                return c;
        c = strcmp(entry_str(a, "manager"), entry_str(b, "manager"));
        if (c != 0)
                return c;
        c = strcmp(entry_str(a, "apiVersion"), entry_str(b, "apiVersion"));
        return c != 0 ? c : strcmp(entry_str(a, "subresource"), entry_str(b, "subresource"));
}

/* A copy of old's entries that are well-formed. */
static json_t *entries_of(const json_t *old)
{
        json_t *out = json_array();
        json_t *mf = json_object_get(json_object_get(old, "metadata"), "managedFields");
        size_t i;
        json_t *e;
        json_array_foreach(mf, i, e)
        {
                if (json_is_object(e) && json_is_string(json_object_get(e, "manager")) &&
                    json_is_object(json_object_get(e, "fieldsV1")))
                        json_array_append_new(out, json_deep_copy(e));
        }
        return out;
}

static json_t *entry_new(const struct k8c_mf_writer *w, const char *op, json_t *set, time_t now)
{
        char ts[32];
        k8c_rfc3339(now, ts, sizeof(ts));
        json_t *e = json_object();
        json_object_set_new(e, "manager", json_string(w->manager));
        json_object_set_new(e, "operation", json_string(op));
        json_object_set_new(e, "apiVersion", json_string(w->api_version));
        json_object_set_new(e, "time", json_string(ts));
        json_object_set_new(e, "fieldsType", json_string("FieldsV1"));
        json_object_set_new(e, "fieldsV1", set);
        if (w->subresource != NULL && w->subresource[0] != '\0')
                json_object_set_new(e, "subresource", json_string(w->subresource));
        return e;
}

/* Prunes the part of every entry a write could change (f:status for status writes, the rest
 * otherwise) to the object as it now is, drops empty entries, sorts them as Kubernetes does
 * (Apply before Update, then by time, manager, ...) and stores them in obj. */
static void entries_store(json_t *obj, json_t *entries, const json_t *live_set, bool status)
{
        size_t n = 0;
        json_t **v = k8c_xcalloc(json_array_size(entries) + 1, sizeof(*v));
        size_t i;
        json_t *e;
        json_array_foreach(entries, i, e)
        {
                json_t *set = json_object_get(e, "fieldsV1");
                const char *k;
                json_t *sv;
                void *tmp;
                json_object_foreach_safe(set, tmp, k, sv)
                {
                        if ((strcmp(k, "f:status") == 0) != status)
                                continue;
                        json_t *lv = json_object_get(live_set, k);
                        if (lv == NULL) {
                                json_object_del(set, k);
                                continue;
                        }
                        if (json_object_size(sv) == 0)
                                continue;
                        fs_prune(sv, lv);
                        if (json_object_size(sv) == 0)
                                json_object_del(set, k);
                }
                if (json_object_size(set) > 0)
                        v[n++] = e;
        }
        qsort(v, n, sizeof(*v), entry_cmp);
        json_t *arr = json_array();
        for (i = 0; i < n; i++)
                json_array_append(arr, v[i]);
        free(v);
        json_t *md = json_object_get(obj, "metadata");
        if (!json_is_object(md))
                return;
        if (json_array_size(arr) > 0)
                json_object_set_new(md, "managedFields", arr);
        else {
                json_decref(arr);
                json_object_del(md, "managedFields");
        }
}

static bool is_status(const struct k8c_mf_writer *w)
{
        return w->subresource != NULL && strcmp(w->subresource, "status") == 0;
}

void k8c_managed_fields_update(json_t *obj, const json_t *old, const struct k8c_mf_writer *w, time_t now)
{
        bool status = is_status(w);
        if (old == NULL) {
                /* A create: the writer owns everything it made; there is nobody to take from. */
                json_auto_t *n = tracked(obj, status);
                json_t *set = fs_of(w->kind, "", "", n, true);
                json_t *md = json_object_get(obj, "metadata");
                if (json_object_size(set) == 0 || !json_is_object(md)) {
                        json_decref(set);
                        return;
                }
                json_t *arr = json_array();
                json_array_append_new(arr, entry_new(w, "Update", set, now));
                json_object_set_new(md, "managedFields", arr);
                return;
        }
        json_auto_t *entries = entries_of(old);
        json_auto_t *o = old != NULL ? tracked(old, status) : NULL;
        json_auto_t *n = tracked(obj, status);
        json_auto_t *changed = fs_changed(w->kind, "", "", o, n);
        if (changed == NULL && json_equal(o, n)) {
                /* Nothing changed, nothing was removed: the entries stay as they are. */
                json_t *md = json_object_get(obj, "metadata");
                if (json_is_object(md) && json_array_size(entries) > 0)
                        json_object_set(md, "managedFields", entries);
                else if (json_is_object(md))
                        json_object_del(md, "managedFields");
                return;
        }
        if (changed != NULL && json_object_size(changed) > 0) {
                json_t *mine = NULL;
                size_t i;
                json_t *e;
                json_array_foreach(entries, i, e)
                {
                        if (same_entry(e, w->manager, "Update", w->subresource))
                                mine = e;
                        else
                                fs_subtract(json_object_get(e, "fieldsV1"), changed);
                }
                if (mine == NULL) {
                        json_array_append_new(entries, entry_new(w, "Update", json_incref(changed), now));
                } else {
                        fs_union(json_object_get(mine, "fieldsV1"), changed);
                        char ts[32];
                        k8c_rfc3339(now, ts, sizeof(ts));
                        json_object_set_new(mine, "time", json_string(ts));
                        json_object_set_new(mine, "apiVersion", json_string(w->api_version));
                }
        }
        /* Only the part this write can change (status, or all but status) is pruned. */
        json_auto_t *live = fs_of(w->kind, "", "", n, true);
        entries_store(obj, entries, live, status);
}

static int conflict_cmp(const void *pa, const void *pb)
{
        const struct conflict *a = pa, *b = pb;
        return strcmp(a->sortkey, b->sortkey);
}

static char *manager_printed(const json_t *e)
{
        const char *op = entry_str(e, "operation");
        const char *sub = entry_str(e, "subresource");
        cleanup_free char *m = NULL;
        json_auto_t *name = json_string(entry_str(e, "manager"));
        cleanup_free char *q = json_dumps(name, JSON_ENCODE_ANY);
        m = sub[0] != '\0' ? k8c_xasprintf("%s with subresource \"%s\"", q, sub) : k8c_xstrdup(q);
        if (strcmp(op, "Update") == 0) {
                const char *t = entry_str(e, "time");
                if (t[0] == '\0')
                        return k8c_xasprintf("%s using %s", m, entry_str(e, "apiVersion"));
                return k8c_xasprintf("%s using %s at %s", m, entry_str(e, "apiVersion"), t);
        }
        return k8c_steal(&m);
}

int k8c_managed_fields_apply(json_t *obj, const json_t *old, const json_t *config,
                             const struct k8c_mf_writer *w, time_t now, json_t **ret_causes, k8c_error_t *err)
{
        bool status = is_status(w);
        json_auto_t *entries = entries_of(old);
        json_auto_t *cfg = tracked(config, status);
        json_auto_t *applied = fs_of(w->kind, "", "", cfg, false);
        json_auto_t *o = old != NULL ? tracked(old, status) : NULL;
        json_auto_t *n = tracked(obj, status);

        /* Fields the applier owned and no longer applies, owned by nobody else, go. */
        json_t *prev = NULL;
        json_auto_t *others = json_object();
        size_t i;
        json_t *e;
        json_array_foreach(entries, i, e)
        {
                if (same_entry(e, w->manager, "Apply", w->subresource))
                        prev = e;
                else
                        fs_union(others, json_object_get(e, "fieldsV1"));
        }
        if (prev != NULL) {
                json_auto_t *gone = json_deep_copy(json_object_get(prev, "fieldsV1"));
                fs_subtract(gone, applied);
                fs_subtract(gone, others);
                if (json_object_size(gone) > 0) {
                        k8c_fields_remove(obj, gone, w->kind);
                        json_decref(n);
                        n = tracked(obj, status);
                }
        }

        /* What the apply changes, against what the others own. */
        json_auto_t *changed = fs_changed(w->kind, "", "", o, n);
        struct conflicts cs = { 0 };
        if (changed != NULL) {
                json_array_foreach(entries, i, e)
                {
                        if (e == prev)
                                continue;
                        cleanup_free char *mgr = manager_printed(e);
                        intersect(changed, json_object_get(e, "fieldsV1"), "", mgr, entry_str(e, "manager"),
                                  &cs);
                }
        }
        int r = 0;
        if (cs.n > 0 && !w->force) {
                qsort(cs.v, cs.n, sizeof(*cs.v), conflict_cmp);
                json_t *causes = json_array();
                cleanup_free char *msg = NULL;
                for (size_t c = 0; c < cs.n; c++) {
                        cleanup_free char *cm = k8c_xasprintf("conflict with %s", cs.v[c].manager);
                        json_array_append_new(causes,
                                              json_pack("{s:s, s:s, s:s}", "reason", "FieldManagerConflict",
                                                        "message", cm, "field", cs.v[c].path));
                }
                if (cs.n == 1) {
                        msg = k8c_xasprintf("Apply failed with 1 conflict: conflict with %s: %s",
                                            cs.v[0].manager, cs.v[0].path);
                } else {
                        msg = k8c_xasprintf("Apply failed with %zu conflicts: ", cs.n);
                        for (size_t c = 0; c < cs.n; c++) {
                                bool first = c == 0 || strcmp(cs.v[c].sortkey, cs.v[c - 1].sortkey) != 0;
                                char *m2 = first ? k8c_xasprintf("%s%sconflicts with %s:\n- %s", msg,
                                                                 c == 0 ? "" : "\n", cs.v[c].manager,
                                                                 cs.v[c].path)
                                                 : k8c_xasprintf("%s\n- %s", msg, cs.v[c].path);
                                free(msg);
                                msg = m2;
                        }
                }
                *ret_causes = causes;
                r = k8c_make_error(err, K8C_ECONFLICT, "%s", msg);
        }
        for (size_t c = 0; c < cs.n; c++) {
                free(cs.v[c].manager);
                free(cs.v[c].sortkey);
                free(cs.v[c].path);
        }
        free(cs.v);
        if (r < 0)
                return r;

        /* Forced (or unowned) changes leave the other managers. */
        if (changed != NULL) {
                json_array_foreach(entries, i, e)
                {
                        if (e != prev)
                                fs_subtract(json_object_get(e, "fieldsV1"), changed);
                }
        }
        if (prev != NULL) {
                /* An apply that changes nothing (same fields, same values) leaves its entry as it
                 * was, so the object stays the same and is not written again. */
                if (changed != NULL || !json_equal(json_object_get(prev, "fieldsV1"), applied)) {
                        json_object_set(prev, "fieldsV1", applied);
                        char ts[32];
                        k8c_rfc3339(now, ts, sizeof(ts));
                        json_object_set_new(prev, "time", json_string(ts));
                        json_object_set_new(prev, "apiVersion", json_string(w->api_version));
                }
        } else {
                json_array_append_new(entries, entry_new(w, "Apply", json_incref(applied), now));
        }
        json_auto_t *live = fs_of(w->kind, "", "", n, true);
        entries_store(obj, entries, live, status);
        return 0;
}

/* Removes from obj every field of set (a FieldsV1 tree relative to obj). */
static void remove_in(json_t *v, const json_t *set, const char *kind, const char *parent, const char *name)
{
        const char *k;
        json_t *sub;
        json_object_foreach((json_t *)set, k, sub)
        {
                if (strcmp(k, ".") == 0)
                        continue;
                if (json_is_object(v) && strncmp(k, "f:", 2) == 0) {
                        json_t *child = json_object_get(v, k + 2);
                        if (child == NULL)
                                continue;
                        if (json_object_size(sub) == 0)
                                json_object_del(v, k + 2);
                        else
                                remove_in(child, sub, kind, name, k + 2);
                        continue;
                }
                if (!json_is_array(v))
                        continue;
                const char *const *keys;
                ftype_t t = type_of(kind, parent, name, v, &keys);
                size_t i;
                json_t *it;
                json_array_foreach(v, i, it)
                {
                        bool match = false;
                        if (t == F_ASSOC && strncmp(k, "k:", 2) == 0) {
                                cleanup_free char *ik = item_key(it, keys);
                                match = ik != NULL && strcmp(ik, k) == 0;
                        } else if (t == F_SET && strncmp(k, "v:", 2) == 0) {
                                cleanup_free char *vk = value_key(it);
                                match = strcmp(vk, k) == 0;
                        }
                        if (!match)
                                continue;
                        if (json_object_size(sub) == 0 || json_object_get(sub, ".") != NULL)
                                json_array_remove(v, i);
                        else
                                remove_in(it, sub, kind, name, name);
                        break;
                }
        }
}

void k8c_fields_remove(json_t *obj, const json_t *set, const char *kind)
{
        remove_in(obj, set, kind, "", "");
}

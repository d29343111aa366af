/*
 * json.c - thin helpers over jansson: parsing with line/column errors, compact
 * dumps, and dotted-path access (a.b[0]["key.with.dots"]).
 *
 * Owns no codec: every byte of JSON is read and written by jansson. Must not
 * log or keep state between calls.
 */
#include "k8c/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"

int k8c_json_parse(const char *buf, size_t len, json_t **ret, k8c_error_t *err)
{
        json_error_t jerr;
        /* DECODE_ANY: callers may legitimately parse a bare value (a patch,
         * a string field); the EOF check stays on so trailing garbage fails.
         * No JSON_ALLOW_NUL: a "\u0000" inside a name would let C string
         * handling see a different (truncated) value than the one validated. */
        json_t *v = json_loadb(buf != NULL ? buf : "", buf != NULL ? len : 0, JSON_DECODE_ANY, &jerr);
        if (v == NULL)
                return k8c_make_error(err, K8C_EBADREQUEST, "invalid JSON at line %d, column %d: %s",
                                      jerr.line > 0 ? jerr.line : 1, jerr.column > 0 ? jerr.column : 1,
                                      jerr.text);
        *ret = v;
        return 0;
}

/* Fewest significant digits (1..17) with which "%.*g" reads back as d, but
 * at least the digits of the integer part so 100.0 prints as 100.0, not 1e2. */
static int shortest_precision(double d)
{
        char tmp[40];
        int min = 1;
        double a = fabs(d);
        while (min < 17 && a >= 10.0) {
                a /= 10.0;
                min++;
        }
        for (int p = min; p < 17; p++) {
                snprintf(tmp, sizeof(tmp), "%.*g", p, d);
                if (strtod(tmp, NULL) == d)
                        return p;
        }
        return 17;
}

static int max_real_precision(const json_t *v, int depth)
{
        int best = 0;
        if (depth > 4096)
                return 17;
        if (json_is_real(v)) {
                double d = json_real_value(v);
                return isfinite(d) ? shortest_precision(d) : 17;
        }
        if (json_is_object(v)) {
                const char *k;
                json_t *c;
                json_object_foreach((json_t *)v, k, c)
                {
                        int p = max_real_precision(c, depth + 1);
                        if (p > best)
                                best = p;
                }
        } else if (json_is_array(v)) {
                size_t i;
                json_t *c;
                json_array_foreach(v, i, c)
                {
                        int p = max_real_precision(c, depth + 1);
                        if (p > best)
                                best = p;
                }
        }
        return best;
}

char *k8c_json_dumps(const json_t *v)
{
        if (v == NULL)
                return k8c_xstrdup("null");
        /* jansson prints reals with 17 digits (0.1 -> 0.10000000000000001).
         * Go prints the shortest form that reads back exactly; the nearest
         * jansson offers is one precision per dump, so use the largest
         * precision any real in the tree needs (usually none are present). */
        size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
        int p = max_real_precision(v, 0);
        if (p > 0)
                flags |= JSON_REAL_PRECISION(p);
        char *s = json_dumps(v, flags);
        if (s == NULL) /* only on allocation failure or a reference cycle */
                return k8c_xstrdup("null");
        return s;
}

/* ---- paths ---------------------------------------------------------------- */

enum seg_kind { SEG_KEY, SEG_INDEX };

struct seg {
        enum seg_kind kind;
        char *key; /* SEG_KEY, owned */
        size_t index;
};

static void segs_free(struct seg *segs, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(segs[i].key);
        free(segs);
}

/* Splits a path into segments. Returns the count, or -1 if the path is malformed. */
/* The digits and closing bracket of an index, p just past its '[': the position after the ']',
 * or NULL when that is not what follows (or the number overflows). */
static const char *parse_index(const char *p, size_t *ret_idx)
{
        if (*p < '0' || *p > '9')
                return NULL;
        size_t idx = 0;
        while (*p >= '0' && *p <= '9') {
                if (idx > (SIZE_MAX - 9) / 10)
                        return NULL;
                idx = idx * 10 + (size_t)(*p - '0');
                p++;
        }
        if (*p != ']')
                return NULL;
        *ret_idx = idx;
        return p + 1;
}

static ssize_t parse_path(const char *path, struct seg **ret_segs)
{
        size_t n = 0, cap = 4;
        struct seg *segs = k8c_xcalloc(cap, sizeof(*segs));
        const char *p = path;
        bool need_key = true; /* at the start and after '.' a bare key must follow */

        if (path == NULL || *path == '\0')
                goto fail;
        while (*p != '\0') {
                if (n == cap) {
                        cap *= 2;
                        segs = k8c_xrealloc(segs, cap * sizeof(*segs));
                }
                if (*p == '[') {
                        p++;
                        if (*p == '"' || *p == '\'') {
                                char q = *p++;
                                size_t blen = 0;
                                char *key = k8c_xmalloc(strlen(p) + 1);
                                while (*p != '\0' && *p != q) {
                                        if (*p == '\\' && (p[1] == q || p[1] == '\\'))
                                                p++;
                                        key[blen++] = *p++;
                                }
                                key[blen] = '\0';
                                if (*p != q || p[1] != ']') {
                                        free(key);
                                        goto fail;
                                }
                                p += 2;
                                segs[n++] = (struct seg){ .kind = SEG_KEY, .key = key };
                        } else {
                                size_t idx = 0;
                                if ((p = parse_index(p, &idx)) == NULL)
                                        goto fail;
                                segs[n++] = (struct seg){ .kind = SEG_INDEX, .index = idx };
                        }
                        need_key = false;
                        continue;
                }
                if (*p == '.') {
                        if (need_key)
                                goto fail;
                        p++;
                        need_key = true;
                        /* a.["x"] is accepted as a["x"] */
                        if (*p == '\0' || *p == '.')
                                goto fail;
                        continue;
                }
                if (!need_key)
                        goto fail; /* a[0]b */
                size_t l = strcspn(p, ".[");
                segs[n++] = (struct seg){ .kind = SEG_KEY, .key = k8c_xstrndup(p, l) };
                p += l;
                need_key = false;
        }
        if (need_key)
                goto fail;
        *ret_segs = segs;
        return (ssize_t)n;
fail:
        segs_free(segs, n);
        return -1;
}

/* The common paths (bare keys and [N] indexes, no quoted keys) walked in place: the same result as
 * parse_path + the walk below, without allocating (hot in the proxy's and controllers' loops).
 * Returns false for anything else, including malformed paths, which the full parser then rejects. */
static bool get_in_place(const json_t *root, const char *path, json_t **ret)
{
        const json_t *cur = root;
        const char *p = path;
        bool need_key = true;
        if (p == NULL || *p == '\0')
                return false;
        while (*p != '\0') {
                if (*p == '[') {
                        size_t idx = 0;
                        /* Not an index: a quoted key (or malformed), for the full parser. */
                        if ((p = parse_index(p + 1, &idx)) == NULL)
                                return false;
                        cur = json_is_array(cur) ? json_array_get(cur, idx) : NULL;
                        need_key = false;
                        continue;
                }
                if (*p == '.') {
                        if (need_key)
                                return false;
                        p++;
                        need_key = true;
                        if (*p == '\0' || *p == '.')
                                return false;
                        continue;
                }
                if (!need_key)
                        return false;
                size_t l = strcspn(p, ".[");
                cur = json_is_object(cur) ? json_object_getn(cur, p, l) : NULL;
                p += l;
                need_key = false;
        }
        if (need_key)
                return false;
        *ret = (json_t *)cur;
        return true;
}

json_t *k8c_json_get(const json_t *root, const char *path)
{
        json_t *fast = NULL;
        if (get_in_place(root, path, &fast))
                return fast;
        struct seg *segs = NULL;
        ssize_t n = parse_path(path, &segs);
        if (n < 0)
                return NULL;
        json_t *cur = (json_t *)root;
        for (ssize_t i = 0; i < n && cur != NULL; i++) {
                if (segs[i].kind == SEG_KEY)
                        cur = json_is_object(cur) ? json_object_get(cur, segs[i].key) : NULL;
                else
                        cur = json_is_array(cur) ? json_array_get(cur, segs[i].index) : NULL;
        }
        segs_free(segs, (size_t)n);
        return cur;
}

const char *k8c_json_get_string(const json_t *root, const char *path)
{
        json_t *v = k8c_json_get(root, path);
        return json_is_string(v) ? json_string_value(v) : NULL;
}

json_int_t k8c_json_get_int(const json_t *root, const char *path, json_int_t def)
{
        json_t *v = k8c_json_get(root, path);
        return json_is_integer(v) ? json_integer_value(v) : def;
}

bool k8c_json_get_bool(const json_t *root, const char *path, bool def)
{
        json_t *v = k8c_json_get(root, path);
        return json_is_boolean(v) ? json_is_true(v) : def;
}

int k8c_json_set_new(json_t *root, const char *path, json_t *value)
{
        json_auto_t *owned = value; /* released on every failure path */
        struct seg *segs = NULL;
        ssize_t n = parse_path(path, &segs);
        if (n < 0 || value == NULL)
                goto fail;
        json_t *cur = root;
        for (ssize_t i = 0; i < n; i++) {
                bool last = i == n - 1;
                if (segs[i].kind == SEG_KEY) {
                        if (!json_is_object(cur))
                                goto fail;
                        if (last) {
                                json_object_set_new(cur, segs[i].key, k8c_steal(&owned));
                                break;
                        }
                        json_t *next = json_object_get(cur, segs[i].key);
                        if (next == NULL) {
                                /* Only objects are created: an index into a
                                 * missing array has no defined length. */
                                if (segs[i + 1].kind != SEG_KEY)
                                        goto fail;
                                next = json_object();
                                json_object_set_new(cur, segs[i].key, next);
                        }
                        cur = next;
                } else {
                        if (!json_is_array(cur) || segs[i].index > json_array_size(cur))
                                goto fail;
                        if (last) {
                                /* index == size appends, anything below replaces */
                                if (segs[i].index == json_array_size(cur))
                                        json_array_append_new(cur, k8c_steal(&owned));
                                else
                                        json_array_set_new(cur, segs[i].index, k8c_steal(&owned));
                                break;
                        }
                        if (segs[i].index == json_array_size(cur))
                                goto fail;
                        cur = json_array_get(cur, segs[i].index);
                }
        }
        segs_free(segs, (size_t)n);
        return 0;
fail:
        if (n > 0)
                segs_free(segs, (size_t)n);
        return -1;
}

json_t *k8c_json_object_ensure(json_t *obj, const char *key)
{
        if (!json_is_object(obj))
                return NULL;
        json_t *v = json_object_get(obj, key);
        if (v == NULL) {
                v = json_object();
                json_object_set_new(obj, key, v);
                return v;
        }
        return json_is_object(v) ? v : NULL;
}

/*
 * jsonpath.c - the subset of kubectl's JSONPath templates users rely on:
 * literal text, {.a.b}, {.items[*].x}, {.x[0]}, {.x[1:3]}, {.x.*}, {['k.with.dots']},
 * {.a\.b}, {..name}, {[?(@.type=="Ready")].status}, {"\n"}, {range EXPR}...{end}.
 *
 * It must not print anywhere but the FILE given. Missing keys print nothing
 * (kubectl get sets allowMissingKeys); several results are joined by spaces.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"

/* Appends v to a result array (borrowed references are incref'd). */
static void emit(json_t *out, json_t *v)
{
        json_array_append(out, v);
}

static void recurse_collect(json_t *v, const char *field, json_t *out)
{
        if (json_is_object(v)) {
                json_t *f = json_object_get(v, field);
                if (f != NULL)
                        emit(out, f);
                const char *k;
                json_t *c;
                json_object_foreach(v, k, c) recurse_collect(c, field, out);
        } else if (json_is_array(v)) {
                size_t i;
                json_t *c;
                json_array_foreach(v, i, c) recurse_collect(c, field, out);
        }
}

/* Reads a field name up to '.', '[' or end, unescaping "\.". */
static char *read_field(const char **pp)
{
        const char *p = *pp;
        size_t cap = strlen(p) + 1, n = 0;
        char *s = k8c_xmalloc(cap);
        while (*p != '\0' && *p != '.' && *p != '[') {
                if (*p == '\\' && p[1] != '\0')
                        p++;
                s[n++] = *p++;
        }
        s[n] = '\0';
        *pp = p;
        return s;
}

static int filter_matches(json_t *item, const char *cond, k8c_error_t *err);

/* Applies one step of the path to every value of in, filling out. */
static int step(const char **pp, json_t *in, json_t *out, k8c_error_t *err)
{
        const char *p = *pp;
        size_t i;
        json_t *v;
        if (p[0] == '.' && p[1] == '.') {
                p += 2;
                cleanup_free char *field = read_field(&p);
                json_array_foreach(in, i, v) recurse_collect(v, field, out);
        } else if (p[0] == '.' && p[1] == '*') {
                p += 2;
                json_array_foreach(in, i, v)
                {
                        const char *k;
                        json_t *c;
                        size_t j;
                        if (json_is_object(v))
                                json_object_foreach(v, k, c) emit(out, c);
                        else if (json_is_array(v))
                                json_array_foreach(v, j, c) emit(out, c);
                }
        } else if (p[0] == '.') {
                p++;
                if (*p == '\0' || *p == '[') { /* "." alone or ".[0]" is the current value */
                        json_array_foreach(in, i, v) emit(out, v);
                } else {
                        cleanup_free char *field = read_field(&p);
                        json_array_foreach(in, i, v)
                        {
                                json_t *f = json_object_get(v, field);
                                if (f != NULL)
                                        emit(out, f);
                        }
                }
        } else if (p[0] == '[') {
                const char *close = NULL;
                if (p[1] == '\'' || p[1] == '"') {
                        char q = p[1];
                        const char *end = strchr(p + 2, q);
                        if (end == NULL || end[1] != ']')
                                return k8c_make_error(err, K8C_EBADREQUEST,
                                                      "error: unterminated quoted field in JSONPath");
                        cleanup_free char *field = k8c_xstrndup(p + 2, (size_t)(end - p - 2));
                        json_array_foreach(in, i, v)
                        {
                                json_t *f = json_object_get(v, field);
                                if (f != NULL)
                                        emit(out, f);
                        }
                        p = end + 2;
                        *pp = p;
                        return 0;
                }
                if (p[1] == '?') {
                        /* [?(COND)] - the closing is ")]" */
                        close = strstr(p, ")]");
                        if (close == NULL || p[2] != '(')
                                return k8c_make_error(err, K8C_EBADREQUEST,
                                                      "error: unclosed filter in JSONPath");
                        cleanup_free char *cond = k8c_xstrndup(p + 3, (size_t)(close - p - 3));
                        json_array_foreach(in, i, v)
                        {
                                size_t j;
                                json_t *c;
                                if (!json_is_array(v))
                                        continue;
                                json_array_foreach(v, j, c)
                                {
                                        int m = filter_matches(c, cond, err);
                                        if (m < 0)
                                                return m;
                                        if (m > 0)
                                                emit(out, c);
                                }
                        }
                        *pp = close + 2;
                        return 0;
                }
                close = strchr(p, ']');
                if (close == NULL)
                        return k8c_make_error(err, K8C_EBADREQUEST,
                                              "error: unclosed array index in JSONPath");
                cleanup_free char *idx = k8c_xstrndup(p + 1, (size_t)(close - p - 1));
                p = close + 1;
                json_array_foreach(in, i, v)
                {
                        if (!json_is_array(v))
                                continue;
                        long n = (long)json_array_size(v);
                        if (strcmp(idx, "*") == 0) {
                                size_t j;
                                json_t *c;
                                json_array_foreach(v, j, c) emit(out, c);
                                continue;
                        }
                        char *colon = strchr(idx, ':');
                        if (colon != NULL) {
                                long a = colon == idx ? 0 : strtol(idx, NULL, 10);
                                long b = colon[1] == '\0' ? n : strtol(colon + 1, NULL, 10);
                                if (a < 0)
                                        a += n;
                                if (b < 0)
                                        b += n;
                                for (long j = a < 0 ? 0 : a; j < b && j < n; j++)
                                        emit(out, json_array_get(v, (size_t)j));
                                continue;
                        }
                        char *end = NULL;
                        long k = strtol(idx, &end, 10);
                        if (end == idx || *end != '\0')
                                return k8c_make_error(err, K8C_EBADREQUEST, "error: invalid array index %s",
                                                      idx);
                        if (k < 0)
                                k += n;
                        if (k >= 0 && k < n)
                                emit(out, json_array_get(v, (size_t)k));
                }
        } else {
                return k8c_make_error(err, K8C_EBADREQUEST, "error: unrecognized character in JSONPath: %s",
                                      p);
        }
        *pp = p;
        return 0;
}

int k8c_cli_jsonpath_values(const char *expr, const json_t *v, json_t **ret_array, k8c_error_t *err)
{
        const char *p = expr;
        while (isspace((unsigned char)*p))
                p++;
        if (*p == '$' || *p == '@')
                p++;
        json_auto_t *cur = json_array();
        json_array_append(cur, (json_t *)v);
        cleanup_free char *trimmed = k8c_xstrdup(p);
        size_t l = strlen(trimmed);
        while (l > 0 && isspace((unsigned char)trimmed[l - 1]))
                trimmed[--l] = '\0';
        p = trimmed;
        while (*p != '\0') {
                json_auto_t *next = json_array();
                int r = step(&p, cur, next, err);
                if (r < 0)
                        return r;
                json_decref(cur);
                cur = k8c_steal(&next);
        }
        *ret_array = k8c_steal(&cur);
        return 0;
}

/* "@.type==\"Ready\"", "@.x!=3", "@.name" (exists). */
static int filter_matches(json_t *item, const char *cond, k8c_error_t *err)
{
        const char *op = strstr(cond, "==");
        bool negate = false;
        if (op == NULL) {
                op = strstr(cond, "!=");
                negate = op != NULL;
        }
        cleanup_free char *lhs = k8c_xstrndup(cond, op != NULL ? (size_t)(op - cond) : strlen(cond));
        json_auto_t *vals = NULL;
        int r = k8c_cli_jsonpath_values(lhs, item, &vals, err);
        if (r < 0)
                return r;
        if (op == NULL)
                return json_array_size(vals) > 0;
        const char *rhs = op + 2;
        while (isspace((unsigned char)*rhs))
                rhs++;
        cleanup_free char *want = k8c_xstrdup(rhs);
        size_t l = strlen(want);
        while (l > 0 && isspace((unsigned char)want[l - 1]))
                want[--l] = '\0';
        if (l >= 2 && (want[0] == '"' || want[0] == '\'') && want[l - 1] == want[0]) {
                want[l - 1] = '\0';
                memmove(want, want + 1, l - 1);
        }
        bool eq = false;
        if (json_array_size(vals) > 0) {
                json_t *x = json_array_get(vals, 0);
                if (json_is_string(x))
                        eq = strcmp(json_string_value(x), want) == 0;
                else {
                        cleanup_free char *s = json_dumps(x, JSON_ENCODE_ANY);
                        eq = strcmp(s, want) == 0;
                }
        }
        return eq != negate;
}

static void print_value(FILE *out, const json_t *v)
{
        if (json_is_string(v)) {
                fputs(json_string_value(v), out);
        } else if (json_is_null(v)) {
                /* nothing: Go prints an absent value as empty */
        } else {
                cleanup_free char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
                fputs(s, out);
        }
}

/* ---- templates ---- */

/* Finds the '}' closing an action, skipping quoted strings. */
static const char *action_end(const char *p)
{
        char q = 0;
        for (; *p != '\0'; p++) {
                if (q != 0) {
                        if (*p == '\\' && p[1] != '\0')
                                p++;
                        else if (*p == q)
                                q = 0;
                } else if (*p == '"' || *p == '\'') {
                        q = *p;
                } else if (*p == '}') {
                        return p;
                }
        }
        return NULL;
}

static void print_literal(FILE *out, const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\\' && i + 1 < n) {
                        i++;
                        switch (s[i]) {
                        case 'n': fputc('\n', out); break;
                        case 't': fputc('\t', out); break;
                        case 'r': fputc('\r', out); break;
                        default: fputc(s[i], out); break;
                        }
                } else {
                        fputc(s[i], out);
                }
        }
}

/* Executes tmpl[0..len) against v. *ret_consumed tells the caller where a {end} stopped us. */
static int exec(const char *tmpl, const json_t *v, FILE *out, bool in_range, const char **ret_end,
                k8c_error_t *err)
{
        const char *p = tmpl;
        while (*p != '\0') {
                if (*p != '{') {
                        const char *next = strchr(p, '{');
                        size_t n = next != NULL ? (size_t)(next - p) : strlen(p);
                        if (out != NULL)
                                fwrite(p, 1, n, out);
                        p += n;
                        continue;
                }
                const char *end = action_end(p + 1);
                if (end == NULL)
                        return k8c_make_error(err, K8C_EBADREQUEST,
                                              "error: error parsing jsonpath %s, unclosed action", tmpl);
                cleanup_free char *act = k8c_xstrndup(p + 1, (size_t)(end - p - 1));
                char *a = act;
                while (isspace((unsigned char)*a))
                        a++;
                p = end + 1;
                if (strcmp(a, "end") == 0) {
                        if (!in_range)
                                return k8c_make_error(
                                        err, K8C_EBADREQUEST,
                                        "error: error parsing jsonpath %s, not in range, nothing to end",
                                        tmpl);
                        *ret_end = p;
                        return 0;
                }
                if (strncmp(a, "range ", 6) == 0) {
                        json_auto_t *vals = NULL;
                        int r = k8c_cli_jsonpath_values(a + 6, v, &vals, err);
                        if (r < 0)
                                return r;
                        const char *body_end = NULL;
                        /* A dry run finds where the body ends even when there are no items. */
                        r = exec(p, v, NULL, true, &body_end, err);
                        if (r < 0)
                                return r;
                        if (body_end == NULL)
                                return k8c_make_error(err, K8C_EBADREQUEST,
                                                      "error: error parsing jsonpath %s, unclosed range",
                                                      tmpl);
                        size_t i;
                        json_t *item;
                        json_array_foreach(vals, i, item)
                        {
                                const char *e = NULL;
                                r = exec(p, item, out, true, &e, err);
                                if (r < 0)
                                        return r;
                        }
                        p = body_end;
                        continue;
                }
                if (a[0] == '"' || a[0] == '\'') {
                        size_t l = strlen(a);
                        while (l > 0 && isspace((unsigned char)a[l - 1]))
                                l--;
                        if (out != NULL && l >= 2)
                                print_literal(out, a + 1, l - 2);
                        continue;
                }
                if (out == NULL)
                        continue;
                json_auto_t *vals = NULL;
                int r = k8c_cli_jsonpath_values(a, v, &vals, err);
                if (r < 0)
                        return r;
                size_t i;
                json_t *x;
                json_array_foreach(vals, i, x)
                {
                        if (i > 0)
                                fputc(' ', out);
                        print_value(out, x);
                }
        }
        if (in_range && ret_end != NULL)
                *ret_end = NULL;
        return 0;
}

int k8c_cli_jsonpath(const char *tmpl, const json_t *v, FILE *out, k8c_error_t *err)
{
        const char *end = NULL;
        /* kubectl accepts a bare path without braces ("-o jsonpath=.metadata.name"). */
        if (strchr(tmpl, '{') == NULL) {
                cleanup_free char *wrapped = k8c_xasprintf("{%s}", tmpl);
                return exec(wrapped, v, out, false, &end, err);
        }
        return exec(tmpl, v, out, false, &end, err);
}

/*
 * printers.c - how k8cctl shows objects: server Tables as kubectl's aligned
 * text (tabwriter: min width 6, padding 3, last column unpadded), label
 * columns, and -o json|yaml|name|jsonpath; --sort-by ordering.
 *
 * It must not talk to the server: everything here works on JSON it is given.
 */
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"
#include "k8c/yaml.h"

static char *upper(const char *s)
{
        char *u = k8c_xstrdup(s);
        for (char *p = u; *p != '\0'; p++)
                if (*p >= 'a' && *p <= 'z')
                        *p = (char)(*p - 'a' + 'A');
        return u;
}

static void grid_add(struct k8c_cli_grid *g, char **row)
{
        if (g->n == g->cap) {
                g->cap = g->cap == 0 ? 16 : g->cap * 2;
                g->rows = k8c_xrealloc(g->rows, sizeof(*g->rows) * g->cap);
        }
        g->rows[g->n++] = row;
}

static void row_push(char ***row, size_t *n, char *cell)
{
        *row = k8c_xrealloc(*row, sizeof(char *) * (*n + 2));
        (*row)[(*n)++] = cell;
        (*row)[*n] = NULL;
}

static char *cell_text(const json_t *c)
{
        if (json_is_string(c))
                return k8c_xstrdup(json_string_value(c));
        if (json_is_integer(c))
                return k8c_xasprintf("%lld", (long long)json_integer_value(c));
        if (json_is_real(c))
                return k8c_xasprintf("%g", json_real_value(c));
        if (json_is_boolean(c))
                return k8c_xstrdup(json_is_true(c) ? "true" : "false");
        if (c == NULL || json_is_null(c))
                return k8c_xstrdup("<none>");
        return json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* labels.FormatLabels: sorted k=v joined by commas, "<none>" when empty. */
static char *format_labels(const json_t *labels)
{
        size_t n = json_object_size(labels);
        if (n == 0)
                return k8c_xstrdup("<none>");
        cleanup_free char **pairs = k8c_xcalloc(n, sizeof(char *));
        size_t i = 0, total = 1;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)labels, k, v)
        {
                pairs[i] = k8c_xasprintf("%s=%s", k, json_is_string(v) ? json_string_value(v) : "");
                total += strlen(pairs[i]) + 1;
                i++;
        }
        qsort(pairs, n, sizeof(char *), cmp_str);
        char *s = k8c_xcalloc(1, total);
        for (i = 0; i < n; i++) {
                if (i > 0)
                        strcat(s, ",");
                strcat(s, pairs[i]);
                free(pairs[i]);
        }
        return s;
}

void k8c_cli_table_to_grid(const json_t *table, const struct k8c_cli_table_opts *o, struct k8c_cli_grid *g)
{
        const json_t *cols = json_object_get(table, "columnDefinitions");
        size_t ncols = json_array_size(cols);
        if (g->n == 0 && !o->no_headers) {
                char **row = NULL;
                size_t n = 0;
                if (o->with_namespace)
                        row_push(&row, &n, k8c_xstrdup("NAMESPACE"));
                for (size_t i = 0; i < ncols; i++) {
                        const json_t *c = json_array_get(cols, i);
                        if (json_integer_value(json_object_get(c, "priority")) > 0 && !o->wide)
                                continue;
                        row_push(&row, &n, upper(json_string_value(json_object_get(c, "name"))));
                }
                for (char **l = o->label_columns; l != NULL && *l != NULL; l++) {
                        /* kubectl heads a label column with the key's last path segment */
                        const char *slash = strrchr(*l, '/');
                        row_push(&row, &n, upper(slash != NULL ? slash + 1 : *l));
                }
                if (o->show_labels)
                        row_push(&row, &n, k8c_xstrdup("LABELS"));
                grid_add(g, row);
        }
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(table, "rows"), i, r)
        {
                const json_t *cells = json_object_get(r, "cells");
                const json_t *meta = k8c_json_get(r, "object.metadata");
                char **row = NULL;
                size_t n = 0;
                if (o->with_namespace) {
                        const char *ns = json_string_value(json_object_get(meta, "namespace"));
                        row_push(&row, &n, k8c_xstrdup(ns != NULL ? ns : ""));
                }
                for (size_t c = 0; c < ncols; c++) {
                        const json_t *def = json_array_get(cols, c);
                        if (json_integer_value(json_object_get(def, "priority")) > 0 && !o->wide)
                                continue;
                        char *text = cell_text(json_array_get(cells, c));
                        if (c == 0 && o->kind_prefix != NULL) {
                                char *p = k8c_xasprintf("%s/%s", o->kind_prefix, text);
                                free(text);
                                text = p;
                        }
                        row_push(&row, &n, text);
                }
                const json_t *labels = json_object_get(meta, "labels");
                for (char **l = o->label_columns; l != NULL && *l != NULL; l++) {
                        const char *v = json_string_value(json_object_get(labels, *l));
                        row_push(&row, &n, k8c_xstrdup(v != NULL ? v : ""));
                }
                if (o->show_labels)
                        row_push(&row, &n, format_labels(labels));
                grid_add(g, row);
        }
}

/* Go's tabwriter counts runes, not bytes. */
static size_t width(const char *s)
{
        size_t w = 0;
        for (; *s != '\0'; s++)
                if (((unsigned char)*s & 0xC0) != 0x80)
                        w++;
        return w;
}

void k8c_cli_grid_print_remember(FILE *out, const struct k8c_cli_grid *g, size_t *widths, size_t nwidths)
{
        size_t maxcols = 0;
        for (size_t i = 0; i < g->n; i++) {
                size_t n = k8c_strv_len(g->rows[i]);
                if (n > maxcols)
                        maxcols = n;
        }
        cleanup_free size_t *w = k8c_xcalloc(maxcols + 1, sizeof(size_t));
        for (size_t c = 0; c < maxcols && c < nwidths && widths != NULL; c++)
                w[c] = widths[c];
        for (size_t i = 0; i < g->n; i++)
                for (size_t c = 0; g->rows[i][c] != NULL; c++)
                        if (width(g->rows[i][c]) > w[c])
                                w[c] = width(g->rows[i][c]);
        /* Later watch rows keep the widths already on screen (tabwriter.RememberWidths). */
        for (size_t c = 0; c < maxcols && c < nwidths && widths != NULL; c++)
                widths[c] = w[c];
        for (size_t i = 0; i < g->n; i++) {
                for (size_t c = 0; g->rows[i][c] != NULL; c++) {
                        const char *cell = g->rows[i][c];
                        fputs(cell, out);
                        if (g->rows[i][c + 1] == NULL)
                                break;
                        size_t cw = w[c] + 3 < 6 ? 6 : w[c] + 3;
                        for (size_t k = width(cell); k < cw; k++)
                                fputc(' ', out);
                }
                fputc('\n', out);
        }
}

void k8c_cli_grid_print(FILE *out, const struct k8c_cli_grid *g)
{
        k8c_cli_grid_print_remember(out, g, NULL, 0);
}

void k8c_cli_grid_free(struct k8c_cli_grid *g)
{
        for (size_t i = 0; i < g->n; i++)
                k8c_strv_free(g->rows[i]);
        free(g->rows);
        g->rows = NULL;
        g->n = g->cap = 0;
}

static int name_of(FILE *out, const json_t *obj, const json_t *resources, k8c_error_t *err)
{
        const json_t *res = NULL;
        int r = k8c_cli_resolve_kind(resources, json_string_value(json_object_get(obj, "apiVersion")),
                                     json_string_value(json_object_get(obj, "kind")), &res, err);
        if (r < 0)
                return r;
        cleanup_free char *type = k8c_cli_type_name(res);
        fprintf(out, "%s/%s\n", type, k8c_json_get_string(obj, "metadata.name"));
        return 0;
}

char *k8c_cli_go_json(const json_t *v, size_t flags)
{
        cleanup_free char *raw = json_dumps(v, flags | JSON_ENCODE_ANY);
        size_t n = strlen(raw);
        char *out = k8c_xmalloc(n * 6 + 1);
        size_t o = 0;
        /* These bytes only occur inside JSON strings, so replacing them everywhere is safe. */
        for (size_t i = 0; i < n; i++) {
                const unsigned char c = (unsigned char)raw[i];
                if (c == '<' || c == '>' || c == '&') {
                        o += (size_t)sprintf(out + o, "\\u%04x", c);
                } else if (c == 0xE2 && i + 2 < n && (unsigned char)raw[i + 1] == 0x80 &&
                           ((unsigned char)raw[i + 2] == 0xA8 || (unsigned char)raw[i + 2] == 0xA9)) {
                        o += (size_t)sprintf(out + o, "\\u%04x", 0x2000 + (unsigned char)raw[i + 2] - 0x80);
                        i += 2;
                } else {
                        out[o++] = (char)c;
                }
        }
        out[o] = '\0';
        return out;
}

static int cmp_keys(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A copy with every object's keys in byte order: kubectl prints unstructured objects as Go
 * marshals maps, sorted. */
static json_t *sorted_copy(const json_t *v)
{
        if (json_is_array(v)) {
                json_t *a = json_array();
                size_t i;
                json_t *x;
                json_array_foreach(v, i, x) json_array_append_new(a, sorted_copy(x));
                return a;
        }
        if (!json_is_object(v))
                return json_incref((json_t *)v);
        size_t n = json_object_size(v);
        cleanup_free const char **keys = k8c_xcalloc(n + 1, sizeof(char *));
        size_t i = 0;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) keys[i++] = k;
        qsort(keys, n, sizeof(char *), cmp_keys);
        json_t *o = json_object();
        for (i = 0; i < n; i++)
                json_object_set_new(o, keys[i], sorted_copy(json_object_get(v, keys[i])));
        return o;
}

/* A copy of v without metadata.managedFields (in v or its items): kubectl prints -o json/yaml
 * that way unless --show-managed-fields (jsonpath and templates keep them). */
static json_t *omit_managed_fields(const json_t *v)
{
        json_t *c = json_deep_copy(v);
        json_object_del(json_object_get(c, "metadata"), "managedFields");
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(c, "items"), i, it)
                json_object_del(json_object_get(it, "metadata"), "managedFields");
        return c;
}

int k8c_cli_print_objects(FILE *out, const char *output, const json_t *objects, bool single,
                          const json_t *resources, k8c_error_t *err)
{
        json_auto_t *whole = NULL;
        if (single && json_array_size(objects) == 1) {
                whole = json_incref(json_array_get(objects, 0));
        } else {
                /* Like kubectl: several objects print as one v1 List. */
                whole = json_pack("{s:s, s:O, s:s, s:{s:s}}", "apiVersion", "v1", "items", objects, "kind",
                                  "List", "metadata", "resourceVersion", "");
        }
        if (strcmp(output, "json") == 0 || strcmp(output, "yaml") == 0) {
                json_t *bare = omit_managed_fields(whole);
                json_decref(whole);
                whole = bare;
        }
        if (strcmp(output, "json") == 0) {
                cleanup_free char *s = k8c_cli_go_json(whole, JSON_INDENT(4) | JSON_SORT_KEYS);
                fprintf(out, "%s\n", s);
                return 0;
        }
        if (strcmp(output, "yaml") == 0) {
                json_auto_t *sorted = sorted_copy(whole);
                cleanup_free char *s = k8c_json_to_yaml(sorted);
                fputs(s, out);
                return 0;
        }
        if (strcmp(output, "name") == 0) {
                size_t i;
                json_t *o;
                json_array_foreach(objects, i, o)
                {
                        int r = name_of(out, o, resources, err);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (strncmp(output, "jsonpath=", 9) == 0)
                return k8c_cli_jsonpath(output + 9, whole, out, err);
        if (strncmp(output, "jsonpath-as-json=", 17) == 0) {
                json_auto_t *vals = NULL;
                const char *expr = output + 17;
                cleanup_free char *bare = NULL;
                size_t l = strlen(expr);
                if (l >= 2 && expr[0] == '{' && expr[l - 1] == '}')
                        expr = bare = k8c_xstrndup(expr + 1, l - 2);
                int r = k8c_cli_jsonpath_values(expr, whole, &vals, err);
                if (r < 0)
                        return r;
                cleanup_free char *s = json_dumps(vals, JSON_INDENT(4) | JSON_SORT_KEYS);
                fprintf(out, "%s\n", s);
                return 0;
        }
        return k8c_make_error(
                err, K8C_EUSAGE,
                "error: unable to match a printer suitable for the output format \"%s\", allowed "
                "formats are: json,jsonpath,jsonpath-as-json,jsonpath-file,name,yaml",
                output);
}

/* Orders as kubectl's sort-by does: numbers numerically, strings lexically, missing first. */
static int value_cmp(const json_t *a, const json_t *b)
{
        if (a == NULL || b == NULL)
                return (a != NULL) - (b != NULL);
        if (json_is_number(a) && json_is_number(b)) {
                double x = json_number_value(a), y = json_number_value(b);
                return (x > y) - (x < y);
        }
        if (json_is_string(a) && json_is_string(b))
                return strcmp(json_string_value(a), json_string_value(b));
        cleanup_free char *sa = json_dumps(a, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        cleanup_free char *sb = json_dumps(b, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        return strcmp(sa, sb);
}

struct keyed {
        json_t *obj;
        json_t *key; /* borrowed from obj or NULL */
        size_t idx;
};

static int keyed_cmp(const void *pa, const void *pb)
{
        const struct keyed *a = pa, *b = pb;
        int c = value_cmp(a->key, b->key);
        if (c != 0)
                return c;
        return (a->idx > b->idx) - (a->idx < b->idx); /* stable */
}

int k8c_cli_sort_objects(json_t *objects, const char *field, k8c_error_t *err)
{
        size_t n = json_array_size(objects);
        cleanup_free struct keyed *k = k8c_xcalloc(n + 1, sizeof(*k));
        const char *expr = field;
        cleanup_free char *bare = NULL;
        size_t l = strlen(field);
        if (l >= 2 && field[0] == '{' && field[l - 1] == '}')
                expr = bare = k8c_xstrndup(field + 1, l - 2);
        for (size_t i = 0; i < n; i++) {
                json_auto_t *vals = NULL;
                k[i].obj = json_incref(json_array_get(objects, i));
                k[i].idx = i;
                int r = k8c_cli_jsonpath_values(expr, k[i].obj, &vals, err);
                if (r < 0) {
                        for (size_t j = 0; j <= i; j++)
                                json_decref(k[j].obj);
                        return r;
                }
                k[i].key = json_array_get(vals, 0); /* still owned by obj */
        }
        qsort(k, n, sizeof(*k), keyed_cmp);
        json_array_clear(objects);
        for (size_t i = 0; i < n; i++)
                json_array_append_new(objects, k[i].obj);
        return 0;
}

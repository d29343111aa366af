/*
 * get.c - `k8cctl get`: lists or fetches objects as server-rendered Tables
 * (or full objects for -o json|yaml|name|jsonpath), in chunks, filtered by
 * label/field selectors, sorted, and optionally followed by a watch.
 *
 * It must not render columns itself: the server's Table decides them.
 */
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"

static bool object_output(const char *o)
{
        return o != NULL && strcmp(o, "wide") != 0;
}

/* Appends "?a=b&c=d" query parameters; the first one brings the '?'. */
static void add_query(char **path, const char *key, const char *value)
{
        if (value == NULL)
                return;
        cleanup_free char *esc = k8c_url_escape(value);
        char *n = k8c_xasprintf("%s%c%s=%s", *path, strchr(*path, '?') != NULL ? '&' : '?', key, esc);
        free(*path);
        *path = n;
}

static char *list_path(struct k8c_cli *cli, const json_t *res, const char *name)
{
        const char *ns = cli->all_namespaces && name == NULL ? NULL : cli->ns;
        char *path = k8c_cli_path(res, ns, name, NULL);
        if (name == NULL) {
                add_query(&path, "labelSelector", cli->selector);
                add_query(&path, "fieldSelector", cli->field_selector);
        }
        return path;
}

/* Every object of a list, in chunks of --chunk-size; items get the apiVersion/kind lists omit. */
static int list_all(struct k8c_cli *cli, const char *path, const char *accept, json_t *ret_items,
                    json_t **ret_last, k8c_error_t *err)
{
        cleanup_free char *cont = NULL;
        for (;;) {
                cleanup_free char *p = k8c_xstrdup(path);
                if (cli->chunk_size > 0) {
                        cleanup_free char *lim = k8c_xasprintf("%lld", (long long)cli->chunk_size);
                        add_query(&p, "limit", lim);
                }
                add_query(&p, "continue", cont);
                json_auto_t *list = NULL;
                int r = accept != NULL ? k8c_cli_get_accept(cli, p, accept, &list, err)
                                       : k8c_cli_request(cli, "GET", p, NULL, NULL, &list, err);
                if (r < 0)
                        return r;
                const char *kind = json_string_value(json_object_get(list, "kind"));
                const char *api = json_string_value(json_object_get(list, "apiVersion"));
                size_t i;
                json_t *it;
                bool table = kind != NULL && strcmp(kind, "Table") == 0;
                json_array_foreach(json_object_get(list, table ? "rows" : "items"), i, it)
                {
                        if (!table && kind != NULL && strlen(kind) > 4 &&
                            json_object_get(it, "kind") == NULL) {
                                json_object_set_new(it, "apiVersion", json_string(api));
                                json_object_set_new(it, "kind", json_stringn(kind, strlen(kind) - 4));
                        }
                        json_array_append(ret_items, it);
                }
                const char *next = k8c_json_get_string(list, "metadata.continue");
                free(cont);
                cont = next != NULL && next[0] != '\0' ? k8c_xstrdup(next) : NULL;
                if (cont == NULL) {
                        if (ret_last != NULL)
                                *ret_last = k8c_steal(&list);
                        return 0;
                }
        }
}

static void print_empty(struct k8c_cli *cli, bool namespaced)
{
        if (namespaced && !cli->all_namespaces)
                fprintf(cli->errout, "No resources found in %s namespace.\n", cli->ns);
        else
                fprintf(cli->errout, "No resources found\n");
}

static int get_objects(struct k8c_cli *cli, struct k8c_cli_target *t, size_t n, k8c_error_t *err)
{
        json_auto_t *objects = json_array();
        int rc = 0;
        for (size_t i = 0; i < n; i++) {
                cleanup_free char *path = list_path(cli, t[i].res, t[i].name);
                if (t[i].name != NULL) {
                        json_auto_t *obj = NULL;
                        cleanup_error k8c_error_t e = NULL;
                        if (k8c_cli_request(cli, "GET", path, NULL, NULL, &obj, &e) < 0) {
                                if (k8c_error_reason(&e) == K8C_ENOTFOUND && cli->ignore_not_found)
                                        continue;
                                if (k8c_error_reason(&e) == K8C_EUNAVAILABLE)
                                        return k8c_make_error(err, K8C_EUNAVAILABLE, "%s", k8c_error_msg(&e));
                                fprintf(cli->errout, "%s\n", k8c_error_msg(&e));
                                rc = -1;
                                continue;
                        }
                        json_array_append(objects, obj);
                } else {
                        int r = list_all(cli, path, NULL, objects, NULL, err);
                        if (r < 0)
                                return r;
                }
        }
        if (cli->sort_by != NULL) {
                int r = k8c_cli_sort_objects(objects, cli->sort_by, err);
                if (r < 0)
                        return r;
        }
        bool single = n == 1 && t[0].name != NULL;
        if (single && json_array_size(objects) == 0)
                return k8c_make_error(err, K8C_ENOTFOUND, "%s", ""); /* error already printed */
        int r = k8c_cli_print_objects(cli->out, cli->output, objects, single, cli->resources, err);
        if (r < 0)
                return r;
        if (rc < 0)
                return k8c_make_error(err, K8C_ENOTFOUND, "%s", "");
        return 0;
}

struct watch_print {
        struct k8c_cli *cli;
        struct k8c_cli_table_opts opts;
        bool header_done;
        size_t widths[64];
};

static int on_watch_event(void *opaque, const char *type, json_t *object)
{
        struct watch_print *w = opaque;
        if (strcmp(type, "BOOKMARK") == 0)
                return 0;
        if (strcmp(type, "ERROR") == 0) {
                fprintf(w->cli->errout, "error: %s\n",
                        json_string_value(json_object_get(object, "message")) ?: "watch error");
                return 1;
        }
        struct k8c_cli_grid g = { 0 };
        struct k8c_cli_table_opts o = w->opts;
        o.no_headers = o.no_headers || w->header_done;
        if (json_object_get(object, "columnDefinitions") != NULL &&
            json_array_size(json_object_get(object, "columnDefinitions")) > 0)
                k8c_cli_table_to_grid(object, &o, &g);
        if (g.n > 0 && !o.no_headers)
                w->header_done = true;
        k8c_cli_grid_print_remember(w->cli->out, &g, w->widths, K8C_ARRAY_SIZE(w->widths));
        fflush(w->cli->out);
        k8c_cli_grid_free(&g);
        return 0;
}

static int get_tables(struct k8c_cli *cli, struct k8c_cli_target *t, size_t n, k8c_error_t *err)
{
        /* Types in the order first asked; a prefix (pod/x) once more than one type is involved. */
        size_t ntypes = 0;
        for (size_t i = 0; i < n; i++)
                if (i == 0 || t[i].res != t[i - 1].res)
                        ntypes++;
        bool printed_any = false, had_error = false;
        size_t widths[64] = { 0 };
        bool wide = cli->output != NULL && strcmp(cli->output, "wide") == 0;
        json_t *last_list = NULL;
        for (size_t i = 0; i < n;) {
                size_t j = i;
                while (j < n && t[j].res == t[i].res)
                        j++;
                const json_t *res = t[i].res;
                bool namespaced = json_is_true(json_object_get(res, "namespaced"));
                cleanup_free char *type = k8c_cli_type_name(res);
                struct k8c_cli_table_opts opts = {
                        .wide = wide,
                        .with_namespace = cli->all_namespaces && namespaced,
                        .show_labels = cli->show_labels,
                        .no_headers = cli->no_headers,
                        .kind_prefix = ntypes > 1 || cli->show_kind ? type : NULL,
                        .label_columns = cli->label_columns,
                };
                json_auto_t *rows = json_array();
                json_auto_t *table = NULL;
                for (size_t k = i; k < j; k++) {
                        cleanup_free char *path = list_path(cli, res, t[k].name);
                        if (cli->sort_by != NULL)
                                add_query(&path, "includeObject", "Object");
                        if (t[k].name != NULL) {
                                json_auto_t *one = NULL;
                                cleanup_error k8c_error_t e = NULL;
                                if (k8c_cli_get_accept(cli, path, K8C_CLI_TABLE_ACCEPT, &one, &e) < 0) {
                                        if (k8c_error_reason(&e) == K8C_EUNAVAILABLE)
                                                return k8c_make_error(err, K8C_EUNAVAILABLE, "%s",
                                                                      k8c_error_msg(&e));
                                        if (!(cli->ignore_not_found &&
                                              k8c_error_reason(&e) == K8C_ENOTFOUND)) {
                                                fprintf(cli->errout, "%s\n", k8c_error_msg(&e));
                                                had_error = true;
                                        }
                                        continue;
                                }
                                size_t x;
                                json_t *row;
                                json_array_foreach(json_object_get(one, "rows"), x, row)
                                        json_array_append(rows, row);
                                if (table == NULL)
                                        table = json_incref(one);
                        } else if (!cli->watch_only) {
                                json_t *last = NULL;
                                int r = list_all(cli, path, K8C_CLI_TABLE_ACCEPT, rows, &last, err);
                                if (r < 0)
                                        return r;
                                json_decref(table);
                                table = last;
                        }
                }
                if (table != NULL && json_array_size(rows) > 0) {
                        if (cli->sort_by != NULL) {
                                /* Sort rows by their embedded objects (includeObject=Object). */
                                json_auto_t *objs = json_array();
                                size_t x;
                                json_t *row;
                                json_array_foreach(rows, x, row)
                                {
                                        json_t *o = json_deep_copy(json_object_get(row, "object"));
                                        if (o == NULL)
                                                o = json_object();
                                        json_object_set(o, "__row", row);
                                        json_array_append_new(objs, o);
                                }
                                int r = k8c_cli_sort_objects(objs, cli->sort_by, err);
                                if (r < 0)
                                        return r;
                                json_array_clear(rows);
                                json_array_foreach(objs, x, row)
                                        json_array_append(rows, json_object_get(row, "__row"));
                        }
                        json_t *copy = json_copy(table);
                        json_object_set(copy, "rows", rows);
                        struct k8c_cli_grid g = { 0 };
                        k8c_cli_table_to_grid(copy, &opts, &g);
                        if (printed_any && !cli->watch)
                                fputc('\n', cli->out);
                        memset(widths, 0, sizeof(widths));
                        k8c_cli_grid_print_remember(cli->out, &g, widths, K8C_ARRAY_SIZE(widths));
                        k8c_cli_grid_free(&g);
                        json_decref(copy);
                        printed_any = true;
                }
                if (cli->watch || cli->watch_only) {
                        json_decref(last_list);
                        last_list = json_incref(table);
                }
                i = j;
        }
        if (cli->watch || cli->watch_only) {
                json_auto_t *ll = last_list;
                if (n != 1 && ntypes != 1)
                        return k8c_make_error(err, K8C_EUSAGE,
                                              "error: you may only specify a single resource type");
                const json_t *res = t[0].res;
                cleanup_free char *path = list_path(cli, res, NULL);
                const char *rv = k8c_json_get_string(ll, "metadata.resourceVersion");
                if (t[0].name != NULL) {
                        cleanup_free char *fs = k8c_xasprintf("metadata.name=%s", t[0].name);
                        add_query(&path, "fieldSelector", fs);
                }
                add_query(&path, "watch", "true");
                if (!cli->watch_only)
                        add_query(&path, "resourceVersion", rv);
                cleanup_free char *type = k8c_cli_type_name(res);
                struct watch_print w = {
                        .cli = cli,
                        .opts = { .wide = wide,
                                  .with_namespace = cli->all_namespaces &&
                                                    json_is_true(json_object_get(res, "namespaced")),
                                  .show_labels = cli->show_labels,
                                  .no_headers = cli->no_headers,
                                  .kind_prefix = cli->show_kind ? type : NULL,
                                  .label_columns = cli->label_columns },
                        .header_done = printed_any,
                };
                memcpy(w.widths, widths, sizeof(widths));
                if (!printed_any && !cli->watch_only)
                        print_empty(cli, json_is_true(json_object_get(res, "namespaced")));
                fflush(cli->out);
                return k8c_cli_watch_accept(cli, path, K8C_CLI_TABLE_ACCEPT, on_watch_event, &w, err);
        }
        json_decref(last_list);
        bool any_named = false;
        for (size_t i = 0; i < n; i++)
                any_named = any_named || t[i].name != NULL;
        if (!printed_any && !any_named)
                print_empty(cli, ntypes == 1 && json_is_true(json_object_get(t[0].res, "namespaced")));
        if (had_error)
                return k8c_make_error(err, K8C_ENOTFOUND, "%s", "");
        return 0;
}

int k8c_cli_get(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        struct k8c_cli_target *t = NULL;
        size_t n = 0;
        int r = k8c_cli_targets(cli, args, nargs, &t, &n, err);
        if (r < 0)
                return r;
        if (object_output(cli->output))
                r = get_objects(cli, t, n, err);
        else
                r = get_tables(cli, t, n, err);
        k8c_cli_targets_free(t, n);
        return r;
}

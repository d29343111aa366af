/*
 * delete.c - `k8cctl delete`: by -f manifests, TYPE NAME..., TYPE/NAME, -l or
 * --all; DeleteOptions from --cascade, --grace-period and --force; --wait
 * polls until each object is gone (404).
 *
 * It must not delete anything it did not name or select.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"

struct victim {
        const json_t *res;
        char *ns;
        char *name;
};

static json_t *delete_options(struct k8c_cli *cli, k8c_error_t *err)
{
        const char *policy = NULL;
        if (strcmp(cli->cascade, "background") == 0 || strcmp(cli->cascade, "true") == 0)
                policy = "Background";
        else if (strcmp(cli->cascade, "orphan") == 0 || strcmp(cli->cascade, "false") == 0)
                policy = "Orphan";
        else if (strcmp(cli->cascade, "foreground") == 0)
                policy = "Foreground";
        if (policy == NULL) {
                k8c_make_error(
                        err, K8C_EUSAGE,
                        "error: invalid cascade value (%s). Must be \"background\", \"foreground\", or "
                        "\"orphan\"",
                        cli->cascade);
                return NULL;
        }
        json_t *o = json_pack("{s:s}", "propagationPolicy", policy);
        int grace = cli->grace_period;
        /* As kubectl: --force alone means 0; 0 without --force means 1 (graceful but soon). */
        if (cli->force && grace < 0)
                grace = 0;
        else if (grace == 0 && !cli->force)
                grace = 1;
        if (grace >= 0)
                json_object_set_new(o, "gracePeriodSeconds", json_integer(grace));
        return o;
}

static int wait_gone(struct k8c_cli *cli, const char *path, k8c_error_t *err)
{
        int64_t timeout = cli->timeout_set && cli->timeout_ms > 0 ? cli->timeout_ms : 7LL * 24 * 3600 * 1000;
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                cleanup_error k8c_error_t e = NULL;
                if (k8c_cli_request(cli, "GET", path, NULL, NULL, NULL, &e) < 0) {
                        if (k8c_error_reason(&e) == K8C_ENOTFOUND)
                                return 0;
                        return k8c_make_error(err, k8c_error_reason(&e), "%s", k8c_error_msg(&e));
                }
                clock_gettime(CLOCK_MONOTONIC, &now);
                int64_t ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
                if (ms >= timeout)
                        return k8c_make_error(err, K8C_ETIMEOUT,
                                              "error: timed out waiting for the condition");
                usleep(200 * 1000);
        }
}

static void victims_free(struct victim *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].ns);
                free(v[i].name);
        }
        free(v);
}

static void add(struct victim **v, size_t *n, const json_t *res, const char *ns, const char *name)
{
        *v = k8c_xrealloc(*v, sizeof(**v) * (*n + 1));
        (*v)[*n].res = res;
        (*v)[*n].ns = ns != NULL && json_is_true(json_object_get(res, "namespaced")) ? k8c_xstrdup(ns) : NULL;
        (*v)[*n].name = k8c_xstrdup(name);
        (*n)++;
}

/* Lists a type with -l/--field-selector (or everything for --all), adding every object. */
static int select_all(struct k8c_cli *cli, const json_t *res, struct victim **v, size_t *n, k8c_error_t *err)
{
        const char *ns = cli->all_namespaces ? NULL : cli->ns;
        cleanup_free char *path = k8c_cli_path(res, ns, NULL, NULL);
        char sep = '?';
        if (cli->selector != NULL) {
                cleanup_free char *e = k8c_url_escape(cli->selector);
                char *p = k8c_xasprintf("%s%clabelSelector=%s", path, sep, e);
                free(path);
                path = p;
                sep = '&';
        }
        if (cli->field_selector != NULL) {
                cleanup_free char *e = k8c_url_escape(cli->field_selector);
                char *p = k8c_xasprintf("%s%cfieldSelector=%s", path, sep, e);
                free(path);
                path = p;
        }
        json_auto_t *list = NULL;
        int r = k8c_cli_request(cli, "GET", path, NULL, NULL, &list, err);
        if (r < 0)
                return r;
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(list, "items"), i, it)
                add(v, n, res, k8c_json_get_string(it, "metadata.namespace"),
                    k8c_json_get_string(it, "metadata.name"));
        return 0;
}

int k8c_cli_delete(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        /* Bad flags are reported before the server is asked anything. */
        json_auto_t *opts = delete_options(cli, err);
        if (opts == NULL)
                return -(int)K8C_EUSAGE;
        int r = k8c_cli_discover(cli, err);
        if (r < 0)
                return r;
        struct victim *v = NULL;
        size_t n = 0;
        if (cli->filenames != NULL) {
                json_auto_t *docs = NULL;
                r = k8c_cli_read_manifests(cli, &docs, err);
                if (r < 0)
                        return r;
                size_t i;
                json_t *d;
                json_array_foreach(docs, i, d)
                {
                        json_t *obj = json_object_get(d, "object");
                        const json_t *res = NULL;
                        r = k8c_cli_resolve_kind(cli->resources,
                                                 json_string_value(json_object_get(obj, "apiVersion")),
                                                 json_string_value(json_object_get(obj, "kind")), &res, err);
                        if (r < 0) {
                                victims_free(v, n);
                                return r;
                        }
                        const char *ons = k8c_json_get_string(obj, "metadata.namespace");
                        add(&v, &n, res, ons != NULL ? ons : cli->ns,
                            k8c_json_get_string(obj, "metadata.name"));
                }
        } else {
                if (nargs == 0)
                        return k8c_make_error(
                                err, K8C_EUSAGE,
                                "error: You must provide one or more resources by argument or "
                                "filename.\nExample resource specifications include:\n   '-f "
                                "rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   "
                                "'<resource>'");
                struct k8c_cli_target *t = NULL;
                size_t nt = 0;
                r = k8c_cli_parse_targets(cli->resources, args, nargs, &t, &nt, err);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < nt && r == 0; i++) {
                        if (t[i].name != NULL)
                                add(&v, &n, t[i].res, cli->ns, t[i].name);
                        else if (cli->all || cli->selector != NULL || cli->field_selector != NULL)
                                r = select_all(cli, t[i].res, &v, &n, err);
                        else
                                r = k8c_make_error(
                                        err, K8C_EUSAGE,
                                        "error: resource(s) were provided, but no name was specified");
                }
                k8c_cli_targets_free(t, nt);
                if (r < 0) {
                        victims_free(v, n);
                        return r;
                }
                if (n == 0) {
                        fprintf(cli->errout, "No resources found\n");
                        return 0;
                }
        }
        if (cli->force && json_integer_value(json_object_get(opts, "gracePeriodSeconds")) == 0 &&
            json_object_get(opts, "gracePeriodSeconds") != NULL)
                fprintf(cli->errout,
                        "Warning: Immediate deletion does not wait for confirmation that the running "
                        "resource has been terminated. The resource may continue to run on the "
                        "cluster indefinitely.\n");
        /* kubectl words an immediate (--force, grace 0) deletion differently. */
        bool immediate = cli->force && json_object_get(opts, "gracePeriodSeconds") != NULL &&
                         json_integer_value(json_object_get(opts, "gracePeriodSeconds")) == 0;
        bool failed = false;
        bool *deleted = k8c_xcalloc(n + 1, sizeof(bool));
        for (size_t i = 0; i < n; i++) {
                cleanup_free char *path = k8c_cli_path(v[i].res, v[i].ns, v[i].name, NULL);
                cleanup_error k8c_error_t e = NULL;
                if (k8c_cli_request(cli, "DELETE", path, opts, NULL, NULL, &e) < 0) {
                        if (k8c_error_reason(&e) == K8C_ENOTFOUND && cli->ignore_not_found)
                                continue;
                        if (strncmp(k8c_error_msg(&e), "The connection", 14) == 0) {
                                k8c_make_error(err, K8C_EUNAVAILABLE, "%s", k8c_error_msg(&e));
                                free(deleted);
                                victims_free(v, n);
                                return -(int)K8C_EUNAVAILABLE;
                        }
                        fprintf(cli->errout, "%s\n", k8c_error_msg(&e));
                        failed = true;
                        continue;
                }
                deleted[i] = true;
                cleanup_free char *type = k8c_cli_type_name(v[i].res);
                if (cli->output != NULL && strcmp(cli->output, "name") == 0)
                        fprintf(cli->out, "%s/%s\n", type, v[i].name);
                else
                        fprintf(cli->out, "%s \"%s\" %s\n", type, v[i].name,
                                immediate ? "force deleted" : "deleted");
                fflush(cli->out);
        }
        /* kubectl waits after issuing every delete, so objects terminate in parallel. */
        for (size_t i = 0; i < n && cli->wait && !failed; i++) {
                if (!deleted[i])
                        continue;
                cleanup_free char *path = k8c_cli_path(v[i].res, v[i].ns, v[i].name, NULL);
                r = wait_gone(cli, path, err);
                if (r < 0) {
                        free(deleted);
                        victims_free(v, n);
                        return r;
                }
        }
        free(deleted);
        victims_free(v, n);
        return failed ? k8c_make_error(err, K8C_ENOTFOUND, "%s", "") : 0;
}

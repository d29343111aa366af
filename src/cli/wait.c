/*
 * wait.c - `k8cctl wait --for=condition=C[=V] | delete | jsonpath='{...}'=V`
 * on TYPE NAME, TYPE/NAME, -l or --all, polling until every object meets the
 * condition or --timeout (default 30s) passes.
 *
 * It must not change anything on the server.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"

enum wait_kind { WAIT_CONDITION, WAIT_DELETE, WAIT_JSONPATH };

struct waiter {
        enum wait_kind kind;
        char *what;  /* condition type or JSONPath expression */
        char *value; /* wanted value (condition status defaults to "True") */
};

/* 1 when obj meets the condition, 0 when not yet. */
static int met(const struct waiter *w, const json_t *obj, k8c_error_t *err)
{
        if (w->kind == WAIT_CONDITION) {
                size_t i;
                json_t *c;
                json_array_foreach(k8c_json_get(obj, "status.conditions"), i, c)
                {
                        const char *type = k8c_json_get_string(c, "type");
                        const char *status = k8c_json_get_string(c, "status");
                        if (type != NULL && strcasecmp(type, w->what) == 0 && status != NULL &&
                            strcasecmp(status, w->value) == 0)
                                return 1;
                }
                return 0;
        }
        json_auto_t *vals = NULL;
        int r = k8c_cli_jsonpath_values(w->what, obj, &vals, err);
        if (r < 0)
                return r;
        if (json_array_size(vals) != 1)
                return 0;
        json_t *v = json_array_get(vals, 0);
        if (w->value == NULL)
                return 1;
        if (json_is_string(v))
                return strcmp(json_string_value(v), w->value) == 0;
        cleanup_free char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        return strcmp(s, w->value) == 0;
}

static int parse_for(const char *f, struct waiter *w, k8c_error_t *err)
{
        if (f == NULL)
                return k8c_make_error(err, K8C_EUSAGE, "error: --for must be set");
        if (strcmp(f, "delete") == 0) {
                w->kind = WAIT_DELETE;
                return 0;
        }
        if (strncmp(f, "condition=", 10) == 0) {
                w->kind = WAIT_CONDITION;
                const char *c = f + 10;
                const char *eq = strchr(c, '=');
                w->what = eq != NULL ? k8c_xstrndup(c, (size_t)(eq - c)) : k8c_xstrdup(c);
                w->value = k8c_xstrdup(eq != NULL ? eq + 1 : "True");
                return 0;
        }
        if (strncmp(f, "jsonpath=", 9) == 0) {
                w->kind = WAIT_JSONPATH;
                const char *e = f + 9;
                /* "{.status.phase}=Running": the value follows the closing brace */
                const char *close = e[0] == '{' ? strchr(e, '}') : NULL;
                const char *eq = close != NULL ? (close[1] == '=' ? close + 1 : NULL) : strchr(e, '=');
                cleanup_free char *expr = eq != NULL ? k8c_xstrndup(e, (size_t)(eq - e)) : k8c_xstrdup(e);
                size_t l = strlen(expr);
                if (l >= 2 && expr[0] == '{' && expr[l - 1] == '}')
                        w->what = k8c_xstrndup(expr + 1, l - 2);
                else
                        w->what = k8c_xstrdup(expr);
                w->value = eq != NULL ? k8c_xstrdup(eq + 1) : NULL;
                return 0;
        }
        return k8c_make_error(err, K8C_EUSAGE, "error: unrecognized condition: \"%s\"", f);
}

int k8c_cli_wait(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        struct waiter w = { 0 };
        int r = parse_for(cli->for_, &w, err);
        if (r < 0)
                return r;
        cleanup_free char *what = w.what, *value = w.value;
        struct k8c_cli_target *t = NULL;
        size_t n = 0;
        r = k8c_cli_targets(cli, args, nargs, &t, &n, err);
        if (r < 0)
                return r;
        int64_t timeout = cli->timeout_set ? cli->timeout_ms : 30000;
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (size_t i = 0; i < n && r == 0; i++) {
                /* The names to wait for: given, or listed by selector / --all. */
                json_auto_t *names = json_array();
                if (t[i].name != NULL) {
                        json_array_append_new(names, json_string(t[i].name));
                } else {
                        cleanup_free char *path = k8c_cli_path(t[i].res, cli->ns, NULL, NULL);
                        if (cli->selector != NULL) {
                                cleanup_free char *e = k8c_url_escape(cli->selector);
                                char *p = k8c_xasprintf("%s?labelSelector=%s", path, e);
                                free(path);
                                path = p;
                        } else if (!cli->all) {
                                r = k8c_make_error(
                                        err, K8C_EUSAGE,
                                        "error: resource(s) were provided, but no name was specified");
                                break;
                        }
                        json_auto_t *list = NULL;
                        r = k8c_cli_request(cli, "GET", path, NULL, NULL, &list, err);
                        if (r < 0)
                                break;
                        size_t j;
                        json_t *it;
                        json_array_foreach(json_object_get(list, "items"), j, it) json_array_append_new(
                                names, json_string(k8c_json_get_string(it, "metadata.name")));
                        if (json_array_size(names) == 0) {
                                r = k8c_make_error(err, K8C_ENOTFOUND, "error: no matching resources found");
                                break;
                        }
                }
                cleanup_free char *type = k8c_cli_type_name(t[i].res);
                const char *plural = json_string_value(json_object_get(t[i].res, "name"));
                size_t j;
                json_t *nm;
                json_array_foreach(names, j, nm)
                {
                        const char *name = json_string_value(nm);
                        cleanup_free char *path = k8c_cli_path(t[i].res, cli->ns, name, NULL);
                        for (bool first = true;; first = false) {
                                json_auto_t *obj = NULL;
                                cleanup_error k8c_error_t gerr = NULL;
                                int g = k8c_cli_request(cli, "GET", path, NULL, NULL, &obj, &gerr);
                                int m = 0;
                                if (g < 0 && k8c_error_reason(&gerr) == K8C_ENOTFOUND) {
                                        if (w.kind != WAIT_DELETE) {
                                                r = k8c_make_error(err, K8C_ENOTFOUND, "%s",
                                                                   k8c_error_msg(&gerr));
                                                break;
                                        }
                                        /* kubectl stays silent when the object was already gone. */
                                        if (first)
                                                break;
                                        m = 1;
                                } else if (g < 0) {
                                        r = k8c_make_error(err, k8c_error_reason(&gerr), "%s",
                                                           k8c_error_msg(&gerr));
                                        break;
                                } else if (w.kind != WAIT_DELETE) {
                                        m = met(&w, obj, err);
                                        if (m < 0) {
                                                r = m;
                                                break;
                                        }
                                }
                                if (m == 1) {
                                        fprintf(cli->out, "%s/%s condition met\n", type, name);
                                        fflush(cli->out);
                                        break;
                                }
                                clock_gettime(CLOCK_MONOTONIC, &now);
                                int64_t ms = (now.tv_sec - start.tv_sec) * 1000 +
                                             (now.tv_nsec - start.tv_nsec) / 1000000;
                                if (ms >= timeout) {
                                        r = k8c_make_error(
                                                err, K8C_ETIMEOUT,
                                                "error: timed out waiting for the condition on %s/%s", plural,
                                                name);
                                        break;
                                }
                                usleep(100 * 1000);
                        }
                        if (r < 0)
                                break;
                }
        }
        k8c_cli_targets_free(t, n);
        return r;
}

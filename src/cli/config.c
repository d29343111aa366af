/*
 * config.c - `k8cctl config view | current-context | use-context NAME |
 * get-contexts`: the kubeconfig file itself (--kubeconfig, else the first
 * $KUBECONFIG entry, else ~/.kube/config), read as YAML.
 *
 * It must not print secrets: `view` redacts data fields and tokens as kubectl
 * does. Only use-context writes, and only the current-context key.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"
#include "k8c/yaml.h"

static char *config_path(struct k8c_cli *cli)
{
        if (cli->kubeconfig != NULL)
                return k8c_xstrdup(cli->kubeconfig);
        const char *env = getenv("KUBECONFIG");
        if (env != NULL && env[0] != '\0')
                return k8c_xstrndup(env, strcspn(env, ":"));
        const char *home = getenv("HOME");
        return k8c_xasprintf("%s/.kube/config", home != NULL ? home : "");
}

static int load(const char *path, json_t **ret, k8c_error_t *err)
{
        cleanup_fclose FILE *f = fopen(path, "r");
        if (f == NULL) {
                /* A missing file is an empty config, as kubectl treats it. */
                *ret = json_pack("{s:s, s:[], s:[], s:s, s:s, s:{}, s:[]}", "apiVersion", "v1", "clusters",
                                 "contexts", "current-context", "", "kind", "Config", "preferences", "users");
                return 0;
        }
        cleanup_free char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                fwrite(chunk, 1, n, mem);
        fclose(mem);
        json_auto_t *doc = NULL;
        cleanup_error k8c_error_t yerr = NULL;
        if (k8c_yaml_to_json(buf, len, &doc, &yerr) < 0)
                return k8c_make_error(err, K8C_EBADREQUEST, "error: %s: %s", path, k8c_error_msg(&yerr));
        if (!json_is_object(doc))
                doc = json_object();
        *ret = k8c_steal(&doc);
        return 0;
}

static void redact(json_t *cfg)
{
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(cfg, "clusters"), i, e)
        {
                json_t *c = json_object_get(e, "cluster");
                if (json_object_get(c, "certificate-authority-data") != NULL)
                        json_object_set_new(c, "certificate-authority-data", json_string("DATA+OMITTED"));
        }
        json_array_foreach(json_object_get(cfg, "users"), i, e)
        {
                json_t *u = json_object_get(e, "user");
                const char *data[] = { "client-certificate-data", "client-key-data" };
                for (size_t k = 0; k < 2; k++)
                        if (json_object_get(u, data[k]) != NULL)
                                json_object_set_new(u, data[k], json_string("DATA+OMITTED"));
                if (json_object_get(u, "token") != NULL)
                        json_object_set_new(u, "token", json_string("REDACTED"));
        }
}

int k8c_cli_config(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        if (nargs == 0)
                return k8c_make_error(err, K8C_EUSAGE,
                                      "error: a subcommand is required: view, current-context, use-context, "
                                      "get-contexts");
        cleanup_free char *path = config_path(cli);
        json_auto_t *cfg = NULL;
        int r = load(path, &cfg, err);
        if (r < 0)
                return r;
        const char *cur = json_string_value(json_object_get(cfg, "current-context"));
        if (strcmp(args[0], "current-context") == 0) {
                if (cur == NULL || cur[0] == '\0')
                        return k8c_make_error(err, K8C_ENOTFOUND, "error: current-context is not set");
                fprintf(cli->out, "%s\n", cur);
                return 0;
        }
        if (strcmp(args[0], "view") == 0) {
                redact(cfg);
                if (json_object_get(cfg, "preferences") == NULL)
                        json_object_set_new(cfg, "preferences", json_object());
                json_auto_t *one = json_pack("[O]", cfg);
                return k8c_cli_print_objects(cli->out, cli->output != NULL ? cli->output : "yaml", one, true,
                                             cli->resources, err);
        }
        if (strcmp(args[0], "use-context") == 0) {
                if (nargs < 2)
                        return k8c_make_error(err, K8C_EUSAGE, "error: Unexpected args: []");
                bool found = false;
                size_t i;
                json_t *c;
                json_array_foreach(json_object_get(cfg, "contexts"), i, c)
                {
                        const char *name = json_string_value(json_object_get(c, "name"));
                        found = found || (name != NULL && strcmp(name, args[1]) == 0);
                }
                if (!found)
                        return k8c_make_error(err, K8C_ENOTFOUND,
                                              "error: no context exists with the name: \"%s\"", args[1]);
                json_object_set_new(cfg, "current-context", json_string(args[1]));
                cleanup_free char *text = k8c_json_to_yaml(cfg);
                cleanup_free char *tmp = k8c_xasprintf("%s.k8cctl-tmp", path);
                FILE *f = fopen(tmp, "w");
                if (f == NULL)
                        return k8c_make_error(err, K8C_EINTERNAL, "error: %s: %s", tmp, strerror(errno));
                fputs(text, f);
                /* Written aside then renamed, so a crash never leaves half a kubeconfig. */
                if (fclose(f) != 0 || rename(tmp, path) != 0) {
                        unlink(tmp);
                        return k8c_make_error(err, K8C_EINTERNAL, "error: writing %s: %s", path,
                                              strerror(errno));
                }
                fprintf(cli->out, "Switched to context \"%s\".\n", args[1]);
                return 0;
        }
        if (strcmp(args[0], "get-contexts") == 0) {
                struct k8c_cli_grid g = { 0 };
                const char *hdr[] = { "CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE" };
                g.cap = json_array_size(json_object_get(cfg, "contexts")) + 1;
                g.rows = k8c_xcalloc(g.cap, sizeof(char **));
                char **h = k8c_xcalloc(6, sizeof(char *));
                for (size_t k = 0; k < 5; k++)
                        h[k] = k8c_xstrdup(hdr[k]);
                g.rows[g.n++] = h;
                size_t i;
                json_t *c;
                json_array_foreach(json_object_get(cfg, "contexts"), i, c)
                {
                        const char *name = json_string_value(json_object_get(c, "name"));
                        if (nargs > 1 && (name == NULL || strcmp(name, args[1]) != 0))
                                continue;
                        char **row = k8c_xcalloc(6, sizeof(char *));
                        row[0] =
                                k8c_xstrdup(cur != NULL && name != NULL && strcmp(cur, name) == 0 ? "*" : "");
                        row[1] = k8c_xstrdup(name != NULL ? name : "");
                        row[2] = k8c_xstrdup(k8c_json_get_string(c, "context.cluster") ?: "");
                        row[3] = k8c_xstrdup(k8c_json_get_string(c, "context.user") ?: "");
                        row[4] = k8c_xstrdup(k8c_json_get_string(c, "context.namespace") ?: "");
                        g.rows[g.n++] = row;
                }
                k8c_cli_grid_print(cli->out, &g);
                k8c_cli_grid_free(&g);
                return 0;
        }
        return k8c_make_error(err, K8C_EUSAGE, "error: unknown command \"%s\" for \"k8cctl config\"",
                              args[0]);
}

/*
 * info.c - the informational verbs: `version` (client and server),
 * `api-resources` (from discovery) and `cluster-info`.
 *
 * It must not change anything on the server.
 */
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/flags.h"
#include "k8c/json.h"
#include "k8c/yaml.h"

int k8c_cli_version(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        json_auto_t *client = json_pack("{s:s, s:s, s:s}", "major", K8C_KUBE_VERSION_MAJOR, "minor",
                                        K8C_KUBE_VERSION_MINOR, "gitVersion", "k8cctl-" K8C_VERSION);
        json_auto_t *server = NULL;
        cleanup_error k8c_error_t serr = NULL;
        int r = k8c_cli_request(cli, "GET", "/version", NULL, NULL, &server, &serr);
        if (cli->output != NULL && (strcmp(cli->output, "json") == 0 || strcmp(cli->output, "yaml") == 0)) {
                json_auto_t *all = json_pack("{s:O}", "clientVersion", client);
                if (r == 0)
                        json_object_set(all, "serverVersion", server);
                cleanup_free char *s = strcmp(cli->output, "json") == 0
                                               ? json_dumps(all, JSON_INDENT(2) | JSON_SORT_KEYS)
                                               : k8c_json_to_yaml(all);
                fprintf(cli->out, "%s%s", s, strcmp(cli->output, "json") == 0 ? "\n" : "");
        } else {
                fprintf(cli->out, "Client Version: k8cctl-%s\n", K8C_VERSION);
                if (r == 0)
                        fprintf(cli->out, "Server Version: %s\n",
                                json_string_value(json_object_get(server, "gitVersion")) ?: "unknown");
        }
        if (r < 0)
                return k8c_make_error(err, k8c_error_reason(&serr), "%s", k8c_error_msg(&serr));
        return 0;
}

static int cmp_res(const void *a, const void *b)
{
        const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
        const char *gx = json_string_value(json_object_get(x, "group"));
        const char *gy = json_string_value(json_object_get(y, "group"));
        int c = strcmp(gx != NULL ? gx : "", gy != NULL ? gy : "");
        if (c != 0)
                return c;
        return strcmp(json_string_value(json_object_get(x, "name")),
                      json_string_value(json_object_get(y, "name")));
}

int k8c_cli_api_resources(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        int r = k8c_cli_discover(cli, err);
        if (r < 0)
                return r;
        size_t n = json_array_size(cli->resources);
        cleanup_free json_t **v = k8c_xcalloc(n + 1, sizeof(json_t *));
        for (size_t i = 0; i < n; i++)
                v[i] = json_array_get(cli->resources, i);
        /* kubectl sorts by group, then name; the core group ("") sorts first. */
        qsort(v, n, sizeof(json_t *), cmp_res);
        struct k8c_cli_grid g = { 0 };
        bool wide = cli->output != NULL && strcmp(cli->output, "wide") == 0;
        char **hdr = NULL;
        const char *cols[] = {
                "NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND", "VERBS", "CATEGORIES"
        };
        size_t ncols = wide ? 7 : 5;
        hdr = k8c_xcalloc(ncols + 1, sizeof(char *));
        for (size_t c = 0; c < ncols; c++)
                hdr[c] = k8c_xstrdup(cols[c]);
        if (cli->output == NULL || wide) {
                g.rows = k8c_xcalloc(n + 1, sizeof(char **));
                g.cap = n + 1;
                g.rows[g.n++] = hdr;
        } else {
                k8c_strv_free(hdr);
        }
        for (size_t i = 0; i < n; i++) {
                const json_t *r0 = v[i];
                const char *group = json_string_value(json_object_get(r0, "group"));
                const char *version = json_string_value(json_object_get(r0, "version"));
                const char *name = json_string_value(json_object_get(r0, "name"));
                if (cli->output != NULL && strcmp(cli->output, "name") == 0) {
                        if (group != NULL && group[0] != '\0')
                                fprintf(cli->out, "%s.%s\n", name, group);
                        else
                                fprintf(cli->out, "%s\n", name);
                        continue;
                }
                char **row = k8c_xcalloc(ncols + 1, sizeof(char *));
                row[0] = k8c_xstrdup(name);
                cleanup_free char *sn = k8c_xstrdup("");
                size_t j;
                json_t *s;
                json_array_foreach(json_object_get(r0, "shortNames"), j, s)
                {
                        char *x = k8c_xasprintf("%s%s%s", sn, j > 0 ? "," : "", json_string_value(s));
                        free(sn);
                        sn = x;
                }
                row[1] = k8c_xstrdup(sn);
                row[2] = group != NULL && group[0] != '\0' ? k8c_xasprintf("%s/%s", group, version)
                                                           : k8c_xstrdup(version);
                row[3] = k8c_xstrdup(json_is_true(json_object_get(r0, "namespaced")) ? "true" : "false");
                row[4] = k8c_xstrdup(json_string_value(json_object_get(r0, "kind")));
                if (wide) {
                        cleanup_free char *vb = k8c_xstrdup("");
                        json_array_foreach(json_object_get(r0, "verbs"), j, s)
                        {
                                char *x = k8c_xasprintf("%s%s%s", vb, j > 0 ? "," : "", json_string_value(s));
                                free(vb);
                                vb = x;
                        }
                        row[5] = k8c_xstrdup(vb);
                        cleanup_free char *cat = k8c_xstrdup("");
                        json_array_foreach(json_object_get(r0, "categories"), j, s)
                        {
                                char *x =
                                        k8c_xasprintf("%s%s%s", cat, j > 0 ? "," : "", json_string_value(s));
                                free(cat);
                                cat = x;
                        }
                        row[6] = k8c_xstrdup(cat);
                }
                g.rows[g.n++] = row;
        }
        k8c_cli_grid_print(cli->out, &g);
        k8c_cli_grid_free(&g);
        return 0;
}

int k8c_cli_cluster_info(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        json_auto_t *list = NULL;
        int r = k8c_cli_request(cli, "GET",
                                "/api/v1/namespaces/kube-system/"
                                "services?labelSelector=kubernetes.io%2Fcluster-service%3Dtrue",
                                NULL, NULL, &list, err);
        if (r < 0)
                return r;
        fprintf(cli->out, "Kubernetes control plane is running at %s\n", k8c_client_server(cli->client));
        size_t i;
        json_t *svc;
        json_array_foreach(json_object_get(list, "items"), i, svc)
        {
                const char *name = k8c_json_get_string(svc, "metadata.name");
                const char *title = k8c_json_get_string(svc, "metadata.labels[\"kubernetes.io/name\"]");
                fprintf(cli->out, "%s is running at %s/api/v1/namespaces/kube-system/services/%s/proxy\n",
                        title != NULL ? title : name, k8c_client_server(cli->client), name);
        }
        fprintf(cli->out,
                "\nTo further debug and diagnose cluster problems, use 'k8cctl cluster-info dump'.\n");
        return 0;
}

/*
 * run.c - `k8cctl run NAME --image=I`: one Pod, as kubectl run generates it
 * (labels run=NAME or --labels, --port, --env, --restart, and the arguments
 * after "--" as the container's args, or its command with --command).
 *
 * It must not make workloads other than a Pod (kubectl run no longer does).
 */
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"

int k8c_cli_parse_label_list(const char *text, json_t **ret, k8c_error_t *err)
{
        json_auto_t *m = json_object();
        cleanup_free char *copy = k8c_xstrdup(text);
        char *save = NULL;
        for (char *kv = strtok_r(copy, ",", &save); kv != NULL; kv = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(kv, '=');
                if (eq == NULL || eq == kv)
                        return k8c_make_error(err, K8C_EUSAGE, "error: invalid label spec: %s", kv);
                *eq = '\0';
                json_object_set_new(m, kv, json_string(eq + 1));
        }
        *ret = k8c_steal(&m);
        return 0;
}

int k8c_cli_run_pod(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        if (nargs < 1)
                return k8c_make_error(err, K8C_EUSAGE, "error: NAME is required for run");
        if (nargs > 1)
                return k8c_make_error(err, K8C_EUSAGE,
                                      "error: unexpected arguments: %s (use -- to give the container's "
                                      "arguments)",
                                      args[1]);
        if (cli->images == NULL || cli->images[0] == NULL)
                return k8c_make_error(err, K8C_EUSAGE, "error: required flag(s) \"image\" not set");
        const char *name = args[0];
        const char *restart = cli->restart != NULL ? cli->restart : "Always";
        if (strcmp(restart, "Always") != 0 && strcmp(restart, "OnFailure") != 0 &&
            strcmp(restart, "Never") != 0)
                return k8c_make_error(err, K8C_EUSAGE, "error: invalid restart policy: %s", restart);
        json_auto_t *labels = NULL;
        const char *ltext = cli->labels != NULL ? cli->labels : cli->selector;
        if (ltext != NULL) {
                int r = k8c_cli_parse_label_list(ltext, &labels, err);
                if (r < 0)
                        return r;
        } else {
                labels = json_pack("{s:s}", "run", name);
        }
        json_t *c = json_pack("{s:s, s:s}", "name", name, "image", cli->images[0]);
        if (cli->ndash_args > 0) {
                json_t *a = json_array();
                for (int i = 0; i < cli->ndash_args; i++)
                        json_array_append_new(a, json_string(cli->dash_args[i]));
                json_object_set_new(c, cli->command ? "command" : "args", a);
        }
        if (cli->port != NULL)
                json_object_set_new(c, "ports", json_pack("[{s:i}]", "containerPort", atoi(cli->port)));
        if (cli->env != NULL && cli->env[0] != NULL) {
                json_t *env = json_array();
                for (char **e = cli->env; *e != NULL; e++) {
                        const char *eq = strchr(*e, '=');
                        if (eq == NULL || eq == *e) {
                                json_decref(env);
                                json_decref(c);
                                return k8c_make_error(err, K8C_EUSAGE, "error: invalid env: %s", *e);
                        }
                        cleanup_free char *k = k8c_xstrndup(*e, (size_t)(eq - *e));
                        json_array_append_new(env, json_pack("{s:s, s:s}", "name", k, "value", eq + 1));
                }
                json_object_set_new(c, "env", env);
        }
        json_object_set_new(c, "resources", json_object());
        if (cli->image_pull_policy != NULL)
                json_object_set_new(c, "imagePullPolicy", json_string(cli->image_pull_policy));
        json_t *meta = k8c_cli_generated_meta(name);
        json_object_set(meta, "labels", labels);
        json_auto_t *pod = json_pack("{s:s, s:s, s:o, s:{s:[o], s:s, s:s}, s:{}}", "kind", "Pod",
                                     "apiVersion", "v1", "metadata", meta, "spec", "containers", c,
                                     "restartPolicy", restart, "dnsPolicy", "ClusterFirst", "status");
        return k8c_cli_submit(cli, pod, "kubectl-run", "created", err);
}

/*
 * scale.c - `k8cctl scale`: PATCH .../scale with {"spec":{"replicas":N}}, or with
 * --current-replicas a GET of the Scale, the precondition check, and a PUT.
 *
 * It must not write the parent object: only its scale subresource.
 */
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"

int k8c_cli_scale(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        if (!cli->replicas_set)
                return k8c_make_error(err, K8C_EUSAGE, "error: required flag(s) \"replicas\" not set");
        if (cli->replicas < 0)
                return k8c_make_error(err, K8C_EUSAGE,
                                      "error: The --replicas=COUNT flag is required, and COUNT must be "
                                      "greater than or equal to 0");
        struct k8c_cli_target *t = NULL;
        size_t n = 0;
        int r = k8c_cli_named_targets(cli, args, nargs, &t, &n, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r == 0; i++) {
                /* kubectl resolves the object first and words a missing one its own way. */
                cleanup_free char *opath = k8c_cli_path(t[i].res, cli->ns, t[i].name, NULL);
                cleanup_error k8c_error_t gerr = NULL;
                if (k8c_cli_request(cli, "GET", opath, NULL, NULL, NULL, &gerr) < 0) {
                        const char *m = k8c_error_msg(&gerr);
                        const char *pfx = "Error from server (NotFound): ";
                        if (k8c_error_reason(&gerr) == K8C_ENOTFOUND && strncmp(m, pfx, strlen(pfx)) == 0)
                                r = k8c_make_error(err, K8C_ENOTFOUND, "error: no objects passed to scale %s",
                                                   m + strlen(pfx));
                        else
                                r = k8c_make_error(err, k8c_error_reason(&gerr), "%s", m);
                        break;
                }
                cleanup_free char *path = k8c_cli_path(t[i].res, cli->ns, t[i].name, "scale");
                if (cli->current_replicas_set || cli->resource_version != NULL) {
                        json_auto_t *scale = NULL;
                        r = k8c_cli_request(cli, "GET", path, NULL, NULL, &scale, err);
                        if (r < 0)
                                break;
                        json_int_t have = k8c_json_get_int(scale, "spec.replicas", 0);
                        if (cli->current_replicas_set && have != cli->current_replicas) {
                                r = k8c_make_error(err, K8C_ECONFLICT,
                                                   "error: Expected replicas to be %d, was %lld",
                                                   cli->current_replicas, (long long)have);
                                break;
                        }
                        if (cli->resource_version != NULL) {
                                const char *rv = k8c_json_get_string(scale, "metadata.resourceVersion");
                                if (rv == NULL || strcmp(rv, cli->resource_version) != 0) {
                                        r = k8c_make_error(
                                                err, K8C_ECONFLICT,
                                                "error: Expected resource version to be %s, was %s",
                                                cli->resource_version, rv != NULL ? rv : "");
                                        break;
                                }
                        }
                        k8c_json_set_new(scale, "spec.replicas", json_integer(cli->replicas));
                        r = k8c_cli_request(cli, "PUT", path, scale, NULL, NULL, err);
                } else {
                        json_auto_t *patch = json_pack("{s:{s:i}}", "spec", "replicas", cli->replicas);
                        r = k8c_cli_request(cli, "PATCH", path, patch, "application/merge-patch+json", NULL,
                                            err);
                }
                if (r == 0) {
                        cleanup_free char *type = k8c_cli_type_name(t[i].res);
                        fprintf(cli->out, "%s/%s scaled\n", type, t[i].name);
                }
        }
        k8c_cli_targets_free(t, n);
        return r;
}

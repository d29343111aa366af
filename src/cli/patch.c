/*
 * patch.c - `k8cctl patch TYPE NAME -p PATCH --type strategic|merge|json`: the
 * patch (JSON or YAML) is sent as given with the matching Content-Type.
 *
 * It must not interpret the patch: the apiserver applies it.
 */
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"
#include "k8c/yaml.h"

struct patch_req {
        const json_t *body;
        const char *content_type;
};

static int patch_one(struct k8c_cli *cli, const struct k8c_cli_target *t, const json_t *before, void *opaque,
                     k8c_error_t *err)
{
        const struct patch_req *req = opaque;
        cleanup_free char *path = k8c_cli_path(t->res, cli->ns, t->name, NULL);
        cleanup_free char *ppath = k8c_xasprintf("%s?fieldManager=kubectl-patch", path);
        json_auto_t *after = NULL;
        int r = k8c_cli_request(cli, "PATCH", ppath, req->body, req->content_type, &after, err);
        if (r < 0)
                return r;
        cleanup_free char *type = k8c_cli_type_name(t->res);
        /* The resourceVersion moves only when the stored object changed. */
        const char *rv0 = k8c_json_get_string(before, "metadata.resourceVersion");
        const char *rv1 = k8c_json_get_string(after, "metadata.resourceVersion");
        bool same = rv0 != NULL && rv1 != NULL && strcmp(rv0, rv1) == 0;
        fprintf(cli->out, "%s/%s patched%s\n", type, t->name, same ? " (no change)" : "");
        return 0;
}

int k8c_cli_patch(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        const char *ct = NULL;
        if (strcmp(cli->patch_type, "strategic") == 0)
                ct = "application/strategic-merge-patch+json";
        else if (strcmp(cli->patch_type, "merge") == 0)
                ct = "application/merge-patch+json";
        else if (strcmp(cli->patch_type, "json") == 0)
                ct = "application/json-patch+json";
        else
                return k8c_make_error(err, K8C_EUSAGE,
                                      "error: --type must be one of [json merge strategic], not \"%s\"",
                                      cli->patch_type);
        if (cli->patch == NULL)
                return k8c_make_error(err, K8C_EUSAGE, "error: must specify -p to patch");
        json_auto_t *body = NULL;
        cleanup_error k8c_error_t perr = NULL;
        if (k8c_yaml_to_json(cli->patch, strlen(cli->patch), &body, &perr) < 0 || body == NULL)
                return k8c_make_error(err, K8C_EBADREQUEST, "error: unable to parse \"%s\": %s", cli->patch,
                                      perr != NULL ? k8c_error_msg(&perr) : "empty patch");
        struct patch_req req = { body, ct };
        return k8c_cli_each_named_object(cli, args, nargs, patch_one, &req, err);
}

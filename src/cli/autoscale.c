/*
 * autoscale.c - `k8cctl autoscale deployment NAME --max=N [--min=M]
 * [--cpu-percent=P]`: an autoscaling/v2 HorizontalPodAutoscaler targeting the
 * object's scale (the v2 form of what kubectl generates).
 *
 * It must not scale anything itself: the HPA controller does.
 */
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"

static int autoscale_one(struct k8c_cli *cli, const struct k8c_cli_target *t, const json_t *obj, void *opaque,
                         k8c_error_t *err)
{
        const char *kind = json_string_value(json_object_get(t->res, "kind"));
        static const char *const scalable[] = { "Deployment", "ReplicaSet", "StatefulSet",
                                                "ReplicationController" };
        bool ok = false;
        for (size_t i = 0; i < K8C_ARRAY_SIZE(scalable); i++)
                ok = ok || strcmp(kind, scalable[i]) == 0;
        if (!ok)
                return k8c_make_error(err, K8C_EBADREQUEST, "error: cannot autoscale a %s: not scalable",
                                      kind);
        const char *group = json_string_value(json_object_get(t->res, "group"));
        const char *version = json_string_value(json_object_get(t->res, "version"));
        cleanup_free char *api_version = group != NULL && group[0] != '\0'
                                                 ? k8c_xasprintf("%s/%s", group, version)
                                                 : k8c_xstrdup(version);
        json_t *spec = json_pack("{s:{s:s, s:s, s:s}}", "scaleTargetRef", "kind", kind, "name", t->name,
                                 "apiVersion", api_version);
        if (cli->min_replicas >= 0)
                json_object_set_new(spec, "minReplicas", json_integer(cli->min_replicas));
        json_object_set_new(spec, "maxReplicas", json_integer(cli->max_replicas));
        if (cli->cpu_percent >= 0)
                json_object_set_new(spec, "metrics",
                                    json_pack("[{s:s, s:{s:s, s:{s:s, s:i}}}]", "type", "Resource",
                                              "resource", "name", "cpu", "target", "type", "Utilization",
                                              "averageUtilization", cli->cpu_percent));
        json_auto_t *hpa = json_pack("{s:s, s:s, s:o, s:o, s:{s:i}}", "kind", "HorizontalPodAutoscaler",
                                     "apiVersion", "autoscaling/v2", "metadata",
                                     k8c_cli_generated_meta(cli->name != NULL ? cli->name : t->name), "spec",
                                     spec, "status", "desiredReplicas", 0);
        return k8c_cli_submit(cli, hpa, "kubectl-autoscale", "autoscaled", err);
}

int k8c_cli_autoscale(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        if (cli->max_replicas < 1)
                return k8c_make_error(err, K8C_EUSAGE,
                                      "error: --max=MAXPODS is required and must be at least 1, max: %d",
                                      cli->max_replicas);
        if (cli->min_replicas > cli->max_replicas)
                return k8c_make_error(
                        err, K8C_EUSAGE,
                        "error: --max=MAXPODS must be larger or equal to --min=MINPODS, max: %d, min: %d",
                        cli->max_replicas, cli->min_replicas);
        return k8c_cli_each_named_object(cli, args, nargs, autoscale_one, NULL, err);
}

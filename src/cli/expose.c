/*
 * expose.c - `k8cctl expose (deployment|rs|pod|service) NAME`: a Service
 * selecting what the object selects (or its labels, for a pod), on --port or
 * the ports its containers declare, as kubectl expose generates it.
 *
 * It must not change the exposed object.
 */
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"

/* The selector a Service needs to reach the object's pods, and the ports ({port, protocol}) the
 * object declares. */
static int introspect(const json_t *obj, const char *kind, json_t **ret_selector, json_t *ports,
                      k8c_error_t *err)
{
        const json_t *containers = NULL;
        if (strcmp(kind, "Deployment") == 0 || strcmp(kind, "ReplicaSet") == 0) {
                if (json_array_size(k8c_json_get(obj, "spec.selector.matchExpressions")) > 0)
                        return k8c_make_error(
                                err, K8C_EINVALID,
                                "error: couldn't retrieve selectors via --selector flag or introspection: "
                                "the selector has matchExpressions, which a Service cannot hold");
                *ret_selector = json_incref(k8c_json_get(obj, "spec.selector.matchLabels"));
                containers = k8c_json_get(obj, "spec.template.spec.containers");
        } else if (strcmp(kind, "Pod") == 0) {
                *ret_selector = json_incref(k8c_json_get(obj, "metadata.labels"));
                containers = k8c_json_get(obj, "spec.containers");
        } else if (strcmp(kind, "Service") == 0) {
                *ret_selector = json_incref(k8c_json_get(obj, "spec.selector"));
                size_t i;
                json_t *p;
                json_array_foreach(k8c_json_get(obj, "spec.ports"), i, p) json_array_append_new(
                        ports, json_pack("{s:I, s:s}", "port", k8c_json_get_int(p, "port", 0), "protocol",
                                         k8c_json_get_string(p, "protocol") ?: "TCP"));
        } else {
                return k8c_make_error(err, K8C_EBADREQUEST, "error: cannot expose a %s", kind);
        }
        size_t i, j;
        json_t *c, *p;
        json_array_foreach(containers, i, c) json_array_foreach(json_object_get(c, "ports"), j, p)
                json_array_append_new(ports,
                                      json_pack("{s:I, s:s}", "port", k8c_json_get_int(p, "containerPort", 0),
                                                "protocol", k8c_json_get_string(p, "protocol") ?: "TCP"));
        return 0;
}

static int expose_one(struct k8c_cli *cli, const struct k8c_cli_target *t, const json_t *obj, void *opaque,
                      k8c_error_t *err)
{
        const char *kind = json_string_value(json_object_get(t->res, "kind"));
        json_auto_t *selector = NULL, *found = json_array();
        int r = introspect(obj, kind, &selector, found, err);
        if (r < 0)
                return r;
        if (cli->selector != NULL) {
                json_decref(selector);
                selector = NULL;
                r = k8c_cli_parse_label_list(cli->selector, &selector, err);
                if (r < 0)
                        return r;
        }
        if (json_object_size(selector) == 0)
                return k8c_make_error(
                        err, K8C_EINVALID,
                        "error: couldn't retrieve selectors via --selector flag or introspection");
        /* --port (a comma list) or every port the object declares. */
        json_auto_t *wanted = json_array();
        if (cli->port != NULL) {
                cleanup_free char *copy = k8c_xstrdup(cli->port);
                char *save = NULL;
                for (char *p = strtok_r(copy, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save))
                        json_array_append_new(wanted, json_pack("{s:i}", "port", atoi(p)));
        } else {
                json_array_extend(wanted, found);
        }
        if (json_array_size(wanted) == 0)
                return k8c_make_error(err, K8C_EINVALID,
                                      "error: couldn't find port via --port flag or introspection");
        json_t *ports = json_array();
        size_t i;
        json_t *w;
        json_array_foreach(wanted, i, w)
        {
                json_int_t port = k8c_json_get_int(w, "port", 0);
                const char *proto = cli->protocol;
                for (size_t k = 0; proto == NULL && k < json_array_size(found); k++)
                        if (k8c_json_get_int(json_array_get(found, k), "port", 0) == port)
                                proto = k8c_json_get_string(json_array_get(found, k), "protocol");
                json_t *sp = json_object();
                if (json_array_size(wanted) > 1) {
                        char pname[32];
                        snprintf(pname, sizeof(pname), "port-%zu", i + 1);
                        json_object_set_new(sp, "name", json_string(pname));
                }
                json_object_set_new(sp, "protocol", json_string(proto != NULL ? proto : "TCP"));
                json_object_set_new(sp, "port", json_integer(port));
                json_object_set_new(sp, "targetPort",
                                    cli->target_port != NULL ? k8c_cli_int_or_string(cli->target_port)
                                                             : json_integer(port));
                json_array_append_new(ports, sp);
        }
        const char *name = cli->name != NULL ? cli->name : t->name;
        json_t *meta = k8c_cli_generated_meta(name);
        json_auto_t *labels = NULL;
        if (cli->labels != NULL) {
                r = k8c_cli_parse_label_list(cli->labels, &labels, err);
                if (r < 0) {
                        json_decref(meta);
                        json_decref(ports);
                        return r;
                }
        } else {
                labels = json_incref(k8c_json_get(obj, "metadata.labels"));
        }
        if (json_object_size(labels) > 0)
                json_object_set(meta, "labels", labels);
        json_t *spec = json_pack("{s:o, s:O}", "ports", ports, "selector", selector);
        if (cli->patch_type_set)
                json_object_set_new(spec, "type", json_string(cli->patch_type));
        json_auto_t *svc = json_pack("{s:s, s:s, s:o, s:o, s:{s:{}}}", "kind", "Service", "apiVersion", "v1",
                                     "metadata", meta, "spec", spec, "status", "loadBalancer");
        return k8c_cli_submit(cli, svc, "kubectl-expose", "exposed", err);
}

int k8c_cli_expose(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        return k8c_cli_each_named_object(cli, args, nargs, expose_one, NULL, err);
}

/*
 * generate.c - objects made from flags, as kubectl's generators make them:
 * `create deployment|namespace|configmap|secret generic|service clusterip`,
 * and the submit step `run`, `expose` and `autoscale` share (POST, or with
 * --dry-run=client only print; -o prints the result in that format).
 *
 * Generated objects carry what kubectl's typed structs serialise
 * (creationTimestamp null, empty status), so the stored objects match
 * kubectl's. It must not read manifests (apply.c does).
 */
#include <dirent.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"
#include "k8c/names.h"

int k8c_cli_submit(struct k8c_cli *cli, json_t *obj, const char *field_manager, const char *done,
                   k8c_error_t *err)
{
        const char *dry = cli->dry_run != NULL ? cli->dry_run : "none";
        if (strcmp(dry, "none") != 0 && strcmp(dry, "client") != 0 && strcmp(dry, "server") != 0)
                return k8c_make_error(
                        err, K8C_EUSAGE,
                        "error: Invalid dry-run value (%s). Must be \"none\", \"server\", or \"client\".",
                        dry);
        int r = k8c_cli_discover(cli, err);
        if (r < 0)
                return r;
        const json_t *res = NULL;
        r = k8c_cli_resolve_kind(cli->resources, k8c_json_get_string(obj, "apiVersion"),
                                 k8c_json_get_string(obj, "kind"), &res, err);
        if (r < 0)
                return r;
        json_auto_t *result = NULL;
        if (strcmp(dry, "client") == 0) {
                result = json_incref(obj);
        } else {
                bool namespaced = json_is_true(json_object_get(res, "namespaced"));
                cleanup_free char *base = k8c_cli_path(res, namespaced ? cli->ns : NULL, NULL, NULL);
                cleanup_free char *path = k8c_xasprintf(
                        "%s?%sfieldManager=%s%s", base, strcmp(dry, "server") == 0 ? "dryRun=All&" : "",
                        field_manager,
                        strcmp(field_manager, "kubectl-create") == 0 ? "&fieldValidation=Strict" : "");
                r = k8c_cli_request(cli, "POST", path, obj, NULL, &result, err);
                if (r < 0)
                        return r;
        }
        if (cli->output != NULL && strcmp(cli->output, "wide") != 0) {
                json_auto_t *one = json_pack("[O]", result);
                return k8c_cli_print_objects(cli->out, cli->output, one, true, cli->resources, err);
        }
        cleanup_free char *type = k8c_cli_type_name(res);
        fprintf(cli->out, "%s/%s %s%s\n", type, k8c_json_get_string(result, "metadata.name"), done,
                strcmp(dry, "client") == 0   ? " (dry run)"
                : strcmp(dry, "server") == 0 ? " (server dry run)"
                                             : "");
        return 0;
}

/* {"name": NAME, "creationTimestamp": null} as a typed ObjectMeta serialises. */
json_t *k8c_cli_generated_meta(const char *name)
{
        return json_pack("{s:s, s:n}", "name", name, "creationTimestamp");
}

/* kubectl's sanitizeAndUniquify: a name with "_" or "." gets them as "-" and a random suffix. */
static char *container_name_for(const char *image)
{
        const char *slash = strrchr(image, '/');
        char *name = k8c_xstrdup(slash != NULL ? slash + 1 : image);
        name[strcspn(name, ":")] = '\0';
        name[strcspn(name, "@")] = '\0';
        if (strpbrk(name, "_.") == NULL)
                return name;
        for (char *p = name; *p != '\0'; p++)
                if (*p == '_' || *p == '.')
                        *p = '-';
        cleanup_free char *base = k8c_xasprintf("%s-", name);
        free(name);
        return k8c_generate_name(base);
}

static json_t *string_array(char **v, int n)
{
        json_t *a = json_array();
        for (int i = 0; i < n; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static int create_deployment(struct k8c_cli *cli, const char *name, k8c_error_t *err)
{
        size_t nimages = 0;
        while (cli->images != NULL && cli->images[nimages] != NULL)
                nimages++;
        if (nimages == 0)
                return k8c_make_error(err, K8C_EUSAGE, "error: required flag(s) \"image\" not set");
        if (nimages > 1 && cli->ndash_args > 0)
                return k8c_make_error(err, K8C_EUSAGE,
                                      "error: cannot specify multiple --image options and command");
        json_t *containers = json_array();
        for (size_t i = 0; i < nimages; i++) {
                cleanup_free char *cname = container_name_for(cli->images[i]);
                json_t *c = json_pack("{s:s, s:s}", "name", cname, "image", cli->images[i]);
                if (cli->ndash_args > 0)
                        json_object_set_new(c, "command", string_array(cli->dash_args, cli->ndash_args));
                if (i == 0 && cli->port != NULL)
                        json_object_set_new(c, "ports",
                                            json_pack("[{s:i}]", "containerPort", atoi(cli->port)));
                json_object_set_new(c, "resources", json_object());
                json_array_append_new(containers, c);
        }
        json_t *meta = k8c_cli_generated_meta(name);
        json_object_set_new(meta, "labels", json_pack("{s:s}", "app", name));
        json_auto_t *d =
                json_pack("{s:s, s:s, s:o, s:{s:i, s:{s:{s:s}}, s:{s:{s:n, s:{s:s}}, s:{s:o}}, s:{}}, s:{}}",
                          "kind", "Deployment", "apiVersion", "apps/v1", "metadata", meta, "spec", "replicas",
                          cli->replicas_set ? cli->replicas : 1, "selector", "matchLabels", "app", name,
                          "template", "metadata", "creationTimestamp", "labels", "app", name, "spec",
                          "containers", containers, "strategy", "status");
        return k8c_cli_submit(cli, d, "kubectl-create", "created", err);
}

static int create_namespace(struct k8c_cli *cli, const char *name, k8c_error_t *err)
{
        json_auto_t *ns = json_pack("{s:s, s:s, s:o, s:{}, s:{}}", "kind", "Namespace", "apiVersion", "v1",
                                    "metadata", k8c_cli_generated_meta(name), "spec", "status");
        return k8c_cli_submit(cli, ns, "kubectl-create", "created", err);
}

static int read_file(const char *path, char **ret, size_t *ret_len, k8c_error_t *err)
{
        FILE *f = fopen(path, "rb");
        if (f == NULL)
                return k8c_make_error(err, K8C_EBADREQUEST,
                                      "error: error reading %s: no such file or directory", path);
        int r = k8c_cli_read_all(f, ret, ret_len);
        fclose(f);
        if (r < 0) {
                free(*ret);
                *ret = NULL;
                return k8c_make_error(err, K8C_EBADREQUEST, "error: error reading %s", path);
        }
        return 0;
}

static char *base64(const char *data, size_t len)
{
        gnutls_datum_t in = { (unsigned char *)data, (unsigned int)len }, out = { NULL, 0 };
        if (len == 0)
                return k8c_xstrdup("");
        if (gnutls_base64_encode2(&in, &out) < 0)
                abort();
        char *s = k8c_xstrndup((const char *)out.data, out.size);
        gnutls_free(out.data);
        return s;
}

static int add_entry(json_t *data, const char *key, const char *value, size_t len, bool encode,
                     k8c_error_t *err)
{
        if (json_object_get(data, key) != NULL)
                return k8c_make_error(err, K8C_EINVALID,
                                      "error: cannot add key %s, another key by that name already exists",
                                      key);
        if (encode) {
                cleanup_free char *b = base64(value, len);
                json_object_set_new(data, key, json_string(b));
        } else {
                json_t *s = json_stringn(value, len);
                if (s == NULL)
                        return k8c_make_error(err, K8C_EINVALID, "error: %s is not valid UTF-8", key);
                json_object_set_new(data, key, s);
        }
        return 0;
}

/* --from-literal=k=v and --from-file=[key=]path (a directory: each regular file in it). */
static int gather_data(struct k8c_cli *cli, bool encode, json_t *data, k8c_error_t *err)
{
        for (char **l = cli->from_literal; l != NULL && *l != NULL; l++) {
                const char *eq = strchr(*l, '=');
                if (eq == NULL || eq == *l)
                        return k8c_make_error(err, K8C_EUSAGE,
                                              "error: invalid literal source %s, expected key=value", *l);
                cleanup_free char *key = k8c_xstrndup(*l, (size_t)(eq - *l));
                int r = add_entry(data, key, eq + 1, strlen(eq + 1), encode, err);
                if (r < 0)
                        return r;
        }
        for (char **f = cli->from_file; f != NULL && *f != NULL; f++) {
                const char *eq = strchr(*f, '=');
                const char *path = eq != NULL ? eq + 1 : *f;
                cleanup_free char *key = eq != NULL ? k8c_xstrndup(*f, (size_t)(eq - *f)) : NULL;
                struct stat st;
                if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && key == NULL) {
                        struct dirent **ents = NULL;
                        int n = scandir(path, &ents, NULL, alphasort);
                        int r = 0;
                        for (int i = 0; i < n; i++) {
                                cleanup_free char *p = k8c_xasprintf("%s/%s", path, ents[i]->d_name);
                                struct stat fst;
                                if (r == 0 && stat(p, &fst) == 0 && S_ISREG(fst.st_mode)) {
                                        cleanup_free char *buf = NULL;
                                        size_t len = 0;
                                        r = read_file(p, &buf, &len, err);
                                        if (r == 0)
                                                r = add_entry(data, ents[i]->d_name, buf, len, encode, err);
                                }
                                free(ents[i]);
                        }
                        free(ents);
                        if (r < 0)
                                return r;
                        continue;
                }
                cleanup_free char *buf = NULL;
                size_t len = 0;
                int r = read_file(path, &buf, &len, err);
                if (r < 0)
                        return r;
                const char *base = strrchr(path, '/');
                r = add_entry(data,
                              key != NULL    ? key
                              : base != NULL ? base + 1
                                             : path,
                              buf, len, encode, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int create_configmap(struct k8c_cli *cli, const char *name, k8c_error_t *err)
{
        json_auto_t *data = json_object();
        int r = gather_data(cli, false, data, err);
        if (r < 0)
                return r;
        json_auto_t *cm = json_pack("{s:s, s:s, s:o}", "kind", "ConfigMap", "apiVersion", "v1", "metadata",
                                    k8c_cli_generated_meta(name));
        if (json_object_size(data) > 0)
                json_object_set(cm, "data", data);
        return k8c_cli_submit(cli, cm, "kubectl-create", "created", err);
}

static int create_secret(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        if (nargs == 0 || strcmp(args[0], "generic") != 0)
                return k8c_make_error(err, K8C_EUSAGE, "error: only \"create secret generic\" is supported");
        if (nargs != 2)
                return k8c_make_error(err, K8C_EUSAGE, "error: exactly one NAME is required, got %d",
                                      nargs - 1);
        json_auto_t *data = json_object();
        int r = gather_data(cli, true, data, err);
        if (r < 0)
                return r;
        json_auto_t *s = json_pack("{s:s, s:s, s:o}", "kind", "Secret", "apiVersion", "v1", "metadata",
                                   k8c_cli_generated_meta(args[1]));
        if (json_object_size(data) > 0)
                json_object_set(s, "data", data);
        if (cli->patch_type_set)
                json_object_set_new(s, "type", json_string(cli->patch_type));
        return k8c_cli_submit(cli, s, "kubectl-create", "created", err);
}

/* A port or target port: a number when it is one, else a name. */
json_t *k8c_cli_int_or_string(const char *s)
{
        char *end = NULL;
        long v = strtol(s, &end, 10);
        if (s[0] != '\0' && *end == '\0')
                return json_integer(v);
        return json_string(s);
}

static int create_service(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        if (nargs == 0 || strcmp(args[0], "clusterip") != 0)
                return k8c_make_error(err, K8C_EUSAGE,
                                      "error: only \"create service clusterip\" is supported");
        if (nargs != 2)
                return k8c_make_error(err, K8C_EUSAGE, "error: exactly one NAME is required, got %d",
                                      nargs - 1);
        const char *name = args[1];
        bool headless = cli->cluster_ip != NULL && strcmp(cli->cluster_ip, "None") == 0;
        if ((cli->tcp == NULL || cli->tcp[0] == NULL) && !headless)
                return k8c_make_error(err, K8C_EUSAGE,
                                      "error: at least one tcp port specifier must be provided");
        json_t *ports = json_array();
        for (char **t = cli->tcp; t != NULL && *t != NULL; t++) {
                const char *colon = strchr(*t, ':');
                cleanup_free char *port =
                        colon != NULL ? k8c_xstrndup(*t, (size_t)(colon - *t)) : k8c_xstrdup(*t);
                const char *target = colon != NULL ? colon + 1 : *t;
                cleanup_free char *pname =
                        colon != NULL ? k8c_xasprintf("%s-%s", port, target) : k8c_xstrdup(port);
                json_array_append_new(ports, json_pack("{s:s, s:s, s:i, s:o}", "name", pname, "protocol",
                                                       "TCP", "port", atoi(port), "targetPort",
                                                       k8c_cli_int_or_string(target)));
        }
        json_t *meta = k8c_cli_generated_meta(name);
        json_object_set_new(meta, "labels", json_pack("{s:s}", "app", name));
        json_t *spec = json_object();
        if (json_array_size(ports) > 0)
                json_object_set_new(spec, "ports", ports);
        else
                json_decref(ports);
        json_object_set_new(spec, "selector", json_pack("{s:s}", "app", name));
        if (cli->cluster_ip != NULL && cli->cluster_ip[0] != '\0')
                json_object_set_new(spec, "clusterIP", json_string(cli->cluster_ip));
        json_object_set_new(spec, "type", json_string("ClusterIP"));
        json_auto_t *svc = json_pack("{s:s, s:s, s:o, s:o, s:{s:{}}}", "kind", "Service", "apiVersion", "v1",
                                     "metadata", meta, "spec", spec, "status", "loadBalancer");
        return k8c_cli_submit(cli, svc, "kubectl-create", "created", err);
}

int k8c_cli_create_generated(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        const char *what = args[0];
        if (strcmp(what, "secret") == 0)
                return create_secret(cli, args + 1, nargs - 1, err);
        if (strcmp(what, "service") == 0 || strcmp(what, "svc") == 0)
                return create_service(cli, args + 1, nargs - 1, err);
        if (nargs != 2)
                return k8c_make_error(err, K8C_EUSAGE, "error: exactly one NAME is required, got %d",
                                      nargs - 1);
        if (strcmp(what, "deployment") == 0 || strcmp(what, "deploy") == 0)
                return create_deployment(cli, args[1], err);
        if (strcmp(what, "namespace") == 0 || strcmp(what, "ns") == 0)
                return create_namespace(cli, args[1], err);
        if (strcmp(what, "configmap") == 0 || strcmp(what, "cm") == 0)
                return create_configmap(cli, args[1], err);
        return k8c_make_error(err, K8C_EUSAGE, "error: unknown command \"%s\" for \"k8cctl create\"", what);
}

/*
 * cli.c - k8cctl's entry: the flag table shared by every verb, the effective
 * namespace, the client built from the kubeconfig, dispatch to one verb, and
 * printing of the one error line a command ends with.
 *
 * It must not hold verb logic (one file per verb) nor print anywhere but the
 * FILE pointers given to k8c_cli_run.
 */
#include "k8c/cli.h"

#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/flags.h"
#include "k8c/log.h"

struct verb {
        const char *name;
        int (*run)(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
        bool needs_server;
        const char *synopsis;
};

static const struct verb verbs[] = {
        { "get", k8c_cli_get, true, "Display one or many resources" },
        { "create", k8c_cli_create, true, "Create a resource from a file or from stdin" },
        { "apply", k8c_cli_apply, true, "Apply a configuration to a resource by file name or stdin" },
        { "replace", k8c_cli_replace, true, "Replace a resource by file name or stdin" },
        { "delete", k8c_cli_delete, true, "Delete resources by file names, stdin, resources and names" },
        { "label", k8c_cli_label, true, "Update the labels on a resource" },
        { "annotate", k8c_cli_annotate, true, "Update the annotations on a resource" },
        { "scale", k8c_cli_scale, true, "Set a new size for a deployment or replica set" },
        { "rollout", k8c_cli_rollout, true, "Manage the rollout of a resource" },
        { "run", k8c_cli_run_pod, true, "Run a particular image on the cluster" },
        { "expose", k8c_cli_expose, true,
          "Take a replication controller, service, deployment or pod and expose it as a new Kubernetes "
          "service" },
        { "autoscale", k8c_cli_autoscale, true, "Auto-scale a deployment or replica set" },
        { "why", k8c_cli_why, true, "Explain a Pending or not-Ready pod, or a Service without endpoints" },
        { "patch", k8c_cli_patch, true, "Update fields of a resource" },
        { "describe", k8c_cli_describe, true, "Show details of a specific resource or group of resources" },
        { "wait", k8c_cli_wait, true, "Wait for a specific condition on one or many resources" },
        { "top", k8c_cli_top, true, "Display resource (CPU/memory) usage" },
        { "config", k8c_cli_config, false, "Modify kubeconfig files" },
        { "version", k8c_cli_version, false, "Print the client and server version information" },
        { "api-resources", k8c_cli_api_resources, true, "Print the supported API resources on the server" },
        { "cluster-info", k8c_cli_cluster_info, true, "Display cluster information" },
        { "logs", k8c_cli_logs, true, "Print the logs for a container in a pod" },
        { "exec", k8c_cli_exec, true, "Execute a command in a container" },
        { "port-forward", k8c_cli_port_forward, true, "Forward one or more local ports to a pod" },
        { NULL, NULL, false, NULL },
};

static void usage(FILE *out, const struct k8c_flag *flags)
{
        fprintf(out, "k8cctl controls the k8c cluster manager.\n\nCommands:\n");
        for (const struct verb *v = verbs; v->name != NULL; v++)
                fprintf(out, "  %-14s %s\n", v->name, v->synopsis);
        fputc('\n', out);
        k8c_flags_usage(out, "k8cctl", "[command] [TYPE[/NAME]] [flags]", flags);
}

int k8c_cli_connect(struct k8c_cli *cli, k8c_error_t *err)
{
        if (cli->client != NULL)
                return 0;
        if (!cli->kc_loaded) {
                cleanup_error k8c_error_t lerr = NULL;
                if (k8c_kubeconfig_load(cli->kubeconfig, cli->context, cli->server, &cli->kc, &lerr) < 0)
                        return k8c_make_error(err, K8C_EBADREQUEST, "error: %s", k8c_error_msg(&lerr));
                cli->kc_loaded = true;
        }
        struct k8c_client_config cfg = {
                .server = cli->kc.server,
                .ca_file = cli->kc.certificate_authority,
                .ca_data = cli->kc.certificate_authority_data,
                .ca_data_len = cli->kc.certificate_authority_data_len,
                .cert_file = cli->kc.client_certificate,
                .cert_data = cli->kc.client_certificate_data,
                .cert_data_len = cli->kc.client_certificate_data_len,
                .key_file = cli->kc.client_key,
                .key_data = cli->kc.client_key_data,
                .key_data_len = cli->kc.client_key_data_len,
                .token = cli->token != NULL ? cli->token : cli->kc.token,
                .insecure_skip_tls_verify = cli->kc.insecure_skip_tls_verify,
                .timeout_ms = cli->request_timeout_ms,
                /* An interactive command reports an unreachable server at once, as kubectl does. */
                .max_retries = 1,
                .user_agent = "k8cctl/" K8C_VERSION,
        };
        cleanup_error k8c_error_t cerr = NULL;
        if (k8c_client_new(&cfg, &cli->client, &cerr) < 0)
                return k8c_make_error(err, K8C_EBADREQUEST, "error: %s", k8c_error_msg(&cerr));
        return 0;
}

/* The namespace a command works in: -n, else the context's, else "default". Loading the
 * kubeconfig here (not only on connect) lets a missing server still yield a namespace. */
static void resolve_namespace(struct k8c_cli *cli)
{
        if (cli->namespace_ != NULL) {
                cli->ns = cli->namespace_;
                return;
        }
        if (!cli->kc_loaded) {
                if (k8c_kubeconfig_load(cli->kubeconfig, cli->context, cli->server, &cli->kc, NULL) == 0)
                        cli->kc_loaded = true;
        }
        cli->ns = cli->kc_loaded && cli->kc.namespace_ != NULL ? cli->kc.namespace_ : "default";
}

static void cli_free(struct k8c_cli *cli)
{
        k8c_client_free(cli->client);
        if (cli->kc_loaded)
                k8c_kubeconfig_free(&cli->kc);
        json_decref(cli->resources);
        k8c_strv_free(cli->filenames);
        k8c_strv_free(cli->label_columns);
        k8c_strv_free(cli->images);
        k8c_strv_free(cli->env);
        k8c_strv_free(cli->from_literal);
        k8c_strv_free(cli->from_file);
        k8c_strv_free(cli->tcp);
}

/* kubectl's per-verb short flags that clash with the shared table or bundle: `logs -f`
 * (follow, not filename), `logs -p` (previous, not patch), `exec -it`. Returns a new argv
 * (the strings borrowed). */
static char **verb_shorthands(int argc, char **argv)
{
        static const char *const takes_value[] = { "-n",           "--namespace", "-s",      "--server",
                                                   "--kubeconfig", "--context",   "--token", "-c",
                                                   "--container",  "-o",          "-l" };
        const char *verb = NULL;
        for (int i = 1; i < argc && verb == NULL; i++) {
                if (strcmp(argv[i], "--") == 0)
                        break;
                if (argv[i][0] != '-') {
                        verb = argv[i];
                        break;
                }
                for (size_t j = 0; j < K8C_ARRAY_SIZE(takes_value); j++)
                        if (strcmp(argv[i], takes_value[j]) == 0)
                                i++;
        }
        char **v = k8c_xcalloc((size_t)argc * 2 + 1, sizeof(char *));
        int n = 0;
        bool dash = false;
        for (int i = 0; i < argc; i++) {
                char *a = argv[i];
                if (i > 0 && !dash && verb != NULL) {
                        if (strcmp(a, "--") == 0) {
                                dash = true;
                        } else if (strcmp(verb, "logs") == 0 && strcmp(a, "-f") == 0) {
                                v[n++] = "--follow";
                                continue;
                        } else if (strcmp(verb, "logs") == 0 && strcmp(a, "-p") == 0) {
                                v[n++] = "--previous";
                                continue;
                        } else if (strcmp(verb, "exec") == 0 &&
                                   (strcmp(a, "-it") == 0 || strcmp(a, "-ti") == 0)) {
                                v[n++] = "-i";
                                v[n++] = "-t";
                                continue;
                        }
                }
                v[n++] = a;
        }
        v[n] = NULL;
        return v;
}

int k8c_cli_run(int argc, char **argv, FILE *out, FILE *errout)
{
        cleanup_free char **args_v = verb_shorthands(argc, argv);
        for (argc = 0; args_v[argc] != NULL; argc++)
                ;
        argv = args_v;
        struct k8c_cli cli = {
                .out = out,
                .errout = errout,
                .cascade = "background",
                .grace_period = -1,
                .current_replicas = -1,
                .patch_type = "strategic",
                .wait = true,
                .chunk_size = 500,
                .min_replicas = -1,
                .max_replicas = -1,
                .cpu_percent = -1,
                .tail = -1,
        };
        const struct k8c_flag flags[] = {
                { "kubeconfig", 0, K8C_FLAG_STRING, &cli.kubeconfig, "path to the kubeconfig file", NULL },
                { "context", 0, K8C_FLAG_STRING, &cli.context, "kubeconfig context to use", NULL },
                { "namespace", 'n', K8C_FLAG_STRING, &cli.namespace_, "namespace of the request", NULL },
                { "all-namespaces", 'A', K8C_FLAG_BOOL, &cli.all_namespaces, "across all namespaces", NULL },
                { "server", 's', K8C_FLAG_STRING, &cli.server, "address of the API server", NULL },
                { "token", 0, K8C_FLAG_STRING, &cli.token, "bearer token", NULL },
                { "v", 'v', K8C_FLAG_INT, &k8c_log_v, "log verbosity", NULL },
                { "request-timeout", 0, K8C_FLAG_DURATION, &cli.request_timeout_ms, "per request", NULL },
                { "output", 'o', K8C_FLAG_STRING, &cli.output, "json|yaml|name|wide|jsonpath=...", NULL },
                { "selector", 'l', K8C_FLAG_STRING, &cli.selector, "label selector", NULL },
                { "field-selector", 0, K8C_FLAG_STRING, &cli.field_selector, "field selector", NULL },
                { "sort-by", 0, K8C_FLAG_STRING, &cli.sort_by, "JSONPath of the sort field", NULL },
                { "chunk-size", 0, K8C_FLAG_INT64, &cli.chunk_size, "list in chunks of this size", NULL },
                { "watch", 'w', K8C_FLAG_BOOL, &cli.watch, "watch after listing", &cli.watch_set },
                { "watch-only", 0, K8C_FLAG_BOOL, &cli.watch_only, "watch without listing", NULL },
                { "show-labels", 0, K8C_FLAG_BOOL, &cli.show_labels, "show labels as the last column", NULL },
                { "label-columns", 'L', K8C_FLAG_STRING_ARRAY, &cli.label_columns, "label columns", NULL },
                { "no-headers", 0, K8C_FLAG_BOOL, &cli.no_headers, "no header line", NULL },
                { "show-kind", 0, K8C_FLAG_BOOL, &cli.show_kind, "show the resource type", NULL },
                { "filename", 'f', K8C_FLAG_STRING_ARRAY, &cli.filenames, "file, directory or -", NULL },
                { "recursive", 'R', K8C_FLAG_BOOL, &cli.recursive, "recurse into directories", NULL },
                { "all", 0, K8C_FLAG_BOOL, &cli.all, "every object of the type", NULL },
                { "cascade", 0, K8C_FLAG_STRING, &cli.cascade, "background|orphan|foreground", NULL },
                { "grace-period", 0, K8C_FLAG_INT, &cli.grace_period, "seconds", &cli.grace_period_set },
                { "force", 0, K8C_FLAG_BOOL, &cli.force, "immediate deletion", NULL },
                { "wait", 0, K8C_FLAG_BOOL, &cli.wait, "wait for deletion", &cli.wait_set },
                { "ignore-not-found", 0, K8C_FLAG_BOOL, &cli.ignore_not_found, "not found is fine", NULL },
                { "overwrite", 0, K8C_FLAG_BOOL, &cli.overwrite, "overwrite existing values", NULL },
                { "resource-version", 0, K8C_FLAG_STRING, &cli.resource_version, "precondition", NULL },
                { "replicas", 0, K8C_FLAG_INT, &cli.replicas, "new size", &cli.replicas_set },
                { "current-replicas", 0, K8C_FLAG_INT, &cli.current_replicas, "precondition",
                  &cli.current_replicas_set },
                { "type", 0, K8C_FLAG_STRING, &cli.patch_type, "patch type; service or secret type",
                  &cli.patch_type_set },
                { "patch", 'p', K8C_FLAG_STRING, &cli.patch, "the patch", NULL },
                { "for", 0, K8C_FLAG_STRING, &cli.for_, "condition to wait for", NULL },
                { "timeout", 0, K8C_FLAG_DURATION, &cli.timeout_ms, "how long to wait", &cli.timeout_set },
                { "server-side", 0, K8C_FLAG_BOOL, &cli.server_side, "server-side apply", NULL },
                { "revision", 0, K8C_FLAG_INT64, &cli.revision, "rollout history: one revision", NULL },
                { "to-revision", 0, K8C_FLAG_INT64, &cli.to_revision, "rollout undo: the revision", NULL },
                { "image", 0, K8C_FLAG_STRING_ARRAY, &cli.images, "container image", NULL },
                { "port", 0, K8C_FLAG_STRING, &cli.port, "port (run, expose, create deployment)", NULL },
                { "target-port", 0, K8C_FLAG_STRING, &cli.target_port, "expose: the pods' port", NULL },
                { "name", 0, K8C_FLAG_STRING, &cli.name, "name of the generated object", NULL },
                { "protocol", 0, K8C_FLAG_STRING, &cli.protocol, "expose: TCP|UDP|SCTP", NULL },
                { "labels", 0, K8C_FLAG_STRING, &cli.labels, "labels of the generated object", NULL },
                { "env", 0, K8C_FLAG_STRING_ARRAY, &cli.env, "run: NAME=VALUE", NULL },
                { "restart", 0, K8C_FLAG_STRING, &cli.restart, "run: Always|OnFailure|Never", NULL },
                { "command", 0, K8C_FLAG_BOOL, &cli.command, "run: the arguments are the command", NULL },
                { "image-pull-policy", 0, K8C_FLAG_STRING, &cli.image_pull_policy, "run: pull policy", NULL },
                { "min", 0, K8C_FLAG_INT, &cli.min_replicas, "autoscale: lower limit", NULL },
                { "max", 0, K8C_FLAG_INT, &cli.max_replicas, "autoscale: upper limit", NULL },
                { "cpu-percent", 0, K8C_FLAG_INT, &cli.cpu_percent, "autoscale: target CPU utilization",
                  NULL },
                { "from-literal", 0, K8C_FLAG_STRING_ARRAY, &cli.from_literal, "KEY=VALUE", NULL },
                { "from-file", 0, K8C_FLAG_STRING_ARRAY, &cli.from_file, "[KEY=]PATH", NULL },
                { "tcp", 0, K8C_FLAG_STRING_ARRAY, &cli.tcp, "create service: PORT[:TARGET]", NULL },
                { "clusterip", 0, K8C_FLAG_STRING, &cli.cluster_ip, "create service: the ClusterIP", NULL },
                { "dry-run", 0, K8C_FLAG_STRING, &cli.dry_run, "none|client|server", NULL },
                { "container", 'c', K8C_FLAG_STRING, &cli.container, "container name (logs, exec)", NULL },
                { "stdin", 'i', K8C_FLAG_BOOL, &cli.stdin_, "pass stdin to the container (exec)", NULL },
                { "tty", 't', K8C_FLAG_BOOL, &cli.tty, "stdin is a TTY (exec)", NULL },
                { "follow", 0, K8C_FLAG_BOOL, &cli.follow, "stream the logs (logs -f)", NULL },
                { "previous", 0, K8C_FLAG_BOOL, &cli.previous, "the previous instance's logs (logs -p)",
                  NULL },
                { "timestamps", 0, K8C_FLAG_BOOL, &cli.timestamps, "timestamps on log lines", NULL },
                { "tail", 0, K8C_FLAG_INT64, &cli.tail, "lines of recent log to show (-1 = all)",
                  &cli.tail_set },
                { "limit-bytes", 0, K8C_FLAG_INT64, &cli.limit_bytes, "maximum bytes of logs", NULL },
                { "address", 0, K8C_FLAG_STRING, &cli.address, "address to listen on (port-forward)", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        struct k8c_flags_result res = { 0 };
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_flags_parse(flags, argc, argv, &res, &err);
        if (r < 0) {
                fprintf(errout, "error: %s\nSee 'k8cctl --help' for usage.\n", k8c_error_msg(&err));
                cli_free(&cli);
                return 1;
        }
        if (r == K8C_FLAGS_VERSION && res.nargs == 0) {
                fprintf(out, "k8cctl version %s (Kubernetes API v%s.%s)\n", K8C_VERSION,
                        K8C_KUBE_VERSION_MAJOR, K8C_KUBE_VERSION_MINOR);
                k8c_flags_result_free(&res);
                cli_free(&cli);
                return 0;
        }
        if (r == K8C_FLAGS_HELP || res.nargs == 0) {
                usage(r == K8C_FLAGS_HELP ? out : errout, flags);
                k8c_flags_result_free(&res);
                cli_free(&cli);
                return r == K8C_FLAGS_HELP ? 0 : 1;
        }
        const struct verb *v = NULL;
        for (const struct verb *it = verbs; it->name != NULL; it++)
                if (strcmp(it->name, res.args[0]) == 0)
                        v = it;
        int code = 0;
        if (v == NULL) {
                fprintf(errout, "error: unknown command \"%s\" for \"k8cctl\"\n", res.args[0]);
                code = 1;
        } else {
                resolve_namespace(&cli);
                cli.dash_args = res.dash_args;
                cli.ndash_args = res.ndash_args;
                r = v->run(&cli, res.args + 1, res.nargs - 1, &err);
                if (r < 0) {
                        /* An empty message means the lines were printed as they happened. */
                        const char *msg = k8c_error_msg(&err);
                        if (msg != NULL && msg[0] != '\0')
                                fprintf(errout, "%s\n", msg);
                        code = 1;
                } else if (cli.exit_code != 0) {
                        code = cli.exit_code;
                }
        }
        k8c_flags_result_free(&res);
        cli_free(&cli);
        return code;
}

int k8c_cli_main(int argc, char **argv)
{
        int code = k8c_cli_run(argc, argv, stdout, stderr);
        fflush(stdout);
        return code;
}

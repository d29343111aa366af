/*
 * cli.h - k8cctl, the kubectl-like command line: global options, resource
 * resolution through discovery, the verbs, and the printers (tables, -o
 * name/json/yaml/jsonpath).
 *
 * Every function writes to the FILE pointers of struct k8c_cli (never straight
 * to stdout/stderr) so tests can capture the output. Errors carry the complete
 * line kubectl would print ("error: ...", "Error from server (NotFound): ...");
 * only k8c_cli_main prints them.
 */
#ifndef K8C_CLI_H
#define K8C_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "k8c/client.h"
#include "k8c/error.h"
#include "k8c/kubeconfig.h"

struct k8c_cli {
        /* global flags */
        char *kubeconfig, *context, *namespace_, *server, *token;
        bool all_namespaces;
        int64_t request_timeout_ms;
        /* verb flags (one table for every verb, as the verbs share most of them) */
        char *output, *selector, *field_selector, *sort_by, *cascade, *patch_type, *patch, *for_;
        char *resource_version;
        char **filenames, **label_columns;
        int64_t chunk_size, timeout_ms;
        int replicas, current_replicas, grace_period;
        int64_t revision, to_revision; /* rollout history --revision, rollout undo --to-revision */
        bool watch_set;
        /* generators: create deployment|..., run, expose, autoscale */
        char **images, **env, **from_literal, **from_file, **tcp;
        char *port, *target_port, *name, *protocol, *labels, *restart, *image_pull_policy, *cluster_ip,
                *dry_run;
        int min_replicas, max_replicas, cpu_percent;
        bool command, patch_type_set;
        char **dash_args; /* the arguments after "--" (borrowed) */
        int ndash_args;
        bool watch, watch_only, show_labels, recursive, all, force, wait, overwrite, ignore_not_found,
                no_headers, show_kind, minify, server_side;
        bool replicas_set, current_replicas_set, grace_period_set, wait_set, timeout_set;
        /* logs, exec, port-forward */
        char *container, *address;
        bool stdin_, tty, follow, previous, timestamps;
        int64_t tail, limit_bytes;
        bool tail_set;
        int exit_code; /* a verb's exit code other than 0/1 (exec propagates the command's) */

        /* runtime */
        FILE *out, *errout;
        const char *ns; /* effective namespace */
        struct k8c_kubeconfig kc;
        bool kc_loaded;
        struct k8c_client *client;
        json_t *resources;      /* discovery: array of {group, version, name, singularName, kind, ...} */
        const char *stdin_path; /* "-" reads this path instead of stdin (tests); NULL = stdin */
};

/* Runs one command line (argv[0] is the program) with output to out/errout.
 * Returns the process exit code (0, 1, or 2 for usage errors). */
int k8c_cli_run(int argc, char **argv, FILE *out, FILE *errout);
/* k8c_cli_run with stdout/stderr: what cmd/k8cctl calls. */
int k8c_cli_main(int argc, char **argv);

/* ---- connection and errors (cli.c / http.c) ---- */
int k8c_cli_connect(struct k8c_cli *cli, k8c_error_t *err);
/* One JSON request; a non-2xx answer becomes "Error from server (Reason): message" (422: the
 * message alone), an unreachable server kubectl's "The connection to the server ... was
 * refused" line. ret_body may be NULL. */
int k8c_cli_request(struct k8c_cli *cli, const char *method, const char *path, const json_t *body,
                    const char *content_type, json_t **ret_body, k8c_error_t *err);
/* GET with an explicit Accept header (Tables). */
int k8c_cli_get_accept(struct k8c_cli *cli, const char *path, const char *accept, json_t **ret_body,
                       k8c_error_t *err);
/* A watch whose events are decoded with the given Accept (Table watches). */
int k8c_cli_watch_accept(struct k8c_cli *cli, const char *path, const char *accept, k8c_watch_fn fn,
                         void *opaque, k8c_error_t *err);
/* Turns a server reply (code, Status body) into the kubectl error line. */
int k8c_cli_server_error(long code, const json_t *status, const char *raw, k8c_error_t *err);
/* "The connection to the server HOST:PORT was refused - did you specify the right host or port?" */
int k8c_cli_connection_error(const char *server, k8c_error_t *err);

#define K8C_CLI_TABLE_ACCEPT "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

/* ---- resources (resources.c) ---- */
int k8c_cli_discover(struct k8c_cli *cli, k8c_error_t *err);
/* Resolves a type word (plural, singular, short name, kind case-insensitively, or
 * "plural.group") against a discovery array. *ret is borrowed from resources. */
int k8c_cli_resolve(const json_t *resources, const char *word, const json_t **ret, k8c_error_t *err);
/* Path of a resource: /api/v1[/namespaces/NS]/pods[/NAME][/SUB]. Caller frees. */
char *k8c_cli_path(const json_t *res, const char *ns, const char *name, const char *subresource);
/* Resource entry for an object's apiVersion and kind. */
int k8c_cli_resolve_kind(const json_t *resources, const char *api_version, const char *kind,
                         const json_t **ret, k8c_error_t *err);
/* "pod", "deployment.apps": how kubectl names the type in "pod/web created". Caller frees. */
char *k8c_cli_type_name(const json_t *res);

/* One target of a command: a resource type and optionally a name. */
struct k8c_cli_target {
        const json_t *res;
        char *name; /* NULL = every object */
};
/* Parses kubectl's argument forms: "TYPE", "TYPE NAME...", "TYPE/NAME...", "T1,T2", "T1,T2 NAME".
 * Returns the number of targets in *ret (caller frees with k8c_cli_targets_free). */
int k8c_cli_parse_targets(const json_t *resources, char **args, int nargs, struct k8c_cli_target **ret,
                          size_t *ret_n, k8c_error_t *err);
void k8c_cli_targets_free(struct k8c_cli_target *t, size_t n);
/* Discovery, then k8c_cli_parse_targets on the command's arguments. */
int k8c_cli_targets(struct k8c_cli *cli, char **args, int nargs, struct k8c_cli_target **ret, size_t *ret_n,
                    k8c_error_t *err);
/* Discovery, then k8c_cli_parse_targets for a verb that acts on named objects only (patch,
 * scale, rollout, expose...): a target without a name is kubectl's usage error. */
int k8c_cli_named_targets(struct k8c_cli *cli, char **args, int nargs, struct k8c_cli_target **ret,
                          size_t *ret_n, k8c_error_t *err);
/* k8c_cli_named_targets, then for each: GET the object and call fn with it (stops at the first
 * error). */
typedef int (*k8c_cli_object_fn)(struct k8c_cli *cli, const struct k8c_cli_target *t, const json_t *obj,
                                 void *opaque, k8c_error_t *err);
int k8c_cli_each_named_object(struct k8c_cli *cli, char **args, int nargs, k8c_cli_object_fn fn, void *opaque,
                              k8c_error_t *err);

/* ---- printers (printers.c, jsonpath.c) ---- */
struct k8c_cli_table_opts {
        bool wide, with_namespace, show_labels, no_headers;
        const char *kind_prefix; /* "pod": names print as pod/NAME */
        char **label_columns;
};
/* Appends the rows of a Table to a text grid (header first when the grid is empty). */
struct k8c_cli_grid {
        char ***rows; /* each a NULL-terminated cell array */
        size_t n, cap;
};
void k8c_cli_table_to_grid(const json_t *table, const struct k8c_cli_table_opts *o, struct k8c_cli_grid *g);
/* Prints a grid aligned as kubectl's tabwriter does (min width 6, padding 3). */
void k8c_cli_grid_print(FILE *out, const struct k8c_cli_grid *g);
/* Same, widening from and updating widths[0..nwidths) (cell widths without padding) so
 * that rows printed later (watch events) stay aligned with earlier ones. */
void k8c_cli_grid_print_remember(FILE *out, const struct k8c_cli_grid *g, size_t *widths, size_t nwidths);
void k8c_cli_grid_free(struct k8c_cli_grid *g);

/* Evaluates a kubectl JSONPath template ("{.metadata.name}", "{range .items[*]}{.x}{\"\\n\"}{end}")
 * against v, appending the text to out. */
int k8c_cli_jsonpath(const char *tmpl, const json_t *v, FILE *out, k8c_error_t *err);
/* Values selected by one JSONPath expression (no braces needed), as a new array. */
int k8c_cli_jsonpath_values(const char *expr, const json_t *v, json_t **ret_array, k8c_error_t *err);

/* Prints objects (an array of full objects) in -o json|yaml|name|jsonpath=...; single: print the
 * object itself instead of a List. */
int k8c_cli_print_objects(FILE *out, const char *output, const json_t *objects, bool single,
                          const json_t *resources, k8c_error_t *err);
/* json_dumps as Go's encoding/json writes it: '<', '>', '&', U+2028 and U+2029 escaped as
 * \u003c... (kubectl's -o json and last-applied annotations). Caller frees. */
char *k8c_cli_go_json(const json_t *v, size_t flags);
/* Sorts objects (array, in place) by the JSONPath field (as --sort-by). */
int k8c_cli_sort_objects(json_t *objects, const char *field, k8c_error_t *err);

/* ---- verbs ---- */
int k8c_cli_get(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_create(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_apply(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_replace(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_delete(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_label(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_annotate(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_scale(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_patch(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_describe(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
/* describe's "Pod Template:" section of a PodTemplateSpec (tab-separated, not aligned). */
void k8c_cli_describe_pod_template(FILE *w, const json_t *tmpl);
/* A label selector as metav1.FormatLabelSelector writes it ("app=web,tier in (a,b),!x"); ""
 * when it selects everything. Caller frees. */
char *k8c_cli_format_selector(const json_t *match_labels, const json_t *match_expressions);
int k8c_cli_rollout(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_run_pod(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_expose(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_autoscale(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_why(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
/* A pod's effective "requests" or "limits" (which) as kubectl's resource helper sums them over
 * containers, init containers (sidecars included) and overhead; a new name → quantity object. */
json_t *k8c_cli_pod_resources(const json_t *pod, const char *which);
/* `create deployment|namespace|configmap|secret generic|service clusterip NAME` (args[0] is the
 * generator). */
int k8c_cli_create_generated(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
/* Creates a generated object (POST with fieldManager), or only prints it with --dry-run=client;
 * then prints it per -o, else "<type>/<name> <done>". */
int k8c_cli_submit(struct k8c_cli *cli, json_t *obj, const char *field_manager, const char *done,
                   k8c_error_t *err);
/* {"name": NAME, "creationTimestamp": null}, as kubectl's typed ObjectMeta serialises. */
json_t *k8c_cli_generated_meta(const char *name);
/* "80" → 80, "http" → "http" (a port or target port). */
json_t *k8c_cli_int_or_string(const char *s);
/* "a=b,c=d" → {"a":"b","c":"d"}. */
int k8c_cli_parse_label_list(const char *text, json_t **ret, k8c_error_t *err);
int k8c_cli_top(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
/* Aligns tab-separated text as Go's text/tabwriter (min width 0, the given padding): a column
 * block spans consecutive lines having a tab-terminated cell in that column. */
void k8c_cli_tabwrite(FILE *out, const char *text, size_t padding);
int k8c_cli_wait(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_config(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_version(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_api_resources(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_logs(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_exec(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);
int k8c_cli_port_forward(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);

/* ---- streaming connections (stream.c): logs, exec, port-forward ---- */
struct k8c_bytebuf;
/* One request on its own TCP connection to the API server (http:// only): "METHOD path" with
 * extra header lines (each ending in \r\n), the response head read. Returns the socket; bytes
 * read past the head are in rest. */
int k8c_cli_raw_request(struct k8c_cli *cli, const char *method, const char *path, const char *headers,
                        int *ret_code, char **ret_head, struct k8c_bytebuf *rest, k8c_error_t *err);
/* Reads the body of a refused request (a Status) and makes it the kubectl error line. Closes fd. */
int k8c_cli_raw_error(int fd, int code, const char *head, struct k8c_bytebuf *rest, k8c_error_t *err);
/* "NAME" or "pod/NAME": the pod (caller decrefs) and the container (-c, else the
 * kubectl.kubernetes.io/default-container annotation, else the first; a note on stderr when
 * there were several), borrowed from the pod. */
int k8c_cli_pod_container(struct k8c_cli *cli, const char *arg, const char *verb, json_t **ret_pod,
                          const char **ret_container, k8c_error_t *err);
int k8c_cli_cluster_info(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err);

/* Reads manifests (-f file, directory of .yaml/.yml/.json, or "-") into an array of
 * {"source": FILE, "object": OBJ} (List documents expanded). YAML errors name the file:
 * "error: FILE:LINE:COLUMN: problem". */
int k8c_cli_read_manifests(struct k8c_cli *cli, json_t **ret_objects, k8c_error_t *err);
/* The rest of f, NUL-terminated (caller frees *ret); -1 on a read error. */
int k8c_cli_read_all(FILE *f, char **ret, size_t *ret_len);

/* The client-side apply patch (smpatch.c): kubectl's three-way strategic merge patch turning
 * `current` into one that holds `modified`, deleting the fields and keyed list elements
 * `original` (last applied, may be NULL) had and `modified` dropped. */
json_t *k8c_cli_apply_patch(const json_t *original, const json_t *modified, const json_t *current);

#endif

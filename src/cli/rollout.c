/*
 * rollout.c - `k8cctl rollout status|history|undo|pause|resume|restart` for
 * Deployments, client-side as kubectl does it: status watches the Deployment
 * and prints kubectl's progress lines; history and undo read the ReplicaSets
 * the Deployment controls (their deployment.kubernetes.io/revision
 * annotation); undo JSON-patches the Deployment's template back to a
 * revision's; pause/resume/restart are strategic-merge patches.
 *
 * It must not write ReplicaSets or pods: the Deployment controller acts on
 * what these commands change.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"

#define REVISION_ANNOTATION "deployment.kubernetes.io/revision"
#define CHANGE_CAUSE_ANNOTATION "kubernetes.io/change-cause"
#define HASH_LABEL "pod-template-hash"

/* "ReplicaSet.apps", as kubectl names a kind it has no rollout support for. */
static char *kind_group(const json_t *res)
{
        const char *group = json_string_value(json_object_get(res, "group"));
        const char *kind = json_string_value(json_object_get(res, "kind"));
        return group != NULL && group[0] != '\0' ? k8c_xasprintf("%s.%s", kind, group) : k8c_xstrdup(kind);
}

/* kubectl's DeploymentStatusViewer: the line to print and whether the rollout is complete. A
 * Progressing condition with reason ProgressDeadlineExceeded is an error. */
static int status_line(const json_t *d, char **ret_line, bool *ret_done, k8c_error_t *err)
{
        const char *name = k8c_json_get_string(d, "metadata.name");
        *ret_done = false;
        if (k8c_json_get_int(d, "metadata.generation", 0) >
            k8c_json_get_int(d, "status.observedGeneration", 0)) {
                *ret_line = k8c_xstrdup("Waiting for deployment spec update to be observed...\n");
                return 0;
        }
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(d, "status.conditions"), i, c)
        {
                const char *type = k8c_json_get_string(c, "type");
                const char *reason = k8c_json_get_string(c, "reason");
                if (type != NULL && strcmp(type, "Progressing") == 0 && reason != NULL &&
                    strcmp(reason, "ProgressDeadlineExceeded") == 0)
                        return k8c_make_error(err, K8C_ETIMEOUT,
                                              "error: deployment \"%s\" exceeded its progress deadline",
                                              name);
        }
        long long want = k8c_json_get_int(d, "spec.replicas", 1);
        long long replicas = k8c_json_get_int(d, "status.replicas", 0);
        long long updated = k8c_json_get_int(d, "status.updatedReplicas", 0);
        long long available = k8c_json_get_int(d, "status.availableReplicas", 0);
        if (updated < want)
                *ret_line =
                        k8c_xasprintf("Waiting for deployment \"%s\" rollout to finish: %lld out of %lld new "
                                      "replicas have been updated...\n",
                                      name, updated, want);
        else if (replicas > updated)
                *ret_line = k8c_xasprintf(
                        "Waiting for deployment \"%s\" rollout to finish: %lld old replicas are "
                        "pending termination...\n",
                        name, replicas - updated);
        else if (available < updated)
                *ret_line =
                        k8c_xasprintf("Waiting for deployment \"%s\" rollout to finish: %lld of %lld updated "
                                      "replicas are available...\n",
                                      name, available, updated);
        else {
                *ret_line = k8c_xasprintf("deployment \"%s\" successfully rolled out\n", name);
                *ret_done = true;
        }
        return 0;
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct status_watch {
        struct k8c_cli *cli;
        k8c_error_t *err;
        int result; /* 1 done, negative error */
        bool expired;
        char *rv;
};

static int on_status_event(void *opaque, const char *type, json_t *obj)
{
        struct status_watch *s = opaque;
        const char *rv = k8c_json_get_string(obj, "metadata.resourceVersion");
        if (strcmp(type, "ERROR") == 0) {
                s->expired = true; /* 410: list again */
                return 1;
        }
        if (rv != NULL) {
                free(s->rv);
                s->rv = k8c_xstrdup(rv);
        }
        if (strcmp(type, "BOOKMARK") == 0)
                return 0;
        if (strcmp(type, "DELETED") == 0) {
                s->result = k8c_make_error(s->err, K8C_ENOTFOUND, "error: object has been deleted");
                return 1;
        }
        cleanup_free char *line = NULL;
        bool done = false;
        if (status_line(obj, &line, &done, s->err) < 0) {
                s->result = -1;
                return 1;
        }
        fputs(line, s->cli->out);
        fflush(s->cli->out);
        if (done) {
                s->result = 1;
                return 1;
        }
        return 0;
}

/* List (the current state, printed) then watch from the list's resourceVersion until the
 * rollout completes, the object goes away or --timeout passes (0 = forever). */
static int rollout_status(struct k8c_cli *cli, const json_t *res, const char *name, k8c_error_t *err)
{
        bool watch = cli->watch_set ? cli->watch : true;
        cleanup_free char *base = k8c_cli_path(res, cli->ns, NULL, NULL);
        cleanup_free char *fs_raw = k8c_xasprintf("metadata.name=%s", name);
        cleanup_free char *fs = k8c_url_escape(fs_raw);
        int64_t deadline = cli->timeout_ms > 0 ? now_ms() + cli->timeout_ms : 0;
        struct status_watch s = { .cli = cli, .err = err };
        int r = 0;
        bool list = true;
        while (r == 0) {
                if (list) {
                        cleanup_free char *lpath = k8c_xasprintf("%s?fieldSelector=%s", base, fs);
                        json_auto_t *items = NULL;
                        r = k8c_cli_request(cli, "GET", lpath, NULL, NULL, &items, err);
                        if (r < 0)
                                break;
                        json_t *d = json_array_get(json_object_get(items, "items"), 0);
                        if (d != NULL) {
                                on_status_event(&s, "ADDED", d);
                                if (s.result != 0)
                                        break;
                        }
                        /* The watch starts from the list's revision, not the object's. */
                        free(s.rv);
                        s.rv = k8c_xstrdup(k8c_json_get_string(items, "metadata.resourceVersion") ?: "0");
                        if (!watch)
                                break;
                        list = false;
                }
                cleanup_free char *timeout = NULL;
                if (deadline != 0) {
                        int64_t left = deadline - now_ms();
                        if (left <= 0) {
                                r = k8c_make_error(err, K8C_ETIMEOUT,
                                                   "error: timed out waiting for the condition");
                                break;
                        }
                        timeout = k8c_xasprintf("&timeoutSeconds=%lld", (long long)((left + 999) / 1000));
                }
                cleanup_free char *wpath =
                        k8c_xasprintf("%s?fieldSelector=%s&resourceVersion=%s&watch=true%s", base, fs, s.rv,
                                      timeout != NULL ? timeout : "");
                s.expired = false;
                r = k8c_cli_watch_accept(cli, wpath, "application/json", on_status_event, &s, err);
                if (r < 0 || s.result != 0)
                        break;
                list = s.expired;
        }
        free(s.rv);
        if (r < 0)
                return r;
        return s.result < 0 ? s.result : 0;
}

/* The ReplicaSets the Deployment controls (same namespace, its selector, its uid as controller). */
static int owned_replicasets(struct k8c_cli *cli, const json_t *d, json_t **ret, k8c_error_t *err)
{
        cleanup_free char *sel = k8c_cli_format_selector(k8c_json_get(d, "spec.selector.matchLabels"),
                                                         k8c_json_get(d, "spec.selector.matchExpressions"));
        cleanup_free char *esc = k8c_url_escape(sel);
        cleanup_free char *path = k8c_xasprintf("/apis/apps/v1/namespaces/%s/replicasets?labelSelector=%s",
                                                k8c_json_get_string(d, "metadata.namespace"), esc);
        json_auto_t *list = NULL;
        int r = k8c_cli_request(cli, "GET", path, NULL, NULL, &list, err);
        if (r < 0)
                return r;
        const char *uid = k8c_json_get_string(d, "metadata.uid");
        json_t *out = json_array();
        size_t i, j;
        json_t *rs, *ref;
        json_array_foreach(json_object_get(list, "items"), i,
                           rs){ json_array_foreach(k8c_json_get(rs, "metadata.ownerReferences"), j,
                                                   ref){ const char *ruid = k8c_json_get_string(ref, "uid");
        if (k8c_json_get_bool(ref, "controller", false) && ruid != NULL && uid != NULL &&
            strcmp(ruid, uid) == 0) {
                json_array_append(out, rs);
                break;
        }
}
}
*ret = out;
return 0;
}

/* The revision of a ReplicaSet, or -1 when it has none (or not a number). */
static long long revision_of(const json_t *rs)
{
        const json_t *ann = k8c_json_get(rs, "metadata.annotations");
        const char *v = json_string_value(json_object_get(ann, REVISION_ANNOTATION));
        if (v == NULL || v[0] == '\0')
                return -1;
        char *end = NULL;
        long long n = strtoll(v, &end, 10);
        return *end == '\0' ? n : -1;
}

static int cmp_ll(const void *a, const void *b)
{
        long long x = *(const long long *)a, y = *(const long long *)b;
        return x < y ? -1 : x > y;
}

static int rollout_history(struct k8c_cli *cli, const json_t *res, const json_t *d, k8c_error_t *err)
{
        json_auto_t *sets = NULL;
        int r = owned_replicasets(cli, d, &sets, err);
        if (r < 0)
                return r;
        /* revision → template (with the ReplicaSet's change-cause), later ReplicaSets winning. */
        json_auto_t *by_rev = json_object();
        size_t i;
        json_t *rs;
        json_array_foreach(sets, i, rs)
        {
                long long v = revision_of(rs);
                if (v < 0)
                        continue;
                json_t *tmpl = json_deep_copy(k8c_json_get(rs, "spec.template"));
                const char *cause = json_string_value(
                        json_object_get(k8c_json_get(rs, "metadata.annotations"), CHANGE_CAUSE_ANNOTATION));
                if (cause != NULL && cause[0] != '\0') {
                        /* (the key has dots, so not through a dotted path) */
                        if (json_object_get(tmpl, "metadata") == NULL)
                                json_object_set_new(tmpl, "metadata", json_object());
                        json_t *meta = json_object_get(tmpl, "metadata");
                        if (json_object_get(meta, "annotations") == NULL)
                                json_object_set_new(meta, "annotations", json_object());
                        json_object_set_new(json_object_get(meta, "annotations"), CHANGE_CAUSE_ANNOTATION,
                                            json_string(cause));
                }
                char key[32];
                snprintf(key, sizeof(key), "%lld", v);
                json_object_set_new(by_rev, key, tmpl);
        }
        cleanup_free char *type = k8c_cli_type_name(res);
        const char *name = k8c_json_get_string(d, "metadata.name");
        if (cli->revision > 0) {
                char key[32];
                snprintf(key, sizeof(key), "%lld", (long long)cli->revision);
                const json_t *tmpl = json_object_get(by_rev, key);
                if (tmpl == NULL)
                        return k8c_make_error(err, K8C_ENOTFOUND,
                                              "error: unable to find the specified revision");
                /* kubectl prints this template's tab-separated text as it is, unaligned. */
                fprintf(cli->out, "%s/%s with revision #%lld\n", type, name, (long long)cli->revision);
                k8c_cli_describe_pod_template(cli->out, tmpl);
                fputc('\n', cli->out);
                return 0;
        }
        fprintf(cli->out, "%s/%s \n", type, name);
        size_t n = json_object_size(by_rev);
        if (n == 0) {
                fprintf(cli->out, "No rollout history found.\n");
                return 0;
        }
        cleanup_free long long *revs = k8c_xcalloc(n, sizeof(long long));
        size_t k = 0;
        const char *key;
        json_t *tmpl;
        json_object_foreach(by_rev, key, tmpl) revs[k++] = strtoll(key, NULL, 10);
        qsort(revs, n, sizeof(long long), cmp_ll);
        char *text = NULL;
        size_t len = 0;
        FILE *w = open_memstream(&text, &len);
        fprintf(w, "REVISION\tCHANGE-CAUSE\n");
        for (size_t j = 0; j < n; j++) {
                char rk[32];
                snprintf(rk, sizeof(rk), "%lld", revs[j]);
                const char *cause = json_string_value(
                        json_object_get(k8c_json_get(json_object_get(by_rev, rk), "metadata.annotations"),
                                        CHANGE_CAUSE_ANNOTATION));
                fprintf(w, "%lld\t%s\n", revs[j], cause != NULL && cause[0] != '\0' ? cause : "<none>");
        }
        fclose(w);
        k8c_cli_tabwrite(cli->out, text, 2);
        free(text);
        fputc('\n', cli->out);
        return 0;
}

/* Drops nulls and empty objects and arrays, recursively: kubectl compares typed structs, where
 * they are all the zero value (a template's null creationTimestamp, a container's empty
 * resources). */
static void drop_empty(json_t *v)
{
        if (json_is_object(v)) {
                const char *key;
                json_t *m;
                void *tmp;
                json_object_foreach_safe(v, tmp, key, m)
                {
                        drop_empty(m);
                        if (json_is_null(m) || (json_is_object(m) && json_object_size(m) == 0) ||
                            (json_is_array(m) && json_array_size(m) == 0))
                                json_object_del(v, key);
                }
        } else if (json_is_array(v)) {
                size_t i;
                json_t *m;
                json_array_foreach(v, i, m) drop_empty(m);
        }
}

/* A template without the pod-template-hash label, as kubectl's equalIgnoreHash compares them.
 * New object. */
static json_t *without_hash(const json_t *tmpl)
{
        json_t *t = json_deep_copy(tmpl);
        json_object_del(k8c_json_get(t, "metadata.labels"), HASH_LABEL);
        drop_empty(t);
        return t;
}

static bool skipped_annotation(const char *key)
{
        static const char *const skip[] = {
                "kubectl.kubernetes.io/last-applied-configuration",
                REVISION_ANNOTATION,
                "deployment.kubernetes.io/revision-history",
                "deployment.kubernetes.io/desired-replicas",
                "deployment.kubernetes.io/max-replicas",
                "deprecated.deployment.rollback.to",
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(skip); i++)
                if (strcmp(key, skip[i]) == 0)
                        return true;
        return false;
}

/* kubectl's DeploymentRollbacker: the ReplicaSet of --to-revision (default: the one before the
 * latest), its template (without the hash label) and annotations patched into the Deployment. */
static int rollout_undo(struct k8c_cli *cli, const json_t *res, const json_t *d, k8c_error_t *err)
{
        json_auto_t *sets = NULL;
        int r = owned_replicasets(cli, d, &sets, err);
        if (r < 0)
                return r;
        const char *name = k8c_json_get_string(d, "metadata.name");
        const json_t *target = NULL, *latest = NULL, *previous = NULL;
        long long latest_rev = -1, previous_rev = -1;
        size_t i;
        json_t *rs;
        json_array_foreach(sets, i, rs)
        {
                long long v = revision_of(rs);
                if (v < 0)
                        continue;
                if (cli->to_revision == 0) {
                        if (latest_rev < v) {
                                previous_rev = latest_rev;
                                previous = latest;
                                latest_rev = v;
                                latest = rs;
                        } else if (previous_rev < v) {
                                previous_rev = v;
                                previous = rs;
                        }
                } else if (cli->to_revision == v) {
                        target = rs;
                        break;
                }
        }
        if (cli->to_revision > 0 && target == NULL)
                return k8c_make_error(err, K8C_ENOTFOUND,
                                      "error: unable to find specified revision %lld in history",
                                      (long long)cli->to_revision);
        if (cli->to_revision == 0) {
                if (previous == NULL)
                        return k8c_make_error(err, K8C_ENOTFOUND,
                                              "error: no rollout history found for deployment \"%s\"", name);
                target = previous;
        }
        cleanup_free char *type = k8c_cli_type_name(res);
        json_auto_t *want_cmp = without_hash(k8c_json_get(target, "spec.template"));
        json_auto_t *have_cmp = without_hash(k8c_json_get(d, "spec.template"));
        if (json_equal(want_cmp, have_cmp)) {
                fprintf(cli->out, "%s/%s skipped rollback (current template already matches revision %lld)\n",
                        type, name, revision_of(target));
                return 0;
        }
        if (k8c_json_get_bool(d, "spec.paused", false))
                return k8c_make_error(
                        err, K8C_EBADREQUEST,
                        "error: you cannot rollback a paused deployment; resume it first with 'kubectl "
                        "rollout resume' and try again");
        json_auto_t *want = json_deep_copy(k8c_json_get(target, "spec.template"));
        json_t *labels = k8c_json_get(want, "metadata.labels");
        json_object_del(labels, HASH_LABEL);
        if (labels != NULL && json_object_size(labels) == 0) /* an empty map is omitted */
                json_object_del(json_object_get(want, "metadata"), "labels");
        /* kubectl marshals a typed PodTemplateSpec: its zero creationTimestamp is a null. */
        json_t *meta = json_object_get(want, "metadata");
        if (meta == NULL) {
                meta = json_object();
                json_object_set_new(want, "metadata", meta);
        }
        json_object_set_new(meta, "creationTimestamp", json_null());
        /* ... and a container's resources, a struct, is never left out. */
        const char *lists[] = { "spec.containers", "spec.initContainers" };
        for (size_t l = 0; l < K8C_ARRAY_SIZE(lists); l++) {
                json_t *c;
                json_array_foreach(k8c_json_get(want, lists[l]), i,
                                   c) if (json_object_get(c, "resources") == NULL)
                        json_object_set_new(c, "resources", json_object());
        }
        json_auto_t *annotations = json_object();
        const char *key;
        json_t *v;
        json_object_foreach(k8c_json_get(d, "metadata.annotations"), key, v) if (skipped_annotation(key))
                json_object_set(annotations, key, v);
        json_object_foreach(k8c_json_get(target, "metadata.annotations"), key,
                            v) if (!skipped_annotation(key)) json_object_set(annotations, key, v);
        json_auto_t *patch =
                json_pack("[{s:s,s:s,s:O},{s:s,s:s,s:O}]", "op", "replace", "path", "/spec/template", "value",
                          want, "op", "replace", "path", "/metadata/annotations", "value", annotations);
        cleanup_free char *path = k8c_cli_path(res, cli->ns, name, NULL);
        cleanup_free char *ppath = k8c_xasprintf("%s?fieldManager=kubectl-rollout", path);
        cleanup_error k8c_error_t perr = NULL;
        if (k8c_cli_request(cli, "PATCH", ppath, patch, "application/json-patch+json", NULL, &perr) < 0)
                return k8c_make_error(err, k8c_error_reason(&perr),
                                      "error: failed restoring revision %lld: %s", revision_of(target),
                                      k8c_error_msg(&perr));
        fprintf(cli->out, "%s/%s rolled back\n", type, name);
        return 0;
}

/* time.Now().Format(time.RFC3339): local time, "Z" when it is UTC. */
static void rfc3339_local(char *buf, size_t n)
{
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        size_t l = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
        long off = tm.tm_gmtoff;
        if (off == 0)
                snprintf(buf + l, n - l, "Z");
        else
                snprintf(buf + l, n - l, "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 3600,
                         labs(off) % 3600 / 60);
}

/* pause, resume, restart: one strategic-merge patch after kubectl's checks. */
static int rollout_patch(struct k8c_cli *cli, const char *sub, const json_t *res, const json_t *d,
                         k8c_error_t *err)
{
        const char *name = k8c_json_get_string(d, "metadata.name");
        bool paused = k8c_json_get_bool(d, "spec.paused", false);
        cleanup_free char *plural = k8c_cli_type_name(res); /* "deployment.apps" */
        const char *group = json_string_value(json_object_get(res, "group"));
        cleanup_free char *resname =
                group != NULL && group[0] != '\0'
                        ? k8c_xasprintf("%s.%s", json_string_value(json_object_get(res, "name")), group)
                        : k8c_xstrdup(json_string_value(json_object_get(res, "name")));
        json_auto_t *patch = NULL;
        const char *done = NULL;
        if (strcmp(sub, "pause") == 0) {
                if (paused)
                        return k8c_make_error(err, K8C_EBADREQUEST, "error: %s \"%s\" is already paused",
                                              resname, name);
                patch = json_pack("{s:{s:b}}", "spec", "paused", 1);
                done = "paused";
        } else if (strcmp(sub, "resume") == 0) {
                if (!paused)
                        return k8c_make_error(err, K8C_EBADREQUEST, "error: %s \"%s\" is not paused", resname,
                                              name);
                patch = json_pack("{s:{s:n}}", "spec", "paused");
                done = "resumed";
        } else {
                if (paused)
                        return k8c_make_error(
                                err, K8C_EBADREQUEST,
                                "error: %s \"%s\" can't restart paused deployment (run rollout resume "
                                "first)",
                                resname, name);
                char now[64];
                rfc3339_local(now, sizeof(now));
                patch = json_pack("{s:{s:{s:{s:{s:s}}}}}", "spec", "template", "metadata", "annotations",
                                  "kubectl.kubernetes.io/restartedAt", now);
                done = "restarted";
        }
        cleanup_free char *path = k8c_cli_path(res, cli->ns, name, NULL);
        cleanup_free char *ppath = k8c_xasprintf("%s?fieldManager=kubectl-rollout", path);
        int r = k8c_cli_request(cli, "PATCH", ppath, patch, "application/strategic-merge-patch+json", NULL,
                                err);
        if (r < 0)
                return r;
        fprintf(cli->out, "%s/%s %s\n", plural, name, done);
        return 0;
}

static int rollout_one(struct k8c_cli *cli, const struct k8c_cli_target *t, const json_t *d, void *opaque,
                       k8c_error_t *err)
{
        const char *sub = opaque;
        const char *kind = json_string_value(json_object_get(t->res, "kind"));
        if (strcmp(kind, "Deployment") != 0) {
                cleanup_free char *kg = kind_group(t->res);
                static const char *const what[][2] = {
                        { "status", "error: no status viewer has been implemented for %s" },
                        { "history", "error: no history viewer has been implemented for %s" },
                        { "undo", "error: no rollbacker has been implemented for %s" },
                        { "pause", "error: pausing is not supported for %s" },
                        { "resume", "error: resuming is not supported for %s" },
                        { "restart", "error: restarting is not supported for %s" },
                };
                for (size_t k = 0; k < K8C_ARRAY_SIZE(what); k++)
                        if (strcmp(what[k][0], sub) == 0)
                                return k8c_make_error(err, K8C_EBADREQUEST, what[k][1], kg);
        }
        if (strcmp(sub, "status") == 0)
                return rollout_status(cli, t->res, t->name, err);
        if (strcmp(sub, "history") == 0)
                return rollout_history(cli, t->res, d, err);
        if (strcmp(sub, "undo") == 0)
                return rollout_undo(cli, t->res, d, err);
        return rollout_patch(cli, sub, t->res, d, err);
}

int k8c_cli_rollout(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        static const char *const subs[] = { "status", "history", "undo", "pause", "resume", "restart" };
        if (nargs == 0)
                return k8c_make_error(err, K8C_EUSAGE,
                                      "error: specify one of: status, history, undo, pause, resume, restart\n"
                                      "See 'k8cctl rollout -h' for help and examples");
        const char *sub = NULL;
        for (size_t i = 0; i < K8C_ARRAY_SIZE(subs); i++)
                if (strcmp(args[0], subs[i]) == 0)
                        sub = subs[i];
        if (sub == NULL) {
                cleanup_free char *words = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&words, &len);
                for (int i = 0; i < nargs; i++)
                        fprintf(f, "%s%s", i > 0 ? " " : "", args[i]);
                fclose(f);
                return k8c_make_error(
                        err, K8C_EUSAGE,
                        "error: unknown command \"%s\"\nSee 'kubectl rollout -h' for help and examples",
                        words);
        }
        if (nargs == 1)
                return k8c_make_error(err, K8C_EUSAGE, "error: required resource not specified");
        return k8c_cli_each_named_object(cli, args + 1, nargs - 1, rollout_one, (void *)sub, err);
}

/*
 * describe.c - `k8cctl describe`: kubectl-like sections for pods, services,
 * replicasets, deployments, namespaces, nodes, endpoints, horizontal pod
 * autoscalers, configmaps and secrets (a generic Name/Labels/Annotations
 * view for other kinds), then the object's Events. Lines are written with
 * tabs and aligned by a Go-tabwriter emulation (padding 2), as kubectl does.
 *
 * It must not change anything; a missing events list (404) is not an error.
 */
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"
#include "k8c/names.h"
#include "k8c/quantity.h"

struct line {
        char **cells; /* segments between tabs; the last is not padded */
        size_t n;
};

/* Go text/tabwriter's column blocks: a column is aligned over consecutive lines that have a
 * tab-terminated cell in it. */
static void tab_format(FILE *out, struct line *lines, size_t line0, size_t line1, size_t *widths, size_t nw,
                       size_t padding);

static void tab_write(FILE *out, struct line *lines, size_t line0, size_t line1, const size_t *widths,
                      size_t nw)
{
        for (size_t i = line0; i < line1; i++) {
                for (size_t j = 0; j < lines[i].n; j++) {
                        fputs(lines[i].cells[j], out);
                        if (j + 1 < lines[i].n && j < nw) {
                                for (size_t k = strlen(lines[i].cells[j]); k < widths[j]; k++)
                                        fputc(' ', out);
                        }
                }
                fputc('\n', out);
        }
}

static void tab_format(FILE *out, struct line *lines, size_t line0, size_t line1, size_t *widths, size_t nw,
                       size_t padding)
{
        size_t column = nw;
        for (size_t this = line0; this < line1; this ++) {
                if (column + 1 >= lines[this].n)
                        continue;
                tab_write(out, lines, line0, this, widths, nw);
                line0 = this;
                size_t width = 0;
                for (; this < line1; this ++) {
                        if (column + 1 >= lines[this].n)
                                break;
                        size_t w = strlen(lines[this].cells[column]) + padding;
                        if (w > width)
                                width = w;
                }
                widths[nw] = width;
                tab_format(out, lines, line0, this, widths, nw + 1, padding);
                line0 = this;
                this --; /* the loop's increment revisits the line that ended the block */
                if (line0 >= line1)
                        return;
        }
        tab_write(out, lines, line0, line1, widths, nw);
}

static void tabwrite(FILE *out, const char *text, size_t padding)
{
        size_t nlines = 0, cap = 0;
        struct line *lines = NULL;
        cleanup_free char *copy = k8c_xstrdup(text);
        size_t len = strlen(copy);
        if (len > 0 && copy[len - 1] == '\n')
                copy[len - 1] = '\0';
        size_t maxcells = 1;
        char *p = copy;
        for (;;) {
                char *nl = strchr(p, '\n');
                if (nl != NULL)
                        *nl = '\0';
                if (nlines == cap) {
                        cap = cap == 0 ? 64 : cap * 2;
                        lines = k8c_xrealloc(lines, sizeof(*lines) * cap);
                }
                struct line *l = &lines[nlines++];
                l->cells = NULL;
                l->n = 0;
                char *s = p;
                for (;;) {
                        char *tab = strchr(s, '\t');
                        l->cells = k8c_xrealloc(l->cells, sizeof(char *) * (l->n + 1));
                        l->cells[l->n++] = tab != NULL ? k8c_xstrndup(s, (size_t)(tab - s)) : k8c_xstrdup(s);
                        if (tab == NULL)
                                break;
                        s = tab + 1;
                }
                if (l->n > maxcells)
                        maxcells = l->n;
                if (nl == NULL)
                        break;
                p = nl + 1;
        }
        size_t *widths = k8c_xcalloc(maxcells + 1, sizeof(size_t));
        tab_format(out, lines, 0, nlines, widths, 0, padding);
        free(widths);
        for (size_t i = 0; i < nlines; i++) {
                for (size_t j = 0; j < lines[i].n; j++)
                        free(lines[i].cells[j]);
                free(lines[i].cells);
        }
        free(lines);
}

void k8c_cli_tabwrite(FILE *out, const char *text, size_t padding)
{
        tabwrite(out, text, padding);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The length of the bytes a base64 text (padded, as the apiserver stores data) stands for. */
static size_t base64_len(const char *b64)
{
        size_t n = b64 != NULL ? strlen(b64) : 0;
        size_t pad = 0;
        while (pad < n && pad < 2 && b64[n - 1 - pad] == '=')
                pad++;
        return n / 4 * 3 - pad;
}

/* The keys of a JSON object, sorted (the array is the caller's; the strings are borrowed). */
static const char **sorted_keys(const json_t *m, bool skip_last_applied, size_t *ret_n)
{
        const char **keys = k8c_xcalloc(json_object_size(m) + 1, sizeof(char *));
        size_t k = 0;
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)m, key, v)
        {
                if (skip_last_applied && strcmp(key, "kubectl.kubernetes.io/last-applied-configuration") == 0)
                        continue;
                keys[k++] = key;
        }
        qsort(keys, k, sizeof(char *), cmp_str);
        *ret_n = k;
        return keys;
}

/* A string map as kubectl's printLabelsMultilineWithIndent / printAnnotationsMultiline write it:
 * "INDENTTitle:\tk=v\n" then "\tk2=v2\n" for each further key (sorted), "<none>" when
 * empty. Annotations (sep ": ") leave out kubectl's own last-applied configuration. */
static void map_block(FILE *w, const char *indent, const char *title, const json_t *m, const char *sep)
{
        size_t k = 0;
        bool annotations = strcmp(sep, ": ") == 0;
        cleanup_free const char **keys = sorted_keys(m, annotations, &k);
        fprintf(w, "%s%s:\t", indent, title);
        if (k == 0)
                fprintf(w, "<none>\n");
        for (size_t i = 0; i < k; i++)
                fprintf(w, "%s%s%s%s\n", i == 0 ? "" : "\t", keys[i], sep,
                        json_string_value(json_object_get(m, keys[i])) ?: "");
}

char *k8c_cli_format_selector(const json_t *match_labels, const json_t *match_expressions)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        size_t k = 0;
        cleanup_free const char **keys = sorted_keys(match_labels, false, &k);
        for (size_t i = 0; i < k; i++)
                fprintf(f, "%s%s=%s", i > 0 ? "," : "", keys[i],
                        json_string_value(json_object_get(match_labels, keys[i])) ?: "");
        size_t i;
        json_t *e;
        json_array_foreach(match_expressions, i, e)
        {
                const char *op = k8c_json_get_string(e, "operator");
                const char *key = k8c_json_get_string(e, "key");
                if (op == NULL || key == NULL)
                        continue;
                if (ftell(f) > 0)
                        fputc(',', f);
                if (strcmp(op, "Exists") == 0) {
                        fputs(key, f);
                } else if (strcmp(op, "DoesNotExist") == 0) {
                        fprintf(f, "!%s", key);
                } else {
                        fprintf(f, "%s %s (", key, strcmp(op, "In") == 0 ? "in" : "notin");
                        size_t j;
                        json_t *v;
                        json_array_foreach(json_object_get(e, "values"), j, v)
                                fprintf(f, "%s%s", j > 0 ? "," : "", json_string_value(v) ?: "");
                        fputc(')', f);
                }
        }
        fclose(f);
        return text;
}

/* k8c_cli_format_selector, "<none>" when it selects nothing. Caller frees. */
static char *selector_string(const json_t *match_labels, const json_t *match_expressions)
{
        char *s = k8c_cli_format_selector(match_labels, match_expressions);
        if (s[0] != '\0')
                return s;
        free(s);
        return k8c_xstrdup("<none>");
}

static const char *str(const json_t *o, const char *path, const char *def)
{
        const char *s = k8c_json_get_string(o, path);
        return s != NULL ? s : def;
}

static void describe_meta(FILE *w, const json_t *obj, bool with_ns)
{
        fprintf(w, "Name:\t%s\n", str(obj, "metadata.name", ""));
        if (with_ns)
                fprintf(w, "Namespace:\t%s\n", str(obj, "metadata.namespace", ""));
}

static void labels_annotations(FILE *w, const json_t *obj)
{
        map_block(w, "", "Labels", k8c_json_get(obj, "metadata.labels"), "=");
        map_block(w, "", "Annotations", k8c_json_get(obj, "metadata.annotations"), ": ");
}

/* "Selector:\tapp=web" of a workload's spec.selector. */
static void selector_line(FILE *w, const json_t *obj)
{
        cleanup_free char *sel = selector_string(k8c_json_get(obj, "spec.selector.matchLabels"),
                                                 k8c_json_get(obj, "spec.selector.matchExpressions"));
        fprintf(w, "Selector:\t%s\n", sel);
}

static void container_lines(FILE *w, const json_t *c, const char *ind)
{
        fprintf(w, "%sImage:\t%s\n", ind, str(c, "image", ""));
        const json_t *ports = json_object_get(c, "ports");
        if (json_array_size(ports) == 0) {
                fprintf(w, "%sPort:\t<none>\n%sHost Port:\t<none>\n", ind, ind);
        } else {
                size_t i;
                json_t *p;
                cleanup_free char *ps = k8c_xstrdup(""), *hs = k8c_xstrdup("");
                json_array_foreach(ports, i, p)
                {
                        char *a = k8c_xasprintf("%s%s%lld/%s", ps, i > 0 ? ", " : "",
                                                (long long)k8c_json_get_int(p, "containerPort", 0),
                                                str(p, "protocol", "TCP"));
                        char *b = k8c_xasprintf("%s%s%lld/%s", hs, i > 0 ? ", " : "",
                                                (long long)k8c_json_get_int(p, "hostPort", 0),
                                                str(p, "protocol", "TCP"));
                        free(ps);
                        free(hs);
                        ps = a;
                        hs = b;
                }
                fprintf(w, "%sPort:\t%s\n%sHost Port:\t%s\n", ind, ps, ind, hs);
        }
        const char *lists[] = { "command", "args" };
        const char *titles[] = { "Command", "Args" };
        for (size_t l = 0; l < 2; l++) {
                const json_t *a = json_object_get(c, lists[l]);
                if (json_array_size(a) == 0)
                        continue;
                fprintf(w, "%s%s:\n", ind, titles[l]);
                size_t i;
                json_t *x;
                json_array_foreach(a, i, x) fprintf(w, "%s  %s\n", ind, json_string_value(x) ?: "");
        }
        const char *res[] = { "limits", "requests" };
        const char *rtitles[] = { "Limits", "Requests" };
        for (size_t r = 0; r < 2; r++) {
                const json_t *m = k8c_json_get(c, "resources") != NULL
                                          ? json_object_get(k8c_json_get(c, "resources"), res[r])
                                          : NULL;
                if (json_object_size(m) == 0)
                        continue;
                fprintf(w, "%s%s:\n", ind, rtitles[r]);
                size_t k = 0;
                cleanup_free const char **keys = sorted_keys(m, false, &k);
                for (size_t i = 0; i < k; i++)
                        fprintf(w, "%s  %s:\t%s\n", ind, keys[i],
                                json_string_value(json_object_get(m, keys[i])) ?: "");
        }
        const json_t *rp = json_object_get(c, "readinessProbe");
        if (rp != NULL) {
                const json_t *hg = json_object_get(rp, "httpGet");
                cleanup_free char *what = NULL;
                if (hg != NULL) {
                        const json_t *port = json_object_get(hg, "port");
                        cleanup_free char *ps =
                                json_is_string(port)
                                        ? k8c_xstrdup(json_string_value(port))
                                        : k8c_xasprintf("%lld", (long long)json_integer_value(port));
                        what = k8c_xasprintf("http-get %s://%s:%s%s",
                                             strcmp(str(hg, "scheme", "HTTP"), "HTTPS") == 0 ? "https"
                                                                                             : "http",
                                             str(hg, "host", ""), ps, str(hg, "path", ""));
                } else if (json_object_get(rp, "tcpSocket") != NULL) {
                        what = k8c_xstrdup("tcp-socket");
                } else {
                        what = k8c_xstrdup("exec");
                }
                fprintf(w,
                        "%sReadiness:\t%s delay=%llds timeout=%llds period=%llds #success=%lld "
                        "#failure=%lld\n",
                        ind, what, (long long)k8c_json_get_int(rp, "initialDelaySeconds", 0),
                        (long long)k8c_json_get_int(rp, "timeoutSeconds", 1),
                        (long long)k8c_json_get_int(rp, "periodSeconds", 10),
                        (long long)k8c_json_get_int(rp, "successThreshold", 1),
                        (long long)k8c_json_get_int(rp, "failureThreshold", 3));
        }
        const json_t *env = json_object_get(c, "env");
        if (json_array_size(env) == 0) {
                fprintf(w, "%sEnvironment:\t<none>\n", ind);
        } else {
                fprintf(w, "%sEnvironment:\n", ind);
                size_t i;
                json_t *e;
                json_array_foreach(env, i, e)
                {
                        const char *val = k8c_json_get_string(e, "value");
                        if (val != NULL)
                                fprintf(w, "%s  %s:\t%s\n", ind, str(e, "name", ""), val);
                        else if (k8c_json_get(e, "valueFrom.fieldRef") != NULL)
                                fprintf(w, "%s  %s:\t (%s:%s)\n", ind, str(e, "name", ""),
                                        str(e, "valueFrom.fieldRef.apiVersion", "v1"),
                                        str(e, "valueFrom.fieldRef.fieldPath", ""));
                        else if (k8c_json_get(e, "valueFrom.configMapKeyRef") != NULL)
                                fprintf(w,
                                        "%s  %s:\t<set to the key '%s' of config map '%s'>  Optional: %s\n",
                                        ind, str(e, "name", ""), str(e, "valueFrom.configMapKeyRef.key", ""),
                                        str(e, "valueFrom.configMapKeyRef.name", ""),
                                        k8c_json_get_bool(e, "valueFrom.configMapKeyRef.optional", false)
                                                ? "true"
                                                : "false");
                        else
                                fprintf(w, "%s  %s:\t<set from a reference>\n", ind, str(e, "name", ""));
                }
        }
        const json_t *mounts = json_object_get(c, "volumeMounts");
        if (json_array_size(mounts) == 0) {
                fprintf(w, "%sMounts:\t<none>\n", ind);
        } else {
                fprintf(w, "%sMounts:\n", ind);
                size_t i;
                json_t *m;
                json_array_foreach(mounts, i, m)
                        fprintf(w, "%s  %s from %s (%s)\n", ind, str(m, "mountPath", ""), str(m, "name", ""),
                                k8c_json_get_bool(m, "readOnly", false) ? "ro" : "rw");
        }
}

static void tolerations(FILE *w, const json_t *tols, const char *ind)
{
        if (json_array_size(tols) == 0) {
                fprintf(w, "%sTolerations:\t<none>\n", ind);
                return;
        }
        size_t i;
        json_t *t;
        json_array_foreach(tols, i, t)
        {
                fprintf(w, "%s\t%s", i == 0 ? (ind[0] ? "  Tolerations:" : "Tolerations:") : "",
                        str(t, "key", ""));
                const char *v = k8c_json_get_string(t, "value");
                if (v != NULL && v[0] != '\0')
                        fprintf(w, "=%s", v);
                const char *eff = k8c_json_get_string(t, "effect");
                if (eff != NULL && eff[0] != '\0')
                        fprintf(w, ":%s", eff);
                if (strcmp(str(t, "operator", "Equal"), "Exists") == 0 && v == NULL)
                        fprintf(w, " op=Exists");
                if (json_object_get(t, "tolerationSeconds") != NULL)
                        fprintf(w, " for %llds", (long long)k8c_json_get_int(t, "tolerationSeconds", 0));
                fputc('\n', w);
        }
}

static void describe_pod(FILE *w, const json_t *p)
{
        describe_meta(w, p, true);
        fprintf(w, "Priority:\t%lld\n", (long long)k8c_json_get_int(p, "spec.priority", 0));
        const char *sa = k8c_json_get_string(p, "spec.serviceAccountName");
        if (sa != NULL)
                fprintf(w, "Service Account:\t%s\n", sa);
        const char *node = k8c_json_get_string(p, "spec.nodeName");
        if (node != NULL)
                fprintf(w, "Node:\t%s/%s\n", node, str(p, "status.hostIP", ""));
        else
                fprintf(w, "Node:\t<none>\n");
        const char *start = k8c_json_get_string(p, "status.startTime");
        labels_annotations(w, p);
        if (start != NULL)
                fprintf(w, "Start Time:\t%s\n", start);
        fprintf(w, "Status:\t%s\n", str(p, "status.phase", ""));
        fprintf(w, "IP:\t%s\n", str(p, "status.podIP", ""));
        const json_t *ips = k8c_json_get(p, "status.podIPs");
        if (json_array_size(ips) == 0) {
                fprintf(w, "IPs:\t<none>\n");
        } else {
                fprintf(w, "IPs:\n");
                size_t i;
                json_t *ip;
                json_array_foreach(ips, i, ip) fprintf(w, "  IP:\t%s\n", str(ip, "ip", ""));
        }
        size_t i;
        json_t *c;
        const json_t *inits = k8c_json_get(p, "spec.initContainers");
        if (json_array_size(inits) > 0) {
                fprintf(w, "Init Containers:\n");
                json_array_foreach(inits, i, c)
                {
                        fprintf(w, "  %s:\n", str(c, "name", ""));
                        container_lines(w, c, "    ");
                }
        }
        fprintf(w, "Containers:\n");
        json_array_foreach(k8c_json_get(p, "spec.containers"), i, c)
        {
                fprintf(w, "  %s:\n", str(c, "name", ""));
                container_lines(w, c, "    ");
        }
        const json_t *conds = k8c_json_get(p, "status.conditions");
        if (json_array_size(conds) > 0) {
                fprintf(w, "Conditions:\n  Type\tStatus\n");
                json_array_foreach(conds, i, c)
                        fprintf(w, "  %s \t%s \n", str(c, "type", ""), str(c, "status", ""));
        }
        const json_t *vols = k8c_json_get(p, "spec.volumes");
        if (json_array_size(vols) == 0) {
                fprintf(w, "Volumes:\t<none>\n");
        } else {
                fprintf(w, "Volumes:\n");
                json_array_foreach(vols, i, c) fprintf(w, "  %s:\n", str(c, "name", ""));
        }
        const char *qos = k8c_json_get_string(p, "status.qosClass");
        if (qos != NULL)
                fprintf(w, "QoS Class:\t%s\n", qos);
        map_block(w, "", "Node-Selectors", k8c_json_get(p, "spec.nodeSelector"), "=");
        tolerations(w, k8c_json_get(p, "spec.tolerations"), "");
}

/* "Title:\ta,b" for a non-empty array of strings. */
static void list_line(FILE *w, const char *title, const json_t *a)
{
        if (json_array_size(a) == 0)
                return;
        fprintf(w, "%s:\t", title);
        size_t i;
        json_t *x;
        json_array_foreach(a, i, x) fprintf(w, "%s%s", i > 0 ? "," : "", json_string_value(x) ?: "");
        fputc('\n', w);
}

static void describe_service(FILE *w, const json_t *s, const json_t *endpoints)
{
        describe_meta(w, s, true);
        labels_annotations(w, s);
        cleanup_free char *sel = selector_string(k8c_json_get(s, "spec.selector"), NULL);
        fprintf(w, "Selector:\t%s\n", sel);
        fprintf(w, "Type:\t%s\n", str(s, "spec.type", "ClusterIP"));
        const char *ifp = k8c_json_get_string(s, "spec.ipFamilyPolicy");
        if (ifp != NULL)
                fprintf(w, "IP Family Policy:\t%s\n", ifp);
        list_line(w, "IP Families", k8c_json_get(s, "spec.ipFamilies"));
        fprintf(w, "IP:\t%s\n", str(s, "spec.clusterIP", ""));
        list_line(w, "IPs", k8c_json_get(s, "spec.clusterIPs"));
        size_t i;
        json_t *p;
        json_array_foreach(k8c_json_get(s, "spec.ports"), i, p)
        {
                const char *name = str(p, "name", "<unset>");
                const char *proto = str(p, "protocol", "TCP");
                fprintf(w, "Port:\t%s  %lld/%s\n", name, (long long)k8c_json_get_int(p, "port", 0), proto);
                const json_t *tp = json_object_get(p, "targetPort");
                if (json_is_string(tp))
                        fprintf(w, "TargetPort:\t%s/%s\n", json_string_value(tp), proto);
                else
                        fprintf(w, "TargetPort:\t%lld/%s\n", (long long)json_integer_value(tp), proto);
                if (json_object_get(p, "nodePort") != NULL)
                        fprintf(w, "NodePort:\t%s  %lld/%s\n", name,
                                (long long)k8c_json_get_int(p, "nodePort", 0), proto);
                fprintf(w, "Endpoints:\t%s\n", endpoints != NULL ? "" : "<none>");
        }
        fprintf(w, "Session Affinity:\t%s\n", str(s, "spec.sessionAffinity", "None"));
        const char *etp = k8c_json_get_string(s, "spec.externalTrafficPolicy");
        if (etp != NULL)
                fprintf(w, "External Traffic Policy:\t%s\n", etp);
        const char *itp = k8c_json_get_string(s, "spec.internalTrafficPolicy");
        if (itp != NULL)
                fprintf(w, "Internal Traffic Policy:\t%s\n", itp);
}

static void describe_rs(FILE *w, const json_t *rs)
{
        describe_meta(w, rs, true);
        selector_line(w, rs);
        labels_annotations(w, rs);
        fprintf(w, "Replicas:\t%lld current / %lld desired\n",
                (long long)k8c_json_get_int(rs, "status.replicas", 0),
                (long long)k8c_json_get_int(rs, "spec.replicas", 1));
        fprintf(w, "Pods Status:\t%lld Running / 0 Waiting / 0 Succeeded / 0 Failed\n",
                (long long)k8c_json_get_int(rs, "status.readyReplicas", 0));
        k8c_cli_describe_pod_template(w, k8c_json_get(rs, "spec.template"));
}

static void volume_lines(FILE *w, const json_t *vols, const char *ind)
{
        size_t i;
        json_t *c;
        json_array_foreach(vols, i, c)
        {
                fprintf(w, "%s%s:\n", ind, str(c, "name", ""));
                if (json_object_get(c, "configMap") != NULL) {
                        fprintf(w, "%s Type:\tConfigMap (a volume populated by a ConfigMap)\n", ind);
                        fprintf(w, "%s Name:\t%s\n", ind, str(c, "configMap.name", ""));
                        fprintf(w, "%s Optional:\t%s\n", ind,
                                k8c_json_get_bool(c, "configMap.optional", false) ? "true" : "false");
                } else if (json_object_get(c, "secret") != NULL) {
                        fprintf(w, "%s Type:\tSecret (a volume populated by a Secret)\n", ind);
                        fprintf(w, "%s SecretName:\t%s\n", ind, str(c, "secret.secretName", ""));
                        fprintf(w, "%s Optional:\t%s\n", ind,
                                k8c_json_get_bool(c, "secret.optional", false) ? "true" : "false");
                } else if (json_object_get(c, "emptyDir") != NULL) {
                        fprintf(w,
                                "%s Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n",
                                ind);
                        fprintf(w, "%s Medium:\t%s\n", ind, str(c, "emptyDir.medium", ""));
                        fprintf(w, "%s SizeLimit:\t%s\n", ind, str(c, "emptyDir.sizeLimit", "<unset>"));
                } else if (json_object_get(c, "hostPath") != NULL) {
                        fprintf(w, "%s Type:\tHostPath (bare host directory volume)\n", ind);
                        fprintf(w, "%s Path:\t%s\n", ind, str(c, "hostPath.path", ""));
                        fprintf(w, "%s HostPathType:\t%s\n", ind, str(c, "hostPath.type", ""));
                }
        }
}

void k8c_cli_describe_pod_template(FILE *w, const json_t *tmpl)
{
        fprintf(w, "Pod Template:\n");
        map_block(w, "  ", "Labels", k8c_json_get(tmpl, "metadata.labels"), "=");
        const json_t *ann = k8c_json_get(tmpl, "metadata.annotations");
        if (json_object_size(ann) > 0)
                map_block(w, "  ", "Annotations", ann, ": ");
        fprintf(w, "  Containers:\n");
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(tmpl, "spec.containers"), i, c)
        {
                fprintf(w, "   %s:\n", str(c, "name", ""));
                container_lines(w, c, "    ");
        }
        const json_t *vols = k8c_json_get(tmpl, "spec.volumes");
        if (json_array_size(vols) == 0)
                fprintf(w, "  Volumes:\t<none>\n");
        else {
                fprintf(w, "  Volumes:\n");
                volume_lines(w, vols, "   ");
        }
        fprintf(w, "  Node-Selectors:\t<none>\n");
        tolerations(w, k8c_json_get(tmpl, "spec.tolerations"), "  ");
}

/* "Tue, 24 Nov 2026 16:26:03 +0000" (Go's RFC1123Z) of an RFC3339 time; an absent one is Go's
 * zero time. Returns buf. */
static const char *rfc1123(const char *ts, char *buf, size_t n)
{
        time_t t;
        if (ts == NULL || k8c_rfc3339_parse(ts, &t) < 0) {
                snprintf(buf, n, "Mon, 01 Jan 0001 00:00:00 +0000");
                return buf;
        }
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, n, "%a, %d %b %Y %H:%M:%S +0000", &tm);
        return buf;
}

static void creation(FILE *w, const json_t *o)
{
        const char *ts = k8c_json_get_string(o, "metadata.creationTimestamp");
        char buf[64];
        if (ts != NULL)
                fprintf(w, "CreationTimestamp:\t%s\n", rfc1123(ts, buf, sizeof(buf)));
}

static const char *intstr(const json_t *v, char *buf, size_t n)
{
        if (json_is_string(v))
                return json_string_value(v);
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
        return buf;
}

static void describe_deploy(FILE *w, const json_t *d)
{
        describe_meta(w, d, true);
        creation(w, d);
        labels_annotations(w, d);
        selector_line(w, d);
        fprintf(w,
                "Replicas:\t%lld desired | %lld updated | %lld total | %lld available | %lld unavailable\n",
                (long long)k8c_json_get_int(d, "spec.replicas", 1),
                (long long)k8c_json_get_int(d, "status.updatedReplicas", 0),
                (long long)k8c_json_get_int(d, "status.replicas", 0),
                (long long)k8c_json_get_int(d, "status.availableReplicas", 0),
                (long long)k8c_json_get_int(d, "status.unavailableReplicas", 0));
        const char *st = str(d, "spec.strategy.type", "RollingUpdate");
        fprintf(w, "StrategyType:\t%s\n", st);
        fprintf(w, "MinReadySeconds:\t%lld\n", (long long)k8c_json_get_int(d, "spec.minReadySeconds", 0));
        if (strcmp(st, "RollingUpdate") == 0) {
                char a[32], b[32];
                fprintf(w, "RollingUpdateStrategy:\t%s max unavailable, %s max surge\n",
                        intstr(k8c_json_get(d, "spec.strategy.rollingUpdate.maxUnavailable"), a, sizeof(a)),
                        intstr(k8c_json_get(d, "spec.strategy.rollingUpdate.maxSurge"), b, sizeof(b)));
        }
        k8c_cli_describe_pod_template(w, k8c_json_get(d, "spec.template"));
}

/* ---- nodes ---- */

/* A ResourceList (name → quantity string) as canonical quantities; absent or unparsable is 0. */
static k8c_quantity_t rl_get(const json_t *rl, const char *name)
{
        k8c_quantity_t q = { 0 };
        json_t *v = json_object_get(rl, name);
        if (v != NULL && k8c_quantity_from_json(v, &q, NULL) < 0)
                q = (k8c_quantity_t){ 0 };
        return q;
}

static void rl_set(json_t *rl, const char *name, const k8c_quantity_t *q)
{
        cleanup_free char *text = k8c_quantity_format(q);
        json_object_set_new(rl, name, json_string(text));
}

/* dst[name] += src[name] for every name of src (Quantity.Add). */
static void rl_add(json_t *dst, const json_t *src)
{
        const char *name;
        json_t *v;
        json_object_foreach((json_t *)src, name, v)
        {
                k8c_quantity_t sum = rl_get(dst, name), add = rl_get(src, name);
                if (k8c_quantity_add(&sum, &add, NULL) == 0)
                        rl_set(dst, name, &sum);
        }
}

/* dst[name] = max(dst[name], src[name]), a name dst lacks taken as is. */
static void rl_max(json_t *dst, const json_t *src)
{
        const char *name;
        json_t *v;
        json_object_foreach((json_t *)src, name, v)
        {
                k8c_quantity_t cur = rl_get(dst, name), q = rl_get(src, name);
                if (json_object_get(dst, name) == NULL || k8c_quantity_cmp(&q, &cur) > 0)
                        rl_set(dst, name, &q);
        }
}

/* A pod's effective requests or limits as kubectl's resource helper computes them: the sum over
 * containers, at least each init container (plus the restartable ones started before it),
 * restartable (sidecar) init containers added, then the pod overhead. For limits the overhead is
 * added only to limits that are set. New object. */
json_t *k8c_cli_pod_resources(const json_t *pod, const char *which)
{
        json_t *total = json_object();
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(pod, "spec.containers"), i, c)
                rl_add(total, k8c_json_get(json_object_get(c, "resources"), which));
        json_auto_t *sidecars = json_object();
        json_auto_t *init = json_object();
        json_array_foreach(k8c_json_get(pod, "spec.initContainers"), i, c)
        {
                const json_t *r = k8c_json_get(json_object_get(c, "resources"), which);
                const char *rp = k8c_json_get_string(c, "restartPolicy");
                if (rp != NULL && strcmp(rp, "Always") == 0) {
                        rl_add(total, r);
                        rl_add(sidecars, r);
                        rl_max(init, sidecars);
                } else {
                        json_auto_t *tmp = json_object();
                        rl_add(tmp, r);
                        rl_add(tmp, sidecars);
                        rl_max(init, tmp);
                }
        }
        rl_max(total, init);
        const json_t *overhead = k8c_json_get(pod, "spec.overhead");
        if (strcmp(which, "requests") == 0) {
                rl_add(total, overhead);
        } else {
                const char *name;
                json_t *v;
                json_object_foreach((json_t *)overhead, name, v)
                {
                        if (json_object_get(total, name) == NULL)
                                continue;
                        json_auto_t *one = json_pack("{sO}", name, v);
                        rl_add(total, one);
                }
        }
        return total;
}

/* "350m (10%)": the quantity and its share of the allocatable amount, truncated as Go's
 * int64(float) does; cpu compares milli-units, everything else whole units. */
static char *share(const json_t *rl, const char *name, const json_t *allocatable)
{
        k8c_quantity_t q = rl_get(rl, name), a = rl_get(allocatable, name);
        bool milli = strcmp(name, "cpu") == 0;
        double den = milli ? (double)k8c_quantity_milli(&a) : (double)k8c_quantity_value(&a);
        double num = milli ? (double)k8c_quantity_milli(&q) : (double)k8c_quantity_value(&q);
        long long pct = den != 0 ? (long long)(num / den * 100) : 0;
        cleanup_free char *qs = k8c_quantity_format(&q);
        return k8c_xasprintf("%s (%lld%%)", qs, pct);
}

static int cmp_taint(const void *a, const void *b)
{
        const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
        cleanup_free char *kx = k8c_xasprintf("%s,%s", str(x, "effect", ""), str(x, "key", ""));
        cleanup_free char *ky = k8c_xasprintf("%s,%s", str(y, "effect", ""), str(y, "key", ""));
        return strcmp(kx, ky);
}

/* Taints sorted by effect then key, as "key=value:Effect". */
static void taint_lines(FILE *w, const json_t *taints)
{
        size_t n = json_array_size(taints);
        fprintf(w, "Taints:\t");
        if (n == 0) {
                fprintf(w, "<none>\n");
                return;
        }
        cleanup_free json_t **sorted = k8c_xcalloc(n, sizeof(json_t *));
        for (size_t i = 0; i < n; i++)
                sorted[i] = json_array_get(taints, i);
        qsort(sorted, n, sizeof(json_t *), cmp_taint);
        for (size_t i = 0; i < n; i++) {
                const char *v = str(sorted[i], "value", "");
                fprintf(w, "%s%s%s%s:%s\n", i == 0 ? "" : "\t", str(sorted[i], "key", ""), v[0] ? "=" : "", v,
                        str(sorted[i], "effect", ""));
        }
}

/* "control-plane,worker" from node-role.kubernetes.io/<role> labels and kubernetes.io/role. */
static void roles_line(FILE *w, const json_t *labels)
{
        size_t n = 0;
        cleanup_free const char **keys = sorted_keys(labels, false, &n);
        json_auto_t *roles = json_object();
        for (size_t i = 0; i < n; i++) {
                const char *prefix = "node-role.kubernetes.io/";
                if (strncmp(keys[i], prefix, strlen(prefix)) == 0 && keys[i][strlen(prefix)] != '\0')
                        json_object_set_new(roles, keys[i] + strlen(prefix), json_true());
                else if (strcmp(keys[i], "kubernetes.io/role") == 0)
                        json_object_set_new(roles, json_string_value(json_object_get(labels, keys[i])) ?: "",
                                            json_true());
        }
        size_t k = 0;
        cleanup_free const char **names = sorted_keys(roles, false, &k);
        fprintf(w, "Roles:\t");
        for (size_t i = 0; i < k; i++)
                fprintf(w, "%s%s", i > 0 ? "," : "", names[i]);
        fprintf(w, "%s\n", k == 0 ? "<none>" : "");
}

static void resource_list_section(FILE *w, const char *title, const json_t *rl)
{
        size_t n = 0;
        cleanup_free const char **keys = sorted_keys(rl, false, &n);
        if (n == 0)
                return;
        fprintf(w, "%s:\n", title);
        for (size_t i = 0; i < n; i++) {
                k8c_quantity_t q = rl_get(rl, keys[i]);
                cleanup_free char *qs = k8c_quantity_format(&q);
                fprintf(w, "  %s:\t%s\n", keys[i], qs);
        }
}

/* Non-terminated Pods and Allocated resources, as kubectl's describeNodeResource. */
static void node_resources(FILE *w, const json_t *node, const json_t *pods)
{
        const json_t *allocatable = k8c_json_get(node, "status.allocatable");
        if (json_object_size(allocatable) == 0)
                allocatable = k8c_json_get(node, "status.capacity");
        const json_t *items = json_object_get(pods, "items");
        fprintf(w, "Non-terminated Pods:\t(%zu in total)\n", json_array_size(items));
        fprintf(w, "  Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n");
        fprintf(w, "  ---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n");
        json_auto_t *reqs = json_object(), *limits = json_object();
        time_t now = time(NULL);
        size_t i;
        json_t *pod;
        json_array_foreach(items, i, pod)
        {
                json_auto_t *pr = k8c_cli_pod_resources(pod, "requests");
                json_auto_t *pl = k8c_cli_pod_resources(pod, "limits");
                rl_add(reqs, pr);
                rl_add(limits, pl);
                cleanup_free char *cr = share(pr, "cpu", allocatable), *cl = share(pl, "cpu", allocatable);
                cleanup_free char *mr = share(pr, "memory", allocatable),
                                  *ml = share(pl, "memory", allocatable);
                char age[32] = "<unknown>";
                time_t t;
                const char *ts = k8c_json_get_string(pod, "metadata.creationTimestamp");
                if (ts != NULL && k8c_rfc3339_parse(ts, &t) == 0)
                        k8c_human_age((long)(now - t), age, sizeof(age));
                fprintf(w, "  %s\t%s\t\t%s\t%s\t%s\t%s\t%s\n", str(pod, "metadata.namespace", ""),
                        str(pod, "metadata.name", ""), cr, cl, mr, ml, age);
        }
        fprintf(w, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n");
        fprintf(w, "  Resource\tRequests\tLimits\n  --------\t--------\t------\n");
        const char *standard[] = { "cpu", "memory", "ephemeral-storage" };
        for (size_t k = 0; k < K8C_ARRAY_SIZE(standard); k++) {
                cleanup_free char *r = share(reqs, standard[k], allocatable);
                cleanup_free char *l = share(limits, standard[k], allocatable);
                fprintf(w, "  %s\t%s\t%s\n", standard[k], r, l);
        }
        size_t n = 0;
        cleanup_free const char **names = sorted_keys(allocatable, false, &n);
        for (size_t k = 0; k < n; k++) {
                if (strncmp(names[k], "hugepages-", 10) != 0)
                        continue;
                cleanup_free char *r = share(reqs, names[k], allocatable);
                cleanup_free char *l = share(limits, names[k], allocatable);
                fprintf(w, "  %s\t%s\t%s\n", names[k], r, l);
        }
        for (size_t k = 0; k < n; k++) {
                if (strncmp(names[k], "hugepages-", 10) == 0 || strcmp(names[k], "cpu") == 0 ||
                    strcmp(names[k], "memory") == 0 || strcmp(names[k], "ephemeral-storage") == 0 ||
                    strcmp(names[k], "pods") == 0)
                        continue;
                k8c_quantity_t r = rl_get(reqs, names[k]), l = rl_get(limits, names[k]);
                cleanup_free char *rs = k8c_quantity_format(&r), *ls = k8c_quantity_format(&l);
                fprintf(w, "  %s\t%s\t%s\n", names[k], rs, ls);
        }
}

/* lease: the node's Lease in kube-node-lease, or NULL with lease_error saying why. */
static void describe_node(FILE *w, const json_t *node, const json_t *lease, const char *lease_error,
                          const json_t *pods)
{
        char b1[64], b2[64];
        describe_meta(w, node, false);
        roles_line(w, k8c_json_get(node, "metadata.labels"));
        labels_annotations(w, node);
        creation(w, node);
        taint_lines(w, k8c_json_get(node, "spec.taints"));
        fprintf(w, "Unschedulable:\t%s\n",
                k8c_json_get_bool(node, "spec.unschedulable", false) ? "true" : "false");
        if (lease != NULL) {
                const char *acquire = k8c_json_get_string(lease, "spec.acquireTime");
                const char *renew = k8c_json_get_string(lease, "spec.renewTime");
                fprintf(w, "Lease:\n  HolderIdentity:\t%s\n", str(lease, "spec.holderIdentity", "<unset>"));
                fprintf(w, "  AcquireTime:\t%s\n",
                        acquire != NULL ? rfc1123(acquire, b1, sizeof(b1)) : "<unset>");
                fprintf(w, "  RenewTime:\t%s\n", renew != NULL ? rfc1123(renew, b2, sizeof(b2)) : "<unset>");
        } else {
                fprintf(w, "Lease:\tFailed to get lease: %s\n", lease_error);
        }
        const json_t *conds = k8c_json_get(node, "status.conditions");
        if (json_array_size(conds) > 0) {
                fprintf(w, "Conditions:\n  "
                           "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n");
                fprintf(w, "  ----\t------\t-----------------\t------------------\t------\t-------\n");
                size_t i;
                json_t *c;
                json_array_foreach(conds, i, c) fprintf(
                        w, "  %s \t%s \t%s \t%s \t%s \t%s\n", str(c, "type", ""), str(c, "status", ""),
                        rfc1123(k8c_json_get_string(c, "lastHeartbeatTime"), b1, sizeof(b1)),
                        rfc1123(k8c_json_get_string(c, "lastTransitionTime"), b2, sizeof(b2)),
                        str(c, "reason", ""), str(c, "message", ""));
        }
        fprintf(w, "Addresses:\n");
        size_t i;
        json_t *a;
        json_array_foreach(k8c_json_get(node, "status.addresses"), i, a)
                fprintf(w, "  %s:\t%s\n", str(a, "type", ""), str(a, "address", ""));
        resource_list_section(w, "Capacity", k8c_json_get(node, "status.capacity"));
        resource_list_section(w, "Allocatable", k8c_json_get(node, "status.allocatable"));
        static const char *const info[][2] = {
                { "Machine ID", "machineID" },
                { "System UUID", "systemUUID" },
                { "Boot ID", "bootID" },
                { "Kernel Version", "kernelVersion" },
                { "OS Image", "osImage" },
                { "Operating System", "operatingSystem" },
                { "Architecture", "architecture" },
                { "Container Runtime Version", "containerRuntimeVersion" },
                { "Kubelet Version", "kubeletVersion" },
                { "Kube-Proxy Version", "kubeProxyVersion" },
        };
        fprintf(w, "System Info:\n");
        const json_t *ni = k8c_json_get(node, "status.nodeInfo");
        for (size_t k = 0; k < K8C_ARRAY_SIZE(info); k++)
                fprintf(w, "  %s:\t%s\n", info[k][0], str(ni, info[k][1], ""));
        const char *cidr = k8c_json_get_string(node, "spec.podCIDR");
        if (cidr != NULL && cidr[0] != '\0')
                fprintf(w, "PodCIDR:\t%s\n", cidr);
        list_line(w, "PodCIDRs", k8c_json_get(node, "spec.podCIDRs"));
        const char *provider = k8c_json_get_string(node, "spec.providerID");
        if (provider != NULL && provider[0] != '\0')
                fprintf(w, "ProviderID:\t%s\n", provider);
        node_resources(w, node, pods);
}

static void describe_endpoints(FILE *w, const json_t *ep)
{
        describe_meta(w, ep, true);
        labels_annotations(w, ep);
        fprintf(w, "Subsets:\n");
        size_t i, j;
        json_t *sub, *x;
        json_array_foreach(json_object_get(ep, "subsets"), i, sub)
        {
                const char *lists[][2] = { { "addresses", "Addresses" },
                                           { "notReadyAddresses", "NotReadyAddresses" } };
                for (size_t l = 0; l < K8C_ARRAY_SIZE(lists); l++) {
                        const json_t *a = json_object_get(sub, lists[l][0]);
                        fprintf(w, "  %s:\t", lists[l][1]);
                        json_array_foreach(a, j, x) fprintf(w, "%s%s", j > 0 ? "," : "", str(x, "ip", ""));
                        fprintf(w, "%s\n", json_array_size(a) == 0 ? "<none>" : "");
                }
                const json_t *ports = json_object_get(sub, "ports");
                if (json_array_size(ports) > 0) {
                        fprintf(w, "  Ports:\n    Name\tPort\tProtocol\n    ----\t----\t--------\n");
                        json_array_foreach(ports, j, x)
                        {
                                const char *name = str(x, "name", "");
                                fprintf(w, "    %s\t%lld\t%s\n", name[0] != '\0' ? name : "<unset>",
                                        (long long)k8c_json_get_int(x, "port", 0), str(x, "protocol", ""));
                        }
                }
                fputc('\n', w);
        }
}

/* A quantity field of an HPA metric in canonical form ("" when absent). Caller frees. */
static char *metric_quantity(const json_t *v, const char *path)
{
        k8c_quantity_t q = { 0 };
        const json_t *x = k8c_json_get(v, path);
        if (x == NULL || k8c_quantity_from_json(x, &q, NULL) < 0)
                return NULL;
        return k8c_quantity_format(&q);
}

/* One spec.metrics entry with the matching status.currentMetrics entry (may be NULL), as
 * kubectl's describeHorizontalPodAutoscalerV2 prints them. */
static void hpa_metric(FILE *w, const json_t *m, const json_t *cur)
{
        const char *type = str(m, "type", "");
        char buf[64];
        if (strcmp(type, "Resource") == 0 || strcmp(type, "ContainerResource") == 0) {
                bool container = strcmp(type, "ContainerResource") == 0;
                const json_t *src = json_object_get(m, container ? "containerResource" : "resource");
                const json_t *now = json_object_get(cur, container ? "containerResource" : "resource");
                if (container)
                        fprintf(w, "  resource %s of container \"%s\" on pods", str(src, "name", ""),
                                str(src, "container", ""));
                else
                        fprintf(w, "  resource %s on pods", str(src, "name", ""));
                cleanup_free char *target = metric_quantity(src, "target.averageValue");
                if (target != NULL) {
                        cleanup_free char *c = metric_quantity(now, "current.averageValue");
                        fprintf(w, ":\t%s / %s\n", c != NULL ? c : "<unknown>", target);
                        return;
                }
                cleanup_free char *current = NULL;
                if (k8c_json_get(now, "current.averageUtilization") != NULL) {
                        cleanup_free char *av = metric_quantity(now, "current.averageValue");
                        current = k8c_xasprintf(
                                "%lld%% (%s)",
                                (long long)k8c_json_get_int(now, "current.averageUtilization", 0),
                                av != NULL ? av : "0");
                }
                const json_t *util = k8c_json_get(src, "target.averageUtilization");
                if (util != NULL)
                        snprintf(buf, sizeof(buf), "%lld%%", (long long)json_integer_value(util));
                fprintf(w, "  (as a percentage of request):\t%s / %s\n",
                        current != NULL ? current : "<unknown>", util != NULL ? buf : "<auto>");
        } else if (strcmp(type, "Pods") == 0) {
                cleanup_free char *c = metric_quantity(json_object_get(cur, "pods"), "current.averageValue");
                cleanup_free char *t = metric_quantity(json_object_get(m, "pods"), "target.averageValue");
                fprintf(w, "  \"%s\" on pods:\t%s / %s\n", str(m, "pods.metric.name", ""),
                        c != NULL ? c : "<unknown>", t != NULL ? t : "0");
        } else if (strcmp(type, "Object") == 0 || strcmp(type, "External") == 0) {
                bool object = strcmp(type, "Object") == 0;
                const json_t *src = json_object_get(m, object ? "object" : "external");
                const json_t *now = json_object_get(cur, object ? "object" : "external");
                bool average = k8c_json_get(src, "target.averageValue") != NULL;
                cleanup_free char *t = metric_quantity(src, average ? "target.averageValue" : "target.value");
                cleanup_free char *c =
                        metric_quantity(now, average ? "current.averageValue" : "current.value");
                cleanup_free char *on =
                        object ? k8c_xasprintf(" on %s/%s", str(src, "describedObject.kind", ""),
                                               str(src, "describedObject.name", ""))
                               : k8c_xstrdup("");
                const char *what = average ? " (target average value)" : object ? "" : " (target value)";
                fprintf(w, "  \"%s\"%s%s:\t%s / %s\n", str(src, "metric.name", ""), on, what,
                        c != NULL ? c : "<unknown>", t != NULL ? t : "0");
        } else {
                fprintf(w, "  <unknown metric type \"%s\">\n", type);
        }
}

static void hpa_direction(FILE *w, const char *title, const json_t *rules)
{
        if (rules == NULL)
                return;
        fprintf(w, "  %s:\n", title);
        if (json_object_get(rules, "stabilizationWindowSeconds") != NULL)
                fprintf(w, "    Stabilization Window: %lld seconds\n",
                        (long long)k8c_json_get_int(rules, "stabilizationWindowSeconds", 0));
        const json_t *policies = json_object_get(rules, "policies");
        if (json_array_size(policies) == 0)
                return;
        fprintf(w, "    Select Policy: %s\n    Policies:\n", str(rules, "selectPolicy", "Max"));
        size_t i;
        json_t *p;
        json_array_foreach(policies, i, p)
                fprintf(w, "      - Type: %s\tValue: %lld\tPeriod: %lld seconds\n", str(p, "type", ""),
                        (long long)k8c_json_get_int(p, "value", 0),
                        (long long)k8c_json_get_int(p, "periodSeconds", 0));
}

static void describe_hpa(FILE *w, const json_t *hpa)
{
        describe_meta(w, hpa, true);
        labels_annotations(w, hpa);
        creation(w, hpa);
        fprintf(w, "Reference:\t%s/%s\n", str(hpa, "spec.scaleTargetRef.kind", ""),
                str(hpa, "spec.scaleTargetRef.name", ""));
        fprintf(w, "Metrics:\t( current / target )\n");
        const json_t *current = k8c_json_get(hpa, "status.currentMetrics");
        size_t i;
        json_t *m;
        json_array_foreach(k8c_json_get(hpa, "spec.metrics"), i, m)
                hpa_metric(w, m, json_array_get(current, i));
        const json_t *min = k8c_json_get(hpa, "spec.minReplicas");
        if (min != NULL)
                fprintf(w, "Min replicas:\t%lld\n", (long long)json_integer_value(min));
        else
                fprintf(w, "Min replicas:\t<unset>\n");
        fprintf(w, "Max replicas:\t%lld\n", (long long)k8c_json_get_int(hpa, "spec.maxReplicas", 0));
        const json_t *behavior = k8c_json_get(hpa, "spec.behavior");
        if (behavior != NULL) {
                fprintf(w, "Behavior:\n");
                hpa_direction(w, "Scale Up", json_object_get(behavior, "scaleUp"));
                hpa_direction(w, "Scale Down", json_object_get(behavior, "scaleDown"));
        }
        fprintf(w, "%s pods:\t%lld current / %lld desired\n", str(hpa, "spec.scaleTargetRef.kind", ""),
                (long long)k8c_json_get_int(hpa, "status.currentReplicas", 0),
                (long long)k8c_json_get_int(hpa, "status.desiredReplicas", 0));
        const json_t *conds = k8c_json_get(hpa, "status.conditions");
        if (json_array_size(conds) > 0) {
                fprintf(w, "Conditions:\n  Type\tStatus\tReason\tMessage\n  ----\t------\t------\t-------\n");
                json_t *c;
                json_array_foreach(conds, i, c)
                        fprintf(w, "  %s\t%s\t%s\t%s\n", str(c, "type", ""), str(c, "status", ""),
                                str(c, "reason", ""), str(c, "message", ""));
        }
}

/* kubectl ranges over a Go map here, so its key order varies from run to run; ours is sorted. */
static void describe_configmap(FILE *w, const json_t *cm)
{
        describe_meta(w, cm, true);
        labels_annotations(w, cm);
        fprintf(w, "\nData\n====\n");
        size_t n = 0;
        const json_t *data = json_object_get(cm, "data");
        cleanup_free const char **keys = sorted_keys(data, false, &n);
        for (size_t i = 0; i < n; i++)
                fprintf(w, "%s:\n----\n%s\n\n", keys[i],
                        json_string_value(json_object_get(data, keys[i])) ?: "");
        fprintf(w, "\nBinaryData\n====\n");
        const json_t *bin = json_object_get(cm, "binaryData");
        cleanup_free const char **bkeys = sorted_keys(bin, false, &n);
        for (size_t i = 0; i < n; i++)
                fprintf(w, "%s: %zu bytes\n", bkeys[i],
                        base64_len(json_string_value(json_object_get(bin, bkeys[i]))));
        fputc('\n', w);
}

static void describe_secret(FILE *w, const json_t *secret)
{
        describe_meta(w, secret, true);
        labels_annotations(w, secret);
        fprintf(w, "\nType:\t%s\n\nData\n====\n", str(secret, "type", ""));
        size_t n = 0;
        const json_t *data = json_object_get(secret, "data");
        cleanup_free const char **keys = sorted_keys(data, false, &n);
        bool sa_token = strcmp(str(secret, "type", ""), "kubernetes.io/service-account-token") == 0;
        for (size_t i = 0; i < n; i++) {
                const char *v = json_string_value(json_object_get(data, keys[i])) ?: "";
                if (sa_token && strcmp(keys[i], "token") == 0) {
                        gnutls_datum_t in = { (unsigned char *)v, (unsigned int)strlen(v) },
                                       out = { NULL, 0 };
                        if (gnutls_base64_decode2(&in, &out) == 0) {
                                fprintf(w, "%s:\t%.*s\n", keys[i], (int)out.size, (const char *)out.data);
                                gnutls_free(out.data);
                                continue;
                        }
                }
                fprintf(w, "%s:\t%zu bytes\n", keys[i], base64_len(v));
        }
}

static void describe_ns(FILE *w, const json_t *ns)
{
        describe_meta(w, ns, false);
        labels_annotations(w, ns);
        fprintf(w, "Status:\t%s\n", str(ns, "status.phase", ""));
}

static void describe_generic(FILE *w, const json_t *o, bool namespaced)
{
        describe_meta(w, o, namespaced);
        labels_annotations(w, o);
}

/* The Events about an object, appended to items (a server without events is not an error).
 * kind/uid may be NULL: the selector then leaves them out. */
static void fetch_events(struct k8c_cli *cli, const char *name, const char *ns, const char *kind,
                         const char *uid, json_t *items)
{
        char *fs = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&fs, &len);
        fprintf(f, "involvedObject.name=%s,involvedObject.namespace=%s", name, ns != NULL ? ns : "");
        if (kind != NULL)
                fprintf(f, ",involvedObject.kind=%s", kind);
        if (uid != NULL)
                fprintf(f, ",involvedObject.uid=%s", uid);
        fclose(f);
        cleanup_free char *esc = k8c_url_escape(fs);
        free(fs);
        cleanup_free char *path =
                ns != NULL ? k8c_xasprintf("/api/v1/namespaces/%s/events?fieldSelector=%s", ns, esc)
                           : k8c_xasprintf("/api/v1/events?fieldSelector=%s", esc);
        json_auto_t *events = NULL;
        cleanup_error k8c_error_t eerr = NULL;
        if (k8c_cli_request(cli, "GET", path, NULL, NULL, &events, &eerr) == 0)
                json_array_extend(items, json_object_get(events, "items"));
}

/* Events oldest first by lastTimestamp; a stable insertion sort (Go's sort.Sort is one for the
 * short lists describe shows, so ties keep the server's order as in kubectl). */
static void sort_events(json_t *items)
{
        size_t n = json_array_size(items);
        for (size_t i = 1; i < n; i++) {
                json_t *e = json_incref(json_array_get(items, i));
                time_t te = 0;
                k8c_rfc3339_parse(k8c_json_get_string(e, "lastTimestamp"), &te);
                size_t j = i;
                while (j > 0) {
                        time_t tp = 0;
                        k8c_rfc3339_parse(k8c_json_get_string(json_array_get(items, j - 1), "lastTimestamp"),
                                          &tp);
                        if (tp <= te)
                                break;
                        j--;
                }
                json_array_remove(items, i);
                json_array_insert_new(items, j, e);
        }
}

static void events_section(FILE *w, json_t *items)
{
        sort_events(items);
        if (json_array_size(items) == 0) {
                fprintf(w, "Events:\t<none>\n");
                return;
        }
        fprintf(w, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n  ----\t------\t----\t----\t-------\n");
        time_t now = time(NULL);
        size_t i;
        json_t *e;
        json_array_foreach(items, i, e)
        {
                const char *ts = k8c_json_get_string(e, "lastTimestamp");
                if (ts == NULL)
                        ts = k8c_json_get_string(e, "eventTime");
                char age[32] = "<unknown>";
                time_t t;
                if (ts != NULL && k8c_rfc3339_parse(ts, &t) == 0)
                        k8c_human_age((long)(now - t), age, sizeof(age));
                json_int_t count = k8c_json_get_int(e, "count", 1);
                cleanup_free char *agecol = NULL;
                const char *first = k8c_json_get_string(e, "firstTimestamp");
                time_t ft;
                if (count > 1 && first != NULL && k8c_rfc3339_parse(first, &ft) == 0) {
                        char over[32];
                        k8c_human_age((long)(now - ft), over, sizeof(over));
                        agecol = k8c_xasprintf("%s (x%lld over %s)", age, (long long)count, over);
                } else {
                        agecol = k8c_xstrdup(age);
                }
                const char *from = k8c_json_get_string(e, "source.component");
                if (from == NULL)
                        from = k8c_json_get_string(e, "reportingComponent");
                fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", str(e, "type", ""), str(e, "reason", ""), agecol,
                        from != NULL ? from : "", str(e, "message", ""));
        }
}

/* A node with what kubectl shows beside it: its Lease, the pods bound to it that have not
 * terminated, and the events about it (the controllers' by its uid, the kubelet's by its name). */
static int node_with_lease_and_pods(struct k8c_cli *cli, FILE *w, const json_t *node, json_t *events,
                                    k8c_error_t *err)
{
        const char *name = k8c_json_get_string(node, "metadata.name");
        const char *uid = k8c_json_get_string(node, "metadata.uid");
        cleanup_free char *fs =
                k8c_xasprintf("spec.nodeName=%s,status.phase!=Succeeded,status.phase!=Failed", name);
        cleanup_free char *esc = k8c_url_escape(fs);
        cleanup_free char *ppath = k8c_xasprintf("/api/v1/pods?fieldSelector=%s&limit=500", esc);
        json_auto_t *pods = NULL;
        int r = k8c_cli_request(cli, "GET", ppath, NULL, NULL, &pods, err);
        if (r < 0)
                return r;
        fetch_events(cli, name, NULL, "Node", uid, events);
        fetch_events(cli, name, NULL, "Node", name, events);
        cleanup_free char *lpath =
                k8c_xasprintf("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s", name);
        json_auto_t *lease = NULL;
        cleanup_error k8c_error_t lerr = NULL;
        cleanup_free char *lease_error = NULL;
        if (k8c_cli_request(cli, "GET", lpath, NULL, NULL, &lease, &lerr) < 0) {
                /* kubectl shows the Status message (not its "Error from server" line). */
                const char *m = k8c_error_msg(&lerr);
                const char *colon =
                        m != NULL && strncmp(m, "Error from server", 17) == 0 ? strstr(m, "): ") : NULL;
                lease_error = k8c_xstrdup(colon != NULL ? colon + 3 : m != NULL ? m : "");
        }
        describe_node(w, node, lease, lease_error, pods);
        return 0;
}

int k8c_cli_describe(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        struct k8c_cli_target *t = NULL;
        size_t n = 0;
        int r = k8c_cli_targets(cli, args, nargs, &t, &n, err);
        if (r < 0)
                return r;
        /* Every object of the targets, fetched whole. */
        json_auto_t *objs = json_array();
        json_auto_t *res_of = json_array();
        for (size_t i = 0; i < n && r == 0; i++) {
                cleanup_free char *path = k8c_cli_path(
                        t[i].res, cli->all_namespaces && t[i].name == NULL ? NULL : cli->ns, t[i].name, NULL);
                if (t[i].name == NULL && cli->selector != NULL) {
                        cleanup_free char *e = k8c_url_escape(cli->selector);
                        char *p = k8c_xasprintf("%s?labelSelector=%s", path, e);
                        free(path);
                        path = p;
                }
                json_auto_t *got = NULL;
                r = k8c_cli_request(cli, "GET", path, NULL, NULL, &got, err);
                if (r < 0)
                        break;
                if (t[i].name != NULL) {
                        json_array_append(objs, got);
                        json_array_append_new(res_of, json_integer((json_int_t)i));
                } else {
                        size_t j;
                        json_t *it;
                        json_array_foreach(json_object_get(got, "items"), j, it)
                        {
                                json_array_append(objs, it);
                                json_array_append_new(res_of, json_integer((json_int_t)i));
                        }
                }
        }
        size_t i;
        json_t *obj;
        json_array_foreach(objs, i, obj)
        {
                if (r < 0)
                        break;
                const json_t *res = t[json_integer_value(json_array_get(res_of, i))].res;
                const char *kind = json_string_value(json_object_get(res, "kind"));
                bool namespaced = json_is_true(json_object_get(res, "namespaced"));
                const char *name = k8c_json_get_string(obj, "metadata.name");
                const char *ns = k8c_json_get_string(obj, "metadata.namespace");
                const char *uid = k8c_json_get_string(obj, "metadata.uid");
                json_auto_t *events = json_array();
                char *text = NULL;
                size_t len = 0;
                FILE *w = open_memstream(&text, &len);
                if (strcmp(kind, "Pod") == 0)
                        describe_pod(w, obj);
                else if (strcmp(kind, "Service") == 0)
                        describe_service(w, obj, NULL);
                else if (strcmp(kind, "ReplicaSet") == 0)
                        describe_rs(w, obj);
                else if (strcmp(kind, "Deployment") == 0)
                        describe_deploy(w, obj);
                else if (strcmp(kind, "Namespace") == 0)
                        describe_ns(w, obj);
                else if (strcmp(kind, "ConfigMap") == 0)
                        describe_configmap(w, obj);
                else if (strcmp(kind, "Secret") == 0)
                        describe_secret(w, obj);
                else if (strcmp(kind, "Endpoints") == 0)
                        describe_endpoints(w, obj);
                else if (strcmp(kind, "HorizontalPodAutoscaler") == 0)
                        describe_hpa(w, obj);
                else if (strcmp(kind, "Node") == 0)
                        r = node_with_lease_and_pods(cli, w, obj, events, err);
                else
                        describe_generic(w, obj, namespaced);
                if (strcmp(kind, "Node") != 0 && strcmp(kind, "Namespace") != 0)
                        fetch_events(cli, name, ns, NULL, uid != NULL ? uid : "", events);
                if (strcmp(kind, "Namespace") != 0 && strcmp(kind, "Secret") != 0)
                        events_section(w, events);
                fclose(w);
                if (r < 0) {
                        free(text);
                        break;
                }
                if (i > 0)
                        fputs("\n\n", cli->out);
                tabwrite(cli->out, text, 2);
                free(text);
        }
        if (r == 0 && json_array_size(objs) == 0 && n > 0 && t[0].name == NULL)
                fprintf(cli->errout, "No resources found in %s namespace.\n", cli->ns);
        k8c_cli_targets_free(t, n);
        return r;
}

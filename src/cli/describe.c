/*
 * describe.c - `k8cctl describe`: kubectl-like sections for pods, services,
 * replicasets, namespaces and configmaps (a generic Name/Labels/Annotations
 * view for other kinds), then the object's Events. Lines are written with
 * tabs and aligned by a Go-tabwriter emulation (padding 2), as kubectl does.
 *
 * It must not change anything; a missing events list (404) is not an error.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"
#include "k8c/names.h"

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
 * "INDENTTitle:\tk=v\n" then "INDENT\tk2=v2\n" for each further key (sorted), "<none>" when
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
                fprintf(w, "%s%s%s%s%s\n", i == 0 ? "" : indent, i == 0 ? "" : "\t", keys[i], sep,
                        json_string_value(json_object_get(m, keys[i])) ?: "");
}

/* A label selector as metav1.FormatLabelSelector prints it ("app=web,tier in (a,b)"); a plain
 * map (a Service's selector) is all matchLabels. "<none>" when it selects nothing. Caller frees. */
static char *selector_string(const json_t *match_labels, const json_t *match_expressions)
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
        bool empty = ftell(f) == 0;
        fclose(f);
        if (empty) {
                free(text);
                return k8c_xstrdup("<none>");
        }
        return text;
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
        fprintf(w, "Containers:\n");
        size_t i;
        json_t *c;
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

static void pod_template(FILE *w, const json_t *rs);

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
        pod_template(w, rs);
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

static void pod_template(FILE *w, const json_t *rs)
{
        fprintf(w, "Pod Template:\n");
        map_block(w, "  ", "Labels", k8c_json_get(rs, "spec.template.metadata.labels"), "=");
        fprintf(w, "  Containers:\n");
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(rs, "spec.template.spec.containers"), i, c)
        {
                fprintf(w, "   %s:\n", str(c, "name", ""));
                container_lines(w, c, "    ");
        }
        const json_t *vols = k8c_json_get(rs, "spec.template.spec.volumes");
        if (json_array_size(vols) == 0)
                fprintf(w, "  Volumes:\t<none>\n");
        else {
                fprintf(w, "  Volumes:\n");
                volume_lines(w, vols, "   ");
        }
        fprintf(w, "  Node-Selectors:\t<none>\n");
        tolerations(w, k8c_json_get(rs, "spec.template.spec.tolerations"), "  ");
}

/* "Tue, 24 Nov 2026 16:26:03 +0000" (Go's RFC1123Z), as kubectl prints CreationTimestamp. */
static void creation(FILE *w, const json_t *o)
{
        const char *ts = k8c_json_get_string(o, "metadata.creationTimestamp");
        time_t t;
        if (ts == NULL || k8c_rfc3339_parse(ts, &t) < 0)
                return;
        struct tm tm;
        gmtime_r(&t, &tm);
        char buf[64];
        strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S +0000", &tm);
        fprintf(w, "CreationTimestamp:\t%s\n", buf);
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
        pod_template(w, d);
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

static void events_section(FILE *w, const json_t *events)
{
        const json_t *items = json_object_get(events, "items");
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

int k8c_cli_describe(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        int r = k8c_cli_discover(cli, err);
        if (r < 0)
                return r;
        struct k8c_cli_target *t = NULL;
        size_t n = 0;
        r = k8c_cli_parse_targets(cli->resources, args, nargs, &t, &n, err);
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
                else
                        describe_generic(w, obj, namespaced);
                if (strcmp(kind, "Namespace") != 0) {
                        /* Events about this object; a server without events is not an error. */
                        const char *name = k8c_json_get_string(obj, "metadata.name");
                        const char *ns = k8c_json_get_string(obj, "metadata.namespace");
                        const char *uid = k8c_json_get_string(obj, "metadata.uid");
                        cleanup_free char *fs =
                                k8c_xasprintf("involvedObject.name=%s,involvedObject.namespace=%s,"
                                              "involvedObject.uid=%s",
                                              name, ns != NULL ? ns : "", uid != NULL ? uid : "");
                        cleanup_free char *esc = k8c_url_escape(fs);
                        cleanup_free char *epath =
                                ns != NULL ? k8c_xasprintf("/api/v1/namespaces/%s/events?fieldSelector=%s",
                                                           ns, esc)
                                           : k8c_xasprintf("/api/v1/events?fieldSelector=%s", esc);
                        json_auto_t *events = NULL;
                        cleanup_error k8c_error_t eerr = NULL;
                        k8c_cli_request(cli, "GET", epath, NULL, NULL, &events, &eerr);
                        events_section(w, events);
                }
                fclose(w);
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

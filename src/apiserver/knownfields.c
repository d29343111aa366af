/*
 * knownfields.c - a compact table of the field names the common kinds know, so
 * fieldValidation (Strict/Warn/Ignore) can find unknown fields without a full
 * OpenAPI schema. Paths use "[]" for list items; a node whose path is not in the
 * table is not checked (free-form maps such as labels, or kinds we do not
 * describe). Keep entries in Kubernetes' field names; add kinds as they come.
 */
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"

struct known {
        const char *kind;   /* "*" = any kind */
        const char *path;   /* "" = the object itself */
        const char *fields; /* space-separated */
};

#define OBJ "apiVersion kind metadata spec status"
#define META                                                                                                 \
        "name generateName namespace selfLink uid resourceVersion generation creationTimestamp "             \
        "deletionTimestamp deletionGracePeriodSeconds labels annotations ownerReferences finalizers "        \
        "managedFields"
#define PODSPEC                                                                                              \
        "volumes initContainers containers ephemeralContainers restartPolicy terminationGracePeriodSeconds " \
        "activeDeadlineSeconds dnsPolicy nodeSelector serviceAccountName serviceAccount "                    \
        "automountServiceAccountToken nodeName hostNetwork hostPID hostIPC shareProcessNamespace "           \
        "securityContext imagePullSecrets hostname subdomain affinity schedulerName tolerations "            \
        "hostAliases priorityClassName priority dnsConfig readinessGates runtimeClassName "                  \
        "enableServiceLinks preemptionPolicy overhead topologySpreadConstraints setHostnameAsFQDN os "       \
        "hostUsers schedulingGates resourceClaims resources"
#define CONTAINER                                                                                            \
        "name image command args workingDir ports envFrom env resources resizePolicy restartPolicy "         \
        "volumeMounts volumeDevices livenessProbe readinessProbe startupProbe lifecycle "                    \
        "terminationMessagePath terminationMessagePolicy imagePullPolicy securityContext stdin stdinOnce "   \
        "tty"

static const struct known table[] = {
        { "*", "metadata", META },
        { "Pod", "", OBJ },
        { "Pod", "spec", PODSPEC },
        { "Pod", "spec.containers[]", CONTAINER },
        { "Pod", "spec.initContainers[]", CONTAINER },
        { "Pod", "spec.containers[].ports[]", "name hostPort containerPort protocol hostIP" },
        { "ReplicaSet", "", OBJ },
        { "ReplicaSet", "spec", "replicas minReadySeconds selector template" },
        { "Deployment", "", OBJ },
        { "Deployment", "spec",
          "replicas selector template strategy minReadySeconds revisionHistoryLimit paused "
          "progressDeadlineSeconds" },
        { "*", "spec.template", "metadata spec" },
        { "*", "spec.template.spec", PODSPEC },
        { "*", "spec.template.spec.containers[]", CONTAINER },
        { "*", "spec.template.spec.initContainers[]", CONTAINER },
        { "Service", "", OBJ },
        { "Service", "spec",
          "ports selector clusterIP clusterIPs type externalIPs sessionAffinity loadBalancerIP "
          "loadBalancerSourceRanges externalName externalTrafficPolicy healthCheckNodePort "
          "publishNotReadyAddresses sessionAffinityConfig ipFamilies ipFamilyPolicy "
          "allocateLoadBalancerNodePorts "
          "loadBalancerClass internalTrafficPolicy trafficDistribution" },
        { "Service", "spec.ports[]", "name protocol appProtocol port targetPort nodePort" },
        { "Namespace", "", OBJ },
        { "Namespace", "spec", "finalizers" },
        { "ConfigMap", "", "apiVersion kind metadata data binaryData immutable" },
        { "Secret", "", "apiVersion kind metadata data stringData type immutable" },
        { "Node", "", OBJ },
        { "Endpoints", "", "apiVersion kind metadata subsets" },
};

static const struct known *lookup(const char *kind, const char *path)
{
        for (size_t i = 0; i < K8C_ARRAY_SIZE(table); i++)
                if ((strcmp(table[i].kind, "*") == 0 || strcmp(table[i].kind, kind) == 0) &&
                    strcmp(table[i].path, path) == 0)
                        return &table[i];
        return NULL;
}

static bool has_word(const char *words, const char *w)
{
        size_t n = strlen(w);
        for (const char *p = words; (p = strstr(p, w)) != NULL; p += n) {
                bool start = p == words || p[-1] == ' ';
                bool end = p[n] == '\0' || p[n] == ' ';
                if (start && end)
                        return true;
        }
        return false;
}

struct acc {
        char **v;
        size_t n;
};

static void add(struct acc *a, char *s)
{
        a->v = k8c_xrealloc(a->v, (a->n + 2) * sizeof(char *));
        a->v[a->n++] = s;
        a->v[a->n] = NULL;
}

/* Whether the table describes pattern or anything below it: subtrees it does not (labels,
 * resources, command lists, ...) are not walked at all. */
static bool described_at_or_below(const char *kind, const char *pattern, size_t plen)
{
        if (plen == 0)
                return true;
        for (size_t i = 0; i < K8C_ARRAY_SIZE(table); i++) {
                const char *p = table[i].path;
                if ((strcmp(table[i].kind, "*") == 0 || strcmp(table[i].kind, kind) == 0) &&
                    strncmp(p, pattern, plen) == 0 && (p[plen] == '\0' || p[plen] == '.' || p[plen] == '['))
                        return true;
        }
        return false;
}

/* The two paths of the node being walked, in fixed buffers (cut back on return): pattern is the
 * table's form ("spec.containers[]"), actual what users see ("spec.containers[0]"). Paths too long
 * for them are not walked (no table entry is that deep). */
struct paths {
        char pat[256];
        size_t plen;
        char act[512];
        size_t alen;
};

static bool append(char *buf, size_t cap, size_t *len, const char *sep, const char *s)
{
        int n = snprintf(buf + *len, cap - *len, "%s%s", *len > 0 ? sep : "", s);
        if (n < 0 || (size_t)n >= cap - *len) {
                buf[*len] = '\0';
                return false;
        }
        *len += (size_t)n;
        return true;
}

static void walk(const char *kind, json_t *node, struct paths *p, struct acc *a)
{
        size_t plen = p->plen, alen = p->alen;
        if (json_is_array(node)) {
                if (!append(p->pat, sizeof(p->pat), &p->plen, "", "[]"))
                        return;
                if (described_at_or_below(kind, p->pat, p->plen)) {
                        size_t i;
                        json_t *v;
                        json_array_foreach(node, i, v)
                        {
                                char idx[32];
                                snprintf(idx, sizeof(idx), "[%zu]", i);
                                if (append(p->act, sizeof(p->act), &p->alen, "", idx))
                                        walk(kind, v, p, a);
                                p->alen = alen;
                                p->act[alen] = '\0';
                        }
                }
                p->plen = plen;
                p->pat[plen] = '\0';
                return;
        }
        if (!json_is_object(node))
                return;
        const struct known *k = lookup(kind, p->pat);
        if (k == NULL && !described_at_or_below(kind, p->pat, p->plen))
                return;
        const char *key;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(node, tmp, key, v)
        {
                if (k != NULL && !has_word(k->fields, key)) {
                        add(a, alen > 0 ? k8c_xasprintf("%s.%s", p->act, key) : k8c_xstrdup(key));
                        json_object_del(node, key);
                        continue;
                }
                if ((json_is_object(v) || json_is_array(v)) &&
                    append(p->pat, sizeof(p->pat), &p->plen, ".", key) &&
                    append(p->act, sizeof(p->act), &p->alen, ".", key))
                        walk(kind, v, p, a);
                p->plen = plen;
                p->pat[plen] = '\0';
                p->alen = alen;
                p->act[alen] = '\0';
        }
}

void k8c_known_fields_prune(const char *kind, json_t *obj, char ***ret_unknown)
{
        struct acc a = { 0 };
        struct paths p = { .plen = 0, .alen = 0 };
        if (lookup(kind, "") != NULL)
                walk(kind, obj, &p, &a);
        *ret_unknown = a.v;
}

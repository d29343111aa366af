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

/* pattern: the table path ("spec.containers[]"); actual: what users see ("spec.containers[0]"). */
static void walk(const char *kind, json_t *node, const char *pattern, const char *actual, struct acc *a)
{
        if (json_is_array(node)) {
                size_t i;
                json_t *v;
                cleanup_free char *p = k8c_xasprintf("%s[]", pattern);
                json_array_foreach(node, i, v)
                {
                        cleanup_free char *ac = k8c_xasprintf("%s[%zu]", actual, i);
                        walk(kind, v, p, ac, a);
                }
                return;
        }
        if (!json_is_object(node))
                return;
        const struct known *k = lookup(kind, pattern);
        const char *key;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(node, tmp, key, v)
        {
                cleanup_free char *p = pattern[0] ? k8c_xasprintf("%s.%s", pattern, key) : k8c_xstrdup(key);
                cleanup_free char *ac = actual[0] ? k8c_xasprintf("%s.%s", actual, key) : k8c_xstrdup(key);
                if (k != NULL && !has_word(k->fields, key)) {
                        add(a, k8c_steal(&ac));
                        json_object_del(node, key);
                        continue;
                }
                walk(kind, v, p, ac, a);
        }
}

void k8c_known_fields_prune(const char *kind, json_t *obj, char ***ret_unknown)
{
        struct acc a = { 0 };
        if (lookup(kind, "") != NULL)
                walk(kind, obj, "", "", &a);
        *ret_unknown = a.v;
}

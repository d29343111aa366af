/*
 * registry.c - the table of every resource the apiserver serves and lookups over it.
 * Adding a resource = one module exporting its struct + one line here.
 */
#include <string.h>

#include "apiserver/registry.h"
#include "k8c/cleanup.h"

extern const struct k8c_resource k8c_resource_namespaces, k8c_resource_pods, k8c_resource_nodes,
        k8c_resource_services, k8c_resource_endpoints, k8c_resource_events, k8c_resource_configmaps,
        k8c_resource_secrets, k8c_resource_persistentvolumes, k8c_resource_persistentvolumeclaims,
        k8c_resource_replicasets, k8c_resource_deployments, k8c_resource_horizontalpodautoscalers,
        k8c_resource_horizontalpodautoscalers_v1, k8c_resource_leases, k8c_resource_endpointslices;

const struct k8c_resource *const k8c_resources[] = {
        &k8c_resource_namespaces,
        &k8c_resource_pods,
        &k8c_resource_nodes,
        &k8c_resource_services,
        &k8c_resource_endpoints,
        &k8c_resource_events,
        &k8c_resource_configmaps,
        &k8c_resource_secrets,
        &k8c_resource_persistentvolumes,
        &k8c_resource_persistentvolumeclaims,
        &k8c_resource_replicasets,
        &k8c_resource_deployments,
        &k8c_resource_horizontalpodautoscalers,
        &k8c_resource_horizontalpodautoscalers_v1,
        &k8c_resource_leases,
        &k8c_resource_endpointslices,
        NULL,
};

const struct k8c_resource *k8c_resource_find(const char *group, const char *version, const char *plural)
{
        if (group == NULL)
                group = "";
        for (size_t i = 0; k8c_resources[i] != NULL; i++) {
                const struct k8c_resource *r = k8c_resources[i];
                if (strcmp(r->group, group) == 0 && strcmp(r->version, version) == 0 &&
                    strcmp(r->plural, plural) == 0)
                        return r;
        }
        return NULL;
}

char *k8c_resource_qualified_kind(const struct k8c_resource *res)
{
        if (res->group[0] == '\0')
                return k8c_xstrdup(res->kind);
        return k8c_xasprintf("%s.%s", res->kind, res->group);
}

char *k8c_resource_api_version(const struct k8c_resource *res)
{
        if (res->group[0] == '\0')
                return k8c_xstrdup(res->version);
        return k8c_xasprintf("%s/%s", res->group, res->version);
}

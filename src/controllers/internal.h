/*
 * internal.h - helpers shared by the controller files only (not part of libk8c's
 * public headers): owner references, API paths, the controller table the
 * manager runs. Nothing here logs.
 */
#ifndef K8C_CONTROLLERS_INTERNAL_H
#define K8C_CONTROLLERS_INTERNAL_H

#include <jansson.h>

#include "k8c/controllers.h"

/* The ownerReference with controller: true, or NULL (borrowed). */
const json_t *k8c_ctrl_controller_ref(const json_t *obj);

/* "/api/v1/namespaces/ns/pods[/name]" or "/apis/apps/v1/...": api_version decides the prefix;
 * ns NULL or "" for cluster-scoped. Caller frees. */
char *k8c_ctrl_path(const char *api_version, const char *plural, const char *ns, const char *name);

#endif

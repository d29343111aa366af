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
/* Queues the key of obj (namespace/name). */
void k8c_ctrl_enqueue_obj(struct k8c_workqueue *q, const json_t *obj);
/* Queues every Service of services (an informer with the "namespace" index) in pod's namespace
 * whose selector matches pod's labels: what an Endpoints or EndpointSlice controller reconciles
 * when the pod changes. */
void k8c_ctrl_enqueue_services_of(struct k8c_informer *services, struct k8c_workqueue *q, const json_t *pod);
const json_t *k8c_ctrl_controller_ref(const json_t *obj);

/* "/api/v1/namespaces/ns/pods[/name]" or "/apis/apps/v1/...": api_version decides the prefix;
 * ns NULL or "" for cluster-scoped. Caller frees. */
char *k8c_ctrl_path(const char *api_version, const char *plural, const char *ns, const char *name);

/* Removes the ownerReferences with the given uids from obj (at path): a strategic-merge delete
 * by uid when others remain, else a merge patch dropping the field guarded by resourceVersion.
 * NotFound counts as done. */
int k8c_ctrl_remove_owner_refs(const struct k8c_object_control *ctl, const char *path, const json_t *obj,
                               const char *const *uids, size_t n, k8c_error_t *err);

#endif

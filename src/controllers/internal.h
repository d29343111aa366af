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
/* What the Endpoints and EndpointSlice controllers share: the Services informer and the work queue
 * of Service keys, fed by the same handlers. */
struct k8c_ctrl_service_watch {
        struct k8c_informer *svc;
        struct k8c_workqueue *queue;
};
/* Registers the handlers that queue a Service's key when it changes and, when a pod changes (or is
 * relabelled), the keys of every Service of its namespace whose selector matches it. */
void k8c_ctrl_watch_services_and_pods(struct k8c_ctrl_service_watch *w, struct k8c_informer *services,
                                      struct k8c_informer *pods, struct k8c_workqueue *queue);
/* Queues the key of obj (namespace/name). */
void k8c_ctrl_enqueue_obj(struct k8c_workqueue *q, const json_t *obj);
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

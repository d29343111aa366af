/*
 * registry.h - the table-driven description of every resource the apiserver
 * serves. One module per resource under src/apiserver/registry/ exports a
 * `const struct k8c_resource k8c_resource_<plural>` (plus aliases for other
 * versions, e.g. autoscaling/v1 HPA); the REST and storage code in
 * src/apiserver/ is written once and drives everything through these hooks.
 *
 * Hooks work on parsed JSON objects (jansson). They must not touch storage or
 * the network: everything they need is in their arguments.
 */
#ifndef K8C_APISERVER_REGISTRY_H
#define K8C_APISERVER_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "k8c/error.h"

/* Collected validation failures; becomes a 422 Status with details.causes. */
struct k8c_field_errors {
        json_t *causes; /* array of {"reason","message","field"} */
};

/* reason: "FieldValueRequired", "FieldValueInvalid", "FieldValueNotSupported",
 * "FieldValueDuplicate", "FieldValueForbidden", "FieldValueTooLong", "FieldValueTypeInvalid".
 * message as Kubernetes words it, e.g. "Required value", "Invalid value: \"x\": must be ...". */
void k8c_field_error(struct k8c_field_errors *errs, const char *reason, const char *field, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
/* Appends every cause of a labels/annotations validator's array (see labels.h). */
void k8c_field_errors_append(struct k8c_field_errors *errs, json_t *causes);
size_t k8c_field_errors_count(const struct k8c_field_errors *errs);
void k8c_field_errors_free(struct k8c_field_errors *errs);
/* Turns errs into a K8C_EINVALID error whose message is Kubernetes' text:
 *   Pod "x" is invalid: [spec.containers[0].image: Required value, metadata.labels: ...]
 * (no brackets when there is one cause). The causes stay in errs for the Status body. */
int k8c_field_errors_to_error(const struct k8c_field_errors *errs, const char *kind, const char *name,
                              k8c_error_t *err);

struct k8c_table_column {
        const char *name;   /* "Name", "Ready", ... */
        const char *type;   /* "string", "integer", "date", ... */
        const char *format; /* "name" for the Name column, else "" */
        int priority;       /* 0 = default, 1 = only with -o wide */
        const char *description;
};

/* Context a hook may need beyond the objects themselves. */
struct k8c_registry_ctx {
        time_t now;
        const char *service_cluster_ip_range; /* e.g. "10.96.0.0/12" */
        const char *service_node_port_range;  /* e.g. "30000-32767" */
};

struct k8c_resource {
        const char *group;              /* "" for core */
        const char *version;            /* "v1", "v2", ... */
        const char *kind;               /* "Pod" */
        const char *list_kind;          /* "PodList" */
        const char *plural;             /* "pods" */
        const char *singular;           /* "pod" */
        const char *const *short_names; /* NULL-terminated or NULL */
        const char *const *categories;  /* {"all", NULL} or NULL */
        bool namespaced;
        bool has_status; /* serves <plural>/status */
        bool has_scale;  /* serves <plural>/scale */
        /* Which resource's storage this one shares (e.g. autoscaling/v1 HPAs read and write the
         * autoscaling/v2 objects): NULL = its own. Storage key: /registry/<group>/<plural>/<ns>/<name>. */
        const struct k8c_resource *storage_of;

        /* Field labels allowed in field selectors besides metadata.name / metadata.namespace. */
        const char *const *field_selectors;

        /* Defaults as Kubernetes' SetDefaults_* functions apply them (in place). */
        void (*set_defaults)(json_t *obj);
        /* Create: clear/initialise server-owned fields (e.g. status for pods: phase Pending). */
        void (*prepare_create)(json_t *obj, const struct k8c_registry_ctx *ctx);
        /* Update of the main resource: keep old status (writes here ignore status), etc. */
        void (*prepare_update)(json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx);
        /* Validation of a whole object (after defaults). Adds field errors; no return value. */
        void (*validate)(const json_t *obj, const struct k8c_registry_ctx *ctx,
                         struct k8c_field_errors *errs);
        /* Extra checks on update (immutable fields). May be NULL. */
        void (*validate_update)(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                                struct k8c_field_errors *errs);

        /* Table (as=Table): columns, and the cells of one object's row appended to cells. */
        const struct k8c_table_column *columns; /* terminated by name == NULL */
        void (*table_row)(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells);

        /* Only for resources with storage_of set (e.g. autoscaling/v1 HPAs): convert in place from
         * this version's shape to the storage resource's (before create/update) and back (on every
         * read, list and watch event). NULL = the shapes are identical. apiVersion is set too.
         * All other hooks of such a resource see objects in its own shape: convert the stored old
         * object with from_storage before prepare_update/validate_update, then run set_defaults,
         * prepare_*, validate*, and finally to_storage on the result. */
        void (*to_storage)(json_t *obj);
        void (*from_storage)(json_t *obj);

        /* Graceful deletion (added by the apiserver branch): the grace period in seconds a DELETE
         * gives obj, from DeleteOptions.gracePeriodSeconds (requested, -1 when absent). 0 = remove
         * now; > 0 = only set metadata.deletionTimestamp (now + grace) and
         * deletionGracePeriodSeconds and let the owner (the kubelet for pods) remove it with a
         * grace-0 delete. NULL = always immediate. Pods per API.md: requested, else
         * spec.terminationGracePeriodSeconds (default 30); 0 when unscheduled or finished. */
        long (*delete_grace_seconds)(const json_t *obj, long requested);
};

/* All resources served, NULL-terminated (registry/registry.c). */
extern const struct k8c_resource *const k8c_resources[];

const struct k8c_resource *k8c_resource_find(const char *group, const char *version, const char *plural);
/* "Pod" for core, "Deployment.apps" otherwise: the kind as Kubernetes names it in messages such as
 * `Deployment.apps "web" is invalid: ...` (schema.GroupKind.String()). Caller frees. */
char *k8c_resource_qualified_kind(const struct k8c_resource *res);
/* "apps/v1" or "v1". Caller frees. */
char *k8c_resource_api_version(const struct k8c_resource *res);

/* Shared validation helpers for modules (registry/common.c): ObjectMeta (name per
 * name_is_label → DNS label else DNS subdomain, generateName, labels, annotations,
 * namespace presence per namespaced), and the Age cell. */
void k8c_validate_object_meta(const json_t *obj, bool namespaced, bool name_is_label,
                              struct k8c_field_errors *errs);
void k8c_table_age_cell(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells);

#endif

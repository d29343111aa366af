/*
 * common.h - helpers shared by the resource modules under src/apiserver/registry/:
 * JSON access without json.h paths, Kubernetes-worded field errors, the PodSpec /
 * pod template / label selector / resource requirement validators and defaults
 * shared by pods, replicasets and deployments, and table cell formatting.
 * Private to the registry modules; the REST code uses registry.h only.
 */
#ifndef K8C_APISERVER_REGISTRY_COMMON_H
#define K8C_APISERVER_REGISTRY_COMMON_H

#include <jansson.h>
#include <stdbool.h>

#include "apiserver/registry.h"
#include "k8c/labels.h"

/* ---- JSON access (borrowed references; NULL when absent or of another type) ---- */
json_t *k8c_reg_get(const json_t *obj, const char *key);
json_t *k8c_reg_obj(const json_t *obj, const char *key); /* only if an object */
json_t *k8c_reg_arr(const json_t *obj, const char *key); /* only if an array */
const char *k8c_reg_str(const json_t *obj, const char *key);
/* "" instead of NULL. */
const char *k8c_reg_str0(const json_t *obj, const char *key);
/* Dotted path through objects only ("metadata.name", "spec.template.spec"). */
json_t *k8c_reg_path(const json_t *obj, const char *dotted);
const char *k8c_reg_path_str(const json_t *obj, const char *dotted);
/* Integer at key, def when absent/not an integer. */
json_int_t k8c_reg_int(const json_t *obj, const char *key, json_int_t def);
bool k8c_reg_has(const json_t *obj, const char *key); /* present and not null */
/* Object at key, created (replacing null) when absent. NULL if another type is there. */
json_t *k8c_reg_ensure(json_t *obj, const char *key);
void k8c_reg_default_str(json_t *obj, const char *key, const char *value);
void k8c_reg_default_int(json_t *obj, const char *key, json_int_t value);
void k8c_reg_default_bool(json_t *obj, const char *key, bool value);
/* Keeps old's value of key in obj (removing it from obj when old has none). */
void k8c_reg_keep_old(json_t *obj, const json_t *old, const char *key);

/* ---- field errors with Kubernetes' wording (field.Required, field.Invalid, ...) ---- */
void k8c_field_required(struct k8c_field_errors *errs, const char *field, const char *detail);
void k8c_field_forbidden(struct k8c_field_errors *errs, const char *field, const char *detail);
/* Invalid value: "<value quoted as Go's %q>": detail */
void k8c_field_invalid_str(struct k8c_field_errors *errs, const char *field, const char *value,
                           const char *detail);
void k8c_field_invalid_int(struct k8c_field_errors *errs, const char *field, json_int_t value,
                           const char *detail);
/* Invalid value: <raw text as given>: detail (for Go %#v renderings of structs and maps). */
void k8c_field_invalid_raw(struct k8c_field_errors *errs, const char *field, const char *raw,
                           const char *detail);
/* Unsupported value: "v": supported values: "a", "b" (valid is NULL-terminated). */
void k8c_field_not_supported(struct k8c_field_errors *errs, const char *field, const char *value,
                             const char *const *valid);
void k8c_field_duplicate_str(struct k8c_field_errors *errs, const char *field, const char *value);
void k8c_field_duplicate_int(struct k8c_field_errors *errs, const char *field, json_int_t value);
/* Go's %q of a string: k8c_go_quote() from labels.h. */
/* Go's %#v of a map[string]string held in a JSON object: map[string]string{"a":"b", "c":"d"}. */
char *k8c_go_string_map(const json_t *obj);

/* ---- shared validators (path is the field path of the value, e.g. "spec.template") ---- */
enum k8c_name_rule {
        K8C_NAME_SUBDOMAIN, /* most objects */
        K8C_NAME_LABEL,     /* namespaces */
        K8C_NAME_DNS1035,   /* services */
};
void k8c_validate_object_meta_rule(const json_t *obj, bool namespaced, enum k8c_name_rule rule,
                                   struct k8c_field_errors *errs);
/* Metadata rules on update (ValidateObjectMetaUpdate): name/namespace/uid/creationTimestamp immutable. */
void k8c_validate_object_meta_update(const json_t *obj, const json_t *old, struct k8c_field_errors *errs);
/* Labels object at path (e.g. "metadata.labels", "spec.selector"). */
void k8c_validate_labels_at(const json_t *labels, const char *path, struct k8c_field_errors *errs);
void k8c_validate_nonnegative(const json_t *parent, const char *key, const char *path,
                              struct k8c_field_errors *errs);
void k8c_validate_pod_spec(const json_t *spec, const char *path, struct k8c_field_errors *errs);
/* metav1.LabelSelector structure (matchLabels + matchExpressions operators/values). */
void k8c_validate_label_selector(const json_t *sel, const char *path, struct k8c_field_errors *errs);
/* ReplicaSet/Deployment spec.selector and spec.template: selector required and non-empty, template
 * labels matched, template validated, restartPolicy Always, no activeDeadlineSeconds. kind_word
 * names the kind in "empty selector is invalid for <kind_word>" (Kubernetes says "deployment" for both). */
void k8c_validate_workload_spec(const json_t *spec, const char *kind_word, struct k8c_field_errors *errs);
/* apps/v1: spec.selector cannot change after creation ("field is immutable"). */
void k8c_validate_selector_immutable(const json_t *obj, const json_t *old, struct k8c_field_errors *errs);
/* Go's %#v of *metav1.LabelSelector as field.Invalid prints it (for "field is immutable"). */
char *k8c_go_label_selector(const json_t *sel);
/* IPv4 or IPv6 literal. */
bool k8c_is_ip(const char *s);

/* ConfigMap/Secret data: each key of map (field name[key]) checked as IsConfigMapKey, keys also
 * present in other reported as duplicates; returns the bytes of keys and values. */
#define K8C_MAX_DATA_BYTES (1024 * 1024)
size_t k8c_validate_data_map(const json_t *map, const char *name, const json_t *other, const char *other_name,
                             struct k8c_field_errors *errs);
/* When old has immutable: true, keys (NULL-terminated) may not change and immutable may not be unset. */
void k8c_validate_immutable_data(const json_t *obj, const json_t *old, const char *const *keys,
                                 struct k8c_field_errors *errs);

/* PersistentVolume/Claim: accessModes required and each supported; volumeMode supported. */
void k8c_validate_access_modes(const json_t *spec, const char *path, struct k8c_field_errors *errs);
void k8c_validate_volume_mode(const json_t *spec, const char *path, struct k8c_field_errors *errs);
/* helper.GetAccessModesAsString: "RWO,ROX,RWX,RWOP" subset in that order. Caller frees. */
char *k8c_access_modes_string(const json_t *modes);
/* spec.storageClassName, else the beta storage-class annotation, else "". */
const char *k8c_storage_class(const json_t *obj);

/* ---- shared defaults ---- */
/* Rewrites every parsable quantity of a ResourceList in canonical form ("0.5" → "500m", 1 → "1"),
 * as Kubernetes' decode/encode round trip does; unparsable ones are left for validation. */
void k8c_canonicalize_quantities(json_t *list);
void k8c_pod_spec_set_defaults(json_t *spec);
/* Template of a workload: spec defaults and template labels → selector/labels defaults are per kind. */
void k8c_pod_template_set_defaults(json_t *tmpl);
/* "Guaranteed", "Burstable" or "BestEffort" (qos.GetPodQOS). */
const char *k8c_pod_qos_class(const json_t *spec);

/* ---- table cells ---- */
/* Appends HumanDuration(now - RFC3339 ts) or "<unknown>" when ts is NULL/unparsable. */
void k8c_table_age_of(const char *ts, const struct k8c_registry_ctx *ctx, json_t *cells);
char *k8c_age_string(const char *ts, const struct k8c_registry_ctx *ctx);
/* labels.FormatLabels: sorted "k=v,k2=v2", "<none>" when empty. Caller frees. */
char *k8c_format_labels(const json_t *labels);
/* metav1.FormatLabelSelector: "<none>" for empty/nil, "<error>" when invalid. Caller frees. */
char *k8c_format_label_selector(const json_t *sel);
/* Appends the Containers and Images cells of a container array. */
void k8c_container_cells(const json_t *containers, json_t *cells);
/* Canonical quantity string of a JSON quantity (string or number); raw text when unparsable. */
char *k8c_quantity_string(const json_t *q);

/* Column descriptions reused by many tables. */
extern const char k8c_desc_name[];
extern const char k8c_desc_age[];
#define K8C_COL_NAME                                                                                         \
        {                                                                                                    \
                "Name", "string", "name", 0, k8c_desc_name                                                   \
        }
#define K8C_COL_AGE                                                                                          \
        {                                                                                                    \
                "Age", "string", "", 0, k8c_desc_age                                                         \
        }
#define K8C_COL_END                                                                                          \
        {                                                                                                    \
                NULL, NULL, NULL, 0, NULL                                                                    \
        }

#endif

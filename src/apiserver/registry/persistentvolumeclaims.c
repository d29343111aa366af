/*
 * persistentvolumeclaims.c - core/v1 PersistentVolumeClaim: volumeMode default, phase Pending
 * on create, status kept on main-resource updates, ValidatePersistentVolumeClaim (access modes,
 * storage request), the spec immutability rule, and printPersistentVolumeClaim's row.
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"

static const char *const pvc_short_names[] = { "pvc", NULL };

static void keep_status(json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx)
{
        k8c_reg_keep_old(obj, old, "status");
}

static void pvc_set_defaults(json_t *obj)
{
        json_t *spec = k8c_reg_ensure(obj, "spec");
        k8c_reg_default_str(spec, "volumeMode", "Filesystem");
        json_t *res = k8c_reg_obj(spec, "resources");
        k8c_canonicalize_quantities(k8c_reg_obj(res, "requests"));
        k8c_canonicalize_quantities(k8c_reg_obj(res, "limits"));
}

static void pvc_prepare_create(json_t *obj, const struct k8c_registry_ctx *ctx)
{
        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Pending"));
}

static void pvc_validate(const json_t *obj, const struct k8c_registry_ctx *ctx, struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        json_t *spec = k8c_reg_obj(obj, "spec");
        k8c_validate_access_modes(spec, "spec.accessModes", errs);
        json_t *storage = k8c_reg_get(k8c_reg_path(spec, "resources.requests"), "storage");
        if (storage == NULL) {
                k8c_field_required(errs, "spec.resources[storage]", "");
        } else {
                cleanup_free char *q = k8c_quantity_string(storage);
                if (q[0] == '\0' || q[0] == '-' || strcmp(q, "0") == 0)
                        k8c_field_invalid_str(errs, "spec.resources[storage]", q,
                                              "must be greater than zero");
        }
        k8c_validate_volume_mode(spec, "spec.volumeMode", errs);
        k8c_validate_label_selector(k8c_reg_obj(spec, "selector"), "spec.selector", errs);
}

static void pvc_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                                struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_update(obj, old, errs);
        json_t *spec = k8c_reg_obj(obj, "spec");
        json_t *ospec = k8c_reg_obj(old, "spec");
        json_auto_t *a = json_deep_copy(spec != NULL ? spec : json_null());
        json_auto_t *b = json_deep_copy(ospec != NULL ? ospec : json_null());
        /* Mutable: resources.requests (expansion), volumeAttributesClassName, and volumeName from "". */
        if (json_is_object(a) && json_is_object(b)) {
                json_t *ra = k8c_reg_obj(a, "resources"), *rb = k8c_reg_obj(b, "resources");
                if (ra != NULL)
                        json_object_del(ra, "requests");
                if (rb != NULL)
                        json_object_del(rb, "requests");
                json_object_del(a, "volumeAttributesClassName");
                json_object_del(b, "volumeAttributesClassName");
                if (k8c_reg_str0(b, "volumeName")[0] == '\0') {
                        json_object_del(a, "volumeName");
                        json_object_del(b, "volumeName");
                }
        }
        if (!json_equal(a, b))
                k8c_field_forbidden(errs, "spec",
                                    "spec is immutable after creation except resources.requests and "
                                    "volumeAttributesClassName for bound claims");
}

static const struct k8c_table_column pvc_columns[] = {
        K8C_COL_NAME,
        { "Status", "string", "", 0, "phase represents the current phase of PersistentVolumeClaim." },
        { "Volume", "string", "", 0,
          "volumeName is the binding reference to the PersistentVolume backing this claim." },
        { "Capacity", "string", "", 0, "capacity represents the actual resources of the underlying volume." },
        { "Access Modes", "string", "", 0,
          "accessModes contains the actual access modes the volume backing the PVC has. More info: "
          "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1" },
        { "StorageClass", "string", "", 0, "StorageClass of the pvc" },
        { "VolumeAttributesClass", "string", "", 0, "VolumeAttributesClass of the pvc" },
        K8C_COL_AGE,
        { "VolumeMode", "string", "", 1,
          "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied "
          "when "
          "not included in claim spec." },
        K8C_COL_END,
};

static void pvc_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        json_t *spec = k8c_reg_obj(obj, "spec");
        json_t *status = k8c_reg_obj(obj, "status");
        const char *phase = k8c_reg_str0(status, "phase");
        if (k8c_reg_path(obj, "metadata.deletionTimestamp") != NULL)
                phase = "Terminating";
        const char *volume = k8c_reg_str0(spec, "volumeName");
        cleanup_free char *capacity = k8c_xstrdup("");
        cleanup_free char *modes = k8c_xstrdup("");
        if (volume[0] != '\0') {
                free(modes);
                modes = k8c_access_modes_string(k8c_reg_arr(status, "accessModes"));
                json_t *storage = k8c_reg_get(k8c_reg_obj(status, "capacity"), "storage");
                free(capacity);
                capacity = storage != NULL ? k8c_quantity_string(storage) : k8c_xstrdup("0");
        }
        const char *vac = k8c_reg_str(spec, "volumeAttributesClassName");
        const char *vm = k8c_reg_str(spec, "volumeMode");
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "metadata.name") ?: ""));
        json_array_append_new(cells, json_string(phase));
        json_array_append_new(cells, json_string(volume));
        json_array_append_new(cells, json_string(capacity));
        json_array_append_new(cells, json_string(modes));
        json_array_append_new(cells, json_string(k8c_storage_class(obj)));
        json_array_append_new(cells, json_string(vac != NULL ? vac : "<unset>"));
        k8c_table_age_cell(obj, ctx, cells);
        json_array_append_new(cells, json_string(vm != NULL ? vm : "<unset>"));
}

const struct k8c_resource k8c_resource_persistentvolumeclaims = {
        .group = "",
        .version = "v1",
        .kind = "PersistentVolumeClaim",
        .list_kind = "PersistentVolumeClaimList",
        .plural = "persistentvolumeclaims",
        .singular = "persistentvolumeclaim",
        .short_names = pvc_short_names,
        .namespaced = true,
        .has_status = true,
        .set_defaults = pvc_set_defaults,
        .prepare_create = pvc_prepare_create,
        .prepare_update = keep_status,
        .validate = pvc_validate,
        .validate_update = pvc_validate_update,
        .columns = pvc_columns,
        .table_row = pvc_table_row,
};

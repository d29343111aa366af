/*
 * persistentvolumes.c - core/v1 PersistentVolume: defaults (volumeMode Filesystem, reclaim
 * policy Retain), phase Pending on create, status kept on main-resource updates,
 * ValidatePersistentVolume (capacity, access modes, exactly one volume source), and
 * printPersistentVolume's row. Binding volumes to claims is a controller's job.
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"
#include "k8c/names.h"

static const char *const pv_short_names[] = { "pv", NULL };
static const char *const reclaim_policies[] = { "Delete", "Recycle", "Retain", NULL };
static const char *const pv_sources[] = {
        "hostPath",
        "local",
        "nfs",
        "iscsi",
        "csi",
        "fc",
        "rbd",
        "cephfs",
        "cinder",
        "flexVolume",
        "azureFile",
        "azureDisk",
        "vsphereVolume",
        "quobyte",
        "portworxVolume",
        "scaleIO",
        "storageos",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "glusterfs",
        "photonPersistentDisk",
        "flocker",
        NULL,
};

static void pv_set_defaults(json_t *obj)
{
        json_t *spec = k8c_reg_ensure(obj, "spec");
        k8c_reg_default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
        k8c_reg_default_str(spec, "volumeMode", "Filesystem");
        k8c_canonicalize_quantities(k8c_reg_obj(spec, "capacity"));
        json_t *hp = k8c_reg_obj(spec, "hostPath");
        if (hp != NULL)
                k8c_reg_default_str(hp, "type", "");
}

static void pv_prepare_create(json_t *obj, const struct k8c_registry_ctx *ctx)
{
        char ts[32];
        k8c_rfc3339(ctx->now, ts, sizeof(ts));
        json_object_set_new(obj, "status",
                            json_pack("{s:s, s:s}", "phase", "Pending", "lastPhaseTransitionTime", ts));
}

static void keep_status(json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx)
{
        k8c_reg_keep_old(obj, old, "status");
}

static void pv_validate(const json_t *obj, const struct k8c_registry_ctx *ctx, struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, false, K8C_NAME_SUBDOMAIN, errs);
        json_t *spec = k8c_reg_obj(obj, "spec");
        k8c_validate_access_modes(spec, "spec.accessModes", errs);
        json_t *cap = k8c_reg_obj(spec, "capacity");
        if (json_object_size(cap) == 0) {
                k8c_field_required(errs, "spec.capacity", "");
        } else {
                if (json_object_get(cap, "storage") == NULL || json_object_size(cap) > 1) {
                        /* Kubernetes prints the Go map here; the JSON form carries the same keys. */
                        cleanup_free char *raw = json_dumps(cap, JSON_COMPACT | JSON_SORT_KEYS);
                        k8c_field_error(errs, "FieldValueNotSupported", "spec.capacity",
                                        "Unsupported value: %s: supported values: \"storage\"", raw);
                } else {
                        cleanup_free char *q = k8c_quantity_string(json_object_get(cap, "storage"));
                        if (q[0] == '\0' || q[0] == '-')
                                k8c_field_invalid_str(errs, "spec.capacity[storage]", q,
                                                      "must be greater than zero");
                }
        }
        const char *rp = k8c_reg_str0(spec, "persistentVolumeReclaimPolicy");
        if (rp[0] != '\0' &&
            !(strcmp(rp, "Delete") == 0 || strcmp(rp, "Recycle") == 0 || strcmp(rp, "Retain") == 0))
                k8c_field_not_supported(errs, "spec.persistentVolumeReclaimPolicy", rp, reclaim_policies);
        k8c_validate_volume_mode(spec, "spec.volumeMode", errs);
        size_t sources = 0;
        for (size_t i = 0; pv_sources[i] != NULL; i++)
                if (k8c_reg_has(spec, pv_sources[i]))
                        sources++;
        if (sources == 0)
                k8c_field_required(errs, "spec", "must specify a volume type");
        else if (sources > 1)
                k8c_field_forbidden(errs, "spec", "may not specify more than 1 volume type");
        json_t *hp = k8c_reg_obj(spec, "hostPath");
        if (hp != NULL && k8c_reg_str0(hp, "path")[0] == '\0')
                k8c_field_required(errs, "spec.hostPath.path", "");
}

static void pv_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                               struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_update(obj, old, errs);
        const char *vm = k8c_reg_path_str(obj, "spec.volumeMode");
        const char *ovm = k8c_reg_path_str(old, "spec.volumeMode");
        if (vm != NULL && ovm != NULL && strcmp(vm, ovm) != 0)
                k8c_field_invalid_str(errs, "spec.volumeMode", vm, "field is immutable");
}

static const struct k8c_table_column pv_columns[] = {
        K8C_COL_NAME,
        { "Capacity", "string", "", 0,
          "capacity is the description of the persistent volume's resources and capacity. More info: "
          "https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity" },
        { "Access Modes", "string", "", 0,
          "accessModes contains all ways the volume can be mounted. More info: "
          "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes" },
        { "Reclaim Policy", "string", "", 0,
          "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its "
          "claim. Valid options are Retain (default for manually created PersistentVolumes), Delete (default "
          "for "
          "dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported "
          "by "
          "the volume plugin underlying this PersistentVolume. More info: "
          "https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming" },
        { "Status", "string", "", 0,
          "phase indicates if a volume is available, bound to a claim, or released by a claim. More info: "
          "https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase" },
        { "Claim", "string", "", 0,
          "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. "
          "Expected to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. "
          "More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding" },
        { "StorageClass", "string", "", 0, "StorageClass of the pv" },
        { "VolumeAttributesClass", "string", "", 0, "VolumeAttributesClass of the pv" },
        { "Reason", "string", "", 0,
          "reason is a brief CamelCase string that describes any failure and is meant for machine parsing "
          "and "
          "tidy display in the CLI." },
        K8C_COL_AGE,
        { "VolumeMode", "string", "", 1,
          "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in "
          "raw block state. Value of Filesystem is implied when not included in spec." },
        K8C_COL_END,
};

static void pv_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        json_t *spec = k8c_reg_obj(obj, "spec");
        json_t *claim = k8c_reg_obj(spec, "claimRef");
        cleanup_free char *claim_str = claim != NULL
                                               ? k8c_xasprintf("%s/%s", k8c_reg_str0(claim, "namespace"),
                                                               k8c_reg_str0(claim, "name"))
                                               : k8c_xstrdup("");
        cleanup_free char *modes = k8c_access_modes_string(k8c_reg_arr(spec, "accessModes"));
        json_t *storage = json_object_get(k8c_reg_obj(spec, "capacity") ?: json_null(), "storage");
        cleanup_free char *size = storage != NULL ? k8c_quantity_string(storage) : k8c_xstrdup("0");
        const char *phase = k8c_reg_path_str(obj, "status.phase") ?: "";
        if (k8c_reg_path(obj, "metadata.deletionTimestamp") != NULL)
                phase = "Terminating";
        const char *vac = k8c_reg_str(spec, "volumeAttributesClassName");
        const char *vm = k8c_reg_str(spec, "volumeMode");
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "metadata.name") ?: ""));
        json_array_append_new(cells, json_string(size));
        json_array_append_new(cells, json_string(modes));
        json_array_append_new(cells, json_string(k8c_reg_str0(spec, "persistentVolumeReclaimPolicy")));
        json_array_append_new(cells, json_string(phase));
        json_array_append_new(cells, json_string(claim_str));
        json_array_append_new(cells, json_string(k8c_storage_class(obj)));
        json_array_append_new(cells, json_string(vac != NULL ? vac : "<unset>"));
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "status.reason") ?: ""));
        k8c_table_age_cell(obj, ctx, cells);
        json_array_append_new(cells, json_string(vm != NULL ? vm : "<unset>"));
}

const struct k8c_resource k8c_resource_persistentvolumes = {
        .group = "",
        .version = "v1",
        .kind = "PersistentVolume",
        .list_kind = "PersistentVolumeList",
        .plural = "persistentvolumes",
        .singular = "persistentvolume",
        .short_names = pv_short_names,
        .namespaced = false,
        .has_status = true,
        .set_defaults = pv_set_defaults,
        .prepare_create = pv_prepare_create,
        .prepare_update = keep_status,
        .validate = pv_validate,
        .validate_update = pv_validate_update,
        .columns = pv_columns,
        .table_row = pv_table_row,
};

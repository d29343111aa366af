/*
 * persistentvolumes.c - core/v1 PersistentVolume and PersistentVolumeClaim: defaults
 * (volumeMode Filesystem, reclaim policy Retain), phase Pending on create, status kept
 * on main-resource updates, ValidatePersistentVolume/Claim (capacity, access modes, one
 * volume source, storage request), claim spec immutability, and the kubectl rows.
 * Binding claims to volumes is a controller's job.
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"
#include "k8c/names.h"

static const char *const pv_short_names[] = { "pv", NULL };
static const char *const pvc_short_names[] = { "pvc", NULL };
static const char *const access_modes[] = { "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce",
                                            "ReadWriteOncePod", NULL };
static const char *const reclaim_policies[] = { "Delete", "Recycle", "Retain", NULL };
static const char *const volume_modes[] = { "Block", "Filesystem", NULL };

static bool in_list(const char *s, const char *const *list)
{
        for (size_t i = 0; list[i] != NULL; i++)
                if (strcmp(s, list[i]) == 0)
                        return true;
        return false;
}

static void validate_access_modes(const json_t *spec, const char *path, struct k8c_field_errors *errs)
{
        json_t *modes = k8c_reg_arr(spec, "accessModes");
        if (json_array_size(modes) == 0) {
                k8c_field_required(errs, path, "");
                return;
        }
        size_t i;
        json_t *m;
        json_array_foreach(modes, i, m)
        {
                const char *s = json_string_value(m) ? json_string_value(m) : "";
                if (!in_list(s, access_modes))
                        k8c_field_not_supported(errs, path, s, access_modes);
        }
}

static void validate_volume_mode(const json_t *spec, const char *path, struct k8c_field_errors *errs)
{
        const char *vm = k8c_reg_str(spec, "volumeMode");
        if (vm != NULL && !in_list(vm, volume_modes))
                k8c_field_not_supported(errs, path, vm, volume_modes);
}

/* helper.GetAccessModesAsString: RWO,ROX,RWX,RWOP in this fixed order, each once. */
static char *access_modes_string(const json_t *modes)
{
        static const struct {
                const char *mode, *abbr;
        } order[] = { { "ReadWriteOnce", "RWO" },
                      { "ReadOnlyMany", "ROX" },
                      { "ReadWriteMany", "RWX" },
                      { "ReadWriteOncePod", "RWOP" } };
        char *out = k8c_xstrdup("");
        for (size_t k = 0; k < K8C_ARRAY_SIZE(order); k++) {
                size_t i;
                json_t *m;
                json_array_foreach(modes, i, m)
                {
                        if (json_is_string(m) && strcmp(json_string_value(m), order[k].mode) == 0) {
                                char *next = k8c_xasprintf("%s%s%s", out, out[0] != '\0' ? "," : "",
                                                           order[k].abbr);
                                free(out);
                                out = next;
                                break;
                        }
                }
        }
        return out;
}

/* storageClassName, or the beta annotation when the field is absent. */
static const char *storage_class(const json_t *obj)
{
        const char *sc = k8c_reg_path_str(obj, "spec.storageClassName");
        if (sc != NULL)
                return sc;
        json_t *ann = k8c_reg_path(obj, "metadata.annotations");
        return k8c_reg_str0(ann, "volume.beta.kubernetes.io/storage-class");
}

/* ---- PersistentVolume ---- */

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
        validate_access_modes(spec, "spec.accessModes", errs);
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
        if (rp[0] != '\0' && !in_list(rp, reclaim_policies))
                k8c_field_not_supported(errs, "spec.persistentVolumeReclaimPolicy", rp, reclaim_policies);
        validate_volume_mode(spec, "spec.volumeMode", errs);
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
        cleanup_free char *modes = access_modes_string(k8c_reg_arr(spec, "accessModes"));
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
        json_array_append_new(cells, json_string(storage_class(obj)));
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

/* ---- PersistentVolumeClaim ---- */

static void pvc_set_defaults(json_t *obj)
{
        json_t *spec = k8c_reg_ensure(obj, "spec");
        k8c_reg_default_str(spec, "volumeMode", "Filesystem");
}

static void pvc_prepare_create(json_t *obj, const struct k8c_registry_ctx *ctx)
{
        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Pending"));
}

static void pvc_validate(const json_t *obj, const struct k8c_registry_ctx *ctx, struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        json_t *spec = k8c_reg_obj(obj, "spec");
        validate_access_modes(spec, "spec.accessModes", errs);
        json_t *storage = k8c_reg_get(k8c_reg_path(spec, "resources.requests"), "storage");
        if (storage == NULL) {
                k8c_field_required(errs, "spec.resources[storage]", "");
        } else {
                cleanup_free char *q = k8c_quantity_string(storage);
                if (q[0] == '\0' || q[0] == '-' || strcmp(q, "0") == 0)
                        k8c_field_invalid_str(errs, "spec.resources[storage]", q,
                                              "must be greater than zero");
        }
        validate_volume_mode(spec, "spec.volumeMode", errs);
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
                modes = access_modes_string(k8c_reg_arr(status, "accessModes"));
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
        json_array_append_new(cells, json_string(storage_class(obj)));
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

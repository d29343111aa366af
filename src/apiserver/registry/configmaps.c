/*
 * configmaps.c - core/v1 ConfigMap and Secret: key validation (IsConfigMapKey), size
 * limit, `immutable` rules, Secret type defaults and per-type required keys, and the
 * printConfigMap / printSecret rows. Secret values arrive base64-encoded in JSON; decoding
 * is the serializer's business, not the registry's.
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"

#define MAX_DATA_BYTES (1024 * 1024)

static const char *const cm_short_names[] = { "cm", NULL };
static const char *const secret_field_selectors[] = { "type", NULL };

/* validation.IsConfigMapKey messages. */
static void validate_key(const char *key, const char *field, struct k8c_field_errors *errs)
{
        size_t len = strlen(key);
        if (len > 253)
                k8c_field_invalid_str(errs, field, key, "must be no more than 253 characters");
        bool ok = len > 0;
        for (size_t i = 0; i < len && ok; i++) {
                char c = key[i];
                ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                     c == '.' || c == '_';
        }
        if (!ok)
                k8c_field_invalid_str(
                        errs, field, key,
                        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                        "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation "
                        "is '[-._a-zA-Z0-9]+')");
        if (strcmp(key, ".") == 0)
                k8c_field_invalid_str(errs, field, key, "must not be '.'");
        else if (strcmp(key, "..") == 0)
                k8c_field_invalid_str(errs, field, key, "must not be '..'");
        else if (strncmp(key, "..", 2) == 0)
                k8c_field_invalid_str(errs, field, key, "must not start with '..'");
}

static size_t validate_map(const json_t *map, const char *name, const json_t *other, const char *other_name,
                           struct k8c_field_errors *errs)
{
        size_t total = 0;
        const char *key;
        json_t *v;
        if (!json_is_object(map))
                return 0;
        json_object_foreach((json_t *)map, key, v)
        {
                cleanup_free char *f = k8c_xasprintf("%s[%s]", name, key);
                validate_key(key, f, errs);
                if (other != NULL && json_object_get(other, key) != NULL) {
                        cleanup_free char *detail =
                                k8c_xasprintf("duplicate of key present in %s", other_name);
                        k8c_field_invalid_str(errs, f, key, detail);
                }
                total += strlen(key) + (json_is_string(v) ? json_string_length(v) : 0);
        }
        return total;
}

static void validate_immutable_update(const json_t *obj, const json_t *old, const char *const *keys,
                                      struct k8c_field_errors *errs)
{
        if (!json_is_true(k8c_reg_get(old, "immutable")))
                return;
        if (!json_is_true(k8c_reg_get(obj, "immutable")))
                k8c_field_forbidden(errs, "immutable", "field is immutable when `immutable` is set");
        for (size_t i = 0; keys[i] != NULL; i++) {
                json_t *a = k8c_reg_get(obj, keys[i]), *b = k8c_reg_get(old, keys[i]);
                bool same = (a == NULL || json_object_size(a) == 0) ? (b == NULL || json_object_size(b) == 0)
                                                                    : (b != NULL && json_equal(a, b));
                if (!same)
                        k8c_field_forbidden(errs, keys[i], "field is immutable when `immutable` is set");
        }
}

/* ---- ConfigMap ---- */

static void cm_validate(const json_t *obj, const struct k8c_registry_ctx *ctx, struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        json_t *data = k8c_reg_get(obj, "data");
        json_t *bin = k8c_reg_get(obj, "binaryData");
        size_t total = validate_map(data, "data", NULL, NULL, errs);
        total += validate_map(bin, "binaryData", data, "data", errs);
        if (total > MAX_DATA_BYTES)
                k8c_field_error(errs, "FieldValueTooLong", "", "Too long: must have at most %d bytes",
                                MAX_DATA_BYTES);
}

static void cm_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                               struct k8c_field_errors *errs)
{
        static const char *const keys[] = { "data", "binaryData", NULL };
        k8c_validate_object_meta_update(obj, old, errs);
        validate_immutable_update(obj, old, keys, errs);
}

static const struct k8c_table_column cm_columns[] = {
        K8C_COL_NAME,
        { "Data", "string", "", 0,
          "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' "
          "or "
          "'.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data "
          "must not overlap with the keys in the BinaryData field, this is enforced during validation "
          "process." },
        K8C_COL_AGE,
        K8C_COL_END,
};

static void cm_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        size_t n =
                json_object_size(k8c_reg_obj(obj, "data")) + json_object_size(k8c_reg_obj(obj, "binaryData"));
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "metadata.name") ?: ""));
        json_array_append_new(cells, json_integer((json_int_t)n));
        k8c_table_age_cell(obj, ctx, cells);
}

const struct k8c_resource k8c_resource_configmaps = {
        .group = "",
        .version = "v1",
        .kind = "ConfigMap",
        .list_kind = "ConfigMapList",
        .plural = "configmaps",
        .singular = "configmap",
        .short_names = cm_short_names,
        .namespaced = true,
        .validate = cm_validate,
        .validate_update = cm_validate_update,
        .columns = cm_columns,
        .table_row = cm_table_row,
};

/* ---- Secret ---- */

static void secret_set_defaults(json_t *obj)
{
        if (k8c_reg_str0(obj, "type")[0] == '\0')
                json_object_set_new(obj, "type", json_string("Opaque"));
}

static void require_key(const json_t *data, const char *key, struct k8c_field_errors *errs)
{
        if (json_object_get(data, key) == NULL) {
                cleanup_free char *f = k8c_xasprintf("data[%s]", key);
                k8c_field_required(errs, f, "");
        }
}

static void secret_validate(const json_t *obj, const struct k8c_registry_ctx *ctx,
                            struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        json_auto_t *empty = json_object();
        json_t *data = k8c_reg_obj(obj, "data");
        if (data == NULL)
                data = empty;
        /* stringData is merged into data by the REST code before validation; validate its keys too. */
        size_t total = validate_map(data, "data", NULL, NULL, errs);
        total += validate_map(k8c_reg_obj(obj, "stringData"), "stringData", NULL, NULL, errs);
        if (total > MAX_DATA_BYTES)
                k8c_field_error(errs, "FieldValueTooLong", "data", "Too long: must have at most %d bytes",
                                MAX_DATA_BYTES);
        const char *type = k8c_reg_str0(obj, "type");
        if (strcmp(type, "kubernetes.io/tls") == 0) {
                require_key(data, "tls.crt", errs);
                require_key(data, "tls.key", errs);
        } else if (strcmp(type, "kubernetes.io/dockerconfigjson") == 0) {
                require_key(data, ".dockerconfigjson", errs);
        } else if (strcmp(type, "kubernetes.io/dockercfg") == 0) {
                require_key(data, ".dockercfg", errs);
        } else if (strcmp(type, "kubernetes.io/ssh-auth") == 0) {
                require_key(data, "ssh-privatekey", errs);
        } else if (strcmp(type, "kubernetes.io/service-account-token") == 0) {
                json_t *ann = k8c_reg_path(obj, "metadata.annotations");
                if (k8c_reg_str0(ann, "kubernetes.io/service-account.name")[0] == '\0')
                        k8c_field_required(errs, "metadata.annotations[kubernetes.io/service-account.name]",
                                           "");
        }
}

static void secret_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                                   struct k8c_field_errors *errs)
{
        static const char *const keys[] = { "data", NULL };
        k8c_validate_object_meta_update(obj, old, errs);
        const char *type = k8c_reg_str0(obj, "type");
        if (strcmp(type, k8c_reg_str0(old, "type")) != 0)
                k8c_field_invalid_str(errs, "type", type, "field is immutable");
        validate_immutable_update(obj, old, keys, errs);
}

static const struct k8c_table_column secret_columns[] = {
        K8C_COL_NAME,
        { "Type", "string", "", 0,
          "Used to facilitate programmatic handling of secret data. More info: "
          "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types" },
        { "Data", "string", "", 0,
          "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. "
          "The "
          "serialized form of the secret data is a base64 encoded string, representing the arbitrary "
          "(possibly "
          "non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4" },
        K8C_COL_AGE,
        K8C_COL_END,
};

static void secret_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "metadata.name") ?: ""));
        json_array_append_new(cells, json_string(k8c_reg_str0(obj, "type")));
        json_array_append_new(cells, json_integer((json_int_t)json_object_size(k8c_reg_obj(obj, "data"))));
        k8c_table_age_cell(obj, ctx, cells);
}

const struct k8c_resource k8c_resource_secrets = {
        .group = "",
        .version = "v1",
        .kind = "Secret",
        .list_kind = "SecretList",
        .plural = "secrets",
        .singular = "secret",
        .namespaced = true,
        .field_selectors = secret_field_selectors,
        .set_defaults = secret_set_defaults,
        .validate = secret_validate,
        .validate_update = secret_validate_update,
        .columns = secret_columns,
        .table_row = secret_table_row,
};

/*
 * secrets.c - core/v1 Secret: type Opaque by default and immutable afterwards, key and size
 * validation shared with ConfigMaps, per-type required keys (tls, dockerconfigjson, ssh-auth,
 * service-account-token), `immutable` rules, and printSecret's row. Values arrive base64-encoded
 * in JSON; decoding them is the serializer's business, not the registry's.
 */
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"

static const char *const secret_field_selectors[] = { "type", NULL };

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
        size_t total = k8c_validate_data_map(data, "data", NULL, NULL, errs);
        total += k8c_validate_data_map(k8c_reg_obj(obj, "stringData"), "stringData", NULL, NULL, errs);
        if (total > K8C_MAX_DATA_BYTES)
                k8c_field_error(errs, "FieldValueTooLong", "data", "Too long: must have at most %d bytes",
                                K8C_MAX_DATA_BYTES);
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
        k8c_validate_immutable_data(obj, old, keys, errs);
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

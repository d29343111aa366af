/*
 * common.c - the field-error collection and its Kubernetes message text, ObjectMeta
 * validation, and the validators, defaults and table helpers shared by several
 * resource modules (PodSpec for pods/replicasets/deployments, label selectors,
 * resource requirements). Works on parsed JSON only: no storage, no I/O, no logging.
 */
#include "apiserver/registry/common.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/labels.h"
#include "k8c/names.h"
#include "k8c/quantity.h"

const char k8c_desc_name[] =
        "Name must be unique within a namespace. Is required when creating resources, although some "
        "resources may allow a client to request the generation of an appropriate name automatically. Name "
        "is primarily intended for creation idempotence and configuration definition. Cannot be updated. "
        "More "
        "info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const char k8c_desc_age[] =
        "CreationTimestamp is a timestamp representing the server time when this object was created. It is "
        "not guaranteed to be set in happens-before order across separate operations. Clients may not set "
        "this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. "
        "Null for lists. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/* ---- JSON access --------------------------------------------------------------------------------- */

json_t *k8c_reg_get(const json_t *obj, const char *key)
{
        if (!json_is_object(obj))
                return NULL;
        json_t *v = json_object_get(obj, key);
        return json_is_null(v) ? NULL : v;
}

json_t *k8c_reg_obj(const json_t *obj, const char *key)
{
        json_t *v = k8c_reg_get(obj, key);
        return json_is_object(v) ? v : NULL;
}

json_t *k8c_reg_arr(const json_t *obj, const char *key)
{
        json_t *v = k8c_reg_get(obj, key);
        return json_is_array(v) ? v : NULL;
}

const char *k8c_reg_str(const json_t *obj, const char *key)
{
        return json_string_value(k8c_reg_get(obj, key));
}

const char *k8c_reg_str0(const json_t *obj, const char *key)
{
        const char *s = k8c_reg_str(obj, key);
        return s != NULL ? s : "";
}

json_t *k8c_reg_path(const json_t *obj, const char *dotted)
{
        cleanup_free char *copy = k8c_xstrdup(dotted);
        json_t *cur = (json_t *)obj;
        char *save = NULL;
        for (char *tok = strtok_r(copy, ".", &save); tok != NULL; tok = strtok_r(NULL, ".", &save)) {
                cur = k8c_reg_get(cur, tok);
                if (cur == NULL)
                        return NULL;
        }
        return cur;
}

const char *k8c_reg_path_str(const json_t *obj, const char *dotted)
{
        return json_string_value(k8c_reg_path(obj, dotted));
}

json_int_t k8c_reg_int(const json_t *obj, const char *key, json_int_t def)
{
        json_t *v = k8c_reg_get(obj, key);
        return json_is_integer(v) ? json_integer_value(v) : def;
}

bool k8c_reg_has(const json_t *obj, const char *key)
{
        return k8c_reg_get(obj, key) != NULL;
}

json_t *k8c_reg_ensure(json_t *obj, const char *key)
{
        if (!json_is_object(obj))
                return NULL;
        json_t *v = json_object_get(obj, key);
        if (v == NULL || json_is_null(v)) {
                v = json_object();
                json_object_set_new(obj, key, v);
        }
        return json_is_object(v) ? v : NULL;
}

void k8c_reg_default_str(json_t *obj, const char *key, const char *value)
{
        if (json_is_object(obj) && !k8c_reg_has(obj, key))
                json_object_set_new(obj, key, json_string(value));
}

void k8c_reg_default_int(json_t *obj, const char *key, json_int_t value)
{
        if (json_is_object(obj) && !k8c_reg_has(obj, key))
                json_object_set_new(obj, key, json_integer(value));
}

void k8c_reg_default_bool(json_t *obj, const char *key, bool value)
{
        if (json_is_object(obj) && !k8c_reg_has(obj, key))
                json_object_set_new(obj, key, json_boolean(value));
}

void k8c_reg_keep_old(json_t *obj, const json_t *old, const char *key)
{
        if (!json_is_object(obj))
                return;
        json_t *ov = json_is_object(old) ? json_object_get(old, key) : NULL;
        if (ov != NULL)
                json_object_set_new(obj, key, json_deep_copy(ov));
        else
                json_object_del(obj, key);
}

/* ---- field errors -------------------------------------------------------------------------------- */

void k8c_field_error(struct k8c_field_errors *errs, const char *reason, const char *field, const char *fmt,
                     ...)
{
        va_list ap;
        va_start(ap, fmt);
        cleanup_free char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        va_end(ap);
        if (errs->causes == NULL)
                errs->causes = json_array();
        json_array_append_new(errs->causes,
                              json_pack("{s:s, s:s, s:s}", "reason", reason, "message", msg, "field", field));
}

void k8c_field_errors_append(struct k8c_field_errors *errs, json_t *causes)
{
        if (!json_is_array(causes) || json_array_size(causes) == 0)
                return;
        if (errs->causes == NULL)
                errs->causes = json_array();
        json_array_extend(errs->causes, causes);
}

size_t k8c_field_errors_count(const struct k8c_field_errors *errs)
{
        return errs->causes != NULL ? json_array_size(errs->causes) : 0;
}

void k8c_field_errors_free(struct k8c_field_errors *errs)
{
        json_decref(errs->causes);
        errs->causes = NULL;
}

int k8c_field_errors_to_error(const struct k8c_field_errors *errs, const char *kind, const char *name,
                              k8c_error_t *err)
{
        size_t n = k8c_field_errors_count(errs);
        cleanup_free char *qname = k8c_go_quote(name != NULL ? name : "");
        if (n == 0)
                return k8c_make_error(err, K8C_EINVALID, "%s %s is invalid", kind, qname);
        /* utilerrors.NewAggregate over field.ErrorList.ToAggregate(): "field: body" each, duplicates
         * dropped, brackets only around more than one. */
        char **msgs = k8c_xcalloc(n, sizeof(char *));
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                json_t *c = json_array_get(errs->causes, i);
                const char *field = k8c_reg_str0(c, "field");
                const char *body = k8c_reg_str0(c, "message");
                char *s = field[0] != '\0' ? k8c_xasprintf("%s: %s", field, body) : k8c_xstrdup(body);
                bool dup = false;
                for (size_t j = 0; j < m && !dup; j++)
                        dup = strcmp(msgs[j], s) == 0;
                if (dup)
                        free(s);
                else
                        msgs[m++] = s;
        }
        size_t len = 3;
        for (size_t i = 0; i < m; i++)
                len += strlen(msgs[i]) + 2;
        cleanup_free char *joined = k8c_xmalloc(len);
        char *p = joined;
        if (m > 1)
                *p++ = '[';
        for (size_t i = 0; i < m; i++) {
                if (i > 0) {
                        memcpy(p, ", ", 2);
                        p += 2;
                }
                size_t l = strlen(msgs[i]);
                memcpy(p, msgs[i], l);
                p += l;
                free(msgs[i]);
        }
        if (m > 1)
                *p++ = ']';
        *p = '\0';
        free(msgs);
        return k8c_make_error(err, K8C_EINVALID, "%s %s is invalid: %s", kind, qname, joined);
}

static int cmp_strp(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted keys of a JSON object (array of borrowed key pointers, caller frees the array). */
static const char **sorted_keys(const json_t *obj, size_t *ret_n)
{
        size_t n = json_is_object(obj) ? json_object_size(obj) : 0;
        const char **keys = k8c_xcalloc(n + 1, sizeof(char *));
        size_t i = 0;
        const char *k;
        json_t *v;
        if (n > 0)
                json_object_foreach((json_t *)obj, k, v) keys[i++] = k;
        qsort(keys, n, sizeof(char *), cmp_strp);
        *ret_n = n;
        return keys;
}

char *k8c_go_string_map(const json_t *obj)
{
        size_t n;
        cleanup_free const char **keys = sorted_keys(obj, &n);
        if (!json_is_object(obj))
                return k8c_xstrdup("map[string]string(nil)");
        char *out = k8c_xstrdup("map[string]string{");
        for (size_t i = 0; i < n; i++) {
                cleanup_free char *qk = k8c_go_quote(keys[i]);
                cleanup_free char *qv = k8c_go_quote(k8c_reg_str0(obj, keys[i]));
                char *next = k8c_xasprintf("%s%s%s:%s", out, i > 0 ? ", " : "", qk, qv);
                free(out);
                out = next;
        }
        char *next = k8c_xasprintf("%s}", out);
        free(out);
        return next;
}

void k8c_field_required(struct k8c_field_errors *errs, const char *field, const char *detail)
{
        if (detail != NULL && detail[0] != '\0')
                k8c_field_error(errs, "FieldValueRequired", field, "Required value: %s", detail);
        else
                k8c_field_error(errs, "FieldValueRequired", field, "Required value");
}

void k8c_field_forbidden(struct k8c_field_errors *errs, const char *field, const char *detail)
{
        if (detail != NULL && detail[0] != '\0')
                k8c_field_error(errs, "FieldValueForbidden", field, "Forbidden: %s", detail);
        else
                k8c_field_error(errs, "FieldValueForbidden", field, "Forbidden");
}

void k8c_field_invalid_raw(struct k8c_field_errors *errs, const char *field, const char *raw,
                           const char *detail)
{
        if (detail != NULL && detail[0] != '\0')
                k8c_field_error(errs, "FieldValueInvalid", field, "Invalid value: %s: %s", raw, detail);
        else
                k8c_field_error(errs, "FieldValueInvalid", field, "Invalid value: %s", raw);
}

void k8c_field_invalid_str(struct k8c_field_errors *errs, const char *field, const char *value,
                           const char *detail)
{
        cleanup_free char *q = k8c_go_quote(value != NULL ? value : "");
        k8c_field_invalid_raw(errs, field, q, detail);
}

void k8c_field_invalid_int(struct k8c_field_errors *errs, const char *field, json_int_t value,
                           const char *detail)
{
        char buf[32];
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, value);
        k8c_field_invalid_raw(errs, field, buf, detail);
}

void k8c_field_not_supported(struct k8c_field_errors *errs, const char *field, const char *value,
                             const char *const *valid)
{
        cleanup_free char *q = k8c_go_quote(value != NULL ? value : "");
        cleanup_free char *list = k8c_xstrdup("");
        for (size_t i = 0; valid != NULL && valid[i] != NULL; i++) {
                cleanup_free char *qv = k8c_go_quote(valid[i]);
                char *next = k8c_xasprintf("%s%s%s", list, i > 0 ? ", " : "", qv);
                free(list);
                list = next;
        }
        if (list[0] != '\0')
                k8c_field_error(errs, "FieldValueNotSupported", field,
                                "Unsupported value: %s: supported values: %s", q, list);
        else
                k8c_field_error(errs, "FieldValueNotSupported", field, "Unsupported value: %s", q);
}

void k8c_field_duplicate_str(struct k8c_field_errors *errs, const char *field, const char *value)
{
        cleanup_free char *q = k8c_go_quote(value);
        k8c_field_error(errs, "FieldValueDuplicate", field, "Duplicate value: %s", q);
}

void k8c_field_duplicate_int(struct k8c_field_errors *errs, const char *field, json_int_t value)
{
        k8c_field_error(errs, "FieldValueDuplicate", field, "Duplicate value: %" JSON_INTEGER_FORMAT, value);
}

/* ---- ObjectMeta ---------------------------------------------------------------------------------- */

static size_t name_errors(enum k8c_name_rule rule, const char *s, char *msgs[2])
{
        switch (rule) {
        case K8C_NAME_LABEL: return k8c_dns1123_label_errors(s, msgs);
        case K8C_NAME_DNS1035: return k8c_dns1035_label_errors(s, msgs);
        default: return k8c_dns1123_subdomain_errors(s, msgs);
        }
}

static void invalid_each(struct k8c_field_errors *errs, const char *field, const char *value, char *msgs[2],
                         size_t n)
{
        for (size_t i = 0; i < n; i++) {
                k8c_field_invalid_str(errs, field, value, msgs[i]);
                free(msgs[i]);
        }
}

void k8c_validate_labels_at(const json_t *labels, const char *path, struct k8c_field_errors *errs)
{
        if (labels == NULL)
                return;
        json_auto_t *causes = json_array();
        k8c_labels_validate(labels, path, causes);
        k8c_field_errors_append(errs, causes);
}

void k8c_validate_object_meta_rule(const json_t *obj, bool namespaced, enum k8c_name_rule rule,
                                   struct k8c_field_errors *errs)
{
        json_t *meta = k8c_reg_obj(obj, "metadata");
        const char *gen = k8c_reg_str0(meta, "generateName");
        const char *name = k8c_reg_str0(meta, "name");
        char *msgs[2];
        if (gen[0] != '\0') {
                /* A prefix may end in '-': mask it as apimachinery's maskTrailingDash does. */
                cleanup_free char *masked = k8c_xstrdup(gen);
                size_t l = strlen(masked);
                if (l > 1 && masked[l - 1] == '-')
                        masked[l - 1] = 'a';
                invalid_each(errs, "metadata.generateName", gen, msgs, name_errors(rule, masked, msgs));
        }
        if (name[0] == '\0')
                k8c_field_required(errs, "metadata.name", "name or generateName is required");
        else
                invalid_each(errs, "metadata.name", name, msgs, name_errors(rule, name, msgs));

        const char *ns = k8c_reg_str0(meta, "namespace");
        if (namespaced) {
                if (ns[0] == '\0')
                        k8c_field_required(errs, "metadata.namespace", "");
                else
                        invalid_each(errs, "metadata.namespace", ns, msgs,
                                     k8c_dns1123_label_errors(ns, msgs));
        } else if (ns[0] != '\0') {
                k8c_field_forbidden(errs, "metadata.namespace", "not allowed on this type");
        }
        json_t *gen_v = k8c_reg_get(meta, "generation");
        if (json_is_integer(gen_v) && json_integer_value(gen_v) < 0)
                k8c_field_invalid_int(errs, "metadata.generation", json_integer_value(gen_v),
                                      "must be greater than or equal to 0");
        k8c_validate_labels_at(k8c_reg_get(meta, "labels"), "metadata.labels", errs);
        json_t *ann = k8c_reg_get(meta, "annotations");
        if (ann != NULL) {
                json_auto_t *causes = json_array();
                k8c_annotations_validate(ann, "metadata.annotations", causes);
                k8c_field_errors_append(errs, causes);
        }
        json_t *refs = k8c_reg_arr(meta, "ownerReferences");
        size_t i;
        json_t *ref;
        json_array_foreach(refs, i, ref)
        {
                const char *av = k8c_reg_str0(ref, "apiVersion");
                const char *slash = strrchr(av, '/');
                const char *version = slash != NULL ? slash + 1 : av;
                if (version[0] == '\0')
                        k8c_field_invalid_str(errs, "metadata.ownerReferences.apiVersion", av,
                                              "version must not be empty");
                if (k8c_reg_str0(ref, "kind")[0] == '\0')
                        k8c_field_invalid_str(errs, "metadata.ownerReferences.kind", "", "must not be empty");
                if (k8c_reg_str0(ref, "name")[0] == '\0')
                        k8c_field_invalid_str(errs, "metadata.ownerReferences.name", "", "must not be empty");
                if (k8c_reg_str0(ref, "uid")[0] == '\0')
                        k8c_field_invalid_str(errs, "metadata.ownerReferences.uid", "", "must not be empty");
        }
        json_t *fin = k8c_reg_arr(meta, "finalizers");
        json_t *f;
        json_array_foreach(fin, i, f)
        {
                const char *s = json_string_value(f);
                cleanup_free char *msg = NULL;
                if (s == NULL || !k8c_label_key_valid(s, &msg))
                        k8c_field_invalid_str(errs, "metadata.finalizers", s != NULL ? s : "",
                                              msg != NULL ? msg : "must be a string");
        }
}

void k8c_validate_object_meta(const json_t *obj, bool namespaced, bool name_is_label,
                              struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, namespaced, name_is_label ? K8C_NAME_LABEL : K8C_NAME_SUBDOMAIN,
                                      errs);
}

void k8c_validate_object_meta_update(const json_t *obj, const json_t *old, struct k8c_field_errors *errs)
{
        static const char *const keys[] = { "name", "namespace", "uid", "creationTimestamp" };
        json_t *meta = k8c_reg_obj(obj, "metadata");
        json_t *ometa = k8c_reg_obj(old, "metadata");
        for (size_t i = 0; i < K8C_ARRAY_SIZE(keys); i++) {
                const char *nv = k8c_reg_str0(meta, keys[i]);
                const char *ov = k8c_reg_str0(ometa, keys[i]);
                /* An empty uid/creationTimestamp in the new object means "not sent": the server fills it. */
                if (nv[0] == '\0' && (i >= 2))
                        continue;
                if (strcmp(nv, ov) != 0) {
                        cleanup_free char *field = k8c_xasprintf("metadata.%s", keys[i]);
                        k8c_field_invalid_str(errs, field, nv, "field is immutable");
                }
        }
}

void k8c_validate_nonnegative(const json_t *parent, const char *key, const char *path,
                              struct k8c_field_errors *errs)
{
        json_t *v = k8c_reg_get(parent, key);
        if (json_is_integer(v) && json_integer_value(v) < 0)
                k8c_field_invalid_int(errs, path, json_integer_value(v),
                                      "must be greater than or equal to 0");
}

bool k8c_is_ip(const char *s)
{
        unsigned char buf[16];
        return s != NULL && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

/* ---- PodSpec ------------------------------------------------------------------------------------- */

static bool in_list(const char *s, const char *const *list)
{
        for (size_t i = 0; list[i] != NULL; i++)
                if (strcmp(s, list[i]) == 0)
                        return true;
        return false;
}

static const char *const port_protocols[] = { "SCTP", "TCP", "UDP", NULL };

/* validation.IsValidPortName messages. */
static size_t port_name_errors(const char *port, const char *msgs[5])
{
        size_t n = 0, len = strlen(port);
        if (len > 15)
                msgs[n++] = "must be no more than 15 characters";
        bool charset = len > 0, letter = false;
        for (size_t i = 0; i < len; i++) {
                char c = port[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                        charset = false;
                if (c >= 'a' && c <= 'z')
                        letter = true;
        }
        if (!charset)
                msgs[n++] = "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
        if (!letter)
                msgs[n++] = "must contain at least one letter (a-z)";
        if (strstr(port, "--") != NULL)
                msgs[n++] = "must not contain consecutive hyphens";
        if (len > 0 && (port[0] == '-' || port[len - 1] == '-'))
                msgs[n++] = "must not begin or end with a hyphen";
        return n;
}

static void validate_port_num(const json_t *parent, const char *key, const char *path, bool required,
                              struct k8c_field_errors *errs)
{
        json_int_t v = k8c_reg_int(parent, key, 0);
        if (v == 0) {
                if (required)
                        k8c_field_required(errs, path, "");
                return;
        }
        if (v < 1 || v > 65535)
                k8c_field_invalid_int(errs, path, v, "must be between 1 and 65535, inclusive");
}

static void validate_container_ports(const json_t *ports, const char *path, struct k8c_field_errors *errs)
{
        size_t i;
        json_t *p;
        json_auto_t *names = json_object();
        json_array_foreach(ports, i, p)
        {
                const char *name = k8c_reg_str0(p, "name");
                if (name[0] != '\0') {
                        const char *msgs[5];
                        size_t n = port_name_errors(name, msgs);
                        cleanup_free char *f = k8c_xasprintf("%s[%zu].name", path, i);
                        for (size_t j = 0; j < n; j++)
                                k8c_field_invalid_str(errs, f, name, msgs[j]);
                        if (n == 0 && json_object_get(names, name) != NULL)
                                k8c_field_duplicate_str(errs, f, name);
                        else if (n == 0)
                                json_object_set_new(names, name, json_true());
                }
                cleanup_free char *cp = k8c_xasprintf("%s[%zu].containerPort", path, i);
                validate_port_num(p, "containerPort", cp, true, errs);
                cleanup_free char *hp = k8c_xasprintf("%s[%zu].hostPort", path, i);
                validate_port_num(p, "hostPort", hp, false, errs);
                const char *proto = k8c_reg_str0(p, "protocol");
                cleanup_free char *pp = k8c_xasprintf("%s[%zu].protocol", path, i);
                if (proto[0] == '\0')
                        k8c_field_required(errs, pp, "");
                else if (!in_list(proto, port_protocols))
                        k8c_field_not_supported(errs, pp, proto, port_protocols);
        }
}

/* A quantity as JSON: a string, or a number written without quotes in YAML/JSON. */
static char *quantity_text(const json_t *q)
{
        if (json_is_string(q))
                return k8c_xstrdup(json_string_value(q));
        if (json_is_integer(q))
                return k8c_xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(q));
        if (json_is_real(q)) {
                /* The shortest text that reads back as the same double: 0.1 stays "0.1". */
                char *t = k8c_xasprintf("%.15g", json_real_value(q));
                if (strtod(t, NULL) != json_real_value(q)) {
                        free(t);
                        t = k8c_xasprintf("%.17g", json_real_value(q));
                }
                return t;
        }
        return NULL;
}

char *k8c_quantity_string(const json_t *q)
{
        cleanup_free char *text = quantity_text(q);
        if (text == NULL)
                return k8c_xstrdup("");
        k8c_quantity_t v;
        if (k8c_quantity_parse(text, &v, NULL) < 0)
                return k8c_steal(&text);
        return k8c_quantity_format(&v);
}

static bool standard_container_resource(const char *name)
{
        return strcmp(name, "cpu") == 0 || strcmp(name, "memory") == 0 ||
               strcmp(name, "ephemeral-storage") == 0 || strncmp(name, "hugepages-", 10) == 0;
}

/* Parses every quantity of a ResourceList, reporting bad names and values; fills parsed. */
static void validate_resource_list(const json_t *list, const char *path, bool container, json_t *parsed,
                                   struct k8c_field_errors *errs)
{
        const char *name;
        json_t *q;
        if (!json_is_object(list))
                return;
        json_object_foreach((json_t *)list, name, q)
        {
                cleanup_free char *f = k8c_xasprintf("%s[%s]", path, name);
                if (container && strchr(name, '/') == NULL && !standard_container_resource(name)) {
                        k8c_field_invalid_str(errs, f, name, "must be a standard resource for containers");
                        continue;
                }
                cleanup_free char *text = quantity_text(q);
                k8c_quantity_t v;
                cleanup_error k8c_error_t qerr = NULL;
                if (text == NULL) {
                        k8c_field_invalid_str(errs, f, "", "must be a quantity");
                        continue;
                }
                if (k8c_quantity_parse(text, &v, &qerr) < 0) {
                        k8c_field_invalid_str(errs, f, text, k8c_error_msg(&qerr));
                        continue;
                }
                if (v.milli < 0) {
                        cleanup_free char *canon = k8c_quantity_format(&v);
                        k8c_field_invalid_str(errs, f, canon, "must be greater than or equal to 0");
                        continue;
                }
                json_object_set_new(parsed, name, json_integer(v.milli));
        }
}

static void validate_resources(const json_t *res, const char *path, struct k8c_field_errors *errs)
{
        if (res == NULL)
                return;
        json_auto_t *limits = json_object();
        json_auto_t *requests = json_object();
        cleanup_free char *lp = k8c_xasprintf("%s.limits", path);
        cleanup_free char *rp = k8c_xasprintf("%s.requests", path);
        validate_resource_list(k8c_reg_get(res, "limits"), lp, true, limits, errs);
        validate_resource_list(k8c_reg_get(res, "requests"), rp, true, requests, errs);
        const char *name;
        json_t *lim;
        json_object_foreach(limits, name, lim)
        {
                json_t *req = json_object_get(requests, name);
                if (req != NULL && json_integer_value(lim) < json_integer_value(req)) {
                        cleanup_free char *canon =
                                k8c_quantity_string(json_object_get(k8c_reg_get(res, "limits"), name));
                        cleanup_free char *detail =
                                k8c_xasprintf("must be greater than or equal to %s request", name);
                        k8c_field_invalid_str(errs, lp, canon, detail);
                }
        }
}

/* ValidatePortNumOrName on an IntOrString port. */
static void validate_port_num_or_name(const json_t *v, const char *path, struct k8c_field_errors *errs)
{
        if (json_is_integer(v)) {
                json_int_t n = json_integer_value(v);
                if (n < 1 || n > 65535)
                        k8c_field_invalid_int(errs, path, n, "must be between 1 and 65535, inclusive");
        } else if (json_is_string(v)) {
                const char *msgs[5];
                size_t n = port_name_errors(json_string_value(v), msgs);
                for (size_t i = 0; i < n; i++)
                        k8c_field_invalid_str(errs, path, json_string_value(v), msgs[i]);
        } else {
                k8c_field_required(errs, path, "");
        }
}

/* validateProbe + validateHandler; liveness and startup probes need successThreshold 1. */
static void validate_probe(const json_t *probe, const char *path, bool success_must_be_one,
                           struct k8c_field_errors *errs)
{
        if (probe == NULL)
                return;
        static const char *const handlers[] = { "exec", "httpGet", "tcpSocket", "grpc" };
        size_t n = 0;
        for (size_t i = 0; i < K8C_ARRAY_SIZE(handlers); i++)
                if (k8c_reg_has(probe, handlers[i]))
                        n++;
        if (n == 0)
                k8c_field_required(errs, path, "must specify a handler type");
        else if (n > 1)
                k8c_field_forbidden(errs, path, "may not specify more than 1 handler type");
        json_t *exec = k8c_reg_obj(probe, "exec");
        if (exec != NULL && json_array_size(k8c_reg_arr(exec, "command")) == 0) {
                cleanup_free char *f = k8c_xasprintf("%s.exec.command", path);
                k8c_field_required(errs, f, "");
        }
        json_t *http = k8c_reg_obj(probe, "httpGet");
        if (http != NULL) {
                cleanup_free char *pp = k8c_xasprintf("%s.httpGet.path", path);
                cleanup_free char *portp = k8c_xasprintf("%s.httpGet.port", path);
                cleanup_free char *sp = k8c_xasprintf("%s.httpGet.scheme", path);
                if (k8c_reg_str0(http, "path")[0] == '\0')
                        k8c_field_required(errs, pp, "");
                validate_port_num_or_name(k8c_reg_get(http, "port"), portp, errs);
                const char *scheme = k8c_reg_str0(http, "scheme");
                static const char *const schemes[] = { "HTTP", "HTTPS", NULL };
                if (strcmp(scheme, "HTTP") != 0 && strcmp(scheme, "HTTPS") != 0)
                        k8c_field_not_supported(errs, sp, scheme, schemes);
        }
        json_t *tcp = k8c_reg_obj(probe, "tcpSocket");
        if (tcp != NULL) {
                cleanup_free char *portp = k8c_xasprintf("%s.tcpSocket.port", path);
                validate_port_num_or_name(k8c_reg_get(tcp, "port"), portp, errs);
        }
        static const char *const numbers[] = { "initialDelaySeconds", "timeoutSeconds", "periodSeconds",
                                               "successThreshold", "failureThreshold" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(numbers); i++) {
                cleanup_free char *f = k8c_xasprintf("%s.%s", path, numbers[i]);
                k8c_validate_nonnegative(probe, numbers[i], f, errs);
        }
        json_t *st = k8c_reg_get(probe, "successThreshold");
        if (success_must_be_one && json_is_integer(st) && json_integer_value(st) != 1) {
                cleanup_free char *f = k8c_xasprintf("%s.successThreshold", path);
                k8c_field_invalid_int(errs, f, json_integer_value(st), "must be 1");
        }
}

static const char *const pull_policies[] = { "Always", "IfNotPresent", "Never", NULL };
static const char *const termination_policies[] = { "File", "FallbackToLogsOnError", NULL };

static void validate_containers(const json_t *ctrs, const char *path, const json_t *volumes,
                                json_t *all_names, struct k8c_field_errors *errs)
{
        size_t i;
        json_t *c;
        json_array_foreach(ctrs, i, c)
        {
                cleanup_free char *cp = k8c_xasprintf("%s[%zu]", path, i);
                cleanup_free char *np = k8c_xasprintf("%s.name", cp);
                /* validateContainerCommon's order: name, image, terminationMessagePolicy, ports, env,
                 * volumeMounts, imagePullPolicy, resources; then the duplicate-name check. */
                const char *name = k8c_reg_str0(c, "name");
                char *msgs[2];
                if (name[0] == '\0')
                        k8c_field_required(errs, np, "");
                else
                        invalid_each(errs, np, name, msgs, k8c_dns1123_label_errors(name, msgs));
                cleanup_free char *ip = k8c_xasprintf("%s.image", cp);
                if (k8c_reg_str0(c, "image")[0] == '\0')
                        k8c_field_required(errs, ip, "");
                const char *tmp = k8c_reg_str0(c, "terminationMessagePolicy");
                cleanup_free char *tmpp = k8c_xasprintf("%s.terminationMessagePolicy", cp);
                if (tmp[0] == '\0')
                        k8c_field_required(errs, tmpp, "");
                else if (!in_list(tmp, termination_policies))
                        k8c_field_not_supported(errs, tmpp, tmp, termination_policies);
                cleanup_free char *pp = k8c_xasprintf("%s.ports", cp);
                validate_container_ports(k8c_reg_arr(c, "ports"), pp, errs);
                size_t j;
                json_t *e;
                json_array_foreach(k8c_reg_arr(c, "env"), j, e)
                {
                        if (k8c_reg_str0(e, "name")[0] == '\0') {
                                cleanup_free char *f = k8c_xasprintf("%s.env[%zu].name", cp, j);
                                k8c_field_required(errs, f, "");
                        }
                }
                json_t *m;
                json_array_foreach(k8c_reg_arr(c, "volumeMounts"), j, m)
                {
                        const char *vn = k8c_reg_str0(m, "name");
                        cleanup_free char *f = k8c_xasprintf("%s.volumeMounts[%zu].name", cp, j);
                        if (vn[0] == '\0')
                                k8c_field_required(errs, f, "");
                        else if (json_object_get(volumes, vn) == NULL) {
                                cleanup_free char *q = k8c_go_quote(vn);
                                k8c_field_error(errs, "FieldValueNotFound", f, "Not found: %s", q);
                        }
                        if (k8c_reg_str0(m, "mountPath")[0] == '\0') {
                                cleanup_free char *mp =
                                        k8c_xasprintf("%s.volumeMounts[%zu].mountPath", cp, j);
                                k8c_field_required(errs, mp, "");
                        }
                }
                const char *ipp = k8c_reg_str0(c, "imagePullPolicy");
                cleanup_free char *ippp = k8c_xasprintf("%s.imagePullPolicy", cp);
                if (ipp[0] == '\0')
                        k8c_field_required(errs, ippp, "");
                else if (!in_list(ipp, pull_policies))
                        k8c_field_not_supported(errs, ippp, ipp, pull_policies);
                cleanup_free char *rp = k8c_xasprintf("%s.resources", cp);
                validate_resources(k8c_reg_obj(c, "resources"), rp, errs);
                if (json_object_get(all_names, name) != NULL)
                        k8c_field_duplicate_str(errs, np, name);
                else
                        json_object_set_new(all_names, name, json_true());
                static const char *const probes[] = { "livenessProbe", "readinessProbe", "startupProbe" };
                for (size_t k = 0; k < K8C_ARRAY_SIZE(probes); k++) {
                        cleanup_free char *probe_path = k8c_xasprintf("%s.%s", cp, probes[k]);
                        validate_probe(k8c_reg_obj(c, probes[k]), probe_path, k != 1, errs);
                }
        }
}

static const char *const restart_policies[] = { "Always", "OnFailure", "Never", NULL };
static const char *const dns_policies[] = { "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None",
                                            NULL };
static const char *const toleration_ops[] = { "Equal", "Exists", NULL };
static const char *const taint_effects[] = { "NoExecute", "NoSchedule", "PreferNoSchedule", NULL };

void k8c_validate_pod_spec(const json_t *spec, const char *path, struct k8c_field_errors *errs)
{
        json_auto_t *volumes = json_object();
        size_t i;
        json_t *v;
        char *msgs[2];
        json_array_foreach(k8c_reg_arr(spec, "volumes"), i, v)
        {
                const char *name = k8c_reg_str0(v, "name");
                cleanup_free char *f = k8c_xasprintf("%s.volumes[%zu].name", path, i);
                if (name[0] == '\0') {
                        k8c_field_required(errs, f, "");
                        continue;
                }
                size_t n = k8c_dns1123_label_errors(name, msgs);
                invalid_each(errs, f, name, msgs, n);
                if (n == 0 && json_object_get(volumes, name) != NULL)
                        k8c_field_duplicate_str(errs, f, name);
                json_object_set_new(volumes, name, json_true());
        }

        json_auto_t *names = json_object();
        json_t *ctrs = k8c_reg_arr(spec, "containers");
        cleanup_free char *cp = k8c_xasprintf("%s.containers", path);
        cleanup_free char *icp = k8c_xasprintf("%s.initContainers", path);
        if (json_array_size(ctrs) == 0)
                k8c_field_required(errs, cp, "");
        validate_containers(ctrs, cp, volumes, names, errs);
        validate_containers(k8c_reg_arr(spec, "initContainers"), icp, volumes, names, errs);

        const char *rp = k8c_reg_str0(spec, "restartPolicy");
        cleanup_free char *rpp = k8c_xasprintf("%s.restartPolicy", path);
        if (rp[0] == '\0')
                k8c_field_required(errs, rpp, "");
        else if (!in_list(rp, restart_policies))
                k8c_field_not_supported(errs, rpp, rp, restart_policies);

        const char *dp = k8c_reg_str0(spec, "dnsPolicy");
        cleanup_free char *dpp = k8c_xasprintf("%s.dnsPolicy", path);
        if (dp[0] == '\0')
                k8c_field_required(errs, dpp, "");
        else if (!in_list(dp, dns_policies))
                k8c_field_not_supported(errs, dpp, dp, dns_policies);

        cleanup_free char *nsp = k8c_xasprintf("%s.nodeSelector", path);
        k8c_validate_labels_at(k8c_reg_get(spec, "nodeSelector"), nsp, errs);

        const char *node = k8c_reg_str0(spec, "nodeName");
        if (node[0] != '\0') {
                cleanup_free char *f = k8c_xasprintf("%s.nodeName", path);
                invalid_each(errs, f, node, msgs, k8c_dns1123_subdomain_errors(node, msgs));
        }
        const char *sa = k8c_reg_str0(spec, "serviceAccountName");
        if (sa[0] != '\0') {
                cleanup_free char *f = k8c_xasprintf("%s.serviceAccountName", path);
                invalid_each(errs, f, sa, msgs, k8c_dns1123_subdomain_errors(sa, msgs));
        }
        static const char *const dns_labels[] = { "hostname", "subdomain" };
        for (size_t k = 0; k < 2; k++) {
                const char *s = k8c_reg_str0(spec, dns_labels[k]);
                if (s[0] != '\0') {
                        cleanup_free char *f = k8c_xasprintf("%s.%s", path, dns_labels[k]);
                        invalid_each(errs, f, s, msgs, k8c_dns1123_label_errors(s, msgs));
                }
        }
        json_t *ads = k8c_reg_get(spec, "activeDeadlineSeconds");
        if (json_is_integer(ads) && (json_integer_value(ads) < 1 || json_integer_value(ads) > 2147483647)) {
                cleanup_free char *f = k8c_xasprintf("%s.activeDeadlineSeconds", path);
                k8c_field_invalid_int(errs, f, json_integer_value(ads),
                                      "must be between 1 and 2147483647, inclusive");
        }
        json_t *t;
        json_array_foreach(k8c_reg_arr(spec, "tolerations"), i, t)
        {
                const char *op = k8c_reg_str0(t, "operator");
                if (op[0] != '\0' && !in_list(op, toleration_ops)) {
                        cleanup_free char *f = k8c_xasprintf("%s.tolerations[%zu].operator", path, i);
                        k8c_field_not_supported(errs, f, op, toleration_ops);
                }
                if (strcmp(op, "Exists") == 0 && k8c_reg_str0(t, "value")[0] != '\0') {
                        cleanup_free char *f = k8c_xasprintf("%s.tolerations[%zu].operator", path, i);
                        k8c_field_invalid_str(errs, f, k8c_reg_str0(t, "value"),
                                              "value must be empty when `operator` is 'Exists'");
                }
                const char *eff = k8c_reg_str0(t, "effect");
                if (eff[0] != '\0' && !in_list(eff, taint_effects)) {
                        cleanup_free char *f = k8c_xasprintf("%s.tolerations[%zu].effect", path, i);
                        k8c_field_not_supported(errs, f, eff, taint_effects);
                }
        }
}

/* ---- label selectors and workloads --------------------------------------------------------------- */

void k8c_validate_label_selector(const json_t *sel, const char *path, struct k8c_field_errors *errs)
{
        if (sel == NULL)
                return;
        cleanup_free char *mlp = k8c_xasprintf("%s.matchLabels", path);
        k8c_validate_labels_at(k8c_reg_get(sel, "matchLabels"), mlp, errs);
        size_t i;
        json_t *e;
        json_array_foreach(k8c_reg_arr(sel, "matchExpressions"), i, e)
        {
                cleanup_free char *ep = k8c_xasprintf("%s.matchExpressions[%zu]", path, i);
                const char *op = k8c_reg_str0(e, "operator");
                size_t nvals = json_array_size(k8c_reg_arr(e, "values"));
                cleanup_free char *vp = k8c_xasprintf("%s.values", ep);
                if (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) {
                        if (nvals == 0)
                                k8c_field_required(errs, vp,
                                                   "must be specified when `operator` is 'In' or 'NotIn'");
                } else if (strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0) {
                        if (nvals > 0)
                                k8c_field_forbidden(
                                        errs, vp,
                                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
                } else {
                        cleanup_free char *opp = k8c_xasprintf("%s.operator", ep);
                        k8c_field_invalid_str(errs, opp, op, "not a valid selector operator");
                }
                const char *key = k8c_reg_str0(e, "key");
                cleanup_free char *msg = NULL;
                if (!k8c_label_key_valid(key, &msg)) {
                        cleanup_free char *kp = k8c_xasprintf("%s.key", ep);
                        k8c_field_invalid_str(errs, kp, key, msg);
                }
        }
}

char *k8c_go_label_selector(const json_t *sel)
{
        if (sel == NULL)
                return k8c_xstrdup("null");
        cleanup_free char *ml = json_is_object(k8c_reg_get(sel, "matchLabels"))
                                        ? k8c_go_string_map(k8c_reg_get(sel, "matchLabels"))
                                        : k8c_xstrdup("map[string]string(nil)");
        json_t *exprs = k8c_reg_arr(sel, "matchExpressions");
        cleanup_free char *me = NULL;
        if (json_array_size(exprs) == 0) {
                me = k8c_xstrdup("[]v1.LabelSelectorRequirement(nil)");
        } else {
                me = k8c_xstrdup("[]v1.LabelSelectorRequirement{");
                size_t i;
                json_t *e;
                json_array_foreach(exprs, i, e)
                {
                        cleanup_free char *qk = k8c_go_quote(k8c_reg_str0(e, "key"));
                        cleanup_free char *qo = k8c_go_quote(k8c_reg_str0(e, "operator"));
                        cleanup_free char *vals = k8c_xstrdup("");
                        size_t j;
                        json_t *v;
                        json_array_foreach(k8c_reg_arr(e, "values"), j, v)
                        {
                                cleanup_free char *qv =
                                        k8c_go_quote(json_string_value(v) ? json_string_value(v) : "");
                                char *next = k8c_xasprintf("%s%s%s", vals, j > 0 ? ", " : "", qv);
                                free(vals);
                                vals = next;
                        }
                        char *next = k8c_xasprintf(
                                "%s%sv1.LabelSelectorRequirement{Key:%s, Operator:%s, Values:[]string{%s}}",
                                me, i > 0 ? ", " : "", qk, qo, vals);
                        free(me);
                        me = next;
                }
                char *next = k8c_xasprintf("%s}", me);
                free(me);
                me = next;
        }
        return k8c_xasprintf("v1.LabelSelector{MatchLabels:%s, MatchExpressions:%s}", ml, me);
}

void k8c_validate_workload_spec(const json_t *spec, const char *kind_word, struct k8c_field_errors *errs)
{
        json_t *sel = k8c_reg_obj(spec, "selector");
        bool sel_ok = false;
        struct k8c_selector selector = { 0 };
        if (sel == NULL) {
                k8c_field_required(errs, "spec.selector", "");
        } else {
                size_t before = k8c_field_errors_count(errs);
                k8c_validate_label_selector(sel, "spec.selector", errs);
                if (json_object_size(k8c_reg_obj(sel, "matchLabels")) +
                            json_array_size(k8c_reg_arr(sel, "matchExpressions")) ==
                    0) {
                        cleanup_free char *raw = k8c_go_label_selector(sel);
                        cleanup_free char *detail =
                                k8c_xasprintf("empty selector is invalid for %s", kind_word);
                        k8c_field_invalid_raw(errs, "spec.selector", raw, detail);
                }
                if (k8c_field_errors_count(errs) == before)
                        sel_ok = k8c_selector_from_json(sel, &selector, NULL) >= 0;
        }
        /* The template is a struct, not a pointer, in Kubernetes: a missing one validates as empty. */
        json_auto_t *empty = json_object();
        json_t *tmpl = k8c_reg_obj(spec, "template");
        if (tmpl == NULL)
                tmpl = empty;
        {
                json_t *labels = k8c_reg_path(tmpl, "metadata.labels");
                if (sel_ok && !k8c_selector_empty(&selector) && !k8c_selector_matches(&selector, labels)) {
                        cleanup_free char *raw = k8c_go_string_map(labels);
                        k8c_field_invalid_raw(errs, "spec.template.metadata.labels", raw,
                                              "`selector` does not match template `labels`");
                }
                /* ValidatePodTemplateSpec reports template labels under "<template>.labels". */
                k8c_validate_labels_at(labels, "spec.template.labels", errs);
                json_t *pspec = k8c_reg_obj(tmpl, "spec");
                k8c_validate_pod_spec(pspec, "spec.template.spec", errs);
                const char *rp = k8c_reg_str0(pspec, "restartPolicy");
                static const char *const always[] = { "Always", NULL };
                if (rp[0] != '\0' && strcmp(rp, "Always") != 0)
                        k8c_field_not_supported(errs, "spec.template.spec.restartPolicy", rp, always);
                json_t *ads = k8c_reg_get(pspec, "activeDeadlineSeconds");
                if (json_is_integer(ads)) {
                        k8c_field_invalid_int(errs, "spec.template.spec.activeDeadlineSeconds",
                                              json_integer_value(ads),
                                              "activeDeadlineSeconds in ReplicaSet is not Supported");
                }
        }
        if (sel_ok)
                k8c_selector_free(&selector);
}

void k8c_validate_selector_immutable(const json_t *obj, const json_t *old, struct k8c_field_errors *errs)
{
        json_t *sel = k8c_reg_path(obj, "spec.selector");
        json_t *osel = k8c_reg_path(old, "spec.selector");
        if (!(sel == NULL && osel == NULL) && (sel == NULL || osel == NULL || !json_equal(sel, osel))) {
                cleanup_free char *raw = k8c_go_label_selector(sel);
                k8c_field_invalid_raw(errs, "spec.selector", raw, "field is immutable");
        }
}

/* ---- ConfigMap/Secret data ---- */

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

size_t k8c_validate_data_map(const json_t *map, const char *name, const json_t *other, const char *other_name,
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

void k8c_validate_immutable_data(const json_t *obj, const json_t *old, const char *const *keys,
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

/* ---- PersistentVolume/Claim ---- */

static const char *const access_modes[] = { "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce",
                                            "ReadWriteOncePod", NULL };
static const char *const volume_modes[] = { "Block", "Filesystem", NULL };

static bool pv_in_list(const char *s, const char *const *list)
{
        for (size_t i = 0; list[i] != NULL; i++)
                if (strcmp(s, list[i]) == 0)
                        return true;
        return false;
}

void k8c_validate_access_modes(const json_t *spec, const char *path, struct k8c_field_errors *errs)
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
                if (!pv_in_list(s, access_modes))
                        k8c_field_not_supported(errs, path, s, access_modes);
        }
}

void k8c_validate_volume_mode(const json_t *spec, const char *path, struct k8c_field_errors *errs)
{
        const char *vm = k8c_reg_str(spec, "volumeMode");
        if (vm != NULL && !pv_in_list(vm, volume_modes))
                k8c_field_not_supported(errs, path, vm, volume_modes);
}

/* helper.GetAccessModesAsString: RWO,ROX,RWX,RWOP in this fixed order, each once. */
char *k8c_access_modes_string(const json_t *modes)
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
const char *k8c_storage_class(const json_t *obj)
{
        const char *sc = k8c_reg_path_str(obj, "spec.storageClassName");
        if (sc != NULL)
                return sc;
        json_t *ann = k8c_reg_path(obj, "metadata.annotations");
        return k8c_reg_str0(ann, "volume.beta.kubernetes.io/storage-class");
}

/* ---- defaults ------------------------------------------------------------------------------------ */

/* SetDefaults_Container's pull policy: "latest" or no tag (and no digest) → Always. */
static const char *default_pull_policy(const char *image)
{
        const char *last = strrchr(image, '/');
        last = last != NULL ? last + 1 : image;
        const char *at = strchr(last, '@');
        const char *colon = strchr(last, ':');
        if (colon != NULL && (at == NULL || colon < at)) {
                size_t taglen = at != NULL ? (size_t)(at - colon - 1) : strlen(colon + 1);
                return (taglen == 6 && strncmp(colon + 1, "latest", 6) == 0) ? "Always" : "IfNotPresent";
        }
        return at != NULL ? "IfNotPresent" : "Always";
}

void k8c_canonicalize_quantities(json_t *list)
{
        const char *name;
        json_t *q;
        if (!json_is_object(list))
                return;
        json_object_foreach(list, name, q)
        {
                cleanup_free char *text = quantity_text(q);
                k8c_quantity_t v;
                if (text == NULL || k8c_quantity_parse(text, &v, NULL) < 0)
                        continue; /* left for validation to report */
                cleanup_free char *canon = k8c_quantity_format(&v);
                json_object_set_new(list, name, json_string(canon));
        }
}

static void probe_defaults(json_t *probe)
{
        if (!json_is_object(probe))
                return;
        k8c_reg_default_int(probe, "timeoutSeconds", 1);
        k8c_reg_default_int(probe, "periodSeconds", 10);
        k8c_reg_default_int(probe, "successThreshold", 1);
        k8c_reg_default_int(probe, "failureThreshold", 3);
        json_t *http = k8c_reg_obj(probe, "httpGet");
        if (http != NULL) {
                k8c_reg_default_str(http, "path", "/");
                k8c_reg_default_str(http, "scheme", "HTTP");
        }
}

static void container_defaults(json_t *c, bool host_network)
{
        if (!json_is_object(c))
                return;
        if (!k8c_reg_has(c, "imagePullPolicy") || k8c_reg_str0(c, "imagePullPolicy")[0] == '\0')
                json_object_set_new(c, "imagePullPolicy",
                                    json_string(default_pull_policy(k8c_reg_str0(c, "image"))));
        k8c_reg_default_str(c, "terminationMessagePath", "/dev/termination-log");
        k8c_reg_default_str(c, "terminationMessagePolicy", "File");
        size_t i;
        json_t *p;
        json_array_foreach(k8c_reg_arr(c, "ports"), i, p)
        {
                k8c_reg_default_str(p, "protocol", "TCP");
                if (host_network && k8c_reg_int(p, "hostPort", 0) == 0 && k8c_reg_has(p, "containerPort"))
                        json_object_set_new(p, "hostPort", json_integer(k8c_reg_int(p, "containerPort", 0)));
        }
        json_t *e;
        json_array_foreach(k8c_reg_arr(c, "env"), i, e)
        {
                json_t *fr = k8c_reg_path(e, "valueFrom.fieldRef");
                if (json_is_object(fr))
                        k8c_reg_default_str(fr, "apiVersion", "v1");
        }
        json_t *res = k8c_reg_obj(c, "resources");
        k8c_canonicalize_quantities(k8c_reg_obj(res, "limits"));
        k8c_canonicalize_quantities(k8c_reg_obj(res, "requests"));
        probe_defaults(k8c_reg_obj(c, "livenessProbe"));
        probe_defaults(k8c_reg_obj(c, "readinessProbe"));
        probe_defaults(k8c_reg_obj(c, "startupProbe"));
}

void k8c_pod_spec_set_defaults(json_t *spec)
{
        if (!json_is_object(spec))
                return;
        k8c_reg_default_str(spec, "dnsPolicy", "ClusterFirst");
        k8c_reg_default_str(spec, "restartPolicy", "Always");
        k8c_reg_default_int(spec, "terminationGracePeriodSeconds", 30);
        k8c_reg_ensure(spec, "securityContext");
        k8c_reg_default_str(spec, "schedulerName", "default-scheduler");
        bool host_network = json_is_true(k8c_reg_get(spec, "hostNetwork"));
        static const char *const lists[] = { "containers", "initContainers" };
        for (size_t k = 0; k < 2; k++) {
                size_t i;
                json_t *c;
                json_array_foreach(k8c_reg_arr(spec, lists[k]), i, c) container_defaults(c, host_network);
        }
        size_t i;
        json_t *v;
        json_array_foreach(k8c_reg_arr(spec, "volumes"), i, v)
        {
                static const char *const moded[] = { "configMap", "secret", "projected", "downwardAPI" };
                for (size_t k = 0; k < K8C_ARRAY_SIZE(moded); k++) {
                        json_t *src = k8c_reg_obj(v, moded[k]);
                        if (src != NULL)
                                k8c_reg_default_int(src, "defaultMode", 420);
                }
                json_t *hp = k8c_reg_obj(v, "hostPath");
                if (hp != NULL)
                        k8c_reg_default_str(hp, "type", "");
        }
}

void k8c_pod_template_set_defaults(json_t *tmpl)
{
        k8c_pod_spec_set_defaults(k8c_reg_obj(tmpl, "spec"));
}

/* Sums the non-zero cpu/memory quantities of list into sums (milli units). */
static void qos_add(const json_t *list, json_t *sums, bool *ret_has_cpu, bool *ret_has_mem)
{
        static const char *const names[] = { "cpu", "memory" };
        for (size_t k = 0; k < 2; k++) {
                cleanup_free char *text = quantity_text(k8c_reg_get(list, names[k]));
                k8c_quantity_t q;
                if (text == NULL || k8c_quantity_parse(text, &q, NULL) < 0 || q.milli == 0)
                        continue;
                json_int_t prev = k8c_reg_int(sums, names[k], 0);
                json_object_set_new(sums, names[k], json_integer(prev + q.milli));
                if (k == 0 && ret_has_cpu != NULL)
                        *ret_has_cpu = true;
                if (k == 1 && ret_has_mem != NULL)
                        *ret_has_mem = true;
        }
}

const char *k8c_pod_qos_class(const json_t *spec)
{
        json_auto_t *requests = json_object();
        json_auto_t *limits = json_object();
        bool guaranteed = true;
        static const char *const lists[] = { "containers", "initContainers" };
        for (size_t k = 0; k < 2; k++) {
                size_t i;
                json_t *c;
                json_array_foreach(k8c_reg_arr(spec, lists[k]), i, c)
                {
                        json_t *res = k8c_reg_obj(c, "resources");
                        qos_add(k8c_reg_obj(res, "requests"), requests, NULL, NULL);
                        bool cpu = false, mem = false;
                        qos_add(k8c_reg_obj(res, "limits"), limits, &cpu, &mem);
                        if (!cpu || !mem)
                                guaranteed = false;
                }
        }
        if (json_object_size(requests) == 0 && json_object_size(limits) == 0)
                return "BestEffort";
        if (guaranteed) {
                const char *name;
                json_t *v;
                json_object_foreach(requests, name, v)
                {
                        if (json_integer_value(v) != k8c_reg_int(limits, name, -1))
                                guaranteed = false;
                }
                if (guaranteed && json_object_size(requests) == json_object_size(limits))
                        return "Guaranteed";
        }
        return "Burstable";
}

/* ---- table cells --------------------------------------------------------------------------------- */

char *k8c_age_string(const char *ts, const struct k8c_registry_ctx *ctx)
{
        time_t t;
        if (ts == NULL || ts[0] == '\0' || k8c_rfc3339_parse(ts, &t) < 0)
                return k8c_xstrdup("<unknown>");
        char buf[32];
        k8c_human_age((long)(ctx->now - t), buf, sizeof(buf));
        return k8c_xstrdup(buf);
}

void k8c_table_age_of(const char *ts, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        cleanup_free char *age = k8c_age_string(ts, ctx);
        json_array_append_new(cells, json_string(age));
}

void k8c_table_age_cell(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        cleanup_free char *age = k8c_age_string(k8c_reg_path_str(obj, "metadata.creationTimestamp"), ctx);
        json_array_append_new(cells, json_string(age));
}

char *k8c_format_labels(const json_t *labels)
{
        size_t n;
        cleanup_free const char **keys = sorted_keys(labels, &n);
        if (n == 0)
                return k8c_xstrdup("<none>");
        char *out = k8c_xstrdup("");
        for (size_t i = 0; i < n; i++) {
                char *next = k8c_xasprintf("%s%s%s=%s", out, i > 0 ? "," : "", keys[i],
                                           k8c_reg_str0(labels, keys[i]));
                free(out);
                out = next;
        }
        return out;
}

char *k8c_format_label_selector(const json_t *sel)
{
        struct k8c_selector s = { 0 };
        if (k8c_selector_from_json(sel, &s, NULL) < 0)
                return k8c_xstrdup("<error>");
        char *str = k8c_selector_string(&s);
        k8c_selector_free(&s);
        if (str == NULL || str[0] == '\0') {
                free(str);
                return k8c_xstrdup("<none>");
        }
        return str;
}

void k8c_container_cells(const json_t *containers, json_t *cells)
{
        cleanup_free char *names = k8c_xstrdup("");
        cleanup_free char *images = k8c_xstrdup("");
        size_t i;
        json_t *c;
        json_array_foreach(containers, i, c)
        {
                char *n = k8c_xasprintf("%s%s%s", names, i > 0 ? "," : "", k8c_reg_str0(c, "name"));
                char *m = k8c_xasprintf("%s%s%s", images, i > 0 ? "," : "", k8c_reg_str0(c, "image"));
                free(names);
                free(images);
                names = n;
                images = m;
        }
        json_array_append_new(cells, json_string(names));
        json_array_append_new(cells, json_string(images));
}

/*
 * protobuf.c - request bodies in application/vnd.kubernetes.protobuf.
 *
 * kubectl's typed clients (create namespace|deployment|configmap|secret|service,
 * expose, autoscale) send protobuf, and client-go does not fall back to JSON on a
 * 415. A body is the 4-byte magic "k8s\0" and a runtime.Unknown message
 * {1: typeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType};
 * raw is the object in the field numbering of Kubernetes' generated.proto files.
 *
 * The decoder turns it into the JSON object the same request would have carried:
 * it walks the wire format against a table of the messages below (the fields
 * kubectl's generators fill, and the common neighbours of those). gogo-protobuf
 * writes every non-pointer field, even empty ones, so empty scalars and messages
 * are dropped as JSON's omitempty would, except for fields marked KEEP (pointers,
 * where zero is a value the user chose). A field number the table does not know is
 * an error naming it rather than a silent loss. Status sub-objects are skipped: the
 * server ignores status on create and update anyway.
 */
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apiserver/protobuf.h"
#include "k8c/cleanup.h"

enum pb_kind {
        PB_STRING,
        PB_BYTES, /* base64 in JSON */
        PB_INT32,
        PB_INT64,
        PB_BOOL,
        PB_MSG,
        PB_MAP_STRING,   /* map<string,string> */
        PB_MAP_BYTES,    /* map<string,bytes> */
        PB_MAP_QUANTITY, /* map<string,Quantity> */
        PB_QUANTITY,     /* Quantity{1: string} → "100m" */
        PB_INTORSTRING,  /* IntOrString{1: type, 2: intVal, 3: strVal} */
        PB_TIME,         /* Time{1: seconds, 2: nanos} → RFC 3339 */
        PB_SKIP,         /* read and ignored (status) */
};

#define REPEATED 1u
#define KEEP 2u /* a pointer field: zero or empty is still a value */

struct pb_msg;
struct pb_field {
        unsigned num;
        const char *json;
        enum pb_kind kind;
        unsigned flags;
        const struct pb_msg *msg;
};
struct pb_msg {
        const char *name;
        const struct pb_field *fields;
};

#define MSG(var, label, ...)                                                                                 \
        static const struct pb_field var##_fields[] = { __VA_ARGS__, { 0, NULL, 0, 0, NULL } };              \
        static const struct pb_msg var = { label, var##_fields }

/* ---- meta/v1 ------------------------------------------------------------------ */
MSG(owner_reference, "OwnerReference", { 1, "kind", PB_STRING, 0, NULL }, { 3, "name", PB_STRING, 0, NULL },
    { 4, "uid", PB_STRING, 0, NULL }, { 5, "apiVersion", PB_STRING, 0, NULL },
    { 6, "controller", PB_BOOL, KEEP, NULL }, { 7, "blockOwnerDeletion", PB_BOOL, KEEP, NULL });
MSG(object_meta, "ObjectMeta", { 1, "name", PB_STRING, 0, NULL }, { 2, "generateName", PB_STRING, 0, NULL },
    { 3, "namespace", PB_STRING, 0, NULL }, { 4, "selfLink", PB_STRING, 0, NULL },
    { 5, "uid", PB_STRING, 0, NULL }, { 6, "resourceVersion", PB_STRING, 0, NULL },
    { 7, "generation", PB_INT64, 0, NULL }, { 8, "creationTimestamp", PB_TIME, 0, NULL },
    { 9, "deletionTimestamp", PB_TIME, 0, NULL }, { 10, "deletionGracePeriodSeconds", PB_INT64, KEEP, NULL },
    { 11, "labels", PB_MAP_STRING, 0, NULL }, { 12, "annotations", PB_MAP_STRING, 0, NULL },
    { 13, "ownerReferences", PB_MSG, REPEATED, &owner_reference },
    { 14, "finalizers", PB_STRING, REPEATED, NULL }, { 17, "managedFields", PB_SKIP, 0, NULL });
MSG(label_selector_requirement, "LabelSelectorRequirement", { 1, "key", PB_STRING, 0, NULL },
    { 2, "operator", PB_STRING, 0, NULL }, { 3, "values", PB_STRING, REPEATED, NULL });
MSG(label_selector, "LabelSelector", { 1, "matchLabels", PB_MAP_STRING, 0, NULL },
    { 2, "matchExpressions", PB_MSG, REPEATED, &label_selector_requirement });

/* ---- core/v1 ------------------------------------------------------------------ */
MSG(namespace_spec, "NamespaceSpec", { 1, "finalizers", PB_STRING, REPEATED, NULL });
MSG(namespace, "Namespace", { 1, "metadata", PB_MSG, 0, &object_meta },
    { 2, "spec", PB_MSG, 0, &namespace_spec }, { 3, "status", PB_SKIP, 0, NULL });
MSG(config_map, "ConfigMap", { 1, "metadata", PB_MSG, 0, &object_meta },
    { 2, "data", PB_MAP_STRING, 0, NULL }, { 3, "binaryData", PB_MAP_BYTES, 0, NULL },
    { 4, "immutable", PB_BOOL, KEEP, NULL });
MSG(secret, "Secret", { 1, "metadata", PB_MSG, 0, &object_meta }, { 2, "data", PB_MAP_BYTES, 0, NULL },
    { 3, "type", PB_STRING, 0, NULL }, { 4, "stringData", PB_MAP_STRING, 0, NULL },
    { 5, "immutable", PB_BOOL, KEEP, NULL });
MSG(service_port, "ServicePort", { 1, "name", PB_STRING, 0, NULL }, { 2, "protocol", PB_STRING, 0, NULL },
    { 3, "port", PB_INT32, 0, NULL }, { 4, "targetPort", PB_INTORSTRING, 0, NULL },
    { 5, "nodePort", PB_INT32, 0, NULL }, { 6, "appProtocol", PB_STRING, KEEP, NULL });
MSG(service_spec, "ServiceSpec", { 1, "ports", PB_MSG, REPEATED, &service_port },
    { 2, "selector", PB_MAP_STRING, 0, NULL }, { 3, "clusterIP", PB_STRING, 0, NULL },
    { 4, "type", PB_STRING, 0, NULL }, { 5, "externalIPs", PB_STRING, REPEATED, NULL },
    { 7, "sessionAffinity", PB_STRING, 0, NULL }, { 8, "loadBalancerIP", PB_STRING, 0, NULL },
    { 9, "loadBalancerSourceRanges", PB_STRING, REPEATED, NULL }, { 10, "externalName", PB_STRING, 0, NULL },
    { 11, "externalTrafficPolicy", PB_STRING, 0, NULL }, { 12, "healthCheckNodePort", PB_INT32, 0, NULL },
    { 13, "publishNotReadyAddresses", PB_BOOL, 0, NULL }, { 18, "clusterIPs", PB_STRING, REPEATED, NULL });
MSG(service, "Service", { 1, "metadata", PB_MSG, 0, &object_meta }, { 2, "spec", PB_MSG, 0, &service_spec },
    { 3, "status", PB_SKIP, 0, NULL });
MSG(container_port, "ContainerPort", { 1, "name", PB_STRING, 0, NULL }, { 2, "hostPort", PB_INT32, 0, NULL },
    { 3, "containerPort", PB_INT32, 0, NULL }, { 4, "protocol", PB_STRING, 0, NULL },
    { 5, "hostIP", PB_STRING, 0, NULL });
MSG(env_var, "EnvVar", { 1, "name", PB_STRING, 0, NULL }, { 2, "value", PB_STRING, 0, NULL });
MSG(resource_requirements, "ResourceRequirements", { 1, "limits", PB_MAP_QUANTITY, 0, NULL },
    { 2, "requests", PB_MAP_QUANTITY, 0, NULL });
MSG(volume_mount, "VolumeMount", { 1, "name", PB_STRING, 0, NULL }, { 2, "readOnly", PB_BOOL, 0, NULL },
    { 3, "mountPath", PB_STRING, 0, NULL }, { 4, "subPath", PB_STRING, 0, NULL });
MSG(container, "Container", { 1, "name", PB_STRING, 0, NULL }, { 2, "image", PB_STRING, 0, NULL },
    { 3, "command", PB_STRING, REPEATED, NULL }, { 4, "args", PB_STRING, REPEATED, NULL },
    { 5, "workingDir", PB_STRING, 0, NULL }, { 6, "ports", PB_MSG, REPEATED, &container_port },
    { 7, "env", PB_MSG, REPEATED, &env_var }, { 8, "resources", PB_MSG, 0, &resource_requirements },
    { 9, "volumeMounts", PB_MSG, REPEATED, &volume_mount },
    { 13, "terminationMessagePath", PB_STRING, 0, NULL }, { 14, "imagePullPolicy", PB_STRING, 0, NULL },
    { 16, "stdin", PB_BOOL, 0, NULL }, { 17, "stdinOnce", PB_BOOL, 0, NULL }, { 18, "tty", PB_BOOL, 0, NULL },
    { 20, "terminationMessagePolicy", PB_STRING, 0, NULL });
MSG(pod_spec, "PodSpec", { 2, "containers", PB_MSG, REPEATED, &container },
    { 3, "restartPolicy", PB_STRING, 0, NULL }, { 4, "terminationGracePeriodSeconds", PB_INT64, KEEP, NULL },
    { 5, "activeDeadlineSeconds", PB_INT64, KEEP, NULL }, { 6, "dnsPolicy", PB_STRING, 0, NULL },
    { 7, "nodeSelector", PB_MAP_STRING, 0, NULL }, { 8, "serviceAccountName", PB_STRING, 0, NULL },
    { 9, "serviceAccount", PB_STRING, 0, NULL }, { 10, "nodeName", PB_STRING, 0, NULL },
    { 11, "hostNetwork", PB_BOOL, 0, NULL }, { 12, "hostPID", PB_BOOL, 0, NULL },
    { 13, "hostIPC", PB_BOOL, 0, NULL }, { 16, "hostname", PB_STRING, 0, NULL },
    { 17, "subdomain", PB_STRING, 0, NULL }, { 19, "schedulerName", PB_STRING, 0, NULL },
    { 20, "initContainers", PB_MSG, REPEATED, &container }, { 24, "priorityClassName", PB_STRING, 0, NULL });
MSG(pod_template_spec, "PodTemplateSpec", { 1, "metadata", PB_MSG, 0, &object_meta },
    { 2, "spec", PB_MSG, 0, &pod_spec });

/* ---- apps/v1 ------------------------------------------------------------------ */
MSG(rolling_update_deployment, "RollingUpdateDeployment", { 1, "maxUnavailable", PB_INTORSTRING, KEEP, NULL },
    { 2, "maxSurge", PB_INTORSTRING, KEEP, NULL });
MSG(deployment_strategy, "DeploymentStrategy", { 1, "type", PB_STRING, 0, NULL },
    { 2, "rollingUpdate", PB_MSG, 0, &rolling_update_deployment });
MSG(deployment_spec, "DeploymentSpec", { 1, "replicas", PB_INT32, KEEP, NULL },
    { 2, "selector", PB_MSG, 0, &label_selector }, { 3, "template", PB_MSG, 0, &pod_template_spec },
    { 4, "strategy", PB_MSG, 0, &deployment_strategy }, { 5, "minReadySeconds", PB_INT32, 0, NULL },
    { 6, "revisionHistoryLimit", PB_INT32, KEEP, NULL }, { 7, "paused", PB_BOOL, 0, NULL },
    { 9, "progressDeadlineSeconds", PB_INT32, KEEP, NULL });
MSG(deployment, "Deployment", { 1, "metadata", PB_MSG, 0, &object_meta },
    { 2, "spec", PB_MSG, 0, &deployment_spec }, { 3, "status", PB_SKIP, 0, NULL });

/* ---- autoscaling ---------------------------------------------------------------- */
MSG(cross_version_object_reference, "CrossVersionObjectReference", { 1, "kind", PB_STRING, 0, NULL },
    { 2, "name", PB_STRING, 0, NULL }, { 3, "apiVersion", PB_STRING, 0, NULL });
MSG(hpa_spec_v1, "HorizontalPodAutoscalerSpec",
    { 1, "scaleTargetRef", PB_MSG, 0, &cross_version_object_reference },
    { 2, "minReplicas", PB_INT32, KEEP, NULL }, { 3, "maxReplicas", PB_INT32, 0, NULL },
    { 4, "targetCPUUtilizationPercentage", PB_INT32, KEEP, NULL });
MSG(hpa_v1, "HorizontalPodAutoscaler", { 1, "metadata", PB_MSG, 0, &object_meta },
    { 2, "spec", PB_MSG, 0, &hpa_spec_v1 }, { 3, "status", PB_SKIP, 0, NULL });
MSG(metric_target, "MetricTarget", { 1, "type", PB_STRING, 0, NULL }, { 2, "value", PB_QUANTITY, KEEP, NULL },
    { 3, "averageValue", PB_QUANTITY, KEEP, NULL }, { 4, "averageUtilization", PB_INT32, KEEP, NULL });
MSG(resource_metric_source, "ResourceMetricSource", { 1, "name", PB_STRING, 0, NULL },
    { 2, "target", PB_MSG, 0, &metric_target });
MSG(metric_spec, "MetricSpec", { 1, "type", PB_STRING, 0, NULL },
    { 4, "resource", PB_MSG, 0, &resource_metric_source });
MSG(hpa_spec_v2, "HorizontalPodAutoscalerSpec",
    { 1, "scaleTargetRef", PB_MSG, 0, &cross_version_object_reference },
    { 2, "minReplicas", PB_INT32, KEEP, NULL }, { 3, "maxReplicas", PB_INT32, 0, NULL },
    { 4, "metrics", PB_MSG, REPEATED, &metric_spec });
MSG(hpa_v2, "HorizontalPodAutoscaler", { 1, "metadata", PB_MSG, 0, &object_meta },
    { 2, "spec", PB_MSG, 0, &hpa_spec_v2 }, { 3, "status", PB_SKIP, 0, NULL });

static const struct {
        const char *api_version, *kind;
        const struct pb_msg *msg;
} kinds[] = {
        { "v1", "Namespace", &namespace },
        { "v1", "ConfigMap", &config_map },
        { "v1", "Secret", &secret },
        { "v1", "Service", &service },
        { "apps/v1", "Deployment", &deployment },
        { "autoscaling/v1", "HorizontalPodAutoscaler", &hpa_v1 },
        { "autoscaling/v2", "HorizontalPodAutoscaler", &hpa_v2 },
};

/* ---- wire format ---------------------------------------------------------------- */

struct reader {
        const uint8_t *p, *end;
};

static bool read_varint(struct reader *r, uint64_t *ret)
{
        uint64_t v = 0;
        for (unsigned shift = 0; shift < 64; shift += 7) {
                if (r->p >= r->end)
                        return false;
                uint8_t b = *r->p++;
                v |= (uint64_t)(b & 0x7f) << shift;
                if ((b & 0x80) == 0) {
                        *ret = v;
                        return true;
                }
        }
        return false;
}

/* One field: its number, wire type and payload (varint value or the bytes). */
struct wire_field {
        unsigned num, type;
        uint64_t v;
        const uint8_t *data;
        size_t len;
};

static int next_field(struct reader *r, struct wire_field *f, const char *msg, k8c_error_t *err)
{
        uint64_t key;
        if (!read_varint(r, &key) || key >> 3 == 0 || key >> 3 > 536870911)
                return k8c_make_error(err, K8C_EBADREQUEST, "protobuf: malformed field key in %s", msg);
        f->num = (unsigned)(key >> 3);
        f->type = (unsigned)(key & 7);
        f->data = NULL;
        f->len = 0;
        switch (f->type) {
        case 0:
                if (!read_varint(r, &f->v))
                        return k8c_make_error(err, K8C_EBADREQUEST, "protobuf: truncated varint in %s", msg);
                return 0;
        case 1:
        case 5: {
                size_t n = f->type == 1 ? 8 : 4;
                if ((size_t)(r->end - r->p) < n)
                        return k8c_make_error(err, K8C_EBADREQUEST, "protobuf: truncated field %u of %s",
                                              f->num, msg);
                f->data = r->p;
                f->len = n;
                r->p += n;
                return 0;
        }
        case 2: {
                uint64_t n;
                if (!read_varint(r, &n) || n > (uint64_t)(r->end - r->p))
                        return k8c_make_error(err, K8C_EBADREQUEST, "protobuf: truncated field %u of %s",
                                              f->num, msg);
                f->data = r->p;
                f->len = (size_t)n;
                r->p += n;
                return 0;
        }
        default:
                return k8c_make_error(err, K8C_EBADREQUEST, "protobuf: unsupported wire type %u in %s",
                                      f->type, msg);
        }
}

static int want_type(const struct wire_field *f, unsigned type, const char *msg, const char *json,
                     k8c_error_t *err)
{
        if (f->type != type)
                return k8c_make_error(err, K8C_EBADREQUEST,
                                      "protobuf: field %s of %s has wire type %u, want %u", json, msg,
                                      f->type, type);
        return 0;
}

/* A proto string: valid UTF-8 without NUL bytes, else NULL (the caller reports it). */
static json_t *string_of(const struct wire_field *f)
{
        if (memchr(f->data, '\0', f->len) != NULL)
                return NULL;
        return json_stringn((const char *)f->data, f->len);
}

static json_t *base64_of(const struct wire_field *f)
{
        gnutls_datum_t in = { .data = (unsigned char *)f->data, .size = (unsigned)f->len }, out = { 0 };
        if (f->len == 0)
                return json_string("");
        if (gnutls_base64_encode2(&in, &out) < 0)
                return NULL;
        json_t *s = json_stringn_nocheck((const char *)out.data, out.size);
        gnutls_free(out.data);
        return s;
}

static int decode_msg(const uint8_t *data, size_t len, const struct pb_msg *m, json_t **ret,
                      k8c_error_t *err);

/* Quantity{1: string} → the string ("0" when absent); NULL when malformed. */
static json_t *quantity_of(const uint8_t *data, size_t len)
{
        static const struct pb_field qf[] = { { 1, "string", PB_STRING, 0, NULL }, { 0, NULL, 0, 0, NULL } };
        static const struct pb_msg qm = { "Quantity", qf };
        json_t *q = NULL;
        if (decode_msg(data, len, &qm, &q, NULL) < 0)
                return NULL;
        json_t *v = json_incref(json_object_get(q, "string"));
        json_decref(q);
        return v != NULL ? v : json_string("0");
}

/* A map entry {1: key, 2: value}; value_kind is PB_STRING, PB_BYTES or PB_QUANTITY. */
static int decode_map_entry(const struct wire_field *f, enum pb_kind value_kind, json_t *map,
                            const char *json, k8c_error_t *err)
{
        struct reader r = { f->data, f->data + f->len };
        cleanup_free char *key = NULL;
        json_t *value = NULL;
        while (r.p < r.end) {
                struct wire_field e;
                int rc = next_field(&r, &e, json, err);
                if (rc < 0 || (rc = want_type(&e, 2, "map entry", json, err)) < 0) {
                        json_decref(value);
                        return rc;
                }
                if (e.num == 1) {
                        json_t *k = string_of(&e);
                        if (k == NULL) {
                                json_decref(value);
                                return k8c_make_error(err, K8C_EBADREQUEST,
                                                      "protobuf: a key of %s is not valid UTF-8", json);
                        }
                        free(key);
                        key = k8c_xstrdup(json_string_value(k));
                        json_decref(k);
                } else if (e.num == 2) {
                        json_decref(value);
                        if (value_kind == PB_BYTES) {
                                value = base64_of(&e);
                        } else if (value_kind == PB_QUANTITY) {
                                value = quantity_of(e.data, e.len);
                                if (value == NULL)
                                        return k8c_make_error(err, K8C_EBADREQUEST,
                                                              "protobuf: malformed quantity in %s", json);
                        } else {
                                value = string_of(&e);
                        }
                        if (value == NULL)
                                return k8c_make_error(err, K8C_EBADREQUEST,
                                                      "protobuf: a value of %s is malformed", json);
                }
        }
        json_object_set_new(map, key != NULL ? key : "", value != NULL ? value : json_string(""));
        return 0;
}

static json_t *time_of(const uint8_t *data, size_t len)
{
        struct reader r = { data, data + len };
        uint64_t secs = 0;
        while (r.p < r.end) {
                uint64_t key, v;
                if (!read_varint(&r, &key) || (key & 7) != 0 || !read_varint(&r, &v))
                        return NULL;
                if (key >> 3 == 1)
                        secs = v;
        }
        if (secs == 0)
                return json_null();
        time_t t = (time_t)(int64_t)secs;
        struct tm tm;
        char buf[40];
        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        return json_string(buf);
}

static json_t *int_or_string_of(const uint8_t *data, size_t len)
{
        struct reader r = { data, data + len };
        uint64_t type = 0, ival = 0;
        cleanup_free char *sval = NULL;
        while (r.p < r.end) {
                uint64_t key, v;
                if (!read_varint(&r, &key))
                        return NULL;
                if ((key & 7) == 0) {
                        if (!read_varint(&r, &v))
                                return NULL;
                        if (key >> 3 == 1)
                                type = v;
                        else if (key >> 3 == 2)
                                ival = v;
                } else if ((key & 7) == 2) {
                        if (!read_varint(&r, &v) || v > (uint64_t)(r.end - r.p))
                                return NULL;
                        if (key >> 3 == 3) {
                                free(sval);
                                sval = k8c_xstrndup((const char *)r.p, (size_t)v);
                        }
                        r.p += v;
                } else {
                        return NULL;
                }
        }
        if (type == 1)
                return json_string(sval != NULL ? sval : "");
        return json_integer((json_int_t)(int32_t)(uint32_t)ival);
}

/* Whether a decoded value is what omitempty leaves out. */
static bool is_empty(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_STRING: return json_string_length(v) == 0;
        case JSON_INTEGER: return json_integer_value(v) == 0;
        case JSON_FALSE:
        case JSON_NULL: return true;
        case JSON_OBJECT: return json_object_size(v) == 0;
        case JSON_ARRAY: return json_array_size(v) == 0;
        default: return false;
        }
}

static int decode_field(const struct wire_field *f, const struct pb_field *fd, const struct pb_msg *m,
                        json_t *obj, k8c_error_t *err)
{
        json_t *v = NULL;
        int r = 0;
        switch (fd->kind) {
        case PB_SKIP: return 0;
        case PB_STRING:
                if ((r = want_type(f, 2, m->name, fd->json, err)) < 0)
                        return r;
                v = string_of(f);
                break;
        case PB_BYTES:
                if ((r = want_type(f, 2, m->name, fd->json, err)) < 0)
                        return r;
                v = base64_of(f);
                break;
        case PB_INT32:
                if ((r = want_type(f, 0, m->name, fd->json, err)) < 0)
                        return r;
                v = json_integer((json_int_t)(int32_t)(uint32_t)f->v);
                break;
        case PB_INT64:
                if ((r = want_type(f, 0, m->name, fd->json, err)) < 0)
                        return r;
                v = json_integer((json_int_t)(int64_t)f->v);
                break;
        case PB_BOOL:
                if ((r = want_type(f, 0, m->name, fd->json, err)) < 0)
                        return r;
                v = json_boolean(f->v != 0);
                break;
        case PB_MSG:
                if ((r = want_type(f, 2, m->name, fd->json, err)) < 0 ||
                    (r = decode_msg(f->data, f->len, fd->msg, &v, err)) < 0)
                        return r;
                break;
        case PB_QUANTITY:
                if ((r = want_type(f, 2, m->name, fd->json, err)) < 0)
                        return r;
                v = quantity_of(f->data, f->len);
                break;
        case PB_INTORSTRING:
                if ((r = want_type(f, 2, m->name, fd->json, err)) < 0)
                        return r;
                v = int_or_string_of(f->data, f->len);
                break;
        case PB_TIME:
                if ((r = want_type(f, 2, m->name, fd->json, err)) < 0)
                        return r;
                v = time_of(f->data, f->len);
                break;
        case PB_MAP_STRING:
        case PB_MAP_BYTES:
        case PB_MAP_QUANTITY: {
                if ((r = want_type(f, 2, m->name, fd->json, err)) < 0)
                        return r;
                json_t *map = json_object_get(obj, fd->json);
                if (map == NULL) {
                        map = json_object();
                        json_object_set_new(obj, fd->json, map);
                }
                enum pb_kind vk = fd->kind == PB_MAP_BYTES      ? PB_BYTES
                                  : fd->kind == PB_MAP_QUANTITY ? PB_QUANTITY
                                                                : PB_STRING;
                return decode_map_entry(f, vk, map, fd->json, err);
        }
        }
        if (v == NULL)
                return k8c_make_error(err, K8C_EBADREQUEST, "protobuf: malformed field %s of %s", fd->json,
                                      m->name);
        if (fd->flags & REPEATED) {
                json_t *arr = json_object_get(obj, fd->json);
                if (arr == NULL) {
                        arr = json_array();
                        json_object_set_new(obj, fd->json, arr);
                }
                json_array_append_new(arr, v);
                return 0;
        }
        json_object_set_new(obj, fd->json, v);
        return 0;
}

static int decode_msg(const uint8_t *data, size_t len, const struct pb_msg *m, json_t **ret, k8c_error_t *err)
{
        json_auto_t *obj = json_object();
        struct reader r = { data, data + len };
        while (r.p < r.end) {
                struct wire_field f;
                int rc = next_field(&r, &f, m->name, err);
                if (rc < 0)
                        return rc;
                const struct pb_field *fd = m->fields;
                while (fd->json != NULL && fd->num != f.num)
                        fd = fd + 1;
                if (fd->json == NULL)
                        return k8c_make_error(
                                err, K8C_EBADREQUEST,
                                "protobuf: field %u of %s is not supported by this server; send the "
                                "object as application/json",
                                f.num, m->name);
                if ((rc = decode_field(&f, fd, m, obj, err)) < 0)
                        return rc;
        }
        /* omitempty, except for pointer fields the client set on purpose. */
        for (const struct pb_field *fd = m->fields; fd->json != NULL; fd++) {
                json_t *v = json_object_get(obj, fd->json);
                if (v != NULL && !(fd->flags & KEEP) && is_empty(v))
                        json_object_del(obj, fd->json);
        }
        *ret = json_incref(obj);
        return 0;
}

int k8c_protobuf_to_json(const void *body, size_t len, json_t **ret, k8c_error_t *err)
{
        const uint8_t *p = body;
        if (len < 4 || memcmp(p, "k8s\0", 4) != 0)
                return k8c_make_error(
                        err, K8C_EBADREQUEST,
                        "protobuf: the body does not start with the Kubernetes magic \"k8s\\0\"");
        struct reader r = { p + 4, p + len };
        cleanup_free char *api_version = NULL, *kind = NULL, *encoding = NULL;
        const uint8_t *raw = NULL;
        size_t raw_len = 0;
        while (r.p < r.end) {
                struct wire_field f;
                int rc = next_field(&r, &f, "Unknown", err);
                if (rc < 0)
                        return rc;
                if (f.type != 2)
                        continue;
                if (f.num == 1) {
                        struct reader t = { f.data, f.data + f.len };
                        while (t.p < t.end) {
                                struct wire_field g;
                                if ((rc = next_field(&t, &g, "TypeMeta", err)) < 0)
                                        return rc;
                                if (g.type == 2 && g.num == 1) {
                                        free(api_version);
                                        api_version = k8c_xstrndup((const char *)g.data, g.len);
                                } else if (g.type == 2 && g.num == 2) {
                                        free(kind);
                                        kind = k8c_xstrndup((const char *)g.data, g.len);
                                }
                        }
                } else if (f.num == 2) {
                        raw = f.data;
                        raw_len = f.len;
                } else if (f.num == 3) {
                        free(encoding);
                        encoding = k8c_xstrndup((const char *)f.data, f.len);
                }
        }
        if (encoding != NULL && encoding[0] != '\0')
                return k8c_make_error(err, K8C_EUNSUPPORTEDMEDIATYPE,
                                      "protobuf: a content encoding (compression) is not supported");
        if (api_version == NULL || kind == NULL)
                return k8c_make_error(err, K8C_EBADREQUEST, "protobuf: the body has no apiVersion and kind");
        if (raw == NULL)
                return k8c_make_error(err, K8C_EBADREQUEST, "protobuf: the body holds no object");
        for (size_t i = 0; i < K8C_ARRAY_SIZE(kinds); i++) {
                if (strcmp(kinds[i].api_version, api_version) != 0 || strcmp(kinds[i].kind, kind) != 0)
                        continue;
                json_t *obj = NULL;
                int rc = decode_msg(raw, raw_len, kinds[i].msg, &obj, err);
                if (rc < 0)
                        return rc;
                /* apiVersion and kind lead, as in kubectl's JSON. */
                json_t *out = json_pack("{s:s, s:s}", "kind", kind, "apiVersion", api_version);
                json_object_update(out, obj);
                json_decref(obj);
                *ret = out;
                return 0;
        }
        return k8c_make_error(
                err, K8C_EUNSUPPORTEDMEDIATYPE,
                "the body of the request was in an unknown format - protobuf is accepted for "
                "Namespace, ConfigMap, Secret, Service, Deployment and HorizontalPodAutoscaler; "
                "accepted media types include: application/json, application/yaml");
}

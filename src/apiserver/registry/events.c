/*
 * events.c - core/v1 Event: the field selectors `kubectl describe` uses, the legacy event
 * validation core/v1 applies (namespaces agree; series-style events carry reporting fields),
 * and printEvent's (wide) row: Last Seen, Type, Reason, Object, Subobject, Source, Message,
 * First Seen, Count, Name.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"
#include "k8c/labels.h"
#include "k8c/names.h"

static const char *const ev_short_names[] = { "ev", NULL };
static const char *const ev_field_selectors[] = {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
        NULL,
};

/* path.ValidatePathSegmentName: the only ObjectMeta name rule events get. */
static void validate_event_meta(const json_t *obj, struct k8c_field_errors *errs)
{
        const char *name = k8c_reg_path_str(obj, "metadata.name");
        if (name == NULL || name[0] == '\0') {
                k8c_field_required(errs, "metadata.name", "name or generateName is required");
                return;
        }
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
                cleanup_free char *d = k8c_xasprintf("may not be '%s'", name);
                k8c_field_invalid_str(errs, "metadata.name", name, d);
        }
        if (strchr(name, '/') != NULL)
                k8c_field_invalid_str(errs, "metadata.name", name, "may not contain '/'");
        if (strchr(name, '%') != NULL)
                k8c_field_invalid_str(errs, "metadata.name", name, "may not contain '%'");
        const char *ns = k8c_reg_path_str(obj, "metadata.namespace");
        if (ns == NULL || ns[0] == '\0')
                k8c_field_required(errs, "metadata.namespace", "");
}

/* legacyValidateEvent, as core/v1 events get it (no further validation for that version). */
static void ev_validate(const json_t *obj, const struct k8c_registry_ctx *ctx, struct k8c_field_errors *errs)
{
        const char *ns = k8c_reg_path_str(obj, "metadata.namespace") ?: "";
        const char *ins = k8c_reg_path_str(obj, "involvedObject.namespace") ?: "";
        const char *event_time = k8c_reg_str0(obj, "eventTime");
        if (event_time[0] == '\0') {
                if (ins[0] == '\0' ? (ns[0] != '\0' && strcmp(ns, "default") != 0) : strcmp(ns, ins) != 0)
                        k8c_field_invalid_str(errs, "involvedObject.namespace", ins,
                                              "does not match event.namespace");
        } else {
                if (ins[0] == '\0' && strcmp(ns, "default") != 0 && strcmp(ns, "kube-system") != 0)
                        k8c_field_invalid_str(errs, "involvedObject.namespace", ins,
                                              "does not match event.namespace");
                const char *rc = k8c_reg_str0(obj, "reportingComponent");
                cleanup_free char *msg = NULL;
                if (rc[0] == '\0')
                        k8c_field_required(errs, "reportingComponent", "");
                if (!k8c_label_key_valid(rc, &msg))
                        k8c_field_invalid_str(errs, "reportingComponent", rc, msg);
                const char *ri = k8c_reg_str0(obj, "reportingInstance");
                if (ri[0] == '\0')
                        k8c_field_required(errs, "reportingInstance", "");
                if (strlen(ri) > 128)
                        k8c_field_invalid_str(errs, "reportingInstance", "",
                                              "can have at most 128 characters");
                const char *action = k8c_reg_str0(obj, "action");
                if (action[0] == '\0')
                        k8c_field_required(errs, "action", "");
                if (strlen(action) > 128)
                        k8c_field_invalid_str(errs, "action", "", "can have at most 128 characters");
                const char *reason = k8c_reg_str0(obj, "reason");
                if (reason[0] == '\0')
                        k8c_field_required(errs, "reason", "");
                if (strlen(reason) > 128)
                        k8c_field_invalid_str(errs, "reason", "", "can have at most 128 characters");
                if (strlen(k8c_reg_str0(obj, "message")) > 1024)
                        k8c_field_invalid_str(errs, "message", "", "can have at most 1024 characters");
        }
        char *msgs[2];
        size_t n = k8c_dns1123_subdomain_errors(ns, msgs);
        for (size_t i = 0; i < n; i++) {
                k8c_field_invalid_str(errs, "namespace", ns, msgs[i]);
                free(msgs[i]);
        }
        validate_event_meta(obj, errs);
}

static void ev_validate_update(const json_t *obj, const json_t *old, const struct k8c_registry_ctx *ctx,
                               struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_update(obj, old, errs);
}

static const struct k8c_table_column ev_columns[] = {
        { "Last Seen", "string", "", 0,
          "The time at which the most recent occurrence of this event was recorded." },
        { "Type", "string", "", 0,
          "Type of this event (Normal, Warning), new types could be added in the future" },
        { "Reason", "string", "", 0,
          "This should be a short, machine understandable string that gives the reason for the transition "
          "into "
          "the object's current status." },
        { "Object", "string", "", 0, "The object that this event is about." },
        { "Subobject", "string", "", 1,
          "If referring to a piece of an object instead of an entire object, this string should contain a "
          "valid JSON/Go field access statement, such as desiredState.manifest.containers[2]." },
        { "Source", "string", "", 1,
          "The component reporting this event. Should be a short machine understandable string." },
        { "Message", "string", "", 0, "A human-readable description of the status of this operation." },
        { "First Seen", "string", "", 1,
          "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)" },
        { "Count", "string", "", 1, "The number of times this event has occurred." },
        { "Name", "string", "name", 1, k8c_desc_name },
        K8C_COL_END,
};

static void ev_table_row(const json_t *obj, const struct k8c_registry_ctx *ctx, json_t *cells)
{
        const char *first_ts = k8c_reg_str(obj, "firstTimestamp");
        cleanup_free char *first = k8c_age_string(
                first_ts != NULL && first_ts[0] != '\0' ? first_ts : k8c_reg_str(obj, "eventTime"), ctx);
        const char *last_ts = k8c_reg_str(obj, "lastTimestamp");
        cleanup_free char *last =
                last_ts != NULL && last_ts[0] != '\0' ? k8c_age_string(last_ts, ctx) : k8c_xstrdup(first);
        json_int_t count = k8c_reg_int(obj, "count", 0);
        json_t *series = k8c_reg_obj(obj, "series");
        if (series != NULL) {
                free(last);
                last = k8c_age_string(k8c_reg_str(series, "lastObservedTime"), ctx);
                count = k8c_reg_int(series, "count", 0);
        } else if (count == 0) {
                count = 1;
        }
        json_t *io = k8c_reg_obj(obj, "involvedObject");
        cleanup_free char *kind = k8c_xstrdup(k8c_reg_str0(io, "kind"));
        for (char *c = kind; *c != '\0'; c++)
                *c = (char)tolower((unsigned char)*c);
        const char *iname = k8c_reg_str0(io, "name");
        cleanup_free char *target =
                iname[0] != '\0' ? k8c_xasprintf("%s/%s", kind, iname) : k8c_xstrdup(kind);

        const char *component = k8c_reg_path_str(obj, "source.component");
        if (component == NULL || component[0] == '\0')
                component = k8c_reg_str0(obj, "reportingComponent");
        const char *host = k8c_reg_path_str(obj, "source.host");
        if (host == NULL || host[0] == '\0')
                host = k8c_reg_str0(obj, "reportingInstance");
        cleanup_free char *source =
                host[0] != '\0' ? k8c_xasprintf("%s, %s", component, host) : k8c_xstrdup(component);

        /* strings.TrimSpace(message) */
        const char *msg = k8c_reg_str0(obj, "message");
        while (isspace((unsigned char)*msg))
                msg++;
        size_t mlen = strlen(msg);
        while (mlen > 0 && isspace((unsigned char)msg[mlen - 1]))
                mlen--;
        cleanup_free char *message = k8c_xstrndup(msg, mlen);

        json_array_append_new(cells, json_string(last));
        json_array_append_new(cells, json_string(k8c_reg_str0(obj, "type")));
        json_array_append_new(cells, json_string(k8c_reg_str0(obj, "reason")));
        json_array_append_new(cells, json_string(target));
        json_array_append_new(cells, json_string(k8c_reg_str0(io, "fieldPath")));
        json_array_append_new(cells, json_string(source));
        json_array_append_new(cells, json_string(message));
        json_array_append_new(cells, json_string(first));
        json_array_append_new(cells, json_integer(count));
        json_array_append_new(cells, json_string(k8c_reg_path_str(obj, "metadata.name") ?: ""));
}

const struct k8c_resource k8c_resource_events = {
        .group = "",
        .version = "v1",
        .kind = "Event",
        .list_kind = "EventList",
        .plural = "events",
        .singular = "event",
        .short_names = ev_short_names,
        .namespaced = true,
        .field_selectors = ev_field_selectors,
        .validate = ev_validate,
        .validate_update = ev_validate_update,
        .columns = ev_columns,
        .table_row = ev_table_row,
};

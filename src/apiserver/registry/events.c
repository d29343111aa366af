/*
 * events.c - core/v1 Event: the field selectors `kubectl describe` uses, validation of
 * the involved object's namespace, and printEvent's (wide) row: Last Seen, Type, Reason,
 * Object, Subobject, Source, Message, First Seen, Count, Name.
 */
#include <ctype.h>
#include <string.h>

#include "apiserver/registry/common.h"
#include "k8c/cleanup.h"

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

static void ev_validate(const json_t *obj, const struct k8c_registry_ctx *ctx, struct k8c_field_errors *errs)
{
        k8c_validate_object_meta_rule(obj, true, K8C_NAME_SUBDOMAIN, errs);
        const char *ins = k8c_reg_path_str(obj, "involvedObject.namespace");
        const char *ns = k8c_reg_path_str(obj, "metadata.namespace");
        if (ins != NULL && ins[0] != '\0' && ns != NULL && strcmp(ins, ns) != 0)
                k8c_field_invalid_str(errs, "involvedObject.namespace", ins,
                                      "does not match event.namespace");
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

/*
 * events.h - records core/v1 Events about objects (what a component did and
 * why), aggregating repeats into one Event with a growing count, as client-go's
 * EventRecorder does, so `kubectl describe` shows them.
 */
#ifndef K8C_EVENTS_H
#define K8C_EVENTS_H

#include <jansson.h>

#include "k8c/client.h"

struct k8c_event_recorder;

/* component: source.component, e.g. "default-scheduler"; host: source.host (may be NULL). */
struct k8c_event_recorder *k8c_event_recorder_new(struct k8c_client *client, const char *component,
                                                  const char *host);
void k8c_event_recorder_free(struct k8c_event_recorder *rec);

/* type: "Normal" or "Warning". Failures to record are returned but never fatal to callers. */
int k8c_event_record(struct k8c_event_recorder *rec, const json_t *involved, const char *type,
                     const char *reason, k8c_error_t *err, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));

/* The involvedObject reference of obj (kind, namespace, name, uid, apiVersion, resourceVersion). */
json_t *k8c_object_reference(const json_t *obj);

#endif

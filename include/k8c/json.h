/*
 * json.h - helpers over jansson: parsing with positions, dotted-path access,
 * compact serialisation. No hand-written JSON codec anywhere in k8c.
 */
#ifndef K8C_JSON_H
#define K8C_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "k8c/error.h"

/* Parses exactly one JSON value. On error: K8C_EBADREQUEST with a message like
 * "invalid JSON at line 3, column 7: '}' expected near ','". */
int k8c_json_parse(const char *buf, size_t len, json_t **ret, k8c_error_t *err);

/* Compact serialisation (no spaces, keys in insertion order). Never NULL. */
char *k8c_json_dumps(const json_t *v);

/* Path access with dots and [index]: "metadata.name", "spec.containers[0].image".
 * Map keys containing dots can be quoted with brackets: metadata.labels["app.kubernetes.io/name"].
 * Returns a borrowed reference or NULL. */
json_t *k8c_json_get(const json_t *root, const char *path);
const char *k8c_json_get_string(const json_t *root, const char *path); /* NULL if absent/not a string */
/* Integer at path, or def when absent or not an integer. */
json_int_t k8c_json_get_int(const json_t *root, const char *path, json_int_t def);
bool k8c_json_get_bool(const json_t *root, const char *path, bool def);

/* Creates intermediate objects as needed; steals value. Returns 0 or -1 (path through a non-object). */
int k8c_json_set_new(json_t *root, const char *path, json_t *value);

/* Object at key, created empty if absent (borrowed). NULL if present and not an object. */
json_t *k8c_json_object_ensure(json_t *obj, const char *key);

#endif

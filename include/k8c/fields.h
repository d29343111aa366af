/*
 * fields.h - field selectors ("metadata.name=x,status.phase!=Running",
 * "spec.nodeName=" matches empty/absent), matched against a JSON object.
 */
#ifndef K8C_FIELDS_H
#define K8C_FIELDS_H

#include <jansson.h>
#include <stdbool.h>

#include "k8c/error.h"

struct k8c_field_req {
        char *field; /* dotted path, e.g. "involvedObject.uid" */
        bool not_equals;
        char *value;
};

struct k8c_field_selector {
        struct k8c_field_req *reqs;
        size_t n;
};

/* Operators: =, ==, !=; comma = AND; backslash escapes ",", "=" and "\\" in values (as
 * Kubernetes' fields.ParseSelector: any other escape, or a bare "=" in a value, is an error).
 * K8C_EBADREQUEST on syntax errors ("invalid selector: ...", "invalid field selector: ...").
 * A term with neither field nor value ("=") is dropped. Requirements are kept sorted by
 * their canonical text. */
int k8c_field_selector_parse(const char *s, struct k8c_field_selector *ret, k8c_error_t *err);

/* Compares the field's value as a string: strings as-is, numbers and booleans in their
 * JSON text form, absent/null as "". */
bool k8c_field_selector_matches(const struct k8c_field_selector *sel, const json_t *obj);

/* true if every field of the selector is in allowed (NULL-terminated list); else false
 * and *bad_field points at the first disallowed one. */
bool k8c_field_selector_allowed(const struct k8c_field_selector *sel, const char *const *allowed,
                                const char **bad_field);

/* Canonical string ("a=b,c!=d", values escaped; "==" prints as "="). Caller frees. */
char *k8c_field_selector_string(const struct k8c_field_selector *sel);

bool k8c_field_selector_empty(const struct k8c_field_selector *sel);

/* Whether the selector requires field == some value; *ret_value then points into sel. */
bool k8c_field_selector_requires_exact_match(const struct k8c_field_selector *sel, const char *field,
                                             const char **ret_value);

/* The string form of the value at a dotted path, as matching sees it (caller frees). */
char *k8c_field_value(const json_t *obj, const char *path);

void k8c_field_selector_free(struct k8c_field_selector *sel);

#endif

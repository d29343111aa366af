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

/* Operators: =, ==, !=; comma = AND; backslash escapes ",", "=", "!" and "\\" in values.
 * K8C_EBADREQUEST on syntax errors ("invalid field selector: ..."). */
int k8c_field_selector_parse(const char *s, struct k8c_field_selector *ret, k8c_error_t *err);

/* Compares the field's value as a string: strings as-is, numbers and booleans in their
 * JSON text form, absent/null as "". */
bool k8c_field_selector_matches(const struct k8c_field_selector *sel, const json_t *obj);

/* true if every field of the selector is in allowed (NULL-terminated list); else false
 * and *bad_field points at the first disallowed one. */
bool k8c_field_selector_allowed(const struct k8c_field_selector *sel, const char *const *allowed,
                                const char **bad_field);

void k8c_field_selector_free(struct k8c_field_selector *sel);

#endif

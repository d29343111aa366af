/*
 * labels.h - label selectors (string grammar and matchLabels/matchExpressions),
 * matching, and validation of label keys/values and annotations.
 */
#ifndef K8C_LABELS_H
#define K8C_LABELS_H

#include <jansson.h>
#include <stdbool.h>

#include "k8c/error.h"

typedef enum {
        K8C_SEL_EQUALS,         /* k=v, k==v (printed as k=v), matchLabels */
        K8C_SEL_NOT_EQUALS,     /* k!=v */
        K8C_SEL_IN,             /* k in (a,b); also matchExpressions In, even with one value */
        K8C_SEL_NOT_IN,         /* k notin (a,b) */
        K8C_SEL_EXISTS,         /* k */
        K8C_SEL_DOES_NOT_EXIST, /* !k */
        K8C_SEL_GREATER_THAN,   /* k>5 (string grammar only; integer comparison) */
        K8C_SEL_LESS_THAN,      /* k<5 */
} k8c_sel_op_t;

struct k8c_sel_req {
        char *key;
        k8c_sel_op_t op;
        char **values; /* NULL-terminated, sorted */
        size_t nvalues;
};

/* A conjunction of requirements; empty selects everything. */
struct k8c_selector {
        struct k8c_sel_req *reqs;
        size_t n;
        bool nothing; /* matches nothing (a nil selector in LabelSelectorAsSelector terms) */
};

/* Parses the string form ("app=web,env in (a,b),!canary"). K8C_EBADREQUEST with a
 * message naming the position/token on error (e.g. "unable to parse requirement:
 * ..." as Kubernetes says). Validates keys and values. As in Kubernetes, "k in ()"
 * is accepted and means k in ("") (the empty value); "" selects everything. */
int k8c_selector_parse(const char *s, struct k8c_selector *ret, k8c_error_t *err);

/* From a metav1.LabelSelector JSON object ({matchLabels, matchExpressions}).
 * NULL json → matches nothing; {} → matches everything. K8C_EINVALID on bad input. */
int k8c_selector_from_json(const json_t *label_selector, struct k8c_selector *ret, k8c_error_t *err);

/* labels.SelectorFromSet: k=v for every member of a string → string object (a Service's
 * spec.selector, a ReplicationController's). NULL, null and {} select everything; no
 * validation of keys or values. K8C_EINVALID if set is not an object of strings. */
int k8c_selector_from_set(const json_t *set, struct k8c_selector *ret, k8c_error_t *err);

/* labels: JSON object of string → string (NULL = no labels). */
bool k8c_selector_matches(const struct k8c_selector *sel, const json_t *labels);
bool k8c_selector_empty(const struct k8c_selector *sel);

/* Canonical string form (requirements sorted by key), as Kubernetes prints it. Caller frees. */
char *k8c_selector_string(const struct k8c_selector *sel);

/* Whether the selector pins key to one value (k=v or k in (v)); *ret_value then points
 * into sel. As Kubernetes' RequiresExactMatch (first requirement on that key decides). */
bool k8c_selector_requires_exact_match(const struct k8c_selector *sel, const char *key,
                                       const char **ret_value);

void k8c_selector_free(struct k8c_selector *sel); /* frees members */

/* Validation. Each returns true when valid; otherwise false and, if msg is non-NULL,
 * a Kubernetes-worded reason in *msg (caller frees). */
bool k8c_label_key_valid(const char *key, char **msg);
bool k8c_label_value_valid(const char *value, char **msg);
/* Validates every key/value of a labels object; appends one message per bad entry
 * to causes (JSON array of {reason, field, message} as in Status details) under
 * field prefix (e.g. "metadata.labels"). Returns number of errors. */
int k8c_labels_validate(const json_t *labels, const char *field, json_t *causes);
/* Keys like labels; values free; total size of keys+values ≤ 256 KiB. */
int k8c_annotations_validate(const json_t *annotations, const char *field, json_t *causes);

/* Validates a metav1.LabelSelector object as Kubernetes' ValidateLabelSelector does
 * (matchLabels like labels; per matchExpressions[i]: operator In/NotIn/Exists/DoesNotExist,
 * values required for In/NotIn and forbidden for Exists/DoesNotExist, key and values
 * valid). Appends causes under field (e.g. "spec.selector"); NULL/null is valid.
 * Returns the number of errors. */
int k8c_label_selector_validate(const json_t *label_selector, const char *field, json_t *causes);

/* Go's %q of s (strconv.Quote), as Kubernetes prints bad values in messages. Caller frees. */
char *k8c_go_quote(const char *s);

#endif

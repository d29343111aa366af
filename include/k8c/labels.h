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
        K8C_SEL_EQUALS,         /* k=v, k==v, matchLabels, In with one value */
        K8C_SEL_NOT_EQUALS,     /* k!=v */
        K8C_SEL_IN,             /* k in (a,b) */
        K8C_SEL_NOT_IN,         /* k notin (a,b) */
        K8C_SEL_EXISTS,         /* k */
        K8C_SEL_DOES_NOT_EXIST, /* !k */
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
 * ..." as Kubernetes says). Validates keys and values. */
int k8c_selector_parse(const char *s, struct k8c_selector *ret, k8c_error_t *err);

/* From a metav1.LabelSelector JSON object ({matchLabels, matchExpressions}).
 * NULL json → matches nothing; {} → matches everything. K8C_EINVALID on bad input. */
int k8c_selector_from_json(const json_t *label_selector, struct k8c_selector *ret, k8c_error_t *err);

/* labels: JSON object of string → string (NULL = no labels). */
bool k8c_selector_matches(const struct k8c_selector *sel, const json_t *labels);
bool k8c_selector_empty(const struct k8c_selector *sel);

/* Canonical string form (requirements sorted by key), as Kubernetes prints it. Caller frees. */
char *k8c_selector_string(const struct k8c_selector *sel);

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

#endif

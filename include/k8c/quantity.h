/*
 * quantity.h - Kubernetes resource quantities ("100m", "0.5", "128Mi", "1G",
 * "1e3"): exact integer milli-units, canonical formatting as Kubernetes does it
 * (keeping the suffix family: binary SI, decimal SI, decimal exponent).
 */
#ifndef K8C_QUANTITY_H
#define K8C_QUANTITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "k8c/error.h"

typedef enum {
        K8C_QUANTITY_DECIMAL_SI = 0,   /* m, "", k, M, G, T, P, E */
        K8C_QUANTITY_BINARY_SI,        /* Ki, Mi, Gi, Ti, Pi, Ei */
        K8C_QUANTITY_DECIMAL_EXPONENT, /* e3, E6 */
} k8c_quantity_format_t;

typedef struct {
        int64_t milli; /* value × 1000, exact; sub-milli values round up as Kubernetes does */
        k8c_quantity_format_t format;
} k8c_quantity_t;

/* K8C_EINVALID with a message such as "quantities must match the regular expression
 * '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" or "quantity too large". */
int k8c_quantity_parse(const char *s, k8c_quantity_t *ret, k8c_error_t *err);

/* Canonical string ("100m", "1", "128Mi", "1500m", "1k"); caller frees. */
char *k8c_quantity_format(const k8c_quantity_t *q);

/* A quantity as it appears in an object (Quantity.UnmarshalJSON): a string (surrounding
 * whitespace ignored), a JSON number (its shortest decimal text, so 0.1 is 100m), or
 * null (zero). Anything else is K8C_EINVALID. */
int k8c_quantity_from_json(const json_t *v, k8c_quantity_t *ret, k8c_error_t *err);

int k8c_quantity_cmp(const k8c_quantity_t *a, const k8c_quantity_t *b);

/* q += y / q -= y, as Quantity.Add/Sub: a zero q takes y's format. On overflow returns
 * K8C_EINVALID ("quantity too large") and leaves q unchanged. */
int k8c_quantity_add(k8c_quantity_t *q, const k8c_quantity_t *y, k8c_error_t *err);
int k8c_quantity_sub(k8c_quantity_t *q, const k8c_quantity_t *y, k8c_error_t *err);

/* Whole units rounded up (cpu "100m" → 1, memory bytes exact). */
int64_t k8c_quantity_value(const k8c_quantity_t *q);
static inline int64_t k8c_quantity_milli(const k8c_quantity_t *q)
{
        return q->milli;
}

#endif

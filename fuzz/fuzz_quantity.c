/*
 * fuzz_quantity.c - libFuzzer target for k8c_quantity_parse/format: no crash or
 * sanitizer report on any input, and every accepted quantity prints a canonical
 * form that parses back to the same value. The text is a fixed point within one
 * suffix family; a binary quantity printed without a binary suffix ("3392000" for
 * 3312.5Ki, as Kubernetes prints it) reads back as decimal ("3392k"), and from
 * there on it is stable.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/quantity.h"

/* The same text as a JSON value (a number, or a string with whitespace) must give
 * what the plain parser gives for its text. */
static void from_json(const char *s)
{
        json_auto_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
        if (j == NULL)
                return;
        k8c_quantity_t q, sum = { 0, K8C_QUANTITY_DECIMAL_SI };
        if (k8c_quantity_from_json(j, &q, NULL) < 0)
                return;
        cleanup_free char *f = k8c_quantity_format(&q);
        k8c_quantity_t back;
        if (k8c_quantity_parse(f, &back, NULL) < 0 || back.milli != q.milli)
                abort();
        if (k8c_quantity_add(&sum, &q, NULL) == 0 && (sum.milli != q.milli || sum.format != q.format))
                abort();
        if (k8c_quantity_sub(&sum, &q, NULL) == 0 && sum.milli != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (memchr(data, '\0', size) != NULL)
                return 0; /* quantities are C strings */
        cleanup_free char *s = k8c_xstrndup((const char *)data, size);
        from_json(s);
        k8c_quantity_t q;
        cleanup_error k8c_error_t err = NULL;
        if (k8c_quantity_parse(s, &q, &err) < 0) {
                if (err == NULL || err->reason != K8C_EINVALID || err->msg == NULL)
                        abort();
                return 0;
        }
        cleanup_free char *f1 = k8c_quantity_format(&q);
        k8c_quantity_t q2;
        if (k8c_quantity_parse(f1, &q2, NULL) < 0)
                abort();
        if (q2.milli != q.milli || k8c_quantity_cmp(&q, &q2) != 0)
                abort();
        cleanup_free char *f2 = k8c_quantity_format(&q2);
        if (q2.format == q.format && strcmp(f1, f2) != 0)
                abort();
        k8c_quantity_t q3;
        if (k8c_quantity_parse(f2, &q3, NULL) < 0 || q3.milli != q.milli)
                abort();
        cleanup_free char *f3 = k8c_quantity_format(&q3);
        if (strcmp(f2, f3) != 0)
                abort();
        /* Value() rounds away from zero: never smaller in magnitude than milli/1000 */
        int64_t v = k8c_quantity_value(&q);
        if ((q.milli > 0 && (v <= 0 || v < q.milli / 1000)) ||
            (q.milli < 0 && (v >= 0 || v > q.milli / 1000)))
                abort();
        return 0;
}

/*
 * fuzz_selector.c - libFuzzer target for the label and field selector parsers:
 * no crash or sanitizer report on any input, and for each parser, parse → string
 * → parse gives back the same string (the canonical form is a fixed point).
 * The first byte picks what else to exercise: matching against a fixed object,
 * and, when the rest is JSON, LabelSelector conversion and validation.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/fields.h"
#include "k8c/labels.h"

static json_t *sample(void)
{
        static json_t *obj;
        if (obj == NULL)
                obj = json_loads("{\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"web\",\"tier\":\"\","
                                 "\"n\":\"5\",\"in\":\"notin\"}},\"spec\":{\"nodeName\":\"node-1\",\"x\":1}}",
                                 0, NULL);
        return obj;
}

static void label_roundtrip(const char *s)
{
        struct k8c_selector sel = { 0 };
        cleanup_error k8c_error_t err = NULL;
        if (k8c_selector_parse(s, &sel, &err) < 0) {
                if (err == NULL || err->reason != K8C_EBADREQUEST)
                        abort();
                return;
        }
        cleanup_free char *s1 = k8c_selector_string(&sel);
        struct k8c_selector again = { 0 };
        if (k8c_selector_parse(s1, &again, NULL) < 0)
                abort();
        cleanup_free char *s2 = k8c_selector_string(&again);
        if (strcmp(s1, s2) != 0)
                abort();
        json_t *labels = json_object_get(json_object_get(sample(), "metadata"), "labels");
        if (k8c_selector_matches(&sel, labels) != k8c_selector_matches(&again, labels))
                abort();
        k8c_selector_free(&again);
        k8c_selector_free(&sel);
}

static void field_roundtrip(const char *s)
{
        struct k8c_field_selector sel = { 0 };
        cleanup_error k8c_error_t err = NULL;
        if (k8c_field_selector_parse(s, &sel, &err) < 0) {
                if (err == NULL || err->reason != K8C_EBADREQUEST)
                        abort();
                return;
        }
        cleanup_free char *s1 = k8c_field_selector_string(&sel);
        struct k8c_field_selector again = { 0 };
        if (k8c_field_selector_parse(s1, &again, NULL) < 0)
                abort();
        cleanup_free char *s2 = k8c_field_selector_string(&again);
        if (strcmp(s1, s2) != 0)
                abort();
        if (k8c_field_selector_matches(&sel, sample()) != k8c_field_selector_matches(&again, sample()))
                abort();
        k8c_field_selector_free(&again);
        k8c_field_selector_free(&sel);
}

static void label_selector_json(const char *s)
{
        json_auto_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
        if (j == NULL)
                return;
        json_auto_t *causes = json_array();
        int nerr = k8c_label_selector_validate(j, "spec.selector", causes);
        if (nerr != (int)json_array_size(causes))
                abort();
        struct k8c_selector sel = { 0 };
        int r = k8c_selector_from_json(j, &sel, NULL);
        /* an object that validates converts, and one that does not is rejected */
        if (json_is_object(j) && (r == 0) != (nerr == 0))
                abort();
        if (r == 0) {
                cleanup_free char *str = k8c_selector_string(&sel);
                k8c_selector_matches(&sel, json_object_get(json_object_get(sample(), "metadata"), "labels"));
                k8c_selector_free(&sel);
        }
        json_auto_t *c2 = json_array();
        k8c_labels_validate(j, "metadata.labels", c2);
        k8c_annotations_validate(j, "metadata.annotations", c2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0 || memchr(data, '\0', size) != NULL)
                return 0;
        uint8_t mode = data[0];
        cleanup_free char *s = k8c_xstrndup((const char *)data + 1, size - 1);
        label_roundtrip(s);
        field_roundtrip(s);
        if (mode & 1)
                label_selector_json(s);
        return 0;
}

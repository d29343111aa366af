/*
 * fuzz_protobuf.c - libFuzzer target for the protobuf request decoder: no crash,
 * leak or sanitizer report on any body, an object only on success, and every object
 * it returns serializes to JSON that parses back to an equal object.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "apiserver/protobuf.h"
#include "k8c/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *obj = NULL;
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_protobuf_to_json(data, size, &obj, &err);
        if (r < 0) {
                if (obj != NULL || err == NULL)
                        abort();
                return 0;
        }
        if (obj == NULL || !json_is_object(obj))
                abort();
        char *s = json_dumps(obj, JSON_ENCODE_ANY);
        if (s == NULL)
                abort();
        json_t *back = json_loads(s, 0, NULL);
        if (back == NULL || !json_equal(back, obj))
                abort();
        json_decref(back);
        free(s);
        json_decref(obj);
        return 0;
}

/*
 * fuzz_yaml.c - libFuzzer target for yaml.c: any input must either convert
 * (and then render back to YAML that converts to the same JSON) or fail with
 * a BadRequest error; never crash, leak or loop.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        k8c_error_t err = NULL;
        json_t *docs = NULL;
        int r = k8c_yaml_to_json_docs((const char *)data, size, &docs, &err);
        if (r < 0) {
                if (k8c_error_reason(&err) != K8C_EBADREQUEST ||
                    strncmp(k8c_error_msg(&err), "yaml: ", 6) != 0)
                        abort();
                k8c_error_release(&err);
                return 0;
        }
        size_t i;
        json_t *doc;
        json_array_foreach(docs, i, doc)
        {
                char *y = k8c_json_to_yaml(doc);
                json_t *back = NULL;
                /* Our own output must read back, as the same value. */
                if (k8c_yaml_to_json(y, strlen(y), &back, &err) < 0)
                        abort();
                if (!json_equal(doc, back)) {
                        /* Reals may print shorter than they parse (1.0 -> 1): compare the dumps too. */
                        char *a = k8c_json_dumps(doc), *b = k8c_json_dumps(back);
                        int same = strcmp(a, b) == 0;
                        free(a);
                        free(b);
                        if (!same)
                                abort();
                }
                json_decref(back);
                free(y);
        }
        json_decref(docs);
        return 0;
}

/*
 * zz_stopgap.c - TEMPORARY stand-in so the apiserver links before the
 * lib-json-yaml branch brings src/lib/yaml.c: YAML request bodies are refused
 * with 415 until then. Delete this file when yaml.c lands (duplicate symbol).
 */
#include "k8c/yaml.h"

int k8c_yaml_to_json(const char *buf, size_t len, json_t **ret, k8c_error_t *err)
{
        return k8c_make_error(err, K8C_EUNSUPPORTEDMEDIATYPE, "YAML request bodies are not supported yet");
}

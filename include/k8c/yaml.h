/*
 * yaml.h - YAML to JSON over libyaml, with the YAML 1.1 typing Kubernetes
 * manifests rely on: plain 80 is a number, "80" stays a string, true/false
 * (and yes/no/on/off) are booleans, null/~/empty are null; anchors and aliases;
 * block and flow styles; multi-document streams separated by ---.
 */
#ifndef K8C_YAML_H
#define K8C_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "k8c/error.h"

/* Every document of the stream, as a JSON array (empty documents are skipped).
 * Errors are K8C_EBADREQUEST with "yaml: line L, column C: problem" (1-based). */
int k8c_yaml_to_json_docs(const char *buf, size_t len, json_t **ret_array, k8c_error_t *err);

/* Exactly one document (an error if the stream holds more than one). */
int k8c_yaml_to_json(const char *buf, size_t len, json_t **ret, k8c_error_t *err);

/* JSON to block-style YAML text as kubectl -o yaml prints it. Never NULL. */
char *k8c_json_to_yaml(const json_t *v);

#endif

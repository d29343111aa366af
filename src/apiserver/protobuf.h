/*
 * protobuf.h - decoding application/vnd.kubernetes.protobuf request bodies (the
 * kinds kubectl's typed clients send) into the equivalent JSON object.
 */
#ifndef K8C_APISERVER_PROTOBUF_H
#define K8C_APISERVER_PROTOBUF_H

#include <jansson.h>
#include <stddef.h>

#include "k8c/error.h"

/* body: "k8s\0" + runtime.Unknown. Returns 0 and a new object with kind and apiVersion, or -1
 * with a BadRequest (malformed, or a field this server does not know) or UnsupportedMediaType
 * (a kind it cannot decode). */
int k8c_protobuf_to_json(const void *body, size_t len, json_t **ret, k8c_error_t *err);

#endif

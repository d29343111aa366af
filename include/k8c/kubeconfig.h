/*
 * kubeconfig.h - reads kubectl's kubeconfig (clusters, users, contexts,
 * current-context), honouring --kubeconfig, then $KUBECONFIG (first existing
 * file of a ':'-list, merged as kubectl does), then ~/.kube/config.
 */
#ifndef K8C_KUBECONFIG_H
#define K8C_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "k8c/error.h"

/* The resolved connection settings of one context. Paths are absolute (relative paths in
 * the file are resolved against the file's directory). *_data fields are decoded bytes. */
struct k8c_kubeconfig {
        char *context;    /* name of the context used */
        char *cluster;    /* cluster name */
        char *user;       /* user name */
        char *namespace_; /* context namespace (NULL if unset) */
        char *server;
        char *certificate_authority;      /* path */
        char *certificate_authority_data; /* PEM bytes */
        size_t certificate_authority_data_len;
        bool insecure_skip_tls_verify;
        char *client_certificate;      /* path */
        char *client_certificate_data; /* PEM bytes */
        size_t client_certificate_data_len;
        char *client_key;
        char *client_key_data;
        size_t client_key_data_len;
        char *token;
};

/* path: explicit --kubeconfig (NULL = $KUBECONFIG, then ~/.kube/config). context: NULL =
 * current-context. server_override: --server (replaces the cluster's server; with no file
 * at all, a config holding only this server is returned). */
int k8c_kubeconfig_load(const char *path, const char *context, const char *server_override,
                        struct k8c_kubeconfig *ret, k8c_error_t *err);
void k8c_kubeconfig_free(struct k8c_kubeconfig *kc);

#endif

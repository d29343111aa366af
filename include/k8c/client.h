/*
 * client.h - the API client every component uses to talk to the apiserver:
 * JSON requests over libcurl (connection reuse, TLS/token from a kubeconfig),
 * Status errors turned into k8c_error_t, retries with back-off on connection
 * errors and 429/5xx, and streaming watches decoded one event per line.
 */
#ifndef K8C_CLIENT_H
#define K8C_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "k8c/error.h"

struct k8c_client;

/* libcurl's global init, once per process and cheaper than curl_global_init
 * alone (see client.c); every user of libcurl calls it before curl_easy_init. */
void k8c_curl_global_init(void);

struct k8c_client_config {
        const char *server; /* "http://127.0.0.1:6443" */
        const char *ca_file;
        const char *ca_data; /* PEM */
        size_t ca_data_len;
        const char *cert_file;
        const char *cert_data;
        size_t cert_data_len;
        const char *key_file;
        const char *key_data;
        size_t key_data_len;
        const char *token;
        bool insecure_skip_tls_verify;
        long timeout_ms; /* per request (not watches); 0 = 30 s */
        int max_retries; /* on connection errors / 429 / 5xx; 0 = 5 */
        const char *user_agent;
};

int k8c_client_new(const struct k8c_client_config *cfg, struct k8c_client **ret, k8c_error_t *err);
/* From --kubeconfig/$KUBECONFIG/~/.kube/config, context (NULL = current) and --server override. */
int k8c_client_new_from_kubeconfig(const char *kubeconfig, const char *context, const char *server,
                                   struct k8c_client **ret, k8c_error_t *err);
void k8c_client_free(struct k8c_client *c);
const char *k8c_client_server(const struct k8c_client *c);

struct k8c_response {
        long code;
        json_t *body; /* parsed JSON (NULL if the body was empty or not JSON) */
        char *raw;    /* raw body bytes, NUL-terminated */
        size_t raw_len;
        char *warning; /* "Warning" header value, if any */
};
void k8c_response_free(struct k8c_response *r);

/* Sends one request. body (may be NULL) is serialised as JSON with content_type
 * (NULL = application/json). Any 2xx fills *ret (if non-NULL) and returns 0; a
 * non-2xx answer returns the Status' reason as an error whose message is the
 * Status message (and *ret still holds the response when ret is non-NULL). */
int k8c_client_do(struct k8c_client *c, const char *method, const char *path, const json_t *body,
                  const char *content_type, struct k8c_response *ret, k8c_error_t *err);

/* What a caller may choose about one request beyond method, path and JSON body. */
struct k8c_request_opts {
        const char *accept;       /* NULL = application/json (e.g. the Table Accept of kubectl) */
        const char *content_type; /* NULL = application/json */
        const char *raw_body;     /* sent as-is instead of the JSON body (raw_body_len bytes) */
        size_t raw_body_len;
        long timeout_ms; /* 0 = the client's timeout */
};

/* k8c_client_do with options (opts may be NULL). */
int k8c_client_do_opts(struct k8c_client *c, const char *method, const char *path, const json_t *body,
                       const struct k8c_request_opts *opts, struct k8c_response *ret, k8c_error_t *err);

/* Shorthands returning the parsed body (caller decrefs). */
int k8c_client_get(struct k8c_client *c, const char *path, json_t **ret, k8c_error_t *err);
int k8c_client_post(struct k8c_client *c, const char *path, const json_t *body, json_t **ret,
                    k8c_error_t *err);
int k8c_client_put(struct k8c_client *c, const char *path, const json_t *body, json_t **ret,
                   k8c_error_t *err);
int k8c_client_patch(struct k8c_client *c, const char *path, const char *patch_type, const json_t *body,
                     json_t **ret, k8c_error_t *err);
int k8c_client_delete(struct k8c_client *c, const char *path, const json_t *options, json_t **ret,
                      k8c_error_t *err);

/* Error from a Status JSON object (reason/code/message); used by the client and tests. */
int k8c_error_from_status(const json_t *status, long http_code, k8c_error_t *err);

/* ---- watch streams ---- */

/* Called for each event: type is "ADDED", "MODIFIED", "DELETED", "BOOKMARK" or "ERROR";
 * object is borrowed. Return non-zero to stop the watch. */
typedef int (*k8c_watch_fn)(void *opaque, const char *type, json_t *object);

/* Incremental decoder of the one-JSON-event-per-line stream: chunks may split anywhere. */
struct k8c_watch_decoder {
        char *buf;
        size_t len, cap;
        k8c_watch_fn fn;
        void *opaque;
        bool stopped;
};
void k8c_watch_decoder_init(struct k8c_watch_decoder *d, k8c_watch_fn fn, void *opaque);
/* Returns 0, 1 when the callback asked to stop, or a negative error (malformed event). */
int k8c_watch_decoder_feed(struct k8c_watch_decoder *d, const char *data, size_t n, k8c_error_t *err);
void k8c_watch_decoder_free(struct k8c_watch_decoder *d);

/* Runs a watch request (path including ?watch=true&...) until the server closes the
 * stream (returns 0), the callback stops it (returns 1), *stop becomes true (checked
 * at least every 200 ms; returns 1), or an error (negative; a non-200 answer carries
 * the Status reason, e.g. K8C_EEXPIRED / K8C_EGONE for 410). Uses its own connection. */
int k8c_client_watch(struct k8c_client *c, const char *path, k8c_watch_fn fn, void *opaque,
                     const volatile bool *stop, k8c_error_t *err);

/* k8c_client_watch with options (opts may be NULL; accept is used, the rest ignored). When
 * ret_reply is non-NULL it receives the answer's HTTP code (0: no answer, the server was not
 * reached) and, for a non-200 answer, its body (raw, and parsed when JSON). */
int k8c_client_watch_opts(struct k8c_client *c, const char *path, const struct k8c_request_opts *opts,
                          k8c_watch_fn fn, void *opaque, const volatile bool *stop,
                          struct k8c_response *ret_reply, k8c_error_t *err);

/* URL-encodes a query value (form encoding as kubectl does). Caller frees. */
char *k8c_url_escape(const char *s);

#endif

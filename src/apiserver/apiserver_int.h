/*
 * apiserver_int.h - what the pieces of k8c-apiserver share: the server state,
 * one HTTP request as the REST layer sees it, and the entry points of each
 * piece (router, REST, watch cache, discovery, service allocator, metrics).
 * Internal to src/apiserver/; nothing outside the daemon includes it.
 */
#ifndef K8C_APISERVER_INT_H
#define K8C_APISERVER_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "apiserver/registry.h"
#include "k8c/apiserver.h"
#include "k8c/error.h"
#include "k8c/store.h"

struct k8c_watch_cache;
struct k8c_metrics;

struct k8c_apiserver {
        struct k8c_apiserver_config cfg;
        struct k8c_store *store;
        struct k8c_watch_cache *wc;
        struct k8c_metrics *metrics;
        struct MHD_Daemon *mhd;
        volatile int ready;
        volatile int stopping;
        /* Serialises Service ClusterIP/NodePort allocation (scan + create). */
        pthread_mutex_t alloc_lock;
        /* The Event TTL sweeper (eventttl.c). */
        pthread_t ttl_thread;
        pthread_mutex_t ttl_lock;
        pthread_cond_t ttl_cond;
        bool ttl_stop, ttl_running;
};

/* One request, filled by the HTTP layer and answered by the handlers. */
struct k8c_req {
        struct k8c_apiserver *srv;
        struct MHD_Connection *conn;
        const char *method;
        const char *url;
        char *body;
        size_t body_len, body_cap;
        bool body_too_large;
        int64_t start_us;

        /* The reply: either a JSON document or a streaming response. */
        int code;
        json_t *reply;
        char *reply_text; /* pre-serialised reply (used when non-NULL) */
        const char *content_type;
        char *warning; /* Warning header value, or NULL */
        struct MHD_Response *stream;

        /* For metrics. */
        const char *verb;
        char resource[96];
};

/* ---- status.c ---- */
/* A Status object for an error. details may be NULL; name/group/kind are optional. */
json_t *k8c_status_new(k8c_reason_t reason, const char *message, const char *name, const char *group,
                       const char *kind, json_t *causes);
/* Makes req's reply a Status for err. */
void k8c_req_fail(struct k8c_req *req, k8c_error_t *err, const char *name, const char *group,
                  const char *kind, json_t *causes);
void k8c_req_fail_msg(struct k8c_req *req, k8c_reason_t reason, const char *message);
void k8c_req_reply(struct k8c_req *req, int code, json_t *reply); /* steals reply */
const char *k8c_req_query(struct k8c_req *req, const char *name);
const char *k8c_req_header(struct k8c_req *req, const char *name);

/* ---- router.c ---- */
void k8c_route(struct k8c_req *req);

/* ---- rest.c ---- */
struct k8c_target {
        const struct k8c_resource *res;
        const char *ns;   /* NULL when none in the URL */
        const char *name; /* NULL for collections */
        const char *sub;  /* subresource or NULL */
};
void k8c_rest_handle(struct k8c_req *req, const struct k8c_target *t);
/* Storage key of an object or prefix of a collection ("/registry/core/pods/ns/" ...). */
char *k8c_rest_key(const struct k8c_resource *res, const char *ns, const char *name);
/* Reads an object from storage with metadata.resourceVersion set from the kv. */
int k8c_rest_decode(const struct k8c_kv *kv, json_t **ret, k8c_error_t *err);
/* Creates default namespaces and the kubernetes service at first start. */
int k8c_rest_bootstrap(struct k8c_apiserver *srv, k8c_error_t *err);
void k8c_registry_ctx_init(struct k8c_apiserver *srv, struct k8c_registry_ctx *ctx);
/* Builds one Table row {cells, object} for obj per includeObject. */
json_t *k8c_table_row(const struct k8c_resource *res, const json_t *obj, const char *include_object,
                      const struct k8c_registry_ctx *ctx);
json_t *k8c_table_columns(const struct k8c_resource *res);
bool k8c_req_wants_table(struct k8c_req *req);

/* ---- watch.c ---- */
int k8c_watch_cache_start(struct k8c_apiserver *srv, k8c_error_t *err);
/* Ends every watch stream (resuming suspended ones) and stops the storage watch. */
void k8c_watch_cache_stop(struct k8c_apiserver *srv);
/* After the HTTP daemon is gone. */
void k8c_watch_cache_free(struct k8c_apiserver *srv);
size_t k8c_watch_cache_watchers(struct k8c_apiserver *srv);
uint64_t k8c_watch_cache_dropped(struct k8c_apiserver *srv);
/* Serves a watch request for target t (label/field selectors already parsed by the caller). */
struct k8c_selector;
struct k8c_field_selector;
void k8c_watch_serve(struct k8c_req *req, const struct k8c_target *t, struct k8c_selector *lsel,
                     struct k8c_field_selector *fsel);

/* ---- discovery.c ---- */
void k8c_discovery_handle(struct k8c_req *req, char **segs, size_t nsegs);

/* ---- alloc.c ---- */
/* Service create: allocates/validates clusterIP(s) and nodePorts in obj; adds field errors. */
int k8c_service_allocate(struct k8c_apiserver *srv, json_t *obj, const json_t *old,
                         struct k8c_field_errors *errs, k8c_error_t *err);

/* ---- eventttl.c ---- */
/* Deletes the stored Events last active more than cfg.event_ttl_ms before now; returns how many. */
int k8c_event_ttl_sweep(struct k8c_apiserver *srv, time_t now, k8c_error_t *err);
/* Starts / stops (joins) the thread that sweeps every event_ttl/2 (between 100 ms and 60 s). */
int k8c_event_ttl_start(struct k8c_apiserver *srv, k8c_error_t *err);
void k8c_event_ttl_stop(struct k8c_apiserver *srv);

/* ---- patch.c ---- */
/* Applies a PATCH body of content_type (merge, strategic-merge, apply-patch, json-patch) to old.
 * K8C_EUNSUPPORTEDMEDIATYPE for other types, K8C_EBADREQUEST for bad bodies. */
int k8c_patch_apply(const char *content_type, const json_t *old, const char *body, size_t len, json_t **ret,
                    k8c_error_t *err);

/* ---- proxy.c ---- */
/* True for pods/{name}/log, exec and portforward, which go to the pod's kubelet. */
bool k8c_proxy_handles(const struct k8c_target *t);
void k8c_proxy_handle(struct k8c_req *req, const struct k8c_target *t);
/* Ends the relays of upgraded connections (before MHD_stop_daemon). */
void k8c_proxy_stop(struct k8c_apiserver *srv);

/* ---- knownfields.c ---- */
/* Removes fields the kind's schema does not know from obj and returns their dotted paths
 * (NULL-terminated, NULL when none) in *ret_unknown. Kinds without a table keep everything. */
void k8c_known_fields_prune(const char *kind, json_t *obj, char ***ret_unknown);

/* ---- metrics.c ---- */
int k8c_metrics_new(struct k8c_metrics **ret);
void k8c_metrics_free(struct k8c_metrics *m);
void k8c_metrics_observe(struct k8c_metrics *m, const char *verb, const char *resource, int code,
                         double seconds);
char *k8c_metrics_render(struct k8c_apiserver *srv);

#endif

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
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "apiserver/registry.h"
#include "k8c/apiserver.h"
#include "k8c/strmap.h"
#include "k8c/error.h"
#include "k8c/store.h"

struct k8c_watch_cache;
struct k8c_metrics;

/* Which Service addresses and node ports are taken (alloc.c), under alloc_lock. */
struct k8c_service_index {
        bool built;
        time_t built_at;
        uint32_t ip_base, ip_size; /* --service-cluster-ip-range */
        uint64_t *ip_bits;         /* bit i: ip_base + i is taken (network and broadcast always) */
        uint32_t ip_hint;          /* every ordinary offset (>= 2) below it is taken */
        int port_lo, port_hi;      /* --service-node-port-range */
        uint64_t *port_bits;       /* bit i: port_lo + i is taken */
        uint32_t port_hint;        /* every port offset below it is taken */
        unsigned inflight;         /* writes between allocate/begin and done */
        bool stale;                /* to be read from storage again (another writer seen) */
        bool draining;             /* a rebuild waits for inflight to reach 0 */
        uint64_t builds;           /* times it was read from storage (for /metrics) */
};

struct k8c_apiserver {
        struct k8c_apiserver_config cfg;
        struct k8c_store *store;
        struct k8c_watch_cache *wc;
        struct k8c_metrics *metrics;
        struct MHD_Daemon *mhd;
        volatile int ready;
        volatile int stopping;
        /* Asynchronous creates queued to storage and not yet called back: the HTTP daemon may only
         * stop once none is left (a suspended connection at MHD_stop_daemon is fatal). */
        atomic_int async_pending;
        /* Guards alloc_index (Service ClusterIP/NodePort allocation, alloc.c); alloc_cond
         * signals that no Service write is in flight or a rebuild finished. */
        pthread_mutex_t alloc_lock;
        pthread_cond_t alloc_cond;
        struct k8c_service_index alloc_index;
        /* Namespaces the watch cache has seen stored and not terminating (names; no values). */
        pthread_mutex_t ns_lock;
        struct k8c_strmap ns_active;
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
        size_t reply_len; /* its length, or 0 to take strlen(reply_text) */
        /* A reply sent as head + body + tail without joining them (large lists); owned. */
        char *reply_head, *reply_body;
        size_t reply_head_len, reply_body_len;
        const char *reply_tail; /* static */
        const char *content_type;
        char *warning; /* Warning header value, or NULL */
        struct MHD_Response *stream;

        /* Server-side apply: the applied configuration (borrowed) while a PATCH applies it, and
         * whether it was refused for conflicts (not retried like a lost write race). */
        const json_t *apply_config;
        bool apply_conflict;
        /* The text the last update of this request stored (its reply can be that text). */
        char *stored_text;

        /* An asynchronous create (rest.c): queued to storage with the connection suspended, so the
         * HTTP thread serves other connections meanwhile; storage's callback records the result
         * and resumes the connection, and the next call of the access handler answers. */
        int async_state; /* ASYNC_NONE, ASYNC_QUEUED, ASYNC_DONE */
        const struct k8c_resource *async_res;
        char *async_key, *async_text, *async_name;
        int async_rc;
        int64_t async_rev;
        k8c_error_t async_err;

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
/* A JSON reply sent as the concatenation head + body + tail (head and body are stolen; tail is
 * static), so a large body built in its own buffer is not copied again. */
void k8c_req_reply_parts(struct k8c_req *req, int code, char *head, size_t head_len, char *body,
                         size_t body_len, const char *tail);
const char *k8c_req_query(struct k8c_req *req, const char *name);
const char *k8c_req_header(struct k8c_req *req, const char *name);

enum { ASYNC_NONE, ASYNC_QUEUED, ASYNC_DONE };
/* Answers a request whose asynchronous create storage has called back (req->async_state ==
 * ASYNC_DONE), on the access handler's call after the resume. */
void k8c_rest_async_finish(struct k8c_req *req);

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

/* ---- metrics_api.c ---- */
/* Serves /apis/metrics.k8s.io/...; false when the path is not in that group. */
bool k8c_metrics_api_handle(struct k8c_req *req, char **segs, size_t nsegs);
/* The group's APIGroup entry (for /apis) and aggregated-discovery item. */
json_t *k8c_metrics_api_group(void);
json_t *k8c_metrics_api_aggregated(void);

/* ---- alloc.c ---- */
/* The namespace cache: whether each namespace is active (stored, not terminating) as of the
 * revision it was last seen at. watch.c feeds it from the one storage watch and rest.c from its
 * storage reads; a state older than the one held is ignored, so a late read never revives a
 * namespace a newer event deleted. A create in a namespace known active skips the storage read;
 * any other answer is looked up in storage. Cleared when the storage watch lost events. */
void k8c_ns_cache_note(struct k8c_apiserver *srv, const char *ns, int64_t rev, bool active);
void k8c_ns_cache_note_event(struct k8c_apiserver *srv, const char *key, const char *text, int64_t rev,
                             bool deleted);
bool k8c_ns_cache_active(struct k8c_apiserver *srv, const char *ns);
void k8c_ns_cache_reset(struct k8c_apiserver *srv);

/* Service create/update (old NULL on create): allocates/validates clusterIP(s) and nodePorts in
 * obj; adds field errors. When it returns 0 without adding field errors, what obj holds beyond old
 * is reserved and the caller must call k8c_service_alloc_done() once, whatever the write does. */
int k8c_service_allocate(struct k8c_apiserver *srv, json_t *obj, const json_t *old,
                         struct k8c_field_errors *errs, k8c_error_t *err);
/* Before a Service delete goes to storage; k8c_service_alloc_done(srv, old, NULL, r, err, true)
 * follows it. */
void k8c_service_alloc_begin(struct k8c_apiserver *srv);
/* After the store write of a Service from old (NULL on create) to obj (NULL for a delete): r < 0
 * when nothing was stored (also dry runs; err may then be NULL), removed when the write deleted
 * the Service. Frees what the write gave up, or the reservation of a write not stored. A stored
 * create's obj is not read (create_object may have emptied it). */
void k8c_service_alloc_done(struct k8c_apiserver *srv, const json_t *old, const json_t *obj, int r,
                            const k8c_error_t *err, bool removed);
/* How many times the index was read from storage (the first allocation, and rebuilds). */
uint64_t k8c_service_index_builds(struct k8c_apiserver *srv);
void k8c_service_index_free(struct k8c_service_index *x);

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

/* ---- managedfields.c ---- */
/* Who writes, for metadata.managedFields. */
struct k8c_mf_writer {
        const char *kind;        /* the resource's kind (selects its list keys and maps) */
        const char *manager;     /* fieldManager, else the User-Agent's product */
        const char *api_version; /* of the request ("v1", "apps/v1") */
        const char *subresource; /* NULL or "status", ... */
        bool force;              /* apply: take fields other managers own */
};
/* An Update by w from old (NULL on create) to obj: the fields it changed become w's and leave the
 * other managers; sets obj's metadata.managedFields. */
void k8c_managed_fields_update(json_t *obj, const json_t *old, const struct k8c_mf_writer *w, time_t now);
/* An Apply of config by w that turned old (NULL on create) into obj: K8C_ECONFLICT with
 * FieldManagerConflict causes when it changes fields other managers own (unless w->force);
 * removes from obj the fields w applied before, no longer applies and nobody else owns; sets
 * obj's metadata.managedFields. */
int k8c_managed_fields_apply(json_t *obj, const json_t *old, const json_t *config,
                             const struct k8c_mf_writer *w, time_t now, json_t **ret_causes,
                             k8c_error_t *err);
/* Removes from obj every field of a FieldsV1 set. */
void k8c_fields_remove(json_t *obj, const json_t *set, const char *kind);

/* ---- splice.c ---- */
/* A growing text buffer (always NUL-terminated once anything was added). */
struct k8c_textbuf {
        char *p;
        size_t len, cap;
};
void k8c_textbuf_reserve(struct k8c_textbuf *b, size_t more);
void k8c_textbuf_add(struct k8c_textbuf *b, const char *s, size_t n);
void k8c_textbuf_adds(struct k8c_textbuf *b, const char *s);
/* Where metadata (and its labels) lie in a stored object's text. */
struct k8c_meta_span {
        size_t meta_start;   /* the '{' of metadata */
        bool meta_empty;     /* metadata has no members */
        size_t labels_start; /* metadata.labels value span (with want_labels), both 0 when absent */
        size_t labels_end;
};
/* Finds an object's top-level metadata in its text (s[0..n)), and with want_labels its labels.
 * -1 when the text is not an object with a metadata object, or holds a "resourceVersion" member
 * anywhere. */
int k8c_json_meta_scan(const char *s, size_t n, bool want_labels, struct k8c_meta_span *ret);
/* Appends s with "resourceVersion":"rev" added as metadata's first member (the object that
 * decoding, setting it and encoding again would give). */
void k8c_splice_with_rv(struct k8c_textbuf *b, const char *s, size_t len, const struct k8c_meta_span *span,
                        int64_t rev);

/* A flat object of strings (labels) from its text s[0..n), without jansson's parser unless it
 * holds escapes or other values; NULL when it is not JSON. */
json_t *k8c_json_string_map(const char *s, size_t n);
/* The whole of metadata in an object's text, and where its managedFields member (with one
 * adjacent comma) lies, for building Table rows without decoding managedFields. */
struct k8c_meta_whole {
        size_t meta_start, meta_end; /* '{' .. just after '}' */
        bool meta_empty;
        size_t mf_cut_start, mf_cut_end; /* both 0 when there are no managedFields */
};
int k8c_json_meta_whole(const char *s, size_t n, struct k8c_meta_whole *ret);

/* ---- metrics.c ---- */
int k8c_metrics_new(struct k8c_metrics **ret);
void k8c_metrics_free(struct k8c_metrics *m);
void k8c_metrics_observe(struct k8c_metrics *m, const char *verb, const char *resource, int code,
                         double seconds);
char *k8c_metrics_render(struct k8c_apiserver *srv);

#endif

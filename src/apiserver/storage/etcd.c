/*
 * etcd.c - the etcd v3 storage backend, spoken through etcd's JSON gateway
 * (grpc-gateway: POST /v3/kv/range, /v3/kv/txn, /v3/kv/compaction, /v3/watch)
 * with libcurl and jansson.
 *
 * Owns: the mapping of the store interface onto etcd requests (create-if-absent,
 * update/delete-if-unchanged as txns with compares; watches as streaming POSTs
 * parsed line by line), the gateway's JSON conventions (base64 keys and values,
 * int64s as strings, omitted fields mean 0/false/PUT), endpoint failover, and a
 * pool of keep-alive curl handles. Must not: log above debug, hand-write JSON or
 * HTTP, or retry a write whose request may have reached etcd.
 *
 * Key layout: with the default prefix "/registry" (or none), the interface keys
 * ("/registry/pods/default/web") are stored in etcd verbatim, exactly where a
 * kube-apiserver keeps them. Any other prefix P is prepended: the key K is
 * stored as P + K ("/suite-1" + "/registry/pods/..."), so several users (test
 * suites, clusters) can share one etcd without seeing each other's keys.
 *
 * Revision semantics: etcd's revision is the store revision. A watch from
 * revision F is opened with start_revision F (not F+1) and events at F are
 * dropped: that makes etcd itself refuse (canceled + compact_revision) exactly
 * when F is below the compacted revision, as the interface says.
 *
 * Threads: any number of callers share the store (a locked pool of curl
 * handles). Each watch owns one thread running its stream on a curl multi
 * handle; it resumes on the next endpoint after the last delivered revision
 * when a member goes away, and pauses reading when its bounded queue is full.
 *
 * Needs etcd >= 3.4 (the "/v3/" gateway prefix; 3.3 only served /v3beta/).
 */
#include "k8c/store.h"

#include <curl/curl.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/log.h"

#define ETCD_DEFAULT_PREFIX "/registry"
#define ETCD_CONNECT_TIMEOUT_MS 2000L
#define ETCD_REQUEST_TIMEOUT_MS 30000L
#define ETCD_WATCH_OPEN_TIMEOUT_MS 10000
#define ETCD_WATCH_QUEUE_DEFAULT 10000

struct etcd_store {
        struct k8c_store base;
        char **endpoints; /* "http://127.0.0.1:2379", no trailing slash */
        size_t n_endpoints;
        atomic_size_t active; /* the endpoint that answered last */
        char *prefix;         /* prepended to every key; "" for the default layout */
        size_t watch_queue;   /* events a watch buffers before it stops reading its stream */
        size_t prefix_len;
        struct curl_slist *headers;
        pthread_mutex_t pool_lock;
        CURL **pool; /* idle easy handles, each keeping its connection alive */
        size_t pool_n, pool_cap;
};

struct etcd_event_node {
        struct k8c_store_event *ev;
        struct etcd_event_node *next;
};

struct etcd_watch {
        struct k8c_store_watch base;
        struct etcd_store *s;
        json_t *create_request; /* key, range_end, prev_kv; start_revision set per attempt */
        int64_t last_rev;       /* events at or below this were delivered (or predate the watch) */
        pthread_t thread;
        bool thread_started;
        CURLM *multi;
        atomic_bool closing;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct etcd_event_node *head, *tail;
        size_t queued;
        bool created; /* the first "created" ack arrived */
        bool done;    /* the stream ended for good; error holds why */
        k8c_error_t error;

        /* Owned by the watch thread. */
        char *line;
        size_t line_len, line_cap;
        bool stream_created; /* this attempt's stream got its ack */
        bool stream_final;   /* this attempt ended the watch (cancel or gateway error) */
        char *stream_error;  /* why this attempt broke, when another endpoint may do better */
};

struct etcd_buf {
        char *data;
        size_t len, cap;
};

/* ---- small codecs (base64 by gnutls, int64 strings by jansson + strtoll) ---- */

static char *b64_encode(const char *data, size_t len)
{
        if (len == 0)
                return k8c_xstrdup("");
        gnutls_datum_t in = { (unsigned char *)data, (unsigned int)len }, out = { NULL, 0 };
        if (gnutls_base64_encode2(&in, &out) < 0)
                abort(); /* only fails on allocation failure */
        char *s = k8c_xstrndup((const char *)out.data, out.size);
        gnutls_free(out.data);
        return s;
}

/* Decodes into a NUL-terminated buffer; *ret_len excludes the NUL. */
static int b64_decode(const char *s, char **ret, size_t *ret_len, k8c_error_t *err)
{
        size_t n = s != NULL ? strlen(s) : 0;
        if (n == 0) {
                *ret = k8c_xstrdup("");
                *ret_len = 0;
                return 0;
        }
        gnutls_datum_t in = { (unsigned char *)s, (unsigned int)n }, out = { NULL, 0 };
        int r = gnutls_base64_decode2(&in, &out);
        if (r < 0)
                return k8c_make_error(err, K8C_EINTERNAL, "etcd: invalid base64 in response: %s",
                                      gnutls_strerror(r));
        char *p = k8c_xmalloc(out.size + 1);
        if (out.size > 0)
                memcpy(p, out.data, out.size);
        p[out.size] = '\0';
        gnutls_free(out.data);
        *ret = p;
        *ret_len = out.size;
        return 0;
}

/* The gateway writes int64s as JSON strings and omits zero values. */
static int64_t json_i64(const json_t *obj, const char *field)
{
        const json_t *v = obj != NULL ? json_object_get(obj, field) : NULL;
        if (json_is_integer(v))
                return json_integer_value(v);
        if (json_is_string(v))
                return strtoll(json_string_value(v), NULL, 10);
        return 0;
}

static json_t *json_i64_string(int64_t v)
{
        char buf[32];
        snprintf(buf, sizeof(buf), "%" PRId64, v);
        return json_string(buf);
}

/* ---- keys ---------------------------------------------------------------- */

static char *etcd_key(const struct etcd_store *s, const char *key, size_t *ret_len)
{
        char *k = k8c_xasprintf("%s%s", s->prefix, key);
        if (ret_len != NULL)
                *ret_len = strlen(k);
        return k;
}

/* The smallest key above every key starting with p (etcd's "prefix end"); "\0" = no end. */
static char *prefix_end(const char *p, size_t len, size_t *ret_len)
{
        char *end = k8c_xstrndup(p, len);
        for (size_t i = len; i > 0; i--) {
                if ((unsigned char)end[i - 1] < 0xff) {
                        end[i - 1]++;
                        end[i] = '\0';
                        *ret_len = i;
                        return end;
                }
        }
        end[0] = '\0';
        *ret_len = 1;
        return end;
}

static json_t *b64_json(const char *data, size_t len)
{
        cleanup_free char *b = b64_encode(data, len);
        return json_string(b);
}

/* {"key": P+key} or, for a prefix, {"key": P+prefix, "range_end": end(P+prefix)}. */
static json_t *range_for(const struct etcd_store *s, const char *key, bool prefix)
{
        size_t len;
        cleanup_free char *k = etcd_key(s, key, &len);
        json_t *o = json_object();
        if (!prefix) {
                json_object_set_new(o, "key", b64_json(k, len));
                return o;
        }
        if (len == 0) {
                /* Everything: key "\0" with range_end "\0" means all keys >= "\0". */
                json_object_set_new(o, "key", b64_json("", 1));
                json_object_set_new(o, "range_end", b64_json("", 1));
                return o;
        }
        size_t elen;
        cleanup_free char *end = prefix_end(k, len, &elen);
        json_object_set_new(o, "key", b64_json(k, len));
        json_object_set_new(o, "range_end", b64_json(end, elen));
        return o;
}

/* Fills ret from a gateway mvccpb.KeyValue, stripping our prefix from the key. */
static int parse_kv(const struct etcd_store *s, const json_t *j, struct k8c_kv *ret, k8c_error_t *err)
{
        struct k8c_kv kv = { 0 };
        cleanup_free char *key = NULL;
        size_t klen;
        int r = b64_decode(json_string_value(json_object_get(j, "key")), &key, &klen, err);
        if (r < 0)
                return r;
        if (klen < s->prefix_len || memcmp(key, s->prefix, s->prefix_len) != 0)
                return k8c_make_error(err, K8C_EINTERNAL, "etcd: key \"%s\" outside prefix \"%s\"", key,
                                      s->prefix);
        r = b64_decode(json_string_value(json_object_get(j, "value")), &kv.value, &kv.value_len, err);
        if (r < 0)
                return r;
        kv.key = k8c_xstrdup(key + s->prefix_len);
        kv.create_revision = json_i64(j, "create_revision");
        kv.mod_revision = json_i64(j, "mod_revision");
        kv.version = json_i64(j, "version");
        *ret = kv;
        return 0;
}

static void kv_copy(struct k8c_kv *dst, const struct k8c_kv *src)
{
        *dst = *src;
        dst->key = src->key != NULL ? k8c_xstrdup(src->key) : NULL;
        if (src->value != NULL) {
                dst->value = k8c_xmalloc(src->value_len + 1);
                memcpy(dst->value, src->value, src->value_len);
                dst->value[src->value_len] = '\0';
        }
}

/* ---- errors ----------------------------------------------------------------- */

/* Maps an etcd error message (gRPC status carried by the gateway) onto a reason. */
static k8c_reason_t etcd_reason(const char *msg, int64_t grpc_code)
{
        if (msg != NULL && strstr(msg, "required revision has been compacted") != NULL)
                return K8C_EEXPIRED;
        if (msg != NULL && strstr(msg, "required revision is a future revision") != NULL)
                return K8C_ETOOLARGERV;
        if (msg != NULL && strstr(msg, "request is too large") != NULL)
                return K8C_ETOOLARGE;
        if (grpc_code == 14 /* Unavailable */ || grpc_code == 4 /* DeadlineExceeded */)
                return K8C_EUNAVAILABLE;
        return K8C_EINTERNAL;
}

static int gateway_error(const json_t *body, long http, k8c_error_t *err)
{
        const char *msg = json_string_value(json_object_get(body, "message"));
        if (msg == NULL)
                msg = json_string_value(json_object_get(body, "error"));
        int64_t code = json_i64(body, "code");
        if (code == 0)
                code = json_i64(body, "grpc_code");
        k8c_reason_t reason = etcd_reason(msg, code);
        if (reason == K8C_EINTERNAL && http == 503)
                reason = K8C_EUNAVAILABLE;
        return k8c_make_error(err, reason, "etcd: %s", msg != NULL ? msg : "unknown error");
}

/* ---- unary requests ------------------------------------------------------------ */

static size_t buf_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct etcd_buf *b = userdata;
        size_t n = size * nmemb;
        if (b->len + n + 1 > b->cap) {
                b->cap = (b->len + n + 1) * 2;
                b->data = k8c_xrealloc(b->data, b->cap);
        }
        memcpy(b->data + b->len, ptr, n);
        b->len += n;
        b->data[b->len] = '\0';
        return n;
}

static CURL *pool_get(struct etcd_store *s)
{
        CURL *c = NULL;
        pthread_mutex_lock(&s->pool_lock);
        if (s->pool_n > 0)
                c = s->pool[--s->pool_n];
        pthread_mutex_unlock(&s->pool_lock);
        if (c == NULL) {
                c = curl_easy_init();
                if (c == NULL)
                        abort();
        }
        return c;
}

static void pool_put(struct etcd_store *s, CURL *c)
{
        pthread_mutex_lock(&s->pool_lock);
        if (s->pool_n == s->pool_cap) {
                s->pool_cap = s->pool_cap ? s->pool_cap * 2 : 16;
                s->pool = k8c_xrealloc(s->pool, s->pool_cap * sizeof(*s->pool));
        }
        s->pool[s->pool_n++] = c;
        pthread_mutex_unlock(&s->pool_lock);
}

/* Transport failures after which the request certainly did not reach etcd. */
static bool curl_not_sent(CURLcode cc)
{
        return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST;
}

/*
 * POSTs req to path and returns the parsed 200 answer. Connection failures move
 * to the next endpoint; so does any failure of an idempotent request (reads,
 * compaction) - but a write that may have reached etcd is never re-sent, since
 * it could have been applied.
 */
static int etcd_call(struct etcd_store *s, const char *path, const json_t *req, bool idempotent, json_t **ret,
                     k8c_error_t *err)
{
        cleanup_free char *body = json_dumps(req, JSON_COMPACT);
        size_t first = atomic_load(&s->active);
        cleanup_free char *last_failure = NULL;
        for (size_t attempt = 0; attempt < s->n_endpoints; attempt++) {
                size_t idx = (first + attempt) % s->n_endpoints;
                cleanup_free char *url = k8c_xasprintf("%s%s", s->endpoints[idx], path);
                struct etcd_buf out = { 0 };
                cleanup_free char *out_data = NULL;
                CURL *c = pool_get(s);
                curl_easy_setopt(c, CURLOPT_URL, url);
                curl_easy_setopt(c, CURLOPT_POST, 1L);
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->headers);
                curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
                curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
                curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
                curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ETCD_CONNECT_TIMEOUT_MS);
                curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ETCD_REQUEST_TIMEOUT_MS);
                CURLcode cc = curl_easy_perform(c);
                out_data = out.data;
                long http = 0;
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
                pool_put(s, c);
                if (cc != CURLE_OK) {
                        free(last_failure);
                        last_failure = k8c_xasprintf("%s: %s", url, curl_easy_strerror(cc));
                        k8c_logv(4, "etcd request failed", "url=%s error=\"%s\"", url,
                                 curl_easy_strerror(cc));
                        if (idempotent || curl_not_sent(cc))
                                continue;
                        return k8c_make_error(err, K8C_EUNAVAILABLE, "etcd: %s", last_failure);
                }
                json_error_t jerr;
                json_auto_t *resp = json_loadb(out.data != NULL ? out.data : "", out.len, 0, &jerr);
                if (resp == NULL || !json_is_object(resp))
                        return k8c_make_error(err, K8C_EINTERNAL, "etcd: %s: HTTP %ld, unparsable answer: %s",
                                              url, http, jerr.text);
                if (http != 200) {
                        int r = gateway_error(resp, http, err);
                        if (r == -(int)K8C_EUNAVAILABLE && idempotent) {
                                free(last_failure);
                                last_failure = k8c_xasprintf("%s: %s", url, k8c_error_msg(err));
                                k8c_error_release(err);
                                continue;
                        }
                        return r;
                }
                if (idx != first)
                        atomic_store(&s->active, idx);
                *ret = k8c_steal(&resp);
                return 0;
        }
        return k8c_make_error(err, K8C_EUNAVAILABLE, "etcd: no endpoint answered (last: %s)",
                              last_failure != NULL ? last_failure : "none");
}

/* ---- operations ------------------------------------------------------------------ */

static int etcd_range(struct etcd_store *s, json_t *req, json_t **ret, k8c_error_t *err)
{
        return etcd_call(s, "/v3/kv/range", req, true, ret, err);
}

/* The first kv of a RangeResponse, or K8C_ENOTFOUND. */
static int first_kv(struct etcd_store *s, const json_t *range_resp, const char *key, struct k8c_kv *ret,
                    k8c_error_t *err)
{
        json_t *kvs = json_object_get(range_resp, "kvs");
        if (json_array_size(kvs) == 0)
                return k8c_make_error(err, K8C_ENOTFOUND, "key \"%s\" not found", key);
        return parse_kv(s, json_array_get(kvs, 0), ret, err);
}

static int etcd_get(struct k8c_store *base, const char *key, struct k8c_kv *ret_kv, k8c_error_t *err)
{
        struct etcd_store *s = (struct etcd_store *)base;
        json_auto_t *req = range_for(s, key, false);
        json_auto_t *resp = NULL;
        int r = etcd_range(s, req, &resp, err);
        if (r < 0)
                return r;
        struct k8c_kv kv = { 0 };
        r = first_kv(s, resp, key, &kv, err);
        if (r < 0)
                return r;
        if (ret_kv != NULL)
                *ret_kv = kv;
        else
                k8c_kv_free(&kv);
        return 0;
}

static int etcd_list(struct k8c_store *base, const char *prefix, const struct k8c_list_opts *opts,
                     struct k8c_kv_list *ret_list, k8c_error_t *err)
{
        struct etcd_store *s = (struct etcd_store *)base;
        struct k8c_list_opts none = { 0 };
        if (opts == NULL)
                opts = &none;
        json_auto_t *req = range_for(s, prefix, true);
        if (opts->start_after != NULL) {
                /* The smallest key above start_after is start_after + "\0". */
                size_t len;
                cleanup_free char *k = etcd_key(s, opts->start_after, &len);
                cleanup_free char *from = k8c_xmalloc(len + 1);
                memcpy(from, k, len);
                from[len] = '\0';
                json_object_set_new(req, "key", b64_json(from, len + 1));
        }
        if (opts->limit > 0)
                json_object_set_new(req, "limit", json_i64_string((int64_t)opts->limit));
        if (opts->revision > 0)
                json_object_set_new(req, "revision", json_i64_string(opts->revision));
        json_auto_t *resp = NULL;
        int r = etcd_range(s, req, &resp, err);
        if (r < 0)
                return k8c_error_wrap(err, "list \"%s\"", prefix);
        json_t *kvs = json_object_get(resp, "kvs");
        struct k8c_kv_list l = { 0 };
        l.items = k8c_xcalloc(json_array_size(kvs), sizeof(*l.items));
        size_t i;
        json_t *j;
        json_array_foreach(kvs, i, j)
        {
                r = parse_kv(s, j, &l.items[l.n], err);
                if (r < 0) {
                        k8c_kv_list_free(&l);
                        return r;
                }
                l.n++;
        }
        l.more = json_is_true(json_object_get(resp, "more"));
        l.revision =
                opts->revision > 0 ? opts->revision : json_i64(json_object_get(resp, "header"), "revision");
        *ret_list = l;
        return 0;
}

/* One-compare txn: on success run `success`, on failure range the key (to report why). */
static int etcd_txn(struct etcd_store *s, const char *key, json_t *compare, json_t *success, bool *ret_ok,
                    json_t **ret_resp, json_t **ret_success_resp, struct k8c_kv *ret_current,
                    bool *ret_exists, k8c_error_t *err)
{
        json_auto_t *req = json_object();
        json_t *cmp = json_array();
        json_array_append_new(cmp, compare);
        json_object_set_new(req, "compare", cmp);
        json_t *succ = json_array();
        json_array_append_new(succ, success);
        json_object_set_new(req, "success", succ);
        json_t *fail = json_array();
        json_t *rr = json_object();
        json_object_set_new(rr, "request_range", range_for(s, key, false));
        json_array_append_new(fail, rr);
        json_object_set_new(req, "failure", fail);

        json_auto_t *resp = NULL;
        int r = etcd_call(s, "/v3/kv/txn", req, false, &resp, err);
        if (r < 0)
                return r;
        bool ok = json_is_true(json_object_get(resp, "succeeded"));
        json_t *first = json_array_get(json_object_get(resp, "responses"), 0);
        *ret_ok = ok;
        *ret_exists = false;
        if (ok) {
                *ret_success_resp = first;
        } else {
                json_t *range = json_object_get(first, "response_range");
                if (json_array_size(json_object_get(range, "kvs")) > 0) {
                        r = first_kv(s, range, key, ret_current, err);
                        if (r < 0)
                                return r;
                        *ret_exists = true;
                }
        }
        *ret_resp = k8c_steal(&resp);
        return 0;
}

static json_t *compare_new(const struct etcd_store *s, const char *key, const char *target,
                           const char *result, const char *field, int64_t v)
{
        json_t *c = range_for(s, key, false);
        json_object_set_new(c, "target", json_string(target));
        json_object_set_new(c, "result", json_string(result));
        json_object_set_new(c, field, json_i64_string(v));
        return c;
}

/* Guards an update/delete: the key's mod_revision equals expected, or (0) the key exists. */
static json_t *compare_guard(const struct etcd_store *s, const char *key, int64_t expected)
{
        if (expected != 0)
                return compare_new(s, key, "MOD", "EQUAL", "mod_revision", expected);
        return compare_new(s, key, "VERSION", "GREATER", "version", 0);
}

static json_t *put_op(const struct etcd_store *s, const char *key, const char *value, size_t len, bool prev)
{
        json_t *put = range_for(s, key, false);
        json_object_set_new(put, "value", b64_json(value, len));
        if (prev)
                json_object_set_new(put, "prev_kv", json_true());
        json_t *op = json_object();
        json_object_set_new(op, "request_put", put);
        return op;
}

static void fill_kv(struct k8c_kv *kv, const char *key, const char *value, size_t len, int64_t create_rev,
                    int64_t mod_rev, int64_t version)
{
        kv->key = k8c_xstrdup(key);
        kv->value = k8c_xmalloc(len + 1);
        if (len > 0)
                memcpy(kv->value, value, len);
        kv->value[len] = '\0';
        kv->value_len = len;
        kv->create_revision = create_rev;
        kv->mod_revision = mod_rev;
        kv->version = version;
}

/* The failure branch of a guarded txn: NotFound, or Conflict with the current kv. */
static int guard_failed(const char *key, bool exists, struct k8c_kv *current, struct k8c_kv *ret_kv,
                        int64_t expected, k8c_error_t *err)
{
        if (!exists)
                return k8c_make_error(err, K8C_ENOTFOUND, "key \"%s\" not found", key);
        int64_t mod = current->mod_revision;
        if (ret_kv != NULL)
                *ret_kv = *current;
        else
                k8c_kv_free(current);
        memset(current, 0, sizeof(*current));
        return k8c_make_error(err, K8C_ECONFLICT,
                              "key \"%s\" was modified: expected revision %" PRId64 ", current %" PRId64, key,
                              expected, mod);
}

static int etcd_create(struct k8c_store *base, const char *key, const char *value, size_t len,
                       struct k8c_kv *ret_kv, k8c_error_t *err)
{
        struct etcd_store *s = (struct etcd_store *)base;
        bool ok, exists;
        json_auto_t *resp = NULL;
        json_t *succ = NULL;
        struct k8c_kv cur = { 0 };
        int r = etcd_txn(s, key, compare_new(s, key, "CREATE", "EQUAL", "create_revision", 0),
                         put_op(s, key, value, len, false), &ok, &resp, &succ, &cur, &exists, err);
        if (r < 0)
                return r;
        if (!ok) {
                k8c_kv_free(&cur);
                return k8c_make_error(err, K8C_EALREADYEXISTS, "key \"%s\" already exists", key);
        }
        int64_t rev = json_i64(json_object_get(resp, "header"), "revision");
        if (ret_kv != NULL)
                fill_kv(ret_kv, key, value, len, rev, rev, 1);
        return 0;
}

static int etcd_update(struct k8c_store *base, const char *key, const char *value, size_t len,
                       int64_t expected, struct k8c_kv *ret_kv, k8c_error_t *err)
{
        struct etcd_store *s = (struct etcd_store *)base;
        bool ok, exists;
        json_auto_t *resp = NULL;
        json_t *succ = NULL;
        struct k8c_kv cur = { 0 };
        int r = etcd_txn(s, key, compare_guard(s, key, expected), put_op(s, key, value, len, true), &ok,
                         &resp, &succ, &cur, &exists, err);
        if (r < 0)
                return r;
        if (!ok)
                return guard_failed(key, exists, &cur, ret_kv, expected, err);
        int64_t rev = json_i64(json_object_get(resp, "header"), "revision");
        json_t *prev = json_object_get(json_object_get(succ, "response_put"), "prev_kv");
        if (ret_kv != NULL)
                fill_kv(ret_kv, key, value, len, json_i64(prev, "create_revision"), rev,
                        json_i64(prev, "version") + 1);
        return 0;
}

static int etcd_delete(struct k8c_store *base, const char *key, int64_t expected, struct k8c_kv *ret_kv,
                       k8c_error_t *err)
{
        struct etcd_store *s = (struct etcd_store *)base;
        bool ok, exists;
        json_auto_t *resp = NULL;
        json_t *succ = NULL;
        struct k8c_kv cur = { 0 };
        json_t *del = range_for(s, key, false);
        json_object_set_new(del, "prev_kv", json_true());
        json_t *op = json_object();
        json_object_set_new(op, "request_delete_range", del);
        int r = etcd_txn(s, key, compare_guard(s, key, expected), op, &ok, &resp, &succ, &cur, &exists, err);
        if (r < 0)
                return r;
        if (!ok)
                return guard_failed(key, exists, &cur, ret_kv, expected, err);
        json_t *prevs = json_object_get(json_object_get(succ, "response_delete_range"), "prev_kvs");
        if (json_array_size(prevs) == 0)
                return k8c_make_error(err, K8C_ENOTFOUND, "key \"%s\" not found", key);
        if (ret_kv != NULL) {
                r = parse_kv(s, json_array_get(prevs, 0), ret_kv, err);
                if (r < 0)
                        return r;
                ret_kv->mod_revision = json_i64(json_object_get(resp, "header"), "revision");
        }
        return 0;
}

static int etcd_current_revision(struct k8c_store *base, int64_t *ret_rev, k8c_error_t *err)
{
        struct etcd_store *s = (struct etcd_store *)base;
        json_auto_t *req = json_object();
        json_object_set_new(req, "key", b64_json("", 1));
        json_object_set_new(req, "count_only", json_true());
        json_auto_t *resp = NULL;
        int r = etcd_range(s, req, &resp, err);
        if (r < 0)
                return r;
        *ret_rev = json_i64(json_object_get(resp, "header"), "revision");
        return 0;
}

/* 1 = a read at rev works, 0 = rev is compacted. */
static int readable_at(struct etcd_store *s, int64_t rev, k8c_error_t *err)
{
        json_auto_t *req = json_object();
        json_object_set_new(req, "key", b64_json("", 1));
        json_object_set_new(req, "count_only", json_true());
        json_object_set_new(req, "revision", json_i64_string(rev));
        json_auto_t *resp = NULL;
        int r = etcd_range(s, req, &resp, err);
        if (r == -(int)K8C_EEXPIRED) {
                k8c_error_release(err);
                return 0;
        }
        return r < 0 ? r : 1;
}

/*
 * etcd has no call returning its compacted revision; the smallest revision that
 * can still be read is it. Binary search over ranges: ~log2(revision) requests,
 * and this is only asked for rarely.
 */
static int etcd_compacted_revision(struct k8c_store *base, int64_t *ret_rev, k8c_error_t *err)
{
        struct etcd_store *s = (struct etcd_store *)base;
        int64_t cur;
        int r = etcd_current_revision(base, &cur, err);
        if (r < 0)
                return r;
        r = readable_at(s, 1, err);
        if (r < 0)
                return r;
        if (r == 1) {
                *ret_rev = 0;
                return 0;
        }
        int64_t lo = 1, hi = cur; /* lo unreadable, hi readable */
        while (hi - lo > 1) {
                int64_t mid = lo + (hi - lo) / 2;
                r = readable_at(s, mid, err);
                if (r < 0)
                        return r;
                if (r == 1)
                        hi = mid;
                else
                        lo = mid;
        }
        *ret_rev = hi;
        return 0;
}

static int etcd_compact(struct k8c_store *base, int64_t revision, k8c_error_t *err)
{
        struct etcd_store *s = (struct etcd_store *)base;
        json_auto_t *req = json_object();
        json_object_set_new(req, "revision", json_i64_string(revision));
        json_auto_t *resp = NULL;
        /* etcd answers "compacted" for a revision at or below the compacted one and "future" beyond
         * the current one: K8C_EEXPIRED and K8C_ETOOLARGERV, as the interface wants. */
        int r = etcd_call(s, "/v3/kv/compaction", req, true, &resp, err);
        return r < 0 ? k8c_error_wrap(err, "compact at %" PRId64, revision) : 0;
}

/* ---- watch ------------------------------------------------------------------------- */

/* Converts one mvccpb.Event; DELETE carries the last value (from prev_kv) at the delete's revision. */
static int parse_event(struct etcd_store *s, const json_t *j, struct k8c_store_event **ret, k8c_error_t *err)
{
        struct k8c_store_event *ev = k8c_xcalloc(1, sizeof(*ev));
        const char *type = json_string_value(json_object_get(j, "type"));
        json_t *prev = json_object_get(j, "prev_kv");
        struct k8c_kv kv = { 0 };
        int r = parse_kv(s, json_object_get(j, "kv"), &kv, err);
        if (r >= 0 && prev != NULL)
                r = parse_kv(s, prev, &ev->prev, err);
        if (r < 0) {
                k8c_kv_free(&kv);
                k8c_store_event_free(ev);
                return r;
        }
        ev->revision = kv.mod_revision;
        if (type != NULL && strcmp(type, "DELETE") == 0) {
                ev->type = K8C_STORE_DELETE;
                if (ev->prev.key != NULL) {
                        k8c_kv_free(&kv);
                        kv_copy(&ev->kv, &ev->prev);
                        ev->kv.mod_revision = ev->revision;
                } else {
                        ev->kv = kv;
                }
        } else {
                /* etcd only knows PUT: a key's first write has create_revision == mod_revision. */
                ev->type = kv.create_revision == kv.mod_revision ? K8C_STORE_CREATE : K8C_STORE_UPDATE;
                ev->kv = kv;
                if (ev->type == K8C_STORE_CREATE)
                        k8c_kv_free(&ev->prev);
        }
        *ret = ev;
        return 0;
}

/* Ends the watch with an error (taking *e); later events are not delivered. */
static void watch_finish(struct etcd_watch *w, k8c_error_t *e)
{
        pthread_mutex_lock(&w->lock);
        if (!w->done) {
                w->done = true;
                w->error = k8c_steal(e);
        }
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        k8c_error_release(e);
}

/*
 * Stops this stream. An unavailable member (no leader, shutting down) is worth
 * a reconnect to the next endpoint; anything else ends the watch.
 */
static bool watch_stream_failed(struct etcd_watch *w, k8c_error_t *e)
{
        if (k8c_error_reason(e) == K8C_EUNAVAILABLE) {
                free(w->stream_error);
                w->stream_error = k8c_xstrdup(k8c_error_msg(e));
                k8c_error_release(e);
                return false;
        }
        w->stream_final = true;
        watch_finish(w, e);
        return false;
}

/* Handles one WatchResponse line; false stops this stream. */
static bool watch_line(struct etcd_watch *w, const char *line, size_t len)
{
        cleanup_error k8c_error_t e = NULL;
        json_error_t jerr;
        json_auto_t *msg = json_loadb(line, len, 0, &jerr);
        if (msg == NULL) {
                k8c_make_error(&e, K8C_EINTERNAL, "etcd watch: unparsable message: %s", jerr.text);
                w->stream_final = true;
                watch_finish(w, &e);
                return false;
        }
        json_t *gerr = json_object_get(msg, "error");
        if (gerr != NULL) {
                gateway_error(json_is_object(gerr) ? gerr : msg, json_i64(gerr, "http_code"), &e);
                return watch_stream_failed(w, &e);
        }
        json_t *res = json_object_get(msg, "result");
        if (res == NULL)
                return true;
        if (json_is_true(json_object_get(res, "canceled"))) {
                int64_t compact = json_i64(res, "compact_revision");
                const char *why = json_string_value(json_object_get(res, "cancel_reason"));
                if (compact > 0)
                        k8c_make_error(&e, K8C_EEXPIRED,
                                       "required revision has been compacted (watch from %" PRId64
                                       ", compacted revision %" PRId64 ")",
                                       w->last_rev, compact);
                else
                        k8c_make_error(&e, K8C_EUNAVAILABLE, "etcd watch canceled: %s",
                                       why != NULL ? why : "no reason given");
                return watch_stream_failed(w, &e);
        }
        if (json_is_true(json_object_get(res, "created"))) {
                pthread_mutex_lock(&w->lock);
                /* From "now": the ack's header is the revision the watch starts after. */
                if (w->last_rev == 0)
                        w->last_rev = json_i64(json_object_get(res, "header"), "revision");
                w->created = true;
                w->stream_created = true;
                pthread_cond_broadcast(&w->cond);
                pthread_mutex_unlock(&w->lock);
        }
        size_t i;
        json_t *j;
        json_array_foreach(json_object_get(res, "events"), i, j)
        {
                struct k8c_store_event *ev = NULL;
                if (parse_event(w->s, j, &ev, &e) < 0) {
                        w->stream_final = true;
                        watch_finish(w, &e);
                        return false;
                }
                pthread_mutex_lock(&w->lock);
                /* A slow reader pauses the stream (TCP pushes back to etcd) instead of growing memory. */
                while (w->queued >= w->s->watch_queue && !atomic_load(&w->closing))
                        pthread_cond_wait(&w->cond, &w->lock);
                if (atomic_load(&w->closing)) {
                        pthread_mutex_unlock(&w->lock);
                        k8c_store_event_free(ev);
                        return false;
                }
                if (ev->revision <= w->last_rev) {
                        pthread_mutex_unlock(&w->lock);
                        k8c_store_event_free(ev);
                        continue;
                }
                w->last_rev = ev->revision;
                struct etcd_event_node *n = k8c_xcalloc(1, sizeof(*n));
                n->ev = ev;
                if (w->tail != NULL)
                        w->tail->next = n;
                else
                        w->head = n;
                w->tail = n;
                w->queued++;
                pthread_cond_broadcast(&w->cond);
                pthread_mutex_unlock(&w->lock);
        }
        return true;
}

/* curl delivers arbitrary chunks; the gateway separates messages with newlines. */
static size_t watch_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct etcd_watch *w = userdata;
        size_t n = size * nmemb;
        if (atomic_load(&w->closing))
                return 0;
        if (w->line_len + n > w->line_cap) {
                w->line_cap = (w->line_len + n) * 2;
                w->line = k8c_xrealloc(w->line, w->line_cap);
        }
        memcpy(w->line + w->line_len, ptr, n);
        w->line_len += n;
        size_t start = 0;
        for (size_t i = 0; i < w->line_len; i++) {
                if (w->line[i] != '\n')
                        continue;
                size_t l = i - start;
                if (l > 0 && !watch_line(w, w->line + start, l))
                        return 0;
                start = i + 1;
        }
        memmove(w->line, w->line + start, w->line_len - start);
        w->line_len -= start;
        return n;
}

/* Runs one streaming POST against endpoint idx until it ends or the watch closes. */
static CURLcode watch_stream(struct etcd_watch *w, size_t idx)
{
        struct etcd_store *s = w->s;
        json_auto_t *req = json_object();
        json_t *cr = json_deep_copy(w->create_request);
        pthread_mutex_lock(&w->lock);
        int64_t start = w->last_rev;
        pthread_mutex_unlock(&w->lock);
        if (start > 0)
                json_object_set_new(cr, "start_revision", json_i64_string(start));
        json_object_set_new(req, "create_request", cr);
        cleanup_free char *body = json_dumps(req, JSON_COMPACT);
        cleanup_free char *url = k8c_xasprintf("%s/v3/watch", s->endpoints[idx]);

        CURL *c = curl_easy_init();
        if (c == NULL)
                abort();
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->headers);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watch_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ETCD_CONNECT_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 5L);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 2L);
        w->line_len = 0;
        w->stream_created = false;
        w->stream_final = false;
        free(w->stream_error);
        w->stream_error = NULL;
        curl_multi_add_handle(w->multi, c);
        int running = 1;
        while (running && !atomic_load(&w->closing)) {
                if (curl_multi_perform(w->multi, &running) != CURLM_OK)
                        break;
                if (running)
                        curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
        }
        CURLcode cc = CURLE_OK;
        int left;
        CURLMsg *m;
        while ((m = curl_multi_info_read(w->multi, &left)) != NULL)
                if (m->msg == CURLMSG_DONE)
                        cc = m->data.result;
        curl_multi_remove_handle(w->multi, c);
        curl_easy_cleanup(c);
        return cc;
}

/*
 * The watch thread: streams from the active endpoint; when a stream breaks
 * (member died, connection lost) it resumes after the last delivered revision
 * on the next endpoint, so no event is lost or repeated. A full round of
 * endpoints failing without one stream getting established ends the watch.
 */
static void *watch_thread(void *arg)
{
        struct etcd_watch *w = arg;
        struct etcd_store *s = w->s;
        size_t idx = atomic_load(&s->active);
        size_t failures = 0;
        cleanup_free char *last = NULL;
        while (!atomic_load(&w->closing)) {
                CURLcode cc = watch_stream(w, idx);
                if (atomic_load(&w->closing) || w->stream_final)
                        break;
                free(last);
                last = k8c_xasprintf("%s: %s", s->endpoints[idx],
                                     w->stream_error != NULL ? w->stream_error
                                     : cc != CURLE_OK        ? curl_easy_strerror(cc)
                                                             : "stream ended");
                k8c_logv(4, "etcd watch stream broke", "error=\"%s\"", last);
                failures = w->stream_created ? 1 : failures + 1;
                if (failures > s->n_endpoints) {
                        cleanup_error k8c_error_t e = NULL;
                        k8c_make_error(&e, K8C_EUNAVAILABLE, "etcd watch: no endpoint answered (last: %s)",
                                       last);
                        watch_finish(w, &e);
                        break;
                }
                idx = (idx + 1) % s->n_endpoints;
                /* A short pause between attempts (longer once every endpoint failed) so that a
                 * member that accepts and drops watches at once is not hammered. */
                struct timespec ts = { 0, (failures >= s->n_endpoints ? 200 : 20) * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        return NULL;
}

static void watch_free(struct etcd_watch *w)
{
        if (w == NULL)
                return;
        if (w->thread_started) {
                pthread_mutex_lock(&w->lock);
                atomic_store(&w->closing, true);
                pthread_cond_broadcast(&w->cond); /* a thread paused on a full queue */
                pthread_mutex_unlock(&w->lock);
                curl_multi_wakeup(w->multi);
                pthread_join(w->thread, NULL);
        }
        for (struct etcd_event_node *n = w->head, *next; n != NULL; n = next) {
                next = n->next;
                k8c_store_event_free(n->ev);
                free(n);
        }
        if (w->multi != NULL)
                curl_multi_cleanup(w->multi);
        json_decref(w->create_request);
        k8c_error_release(&w->error);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w->line);
        free(w->stream_error);
        free(w);
}

static void abs_deadline(struct timespec *ts, int timeout_ms)
{
        clock_gettime(CLOCK_MONOTONIC, ts);
        ts->tv_sec += timeout_ms / 1000;
        ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts->tv_nsec >= 1000000000L) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000L;
        }
}

static int etcd_watch_open(struct k8c_store *base, const char *prefix, int64_t from_revision,
                           struct k8c_store_watch **ret_watch, k8c_error_t *err)
{
        struct etcd_store *s = (struct etcd_store *)base;
        if (from_revision < 0)
                return k8c_make_error(err, K8C_EBADREQUEST, "watch from negative revision %" PRId64,
                                      from_revision);
        struct etcd_watch *w = k8c_xcalloc(1, sizeof(*w));
        w->base.store = base;
        w->s = s;
        w->last_rev = from_revision;
        w->create_request = range_for(s, prefix, true);
        json_object_set_new(w->create_request, "prev_kv", json_true());
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&w->lock, NULL);
        w->multi = curl_multi_init();
        if (w->multi == NULL)
                abort();
        int r = pthread_create(&w->thread, NULL, watch_thread, w);
        if (r != 0) {
                watch_free(w);
                return k8c_make_errno(err, r, "etcd watch: starting its thread");
        }
        w->thread_started = true;

        /* Wait for the ack so that every change after this call returns is seen. */
        struct timespec deadline;
        abs_deadline(&deadline, ETCD_WATCH_OPEN_TIMEOUT_MS);
        pthread_mutex_lock(&w->lock);
        while (!w->created && !w->done)
                if (pthread_cond_timedwait(&w->cond, &w->lock, &deadline) == ETIMEDOUT)
                        break;
        bool created = w->created, done = w->done;
        if (done && w->head == NULL) {
                r = k8c_make_error(err, k8c_error_reason(&w->error), "%s", k8c_error_msg(&w->error));
                pthread_mutex_unlock(&w->lock);
                watch_free(w);
                return k8c_error_wrap(err, "watch \"%s\"", prefix);
        }
        pthread_mutex_unlock(&w->lock);
        if (!created && !done) {
                watch_free(w);
                return k8c_make_error(err, K8C_EUNAVAILABLE, "etcd watch \"%s\": no answer within %d ms",
                                      prefix, ETCD_WATCH_OPEN_TIMEOUT_MS);
        }
        *ret_watch = &w->base;
        return 0;
}

static int etcd_watch_next(struct k8c_store_watch *base, int timeout_ms, struct k8c_store_event **ret_ev,
                           k8c_error_t *err)
{
        struct etcd_watch *w = (struct etcd_watch *)base;
        struct timespec deadline;
        if (timeout_ms >= 0)
                abs_deadline(&deadline, timeout_ms);
        pthread_mutex_lock(&w->lock);
        while (w->head == NULL && !w->done) {
                if (timeout_ms < 0)
                        pthread_cond_wait(&w->cond, &w->lock);
                else if (pthread_cond_timedwait(&w->cond, &w->lock, &deadline) == ETIMEDOUT)
                        break;
        }
        if (w->head != NULL) {
                struct etcd_event_node *n = w->head;
                w->head = n->next;
                if (w->head == NULL)
                        w->tail = NULL;
                w->queued--;
                pthread_cond_broadcast(&w->cond); /* the stream may continue */
                pthread_mutex_unlock(&w->lock);
                *ret_ev = n->ev;
                free(n);
                return 1;
        }
        if (w->done) {
                int r = k8c_make_error(err, k8c_error_reason(&w->error), "%s", k8c_error_msg(&w->error));
                pthread_mutex_unlock(&w->lock);
                return r;
        }
        pthread_mutex_unlock(&w->lock);
        return 0;
}

static void etcd_watch_close(struct k8c_store_watch *base)
{
        watch_free((struct etcd_watch *)base);
}

/* ---- open / close ------------------------------------------------------------------------ */

static void etcd_close(struct k8c_store *base)
{
        struct etcd_store *s = (struct etcd_store *)base;
        if (s == NULL)
                return;
        for (size_t i = 0; i < s->pool_n; i++)
                curl_easy_cleanup(s->pool[i]);
        free(s->pool);
        for (size_t i = 0; i < s->n_endpoints; i++)
                free(s->endpoints[i]);
        free(s->endpoints);
        curl_slist_free_all(s->headers);
        pthread_mutex_destroy(&s->pool_lock);
        free(s->prefix);
        free(s);
}

static const struct k8c_store_ops etcd_ops = {
        .name = "etcd",
        .get = etcd_get,
        .list = etcd_list,
        .create = etcd_create,
        .update = etcd_update,
        .delete = etcd_delete,
        .watch = etcd_watch_open,
        .watch_next = etcd_watch_next,
        .watch_close = etcd_watch_close,
        .compact = etcd_compact,
        .current_revision = etcd_current_revision,
        .compacted_revision = etcd_compacted_revision,
        .close = etcd_close,
};

int k8c_store_etcd_open(const struct k8c_store_config *cfg, struct k8c_store **ret, k8c_error_t *err)
{
        if (cfg->etcd_servers == NULL || cfg->etcd_servers[0] == '\0')
                return k8c_make_error(err, K8C_EBADREQUEST, "etcd backend: --etcd-servers is empty");
        k8c_curl_global_init();

        struct etcd_store *s = k8c_xcalloc(1, sizeof(*s));
        s->base.ops = &etcd_ops;
        pthread_mutex_init(&s->pool_lock, NULL);
        s->prefix = k8c_xstrdup(cfg->etcd_prefix != NULL ? cfg->etcd_prefix : ETCD_DEFAULT_PREFIX);
        while (s->prefix[0] != '\0' && s->prefix[strlen(s->prefix) - 1] == '/')
                s->prefix[strlen(s->prefix) - 1] = '\0';
        /* The interface's keys already start with /registry (see the head of this file). */
        if (strcmp(s->prefix, ETCD_DEFAULT_PREFIX) == 0)
                s->prefix[0] = '\0';
        s->prefix_len = strlen(s->prefix);
        s->watch_queue = cfg->etcd_watch_queue > 0 ? cfg->etcd_watch_queue : ETCD_WATCH_QUEUE_DEFAULT;
        s->headers = curl_slist_append(NULL, "Content-Type: application/json");
        /* curl waits for "100 Continue" before sending bodies over 1 KiB; etcd needs no such dance. */
        s->headers = curl_slist_append(s->headers, "Expect:");

        cleanup_free char *list = k8c_xstrdup(cfg->etcd_servers);
        char *save = NULL;
        for (char *tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
                while (*tok == ' ')
                        tok++;
                size_t n = strlen(tok);
                while (n > 0 && (tok[n - 1] == '/' || tok[n - 1] == ' '))
                        tok[--n] = '\0';
                if (n == 0)
                        continue;
                if (strncmp(tok, "http://", 7) != 0 && strncmp(tok, "https://", 8) != 0) {
                        etcd_close(&s->base);
                        return k8c_make_error(err, K8C_EBADREQUEST,
                                              "etcd backend: endpoint \"%s\" is not an http(s):// URL", tok);
                }
                s->endpoints = k8c_xrealloc(s->endpoints, (s->n_endpoints + 1) * sizeof(*s->endpoints));
                s->endpoints[s->n_endpoints++] = k8c_xstrdup(tok);
        }
        if (s->n_endpoints == 0) {
                etcd_close(&s->base);
                return k8c_make_error(err, K8C_EBADREQUEST, "etcd backend: no endpoint in \"%s\"",
                                      cfg->etcd_servers);
        }
        /* Fail at start-up, not at the first request, when no member answers. */
        int64_t rev;
        int r = etcd_current_revision(&s->base, &rev, err);
        if (r < 0) {
                etcd_close(&s->base);
                return k8c_error_wrap(err, "etcd backend");
        }
        *ret = &s->base;
        return 0;
}

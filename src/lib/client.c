/*
 * client.c - JSON/HTTP client of the apiserver over libcurl.
 *
 * A pool of curl easy handles (each keeps its keep-alive connection) serves
 * concurrent requests from many threads; watches take a handle of their own
 * for as long as the stream lasts. Non-2xx answers become k8c_error_t with
 * the Status reason. Logs nothing.
 */
#include "k8c/client.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/kubeconfig.h"

#define POOL_MAX 16

struct k8c_client {
        char *server; /* without trailing slash */
        char *ca_file, *cert_file, *key_file, *token, *user_agent;
        struct curl_blob ca_blob, cert_blob, key_blob;
        bool has_ca_blob, has_cert_blob, has_key_blob;
        bool insecure;
        long timeout_ms;
        int max_retries;
        pthread_mutex_t lock;
        CURL *pool[POOL_MAX];
        int npool;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
        /* curl_global_init sets up every backend libcurl was built with. Debian's
         * libcurl-gnutls includes libssh2, whose init loads OpenSSL's algorithms and
         * builtin engines (~1.4 MB of RSS in every process) for scp:// and sftp://,
         * which k8c never uses. libssh2_init is reference counted and sets up crypto
         * only on its first call, so a first call with LIBSSH2_INIT_NO_CRYPTO (1)
         * skips that. Looked up at run time because libssh2 is only there as a
         * dependency of libcurl; without it nothing changes. */
        int (*ssh2_init)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, "libssh2_init");
        if (ssh2_init != NULL)
                ssh2_init(1);
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

void k8c_curl_global_init(void)
{
        pthread_once(&curl_once, curl_init_once);
}

static char *dup_or_null(const char *s)
{
        return s != NULL ? k8c_xstrdup(s) : NULL;
}

static void blob_copy(struct curl_blob *b, bool *has, const char *data, size_t len)
{
        if (data == NULL || len == 0)
                return;
        b->data = k8c_xmalloc(len);
        memcpy(b->data, data, len);
        b->len = len;
        b->flags = CURL_BLOB_NOCOPY;
        *has = true;
}

int k8c_client_new(const struct k8c_client_config *cfg, struct k8c_client **ret, k8c_error_t *err)
{
        if (cfg->server == NULL || cfg->server[0] == '\0')
                return k8c_make_error(err, K8C_EBADREQUEST,
                                      "no server found: set --server or a kubeconfig with a cluster server");
        if (strncmp(cfg->server, "http://", 7) != 0 && strncmp(cfg->server, "https://", 8) != 0)
                return k8c_make_error(err, K8C_EBADREQUEST,
                                      "invalid server \"%s\": must start with http:// or https://",
                                      cfg->server);
        k8c_curl_global_init();
        struct k8c_client *c = k8c_xcalloc(1, sizeof(*c));
        c->server = k8c_xstrdup(cfg->server);
        size_t l = strlen(c->server);
        while (l > 0 && c->server[l - 1] == '/')
                c->server[--l] = '\0';
        c->ca_file = dup_or_null(cfg->ca_file);
        c->cert_file = dup_or_null(cfg->cert_file);
        c->key_file = dup_or_null(cfg->key_file);
        c->token = dup_or_null(cfg->token);
        c->user_agent = k8c_xstrdup(cfg->user_agent != NULL ? cfg->user_agent : "k8c/v0.1.0");
        blob_copy(&c->ca_blob, &c->has_ca_blob, cfg->ca_data, cfg->ca_data_len);
        blob_copy(&c->cert_blob, &c->has_cert_blob, cfg->cert_data, cfg->cert_data_len);
        blob_copy(&c->key_blob, &c->has_key_blob, cfg->key_data, cfg->key_data_len);
        c->insecure = cfg->insecure_skip_tls_verify;
        c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000;
        c->max_retries = cfg->max_retries > 0 ? cfg->max_retries : 5;
        pthread_mutex_init(&c->lock, NULL);
        *ret = c;
        return 0;
}

int k8c_client_new_from_kubeconfig(const char *kubeconfig, const char *context, const char *server,
                                   struct k8c_client **ret, k8c_error_t *err)
{
        struct k8c_kubeconfig kc = { 0 };
        int r = k8c_kubeconfig_load(kubeconfig, context, server, &kc, err);
        if (r < 0)
                return r;
        struct k8c_client_config cfg = {
                .server = kc.server,
                .ca_file = kc.certificate_authority,
                .ca_data = kc.certificate_authority_data,
                .ca_data_len = kc.certificate_authority_data_len,
                .cert_file = kc.client_certificate,
                .cert_data = kc.client_certificate_data,
                .cert_data_len = kc.client_certificate_data_len,
                .key_file = kc.client_key,
                .key_data = kc.client_key_data,
                .key_data_len = kc.client_key_data_len,
                .token = kc.token,
                .insecure_skip_tls_verify = kc.insecure_skip_tls_verify,
        };
        r = k8c_client_new(&cfg, ret, err);
        k8c_kubeconfig_free(&kc);
        return r;
}

void k8c_client_free(struct k8c_client *c)
{
        if (c == NULL)
                return;
        for (int i = 0; i < c->npool; i++)
                curl_easy_cleanup(c->pool[i]);
        free(c->server);
        free(c->ca_file);
        free(c->cert_file);
        free(c->key_file);
        free(c->token);
        free(c->user_agent);
        free(c->ca_blob.data);
        free(c->cert_blob.data);
        free(c->key_blob.data);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

const char *k8c_client_server(const struct k8c_client *c)
{
        return c->server;
}

static CURL *handle_get(struct k8c_client *c)
{
        CURL *h = NULL;
        pthread_mutex_lock(&c->lock);
        if (c->npool > 0)
                h = c->pool[--c->npool];
        pthread_mutex_unlock(&c->lock);
        if (h == NULL) {
                h = curl_easy_init();
                if (h == NULL)
                        abort();
        }
        return h;
}

static void handle_put(struct k8c_client *c, CURL *h)
{
        curl_easy_reset(h);
        pthread_mutex_lock(&c->lock);
        if (c->npool < POOL_MAX) {
                c->pool[c->npool++] = h;
                h = NULL;
        }
        pthread_mutex_unlock(&c->lock);
        if (h != NULL)
                curl_easy_cleanup(h);
}

static void setup_common(struct k8c_client *c, CURL *h, const char *url)
{
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
        curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        if (c->insecure) {
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (c->ca_file != NULL)
                curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
        if (c->has_ca_blob)
                curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &c->ca_blob);
        if (c->cert_file != NULL)
                curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
        if (c->has_cert_blob)
                curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &c->cert_blob);
        if (c->key_file != NULL)
                curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
        if (c->has_key_blob)
                curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &c->key_blob);
}

struct buf {
        char *data;
        size_t len, cap;
};

static size_t write_buf(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct buf *b = userdata;
        size_t n = size * nmemb;
        if (b->len + n + 1 > b->cap) {
                size_t ncap = b->cap == 0 ? 4096 : b->cap;
                while (b->len + n + 1 > ncap)
                        ncap *= 2;
                b->data = k8c_xrealloc(b->data, ncap);
                b->cap = ncap;
        }
        memcpy(b->data + b->len, ptr, n);
        b->len += n;
        b->data[b->len] = '\0';
        return n;
}

struct hdrs {
        char *warning;
        long retry_after;
};

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct hdrs *h = userdata;
        size_t n = size * nmemb;
        if (n > 9 && strncasecmp(ptr, "Warning:", 8) == 0) {
                const char *v = ptr + 8;
                while (*v == ' ')
                        v++;
                size_t vl = n - (size_t)(v - ptr);
                while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
                        vl--;
                free(h->warning);
                h->warning = k8c_xstrndup(v, vl);
        } else if (n > 13 && strncasecmp(ptr, "Retry-After:", 12) == 0) {
                h->retry_after = strtol(ptr + 12, NULL, 10);
        }
        return n;
}

void k8c_response_free(struct k8c_response *r)
{
        if (r == NULL)
                return;
        json_decref(r->body);
        free(r->raw);
        free(r->warning);
        memset(r, 0, sizeof(*r));
}

int k8c_error_from_status(const json_t *status, long http_code, k8c_error_t *err)
{
        const char *reason = json_string_value(json_object_get(status, "reason"));
        const char *message = json_string_value(json_object_get(status, "message"));
        json_int_t code = json_integer_value(json_object_get(status, "code"));
        if (code == 0)
                code = http_code;
        k8c_reason_t r = k8c_reason_from_http((int)code, reason);
        if (message != NULL && message[0] != '\0')
                return k8c_make_error(err, r, "%s", message);
        return k8c_make_error(err, r, "the server responded with HTTP %ld", (long)code);
}

static bool retryable_code(long code)
{
        return code == 429 || code == 500 || code == 502 || code == 503 || code == 504;
}

static void sleep_backoff(int attempt, long retry_after_s)
{
        long ms = retry_after_s > 0 ? retry_after_s * 1000 : (100L << (attempt < 6 ? attempt : 6));
        if (ms > 10000)
                ms = 10000;
        usleep((useconds_t)ms * 1000);
}

/* "Accept: application/json" (or the caller's) and the bearer token; caller frees the list. */
static struct curl_slist *base_headers(const struct k8c_client *c, const char *accept)
{
        cleanup_free char *acc = k8c_xasprintf("Accept: %s", accept != NULL ? accept : "application/json");
        struct curl_slist *headers = curl_slist_append(NULL, acc);
        if (c->token != NULL) {
                cleanup_free char *auth = k8c_xasprintf("Authorization: Bearer %s", c->token);
                headers = curl_slist_append(headers, auth);
        }
        return headers;
}

int k8c_client_do(struct k8c_client *c, const char *method, const char *path, const json_t *body,
                  const char *content_type, struct k8c_response *ret, k8c_error_t *err)
{
        const struct k8c_request_opts o = { .content_type = content_type };
        return k8c_client_do_opts(c, method, path, body, &o, ret, err);
}

int k8c_client_do_opts(struct k8c_client *c, const char *method, const char *path, const json_t *body,
                       const struct k8c_request_opts *opts, struct k8c_response *ret, k8c_error_t *err)
{
        static const struct k8c_request_opts no_opts = { 0 };
        if (opts == NULL)
                opts = &no_opts;
        cleanup_free char *url = k8c_xasprintf("%s%s", c->server, path);
        cleanup_free char *dumped = body != NULL && opts->raw_body == NULL ? k8c_json_dumps(body) : NULL;
        const char *payload = opts->raw_body != NULL ? opts->raw_body : dumped;
        size_t payload_len = opts->raw_body != NULL ? opts->raw_body_len
                             : payload != NULL      ? strlen(payload)
                                                    : 0;
        const char *content_type = opts->content_type;
        bool idempotent = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        struct k8c_response resp = { 0 };
        int attempt = 0;
        for (;;) {
                CURL *h = handle_get(c);
                struct buf b = { 0 };
                struct hdrs hd = { 0 };
                struct curl_slist *headers = NULL;
                setup_common(c, h, url);
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
                curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                                 opts->timeout_ms > 0 ? opts->timeout_ms : c->timeout_ms);
                curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_buf);
                curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
                curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
                curl_easy_setopt(h, CURLOPT_HEADERDATA, &hd);
                headers = base_headers(c, opts->accept);
                if (payload != NULL) {
                        cleanup_free char *ct = k8c_xasprintf(
                                "Content-Type: %s", content_type != NULL ? content_type : "application/json");
                        headers = curl_slist_append(headers, ct);
                        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
                        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)payload_len);
                }
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
                CURLcode cc = curl_easy_perform(h);
                long code = 0;
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
                curl_slist_free_all(headers);
                handle_put(c, h);

                if (cc != CURLE_OK) {
                        free(b.data);
                        free(hd.warning);
                        /* A request that never reached the server can always be retried. */
                        bool unsent = cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST;
                        if ((idempotent || unsent) && attempt < c->max_retries) {
                                sleep_backoff(attempt++, 0);
                                continue;
                        }
                        return k8c_make_error(err, K8C_EUNAVAILABLE, "%s %s: %s", method, url,
                                              curl_easy_strerror(cc));
                }
                if (retryable_code(code) && attempt < c->max_retries && (idempotent || code == 429)) {
                        free(b.data);
                        free(hd.warning);
                        sleep_backoff(attempt++, hd.retry_after);
                        continue;
                }
                resp.code = code;
                resp.raw = b.data != NULL ? b.data : k8c_xstrdup("");
                resp.raw_len = b.len;
                resp.warning = hd.warning;
                if (b.len > 0)
                        resp.body = json_loadb(resp.raw, resp.raw_len, 0, NULL);
                break;
        }
        int r = 0;
        if (resp.code < 200 || resp.code > 299) {
                if (resp.body != NULL && json_is_object(resp.body))
                        r = k8c_error_from_status(resp.body, resp.code, err);
                else
                        r = k8c_make_error(err, k8c_reason_from_http((int)resp.code, NULL),
                                           "the server responded with HTTP %ld: %.200s", resp.code, resp.raw);
        }
        if (ret != NULL)
                *ret = resp;
        else
                k8c_response_free(&resp);
        return r;
}

static int do_body(struct k8c_client *c, const char *method, const char *path, const json_t *body,
                   const char *ct, json_t **ret, k8c_error_t *err)
{
        struct k8c_response resp = { 0 };
        int r = k8c_client_do(c, method, path, body, ct, &resp, err);
        if (r == 0 && ret != NULL)
                *ret = k8c_steal(&resp.body);
        k8c_response_free(&resp);
        return r;
}

int k8c_client_get(struct k8c_client *c, const char *path, json_t **ret, k8c_error_t *err)
{
        return do_body(c, "GET", path, NULL, NULL, ret, err);
}

int k8c_client_post(struct k8c_client *c, const char *path, const json_t *body, json_t **ret,
                    k8c_error_t *err)
{
        return do_body(c, "POST", path, body, NULL, ret, err);
}

int k8c_client_put(struct k8c_client *c, const char *path, const json_t *body, json_t **ret, k8c_error_t *err)
{
        return do_body(c, "PUT", path, body, NULL, ret, err);
}

int k8c_client_patch(struct k8c_client *c, const char *path, const char *patch_type, const json_t *body,
                     json_t **ret, k8c_error_t *err)
{
        return do_body(c, "PATCH", path, body,
                       patch_type != NULL ? patch_type : "application/merge-patch+json", ret, err);
}

int k8c_client_delete(struct k8c_client *c, const char *path, const json_t *options, json_t **ret,
                      k8c_error_t *err)
{
        return do_body(c, "DELETE", path, options, NULL, ret, err);
}

/* ---- watch ---- */

void k8c_watch_decoder_init(struct k8c_watch_decoder *d, k8c_watch_fn fn, void *opaque)
{
        memset(d, 0, sizeof(*d));
        d->fn = fn;
        d->opaque = opaque;
}

void k8c_watch_decoder_free(struct k8c_watch_decoder *d)
{
        free(d->buf);
        d->buf = NULL;
        d->len = d->cap = 0;
}

static int decode_line(struct k8c_watch_decoder *d, const char *line, size_t n, k8c_error_t *err)
{
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
                n--;
        if (n == 0)
                return 0;
        json_error_t jerr;
        json_auto_t *ev = json_loadb(line, n, 0, &jerr);
        if (ev == NULL || !json_is_object(ev))
                return k8c_make_error(err, K8C_EBADREQUEST, "malformed watch event: %s",
                                      ev == NULL ? jerr.text : "not an object");
        const char *type = json_string_value(json_object_get(ev, "type"));
        json_t *obj = json_object_get(ev, "object");
        if (type == NULL || obj == NULL)
                return k8c_make_error(err, K8C_EBADREQUEST, "malformed watch event: missing type or object");
        if (d->fn(d->opaque, type, obj) != 0) {
                d->stopped = true;
                return 1;
        }
        return 0;
}

int k8c_watch_decoder_feed(struct k8c_watch_decoder *d, const char *data, size_t n, k8c_error_t *err)
{
        if (d->stopped)
                return 1;
        if (n == 0)
                return 0;
        if (d->len + n > d->cap) {
                size_t ncap = d->cap == 0 ? 8192 : d->cap;
                while (d->len + n > ncap)
                        ncap *= 2;
                d->buf = k8c_xrealloc(d->buf, ncap);
                d->cap = ncap;
        }
        memcpy(d->buf + d->len, data, n);
        d->len += n;
        size_t start = 0;
        for (size_t i = 0; i < d->len; i++) {
                if (d->buf[i] != '\n')
                        continue;
                int r = decode_line(d, d->buf + start, i - start, err);
                start = i + 1;
                if (r != 0) {
                        d->len = 0;
                        return r;
                }
        }
        memmove(d->buf, d->buf + start, d->len - start);
        d->len -= start;
        return 0;
}

struct watch_ctx {
        struct k8c_watch_decoder dec;
        const volatile bool *stop;
        k8c_error_t *err;
        int result;
        long code;
        struct buf errbody; /* body of a non-200 answer */
        CURL *h;
};

static size_t watch_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct watch_ctx *w = userdata;
        size_t n = size * nmemb;
        if (w->code == 0)
                curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &w->code);
        if (w->code != 200)
                return write_buf(ptr, size, nmemb, &w->errbody);
        int r = k8c_watch_decoder_feed(&w->dec, ptr, n, w->err);
        if (r != 0) {
                w->result = r;
                return 0; /* abort the transfer */
        }
        return n;
}

static int watch_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                          curl_off_t ulnow)
{
        struct watch_ctx *w = userdata;
        if (w->stop != NULL && *w->stop) {
                w->result = 1;
                return 1;
        }
        return 0;
}

int k8c_client_watch(struct k8c_client *c, const char *path, k8c_watch_fn fn, void *opaque,
                     const volatile bool *stop, k8c_error_t *err)
{
        return k8c_client_watch_opts(c, path, NULL, fn, opaque, stop, NULL, err);
}

int k8c_client_watch_opts(struct k8c_client *c, const char *path, const struct k8c_request_opts *opts,
                          k8c_watch_fn fn, void *opaque, const volatile bool *stop,
                          struct k8c_response *ret_reply, k8c_error_t *err)
{
        cleanup_free char *url = k8c_xasprintf("%s%s", c->server, path);
        CURL *h = curl_easy_init();
        if (h == NULL)
                abort();
        struct watch_ctx w = { .stop = stop, .err = err, .h = h };
        k8c_watch_decoder_init(&w.dec, fn, opaque);
        struct curl_slist *headers = base_headers(c, opts != NULL ? opts->accept : NULL);
        setup_common(c, h, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, watch_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, watch_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &w);
        /* A dead peer is noticed by TCP keep-alive rather than by a request timeout. */
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 15L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 5L);
        /* A multi handle polled in short slices notices *stop within ~100 ms even on an idle
         * stream (curl's progress callback alone only fires about once a second). */
        CURLM *m = curl_multi_init();
        if (m == NULL)
                abort();
        curl_multi_add_handle(m, h);
        CURLcode cc = CURLE_OK;
        for (;;) {
                int running = 0;
                CURLMcode mc = curl_multi_perform(m, &running);
                if (mc != CURLM_OK) {
                        cc = CURLE_RECV_ERROR;
                        break;
                }
                if (running == 0) {
                        int left = 0;
                        CURLMsg *msg;
                        while ((msg = curl_multi_info_read(m, &left)) != NULL)
                                if (msg->msg == CURLMSG_DONE)
                                        cc = msg->data.result;
                        break;
                }
                if (stop != NULL && *stop) {
                        w.result = 1;
                        break;
                }
                curl_multi_poll(m, NULL, 0, 100, NULL);
        }
        curl_multi_remove_handle(m, h);
        curl_multi_cleanup(m);
        if (w.code == 0)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &w.code);
        curl_slist_free_all(headers);
        curl_easy_cleanup(h);
        k8c_watch_decoder_free(&w.dec);
        int r;
        json_auto_t *st = NULL;
        if (w.code != 200 && w.code != 0 && w.errbody.data != NULL)
                st = json_loads(w.errbody.data, 0, NULL);
        if (ret_reply != NULL) {
                memset(ret_reply, 0, sizeof(*ret_reply));
                ret_reply->code = w.code;
                if (w.code != 200 && w.code != 0) {
                        ret_reply->raw =
                                w.errbody.data != NULL ? k8c_xstrdup(w.errbody.data) : k8c_xstrdup("");
                        ret_reply->raw_len = w.errbody.len;
                        ret_reply->body = json_incref(st);
                }
        }
        if (w.result != 0) {
                r = w.result; /* 1 = stopped, negative = decode error (err already set) */
        } else if (w.code != 200 && w.code != 0) {
                if (st != NULL)
                        r = k8c_error_from_status(st, w.code, err);
                else
                        r = k8c_make_error(err, k8c_reason_from_http((int)w.code, NULL), "watch %s: HTTP %ld",
                                           path, w.code);
        } else if (cc != CURLE_OK) {
                r = k8c_make_error(err, K8C_EUNAVAILABLE, "watch %s: %s", path, curl_easy_strerror(cc));
        } else {
                r = 0;
        }
        free(w.errbody.data);
        return r;
}

char *k8c_url_escape(const char *s)
{
        pthread_once(&curl_once, curl_init_once);
        char *e = curl_easy_escape(NULL, s, 0);
        if (e == NULL)
                abort();
        char *r = k8c_xstrdup(e);
        curl_free(e);
        return r;
}

/*
 * http.c - the CLI's requests and how their failures read.
 *
 * JSON requests go through the shared client (client.h). Table requests need
 * an Accept header the shared client does not let callers choose, so this file
 * holds a small libcurl GET/watch with the same kubeconfig credentials; it
 * must stay that small (the shared client should grow an accept option, see
 * the branch report). Failures become the exact lines kubectl prints.
 */
#include "k8c/cli.h"

#include <curl/curl.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/flags.h"
#include "k8c/json.h"
#include "k8c/log.h"

#include <time.h>

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -v=6 and above: one line per request, like kubectl's round_trippers log. */
static void log_request(struct k8c_cli *cli, const char *method, const char *path, long code, int64_t start)
{
        if (k8c_log_v < 6)
                return;
        fprintf(cli->errout, "I %s %s%s %ld in %lld milliseconds\n", method, k8c_client_server(cli->client),
                path, code, (long long)(now_ms() - start));
}

int k8c_cli_connection_error(const char *server, k8c_error_t *err)
{
        const char *host = server;
        if (strncmp(host, "http://", 7) == 0)
                host += 7;
        else if (strncmp(host, "https://", 8) == 0)
                host += 8;
        size_t n = strcspn(host, "/");
        return k8c_make_error(
                err, K8C_EUNAVAILABLE,
                "The connection to the server %.*s was refused - did you specify the right host "
                "or port?",
                (int)n, host);
}

int k8c_cli_server_error(long code, const json_t *status, const char *raw, k8c_error_t *err)
{
        const char *reason = json_string_value(json_object_get(status, "reason"));
        const char *message = json_string_value(json_object_get(status, "message"));
        k8c_reason_t r = k8c_reason_from_http((int)code, reason);
        if (message == NULL)
                return k8c_make_error(err, r, "error: the server responded with HTTP %ld: %.200s", code,
                                      raw != NULL ? raw : "");
        /* kubectl prints validation errors without the "Error from server" prefix. */
        if (code == 422)
                return k8c_make_error(err, r, "%s", message);
        return k8c_make_error(err, r, "Error from server (%s): %s",
                              reason != NULL && reason[0] != '\0' ? reason : k8c_reason_string(r), message);
}

int k8c_cli_request(struct k8c_cli *cli, const char *method, const char *path, const json_t *body,
                    const char *content_type, json_t **ret_body, k8c_error_t *err)
{
        int r = k8c_cli_connect(cli, err);
        if (r < 0)
                return r;
        struct k8c_response resp = { 0 };
        cleanup_error k8c_error_t cerr = NULL;
        int64_t start = now_ms();
        r = k8c_client_do(cli->client, method, path, body, content_type, &resp, &cerr);
        log_request(cli, method, path, resp.code, start);
        if (r < 0) {
                if (resp.code == 0)
                        r = k8c_cli_connection_error(k8c_client_server(cli->client), err);
                else
                        r = k8c_cli_server_error(resp.code, resp.body, resp.raw, err);
                k8c_response_free(&resp);
                return r;
        }
        if (resp.warning != NULL)
                fprintf(cli->errout, "Warning: %s\n", resp.warning);
        if (ret_body != NULL)
                *ret_body = k8c_steal(&resp.body);
        k8c_response_free(&resp);
        return 0;
}

/* ---- Accept-header requests ---- */

struct sink {
        char *data;
        size_t len, cap;
};

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct sink *s = userdata;
        size_t n = size * nmemb;
        if (s->len + n + 1 > s->cap) {
                size_t cap = s->cap == 0 ? 8192 : s->cap;
                while (s->len + n + 1 > cap)
                        cap *= 2;
                s->data = k8c_xrealloc(s->data, cap);
                s->cap = cap;
        }
        memcpy(s->data + s->len, ptr, n);
        s->len += n;
        s->data[s->len] = '\0';
        return n;
}

static CURL *easy_for(struct k8c_cli *cli, const char *path, const char *accept, struct curl_slist **hdrs)
{
        CURL *h = curl_easy_init();
        if (h == NULL)
                abort();
        cleanup_free char *url = k8c_xasprintf("%s%s", k8c_client_server(cli->client), path);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "k8cctl/" K8C_VERSION);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        const struct k8c_kubeconfig *kc = &cli->kc;
        if (kc->insecure_skip_tls_verify) {
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        /* CURLOPT_*_BLOB copies the bytes (no CURL_BLOB_NOCOPY), so stack blobs are fine. */
        if (kc->certificate_authority != NULL)
                curl_easy_setopt(h, CURLOPT_CAINFO, kc->certificate_authority);
        if (kc->certificate_authority_data != NULL) {
                struct curl_blob b = { kc->certificate_authority_data, kc->certificate_authority_data_len,
                                       CURL_BLOB_COPY };
                curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
        }
        if (kc->client_certificate != NULL)
                curl_easy_setopt(h, CURLOPT_SSLCERT, kc->client_certificate);
        if (kc->client_certificate_data != NULL) {
                struct curl_blob b = { kc->client_certificate_data, kc->client_certificate_data_len,
                                       CURL_BLOB_COPY };
                curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
        }
        if (kc->client_key != NULL)
                curl_easy_setopt(h, CURLOPT_SSLKEY, kc->client_key);
        if (kc->client_key_data != NULL) {
                struct curl_blob b = { kc->client_key_data, kc->client_key_data_len, CURL_BLOB_COPY };
                curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
        }
        cleanup_free char *acc = k8c_xasprintf("Accept: %s", accept);
        *hdrs = curl_slist_append(NULL, acc);
        const char *token = cli->token != NULL ? cli->token : kc->token;
        if (token != NULL) {
                cleanup_free char *auth = k8c_xasprintf("Authorization: Bearer %s", token);
                *hdrs = curl_slist_append(*hdrs, auth);
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
        return h;
}

int k8c_cli_get_accept(struct k8c_cli *cli, const char *path, const char *accept, json_t **ret_body,
                       k8c_error_t *err)
{
        int r = k8c_cli_connect(cli, err);
        if (r < 0)
                return r;
        struct curl_slist *hdrs = NULL;
        CURL *h = easy_for(cli, path, accept, &hdrs);
        struct sink s = { 0 };
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                         cli->request_timeout_ms > 0 ? (long)cli->request_timeout_ms : 60000L);
        int64_t start = now_ms();
        CURLcode cc = curl_easy_perform(h);
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        log_request(cli, "GET", path, code, start);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        cleanup_free char *raw = s.data;
        if (cc != CURLE_OK || code == 0)
                return k8c_cli_connection_error(k8c_client_server(cli->client), err);
        json_auto_t *body = raw != NULL ? json_loads(raw, 0, NULL) : NULL;
        if (code < 200 || code > 299)
                return k8c_cli_server_error(code, body, raw, err);
        if (body == NULL)
                return k8c_make_error(err, K8C_EINTERNAL, "error: the server sent an empty or invalid reply");
        *ret_body = k8c_steal(&body);
        return 0;
}

struct watch_state {
        struct k8c_watch_decoder dec;
        struct sink errbody;
        long code;
        CURL *h;
        int result;
        k8c_error_t *err;
};

static size_t watch_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct watch_state *w = userdata;
        size_t n = size * nmemb;
        if (w->code == 0)
                curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &w->code);
        if (w->code != 200)
                return sink_write(ptr, size, nmemb, &w->errbody);
        int r = k8c_watch_decoder_feed(&w->dec, ptr, n, w->err);
        if (r != 0) {
                w->result = r;
                return 0;
        }
        return n;
}

int k8c_cli_watch_accept(struct k8c_cli *cli, const char *path, const char *accept, k8c_watch_fn fn,
                         void *opaque, k8c_error_t *err)
{
        int r = k8c_cli_connect(cli, err);
        if (r < 0)
                return r;
        struct curl_slist *hdrs = NULL;
        CURL *h = easy_for(cli, path, accept, &hdrs);
        struct watch_state w = { .h = h, .err = err };
        k8c_watch_decoder_init(&w.dec, fn, opaque);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, watch_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
        CURLcode cc = curl_easy_perform(h);
        if (w.code == 0)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &w.code);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        k8c_watch_decoder_free(&w.dec);
        cleanup_free char *raw = w.errbody.data;
        if (w.result != 0)
                return w.result < 0 ? w.result : 0;
        if (w.code == 0)
                return k8c_cli_connection_error(k8c_client_server(cli->client), err);
        if (w.code != 200) {
                json_auto_t *st = raw != NULL ? json_loads(raw, 0, NULL) : NULL;
                return k8c_cli_server_error(w.code, st, raw, err);
        }
        (void)cc; /* the server closing the stream ends a watch normally, as in kubectl */
        return 0;
}

/*
 * fake_gateway.c - a canned etcd JSON gateway on 127.0.0.1 (libmicrohttpd) and
 * the cases that drive the etcd backend against it; see fake_gateway.h. Real
 * etcd writes int64s as strings; the fake mixes in plain numbers, which the
 * gateway's JSON decoding also allows, and leaves out zero fields as etcd does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_gateway.h"
#include "k8c/cleanup.h"
#include "k8c/store.h"

struct fake {
        struct MHD_Daemon *d;
        int port;
        char url[64];
        const char *range_body; /* answer to /v3/kv/range */
        int range_status;       /* its HTTP status */
        const char *txn_body;   /* answer to /v3/kv/txn */
        int txn_status;
        char *watch_stream; /* answer to /v3/watch, sent in small pieces */
        pthread_mutex_t lock;
        int watch_requests;
        char *watch_bodies[8]; /* request bodies of the first watches */
};

struct upload {
        char *data;
        size_t len;
};

struct stream_pos {
        const char *data;
        size_t len;
};

/* Hands out 5 bytes per call with a pause, so the client sees messages cut mid-way. */
static ssize_t stream_piece(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct stream_pos *s = cls;
        if (pos >= s->len)
                return MHD_CONTENT_READER_END_OF_STREAM;
        size_t n = s->len - pos < 5 ? s->len - pos : 5;
        if (n > max)
                n = max;
        memcpy(buf, s->data + pos, n);
        usleep(300);
        return (ssize_t)n;
}

static void stream_free(void *cls)
{
        free(cls);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls)
{
        struct fake *f = cls;
        struct upload *u = *con_cls;
        if (u == NULL) {
                *con_cls = k8c_xcalloc(1, sizeof(*u));
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                u->data = k8c_xrealloc(u->data, u->len + *upload_data_size + 1);
                memcpy(u->data + u->len, upload_data, *upload_data_size);
                u->len += *upload_data_size;
                u->data[u->len] = '\0';
                *upload_data_size = 0;
                return MHD_YES;
        }
        struct MHD_Response *r = NULL;
        int status = 200;
        if (strcmp(url, "/v3/watch") == 0) {
                pthread_mutex_lock(&f->lock);
                if (f->watch_requests < 8)
                        f->watch_bodies[f->watch_requests] = k8c_xstrdup(u->data != NULL ? u->data : "");
                f->watch_requests++;
                pthread_mutex_unlock(&f->lock);
                struct stream_pos *s = k8c_xcalloc(1, sizeof(*s));
                s->data = f->watch_stream;
                s->len = strlen(f->watch_stream);
                r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64, stream_piece, s, stream_free);
        } else {
                const char *body = "{}";
                if (strcmp(url, "/v3/kv/range") == 0) {
                        body = f->range_body;
                        status = f->range_status;
                } else if (strcmp(url, "/v3/kv/txn") == 0) {
                        body = f->txn_body;
                        status = f->txn_status;
                }
                r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
        }
        MHD_add_response_header(r, "Content-Type", "application/json");
        enum MHD_Result ret = MHD_queue_response(c, (unsigned int)status, r);
        MHD_destroy_response(r);
        return ret;
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode t)
{
        struct upload *u = *con_cls;
        if (u != NULL) {
                free(u->data);
                free(u);
                *con_cls = NULL;
        }
}

static struct fake *fake_start(void)
{
        struct fake *f = k8c_xcalloc(1, sizeof(*f));
        pthread_mutex_init(&f->lock, NULL);
        f->range_status = 200;
        f->txn_status = 200;
        f->range_body = "{}";
        f->txn_body = "{}";
        f->watch_stream = k8c_xstrdup("");
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        f->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                                NULL, handle, f, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
                                request_done, f, MHD_OPTION_END);
        assert_non_null(f->d);
        f->port = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT)->port;
        snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
        return f;
}

static void fake_stop(struct fake *f)
{
        MHD_stop_daemon(f->d);
        for (int i = 0; i < 8; i++)
                free(f->watch_bodies[i]);
        free(f->watch_stream);
        pthread_mutex_destroy(&f->lock);
        free(f);
}

static char *b64(const char *s)
{
        gnutls_datum_t in = { (unsigned char *)s, (unsigned int)strlen(s) }, out = { NULL, 0 };
        assert_int_equal(gnutls_base64_encode2(&in, &out), 0);
        char *r = k8c_xstrndup((const char *)out.data, out.size);
        gnutls_free(out.data);
        return r;
}

static struct k8c_store *open_fake(struct fake *f)
{
        struct k8c_store_config cfg = { .backend = "etcd", .etcd_servers = f->url };
        struct k8c_store *s = NULL;
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_store_open(&cfg, &s, &err);
        if (r < 0)
                fprintf(stderr, "open fake: %s\n", k8c_error_msg(&err));
        assert_int_equal(r, 0);
        return s;
}

void test_fake_gateway_range_parsing(void **state)
{
        struct fake *f = fake_start();
        cleanup_free char *kx = b64("/registry/x");
        cleanup_free char *ky = b64("/registry/y");
        cleanup_free char *hello = b64("hello");
        /* Numbers and strings mixed; y has no value and no version (both zero); count is ignored. */
        cleanup_free char *body = k8c_xasprintf("{\"header\":{\"cluster_id\":\"1\",\"revision\":7},\"kvs\":["
                                                "{\"key\":\"%s\",\"create_revision\":\"3\",\"mod_revision\":"
                                                "5,\"version\":\"2\",\"value\":\"%s\"},"
                                                "{\"key\":\"%s\",\"create_revision\":\"6\",\"mod_revision\":"
                                                "\"6\"}],\"more\":true,\"count\":\"3\"}",
                                                kx, hello, ky);
        f->range_body = body;
        struct k8c_store *s = open_fake(f);
        cleanup_error k8c_error_t err = NULL;

        int64_t rev = 0;
        assert_int_equal(k8c_store_current_revision(s, &rev, &err), 0);
        assert_int_equal(rev, 7);

        struct k8c_kv kv = { 0 };
        assert_int_equal(k8c_store_get(s, "/registry/x", &kv, &err), 0);
        assert_string_equal(kv.key, "/registry/x");
        assert_string_equal(kv.value, "hello");
        assert_int_equal(kv.value_len, 5);
        assert_int_equal(kv.create_revision, 3);
        assert_int_equal(kv.mod_revision, 5);
        assert_int_equal(kv.version, 2);
        k8c_kv_free(&kv);

        struct k8c_kv_list l = { 0 };
        assert_int_equal(k8c_store_list(s, "/registry/", NULL, &l, &err), 0);
        assert_int_equal(l.n, 2);
        assert_true(l.more);
        assert_int_equal(l.revision, 7);
        assert_string_equal(l.items[1].key, "/registry/y");
        assert_non_null(l.items[1].value);
        assert_int_equal(l.items[1].value_len, 0);
        assert_int_equal(l.items[1].version, 0);
        assert_int_equal(l.items[1].mod_revision, 6);
        k8c_kv_list_free(&l);

        /* A txn whose compare failed: "succeeded" omitted = false; the failure range holds the kv. */
        cleanup_free char *txn = k8c_xasprintf(
                "{\"header\":{\"revision\":\"9\"},\"responses\":[{\"response_range\":{\"header\":{},\"kvs\":["
                "{\"key\":\"%s\",\"create_revision\":\"3\",\"mod_revision\":\"5\",\"version\":\"2\","
                "\"value\":\"%s\"}]"
                ",\"count\":\"1\"}}]}",
                kx, hello);
        f->txn_body = txn;
        assert_int_equal(k8c_store_update(s, "/registry/x", "new", 3, 4, &kv, &err), -(int)K8C_ECONFLICT);
        assert_string_equal(kv.value, "hello");
        assert_int_equal(kv.mod_revision, 5);
        k8c_kv_free(&kv);
        k8c_error_release(&err);
        assert_int_equal(k8c_store_create(s, "/registry/x", "new", 3, NULL, &err), -(int)K8C_EALREADYEXISTS);
        k8c_error_release(&err);
        /* A failed compare with an empty failure range: the key is gone. */
        f->txn_body =
                "{\"header\":{\"revision\":\"9\"},\"responses\":[{\"response_range\":{\"header\":{}}}]}";
        assert_int_equal(k8c_store_delete(s, "/registry/x", 5, NULL, &err), -(int)K8C_ENOTFOUND);
        k8c_error_release(&err);
        /* Success: the put's prev_kv gives create_revision and version. */
        cleanup_free char *ok = k8c_xasprintf(
                "{\"header\":{\"revision\":\"10\"},\"succeeded\":true,\"responses\":[{\"response_put\":{"
                "\"header\":{\"revision\":\"10\"},\"prev_kv\":{\"key\":\"%s\",\"create_revision\":\"3\","
                "\"mod_revision\":\"5\",\"version\":\"2\",\"value\":\"%s\"}}}]}",
                kx, hello);
        f->txn_body = ok;
        assert_int_equal(k8c_store_update(s, "/registry/x", "new", 3, 5, &kv, &err), 0);
        assert_string_equal(kv.value, "new");
        assert_int_equal(kv.create_revision, 3);
        assert_int_equal(kv.mod_revision, 10);
        assert_int_equal(kv.version, 3);
        k8c_kv_free(&kv);
        k8c_store_close(s);
        fake_stop(f);
}

static struct k8c_store_event *next(struct k8c_store_watch *w)
{
        struct k8c_store_event *ev = NULL;
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_store_watch_next(w, 5000, &ev, &err);
        if (r != 1)
                fprintf(stderr, "watch_next: %d %s\n", r, k8c_error_msg(&err));
        assert_int_equal(r, 1);
        return ev;
}

void test_fake_gateway_watch_pieces_and_resume(void **state)
{
        struct fake *f = fake_start();
        f->range_body = "{\"header\":{\"revision\":\"7\"}}";
        cleanup_free char *kx = b64("/registry/x");
        cleanup_free char *a = b64("a");
        cleanup_free char *bb = b64("b");
        free(f->watch_stream);
        /* Two events in one message (a PUT without "type"), a DELETE with only key+mod_revision in kv. */
        f->watch_stream = k8c_xasprintf(
                "{\"result\":{\"header\":{\"revision\":\"7\"},\"created\":true}}\n"
                "{\"result\":{\"header\":{\"revision\":\"9\"},\"events\":["
                "{\"kv\":{\"key\":\"%s\",\"create_revision\":\"8\",\"mod_revision\":\"8\",\"version\":\"1\","
                "\"value\":\"%s\"}},"
                "{\"type\":\"PUT\",\"kv\":{\"key\":\"%s\",\"create_revision\":\"8\",\"mod_revision\":9,"
                "\"version\":"
                "\"2\",\"value\":\"%s\"},\"prev_kv\":{\"key\":\"%s\",\"create_revision\":\"8\",\"mod_"
                "revision\":\"8\","
                "\"version\":\"1\",\"value\":\"%s\"}}]}}\n"
                "{\"result\":{\"header\":{\"revision\":\"10\"},\"events\":[{\"type\":\"DELETE\",\"kv\":{"
                "\"key\":"
                "\"%s\",\"mod_revision\":\"10\"},\"prev_kv\":{\"key\":\"%s\",\"create_revision\":\"8\","
                "\"mod_revision\":\"9\",\"version\":\"2\",\"value\":\"%s\"}}]}}\n",
                kx, a, kx, bb, kx, a, kx, kx, bb);
        struct k8c_store *s = open_fake(f);
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "/registry/", 7, &w, &err), 0);

        struct k8c_store_event *ev = next(w);
        assert_int_equal(ev->type, K8C_STORE_CREATE);
        assert_int_equal(ev->revision, 8);
        assert_string_equal(ev->kv.value, "a");
        assert_null(ev->prev.key);
        k8c_store_event_free(ev);
        ev = next(w);
        assert_int_equal(ev->type, K8C_STORE_UPDATE);
        assert_int_equal(ev->revision, 9);
        assert_string_equal(ev->kv.value, "b");
        assert_int_equal(ev->kv.version, 2);
        assert_string_equal(ev->prev.value, "a");
        k8c_store_event_free(ev);
        ev = next(w);
        assert_int_equal(ev->type, K8C_STORE_DELETE);
        assert_int_equal(ev->revision, 10);
        assert_string_equal(ev->kv.key, "/registry/x");
        assert_string_equal(ev->kv.value, "b");
        assert_int_equal(ev->kv.create_revision, 8);
        assert_int_equal(ev->kv.mod_revision, 10);
        assert_int_equal(ev->prev.mod_revision, 9);
        k8c_store_event_free(ev);

        /* The stream ended; the backend reconnects from revision 10 and drops the replayed events. */
        ev = NULL;
        assert_int_equal(k8c_store_watch_next(w, 400, &ev, &err), 0);
        assert_null(ev);
        k8c_store_watch_close(w);
        k8c_store_close(s);

        pthread_mutex_lock(&f->lock);
        int n = f->watch_requests;
        pthread_mutex_unlock(&f->lock);
        assert_true(n >= 2);
        cleanup_free char *pfx = b64("/registry/");
        cleanup_free char *end = b64("/registry0");
        json_error_t jerr;
        json_auto_t *first = json_loads(f->watch_bodies[0], 0, &jerr);
        json_auto_t *second = json_loads(f->watch_bodies[1], 0, &jerr);
        assert_non_null(first);
        assert_non_null(second);
        json_t *cr = json_object_get(first, "create_request");
        assert_string_equal(json_string_value(json_object_get(cr, "key")), pfx);
        assert_string_equal(json_string_value(json_object_get(cr, "range_end")), end);
        assert_true(json_is_true(json_object_get(cr, "prev_kv")));
        /* start_revision = from (not from+1): etcd itself then refuses a compacted from. */
        assert_string_equal(json_string_value(json_object_get(cr, "start_revision")), "7");
        cr = json_object_get(second, "create_request");
        assert_string_equal(json_string_value(json_object_get(cr, "start_revision")), "10");
        fake_stop(f);
}

void test_fake_gateway_watch_canceled_compacted(void **state)
{
        struct fake *f = fake_start();
        f->range_body = "{\"header\":{\"revision\":\"70\"}}";
        free(f->watch_stream);
        f->watch_stream =
                k8c_xstrdup("{\"result\":{\"header\":{\"revision\":\"70\"},\"created\":true}}\n"
                            "{\"result\":{\"header\":{},\"canceled\":true,\"compact_revision\":\"42\"}}\n");
        struct k8c_store *s = open_fake(f);
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store_watch *w = NULL;
        int r = k8c_store_watch(s, "/registry/", 5, &w, &err);
        if (r == 0) {
                struct k8c_store_event *ev = NULL;
                r = k8c_store_watch_next(w, 5000, &ev, &err);
                k8c_store_watch_close(w);
        }
        assert_int_equal(r, -(int)K8C_EEXPIRED);
        assert_int_equal(k8c_reason_http_code(k8c_error_reason(&err)), 410);
        assert_non_null(strstr(k8c_error_msg(&err), "compacted revision 42"));
        k8c_store_close(s);
        fake_stop(f);
}

void test_fake_gateway_error_mapping(void **state)
{
        struct fake *f = fake_start();
        f->range_body = "{\"header\":{\"revision\":\"70\"}}";
        struct k8c_store *s = open_fake(f);
        cleanup_error k8c_error_t err = NULL;
        struct k8c_kv kv = { 0 };
        struct {
                const char *body;
                int status;
                k8c_reason_t reason;
        } cases[] = {
                { "{\"error\":\"etcdserver: mvcc: required revision has been "
                  "compacted\",\"message\":\"etcdserver: "
                  "mvcc: required revision has been compacted\",\"code\":11}",
                  400, K8C_EEXPIRED },
                { "{\"error\":\"etcdserver: mvcc: required revision is a future "
                  "revision\",\"message\":\"etcdserver: "
                  "mvcc: required revision is a future revision\",\"code\":11}",
                  400, K8C_ETOOLARGERV },
                { "{\"error\":\"etcdserver: request is too large\",\"message\":\"etcdserver: request is too "
                  "large\","
                  "\"code\":3}",
                  400, K8C_ETOOLARGE },
                { "{\"error\":\"etcdserver: no leader\",\"message\":\"etcdserver: no leader\",\"code\":14}",
                  503, K8C_EUNAVAILABLE },
                { "{\"error\":\"something odd\",\"message\":\"something odd\",\"code\":2}", 500,
                  K8C_EINTERNAL },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                f->range_body = cases[i].body;
                f->range_status = cases[i].status;
                assert_int_equal(k8c_store_get(s, "/registry/x", &kv, &err), -(int)cases[i].reason);
                k8c_error_release(&err);
        }
        /* Writes too: a txn error body. */
        f->txn_body = cases[2].body;
        f->txn_status = 400;
        assert_int_equal(k8c_store_create(s, "/registry/x", "v", 1, NULL, &err), -(int)K8C_ETOOLARGE);
        assert_string_equal(k8c_error_msg(&err), "etcd: etcdserver: request is too large");
        k8c_store_close(s);
        fake_stop(f);
}

/*
 * Integration tests of the etcd backend against a real etcd (Debian's
 * etcd-server, started on loopback by tests/common/etcd_harness.c): the JSON
 * gateway details (base64, string int64s, omitted fields), the txn mapping,
 * key layout with prefixes, paging, watches, compaction, and endpoint failover
 * (a dead first endpoint; a member that dies under an open watch, played by a
 * loopback TCP proxy that the test stops). Backend-independent behaviour is in
 * tests/integration/storage (the conformance suite).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/etcd_harness.h"
#include "fake_gateway.h"
#include "k8c/cleanup.h"
#include "k8c/store.h"

static struct etcd_harness *etcd;

static int group_setup(void **state)
{
        return etcd_harness_start(&etcd) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
        etcd_harness_stop(etcd);
        etcd = NULL;
        return 0;
}

/* A test-unique prefix so that tests (and concurrent runs) never share keys. */
static char *test_prefix(const char *name)
{
        return k8c_xasprintf("/k8c-test-%d-%s", (int)getpid(), name);
}

static struct k8c_store *open_store(const char *servers, const char *prefix)
{
        struct k8c_store_config cfg = { .backend = "etcd", .etcd_servers = servers, .etcd_prefix = prefix };
        struct k8c_store *s = NULL;
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_store_open(&cfg, &s, &err);
        if (r < 0)
                fprintf(stderr, "open: %s\n", k8c_error_msg(&err));
        assert_int_equal(r, 0);
        assert_non_null(s);
        assert_string_equal(s->ops->name, "etcd");
        return s;
}

static int64_t current_rev(struct k8c_store *s)
{
        int64_t rev = -1;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_store_current_revision(s, &rev, &err), 0);
        return rev;
}

/* ---- a raw look at etcd, bypassing the backend ---- */

static size_t collect(char *p, size_t size, size_t n, void *u)
{
        FILE *f = u;
        return fwrite(p, size, n, f);
}

/* Ranges one raw etcd key through the gateway; returns the decoded value or NULL if absent. */
static char *raw_get(const char *key)
{
        gnutls_datum_t in = { (unsigned char *)key, (unsigned int)strlen(key) }, out = { NULL, 0 };
        assert_int_equal(gnutls_base64_encode2(&in, &out), 0);
        cleanup_free char *body = k8c_xasprintf("{\"key\":\"%.*s\"}", (int)out.size, out.data);
        gnutls_free(out.data);
        cleanup_free char *url = k8c_xasprintf("%s/v3/kv/range", etcd->url);
        char *resp = NULL;
        size_t resp_len = 0;
        FILE *f = open_memstream(&resp, &resp_len);
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_cleanup(c);
        fclose(f);
        json_error_t jerr;
        json_auto_t *j = json_loadb(resp, resp_len, 0, &jerr);
        free(resp);
        assert_non_null(j);
        json_t *kvs = json_object_get(j, "kvs");
        if (json_array_size(kvs) == 0)
                return NULL;
        const char *v = json_string_value(json_object_get(json_array_get(kvs, 0), "value"));
        if (v == NULL)
                return k8c_xstrdup(""); /* the gateway omits empty values */
        gnutls_datum_t vin = { (unsigned char *)v, (unsigned int)strlen(v) }, vout = { NULL, 0 };
        assert_int_equal(gnutls_base64_decode2(&vin, &vout), 0);
        char *s = k8c_xstrndup((const char *)vout.data, vout.size);
        gnutls_free(vout.data);
        return s;
}

/* ---- tests ---- */

static void test_crud_revisions_and_errors(void **state)
{
        cleanup_free char *prefix = test_prefix("crud");
        struct k8c_store *s = open_store(etcd->url, prefix);
        cleanup_error k8c_error_t err = NULL;
        const char *key = "/registry/pods/default/web";
        int64_t r0 = current_rev(s);

        struct k8c_kv kv = { 0 };
        assert_int_equal(k8c_store_create(s, key, "v1", 2, &kv, &err), 0);
        assert_string_equal(kv.key, key);
        assert_string_equal(kv.value, "v1");
        assert_int_equal(kv.value_len, 2);
        assert_int_equal(kv.create_revision, r0 + 1);
        assert_int_equal(kv.mod_revision, r0 + 1);
        assert_int_equal(kv.version, 1);
        k8c_kv_free(&kv);

        assert_int_equal(k8c_store_create(s, key, "again", 5, NULL, &err), -(int)K8C_EALREADYEXISTS);
        assert_string_equal(k8c_error_msg(&err), "key \"/registry/pods/default/web\" already exists");
        k8c_error_release(&err);

        assert_int_equal(k8c_store_get(s, key, &kv, &err), 0);
        assert_string_equal(kv.value, "v1");
        assert_int_equal(kv.create_revision, r0 + 1);
        assert_int_equal(kv.mod_revision, r0 + 1);
        assert_int_equal(kv.version, 1);
        k8c_kv_free(&kv);

        assert_int_equal(k8c_store_update(s, key, "v2", 2, r0 + 1, &kv, &err), 0);
        assert_string_equal(kv.value, "v2");
        assert_int_equal(kv.create_revision, r0 + 1);
        assert_int_equal(kv.mod_revision, r0 + 2);
        assert_int_equal(kv.version, 2);
        k8c_kv_free(&kv);

        /* A stale expected revision: Conflict, with the current kv. */
        assert_int_equal(k8c_store_update(s, key, "v3", 2, r0 + 1, &kv, &err), -(int)K8C_ECONFLICT);
        assert_string_equal(kv.key, key);
        assert_string_equal(kv.value, "v2");
        assert_int_equal(kv.mod_revision, r0 + 2);
        assert_int_equal(kv.version, 2);
        k8c_kv_free(&kv);
        k8c_error_release(&err);

        /* 0 = unconditional. */
        assert_int_equal(k8c_store_update(s, key, "v3", 2, 0, &kv, &err), 0);
        assert_int_equal(kv.mod_revision, r0 + 3);
        assert_int_equal(kv.version, 3);
        k8c_kv_free(&kv);

        assert_int_equal(k8c_store_update(s, "/registry/pods/default/none", "x", 1, 0, NULL, &err),
                         -(int)K8C_ENOTFOUND);
        k8c_error_release(&err);
        assert_int_equal(k8c_store_update(s, "/registry/pods/default/none", "x", 1, 7, NULL, &err),
                         -(int)K8C_ENOTFOUND);
        k8c_error_release(&err);

        assert_int_equal(k8c_store_delete(s, key, r0 + 2, &kv, &err), -(int)K8C_ECONFLICT);
        assert_string_equal(kv.value, "v3");
        assert_int_equal(kv.mod_revision, r0 + 3);
        k8c_kv_free(&kv);
        k8c_error_release(&err);

        assert_int_equal(k8c_store_delete(s, key, r0 + 3, &kv, &err), 0);
        assert_string_equal(kv.key, key);
        assert_string_equal(kv.value, "v3");
        assert_int_equal(kv.create_revision, r0 + 1);
        assert_int_equal(kv.mod_revision, r0 + 4);
        k8c_kv_free(&kv);

        assert_int_equal(k8c_store_get(s, key, &kv, &err), -(int)K8C_ENOTFOUND);
        k8c_error_release(&err);
        assert_int_equal(k8c_store_delete(s, key, 0, NULL, &err), -(int)K8C_ENOTFOUND);
        k8c_error_release(&err);
        assert_int_equal(current_rev(s), r0 + 4);
        k8c_store_close(s);
}

static void test_values_empty_binary_large(void **state)
{
        cleanup_free char *prefix = test_prefix("values");
        struct k8c_store *s = open_store(etcd->url, prefix);
        cleanup_error k8c_error_t err = NULL;
        struct k8c_kv kv = { 0 };

        /* Empty value: the gateway omits "value" altogether. */
        assert_int_equal(k8c_store_create(s, "/registry/e", "", 0, NULL, &err), 0);
        assert_int_equal(k8c_store_get(s, "/registry/e", &kv, &err), 0);
        assert_non_null(kv.value);
        assert_int_equal(kv.value_len, 0);
        assert_string_equal(kv.value, "");
        assert_int_equal(kv.version, 1);
        k8c_kv_free(&kv);

        const char bin[] = { 'a', '\0', 'b', (char)0xff, '\n', '"' };
        assert_int_equal(k8c_store_create(s, "/registry/bin", bin, sizeof(bin), NULL, &err), 0);
        assert_int_equal(k8c_store_get(s, "/registry/bin", &kv, &err), 0);
        assert_int_equal(kv.value_len, sizeof(bin));
        assert_memory_equal(kv.value, bin, sizeof(bin));
        assert_int_equal(kv.value[sizeof(bin)], '\0');
        k8c_kv_free(&kv);

        char big[70000];
        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (char)('a' + i % 26);
        const char *k = "/registry/big key with spaces/ünïcode";
        assert_int_equal(k8c_store_create(s, k, big, sizeof(big), NULL, &err), 0);
        assert_int_equal(k8c_store_get(s, k, &kv, &err), 0);
        assert_string_equal(kv.key, k);
        assert_int_equal(kv.value_len, sizeof(big));
        assert_memory_equal(kv.value, big, sizeof(big));
        k8c_kv_free(&kv);
        k8c_store_close(s);
}

static void test_prefix_layout_and_isolation(void **state)
{
        cleanup_free char *pa = test_prefix("layout-a");
        cleanup_free char *pb = test_prefix("layout-b");
        struct k8c_store *a = open_store(etcd->url, pa);
        cleanup_free char *pb_slash = k8c_xasprintf("%s/", pb);
        struct k8c_store *b = open_store(etcd->url, pb_slash); /* a trailing slash is dropped */
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_store_create(a, "/registry/cm/x", "from-a", 6, NULL, &err), 0);
        assert_int_equal(k8c_store_create(b, "/registry/cm/x", "from-b", 6, NULL, &err), 0);

        struct k8c_kv_list l = { 0 };
        assert_int_equal(k8c_store_list(a, "/registry/", NULL, &l, &err), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.items[0].key, "/registry/cm/x");
        assert_string_equal(l.items[0].value, "from-a");
        k8c_kv_list_free(&l);

        /* The prefix is prepended verbatim to the interface key. */
        cleanup_free char *raw_a_key = k8c_xasprintf("%s/registry/cm/x", pa);
        cleanup_free char *raw_a = raw_get(raw_a_key);
        assert_non_null(raw_a);
        assert_string_equal(raw_a, "from-a");
        cleanup_free char *raw_b_key = k8c_xasprintf("%s/registry/cm/x", pb); /* opened with pb + "/" */
        cleanup_free char *raw_b = raw_get(raw_b_key);
        assert_string_equal(raw_b, "from-b");

        /* The default prefix ("/registry", or none given) stores keys as they are, like kube-apiserver. */
        struct k8c_store *d = open_store(etcd->url, NULL);
        cleanup_free char *dk = k8c_xasprintf("%s-default/registry/cm/x", pa);
        assert_int_equal(k8c_store_create(d, dk, "plain", 5, NULL, &err), 0);
        cleanup_free char *raw_d = raw_get(dk);
        assert_string_equal(raw_d, "plain");
        struct k8c_store *d2 = open_store(etcd->url, "/registry/");
        struct k8c_kv kv = { 0 };
        assert_int_equal(k8c_store_get(d2, dk, &kv, &err), 0);
        assert_string_equal(kv.value, "plain");
        k8c_kv_free(&kv);
        assert_int_equal(k8c_store_delete(d2, dk, 0, NULL, &err), 0);
        cleanup_free char *gone = raw_get(dk);
        assert_null(gone);

        k8c_store_close(a);
        k8c_store_close(b);
        k8c_store_close(d);
        k8c_store_close(d2);
}

static void test_list_paging_and_revisions(void **state)
{
        cleanup_free char *prefix = test_prefix("list");
        struct k8c_store *s = open_store(etcd->url, prefix);
        cleanup_error k8c_error_t err = NULL;
        int64_t r0 = current_rev(s);
        for (int i = 0; i < 5; i++) {
                char key[64], val[16];
                snprintf(key, sizeof(key), "/registry/items/k%d", i);
                snprintf(val, sizeof(val), "val%d", i);
                assert_int_equal(k8c_store_create(s, key, val, strlen(val), NULL, &err), 0);
        }
        assert_int_equal(k8c_store_create(s, "/registry/itemsX", "out", 3, NULL, &err), 0);

        struct k8c_kv_list l = { 0 };
        assert_int_equal(k8c_store_list(s, "/registry/items/", NULL, &l, &err), 0);
        assert_int_equal(l.n, 5);
        assert_int_equal(l.revision, r0 + 6);
        assert_false(l.more);
        for (int i = 0; i < 5; i++) {
                char key[64];
                snprintf(key, sizeof(key), "/registry/items/k%d", i);
                assert_string_equal(l.items[i].key, key);
                assert_int_equal(l.items[i].mod_revision, r0 + 1 + i);
        }
        k8c_kv_list_free(&l);

        struct k8c_list_opts o = { .limit = 2 };
        assert_int_equal(k8c_store_list(s, "/registry/items/", &o, &l, &err), 0);
        assert_int_equal(l.n, 2);
        assert_true(l.more);
        assert_string_equal(l.items[1].key, "/registry/items/k1");
        int64_t page_rev = l.revision;
        k8c_kv_list_free(&l);
        o = (struct k8c_list_opts){ .limit = 2, .start_after = "/registry/items/k1", .revision = page_rev };
        assert_int_equal(k8c_store_list(s, "/registry/items/", &o, &l, &err), 0);
        assert_int_equal(l.n, 2);
        assert_true(l.more);
        assert_string_equal(l.items[0].key, "/registry/items/k2");
        assert_string_equal(l.items[1].key, "/registry/items/k3");
        assert_int_equal(l.revision, page_rev);
        k8c_kv_list_free(&l);
        o.start_after = "/registry/items/k3";
        assert_int_equal(k8c_store_list(s, "/registry/items/", &o, &l, &err), 0);
        assert_int_equal(l.n, 1);
        assert_false(l.more);
        assert_string_equal(l.items[0].key, "/registry/items/k4");
        assert_string_equal(l.items[0].value, "val4");
        k8c_kv_list_free(&l);

        /* An exact past revision sees the past. */
        o = (struct k8c_list_opts){ .revision = r0 + 2 };
        assert_int_equal(k8c_store_list(s, "/registry/items/", &o, &l, &err), 0);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.revision, r0 + 2);
        k8c_kv_list_free(&l);

        o = (struct k8c_list_opts){ .revision = r0 + 1000 };
        assert_int_equal(k8c_store_list(s, "/registry/items/", &o, &l, &err), -(int)K8C_ETOOLARGERV);
        k8c_error_release(&err);
        k8c_store_close(s);
}

static struct k8c_store_event *next_event(struct k8c_store_watch *w)
{
        struct k8c_store_event *ev = NULL;
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_store_watch_next(w, 5000, &ev, &err);
        if (r != 1)
                fprintf(stderr, "watch_next: %d %s\n", r, k8c_error_msg(&err));
        assert_int_equal(r, 1);
        return ev;
}

static void test_watch_types_prev_and_replay(void **state)
{
        cleanup_free char *prefix = test_prefix("watch");
        struct k8c_store *s = open_store(etcd->url, prefix);
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "/registry/pods/", 0, &w, &err), 0);
        int64_t r0 = current_rev(s);

        assert_int_equal(k8c_store_create(s, "/registry/pods/a", "v1", 2, NULL, &err), 0);
        assert_int_equal(k8c_store_create(s, "/registry/podsX", "no", 2, NULL, &err), 0); /* outside */
        assert_int_equal(k8c_store_update(s, "/registry/pods/a", "v2", 2, r0 + 1, NULL, &err), 0);
        assert_int_equal(k8c_store_delete(s, "/registry/pods/a", r0 + 3, NULL, &err), 0);

        struct k8c_store_event *ev = next_event(w);
        assert_int_equal(ev->type, K8C_STORE_CREATE);
        assert_int_equal(ev->revision, r0 + 1);
        assert_string_equal(ev->kv.key, "/registry/pods/a");
        assert_string_equal(ev->kv.value, "v1");
        assert_int_equal(ev->kv.version, 1);
        assert_null(ev->prev.key);
        k8c_store_event_free(ev);

        ev = next_event(w);
        assert_int_equal(ev->type, K8C_STORE_UPDATE);
        assert_int_equal(ev->revision, r0 + 3);
        assert_string_equal(ev->kv.value, "v2");
        assert_int_equal(ev->kv.create_revision, r0 + 1);
        assert_int_equal(ev->kv.version, 2);
        assert_string_equal(ev->prev.key, "/registry/pods/a");
        assert_string_equal(ev->prev.value, "v1");
        assert_int_equal(ev->prev.mod_revision, r0 + 1);
        k8c_store_event_free(ev);

        ev = next_event(w);
        assert_int_equal(ev->type, K8C_STORE_DELETE);
        assert_int_equal(ev->revision, r0 + 4);
        assert_string_equal(ev->kv.key, "/registry/pods/a");
        assert_string_equal(ev->kv.value, "v2");
        assert_int_equal(ev->kv.mod_revision, r0 + 4);
        assert_int_equal(ev->prev.mod_revision, r0 + 3);
        k8c_store_event_free(ev);

        ev = NULL;
        assert_int_equal(k8c_store_watch_next(w, 200, &ev, &err), 0);
        assert_null(ev);
        k8c_store_watch_close(w);

        /* Replay: changes with revision > from, in order. */
        assert_int_equal(k8c_store_watch(s, "/registry/pods/", r0 + 1, &w, &err), 0);
        ev = next_event(w);
        assert_int_equal(ev->type, K8C_STORE_UPDATE);
        assert_int_equal(ev->revision, r0 + 3);
        k8c_store_event_free(ev);
        ev = next_event(w);
        assert_int_equal(ev->type, K8C_STORE_DELETE);
        assert_int_equal(ev->revision, r0 + 4);
        k8c_store_event_free(ev);
        k8c_store_watch_close(w);

        assert_int_equal(k8c_store_watch(s, "/registry/pods/", r0, &w, &err), 0);
        ev = next_event(w);
        assert_int_equal(ev->type, K8C_STORE_CREATE);
        assert_int_equal(ev->revision, r0 + 1);
        k8c_store_event_free(ev);
        k8c_store_watch_close(w);
        k8c_store_close(s);
}

/* A reader slower than the stream: the watch pauses at its queue bound and loses nothing. */
static void test_watch_slow_reader_backpressure(void **state)
{
        cleanup_free char *prefix = test_prefix("slow-reader");
        struct k8c_store_config cfg = {
                .backend = "etcd", .etcd_servers = etcd->url, .etcd_prefix = prefix, .etcd_watch_queue = 3
        };
        struct k8c_store *s = NULL;
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_store_open(&cfg, &s, &err), 0);
        struct k8c_store_watch *w = NULL, *w_unread = NULL;
        assert_int_equal(k8c_store_watch(s, "/registry/", 0, &w, &err), 0);
        assert_int_equal(k8c_store_watch(s, "/registry/", 0, &w_unread, &err), 0);
        int64_t r0 = current_rev(s);
        for (int i = 0; i < 40; i++) {
                char key[64];
                snprintf(key, sizeof(key), "/registry/k%02d", i);
                assert_int_equal(k8c_store_create(s, key, "v", 1, NULL, &err), 0);
        }
        usleep(300 * 1000); /* let the watch thread hit the bound */
        for (int i = 0; i < 40; i++) {
                struct k8c_store_event *ev = next_event(w);
                char key[64];
                snprintf(key, sizeof(key), "/registry/k%02d", i);
                assert_string_equal(ev->kv.key, key);
                assert_int_equal(ev->revision, r0 + 1 + i);
                k8c_store_event_free(ev);
        }
        k8c_store_watch_close(w);
        /* Closing a watch whose thread is paused on a full queue does not hang. */
        k8c_store_watch_close(w_unread);
        k8c_store_close(s);
}

static void test_failover_dead_first_endpoint(void **state)
{
        cleanup_free char *prefix = test_prefix("dead-first");
        int dead = etcd_harness_free_port();
        assert_true(dead > 0);
        cleanup_free char *servers = k8c_xasprintf("http://127.0.0.1:%d,%s", dead, etcd->url);
        struct k8c_store *s = open_store(servers, prefix);
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "/registry/", 0, &w, &err), 0);
        struct k8c_kv kv = { 0 };
        assert_int_equal(k8c_store_create(s, "/registry/a", "1", 1, &kv, &err), 0);
        int64_t rev = kv.mod_revision;
        k8c_kv_free(&kv);
        assert_int_equal(k8c_store_get(s, "/registry/a", &kv, &err), 0);
        assert_string_equal(kv.value, "1");
        assert_int_equal(kv.mod_revision, rev);
        k8c_kv_free(&kv);
        struct k8c_store_event *ev = next_event(w);
        assert_int_equal(ev->type, K8C_STORE_CREATE);
        assert_int_equal(ev->revision, rev);
        k8c_store_event_free(ev);
        k8c_store_watch_close(w);
        k8c_store_close(s);

        /* No endpoint at all: the store does not open. */
        cleanup_free char *only_dead = k8c_xasprintf("http://127.0.0.1:%d", dead);
        struct k8c_store_config cfg = { .backend = "etcd", .etcd_servers = only_dead, .etcd_prefix = prefix };
        struct k8c_store *none = NULL;
        assert_int_equal(k8c_store_open(&cfg, &none, &err), -(int)K8C_EUNAVAILABLE);
        assert_null(none);
        k8c_error_release(&err);

        cfg.etcd_servers = "127.0.0.1:2379";
        assert_int_equal(k8c_store_open(&cfg, &none, &err), -(int)K8C_EBADREQUEST);
        k8c_error_release(&err);
}

/* ---- a loopback TCP proxy standing in for an etcd member that can die ---- */

#define PROXY_MAX 32

struct proxy {
        int listen_fd;
        int port;
        int target_port;
        int stop_pipe[2];
        pthread_t thread;
};

static int connect_loopback(int port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

static void *proxy_thread(void *arg)
{
        struct proxy *p = arg;
        int fds[PROXY_MAX][2];
        size_t n = 0;
        char buf[65536];
        for (;;) {
                struct pollfd pfd[2 + 2 * PROXY_MAX];
                pfd[0] = (struct pollfd){ .fd = p->stop_pipe[0], .events = POLLIN };
                pfd[1] = (struct pollfd){ .fd = p->listen_fd, .events = POLLIN };
                for (size_t i = 0; i < n; i++) {
                        pfd[2 + 2 * i] = (struct pollfd){ .fd = fds[i][0], .events = POLLIN };
                        pfd[3 + 2 * i] = (struct pollfd){ .fd = fds[i][1], .events = POLLIN };
                }
                if (poll(pfd, 2 + 2 * n, -1) < 0 && errno != EINTR)
                        break;
                if (pfd[0].revents != 0)
                        break;
                if ((pfd[1].revents & POLLIN) && n < PROXY_MAX) {
                        int c = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                        int t = c >= 0 ? connect_loopback(p->target_port) : -1;
                        if (c >= 0 && t >= 0) {
                                fds[n][0] = c;
                                fds[n][1] = t;
                                n++;
                        } else {
                                if (c >= 0)
                                        close(c);
                                if (t >= 0)
                                        close(t);
                        }
                }
                for (size_t i = 0; i < n; i++) {
                        bool dead = false;
                        for (int side = 0; side < 2 && !dead; side++) {
                                if (pfd[2 + 2 * i + side].revents == 0)
                                        continue;
                                ssize_t got = read(fds[i][side], buf, sizeof(buf));
                                if (got <= 0 || write(fds[i][1 - side], buf, (size_t)got) != got)
                                        dead = true;
                        }
                        if (dead) {
                                close(fds[i][0]);
                                close(fds[i][1]);
                                fds[i][0] = fds[n - 1][0];
                                fds[i][1] = fds[n - 1][1];
                                /* pfd entries of the moved pair are stale: handle them next round. */
                                n--;
                                break;
                        }
                }
        }
        for (size_t i = 0; i < n; i++) {
                close(fds[i][0]);
                close(fds[i][1]);
        }
        return NULL;
}

static struct proxy *proxy_start(int target_port)
{
        struct proxy *p = k8c_xcalloc(1, sizeof(*p));
        p->target_port = target_port;
        p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        assert_int_equal(bind(p->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(p->listen_fd, 64), 0);
        assert_int_equal(getsockname(p->listen_fd, (struct sockaddr *)&a, &len), 0);
        p->port = ntohs(a.sin_port);
        assert_int_equal(pipe2(p->stop_pipe, O_CLOEXEC), 0);
        assert_int_equal(pthread_create(&p->thread, NULL, proxy_thread, p), 0);
        return p;
}

/* The member "dies": listener and every proxied connection are closed. */
static void proxy_stop(struct proxy *p)
{
        if (p == NULL)
                return;
        assert_int_equal(write(p->stop_pipe[1], "x", 1), 1);
        pthread_join(p->thread, NULL);
        close(p->listen_fd);
        close(p->stop_pipe[0]);
        close(p->stop_pipe[1]);
        free(p);
}

static void test_failover_member_dies_under_watch(void **state)
{
        cleanup_free char *prefix = test_prefix("member-dies");
        struct proxy *p = proxy_start(etcd->client_port);
        cleanup_free char *servers = k8c_xasprintf("http://127.0.0.1:%d,%s", p->port, etcd->url);
        struct k8c_store *s = open_store(servers, prefix);
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "/registry/", 0, &w, &err), 0);
        struct k8c_kv kv = { 0 };
        assert_int_equal(k8c_store_create(s, "/registry/a", "1", 1, &kv, &err), 0);
        int64_t r1 = kv.mod_revision;
        k8c_kv_free(&kv);
        struct k8c_store_event *ev = next_event(w);
        assert_int_equal(ev->revision, r1);
        k8c_store_event_free(ev);

        proxy_stop(p);

        /* Writes and reads move to the second endpoint; the watch resumes there after r1. */
        assert_int_equal(k8c_store_update(s, "/registry/a", "2", 1, r1, &kv, &err), 0);
        int64_t r2 = kv.mod_revision;
        k8c_kv_free(&kv);
        assert_int_equal(k8c_store_create(s, "/registry/b", "3", 1, &kv, &err), 0);
        int64_t r3 = kv.mod_revision;
        k8c_kv_free(&kv);
        ev = next_event(w);
        assert_int_equal(ev->type, K8C_STORE_UPDATE);
        assert_int_equal(ev->revision, r2);
        assert_string_equal(ev->kv.value, "2");
        assert_string_equal(ev->prev.value, "1");
        k8c_store_event_free(ev);
        ev = next_event(w);
        assert_int_equal(ev->type, K8C_STORE_CREATE);
        assert_int_equal(ev->revision, r3);
        assert_string_equal(ev->kv.key, "/registry/b");
        k8c_store_event_free(ev);
        ev = NULL;
        assert_int_equal(k8c_store_watch_next(w, 300, &ev, &err), 0);
        k8c_store_watch_close(w);
        k8c_store_close(s);
}

static void test_watch_ends_when_every_endpoint_is_gone(void **state)
{
        cleanup_free char *prefix = test_prefix("all-gone");
        struct proxy *p = proxy_start(etcd->client_port);
        cleanup_free char *servers = k8c_xasprintf("http://127.0.0.1:%d", p->port);
        struct k8c_store *s = open_store(servers, prefix);
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "/registry/", 0, &w, &err), 0);
        proxy_stop(p);
        struct k8c_store_event *ev = NULL;
        assert_int_equal(k8c_store_watch_next(w, 10000, &ev, &err), -(int)K8C_EUNAVAILABLE);
        assert_null(ev);
        assert_non_null(strstr(k8c_error_msg(&err), "no endpoint answered"));
        k8c_error_release(&err);
        /* The watch stays finished. */
        assert_int_equal(k8c_store_watch_next(w, 10, &ev, &err), -(int)K8C_EUNAVAILABLE);
        k8c_store_watch_close(w);
        assert_int_equal(k8c_store_get(s, "/registry/a", NULL, &err), -(int)K8C_EUNAVAILABLE);
        k8c_store_close(s);
}

/* POSTs {} to a member's /v3/maintenance/status; returns its member id and the leader's. */
static void member_status(const char *url, char *ret_id, char *ret_leader, size_t len)
{
        cleanup_free char *u = k8c_xasprintf("%s/v3/maintenance/status", url);
        char *resp = NULL;
        size_t resp_len = 0;
        FILE *f = open_memstream(&resp, &resp_len);
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, u);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_cleanup(c);
        fclose(f);
        json_error_t jerr;
        json_auto_t *j = json_loadb(resp, resp_len, 0, &jerr);
        free(resp);
        assert_non_null(j);
        const char *id = json_string_value(json_object_get(json_object_get(j, "header"), "member_id"));
        const char *leader = json_string_value(json_object_get(j, "leader"));
        assert_non_null(id);
        assert_non_null(leader);
        snprintf(ret_id, len, "%s", id);
        snprintf(ret_leader, len, "%s", leader);
}

/* A real 3-member cluster: the member the backend talks to is killed (SIGKILL) under an open watch. */
static void test_cluster_member_killed(void **state)
{
        struct etcd_harness *m[3] = { NULL };
        assert_int_equal(etcd_harness_start_cluster(3, m), 0);
        /* Talk to a follower first, so that killing it needs no leader election (which would make
         * the outcome of an in-flight write timing-dependent). */
        char id[3][32], leader[32] = "";
        for (int i = 0; i < 3; i++)
                member_status(m[i]->url, id[i], leader, sizeof(leader));
        int victim = strcmp(id[0], leader) != 0 ? 0 : 1;
        int other = (victim + 1) % 3;
        int third = (victim + 2) % 3;
        cleanup_free char *servers = k8c_xasprintf("%s,%s,%s", m[victim]->url, m[other]->url, m[third]->url);
        cleanup_free char *prefix = test_prefix("cluster");
        struct k8c_store *s = open_store(servers, prefix);
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "/registry/", 0, &w, &err), 0);
        struct k8c_kv kv = { 0 };
        assert_int_equal(k8c_store_create(s, "/registry/a", "1", 1, &kv, &err), 0);
        int64_t r1 = kv.mod_revision;
        k8c_kv_free(&kv);
        struct k8c_store_event *ev = next_event(w);
        assert_int_equal(ev->revision, r1);
        k8c_store_event_free(ev);

        kill(m[victim]->pid, SIGKILL);
        etcd_harness_stop(m[victim]); /* reaps it and removes its data */
        m[victim] = NULL;

        assert_int_equal(k8c_store_update(s, "/registry/a", "2", 1, r1, &kv, &err), 0);
        int64_t r2 = kv.mod_revision;
        assert_int_equal(r2, r1 + 1);
        k8c_kv_free(&kv);
        assert_int_equal(k8c_store_get(s, "/registry/a", &kv, &err), 0);
        assert_string_equal(kv.value, "2");
        k8c_kv_free(&kv);
        ev = next_event(w);
        assert_int_equal(ev->type, K8C_STORE_UPDATE);
        assert_int_equal(ev->revision, r2);
        assert_string_equal(ev->prev.value, "1");
        k8c_store_event_free(ev);
        ev = NULL;
        assert_int_equal(k8c_store_watch_next(w, 300, &ev, &err), 0);
        k8c_store_watch_close(w);
        k8c_store_close(s);
        for (int i = 0; i < 3; i++)
                etcd_harness_stop(m[i]);
}

/* Last: compaction is global to the shared etcd. */
static void test_compaction(void **state)
{
        cleanup_free char *prefix = test_prefix("compact");
        struct k8c_store *s = open_store(etcd->url, prefix);
        cleanup_error k8c_error_t err = NULL;
        struct k8c_kv kv = { 0 };
        assert_int_equal(k8c_store_create(s, "/registry/c", "0", 1, &kv, &err), 0);
        int64_t r1 = kv.mod_revision;
        k8c_kv_free(&kv);
        assert_int_equal(k8c_store_update(s, "/registry/c", "1", 1, 0, NULL, &err), 0);
        assert_int_equal(k8c_store_update(s, "/registry/c", "2", 1, 0, NULL, &err), 0);
        assert_int_equal(k8c_store_update(s, "/registry/c", "3", 1, 0, NULL, &err), 0);
        int64_t c = r1 + 2;

        assert_int_equal(k8c_store_compact(s, c, &err), 0);
        int64_t got = -1;
        assert_int_equal(s->ops->compacted_revision(s, &got, &err), 0);
        assert_int_equal(got, c);
        /* Compacting at or below the compacted revision again: Expired; beyond the current: too large. */
        assert_int_equal(k8c_store_compact(s, c - 1, &err), -(int)K8C_EEXPIRED);
        k8c_error_release(&err);
        assert_int_equal(k8c_store_compact(s, c + 1000, &err), -(int)K8C_ETOOLARGERV);
        k8c_error_release(&err);

        struct k8c_kv_list l = { 0 };
        struct k8c_list_opts o = { .revision = c - 1 };
        assert_int_equal(k8c_store_list(s, "/registry/", &o, &l, &err), -(int)K8C_EEXPIRED);
        assert_non_null(strstr(k8c_error_msg(&err), "required revision has been compacted"));
        k8c_error_release(&err);
        o.revision = c;
        assert_int_equal(k8c_store_list(s, "/registry/", &o, &l, &err), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.items[0].value, "2");
        k8c_kv_list_free(&l);

        /* A watch from below the compacted revision fails, at open or at the first next. */
        struct k8c_store_watch *w = NULL;
        int r = k8c_store_watch(s, "/registry/", c - 1, &w, &err);
        if (r == 0) {
                struct k8c_store_event *ev = NULL;
                r = k8c_store_watch_next(w, 5000, &ev, &err);
                k8c_store_watch_close(w);
        }
        assert_int_equal(r, -(int)K8C_EEXPIRED);
        assert_non_null(strstr(k8c_error_msg(&err), "compacted"));
        k8c_error_release(&err);

        /* From exactly the compacted revision: everything after it. */
        assert_int_equal(k8c_store_watch(s, "/registry/", c, &w, &err), 0);
        struct k8c_store_event *ev = next_event(w);
        assert_int_equal(ev->type, K8C_STORE_UPDATE);
        assert_int_equal(ev->revision, c + 1);
        assert_string_equal(ev->kv.value, "3");
        k8c_store_event_free(ev);
        k8c_store_watch_close(w);
        k8c_store_close(s);
}

int main(void)
{
        if (etcd_harness_binary() == NULL) {
                fprintf(stderr, "etcd is not installed (Debian package etcd-server)\n");
                return 1;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_crud_revisions_and_errors),
                cmocka_unit_test(test_values_empty_binary_large),
                cmocka_unit_test(test_prefix_layout_and_isolation),
                cmocka_unit_test(test_list_paging_and_revisions),
                cmocka_unit_test(test_watch_types_prev_and_replay),
                cmocka_unit_test(test_watch_slow_reader_backpressure),
                cmocka_unit_test(test_failover_dead_first_endpoint),
                cmocka_unit_test(test_failover_member_dies_under_watch),
                cmocka_unit_test(test_watch_ends_when_every_endpoint_is_gone),
                cmocka_unit_test(test_cluster_member_killed),
                cmocka_unit_test(test_compaction),
                cmocka_unit_test(test_fake_gateway_range_parsing),
                cmocka_unit_test(test_fake_gateway_watch_pieces_and_resume),
                cmocka_unit_test(test_fake_gateway_watch_canceled_compacted),
                cmocka_unit_test(test_fake_gateway_error_mapping),
        };
        return cmocka_run_group_tests_name("etcd backend", tests, group_setup, group_teardown);
}

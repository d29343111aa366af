/* Unit tests for the informer store (relist diffing, events, indexes) and the
 * watch stream decoder (client.c), without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/informer.h"

struct rec {
        char log[4096];
};

static void rec_add(void *o, json_t *obj)
{
        struct rec *r = o;
        cleanup_free char *k = k8c_object_key(obj);
        strcat(r->log, "add:");
        strcat(r->log, k);
        strcat(r->log, ";");
}

static void rec_update(void *o, json_t *old, json_t *obj)
{
        struct rec *r = o;
        cleanup_free char *k = k8c_object_key(obj);
        strcat(r->log, "update:");
        strcat(r->log, k);
        strcat(r->log, ";");
}

static void rec_delete(void *o, json_t *obj)
{
        struct rec *r = o;
        cleanup_free char *k = k8c_object_key(obj);
        strcat(r->log, "delete:");
        strcat(r->log, k);
        strcat(r->log, ";");
}

static json_t *pod(const char *ns, const char *name, const char *rv, const char *node)
{
        json_t *p = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{}}", "apiVersion", "v1", "kind", "Pod",
                              "metadata", "name", name, "namespace", ns, "resourceVersion", rv, "spec");
        if (node != NULL)
                json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(node));
        return p;
}

static struct k8c_informer *new_informer(struct rec *r)
{
        struct k8c_informer_config cfg = { .client = NULL, .path = "/api/v1/pods" };
        struct k8c_informer *inf = k8c_informer_new(&cfg);
        struct k8c_informer_handlers h = { rec_add, rec_update, rec_delete, r };
        k8c_informer_add_handlers(inf, &h);
        k8c_informer_add_index(inf, "node", k8c_index_by_node_name);
        k8c_informer_add_index(inf, "namespace", k8c_index_by_namespace);
        return inf;
}

static void test_relist_diff(void **state)
{
        struct rec r = { 0 };
        struct k8c_informer *inf = new_informer(&r);
        json_auto_t *l1 = json_array();
        json_array_append_new(l1, pod("default", "a", "10", "n1"));
        json_array_append_new(l1, pod("default", "b", "11", "n1"));
        json_array_append_new(l1, pod("kube-system", "c", "12", "n2"));
        k8c_informer_replace(inf, l1, "12");
        assert_string_equal(r.log, "add:default/a;add:default/b;add:kube-system/c;");
        assert_int_equal(k8c_informer_len(inf), 3);

        /* A forced relist after a 410: b changed, c vanished, d appeared, a untouched. */
        r.log[0] = '\0';
        json_auto_t *l2 = json_array();
        json_array_append_new(l2, pod("default", "a", "10", "n1"));
        json_array_append_new(l2, pod("default", "b", "20", "n2"));
        json_array_append_new(l2, pod("default", "d", "21", NULL));
        k8c_informer_replace(inf, l2, "21");
        assert_string_equal(r.log, "update:default/b;add:default/d;delete:kube-system/c;");
        cleanup_free char *rv = k8c_informer_resource_version(inf);
        assert_string_equal(rv, "21");

        json_auto_t *on_n1 = k8c_informer_by_index(inf, "node", "n1");
        assert_int_equal(json_array_size(on_n1), 1);
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_array_get(on_n1, 0), "metadata"), "name")),
                            "a");
        json_auto_t *on_n2 = k8c_informer_by_index(inf, "node", "n2");
        assert_int_equal(json_array_size(on_n2), 1);
        json_auto_t *in_ks = k8c_informer_by_index(inf, "namespace", "kube-system");
        assert_int_equal(json_array_size(in_ks), 0);
        json_auto_t *in_def = k8c_informer_by_index(inf, "namespace", "default");
        assert_int_equal(json_array_size(in_def), 3);
        k8c_informer_free(inf);
}

static void test_events(void **state)
{
        struct rec r = { 0 };
        struct k8c_informer *inf = new_informer(&r);
        json_auto_t *p1 = pod("default", "web", "5", NULL);
        json_auto_t *p2 = pod("default", "web", "6", "n3");
        k8c_informer_apply_event(inf, "ADDED", p1);
        k8c_informer_apply_event(inf, "MODIFIED", p2);
        json_auto_t *got = k8c_informer_get(inf, "default/web");
        assert_ptr_equal(got, p2);
        json_auto_t *on_n3 = k8c_informer_by_index(inf, "node", "n3");
        assert_int_equal(json_array_size(on_n3), 1);
        k8c_informer_apply_event(inf, "DELETED", p2);
        assert_null(k8c_informer_get(inf, "default/web"));
        json_auto_t *after = k8c_informer_by_index(inf, "node", "n3");
        assert_int_equal(json_array_size(after), 0);
        assert_string_equal(r.log, "add:default/web;update:default/web;delete:default/web;");
        cleanup_free char *rv = k8c_informer_resource_version(inf);
        assert_string_equal(rv, "6");
        k8c_informer_free(inf);
}

static void test_object_key(void **state)
{
        json_auto_t *ns = json_pack("{s:{s:s}}", "metadata", "name", "node-1");
        cleanup_free char *k1 = k8c_object_key(ns);
        assert_string_equal(k1, "node-1");
        json_auto_t *p = pod("x", "y", "1", NULL);
        cleanup_free char *k2 = k8c_object_key(p);
        assert_string_equal(k2, "x/y");
        json_auto_t *none = json_object();
        assert_null(k8c_object_key(none));
}

struct seen {
        char types[256];
        int n;
        int stop_after;
};

static int on_ev(void *o, const char *type, json_t *obj)
{
        struct seen *s = o;
        strcat(s->types, type);
        strcat(s->types, ",");
        s->n++;
        return s->stop_after > 0 && s->n >= s->stop_after;
}

static void test_watch_decoder_split_chunks(void **state)
{
        const char *stream = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n"
                             "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\r\n"
                             "\n"
                             "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n";
        /* every split point, byte by byte and in two pieces */
        size_t len = strlen(stream);
        for (size_t cut = 0; cut <= len; cut++) {
                struct seen s = { 0 };
                struct k8c_watch_decoder d;
                k8c_watch_decoder_init(&d, on_ev, &s);
                assert_int_equal(k8c_watch_decoder_feed(&d, stream, cut, NULL), 0);
                assert_int_equal(k8c_watch_decoder_feed(&d, stream + cut, len - cut, NULL), 0);
                assert_string_equal(s.types, "ADDED,MODIFIED,DELETED,");
                k8c_watch_decoder_free(&d);
        }
        struct seen s = { 0 };
        struct k8c_watch_decoder d;
        k8c_watch_decoder_init(&d, on_ev, &s);
        for (size_t i = 0; i < len; i++)
                assert_int_equal(k8c_watch_decoder_feed(&d, stream + i, 1, NULL), 0);
        assert_int_equal(s.n, 3);
        k8c_watch_decoder_free(&d);
}

static void test_watch_decoder_stop_and_errors(void **state)
{
        struct seen s = { .stop_after = 1 };
        struct k8c_watch_decoder d;
        k8c_watch_decoder_init(&d, on_ev, &s);
        const char *two = "{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"ADDED\",\"object\":{}}\n";
        assert_int_equal(k8c_watch_decoder_feed(&d, two, strlen(two), NULL), 1);
        assert_int_equal(s.n, 1);
        k8c_watch_decoder_free(&d);

        cleanup_error k8c_error_t err = NULL;
        struct seen s2 = { 0 };
        k8c_watch_decoder_init(&d, on_ev, &s2);
        assert_int_equal(k8c_watch_decoder_feed(&d, "{not json}\n", 11, &err), -(int)K8C_EBADREQUEST);
        assert_non_null(strstr(k8c_error_msg(&err), "malformed watch event"));
        k8c_watch_decoder_free(&d);
        k8c_watch_decoder_init(&d, on_ev, &s2);
        assert_int_equal(k8c_watch_decoder_feed(&d, "{\"type\":\"ADDED\"}\n", 17, &err),
                         -(int)K8C_EBADREQUEST);
        assert_string_equal(k8c_error_msg(&err), "malformed watch event: missing type or object");
        k8c_watch_decoder_free(&d);
}

static void test_error_from_status(void **state)
{
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *st = json_pack("{s:s, s:s, s:s, s:i}", "kind", "Status", "reason", "NotFound", "message",
                                    "pods \"x\" not found", "code", 404);
        assert_int_equal(k8c_error_from_status(st, 404, &err), -(int)K8C_ENOTFOUND);
        assert_string_equal(k8c_error_msg(&err), "pods \"x\" not found");
        json_auto_t *gone = json_pack("{s:s, s:i}", "reason", "Expired", "code", 410);
        assert_int_equal(k8c_error_from_status(gone, 410, &err), -(int)K8C_EEXPIRED);
        json_auto_t *bare = json_object();
        assert_int_equal(k8c_error_from_status(bare, 409, &err), -(int)K8C_ECONFLICT);
        cleanup_free char *e = k8c_url_escape("env in (a,b),!canary");
        assert_string_equal(e, "env%20in%20%28a%2Cb%29%2C%21canary");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_relist_diff),
                cmocka_unit_test(test_events),
                cmocka_unit_test(test_object_key),
                cmocka_unit_test(test_watch_decoder_split_chunks),
                cmocka_unit_test(test_watch_decoder_stop_and_errors),
                cmocka_unit_test(test_error_from_status),
        };
        return cmocka_run_group_tests_name("informer", tests, NULL, NULL);
}

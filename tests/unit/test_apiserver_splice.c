/* Unit tests for src/apiserver/splice.c: the metadata scan, and the resourceVersion splice gives
 * the object that decoding, setting metadata.resourceVersion and encoding again give. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"

/* The reference: decode, set metadata.resourceVersion, encode compactly. */
static char *reference(const char *text, long long rev)
{
        json_auto_t *o = json_loads(text, 0, NULL);
        assert_non_null(o);
        char rv[32];
        snprintf(rv, sizeof(rv), "%lld", rev);
        json_object_set_new(json_object_get(o, "metadata"), "resourceVersion", json_string(rv));
        return json_dumps(o, JSON_COMPACT);
}

/* text is first normalised to jansson's compact form, as the store holds it. */
static void check_same(const char *text, long long rev)
{
        json_auto_t *o = json_loads(text, 0, NULL);
        assert_non_null(o);
        cleanup_free char *stored = json_dumps(o, JSON_COMPACT);
        cleanup_free char *want = reference(stored, rev);
        struct k8c_meta_span sp;
        assert_int_equal(k8c_json_meta_scan(stored, strlen(stored), true, &sp), 0);
        struct k8c_textbuf b = { 0 };
        k8c_splice_with_rv(&b, stored, strlen(stored), &sp, rev);
        assert_int_equal(b.len, strlen(want));
        json_auto_t *got = json_loads(b.p, JSON_REJECT_DUPLICATES, NULL);
        json_auto_t *exp = json_loads(want, 0, NULL);
        assert_non_null(got);
        assert_true(json_equal(got, exp));
        /* resourceVersion leads metadata; everything else is the stored text unchanged. */
        char lead[64];
        snprintf(lead, sizeof(lead), "\"metadata\":{\"resourceVersion\":\"%lld\"", rev);
        assert_non_null(strstr(b.p, lead));
        free(b.p);
}

static void test_splice_matches_reencoding(void **state)
{
        check_same("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\",\"namespace\":\"d\","
                   "\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\"}]}}",
                   7);
        /* empty metadata; metadata not first; strings holding braces, quotes and escapes */
        check_same("{\"metadata\":{}}", 1);
        check_same(
                "{\"kind\":\"x}{\\\"\",\"spec\":{\"a\":[1,{\"b\":\"]\"}]},\"metadata\":{\"name\":\"q\\\"}\","
                "\"annotations\":{\"k\":\"{\\\"metadata\\\":{}}\"}},\"status\":{}}",
                123456789012LL);
        check_same(
                "{\"a\":true,\"b\":null,\"c\":-1.5e3,\"metadata\":{\"n\":[],\"m\":false},\"z\":\"\xc3\xa9\"}",
                42);
}

static void test_labels_span(void **state)
{
        const char *t =
                "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\",\"labels\":{\"app\":\"web\",\"t\":\"x\"},"
                "\"annotations\":{\"labels\":\"no\"}},\"spec\":{\"labels\":{}}}";
        struct k8c_meta_span sp;
        assert_int_equal(k8c_json_meta_scan(t, strlen(t), true, &sp), 0);
        assert_true(sp.labels_end > sp.labels_start);
        assert_int_equal(sp.labels_end - sp.labels_start, strlen("{\"app\":\"web\",\"t\":\"x\"}"));
        assert_memory_equal(t + sp.labels_start, "{\"app\":\"web\",\"t\":\"x\"}",
                            sp.labels_end - sp.labels_start);
        const char *nol = "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"labels\":{\"a\":\"b\"}}}";
        assert_int_equal(k8c_json_meta_scan(nol, strlen(nol), true, &sp), 0);
        assert_int_equal(sp.labels_start, 0);
        assert_int_equal(sp.labels_end, 0);
}

static void test_scan_refuses(void **state)
{
        struct k8c_meta_span sp;
        const char *bad[] = {
                "",
                "[]",
                "{\"kind\":\"Pod\"}",                                               /* no metadata */
                "{\"metadata\":[]}",                                                /* not an object */
                "{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"3\"}}",        /* already has one */
                "{\"metadata\":{},\"involvedObject\":{\"resourceVersion\":\"3\"}}", /* one anywhere */
                "{\"metadata\":{\"name\":\"a\"",                                    /* truncated */
                "{\"kind\":\"unterminated}",
                "{\"kind\" \"Pod\",\"metadata\":{}}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(k8c_json_meta_scan(bad[i], strlen(bad[i]), true, &sp), -1);
}

static void test_string_map(void **state)
{
        const char *texts[] = { "{\"app\":\"web\",\"a.b/c-d_e\":\"\"}", "{}", "{\"k\":\"v\\\"q\"}",
                                "{\"n\":1,\"s\":\"x\"}" };
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                json_auto_t *got = k8c_json_string_map(texts[i], strlen(texts[i]));
                json_auto_t *want = json_loads(texts[i], 0, NULL);
                assert_non_null(got);
                assert_true(json_equal(got, want));
        }
        assert_null(k8c_json_string_map("{\"a\":", 5));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_splice_matches_reencoding),
                cmocka_unit_test(test_labels_span),
                cmocka_unit_test(test_scan_refuses),
                cmocka_unit_test(test_string_map),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

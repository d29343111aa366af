/* Unit tests for spdy.c: every frame type round-trips through the encoders and the parser, header
 * blocks share one zlib context per direction (with the SPDY/3 dictionary, checked against zlib),
 * input split at every byte boundary parses the same, and malformed input is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>
#include <zlib.h>

#include "k8c/cleanup.h"
#include "k8c/spdy.h"

#define MAX_SEEN 32

struct seen_frame {
        int type;
        uint8_t flags;
        uint32_t stream_id, assoc_id, status, ping_id, last_good, delta;
        uint8_t priority;
        char data[256];
        size_t len;
        char streamtype[32], port[16], requestid[16];
        size_t nheaders;
};

struct seen {
        struct seen_frame f[MAX_SEEN];
        size_t n;
};

static void copy_header(const struct k8c_spdy_frame *f, const char *name, char *dst, size_t cap)
{
        const char *v = k8c_spdy_header_get(f, name);
        snprintf(dst, cap, "%s", v != NULL ? v : "");
}

static int record(void *opaque, const struct k8c_spdy_frame *f, k8c_error_t *err)
{
        struct seen *s = opaque;
        assert_true(s->n < MAX_SEEN);
        struct seen_frame *d = &s->f[s->n++];
        d->type = f->type;
        d->flags = f->flags;
        d->stream_id = f->stream_id;
        d->assoc_id = f->assoc_id;
        d->status = f->status;
        d->ping_id = f->ping_id;
        d->last_good = f->last_good;
        d->delta = f->delta;
        d->priority = f->priority;
        d->len = f->len;
        if (f->len > 0) {
                assert_true(f->len < sizeof(d->data));
                memcpy(d->data, f->data, f->len);
        }
        d->nheaders = f->nheaders;
        copy_header(f, "streamtype", d->streamtype, sizeof(d->streamtype));
        copy_header(f, "port", d->port, sizeof(d->port));
        copy_header(f, "requestid", d->requestid, sizeof(d->requestid));
        return 0;
}

/* What a port-forward client sends for one connection, then the server's answers. */
static void build_session(struct k8c_spdy *enc, struct k8c_bytebuf *out)
{
        struct k8c_spdy_header err_h[] = { { "streamtype", "error" },
                                           { "port", "8080" },
                                           { "requestid", "0" } };
        struct k8c_spdy_header data_h[] = { { "streamtype", "data" },
                                            { "port", "8080" },
                                            { "requestid", "0" } };
        assert_int_equal(k8c_spdy_syn_stream(enc, out, 1, 0, err_h, 3, NULL), 0);
        assert_int_equal(k8c_spdy_syn_stream(enc, out, 3, 0, data_h, 3, NULL), 0);
        k8c_spdy_data(out, 3, 0, "hello", 5);
        k8c_spdy_data(out, 3, K8C_SPDY_FLAG_FIN, "", 0);
        assert_int_equal(k8c_spdy_syn_reply(enc, out, 1, 0, NULL, 0, NULL), 0);
        k8c_spdy_rst(out, 5, K8C_SPDY_CANCEL);
        k8c_spdy_ping(out, 7);
        const uint32_t settings[][2] = { { 7, 65536 }, { 4, 100 } };
        k8c_spdy_settings(out, settings, 2);
        k8c_spdy_window_update(out, 3, 4096);
        k8c_spdy_goaway(out, 3, 0);
}

static void check_session(const struct seen *s)
{
        assert_int_equal(s->n, 10);
        assert_int_equal(s->f[0].type, K8C_SPDY_SYN_STREAM);
        assert_int_equal(s->f[0].stream_id, 1);
        assert_int_equal(s->f[0].nheaders, 3);
        assert_string_equal(s->f[0].streamtype, "error");
        assert_string_equal(s->f[0].port, "8080");
        assert_string_equal(s->f[0].requestid, "0");
        assert_int_equal(s->f[1].type, K8C_SPDY_SYN_STREAM);
        assert_int_equal(s->f[1].stream_id, 3);
        assert_string_equal(s->f[1].streamtype, "data");
        assert_int_equal(s->f[2].type, K8C_SPDY_DATA);
        assert_int_equal(s->f[2].stream_id, 3);
        assert_int_equal(s->f[2].len, 5);
        assert_memory_equal(s->f[2].data, "hello", 5);
        assert_int_equal(s->f[3].type, K8C_SPDY_DATA);
        assert_int_equal(s->f[3].flags, K8C_SPDY_FLAG_FIN);
        assert_int_equal(s->f[3].len, 0);
        assert_int_equal(s->f[4].type, K8C_SPDY_SYN_REPLY);
        assert_int_equal(s->f[4].stream_id, 1);
        assert_int_equal(s->f[4].nheaders, 0);
        assert_int_equal(s->f[5].type, K8C_SPDY_RST_STREAM);
        assert_int_equal(s->f[5].stream_id, 5);
        assert_int_equal(s->f[5].status, K8C_SPDY_CANCEL);
        assert_int_equal(s->f[6].type, K8C_SPDY_PING);
        assert_int_equal(s->f[6].ping_id, 7);
        assert_int_equal(s->f[7].type, K8C_SPDY_SETTINGS);
        assert_int_equal(s->f[8].type, K8C_SPDY_WINDOW_UPDATE);
        assert_int_equal(s->f[8].stream_id, 3);
        assert_int_equal(s->f[8].delta, 4096);
        assert_int_equal(s->f[9].type, K8C_SPDY_GOAWAY);
        assert_int_equal(s->f[9].last_good, 3);
        assert_int_equal(s->f[9].status, 0);
}

static void test_round_trip(void **state)
{
        struct k8c_spdy *enc = NULL, *dec = NULL;
        assert_int_equal(k8c_spdy_new(&enc, NULL), 0);
        assert_int_equal(k8c_spdy_new(&dec, NULL), 0);
        struct k8c_bytebuf out = { 0 };
        build_session(enc, &out);
        struct seen s = { 0 };
        assert_int_equal(k8c_spdy_feed(dec, out.data, out.len, record, &s, NULL), 0);
        check_session(&s);
        k8c_bytebuf_free(&out);
        k8c_spdy_free(enc);
        k8c_spdy_free(dec);
}

static void test_wire_layout(void **state)
{
        struct k8c_bytebuf out = { 0 };
        k8c_spdy_ping(&out, 0x01020304);
        const uint8_t ping[] = { 0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 1, 2, 3, 4 };
        assert_int_equal(out.len, sizeof(ping));
        assert_memory_equal(out.data, ping, sizeof(ping));
        out.len = 0;
        k8c_spdy_data(&out, 3, K8C_SPDY_FLAG_FIN, "ab", 2);
        const uint8_t data[] = { 0, 0, 0, 3, 0x01, 0, 0, 2, 'a', 'b' };
        assert_memory_equal(out.data, data, sizeof(data));
        out.len = 0;
        k8c_spdy_rst(&out, 9, K8C_SPDY_INTERNAL_ERROR);
        const uint8_t rst[] = { 0x80, 0x03, 0x00, 0x03, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0, 6 };
        assert_memory_equal(out.data, rst, sizeof(rst));
        k8c_bytebuf_free(&out);
}

/* The first header block is a zlib stream whose dictionary id is the Adler-32 of the SPDY/3
 * dictionary (1423 bytes, adler32 0xe3c6a7c2); a peer using any other dictionary fails. */
static void test_dictionary_id(void **state)
{
        struct k8c_spdy *enc = NULL;
        assert_int_equal(k8c_spdy_new(&enc, NULL), 0);
        struct k8c_bytebuf out = { 0 };
        struct k8c_spdy_header h[] = { { "streamtype", "data" } };
        assert_int_equal(k8c_spdy_syn_reply(enc, &out, 1, 0, h, 1, NULL), 0);
        /* control head 8 + stream id 4, then zlib: CMF FLG with FDICT, then DICTID. */
        const uint8_t *z = out.data + 12;
        assert_true(z[1] & 0x20);
        uint32_t dictid = (uint32_t)z[2] << 24 | (uint32_t)z[3] << 16 | (uint32_t)z[4] << 8 | z[5];
        assert_int_equal(dictid, 0xe3c6a7c2);
        /* A raw zlib inflater without the dictionary needs one with exactly that id. */
        z_stream zs = { 0 };
        assert_int_equal(inflateInit(&zs), Z_OK);
        uint8_t buf[256];
        zs.next_in = (Bytef *)z;
        zs.avail_in = (uInt)(out.len - 12);
        zs.next_out = buf;
        zs.avail_out = sizeof(buf);
        assert_int_equal(inflate(&zs, Z_SYNC_FLUSH), Z_NEED_DICT);
        assert_int_equal(zs.adler, 0xe3c6a7c2);
        inflateEnd(&zs);
        k8c_bytebuf_free(&out);
        k8c_spdy_free(enc);
}

/* Split anywhere: every byte boundary (and byte-at-a-time) gives the same frames. */
static void test_split_anywhere(void **state)
{
        struct k8c_spdy *enc = NULL;
        assert_int_equal(k8c_spdy_new(&enc, NULL), 0);
        struct k8c_bytebuf out = { 0 };
        build_session(enc, &out);
        for (size_t cut = 0; cut <= out.len; cut++) {
                struct k8c_spdy *dec = NULL;
                assert_int_equal(k8c_spdy_new(&dec, NULL), 0);
                struct seen s = { 0 };
                assert_int_equal(k8c_spdy_feed(dec, out.data, cut, record, &s, NULL), 0);
                assert_int_equal(k8c_spdy_feed(dec, out.data + cut, out.len - cut, record, &s, NULL), 0);
                check_session(&s);
                k8c_spdy_free(dec);
        }
        struct k8c_spdy *dec = NULL;
        assert_int_equal(k8c_spdy_new(&dec, NULL), 0);
        struct seen s = { 0 };
        for (size_t i = 0; i < out.len; i++)
                assert_int_equal(k8c_spdy_feed(dec, out.data + i, 1, record, &s, NULL), 0);
        check_session(&s);
        k8c_spdy_free(dec);
        k8c_bytebuf_free(&out);
        k8c_spdy_free(enc);
}

/* The compression context carries over: a second block with the same headers is much smaller,
 * and a decoder that missed the first block cannot read the second. */
static void test_shared_context(void **state)
{
        struct k8c_spdy *enc = NULL, *dec = NULL;
        assert_int_equal(k8c_spdy_new(&enc, NULL), 0);
        assert_int_equal(k8c_spdy_new(&dec, NULL), 0);
        struct k8c_spdy_header h[] = { { "streamtype", "data" }, { "port", "12345" }, { "requestid", "42" } };
        struct k8c_bytebuf a = { 0 }, b = { 0 };
        assert_int_equal(k8c_spdy_syn_stream(enc, &a, 1, 0, h, 3, NULL), 0);
        assert_int_equal(k8c_spdy_syn_stream(enc, &b, 3, 0, h, 3, NULL), 0);
        assert_true(b.len < a.len);
        struct seen s = { 0 };
        cleanup_error k8c_error_t err = NULL;
        assert_true(k8c_spdy_feed(dec, b.data, b.len, record, &s, &err) < 0);
        k8c_spdy_free(dec);
        assert_int_equal(k8c_spdy_new(&dec, NULL), 0);
        assert_int_equal(k8c_spdy_feed(dec, a.data, a.len, record, &s, NULL), 0);
        assert_int_equal(k8c_spdy_feed(dec, b.data, b.len, record, &s, NULL), 0);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.f[1].port, "12345");
        assert_string_equal(s.f[1].requestid, "42");
        k8c_bytebuf_free(&a);
        k8c_bytebuf_free(&b);
        k8c_spdy_free(enc);
        k8c_spdy_free(dec);
}

static int refuse(void *opaque, const struct k8c_spdy_frame *f, k8c_error_t *err)
{
        return k8c_make_error(err, K8C_EBADREQUEST, "refused stream %u", f->stream_id);
}

static void test_malformed(void **state)
{
        struct {
                const char *what;
                uint8_t bytes[16];
                size_t len;
        } cases[] = {
                { "version 2", { 0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1 }, 12 },
                { "oversized", { 0x00, 0x00, 0x00, 0x01, 0, 0xff, 0xff, 0xff }, 8 },
                { "short rst", { 0x80, 0x03, 0x00, 0x03, 0, 0, 0, 4, 0, 0, 0, 1 }, 12 },
                { "bad block", { 0x80, 0x03, 0x00, 0x02, 0, 0, 0, 8, 0, 0, 0, 1, 'j', 'u', 'n', 'k' }, 16 },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                struct k8c_spdy *dec = NULL;
                assert_int_equal(k8c_spdy_new(&dec, NULL), 0);
                struct seen s = { 0 };
                cleanup_error k8c_error_t err = NULL;
                int r = k8c_spdy_feed(dec, cases[i].bytes, cases[i].len, record, &s, &err);
                if (r >= 0)
                        fail_msg("%s accepted", cases[i].what);
                assert_int_equal(s.n, 0);
                k8c_spdy_free(dec);
        }
        /* A header block cut right after a name (found by fuzz_spdy: the name leaked). */
        {
                z_stream zs = { 0 };
                assert_int_equal(deflateInit(&zs, Z_DEFAULT_COMPRESSION), Z_OK);
                const uint8_t raw[] = { 0, 0, 0, 1, 0, 0, 0, 4, 'p', 'o', 'r', 't' };
                uint8_t z[128];
                zs.next_in = (Bytef *)raw;
                zs.avail_in = sizeof(raw);
                zs.next_out = z;
                zs.avail_out = sizeof(z);
                assert_int_equal(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
                size_t zlen = sizeof(z) - zs.avail_out;
                deflateEnd(&zs);
                /* (A zlib stream without a preset dictionary inflates as is.) One pair announced,
                 * the block ends after its name: refused, and the name freed (ASan checks). */
                uint8_t frame[8 + 4 + 128] = { 0x80, 0x03, 0x00, 0x02, 0, 0, 0, (uint8_t)(4 + zlen),
                                               0,    0,    0,    1 };
                memcpy(frame + 12, z, zlen);
                struct k8c_spdy *d2 = NULL;
                assert_int_equal(k8c_spdy_new(&d2, NULL), 0);
                struct seen s2 = { 0 };
                cleanup_error k8c_error_t e2 = NULL;
                assert_true(k8c_spdy_feed(d2, frame, 12 + zlen, record, &s2, &e2) < 0);
                k8c_spdy_free(d2);
        }
        /* Unknown control types are skipped; a callback's error stops the parse and comes back. */
        struct k8c_spdy *dec = NULL;
        assert_int_equal(k8c_spdy_new(&dec, NULL), 0);
        const uint8_t unknown[] = { 0x80, 0x03, 0x00, 0x0c, 0, 0, 0, 2, 0xaa, 0xbb };
        struct seen s = { 0 };
        assert_int_equal(k8c_spdy_feed(dec, unknown, sizeof(unknown), record, &s, NULL), 0);
        assert_int_equal(s.n, 0);
        struct k8c_bytebuf out = { 0 };
        k8c_spdy_data(&out, 3, 0, "x", 1);
        cleanup_error k8c_error_t err = NULL;
        assert_true(k8c_spdy_feed(dec, out.data, out.len, refuse, NULL, &err) < 0);
        assert_string_equal(k8c_error_msg(&err), "refused stream 3");
        k8c_bytebuf_free(&out);
        k8c_spdy_free(dec);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_wire_layout),
                cmocka_unit_test(test_dictionary_id),  cmocka_unit_test(test_split_anywhere),
                cmocka_unit_test(test_shared_context), cmocka_unit_test(test_malformed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

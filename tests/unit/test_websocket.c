/* Unit tests for websocket.c: the RFC 6455 accept key, subprotocol choice, response-head parsing,
 * and a client and a server wrapper talking through memory: binary and text messages in both
 * directions, masking (client frames masked, server frames not), fragmented and split input,
 * ping answered with pong, close handshake, and protocol errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/websocket.h"

struct inbox {
        int n;
        uint8_t op[16];
        char msg[16][128];
        size_t len[16];
};

static void on_msg(void *opaque, uint8_t opcode, const uint8_t *data, size_t len)
{
        struct inbox *in = opaque;
        assert_true(in->n < 16);
        assert_true(len < 128);
        in->op[in->n] = opcode;
        memcpy(in->msg[in->n], data, len);
        in->len[in->n] = len;
        in->n++;
}

static void test_accept_key(void **state)
{
        /* The example of RFC 6455 §1.3. */
        cleanup_free char *a = k8c_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==");
        assert_string_equal(a, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        cleanup_free char *k1 = k8c_ws_client_key();
        cleanup_free char *k2 = k8c_ws_client_key();
        assert_int_equal(strlen(k1), 24);
        assert_string_not_equal(k1, k2);
}

static void test_choose_protocol(void **state)
{
        const char *const ours[] = { "v5.channel.k8s.io", "v4.channel.k8s.io", NULL };
        assert_string_equal(k8c_ws_choose_protocol("v4.channel.k8s.io,v5.channel.k8s.io", ours),
                            "v5.channel.k8s.io");
        assert_string_equal(k8c_ws_choose_protocol("channel.k8s.io, v4.channel.k8s.io", ours),
                            "v4.channel.k8s.io");
        assert_null(k8c_ws_choose_protocol("v5.channel.k8s.io.x", ours));
        assert_null(k8c_ws_choose_protocol(NULL, ours));
        assert_null(k8c_ws_choose_protocol("", ours));
}

static void test_http_head(void **state)
{
        const char *r = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Protocol:  v5.channel.k8s.io \r\n\r\n\x82\x01\x01";
        int code = 0;
        cleanup_free char *head = NULL;
        /* Incomplete heads ask for more, at every length. */
        size_t full = strlen(r) - 3;
        for (size_t i = 0; i < full; i++) {
                assert_int_equal(k8c_http_head_parse((const uint8_t *)r, i, &code, &head), 0);
                assert_null(head);
        }
        assert_int_equal(k8c_http_head_parse((const uint8_t *)r, strlen(r) + 3, &code, &head), (ssize_t)full);
        assert_int_equal(code, 101);
        cleanup_free char *p = k8c_http_head_get(head, "sec-websocket-protocol");
        assert_string_equal(p, "v5.channel.k8s.io");
        cleanup_free char *u = k8c_http_head_get(head, "Upgrade");
        assert_string_equal(u, "websocket");
        assert_null(k8c_http_head_get(head, "Content-Length"));
        char *h2 = NULL;
        assert_true(k8c_http_head_parse((const uint8_t *)"SSH-2.0", 7, &code, &h2) < 0);
        assert_true(k8c_http_head_parse((const uint8_t *)"HTTP/1.1 abc\r\n\r\n", 16, &code, &h2) < 0);
        assert_null(h2);
}

struct pair {
        struct k8c_ws *client, *server;
        struct inbox cin, sin;
};

static void pair_new(struct pair *p)
{
        memset(p, 0, sizeof(*p));
        assert_int_equal(k8c_ws_new(false, on_msg, &p->cin, &p->client, NULL), 0);
        assert_int_equal(k8c_ws_new(true, on_msg, &p->sin, &p->server, NULL), 0);
}

static void pair_free(struct pair *p)
{
        k8c_ws_free(p->client);
        k8c_ws_free(p->server);
}

/* Moves everything each side has to say to the other, split into chunks of step bytes. */
static void pump(struct pair *p, size_t step)
{
        for (int round = 0; round < 4; round++) {
                struct k8c_ws *from[2] = { p->client, p->server }, *to[2] = { p->server, p->client };
                for (int d = 0; d < 2; d++) {
                        struct k8c_bytebuf *out = k8c_ws_output(from[d]);
                        while (k8c_bytebuf_size(out) > 0) {
                                size_t n = k8c_bytebuf_size(out) < step ? k8c_bytebuf_size(out) : step;
                                assert_int_equal(k8c_ws_feed(to[d], k8c_bytebuf_head(out), n, NULL), 0);
                                k8c_bytebuf_consume(out, n);
                        }
                }
        }
}

static void test_messages_both_ways(void **state)
{
        const size_t steps[] = { 1, 2, 3, 7, 4096 };
        for (size_t s = 0; s < K8C_ARRAY_SIZE(steps); s++) {
                struct pair p;
                pair_new(&p);
                assert_int_equal(k8c_ws_send(p.client, K8C_WS_OP_BINARY, "\x00hello", 6, NULL), 0);
                assert_int_equal(k8c_ws_send(p.client, K8C_WS_OP_BINARY, "\xff\x00", 2, NULL), 0);
                assert_int_equal(k8c_ws_send(p.server, K8C_WS_OP_BINARY, "\x01out", 4, NULL), 0);
                assert_int_equal(k8c_ws_send(p.server, K8C_WS_OP_TEXT, "text", 4, NULL), 0);
                pump(&p, steps[s]);
                assert_int_equal(p.sin.n, 2);
                assert_int_equal(p.sin.op[0], K8C_WS_OP_BINARY);
                assert_int_equal(p.sin.len[0], 6);
                assert_memory_equal(p.sin.msg[0], "\x00hello", 6);
                assert_memory_equal(p.sin.msg[1], "\xff\x00", 2);
                assert_int_equal(p.cin.n, 2);
                assert_memory_equal(p.cin.msg[0], "\x01out", 4);
                assert_int_equal(p.cin.op[1], K8C_WS_OP_TEXT);
                /* Close: the server closes 1000 right after a last message, which arrives first; the
                 * client echoes, both see it. */
                assert_int_equal(k8c_ws_send(p.server, K8C_WS_OP_BINARY, "\x03last", 5, NULL), 0);
                assert_int_equal(k8c_ws_send_close(p.server, 1000, NULL), 0);
                pump(&p, steps[s]);
                assert_int_equal(p.cin.n, 4);
                assert_memory_equal(p.cin.msg[2], "\x03last", 5);
                assert_true(k8c_ws_close_sent(p.server));
                assert_true(k8c_ws_close_received(p.client));
                assert_true(k8c_ws_close_sent(p.client));
                assert_true(k8c_ws_close_received(p.server));
                assert_int_equal(p.cin.op[3], K8C_WS_OP_CLOSE);
                assert_memory_equal(p.cin.msg[3], "\x03\xe8", 2);
                pair_free(&p);
        }
}

static void test_masking(void **state)
{
        struct pair p;
        pair_new(&p);
        assert_int_equal(k8c_ws_send(p.client, K8C_WS_OP_BINARY, "abc", 3, NULL), 0);
        struct k8c_bytebuf *out = k8c_ws_output(p.client);
        assert_int_equal(k8c_bytebuf_size(out), 2 + 4 + 3);
        assert_int_equal(k8c_bytebuf_head(out)[0], 0x82);
        assert_int_equal(k8c_bytebuf_head(out)[1], 0x80 | 3);
        k8c_bytebuf_consume(out, k8c_bytebuf_size(out));
        assert_int_equal(k8c_ws_send(p.server, K8C_WS_OP_BINARY, "abc", 3, NULL), 0);
        out = k8c_ws_output(p.server);
        const uint8_t want[] = { 0x82, 0x03, 'a', 'b', 'c' };
        assert_int_equal(k8c_bytebuf_size(out), sizeof(want));
        assert_memory_equal(k8c_bytebuf_head(out), want, sizeof(want));
        pair_free(&p);
}

/* Hand-made client frames: a message fragmented in two with a ping in between. */
static void test_fragments_and_ping(void **state)
{
        struct pair p;
        pair_new(&p);
        const uint8_t frames[] = {
                0x02, 0x82, 0, 0, 0, 0, 0x00,    'a',              /* binary, not FIN, mask 0 */
                0x89, 0x82, 0, 0, 0, 0, 'p',     'i',              /* ping "pi" */
                0x80, 0x83, 1, 1, 1, 1, 'b' ^ 1, 'c' ^ 1, 'd' ^ 1, /* continuation, FIN, mask 01010101 */
        };
        assert_int_equal(k8c_ws_feed(p.server, frames, sizeof(frames), NULL), 0);
        assert_int_equal(p.sin.n, 1);
        assert_int_equal(p.sin.len[0], 5);
        assert_memory_equal(p.sin.msg[0],
                            "\x00"
                            "abcd",
                            5);
        struct k8c_bytebuf *out = k8c_ws_output(p.server);
        const uint8_t pong[] = { 0x8a, 0x02, 'p', 'i' };
        assert_int_equal(k8c_bytebuf_size(out), sizeof(pong));
        assert_memory_equal(k8c_bytebuf_head(out), pong, sizeof(pong));
        pair_free(&p);
}

static void test_protocol_errors(void **state)
{
        /* A server must refuse unmasked client frames; reserved opcodes are errors. */
        const uint8_t unmasked[] = { 0x82, 0x01, 'x' };
        const uint8_t reserved[] = { 0x83, 0x80, 0, 0, 0, 0 };
        const uint8_t *cases[] = { unmasked, reserved };
        size_t lens[] = { sizeof(unmasked), sizeof(reserved) };
        for (size_t i = 0; i < 2; i++) {
                struct pair p;
                pair_new(&p);
                cleanup_error k8c_error_t err = NULL;
                int r = k8c_ws_feed(p.server, cases[i], lens[i], &err);
                struct k8c_bytebuf *out = k8c_ws_output(p.server);
                /* Either an error now or a close (1002) queued for the peer. */
                assert_true(r < 0 || (k8c_bytebuf_size(out) >= 4 && k8c_bytebuf_head(out)[0] == 0x88));
                assert_int_equal(p.sin.n, 0);
                pair_free(&p);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_accept_key),      cmocka_unit_test(test_choose_protocol),
                cmocka_unit_test(test_http_head),       cmocka_unit_test(test_messages_both_ways),
                cmocka_unit_test(test_masking),         cmocka_unit_test(test_fragments_and_ping),
                cmocka_unit_test(test_protocol_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

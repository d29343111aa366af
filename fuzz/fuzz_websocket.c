/*
 * fuzz_websocket.c - libFuzzer target for the WebSocket frame path: arbitrary
 * bytes from a "client" go into a server-side wrapper (wslay parsing,
 * unmasking, reassembly, control frames) in chunks whose sizes come from the
 * input; every message is echoed back as the exec/port-forward relays do; the
 * server's output is fed to a client-side wrapper, which must accept it (the
 * server only ever writes valid frames). Also the handshake helpers on the
 * same bytes: the response-head parser and the subprotocol chooser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/websocket.h"

struct echo {
        struct k8c_ws *ws;
        size_t msgs;
};

static void on_server_msg(void *opaque, uint8_t op, const uint8_t *d, size_t n)
{
        struct echo *e = opaque;
        e->msgs++;
        if (op == K8C_WS_OP_BINARY || op == K8C_WS_OP_TEXT)
                k8c_ws_send(e->ws, K8C_WS_OP_BINARY, d, n, NULL);
}

static void on_client_msg(void *opaque, uint8_t op, const uint8_t *d, size_t n)
{
        size_t *count = opaque;
        (*count)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 2)
                return 0;
        size_t step = (size_t)data[0] + 1;
        data++;
        size--;

        int code = 0;
        char *head = NULL;
        if (k8c_http_head_parse(data, size, &code, &head) > 0) {
                if (code < 0 || code > 999)
                        abort();
                free(k8c_http_head_get(head, "Sec-WebSocket-Protocol"));
                free(head);
        }
        cleanup_free char *text = k8c_xstrndup((const char *)data, size);
        const char *const protos[] = { "v5.channel.k8s.io", "v4.channel.k8s.io", NULL };
        const char *p = k8c_ws_choose_protocol(text, protos);
        if (p != NULL && strstr(text, p) == NULL)
                abort();

        struct echo e = { 0 };
        size_t client_msgs = 0;
        struct k8c_ws *client = NULL;
        if (k8c_ws_new(true, on_server_msg, &e, &e.ws, NULL) < 0 ||
            k8c_ws_new(false, on_client_msg, &client_msgs, &client, NULL) < 0)
                abort();
        for (size_t off = 0; off < size; off += step) {
                size_t n = size - off < step ? size - off : step;
                k8c_error_t err = NULL;
                int r = k8c_ws_feed(e.ws, data + off, n, &err);
                k8c_error_release(&err);
                if (r < 0)
                        break;
        }
        struct k8c_bytebuf *out = k8c_ws_output(e.ws);
        k8c_error_t err = NULL;
        if (k8c_ws_feed(client, k8c_bytebuf_head(out), k8c_bytebuf_size(out), &err) < 0)
                abort();
        k8c_ws_free(e.ws);
        k8c_ws_free(client);
        return 0;
}

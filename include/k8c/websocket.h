/*
 * websocket.h - WebSocket (RFC 6455) for the streaming endpoints: a thin
 * wrapper over wslay's event API that works on memory buffers instead of a
 * socket (bytes read from the peer are fed in, frames to write accumulate in
 * an output buffer), so the same code runs over blocking sockets, in relays
 * driven by poll(), in unit tests and under the fuzzer. Plus the pieces of
 * the HTTP/1.1 upgrade handshake the relays need: Sec-WebSocket-Accept,
 * subprotocol choice, and reading an upgrade response head.
 *
 * Must not: touch sockets or log. Callers own the I/O.
 */
#ifndef K8C_WEBSOCKET_H
#define K8C_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "k8c/bytebuf.h"
#include "k8c/error.h"

#define K8C_WS_OP_TEXT 1
#define K8C_WS_OP_BINARY 2
#define K8C_WS_OP_CLOSE 8

struct k8c_ws;
/* A complete message (text, binary, or close with its payload) from the peer. */
typedef void (*k8c_ws_message_fn)(void *opaque, uint8_t opcode, const uint8_t *data, size_t len);

/* server: frames we send are unmasked and the peer's must be masked; client: the reverse. */
int k8c_ws_new(bool server, k8c_ws_message_fn fn, void *opaque, struct k8c_ws **ret, k8c_error_t *err);
void k8c_ws_free(struct k8c_ws *ws);
/* Parses bytes from the peer, calling fn per message; pings are answered, closes echoed.
 * Negative on a protocol violation (a close 1002 is then queued). */
int k8c_ws_feed(struct k8c_ws *ws, const void *data, size_t len, k8c_error_t *err);
/* Queues one message (copied). */
int k8c_ws_send(struct k8c_ws *ws, uint8_t opcode, const void *data, size_t len, k8c_error_t *err);
/* Queues a close frame with a status code (1000 = normal). */
int k8c_ws_send_close(struct k8c_ws *ws, uint16_t code, k8c_error_t *err);
/* Serialises the queued frames and returns the bytes to write (consume what was written). */
struct k8c_bytebuf *k8c_ws_output(struct k8c_ws *ws);
bool k8c_ws_close_received(struct k8c_ws *ws);
bool k8c_ws_close_sent(struct k8c_ws *ws);

/* ---- handshake ---- */

/* base64(SHA-1(key + RFC 6455 GUID)). Caller frees. */
char *k8c_ws_accept_key(const char *client_key);
/* A fresh random Sec-WebSocket-Key. Caller frees. */
char *k8c_ws_client_key(void);
/* The first of supported (NULL-terminated, in our order of preference) that appears in the
 * comma-separated offered list; NULL if none. */
const char *k8c_ws_choose_protocol(const char *offered, const char *const *supported);

/* An HTTP/1.1 response head in buf: its length (through the blank line) when complete, 0 when
 * more bytes are needed, negative when it is not HTTP. Sets the status code and a NUL-terminated
 * copy of the head (caller frees). Heads over 64 KiB are rejected. */
ssize_t k8c_http_head_parse(const uint8_t *buf, size_t len, int *ret_code, char **ret_head);
/* The value of header name (case-insensitive) in a head; NULL if absent. Caller frees. */
char *k8c_http_head_get(const char *head, const char *name);

/* Writes all of buf to a (possibly non-blocking) fd, polling while it would block. On a socket a
 * gone peer is an error (EPIPE), never SIGPIPE. */
int k8c_write_all(int fd, const void *buf, size_t len);

#endif

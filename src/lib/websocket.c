/*
 * websocket.c - the WebSocket wrapper (websocket.h): wslay's event context
 * with its recv/send callbacks reading from an input buffer and appending to
 * an output buffer, plus the upgrade-handshake helpers (SHA-1 and base64 from
 * gnutls). Framing, masking, fragmentation and control frames are wslay's.
 *
 * Must not: do socket I/O (except k8c_write_all) or log.
 */
#include "k8c/websocket.h"

#include <ctype.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "k8c/cleanup.h"

/* A message larger than this is a protocol error (exec and port-forward send small frames). */
#define MAX_MESSAGE (16u * 1024 * 1024)

struct k8c_ws {
        wslay_event_context_ptr ctx;
        k8c_ws_message_fn fn;
        void *opaque;
        const uint8_t *in;
        size_t in_len;
        struct k8c_bytebuf out;
};

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
        struct k8c_ws *ws = user;
        if (ws->in_len == 0) {
                wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
                return -1;
        }
        size_t n = len < ws->in_len ? len : ws->in_len;
        memcpy(buf, ws->in, n);
        ws->in += n;
        ws->in_len -= n;
        return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
        struct k8c_ws *ws = user;
        k8c_bytebuf_append(&ws->out, data, len);
        return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
        size_t got = 0;
        while (got < len) {
                ssize_t n = getrandom(buf + got, len - got, 0);
                if (n < 0 && errno != EINTR) {
                        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
                        return -1;
                }
                if (n > 0)
                        got += (size_t)n;
        }
        return 0;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
        struct k8c_ws *ws = user;
        if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME ||
            arg->opcode == WSLAY_CONNECTION_CLOSE)
                ws->fn(ws->opaque, arg->opcode, arg->msg, arg->msg_length);
}

int k8c_ws_new(bool server, k8c_ws_message_fn fn, void *opaque, struct k8c_ws **ret, k8c_error_t *err)
{
        struct wslay_event_callbacks cb = {
                .recv_callback = recv_cb,
                .send_callback = send_cb,
                .genmask_callback = genmask_cb,
                .on_msg_recv_callback = on_msg,
        };
        struct k8c_ws *ws = k8c_xcalloc(1, sizeof(*ws));
        ws->fn = fn;
        ws->opaque = opaque;
        int r = server ? wslay_event_context_server_init(&ws->ctx, &cb, ws)
                       : wslay_event_context_client_init(&ws->ctx, &cb, ws);
        if (r != 0) {
                free(ws);
                return k8c_make_error(err, K8C_EINTERNAL, "wslay: cannot create a context (%d)", r);
        }
        wslay_event_config_set_max_recv_msg_length(ws->ctx, MAX_MESSAGE);
        *ret = ws;
        return 0;
}

void k8c_ws_free(struct k8c_ws *ws)
{
        if (ws == NULL)
                return;
        wslay_event_context_free(ws->ctx);
        k8c_bytebuf_free(&ws->out);
        free(ws);
}

int k8c_ws_feed(struct k8c_ws *ws, const void *data, size_t len, k8c_error_t *err)
{
        ws->in = data;
        ws->in_len = len;
        int r = 0;
        /* wslay stops reading once a close was received; later bytes are ignored. */
        while (ws->in_len > 0 && wslay_event_get_read_enabled(ws->ctx)) {
                size_t before = ws->in_len;
                r = wslay_event_recv(ws->ctx);
                if (r != 0 || ws->in_len == before)
                        break;
        }
        ws->in = NULL;
        ws->in_len = 0;
        if (r != 0)
                return k8c_make_error(err, K8C_EBADREQUEST, "websocket: protocol error (%d)", r);
        return 0;
}

int k8c_ws_send(struct k8c_ws *ws, uint8_t opcode, const void *data, size_t len, k8c_error_t *err)
{
        struct wslay_event_msg m = { .opcode = opcode, .msg = data, .msg_length = len };
        int r = wslay_event_queue_msg(ws->ctx, &m);
        if (r != 0)
                return k8c_make_error(err, K8C_EINTERNAL, "websocket: cannot queue a message (%d)", r);
        return 0;
}

int k8c_ws_send_close(struct k8c_ws *ws, uint16_t code, k8c_error_t *err)
{
        if (wslay_event_get_close_sent(ws->ctx))
                return 0;
        /* wslay sends control frames ahead of queued messages: serialise those first so the
         * close comes after them (the exec status must precede it). */
        k8c_ws_output(ws);
        int r = wslay_event_queue_close(ws->ctx, code, NULL, 0);
        if (r != 0)
                return k8c_make_error(err, K8C_EINTERNAL, "websocket: cannot queue close (%d)", r);
        return 0;
}

struct k8c_bytebuf *k8c_ws_output(struct k8c_ws *ws)
{
        while (wslay_event_want_write(ws->ctx))
                if (wslay_event_send(ws->ctx) != 0)
                        break;
        return &ws->out;
}

bool k8c_ws_close_received(struct k8c_ws *ws)
{
        return wslay_event_get_close_received(ws->ctx) != 0;
}

bool k8c_ws_close_sent(struct k8c_ws *ws)
{
        return wslay_event_get_close_sent(ws->ctx) != 0;
}

/* ---- handshake ---- */

static char *base64(const void *data, size_t len)
{
        gnutls_datum_t in = { .data = (unsigned char *)data, .size = (unsigned)len }, out = { 0 };
        if (gnutls_base64_encode2(&in, &out) < 0)
                abort();
        char *s = k8c_xstrndup((const char *)out.data, out.size);
        gnutls_free(out.data);
        return s;
}

char *k8c_ws_accept_key(const char *client_key)
{
        cleanup_free char *s = k8c_xasprintf("%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", client_key);
        unsigned char digest[20];
        if (gnutls_hash_fast(GNUTLS_DIG_SHA1, s, strlen(s), digest) < 0)
                abort();
        return base64(digest, sizeof(digest));
}

char *k8c_ws_client_key(void)
{
        uint8_t nonce[16];
        size_t got = 0;
        while (got < sizeof(nonce)) {
                ssize_t n = getrandom(nonce + got, sizeof(nonce) - got, 0);
                if (n > 0)
                        got += (size_t)n;
        }
        return base64(nonce, sizeof(nonce));
}

const char *k8c_ws_choose_protocol(const char *offered, const char *const *supported)
{
        if (offered == NULL)
                return NULL;
        for (size_t i = 0; supported[i] != NULL; i++) {
                size_t n = strlen(supported[i]);
                for (const char *p = offered; *p != '\0';) {
                        while (*p == ' ' || *p == '\t' || *p == ',')
                                p++;
                        size_t len = strcspn(p, ", \t");
                        if (len == n && strncmp(p, supported[i], n) == 0)
                                return supported[i];
                        p += len;
                }
        }
        return NULL;
}

ssize_t k8c_http_head_parse(const uint8_t *buf, size_t len, int *ret_code, char **ret_head)
{
        const size_t max = 64 * 1024;
        if (len == 0)
                return 0;
        size_t scan = len < max ? len : max;
        size_t end = 0;
        for (size_t i = 3; i < scan; i++)
                if (buf[i - 3] == '\r' && buf[i - 2] == '\n' && buf[i - 1] == '\r' && buf[i] == '\n') {
                        end = i + 1;
                        break;
                }
        if (len >= 5 && memcmp(buf, "HTTP/", 5) != 0)
                return -1;
        if (len < 5 && memcmp(buf, "HTTP/", len) != 0)
                return -1;
        if (end == 0)
                return len >= max ? -1 : 0;
        /* "HTTP/1.1 101 Switching Protocols" */
        const uint8_t *sp = memchr(buf, ' ', end);
        if (sp == NULL || (size_t)(sp - buf) + 4 > end || !isdigit(sp[1]) || !isdigit(sp[2]) ||
            !isdigit(sp[3]))
                return -1;
        *ret_code = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
        *ret_head = k8c_xstrndup((const char *)buf, end);
        return (ssize_t)end;
}

char *k8c_http_head_get(const char *head, const char *name)
{
        size_t n = strlen(name);
        const char *line = strstr(head, "\r\n");
        while (line != NULL) {
                line += 2;
                if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
                        const char *v = line + n + 1;
                        while (*v == ' ' || *v == '\t')
                                v++;
                        size_t len = strcspn(v, "\r\n");
                        while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                                len--;
                        return k8c_xstrndup(v, len);
                }
                line = strstr(line, "\r\n");
        }
        return NULL;
}

int k8c_write_all(int fd, const void *buf, size_t len)
{
        const uint8_t *p = buf;
        while (len > 0) {
                /* send() on sockets so a peer that left is EPIPE, not SIGPIPE. */
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
                if (n < 0 && errno == ENOTSOCK)
                        n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                        if (poll(&pfd, 1, 30000) <= 0)
                                return -ETIMEDOUT;
                        continue;
                }
                if (n <= 0)
                        return -errno;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/*
 * spdy.c - SPDY/3.1 frames (spdy.h): the incremental parser, the encoders
 * and the header-block codec (zlib with the SPDY/3 dictionary, one inflate
 * and one deflate context per session, each block ending in a sync flush).
 *
 * Frame layout (all big endian):
 *   control: 1 | version(15)=3 | type(16) | flags(8) | length(24) | payload
 *   data:    0 | stream id(31)            | flags(8) | length(24) | payload
 *
 * Must not: do I/O, log, or trust any length it reads.
 */
#include "k8c/spdy.h"

#include <pthread.h>
#include <string.h>
#include <zlib.h>

#include "k8c/cleanup.h"

/* A decompressed header block larger than this is refused. */
#define MAX_HEADER_BLOCK (256u * 1024)

/* The SPDY/3 header dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1): these words, each
 * preceded by its 32-bit big-endian length, then the text of DICT_TAIL. */
static const char *const dict_words[] = {
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
};
#define DICT_TAIL                                                                                            \
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"         \
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "            \
        "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service "     \
        "UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, "     \
        "Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,application/"          \
        "xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-"            \
        "8charset=iso-8859-1,utf-,*,enq=0."

static pthread_once_t dict_once = PTHREAD_ONCE_INIT;
static uint8_t dict[1500];
static size_t dict_len;

static void dict_build(void)
{
        size_t n = 0;
        for (size_t i = 0; i < K8C_ARRAY_SIZE(dict_words); i++) {
                size_t w = strlen(dict_words[i]);
                dict[n++] = 0;
                dict[n++] = 0;
                dict[n++] = 0;
                dict[n++] = (uint8_t)w;
                memcpy(dict + n, dict_words[i], w);
                n += w;
        }
        memcpy(dict + n, DICT_TAIL, sizeof(DICT_TAIL) - 1);
        dict_len = n + sizeof(DICT_TAIL) - 1;
}

struct k8c_spdy {
        z_stream inflater, deflater;
        bool inflater_ok, deflater_ok;
        struct k8c_bytebuf in;
        struct k8c_bytebuf block; /* scratch: a decompressed header block */
};

int k8c_spdy_new(struct k8c_spdy **ret, k8c_error_t *err)
{
        pthread_once(&dict_once, dict_build);
        struct k8c_spdy *s = k8c_xcalloc(1, sizeof(*s));
        if (inflateInit(&s->inflater) != Z_OK) {
                k8c_spdy_free(s);
                return k8c_make_error(err, K8C_EINTERNAL, "spdy: inflateInit failed");
        }
        s->inflater_ok = true;
        if (deflateInit(&s->deflater, Z_DEFAULT_COMPRESSION) != Z_OK) {
                k8c_spdy_free(s);
                return k8c_make_error(err, K8C_EINTERNAL, "spdy: deflateInit failed");
        }
        s->deflater_ok = true;
        if (deflateSetDictionary(&s->deflater, dict, (uInt)dict_len) != Z_OK) {
                k8c_spdy_free(s);
                return k8c_make_error(err, K8C_EINTERNAL, "spdy: deflateSetDictionary failed");
        }
        *ret = s;
        return 0;
}

void k8c_spdy_free(struct k8c_spdy *s)
{
        if (s == NULL)
                return;
        if (s->inflater_ok)
                inflateEnd(&s->inflater);
        if (s->deflater_ok)
                deflateEnd(&s->deflater);
        k8c_bytebuf_free(&s->in);
        k8c_bytebuf_free(&s->block);
        free(s);
}

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}

/* ---- header blocks ---- */

static int inflate_block(struct k8c_spdy *s, const uint8_t *data, size_t len, k8c_error_t *err)
{
        s->block.off = s->block.len = 0;
        z_stream *z = &s->inflater;
        z->next_in = (Bytef *)data;
        z->avail_in = (uInt)len;
        for (;;) {
                if (k8c_bytebuf_size(&s->block) >= MAX_HEADER_BLOCK)
                        return k8c_make_error(err, K8C_EBADREQUEST, "spdy: header block too large");
                k8c_bytebuf_reserve(&s->block, 4096);
                z->next_out = s->block.data + s->block.len;
                z->avail_out = 4096;
                int r = inflate(z, Z_SYNC_FLUSH);
                s->block.len += 4096 - z->avail_out;
                if (r == Z_NEED_DICT) {
                        if (inflateSetDictionary(z, dict, (uInt)dict_len) != Z_OK)
                                return k8c_make_error(err, K8C_EBADREQUEST,
                                                      "spdy: header block uses another dictionary");
                        continue;
                }
                if (r == Z_BUF_ERROR || r == Z_STREAM_END)
                        break; /* no more progress possible */
                if (r != Z_OK)
                        return k8c_make_error(err, K8C_EBADREQUEST, "spdy: corrupt header block (zlib %d)",
                                              r);
                if (z->avail_in == 0 && z->avail_out > 0)
                        break;
        }
        return 0;
}

static void headers_free(struct k8c_spdy_header *h, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(h[i].name);
                free(h[i].value);
        }
        free(h);
}

static int parse_block(struct k8c_spdy *s, const uint8_t *data, size_t len, struct k8c_spdy_header **ret,
                       size_t *ret_n, k8c_error_t *err)
{
        int r = inflate_block(s, data, len, err);
        if (r < 0)
                return r;
        const uint8_t *p = k8c_bytebuf_head(&s->block);
        size_t left = k8c_bytebuf_size(&s->block);
        if (left < 4)
                return k8c_make_error(err, K8C_EBADREQUEST, "spdy: short header block");
        uint32_t n = get32(p);
        p += 4;
        left -= 4;
        if (n > left / 8)
                return k8c_make_error(err, K8C_EBADREQUEST, "spdy: header count %u exceeds the block", n);
        struct k8c_spdy_header *h = k8c_xcalloc(n ? n : 1, sizeof(*h));
        for (uint32_t i = 0; i < n; i++) {
                char *parts[2];
                for (int j = 0; j < 2; j++) {
                        if (left < 4) {
                                if (j == 1)
                                        free(parts[0]);
                                headers_free(h, i);
                                return k8c_make_error(err, K8C_EBADREQUEST, "spdy: truncated header block");
                        }
                        uint32_t l = get32(p);
                        p += 4;
                        left -= 4;
                        if (l > left) {
                                if (j == 1)
                                        free(parts[0]);
                                headers_free(h, i);
                                return k8c_make_error(err, K8C_EBADREQUEST, "spdy: truncated header block");
                        }
                        parts[j] = k8c_xstrndup((const char *)p, l);
                        p += l;
                        left -= l;
                }
                h[i].name = parts[0];
                h[i].value = parts[1];
        }
        *ret = h;
        *ret_n = n;
        return 0;
}

static int deflate_block(struct k8c_spdy *s, struct k8c_bytebuf *out, const struct k8c_spdy_header *h,
                         size_t n, k8c_error_t *err)
{
        struct k8c_bytebuf raw = { 0 };
        uint8_t b4[4];
        put32(b4, (uint32_t)n);
        k8c_bytebuf_append(&raw, b4, 4);
        for (size_t i = 0; i < n; i++) {
                put32(b4, (uint32_t)strlen(h[i].name));
                k8c_bytebuf_append(&raw, b4, 4);
                k8c_bytebuf_append(&raw, h[i].name, strlen(h[i].name));
                put32(b4, (uint32_t)strlen(h[i].value));
                k8c_bytebuf_append(&raw, b4, 4);
                k8c_bytebuf_append(&raw, h[i].value, strlen(h[i].value));
        }
        z_stream *z = &s->deflater;
        z->next_in = raw.data;
        z->avail_in = (uInt)raw.len;
        int r;
        do {
                k8c_bytebuf_reserve(out, 1024);
                z->next_out = out->data + out->len;
                z->avail_out = 1024;
                r = deflate(z, Z_SYNC_FLUSH);
                out->len += 1024 - z->avail_out;
        } while (r == Z_OK && (z->avail_in > 0 || z->avail_out == 0));
        k8c_bytebuf_free(&raw);
        if (r != Z_OK && r != Z_BUF_ERROR)
                return k8c_make_error(err, K8C_EINTERNAL, "spdy: deflate failed (%d)", r);
        return 0;
}

/* ---- parser ---- */

static int control_frame(struct k8c_spdy *s, int type, uint8_t flags, const uint8_t *p, size_t len,
                         k8c_spdy_frame_fn fn, void *opaque, k8c_error_t *err)
{
        struct k8c_spdy_frame f = { .type = type, .flags = flags };
        static const size_t min_len[] = {
                [K8C_SPDY_SYN_STREAM] = 10, [K8C_SPDY_SYN_REPLY] = 4,     [K8C_SPDY_RST_STREAM] = 8,
                [K8C_SPDY_SETTINGS] = 4,    [K8C_SPDY_PING] = 4,          [K8C_SPDY_GOAWAY] = 8,
                [K8C_SPDY_HEADERS] = 4,     [K8C_SPDY_WINDOW_UPDATE] = 8,
        };
        if (type < 1 || type > K8C_SPDY_WINDOW_UPDATE || type == 5)
                return 0; /* unknown control frames are ignored */
        if (len < min_len[type])
                return k8c_make_error(err, K8C_EBADREQUEST, "spdy: control frame %d too short (%zu)", type,
                                      len);
        size_t block_off = 0;
        switch (type) {
        case K8C_SPDY_SYN_STREAM:
                f.stream_id = get32(p) & 0x7fffffffu;
                f.assoc_id = get32(p + 4) & 0x7fffffffu;
                f.priority = p[8] >> 5;
                block_off = 10;
                break;
        case K8C_SPDY_SYN_REPLY:
        case K8C_SPDY_HEADERS:
                f.stream_id = get32(p) & 0x7fffffffu;
                block_off = 4;
                break;
        case K8C_SPDY_RST_STREAM:
                f.stream_id = get32(p) & 0x7fffffffu;
                f.status = get32(p + 4);
                break;
        case K8C_SPDY_SETTINGS:
                if (get32(p) > (len - 4) / 8)
                        return k8c_make_error(err, K8C_EBADREQUEST, "spdy: SETTINGS count exceeds the frame");
                break;
        case K8C_SPDY_PING: f.ping_id = get32(p); break;
        case K8C_SPDY_GOAWAY:
                f.last_good = get32(p) & 0x7fffffffu;
                f.status = get32(p + 4);
                break;
        case K8C_SPDY_WINDOW_UPDATE:
                f.stream_id = get32(p) & 0x7fffffffu;
                f.delta = get32(p + 4) & 0x7fffffffu;
                break;
        }
        if (block_off > 0) {
                int r = parse_block(s, p + block_off, len - block_off, &f.headers, &f.nheaders, err);
                if (r < 0)
                        return r;
        }
        int r = fn(opaque, &f, err);
        headers_free(f.headers, f.nheaders);
        return r;
}

int k8c_spdy_feed(struct k8c_spdy *s, const void *data, size_t len, k8c_spdy_frame_fn fn, void *opaque,
                  k8c_error_t *err)
{
        k8c_bytebuf_append(&s->in, data, len);
        while (k8c_bytebuf_size(&s->in) >= 8) {
                const uint8_t *p = k8c_bytebuf_head(&s->in);
                uint32_t w0 = get32(p);
                uint8_t flags = p[4];
                uint32_t flen = (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
                bool control = (w0 & 0x80000000u) != 0;
                if (control && ((w0 >> 16) & 0x7fff) != 3)
                        return k8c_make_error(err, K8C_EBADREQUEST, "spdy: unsupported version %u",
                                              (w0 >> 16) & 0x7fff);
                if (flen > K8C_SPDY_MAX_FRAME)
                        return k8c_make_error(err, K8C_EBADREQUEST, "spdy: frame of %u bytes is too large",
                                              flen);
                if (k8c_bytebuf_size(&s->in) < 8 + (size_t)flen)
                        break;
                int r;
                if (control) {
                        r = control_frame(s, (int)(w0 & 0xffff), flags, p + 8, flen, fn, opaque, err);
                } else {
                        struct k8c_spdy_frame f = {
                                .type = K8C_SPDY_DATA,
                                .flags = flags,
                                .stream_id = w0 & 0x7fffffffu,
                                .data = p + 8,
                                .len = flen,
                        };
                        r = fn(opaque, &f, err);
                }
                k8c_bytebuf_consume(&s->in, 8 + (size_t)flen);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- encoders ---- */

static size_t control_head(struct k8c_bytebuf *out, int type, uint8_t flags)
{
        uint8_t h[8] = { 0x80, 0x03, (uint8_t)(type >> 8), (uint8_t)type, flags, 0, 0, 0 };
        k8c_bytebuf_append(out, h, 8);
        return out->len - 8;
}

static void control_len(struct k8c_bytebuf *out, size_t at)
{
        size_t n = out->len - at - 8;
        out->data[at + 5] = (uint8_t)(n >> 16);
        out->data[at + 6] = (uint8_t)(n >> 8);
        out->data[at + 7] = (uint8_t)n;
}

int k8c_spdy_syn_stream(struct k8c_spdy *s, struct k8c_bytebuf *out, uint32_t id, uint8_t flags,
                        const struct k8c_spdy_header *h, size_t n, k8c_error_t *err)
{
        size_t at = control_head(out, K8C_SPDY_SYN_STREAM, flags);
        uint8_t b[10] = { 0 };
        put32(b, id & 0x7fffffffu);
        k8c_bytebuf_append(out, b, sizeof(b));
        int r = deflate_block(s, out, h, n, err);
        if (r < 0) {
                out->len = at;
                return r;
        }
        control_len(out, at);
        return 0;
}

int k8c_spdy_syn_reply(struct k8c_spdy *s, struct k8c_bytebuf *out, uint32_t id, uint8_t flags,
                       const struct k8c_spdy_header *h, size_t n, k8c_error_t *err)
{
        size_t at = control_head(out, K8C_SPDY_SYN_REPLY, flags);
        uint8_t b[4];
        put32(b, id & 0x7fffffffu);
        k8c_bytebuf_append(out, b, sizeof(b));
        int r = deflate_block(s, out, h, n, err);
        if (r < 0) {
                out->len = at;
                return r;
        }
        control_len(out, at);
        return 0;
}

void k8c_spdy_data(struct k8c_bytebuf *out, uint32_t id, uint8_t flags, const void *data, size_t len)
{
        /* Callers keep frames under K8C_SPDY_MAX_FRAME; split here anyway. */
        do {
                size_t n = len > K8C_SPDY_MAX_FRAME ? K8C_SPDY_MAX_FRAME : len;
                uint8_t h[8];
                put32(h, id & 0x7fffffffu);
                h[4] = n == len ? flags : (uint8_t)(flags & ~K8C_SPDY_FLAG_FIN);
                h[5] = (uint8_t)(n >> 16);
                h[6] = (uint8_t)(n >> 8);
                h[7] = (uint8_t)n;
                k8c_bytebuf_append(out, h, 8);
                k8c_bytebuf_append(out, data, n);
                data = (const uint8_t *)data + n;
                len -= n;
        } while (len > 0);
}

static void control_words(struct k8c_bytebuf *out, int type, uint32_t a, uint32_t b, int nwords)
{
        size_t at = control_head(out, type, 0);
        uint8_t w[8];
        put32(w, a);
        put32(w + 4, b);
        k8c_bytebuf_append(out, w, (size_t)nwords * 4);
        control_len(out, at);
}

void k8c_spdy_rst(struct k8c_bytebuf *out, uint32_t id, uint32_t status)
{
        control_words(out, K8C_SPDY_RST_STREAM, id & 0x7fffffffu, status, 2);
}

void k8c_spdy_ping(struct k8c_bytebuf *out, uint32_t ping_id)
{
        control_words(out, K8C_SPDY_PING, ping_id, 0, 1);
}

void k8c_spdy_goaway(struct k8c_bytebuf *out, uint32_t last_good, uint32_t status)
{
        control_words(out, K8C_SPDY_GOAWAY, last_good & 0x7fffffffu, status, 2);
}

void k8c_spdy_window_update(struct k8c_bytebuf *out, uint32_t id, uint32_t delta)
{
        control_words(out, K8C_SPDY_WINDOW_UPDATE, id & 0x7fffffffu, delta & 0x7fffffffu, 2);
}

void k8c_spdy_settings(struct k8c_bytebuf *out, const uint32_t (*entries)[2], size_t n)
{
        size_t at = control_head(out, K8C_SPDY_SETTINGS, 0);
        uint8_t w[8];
        put32(w, (uint32_t)n);
        k8c_bytebuf_append(out, w, 4);
        for (size_t i = 0; i < n; i++) {
                put32(w, entries[i][0] & 0xffffffu); /* flags 0, 24-bit id */
                put32(w + 4, entries[i][1]);
                k8c_bytebuf_append(out, w, 8);
        }
        control_len(out, at);
}

const char *k8c_spdy_header_get(const struct k8c_spdy_frame *f, const char *name)
{
        for (size_t i = 0; i < f->nheaders; i++)
                if (strcmp(f->headers[i].name, name) == 0)
                        return f->headers[i].value;
        return NULL;
}

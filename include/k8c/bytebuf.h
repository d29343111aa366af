/*
 * bytebuf.h - a growable byte buffer with a read offset, shared by the
 * stream codecs (websocket.c, spdy.c) and the relays built on them: append at
 * the end, consume from the front. Header-only; aborts on out-of-memory like
 * the k8c_x* allocators.
 */
#ifndef K8C_BYTEBUF_H
#define K8C_BYTEBUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct k8c_bytebuf {
        uint8_t *data;
        size_t off, len, cap; /* unread bytes are data[off, len) */
};

static inline size_t k8c_bytebuf_size(const struct k8c_bytebuf *b)
{
        return b->len - b->off;
}

static inline const uint8_t *k8c_bytebuf_head(const struct k8c_bytebuf *b)
{
        return b->data != NULL ? b->data + b->off : NULL;
}

static inline void k8c_bytebuf_reserve(struct k8c_bytebuf *b, size_t more)
{
        if (b->off > 0 && (b->off == b->len || b->off > b->cap / 2)) {
                memmove(b->data, b->data + b->off, b->len - b->off);
                b->len -= b->off;
                b->off = 0;
        }
        if (b->len + more <= b->cap)
                return;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + more)
                cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (p == NULL)
                abort();
        b->data = p;
        b->cap = cap;
}

static inline void k8c_bytebuf_append(struct k8c_bytebuf *b, const void *data, size_t n)
{
        if (n == 0)
                return;
        k8c_bytebuf_reserve(b, n);
        memcpy(b->data + b->len, data, n);
        b->len += n;
}

static inline void k8c_bytebuf_consume(struct k8c_bytebuf *b, size_t n)
{
        b->off += n < k8c_bytebuf_size(b) ? n : k8c_bytebuf_size(b);
        if (b->off == b->len)
                b->off = b->len = 0;
}

static inline void k8c_bytebuf_free(struct k8c_bytebuf *b)
{
        free(b->data);
        memset(b, 0, sizeof(*b));
}

#endif

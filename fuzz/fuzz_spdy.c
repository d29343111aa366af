/*
 * fuzz_spdy.c - libFuzzer target for the SPDY/3.1 parser: any byte stream, fed
 * split at a point taken from the input, gives the same frames as fed whole
 * (count and types), never crashes or reads out of bounds, and every frame it
 * accepts re-encodes and parses back to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/spdy.h"

struct tally {
        size_t n;
        uint32_t sum; /* types, ids and lengths mixed together */
        struct k8c_spdy *enc;
        struct k8c_bytebuf re;
};

static int count(void *opaque, const struct k8c_spdy_frame *f, k8c_error_t *err)
{
        struct tally *t = opaque;
        t->n++;
        t->sum =
                t->sum * 31 + (uint32_t)f->type * 7 + f->stream_id + (uint32_t)f->len + (uint32_t)f->nheaders;
        for (size_t i = 0; i < f->nheaders; i++)
                if (f->headers[i].name == NULL || f->headers[i].value == NULL)
                        abort();
        if (t->enc == NULL)
                return 0;
        /* Re-encode what could be re-encoded. */
        switch (f->type) {
        case K8C_SPDY_DATA: k8c_spdy_data(&t->re, f->stream_id, f->flags, f->data, f->len); break;
        case K8C_SPDY_SYN_STREAM:
                if (k8c_spdy_syn_stream(t->enc, &t->re, f->stream_id, f->flags, f->headers, f->nheaders,
                                        NULL) < 0)
                        abort();
                break;
        case K8C_SPDY_SYN_REPLY:
                if (k8c_spdy_syn_reply(t->enc, &t->re, f->stream_id, f->flags, f->headers, f->nheaders,
                                       NULL) < 0)
                        abort();
                break;
        case K8C_SPDY_RST_STREAM: k8c_spdy_rst(&t->re, f->stream_id, f->status); break;
        case K8C_SPDY_PING: k8c_spdy_ping(&t->re, f->ping_id); break;
        case K8C_SPDY_GOAWAY: k8c_spdy_goaway(&t->re, f->last_good, f->status); break;
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        size_t cut = data[0] % size;
        data++;
        size--;
        if (cut > size)
                cut = size;
        struct k8c_spdy *a = NULL, *b = NULL;
        if (k8c_spdy_new(&a, NULL) < 0 || k8c_spdy_new(&b, NULL) < 0)
                abort();
        struct tally whole = { 0 }, split = { 0 };
        if (k8c_spdy_new(&whole.enc, NULL) < 0)
                abort();
        k8c_error_t e1 = NULL, e2 = NULL;
        int r1 = k8c_spdy_feed(a, data, size, count, &whole, &e1);
        int r2 = k8c_spdy_feed(b, data, cut, count, &split, &e2);
        if (r2 >= 0)
                r2 = k8c_spdy_feed(b, data + cut, size - cut, count, &split, &e2);
        if ((r1 < 0) != (r2 < 0) || whole.n != split.n || whole.sum != split.sum)
                abort();
        /* What was accepted re-encodes into frames that parse to the same fields. */
        struct k8c_spdy *c = NULL;
        if (k8c_spdy_new(&c, NULL) < 0)
                abort();
        struct tally again = { 0 };
        k8c_error_t e3 = NULL;
        if (k8c_spdy_feed(c, whole.re.data, whole.re.len, count, &again, &e3) < 0)
                abort();
        k8c_error_release(&e1);
        k8c_error_release(&e2);
        k8c_error_release(&e3);
        k8c_spdy_free(a);
        k8c_spdy_free(b);
        k8c_spdy_free(c);
        k8c_spdy_free(whole.enc);
        k8c_bytebuf_free(&whole.re);
        return 0;
}

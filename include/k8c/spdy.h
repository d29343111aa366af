/*
 * spdy.h - SPDY/3.1 framing for port-forward (and anything else that speaks
 * Kubernetes' SPDY streams): an incremental parser that accepts the byte
 * stream split anywhere and hands out whole frames, and encoders that append
 * frames to a buffer. Header blocks are zlib-compressed with the SPDY/3
 * dictionary, one compression context per direction per session.
 *
 * Must not: do I/O or log. Flow control (WINDOW_UPDATE) is parsed but not
 * enforced: Kubernetes' peers do not need it for port-forward.
 */
#ifndef K8C_SPDY_H
#define K8C_SPDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k8c/bytebuf.h"
#include "k8c/error.h"

enum {
        K8C_SPDY_DATA = 0, /* not a control type: a data frame */
        K8C_SPDY_SYN_STREAM = 1,
        K8C_SPDY_SYN_REPLY = 2,
        K8C_SPDY_RST_STREAM = 3,
        K8C_SPDY_SETTINGS = 4,
        K8C_SPDY_PING = 6,
        K8C_SPDY_GOAWAY = 7,
        K8C_SPDY_HEADERS = 8,
        K8C_SPDY_WINDOW_UPDATE = 9,
};

#define K8C_SPDY_FLAG_FIN 0x01
#define K8C_SPDY_FLAG_UNIDIRECTIONAL 0x02

/* RST_STREAM status codes */
#define K8C_SPDY_PROTOCOL_ERROR 1
#define K8C_SPDY_INVALID_STREAM 2
#define K8C_SPDY_REFUSED_STREAM 3
#define K8C_SPDY_CANCEL 5
#define K8C_SPDY_INTERNAL_ERROR 6

/* Frames larger than this are refused (the 24-bit length allows 16 MiB). */
#define K8C_SPDY_MAX_FRAME (1u << 20)

struct k8c_spdy_header {
        char *name; /* lower case */
        char *value;
};

struct k8c_spdy_frame {
        int type; /* K8C_SPDY_DATA or a control type */
        uint8_t flags;
        uint32_t stream_id;  /* data, syn_stream, syn_reply, rst, headers, window_update */
        uint32_t assoc_id;   /* syn_stream */
        uint8_t priority;    /* syn_stream */
        uint32_t status;     /* rst_stream, goaway */
        uint32_t ping_id;    /* ping */
        uint32_t last_good;  /* goaway */
        uint32_t delta;      /* window_update */
        const uint8_t *data; /* data frame payload (borrowed for the callback) */
        size_t len;
        struct k8c_spdy_header *headers; /* syn_stream, syn_reply, headers (borrowed) */
        size_t nheaders;
};

/* Returns negative to stop parsing (the error is passed back from k8c_spdy_feed). */
typedef int (*k8c_spdy_frame_fn)(void *opaque, const struct k8c_spdy_frame *f, k8c_error_t *err);

struct k8c_spdy;
int k8c_spdy_new(struct k8c_spdy **ret, k8c_error_t *err);
void k8c_spdy_free(struct k8c_spdy *s);
/* Buffers data and calls fn for each complete frame. Negative on a malformed stream (bad version,
 * oversized frame, corrupt header block): the session cannot continue. Unknown control types are
 * skipped, as SPDY requires. */
int k8c_spdy_feed(struct k8c_spdy *s, const void *data, size_t len, k8c_spdy_frame_fn fn, void *opaque,
                  k8c_error_t *err);

/* Encoders: append one frame to out. Header names should be lower case. */
int k8c_spdy_syn_stream(struct k8c_spdy *s, struct k8c_bytebuf *out, uint32_t id, uint8_t flags,
                        const struct k8c_spdy_header *h, size_t n, k8c_error_t *err);
int k8c_spdy_syn_reply(struct k8c_spdy *s, struct k8c_bytebuf *out, uint32_t id, uint8_t flags,
                       const struct k8c_spdy_header *h, size_t n, k8c_error_t *err);
void k8c_spdy_data(struct k8c_bytebuf *out, uint32_t id, uint8_t flags, const void *data, size_t len);
void k8c_spdy_rst(struct k8c_bytebuf *out, uint32_t id, uint32_t status);
void k8c_spdy_ping(struct k8c_bytebuf *out, uint32_t ping_id);
void k8c_spdy_goaway(struct k8c_bytebuf *out, uint32_t last_good, uint32_t status);
void k8c_spdy_settings(struct k8c_bytebuf *out, const uint32_t (*entries)[2], size_t n);
void k8c_spdy_window_update(struct k8c_bytebuf *out, uint32_t id, uint32_t delta);

/* The value of a header in a parsed frame; NULL if absent. */
const char *k8c_spdy_header_get(const struct k8c_spdy_frame *f, const char *name);

#endif

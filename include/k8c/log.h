/*
 * log.h - key=value logging for daemons.
 *
 * Lines look like: ts=2026-11-24T15:00:00.123Z level=info msg="starting" port=6443
 * The level is checked before any argument is evaluated (the macros expand to an
 * if). Libraries log only at debug levels (V>=4); daemons log each error once.
 */
#ifndef K8C_LOG_H
#define K8C_LOG_H

#include <stdio.h>

typedef enum {
        K8C_LOG_ERROR = 0,
        K8C_LOG_WARN = 1,
        K8C_LOG_INFO = 2,
        K8C_LOG_DEBUG = 3,
} k8c_log_level_t;

/* Verbosity as in klog's --v=N: info is always on, V(n) lines need v >= n. */
extern int k8c_log_v;
extern int k8c_log_min_level; /* lines above this level are dropped (default INFO) */

void k8c_log_set_output(FILE *f);
void k8c_log_set_component(const char *name);

/* msg is a short constant; kvfmt is printf-style "key=%s key2=%d" (may be NULL). */
void k8c_log_emit(k8c_log_level_t level, const char *msg, const char *kvfmt, ...)
        __attribute__((format(printf, 3, 4)));

#define k8c_log(level, msg, ...)                                                                             \
        do {                                                                                                 \
                if ((int)(level) <= k8c_log_min_level)                                                       \
                        k8c_log_emit((level), (msg), __VA_ARGS__);                                           \
        } while (0)

#define k8c_log_error(msg, ...) k8c_log(K8C_LOG_ERROR, msg, __VA_ARGS__)
#define k8c_log_warn(msg, ...) k8c_log(K8C_LOG_WARN, msg, __VA_ARGS__)
#define k8c_log_info(msg, ...) k8c_log(K8C_LOG_INFO, msg, __VA_ARGS__)
/* V-levelled info, like klog.V(n).Info. */
#define k8c_logv(n, msg, ...)                                                                                \
        do {                                                                                                 \
                if (k8c_log_v >= (n))                                                                        \
                        k8c_log_emit(K8C_LOG_DEBUG, (msg), __VA_ARGS__);                                     \
        } while (0)

/* Formats a value for a key=value line: quotes it when it holds spaces, quotes or '='. */
const char *k8c_log_quote(char *buf, size_t bufsz, const char *value);

#endif

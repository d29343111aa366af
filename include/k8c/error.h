/*
 * error.h - the one error convention of k8c.
 *
 * Fallible functions return int (0 or positive = ok, negative = error) and take
 * `k8c_error_t *err` as their last parameter. On failure they fill *err with a
 * reason (which maps onto a Kubernetes Status reason and HTTP code) and a
 * message, and return the negative reason. Callers add context with
 * k8c_error_wrap() as the error rises; the caller that handles it releases it.
 */
#ifndef K8C_ERROR_H
#define K8C_ERROR_H

#include <stdarg.h>

typedef enum {
        K8C_OK = 0,
        K8C_EINTERNAL = 1,         /* InternalError 500 */
        K8C_EBADREQUEST,           /* BadRequest 400 */
        K8C_EUNAUTHORIZED,         /* Unauthorized 401 */
        K8C_EFORBIDDEN,            /* Forbidden 403 */
        K8C_ENOTFOUND,             /* NotFound 404 */
        K8C_EMETHODNOTALLOWED,     /* MethodNotAllowed 405 */
        K8C_ENOTACCEPTABLE,        /* NotAcceptable 406 */
        K8C_EALREADYEXISTS,        /* AlreadyExists 409 */
        K8C_ECONFLICT,             /* Conflict 409 */
        K8C_EGONE,                 /* Gone 410 */
        K8C_EEXPIRED,              /* Expired 410 (compacted revision) */
        K8C_ETOOLARGE,             /* RequestEntityTooLarge 413 */
        K8C_EUNSUPPORTEDMEDIATYPE, /* UnsupportedMediaType 415 */
        K8C_EINVALID,              /* Invalid 422 */
        K8C_ETOOMANYREQUESTS,      /* TooManyRequests 429 */
        K8C_EUNAVAILABLE,          /* ServiceUnavailable 503 */
        K8C_ETIMEOUT,              /* Timeout 504 */
        K8C_ETOOLARGERV,           /* TooLargeResourceVersion (Timeout 504 in k8s) */
        K8C_EUSAGE,                /* command-line usage error (exit 2) */
        K8C_REASON_MAX
} k8c_reason_t;

struct k8c_error_s {
        k8c_reason_t reason;
        int sys_errno; /* errno when the error came from the system, else 0 */
        char *msg;
};
typedef struct k8c_error_s *k8c_error_t;

/* Fills *err (if err is non-NULL) and returns -(int)reason. An existing error in
 * *err is released first. */
int k8c_make_error(k8c_error_t *err, k8c_reason_t reason, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int k8c_make_verror(k8c_error_t *err, k8c_reason_t reason, const char *fmt, va_list ap);

/* Like k8c_make_error with reason K8C_EINTERNAL, appending ": strerror(errnum)". */
int k8c_make_errno(k8c_error_t *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the message of *err with "context: " and returns -(int)reason. */
int k8c_error_wrap(k8c_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void k8c_error_release(k8c_error_t *err);

/* The reason of a negative return code, or of an error object. */
k8c_reason_t k8c_error_reason(const k8c_error_t *err);
const char *k8c_error_msg(const k8c_error_t *err);

/* Kubernetes Status mapping. */
const char *k8c_reason_string(k8c_reason_t reason); /* "NotFound", "Invalid", ... */
int k8c_reason_http_code(k8c_reason_t reason);      /* 404, 422, ... */
k8c_reason_t k8c_reason_from_http(int code, const char *reason_string);

#endif

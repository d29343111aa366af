/*
 * error.c - k8c_error_t: make, wrap, release, and the mapping of reasons onto
 * Kubernetes Status reasons and HTTP codes. Logs nothing.
 */
#include "k8c/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"

static const struct {
        const char *name;
        int code;
} reasons[K8C_REASON_MAX] = {
        [K8C_OK] = { "", 200 },
        [K8C_EINTERNAL] = { "InternalError", 500 },
        [K8C_EBADREQUEST] = { "BadRequest", 400 },
        [K8C_EUNAUTHORIZED] = { "Unauthorized", 401 },
        [K8C_EFORBIDDEN] = { "Forbidden", 403 },
        [K8C_ENOTFOUND] = { "NotFound", 404 },
        [K8C_EMETHODNOTALLOWED] = { "MethodNotAllowed", 405 },
        [K8C_ENOTACCEPTABLE] = { "NotAcceptable", 406 },
        [K8C_EALREADYEXISTS] = { "AlreadyExists", 409 },
        [K8C_ECONFLICT] = { "Conflict", 409 },
        [K8C_EGONE] = { "Gone", 410 },
        [K8C_EEXPIRED] = { "Expired", 410 },
        [K8C_ETOOLARGE] = { "RequestEntityTooLarge", 413 },
        [K8C_EUNSUPPORTEDMEDIATYPE] = { "UnsupportedMediaType", 415 },
        [K8C_EINVALID] = { "Invalid", 422 },
        [K8C_ETOOMANYREQUESTS] = { "TooManyRequests", 429 },
        [K8C_EUNAVAILABLE] = { "ServiceUnavailable", 503 },
        [K8C_ETIMEOUT] = { "Timeout", 504 },
        [K8C_ETOOLARGERV] = { "Timeout", 504 },
        [K8C_EUSAGE] = { "BadRequest", 400 },
};

static k8c_reason_t clamp(k8c_reason_t r)
{
        if ((int)r <= 0 || r >= K8C_REASON_MAX)
                return K8C_EINTERNAL;
        return r;
}

int k8c_make_verror(k8c_error_t *err, k8c_reason_t reason, const char *fmt, va_list ap)
{
        reason = clamp(reason);
        if (err == NULL)
                return -(int)reason;
        k8c_error_release(err);
        struct k8c_error_s *e = k8c_xcalloc(1, sizeof(*e));
        e->reason = reason;
        if (vasprintf(&e->msg, fmt, ap) < 0)
                abort();
        *err = e;
        return -(int)reason;
}

int k8c_make_error(k8c_error_t *err, k8c_reason_t reason, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = k8c_make_verror(err, reason, fmt, ap);
        va_end(ap);
        return r;
}

int k8c_make_errno(k8c_error_t *err, int errnum, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = k8c_make_verror(err, K8C_EINTERNAL, fmt, ap);
        va_end(ap);
        if (err != NULL && *err != NULL) {
                char *m = k8c_xasprintf("%s: %s", (*err)->msg, strerror(errnum));
                free((*err)->msg);
                (*err)->msg = m;
                (*err)->sys_errno = errnum;
        }
        return r;
}

int k8c_error_wrap(k8c_error_t *err, const char *fmt, ...)
{
        if (err == NULL || *err == NULL)
                return -(int)K8C_EINTERNAL;
        va_list ap;
        va_start(ap, fmt);
        cleanup_free char *ctx = NULL;
        if (vasprintf(&ctx, fmt, ap) < 0)
                abort();
        va_end(ap);
        char *m = k8c_xasprintf("%s: %s", ctx, (*err)->msg);
        free((*err)->msg);
        (*err)->msg = m;
        return -(int)(*err)->reason;
}

void k8c_error_release(k8c_error_t *err)
{
        if (err == NULL || *err == NULL)
                return;
        free((*err)->msg);
        free(*err);
        *err = NULL;
}

k8c_reason_t k8c_error_reason(const k8c_error_t *err)
{
        if (err == NULL || *err == NULL)
                return K8C_OK;
        return (*err)->reason;
}

const char *k8c_error_msg(const k8c_error_t *err)
{
        if (err == NULL || *err == NULL)
                return "";
        return (*err)->msg;
}

const char *k8c_reason_string(k8c_reason_t reason)
{
        if ((int)reason < 0 || reason >= K8C_REASON_MAX)
                return reasons[K8C_EINTERNAL].name;
        return reasons[reason].name;
}

int k8c_reason_http_code(k8c_reason_t reason)
{
        if ((int)reason < 0 || reason >= K8C_REASON_MAX)
                return 500;
        return reasons[reason].code;
}

k8c_reason_t k8c_reason_from_http(int code, const char *reason_string)
{
        if (reason_string != NULL && *reason_string != '\0') {
                for (int r = 1; r < K8C_REASON_MAX; r++)
                        if (r != K8C_EUSAGE && r != K8C_ETOOLARGERV &&
                            strcmp(reasons[r].name, reason_string) == 0)
                                return (k8c_reason_t)r;
        }
        switch (code) {
        case 400: return K8C_EBADREQUEST;
        case 401: return K8C_EUNAUTHORIZED;
        case 403: return K8C_EFORBIDDEN;
        case 404: return K8C_ENOTFOUND;
        case 405: return K8C_EMETHODNOTALLOWED;
        case 406: return K8C_ENOTACCEPTABLE;
        case 409: return K8C_ECONFLICT;
        case 410: return K8C_EGONE;
        case 413: return K8C_ETOOLARGE;
        case 415: return K8C_EUNSUPPORTEDMEDIATYPE;
        case 422: return K8C_EINVALID;
        case 429: return K8C_ETOOMANYREQUESTS;
        case 503: return K8C_EUNAVAILABLE;
        case 504: return K8C_ETIMEOUT;
        default: return K8C_EINTERNAL;
        }
}

/* Unit tests for error.c and cleanup.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/error.h"

static int fails_notfound(k8c_error_t *err)
{
        return k8c_make_error(err, K8C_ENOTFOUND, "pods \"%s\" not found", "web");
}

static void test_make_and_wrap(void **state)
{
        cleanup_error k8c_error_t err = NULL;
        int r = fails_notfound(&err);
        assert_int_equal(r, -(int)K8C_ENOTFOUND);
        assert_int_equal(k8c_error_reason(&err), K8C_ENOTFOUND);
        assert_string_equal(k8c_error_msg(&err), "pods \"web\" not found");
        r = k8c_error_wrap(&err, "get %s/%s", "default", "web");
        assert_int_equal(r, -(int)K8C_ENOTFOUND);
        assert_string_equal(k8c_error_msg(&err), "get default/web: pods \"web\" not found");
}

static void test_replace_and_release(void **state)
{
        k8c_error_t err = NULL;
        k8c_make_error(&err, K8C_ECONFLICT, "first");
        k8c_make_error(&err, K8C_EINVALID, "second"); /* replaces, no leak */
        assert_int_equal(k8c_error_reason(&err), K8C_EINVALID);
        assert_string_equal(k8c_error_msg(&err), "second");
        k8c_error_release(&err);
        assert_null(err);
        k8c_error_release(&err); /* twice is fine */
        assert_int_equal(k8c_error_reason(&err), K8C_OK);
        assert_string_equal(k8c_error_msg(&err), "");
        /* NULL err pointer: only the return code. */
        assert_int_equal(k8c_make_error(NULL, K8C_EGONE, "x"), -(int)K8C_EGONE);
}

static void test_errno(void **state)
{
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_make_errno(&err, ENOENT, "open %s", "/nonexistent");
        assert_int_equal(r, -(int)K8C_EINTERNAL);
        assert_string_equal(k8c_error_msg(&err), "open /nonexistent: No such file or directory");
        assert_int_equal(err->sys_errno, ENOENT);
}

static void test_reason_mapping(void **state)
{
        static const struct {
                k8c_reason_t r;
                const char *name;
                int code;
        } cases[] = {
                { K8C_EBADREQUEST, "BadRequest", 400 },
                { K8C_EUNAUTHORIZED, "Unauthorized", 401 },
                { K8C_EFORBIDDEN, "Forbidden", 403 },
                { K8C_ENOTFOUND, "NotFound", 404 },
                { K8C_EMETHODNOTALLOWED, "MethodNotAllowed", 405 },
                { K8C_ENOTACCEPTABLE, "NotAcceptable", 406 },
                { K8C_EALREADYEXISTS, "AlreadyExists", 409 },
                { K8C_ECONFLICT, "Conflict", 409 },
                { K8C_EGONE, "Gone", 410 },
                { K8C_EEXPIRED, "Expired", 410 },
                { K8C_ETOOLARGE, "RequestEntityTooLarge", 413 },
                { K8C_EUNSUPPORTEDMEDIATYPE, "UnsupportedMediaType", 415 },
                { K8C_EINVALID, "Invalid", 422 },
                { K8C_ETOOMANYREQUESTS, "TooManyRequests", 429 },
                { K8C_EINTERNAL, "InternalError", 500 },
                { K8C_EUNAVAILABLE, "ServiceUnavailable", 503 },
                { K8C_ETIMEOUT, "Timeout", 504 },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                assert_string_equal(k8c_reason_string(cases[i].r), cases[i].name);
                assert_int_equal(k8c_reason_http_code(cases[i].r), cases[i].code);
                assert_int_equal(k8c_reason_from_http(cases[i].code, cases[i].name), cases[i].r);
        }
        assert_int_equal(k8c_reason_from_http(404, NULL), K8C_ENOTFOUND);
        assert_int_equal(k8c_reason_from_http(599, "Bogus"), K8C_EINTERNAL);
        assert_string_equal(k8c_reason_string((k8c_reason_t)999), "InternalError");
}

static void test_cleanup_and_steal(void **state)
{
        char *kept;
        {
                cleanup_free char *s = k8c_xstrdup("hello");
                kept = k8c_steal(&s);
                assert_null(s);
        }
        assert_string_equal(kept, "hello");
        free(kept);
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        int w = fds[1], rd = fds[0];
        {
                cleanup_close int r = fds[0];
                cleanup_close int wfd = fds[1];
                int taken = k8c_steal_fd(&wfd);
                assert_int_equal(taken, w);
                assert_int_equal(wfd, -1);
        }
        /* the read end was closed by the attribute, the stolen write end was not */
        assert_int_equal(fcntl(rd, F_GETFD), -1);
        assert_int_equal(errno, EBADF);
        assert_true(fcntl(w, F_GETFD) >= 0);
        close(w);
        char *a = k8c_xasprintf("%d-%s", 7, "x");
        assert_string_equal(a, "7-x");
        free(a);
        cleanup_strv char **v = k8c_xcalloc(3, sizeof(char *));
        v[0] = k8c_xstrdup("a");
        v[1] = k8c_xstrdup("b");
        assert_int_equal(k8c_strv_len(v), 2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_make_and_wrap),
                cmocka_unit_test(test_replace_and_release),
                cmocka_unit_test(test_errno),
                cmocka_unit_test(test_reason_mapping),
                cmocka_unit_test(test_cleanup_and_steal),
        };
        return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}

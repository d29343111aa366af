/*
 * cleanup.c - destructors behind the cleanup attributes, and allocation
 * helpers that abort on out-of-memory.
 */
#include "k8c/cleanup.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void k8c_cleanup_freep(void *p)
{
        free(*(void **)p);
}

void k8c_cleanup_closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

void k8c_cleanup_fclosep(FILE **f)
{
        if (*f != NULL)
                fclose(*f);
}

void k8c_cleanup_errorp(k8c_error_t *e)
{
        k8c_error_release(e);
}

void k8c_cleanup_pidp(pid_t *pid)
{
        if (*pid > 0) {
                int saved = errno;
                kill(*pid, SIGKILL);
                while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                errno = saved;
        }
}

void k8c_strv_free(char **strv)
{
        if (strv == NULL)
                return;
        for (char **s = strv; *s != NULL; s++)
                free(*s);
        free(strv);
}

void k8c_cleanup_strvp(char ***strv)
{
        k8c_strv_free(*strv);
}

size_t k8c_strv_len(char *const *strv)
{
        size_t n = 0;
        while (strv != NULL && strv[n] != NULL)
                n++;
        return n;
}

void *k8c_xmalloc(size_t n)
{
        void *p = malloc(n == 0 ? 1 : n);
        if (p == NULL)
                abort();
        return p;
}

void *k8c_xcalloc(size_t n, size_t sz)
{
        void *p = calloc(n == 0 ? 1 : n, sz == 0 ? 1 : sz);
        if (p == NULL)
                abort();
        return p;
}

void *k8c_xrealloc(void *p, size_t n)
{
        void *q = realloc(p, n == 0 ? 1 : n);
        if (q == NULL)
                abort();
        return q;
}

char *k8c_xstrdup(const char *s)
{
        char *p = strdup(s);
        if (p == NULL)
                abort();
        return p;
}

char *k8c_xstrndup(const char *s, size_t n)
{
        char *p = strndup(s, n);
        if (p == NULL)
                abort();
        return p;
}

char *k8c_xasprintf(const char *fmt, ...)
{
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        return s;
}

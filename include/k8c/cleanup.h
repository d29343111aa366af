/*
 * cleanup.h - cleanup attributes for owned resources and the steal macro.
 *
 * Every owned pointer, fd or pid is declared with one of these and initialised;
 * ownership leaves a scope only through k8c_steal(). Destructors accept NULL/-1.
 */
#ifndef K8C_CLEANUP_H
#define K8C_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "k8c/error.h"

void k8c_cleanup_freep(void *p);
void k8c_cleanup_closep(int *fd);
void k8c_cleanup_fclosep(FILE **f);
void k8c_cleanup_errorp(k8c_error_t *e);
/* Kills (SIGKILL) and reaps a child still held in *pid (> 0). */
void k8c_cleanup_pidp(pid_t *pid);
void k8c_cleanup_strvp(char ***strv);

#define cleanup_free __attribute__((cleanup(k8c_cleanup_freep)))
#define cleanup_close __attribute__((cleanup(k8c_cleanup_closep)))
#define cleanup_fclose __attribute__((cleanup(k8c_cleanup_fclosep)))
#define cleanup_error __attribute__((cleanup(k8c_cleanup_errorp)))
#define cleanup_pid __attribute__((cleanup(k8c_cleanup_pidp)))
#define cleanup_strv __attribute__((cleanup(k8c_cleanup_strvp)))

/* Takes the value out of *pp, leaving NULL behind (pointers). */
#define k8c_steal(pp)                                                                                        \
        ({                                                                                                   \
                __typeof__(*(pp)) _k8c_tmp = *(pp);                                                          \
                *(pp) = NULL;                                                                                \
                _k8c_tmp;                                                                                    \
        })

/* Takes an fd or pid out of *p, leaving -1 behind. */
#define k8c_steal_fd(p)                                                                                      \
        ({                                                                                                   \
                int _k8c_tmp = *(p);                                                                         \
                *(p) = -1;                                                                                   \
                _k8c_tmp;                                                                                    \
        })

#define K8C_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation that aborts on OOM: out-of-memory is not a recoverable condition here. */
void *k8c_xmalloc(size_t n);
void *k8c_xcalloc(size_t n, size_t sz);
void *k8c_xrealloc(void *p, size_t n);
char *k8c_xstrdup(const char *s);
char *k8c_xstrndup(const char *s, size_t n);
char *k8c_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void k8c_strv_free(char **strv);
size_t k8c_strv_len(char *const *strv);

#endif

/*
 * fs.c - small filesystem helpers (include/k8c/fs.h).
 */
#include "k8c/fs.h"

#include <errno.h>
#include <sys/stat.h>

#include "k8c/cleanup.h"

int k8c_mkdir_p(const char *dir, mode_t mode, k8c_error_t *err)
{
        cleanup_free char *p = k8c_xstrdup(dir);
        for (char *s = p + 1; *s != '\0'; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return k8c_make_errno(err, errno, "mkdir %s", p);
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return k8c_make_errno(err, errno, "mkdir %s", p);
        return 0;
}

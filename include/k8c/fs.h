/*
 * fs.h - small filesystem helpers shared by the daemons.
 */
#ifndef K8C_FS_H
#define K8C_FS_H

#include <sys/types.h>

#include "k8c/error.h"

/* mkdir -p: missing parents are made 0755, dir itself with mode; existing ones are fine. */
int k8c_mkdir_p(const char *dir, mode_t mode, k8c_error_t *err);

#endif

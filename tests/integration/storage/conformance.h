/*
 * conformance.h - the storage conformance suite, run against every backend.
 *
 * The cases (conformance.c) only see a struct k8c_store; a backend plugs in by
 * defining a struct conformance_backend in its own file of this directory and
 * registering it with CONFORMANCE_BACKEND(var). main.c runs every registered
 * backend as one cmocka group named after it. Cases must not assume revisions
 * start at 1 (etcd shares one revision counter): they work relative to
 * k8c_store_current_revision() taken at their start.
 */
#ifndef K8C_TEST_STORAGE_CONFORMANCE_H
#define K8C_TEST_STORAGE_CONFORMANCE_H

#include "k8c/store.h"

struct conformance_backend {
        const char *name; /* cmocka group name, e.g. "storage-sqlite" */
        /* Once per group (e.g. start a server); both may be NULL. 0 = ok. */
        int (*group_setup)(void **ret_group_ctx);
        void (*group_teardown)(void *group_ctx);
        /* A fresh store with no keys, isolated from every other case's store.
         * Returns NULL on failure (after printing why). */
        struct k8c_store *(*open)(void *group_ctx, void **ret_test_ctx);
        /* Closes the store and removes whatever open made. */
        void (*close)(void *group_ctx, void *test_ctx, struct k8c_store *store);
};

void conformance_register(const struct conformance_backend *b);

#define CONFORMANCE_BACKEND(var)                                                                             \
        static void __attribute__((constructor)) conformance_register_##var(void)                            \
        {                                                                                                    \
                conformance_register(&(var));                                                                \
        }

/* Runs the suite once per registered backend; returns the number of failed cases. */
int conformance_run_all(void);

/* Removes a directory tree (test clean-up); ignores a missing path. */
void conformance_rm_rf(const char *path);

#endif

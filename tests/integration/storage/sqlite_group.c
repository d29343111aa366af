/*
 * sqlite_group.c - runs the conformance suite against the SQLite backend: each
 * case gets a fresh database in its own temporary directory, removed afterwards.
 * The ring is kept small so cases also cross the ring → log-table fallback.
 */
#include <stdio.h>
#include <stdlib.h>

#include "conformance.h"
#include "k8c/cleanup.h"

static struct k8c_store *sqlite_open(void *group_ctx, void **ret_test_ctx)
{
        char tmpl[] = "/tmp/k8c-storage-conformance-XXXXXX";
        if (mkdtemp(tmpl) == NULL) {
                perror("mkdtemp");
                return NULL;
        }
        cleanup_free char *dir = k8c_xasprintf("%s/data", tmpl);
        struct k8c_store_config cfg = { .backend = "sqlite", .data_dir = dir, .sqlite_ring_size = 64 };
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store *s = NULL;
        if (k8c_store_open(&cfg, &s, &err) < 0) {
                fprintf(stderr, "open sqlite store in %s: %s\n", dir, k8c_error_msg(&err));
                conformance_rm_rf(tmpl);
                return NULL;
        }
        *ret_test_ctx = k8c_xstrdup(tmpl);
        return s;
}

static void sqlite_close(void *group_ctx, void *test_ctx, struct k8c_store *s)
{
        k8c_store_close(s);
        conformance_rm_rf(test_ctx);
        free(test_ctx);
}

static const struct conformance_backend sqlite_backend = {
        .name = "storage-sqlite",
        .open = sqlite_open,
        .close = sqlite_close,
};
CONFORMANCE_BACKEND(sqlite_backend)

/*
 * etcd_group.c - runs the conformance suite against the etcd backend: the
 * group starts one private etcd on loopback (tests/common/etcd_harness.c);
 * each case gets its own key prefix in it, so cases never see each other's keys
 * (they share etcd's revision counter, which the suite allows for).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../common/etcd_harness.h"
#include "conformance.h"
#include "k8c/cleanup.h"

static int etcd_group_setup(void **ret_group_ctx)
{
        struct etcd_harness *h = NULL;
        if (etcd_harness_start(&h) < 0)
                return -1;
        *ret_group_ctx = h;
        return 0;
}

static void etcd_group_teardown(void *group_ctx)
{
        etcd_harness_stop(group_ctx);
}

static struct k8c_store *etcd_open(void *group_ctx, void **ret_test_ctx)
{
        static int n;
        struct etcd_harness *h = group_ctx;
        cleanup_free char *prefix = k8c_xasprintf("/k8c-conformance-%d-%d", (int)getpid(), ++n);
        struct k8c_store_config cfg = { .backend = "etcd", .etcd_servers = h->url, .etcd_prefix = prefix };
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store *s = NULL;
        if (k8c_store_open(&cfg, &s, &err) < 0) {
                fprintf(stderr, "open etcd store at %s: %s\n", h->url, k8c_error_msg(&err));
                return NULL;
        }
        *ret_test_ctx = NULL;
        return s;
}

/* The keys stay in the private etcd, which the group teardown removes with its data dir. */
static void etcd_close(void *group_ctx, void *test_ctx, struct k8c_store *s)
{
        k8c_store_close(s);
}

static const struct conformance_backend etcd_backend = {
        .name = "storage-etcd",
        .group_setup = etcd_group_setup,
        .group_teardown = etcd_group_teardown,
        .open = etcd_open,
        .close = etcd_close,
};
CONFORMANCE_BACKEND(etcd_backend)

/*
 * nodeipam.c - node IPAM (Kubernetes' range allocator): each node without
 * spec.podCIDR gets the first free /24 (node mask) of --cluster-cidr, written
 * once with spec.podCIDR and spec.podCIDRs. A subnet is never handed to two
 * nodes: the bitmap holds every podCIDR seen on any node (filled from the
 * informer before workers start) plus those being written; a node's deletion
 * frees its subnet. IPv4 only. Does not log.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/internal.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"

struct k8c_cidr_allocator {
        uint32_t base; /* network address, host order */
        int prefix, node_prefix;
        size_t n; /* subnets */
        uint8_t *used;
        pthread_mutex_t lock;
};

static int parse_cidr(const char *s, uint32_t *ret_addr, int *ret_prefix)
{
        char buf[64];
        const char *slash = strchr(s, '/');
        if (slash == NULL || (size_t)(slash - s) >= sizeof(buf))
                return -1;
        memcpy(buf, s, (size_t)(slash - s));
        buf[slash - s] = '\0';
        struct in_addr a;
        if (inet_pton(AF_INET, buf, &a) != 1)
                return -1;
        char *end = NULL;
        long p = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || p < 0 || p > 32)
                return -1;
        *ret_addr = ntohl(a.s_addr);
        *ret_prefix = (int)p;
        return 0;
}

int k8c_cidr_allocator_new(const char *cluster_cidr, int node_prefix, struct k8c_cidr_allocator **ret,
                           k8c_error_t *err)
{
        uint32_t addr;
        int prefix;
        if (parse_cidr(cluster_cidr, &addr, &prefix) < 0)
                return k8c_make_error(err, K8C_EUSAGE, "invalid --cluster-cidr %s: want an IPv4 CIDR",
                                      cluster_cidr);
        if (node_prefix < prefix || node_prefix > 30 || node_prefix - prefix > 20)
                return k8c_make_error(err, K8C_EUSAGE, "node mask /%d does not fit in %s", node_prefix,
                                      cluster_cidr);
        struct k8c_cidr_allocator *a = k8c_xcalloc(1, sizeof(*a));
        a->prefix = prefix;
        a->node_prefix = node_prefix;
        a->base = prefix == 0 ? 0 : addr & ~((1u << (32 - prefix)) - 1);
        a->n = (size_t)1 << (node_prefix - prefix);
        a->used = k8c_xcalloc(a->n, 1);
        pthread_mutex_init(&a->lock, NULL);
        *ret = a;
        return 0;
}

void k8c_cidr_allocator_free(struct k8c_cidr_allocator *a)
{
        if (a == NULL)
                return;
        pthread_mutex_destroy(&a->lock);
        free(a->used);
        free(a);
}

/* Index of the subnet cidr names, or -1 when it is not one of ours. */
static long subnet_index(const struct k8c_cidr_allocator *a, const char *cidr)
{
        uint32_t addr;
        int prefix;
        if (cidr == NULL || parse_cidr(cidr, &addr, &prefix) < 0 || prefix != a->node_prefix)
                return -1;
        uint32_t off = addr - a->base;
        if (addr < a->base || (off >> (32 - a->node_prefix)) >= a->n)
                return -1;
        return (long)(off >> (32 - a->node_prefix));
}

static void subnet_string(const struct k8c_cidr_allocator *a, size_t i, char *buf, size_t n)
{
        uint32_t addr = a->base + ((uint32_t)i << (32 - a->node_prefix));
        struct in_addr in = { htonl(addr) };
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in, ip, sizeof(ip));
        snprintf(buf, n, "%s/%d", ip, a->node_prefix);
}

bool k8c_cidr_allocator_occupy(struct k8c_cidr_allocator *a, const char *cidr)
{
        long i = subnet_index(a, cidr);
        if (i < 0)
                return false;
        pthread_mutex_lock(&a->lock);
        a->used[i] = 1;
        pthread_mutex_unlock(&a->lock);
        return true;
}

void k8c_cidr_allocator_release(struct k8c_cidr_allocator *a, const char *cidr)
{
        long i = subnet_index(a, cidr);
        if (i < 0)
                return;
        pthread_mutex_lock(&a->lock);
        a->used[i] = 0;
        pthread_mutex_unlock(&a->lock);
}

int k8c_cidr_allocator_next(struct k8c_cidr_allocator *a, char *buf, size_t n, k8c_error_t *err)
{
        pthread_mutex_lock(&a->lock);
        for (size_t i = 0; i < a->n; i++) {
                if (!a->used[i]) {
                        a->used[i] = 1;
                        pthread_mutex_unlock(&a->lock);
                        subnet_string(a, i, buf, n);
                        return 0;
                }
        }
        pthread_mutex_unlock(&a->lock);
        return k8c_make_error(err, K8C_EINTERNAL, "no free node CIDR left in the cluster CIDR");
}

/* ---- the controller ---- */

struct k8c_nodeipam_controller {
        struct k8c_informer *nodes;
        struct k8c_object_control ctl;
        struct k8c_cidr_allocator *alloc;
        struct k8c_workqueue *queue;
};

static void on_node_add(void *o, json_t *node)
{
        struct k8c_nodeipam_controller *c = o;
        const char *cidr = k8c_json_get_string(node, "spec.podCIDR");
        if (cidr != NULL && cidr[0] != '\0') {
                k8c_cidr_allocator_occupy(c->alloc, cidr);
                return;
        }
        cleanup_free char *key = k8c_object_key(node);
        if (key != NULL)
                k8c_workqueue_add(c->queue, key);
}

static void on_node_update(void *o, json_t *old, json_t *node)
{
        on_node_add(o, node);
}

static void on_node_delete(void *o, json_t *node)
{
        struct k8c_nodeipam_controller *c = o;
        k8c_cidr_allocator_release(c->alloc, k8c_json_get_string(node, "spec.podCIDR"));
}

int k8c_nodeipam_controller_new(struct k8c_informer *nodes, const struct k8c_object_control *ctl,
                                const char *cluster_cidr, int node_prefix,
                                struct k8c_nodeipam_controller **ret, k8c_error_t *err)
{
        struct k8c_cidr_allocator *a = NULL;
        int r = k8c_cidr_allocator_new(cluster_cidr, node_prefix, &a, err);
        if (r < 0)
                return r;
        struct k8c_nodeipam_controller *c = k8c_xcalloc(1, sizeof(*c));
        c->nodes = nodes;
        c->ctl = *ctl;
        c->alloc = a;
        c->queue = k8c_workqueue_new(NULL);
        k8c_informer_add_handlers(
                nodes, &(struct k8c_informer_handlers){ on_node_add, on_node_update, on_node_delete, c });
        *ret = c;
        return 0;
}

void k8c_nodeipam_controller_free(struct k8c_nodeipam_controller *c)
{
        if (c == NULL)
                return;
        k8c_workqueue_free(c->queue);
        k8c_cidr_allocator_free(c->alloc);
        free(c);
}

struct k8c_workqueue *k8c_nodeipam_controller_queue(struct k8c_nodeipam_controller *c)
{
        return c->queue;
}

int k8c_nodeipam_controller_sync(struct k8c_nodeipam_controller *c, const char *key, k8c_error_t *err)
{
        json_auto_t *node = k8c_informer_get(c->nodes, key);
        if (node == NULL)
                return 0;
        const char *have = k8c_json_get_string(node, "spec.podCIDR");
        if (have != NULL && have[0] != '\0')
                return 0;
        char cidr[64];
        int r = k8c_cidr_allocator_next(c->alloc, cidr, sizeof(cidr), err);
        if (r < 0)
                return r;
        /* Guarded by resourceVersion: if the node changed (or got a CIDR elsewhere), retry on the new one. */
        json_auto_t *patch = json_pack("{s:{s:s}, s:{s:s, s:[s]}}", "metadata", "resourceVersion",
                                       k8c_json_get_string(node, "metadata.resourceVersion"), "spec",
                                       "podCIDR", cidr, "podCIDRs", cidr);
        cleanup_free char *path = k8c_ctrl_path("v1", "nodes", NULL, key);
        r = c->ctl.patch(c->ctl.opaque, path, "application/merge-patch+json", patch, err);
        if (r < 0) {
                k8c_cidr_allocator_release(c->alloc, cidr);
                if (k8c_error_reason(err) == K8C_ENOTFOUND) {
                        k8c_error_release(err);
                        return 0;
                }
        }
        return r;
}

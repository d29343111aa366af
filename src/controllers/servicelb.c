/*
 * servicelb.c - the service load-balancer controller: every Service of type
 * LoadBalancer (without a spec.loadBalancerClass, which names someone else's
 * implementation) gets one address from the --loadbalancer-ip-range pool in
 * status.loadBalancer.ingress[0].ip; k8c-proxy then routes that address like
 * the ClusterIP on every node. A Service that stops being a LoadBalancer has
 * its pool address removed from status, which frees it.
 *
 * Allocation state is the services cache itself (the addresses in use are the
 * ones Services' statuses hold) plus the addresses this process handed out and
 * the cache has not shown yet, so two workers never give one address to two
 * Services. spec.loadBalancerIP is honoured when it lies in the pool and is
 * free. Does not log.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/internal.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/strmap.h"

struct k8c_servicelb_controller {
        struct k8c_informer *services;
        struct k8c_object_control ctl;
        struct k8c_workqueue *queue;
        uint32_t first, last; /* the pool, host byte order, inclusive */
        pthread_mutex_t lock;
        struct k8c_strmap given; /* service key → address (char *) written by this process */
};

static bool parse_ip(const char *s, uint32_t *ret)
{
        struct in_addr a;
        if (s == NULL || inet_pton(AF_INET, s, &a) != 1)
                return false;
        *ret = ntohl(a.s_addr);
        return true;
}

int k8c_servicelb_parse_range(const char *range, uint32_t *ret_first, uint32_t *ret_last, k8c_error_t *err)
{
        if (range == NULL || *range == '\0')
                return k8c_make_error(err, K8C_EUSAGE, "empty load-balancer IP range");
        const char *dash = strchr(range, '-'), *slash = strchr(range, '/');
        uint32_t first, last;
        if (dash != NULL) {
                cleanup_free char *a = k8c_xstrndup(range, (size_t)(dash - range));
                if (!parse_ip(a, &first) || !parse_ip(dash + 1, &last) || last < first)
                        return k8c_make_error(err, K8C_EUSAGE,
                                              "load-balancer IP range %s: want first-last IPv4 addresses",
                                              range);
        } else if (slash != NULL) {
                cleanup_free char *a = k8c_xstrndup(range, (size_t)(slash - range));
                char *end = NULL;
                long len = strtol(slash + 1, &end, 10);
                if (!parse_ip(a, &first) || end == slash + 1 || *end != '\0' || len < 1 || len > 32)
                        return k8c_make_error(err, K8C_EUSAGE, "load-balancer IP range %s: not an IPv4 CIDR",
                                              range);
                uint32_t mask = 0xffffffffu << (32 - len);
                first &= mask;
                last = first | ~mask;
                /* Network and broadcast addresses are no use as service addresses. */
                if (len <= 30) {
                        first++;
                        last--;
                }
        } else if (parse_ip(range, &first)) {
                last = first;
        } else {
                return k8c_make_error(err, K8C_EUSAGE, "load-balancer IP range %s: want first-last or a CIDR",
                                      range);
        }
        *ret_first = first;
        *ret_last = last;
        return 0;
}

static bool is_ours(const json_t *svc)
{
        const char *type = k8c_json_get_string(svc, "spec.type");
        return type != NULL && strcmp(type, "LoadBalancer") == 0 &&
               k8c_json_get_string(svc, "spec.loadBalancerClass") == NULL;
}

static void enqueue(struct k8c_servicelb_controller *c, const json_t *obj)
{
        cleanup_free char *key = k8c_object_key(obj);
        if (key != NULL)
                k8c_workqueue_add(c->queue, key);
}

static void on_add(void *o, json_t *obj)
{
        if (is_ours(obj) || json_array_size(k8c_json_get(obj, "status.loadBalancer.ingress")) > 0)
                enqueue(o, obj);
}

static void on_update(void *o, json_t *old, json_t *obj)
{
        if (is_ours(obj) || is_ours(old) ||
            json_array_size(k8c_json_get(obj, "status.loadBalancer.ingress")) > 0)
                enqueue(o, obj);
}

static void on_delete(void *o, json_t *obj)
{
        /* The address goes back to the pool once the cache no longer holds the Service. */
        enqueue(o, obj);
}

struct k8c_servicelb_controller *k8c_servicelb_controller_new(struct k8c_informer *services,
                                                              const struct k8c_object_control *ctl,
                                                              const char *ip_range, k8c_error_t *err)
{
        uint32_t first, last;
        if (k8c_servicelb_parse_range(ip_range, &first, &last, err) < 0)
                return NULL;
        struct k8c_servicelb_controller *c = k8c_xcalloc(1, sizeof(*c));
        c->services = services;
        c->ctl = *ctl;
        c->queue = k8c_workqueue_new(NULL);
        c->first = first;
        c->last = last;
        pthread_mutex_init(&c->lock, NULL);
        k8c_strmap_init(&c->given);
        k8c_informer_add_handlers(services,
                                  &(struct k8c_informer_handlers){ on_add, on_update, on_delete, c });
        return c;
}

void k8c_servicelb_controller_free(struct k8c_servicelb_controller *c)
{
        if (c == NULL)
                return;
        k8c_workqueue_free(c->queue);
        const char *k;
        void *v;
        for (size_t i = 0; k8c_strmap_next(&c->given, &i, &k, &v);)
                free(v);
        k8c_strmap_clear(&c->given);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

struct k8c_workqueue *k8c_servicelb_controller_queue(struct k8c_servicelb_controller *c)
{
        return c->queue;
}

static bool in_pool(const struct k8c_servicelb_controller *c, uint32_t ip)
{
        return ip >= c->first && ip <= c->last;
}

/* The pool address status.loadBalancer.ingress holds, or 0. */
static uint32_t status_ip(const struct k8c_servicelb_controller *c, const json_t *svc)
{
        size_t i;
        const json_t *ing;
        json_array_foreach(k8c_json_get(svc, "status.loadBalancer.ingress"), i, ing)
        {
                uint32_t ip;
                if (parse_ip(k8c_json_get_string(ing, "ip"), &ip) && in_pool(c, ip))
                        return ip;
        }
        return 0;
}

struct used {
        uint32_t *ips;
        size_t n, cap;
};

static void used_add(struct used *u, uint32_t ip)
{
        if (u->n == u->cap) {
                u->cap = u->cap ? u->cap * 2 : 16;
                u->ips = k8c_xrealloc(u->ips, u->cap * sizeof(*u->ips));
        }
        u->ips[u->n++] = ip;
}

static bool used_has(const struct used *u, uint32_t ip)
{
        for (size_t i = 0; i < u->n; i++)
                if (u->ips[i] == ip)
                        return true;
        return false;
}

static int write_status(struct k8c_servicelb_controller *c, const char *key, const json_t *svc, uint32_t ip,
                        k8c_error_t *err)
{
        const char *ns = k8c_json_get_string(svc, "metadata.namespace") ?: "default";
        const char *name = k8c_json_get_string(svc, "metadata.name");
        cleanup_free char *base = k8c_ctrl_path("v1", "services", ns, name);
        cleanup_free char *path = k8c_xasprintf("%s/status", base);
        /* Withdrawn: null deletes the field, leaving "loadBalancer": {} as Kubernetes shows it. */
        json_auto_t *ingress = ip != 0 ? json_array() : json_null();
        if (ip != 0) {
                char buf[INET_ADDRSTRLEN];
                struct in_addr a = { htonl(ip) };
                inet_ntop(AF_INET, &a, buf, sizeof(buf));
                json_array_append_new(ingress, json_pack("{s:s, s:s}", "ip", buf, "ipMode", "VIP"));
        }
        json_auto_t *patch = json_pack("{s:{s:{s:O}}}", "status", "loadBalancer", "ingress", ingress);
        int r = c->ctl.patch(c->ctl.opaque, path, "application/merge-patch+json", patch, err);
        if (r < 0 && k8c_error_reason(err) == K8C_ENOTFOUND) {
                k8c_error_release(err);
                return 0;
        }
        return r < 0 ? k8c_error_wrap(err, "service %s status", key) : 0;
}

int k8c_servicelb_controller_sync(struct k8c_servicelb_controller *c, const char *key, k8c_error_t *err)
{
        json_auto_t *svc = k8c_informer_get(c->services, key);
        pthread_mutex_lock(&c->lock);
        if (svc == NULL || !is_ours(svc)) {
                void *old = NULL;
                if (k8c_strmap_del(&c->given, key, &old))
                        free(old);
                pthread_mutex_unlock(&c->lock);
                /* No longer a LoadBalancer: an address of our pool in its status is withdrawn. */
                if (svc != NULL && status_ip(c, svc) != 0)
                        return write_status(c, key, svc, 0, err);
                return 0;
        }

        /* Addresses in use by every other Service: their status, and what we gave out lately. */
        struct used used = { 0 };
        json_auto_t *all = k8c_informer_list(c->services);
        size_t i;
        const json_t *o;
        json_array_foreach(all, i, o)
        {
                cleanup_free char *k = k8c_object_key(o);
                uint32_t ip = status_ip(c, o);
                if (ip != 0 && k != NULL && strcmp(k, key) != 0)
                        used_add(&used, ip);
        }
        const char *gk;
        void *gv;
        for (size_t gi = 0; k8c_strmap_next(&c->given, &gi, &gk, &gv);) {
                uint32_t ip;
                if (strcmp(gk, key) != 0 && parse_ip(gv, &ip))
                        used_add(&used, ip);
        }

        uint32_t have = status_ip(c, svc), want = 0;
        uint32_t asked = 0;
        bool has_ask = parse_ip(k8c_json_get_string(svc, "spec.loadBalancerIP"), &asked) && in_pool(c, asked);
        if (has_ask && !used_has(&used, asked))
                want = asked;
        else if (have != 0 && !used_has(&used, have))
                want = have;
        else
                for (uint32_t ip = c->first; ip >= c->first && ip <= c->last; ip++)
                        if (!used_has(&used, ip)) {
                                want = ip;
                                break;
                        }
        free(used.ips);
        if (want == 0) {
                pthread_mutex_unlock(&c->lock);
                return k8c_make_error(err, K8C_ECONFLICT, "service %s: load-balancer IP pool is exhausted",
                                      key);
        }
        char buf[INET_ADDRSTRLEN];
        struct in_addr a = { htonl(want) };
        inet_ntop(AF_INET, &a, buf, sizeof(buf));
        void *old = NULL;
        k8c_strmap_put(&c->given, key, k8c_xstrdup(buf), &old);
        free(old);
        pthread_mutex_unlock(&c->lock);

        /* Already exactly this (and nothing else of ours): no write. */
        if (have == want && json_array_size(k8c_json_get(svc, "status.loadBalancer.ingress")) == 1)
                return 0;
        return write_status(c, key, svc, want, err);
}

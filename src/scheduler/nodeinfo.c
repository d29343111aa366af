/*
 * nodeinfo.c - immutable, refcounted views of pods and nodes, resource
 * arithmetic (requests with init containers as max, non-zero defaults for
 * scoring, allocatable), and the per-cycle snapshot.
 *
 * Views never change after construction: the cache makes a new nodeinfo per
 * change and snapshots share them, so a cycle sees one consistent picture
 * without copying every pod. Not thread-safe refcounts: only the cache lock
 * holder and the single scheduling thread touch them (see cache.c).
 */
#include "scheduler/framework.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/quantity.h"

#define DEFAULT_MILLI_CPU_REQUEST 100                /* kube-scheduler's non-zero cpu default */
#define DEFAULT_MEMORY_REQUEST (200LL * 1024 * 1024) /* and memory default (200 MiB) */

static int64_t qty(const json_t *list, const char *name, bool milli, bool *ret_found)
{
        json_t *v = json_object_get(list, name);
        if (ret_found != NULL)
                *ret_found = v != NULL;
        k8c_quantity_t q;
        if (json_is_string(v)) {
                if (k8c_quantity_parse(json_string_value(v), &q, NULL) < 0)
                        return 0;
        } else if (json_is_integer(v)) {
                q.milli = json_integer_value(v) * 1000;
        } else {
                return 0;
        }
        return milli ? q.milli : k8c_quantity_value(&q);
}

int64_t k8c_sched_quantity_milli(const json_t *list, const char *name)
{
        return qty(list, name, true, NULL);
}

/* A container's request for one resource: requests, else limits (what API defaulting would
 * have copied), else the non-zero default when asked for. */
static int64_t container_req(const json_t *c, const char *name, bool milli, bool nonzero)
{
        json_t *res = json_object_get(c, "resources");
        bool found = false;
        int64_t v = qty(json_object_get(res, "requests"), name, milli, &found);
        if (!found)
                v = qty(json_object_get(res, "limits"), name, milli, &found);
        if (!found && nonzero) {
                if (strcmp(name, "cpu") == 0)
                        return DEFAULT_MILLI_CPU_REQUEST;
                if (strcmp(name, "memory") == 0)
                        return DEFAULT_MEMORY_REQUEST;
        }
        return v;
}

/* Extended resources: domain-prefixed names ("example.com/dongle") and hugepages-*. */
static bool is_scalar(const char *name)
{
        return strchr(name, '/') != NULL || strncmp(name, "hugepages-", 10) == 0;
}

int64_t k8c_sched_scalar_get(const struct k8c_sched_resources *r, const char *name)
{
        for (size_t i = 0; i < r->nscalar; i++)
                if (strcmp(r->scalar[i].name, name) == 0)
                        return r->scalar[i].value;
        return 0;
}

static struct k8c_sched_scalar *scalar_slot(struct k8c_sched_resources *r, const char *name)
{
        for (size_t i = 0; i < r->nscalar; i++)
                if (strcmp(r->scalar[i].name, name) == 0)
                        return &r->scalar[i];
        if (r->nscalar == K8C_SCHED_MAX_SCALAR || strlen(name) >= sizeof(r->scalar[0].name))
                return NULL; /* beyond what k8c tracks: ignored */
        struct k8c_sched_scalar *s = &r->scalar[r->nscalar++];
        snprintf(s->name, sizeof(s->name), "%s", name);
        s->value = 0;
        return s;
}

/* Extended resources of a ResourceList (requests, else limits for a container). */
static void scalars_from(const json_t *list, struct k8c_sched_resources *ret)
{
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)list, k, v)
        {
                if (!is_scalar(k))
                        continue;
                struct k8c_sched_scalar *s = scalar_slot(ret, k);
                if (s != NULL)
                        s->value = qty(list, k, false, NULL);
        }
}

static void container_resources(const json_t *c, bool nonzero, struct k8c_sched_resources *ret)
{
        ret->milli_cpu = container_req(c, "cpu", true, nonzero);
        ret->memory = container_req(c, "memory", false, nonzero);
        ret->ephemeral_storage = container_req(c, "ephemeral-storage", false, nonzero);
        ret->pods = 0;
        ret->nscalar = 0;
        json_t *res = json_object_get(c, "resources");
        /* Extended resources cannot be overcommitted: limits and requests are equal when both are set. */
        scalars_from(json_object_get(res, "limits"), ret);
        scalars_from(json_object_get(res, "requests"), ret);
}

static void res_add(struct k8c_sched_resources *a, const struct k8c_sched_resources *b)
{
        for (size_t i = 0; i < b->nscalar; i++) {
                struct k8c_sched_scalar *s = scalar_slot(a, b->scalar[i].name);
                if (s != NULL)
                        s->value += b->scalar[i].value;
        }
        a->milli_cpu += b->milli_cpu;
        a->memory += b->memory;
        a->ephemeral_storage += b->ephemeral_storage;
        a->pods += b->pods;
}

static void res_sub(struct k8c_sched_resources *a, const struct k8c_sched_resources *b)
{
        for (size_t i = 0; i < b->nscalar; i++) {
                struct k8c_sched_scalar *s = scalar_slot(a, b->scalar[i].name);
                if (s != NULL)
                        s->value -= b->scalar[i].value;
        }
        a->milli_cpu -= b->milli_cpu;
        a->memory -= b->memory;
        a->ephemeral_storage -= b->ephemeral_storage;
        a->pods -= b->pods;
}

static int64_t max64(int64_t a, int64_t b)
{
        return a > b ? a : b;
}

static void res_max(struct k8c_sched_resources *a, const struct k8c_sched_resources *b)
{
        for (size_t i = 0; i < b->nscalar; i++) {
                struct k8c_sched_scalar *s = scalar_slot(a, b->scalar[i].name);
                if (s != NULL && b->scalar[i].value > s->value)
                        s->value = b->scalar[i].value;
        }
        a->milli_cpu = max64(a->milli_cpu, b->milli_cpu);
        a->memory = max64(a->memory, b->memory);
        a->ephemeral_storage = max64(a->ephemeral_storage, b->ephemeral_storage);
}

/* Kubernetes' PodRequests: containers summed; each init container runs alone (plus the
 * restartable "sidecar" init containers started before it), so the pod needs the max of the
 * sum and each init step; overhead on top. */
void k8c_sched_pod_requests(const json_t *pod, bool nonzero, struct k8c_sched_resources *ret)
{
        json_t *spec = json_object_get(pod, "spec");
        struct k8c_sched_resources reqs = { 0 }, sidecars = { 0 }, init = { 0 }, c;
        size_t i;
        json_t *ctr;
        json_array_foreach(json_object_get(spec, "containers"), i, ctr)
        {
                container_resources(ctr, nonzero, &c);
                res_add(&reqs, &c);
        }
        json_array_foreach(json_object_get(spec, "initContainers"), i, ctr)
        {
                container_resources(ctr, nonzero, &c);
                const char *rp = json_string_value(json_object_get(ctr, "restartPolicy"));
                if (rp != NULL && strcmp(rp, "Always") == 0) {
                        res_add(&reqs, &c);
                        res_add(&sidecars, &c);
                        c = sidecars;
                } else {
                        res_add(&c, &sidecars);
                }
                res_max(&init, &c);
        }
        res_max(&reqs, &init);
        json_t *overhead = json_object_get(spec, "overhead");
        if (overhead != NULL) {
                reqs.milli_cpu += qty(overhead, "cpu", true, NULL);
                reqs.memory += qty(overhead, "memory", false, NULL);
                reqs.ephemeral_storage += qty(overhead, "ephemeral-storage", false, NULL);
        }
        reqs.pods = 1;
        *ret = reqs;
}

void k8c_sched_node_allocatable(const json_t *node, struct k8c_sched_resources *ret)
{
        json_t *status = json_object_get(node, "status");
        json_t *alloc = json_object_get(status, "allocatable");
        if (alloc == NULL)
                alloc = json_object_get(status, "capacity");
        ret->milli_cpu = qty(alloc, "cpu", true, NULL);
        ret->memory = qty(alloc, "memory", false, NULL);
        ret->ephemeral_storage = qty(alloc, "ephemeral-storage", false, NULL);
        ret->pods = qty(alloc, "pods", false, NULL);
        ret->nscalar = 0;
        scalars_from(alloc, ret);
}

/* ---- podinfo ---- */

struct k8c_sched_podinfo *k8c_sched_podinfo_new(json_t *pod)
{
        struct k8c_sched_podinfo *pi = k8c_xcalloc(1, sizeof(*pi));
        pi->refs = 1;
        pi->pod = json_incref(pod);
        pi->key = k8c_xstrdup("");
        json_t *md = json_object_get(pod, "metadata");
        json_t *spec = json_object_get(pod, "spec");
        pi->namespace_ = json_string_value(json_object_get(md, "namespace"));
        if (pi->namespace_ == NULL)
                pi->namespace_ = "";
        pi->name = json_string_value(json_object_get(md, "name"));
        if (pi->name == NULL)
                pi->name = "";
        free(pi->key);
        pi->key = k8c_xasprintf("%s/%s", pi->namespace_, pi->name);
        pi->node_name = json_string_value(json_object_get(spec, "nodeName"));
        pi->priority = json_integer_value(json_object_get(spec, "priority"));
        pi->terminating = json_object_get(md, "deletionTimestamp") != NULL &&
                          !json_is_null(json_object_get(md, "deletionTimestamp"));
        k8c_sched_pod_requests(pod, false, &pi->req);
        k8c_sched_pod_requests(pod, true, &pi->nonzero);

        /* Host ports of containers (init containers' ports are not held while the pod runs). */
        size_t i, j;
        json_t *ctr, *port;
        json_array_foreach(json_object_get(spec, "containers"), i, ctr)
        {
                json_array_foreach(json_object_get(ctr, "ports"), j, port)
                {
                        int64_t hp = json_integer_value(json_object_get(port, "hostPort"));
                        if (hp <= 0)
                                continue;
                        const char *ip = json_string_value(json_object_get(port, "hostIP"));
                        const char *proto = json_string_value(json_object_get(port, "protocol"));
                        pi->ports = k8c_xrealloc(pi->ports, (pi->nports + 1) * sizeof(*pi->ports));
                        pi->ports[pi->nports++] = (struct k8c_sched_hostport){
                                .host_ip = k8c_xstrdup(ip != NULL && ip[0] != '\0' ? ip : "0.0.0.0"),
                                .protocol = k8c_xstrdup(proto != NULL && proto[0] != '\0' ? proto : "TCP"),
                                .port = hp,
                        };
                }
        }
        return pi;
}

struct k8c_sched_podinfo *k8c_sched_podinfo_ref(struct k8c_sched_podinfo *pi)
{
        if (pi != NULL)
                atomic_fetch_add(&pi->refs, 1);
        return pi;
}

void k8c_sched_podinfo_unref(struct k8c_sched_podinfo *pi)
{
        if (pi == NULL || atomic_fetch_sub(&pi->refs, 1) != 1)
                return;
        for (size_t i = 0; i < pi->nports; i++) {
                free(pi->ports[i].host_ip);
                free(pi->ports[i].protocol);
        }
        free(pi->ports);
        free(pi->key);
        json_decref(pi->pod);
        free(pi);
}

/* ---- nodeinfo ---- */

struct k8c_sched_nodeinfo *k8c_sched_nodeinfo_new(const char *name, json_t *node)
{
        struct k8c_sched_nodeinfo *ni = k8c_xcalloc(1, sizeof(*ni));
        ni->refs = 1;
        ni->name = k8c_xstrdup(name);
        if (node != NULL) {
                ni->node = json_incref(node);
                k8c_sched_node_allocatable(node, &ni->allocatable);
        }
        return ni;
}

struct k8c_sched_nodeinfo *k8c_sched_nodeinfo_ref(struct k8c_sched_nodeinfo *ni)
{
        if (ni != NULL)
                atomic_fetch_add(&ni->refs, 1);
        return ni;
}

void k8c_sched_nodeinfo_unref(struct k8c_sched_nodeinfo *ni)
{
        if (ni == NULL || atomic_fetch_sub(&ni->refs, 1) != 1)
                return;
        for (size_t i = 0; i < ni->npods; i++)
                k8c_sched_podinfo_unref(ni->pods[i]);
        free(ni->pods);
        json_decref(ni->node);
        free(ni->name);
        free(ni);
}

static struct k8c_sched_nodeinfo *clone(const struct k8c_sched_nodeinfo *ni, size_t extra)
{
        struct k8c_sched_nodeinfo *c = k8c_sched_nodeinfo_new(ni->name, ni->node);
        c->pods = k8c_xcalloc(ni->npods + extra + 1, sizeof(*c->pods));
        for (size_t i = 0; i < ni->npods; i++)
                c->pods[i] = k8c_sched_podinfo_ref(ni->pods[i]);
        c->npods = ni->npods;
        c->requested = ni->requested;
        c->nonzero_requested = ni->nonzero_requested;
        return c;
}

struct k8c_sched_nodeinfo *k8c_sched_nodeinfo_with_node(const struct k8c_sched_nodeinfo *ni, json_t *node)
{
        struct k8c_sched_nodeinfo *c = clone(ni, 0);
        json_decref(c->node);
        c->node = node != NULL ? json_incref(node) : NULL;
        memset(&c->allocatable, 0, sizeof(c->allocatable));
        if (node != NULL)
                k8c_sched_node_allocatable(node, &c->allocatable);
        return c;
}

ssize_t k8c_sched_nodeinfo_find_pod(const struct k8c_sched_nodeinfo *ni, const char *key)
{
        for (size_t i = 0; i < ni->npods; i++)
                if (strcmp(ni->pods[i]->key, key) == 0)
                        return (ssize_t)i;
        return -1;
}

struct k8c_sched_nodeinfo *k8c_sched_nodeinfo_with_pod(const struct k8c_sched_nodeinfo *ni,
                                                       struct k8c_sched_podinfo *pi)
{
        struct k8c_sched_nodeinfo *c = clone(ni, 1);
        ssize_t at = k8c_sched_nodeinfo_find_pod(c, pi->key);
        if (at >= 0) {
                res_sub(&c->requested, &c->pods[at]->req);
                res_sub(&c->nonzero_requested, &c->pods[at]->nonzero);
                k8c_sched_podinfo_unref(c->pods[at]);
                c->pods[at] = k8c_sched_podinfo_ref(pi);
        } else {
                c->pods[c->npods++] = k8c_sched_podinfo_ref(pi);
        }
        res_add(&c->requested, &pi->req);
        res_add(&c->nonzero_requested, &pi->nonzero);
        return c;
}

struct k8c_sched_nodeinfo *k8c_sched_nodeinfo_without_pod(const struct k8c_sched_nodeinfo *ni,
                                                          const char *key)
{
        struct k8c_sched_nodeinfo *c = clone(ni, 0);
        ssize_t at = k8c_sched_nodeinfo_find_pod(c, key);
        if (at < 0)
                return c;
        res_sub(&c->requested, &c->pods[at]->req);
        res_sub(&c->nonzero_requested, &c->pods[at]->nonzero);
        k8c_sched_podinfo_unref(c->pods[at]);
        memmove(&c->pods[at], &c->pods[at + 1], (c->npods - (size_t)at - 1) * sizeof(*c->pods));
        c->npods--;
        return c;
}

/* ---- snapshot ---- */

static int cmp_nodeinfo(const void *a, const void *b)
{
        const struct k8c_sched_nodeinfo *const *x = a, *const *y = b;
        return strcmp((*x)->name, (*y)->name);
}

struct k8c_sched_snapshot *k8c_sched_snapshot_from_json(const json_t *nodes, const json_t *pods,
                                                        const json_t *services, const json_t *replicasets)
{
        struct k8c_sched_snapshot *s = k8c_xcalloc(1, sizeof(*s));
        s->nodes = k8c_xcalloc(json_array_size(nodes) + 1, sizeof(*s->nodes));
        size_t i;
        json_t *v;
        json_array_foreach(nodes, i, v)
        {
                const char *name = json_string_value(json_object_get(json_object_get(v, "metadata"), "name"));
                if (name != NULL)
                        s->nodes[s->n++] = k8c_sched_nodeinfo_new(name, v);
        }
        qsort(s->nodes, s->n, sizeof(*s->nodes), cmp_nodeinfo);
        json_array_foreach(pods, i, v)
        {
                const char *nn = json_string_value(json_object_get(json_object_get(v, "spec"), "nodeName"));
                ssize_t at = nn != NULL ? k8c_sched_snapshot_find(s, nn) : -1;
                if (at < 0)
                        continue;
                struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(v);
                k8c_sched_snapshot_add_pod(s, (size_t)at, pi);
                k8c_sched_podinfo_unref(pi);
        }
        s->services = services != NULL ? json_incref((json_t *)services) : NULL;
        s->replicasets = replicasets != NULL ? json_incref((json_t *)replicasets) : NULL;
        return s;
}

void k8c_sched_snapshot_free(struct k8c_sched_snapshot *s)
{
        if (s == NULL)
                return;
        for (size_t i = 0; i < s->n; i++)
                k8c_sched_nodeinfo_unref(s->nodes[i]);
        free(s->nodes);
        json_decref(s->services);
        json_decref(s->replicasets);
        free(s);
}

ssize_t k8c_sched_snapshot_find(const struct k8c_sched_snapshot *s, const char *node_name)
{
        size_t lo = 0, hi = s->n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(s->nodes[mid]->name, node_name);
                if (c == 0)
                        return (ssize_t)mid;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -1;
}

void k8c_sched_snapshot_add_pod(struct k8c_sched_snapshot *s, size_t i, struct k8c_sched_podinfo *pi)
{
        struct k8c_sched_nodeinfo *c = k8c_sched_nodeinfo_with_pod(s->nodes[i], pi);
        k8c_sched_nodeinfo_unref(s->nodes[i]);
        s->nodes[i] = c;
}

/* ---- status ---- */

void k8c_sched_status_add_reason(struct k8c_sched_status *st, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *s = NULL;
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        st->reasons = k8c_xrealloc(st->reasons, (st->nreasons + 1) * sizeof(char *));
        st->reasons[st->nreasons++] = s;
}

void k8c_sched_status_clear(struct k8c_sched_status *st)
{
        for (size_t i = 0; i < st->nreasons; i++)
                free(st->reasons[i]);
        free(st->reasons);
        memset(st, 0, sizeof(*st));
}

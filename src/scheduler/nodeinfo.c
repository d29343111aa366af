/*
 * nodeinfo.c - immutable, refcounted views of pods and nodes, resource
 * arithmetic (requests with init containers as max, non-zero defaults for
 * scoring, allocatable), the per-node aggregates, the intern table and the
 * per-cycle snapshot.
 *
 * Views never change after construction: the cache makes a new nodeinfo per
 * change and snapshots share them, so a cycle sees one consistent picture
 * without copying every pod. A pod's JSON is read once, when its podinfo is
 * built; a node's once per Node object (nodeview). The aggregates a plugin
 * would otherwise compute by walking a node's pods (requests, pods per label
 * set, anti-affinity pods, host ports) are adjusted as each pod is added or
 * removed, so a decision costs O(nodes looked at), not O(pods).
 */
#include "scheduler/framework.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/kubelet.h"
#include "k8c/quantity.h"
#include "k8c/strmap.h"

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

/* ---- intern table ---- */

static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static struct k8c_strmap intern_map; /* str → struct k8c_sched_interned * */

struct k8c_sched_interned *k8c_sched_intern(const char *str, const char *namespace_, const json_t *labels)
{
        pthread_mutex_lock(&intern_lock);
        struct k8c_sched_interned *in = NULL;
        if (k8c_strmap_get(&intern_map, str, (void **)&in)) {
                atomic_fetch_add(&in->refs, 1);
        } else {
                in = k8c_xcalloc(1, sizeof(*in));
                in->refs = 1;
                in->str = k8c_xstrdup(str);
                if (namespace_ != NULL) {
                        in->namespace_ = k8c_xstrdup(namespace_);
                        in->labels = labels != NULL ? json_incref((json_t *)labels) : NULL;
                }
                k8c_strmap_put(&intern_map, str, in, NULL);
        }
        pthread_mutex_unlock(&intern_lock);
        return in;
}

struct k8c_sched_interned *k8c_sched_interned_ref(struct k8c_sched_interned *in)
{
        if (in != NULL)
                atomic_fetch_add(&in->refs, 1);
        return in;
}

void k8c_sched_interned_unref(struct k8c_sched_interned *in)
{
        if (in == NULL)
                return;
        /* Only lookups (under the lock) create references from nothing, so dropping the last one
         * under the lock cannot race with a resurrection. */
        pthread_mutex_lock(&intern_lock);
        if (atomic_fetch_sub(&in->refs, 1) == 1) {
                k8c_strmap_del(&intern_map, in->str, NULL);
                if (k8c_strmap_len(&intern_map) == 0)
                        k8c_strmap_clear(&intern_map);
                json_decref(in->labels);
                free(in->namespace_);
                free(in->str);
                free(in);
        }
        pthread_mutex_unlock(&intern_lock);
}

size_t k8c_sched_intern_size(void)
{
        pthread_mutex_lock(&intern_lock);
        size_t n = k8c_strmap_len(&intern_map);
        pthread_mutex_unlock(&intern_lock);
        return n;
}

/* "namespace\x01{canonical labels}" (or "namespace\x02" without labels). */
static struct k8c_sched_interned *intern_labelset(const char *ns, const json_t *labels)
{
        cleanup_free char *canon =
                labels != NULL ? json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        cleanup_free char *key =
                k8c_xasprintf("%s%c%s", ns, labels != NULL ? '\x01' : '\x02', canon != NULL ? canon : "");
        return k8c_sched_intern(key, ns, labels);
}

/* ---- tolerations and taints ---- */

static const char *jstr(const json_t *obj, const char *key)
{
        const char *s = json_string_value(json_object_get(obj, key));
        return s != NULL ? s : "";
}

bool k8c_sched_tolerates(const struct k8c_sched_toleration *tol, const struct k8c_sched_taint *taint)
{
        if (tol->effect[0] != '\0' && strcmp(tol->effect, taint->effect) != 0)
                return false;
        if (tol->key[0] != '\0' && strcmp(tol->key, taint->key) != 0)
                return false;
        if (tol->op == K8C_SCHED_TOL_EQUAL)
                return strcmp(tol->value, taint->value) == 0;
        return tol->op == K8C_SCHED_TOL_EXISTS;
}

static bool tolerates_any(const struct k8c_sched_podinfo *pi, const char *key, const char *effect)
{
        struct k8c_sched_taint t = { .key = key, .value = "", .effect = effect };
        for (size_t i = 0; i < pi->ntolerations; i++)
                if (k8c_sched_tolerates(&pi->tolerations[i], &t))
                        return true;
        return false;
}

/* ---- podinfo ---- */

static json_t *required_terms(const json_t *spec, const char *kind)
{
        return json_object_get(json_object_get(json_object_get(spec, "affinity"), kind),
                               "requiredDuringSchedulingIgnoredDuringExecution");
}

static struct k8c_sched_pod_term *pod_terms(const json_t *terms, size_t *ret_n)
{
        struct k8c_sched_pod_term *r = k8c_xcalloc(json_array_size(terms) + 1, sizeof(*r));
        size_t i, j;
        json_t *t, *v;
        json_array_foreach(terms, i, t)
        {
                struct k8c_sched_pod_term *pt = &r[i];
                json_t *nss = json_object_get(t, "namespaces");
                json_t *nssel = json_object_get(t, "namespaceSelector");
                json_t *ls = json_object_get(t, "labelSelector");
                pt->topology_key = json_string_value(json_object_get(t, "topologyKey"));
                pt->own_namespace = json_array_size(nss) == 0 && (nssel == NULL || json_is_null(nssel));
                /* Namespace labels are not watched: only the empty selector ("all namespaces") counts. */
                pt->all_namespaces = json_is_object(nssel) && json_object_size(nssel) == 0;
                pt->namespaces = k8c_xcalloc(json_array_size(nss) + 1, sizeof(*pt->namespaces));
                json_array_foreach(nss, j, v) if (json_is_string(v)) pt->namespaces[pt->nnamespaces++] =
                        json_string_value(v);
                pt->has_selector = ls != NULL && !json_is_null(ls) &&
                                   k8c_selector_from_json(ls, &pt->selector, NULL) >= 0;
        }
        *ret_n = json_array_size(terms);
        return r;
}

static void pod_terms_free(struct k8c_sched_pod_term *t, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(t[i].namespaces);
                if (t[i].has_selector)
                        k8c_selector_free(&t[i].selector);
        }
        free(t);
}

struct k8c_sched_podinfo *k8c_sched_podinfo_new(json_t *pod)
{
        struct k8c_sched_podinfo *pi = k8c_xcalloc(1, sizeof(*pi));
        pi->refs = 1;
        pi->pod = json_incref(pod);
        json_t *md = json_object_get(pod, "metadata");
        json_t *spec = json_object_get(pod, "spec");
        pi->namespace_ = json_string_value(json_object_get(md, "namespace"));
        if (pi->namespace_ == NULL)
                pi->namespace_ = "";
        pi->name = json_string_value(json_object_get(md, "name"));
        if (pi->name == NULL)
                pi->name = "";
        pi->key = k8c_xasprintf("%s/%s", pi->namespace_, pi->name);
        pi->node_name = json_string_value(json_object_get(spec, "nodeName"));
        pi->priority = json_integer_value(json_object_get(spec, "priority"));
        pi->terminating = json_object_get(md, "deletionTimestamp") != NULL &&
                          !json_is_null(json_object_get(md, "deletionTimestamp"));
        k8c_sched_pod_requests(pod, false, &pi->req);
        k8c_sched_pod_requests(pod, true, &pi->nonzero);
        pi->labels = json_object_get(md, "labels");
        pi->labelset = intern_labelset(pi->namespace_, pi->labels);

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

        json_t *tols = json_object_get(spec, "tolerations");
        pi->tolerations = k8c_xcalloc(json_array_size(tols) + 1, sizeof(*pi->tolerations));
        json_t *tol;
        json_array_foreach(tols, i, tol)
        {
                const char *op = jstr(tol, "operator");
                pi->tolerations[pi->ntolerations++] = (struct k8c_sched_toleration){
                        .key = jstr(tol, "key"),
                        .value = jstr(tol, "value"),
                        .effect = jstr(tol, "effect"),
                        .op = op[0] == '\0' || strcmp(op, "Equal") == 0 ? K8C_SCHED_TOL_EQUAL
                              : strcmp(op, "Exists") == 0               ? K8C_SCHED_TOL_EXISTS
                                                                        : K8C_SCHED_TOL_OTHER,
                };
        }
        pi->tolerates_unschedulable = tolerates_any(pi, "node.kubernetes.io/unschedulable", "NoSchedule");
        pi->tolerates_not_ready = tolerates_any(pi, "node.kubernetes.io/not-ready", "NoSchedule");
        pi->tolerates_unreachable = tolerates_any(pi, "node.kubernetes.io/unreachable", "NoSchedule");
        pi->tolerates_memory_pressure = tolerates_any(pi, "node.kubernetes.io/memory-pressure", "NoSchedule");
        pi->tolerates_disk_pressure = tolerates_any(pi, "node.kubernetes.io/disk-pressure", "NoSchedule");
        pi->best_effort = k8c_pod_qos(pod) == K8C_QOS_BEST_EFFORT;

        json_t *na = json_object_get(json_object_get(spec, "affinity"), "nodeAffinity");
        json_t *req = json_object_get(na, "requiredDuringSchedulingIgnoredDuringExecution");
        json_t *pref = json_object_get(na, "preferredDuringSchedulingIgnoredDuringExecution");
        json_t *ns = json_object_get(spec, "nodeSelector");
        pi->has_required_node_affinity = json_object_size(ns) > 0 || (req != NULL && !json_is_null(req));
        pi->has_preferred_node_affinity = json_array_size(pref) > 0;
        pi->node_selector = k8c_xcalloc(json_object_size(ns) + 1, sizeof(*pi->node_selector));
        const char *k;
        json_t *v;
        json_object_foreach(ns, k, v)
        {
                pi->node_selector[pi->nnode_selector].key = k;
                pi->node_selector[pi->nnode_selector++].value = json_string_value(v);
        }
        pi->node_affinity_required = req != NULL && !json_is_null(req);
        json_t *terms = json_object_get(req, "nodeSelectorTerms");
        pi->required_terms = k8c_xcalloc(json_array_size(terms) + 1, sizeof(*pi->required_terms));
        json_array_foreach(terms, i, v)
                k8c_sched_node_term_compile(v, &pi->required_terms[pi->nrequired_terms++]);
        pi->preferred_terms = k8c_xcalloc(json_array_size(pref) + 1, sizeof(*pi->preferred_terms));
        json_array_foreach(pref, i, v)
        {
                struct k8c_sched_preferred_term *pt = &pi->preferred_terms[pi->npreferred_terms++];
                pt->weight = json_integer_value(json_object_get(v, "weight"));
                k8c_sched_node_term_compile(json_object_get(v, "preference"), &pt->term);
        }
        pi->has_spread_constraints = json_array_size(json_object_get(spec, "topologySpreadConstraints")) > 0;
        pi->affinity_terms = pod_terms(required_terms(spec, "podAffinity"), &pi->naffinity_terms);
        pi->anti_terms = pod_terms(required_terms(spec, "podAntiAffinity"), &pi->nanti_terms);
        pi->has_pod_affinity = pi->naffinity_terms > 0;
        pi->has_pod_anti_affinity = pi->nanti_terms > 0;
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
        free(pi->tolerations);
        free(pi->node_selector);
        pod_terms_free(pi->affinity_terms, pi->naffinity_terms);
        pod_terms_free(pi->anti_terms, pi->nanti_terms);
        for (size_t i = 0; i < pi->nrequired_terms; i++)
                k8c_sched_node_term_free(&pi->required_terms[i]);
        free(pi->required_terms);
        for (size_t i = 0; i < pi->npreferred_terms; i++)
                k8c_sched_node_term_free(&pi->preferred_terms[i].term);
        free(pi->preferred_terms);
        k8c_sched_interned_unref(pi->labelset);
        free(pi->key);
        json_decref(pi->pod);
        free(pi);
}

/* ---- nodeview ---- */

/* region + ":\x01:" + zone as Kubernetes' GetZoneKey; NULL when the node has neither. */
static char *zone_key(const json_t *node)
{
        const char *region = k8c_sched_node_label(node, "topology.kubernetes.io/region");
        if (region == NULL)
                region = k8c_sched_node_label(node, "failure-domain.beta.kubernetes.io/region");
        const char *zone = k8c_sched_node_label(node, "topology.kubernetes.io/zone");
        if (zone == NULL)
                zone = k8c_sched_node_label(node, "failure-domain.beta.kubernetes.io/zone");
        if (region == NULL && zone == NULL)
                return NULL;
        return k8c_xasprintf("%s:\x01:%s", region != NULL ? region : "", zone != NULL ? zone : "");
}

static struct k8c_sched_nodeview *nodeview_new(json_t *node)
{
        struct k8c_sched_nodeview *v = k8c_xcalloc(1, sizeof(*v));
        v->refs = 1;
        v->ready = K8C_SCHED_NODE_NOT_READY;
        if (node == NULL)
                return v;
        v->node = json_incref(node);
        json_t *md = json_object_get(node, "metadata");
        v->labels = json_object_get(md, "labels");
        v->meta_name = json_string_value(json_object_get(md, "name"));
        json_t *spec = json_object_get(node, "spec");
        v->unschedulable = json_is_true(json_object_get(spec, "unschedulable"));
        const char *ready = NULL;
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(json_object_get(node, "status"), "conditions"), i, c)
        {
                const char *type = json_string_value(json_object_get(c, "type"));
                const char *status = json_string_value(json_object_get(c, "status"));
                if (type == NULL)
                        continue;
                if (strcmp(type, "Ready") == 0)
                        ready = status;
                else if (strcmp(type, "MemoryPressure") == 0)
                        v->memory_pressure = status != NULL && strcmp(status, "True") == 0;
                else if (strcmp(type, "DiskPressure") == 0)
                        v->disk_pressure = status != NULL && strcmp(status, "True") == 0;
        }
        if (ready != NULL && strcmp(ready, "True") == 0)
                v->ready = K8C_SCHED_NODE_READY;
        else if (ready != NULL && strcmp(ready, "Unknown") == 0)
                v->ready = K8C_SCHED_NODE_UNREACHABLE;
        json_t *taints = json_object_get(spec, "taints");
        v->taints = k8c_xcalloc(json_array_size(taints) + 1, sizeof(*v->taints));
        json_array_foreach(taints, i, c)
        {
                struct k8c_sched_taint *t = &v->taints[v->ntaints++];
                *t = (struct k8c_sched_taint){ jstr(c, "key"), jstr(c, "value"), jstr(c, "effect") };
                if (strcmp(t->effect, "NoSchedule") == 0 || strcmp(t->effect, "NoExecute") == 0)
                        v->nhard_taints++;
                else if (strcmp(t->effect, "PreferNoSchedule") == 0)
                        v->nprefer_taints++;
        }
        cleanup_free char *zk = zone_key(node);
        if (zk != NULL)
                v->zone = k8c_sched_intern(zk, NULL, NULL);
        return v;
}

static struct k8c_sched_nodeview *nodeview_ref(struct k8c_sched_nodeview *v)
{
        atomic_fetch_add(&v->refs, 1);
        return v;
}

static void nodeview_unref(struct k8c_sched_nodeview *v)
{
        if (v == NULL || atomic_fetch_sub(&v->refs, 1) != 1)
                return;
        free(v->taints);
        k8c_sched_interned_unref(v->zone);
        json_decref(v->node);
        free(v);
}

/* ---- nodeinfo ---- */

struct k8c_sched_nodeinfo *k8c_sched_nodeinfo_new(const char *name, json_t *node)
{
        struct k8c_sched_nodeinfo *ni = k8c_xcalloc(1, sizeof(*ni));
        ni->refs = 1;
        ni->name = k8c_xstrdup(name);
        ni->view = nodeview_new(node);
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
        for (size_t i = 0; i < ni->nlabels; i++)
                k8c_sched_interned_unref(ni->labels[i].labelset);
        free(ni->labels);
        nodeview_unref(ni->view);
        json_decref(ni->node);
        free(ni->name);
        free(ni);
}

/* A copy sharing the node view and pods, with room for extra more pods / label sets. */
static struct k8c_sched_nodeinfo *nodeinfo_clone(const struct k8c_sched_nodeinfo *ni, size_t extra)
{
        struct k8c_sched_nodeinfo *c = k8c_xcalloc(1, sizeof(*c));
        c->refs = 1;
        c->name = k8c_xstrdup(ni->name);
        c->view = nodeview_ref(ni->view);
        c->node = ni->node != NULL ? json_incref(ni->node) : NULL;
        c->allocatable = ni->allocatable;
        c->pods = k8c_xcalloc(ni->npods + extra + 1, sizeof(*c->pods));
        for (size_t i = 0; i < ni->npods; i++)
                c->pods[i] = k8c_sched_podinfo_ref(ni->pods[i]);
        c->npods = ni->npods;
        c->labels = k8c_xcalloc(ni->nlabels + extra + 1, sizeof(*c->labels));
        for (size_t i = 0; i < ni->nlabels; i++)
                c->labels[i] = (struct k8c_sched_labelcount){ k8c_sched_interned_ref(ni->labels[i].labelset),
                                                              ni->labels[i].count };
        c->nlabels = ni->nlabels;
        c->requested = ni->requested;
        c->nonzero_requested = ni->nonzero_requested;
        c->nanti = ni->nanti;
        c->nports = ni->nports;
        return c;
}

struct k8c_sched_nodeinfo *k8c_sched_nodeinfo_with_node(const struct k8c_sched_nodeinfo *ni, json_t *node)
{
        struct k8c_sched_nodeinfo *c = nodeinfo_clone(ni, 0);
        json_decref(c->node);
        c->node = node != NULL ? json_incref(node) : NULL;
        nodeview_unref(c->view);
        c->view = nodeview_new(node);
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

int64_t k8c_sched_nodeinfo_label_count(const struct k8c_sched_nodeinfo *ni,
                                       const struct k8c_sched_interned *labelset)
{
        for (size_t i = 0; i < ni->nlabels; i++)
                if (ni->labels[i].labelset == labelset)
                        return ni->labels[i].count;
        return 0;
}

/* Adds (sign 1) or removes (sign -1) pi's share of c's aggregates. c has room for one more labelset. */
static void account(struct k8c_sched_nodeinfo *c, const struct k8c_sched_podinfo *pi, int sign)
{
        if (sign > 0) {
                res_add(&c->requested, &pi->req);
                res_add(&c->nonzero_requested, &pi->nonzero);
        } else {
                res_sub(&c->requested, &pi->req);
                res_sub(&c->nonzero_requested, &pi->nonzero);
        }
        c->nanti = (size_t)((ssize_t)c->nanti + sign * (pi->has_pod_anti_affinity ? 1 : 0));
        c->nports = (size_t)((ssize_t)c->nports + sign * (ssize_t)pi->nports);
        if (pi->terminating)
                return; /* SelectorSpread does not count terminating pods */
        for (size_t i = 0; i < c->nlabels; i++) {
                if (c->labels[i].labelset != pi->labelset)
                        continue;
                c->labels[i].count += sign;
                if (c->labels[i].count == 0) {
                        k8c_sched_interned_unref(c->labels[i].labelset);
                        c->labels[i] = c->labels[--c->nlabels];
                }
                return;
        }
        if (sign > 0)
                c->labels[c->nlabels++] =
                        (struct k8c_sched_labelcount){ k8c_sched_interned_ref(pi->labelset), 1 };
}

struct k8c_sched_nodeinfo *k8c_sched_nodeinfo_with_pod(const struct k8c_sched_nodeinfo *ni,
                                                       struct k8c_sched_podinfo *pi)
{
        struct k8c_sched_nodeinfo *c = nodeinfo_clone(ni, 1);
        ssize_t at = k8c_sched_nodeinfo_find_pod(c, pi->key);
        if (at >= 0) {
                account(c, c->pods[at], -1);
                k8c_sched_podinfo_unref(c->pods[at]);
                c->pods[at] = k8c_sched_podinfo_ref(pi);
        } else {
                c->pods[c->npods++] = k8c_sched_podinfo_ref(pi);
        }
        account(c, pi, 1);
        return c;
}

struct k8c_sched_nodeinfo *k8c_sched_nodeinfo_without_pod(const struct k8c_sched_nodeinfo *ni,
                                                          const char *key)
{
        struct k8c_sched_nodeinfo *c = nodeinfo_clone(ni, 0);
        ssize_t at = k8c_sched_nodeinfo_find_pod(c, key);
        if (at < 0)
                return c;
        account(c, c->pods[at], -1);
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

void k8c_sched_snapshot_set(struct k8c_sched_snapshot *s, size_t i, struct k8c_sched_nodeinfo *ni)
{
        struct k8c_sched_nodeinfo *old = s->nodes[i];
        if (old != NULL && old->nanti > 0)
                s->nodes_with_anti--;
        if (ni->nanti > 0)
                s->nodes_with_anti++;
        s->nodes[i] = ni;
        k8c_sched_nodeinfo_unref(old);
}

void k8c_sched_snapshot_add_pod(struct k8c_sched_snapshot *s, size_t i, struct k8c_sched_podinfo *pi)
{
        k8c_sched_snapshot_set(s, i, k8c_sched_nodeinfo_with_pod(s->nodes[i], pi));
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

/*
 * cache.c - nodes and their pods (bound and assumed) for the scheduler; see
 * cache.h. Each change replaces the node's immutable nodeinfo by a modified
 * copy, so snapshots taken earlier stay valid. It holds no policy: what fits
 * is the plugins' business.
 */
#include "scheduler/cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/strmap.h"

struct podloc {
        char *node;
        bool assumed;
};

struct k8c_sched_cache {
        pthread_mutex_t lock;
        struct k8c_strmap nodes; /* name → struct k8c_sched_nodeinfo * */
        struct k8c_strmap pods;  /* key → struct podloc * */
        size_t nassumed;
};

struct k8c_sched_cache *k8c_sched_cache_new(void)
{
        struct k8c_sched_cache *c = k8c_xcalloc(1, sizeof(*c));
        pthread_mutex_init(&c->lock, NULL);
        k8c_strmap_init(&c->nodes);
        k8c_strmap_init(&c->pods);
        return c;
}

static void podloc_free(struct podloc *l)
{
        if (l == NULL)
                return;
        free(l->node);
        free(l);
}

void k8c_sched_cache_free(struct k8c_sched_cache *c)
{
        if (c == NULL)
                return;
        size_t it = 0;
        const char *k;
        void *v;
        while (k8c_strmap_next(&c->nodes, &it, &k, &v))
                k8c_sched_nodeinfo_unref(v);
        it = 0;
        while (k8c_strmap_next(&c->pods, &it, &k, &v))
                podloc_free(v);
        k8c_strmap_clear(&c->nodes);
        k8c_strmap_clear(&c->pods);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

static void put_node(struct k8c_sched_cache *c, const char *name, struct k8c_sched_nodeinfo *ni)
{
        void *old = NULL;
        k8c_strmap_put(&c->nodes, name, ni, &old);
        k8c_sched_nodeinfo_unref(old);
}

/* Drops an empty placeholder (no Node object, no pods). */
static void gc_node(struct k8c_sched_cache *c, const char *name)
{
        struct k8c_sched_nodeinfo *ni = NULL;
        if (k8c_strmap_get(&c->nodes, name, (void **)&ni) && ni->node == NULL && ni->npods == 0) {
                k8c_strmap_del(&c->nodes, name, NULL);
                k8c_sched_nodeinfo_unref(ni);
        }
}

void k8c_sched_cache_upsert_node(struct k8c_sched_cache *c, json_t *node)
{
        const char *name = json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
        if (name == NULL)
                return;
        pthread_mutex_lock(&c->lock);
        struct k8c_sched_nodeinfo *ni = NULL;
        if (k8c_strmap_get(&c->nodes, name, (void **)&ni))
                put_node(c, name, k8c_sched_nodeinfo_with_node(ni, node));
        else
                put_node(c, name, k8c_sched_nodeinfo_new(name, node));
        pthread_mutex_unlock(&c->lock);
}

void k8c_sched_cache_delete_node(struct k8c_sched_cache *c, const char *name)
{
        pthread_mutex_lock(&c->lock);
        struct k8c_sched_nodeinfo *ni = NULL;
        /* Pods may still be listed on it until their deletion is seen: keep a placeholder. */
        if (k8c_strmap_get(&c->nodes, name, (void **)&ni)) {
                put_node(c, name, k8c_sched_nodeinfo_with_node(ni, NULL));
                gc_node(c, name);
        }
        pthread_mutex_unlock(&c->lock);
}

static void remove_locked(struct k8c_sched_cache *c, const char *key)
{
        struct podloc *l = NULL;
        if (!k8c_strmap_del(&c->pods, key, (void **)&l))
                return;
        struct k8c_sched_nodeinfo *ni = NULL;
        if (k8c_strmap_get(&c->nodes, l->node, (void **)&ni)) {
                put_node(c, l->node, k8c_sched_nodeinfo_without_pod(ni, key));
                gc_node(c, l->node);
        }
        if (l->assumed)
                c->nassumed--;
        podloc_free(l);
}

static void add_locked(struct k8c_sched_cache *c, json_t *pod, const char *node_name, bool assumed)
{
        struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(pod);
        struct k8c_sched_nodeinfo *ni = NULL;
        if (!k8c_strmap_get(&c->nodes, node_name, (void **)&ni)) {
                ni = k8c_sched_nodeinfo_new(node_name, NULL);
                k8c_strmap_put(&c->nodes, node_name, ni, NULL);
        }
        put_node(c, node_name, k8c_sched_nodeinfo_with_pod(ni, pi));
        struct podloc *l = k8c_xcalloc(1, sizeof(*l));
        l->node = k8c_xstrdup(node_name);
        l->assumed = assumed;
        if (assumed)
                c->nassumed++;
        k8c_strmap_put(&c->pods, pi->key, l, NULL);
        k8c_sched_podinfo_unref(pi);
}

static char *key_of(const json_t *pod)
{
        json_t *md = json_object_get(pod, "metadata");
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        const char *name = json_string_value(json_object_get(md, "name"));
        return k8c_xasprintf("%s/%s", ns != NULL ? ns : "", name != NULL ? name : "");
}

void k8c_sched_cache_upsert_pod(struct k8c_sched_cache *c, json_t *pod)
{
        cleanup_free char *key = key_of(pod);
        const char *node = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
        const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
        bool finished = phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
        pthread_mutex_lock(&c->lock);
        remove_locked(c, key);
        if (node != NULL && node[0] != '\0' && !finished)
                add_locked(c, pod, node, false);
        pthread_mutex_unlock(&c->lock);
}

void k8c_sched_cache_delete_pod(struct k8c_sched_cache *c, const char *key)
{
        pthread_mutex_lock(&c->lock);
        remove_locked(c, key);
        pthread_mutex_unlock(&c->lock);
}

int k8c_sched_cache_assume(struct k8c_sched_cache *c, const json_t *pod, const char *node_name,
                           k8c_error_t *err)
{
        cleanup_free char *key = key_of(pod);
        json_auto_t *copy = json_deep_copy(pod);
        json_t *spec = json_object_get(copy, "spec");
        if (!json_is_object(spec)) {
                spec = json_object();
                json_object_set_new(copy, "spec", spec);
        }
        json_object_set_new(spec, "nodeName", json_string(node_name));
        pthread_mutex_lock(&c->lock);
        if (k8c_strmap_has(&c->pods, key)) {
                pthread_mutex_unlock(&c->lock);
                return k8c_make_error(err, K8C_ECONFLICT, "pod %s is already in the scheduler cache", key);
        }
        add_locked(c, copy, node_name, true);
        pthread_mutex_unlock(&c->lock);
        return 0;
}

void k8c_sched_cache_forget(struct k8c_sched_cache *c, const char *key)
{
        pthread_mutex_lock(&c->lock);
        struct podloc *l = NULL;
        if (k8c_strmap_get(&c->pods, key, (void **)&l) && l->assumed)
                remove_locked(c, key);
        pthread_mutex_unlock(&c->lock);
}

bool k8c_sched_cache_is_assumed(struct k8c_sched_cache *c, const char *key)
{
        pthread_mutex_lock(&c->lock);
        struct podloc *l = NULL;
        bool r = k8c_strmap_get(&c->pods, key, (void **)&l) && l->assumed;
        pthread_mutex_unlock(&c->lock);
        return r;
}

char *k8c_sched_cache_pod_node(struct k8c_sched_cache *c, const char *key)
{
        pthread_mutex_lock(&c->lock);
        struct podloc *l = NULL;
        char *r = k8c_strmap_get(&c->pods, key, (void **)&l) ? k8c_xstrdup(l->node) : NULL;
        pthread_mutex_unlock(&c->lock);
        return r;
}

static int cmp_ni(const void *a, const void *b)
{
        return strcmp((*(struct k8c_sched_nodeinfo *const *)a)->name,
                      (*(struct k8c_sched_nodeinfo *const *)b)->name);
}

struct k8c_sched_snapshot *k8c_sched_cache_snapshot(struct k8c_sched_cache *c, json_t *services,
                                                    json_t *replicasets)
{
        struct k8c_sched_snapshot *s = k8c_xcalloc(1, sizeof(*s));
        pthread_mutex_lock(&c->lock);
        s->nodes = k8c_xcalloc(k8c_strmap_len(&c->nodes) + 1, sizeof(*s->nodes));
        size_t it = 0;
        const char *k;
        void *v;
        while (k8c_strmap_next(&c->nodes, &it, &k, &v)) {
                struct k8c_sched_nodeinfo *ni = v;
                if (ni->node != NULL)
                        s->nodes[s->n++] = k8c_sched_nodeinfo_ref(ni);
        }
        pthread_mutex_unlock(&c->lock);
        qsort(s->nodes, s->n, sizeof(*s->nodes), cmp_ni);
        s->services = services != NULL ? json_incref(services) : NULL;
        s->replicasets = replicasets != NULL ? json_incref(replicasets) : NULL;
        return s;
}

size_t k8c_sched_cache_num_nodes(struct k8c_sched_cache *c)
{
        pthread_mutex_lock(&c->lock);
        size_t n = 0, it = 0;
        const char *k;
        void *v;
        while (k8c_strmap_next(&c->nodes, &it, &k, &v))
                n += ((struct k8c_sched_nodeinfo *)v)->node != NULL;
        pthread_mutex_unlock(&c->lock);
        return n;
}

size_t k8c_sched_cache_num_pods(struct k8c_sched_cache *c)
{
        pthread_mutex_lock(&c->lock);
        size_t n = k8c_strmap_len(&c->pods);
        pthread_mutex_unlock(&c->lock);
        return n;
}

size_t k8c_sched_cache_num_assumed(struct k8c_sched_cache *c)
{
        pthread_mutex_lock(&c->lock);
        size_t n = c->nassumed;
        pthread_mutex_unlock(&c->lock);
        return n;
}

/*
 * cache.c - nodes and their pods (bound and assumed) for the scheduler; see
 * cache.h. Each change replaces the node's immutable nodeinfo by a modified
 * copy, so snapshots taken earlier stay valid. It holds no policy: what fits
 * is the plugins' business.
 *
 * Node entries sit on a list ordered by last change, each stamped with the
 * cache generation of that change (kube-scheduler's cache does the same), so
 * bringing a snapshot up to date walks only the nodes changed since it was
 * last updated; only a change in the set of nodes re-sorts the whole array.
 */
#include "scheduler/cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/strmap.h"

struct podloc {
        char *node;
        bool assumed;
};

struct node_entry {
        struct k8c_sched_nodeinfo *ni;
        uint64_t gen; /* cache generation of the last change */
        struct node_entry *prev, *next;
};

struct k8c_sched_cache {
        pthread_mutex_t lock;
        struct k8c_strmap nodes; /* name → struct node_entry * */
        struct k8c_strmap pods;  /* key → struct podloc * */
        size_t nassumed;
        struct node_entry *head; /* most recently changed first */
        uint64_t gen;            /* bumped on every node change */
        uint64_t set_gen;        /* bumped when a node object appears or goes */
        size_t nreal;            /* entries with a Node object */
};

struct k8c_sched_cache *k8c_sched_cache_new(void)
{
        struct k8c_sched_cache *c = k8c_xcalloc(1, sizeof(*c));
        pthread_mutex_init(&c->lock, NULL);
        k8c_strmap_init(&c->nodes);
        k8c_strmap_init(&c->pods);
        c->set_gen = 1; /* a fresh snapshot (generation 0) is always rebuilt */
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
        while (k8c_strmap_next(&c->nodes, &it, &k, &v)) {
                struct node_entry *e = v;
                k8c_sched_nodeinfo_unref(e->ni);
                free(e);
        }
        it = 0;
        while (k8c_strmap_next(&c->pods, &it, &k, &v))
                podloc_free(v);
        k8c_strmap_clear(&c->nodes);
        k8c_strmap_clear(&c->pods);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

static void unlink_entry(struct k8c_sched_cache *c, struct node_entry *e)
{
        if (e->prev != NULL)
                e->prev->next = e->next;
        else if (c->head == e)
                c->head = e->next;
        if (e->next != NULL)
                e->next->prev = e->prev;
        e->prev = e->next = NULL;
}

static struct k8c_sched_nodeinfo *get_node(struct k8c_sched_cache *c, const char *name)
{
        struct node_entry *e = NULL;
        return k8c_strmap_get(&c->nodes, name, (void **)&e) ? e->ni : NULL;
}

/* Installs ni (reference taken over) as name's nodeinfo and stamps the change. */
static void put_node(struct k8c_sched_cache *c, const char *name, struct k8c_sched_nodeinfo *ni)
{
        struct node_entry *e = NULL;
        if (!k8c_strmap_get(&c->nodes, name, (void **)&e)) {
                e = k8c_xcalloc(1, sizeof(*e));
                k8c_strmap_put(&c->nodes, name, e, NULL);
        }
        bool was_real = e->ni != NULL && e->ni->node != NULL, is_real = ni->node != NULL;
        if (was_real != is_real) {
                c->set_gen++;
                c->nreal = is_real ? c->nreal + 1 : c->nreal - 1;
        }
        k8c_sched_nodeinfo_unref(e->ni);
        e->ni = ni;
        e->gen = ++c->gen;
        unlink_entry(c, e);
        e->next = c->head;
        if (c->head != NULL)
                c->head->prev = e;
        c->head = e;
}

/* Drops an empty placeholder (no Node object, no pods). */
static void gc_node(struct k8c_sched_cache *c, const char *name)
{
        struct node_entry *e = NULL;
        if (k8c_strmap_get(&c->nodes, name, (void **)&e) && e->ni->node == NULL && e->ni->npods == 0) {
                k8c_strmap_del(&c->nodes, name, NULL);
                unlink_entry(c, e);
                k8c_sched_nodeinfo_unref(e->ni);
                free(e);
        }
}

void k8c_sched_cache_upsert_node(struct k8c_sched_cache *c, json_t *node)
{
        const char *name = json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
        if (name == NULL)
                return;
        pthread_mutex_lock(&c->lock);
        struct k8c_sched_nodeinfo *ni = get_node(c, name);
        if (ni != NULL)
                put_node(c, name, k8c_sched_nodeinfo_with_node(ni, node));
        else
                put_node(c, name, k8c_sched_nodeinfo_new(name, node));
        pthread_mutex_unlock(&c->lock);
}

void k8c_sched_cache_delete_node(struct k8c_sched_cache *c, const char *name)
{
        pthread_mutex_lock(&c->lock);
        struct k8c_sched_nodeinfo *ni = get_node(c, name);
        /* Pods may still be listed on it until their deletion is seen: keep a placeholder. */
        if (ni != NULL) {
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
        struct k8c_sched_nodeinfo *ni = get_node(c, l->node);
        if (ni != NULL) {
                put_node(c, l->node, k8c_sched_nodeinfo_without_pod(ni, key));
                gc_node(c, l->node);
        }
        if (l->assumed)
                c->nassumed--;
        podloc_free(l);
}

static void add_locked(struct k8c_sched_cache *c, struct k8c_sched_podinfo *pi, const char *node_name,
                       bool assumed)
{
        struct k8c_sched_nodeinfo *ni = get_node(c, node_name);
        if (ni == NULL) {
                put_node(c, node_name, k8c_sched_nodeinfo_new(node_name, NULL));
                ni = get_node(c, node_name);
        }
        put_node(c, node_name, k8c_sched_nodeinfo_with_pod(ni, pi));
        struct podloc *l = k8c_xcalloc(1, sizeof(*l));
        l->node = k8c_xstrdup(node_name);
        l->assumed = assumed;
        if (assumed)
                c->nassumed++;
        k8c_strmap_put(&c->pods, pi->key, l, NULL);
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
        bool counted = node != NULL && node[0] != '\0' && !finished;
        /* Parsed outside the lock: the scheduling loop waits on it for its snapshots. */
        struct k8c_sched_podinfo *pi = counted ? k8c_sched_podinfo_new(pod) : NULL;
        pthread_mutex_lock(&c->lock);
        remove_locked(c, key);
        if (counted)
                add_locked(c, pi, node, false);
        pthread_mutex_unlock(&c->lock);
        k8c_sched_podinfo_unref(pi);
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
        json_auto_t *copy = json_deep_copy(pod);
        json_t *spec = json_object_get(copy, "spec");
        if (!json_is_object(spec)) {
                spec = json_object();
                json_object_set_new(copy, "spec", spec);
        }
        json_object_set_new(spec, "nodeName", json_string(node_name));
        struct k8c_sched_podinfo *pi = k8c_sched_podinfo_new(copy);
        int r = k8c_sched_cache_assume_podinfo(c, pi, node_name, err);
        k8c_sched_podinfo_unref(pi);
        return r;
}

int k8c_sched_cache_assume_podinfo(struct k8c_sched_cache *c, struct k8c_sched_podinfo *pi,
                                   const char *node_name, k8c_error_t *err)
{
        pthread_mutex_lock(&c->lock);
        if (k8c_strmap_has(&c->pods, pi->key)) {
                pthread_mutex_unlock(&c->lock);
                return k8c_make_error(err, K8C_ECONFLICT, "pod %s is already in the scheduler cache",
                                      pi->key);
        }
        add_locked(c, pi, node_name, true);
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

static void rebuild_locked(struct k8c_sched_cache *c, struct k8c_sched_snapshot *s)
{
        for (size_t i = 0; i < s->n; i++)
                k8c_sched_nodeinfo_unref(s->nodes[i]);
        free(s->nodes);
        s->n = 0;
        s->nodes_with_anti = 0;
        s->nodes = k8c_xcalloc(c->nreal + 1, sizeof(*s->nodes));
        for (struct node_entry *e = c->head; e != NULL; e = e->next) {
                if (e->ni->node == NULL)
                        continue;
                s->nodes[s->n++] = k8c_sched_nodeinfo_ref(e->ni);
                s->nodes_with_anti += e->ni->nanti > 0;
        }
        qsort(s->nodes, s->n, sizeof(*s->nodes), cmp_ni);
}

void k8c_sched_cache_update_snapshot(struct k8c_sched_cache *c, struct k8c_sched_snapshot *s,
                                     json_t *services, json_t *replicasets)
{
        pthread_mutex_lock(&c->lock);
        bool rebuild = s->set_generation != c->set_gen;
        for (struct node_entry *e = c->head; !rebuild && e != NULL && e->gen > s->generation; e = e->next) {
                if (e->ni->node == NULL)
                        continue; /* placeholders are not in snapshots */
                ssize_t at = k8c_sched_snapshot_find(s, e->ni->name);
                if (at < 0)
                        rebuild = true; /* cannot happen while set_gen matches; be safe */
                else if (s->nodes[at] != e->ni)
                        k8c_sched_snapshot_set(s, (size_t)at, k8c_sched_nodeinfo_ref(e->ni));
        }
        if (rebuild)
                rebuild_locked(c, s);
        s->generation = c->gen;
        s->set_generation = c->set_gen;
        pthread_mutex_unlock(&c->lock);
        if (s->services != services) {
                json_decref(s->services);
                s->services = services != NULL ? json_incref(services) : NULL;
        }
        if (s->replicasets != replicasets) {
                json_decref(s->replicasets);
                s->replicasets = replicasets != NULL ? json_incref(replicasets) : NULL;
        }
}

struct k8c_sched_snapshot *k8c_sched_cache_snapshot(struct k8c_sched_cache *c, json_t *services,
                                                    json_t *replicasets)
{
        struct k8c_sched_snapshot *s = k8c_xcalloc(1, sizeof(*s));
        k8c_sched_cache_update_snapshot(c, s, services, replicasets);
        return s;
}

size_t k8c_sched_cache_num_nodes(struct k8c_sched_cache *c)
{
        pthread_mutex_lock(&c->lock);
        size_t n = 0, it = 0;
        const char *k;
        void *v;
        while (k8c_strmap_next(&c->nodes, &it, &k, &v))
                n += ((struct node_entry *)v)->ni->node != NULL;
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

/*
 * strmap.c - open-addressing string hash map (FNV-1a, linear probing,
 * tombstones, grows at 70% occupancy). Owns its key copies only.
 */
#include "k8c/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"

static uint64_t hash(const char *s)
{
        uint64_t h = 1469598103934665603ULL;
        for (; *s != '\0'; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        return h;
}

void k8c_strmap_init(struct k8c_strmap *m)
{
        memset(m, 0, sizeof(*m));
}

void k8c_strmap_clear(struct k8c_strmap *m)
{
        for (size_t i = 0; i < m->cap; i++)
                free(m->slots[i].key);
        free(m->slots);
        memset(m, 0, sizeof(*m));
}

static struct k8c_strmap_entry *lookup(const struct k8c_strmap *m, const char *key)
{
        if (m->cap == 0)
                return NULL;
        size_t mask = m->cap - 1;
        for (size_t i = hash(key) & mask, n = 0; n < m->cap; i = (i + 1) & mask, n++) {
                struct k8c_strmap_entry *e = &m->slots[i];
                if (e->key == NULL && !e->tombstone)
                        return NULL;
                if (e->key != NULL && strcmp(e->key, key) == 0)
                        return e;
        }
        return NULL;
}

static void insert_fresh(struct k8c_strmap *m, char *key, void *value)
{
        size_t mask = m->cap - 1;
        size_t i = hash(key) & mask;
        while (m->slots[i].key != NULL)
                i = (i + 1) & mask;
        if (!m->slots[i].tombstone)
                m->used++;
        m->slots[i].key = key;
        m->slots[i].value = value;
        m->slots[i].tombstone = false;
        m->len++;
}

static void grow(struct k8c_strmap *m)
{
        struct k8c_strmap old = *m;
        size_t cap = old.cap == 0 ? 16 : old.cap;
        while ((old.len + 1) * 10 >= cap * 5)
                cap *= 2;
        m->slots = k8c_xcalloc(cap, sizeof(*m->slots));
        m->cap = cap;
        m->len = 0;
        m->used = 0;
        for (size_t i = 0; i < old.cap; i++)
                if (old.slots[i].key != NULL)
                        insert_fresh(m, old.slots[i].key, old.slots[i].value);
        free(old.slots);
}

void k8c_strmap_put(struct k8c_strmap *m, const char *key, void *value, void **ret_old)
{
        struct k8c_strmap_entry *e = lookup(m, key);
        if (e != NULL) {
                if (ret_old != NULL)
                        *ret_old = e->value;
                e->value = value;
                return;
        }
        if (ret_old != NULL)
                *ret_old = NULL;
        if ((m->used + 1) * 10 >= m->cap * 7)
                grow(m);
        insert_fresh(m, k8c_xstrdup(key), value);
}

bool k8c_strmap_get(const struct k8c_strmap *m, const char *key, void **ret_value)
{
        struct k8c_strmap_entry *e = lookup(m, key);
        if (e == NULL)
                return false;
        if (ret_value != NULL)
                *ret_value = e->value;
        return true;
}

bool k8c_strmap_has(const struct k8c_strmap *m, const char *key)
{
        return lookup(m, key) != NULL;
}

bool k8c_strmap_del(struct k8c_strmap *m, const char *key, void **ret_value)
{
        struct k8c_strmap_entry *e = lookup(m, key);
        if (e == NULL)
                return false;
        if (ret_value != NULL)
                *ret_value = e->value;
        free(e->key);
        e->key = NULL;
        e->value = NULL;
        e->tombstone = true;
        m->len--;
        return true;
}

bool k8c_strmap_next(const struct k8c_strmap *m, size_t *iter, const char **ret_key, void **ret_value)
{
        for (; *iter < m->cap; (*iter)++) {
                struct k8c_strmap_entry *e = &m->slots[*iter];
                if (e->key != NULL) {
                        if (ret_key != NULL)
                                *ret_key = e->key;
                        if (ret_value != NULL)
                                *ret_value = e->value;
                        (*iter)++;
                        return true;
                }
        }
        return false;
}

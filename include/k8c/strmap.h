/*
 * strmap.h - a string-keyed hash map (open addressing, linear probing) for the
 * in-memory indexes of libk8c (work queue sets, informer stores). Not
 * thread-safe: callers hold their own lock. Keys are copied; values are opaque
 * pointers the map does not own.
 */
#ifndef K8C_STRMAP_H
#define K8C_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct k8c_strmap_entry {
        char *key; /* NULL = empty slot */
        void *value;
        bool tombstone;
};

struct k8c_strmap {
        struct k8c_strmap_entry *slots;
        size_t cap;  /* power of two */
        size_t len;  /* live entries */
        size_t used; /* live + tombstones */
};

void k8c_strmap_init(struct k8c_strmap *m);
/* Frees keys and slots; values are the caller's (iterate first to free them). */
void k8c_strmap_clear(struct k8c_strmap *m);
/* Inserts or replaces. Returns the previous value (or NULL) through ret_old when non-NULL. */
void k8c_strmap_put(struct k8c_strmap *m, const char *key, void *value, void **ret_old);
bool k8c_strmap_get(const struct k8c_strmap *m, const char *key, void **ret_value);
bool k8c_strmap_has(const struct k8c_strmap *m, const char *key);
/* Removes; returns true if it was present (its value through ret_value when non-NULL). */
bool k8c_strmap_del(struct k8c_strmap *m, const char *key, void **ret_value);
static inline size_t k8c_strmap_len(const struct k8c_strmap *m)
{
        return m->len;
}

/* Iteration: for (size_t i = 0; k8c_strmap_next(m, &i, &key, &value);) — do not modify the map
 * while iterating except through k8c_strmap_del of the current key. */
bool k8c_strmap_next(const struct k8c_strmap *m, size_t *iter, const char **ret_key, void **ret_value);

#endif

/*
 * informer.h - client-go's reflector + thread-safe store + shared informer.
 *
 * An informer lists a collection, then watches it from the list's
 * resourceVersion, keeping a local cache keyed "namespace/name" (or "name" for
 * cluster-scoped objects) with optional secondary indexes. On a 410 or a broken
 * stream it relists and emits the differences as add/update/delete; every
 * resync period it replays every object as an update. Handlers run on the
 * informer's thread and only ever see immutable objects: they must not modify
 * them (copy first) and should only enqueue keys.
 */
#ifndef K8C_INFORMER_H
#define K8C_INFORMER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "k8c/client.h"
#include "k8c/error.h"

struct k8c_informer;

struct k8c_informer_handlers {
        void (*on_add)(void *opaque, json_t *obj);
        void (*on_update)(void *opaque, json_t *old_obj, json_t *new_obj);
        void (*on_delete)(void *opaque, json_t *obj);
        void *opaque;
};

/* Returns the index values of obj (NULL-terminated, caller of the hook frees), or NULL. */
typedef char **(*k8c_index_fn)(const json_t *obj);

struct k8c_informer_config {
        struct k8c_client *client;  /* borrowed; must outlive the informer */
        const char *path;           /* collection path, e.g. "/api/v1/pods" or "/apis/apps/v1/replicasets" */
        const char *label_selector; /* optional */
        const char *field_selector; /* optional, e.g. "spec.nodeName=node-1" */
        int64_t resync_ms;          /* 0 = never */
        int64_t relist_backoff_ms;  /* wait after an error before relisting; 0 = 1000 */
};

struct k8c_informer *k8c_informer_new(const struct k8c_informer_config *cfg);
/* Before start only. */
void k8c_informer_add_handlers(struct k8c_informer *inf, const struct k8c_informer_handlers *h);
void k8c_informer_add_index(struct k8c_informer *inf, const char *name, k8c_index_fn fn);

int k8c_informer_start(struct k8c_informer *inf, k8c_error_t *err);
/* Stops the thread (the watch is interrupted within ~200 ms) and frees everything. */
void k8c_informer_free(struct k8c_informer *inf);

bool k8c_informer_has_synced(struct k8c_informer *inf);
bool k8c_informer_wait_synced(struct k8c_informer *inf, int timeout_ms);

/* Reads of the cache return new references (json_decref them). */
json_t *k8c_informer_get(struct k8c_informer *inf, const char *key);
json_t *k8c_informer_list(struct k8c_informer *inf); /* JSON array */
json_t *k8c_informer_by_index(struct k8c_informer *inf, const char *index, const char *value);
size_t k8c_informer_len(struct k8c_informer *inf);
/* The resourceVersion the cache is at. */
char *k8c_informer_resource_version(struct k8c_informer *inf);
/* Counters for tests and metrics. */
uint64_t k8c_informer_relists(struct k8c_informer *inf);

/* "namespace/name" or "name" of an object (caller frees); NULL without a name. */
char *k8c_object_key(const json_t *obj);

/* Index functions provided for common cases. */
char **k8c_index_by_namespace(const json_t *obj);
char **k8c_index_by_node_name(const json_t *obj); /* spec.nodeName */

/* The store the informer keeps, exposed so relist diffing can be unit-tested without a server:
 * applies a full list (JSON array of objects) as a relist would, calling the handlers for
 * differences. */
void k8c_informer_replace(struct k8c_informer *inf, json_t *items, const char *resource_version);
/* Applies one watch event as the watch loop would ("ADDED", "MODIFIED", "DELETED"). */
void k8c_informer_apply_event(struct k8c_informer *inf, const char *type, json_t *obj);

#endif

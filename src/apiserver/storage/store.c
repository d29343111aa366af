/*
 * store.c - backend selection and the helpers shared by every backend
 * (freeing kvs, lists and events). Backends live in sqlite.c and etcd.c.
 */
#include "k8c/store.h"

#include <stdlib.h>
#include <string.h>

void k8c_kv_free(struct k8c_kv *kv)
{
        if (kv == NULL)
                return;
        free(kv->key);
        free(kv->value);
        memset(kv, 0, sizeof(*kv));
}

void k8c_kv_list_free(struct k8c_kv_list *l)
{
        if (l == NULL)
                return;
        for (size_t i = 0; i < l->n; i++)
                k8c_kv_free(&l->items[i]);
        free(l->items);
        memset(l, 0, sizeof(*l));
}

void k8c_store_event_free(struct k8c_store_event *ev)
{
        if (ev == NULL)
                return;
        k8c_kv_free(&ev->kv);
        k8c_kv_free(&ev->prev);
        free(ev);
}

int k8c_store_open(const struct k8c_store_config *cfg, struct k8c_store **ret, k8c_error_t *err)
{
        const char *backend = cfg->backend != NULL ? cfg->backend : "sqlite";
        if (strcmp(backend, "sqlite") == 0)
                return k8c_store_sqlite_open(cfg, ret, err);
        if (strcmp(backend, "etcd") == 0)
                return k8c_store_etcd_open(cfg, ret, err);
        return k8c_make_error(err, K8C_EBADREQUEST, "unknown storage backend \"%s\" (want sqlite or etcd)",
                              backend);
}

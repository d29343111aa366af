/* etcd.c - etcd v3 backend (being written; see issue "Storage"). */
#include "k8c/store.h"

int k8c_store_etcd_open(const struct k8c_store_config *cfg, struct k8c_store **ret, k8c_error_t *err)
{
        return k8c_make_error(err, K8C_EUNAVAILABLE, "the etcd storage backend is not built yet");
}

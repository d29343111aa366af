/*
 * leader.h - leader election on a coordination.k8s.io/v1 Lease (client-go
 * leaderelection semantics): one holder at a time; the holder renews every
 * retry period; others take over once the lease has not been renewed for its
 * duration, as observed on their own clock.
 */
#ifndef K8C_LEADER_H
#define K8C_LEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "k8c/client.h"

struct k8c_leader_config {
        struct k8c_client *client;
        const char *namespace_;    /* "kube-system" */
        const char *name;          /* lease name, e.g. "k8c-scheduler" */
        const char *identity;      /* this candidate, e.g. hostname_pid */
        int64_t lease_duration_ms; /* default 15 s */
        int64_t renew_deadline_ms; /* default 10 s */
        int64_t retry_period_ms;   /* default 2 s */
        void (*on_started_leading)(void *opaque);
        void (*on_stopped_leading)(void *opaque);
        void *opaque;
};

struct k8c_leader;

/* Starts campaigning on a background thread. */
int k8c_leader_start(const struct k8c_leader_config *cfg, struct k8c_leader **ret, k8c_error_t *err);
bool k8c_leader_is_leader(struct k8c_leader *l);
/* Stops campaigning; a leader releases the lease (holderIdentity cleared) so another can take over at once.
 */
void k8c_leader_stop(struct k8c_leader *l);

#endif

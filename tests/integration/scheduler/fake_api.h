/*
 * fake_api.h - a recording fake API server for the scheduler suite (see fake_api.c).
 */
#ifndef K8C_TEST_SCHED_FAKE_API_H
#define K8C_TEST_SCHED_FAKE_API_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

struct fake_api {
        struct MHD_Daemon *daemon;
        int port;
        char url[64];
        volatile bool stopping;
        pthread_mutex_t lock;
        json_t *nodes, *pods;                       /* served lists (owned) */
        json_t *bindings, *events, *status_patches; /* recorded [{path, body}] */
        const char *reject_binding_of;              /* pod name whose bindings get 409 Conflict */
};

/* Takes ownership of nodes and pods (JSON arrays). */
int fake_api_start(struct fake_api *f, json_t *nodes, json_t *pods);
void fake_api_stop(struct fake_api *f);
/* A copy of one recorded array, taken under the lock. */
json_t *fake_api_snapshot(struct fake_api *f, json_t *which);

#endif

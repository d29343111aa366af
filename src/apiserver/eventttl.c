/*
 * eventttl.c - the Event TTL: a background thread that sweeps the stored core/v1
 * Events every period and deletes those whose last activity (the latest of
 * lastTimestamp, eventTime, series.lastObservedTime and metadata.creationTimestamp)
 * is older than --event-ttl (default 1h). kube-apiserver gets the same effect from
 * etcd leases granted at each write; a sweep works on every backend.
 *
 * Deletes are compare-and-swap on the revision that was read, so an Event updated
 * (its count bumped) during a sweep is left for the next one. This file owns only
 * the sweep thread; it must not serve HTTP or hold locks across storage calls.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/log.h"
#include "k8c/names.h"

extern const struct k8c_resource k8c_resource_events;

static void later(const json_t *obj, const char *path, time_t *t)
{
        const char *s = k8c_json_get_string(obj, path);
        time_t v;
        if (s != NULL && k8c_rfc3339_parse(s, &v) == 0 && v > *t)
                *t = v;
}

/* The time an Event was last active, or 0 when it has no readable timestamp. */
static time_t event_last_active(const json_t *ev)
{
        time_t t = 0;
        later(ev, "lastTimestamp", &t);
        later(ev, "eventTime", &t);
        later(ev, "series.lastObservedTime", &t);
        later(ev, "metadata.creationTimestamp", &t);
        return t;
}

int k8c_event_ttl_sweep(struct k8c_apiserver *srv, time_t now, k8c_error_t *err)
{
        struct k8c_kv_list l = { 0 };
        cleanup_free char *prefix = k8c_rest_key(&k8c_resource_events, NULL, NULL);
        int r = k8c_store_list(srv->store, prefix, &(struct k8c_list_opts){ 0 }, &l, err);
        if (r < 0)
                return r;
        int deleted = 0;
        for (size_t i = 0; i < l.n; i++) {
                json_auto_t *ev = NULL;
                if (k8c_rest_decode(&l.items[i], &ev, NULL) < 0)
                        continue;
                time_t last = event_last_active(ev);
                if (last == 0 || (int64_t)(now - last) * 1000 < srv->cfg.event_ttl_ms)
                        continue;
                struct k8c_kv kv = { 0 };
                cleanup_error k8c_error_t e = NULL;
                if (k8c_store_delete(srv->store, l.items[i].key, l.items[i].mod_revision, &kv, &e) >= 0)
                        deleted++;
                else if (k8c_error_reason(&e) != K8C_ENOTFOUND && k8c_error_reason(&e) != K8C_ECONFLICT)
                        k8c_log_warn("event ttl delete failed", "key=%s error=%s", l.items[i].key,
                                     k8c_error_msg(&e));
                k8c_kv_free(&kv);
        }
        k8c_kv_list_free(&l);
        return deleted;
}

static void *sweeper(void *arg)
{
        struct k8c_apiserver *srv = arg;
        int64_t period_ms = srv->cfg.event_ttl_ms / 2;
        if (period_ms < 100)
                period_ms = 100;
        if (period_ms > 60000)
                period_ms = 60000;
        pthread_mutex_lock(&srv->ttl_lock);
        while (!srv->ttl_stop) {
                struct timespec until;
                clock_gettime(CLOCK_MONOTONIC, &until);
                until.tv_sec += period_ms / 1000;
                until.tv_nsec += (period_ms % 1000) * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
                while (!srv->ttl_stop &&
                       pthread_cond_timedwait(&srv->ttl_cond, &srv->ttl_lock, &until) != ETIMEDOUT)
                        ;
                if (srv->ttl_stop)
                        break;
                pthread_mutex_unlock(&srv->ttl_lock);
                cleanup_error k8c_error_t err = NULL;
                int n = k8c_event_ttl_sweep(srv, time(NULL), &err);
                if (n < 0)
                        k8c_log_warn("event ttl sweep failed", "error=%s", k8c_error_msg(&err));
                else if (n > 0)
                        k8c_log_info("expired events deleted", "count=%d", n);
                pthread_mutex_lock(&srv->ttl_lock);
        }
        pthread_mutex_unlock(&srv->ttl_lock);
        return NULL;
}

int k8c_event_ttl_start(struct k8c_apiserver *srv, k8c_error_t *err)
{
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&srv->ttl_cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&srv->ttl_lock, NULL);
        srv->ttl_stop = false;
        int r = pthread_create(&srv->ttl_thread, NULL, sweeper, srv);
        if (r != 0) {
                pthread_cond_destroy(&srv->ttl_cond);
                pthread_mutex_destroy(&srv->ttl_lock);
                return k8c_make_error(err, K8C_EINTERNAL, "starting the event TTL thread: %s", strerror(r));
        }
        srv->ttl_running = true;
        return 0;
}

void k8c_event_ttl_stop(struct k8c_apiserver *srv)
{
        if (!srv->ttl_running)
                return;
        pthread_mutex_lock(&srv->ttl_lock);
        srv->ttl_stop = true;
        pthread_cond_signal(&srv->ttl_cond);
        pthread_mutex_unlock(&srv->ttl_lock);
        pthread_join(srv->ttl_thread, NULL);
        pthread_cond_destroy(&srv->ttl_cond);
        pthread_mutex_destroy(&srv->ttl_lock);
        srv->ttl_running = false;
}

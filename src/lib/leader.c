/*
 * leader.c - leader election on a Lease (client-go leaderelection): try to
 * acquire or renew every retry period with optimistic concurrency on the
 * Lease's resourceVersion; a candidate takes over only after the holder's
 * record has stayed unchanged for lease_duration on the candidate's own clock.
 */
#include "k8c/leader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"

struct k8c_leader {
        struct k8c_leader_config cfg;
        char *ns, *name, *identity;
        pthread_t thread;
        pthread_mutex_t lock;
        volatile bool stop;
        bool leading;
        char *observed_rv;
        int64_t observed_at_ms;
        int64_t last_renew_ms;
};

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void micro_time(char *buf, size_t n)
{
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        char base[32];
        strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, n, "%s.%06ldZ", base, (long)tv.tv_usec);
}

static void set_leading(struct k8c_leader *l, bool leading)
{
        pthread_mutex_lock(&l->lock);
        bool was = l->leading;
        l->leading = leading;
        pthread_mutex_unlock(&l->lock);
        if (leading && !was && l->cfg.on_started_leading != NULL)
                l->cfg.on_started_leading(l->cfg.opaque);
        if (!leading && was && l->cfg.on_stopped_leading != NULL)
                l->cfg.on_stopped_leading(l->cfg.opaque);
}

/* One acquire-or-renew attempt: 1 = we hold the lease, 0 = someone else does, <0 = error. */
static int try_acquire_or_renew(struct k8c_leader *l, k8c_error_t *err)
{
        cleanup_free char *coll = k8c_xasprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases", l->ns);
        cleanup_free char *path = k8c_xasprintf("%s/%s", coll, l->name);
        char now[40];
        micro_time(now, sizeof(now));
        int dur_s = (int)((l->cfg.lease_duration_ms + 999) / 1000);

        json_auto_t *lease = NULL;
        cleanup_error k8c_error_t gerr = NULL;
        int r = k8c_client_get(l->cfg.client, path, &lease, &gerr);
        if (r == -(int)K8C_ENOTFOUND) {
                json_auto_t *obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s, s:s, s:i}}",
                                             "apiVersion", "coordination.k8s.io/v1", "kind", "Lease",
                                             "metadata", "name", l->name, "namespace", l->ns, "spec",
                                             "holderIdentity", l->identity, "leaseDurationSeconds", dur_s,
                                             "acquireTime", now, "renewTime", now, "leaseTransitions", 0);
                r = k8c_client_post(l->cfg.client, coll, obj, NULL, err);
                return r < 0 ? r : 1;
        }
        if (r < 0) {
                *err = k8c_steal(&gerr);
                return r;
        }
        json_t *spec = k8c_json_object_ensure(lease, "spec");
        const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
        const char *rv =
                json_string_value(json_object_get(json_object_get(lease, "metadata"), "resourceVersion"));
        bool mine = holder != NULL && strcmp(holder, l->identity) == 0;
        if (rv != NULL && (l->observed_rv == NULL || strcmp(rv, l->observed_rv) != 0)) {
                free(l->observed_rv);
                l->observed_rv = k8c_xstrdup(rv);
                l->observed_at_ms = mono_ms();
        }
        json_int_t lease_dur = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
        if (lease_dur <= 0)
                lease_dur = dur_s;
        if (!mine && holder != NULL && holder[0] != '\0' &&
            mono_ms() < l->observed_at_ms + (int64_t)lease_dur * 1000)
                return 0;
        json_int_t transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
        if (!mine) {
                json_object_set_new(spec, "acquireTime", json_string(now));
                json_object_set_new(spec, "leaseTransitions", json_integer(transitions + 1));
        }
        json_object_set_new(spec, "holderIdentity", json_string(l->identity));
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(dur_s));
        json_object_set_new(spec, "renewTime", json_string(now));
        r = k8c_client_put(l->cfg.client, path, lease, NULL, err);
        if (r == -(int)K8C_ECONFLICT)
                return 0; /* someone else wrote first */
        return r < 0 ? r : 1;
}

static void release(struct k8c_leader *l)
{
        cleanup_free char *path =
                k8c_xasprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", l->ns, l->name);
        json_auto_t *lease = NULL;
        if (k8c_client_get(l->cfg.client, path, &lease, NULL) < 0)
                return;
        json_t *spec = k8c_json_object_ensure(lease, "spec");
        const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
        if (holder == NULL || strcmp(holder, l->identity) != 0)
                return;
        json_object_set_new(spec, "holderIdentity", json_string(""));
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
        k8c_client_put(l->cfg.client, path, lease, NULL, NULL);
}

static void *campaign(void *arg)
{
        struct k8c_leader *l = arg;
        while (!l->stop) {
                cleanup_error k8c_error_t err = NULL;
                int r = try_acquire_or_renew(l, &err);
                if (r == 1) {
                        l->last_renew_ms = mono_ms();
                        set_leading(l, true);
                } else if (k8c_leader_is_leader(l) &&
                           (r == 0 || mono_ms() - l->last_renew_ms > l->cfg.renew_deadline_ms)) {
                        set_leading(l, false);
                }
                for (int64_t waited = 0; waited < l->cfg.retry_period_ms && !l->stop; waited += 50)
                        usleep(50 * 1000);
        }
        if (k8c_leader_is_leader(l)) {
                release(l);
                set_leading(l, false);
        }
        return NULL;
}

int k8c_leader_start(const struct k8c_leader_config *cfg, struct k8c_leader **ret, k8c_error_t *err)
{
        if (cfg->client == NULL || cfg->name == NULL || cfg->identity == NULL)
                return k8c_make_error(err, K8C_EBADREQUEST,
                                      "leader election needs a client, a name and an identity");
        struct k8c_leader *l = k8c_xcalloc(1, sizeof(*l));
        l->cfg = *cfg;
        l->ns = k8c_xstrdup(cfg->namespace_ != NULL ? cfg->namespace_ : "kube-system");
        l->name = k8c_xstrdup(cfg->name);
        l->identity = k8c_xstrdup(cfg->identity);
        if (l->cfg.lease_duration_ms <= 0)
                l->cfg.lease_duration_ms = 15000;
        if (l->cfg.renew_deadline_ms <= 0)
                l->cfg.renew_deadline_ms = 10000;
        if (l->cfg.retry_period_ms <= 0)
                l->cfg.retry_period_ms = 2000;
        pthread_mutex_init(&l->lock, NULL);
        if (pthread_create(&l->thread, NULL, campaign, l) != 0) {
                free(l->ns);
                free(l->name);
                free(l->identity);
                free(l);
                return k8c_make_error(err, K8C_EINTERNAL, "cannot start the leader election thread");
        }
        *ret = l;
        return 0;
}

bool k8c_leader_is_leader(struct k8c_leader *l)
{
        pthread_mutex_lock(&l->lock);
        bool r = l->leading;
        pthread_mutex_unlock(&l->lock);
        return r;
}

void k8c_leader_stop(struct k8c_leader *l)
{
        if (l == NULL)
                return;
        l->stop = true;
        pthread_join(l->thread, NULL);
        pthread_mutex_destroy(&l->lock);
        free(l->observed_rv);
        free(l->ns);
        free(l->name);
        free(l->identity);
        free(l);
}

/*
 * events.c - the event recorder: creates core/v1 Events and folds repeats of
 * the same (object, type, reason, message) into one Event whose count and
 * lastTimestamp grow (PATCH), as client-go's EventCorrelator does.
 */
#include "k8c/events.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8c/cleanup.h"
#include "k8c/names.h"
#include "k8c/strmap.h"

struct seen_event {
        char *name;
        char *namespace_;
        int count;
};

struct k8c_event_recorder {
        struct k8c_client *client;
        char *component;
        char *host;
        pthread_mutex_t lock;
        struct k8c_strmap seen; /* aggregation key → struct seen_event * */
};

struct k8c_event_recorder *k8c_event_recorder_new(struct k8c_client *client, const char *component,
                                                  const char *host)
{
        struct k8c_event_recorder *r = k8c_xcalloc(1, sizeof(*r));
        r->client = client;
        r->component = k8c_xstrdup(component);
        r->host = host != NULL ? k8c_xstrdup(host) : NULL;
        pthread_mutex_init(&r->lock, NULL);
        k8c_strmap_init(&r->seen);
        return r;
}

void k8c_event_recorder_free(struct k8c_event_recorder *r)
{
        if (r == NULL)
                return;
        size_t it = 0;
        struct seen_event *se;
        while (k8c_strmap_next(&r->seen, &it, NULL, (void **)&se)) {
                free(se->name);
                free(se->namespace_);
                free(se);
        }
        k8c_strmap_clear(&r->seen);
        pthread_mutex_destroy(&r->lock);
        free(r->component);
        free(r->host);
        free(r);
}

json_t *k8c_object_reference(const json_t *obj)
{
        json_t *md = json_object_get(obj, "metadata");
        json_t *ref = json_object();
        static const char *const top[] = { "kind", "apiVersion" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(top); i++) {
                json_t *v = json_object_get(obj, top[i]);
                if (json_is_string(v))
                        json_object_set(ref, top[i], v);
        }
        static const char *const meta[] = { "namespace", "name", "uid", "resourceVersion" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(meta); i++) {
                json_t *v = json_object_get(md, meta[i]);
                if (json_is_string(v))
                        json_object_set(ref, meta[i], v);
        }
        return ref;
}

int k8c_event_record(struct k8c_event_recorder *r, const json_t *involved, const char *type,
                     const char *reason, k8c_error_t *err, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        cleanup_free char *message = NULL;
        if (vasprintf(&message, fmt, ap) < 0)
                abort();
        va_end(ap);

        json_auto_t *ref = k8c_object_reference(involved);
        const char *ns = json_string_value(json_object_get(ref, "namespace"));
        const char *name = json_string_value(json_object_get(ref, "name"));
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        if (ns == NULL || ns[0] == '\0')
                ns = "default"; /* events about cluster-scoped objects live in default */
        if (name == NULL)
                return k8c_make_error(err, K8C_EBADREQUEST, "event about an object without a name");
        char now[32];
        k8c_rfc3339(time(NULL), now, sizeof(now));
        cleanup_free char *agg =
                k8c_xasprintf("%s/%s/%s/%s/%s/%s", ns, name, uid != NULL ? uid : "", type, reason, message);

        pthread_mutex_lock(&r->lock);
        struct seen_event *se = NULL;
        bool repeat = k8c_strmap_get(&r->seen, agg, (void **)&se);
        cleanup_free char *ev_name = repeat ? k8c_xstrdup(se->name) : NULL;
        int count = repeat ? ++se->count : 1;
        pthread_mutex_unlock(&r->lock);

        if (repeat) {
                cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/%s/events/%s", ns, ev_name);
                json_auto_t *patch = json_pack("{s:i, s:s}", "count", count, "lastTimestamp", now);
                int rc = k8c_client_patch(r->client, path, "application/merge-patch+json", patch, NULL, err);
                if (rc != -(int)K8C_ENOTFOUND)
                        return rc;
                /* The event expired meanwhile: record it afresh. */
                pthread_mutex_lock(&r->lock);
                if (k8c_strmap_del(&r->seen, agg, (void **)&se)) {
                        free(se->name);
                        free(se->namespace_);
                        free(se);
                }
                pthread_mutex_unlock(&r->lock);
                count = 1;
        }

        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        cleanup_free char *gen =
                k8c_xasprintf("%s.%llx", name, (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec);
        json_auto_t *ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:O, s:s, s:s, s:s, s:i, s:s, s:s, s:{s:s}}",
                                    "apiVersion", "v1", "kind", "Event", "metadata", "name", gen, "namespace",
                                    ns, "involvedObject", ref, "reason", reason, "message", message, "type",
                                    type, "count", count, "firstTimestamp", now, "lastTimestamp", now,
                                    "source", "component", r->component);
        if (r->host != NULL)
                json_object_set_new(json_object_get(ev, "source"), "host", json_string(r->host));
        cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/%s/events", ns);
        int rc = k8c_client_post(r->client, path, ev, NULL, err);
        if (rc < 0)
                return rc;
        se = k8c_xcalloc(1, sizeof(*se));
        se->name = k8c_xstrdup(gen);
        se->namespace_ = k8c_xstrdup(ns);
        se->count = count;
        pthread_mutex_lock(&r->lock);
        struct seen_event *old = NULL;
        k8c_strmap_put(&r->seen, agg, se, (void **)&old);
        pthread_mutex_unlock(&r->lock);
        if (old != NULL) {
                free(old->name);
                free(old->namespace_);
                free(old);
        }
        return 0;
}

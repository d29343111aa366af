/*
 * fake_metrics.c - see fake_metrics.h. Pods come from the real apiserver on each
 * request; only the usage figures are made up.
 */
#include "fake_metrics.h"

#include <microhttpd.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8c/client.h"
#include "k8c/json.h"

static struct MHD_Daemon *daemon_;
static const struct k8c_test_apiserver *api_;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *totals; /* ns → milli */
static atomic_long requests;

void fake_metrics_set_total_cpu(const char *ns, long milli)
{
        pthread_mutex_lock(&lock);
        if (totals == NULL)
                totals = json_object();
        json_object_set_new(totals, ns, json_integer(milli));
        pthread_mutex_unlock(&lock);
}

long fake_metrics_requests(void)
{
        return atomic_load(&requests);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, char *body)
{
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "application/json");
        enum MHD_Result ret = MHD_queue_response(conn, code, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size,
                                  void **con_cls)
{
        char ns[128];
        if (strcmp(method, "GET") != 0 ||
            sscanf(url, "/apis/metrics.k8s.io/v1beta1/namespaces/%127[^/]/pods", ns) != 1)
                return reply(conn, 404, strdup("{\"kind\":\"Status\",\"code\":404,\"reason\":\"NotFound\"}"));
        const char *sel = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "labelSelector");
        char *esc = k8c_url_escape(sel != NULL ? sel : "");
        char path[512];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=%s", ns, esc);
        free(esc);
        struct k8c_test_http_reply r;
        if (k8c_test_http(api_, "GET", path, NULL, NULL, 0, NULL, &r) < 0 || r.code != 200) {
                k8c_test_http_reply_free(&r);
                return reply(conn, 503, strdup("{\"kind\":\"Status\",\"code\":503}"));
        }
        json_t *list = json_loads(r.body, 0, NULL);
        k8c_test_http_reply_free(&r);
        json_t *running = json_array();
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(list, "items"), i, p)
        {
                const char *phase = k8c_json_get_string(p, "status.phase");
                if (phase != NULL && strcmp(phase, "Running") == 0 &&
                    k8c_json_get(p, "metadata.deletionTimestamp") == NULL)
                        json_array_append(running, p);
        }
        pthread_mutex_lock(&lock);
        long total = totals != NULL ? (long)json_integer_value(json_object_get(totals, ns)) : 0;
        pthread_mutex_unlock(&lock);
        size_t n = json_array_size(running);
        long each = n > 0 ? total / (long)n : 0;
        char now[32];
        time_t t = time(NULL);
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
        json_t *items = json_array();
        json_array_foreach(running, i, p)
        {
                char cpu[32];
                snprintf(cpu, sizeof(cpu), "%ldm", each);
                json_array_append_new(
                        items, json_pack("{s:{s:s, s:s}, s:s, s:s, s:[{s:s, s:{s:s, s:s}}]}", "metadata",
                                         "name", k8c_json_get_string(p, "metadata.name"), "namespace", ns,
                                         "timestamp", now, "window", "30s", "containers", "name",
                                         k8c_json_get_string(p, "spec.containers[0].name"), "usage", "cpu",
                                         cpu, "memory", "10Mi"));
        }
        json_t *out = json_pack("{s:s, s:s, s:{}, s:o}", "kind", "PodMetricsList", "apiVersion",
                                "metrics.k8s.io/v1beta1", "metadata", "items", items);
        char *text = json_dumps(out, JSON_COMPACT);
        json_decref(out);
        json_decref(running);
        json_decref(list);
        atomic_fetch_add(&requests, 1);
        return reply(conn, 200, text);
}

int fake_metrics_start(const struct k8c_test_apiserver *api)
{
        api_ = api;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                                   NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
        if (daemon_ == NULL)
                return -1;
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
        return info != NULL ? (int)info->port : -1;
}

void fake_metrics_stop(void)
{
        if (daemon_ != NULL)
                MHD_stop_daemon(daemon_);
        daemon_ = NULL;
        pthread_mutex_lock(&lock);
        json_decref(totals);
        totals = NULL;
        pthread_mutex_unlock(&lock);
}

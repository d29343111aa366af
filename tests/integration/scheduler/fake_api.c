/*
 * fake_api.c - a minimal recording API server (libmicrohttpd, 127.0.0.1 only)
 * for the scheduler suite: serves fixed lists of nodes and pods, keeps watch
 * streams open and silent, and records every write (bindings, status
 * patches, events) so tests can check the exact requests the scheduler
 * sends, independently of the real apiserver's progress.
 */
#include "fake_api.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct upload {
        char *buf;
        size_t len;
};

static const char *list_kind(const char *url)
{
        if (strcmp(url, "/api/v1/nodes") == 0)
                return "NodeList";
        if (strcmp(url, "/api/v1/pods") == 0)
                return "PodList";
        if (strcmp(url, "/api/v1/services") == 0)
                return "ServiceList";
        if (strcmp(url, "/apis/apps/v1/replicasets") == 0)
                return "ReplicaSetList";
        return NULL;
}

static ssize_t silent_watch(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct fake_api *f = cls;
        /* Nothing ever changes: keep the stream open until the fake stops. */
        usleep(50 * 1000);
        return f->stopping ? MHD_CONTENT_READER_END_OF_STREAM : 0;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int code, json_t *body)
{
        char *s = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "application/json");
        enum MHD_Result ret = MHD_queue_response(conn, code, r);
        MHD_destroy_response(r);
        return ret;
}

static void record(struct fake_api *f, json_t *arr, const char *url, const char *body)
{
        json_t *b = json_loads(body != NULL ? body : "null", JSON_DECODE_ANY, NULL);
        pthread_mutex_lock(&f->lock);
        json_array_append_new(arr, json_pack("{s:s, s:o}", "path", url, "body", b != NULL ? b : json_null()));
        pthread_mutex_unlock(&f->lock);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls)
{
        struct fake_api *f = cls;
        struct upload *u = *con_cls;
        if (u == NULL) {
                u = calloc(1, sizeof(*u));
                *con_cls = u;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                u->buf = realloc(u->buf, u->len + *upload_data_size + 1);
                memcpy(u->buf + u->len, upload_data, *upload_data_size);
                u->len += *upload_data_size;
                u->buf[u->len] = '\0';
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (strcmp(method, "GET") == 0) {
                const char *kind = list_kind(url);
                if (kind == NULL)
                        return reply(conn, 404,
                                     json_pack("{s:s, s:s, s:i}", "kind", "Status", "reason", "NotFound",
                                               "code", 404));
                if (MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "watch") != NULL) {
                        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024,
                                                                                   silent_watch, f, NULL);
                        MHD_add_response_header(r, "Content-Type", "application/json");
                        enum MHD_Result ret = MHD_queue_response(conn, 200, r);
                        MHD_destroy_response(r);
                        return ret;
                }
                json_t *items = json_array();
                pthread_mutex_lock(&f->lock);
                if (strcmp(kind, "NodeList") == 0)
                        json_array_extend(items, f->nodes);
                else if (strcmp(kind, "PodList") == 0)
                        json_array_extend(items, f->pods);
                pthread_mutex_unlock(&f->lock);
                return reply(conn, 200,
                             json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", kind, "apiVersion", "v1",
                                       "metadata", "resourceVersion", "1", "items", items));
        }
        if (strcmp(method, "POST") == 0 && strstr(url, "/binding") != NULL) {
                record(f, f->bindings, url, u->buf);
                char rejected[128];
                snprintf(rejected, sizeof(rejected), "/pods/%s/binding", f->reject_binding_of ?: "");
                if (f->reject_binding_of != NULL && strstr(url, rejected) != NULL)
                        return reply(conn, 409,
                                     json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status",
                                               "apiVersion", "v1", "metadata", "status", "Failure", "message",
                                               "Operation cannot be fulfilled on pods/binding: conflict",
                                               "reason", "Conflict", "code", 409));
                return reply(conn, 201,
                             json_pack("{s:s, s:s, s:{}, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
                                       "metadata", "status", "Success", "code", 201));
        }
        if (strcmp(method, "POST") == 0 && strstr(url, "/events") != NULL) {
                record(f, f->events, url, u->buf);
                json_t *ev = json_loads(u->buf != NULL ? u->buf : "{}", 0, NULL);
                return reply(conn, 201, ev != NULL ? ev : json_object());
        }
        if (strcmp(method, "PATCH") == 0 && strstr(url, "/status") != NULL) {
                record(f, f->status_patches, url, u->buf);
                return reply(conn, 200, json_object());
        }
        if (strcmp(method, "PATCH") == 0 && strstr(url, "/events/") != NULL) {
                record(f, f->events, url, u->buf);
                return reply(conn, 200, json_object());
        }
        return reply(
                conn, 405,
                json_pack("{s:s, s:s, s:i}", "kind", "Status", "reason", "MethodNotAllowed", "code", 405));
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
        struct upload *u = *con_cls;
        if (u != NULL) {
                free(u->buf);
                free(u);
                *con_cls = NULL;
        }
}

int fake_api_start(struct fake_api *f, json_t *nodes, json_t *pods)
{
        const char *reject = f->reject_binding_of;
        memset(f, 0, sizeof(*f));
        f->reject_binding_of = reject;
        pthread_mutex_init(&f->lock, NULL);
        f->nodes = nodes;
        f->pods = pods;
        f->bindings = json_array();
        f->events = json_array();
        f->status_patches = json_array();
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        f->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                                     NULL, handle, f, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                                     MHD_OPTION_NOTIFY_COMPLETED, completed, f, MHD_OPTION_END);
        if (f->daemon == NULL)
                return -1;
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_BIND_PORT);
        f->port = info->port;
        snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
        return 0;
}

void fake_api_stop(struct fake_api *f)
{
        f->stopping = true;
        if (f->daemon != NULL)
                MHD_stop_daemon(f->daemon);
        f->daemon = NULL;
        json_decref(f->nodes);
        json_decref(f->pods);
        json_decref(f->bindings);
        json_decref(f->events);
        json_decref(f->status_patches);
        pthread_mutex_destroy(&f->lock);
}

json_t *fake_api_snapshot(struct fake_api *f, json_t *which)
{
        pthread_mutex_lock(&f->lock);
        json_t *c = json_deep_copy(which);
        pthread_mutex_unlock(&f->lock);
        return c;
}

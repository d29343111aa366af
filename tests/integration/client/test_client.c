/*
 * Integration tests of the client library (client.c, informer.c, events.c,
 * leader.c) against the real k8c-apiserver on loopback.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../common/apiserver_harness.h"
#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/events.h"
#include "k8c/informer.h"
#include "k8c/leader.h"

struct fixture {
        struct k8c_test_apiserver srv;
        struct k8c_client *client;
};

static int setup(void **state)
{
        struct fixture *f = k8c_xcalloc(1, sizeof(*f));
        if (k8c_test_apiserver_start(&f->srv, NULL) < 0) {
                free(f);
                return -1;
        }
        struct k8c_client_config cfg = { .server = f->srv.url, .max_retries = 2 };
        if (k8c_client_new(&cfg, &f->client, NULL) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        k8c_client_free(f->client);
        k8c_test_apiserver_stop(&f->srv);
        free(f);
        return 0;
}

static json_t *pod(const char *name, const char *node)
{
        json_t *p = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:[{s:s, s:s}]}}", "apiVersion", "v1", "kind",
                              "Pod", "metadata", "name", name, "labels", "app", "web", "spec", "containers",
                              "name", "c", "image", "busybox");
        if (node != NULL)
                json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(node));
        return p;
}

static void test_crud_and_errors(void **state)
{
        struct fixture *f = *state;
        json_auto_t *p = pod("crud-1", NULL);
        json_auto_t *created = NULL;
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p, &created, NULL), 0);
        const char *rv =
                json_string_value(json_object_get(json_object_get(created, "metadata"), "resourceVersion"));
        assert_non_null(rv);

        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p, NULL, &err),
                         -(int)K8C_EALREADYEXISTS);
        assert_string_equal(k8c_error_msg(&err), "pods \"crud-1\" already exists");

        assert_int_equal(k8c_client_get(f->client, "/api/v1/namespaces/default/pods/nope", NULL, &err),
                         -(int)K8C_ENOTFOUND);
        assert_string_equal(k8c_error_msg(&err), "pods \"nope\" not found");

        /* A stale resourceVersion is a Conflict. */
        json_auto_t *upd = json_deep_copy(created);
        json_object_set_new(json_object_get(upd, "metadata"), "labels", json_pack("{s:s}", "app", "v2"));
        json_auto_t *updated = NULL;
        assert_int_equal(
                k8c_client_put(f->client, "/api/v1/namespaces/default/pods/crud-1", upd, &updated, NULL), 0);
        assert_int_equal(k8c_client_put(f->client, "/api/v1/namespaces/default/pods/crud-1", upd, NULL, &err),
                         -(int)K8C_ECONFLICT);
        assert_non_null(strstr(k8c_error_msg(&err), "the object has been modified"));

        json_auto_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "tier", "fe");
        json_auto_t *patched = NULL;
        assert_int_equal(k8c_client_patch(f->client, "/api/v1/namespaces/default/pods/crud-1", NULL, patch,
                                          &patched, NULL),
                         0);
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_object_get(patched, "metadata"), "labels"), "tier")),
                            "fe");
        json_auto_t *opts = json_pack("{s:i}", "gracePeriodSeconds", 0);
        assert_int_equal(
                k8c_client_delete(f->client, "/api/v1/namespaces/default/pods/crud-1", opts, NULL, NULL), 0);

        /* An unreachable server is one clear error. */
        struct k8c_client *dead = NULL;
        struct k8c_client_config cfg = { .server = "http://127.0.0.1:1", .max_retries = 1 };
        assert_int_equal(k8c_client_new(&cfg, &dead, NULL), 0);
        assert_int_equal(k8c_client_get(dead, "/version", NULL, &err), -(int)K8C_EUNAVAILABLE);
        assert_non_null(strstr(k8c_error_msg(&err), "127.0.0.1:1"));
        k8c_client_free(dead);
        struct k8c_client_config bad = { .server = "127.0.0.1:6443" };
        assert_true(k8c_client_new(&bad, &dead, &err) < 0);
        assert_string_equal(k8c_error_msg(&err),
                            "invalid server \"127.0.0.1:6443\": must start with http:// or https://");
}

struct counts {
        atomic_int adds, updates, deletes;
};

static void c_add(void *o, json_t *obj)
{
        atomic_fetch_add(&((struct counts *)o)->adds, 1);
}
static void c_update(void *o, json_t *a, json_t *b)
{
        atomic_fetch_add(&((struct counts *)o)->updates, 1);
}
static void c_delete(void *o, json_t *obj)
{
        atomic_fetch_add(&((struct counts *)o)->deletes, 1);
}

static bool wait_for(atomic_int *v, int want, int ms)
{
        for (int i = 0; i < ms / 20; i++) {
                if (atomic_load(v) >= want)
                        return true;
                usleep(20000);
        }
        return atomic_load(v) >= want;
}

static void test_informer_list_watch(void **state)
{
        struct fixture *f = *state;
        for (int i = 0; i < 3; i++) {
                char name[32];
                snprintf(name, sizeof(name), "inf-%d", i);
                json_auto_t *p = pod(name, i == 0 ? "node-a" : "node-b");
                assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p, NULL, NULL),
                                 0);
        }
        struct counts c = { 0 };
        struct k8c_informer_config cfg = { .client = f->client,
                                           .path = "/api/v1/pods",
                                           .label_selector = "app=web" };
        struct k8c_informer *inf = k8c_informer_new(&cfg);
        struct k8c_informer_handlers h = { c_add, c_update, c_delete, &c };
        k8c_informer_add_handlers(inf, &h);
        k8c_informer_add_index(inf, "node", k8c_index_by_node_name);
        assert_int_equal(k8c_informer_start(inf, NULL), 0);
        assert_true(k8c_informer_wait_synced(inf, 10000));
        assert_int_equal(atomic_load(&c.adds), 3);
        json_auto_t *on_b = k8c_informer_by_index(inf, "node", "node-b");
        assert_int_equal(json_array_size(on_b), 2);

        /* Changes by another client arrive through the watch. */
        json_auto_t *p = pod("inf-new", "node-a");
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p, NULL, NULL), 0);
        assert_true(wait_for(&c.adds, 4, 5000));
        json_auto_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", "x", "y");
        assert_int_equal(
                k8c_client_patch(f->client, "/api/v1/namespaces/default/pods/inf-0", NULL, patch, NULL, NULL),
                0);
        assert_true(wait_for(&c.updates, 1, 5000));
        json_auto_t *opts = json_pack("{s:i}", "gracePeriodSeconds", 0);
        assert_int_equal(
                k8c_client_delete(f->client, "/api/v1/namespaces/default/pods/inf-1", opts, NULL, NULL), 0);
        assert_true(wait_for(&c.deletes, 1, 5000));
        json_auto_t *gone = k8c_informer_get(inf, "default/inf-1");
        assert_null(gone);
        json_auto_t *kept = k8c_informer_get(inf, "default/inf-0");
        assert_non_null(kept);
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_object_get(kept, "metadata"), "annotations"), "x")),
                            "y");
        /* A label change that stops matching the selector is a deletion for this informer. */
        json_auto_t *relabel = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "app", "other");
        assert_int_equal(k8c_client_patch(f->client, "/api/v1/namespaces/default/pods/inf-2", NULL, relabel,
                                          NULL, NULL),
                         0);
        assert_true(wait_for(&c.deletes, 2, 5000));
        assert_int_equal(k8c_informer_len(inf), 2);

        /* The server restarts: the informer relists and keeps serving the same state. */
        uint64_t relists = k8c_informer_relists(inf);
        assert_int_equal(k8c_test_apiserver_restart(&f->srv, NULL), 0);
        for (int i = 0; i < 250 && k8c_informer_relists(inf) == relists; i++)
                usleep(40000);
        assert_true(k8c_informer_relists(inf) > relists);
        assert_int_equal(k8c_informer_len(inf), 2);
        json_auto_t *after = pod("inf-after", NULL);
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", after, NULL, NULL), 0);
        assert_true(wait_for(&c.adds, 5, 5000));
        k8c_informer_free(inf);
}

static void test_events_aggregate(void **state)
{
        struct fixture *f = *state;
        json_auto_t *p = pod("ev-target", NULL);
        json_auto_t *created = NULL;
        assert_int_equal(k8c_client_post(f->client, "/api/v1/namespaces/default/pods", p, &created, NULL), 0);
        struct k8c_event_recorder *rec = k8c_event_recorder_new(f->client, "test-component", "host-1");
        assert_int_equal(
                k8c_event_record(rec, created, "Warning", "FailedScheduling", NULL, "no nodes: %d", 0), 0);
        assert_int_equal(
                k8c_event_record(rec, created, "Warning", "FailedScheduling", NULL, "no nodes: %d", 0), 0);
        assert_int_equal(k8c_event_record(rec, created, "Normal", "Scheduled", NULL, "assigned"), 0);
        json_auto_t *list = NULL;
        assert_int_equal(
                k8c_client_get(
                        f->client,
                        "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dev-target",
                        &list, NULL),
                0);
        json_t *items = json_object_get(list, "items");
        assert_int_equal(json_array_size(items), 2);
        size_t i;
        json_t *ev;
        int seen = 0;
        json_array_foreach(items, i, ev)
        {
                const char *reason = json_string_value(json_object_get(ev, "reason"));
                if (strcmp(reason, "FailedScheduling") == 0) {
                        assert_int_equal(json_integer_value(json_object_get(ev, "count")), 2);
                        assert_string_equal(json_string_value(json_object_get(ev, "message")), "no nodes: 0");
                        assert_string_equal(json_string_value(json_object_get(ev, "type")), "Warning");
                        seen++;
                } else {
                        assert_string_equal(reason, "Scheduled");
                        assert_int_equal(json_integer_value(json_object_get(ev, "count")), 1);
                        seen++;
                }
                assert_string_equal(
                        json_string_value(json_object_get(json_object_get(ev, "source"), "component")),
                        "test-component");
                assert_string_equal(
                        json_string_value(json_object_get(json_object_get(ev, "involvedObject"), "uid")),
                        json_string_value(json_object_get(json_object_get(created, "metadata"), "uid")));
        }
        assert_int_equal(seen, 2);
        k8c_event_recorder_free(rec);
}

static atomic_int started[2], stopped[2];
static void on_start0(void *o)
{
        atomic_fetch_add(&started[0], 1);
}
static void on_start1(void *o)
{
        atomic_fetch_add(&started[1], 1);
}
static void on_stop0(void *o)
{
        atomic_fetch_add(&stopped[0], 1);
}
static void on_stop1(void *o)
{
        atomic_fetch_add(&stopped[1], 1);
}

static void test_leader_election(void **state)
{
        struct fixture *f = *state;
        struct k8c_leader_config a = { .client = f->client,
                                       .namespace_ = "kube-system",
                                       .name = "test-lease",
                                       .identity = "cand-a",
                                       .lease_duration_ms = 2000,
                                       .renew_deadline_ms = 1500,
                                       .retry_period_ms = 200,
                                       .on_started_leading = on_start0,
                                       .on_stopped_leading = on_stop0 };
        struct k8c_leader_config b = a;
        b.identity = "cand-b";
        b.on_started_leading = on_start1;
        b.on_stopped_leading = on_stop1;
        struct k8c_leader *la = NULL, *lb = NULL;
        assert_int_equal(k8c_leader_start(&a, &la, NULL), 0);
        assert_true(wait_for(&started[0], 1, 5000));
        assert_int_equal(k8c_leader_start(&b, &lb, NULL), 0);
        sleep(1);
        /* Only one leader while the holder renews. */
        assert_true(k8c_leader_is_leader(la));
        assert_false(k8c_leader_is_leader(lb));
        json_auto_t *lease = NULL;
        assert_int_equal(
                k8c_client_get(f->client,
                               "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/test-lease",
                               &lease, NULL),
                0);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(lease, "spec"), "holderIdentity")),
                "cand-a");
        /* The leader steps down (releasing the lease): the other takes over. */
        k8c_leader_stop(la);
        assert_int_equal(atomic_load(&stopped[0]), 1);
        assert_true(wait_for(&started[1], 1, 6000));
        assert_true(k8c_leader_is_leader(lb));
        json_auto_t *lease2 = NULL;
        assert_int_equal(
                k8c_client_get(f->client,
                               "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/test-lease",
                               &lease2, NULL),
                0);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(lease2, "spec"), "holderIdentity")),
                "cand-b");
        assert_int_equal(
                json_integer_value(json_object_get(json_object_get(lease2, "spec"), "leaseTransitions")), 1);
        k8c_leader_stop(lb);
        assert_int_equal(atomic_load(&stopped[1]), 1);
}

struct patcher {
        struct fixture *f;
        int id;
        int failures;
};

static void *patch_loop(void *arg)
{
        struct patcher *p = arg;
        for (int i = 0; i < 15; i++) {
                char key[32];
                snprintf(key, sizeof(key), "w%d-%d", p->id, i);
                json_auto_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "labels", key, "x");
                cleanup_error k8c_error_t err = NULL;
                if (k8c_client_patch(p->f->client, "/api/v1/namespaces/default/configmaps/contended", NULL,
                                     patch, NULL, &err) < 0) {
                        fprintf(stderr, "patch %s: %s\n", key, k8c_error_msg(&err));
                        p->failures++;
                }
        }
        return NULL;
}

/* Concurrent merge patches of one object all succeed: the server redoes a patch that lost a
 * race instead of answering 409 (Kubernetes' GuaranteedUpdate). A patch carrying a stale
 * resourceVersion is still a Conflict. */
static void test_concurrent_patches(void **state)
{
        struct fixture *f = *state;
        json_auto_t *cm = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                                    "metadata", "name", "contended");
        json_auto_t *created = NULL;
        assert_int_equal(
                k8c_client_post(f->client, "/api/v1/namespaces/default/configmaps", cm, &created, NULL), 0);
        pthread_t th[6];
        struct patcher ps[6];
        for (int i = 0; i < 6; i++) {
                ps[i] = (struct patcher){ .f = f, .id = i };
                pthread_create(&th[i], NULL, patch_loop, &ps[i]);
        }
        int failures = 0;
        for (int i = 0; i < 6; i++) {
                pthread_join(th[i], NULL);
                failures += ps[i].failures;
        }
        assert_int_equal(failures, 0);
        json_auto_t *got = NULL;
        assert_int_equal(
                k8c_client_get(f->client, "/api/v1/namespaces/default/configmaps/contended", &got, NULL), 0);
        assert_int_equal(json_object_size(json_object_get(json_object_get(got, "metadata"), "labels")), 90);

        const char *stale =
                json_string_value(json_object_get(json_object_get(created, "metadata"), "resourceVersion"));
        json_auto_t *pre =
                json_pack("{s:{s:s, s:{s:s}}}", "metadata", "resourceVersion", stale, "labels", "late", "y");
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_client_patch(f->client, "/api/v1/namespaces/default/configmaps/contended", NULL,
                                          pre, NULL, &err),
                         -(int)K8C_ECONFLICT);
}

/* ---- a loopback TCP proxy that can hold new connections ----
 * The informer under test talks to the apiserver through it: while held, a new connection is
 * accepted but not forwarded, so the informer is "not watching" while the test changes things
 * through a direct client. It notes Expired answers passing through. */

#define PROXY_MAX_CONNS 64

struct proxy {
        int listen_fd, port, upstream_port;
        atomic_bool hold, stop;
        atomic_int expired_seen, conns;
        pthread_t acceptor;
        pthread_t threads[PROXY_MAX_CONNS];
        int fds[PROXY_MAX_CONNS];
        int nthreads;
};

struct proxy_conn {
        struct proxy *p;
        int fd;
};

static void *proxy_pump(void *arg)
{
        struct proxy_conn *pc = arg;
        struct proxy *p = pc->p;
        int cfd = pc->fd;
        free(pc);
        while (atomic_load(&p->hold) && !atomic_load(&p->stop))
                usleep(10000);
        int ufd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p->upstream_port) };
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (atomic_load(&p->stop) || ufd < 0 || connect(ufd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                if (ufd >= 0)
                        close(ufd);
                close(cfd);
                return NULL;
        }
        char buf[16384];
        struct pollfd pf[2] = { { .fd = cfd, .events = POLLIN }, { .fd = ufd, .events = POLLIN } };
        while (!atomic_load(&p->stop)) {
                int r = poll(pf, 2, 100);
                if (r < 0)
                        break;
                bool done = false;
                for (int i = 0; i < 2 && !done; i++) {
                        if (pf[i].revents == 0)
                                continue;
                        ssize_t n = read(pf[i].fd, buf, sizeof(buf) - 1);
                        if (n <= 0) {
                                done = true;
                                break;
                        }
                        buf[n] = '\0';
                        if (i == 1 && strstr(buf, "too old resource version") != NULL)
                                atomic_fetch_add(&p->expired_seen, 1);
                        for (ssize_t off = 0; off < n;) {
                                ssize_t w = write(pf[1 - i].fd, buf + off, (size_t)(n - off));
                                if (w <= 0) {
                                        done = true;
                                        break;
                                }
                                off += w;
                        }
                }
                if (done)
                        break;
        }
        close(ufd);
        close(cfd);
        return NULL;
}

static void *proxy_accept(void *arg)
{
        struct proxy *p = arg;
        struct pollfd pf = { .fd = p->listen_fd, .events = POLLIN };
        while (!atomic_load(&p->stop)) {
                if (poll(&pf, 1, 100) <= 0)
                        continue;
                int fd = accept(p->listen_fd, NULL, NULL);
                if (fd < 0)
                        continue;
                if (p->nthreads == PROXY_MAX_CONNS) {
                        close(fd);
                        continue;
                }
                struct proxy_conn *pc = k8c_xcalloc(1, sizeof(*pc));
                pc->p = p;
                pc->fd = fd;
                atomic_fetch_add(&p->conns, 1);
                if (pthread_create(&p->threads[p->nthreads], NULL, proxy_pump, pc) != 0) {
                        close(fd);
                        free(pc);
                        continue;
                }
                p->nthreads++;
        }
        return NULL;
}

static int proxy_start(struct proxy *p, int upstream_port)
{
        memset(p, 0, sizeof(*p));
        p->upstream_port = upstream_port;
        p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
            getsockname(p->listen_fd, (struct sockaddr *)&a, &len) < 0 || listen(p->listen_fd, 16) < 0)
                return -1;
        p->port = ntohs(a.sin_port);
        return pthread_create(&p->acceptor, NULL, proxy_accept, p) == 0 ? 0 : -1;
}

static void proxy_stop(struct proxy *p)
{
        atomic_store(&p->stop, true);
        pthread_join(p->acceptor, NULL);
        for (int i = 0; i < p->nthreads; i++)
                pthread_join(p->threads[i], NULL);
        close(p->listen_fd);
}

/* What the informer's handlers saw, as "TYPE name" lines. */
struct seen {
        pthread_mutex_t lock;
        json_t *events;
};

static void seen_add(struct seen *s, const char *type, json_t *obj)
{
        const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
        pthread_mutex_lock(&s->lock);
        json_array_append_new(s->events, json_sprintf("%s %s", type, name != NULL ? name : "?"));
        pthread_mutex_unlock(&s->lock);
}

static void s_add(void *o, json_t *obj)
{
        seen_add(o, "ADDED", obj);
}
static void s_update(void *o, json_t *a, json_t *b)
{
        seen_add(o, "MODIFIED", b);
}
static void s_delete(void *o, json_t *obj)
{
        seen_add(o, "DELETED", obj);
}

static size_t seen_len(struct seen *s)
{
        pthread_mutex_lock(&s->lock);
        size_t n = json_array_size(s->events);
        pthread_mutex_unlock(&s->lock);
        return n;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted events seen, joined by ", " (caller frees); clears the record. */
static char *seen_take(struct seen *s)
{
        pthread_mutex_lock(&s->lock);
        size_t n = json_array_size(s->events);
        const char **v = k8c_xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                v[i] = json_string_value(json_array_get(s->events, i));
        qsort(v, n, sizeof(char *), cmp_str);
        char *out = k8c_xstrdup("");
        for (size_t i = 0; i < n; i++) {
                char *j = k8c_xasprintf("%s%s%s", out, i ? ", " : "", v[i]);
                free(out);
                out = j;
        }
        free(v);
        json_array_clear(s->events);
        pthread_mutex_unlock(&s->lock);
        return out;
}

static json_t *relist_pod(const char *name)
{
        json_t *p = pod(name, NULL);
        json_object_set_new(json_object_get(json_object_get(p, "metadata"), "labels"), "app",
                            json_string("relist"));
        return p;
}

/* The informer's watch ends while the server restarts; its next watch is held back (the proxy)
 * while another client creates, modifies and deletes one pod each and enough other writes push
 * its resourceVersion out of the server's small watch window. Released, the watch gets 410
 * Expired: the informer relists and reports exactly those three changes. */
static const char *const small_window_args[] = { "--watch-cache-size=4", NULL };

/* Its own server (stopped by the teardown even when an assertion fails): a watch window of 4
 * events, so a few writes push an old resourceVersion out of it. */
static int setup_small_window(void **state)
{
        struct fixture *f = k8c_xcalloc(1, sizeof(*f));
        if (k8c_test_apiserver_start(&f->srv, small_window_args) < 0) {
                free(f);
                return -1;
        }
        struct k8c_client_config cfg = { .server = f->srv.url, .max_retries = 2 };
        if (k8c_client_new(&cfg, &f->client, NULL) < 0)
                return -1;
        *state = f;
        return 0;
}

/* The relist test's proxy lives outside the test's frame: when an assertion fails, its teardown
 * still stops the accepting thread (which would otherwise run on a dead stack frame). */
static struct proxy relist_px;
static bool relist_px_running;

static int relist_teardown(void **state)
{
        if (relist_px_running) {
                proxy_stop(&relist_px);
                relist_px_running = false;
        }
        return 0;
}

static void test_informer_relists_after_410(void **state)
{
        struct fixture *f = *state;
        const char *const *args = small_window_args;
        struct k8c_test_apiserver *srv = &f->srv;
        struct k8c_client *direct = f->client;
        const char *names[] = { "rl-keep", "rl-mod", "rl-del" };
        for (size_t i = 0; i < 3; i++) {
                json_auto_t *p = relist_pod(names[i]);
                assert_int_equal(k8c_client_post(direct, "/api/v1/namespaces/default/pods", p, NULL, NULL),
                                 0);
        }

        assert_int_equal(proxy_start(&relist_px, srv->port), 0);
        relist_px_running = true;
        char *purl = k8c_xasprintf("http://127.0.0.1:%d", relist_px.port);
        struct k8c_client *via_proxy = NULL;
        struct k8c_client_config pcfg = { .server = purl, .max_retries = 1 };
        assert_int_equal(k8c_client_new(&pcfg, &via_proxy, NULL), 0);
        struct seen seen = { .lock = PTHREAD_MUTEX_INITIALIZER, .events = json_array() };
        struct k8c_informer_config icfg = { .client = via_proxy,
                                            .path = "/api/v1/namespaces/default/pods",
                                            .label_selector = "app=relist",
                                            .relist_backoff_ms = 200 };
        struct k8c_informer *inf = k8c_informer_new(&icfg);
        struct k8c_informer_handlers h = { s_add, s_update, s_delete, &seen };
        k8c_informer_add_handlers(inf, &h);
        assert_int_equal(k8c_informer_start(inf, NULL), 0);
        assert_true(k8c_informer_wait_synced(inf, 20000));
        char *initial = seen_take(&seen);
        assert_string_equal(initial, "ADDED rl-del, ADDED rl-keep, ADDED rl-mod");
        free(initial);
        uint64_t relists = k8c_informer_relists(inf);
        assert_int_equal(relists, 1);

        /* The server restarts (ending the watch cleanly); the informer's next request waits. */
        atomic_store(&relist_px.hold, true);
        assert_int_equal(k8c_test_apiserver_restart(srv, args), 0);
        json_auto_t *created = relist_pod("rl-new");
        assert_int_equal(k8c_client_post(direct, "/api/v1/namespaces/default/pods", created, NULL, NULL), 0);
        json_auto_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", "changed", "yes");
        assert_int_equal(
                k8c_client_patch(direct, "/api/v1/namespaces/default/pods/rl-mod", NULL, patch, NULL, NULL),
                0);
        json_auto_t *opts = json_pack("{s:i}", "gracePeriodSeconds", 0);
        assert_int_equal(
                k8c_client_delete(direct, "/api/v1/namespaces/default/pods/rl-del", opts, NULL, NULL), 0);
        for (int i = 0; i < 10; i++) {
                char name[32];
                snprintf(name, sizeof(name), "filler-%d", i);
                json_auto_t *cm = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                                            "metadata", "name", name);
                assert_int_equal(
                        k8c_client_post(direct, "/api/v1/namespaces/default/configmaps", cm, NULL, NULL), 0);
        }
        /* Nothing reached the informer meanwhile. */
        assert_int_equal(seen_len(&seen), 0);
        assert_int_equal(k8c_informer_relists(inf), relists);
        assert_int_equal(atomic_load(&relist_px.expired_seen), 0);

        atomic_store(&relist_px.hold, false);
        for (int i = 0; i < 500 && (k8c_informer_relists(inf) == relists || seen_len(&seen) < 3); i++)
                usleep(40000);
        /* The resumed watch was answered 410 Expired, hence the relist. */
        assert_true(atomic_load(&relist_px.expired_seen) >= 1);
        assert_int_equal(k8c_informer_relists(inf), relists + 1);
        /* A late extra event would show within this time. */
        usleep(300000);
        char *after = seen_take(&seen);
        assert_string_equal(after, "ADDED rl-new, DELETED rl-del, MODIFIED rl-mod");
        free(after);
        assert_int_equal(k8c_informer_len(inf), 3);
        json_auto_t *mod = k8c_informer_get(inf, "default/rl-mod");
        assert_non_null(mod);
        assert_string_equal(
                json_string_value(json_object_get(
                        json_object_get(json_object_get(mod, "metadata"), "annotations"), "changed")),
                "yes");

        k8c_informer_free(inf);
        relist_teardown(NULL);
        json_decref(seen.events);
        k8c_client_free(via_proxy);
        free(purl);
}

static int count_tables(void *opaque, const char *type, json_t *object)
{
        const char *kind = json_string_value(json_object_get(object, "kind"));
        if (strcmp(type, "ADDED") == 0 && kind != NULL && strcmp(kind, "Table") == 0)
                (*(int *)opaque)++;
        return 0;
}

/* Request options: kubectl's Table Accept, a raw (YAML) body with its content type, and a watch
 * whose non-200 reply is handed back. */
static void test_request_options(void **state)
{
        struct fixture *f = *state;
        const char *yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: raw-1\ndata:\n  k: v\n";
        const struct k8c_request_opts post = { .content_type = "application/yaml",
                                               .raw_body = yaml,
                                               .raw_body_len = strlen(yaml) };
        struct k8c_response resp = { 0 };
        assert_int_equal(k8c_client_do_opts(f->client, "POST", "/api/v1/namespaces/default/configmaps", NULL,
                                            &post, &resp, NULL),
                         0);
        assert_int_equal(resp.code, 201);
        assert_string_equal(json_string_value(json_object_get(json_object_get(resp.body, "data"), "k")), "v");
        k8c_response_free(&resp);

        const struct k8c_request_opts table = { .accept = "application/json;as=Table;v=v1;g=meta.k8s.io,"
                                                          "application/json" };
        assert_int_equal(k8c_client_do_opts(f->client, "GET", "/api/v1/namespaces/default/configmaps", NULL,
                                            &table, &resp, NULL),
                         0);
        assert_string_equal(json_string_value(json_object_get(resp.body, "kind")), "Table");
        size_t rows = json_array_size(json_object_get(resp.body, "rows"));
        assert_true(rows >= 1);
        k8c_response_free(&resp);

        int tables = 0;
        struct k8c_response reply = { 0 };
        assert_int_equal(
                k8c_client_watch_opts(f->client,
                                      "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1",
                                      &table, count_tables, &tables, NULL, &reply, NULL),
                0);
        assert_int_equal(reply.code, 200);
        assert_int_equal(tables, (int)rows); /* one Table per object in the initial burst */
        k8c_response_free(&reply);

        cleanup_error k8c_error_t err = NULL;
        assert_true(k8c_client_watch_opts(f->client, "/api/v1/namespaces/default/nothings?watch=true", &table,
                                          count_tables, &tables, NULL, &reply, &err) < 0);
        assert_int_equal(reply.code, 404);
        assert_string_equal(json_string_value(json_object_get(reply.body, "kind")), "Status");
        k8c_response_free(&reply);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_crud_and_errors),    cmocka_unit_test(test_informer_list_watch),
                cmocka_unit_test(test_events_aggregate),   cmocka_unit_test(test_leader_election),
                cmocka_unit_test(test_concurrent_patches), cmocka_unit_test(test_request_options),
        };
        const struct CMUnitTest relist_tests[] = {
                cmocka_unit_test_teardown(test_informer_relists_after_410, relist_teardown),
        };
        int failed = cmocka_run_group_tests_name("client", tests, setup, teardown);
        failed += cmocka_run_group_tests_name("client_small_watch_window", relist_tests, setup_small_window,
                                              teardown);
        return failed;
}

/*
 * probes.c - container probes: liveness, readiness and startup, each with an
 * exec (runc exec through the runtime), httpGet (libcurl) or tcpSocket
 * handler, run on their own timers.
 *
 * One scheduler thread keeps every probe's next due time (monotonic clock)
 * and hands due probes to a small pool of executor threads, so a slow
 * httpGet holds one executor for at most its timeout and never a pod worker.
 * A probe is never run twice at once. Results follow the kubelet's rules
 * (thresholds of consecutive outcomes; liveness starts Success, readiness
 * Failure, startup Unknown; startup holds the others off until it succeeds);
 * a result that flips calls changed(pod key) so the pod worker acts on it.
 * Network probes connect from the pod's network namespace: the socket is
 * made there by the executor thread (setns affects that thread only) and
 * used from the kubelet's, so the pod IP is reached whatever the node's
 * routing.
 *
 * Owns: the probe workers and their threads. Must not: stop or start
 * containers (the pod worker does, on the results), or block pod workers.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/client.h"
#include "k8c/events.h"
#include "k8c/json.h"
#include "k8c/log.h"
#include "kubelet/kubelet_int.h"

/* ---- pure parts ---- */

static int64_t at_least(int64_t v, int64_t min)
{
        return v < min ? min : v;
}

void k8c_probe_spec_parse(const json_t *probe, k8c_probe_kind_t kind, struct k8c_probe_spec *ret)
{
        ret->initial_delay_s = at_least(k8c_json_get_int(probe, "initialDelaySeconds", 0), 0);
        ret->period_s = at_least(k8c_json_get_int(probe, "periodSeconds", 10), 1);
        ret->timeout_s = at_least(k8c_json_get_int(probe, "timeoutSeconds", 1), 1);
        ret->success_threshold = at_least(k8c_json_get_int(probe, "successThreshold", 1), 1);
        /* Liveness and startup probes must have successThreshold 1 (validation enforces it). */
        if (kind != K8C_PROBE_READINESS)
                ret->success_threshold = 1;
        ret->failure_threshold = at_least(k8c_json_get_int(probe, "failureThreshold", 3), 1);
        const json_t *g = json_object_get(probe, "terminationGracePeriodSeconds");
        ret->termination_grace_s =
                kind != K8C_PROBE_READINESS && json_is_integer(g) ? at_least(json_integer_value(g), 0) : -1;
}

void k8c_probe_state_init(struct k8c_probe_state *s, k8c_probe_kind_t kind)
{
        s->successes = s->failures = 0;
        s->result = kind == K8C_PROBE_LIVENESS    ? K8C_PROBE_SUCCESS
                    : kind == K8C_PROBE_READINESS ? K8C_PROBE_FAILURE
                                                  : K8C_PROBE_UNKNOWN;
}

bool k8c_probe_state_record(struct k8c_probe_state *s, const struct k8c_probe_spec *spec, bool ok)
{
        k8c_probe_result_t before = s->result;
        if (ok) {
                s->failures = 0;
                if (++s->successes >= spec->success_threshold)
                        s->result = K8C_PROBE_SUCCESS;
        } else {
                s->successes = 0;
                if (++s->failures >= spec->failure_threshold)
                        s->result = K8C_PROBE_FAILURE;
        }
        return s->result != before;
}

int k8c_probe_port(const json_t *container, const json_t *port, int *ret_port, k8c_error_t *err)
{
        if (json_is_integer(port)) {
                json_int_t n = json_integer_value(port);
                if (n < 1 || n > 65535)
                        return k8c_make_error(err, K8C_EINVALID, "invalid port %lld", (long long)n);
                *ret_port = (int)n;
                return 0;
        }
        const char *name = json_string_value(port);
        if (name == NULL || name[0] == '\0')
                return k8c_make_error(err, K8C_EINVALID, "probe without a port");
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(container, "ports"), i, p)
        {
                const char *n = json_string_value(json_object_get(p, "name"));
                json_int_t cp = json_integer_value(json_object_get(p, "containerPort"));
                if (n != NULL && strcmp(n, name) == 0 && cp >= 1 && cp <= 65535) {
                        *ret_port = (int)cp;
                        return 0;
                }
        }
        return k8c_make_error(err, K8C_EINVALID, "port %s not found in the container's ports", name);
}

int k8c_probe_http_url(const json_t *container, const json_t *http_get, const char *pod_ip, char **ret_url,
                       k8c_error_t *err)
{
        int port;
        int r = k8c_probe_port(container, json_object_get(http_get, "port"), &port, err);
        if (r < 0)
                return r;
        const char *host = json_string_value(json_object_get(http_get, "host"));
        if (host == NULL || host[0] == '\0')
                host = pod_ip;
        if (host == NULL)
                return k8c_make_error(err, K8C_EINVALID, "no host to probe (the pod has no IP yet)");
        const char *scheme = json_string_value(json_object_get(http_get, "scheme"));
        if (scheme == NULL || scheme[0] == '\0')
                scheme = "HTTP";
        if (strcasecmp(scheme, "HTTP") != 0 && strcasecmp(scheme, "HTTPS") != 0)
                return k8c_make_error(err, K8C_EINVALID, "unsupported scheme %s", scheme);
        const char *path = json_string_value(json_object_get(http_get, "path"));
        if (path == NULL)
                path = "";
        bool v6 = strchr(host, ':') != NULL;
        *ret_url = k8c_xasprintf("%s://%s%s%s:%d%s%s", strcasecmp(scheme, "HTTPS") == 0 ? "https" : "http",
                                 v6 ? "[" : "", host, v6 ? "]" : "", port, path[0] == '/' ? "" : "/", path);
        return 0;
}

bool k8c_probe_supported(const json_t *probe)
{
        const json_t *cmd = k8c_json_get(probe, "exec.command");
        return (json_is_array(cmd) && json_array_size(cmd) > 0) ||
               json_is_object(json_object_get(probe, "httpGet")) ||
               json_is_object(json_object_get(probe, "tcpSocket"));
}

/* ---- handlers ---- */

/* What one run of a probe needs, copied out of the worker so it runs without the lock. */
struct probe_run {
        k8c_probe_kind_t kind;
        json_t *pod, *container, *probe;
        char *name, *pod_ip, *netns;
        int64_t timeout_s;
        const struct k8c_runtime_ops *ops;
        void *rt;
};

/* A socket made in the network namespace at netns (NULL: this one), usable from any. */
static int socket_in_netns(const char *netns, int domain, int type, int protocol, k8c_error_t *err)
{
        if (netns == NULL) {
                int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
                return fd < 0 ? k8c_make_errno(err, errno, "socket") : fd;
        }
        cleanup_close int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return k8c_make_errno(err, errno, "open own netns");
        cleanup_close int target = open(netns, O_RDONLY | O_CLOEXEC);
        if (target < 0)
                return k8c_make_errno(err, errno, "open %s", netns);
        if (setns(target, CLONE_NEWNET) < 0)
                return k8c_make_errno(err, errno, "enter %s", netns);
        int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
        int saved = errno;
        /* A thread left in a pod's namespace would make every later socket there: fatal. */
        if (setns(self, CLONE_NEWNET) < 0)
                abort();
        return fd < 0 ? k8c_make_errno(err, saved, "socket in %s", netns) : fd;
}

struct sock_ctx {
        const char *netns;
        char error[256];
};

static curl_socket_t open_socket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
        struct sock_ctx *ctx = clientp;
        cleanup_error k8c_error_t err = NULL;
        int fd = socket_in_netns(ctx->netns, addr->family, addr->socktype, addr->protocol, &err);
        if (fd < 0) {
                snprintf(ctx->error, sizeof(ctx->error), "%s", k8c_error_msg(&err));
                return CURL_SOCKET_BAD;
        }
        return fd;
}

static size_t discard_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        return size * nmemb;
}

static bool run_http(const struct probe_run *pr, const json_t *hg, char **ret_msg)
{
        cleanup_error k8c_error_t err = NULL;
        cleanup_free char *url = NULL;
        if (k8c_probe_http_url(pr->container, hg, pr->pod_ip, &url, &err) < 0) {
                *ret_msg = k8c_xstrdup(k8c_error_msg(&err));
                return false;
        }
        CURL *h = curl_easy_init();
        if (h == NULL) {
                *ret_msg = k8c_xstrdup("curl_easy_init failed");
                return false;
        }
        struct curl_slist *headers = NULL;
        headers = curl_slist_append(headers, "User-Agent: kube-probe/1.32");
        headers = curl_slist_append(headers, "Accept: */*");
        size_t i;
        json_t *hdr;
        json_array_foreach(json_object_get(hg, "httpHeaders"), i, hdr)
        {
                const char *n = json_string_value(json_object_get(hdr, "name"));
                const char *v = json_string_value(json_object_get(hdr, "value"));
                if (n == NULL || n[0] == '\0')
                        continue;
                cleanup_free char *line =
                        v != NULL && v[0] != '\0' ? k8c_xasprintf("%s: %s", n, v) : k8c_xasprintf("%s;", n);
                headers = curl_slist_append(headers, line);
        }
        struct sock_ctx ctx = { .netns = pr->netns };
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(pr->timeout_s * 1000));
        curl_easy_setopt(h, CURLOPT_PROXY, "");          /* never through a proxy from the environment */
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L); /* as the kubelet: no verification */
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &ctx);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
        CURLcode rc = curl_easy_perform(h);
        long code = 0;
        if (rc == CURLE_OK)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(h);
        curl_slist_free_all(headers);
        if (rc != CURLE_OK) {
                *ret_msg = k8c_xasprintf("Get \"%s\": %s%s%s", url, curl_easy_strerror(rc),
                                         ctx.error[0] != '\0' ? ": " : "", ctx.error);
                return false;
        }
        /* 200-399 pass; redirects are not followed (a 3xx is a success, as for the kubelet when the
         * redirect leaves the host). */
        if (code >= 200 && code < 400)
                return true;
        *ret_msg = k8c_xasprintf("HTTP probe failed with statuscode: %ld", code);
        return false;
}

static bool run_tcp(const struct probe_run *pr, const json_t *ts, char **ret_msg)
{
        cleanup_error k8c_error_t err = NULL;
        int port;
        if (k8c_probe_port(pr->container, json_object_get(ts, "port"), &port, &err) < 0) {
                *ret_msg = k8c_xstrdup(k8c_error_msg(&err));
                return false;
        }
        const char *host = json_string_value(json_object_get(ts, "host"));
        if (host == NULL || host[0] == '\0')
                host = pr->pod_ip;
        if (host == NULL) {
                *ret_msg = k8c_xstrdup("no host to probe (the pod has no IP yet)");
                return false;
        }
        char portbuf[8];
        snprintf(portbuf, sizeof(portbuf), "%d", port);
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
        struct addrinfo *ai = NULL;
        int gr = getaddrinfo(host, portbuf, &hints, &ai);
        if (gr != 0) {
                *ret_msg = k8c_xasprintf("dial tcp %s:%d: %s", host, port, gai_strerror(gr));
                return false;
        }
        cleanup_close int fd = socket_in_netns(pr->netns, ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK,
                                               ai->ai_protocol, &err);
        int cr = fd >= 0 ? connect(fd, ai->ai_addr, ai->ai_addrlen) : -1;
        int saved = errno;
        freeaddrinfo(ai);
        if (fd < 0) {
                *ret_msg = k8c_xstrdup(k8c_error_msg(&err));
                return false;
        }
        if (cr < 0 && saved == EINPROGRESS) {
                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                int pr_ = poll(&pfd, 1, (int)(pr->timeout_s * 1000));
                if (pr_ == 0) {
                        *ret_msg = k8c_xasprintf("dial tcp %s:%d: i/o timeout", host, port);
                        return false;
                }
                socklen_t len = sizeof(saved);
                if (pr_ < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &saved, &len) < 0)
                        saved = errno;
                cr = saved == 0 ? 0 : -1;
        }
        if (cr < 0) {
                *ret_msg = k8c_xasprintf("dial tcp %s:%d: connect: %s", host, port, strerror(saved));
                return false;
        }
        return true;
}

static bool run_exec(const struct probe_run *pr, const char *const *argv, char **ret_msg)
{
        if (pr->ops->exec == NULL) {
                *ret_msg = k8c_xstrdup("the runtime cannot exec");
                return false;
        }
        int code = -1;
        cleanup_error k8c_error_t err = NULL;
        int r = pr->ops->exec(pr->rt, pr->pod, pr->name, argv, (int)pr->timeout_s, &code, &err);
        if (r < 0) {
                *ret_msg = k8c_xasprintf("command failed: %s", k8c_error_msg(&err));
                return false;
        }
        if (code != 0) {
                *ret_msg = k8c_xasprintf("command \"%s\" exited with %d", argv[0], code);
                return false;
        }
        return true;
}

/* One run of the probe's handler; *ret_msg (owned) says why it failed. */
static bool run_probe(const struct probe_run *pr, char **ret_msg)
{
        const json_t *cmd = k8c_json_get(pr->probe, "exec.command");
        if (json_is_array(cmd) && json_array_size(cmd) > 0) {
                cleanup_free const char **argv = k8c_xcalloc(json_array_size(cmd) + 1, sizeof(char *));
                size_t i;
                json_t *a;
                json_array_foreach(cmd, i, a) argv[i] = json_string_value(a) ?: "";
                return run_exec(pr, argv, ret_msg);
        }
        const json_t *hg = json_object_get(pr->probe, "httpGet");
        const json_t *ts = json_object_get(pr->probe, "tcpSocket");
        if (pr->netns == NULL) {
                /* A runtime without a network of its own answers network probes itself. */
                cleanup_error k8c_error_t err = NULL;
                cleanup_free char *target = NULL;
                int port = 0;
                if (hg != NULL && k8c_probe_http_url(pr->container, hg, pr->pod_ip, &target, &err) < 0) {
                        *ret_msg = k8c_xstrdup(k8c_error_msg(&err));
                        return false;
                }
                if (hg == NULL &&
                    k8c_probe_port(pr->container, json_object_get(ts, "port"), &port, &err) < 0) {
                        *ret_msg = k8c_xstrdup(k8c_error_msg(&err));
                        return false;
                }
                if (target == NULL)
                        target = k8c_xasprintf("%s:%d", pr->pod_ip ?: "", port);
                const char *argv[] = { "k8c-probe", hg != NULL ? "httpGet" : "tcpSocket", target, NULL };
                return run_exec(pr, argv, ret_msg);
        }
        if (hg != NULL)
                return run_http(pr, hg, ret_msg);
        return run_tcp(pr, ts, ret_msg);
}

/* ---- the prober ---- */

static const char *const kind_keys[] = { "livenessProbe", "readinessProbe", "startupProbe" };
static const char *const kind_titles[] = { "Liveness", "Readiness", "Startup" };
static const char *const kind_names[] = { "liveness", "readiness", "startup" };

struct probe_worker {
        char *key; /* "uid/container/kind" */
        char *pod_key, *uid, *name, *container_id, *pod_ip, *netns;
        k8c_probe_kind_t kind;
        json_t *pod, *container, *probe;
        const struct k8c_runtime_ops *ops;
        void *rt;
        struct k8c_probe_spec spec;
        struct k8c_probe_state state;
        uint64_t generation; /* bumped when the container instance changes: older runs are ignored */
        int64_t next_ms;     /* monotonic */
        bool running;        /* handed to an executor */
        bool removed;        /* forgotten while running: the executor frees it */
        bool on_hold;        /* liveness/startup failed, or startup succeeded: no more runs */
        struct probe_worker *next_due;
};

struct k8c_prober {
        pthread_mutex_t lock;
        pthread_cond_t sched_cond; /* monotonic: wakes the scheduler */
        pthread_cond_t work_cond;  /* wakes executors */
        struct k8c_strmap workers; /* key → struct probe_worker */
        struct probe_worker *due_head, *due_tail;
        bool stopping;
        pthread_t sched;
        pthread_t *execs;
        int nexecs;
        bool sched_started;
        struct k8c_event_recorder *events;
        void (*changed)(void *opaque, const char *pod_key);
        void *opaque;
        uint64_t runs;
};

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void worker_free(struct probe_worker *w)
{
        if (w == NULL)
                return;
        free(w->key);
        free(w->pod_key);
        free(w->uid);
        free(w->name);
        free(w->container_id);
        free(w->pod_ip);
        free(w->netns);
        json_decref(w->pod);
        json_decref(w->container);
        json_decref(w->probe);
        free(w);
}

static void set_str(char **dst, const char *src)
{
        if (*dst != NULL && src != NULL && strcmp(*dst, src) == 0)
                return;
        free(*dst);
        *dst = src != NULL ? k8c_xstrdup(src) : NULL;
}

static void set_json(json_t **dst, const json_t *src)
{
        json_t *old = *dst;
        *dst = json_incref((json_t *)src);
        json_decref(old);
}

/* Is the startup probe of w's container (if any) still holding w off? Caller holds the lock. */
static bool held_by_startup(struct k8c_prober *p, const struct probe_worker *w)
{
        if (w->kind == K8C_PROBE_STARTUP)
                return false;
        cleanup_free char *key = k8c_xasprintf("%s/%s/%d", w->uid, w->name, (int)K8C_PROBE_STARTUP);
        struct probe_worker *s = NULL;
        return k8c_strmap_get(&p->workers, key, (void **)&s) && s->state.result != K8C_PROBE_SUCCESS;
}

static void *sched_main(void *opaque)
{
        struct k8c_prober *p = opaque;
        pthread_mutex_lock(&p->lock);
        while (!p->stopping) {
                int64_t now = mono_ms();
                int64_t next = now + 1000;
                bool handed = false;
                const char *key;
                void *v;
                for (size_t it = 0; k8c_strmap_next(&p->workers, &it, &key, &v);) {
                        struct probe_worker *w = v;
                        if (w->running || w->on_hold)
                                continue;
                        if (w->next_ms > now) {
                                if (w->next_ms < next)
                                        next = w->next_ms;
                                continue;
                        }
                        if (held_by_startup(p, w)) {
                                w->next_ms = now + w->spec.period_s * 1000;
                                continue;
                        }
                        w->running = true;
                        w->next_due = NULL;
                        if (p->due_tail != NULL)
                                p->due_tail->next_due = w;
                        else
                                p->due_head = w;
                        p->due_tail = w;
                        handed = true;
                }
                if (handed)
                        pthread_cond_broadcast(&p->work_cond);
                struct timespec until;
                clock_gettime(CLOCK_MONOTONIC, &until);
                int64_t wait_ms = next - now;
                until.tv_sec += wait_ms / 1000;
                until.tv_nsec += (wait_ms % 1000) * 1000000;
                if (until.tv_nsec >= 1000000000) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&p->sched_cond, &p->lock, &until);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static void run_free(struct probe_run *pr)
{
        json_decref(pr->pod);
        json_decref(pr->container);
        json_decref(pr->probe);
        free(pr->name);
        free(pr->pod_ip);
        free(pr->netns);
}

static void record_unhealthy(struct k8c_prober *p, const json_t *pod, k8c_probe_kind_t kind, const char *msg)
{
        if (p->events == NULL)
                return;
        json_auto_t *ref = json_pack("{s:s, s:s, s:O}", "kind", "Pod", "apiVersion", "v1", "metadata",
                                     json_object_get(pod, "metadata"));
        cleanup_error k8c_error_t err = NULL;
        k8c_event_record(p->events, ref, "Warning", "Unhealthy", &err, "%s probe failed: %s",
                         kind_titles[kind], msg);
}

static void *exec_main(void *opaque)
{
        struct k8c_prober *p = opaque;
        pthread_mutex_lock(&p->lock);
        for (;;) {
                while (!p->stopping && p->due_head == NULL)
                        pthread_cond_wait(&p->work_cond, &p->lock);
                if (p->stopping)
                        break;
                struct probe_worker *w = p->due_head;
                p->due_head = w->next_due;
                if (p->due_head == NULL)
                        p->due_tail = NULL;
                struct probe_run pr = {
                        .kind = w->kind,
                        .pod = json_incref(w->pod),
                        .container = json_incref(w->container),
                        .probe = json_incref(w->probe),
                        .name = k8c_xstrdup(w->name),
                        .pod_ip = w->pod_ip != NULL ? k8c_xstrdup(w->pod_ip) : NULL,
                        .netns = w->netns != NULL ? k8c_xstrdup(w->netns) : NULL,
                        .timeout_s = w->spec.timeout_s,
                        .ops = w->ops,
                        .rt = w->rt,
                };
                uint64_t gen = w->generation;
                pthread_mutex_unlock(&p->lock);

                cleanup_free char *msg = NULL;
                bool ok = run_probe(&pr, &msg);

                pthread_mutex_lock(&p->lock);
                p->runs++;
                w->running = false;
                if (w->removed) {
                        worker_free(w);
                        run_free(&pr);
                        continue;
                }
                bool changed = false;
                bool current = gen == w->generation;
                if (current) {
                        changed = k8c_probe_state_record(&w->state, &w->spec, ok);
                        w->next_ms = mono_ms() + w->spec.period_s * 1000;
                        if (w->kind != K8C_PROBE_READINESS && w->state.result != K8C_PROBE_UNKNOWN &&
                            !(w->kind == K8C_PROBE_LIVENESS && w->state.result == K8C_PROBE_SUCCESS))
                                w->on_hold = true; /* the pod worker acts; a new instance resumes */
                }
                cleanup_free char *pod_key = k8c_xstrdup(w->pod_key);
                pthread_cond_signal(&p->sched_cond);
                pthread_mutex_unlock(&p->lock);

                if (!ok && current)
                        record_unhealthy(p, pr.pod, pr.kind, msg);
                if (changed && p->changed != NULL)
                        p->changed(p->opaque, pod_key);
                k8c_logv(4, "probe", "pod=%s container=%s probe=%s ok=%d", pod_key, pr.name,
                         kind_names[pr.kind], ok);
                run_free(&pr);
                pthread_mutex_lock(&p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

struct k8c_prober *k8c_prober_new(int threads, struct k8c_event_recorder *events,
                                  void (*changed)(void *opaque, const char *pod_key), void *opaque)
{
        k8c_curl_global_init();
        struct k8c_prober *p = k8c_xcalloc(1, sizeof(*p));
        pthread_mutex_init(&p->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->sched_cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_cond_init(&p->work_cond, NULL);
        k8c_strmap_init(&p->workers);
        p->events = events;
        p->changed = changed;
        p->opaque = opaque;
        if (threads < 1)
                threads = 1;
        p->execs = k8c_xcalloc((size_t)threads, sizeof(pthread_t));
        for (int i = 0; i < threads; i++) {
                if (pthread_create(&p->execs[i], NULL, exec_main, p) != 0)
                        break;
                p->nexecs++;
        }
        p->sched_started = pthread_create(&p->sched, NULL, sched_main, p) == 0;
        return p;
}

void k8c_prober_free(struct k8c_prober *p)
{
        if (p == NULL)
                return;
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->sched_cond);
        pthread_cond_broadcast(&p->work_cond);
        pthread_mutex_unlock(&p->lock);
        if (p->sched_started)
                pthread_join(p->sched, NULL);
        for (int i = 0; i < p->nexecs; i++)
                pthread_join(p->execs[i], NULL);
        free(p->execs);
        const char *key;
        void *v;
        for (size_t it = 0; k8c_strmap_next(&p->workers, &it, &key, &v);)
                worker_free(v);
        k8c_strmap_clear(&p->workers);
        pthread_cond_destroy(&p->sched_cond);
        pthread_cond_destroy(&p->work_cond);
        pthread_mutex_destroy(&p->lock);
        free(p);
}

/* Drops one worker from the map; a running one is freed by its executor. Caller holds the lock. */
static void forget_locked(struct k8c_prober *p, const char *key)
{
        struct probe_worker *w = NULL;
        if (!k8c_strmap_del(&p->workers, key, (void **)&w))
                return;
        if (w->running) {
                w->removed = true;
                /* It may still be queued for an executor: take it out so it is not run. */
                struct probe_worker **pp = &p->due_head, *prev = NULL;
                while (*pp != NULL && *pp != w) {
                        prev = *pp;
                        pp = &(*pp)->next_due;
                }
                if (*pp == w) {
                        *pp = w->next_due;
                        if (p->due_tail == w)
                                p->due_tail = prev;
                        worker_free(w);
                }
                return;
        }
        worker_free(w);
}

void k8c_prober_update(struct k8c_prober *p, const struct k8c_prober_container *c)
{
        const char *uid = k8c_json_get_string(c->pod, "metadata.uid") ?: "";
        const char *name = json_string_value(json_object_get(c->container, "name")) ?: "";
        bool wake = false;
        pthread_mutex_lock(&p->lock);
        for (int kind = 0; kind < 3; kind++) {
                cleanup_free char *key = k8c_xasprintf("%s/%s/%d", uid, name, kind);
                const json_t *probe = json_object_get(c->container, kind_keys[kind]);
                if (!json_is_object(probe) || !k8c_probe_supported(probe)) {
                        forget_locked(p, key);
                        continue;
                }
                struct probe_worker *w = NULL;
                if (!k8c_strmap_get(&p->workers, key, (void **)&w)) {
                        w = k8c_xcalloc(1, sizeof(*w));
                        w->key = k8c_xstrdup(key);
                        w->uid = k8c_xstrdup(uid);
                        w->name = k8c_xstrdup(name);
                        w->kind = (k8c_probe_kind_t)kind;
                        k8c_strmap_put(&p->workers, key, w, NULL);
                }
                set_str(&w->pod_key, c->pod_key);
                set_str(&w->pod_ip, c->pod_ip);
                set_str(&w->netns, c->netns);
                set_json(&w->pod, c->pod);
                set_json(&w->container, c->container);
                set_json(&w->probe, probe);
                w->ops = c->ops;
                w->rt = c->rt;
                if (w->container_id == NULL || strcmp(w->container_id, c->container_id) != 0) {
                        /* A new run of the container: its probes start afresh after the delay. */
                        set_str(&w->container_id, c->container_id);
                        k8c_probe_spec_parse(probe, w->kind, &w->spec);
                        k8c_probe_state_init(&w->state, w->kind);
                        w->generation++;
                        w->on_hold = false;
                        int64_t delay_s =
                                (int64_t)c->started_at + w->spec.initial_delay_s - (int64_t)time(NULL);
                        w->next_ms = mono_ms() + (delay_s > 0 ? delay_s * 1000 : 0);
                        wake = true;
                }
        }
        if (wake)
                pthread_cond_signal(&p->sched_cond);
        pthread_mutex_unlock(&p->lock);
}

void k8c_prober_results(struct k8c_prober *p, const char *uid, const char *container,
                        const char *container_id, struct k8c_probe_results *ret)
{
        struct probe_worker *ws[3] = { NULL, NULL, NULL };
        pthread_mutex_lock(&p->lock);
        for (int kind = 0; kind < 3; kind++) {
                cleanup_free char *key = k8c_xasprintf("%s/%s/%d", uid, container, kind);
                struct probe_worker *w = NULL;
                if (k8c_strmap_get(&p->workers, key, (void **)&w))
                        ws[kind] = w;
        }
        *ret = (struct k8c_probe_results){ .started = true, .ready = true, .kill_grace_s = -1 };
        /* A worker of another instance (not yet updated) tells nothing about this one. */
        for (int kind = 0; kind < 3; kind++)
                if (ws[kind] != NULL &&
                    (ws[kind]->container_id == NULL || strcmp(ws[kind]->container_id, container_id) != 0)) {
                        ret->started = kind != K8C_PROBE_STARTUP;
                        ret->ready = false;
                        ws[kind] = NULL;
                }
        const struct probe_worker *s = ws[K8C_PROBE_STARTUP];
        if (s != NULL) {
                ret->started = s->state.result == K8C_PROBE_SUCCESS;
                if (s->state.result == K8C_PROBE_FAILURE) {
                        ret->kill = true;
                        ret->kill_probe = "startup";
                        ret->kill_grace_s = s->spec.termination_grace_s;
                }
        }
        const struct probe_worker *l = ws[K8C_PROBE_LIVENESS];
        if (ret->started && l != NULL && l->state.result == K8C_PROBE_FAILURE) {
                ret->kill = true;
                ret->kill_probe = "liveness";
                ret->kill_grace_s = l->spec.termination_grace_s;
        }
        const struct probe_worker *r = ws[K8C_PROBE_READINESS];
        ret->ready = ret->ready && ret->started && (r == NULL || r->state.result == K8C_PROBE_SUCCESS);
        pthread_mutex_unlock(&p->lock);
}

void k8c_prober_remove_container(struct k8c_prober *p, const char *uid, const char *container)
{
        pthread_mutex_lock(&p->lock);
        for (int kind = 0; kind < 3; kind++) {
                cleanup_free char *key = k8c_xasprintf("%s/%s/%d", uid, container, kind);
                forget_locked(p, key);
        }
        pthread_mutex_unlock(&p->lock);
}

void k8c_prober_remove_pod(struct k8c_prober *p, const char *uid)
{
        cleanup_free char *prefix = k8c_xasprintf("%s/", uid);
        size_t plen = strlen(prefix);
        pthread_mutex_lock(&p->lock);
        for (;;) {
                char *victim = NULL;
                const char *key;
                void *v;
                for (size_t it = 0; k8c_strmap_next(&p->workers, &it, &key, &v);)
                        if (strncmp(key, prefix, plen) == 0) {
                                victim = k8c_xstrdup(key);
                                break;
                        }
                if (victim == NULL)
                        break;
                forget_locked(p, victim);
                free(victim);
        }
        pthread_mutex_unlock(&p->lock);
}

uint64_t k8c_prober_runs(struct k8c_prober *p)
{
        pthread_mutex_lock(&p->lock);
        uint64_t n = p->runs;
        pthread_mutex_unlock(&p->lock);
        return n;
}

/*
 * watch.c - the watch cache: ONE storage watch on "/registry/" whose events are
 * decoded once, kept in a window of recent events, and fanned out to every
 * HTTP watcher as chunked JSON lines.
 *
 * Each event's plain-JSON line (per event type) is built once and shared by
 * reference between watchers; only Table-mode watchers and the initial burst
 * serialise per watcher. Events keep the stored text: the shared line is that
 * text with its resourceVersion spliced in (splice.c), and the object is only
 * decoded when a watcher needs it (selectors, Tables, other versions), then
 * dropped again once the event has been fanned out. A watcher with nothing to send suspends its MHD
 * connection; the fan-out thread resumes it. A watcher whose queue fills is
 * ended without slowing the others (the client re-lists, as with Kubernetes).
 * One mutex guards the window, the watcher list and every queue.
 *
 * It must not block the fan-out thread on a client, nor touch storage except
 * through the one watch and the initial list of a new watcher.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"
#include "k8c/fields.h"
#include "k8c/labels.h"
#include "k8c/log.h"

#define QUEUE_MAX_ITEMS 20000
/* MHD allocates (and zeroes) this block with every callback response, but a chunked stream is
 * written through the connection's own buffer: a small block keeps idle watchers small. */
#define STREAM_BLOCK 512

enum { T_ADDED, T_MODIFIED, T_DELETED, T_MAX };
static const char *const type_names[T_MAX] = { "ADDED", "MODIFIED", "DELETED" };

struct wevent {
        int refs; /* under wc->lock, as everything below */
        int64_t rev;
        k8c_store_event_type_t type;
        char *key;
        char *text; /* stored value: the new object, or the last state for DELETE */
        size_t text_len;
        char *prev_text; /* the previous state's stored value, or NULL */
        size_t prev_len;
        int64_t prev_rev;
        /* Decoded on demand (metadata.resourceVersion set); NULL until then. */
        json_t *obj;
        json_t *prev;
        char *lines[T_MAX];
        size_t lens[T_MAX];
};

struct out {
        struct wevent *ev; /* shared line ev->lines[t], or NULL when own is used */
        int t;
        char *own;
        size_t len;
};

struct watcher {
        struct watcher *next, *prevw;
        struct k8c_watch_cache *wc;
        struct MHD_Connection *conn;
        const struct k8c_resource *res;
        char *prefix;
        struct k8c_selector lsel;
        struct k8c_field_selector fsel;
        bool table;
        char *include_object;
        bool sent_columns;
        bool bookmarks;
        int64_t next_bookmark_ms;
        int64_t deadline_ms;
        int64_t from_rev;
        int64_t last_rev;
        struct out *q;
        size_t qhead, qn, qcap, qbytes, off;
        bool suspended, done, registered, dropped;
};

struct k8c_watch_cache {
        struct k8c_apiserver *srv;
        pthread_mutex_t lock;
        pthread_t thread;
        bool thread_started;
        volatile bool stop;
        struct k8c_store_watch *sw;
        struct wevent **ring;
        size_t ring_cap, ring_head, ring_n;
        int64_t window_start; /* every event with rev > window_start is in the ring */
        int64_t last_rev;
        struct watcher *watchers;
        size_t nwatchers;
        int64_t last_sweep_ms;
        uint64_t dropped; /* watchers dropped for being too slow */
};

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wevent_unref(struct wevent *e)
{
        if (e == NULL || --e->refs > 0)
                return;
        free(e->key);
        free(e->text);
        free(e->prev_text);
        json_decref(e->obj);
        json_decref(e->prev);
        for (int i = 0; i < T_MAX; i++)
                free(e->lines[i]);
        free(e);
}

static char *event_line(const char *type, const json_t *obj, size_t *ret_len)
{
        json_auto_t *ev = json_pack("{s:s, s:O}", "type", type, "object", obj);
        char *s = json_dumps(ev, JSON_COMPACT);
        size_t n = strlen(s);
        s = k8c_xrealloc(s, n + 2);
        s[n] = '\n';
        s[n + 1] = '\0';
        *ret_len = n + 1;
        return s;
}

/* ---- watcher queues (wc->lock held) ----------------------------------------- */

static void q_pop(struct watcher *w)
{
        struct out *o = &w->q[w->qhead];
        w->qbytes -= o->len;
        free(o->own);
        wevent_unref(o->ev);
        memset(o, 0, sizeof(*o));
        w->qhead = (w->qhead + 1) % w->qcap;
        w->qn--;
        w->off = 0;
}

static void q_push(struct watcher *w, struct wevent *ev, int t, char *own, size_t len)
{
        if (w->done) {
                free(own);
                return;
        }
        if (w->qn + 1 > QUEUE_MAX_ITEMS || (int64_t)(w->qbytes + len) > w->wc->srv->cfg.watch_queue_bytes) {
                /* Too slow: end this watch (the client re-lists) rather than hold memory for it or
                 * slow the others. Its queue goes now; the connection is cut when next writable. */
                free(own);
                k8c_logv(2, "dropping slow watcher", "resource=%s queued=%zu", w->res->plural, w->qn);
                while (w->qn > 0)
                        q_pop(w);
                w->done = true;
                w->dropped = true;
                w->wc->dropped++;
                return;
        }
        if (w->qn == w->qcap) {
                size_t ncap = w->qcap ? w->qcap * 2 : 16;
                struct out *nq = k8c_xcalloc(ncap, sizeof(*nq));
                for (size_t i = 0; i < w->qn; i++)
                        nq[i] = w->q[(w->qhead + i) % w->qcap];
                free(w->q);
                w->q = nq;
                w->qcap = ncap;
                w->qhead = 0;
        }
        struct out *o = &w->q[(w->qhead + w->qn) % w->qcap];
        o->ev = ev;
        o->t = t;
        o->own = own;
        o->len = len;
        if (ev != NULL)
                ev->refs++;
        w->qn++;
        w->qbytes += len;
}

static void wake(struct watcher *w)
{
        if (w->suspended) {
                w->suspended = false;
                MHD_resume_connection(w->conn);
        }
}

/* The event's object (at the event's revision), decoded on first use. */
static const json_t *ev_obj(struct wevent *e)
{
        if (e->obj == NULL) {
                struct k8c_kv kv = {
                        .key = e->key, .value = e->text, .value_len = e->text_len, .mod_revision = e->rev
                };
                if (e->text == NULL || k8c_rest_decode(&kv, &e->obj, NULL) < 0)
                        e->obj = json_object();
        }
        return e->obj;
}

/* The previous state, or the object itself when there is none (as a match "before" needs). */
static const json_t *ev_prev(struct wevent *e)
{
        if (e->prev_text == NULL)
                return ev_obj(e);
        if (e->prev == NULL) {
                struct k8c_kv kv = { .key = e->key,
                                     .value = e->prev_text,
                                     .value_len = e->prev_len,
                                     .mod_revision = e->prev_rev };
                if (k8c_rest_decode(&kv, &e->prev, NULL) < 0)
                        return ev_obj(e);
        }
        return e->prev;
}

/* The window keeps text only; a watcher replaying it decodes again if it must. */
static void ev_forget(struct wevent *e)
{
        json_decref(e->obj);
        json_decref(e->prev);
        e->obj = e->prev = NULL;
}

static bool selects_all(struct watcher *w)
{
        return k8c_selector_empty(&w->lsel) && w->fsel.n == 0;
}

static bool matches(struct watcher *w, const json_t *obj)
{
        if (obj == NULL)
                return false;
        return k8c_selector_matches(&w->lsel, json_object_get(json_object_get(obj, "metadata"), "labels")) &&
               k8c_field_selector_matches(&w->fsel, obj);
}

/* A one-row Table event for Table-mode watchers. */
static char *table_line(struct watcher *w, int t, const json_t *obj, size_t *ret_len)
{
        struct k8c_registry_ctx ctx;
        k8c_registry_ctx_init(w->wc->srv, &ctx);
        json_auto_t *tbl = json_object();
        json_object_set_new(tbl, "kind", json_string("Table"));
        json_object_set_new(tbl, "apiVersion", json_string("meta.k8s.io/v1"));
        json_t *md = json_object();
        const char *rv =
                json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
        json_object_set_new(md, "resourceVersion", json_string(rv != NULL ? rv : ""));
        json_object_set_new(tbl, "metadata", md);
        if (!w->sent_columns) {
                json_object_set_new(tbl, "columnDefinitions", k8c_table_columns(w->res));
                w->sent_columns = true;
        } else {
                json_object_set_new(tbl, "columnDefinitions", json_null());
        }
        json_t *rows = json_array();
        json_array_append_new(rows, k8c_table_row(w->res, obj, w->include_object, &ctx));
        json_object_set_new(tbl, "rows", rows);
        return event_line(type_names[t], tbl, ret_len);
}

static void send_obj(struct watcher *w, struct wevent *ev, int t, const json_t *obj)
{
        size_t len;
        json_auto_t *copy = NULL;
        if (w->res->storage_of != NULL) {
                /* Another version's view of shared storage: convert this watcher's copy. */
                copy = json_deep_copy(obj);
                if (w->res->from_storage != NULL) {
                        w->res->from_storage(copy);
                } else {
                        json_object_set_new(copy, "kind", json_string(w->res->kind));
                        char *av = w->res->group[0] ? k8c_xasprintf("%s/%s", w->res->group, w->res->version)
                                                    : k8c_xstrdup(w->res->version);
                        json_object_set_new(copy, "apiVersion", json_string(av));
                        free(av);
                }
                obj = copy;
                ev = NULL;
        }
        if (w->table) {
                char *line = table_line(w, t, obj, &len);
                q_push(w, NULL, 0, line, len);
                return;
        }
        if (ev != NULL) {
                if (ev->lines[t] == NULL)
                        ev->lines[t] = event_line(type_names[t], obj, &ev->lens[t]);
                q_push(w, ev, t, NULL, ev->lens[t]);
                return;
        }
        char *line = event_line(type_names[t], obj, &len);
        q_push(w, NULL, 0, line, len);
}

/* The shared line of an event: {"type":T,"object":<stored text with its resourceVersion>}. */
static char *ev_line(struct wevent *ev, int t, size_t *ret_len)
{
        struct k8c_meta_span sp;
        if (ev->text == NULL || k8c_json_meta_scan(ev->text, ev->text_len, false, &sp) < 0)
                return event_line(type_names[t], ev_obj(ev), ret_len);
        struct k8c_textbuf b = { 0 };
        k8c_textbuf_reserve(&b, ev->text_len + 64);
        k8c_textbuf_adds(&b, "{\"type\":\"");
        k8c_textbuf_adds(&b, type_names[t]);
        k8c_textbuf_adds(&b, "\",\"object\":");
        k8c_splice_with_rv(&b, ev->text, ev->text_len, &sp, ev->rev);
        k8c_textbuf_add(&b, "}\n", 2);
        *ret_len = b.len;
        return b.p;
}

static void send_ev(struct watcher *w, struct wevent *ev, int t)
{
        if (w->res->storage_of == NULL && !w->table) {
                if (ev->lines[t] == NULL)
                        ev->lines[t] = ev_line(ev, t, &ev->lens[t]);
                q_push(w, ev, t, NULL, ev->lens[t]);
                return;
        }
        send_obj(w, NULL, t, ev_obj(ev));
}

static void deliver(struct watcher *w, struct wevent *ev)
{
        if (ev->rev <= w->from_rev)
                return;
        if (ev->rev > w->last_rev)
                w->last_rev = ev->rev;
        if (strncmp(ev->key, w->prefix, strlen(w->prefix)) != 0)
                return;
        /* Without selectors nothing needs the decoded object. */
        bool all = selects_all(w);
        bool now = ev->type != K8C_STORE_DELETE && (all || matches(w, ev_obj(ev)));
        bool before = ev->type == K8C_STORE_CREATE ? false : (all || matches(w, ev_prev(ev)));
        if (ev->type == K8C_STORE_DELETE) {
                if (before)
                        send_ev(w, ev, T_DELETED);
                return;
        }
        if (now && before)
                send_ev(w, ev, T_MODIFIED);
        else if (now)
                send_ev(w, ev, T_ADDED);
        else if (before)
                send_ev(w, ev, T_DELETED);
}

static void send_bookmark(struct watcher *w, int64_t rev, bool initial_end)
{
        char rvbuf[32];
        snprintf(rvbuf, sizeof(rvbuf), "%" PRId64, rev);
        char *av = w->res->group[0] ? k8c_xasprintf("%s/%s", w->res->group, w->res->version)
                                    : k8c_xstrdup(w->res->version);
        json_auto_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "kind", w->res->kind, "apiVersion", av,
                                     "metadata", "resourceVersion", rvbuf);
        free(av);
        if (initial_end)
                json_object_set_new(json_object_get(obj, "metadata"), "annotations",
                                    json_pack("{s:s}", "k8s.io/initial-events-end", "true"));
        size_t len;
        char *line = event_line("BOOKMARK", obj, &len);
        q_push(w, NULL, 0, line, len);
}

/* ---- the fan-out thread ------------------------------------------------------ */

/* Takes the texts out of sev (freed by the caller). A deleted object is reported at the
 * delete's revision. */
static struct wevent *wevent_from(struct k8c_store_event *sev)
{
        struct wevent *e = k8c_xcalloc(1, sizeof(*e));
        e->refs = 1;
        e->rev = sev->revision;
        e->type = sev->type;
        e->key = k8c_steal(&sev->kv.key);
        e->text = k8c_steal(&sev->kv.value);
        e->text_len = sev->kv.value_len;
        if (sev->prev.key != NULL && sev->prev.value != NULL) {
                e->prev_text = k8c_steal(&sev->prev.value);
                e->prev_len = sev->prev.value_len;
                e->prev_rev = sev->prev.mod_revision;
        }
        return e;
}

static void process(struct k8c_watch_cache *wc, struct k8c_store_event *sev)
{
        struct wevent *e = wevent_from(sev);
        k8c_ns_cache_note_event(wc->srv, e->key, e->text, e->rev, e->type == K8C_STORE_DELETE);
        pthread_mutex_lock(&wc->lock);
        if (wc->ring_n == wc->ring_cap) {
                struct wevent *old = wc->ring[wc->ring_head];
                wc->window_start = old->rev;
                wevent_unref(old);
                wc->ring_head = (wc->ring_head + 1) % wc->ring_cap;
                wc->ring_n--;
        }
        wc->ring[(wc->ring_head + wc->ring_n) % wc->ring_cap] = e;
        wc->ring_n++;
        wc->last_rev = e->rev;
        for (struct watcher *w = wc->watchers; w != NULL; w = w->next) {
                deliver(w, e);
                if (w->qn > 0 || w->done)
                        wake(w);
        }
        ev_forget(e);
        pthread_mutex_unlock(&wc->lock);
}

static void tick(struct k8c_watch_cache *wc)
{
        int64_t now = mono_ms();
        /* A suspended connection does not notice its client going away; resuming idle watchers
         * now and then lets the HTTP layer see closed sockets and free them. */
        bool sweep = now - wc->last_sweep_ms >= 30000;
        if (sweep)
                wc->last_sweep_ms = now;
        pthread_mutex_lock(&wc->lock);
        for (struct watcher *w = wc->watchers; w != NULL; w = w->next) {
                if (sweep)
                        wake(w);
                if (w->deadline_ms > 0 && now >= w->deadline_ms)
                        w->done = true;
                if (w->bookmarks && now >= w->next_bookmark_ms && !w->done) {
                        send_bookmark(w, w->last_rev > w->from_rev ? w->last_rev : w->from_rev, false);
                        w->next_bookmark_ms = now + wc->srv->cfg.bookmark_interval_ms;
                }
                if (w->qn > 0 || w->done)
                        wake(w);
        }
        pthread_mutex_unlock(&wc->lock);
}

static void *fanout_main(void *arg)
{
        struct k8c_watch_cache *wc = arg;
        int64_t last_tick = mono_ms();
        while (!wc->stop) {
                cleanup_error k8c_error_t err = NULL;
                struct k8c_store_event *ev = NULL;
                int r = wc->sw != NULL ? k8c_store_watch_next(wc->sw, 200, &ev, &err) : 0;
                if (r > 0) {
                        process(wc, ev);
                        k8c_store_event_free(ev);
                } else if (r < 0) {
                        k8c_log_error("storage watch failed", "error=\"%s\"", k8c_error_msg(&err));
                        k8c_store_watch_close(wc->sw);
                        wc->sw = NULL;
                        k8c_error_release(&err);
                        struct timespec ts = { 0, 200 * 1000 * 1000 };
                        nanosleep(&ts, NULL);
                        if (k8c_store_watch(wc->srv->store, "/registry/", wc->last_rev, &wc->sw, &err) < 0) {
                                wc->sw = NULL;
                                /* Events may be lost: restart the window so watchers re-list. */
                                pthread_mutex_lock(&wc->lock);
                                int64_t cur = 0;
                                k8c_store_current_revision(wc->srv->store, &cur, NULL);
                                wc->window_start = cur;
                                wc->last_rev = cur;
                                k8c_ns_cache_reset(wc->srv);
                                for (struct watcher *w = wc->watchers; w != NULL; w = w->next) {
                                        w->done = true;
                                        wake(w);
                                }
                                pthread_mutex_unlock(&wc->lock);
                                k8c_store_watch(wc->srv->store, "/registry/", cur, &wc->sw, NULL);
                        }
                }
                int64_t now = mono_ms();
                if (now - last_tick >= 200) {
                        tick(wc);
                        last_tick = now;
                }
        }
        return NULL;
}

int k8c_watch_cache_start(struct k8c_apiserver *srv, k8c_error_t *err)
{
        struct k8c_watch_cache *wc = k8c_xcalloc(1, sizeof(*wc));
        wc->srv = srv;
        pthread_mutex_init(&wc->lock, NULL);
        wc->ring_cap = (size_t)srv->cfg.watch_window;
        wc->ring = k8c_xcalloc(wc->ring_cap, sizeof(*wc->ring));
        srv->wc = wc;
        int64_t cur = 0;
        int r = k8c_store_current_revision(srv->store, &cur, err);
        if (r < 0)
                return r;
        /* Start the window in the past (as far as storage history and the window allow) so
         * clients resuming from a resourceVersion read before a restart are served. */
        int64_t start = cur - (int64_t)wc->ring_cap / 2, compacted = 0;
        srv->store->ops->compacted_revision(srv->store, &compacted, NULL);
        if (start < compacted)
                start = compacted;
        if (start < 1)
                start = cur > 0 ? 1 : 0;
        r = k8c_store_watch(srv->store, "/registry/", start, &wc->sw, NULL);
        if (r < 0) {
                start = cur;
                r = k8c_store_watch(srv->store, "/registry/", cur, &wc->sw, err);
        }
        if (r < 0)
                return k8c_error_wrap(err, "starting the storage watch");
        wc->window_start = start;
        wc->last_rev = start;
        if (pthread_create(&wc->thread, NULL, fanout_main, wc) != 0)
                return k8c_make_errno(err, errno, "starting the watch cache thread");
        wc->thread_started = true;
        return 0;
}

void k8c_watch_cache_stop(struct k8c_apiserver *srv)
{
        struct k8c_watch_cache *wc = srv->wc;
        if (wc == NULL)
                return;
        pthread_mutex_lock(&wc->lock);
        for (struct watcher *w = wc->watchers; w != NULL; w = w->next) {
                w->done = true;
                wake(w);
        }
        pthread_mutex_unlock(&wc->lock);
        /* Give streams a moment to send their last chunk and end. */
        for (int i = 0; i < 100; i++) {
                pthread_mutex_lock(&wc->lock);
                size_t n = wc->nwatchers;
                for (struct watcher *w = wc->watchers; w != NULL; w = w->next)
                        wake(w);
                pthread_mutex_unlock(&wc->lock);
                if (n == 0)
                        break;
                struct timespec ts = { 0, 20 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        wc->stop = true;
        if (wc->thread_started)
                pthread_join(wc->thread, NULL);
        wc->thread_started = false;
        k8c_store_watch_close(wc->sw);
        wc->sw = NULL;
}

void k8c_watch_cache_free(struct k8c_apiserver *srv)
{
        struct k8c_watch_cache *wc = srv->wc;
        if (wc == NULL)
                return;
        if (wc->thread_started)
                k8c_watch_cache_stop(srv);
        for (size_t i = 0; i < wc->ring_n; i++)
                wevent_unref(wc->ring[(wc->ring_head + i) % wc->ring_cap]);
        free(wc->ring);
        pthread_mutex_destroy(&wc->lock);
        free(wc);
        srv->wc = NULL;
}

uint64_t k8c_watch_cache_dropped(struct k8c_apiserver *srv)
{
        struct k8c_watch_cache *wc = srv->wc;
        if (wc == NULL)
                return 0;
        pthread_mutex_lock(&wc->lock);
        uint64_t n = wc->dropped;
        pthread_mutex_unlock(&wc->lock);
        return n;
}

size_t k8c_watch_cache_watchers(struct k8c_apiserver *srv)
{
        struct k8c_watch_cache *wc = srv->wc;
        if (wc == NULL)
                return 0;
        pthread_mutex_lock(&wc->lock);
        size_t n = wc->nwatchers;
        pthread_mutex_unlock(&wc->lock);
        return n;
}

/* ---- HTTP side ---------------------------------------------------------------- */

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct watcher *w = cls;
        struct k8c_watch_cache *wc = w->wc;
        pthread_mutex_lock(&wc->lock);
        size_t n = 0;
        while (w->qn > 0 && n < max) {
                struct out *o = &w->q[w->qhead];
                const char *src = o->own != NULL ? o->own : o->ev->lines[o->t];
                size_t take = o->len - w->off;
                if (take > max - n)
                        take = max - n;
                memcpy(buf + n, src + w->off, take);
                n += take;
                w->off += take;
                if (w->off == o->len)
                        q_pop(w);
        }
        if (w->dropped) {
                pthread_mutex_unlock(&wc->lock);
                return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (n == 0) {
                if (w->done || wc->srv->stopping) {
                        pthread_mutex_unlock(&wc->lock);
                        return MHD_CONTENT_READER_END_OF_STREAM;
                }
                w->suspended = true;
                MHD_suspend_connection(w->conn);
        }
        pthread_mutex_unlock(&wc->lock);
        return (ssize_t)n;
}

static void watcher_free(void *cls)
{
        struct watcher *w = cls;
        struct k8c_watch_cache *wc = w->wc;
        pthread_mutex_lock(&wc->lock);
        if (w->registered) {
                if (w->prevw != NULL)
                        w->prevw->next = w->next;
                else
                        wc->watchers = w->next;
                if (w->next != NULL)
                        w->next->prevw = w->prevw;
                wc->nwatchers--;
        }
        while (w->qn > 0)
                q_pop(w);
        pthread_mutex_unlock(&wc->lock);
        free(w->q);
        free(w->prefix);
        free(w->include_object);
        k8c_selector_free(&w->lsel);
        k8c_field_selector_free(&w->fsel);
        free(w);
}

static bool qbool(struct k8c_req *req, const char *name)
{
        const char *v = k8c_req_query(req, name);
        return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

void k8c_watch_serve(struct k8c_req *req, const struct k8c_target *t, struct k8c_selector *lsel,
                     struct k8c_field_selector *fsel)
{
        struct k8c_apiserver *srv = req->srv;
        struct k8c_watch_cache *wc = srv->wc;
        if (srv->stopping || wc == NULL) {
                k8c_req_fail_msg(req, K8C_EUNAVAILABLE, "the apiserver is shutting down");
                return;
        }
        struct watcher *w = k8c_xcalloc(1, sizeof(*w));
        w->wc = wc;
        w->conn = req->conn;
        w->res = t->res;
        w->prefix = k8c_rest_key(t->res, t->ns, NULL);
        w->lsel = *lsel;
        memset(lsel, 0, sizeof(*lsel));
        w->fsel = *fsel;
        memset(fsel, 0, sizeof(*fsel));
        w->table = k8c_req_wants_table(req);
        const char *incl = k8c_req_query(req, "includeObject");
        w->include_object = incl != NULL ? k8c_xstrdup(incl) : NULL;
        w->bookmarks = qbool(req, "allowWatchBookmarks");
        int64_t now = mono_ms();
        w->next_bookmark_ms = now + srv->cfg.bookmark_interval_ms;
        const char *to = k8c_req_query(req, "timeoutSeconds");
        long long secs = to != NULL ? strtoll(to, NULL, 10) : 0;
        w->deadline_ms = now + (secs > 0 ? secs * 1000 : 1800 * 1000);
        const char *rvs = k8c_req_query(req, "resourceVersion");
        bool initial = qbool(req, "sendInitialEvents");
        int64_t rv = rvs != NULL && rvs[0] != '\0' ? strtoll(rvs, NULL, 10) : 0;
        cleanup_error k8c_error_t err = NULL;

        if (rv == 0 || initial) {
                /* Synthetic ADDED for what exists now, then changes after the list. */
                struct k8c_kv_list l = { 0 };
                if (k8c_store_list(srv->store, w->prefix, &(struct k8c_list_opts){ 0 }, &l, &err) < 0) {
                        k8c_kv_list_free(&l);
                        watcher_free(w);
                        k8c_req_fail(req, &err, NULL, t->res->group, t->res->plural, NULL);
                        return;
                }
                pthread_mutex_lock(&wc->lock);
                for (size_t i = 0; i < l.n; i++) {
                        json_auto_t *obj = NULL;
                        if (k8c_rest_decode(&l.items[i], &obj, NULL) < 0 || !matches(w, obj))
                                continue;
                        send_obj(w, NULL, T_ADDED, obj);
                }
                w->from_rev = l.revision;
                if (initial)
                        send_bookmark(w, l.revision, true);
                k8c_kv_list_free(&l);
        } else {
                pthread_mutex_lock(&wc->lock);
                w->from_rev = rv;
        }
        w->last_rev = w->from_rev;
        if (w->from_rev < wc->window_start) {
                json_auto_t *st = NULL;
                char msg[128];
                snprintf(msg, sizeof(msg), "too old resource version: %" PRId64 " (%" PRId64 ")", w->from_rev,
                         wc->window_start + 1);
                st = k8c_status_new(K8C_EEXPIRED, msg, NULL, NULL, NULL, NULL);
                size_t len;
                char *line = event_line("ERROR", st, &len);
                q_push(w, NULL, 0, line, len);
                w->done = true;
        } else {
                for (size_t i = 0; i < wc->ring_n; i++) {
                        struct wevent *e = wc->ring[(wc->ring_head + i) % wc->ring_cap];
                        deliver(w, e);
                        ev_forget(e);
                }
                w->registered = true;
                w->next = wc->watchers;
                if (wc->watchers != NULL)
                        wc->watchers->prevw = w;
                wc->watchers = w;
                wc->nwatchers++;
        }
        pthread_mutex_unlock(&wc->lock);

        struct MHD_Response *resp =
                MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, reader, w, watcher_free);
        if (resp == NULL) {
                watcher_free(w);
                k8c_req_fail_msg(req, K8C_EINTERNAL, "cannot create the watch response");
                return;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
        req->stream = resp;
        req->code = 200;
}
